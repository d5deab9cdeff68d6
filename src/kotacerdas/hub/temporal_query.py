"""The temporal query's parameters (4.11) checked and converted, and attribute instance ids.

Everything here is pure: request strings in, ``TimeQuery`` or ``Aggregation`` out, or BadRequestData
naming the parameter (OperationNotSupported for durations in years or months), so reading and
aggregation take their values as already checked. Instance ids are made and taken apart here
(``instance_uri``, ``instance_key``), for the reads that show them and the edits that name them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kotacerdas.hub.entity import parse_datetime
from kotacerdas.hub.problems import BadRequestData, OperationNotSupported, ResourceNotFound

TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "modifiedAt", "createdAt", "deletedAt")
AGGR_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
INSTANCE_PREFIX = "urn:ngsi-ld:attribute:instance:"
NONE_DATASET = "@none"
MAX_LAST_N = 100_000


@dataclass(frozen=True)
class TimeQuery:
    """The temporal part of a query (4.11). Times are µs since the epoch."""

    timerel: str | None = None
    time_at: int | None = None
    end_time_at: int | None = None
    timeproperty: str = "observedAt"
    last_n: int | None = None

    @property
    def lower(self) -> int | None:
        """The inclusive lower bound of the window, if it has one."""
        return self.time_at if self.timerel in ("after", "between") else None

    @property
    def upper(self) -> int | None:
        """The exclusive upper bound of the window, if it has one."""
        if self.timerel == "before":
            return self.time_at
        return self.end_time_at if self.timerel == "between" else None

    def contains(self, moment: int) -> bool:
        lower, upper = self.lower, self.upper
        return (lower is None or moment >= lower) and (upper is None or moment < upper)


def time_query(
    *,
    timerel: str | None = None,
    time_at: str | None = None,
    end_time_at: str | None = None,
    timeproperty: str | None = None,
    last_n: str | int | None = None,
) -> TimeQuery:
    """Check and convert the temporal query parameters; BadRequestData when they are wrong."""
    prop = timeproperty or "observedAt"
    if prop not in TIME_PROPERTIES:
        raise BadRequestData(f"timeproperty must be one of {', '.join(TIME_PROPERTIES)}, got {prop!r}.")
    n: int | None = None
    if last_n is not None and last_n != "":
        try:
            n = int(last_n)
        except (TypeError, ValueError):
            raise BadRequestData(f"lastN must be a positive integer, got {last_n!r}.") from None
        if n < 1 or n > MAX_LAST_N:
            raise BadRequestData(f"lastN must be between 1 and {MAX_LAST_N}.")
    if not timerel:
        if time_at or end_time_at:
            raise BadRequestData("timeAt and endTimeAt need timerel (before, after or between).")
        return TimeQuery(timeproperty=prop, last_n=n)
    if timerel not in TIMERELS:
        raise BadRequestData(f"timerel must be before, after or between, got {timerel!r}.")
    if not time_at:
        raise BadRequestData("timerel needs timeAt.")
    start = parse_datetime(time_at, what="timeAt")
    end: int | None = None
    if timerel == "between":
        if not end_time_at:
            raise BadRequestData("timerel=between needs endTimeAt.")
        end = parse_datetime(end_time_at, what="endTimeAt")
        if end <= start:
            raise BadRequestData("endTimeAt must be later than timeAt.")
    elif end_time_at:
        raise BadRequestData("endTimeAt is only allowed with timerel=between.")
    return TimeQuery(timerel=timerel, time_at=start, end_time_at=end, timeproperty=prop, last_n=n)


@dataclass(frozen=True)
class Aggregation:
    methods: tuple[str, ...]
    period_us: int  # 0: one period spanning the whole time range


_DURATION = re.compile(
    r"P(?:(?P<Y>\d+)Y)?(?:(?P<MO>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
    r"(?:T(?:(?P<H>\d+)H)?(?:(?P<MI>\d+)M)?(?:(?P<S>\d+(?:[.,]\d{1,6})?)S)?)?"
)
_UNIT_US = {"W": 7 * 86_400_000_000, "D": 86_400_000_000, "H": 3_600_000_000, "MI": 60_000_000}


def parse_duration(text: Any) -> int:
    """An ISO 8601 duration (PT1H, P1D, PT15M, P1W, PT0S) in µs. Years and months have no fixed length
    and are refused (OperationNotSupported); anything malformed is BadRequestData."""
    if not isinstance(text, str) or len(text) > 64:
        raise BadRequestData(f"A duration must be an ISO 8601 string such as PT1H, got {text!r}.")
    clean = text.strip()
    match = _DURATION.fullmatch(clean)
    if match is None or clean in ("P", "PT") or clean.endswith("T"):
        raise BadRequestData(f"{text!r} is not an ISO 8601 duration (P[n]W or P[n]DT[n]H[n]M[n]S).")
    parts = match.groupdict()
    if int(parts["Y"] or 0) or int(parts["MO"] or 0):
        raise OperationNotSupported(
            "Durations in years or months have no fixed length; use days or weeks (P30D, P1W)."
        )
    total = sum(int(parts[unit] or 0) * size for unit, size in _UNIT_US.items())
    seconds = parts["S"]
    if seconds:
        whole, _sep, frac = seconds.replace(",", ".").partition(".")
        total += int(whole) * 1_000_000 + int((frac + "000000")[:6])
    return total


def aggregation(methods: str | Sequence[str] | None, period: str | None) -> Aggregation:
    if methods is None or methods == "" or (not isinstance(methods, str) and not methods):
        raise BadRequestData("aggregatedValues needs aggrMethods (totalCount, sum, avg, min, max ...).")
    names = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else list(methods)
    chosen: list[str] = []
    for name in names:
        if not isinstance(name, str) or name not in AGGR_METHODS:
            raise BadRequestData(f"Unknown aggregation method {name!r}; use {', '.join(AGGR_METHODS)}.")
        if name not in chosen:
            chosen.append(name)
    period_us = parse_duration(period) if period else 0
    return Aggregation(methods=tuple(chosen), period_us=period_us)


def instance_uri(iid: int, index: int = 0) -> str:
    return f"{INSTANCE_PREFIX}{iid:x}" + (f"-{index}" if index else "")


def instance_key(uri: str) -> tuple[int, int]:
    """(row id, index) of an instanceId; ResourceNotFound for ids this hub never made."""
    if not isinstance(uri, str) or ":" not in uri or any(c.isspace() for c in uri):
        raise BadRequestData(f"An instanceId must be a URI, got {uri!r}.")
    rest = uri[len(INSTANCE_PREFIX) :] if uri.startswith(INSTANCE_PREFIX) else ""
    row, _sep, index = rest.partition("-")
    if (
        not row
        or len(row) > 16
        or any(c not in "0123456789abcdef" for c in row)
        or (index and (not index.isdigit() or len(index) > 4))
    ):
        raise ResourceNotFound(f"There is no attribute instance {uri}.")
    return int(row, 16), int(index or 0)
