"""Regions, areas and offices. Reads are scoped by region; writes belong to the operator or region admin."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Table, bindparam, inspect, select
from sqlalchemy.orm import Session

from kotacerdas.db import Prepared, direct
from kotacerdas.errors import Conflict, NotFound, ValidationFailed
from kotacerdas.framework import service as framework
from kotacerdas.i18n import _
from kotacerdas.kit import geo
from kotacerdas.region.models import AREA_KINDS, OFFICE_KINDS, REGION_KINDS, TIMEZONES, Area, Office, Region

REGION_CODE = re.compile(r"^\d{2}(\.\d{2})?$")  # Kemendagri: province 35, kabupaten/kota 35.09


def create_region(
    session: Session,
    *,
    code: str,
    name: str,
    kind: str,
    province: str,
    timezone: str = "WIB",
    abbreviation: str | None = None,
    boundary: dict[str, Any] | None = None,
    framework_edition: str = framework.DEFAULT_EDITION,
    is_demo: bool = False,
) -> Region:
    if not REGION_CODE.match(code):
        raise ValidationFailed(
            _("A region code is the Kemendagri code, like 35.09."), details=[{"field": "code"}]
        )
    if kind not in REGION_KINDS:
        raise ValidationFailed(_("Kind must be one of {allowed}."), allowed=", ".join(REGION_KINDS))
    if timezone not in TIMEZONES:
        raise ValidationFailed(_("Time zone must be one of {allowed}."), allowed=", ".join(TIMEZONES))
    framework.get_edition(framework_edition)
    if boundary is not None:
        geo.parse_area(boundary)
    if session.scalar(select(Region.id).where(Region.code == code)) is not None:
        raise Conflict(_("Region {code} already exists."), code=code)
    abbr = (
        abbreviation or re.sub(r"[^A-Z]", "", name.upper().replace("KABUPATEN", "").replace("KOTA", ""))[:3]
    )
    region = Region(
        code=code,
        name=name.strip(),
        kind=kind,
        province=province.strip(),
        timezone=timezone,
        abbreviation=abbr.upper()[:6] or "KC",
        boundary=boundary,
        framework_edition=framework_edition,
        is_demo=is_demo,
    )
    session.add(region)
    session.flush()
    return region


def list_regions(session: Session) -> Sequence[Region]:
    return session.scalars(select(Region).order_by(Region.code)).all()


def default_region(session: Session, code: str = "") -> Region:
    """The installation's default region: the one ``code`` (``KOTACERDAS_DEFAULT_REGION``) names, else the
    first region created (a default naming no region falls back rather than failing every visit)."""
    if code:
        found = session.scalar(select(Region).where(Region.code == code))
        if found is not None:
            return found
    first = session.scalar(select(Region).order_by(Region.id).limit(1))
    if first is None:
        raise NotFound(_("No region has been set up yet."))
    return first


def get_region(session: Session, region_id: int) -> Region:
    region = session.get(Region, region_id)
    if region is None:
        raise NotFound(_("Region not found."))
    return region


_REGION_BY_CODE = select(Region).where(Region.code == bindparam("code"))  # built once: most requests


def get_region_by_code(session: Session, code: str) -> Region:
    region = session.scalar(_REGION_BY_CODE, {"code": code})
    if region is None:
        raise NotFound(_("Region {code} not found."), code=code)
    return region


def set_framework_edition(session: Session, *, region_id: int, edition: str) -> Region:
    framework.get_edition(edition)
    region = get_region(session, region_id)
    region.framework_edition = edition
    return region


# Parsed geometries, per process, keyed by the row's id and ``updated_at``: any change to a region's
# boundary or an area's geometry (through the ORM or Core, in any process) stamps a new ``updated_at``,
# so a stale entry is never used, only left behind (and the cache is emptied when it grows past
# ``_SHAPES_MAX``). Parsing a kecamatan polygon costs about a millisecond; a report's filing needs
# the region's box and the kecamatan its point falls in.
_SHAPES_MAX = 20_000
_bboxes: dict[int, tuple[datetime, list[float] | None]] = {}
# each polygon prepared in place (``shapely.prepare``): a point test is then an index lookup
_shapes: dict[int, tuple[datetime | None, BaseGeometry | None]] = {}
_shapes_lock = threading.Lock()


def _remember(cache: dict[int, Any], key: int, value: Any) -> None:
    with _shapes_lock:
        if len(cache) >= _SHAPES_MAX:
            cache.clear()
        cache[key] = value


def region_bbox(region: Region) -> list[float] | None:
    """The bounding box of the region's boundary, if it has a usable one."""
    state = inspect(region)
    cacheable = state.persistent and not state.modified and region.updated_at is not None
    return _cached_bbox(region.id, region.updated_at if cacheable else None, lambda: region.boundary)


_REGION = cast(Table, Region.__table__)
_BOUNDARY = select(_REGION.c.boundary).where(_REGION.c.id == bindparam("region_id"))


