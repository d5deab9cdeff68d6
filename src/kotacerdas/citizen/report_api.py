"""Reading citizen reports in the JSON API: the filtered list, open reports nearby, bulk disposal,
one report with its timeline, and its photos.

The tracking code (``X-Report-Code`` header or ``code`` parameter) opens a reporter's own report;
``_open`` is the one place a route turns a tracking number into a report and the caller's role.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import File, Path, Query, Response, UploadFile
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.citizen import access, categories, reports, schemas as s
from kotacerdas.citizen.api_routers import (
    PUBLIC_ERRORS,
    UPLOAD_ERRORS,
    AppSettings,
    Lang,
    RegionCode,
    ReportCode,
    TrackingNo,
    file_store,
    public_region,
    router,
)
from kotacerdas.citizen.models import Report
from kotacerdas.citizen.present import Presenter
from kotacerdas.errors import NotFound, ValidationFailed
from kotacerdas.i18n import _
from kotacerdas.kit.time import zone
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region
from kotacerdas.web.deps import CurrentPrincipal, DbSession
from kotacerdas.web.schemas import MAX_ID, READ_ERRORS, WRITE_ERRORS

# ---------------------------------------------------------------- reports


def _day_start(day: date | None, region: Region, *, next_day: bool = False) -> datetime | None:
    if day is None:
        return None
    moment = datetime.combine(day, time(0), tzinfo=zone(region.timezone))
    if next_day:
        moment += timedelta(days=1)
    return moment.astimezone(UTC)


@router.get("/reports", response_model=s.ReportPage, responses=READ_ERRORS)
def list_reports(
    region_code: RegionCode,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
    scope: Literal["public", "office", "admin", "mine"] = Query(
        "public", description="public; office (the caller's office queue); admin (every report); mine"
    ),
    state: Annotated[list[s.State] | None, Query(description="Repeat for several")] = None,
    office: Annotated[str | None, Query(max_length=40, description="Office short name")] = None,
    category: Annotated[str | None, Query(max_length=40, description="Category code")] = None,
    area: Annotated[str | None, Query(max_length=20, description="Area (kecamatan) code")] = None,
    overdue: bool | None = None,
    since: Annotated[date | None, Query(description="Submitted on or after this day")] = None,
    until: Annotated[date | None, Query(description="Submitted on or before this day")] = None,
    q: Annotated[str, Query(max_length=100, description="Words in the title, description or number")] = "",
    sort: Literal["newest", "oldest", "deadline", "updated"] = "newest",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> s.ReportPage:
    region = public_region(session, region_code)
    f = reports.ReportFilter(
        state=state or (),
        overdue=overdue,
        since=_day_start(since, region),
        until=_day_start(until, region, next_day=True),
        text=q,
    )
    if office:
        found = regions.find_office(session, region_id=region.id, short_name=office)
        if found is None:
            raise ValidationFailed(details={"office": _("Office not found in this region.")})
        f.office_id = found.id
    if category:
        f.category_ids = [categories.get_category_by_code(session, region_id=region.id, code=category).id]
    if area:
        area_id = regions.area_id_by_code(session, region_id=region.id, code=area)
        if area_id is None:
            raise ValidationFailed(details={"area": _("Area not found in this region.")})
        f.area_id = area_id
    rows, total = reports.list_reports(
        session,
        principal=principal,
        region_id=region.id,
        scope=scope,
        filters=f,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    p = Presenter(session, region, lang)
    p.prefetch(rows)
    items = []
    for row in rows:
        role = access.role_for(principal, row) or "public"
        items.append(p.read(row, "public" if scope == "public" and role == "public" else role))
    total = total or 0
    return s.ReportPage(
        total=min(total, reports.COUNT_CAP),
        total_relation="gte" if total > reports.COUNT_CAP else "eq",
        limit=limit,
        offset=offset,
        items=items,
    )


@router.get("/reports/nearby", response_model=list[s.NearbyRead], responses=PUBLIC_ERRORS)
def nearby(
    region_code: RegionCode,
    session: DbSession,
    lang: Lang,
    category: Annotated[str, Query(max_length=40)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
) -> list[s.NearbyRead]:
    """Open reports of the same category near a point: support one of them instead of filing again."""
    region = public_region(session, region_code)
    row = categories.get_category_by_code(session, region_id=region.id, code=category)
    found = reports.nearby_open(session, region_id=region.id, category_id=row.id, lat=lat, lon=lon)
    p = Presenter(session, region, lang)
    p.prefetch([r for r, _d in found])
    return [s.NearbyRead(distance_m=round(d, 1), report=p.read(r, "public")) for r, d in found]


@router.post("/reports/bulk-dispose", response_model=dict[str, str], responses=WRITE_ERRORS)
def bulk_dispose(
    region_code: RegionCode, body: s.BulkDisposeBody, session: DbSession, principal: CurrentPrincipal
) -> dict[str, str]:
    """Dispose several verified reports at once; per tracking number "ok" or why it was skipped."""
    region = public_region(session, region_code)
    return reports.bulk_dispose(
        session,
        principal=principal,
        region_id=region.id,
        tracking_nos=body.tracking_nos,
        office_id=body.office_id,
    )


def _open(
    session: Session, principal: Principal, region: Region, tracking_no: str, code: str | None
) -> tuple[Report, access.Role]:
    return reports.open_report(
        session, principal=principal, region_id=region.id, tracking_no=tracking_no, code=code
    )


@router.get("/reports/{tracking_no}", response_model=s.ReportRead, responses=PUBLIC_ERRORS)
def get_report(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
    x_report_code: ReportCode = None,
    code: Annotated[str | None, Query(max_length=40)] = None,
) -> s.ReportRead:
    region = public_region(session, region_code)
    report, role = _open(session, principal, region, tracking_no, x_report_code or code)
    return Presenter(session, region, lang).read(report, role)


@router.get("/reports/{tracking_no}/timeline", response_model=list[s.EventRead], responses=PUBLIC_ERRORS)
def get_timeline(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
    x_report_code: ReportCode = None,
    code: Annotated[str | None, Query(max_length=40)] = None,
) -> list[s.EventRead]:
    """Each step with who (the office; the official's name only for staff) and when."""
    region = public_region(session, region_code)
    report, role = _open(session, principal, region, tracking_no, x_report_code or code)
    p = Presenter(session, region, lang)
    return [p.event(e, role, report) for e in reports.timeline(session, report=report, role=role)]


@router.post(
    "/reports/{tracking_no}/photos", response_model=s.ReportRead, status_code=201, responses=UPLOAD_ERRORS
)
def add_photo(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
    lang: Lang,
    photo: Annotated[UploadFile, File(description="JPEG, PNG or WebP; its metadata (EXIF) is removed")],
    x_report_code: ReportCode = None,
) -> s.ReportRead:
    """The reporter adds a photo (at most 3) while the report waits for verification."""
    region = public_region(session, region_code)
    report, role = _open(session, principal, region, tracking_no, x_report_code)
    data = photo.file.read(settings.report_photo_max_bytes + 1)
    reports.add_photo(
        session,
        report=report,
        role=role,
        data=data,
        store=file_store(settings),
        max_bytes=settings.report_photo_max_bytes,
    )
    return Presenter(session, region, lang).read(report, role)


@router.get(
    "/reports/{tracking_no}/photos/{position}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}, **PUBLIC_ERRORS},
)
def get_photo(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    position: Annotated[int, Path(ge=1, le=3)],
    session: DbSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
    x_report_code: ReportCode = None,
    code: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    region = public_region(session, region_code)
    report, _role = _open(session, principal, region, tracking_no, x_report_code or code)
    photo = next((p for p in reports.photos_of(session, report=report) if p.position == position), None)
    if photo is None:
        raise NotFound(_("Photo not found."))
    data = file_store(settings).read(photo.file_key)
    return Response(
        data,
        media_type=photo.content_type,
        headers={"Cache-Control": "private, max-age=3600", "Content-Disposition": "inline"},
    )
