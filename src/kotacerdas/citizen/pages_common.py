"""What the report pages share: the region a page is about and the links that keep it, posted forms,
the one translation of a service's refusal into messages next to the fields, flash messages after a
redirect, the map frame (to put a point on the kecamatan map and to read a click back), and deadlines.

Tracking numbers have their own path convertor (``{no:tracking}``), so ``/reports/{no}`` never swallows
another page under ``/reports/`` (the figures, the queue, the form).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.convertors import Convertor, register_url_convertor

from kotacerdas.auth.access import Principal
from kotacerdas.citizen.models import ReportCategory
from kotacerdas.db import run_after_rollback
from kotacerdas.errors import KotaCerdasError, NotFound
from kotacerdas.i18n import _, gettext
from kotacerdas.kit.time import to_local, utcnow
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region
from kotacerdas.region.pages import AreaMap, MapProjection, area_map
from kotacerdas.web.deps import csrf_protect
from kotacerdas.web.schemas import CONTROL, CONTROL_MESSAGE, GENERAL, FormErrors, form_errors

CSRF = [Depends(csrf_protect)]
TRACKING_NO = re.compile(r"^[A-Za-z0-9]{1,6}-[0-9]{4}-[0-9]{6,9}$")


class TrackingNoConvertor(Convertor[str]):
    """JBR-2026-000123 (any case in the address; upper case inside)."""

    regex = r"[A-Za-z0-9]{1,6}-[0-9]{4}-[0-9]{6,9}"

    def convert(self, value: str) -> str:
        return value.upper()

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("tracking", TrackingNoConvertor())


# ---------------------------------------------------------------- the region of a page


def public_region(session: Session, request: Request) -> Region:
    """``?region=<code>``, else the installation's default region, else the first region created."""
    code = request.query_params.get("region", "").strip()
    if code:
        if not regions.REGION_CODE.match(code):
            raise NotFound(_("Region {code} not found."), code=code[:20])
        return regions.get_region_by_code(session, code)
    return regions.default_region(session, request.app.state.settings.default_region)


@dataclass(frozen=True)
class Place:
    """The region a page is about; links keep ``?region=`` when the address named it."""

    region: Region
    explicit: bool = False

    def url(self, path: str, **params: Any) -> str:
        query = {k: v for k, v in params.items() if v not in (None, "", False)}
        if self.explicit:
            query = {"region": self.region.code, **query}
        return path + ("?" + urlencode(query, doseq=True) if query else "")


def visitor_place(session: Session, request: Request, principal: Principal) -> Place:
    """A public page: the region named in the address, else the visitor's own, else the default."""
    if request.query_params.get("region"):
        return Place(public_region(session, request), explicit=True)
    if principal.region_id is not None:
        return Place(regions.get_region(session, principal.region_id))
    return Place(public_region(session, request))


# ---------------------------------------------------------------- forms


def control_errors(values: Mapping[str, str], lang: str) -> FormErrors:
    """Texts holding control characters (PostgreSQL cannot store a NUL): a message next to each."""
    out = FormErrors()
    for name, value in values.items():
        if CONTROL.search(value):
            out[name] = gettext(lang, CONTROL_MESSAGE)
    return out


def clean_query(raw: str, limit: int = 100) -> str:
    """A search text from the address: control characters dropped, clipped."""
    return CONTROL.sub("", raw)[:limit].strip()


def int_or_none(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if re.fullmatch(r"\d{1,9}", raw) else None


def parse_coordinate(raw: str, low: float, high: float) -> float | None:
    """A degree as people type it (a comma works as the decimal point); None when it is not one."""
    raw = raw.strip().replace(",", ".").replace("\u2212", "-")
    if not re.fullmatch(r"-?\d{1,3}(\.\d{1,12})?", raw):
        return None
    value = float(raw)
    return value if low <= value <= high else None


# Service messages that arrive already formatted: translated again by matching their message id.
FORMATTED = (
    _("At most {limit} characters."),
    _("At most {n} photos."),
    _("A report has at most {n} photos."),
    _("This cannot be done while the report is {state}."),
    _("The point is outside {region}."),
)
_PATTERNS = [
    (
        message,
        re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+?)", re.escape(message)) + r"\Z", re.DOTALL),
    )
    for message in FORMATTED
]


