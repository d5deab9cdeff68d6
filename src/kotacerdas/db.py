"""Database: the declarative base, engines for SQLite and PostgreSQL, and the unit of work.

One owner per unit of work: the request dependency (``app.state.uow``), a CLI command or an ingest
batch opens a session, commits once and runs its after-commit effects. Services only ``flush()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, ForeignKey, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql import ClauseElement

from kotacerdas.kit.time import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RegionOwned:
    """A tenant-owned row: ``region_id`` leads its natural keys and every query filters on it."""

    region_id: Mapped[int] = mapped_column(ForeignKey("region.id", ondelete="CASCADE"), index=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, and real transactions (pysqlite's own BEGIN handling breaks SAVEPOINTs)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA cache_size=-32768")  # 32 MiB of page cache per connection (the hub's batches)
        # checkpoint the WAL every 32 MiB instead of 4 MiB: pages the hub rewrites batch after batch are
        # copied back to the database once per checkpoint (measured: commit 22 ms -> 7 ms per batch)
        cur.execute("PRAGMA wal_autocheckpoint=8192")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # a unit of work that will write takes the write lock up front: a read-then-write transaction
        # that started as a reader fails at once ("database is locked") if another writer commits first
        sql = "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN"
        # on the DBAPI connection: ``exec_driver_sql`` costs three times as much
        _execute_plain(conn, sql)

    # SAVEPOINT, RELEASE and ROLLBACK TO on the DBAPI connection as well: SQLAlchemy compiles and
    # executes each for some 0.04 ms, and the SQLite writer's group commit (``web.deps.run_write``)
    # takes a SAVEPOINT per filing. This engine's dialect has its own (its events still fire).
    dialect: Any = engine.dialect
    dialect.do_savepoint = _savepoint
    dialect.do_release_savepoint = _release_savepoint
    dialect.do_rollback_to_savepoint = _rollback_to_savepoint


def _execute_plain(conn: Connection, sql: str) -> None:
    """A statement without parameters or rows on the connection's DBAPI connection, its error raised
    as SQLAlchemy's (``OperationalError``: the lock was not free within the busy timeout)."""
    error_class = conn.dialect.loaded_dbapi.Error
    try:
        conn.connection.dbapi_connection.execute(sql)  # type: ignore[union-attr]
    except error_class as error:
        raise DBAPIError.instance(sql, (), error, error_class) from error


def _savepoint(conn: Connection, name: str) -> None:
    _execute_plain(conn, f"SAVEPOINT {conn.dialect.identifier_preparer.quote(name)}")


def _release_savepoint(conn: Connection, name: str) -> None:
    _execute_plain(conn, f"RELEASE SAVEPOINT {conn.dialect.identifier_preparer.quote(name)}")


