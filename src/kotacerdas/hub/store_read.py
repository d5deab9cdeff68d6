"""Reading entities from ``hub_entity``: rows into ``Entity`` objects, and the stored state a merging
batch starts from, with the ``StateCache`` that spares it parsing the bodies this process wrote.

The ``StateCache`` objects and their per-engine registry (``_state_caches``) live here and only here:
one cache per database in this process, whichever module asks for it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from kotacerdas.hub.entity import Entity
from kotacerdas.hub.store_sql import _chunks, _loads, execute, fetch_all
from kotacerdas.hub.store_write import Write

ENTITY_COLUMNS = "e.pk, e.entity_id, e.type, e.extra_types, e.created_at, e.modified_at, e.body"


def row_entity(row: Sequence[Any]) -> tuple[int, Entity]:
    pk, entity_id, type_, extra, created, modified, body = row[:7]
    attrs = _loads(body)
    scope = attrs.pop("@scope", None)
    types = [type_] if not extra else [type_, *[t for t in extra.strip("|").split("|") if t and t != type_]]
    return pk, Entity(
        id=entity_id, types=types, attrs=attrs, scope=scope, created_at=created, modified_at=modified
    )


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
