"""Batch entity operations (GS CIM 009, 5.6.7-5.6.10): create, upsert, update and delete many
entities in one unit of work, with a per-entity outcome.

A batch is parsed whole (``parse_batch``, possibly before the transaction, as MQTT ingest does),
checked once per list of types, and written in one statement per table through the shared write
path (``kotacerdas.hub.write_path``), so it wakes the notifier like any other write. Invalid or
refused entities are reported in ``BatchOutcome.errors`` and never stop the others.
``_merge_attributes`` is also the merge of Append Entity Attributes (``service``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.db import after_commit
from kotacerdas.hub import access, store
from kotacerdas.hub.context import ActiveContext, ContextValue
from kotacerdas.hub.entity import (
    CORE_MEMBERS,
    Entity,
    find_instance,
    format_us,
    instances_of,
    now_us,
    put_instance,
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
from kotacerdas.hub.write_path import (
    BatchOutcome,
    UpdateOutcome,
    _changed,
    _entity_types_for,
    _new_state,
    _write,
    resolver_for,
)

MAX_BATCH = 1000
Mode = Literal["replace", "update"]


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
