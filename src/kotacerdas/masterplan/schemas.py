"""API shapes of the masterplan domain: XCreate / XUpdate / XRead families."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from kotacerdas.citizen.figures import SOURCES
from kotacerdas.web.schemas import (
    CODE_PATTERN,
    DbId,
    Patch as SharedPatch,
    ReadModel,
    Strict as SharedStrict,
    UtcDateTime,
    has_control,
)

MasterplanStatus = Literal["draft", "approved"]
SectionKind = Literal[
    "readiness_struktur",
    "readiness_infrastruktur",
    "readiness_suprastruktur",
    "swot_strengths",
    "swot_weaknesses",
    "swot_opportunities",
    "swot_threats",
    "gap_analysis",
    "strategy",
]
ProgrammeKind = Literal["regulation", "infrastructure", "application", "ict_hr", "cooperation"]
Term = Literal["short", "medium", "long"]
FundingSource = Literal["APBD", "APBN", "KPBU", "CSR", "private", "community"]
YearStatus = Literal["planned", "running", "done", "stalled"]
Direction = Literal["higher", "lower"]
QuickWinAttribute = Literal[
    "innovation",
    "attractiveness",
    "benefit",
    "uniqueness",
    "partnership",
    "development_potential",
    "continuity",
    "resources",
    "risk_management",
    "sustainability",
]

Year = Annotated[int, Field(ge=2000, le=2100)]
Code = Annotated[str, Field(min_length=1, max_length=30, pattern=CODE_PATTERN)]


def _scale(places: int) -> AfterValidator:
    """Give a value the column's scale, so a response right after a write reads as a later GET does."""
    quantum = Decimal(1).scaleb(-places)
    return AfterValidator(lambda value: value.quantize(quantum))


# values stay within what Numeric(18, 2) and Numeric(20, 4) hold on every backend
Amount = Annotated[
    Decimal, Field(ge=0, le=Decimal("9999999999999999"), max_digits=18, decimal_places=2), _scale(2)
]
Measure = Annotated[
    Decimal, Field(ge=Decimal("-1e15"), le=Decimal("1e15"), max_digits=20, decimal_places=4), _scale(4)
]


class Strict(SharedStrict):
    """A request body of this domain: the shared ``Strict`` (unknown fields are an error), and every
    text, however deep in lists and dicts, stripped of surrounding whitespace and refused when it holds
    a control character (PostgreSQL text cannot hold NUL, workbooks no other C0 control): a 422 here
    rather than a 500 in SQL or a broken export later."""

    model_config = ConfigDict(str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control(cls, value: Any) -> Any:
        if has_control(value):
            raise ValueError("text may not contain control characters (other than tab and line breaks)")
        return value


class Patch(SharedPatch, Strict):
    """A partial update (see ``web.schemas.Patch``) with this domain's text rules: ``nullable`` names
    the fields ``null`` may clear."""


# ---------------------------------------------------------------- masterplan


class MasterplanCreate(Strict):
    title: str = Field(min_length=3, max_length=200)
    start_year: Year
    end_year: Year
    framework_edition: str | None = Field(None, max_length=40, description="Default: the region's edition")
    legal_basis_number: str | None = Field(None, max_length=120, description="Perbup/Perda number")
    legal_basis_date: date | None = None
    vision: str = Field("", max_length=5000)
    missions: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list, max_length=30
    )
    status: MasterplanStatus = "draft"

    @model_validator(mode="after")
    def _period(self) -> MasterplanCreate:
        check_period(self.start_year, self.end_year)
        return self


def check_period(start: int, end: int) -> None:
    years = end - start + 1
    if not 5 <= years <= 10:
        raise ValueError("a masterplan covers 5 to 10 years (start and end year included)")


class MasterplanUpdate(Patch):
    nullable = frozenset({"legal_basis_number", "legal_basis_date"})

    title: str | None = Field(None, min_length=3, max_length=200)
    start_year: Year | None = None
    end_year: Year | None = None
    legal_basis_number: str | None = Field(None, max_length=120)
    legal_basis_date: date | None = None
    vision: str | None = Field(None, max_length=5000)
    missions: list[Annotated[str, Field(min_length=1, max_length=1000)]] | None = Field(None, max_length=30)
    status: MasterplanStatus | None = None


class SectionWrite(Strict):
    body: str = Field(max_length=50_000)


class SectionRead(ReadModel):
    kind: str
    body: str


