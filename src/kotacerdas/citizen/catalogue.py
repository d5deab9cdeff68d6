"""The public-service catalogue (Mal Pelayanan Publik): what each office serves, what to bring, what
it costs, how many working days it takes, where and when.

Reading is public. Writing belongs to the region admin (any office), an office's operator (the own
office's services only) and API keys granted ``catalogue:write`` (only the key's office, if it has one).

Deleting a service *withdraws* it (``active = False``) instead of removing the row: the code stays
taken, links and the audit log keep pointing at something, and ``PATCH {"active": true}`` brings it
back. Withdrawn services are shown only to those who may change the catalogue.

"Open now" reads the weekly opening hours in the region's own time zone (WIB, WITA, WIT) and counts
national public holidays and the region's own days off (``RegionDayOff``) as closed; cuti bersama
days are not counted, since the desks of a Mal Pelayanan Publik usually stay open on them.
"""

from __future__ import annotations

import json
from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import Principal, require_login, require_office_write
from kotacerdas.citizen.catalogue_schemas import (
    CHANNELS,
    OfficeRef,
    PublicServiceCreate,
    PublicServiceRead,
    PublicServiceUpdate,
)
from kotacerdas.citizen.models import PublicService, RegionDayOff
from kotacerdas.errors import Conflict, KotaCerdasError, NotFound, PermissionDenied, ValidationFailed
from kotacerdas.i18n import _
from kotacerdas.kit.time import to_local, utcnow, zone
from kotacerdas.kit.workdays import national_holidays
from kotacerdas.region import service as regions
from kotacerdas.region.models import Office, Region

WRITE = "catalogue:write"
MAX_LIMIT = 200
MAX_WORDS = 10  # search words taken from a query; more add nothing but SQL
NEXT_OPENING_HORIZON = 45  # days looked ahead for the next opening (covers the Lebaran holidays)
DEMO_DATA = Path(__file__).parent / "demo_data"
# the columns a write may set (``office`` is given by short name and stored as ``office_id``)
FIELDS = (
    "code",
    "name",
    "name_en",
    "description",
    "requirements",
    "procedure",
    "fee_rp",
    "fee_note",
    "duration_days",
    "location_name",
    "address",
    "lat",
    "lon",
    "opening_hours",
    "channels",
    "online_url",
    "legal_basis",
    "keywords",
    "active",
)


# ---------------------------------------------------------------- who may write


def can_write_catalogue(principal: Principal, region_id: int) -> bool:
    """Whether the caller may change some of the region's services (and so see withdrawn ones)."""
    if not principal.is_authenticated or principal.region_id != region_id:
        return False
    if principal.kind == "api_key":
        return WRITE in principal.permissions
    return principal.is_region_admin or (principal.is_office_operator and principal.office_id is not None)


def require_catalogue_writer(principal: Principal, region_id: int) -> None:
    require_login(principal)
    if not can_write_catalogue(principal, region_id):
        raise PermissionDenied(
            _("Only the region admin and the offices' operators may change the service catalogue.")
        )


def may_write_service(principal: Principal, region_id: int, office_id: int) -> bool:
    """The region admin for any office; an operator or an office's key for its own office only."""
    try:
        require_office_write(principal, region_id, office_id, permission=WRITE)
    except KotaCerdasError:
        return False
    return True


def _require_office(principal: Principal, region_id: int, office_id: int) -> None:
    if not may_write_service(principal, region_id, office_id):
        raise PermissionDenied(
            _("Only the office that provides this service or the region admin may change it.")
        )


# ---------------------------------------------------------------- opening hours


@dataclass(frozen=True)
class ClosedDays:
    """Days the desks are closed whatever their weekly hours say: national public holidays (without
    cuti bersama) and the region's own days off."""

    extra: frozenset[date] = frozenset()
    national: bool = True

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        return day in self.extra or (self.national and day in national_holidays(day.year, False))


def closed_days(session: Session, *, region_id: int) -> ClosedDays:
    rows = session.scalars(select(RegionDayOff.day).where(RegionDayOff.region_id == region_id)).all()
    return ClosedDays(extra=frozenset(rows))


def parse_clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def day_windows(opening_hours: Sequence[dict[str, Any]], weekday: int) -> list[tuple[time, time]]:
    """The opening windows of one weekday (Monday = 0), earliest first. Stored rows that cannot be
    read are skipped rather than failing a page: they were validated when written."""
    out = []
    for window in opening_hours or []:
        try:
            if weekday not in window["days"]:
                continue
            opens, closes = parse_clock(window["opens"]), parse_clock(window["closes"])
        except (KeyError, TypeError, ValueError):
            continue
        if opens < closes:
            out.append((opens, closes))
    return sorted(out)


