from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kotacerdas.db import Base, RegionOwned, Timestamped
from kotacerdas.kit.time import utcnow

MASTERPLAN_STATUSES = ("draft", "approved")
SECTION_KINDS = (
    "readiness_struktur",
    "readiness_infrastruktur",
    "readiness_suprastruktur",
    "swot_strengths",
    "swot_weaknesses",
    "swot_opportunities",
    "swot_threats",
    "gap_analysis",
    "strategy",
)
PROGRAMME_KINDS = ("regulation", "infrastructure", "application", "ict_hr", "cooperation")
TERMS = ("short", "medium", "long")
FUNDING_SOURCES = ("APBD", "APBN", "KPBU", "CSR", "private", "community")
YEAR_STATUSES = ("planned", "running", "done", "stalled")
DIRECTIONS = ("higher", "lower")
# framework.md section 2.3: the quick-win innovation attributes the evaluation asks about
QUICK_WIN_ATTRIBUTES = (
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
)


class Masterplan(RegionOwned, Timestamped, Base):
    __tablename__ = "masterplan"
    __table_args__ = (UniqueConstraint("region_id", "start_year", "title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    start_year: Mapped[int] = mapped_column()
    end_year: Mapped[int] = mapped_column()
    framework_edition: Mapped[str] = mapped_column(String(40))
    legal_basis_number: Mapped[str | None] = mapped_column(String(120), default=None)  # Perbup/Perda number
    legal_basis_date: Mapped[date | None] = mapped_column(default=None)
    vision: Mapped[str] = mapped_column(Text, default="")
    missions: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12), default="draft")

    sections: Mapped[list[MasterplanSection]] = relationship(
        back_populates="masterplan", cascade="all, delete-orphan", order_by="MasterplanSection.position"
    )


class MasterplanSection(RegionOwned, Base):
    """Strategic analysis: readiness per pillar, SWOT, gaps, strategy."""

    __tablename__ = "masterplan_section"
    __table_args__ = (UniqueConstraint("masterplan_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    masterplan_id: Mapped[int] = mapped_column(ForeignKey("masterplan.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    position: Mapped[int] = mapped_column(default=0)
    body: Mapped[str] = mapped_column(Text, default="")

    masterplan: Mapped[Masterplan] = relationship(back_populates="sections")


class Programme(RegionOwned, Timestamped, Base):
    __tablename__ = "programme"
    __table_args__ = (
        UniqueConstraint("masterplan_id", "code"),
        Index("ix_programme_region_dimension", "region_id", "masterplan_id", "dimension"),
        Index("ix_programme_region_office", "region_id", "lead_office_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    masterplan_id: Mapped[int] = mapped_column(ForeignKey("masterplan.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str] = mapped_column(Text, default="")
    dimension: Mapped[str] = mapped_column(String(30))  # dimension code of the masterplan's edition
    element: Mapped[str] = mapped_column(String(40))  # element code within the dimension
    lead_office_id: Mapped[int | None] = mapped_column(
        ForeignKey("office.id", ondelete="SET NULL"), default=None
    )
    pic_name: Mapped[str] = mapped_column(String(200), default="")  # person in charge
    partners: Mapped[list[str]] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(20))
    term: Mapped[str] = mapped_column(String(8))
    start_year: Mapped[int] = mapped_column()
    end_year: Mapped[int] = mapped_column()
    is_quick_win: Mapped[bool] = mapped_column(default=False)
    quick_win: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # QUICK_WIN_ATTRIBUTES -> text
    rpjmd_programme: Mapped[str] = mapped_column(String(250), default="")

    budgets: Mapped[list[ProgrammeBudget]] = relationship(
        cascade="all, delete-orphan", order_by="(ProgrammeBudget.year, ProgrammeBudget.source)"
    )
    year_statuses: Mapped[list[ProgrammeYearStatus]] = relationship(
        cascade="all, delete-orphan", order_by="ProgrammeYearStatus.year"
    )


class ProgrammeBudget(RegionOwned, Base):
    __tablename__ = "programme_budget"
    __table_args__ = (UniqueConstraint("programme_id", "year", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column()
    source: Mapped[str] = mapped_column(String(12))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))  # rupiah


class ProgrammeYearStatus(RegionOwned, Base):
    __tablename__ = "programme_year_status"
    __table_args__ = (UniqueConstraint("programme_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(String(500), default="")


class Indicator(RegionOwned, Timestamped, Base):
    """Belongs to a programme, or (programme_id empty) directly to a dimension and optionally an element."""

    __tablename__ = "indicator"
    __table_args__ = (
        UniqueConstraint("masterplan_id", "code"),
        Index("ix_indicator_region_programme", "region_id", "programme_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    masterplan_id: Mapped[int] = mapped_column(ForeignKey("masterplan.id", ondelete="CASCADE"))
    programme_id: Mapped[int | None] = mapped_column(
        ForeignKey("programme.id", ondelete="CASCADE"), default=None
    )
    dimension: Mapped[str] = mapped_column(String(30))
    element: Mapped[str | None] = mapped_column(String(40), default=None)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(300))
    unit: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(6), default="higher")
    baseline_year: Mapped[int | None] = mapped_column(default=None)
    baseline_value: Mapped[Decimal | None] = mapped_column(Numeric(20, 4), default=None)
    # free text about where the values come from; superseded by data_source, kept for the API and old rows
    source: Mapped[str] = mapped_column(String(80), default="")
    # the figure realisations are computed from (a key of citizen.figures.SOURCES); None = entered by hand
    data_source: Mapped[str | None] = mapped_column(String(80), default=None)

    targets: Mapped[list[IndicatorTarget]] = relationship(
        cascade="all, delete-orphan", order_by="IndicatorTarget.year"
    )
    realisations: Mapped[list[Realisation]] = relationship(
        cascade="all, delete-orphan", order_by="Realisation.year"
    )


class IndicatorTarget(RegionOwned, Base):
    __tablename__ = "indicator_target"
    __table_args__ = (UniqueConstraint("indicator_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column()
    value: Mapped[Decimal] = mapped_column(Numeric(20, 4))


class Evidence(RegionOwned, Base):
    """An uploaded file (checked for type and size) kept in the file store; the row holds its metadata."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    storage_key: Mapped[str] = mapped_column(String(120), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), default=None
    )
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Realisation(RegionOwned, Base):
    __tablename__ = "realisation"
    __table_args__ = (UniqueConstraint("indicator_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column()
    value: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    note: Mapped[str] = mapped_column(String(1000), default="")
    evidence_url: Mapped[str | None] = mapped_column(String(500), default=None)
    evidence_id: Mapped[int | None] = mapped_column(
        ForeignKey("evidence.id", ondelete="SET NULL"), default=None
    )
    evidence: Mapped[Evidence | None] = relationship()
    entered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), default=None
    )
    entered_by_label: Mapped[str] = mapped_column(String(200), default="")
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