class MasterplanRead(ReadModel):
    id: int
    title: str
    start_year: int
    end_year: int
    framework_edition: str
    legal_basis_number: str | None
    legal_basis_date: date | None
    vision: str
    missions: list[str]
    status: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


class MasterplanDetail(MasterplanRead):
    sections: list[SectionRead]
    programme_count: int
    quick_win_count: int
    indicator_count: int


# ---------------------------------------------------------------- programme


class BudgetLine(Strict):
    year: Year
    source: FundingSource
    amount: Amount


class BudgetLineRead(ReadModel):
    year: int
    source: str
    amount: Decimal


class YearStatusWrite(Strict):
    year: Year
    status: YearStatus
    note: str = Field("", max_length=500)


class YearStatusRead(ReadModel):
    year: int
    status: str
    note: str


class ProgrammeBase(Strict):
    name: str = Field(min_length=3, max_length=250)
    description: str = Field("", max_length=10_000)
    dimension: str = Field(min_length=1, max_length=30)
    element: str = Field(min_length=1, max_length=40)
    lead_office_id: DbId | None = None
    pic_name: str = Field("", max_length=200)
    partners: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=30
    )
    kind: ProgrammeKind
    term: Term
    start_year: Year
    end_year: Year
    is_quick_win: bool = False
    quick_win: dict[QuickWinAttribute, Annotated[str, Field(max_length=2000)]] = Field(default_factory=dict)
    rpjmd_programme: str = Field("", max_length=250)
    budgets: list[BudgetLine] = Field(default_factory=list, max_length=200)
    year_statuses: list[YearStatusWrite] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _years(self) -> ProgrammeBase:
        if self.end_year < self.start_year:
            raise ValueError("end_year is before start_year")
        return self


class ProgrammeCreate(ProgrammeBase):
    code: Code


class ProgrammeUpdate(Patch):
    nullable = frozenset({"lead_office_id"})

    code: Code | None = None
    name: str | None = Field(None, min_length=3, max_length=250)
    description: str | None = Field(None, max_length=10_000)
    dimension: str | None = Field(None, min_length=1, max_length=30)
    element: str | None = Field(None, min_length=1, max_length=40)
    lead_office_id: DbId | None = None
    pic_name: str | None = Field(None, max_length=200)
    partners: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(None, max_length=30)
    kind: ProgrammeKind | None = None
    term: Term | None = None
    start_year: Year | None = None
    end_year: Year | None = None
    is_quick_win: bool | None = None
    quick_win: dict[QuickWinAttribute, Annotated[str, Field(max_length=2000)]] | None = None
    rpjmd_programme: str | None = Field(None, max_length=250)
    budgets: list[BudgetLine] | None = Field(None, max_length=200, description="Replaces every budget line")
    year_statuses: list[YearStatusWrite] | None = Field(
        None, max_length=20, description="Replaces every status"
    )


class OfficeRef(ReadModel):
    id: int
    short_name: str
    name: str


class ProgrammeRead(ReadModel):
    id: int
    masterplan_id: int
    code: str
    name: str
    description: str
    dimension: str
    element: str
    lead_office: OfficeRef | None
    pic_name: str
    partners: list[str]
    kind: str
    term: str
    start_year: int
    end_year: int
    is_quick_win: bool
    quick_win: dict[str, str]
    rpjmd_programme: str
    budgets: list[BudgetLineRead]
    year_statuses: list[YearStatusRead]
    total_budget: Decimal


# ---------------------------------------------------------------- indicator


class TargetWrite(Strict):
    year: Year
    value: Measure


class TargetRead(ReadModel):
    year: int
    value: Decimal


class IndicatorBase(Strict):
    name: str = Field(min_length=3, max_length=300)
    unit: str = Field(min_length=1, max_length=40)
    direction: Direction = "higher"
    baseline_year: Year | None = None
    baseline_value: Measure | None = None
    targets: list[TargetWrite] = Field(default_factory=list, max_length=20)
    source: str = Field(
        "", max_length=80, description="Free text on where the values come from (see data_source)"
    )
    data_source: DataSource | None = Field(
        None,
        description="The citizen figure the realisations are computed from (refresh-source); "
        "empty when they are entered by hand",
    )

    @field_validator("targets")
    @classmethod
    def _unique_years(cls, targets: list[TargetWrite]) -> list[TargetWrite]:
        years = [t.year for t in targets]
        if len(years) != len(set(years)):
            raise ValueError("one target per year")
        return targets


