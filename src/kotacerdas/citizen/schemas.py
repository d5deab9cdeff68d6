"""Request and response shapes of the citizen-report JSON API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, StringConstraints

from kotacerdas.web.schemas import CODE_PATTERN, NO_NUL, DbId, Email, Patch, Strict, UtcDateTime

Req24 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=24, pattern=NO_NUL)]
Req100 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)
]
Req120 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120, pattern=NO_NUL)
]
Req200 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
Req500 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500, pattern=NO_NUL)
]
Req4000 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000, pattern=NO_NUL)
]
Txt24 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=24, pattern=NO_NUL)]
Txt40 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=40, pattern=NO_NUL)]
Txt60 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=60, pattern=NO_NUL)]
Txt80 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=80, pattern=NO_NUL)]
Txt120 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=0, max_length=120, pattern=NO_NUL)
]
Txt200 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=0, max_length=200, pattern=NO_NUL)
]
Txt300 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=0, max_length=300, pattern=NO_NUL)
]
Txt2000 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=0, max_length=2000, pattern=NO_NUL)
]
Txt4000 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=0, max_length=4000, pattern=NO_NUL)
]


Privacy = Literal["identified", "anonymous", "confidential"]
State = Literal["submitted", "disposed", "in_progress", "responded", "closed", "rejected"]
Note = Txt4000
CategoryCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=CODE_PATTERN)
]
Days = Annotated[int, Field(ge=1, le=60)]


class AttributeValue(Strict):
    key: Req100
    name: Req200


class CategoryAttribute(Strict):
    """An Open311 service-definition attribute: an extra question the reporter answers."""

    code: CategoryCode
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool = False
    variable: bool = True
    order: Annotated[int, Field(ge=1, le=1000)] | None = None
    description: Txt300 = ""
    datatype_description: Txt300 = ""
    values: list[AttributeValue] = Field(default_factory=list, max_length=100)


class CategoryCreate(Strict):
    code: CategoryCode
    name: Req120
    name_en: Txt120 = ""
    description: Txt2000 = ""
    group: Txt60 = ""
    keywords: Txt300 = ""
    office_id: DbId | None = None
    verify_days: Days = 3
    respond_days: Days = 5
    close_days: Days = 10
    duplicate_radius_m: Annotated[int, Field(ge=0, le=5000)] = 100
    is_private: bool = False
    open311_type: Literal["realtime", "batch"] = "realtime"
    attributes: list[CategoryAttribute] = Field(default_factory=list, max_length=30)
    active: bool = True


class CategoryUpdate(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"office_id"})

    name: Req120 | None = None
    name_en: Txt120 | None = None
    description: Txt2000 | None = None
    group: Txt60 | None = None
    keywords: Txt300 | None = None
    office_id: DbId | None = None
    verify_days: Days | None = None
    respond_days: Days | None = None
    close_days: Days | None = None
    duplicate_radius_m: Annotated[int, Field(ge=0, le=5000)] | None = None
    is_private: bool | None = None
    open311_type: Literal["realtime", "batch"] | None = None
    attributes: list[CategoryAttribute] | None = None
    active: bool | None = None


class OfficeRef(BaseModel):
    id: int
    short_name: str
    name: str


class AreaRef(BaseModel):
    id: int
    code: str
    name: str


class CategoryRead(BaseModel):
    id: int
    code: str
    name: str
    name_en: str
    description: str
    group: str
    keywords: str
    office: OfficeRef | None
    verify_days: int
    respond_days: int
    close_days: int
    duplicate_radius_m: int
    is_private: bool
    open311_type: str
    attributes: list[dict[str, Any]]
    active: bool


class RouteWrite(Strict):
    office_id: DbId | None = Field(None, description="The office for this area; null: the category's default")


class RouteRead(BaseModel):
    area: AreaRef
    office: OfficeRef


class DayOffWrite(Strict):
    day: date
    name: Req120


class DayOffRead(BaseModel):
    day: date
    name: str


class DeadlineRead(BaseModel):
    start: datetime
    working_days: int
    due_at: datetime


class ReportCreate(Strict):
    category: CategoryCode = Field(description="Category code (the Open311 service_code)")
    title: Txt200 = ""
    description: Req4000
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    address: Txt300 = ""
    privacy: Privacy = "identified"
    name: Txt120 = ""
    email: Email | None = None
    phone: Txt40 = ""
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=30)


class Reporter(BaseModel):
    name: str
    email: str
    phone: str


class ReportRead(BaseModel):
    tracking_no: str
    title: str
    description: str
    category: str
    category_name: str
    state: State
    state_label: str
    resolution: str | None
    reject_reason: str | None
    duplicate_of: str | None
    privacy: Privacy
    office: OfficeRef | None
    area: AreaRef | None
    lat: float | None
    lon: float | None
    address: str
    status_note: str
    supporters: int
    photos: list[str]
    channel: str
    submitted_at: UtcDateTime
    updated_at: UtcDateTime
    due_at: UtcDateTime | None
    overdue: bool
    verify_due_at: UtcDateTime | None
    respond_due_at: UtcDateTime | None
    close_due_at: UtcDateTime | None
    verified_at: UtcDateTime | None
    first_response_at: UtcDateTime | None
    closed_at: UtcDateTime | None
    reporter: Reporter | None = Field(None, description="Only for whom may see it (never the public)")
    suggested_office: OfficeRef | None = Field(None, description="Only for the region admin")


class ReportFiled(BaseModel):
    report: ReportRead
    access_code: str = Field(description="Shown once: with the tracking number it opens the report")


class ReportPage(BaseModel):
    total: int = Field(description="Matching reports, counted up to 10,000 (see total_relation)")
    total_relation: Literal["eq", "gte"] = Field(
        "eq", description='"eq": total is exact; "gte": there are more than 10,000 matches, total is 10,000'
    )
    limit: int
    offset: int
    items: list[ReportRead]


class NearbyRead(BaseModel):
    distance_m: float
    report: ReportRead


class EventRead(BaseModel):
    at: UtcDateTime
    kind: str
    label: str
    from_state: str | None
    to_state: str | None
    office: OfficeRef | None
    actor: str
    note: str
    public: bool


class DisposeBody(Strict):
    office_id: DbId | None = None
    note: Note = ""


class RejectBody(Strict):
    reason: Literal["not_authority", "duplicate", "spam"]
    duplicate_of: Txt24 | None = None
    note: Note = ""


class NoteBody(Strict):
    note: Note = ""


class PublicNoteBody(Strict):
    note: Req4000
    public: bool = False


class CloseBody(Strict):
    resolution: Literal["resolved", "unresolved", "no_answer"]
    note: Note = ""


class ReassignBody(Strict):
    office_id: DbId
    note: Note = ""


class SupportBody(Strict):
    email: Email | None = None


class SupportRead(BaseModel):
    supported: bool
    supporters: int


class BulkDisposeBody(Strict):
    tracking_nos: list[Req24] = Field(min_length=1, max_length=200)
    office_id: DbId | None = None


class ChannelWrite(Strict):
    kind: Literal["email", "webhook"]
    target: Req500
    secret: Txt80 = ""
    active: bool = True


class ChannelRead(BaseModel):
    id: int
    kind: str
    target: str
    active: bool
    signed: bool
    created_at: UtcDateTime
