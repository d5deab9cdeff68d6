"""API shapes of the public-service catalogue: ``PublicServiceCreate`` / ``PublicServiceUpdate`` /
``PublicServiceRead``.

What one field can say about itself is checked here (a time is HH:MM, a window closes after it opens,
a fee is not negative, texts hold no control characters), so bad input is a 422 before any SQL runs.
What needs several fields or the database (latitude with longitude, the office, a free code) is the
service's check (``catalogue.check_fields``), because a partial update only knows it once merged.
"""

from __future__ import annotations

import re
from datetime import datetime
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kotacerdas.web.schemas import (
    CODE_PATTERN,
    MAX_ID,
    Patch as SharedPatch,
    ReadModel,
    Strict as SharedStrict,
    UtcDateTime,
    has_control,
)

Channel = Literal["mpp", "counter", "online"]
CHANNELS: tuple[Channel, ...] = ("mpp", "counter", "online")
MAX_LINES = 50  # requirements or procedure steps of one service
MAX_WINDOWS = 21  # three opening windows a day

_SURROGATE = re.compile("[\ud800-\udfff]")
_CLOCK = re.compile(r"^([0-9]{1,2})[:.]([0-9]{2})$")


def _has_bad_text(value: Any) -> bool:
    """Control characters (refused by PostgreSQL, workbooks, XML) or lone surrogates (not encodable)."""
    if has_control(value):
        return True
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, list):
        return any(_has_bad_text(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bad_text(k) or _has_bad_text(v) for k, v in value.items())
    return False


class Strict(SharedStrict):
    """A request body of the catalogue: unknown fields are an error, texts are stripped and may not
    hold control characters, however deep in lists."""

    model_config = ConfigDict(str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control(cls, value: Any) -> Any:
        if _has_bad_text(value):
            raise ValueError("text may not contain control characters (other than tab and line breaks)")
        return value


class Patch(SharedPatch, Strict):
    """A partial update (``web.schemas.Patch``) with the catalogue's text rules."""


def clock(value: Any) -> str:
    """``8:00``, ``08.00`` and ``08:00`` are the same time: answer it as ``08:00``."""
    if not isinstance(value, str):
        raise PydanticCustomError("clock", "a time is written HH:MM, e.g. 08:00")
    found = _CLOCK.match(value.strip())
    if not found or int(found.group(1)) > 23 or int(found.group(2)) > 59:
        raise PydanticCustomError("clock", "a time is written HH:MM, from 00:00 to 23:59, e.g. 08:00")
    return f"{int(found.group(1)):02d}:{int(found.group(2)):02d}"


Clock = Annotated[str, BeforeValidator(clock), Field(examples=["08:00"])]
Weekday = Annotated[int, Field(ge=0, le=6)]


class OpeningHours(Strict):
    """The service desk is open from ``opens`` to ``closes`` (local time of the region) on ``days``."""

    days: list[Weekday] = Field(min_length=1, max_length=7, description="0 = Monday … 6 = Sunday")
    opens: Clock
    closes: Clock

    @model_validator(mode="after")
    def _order(self) -> OpeningHours:
        if len(set(self.days)) != len(self.days):
            raise PydanticCustomError("days_repeated", "a day is listed twice")
        if self.closes <= self.opens:
            raise PydanticCustomError(
                "closes_before_opens",
                "closes ({closes}) must be later than opens ({opens}); hours past midnight are not supported",
                {"opens": self.opens, "closes": self.closes},
            )
        self.days = sorted(self.days)
        return self


def _no_overlap(windows: list[OpeningHours]) -> list[OpeningHours]:
    for day in range(7):
        spans = sorted((w.opens, w.closes) for w in windows if day in w.days)
        for (_o1, c1), (o2, _c2) in pairwise(spans):
            if o2 < c1:
                raise PydanticCustomError(
                    "hours_overlap", "two opening windows of the same day overlap (day {day})", {"day": day}
                )
    return windows


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


_URL = TypeAdapter(HttpUrl)


def web_url(value: Any) -> Any:
    """An http(s) address kept as written (pydantic's ``HttpUrl`` would add a slash); empty means none."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    if not value:
        return ""
    try:
        _URL.validate_python(value)
    except ValidationError:
        raise PydanticCustomError("url_parsing", "Input should be a valid http or https URL") from None
    if re.search(r"[\s<>\"']", value):
        raise PydanticCustomError("url_parsing", "Input should be a valid http or https URL")
    return value


ServiceCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=CODE_PATTERN),
    Field(description="Unique in the region, e.g. KTP-EL", examples=["KTP-EL"]),
]
OfficeShortName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
    Field(description="Short name of the office that provides the service, e.g. Dispendukcapil"),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OptionalName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=5000)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Lines = Annotated[list[Line], Field(max_length=MAX_LINES)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=300)]
Fee = Annotated[int, Field(ge=0, le=MAX_ID, description="Rupiah; 0 = free of charge (gratis)")]
Duration = Annotated[int, Field(ge=0, le=365, description="Working days (hari kerja); 0 = the same day")]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
HoursList = Annotated[
    list[OpeningHours],
    Field(max_length=MAX_WINDOWS, description="Weekly opening hours; empty = not given"),
    AfterValidator(_no_overlap),
]
Channels = Annotated[
    list[Channel],
    Field(
        max_length=3, description="mpp: a desk at the Mal Pelayanan Publik; counter: the office's own; online"
    ),
    AfterValidator(_unique),
]
WebUrl = Annotated[str, BeforeValidator(web_url), Field(max_length=300, description="http(s); empty = none")]


class PublicServiceCreate(Strict):
    code: ServiceCode
    office: OfficeShortName
    name: Name = Field(description="In Bahasa Indonesia")
    name_en: OptionalName = Field("", description="In English (optional)")
    description: Description = ""
    requirements: Lines = Field(default_factory=list, description="What to bring, one item per entry")
    procedure: Lines = Field(default_factory=list, description="The steps, in order")
    fee_rp: Fee = 0
    fee_note: Note = Field("", description="e.g. the regulation that sets a levy, or how it is computed")
    duration_days: Duration = 1
    location_name: OptionalName = Field("", description="e.g. Mal Pelayanan Publik Kabupaten Jember, loket 3")
    address: Note = ""
    lat: Latitude | None = None
    lon: Longitude | None = None
    opening_hours: HoursList = Field(default_factory=list)
    channels: Channels = Field(default_factory=list)
    online_url: WebUrl = ""
    legal_basis: Note = ""
    keywords: Note = Field("", description="Other words people search for, e.g. e-KTP, KTP elektronik")
    active: bool = True


class PublicServiceUpdate(Patch):
    """Fields left out keep their value; ``lat``/``lon`` may be ``null`` to remove the position."""

    nullable = frozenset({"lat", "lon"})

    code: ServiceCode | None = None
    office: OfficeShortName | None = None
    name: Name | None = None
    name_en: OptionalName | None = None
    description: Description | None = None
    requirements: Lines | None = None
    procedure: Lines | None = None
    fee_rp: Fee | None = None
    fee_note: Note | None = None
    duration_days: Duration | None = None
    location_name: OptionalName | None = None
    address: Note | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    opening_hours: HoursList | None = None
    channels: Channels | None = None
    online_url: WebUrl | None = None
    legal_basis: Note | None = None
    keywords: Note | None = None
    active: bool | None = None


class OfficeRef(ReadModel):
    id: int
    short_name: str
    name: str


class OpeningHoursRead(BaseModel):
    days: list[int]
    opens: str
    closes: str


class PublicServiceRead(ReadModel):
    code: str
    name: str
    name_en: str
    description: str
    office: OfficeRef
    requirements: list[str]
    procedure: list[str]
    fee_rp: int = Field(description="Rupiah; 0 = free of charge (gratis)")
    fee_note: str
    duration_days: int = Field(description="Working days (hari kerja); 0 = the same day")
    location_name: str
    address: str
    lat: float | None
    lon: float | None
    opening_hours: list[OpeningHoursRead] = Field(description="Local time of the region; Monday = 0")
    channels: list[str]
    online_url: str
    legal_basis: str
    keywords: str
    active: bool
    open_now: bool = Field(description="Open at the time of the request (public holidays count as closed)")
    next_opening: datetime | None = Field(
        description="When the desk next opens, in the region's time zone; null without opening hours"
    )
    updated_at: UtcDateTime


class PublicServicePage(BaseModel):
    items: list[PublicServiceRead]
    total: int
    limit: int
    offset: int
