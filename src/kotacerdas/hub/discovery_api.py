"""NGSI-LD discovery (5.7.5-5.7.10, 5.13.4): the entity types and attributes a caller may see, and @contexts.

Types and attributes are listed only for entities the caller may read (``read_request._readable``)
and that exist now. ``router`` here has no prefix and no tags of its own: ``kotacerdas.hub.api``
includes it in its ``router`` (``/ngsi-ld/v1``, tag ``NGSI-LD``) after the batch routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kotacerdas.hub import service
from kotacerdas.hub.context import CORE_CONTEXT_URLS, core_document
from kotacerdas.hub.contexts import stored_document
from kotacerdas.hub.http import HubCall, handle
from kotacerdas.hub.problems import ResourceNotFound
from kotacerdas.hub.read_request import _dump, _readable

router = APIRouter()

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
