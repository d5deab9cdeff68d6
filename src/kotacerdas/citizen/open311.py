"""Open311 GeoReport v2 under ``/open311/v2``: discovery, services and their definitions, filing a
request with an API key, reading requests and tokens, in XML and JSON (open311_format writes them).

A request is a report: its ``service_request_id`` is the tracking number, its service the category.
The jurisdiction is the region (its Kemendagri code, or ``open311_jurisdiction`` for the default
region); with one region it may be left out. What Open311 shows is what the public sees: no
confidential or spam report, never who filed one. Extensions, documented on the endpoint's HTML page:
``page``/``page_size`` on GET requests; ``device_id`` and ``account_id`` are accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import ANONYMOUS, Principal
from kotacerdas.citizen import access, categories, filing, reports
from kotacerdas.citizen.models import CLOSED_STATES, OPEN_STATES, Report, ReportCategory
from kotacerdas.citizen.open311_format import (
    FORMATS,
    SPECIFICATION,
    Document,
    Open311Failed,
    Problem,
    error_response,
    problem,
    request_item,
    respond,
    service_definition,
    service_item,
)
from kotacerdas.citizen.open311_input import (
    MAX_DESCRIPTION,
    FormParams,
    Params,
    check_attribute_values,
    clean,
    comma_list,
    parse_location,
    parse_page,
    parse_w3c,
)
from kotacerdas.citizen.present import Presenter
from kotacerdas.config import Settings
from kotacerdas.errors import NotFound, ValidationFailed
from kotacerdas.i18n import _, gettext
from kotacerdas.kit.time import utcnow
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region
from kotacerdas.web import errors as web_errors
from kotacerdas.web.deps import DbSession, get_settings, language, run_write
from kotacerdas.web.render import render

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])
# filing alone, included ahead of every other router (``citizen.filing_routes``)
filing_router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])
web_errors.register_renderer("/open311/", error_response)

MAX_RESULTS = 1000  # the spec's "first 1000 requests"
MAX_SPAN = timedelta(days=90)  # the spec's default and widest range of start_date..end_date
MAX_PAGE = 1_000_000

Lang = Annotated[str, Depends(language)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Jurisdiction = Annotated[
    str | None,
    Query(
        max_length=100,
        description="The region's Kemendagri code (35.09) or the installation's jurisdiction_id; "
        "required when the installation serves more than one region",
    ),
]


def format_of(fmt: Annotated[str, Path(max_length=10, description="xml or json")]) -> str:
    if fmt.lower() not in FORMATS:
        raise problem(400, "", _("Unknown format {fmt}: use .xml or .json."), fmt=fmt)
    return fmt.lower()


Fmt = Annotated[str, Depends(format_of)]


# The POST's dependency as a coroutine: a plain ``def`` dependency costs a hop through the threadpool
# per request, which the filing path (hundreds a second) does not need for reading a header.
async def _format_now(fmt: Annotated[str, Path(max_length=10, description="xml or json")]) -> str:
    return format_of(fmt)


# ---------------------------------------------------------------- jurisdictions


class RegionKey(Protocol):
    """A region as jurisdictions are told apart: a ``Region`` or filing's ``Place``."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...


J = TypeVar("J", bound=RegionKey)


def default_region(regions_list: Sequence[J], settings: Settings) -> J | None:
    if settings.default_region:
        found = next((r for r in regions_list if r.code == settings.default_region), None)
        if found is not None:
            return found
    return min(regions_list, key=lambda r: r.id) if regions_list else None


def jurisdiction_of(region: RegionKey, regions_list: Sequence[RegionKey], settings: Settings) -> str:
    default = default_region(regions_list, settings)
    if settings.open311_jurisdiction and default is not None and region.id == default.id:
        return settings.open311_jurisdiction
    return region.code


