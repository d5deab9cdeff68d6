"""Batch parsing of the common entity shapes, with the general ``Parser`` behind it for the rest.

A device's entity is nearly always made of a few Properties with a scalar value, ``observedAt`` and
``unitCode``, maybe a Relationship and a GeoProperty location (or, from MQTT compact observations,
``{"value": ..., "observedAt": ...}`` without ``type``). ``FastParser`` checks and expands those
in one loop, with the attribute and type names expanded once per @context (kept on the
``ActiveContext``), and hands every attribute it does not recognise (NGSI-LD Null, sub-attributes,
LanguageProperty, several datasetIds, a bad shape ...) to ``Parser.attribute``; an entity with an
unusual top level (no valid id, several types, scope, too many attributes) goes to ``Parser.entity``
as a whole. It never raises on its own: every refusal comes from the general path, so the results
and the ProblemDetails are the same as ``Parser``'s (tests/hub/test_fastparse.py compares them).
"""

from __future__ import annotations

import math
from typing import Any

from kotacerdas.hub.context import ActiveContext
from kotacerdas.hub.entity import (
    _URI,
    CORE_MEMBERS,
    ENTITY_MEMBERS,
    GEO_ATTRIBUTES,
    GEOMETRY_TYPES,
    MAX_ATTRIBUTES,
    NULL,
    Entity,
    Parser,
    _looks_like_geometry,
    canonical_datetime,
    check_name,
)
from kotacerdas.hub.problems import BadRequestData

_SCALARS = (int, bool, str)
_NAMES = "fastparse.names"  # ActiveContext.memo keys
_TYPES = "fastparse.types"
_NOT_FAST = ""  # a name the fast path leaves to the general one (it may refuse it)
_SKIPPED = frozenset(ENTITY_MEMBERS - {"scope"})  # top-level members that are not attributes


def _name_table(ctx: ActiveContext, key: str) -> dict[str, str]:
    table: dict[str, str] | None = ctx.memo.get(key)
    if table is None:
        table = ctx.memo[key] = {}
    return table


_OPTIONAL = frozenset(["observedAt", "unitCode", "datasetId"])
_NOT_COMMON: tuple[str, ...] = ("-",)  # a marker, compared by identity
_SHAPES: dict[tuple[str, ...], tuple[str, ...]] = {}  # member names -> the optional ones to check
_OBSERVATION = ("value", "observedAt")  # an MQTT compact observation's scalar, once decoded


def _shape_rest(shape: tuple[str, ...]) -> tuple[str, ...]:
    """A common shape is ``type``, the value member, then only observedAt, unitCode, datasetId, or
    (the concise form of the MQTT compact observations) ``value`` then only those: its optional
    members; ``_NOT_COMMON`` for any other shape."""
    if shape and shape[0] == "value":  # concise: a Property (or a GeoProperty) without "type"
        rest = shape[1:] if _OPTIONAL.issuperset(shape[1:]) else _NOT_COMMON
    else:
        common = (
            len(shape) >= 2
            and shape[0] == "type"
            and shape[1] in ("value", "object")
            and _OPTIONAL.issuperset(shape[2:])
        )
        rest = shape[2:] if common else _NOT_COMMON
    if len(_SHAPES) < 1000:
        _SHAPES[shape] = rest
    return rest


def _plain_value(value: Any) -> bool:
    """A Property value the general path takes as it is: not null, not NGSI-LD Null, finite numbers,
    one level of JSON object or array of scalars (deeper values go the general way)."""
    vt = type(value)
    if vt is int or vt is bool:
        return True
    if vt is str:
        return bool(value != NULL)
    if vt is float:
        return math.isfinite(value)
    if vt is dict:
        items: Any = value.values()
    elif vt is list:
        items = value
    else:
        return False
    for item in items:
        it = type(item)
        if not (it in _SCALARS or (it is float and math.isfinite(item)) or item is None):
            return False
    return True


