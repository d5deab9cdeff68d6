"""Writing history: Create or Update Temporal Representation and Add Attributes (5.6.11, 5.6.12),
Modify and Delete Attribute Instance (5.6.14, 5.6.15), Delete Attribute from and Delete Temporal
Representation (5.6.13, 5.6.16).

Every write checks the principal's write access before it changes anything, and none commits (the
caller owns the unit of work). The rewrites (5.6.13-5.6.16) invalidate the entity's aggregate cache:
a row changed in place keeps its id and time, so the cache's stamps would not see the change.

Choices:
- Writes here record every instance and keep ``hub_entity`` pointing at the newest instance of each
  attribute (and datasetId), so the core API answers with the latest value.
- Editing or deleting single instances (5.6.14/5.6.15) and deleting an attribute's temporal
  representation (5.6.13) rewrite history only; the entity's current state is left as it is.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.hub import access, service, store
from kotacerdas.hub.aggregate_cache import invalidate
from kotacerdas.hub.context import ActiveContext
from kotacerdas.hub.entity import (
    ENTITY_MEMBERS,
    VALUE_MEMBER,
    Entity,
    Parser,
    check_entity_id,
    find_instance,
    format_us,
    now_us,
    parse_datetime,
    put_instance,
    stamp,
)
from kotacerdas.hub.problems import BadRequestData, ResourceNotFound
from kotacerdas.hub.temporal_query import instance_key
from kotacerdas.hub.temporal_read import _has_attr, _json, load_entity

# ------------------------------------------------------------------------------------ adding


def _parse_instances(
    parser: Parser, raw: dict[str, Any], *, skip: frozenset[str]
) -> dict[str, list[dict[str, Any]]]:
    """Attributes of a temporal representation: each an instance or an array of instances."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name, value in raw.items():
        if name in skip:
            continue
        iri = parser.attribute_name(name)
        items = value if isinstance(value, list) else [value]
        if not items:
            raise BadRequestData(f"The attribute {name} has no instances.")
        parsed = []
        for item in items:
            if not isinstance(item, dict):
                raise BadRequestData(f"Each instance of {name} must be a JSON object.")
            parsed.append(parser.instance(iri, item, name))
        found.setdefault(iri, []).extend(parsed)
    return found


def _moment(inst: dict[str, Any], default: int) -> int:
    observed = inst.get("observedAt")
    return parse_datetime(observed) if observed else default


def _apply(write: store.Write, instances: dict[str, list[dict[str, Any]]], now: int) -> None:
    """Stamp and record every instance; the newest of each attribute and datasetId becomes current."""
    now_text = format_us(now)
    entity = write.entity
    for iri, items in instances.items():
        newest: dict[str | None, tuple[int, dict[str, Any]]] = {}
        for inst in items:
            ds = inst.get("datasetId")
            old = find_instance(entity, iri, ds)
            stamp(inst, now_text, old.get("createdAt") if old else None)
            write.history.append((iri, inst, False))
            moment = _moment(inst, now)
            if ds not in newest or moment >= newest[ds][0]:
                newest[ds] = (moment, inst)
        for ds, (moment, inst) in newest.items():
            old = find_instance(entity, iri, ds)
            if old is not None:
                modified = old.get("modifiedAt")
                if _moment(old, parse_datetime(modified) if modified else 0) > moment:
                    continue
            put_instance(entity, iri, inst)


def upsert_temporal(
    session: Session, *, region_id: int, principal: Principal, raw: Any, ctx: ActiveContext
) -> bool:
    """Create or Update Temporal Representation (5.6.11). True when the entity is new."""
    if not isinstance(raw, dict):
        raise BadRequestData("A temporal representation must be a JSON object.")
    parser = Parser(ctx)
    head = parser.entity({k: raw[k] for k in ("id", "type", "scope") if k in raw})
    instances = _parse_instances(parser, raw, skip=ENTITY_MEMBERS)
    key_types = service._entity_types_for(session, principal)
    access.require_write(principal, region_id, head.types, key_types)
    conn = store.connection(session)
    found = store.load_entities(conn, region_id, [head.id]).get(head.id)
    now = now_us()
    if found is None:
        head.created_at = now
        write = store.Write(entity=head)
    else:
        pk, entity = found
        access.require_write(principal, region_id, entity.types, key_types)
        for type_ in head.types:
            if type_ not in entity.types:
                entity.types.append(type_)
        if head.scope is not None:
            entity.scope = head.scope
        write = store.Write(entity=entity, pk=pk)
    _apply(write, instances, now)
    write.entity.modified_at = now
    store.write_entities(conn, region_id, [write])
    service._changed(session, region_id)
    return found is None


