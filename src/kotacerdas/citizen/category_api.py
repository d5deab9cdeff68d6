"""The region's report configuration in the citizen JSON API: report categories and their routing
to offices per kecamatan, the region's own days off, and working-day deadlines.

Reading is public; changing needs the region's report administrators (the services check).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Path, Query, Response

from kotacerdas.auth.access import require_region_admin
from kotacerdas.citizen import categories, schemas as s
from kotacerdas.citizen.api_routers import PUBLIC_ERRORS, Lang, RegionCode, public_region, router
from kotacerdas.citizen.models import ReportCategory
from kotacerdas.citizen.present import Presenter
from kotacerdas.errors import NotFound
from kotacerdas.i18n import _
from kotacerdas.kit.time import zone
from kotacerdas.region import service as regions
from kotacerdas.web.deps import CurrentPrincipal, DbSession
from kotacerdas.web.schemas import READ_ERRORS, WRITE_ERRORS


def _category_read(p: Presenter, row: ReportCategory) -> s.CategoryRead:
    return s.CategoryRead(
        id=row.id,
        code=row.code,
        name=row.name,
        name_en=row.name_en,
        description=row.description,
        group=row.group,
        keywords=row.keywords,
        office=p.office_ref(row.office_id),
        verify_days=row.verify_days,
        respond_days=row.respond_days,
        close_days=row.close_days,
        duplicate_radius_m=row.duplicate_radius_m,
        is_private=row.is_private,
        open311_type=row.open311_type,
        attributes=row.attributes,
        active=row.active,
    )


# ---------------------------------------------------------------- categories


@router.get("/report-categories", response_model=list[s.CategoryRead], responses=PUBLIC_ERRORS)
def list_categories(
    region_code: RegionCode,
    session: DbSession,
    lang: Lang,
    include_inactive: bool = Query(False, description="Also the categories that no longer take reports"),
) -> list[s.CategoryRead]:
    region = public_region(session, region_code)
    p = Presenter(session, region, lang)
    rows = categories.list_categories(session, region_id=region.id, include_inactive=include_inactive)
    return [_category_read(p, row) for row in rows]


@router.post("/report-categories", response_model=s.CategoryRead, status_code=201, responses=WRITE_ERRORS)
def create_category(
    region_code: RegionCode,
    body: s.CategoryCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.CategoryRead:
    region = public_region(session, region_code)
    data = body.model_dump(exclude={"code", "name"})
    row = categories.create_category(
        session, principal=principal, region_id=region.id, code=body.code, name=body.name, **data
    )
    return _category_read(Presenter(session, region, lang), row)


@router.patch("/report-categories/{code}", response_model=s.CategoryRead, responses=WRITE_ERRORS)
def update_category(
    region_code: RegionCode,
    code: Annotated[str, Path(max_length=40)],
    body: s.CategoryUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.CategoryRead:
    region = public_region(session, region_code)
    require_region_admin(principal, region.id, permission="reports:manage")
    row = categories.get_category_by_code(session, region_id=region.id, code=code)
    row = categories.update_category(
        session,
        principal=principal,
        region_id=region.id,
        category_id=row.id,
        **body.model_dump(exclude_unset=True),
    )
    return _category_read(Presenter(session, region, lang), row)


@router.get("/report-categories/{code}/routes", response_model=list[s.RouteRead], responses=READ_ERRORS)
def list_routes(
    region_code: RegionCode, code: Annotated[str, Path(max_length=40)], session: DbSession, lang: Lang
) -> list[s.RouteRead]:
    region = public_region(session, region_code)
    row = categories.get_category_by_code(session, region_id=region.id, code=code)
    p = Presenter(session, region, lang)
    out = []
    for route in categories.list_routes(session, region_id=region.id, category_id=row.id):
        area = regions.get_area(session, region_id=region.id, area_id=route.area_id)
        office = p.office_ref(route.office_id)
        if office is not None:
            out.append(s.RouteRead(area=s.AreaRef(id=area.id, code=area.code, name=area.name), office=office))
    return out


@router.put("/report-categories/{code}/routes/{area_code}", status_code=204, responses=WRITE_ERRORS)
def set_route(
    region_code: RegionCode,
    code: Annotated[str, Path(max_length=40)],
    area_code: Annotated[str, Path(max_length=20)],
    body: s.RouteWrite,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    """Send the category's reports from this kecamatan to another office (null: back to the default)."""
    region = public_region(session, region_code)
    require_region_admin(principal, region.id, permission="reports:manage")
    row = categories.get_category_by_code(session, region_id=region.id, code=code)
    area = next((a for a in regions.list_areas(session, region_id=region.id) if a.code == area_code), None)
    if area is None:
        raise NotFound(_("Area not found in this region."))
    categories.set_route(
        session,
        principal=principal,
        region_id=region.id,
        category_id=row.id,
        area_id=area.id,
        office_id=body.office_id,
    )
    return Response(status_code=204)


# ---------------------------------------------------------------- days off and deadlines


@router.get("/days-off", response_model=list[s.DayOffRead], responses=PUBLIC_ERRORS)
def list_days_off(
    region_code: RegionCode, session: DbSession, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
) -> list[s.DayOffRead]:
    """The region's own days off (besides weekends, national holidays and cuti bersama)."""
    region = public_region(session, region_code)
    return [
        s.DayOffRead(day=d.day, name=d.name)
        for d in categories.list_days_off(session, region_id=region.id, year=year)
    ]


@router.post("/days-off", response_model=s.DayOffRead, status_code=201, responses=WRITE_ERRORS)
def add_day_off(
    region_code: RegionCode, body: s.DayOffWrite, session: DbSession, principal: CurrentPrincipal
) -> s.DayOffRead:
    region = public_region(session, region_code)
    row = categories.add_day_off(
        session, principal=principal, region_id=region.id, day=body.day, name=body.name
    )
    return s.DayOffRead(day=row.day, name=row.name)


@router.delete("/days-off/{day}", status_code=204, responses=WRITE_ERRORS)
def remove_day_off(
    region_code: RegionCode, day: date, session: DbSession, principal: CurrentPrincipal
) -> Response:
    region = public_region(session, region_code)
    categories.remove_day_off(session, principal=principal, region_id=region.id, day=day)
    return Response(status_code=204)


@router.get("/working-days/deadline", response_model=s.DeadlineRead, responses=PUBLIC_ERRORS)
def deadline(
    region_code: RegionCode,
    session: DbSession,
    start: Annotated[datetime, Query(description="When the clock starts (ISO 8601, with a zone)")],
    days: Annotated[int, Query(ge=0, le=365, description="Working days")],
) -> s.DeadlineRead:
    """When a deadline of ``days`` working days that starts at ``start`` falls in this region."""
    region = public_region(session, region_code)
    if start.tzinfo is None:
        start = datetime.combine(start.date(), start.time(), tzinfo=zone(region.timezone))
    calendar = categories.calendar_for(session, region_id=region.id)
    return s.DeadlineRead(
        start=start, working_days=days, due_at=calendar.deadline(start, days, region.timezone)
    )
