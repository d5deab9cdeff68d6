"""Record the SQL the hub sends for a unit of work, and replay it through the raw database driver.

The replay is the database ceiling of a benchmark: the same statements with the same rows, run by
``sqlite3`` or ``psycopg`` directly (no SQLAlchemy, no parsing, no HTTP), one transaction per
recorded unit of work, on a fresh database in the same state. Statements come from SQLAlchemy's
``before_cursor_execute`` event; the hub's PostgreSQL ``COPY`` goes around SQLAlchemy, so it is
recorded by wrapping ``psycopg.Cursor.copy`` while recording.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import Engine, event

from bench.common import libpq_url, sqlite_path


@dataclass
class Statement:
    sql: str
    params: Any
    many: bool = False
    copy_rows: list[tuple[Any, ...]] | None = None  # a COPY ... FROM STDIN and its rows


@dataclass
class Unit:
    """The statements of one unit of work (one transaction)."""

    statements: list[Statement] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return any(
            s.copy_rows is not None or s.sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE")
            for s in self.statements
        )

    @property
    def rows(self) -> int:
        total = 0
        for s in self.statements:
            if s.copy_rows is not None:
                total += len(s.copy_rows)
            elif s.many:
                total += len(s.params)
            else:
                total += 1
        return total


class _RecordingCopy:
    def __init__(self, inner: Any, rows: list[tuple[Any, ...]]) -> None:
        self._inner = inner
        self._rows = rows

    def write_row(self, row: Any) -> None:
        self._rows.append(tuple(row))
        self._inner.write_row(row)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Recorder:
    """``with recorder.unit():`` around one unit of work collects its statements into ``units``."""

    def __init__(self, engine: Engine) -> None:
        self.units: list[Unit] = []
        self._current: Unit | None = None
        event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if self._current is None or statement.strip().upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
            return
        params = list(parameters) if executemany else parameters
        self._current.statements.append(Statement(statement, params, executemany))

    @contextmanager
    def unit(self) -> Iterator[Unit]:
        current = Unit()
        self._current = current
        original = psycopg.Cursor.copy

        @contextmanager
        def copy(cur: Any, statement: Any, params: Any = None, **kwargs: Any) -> Iterator[Any]:
            rows: list[tuple[Any, ...]] = []
            current.statements.append(Statement(str(statement), params, copy_rows=rows))
            with original(cur, statement, params, **kwargs) as inner:
                yield _RecordingCopy(inner, rows)

        setattr(psycopg.Cursor, "copy", copy)  # noqa: B010 - a temporary wrapper, restored below
        try:
            yield current
            self.units.append(current)
        finally:
            setattr(psycopg.Cursor, "copy", original)  # noqa: B010
            self._current = None


# ---------------------------------------------------------------------------------------- replay


class Replayer:
    """One raw driver connection (with the hub's connection settings) that runs recorded units."""

    def __init__(self, database_url: str) -> None:
        self.sqlite = database_url.startswith("sqlite")
        if self.sqlite:
            self._lite = sqlite3.connect(
                sqlite_path(database_url), isolation_level=None, check_same_thread=False
            )
            # the connection settings the hub uses (kotacerdas.db._configure_sqlite)
            for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=30000"):
                self._lite.execute(f"PRAGMA {pragma}")
        else:
            self._pg = psycopg.connect(libpq_url(database_url))

    def run(self, unit: Unit) -> float:
        """Seconds to run ``unit`` in one transaction, commit included. On SQLite a unit that writes
        begins IMMEDIATE, so that concurrent replays wait for the write lock instead of failing."""
        start = time.perf_counter()
        if self.sqlite:
            cur = self._lite.cursor()
            cur.execute("BEGIN IMMEDIATE" if unit.writes else "BEGIN")
            for s in unit.statements:
                if s.many:
                    cur.executemany(s.sql, s.params)
                else:
                    cur.execute(s.sql, s.params or ())
                    cur.fetchall()
            cur.execute("COMMIT")
        else:
            pcur = self._pg.cursor()
            for s in unit.statements:
                if s.copy_rows is not None:
                    with pcur.copy(s.sql) as copy:
                        for row in s.copy_rows:
                            copy.write_row(row)
                elif s.many:
                    pcur.executemany(s.sql, s.params)
                else:
                    pcur.execute(s.sql, s.params)
                    if pcur.description is not None:
                        pcur.fetchall()
            self._pg.commit()
        return time.perf_counter() - start

    def close(self) -> None:
        if self.sqlite:
            self._lite.close()
        else:
            self._pg.close()


def replay(database_url: str, units: list[Unit], *, timed_from: int = 0) -> float:
    """Run ``units`` in order on ``database_url``; seconds spent in units ``timed_from`` onwards."""
    replayer = Replayer(database_url)
    elapsed = 0.0
    try:
        for index, unit in enumerate(units):
            seconds = replayer.run(unit)
            if index >= timed_from:
                elapsed += seconds
    finally:
        replayer.close()
    return elapsed


def replay_concurrently(database_url: str, units: list[Unit], *, timed_from: int, connections: int) -> float:
    """Units before ``timed_from`` in order, then the rest shared by ``connections`` threads (one
    raw connection each, as the server's worker threads have); wall-clock seconds of the rest."""
    import queue
    import threading

    replay(database_url, units[:timed_from])
    todo: queue.SimpleQueue[Unit] = queue.SimpleQueue()
    for unit in units[timed_from:]:
        todo.put(unit)
    errors: list[BaseException] = []

    def work() -> None:
        replayer = Replayer(database_url)
        try:
            while True:
                try:
                    unit = todo.get_nowait()
                except queue.Empty:
                    return
                replayer.run(unit)
        except BaseException as exc:
            errors.append(exc)
        finally:
            replayer.close()

    threads = [threading.Thread(target=work) for _ in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


def replay_each(database_url: str, units: list[Unit], samples: int) -> list[float]:
    """Seconds of each of ``samples`` runs of ``units`` in turn, on one connection (latency floor)."""
    replayer = Replayer(database_url)
    try:
        return [replayer.run(units[i % len(units)]) for i in range(samples)]
    finally:
        replayer.close()
