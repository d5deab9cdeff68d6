"""The lifecycle steps of a citizen report in the JSON API: dispose, reject, accept, respond,
reassign, close, reopen, notes, and support from someone with the same problem.

Each step opens the report through ``report_api._open`` (so the same access rules apply) and answers
with the report as the caller may now see it.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.citizen import access, reports, schemas as s
from kotacerdas.citizen.api_routers import Lang, RegionCode, ReportCode, TrackingNo, public_region, router
from kotacerdas.citizen.models import Report
from kotacerdas.citizen.present import Presenter
from kotacerdas.citizen.report_api import _open
from kotacerdas.region.models import Region
from kotacerdas.web.deps import CurrentPrincipal, DbSession
from kotacerdas.web.schemas import WRITE_ERRORS

# ---------------------------------------------------------------- the lifecycle


def _act(
    session: Session, principal: Principal, region_code: str, tracking_no: str, code: str | None = None
) -> tuple[Region, Report, bool]:
    region = public_region(session, region_code)
    report, role = _open(session, principal, region, tracking_no, code)
    return region, report, role == "reporter"


@router.post("/reports/{tracking_no}/dispose", response_model=s.ReportRead, responses=WRITE_ERRORS)
def dispose(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.DisposeBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.ReportRead:
    """Verified: to the suggested office, or to ``office_id``."""
    region, report, _r = _act(session, principal, region_code, tracking_no)
    reports.dispose_report(
        session, principal=principal, report=report, office_id=body.office_id, note=body.note
    )
    return Presenter(session, region, lang).read(report, "admin")


@router.post("/reports/{tracking_no}/reject", response_model=s.ReportRead, responses=WRITE_ERRORS)
def reject(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.RejectBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.ReportRead:
    region, report, _r = _act(session, principal, region_code, tracking_no)
    reports.reject_report(
        session,
        principal=principal,
        report=report,
        reason=body.reason,
        duplicate_of=body.duplicate_of,
        note=body.note,
    )
    return Presenter(session, region, lang).read(report, "admin")


@router.post("/reports/{tracking_no}/accept", response_model=s.ReportRead, responses=WRITE_ERRORS)
def accept(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.NoteBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.ReportRead:
    region, report, _r = _act(session, principal, region_code, tracking_no)
    reports.accept_report(session, principal=principal, report=report, note=body.note)
    return Presenter(session, region, lang).read(report, access.role_for(principal, report) or "public")


@router.post("/reports/{tracking_no}/respond", response_model=s.ReportRead, responses=WRITE_ERRORS)
def respond(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.NoteBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.ReportRead:
    """The office's follow-up (tindak lanjut), which the reporter reads."""
    region, report, _r = _act(session, principal, region_code, tracking_no)
    reports.respond_report(session, principal=principal, report=report, note=body.note)
    return Presenter(session, region, lang).read(report, access.role_for(principal, report) or "public")


@router.post("/reports/{tracking_no}/reassign", response_model=s.ReportRead, responses=WRITE_ERRORS)
def reassign(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.ReassignBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.ReportRead:
    region, report, _r = _act(session, principal, region_code, tracking_no)
    was_admin = access.is_report_admin(principal, region.id)
    reports.reassign_report(
        session, principal=principal, report=report, office_id=body.office_id, note=body.note
    )
    # the office that passed it on no longer sees the report's identity fields
    return Presenter(session, region, lang).read(report, "admin" if was_admin else "public")


@router.post("/reports/{tracking_no}/close", response_model=s.ReportRead, responses=WRITE_ERRORS)
def close(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.CloseBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
    x_report_code: ReportCode = None,
) -> s.ReportRead:
    """The reporter says whether the follow-up solved it; the region admin may close any open report."""
    region, report, reporter = _act(session, principal, region_code, tracking_no, x_report_code)
    reports.close_report(
        session,
        principal=principal,
        report=report,
        resolution=body.resolution,
        note=body.note,
        has_code=reporter,
    )
    return Presenter(session, region, lang).read(
        report, access.role_for(principal, report, has_code=reporter) or "public"
    )


@router.post("/reports/{tracking_no}/reopen", response_model=s.ReportRead, responses=WRITE_ERRORS)
def reopen(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.NoteBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
    x_report_code: ReportCode = None,
) -> s.ReportRead:
    region, report, reporter = _act(session, principal, region_code, tracking_no, x_report_code)
    reports.reopen_report(session, principal=principal, report=report, note=body.note, has_code=reporter)
    return Presenter(session, region, lang).read(
        report, access.role_for(principal, report, has_code=reporter) or "public"
    )


@router.post(
    "/reports/{tracking_no}/notes", response_model=s.EventRead, status_code=201, responses=WRITE_ERRORS
)
def add_note(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.PublicNoteBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.EventRead:
    """A note on the timeline: internal (staff only) unless ``public``."""
    region, report, _r = _act(session, principal, region_code, tracking_no)
    event = reports.add_note(session, principal=principal, report=report, note=body.note, public=body.public)
    role = access.role_for(principal, report) or "public"
    return Presenter(session, region, lang).event(event, role, report)


@router.post("/reports/{tracking_no}/support", response_model=s.SupportRead, responses=WRITE_ERRORS)
def support(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.SupportBody,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
) -> s.SupportRead:
    """Someone with the same problem backs the report ("saya juga mengalami ini"): once per person
    (account, e-mail, or browser)."""
    _region, report, _r = _act(session, principal, region_code, tracking_no)
    supporter = (body.email or "").lower() or "browser:" + (
        request.cookies.get("kc_anon") or _client(request)
    )
    added = reports.support_report(
        session, principal=principal, report=report, supporter=supporter, email=body.email or ""
    )
    return s.SupportRead(supported=added, supporters=report.supporters)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"
