"""The NGSI-LD HTTP binding (GS CIM 009, clause 6): content types, @context rules, tenants, paging.

Every NGSI-LD route is an ``async`` function that calls ``handle(request, work, ...)``. ``handle``
checks the request line and headers, reads and parses the body, then runs ``work(call)`` in a worker
thread inside one unit of work (one transaction), and the ``HubCall`` helpers build the response.

A route whose work is one indexed read (``quick=True``: retrieve an entity by id) runs it on the event
loop instead when that cannot wait on anything: SQLite (a WAL reader never waits for a writer), an
idle pooled connection, no credentials to look up, and a @context already built. The hop to a worker
thread and back cost more than the read itself; PostgreSQL (a network round trip) always takes it.

On SQLite a write's unit of work runs on the engine's one writer thread (``db.sqlite_writer``, as the
citizen filing's ``run_write``), after its body was parsed in the threadpool: writers wait their turn
in order without holding a thread, where threadpool threads woke on the write lock in no particular
order (batch upsert, 4 in flight: p99 latency 370-920 ms against 490-1,770 ms; CPU per entity the
same within the machine's noise, docs/performance.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool
from starlette.concurrency import run_in_threadpool

from kotacerdas.auth.access import Principal
from kotacerdas.config import Settings
from kotacerdas.db import sqlite_writer, unit_of_work
from kotacerdas.hub import access
from kotacerdas.hub.context import CORE_CONTEXT_URL, ActiveContext, ContextResolver, ContextValue
from kotacerdas.hub.problems import (
    BadRequestData,
    InvalidRequest,
    PlainHttpError,
    TooManyResults,
)
from kotacerdas.hub.service import BatchOutcome, UpdateOutcome, resolver_for
from kotacerdas.kit.outbound import OutboundPolicy
from kotacerdas.web.deps import SESSION_COOKIE, get_principal, run_writing

JSON = "application/json"
JSONLD = "application/ld+json"
GEOJSON = "application/geo+json"
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
TENANT = "NGSILD-Tenant"
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


@dataclass
class HubCall:
    request: Request
    session: Session
    settings: Settings
    region_id: int
    principal: Principal
    params: dict[str, str]
    ctx: ActiveContext
    ctx_value: ContextValue
    resolver: ContextResolver
    body: Any = None
    accept: str = JSON
    prepared: Any = None  # what ``prepare`` made of the body before the transaction
    response_headers: dict[str, str] = field(default_factory=dict)
    cache: access.ReadCache | None = None  # the application's tenant and read-policy cache

    # parameters ------------------------------------------------------------------------------
    def options(self) -> set[str]:
        raw = self.params.get("options", "")
        return {o.strip() for o in raw.split(",") if o.strip()}

    def flag(self, name: str) -> bool:
        value = self.params.get(name)
        if value is None:
            return False
        if value not in ("true", "false"):
            raise BadRequestData(f"{name} must be true or false.")
        return value == "true"

    def int_param(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequestData(f"{name} must be an integer, got {raw!r}.") from None
        if value < minimum:
            raise BadRequestData(f"{name} must be at least {minimum}.")
        if maximum is not None and value > maximum:
            raise TooManyResults(f"{name} may be at most {maximum}.")
        return value

    def representation(self) -> str:
        fmt = self.params.get("format")
        options = self.options()
        if fmt is not None:
            if fmt not in ("normalized", "concise", "keyValues", "simplified"):
                raise BadRequestData("format must be normalized, concise, keyValues or simplified.")
            return "keyValues" if fmt == "simplified" else fmt
        if "keyValues" in options or "simplified" in options:
            return "keyValues"
        if "concise" in options:
            return "concise"
        return "normalized"

    # responses -------------------------------------------------------------------------------
    def context_for_response(self) -> ContextValue:
        return self.ctx_value if self.ctx_value is not None else CORE_CONTEXT_URL

    def link_header(self) -> str:
        value = self.ctx_value
        url = value if isinstance(value, str) else CORE_CONTEXT_URL
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
            url = value[0]
        return f'<{url}>; rel="{CONTEXT_REL}"; type="{JSONLD}"'

    def json(self, data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        all_headers = {**self.response_headers, **(headers or {})}
        if self.accept == JSONLD:
            ctx = self.context_for_response()
            if isinstance(data, list):
                data = [{**item, "@context": ctx} if isinstance(item, dict) else item for item in data]
            elif isinstance(data, dict):
                data = {**data, "@context": ctx}
            media = JSONLD
        elif self.accept == GEOJSON:
            media = GEOJSON
            if self.request.headers.get("prefer", "").replace(" ", "") == "body=json":
                all_headers["Link"] = self.link_header()
            elif isinstance(data, dict):
                data = {**data, "@context": self.context_for_response()}
        else:
            media = JSON
            all_headers["Link"] = self.link_header()
        return Response(orjson.dumps(data), status_code=status, media_type=media, headers=all_headers)

    def plain_json(self, data: Any, *, status: int = 200) -> Response:
        """Errors and 207 bodies: always application/json, full names, no Link header (6.3.6)."""
        return Response(
            orjson.dumps(data), status_code=status, media_type=JSON, headers=self.response_headers
        )

    def no_content(self) -> Response:
        return Response(status_code=204, headers=self.response_headers)

    def created(self, location: str, body: Any = None) -> Response:
        headers = {**self.response_headers, "Location": location}
        if body is None:
            return Response(status_code=201, headers=headers)
        return Response(orjson.dumps(body), status_code=201, media_type=JSON, headers=headers)

    def batch_result(self, outcome: BatchOutcome, *, created_status: bool = False) -> Response:
        if outcome.errors:
            return self.plain_json(
                {
                    "success": outcome.success,
                    "errors": [
                        {"entityId": entity_id, "error": err.body()} for entity_id, err in outcome.errors
                    ],
                },
                status=207,
            )
        if created_status and outcome.created:
            return Response(orjson.dumps(outcome.created), status_code=201, media_type=JSON)
        return self.no_content()

    def update_result(self, outcome: UpdateOutcome) -> Response:
        if outcome.not_updated:
            return self.plain_json(
                {
                    "updated": [self.ctx.compact(a) for a in outcome.updated],
                    "notUpdated": [
                        {"attributeName": self.ctx.compact(a), "reason": reason}
                        for a, reason in outcome.not_updated
                    ],
                },
                status=207,
            )
        return self.no_content()

    def page_links(self, *, offset: int, limit: int, more: bool) -> str | None:
        links = []
        base = {k: v for k, v in self.params.items() if k not in ("offset", "limit")}
        path = self.request.url.path
        if offset > 0:
            prev_offset = max(0, offset - limit)
            links.append(
                f'<{path}?{urlencode({**base, "limit": limit, "offset": prev_offset})}>;rel="prev";type="{JSONLD}"'
            )
        if more:
            links.append(
                f'<{path}?{urlencode({**base, "limit": limit, "offset": offset + limit})}>;rel="next";type="{JSONLD}"'
            )
        return ",".join(links) if links else None


Work = Callable[[HubCall], Response]


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _context_from_link(request: Request) -> str | None:
    header = request.headers.get("link")
    if not header:
        return None
    for match in _LINK.finditer(header):
        url, attrs = match.group(1), match.group(2)
        if CONTEXT_REL in attrs:
            if not url.startswith(("http://", "https://")):
                raise BadRequestData("The Link header's @context must be an http(s) URL.")
            return url
    return None  # other relations (or a malformed link) say nothing about the @context


def negotiate(request: Request, *, geo: bool = False) -> str:
    """The response type from Accept (6.3.4): JSON, JSON-LD or (where allowed) GeoJSON, else 406."""
    header = request.headers.get("accept")
    if not header:
        return JSON
    offered = {JSON: 3, JSONLD: 2, **({GEOJSON: 1} if geo else {})}
    best: tuple[tuple[float, int], str] | None = None
    for part in header.split(","):
        bits = [b.strip() for b in part.split(";")]
        media = bits[0].lower()
        quality = 1.0
        for bit in bits[1:]:
            if bit.startswith("q="):
                try:
                    quality = float(bit[2:])
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        candidate = JSON if media in ("*/*", "application/*") else media
        if candidate not in offered:
            continue
        key = (quality, offered[candidate])
        if best is None or key > best[0]:
            best = (key, candidate)
    if best is None:
        raise PlainHttpError(406)
    return best[1]


async def read_body(
    request: Request, settings: Settings, *, patch: bool = False, context_optional: bool = False
) -> tuple[Any, ContextValue]:
    """(parsed JSON, its @context value) for POST/PATCH/PUT."""
    media = _content_type(request)
    allowed = {JSON, JSONLD} | ({"application/merge-patch+json"} if patch else set())
    if media not in allowed:
        raise PlainHttpError(415)
    if request.headers.get("content-length") is None:
        raise PlainHttpError(411)
    try:
        declared = int(request.headers["content-length"])
    except ValueError:
        raise InvalidRequest("Content-Length is not a number.") from None
    if declared > settings.hub_max_body_bytes:
        raise BadRequestData(
            f"The body is {declared} bytes; at most {settings.hub_max_body_bytes} are accepted.", status=413
        )
    raw = await request.body()
    if len(raw) > settings.hub_max_body_bytes:
        raise BadRequestData("The body is too large.", status=413)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The body is not valid JSON: {exc}.") from None
    link = _context_from_link(request)
    if media == JSONLD:
        if link is not None:
            raise BadRequestData(
                "With Content-Type application/ld+json the @context goes in the body, not in a Link header."
            )
        contexts = _body_contexts(data)
        if contexts is None and not context_optional:
            raise BadRequestData("A JSON-LD body (application/ld+json) must carry an @context.")
        return data, contexts
    if _body_contexts(data, strict=False) is not None:
        raise BadRequestData(
            "A JSON body (application/json) must not carry an @context; send it in a Link header."
        )
    return data, link


def _body_contexts(data: Any, *, strict: bool = True) -> ContextValue:
    if isinstance(data, dict):
        value: ContextValue = data.get("@context")
        return value
    if isinstance(data, list):
        found = [item.get("@context") for item in data if isinstance(item, dict)]
        present = [c for c in found if c is not None]
        if not present:
            return None
        if strict and len(present) != len(data):
            raise BadRequestData("Every entity of a JSON-LD batch must carry an @context.")
        first: ContextValue = present[0]
        if strict and any(c != first for c in present):
            raise BadRequestData("The entities of one JSON-LD batch must share one @context.")
        return first
    return None


def check_params(request: Request, allowed: frozenset[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key not in allowed:
            raise InvalidRequest(f"Unknown query parameter {key!r}.")
        params[key] = value
    return params


async def handle(
    request: Request,
    work: Work,
    *,
    params: frozenset[str] = frozenset(),
    body: bool = False,
    patch: bool = False,
    accept: bool = True,
    geo: bool = False,
    context_optional: bool = False,
    prepare: Callable[[Any, ActiveContext], Any] | None = None,
    quick: bool = False,
) -> Response:
    settings: Settings = request.app.state.settings
    query = check_params(request, params)
    media = negotiate(request, geo=geo) if accept else JSON
    data: Any = None
    ctx_value: ContextValue = None
    if body:
        data, ctx_value = await read_body(request, settings, patch=patch, context_optional=context_optional)
    else:
        ctx_value = _context_from_link(request)
    state = _state(request, settings)
    resolver = state.resolver
    factory = request.app.state.session_factory

    write = request.method != "GET"

    def parse() -> tuple[ActiveContext, Any]:
        ctx = resolver.resolve(ctx_value)
        return ctx, prepare(data, ctx) if prepare is not None else None

    def unit(ctx: ActiveContext, prepared: Any) -> Response:
        with unit_of_work(factory, write=write) as session:
            principal = get_principal(request, session)
            region_id = state.cache.tenant_region(
                session, request.headers.get(TENANT), settings.default_region
            )
            call = HubCall(
                request=request,
                session=session,
                settings=settings,
                region_id=region_id,
                principal=principal,
                params=query,
                ctx=ctx,
                ctx_value=ctx_value,
                resolver=resolver,
                body=data,
                accept=media,
                prepared=prepared,
                cache=state.cache,
            )
            if request.headers.get(TENANT):
                call.response_headers[TENANT] = request.headers[TENANT]
            return work(call)

    def run() -> Response:
        return unit(*parse())

    if write and sqlite_writer(factory) is not None:
        # SQLite: parse in the threadpool (fetching a @context may wait on the network), then the unit
        # of work on the engine's one writer thread (see the module's docstring)
        cached = resolver.cached(ctx_value)
        parsed = (cached, None) if cached is not None and prepare is None else await run_in_threadpool(parse)
        return await run_writing(factory, lambda: unit(*parsed))
    if quick and not write and _cannot_wait(request, factory.kw.get("bind"), resolver, ctx_value):
        return run()
    return await run_in_threadpool(run)


@dataclass
class _AppState:
    """Per application: its @context resolver and its ``ReadCache``."""

    engine: Engine
    resolver: ContextResolver
    cache: access.ReadCache


def _state(request: Request, settings: Settings) -> _AppState:
    app_state = request.app.state
    engine: Engine = app_state.engine
    found: _AppState | None = getattr(app_state, "hub_http", None)
    if found is None or found.engine is not engine:
        resolver = resolver_for(
            engine, timeout=settings.hub_context_timeout, cache_seconds=settings.hub_context_cache_seconds
        )
        resolver.outbound = OutboundPolicy.from_settings(settings)  # remote @contexts: this app's rule
        found = _AppState(engine=engine, resolver=resolver, cache=access.ReadCache())
        app_state.hub_http = found
    return found


def _cannot_wait(request: Request, bind: Any, resolver: ContextResolver, ctx_value: ContextValue) -> bool:
    """Whether a read may run on the event loop: nothing in it can block (see the module's docstring)."""
    if isinstance(bind, Engine):
        pool = bind.pool
        if bind.dialect.name != "sqlite" or not isinstance(pool, QueuePool) or pool.checkedin() < 1:
            return False
    elif not isinstance(bind, Connection) or bind.dialect.name != "sqlite":
        return False  # (a session bound to one connection: the tests' transaction)
    headers = request.headers
    if "authorization" in headers or "x-api-key" in headers or SESSION_COOKIE in request.cookies:
        return False  # a key or a login is looked up, and its last use written
    return resolver.cached(ctx_value) is not None
