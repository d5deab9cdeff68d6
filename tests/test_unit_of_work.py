"""The unit of work: effects outside the database follow the transaction's fate."""

from __future__ import annotations

import pytest

from kotacerdas.auth import service as auth
from kotacerdas.db import after_commit, unit_of_work
from kotacerdas.kit.files import DirectoryStore
from kotacerdas.masterplan import service as masterplans

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def test_an_uploaded_file_is_removed_when_its_transaction_rolls_back(world, session_factory, tmp_path):
    store = DirectoryStore(tmp_path / "files")
    admin = auth.principal_for_user(world["users"]["admin"])
    with pytest.raises(RuntimeError), unit_of_work(session_factory) as session:
        evidence = masterplans.store_evidence(
            session,
            principal=admin,
            region_id=world["jember"].id,
            store=store,
            filename="laporan.pdf",
            data=PDF,
            max_bytes=1_000_000,
        )
        assert store.read(evidence.storage_key) == PDF
        key = evidence.storage_key
        raise RuntimeError("the request failed after the upload")
    assert list((tmp_path / "files").rglob("*.pdf")) == []
    with pytest.raises(Exception):  # noqa: B017 - any NotFound from the store
        store.read(key)


def test_a_committed_upload_stays_and_after_commit_effects_run_once(world, session_factory, tmp_path):
    store = DirectoryStore(tmp_path / "files")
    admin = auth.principal_for_user(world["users"]["admin"])
    ran: list[str] = []
    with unit_of_work(session_factory) as session:
        evidence = masterplans.store_evidence(
            session,
            principal=admin,
            region_id=world["jember"].id,
            store=store,
            filename="laporan.pdf",
            data=PDF,
            max_bytes=1_000_000,
        )
        after_commit(session, lambda: ran.append("sent"))
        assert ran == []  # nothing leaves before the commit
    assert ran == ["sent"]
    assert store.read(evidence.storage_key) == PDF
