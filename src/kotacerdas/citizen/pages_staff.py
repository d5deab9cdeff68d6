"""The offices' pages: the report queue (``/reports/queue``, by deadline, overdue first) and where an
office hears of new reports (``/reports/channels``: e-mail addresses and webhooks).

An office operator works the queue of their own office; the region admin picks any office, or sees
every office's reports at once. Another office's queue is refused by the service, not just hidden.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.auth.pages import own_region
from kotacerdas.citizen import access, categories, channels, labels, reports
from kotacerdas.citizen.models import OPEN_STATES, STATES
from kotacerdas.citizen.pages_common import (
    CSRF,
    STATE_CLASS,
    clean_query,
    flash,
    int_or_none,
    late_days,
    refusal,
    undo,
)
from kotacerdas.citizen.present import Presenter
from kotacerdas.citizen.schemas import ChannelWrite
from kotacerdas.errors import Conflict, PermissionDenied, ValidationFailed
from kotacerdas.i18n import _, gettext
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region
from kotacerdas.web.deps import CurrentPrincipal, DbSession, language
from kotacerdas.web.forms import PostedForm, text
from kotacerdas.web.render import render
from kotacerdas.web.schemas import FormErrors, form_errors

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _staff_region(session: Session, principal: Principal) -> tuple[Region, int | None, bool]:
    """The principal's region, their office (None for the admin) and whether they are the admin."""
    region = own_region(session, principal)
    is_admin = access.is_report_admin(principal, region.id)
    office = access.office_of(principal, region.id)
    if office is None and not is_admin:
        raise PermissionDenied(_("This page is for the offices that handle reports."))
    return region, office, is_admin


# ---------------------------------------------------------------- the queue


