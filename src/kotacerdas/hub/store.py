"""The hub's SQL: hot paths in raw SQL through the session's connection, one statement per batch.

Nothing here commits: the unit of work that owns the session does (one transaction per request or
per MQTT batch). SQL is written with ``?`` placeholders and converted for PostgreSQL.

History layout (``hub_history``): ONE ROW PER ENTITY AND INSTANT, not per attribute. A write's
instances are grouped by time (observedAt when present, else the write's modifiedAt) and stored as
``attrs`` = {attribute IRI: instance or [instances]}. Read them with ``read_history`` (it explodes rows
into ``HistoryInstance`` objects) and aggregate numbers in SQL with ``numeric_path_sql``. Per-attribute
rows were measured at ~10 µs of SQLite index work each, too slow for 20,000 entity updates/s.
"""

from __future__ import annotations

import random
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from operator import is_, itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from kotacerdas.hub.entity import LOCATION, Entity, parse_datetime

ENTITY_COLUMNS = "e.pk, e.entity_id, e.type, e.extra_types, e.created_at, e.modified_at, e.body"


def connection(session: Session) -> Connection:
    return session.connection()


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


@lru_cache(maxsize=4096)
def _pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def sql_for(conn: Connection, sql: str) -> str:
    return _pg(sql) if is_postgres(conn) else sql


