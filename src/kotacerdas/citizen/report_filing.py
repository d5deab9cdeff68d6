"""Filing a citizen report: validated, numbered (one counter row per region and year), routed and
given its verification deadline, in the caller's transaction; ``filing`` writes its rows.

Also the small helpers every part of the report service shares (the moment of a step in UTC, the
access-code hash, the timeline's actor columns); it imports none of the other ``report_*``
modules, so the reading, the lifecycle and ``reports`` can all build on it without a cycle.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.citizen import categories, filing, notify
from kotacerdas.citizen.models import (
    PRIVACY,
    Report,
    ReportCounter,
    ReportEvent,
    ReportPhoto,
)
from kotacerdas.citizen.photos import MAX_PHOTOS, clean_photo
from kotacerdas.db import Prepared, after_rollback, direct
from kotacerdas.errors import ValidationFailed
from kotacerdas.i18n import Message, _
from kotacerdas.kit import geo
from kotacerdas.kit.files import FileStore
from kotacerdas.kit.time import utcnow, zone
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region

MAX_TITLE = 200
MAX_DESCRIPTION = 4000  # Open311's limit


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
