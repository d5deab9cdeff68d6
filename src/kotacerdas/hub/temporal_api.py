"""NGSI-LD temporal evolution API under /ngsi-ld/v1/temporal (GS CIM 009, 5.6.11-5.6.16, 5.7.3, 5.7.4).

Thin: parameters are checked here, the work is done by ``kotacerdas.hub.temporal``. Responses are the
normalized temporal representation (each attribute an array of instances with ``instanceId``),
``temporalValues`` (``[[value, time], ...]``) or ``aggregatedValues`` (``[[value, start, end], ...]``).
When the per-attribute instance limit cuts a response, the status is 206 and ``Content-Range`` gives
the page's time range: ``date-time <first>-<last>/<lastN or *>`` (the unit the ETSI suite expects).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from kotacerdas.hub import service, store, temporal
from kotacerdas.hub.aggregate_cache import AggregateCache
from kotacerdas.hub.api import _check_readable, _readable, _types, entity_selection
from kotacerdas.hub.entity import (
    GEOPROPERTY,
    JSONPROP,
    LANGUAGE,
    LISTPROP,
    LISTREL,
    PROPERTY,
    RELATIONSHIP,
    VOCAB,
    Renderer,
    Rendering,
    format_us,
)
from kotacerdas.hub.http import HubCall, handle
from kotacerdas.hub.problems import BadRequestData, ResourceNotFound

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD temporal"])

TEMPORAL_PARAMS = frozenset(
    ["timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "aggrMethods", "aggrPeriodDuration"]
)
RETRIEVE_PARAMS = TEMPORAL_PARAMS | frozenset(
    ["attrs", "pick", "omit", "options", "format", "lang", "datasetId", "type", "local", "join", "joinLevel"]
)
QUERY_PARAMS = TEMPORAL_PARAMS | frozenset(
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
    ]
)
OPTIONS = frozenset(
    ["temporalValues", "aggregatedValues", "sysAttrs", "keyValues", "simplified", "concise", "normalized"]
)
FORMATS = {
    "normalized": "normalized",
    "concise": "concise",
    "temporalValues": "temporalValues",
    "simplified": "temporalValues",
    "aggregatedValues": "aggregatedValues",
}
# attribute kind -> the member holding the [value, time] pairs in temporalValues (4.5.9)
VALUES_MEMBER = {
    PROPERTY: "values",
    GEOPROPERTY: "values",
    RELATIONSHIP: "objects",
    LANGUAGE: "languageMaps",
    VOCAB: "vocabs",
    JSONPROP: "jsons",
    LISTPROP: "valueLists",
    LISTREL: "objectLists",
}
SCAN_CHUNK = 200


# ------------------------------------------------------------------------------------- parameters


@dataclass
class Ask:
    """What a temporal retrieve or query asks for, checked."""

    time: temporal.TimeQuery
    representation: str  # normalized | concise | temporalValues | aggregatedValues
    sys_attrs: bool
    selection: temporal.Selection
    keep_id: bool = True
    keep_type: bool = True
    aggregation: temporal.Aggregation | None = None


def _selection(call: HubCall, params: dict[str, str]) -> tuple[temporal.Selection, bool, bool]:
    """(attributes and datasets to read, keep id, keep type) from attrs/pick/omit and datasetId."""
    from kotacerdas.hub.projection import parse_projection

    projection = parse_projection(params.get("pick"), params.get("omit"), params.get("attrs"), call.ctx)
    datasets = None
    if params.get("datasetId"):
        datasets = frozenset(d.strip() for d in params["datasetId"].split(",") if d.strip())
    selection = temporal.Selection(attrs=projection.attrs, omit=projection.omit_attrs, datasets=datasets)
    return selection, projection.keep_id, projection.keep_type


def _ask(call: HubCall, params: dict[str, str]) -> Ask:
    options = {o.strip() for o in params.get("options", "").split(",") if o.strip()}
    unknown = options - OPTIONS
    if unknown:
        raise BadRequestData(f"Unknown options {', '.join(sorted(unknown))}.")
    fmt = params.get("format")
    if fmt is not None:
        if fmt not in FORMATS:
            raise BadRequestData(f"format must be one of {', '.join(FORMATS)}.")
        representation = FORMATS[fmt]
    else:
        chosen = {FORMATS.get(o, "temporalValues" if o == "keyValues" else "") for o in options} - {""}
        if len(chosen) > 1:
            raise BadRequestData("options may name only one representation.")
        representation = chosen.pop() if chosen else "normalized"
    time = temporal.time_query(
        timerel=params.get("timerel"),
        time_at=params.get("timeAt"),
        end_time_at=params.get("endTimeAt"),
        timeproperty=params.get("timeproperty"),
        last_n=params.get("lastN"),
    )
    agg = None
    if representation == "aggregatedValues":
        agg = temporal.aggregation(params.get("aggrMethods"), params.get("aggrPeriodDuration"))
    elif params.get("aggrPeriodDuration"):
        temporal.parse_duration(params["aggrPeriodDuration"])  # reject a malformed one all the same
    selection, keep_id, keep_type = _selection(call, params)
    return Ask(
        time=time,
        representation=representation,
        sys_attrs="sysAttrs" in options,
        selection=selection,
        keep_id=keep_id,
        keep_type=keep_type,
        aggregation=agg,
    )


# ------------------------------------------------------------------------------------- rendering


def _render(call: HubCall, te: temporal.TemporalEntity, ask: Ask) -> dict[str, Any]:
    ctx = call.ctx
    out: dict[str, Any] = {}
    if ask.keep_id:
        out["id"] = te.entity.id
    if ask.keep_type:
        types = [ctx.compact(t) for t in te.entity.types]
        out["type"] = types[0] if len(types) == 1 else types
    if ask.sys_attrs:
        if te.entity.created_at is not None:
            out["createdAt"] = format_us(te.entity.created_at)
        if te.entity.modified_at is not None:
            out["modifiedAt"] = format_us(te.entity.modified_at)
    if ask.representation == "aggregatedValues":
        for iri, series in te.aggregated.items():
            items = [
                {"type": s.kind, **({"datasetId": s.dataset_id} if s.dataset_id else {}), **s.values}
                for s in series
            ]
            out[ctx.compact(iri)] = items[0] if len(items) == 1 else items
        return out
    fmt = "concise" if ask.representation == "concise" else "normalized"
    renderer = Renderer(ctx, Rendering(format=fmt, sys_attrs=ask.sys_attrs, lang=call.params.get("lang")))
    for iri, instances in te.instances.items():
        if ask.representation == "temporalValues":
            out[ctx.compact(iri)] = _temporal_values(renderer, instances)
        else:
            out[ctx.compact(iri)] = [
                renderer.instance({**i.value, "instanceId": i.instance_id}) for i in instances
            ]
    return out


def _temporal_values(renderer: Renderer, instances: list[temporal.Instance]) -> Any:
    """{"type": "Property", "values": [[value, time], ...]}, one per datasetId."""
    groups: dict[str | None, dict[str, Any]] = {}
    for inst in instances:
        kind = inst.value.get("type", PROPERTY)
        group = groups.get(inst.dataset_id)
        if group is None:
            group = {"type": kind, VALUES_MEMBER.get(kind, "values"): []}
            if inst.dataset_id:
                group["datasetId"] = inst.dataset_id
            groups[inst.dataset_id] = group
        member = next(k for k in group if k not in ("type", "datasetId"))
        group[member].append([renderer.key_value(inst.value), format_us(inst.time)])
    items = list(groups.values())
    return items[0] if len(items) == 1 else items


def _respond(
    call: HubCall, body: Any, page: tuple[int, int] | None, ask: Ask, headers: dict[str, str]
) -> Response:
    if page is None:
        return call.json(body, headers=headers)
    size = str(ask.time.last_n) if ask.time.last_n is not None else "*"
    headers = {**headers, "Content-Range": f"date-time {format_us(page[0])}-{format_us(page[1])}/{size}"}
    return call.json(body, status=206, headers=headers)


def _fill(call: HubCall, te: temporal.TemporalEntity, ask: Ask) -> None:
    conn = store.connection(call.session)
    if ask.aggregation is not None:
        temporal.aggregate(conn, te, ask.time, ask.aggregation, ask.selection, cache=_cache(call))
    else:
        temporal.read_instances(conn, te, ask.time, ask.selection, limit=call.settings.hub_temporal_limit)


def _cache(call: HubCall) -> AggregateCache:
    """The request's view of the aggregate cache; what it finds stale is stored after the request."""
    found = call.session.info.get("hub_aggregate_cache")
    if not isinstance(found, AggregateCache):
        found = call.session.info["hub_aggregate_cache"] = AggregateCache(region_id=call.region_id)
        found.attach(call.session, call.request.app.state.session_factory)
    return found


