"""The temporal evolution of entities (GS CIM 009, 5.6.11-5.6.16, 5.7.3, 5.7.4) over ``hub_history``.

Words: an *instance* is one value of one attribute in history; its *time* is the temporal property
the query names (``observedAt`` by default, else ``modifiedAt``, ``createdAt``, ``deletedAt``); the
*window* is what ``timerel``/``timeAt``/``endTimeAt`` select (before: exclusive, after: inclusive,
between: inclusive lower, exclusive upper). Instances without the temporal property never match a
window; with no window every instance matches.

History rows hold the instances of one write at one instant (``kotacerdas.hub.store``), so reading
walks an entity's rows in time order and explodes them, stopping as soon as the page is known.
An instance's id is its row's id plus, for the 2nd, 3rd ... instance of the attribute in that row
(several datasetIds), ``-1``, ``-2`` ...

Choices:
- Writes here record every instance and keep ``hub_entity`` pointing at the newest instance of each
  attribute (and datasetId), so the core API answers with the latest value.
- Editing or deleting single instances (5.6.14/5.6.15) and deleting an attribute's temporal
  representation (5.6.13) rewrite history only; the entity's current state is left as it is.
- Paging: at most ``limit`` instances per attribute. When an attribute is cut, every attribute of the
  response is cut at the same time, so the page is one time range (what Stellio does, and what the
  ETSI suite's Content-Range checks expect).
- Aggregation runs in SQL: ``GROUP BY (time - start) / period`` (integer division) over the JSON
  values; ``totalCount``/``distinctCount`` count any value, the others numbers only. ``stddev`` is the
  *population* standard deviation, sqrt(sumsq/n - avg²): a period's instances are all its values, not
  a sample of them, and one value has a deviation of 0 (PostgreSQL's ``stddev`` would say NULL).
  Periods are fixed durations; years and months are refused (OperationNotSupported).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.hub import access, service, store
from kotacerdas.hub.aggregate_cache import AggregateCache, invalidate
from kotacerdas.hub.context import ActiveContext
from kotacerdas.hub.entity import (
    ENTITY_MEMBERS,
    VALUE_MEMBER,
    Entity,
    Parser,
    check_entity_id,
    find_instance,
    format_us,
    now_us,
    parse_datetime,
    put_instance,
    stamp,
)
from kotacerdas.hub.problems import BadRequestData, OperationNotSupported, ResourceNotFound

TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "modifiedAt", "createdAt", "deletedAt")
AGGR_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
INSTANCE_PREFIX = "urn:ngsi-ld:attribute:instance:"
NONE_DATASET = "@none"
MAX_LAST_N = 100_000
SCAN_PAGE = 500
FIRST_PAGE = 8  # rows read first by callers that want only the first instances

# ------------------------------------------------------------------------------------ queries


@dataclass(frozen=True)
class TimeQuery:
    """The temporal part of a query (4.11). Times are µs since the epoch."""

    timerel: str | None = None
    time_at: int | None = None
    end_time_at: int | None = None
    timeproperty: str = "observedAt"
    last_n: int | None = None

    @property
    def lower(self) -> int | None:
        """The inclusive lower bound of the window, if it has one."""
        return self.time_at if self.timerel in ("after", "between") else None

    @property
    def upper(self) -> int | None:
        """The exclusive upper bound of the window, if it has one."""
        if self.timerel == "before":
            return self.time_at
        return self.end_time_at if self.timerel == "between" else None

    def contains(self, moment: int) -> bool:
        lower, upper = self.lower, self.upper
        return (lower is None or moment >= lower) and (upper is None or moment < upper)


def time_query(
    *,
    timerel: str | None = None,
    time_at: str | None = None,
    end_time_at: str | None = None,
    timeproperty: str | None = None,
    last_n: str | int | None = None,
) -> TimeQuery:
    """Check and convert the temporal query parameters; BadRequestData when they are wrong."""
    prop = timeproperty or "observedAt"
    if prop not in TIME_PROPERTIES:
        raise BadRequestData(f"timeproperty must be one of {', '.join(TIME_PROPERTIES)}, got {prop!r}.")
    n: int | None = None
    if last_n is not None and last_n != "":
        try:
            n = int(last_n)
        except (TypeError, ValueError):
            raise BadRequestData(f"lastN must be a positive integer, got {last_n!r}.") from None
        if n < 1 or n > MAX_LAST_N:
            raise BadRequestData(f"lastN must be between 1 and {MAX_LAST_N}.")
    if not timerel:
        if time_at or end_time_at:
            raise BadRequestData("timeAt and endTimeAt need timerel (before, after or between).")
        return TimeQuery(timeproperty=prop, last_n=n)
    if timerel not in TIMERELS:
        raise BadRequestData(f"timerel must be before, after or between, got {timerel!r}.")
    if not time_at:
        raise BadRequestData("timerel needs timeAt.")
    start = parse_datetime(time_at, what="timeAt")
    end: int | None = None
    if timerel == "between":
        if not end_time_at:
            raise BadRequestData("timerel=between needs endTimeAt.")
        end = parse_datetime(end_time_at, what="endTimeAt")
        if end <= start:
            raise BadRequestData("endTimeAt must be later than timeAt.")
    elif end_time_at:
        raise BadRequestData("endTimeAt is only allowed with timerel=between.")
    return TimeQuery(timerel=timerel, time_at=start, end_time_at=end, timeproperty=prop, last_n=n)


@dataclass(frozen=True)
class Aggregation:
    methods: tuple[str, ...]
    period_us: int  # 0: one period spanning the whole time range


_DURATION = re.compile(
    r"P(?:(?P<Y>\d+)Y)?(?:(?P<MO>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
    r"(?:T(?:(?P<H>\d+)H)?(?:(?P<MI>\d+)M)?(?:(?P<S>\d+(?:[.,]\d{1,6})?)S)?)?"
)
_UNIT_US = {"W": 7 * 86_400_000_000, "D": 86_400_000_000, "H": 3_600_000_000, "MI": 60_000_000}


def parse_duration(text: Any) -> int:
    """An ISO 8601 duration (PT1H, P1D, PT15M, P1W, PT0S) in µs. Years and months have no fixed length
    and are refused (OperationNotSupported); anything malformed is BadRequestData."""
    if not isinstance(text, str) or len(text) > 64:
        raise BadRequestData(f"A duration must be an ISO 8601 string such as PT1H, got {text!r}.")
    clean = text.strip()
    match = _DURATION.fullmatch(clean)
    if match is None or clean in ("P", "PT") or clean.endswith("T"):
        raise BadRequestData(f"{text!r} is not an ISO 8601 duration (P[n]W or P[n]DT[n]H[n]M[n]S).")
    parts = match.groupdict()
    if int(parts["Y"] or 0) or int(parts["MO"] or 0):
        raise OperationNotSupported(
            "Durations in years or months have no fixed length; use days or weeks (P30D, P1W)."
        )
    total = sum(int(parts[unit] or 0) * size for unit, size in _UNIT_US.items())
    seconds = parts["S"]
    if seconds:
        whole, _sep, frac = seconds.replace(",", ".").partition(".")
        total += int(whole) * 1_000_000 + int((frac + "000000")[:6])
    return total


def aggregation(methods: str | Sequence[str] | None, period: str | None) -> Aggregation:
    if methods is None or methods == "" or (not isinstance(methods, str) and not methods):
        raise BadRequestData("aggregatedValues needs aggrMethods (totalCount, sum, avg, min, max ...).")
    names = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else list(methods)
    chosen: list[str] = []
    for name in names:
        if not isinstance(name, str) or name not in AGGR_METHODS:
            raise BadRequestData(f"Unknown aggregation method {name!r}; use {', '.join(AGGR_METHODS)}.")
        if name not in chosen:
            chosen.append(name)
    period_us = parse_duration(period) if period else 0
    return Aggregation(methods=tuple(chosen), period_us=period_us)


def instance_uri(iid: int, index: int = 0) -> str:
    return f"{INSTANCE_PREFIX}{iid:x}" + (f"-{index}" if index else "")


def instance_key(uri: str) -> tuple[int, int]:
    """(row id, index) of an instanceId; ResourceNotFound for ids this hub never made."""
    if not isinstance(uri, str) or ":" not in uri or any(c.isspace() for c in uri):
        raise BadRequestData(f"An instanceId must be a URI, got {uri!r}.")
    rest = uri[len(INSTANCE_PREFIX) :] if uri.startswith(INSTANCE_PREFIX) else ""
    row, _sep, index = rest.partition("-")
    if (
        not row
        or len(row) > 16
        or any(c not in "0123456789abcdef" for c in row)
        or (index and (not index.isdigit() or len(index) > 4))
    ):
        raise ResourceNotFound(f"There is no attribute instance {uri}.")
    return int(row, 16), int(index or 0)


# ------------------------------------------------------------------------------------ results


@dataclass
class Instance:
    """One attribute instance read from history, with its time under the query's temporal property."""

    iri: str
    time: int
    ts: int
    iid: int
    index: int
    value: dict[str, Any]

    @property
    def instance_id(self) -> str:
        return instance_uri(self.iid, self.index)

    @property
    def dataset_id(self) -> str | None:
        ds = self.value.get("datasetId")
        return ds if isinstance(ds, str) else None

    @property
    def deleted(self) -> bool:
        return "deletedAt" in self.value


