"""Entities in the hub: parse NGSI-LD input into the internal form, merge changes, render output.

The internal form keeps expanded IRIs as attribute names (so it does not depend on any client's
@context) and the NGSI-LD normalized member names inside each attribute instance. See
``/work/notes``-independent description in docs/hub.md ("Internal representation").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kotacerdas.hub.context import NGSI_LD, ActiveContext
from kotacerdas.hub.problems import BadRequestData

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


# ----------------------------------------------------------------------------------------- time


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_datetime(text: Any, *, what: str = "date-time") -> int:
    """An ISO 8601 date-time to microseconds since the epoch (UTC). Naive times are taken as UTC."""
    if isinstance(text, str):
        hit = _parsed.get(text)
        if hit is not None:
            return hit
    us = _parse_datetime(text, what)
    if len(_parsed) > 20_000:
        _parsed.clear()
    _parsed[text] = us
    return us


_parsed: dict[str, int] = {}


def _parse_datetime(text: Any, what: str) -> int:
    if not isinstance(text, str) or len(text) > 64 or len(text) < 10:
        raise BadRequestData(f"{what} must be an ISO 8601 date-time string, got {text!r}.")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequestData(f"{what} is not a valid ISO 8601 date-time: {text!r}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_us(us: int) -> str:
    """Microseconds since the epoch to the canonical form 2026-11-22T10:00:00.000Z."""
    seconds, micro = divmod(us, 1_000_000)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{micro // 1000:03d}Z"


def now_us() -> int:
    delta = datetime.now(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def canonical_datetime(text: Any, *, what: str = "observedAt") -> str:
    if isinstance(text, str):
        hit = _canonical.get(text)
        if hit is not None:
            return hit
    value = format_us(parse_datetime(text, what=what))
    if len(_canonical) > 20_000:
        _canonical.clear()
    _canonical[text] = value
    return value


_canonical: dict[str, str] = {}


# ---------------------------------------------------------------------------------------- input


_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+\Z")
_NAME = re.compile(r"[^<>\"'=;()\\\s]{1,512}\Z")


def _is_uri(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 2048 and _URI.match(value) is not None


def check_entity_id(value: Any) -> str:
    if not _is_uri(value):
        raise BadRequestData(f"An entity id must be a URI (for example urn:ngsi-ld:Type:123), got {value!r}.")
    return str(value)


def check_name(name: Any, what: str = "attribute name") -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise BadRequestData(f"Invalid {what}: {name!r}.")
    if _NAME.match(name) is None:
        raise BadRequestData(f"The {what} {name!r} contains a forbidden character.")
    return name


def _check_geometry(value: Any, name: str) -> dict[str, Any]:
    from kotacerdas.hub.geo import validate_geometry

    checked: dict[str, Any]
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        raise BadRequestData(
            f"The GeoProperty {name} must hold a GeoJSON geometry (Point, LineString, Polygon or Multi*)."
        )
    checked = validate_geometry(value)
    return checked


def _looks_like_geometry(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in GEOMETRY_TYPES and "coordinates" in value


def _check_json_value(value: Any, name: str, depth: int = 0) -> None:
    if depth > 32:
        raise BadRequestData(f"The value of {name} nests too deeply.")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequestData(f"The value of {name} is not a finite number.")
    if isinstance(value, dict):
        for item in value.values():
            _check_json_value(item, name, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_value(item, name, depth + 1)


class Parser:
    """Turns request bodies into internal instances. One parser per request (it holds the context)."""

    def __init__(self, ctx: ActiveContext, *, allow_null: bool = False) -> None:
        self.ctx = ctx
        self.allow_null = allow_null
        self._names: dict[str, str] = {}  # checked and expanded attribute names
        self._types: dict[str, str] = {}

    # entities -------------------------------------------------------------------------------
    def entity(self, raw: Any, *, require_id: bool = True) -> Entity:
        if not isinstance(raw, dict):
            raise BadRequestData("An entity must be a JSON object.")
        entity_id = check_entity_id(raw.get("id")) if require_id or "id" in raw else ""
        types = self.types(raw.get("type"))
        attrs = self.attributes(raw, skip=ENTITY_MEMBERS)
        scope = raw.get("scope")
        scopes: list[str] | None = None
        if scope is not None:
            scopes = [scope] if isinstance(scope, str) else scope
            if not isinstance(scopes, list) or not all(
                isinstance(s, str) and s.startswith("/") for s in scopes
            ):
                raise BadRequestData("scope must be a string or an array of strings starting with '/'.")
        return Entity(id=entity_id, types=types, attrs=attrs, scope=scopes)

    def types(self, raw: Any) -> list[str]:
        if isinstance(raw, str):
            hit = self._types.get(raw)
            if hit is None:
                hit = self._types[raw] = self.ctx.expand(check_name(raw, "entity type"))
            return [hit]
        if isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
            seen: list[str] = []
            for t in raw:
                iri = self.ctx.expand(check_name(t, "entity type"))
                if iri not in seen:
                    seen.append(iri)
            return seen
        raise BadRequestData("An entity must have a type: a string or a non-empty array of strings.")

    def attributes(self, raw: dict[str, Any], *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if len(raw) > MAX_ATTRIBUTES:
            raise BadRequestData(f"An entity may have at most {MAX_ATTRIBUTES} attributes.")
        for name, value in raw.items():
            if name in skip:
                continue
            iri = self.attribute_name(name)
            attrs[iri] = self.attribute(iri, value, name)
        return attrs

    def attribute_name(self, name: str) -> str:
        hit = self._names.get(name)
        if hit is not None:
            return hit
        if name in CORE_MEMBERS and name not in ("type",):
            raise BadRequestData(f"{name!r} is an NGSI-LD member and cannot be used as an attribute name.")
        iri = self._names[name] = self.ctx.expand(check_name(name))
        return iri

    def attribute(self, iri: str, value: Any, name: str) -> Any:
        """One attribute: an instance, or a list of instances with distinct datasetIds."""
        if (
            isinstance(value, list)
            and value
            and iri != LOCATION
            and all(isinstance(v, dict) for v in value)
            and any(self._looks_normalized(v) for v in value)
        ):
            instances = [self.instance(iri, v, name) for v in value]
            seen: set[str | None] = set()
            for inst in instances:
                ds = inst.get("datasetId")
                if ds in seen:
                    raise BadRequestData(f"The attribute {name} has two instances with datasetId {ds!r}.")
                seen.add(ds)
            return instances[0] if len(instances) == 1 else instances
        return self.instance(iri, value, name)

    @staticmethod
    def _looks_normalized(value: dict[str, Any]) -> bool:
        return ("type" in value and value["type"] in VALUE_MEMBER) or any(m in value for m in MEMBER_KIND)

    def instance(self, iri: str, raw: Any, name: str, depth: int = 0) -> dict[str, Any]:
        if type(raw) is dict:
            fast = self._fast(iri, raw)
            if fast is not None:
                return fast
        if depth > MAX_DEPTH:
            raise BadRequestData(f"Sub-attributes of {name} nest too deeply.")
        if not isinstance(raw, dict):
            return self._concise_scalar(iri, raw, name)
        kind = raw.get("type")
        if kind is None or kind not in VALUE_MEMBER:
            if _looks_like_geometry(raw):
                return {"type": GEOPROPERTY, "value": _check_geometry(raw, name)}
            if kind is not None:
                raise BadRequestData(f"The attribute {name} has an unknown type {kind!r}.")
            kind = next((MEMBER_KIND[m] for m in MEMBER_KIND if m in raw and m != "value"), None)
            if kind is None:
                if "value" in raw:
                    kind = (
                        GEOPROPERTY
                        if iri in GEO_ATTRIBUTES or _looks_like_geometry(raw["value"])
                        else PROPERTY
                    )
                elif raw.get("type") is not None:
                    raise BadRequestData(f"The attribute {name} has an unknown type {raw.get('type')!r}.")
                else:  # a concise compound value without "value": take the object itself as the value
                    return self._concise_scalar(iri, raw, name)
        member = VALUE_MEMBER[kind]
        if member not in raw:
            raise BadRequestData(f'The {kind} {name} needs a "{member}" member.')
        if iri in GEO_ATTRIBUTES and kind != GEOPROPERTY:
            raise BadRequestData(f"{name} must be a GeoProperty.")
        out: dict[str, Any] = {"type": kind}
        out[member] = self._value(kind, raw[member], name)
        for key, item in raw.items():
            if key in ("type", member) or key in SYSTEM_MEMBERS:
                continue
            if key == "observedAt":
                out["observedAt"] = canonical_datetime(item, what=f"observedAt of {name}")
            elif key == "unitCode":
                if not isinstance(item, str) or not item:
                    raise BadRequestData(f"unitCode of {name} must be a string.")
                out["unitCode"] = item
            elif key == "datasetId":
                if not _is_uri(item):
                    raise BadRequestData(f"datasetId of {name} must be a URI.")
                out["datasetId"] = item
            elif key == "objectType" and kind in (RELATIONSHIP, LISTREL):
                out["objectType"] = self.ctx.expand(item) if isinstance(item, str) else item
            elif key == "lang" and kind == PROPERTY:
                out["lang"] = item
            elif key in CORE_MEMBERS:
                if key in VALUE_MEMBER.values() or key.startswith("previous"):
                    raise BadRequestData(f"The {kind} {name} cannot have a {key!r} member.")
                continue
            else:
                sub_iri = self.ctx.expand(check_name(key))
                out[sub_iri] = self.instance(sub_iri, item, key, depth + 1)
        return out

    def _fast(self, iri: str, raw: dict[str, Any]) -> dict[str, Any] | None:
        """The common shapes (a scalar Property, a Relationship to one URI) without the general path."""
        kind = raw.get("type")
        if kind == PROPERTY:
            value: Any = raw.get("value")
            vt: type = type(value)
            if not (
                vt is int
                or vt is bool
                or (vt is str and value != NULL)
                or (vt is float and math.isfinite(value))
            ):
                return None
            if iri in GEO_ATTRIBUTES:
                return None
            out: dict[str, Any] = {"type": PROPERTY, "value": value}
        elif kind == RELATIONSHIP:
            value = raw.get("object")
            if (
                type(value) is not str
                or value == NULL
                or iri in GEO_ATTRIBUTES
                or _URI.match(value) is None
                or len(value) > 2048
            ):
                return None
            out = {"type": RELATIONSHIP, "object": value}
        else:
            return None
        member = "value" if kind == PROPERTY else "object"
        for key, item in raw.items():
            if key == "type" or key == member or key in SYSTEM_MEMBERS:
                continue
            if key == "observedAt":
                try:
                    out["observedAt"] = canonical_datetime(item)
                except BadRequestData:  # the general path says which attribute
                    return None
            elif key == "unitCode" and type(item) is str and item:
                out["unitCode"] = item
            else:
                return None
        return out

    def _concise_scalar(self, iri: str, raw: Any, name: str) -> dict[str, Any]:
        if iri in GEO_ATTRIBUTES:
            return {"type": GEOPROPERTY, "value": _check_geometry(raw, name)}
        return {"type": PROPERTY, "value": self._value(PROPERTY, raw, name)}

    def _value(self, kind: str, value: Any, name: str) -> Any:
        if value is None:
            raise BadRequestData(f"The value of {name} cannot be null.")
        if value == NULL:
            if not self.allow_null:
                raise BadRequestData(f"NGSI-LD Null ({NULL}) is only allowed in updates (attribute {name}).")
            return NULL
        if kind == PROPERTY:
            if isinstance(value, float) and not math.isfinite(value):
                raise BadRequestData(f"The value of {name} is not a finite number.")
            if isinstance(value, (dict, list)):
                _check_json_value(value, name)
            return value
        if kind == GEOPROPERTY:
            return _check_geometry(value, name)
        if kind == RELATIONSHIP:
            if _is_uri(value) or (isinstance(value, list) and value and all(_is_uri(v) for v in value)):
                return value
            raise BadRequestData(f"The object of the Relationship {name} must be a URI or an array of URIs.")
        if kind == LANGUAGE:
            if not isinstance(value, dict) or not value:
                raise BadRequestData(f"The languageMap of {name} must be an object of language tags.")
            for tag, text in value.items():
                if not isinstance(tag, str) or not (
                    isinstance(text, str)
                    or (isinstance(text, list) and all(isinstance(t, str) for t in text))
                ):
                    raise BadRequestData(f"The languageMap of {name} maps language tags to strings.")
            return value
        if kind == VOCAB:
            if isinstance(value, str):
                return self.ctx.expand(value)
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                return [self.ctx.expand(v) for v in value]
            raise BadRequestData(f"The vocab of {name} must be a string or an array of strings.")
        if kind == JSONPROP:
            if not isinstance(value, (dict, list)):
                raise BadRequestData(f"The json of {name} must be a JSON object or array.")
            _check_json_value(value, name)
            return value
        if kind == LISTPROP:
            if not isinstance(value, list):
                raise BadRequestData(f"The valueList of {name} must be an array.")
            _check_json_value(value, name)
            return value
        # ListRelationship
        if not isinstance(value, list):
            raise BadRequestData(f"The objectList of {name} must be an array.")
        objects = []
        for item in value:
            obj = item.get("object") if isinstance(item, dict) else item
            if not _is_uri(obj):
                raise BadRequestData(f"Every member of the objectList of {name} must be a URI.")
            objects.append({"object": obj})
        return objects


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


# -------------------------------------------------------------------------------------- output


@dataclass(frozen=True, slots=True)
class Rendering:
    format: str = "normalized"  # normalized | concise | keyValues
    sys_attrs: bool = False
    lang: str | None = None


def _pick_lang(language_map: dict[str, Any], lang: str) -> tuple[Any, str | None]:
    if lang == "*":
        return language_map, None
    for wanted in (part.split(";")[0].strip() for part in lang.split(",")):
        if wanted in language_map:
            return language_map[wanted], wanted
        if wanted == "*":
            break
    for fallback in ("@none", "en"):
        if fallback in language_map:
            return language_map[fallback], fallback
    first = next(iter(language_map))
    return language_map[first], first


class Renderer:
    def __init__(self, ctx: ActiveContext, rendering: Rendering = Rendering()) -> None:
        self.ctx = ctx
        self.r = rendering

    def entity(
        self,
        entity: Entity,
        *,
        attrs: frozenset[str] | None = None,
        omit: frozenset[str] = frozenset(),
        keep_id: bool = True,
        keep_type: bool = True,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if keep_id:
            out["id"] = entity.id
        if keep_type:
            types = [self.ctx.compact(t) for t in entity.types]
            out["type"] = types[0] if len(types) == 1 else types
        if entity.scope is not None:
            out["scope"] = entity.scope[0] if len(entity.scope) == 1 else entity.scope
        if self.r.sys_attrs and self.r.format != "keyValues":
            if entity.created_at is not None:
                out["createdAt"] = format_us(entity.created_at)
            if entity.modified_at is not None:
                out["modifiedAt"] = format_us(entity.modified_at)
        for iri, value in entity.attrs.items():
            if iri.startswith("@") or iri in omit or (attrs is not None and iri not in attrs):
                continue
            out[self.ctx.compact(iri)] = self.attribute(value)
        return out

    def attribute(self, value: Any) -> Any:
        if isinstance(value, list):
            if self.r.format == "keyValues":
                default = next((v for v in value if "datasetId" not in v), value[0])
                return self.key_value(default)
            return [self.instance(v) for v in value]
        if self.r.format == "keyValues":
            return self.key_value(value)
        return self.instance(value)

    def key_value(self, inst: dict[str, Any]) -> Any:
        kind = inst.get("type", PROPERTY)
        member = VALUE_MEMBER.get(kind, "value")
        value: Any = inst.get(member)
        if kind == VOCAB:
            return (
                [self.ctx.compact(v) for v in value] if isinstance(value, list) else self.ctx.compact(value)
            )
        if kind == LANGUAGE and self.r.lang:
            return _pick_lang(value, self.r.lang)[0]
        if kind == LANGUAGE:
            return {"languageMap": value}
        if kind == LISTREL:
            return [item["object"] for item in value]
        return value

    def instance(self, inst: dict[str, Any]) -> Any:
        concise = self.r.format == "concise"
        sys_attrs = self.r.sys_attrs
        kind = inst.get("type", PROPERTY)
        out: dict[str, Any] = {} if concise else {"type": kind}
        for key, item in inst.items():
            if key == "type":
                continue
            if key in CORE_MEMBERS:
                if key in ("createdAt", "modifiedAt") and not sys_attrs:
                    continue
                if key == "vocab":
                    item = (
                        [self.ctx.compact(v) for v in item]
                        if isinstance(item, list)
                        else self.ctx.compact(item)
                    )
                elif key == "objectType" and isinstance(item, str):
                    item = self.ctx.compact(item)
                out[key] = item
            else:
                out[self.ctx.compact(key)] = self.instance(item)
        if kind == LANGUAGE and self.r.lang:
            value, tag = _pick_lang(out.pop("languageMap"), self.r.lang)
            if not concise:
                out["type"] = PROPERTY
            out["value"] = value
            if tag is not None:
                out["lang"] = tag
        if concise and len(out) == 1:
            if "value" in out and not isinstance(out["value"], dict):
                return out["value"]
            if kind == GEOPROPERTY:
                return out["value"]
        return out
