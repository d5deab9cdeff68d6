"""Masterplan workbooks over HTTP: the template, export and import in the JSON API, and the pages to
import a workbook, download one, and print the whole masterplan.

Thin like the other endpoints: the work is in ``masterplan.excel``. The pages are mounted for the
user's own region (``/masterplans/...``) and under ``/regions/{code}`` for whom reads another region,
as the other masterplan pages are (``pagekit.Scope``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import Principal, require_read, require_region_admin
from kotacerdas.config import Settings
from kotacerdas.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from kotacerdas.framework import service as framework
from kotacerdas.i18n import _
from kotacerdas.kit.time import current_year, to_local, utcnow
from kotacerdas.masterplan import excel, service
from kotacerdas.masterplan.models import Indicator, Programme
from kotacerdas.masterplan.pagekit import LABELS, PageScope, Scope, int_or_none
from kotacerdas.region import service as regions
from kotacerdas.region.models import Office, Region
from kotacerdas.web.deps import CurrentPrincipal, DbSession, csrf_protect, get_settings, language
from kotacerdas.web.render import render
from kotacerdas.web.schemas import MAX_ID, error_responses

RegionCode = Annotated[str, Path(max_length=13, description="Kemendagri code of the region, e.g. 35.09")]
MasterplanId = Annotated[int, Path(ge=1, le=MAX_ID)]
Lang = Annotated[str, Depends(language)]
AppSettings = Annotated[Settings, Depends(get_settings)]
WORKBOOK_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An Excel workbook (.xlsx)",
        "content": {excel.CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}

api = APIRouter(prefix="/api/v1/regions/{region_code}", tags=["masterplan"])
pages = APIRouter(include_in_schema=False)


class ImportRead(BaseModel):
    masterplan_id: int = Field(description="The masterplan created or updated")
    programmes: int = Field(description="Programmes in the workbook (created or updated by code)")
    indicators: int = Field(description="Indicators in the workbook (created or updated by code)")


def _workbook(data: bytes, filename: str) -> Response:
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return Response(
        content=data,
        media_type=excel.CONTENT_TYPE,
        headers={
            "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, no-store",
        },
    )


def _template(session: Session, region: Region, start: int | None, end: int | None) -> Response:
    start = start or current_year(region.timezone)
    end = end or start + 4
    offices = [o.short_name for o in regions.list_offices(session, region_id=region.id)]
    data = excel.template_workbook(region.framework_edition, start, end, offices=offices)
    return _workbook(data, f"template-masterplan-{region.code}-{start}-{end}.xlsx")


def _export(session: Session, region: Region, principal: Principal, masterplan_id: int) -> Response:
    plan = service.get_masterplan(
        session, principal=principal, region_id=region.id, masterplan_id=masterplan_id
    )
    data = excel.export_workbook(session, principal=principal, region_id=region.id, masterplan_id=plan.id)
    return _workbook(data, excel.filename_for(region.code, plan.title))


# ---------------------------------------------------------------- JSON API


def _region(session: Session, principal: Principal, region_code: str) -> Region:
    return auth.access_region(session, principal=principal, code=region_code)


@api.get(
    "/masterplan-template.xlsx",
    response_class=Response,
    responses={**WORKBOOK_RESPONSE, **error_responses(401, 403, 404, 422, by_reference=True)},
)
def download_template(
    region_code: RegionCode,
    session: DbSession,
    principal: CurrentPrincipal,
    start_year: Annotated[int | None, Query(ge=2000, le=2100, description="Default: this year")] = None,
    end_year: Annotated[int | None, Query(ge=2000, le=2100, description="Default: start + 4")] = None,
) -> Response:
    """An empty masterplan workbook for the region: the sheets with their headers, drop-downs with the
    region's framework edition and offices, and the 'Petunjuk' sheet explaining every column."""
    region = _region(session, principal, region_code)
    require_read(principal, region.id, service.READ)
    return _template(session, region, start_year, end_year)


@api.get(
    "/masterplans/{masterplan_id}/export.xlsx",
    response_class=Response,
    responses={**WORKBOOK_RESPONSE, **error_responses(401, 403, 404, 422, by_reference=True)},
)
def export_masterplan(
    region_code: RegionCode, masterplan_id: MasterplanId, session: DbSession, principal: CurrentPrincipal
) -> Response:
    """The masterplan as a workbook in the import format (importing it gives the same masterplan)."""
    region = _region(session, principal, region_code)
    return _export(session, region, principal, masterplan_id)


