"""What a person reads about a report's state, reason and deadline, in their language."""

from __future__ import annotations

from datetime import datetime

from kotacerdas.citizen.models import Report
from kotacerdas.i18n import _, gettext
from kotacerdas.kit.time import to_local
from kotacerdas.region.models import Region

STATE_LABELS = {
    "submitted": _("Waiting for verification"),
    "disposed": _("Disposed to the office"),
    "in_progress": _("In progress"),
    "responded": _("Responded"),
    "closed": _("Closed report"),
    "rejected": _("Rejected"),
}
RESOLUTION_LABELS = {
    "resolved": _("Resolved"),
    "unresolved": _("Not resolved"),
    "no_answer": _("No answer from the reporter"),
}
REJECT_LABELS = {
    "not_authority": _("Not the authority of this government"),
    "duplicate": _("Duplicate report"),
    "spam": _("Spam"),
}
PRIVACY_LABELS = {
    "identified": _("Identified"),
    "anonymous": _("Anonymous (your identity is hidden from the office and the public)"),
    "confidential": _("Confidential (the report is not shown to the public)"),
}
EVENT_LABELS = {
    "submitted": _("Report submitted"),
    "disposed": _("Verified and disposed"),
    "rejected": _("Rejected"),
    "accepted": _("Taken up by the office"),
    "responded": _("Follow-up from the office"),
    "closed": _("Closed report"),
    "reopened": _("Reopened"),
    "reassigned": _("Reassigned to another office"),
    "escalated": _("Deadline passed: escalated to the region admin"),
    "note": _("Note"),
}
STAGE_LABELS = {
    "verify": _("verification"),
    "respond": _("office follow-up"),
    "close": _("reporter's answer"),
}


def state_label(lang: str, report: Report) -> str:
    label = gettext(lang, STATE_LABELS[report.state])
    if report.state == "closed" and report.resolution:
        label += " (" + gettext(lang, RESOLUTION_LABELS[report.resolution]) + ")"
    if report.state == "rejected" and report.reject_reason:
        label += " (" + gettext(lang, REJECT_LABELS[report.reject_reason]) + ")"
    return label


def local_time(moment: datetime | None, region: Region | None) -> str:
    if moment is None:
        return "-"
    zone_name = region.timezone if region is not None else "WIB"
    return to_local(moment, zone_name).strftime("%Y-%m-%d %H:%M ") + zone_name
