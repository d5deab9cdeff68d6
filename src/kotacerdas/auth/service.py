"""Users, sessions, API keys and the audit log. No HTTP here; the caller owns the transaction."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kotacerdas.auth.access import PERMISSIONS, Principal, require_login, require_region_admin
from kotacerdas.auth.models import ROLES, ApiKey, AuditEntry, User, UserSession
from kotacerdas.auth.passwords import MIN_LENGTH, dummy_hash, hash_password, needs_rehash, verify_password
from kotacerdas.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from kotacerdas.i18n import _
from kotacerdas.kit.time import utcnow
from kotacerdas.region import service as region_service

KEY_PREFIX = "kc_"


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
    session: Session, *, principal: Principal, region_id: int, limit: int = 100, offset: int = 0
) -> tuple[Sequence[AuditEntry], int]:
    require_login(principal)
    if not (principal.is_national or (principal.is_region_admin and principal.region_id == region_id)):
        raise PermissionDenied()
    base = select(AuditEntry).where(AuditEntry.region_id == region_id)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total


# ---------------------------------------------------------------- users


def _check_password_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            _("The password must be at least {n} characters long."),
            n=MIN_LENGTH,
            details=[{"field": "password", "code": "too_short"}],
        )


def create_user(
    session: Session,
    *,
    email: str,
    full_name: str,
    password: str,
    role: str,
    region_id: int | None = None,
    office_id: int | None = None,
    language: str = "id",
    actor: Principal | None = None,
) -> User:
    """Create an account. ``actor`` None means the operator's CLI; otherwise a region admin of the region."""
    email = email.strip().lower()
    if role not in ROLES:
        raise ValidationFailed(_("Unknown role {role}."), role=role)
    if role == "national_evaluator":
        if region_id is not None:
            raise ValidationFailed(_("A national evaluator does not belong to a region."))
    elif region_id is None:
        raise ValidationFailed(_("This role needs a region."))
    if role == "office_operator" and office_id is None:
        raise ValidationFailed(_("An office operator needs an office."))
    if office_id is not None:
        office = region_service.get_office(session, region_id=region_id or -1, office_id=office_id)
        office_id = office.id
    if actor is not None:
        if role == "national_evaluator" or region_id is None:
            raise PermissionDenied()
        require_region_admin(actor, region_id, permission="users:write")
    if "@" not in email or len(email) > 200:
        raise ValidationFailed(_("Enter a valid e-mail address."), details=[{"field": "email"}])
    _check_password_strength(password)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(_("An account with this e-mail address already exists."))
    user = User(
        email=email,
        full_name=full_name.strip(),
        password_hash=hash_password(password),
        role=role,
        region_id=region_id,
        office_id=office_id,
        language=language if language in ("id", "en") else "id",
    )
    session.add(user)
    session.flush()
    record_audit(
        session,
        actor=actor,
        region_id=region_id,
        action="user.create",
        entity_type="user",
        entity_id=user.id,
        summary=f"{email} ({role})",
    )
    return user


def list_users(session: Session, *, principal: Principal, region_id: int) -> Sequence[User]:
    require_region_admin(principal, region_id, permission="users:read")
    return session.scalars(select(User).where(User.region_id == region_id).order_by(User.full_name)).all()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


def set_user_active(session: Session, *, principal: Principal, user_id: int, active: bool) -> User:
    user = get_user(session, user_id)
    if user.region_id is None:
        raise PermissionDenied()
    require_region_admin(principal, user.region_id, permission="users:write")
    if user.id == principal.user_id and not active:
        raise ValidationFailed(_("You cannot deactivate your own account."))
    user.is_active = active
    if not active:
        session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    record_audit(
        session,
        actor=principal,
        region_id=user.region_id,
        action="user.activate" if active else "user.deactivate",
        entity_type="user",
        entity_id=user.id,
        summary=user.email,
    )
    return user


def principal_for_user(user: User, session_id: int | None = None) -> Principal:
    return Principal(
        kind="user",
        label=user.full_name or user.email,
        user_id=user.id,
        role=user.role,
        region_id=user.region_id,
        office_id=user.office_id,
        session_id=session_id,
    )


# ---------------------------------------------------------------- sessions


def authenticate(session: Session, *, email: str, password: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        verify_password(dummy_hash(), password)
        raise NotAuthenticated(_("The e-mail address or password is wrong."))
    if not verify_password(user.password_hash, password) or not user.is_active:
        raise NotAuthenticated(_("The e-mail address or password is wrong."))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def start_session(session: Session, *, user: User, days: int, user_agent: str = "") -> str:
    """Returns the cookie token; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        UserSession(
            token_hash=_sha256(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(days=days),
            last_seen_at=now,
            user_agent=user_agent[:300],
        )
    )
    session.flush()
    return token


def resolve_session(session: Session, token: str) -> tuple[User, UserSession] | None:
    row = session.scalar(select(UserSession).where(UserSession.token_hash == _sha256(token)))
    if row is None:
        return None
    now = utcnow()
    if _aware(row.expires_at) <= now:
        session.delete(row)
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if (now - _aware(row.last_seen_at)) > timedelta(minutes=5):
        row.last_seen_at = now
    return user, row


def end_session(session: Session, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == _sha256(token)))


def change_password(
    session: Session,
    *,
    principal: Principal,
    current_password: str,
    new_password: str,
    keep_session_id: int | None,
) -> None:
    """Changes the password and ends every other login of the account."""
    require_login(principal)
    if principal.user_id is None:
        raise PermissionDenied()
    user = get_user(session, principal.user_id)
    if not verify_password(user.password_hash, current_password):
        raise ValidationFailed(
            _("The current password is wrong."), details=[{"field": "current_password", "code": "wrong"}]
        )
    _check_password_strength(new_password)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    stmt = delete(UserSession).where(UserSession.user_id == user.id)
    if keep_session_id is not None:
        stmt = stmt.where(UserSession.id != keep_session_id)
    session.execute(stmt)
    record_audit(
        session,
        actor=principal,
        region_id=user.region_id,
        action="user.password_change",
        entity_type="user",
        entity_id=user.id,
        summary=user.email,
    )


# ---------------------------------------------------------------- API keys


def create_api_key(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    name: str,
    permissions: list[str],
    office_id: int | None = None,
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


def resolve_api_key(session: Session, secret: str) -> Principal | None:
    if not secret.startswith(KEY_PREFIX):
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _sha256(secret)))
    if key is None or key.revoked_at is not None:
        return None
    now = utcnow()
    if key.last_used_at is None or (now - _aware(key.last_used_at)) > timedelta(minutes=1):
        key.last_used_at = now
    return Principal(
        kind="api_key",
        label=f"API key {key.prefix}… ({key.name})",
        api_key_id=key.id,
        region_id=key.region_id,
        office_id=key.office_id,
        permissions=frozenset(key.permissions),
    )