def week_hours(opening_hours: Sequence[dict[str, Any]]) -> list[list[tuple[str, str]]]:
    """Per weekday (Monday first), its windows as ``("08:00", "15:00")`` pairs: the hours table."""
    return [
        [(o.strftime("%H:%M"), c.strftime("%H:%M")) for o, c in day_windows(opening_hours, weekday)]
        for weekday in range(7)
    ]


def open_window(
    service: PublicService, at: datetime, zone_name: str, closed: Container[date] = ClosedDays()
) -> tuple[datetime, datetime] | None:
    """The window (local start, local end) the service is open in at ``at``, if it is open."""
    local = to_local(at, zone_name)
    if local.date() in closed:
        return None
    now = local.time()
    for opens, closes in day_windows(service.opening_hours, local.weekday()):
        if opens <= now < closes:
            return (
                datetime.combine(local.date(), opens, tzinfo=local.tzinfo),
                datetime.combine(local.date(), closes, tzinfo=local.tzinfo),
            )
    return None


def is_open(
    service: PublicService, at: datetime, zone_name: str, closed: Container[date] = ClosedDays()
) -> bool:
    """Open at ``at`` (aware, or naive UTC) by the weekly hours in the zone ``WIB``/``WITA``/``WIT``."""
    return open_window(service, at, zone_name, closed) is not None


def next_opening(
    service: PublicService, at: datetime, zone_name: str, closed: Container[date] = ClosedDays()
) -> datetime | None:
    """The next time after ``at`` a window opens, in the region's zone; None without opening hours
    (or none in the next weeks). While open, that is the window after the current one."""
    local = to_local(at, zone_name)
    for ahead in range(NEXT_OPENING_HORIZON + 1):
        day = local.date() + timedelta(days=ahead)
        if day in closed:
            continue
        for opens, _closes in day_windows(service.opening_hours, day.weekday()):
            start = datetime.combine(day, opens, tzinfo=zone(zone_name))
            if start > local:
                return start
    return None


# ---------------------------------------------------------------- reading


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: Any, needle: str) -> ColumnElement[bool]:
    """Case-insensitive ``LIKE '%needle%'`` on both SQLite and PostgreSQL (``needle`` is lower case)."""
    return func.lower(column).like(f"%{_escape_like(needle)}%", escape="\\")


def _word_matches(word: str) -> ColumnElement[bool]:
    # a JSON list is stored as its JSON text, where a quote or a non-ASCII letter is escaped:
    # look for the word written the same way
    in_json = json.dumps(word)[1:-1]
    return or_(
        _contains(PublicService.code, word),
        _contains(PublicService.name, word),
        _contains(PublicService.name_en, word),
        _contains(PublicService.description, word),
        _contains(PublicService.keywords, word),
        _contains(cast(PublicService.requirements, Text), in_json),
        _contains(Office.name, word),
        _contains(Office.short_name, word),
    )


def search_words(q: str | None) -> list[str]:
    return [word.lower() for word in (q or "").split()][:MAX_WORDS]


def list_services(
    session: Session,
    *,
    region_id: int,
    q: str | None = None,
    office_id: int | None = None,
    channel: str | None = None,
    open_at: datetime | None = None,
    include_inactive: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[PublicService], int]:
    """One page of the region's services by name, and how many match in all.

    ``q``: every word must occur (case-insensitive) in the name, English name, description, keywords,
    requirements, code or the office's name. ``open_at``: only services open at that moment; the
    weekly hours are JSON, so that filter runs here over the region's matching services (a catalogue
    holds hundreds of services, not millions).
    """
    if channel is not None and channel not in CHANNELS:
        raise ValidationFailed(
            _("Channel must be one of {allowed}."),
            allowed=", ".join(CHANNELS),
            details=[{"field": "channel"}],
        )
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    stmt = (
        select(PublicService)
        .join(Office, Office.id == PublicService.office_id)
        .where(PublicService.region_id == region_id)
    )
    if not include_inactive:
        stmt = stmt.where(PublicService.active.is_(True))
    if office_id is not None:
        stmt = stmt.where(PublicService.office_id == office_id)
    if channel is not None:
        stmt = stmt.where(cast(PublicService.channels, Text).like(f'%"{channel}"%'))
    for word in search_words(q):
        stmt = stmt.where(_word_matches(word))
    ordered = stmt.order_by(func.lower(PublicService.name), PublicService.id)
    if open_at is not None:
        region = regions.get_region(session, region_id)
        closed = closed_days(session, region_id=region_id)
        found = [s for s in session.scalars(ordered).all() if is_open(s, open_at, region.timezone, closed)]
        return found[offset : offset + limit], len(found)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(session.scalars(ordered.limit(limit).offset(offset)).all())
    return rows, total


