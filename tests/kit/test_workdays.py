"""Indonesian working days (kit.workdays): weekends, national holidays, cuti bersama, a region's own
days off, and deadlines that end at 23:59:59 in WIB, WITA or WIT.

The 2025 dates are the SKB of three ministers as listed by the ``holidays`` package: Nyepi on Saturday
29 March with cuti bersama on Friday 28 March; Idul Fitri on Monday 31 March and Tuesday 1 April with
cuti bersama on 2, 3, 4 and 7 April; Labour Day on Thursday 1 May; Christmas on Thursday 25 December
with cuti bersama on Friday 26 December.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

import pytest

from kotacerdas.kit.time import zone
from kotacerdas.kit.workdays import WorkCalendar, holiday_names, national_holidays

WIB, WITA, WIT = zone("WIB"), zone("WITA"), zone("WIT")


def end_of(day: date, tz: tzinfo) -> datetime:
    """23:59:59 of ``day`` in the zone, in UTC: what every deadline is."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=tz).astimezone(UTC)


def test_weekends_are_not_working_days() -> None:
    calendar = WorkCalendar()
    week = [date(2025, 2, 3) + timedelta(days=n) for n in range(7)]  # Monday 3 .. Sunday 9 February
    assert [calendar.is_working_day(d) for d in week] == [True] * 5 + [False, False]


def test_national_holidays_are_not_working_days() -> None:
    calendar = WorkCalendar()
    assert not calendar.is_working_day(date(2025, 5, 1))  # Labour Day, a Thursday
    assert calendar.is_working_day(date(2025, 5, 2))  # the Friday after it
    assert not calendar.is_working_day(date(2025, 3, 31))  # Idul Fitri, a Monday
    assert "Idul Fitri" in holiday_names(2025, "id")[date(2025, 3, 31)]
    assert holiday_names(2025, "en")[date(2025, 3, 31)] == "Eid al-Fitr"


def test_cuti_bersama_counts_as_a_day_off_unless_switched_off() -> None:
    with_leave, without = WorkCalendar(), WorkCalendar(joint_leave=False)
    for day in (date(2025, 3, 28), date(2025, 4, 2), date(2025, 4, 7), date(2025, 12, 26)):
        assert not with_leave.is_working_day(day), day
        assert without.is_working_day(day), day
    # a real holiday stays a holiday either way
    assert not without.is_working_day(date(2025, 4, 1))
    assert date(2025, 4, 2) in national_holidays(2025) and date(2025, 4, 2) not in national_holidays(
        2025, False
    )


def test_a_regions_extra_days_off_count() -> None:
    plain, regional = WorkCalendar(), WorkCalendar([date(2025, 2, 12)])  # a Wednesday, e.g. Hari Jadi
    assert plain.is_working_day(date(2025, 2, 12))
    assert not regional.is_working_day(date(2025, 2, 12))
    # Friday 7 February + 3 working days: Mon 10, Tue 11, Wed 12 -> Thu 13 when Wednesday is off
    assert plain.add_working_days(date(2025, 2, 7), 3) == date(2025, 2, 12)
    assert regional.add_working_days(date(2025, 2, 7), 3) == date(2025, 2, 13)


def test_working_days_between_counts_the_half_open_interval() -> None:
    calendar = WorkCalendar()
    assert calendar.working_days_between(date(2025, 2, 3), date(2025, 2, 10)) == 5  # (Mon, next Mon]
    assert calendar.working_days_between(date(2025, 2, 7), date(2025, 2, 9)) == 0  # over a weekend
    # the Friday before Idul Fitri to the Thursday after the cuti bersama: only 8, 9 and 10 April count
    assert calendar.working_days_between(date(2025, 3, 28), date(2025, 4, 10)) == 3
    assert calendar.working_days_between(date(2025, 2, 10), date(2025, 2, 10)) == 0
    assert calendar.working_days_between(date(2025, 2, 10), date(2025, 2, 3)) == 0


def test_the_friday_before_idul_fitri_is_due_on_the_thursday_after_the_cuti_bersama() -> None:
    filed = datetime(2025, 3, 28, 16, 0, tzinfo=WIB)
    assert WorkCalendar().deadline(filed, 3, "WIB") == end_of(date(2025, 4, 10), WIB)
    # without cuti bersama the offices reopen on Wednesday 2 April: due Friday 4 April
    assert WorkCalendar(joint_leave=False).deadline(filed, 3, "WIB") == end_of(date(2025, 4, 4), WIB)


def test_a_friday_filing_without_holidays_is_due_at_the_end_of_wednesday() -> None:
    filed = datetime(2025, 2, 7, 16, 0, tzinfo=WIB)
    due = WorkCalendar().deadline(filed, 3, "WIB")
    assert due == end_of(date(2025, 2, 12), WIB)
    assert due == datetime(2025, 2, 12, 16, 59, 59, tzinfo=UTC)  # 23:59:59 WIB is 16:59:59 UTC


def test_the_deadline_runs_across_the_new_year() -> None:
    # Wednesday 24 December 2025: 25 Christmas, 26 cuti bersama, 27-28 weekend, Mon 29 = 1, Tue 30 = 2,
    # Wed 31 = 3, Thu 1 January 2026 New Year, Fri 2 = 4, Mon 5 = 5
    filed = datetime(2025, 12, 24, 9, 0, tzinfo=WIB)
    assert WorkCalendar().deadline(filed, 5, "WIB") == end_of(date(2026, 1, 5), WIB)


def test_the_local_day_decides_in_wib_wita_and_wit() -> None:
    # 16:30 UTC on Thursday 6 February is Thursday 23:30 in WIB but already Friday in WITA and WIT
    moment = datetime(2025, 2, 6, 16, 30, tzinfo=UTC)
    calendar = WorkCalendar()
    assert calendar.deadline(moment, 1, "WIB") == end_of(date(2025, 2, 7), WIB)  # Friday
    assert calendar.deadline(moment, 1, "WITA") == end_of(date(2025, 2, 10), WITA)  # Monday
    assert calendar.deadline(moment, 1, "WIT") == end_of(date(2025, 2, 10), WIT)
    assert calendar.deadline(moment, 1, "WITA") == datetime(2025, 2, 10, 15, 59, 59, tzinfo=UTC)
    assert calendar.deadline(moment, 1, "WIT") == datetime(2025, 2, 10, 14, 59, 59, tzinfo=UTC)
    # an IANA name works as well as the Indonesian abbreviation
    assert calendar.deadline(moment, 1, "Asia/Makassar") == calendar.deadline(moment, 1, "WITA")


def test_a_naive_moment_is_taken_as_utc() -> None:
    calendar = WorkCalendar()
    naive = datetime(2025, 2, 6, 16, 30)  # noqa: DTZ001 - what SQLite hands back
    assert calendar.deadline(naive, 1, "WITA") == calendar.deadline(naive.replace(tzinfo=UTC), 1, "WITA")


def test_zero_working_days_is_the_end_of_the_same_local_day() -> None:
    calendar = WorkCalendar()
    assert calendar.add_working_days(date(2025, 2, 8), 0) == date(2025, 2, 8)  # even a Saturday
    assert calendar.deadline(datetime(2025, 2, 7, 10, 0, tzinfo=WIB), 0, "WIB") == end_of(
        date(2025, 2, 7), WIB
    )


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        WorkCalendar().add_working_days(date(2025, 2, 7), -1)