def add_instances(
    session: Session, *, region_id: int, principal: Principal, entity_id: str, raw: Any, ctx: ActiveContext
) -> None:
    """Add Attributes to Temporal Representation (5.6.12): the entity must exist."""
    pk, entity = _writable(session, region_id, principal, entity_id)
    if not isinstance(raw, dict):
        raise BadRequestData("The body must be a JSON object of attributes with their instances.")
    instances = _parse_instances(Parser(ctx), raw, skip=frozenset(["@context", "id", "type"]))
    if not instances:
        raise BadRequestData("The body holds no attributes.")
    write = store.Write(entity=entity, pk=pk)
    now = now_us()
    _apply(write, instances, now)
    write.entity.modified_at = now
    store.write_entities(store.connection(session), region_id, [write])
    service._changed(session, region_id)


# ------------------------------------------------------------------------------------ rewriting


def _writable(session: Session, region_id: int, principal: Principal, entity_id: str) -> tuple[int, Entity]:
    pk, entity = load_entity(session, region_id, entity_id)
    access.require_write(principal, region_id, entity.types, service._entity_types_for(session, principal))
    return pk, entity


def _save_row(conn: Connection, pk: int, ts: int, iid: int, attrs: dict[str, Any]) -> None:
    """Store a history row's new instances, or delete the row when none are left."""
    if not attrs:
        store.execute(
            conn, "DELETE FROM hub_history WHERE entity_pk = ? AND ts = ? AND iid = ?", [pk, ts, iid]
        )
        return
    mark = "CAST(? AS jsonb)" if store.is_postgres(conn) else "?"
    store.execute(
        conn,
        f"UPDATE hub_history SET attrs = {mark} WHERE entity_pk = ? AND ts = ? AND iid = ?",
        [orjson.dumps(attrs).decode(), pk, ts, iid],
    )


def _put(attrs: dict[str, Any], iri: str, items: list[dict[str, Any]]) -> None:
    if not items:
        attrs.pop(iri, None)
    else:
        attrs[iri] = items[0] if len(items) == 1 else items


def delete_attribute_history(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    entity_id: str,
    iri: str,
    dataset_id: str | None = None,
    delete_all: bool = False,
) -> None:
    """Delete Attribute from Temporal Representation (5.6.13): its default instances, one datasetId's,
    or (``deleteAll``) every dataset's."""
    pk, _entity = _writable(session, region_id, principal, entity_id)
    conn = store.connection(session)
    params: list[Any] = [pk]
    has = _has_attr(store.is_postgres(conn), iri, params)
    rows = store.execute(
        conn, f"SELECT ts, iid, attrs FROM hub_history WHERE entity_pk = ? AND {has}", params
    ).all()
    removed = 0
    for ts, iid, stored in rows:
        attrs = _json(stored)
        value = attrs.get(iri)
        items = value if isinstance(value, list) else [value]
        kept = [i for i in items if not delete_all and (i or {}).get("datasetId") != dataset_id]
        if len(kept) != len(items):
            removed += len(items) - len(kept)
            _put(attrs, iri, kept)
            _save_row(conn, pk, int(ts), int(iid), attrs)
    if not removed:
        raise ResourceNotFound(f"The entity {entity_id} has no temporal instances of that attribute.")
    invalidate(conn, pk)


def _find_instance(
    conn: Connection, pk: int, iri: str, instance_id: str
) -> tuple[int, int, bool, dict[str, Any], list[dict[str, Any]], int]:
    """(ts, iid, observed, row attrs, the attribute's instances in the row, index) of an instance."""
    iid, index = instance_key(instance_id)
    rows = store.execute(
        conn, "SELECT ts, iid, observed, attrs FROM hub_history WHERE entity_pk = ? AND iid = ?", [pk, iid]
    ).all()
    for ts, row_iid, observed, stored in rows:
        attrs = _json(stored)
        value = attrs.get(iri)
        items = value if isinstance(value, list) else ([value] if value is not None else [])
        if index < len(items):
            return int(ts), int(row_iid), bool(observed), attrs, items, index
    raise ResourceNotFound(f"The attribute has no instance {instance_id}.")


