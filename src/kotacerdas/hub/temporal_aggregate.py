"""aggregatedValues: each attribute's instances summed up per period (``aggrMethods`` over
``aggrPeriodDuration``) by the database, with the observedAt aggregates of past periods kept in
``hub_aggregate_cache`` (``kotacerdas.hub.aggregate_cache``).

Apart from reading because it brings no instances into Python but the oldest of each attribute
(its time is the periods' origin, its type the series' type); the rest stays in SQL.

Choices:
- Aggregation runs in SQL: ``GROUP BY (time - start) / period`` (integer division) over the JSON
  values; ``totalCount``/``distinctCount`` count any value, the others numbers only. ``stddev`` is the
  *population* standard deviation, sqrt(sumsq/n - avg²): a period's instances are all its values, not
  a sample of them, and one value has a deviation of 0 (PostgreSQL's ``stddev`` would say NULL).
  Periods are fixed durations; years and months are refused (OperationNotSupported).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
from sqlalchemy import Connection

from kotacerdas.hub import store
from kotacerdas.hub.aggregate_cache import AggregateCache
from kotacerdas.hub.entity import VALUE_MEMBER, format_us
from kotacerdas.hub.temporal_query import NONE_DATASET, Aggregation, TimeQuery
from kotacerdas.hub.temporal_read import (
    ALL,
    FIRST_PAGE,
    Instance,
    Selection,
    Series,
    Span,
    TemporalEntity,
    _path,
    _row_filter,
    scan,
)


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
