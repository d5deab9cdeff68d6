"""Database: the declarative base, engines for SQLite and PostgreSQL, and the unit of work.

One owner per unit of work: the request dependency (``app.state.uow``), a CLI command or an ingest
batch opens a session, commits once and runs its after-commit effects. Services only ``flush()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Engine, ForeignKey, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

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
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")


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
