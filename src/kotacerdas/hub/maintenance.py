"""Upkeep of the hub's history: monthly partitions (PostgreSQL), retention and downsampling.

The background worker calls ``run_maintenance`` once a day; each step is its own transaction.

- Partitions: ``hub_history`` is ``PARTITION BY RANGE (ts)`` with a DEFAULT partition. Each month gets
  ``hub_history_YYYYMM`` (UTC month, bounds in µs) ahead of time. If the DEFAULT partition already holds
  rows of a month being created (ingest ran ahead of maintenance), they are moved into the new
  partition in the same transaction, with the DEFAULT partition locked so nothing slips in meanwhile.
- Retention: history older than ``hub_history_retention_days`` goes; on PostgreSQL whole monthly
  partitions are dropped first (no row-by-row delete), the remainder is deleted.
- Downsampling: numeric history older than ``hub_downsample_after_days`` is replaced, per entity,
  attribute, datasetId and period (``hub_downsample_period``, aligned to the epoch), by one instance
  holding the average, in a row at the period's start. Non-numeric and deleted instances stay in their
  rows; an attribute with a single reading in a period is left alone, so a second run changes nothing.
  Only periods with more than one history row are read (a cheap index-only query finds them).
- Aggregate cache (``kotacerdas.hub.aggregate_cache``): downsampling voids the cached aggregates of the
  entities it rewrote, retention drops the cached periods it deleted the history of, and rows no query
  used for ``aggregate_cache.UNUSED_DAYS`` days (or of entities gone) are evicted.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.config import Settings
from kotacerdas.db import unit_of_work
from kotacerdas.hub import aggregate_cache, store
from kotacerdas.hub.entity import format_us
from kotacerdas.hub.temporal import parse_duration
from kotacerdas.kit.time import utcnow

log = logging.getLogger(__name__)

PARTITION = re.compile(r"hub_history_(\d{4})(\d{2})")
DEFAULT_PARTITION = "hub_history_default"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class MaintenanceReport:
    partitions_created: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    rows_deleted: int = 0  # by retention, besides the dropped partitions
    rows_downsampled: int = 0  # raw instances replaced by averages
    rows_averaged: int = 0  # average instances written
    cache_rows_evicted: int = 0  # aggregate cache rows unused or of entities gone


def _us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _month(year: int, month: int) -> datetime:
    """The first instant of a month; ``month`` may run past 12."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def _now(now: datetime | None) -> datetime:
    moment = now or utcnow()
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------ partitions


def partitions(conn: Connection) -> dict[str, tuple[int, int]]:
    """The monthly partitions of ``hub_history``: name -> (lower, upper) bounds in µs."""
    if not store.is_postgres(conn):
        return {}
    rows = store.execute(
        conn,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass('hub_history')",
    ).all()
    found: dict[str, tuple[int, int]] = {}
    for (name,) in rows:
        match = PARTITION.fullmatch(name)
        if match:
            year, month = int(match.group(1)), int(match.group(2))
            found[name] = (_us(_month(year, month)), _us(_month(year, month + 1)))
    return found


def ensure_partitions(conn: Connection, months_ahead: int = 3, *, now: datetime | None = None) -> list[str]:
    """Create ``hub_history_YYYYMM`` for this month and the ``months_ahead`` next ones (PostgreSQL;
    a no-op on SQLite). Returns the names created."""
    if not store.is_postgres(conn):
        return []
    moment = _now(now)
    existing = partitions(conn)
    created = []
    for step in range(months_ahead + 1):
        start = _month(moment.year, moment.month + step)
        name = f"hub_history_{start:%Y%m}"
        if name in existing:
            continue
        _create_partition(conn, name, _us(start), _us(_month(start.year, start.month + 1)))
        created.append(name)
    return created