@dataclass
class Series:
    """The aggregated values of one attribute (one datasetId): method -> [[value, start, end], ...]."""

    kind: str
    dataset_id: str | None
    values: dict[str, list[list[Any]]] = field(default_factory=dict)


@dataclass
class TemporalEntity:
    entity: Entity
    pk: int
    instances: dict[str, list[Instance]] = field(default_factory=dict)  # IRI -> oldest first
    aggregated: dict[str, list[Series]] = field(default_factory=dict)
    cut: set[str] = field(default_factory=set)  # attributes the instance limit cut


@dataclass(frozen=True)
class Selection:
    """Which attributes and datasets to read: ``attrs`` None means all of them."""

    attrs: frozenset[str] | None = None
    omit: frozenset[str] = frozenset()
    datasets: frozenset[str] | None = None

    def wants(self, inst: dict[str, Any], iri: str) -> bool:
        if iri in self.omit or (self.attrs is not None and iri not in self.attrs):
            return False
        if self.datasets is None:
            return True
        ds = inst.get("datasetId")
        return (ds if isinstance(ds, str) else NONE_DATASET) in self.datasets


# ------------------------------------------------------------------------------------ SQL bits


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _path(iri: str) -> str:
    return '$."' + iri.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _has_attr(pg: bool, iri: str, params: list[Any]) -> str:
    if pg:
        params.append(iri)
        return "(attrs -> ?) IS NOT NULL"
    params.append(_path(iri))
    return "json_type(attrs, ?) IS NOT NULL"


Span = tuple[int | None, int | None]  # [lower, upper) of the rows' ts; None: no bound
ALL: Span = (None, None)