def _rollback_to_savepoint(conn: Connection, name: str) -> None:
    _execute_plain(conn, f"ROLLBACK TO SAVEPOINT {conn.dialect.identifier_preparer.quote(name)}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


AfterCommit = Callable[[], None]
WRITE_OPTION = "kotacerdas_write"


def will_write(session: Session) -> None:
    """Declare, before the first statement, that this unit of work writes (SQLite: BEGIN IMMEDIATE)."""
    session.connection(execution_options={WRITE_OPTION: True})


def after_commit(session: Session, effect: AfterCommit) -> None:
    """Run ``effect`` once the unit of work that owns ``session`` has committed (never on rollback)."""
    session.info.setdefault("after_commit", []).append(effect)


def after_rollback(session: Session, effect: AfterCommit) -> None:
    """Undo an effect outside the database (a stored file) if the unit of work rolls back."""
    session.info.setdefault("after_rollback", []).append(effect)


def run_after_commit(session: Session) -> None:
    session.info.pop("after_rollback", None)
    effects: list[AfterCommit] = session.info.pop("after_commit", [])
    for effect in effects:
        effect()


def run_after_rollback(session: Session) -> None:
    session.info.pop("after_commit", None)
    effects: list[AfterCommit] = session.info.pop("after_rollback", [])
    for effect in effects:
        try:
            effect()
        except Exception:  # an undo that fails must not hide the error that caused the rollback
            logging.getLogger(__name__).exception("undo after rollback failed")


_write_locks: dict[int, threading.RLock] = {}


def _sqlite_write_lock(factory: sessionmaker[Session]) -> threading.RLock | None:
    """One lock per SQLite engine: writers of this process queue on it and are woken at once,
    instead of polling SQLite's lock with the busy handler's growing sleeps."""
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return None
    lock = _write_locks.get(id(bind))
    if lock is None:
        lock = _write_locks.setdefault(id(bind), threading.RLock())
    return lock


_writers: dict[int, ThreadPoolExecutor] = {}
_writers_lock = threading.Lock()


def sqlite_writer(factory: sessionmaker[Session]) -> ThreadPoolExecutor | None:
    """One thread per SQLite engine that runs the request path's write units of work one after the
    other (``web.deps.run_write``): a request waits for its turn without holding a thread or SQLite's
    lock, where concurrent writers would poll the lock with the busy handler's growing sleeps.
    ``None`` for another database (its writers run side by side) or a session bound to a connection."""
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return None
    writer = _writers.get(id(bind))
    if writer is None:
        with _writers_lock:
            writer = _writers.get(id(bind))
            if writer is None:
                writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kc-sqlite-writer")
                _writers[id(bind)] = writer
    return writer


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """Commit on success, roll back on error, then run after-commit effects.

    ``write=True`` for a unit of work that changes data (see ``will_write``).
    """
    lock = _sqlite_write_lock(factory) if write else None
    if lock is not None:
        lock.acquire()
    try:
        with _unit_of_work(factory, write=write) as session:
            yield session
    finally:
        if lock is not None:
            lock.release()


@contextmanager
def _unit_of_work(factory: sessionmaker[Session], *, write: bool) -> Iterator[Session]:
    session = factory()
    try:
        if write:
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


# ---------------------------------------------------------------- statements on the hot paths


@dataclass(frozen=True, slots=True)
class Direct:
    """The DBAPI connection of a session's transaction (``direct``), for ``Prepared`` statements."""

    dbapi: Any
    dialect: Dialect


_DIRECT = "kotacerdas_direct"


def direct(session: Session) -> Direct:
    """The DBAPI connection under ``session``'s current transaction (begun if need be, with its
    ``will_write`` options), found once per transaction: ``Session.connection()`` alone costs some
    0.03 ms, and a filing runs seven statements. The session is not flushed (the caller does that
    where a pending change must count)."""
    # keyed by the innermost transaction: the first statement of a ``begin_nested()`` goes through
    # ``Session.connection()``, which emits its SAVEPOINT (SQLAlchemy emits it lazily)
    memo = session.info.get(_DIRECT)
    if memo is not None and memo[0] is (session.get_nested_transaction() or session.get_transaction()):
        found: Direct = memo[1]
        return found
    conn = session.connection()
    found = Direct(conn.connection.dbapi_connection, conn.dialect)
    session.info[_DIRECT] = (session.get_nested_transaction() or session.get_transaction(), found)
    return found


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    order: tuple[str, ...] | None  # the parameters' order (a positional paramstyle), else by name
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # parameters whose type converts them
    defaults: dict[str, Any]  # the values the statement holds itself (``last + 1``)
    results: tuple[Callable[[Any], Any] | None, ...] | None  # per column; None: none converts


class Prepared:
    """A Core statement run straight on the DBAPI cursor (``direct``): compiled once per driver, its
    parameters and rows converted by the column types' processors, as ``Connection.execute`` would.

    Why: SQLAlchemy's execute costs about 0.1 ms of CPU per statement (execution context, result
    metadata, events) against 0.03 ms in sqlite3 itself, and filing a report runs seven of them on
    the path that takes hundreds of reports a second. The rows are plain tuples. What these
    statements give up: connection events (``before_cursor_execute``, echo) do not see them, and a
    statement may have no expanding (``IN``) or literal-rendered parameter. Errors are raised as
    SQLAlchemy's (``IntegrityError``...), as from ``execute``."""

    __slots__ = ("_plans", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._plans: dict[tuple[type[Dialect], str], _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        key = (type(dialect), dialect.paramstyle)  # the driver's: its placeholders and conversions
        plan = self._plans.get(key)
        if plan is None:
            compiled: Any = self.statement.compile(dialect=dialect)
            binds = []
            defaults = {
                name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
            }
            for name, bind in compiled.binds.items():
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    binds.append((name, process))
            results = [
                column[3].dialect_impl(dialect).result_processor(dialect, None)
                for column in compiled._result_columns
            ]
            plan = _Plan(
                compiled.string,
                tuple(compiled.positiontup) if compiled.positional else None,
                tuple(binds),
                defaults,
                tuple(results) if any(results) else None,
            )
            self._plans[key] = plan
        return plan

    def rows(self, conn: Direct, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """Every row the statement gives (none for a statement without rows)."""
        plan = self._plan(conn.dialect)
        if plan.defaults:
            params = {**plan.defaults, **params}
        if plan.binds:
            params = dict(params)
            for name, process in plan.binds:
                params[name] = process(params[name])
        args: Any = params if plan.order is None else [params[name] for name in plan.order]
        cursor = conn.dbapi.cursor()
        try:
            cursor.execute(plan.sql, args)
            found = cursor.fetchall() if cursor.description is not None else []
        except conn.dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(plan.sql, args, error, conn.dialect.loaded_dbapi.Error) from error
        finally:
            cursor.close()
        if plan.results is None:
            return found
        processors = plan.results
        return [
            tuple(
                value if process is None else process(value)
                for process, value in zip(processors, row, strict=True)
            )
            for row in found
        ]

    def first(self, conn: Direct, params: Mapping[str, Any]) -> Sequence[Any] | None:
        found = self.rows(conn, params)
        return found[0] if found else None

    def scalar(self, conn: Direct, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, None without a row."""
        found = self.rows(conn, params)
        return found[0][0] if found else None
