"""User accounts and their logins: creating and managing users, passwords (argon2), login sessions,
the login throttle, and the principal a user acts as.

Only hashes of secrets are stored: ``_sha256`` is how a session token (and, in ``auth.api_keys``, an
API key) is kept, and ``_aware`` reads a stored timestamp as UTC whatever the backend returned. Both are
shared with ``auth.api_keys``, which imports them from here; this module imports neither it nor
``auth.service``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal, require_login, require_region_admin
from kotacerdas.auth.audit import record_audit
from kotacerdas.auth.models import ROLES, User, UserSession
from kotacerdas.auth.passwords import MIN_LENGTH, dummy_hash, hash_password, needs_rehash, verify_password
from kotacerdas.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from kotacerdas.i18n import _
from kotacerdas.kit.time import utcnow
from kotacerdas.region import service as region_service


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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


REGION_ROLES = ("region_admin", "office_operator", "citizen")  # what a region admin may give


def _region_user(session: Session, *, region_id: int, user_id: int) -> User:
    user = session.scalar(select(User).where(User.id == user_id, User.region_id == region_id))
    if user is None:
        raise NotFound(_("User not found in this region."))
    return user


def get_region_user(session: Session, *, principal: Principal, region_id: int, user_id: int) -> User:
    require_region_admin(principal, region_id, permission="users:read")
    return _region_user(session, region_id=region_id, user_id=user_id)


def update_user(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    user_id: int,
    is_active: bool | None = None,
    role: str | None = None,
    office_id: int | None = None,
    clear_office: bool = False,
) -> User:
    """A region admin (de)activates an account or moves it to another role or office of the region.

    Deactivating ends the account's logins. Admins cannot lock themselves out (deactivate or demote
    their own account), so a region always keeps the admin who made the change.
    """
    require_region_admin(principal, region_id, permission="users:write")
    user = _region_user(session, region_id=region_id, user_id=user_id)
    is_self = user.id == principal.user_id
    new_role = user.role if role is None else role
    if new_role not in REGION_ROLES:
        raise ValidationFailed(_("Unknown role {role}."), role=new_role, details=[{"field": "role"}])
    if is_self and new_role != user.role:
        raise ValidationFailed(_("You cannot change your own role."), details=[{"field": "role"}])
    if is_self and is_active is False:
        raise ValidationFailed(_("You cannot deactivate your own account."), details=[{"field": "is_active"}])
    new_office = None if clear_office else (user.office_id if office_id is None else office_id)
    if office_id is not None and not clear_office:
        try:
            region_service.get_office(session, region_id=region_id, office_id=office_id)
        except NotFound:
            raise ValidationFailed(
                _("The office does not belong to this region."), details=[{"field": "office_id"}]
            ) from None
    if new_role == "office_operator" and new_office is None:
        raise ValidationFailed(_("An office operator needs an office."), details=[{"field": "office_id"}])
    changes: dict[str, list[Any]] = {}
    for name, value in (
        ("role", new_role),
        ("office_id", new_office),
        ("is_active", user.is_active if is_active is None else is_active),
    ):
        old = getattr(user, name)
        if old != value:
            changes[name] = [old, value]
            setattr(user, name, value)
    if changes.get("is_active") == [True, False]:
        session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    if changes:
        record_audit(
            session,
            actor=principal,
            region_id=region_id,
            action="user.update",
            entity_type="user",
            entity_id=user.id,
            summary=f"{user.email}: {', '.join(changes)}",
            changes=changes,
        )
    return user


def set_user_active(session: Session, *, principal: Principal, user_id: int, active: bool) -> User:
    """(De)activate an account by id alone (the region is the account's own); see ``update_user``."""
    user = get_user(session, user_id)
    if user.region_id is None:
        raise PermissionDenied()
    return update_user(
        session, principal=principal, region_id=user.region_id, user_id=user_id, is_active=active
    )


def update_profile(
    session: Session, *, principal: Principal, full_name: str | None = None, language: str | None = None
) -> User:
    """What users change on their own account: the name shown and the language of the pages."""
    require_login(principal)
    if principal.user_id is None:
        raise PermissionDenied(_("Only a user account has a profile."))
    user = get_user(session, principal.user_id)
    if language is not None:
        if language not in ("id", "en"):
            raise ValidationFailed(_("Unknown language."), details=[{"field": "language"}])
        user.language = language
    if full_name is not None:
        if not full_name.strip():
            raise ValidationFailed(_("Enter your name."), details=[{"field": "full_name"}])
        user.full_name = full_name.strip()[:200]
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


class LoginThrottle:
    """Failed logins per e-mail address within a sliding window, kept in this process's memory.

    It is per process: with N worker processes a guesser gets up to N x ``limit`` attempts per window,
    and a restart forgets the count. That still turns an online guess from thousands a minute into a
    handful; a reverse proxy's rate limit is the place for a stricter, shared one.
    """

    def __init__(
        self, *, limit: int = 10, window: timedelta = timedelta(minutes=15), max_tracked: int = 10_000
    ):
        self.limit = limit
        self.window = window
        self.max_tracked = max_tracked
        self._failures: dict[str, list[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> list[datetime]:
        recent = [t for t in self._failures.get(key, []) if now - t < self.window]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def check(self, email: str, now: datetime) -> None:
        with self._lock:
            if len(self._recent(email.strip().lower(), now)) >= self.limit:
                raise RateLimited(
                    _("Too many failed logins for this account. Try again in {minutes} minutes."),
                    minutes=int(self.window.total_seconds() // 60),
                )

    def failed(self, email: str, now: datetime) -> None:
        key = email.strip().lower()
        with self._lock:
            if key not in self._failures and len(self._failures) >= self.max_tracked:
                # bounded memory: forget the address tracked longest (dicts keep insertion order)
                self._failures.pop(next(iter(self._failures)))
            self._failures[key] = [*self._recent(key, now), now]

    def succeeded(self, email: str) -> None:
        with self._lock:
            self._failures.pop(email.strip().lower(), None)


def login(
    session: Session,
    *,
    throttle: LoginThrottle,
    email: str,
    password: str,
    days: int,
    user_agent: str = "",
) -> tuple[User, str]:
    """Check the password (refused while the address is throttled) and start a session: (user, token)."""
    now = utcnow()
    throttle.check(email, now)
    try:
        user = authenticate(session, email=email, password=password)
    except NotAuthenticated:
        throttle.failed(email, now)
        raise
    throttle.succeeded(email)
    return user, start_session(session, user=user, days=days, user_agent=user_agent)


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