class IndicatorCreate(IndicatorBase):
    code: Annotated[str, Field(min_length=1, max_length=40, pattern=CODE_PATTERN)]
    programme_id: DbId | None = Field(None, description="Empty for an indicator of a whole dimension")
    dimension: str | None = Field(None, max_length=30, description="Required when there is no programme")
    element: str | None = Field(None, max_length=40)


class IndicatorUpdate(Patch):
    nullable = frozenset({"baseline_year", "baseline_value", "data_source"})

    name: str | None = Field(None, min_length=3, max_length=300)
    unit: str | None = Field(None, min_length=1, max_length=40)
    direction: Direction | None = None
    baseline_year: Year | None = None
    baseline_value: Measure | None = None
    targets: list[TargetWrite] | None = Field(None, max_length=20, description="Replaces every target")
    source: str | None = Field(None, max_length=80)
    data_source: DataSource | None = Field(None, description="null: realisations are entered by hand")


class EvidenceRead(ReadModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: UtcDateTime


class RealisationEntry(Strict):
    """The body of ``PUT .../realisations/{year}``: the year is the resource's address, not a field.

    A PUT replaces the whole entry: a note or evidence left out is cleared."""

    value: Measure
    note: str = Field("", max_length=1000)
    evidence_url: HttpUrl | None = Field(None, max_length=500)
    evidence_id: DbId | None = Field(None, description="An evidence file uploaded before")


class RealisationWrite(RealisationEntry):
    year: Year


class RealisationRead(ReadModel):
    year: int
    value: Decimal
    note: str
    evidence_url: str | None
    evidence: EvidenceRead | None
    entered_by_label: str
    entered_at: UtcDateTime


def _known_source(key: str) -> str:
    if key not in SOURCES:
        raise ValueError("unknown data source; one of: " + ", ".join(SOURCES))
    return key


# a figure the realisations are computed from (citizen.figures.SOURCES); None = entered by hand
DataSource = Annotated[
    str,
    Field(max_length=80, json_schema_extra={"enum": list(SOURCES)}),
    AfterValidator(_known_source),
]


class YearAchievement(BaseModel):
    year: int
    target: Decimal | None
    realisation: Decimal | None
    achievement: float | None = Field(description="Realisation against target in percent (raw, not capped)")


class IndicatorRead(ReadModel):
    id: int
    masterplan_id: int
    programme_id: int | None
    dimension: str
    element: str | None
    code: str
    name: str
    unit: str
    direction: str
    baseline_year: int | None
    baseline_value: Decimal | None
    source: str
    data_source: str | None
    targets: list[TargetRead]
    realisations: list[RealisationRead]
    achievements: list[YearAchievement]


# ---------------------------------------------------------------- views


class ScoreRead(BaseModel):
    code: str
    name: str
    achievement: float | None
    programme_count: int
    indicator_count: int


class DimensionSummaryRead(BaseModel):
    code: str
    name: str
    programme_count: int
    quick_win_count: int
    indicator_count: int
    budget_total: Decimal
    achievement: float | None
    elements: list[ScoreRead]
    status_counts: dict[str, int] = Field(
        description="Programmes whose years include the year, per status of that year (every status, "
        "zero included); a year not reported yet counts as planned, as on the roadmap"
    )


class AchievementReport(BaseModel):
    masterplan_id: int
    year: int
    overall: float | None
    dimensions: list[DimensionSummaryRead]
    formula: str = "docs/achievement.md"


class RoadmapRow(BaseModel):
    programme_id: int
    code: str
    name: str
    element: str
    lead_office: str | None
    is_quick_win: bool
    years: dict[int, str | None] = Field(
        description="Status per year of the masterplan; null outside the programme's years"
    )


class RoadmapDimension(BaseModel):
    code: str
    name: str
    rows: list[RoadmapRow]


class RoadmapRead(BaseModel):
    masterplan_id: int
    years: list[int]
    dimensions: list[RoadmapDimension]


class TrendPoint(BaseModel):
    year: int
    achievement: float | None


class TrendDimension(BaseModel):
    code: str
    name: str
    points: list[TrendPoint]


class TrendRead(BaseModel):
    masterplan_id: int
    years: list[int]
    overall: list[TrendPoint]
    dimensions: list[TrendDimension]


class QuickWinRead(BaseModel):
    programme_id: int
    code: str
    name: str
    dimension: str
    dimension_name: str
    element: str
    lead_office: str | None
    start_year: int
    end_year: int
    attributes: dict[QuickWinAttribute, str] = Field(
        description="Every quick-win attribute of the evaluation, empty where not described yet"
    )
    described: int = Field(description="How many of the attributes are described")
