"""Parsing NGSI-LD input (normalized or concise) into the internal form: entity ids and names
checked, types and attribute names expanded through the request's @context, each instance's value
checked for its kind.

Every refusal is a ``BadRequestData`` saying what is wrong. The ``Parser``'s fast path takes the
common shapes (a scalar Property, a Relationship to one URI) and leaves anything else, every error
included, to the general path, which says which attribute is wrong.
"""

from __future__ import annotations

import math
import re
from typing import Any

from kotacerdas.hub.context import ActiveContext
from kotacerdas.hub.entity_model import (
    CORE_MEMBERS,
    ENTITY_MEMBERS,
    GEO_ATTRIBUTES,
    GEOMETRY_TYPES,
    GEOPROPERTY,
    JSONPROP,
    LANGUAGE,
    LISTPROP,
    LISTREL,
    LOCATION,
    MAX_ATTRIBUTES,
    MAX_DEPTH,
    MAX_NAME,
    MEMBER_KIND,
    NULL,
    PROPERTY,
    RELATIONSHIP,
    SYSTEM_MEMBERS,
    VALUE_MEMBER,
    VOCAB,
    Entity,
)
from kotacerdas.hub.entity_time import canonical_datetime
from kotacerdas.hub.problems import BadRequestData

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