def find_jurisdiction(session: Session, settings: Settings, value: str | None) -> Region:
    """The region the call is about: named by jurisdiction_id, or the only one there is."""
    return pick_jurisdiction(list(regions.list_regions(session)), settings, value)


def pick_jurisdiction(regions_list: Sequence[J], settings: Settings, value: str | None) -> J:
    """``find_jurisdiction`` among these regions (ordered by code)."""
    value = clean(value, "jurisdiction_id")
    if value is None:
        if len(regions_list) == 1:
            return regions_list[0]
        if not regions_list:
            raise problem(404, "jurisdiction_id", _("No jurisdiction is served here yet."))
        raise problem(
            400,
            "jurisdiction_id",
            _("Required here: this server serves several jurisdictions ({ids})."),
            ids=", ".join(jurisdiction_of(r, regions_list, settings) for r in regions_list),
        )
    for region in regions_list:
        if value in (region.code, jurisdiction_of(region, regions_list, settings)):
            return region
    raise problem(404, "jurisdiction_id", _("Unknown jurisdiction: {value}."), value=value)


def _find_offered(session: Session, region: RegionKey, code: str | None) -> filing.Offered:
    """``find_service`` for filing: what it checks a request against, read by one prepared statement
    instead of the ORM row (a filing's costliest read)."""
    code = clean(code, "service_code")
    if code is None:
        raise problem(400, "service_code", _("Required: the service the request is for."))
    offered = filing.find_offered(session, region_id=region.id, code=code)
    if offered is None:
        raise problem(404, "service_code", _("Unknown service: {code}."), code=code)
    return offered


def find_service(session: Session, region: RegionKey, code: str | None) -> ReportCategory:
    code = clean(code, "service_code")
    if code is None:
        raise problem(400, "service_code", _("Required: the service the request is for."))
    try:
        return categories.get_category_by_code(session, region_id=region.id, code=code)
    except NotFound:
        raise problem(404, "service_code", _("Unknown service: {code}."), code=code) from None


# ---------------------------------------------------------------- discovery and the HTML page


def changeset(session: Session) -> datetime:
    """When the service list or a service definition last changed (discovery's changeset)."""
    newest = session.scalar(select(func.max(ReportCategory.updated_at)))
    if newest is None:
        newest = session.scalar(select(func.min(Region.created_at)))
    moment = reports.aware(newest) or datetime(2026, 1, 1, tzinfo=UTC)
    return moment.astimezone(UTC)


