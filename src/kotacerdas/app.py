"""The FastAPI application factory. Pages and API call the same service functions."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from kotacerdas import __version__
from kotacerdas.auth import passwords
from kotacerdas.config import Settings, get_settings
from kotacerdas.db import make_engine, make_session_factory
from kotacerdas.web import errors as web_errors
from kotacerdas.web.deps import ANON_COOKIE, LANG_COOKIE

# modules whose `router` is included, in the order their paths should match
ROUTERS = [
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

    @app.middleware("http")
    async def _edges(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        hub = request.url.path.startswith("/ngsi-ld/")
        # uploads: an evidence file, or a report with its three photos
        upload_limit = max(settings.upload_max_bytes, 3 * settings.report_photo_max_bytes)
        limit = settings.hub_max_body_bytes if hub else upload_limit + 64 * 1024
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit and not hub:
            from kotacerdas.errors import PayloadTooLarge
            from kotacerdas.web.render import format_number

            return web_errors.render_error(
                request, PayloadTooLarge(limit=format_number(upload_limit // 1024) + " KB")
            )
        response = await call_next(request)
        lang = request.query_params.get("lang")
        if lang in ("id", "en"):
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
        new_anon = getattr(request.state, "new_anon", None)
        if new_anon:
            response.set_cookie(
                ANON_COOKIE, new_anon, samesite="lax", httponly=True, secure=settings.secure_cookies
            )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/docs"):
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response

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
