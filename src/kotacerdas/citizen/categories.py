"""Report categories, their routing to offices (per kecamatan when it differs) and the region's extra
days off, which together decide where a report goes and when each of its deadlines falls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import Principal, require_region_admin
from kotacerdas.citizen.models import CategoryRoute, RegionDayOff, ReportCategory
from kotacerdas.db import Prepared, direct
from kotacerdas.errors import Conflict, NotFound, ValidationFailed
from kotacerdas.i18n import _
from kotacerdas.kit.workdays import WorkCalendar
from kotacerdas.region import service as regions

CATEGORY_FIELDS = (
    "name",
    "name_en",
    "description",
    "group",
    "keywords",
    "office_id",
    "verify_days",
    "respond_days",
    "close_days",
    "duplicate_radius_m",
    "is_private",
    "open311_type",
    "attributes",
    "active",
)
ATTRIBUTE_TYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")


def list_categories(
    session: Session, *, region_id: int, include_inactive: bool = False
) -> Sequence[ReportCategory]:
    stmt = select(ReportCategory).where(ReportCategory.region_id == region_id)
    if not include_inactive:
        stmt = stmt.where(ReportCategory.active.is_(True))
    return session.scalars(stmt.order_by(ReportCategory.group, ReportCategory.name)).all()


def get_category(session: Session, *, region_id: int, category_id: int) -> ReportCategory:
    row = session.get(ReportCategory, category_id)
    if row is None or row.region_id != region_id:
        raise NotFound(_("Report category not found."))
    return row


_CATEGORY_BY_CODE = select(ReportCategory).where(
    ReportCategory.region_id == bindparam("region_id"), ReportCategory.code == bindparam("code")
)  # built once: Open311's filing looks a category up on every request


def get_category_by_code(session: Session, *, region_id: int, code: str) -> ReportCategory:
    row = session.scalar(_CATEGORY_BY_CODE, {"region_id": region_id, "code": code})
    if row is None:
        raise NotFound(_("Report category not found."))
    return row


def check_attributes(attributes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open311 service-definition attributes: a code, a known datatype, list values for list types."""
    seen: set[str] = set()
    out = []
    for n, raw in enumerate(attributes, start=1):
        code = str(raw.get("code", "")).strip()
        datatype = raw.get("datatype")
        if not code or code in seen:
            raise ValidationFailed(_("Attribute {n} needs a unique code."), n=n)
        if datatype not in ATTRIBUTE_TYPES:
            raise ValidationFailed(_("Attribute {code} has an unknown datatype."), code=code)
        values = raw.get("values") or []
        if datatype.endswith("valuelist") and not values:
            raise ValidationFailed(_("Attribute {code} needs a list of values."), code=code)
        seen.add(code)
        out.append(
            {
                "code": code,
                "datatype": datatype,
                "required": bool(raw.get("required", False)),
                "variable": bool(raw.get("variable", True)),
                "order": int(raw.get("order") or n),
                "description": str(raw.get("description", "")),
                "datatype_description": str(raw.get("datatype_description", "")),
                "values": [{"key": str(v["key"]), "name": str(v.get("name", v["key"]))} for v in values],
            }
        )
    return out


def _check_office(session: Session, region_id: int, office_id: int | None) -> None:
    if office_id is not None:
        regions.get_office(session, region_id=region_id, office_id=office_id)


def create_category(
    session: Session, *, principal: Principal, region_id: int, code: str, name: str, **fields: Any
) -> ReportCategory:
    require_region_admin(principal, region_id, permission="reports:manage")
    if session.scalar(
        select(ReportCategory.id).where(ReportCategory.region_id == region_id, ReportCategory.code == code)
    ):
        raise Conflict(_("A category with this code already exists."))
    _check_office(session, region_id, fields.get("office_id"))
    if "attributes" in fields:
        fields["attributes"] = check_attributes(fields["attributes"] or [])
    row = ReportCategory(
        region_id=region_id, code=code, name=name, **{k: v for k, v in fields.items() if k in CATEGORY_FIELDS}
    )
    session.add(row)
    session.flush()
    auth.record_audit(
        session,
        actor=principal,
        region_id=region_id,
        action="report_category.create",
        entity_type="report_category",
        entity_id=str(row.id),
        summary=name,
    )
    return row


