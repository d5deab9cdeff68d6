"""Citizen reports: filing, the LAPOR!-SP4N lifecycle with its working-day deadlines, and support.

This module is the sub-domain's one door: its callers (the API, the pages, Open311, the demo, the
deadline worker, the tests and benchmarks) import from here. It holds the report lists itself
(``list_reports`` with its filter and ``COUNT_CAP``, which the lists' callers read from here); the
rest lives in the modules below, each importing only the ones listed before it, none this one:

- ``report_filing``: filing a report (numbered, routed, its verification deadline); the helpers
  the others share.
- ``report_reading``: one report as a principal may see it, its timeline and photos, nearby reports.
- ``report_lifecycle``: the steps (dispose, reject, take up, respond, close, reopen, reassign),
  photos added later, notes, support, bulk disposal, and the deadline worker's side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.citizen import access
from kotacerdas.citizen.models import Report
from kotacerdas.citizen.report_filing import (
    _BUMP as _BUMP,
    _COUNTER as _COUNTER,
    MAX_DESCRIPTION as MAX_DESCRIPTION,
    MAX_TITLE as MAX_TITLE,
    Filed as Filed,
    Photo as Photo,
    _actor as _actor,
    _clip as _clip,
    _next_tracking_no as _next_tracking_no,
    _utc as _utc,
    aware as aware,
    file_report as file_report,
    sha256 as sha256,
)
from kotacerdas.citizen.report_lifecycle import (
    MAX_NOTE as MAX_NOTE,
    _event as _event,
    _is_reporter as _is_reporter,
    _move as _move,
    _note as _note,
    _require_admin as _require_admin,
    _require_office_or_admin as _require_office_or_admin,
    _require_state as _require_state,
    accept_report as accept_report,
    add_note as add_note,
    add_photo as add_photo,
    bulk_dispose as bulk_dispose,
    close_report as close_report,
    dispose_report as dispose_report,
    escalate_overdue as escalate_overdue,
    is_overdue as is_overdue,
    log as log,
    reassign_report as reassign_report,
    reject_report as reject_report,
    reopen_report as reopen_report,
    respond_report as respond_report,
    support_report as support_report,
)
from kotacerdas.citizen.report_reading import (
    get_report as get_report,
    get_report_by_id as get_report_by_id,
    nearby_open as nearby_open,
    open_report as open_report,
    photos_of as photos_of,
    timeline as timeline,
)
from kotacerdas.errors import PermissionDenied, ValidationFailed
from kotacerdas.i18n import Message, _


@dataclass
class ReportFilter:
    state: Sequence[str] = ()
    office_id: int | None = None
    category_ids: Sequence[int] = ()
    area_id: int | None = None
    overdue: bool | None = None
    since: datetime | None = None  # submitted at or after
    until: datetime | None = None  # submitted before
    updated_since: datetime | None = None
    tracking_nos: Sequence[str] = ()
    text: str = ""


COUNT_CAP = 10_000  # lists count their matches up to this many (see list_reports)


def list_reports(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    scope: str = "public",
    filters: ReportFilter | None = None,
    sort: str = "newest",
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
    with_total: bool = True,
) -> tuple[Sequence[Report], int | None]:
    """Reports of one scope: ``public`` (what anyone sees), ``office`` (the principal's office queue),
    ``admin`` (every report, region admin only) or ``mine`` (the logged-in reporter's own).

    The total counts at most ``COUNT_CAP + 1`` matches: a count is a scan of every match, and a
    region's whole list (100,000 reports) would cost more than the page itself. ``COUNT_CAP + 1``
    means "more than ``COUNT_CAP``"."""
    f = filters or ReportFilter()
    now = _utc(now)
    conditions = [Report.region_id == region_id]
    if scope == "admin":
        if not access.is_report_admin(principal, region_id):
            raise PermissionDenied()
    elif scope == "office":
        office = access.office_of(principal, region_id)
        if office is None:
            if not access.is_report_admin(principal, region_id):
                raise PermissionDenied()
            if f.office_id is None:
                raise ValidationFailed(details={"office": Message(_("Choose an office."))})
        else:
            if f.office_id is not None and f.office_id != office:
                raise PermissionDenied(_("This is another office's queue."))
            conditions.append(Report.office_id == office)
    elif scope == "mine":
        if principal.user_id is None:
            raise PermissionDenied()
        conditions.append(Report.reporter_user_id == principal.user_id)
    else:
        conditions += [Report.privacy != "confidential", func.coalesce(Report.reject_reason, "") != "spam"]
    if f.state:
        conditions.append(Report.state.in_(list(f.state)))
    if f.office_id is not None:
        conditions.append(Report.office_id == f.office_id)
    if f.category_ids:
        conditions.append(Report.category_id.in_(list(f.category_ids)))
    if f.area_id is not None:
        conditions.append(Report.area_id == f.area_id)
    if f.overdue is True:
        conditions += [Report.due_at.is_not(None), Report.due_at < now]
    elif f.overdue is False:
        conditions.append((Report.due_at.is_(None)) | (Report.due_at >= now))
    if f.since is not None:
        conditions.append(Report.submitted_at >= f.since)
    if f.until is not None:
        conditions.append(Report.submitted_at < f.until)
    if f.updated_since is not None:
        conditions.append(Report.updated_at >= f.updated_since)
    if f.tracking_nos:
        conditions.append(Report.tracking_no.in_(list(f.tracking_nos)))
    if f.text:
        for word in f.text.lower().split()[:5]:
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conditions.append(
                func.lower(Report.title).like(pattern, escape="\\")
                | func.lower(Report.description).like(pattern, escape="\\")
                | func.lower(Report.tracking_no).like(pattern, escape="\\")
            )
    order = {
        "newest": (Report.submitted_at.desc(), Report.id.desc()),
        "oldest": (Report.submitted_at.asc(), Report.id.asc()),
        "deadline": (Report.due_at.is_(None), Report.due_at.asc(), Report.id.asc()),
        "updated": (Report.updated_at.desc(), Report.id.desc()),
    }.get(sort)
    if order is None:
        raise ValidationFailed(details={"sort": Message(_("Unknown sort order."))})
    rows = session.scalars(
        select(Report).where(*conditions).order_by(*order).limit(limit).offset(offset)
    ).all()
    total = None
    if with_total:
        matches = select(Report.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
        total = session.scalar(select(func.count()).select_from(matches)) or 0
    return rows, total