class FastParser:
    """Parses a batch's entities; one per request, like ``Parser`` (same context, ``allow_null`` off)."""

    def __init__(self, ctx: ActiveContext) -> None:
        self.ctx = ctx
        self.general = Parser(ctx)
        self._names = _name_table(ctx, _NAMES)
        self._types = _name_table(ctx, _TYPES)
        self._canonical: dict[str, str] = {}

    def entity(self, raw: Any) -> Entity:
        """The entity ``Parser(ctx).entity(raw)`` returns, or the error it raises."""
        if type(raw) is not dict or len(raw) > MAX_ATTRIBUTES:
            return self.general.entity(raw)
        entity_id = raw.get("id")
        if type(entity_id) is not str or len(entity_id) > 2048 or _URI.match(entity_id) is None:
            return self.general.entity(raw)
        type_name = raw.get("type")
        if type(type_name) is not str or "scope" in raw:
            return self.general.entity(raw)
        type_iri = self._types.get(type_name)
        if type_iri is None:
            type_iri = self._types[type_name] = self.general.types(type_name)[0]
        attrs: dict[str, Any] = {}
        names = self._names
        for name, value in raw.items():
            if name in _SKIPPED:
                continue
            iri = names.get(name)
            if iri is None:
                iri = self._name(name)
            if iri is _NOT_FAST or type(value) is not dict:
                iri = self.general.attribute_name(name)  # raises what the general path raises
                attrs[iri] = self.general.attribute(iri, value, name)
                continue
            inst = self._instance(iri, value)
            attrs[iri] = inst if inst is not None else self.general.attribute(iri, value, name)
        return Entity(id=entity_id, types=[type_iri], attrs=attrs)

    def _name(self, name: str) -> str:
        if name in CORE_MEMBERS:
            iri = _NOT_FAST  # the general path refuses it
        else:
            try:
                iri = self.ctx.expand(check_name(name))
            except BadRequestData:
                iri = _NOT_FAST
        if len(self._names) < 50_000:
            self._names[name] = iri
        return iri

    def _instance(self, iri: str, raw: dict[str, Any]) -> dict[str, Any] | None:
        """The instance of a common shape; None for anything else (the general path decides).

        The general path builds ``{"type": kind, member: value, *the other members in their order}``;
        a shape (the tuple of member names) that already has that order is copied as it is, with
        ``observedAt`` put in canonical form. A concise ``{"value": ...}`` is a Property (the general
        path's choice when the value is not a geometry and the attribute not a geo attribute) and
        gets ``"type"`` in front."""
        shape = tuple(raw)
        if shape == _OBSERVATION and iri not in GEO_ATTRIBUTES:  # the commonest: checked first, briefly
            value = raw["value"]
            vt = type(value)
            if (
                vt is int
                or vt is bool
                or (vt is float and math.isfinite(value))
                or (vt is str and value != NULL)
            ):
                observed = raw["observedAt"]
                text = self._canonical.get(observed) if type(observed) is str else None
                if text is not None:  # (the first time, the loop below checks the time and keeps it)
                    return {"type": "Property", "value": value, "observedAt": text}
        rest = _SHAPES.get(shape)
        if rest is None:
            rest = _shape_rest(shape)
        if rest is _NOT_COMMON:
            return None
        concise = shape[0] == "value"
        if concise:  # the general path makes it a Property unless it is (or holds) a geometry
            kind, member = "Property", "value"
        else:
            kind, member = raw["type"], shape[1]
        value = raw[member]
        if kind == "Property":
            if member != "value" or iri in GEO_ATTRIBUTES or (concise and _looks_like_geometry(value)):
                return None
            vt = type(value)
            if not (
                vt is int
                or vt is bool
                or (vt is str and value != NULL)
                or (vt is float and math.isfinite(value))
                or _plain_value(value)
            ):
                return None
        elif kind == "Relationship":
            if (
                member != "object"
                or iri in GEO_ATTRIBUTES
                or type(value) is not str
                or value == NULL
                or len(value) > 2048
                or _URI.match(value) is None
            ):
                return None
        elif kind == "GeoProperty":
            if member != "value" or not self._geometry(value):
                return None
        else:
            return None
        out = {"type": "Property", **raw} if concise else raw.copy()
        for key in rest:
            item = raw[key]
            if key == "observedAt":
                text = self._canonical.get(item) if type(item) is str else None
                if text is None:
                    try:
                        text = canonical_datetime(item)
                    except BadRequestData:
                        return None
                    self._canonical[item] = text
                if text is not item:
                    out["observedAt"] = text
            elif key == "unitCode":
                if type(item) is not str or not item:
                    return None
            elif type(item) is not str or len(item) > 2048 or _URI.match(item) is None:  # datasetId
                return None
        return out

    @staticmethod
    def _geometry(value: Any) -> bool:
        if type(value) is not dict or value.get("type") not in GEOMETRY_TYPES:
            return False
        from kotacerdas.hub.geo import validate_geometry

        try:
            validate_geometry(value)
        except BadRequestData:
            return False
        return True
