"""The audit log: who changed what in a region, written by every auth write and by the other domains.

It lives apart from accounts and API keys because both write to it and many domains call
``record_audit`` through ``auth.service``; it imports neither. ``record_audit`` only adds the row to
the caller's session: the entry commits or rolls back with the change it describes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal, require_login
from kotacerdas.auth.models import AuditEntry
from kotacerdas.errors import PermissionDenied

# ---------------------------------------------------------------- audit


def record_audit(
    session: Session,
    *,
    actor: Principal | None,
    region_id: int | None,
    action: str,
    entity_type: str,
    entity_id: object,
    summary: str = "",
    changes: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            region_id=region_id,
            actor_user_id=actor.user_id if actor else None,
            actor_api_key_id=actor.api_key_id if actor else None,
            actor_label=(actor.label if actor else "system")[:200],
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            summary=summary[:300],
            changes=changes or {},
        )
    )


def list_audit(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    limit: int = 100,
    offset: int = 0,
    entity_type: str | None = None,
    entity_ids: Sequence[str] | None = None,
) -> tuple[Sequence[AuditEntry], int]:
    """The region's audit log, newest first; optionally only the entries about some entities (a page's history)."""
    require_login(principal)
    if not (principal.is_national or (principal.is_region_admin and principal.region_id == region_id)):
        raise PermissionDenied()
    base = select(AuditEntry).where(AuditEntry.region_id == region_id)
    if entity_type is not None:
        base = base.where(AuditEntry.entity_type == entity_type)
    if entity_ids is not None:
        base = base.where(AuditEntry.entity_id.in_(list(entity_ids)))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total
