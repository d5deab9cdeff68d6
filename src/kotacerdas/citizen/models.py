"""Tables of the citizen domain: categories and their routing, reports and their timeline, photos,
supporters, the region's extra days off, notification channels and outbox, and the service catalogue."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kotacerdas.db import Base, RegionOwned, Timestamped
from kotacerdas.kit.time import utcnow

# The lifecycle (docs/citizen.md):
#   submitted --verify/dispose--> disposed --accept--> in_progress --respond--> responded --close--> closed
#   submitted --reject--> rejected;  responded/closed --reopen--> in_progress;  any open --reassign--> disposed
STATES = ("submitted", "disposed", "in_progress", "responded", "closed", "rejected")
OPEN_STATES = ("submitted", "disposed", "in_progress", "responded")
CLOSED_STATES = ("closed", "rejected")
RESOLUTIONS = ("resolved", "unresolved", "no_answer")
REJECT_REASONS = ("not_authority", "duplicate", "spam")
PRIVACY = ("identified", "anonymous", "confidential")
CHANNELS = ("web", "api", "open311")
# which deadline runs in each open state
STAGE_OF_STATE = {
    "submitted": "verify",
    "disposed": "respond",
    "in_progress": "respond",
    "responded": "close",
}


class ReportCategory(RegionOwned, Timestamped, Base):
    """What a citizen reports about (an Open311 service); routed to an office, optionally per area."""

    __tablename__ = "report_category"
    __table_args__ = (UniqueConstraint("region_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))  # the Open311 service_code
    name: Mapped[str] = mapped_column(String(120))  # Bahasa Indonesia
    name_en: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    group: Mapped[str] = mapped_column(String(60), default="")
    keywords: Mapped[str] = mapped_column(String(300), default="")
    office_id: Mapped[int | None] = mapped_column(ForeignKey("office.id", ondelete="SET NULL"), default=None)
    verify_days: Mapped[int] = mapped_column(default=3)  # LAPOR!-SP4N: verification and disposition
    respond_days: Mapped[int] = mapped_column(default=5)  # the office's follow-up
    close_days: Mapped[int] = mapped_column(default=10)  # closed when the reporter does not answer
    duplicate_radius_m: Mapped[int] = mapped_column(default=100)
    is_private: Mapped[bool] = mapped_column(default=False)  # every report of it is confidential
    open311_type: Mapped[str] = mapped_column(String(10), default="realtime")  # realtime | batch
    # Open311 service-definition attributes: [{code, datatype, required, description, order, values}]
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)


class CategoryRoute(RegionOwned, Base):
    """In this area (a kecamatan) the category goes to another office than its default."""

    __tablename__ = "report_category_route"
    __table_args__ = (UniqueConstraint("category_id", "area_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("report_category.id", ondelete="CASCADE"))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"))
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id", ondelete="CASCADE"))


class RegionDayOff(RegionOwned, Base):
    """A day the region's offices do not work besides the national list (regional holiday, cuti bersama)."""

    __tablename__ = "region_day_off"
    __table_args__ = (UniqueConstraint("region_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(120))


class ReportCounter(Base):
    """The last tracking number given per region and year (JBR-2026-000123)."""

    __tablename__ = "report_counter"

    region_id: Mapped[int] = mapped_column(ForeignKey("region.id", ondelete="CASCADE"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class Report(RegionOwned, Base):
    __tablename__ = "report"
    __table_args__ = (
        UniqueConstraint("region_id", "tracking_no"),
        Index("ix_report_region_state_submitted", "region_id", "state", "submitted_at"),
        Index("ix_report_region_office_state_due", "region_id", "office_id", "state", "due_at"),
        Index("ix_report_region_category_submitted", "region_id", "category_id", "submitted_at"),
        Index("ix_report_region_submitted", "region_id", "submitted_at"),
        Index("ix_report_region_updated", "region_id", "updated_at"),
        Index("ix_report_due", "due_at"),
        Index("ix_report_region_due", "region_id", "due_at"),  # overdue lists of the verifiers
        # the public list's count reads this index alone (not a row of 100,000)
        Index("ix_report_region_public", "region_id", "privacy", "reject_reason"),
        Index(
            "ix_report_region_category_state_submitted", "region_id", "category_id", "state", "submitted_at"
        ),
        Index("ix_report_nearby", "region_id", "category_id", "lat", "lon"),
        # lists by kecamatan (the public list's filter, with category and state)
        Index(
            "ix_report_region_area_category_state",
            "region_id",
            "area_id",
            "category_id",
            "state",
            "submitted_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_no: Mapped[str] = mapped_column(String(24))
    category_id: Mapped[int] = mapped_column(ForeignKey("report_category.id", ondelete="RESTRICT"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("office.id", ondelete="SET NULL"), default=None)
    suggested_office_id: Mapped[int | None] = mapped_column(
        ForeignKey("office.id", ondelete="SET NULL"), default=None
    )
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="SET NULL"), default=None)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(default=None)
    lon: Mapped[float | None] = mapped_column(default=None)
    address: Mapped[str] = mapped_column(String(300), default="")
    privacy: Mapped[str] = mapped_column(String(12), default="identified")
    reporter_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), default=None
    )
    reporter_name: Mapped[str] = mapped_column(String(120), default="")
    reporter_email: Mapped[str] = mapped_column(String(200), default="")
    reporter_phone: Mapped[str] = mapped_column(String(40), default="")
    access_code_hash: Mapped[str] = mapped_column(String(64), default="")  # SHA-256 of the tracking code
    channel: Mapped[str] = mapped_column(String(10), default="web")
    state: Mapped[str] = mapped_column(String(12), default="submitted")
    resolution: Mapped[str | None] = mapped_column(String(12), default=None)
    reject_reason: Mapped[str | None] = mapped_column(String(16), default=None)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("report.id", ondelete="SET NULL"), default=None
    )
    status_note: Mapped[str] = mapped_column(Text, default="")  # the latest public note
    due_at: Mapped[datetime | None] = mapped_column(default=None)  # deadline of the running stage
    verify_due_at: Mapped[datetime | None] = mapped_column(default=None)
    respond_due_at: Mapped[datetime | None] = mapped_column(default=None)
    close_due_at: Mapped[datetime | None] = mapped_column(default=None)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    responded_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)  # the running stage's escalation
    supporters: Mapped[int] = mapped_column(default=0)
    open311_token: Mapped[str | None] = mapped_column(String(40), unique=True, default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # Open311 attribute[...] values
    media_url: Mapped[str] = mapped_column(String(500), default="")


class ReportEvent(RegionOwned, Base):
    """One step of a report's timeline: who did what, when, and the note they left."""

    __tablename__ = "report_event"
    __table_args__ = (Index("ix_report_event_report_at", "report_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # submitted disposed rejected accepted responded closed reopened reassigned escalated supported note
    kind: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(12), default=None)
    to_state: Mapped[str | None] = mapped_column(String(12), default=None)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("office.id", ondelete="SET NULL"), default=None)
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), default=None
    )
    actor_api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL"), default=None
    )
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(default=True)  # shown on the public timeline