def update_category(
    session: Session, *, principal: Principal, region_id: int, category_id: int, **fields: Any
) -> ReportCategory:
    require_region_admin(principal, region_id, permission="reports:manage")
    row = get_category(session, region_id=region_id, category_id=category_id)
    if "office_id" in fields:
        _check_office(session, region_id, fields["office_id"])
    if "attributes" in fields:
        fields["attributes"] = check_attributes(fields["attributes"] or [])
    changes: dict[str, Any] = {}
    for key, value in fields.items():
        if key in CATEGORY_FIELDS and getattr(row, key) != value:
            changes[key] = [getattr(row, key), value]
            setattr(row, key, value)
    if changes:
        session.flush()
        auth.record_audit(
            session,
            actor=principal,
            region_id=region_id,
            action="report_category.update",
            entity_type="report_category",
            entity_id=str(row.id),
            summary=row.name,
            changes={k: v for k, v in changes.items() if k != "attributes"},
        )
    return row


def set_route(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    category_id: int,
    area_id: int,
    office_id: int | None,
) -> None:
    """Route the category to ``office_id`` inside the area (None: back to the category's default)."""
    require_region_admin(principal, region_id, permission="reports:manage")
    get_category(session, region_id=region_id, category_id=category_id)
    regions.get_area(session, region_id=region_id, area_id=area_id)
    session.execute(
        delete(CategoryRoute).where(
            CategoryRoute.category_id == category_id, CategoryRoute.area_id == area_id
        )
    )
    if office_id is not None:
        _check_office(session, region_id, office_id)
        session.add(
            CategoryRoute(region_id=region_id, category_id=category_id, area_id=area_id, office_id=office_id)
        )
    session.flush()


def list_routes(session: Session, *, region_id: int, category_id: int) -> Sequence[CategoryRoute]:
    return session.scalars(
        select(CategoryRoute).where(
            CategoryRoute.region_id == region_id, CategoryRoute.category_id == category_id
        )
    ).all()


_ROUTE = cast(Table, CategoryRoute.__table__)
_ROUTED_OFFICE = Prepared(  # run on every filing (``db.Prepared``)
    select(_ROUTE.c.office_id).where(
        _ROUTE.c.category_id == bindparam("category_id"), _ROUTE.c.area_id == bindparam("area_id")
    )
)


def office_for(
    session: Session, *, category_id: int, default_office_id: int | None, area_id: int | None
) -> int | None:
    """Which office a report of the category in the area goes to (its route there, else its default)."""
    if area_id is not None:
        session.flush()  # a route set in this unit of work counts (Core reads do not autoflush)
        routed = _ROUTED_OFFICE.scalar(direct(session), {"category_id": category_id, "area_id": area_id})
        if routed is not None:
            return int(routed)
    return default_office_id


# ---------------------------------------------------------------- days off


def list_days_off(session: Session, *, region_id: int, year: int | None = None) -> Sequence[RegionDayOff]:
    stmt = select(RegionDayOff).where(RegionDayOff.region_id == region_id)
    if year is not None:
        stmt = stmt.where(RegionDayOff.day >= date(year, 1, 1), RegionDayOff.day <= date(year, 12, 31))
    return session.scalars(stmt.order_by(RegionDayOff.day)).all()


def add_day_off(
    session: Session, *, principal: Principal, region_id: int, day: date, name: str
) -> RegionDayOff:
    require_region_admin(principal, region_id, permission="reports:manage")
    if session.scalar(
        select(RegionDayOff.id).where(RegionDayOff.region_id == region_id, RegionDayOff.day == day)
    ):
        raise Conflict(_("This day is already declared."))
    row = RegionDayOff(region_id=region_id, day=day, name=name)
    session.add(row)
    session.flush()
    auth.record_audit(
        session,
        actor=principal,
        region_id=region_id,
        action="day_off.create",
        entity_type="region_day_off",
        entity_id=str(row.id),
        summary=f"{day.isoformat()} {name}",
    )
    return row


def remove_day_off(session: Session, *, principal: Principal, region_id: int, day: date) -> None:
    require_region_admin(principal, region_id, permission="reports:manage")
    row = session.scalar(
        select(RegionDayOff).where(RegionDayOff.region_id == region_id, RegionDayOff.day == day)
    )
    if row is None:
        raise NotFound(_("This day is not declared."))
    session.delete(row)
    session.flush()


_DAY_OFF = cast(Table, RegionDayOff.__table__)
_DAYS_OFF = Prepared(  # run on every filing (``db.Prepared``)
    select(_DAY_OFF.c.day).where(_DAY_OFF.c.region_id == bindparam("region_id"))
)


def calendar_for(session: Session, *, region_id: int) -> WorkCalendar:
    session.flush()  # a day declared in this unit of work counts (Core reads do not autoflush)
    days = [row[0] for row in _DAYS_OFF.rows(direct(session), {"region_id": region_id})]
    return WorkCalendar(days)
