"""JSON API of the response-time figures: /api/v1/regions/{code}/reports/figures.

Public, like LAPOR!'s own statistics: the figures are counts and times per office and month, never a
report or a person, so anyone may read them without logging in (docs/citizen-figures.md defines
every number). Times are in hours and shares in percent, rounded half up to 2 decimals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from kotacerdas.citizen import figures as f
from kotacerdas.errors import ValidationFailed
from kotacerdas.i18n import _
from kotacerdas.kit.time import current_year, utcnow
from kotacerdas.region import service as regions
from kotacerdas.region.models import Office, Region
from kotacerdas.web.deps import DbSession
from kotacerdas.web.schemas import NO_NUL, error_responses

router = APIRouter(prefix="/api/v1/regions/{region_code}/reports/figures", tags=["citizen figures"])

RegionCode = Annotated[
    str,
    Path(pattern=regions.REGION_CODE.pattern, description="Kemendagri code, e.g. 35.09", examples=["35.09"]),
]
Year = Annotated[
    int | None, Query(ge=2000, le=2100, description="Calendar year (default: this year in the region)")
]
ERRORS = error_responses(404, 422)


class RegionRef(BaseModel):
    code: str
    name: str
    timezone: str


class OfficeRef(BaseModel):
    id: int
    short_name: str
    name: str


class FiguresRead(BaseModel):
    submitted: int = Field(description="Reports submitted in the period")
    states: dict[str, int] = Field(description="Of those, how many are now in each state")
    median_hours_to_verification: float | None = Field(description="verified_at - submitted_at")
    median_hours_to_first_response: float | None = Field(
        description="first_response_at - verified_at: from disposition to the office's first response"
    )
    median_hours_to_close: float | None = Field(description="closed_at - submitted_at, closed reports only")
    verified_counted: int
    verified_within_deadline: int
    verified_within_deadline_share: float | None = Field(description="Percent of verified_counted")
    answered_counted: int = Field(
        description="Reports with a follow-up deadline that were answered or whose deadline has passed"
    )
    answered_within_deadline: int
    answered_within_deadline_share: float | None = Field(description="Percent of answered_counted")
    backlog: int | None = Field(description="Open at the end of the period (now, for the running one)")
    overdue: int | None = Field(description="Of the backlog, past the deadline running then")


class MonthRead(FiguresRead):
    month: int


class MonthlyFiguresRead(BaseModel):
    region: RegionRef
    office: OfficeRef | None
    year: int
    computed_at: datetime
    months: list[MonthRead]
    total: FiguresRead = Field(description="The whole year")


class OfficeRowRead(FiguresRead):
    office: OfficeRef


class OfficeTableRead(BaseModel):
    region: RegionRef
    year: int
    month: int | None
    computed_at: datetime
    offices: list[OfficeRowRead] = Field(
        description="Worst first: the lowest share answered within the deadline"
    )


def _num(value: float | None) -> float | None:
    shown = f.rounded(value)
    return None if shown is None else float(shown)


def figures_read(figures: f.Figures) -> FiguresRead:
    """The figures as the API shows them: rounded half up to 2 decimals."""
    return FiguresRead(
        submitted=figures.submitted,
        states=figures.states,
        median_hours_to_verification=_num(figures.median_hours_to_verification),
        median_hours_to_first_response=_num(figures.median_hours_to_first_response),
        median_hours_to_close=_num(figures.median_hours_to_close),
        verified_counted=figures.verified_counted,
        verified_within_deadline=figures.verified_within_deadline,
        verified_within_deadline_share=_num(figures.verified_within_deadline_share),
        answered_counted=figures.answered_counted,
        answered_within_deadline=figures.answered_within_deadline,
        answered_within_deadline_share=_num(figures.answered_within_deadline_share),
        backlog=figures.backlog,
        overdue=figures.overdue,
    )


def _region_ref(region: Region) -> RegionRef:
    return RegionRef(code=region.code, name=region.name, timezone=region.timezone)


def _office_ref(office: Office) -> OfficeRef:
    return OfficeRef(id=office.id, short_name=office.short_name, name=office.name)


@router.get("", response_model=MonthlyFiguresRead, responses=ERRORS)
def monthly(
    region_code: RegionCode,
    session: DbSession,
    year: Year = None,
    office: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=NO_NUL,
            description="Short name of an office, e.g. Dishub; omit for the region",
        ),
    ] = None,
) -> MonthlyFiguresRead:
    """The 12 months of a year, and the year as a whole, for the region or one office."""
    region = regions.get_region_by_code(session, region_code)
    year = year or current_year(region.timezone)
    found = None
    if office:
        found = regions.find_office(session, region_id=region.id, short_name=office)
        if found is None:
            raise ValidationFailed(
                _("There is no office {office} in this region."),
                office=office,
                details={"office": "unknown office"},
            )
    now = utcnow()
    office_id = found.id if found else None
    report = f.year_report(
        session, region_id=region.id, year=year, office_id=office_id, offices=False, now=now
    )
    return MonthlyFiguresRead(
        region=_region_ref(region),
        office=_office_ref(found) if found else None,
        year=year,
        computed_at=now,
        months=[MonthRead(month=m.month, **figures_read(m).model_dump()) for m in report.months],
        total=figures_read(report.total),
    )


@router.get("/offices", response_model=OfficeTableRead, responses=ERRORS)
def offices(
    region_code: RegionCode,
    session: DbSession,
    year: Year = None,
    month: Annotated[int | None, Query(ge=1, le=12, description="One month; omit for the whole year")] = None,
) -> OfficeTableRead:
    """One row per office of the region, for the year or one month, worst first."""
    region = regions.get_region_by_code(session, region_code)
    year = year or current_year(region.timezone)
    now = utcnow()
    rows = f.year_report(session, region_id=region.id, year=year, month=month, now=now).offices
    return OfficeTableRead(
        region=_region_ref(region),
        year=year,
        month=month,
        computed_at=now,
        offices=[
            OfficeRowRead(
                office=OfficeRef(id=r.office_id, short_name=r.short_name, name=r.name),
                **figures_read(r.figures).model_dump(),
            )
            for r in rows
        ],
    )
