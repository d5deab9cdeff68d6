"""GET /api/v1/framework: the edition in force (public: the framework is published by Kominfo)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from kotacerdas.framework import service
from kotacerdas.framework.schemas import EditionRead, EditionSummary
from kotacerdas.region import service as region_service
from kotacerdas.web.deps import DbSession

router = APIRouter(prefix="/api/v1/framework", tags=["framework"])


@router.get("", response_model=EditionRead, summary="The framework edition in force")
def edition_in_force(
    session: DbSession,
    region: str | None = Query(None, description="Kemendagri code; the edition that region uses"),
    edition: str | None = Query(None, description="A specific edition code"),
) -> EditionRead:
    if edition:
        return service.get_edition(edition)
    if region:
        return service.get_edition(region_service.get_region_by_code(session, region).framework_edition)
    return service.get_edition(service.DEFAULT_EDITION)


@router.get("/editions", response_model=list[EditionSummary], summary="Every edition shipped")
def editions() -> list[EditionSummary]:
    return [EditionSummary(code=e.code, name=e.name) for e in service.list_editions()]
