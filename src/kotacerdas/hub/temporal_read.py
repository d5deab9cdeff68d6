"""Reading history: an entity's instances in a window, the page of them an answer holds (``lastN``,
206 paging), and the shapes a temporal answer is built from (``TemporalEntity``, ``Instance``,
``Series``).

History rows hold the instances of one write at one instant (``kotacerdas.hub.store``), so reading
walks an entity's rows in time order and explodes them, stopping as soon as the page is known.
An instance's id is its row's id plus, for the 2nd, 3rd ... instance of the attribute in that row
(several datasetIds), ``-1``, ``-2`` ...

Choices:
- Paging: at most ``limit`` instances per attribute. When an attribute is cut, every attribute of the
  response is cut at the same time, so the page is one time range (what Stellio does, and what the
  ETSI suite's Content-Range checks expect).

The row conditions and JSON paths here (``_row_filter``, ``_path``, ``_has_attr``, ``_json``) are
shared with aggregation and the rewrites of history, so every path selects the window's rows alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from kotacerdas.hub import store
from kotacerdas.hub.entity import Entity, check_entity_id, parse_datetime
from kotacerdas.hub.problems import BadRequestData, ResourceNotFound
from kotacerdas.hub.temporal_query import NONE_DATASET, TimeQuery, instance_uri

SCAN_PAGE = 500
FIRST_PAGE = 8  # rows read first by callers that want only the first instances

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


def load_entity(session: Session, region_id: int, entity_id: str) -> tuple[int, Entity]:
    check_entity_id(entity_id)
    found = store.load_entities(store.connection(session), region_id, [entity_id]).get(entity_id)
    if found is None:
        raise ResourceNotFound(f"The entity {entity_id} does not exist.")
    return found