def get_service(
    session: Session, *, region_id: int, code: str, include_inactive: bool = False
) -> PublicService:
    found = session.scalar(
        select(PublicService).where(PublicService.region_id == region_id, PublicService.code == code)
    )
    if found is None or (not found.active and not include_inactive):
        raise NotFound(_("Service {code} not found."), code=code[:40])
    return found


def offices_with_services(session: Session, *, region_id: int) -> list[Office]:
    """The offices that have an active service: the choices of the public office filter."""
    used = select(PublicService.office_id).where(
        PublicService.region_id == region_id, PublicService.active.is_(True)
    )
    return list(
        session.scalars(
            select(Office)
            .where(Office.region_id == region_id, Office.id.in_(used))
            .order_by(Office.short_name)
        ).all()
    )


def find_office(session: Session, *, region_id: int, short_name: str) -> Office | None:
    """The office by short name, exactly or else ignoring case (``dishub`` finds Dishub)."""
    office = regions.find_office(session, region_id=region_id, short_name=short_name)
    if office is None:
        office = session.scalar(
            select(Office)
            .where(Office.region_id == region_id, func.lower(Office.short_name) == short_name.strip().lower())
            .order_by(Office.id)
            .limit(1)
        )
    return office


def service_reads(
    session: Session, *, region: Region, services: Sequence[PublicService], at: datetime | None = None
) -> list[PublicServiceRead]:
    """Read models with the office and the opening state at ``at`` (default: now); offices and the
    region's days off are read once for the whole list."""
    at = at or utcnow()
    offices = {o.id: o for o in regions.list_offices(session, region_id=region.id)}
    closed = closed_days(session, region_id=region.id)
    out = []
    for svc in services:
        office = offices[svc.office_id]
        out.append(
            PublicServiceRead.model_validate(
                {
                    **{name: getattr(svc, name) for name in FIELDS},
                    "updated_at": svc.updated_at,
                    "office": OfficeRef.model_validate(office),
                    "open_now": is_open(svc, at, region.timezone, closed),
                    "next_opening": next_opening(svc, at, region.timezone, closed),
                }
            )
        )
    return out


# ---------------------------------------------------------------- writing


def _office_field(session: Session, *, region_id: int, short_name: str) -> Office:
    office = find_office(session, region_id=region_id, short_name=short_name)
    if office is None:
        raise ValidationFailed(
            _("There is no office {office} in this region."),
            office=short_name[:40],
            details=[{"field": "office"}],
        )
    return office


def check_fields(fields: dict[str, Any]) -> None:
    """What only the whole service can say: a position needs both coordinates, an online service
    its address."""
    if (fields.get("lat") is None) != (fields.get("lon") is None):
        raise ValidationFailed(
            _("Give both latitude and longitude, or neither."),
            details=[{"field": "lat"}, {"field": "lon"}],
        )
    if "online" in (fields.get("channels") or []) and not fields.get("online_url"):
        raise ValidationFailed(
            _("A service offered online needs the web address where it is done."),
            details=[{"field": "online_url"}],
        )


def _code_taken(code: str) -> Conflict:
    return Conflict(
        _("A service with the code {code} already exists in this region (it may be withdrawn)."),
        code=code,
        details=[{"field": "code"}],
    )


def _flush(session: Session, *, service: PublicService, new: bool) -> None:
    """Flush in a savepoint: a code taken at the same moment by another request is a 409, not a 500.
    A refused new service leaves the session; a refused change is forgotten (the row is read again)."""
    code = service.code
    try:
        with session.begin_nested():
            if new:
                session.add(service)
            session.flush()
    except IntegrityError:
        if not new:
            session.expire(service)
        raise _code_taken(code) from None


def _free_code(session: Session, *, region_id: int, code: str, service_id: int | None = None) -> None:
    stmt = select(PublicService.id).where(PublicService.region_id == region_id, PublicService.code == code)
    if service_id is not None:
        stmt = stmt.where(PublicService.id != service_id)
    if session.scalar(stmt) is not None:
        raise _code_taken(code)


def _jsonable(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool, list, dict)) else str(value)


