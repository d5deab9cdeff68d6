"""History rows in ``hub_history``: recording the instances of writes, dropping those a redelivered
message already recorded, reading them back, and the SQL for an attribute's numeric value.

ONE ROW PER ENTITY AND INSTANT, not per attribute. A write's instances are grouped by time
(observedAt when present, else the write's modifiedAt) and stored as ``attrs`` = {attribute IRI:
instance or [instances]}. Read them with ``read_history`` (it explodes rows into ``HistoryInstance``
objects) and aggregate numbers in SQL with ``numeric_path_sql``. Per-attribute rows were measured at
~10 µs of SQLite index work each, too slow for 20,000 entity updates/s.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import is_, itemgetter
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection

from kotacerdas.hub.entity import parse_datetime
from kotacerdas.hub.store_sql import _loads, execute, executemany, is_postgres

if TYPE_CHECKING:  # store_write imports this module at run time
    from kotacerdas.hub.store_write import Write


_HISTORY = "INSERT INTO hub_history (entity_pk, ts, iid, region_id, observed, modified_at, attrs) VALUES (?,?,?,?,?,?,{attrs})"
SYSTEM_KEYS = ("createdAt", "modifiedAt")


def history_rows(region_id: int, writes: Sequence[Write]) -> list[tuple[Any, ...]]:
    """One row per entity and instant: the instances of a write grouped by their time."""
    return _history_rows(region_id, writes, None)


def _history_rows(
    region_id: int, writes: Sequence[Write], bodies: Sequence[str | None] | None
) -> list[tuple[Any, ...]]:
    """``history_rows``; ``bodies[i]``, when given, is the serialised attributes of ``writes[i]``, each
    one instance (``write_entities`` has them): a write whose instances are exactly those attributes,
    observed at one time (or none) and stamped at one time (the usual device update) is one row whose
    attrs are that body."""
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    getrandbits = random.getrandbits
    dumps = orjson.dumps
    keys: dict[Any, tuple[int, bool]] = {}  # observedAt text -> (ts, True); (modifiedAt,) -> (ts, False)
    modified_us: dict[Any, int] = {}
    observed_us: dict[Any, int] = {}
    for n, w in enumerate(writes):
        history = w.history
        attrs = w.entity.attrs
        body = bodies[n] if bodies is not None else None
        mirrors = body is not None and _mirrors(history, attrs)
        # one instance per attribute (the usual write: then one time, one row)
        if mirrors or len(set(map(_first, history))) == len(history):
            values: Any = attrs.values() if mirrors else list(map(_second, history))
            observed_at = set(map(dict.get, values, repeat("observedAt")))
            modified_at = set(map(dict.get, values, repeat("modifiedAt")))
            if len(observed_at) == 1 and len(modified_at) == 1:
                if not mirrors:  # a merge: the instances written, not the whole entity
                    body = dumps(dict(zip(map(_first, history), values, strict=True))).decode()
                first_observed, first_modified = observed_at.pop(), modified_at.pop()
                us = modified_us.get(first_modified)
                if us is None:
                    us = modified_us[first_modified] = parse_datetime(first_modified) if first_modified else 0
                if first_observed:
                    ts = observed_us.get(first_observed)
                    if ts is None:
                        ts = observed_us[first_observed] = parse_datetime(first_observed)
                    append((w.pk, ts, getrandbits(62), region_id, True, us, body))
                else:
                    append((w.pk, us, getrandbits(62), region_id, False, us, body))
                continue
        groups: dict[tuple[int, bool], dict[str, Any]] = {}
        modified_of: dict[tuple[int, bool], int] = {}
        for iri, inst, _deleted in history:
            observed = inst.get("observedAt")
            modified = inst.get("modifiedAt")
            key = keys.get(observed) if observed else keys.get((modified,))
            if key is None:
                if observed:
                    key = keys[observed] = (parse_datetime(observed), True)
                else:
                    key = keys[(modified,)] = (parse_datetime(modified) if modified else 0, False)
            group = groups.get(key)
            if group is None:
                group = groups[key] = {}
                us = modified_us.get(modified)
                if us is None:
                    us = modified_us[modified] = parse_datetime(modified) if modified else 0
                modified_of[key] = us
            current = group.get(iri)
            if current is None:
                group[iri] = inst
            elif isinstance(current, list):
                current.append(inst)
            else:
                group[iri] = [current, inst]
        for key, group in groups.items():
            append(
                (w.pk, key[0], getrandbits(62), region_id, key[1], modified_of[key], dumps(group).decode())
            )
    return rows


def _mirrors(history: list[tuple[str, dict[str, Any], bool]], attrs: dict[str, Any]) -> bool:
    """The history holds the attributes themselves, in their order (checked in C)."""
    return (
        len(history) == len(attrs)
        and all(map(is_, map(_second, history), attrs.values()))
        and list(map(_first, history)) == list(attrs)
    )


_first = itemgetter(0)
_second = itemgetter(1)


def record_history(
    conn: Connection, region_id: int, writes: Sequence[Write], *, dedupe: bool = False
) -> None:
    _store_history(conn, history_rows(region_id, writes), dedupe=dedupe)


def _store_history(conn: Connection, rows: list[tuple[Any, ...]], *, dedupe: bool) -> None:
    if dedupe:
        rows = [r for r in (_without_recorded(conn, r) for r in rows) if r is not None]
    if not rows:
        return
    if is_postgres(conn) and len(rows) > 50:
        raw: Any = conn.connection.dbapi_connection
        with raw.cursor() as cur:
            copy_sql = (
                "COPY hub_history (entity_pk, ts, iid, region_id, observed, modified_at, attrs) FROM STDIN"
            )
            with cur.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
        return
    executemany(conn, _HISTORY.format(attrs="CAST(? AS jsonb)" if is_postgres(conn) else "?"), rows)


def _plain(instance: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in instance.items() if k not in SYSTEM_KEYS}


def _without_recorded(conn: Connection, row: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """Drop instances a redelivered message already recorded (same entity, time and value)."""
    entity_pk, ts, _iid, _region, observed, _modified, attrs_json = row
    found = execute(
        conn,
        "SELECT attrs FROM hub_history WHERE entity_pk = ? AND ts = ? AND observed = ?",
        [entity_pk, ts, observed],
    ).all()
    if not found:
        return row
    recorded: dict[str, list[dict[str, Any]]] = {}
    for (stored,) in found:
        for iri, value in _loads(stored).items():
            recorded.setdefault(iri, []).extend(
                _plain(i) for i in (value if isinstance(value, list) else [value])
            )
    fresh: dict[str, Any] = {}
    for iri, value in orjson.loads(attrs_json).items():
        kept = [
            i
            for i in (value if isinstance(value, list) else [value])
            if _plain(i) not in recorded.get(iri, [])
        ]
        if kept:
            fresh[iri] = kept[0] if len(kept) == 1 else kept
    if not fresh:
        return None
    return (*row[:6], orjson.dumps(fresh).decode())


@dataclass(slots=True)
class HistoryInstance:
    """One attribute instance read back from the history."""

    iri: str
    instance: dict[str, Any]
    ts: int  # observedAt if ``observed`` else modifiedAt, µs
    observed: bool
    modified_at: int
    iid: int  # the row's id; shared by the instances one write recorded at one instant


def read_history(
    conn: Connection,
    entity_pk: int,
    *,
    attrs: frozenset[str] | None = None,
    start: int | None = None,
    end: int | None = None,
    observed_only: bool = False,
    newest_first: bool = False,
    row_limit: int | None = None,
) -> list[HistoryInstance]:
    """Instances of an entity in [start, end) of ``ts``, in time order (one row may hold several)."""
    where = ["entity_pk = ?"]
    params: list[Any] = [entity_pk]
    if start is not None:
        where.append("ts >= ?")
        params.append(start)
    if end is not None:
        where.append("ts < ?")
        params.append(end)
    if observed_only:
        where.append("observed = ?")
        params.append(True)
    order = "DESC" if newest_first else "ASC"
    sql = f"SELECT ts, iid, observed, modified_at, attrs FROM hub_history WHERE {' AND '.join(where)} ORDER BY ts {order}, iid {order}"
    if row_limit is not None:
        sql += " LIMIT ?"
        params.append(row_limit)
    out: list[HistoryInstance] = []
    for ts, iid, observed, modified, stored in execute(conn, sql, params):
        for iri, value in _loads(stored).items():
            if attrs is not None and iri not in attrs:
                continue
            for inst in value if isinstance(value, list) else [value]:
                out.append(HistoryInstance(iri, inst, ts, bool(observed), modified, iid))
    return out


def numeric_path_sql(conn: Connection, iri: str) -> tuple[str, list[Any]]:
    """A SQL expression for the numeric value of attribute ``iri`` in a history row (NULL otherwise)."""
    if is_postgres(conn):
        return (
            "CASE WHEN jsonb_typeof(attrs -> ? -> 'value') = 'number' THEN (attrs -> ? ->> 'value')::float8 END",
            [iri, iri],
        )
    path = '$."' + iri.replace('"', '\\"') + '".value'
    return (
        "CASE WHEN json_type(attrs, ?) IN ('integer', 'real') THEN json_extract(attrs, ?) END",
        [path, path],
    )
