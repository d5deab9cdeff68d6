"""A read-through cache of per-period aggregates of the hub's history (``hub_aggregate_cache``).

Why: an aggregation reads the JSON of every history row in its window (an hourly average over 30 days
of one-minute data: 43,200 rows, 250 ms on SQLite). Past periods rarely change, so their aggregates
are kept, and a repeated query reads a stamp of the history and the cached rows instead.

What keeps it right:
- Only periods of ``observedAt`` aggregations (``ts`` is their time) are cached, and only those wholly
  inside the query's window that ended before now; the rest (the last, partial period) is computed.
- Each cached period carries the *stamp* of the entity's history rows in it: their count and the exact
  sum of their ids (random 62-bit numbers, summed as two 31-bit halves so that SQLite's integer sum
  cannot overflow), read from the primary key index alone. A row added, deleted or moved changes the
  stamp, so ingest writes nothing more than its history rows.
- The stamp of the whole cached range is compared with the sum of the cached stamps first (one
  index-only scan); only when they differ are the periods stamped one by one and the changed ones
  recomputed (with the same SQL, restricted to their time range) and stored again.
- Rewrites that keep a row's id and time (an instance modified or deleted, an attribute's history
  deleted, downsampling) call ``invalidate``: the entity's epoch (``hub_aggregate_epoch``) goes up and
  its cache rows go. A cache row carries the epoch read before its stamps; rows of another epoch are
  ignored, so a read that raced a rewrite can only store rows nobody will use.
- Rows are written after the read's transaction, in a unit of work of their own (a GET reads in a
  read transaction, which SQLite could not turn into a write under ingest); a failure there is logged
  and forgotten: the cache is only a cache.
- ``evict`` (the daily maintenance) drops rows not used for ``UNUSED_DAYS`` days (a query's ``used_at``
  is refreshed at most once a day), and rows of entities that no longer exist.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.db import after_commit, unit_of_work
from kotacerdas.hub import store
from kotacerdas.hub.entity import now_us

log = logging.getLogger(__name__)

UNUSED_DAYS = 7  # cache rows no query used for this long are dropped by the maintenance job
DAY_US = 86_400_000_000
VERSION = 1  # part of every key: a change in how aggregates are computed leaves old rows unused
HALF = 2_147_483_648  # 2**31: ids are summed as iid / HALF and iid % HALF
MAX_RUNS = 8  # more runs of changed periods than this are recomputed as one range
SEEK_PERIODS = 4096  # up to this many periods SQLite stamps them one index range at a time
MIN_ROWS_PER_PERIOD = 4  # sparser history is aggregated directly, not cached
MAX_PENDING = 100_000  # cache rows one request may store (a long, fine-grained cold query)

Row = Sequence[Any]
Span = tuple[int | None, int | None]
Compute = Callable[[Span], list[Row]]
Stamp = tuple[int, int, int]  # rows, sum of the ids' high halves, sum of their low halves
NO_ROWS: Stamp = (0, 0, 0)

UPSERT_ROWS = 400  # cache rows per INSERT statement on SQLite (12 parameters each)
_ARRAYS = ", ".join(f"CAST(? AS {t}[])" for t in ["integer", *["bigint"] * 9, "text", "bigint"])
_UPSERT = (
    "INSERT INTO hub_aggregate_cache (region_id, entity_pk, query_key, period_us, phase, start, epoch, "
    "stamp_count, stamp_high, stamp_low, stats, used_at) {rows} "
    "ON CONFLICT (entity_pk, query_key, period_us, phase, start) DO UPDATE SET epoch = excluded.epoch, "
    "stamp_count = excluded.stamp_count, stamp_high = excluded.stamp_high, "
    "stamp_low = excluded.stamp_low, stats = excluded.stats, used_at = excluded.used_at "
    "WHERE excluded.epoch >= hub_aggregate_cache.epoch"
)
_TOUCH = (
    "UPDATE hub_aggregate_cache SET used_at = ? WHERE entity_pk = ? AND query_key = ? AND period_us = ? "
    "AND phase = ? AND start >= ? AND start < ?"
)


def query_key(key: str) -> int:
    """A signed 64-bit hash of what decides a period's aggregates besides entity and periods."""
    digest = hashlib.blake2b(f"{VERSION}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _stamp_sql(pg: bool) -> str:
    if pg:  # halves as integer: SUM(integer) is a bigint sum, SUM(bigint) a slower numeric one
        return (
            "COUNT(*), COALESCE(SUM(CAST(iid / 2147483648 AS INTEGER)), 0), "
            "COALESCE(SUM(CAST(iid % 2147483648 AS INTEGER)), 0)"
        )
    return "COUNT(*), COALESCE(SUM(iid / 2147483648), 0), COALESCE(SUM(iid % 2147483648), 0)"


def _whole_stamp(conn: Connection, pk: int, lower: int, upper: int) -> Stamp:
    row = store.execute(
        conn,
        f"SELECT {_stamp_sql(store.is_postgres(conn))} FROM hub_history "
        "WHERE entity_pk = ? AND ts >= ? AND ts < ?",
        [pk, lower, upper],
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _period_stamps(conn: Connection, pk: int, origin: int, period: int, upper: int) -> dict[int, Stamp]:
    """Period number -> stamp, for the periods with history rows in [origin, upper)."""
    pg = store.is_postgres(conn)
    count = (upper - origin) // period
    if not pg and count <= SEEK_PERIODS:
        # one index range per period: no sort of every row by its period (720 periods of 60 rows:
        # 7-9 ms instead of 15 ms); each period's stamp comes back as one text
        rows = store.execute(
            conn,
            "WITH RECURSIVE p(bk) AS (SELECT 0 UNION ALL SELECT bk + 1 FROM p WHERE bk + 1 < ?) "
            "SELECT bk, (SELECT COUNT(*) || ' ' || COALESCE(SUM(iid / 2147483648), 0) || ' ' || "
            "COALESCE(SUM(iid % 2147483648), 0) FROM hub_history WHERE entity_pk = ? "
            "AND ts >= ? + bk * ? AND ts < ? + (bk + 1) * ?) FROM p",
            [count, pk, origin, period, origin, period],
        ).all()
        found: dict[int, Stamp] = {}
        for bk, text in rows:
            n, high, low = (int(part) for part in str(text).split())
            if n:
                found[int(bk)] = (n, high, low)
        return found
    cast = "CAST(? AS BIGINT)" if pg else "?"
    rows = store.execute(
        conn,
        f"SELECT (ts - {cast}) / {cast} AS bk, {_stamp_sql(pg)} FROM hub_history "
        "WHERE entity_pk = ? AND ts >= ? AND ts < ? GROUP BY bk",
        [origin, period, pk, origin, upper],
    ).all()
    return {int(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows}


def _epoch(conn: Connection, pk: int) -> int:
    found = store.execute(conn, "SELECT epoch FROM hub_aggregate_epoch WHERE entity_pk = ?", [pk]).first()
    return int(found[0]) if found is not None else 0


def _runs(periods: list[int]) -> list[tuple[int, int]]:
    """Sorted period numbers as [first, last + 1) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for bk in periods:
        if runs and runs[-1][1] == bk:
            runs[-1] = (runs[-1][0], bk + 1)
        else:
            runs.append((bk, bk + 1))
    if len(runs) > MAX_RUNS:
        return [(runs[0][0], runs[-1][1])]
    return runs


def _storable(stats: list[list[Any]]) -> bool:
    """JSON has no NaN or infinity (an overflowing sum of huge values)."""
    return all(v is None or math.isfinite(v) for item in stats for v in item[2:6])


@dataclass
class AggregateCache:
    """The cache as one request sees it: rows found stale or missing are collected in ``pending`` and
    written by ``flush`` after the request's transaction (``attach`` arranges it)."""

    region_id: int
    now: int = field(default_factory=now_us)
    pending: list[tuple[Any, ...]] = field(default_factory=list)
    touches: list[tuple[Any, ...]] = field(default_factory=list)

    def rows(
        self,
        conn: Connection,
        *,
        pk: int,
        key: str,
        origin: int,
        period: int,
        upper: int | None,
        compute: Compute,
    ) -> list[Row]:
        """The aggregate rows of the periods from ``origin`` (as ``compute`` would give them for the
        whole window), the past periods' from the cache where their history is unchanged."""
        end = self.now if upper is None else min(upper, self.now)
        full = (end - origin) // period if end > origin else 0
        if full <= 0:
            return compute((None, None))
        limit = origin + full * period
        hashed, phase = query_key(key), origin % period
        epoch = _epoch(conn, pk)  # before the stamps: a rewrite after this read leaves our rows unused
        cached: dict[int, tuple[Stamp, list[list[Any]], int]] = {}
        for start, count, high, low, stats, used_at in store.execute(
            conn,
            "SELECT start, stamp_count, stamp_high, stamp_low, stats, used_at FROM hub_aggregate_cache "
            "WHERE entity_pk = ? AND query_key = ? AND period_us = ? AND phase = ? AND start >= ? "
            "AND start < ? AND epoch = ?",
            [pk, hashed, period, phase, origin, limit, epoch],
        ).all():
            cached[(int(start) - origin) // period] = (
                (int(count), int(high), int(low)),
                orjson.loads(stats),
                int(used_at),
            )
        stale: list[int] = []
        stamps: dict[int, Stamp] = {}
        summed = tuple(sum(entry[0][i] for entry in cached.values()) for i in range(3))
        if not cached or _whole_stamp(conn, pk, origin, limit) != summed:
            stamps = _period_stamps(conn, pk, origin, period, limit)
            if not cached and sum(s[0] for s in stamps.values()) < MIN_ROWS_PER_PERIOD * len(stamps):
                return compute((None, None))  # periods of a few rows: computing beats caching
            for bk in sorted(set(stamps) | set(cached)):
                if stamps.get(bk, NO_ROWS) != (cached[bk][0] if bk in cached else NO_ROWS):
                    stale.append(bk)
        out: list[Row] = []
        changed = set(stale)
        for bk, (_stamp, stats, _used) in cached.items():
            if bk not in changed:
                out.extend((item[0], bk, *item[1:8], 0, item[8]) for item in stats)
        for first, last in _runs(stale):
            fresh: dict[int, list[Row]] = {bk: [] for bk in stale if first <= bk < last}
            for row in compute((origin + first * period, origin + last * period)):
                if int(row[1]) in fresh:
                    fresh[int(row[1])].append(row)
            for bk, found in fresh.items():
                out.extend(found)
                self._store(
                    pk, hashed, period, phase, origin + bk * period, epoch, stamps.get(bk, NO_ROWS), found
                )
        if upper is None or limit < upper:
            out.extend(compute((limit, None)))
        if any(used < self.now - DAY_US for _stamp, _stats, used in cached.values()):
            self.touches.append((self.now, pk, hashed, period, phase, origin, limit))
        return out

    def _store(
        self,
        pk: int,
        hashed: int,
        period: int,
        phase: int,
        start: int,
        epoch: int,
        stamp: Stamp,
        found: list[Row],
    ) -> None:
        stats = [[r[0], *r[2:9], r[10] if len(r) > 10 else None] for r in found]
        if _storable(stats) and len(self.pending) < MAX_PENDING:
            self.pending.append(
                (
                    self.region_id,
                    pk,
                    hashed,
                    period,
                    phase,
                    start,
                    epoch,
                    *stamp,
                    orjson.dumps(stats).decode(),
                    self.now,
                )
            )

    def attach(self, session: Session, factory: sessionmaker[Session]) -> None:
        """Write what this request found stale once its transaction is over."""
        after_commit(session, lambda: self.flush(factory))

    def flush(self, factory: sessionmaker[Session]) -> None:
        if not self.pending and not self.touches:
            return
        try:
            with unit_of_work(factory, write=True) as session:
                conn = store.connection(session)
                _upsert(conn, self.pending)
                store.executemany(conn, _TOUCH, self.touches)
        except SQLAlchemyError as exc:  # the answer was given; the next request recomputes
            log.warning("hub aggregate cache: %d rows not stored: %s", len(self.pending), exc)
        self.pending, self.touches = [], []


def _upsert(conn: Connection, pending: list[tuple[Any, ...]]) -> None:
    """Many rows per statement (measured for 720 rows: SQLite 7 ms one by one, 2 ms so; PostgreSQL
    25-78 ms through executemany, 24 ms as arrays), one row per key (a statement may not update a
    row twice)."""
    rows = list({row[1:6]: row for row in pending}.values())
    if not rows:
        return
    if store.is_postgres(conn):
        columns = [list(column) for column in zip(*rows, strict=True)]
        store.execute(conn, _UPSERT.format(rows=f"SELECT * FROM unnest({_ARRAYS})"), columns)
        return
    for at in range(0, len(rows), UPSERT_ROWS):
        chunk = rows[at : at + UPSERT_ROWS]
        values = "VALUES " + ",".join(["(?,?,?,?,?,?,?,?,?,?,?,?)"] * len(chunk))
        store.execute(conn, _UPSERT.format(rows=values), [v for row in chunk for v in row])


def invalidate(conn: Connection, pk: int) -> None:
    """The entity's history was rewritten in place: its cached aggregates are void."""
    store.execute(
        conn,
        "INSERT INTO hub_aggregate_epoch (entity_pk, epoch) VALUES (?, 1) ON CONFLICT (entity_pk) "
        "DO UPDATE SET epoch = hub_aggregate_epoch.epoch + 1",
        [pk],
    )
    store.execute(conn, "DELETE FROM hub_aggregate_cache WHERE entity_pk = ?", [pk])


def forget_before(conn: Connection, cutoff: int) -> int:
    """Drop the cached periods that start before ``cutoff`` (retention deleted their history)."""
    return max(
        0, int(store.execute(conn, "DELETE FROM hub_aggregate_cache WHERE start < ?", [cutoff]).rowcount)
    )


def evict(conn: Connection, now: int | None = None) -> int:
    """Drop cache rows unused for ``UNUSED_DAYS`` days or of entities gone; the epochs of entities
    gone too. Returns the cache rows dropped."""
    moment = now if now is not None else now_us()
    dropped = store.execute(
        conn,
        "DELETE FROM hub_aggregate_cache WHERE used_at < ? OR NOT EXISTS "
        "(SELECT 1 FROM hub_entity e WHERE e.pk = hub_aggregate_cache.entity_pk)",
        [moment - UNUSED_DAYS * DAY_US],
    ).rowcount
    store.execute(
        conn,
        "DELETE FROM hub_aggregate_epoch WHERE NOT EXISTS "
        "(SELECT 1 FROM hub_entity e WHERE e.pk = hub_aggregate_epoch.entity_pk)",
    )
    return max(0, int(dropped))
