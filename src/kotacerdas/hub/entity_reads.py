"""Reading entities: retrieve one, Query Entities (5.7.2, including ``near`` searched in growing
rings), the read filter of private types, and type discovery (5.7.5-5.7.7).

Reads only: nothing here writes or wakes the notifier, and it imports none of the write modules.
Type and attribute names arrive as expanded IRIs; rendering is ``kotacerdas.hub.entity.Renderer``'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.hub import access, store
from kotacerdas.hub.entity import Entity, check_entity_id
from kotacerdas.hub.problems import ResourceNotFound

# ------------------------------------------------------------------------------------- reading


def get_entity(session: Session, *, region_id: int, entity_id: str) -> Entity:
    check_entity_id(entity_id)
    found = store.load_entities(store.connection(session), region_id, [entity_id]).get(entity_id)
    if found is None:
        raise ResourceNotFound(f"The entity {entity_id} does not exist.")
    return found[1]


@dataclass
class EntityQuery:
    """Query Entities (5.7.2). Type and attribute names are expanded IRIs."""

    types: list[str] | None = None
    ids: list[str] | None = None
    id_pattern: str | None = None
    q: Any = None  # kotacerdas.hub.q.Query
    geo: Any = None  # kotacerdas.hub.geo.GeoQuery
    attrs: frozenset[str] | None = None  # entities must have at least one of these (deprecated attrs)
    limit: int = 20
    offset: int = 0
    count: bool = False
    exclude_types: frozenset[str] = frozenset()  # types the asker may not read
    only_types: frozenset[str] | None = None  # when everything is private: the public types


@dataclass
class QueryResult:
    entities: list[Entity]
    count: int | None
    more: bool


SCAN_CHUNK = 500


def _type_sql(types: Sequence[str], params: list[Any]) -> str:
    marks = ",".join("?" * len(types))
    params.extend(types)
    likes = " OR ".join("e.extra_types LIKE ?" for _ in types)
    params.extend(f"%|{t}|%" for t in types)
    return f"(e.type IN ({marks}) OR (e.extra_types IS NOT NULL AND ({likes})))"


def query_entities(session: Session, *, region_id: int, query: EntityQuery) -> QueryResult:
    conn = store.connection(session)
    dialect = conn.dialect.name
    where = ["e.region_id = ?"]
    params: list[Any] = [region_id]
    if query.types:
        where.append(_type_sql(query.types, params))
    if query.ids:
        where.append(f"e.entity_id IN ({','.join('?' * len(query.ids))})")
        params.extend(query.ids)
    if query.exclude_types:
        where.append(f"e.type NOT IN ({','.join('?' * len(query.exclude_types))})")
        params.extend(sorted(query.exclude_types))
    if query.only_types is not None:
        if not query.only_types:
            return QueryResult([], 0 if query.count else None, False)
        where.append(f"e.type IN ({','.join('?' * len(query.only_types))})")
        params.extend(sorted(query.only_types))
    python_checks: list[Callable[[Entity], bool]] = []
    if query.id_pattern:
        from kotacerdas.hub.patterns import compile_pattern

        pattern = compile_pattern(query.id_pattern, "idPattern")
        python_checks.append(lambda e: pattern.search(e.id) is not None)
    if query.q is not None:
        from kotacerdas.hub import q as qlang

        fragment = qlang.to_sql(query.q, dialect)
        if fragment is not None:
            sql, extra = fragment
            where.append(f"(e.has_multi OR ({sql}))")
            params.extend(extra)
        qq = query.q
        python_checks.append(lambda e: qlang.matches(qq, e))
    if query.attrs:
        wanted = query.attrs
        python_checks.append(lambda e: any(a in e.attrs for a in wanted))
    geo = query.geo
    if geo is not None:
        from kotacerdas.hub.entity import LOCATION

        box = geo.bbox() if geo.geoproperty == LOCATION else None  # the bbox columns are of location
        if box is not None:
            where.append(
                "e.min_lat IS NOT NULL AND e.min_lon <= ? AND e.max_lon >= ? AND e.min_lat <= ? AND e.max_lat >= ?"
            )
            params.extend([box[2], box[0], box[3], box[1]])
        python_checks.append(geo.matches)
    base = " AND ".join(where)
    if geo is not None and getattr(geo, "sorts_by_distance", False):
        return _query_near(conn, base, params, python_checks, query)
    if not python_checks:
        total = None
        if query.count:
            total = int(
                store.execute(conn, f"SELECT COUNT(*) FROM hub_entity e WHERE {base}", params).scalar_one()
            )
        if query.limit == 0:
            return QueryResult([], total, False)
        rows = store.execute(
            conn,
            f"SELECT {store.ENTITY_COLUMNS} FROM hub_entity e WHERE {base} ORDER BY e.pk LIMIT ? OFFSET ?",
            [*params, query.limit + 1, query.offset],
        ).all()
        entities = [store.row_entity(r)[1] for r in rows[: query.limit]]
        return QueryResult(entities, total, len(rows) > query.limit)
    matched: list[Entity] = []
    seen = 0
    wanted_total = query.offset + query.limit + 1
    last_pk = None
    more = False
    # the SQL prefilter is usually exact: ask first for just the page (and one more), then grow the chunk
    # when the Python checks turn rows down (a count needs them all anyway)
    chunk = SCAN_CHUNK if query.count else min(SCAN_CHUNK, max(wanted_total, 50))
    while True:
        page_params = list(params)
        cond = base
        if last_pk is not None:
            cond += " AND e.pk > ?"
            page_params.append(last_pk)
        rows = store.execute(
            conn,
            f"SELECT {store.ENTITY_COLUMNS} FROM hub_entity e WHERE {cond} ORDER BY e.pk LIMIT ?",
            [*page_params, chunk],
        ).all()
        for row in rows:
            pk, entity = store.row_entity(row)
            last_pk = pk
            if all(check(entity) for check in python_checks):
                seen += 1
                if query.offset < seen <= query.offset + query.limit:
                    matched.append(entity)
                elif seen > query.offset + query.limit:
                    more = True
                    if not query.count:
                        break
        if len(rows) < chunk or (more and not query.count) or (seen >= wanted_total and not query.count):
            break
        chunk = min(SCAN_CHUNK, chunk * 2)
    return QueryResult(matched, seen if query.count else None, more)


NEAR_FIRST_RADIUS = 120.0  # metres: the first ring of a near query; it grows until the page is certain
NEAR_BODY_CHUNK = 64


def _near_boxes(conn: Any, base: str, params: list[Any], box: tuple[float, float, float, float]) -> list[Any]:
    """(pk, min_lon, min_lat, max_lon, max_lat) of the entities whose bounding box meets ``box``: from
    the R*Tree on SQLite (``hub_entity_rtree``, kept by triggers), from the bounding-box columns elsewhere."""
    west, south, east, north = box
    if conn.dialect.name == "sqlite":
        sql = (
            "SELECT e.pk, e.min_lon, e.min_lat, e.max_lon, e.max_lat FROM hub_entity_rtree r "
            "CROSS JOIN hub_entity e ON e.pk = r.pk "  # CROSS: drive from the R*Tree, not the B-tree
            f"WHERE r.min_lon <= ? AND r.max_lon >= ? AND r.min_lat <= ? AND r.max_lat >= ? AND {base}"
        )
        return list(store.execute(conn, sql, [east, west, north, south, *params]).all())
    sql = (
        "SELECT e.pk, e.min_lon, e.min_lat, e.max_lon, e.max_lat FROM hub_entity e "
        f"WHERE e.min_lon <= ? AND e.max_lon >= ? AND e.min_lat <= ? AND e.max_lat >= ? AND {base}"
    )
    return list(store.execute(conn, sql, [east, west, north, south, *params]).all())


def _query_near(
    conn: Any, base: str, params: list[Any], checks: list[Callable[[Entity], bool]], query: EntityQuery
) -> QueryResult:
    """near: nearest first, searched in growing rings.

    A ring of radius r reads the bounding boxes that meet the ring's box, keeps those whose lower bound
    of distance is within r, and reads (and checks) only their bodies. Every entity that is truly
    within r has a lower bound within r, so once the entities confirmed within r fill the page, no
    entity outside can come before them and the search stops; otherwise the ring grows (up to
    maxDistance, where it has seen everything). A dense town centre is answered from a few dozen
    rows instead of every entity within maxDistance."""
    from shapely.geometry import Point

    from kotacerdas.hub.entity import LOCATION
    from kotacerdas.hub.geo import geodesic_distance, haversine, radius_box

    geo = query.geo
    ref = geo.reference
    if query.count or not (
        isinstance(ref, Point) and geo.max_distance is not None and geo.geoproperty == LOCATION
    ):
        return _query_near_all(conn, base, params, checks, query)
    x, y = ref.x, ref.y
    max_distance = float(geo.max_distance)
    need = query.offset + query.limit + 1
    checks = [check for check in checks if check != geo.matches]  # the distance below decides it

    def distance_of(entity: Entity) -> float | None:
        """Metres to the entity's location: directly for a plain Point (the usual sensor), else by
        the general rule (several instances, other geometries)."""
        found = entity.attrs.get(LOCATION)
        value = found.get("value") if isinstance(found, dict) else None
        if isinstance(value, dict) and value.get("type") == "Point":
            coords = value.get("coordinates")
            if (
                isinstance(coords, list)
                and len(coords) in (2, 3)
                and all(type(c) in (int, float) for c in coords)
                and -180 <= coords[0] <= 180
                and -90 <= coords[1] <= 90
            ):
                return geodesic_distance(x, y, float(coords[0]), float(coords[1]))
        return geo.distance_to(entity) if geo.matches(entity) else None

    examined: set[int] = set()
    found: list[tuple[float, int, Entity]] = []
    radius = min(NEAR_FIRST_RADIUS, max_distance)
    while True:
        candidates: list[tuple[float, int]] = []
        for pk, min_lon, min_lat, max_lon, max_lat in _near_boxes(
            conn, base, params, radius_box(x, y, radius)
        ):
            if pk in examined:
                continue
            cx = min(max(x, min_lon), max_lon)
            cy = min(max(y, min_lat), max_lat)
            bound = haversine(x, y, cx, cy) * 0.99  # below the ellipsoidal distance, with room to spare
            if bound <= radius:
                candidates.append((bound, pk))
        for start in range(0, len(candidates), NEAR_BODY_CHUNK):
            part = [pk for _b, pk in candidates[start : start + NEAR_BODY_CHUNK]]
            examined.update(part)
            rows = store.execute(
                conn,
                f"SELECT {store.ENTITY_COLUMNS} FROM hub_entity e WHERE e.pk IN ({','.join('?' * len(part))})",
                part,
            ).all()
            for row in rows:
                pk, entity = store.row_entity(row)
                distance = distance_of(entity)
                if (
                    distance is not None
                    and distance <= max_distance
                    and all(check(entity) for check in checks)
                ):
                    found.append((distance, pk, entity))
        confirmed = sum(1 for distance, _pk, _e in found if distance <= radius)
        if confirmed >= need or radius >= max_distance:
            break
        # grow by the density seen so far: aim for the page with some room, at least doubling
        factor = 4.0 if confirmed == 0 else max(2.0, 1.3 * math.sqrt(need / confirmed))
        radius = min(max_distance, radius * factor)
    found.sort(key=lambda item: (item[0], item[1]))
    page = [e for _d, _pk, e in found[query.offset : query.offset + query.limit]]
    return QueryResult(page, None, len(found) > query.offset + query.limit)


def _query_near_all(
    conn: Any, base: str, params: list[Any], checks: list[Callable[[Entity], bool]], query: EntityQuery
) -> QueryResult:
    rows = store.execute(conn, f"SELECT {store.ENTITY_COLUMNS} FROM hub_entity e WHERE {base}", params).all()
    found: list[tuple[float, int, Entity]] = []
    for row in rows:
        pk, entity = store.row_entity(row)
        if all(check(entity) for check in checks):
            found.append((query.geo.distance_to(entity) or 0.0, pk, entity))
    found.sort(key=lambda item: (item[0], item[1]))
    page = [e for _d, _pk, e in found[query.offset : query.offset + query.limit]]
    return QueryResult(page, len(found) if query.count else None, len(found) > query.offset + query.limit)


def read_filter(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    default: str,
    cache: access.ReadCache | None = None,
) -> tuple[frozenset[str], frozenset[str] | None]:
    """(types to exclude, types allowed when everything is private) for what ``principal`` may read."""
    if access.can_read_private(principal, region_id):
        return frozenset(), None
    lookup = cache.private_types if cache is not None else access.private_types
    private_by_default, keyed, public = lookup(session, region_id, default)
    if private_by_default:
        return frozenset(), public
    return keyed, None


# ----------------------------------------------------------------------------------- discovery


def type_attributes(session: Session, *, region_id: int) -> list[tuple[str, str, str]]:
    rows = store.execute(
        store.connection(session),
        "SELECT type, attribute, kind FROM hub_type_attribute WHERE region_id = ? ORDER BY type, attribute",
        [region_id],
    ).all()
    return [(t, a, k) for t, a, k in rows]


def type_counts(session: Session, *, region_id: int) -> dict[str, int]:
    rows = store.execute(
        store.connection(session),
        "SELECT type, COUNT(*) FROM hub_entity WHERE region_id = ? GROUP BY type",
        [region_id],
    ).all()
    return {t: int(n) for t, n in rows}


def attribute_count(session: Session, *, region_id: int, attribute: str, types: Sequence[str]) -> int:
    """How many entities (of the types that have it) carry the attribute now."""
    if not types:
        return 0
    conn = store.connection(session)
    params: list[Any] = [region_id]
    type_sql = "e.region_id = ? AND " + _type_sql(types, params)
    if store.is_postgres(conn):
        cond, extra = "jsonb_exists(e.body, ?)", attribute
    else:
        cond, extra = "json_type(e.body, ?) IS NOT NULL", '$."' + attribute.replace('"', '\\"') + '"'
    sql = f"SELECT COUNT(*) FROM hub_entity e WHERE {type_sql} AND {cond}"
    return int(store.execute(conn, sql, [*params, extra]).scalar_one())
