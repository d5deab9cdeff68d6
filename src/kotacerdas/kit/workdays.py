"""Indonesian working days: the unit of LAPOR!-SP4N deadlines ("3 hari kerja").

A working day is Monday to Friday that is neither a national holiday nor, by default, a *cuti bersama*
(joint leave day set by the SKB of three ministers; the ``holidays`` package lists them in its
``government`` category), nor an extra day the region declares (a regional holiday, a local cuti
bersama). A deadline of N working days after a moment ends at the close (23:59:59, local time) of the
N-th working day after the day the moment falls on, in the region's own time zone: a report filed on
a Friday afternoon before Idul Fitri is due at the end of the third working day after the holiday.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays

from kotacerdas.kit.time import zone

END_OF_DAY = time(23, 59, 59)


@lru_cache(maxsize=64)
def national_holidays(year: int, joint_leave: bool = True) -> frozenset[date]:
    categories: tuple[str, ...] = ("public", "government") if joint_leave else ("public",)
    return frozenset(holidays.country_holidays("ID", years=[year], categories=categories).keys())


@lru_cache(maxsize=64)
def holiday_names(year: int, language: str = "id") -> dict[date, str]:
    found = holidays.country_holidays(
        "ID",
        years=[year],
        categories=("public", "government"),
        language="id" if language == "id" else "en_US",
    )
    return {d: str(name) for d, name in found.items()}


class WorkCalendar:
    """Which days count, for one region: the national list plus the region's own extra days off."""

    def __init__(self, extra_days_off: Iterable[date] = (), *, joint_leave: bool = True) -> None:
        self.extra = frozenset(extra_days_off)
        self.joint_leave = joint_leave

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= 5 or day in self.extra:
            return False
        return day not in national_holidays(day.year, self.joint_leave)

    def add_working_days(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (``day`` itself never counts)."""
        if count < 0:
            raise ValueError("count must not be negative")
        current = day
        remaining = count
        while remaining > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many a deadline had used when ``end`` came."""
        if end <= start:
            return 0
        return sum(
            1 for n in range(1, (end - start).days + 1) if self.is_working_day(start + timedelta(days=n))
        )

    def deadline(self, moment: datetime, working_days: int, zone_name: str = "WIB") -> datetime:
        """The end of the ``working_days``-th working day after ``moment``'s local day, in UTC."""
        tz = zone(zone_name)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local_day = moment.astimezone(tz).date()
        due_day = self.add_working_days(local_day, working_days)
        return datetime.combine(due_day, END_OF_DAY, tzinfo=tz).astimezone(UTC)