def _row_filter(query: TimeQuery, params: list[Any], span: Span = ALL) -> list[str]:
    """Conditions on the row columns that every matching instance's row meets (and, with ``span``,
    on its ``ts``: one range, so the index is walked from the tighter bound)."""
    conds: list[str] = []
    prop = query.timeproperty
    if prop == "observedAt" and query.timerel:
        conds.append("observed")
    if prop == "deletedAt":
        conds.append("NOT observed")  # a deletion has no observedAt: its row's ts is its deletedAt
    bounds: dict[str, list[int | None]] = {}
    if prop != "createdAt" and query.timerel:
        bounds["modified_at" if prop == "modifiedAt" else "ts"] = [query.lower, query.upper]
    ts = bounds.setdefault("ts", [None, None])
    if span[0] is not None:
        ts[0] = span[0] if ts[0] is None else max(ts[0], span[0])
    if span[1] is not None:
        ts[1] = span[1] if ts[1] is None else min(ts[1], span[1])
    for col, (lower, upper) in bounds.items():
        if lower is not None:
            conds.append(f"{col} >= ?")
            params.append(lower)
        if upper is not None:
            conds.append(f"{col} < ?")
            params.append(upper)
    return conds


def _instance_time(prop: str, inst: dict[str, Any], ts: int, modified: int) -> int | None:
    if prop == "observedAt":
        return ts
    if prop == "modifiedAt":
        return modified
    text = inst.get(prop)
    if not isinstance(text, str):
        return None
    try:
        return parse_datetime(text)
    except BadRequestData:
        return None


def scan(
    conn: Connection,
    pk: int,
    query: TimeQuery,
    selection: Selection,
    *,
    newest_first: bool = False,
    first_page: int = SCAN_PAGE,
) -> Iterator[Instance]:
    """The entity's instances in the window, in row time order (``ts``, or ``modified_at`` when the
    temporal property is modifiedAt), read a page of rows at a time: ``first_page`` rows first (a
    caller that wants only the first instances asks for few), four times more each time after, up to
    ``SCAN_PAGE``."""
    pg = store.is_postgres(conn)
    prop = query.timeproperty
    params: list[Any] = [pk]
    conds = ["entity_pk = ?", *_row_filter(query, params)]
    if selection.attrs is not None:
        wanted = sorted(selection.attrs - selection.omit)
        if not wanted:
            return
        conds.append("(" + " OR ".join(_has_attr(pg, iri, params) for iri in wanted) + ")")
    keys = ["modified_at", "ts", "iid"] if prop == "modifiedAt" else ["ts", "iid"]
    order = ", ".join(f"{k} {'DESC' if newest_first else 'ASC'}" for k in keys)
    after: list[Any] | None = None
    page = first_page
    while True:
        page_conds, page_params = list(conds), list(params)
        if after is not None:
            page_conds.append(
                f"({', '.join(keys)}) {'<' if newest_first else '>'} ({', '.join('?' * len(keys))})"
            )
            page_params.extend(after)
        rows = store.execute(
            conn,
            f"SELECT ts, iid, modified_at, attrs FROM hub_history WHERE {' AND '.join(page_conds)} "
            f"ORDER BY {order} LIMIT ?",
            [*page_params, page],
        ).all()
        for ts, iid, modified, stored in rows:
            for iri, value in _json(stored).items():
                items = value if isinstance(value, list) else [value]
                for index, inst in enumerate(items):
                    if not isinstance(inst, dict) or not selection.wants(inst, iri):
                        continue
                    moment = _instance_time(prop, inst, int(ts), int(modified))
                    if moment is None or (query.timerel and not query.contains(moment)):
                        continue
                    yield Instance(iri, moment, int(ts), int(iid), index, inst)
        if len(rows) < page:
            return
        page = min(page * 4, SCAN_PAGE)
        last = rows[-1]
        after = [last[2], last[0], last[1]] if prop == "modifiedAt" else [last[0], last[1]]


def has_instances(conn: Connection, pk: int, query: TimeQuery, selection: Selection) -> bool:
    return next(scan(conn, pk, query, selection, first_page=FIRST_PAGE), None) is not None


def read_instances(
    conn: Connection, te: TemporalEntity, query: TimeQuery, selection: Selection, *, limit: int
) -> None:
    """Fill ``te.instances`` (oldest first) and ``te.cut``: at most ``limit`` instances per attribute,
    the newest ones when ``lastN`` is given, else the oldest of the window."""
    backward = query.last_n is not None
    cap = min(query.last_n, limit + 1) if query.last_n is not None else limit + 1
    ordered = query.timeproperty != "createdAt"  # rows come in the order of the instances' times
    found: dict[str, list[Instance]] = {}
    bound: int | None = None  # once an attribute is cut, nothing beyond its last instance is on the page
    for inst in scan(conn, te.pk, query, selection, newest_first=backward):
        if not ordered:
            found.setdefault(inst.iri, []).append(inst)
            continue
        if bound is not None and (inst.time < bound if backward else inst.time > bound):
            break
        items = found.setdefault(inst.iri, [])
        if len(items) >= cap:
            continue
        items.append(inst)
        if len(items) > limit and bound is None:
            bound = items[limit - 1].time
        asked = selection.attrs - selection.omit if selection.attrs is not None else None
        if (
            backward
            and cap <= limit
            and asked is not None
            and all(len(found.get(i, [])) >= cap for i in asked)
        ):
            break  # every asked attribute has its lastN
    for iri, items in found.items():
        if not ordered:
            items.sort(key=lambda i: (i.time, i.ts, i.iid, i.index), reverse=backward)
            items = items[:cap]
        if len(items) > limit:
            items = items[:limit]
            te.cut.add(iri)
        if backward:
            items.reverse()
        te.instances[iri] = items


