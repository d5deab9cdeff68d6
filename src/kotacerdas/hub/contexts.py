"""@context documents kept in the database: preloaded by an operator, or fetched once and kept.

``kotacerdas hub context add URL FILE`` stores a document for a URL, so a server without internet
can still accept clients that reference that URL (Smart Data Models contexts, a vendor's context).
Preloaded documents win over fetched ones and are never replaced by a fetch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from kotacerdas.hub.context import parse_context_document
from kotacerdas.hub.models import HubContextDoc
from kotacerdas.kit.time import utcnow

log = logging.getLogger(__name__)


def stored_document(engine: Engine, url: str) -> dict[str, Any] | None:
    try:
        with Session(engine) as session:
            row = session.get(HubContextDoc, url)
            if row is None:
                return None
            doc = row.document
            return doc if isinstance(doc, dict) else orjson.loads(doc)
    except Exception:  # an unreadable store must not block a request; the fetch path still works
        log.exception("reading stored @context %s failed", url)
        return None


def keep_fetched(engine: Engine, url: str, doc: dict[str, Any]) -> None:
    """Remember a fetched document for offline restarts (best effort, in its own transaction)."""
    try:
        with Session(engine) as session, session.begin():
            row = session.get(HubContextDoc, url)
            if row is None:
                session.add(HubContextDoc(url=url, document=doc, source="fetched", stored_at=utcnow()))
            elif row.source == "fetched":
                row.document = doc
                row.stored_at = utcnow()
    except Exception:
        log.warning("could not keep the fetched @context %s", url, exc_info=True)


def add_document(session: Session, *, url: str, data: bytes) -> HubContextDoc:
    """Store (or replace) the document for ``url``; raises BadRequestData for a bad document or URL."""
    from kotacerdas.hub.problems import BadRequestData

    if not url.startswith(("http://", "https://")) or len(url) > 2048:
        raise BadRequestData("A context URL must be an http(s) URL.")
    doc = parse_context_document(data)
    row = session.get(HubContextDoc, url)
    if row is None:
        row = HubContextDoc(url=url, document=doc, source="preloaded", stored_at=utcnow())
        session.add(row)
    else:
        row.document = doc
        row.source = "preloaded"
        row.stored_at = utcnow()
    session.flush()
    return row


def add_file(session: Session, *, url: str, path: Path) -> HubContextDoc:
    return add_document(session, url=url, data=path.read_bytes())


def list_documents(session: Session) -> list[HubContextDoc]:
    return list(session.scalars(select(HubContextDoc).order_by(HubContextDoc.url)))


def remove_document(session: Session, *, url: str) -> bool:
    row = session.get(HubContextDoc, url)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True
