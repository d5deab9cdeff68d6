"""The LAPOR!-SP4N lifecycle of a citizen report with its working-day deadlines, photos added
later, notes, support, and the deadline worker's side (escalation, closing for no answer).

Every transition goes through ``_move``: it checks the state it starts from, stamps the times the
figures need, sets the running stage's deadline, writes the timeline event and queues the
notifications, all in the caller's transaction (they are sent after commit by the worker).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.citizen import access, categories, notify
from kotacerdas.citizen.models import (
    CLOSED_STATES,
    OPEN_STATES,
    REJECT_REASONS,
    RESOLUTIONS,
    Report,
    ReportEvent,
    ReportPhoto,
    ReportSupport,
)
from kotacerdas.citizen.photos import MAX_PHOTOS, clean_photo
from kotacerdas.citizen.report_filing import _actor, _utc, aware, sha256
from kotacerdas.citizen.report_reading import get_report, photos_of
from kotacerdas.db import after_rollback
from kotacerdas.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kotacerdas.i18n import Message, _
from kotacerdas.kit.files import FileStore
from kotacerdas.kit.time import utcnow
from kotacerdas.region import service as regions

log = logging.getLogger("kotacerdas.citizen.reports")  # the name operators filter on

MAX_NOTE = 4000


def _event(
    session: Session,
    report: Report,
    kind: str,
    from_state: str | None,
    to_state: str | None,
    principal: Principal | None,
    *,
    note: str = "",
    office_id: int | None = None,
    public: bool = True,
    at: datetime | None = None,
) -> ReportEvent:
    event = ReportEvent(
        region_id=report.region_id,
        report_id=report.id,
        at=at or report.updated_at,
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        office_id=office_id,
        note=note,
        public=public,
        **_actor(principal),
    )
    session.add(event)
    session.flush()
    return event


def add_photo(
    session: Session, *, report: Report, role: access.Role, data: bytes, store: FileStore, max_bytes: int
) -> ReportPhoto:
    """The reporter adds a photo while the report waits for verification (at most ``MAX_PHOTOS``)."""
    if role not in ("reporter", "admin"):
        raise PermissionDenied(_("Only the reporter may add photos."))
    _require_state(report, "submitted")
    count = len(photos_of(session, report=report))
    if count >= MAX_PHOTOS:
        raise Conflict(_("A report has at most {n} photos."), n=MAX_PHOTOS)
    photo = clean_photo(data, max_bytes=max_bytes)
    key = store.save(photo.data, suffix=photo.suffix)
    after_rollback(session, lambda: store.delete(key))
    row = ReportPhoto(
        region_id=report.region_id,
        report_id=report.id,
        file_key=key,
        content_type=photo.content_type,
        width=photo.width,
        height=photo.height,
        size_bytes=len(photo.data),
        position=count + 1,
    )
    session.add(row)
    session.flush()
    return row


# ---------------------------------------------------------------- the lifecycle


def _require_admin(principal: Principal, report: Report) -> None:
    if not access.is_report_admin(principal, report.region_id):
        raise PermissionDenied(_("Only the region's report verifiers may do this."))


def _require_office_or_admin(principal: Principal, report: Report) -> None:
    if access.is_report_admin(principal, report.region_id):
        return
    if access.office_of(principal, report.region_id) != report.office_id or report.office_id is None:
        raise PermissionDenied(_("Only the office handling this report or the region admin may do this."))


def _require_state(report: Report, *allowed: str) -> None:
    if report.state not in allowed:
        raise Conflict(
            _("This cannot be done while the report is {state}."),
            state=report.state,
            details={"state": report.state},
        )


def _note(text: str, required: bool = False) -> str:
    text = (text or "").strip()
    if len(text) > MAX_NOTE:
        raise ValidationFailed(details={"note": Message(_("At most {limit} characters."), limit=MAX_NOTE)})
    if required and not text:
        raise ValidationFailed(details={"note": Message(_("Write a note for the reporter."))})
    return text


def _move(
    session: Session,
    report: Report,
    kind: str,
    to_state: str,
    principal: Principal | None,
    *,
    now: datetime,
    note: str = "",
    office_id: int | None = None,
    public: bool = True,
) -> ReportEvent:
    from_state = report.state
    region = regions.get_region(session, report.region_id)
    category = categories.get_category(session, region_id=report.region_id, category_id=report.category_id)
    calendar = categories.calendar_for(session, region_id=report.region_id)
    report.state = to_state
    report.updated_at = now
    report.escalated_at = None
    if to_state == "disposed":
        report.respond_due_at = calendar.deadline(now, category.respond_days, region.timezone)
        report.due_at = report.respond_due_at
    elif to_state == "in_progress" and from_state in ("responded", "closed"):
        # reopened: the office owes a new follow-up within its usual time
        report.respond_due_at = calendar.deadline(now, category.respond_days, region.timezone)
        report.due_at = report.respond_due_at
        report.closed_at = None
        report.resolution = None
    elif to_state == "responded":
        report.close_due_at = calendar.deadline(now, category.close_days, region.timezone)
        report.due_at = report.close_due_at
    elif to_state in CLOSED_STATES:
        report.due_at = None
        report.closed_at = now
    if note and public:
        report.status_note = note
    session.flush()
    event = _event(
        session,
        report,
        kind,
        from_state,
        to_state,
        principal,
        note=note,
        office_id=office_id,
        public=public,
        at=now,
    )
    notify.queue_report_event(session, report=report, event=event)
    return event


def dispose_report(
    session: Session,
    *,
    principal: Principal,
    report: Report,
    office_id: int | None = None,
    note: str = "",
    now: datetime | None = None,
) -> ReportEvent:
    """Verified: the report goes to an office (the suggested one unless another is named)."""
    _require_admin(principal, report)
    _require_state(report, "submitted")
    target = office_id or report.suggested_office_id
    if target is None:
        raise ValidationFailed(details={"office": Message(_("Choose the office that handles this report."))})
    regions.get_office(session, region_id=report.region_id, office_id=target)
    now = _utc(now)
    report.office_id = target
    report.verified_at = now
    return _move(
        session, report, "disposed", "disposed", principal, now=now, note=_note(note), office_id=target
    )


def reject_report(
    session: Session,
    *,
    principal: Principal,
    report: Report,
    reason: str,
    duplicate_of: str | None = None,
    note: str = "",
    now: datetime | None = None,
) -> ReportEvent:
    """Not for this Pemda, a duplicate of another report, or spam (spam disappears from public view)."""
    _require_admin(principal, report)
    _require_state(report, "submitted")
    if reason not in REJECT_REASONS:
        raise ValidationFailed(details={"reason": Message(_("Choose not our authority, duplicate or spam."))})
    if reason == "duplicate":
        if not duplicate_of:
            raise ValidationFailed(
                details={"duplicate_of": Message(_("Give the tracking number of the original report."))}
            )
        original = get_report(session, region_id=report.region_id, tracking_no=duplicate_of)
        if original.id == report.id:
            raise ValidationFailed(details={"duplicate_of": Message(_("A report cannot duplicate itself."))})
        report.duplicate_of_id = original.id
    now = _utc(now)
    report.reject_reason = reason
    report.verified_at = now
    return _move(session, report, "rejected", "rejected", principal, now=now, note=_note(note))


def accept_report(
    session: Session, *, principal: Principal, report: Report, note: str = "", now: datetime | None = None
) -> ReportEvent:
    """The office takes the report up (diproses)."""
    _require_office_or_admin(principal, report)
    _require_state(report, "disposed")
    return _move(session, report, "accepted", "in_progress", principal, now=_utc(now), note=_note(note))


def respond_report(
    session: Session, *, principal: Principal, report: Report, note: str, now: datetime | None = None
) -> ReportEvent:
    """The office's follow-up (tindak lanjut): the reporter now has ``close_days`` working days to answer."""
    _require_office_or_admin(principal, report)
    _require_state(report, "disposed", "in_progress")
    now = _utc(now)
    if report.first_response_at is None:
        report.first_response_at = now
    report.responded_at = now
    return _move(
        session, report, "responded", "responded", principal, now=now, note=_note(note, required=True)
    )


