"""The hub's domain interface. Other domains (parking, the dashboards, ingest) call these functions.

Every function takes the session of the caller's unit of work and only flushes; the caller commits.
Inputs are NGSI-LD JSON (dicts) plus the @context they were written with; outputs are internal
``Entity`` objects that ``kotacerdas.hub.entity.Renderer`` turns back into NGSI-LD.

The service is split by sub-domain; the names other modules use stay importable from here:

- ``kotacerdas.hub.write_path``: the @context resolver per engine, the change listeners that wake the
  notifier (one list), the store write, write access and the stamping of new state;
- ``kotacerdas.hub.batch``: batch create/upsert/update/delete and the attribute merge;
- ``kotacerdas.hub.entity_reads``: retrieve, Query Entities, the read filter, type discovery;
- this module: single-entity writes (create, delete, attribute append/update/patch/replace/delete,
  merge and replace).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.hub import store
from kotacerdas.hub.batch import (
    MAX_BATCH as MAX_BATCH,
    Mode as Mode,
    ParsedBatch as ParsedBatch,
    _merge_attributes as _merge_attributes,
    create_entities as create_entities,
    delete_entities as delete_entities,
    parse_batch as parse_batch,
    update_entities as update_entities,
    upsert_entities as upsert_entities,
)
from kotacerdas.hub.context import ActiveContext
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
from kotacerdas.hub.entity_reads import (
    NEAR_BODY_CHUNK as NEAR_BODY_CHUNK,
    NEAR_FIRST_RADIUS as NEAR_FIRST_RADIUS,
    SCAN_CHUNK as SCAN_CHUNK,
    EntityQuery as EntityQuery,
    QueryResult as QueryResult,
    _query_near as _query_near,
    attribute_count as attribute_count,
    get_entity as get_entity,
    query_entities as query_entities,
    read_filter as read_filter,
    type_attributes as type_attributes,
    type_counts as type_counts,
)
from kotacerdas.hub.problems import AlreadyExists, BadRequestData, ResourceNotFound
from kotacerdas.hub.write_path import (
    BatchOutcome as BatchOutcome,
    ChangeListener as ChangeListener,
    UpdateOutcome as UpdateOutcome,
    WriteOptions as WriteOptions,
    _changed as _changed,
    _entity_types_for as _entity_types_for,
    _new_state as _new_state,
    _require_write,
    _write,
    core_context as core_context,
    key_entity_types as key_entity_types,
    on_change as on_change,
    resolver_for as resolver_for,
)

# ------------------------------------------------------------------------------------- writing


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
