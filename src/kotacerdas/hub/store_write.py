"""Writing entities to ``hub_entity``: the ``Write`` of one entity, the stored row's indexed columns
(what a replacing write needs to know without reading bodies), inserts and updates in one statement
per batch, the (type, attribute, kind) register behind ``/types`` and ``/attributes``, and deletion.

``write_entities`` records each write's history rows too (``store_history``); nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import orjson
from sqlalchemy import Connection

from kotacerdas.hub.entity import LOCATION, Entity
from kotacerdas.hub.store_history import _history_rows, _store_history
from kotacerdas.hub.store_sql import _chunks, execute, executemany, fetch_all, is_postgres

StoredColumns = tuple[Any, ...]  # (type, extra_types, has_multi, min_lon, min_lat, max_lon, max_lat)
_STORED = "type, extra_types, has_multi, min_lon, min_lat, max_lon, max_lat"


def existing_rows(
    conn: Connection, region_id: int, ids: Sequence[str]
) -> dict[str, tuple[int, int, StoredColumns]]:
    """id -> (pk, created_at, the indexed columns): what a replacing write needs to know of a stored
    entity, without its body. One query for a whole batch (``Write.stored`` takes the columns)."""
    found: dict[str, tuple[int, int, StoredColumns]] = {}
    for chunk in _chunks(list(dict.fromkeys(ids)), 1000):
        marks = ",".join("?" * len(chunk))
        rows = fetch_all(
            conn,
            f"SELECT entity_id, pk, created_at, {_STORED} FROM hub_entity "
            f"WHERE region_id = ? AND entity_id IN ({marks})",
            [region_id, *chunk],
        )
        for row in rows:
            found[row[0]] = (row[1], row[2], row[3:])
    return found


def existing_ids(conn: Connection, region_id: int, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """id -> (pk, created_at) without reading bodies (batch upsert in replace mode needs no more)."""
    found: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(list(dict.fromkeys(ids)), 1000):
        marks = ",".join("?" * len(chunk))
        rows = execute(
            conn,
            f"SELECT entity_id, pk, created_at FROM hub_entity WHERE region_id = ? AND entity_id IN ({marks})",
            [region_id, *chunk],
        )
        for entity_id, pk, created in rows:
            found[entity_id] = (pk, created)
    return found


# ------------------------------------------------------------------------------------ writing


@dataclass(slots=True)
class Write:
    """The new state of one entity and the attribute instances to record in its history."""

    entity: Entity
    pk: int | None = None
    history: list[tuple[str, dict[str, Any], bool]] = field(default_factory=list)  # (iri, instance, deleted)
    # the stored row's indexed columns (``existing_rows``): when the new state leaves them as they are,
    # the UPDATE sets only modified_at and body (no type, bounding-box or R*Tree index work)
    stored: StoredColumns | None = None


def _coords(geometry: Any) -> Iterator[tuple[float, float]]:
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    stack: list[Any] = [coords]
    while stack:
        item = stack.pop()
        if isinstance(item, list) and item and isinstance(item[0], (int, float)):
            yield float(item[0]), float(item[1])
        elif isinstance(item, list):
            stack.extend(item)


def location_bbox(entity: Entity) -> tuple[float, float, float, float] | None:
    loc = entity.attrs.get(LOCATION)
    if type(loc) is dict:  # the usual case: one Point
        geometry = loc.get("value")
        if type(geometry) is dict and geometry.get("type") == "Point":
            x, y = geometry["coordinates"][:2]
            return (x, y, x, y)
    boxes = []
    for inst in entity.instances(LOCATION):
        points = list(_coords(inst.get("value")))
        if points:
            lons = [p[0] for p in points]
            lats = [p[1] for p in points]
            boxes.append((min(lons), min(lats), max(lons), max(lats)))
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _body(entity: Entity) -> str:
    if entity.scope is not None:
        return orjson.dumps({**entity.attrs, "@scope": entity.scope}).decode()
    return orjson.dumps(entity.attrs).decode()


_INSERT = (
    "INSERT INTO hub_entity (region_id, entity_id, type, extra_types, created_at, modified_at, has_multi, "
    "min_lon, min_lat, max_lon, max_lat, body) VALUES (?,?,?,?,?,?,?,?,?,?,?,{body}) "
    "ON CONFLICT (region_id, entity_id) DO UPDATE SET type = excluded.type, "
    "extra_types = excluded.extra_types, modified_at = excluded.modified_at, has_multi = excluded.has_multi, "
    "min_lon = excluded.min_lon, min_lat = excluded.min_lat, max_lon = excluded.max_lon, "
    "max_lat = excluded.max_lat, body = excluded.body"
)
_UPDATE = (
    "UPDATE hub_entity SET type = ?, extra_types = ?, modified_at = ?, has_multi = ?, min_lon = ?, "
    "min_lat = ?, max_lon = ?, max_lat = ?, body = {body} WHERE pk = ?"
)
# the usual update: same type, same kind of attributes, the location has not moved
_UPDATE_BODY = "UPDATE hub_entity SET modified_at = ?, body = {body} WHERE pk = ?"


def write_entities(
    conn: Connection,
    region_id: int,
    writes: Sequence[Write],
    *,
    dedupe: bool = False,
) -> None:
    """Store the new states (insert or update), then their history rows. ``dedupe`` skips history
    instances already recorded with the same time and value (a redelivered MQTT message).

    One pass over the writes makes each row's parameters, notes its (types, attributes, kinds) for
    ``hub_type_attribute`` and keeps the body of each entity whose attributes are one instance each,
    which its history row reuses when the history is those very instances."""
    pg = is_postgres(conn)
    body_mark = "CAST(? AS jsonb)" if pg else "?"
    inserts: list[tuple[Any, ...]] = []
    inserted: list[Write] = []
    full: list[tuple[Any, ...]] = []
    narrow: list[tuple[Any, ...]] = []
    bodies: list[str | None] = []  # per write: its body when every attribute is one instance
    shapes: set[tuple[tuple[str, ...], tuple[str, ...], tuple[Any, ...]]] = set()
    dumps = orjson.dumps
    for w in writes:
        entity = w.entity
        attrs = entity.attrs
        values = attrs.values()
        types = entity.types
        single = _ONLY_DICTS.issuperset(map(type, values))  # one instance each (checked in C)
        if single:
            kinds: tuple[Any, ...] = tuple(map(dict.get, values, repeat("type")))
            has_multi = False
        else:
            kinds = tuple(map(_kind, values))
            has_multi = list in map(type, values)
        shapes.add((tuple(types), tuple(attrs), kinds))
        if entity.scope is None:
            body = dumps(attrs).decode()
            bodies.append(body if single else None)
        else:
            body = dumps({**attrs, "@scope": entity.scope}).decode()
            bodies.append(None)
        extra = "|" + "|".join(types) + "|" if len(types) > 1 else None
        box = location_bbox(entity) or (None, None, None, None)
        if w.pk is None:
            inserts.append(
                (
                    region_id,
                    entity.id,
                    types[0],
                    extra,
                    entity.created_at,
                    entity.modified_at,
                    has_multi,
                    *box,
                    body,
                )
            )
            inserted.append(w)
            w.stored = (types[0], extra, has_multi, *box)
            continue
        stored = w.stored
        if (  # SQLite only: PostgreSQL writes every index of a row that is not HOT-updated anyway
            stored is not None
            and not pg
            and stored[0] == types[0]
            and stored[1] == extra
            and bool(stored[2]) == has_multi
            and stored[3:] == box
        ):
            narrow.append((entity.modified_at, body, w.pk))
        else:
            full.append((types[0], extra, entity.modified_at, has_multi, *box, body, w.pk))
            w.stored = (types[0], extra, has_multi, *box)  # the row's columns once written
    if inserts:
        executemany(conn, _INSERT.format(body=body_mark), inserts)
        pks = existing_ids(conn, region_id, [w.entity.id for w in inserted])
        for w in inserted:
            w.pk = pks[w.entity.id][0]
    executemany(conn, _UPDATE.format(body=body_mark), full)
    executemany(conn, _UPDATE_BODY.format(body=body_mark), narrow)
    rows = _history_rows(region_id, writes, bodies)
    _store_history(conn, rows, dedupe=dedupe)
    _register_shapes(conn, region_id, shapes)


_ONLY_DICTS = frozenset([dict])


def _kind(value: Any) -> str:
    first = value[0] if type(value) is list and value else value
    return str(first.get("type", "Property")) if type(first) is dict else ""


def register_types(conn: Connection, region_id: int, entities: Iterable[Entity]) -> None:
    """Record the (type, attribute, kind) combinations seen, for ``/types`` and ``/attributes``."""
    shapes: set[tuple[tuple[str, ...], tuple[str, ...], tuple[Any, ...]]] = set()
    for e in entities:
        values = e.attrs.values()
        if _ONLY_DICTS.issuperset(map(type, values)):  # one instance each: "type" read in C
            kinds: tuple[Any, ...] = tuple(map(dict.get, values, repeat("type")))
        else:  # several instances of an attribute: the first one's kind
            kinds = tuple(map(_kind, values))
        shapes.add((tuple(e.types), tuple(e.attrs), kinds))
    _register_shapes(conn, region_id, shapes)


def _register_shapes(
    conn: Connection, region_id: int, shapes: set[tuple[tuple[str, ...], tuple[str, ...], tuple[Any, ...]]]
) -> None:
    """``shapes``: (types, attribute IRIs, their kinds) of each entity written."""
    seen: set[tuple[str, str, str]] = set()
    for types, iris, kinds in shapes:
        shape = [
            (iri, "Property" if kind is None else kind)
            for iri, kind in zip(iris, kinds, strict=True)
            if not iri.startswith("@")
        ]
        for type_ in types:
            if not shape:
                seen.add((type_, "", ""))
            for iri, kind in shape:
                seen.add((type_, iri, kind))
    executemany(
        conn,
        "INSERT INTO hub_type_attribute (region_id, type, attribute, kind) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (region_id, type, attribute, kind) DO NOTHING",
        [(region_id, *item) for item in sorted(seen)],
    )


def delete_entities(conn: Connection, region_id: int, pks: Sequence[int], *, history: bool = True) -> None:
    for chunk in _chunks(list(pks)):
        marks = ",".join("?" * len(chunk))
        if history:
            execute(conn, f"DELETE FROM hub_history WHERE entity_pk IN ({marks})", list(chunk))
        execute(conn, f"DELETE FROM hub_entity WHERE region_id = ? AND pk IN ({marks})", [region_id, *chunk])
