"""Rendering entities as NGSI-LD output: normalized, concise or keyValues, with or without system
attributes, language maps picked by ``lang``, names compacted through the request's @context.

Rendering reads the internal form and never changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kotacerdas.hub.context import ActiveContext
from kotacerdas.hub.entity_model import (
    CORE_MEMBERS,
    GEOPROPERTY,
    LANGUAGE,
    LISTREL,
    PROPERTY,
    VALUE_MEMBER,
    VOCAB,
    Entity,
)
from kotacerdas.hub.entity_time import format_us


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
