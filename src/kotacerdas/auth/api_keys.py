"""API keys for machines: creating, listing and revoking them (scoped by permission, office and
entity type), and resolving a key's secret to its principal on every API-key request.

Only the SHA-256 of a secret is stored. ``resolve_api_key`` keeps the keys it found valid in a short
per-process cache (``_known_keys``, its lock and the ``_forgotten`` generation: one of each in the
process, here and nowhere else); ``revoke_api_key`` empties it at once and again after commit. This
module imports ``auth.accounts`` and ``auth.audit``, never ``auth.service``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from kotacerdas.auth.access import PERMISSIONS, Principal, require_login
from kotacerdas.auth.accounts import _aware, _sha256
from kotacerdas.auth.audit import record_audit
from kotacerdas.auth.models import ApiKey
from kotacerdas.db import after_commit
from kotacerdas.errors import NotFound, PermissionDenied, ValidationFailed
from kotacerdas.i18n import _
from kotacerdas.kit.time import utcnow
from kotacerdas.region import service as region_service

KEY_PREFIX = "kc_"


# ---------------------------------------------------------------- API keys


def _expand_types(names: list[str] | None) -> list[str] | None:
    """Hub entity type names to IRIs, as the hub stores them (core @context: default vocabulary)."""
    from kotacerdas.hub.context import DEFAULT_VOCAB

    cleaned = [n.strip() for n in names or [] if n.strip()]
    if not cleaned:
        return None
    return sorted({n if ":" in n else DEFAULT_VOCAB + n for n in cleaned})


def create_api_key(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    name: str,
    permissions: list[str],
    office_id: int | None = None,
    entity_types: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """Returns the key row and the secret, which is shown once and never stored."""
    require_login(principal)
    if principal.kind != "user" or principal.region_id != region_id:
        raise PermissionDenied()
    if principal.is_office_operator:
        if office_id is None:
            office_id = principal.office_id
        if office_id != principal.office_id:
            raise PermissionDenied(_("An office operator can create keys only for their own office."))
    elif not principal.is_region_admin:
        raise PermissionDenied()
    unknown = sorted(set(permissions) - set(PERMISSIONS))
    if unknown or not permissions:
        raise ValidationFailed(
            _("Unknown or missing permissions: {names}."),
            names=", ".join(unknown) or "-",
            details=[{"field": "permissions", "allowed": sorted(PERMISSIONS)}],
        )
    if office_id is not None:
        region_service.get_office(session, region_id=region_id, office_id=office_id)
    if not name.strip():
        raise ValidationFailed(_("Give the key a name."), details=[{"field": "name"}])
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        region_id=region_id,
        office_id=office_id,
        name=name.strip()[:120],
        prefix=secret[:11],
        key_hash=_sha256(secret),
        permissions=sorted(set(permissions)),
        entity_types=_expand_types(entity_types),
        created_by_id=principal.user_id,
    )
    session.add(key)
    session.flush()
    record_audit(
        session,
        actor=principal,
        region_id=region_id,
        action="api_key.create",
        entity_type="api_key",
        entity_id=key.id,
        summary=f"{key.name} [{', '.join(key.permissions)}]",
    )
    return key, secret


def list_api_keys(session: Session, *, principal: Principal, region_id: int) -> Sequence[ApiKey]:
    require_login(principal)
    if principal.kind != "user" or principal.region_id != region_id:
        raise PermissionDenied()
    stmt = select(ApiKey).where(ApiKey.region_id == region_id)
    if principal.is_office_operator:
        stmt = stmt.where(ApiKey.office_id == principal.office_id)
    elif not principal.is_region_admin:
        raise PermissionDenied()
    return session.scalars(stmt.order_by(ApiKey.created_at.desc())).all()


def revoke_api_key(session: Session, *, principal: Principal, region_id: int, key_id: int) -> ApiKey:
    keys = {k.id: k for k in list_api_keys(session, principal=principal, region_id=region_id)}
    key = keys.get(key_id)
    if key is None:
        raise NotFound()
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        forget_api_keys()
        # again once it is committed: a request in between may have cached the key as still valid
        after_commit(session, forget_api_keys)
        record_audit(
            session,
            actor=principal,
            region_id=region_id,
            action="api_key.revoke",
            entity_type="api_key",
            entity_id=key.id,
            summary=key.name,
        )
    return key


# Resolved API keys, per process, by the SHA-256 of the secret, for ``KEY_CACHE_SECONDS``: a machine that
# files or ingests hundreds of times a second would otherwise read its key row on every request.
# Revoking a key empties this process's cache at once (and again after the revocation commits); another
# process keeps accepting a revoked key for at most ``KEY_CACHE_SECONDS`` (docs/admin-guide.md). Only
# keys found valid are kept; a key that is not (yet) valid is looked up every time.
KEY_CACHE_SECONDS = 10.0
LAST_USED_EVERY = timedelta(minutes=1)
_KEY_CACHE_MAX = 10_000


@dataclass(frozen=True)
class _KnownKey:
    principal: Principal
    last_used_at: datetime | None  # as this process last saw or stamped it
    expires: float  # time.monotonic()


_known_keys: dict[str, _KnownKey] = {}
_known_keys_lock = threading.Lock()
_forgotten = 0  # bumped by each forget: a lookup that began before it does not remember its answer
_API_KEY = cast(Table, ApiKey.__table__)
_KEY_BY_HASH = select(
    _API_KEY.c.id,
    _API_KEY.c.region_id,
    _API_KEY.c.office_id,
    _API_KEY.c.name,
    _API_KEY.c.prefix,
    _API_KEY.c.permissions,
    _API_KEY.c.last_used_at,
    _API_KEY.c.revoked_at,
).where(_API_KEY.c.key_hash == bindparam("key_hash"))
_STAMP_KEY = update(_API_KEY).where(_API_KEY.c.id == bindparam("key_id")).values(last_used_at=bindparam("at"))


def forget_api_keys() -> None:
    """Empty this process's cache of resolved keys (a key was revoked)."""
    global _forgotten
    with _known_keys_lock:
        _known_keys.clear()
        _forgotten += 1


