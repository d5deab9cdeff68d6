"""The region admin's forms for programmes and indicators (see ``pages_edit`` for how forms work).

A programme is placed in the masterplan edition's dimension and element through one select with a
group per dimension; its budget (year x funding source) and year statuses are small tables with a
row for every year of the masterplan. An indicator has a target per year of the masterplan.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from kotacerdas.citizen.figures import SOURCES
from kotacerdas.errors import Conflict, ValidationFailed
from kotacerdas.framework import service as framework
from kotacerdas.i18n import _
from kotacerdas.masterplan import schemas as s, service
from kotacerdas.masterplan.models import Indicator, Masterplan, Programme
from kotacerdas.masterplan.pagekit import (
    LABELS,
    PageScope,
    Scope,
    int_or_none,
    lines,
    parse_number,
    plain_number,
)
from kotacerdas.masterplan.pages_edit import (
    CSRF,
    ID,
    PLACEMENT_MESSAGES,
    build_schema,
    check_year_order,
    finish,
    form_context,
    load_plan,
    refused,
    require_admin,
)
from kotacerdas.region import service as regions
from kotacerdas.web.deps import DbSession
from kotacerdas.web.forms import PostedForm, text
from kotacerdas.web.render import render
from kotacerdas.web.schemas import FormErrors

router = APIRouter()

PROGRAMME_FIELDS = {
    **PLACEMENT_MESSAGES,
    "The programme's years must lie within the masterplan period {start}-{end}.": "start_year",
    "A budget line for {year} lies outside the programme's years.": "budgets",
    "One budget line per year and funding source.": "budgets",
    "A status for {year} lies outside the programme's years.": "year_statuses",
    "One status per year.": "year_statuses",
    "Programme code {code} is already used in this masterplan.": "code",
    "The end year is before the start year.": "end_year",
    "Office not found in this region.": "lead_office_id",
}
INDICATOR_FIELDS = {
    **PLACEMENT_MESSAGES,
    "An indicator needs a programme or a dimension.": "placement",
    "An indicator of a programme takes the programme's dimension and element.": "placement",
    "The programme belongs to another masterplan.": "programme_id",
    "Indicator code {code} is already used in this masterplan.": "code",
    "Targets must lie within the masterplan period {start}-{end}.": "targets",
    "One target per year.": "targets",
}


# ---------------------------------------------------------------- programmes


def _programme_values(programme: Programme | None, plan: Masterplan) -> dict[str, str]:
    if programme is None:
        return {
            "kind": "application",
            "term": "short",
            "start_year": str(plan.start_year),
            "end_year": str(plan.end_year),
        }
    values = {
        "code": programme.code,
        "name": programme.name,
        "description": programme.description,
        "placement": f"{programme.dimension}/{programme.element}",
        "lead_office_id": str(programme.lead_office_id or ""),
        "pic_name": programme.pic_name,
        "partners": "\n".join(programme.partners),
        "kind": programme.kind,
        "term": programme.term,
        "start_year": str(programme.start_year),
        "end_year": str(programme.end_year),
        "is_quick_win": "1" if programme.is_quick_win else "",
        "rpjmd_programme": programme.rpjmd_programme,
    }
    values |= {f"qw-{k}": str(v) for k, v in programme.quick_win.items()}
    values |= {f"budget-{b.year}-{b.source}": plain_number(b.amount) for b in programme.budgets}
    for st in programme.year_statuses:
        values[f"status-{st.year}"], values[f"note-{st.year}"] = st.status, st.note
    return values


def _programme_form(
    request: Request,
    session: Session,
    scope: Scope,
    *,
    plan: Masterplan,
    programme: Programme | None,
    values: dict[str, str],
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    edition = framework.get_edition(plan.framework_edition)
    return render(
        request,
        "masterplan/programme_form.html",
        form_context(
            scope,
            plan=plan,
            programme=programme,
            edition=edition,
            values=values,
            errors=errors or FormErrors(),
            offices=regions.list_offices(session, region_id=scope.region_id),
            years=list(range(plan.start_year, plan.end_year + 1)),
        ),
        status_code,
    )


def _read_programme(
    session: Session, form: FormData, scope: Scope, plan: Masterplan, *, creating: bool
) -> tuple[dict[str, str], Any, FormErrors]:
    years = list(range(plan.start_year, plan.end_year + 1))
    names = [
        "code",
        "name",
        "description",
        "placement",
        "lead_office_id",
        "pic_name",
        "partners",
        "kind",
        "term",
        "start_year",
        "end_year",
        "is_quick_win",
        "rpjmd_programme",
    ]
    names += [f"qw-{k}" for k in LABELS.quick_win]
    names += [f"budget-{y}-{src}" for y in years for src in LABELS.funding]
    names += [f"{field}-{y}" for y in years for field in ("status", "note")]
    values = {name: text(form, name) for name in names}
    errors = FormErrors()
    dimension, _sep, element = values["placement"].partition("/")
    if not (dimension and element):
        errors["placement"] = scope.t(_("Choose a dimension and element."))
    office = int_or_none(values["lead_office_id"])
    if values["lead_office_id"] and office not in {
        o.id for o in regions.list_offices(session, region_id=scope.region_id)
    }:
        errors["lead_office_id"] = scope.t(_("Choose one of the options."))
    check_year_order(scope, values, errors)
    budgets = []
    for y in years:
        for src in LABELS.funding:
            raw = values[f"budget-{y}-{src}"]
            amount = parse_number(raw) if raw else Decimal(0)
            if amount is None:
                errors["budgets"] = scope.t(_("Enter the amounts as numbers, for example 1500000."))
            elif amount:
                budgets.append({"year": y, "source": src, "amount": amount})
    statuses = [
        {"year": y, "status": values[f"status-{y}"], "note": values[f"note-{y}"]}
        for y in years
        if values[f"status-{y}"]
    ]
    payload: dict[str, Any] = {
        "name": values["name"],
        "description": values["description"],
        "dimension": dimension,
        "element": element,
        "lead_office_id": office,
        "pic_name": values["pic_name"],
        "partners": lines(values["partners"]),
        "kind": values["kind"],
        "term": values["term"],
        "start_year": values["start_year"],
        "end_year": values["end_year"],
        "is_quick_win": values["is_quick_win"] == "1",
        "quick_win": {k: values[f"qw-{k}"] for k in LABELS.quick_win if values[f"qw-{k}"]},
        "rpjmd_programme": values["rpjmd_programme"],
        "budgets": budgets,
        "year_statuses": statuses,
        "code": values["code"],
    }
    model = s.ProgrammeCreate if creating else s.ProgrammeUpdate
    rename = {"dimension": "placement", "element": "placement"}
    data = build_schema(scope, model, payload, errors, rename)
    return values, data, finish(errors, scope)


@router.get(f"/masterplans/{ID}/programmes/new", response_class=HTMLResponse)
def programme_new(request: Request, session: DbSession, scope: PageScope, masterplan_id: int) -> Response:
    require_admin(scope)
    plan = load_plan(session, scope, masterplan_id)
    return _programme_form(
        request, session, scope, plan=plan, programme=None, values=_programme_values(None, plan)
    )


@router.post(f"/masterplans/{ID}/programmes/new", dependencies=CSRF)
def programme_create(
    request: Request, session: DbSession, scope: PageScope, form: PostedForm, masterplan_id: int
) -> Response:
    require_admin(scope)
    plan = load_plan(session, scope, masterplan_id)
    values, data, errors = _read_programme(session, form, scope, plan, creating=True)
    status_code = 422
    if data is not None:
        try:
            programme = service.create_programme(
                session,
                principal=scope.principal,
                region_id=scope.region_id,
                masterplan_id=plan.id,
                data=data,
            )
        except (ValidationFailed, Conflict) as exc:
            errors, status_code = refused(scope, session, exc, PROGRAMME_FIELDS), exc.status
        else:
            return RedirectResponse(f"{scope.base}/programmes/{programme.id}?ok=created", status_code=303)
    return _programme_form(
        request,
        session,
        scope,
        plan=plan,
        programme=None,
        values=values,
        errors=errors,
        status_code=status_code,
    )


@router.get("/programmes/{programme_id:int}/edit", response_class=HTMLResponse)
def programme_edit(request: Request, session: DbSession, scope: PageScope, programme_id: int) -> Response:
    require_admin(scope)
    programme = service.get_programme(
        session, principal=scope.principal, region_id=scope.region_id, programme_id=programme_id
    )
    plan = load_plan(session, scope, programme.masterplan_id)
    return _programme_form(
        request, session, scope, plan=plan, programme=programme, values=_programme_values(programme, plan)
    )


@router.post("/programmes/{programme_id:int}/edit", dependencies=CSRF)
def programme_update(
    request: Request, session: DbSession, scope: PageScope, form: PostedForm, programme_id: int
) -> Response:
    require_admin(scope)
    programme = service.get_programme(
        session, principal=scope.principal, region_id=scope.region_id, programme_id=programme_id
    )
    plan = load_plan(session, scope, programme.masterplan_id)
    values, data, errors = _read_programme(session, form, scope, plan, creating=False)
    status_code = 422
    if data is not None:
        try:
            service.update_programme(
                session,
                principal=scope.principal,
                region_id=scope.region_id,
                programme_id=programme.id,
                data=data,
            )
        except (ValidationFailed, Conflict) as exc:
            errors, status_code = refused(scope, session, exc, PROGRAMME_FIELDS), exc.status
        else:
            return RedirectResponse(f"{scope.base}/programmes/{programme.id}?ok=saved", status_code=303)
    return _programme_form(
        request,
        session,
        scope,
        plan=plan,
        programme=programme,
        values=values,
        errors=errors,
        status_code=status_code,
    )


# ---------------------------------------------------------------- indicators


def _indicator_values(indicator: Indicator | None, programme_id: int | None) -> dict[str, str]:
    if indicator is None:
        return {"direction": "higher", "programme_id": str(programme_id or "")}
    values = {
        "code": indicator.code,
        "name": indicator.name,
        "unit": indicator.unit,
        "direction": indicator.direction,
        "programme_id": str(indicator.programme_id or ""),
        "placement": indicator.dimension + (f"/{indicator.element}" if indicator.element else ""),
        "baseline_year": str(indicator.baseline_year or ""),
        "baseline_value": plain_number(indicator.baseline_value),
        "data_source": indicator.data_source or "",
    }
    values |= {f"target-{t.year}": plain_number(t.value) for t in indicator.targets}
    return values


def _indicator_form(
    request: Request,
    session: Session,
    scope: Scope,
    *,
    plan: Masterplan,
    indicator: Indicator | None,
    values: dict[str, str],
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    programmes = service.list_programmes(
        session, principal=scope.principal, region_id=scope.region_id, masterplan_id=plan.id
    )
    return render(
        request,
        "masterplan/indicator_form.html",
        form_context(
            scope,
            plan=plan,
            indicator=indicator,
            edition=framework.get_edition(plan.framework_edition),
            programmes=programmes,
            values=values,
            errors=errors or FormErrors(),
            years=list(range(plan.start_year, plan.end_year + 1)),
            sources=SOURCES,
        ),
        status_code,
    )


def _read_indicator(
    session: Session, form: FormData, scope: Scope, plan: Masterplan, *, creating: bool
) -> tuple[dict[str, str], Any, FormErrors]:
    years = list(range(plan.start_year, plan.end_year + 1))
    names = [
        "code",
        "name",
        "unit",
        "direction",
        "programme_id",
        "placement",
        "baseline_year",
        "baseline_value",
        "data_source",
    ]
    names += [f"target-{y}" for y in years]
    values = {name: text(form, name) for name in names}
    errors = FormErrors()
    targets = []
    for y in years:
        raw = values[f"target-{y}"]
        if raw:
            number = parse_number(raw)
            if number is None:
                errors["targets"] = scope.t(_("Enter the targets as numbers."))
            else:
                targets.append({"year": y, "value": number})
    baseline = parse_number(values["baseline_value"]) if values["baseline_value"] else None
    if values["baseline_value"] and baseline is None:
        errors["baseline_value"] = scope.t(_("Enter a number."))
    payload: dict[str, Any] = {
        "name": values["name"],
        "unit": values["unit"],
        "direction": values["direction"],
        "baseline_year": values["baseline_year"] or None,
        "baseline_value": baseline,
        "targets": targets,
        "data_source": values["data_source"] or None,
    }
    if creating:
        programme_id = int_or_none(values["programme_id"])
        known = {
            p.id
            for p in service.list_programmes(
                session, principal=scope.principal, region_id=scope.region_id, masterplan_id=plan.id
            )
        }
        if values["programme_id"] and programme_id not in known:
            errors["programme_id"] = scope.t(_("Choose one of the options."))
        payload |= {"code": values["code"], "programme_id": programme_id}
        if programme_id is None:
            dimension, _sep, element = values["placement"].partition("/")
            if not dimension:
                errors["placement"] = scope.t(
                    _("Choose the programme, or the dimension the indicator measures.")
                )
            payload |= {"dimension": dimension or None, "element": element or None}
    model = s.IndicatorCreate if creating else s.IndicatorUpdate
    data = build_schema(scope, model, payload, errors, {"dimension": "placement", "element": "placement"})
    return values, data, finish(errors, scope)


@router.get(f"/masterplans/{ID}/indicators/new", response_class=HTMLResponse)
def indicator_new(request: Request, session: DbSession, scope: PageScope, masterplan_id: int) -> Response:
    require_admin(scope)
    plan = load_plan(session, scope, masterplan_id)
    programme_id = int_or_none(request.query_params.get("programme"))
    return _indicator_form(
        request, session, scope, plan=plan, indicator=None, values=_indicator_values(None, programme_id)
    )


@router.post(f"/masterplans/{ID}/indicators/new", dependencies=CSRF)
def indicator_create(
    request: Request, session: DbSession, scope: PageScope, form: PostedForm, masterplan_id: int
) -> Response:
    require_admin(scope)
    plan = load_plan(session, scope, masterplan_id)
    values, data, errors = _read_indicator(session, form, scope, plan, creating=True)
    status_code = 422
    if data is not None:
        try:
            indicator = service.create_indicator(
                session,
                principal=scope.principal,
                region_id=scope.region_id,
                masterplan_id=plan.id,
                data=data,
            )
        except (ValidationFailed, Conflict) as exc:
            errors, status_code = refused(scope, session, exc, INDICATOR_FIELDS), exc.status
        else:
            return RedirectResponse(f"{scope.base}/indicators/{indicator.id}?ok=created", status_code=303)
    return _indicator_form(
        request,
        session,
        scope,
        plan=plan,
        indicator=None,
        values=values,
        errors=errors,
        status_code=status_code,
    )


@router.get("/indicators/{indicator_id:int}/edit", response_class=HTMLResponse)
def indicator_edit(request: Request, session: DbSession, scope: PageScope, indicator_id: int) -> Response:
    require_admin(scope)
    indicator = service.get_indicator(
        session, principal=scope.principal, region_id=scope.region_id, indicator_id=indicator_id
    )
    plan = load_plan(session, scope, indicator.masterplan_id)
    return _indicator_form(
        request, session, scope, plan=plan, indicator=indicator, values=_indicator_values(indicator, None)
    )


@router.post("/indicators/{indicator_id:int}/edit", dependencies=CSRF)
def indicator_update(
    request: Request, session: DbSession, scope: PageScope, form: PostedForm, indicator_id: int
) -> Response:
    require_admin(scope)
    indicator = service.get_indicator(
        session, principal=scope.principal, region_id=scope.region_id, indicator_id=indicator_id
    )
    plan = load_plan(session, scope, indicator.masterplan_id)
    values, data, errors = _read_indicator(session, form, scope, plan, creating=False)
    status_code = 422
    if data is not None:
        try:
            service.update_indicator(
                session,
                principal=scope.principal,
                region_id=scope.region_id,
                indicator_id=indicator.id,
                data=data,
            )
        except (ValidationFailed, Conflict) as exc:
            errors, status_code = refused(scope, session, exc, INDICATOR_FIELDS), exc.status
        else:
            return RedirectResponse(f"{scope.base}/indicators/{indicator.id}?ok=saved", status_code=303)
    values |= {"code": indicator.code, "programme_id": str(indicator.programme_id or "")}
    return _indicator_form(
        request,
        session,
        scope,
        plan=plan,
        indicator=indicator,
        values=values,
        errors=errors,
        status_code=status_code,
    )
