"""Render errors in the format of where they happened: JSON for /api, a page for HTML.

Protocols with their own error format (NGSI-LD ProblemDetails, the Open311 error list) register a
renderer for their path prefix with ``register_renderer``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from kotacerdas.errors import KotaCerdasError, NotFound, PayloadTooLarge, ValidationFailed
from kotacerdas.i18n import Message, _, gettext, translate
from kotacerdas.web.deps import language

log = logging.getLogger(__name__)


class MethodNotAllowed(KotaCerdasError):
    status = 405
    code = "method_not_allowed"
    default_message = _("This address does not accept this method.")


class HttpError(KotaCerdasError):
    """Another status raised by the framework itself (400 for an unreadable body, for example)."""

    code = "http_error"

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status  # type: ignore[misc]


Renderer = Callable[[Request, KotaCerdasError], Response]
_renderers: list[tuple[str, Renderer]] = []


def register_renderer(prefix: str, renderer: Renderer) -> None:
    _renderers.append((prefix, renderer))
    _renderers.sort(key=lambda item: -len(item[0]))


def api_error(request: Request, exc: KotaCerdasError) -> Response:
    lang = language(request)
    body: dict[str, Any] = {"error": {"code": exc.code, "message": exc.translated(lang)}}
    if exc.details is not None:
        details = exc.details
        if isinstance(details, dict):  # field -> message: messages given as i18n.Message are translated
            details = {k: translate(lang, v) if isinstance(v, Message) else v for k, v in details.items()}
        body["error"]["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(body, status_code=exc.status, headers=headers)


def page_error(request: Request, exc: KotaCerdasError) -> Response:
    from kotacerdas.web.render import (
        render,  # late: render imports deps, which is fine, but keeps import light
    )

    if exc.status == 401 and request.method == "GET":
        from urllib.parse import quote

        from fastapi.responses import RedirectResponse

        return RedirectResponse(f"/login?next={quote(str(request.url.path))}", status_code=303)
    return render(
        request, "error.html", {"error": exc, "message": exc.translated(language(request))}, exc.status
    )


def render_error(request: Request, exc: KotaCerdasError) -> Response:
    path = request.url.path
    for prefix, renderer in _renderers:
        if path.startswith(prefix):
            return renderer(request, exc)
    return page_error(request, exc)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.append(
            {
                "field": ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc),
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
        )
    return out


def install(app: FastAPI) -> None:
    register_renderer("/api/", api_error)

    @app.exception_handler(KotaCerdasError)
    async def _kc(request: Request, exc: KotaCerdasError) -> Response:
        return render_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        details = _validation_details(exc)
        if any(d["type"] == "json_invalid" for d in details):
            err = ValidationFailed(_("The request body is not valid JSON."), details=details)
        else:
            err = ValidationFailed(details=details)
        return render_error(request, err)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            err: KotaCerdasError = NotFound()
        elif exc.status_code == 413:
            err = PayloadTooLarge(_("The request is too large."))
        elif exc.status_code == 405:
            err = MethodNotAllowed()
        else:
            err = HttpError(str(exc.detail), status=exc.status_code)
        response = render_error(request, err)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        lang = language(request)
        msg = gettext(lang, _("Something went wrong on our side. The error has been logged."))
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": {"code": "internal_error", "message": msg}}, status_code=500)
        return Response(msg, status_code=500, media_type="text/plain; charset=utf-8")