def _is_reporter(principal: Principal, report: Report, has_code: bool) -> bool:
    return has_code or (principal.user_id is not None and principal.user_id == report.reporter_user_id)


def close_report(
    session: Session,
    *,
    principal: Principal | None,
    report: Report,
    resolution: str,
    note: str = "",
    has_code: bool = False,
    now: datetime | None = None,
) -> ReportEvent:
    """Closed by the reporter (resolved or not), by the region admin, or by the worker (no answer)."""
    if resolution not in RESOLUTIONS:
        raise ValidationFailed(
            details={"resolution": Message(_("Choose resolved, unresolved or no answer."))}
        )
    if principal is None:  # the deadline worker
        if resolution != "no_answer":
            raise ValidationFailed(
                details={"resolution": Message(_("Choose resolved, unresolved or no answer."))}
            )
        _require_state(report, "responded")
    elif access.is_report_admin(principal, report.region_id):
        _require_state(report, *OPEN_STATES)
    elif _is_reporter(principal, report, has_code):
        _require_state(report, "responded")
        if resolution == "no_answer":
            raise ValidationFailed(details={"resolution": Message(_("Choose resolved or unresolved."))})
    else:
        raise PermissionDenied(_("Only the reporter or the region admin may close this report."))
    report.resolution = resolution
    return _move(session, report, "closed", "closed", principal, now=_utc(now), note=_note(note))


