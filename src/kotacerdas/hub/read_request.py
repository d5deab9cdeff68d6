"""What a read of the context information asks for and may see, shared by every read route.

The selection (type, id, idPattern, q, the geo-query), the projection (pick, omit, attrs), the
rendering (format, sysAttrs, lang, GeoJSON) and the read permission (``_readable``: the types a
caller may not or may only see) are one set of rules for the entity routes (``entities_api``), the
discovery routes (``discovery_api``) and the temporal routes (``temporal_api``), so that a type
hidden from a caller is hidden the same way everywhere. No routes here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from kotacerdas.hub import q as qlang, service
from kotacerdas.hub.entity import Entity, Renderer, Rendering, check_entity_id
from kotacerdas.hub.geo import GeoQuery, parse_geoquery
from kotacerdas.hub.http import HubCall
from kotacerdas.hub.problems import (
    BadRequestData,
    OperationNotSupported,
    ResourceNotFound,
    Unauthorized,
)
from kotacerdas.hub.projection import Projection, parse_projection

NOT_SUPPORTED = ("csf", "scopeQ", "containedBy", "entityMap")


# ------------------------------------------------------------------------------------- helpers


def _types(call: HubCall, raw: str | None) -> list[str] | None:
    if raw is None or raw in ("", "*"):
        return None
    if any(c in raw for c in ";()|"):
        raise BadRequestData("Only comma-separated type lists (any of) are supported in type selections.")
    return [call.ctx.expand(t.strip()) for t in raw.split(",") if t.strip()]


def _projection(call: HubCall) -> Projection:
    return parse_projection(
        call.params.get("pick"), call.params.get("omit"), call.params.get("attrs"), call.ctx
    )


def _renderer(call: HubCall) -> Renderer:
    options = call.options()
    rendering = Rendering(
        format=call.representation(), sys_attrs="sysAttrs" in options, lang=call.params.get("lang")
    )
    return Renderer(call.ctx, rendering)


def _render(call: HubCall, entities: list[Entity]) -> list[dict[str, Any]]:
    renderer = _renderer(call)
    projection = _projection(call)
    return [
        renderer.entity(
            e,
            attrs=projection.attrs,
            omit=projection.omit_attrs,
            keep_id=projection.keep_id,
            keep_type=projection.keep_type,
        )
        for e in entities
    ]


def _geojson(call: HubCall, entities: list[Entity], rendered: list[dict[str, Any]]) -> Any:
    prop = call.ctx.expand(call.params.get("geometryProperty") or "location")
    features = []
    for entity, body in zip(entities, rendered, strict=True):
        inst = entity.instances(prop)
        geometry = inst[0].get("value") if inst else None
        properties = {k: v for k, v in body.items() if k != "id"}
        features.append({"id": entity.id, "type": "Feature", "geometry": geometry, "properties": properties})
    return features


def _readable(call: HubCall) -> tuple[frozenset[str], frozenset[str] | None]:
    return service.read_filter(
        call.session,
        region_id=call.region_id,
        principal=call.principal,
        default=call.settings.hub_read_default,
        cache=call.cache,
    )


def _check_readable(call: HubCall, entity: Entity) -> None:
    exclude, only = _readable(call)
    hidden = entity.type in exclude if only is None else entity.type not in only
    if hidden:
        if not call.principal.is_authenticated:
            raise Unauthorized(
                f"Entities of type {call.ctx.compact(entity.type)} are readable with a key only."
            )
        raise ResourceNotFound(f"The entity {entity.id} does not exist.")


def _dump(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class Selection:
    """Which entities a query (core or temporal) asks for: the parameters every query shares."""

    types: list[str] | None
    ids: list[str] | None
    id_pattern: str | None
    q: qlang.Query | None
    geo: GeoQuery | None

    @property
    def empty(self) -> bool:
        return not (self.types or self.ids or self.id_pattern or self.q or self.geo)


def entity_selection(call: HubCall, params: dict[str, str]) -> Selection:
    """type, id, idPattern, q and the geo-query, checked; unsupported selectors are refused (422)."""
    for name in NOT_SUPPORTED:
        if params.get(name):
            raise OperationNotSupported(f"The parameter {name} is not supported by this broker.")
    types = _types(call, params.get("type"))
    ids = [i.strip() for i in params.get("id", "").split(",") if i.strip()] or None
    for entity_id in ids or []:
        check_entity_id(entity_id)
    q = qlang.parse(params["q"], call.ctx) if params.get("q") else None
    geo = None
    if any(params.get(k) for k in ("georel", "geometry", "coordinates")):
        geo = parse_geoquery(
            params.get("georel"),
            params.get("geometry"),
            params.get("coordinates"),
            params.get("geoproperty"),
            call.ctx,
        )
    return Selection(types=types, ids=ids, id_pattern=params.get("idPattern"), q=q, geo=geo)
