"""``kotacerdas hub``: preloading @context documents for an offline server, and per-type read rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kotacerdas.cli import app
from kotacerdas.config import get_settings
from kotacerdas.db import make_engine, make_session_factory, unit_of_work
from kotacerdas.hub import access, service
from kotacerdas.hub.context import DEFAULT_VOCAB
from kotacerdas.region import service as regions

runner = CliRunner()
PARKING_CONTEXT = "https://smartdatamodels.org/context-parking.jsonld"


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'hub-cli.sqlite3'}"
    monkeypatch.setenv("KOTACERDAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KOTACERDAS_DATABASE_URL", url)
    get_settings.cache_clear()
    assert run("db", "upgrade").exit_code == 0
    assert run("region", "create", "35.09", "Kabupaten Jember", "--province", "Jawa Timur").exit_code == 0
    yield url
    get_settings.cache_clear()


def test_a_preloaded_context_resolves_without_internet(database: str, tmp_path: Path) -> None:
    doc = tmp_path / "parking.jsonld"
    doc.write_text(
        json.dumps(
            {
                "@context": {
                    "availableSpotNumber": "https://smartdatamodels.org/dataModel.Parking/availableSpotNumber"
                }
            }
        )
    )
    added = run("hub", "context", "add", PARKING_CONTEXT, str(doc))
    assert added.exit_code == 0, added.output
    listed = run("hub", "context", "list")
    assert PARKING_CONTEXT in listed.output and "preloaded" in listed.output
    engine = make_engine(database)
    try:
        # no network is used: the URL resolves from the stored document
        ctx = service.resolver_for(engine).resolve(PARKING_CONTEXT)
        assert (
            ctx.expand("availableSpotNumber")
            == "https://smartdatamodels.org/dataModel.Parking/availableSpotNumber"
        )
    finally:
        engine.dispose()
    assert run("hub", "context", "remove", PARKING_CONTEXT).exit_code == 0
    assert run("hub", "context", "remove", PARKING_CONTEXT).exit_code == 1


def test_a_context_that_is_not_a_context_document_is_refused(database: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonld"
    bad.write_text('{"terms": {}}')
    refused = run("hub", "context", "add", PARKING_CONTEXT, str(bad))
    assert refused.exit_code == 1 and "@context" in refused.output
    assert PARKING_CONTEXT not in run("hub", "context", "list").output


def test_read_policy_per_type(database: str) -> None:
    assert run("hub", "read-policy", "set", "TrafficFlowObserved", "key", "--region", "35.09").exit_code == 0
    assert (
        run("hub", "read-policy", "set", "TrafficFlowObserved", "public", "--region", "35.09").exit_code == 0
    )
    assert run("hub", "read-policy", "set", "AirQualityObserved", "key", "--region", "35.09").exit_code == 0
    assert (
        run("hub", "read-policy", "set", "AirQualityObserved", "sometimes", "--region", "35.09").exit_code
        == 2
    )
    listed = run("hub", "read-policy", "list", "--region", "35.09")
    assert "AirQualityObserved" in listed.output and "TrafficFlowObserved" in listed.output
    engine = make_engine(database)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            region_id = regions.get_region_by_code(session, "35.09").id
            assert access.type_policies(session, region_id=region_id) == [
                (DEFAULT_VOCAB + "AirQualityObserved", "key"),
                (DEFAULT_VOCAB + "TrafficFlowObserved", "public"),
            ]
    finally:
        engine.dispose()
    assert run("hub", "read-policy", "list", "--region", "99.99").exit_code == 1
