"""The FastAPI application factory. Pages and API call the same service functions."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kotacerdas import __version__
from kotacerdas.auth import passwords
from kotacerdas.config import Settings, get_settings
from kotacerdas.db import make_engine, make_session_factory
from kotacerdas.web import errors as web_errors
from kotacerdas.web.deps import ANON_COOKIE, LANG_COOKIE

# modules whose `router` is included, in the order their paths should match
ROUTERS = [
    "kotacerdas.citizen.filing_routes",  # first: the hot filing endpoints (see that module)
    "kotacerdas.hub.api",
    "kotacerdas.hub.subscriptions_api",
    "kotacerdas.hub.temporal_api",
    "kotacerdas.framework.api",
    "kotacerdas.region.api",
    "kotacerdas.auth.api",
    "kotacerdas.masterplan.api",
    "kotacerdas.masterplan.excel_routes",
    "kotacerdas.citizen.open311",
    "kotacerdas.citizen.figures_api",  # before citizen.api, whose /reports/{tracking_no} would take it
    "kotacerdas.citizen.api",
    "kotacerdas.citizen.catalogue_api",
    "kotacerdas.auth.pages",
    "kotacerdas.region.pages",
    "kotacerdas.masterplan.pages",
    "kotacerdas.citizen.pages",
    "kotacerdas.citizen.catalogue_pages",
    "kotacerdas.citizen.figures_pages",
    "kotacerdas.web.pages",
]

STATIC = Path(__file__).parent / "web" / "static"


class Edges:
    """What every response gets: the body-size limit for uploads, the language and anonymous-visitor
    cookies, and the security headers.

    A plain ASGI middleware, not ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs
    the app in a task group behind a memory stream, which cost about a third of a millisecond per
    request (measured on ``GET /ngsi-ld/v1/entities/{id}``); this one only edits the response's
    start message.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings
        path: str = scope["path"]
        if not path.startswith("/ngsi-ld/"):  # the hub checks its own limit (ProblemDetails)
            # uploads: an evidence file, or a report with its three photos
            upload_limit = max(settings.upload_max_bytes, 3 * settings.report_photo_max_bytes)
            limit = upload_limit + 64 * 1024
            length = _header(scope, b"content-length")
            if length and length.isdigit() and int(length) > limit:
                from kotacerdas.errors import PayloadTooLarge
                from kotacerdas.web.render import format_number

                error = web_errors.render_error(
                    Request(scope, receive),
                    PayloadTooLarge(limit=format_number(upload_limit // 1024) + " KB"),
                )
                await error(scope, receive, send)
                return

        async def send_with_edges(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._edit(scope, MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_edges)

    def _edit(self, scope: Scope, headers: MutableHeaders) -> None:
        query = scope.get("query_string", b"")
        lang = QueryParams(query).get("lang") if query else None
        if lang in ("id", "en"):
            _set_cookie(headers, LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
        new_anon = scope.get("state", {}).get("new_anon")
        if new_anon:
            _set_cookie(
                headers,
                ANON_COOKIE,
                new_anon,
                samesite="lax",
                httponly=True,
                secure=self.settings.secure_cookies,
            )
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if not scope["path"].startswith("/docs"):
            headers.setdefault("X-Frame-Options", "DENY")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _set_cookie(headers: MutableHeaders, key: str, value: str, **options: Any) -> None:
    """The Set-Cookie header exactly as ``Response.set_cookie`` writes it."""
    cookie = Response()
    cookie.set_cookie(key, value, **options)
    for name, raw in cookie.raw_headers:
        if name == b"set-cookie":
            headers.append("set-cookie", raw.decode("latin-1"))


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level.upper())
    if engine is None:
        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.resolved_database_url)

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        stop = None
        if settings.embedded_worker:
            from kotacerdas.worker import start_embedded

            stop = start_embedded(application)
        try:
            yield
        finally:
            if stop is not None:
                stop()

    app = FastAPI(
        lifespan=lifespan,
        title="kotacerdas",
        version=__version__,
        description="Smart-city platform for Indonesian regional governments (Pemda). "
        "JSON API under /api/v1; NGSI-LD under /ngsi-ld/v1; Open311 under /open311/v2.",
        docs_url="/docs",
        redoc_url=None,
    )
    passwords.configure(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)

    web_errors.install(app)
    from kotacerdas.hub.problems import problem_response

    web_errors.register_renderer("/ngsi-ld/", problem_response)

    app.add_middleware(Edges, settings=settings)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    for module_name in ROUTERS:
        module = importlib.import_module(module_name)
        app.include_router(module.router)
    from kotacerdas.kit.runtime import tune_gc

    tune_gc()
    return app
