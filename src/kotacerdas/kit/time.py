"""Time: timezone-aware UTC inside; the region's zone (WIB, WITA, WIT) at the edges."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

ZONES = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}


def utcnow() -> datetime:
    return datetime.now(UTC)


def zone(name: str) -> ZoneInfo:
    """``WIB``/``WITA``/``WIT`` or an IANA name."""
    return ZoneInfo(ZONES.get(name, name))


def to_local(moment: datetime, zone_name: str) -> datetime:
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(zone_name))


def current_year(zone_name: str = "WIB") -> int:
    return utcnow().astimezone(zone(zone_name)).year
