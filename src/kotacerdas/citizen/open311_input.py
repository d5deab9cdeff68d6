"""What an Open311 call sends, read and checked: the POST's form over its query, empty parameters
taken as absent (spec: Optional Arguments), numbers, W3C date-times, and the ``attribute[code]``
answers against the service definition. Each problem names the parameter at fault."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from kotacerdas.citizen import reports
from kotacerdas.citizen.open311_format import Problem, problem
from kotacerdas.i18n import _
from kotacerdas.web.schemas import CONTROL

MAX_DESCRIPTION = reports.MAX_DESCRIPTION  # the spec's 4,000 characters
STRING_ATTRIBUTE_MAX = 300
ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def clean(value: str | None, field: str) -> str | None:
    """An empty parameter is an absent one (spec: Optional Arguments); control characters are refused."""
    if value is None:
        return None
    if CONTROL.search(value):
        raise problem(400, field, _("Control characters are not allowed."))
    return value.strip() or None


def comma_list(value: str | None, field: str) -> list[str]:
    text = clean(value, field)
    return [part.strip() for part in text.split(",") if part.strip()] if text else []


class Params:
    """The parameters of a POST: the body's (form-urlencoded or multipart) over the query's."""

    def __init__(self, values: dict[str, list[str]]) -> None:
        self.values = values

    def one(self, name: str) -> str | None:
        found = self.values.get(name) or []
        return clean(found[0], name) if found else None

    def attributes(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, values in self.values.items():
            match = ATTRIBUTE.match(key)
            if match:
                cleaned = [clean(v, key) for v in values]
                out.setdefault(match.group(1), []).extend(v for v in cleaned if v is not None)
        return out


async def read_params(request: Request) -> Params:
    try:
        form = await request.form()
    except (MultiPartException, ValueError, UnicodeDecodeError) as exc:
        raise problem(400, "", _("The request body cannot be read as a form.")) from exc
    values: dict[str, list[str]] = {}
    for key in request.query_params:
        values[key] = request.query_params.getlist(key)
    body: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            continue  # media are given as media_url; uploads are not part of the spec
        body.setdefault(key, []).append(value)
    values.update(body)
    return Params(values)


FormParams = Annotated[Params, Depends(read_params)]


def parse_number(value: str | None) -> float | None:
    if value is None or not NUMBER.match(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_location(params: Params, problems: list[Problem]) -> tuple[float | None, float | None]:
    raw_lat, raw_long = params.one("lat"), params.one("long")
    if raw_lat is None and raw_long is None:
        return None, None
    if raw_lat is None or raw_long is None:
        problems.append(("lat/long", _("Give both lat and long."), {}))
        return None, None
    lat, lon = parse_number(raw_lat), parse_number(raw_long)
    if lat is None or not -90 <= lat <= 90:
        problems.append(("lat", _("Give a latitude in degrees, from -90 to 90 (WGS84)."), {}))
    if lon is None or not -180 <= lon <= 180:
        problems.append(("long", _("Give a longitude in degrees, from -180 to 180 (WGS84)."), {}))
    return lat, lon


def parse_datetime(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    return moment if 1900 <= moment.year <= 2200 else None


class Defined(Protocol):
    """A service with its definition's attributes (a ``ReportCategory``, filing's ``Offered``)."""

    @property
    def attributes(self) -> list[dict[str, Any]]: ...


def check_attribute_values(
    category: Defined, given: dict[str, list[str]], problems: list[Problem]
) -> dict[str, object]:
    """``attribute[code]`` answers checked against the service definition; the values to store."""
    definitions = {a["code"]: a for a in category.attributes if a.get("variable", True)}
    for code in given:
        if code not in definitions:
            problems.append(
                (f"attribute[{code}]", _("This service has no attribute {code}."), {"code": code})
            )
    out: dict[str, object] = {}
    for code, definition in definitions.items():
        field = f"attribute[{code}]"
        values = given.get(code, [])
        datatype = definition["datatype"]
        if not values:
            if definition.get("required"):
                problems.append((field, _("This attribute is required."), {}))
            continue
        if datatype == "multivaluelist":
            keys = {str(v["key"]) for v in definition.get("values") or []}
            wrong = [v for v in values if v not in keys]
            if wrong:
                problems.append(
                    (field, _("Not a value of this attribute: {values}."), {"values": ", ".join(wrong)})
                )
            out[code] = list(dict.fromkeys(values))
            continue
        if len(values) > 1:
            problems.append((field, _("This attribute takes a single value."), {}))
            continue
        value = values[0]
        if datatype == "singlevaluelist":
            if value not in {str(v["key"]) for v in definition.get("values") or []}:
                problems.append((field, _("Not a value of this attribute: {values}."), {"values": value}))
            out[code] = value
        elif datatype == "number":
            number = parse_number(value)
            if number is None:
                problems.append((field, _("Give a number (e.g. 12 or 3.5)."), {}))
            else:
                out[code] = int(number) if number.is_integer() and abs(number) < 2**53 else number
        elif datatype == "datetime":
            if parse_datetime(value) is None:
                problems.append(
                    (field, _("Give a date and time in ISO 8601, e.g. 2026-06-01T08:00:00+07:00."), {})
                )
            out[code] = value
        else:
            limit = STRING_ATTRIBUTE_MAX if datatype == "string" else MAX_DESCRIPTION
            if datatype == "string" and ("\n" in value or "\r" in value):
                problems.append((field, _("This attribute takes a single line."), {}))
            if len(value) > limit:
                problems.append((field, _("At most {limit} characters."), {"limit": limit}))
            out[code] = value
    return out


# the report's fields as the service names them, and the Open311 parameter they come from


def parse_w3c(value: str | None, field: str, problems: list[Problem]) -> datetime | None:
    text = clean(value, field)
    if text is None:
        return None
    moment = parse_datetime(text) if "T" in text.upper() else None
    if moment is None or moment.tzinfo is None:
        problems.append(
            (
                field,
                _("Give a date and time in W3C format with its time zone, e.g. 2026-06-01T00:00:00Z."),
                {},
            )
        )
        return None
    return moment.astimezone(UTC)


def parse_page(value: str | None, field: str, top: int, problems: list[Problem]) -> int | None:
    text = clean(value, field)
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= top:
        problems.append((field, _("Give a whole number from 1 to {top}."), {"top": top}))
        return None
    return int(text)
