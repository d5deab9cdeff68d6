"""One error hierarchy for every domain.

An error carries a stable ``code``, an HTTP status, an English message id (translated where it is
shown) with its parameters, and optional structured ``details`` (field errors, row errors). The web
layer renders it as JSON for ``/api/...``, as a page for HTML, and each protocol (NGSI-LD, Open311)
registers its own format. Bad input is always one of these, never a bare 500.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kotacerdas.i18n import _, gettext


class KotaCerdasError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_message: ClassVar[str] = _("The request could not be processed.")

    def __init__(self, message: str | None = None, *, details: Any = None, **params: Any) -> None:
        self.message = message or self.default_message
        self.params = params
        self.details = details
        super().__init__(self.message.format(**params) if params else self.message)

    def translated(self, lang: str) -> str:
        return gettext(lang, self.message, **self.params)


class ValidationFailed(KotaCerdasError):
    status = 422
    code = "validation_failed"
    default_message = _("Some fields are not valid.")


class NotAuthenticated(KotaCerdasError):
    status = 401
    code = "not_authenticated"
    default_message = _("Please log in first.")


class PermissionDenied(KotaCerdasError):
    status = 403
    code = "permission_denied"
    default_message = _("You do not have permission to do this.")


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"
    default_message = _(
        "The form has expired or was not sent from this site. Please reload the page and try again."
    )


class NotFound(KotaCerdasError):
    status = 404
    code = "not_found"
    default_message = _("Not found.")


class Conflict(KotaCerdasError):
    status = 409
    code = "conflict"
    default_message = _("This conflicts with data already stored.")


class PayloadTooLarge(KotaCerdasError):
    status = 413
    code = "payload_too_large"
    default_message = _("The file is too large (at most {limit}).")


class UnsupportedMediaType(KotaCerdasError):
    status = 415
    code = "unsupported_media_type"
    default_message = _("This type of file is not accepted.")


class RateLimited(KotaCerdasError):
    status = 429
    code = "rate_limited"
    default_message = _("Too many attempts. Please wait a moment and try again.")