@router.get("/reports/queue", response_class=HTMLResponse)
def report_queue(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    region, own_office, is_admin = _staff_region(session, principal)
    lang = language(request)
    q = request.query_params
    chosen = {
        "office": q.get("office", ""),
        "state": q.get("state", ""),
        "category": q.get("category", "")[:40],
        "area": q.get("area", ""),
        "overdue": "1" if q.get("overdue") == "1" else "",
        "q": clean_query(q.get("q", "")),
    }
    f = reports.ReportFilter(text=chosen["q"], overdue=True if chosen["overdue"] else None)
    office_id = int_or_none(chosen["office"])
    if chosen["office"] and office_id is None:
        raise PermissionDenied(_("This is another office's queue."))
    f.office_id = office_id
    scope = "office" if own_office is not None or office_id is not None else "admin"
    if chosen["state"] == "all":
        f.state = ()
    elif chosen["state"] in STATES:
        f.state = [chosen["state"]]
    else:
        f.state = list(OPEN_STATES)
    category_rows = categories.list_categories(session, region_id=region.id, include_inactive=True)
    match = next((c for c in category_rows if c.code == chosen["category"]), None)
    if match is not None:
        f.category_ids = [match.id]
    areas = regions.area_choices(session, region_id=region.id, kind="kecamatan")
    area_id = int_or_none(chosen["area"])
    if area_id is not None and any(a.id == area_id for a in areas):
        f.area_id = area_id
    page = max(1, min(int_or_none(q.get("page")) or 1, 10_000))
    rows, total = reports.list_reports(
        session,
        principal=principal,
        region_id=region.id,
        scope=scope,
        filters=f,
        sort="deadline",
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    p = Presenter(session, region, lang)
    p.prefetch(rows)
    items = []
    for row in rows:
        read = p.read(row, access.role_for(principal, row) or "public")
        items.append({"r": read, "late": late_days(row.due_at, region) if read.overdue else 0})
    offices = regions.list_offices(session, region_id=region.id)
    own = next((o for o in offices if o.id == own_office), None)
    query = {k: v for k, v in chosen.items() if v}
    base = "/reports/queue?" + (urlencode(query) + "&" if query else "")
    context: dict[str, Any] = {
        "region": region,
        "items": items,
        "total": total or 0,
        "count_cap": reports.COUNT_CAP,
        "page": page,
        "pages": max(1, math.ceil(min(total or 0, reports.COUNT_CAP) / PAGE_SIZE)),
        "pager_url": base,
        "chosen": chosen,
        "is_admin": is_admin,
        "own_office": own,
        "office_options": [(str(o.id), o.short_name) for o in offices],
        "category_options": [(c.code, p.category_name(c)) for c in category_rows],
        "state_options": [("all", gettext(lang, _("All states")))]
        + [(s, gettext(lang, labels.STATE_LABELS[s])) for s in STATES],
        "area_options": [(str(a.id), a.name) for a in areas],
        "state_class": STATE_CLASS,
        "flash": flash(request, lang),
    }
    return render(request, "reports/queue.html", context)


# ---------------------------------------------------------------- notification channels


def _channel_office(
    session: Session, principal: Principal, region: Region, own_office: int | None, raw: str
) -> int:
    if own_office is not None and not raw:
        return own_office
    chosen = int_or_none(raw)
    if chosen is None:
        offices = regions.list_offices(session, region_id=region.id)
        if not offices:
            raise PermissionDenied(_("The region has no offices yet."))
        return offices[0].id
    return chosen


def _channels_page(
    request: Request,
    session: Session,
    principal: Principal,
    region: Region,
    office_id: int,
    is_admin: bool,
    *,
    errors: FormErrors | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = language(request)
    office = regions.get_office(session, region_id=region.id, office_id=office_id)
    rows = channels.list_channels(session, principal=principal, region_id=region.id, office_id=office_id)
    context = {
        "region": region,
        "office": office,
        "channels": rows,
        "is_admin": is_admin,
        "office_options": [
            (str(o.id), o.short_name) for o in regions.list_offices(session, region_id=region.id)
        ],
        "kind_options": [("email", gettext(lang, _("E-mail"))), ("webhook", gettext(lang, _("Webhook")))],
        "errors": errors or FormErrors(),
        "error": errors.general or None if errors is not None else None,
        "form": form or {"kind": "email", "active": True},
        "flash": flash(request, lang),
    }
    return render(request, "reports/channels.html", context, status)


@router.get("/reports/channels", response_class=HTMLResponse)
def channel_list(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    region, own_office, is_admin = _staff_region(session, principal)
    office_id = _channel_office(
        session, principal, region, own_office, request.query_params.get("office", "")
    )
    return _channels_page(request, session, principal, region, office_id, is_admin)


@router.post("/reports/channels", response_class=HTMLResponse, dependencies=CSRF)
def channel_add(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    region, own_office, is_admin = _staff_region(session, principal)
    office_id = _channel_office(session, principal, region, own_office, text(form, "office"))
    lang = language(request)
    values: dict[str, Any] = {
        "kind": text(form, "kind"),
        "target": text(form, "target"),
        "secret": text(form, "secret"),
        "active": text(form, "active") == "1",
    }
    try:
        data = ChannelWrite.model_validate(values)
        channels.add_channel(
            session, principal=principal, region_id=region.id, office_id=office_id, **data.model_dump()
        )
    except ValidationError as exc:
        errors = form_errors(exc, lang)
        return _channels_page(
            request, session, principal, region, office_id, is_admin, errors=errors, form=values, status=422
        )
    except (ValidationFailed, Conflict) as exc:
        undo(session)
        return _channels_page(
            request,
            session,
            principal,
            region,
            office_id,
            is_admin,
            errors=refusal(exc, lang, field="target"),
            form=values,
            status=exc.status,
        )
    suffix = f"&office={office_id}" if is_admin else ""
    return RedirectResponse(f"/reports/channels?ok=channel_added{suffix}", status_code=303)


@router.post("/reports/channels/{channel_id:int}/delete", dependencies=CSRF)
def channel_remove(
    channel_id: int, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    region, own_office, is_admin = _staff_region(session, principal)
    office_id = _channel_office(session, principal, region, own_office, text(form, "office"))
    channels.remove_channel(
        session, principal=principal, region_id=region.id, office_id=office_id, channel_id=channel_id
    )
    suffix = f"&office={office_id}" if is_admin else ""
    return RedirectResponse(f"/reports/channels?ok=channel_removed{suffix}", status_code=303)