# ------------------------------------------------------------------------------------- reading


@router.get("/temporal/entities/{entity_id}", summary="Retrieve Temporal Evolution of an Entity (5.7.3)")
async def retrieve_temporal(entity_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        ask = _ask(call, call.params)
        pk, entity = temporal.load_entity(call.session, call.region_id, entity_id)
        _check_readable(call, entity)
        wanted = _types(call, call.params.get("type"))
        if wanted and not set(wanted) & set(entity.types):
            raise ResourceNotFound(f"The entity {entity_id} is not of the type asked for.")
        conn = store.connection(call.session)
        asked = ask.selection.attrs
        if asked and not temporal.has_instances(conn, pk, temporal.TimeQuery(), temporal.Selection(asked)):
            raise ResourceNotFound(f"The entity {entity_id} has no history of the attributes asked for.")
        te = temporal.TemporalEntity(entity=entity, pk=pk)
        _fill(call, te, ask)
        page = temporal.page_range([te], ask.time) if ask.aggregation is None else None
        return _respond(call, _render(call, te, ask), page, ask, {})

    return await handle(request, work, params=RETRIEVE_PARAMS)


@router.get("/temporal/entities", summary="Query Temporal Evolution of Entities (5.7.4)")
async def query_temporal(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        return _query(call, call.params)

    return await handle(request, work, params=QUERY_PARAMS)


@router.post("/temporal/entityOperations/query", summary="Query Temporal Evolution via POST (5.7.4)")
async def query_temporal_post(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        return _query(call, {**call.params, **_query_body(call.body)})

    return await handle(
        request,
        work,
        params=frozenset(["limit", "offset", "count", "options", "format", "local", "lastN"]),
        body=True,
    )


def _query_body(body: Any) -> dict[str, str]:
    """A Query object (5.2.23) as the equivalent GET parameters."""
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData('The body must be a Query object: {"type": "Query", ...}.')
    params: dict[str, str] = {}
    entities = body.get("entities")
    if entities is not None:
        if not isinstance(entities, list) or not entities or not all(isinstance(e, dict) for e in entities):
            raise BadRequestData("entities must be a non-empty array of entity selectors.")
        types = {e.get("type") for e in entities}
        if len(types) != 1 or not isinstance(next(iter(types)), str):
            raise BadRequestData("All entity selectors of a query must have the same type.")
        params["type"] = str(next(iter(types)))
        ids = [e["id"] for e in entities if isinstance(e.get("id"), str)]
        if ids:
            params["id"] = ",".join(ids)
        patterns = [e["idPattern"] for e in entities if isinstance(e.get("idPattern"), str)]
        if patterns:
            params["idPattern"] = patterns[0]
    for key in ("q", "attrs", "pick", "omit", "lang", "datasetId", "aggrMethods", "aggrPeriodDuration"):
        value = body.get(key)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ",".join(value)
        if value is not None:
            if not isinstance(value, str):
                raise BadRequestData(f"{key} must be a string.")
            params[key] = value
    geo_q = body.get("geoQ")
    if geo_q is not None:
        if not isinstance(geo_q, dict):
            raise BadRequestData("geoQ must be an object.")
        for key in ("georel", "geometry", "geoproperty"):
            if isinstance(geo_q.get(key), str):
                params[key] = geo_q[key]
        coords = geo_q.get("coordinates")
        if coords is not None:
            params["coordinates"] = coords if isinstance(coords, str) else orjson.dumps(coords).decode()
    temporal_q = body.get("temporalQ")
    if temporal_q is not None:
        if not isinstance(temporal_q, dict):
            raise BadRequestData("temporalQ must be an object.")
        for key in ("timerel", "timeAt", "endTimeAt", "timeproperty", "lastN"):
            value = temporal_q.get(key)
            if value is not None:
                if not isinstance(value, (str, int)) or isinstance(value, bool):
                    raise BadRequestData(f"temporalQ.{key} must be a string.")
                params[key] = str(value)
    return params


def _query(call: HubCall, params: dict[str, str]) -> Response:
    ask = _ask(call, params)
    chosen = entity_selection(call, params)
    if chosen.empty and not ask.selection.attrs:
        raise BadRequestData(
            "A temporal query needs at least one of type, id, idPattern, attrs, q or a geo-query."
        )
    count = params.get("count")
    if count not in (None, "true", "false"):
        raise BadRequestData("count must be true or false.")
    wants_count = count == "true"
    settings = call.settings
    limit = _int(params, "limit", settings.hub_default_limit, maximum=settings.hub_max_limit)
    offset = _int(params, "offset", 0)
    if limit == 0 and not wants_count:
        raise BadRequestData("limit=0 is only allowed together with count=true.")
    exclude, only = _readable(call)
    base = service.EntityQuery(
        types=chosen.types,
        ids=chosen.ids,
        id_pattern=chosen.id_pattern,
        q=chosen.q,
        geo=chosen.geo,
        limit=SCAN_CHUNK,
        exclude_types=exclude,
        only_types=only,
    )
    page, total, more = _scan(call, base, ask, offset=offset, limit=limit, count=wants_count)
    for te in page:
        _fill(call, te, ask)
    entities = page
    range_ = temporal.page_range(entities, ask.time) if ask.aggregation is None else None
    headers: dict[str, str] = {}
    if total is not None:
        headers["NGSILD-Results-Count"] = str(total)
    response = _respond(call, [_render(call, te, ask) for te in entities], range_, ask, headers)
    links = call.page_links(offset=offset, limit=limit, more=more) if limit else None
    if links:
        existing = response.headers.get("Link")
        response.headers["Link"] = f"{existing},{links}" if existing else links
    return response


def _int(params: dict[str, str], name: str, default: int, *, maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestData(f"{name} must be an integer, got {raw!r}.") from None
    if value < 0:
        raise BadRequestData(f"{name} must not be negative.")
    if maximum is not None and value > maximum:
        from kotacerdas.hub.problems import TooManyResults

        raise TooManyResults(f"{name} may be at most {maximum}.")
    return value


def _scan(
    call: HubCall, base: service.EntityQuery, ask: Ask, *, offset: int, limit: int, count: bool
) -> tuple[list[temporal.TemporalEntity], int | None, bool]:
    """Entities matching the selectors that have instances in the window: (page, total, more).
    An entity with no instance of the asked attributes in the window does not match (4.11)."""
    conn = store.connection(call.session)
    page: list[temporal.TemporalEntity] = []
    seen = 0
    more = False
    chunk_offset = 0
    while True:
        result = service.query_entities(
            call.session, region_id=call.region_id, query=replace(base, offset=chunk_offset)
        )
        pks = store.existing_ids(conn, call.region_id, [e.id for e in result.entities])
        for entity in result.entities:
            pk = pks[entity.id][0]
            if not temporal.has_instances(conn, pk, ask.time, ask.selection):
                continue
            seen += 1
            if offset < seen <= offset + limit:
                page.append(temporal.TemporalEntity(entity=entity, pk=pk))
            elif seen > offset + limit:
                more = True
                if not count:
                    return page, None, more
        if not result.more:
            break
        chunk_offset += base.limit
    return page, (seen if count else None), more


# ------------------------------------------------------------------------------------- writing


@router.post(
    "/temporal/entities", status_code=201, summary="Create or Update Temporal Representation (5.6.11)"
)
async def upsert_temporal(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        created = temporal.upsert_temporal(
            call.session, region_id=call.region_id, principal=call.principal, raw=call.body, ctx=call.ctx
        )
        if created:
            entity_id = call.body["id"]
            return call.created(f"/ngsi-ld/v1/temporal/entities/{quote(entity_id, safe=':')}")
        return call.no_content()

    return await handle(request, work, params=frozenset(["local"]), body=True, accept=False)


@router.post(
    "/temporal/entities/{entity_id}/attrs",
    status_code=204,
    summary="Add Attributes to Temporal Representation (5.6.12)",
)
async def add_attributes(entity_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        temporal.add_instances(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entity_id=entity_id,
            raw=call.body,
            ctx=call.ctx,
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local"]), body=True, accept=False)


@router.delete(
    "/temporal/entities/{entity_id}", status_code=204, summary="Delete Temporal Representation (5.6.16)"
)
async def delete_temporal(entity_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        temporal.delete_temporal_entity(
            call.session, region_id=call.region_id, principal=call.principal, entity_id=entity_id
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local", "type"]), accept=False)


@router.delete(
    "/temporal/entities/{entity_id}/attrs/{attr}",
    status_code=204,
    summary="Delete Attribute from Temporal Representation (5.6.13)",
)
async def delete_attribute(entity_id: str, attr: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        temporal.delete_attribute_history(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entity_id=entity_id,
            iri=call.ctx.expand(attr),
            dataset_id=call.params.get("datasetId"),
            delete_all=call.flag("deleteAll"),
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local", "datasetId", "deleteAll"]), accept=False)


@router.patch(
    "/temporal/entities/{entity_id}/attrs/{attr}/{instance_id}",
    status_code=204,
    summary="Modify Attribute Instance (5.6.14)",
)
async def modify_instance(entity_id: str, attr: str, instance_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        temporal.modify_instance(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entity_id=entity_id,
            attr=attr,
            instance_id=instance_id,
            raw=call.body,
            ctx=call.ctx,
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local"]), body=True, patch=True, accept=False)


@router.delete(
    "/temporal/entities/{entity_id}/attrs/{attr}/{instance_id}",
    status_code=204,
    summary="Delete Attribute Instance (5.6.15)",
)
async def delete_instance(entity_id: str, attr: str, instance_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        temporal.delete_instance(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            entity_id=entity_id,
            iri=call.ctx.expand(attr),
            instance_id=instance_id,
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local"]), accept=False)