def _create_partition(conn: Connection, name: str, lower: int, upper: int) -> None:
    has_default = store.execute(conn, f"SELECT to_regclass('{DEFAULT_PARTITION}')").scalar() is not None
    moving = False
    if has_default:
        # rows of this month may already sit in the DEFAULT partition; PostgreSQL refuses to create the
        # partition then, so they move over. The lock keeps new ones from landing there meanwhile.
        store.execute(conn, f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE")
        found = store.execute(
            conn, f"SELECT 1 FROM {DEFAULT_PARTITION} WHERE ts >= ? AND ts < ? LIMIT 1", [lower, upper]
        ).first()
        moving = found is not None
    if moving:
        store.execute(
            conn,
            f"CREATE TEMP TABLE {name}_moving AS SELECT * FROM {DEFAULT_PARTITION} WHERE ts >= ? AND ts < ?",
            [lower, upper],
        )
        store.execute(conn, f"DELETE FROM {DEFAULT_PARTITION} WHERE ts >= ? AND ts < ?", [lower, upper])
    store.execute(
        conn, f"CREATE TABLE {name} PARTITION OF hub_history FOR VALUES FROM ({int(lower)}) TO ({int(upper)})"
    )
    if moving:
        moved = store.execute(conn, f"INSERT INTO hub_history SELECT * FROM {name}_moving").rowcount
        store.execute(conn, f"DROP TABLE {name}_moving")
        log.info("hub history: moved %s rows from the default partition into %s", moved, name)


# ------------------------------------------------------------------------------------ retention


def apply_retention(session: Session, settings: Settings, now: datetime | None = None) -> MaintenanceReport:
    """Delete history older than ``hub_history_retention_days`` (0: keep everything)."""
    report = MaintenanceReport()
    days = settings.hub_history_retention_days
    if days <= 0:
        return report
    cutoff = _us(_now(now) - timedelta(days=days))
    conn = store.connection(session)
    for name, (_lower, upper) in sorted(partitions(conn).items()):
        if upper <= cutoff:
            store.execute(conn, f"DROP TABLE {name}")
            report.partitions_dropped.append(name)
    report.rows_deleted = max(
        0, store.execute(conn, "DELETE FROM hub_history WHERE ts < ?", [cutoff]).rowcount
    )
    aggregate_cache.forget_before(conn, cutoff)
    return report


# ------------------------------------------------------------------------------------ downsampling


def downsample(session: Session, settings: Settings, now: datetime | None = None) -> MaintenanceReport:
    """Replace numeric history older than ``hub_downsample_after_days`` by one average instance per
    entity, attribute, datasetId and ``hub_downsample_period`` (0 days: never)."""
    report = MaintenanceReport()
    days = settings.hub_downsample_after_days
    if days <= 0:
        return report
    period = parse_duration(settings.hub_downsample_period)
    if period <= 0:
        log.warning("hub_downsample_period %r is empty; not downsampling", settings.hub_downsample_period)
        return report
    cutoff = _us(_now(now) - timedelta(days=days))
    cutoff -= cutoff % period  # a period is downsampled whole or not at all
    conn = store.connection(session)
    for (pk,) in store.execute(conn, "SELECT pk FROM hub_entity ORDER BY pk").all():
        # only periods with several rows can hold several readings of one attribute
        buckets = store.execute(
            conn,
            "SELECT b FROM (SELECT ts - (ts % CAST(? AS BIGINT)) AS b FROM hub_history "
            "WHERE entity_pk = ? AND ts < ?) x GROUP BY b HAVING COUNT(*) > 1 ORDER BY b",
            [period, pk, cutoff],
        ).all()
        rewritten = False
        for (bucket,) in buckets:
            removed, written = _downsample_period(conn, int(pk), int(bucket), period)
            report.rows_downsampled += removed
            report.rows_averaged += written
            rewritten = rewritten or removed > 0
        if rewritten:  # rows kept their id and time but lost readings: the stamps cannot tell
            aggregate_cache.invalidate(conn, int(pk))
    return report


Reading = tuple[int, int, int, float, dict[str, Any]]  # (ts, iid, index, number, instance)


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _downsample_period(conn: Connection, pk: int, bucket: int, period: int) -> tuple[int, int]:
    """Average the numeric readings of one entity in one period: (instances replaced, rows written)."""
    rows = store.execute(
        conn,
        "SELECT ts, iid, region_id, observed, modified_at, attrs FROM hub_history "
        "WHERE entity_pk = ? AND ts >= ? AND ts < ?",
        [pk, bucket, bucket + period],
    ).all()
    readings: dict[tuple[str, str | None, bool], list[Reading]] = {}
    stored: dict[tuple[int, int], dict[str, Any]] = {}
    region_id = 0
    modified_at: dict[bool, int] = {}
    for ts, iid, region, observed, modified, attrs in rows:
        region_id = int(region)
        row = stored[(int(ts), int(iid))] = attrs if isinstance(attrs, dict) else orjson.loads(attrs)
        for iri, value in row.items():
            for index, inst in enumerate(value if isinstance(value, list) else [value]):
                if isinstance(inst, dict) and _is_number(inst.get("value")) and "deletedAt" not in inst:
                    key = (iri, inst.get("datasetId"), bool(observed))
                    readings.setdefault(key, []).append(
                        (int(ts), int(iid), index, float(inst["value"]), inst)
                    )
                    modified_at[bool(observed)] = max(modified_at.get(bool(observed), 0), int(modified))
    averaged = {key: found for key, found in readings.items() if len(found) > 1}
    if not averaged:
        return 0, 0
    # take the averaged readings out of their rows (a row left empty is deleted)
    gone: dict[tuple[int, int], dict[str, set[int]]] = {}
    for (iri, _ds, _observed), found in averaged.items():
        for ts, iid, index, _number, _inst in found:
            gone.setdefault((ts, iid), {}).setdefault(iri, set()).add(index)
    mark = "CAST(? AS jsonb)" if store.is_postgres(conn) else "?"
    for (ts, iid), by_attr in gone.items():
        row = stored[(ts, iid)]
        for iri, indexes in by_attr.items():
            value = row[iri]
            kept = [
                i for n, i in enumerate(value if isinstance(value, list) else [value]) if n not in indexes
            ]
            if kept:
                row[iri] = kept[0] if len(kept) == 1 else kept
            else:
                del row[iri]
        if row:
            store.execute(
                conn,
                f"UPDATE hub_history SET attrs = {mark} WHERE entity_pk = ? AND ts = ? AND iid = ?",
                [orjson.dumps(row).decode(), pk, ts, iid],
            )
        else:
            store.execute(
                conn, "DELETE FROM hub_history WHERE entity_pk = ? AND ts = ? AND iid = ?", [pk, ts, iid]
            )
    # one row per kind of time (observed or not) holds the averages, at the period's start
    new_rows: dict[bool, dict[str, Any]] = {}
    for (iri, dataset_id, observed), found in averaged.items():
        instance = _average(found, dataset_id, observed, bucket, modified_at[observed])
        attrs = new_rows.setdefault(observed, {})
        current = attrs.get(iri)
        attrs[iri] = (
            instance
            if current is None
            else [*(current if isinstance(current, list) else [current]), instance]
        )
    store.executemany(
        conn,
        "INSERT INTO hub_history (entity_pk, ts, iid, region_id, observed, modified_at, attrs) "
        f"VALUES (?,?,?,?,?,?,{mark})",
        [
            (
                pk,
                bucket,
                secrets.randbits(62),
                region_id,
                observed,
                modified_at[observed] if observed else bucket,
                orjson.dumps(attrs).decode(),
            )
            for observed, attrs in new_rows.items()
        ],
    )
    return sum(len(found) for found in averaged.values()), len(new_rows)


def _average(
    found: list[Reading], dataset_id: str | None, observed: bool, bucket: int, modified: int
) -> dict[str, Any]:
    """The instance that stands for a period: the average, at the period's start, with the kind, unit
    and createdAt of the first reading (sub-attributes of single readings are not kept)."""
    template = min(found, key=lambda r: (r[0], r[1], r[2]))[4]
    instance: dict[str, Any] = {
        "type": template.get("type", "Property"),
        "value": sum(r[3] for r in found) / len(found),
    }
    if observed:
        instance["observedAt"] = format_us(bucket)
    if "unitCode" in template:
        instance["unitCode"] = template["unitCode"]
    if dataset_id is not None:
        instance["datasetId"] = dataset_id
    instance["createdAt"] = template.get("createdAt") or format_us(bucket)
    instance["modifiedAt"] = format_us(modified if observed else bucket)
    return instance


# ------------------------------------------------------------------------------------ entry point


def run_maintenance(
    session_factory: sessionmaker[Session], settings: Settings, now: datetime | None = None
) -> MaintenanceReport:
    """The daily job: partitions ahead, then retention, then downsampling, each committed on its own."""
    report = MaintenanceReport()
    with unit_of_work(session_factory, write=True) as session:
        report.partitions_created = ensure_partitions(store.connection(session), now=now)
    with unit_of_work(session_factory, write=True) as session:
        kept = apply_retention(session, settings, now)
        report.partitions_dropped, report.rows_deleted = kept.partitions_dropped, kept.rows_deleted
    with unit_of_work(session_factory, write=True) as session:
        thinned = downsample(session, settings, now)
        report.rows_downsampled, report.rows_averaged = thinned.rows_downsampled, thinned.rows_averaged
    with unit_of_work(session_factory, write=True) as session:
        report.cache_rows_evicted = aggregate_cache.evict(store.connection(session), _us(_now(now)))
    log.info(
        "hub maintenance: partitions created %s, dropped %s; %s rows past retention deleted; "
        "%s rows downsampled into %s averages; %s aggregate cache rows evicted",
        report.partitions_created,
        report.partitions_dropped,
        report.rows_deleted,
        report.rows_downsampled,
        report.rows_averaged,
        report.cache_rows_evicted,
    )
    return report
