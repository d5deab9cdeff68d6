"""Shapes every JSON API shares: the error body and its OpenAPI declarations, constrained field types,
the request-body bases, and the one translation of a refused form (a schema's validation errors or a
service's refusal) into messages next to its fields, used by every domain's pages.

The field types refuse what the databases would refuse later (a NUL character in text, an integer
beyond a 32-bit key), so bad input stops at the schema as a 422 instead of reaching SQL as a 500.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
# the codes people give things (programme and indicator codes): no spaces, no leading punctuation
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"


def has_control(value: Any) -> bool:
    """Whether a text, or any text inside a list or dict (keys too), holds a refused control character."""
    if isinstance(value, str):
        return CONTROL.search(value) is not None
    if isinstance(value, list):
        return any(has_control(v) for v in value)
    if isinstance(value, dict):
        return any(has_control(k) or has_control(v) for k, v in value.items())
    return False


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

# what a schema's complaint says next to a form field, by pydantic's error type; the {placeholders}
# are filled from the complaint's context (FIELD_LIMITS)
FIELD_MESSAGES = {
    "missing": _("This field is required."),
    "string_too_short": _("This is too short (at least {min_length} characters)."),
    "string_too_long": _("This is too long (at most {max_length} characters)."),
    "too_short": _("Choose at least {min_length}."),
    "too_long": _("There are too many entries (at most {max_length})."),
    "literal_error": _("Choose one of the options."),
    "enum": _("Choose one of the options."),
    "bool_parsing": _("Choose yes or no."),
    "bool_type": _("Choose yes or no."),
    "int_parsing": _("Enter a whole number."),
    "int_type": _("Enter a whole number."),
    "int_from_float": _("Enter a whole number."),
    "float_parsing": _("Enter a number."),
    "float_type": _("Enter a number."),
    "decimal_parsing": _("Enter a number."),
    "decimal_type": _("Enter a number."),
    "decimal_max_digits": _("This number has too many digits."),
    "decimal_whole_digits": _("This number has too many digits."),
    "decimal_max_places": _("This number has too many decimal places."),
    "greater_than_equal": _("This number is too small (at least {ge})."),
    "greater_than": _("This number must be more than {gt}."),
    "less_than_equal": _("This number is too large (at most {le})."),
    "less_than": _("This number must be less than {lt}."),
    "string_pattern_mismatch": _("This value is not valid."),
    "url_parsing": _("Enter a full web address, starting with https://."),
    "url_scheme": _("Enter a full web address, starting with https://."),
    "url_type": _("Enter a full web address, starting with https://."),
    "url_too_long": _("This web address is too long."),
    "date_from_datetime_parsing": _("Enter a date."),
    "date_parsing": _("Enter a date."),
    "date_type": _("Enter a date."),
}
# a pattern says more than "not valid" where the pattern is one of ours
PATTERN_MESSAGES = {
    CODE_PATTERN: _("Use letters, digits and . _ / - only, starting with a letter or digit."),
    EMAIL_PATTERN: _("Enter a valid e-mail address."),
}
CONTROL_MESSAGE = _("This text contains control characters; remove them.")
FIELD_LIMITS = ("min_length", "max_length", "ge", "gt", "le", "lt")
GENERAL = _("Please correct the marked fields.")


class FormErrors(dict[str, str]):
    """Field name → translated message; ``general`` is the message shown above the form."""

    general: str = ""


def _field_message(err: Any) -> tuple[str, dict[str, str]]:
    kind, ctx, given = err["type"], err.get("ctx") or {}, err.get("input")
    if kind in ("string_pattern_mismatch", "value_error") and has_control(given):
        # NO_NUL on a constrained string, or a domain's own check of every text (masterplan)
        return CONTROL_MESSAGE, {}
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        return FIELD_MESSAGES["missing"], {}
    if kind == "string_too_short" and isinstance(given, str) and not given.strip():
        return FIELD_MESSAGES["missing"], {}  # left empty: "required" says more than a length
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in PATTERN_MESSAGES:
        return PATTERN_MESSAGES[ctx["pattern"]], {}
    message = FIELD_MESSAGES.get(kind, _("This value is not valid."))
    return message, {k: str(v) for k, v in ctx.items() if k in FIELD_LIMITS}


def form_errors(
    exc: ValidationError | KotaCerdasError,
    lang: str,
    *,
    rename: Mapping[str, str] | None = None,
    fields: Mapping[str, str] | None = None,
) -> FormErrors:
    """The messages for a form that the schema or the service refused: one per field, and the one above it.

    A schema's complaint goes next to its top-level field (a nested one counts as its list; the first
    complaint about a field wins), renamed by ``rename`` where the form calls a field differently;
    the message above says to correct the marked fields. A service's refusal is its own message,
    above the form and next to the field ``fields`` gives for its message id, else next to every
    field its details name.
    """
    out = FormErrors()
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            loc = err.get("loc", ())
            if not loc:
                continue  # about the whole form: the message above covers it
            name = (rename or {}).get(str(loc[0]), str(loc[0]))
            if name not in out:
                message, params = _field_message(err)
                out[name] = gettext(lang, message, **params)
        out.general = gettext(lang, GENERAL)
        return out
    message = exc.translated(lang)
    mapped = (fields or {}).get(exc.message)
    if mapped:
        out[mapped] = message
    elif isinstance(exc.details, list):
        for detail in exc.details:
            if isinstance(detail, dict) and isinstance(detail.get("field"), str):
                out[(rename or {}).get(detail["field"], detail["field"])] = message
    out.general = message
    return out
