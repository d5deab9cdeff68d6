"""Response-time figures of citizen reports per office and region, by month (docs/citizen-figures.md).

A report belongs to the calendar month of its ``submitted_at`` in the region's time zone, and to its
current office (``report.office_id``). For each month (and for the year) the figures are: how many
were submitted and in which state they are now; the medians of the times to verification, to the
first response (from disposition) and to closing; the shares verified and answered within their
deadlines; and the backlog and the overdue reports at the month's end, derived from the stored
timestamps. Figures are public: they hold counts and times, never a report, a category or a person.

Only the columns the figures need are read, each time as seconds since the epoch (a float), so a
year of 100,000 reports is one indexed range read and one pass in Python.

Other domains read figures through this module only. The masterplan turns one into an indicator's
realisation with ``indicator_value``; ``SOURCES`` lists the keys it may name.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import chain, pairwise
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, cast, extract, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from kotacerdas.citizen.models import STATES, Report
from kotacerdas.errors import ValidationFailed
from kotacerdas.i18n import _
from kotacerdas.kit.time import utcnow, zone
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region

HOUR = 3600.0

# key -> English label (a message id). The masterplan stores the key in ``Indicator.data_source``.
SOURCES: dict[str, str] = {
    "reports.answered_within_deadline_share": _("Share of reports answered within the deadline (%)"),
    "reports.verified_within_deadline_share": _("Share of reports verified within the deadline (%)"),
    "reports.median_days_to_first_response": _("Median time from disposition to first response (days)"),
    "reports.median_days_to_close": _("Median time from submission to closing (days)"),
    "reports.count": _("Reports submitted (count)"),
}


@dataclass(frozen=True)
class Figures:
    """The figures of one period (a month or a year) for one office or the whole region.

    Medians are in hours, unrounded; a share is a percentage (0-100) of ``*_counted`` reports, None
    when none was counted. ``backlog`` and ``overdue`` are None for a period that has not begun."""

    submitted: int
    states: dict[str, int]
    median_hours_to_verification: float | None
    median_hours_to_first_response: float | None
    median_hours_to_close: float | None
    verified_counted: int
    verified_within_deadline: int
    answered_counted: int
    answered_within_deadline: int
    backlog: int | None
    overdue: int | None

    @property
    def verified_within_deadline_share(self) -> float | None:
        return _share(self.verified_within_deadline, self.verified_counted)

    @property
    def answered_within_deadline_share(self) -> float | None:
        return _share(self.answered_within_deadline, self.answered_counted)


@dataclass(frozen=True)
class MonthFigures(Figures):
    year: int
    month: int


@dataclass(frozen=True)
class OfficeFigures:
    office_id: int
    short_name: str
    name: str
    figures: Figures


def _share(part: int, whole: int) -> float | None:
    return part * 100.0 / whole if whole else None


def rounded(value: float | None, places: int = 2) -> Decimal | None:
    """Half up (75.625 -> 75.63), as every figure is shown."""
    if value is None:
        return None
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- reading the rows


def _epoch(column: InstrumentedAttribute[Any], dialect: str) -> ColumnElement[float]:
    """The moment as seconds since 1970 (UTC); NULL stays NULL. SQLite keeps UTC text, read by julianday."""
    if dialect == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return cast(extract("epoch", column), Float)


_TIMES = (
    Report.submitted_at,
    Report.verified_at,
    Report.first_response_at,
    Report.closed_at,
    Report.verify_due_at,
    Report.respond_due_at,
    Report.close_due_at,
)


def _rows(
    session: Session,
    *,
    region_id: int,
    start: datetime,
    end: datetime,
    office_id: int | None,
) -> Iterable[Any]:
    """Reports submitted in [start, end), and those submitted before that were still open at ``start``
    (they make up the backlog at the months' ends): the office, the state and
    the moments."""
    dialect = session.get_bind().dialect.name
    conditions = [
        Report.region_id == region_id,
        Report.submitted_at < end,
        or_(Report.submitted_at >= start, Report.closed_at.is_(None), Report.closed_at > start),
    ]
    if office_id is not None:
        conditions.append(Report.office_id == office_id)
    stmt = select(Report.office_id, Report.state, *(_epoch(c, dialect) for c in _TIMES)).where(
        and_(*conditions)
    )
    # plain rows through Core, fetched at once: the ORM's loading, or a fetch per row, adds a third
    return session.connection().execute(stmt).fetchall()


# ---------------------------------------------------------------- adding up


class _Tally:
    """What one scope (an office or the region) collects per month (index 0-11) while the rows go by."""

    def __init__(self) -> None:
        self.submitted = [0] * 12
        self.states: list[dict[str, int]] = [dict.fromkeys(STATES, 0) for _m in range(12)]
        self.to_verification: list[list[float]] = [[] for _m in range(12)]
        self.to_first_response: list[list[float]] = [[] for _m in range(12)]
        self.to_close: list[list[float]] = [[] for _m in range(12)]
        self.verified_counted = [0] * 12
        self.verified_within = [0] * 12
        self.answered_counted = [0] * 12
        self.answered_within = [0] * 12
        self.backlog = [0] * 12
        self.overdue = [0] * 12

    @classmethod
    def merged(cls, tallies: Iterable[_Tally]) -> _Tally:
        """The tallies of several scopes as one (the region's from its offices' and the undisposed)."""
        out = cls()
        for t in tallies:
            for m in range(12):
                for name in _COUNTS:
                    getattr(out, name)[m] += getattr(t, name)[m]
                for name in _DURATIONS:
                    getattr(out, name)[m].extend(getattr(t, name)[m])
                for state, n in t.states[m].items():
                    out.states[m][state] = out.states[m].get(state, 0) + n
        return out

    def sort(self) -> _Tally:
        """Sort every month's durations once, for the medians of the months and of the year."""
        for name in _DURATIONS:
            for values in getattr(self, name):
                values.sort()
        return self

    def figures(self, months: range, *, stock: int | None) -> dict[str, Any]:
        """The figures of the reports submitted in ``months``; the backlog and overdue of month
        ``stock`` (None: not begun)."""
        states = dict.fromkeys(STATES, 0)
        for m in months:
            for state, n in self.states[m].items():
                states[state] = states.get(state, 0) + n
        return {
            "submitted": sum(self.submitted[m] for m in months),
            "states": states,
            "median_hours_to_verification": _median_hours(self.to_verification, months),
            "median_hours_to_first_response": _median_hours(self.to_first_response, months),
            "median_hours_to_close": _median_hours(self.to_close, months),
            "verified_counted": sum(self.verified_counted[m] for m in months),
            "verified_within_deadline": sum(self.verified_within[m] for m in months),
            "answered_counted": sum(self.answered_counted[m] for m in months),
            "answered_within_deadline": sum(self.answered_within[m] for m in months),
            "backlog": None if stock is None else self.backlog[stock],
            "overdue": None if stock is None else self.overdue[stock],
        }


_COUNTS = (
    "submitted",
    "verified_counted",
    "verified_within",
    "answered_counted",
    "answered_within",
    "backlog",
    "overdue",
)
_DURATIONS = ("to_verification", "to_first_response", "to_close")


def _median_hours(seconds: list[list[float]], months: range) -> float | None:
    """The median of the months' values (each month's list sorted already: see ``_Tally.sort``)."""
    # several months: sorted runs one after the other, which Python's sort merges in about linear time
    values = (
        seconds[months[0]] if len(months) == 1 else sorted(chain.from_iterable(seconds[m] for m in months))
    )
    n = len(values)
    if not n:
        return None
    middle = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    return middle / HOUR


def _month_starts(region: Region, year: int) -> list[float]:
    """The 13 instants (as epoch seconds) that begin the months of ``year`` and the next January."""
    tz = zone(region.timezone)
    starts = [datetime(year, m, 1, tzinfo=tz) for m in range(1, 13)]
    starts.append(datetime(year + 1, 1, 1, tzinfo=tz))
    return [s.timestamp() for s in starts]


def _tally(rows: Iterable[Any], *, bounds: list[float], now: float) -> dict[int | None, _Tally]:
    """One pass over the rows: each report adds to the month it was submitted in, and to the backlog
    (and overdue) of every month end at which it was open. Written for speed: a year of a large
    region is 100,000 rows."""
    year_start, year_end = bounds[0], bounds[12]
    # the moment each begun month's backlog is taken: its end, or now for the running month
    cuts = [min(end, now) for start, end in pairwise(bounds) if start <= now]
    last = len(cuts)
    tallies: dict[int | None, _Tally] = {}
    for office, state, sub, ver, first, closed, verify_due, respond_due, close_due in rows:
        t = tallies.get(office)
        if t is None:
            t = tallies[office] = _Tally()
        if year_start <= sub < year_end:
            m = bisect_right(bounds, sub) - 1
            t.submitted[m] += 1
            t.states[m][state] = t.states[m].get(state, 0) + 1
            if ver is not None:
                t.to_verification[m].append(ver - sub)
                if verify_due is not None:
                    t.verified_counted[m] += 1
                    if ver <= verify_due:
                        t.verified_within[m] += 1
                if first is not None:
                    t.to_first_response[m].append(first - ver)
            if state == "closed" and closed is not None:
                t.to_close[m].append(closed - sub)
            if respond_due is not None:
                if first is not None:
                    t.answered_counted[m] += 1
                    if first <= respond_due:
                        t.answered_within[m] += 1
                elif respond_due < now:  # its deadline has passed unanswered: late
                    t.answered_counted[m] += 1
        index = bisect_right(cuts, sub)  # the first month end after the report came in
        while index < last:
            cut = cuts[index]
            if closed is not None and closed <= cut:
                break
            t.backlog[index] += 1
            # the deadline that was running at the cut (docs/citizen-figures.md): now, the one of the
            # report's state (what due_at holds); before, read from the timestamps, the follow-up
            # deadline being the latest one set
            if cut >= now and closed is None:
                deadline = (
                    close_due if state == "responded" else verify_due if state == "submitted" else respond_due
                )
            elif ver is None or ver > cut:
                deadline = verify_due
            elif first is None or first > cut:
                deadline = respond_due
            else:
                deadline = close_due
            if deadline is not None and deadline < cut:
                t.overdue[index] += 1
            index += 1
    return tallies


def _window(region: Region, year: int) -> tuple[list[float], datetime, datetime]:
    if not 2000 <= year <= 2100:
        raise ValidationFailed(details={"year": _("Choose a year between 2000 and 2100.")})
    bounds = _month_starts(region, year)
    start = datetime.fromtimestamp(bounds[0], UTC)
    end = datetime.fromtimestamp(bounds[12], UTC)
    return bounds, start, end


@dataclass(frozen=True)
class YearReport:
    """Everything of one year, from one pass over the reports."""

    months: list[MonthFigures]  # of the region, or of the office asked for
    total: Figures  # the whole year of the same
    offices: list[OfficeFigures]  # the office table, for the year or the month asked for


def year_report(
    session: Session,
    *,
    region_id: int,
    year: int,
    office_id: int | None = None,
    month: int | None = None,
    offices: bool = True,
    now: datetime | None = None,
) -> YearReport:
    """The months and the whole year of the region, or of one office (its current reports), and, with
    ``offices``, the office table of the year or of ``month``: the worst first (the lowest share
    answered within the deadline; offices without a share last; then by short name).

    Reports not yet disposed to an office are in the region's figures only. Without ``offices``, an
    office's figures read only that office's reports."""
    region = regions.get_region(session, region_id)
    bounds, start, end = _window(region, year)
    if month is not None and not 1 <= month <= 12:
        raise ValidationFailed(details={"month": _("Choose a month from 1 to 12.")})
    if office_id is not None:
        regions.get_office(session, region_id=region_id, office_id=office_id)
    moment = (now or utcnow()).timestamp()
    begun = sum(1 for first in bounds[:12] if first <= moment)  # months of the year begun by now
    only = office_id if not offices else None
    rows = _rows(session, region_id=region_id, start=start, end=end, office_id=only)
    tallies = _tally(rows, bounds=bounds, now=moment)
    for each in tallies.values():
        each.sort()
    one = tallies.get(office_id) if office_id is not None else _Tally.merged(tallies.values()).sort()
    tally = one or _Tally()
    months = [
        MonthFigures(**tally.figures(range(m, m + 1), stock=m if m < begun else None), year=year, month=m + 1)
        for m in range(12)
    ]
    total = Figures(**tally.figures(range(12), stock=begun - 1 if begun else None))
    table = []
    if offices:
        if month is None:
            period, stock = range(12), begun - 1 if begun else None
        else:
            period, stock = range(month - 1, month), month - 1 if month <= begun else None
        for office in regions.list_offices(session, region_id=region_id):
            figures = Figures(**(tallies.get(office.id) or _Tally()).figures(period, stock=stock))
            table.append(OfficeFigures(office.id, office.short_name, office.name, figures))
        table.sort(key=_worst_first)
    return YearReport(months, total, table)


def _worst_first(row: OfficeFigures) -> tuple[bool, float, str]:
    share = row.figures.answered_within_deadline_share
    return share is None, share if share is not None else 0.0, row.short_name.lower()


def monthly_figures(
    session: Session, *, region_id: int, year: int, office_id: int | None = None, now: datetime | None = None
) -> list[MonthFigures]:
    """The 12 months of ``year`` for the region, or for one office (its current reports)."""
    return year_report(
        session, region_id=region_id, year=year, office_id=office_id, offices=False, now=now
    ).months


def year_figures(
    session: Session, *, region_id: int, year: int, office_id: int | None = None, now: datetime | None = None
) -> Figures:
    """The whole year: reports submitted in it; backlog and overdue at its end (or now, if earlier)."""
    return year_report(
        session, region_id=region_id, year=year, office_id=office_id, offices=False, now=now
    ).total


def office_table(
    session: Session, *, region_id: int, year: int, month: int | None = None, now: datetime | None = None
) -> list[OfficeFigures]:
    """One row per office of the region, for the year or one month of it, the worst first."""
    return year_report(session, region_id=region_id, year=year, month=month, now=now).offices


def indicator_value(
    session: Session, *, region_id: int, key: str, year: int, office_id: int | None = None
) -> Decimal | None:
    """The figure named by ``key`` (one of ``SOURCES``) for the whole ``year``, as an indicator's
    realisation: shares in percent and medians in days, rounded half up to 2 decimals; None when the
    year has nothing to measure yet (no report answered or past its deadline, say)."""
    if key not in SOURCES:
        raise ValidationFailed(details={"data_source": _("Unknown data source.")})
    figures = year_figures(session, region_id=region_id, year=year, office_id=office_id)
    value: float | None
    if key == "reports.count":
        return Decimal(figures.submitted)
    if key == "reports.answered_within_deadline_share":
        value = figures.answered_within_deadline_share
    elif key == "reports.verified_within_deadline_share":
        value = figures.verified_within_deadline_share
    elif key == "reports.median_days_to_first_response":
        hours = figures.median_hours_to_first_response
        value = None if hours is None else hours / 24
    else:
        hours = figures.median_hours_to_close
        value = None if hours is None else hours / 24
    return rounded(value)