def discovery_document(session: Session, settings: Settings, lang: str) -> Document:
    stamp = changeset(session).isoformat(timespec="seconds").replace("+00:00", "Z")
    return Document(
        "discovery",
        {
            "changeset": stamp,
            "contact": settings.open311_contact,
            "key_service": gettext(
                lang,
                _(
                    "Ask the region's Diskominfo for an API key with the permission reports:submit; "
                    "it is needed only to file requests (POST requests). Reading needs no key."
                ),
            ),
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": settings.public_url.rstrip("/") + "/open311/v2",
                    "changeset": stamp,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/discovery", response_class=HTMLResponse, include_in_schema=False)
def index_page(request: Request, session: DbSession, settings: AppSettings) -> HTMLResponse:
    """The endpoint's root in HTML (recommended by Service Discovery): operations, jurisdictions, rules."""
    regions_list = list(regions.list_regions(session))
    return render(
        request,
        "open311/index.html",
        {
            "base": settings.public_url.rstrip("/") + "/open311/v2",
            "jurisdictions": [(jurisdiction_of(r, regions_list, settings), r) for r in regions_list],
            "several": len(regions_list) > 1,
            "max_results": MAX_RESULTS,
            "max_days": MAX_SPAN.days,
            "max_description": MAX_DESCRIPTION,
            "contact": settings.open311_contact,
        },
    )


@router.get("/discovery.{fmt}", summary="Service discovery")
def discovery(fmt: Fmt, session: DbSession, settings: AppSettings, lang: Lang) -> Response:
    """Where the endpoint is, in which formats, and how to get a key (no jurisdiction needed)."""
    return respond(discovery_document(session, settings, lang), fmt)


# ---------------------------------------------------------------- services


@router.get("/services.{fmt}", summary="GET Service List")
def service_list(
    fmt: Fmt, session: DbSession, settings: AppSettings, lang: Lang, jurisdiction_id: Jurisdiction = None
) -> Response:
    """The categories that take reports; ``metadata`` says whether a service definition has questions."""
    region = find_jurisdiction(session, settings, jurisdiction_id)
    rows = categories.list_categories(session, region_id=region.id)
    return respond(Document("services", [service_item(row, lang) for row in rows]), fmt)


@router.get("/services/{service_code}.{fmt}", summary="GET Service Definition")
def get_service_definition(
    service_code: Annotated[str, Path(max_length=40)],
    fmt: Fmt,
    session: DbSession,
    settings: AppSettings,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """The questions (attributes) a request of the service answers with ``attribute[code]``."""
    region = find_jurisdiction(session, settings, jurisdiction_id)
    category = find_service(session, region, service_code)
    if not category.active:
        raise problem(404, "service_code", _("Unknown service: {code}."), code=service_code)
    return respond(Document("service_definition", service_definition(category)), fmt)


# ---------------------------------------------------------------- POST requests


def check_key(session: Session, request: Request, params: Params, region: Region | filing.Place) -> Principal:
    secret = params.one("api_key") or clean(request.headers.get("x-api-key"), "api_key")
    if secret is None:
        raise problem(403, "api_key", _("Required to file a request."))
    principal = auth.resolve_api_key(session, secret)
    if principal is None:
        raise problem(403, "api_key", _("The key is not valid or has been revoked."))
    if principal.region_id != region.id or "reports:submit" not in principal.permissions:
        raise problem(
            403,
            "api_key",
            _("This key may not file requests in {region} (permission reports:submit)."),
            region=region.name,
        )
    return principal


SERVICE_FIELDS = {
    "category": "service_code",
    "title": "description",
    "description": "description",
    "address": "address_string",
    "location": "lat/long",
    "email": "email",
    "name": "first_name/last_name",
    "phone": "phone",
    "media_url": "media_url",
}


def service_notice(category: ReportCategory | filing.Service) -> str:
    if category.is_private:
        return _(
            "Confidential service: the report is not shown to the public. "
            "It is verified within {days} working days."
        )
    return _("The report is verified within {days} working days.")


POST_FIELDS = [
    "api_key",
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
]


@filing_router.post(
    "/requests.{fmt}",
    summary="POST Service Request",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {name: {"type": "string"} for name in POST_FIELDS},
                        "required": ["api_key", "service_code"],
                        "additionalProperties": {"type": "string"},
                    }
                }
            }
        }
    },
)
async def create_request(
    fmt: Annotated[str, Depends(_format_now)], params: FormParams, request: Request
) -> Response:
    """File a report with an API key (``reports:submit``): ``attribute[code]=value``, and for a
    multivaluelist ``attribute[code][]=v1&attribute[code][]=v2``. Answers the tracking number, or a
    token for a batch service."""
    # read here, not as dependencies (neither can fail; each dependency costs FastAPI some 0.015 ms)
    settings, lang = get_settings(request), language(request)
    # one write unit of work off the event loop (on SQLite: the engine's writer thread, in turn)
    document = await run_write(
        request,
        lambda session: file_request(session, request=request, params=params, settings=settings, lang=lang),
    )
    return respond(document, fmt)


