from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kotacerdas.db import Base, RegionOwned, Timestamped

REGION_KINDS = ("kabupaten", "kota", "provinsi")
TIMEZONES = ("WIB", "WITA", "WIT")
AREA_KINDS = ("kecamatan", "kelurahan", "desa")
OFFICE_KINDS = (
    "sekretariat",
    "dinas",
    "badan",
    "kantor",
    "inspektorat",
    "bagian",
    "kecamatan",
    "rsud",
    "other",
)


class Region(Timestamped, Base):
    __tablename__ = "region"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(13), unique=True)  # Kemendagri code, e.g. 35.09
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(12))
    province: Mapped[str] = mapped_column(String(80))
    timezone: Mapped[str] = mapped_column(String(4), default="WIB")
    abbreviation: Mapped[str] = mapped_column(String(6))  # JBR: used in tracking numbers
    framework_edition: Mapped[str] = mapped_column(String(40), default="gmsc-2024")
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    is_demo: Mapped[bool] = mapped_column(default=False)


class Area(RegionOwned, Timestamped, Base):
    __tablename__ = "area"
    __table_args__ = (
        UniqueConstraint("region_id", "code"),
        Index("ix_area_bbox", "region_id", "min_lon", "max_lon", "min_lat", "max_lat"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(12))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="SET NULL"), default=None)
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # bounding box of the geometry, so a point lookup reads only the candidates
    min_lon: Mapped[float | None] = mapped_column(default=None)
    min_lat: Mapped[float | None] = mapped_column(default=None)
    max_lon: Mapped[float | None] = mapped_column(default=None)
    max_lat: Mapped[float | None] = mapped_column(default=None)


class Office(RegionOwned, Timestamped, Base):
    __tablename__ = "office"
    __table_args__ = (UniqueConstraint("region_id", "short_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20), default="dinas")
    email: Mapped[str | None] = mapped_column(String(200), default=None)