def page_range(entities: Sequence[TemporalEntity], query: TimeQuery) -> tuple[int, int] | None:
    """When the limit cut an attribute, cut every attribute at the same time and return the range of
    the page (Content-Range): oldest to newest, or newest to oldest with ``lastN``."""
    cut = [(te, iri) for te in entities for iri in te.cut if te.instances.get(iri)]
    if not cut:
        return None
    backward = query.last_n is not None
    if backward:
        bound = max(te.instances[iri][0].time for te, iri in cut)
    else:
        bound = min(te.instances[iri][-1].time for te, iri in cut)
    for te in entities:
        for iri in list(te.instances):
            kept = [i for i in te.instances[iri] if (i.time >= bound if backward else i.time <= bound)]
            if kept:
                te.instances[iri] = kept
            else:
                del te.instances[iri]
    times = [i.time for te in entities for items in te.instances.values() for i in items]
    if backward:
        start = query.upper if query.upper is not None else max(times, default=bound)
    else:
        start = query.lower if query.lower is not None else min(times, default=bound)
    return start, bound


# ------------------------------------------------------------------------------------ aggregation


def history_attributes(conn: Connection, pk: int, query: TimeQuery) -> list[str]:
    """The attributes with history rows in the window (one pass over the entity's rows)."""
    params: list[Any] = [pk]
    conds = ["entity_pk = ?", *_row_filter(query, params)]
    if store.is_postgres(conn):
        sql = f"SELECT DISTINCT jsonb_object_keys(attrs) FROM hub_history WHERE {' AND '.join(conds)}"
    else:
        sql = f"SELECT DISTINCT j.key FROM hub_history, json_each(hub_history.attrs) j WHERE {' AND '.join(conds)}"
    return sorted(str(r[0]) for r in store.execute(conn, sql, params).all())


