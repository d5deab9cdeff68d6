"""FastAPI dependencies: the unit of work, who is asking, which language, and CSRF checks."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from kotacerdas.auth import service as auth_service
from kotacerdas.auth.access import ANONYMOUS, Principal
from kotacerdas.config import Settings
from kotacerdas.db import run_after_commit, run_after_rollback, sqlite_writer, unit_of_work, will_write
from kotacerdas.errors import CsrfFailed, NotAuthenticated
from kotacerdas.i18n import LANGUAGES, _

SESSION_COOKIE = "kc_session"
ANON_COOKIE = "kc_anon"
LANG_COOKIE = "kc_lang"
CSRF_HEADER = "x-csrf-token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request: commit after the endpoint returns, roll back on any error.

    Used with ``scope="function"`` so the commit happens before the response is sent: a failed commit
    becomes an error response instead of a lost write behind a 200.
    """
    session: Session = request.app.state.session_factory()
    try:
        if request.method in UNSAFE:
            will_write(session)
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        run_after_rollback(session)
        raise
    finally:
        session.close()
    run_after_commit(session)


DbSession = Annotated[Session, Depends(db_session, scope="function")]

T = TypeVar("T")


async def run_write(request: Request, work: Callable[[Session], T]) -> T:
    """``work`` in its own write unit of work, off the event loop, for an ``async def`` endpoint that
    writes (instead of ``DbSession``): committed before the answer, rolled back on any error (which
    reaches the app's error handlers as it would from a ``def`` endpoint). On SQLite it runs on the
    engine's one writer thread (``db.sqlite_writer``): writers of this process queue there instead of
    polling SQLite's lock; elsewhere in the threadpool, side by side."""
    factory = request.app.state.session_factory

    def unit() -> T:
        with unit_of_work(factory, write=True) as session:
            return work(session)

    return await run_writing(factory, unit)


async def run_writing(factory: sessionmaker[Session], call: Callable[[], T]) -> T:
    """``call``, which writes through ``factory``, off the event loop: on SQLite on the engine's one
    writer thread (``db.sqlite_writer``), elsewhere in the threadpool."""
    writer = sqlite_writer(factory)
    if writer is None:
        return await run_in_threadpool(call)
    return await asyncio.wrap_future(writer.submit(contextvars.copy_context().run, call))


def _bearer(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def get_principal(request: Request, session: DbSession) -> Principal:
    """API key (header) first, then the session cookie. Cookie-authenticated API writes need the CSRF header."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = ANONYMOUS
    secret = _bearer(request)
    if secret:
        found = auth_service.resolve_api_key(session, secret)
        if found is None:
            raise NotAuthenticated(_("The API key is not valid or has been revoked."))
        principal = found
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            resolved = auth_service.resolve_session(session, token)
            if resolved is not None:
                user, row = resolved
                principal = auth_service.principal_for_user(user, row.id)
                request.state.user_language = user.language
                request.state.session_token = token
    request.state.principal = principal
    if (
        principal.kind == "user"
        and request.method in UNSAFE
        and request.url.path.startswith(("/api/", "/ngsi-ld/", "/open311/"))
        and not request.url.path.startswith("/api/v1/auth/")
    ):
        check_csrf_value(request, request.headers.get(CSRF_HEADER, ""))
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def language(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if lang in LANGUAGES:
        return lang
    user_lang = getattr(request.state, "user_language", None)
    if user_lang in LANGUAGES:
        return str(user_lang)
    default: str = request.app.state.settings.default_language
    return default


# ---------------------------------------------------------------- CSRF
# The token is an HMAC of a per-browser anchor: the login session's token, or before login a random
# cookie. A forged form from another site cannot read either, so it cannot produce the token.


def _csrf_anchor(request: Request) -> str:
    token = getattr(request.state, "session_token", None) or request.cookies.get(SESSION_COOKIE)
    if token:
        return "s:" + token
    anon = request.cookies.get(ANON_COOKIE) or getattr(request.state, "new_anon", None)
    if not anon:
        anon = secrets.token_urlsafe(24)
        request.state.new_anon = anon  # the response middleware sets the cookie
    return "a:" + anon


def csrf_token(request: Request) -> str:
    secret = request.app.state.settings.secret_key.encode()
    return hmac.new(secret, _csrf_anchor(request).encode(), hashlib.sha256).hexdigest()


def check_csrf_value(request: Request, sent: str) -> None:
    if not sent or not hmac.compare_digest(sent, csrf_token(request)):
        raise CsrfFailed()


async def csrf_protect(request: Request) -> None:
    """For HTML form posts: the ``csrf_token`` field must match."""
    if request.method in UNSAFE:
        form = await request.form()
        sent = form.get("csrf_token")
        check_csrf_value(request, sent if isinstance(sent, str) else "")
