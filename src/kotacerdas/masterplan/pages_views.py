"""The masterplan pages that show: the list, the overview with its charts, the roadmap, the quick wins,
a programme, an indicator, and the download of an evidence file.

Everything is read through ``masterplan.service`` and ``masterplan.achievement`` with the asking
principal, so a page shows exactly what the API would answer. The forms on the programme and indicator
pages appear only for whom the service would accept them from; ``pages_entry`` takes their posts.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.citizen.figures import SOURCES
from kotacerdas.framework import service as framework
from kotacerdas.i18n import _
from kotacerdas.kit.charts import Series, bar_chart, line_chart, radar_chart
from kotacerdas.kit.files import DirectoryStore
from kotacerdas.masterplan import achievement, service
from kotacerdas.masterplan.models import Indicator, Programme
from kotacerdas.masterplan.pagekit import (
    LABELS,
    PageScope,
    Scope,
    clip_year,
    dimension_colour,
    flash,
    format_measure,
    int_or_none,
    plain_number,
    resolve_scope,
)
from kotacerdas.region import service as regions
from kotacerdas.web.deps import CurrentPrincipal, DbSession
from kotacerdas.web.render import format_number, format_percent, format_rupiah, render
from kotacerdas.web.schemas import FormErrors

router = APIRouter()

ID = "{masterplan_id:int}"


def _context(request: Request, scope: Scope, **extra: Any) -> dict[str, Any]:
    return {
        "region": scope.region,
        "base": scope.base,
        "labels": LABELS,
        "flash": flash(request, scope.lang),
        "measure": format_measure,
        "plain": plain_number,
        **extra,
    }


def _offices(session: Session, scope: Scope) -> dict[int, Any]:
    return {o.id: o for o in regions.list_offices(session, region_id=scope.region_id)}


def _history(
    session: Session, scope: Scope, entities: dict[str, list[int]], limit: int = 50
) -> list[Any] | None:
    """The newest audit entries about some entities ({type: ids}), for who may read the audit log
    (the region admin, national evaluators); None for everyone else, and the page leaves it out."""
    principal = scope.principal
    if not (principal.is_national or scope.can_admin):
        return None
    rows: list[Any] = []
    for entity_type, ids in entities.items():
        if ids:
            found, _total = auth.list_audit(
                session,
                principal=principal,
                region_id=scope.region_id,
                limit=limit,
                entity_type=entity_type,
                entity_ids=[str(i) for i in ids],
            )
            rows.extend(found)
    rows.sort(key=lambda e: (e.at, e.id), reverse=True)
    return rows[:limit]


# ---------------------------------------------------------------- list


@router.get("/masterplans", response_class=HTMLResponse)
def masterplan_list(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    if principal.is_national and "region_code" not in request.path_params:
        return RedirectResponse("/regions", status_code=303)
    scope = resolve_scope(request, session, principal)
    plans = service.list_masterplans(session, principal=principal, region_id=scope.region_id)
    rows = [
        (plan, service.masterplan_counts(session, region_id=scope.region_id, masterplan_id=plan.id))
        for plan in plans
    ]
    return render(
        request, "masterplan/list.html", _context(request, scope, rows=rows, can_admin=scope.can_admin)
    )


# ---------------------------------------------------------------- overview


@router.get(f"/masterplans/{ID}", response_class=HTMLResponse)
def masterplan_overview(
    request: Request, session: DbSession, scope: PageScope, masterplan_id: int
) -> Response:
    principal, region_id, t = scope.principal, scope.region_id, scope.t
    plan = service.get_masterplan(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id
    )
    edition = framework.get_edition(plan.framework_edition)
    years = list(range(plan.start_year, plan.end_year + 1))
    asked = int_or_none(request.query_params.get("year"))
    year = (
        clip_year(asked, plan.start_year, plan.end_year, scope.year)
        if asked is not None
        else achievement.report_year(session, region_id=region_id, plan=plan, year=None)
    )
    report = achievement.achievement_report(
        session, principal=principal, region_id=region_id, masterplan_id=plan.id, year=year, lang=scope.lang
    )
    previous = (
        achievement.achievement_report(
            session,
            principal=principal,
            region_id=region_id,
            masterplan_id=plan.id,
            year=year - 1,
            lang=scope.lang,
        )
        if year > plan.start_year
        else None
    )
    trend = achievement.trend_report(
        session, principal=principal, region_id=region_id, masterplan_id=plan.id, lang=scope.lang
    )
    colours = {d.code: dimension_colour(d.code, i) for i, d in enumerate(edition.dimensions)}
    no_data = t(_("no data"))
    radar = radar_chart(
        [(d.name, d.achievement, colours[d.code]) for d in report.dimensions],
        title=t(_("Achievement per dimension in {year}"), year=year),
        desc=t(
            _(
                "Realisation against target per dimension, from 0 to 100%; the dashed outline is the year before."
            )
        ),
        series_label=str(year),
        compare=[d.achievement for d in previous.dimensions] if previous else None,
        compare_label=str(year - 1),
        no_data=no_data,
        table_label=t(_("Data table")),
        axis_heading=t(_("Dimension")),
        fmt=format_percent,
    )
    trend_chart = line_chart(
        [(d.name, colours[d.code], {p.year: p.achievement for p in d.points}) for d in trend.dimensions]
        + [Series(t(_("Overall")), "#1c2430", {p.year: p.achievement for p in trend.overall}, True)],
        title=t(_("Achievement per dimension over the years")),
        desc=t(_("One line per dimension; a gap is a year without realisations.")),
        table_label=t(_("Data table")),
        series_heading=t(_("Dimension")),
        no_data="–",
        fmt=lambda v: format_number(v, 0) + "%",
    )
    counts_chart = bar_chart(
        [(d.name, float(d.programme_count), colours[d.code]) for d in report.dimensions],
        title=t(_("Programmes per dimension")),
        desc=t(_("How many programmes the masterplan places in each dimension.")),
        table_label=t(_("Data table")),
        label_heading=t(_("Dimension")),
        value_heading=t(_("Programmes")),
        fmt=lambda v: format_number(v),
    )
    budget_chart = bar_chart(
        [(d.name, float(d.budget_total), colours[d.code]) for d in report.dimensions],
        title=t(_("Budget per dimension")),
        desc=t(_("The budget of every year and funding source, added up per dimension.")),
        table_label=t(_("Data table")),
        label_heading=t(_("Dimension")),
        value_heading=t(_("Budget")),
        fmt=lambda v: _short_rupiah(scope, v),
    )
    indicators = service.list_indicators(
        session, principal=principal, region_id=region_id, masterplan_id=plan.id
    )
    dimension_indicators = [achievement.indicator_read(i, plan) for i in indicators if i.programme_id is None]
    totals = {
        "programmes": sum(d.programme_count for d in report.dimensions),
        "quick_wins": sum(d.quick_win_count for d in report.dimensions),
        "indicators": sum(d.indicator_count for d in report.dimensions),
        "budget": sum((d.budget_total for d in report.dimensions), Decimal(0)),
        "status": {st: sum(d.status_counts.get(st, 0) for d in report.dimensions) for st in LABELS.status},
    }
    return render(
        request,
        "masterplan/overview.html",
        _context(
            request,
            scope,
            plan=plan,
            edition=edition,
            sections={sec.kind: sec.body for sec in plan.sections},
            years=years,
            year=year,
            report=report,
            totals=totals,
            colours=colours,
            radar=radar,
            trend_chart=trend_chart,
            counts_chart=counts_chart,
            budget_chart=budget_chart,
            dimension_indicators=dimension_indicators,
            can_admin=scope.can_admin,
        ),
    )


def _short_rupiah(scope: Scope, value: float) -> str:
    """Budgets on a chart, short: Rp 1,5 bn (Indonesian: M, miliar); the data table has the full figure."""
    if value >= 1e9:
        return scope.t(_("Rp {amount} bn"), amount=format_number(value / 1e9, 1))
    if value >= 1e6:
        return scope.t(_("Rp {amount} m"), amount=format_number(value / 1e6, 0))
    return format_rupiah(value)


# ---------------------------------------------------------------- roadmap and quick wins


@router.get(f"/masterplans/{ID}/roadmap", response_class=HTMLResponse)
def masterplan_roadmap(
    request: Request, session: DbSession, scope: PageScope, masterplan_id: int
) -> Response:
    principal, region_id = scope.principal, scope.region_id
    plan = service.get_masterplan(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id
    )
    roadmap = achievement.roadmap(
        session, principal=principal, region_id=region_id, masterplan_id=plan.id, lang=scope.lang
    )
    edition = framework.get_edition(plan.framework_edition)
    offices = _offices(session, scope)
    query = request.query_params
    dimension = query.get("dimension") or ""
    mine = query.get("mine") == "1" and principal.office_id is not None
    office_id = principal.office_id if mine else int_or_none(query.get("office"))
    keep: set[int] | None = None
    if office_id is not None:
        keep = {
            p.id
            for p in service.list_programmes(
                session, principal=principal, region_id=region_id, masterplan_id=plan.id, office_id=office_id
            )
        }
    dimensions: list[dict[str, Any]] = []
    shown = 0
    for i, dim in enumerate(roadmap.dimensions):
        if dimension and dim.code != dimension:
            continue
        rows = [r for r in dim.rows if keep is None or r.programme_id in keep]
        shown += len(rows)
        elements = {
            r.element: framework.element_label(plan.framework_edition, dim.code, r.element, scope.lang)
            for r in rows
        }
        dimensions.append(
            {"code": dim.code, "name": dim.name, "rows": rows, "elements": elements, "index": i}
        )
    return render(
        request,
        "masterplan/roadmap.html",
        _context(
            request,
            scope,
            plan=plan,
            years=roadmap.years,
            dimensions=dimensions,
            edition=edition,
            offices=sorted(offices.values(), key=lambda o: o.short_name),
            filters={"dimension": dimension, "office": office_id if not mine else None, "mine": mine},
            is_operator=principal.is_office_operator and principal.office_id is not None,
            shown=shown,
        ),
    )


@router.get(f"/masterplans/{ID}/quick-wins", response_class=HTMLResponse)
def masterplan_quick_wins(
    request: Request, session: DbSession, scope: PageScope, masterplan_id: int
) -> Response:
    principal, region_id = scope.principal, scope.region_id
    plan = service.get_masterplan(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id
    )
    edition = framework.get_edition(plan.framework_edition)
    wins = achievement.quick_wins(
        session, principal=principal, region_id=region_id, masterplan_id=plan.id, lang=scope.lang
    )
    programmes = {
        p.id: p
        for p in service.list_programmes(
            session, principal=principal, region_id=region_id, masterplan_id=plan.id, quick_win=True
        )
    }
    by_dimension: dict[str, list[Any]] = defaultdict(list)
    for win in wins:
        by_dimension[win.dimension].append(win)
    year = clip_year(None, plan.start_year, plan.end_year, scope.year)
    statuses = {pid: {y.year: y.status for y in p.year_statuses} for pid, p in programmes.items()}
    return render(
        request,
        "masterplan/quick_wins.html",
        _context(
            request,
            scope,
            plan=plan,
            edition=edition,
            by_dimension=by_dimension,
            statuses=statuses,
            year=year,
            count=len(wins),
        ),
    )


# ---------------------------------------------------------------- programme


def programme_page(
    request: Request,
    session: Session,
    scope: Scope,
    programme_id: int,
    *,
    status_form: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    principal, region_id = scope.principal, scope.region_id
    programme = service.get_programme(
        session, principal=principal, region_id=region_id, programme_id=programme_id
    )
    plan = service.get_masterplan(
        session, principal=principal, region_id=region_id, masterplan_id=programme.masterplan_id
    )
    read = service.programme_reads(session, region_id=region_id, programmes=[programme])[0]
    indicators = [
        achievement.indicator_read(i, plan)
        for i in service.list_indicators(
            session,
            principal=principal,
            region_id=region_id,
            masterplan_id=plan.id,
            programme_id=programme.id,
        )
    ]
    scores = achievement.programme_scores(
        session, principal=principal, region_id=region_id, programme=programme
    )
    years = list(range(programme.start_year, programme.end_year + 1))
    budget = _budget_table(programme, years)
    t = scope.t
    colour = dimension_colour(programme.dimension, 0)
    # the programme's own line last, so it is drawn over its indicators' dashed lines
    series = [
        Series(
            ind.code,
            _indicator_colour(k),
            {a.year: a.achievement for a in ind.achievements if a.year in years},
            True,
        )
        for k, ind in enumerate(indicators)
    ]
    series.append(Series(t(_("Programme")), colour, {y: scores.get(y) for y in years}))
    chart = line_chart(
        series,
        title=t(_("Achievement of the programme over the years")),
        desc=t(
            _(
                "The programme's achievement (solid) and each indicator's (dashed), realisation against target."
            )
        ),
        table_label=t(_("Data table")),
        series_heading=t(_("Indicator")),
        fmt=lambda v: format_number(v, 0) + "%",
        height=220,
    )
    default_year = clip_year(None, programme.start_year, programme.end_year, scope.year)
    current = {y.year: y for y in programme.year_statuses}
    form = status_form or {
        "year": str(default_year),
        "status": current[default_year].status if default_year in current else "running",
        "note": current[default_year].note if default_year in current else "",
    }
    return render(
        request,
        "masterplan/programme.html",
        _context(
            request,
            scope,
            plan=plan,
            programme=read,
            dimension_name=framework.dimension_label(plan.framework_edition, programme.dimension, scope.lang),
            element_name=framework.element_label(
                plan.framework_edition, programme.dimension, programme.element, scope.lang
            ),
            years=years,
            plan_years=list(range(plan.start_year, plan.end_year + 1)),
            budget=budget,
            statuses=current,
            indicators=indicators,
            scores=scores,
            chart=chart,
            can_enter=scope.can_enter(programme.lead_office_id),
            can_admin=scope.can_admin,
            form=form,
            errors=errors or FormErrors(),
            history=_history(
                session, scope, {"programme": [programme.id], "indicator": [i.id for i in indicators]}
            ),
        ),
        status_code,
    )


def _indicator_colour(index: int) -> str:
    return ("#5b6675", "#8e44ad", "#c27c0e", "#1e8e6e", "#d35400", "#2e7d32")[index % 6]


def _budget_table(programme: Programme, years: list[int]) -> dict[str, Any]:
    cells: dict[tuple[int, str], Decimal] = {(b.year, b.source): b.amount for b in programme.budgets}
    sources = [src for src in LABELS.funding if any(key[1] == src for key in cells)]
    return {
        "sources": sources,
        "cells": cells,
        "row_totals": {
            y: sum((cells.get((y, src), Decimal(0)) for src in sources), Decimal(0)) for y in years
        },
        "col_totals": {
            src: sum((cells.get((y, src), Decimal(0)) for y in years), Decimal(0)) for src in sources
        },
        "total": sum(cells.values(), Decimal(0)),
    }


@router.get("/programmes/{programme_id:int}", response_class=HTMLResponse)
def programme_detail(request: Request, session: DbSession, scope: PageScope, programme_id: int) -> Response:
    return programme_page(request, session, scope, programme_id)


# ---------------------------------------------------------------- indicator


def indicator_page(
    request: Request,
    session: Session,
    scope: Scope,
    indicator_id: int,
    *,
    realisation_form: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    principal, region_id, t = scope.principal, scope.region_id, scope.t
    indicator: Indicator = service.get_indicator(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id
    )
    plan = service.get_masterplan(
        session, principal=principal, region_id=region_id, masterplan_id=indicator.masterplan_id
    )
    read = achievement.indicator_read(indicator, plan)
    programme = (
        service.get_programme(
            session, principal=principal, region_id=region_id, programme_id=indicator.programme_id
        )
        if indicator.programme_id is not None
        else None
    )
    office_id = programme.lead_office_id if programme is not None else None
    office = _offices(session, scope).get(office_id) if office_id is not None else None
    years = list(range(plan.start_year, plan.end_year + 1))
    realisations = {r.year: r for r in read.realisations}
    unit = indicator.unit

    def fmt(v: float) -> str:
        return format_number(v, 0 if float(v).is_integer() else 2) + ("%" if unit == "%" else "")

    chart = line_chart(
        [
            Series(t(_("Target")), "#5b6675", {a.year: _float(a.target) for a in read.achievements}, True),
            Series(
                t(_("Realisation")),
                dimension_colour(indicator.dimension, 0),
                {a.year: _float(a.realisation) for a in read.achievements},
            ),
        ],
        unit=unit if unit == "%" else "",
        title=t(_("Target and realisation per year")),
        desc=t(_("The target (dashed) and the realised value (solid) of each year, in {unit}."), unit=unit),
        table_label=t(_("Data table")),
        fmt=fmt,
        height=220,
    )
    asked = int_or_none(request.query_params.get("year"))
    year = clip_year(asked, plan.start_year, plan.end_year, scope.year)
    existing = realisations.get(year)
    form = realisation_form or {
        "year": str(year),
        "value": plain_number(existing.value) if existing else "",
        "note": existing.note if existing else "",
        "evidence_url": existing.evidence_url or "" if existing else "",
    }
    dimension_name = framework.dimension_label(plan.framework_edition, indicator.dimension, scope.lang)
    element_name = (
        framework.element_label(plan.framework_edition, indicator.dimension, indicator.element, scope.lang)
        if indicator.element
        else None
    )
    return render(
        request,
        "masterplan/indicator.html",
        _context(
            request,
            scope,
            plan=plan,
            indicator=read,
            programme=programme,
            office=office,
            dimension_name=dimension_name,
            element_name=element_name,
            years=years,
            realisations=realisations,
            chart=chart,
            can_enter=scope.can_enter(office_id),
            can_admin=scope.can_admin,
            form=form,
            errors=errors or FormErrors(),
            source_label=SOURCES.get(indicator.data_source or ""),
            max_upload=request.app.state.settings.upload_max_bytes,
            history=_history(session, scope, {"indicator": [indicator.id]}),
        ),
        status_code,
    )


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@router.get("/indicators/{indicator_id:int}", response_class=HTMLResponse)
def indicator_detail(request: Request, session: DbSession, scope: PageScope, indicator_id: int) -> Response:
    return indicator_page(request, session, scope, indicator_id)


# ---------------------------------------------------------------- evidence


@router.get("/evidence/{evidence_id:int}")
def evidence_download(request: Request, session: DbSession, scope: PageScope, evidence_id: int) -> Response:
    evidence = service.get_evidence(
        session, principal=scope.principal, region_id=scope.region_id, evidence_id=evidence_id
    )
    data = DirectoryStore(request.app.state.settings.upload_dir).read(evidence.storage_key)
    fallback = "".join(
        ch if (ch.isascii() and ch.isalnum()) or ch in "._-" else "_" for ch in evidence.filename
    )
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(evidence.filename)}"
    return Response(
        data,
        media_type=evidence.content_type,
        headers={
            "Content-Disposition": disposition,
            "Cache-Control": "private, no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
