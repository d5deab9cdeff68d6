"""Pages of the public-service catalogue (Mal Pelayanan Publik).

Public: ``/services`` (search by words, office and "buka sekarang") and ``/services/{code}`` (what to
bring, the steps, fee, duration, where and when). The region is ``?region=<code>``, else the
visitor's own region, else the installation's default region (``settings.default_region``), else
the first region.

Staff: ``/admin/services`` (the list and the form to add a service) and ``/admin/services/{code}``
(edit, withdraw) for the region admin (any office) and an office's operator (its own services).
Requirements and steps are typed one per line; opening hours as two windows per weekday. A refused
form comes back with its values and a message next to each field, never an error page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.auth.pages import own_region
from kotacerdas.citizen import catalogue, catalogue_forms as forms
from kotacerdas.citizen.catalogue_schemas import (
    PublicServiceCreate,
    PublicServiceRead,
    PublicServiceUpdate,
)
from kotacerdas.citizen.models import PublicService
from kotacerdas.citizen.pages_common import visitor_place
from kotacerdas.errors import KotaCerdasError, NotFound, PermissionDenied
from kotacerdas.i18n import _, gettext
from kotacerdas.kit.time import to_local, utcnow
from kotacerdas.region import service as regions
from kotacerdas.region.models import Office, Region
from kotacerdas.web.deps import CurrentPrincipal, DbSession, csrf_protect, language
from kotacerdas.web.forms import PostedForm
from kotacerdas.web.render import render
from kotacerdas.web.schemas import CODE_PATTERN, CONTROL, FormErrors

router = APIRouter(include_in_schema=False)
CSRF = [Depends(csrf_protect)]
PAGE_SIZE = 20
ADMIN_PAGE_SIZE = 50
ServiceCode = Annotated[str, Path(max_length=40, pattern=CODE_PATTERN)]

DAY_NAMES = (
    _("Monday"),
    _("Tuesday"),
    _("Wednesday"),
    _("Thursday"),
    _("Friday"),
    _("Saturday"),
    _("Sunday"),
)
CHANNEL_LABELS = {
    "mpp": _("Public service mall (MPP)"),
    "counter": _("Office counter"),
    "online": _("Online"),
}
DONE = {
    "created": _("The service has been added to the catalogue."),
    "updated": _("The service has been saved."),
    "withdrawn": _("The service has been withdrawn from the catalogue."),
}


# ---------------------------------------------------------------- the region of the public pages


def _clean(text: str | None, limit: int) -> str:
    return CONTROL.sub("", text or "")[:limit].strip()


def _page_number(text: str | None) -> int:
    try:
        return max(1, min(int(text or "1"), 1_000_000))
    except ValueError:
        return 1


def _flash(request: Request, done: str | None) -> dict[str, str] | None:
    if done in DONE:
        return {"kind": "ok", "message": gettext(language(request), DONE[done])}
    return None


# ---------------------------------------------------------------- what a page says about a service


@dataclass(frozen=True)
class Card:
    service: PublicServiceRead
    has_hours: bool
    next_label: str  # "Monday 08:00" when closed, "" when open or without hours
    closes_label: str  # "15:00" while open


def _time_label(lang: str, moment: datetime, now: datetime) -> str:
    days = (moment.date() - now.date()).days
    at = moment.strftime("%H:%M")
    if days == 0:
        return gettext(lang, _("today at {time}"), time=at)
    if days == 1:
        return gettext(lang, _("tomorrow at {time}"), time=at)
    day = gettext(lang, DAY_NAMES[moment.weekday()])
    if days < 7:
        return gettext(lang, _("{day} at {time}"), day=day, time=at)
    return gettext(lang, _("{day} {date} at {time}"), day=day, date=moment.strftime("%d-%m-%Y"), time=at)


def _cards(
    session: Session, request: Request, region: Region, services: list[PublicService], now: datetime
) -> list[Card]:
    lang = language(request)
    local_now = to_local(now, region.timezone)
    closed = catalogue.closed_days(session, region_id=region.id)
    reads = catalogue.service_reads(session, region=region, services=services, at=now)
    cards = []
    for svc, read in zip(services, reads, strict=True):
        window = catalogue.open_window(svc, now, region.timezone, closed)
        cards.append(
            Card(
                service=read,
                has_hours=bool(read.opening_hours),
                next_label=_time_label(lang, read.next_opening, local_now)
                if read.next_opening and not read.open_now
                else "",
                closes_label=window[1].strftime("%H:%M") if window else "",
            )
        )
    return cards


def _labels(request: Request) -> dict[str, Any]:
    lang = language(request)
    return {
        "days": [gettext(lang, name) for name in DAY_NAMES],
        "channels": {key: gettext(lang, label) for key, label in CHANNEL_LABELS.items()},
    }


def _safe_url(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""


# ---------------------------------------------------------------- public pages


@router.get("/services", response_class=HTMLResponse)
def service_list(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    q: str | None = None,
    office: str | None = None,
    open_now: str | None = None,
    page: str | None = None,
) -> Response:
    region = visitor_place(session, request, principal).region
    words = _clean(q, 200)
    office_name = _clean(office, 40)
    only_open = open_now in ("1", "true", "on", "yes")
    page_no = _page_number(page)
    now = utcnow()
    found = (
        catalogue.find_office(session, region_id=region.id, short_name=office_name) if office_name else None
    )
    rows: list[PublicService] = []
    total = 0
    if not office_name or found is not None:
        rows, total = catalogue.list_services(
            session,
            region_id=region.id,
            q=words,
            office_id=found.id if found else None,
            open_at=now if only_open else None,
            limit=PAGE_SIZE,
            offset=(page_no - 1) * PAGE_SIZE,
        )
    params = {
        "region": request.query_params.get("region") or "",
        "q": words,
        "office": office_name,
        "open_now": "1" if only_open else "",
    }
    query = urlencode({k: v for k, v in params.items() if v})
    context = {
        "region": region,
        "region_query": f"?region={region.code}" if params["region"] else "",
        "cards": _cards(session, request, region, rows, now),
        "offices": catalogue.offices_with_services(session, region_id=region.id),
        "q": words,
        "office": found.short_name if found else office_name,
        "open_now": only_open,
        "total": total,
        "page": page_no,
        "pages": max(1, math.ceil(total / PAGE_SIZE)),
        "pager_url": "/services?" + (query + "&" if query else ""),
        "now": to_local(now, region.timezone),
        "labels": _labels(request),
    }
    return render(request, "catalogue/list.html", context)


@router.get("/services/{code}", response_class=HTMLResponse)
def service_detail(
    code: str, request: Request, session: DbSession, principal: CurrentPrincipal, done: str | None = None
) -> Response:
    region = visitor_place(session, request, principal).region
    if len(code) > 40 or not code.isprintable():
        raise NotFound(_("Service {code} not found."), code=code[:40])
    svc = catalogue.get_service(
        session,
        region_id=region.id,
        code=code,
        include_inactive=catalogue.can_write_catalogue(principal, region.id),
    )
    now = utcnow()
    card = _cards(session, request, region, [svc], now)[0]
    read = card.service
    osm = None
    if read.lat is not None and read.lon is not None:
        osm = f"https://www.openstreetmap.org/?mlat={read.lat}&mlon={read.lon}#map=17/{read.lat}/{read.lon}"
    context = {
        "region": region,
        "region_query": f"?region={region.code}" if request.query_params.get("region") else "",
        "card": card,
        "s": read,
        "week": catalogue.week_hours(svc.opening_hours),
        "today": to_local(now, region.timezone).weekday(),
        "osm_url": osm,
        "online_url": _safe_url(read.online_url),
        "can_edit": catalogue.may_write_service(principal, region.id, svc.office_id),
        "labels": _labels(request),
        "flash": _flash(request, done),
    }
    return render(request, "catalogue/detail.html", context)


# ---------------------------------------------------------------- staff pages: access and the form


def _staff_region(session: Session, principal: Principal) -> Region:
    region = own_region(session, principal)
    catalogue.require_catalogue_writer(principal, region.id)
    return region


def _writable_offices(session: Session, principal: Principal, region: Region) -> list[Office]:
    return [
        o
        for o in regions.list_offices(session, region_id=region.id)
        if catalogue.may_write_service(principal, region.id, o.id)
    ]


# ---------------------------------------------------------------- staff pages


def _admin_list_page(
    request: Request,
    session: Session,
    principal: Principal,
    region: Region,
    *,
    q: str = "",
    page: int = 1,
    form: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    flash: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    offices = _writable_offices(session, principal, region)
    own_office = None if principal.is_region_admin or principal.office_id is None else principal.office_id
    rows, total = catalogue.list_services(
        session,
        region_id=region.id,
        q=q,
        office_id=own_office,
        include_inactive=True,
        limit=ADMIN_PAGE_SIZE,
        offset=(page - 1) * ADMIN_PAGE_SIZE,
    )
    names = {o.id: o.short_name for o in regions.list_offices(session, region_id=region.id)}
    context = {
        "region": region,
        "rows": [(svc, names.get(svc.office_id, "")) for svc in rows],
        "total": total,
        "q": q,
        "page": page,
        "pages": max(1, math.ceil(total / ADMIN_PAGE_SIZE)),
        "pager_url": "/admin/services?" + (urlencode({"q": q}) + "&" if q else ""),
        "office_options": [(o.short_name, f"{o.short_name} — {o.name}") for o in offices],
        "form": form or forms.blank_values(offices[0].short_name if len(offices) == 1 else ""),
        "errors": errors or {},
        "error": errors.general if errors else None,
        "labels": _labels(request),
        "flash": flash,
    }
    return render(request, "catalogue/admin_list.html", context, status)


@router.get("/admin/services", response_class=HTMLResponse)
def admin_services(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    q: str | None = None,
    page: str | None = None,
    done: str | None = None,
) -> Response:
    region = _staff_region(session, principal)
    return _admin_list_page(
        request,
        session,
        principal,
        region,
        q=_clean(q, 200),
        page=_page_number(page),
        flash=_flash(request, done),
    )


@router.post("/admin/services", response_class=HTMLResponse, dependencies=CSRF)
def admin_service_create(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    region = _staff_region(session, principal)
    lang = language(request)
    values = forms.form_values(form)
    payload, hour_errors = forms.form_payload(values, lang, with_active=False)
    try:
        data = PublicServiceCreate.model_validate(payload)
        if hour_errors:
            return _admin_list_page(
                request,
                session,
                principal,
                region,
                form=values,
                errors=forms.hour_errors_only(lang, hour_errors),
                status=422,
            )
        svc = catalogue.create_service(session, principal=principal, region_id=region.id, data=data)
    except (ValidationError, KotaCerdasError) as exc:
        if isinstance(exc, KotaCerdasError) and exc.status not in (409, 422):
            raise
        errors = forms.refused_errors(exc, lang, hour_errors)
        return _admin_list_page(request, session, principal, region, form=values, errors=errors, status=422)
    return RedirectResponse(f"/admin/services/{svc.code}?done=created", status_code=303)


def _edit_page(
    request: Request,
    session: Session,
    principal: Principal,
    region: Region,
    svc: PublicService,
    form: dict[str, Any],
    *,
    errors: FormErrors | None = None,
    flash: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    offices = _writable_offices(session, principal, region)
    context = {
        "region": region,
        "service": svc,
        "office_options": [(o.short_name, f"{o.short_name} — {o.name}") for o in offices],
        "form": form,
        "errors": errors or {},
        "error": errors.general if errors else None,
        "labels": _labels(request),
        "flash": flash,
    }
    return render(request, "catalogue/admin_edit.html", context, status)


def _editable(session: Session, principal: Principal, region: Region, code: str) -> PublicService:
    svc = catalogue.get_service(session, region_id=region.id, code=code, include_inactive=True)
    if not catalogue.may_write_service(principal, region.id, svc.office_id):
        raise PermissionDenied(
            _("Only the office that provides this service or the region admin may change it.")
        )
    return svc


@router.get("/admin/services/{code}", response_class=HTMLResponse)
def admin_service_edit(
    code: ServiceCode,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    done: str | None = None,
) -> Response:
    region = _staff_region(session, principal)
    svc = _editable(session, principal, region, code)
    office = regions.get_office(session, region_id=region.id, office_id=svc.office_id)
    return _edit_page(
        request,
        session,
        principal,
        region,
        svc,
        forms.service_values(svc, office),
        flash=_flash(request, done),
    )


@router.post("/admin/services/{code}", response_class=HTMLResponse, dependencies=CSRF)
def admin_service_update(
    code: ServiceCode, request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    region = _staff_region(session, principal)
    svc = _editable(session, principal, region, code)
    lang = language(request)
    values = forms.form_values(form)
    payload, hour_errors = forms.form_payload(values, lang, with_active=True)
    try:
        data = PublicServiceUpdate.model_validate(payload)
        if hour_errors:
            return _edit_page(
                request,
                session,
                principal,
                region,
                svc,
                values,
                errors=forms.hour_errors_only(lang, hour_errors),
                status=422,
            )
        svc = catalogue.update_service(
            session, principal=principal, region_id=region.id, code=code, data=data
        )
    except (ValidationError, KotaCerdasError) as exc:
        if isinstance(exc, KotaCerdasError) and exc.status not in (409, 422):
            raise
        errors = forms.refused_errors(exc, lang, hour_errors)
        return _edit_page(request, session, principal, region, svc, values, errors=errors, status=422)
    return RedirectResponse(f"/admin/services/{svc.code}?done=updated", status_code=303)


@router.post("/admin/services/{code}/delete", response_class=HTMLResponse, dependencies=CSRF)
def admin_service_withdraw(
    code: ServiceCode, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    region = _staff_region(session, principal)
    catalogue.delete_service(session, principal=principal, region_id=region.id, code=code)
    return RedirectResponse("/admin/services?done=withdrawn", status_code=303)
