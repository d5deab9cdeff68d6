"""Sending the citizen outbox (``citizen_outbox``): e-mail over SMTP and office webhooks, after commit.

``notify`` queues the rows in the transaction of the change, so nothing is sent for a change that
rolled back. ``deliver_pending`` then works in three steps, and no transaction is open while it talks
to the network:

1. **Claim** (one write transaction): the due rows (not sent, not dead, ``next_attempt_at`` passed)
   get ``attempts + 1`` and ``next_attempt_at`` pushed ``LEASE`` ahead. On PostgreSQL the rows are
   locked with ``FOR UPDATE SKIP LOCKED``; on SQLite the write transaction is already exclusive. Two
   workers therefore never send the same row at the same time.
2. **Send** each row: e-mail through ``smtplib`` (one connection per batch), a webhook as an HTTP POST
   of the row's JSON body, signed with HMAC-SHA256 of the office's secret when it has one.
3. **Record** each outcome at once (a small write transaction): ``sent_at``; or the error, with the
   next try after 30 s, 1 min, 2 min ... (at most 6 h); or ``dead`` after ``notify_max_attempts``
   attempts, or at once when the SMTP server refuses the address for good (5xx).

Delivery is at least once: a worker that dies between sending and recording sends that row again
when its lease ends. Counting the attempt when claiming means even a message that crashes the worker
is given up after ``notify_max_attempts``.

Without ``smtp_host`` e-mail rows stay pending (they go out once SMTP is configured) and a warning is
logged once per process; webhooks are still sent. Webhooks go through ``kotacerdas.kit.outbound``
(server-side request forgery): a URL whose name resolves to a loopback, private or link-local address
the operator has not allowed is not contacted, and the attempt fails with that reason in
``last_error``, so a channel that was accepted when it was added cannot be turned into a request to
an internal service later by changing its DNS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

import httpx
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session, object_session, sessionmaker

from kotacerdas.citizen.models import OUTBOX_KINDS, CitizenOutbox
from kotacerdas.config import Settings
from kotacerdas.db import after_commit, unit_of_work
from kotacerdas.kit.outbound import OutboundPolicy, guarded_client
from kotacerdas.kit.time import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)  # a claimed row is left alone this long by other workers
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=6)
ERROR_CHARS = 500


@dataclass
class DeliveryStats:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0  # failed, tried again later
    dead: int = 0  # given up
    waiting_email: int = 0  # e-mail due but held back: no SMTP server configured
    limit: int = 0

    @property
    def full(self) -> bool:
        """The batch was full: more rows may be due right now."""
        return self.claimed > 0 and self.claimed >= self.limit


@dataclass(frozen=True)
class _Job:
    id: int
    kind: str
    target: str
    subject: str
    body: str
    secret: str
    attempts: int  # including this one


class PermanentFailure(Exception):
    """The message can never be delivered as it is (the address is refused for good)."""


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min ... at most 6 h."""
    delay: timedelta = FIRST_RETRY * (2 ** min(max(0, attempts - 1), 20))
    return min(delay, MAX_RETRY)


# -------------------------------------------------------------------- waking the worker at once

_listeners: weakref.WeakSet[threading.Event] = weakref.WeakSet()


def listen(wake: threading.Event) -> None:
    """``wake`` is set whenever a unit of work of this process commits outbox rows."""
    _listeners.add(wake)


def _wake_listeners() -> None:
    for wake in list(_listeners):
        wake.set()


@event.listens_for(CitizenOutbox, "after_insert")
def _queued(_mapper: Any, _connection: Any, target: CitizenOutbox) -> None:
    session = object_session(target)
    if session is not None and _wake_listeners not in session.info.get("after_commit", []):
        after_commit(session, _wake_listeners)


# -------------------------------------------------------------------------------- the steps

_warned_no_smtp = False


def _warn_no_smtp_once(count: int) -> None:
    global _warned_no_smtp
    if not _warned_no_smtp:
        _warned_no_smtp = True
        log.warning(
            "%s e-mail notification(s) wait: KOTACERDAS_SMTP_HOST is not set; "
            "they are sent once it is (this warning is logged once)",
            count,
        )


def _claim(
    session_factory: sessionmaker[Session], settings: Settings, now: datetime, limit: int
) -> tuple[list[_Job], int]:
    """Claim the due rows; also returns how many e-mails are held back for want of an SMTP server.
    A read transaction looks first, so an idle poll never takes SQLite's write lock."""
    due = [
        CitizenOutbox.sent_at.is_(None),
        CitizenOutbox.dead.is_(False),
        CitizenOutbox.next_attempt_at <= now,
    ]
    held = 0
    with unit_of_work(session_factory) as session:
        if not settings.smtp_host:
            counted = (
                select(func.count()).select_from(CitizenOutbox).where(*due, CitizenOutbox.kind == "email")
            )
            held = session.scalar(counted) or 0
            # an IN list, not "!= email": a range of the pending index, not a scan past every e-mail
            due.append(CitizenOutbox.kind.in_([k for k in OUTBOX_KINDS if k != "email"]))
        if session.scalar(select(CitizenOutbox.id).where(*due).limit(1)) is None:
            return [], held
    with unit_of_work(session_factory, write=True) as session:
        stmt = select(CitizenOutbox).where(*due).order_by(CitizenOutbox.next_attempt_at, CitizenOutbox.id)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = session.scalars(stmt.limit(limit)).all()
        jobs = []
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + LEASE
            jobs.append(_Job(row.id, row.kind, row.target, row.subject, row.body, row.secret, row.attempts))
    return jobs, held


