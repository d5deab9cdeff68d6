"""What every write of the entity service shares: the @context resolver per engine, the change
listeners, the one path by which state reaches the store, the write-access check and the stamping
of new state.

It lives apart so that ``service`` (single-entity writes) and ``batch`` (batch writes) build on the
same objects without importing each other: there is exactly one list of change listeners and one
resolver cache per engine in the process, and every write goes through ``_write``, so it always
wakes the notifier. It imports neither module.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.db import after_commit
from kotacerdas.hub import access, store
from kotacerdas.hub.context import ActiveContext, ContextResolver
from kotacerdas.hub.entity import CORE_MEMBERS, Entity, format_us, instances_of, stamp
from kotacerdas.hub.problems import NgsiError

_ONLY_DICTS = frozenset([dict])

# ------------------------------------------------------------------------------ context resolver

_resolvers: dict[str, ContextResolver] = {}
_resolver_lock = threading.Lock()


def resolver_for(engine: Engine, *, timeout: float = 5.0, cache_seconds: float = 3600.0) -> ContextResolver:
    """One resolver per database: it reads documents preloaded by operators and keeps fetched ones."""
    key = engine.url.render_as_string(hide_password=False)
    resolver = _resolvers.get(key)
    if resolver is not None:
        return resolver
    from kotacerdas.hub import contexts

    with _resolver_lock:
        resolver = _resolvers.get(key)
        if resolver is None:
            resolver = ContextResolver(
                timeout=timeout,
                cache_seconds=cache_seconds,
                preloaded=lambda url: contexts.stored_document(engine, url),
                store_fetched=lambda url, doc: contexts.keep_fetched(engine, url, doc),
            )
            _resolvers[key] = resolver
    return resolver


def core_context() -> ActiveContext:
    return ContextResolver(preloaded=lambda _url: None).core


# --------------------------------------------------------------------------------- change hooks

ChangeListener = Callable[[int], None]
_listeners: list[ChangeListener] = []


def on_change(listener: ChangeListener) -> None:
    """Call ``listener(region_id)`` after every commit that changed hub entities (wakes the notifier)."""
    if listener not in _listeners:
        _listeners.append(listener)


def _changed(session: Session, region_id: int) -> None:
    if _listeners and not session.info.get(("hub_changed", region_id)):
        session.info[("hub_changed", region_id)] = True

        def _fire() -> None:
            for listener in list(_listeners):
                listener(region_id)

        after_commit(session, _fire)


# ------------------------------------------------------------------------------- writing state


def _write(session: Session, region_id: int, writes: list[store.Write], *, dedupe: bool = False) -> None:
    store.write_entities(store.connection(session), region_id, writes, dedupe=dedupe)
    _changed(session, region_id)


# ------------------------------------------------------------------------------------- results


@dataclass
class BatchOutcome:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    errors: list[tuple[str | None, NgsiError]] = field(default_factory=list)

    @property
    def success(self) -> list[str]:
        return self.created + self.updated


@dataclass
class UpdateOutcome:
    updated: list[str] = field(default_factory=list)  # attribute IRIs
    not_updated: list[tuple[str, str]] = field(default_factory=list)  # (attribute IRI, reason)


@dataclass
class WriteOptions:
    principal: Principal
    entity_types: frozenset[str] | None = None  # the key's type scope (None: every type)


def key_entity_types(session: Session, principal: Principal) -> frozenset[str] | None:
    if principal.kind != "api_key" or principal.api_key_id is None:
        return None
    row = store.execute(
        store.connection(session), "SELECT entity_types FROM api_key WHERE id = ?", [principal.api_key_id]
    ).first()
    if row is None or row[0] is None:
        return None
    value = row[0]
    if isinstance(value, str):
        import orjson

        value = orjson.loads(value)
    return frozenset(value) if value else None


def _entity_types_for(session: Session, principal: Principal) -> frozenset[str] | None:
    cache_key = ("hub_key_types", principal.api_key_id)
    if cache_key not in session.info:
        session.info[cache_key] = key_entity_types(session, principal)
    cached: frozenset[str] | None = session.info[cache_key]
    return cached


def _require_write(session: Session, principal: Principal, region_id: int, types: Sequence[str]) -> None:
    access.require_write(principal, region_id, types, _entity_types_for(session, principal))


# ------------------------------------------------------------------------------------- writing


def _new_state(
    entity: Entity, now: int, created_at: int | None = None, stamp_text: str | None = None
) -> store.Write:
    stamp_text = stamp_text or format_us(now)
    attrs = entity.attrs
    values = attrs.values()
    history: list[tuple[str, dict[str, Any], bool]]
    if _ONLY_DICTS.issuperset(map(type, values)) and all(map(CORE_MEMBERS.issuperset, values)):
        # one instance per attribute and no sub-attributes (a device's update): stamped in C
        stamps = {"createdAt": stamp_text, "modifiedAt": stamp_text}
        deque(map(dict.update, values, repeat(stamps)), maxlen=0)
        history = list(zip(attrs, values, repeat(False)))
        entity.created_at = created_at if created_at is not None else now
        entity.modified_at = now
        return store.Write(entity=entity, history=history)
    history = []
    append = history.append
    for iri, value in attrs.items():
        if type(value) is dict and CORE_MEMBERS.issuperset(value):  # one instance, no sub-attributes
            value["createdAt"] = stamp_text
            value["modifiedAt"] = stamp_text
            append((iri, value, False))
            continue
        for inst in instances_of(value):
            stamp(inst, stamp_text)
            append((iri, inst, False))
    entity.created_at = created_at if created_at is not None else now
    entity.modified_at = now
    return store.Write(entity=entity, history=history)
