"""The deadline check the worker runs every minute (and ``kotacerdas reports check-deadlines`` once).

Reports whose running deadline has passed are handled by ``reports.escalate_overdue``: a report
waiting for the reporter's answer closes as "no answer" (LAPOR!-SP4N: 10 working days after the
follow-up); any other open report is escalated to the region admin, once per stage.

It survives restarts by construction: everything it knows is in the database. An escalated report
carries ``escalated_at`` (cleared when the report moves to its next stage) and a closed one is no
longer open, so running the check again, in a fresh process or in two workers at once, repeats
nothing. Each batch is one write transaction; the notifications it queues are sent after commit.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.citizen import reports
from kotacerdas.db import unit_of_work
from kotacerdas.kit.time import utcnow

BATCH = 200


def check_deadlines(
    session_factory: sessionmaker[Session], *, now: datetime | None = None, batch: int = BATCH
) -> int:
    """Escalate or close every overdue report, ``batch`` per transaction; returns how many."""
    now = (now or utcnow()).astimezone(UTC)  # SQLite compares the stored UTC wall-clock text
    total = 0
    while True:
        with unit_of_work(session_factory, write=True) as session:
            handled = reports.escalate_overdue(session, now=now, limit=batch)
        total += handled
        if handled < batch:
            return total
