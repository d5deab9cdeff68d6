"""API shapes of the region domain: regions, offices, areas, and GeoJSON polygons (RFC 7946).

Stored geometries are answered in a normal form (through shapely: closed rings, a Feature unwrapped),
so what the API returns always matches the schema below, whatever form the data was loaded in.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator
from shapely.geometry import mapping

from kotacerdas.errors import ValidationFailed
from kotacerdas.kit import geo
from kotacerdas.web.schemas import NO_NUL, DbId, Email, Patch, ReadModel, Strict, UtcDateTime

RegionKind = Literal["kabupaten", "kota", "provinsi"]
Timezone = Literal["WIB", "WITA", "WIT"]
AreaKind = Literal["kecamatan", "kelurahan", "desa"]
OfficeKind = Literal[
    "sekretariat", "dinas", "badan", "kantor", "inspektorat", "bagian", "kecamatan", "rsud", "other"
]

OfficeName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
ShortName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=NO_NUL)
]
AreaName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120, pattern=NO_NUL)
]
AreaCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    ),
]
EditionCode = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9.-]*$")]

# ---------------------------------------------------------------- GeoJSON

Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Position = (
    tuple[Longitude, Latitude] | tuple[Longitude, Latitude, Annotated[float, Field(allow_inf_nan=False)]]
)
LinearRing = Annotated[
    list[Position], Field(min_length=4, description="Closed: the last position repeats the first")
]
PolygonCoordinates = Annotated[list[LinearRing], Field(min_length=1, description="Outer ring, then holes")]


class Polygon(BaseModel):
    type: Literal["Polygon"]
    coordinates: PolygonCoordinates


class MultiPolygon(BaseModel):
    type: Literal["MultiPolygon"]
    coordinates: Annotated[list[PolygonCoordinates], Field(min_length=1)]


Geometry = Annotated[Polygon | MultiPolygon, Field(discriminator="type")]


def normal_geometry(value: Any) -> Any:
    """A stored geometry (possibly a Feature, unclosed rings) as plain GeoJSON; None if unusable."""
    if value is None or isinstance(value, (Polygon, MultiPolygon)):
        return value
    try:
        return mapping(geo.parse_area(value))
    except ValidationFailed:
        return None


# ---------------------------------------------------------------- regions


class RegionSummary(ReadModel):
    code: str = Field(description="Kemendagri code, e.g. 35.09")
    name: str
    kind: RegionKind
    province: str
    timezone: Timezone
    abbreviation: str
    framework_edition: str
    is_demo: bool


class RegionRead(RegionSummary):
    boundary: Geometry | None

    @field_validator("boundary", mode="before")
    @classmethod
    def _normal(cls, value: Any) -> Any:
        return normal_geometry(value)


class RegionUpdate(Patch):
    nullable = frozenset({"boundary"})

    framework_edition: EditionCode | None = Field(
        None, description="An edition from GET /api/v1/framework/editions"
    )
    boundary: Geometry | None = Field(None, description="The region's outline; null removes it")


# ---------------------------------------------------------------- offices


class OfficeCreate(Strict):
    name: OfficeName
    short_name: ShortName = Field(description="Unique in the region, e.g. Dishub")
    kind: OfficeKind = "dinas"
    email: Email | None = None


class OfficeUpdate(Patch):
    nullable = frozenset({"email"})

    name: OfficeName | None = None
    short_name: ShortName | None = None
    kind: OfficeKind | None = None
    email: Email | None = Field(None, description="null removes the address")


class OfficeRead(ReadModel):
    id: int
    name: str
    short_name: str
    kind: OfficeKind
    email: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


# ---------------------------------------------------------------- areas


class AreaCreate(Strict):
    code: AreaCode = Field(description="Kemendagri code of the area, e.g. 35.09.01; unique in the region")
    name: AreaName
    kind: AreaKind = "kecamatan"
    parent_id: DbId | None = Field(None, description="The area this one lies in (a kelurahan's kecamatan)")
    geometry: Geometry


class AreaSummary(ReadModel):
    id: int
    code: str
    name: str
    kind: AreaKind
    parent_id: int | None
    bbox: list[float] | None = Field(description="[min_lon, min_lat, max_lon, max_lat]")

    @classmethod
    def of(cls, area: Any) -> AreaSummary:
        return cls.model_validate(_area_fields(area))


class AreaRead(AreaSummary):
    geometry: Geometry | None

    @field_validator("geometry", mode="before")
    @classmethod
    def _normal(cls, value: Any) -> Any:
        return normal_geometry(value)

    @classmethod
    def of(cls, area: Any) -> AreaRead:
        return cls.model_validate({**_area_fields(area), "geometry": area.geometry})


def _area_fields(area: Any) -> dict[str, Any]:
    box = [area.min_lon, area.min_lat, area.max_lon, area.max_lat]
    return {
        "id": area.id,
        "code": area.code,
        "name": area.name,
        "kind": area.kind,
        "parent_id": area.parent_id,
        "bbox": box if None not in box else None,
    }


class AreaProperties(BaseModel):
    code: str
    name: str
    kind: AreaKind
    parent_id: int | None


class AreaFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int
    geometry: Geometry | None
    properties: AreaProperties

    @field_validator("geometry", mode="before")
    @classmethod
    def _normal(cls, value: Any) -> Any:
        return normal_geometry(value)


class AreaFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeature]
