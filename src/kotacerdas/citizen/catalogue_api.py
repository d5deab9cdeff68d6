"""JSON API of the public-service catalogue (Mal Pelayanan Publik): /api/v1/regions/{code}/services.

Reading is public: anyone may list, search and read the region's services. Writes belong to the
region admin (any office), an office's operator (its own services) and API keys granted
``catalogue:write`` (only the key's office, if it has one); each is recorded in the audit log.
DELETE withdraws a service (``active: false``) rather than removing it; withdrawn services are
listed (``include_inactive=true``) and read only by those who may change the catalogue.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import Principal
from kotacerdas.citizen import catalogue
from kotacerdas.citizen.catalogue_schemas import (
    Channel,
    PublicServiceCreate,
    PublicServicePage,
    PublicServiceRead,
    PublicServiceUpdate,
)
from kotacerdas.citizen.models import PublicService
from kotacerdas.kit.time import utcnow
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region
from kotacerdas.web.deps import CurrentPrincipal, DbSession
from kotacerdas.web.schemas import CODE_PATTERN, MAX_ID, NO_NUL, READ_ERRORS, WRITE_ERRORS

router = APIRouter(prefix="/api/v1/regions/{region_code}/services", tags=["catalogue"])

RegionCode = Annotated[
    str,
    Path(pattern=regions.REGION_CODE.pattern, description="Kemendagri code, e.g. 35.09", examples=["35.09"]),
]
ServiceCode = Annotated[
    str, Path(max_length=40, pattern=CODE_PATTERN, description="The service's code, e.g. KTP-EL")
]


def _public_region(session: Session, region_code: str) -> Region:
    return regions.get_region_by_code(session, region_code)


def _writer_region(session: Session, principal: Principal, region_code: str) -> Region:
    """Anonymous writers learn nothing about the region, not even whether it exists (401 first)."""
    return auth.access_region(session, principal=principal, code=region_code)


def _read(session: Session, region: Region, service: PublicService) -> PublicServiceRead:
    return catalogue.service_reads(session, region=region, services=[service])[0]


@router.get(
    "",
    response_model=PublicServicePage,
    responses=READ_ERRORS,
    summary="Search the region's public services (no login needed)",
)
def list_services(
    region_code: RegionCode,
    session: DbSession,
    principal: CurrentPrincipal,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_NUL,
            description="Words that must all occur (case-insensitive) in the name, description, "
            "keywords, requirements or office name",
        ),
    ] = None,
    office: Annotated[
        str | None, Query(max_length=40, pattern=NO_NUL, description="Short name of an office, e.g. Dishub")
    ] = None,
    channel: Annotated[
        Channel | None, Query(description="Only services offered through this channel")
    ] = None,
    open_now: Annotated[bool, Query(description="Only services whose desk is open now")] = False,
    include_inactive: Annotated[
        bool, Query(description="Also withdrawn services (those who may change the catalogue only)")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=catalogue.MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> PublicServicePage:
    region = _public_region(session, region_code)
    if include_inactive:
        catalogue.require_catalogue_writer(principal, region.id)
    office_id = None
    if office:
        found = catalogue.find_office(session, region_id=region.id, short_name=office)
        if found is None:  # a filter naming no office matches nothing
            return PublicServicePage(items=[], total=0, limit=limit, offset=offset)
        office_id = found.id
    now = utcnow()
    rows, total = catalogue.list_services(
        session,
        region_id=region.id,
        q=q,
        office_id=office_id,
        channel=channel,
        open_at=now if open_now else None,
        include_inactive=include_inactive,
        limit=limit,
        offset=offset,
    )
    items = catalogue.service_reads(session, region=region, services=rows, at=now)
    return PublicServicePage(items=items, total=total, limit=limit, offset=offset)


@router.post(
    "",
    status_code=201,
    response_model=PublicServiceRead,
    responses=WRITE_ERRORS,
    summary="Add a service to the catalogue",
)
def create_service(
    region_code: RegionCode,
    data: PublicServiceCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
) -> PublicServiceRead:
    """The region admin for any office; an office's operator or key for its own office. The code is
    unique in the region (409), the office is given by its short name (422 when unknown)."""
    region = _writer_region(session, principal, region_code)
    service = catalogue.create_service(session, principal=principal, region_id=region.id, data=data)
    response.headers["Location"] = f"/api/v1/regions/{region.code}/services/{service.code}"
    return _read(session, region, service)


@router.get(
    "/{service_code}",
    response_model=PublicServiceRead,
    responses=READ_ERRORS,
    summary="One service: requirements, procedure, fee, duration, location and opening hours",
)
def get_service(
    region_code: RegionCode, service_code: ServiceCode, session: DbSession, principal: CurrentPrincipal
) -> PublicServiceRead:
    region = _public_region(session, region_code)
    service = catalogue.get_service(
        session,
        region_id=region.id,
        code=service_code,
        include_inactive=catalogue.can_write_catalogue(principal, region.id),
    )
    return _read(session, region, service)


@router.patch(
    "/{service_code}", response_model=PublicServiceRead, responses=WRITE_ERRORS, summary="Change a service"
)
def update_service(
    region_code: RegionCode,
    service_code: ServiceCode,
    data: PublicServiceUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> PublicServiceRead:
    """Fields left out keep their value; ``"active": true`` brings a withdrawn service back. Moving a
    service to another office needs the right to write for both."""
    region = _writer_region(session, principal, region_code)
    service = catalogue.update_service(
        session, principal=principal, region_id=region.id, code=service_code, data=data
    )
    return _read(session, region, service)


@router.delete(
    "/{service_code}",
    status_code=204,
    response_model=None,
    responses=WRITE_ERRORS,
    summary="Withdraw a service",
)
def delete_service(
    region_code: RegionCode, service_code: ServiceCode, session: DbSession, principal: CurrentPrincipal
) -> None:
    """The service is withdrawn (``active: false``), not erased: its code stays taken and
    ``PATCH {"active": true}`` brings it back."""
    region = _writer_region(session, principal, region_code)
    catalogue.delete_service(session, principal=principal, region_id=region.id, code=service_code)