def delete_instance(
    session: Session, *, region_id: int, principal: Principal, entity_id: str, iri: str, instance_id: str
) -> None:
    """Delete Attribute Instance (5.6.15)."""
    pk, _entity = _writable(session, region_id, principal, entity_id)
    conn = store.connection(session)
    ts, iid, _observed, attrs, items, index = _find_instance(conn, pk, iri, instance_id)
    del items[index]
    _put(attrs, iri, items)
    _save_row(conn, pk, ts, iid, attrs)
    invalidate(conn, pk)


def modify_instance(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    entity_id: str,
    attr: str,
    instance_id: str,
    raw: Any,
    ctx: ActiveContext,
) -> None:
    """Modify Attribute Instance (5.6.14): the fragment's members replace the instance's; the
    instance keeps its createdAt and its datasetId (unless the fragment names one), and its
    instanceId unless it had to move to another row."""
    iri = ctx.expand(attr)
    pk, _entity = _writable(session, region_id, principal, entity_id)
    conn = store.connection(session)
    ts, iid, observed, attrs, items, index = _find_instance(conn, pk, iri, instance_id)
    invalidate(conn, pk)  # rows keep their id and time: the cache's stamps would not see the change
    old = items[index]
    fragment = _fragment(raw, ctx, iri)
    kind = old.get("type", "Property")
    fragment.setdefault("type", kind)
    member = VALUE_MEMBER.get(fragment["type"]) if isinstance(fragment["type"], str) else None
    if member is None:
        raise BadRequestData(f"Unknown attribute type {fragment['type']!r}.")
    if member not in fragment:
        if kind != fragment["type"] or member not in old:
            raise BadRequestData(f'The fragment must give the "{member}" of the {fragment["type"]}.')
        fragment[member] = old[member]
    parsed = Parser(ctx).instance(iri, fragment, attr)
    new = {
        k: v
        for k, v in old.items()
        if k not in ("createdAt", "modifiedAt", "deletedAt", "instanceId") and k not in VALUE_MEMBER.values()
    }
    new.update(parsed)
    now = now_us()
    stamp(new, format_us(now), old.get("createdAt"))
    new_ts, new_observed = (
        (parse_datetime(new["observedAt"]), True) if new.get("observedAt") else (now, False)
    )
    if (new_ts, new_observed) == (ts, observed):
        items[index] = new
        _put(attrs, iri, items)
        _save_row(conn, pk, ts, iid, attrs)
        return
    del items[index]  # the instance's time changed: it moves to the row of its new time
    _put(attrs, iri, items)
    _save_row(conn, pk, ts, iid, attrs)
    target = store.execute(
        conn, "SELECT attrs FROM hub_history WHERE entity_pk = ? AND ts = ? AND iid = ?", [pk, new_ts, iid]
    ).first()
    if target is not None:
        moved = _json(target[0])
        value = moved.get(iri)
        _put(moved, iri, [*(value if isinstance(value, list) else [value] if value else []), new])
        _save_row(conn, pk, new_ts, iid, moved)
        return
    mark = "CAST(? AS jsonb)" if store.is_postgres(conn) else "?"
    store.execute(
        conn,
        "INSERT INTO hub_history (entity_pk, ts, iid, region_id, observed, modified_at, attrs) "
        f"VALUES (?,?,?,?,?,?,{mark})",
        [pk, new_ts, iid, region_id, new_observed, now, orjson.dumps({iri: new}).decode()],
    )


def _fragment(raw: Any, ctx: ActiveContext, iri: str) -> dict[str, Any]:
    """The instance in a PATCH body: the instance itself, or ``{attr: instance}``."""
    if isinstance(raw, dict) and len(raw) == 1:
        name, inner = next(iter(raw.items()))
        if name not in VALUE_MEMBER.values() and name != "type" and ctx.expand(name) == iri:
            raw = inner[0] if isinstance(inner, list) and len(inner) == 1 else inner
    if not isinstance(raw, dict) or not raw:
        raise BadRequestData("The body must be a JSON object: the attribute instance's new members.")
    return {k: v for k, v in raw.items() if k not in ("@context", "instanceId")}


def delete_temporal_entity(session: Session, *, region_id: int, principal: Principal, entity_id: str) -> None:
    """Delete Temporal Representation (5.6.16): its history and, as a core delete does, the entity."""
    check_entity_id(entity_id)
    found = store.existing_ids(store.connection(session), region_id, [entity_id]).get(entity_id)
    service.delete_entity(session, region_id=region_id, principal=principal, entity_id=entity_id)
    if found is not None:
        invalidate(store.connection(session), found[0])
