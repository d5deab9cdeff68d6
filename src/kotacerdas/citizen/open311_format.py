"""Open311 GeoReport v2 documents: what each operation answers, written as XML or as JSON.

A document is a root tag and a body, in the shape of the spec's field tables. XML is built with
ElementTree (so every text is escaped), UTF-8 with its declaration and no namespace; JSON is the
Spark-convention mapping of the same XML: a list body becomes the top-level array, an object body
(the service definition, the discovery file) an object, an empty element ``null``. Errors are the
spec's list of ``code`` and ``description``, in the reader's language, and the HTTP status is only
ever 400, 403 or 404, as the spec asks.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET  # builds documents only; nothing is parsed here
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from kotacerdas.citizen import labels
from kotacerdas.citizen.models import CLOSED_STATES, Report, ReportCategory
from kotacerdas.citizen.reports import aware
from kotacerdas.citizen.schemas import ReportRead
from kotacerdas.errors import KotaCerdasError, ValidationFailed
from kotacerdas.i18n import _, gettext, translate
from kotacerdas.kit.time import to_local
from kotacerdas.region.models import Region
from kotacerdas.web.deps import language

FORMATS = ("xml", "json")
MEDIA_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# the child element of each list (XML); in JSON the list is an array
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}
# characters XML 1.0 cannot carry, even escaped; a report filed elsewhere may hold one
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Document:
    root: str
    body: list[dict[str, Any]] | dict[str, Any]


# ---------------------------------------------------------------- writing


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, tag: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), key, child)
    elif isinstance(value, list):
        item_tag = ITEM_TAGS[tag]
        for item in value:
            _fill(ET.SubElement(element, item_tag), item_tag, item)
    else:
        element.text = _text(value)


def to_xml(doc: Document) -> bytes:
    root = ET.Element(doc.root)
    _fill(root, doc.root, doc.body)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")).encode()


def to_json(doc: Document) -> bytes:
    return json.dumps(doc.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def respond(doc: Document, fmt: str, status: int = 200) -> Response:
    content = to_json(doc) if fmt == "json" else to_xml(doc)
    return Response(content, status_code=status, media_type=MEDIA_TYPES[fmt])


# ---------------------------------------------------------------- errors


Problem = tuple[str, str, dict[str, Any]]  # parameter (may be ""), English message id, its parameters


class Open311Failed(KotaCerdasError):
    """One or more Open311 errors, each naming the parameter at fault; translated when rendered."""

    code = "open311"

    def __init__(self, status: int, problems: list[Problem]) -> None:
        super().__init__(problems[0][1] if problems else None)
        self.status = status  # type: ignore[misc]
        self.problems = problems


def problem(status: int, field: str, message: str, **params: Any) -> Open311Failed:
    return Open311Failed(status, [(field, message, params)])


def _describe(lang: str, field: str, message: str, params: dict[str, Any]) -> str:
    text = gettext(lang, message, **params) if params else translate(lang, message)
    return f"{field}: {text}" if field else text


def error_items(exc: KotaCerdasError, lang: str) -> list[dict[str, Any]]:
    code = 400 if exc.status == 422 else exc.status
    if isinstance(exc, Open311Failed):
        return [{"code": code, "description": _describe(lang, *p)} for p in exc.problems]
    if isinstance(exc, ValidationFailed) and isinstance(exc.details, list) and exc.details:
        # FastAPI's own checks of the query and path (too long, wrong type)
        return [
            {
                "code": 400,
                "description": _describe(lang, str(d.get("field", "")), str(d.get("message", "")), {}),
            }
            for d in exc.details
            if isinstance(d, dict)
        ]
    if isinstance(exc, ValidationFailed) and isinstance(exc.details, dict) and exc.details:
        return [
            {"code": 400, "description": _describe(lang, str(field), str(message), {})}
            for field, message in exc.details.items()
        ]
    return [{"code": code, "description": exc.translated(lang)}]


def http_status(exc: KotaCerdasError) -> int:
    """404 for what does not exist, 403 for a wrong or missing key, 400 for anything else (spec, Errors)."""
    if exc.status in (401, 403):
        return 403
    if exc.status == 404:
        return 404
    return 400


def wanted_format(request: Request) -> str:
    return "json" if request.url.path.lower().endswith(".json") else "xml"


def error_response(request: Request, exc: KotaCerdasError) -> Response:
    """The renderer for every error raised under /open311/: the spec's error list, never the house JSON."""
    lang = language(request)
    items = error_items(exc, lang)
    if exc.status in (401, 403):
        for item in items:
            item["code"] = 403
    return respond(Document("errors", items), wanted_format(request), http_status(exc))


# ---------------------------------------------------------------- the documents


def w3c(moment: datetime | None, region: Region) -> str | None:
    """ISO 8601 with the region's offset (WIB +07:00), to the second."""
    moment = aware(moment)
    if moment is None:
        return None
    return to_local(moment, region.timezone).isoformat(timespec="seconds")


def service_name(category: ReportCategory, lang: str) -> str:
    return category.name_en if lang == "en" and category.name_en else category.name


def service_item(category: ReportCategory, lang: str) -> dict[str, Any]:
    keywords = [word.strip() for word in category.keywords.split(",") if word.strip()]
    if category.is_private and "private" not in keywords:
        keywords.append("private")  # FixMyStreet's mark of a category whose reports are not public
    return {
        "service_code": category.code,
        "service_name": service_name(category, lang),
        "description": category.description or None,
        "metadata": bool(category.attributes),
        "type": category.open311_type,
        "keywords": ", ".join(keywords) or None,
        "group": category.group or None,
    }


def service_definition(category: ReportCategory) -> dict[str, Any]:
    attributes = sorted(category.attributes, key=lambda a: int(a.get("order") or 0))
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": bool(a.get("variable", True)),
                "code": a["code"],
                "datatype": a["datatype"],
                "required": bool(a.get("required", False)),
                "datatype_description": a.get("datatype_description") or None,
                "order": n,
                "description": a.get("description") or None,
                "values": [{"key": v["key"], "name": v["name"]} for v in a.get("values") or []],
            }
            for n, a in enumerate(attributes, start=1)
        ],
    }


def status_notes(read: ReportRead, lang: str) -> str:
    """The state in words (Diproses, Ditolak ...), which report this one duplicates, the latest public note."""
    if read.duplicate_of:
        head = gettext(lang, labels.STATE_LABELS[read.state])
        head += " — " + gettext(lang, _("Duplicate report ({number})"), number=read.duplicate_of)
    else:
        head = read.state_label
    return f"{head} — {read.status_note}" if read.status_note else head


def request_item(
    read: ReportRead, report: Report, *, region: Region, lang: str, public_url: str
) -> dict[str, Any]:
    """A report as a GET request: never who filed it."""
    closed = read.state in CLOSED_STATES
    media = report.media_url or (public_url.rstrip("/") + read.photos[0] if read.photos else None)
    return {
        "service_request_id": read.tracking_no,
        "status": "closed" if closed else "open",
        "status_notes": status_notes(read, lang),
        "service_name": read.category_name,
        "service_code": read.category,
        "description": read.description or None,
        "agency_responsible": read.office.name if read.office else None,
        "service_notice": None,
        "requested_datetime": w3c(read.submitted_at, region),
        "updated_datetime": w3c(read.closed_at if closed and read.closed_at else read.updated_at, region),
        "expected_datetime": w3c(read.due_at, region),
        "address": read.address or None,
        "address_id": None,
        "zipcode": None,
        "lat": read.lat,
        "long": read.lon,
        "media_url": media,
    }
