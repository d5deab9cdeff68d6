"""The public page of the response-time figures: ``/reports/figures``.

Like the API it is open to everyone. The region is ``?region=<code>``, else the visitor's own region,
else the installation's default region (``settings.default_region``), else the first region. The
year and an office are chosen with a GET form; a bad choice is named next to its field and the page
shows the region's figures of this year instead. The charts are drawn on the server (kit.charts), each
with its data table; docs/citizen-figures.md defines every number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from kotacerdas.citizen import figures as f
from kotacerdas.citizen.labels import STATE_LABELS
from kotacerdas.citizen.pages_common import visitor_place
from kotacerdas.i18n import _, gettext
from kotacerdas.kit.charts import Series, bar_chart, line_chart
from kotacerdas.kit.time import current_year, utcnow
from kotacerdas.region import service as regions
from kotacerdas.web.deps import CurrentPrincipal, DbSession, language
from kotacerdas.web.render import format_number, format_percent, render
from kotacerdas.web.schemas import FormErrors

router = APIRouter(include_in_schema=False)

MONTHS = (
    _("January"),
    _("February"),
    _("March"),
    _("April"),
    _("May"),
    _("June"),
    _("July"),
    _("August"),
    _("September"),
    _("October"),
    _("November"),
    _("December"),
)
YEARS_SHOWN = 5  # the year selector offers this year and the four before it
Translate = Callable[..., str]
SUBMITTED = "#0b5cab"
CLOSED = "#1e8e6e"


def _days(hours: float | None) -> float | None:
    return None if hours is None else hours / 24


@router.get("/reports/figures", response_class=HTMLResponse)
def figures_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    lang = language(request)

    def t(message: str, **params: Any) -> str:
        return gettext(lang, message, **params)

    region = visitor_place(session, request, principal).region
    this_year = current_year(region.timezone)
    query = request.query_params
    errors = FormErrors()

    year = this_year
    raw_year = (query.get("year") or "").strip()
    if raw_year:
        if raw_year.isdigit() and 2000 <= int(raw_year) <= 2100:
            year = int(raw_year)
        else:
            errors["year"] = t(_("Choose a year between 2000 and 2100."))

    offices = regions.list_offices(session, region_id=region.id)
    office = None
    raw_office = (query.get("office") or "").strip()[:40]
    if raw_office:
        office = next((o for o in offices if o.short_name == raw_office), None)
        if office is None:
            errors["office"] = t(_("There is no office {office} in this region."), office=raw_office)

    month: int | None = None
    raw_month = (query.get("month") or "").strip()
    if raw_month:
        if raw_month.isdigit() and 1 <= int(raw_month) <= 12:
            month = int(raw_month)
        else:
            errors["month"] = t(_("Choose a month from 1 to 12."))

    now = utcnow()
    office_id = office.id if office else None
    report = f.year_report(session, region_id=region.id, year=year, office_id=office_id, month=month, now=now)
    months = report.months
    # the months that have begun (all twelve of a past year): a month to come has nothing to draw
    shown = [m for m in months if m.backlog is not None]
    month_names = [t(name) for name in MONTHS]
    return render(
        request,
        "figures/index.html",
        {
            "region": region,
            "year": year,
            "this_year": this_year,
            "years": sorted({*range(this_year - YEARS_SHOWN + 1, this_year + 1), year}, reverse=True),
            "offices": offices,
            "office": office,
            "month": month,
            "month_names": month_names,
            "months": months,
            "total": report.total,
            "table": report.offices,
            "states": STATE_LABELS,
            "errors": errors,
            "computed_at": now,
            "days": _days,
            "share_chart": _share_chart(t, shown),
            "time_chart": _time_chart(t, shown),
            "volume_chart": _volume_chart(t, shown, month_names),
        },
        422 if errors else 200,
    )


def _share_chart(t: Translate, months: list[f.MonthFigures]) -> Markup:
    return line_chart(
        [
            Series(
                t(_("Answered within the deadline")),
                SUBMITTED,
                {m.month: m.answered_within_deadline_share for m in months},
            ),
            Series(
                t(_("Verified within the deadline")),
                "#5b6675",
                {m.month: m.verified_within_deadline_share for m in months},
                True,
            ),
        ],
        title=t(_("Share within the deadline per month")),
        desc=t(
            _(
                "Per month of submission (1 = January): the share of reports answered by the office within "
                "its follow-up deadline (solid) and verified within the verification deadline (dashed)."
            )
        ),
        table_label=t(_("Data table")),
        series_heading=t(_("Month")),
        fmt=lambda v: format_percent(v),
        height=220,
    )


def _time_chart(t: Translate, months: list[f.MonthFigures]) -> Markup:
    return line_chart(
        [
            Series(
                t(_("Disposition to first response")),
                SUBMITTED,
                {m.month: _days(m.median_hours_to_first_response) for m in months},
            ),
            Series(
                t(_("Submission to closing")),
                CLOSED,
                {m.month: _days(m.median_hours_to_close) for m in months},
                True,
            ),
        ],
        unit="",
        title=t(_("Median response time per month (days)")),
        desc=t(
            _(
                "Per month of submission (1 = January): the median days from disposition to the office's "
                "first response (solid) and from submission to closing (dashed)."
            )
        ),
        table_label=t(_("Data table")),
        series_heading=t(_("Month")),
        fmt=lambda v: format_number(v, 1),
        height=220,
    )


def _volume_chart(t: Translate, months: list[f.MonthFigures], names: list[str]) -> Markup:
    rows: list[tuple[str, float | None, str]] = []
    for m in months:
        name = names[m.month - 1]
        rows.append((t(_("{month}: submitted"), month=name), float(m.submitted), SUBMITTED))
        finished = m.states.get("closed", 0) + m.states.get("rejected", 0)
        rows.append((t(_("{month}: closed or rejected"), month=name), float(finished), CLOSED))
    return bar_chart(
        rows,
        title=t(_("Submitted and closed per month")),
        desc=t(_("Reports submitted in each month, and how many of them are closed or rejected by now.")),
        table_label=t(_("Data table")),
        label_heading=t(_("Month")),
        value_heading=t(_("Reports")),
        fmt=lambda v: format_number(v),
    )
