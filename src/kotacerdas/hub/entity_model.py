"""The internal form of an entity: the NGSI-LD vocabulary it is written in (attribute kinds, the
member that holds each kind's value, the core and system members, the size limits), ``Entity``, and
the changes made to its attribute instances (stamping, finding, putting, removing, partial merges).

Attribute names are expanded IRIs, so the form does not depend on any client's @context; each
instance keeps the NGSI-LD normalized member names. Parsing and rendering build on this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kotacerdas.hub.context import NGSI_LD

NULL = "urn:ngsi-ld:null"
LOCATION = NGSI_LD + "location"
GEO_ATTRIBUTES = frozenset([LOCATION, NGSI_LD + "observationSpace", NGSI_LD + "operationSpace"])

PROPERTY = "Property"
RELATIONSHIP = "Relationship"
GEOPROPERTY = "GeoProperty"
LANGUAGE = "LanguageProperty"
VOCAB = "VocabProperty"
JSONPROP = "JsonProperty"
LISTPROP = "ListProperty"
LISTREL = "ListRelationship"
# attribute kind -> the member that holds its value
VALUE_MEMBER = {
    PROPERTY: "value",
    RELATIONSHIP: "object",
    GEOPROPERTY: "value",
    LANGUAGE: "languageMap",
    VOCAB: "vocab",
    JSONPROP: "json",
    LISTPROP: "valueList",
    LISTREL: "objectList",
}
MEMBER_KIND = {v: k for k, v in VALUE_MEMBER.items() if k != GEOPROPERTY}
GEOMETRY_TYPES = frozenset(
    ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"]
)
# members of an instance that are not sub-attributes
CORE_MEMBERS = frozenset(
    [
        "type",
        "value",
        "object",
        "objectType",
        "languageMap",
        "vocab",
        "json",
        "valueList",
        "objectList",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "instanceId",
        "previousValue",
        "previousObject",
        "previousLanguageMap",
        "previousVocab",
        "previousJson",
        "previousValueList",
        "previousObjectList",
        "lang",
        "entity",
        "@context",
    ]
)
SYSTEM_MEMBERS = frozenset(["createdAt", "modifiedAt", "deletedAt", "instanceId"])
ENTITY_MEMBERS = frozenset(["id", "type", "scope", "createdAt", "modifiedAt", "deletedAt", "@context"])
MAX_NAME = 512
MAX_ATTRIBUTES = 1000
MAX_DEPTH = 8


@dataclass(slots=True)
class Entity:
    id: str
    types: list[str]
    attrs: dict[str, Any]
    scope: list[str] | None = None
    created_at: int | None = None
    modified_at: int | None = None

    @property
    def type(self) -> str:
        return self.types[0]

    def instances(self, iri: str) -> list[dict[str, Any]]:
        value = self.attrs.get(iri)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------------------------- changes


def stamp(instance: dict[str, Any], now: str, created: str | None = None) -> dict[str, Any]:
    instance["createdAt"] = created or now
    instance["modifiedAt"] = now
    for key, sub in instance.items():
        if key not in CORE_MEMBERS and isinstance(sub, dict):
            stamp(sub, now, created)
    return instance


def find_instance(entity: Entity, iri: str, dataset_id: str | None) -> dict[str, Any] | None:
    for inst in entity.instances(iri):
        if inst.get("datasetId") == dataset_id:
            return inst
    return None


def put_instance(entity: Entity, iri: str, instance: dict[str, Any]) -> None:
    """Add or replace the instance with the same datasetId."""
    current = entity.attrs.get(iri)
    if current is None:
        entity.attrs[iri] = instance
        return
    items = current if isinstance(current, list) else [current]
    ds = instance.get("datasetId")
    items = [i for i in items if i.get("datasetId") != ds] + [instance]
    entity.attrs[iri] = items[0] if len(items) == 1 else items


def remove_instance(entity: Entity, iri: str, dataset_id: str | None, *, all_datasets: bool = False) -> bool:
    current = entity.attrs.get(iri)
    if current is None:
        return False
    if all_datasets:
        del entity.attrs[iri]
        return True
    items = current if isinstance(current, list) else [current]
    kept = [i for i in items if i.get("datasetId") != dataset_id]
    if len(kept) == len(items):
        return False
    if not kept:
        del entity.attrs[iri]
    else:
        entity.attrs[iri] = kept[0] if len(kept) == 1 else kept
    return True


def instances_of(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else [value]


def merge_partial(target: dict[str, Any], patch: dict[str, Any], now: str) -> None:
    """Partial attribute update (5.6.4): patch members into an instance; NGSI-LD Null deletes."""
    for key, value in patch.items():
        if key == "type":
            continue
        if value == NULL or (isinstance(value, dict) and value.get("value") == NULL):
            target.pop(key, None)
            continue
        if key not in CORE_MEMBERS and isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_partial(target[key], value, now)
            target[key]["modifiedAt"] = now
            continue
        if key not in CORE_MEMBERS and isinstance(value, dict):
            value = stamp(value, now)
        target[key] = value
    target["modifiedAt"] = now
