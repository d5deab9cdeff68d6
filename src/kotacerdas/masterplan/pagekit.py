"""What the masterplan pages share: the region a page is about, who may do what there, the labels of
coded values, flash messages, and reading posted form fields into schema input (what a schema or
service refuses is put next to the fields by ``web.schemas.form_errors``, shared with every domain).

A page is about one region. Staff of a region use ``/masterplans/...`` (their own region); a national
evaluator, who belongs to none, uses ``/regions/{code}/masterplans/...``. Both forms run the same
handlers: ``Scope`` carries the region and the URL prefix (``base``) that links on the page keep.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from kotacerdas.auth.access import (
    Principal,
    require_login,
    require_office_write,
    require_read,
    require_region_admin,
)
from kotacerdas.errors import NotAuthenticated, PermissionDenied
from kotacerdas.i18n import _, gettext
from kotacerdas.kit.time import current_year
from kotacerdas.region import service as regions
from kotacerdas.web.deps import CurrentPrincipal, DbSession, language
from kotacerdas.web.render import format_number

if TYPE_CHECKING:  # the region comes from region.service; its model is only named here
    from kotacerdas.region.models import Region

READ = "masterplan:read"

# ---------------------------------------------------------------- labels of coded values
# English message ids, translated where they are shown: {{ _(labels.kind[p.kind]) }}

KIND_LABELS = {
    "regulation": _("Regulation"),
    "infrastructure": _("Infrastructure"),
    "application": _("Application"),
    "ict_hr": _("ICT human resources"),
    "cooperation": _("Cooperation between institutions"),
}
TERM_LABELS = {"short": _("Short term"), "medium": _("Medium term"), "long": _("Long term")}
FUNDING_LABELS = {
    "APBD": _("APBD (regional budget)"),
    "APBN": _("APBN (national budget)"),
    "KPBU": _("KPBU (public-private partnership)"),
    "CSR": _("CSR"),
    "private": _("Private sector"),
    "community": _("Community"),
}
YEAR_STATUS_LABELS = {
    "planned": _("Planned"),
    "running": _("Running"),
    "done": _("Done"),
    "stalled": _("Stalled"),
}
MASTERPLAN_STATUS_LABELS = {"draft": _("Draft"), "approved": _("Approved")}
DIRECTION_LABELS = {"higher": _("Higher is better"), "lower": _("Lower is better")}
QUICK_WIN_LABELS = {
    "innovation": _("Innovation"),
    "attractiveness": _("Attractiveness"),
    "benefit": _("Benefit"),
    "uniqueness": _("Uniqueness"),
    "partnership": _("Partnership opportunity"),
    "development_potential": _("Development potential"),
    "continuity": _("Continuity"),
    "resources": _("Resources"),
    "risk_management": _("Risk management"),
    "sustainability": _("Sustainability"),
}
SECTION_LABELS = {
    "readiness_struktur": _("Readiness: structure"),
    "readiness_infrastruktur": _("Readiness: infrastructure"),
    "readiness_suprastruktur": _("Readiness: superstructure"),
    "swot_strengths": _("Strengths"),
    "swot_weaknesses": _("Weaknesses"),
    "swot_opportunities": _("Opportunities"),
    "swot_threats": _("Threats"),
    "gap_analysis": _("Gap analysis"),
    "strategy": _("Development strategy"),
}


@dataclass(frozen=True)
class Labels:
    kind: Mapping[str, str]
    term: Mapping[str, str]
    funding: Mapping[str, str]
    status: Mapping[str, str]
    plan_status: Mapping[str, str]
    direction: Mapping[str, str]
    quick_win: Mapping[str, str]
    section: Mapping[str, str]


LABELS = Labels(
    KIND_LABELS,
    TERM_LABELS,
    FUNDING_LABELS,
    YEAR_STATUS_LABELS,
    MASTERPLAN_STATUS_LABELS,
    DIRECTION_LABELS,
    QUICK_WIN_LABELS,
    SECTION_LABELS,
)

# The dimensions of the shipped editions have their colours in app.css (.dim-<code>); the charts need
# them as values. A dimension of another edition takes a colour of the palette by its position.
DIMENSION_COLOURS = {
    "governance": "#0b5cab",
    "branding": "#8e44ad",
    "economy": "#c27c0e",
    "living": "#1e8e6e",
    "society": "#d35400",
    "environment": "#2e7d32",
    "mobility": "#00838f",  # giffinger-6
    "people": "#6d4c41",  # giffinger-6
}
PALETTE = ("#0b5cab", "#8e44ad", "#c27c0e", "#1e8e6e", "#d35400", "#2e7d32", "#6d4c41", "#00838f")


def dimension_colour(code: str, index: int) -> str:
    return DIMENSION_COLOURS.get(code, PALETTE[index % len(PALETTE)])


FLASH = {
    "created": _("Saved."),
    "saved": _("Your changes have been saved."),
    "deleted": _("Deleted."),
    "status": _("The status has been saved."),
    "realisation": _("The realisation has been saved."),
    "realisation_deleted": _("The realisation has been deleted."),
    "refreshed": _("The realisation has been computed from the data source."),
}


def flash(request: Request, lang: str) -> dict[str, str] | None:
    """The short message after a redirect: ``?ok=<key>`` names one of ``FLASH`` (never free text)."""
    key = request.query_params.get("ok", "")
    return {"message": gettext(lang, FLASH[key]), "kind": "ok"} if key in FLASH else None


# ---------------------------------------------------------------- the region of a page


@dataclass(frozen=True)
class Scope:
    region: Region
    base: str  # "" for the user's own region, "/regions/{code}" when the region is in the URL
    principal: Principal
    lang: str

    @property
    def region_id(self) -> int:
        return self.region.id

    @property
    def can_admin(self) -> bool:
        return allowed(lambda: require_region_admin(self.principal, self.region.id))

    def can_enter(self, office_id: int | None) -> bool:
        """May enter year statuses and realisations of a programme led by ``office_id``."""
        return allowed(lambda: require_office_write(self.principal, self.region.id, office_id))

    @property
    def year(self) -> int:
        return current_year(self.region.timezone)

    def t(self, message: str, **params: Any) -> str:
        return gettext(self.lang, message, **params)


def allowed(check: Callable[[], None]) -> bool:
    try:
        check()
    except (PermissionDenied, NotAuthenticated):
        return False
    return True


def resolve_scope(request: Request, session: Session, principal: Principal) -> Scope:
    code = request.path_params.get("region_code")
    require_login(principal)
    if code is None:
        if principal.region_id is None:
            raise PermissionDenied(_("Choose a region first: open it from the list of regions."))
        region = regions.get_region(session, principal.region_id)
        base = ""
    else:
        region = regions.get_region_by_code(session, code)
        base = f"/regions/{region.code}"
    require_read(principal, region.id, READ)
    return Scope(region=region, base=base, principal=principal, lang=language(request))


def page_scope(request: Request, session: DbSession, principal: CurrentPrincipal) -> Scope:
    return resolve_scope(request, session, principal)


PageScope = Annotated[Scope, Depends(page_scope)]


def clip_year(year: int | None, start: int, end: int, default: int) -> int:
    return min(max(year if year is not None else default, start), end)


def int_or_none(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if re.fullmatch(r"-?\d{1,9}", text) else None


# ---------------------------------------------------------------- forms


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def parse_number(raw: str) -> Decimal | None:
    """A number as people type it: ``1500000``, ``72.5``, ``72,5`` or ``1.500.000,75``; ``None`` if it is none.

    Browsers send ``type=number`` fields with a dot; the comma forms are for people who type by hand.
    """
    cleaned = raw.replace(" ", "").replace("\u00a0", "").removeprefix("Rp").removeprefix("rp")
    if "," in cleaned:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"-?\d{1,3}(\.\d{3}){2,}", cleaned):
        cleaned = cleaned.replace(".", "")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def format_measure(value: Decimal | float | None) -> str:
    """A measured value with the decimals it has (at most 4), Indonesian style: 72,5 · 1.500 · 0,25."""
    if value is None:
        return "–"
    number = Decimal(str(value)).normalize()
    exponent = number.as_tuple().exponent
    digits = min(-exponent, 4) if isinstance(exponent, int) and exponent < 0 else 0
    return format_number(number, digits)


def plain_number(value: Decimal | None) -> str:
    """A value as a number field holds it: ``72.5``, ``1500`` (no grouping, no trailing zeros)."""
    return "" if value is None else format(value.normalize(), "f")


def options(pairs: Iterable[tuple[str, str]], lang: str) -> list[tuple[str, str]]:
    """(value, translated label) for the ``select`` macro."""
    return [(value, gettext(lang, label)) for value, label in pairs]
