"""The citizen-report JSON API of one region: categories and their routing, days off, reports and
their lifecycle, photos, duplicates nearby, support, and the offices' notification channels.

Filing and reading public reports need no login; the tracking code (``X-Report-Code`` header or
``code`` parameter) opens a reporter's own report. Thin on purpose: the services decide.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Header, Path, Query, Request, Response, UploadFile
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal, require_region_admin
from kotacerdas.citizen import access, categories, channels, filing, reports, schemas as s
from kotacerdas.citizen.models import Report, ReportCategory
from kotacerdas.citizen.present import Presenter
from kotacerdas.citizen.ratelimit import check_anonymous_submission
from kotacerdas.config import Settings
from kotacerdas.errors import NotFound, PermissionDenied, ValidationFailed
from kotacerdas.i18n import _
from kotacerdas.kit.files import DirectoryStore
from kotacerdas.kit.time import zone
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region
from kotacerdas.web.deps import CurrentPrincipal, DbSession, get_principal, get_settings, language, run_write
from kotacerdas.web.schemas import MAX_ID, READ_ERRORS, WRITE_ERRORS, error_responses

router = APIRouter(prefix="/api/v1/regions/{region_code}", tags=["citizen reports"])
# filing alone, included ahead of every other router (``citizen.filing_routes``)
filing_router = APIRouter(prefix="/api/v1/regions/{region_code}", tags=["citizen reports"])

RegionCode = Annotated[str, Path(max_length=13, description="Kemendagri code of the region, e.g. 35.09")]
TrackingNo = Annotated[str, Path(max_length=24, description="Tracking number, e.g. JBR-2026-000123")]
Lang = Annotated[str, Depends(language)]
AppSettings = Annotated[Settings, Depends(get_settings)]
ReportCode = Annotated[
    str | None, Header(alias="X-Report-Code", max_length=40, description="The reporter's tracking code")
]
PUBLIC_ERRORS = error_responses(404, 422)
UPLOAD_ERRORS = error_responses(401, 403, 404, 409, 413, 415, 422)


def public_region(session: Session, code: str) -> Region:
    return regions.get_region_by_code(session, code)


def file_store(settings: Settings) -> DirectoryStore:
    return DirectoryStore(settings.upload_dir / "reports")


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


@filing_router.post("/reports", response_model=s.ReportFiled, status_code=201, responses=WRITE_ERRORS)
async def file_report(region_code: RegionCode, body: s.ReportCreate, request: Request) -> Response:
    """File a report. Without a login it is rate-limited per address. The answer carries the
    tracking code once: keep it to follow the report."""

    settings = get_settings(request)  # not a dependency: a plain def one would cost a threadpool hop

    def work(session: Session) -> s.ReportFiled:
        principal = get_principal(request, session)
        # the region and the category in one statement: what filing needs of them, no ORM rows
        region, category = filing.find_by_codes(session, region_code=region_code, category_code=body.category)
        if region is None:
            raise NotFound(_("Region {code} not found."), code=region_code)
        if not principal.is_authenticated:
            check_anonymous_submission(request, settings)
        elif principal.kind == "api_key" and "reports:submit" not in principal.permissions:
            raise PermissionDenied(
                _("This key may not submit reports (it needs the reports:submit permission).")
            )
        if category is None:
            raise NotFound(_("Report category not found."))
        filed = reports.file_report(
            session,
            principal=principal,
            region_id=region.id,
            category_id=category.id,
            title=body.title,
            description=body.description,
            lat=body.lat,
            lon=body.lon,
            address=body.address,
            privacy=body.privacy,
            reporter_name=body.name,
            reporter_email=body.email or "",
            reporter_phone=body.phone,
            channel="api",
            attributes=body.attributes,
            target=filing.Target(region, category),
        )
        # the language after the principal: a logged-in citizen's own language counts
        presenter = Presenter(session, region, language(request))
        read = presenter.read_filed(filed.written, filed.area, category)
        return s.ReportFiled(report=read, access_code=filed.access_code)

    # one write unit of work off the event loop (on SQLite: the engine's writer thread, in turn)
    filed = await run_write(request, work)
    # the JSON FastAPI would write for ``response_model`` (the same bytes), without validating again
    # the model just built
    return Response(filed.model_dump_json(by_alias=True), status_code=201, media_type="application/json")


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


# ---------------------------------------------------------------- the lifecycle


def _act(
    session: Session, principal: Principal, region_code: str, tracking_no: str, code: str | None = None
) -> tuple[Region, Report, bool]:
    region = public_region(session, region_code)
    report, role = _open(session, principal, region, tracking_no, code)
    return region, report, role == "reporter"


@router.post("/reports/{tracking_no}/dispose", response_model=s.ReportRead, responses=WRITE_ERRORS)
def dispose(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.DisposeBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.ReportRead:
    """Verified: to the suggested office, or to ``office_id``."""
    region, report, _r = _act(session, principal, region_code, tracking_no)
    reports.dispose_report(
        session, principal=principal, report=report, office_id=body.office_id, note=body.note
    )
    return Presenter(session, region, lang).read(report, "admin")


@router.post("/reports/{tracking_no}/reject", response_model=s.ReportRead, responses=WRITE_ERRORS)
def reject(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.RejectBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.ReportRead:
    region, report, _r = _act(session, principal, region_code, tracking_no)
    reports.reject_report(
        session,
        principal=principal,
        report=report,
        reason=body.reason,
        duplicate_of=body.duplicate_of,
        note=body.note,
    )
    return Presenter(session, region, lang).read(report, "admin")


@router.post("/reports/{tracking_no}/accept", response_model=s.ReportRead, responses=WRITE_ERRORS)
def accept(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.NoteBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.ReportRead:
    region, report, _r = _act(session, principal, region_code, tracking_no)
    reports.accept_report(session, principal=principal, report=report, note=body.note)
    return Presenter(session, region, lang).read(report, access.role_for(principal, report) or "public")


@router.post("/reports/{tracking_no}/respond", response_model=s.ReportRead, responses=WRITE_ERRORS)
def respond(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.NoteBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.ReportRead:
    """The office's follow-up (tindak lanjut), which the reporter reads."""
    region, report, _r = _act(session, principal, region_code, tracking_no)
    reports.respond_report(session, principal=principal, report=report, note=body.note)
    return Presenter(session, region, lang).read(report, access.role_for(principal, report) or "public")


