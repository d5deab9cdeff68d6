"""NGSI-LD context information API under /ngsi-ld/v1: entities, attributes, batches, discovery.

Temporal routes live in ``kotacerdas.hub.temporal_api``, subscriptions in ``kotacerdas.hub.subscriptions_api``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from kotacerdas.hub import q as qlang, service
from kotacerdas.hub.context import CORE_CONTEXT_URLS, core_document
from kotacerdas.hub.contexts import stored_document
from kotacerdas.hub.entity import Entity, Renderer, Rendering, check_entity_id
from kotacerdas.hub.geo import GeoQuery, parse_geoquery
from kotacerdas.hub.http import GEOJSON, HubCall, handle
from kotacerdas.hub.problems import (
    BadRequestData,
    OperationNotSupported,
    ResourceNotFound,
    Unauthorized,
)
from kotacerdas.hub.projection import Projection, parse_projection

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"])

COMMON = frozenset(["local", "Link"])
RETRIEVE_PARAMS = frozenset(
    [
        "attrs",
        "pick",
        "omit",
        "options",
        "format",
        "lang",
        "geometryProperty",
        "datasetId",
        "join",
        "joinLevel",
        "entityMap",
        "type",
        "local",
    ]
)
QUERY_PARAMS = frozenset(
    [
        "id",
        "type",
        "idPattern",
        "attrs",
        "pick",
        "omit",
        "q",
        "csf",
        "geometry",
        "georel",
        "coordinates",
        "geoproperty",
        "geometryProperty",
        "lang",
        "scopeQ",
        "datasetId",
        "limit",
        "offset",
        "count",
        "options",
        "format",
        "local",
        "join",
        "joinLevel",
        "containedBy",
        "entityMap",
        "expandValues",
        "jsonKeys",
    ]
)
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


# ------------------------------------------------------------------------------------ entities


@router.post("/entities", status_code=201, summary="Create Entity (5.6.1)")
async def create_entity(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        entity = service.create_entity(
            call.session, region_id=call.region_id, principal=call.principal, raw=call.body, ctx=call.ctx
        )
        return call.created(f"/ngsi-ld/v1/entities/{quote(entity.id, safe=':')}")

    return await handle(request, work, params=frozenset(["local"]), body=True, accept=False)


@router.get("/entities", summary="Query Entities (5.7.2)")
async def query_entities(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        return _query(call, call.params)

    return await handle(request, work, params=QUERY_PARAMS, geo=True)


@router.post("/entityOperations/query", summary="Query Entities via POST (5.7.2)")
async def query_post(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        body = call.body
        if not isinstance(body, dict) or body.get("type") != "Query":
            raise BadRequestData('The body must be a Query object: {"type": "Query", ...}.')
        params: dict[str, str] = {k: v for k, v in call.params.items()}
        entities = body.get("entities")
        if entities is not None:
            if (
                not isinstance(entities, list)
                or not entities
                or not all(isinstance(e, dict) for e in entities)
            ):
                raise BadRequestData("entities must be a non-empty array of entity selectors.")
            types = {e.get("type") for e in entities}
            if len(types) != 1 or not isinstance(next(iter(types)), str):
                raise BadRequestData("All entity selectors of a query must have the same type.")
            params["type"] = next(iter(types))
            ids = [e["id"] for e in entities if isinstance(e.get("id"), str)]
            if ids:
                params["id"] = ",".join(ids)
            patterns = [e["idPattern"] for e in entities if isinstance(e.get("idPattern"), str)]
            if patterns:
                params["idPattern"] = patterns[0]
        for key in ("q", "attrs", "pick", "omit", "lang"):
            value = body.get(key)
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            if value is not None:
                if not isinstance(value, str):
                    raise BadRequestData(f"{key} must be a string.")
                params[key] = value
        geo_q = body.get("geoQ")
        if geo_q is not None:
            if not isinstance(geo_q, dict):
                raise BadRequestData("geoQ must be an object.")
            coords = geo_q.get("coordinates")
            params["georel"] = geo_q.get("georel")  # type: ignore[assignment]
            params["geometry"] = geo_q.get("geometry")  # type: ignore[assignment]
            params["coordinates"] = coords if isinstance(coords, str) else _dump(coords)
            if geo_q.get("geoproperty"):
                params["geoproperty"] = geo_q["geoproperty"]
            parse_geoquery(
                params["georel"],
                params["geometry"],
                params["coordinates"],
                params.get("geoproperty"),
                call.ctx,
            )
        return _query(call, params)

    return await handle(
        request, work, params=frozenset(["limit", "offset", "count", "options", "format", "local"]), body=True
    )


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


def _query(call: HubCall, params: dict[str, str]) -> Response:
    chosen = entity_selection(call, params)
    attrs_filter = None
    if params.get("attrs"):
        attrs_filter = frozenset(call.ctx.expand(a.strip()) for a in params["attrs"].split(",") if a.strip())
    count = params.get("count")
    if count not in (None, "true", "false"):
        raise BadRequestData("count must be true or false.")
    wants_count = count == "true"
    limit = call.int_param("limit", call.settings.hub_default_limit, maximum=call.settings.hub_max_limit)
    offset = call.int_param("offset", 0)
    if limit == 0 and not wants_count:
        raise BadRequestData("limit=0 is only allowed together with count=true.")
    if chosen.empty and not attrs_filter:
        raise BadRequestData("A query needs at least one of type, id, idPattern, attrs, q or a geo-query.")
    exclude, only = _readable(call)
    query = service.EntityQuery(
        types=chosen.types,
        ids=chosen.ids,
        id_pattern=chosen.id_pattern,
        q=chosen.q,
        geo=chosen.geo,
        attrs=attrs_filter,
        limit=limit,
        offset=offset,
        count=wants_count,
        exclude_types=exclude,
        only_types=only,
    )
    _projection(call)  # reject a malformed pick/omit before querying
    result = service.query_entities(call.session, region_id=call.region_id, query=query)
    rendered = _render(call, result.entities)
    headers: dict[str, str] = {}
    if result.count is not None:
        headers["NGSILD-Results-Count"] = str(result.count)
    links = call.page_links(offset=offset, limit=limit, more=result.more)
    if call.accept == GEOJSON:
        body: Any = {"type": "FeatureCollection", "features": _geojson(call, result.entities, rendered)}
        response = call.json(body, headers=headers)
    else:
        response = call.json(rendered, headers=headers)
    if links:
        existing = response.headers.get("Link")
        response.headers["Link"] = f"{existing},{links}" if existing else links
    return response


@router.get("/entities/{entity_id}", summary="Retrieve Entity (5.7.1)")
async def retrieve_entity(entity_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        entity = service.get_entity(call.session, region_id=call.region_id, entity_id=entity_id)
        _check_readable(call, entity)
        wanted = _types(call, call.params.get("type"))
        if wanted and not set(wanted) & set(entity.types):
            raise ResourceNotFound(f"The entity {entity_id} is not of the type asked for.")
        rendered = _render(call, [entity])
        if call.accept == GEOJSON:
            return call.json(_geojson(call, [entity], rendered)[0])
        return call.json(rendered[0])

    return await handle(request, work, params=RETRIEVE_PARAMS, geo=True, quick=True)


@router.delete("/entities/{entity_id}", status_code=204, summary="Delete Entity (5.6.6)")
async def delete_entity(entity_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        service.delete_entity(
            call.session, region_id=call.region_id, principal=call.principal, entity_id=entity_id
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local", "type"]), accept=False)


@router.patch("/entities/{entity_id}", status_code=204, summary="Merge Entity (5.6.17)")
async def merge_entity(entity_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        service.merge_entity(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entity_id=entity_id,
            raw=call.body,
            ctx=call.ctx,
        )
        return call.no_content()

    return await handle(
        request, work, params=frozenset(["local", "options", "format"]), body=True, patch=True, accept=False
    )


@router.put("/entities/{entity_id}", status_code=204, summary="Replace Entity (5.6.18)")
async def replace_entity(entity_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        service.replace_entity(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entity_id=entity_id,
            raw=call.body,
            ctx=call.ctx,
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local"]), body=True, accept=False)


@router.post("/entities/{entity_id}/attrs", status_code=204, summary="Append Entity Attributes (5.6.3)")
async def append_attributes(entity_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        options = call.options()
        outcome = service.append_attributes(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entity_id=entity_id,
            raw=call.body,
            ctx=call.ctx,
            no_overwrite="noOverwrite" in options,
        )
        return call.update_result(outcome)

    return await handle(request, work, params=frozenset(["local", "options"]), body=True, accept=False)


@router.patch("/entities/{entity_id}/attrs", status_code=204, summary="Update Entity Attributes (5.6.2)")
async def update_attributes(entity_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        outcome = service.update_attributes(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entity_id=entity_id,
            raw=call.body,
            ctx=call.ctx,
        )
        return call.update_result(outcome)

    return await handle(request, work, params=frozenset(["local"]), body=True, patch=True, accept=False)


@router.patch(
    "/entities/{entity_id}/attrs/{attr}", status_code=204, summary="Partial Attribute Update (5.6.4)"
)
async def partial_update(entity_id: str, attr: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        service.partial_update_attribute(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entity_id=entity_id,
            attr=attr,
            raw=call.body,
            ctx=call.ctx,
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local"]), body=True, patch=True, accept=False)


@router.put("/entities/{entity_id}/attrs/{attr}", status_code=204, summary="Replace Attribute (5.6.19)")
async def replace_attribute(entity_id: str, attr: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        service.replace_attribute(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entity_id=entity_id,
            attr=attr,
            raw=call.body,
            ctx=call.ctx,
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local"]), body=True, accept=False)


@router.delete("/entities/{entity_id}/attrs/{attr}", status_code=204, summary="Delete Attribute (5.6.5)")
async def delete_attribute(entity_id: str, attr: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        service.delete_attribute(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entity_id=entity_id,
            attr=attr,
            ctx=call.ctx,
            dataset_id=call.params.get("datasetId"),
            delete_all=call.flag("deleteAll"),
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local", "datasetId", "deleteAll"]), accept=False)


# ------------------------------------------------------------------------------------- batches


@router.post("/entityOperations/create", summary="Batch Create (5.6.7)")
async def batch_create(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        outcome = service.create_entities(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entities=call.prepared,
            ctx=call.ctx,
        )
        if outcome.errors:
            return call.batch_result(outcome)
        return call.created("/ngsi-ld/v1/entities", outcome.created)

    return await handle(
        request, work, params=frozenset(["local"]), body=True, accept=False, prepare=service.parse_batch
    )


@router.post("/entityOperations/upsert", summary="Batch Upsert (5.6.8)")
async def batch_upsert(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        options = call.options()
        if "update" in options and "replace" in options:
            raise BadRequestData("options may hold update or replace, not both.")
        outcome = service.upsert_entities(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entities=call.prepared,
            ctx=call.ctx,
            mode="update" if "update" in options else "replace",
        )
        return call.batch_result(outcome, created_status=True)

    return await handle(
        request,
        work,
        params=frozenset(["local", "options"]),
        body=True,
        accept=False,
        prepare=service.parse_batch,
    )


@router.post("/entityOperations/update", summary="Batch Update (5.6.9)")
async def batch_update(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        outcome = service.update_entities(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entities=call.prepared,
            ctx=call.ctx,
            no_overwrite="noOverwrite" in call.options(),
        )
        return call.batch_result(outcome)

    return await handle(
        request,
        work,
        params=frozenset(["local", "options"]),
        body=True,
        accept=False,
        prepare=service.parse_batch,
    )


@router.post("/entityOperations/merge", summary="Batch Merge (5.6.20)")
async def batch_merge(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        outcome = service.update_entities(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entities=call.prepared,
            ctx=call.ctx,
        )
        return call.batch_result(outcome)

    return await handle(
        request, work, params=frozenset(["local"]), body=True, accept=False, prepare=service.parse_batch
    )


@router.post("/entityOperations/delete", summary="Batch Delete (5.6.10)")
async def batch_delete(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        outcome = service.delete_entities(
            call.session, region_id=call.region_id, principal=call.principal, ids=call.body
        )
        return call.batch_result(outcome)

    # a list of ids has nothing to expand: accept it as application/ld+json without an @context
    return await handle(
        request, work, params=frozenset(["local"]), body=True, accept=False, context_optional=True
    )


# ----------------------------------------------------------------------------------- discovery


def _visible_types(call: HubCall) -> dict[str, list[tuple[str, str]]]:
    exclude, only = _readable(call)
    by_type: dict[str, list[tuple[str, str]]] = {}
    for type_, attribute, kind in service.type_attributes(call.session, region_id=call.region_id):
        if type_ in exclude or (only is not None and type_ not in only):
            continue
        entry = by_type.setdefault(type_, [])
        if attribute:
            entry.append((attribute, kind))
    counts = service.type_counts(call.session, region_id=call.region_id)
    return {t: a for t, a in by_type.items() if counts.get(t)}


@router.get("/types", summary="Retrieve Available Entity Types (5.7.5, 5.7.6)")
async def list_types(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        types = _visible_types(call)
        if call.flag("details"):
            return call.json(
                [
                    {
                        "id": t,
                        "type": "EntityType",
                        "typeName": call.ctx.compact(t),
                        "attributeNames": sorted({call.ctx.compact(a) for a, _k in attrs}),
                    }
                    for t, attrs in sorted(types.items())
                ]
            )
        return call.json(
            {
                "id": f"urn:ngsi-ld:EntityTypeList:{call.region_id}",
                "type": "EntityTypeList",
                "typeList": sorted(call.ctx.compact(t) for t in types),
            }
        )

    return await handle(request, work, params=frozenset(["details", "local"]))


@router.get("/types/{type_name}", summary="Retrieve Entity Type Information (5.7.7)")
async def type_info(type_name: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        iri = call.ctx.expand(type_name)
        types = _visible_types(call)
        if iri not in types:
            raise ResourceNotFound(f"There are no entities of type {type_name}.")
        counts = service.type_counts(call.session, region_id=call.region_id)
        details: dict[str, set[str]] = {}
        for attribute, kind in types[iri]:
            details.setdefault(attribute, set()).add(kind)
        return call.json(
            {
                "id": iri,
                "type": "EntityTypeInfo",
                "typeName": call.ctx.compact(iri),
                "entityCount": counts.get(iri, 0),
                "attributeDetails": [
                    {
                        "id": a,
                        "type": "Attribute",
                        "attributeName": call.ctx.compact(a),
                        "attributeTypes": sorted(kinds),
                    }
                    for a, kinds in sorted(details.items())
                ],
            }
        )

    return await handle(request, work, params=frozenset(["local"]))


def _attributes(call: HubCall) -> dict[str, tuple[set[str], set[str]]]:
    found: dict[str, tuple[set[str], set[str]]] = {}
    for type_, attrs in _visible_types(call).items():
        for attribute, kind in attrs:
            kinds, types = found.setdefault(attribute, (set(), set()))
            kinds.add(kind)
            types.add(type_)
    return found


@router.get("/attributes", summary="Retrieve Available Attributes (5.7.8, 5.7.9)")
async def list_attributes(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        found = _attributes(call)
        if call.flag("details"):
            return call.json(
                [
                    {
                        "id": a,
                        "type": "Attribute",
                        "attributeName": call.ctx.compact(a),
                        "attributeTypes": sorted(kinds),
                        "typeNames": sorted(call.ctx.compact(t) for t in types),
                    }
                    for a, (kinds, types) in sorted(found.items())
                ]
            )
        return call.json(
            {
                "id": f"urn:ngsi-ld:AttributeList:{call.region_id}",
                "type": "AttributeList",
                "attributeList": sorted(call.ctx.compact(a) for a in found),
            }
        )

    return await handle(request, work, params=frozenset(["details", "local"]))


@router.get("/attributes/{attr}", summary="Retrieve Attribute Information (5.7.10)")
async def attribute_info(attr: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        iri = call.ctx.expand(attr)
        found = _attributes(call).get(iri)
        if found is None:
            raise ResourceNotFound(f"No entity has the attribute {attr}.")
        kinds, types = found
        count = service.attribute_count(
            call.session, region_id=call.region_id, attribute=iri, types=sorted(types)
        )
        return call.json(
            {
                "id": iri,
                "type": "Attribute",
                "attributeName": call.ctx.compact(iri),
                "attributeCount": count,
                "attributeTypes": sorted(kinds),
                "typeNames": sorted(call.ctx.compact(t) for t in types),
            }
        )

    return await handle(request, work, params=frozenset(["local"]))


@router.get("/jsonldContexts/{context_id:path}", summary="Serve a @context the hub holds (5.13.4)")
async def serve_context(context_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        url = context_id
        if url in ("core", "ngsi-ld-core-context.jsonld") or url in CORE_CONTEXT_URLS:
            doc: Any = core_document()
        else:
            doc = stored_document(request.app.state.engine, url)
            if doc is None:
                raise ResourceNotFound(f"The hub holds no @context {url}.")
        return Response(_dump(doc), media_type="application/ld+json")

    return await handle(request, work, params=frozenset(), accept=False)
