"""The citizen-report JSON API of one region: categories and their routing, days off, reports and
their lifecycle, photos, duplicates nearby, support, and the offices' notification channels.

Filing and reading public reports need no login; the tracking code (``X-Report-Code`` header or
``code`` parameter) opens a reporter's own report. Thin on purpose: the services decide.

This module keeps filing (on ``filing_router``) and the offices' channels; the rest sits by
sub-domain in ``category_api`` (categories, routes, days off, deadlines), ``report_api`` (reading
reports, photos) and ``report_steps_api`` (the lifecycle, support), all on the one ``router`` of
``api_routers``. Importing them here, in that order and before the channel routes, keeps the
routes' registration order; every name stays importable from here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request, Response
from sqlalchemy.orm import Session

from kotacerdas.citizen import channels, filing, reports, schemas as s
from kotacerdas.citizen.api_routers import (
    PUBLIC_ERRORS as PUBLIC_ERRORS,
    UPLOAD_ERRORS as UPLOAD_ERRORS,
    AppSettings as AppSettings,
    Lang as Lang,
    RegionCode as RegionCode,
    ReportCode as ReportCode,
    TrackingNo as TrackingNo,
    file_store as file_store,
    filing_router as filing_router,
    public_region as public_region,
    router as router,
)
from kotacerdas.citizen.category_api import (
    _category_read as _category_read,
    add_day_off as add_day_off,
    create_category as create_category,
    deadline as deadline,
    list_categories as list_categories,
    list_days_off as list_days_off,
    list_routes as list_routes,
    remove_day_off as remove_day_off,
    set_route as set_route,
    update_category as update_category,
)
from kotacerdas.citizen.present import Presenter
from kotacerdas.citizen.ratelimit import check_anonymous_submission
from kotacerdas.citizen.report_api import (
    _day_start as _day_start,
    _open as _open,
    add_photo as add_photo,
    bulk_dispose as bulk_dispose,
    get_photo as get_photo,
    get_report as get_report,
    get_timeline as get_timeline,
    list_reports as list_reports,
    nearby as nearby,
)
from kotacerdas.citizen.report_steps_api import (
    _act as _act,
    _client as _client,
    accept as accept,
    add_note as add_note,
    close as close,
    dispose as dispose,
    reassign as reassign,
    reject as reject,
    reopen as reopen,
    respond as respond,
    support as support,
)
from kotacerdas.errors import NotFound, PermissionDenied
from kotacerdas.i18n import _
from kotacerdas.web.deps import CurrentPrincipal, DbSession, get_principal, get_settings, language, run_write
from kotacerdas.web.schemas import MAX_ID, READ_ERRORS, WRITE_ERRORS


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