@api.post(
    "/masterplans/import",
    status_code=201,
    response_model=ImportRead,
    responses=error_responses(401, 403, 404, 413, 415, 422),
)
def import_masterplan(
    region_code: RegionCode,
    file: Annotated[UploadFile, File(description="The workbook (.xlsx) in the template's format")],
    session: DbSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
    lang: Lang,
    masterplan_id: Annotated[
        int | None, Form(ge=1, le=MAX_ID, description="Upsert into this masterplan; empty creates one")
    ] = None,
) -> ImportRead:
    """Import a workbook, all or nothing. Without ``masterplan_id`` the 'Masterplan' sheet creates a new
    masterplan; with it, programmes and indicators are created or replaced by code (nothing absent is
    deleted). The 'Analisis' and 'DataDukung' sheets set the analysis sections and the realisations'
    notes and evidence links that have a row (evidence files are not part of a workbook). Any problem answers 422 and imports nothing; ``error.details`` lists every problem as
    ``{"sheet", "row", "column", "cell", "message"}``. Region admins only."""
    region = _region(session, principal, region_code)
    data = file.file.read(settings.upload_max_bytes + 1)  # one byte over the limit is enough to refuse
    result = excel.import_upload(
        session,
        principal=principal,
        region_id=region.id,
        filename=file.filename or "",
        data=data,
        max_bytes=settings.upload_max_bytes,
        masterplan_id=masterplan_id,
        lang=lang,
    )
    if result.masterplan_id is None:  # only a dry run leaves it empty, and this is none
        raise ValidationFailed()
    return ImportRead(
        masterplan_id=result.masterplan_id, programmes=result.programmes, indicators=result.indicators
    )


# ---------------------------------------------------------------- pages


def _import_page(
    request: Request,
    session: Session,
    scope: Scope,
    *,
    target: str = "new",
    problems: list[dict[str, Any]] | None = None,
    message: str | None = None,
    status: int = 200,
) -> Response:
    plans = service.list_masterplans(session, principal=scope.principal, region_id=scope.region_id)
    return render(
        request,
        "masterplan/transfer/import.html",
        {
            "region": scope.region,
            "base": scope.base,
            "plans": plans,
            "target": target,
            "problems": problems,
            "message": message,
            "start_year": scope.year,
            "end_year": scope.year + 4,
        },
        status,
    )


@pages.get("/masterplans/import", response_class=HTMLResponse)
def import_form(request: Request, session: DbSession, scope: PageScope) -> Response:
    require_region_admin(scope.principal, scope.region_id, service.WRITE)
    return _import_page(request, session, scope, target=request.query_params.get("masterplan", "new"))


@pages.post("/masterplans/import", dependencies=[Depends(csrf_protect)])
def import_submit(
    request: Request,
    session: DbSession,
    scope: PageScope,
    settings: AppSettings,
    file: Annotated[UploadFile | None, File()] = None,
    target: Annotated[str, Form()] = "new",
    dry_run: Annotated[str | None, Form()] = None,
) -> Response:
    require_region_admin(scope.principal, scope.region_id, service.WRITE)
    masterplan_id = None if target == "new" else int_or_none(target)
    if target != "new" and masterplan_id is None:
        message = scope.t(_("Choose a new masterplan or one of the existing ones."))
        return _import_page(request, session, scope, message=message, status=422)
    data = file.file.read(settings.upload_max_bytes + 1) if file is not None else b""
    try:
        result = excel.import_upload(
            session,
            principal=scope.principal,
            region_id=scope.region_id,
            filename=(file.filename if file is not None else None) or "",
            data=data,
            max_bytes=settings.upload_max_bytes,
            masterplan_id=masterplan_id,
            lang=scope.lang,
            dry_run=bool(dry_run),
        )
    except (ValidationFailed, UnsupportedMediaType, PayloadTooLarge) as exc:
        rows = (
            exc.details if isinstance(exc.details, list) and all("sheet" in d for d in exc.details) else None
        )
        return _import_page(
            request,
            session,
            scope,
            target=target,
            problems=rows,
            message=exc.translated(scope.lang),
            status=exc.status,
        )
    if result.dry_run:
        plan = (
            service.get_masterplan(
                session, principal=scope.principal, region_id=scope.region_id, masterplan_id=masterplan_id
            )
            if masterplan_id
            else None
        )
        context = {"region": scope.region, "base": scope.base, "result": result, "plan": plan}
        return render(request, "masterplan/transfer/result.html", context)
    return RedirectResponse(f"{scope.base}/masterplans/{result.masterplan_id}?ok=saved", status_code=303)


