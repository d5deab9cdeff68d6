"""Hub tables. The latest state of each entity lives apart from its history (DESIGN, Storage).

- ``hub_entity``: one row per entity: the attributes as JSON (expanded IRIs as keys), with the type,
  system times and the bounding box of its ``location`` in indexed columns.
- ``hub_history``: every attribute instance ever written, grouped per entity and instant, keyed by
  entity and time. On PostgreSQL it is partitioned by month on ``ts`` (``kotacerdas.hub.maintenance``).
- ``hub_type_attribute``: which attributes each entity type has been seen with (``/types``, ``/attributes``).
- ``hub_context_doc``: @context documents preloaded by an operator or fetched and kept for offline use.
- ``hub_type_policy``: per region and entity type, whether reading needs a key.
- ``hub_aggregate_cache`` / ``hub_aggregate_epoch``: per-period aggregates of the history, kept for
  temporal aggregation queries (``kotacerdas.hub.aggregate_cache``).

Times are integers: microseconds since the epoch, UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kotacerdas.db import Base, RegionOwned
from kotacerdas.kit.time import utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")
JsonBody = Text().with_variant(JSONB(), "postgresql")


class HubEntity(RegionOwned, Base):
    __tablename__ = "hub_entity"
    __table_args__ = (
        UniqueConstraint("region_id", "entity_id"),
        Index("ix_hub_entity_type", "region_id", "type", "pk"),
        Index("ix_hub_entity_modified", "region_id", "modified_at"),
        # covering: near and the other geo-queries find their candidates without reading a row
        Index("ix_hub_entity_geo", "region_id", "min_lat", "min_lon", "max_lat", "max_lon"),
    )

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_id: Mapped[str] = mapped_column(String(2048))
    type: Mapped[str] = mapped_column(String(1024))
    extra_types: Mapped[str | None] = mapped_column(Text)  # "|iri|iri|" for entities with several types
    created_at: Mapped[int] = mapped_column(BigInteger)
    modified_at: Mapped[int] = mapped_column(BigInteger)
    has_multi: Mapped[bool] = mapped_column(Boolean, default=False)
    min_lon: Mapped[float | None] = mapped_column(Float)
    min_lat: Mapped[float | None] = mapped_column(Float)
    max_lon: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    body: Mapped[Any] = mapped_column(JsonBody)


class HubHistory(Base):
    """The attribute instances one write recorded for one entity at one instant.

    A write's instances are grouped by their time: ``ts`` is the instances' observedAt when
    ``observed``, else the write's modifiedAt. ``attrs`` maps attribute IRIs to the instance (or, for
    several datasetIds, the list of instances), as in ``hub_entity.body``; a deletion is an instance
    with ``deletedAt``. One row per group rather than per attribute keeps the history's index small
    enough for SQLite to take tens of thousands of entity updates a second.
    """

    __tablename__ = "hub_history"
    __table_args__ = {"postgresql_partition_by": "RANGE (ts)"}

    entity_pk: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    iid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    region_id: Mapped[int] = mapped_column(Integer)
    observed: Mapped[bool] = mapped_column(Boolean)
    modified_at: Mapped[int] = mapped_column(BigInteger)
    attrs: Mapped[Any] = mapped_column(JsonBody)


class HubTypeAttribute(RegionOwned, Base):
    __tablename__ = "hub_type_attribute"
    __table_args__ = (UniqueConstraint("region_id", "type", "attribute", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(1024))
    attribute: Mapped[str] = mapped_column(String(2048))
    kind: Mapped[str] = mapped_column(String(32))


class HubContextDoc(Base):
    __tablename__ = "hub_context_doc"

    url: Mapped[str] = mapped_column(String(2048), primary_key=True)
    document: Mapped[Any] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))  # preloaded | fetched
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)


class HubTypePolicy(RegionOwned, Base):
    """Whether an entity type of a region can be read without a key (``public``) or only with one."""

    __tablename__ = "hub_type_policy"
    __table_args__ = (UniqueConstraint("region_id", "type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(1024))
    read: Mapped[str] = mapped_column(String(16))  # public | key
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))


class HubAggregateCache(RegionOwned, Base):
    """The aggregates of one period of one attribute's history, with the stamp of the history rows
    they were computed from (``kotacerdas.hub.aggregate_cache``). ``query_key`` hashes what else
    shapes the figures (attribute, datasetIds, observed rows only, distinctCount); ``phase`` is the
    periods' origin modulo ``period_us``, so queries whose periods line up share rows."""

    __tablename__ = "hub_aggregate_cache"

    entity_pk: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    query_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    period_us: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    phase: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger)
    stamp_count: Mapped[int] = mapped_column(BigInteger)
    stamp_high: Mapped[int] = mapped_column(BigInteger)
    stamp_low: Mapped[int] = mapped_column(BigInteger)
    stats: Mapped[str] = mapped_column(Text)
    used_at: Mapped[int] = mapped_column(BigInteger)


class HubAggregateEpoch(Base):
    """Bumped whenever an entity's history is rewritten in place (same row id and time), which the
    stamps cannot see; cache rows of an older epoch are ignored."""

    __tablename__ = "hub_aggregate_epoch"

    entity_pk: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger)