@router.post("/reports/{tracking_no}/reassign", response_model=s.ReportRead, responses=WRITE_ERRORS)
def reassign(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.ReassignBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.ReportRead:
    region, report, _r = _act(session, principal, region_code, tracking_no)
    was_admin = access.is_report_admin(principal, region.id)
    reports.reassign_report(
        session, principal=principal, report=report, office_id=body.office_id, note=body.note
    )
    # the office that passed it on no longer sees the report's identity fields
    return Presenter(session, region, lang).read(report, "admin" if was_admin else "public")


@router.post("/reports/{tracking_no}/close", response_model=s.ReportRead, responses=WRITE_ERRORS)
def close(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.CloseBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
    x_report_code: ReportCode = None,
) -> s.ReportRead:
    """The reporter says whether the follow-up solved it; the region admin may close any open report."""
    region, report, reporter = _act(session, principal, region_code, tracking_no, x_report_code)
    reports.close_report(
        session,
        principal=principal,
        report=report,
        resolution=body.resolution,
        note=body.note,
        has_code=reporter,
    )
    return Presenter(session, region, lang).read(
        report, access.role_for(principal, report, has_code=reporter) or "public"
    )


@router.post("/reports/{tracking_no}/reopen", response_model=s.ReportRead, responses=WRITE_ERRORS)
def reopen(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.NoteBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
    x_report_code: ReportCode = None,
) -> s.ReportRead:
    region, report, reporter = _act(session, principal, region_code, tracking_no, x_report_code)
    reports.reopen_report(session, principal=principal, report=report, note=body.note, has_code=reporter)
    return Presenter(session, region, lang).read(
        report, access.role_for(principal, report, has_code=reporter) or "public"
    )


@router.post(
    "/reports/{tracking_no}/notes", response_model=s.EventRead, status_code=201, responses=WRITE_ERRORS
)
def add_note(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.PublicNoteBody,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.EventRead:
    """A note on the timeline: internal (staff only) unless ``public``."""
    region, report, _r = _act(session, principal, region_code, tracking_no)
    event = reports.add_note(session, principal=principal, report=report, note=body.note, public=body.public)
    role = access.role_for(principal, report) or "public"
    return Presenter(session, region, lang).event(event, role, report)


@router.post("/reports/{tracking_no}/support", response_model=s.SupportRead, responses=WRITE_ERRORS)
def support(
    region_code: RegionCode,
    tracking_no: TrackingNo,
    body: s.SupportBody,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
) -> s.SupportRead:
    """Someone with the same problem backs the report ("saya juga mengalami ini"): once per person
    (account, e-mail, or browser)."""
    _region, report, _r = _act(session, principal, region_code, tracking_no)
    supporter = (body.email or "").lower() or "browser:" + (
        request.cookies.get("kc_anon") or _client(request)
    )
    added = reports.support_report(
        session, principal=principal, report=report, supporter=supporter, email=body.email or ""
    )
    return s.SupportRead(supported=added, supporters=report.supporters)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ---------------------------------------------------------------- office channels


@router.get("/offices/{office_id}/channels", response_model=list[s.ChannelRead], responses=READ_ERRORS)
def list_channels(
    region_code: RegionCode,
    office_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> list[s.ChannelRead]:
    region = public_region(session, region_code)
    rows = channels.list_channels(session, principal=principal, region_id=region.id, office_id=office_id)
    return [channels.channel_read(row) for row in rows]


@router.post(
    "/offices/{office_id}/channels", response_model=s.ChannelRead, status_code=201, responses=WRITE_ERRORS
)
def add_channel(
    region_code: RegionCode,
    office_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: s.ChannelWrite,
    session: DbSession,
    principal: CurrentPrincipal,
) -> s.ChannelRead:
    """Where the office hears of reports disposed to it: an e-mail address or a webhook (signed with
    HMAC-SHA256 of ``secret`` in ``X-Kotacerdas-Signature`` when a secret is set)."""
    region = public_region(session, region_code)
    row = channels.add_channel(
        session, principal=principal, region_id=region.id, office_id=office_id, **body.model_dump()
    )
    return channels.channel_read(row)


@router.delete("/offices/{office_id}/channels/{channel_id}", status_code=204, responses=WRITE_ERRORS)
def remove_channel(
    region_code: RegionCode,
    office_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    channel_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    region = public_region(session, region_code)
    channels.remove_channel(
        session, principal=principal, region_id=region.id, office_id=office_id, channel_id=channel_id
    )
    return Response(status_code=204)
