"""The masterplan JSON API: masterplans, programmes, indicators, realisations, evidence and the views
(roadmap, achievement, trend, quick wins) of one region.

Thin on purpose: every endpoint resolves the region from the URL, calls the service (which checks who
is asking) and builds its response model here, while the session is still open.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Path, Query, Response, UploadFile
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import Principal
from kotacerdas.config import Settings
from kotacerdas.kit.files import DirectoryStore
from kotacerdas.kit.time import current_year
from kotacerdas.masterplan import achievement, schemas as s, service
from kotacerdas.masterplan.models import Indicator, Masterplan
from kotacerdas.region import service as regions
from kotacerdas.web.deps import CurrentPrincipal, DbSession, get_settings, language
from kotacerdas.web.schemas import MAX_ID, READ_ERRORS, WRITE_ERRORS, error_responses

router = APIRouter(prefix="/api/v1/regions/{region_code}", tags=["masterplan"])

RegionCode = Annotated[str, Path(max_length=13, description="Kemendagri code of the region, e.g. 35.09")]
MasterplanId = Annotated[int, Path(ge=1, le=MAX_ID)]
ProgrammeId = Annotated[int, Path(ge=1, le=MAX_ID)]
IndicatorId = Annotated[int, Path(ge=1, le=MAX_ID)]
EvidenceId = Annotated[int, Path(ge=1, le=MAX_ID)]
Lang = Annotated[str, Depends(language)]
AppSettings = Annotated[Settings, Depends(get_settings)]

UPLOAD_ERRORS = error_responses(401, 403, 404, 413, 415, 422)
DOWNLOAD_ERRORS = error_responses(401, 403, 404, 422, by_reference=True)


def _region_id(session: Session, principal: Principal, region_code: str) -> int:
    return auth.access_region(session, principal=principal, code=region_code).id


def _detail(session: Session, *, region_id: int, plan: Masterplan) -> s.MasterplanDetail:
    return s.MasterplanDetail.model_validate(
        {
            **s.MasterplanRead.model_validate(plan).model_dump(),
            "sections": [s.SectionRead.model_validate(sec) for sec in plan.sections],
            **service.masterplan_counts(session, region_id=region_id, masterplan_id=plan.id),
        }
    )


def _indicator_reads(
    session: Session, *, region_id: int, principal: Principal, indicators: Sequence[Indicator]
) -> list[s.IndicatorRead]:
    plans: dict[int, Masterplan] = {}
    out = []
    for ind in indicators:
        if ind.masterplan_id not in plans:
            plans[ind.masterplan_id] = service.get_masterplan(
                session, principal=principal, region_id=region_id, masterplan_id=ind.masterplan_id
            )
        out.append(achievement.indicator_read(ind, plans[ind.masterplan_id]))
    return out


# ---------------------------------------------------------------- masterplans


@router.get("/masterplans", response_model=list[s.MasterplanRead], responses=READ_ERRORS)
def list_masterplans(
    region_code: RegionCode, session: DbSession, principal: CurrentPrincipal
) -> list[s.MasterplanRead]:
    region_id = _region_id(session, principal, region_code)
    plans = service.list_masterplans(session, principal=principal, region_id=region_id)
    return [s.MasterplanRead.model_validate(p) for p in plans]


@router.post("/masterplans", status_code=201, response_model=s.MasterplanDetail, responses=WRITE_ERRORS)
def create_masterplan(
    region_code: RegionCode, data: s.MasterplanCreate, session: DbSession, principal: CurrentPrincipal
) -> s.MasterplanDetail:
    """A masterplan covers 5 to 10 years, start and end year included. Region admin only."""
    region_id = _region_id(session, principal, region_code)
    plan = service.create_masterplan(session, principal=principal, region_id=region_id, data=data)
    return _detail(session, region_id=region_id, plan=plan)


@router.get("/masterplans/{masterplan_id}", response_model=s.MasterplanDetail, responses=READ_ERRORS)
def get_masterplan(
    region_code: RegionCode, masterplan_id: MasterplanId, session: DbSession, principal: CurrentPrincipal
) -> s.MasterplanDetail:
    region_id = _region_id(session, principal, region_code)
    plan = service.get_masterplan(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id
    )
    return _detail(session, region_id=region_id, plan=plan)


@router.patch("/masterplans/{masterplan_id}", response_model=s.MasterplanDetail, responses=WRITE_ERRORS)
def update_masterplan(
    region_code: RegionCode,
    masterplan_id: MasterplanId,
    data: s.MasterplanUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> s.MasterplanDetail:
    """Fields left out keep their value. A new period must still hold every programme, target and
    realisation."""
    region_id = _region_id(session, principal, region_code)
    plan = service.update_masterplan(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id, data=data
    )
    return _detail(session, region_id=region_id, plan=plan)


@router.delete("/masterplans/{masterplan_id}", status_code=204, response_model=None, responses=WRITE_ERRORS)
def delete_masterplan(
    region_code: RegionCode, masterplan_id: MasterplanId, session: DbSession, principal: CurrentPrincipal
) -> None:
    """Deletes its programmes and indicators too. An approved masterplan cannot be deleted (409)."""
    region_id = _region_id(session, principal, region_code)
    service.delete_masterplan(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)


@router.put(
    "/masterplans/{masterplan_id}/sections/{kind}", response_model=s.SectionRead, responses=WRITE_ERRORS
)
def set_section(
    region_code: RegionCode,
    masterplan_id: MasterplanId,
    kind: s.SectionKind,
    data: s.SectionWrite,
    session: DbSession,
    principal: CurrentPrincipal,
) -> s.SectionRead:
    """The strategic analysis: readiness per pillar, SWOT, gap analysis, strategy."""
    region_id = _region_id(session, principal, region_code)
    section = service.set_section(
        session,
        principal=principal,
        region_id=region_id,
        masterplan_id=masterplan_id,
        kind=kind,
        body=data.body,
    )
    return s.SectionRead.model_validate(section)


# ---------------------------------------------------------------- programmes


@router.get(
    "/masterplans/{masterplan_id}/programmes", response_model=list[s.ProgrammeRead], responses=READ_ERRORS
)
def list_programmes(
    region_code: RegionCode,
    masterplan_id: MasterplanId,
    session: DbSession,
    principal: CurrentPrincipal,
    dimension: Annotated[str | None, Query(max_length=30)] = None,
    office_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Lead office")] = None,
    quick_win: bool | None = None,
) -> list[s.ProgrammeRead]:
    region_id = _region_id(session, principal, region_code)
    programmes = service.list_programmes(
        session,
        principal=principal,
        region_id=region_id,
        masterplan_id=masterplan_id,
        dimension=dimension,
        office_id=office_id,
        quick_win=quick_win,
    )
    return service.programme_reads(session, region_id=region_id, programmes=programmes)


@router.post(
    "/masterplans/{masterplan_id}/programmes",
    status_code=201,
    response_model=s.ProgrammeRead,
    responses=WRITE_ERRORS,
)
def create_programme(
    region_code: RegionCode,
    masterplan_id: MasterplanId,
    data: s.ProgrammeCreate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> s.ProgrammeRead:
    """Dimension and element must exist in the masterplan's framework edition; the years (and every
    budget line and status) must lie within the masterplan period. Region admin only."""
    region_id = _region_id(session, principal, region_code)
    programme = service.create_programme(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id, data=data
    )
    return service.programme_reads(session, region_id=region_id, programmes=[programme])[0]


@router.get("/programmes/{programme_id}", response_model=s.ProgrammeRead, responses=READ_ERRORS)
def get_programme(
    region_code: RegionCode, programme_id: ProgrammeId, session: DbSession, principal: CurrentPrincipal
) -> s.ProgrammeRead:
    region_id = _region_id(session, principal, region_code)
    programme = service.get_programme(
        session, principal=principal, region_id=region_id, programme_id=programme_id
    )
    return service.programme_reads(session, region_id=region_id, programmes=[programme])[0]


@router.patch("/programmes/{programme_id}", response_model=s.ProgrammeRead, responses=WRITE_ERRORS)
def update_programme(
    region_code: RegionCode,
    programme_id: ProgrammeId,
    data: s.ProgrammeUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> s.ProgrammeRead:
    """Fields left out keep their value; ``budgets`` and ``year_statuses``, when sent, replace all lines."""
    region_id = _region_id(session, principal, region_code)
    programme = service.update_programme(
        session, principal=principal, region_id=region_id, programme_id=programme_id, data=data
    )
    return service.programme_reads(session, region_id=region_id, programmes=[programme])[0]


@router.delete("/programmes/{programme_id}", status_code=204, response_model=None, responses=WRITE_ERRORS)
def delete_programme(
    region_code: RegionCode, programme_id: ProgrammeId, session: DbSession, principal: CurrentPrincipal
) -> None:
    """Deletes the programme's indicators and their realisations too."""
    region_id = _region_id(session, principal, region_code)
    service.delete_programme(session, principal=principal, region_id=region_id, programme_id=programme_id)


