"""Report notifications after commit: e-mail received by a real SMTP server (aiosmtpd on 127.0.0.1)
and webhooks received by a real HTTP server, with retries, back-off and signatures, on SQLite and
PostgreSQL. The last tests run the worker's loop and ``kotacerdas reports deliver`` on a database of
their own (they commit for real).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from citizendata import IN_SUMBERSARI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from kotacerdas.app import create_app
from kotacerdas.auth import service as auth
from kotacerdas.auth.access import ANONYMOUS
from kotacerdas.citizen import categories, delivery, reports
from kotacerdas.citizen.delivery import deliver_pending
from kotacerdas.citizen.models import CitizenOutbox
from kotacerdas.cli import app as cli_app
from kotacerdas.config import Settings, get_settings
from kotacerdas.db import make_engine, make_session_factory, unit_of_work
from kotacerdas.i18n import gettext
from kotacerdas.region import service as regions

R = "/api/v1/regions/35.09"
REPORTER = "siti@example.id"
OFFICE_MAIL = "pengaduan.dishub@jember.go.id"


# ------------------------------------------------------------------------------ the receivers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return str(self.message.get_content()).replace("\r\n", "\n")  # SMTP lines end in CRLF


class Inbox:
    """An aiosmtpd handler: keeps every message; refuses ``hilang@example.id`` for good (550)."""

    REFUSED = "hilang@example.id"

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.arrived = threading.Condition()
        self.port = 0

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook names
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address == self.REFUSED:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.arrived:
            self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
            self.arrived.notify_all()
        return "250 Message accepted"

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.mails if address in m.recipients]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Mail]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.mails) >= count, timeout)
        return list(self.mails)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    yield handler
    controller.stop()


@dataclass
class Hook:
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.raw)
        return found


@dataclass
class Receiver:
    """A webhook endpoint: records each POST, answers with the queued statuses (else 200)."""

    server: ThreadingHTTPServer
    hooks: list[Hook] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/kotacerdas"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            found = holder[0]
            found.hooks.append(Hook({k.lower(): v for k, v in self.headers.items()}, raw))
            status = found.statuses.pop(0) if found.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Receiver(server))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield holder[0]
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------------------------ helpers


def with_smtp(settings: Settings, inbox: Inbox, **changes: Any) -> Settings:
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": inbox.port, **changes})


def file(client: Any, **overrides: Any) -> dict[str, Any]:
    body = {
        "category": "jalan-rusak",
        "title": "Jalan berlubang di Jl. Kalimantan",
        "description": "Lubang besar di depan kampus, berbahaya untuk motor.",
        "lat": IN_SUMBERSARI[0],
        "lon": IN_SUMBERSARI[1],
        "name": "Siti Aminah",
        "email": REPORTER,
        "attributes": {"severity": "berat"},
    }
    body.update(overrides)
    resp = client.post(f"{R}/reports", json=body)
    assert resp.status_code == 201, resp.text
    filed: dict[str, Any] = resp.json()
    return filed


def login(make_client: Any, world: dict[str, Any], who: str) -> Any:
    return make_client().login(world["users"][who].email, world["password"])


def add_channel(admin: Any, world: dict[str, Any], **body: Any) -> None:
    office = world["offices"]["dishub"].id
    resp = admin.post(f"{R}/offices/{office}/channels", json=body)
    assert resp.status_code == 201, resp.text


def both(message: str) -> str:
    return gettext("id", message) + " / " + gettext("en", message)


def outbox(db: Session) -> list[CitizenOutbox]:
    db.expire_all()
    return list(db.scalars(select(CitizenOutbox).order_by(CitizenOutbox.id)))


# ------------------------------------------------------------------------------------ e-mail


def test_the_reporter_hears_of_every_step_and_the_office_of_the_disposition(
    client: Any,
    make_client: Any,
    reporting: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    inbox: Inbox,
) -> None:
    smtp = with_smtp(settings, inbox)
    admin = login(make_client, reporting, "admin")
    add_channel(admin, reporting, kind="email", target=OFFICE_MAIL)
    filed = file(client)
    no, code = filed["report"]["tracking_no"], filed["access_code"]
    assert deliver_pending(session_factory, smtp).sent == 1
    assert admin.post(f"{R}/reports/{no}/dispose", json={"note": "Diteruskan ke Dishub"}).status_code == 200
    dishub = login(make_client, reporting, "dishub")
    assert dishub.post(f"{R}/reports/{no}/accept", json={}).status_code == 200
    assert dishub.post(f"{R}/reports/{no}/respond", json={"note": "Sudah ditambal."}).status_code == 200
    headers = {"X-Report-Code": code}
    assert (
        client.post(f"{R}/reports/{no}/close", json={"resolution": "resolved"}, headers=headers).status_code
        == 200
    )
    stats = deliver_pending(session_factory, smtp)
    assert (stats.sent, stats.retrying, stats.dead) == (5, 0, 0)  # 4 steps to the reporter, 1 to the office

    mails = inbox.to(REPORTER)
    states = [
        "Waiting for verification",
        "Disposed to the office",
        "In progress",
        "Responded",
        "Closed report",
    ]
    assert len(mails) == len(states)
    for mail, state in zip(mails, states, strict=True):
        assert mail.subject.startswith(f"[{no}] ")
        assert mail.subject.startswith(f"[{no}] " + gettext("id", state))  # Bahasa Indonesia first
        assert gettext("en", state) in mail.subject.split(" / ", 1)[1]
        bahasa, english = mail.text.split("\n---\n")
        title = "Jalan berlubang di Jl. Kalimantan"
        assert gettext("id", "Your report {tracking_no}: {title}", tracking_no=no, title=title) in bahasa
        assert gettext("en", "Your report {tracking_no}: {title}", tracking_no=no, title=title) in english
        assert f"/reports/{no}" in bahasa and f"/reports/{no}" in english
        message = mail.message
        assert message.get_content_type() == "text/plain" and not message.is_multipart()
        assert message.get_content_charset() == "utf-8"
        assert message["Message-ID"] and message["From"] == settings.smtp_from
        assert message["To"] == REPORTER and mail.sender == "noreply@localhost"
    assert "Laporan Anda" in mails[0].text.split("\n---\n")[0]  # really in Bahasa Indonesia
    assert "Kode pelacakan" in mails[0].text and "Tracking code" in mails[0].text
    # the tracking code opens the report: only the first e-mail carries it
    assert code in mails[0].text and all(code not in m.text for m in mails[1:])
    assert "Diteruskan ke Dishub" in mails[1].text and "Sudah ditambal." in mails[3].text
    assert len({m.message["Message-ID"] for m in mails}) == len(mails)

    office = inbox.to(OFFICE_MAIL)
    assert len(office) == 1
    assert office[0].subject == both("New report for your office: {tracking_no}").replace("{tracking_no}", no)
    assert "Lubang besar di depan kampus" in office[0].text

    # what was sent is never sent again
    assert deliver_pending(session_factory, smtp).claimed == 0
    assert len(inbox.mails) == 6


def test_nothing_is_sent_for_a_change_that_rolled_back(
    client: Any,
    make_client: Any,
    reporting: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    inbox: Inbox,
    db: Session,
) -> None:
    no = file(client)["report"]["tracking_no"]
    queued = len(outbox(db))
    # a refused request changes nothing and queues nothing
    dishub = login(make_client, reporting, "dishub")
    assert dishub.post(f"{R}/reports/{no}/dispose", json={}).status_code == 403
    assert client.post(f"{R}/reports/{no}/reopen", json={"note": "x"}).status_code in (401, 403)
    assert len(outbox(db)) == queued
    # a disposition that queued its e-mail, then failed before commit
    admin = auth.principal_for_user(reporting["users"]["admin"])
    with pytest.raises(RuntimeError), unit_of_work(session_factory, write=True) as session:
        report = reports.get_report(session, region_id=reporting["jember"].id, tracking_no=no)
        reports.dispose_report(session, principal=admin, report=report)
        assert session.scalar(select(func.count()).select_from(CitizenOutbox)) == queued + 1
        raise RuntimeError("the commit did not happen")
    assert len(outbox(db)) == queued
    deliver_pending(session_factory, with_smtp(settings, inbox))
    assert [
        m.subject.startswith(f"[{no}] " + gettext("id", "Waiting for verification")) for m in inbox.mails
    ] == [True]


def test_an_address_refused_for_good_is_given_up_at_once_and_the_rest_still_go(
    client: Any,
    reporting: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    inbox: Inbox,
    db: Session,
) -> None:
    file(client, email=Inbox.REFUSED)
    file(client)
    stats = deliver_pending(session_factory, with_smtp(settings, inbox))
    assert (stats.sent, stats.dead, stats.retrying) == (1, 1, 0)
    rows = outbox(db)
    assert [(r.target, r.dead, r.sent_at is not None) for r in rows] == [
        (Inbox.REFUSED, True, False),
        (REPORTER, False, True),
    ]
    assert "550" in rows[0].last_error
    assert [m.recipients for m in inbox.mails] == [[REPORTER]]


def test_an_unreachable_smtp_server_is_retried_later(
    client: Any,
    reporting: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    db: Session,
) -> None:
    file(client)
    file(client, email="budi@example.id")
    down = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": free_port(), "notify_timeout": 2.0}
    )
    stats = deliver_pending(session_factory, down)
    assert (stats.claimed, stats.retrying, stats.sent) == (2, 2, 0)
    rows = outbox(db)
    assert all(r.attempts == 1 and not r.dead and r.sent_at is None for r in rows)
    assert all("SMTP 127.0.0.1" in r.last_error for r in rows)


def test_without_an_smtp_host_e_mail_waits_and_a_warning_is_logged_once(
    client: Any,
    make_client: Any,
    reporting: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    inbox: Inbox,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery, "_warned_no_smtp", False)  # once per process: this test is the process
    admin = login(make_client, reporting, "admin")
    add_channel(admin, reporting, kind="webhook", target=receiver.url)
    no = file(client)["report"]["tracking_no"]
    admin.post(f"{R}/reports/{no}/dispose", json={})
    no_smtp = settings.model_copy(update={"smtp_host": ""})
    with caplog.at_level(logging.WARNING, logger="kotacerdas.citizen.delivery"):
        first = deliver_pending(session_factory, no_smtp)
        second = deliver_pending(session_factory, no_smtp)
    assert (first.sent, first.waiting_email) == (1, 2)  # the webhook went; two e-mails wait
    assert (second.claimed, second.waiting_email) == (0, 2)
    warnings = [r for r in caplog.records if "KOTACERDAS_SMTP_HOST" in r.getMessage()]
    assert len(warnings) == 1
    assert len(receiver.hooks) == 1 and inbox.mails == []
    # once SMTP is configured they go out
    assert deliver_pending(session_factory, with_smtp(settings, inbox)).sent == 2
    assert len(inbox.to(REPORTER)) == 2


def test_without_an_smtp_host_the_worker_polls_through_the_pending_index(
    client: Any,
    make_client: Any,
    reporting: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    receiver: Receiver,
    backend: str,
) -> None:
    """The held e-mails are counted and the due webhooks found as ranges of the pending index (by
    kind): a poll does not read every waiting e-mail, however long SMTP stays unset."""
    if backend != "sqlite":
        pytest.skip("SQLite's query plans (PostgreSQL plans by table statistics)")
    admin = login(make_client, reporting, "admin")
    add_channel(admin, reporting, kind="webhook", target=receiver.url)
    for _ in range(3):
        no = file(client)["report"]["tracking_no"]
        admin.post(f"{R}/reports/{no}/dispose", json={})
    statements: list[tuple[str, Any]] = []
    bind = session_factory.kw["bind"]

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "citizen_outbox" in statement:
            statements.append((statement, parameters))

    event.listen(bind.engine, "before_cursor_execute", seen)
    try:
        stats = deliver_pending(session_factory, settings.model_copy(update={"smtp_host": ""}))
    finally:
        event.remove(bind.engine, "before_cursor_execute", seen)
    assert (stats.sent, stats.waiting_email) == (3, 6)  # the webhooks went, the e-mails wait
    assert len(statements) >= 3  # the count, the look and the claim
    for statement, parameters in statements:
        plan = [row[3] for row in bind.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
        outbox = [line for line in plan if "citizen_outbox" in line]
        assert outbox, plan
        for line in outbox:
            assert "INDEX ix_citizen_outbox_pending (sent_at=? AND dead=? AND kind" in line, plan


# ----------------------------------------------------------------------------------- webhooks


def test_a_signed_webhook_carries_the_report_and_a_valid_hmac(
    client: Any,
    make_client: Any,
    reporting: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    receiver: Receiver,
) -> None:
    secret = "rahasia-dishub-0123456789"
    admin = login(make_client, reporting, "admin")
    add_channel(admin, reporting, kind="webhook", target=receiver.url, secret=secret)
    add_channel(admin, reporting, kind="webhook", target=receiver.url + "?unsigned=1")
    no = file(client)["report"]["tracking_no"]
    assert admin.post(f"{R}/reports/{no}/dispose", json={"note": "Mohon segera"}).status_code == 200
    stats = deliver_pending(session_factory, settings)  # no SMTP: only the webhooks
    assert stats.sent == 2
    signed, unsigned = sorted(receiver.hooks, key=lambda h: "x-kotacerdas-signature" not in h.headers)
    expected = "sha256=" + hmac.new(secret.encode(), signed.raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signed.headers["x-kotacerdas-signature"], expected)
    assert "x-kotacerdas-signature" not in unsigned.headers
    for hook in (signed, unsigned):
        assert hook.headers["content-type"] == "application/json"
        assert hook.headers["user-agent"] == "kotacerdas"
        assert hook.headers["x-kotacerdas-event"] == "disposed"
        body = hook.body
        assert (body["event"], body["tracking_no"], body["state"]) == ("disposed", no, "disposed")
        assert body["office_id"] == reporting["offices"]["dishub"].id
        assert body["note"] == "Mohon segera" and body["url"].endswith(f"/reports/{no}")
        assert body["due_at"] is not None
    # a tampered body would not match
    assert hmac.new(secret.encode(), signed.raw + b" ", hashlib.sha256).hexdigest() not in expected
    # sent rows are never sent twice
    assert deliver_pending(session_factory, settings).claimed == 0
    assert deliver_pending(session_factory, settings, now=datetime.now(UTC) + timedelta(days=30)).claimed == 0
    assert len(receiver.hooks) == 2


def test_a_failing_webhook_backs_off_and_is_given_up_after_the_last_attempt(
    client: Any,
    make_client: Any,
    reporting: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    receiver: Receiver,
    db: Session,
) -> None:
    admin = login(make_client, reporting, "admin")
    add_channel(admin, reporting, kind="webhook", target=receiver.url)
    no = file(client)["report"]["tracking_no"]
    admin.post(f"{R}/reports/{no}/dispose", json={})
    three = settings.model_copy(update={"notify_max_attempts": 3})
    receiver.statuses = [500, 503, 500, 500]
    t0 = datetime.now(UTC)

    def row() -> CitizenOutbox:
        (found,) = [r for r in outbox(db) if r.kind == "webhook"]
        return found

    assert deliver_pending(session_factory, three, now=t0).retrying == 1
    first = row()
    assert (first.attempts, first.dead, first.last_error) == (1, False, "HTTP 500")
    wait = reports.aware(first.next_attempt_at) - t0  # type: ignore[operator]
    assert timedelta(seconds=30) <= wait < timedelta(seconds=40)
    assert deliver_pending(session_factory, three, now=t0 + timedelta(seconds=25)).claimed == 0  # backing off
    assert len(receiver.hooks) == 1

    t1 = t0 + timedelta(seconds=45)
    assert deliver_pending(session_factory, three, now=t1).retrying == 1
    second = row()
    assert (second.attempts, second.last_error) == (2, "HTTP 503")
    wait = reports.aware(second.next_attempt_at) - t1  # type: ignore[operator]
    assert timedelta(seconds=60) <= wait < timedelta(seconds=70)  # doubled
    assert deliver_pending(session_factory, three, now=t1 + timedelta(seconds=50)).claimed == 0

    assert deliver_pending(session_factory, three, now=t1 + timedelta(seconds=75)).dead == 1
    last = row()
    assert (last.attempts, last.dead, last.sent_at) == (3, True, None)
    assert deliver_pending(session_factory, three, now=t0 + timedelta(days=2)).claimed == 0
    assert len(receiver.hooks) == 3


def test_a_webhook_that_recovers_is_sent_once(
    client: Any,
    make_client: Any,
    reporting: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    receiver: Receiver,
    db: Session,
) -> None:
    admin = login(make_client, reporting, "admin")
    add_channel(admin, reporting, kind="webhook", target=receiver.url)
    closed_port = f"http://127.0.0.1:{free_port()}/nobody-listens"
    add_channel(admin, reporting, kind="webhook", target=closed_port)
    no = file(client)["report"]["tracking_no"]
    admin.post(f"{R}/reports/{no}/dispose", json={})
    receiver.statuses = [502]
    t0 = datetime.now(UTC)
    assert deliver_pending(session_factory, settings, now=t0).retrying == 2  # a 502 and a refused connection
    assert deliver_pending(session_factory, settings, now=t0 + timedelta(minutes=1)).sent == 1
    for later in (2, 3, 10):
        deliver_pending(session_factory, settings, now=t0 + timedelta(minutes=later))
    assert len(receiver.hooks) == 2 and receiver.hooks[0].raw == receiver.hooks[1].raw
    hooks = {r.target: r for r in outbox(db) if r.kind == "webhook"}
    assert hooks[receiver.url].sent_at is not None and hooks[receiver.url].attempts == 2
    refused = hooks[closed_port]
    assert refused.sent_at is None and refused.attempts >= 2 and refused.last_error


# ------------------------------------------------------- the worker and the command, for real


@pytest.fixture
def own_database(tmp_path: Path, backend: str) -> Iterator[str]:
    """A SQLite database of its own (the worker commits for real), with Jember, its admin and Dishub's
    e-mail channel, and one report filed three weeks ago that nobody verified."""
    if backend != "sqlite":
        pytest.skip("the worker loop is exercised once, on a SQLite database of its own")
    from kotacerdas import migrate

    url = f"sqlite:///{tmp_path / 'citizen-worker.sqlite3'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with unit_of_work(make_session_factory(engine), write=True) as session:
        region = regions.create_region(
            session=session,
            code="35.09",
            name="Kabupaten Jember",
            kind="kabupaten",
            province="Jawa Timur",
            abbreviation="JBR",
        )
        dishub = regions.create_office(
            session, region_id=region.id, name="Dinas Perhubungan", short_name="Dishub"
        )
        admin = auth.create_user(
            session,
            email="admin@jember.go.id",
            full_name="Admin Jember",
            password="rahasia-yang-panjang",
            role="region_admin",
            region_id=region.id,
        )
        principal = auth.principal_for_user(admin)
        category = categories.create_category(
            session,
            principal=principal,
            region_id=region.id,
            code="jalan-rusak",
            name="Jalan rusak",
            office_id=dishub.id,
        )
        reports.file_report(
            session,
            principal=ANONYMOUS,
            region_id=region.id,
            category_id=category.id,
            title="Lampu jalan mati",
            description="Sudah tiga minggu.",
            address="Jl. Kartini",
            now=datetime.now(UTC) - timedelta(days=21),
        )
    engine.dispose()
    yield url


def test_the_embedded_worker_sends_right_after_the_commit_and_escalates_overdue_reports(
    own_database: str, settings: Settings, inbox: Inbox
) -> None:
    from kotacerdas.worker import start_embedded

    # the loop would wait ten minutes between rounds: only the wake after commit can be this quick
    config = with_smtp(settings, inbox, citizen_poll_seconds=600.0)
    engine = make_engine(own_database)
    app = create_app(config, engine=engine)
    stop = start_embedded(app)
    try:
        # at start the deadline check escalates the overdue report to the region admin
        escalation = inbox.wait_for(1)
        assert [m.recipients for m in escalation] == [["admin@jember.go.id"]]
        prefix = gettext("en", "Deadline passed: report {tracking_no}", tracking_no="JBR-")
        assert prefix in escalation[0].subject
        with TestClient(app, base_url="http://127.0.0.1") as client:
            no = file(client, category="jalan-rusak", attributes={})["report"]["tracking_no"]
            got = inbox.wait_for(2)
    finally:
        stop()
    assert len(got) == 2 and got[1].recipients == [REPORTER] and no in got[1].subject
    threads = {t.name for t in threading.enumerate()}
    assert "kc-citizen" not in threads and "kc-notifier" not in threads
    # a restart repeats nothing: the escalation is on the report, the e-mails are marked sent
    again = create_app(config, engine=engine)
    stop = start_embedded(again)
    try:
        with TestClient(again, base_url="http://127.0.0.1") as client:
            file(client, category="jalan-rusak", attributes={}, email="budi@example.id")
            got = inbox.wait_for(3)
    finally:
        stop()
        engine.dispose()
    assert [m.recipients for m in got] == [["admin@jember.go.id"], [REPORTER], ["budi@example.id"]]


def test_the_deliver_command_sends_what_is_due_once(
    own_database: str, tmp_path: Path, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOTACERDAS_DATABASE_URL", own_database)
    monkeypatch.setenv("KOTACERDAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KOTACERDAS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KOTACERDAS_SMTP_PORT", str(inbox.port))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        escalated = runner.invoke(cli_app, ["reports", "check-deadlines"])
        assert escalated.exit_code == 0, escalated.output
        first = runner.invoke(cli_app, ["reports", "deliver"])
        assert first.exit_code == 0, first.output
        assert ": 1;" in first.output  # sent: 1
        again = runner.invoke(cli_app, ["reports", "deliver"])
        assert again.exit_code == 0 and ": 0;" in again.output
    finally:
        get_settings.cache_clear()
    assert [m.recipients for m in inbox.mails] == [["admin@jember.go.id"]]