class _Sql:
    """SQL text with its ``?`` parameters, kept in step."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, text: str, *params: Any) -> _Sql:
        self.parts.append(text)
        self.params.extend(params)
        return self

    @property
    def text(self) -> str:
        return "".join(self.parts)


NULL_TEXT = '"urn:ngsi-ld:null"'  # the value member of a deletion instance, as JSON text


def _created(pg: bool, text: str) -> str:
    """µs since the epoch of a canonical "YYYY-MM-DDTHH:MM:SS.mmmZ" SQL text expression."""
    if pg:
        return f"CAST(EXTRACT(EPOCH FROM CAST({text} AS timestamptz)) * 1000000 AS BIGINT)"
    return (
        f"(CAST(strftime('%s', {text}) AS INTEGER) * 1000000 + CAST(substr({text}, 21, 3) AS INTEGER) * 1000)"
    )


def _time_of(pg: bool, prop: str, created: str) -> str:
    return {"observedAt": "ts", "modifiedAt": "modified_at"}.get(prop) or _created(pg, created)


def _aggregate_sql(
    pg: bool,
    pk: int,
    iri: str,
    query: TimeQuery,
    agg: Aggregation,
    origin: int,
    datasets: frozenset[str] | None,
    span: Span = ALL,
) -> tuple[_Sql, bool]:
    """The aggregating query over one attribute and whether it is SQLite's fast path.

    Each level is kept from being merged into the next (``OFFSET 0`` / ``LIMIT -1``) so that the JSON
    of a row is read once, not once per aggregate. PostgreSQL unnests single instances and arrays of
    them (several datasetIds) alike with ``lax $[*]``. SQLite reads only the value of a single
    instance (one JSON parse per row); rows holding anything else are counted in ``odd``, and when
    there are any the caller runs the general query instead (``_aggregate_sqlite_general``).
    """
    distinct = "distinctCount" in agg.methods
    sql = _Sql().add("SELECT ds, ")
    if agg.period_us > 0:
        sql.add("(t - CAST(? AS BIGINT)) / CAST(? AS BIGINT)", origin, agg.period_us)
    else:
        sql.add("0")
    sql.add(" AS bk, COUNT(*), SUM(n), MIN(n), MAX(n), SUM(n * n), COUNT(n), MAX(t), ")
    row_params: list[Any] = []
    row_conds = " AND ".join(["entity_pk = ?", *_row_filter(query, row_params, span)])
    if pg:
        others = [m for m in dict.fromkeys(VALUE_MEMBER.values()) if m != "value"]
        value_text = "CAST(COALESCE(" + ", ".join(f"i -> '{m}'" for m in ["value", *others]) + ") AS TEXT)"
        sql.add("0")
        if distinct:
            sql.add(", COUNT(DISTINCT CASE WHEN n IS NOT NULL THEN CAST(n AS TEXT) ELSE v END)")
        time_expr = _time_of(pg, query.timeproperty, "(i ->> 'createdAt')")
        sql.add(f" FROM (SELECT {time_expr} AS t, ")
        sql.add("i ->> 'datasetId' AS ds, (i -> 'deletedAt') IS NULL AS live, ")
        sql.add("CASE WHEN jsonb_typeof(i -> 'value') = 'number' THEN CAST(i -> 'value' AS float8) END AS n")
        sql.add(f", {value_text} AS v" if distinct else "")
        sql.add(" FROM (SELECT ts, modified_at, jsonb_path_query(attrs -> ?, 'lax $[*]') AS i", iri)
        sql.add(f" FROM hub_history WHERE {row_conds} OFFSET 0) a OFFSET 0) b WHERE live", pk, *row_params)
        fast = False
    else:
        path = _path(iri)
        sql.add("SUM(odd)")
        if distinct:
            sql.add(", COUNT(DISTINCT CASE WHEN n IS NOT NULL THEN CAST(n AS TEXT) ELSE vt END)")
        created = _time_of(pg, query.timeproperty, "json_extract(attrs, ?)")
        sql.add(f" FROM (SELECT {created} AS t, vt, ", *[path + ".createdAt"] * created.count("?"))
        sql.add(
            "CASE WHEN vt IS NOT NULL AND instr(attrs, '\"datasetId\"') > 0 THEN attrs ->> ? END AS ds, ",
            path + ".datasetId",
        )
        sql.add("CASE WHEN vt GLOB '[-0-9]*' THEN CAST(vt AS REAL) END AS n, ")
        sql.add("CASE WHEN vt IS NULL THEN json_type(attrs, ?) IS NOT NULL ELSE 0 END AS odd", path)
        sql.add(" FROM (SELECT ts, modified_at, attrs, attrs -> ? AS vt", path + ".value")
        sql.add(f" FROM hub_history WHERE {row_conds} LIMIT -1) LIMIT -1)", pk, *row_params)
        sql.add(f" WHERE (odd OR vt <> '{NULL_TEXT}')")
        fast = True
    _aggregate_where(sql, query, origin, datasets, odd=fast)
    return sql, fast


def _aggregate_where(
    sql: _Sql, query: TimeQuery, origin: int, datasets: frozenset[str] | None, *, odd: bool = False
) -> None:
    sql.add(" AND t >= ?", origin)
    if query.upper is not None:
        sql.add(" AND t < ?", query.upper)
    if datasets is not None:
        named = sorted(d for d in datasets if d != NONE_DATASET)
        alternatives = ["odd"] if odd else []  # odd rows must reach the count that sends us elsewhere
        if named:
            alternatives.append(f"ds IN ({','.join('?' * len(named))})")
        if NONE_DATASET in datasets:
            alternatives.append("ds IS NULL")
        sql.add(" AND (" + " OR ".join(alternatives) + ")", *named)
    sql.add(" GROUP BY ds, bk ORDER BY ds, bk")


def _aggregate_sqlite_general(
    pk: int,
    iri: str,
    query: TimeQuery,
    agg: Aggregation,
    origin: int,
    datasets: frozenset[str] | None,
    span: Span = ALL,
) -> _Sql:
    """SQLite, any shape: every instance of the attribute, whether the row holds it alone or as an
    array (several datasetIds), of any kind (Relationship objects and the like count too)."""
    path = _path(iri)
    others = [m for m in dict.fromkeys(VALUE_MEMBER.values()) if m != "value"]
    value_text = "COALESCE(" + ", ".join(f"inst -> '$.{m}'" for m in ["value", *others]) + ")"
    sql = _Sql().add("SELECT ds, ")
    if agg.period_us > 0:
        sql.add("(t - ?) / ?", origin, agg.period_us)
    else:
        sql.add("0")
    sql.add(" AS bk, COUNT(*), SUM(n), MIN(n), MAX(n), SUM(n * n), COUNT(n), MAX(t), 0")
    if "distinctCount" in agg.methods:
        sql.add(", COUNT(DISTINCT CASE WHEN n IS NOT NULL THEN CAST(n AS TEXT) ELSE v END)")
    time_expr = _time_of(False, query.timeproperty, "json_extract(inst, '$.createdAt')")
    sql.add(f" FROM (SELECT {time_expr} AS t, json_extract(inst, '$.datasetId') AS ds, {value_text} AS v, ")
    sql.add(
        "CASE WHEN json_type(inst, '$.value') IN ('integer', 'real') THEN json_extract(inst, '$.value') END AS n"
    )
    sql.add(" FROM (")
    row_params: list[Any] = []
    row_conds = " AND ".join(["h.entity_pk = ?", *_row_filter(query, row_params, span)])
    sql.add("SELECT h.ts, h.modified_at, json_extract(h.attrs, ?) AS inst FROM hub_history h ", path)
    sql.add(f"WHERE {row_conds} AND json_type(h.attrs, ?) = 'object'", pk, *row_params, path)
    sql.add(
        " UNION ALL SELECT h.ts, h.modified_at, j.value FROM hub_history h, json_each(h.attrs, ?) j ", path
    )
    sql.add(f"WHERE {row_conds} AND json_type(h.attrs, ?) = 'array'", pk, *row_params, path)
    sql.add(") x WHERE json_type(inst, '$.deletedAt') IS NULL LIMIT -1) WHERE 1 = 1")
    _aggregate_where(sql, query, origin, datasets)
    return sql


def aggregate(
    conn: Connection,
    te: TemporalEntity,
    query: TimeQuery,
    agg: Aggregation,
    selection: Selection,
    *,
    cache: AggregateCache | None = None,
) -> None:
    """Fill ``te.aggregated``: one SQL ``GROUP BY`` per attribute over the window's periods. Periods
    start at the window's lower bound, else at the entity's oldest instance in the window; empty
    periods are left out; with ``lastN`` only the last N periods are kept. With ``cache``, periods of
    observedAt aggregations come from ``hub_aggregate_cache`` when their history did not change."""
    if query.timeproperty == "deletedAt":
        return  # deleted instances carry no value to aggregate
    iris = sorted(selection.attrs) if selection.attrs is not None else history_attributes(conn, te.pk, query)
    iris = [i for i in iris if i not in selection.omit]
    live = Selection(frozenset(iris), frozenset(), selection.datasets)
    ordered = query.timeproperty != "createdAt"
    firsts: dict[str, Instance] = {}  # the oldest live instance of each attribute in the window
    for inst in scan(conn, te.pk, query, live, first_page=FIRST_PAGE):
        if inst.deleted or (inst.iri in firsts and (ordered or inst.time >= firsts[inst.iri].time)):
            continue
        firsts[inst.iri] = inst
        if ordered and len(firsts) == len(iris):
            break
    if not firsts:
        return
    origin = query.lower if query.lower is not None else min(i.time for i in firsts.values())
    for iri, first in firsts.items():
        compute = partial(aggregate_rows, conn, te.pk, iri, query, agg, origin, selection.datasets)
        if cache is not None and query.timeproperty == "observedAt" and agg.period_us > 0:
            key = aggregate_key(iri, selection.datasets, observed_only=bool(query.timerel), agg=agg)
            rows = cache.rows(
                conn,
                pk=te.pk,
                key=key,
                origin=origin,
                period=agg.period_us,
                upper=query.upper,
                compute=compute,
            )
        else:
            rows = compute(ALL)
        series = _series(rows, first, query, agg, origin)
        if series:
            te.aggregated[iri] = series


def aggregate_rows(
    conn: Connection,
    pk: int,
    iri: str,
    query: TimeQuery,
    agg: Aggregation,
    origin: int,
    datasets: frozenset[str] | None,
    span: Span = ALL,
) -> list[Sequence[Any]]:
    """The aggregating query's rows (ds, bucket, count, sum, min, max, sumsq, numbers, last time, odd
    [, distinct]) of the history rows in ``span``."""
    pg = store.is_postgres(conn)
    sql, fast = _aggregate_sql(pg, pk, iri, query, agg, origin, datasets, span)
    rows: list[Sequence[Any]] = list(store.execute(conn, sql.text, sql.params).all())
    if fast and any(row[9] for row in rows):
        general = _aggregate_sqlite_general(pk, iri, query, agg, origin, datasets, span)
        rows = list(store.execute(conn, general.text, general.params).all())
    return rows


def aggregate_key(iri: str, datasets: frozenset[str] | None, *, observed_only: bool, agg: Aggregation) -> str:
    """What, besides the entity and the periods, decides a period's aggregates."""
    chosen = sorted(datasets) if datasets is not None else None
    distinct = "distinctCount" in agg.methods
    return orjson.dumps([iri, chosen, observed_only, distinct]).decode()


