"""JSON API of regions, offices and areas: /api/v1/regions/...

Reading a region's data needs membership of the region, the national evaluator's role, or an API key of
the region with ``region:read``; another region's data answers 403, never data. Writes belong to the
region admin and are recorded in the audit log. The checked writes below are shared with the pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from kotacerdas.auth import access, service as auth
from kotacerdas.auth.access import Principal
from kotacerdas.errors import NotFound, ValidationFailed
from kotacerdas.i18n import _
from kotacerdas.region import service as regions
from kotacerdas.region.models import Area, Office, Region
from kotacerdas.region.schemas import (
    AreaCreate,
    AreaFeature,
    AreaFeatureCollection,
    AreaKind,
    AreaRead,
    AreaSummary,
    OfficeCreate,
    OfficeRead,
    OfficeUpdate,
    RegionRead,
    RegionSummary,
    RegionUpdate,
)
from kotacerdas.web.deps import CurrentPrincipal, DbSession
from kotacerdas.web.schemas import MAX_ID, READ_ERRORS, WRITE_ERRORS, error_responses

READ = "region:read"
WRITE = "region:write"  # not grantable to API keys: offices and areas are the region admin's

router = APIRouter(prefix="/api/v1/regions", tags=["regions"])

RegionCode = Annotated[
    str,
    Path(pattern=regions.REGION_CODE.pattern, description="Kemendagri code, e.g. 35.09", examples=["35.09"]),
]
OfficeId = Annotated[int, Path(ge=1, le=MAX_ID)]
AreaId = Annotated[int, Path(ge=1, le=MAX_ID)]


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


# ---------------------------------------------------------------- checked access, shared with the pages


def readable_regions(session: Session, principal: Principal) -> Sequence[Region]:
    """Every region for the national evaluator; otherwise the own region, if its data may be read."""
    access.require_login(principal)
    if principal.is_national:
        return regions.list_regions(session)
    if principal.region_id is not None and access.can_read_region_data(principal, principal.region_id, READ):
        return [regions.get_region(session, principal.region_id)]
    return []


def readable_region(session: Session, principal: Principal, code: str) -> Region:
    region = auth.access_region(session, principal=principal, code=code)
    access.require_read(principal, region.id, READ)
    return region


def admin_region(session: Session, principal: Principal, code: str) -> Region:
    region = auth.access_region(session, principal=principal, code=code)
    access.require_region_admin(principal, region.id, WRITE)
    return region


def _created(values: dict[str, Any]) -> dict[str, list[Any]]:
    return {key: [None, value] for key, value in values.items() if value is not None}


def update_region(session: Session, *, principal: Principal, region: Region, data: RegionUpdate) -> Region:
    access.require_region_admin(principal, region.id, WRITE)
    fields = data.model_dump(mode="json", exclude_unset=True)
    changes = regions.update_region(session, region_id=region.id, **fields)
    if changes:
        auth.record_audit(
            session,
            actor=principal,
            region_id=region.id,
            action="region.update",
            entity_type="region",
            entity_id=region.code,
            summary=f"{region.name}: {', '.join(changes)}",
            changes=changes,
        )
    return region


def create_office(session: Session, *, principal: Principal, region: Region, data: OfficeCreate) -> Office:
    access.require_region_admin(principal, region.id, WRITE)
    values = data.model_dump()
    office = regions.create_office(session, region_id=region.id, **values)
    auth.record_audit(
        session,
        actor=principal,
        region_id=region.id,
        action="office.create",
        entity_type="office",
        entity_id=office.id,
        summary=f"{office.short_name}: {office.name}",
        changes=_created(values),
    )
    return office


def update_office(
    session: Session, *, principal: Principal, region: Region, office_id: int, data: OfficeUpdate
) -> Office:
    access.require_region_admin(principal, region.id, WRITE)
    office = regions.get_office(session, region_id=region.id, office_id=office_id)
    fields = data.model_dump(exclude_unset=True)
    before = {key: getattr(office, key) for key in fields}
    regions.update_office(session, region_id=region.id, office_id=office.id, **fields)
    changes = {key: [old, getattr(office, key)] for key, old in before.items() if old != getattr(office, key)}
    if changes:
        auth.record_audit(
            session,
            actor=principal,
            region_id=region.id,
            action="office.update",
            entity_type="office",
            entity_id=office.id,
            summary=f"{office.short_name}: {', '.join(changes)}",
            changes=changes,
        )
    return office


def create_area(session: Session, *, principal: Principal, region: Region, data: AreaCreate) -> Area:
    access.require_region_admin(principal, region.id, WRITE)
    if data.parent_id is not None:
        try:
            regions.get_area(session, region_id=region.id, area_id=data.parent_id)
        except NotFound:
            raise ValidationFailed(
                _("The parent area does not belong to this region."), details=[{"field": "parent_id"}]
            ) from None
    area = regions.create_area(
        session,
        region_id=region.id,
        code=data.code,
        name=data.name,
        kind=data.kind,
        geometry=data.geometry.model_dump(mode="json"),
        parent_id=data.parent_id,
    )
    auth.record_audit(
        session,
        actor=principal,
        region_id=region.id,
        action="area.create",
        entity_type="area",
        entity_id=area.id,
        summary=f"{area.kind} {area.code} {area.name}",
        changes=_created(
            {"code": area.code, "name": area.name, "kind": area.kind, "parent_id": area.parent_id}
        ),
    )
    return area


# ---------------------------------------------------------------- regions


@router.get("", response_model=list[RegionSummary], summary="Regions you may read", responses=READ_ERRORS)
def list_regions(session: DbSession, principal: CurrentPrincipal) -> list[RegionSummary]:
    return [RegionSummary.model_validate(r) for r in readable_regions(session, principal)]


@router.get(
    "/{region_code}", response_model=RegionRead, summary="A region, with its boundary", responses=READ_ERRORS
)
def get_region(region_code: RegionCode, session: DbSession, principal: CurrentPrincipal) -> RegionRead:
    return RegionRead.model_validate(readable_region(session, principal, region_code))


@router.patch(
    "/{region_code}",
    response_model=RegionRead,
    summary="Set the framework edition or boundary",
    responses=WRITE_ERRORS,
)
def patch_region(
    region_code: RegionCode, body: RegionUpdate, session: DbSession, principal: CurrentPrincipal
) -> RegionRead:
    region = admin_region(session, principal, region_code)
    return RegionRead.model_validate(update_region(session, principal=principal, region=region, data=body))


# ---------------------------------------------------------------- offices


@router.get(
    "/{region_code}/offices", response_model=list[OfficeRead], summary="Offices (OPD)", responses=READ_ERRORS
)
def list_offices(
    region_code: RegionCode, session: DbSession, principal: CurrentPrincipal
) -> list[OfficeRead]:
    region = readable_region(session, principal, region_code)
    return [OfficeRead.model_validate(o) for o in regions.list_offices(session, region_id=region.id)]


@router.post(
    "/{region_code}/offices",
    response_model=OfficeRead,
    status_code=201,
    summary="Add an office",
    responses=WRITE_ERRORS,
)
def post_office(
    region_code: RegionCode, body: OfficeCreate, session: DbSession, principal: CurrentPrincipal
) -> OfficeRead:
    region = admin_region(session, principal, region_code)
    return OfficeRead.model_validate(create_office(session, principal=principal, region=region, data=body))


@router.get(
    "/{region_code}/offices/{office_id}",
    response_model=OfficeRead,
    summary="An office",
    responses=READ_ERRORS,
)
def get_office(
    region_code: RegionCode, office_id: OfficeId, session: DbSession, principal: CurrentPrincipal
) -> OfficeRead:
    region = readable_region(session, principal, region_code)
    return OfficeRead.model_validate(regions.get_office(session, region_id=region.id, office_id=office_id))


@router.patch(
    "/{region_code}/offices/{office_id}",
    response_model=OfficeRead,
    summary="Change an office",
    responses=WRITE_ERRORS,
)
def patch_office(
    region_code: RegionCode,
    office_id: OfficeId,
    body: OfficeUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> OfficeRead:
    region = admin_region(session, principal, region_code)
    office = update_office(session, principal=principal, region=region, office_id=office_id, data=body)
    return OfficeRead.model_validate(office)


# ---------------------------------------------------------------- areas


@router.get(
    "/{region_code}/areas",
    response_model=list[AreaSummary],
    summary="Areas, without geometry",
    responses=READ_ERRORS,
)
def list_areas(
    region_code: RegionCode,
    session: DbSession,
    principal: CurrentPrincipal,
    kind: Annotated[AreaKind | None, Query(description="Only areas of this kind")] = None,
) -> list[AreaSummary]:
    region = readable_region(session, principal, region_code)
    return [AreaSummary.of(a) for a in regions.list_areas(session, region_id=region.id, kind=kind)]


@router.post(
    "/{region_code}/areas",
    response_model=AreaRead,
    status_code=201,
    summary="Add an area with its polygon",
    responses=WRITE_ERRORS,
)
def post_area(
    region_code: RegionCode, body: AreaCreate, session: DbSession, principal: CurrentPrincipal
) -> AreaRead:
    region = admin_region(session, principal, region_code)
    return AreaRead.of(create_area(session, principal=principal, region=region, data=body))


@router.get(
    "/{region_code}/areas.geojson",
    response_model=AreaFeatureCollection,
    response_class=GeoJSONResponse,
    summary="Areas as a GeoJSON FeatureCollection",
    responses=error_responses(401, 403, 404, 422, by_reference=True),
)
def areas_geojson(
    region_code: RegionCode,
    session: DbSession,
    principal: CurrentPrincipal,
    kind: Annotated[AreaKind | None, Query(description="Only areas of this kind")] = None,
) -> AreaFeatureCollection:
    region = readable_region(session, principal, region_code)
    return AreaFeatureCollection(
        features=[
            AreaFeature.model_validate(
                {
                    "id": a.id,
                    "geometry": a.geometry,
                    "properties": {"code": a.code, "name": a.name, "kind": a.kind, "parent_id": a.parent_id},
                }
            )
            for a in regions.list_areas(session, region_id=region.id, kind=kind)
        ]
    )


@router.get(
    "/{region_code}/areas/lookup",
    response_model=AreaRead,
    summary="The area that contains a point",
    responses=READ_ERRORS,
)
def lookup_area(
    region_code: RegionCode,
    session: DbSession,
    principal: CurrentPrincipal,
    lon: Annotated[
        float, Query(ge=-180, le=180, allow_inf_nan=False, description="Longitude, WGS84 degrees")
    ],
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="Latitude, WGS84 degrees")],
    kind: Annotated[AreaKind, Query(description="Which kind of area")] = "kecamatan",
) -> AreaRead:
    region = readable_region(session, principal, region_code)
    area = regions.find_area_at(session, region_id=region.id, lon=lon, lat=lat, kind=kind)
    if area is None:
        raise NotFound(
            _("No {kind} of {region} contains the point (lon {lon}, lat {lat})."),
            kind=kind,
            region=region.name,
            lon=lon,
            lat=lat,
        )
    return AreaRead.of(area)


@router.get(
    "/{region_code}/areas/{area_id}",
    response_model=AreaRead,
    summary="An area, with its polygon",
    responses=READ_ERRORS,
)
def get_area(
    region_code: RegionCode, area_id: AreaId, session: DbSession, principal: CurrentPrincipal
) -> AreaRead:
    region = readable_region(session, principal, region_code)
    return AreaRead.of(regions.get_area(session, region_id=region.id, area_id=area_id))
