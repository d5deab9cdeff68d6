"""Shapes every JSON API shares: the error body and its OpenAPI declarations, constrained field types,
and the translation of a schema's validation errors into messages next to form fields.

The field types refuse what the databases would refuse later (a NUL character in text, an integer
beyond a 32-bit key), so bad input stops at the schema as a 422 instead of reaching SQL as a 500.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from kotacerdas.errors import KotaCerdasError
from kotacerdas.i18n import _, gettext

MAX_ID = 2**31 - 1  # primary keys are 32-bit INTEGER columns on PostgreSQL
# PostgreSQL text cannot hold NUL, workbooks and XML cannot hold the other C0 controls: refuse them
# at the edge (tab and line breaks are text)
CONTROL_CHARS = "\x00-\x08\x0b\x0c\x0e-\x1f"
CONTROL = re.compile(f"[{CONTROL_CHARS}]")
NO_NUL = f"^[^{CONTROL_CHARS}]*$"
EMAIL_PATTERN = r"^[^@\s\x00]+@[^@\s\x00]+$"

DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200, pattern=EMAIL_PATTERN)
]


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC); answer the same on both databases
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]


class Strict(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


def _patch_schema(schema: dict[str, Any], model: type[Any]) -> None:
    # document ``null`` only where it is accepted, so that the OpenAPI document says what the API does
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if name in nullable or not options:
            continue
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1:
            del prop["anyOf"]
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept


class Patch(Strict):
    """A partial update: a field left out keeps its value; ``null`` is accepted only where it means
    "clear" (``nullable``), so a ``null`` never reaches a NOT NULL column as a 500."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_patch_schema)

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. not_found, validation_failed")
    message: str = Field(description="What went wrong, in the language of the request")
    details: Any | None = Field(None, description="Structured details, e.g. the fields that are not valid")


class ErrorBody(BaseModel):
    """Every error of the JSON API has this shape."""

    error: ErrorInfo


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request body could not be read (for example, it is not UTF-8)",
    401: "Not logged in, or the API key is not valid or has been revoked",
    403: "Logged in, but not allowed to do this (another region, a missing role or permission, or a missing CSRF token)",
    404: "Not found (or not in this region)",
    409: "Conflicts with data already stored",
    413: "The request is too large",
    415: "Unsupported media type",
    422: "The request body or parameters are not valid",
    429: "Too many attempts",
}


def error_responses(*statuses: int, by_reference: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the errors an endpoint returns, all with the ``ErrorBody`` schema.

    ``by_reference`` is for endpoints whose success is not ``application/json`` (GeoJSON): FastAPI would
    document a ``model`` under the endpoint's own media type, while errors are always JSON.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        if by_reference:
            out[status] = {
                "description": ERROR_DESCRIPTIONS[status],
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            }
        else:
            out[status] = {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]}
    return out


# what the common read, write and create endpoints can answer besides success
READ_ERRORS = error_responses(401, 403, 404, 422)
WRITE_ERRORS = error_responses(400, 401, 403, 404, 409, 422)


# ---------------------------------------------------------------- forms

_FIELD_MESSAGES = {
    "missing": _("This field is required."),
    "string_too_short": _("This is too short (at least {min_length} characters)."),
    "string_too_long": _("This is too long (at most {max_length} characters)."),
    "too_short": _("Choose at least {min_length}."),
    "literal_error": _("Choose one of the options."),
    "enum": _("Choose one of the options."),
    "int_parsing": _("Enter a whole number."),
    "bool_parsing": _("Choose yes or no."),
}


def field_errors(exc: ValidationError, lang: str) -> dict[str, str]:
    """Field name → translated message, for showing a schema's complaints next to form fields."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = err.get("loc", ())
        name = str(loc[0]) if loc else ""
        if name in out:
            continue
        ctx = err.get("ctx") or {}
        message = _FIELD_MESSAGES.get(err["type"], _("This value is not valid."))
        if err["type"] in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
            message = _FIELD_MESSAGES["missing"]
        params = {k: v for k, v in ctx.items() if k in ("min_length", "max_length")}
        out[name] = gettext(lang, message, **params)
    return out


def form_problem(exc: ValidationError | KotaCerdasError, lang: str) -> tuple[str, dict[str, str]]:
    """(message above the form, messages by field) for a form the schema or the service refused."""
    if isinstance(exc, ValidationError):
        return gettext(lang, _("Please correct the marked fields.")), field_errors(exc, lang)
    message = exc.translated(lang)
    fields: dict[str, str] = {}
    if isinstance(exc.details, list):
        for detail in exc.details:
            if isinstance(detail, dict) and isinstance(detail.get("field"), str):
                fields[detail["field"]] = message
    return message, fields