def execute(conn: Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    return conn.exec_driver_sql(sql_for(conn, sql), tuple(params))


def fetch_all(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of a query as the driver's plain tuples, through its own cursor in the session's
    transaction (no result objects: for the batch lookups, 1,000 rows at a time)."""
    raw: Any = conn.connection.dbapi_connection
    cursor = raw.cursor()
    try:
        cursor.execute(sql_for(conn, sql), tuple(params))
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    finally:
        cursor.close()
    return rows


def executemany(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(sql_for(conn, sql), rows)


# ------------------------------------------------------------------------------------ reading


def _loads(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, str)):
        loaded: dict[str, Any] = orjson.loads(body)
        return loaded
    return {}


def row_entity(row: Sequence[Any]) -> tuple[int, Entity]:
    pk, entity_id, type_, extra, created, modified, body = row[:7]
    attrs = _loads(body)
    scope = attrs.pop("@scope", None)
    types = [type_] if not extra else [type_, *[t for t in extra.strip("|").split("|") if t and t != type_]]
    return pk, Entity(
        id=entity_id, types=types, attrs=attrs, scope=scope, created_at=created, modified_at=modified
    )


def _chunks(items: Sequence[Any], size: int = 900) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def load_entities(conn: Connection, region_id: int, ids: Sequence[str]) -> dict[str, tuple[int, Entity]]:
    found: dict[str, tuple[int, Entity]] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        marks = ",".join("?" * len(chunk))
        rows = execute(
            conn,
            f"SELECT {ENTITY_COLUMNS} FROM hub_entity e WHERE e.region_id = ? AND e.entity_id IN ({marks})",
            [region_id, *chunk],
        ).fetchall()
        for row in rows:
            pk, entity = row_entity(row)
            found[entity.id] = (pk, entity)
    return found


def load_writes(
    conn: Connection, region_id: int, ids: Sequence[str], cache: StateCache | None = None
) -> dict[str, Write]:
    """id -> a ``Write`` of the stored entity, with its indexed columns (``Write.stored``): what a
    merging batch (upsert with options=update) starts from. One query per 1,000 ids.

    With a ``cache`` (``state_cache``), the query reads each row's version (pk and modified_at)
    instead of its body, and the bodies are parsed from the database only for the entities whose
    cached state is missing or of another version (one more query for those)."""
    found: dict[str, Write] = {}
    for chunk in _chunks(list(dict.fromkeys(ids)), 1000):
        marks = ",".join("?" * len(chunk))
        if cache is None:
            missing: Sequence[str] = chunk
        else:
            versions = fetch_all(
                conn,
                f"SELECT entity_id, pk, modified_at FROM hub_entity WHERE region_id = ? AND entity_id IN ({marks})",
                [region_id, *chunk],
            )
            missing = cache.hits(region_id, versions, found)
            if not missing:
                continue
            marks = ",".join("?" * len(missing))
        rows = fetch_all(
            conn,
            f"SELECT {ENTITY_COLUMNS}, e.has_multi, e.min_lon, e.min_lat, e.max_lon, e.max_lat "
            f"FROM hub_entity e WHERE e.region_id = ? AND e.entity_id IN ({marks})",
            [region_id, *missing],
        )
        for row in rows:
            pk, entity = row_entity(row)
            found[entity.id] = Write(entity, pk, [], row[2:4] + row[7:12])
    return found


class StateCache:
    """The parsed stored state of entities this process wrote, by (region, entity id), each with the
    version it was written as: its row's pk and ``modified_at``.

    A merging batch (MQTT observations, batch upsert with options=update) needs every entity's
    stored state: reading and parsing each body cost about a tenth of an MQTT observation's CPU. The
    rows' versions are read in the batch's own transaction, so a state is used only when the row is
    still the one this process wrote (any write, from any process, sets a new ``modified_at``: the
    notifier relies on it too; a deleted and recreated entity has a new pk or ``modified_at``).
    States enter after the commit only (``remember``), so a rolled back batch leaves nothing behind.
    A state handed out is a copy of the attribute map and type list (a merge replaces instances,
    never changes one in place). At most ``limit`` entities: the longest unwritten leaves first."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        # (region, id) -> (pk, modified_at, types, attrs, scope, created_at, stored columns)
        self._states: dict[tuple[int, str], tuple[Any, ...]] = {}
        self._lock = threading.Lock()

    def hits(self, region_id: int, versions: Iterable[tuple[Any, ...]], found: dict[str, Write]) -> list[str]:
        """Put a ``Write`` in ``found`` for each (id, pk, modified_at) whose cached state is of that
        version; return the ids of the others."""
        states = self._states
        missing: list[str] = []
        for entity_id, pk, modified in versions:
            state = states.get((region_id, entity_id))
            if state is None or state[0] != pk or state[1] != modified:
                missing.append(entity_id)
                continue
            _pk, _modified, types, attrs, scope, created, stored = state
            entity = Entity(entity_id, list(types), dict(attrs), scope, created, modified)
            found[entity_id] = Write(entity, pk, [], stored)
        return missing

    def remember(self, region_id: int, writes: Iterable[Write]) -> None:
        """After the commit of ``writes`` (``write_entities`` has set each one's pk and stored columns)."""
        states = self._states
        with self._lock:
            for w in writes:
                e = w.entity
                if w.pk is None or w.stored is None:
                    continue
                key = (region_id, e.id)
                states.pop(key, None)  # re-entered last: the order of the dict is the order of writes
                states[key] = (w.pk, e.modified_at, e.types, e.attrs, e.scope, e.created_at, w.stored)
            while len(states) > self.limit:
                del states[next(iter(states))]

    def has(self, region_id: int, entity_id: str) -> bool:
        return (region_id, entity_id) in self._states

    def clear(self) -> None:
        with self._lock:
            self._states.clear()

    def __len__(self) -> int:
        return len(self._states)


_state_caches: weakref.WeakKeyDictionary[Any, StateCache] = weakref.WeakKeyDictionary()
_state_caches_lock = threading.Lock()


def state_cache_of(engine: Any) -> StateCache | None:
    """The engine's ``StateCache`` if it has one yet."""
    return _state_caches.get(engine)


def state_cache(conn: Connection) -> StateCache:
    """The ``StateCache`` of the connection's engine (one per database in this process)."""
    engine = conn.engine
    cache = _state_caches.get(engine)
    if cache is None:
        with _state_caches_lock:
            cache = _state_caches.get(engine)
            if cache is None:
                cache = _state_caches[engine] = StateCache()
    return cache


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