def reopen_report(
    session: Session,
    *,
    principal: Principal,
    report: Report,
    note: str,
    has_code: bool = False,
    now: datetime | None = None,
) -> ReportEvent:
    """The reporter (or the admin) says the follow-up did not solve it: back to the office."""
    if not (access.is_report_admin(principal, report.region_id) or _is_reporter(principal, report, has_code)):
        raise PermissionDenied(_("Only the reporter or the region admin may reopen this report."))
    _require_state(report, "responded", "closed")
    if report.office_id is None:
        raise Conflict(_("This report was never disposed to an office."))
    return _move(
        session,
        report,
        "reopened",
        "in_progress",
        principal,
        now=_utc(now),
        note=_note(note, required=True),
    )


def reassign_report(
    session: Session,
    *,
    principal: Principal,
    report: Report,
    office_id: int,
    note: str = "",
    now: datetime | None = None,
) -> ReportEvent:
    """Another office is responsible: the report moves there and its follow-up deadline starts again."""
    _require_office_or_admin(principal, report)
    _require_state(report, "disposed", "in_progress")
    if office_id == report.office_id:
        raise ValidationFailed(details={"office": Message(_("The report is already with this office."))})
    regions.get_office(session, region_id=report.region_id, office_id=office_id)
    report.office_id = office_id
    return _move(
        session,
        report,
        "reassigned",
        "disposed",
        principal,
        now=_utc(now),
        note=_note(note),
        office_id=office_id,
    )


def add_note(
    session: Session,
    *,
    principal: Principal,
    report: Report,
    note: str,
    public: bool = False,
    now: datetime | None = None,
) -> ReportEvent:
    """A note on the timeline without a change of state (internal unless ``public``)."""
    _require_office_or_admin(principal, report)
    now = _utc(now)
    report.updated_at = now
    if public:
        report.status_note = _note(note, required=True)
    event = _event(
        session,
        report,
        "note",
        report.state,
        report.state,
        principal,
        note=_note(note, required=True),
        public=public,
        at=now,
    )
    if public:
        notify.queue_report_event(session, report=report, event=event)
    return event


def support_report(
    session: Session, *, principal: Principal, report: Report, supporter: str, email: str = ""
) -> bool:
    """Someone with the same problem backs an open report instead of filing a duplicate; once per person.
    Returns False when they had already supported it."""
    if not access.is_public(report) or report.state not in OPEN_STATES:
        raise Conflict(_("Only open, public reports can be supported."))
    key = sha256(f"user:{principal.user_id}" if principal.user_id else supporter)
    if session.scalar(
        select(ReportSupport.id).where(
            ReportSupport.report_id == report.id, ReportSupport.supporter_key == key
        )
    ):
        return False
    session.add(
        ReportSupport(
            region_id=report.region_id,
            report_id=report.id,
            supporter_key=key,
            email=email.strip().lower()[:200],
        )
    )
    report.supporters += 1
    session.flush()
    return True


def bulk_dispose(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    tracking_nos: Sequence[str],
    office_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Dispose many verified reports at once (each to its suggested office unless one is named).
    Returns per tracking number "ok" or the reason it was skipped."""
    if not access.is_report_admin(principal, region_id):
        raise PermissionDenied(_("Only the region's report verifiers may do this."))
    outcome: dict[str, str] = {}
    for tracking_no in tracking_nos[:200]:
        try:
            report = get_report(session, region_id=region_id, tracking_no=tracking_no)
            with session.begin_nested():
                dispose_report(session, principal=principal, report=report, office_id=office_id, now=now)
            outcome[tracking_no] = "ok"
        except (NotFound, Conflict, ValidationFailed) as exc:
            outcome[tracking_no] = exc.message.format(**exc.params) if exc.params else exc.message
    return outcome


# ---------------------------------------------------------------- deadlines (the worker's side)


def escalate_overdue(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Reports whose running deadline has passed: a report waiting for the reporter's answer is closed
    as "no answer"; any other is escalated to the region admin once per stage. Returns how many were
    handled (a report whose step fails is logged and left for the next run)."""
    now = _utc(now)
    rows = session.scalars(
        select(Report)
        .where(Report.due_at < now, Report.state.in_(OPEN_STATES), Report.escalated_at.is_(None))
        .order_by(Report.due_at)
        .limit(limit)
    ).all()
    handled = 0
    for report in rows:
        try:
            with session.begin_nested():  # one broken report must not hold back the others
                if report.state == "responded":
                    close_report(session, principal=None, report=report, resolution="no_answer", now=now)
                else:
                    report.escalated_at = now
                    event = _event(
                        session, report, "escalated", report.state, report.state, None, public=False, at=now
                    )
                    notify.queue_report_event(session, report=report, event=event)
            handled += 1
        except Exception:
            log.exception(
                "report %s: the deadline step failed; it is tried again next time", report.tracking_no
            )
    return handled


def is_overdue(report: Report, now: datetime | None = None) -> bool:
    due = aware(report.due_at)
    return due is not None and due < (now or utcnow())