@pages.get("/masterplans/{masterplan_id:int}/export.xlsx")
def export_page(session: DbSession, scope: PageScope, masterplan_id: int) -> Response:
    return _export(session, scope.region, scope.principal, masterplan_id)


@pages.get("/masterplans/{masterplan_id:int}/print", response_class=HTMLResponse)
def print_page(request: Request, session: DbSession, scope: PageScope, masterplan_id: int) -> Response:
    return render(request, "masterplan/transfer/print.html", _print_context(session, scope, masterplan_id))


@dataclass
class _ProgrammeLine:
    p: Programme
    element: str
    office: Office | None
    by_source: dict[str, Decimal]


@dataclass
class _IndicatorLine:
    i: Indicator
    programme: str | None
    targets: dict[int, Decimal]
    realisations: dict[int, Decimal]


@dataclass
class _DimensionPart:
    code: str
    name: str
    programmes: list[_ProgrammeLine]
    indicators: list[_IndicatorLine]
    budget: Decimal


def _print_context(session: Session, scope: Scope, masterplan_id: int) -> dict[str, Any]:
    """The whole masterplan on paper: per dimension its programmes and indicators, and the budget."""
    principal, region_id = scope.principal, scope.region_id
    plan = service.get_masterplan(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id
    )
    programmes = service.list_programmes(
        session, principal=principal, region_id=region_id, masterplan_id=plan.id
    )
    indicators = service.list_indicators(
        session, principal=principal, region_id=region_id, masterplan_id=plan.id
    )
    offices = {o.id: o for o in regions.list_offices(session, region_id=region_id)}
    codes = {p.id: p.code for p in programmes}
    budget: dict[str, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    parts = []
    for dim in framework.get_edition(plan.framework_edition).dimensions:
        lines = []
        for p in (p for p in programmes if p.dimension == dim.code):
            by_source: dict[str, Decimal] = defaultdict(Decimal)
            for b in p.budgets:
                by_source[b.source] += b.amount
                budget[b.source][b.year] += b.amount
            element = framework.element_label(plan.framework_edition, dim.code, p.element, scope.lang)
            office = offices.get(p.lead_office_id) if p.lead_office_id else None
            lines.append(_ProgrammeLine(p, element, office, dict(by_source)))
        dim_indicators = [
            _IndicatorLine(
                i,
                codes.get(i.programme_id) if i.programme_id else None,
                {t.year: t.value for t in i.targets},
                {r.year: r.value for r in i.realisations},
            )
            for i in indicators
            if i.dimension == dim.code
        ]
        total = sum((sum(line.by_source.values(), Decimal(0)) for line in lines), Decimal(0))
        name = dim.name.id if scope.lang == "id" else dim.name.en
        parts.append(_DimensionPart(dim.code, name, lines, dim_indicators, total))
    return {
        "region": scope.region,
        "base": scope.base,
        "labels": LABELS,
        "plan": plan,
        "sections": [sec for sec in plan.sections if sec.body.strip()],
        "years": list(range(plan.start_year, plan.end_year + 1)),
        "dimensions": parts,
        "quick_wins": [line for part in parts for line in part.programmes if line.p.is_quick_win],
        "budget": {source: dict(per_year) for source, per_year in budget.items()},
        "budget_total": sum((v for per_year in budget.values() for v in per_year.values()), Decimal(0)),
        "printed_on": to_local(utcnow(), scope.region.timezone).strftime("%d-%m-%Y"),
    }


router = APIRouter()
router.include_router(api)
router.include_router(pages)
router.include_router(pages, prefix="/regions/{region_code}")