def _record(
    session_factory: sessionmaker[Session],
    settings: Settings,
    job: _Job,
    error: str | None,
    *,
    now: datetime,
    permanent: bool = False,
) -> str:
    """Store the outcome of one attempt; returns "sent", "retrying" or "dead"."""
    now = max(now, utcnow())
    if error is None:
        values: dict[str, Any] = {"sent_at": now, "last_error": ""}
        outcome = "sent"
    elif permanent or job.attempts >= settings.notify_max_attempts:
        values = {"dead": True, "last_error": error[:ERROR_CHARS]}
        outcome = "dead"
    else:
        values = {"next_attempt_at": now + retry_delay(job.attempts), "last_error": error[:ERROR_CHARS]}
        outcome = "retrying"
    with unit_of_work(session_factory, write=True) as session:
        session.execute(
            update(CitizenOutbox)
            .where(CitizenOutbox.id == job.id, CitizenOutbox.sent_at.is_(None))
            .values(**values)
        )
    if outcome != "sent":
        log.warning(
            "citizen %s to %s failed (attempt %s, %s): %s", job.kind, job.target, job.attempts, outcome, error
        )
    return outcome


# ------------------------------------------------------------------------------------ e-mail


class _Mailer:
    """One SMTP connection for a batch, opened at the first e-mail. When the server cannot be reached,
    the rest of the batch fails with the same error instead of waiting out the timeout again."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None
        self.connect_error: str | None = None
        _name, address = parseaddr(settings.smtp_from)
        self.domain = address.rpartition("@")[2] or "localhost"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.notify_timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.notify_timeout)
            if s.smtp_security == "starttls":
                smtp.starttls(context=context)
        if s.smtp_username:
            smtp.login(s.smtp_username, s.smtp_password)
        return smtp

    def message(self, job: _Job) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.smtp_from
        msg["To"] = job.target
        msg["Subject"] = job.subject
        msg["Date"] = format_datetime(utcnow())
        msg["Message-ID"] = make_msgid(domain=self.domain)
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        # quoted-printable: 7-bit safe for any relay, and still readable in the raw message
        msg.set_content(job.body, charset="utf-8", cte="quoted-printable")
        return msg

    def send(self, job: _Job) -> None:
        if self.connect_error is not None:
            raise OSError(self.connect_error)
        if self.smtp is None:
            try:
                self.smtp = self._connect()
            except (OSError, smtplib.SMTPException) as exc:
                self.connect_error = f"SMTP {self.settings.smtp_host}:{self.settings.smtp_port}: {exc!r}"
                raise OSError(self.connect_error) from exc
        try:
            self.smtp.send_message(self.message(job))
        except smtplib.SMTPRecipientsRefused as exc:  # the connection is still good (smtplib sent RSET)
            codes = [code for code, _text in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentFailure(repr(exc)) from exc
            raise
        except Exception:
            self.close()  # the next e-mail opens a fresh connection
            raise

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


# ----------------------------------------------------------------------------------- webhooks


def signature(secret: str, body: bytes) -> str:
    """``X-Kotacerdas-Signature``: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _event_of(body: str) -> str:
    try:
        found = json.loads(body).get("event")
    except (ValueError, AttributeError):
        return "report"
    return str(found) if found else "report"


def _post(client: httpx.Client, job: _Job) -> None:
    body = job.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "kotacerdas",
        "X-Kotacerdas-Event": _event_of(job.body),
    }
    if job.secret:
        headers["X-Kotacerdas-Signature"] = signature(job.secret, body)
    response = client.post(job.target, content=body, headers=headers)
    if not 200 <= response.status_code < 300:
        raise OSError(f"HTTP {response.status_code}")


@contextmanager
def _senders(settings: Settings) -> Iterator[tuple[_Mailer, httpx.Client]]:
    mailer = _Mailer(settings)
    client = guarded_client(
        OutboundPolicy.from_settings(settings), timeout=settings.notify_timeout, follow_redirects=False
    )
    try:
        yield mailer, client
    finally:
        mailer.close()
        client.close()


# ----------------------------------------------------------------------------------- the entry


def deliver_pending(
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = 100,
) -> DeliveryStats:
    """Send the outbox rows that are due (at most ``limit``) and record each outcome."""
    now = (now or utcnow()).astimezone(UTC)  # SQLite compares the stored UTC wall-clock text
    jobs, held = _claim(session_factory, settings, now, limit)
    stats = DeliveryStats(claimed=len(jobs), waiting_email=held, limit=limit)
    if held:
        _warn_no_smtp_once(held)
    if not jobs:
        return stats
    with _senders(settings) as (mailer, client):
        for job in jobs:
            error: str | None = None
            permanent = False
            try:
                if job.kind == "email":
                    mailer.send(job)
                else:
                    _post(client, job)
            except PermanentFailure as exc:
                error, permanent = str(exc), True
            except (OSError, httpx.HTTPError) as exc:  # smtplib's errors are OSErrors
                error = str(exc) or repr(exc)
            except Exception as exc:  # a malformed row must not hold up the others
                log.exception("citizen %s %s could not be sent", job.kind, job.id)
                error = repr(exc)
            outcome = _record(session_factory, settings, job, error, now=now, permanent=permanent)
            setattr(stats, outcome, getattr(stats, outcome) + 1)
    return stats