def region_bbox_of(session: Session, *, region_id: int, updated_at: datetime | None) -> list[float] | None:
    """``region_bbox`` for a region known by its id and ``updated_at`` (as just read from its row, with
    the session flushed): the boundary is read only when the cache has no box for that stamp."""
    return _cached_bbox(
        region_id, updated_at, lambda: session.connection().scalar(_BOUNDARY, {"region_id": region_id})
    )


def _cached_bbox(
    region_id: int, updated_at: datetime | None, boundary: Callable[[], dict[str, Any] | None]
) -> list[float] | None:
    """The box of the boundary ``boundary()`` reads, from the cache while the region's ``updated_at``
    is the one it was parsed at (no stamp: parsed and not kept)."""
    if updated_at is not None:
        found = _bboxes.get(region_id)
        if found is not None and found[0] == updated_at:
            return list(found[1]) if found[1] is not None else None
    box = _parse_bbox(boundary())
    if updated_at is not None:
        _remember(_bboxes, region_id, (updated_at, box))
    return list(box) if box is not None else None


def _parse_bbox(boundary: dict[str, Any] | None) -> list[float] | None:
    if not boundary:
        return None
    try:
        return list(geo.bbox(geo.parse_area(boundary)))
    except ValidationFailed:
        return None


def update_region(session: Session, *, region_id: int, **fields: Any) -> dict[str, list[Any]]:
    """What the region admin may change: ``framework_edition`` and ``boundary`` (``None`` clears it).

    Returns ``{field: [old, new]}`` of what changed, for the audit log (a boundary as its bounding box).
    """
    region = get_region(session, region_id)
    changes: dict[str, list[Any]] = {}
    if "framework_edition" in fields:
        edition = fields["framework_edition"]
        try:
            framework.get_edition(edition)
        except NotFound as exc:  # a field of the request, not the resource asked for
            raise ValidationFailed(
                exc.message, details=[{"field": "framework_edition"}], **exc.params
            ) from None
        if edition != region.framework_edition:
            changes["framework_edition"] = [region.framework_edition, edition]
            region.framework_edition = edition
    if "boundary" in fields:
        boundary = fields["boundary"]
        new_box = list(geo.bbox(geo.parse_area(boundary))) if boundary is not None else None
        if boundary != region.boundary:
            changes["boundary"] = [region_bbox(region), new_box]
            region.boundary = boundary
    return changes


# ---------------------------------------------------------------- offices


def create_office(
    session: Session,
    *,
    region_id: int,
    name: str,
    short_name: str,
    kind: str = "dinas",
    email: str | None = None,
) -> Office:
    if kind not in OFFICE_KINDS:
        raise ValidationFailed(_("Kind must be one of {allowed}."), allowed=", ".join(OFFICE_KINDS))
    short_name = short_name.strip()
    if not short_name or not name.strip():
        raise ValidationFailed(_("An office needs a name and a short name."))
    if session.scalar(
        select(Office.id).where(Office.region_id == region_id, Office.short_name == short_name)
    ):
        raise Conflict(_("An office named {name} already exists in this region."), name=short_name)
    office = Office(region_id=region_id, name=name.strip(), short_name=short_name, kind=kind, email=email)
    session.add(office)
    session.flush()
    return office


def update_office(session: Session, *, region_id: int, office_id: int, **fields: Any) -> Office:
    office = get_office(session, region_id=region_id, office_id=office_id)
    if "kind" in fields and fields["kind"] not in OFFICE_KINDS:
        raise ValidationFailed(_("Kind must be one of {allowed}."), allowed=", ".join(OFFICE_KINDS))
    new_short = fields.get("short_name")
    if (
        new_short
        and new_short != office.short_name
        and session.scalar(
            select(Office.id).where(Office.region_id == region_id, Office.short_name == new_short)
        )
    ):
        raise Conflict(_("An office named {name} already exists in this region."), name=new_short)
    for key in ("name", "short_name"):
        if key in fields and fields[key] is not None and not str(fields[key]).strip():
            raise ValidationFailed(_("An office needs a name and a short name."), details=[{"field": key}])
    for key in ("name", "short_name", "kind", "email"):
        if key in fields and fields[key] is not None:
            setattr(office, key, fields[key].strip() if key in ("name", "short_name") else fields[key])
    if "email" in fields and fields["email"] is None:  # an explicit None clears the address
        office.email = None
    return office


def list_offices(session: Session, *, region_id: int) -> Sequence[Office]:
    return session.scalars(
        select(Office).where(Office.region_id == region_id).order_by(Office.short_name)
    ).all()


def get_office(session: Session, *, region_id: int, office_id: int) -> Office:
    office = session.scalar(select(Office).where(Office.region_id == region_id, Office.id == office_id))
    if office is None:
        raise NotFound(_("Office not found in this region."))
    return office


def find_office(session: Session, *, region_id: int, short_name: str) -> Office | None:
    return session.scalar(
        select(Office).where(Office.region_id == region_id, Office.short_name == short_name.strip())
    )


# ---------------------------------------------------------------- areas


