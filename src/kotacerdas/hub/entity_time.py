"""Times in the hub: ISO 8601 date-times to and from microseconds since the epoch (UTC), the
canonical form the hub answers in (2026-11-22T10:00:00.000Z), and the current time.

Stored times are integers (µs, UTC); a naive input time is taken as UTC. The two parse caches
(``_parsed``, ``_canonical``) live here only; each is cleared when it passes 20,000 texts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kotacerdas.hub.problems import BadRequestData

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_datetime(text: Any, *, what: str = "date-time") -> int:
    """An ISO 8601 date-time to microseconds since the epoch (UTC). Naive times are taken as UTC."""
    if isinstance(text, str):
        hit = _parsed.get(text)
        if hit is not None:
            return hit
    us = _parse_datetime(text, what)
    if len(_parsed) > 20_000:
        _parsed.clear()
    _parsed[text] = us
    return us


_parsed: dict[str, int] = {}


def _parse_datetime(text: Any, what: str) -> int:
    if not isinstance(text, str) or len(text) > 64 or len(text) < 10:
        raise BadRequestData(f"{what} must be an ISO 8601 date-time string, got {text!r}.")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequestData(f"{what} is not a valid ISO 8601 date-time: {text!r}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_us(us: int) -> str:
    """Microseconds since the epoch to the canonical form 2026-11-22T10:00:00.000Z."""
    seconds, micro = divmod(us, 1_000_000)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{micro // 1000:03d}Z"


def now_us() -> int:
    delta = datetime.now(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def canonical_datetime(text: Any, *, what: str = "observedAt") -> str:
    if isinstance(text, str):
        hit = _canonical.get(text)
        if hit is not None:
            return hit
    value = format_us(parse_datetime(text, what=what))
    if len(_canonical) > 20_000:
        _canonical.clear()
    _canonical[text] = value
    return value


_canonical: dict[str, str] = {}
