"""FastAPI dependencies: the unit of work, who is asking, which language, and CSRF checks."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

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
    """``work`` in a write unit of work, off the event loop, for an ``async def`` endpoint that
    writes (instead of ``DbSession``): committed before the answer, rolled back on any error (which
    reaches the app's error handlers as it would from a ``def`` endpoint). On SQLite it runs on the
    engine's one writer thread (``db.sqlite_writer``), writers of this process in turn, with the
    other units of work queued at that moment (``_write_together``); elsewhere in the threadpool,
    side by side, each in its own unit of work."""
    factory = request.app.state.session_factory
    writer = sqlite_writer(factory)
    if writer is None:

        def unit() -> T:
            with unit_of_work(factory, write=True) as session:
                return work(session)

        return await run_in_threadpool(unit)
    loop = asyncio.get_running_loop()
    queued = _Queued(work, contextvars.copy_context(), loop, loop.create_future())
    with _queues_lock:
        queue = _queues.setdefault(id(writer), [])
        queue.append(queued)
        first = len(queue) == 1
    if first:  # the one that opens a queue submits its turn; the ones after it join that turn
        try:
            writer.submit(_write_together, factory, id(writer))
        except BaseException:  # no turn will come (the executor is shut down): nobody may wait for one
            with _queues_lock:
                _queues.pop(id(writer), None)
            raise
    result: T = await queued.answer
    return result


@dataclass(frozen=True, slots=True)
class _Queued:
    """A unit of work waiting for the SQLite writer thread."""

    work: Callable[[Session], Any]
    context: contextvars.Context  # the request's: the work runs in it, as ``run_in_threadpool`` would
    loop: asyncio.AbstractEventLoop
    answer: asyncio.Future[Any]


_queues: dict[int, list[_Queued]] = {}  # by the writer's id: the units of work waiting for their turn
_queues_lock = threading.Lock()
_log = logging.getLogger(__name__)


def _write_together(factory: sessionmaker[Session], key: int) -> None:
    """Group commit, on the writer thread: every unit of work queued at this moment in one transaction.

    Why: a filing's own BEGIN and COMMIT (with the session around them) cost about 0.3 ms of CPU, a
    third of it (sqlite's COMMIT of a report's row and its index pages 0.19 ms), and each unit of
    work costs a hand-off to this thread and back (0.06-0.1 ms); under load several filings wait for
    the writer at once, and one turn for all of them spends these once. Each one runs in a
    SAVEPOINT of its own (0.035 ms): one that fails rolls back its
    own rows (and runs its own after-rollback effects) and answers its own error, and the others are
    committed. If the COMMIT fails, each of them answers that error, as each of them would have. A
    unit of work alone in its turn runs as before, without a SAVEPOINT. The writer thread runs the
    hub's writes too (``run_writing``), each in its own unit of work, between these turns."""
    with _queues_lock:
        batch = [queued for queued in _queues.pop(key, []) if not queued.answer.cancelled()]
    if not batch:
        return
    outcomes: list[tuple[bool, Any]] = []
    try:
        with unit_of_work(factory, write=True) as session:
            if len(batch) == 1:
                outcomes.append((True, batch[0].context.run(batch[0].work, session)))
            else:
                for queued in batch:
                    outcomes.append(_in_savepoint(session, queued))
    except BaseException as error:  # the transaction failed: every unit of work in it did
        outcomes = [(False, error)] * len(batch)
    loops = {queued.loop for queued in batch}
    for loop in loops:
        answers = [(q.answer, outcome) for q, outcome in zip(batch, outcomes, strict=True) if q.loop is loop]
        try:
            loop.call_soon_threadsafe(_answer, answers)  # one wake-up of the event loop per turn
        except RuntimeError:  # the loop is closed: nobody waits for these answers any more
            _log.warning("%d write(s) answered after their event loop closed", len(answers))


def _in_savepoint(session: Session, queued: _Queued) -> tuple[bool, Any]:
    """One unit of work of a group (``_write_together``) in a SAVEPOINT: on error, its rows and the
    effects it registered are dropped (its after-rollback effects run), the group's stay."""
    effects = {name: len(session.info.get(name, ())) for name in ("after_commit", "after_rollback")}
    known = set(session.identity_map.keys())
    try:
        with session.begin_nested():
            return True, queued.context.run(queued.work, session)
    except BaseException as error:  # its own error: answered to it alone
        # rows it attached as loaded (``filing.insert_report``) are gone: the SAVEPOINT's rollback
        # expunges only what the ORM inserted, and SQLite gives the next report the same id
        for key in set(session.identity_map.keys()) - known:
            stale = session.identity_map.get(key)
            if stale is not None:
                session.expunge(stale)
        del session.info.setdefault("after_commit", [])[effects["after_commit"] :]
        undo = session.info.setdefault("after_rollback", [])
        mine = undo[effects["after_rollback"] :]
        del undo[effects["after_rollback"] :]
        for effect in mine:
            try:
                effect()
            except Exception:  # an undo that fails must not hide the error that caused the rollback
                _log.exception("undo after rollback failed")
        return False, error


def _answer(answers: list[tuple[asyncio.Future[Any], tuple[bool, Any]]]) -> None:
    for answer, (ok, value) in answers:
        if answer.done():  # cancelled while it waited (the client went away)
            continue
        if ok:
            answer.set_result(value)
        else:
            answer.set_exception(value)


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