def resolve_api_key(session: Session, secret: str) -> Principal | None:
    """Who the key is, or None if it is unknown or revoked. Stamps ``last_used_at`` at most once a
    minute (in the caller's transaction)."""
    if not secret.startswith(KEY_PREFIX):
        return None
    key_hash = _sha256(secret)
    now = utcnow()
    known = _known_keys.get(key_hash)
    if (
        known is not None
        and known.expires > time.monotonic()
        and known.last_used_at is not None
        and now - known.last_used_at <= LAST_USED_EVERY
    ):
        return known.principal
    generation = _forgotten
    session.flush()  # a key revoked in this unit of work counts (Core reads do not autoflush)
    row = session.connection().execute(_KEY_BY_HASH, {"key_hash": key_hash}).one_or_none()
    if row is None or row.revoked_at is not None:
        with _known_keys_lock:
            _known_keys.pop(key_hash, None)
        return None
    last_used = _aware(row.last_used_at) if row.last_used_at is not None else None
    if last_used is None or now - last_used > LAST_USED_EVERY:
        session.connection().execute(_STAMP_KEY, {"key_id": row.id, "at": now})
        last_used = now
    principal = Principal(
        kind="api_key",
        label=f"API key {row.prefix}… ({row.name})",
        api_key_id=row.id,
        region_id=row.region_id,
        office_id=row.office_id,
        permissions=frozenset(row.permissions),
    )
    with _known_keys_lock:
        if generation == _forgotten:
            if len(_known_keys) >= _KEY_CACHE_MAX:
                _known_keys.clear()
            _known_keys[key_hash] = _KnownKey(principal, last_used, time.monotonic() + KEY_CACHE_SECONDS)
    return principal
