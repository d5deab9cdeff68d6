"""One report (``/reports/{no}``): what the reader may see of it (the Presenter decides, as for the API),
its timeline, and the steps the reader may take, each a form posted to ``/reports/{no}/{action}``.

Who sees which form follows the service's rules: the region admin verifies (dispose, reject), closes
and notes; the office handling it accepts, responds, reassigns and notes; the reporter (logged in or
with the tracking code) answers a follow-up; anyone else may support an open public report. A step the
service refuses comes back as this page with the message next to the form, never an error page.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from kotacerdas.auth.access import Principal
from kotacerdas.citizen import access, labels, reports
from kotacerdas.citizen.models import OPEN_STATES, REJECT_REASONS, Report
from kotacerdas.citizen.pages_common import (
    CSRF,
    STATE_CLASS,
    Place,
    control_errors,
    flash,
    int_or_none,
    late_days,
    osm_link,
    refusal,
    region_map,
    undo,
    visitor_place,
)
from kotacerdas.citizen.present import Presenter
from kotacerdas.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kotacerdas.i18n import _, gettext
from kotacerdas.region import service as regions
from kotacerdas.web.deps import ANON_COOKIE, CurrentPrincipal, DbSession, language
from kotacerdas.web.forms import PostedForm, text
from kotacerdas.web.render import render
from kotacerdas.web.schemas import FormErrors

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Opened:
    report: Report
    role: access.Role
    code: str  # the valid tracking code the reader opened it with ("" without one)


def _open(session: Session, principal: Principal, place: Place, no: str, code: str) -> Opened:
    code = code.strip()[:40]
    report, role = reports.open_report(
        session, principal=principal, region_id=place.region.id, tracking_no=no, code=code or None
    )
    valid = bool(code) and secrets.compare_digest(reports.sha256(code), report.access_code_hash)
    return Opened(report, role, code if valid else "")


def _steps(opened: Opened) -> dict[str, bool]:
    """Which forms this reader gets: only the steps the service would take from them now."""
    report, role = opened.report, opened.role
    state = report.state
    staff = role in ("admin", "office")
    return {
        "dispose": role == "admin" and state == "submitted",
        "reject": role == "admin" and state == "submitted",
        "accept": role == "office" and state == "disposed",
        "respond": role == "office" and state in ("disposed", "in_progress"),
        "reassign": staff and state in ("disposed", "in_progress") and report.office_id is not None,
        "close_admin": role == "admin" and state in OPEN_STATES,
        "reopen_admin": role == "admin" and state in ("responded", "closed") and report.office_id is not None,
        "note": staff,
        "answer": role == "reporter" and state == "responded",
        "support": role == "public" and access.is_public(report) and state in OPEN_STATES,
    }


def _detail_page(
    request: Request,
    session: Session,
    principal: Principal,
    place: Place,
    opened: Opened,
    *,
    failed: str = "",
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = language(request)
    region = place.region
    report, role = opened.report, opened.role
    p = Presenter(session, region, lang)
    read = p.read(report, role)
    events = [p.event(e, role, report) for e in reports.timeline(session, report=report, role=role)]
    suffix = "?code=" + quote(opened.code) if opened.code else ""
    drawn = region_map(session, region, width=360, max_height=280)
    marker = None
    if drawn and report.lat is not None and report.lon is not None:
        marker = drawn.frame.xy(report.lon, report.lat)
    steps = _steps(opened)
    offices = (
        regions.list_offices(session, region_id=region.id) if steps["dispose"] or steps["reassign"] else []
    )
    context = {
        "region": region,
        "place": place,
        "r": read,
        "events": events,
        "role": role,
        "code": opened.code,
        "photos": [url + suffix for url in read.photos],
        "map": drawn,
        "marker": marker,
        "osm": osm_link(report.lat, report.lon) if report.lat is not None and report.lon is not None else "",
        "late": late_days(report.due_at, region) if read.overdue else 0,
        "steps": steps,
        "offices": [(str(o.id), f"{o.short_name} – {o.name}") for o in offices],
        "reassign_offices": [(str(o.id), o.short_name) for o in offices if o.id != report.office_id],
        "reject_options": [(k, gettext(lang, labels.REJECT_LABELS[k])) for k in REJECT_REASONS],
        "privacy_label": gettext(lang, labels.PRIVACY_LABELS[report.privacy]),
        "state_class": STATE_CLASS,
        "failed": failed,
        "errors": errors or FormErrors(),
        "error": errors.general or None if errors is not None else None,
        "form": form or {},
        "flash": flash(request, lang),
    }
    response = render(request, "reports/detail.html", context, status)
    if opened.code:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/reports/{no:tracking}", response_class=HTMLResponse)
def report_detail(no: str, request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    place = visitor_place(session, request, principal)
    opened = _open(session, principal, place, no, request.query_params.get("code", ""))
    return _detail_page(request, session, principal, place, opened)


# ---------------------------------------------------------------- the steps

Step = Callable[[Session, Principal, Opened, FormData, Request], str]


def _dispose(session: Session, principal: Principal, o: Opened, form: FormData, _r: Request) -> str:
    office = int_or_none(text(form, "office"))
    reports.dispose_report(
        session, principal=principal, report=o.report, office_id=office, note=text(form, "note")
    )
    return "disposed"


def _reject(session: Session, principal: Principal, o: Opened, form: FormData, _r: Request) -> str:
    original = text(form, "duplicate_of").upper()[:24] or None
    reason = text(form, "reason")
    try:
        reports.reject_report(
            session,
            principal=principal,
            report=o.report,
            reason=reason,
            duplicate_of=original if reason == "duplicate" else None,
            note=text(form, "note"),
        )
    except NotFound as exc:  # the original named is not a report of this region
        raise ValidationFailed(details={"duplicate_of": exc.message}) from None
    return "rejected"


def _accept(session: Session, principal: Principal, o: Opened, form: FormData, _r: Request) -> str:
    reports.accept_report(session, principal=principal, report=o.report, note=text(form, "note"))
    return "accepted"


def _respond(session: Session, principal: Principal, o: Opened, form: FormData, _r: Request) -> str:
    reports.respond_report(session, principal=principal, report=o.report, note=text(form, "note"))
    return "responded"


def _reassign(session: Session, principal: Principal, o: Opened, form: FormData, _r: Request) -> str:
    office = int_or_none(text(form, "office"))
    if office is None:
        raise ValidationFailed(details={"office": _("Choose the office that handles this report.")})
    reports.reassign_report(
        session, principal=principal, report=o.report, office_id=office, note=text(form, "note")
    )
    return "reassigned"


def _close(session: Session, principal: Principal, o: Opened, form: FormData, _r: Request) -> str:
    reports.close_report(
        session,
        principal=principal,
        report=o.report,
        resolution=text(form, "resolution"),
        note=text(form, "note"),
        has_code=bool(o.code),
    )
    return "closed"


def _reopen(session: Session, principal: Principal, o: Opened, form: FormData, _r: Request) -> str:
    reports.reopen_report(
        session, principal=principal, report=o.report, note=text(form, "note"), has_code=bool(o.code)
    )
    return "reopened"


def _note(session: Session, principal: Principal, o: Opened, form: FormData, _r: Request) -> str:
    public = text(form, "public") == "1"
    reports.add_note(session, principal=principal, report=o.report, note=text(form, "note"), public=public)
    return "noted"


def _support(session: Session, principal: Principal, o: Opened, form: FormData, request: Request) -> str:
    email = text(form, "email").lower()
    if email and ("@" not in email or len(email) > 200 or " " in email):
        raise ValidationFailed(details={"email": _("Enter a valid e-mail address.")})
    client = request.client.host if request.client else "unknown"
    supporter = email or "browser:" + (request.cookies.get(ANON_COOKIE) or client)
    added = reports.support_report(
        session, principal=principal, report=o.report, supporter=supporter, email=email
    )
    return "supported" if added else "already_supported"


STEPS: dict[str, Step] = {
    "dispose": _dispose,
    "reject": _reject,
    "accept": _accept,
    "respond": _respond,
    "reassign": _reassign,
    "close": _close,
    "reopen": _reopen,
    "note": _note,
    "support": _support,
}


@router.post("/reports/{no:tracking}/{action}", response_class=HTMLResponse, dependencies=CSRF)
def report_step(
    no: str,
    action: str,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    form: PostedForm,
) -> Response:
    step = STEPS.get(action)
    if step is None:
        raise NotFound()
    place = visitor_place(session, request, principal)
    lang = language(request)
    opened = _open(session, principal, place, no, text(form, "code"))
    values = {k: text(form, k) for k in ("note", "office", "reason", "duplicate_of", "resolution", "email")}
    errors = control_errors(values, lang)
    if errors:
        errors.general = next(iter(errors.values()))
        return _detail_page(
            request, session, principal, place, opened, failed=action, errors=errors, form=values, status=422
        )
    try:
        done = step(session, principal, opened, form, request)
    except (ValidationFailed, Conflict, PermissionDenied) as exc:
        undo(session)
        opened = _open(session, principal, place, no, opened.code)
        errors = refusal(exc, lang, field="note")
        return _detail_page(
            request,
            session,
            principal,
            place,
            opened,
            failed=action,
            errors=errors,
            form=values,
            status=exc.status,
        )
    if access.role_for(principal, opened.report, has_code=bool(opened.code)) in (None, "public") and (
        opened.role == "office"
    ):
        # passed to another office: this office no longer sees it, back to its queue
        return RedirectResponse(f"/reports/queue?ok={done}", status_code=303)
    return RedirectResponse(place.url(f"/reports/{no}", code=opened.code, ok=done), status_code=303)
