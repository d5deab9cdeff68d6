"""Who hears of a report's change, queued in the same transaction as the change (``citizen_outbox``).

The worker sends the queue after commit (``citizen.delivery``): nothing is sent for a change that
rolled back, and a restart neither loses nor repeats a message.

- The reporter (and supporters who left an e-mail) hear of every public step, in Bahasa Indonesia
  with the English below it.
- The office hears, by its channels (e-mail, webhook), when a report is disposed or reassigned to it,
  and when one of its reports is reopened.
- The region admins hear when a deadline passes (escalation).
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from kotacerdas.auth.models import User
from kotacerdas.citizen import labels
from kotacerdas.citizen.models import CitizenOutbox, OfficeChannel, Report, ReportEvent, ReportSupport
from kotacerdas.config import get_settings
from kotacerdas.i18n import _, gettext
from kotacerdas.region.models import Office, Region

REPORTER_KINDS = {
    "submitted",
    "disposed",
    "rejected",
    "accepted",
    "responded",
    "closed",
    "reopened",
    "reassigned",
    "note",
}
OFFICE_KINDS = {"disposed", "reassigned", "reopened"}


def _both(message: str, **params: object) -> str:
    return gettext("id", message, **params) + " / " + gettext("en", message, **params)


def report_link(report: Report) -> str:
    return f"{get_settings().public_url.rstrip('/')}/reports/{report.tracking_no}"


def _queue(
    session: Session, report: Report, kind: str, target: str, subject: str, body: str, secret: str = ""
) -> None:
    session.add(
        CitizenOutbox(
            region_id=report.region_id,
            report_id=report.id,
            kind=kind,
            target=target[:500],
            subject=subject[:300],
            body=body,
            secret=secret,
        )
    )


def _reporter_text(
    session: Session, report: Report, event: ReportEvent, access_code: str | None
) -> tuple[str, str]:
    office = session.get(Office, report.office_id) if report.office_id else None
    status_id = labels.state_label("id", report)
    status_en = labels.state_label("en", report)
    subject = f"[{report.tracking_no}] {status_id} / {status_en}"
    lines = [
        gettext(
            "id", _("Your report {tracking_no}: {title}"), tracking_no=report.tracking_no, title=report.title
        ),
        gettext("id", _("Status: {status}"), status=status_id),
    ]
    if office is not None:
        lines.append(gettext("id", _("Handled by: {office}"), office=office.name))
    if event.note and event.public:
        lines += ["", event.note]
    if access_code:
        lines += [
            "",
            gettext("id", _("Tracking code (keep it; it opens your report): {code}"), code=access_code),
        ]
    lines += ["", gettext("id", _("Follow it at {link}"), link=report_link(report)), "", "---", ""]
    lines += [
        gettext(
            "en", _("Your report {tracking_no}: {title}"), tracking_no=report.tracking_no, title=report.title
        ),
        gettext("en", _("Status: {status}"), status=status_en),
    ]
    if office is not None:
        lines.append(gettext("en", _("Handled by: {office}"), office=office.name))
    if access_code:
        lines.append(
            gettext("en", _("Tracking code (keep it; it opens your report): {code}"), code=access_code)
        )
    lines.append(gettext("en", _("Follow it at {link}"), link=report_link(report)))
    return subject, "\n".join(lines)


def _payload(report: Report, event: ReportEvent) -> str:
    """The webhook body: what an office system needs to open the report in its own tools."""
    return json.dumps(
        {
            "event": event.kind,
            "at": event.at.isoformat(),
            "tracking_no": report.tracking_no,
            "state": report.state,
            "title": report.title,
            "description": report.description,
            "category_id": report.category_id,
            "office_id": report.office_id,
            "lat": report.lat,
            "lon": report.lon,
            "address": report.address,
            "due_at": report.due_at.isoformat() if report.due_at else None,
            "note": event.note if event.public else "",
            "url": report_link(report),
        },
        ensure_ascii=False,
    )


def queue_report_event(
    session: Session, *, report: Report, event: ReportEvent, access_code: str | None = None
) -> None:
    if event.kind in REPORTER_KINDS and event.public:
        email = report.reporter_email
        if not email and report.reporter_user_id:
            user = session.get(User, report.reporter_user_id)
            email = user.email if user else ""
        supporters: list[str] = []
        if event.kind != "submitted":
            supporters = list(
                session.scalars(
                    select(ReportSupport.email).where(
                        ReportSupport.report_id == report.id, ReportSupport.email != ""
                    )
                )
            )
        # the text only when someone receives it (most filings leave no e-mail)
        subject, body = (
            _reporter_text(session, report, event, access_code) if email or supporters else ("", "")
        )
        if email:
            _queue(session, report, "email", email, subject, body)
        for supporter in supporters:
            _queue(
                session,
                report,
                "email",
                supporter,
                subject,
                _reporter_text(session, report, event, None)[1],
            )
    if event.kind in OFFICE_KINDS and report.office_id is not None:
        subject = _both(_("New report for your office: {tracking_no}"), tracking_no=report.tracking_no)
        body = "\n".join(
            [
                report.title,
                "",
                report.description,
                "",
                _both(
                    _("Deadline: {due}"),
                    due=labels.local_time(report.due_at, session.get(Region, report.region_id)),
                ),
                report_link(report),
            ]
        )
        for channel in session.scalars(
            select(OfficeChannel).where(
                OfficeChannel.region_id == report.region_id,
                OfficeChannel.office_id == report.office_id,
                OfficeChannel.active.is_(True),
            )
        ):
            if channel.kind == "email":
                _queue(session, report, "email", channel.target, subject, body)
            else:
                _queue(
                    session, report, "webhook", channel.target, "", _payload(report, event), channel.secret
                )
    if event.kind == "escalated":
        subject = _both(_("Deadline passed: report {tracking_no}"), tracking_no=report.tracking_no)
        body = "\n".join([report.title, labels.state_label("id", report), report_link(report)])
        for admin_email in session.scalars(
            select(User.email).where(
                User.region_id == report.region_id, User.role == "region_admin", User.is_active.is_(True)
            )
        ):
            _queue(session, report, "email", admin_email, subject, body)