def create_area(
    session: Session,
    *,
    region_id: int,
    code: str,
    name: str,
    kind: str = "kecamatan",
    geometry: dict[str, Any] | None = None,
    parent_id: int | None = None,
) -> Area:
    if kind not in AREA_KINDS:
        raise ValidationFailed(_("Kind must be one of {allowed}."), allowed=", ".join(AREA_KINDS))
    if session.scalar(select(Area.id).where(Area.region_id == region_id, Area.code == code)):
        raise Conflict(_("Area {code} already exists."), code=code)
    if parent_id is not None:
        get_area(session, region_id=region_id, area_id=parent_id)
    area = Area(region_id=region_id, code=code, name=name.strip(), kind=kind, parent_id=parent_id)
    if geometry is not None:
        area.geometry = geometry
        area.min_lon, area.min_lat, area.max_lon, area.max_lat = geo.bbox(geo.parse_area(geometry))
    session.add(area)
    session.flush()
    return area


def list_areas(session: Session, *, region_id: int, kind: str | None = None) -> Sequence[Area]:
    stmt = select(Area).where(Area.region_id == region_id)
    if kind:
        stmt = stmt.where(Area.kind == kind)
    return session.scalars(stmt.order_by(Area.code)).all()


@dataclass(frozen=True, slots=True)
class AreaChoice:
    """An area as a menu or a filter needs it: without its geometry, which for a real kecamatan
    boundary can run to megabytes (``list_areas`` loads it)."""

    id: int
    code: str
    name: str
    kind: str


def area_choices(session: Session, *, region_id: int, kind: str | None = None) -> list[AreaChoice]:
    """The region's areas (of one kind) ordered by code, as ``list_areas`` without the geometry."""
    stmt = select(Area.id, Area.code, Area.name, Area.kind).where(Area.region_id == region_id)
    if kind:
        stmt = stmt.where(Area.kind == kind)
    return [AreaChoice(*row) for row in session.execute(stmt.order_by(Area.code))]


def area_id_by_code(session: Session, *, region_id: int, code: str) -> int | None:
    """The id of the region's area with this code (without reading its geometry)."""
    return session.scalar(select(Area.id).where(Area.region_id == region_id, Area.code == code))


def get_area(session: Session, *, region_id: int, area_id: int) -> Area:
    area = session.scalar(select(Area).where(Area.region_id == region_id, Area.id == area_id))
    if area is None:
        raise NotFound(_("Area not found in this region."))
    return area


@dataclass(frozen=True)
class AreaPlace:
    """Which area a point falls in: what a report keeps and shows of it."""

    id: int
    code: str
    name: str


_AREA = cast(Table, Area.__table__)
_CANDIDATES = Prepared(
    select(_AREA.c.id, _AREA.c.code, _AREA.c.name, _AREA.c.updated_at)
    .where(
        _AREA.c.region_id == bindparam("region_id"),
        _AREA.c.kind == bindparam("kind"),
        _AREA.c.min_lon <= bindparam("lon"),
        _AREA.c.max_lon >= bindparam("lon"),
        _AREA.c.min_lat <= bindparam("lat"),
        _AREA.c.max_lat >= bindparam("lat"),
    )
    .order_by(_AREA.c.code)
)
_GEOMETRY = Prepared(select(_AREA.c.geometry).where(_AREA.c.id == bindparam("area_id")))


def area_at(
    session: Session, *, region_id: int, lon: float, lat: float, kind: str = "kecamatan"
) -> AreaPlace | None:
    """The area of ``kind`` containing the point: the bounding-box index narrows the candidates, and
    their parsed polygons come from the process's cache while the rows are unchanged."""
    geo.check_point(lon, lat)
    session.flush()  # an area changed in this unit of work counts (Core reads do not autoflush)
    conn = direct(session)  # a prepared statement on each filing (``db.Prepared``)
    params = {"region_id": region_id, "kind": kind, "lon": lon, "lat": lat}
    for area_id, code, name, updated_at in _CANDIDATES.rows(conn, params):
        found = _shapes.get(area_id)
        if found is not None and updated_at is not None and found[0] == updated_at:
            prepared = found[1]
        else:
            geometry = _GEOMETRY.scalar(conn, {"area_id": area_id})
            prepared = shape(geometry) if geometry else None
            if prepared is not None:
                shapely.prepare(prepared)
            _remember(_shapes, area_id, (updated_at, prepared))
        # a point on the border belongs to it; no ``Point`` made for the test (0.01 ms)
        if prepared is not None and shapely.intersects_xy(prepared, lon, lat):
            return AreaPlace(area_id, code, name)
    return None


def find_area_at(
    session: Session, *, region_id: int, lon: float, lat: float, kind: str = "kecamatan"
) -> Area | None:
    """The area of ``kind`` containing the point (``area_at``, as the ORM row)."""
    place = area_at(session, region_id=region_id, lon=lon, lat=lat, kind=kind)
    return session.get(Area, place.id) if place is not None else None
