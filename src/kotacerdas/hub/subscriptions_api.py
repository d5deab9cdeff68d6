"""NGSI-LD subscriptions under /ngsi-ld/v1/subscriptions (GS CIM 009, 5.8.1-5.8.5).

Thin routes over ``kotacerdas.hub.subscriptions``; the HTTP binding (content types, @context,
tenant, paging headers) is ``kotacerdas.hub.http.handle``. Notifications are sent by the notifier
(``kotacerdas.hub.notifier``) after commit, never from these routes.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kotacerdas.hub import subscriptions as subs
from kotacerdas.hub.entity import now_us
from kotacerdas.hub.http import JSONLD, HubCall, handle
from kotacerdas.hub.problems import BadRequestData, NgsiError
from kotacerdas.kit.outbound import OutboundPolicy

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"])


@router.post("/subscriptions", status_code=201, summary="Create Subscription (5.8.1)")
async def create_subscription(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        record = subs.create_subscription(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            raw=call.body,
            ctx=call.ctx,
            context=call.ctx_value,
            resolver=call.resolver,
            outbound=OutboundPolicy.from_settings(call.settings),
        )
        return call.created(f"/ngsi-ld/v1/subscriptions/{quote(record.id, safe=':')}")

    return await handle(request, work, params=frozenset(["local"]), body=True, accept=False)


@router.get("/subscriptions", summary="Query Subscriptions (5.8.4)")
async def query_subscriptions(request: Request) -> Response:
    def work(call: HubCall) -> Response:
        count = call.flag("count")
        limit = call.int_param("limit", call.settings.hub_default_limit, maximum=call.settings.hub_max_limit)
        offset = call.int_param("offset", 0)
        if limit == 0 and not count:
            raise BadRequestData("limit=0 is only allowed together with count=true.")
        records, total, more = subs.list_subscriptions(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            limit=limit,
            offset=offset,
            count=count,
        )
        now = now_us()
        headers = {"NGSILD-Results-Count": str(total)} if total is not None else {}
        response = call.json(
            [subs.render_subscription(r, call.ctx, now=now) for r in records], headers=headers
        )
        links = call.page_links(offset=offset, limit=limit, more=more)
        if links:
            existing = response.headers.get("Link")
            response.headers["Link"] = f"{existing},{links}" if existing else links
        return response

    return await handle(request, work, params=frozenset(["limit", "offset", "count", "local"]))


@router.get("/subscriptions/{subscription_id}", summary="Retrieve Subscription (5.8.3)")
async def retrieve_subscription(subscription_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        record = subs.get_subscription(
            call.session, region_id=call.region_id, principal=call.principal, sub_id=subscription_id
        )
        if call.ctx_value is None and record.context is not None:
            # no Link header: answer in the terms the subscription was made with, when the
            # response can say which context that is
            url = subs.link_url(record.context)
            if call.accept == JSONLD or url is not None:
                try:
                    own = call.resolver.resolve(record.context)
                except NgsiError:
                    own = None
                if own is not None:
                    value = record.context if call.accept == JSONLD else url
                    call = dataclasses.replace(call, ctx=own, ctx_value=value)
        return call.json(subs.render_subscription(record, call.ctx, now=now_us()))

    return await handle(request, work, params=frozenset(["local"]))


@router.patch("/subscriptions/{subscription_id}", status_code=204, summary="Update Subscription (5.8.2)")
async def update_subscription(subscription_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        subs.update_subscription(
            call.session,
            region_id=call.region_id,
            principal=call.principal,
            sub_id=subscription_id,
            raw=call.body,
            ctx=call.ctx,
            context=call.ctx_value,
            resolver=call.resolver,
            outbound=OutboundPolicy.from_settings(call.settings),
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local"]), body=True, patch=True, accept=False)


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Delete Subscription (5.8.5)")
async def delete_subscription(subscription_id: str, request: Request) -> Response:
    def work(call: HubCall) -> Response:
        subs.delete_subscription(
            call.session, region_id=call.region_id, principal=call.principal, sub_id=subscription_id
        )
        return call.no_content()

    return await handle(request, work, params=frozenset(["local"]), accept=False)
