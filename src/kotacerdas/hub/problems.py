"""NGSI-LD errors: ProblemDetails with the ETSI error types and statuses (GS CIM 009, 5.5.2 and 6.3.2).

Everything under ``/ngsi-ld/`` that fails is rendered by ``problem_response``: a JSON body
``{type, title, detail, status}`` as ``application/json`` with no Link header. Errors raised by the
rest of the platform (login, permissions, size limits) are mapped onto the closest ETSI type.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from fastapi import Request
from fastapi.responses import Response

from kotacerdas.errors import KotaCerdasError

ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


class NgsiError(KotaCerdasError):
    """An NGSI-LD error. ``detail`` is English: the API's audience is machines and their developers."""

    problem: ClassVar[str] = "InternalError"
    title: ClassVar[str] = "Internal error"
    status = 500
    code = "ngsi_error"

    def __init__(
        self, detail: str = "", *, status: int | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra
        if status is not None:
            self.status = status  # type: ignore[misc]

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": ERRORS + self.problem,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.extra:
            body.update(self.extra)
        return body


class InvalidRequest(NgsiError):
    problem, title, status = "InvalidRequest", "Invalid request", 400


class BadRequestData(NgsiError):
    problem, title, status = "BadRequestData", "Bad request data", 400


class AlreadyExists(NgsiError):
    problem, title, status = "AlreadyExists", "Already exists", 409


class OperationNotSupported(NgsiError):
    problem, title, status = "OperationNotSupported", "Operation not supported", 422


class ResourceNotFound(NgsiError):
    problem, title, status = "ResourceNotFound", "Resource not found", 404


class TooComplexQuery(NgsiError):
    problem, title, status = "TooComplexQuery", "Query too complex", 403


class TooManyResults(NgsiError):
    problem, title, status = "TooManyResults", "Too many results", 403


class LdContextNotAvailable(NgsiError):
    # V1.9.1 says 504; the ETSI test suite and Stellio expect 503. We follow the suite.
    problem, title, status = "LdContextNotAvailable", "@context not available", 503


class NonexistentTenant(NgsiError):
    problem, title, status = "NonexistentTenant", "Tenant does not exist", 404


class Unauthorized(NgsiError):
    # not an ETSI type; NGSI-LD leaves authentication to the deployment
    problem, title, status = "Unauthorized", "Authentication required", 401


class Forbidden(NgsiError):
    problem, title, status = "Forbidden", "Not allowed", 403


class PlainHttpError(NgsiError):
    """406, 411, 415: answered without a body, as 6.3.4 asks."""

    problem, title = "InvalidRequest", "HTTP error"

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__("", status=status)
        self.headers = headers or {}


_FROM_PLATFORM = {
    401: Unauthorized,
    403: Forbidden,
    404: ResourceNotFound,
    405: InvalidRequest,
    409: AlreadyExists,
    413: BadRequestData,
    422: BadRequestData,
    429: TooManyResults,
}


def as_ngsi(exc: KotaCerdasError, lang: str = "en") -> NgsiError:
    if isinstance(exc, NgsiError):
        return exc
    cls = _FROM_PLATFORM.get(exc.status, BadRequestData if exc.status < 500 else NgsiError)
    return cls(exc.translated(lang), status=exc.status)


def problem_response(request: Request | None, exc: KotaCerdasError) -> Response:
    err = as_ngsi(exc)
    if isinstance(err, PlainHttpError):
        return Response(status_code=err.status, headers=err.headers)
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    return Response(
        orjson.dumps(err.body()), status_code=err.status, media_type="application/json", headers=headers
    )
