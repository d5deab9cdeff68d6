"""Tables of hub subscriptions and their notifications (GS CIM 009, 5.8 and 5.11).

- ``hub_subscription``: one row per subscription. ``body`` holds the definition with EXPANDED names
  (types, attributes) and ``context`` the @context it was made with, so it renders back in the
  client's terms. The delivery counters and the notifier's bookkeeping (back-off, throttling,
  periodic due time, which worker is delivering) are columns, updated without touching ``body``.
- ``hub_notify_outbox``: notifications waiting to be delivered (``pending``), delivered (``sent``,
  kept a minute so a restarted notifier knows what it already notified) or given up (``failed``).
- ``hub_notify_cursor``: per region, how far the notifier has read ``hub_entity.modified_at`` and
  ``hub_deleted_entity.deleted_at``, and which worker holds the region (a lease).
- ``hub_deleted_entity``: the last state of deleted entities, written only while a subscription of
  the region asks for ``entityDeleted``; pruned after an hour.

Times are integers: microseconds since the epoch, UTC (as in ``kotacerdas.hub.models``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kotacerdas.db import Base, RegionOwned
from kotacerdas.hub.models import BigId, JsonBody


class HubSubscription(RegionOwned, Base):
    __tablename__ = "hub_subscription"
    __table_args__ = (UniqueConstraint("region_id", "sub_id"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sub_id: Mapped[str] = mapped_column(String(2048))
    body: Mapped[str] = mapped_column(Text)  # the definition as JSON, expanded names
    context: Mapped[str | None] = mapped_column(Text)  # the @context value as JSON (None: core only)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    time_interval: Mapped[float | None] = mapped_column(Float)  # seconds (periodic subscriptions)
    throttling: Mapped[float | None] = mapped_column(Float)  # seconds
    on_delete: Mapped[bool] = mapped_column(Boolean, default=False)  # notificationTrigger entityDeleted
    owner_kind: Mapped[str] = mapped_column(String(8))  # api_key | user
    owner_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id", ondelete="SET NULL"))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    read_private: Mapped[bool] = mapped_column(Boolean, default=False)  # owner may read key-only types
    created_at: Mapped[int] = mapped_column(BigInteger)
    modified_at: Mapped[int] = mapped_column(BigInteger)
    # read-only status (notification.timesSent ...)
    times_sent: Mapped[int] = mapped_column(Integer, default=0)
    times_failed: Mapped[int] = mapped_column(Integer, default=0)
    last_notification: Mapped[int | None] = mapped_column(BigInteger)
    last_success: Mapped[int | None] = mapped_column(BigInteger)
    last_failure: Mapped[int | None] = mapped_column(BigInteger)
    delivery_status: Mapped[str | None] = mapped_column(String(8))  # ok | failed
    # the notifier's bookkeeping
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failed attempts
    retry_at: Mapped[int | None] = mapped_column(BigInteger)  # back-off: no attempt before
    next_allowed: Mapped[int | None] = mapped_column(BigInteger)  # throttling: no attempt before
    next_due: Mapped[int | None] = mapped_column(BigInteger)  # timeInterval: next periodic notification
    delivering_by: Mapped[str | None] = mapped_column(String(80))
    delivering_until: Mapped[int | None] = mapped_column(BigInteger)


class HubNotifyOutbox(Base):
    __tablename__ = "hub_notify_outbox"
    __table_args__ = (
        Index("ix_hub_notify_outbox_state", "state", "subscription_pk"),
        Index("ix_hub_notify_outbox_region", "region_id", "max_modified"),
    )

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    region_id: Mapped[int] = mapped_column(Integer)
    subscription_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("hub_subscription.pk", ondelete="CASCADE"), index=True
    )
    notification_id: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(8))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[str] = mapped_column(Text)  # JSON array: the rendered entities (or GeoJSON features)
    changes: Mapped[str | None] = mapped_column(Text)  # JSON [[entity pk, modified_at], ...] it carries
    max_modified: Mapped[int | None] = mapped_column(BigInteger)
    done_at: Mapped[int | None] = mapped_column(BigInteger)


class HubNotifyCursor(Base):
    __tablename__ = "hub_notify_cursor"

    region_id: Mapped[int] = mapped_column(ForeignKey("region.id", ondelete="CASCADE"), primary_key=True)
    high: Mapped[int] = mapped_column(BigInteger)  # largest hub_entity.modified_at read
    deleted_high: Mapped[int] = mapped_column(BigInteger)  # largest hub_deleted_entity.deleted_at read
    owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[int | None] = mapped_column(BigInteger)


class HubDeletedEntity(RegionOwned, Base):
    __tablename__ = "hub_deleted_entity"
    __table_args__ = (Index("ix_hub_deleted_entity_at", "region_id", "deleted_at"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_id: Mapped[str] = mapped_column(String(2048))
    type: Mapped[str] = mapped_column(String(1024))
    extra_types: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[Any] = mapped_column(JsonBody)
