"""NGSI-LD batch operations (5.6.7-5.6.10, 5.6.20): create, upsert, update, merge and delete many entities.

``router`` here has no prefix and no tags of its own: ``kotacerdas.hub.api`` includes it in its
``router`` (``/ngsi-ld/v1``, tag ``NGSI-LD``) after the entity routes; the batch query
(``/entityOperations/query``) is an entity query and lives in ``entities_api``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kotacerdas.hub import service
from kotacerdas.hub.http import HubCall, handle
from kotacerdas.hub.problems import BadRequestData

router = APIRouter()

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