def file_request(
    session: Session, *, request: Request, params: Params, settings: Settings, lang: str
) -> Document:
    """The POST's work in the caller's write unit of work: check, file, and the answer's document."""
    # the regions as filing needs them (one light statement, not the rows with their boundaries)
    region = pick_jurisdiction(filing.places(session), settings, params.one("jurisdiction_id"))
    principal = check_key(session, request, params, region)
    offered = _find_offered(session, region, params.one("service_code"))
    category = offered.service
    problems: list[Problem] = []
    lat, lon = parse_location(params, problems)
    address = params.one("address_string") or params.one("address_id") or ""
    if params.one("lat") is None and params.one("long") is None and not address:
        problems.append(("", _("Give the location: lat and long, address_string or address_id."), {}))
    description = params.one("description") or ""
    if len(description) > MAX_DESCRIPTION:
        problems.append(("description", _("At most {limit} characters."), {"limit": MAX_DESCRIPTION}))
    media_url = params.one("media_url") or ""
    if len(media_url) > 500:
        problems.append(("media_url", _("At most {limit} characters."), {"limit": 500}))
    attributes = check_attribute_values(offered, params.attributes(), problems)
    if problems:
        raise Open311Failed(400, problems)
    name = " ".join(part for part in (params.one("first_name"), params.one("last_name")) if part)
    try:
        filed = reports.file_report(
            session,
            principal=principal,
            region_id=region.id,
            category_id=category.id,
            title="",
            description=description or category.name,  # the spec makes it optional; the category says what
            lat=lat,
            lon=lon,
            address=address,
            privacy="identified",  # confidential anyway for a private service
            reporter_name=name,
            reporter_email=params.one("email") or "",
            reporter_phone=params.one("phone") or "",
            channel="open311",
            attributes=attributes,
            media_url=media_url,
            target=filing.Target(region, category),
        )
    except ValidationFailed as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        raise Open311Failed(
            400,
            [
                (SERVICE_FIELDS.get(str(k), str(k)), v if isinstance(v, str) else str(v), {})
                for k, v in details.items()
            ]
            or [("", exc.message, exc.params)],
        ) from exc
    report = filed.written
    item: dict[str, Any] = (
        {"token": report.open311_token}
        if category.open311_type == "batch" and report.open311_token
        else {"service_request_id": report.tracking_no}
    )
    item["service_notice"] = gettext(lang, service_notice(category), days=category.verify_days)
    return Document("service_requests", [item])


# ---------------------------------------------------------------- GET requests


def request_filters(
    session: Session,
    region: Region,
    *,
    service_code: str | None,
    start_date: str | None,
    end_date: str | None,
    status: str | None,
    page: str | None,
    page_size: str | None,
) -> tuple[reports.ReportFilter, int, int]:
    problems: list[Problem] = []
    start = parse_w3c(start_date, "start_date", problems)
    end = parse_w3c(end_date, "end_date", problems)
    states: list[str] = []
    for word in comma_list(status, "status"):
        if word.lower() == "open":
            states += OPEN_STATES
        elif word.lower() == "closed":
            states += CLOSED_STATES
        else:
            problems.append(("status", _("Use open, closed or both, comma-separated."), {}))
    number = parse_page(page, "page", MAX_PAGE, problems) or 1
    size = parse_page(page_size, "page_size", MAX_RESULTS, problems) or MAX_RESULTS
    if start is not None and end is not None:
        if end < start:
            problems.append(("end_date", _("end_date is before start_date."), {}))
        elif end - start > MAX_SPAN:
            problems.append(
                (
                    "end_date",
                    _("start_date to end_date may not span more than {days} days."),
                    {"days": MAX_SPAN.days},
                )
            )
    if problems:
        raise Open311Failed(400, problems)
    if start is None:
        end = end or utcnow()
        start = end - MAX_SPAN
    elif end is None:
        end = start + MAX_SPAN
    category_ids = []
    for code in comma_list(service_code, "service_code"):
        category_ids.append(find_service(session, region, code).id)
    filters = reports.ReportFilter(
        state=sorted(set(states)),
        category_ids=category_ids,
        since=start,
        # end_date is the latest time included; times are given to the second, so a whole second
        until=end + (timedelta(seconds=1) if end.microsecond == 0 else timedelta(microseconds=1)),
    )
    return filters, size, (number - 1) * size


