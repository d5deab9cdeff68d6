"""The region admin's report pages: the verification queue with bulk disposition (``/reports/verify``)
and the set-up of reporting (``/admin/report-categories``): categories, their routing per kecamatan,
the region's extra days off (next to the national holidays they add to) and the offices' channels.

A category's Open311 attributes (extra questions) stay API-only: the page says so and keeps them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal, require_region_admin
from kotacerdas.auth.pages import own_region
from kotacerdas.citizen import access, categories, channels, reports
from kotacerdas.citizen.models import ReportCategory
from kotacerdas.citizen.pages_common import (
    CSRF,
    STATE_CLASS,
    flash,
    int_or_none,
    late_days,
    refusal,
    translate_text,
    undo,
)
from kotacerdas.citizen.present import Presenter
from kotacerdas.citizen.schemas import CategoryCreate, CategoryUpdate, DayOffWrite
from kotacerdas.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kotacerdas.i18n import _, gettext
from kotacerdas.kit.time import current_year
from kotacerdas.kit.workdays import holiday_names
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region
from kotacerdas.web.deps import CurrentPrincipal, DbSession, language
from kotacerdas.web.forms import PostedForm, text
from kotacerdas.web.render import render
from kotacerdas.web.schemas import FormErrors, form_errors

router = APIRouter(include_in_schema=False)
PERMISSION = "reports:manage"
BASE = "/admin/report-categories"


def _admin_region(session: Session, principal: Principal) -> Region:
    region = own_region(session, principal)
    if not access.is_report_admin(principal, region.id):
        raise PermissionDenied(_("Only the region's report verifiers may do this."))
    return region


# ---------------------------------------------------------------- verification


def _verify_page(
    request: Request,
    session: Session,
    principal: Principal,
    region: Region,
    *,
    outcome: list[dict[str, str]] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = language(request)
    rows, total = reports.list_reports(
        session,
        principal=principal,
        region_id=region.id,
        scope="admin",
        filters=reports.ReportFilter(state=["submitted"]),
        sort="deadline",
        limit=200,
    )
    p = Presenter(session, region, lang)
    p.prefetch(rows)
    items = []
    for row in rows:
        read = p.read(row, "admin")
        items.append({"r": read, "late": late_days(row.due_at, region) if read.overdue else 0})
    offices = regions.list_offices(session, region_id=region.id)
    context = {
        "region": region,
        "items": items,
        "total": total or 0,
        "office_options": [(str(o.id), o.short_name) for o in offices],
        "outcome": outcome or [],
        "disposed": sum(1 for row in outcome or [] if row["ok"]),
        "skipped": sum(1 for row in outcome or [] if not row["ok"]),
        "error": error,
        "flash": flash(request, lang),
        "state_class": STATE_CLASS,
    }
    return render(request, "reports/verify.html", context, status)


@router.get("/reports/verify", response_class=HTMLResponse)
def verify_queue(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    return _verify_page(request, session, principal, _admin_region(session, principal))


@router.post("/reports/verify", response_class=HTMLResponse, dependencies=CSRF)
def verify_bulk(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    """Dispose the checked reports, each to its suggested office or all to the office chosen."""
    region = _admin_region(session, principal)
    lang = language(request)
    chosen = [n.strip().upper()[:24] for n in form.getlist("no") if isinstance(n, str) and n.strip()]
    if not chosen:
        message = gettext(lang, _("Tick at least one report."))
        return _verify_page(request, session, principal, region, error=message, status=422)
    office_id = int_or_none(text(form, "office"))
    result = reports.bulk_dispose(
        session, principal=principal, region_id=region.id, tracking_nos=chosen, office_id=office_id
    )
    outcome = [
        {"no": no, "ok": "1" if why == "ok" else "", "why": "" if why == "ok" else translate_text(lang, why)}
        for no, why in result.items()
    ]
    return _verify_page(request, session, principal, region, outcome=outcome)


# ---------------------------------------------------------------- categories

CATEGORY_TEXT = ("code", "name", "name_en", "description", "group", "keywords")
CATEGORY_NUMBERS = ("verify_days", "respond_days", "close_days", "duplicate_radius_m")


def _category_values(form: PostedForm) -> dict[str, Any]:
    values: dict[str, Any] = {k: text(form, k) for k in (*CATEGORY_TEXT, "office_id", *CATEGORY_NUMBERS)}
    values["is_private"] = text(form, "is_private") == "1"
    values["active"] = text(form, "active") == "1"
    return values


def _category_payload(values: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """The form as the schema takes it: an empty number keeps the default, no office is null."""
    payload = {k: values[k] for k in CATEGORY_TEXT if create or k != "code"}
    payload["office_id"] = values["office_id"] or None
    for key in CATEGORY_NUMBERS:
        if values[key] != "":
            payload[key] = values[key]
    payload["is_private"] = values["is_private"]
    payload["active"] = values["active"]
    return payload


def _category_form(row: ReportCategory) -> dict[str, Any]:
    return {
        **{k: getattr(row, k) for k in CATEGORY_TEXT},
        "office_id": str(row.office_id or ""),
        **{k: str(getattr(row, k)) for k in CATEGORY_NUMBERS},
        "is_private": row.is_private,
        "active": row.active,
    }


def _categories_page(
    request: Request,
    session: Session,
    principal: Principal,
    region: Region,
    *,
    errors: FormErrors | None = None,
    form: dict[str, Any] | None = None,
    day_errors: FormErrors | None = None,
    day_form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = language(request)
    p = Presenter(session, region, lang)
    year = int_or_none(request.query_params.get("year")) or current_year(region.timezone)
    year = min(max(year, 2000), 2100)
    own_days = categories.list_days_off(session, region_id=region.id, year=year)
    days: list[dict[str, Any]] = [
        {"day": d, "name": n, "own": False} for d, n in holiday_names(year, lang).items()
    ]
    days += [{"day": d.day, "name": d.name, "own": True} for d in own_days]
    offices = regions.list_offices(session, region_id=region.id)
    office_channels = {
        o.id: len(channels.list_channels(session, principal=principal, region_id=region.id, office_id=o.id))
        for o in offices
    }
    context = {
        "region": region,
        "categories": categories.list_categories(session, region_id=region.id, include_inactive=True),
        "office_names": {o.id: o.short_name for o in offices},
        "office_options": [(str(o.id), o.short_name) for o in offices],
        "offices": offices,
        "office_channels": office_channels,
        "p": p,
        "errors": errors or FormErrors(),
        "error": errors.general or None if errors is not None else None,
        "form": form
        or {
            "verify_days": "3",
            "respond_days": "5",
            "close_days": "10",
            "duplicate_radius_m": "100",
            "active": True,
        },
        "year": year,
        "days": sorted(days, key=lambda d: d["day"]),
        "day_errors": day_errors or FormErrors(),
        "day_error": day_errors.general or None if day_errors is not None else None,
        "day_form": day_form or {},
        "flash": flash(request, lang),
    }
    return render(request, "reports/categories.html", context, status)


@router.get(BASE, response_class=HTMLResponse)
def category_list(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    return _categories_page(request, session, principal, _admin_region(session, principal))


@router.post(BASE, response_class=HTMLResponse, dependencies=CSRF)
def category_create(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    region = _admin_region(session, principal)
    lang = language(request)
    values = _category_values(form)
    try:
        data = CategoryCreate.model_validate(_category_payload(values, create=True))
        fields = data.model_dump(exclude={"code", "name", "attributes"})
        categories.create_category(
            session, principal=principal, region_id=region.id, code=data.code, name=data.name, **fields
        )
    except ValidationError as exc:
        errors = form_errors(exc, lang)
        return _categories_page(request, session, principal, region, errors=errors, form=values, status=422)
    except (ValidationFailed, Conflict, NotFound) as exc:
        undo(session)
        errors = refusal(exc, lang, field="code" if isinstance(exc, Conflict) else "office_id")
        return _categories_page(request, session, principal, region, errors=errors, form=values, status=422)
    return RedirectResponse(f"{BASE}?ok=created", status_code=303)


def _category_page(
    request: Request,
    session: Session,
    region: Region,
    row: ReportCategory,
    *,
    errors: FormErrors | None = None,
    form: dict[str, Any] | None = None,
    route_error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = language(request)
    routes = {
        r.area_id: r.office_id
        for r in categories.list_routes(session, region_id=region.id, category_id=row.id)
    }
    areas = regions.area_choices(session, region_id=region.id, kind="kecamatan")
    offices = regions.list_offices(session, region_id=region.id)
    context = {
        "region": region,
        "category": row,
        "areas": areas,
        "routes": routes,
        "office_options": [(str(o.id), o.short_name) for o in offices],
        "default_office": next((o.short_name for o in offices if o.id == row.office_id), ""),
        "errors": errors or FormErrors(),
        "error": errors.general or None if errors is not None else None,
        "form": form or _category_form(row),
        "route_error": route_error,
        "flash": flash(request, lang),
    }
    return render(request, "reports/category_edit.html", context, status)


def _get_category(session: Session, region: Region, category_id: int) -> ReportCategory:
    return categories.get_category(session, region_id=region.id, category_id=category_id)


@router.get(BASE + "/{category_id:int}", response_class=HTMLResponse)
def category_edit(
    category_id: int, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    region = _admin_region(session, principal)
    return _category_page(request, session, region, _get_category(session, region, category_id))


@router.post(BASE + "/{category_id:int}", response_class=HTMLResponse, dependencies=CSRF)
def category_update(
    category_id: int, request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    region = _admin_region(session, principal)
    row = _get_category(session, region, category_id)
    lang = language(request)
    values = {**_category_values(form), "code": row.code}
    try:
        data = CategoryUpdate.model_validate(_category_payload(values, create=False))
        categories.update_category(
            session,
            principal=principal,
            region_id=region.id,
            category_id=row.id,
            **data.model_dump(exclude_unset=True),
        )
    except ValidationError as exc:
        errors = form_errors(exc, lang)
        return _category_page(request, session, region, row, errors=errors, form=values, status=422)
    except (ValidationFailed, Conflict, NotFound) as exc:
        undo(session)
        row = _get_category(session, region, category_id)
        errors = refusal(exc, lang, field="office_id")
        return _category_page(request, session, region, row, errors=errors, form=values, status=422)
    return RedirectResponse(f"{BASE}/{row.id}?ok=saved", status_code=303)


@router.post(BASE + "/{category_id:int}/routes", response_class=HTMLResponse, dependencies=CSRF)
def category_routes(
    category_id: int, request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    """One office per kecamatan (empty: the category's own office)."""
    region = _admin_region(session, principal)
    row = _get_category(session, region, category_id)
    try:
        for area in regions.area_choices(session, region_id=region.id, kind="kecamatan"):
            raw = text(form, f"area_{area.id}")
            office = int_or_none(raw)
            if raw and office is None:
                raise ValidationFailed(_("Choose an office from the list."))
            categories.set_route(
                session,
                principal=principal,
                region_id=region.id,
                category_id=row.id,
                area_id=area.id,
                office_id=office,
            )
    except (ValidationFailed, NotFound) as exc:
        undo(session)
        row = _get_category(session, region, category_id)
        message = exc.translated(language(request))
        return _category_page(request, session, region, row, route_error=message, status=422)
    return RedirectResponse(f"{BASE}/{row.id}?ok=routes#routes", status_code=303)


# ---------------------------------------------------------------- days off


@router.post(BASE + "/days-off", response_class=HTMLResponse, dependencies=CSRF)
def day_off_add(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    region = _admin_region(session, principal)
    lang = language(request)
    values = {"day": text(form, "day"), "name": text(form, "name")}
    try:
        data = DayOffWrite.model_validate(values)
        require_region_admin(principal, region.id, permission=PERMISSION)
        categories.add_day_off(
            session, principal=principal, region_id=region.id, day=data.day, name=data.name
        )
    except ValidationError as exc:
        errors = form_errors(exc, lang)
        return _categories_page(
            request, session, principal, region, day_errors=errors, day_form=values, status=422
        )
    except Conflict as exc:
        undo(session)
        errors = refusal(exc, lang, field="day")
        return _categories_page(
            request, session, principal, region, day_errors=errors, day_form=values, status=409
        )
    return RedirectResponse(f"{BASE}?ok=day_added&year={data.day.year}#days-off", status_code=303)


@router.post(BASE + "/days-off/{day}/delete", dependencies=CSRF)
def day_off_remove(day: str, session: DbSession, principal: CurrentPrincipal) -> Response:
    region = _admin_region(session, principal)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise NotFound(_("This day is not declared.")) from None
    categories.remove_day_off(session, principal=principal, region_id=region.id, day=when)
    return RedirectResponse(f"{BASE}?ok=day_removed&year={when.year}#days-off", status_code=303)
