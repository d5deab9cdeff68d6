"""The two routers of the citizen-report JSON API and what every route on them declares: the path
and header parameters, the error responses, the region lookup and the photo store.

One ``router`` object shared by ``category_api``, ``report_api``, ``report_steps_api`` and ``api``, so
the routes keep one registration order (the order ``citizen.api`` imports those modules in);
``filing_router`` holds filing alone, included ahead of every other router (``citizen.filing_routes``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path
from sqlalchemy.orm import Session

from kotacerdas.config import Settings
from kotacerdas.kit.files import DirectoryStore
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region
from kotacerdas.web.deps import get_settings, language
from kotacerdas.web.schemas import error_responses

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
