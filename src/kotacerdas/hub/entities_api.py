"""NGSI-LD entity and attribute routes (5.6.1-5.6.6, 5.6.17-5.6.19, 5.7.1, 5.7.2), queries included.

``router`` here has no prefix and no tags of its own: ``kotacerdas.hub.api`` includes it in its
``router`` (``/ngsi-ld/v1``, tag ``NGSI-LD``) before the batch and discovery routes, which keeps the
order the paths match in and the OpenAPI document as they were. What a read selects and may see is
in ``read_request``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kotacerdas.hub import service
from kotacerdas.hub.geo import parse_geoquery
from kotacerdas.hub.http import GEOJSON, HubCall, handle
from kotacerdas.hub.problems import BadRequestData, ResourceNotFound
from kotacerdas.hub.read_request import (
    _check_readable,
    _dump,
    _geojson,
    _projection,
    _readable,
    _render,
    _types,
    entity_selection,
)

router = APIRouter()

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
