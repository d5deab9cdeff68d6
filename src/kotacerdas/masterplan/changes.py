"""Helpers the masterplan services share: audit entries, change sets, references in bodies."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import Principal
from kotacerdas.errors import NotFound, ValidationFailed

READ = "masterplan:read"
WRITE = "masterplan:write"


def audit(
    session: Session,
    principal: Principal,
    region_id: int,
    action: str,
    entity: Any,
    summary: str,
    changes: dict[str, Any] | None = None,
) -> None:
    auth.record_audit(
        session,
        actor=principal,
        region_id=region_id,
        action=action,
        entity_type=action.split(".")[0],
        entity_id=entity.id,
        summary=summary,
        changes=changes,
    )


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@contextmanager
def reference(field: str) -> Iterator[None]:
    """A body field naming something that is not in this region is invalid input (422), not a
    missing resource: the URL itself was found."""
    try:
        yield
    except NotFound as exc:
        raise ValidationFailed(exc.message, details=[{"field": field}], **exc.params) from None


def apply_changes(obj: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """Set the fields that differ; return {field: [old, new]} for the audit log."""
    changes = {}
    for key, value in fields.items():
        old = getattr(obj, key)
        if old != value:
            changes[key] = [jsonable(old), jsonable(value)]
            setattr(obj, key, value)
    return changes


def replace_children(session: Session, collection: list[Any], new: Iterable[Any]) -> None:
    """Replace a child collection whose rows have a unique key (year, source...).

    The unit of work inserts before it deletes, so the old rows are removed in their own flush first.
    """
    if collection:
        collection.clear()
        session.flush()
    collection.extend(new)