def _series(
    rows: Sequence[Sequence[Any]], first: Instance, query: TimeQuery, agg: Aggregation, origin: int
) -> list[Series]:
    kind = first.value.get("type")
    by_dataset: dict[str | None, Series] = {}
    texts: dict[int, str] = {}  # a period's end is the next one's start: format each time once
    for row in sorted(rows, key=lambda r: (r[0] is not None, r[0] or "", int(r[1]))):
        ds, bucket = row[0], int(row[1])
        series = by_dataset.get(ds)
        if series is None:
            series = by_dataset[ds] = Series(
                kind=kind if isinstance(kind, str) else "Property",
                dataset_id=ds,
                values={m: [] for m in agg.methods},
            )
        if agg.period_us > 0:
            start = origin + bucket * agg.period_us
            end = start + agg.period_us
        else:
            start, end = origin, (query.upper if query.upper is not None else int(row[8]))
        bounds = [texts.get(start) or texts.setdefault(start, _time_text(start))]
        bounds.append(texts.get(end) or texts.setdefault(end, _time_text(end)))
        for method, value in _method_values(row, agg.methods).items():
            if value is not None:
                series.values[method].append([value, *bounds])
    if query.last_n is not None:
        for series in by_dataset.values():
            series.values = {m: v[-query.last_n :] for m, v in series.values.items()}
    return list(by_dataset.values())


_NAIVE_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 (a bare reference point for arithmetic, never shown)
_YEAR_10000 = 253_402_300_800_000_000


def _time_text(us: int) -> str:
    """``format_us`` for period bounds, three times faster (hundreds of them per answer)."""
    if not 0 <= us < _YEAR_10000:
        return format_us(us)
    return (_NAIVE_EPOCH + timedelta(microseconds=us)).isoformat(timespec="milliseconds") + "Z"


def _method_values(row: Sequence[Any], methods: Sequence[str]) -> dict[str, Any]:
    total, total_sum, low, high, sumsq = row[2], row[3], row[4], row[5], row[6]
    n = int(row[7] or 0)
    out: dict[str, Any] = {}
    for method in methods:
        if method == "totalCount":
            out[method] = int(total)
        elif method == "distinctCount":
            out[method] = int(row[10])
        elif n == 0:
            out[method] = None
        elif method == "sum":
            out[method] = float(total_sum)
        elif method == "avg":
            out[method] = float(total_sum) / n
        elif method == "min":
            out[method] = float(low)
        elif method == "max":
            out[method] = float(high)
        elif method == "sumsq":
            out[method] = float(sumsq)
        else:  # stddev, of the population: the period's instances are all its values, not a sample
            mean = float(total_sum) / n
            out[method] = math.sqrt(max(0.0, float(sumsq) / n - mean * mean))
    return out


def load_entity(session: Session, region_id: int, entity_id: str) -> tuple[int, Entity]:
    check_entity_id(entity_id)
    found = store.load_entities(store.connection(session), region_id, [entity_id]).get(entity_id)
    if found is None:
        raise ResourceNotFound(f"The entity {entity_id} does not exist.")
    return found


# ------------------------------------------------------------------------------------ adding