@router.put("/programmes/{programme_id}/status", response_model=s.YearStatusRead, responses=WRITE_ERRORS)
def set_year_status(
    region_code: RegionCode,
    programme_id: ProgrammeId,
    data: s.YearStatusWrite,
    session: DbSession,
    principal: CurrentPrincipal,
) -> s.YearStatusRead:
    """How the programme went in a year: the lead office's operator (or an office key with
    ``realisation:write``) or the region admin."""
    region_id = _region_id(session, principal, region_code)
    row = service.set_year_status(
        session, principal=principal, region_id=region_id, programme_id=programme_id, data=data
    )
    return s.YearStatusRead.model_validate(row)


# ---------------------------------------------------------------- indicators


@router.get(
    "/masterplans/{masterplan_id}/indicators", response_model=list[s.IndicatorRead], responses=READ_ERRORS
)
def list_indicators(
    region_code: RegionCode,
    masterplan_id: MasterplanId,
    session: DbSession,
    principal: CurrentPrincipal,
    programme_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[s.IndicatorRead]:
    region_id = _region_id(session, principal, region_code)
    indicators = service.list_indicators(
        session,
        principal=principal,
        region_id=region_id,
        masterplan_id=masterplan_id,
        programme_id=programme_id,
    )
    return _indicator_reads(session, region_id=region_id, principal=principal, indicators=indicators)


@router.post(
    "/masterplans/{masterplan_id}/indicators",
    status_code=201,
    response_model=s.IndicatorRead,
    responses=WRITE_ERRORS,
)
def create_indicator(
    region_code: RegionCode,
    masterplan_id: MasterplanId,
    data: s.IndicatorCreate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> s.IndicatorRead:
    """An indicator of a programme (``programme_id``) takes the programme's dimension and element; one
    of a whole dimension names ``dimension`` (and optionally ``element``). Region admin only."""
    region_id = _region_id(session, principal, region_code)
    indicator = service.create_indicator(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id, data=data
    )
    return _indicator_reads(session, region_id=region_id, principal=principal, indicators=[indicator])[0]


@router.get("/indicators/{indicator_id}", response_model=s.IndicatorRead, responses=READ_ERRORS)
def get_indicator(
    region_code: RegionCode, indicator_id: IndicatorId, session: DbSession, principal: CurrentPrincipal
) -> s.IndicatorRead:
    """With targets, realisations (and their evidence) and the achievement of every year."""
    region_id = _region_id(session, principal, region_code)
    indicator = service.get_indicator(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id
    )
    return _indicator_reads(session, region_id=region_id, principal=principal, indicators=[indicator])[0]


@router.patch("/indicators/{indicator_id}", response_model=s.IndicatorRead, responses=WRITE_ERRORS)
def update_indicator(
    region_code: RegionCode,
    indicator_id: IndicatorId,
    data: s.IndicatorUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> s.IndicatorRead:
    """Fields left out keep their value; ``targets``, when sent, replace every target."""
    region_id = _region_id(session, principal, region_code)
    indicator = service.update_indicator(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id, data=data
    )
    return _indicator_reads(session, region_id=region_id, principal=principal, indicators=[indicator])[0]


@router.delete("/indicators/{indicator_id}", status_code=204, response_model=None, responses=WRITE_ERRORS)
def delete_indicator(
    region_code: RegionCode, indicator_id: IndicatorId, session: DbSession, principal: CurrentPrincipal
) -> None:
    region_id = _region_id(session, principal, region_code)
    service.delete_indicator(session, principal=principal, region_id=region_id, indicator_id=indicator_id)


@router.put(
    "/indicators/{indicator_id}/realisations/{year}",
    response_model=s.RealisationRead,
    responses=WRITE_ERRORS,
)
def put_realisation(
    region_code: RegionCode,
    indicator_id: IndicatorId,
    year: Annotated[int, Path(ge=2000, le=2100, description="A year of the masterplan period")],
    data: s.RealisationEntry,
    session: DbSession,
    principal: CurrentPrincipal,
) -> s.RealisationRead:
    """Enter or correct the realised value of a year. The year is the address, so the body has none;
    the body replaces the entry as a whole (a note or evidence not sent again is cleared). The lead
    office of the indicator's programme (user or office key with ``realisation:write``) or the region
    admin; an indicator of a whole dimension only the region admin."""
    region_id = _region_id(session, principal, region_code)
    row = service.record_realisation(
        session,
        principal=principal,
        region_id=region_id,
        indicator_id=indicator_id,
        data=s.RealisationWrite(year=year, **data.model_dump()),
    )
    return s.RealisationRead.model_validate(row)


@router.post(
    "/indicators/{indicator_id}/refresh-source", response_model=s.RealisationRead, responses=WRITE_ERRORS
)
def refresh_source(
    region_code: RegionCode,
    indicator_id: IndicatorId,
    session: DbSession,
    principal: CurrentPrincipal,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="A year of the period (default: this year)")
    ] = None,
) -> s.RealisationRead:
    """Compute the year's realisation from the indicator's ``data_source`` (the region's figure for the
    whole year) and record it in place of the year's value, one entered by hand included (the audit log
    keeps the old value). Whoever may enter the indicator's realisations may do this. 409 when the
    indicator has no data source, or the source has no figure for the year yet."""
    region_id = _region_id(session, principal, region_code)
    if year is None:
        year = current_year(regions.get_region(session, region_id).timezone)
    row = service.refresh_from_source(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id, year=year
    )
    return s.RealisationRead.model_validate(row)


@router.delete(
    "/indicators/{indicator_id}/realisations/{year}",
    status_code=204,
    response_model=None,
    responses=WRITE_ERRORS,
)
def delete_realisation(
    region_code: RegionCode,
    indicator_id: IndicatorId,
    year: Annotated[int, Path(ge=2000, le=2100)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> None:
    region_id = _region_id(session, principal, region_code)
    service.delete_realisation(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id, year=year
    )


# ---------------------------------------------------------------- evidence


@router.post("/evidence", status_code=201, response_model=s.EvidenceRead, responses=UPLOAD_ERRORS)
def upload_evidence(
    region_code: RegionCode,
    file: Annotated[UploadFile, File(description="PDF, image, XLSX/DOCX/PPTX or CSV")],
    session: DbSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
) -> s.EvidenceRead:
    """A file behind a realisation (data dukung). It is accepted by what its bytes are, and its name
    must agree; attach it with ``evidence_id`` when entering a realisation."""
    region_id = _region_id(session, principal, region_code)
    # one byte over the limit is enough to refuse it; never read an oversized upload whole
    data = file.file.read(settings.upload_max_bytes + 1)
    evidence = service.store_evidence(
        session,
        principal=principal,
        region_id=region_id,
        store=DirectoryStore(settings.upload_dir),
        filename=file.filename or "",
        data=data,
        max_bytes=settings.upload_max_bytes,
    )
    return s.EvidenceRead.model_validate(evidence)


def _attachment(filename: str) -> str:
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/evidence/{evidence_id}",
    response_class=Response,
    responses={
        200: {
            "description": "The file, as an attachment with its stored content type",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
        **DOWNLOAD_ERRORS,
    },
)
def download_evidence(
    region_code: RegionCode,
    evidence_id: EvidenceId,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
) -> Response:
    region_id = _region_id(session, principal, region_code)
    evidence = service.get_evidence(
        session, principal=principal, region_id=region_id, evidence_id=evidence_id
    )
    data = DirectoryStore(settings.upload_dir).read(evidence.storage_key)
    return Response(
        content=data,
        media_type=evidence.content_type,
        headers={
            "Content-Disposition": _attachment(evidence.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


# ---------------------------------------------------------------- views


@router.get("/masterplans/{masterplan_id}/roadmap", response_model=s.RoadmapRead, responses=READ_ERRORS)
def roadmap(
    region_code: RegionCode,
    masterplan_id: MasterplanId,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.RoadmapRead:
    """Programmes x years per dimension: the year's status, ``planned`` when not reported yet, ``null``
    outside the programme's years."""
    region_id = _region_id(session, principal, region_code)
    return achievement.roadmap(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id, lang=lang
    )


@router.get(
    "/masterplans/{masterplan_id}/achievement", response_model=s.AchievementReport, responses=READ_ERRORS
)
def achievement_report(
    region_code: RegionCode,
    masterplan_id: MasterplanId,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
    year: Annotated[
        int | None,
        Query(ge=2000, le=2100, description="Default: this year, clipped into the masterplan period"),
    ] = None,
) -> s.AchievementReport:
    """Achievement per element and dimension and overall for a year (formula: docs/achievement.md)."""
    region_id = _region_id(session, principal, region_code)
    return achievement.achievement_report(
        session,
        principal=principal,
        region_id=region_id,
        masterplan_id=masterplan_id,
        year=year,
        lang=lang,
    )


@router.get("/masterplans/{masterplan_id}/trend", response_model=s.TrendRead, responses=READ_ERRORS)
def trend(
    region_code: RegionCode,
    masterplan_id: MasterplanId,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> s.TrendRead:
    """Achievement per dimension and overall for every year of the masterplan."""
    region_id = _region_id(session, principal, region_code)
    return achievement.trend_report(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id, lang=lang
    )


@router.get(
    "/masterplans/{masterplan_id}/quick-wins", response_model=list[s.QuickWinRead], responses=READ_ERRORS
)
def quick_wins(
    region_code: RegionCode,
    masterplan_id: MasterplanId,
    session: DbSession,
    principal: CurrentPrincipal,
    lang: Lang,
) -> list[s.QuickWinRead]:
    """The quick-win programmes with every innovation attribute the evaluation asks about."""
    region_id = _region_id(session, principal, region_code)
    return achievement.quick_wins(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id, lang=lang
    )