def translate_text(lang: str, message: str) -> str:
    """A message id, or a formatted English message of ``FORMATTED``, in the reader's language."""
    for msgid, pattern in _PATTERNS:
        match = pattern.match(message)
        if match:
            return gettext(lang, msgid, **match.groupdict())
    return gettext(lang, message)


def refusal(exc: KotaCerdasError, lang: str, *, field: str | None = None) -> FormErrors:
    """A service's refusal: ``details`` {field: message} next to the fields, its message above them;
    a refusal without field details goes next to ``field`` when one is named."""
    if isinstance(exc.details, dict) and all(isinstance(v, str) for v in exc.details.values()):
        out = FormErrors({str(k): translate_text(lang, str(v)) for k, v in exc.details.items()})
        default = exc.message == type(exc).default_message
        out.general = gettext(lang, GENERAL) if default else exc.translated(lang)
        return out
    out = form_errors(exc, lang)
    if field and not any(k for k in out if k != field):
        out[field] = out.general
    return out


def undo(session: Session) -> None:
    """Forget what the refused step wrote (and the files it stored) before the page is shown again."""
    session.rollback()
    run_after_rollback(session)


FLASH = {
    "supported": _("Thank you: your support has been counted."),
    "already_supported": _("You have already supported this report."),
    "disposed": _("The report has been disposed to the office."),
    "rejected": _("The report has been rejected."),
    "accepted": _("The report has been taken up."),
    "responded": _("The follow-up has been sent to the reporter."),
    "reassigned": _("The report has been passed to another office."),
    "closed": _("The report has been closed."),
    "reopened": _("The report has been reopened and goes back to the office."),
    "noted": _("The note has been added."),
    "created": _("The category has been added."),
    "saved": _("Your changes have been saved."),
    "routes": _("The routing has been saved."),
    "day_added": _("The day off has been added."),
    "day_removed": _("The day off has been removed."),
    "channel_added": _("The channel has been added."),
    "channel_removed": _("The channel has been removed."),
}


def flash(request: Request, lang: str) -> dict[str, str] | None:
    """The message after a redirect: ``?ok=<key>`` names one of ``FLASH`` (never free text)."""
    key = request.query_params.get("ok", "")
    return {"message": gettext(lang, FLASH[key]), "kind": "ok"} if key in FLASH else None


# ---------------------------------------------------------------- labels and deadlines

STATE_CLASS = {
    "submitted": "warn",
    "disposed": "running",
    "in_progress": "running",
    "responded": "ok",
    "closed": "done",
    "rejected": "bad",
}


def late_days(due: datetime | None, region: Region, now: datetime | None = None) -> int:
    """Calendar days since the deadline passed in the region's zone (at least 1 once it has); 0 if not."""
    now = now or utcnow()
    if due is None:
        return 0
    local_due, local_now = to_local(due, region.timezone), to_local(now, region.timezone)
    if local_due >= local_now:
        return 0
    return max(1, (local_now.date() - local_due.date()).days)


@dataclass(frozen=True)
class CategoryGroup:
    label: str
    items: list[tuple[str, str]]  # (code, name)


def category_groups(rows: Sequence[ReportCategory], lang: str) -> list[CategoryGroup]:
    groups: dict[str, CategoryGroup] = {}
    for row in rows:
        label = row.group or gettext(lang, _("Other"))
        name = row.name_en if lang == "en" and row.name_en else row.name
        if row.is_private:
            name += " (" + gettext(lang, _("always confidential")) + ")"
        groups.setdefault(label, CategoryGroup(label, [])).items.append((row.code, name))
    return list(groups.values())


# ---------------------------------------------------------------- the map


@dataclass(frozen=True)
class RegionMap:
    drawing: AreaMap

    @property
    def frame(self) -> MapProjection:
        return self.drawing.projection


def region_map(
    session: Session, region: Region, *, width: float = 640, max_height: float = 480
) -> RegionMap | None:
    """The kecamatan of the region (all its areas if none is a kecamatan) as an SVG map, or None."""
    areas = regions.list_areas(session, region_id=region.id)
    shown = [a for a in areas if a.kind == "kecamatan"] or list(areas)
    pad = 14.0
    drawing = area_map(shown, region.boundary, width=width, max_height=max_height, pad=pad)
    return RegionMap(drawing) if drawing is not None else None


def osm_link(lat: float, lon: float) -> str:
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=17/{lat:.6f}/{lon:.6f}"