def _parse_instances(
    parser: Parser, raw: dict[str, Any], *, skip: frozenset[str]
) -> dict[str, list[dict[str, Any]]]:
    """Attributes of a temporal representation: each an instance or an array of instances."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name, value in raw.items():
        if name in skip:
            continue
        iri = parser.attribute_name(name)
        items = value if isinstance(value, list) else [value]
        if not items:
            raise BadRequestData(f"The attribute {name} has no instances.")
        parsed = []
        for item in items:
            if not isinstance(item, dict):
                raise BadRequestData(f"Each instance of {name} must be a JSON object.")
            parsed.append(parser.instance(iri, item, name))
        found.setdefault(iri, []).extend(parsed)
    return found


def _moment(inst: dict[str, Any], default: int) -> int:
    observed = inst.get("observedAt")
    return parse_datetime(observed) if observed else default


def _apply(write: store.Write, instances: dict[str, list[dict[str, Any]]], now: int) -> None:
    """Stamp and record every instance; the newest of each attribute and datasetId becomes current."""
    now_text = format_us(now)
    entity = write.entity
    for iri, items in instances.items():
        newest: dict[str | None, tuple[int, dict[str, Any]]] = {}
        for inst in items:
            ds = inst.get("datasetId")
            old = find_instance(entity, iri, ds)
            stamp(inst, now_text, old.get("createdAt") if old else None)
            write.history.append((iri, inst, False))
            moment = _moment(inst, now)
            if ds not in newest or moment >= newest[ds][0]:
                newest[ds] = (moment, inst)
        for ds, (moment, inst) in newest.items():
            old = find_instance(entity, iri, ds)
            if old is not None:
                modified = old.get("modifiedAt")
                if _moment(old, parse_datetime(modified) if modified else 0) > moment:
                    continue
            put_instance(entity, iri, inst)


def upsert_temporal(
    session: Session, *, region_id: int, principal: Principal, raw: Any, ctx: ActiveContext
) -> bool:
    """Create or Update Temporal Representation (5.6.11). True when the entity is new."""
    if not isinstance(raw, dict):
        raise BadRequestData("A temporal representation must be a JSON object.")
    parser = Parser(ctx)
    head = parser.entity({k: raw[k] for k in ("id", "type", "scope") if k in raw})
    instances = _parse_instances(parser, raw, skip=ENTITY_MEMBERS)
    key_types = service._entity_types_for(session, principal)
    access.require_write(principal, region_id, head.types, key_types)
    conn = store.connection(session)
    found = store.load_entities(conn, region_id, [head.id]).get(head.id)
    now = now_us()
    if found is None:
        head.created_at = now
        write = store.Write(entity=head)
    else:
        pk, entity = found
        access.require_write(principal, region_id, entity.types, key_types)
        for type_ in head.types:
            if type_ not in entity.types:
                entity.types.append(type_)
        if head.scope is not None:
            entity.scope = head.scope
        write = store.Write(entity=entity, pk=pk)
    _apply(write, instances, now)
    write.entity.modified_at = now
    store.write_entities(conn, region_id, [write])
    service._changed(session, region_id)
    return found is None


def add_instances(
    session: Session, *, region_id: int, principal: Principal, entity_id: str, raw: Any, ctx: ActiveContext
) -> None:
    """Add Attributes to Temporal Representation (5.6.12): the entity must exist."""
    pk, entity = _writable(session, region_id, principal, entity_id)
    if not isinstance(raw, dict):
        raise BadRequestData("The body must be a JSON object of attributes with their instances.")
    instances = _parse_instances(Parser(ctx), raw, skip=frozenset(["@context", "id", "type"]))
    if not instances:
        raise BadRequestData("The body holds no attributes.")
    write = store.Write(entity=entity, pk=pk)
    now = now_us()
    _apply(write, instances, now)
    write.entity.modified_at = now
    store.write_entities(store.connection(session), region_id, [write])
    service._changed(session, region_id)


# ------------------------------------------------------------------------------------ rewriting


def _writable(session: Session, region_id: int, principal: Principal, entity_id: str) -> tuple[int, Entity]:
    pk, entity = load_entity(session, region_id, entity_id)
    access.require_write(principal, region_id, entity.types, service._entity_types_for(session, principal))
    return pk, entity


def _save_row(conn: Connection, pk: int, ts: int, iid: int, attrs: dict[str, Any]) -> None:
    """Store a history row's new instances, or delete the row when none are left."""
    if not attrs:
        store.execute(
            conn, "DELETE FROM hub_history WHERE entity_pk = ? AND ts = ? AND iid = ?", [pk, ts, iid]
        )
        return
    mark = "CAST(? AS jsonb)" if store.is_postgres(conn) else "?"
    store.execute(
        conn,
        f"UPDATE hub_history SET attrs = {mark} WHERE entity_pk = ? AND ts = ? AND iid = ?",
        [orjson.dumps(attrs).decode(), pk, ts, iid],
    )


def _put(attrs: dict[str, Any], iri: str, items: list[dict[str, Any]]) -> None:
    if not items:
        attrs.pop(iri, None)
    else:
        attrs[iri] = items[0] if len(items) == 1 else items


def delete_attribute_history(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    entity_id: str,
    iri: str,
    dataset_id: str | None = None,
    delete_all: bool = False,
) -> None:
    """Delete Attribute from Temporal Representation (5.6.13): its default instances, one datasetId's,
    or (``deleteAll``) every dataset's."""
    pk, _entity = _writable(session, region_id, principal, entity_id)
    conn = store.connection(session)
    params: list[Any] = [pk]
    has = _has_attr(store.is_postgres(conn), iri, params)
    rows = store.execute(
        conn, f"SELECT ts, iid, attrs FROM hub_history WHERE entity_pk = ? AND {has}", params
    ).all()
    removed = 0
    for ts, iid, stored in rows:
        attrs = _json(stored)
        value = attrs.get(iri)
        items = value if isinstance(value, list) else [value]
        kept = [i for i in items if not delete_all and (i or {}).get("datasetId") != dataset_id]
        if len(kept) != len(items):
            removed += len(items) - len(kept)
            _put(attrs, iri, kept)
            _save_row(conn, pk, int(ts), int(iid), attrs)
    if not removed:
        raise ResourceNotFound(f"The entity {entity_id} has no temporal instances of that attribute.")
    invalidate(conn, pk)