class ReportPhoto(RegionOwned, Base):
    __tablename__ = "report_photo"
    __table_args__ = (Index("ix_report_photo_report", "report_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"))
    file_key: Mapped[str] = mapped_column(String(80))
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(default=0)
    height: Mapped[int] = mapped_column(default=0)
    size_bytes: Mapped[int] = mapped_column(default=0)
    position: Mapped[int] = mapped_column(default=1)


class ReportSupport(RegionOwned, Base):
    """A citizen who has the same problem supports an open report instead of filing a duplicate."""

    __tablename__ = "report_support"
    __table_args__ = (UniqueConstraint("report_id", "supporter_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"))
    supporter_key: Mapped[str] = mapped_column(String(64))  # SHA-256 of the user id, e-mail or browser
    email: Mapped[str] = mapped_column(String(200), default="")  # to hear of status changes, if given
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OfficeChannel(RegionOwned, Timestamped, Base):
    """Where an office hears of reports disposed to it: an e-mail address or a webhook URL."""

    __tablename__ = "office_channel"
    __table_args__ = (Index("ix_office_channel_office", "region_id", "office_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # one of OUTBOX_KINDS
    target: Mapped[str] = mapped_column(String(500))
    # webhook bodies are signed with HMAC-SHA256 of this secret (X-Kotacerdas-Signature)
    secret: Mapped[str] = mapped_column(String(80), default="")
    active: Mapped[bool] = mapped_column(default=True)


OUTBOX_KINDS = ("email", "webhook")


class CitizenOutbox(RegionOwned, Base):
    """A message to send after commit (e-mail or webhook); the worker delivers it with retries."""

    __tablename__ = "citizen_outbox"
    # (kind before the time: without SMTP the worker counts the waiting e-mails and looks for due
    # webhooks, both ranges of this index; migration 0011)
    __table_args__ = (Index("ix_citizen_outbox_pending", "sent_at", "dead", "kind", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), default=None)
    kind: Mapped[str] = mapped_column(String(10))  # one of OUTBOX_KINDS
    target: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")  # e-mail text, or the webhook's JSON
    secret: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    dead: Mapped[bool] = mapped_column(default=False)
    last_error: Mapped[str] = mapped_column(String(500), default="")


class PublicService(RegionOwned, Timestamped, Base):
    """A service of the catalogue (Mal Pelayanan Publik): what to bring, what it costs, how long it takes."""

    __tablename__ = "public_service"
    __table_args__ = (
        UniqueConstraint("region_id", "code"),
        Index("ix_public_service_office", "region_id", "office_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    requirements: Mapped[list[str]] = mapped_column(JSON, default=list)
    procedure: Mapped[list[str]] = mapped_column(JSON, default=list)
    fee_rp: Mapped[int] = mapped_column(default=0)  # 0 = free (gratis)
    fee_note: Mapped[str] = mapped_column(String(300), default="")
    duration_days: Mapped[int] = mapped_column(default=1)  # working days
    location_name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None] = mapped_column(default=None)
    lon: Mapped[float | None] = mapped_column(default=None)
    # [{"days": [0..6], "opens": "08:00", "closes": "15:00"}], Monday = 0
    opening_hours: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)  # mpp, counter, online
    online_url: Mapped[str] = mapped_column(String(300), default="")
    legal_basis: Mapped[str] = mapped_column(String(300), default="")
    keywords: Mapped[str] = mapped_column(String(300), default="")
    active: Mapped[bool] = mapped_column(default=True)
