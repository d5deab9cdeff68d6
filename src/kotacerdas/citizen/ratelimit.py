"""The limit on reports filed without a login, per client address.

Per process, like the login throttle: with N worker processes an address gets up to N x the limit,
and a restart forgets the count. That stops a script from flooding the verifiers' queue from one
address; a reverse proxy's rate limit is the place for a stricter, shared one.
"""

from __future__ import annotations

import threading
import time

from fastapi import Request

from kotacerdas.config import Settings
from kotacerdas.errors import RateLimited
from kotacerdas.i18n import _


class SubmissionLimiter:
    def __init__(self, *, limit: int, window_seconds: float, max_tracked: int = 50_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_tracked = max_tracked
        self._seen: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> None:
        """Count one submission from ``key``; refuse it when the window is full."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._seen.get(key, []) if now - t < self.window]
            if len(recent) >= self.limit:
                self._seen[key] = recent
                raise RateLimited(
                    _("Too many reports from this address. Log in, or try again in {minutes} minutes."),
                    minutes=max(1, int(self.window // 60)),
                )
            if key not in self._seen and len(self._seen) >= self.max_tracked:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = [*recent, now]


def limiter(request: Request, settings: Settings) -> SubmissionLimiter:
    state = request.app.state
    found: SubmissionLimiter | None = getattr(state, "report_limiter", None)
    if found is None:
        found = SubmissionLimiter(
            limit=settings.report_anonymous_limit,
            window_seconds=settings.report_anonymous_window_minutes * 60,
        )
        state.report_limiter = found
    return found


def check_anonymous_submission(request: Request, settings: Settings) -> None:
    client = request.client.host if request.client else "unknown"
    limiter(request, settings).hit(client)