def create_service(
    session: Session, *, principal: Principal, region_id: int, data: PublicServiceCreate
) -> PublicService:
    require_catalogue_writer(principal, region_id)
    values = data.model_dump()
    office = _office_field(session, region_id=region_id, short_name=values.pop("office"))
    _require_office(principal, region_id, office.id)
    check_fields(values)
    _free_code(session, region_id=region_id, code=values["code"])
    service = PublicService(region_id=region_id, office_id=office.id, **values)
    _flush(session, service=service, new=True)
    auth.record_audit(
        session,
        actor=principal,
        region_id=region_id,
        action="public_service.create",
        entity_type="public_service",
        entity_id=service.id,
        summary=f"{service.code}: {service.name} ({office.short_name})",
        changes={
            key: [None, _jsonable(value)] for key, value in values.items() if value not in ("", [], None)
        },
    )
    return service


def update_service(
    session: Session, *, principal: Principal, region_id: int, code: str, data: PublicServiceUpdate
) -> PublicService:
    """Fields left out keep their value. Moving a service to another office needs the right to write
    for both offices."""
    require_catalogue_writer(principal, region_id)
    service = get_service(session, region_id=region_id, code=code, include_inactive=True)
    _require_office(principal, region_id, service.office_id)
    fields = data.model_dump(exclude_unset=True)
    # everything is checked before anything changes: a refused update leaves the service as it was
    if "office" in fields:
        office = _office_field(session, region_id=region_id, short_name=fields.pop("office"))
        if office.id != service.office_id:
            _require_office(principal, region_id, office.id)
            fields["office_id"] = office.id
    check_fields({**{name: getattr(service, name) for name in FIELDS}, **fields})
    if "code" in fields and fields["code"] != service.code:
        _free_code(session, region_id=region_id, code=fields["code"], service_id=service.id)
    changes: dict[str, list[Any]] = {}
    for key, value in fields.items():
        old = getattr(service, key)
        if old != value:
            changes[key] = [_jsonable(old), _jsonable(value)]
            setattr(service, key, value)
    if changes:
        _flush(session, service=service, new=False)
        auth.record_audit(
            session,
            actor=principal,
            region_id=region_id,
            action="public_service.update",
            entity_type="public_service",
            entity_id=service.id,
            summary=f"{service.code}: {', '.join(changes)}",
            changes=changes,
        )
    return service


def delete_service(session: Session, *, principal: Principal, region_id: int, code: str) -> PublicService:
    """Withdraw the service (``active = False``); withdrawing a withdrawn service changes nothing."""
    require_catalogue_writer(principal, region_id)
    service = get_service(session, region_id=region_id, code=code, include_inactive=True)
    _require_office(principal, region_id, service.office_id)
    if service.active:
        service.active = False
        session.flush()
        auth.record_audit(
            session,
            actor=principal,
            region_id=region_id,
            action="public_service.delete",
            entity_type="public_service",
            entity_id=service.id,
            summary=f"{service.code}: {service.name}",
            changes={"active": [True, False]},
        )
    return service


# ---------------------------------------------------------------- demo


def demo_catalogue_file(region_code: str) -> Path:
    return DEMO_DATA / f"catalogue-{region_code}.json"


def load_demo_catalogue(session: Session, *, region_id: int, office_ids: dict[str, int]) -> int:
    """Load the demo catalogue of the region (``demo_data/catalogue-<code>.json``), if there is one;
    returns how many services were added. ``office_ids`` maps the offices' short names to their ids;
    a service of an office not in it is a fault of the demo data (ValueError). Every entry passes
    ``PublicServiceCreate``, like a write through the API."""
    region = regions.get_region(session, region_id)
    path = demo_catalogue_file(region.code)
    if not path.exists():
        return 0
    doc = json.loads(path.read_text(encoding="utf-8"))
    locations: dict[str, dict[str, Any]] = doc.get("locations", {})
    rows = []
    for raw in doc["services"]:
        entry = dict(raw)
        where = entry.pop("location", None)
        if where is not None:
            entry = {**locations[where], **entry}
        data = PublicServiceCreate.model_validate(entry)
        values = data.model_dump()
        short_name = values.pop("office")
        if short_name not in office_ids:
            raise ValueError(f"{path.name}: service {data.code}: unknown office {short_name!r}")
        check_fields(values)
        rows.append(PublicService(region_id=region_id, office_id=office_ids[short_name], **values))
    session.add_all(rows)  # all or nothing: a fault in the file adds no service
    session.flush()
    count = len(rows)
    auth.record_audit(
        session,
        actor=None,
        region_id=region_id,
        action="public_service.import",
        entity_type="public_service",
        entity_id=path.name,
        summary=f"{count} demo services",
    )
    return count
