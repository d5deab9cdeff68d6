"""What the notifier matches and shows: a subscription as the notifier holds it (``Live``), one entity
state to consider (``Change``), whether the one concerns the other (``matches``), and the entity as the
notification shows it (``render``).

No database, no HTTP, no clock: reading the changes (``notify_regions``) and the timeInterval
notifications (``notify_periodic``) bring the entities, and both show them through ``render`` here, so a
subscription shows an entity the same way whatever made it notify. Times are µs since the epoch.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kotacerdas.hub.entity import (
    LOCATION,
    VALUE_MEMBER,
    Entity,
    Renderer,
    format_us,
    instances_of,
    parse_datetime,
)
from kotacerdas.hub.subscriptions import GEOJSON, Compiled

SECOND = 1_000_000

Key = tuple[int, int]  # (entity pk, modified_at) or (-deletion pk, deleted_at)


@lru_cache(maxsize=8192)
def _us(text: str) -> int:
    return parse_datetime(text)


def _ms_floor(us: int) -> int:
    return us - us % 1000


# --------------------------------------------------------------------------------- subscriptions


@dataclass
class Live:
    """A subscription as the notifier holds it between reloads, with what matching asks every time
    worked out once."""

    compiled: Compiled
    region_code: str
    owner_ok: bool
    exclude: frozenset[str]  # entity types its owner may not read
    only: frozenset[str] | None  # when everything is private: the public types
    throttling_us: int | None
    interval_us: int | None
    next_due: int | None
    render_id: int = 0  # equal for subscriptions that render an entity the same way
    since: int = 0  # changes before its last update are not its business
    on_entity_created: bool = False
    on_entity_updated: bool = False
    on_entity_deleted: bool = False
    on_attribute_created: bool = False
    on_attribute_updated: bool = False
    on_attribute_deleted: bool = False

    def __post_init__(self) -> None:
        triggers = self.compiled.triggers
        self.since = self.compiled.record.modified_at
        self.on_entity_created = "entityCreated" in triggers
        self.on_entity_updated = "entityUpdated" in triggers
        self.on_entity_deleted = "entityDeleted" in triggers
        self.on_attribute_created = "attributeCreated" in triggers
        self.on_attribute_updated = "attributeUpdated" in triggers
        self.on_attribute_deleted = "attributeDeleted" in triggers

    @property
    def pk(self) -> int:
        return self.compiled.record.pk

    def render_signature(self) -> tuple[Any, ...]:
        c = self.compiled
        return (
            id(c.ctx),
            c.rendering,
            c.attrs,
            c.omit,
            c.keep_id,
            c.keep_type,
            c.accept == GEOJSON,
            c.show_changes,
            c.watched if self.on_attribute_deleted else None,
            self.on_attribute_deleted,
        )

    def deliverable(self, now: int) -> bool:
        record = self.compiled.record
        expires = record.expires_at
        return self.owner_ok and record.is_active and (expires is None or expires > now)


# ------------------------------------------------------------------------------------- changes


class Change:
    """One entity state to consider: what changed in it since ``since`` is worked out once."""

    __slots__ = ("_sets", "at", "created", "deleted_at", "entity", "gone", "key", "previous", "since")

    def __init__(self, key: Key, entity: Entity, since: int, deleted_at: int | None = None) -> None:
        self.key = key
        self.at = key[1]
        self.entity = entity
        self.since = since
        self.deleted_at = deleted_at
        self.gone: dict[str, list[dict[str, Any]]] = {}  # attributeDeleted: iri -> deletion instances
        self.previous: dict[tuple[str, str | None], tuple[str, Any]] = {}  # showChanges
        created = entity.created_at or 0
        self.created = created > since or created >= _ms_floor(self.at)
        self._sets: tuple[frozenset[str], frozenset[str]] | None = None

    def attribute_sets(self) -> tuple[frozenset[str], frozenset[str]]:
        """(attributes with an instance created, attributes with an instance updated) in this change."""
        if self._sets is None:
            floor = _ms_floor(self.at)
            since = self.since
            new: set[str] = set()
            updated: set[str] = set()
            for iri, value in self.entity.attrs.items():
                if iri[0] == "@":
                    continue
                for inst in value if isinstance(value, list) else (value,):
                    modified = inst.get("modifiedAt")
                    if not modified:
                        continue
                    modified_us = _us(modified)
                    if modified_us <= since and modified_us < floor:
                        continue
                    created_us = _us(inst.get("createdAt") or modified)
                    (new if created_us > since or created_us >= floor else updated).add(iri)
            self._sets = (frozenset(new), frozenset(updated))
        return self._sets


def matches(live: Live, change: Change) -> bool:
    """Whether ``change`` concerns the subscription (its triggers, watched attributes, filters)."""
    if change.at < live.since:
        return False
    entity = change.entity
    if live.only is not None:
        if entity.types[0] not in live.only:
            return False
    elif live.exclude and entity.types[0] in live.exclude:
        return False
    c = live.compiled
    if change.deleted_at is not None:
        return live.on_entity_deleted and c.selects(entity)
    if not c.selects(entity):
        return False
    watched = c.watched
    if change.created:
        if live.on_entity_created:
            return True
        return live.on_attribute_created and (watched is None or not watched.isdisjoint(entity.attrs))
    new, updated = change.attribute_sets()
    gone: AbstractSet[str] = change.gone.keys()
    if watched is not None:
        new, updated = new & watched, updated & watched
        gone = gone & watched
    if live.on_entity_updated and (watched is None or new or updated or gone):
        return True
    return bool(
        (live.on_attribute_created and new)
        or (live.on_attribute_updated and updated)
        or (live.on_attribute_deleted and gone)
    )


def _previous_member(inst: dict[str, Any]) -> tuple[str, Any] | None:
    kind = inst.get("type", "Property")
    member = VALUE_MEMBER.get(kind, "value")
    if member not in inst:
        return None
    return "previous" + member[0].upper() + member[1:], inst[member]


def render(live: Live, change: Change) -> dict[str, Any]:
    """The entity of ``change`` as the subscription's notification shows it."""
    c = live.compiled
    entity = change.entity
    if change.deleted_at is not None:
        types = [c.ctx.compact(t) for t in entity.types]
        return {
            "id": entity.id,
            "type": types[0] if len(types) == 1 else types,
            "deletedAt": format_us(change.deleted_at),
        }
    wants_gone = live.on_attribute_deleted and change.gone
    if wants_gone or (c.show_changes and change.previous):
        attrs = dict(entity.attrs)
        if c.show_changes and change.previous:
            for iri, value in entity.attrs.items():
                shown = []
                for inst in instances_of(value):
                    prev = change.previous.get((iri, inst.get("datasetId")))
                    shown.append({**inst, prev[0]: prev[1]} if prev is not None else inst)
                attrs[iri] = shown[0] if len(shown) == 1 else shown
        if wants_gone:
            for iri, instances in change.gone.items():
                if c.watched is None or iri in c.watched:
                    attrs[iri] = [*instances_of(attrs[iri]), *instances] if iri in attrs else instances
                    if len(instances_of(attrs[iri])) == 1:
                        attrs[iri] = instances_of(attrs[iri])[0]
        entity = Entity(
            id=entity.id,
            types=entity.types,
            attrs=attrs,
            scope=entity.scope,
            created_at=entity.created_at,
            modified_at=entity.modified_at,
        )
    body = Renderer(c.ctx, c.rendering).entity(
        entity, attrs=c.attrs, omit=c.omit, keep_id=c.keep_id, keep_type=c.keep_type
    )
    if c.accept == GEOJSON:
        located = entity.instances(LOCATION)
        geometry = located[0].get("value") if located else None
        properties = {k: v for k, v in body.items() if k != "id"}
        return {"id": entity.id, "type": "Feature", "geometry": geometry, "properties": properties}
    return body