def request_document(
    session: Session, region: Region, rows: list[Report], *, lang: str, settings: Settings
) -> Document:
    presenter = Presenter(session, region, lang)
    presenter.prefetch(rows)
    items = [
        request_item(
            presenter.read(row, "public"), row, region=region, lang=lang, public_url=settings.public_url
        )
        for row in rows
    ]
    return Document("service_requests", items)


@router.get("/requests.{fmt}", summary="GET Service Requests")
def list_requests(
    fmt: Fmt,
    session: DbSession,
    settings: AppSettings,
    lang: Lang,
    jurisdiction_id: Jurisdiction = None,
    service_request_id: Annotated[
        str | None, Query(max_length=30000, description="Comma-separated; overrides every other argument")
    ] = None,
    service_code: Annotated[str | None, Query(max_length=4000, description="Comma-separated")] = None,
    start_date: Annotated[str | None, Query(max_length=40, description="W3C date-time with zone")] = None,
    end_date: Annotated[str | None, Query(max_length=40, description="W3C date-time with zone")] = None,
    status: Annotated[str | None, Query(max_length=40, description="open, closed (comma-separated)")] = None,
    page: Annotated[str | None, Query(max_length=10, description="Extension: page number, from 1")] = None,
    page_size: Annotated[
        str | None, Query(max_length=10, description="Extension: requests per page, 1 to 1000 (default)")
    ] = None,
) -> Response:
    """Public requests, newest first: by default those requested in the last 90 days, at most 1000."""
    region = find_jurisdiction(session, settings, jurisdiction_id)
    ids = comma_list(service_request_id, "service_request_id")
    if ids:
        filters, limit, offset = reports.ReportFilter(tracking_nos=ids[:MAX_RESULTS]), MAX_RESULTS, 0
    else:
        filters, limit, offset = request_filters(
            session,
            region,
            service_code=service_code,
            start_date=start_date,
            end_date=end_date,
            status=status,
            page=page,
            page_size=page_size,
        )
    rows, _total = reports.list_reports(
        session,
        principal=ANONYMOUS,
        region_id=region.id,
        scope="public",
        filters=filters,
        sort="newest",
        limit=limit,
        offset=offset,
        with_total=False,
    )
    return respond(request_document(session, region, list(rows), lang=lang, settings=settings), fmt)


@router.get("/requests/{service_request_id}.{fmt}", summary="GET Service Request")
def get_request(
    service_request_id: Annotated[str, Path(max_length=40)],
    fmt: Fmt,
    session: DbSession,
    settings: AppSettings,
    lang: Lang,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """One request, in the same list wrapper as GET Service Requests."""
    region = find_jurisdiction(session, settings, jurisdiction_id)
    number = clean(service_request_id, "service_request_id") or ""
    try:
        report = reports.get_report(session, region_id=region.id, tracking_no=number)
    except NotFound:
        report = None
    if report is None or not access.is_public(report):
        raise problem(404, "service_request_id", _("Not found: {value}."), value=number)
    return respond(request_document(session, region, [report], lang=lang, settings=settings), fmt)


@router.get("/tokens/{token}.{fmt}", summary="GET service_request_id from a token")
def get_token(
    token: Annotated[str, Path(max_length=40)],
    fmt: Fmt,
    session: DbSession,
    settings: AppSettings,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """The tracking number of a request filed in a batch service."""
    region = find_jurisdiction(session, settings, jurisdiction_id)
    value = clean(token, "token") or ""
    number = session.scalar(
        select(Report.tracking_no).where(Report.region_id == region.id, Report.open311_token == value)
    )
    if number is None:
        raise problem(404, "token", _("Not found: {value}."), value=value)
    return respond(Document("service_requests", [{"service_request_id": number, "token": value}]), fmt)
