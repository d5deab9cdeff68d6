"""The hub's domain interface. Other domains (parking, the dashboards, ingest) call these functions.

Every function takes the session of the caller's unit of work and only flushes; the caller commits.
Inputs are NGSI-LD JSON (dicts) plus the @context they were written with; outputs are internal
``Entity`` objects that ``kotacerdas.hub.entity.Renderer`` turns back into NGSI-LD.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.db import after_commit
from kotacerdas.hub import access, store
from kotacerdas.hub.context import ActiveContext, ContextResolver, ContextValue
from kotacerdas.hub.entity import (
    CORE_MEMBERS,
    NULL,
    VALUE_MEMBER,
    Entity,
    Parser,
    check_entity_id,
    find_instance,
    format_us,
    instances_of,
    merge_partial,
    now_us,
    put_instance,
    remove_instance,
    stamp,
)
from kotacerdas.hub.fastparse import FastParser
from kotacerdas.hub.problems import (
    AlreadyExists,
    BadRequestData,
    NgsiError,
    ResourceNotFound,
    TooManyResults,
)

MAX_BATCH = 1000
_ONLY_DICTS = frozenset([dict])
Mode = Literal["replace", "update"]

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


def create_entity(
    session: Session, *, region_id: int, principal: Principal, raw: Any, ctx: ActiveContext
) -> Entity:
    entity = Parser(ctx).entity(raw)
    _require_write(session, principal, region_id, entity.types)
    conn = store.connection(session)
    if store.existing_ids(conn, region_id, [entity.id]):
        raise AlreadyExists(f"The entity {entity.id} already exists.")
    write = _new_state(entity, now_us())
    _write(session, region_id, [write])
    return entity


def upsert_entities(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    entities: list[Any],
    context: ContextValue = None,
    ctx: ActiveContext | None = None,
    mode: Mode = "replace",
    redelivered: bool = False,
) -> BatchOutcome:
    """Batch upsert (5.6.8): create what is new; replace (or, with ``update``, merge into) the rest.

    Invalid entities are reported in ``errors`` and the others written, in one statement per table.
    ``redelivered`` (an MQTT redelivery) skips history instances already stored.
    """
    if ctx is None:
        ctx = resolver_for(session.get_bind()).resolve(context)  # type: ignore[arg-type]
    return _batch_write(
        session,
        region_id=region_id,
        principal=principal,
        entities=entities,
        ctx=ctx,
        op="upsert",
        mode=mode,
        dedupe=redelivered,
    )


def create_entities(
    session: Session, *, region_id: int, principal: Principal, entities: list[Any], ctx: ActiveContext
) -> BatchOutcome:
    return _batch_write(
        session,
        region_id=region_id,
        principal=principal,
        entities=entities,
        ctx=ctx,
        op="create",
        mode="replace",
    )


def update_entities(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    entities: list[Any],
    ctx: ActiveContext,
    no_overwrite: bool = False,
) -> BatchOutcome:
    """Batch update (5.6.9): append attributes to existing entities (``noOverwrite`` keeps existing)."""
    return _batch_write(
        session,
        region_id=region_id,
        principal=principal,
        entities=entities,
        ctx=ctx,
        op="update",
        mode="update",
        no_overwrite=no_overwrite,
    )


class ParsedBatch(list[tuple[str | None, "Entity | NgsiError"]]):
    """A batch already parsed (outside the transaction, so parsing does not hold the write lock)."""


def parse_batch(entities: Any, ctx: ActiveContext) -> ParsedBatch:
    """Parse a batch body: each item becomes an Entity or the error that refused it."""
    if not isinstance(entities, list):
        raise BadRequestData("A batch operation takes a JSON array of entities.")
    if len(entities) > MAX_BATCH:
        raise TooManyResults(f"A batch may hold at most {MAX_BATCH} entities; this one has {len(entities)}.")
    parser = FastParser(ctx)
    out = ParsedBatch()
    for raw in entities:
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        try:
            out.append((raw_id if isinstance(raw_id, str) else None, parser.entity(raw)))
        except NgsiError as exc:
            out.append((raw_id if isinstance(raw_id, str) else None, exc))
    return out


def _batch_write(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    entities: list[Any],
    ctx: ActiveContext,
    op: Literal["create", "upsert", "update"],
    mode: Mode,
    no_overwrite: bool = False,
    dedupe: bool = False,
) -> BatchOutcome:
    outcome = BatchOutcome()
    key_types = _entity_types_for(session, principal)
    parsed: list[Entity] = []
    items = entities if isinstance(entities, ParsedBatch) else parse_batch(entities, ctx)
    refusals: dict[tuple[str, ...], NgsiError | None] = {}  # the access check of each list of types
    for raw_id, entity in items:
        if isinstance(entity, NgsiError):
            outcome.errors.append((raw_id, entity))
            continue
        types = tuple(entity.types)
        if types not in refusals:
            try:
                access.require_write(principal, region_id, types, key_types)
                refusals[types] = None
            except NgsiError as exc:
                refusals[types] = exc
        refused = refusals[types]
        if refused is not None:
            outcome.errors.append((raw_id, refused))
            continue
        parsed.append(entity)
    if not parsed:
        return outcome
    conn = store.connection(session)
    now = now_us()
    stamp_text = format_us(now)
    ids = [e.id for e in parsed]
    current: dict[str, store.Write] = {}
    known: Mapping[str, tuple[int, int, store.StoredColumns | None]]  # id -> (pk, created_at, columns)
    cache: store.StateCache | None = None
    if mode == "update":
        cache = store.state_cache(conn)
        current = store.load_writes(conn, region_id, ids, cache)
        known = {eid: (w.pk or 0, w.entity.created_at or now, w.stored) for eid, w in current.items()}
    else:
        known = store.existing_rows(conn, region_id, ids)
    pending: dict[str, store.Write] = {}
    for entity in parsed:
        previous = pending.get(entity.id)
        found = known.get(entity.id)
        exists = found is not None or previous is not None
        if op == "create" and exists:
            outcome.errors.append((entity.id, AlreadyExists(f"The entity {entity.id} already exists.")))
            continue
        if op == "update" and not exists:
            outcome.errors.append((entity.id, ResourceNotFound(f"The entity {entity.id} does not exist.")))
            continue
        if mode == "replace" or not exists:
            created_at = found[1] if found is not None else None
            if previous is not None and previous.entity.created_at is not None:
                created_at = previous.entity.created_at
            write = _new_state(entity, now, created_at, stamp_text)
            write.pk = found[0] if found is not None else (previous.pk if previous else None)
            if found is not None:
                write.stored = found[2]
            if previous is not None:
                write.history = previous.history + write.history
            pending[entity.id] = write
        else:
            target = previous if previous is not None else current[entity.id]
            _merge_attributes(target, entity, stamp_text, no_overwrite=no_overwrite)
            for type_ in entity.types:
                if type_ not in target.entity.types:
                    target.entity.types.append(type_)
            target.entity.modified_at = now
            pending[entity.id] = target
        if previous is None:  # reported once, however often the batch holds it
            (outcome.updated if found is not None else outcome.created).append(entity.id)
    if pending:
        written = list(pending.values())
        _write(session, region_id, written, dedupe=dedupe)
        if cache is not None:
            after_commit(session, lambda: cache.remember(region_id, written))
    return outcome


def _merge_attributes(
    target: store.Write, incoming: Entity, stamp_text: str, *, no_overwrite: bool = False
) -> UpdateOutcome:
    result = UpdateOutcome()
    attrs = target.entity.attrs
    append = target.history.append
    for iri, value in incoming.attrs.items():
        if (
            type(value) is dict
            and not no_overwrite
            and "datasetId" not in value
            and CORE_MEMBERS.issuperset(value)
        ):
            # the usual device update: one default instance without sub-attributes, replacing the stored
            # default instance (or none): what the general loop below does, without its lookups
            current = attrs.get(iri)
            if current is None or (type(current) is dict and "datasetId" not in current):
                value["createdAt"] = (current.get("createdAt") if current is not None else None) or stamp_text
                value["modifiedAt"] = stamp_text
                attrs[iri] = value
                append((iri, value, False))
                result.updated.append(iri)
                continue
        for inst in instances_of(value):
            old = find_instance(target.entity, iri, inst.get("datasetId"))
            if old is not None and no_overwrite:
                result.not_updated.append((iri, "attribute exists and noOverwrite was asked"))
                continue
            stamp(inst, stamp_text, old.get("createdAt") if old else None)
            put_instance(target.entity, iri, inst)
            target.history.append((iri, inst, False))
            if iri not in result.updated:
                result.updated.append(iri)
    return result


def delete_entities(
    session: Session, *, region_id: int, principal: Principal, ids: list[Any]
) -> BatchOutcome:
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadRequestData("Batch delete takes a JSON array of entity ids.")
    if len(ids) > MAX_BATCH:
        raise TooManyResults(f"A batch may hold at most {MAX_BATCH} entities.")
    outcome = BatchOutcome()
    conn = store.connection(session)
    current = store.load_entities(conn, region_id, ids)
    key_types = _entity_types_for(session, principal)
    pks: list[int] = []
    for entity_id in ids:
        found = current.get(entity_id)
        if found is None:
            outcome.errors.append((entity_id, ResourceNotFound(f"The entity {entity_id} does not exist.")))
            continue
        try:
            access.require_write(principal, region_id, found[1].types, key_types)
        except NgsiError as exc:
            outcome.errors.append((entity_id, exc))
            continue
        if found[0] not in pks:
            pks.append(found[0])
            outcome.updated.append(entity_id)
    if pks:
        from kotacerdas.hub import subscriptions

        subscriptions.record_deletions(session, region_id, [current[eid][1] for eid in outcome.updated])
        store.delete_entities(conn, region_id, pks)
        _changed(session, region_id)
    return outcome


def delete_entity(session: Session, *, region_id: int, principal: Principal, entity_id: str) -> None:
    outcome = delete_entities(session, region_id=region_id, principal=principal, ids=[entity_id])
    if outcome.errors:
        raise outcome.errors[0][1]


# ------------------------------------------------------------------------- single-entity writes


def _load_for_write(session: Session, region_id: int, principal: Principal, entity_id: str) -> store.Write:
    check_entity_id(entity_id)
    found = store.load_entities(store.connection(session), region_id, [entity_id]).get(entity_id)
    if found is None:
        raise ResourceNotFound(f"The entity {entity_id} does not exist.")
    _require_write(session, principal, region_id, found[1].types)
    return store.Write(entity=found[1], pk=found[0])


def _save(session: Session, region_id: int, write: store.Write, now: int) -> None:
    write.entity.modified_at = now
    _write(session, region_id, [write])


def _attrs_body(raw: Any, ctx: ActiveContext, *, allow_null: bool = False) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRequestData("The body must be a JSON object of attributes.")
    body = {k: v for k, v in raw.items() if k not in ("@context", "id", "type")}
    if not body:
        raise BadRequestData("The body holds no attributes.")
    return Parser(ctx, allow_null=allow_null).attributes(body, skip=frozenset(["createdAt", "modifiedAt"]))


def append_attributes(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    entity_id: str,
    raw: Any,
    ctx: ActiveContext,
    no_overwrite: bool = False,
) -> UpdateOutcome:
    """Append Entity Attributes (5.6.3)."""
    write = _load_for_write(session, region_id, principal, entity_id)
    attrs = _attrs_body(raw, ctx)
    now = now_us()
    result = _merge_attributes(
        write, Entity(id=entity_id, types=[], attrs=attrs), format_us(now), no_overwrite=no_overwrite
    )
    if result.updated:
        _save(session, region_id, write, now)
    return result


def update_attributes(
    session: Session, *, region_id: int, principal: Principal, entity_id: str, raw: Any, ctx: ActiveContext
) -> UpdateOutcome:
    """Update Entity Attributes (5.6.2): only attributes that exist; NGSI-LD Null deletes one."""
    write = _load_for_write(session, region_id, principal, entity_id)
    attrs = _attrs_body(raw, ctx, allow_null=True)
    now = now_us()
    stamp_text = format_us(now)
    result = UpdateOutcome()
    for iri, value in attrs.items():
        for inst in instances_of(value):
            ds = inst.get("datasetId")
            old = find_instance(write.entity, iri, ds)
            if old is None:
                result.not_updated.append((iri, "attribute does not exist"))
                continue
            if _is_null(inst):
                remove_instance(write.entity, iri, ds)
                write.history.append((iri, _deletion(old, stamp_text), True))
            else:
                stamp(inst, stamp_text, old.get("createdAt"))
                put_instance(write.entity, iri, inst)
                write.history.append((iri, inst, False))
            if iri not in result.updated:
                result.updated.append(iri)
    if result.updated:
        _save(session, region_id, write, now)
    return result


def _is_null(inst: dict[str, Any]) -> bool:
    member = VALUE_MEMBER.get(inst.get("type", "Property"), "value")
    return inst.get(member) == NULL


def _deletion(old: dict[str, Any], stamp_text: str) -> dict[str, Any]:
    kind = old.get("type", "Property")
    member = VALUE_MEMBER.get(kind, "value")
    gone: dict[str, Any] = {"type": kind, member: NULL, "deletedAt": stamp_text, "modifiedAt": stamp_text}
    if "datasetId" in old:
        gone["datasetId"] = old["datasetId"]
    return gone


def partial_update_attribute(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    entity_id: str,
    attr: str,
    raw: Any,
    ctx: ActiveContext,
) -> None:
    """Partial Attribute Update (5.6.4): members of the fragment replace those of the instance."""
    iri = ctx.expand(attr)
    write = _load_for_write(session, region_id, principal, entity_id)
    if not isinstance(raw, dict) or not raw:
        raise BadRequestData("The body must be a JSON object with the members to change.")
    dataset_id = raw.get("datasetId")
    old = find_instance(write.entity, iri, dataset_id)
    if old is None:
        raise ResourceNotFound(
            f"The entity {entity_id} has no attribute {attr}"
            + (f" with datasetId {dataset_id}" if dataset_id else "")
            + "."
        )
    kind = old.get("type", "Property")
    fragment = dict(raw)
    fragment.setdefault("type", kind)
    if fragment["type"] != kind:
        raise BadRequestData(f"The attribute {attr} is a {kind}; its type cannot change in a partial update.")
    member = VALUE_MEMBER[kind]
    if member not in fragment:
        fragment[member] = old[member]
    parsed = Parser(ctx, allow_null=True).instance(iri, fragment, attr)
    now = now_us()
    stamp_text = format_us(now)
    if parsed.get(member) == NULL:
        remove_instance(write.entity, iri, dataset_id)
        write.history.append((iri, _deletion(old, stamp_text), True))
    else:
        changes = {k: v for k, v in parsed.items() if k in raw or k not in CORE_MEMBERS or k == member}
        for key, value in raw.items():  # NGSI-LD Null in a sub-attribute or member removes it
            if value == NULL and key not in (member, "type"):
                changes[ctx.expand(key) if key not in CORE_MEMBERS else key] = NULL
        merge_partial(old, changes, stamp_text)
        write.history.append((iri, old, False))
    _save(session, region_id, write, now)


def replace_attribute(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    entity_id: str,
    attr: str,
    raw: Any,
    ctx: ActiveContext,
) -> None:
    """Replace Attribute (5.6.19)."""
    iri = ctx.expand(attr)
    write = _load_for_write(session, region_id, principal, entity_id)
    inst = Parser(ctx).instance(iri, raw, attr)
    old = find_instance(write.entity, iri, inst.get("datasetId"))
    if old is None:
        raise ResourceNotFound(f"The entity {entity_id} has no attribute {attr}.")
    now = now_us()
    stamp(inst, format_us(now), old.get("createdAt"))
    put_instance(write.entity, iri, inst)
    write.history.append((iri, inst, False))
    _save(session, region_id, write, now)


def delete_attribute(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    entity_id: str,
    attr: str,
    ctx: ActiveContext,
    dataset_id: str | None = None,
    delete_all: bool = False,
) -> None:
    iri = ctx.expand(attr)
    write = _load_for_write(session, region_id, principal, entity_id)
    olds = write.entity.instances(iri)
    targets = olds if delete_all else [i for i in olds if i.get("datasetId") == dataset_id]
    if not targets:
        raise ResourceNotFound(
            f"The entity {entity_id} has no attribute {attr}"
            + (f" with datasetId {dataset_id}" if dataset_id else "")
            + "."
        )
    now = now_us()
    stamp_text = format_us(now)
    remove_instance(write.entity, iri, dataset_id, all_datasets=delete_all)
    for old in targets:
        write.history.append((iri, _deletion(old, stamp_text), True))
    _save(session, region_id, write, now)


def merge_entity(
    session: Session, *, region_id: int, principal: Principal, entity_id: str, raw: Any, ctx: ActiveContext
) -> None:
    """Merge Entity (5.6.17, JSON Merge Patch semantics): NGSI-LD Null deletes, objects merge."""
    write = _load_for_write(session, region_id, principal, entity_id)
    if not isinstance(raw, dict):
        raise BadRequestData("The body must be a JSON object.")
    if "id" in raw and raw["id"] != entity_id:
        raise BadRequestData("The id in the body differs from the id in the path.")
    attrs = {
        k: v
        for k, v in raw.items()
        if k not in ("@context", "id", "type", "scope", "createdAt", "modifiedAt")
    }
    parsed = Parser(ctx, allow_null=True).attributes(attrs)
    now = now_us()
    stamp_text = format_us(now)
    if "type" in raw:
        for type_ in Parser(ctx).types(raw["type"]):
            if type_ not in write.entity.types:
                write.entity.types.append(type_)
        _require_write(session, principal, region_id, write.entity.types)
    for iri, value in parsed.items():
        for inst in instances_of(value):
            ds = inst.get("datasetId")
            old = find_instance(write.entity, iri, ds)
            if _is_null(inst):
                if old is not None:
                    remove_instance(write.entity, iri, ds)
                    write.history.append((iri, _deletion(old, stamp_text), True))
                continue
            if old is not None and old.get("type") == inst.get("type"):
                merge_partial(old, inst, stamp_text)
                write.history.append((iri, old, False))
            else:
                stamp(inst, stamp_text, old.get("createdAt") if old else None)
                put_instance(write.entity, iri, inst)
                write.history.append((iri, inst, False))
    _save(session, region_id, write, now)


def replace_entity(
    session: Session, *, region_id: int, principal: Principal, entity_id: str, raw: Any, ctx: ActiveContext
) -> None:
    """Replace Entity (5.6.18): the new attributes replace all old ones; id and createdAt stay."""
    write = _load_for_write(session, region_id, principal, entity_id)
    if not isinstance(raw, dict):
        raise BadRequestData("The body must be a JSON object.")
    body = dict(raw)
    if body.get("id", entity_id) != entity_id:
        raise BadRequestData("The id in the body differs from the id in the path.")
    body["id"] = entity_id
    entity = Parser(ctx).entity(body)
    _require_write(session, principal, region_id, entity.types)
    now = now_us()
    stamp_text = format_us(now)
    new = _new_state(entity, now, write.entity.created_at)
    new.pk = write.pk
    for iri, value in write.entity.attrs.items():
        if iri not in entity.attrs and not iri.startswith("@"):
            for old in instances_of(value):
                new.history.append((iri, _deletion(old, stamp_text), True))
    _write(session, region_id, [new])


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