def _find_instance(
    conn: Connection, pk: int, iri: str, instance_id: str
) -> tuple[int, int, bool, dict[str, Any], list[dict[str, Any]], int]:
    """(ts, iid, observed, row attrs, the attribute's instances in the row, index) of an instance."""
    iid, index = instance_key(instance_id)
    rows = store.execute(
        conn, "SELECT ts, iid, observed, attrs FROM hub_history WHERE entity_pk = ? AND iid = ?", [pk, iid]
    ).all()
    for ts, row_iid, observed, stored in rows:
        attrs = _json(stored)
        value = attrs.get(iri)
        items = value if isinstance(value, list) else ([value] if value is not None else [])
        if index < len(items):
            return int(ts), int(row_iid), bool(observed), attrs, items, index
    raise ResourceNotFound(f"The attribute has no instance {instance_id}.")


def delete_instance(
    session: Session, *, region_id: int, principal: Principal, entity_id: str, iri: str, instance_id: str
) -> None:
    """Delete Attribute Instance (5.6.15)."""
    pk, _entity = _writable(session, region_id, principal, entity_id)
    conn = store.connection(session)
    ts, iid, _observed, attrs, items, index = _find_instance(conn, pk, iri, instance_id)
    del items[index]
    _put(attrs, iri, items)
    _save_row(conn, pk, ts, iid, attrs)
    invalidate(conn, pk)


def modify_instance(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    entity_id: str,
    attr: str,
    instance_id: str,
    raw: Any,
    ctx: ActiveContext,
) -> None:
    """Modify Attribute Instance (5.6.14): the fragment's members replace the instance's; the
    instance keeps its createdAt and its datasetId (unless the fragment names one), and its
    instanceId unless it had to move to another row."""
    iri = ctx.expand(attr)
    pk, _entity = _writable(session, region_id, principal, entity_id)
    conn = store.connection(session)
    ts, iid, observed, attrs, items, index = _find_instance(conn, pk, iri, instance_id)
    invalidate(conn, pk)  # rows keep their id and time: the cache's stamps would not see the change
    old = items[index]
    fragment = _fragment(raw, ctx, iri)
    kind = old.get("type", "Property")
    fragment.setdefault("type", kind)
    member = VALUE_MEMBER.get(fragment["type"]) if isinstance(fragment["type"], str) else None
    if member is None:
        raise BadRequestData(f"Unknown attribute type {fragment['type']!r}.")
    if member not in fragment:
        if kind != fragment["type"] or member not in old:
            raise BadRequestData(f'The fragment must give the "{member}" of the {fragment["type"]}.')
        fragment[member] = old[member]
    parsed = Parser(ctx).instance(iri, fragment, attr)
    new = {
        k: v
        for k, v in old.items()
        if k not in ("createdAt", "modifiedAt", "deletedAt", "instanceId") and k not in VALUE_MEMBER.values()
    }
    new.update(parsed)
    now = now_us()
    stamp(new, format_us(now), old.get("createdAt"))
    new_ts, new_observed = (
        (parse_datetime(new["observedAt"]), True) if new.get("observedAt") else (now, False)
    )
    if (new_ts, new_observed) == (ts, observed):
        items[index] = new
        _put(attrs, iri, items)
        _save_row(conn, pk, ts, iid, attrs)
        return
    del items[index]  # the instance's time changed: it moves to the row of its new time
    _put(attrs, iri, items)
    _save_row(conn, pk, ts, iid, attrs)
    target = store.execute(
        conn, "SELECT attrs FROM hub_history WHERE entity_pk = ? AND ts = ? AND iid = ?", [pk, new_ts, iid]
    ).first()
    if target is not None:
        moved = _json(target[0])
        value = moved.get(iri)
        _put(moved, iri, [*(value if isinstance(value, list) else [value] if value else []), new])
        _save_row(conn, pk, new_ts, iid, moved)
        return
    mark = "CAST(? AS jsonb)" if store.is_postgres(conn) else "?"
    store.execute(
        conn,
        "INSERT INTO hub_history (entity_pk, ts, iid, region_id, observed, modified_at, attrs) "
        f"VALUES (?,?,?,?,?,?,{mark})",
        [pk, new_ts, iid, region_id, new_observed, now, orjson.dumps({iri: new}).decode()],
    )


def _fragment(raw: Any, ctx: ActiveContext, iri: str) -> dict[str, Any]:
    """The instance in a PATCH body: the instance itself, or ``{attr: instance}``."""
    if isinstance(raw, dict) and len(raw) == 1:
        name, inner = next(iter(raw.items()))
        if name not in VALUE_MEMBER.values() and name != "type" and ctx.expand(name) == iri:
            raw = inner[0] if isinstance(inner, list) and len(inner) == 1 else inner
    if not isinstance(raw, dict) or not raw:
        raise BadRequestData("The body must be a JSON object: the attribute instance's new members.")
    return {k: v for k, v in raw.items() if k not in ("@context", "instanceId")}


def delete_temporal_entity(session: Session, *, region_id: int, principal: Principal, entity_id: str) -> None:
    """Delete Temporal Representation (5.6.16): its history and, as a core delete does, the entity."""
    check_entity_id(entity_id)
    found = store.existing_ids(store.connection(session), region_id, [entity_id]).get(entity_id)
    service.delete_entity(session, region_id=region_id, principal=principal, entity_id=entity_id)
    if found is not None:
        invalidate(store.connection(session), found[0])
