"""Citizen reports: filing, the LAPOR!-SP4N lifecycle with its working-day deadlines, and support.

Every transition goes through ``_move``: it checks the state it starts from, stamps the times the
figures need, sets the running stage's deadline, writes the timeline event and queues the
notifications, all in the caller's transaction (they are sent after commit by the worker).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.citizen import access, categories, filing, notify
from kotacerdas.citizen.models import (
    CLOSED_STATES,
    OPEN_STATES,
    PRIVACY,
    REJECT_REASONS,
    RESOLUTIONS,
    Report,
    ReportCounter,
    ReportEvent,
    ReportPhoto,
    ReportSupport,
)
from kotacerdas.citizen.photos import MAX_PHOTOS, clean_photo
from kotacerdas.db import Prepared, after_rollback, direct
from kotacerdas.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kotacerdas.i18n import Message, _
from kotacerdas.kit import geo
from kotacerdas.kit.files import FileStore
from kotacerdas.kit.time import utcnow, zone
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region

log = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_DESCRIPTION = 4000  # Open311's limit
MAX_NOTE = 4000


def _utc(now: datetime | None) -> datetime:
    """The moment of a step, in UTC: SQLite keeps wall-clock times without their offset."""
    return (now or utcnow()).astimezone(UTC)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


@dataclass(frozen=True)
class Photo:
    data: bytes
    filename: str = ""


@dataclass(frozen=True)
class Filed:
    written: Report  # the row as written: read it for an answer (not part of the session yet)
    access_code: str  # shown once to the reporter: with the tracking number it opens the report
    # the kecamatan it was routed by (for the answer, without reading it again)
    area: regions.AreaPlace | None = None
    session: Session | None = None

    @property
    def report(self) -> Report:
        """The report as a persistent object of the filing's session (``filing.attach``): to change
        it further in the same unit of work. Attached on first use, which an answer does not need."""
        if self.session is None:
            return self.written
        return filing.attach(self.session, self.written)


def _actor(principal: Principal | None) -> dict[str, object]:
    if principal is None:
        return {"actor_label": "sistem"}
    return {
        "actor_user_id": principal.user_id,
        "actor_api_key_id": principal.api_key_id,
        "actor_label": principal.label[:200],
    }


_COUNTER = cast(Table, ReportCounter.__table__)
_BUMP = Prepared(
    update(_COUNTER)
    .where(_COUNTER.c.region_id == bindparam("counter_region"), _COUNTER.c.year == bindparam("counter_year"))
    .values(last=_COUNTER.c.last + 1)
    .returning(_COUNTER.c.last)
)


def _next_tracking_no(session: Session, region: Region | filing.Place, year: int) -> str:
    """JBR-2026-000123: one counter row per region and year, bumped atomically (UPDATE ... RETURNING:
    the row stays locked to the end of the transaction, so numbers are unique and without gaps across
    processes). The year's first report creates the row (INSERT ... ON CONFLICT DO NOTHING, in case
    another transaction creates it at the same moment) and bumps it again."""
    params = {"counter_region": region.id, "counter_year": year}
    number = _BUMP.scalar(direct(session), params)
    if number is None:
        conn = session.connection()
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(insert(_COUNTER).values(region_id=region.id, year=year, last=0).on_conflict_do_nothing())
        number = _BUMP.scalar(direct(session), params)
        if number is None:
            raise RuntimeError(f"no tracking-number counter for region {region.id} and {year}")
    return f"{region.abbreviation.upper()}-{year}-{number:06d}"


def _clip(text: str, limit: int, field: str, errors: dict[str, str]) -> str:
    text = (text or "").strip()
    if len(text) > limit:
        errors[field] = Message(_("At most {limit} characters."), limit=limit)
    return text


def file_report(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    category_id: int,
    title: str,
    description: str,
    lat: float | None = None,
    lon: float | None = None,
    address: str = "",
    privacy: str = "identified",
    reporter_name: str = "",
    reporter_email: str = "",
    reporter_phone: str = "",
    photos: Sequence[Photo] = (),
    store: FileStore | None = None,
    photo_max_bytes: int = 5 * 1024 * 1024,
    channel: str = "web",
    attributes: dict[str, object] | None = None,
    media_url: str = "",
    now: datetime | None = None,
    target: filing.Target | None = None,
) -> Filed:
    """File a report: validated, numbered, routed (category and kecamatan), with its verification deadline.

    ``target``: the region and category as the caller has just read them (``filing.find_by_codes``,
    ``filing.places``, ``filing.find_offered``); else they are read by ``region_id`` and ``category_id``."""
    now = _utc(now)
    if target is None or target.region.id != region_id or target.category.id != category_id:
        target = filing.find_by_ids(session, region_id=region_id, category_id=category_id)
    region, category = target.region, target.category
    errors: dict[str, str] = {}
    if not category.active:
        errors["category"] = Message(_("This category no longer takes reports."))
    title = _clip(title, MAX_TITLE, "title", errors)
    description = _clip(description, MAX_DESCRIPTION, "description", errors)
    address = _clip(address, 300, "address", errors)
    if not description:
        errors["description"] = Message(_("Describe the problem."))
    if not title:
        title = description[:80].split("\n", 1)[0]
    if privacy not in PRIVACY:
        errors["privacy"] = Message(_("Choose identified, anonymous or confidential."))
    if category.is_private:
        privacy = "confidential"
    if (lat is None) != (lon is None):
        errors["location"] = Message(_("Give both latitude and longitude."))
    area = None
    if lat is not None and lon is not None:
        try:
            geo.check_point(lon, lat)
        except ValidationFailed:
            errors["location"] = Message(_("The location is not a valid point."))
        else:
            bbox = regions.region_bbox_of(session, region_id=region.id, updated_at=region.updated_at)
            if bbox is not None and not (
                bbox[0] - 0.05 <= lon <= bbox[2] + 0.05 and bbox[1] - 0.05 <= lat <= bbox[3] + 0.05
            ):
                errors["location"] = Message(_("The point is outside {region}."), region=region.name)
            else:
                area = regions.area_at(session, region_id=region_id, lon=lon, lat=lat)
    elif not address and "location" not in errors:
        errors["location"] = Message(_("Give the location: a point on the map or an address."))
    area_id = area.id if area else None
    if len(photos) > MAX_PHOTOS:
        errors["photos"] = Message(_("At most {n} photos."), n=MAX_PHOTOS)
    reporter_email = reporter_email.strip().lower()
    if reporter_email and ("@" not in reporter_email or len(reporter_email) > 200):
        errors["email"] = Message(_("Enter a valid e-mail address."))
    reporter_name = _clip(reporter_name, 120, "name", errors)
    reporter_phone = _clip(reporter_phone, 40, "phone", errors)
    if media_url and not media_url.startswith(("http://", "https://")):
        errors["media_url"] = Message(_("The media URL must start with http:// or https://."))
    if errors:
        raise ValidationFailed(details=errors)
    cleaned = [clean_photo(p.data, max_bytes=photo_max_bytes) for p in photos]

    local_year = now.astimezone(zone(region.timezone)).year
    calendar = categories.calendar_for(session, region_id=region_id)
    code = secrets.token_urlsafe(9)
    user_id = principal.user_id if principal.kind == "user" else None
    verify_due_at = calendar.deadline(now, category.verify_days, region.timezone)
    suggested_office_id = categories.office_for(
        session, category_id=category.id, default_office_id=category.office_id, area_id=area_id
    )
    report = filing.insert_report(
        session,
        {
            "region_id": region_id,
            # last before the rows: on PostgreSQL the counter's row stays locked until the commit
            "tracking_no": _next_tracking_no(session, region, local_year),
            "category_id": category.id,
            "suggested_office_id": suggested_office_id,
            "area_id": area_id,
            "title": title,
            "description": description,
            "lat": lat,
            "lon": lon,
            "address": address,
            "privacy": privacy,
            "reporter_user_id": user_id,
            "reporter_name": reporter_name,
            "reporter_email": reporter_email,
            "reporter_phone": reporter_phone,
            "access_code_hash": sha256(code),
            "channel": channel,
            "state": "submitted",
            "submitted_at": now,
            "updated_at": now,
            "verify_due_at": verify_due_at,
            "due_at": verify_due_at,
            "attributes": dict(attributes or {}),
            "media_url": media_url,
            "open311_token": secrets.token_hex(16) if category.open311_type == "batch" else None,
        },
    )
    if cleaned:
        if store is None:
            raise ValidationFailed(details={"photos": Message(_("Photos cannot be stored here."))})
        for position, photo in enumerate(cleaned, start=1):
            key = store.save(photo.data, suffix=photo.suffix)
            after_rollback(session, lambda key=key: store.delete(key))  # type: ignore[misc]
            session.add(
                ReportPhoto(
                    region_id=region_id,
                    report_id=report.id,
                    file_key=key,
                    content_type=photo.content_type,
                    width=photo.width,
                    height=photo.height,
                    size_bytes=len(photo.data),
                    position=position,
                )
            )
    event = {
        "region_id": region_id,
        "report_id": report.id,
        "at": now,
        "kind": "submitted",
        "from_state": None,
        "to_state": "submitted",
        "office_id": None,
        "note": "",
        "public": True,
        **_actor(principal if user_id else None),
    }
    filing.insert_event(session, event)
    # a new report's step is told to its reporter alone (supporters and offices come later): without
    # an address (the e-mail given or the account's) nothing would be queued, and most filings give none
    if reporter_email or user_id is not None:
        notify.queue_report_event(session, report=report, event=ReportEvent(**event), access_code=code)
    return Filed(report, code, area, session)


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


# ---------------------------------------------------------------- reading


def get_report(session: Session, *, region_id: int, tracking_no: str) -> Report:
    row = session.scalar(
        select(Report).where(Report.region_id == region_id, Report.tracking_no == tracking_no)
    )
    if row is None:
        raise NotFound(_("Report not found."))
    return row


def get_report_by_id(session: Session, *, report_id: int) -> Report:
    row = session.get(Report, report_id)
    if row is None:
        raise NotFound(_("Report not found."))
    return row


def open_report(
    session: Session, *, principal: Principal, region_id: int, tracking_no: str, code: str | None = None
) -> tuple[Report, access.Role]:
    """The report and how the principal sees it; hidden reports are "not found", as if absent."""
    report = get_report(session, region_id=region_id, tracking_no=tracking_no)
    has_code = bool(code) and secrets.compare_digest(sha256(code or ""), report.access_code_hash)
    role = access.role_for(principal, report, has_code=has_code)
    if role is None:
        raise NotFound(_("Report not found."))
    return report, role


def timeline(session: Session, *, report: Report, role: access.Role) -> Sequence[ReportEvent]:
    stmt = select(ReportEvent).where(ReportEvent.report_id == report.id)
    if role in ("public", "reporter"):
        stmt = stmt.where(ReportEvent.public.is_(True))
    return session.scalars(stmt.order_by(ReportEvent.at, ReportEvent.id)).all()


def photos_of(session: Session, *, report: Report) -> Sequence[ReportPhoto]:
    return session.scalars(
        select(ReportPhoto).where(ReportPhoto.report_id == report.id).order_by(ReportPhoto.position)
    ).all()


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


def nearby_open(
    session: Session,
    *,
    region_id: int,
    category_id: int,
    lat: float,
    lon: float,
    radius_m: float | None = None,
) -> list[tuple[Report, float]]:
    """Open, public reports of the category within the category's duplicate radius, nearest first."""
    category = categories.get_category(session, region_id=region_id, category_id=category_id)
    radius = float(radius_m if radius_m is not None else category.duplicate_radius_m)
    dlat, dlon = geo.degree_box(lat, radius)
    rows = session.scalars(
        select(Report).where(
            Report.region_id == region_id,
            Report.category_id == category_id,
            Report.lat.between(lat - dlat, lat + dlat),
            Report.lon.between(lon - dlon, lon + dlon),
            Report.state.in_(OPEN_STATES),
            Report.privacy != "confidential",
        )
    ).all()
    found = []
    for row in rows:
        distance = geo.haversine_m(lat, lon, row.lat or 0.0, row.lon or 0.0)
        if distance <= radius:
            found.append((row, distance))
    return sorted(found, key=lambda pair: pair[1])[:10]


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
