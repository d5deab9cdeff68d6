"""Report deadlines in Indonesian working days (LAPOR!-SP4N: verification 3, the office's follow-up 5,
the reporter's answer 10) and what the deadline check does when they pass, on SQLite and PostgreSQL.

Reports are filed and moved through the service with fixed dates (the API uses the real clock); what
they became is read back through the API. The deadline check runs as the worker runs it
(``check_deadlines`` on the session factory) and as ``kotacerdas reports check-deadlines``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pytest
from citizendata import IN_SUMBERSARI
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import ANONYMOUS, Principal
from kotacerdas.citizen import categories, reports
from kotacerdas.citizen.deadlines import check_deadlines
from kotacerdas.citizen.models import CitizenOutbox, Report, ReportEvent
from kotacerdas.cli import app as cli_app
from kotacerdas.config import get_settings
from kotacerdas.db import make_engine, make_session_factory, unit_of_work
from kotacerdas.kit.time import zone
from kotacerdas.region import service as regions

R = "/api/v1/regions/35.09"
WIB, WITA = zone("WIB"), zone("WITA")


def end_of(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=tz).astimezone(UTC)


def wib(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment given in WIB wall-clock time, in UTC (the services store what they are given; SQLite
    keeps no offset, so every moment handed to them is UTC, as in production)."""
    return datetime(year, month, day, hour, minute, tzinfo=WIB).astimezone(UTC)


def utc(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def file_at(db: Session, world: dict[str, Any], when: datetime, **overrides: Any) -> Report:
    fields: dict[str, Any] = {
        "principal": ANONYMOUS,
        "region_id": world["jember"].id,
        "category_id": world["categories"]["road"].id,
        "title": "Jalan berlubang di Jl. Kalimantan",
        "description": "Lubang besar di depan kampus.",
        "lat": IN_SUMBERSARI[0],
        "lon": IN_SUMBERSARI[1],
        "reporter_email": "siti@example.id",
        "now": when,
    }
    fields.update(overrides)
    report = reports.file_report(db, **fields).report
    db.commit()
    return report


def admin_principal(world: dict[str, Any]) -> Principal:
    return auth.principal_for_user(world["users"]["admin"])


def read(client: Any, report: Report) -> dict[str, Any]:
    """The report as the region admin sees it through the API."""
    resp = client.get(f"{R}/reports/{report.tracking_no}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


@pytest.fixture
def admin(client: Any, reporting: dict[str, Any]) -> Any:
    return client.login(reporting["users"]["admin"].email, reporting["password"])


# ------------------------------------------------------------------------------ the deadlines


def test_a_report_filed_the_friday_before_idul_fitri_is_due_the_thursday_after_the_cuti_bersama(
    db: Session, reporting: dict[str, Any], admin: Any
) -> None:
    # Friday 28 March 2025 is itself cuti bersama (Nyepi). Idul Fitri: Monday 31 March and Tuesday
    # 1 April; cuti bersama 2, 3, 4 and 7 April. The working days after the filing: Tuesday 8 April
    # (1), Wednesday 9 (2), Thursday 10 (3).
    report = file_at(db, reporting, wib(2025, 3, 28, 16, 0))
    seen = read(admin, report)
    assert utc(seen["verify_due_at"]) == end_of(date(2025, 4, 10), WIB)
    assert utc(seen["verify_due_at"]) == datetime(2025, 4, 10, 16, 59, 59, tzinfo=UTC)
    assert seen["due_at"] == seen["verify_due_at"]
    assert (end_of(date(2025, 4, 10), WIB) - wib(2025, 3, 28, 16, 0)).days == 13


def test_a_friday_filing_without_holidays_is_due_at_the_end_of_wednesday(
    db: Session, reporting: dict[str, Any], admin: Any
) -> None:
    report = file_at(db, reporting, wib(2025, 2, 7, 16, 0))
    assert utc(read(admin, report)["verify_due_at"]) == end_of(date(2025, 2, 12), WIB)


def test_a_regional_day_off_declared_through_the_api_pushes_the_deadline_by_a_day(
    db: Session, reporting: dict[str, Any], admin: Any
) -> None:
    friday = wib(2025, 2, 7, 16, 0)
    before = file_at(db, reporting, friday)
    resp = admin.post(f"{R}/days-off", json={"day": "2025-02-11", "name": "Hari Jadi Kabupaten (uji)"})
    assert resp.status_code == 201, resp.text
    after = file_at(db, reporting, friday)
    assert utc(read(admin, before)["verify_due_at"]) == end_of(date(2025, 2, 12), WIB)  # already set
    assert utc(read(admin, after)["verify_due_at"]) == end_of(date(2025, 2, 13), WIB)
    # the day off belongs to Jember only: Probolinggo's calendar is untouched
    pbl = categories.calendar_for(db, region_id=reporting["probolinggo"].id)
    assert pbl.is_working_day(date(2025, 2, 11))


def test_a_wita_region_counts_its_own_local_day(db: Session, reporting: dict[str, Any]) -> None:
    denpasar = regions.create_region(
        session=db,
        code="51.71",
        name="Kota Denpasar",
        kind="kota",
        province="Bali",
        timezone="WITA",
        abbreviation="DPS",
    )
    principal = Principal(kind="user", label="Admin Denpasar", role="region_admin", region_id=denpasar.id)
    category = categories.create_category(
        db, principal=principal, region_id=denpasar.id, code="jalan-rusak", name="Jalan rusak"
    )
    db.commit()
    # 16:30 UTC on Thursday 6 February: 23:30 Thursday in Jember (WIB), 00:30 Friday in Denpasar (WITA)
    moment = datetime(2025, 2, 6, 16, 30, tzinfo=UTC)
    in_bali = file_at(
        db,
        reporting,
        moment,
        region_id=denpasar.id,
        category_id=category.id,
        lat=None,
        lon=None,
        address="Jl. Gajah Mada",
    )
    in_jember = file_at(db, reporting, moment)
    assert reports.aware(in_bali.verify_due_at) == end_of(date(2025, 2, 12), WITA)  # Fri 7 -> Wed 12
    assert reports.aware(in_bali.verify_due_at) == datetime(2025, 2, 12, 15, 59, 59, tzinfo=UTC)
    assert reports.aware(in_jember.verify_due_at) == end_of(date(2025, 2, 11), WIB)  # Thu 6 -> Tue 11
    assert in_bali.tracking_no.startswith("DPS-2025-")


def test_the_office_has_five_working_days_and_the_reporter_ten(
    db: Session, reporting: dict[str, Any], admin: Any
) -> None:
    report = file_at(db, reporting, wib(2025, 2, 7, 9, 0))
    boss = admin_principal(reporting)
    # disposed Monday 10 February: Tue 11, Wed 12, Thu 13, Fri 14, Mon 17
    reports.dispose_report(db, principal=boss, report=report, now=wib(2025, 2, 10, 10, 0))
    db.commit()
    seen = read(admin, report)
    assert utc(seen["respond_due_at"]) == end_of(date(2025, 2, 17), WIB)
    assert seen["due_at"] == seen["respond_due_at"]
    # the follow-up on Tuesday 15 April: 10 working days skip Good Friday (18 April) -> Wednesday 30 April
    reports.respond_report(
        db,
        principal=boss,
        report=report,
        note="Sudah ditambal.",
        now=wib(2025, 4, 15, 10, 0),
    )
    db.commit()
    seen = read(admin, report)
    assert utc(seen["close_due_at"]) == end_of(date(2025, 4, 30), WIB)
    assert seen["due_at"] == seen["close_due_at"] and seen["state"] == "responded"


# ------------------------------------------------------------------------------ the check


def _events(db: Session, report: Report, kind: str) -> list[ReportEvent]:
    return list(
        db.scalars(select(ReportEvent).where(ReportEvent.report_id == report.id, ReportEvent.kind == kind))
    )


def _outbox_to(db: Session, report: Report, target: str) -> list[CitizenOutbox]:
    return list(
        db.scalars(
            select(CitizenOutbox)
            .where(CitizenOutbox.report_id == report.id, CitizenOutbox.target == target)
            .order_by(CitizenOutbox.id)
        )
    )


def test_an_overdue_report_is_escalated_once_to_the_region_admin(
    db: Session,
    reporting: dict[str, Any],
    admin: Any,
    client: Any,
    session_factory: sessionmaker[Session],
    connection: Connection,
) -> None:
    report = file_at(db, reporting, wib(2025, 2, 7, 16, 0))  # due end of Wed 12 Feb
    on_time = file_at(db, reporting, wib(2025, 2, 12, 9, 0))  # due end of Mon 17 Feb
    assert check_deadlines(session_factory, now=end_of(date(2025, 2, 12), WIB)) == 0  # not yet late

    thursday = wib(2025, 2, 13, 9, 0)
    assert check_deadlines(session_factory, now=thursday) == 1
    assert check_deadlines(session_factory, now=thursday + timedelta(hours=1)) == 0
    # a restart: a new process has only the database, and repeats nothing
    fresh = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    assert check_deadlines(fresh, now=thursday + timedelta(days=1)) == 0

    db.expire_all()
    assert reports.aware(report.escalated_at) == thursday
    assert report.state == "submitted" and on_time.escalated_at is None
    assert len(_events(db, report, "escalated")) == 1
    staff = [e["kind"] for e in admin.get(f"{R}/reports/{report.tracking_no}/timeline").json()]
    assert staff == ["submitted", "escalated"]
    admin.post("/api/v1/auth/logout")
    public = [e["kind"] for e in client.get(f"{R}/reports/{report.tracking_no}/timeline").json()]
    assert public == ["submitted"]  # the escalation is internal
    mails = _outbox_to(db, report, reporting["users"]["admin"].email)
    assert len(mails) == 1 and report.tracking_no in mails[0].subject and mails[0].kind == "email"
    # the reporter heard only of the filing, not of the internal escalation
    assert len(_outbox_to(db, report, "siti@example.id")) == 1


def test_each_stage_is_escalated_once_and_a_new_stage_starts_clean(
    db: Session, reporting: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    report = file_at(db, reporting, wib(2025, 2, 7, 16, 0))
    assert check_deadlines(session_factory, now=wib(2025, 2, 13, 9, 0)) == 1
    db.expire_all()
    # disposed late on Thursday 13 February: the office's deadline is Thursday 20 February
    reports.dispose_report(
        db, principal=admin_principal(reporting), report=report, now=wib(2025, 2, 13, 10, 0)
    )
    db.commit()
    assert report.escalated_at is None
    assert check_deadlines(session_factory, now=wib(2025, 2, 20, 23, 0)) == 0
    assert check_deadlines(session_factory, now=wib(2025, 2, 21, 8, 0)) == 1
    assert check_deadlines(session_factory, now=wib(2025, 2, 24, 8, 0)) == 0
    db.expire_all()
    escalations = _events(db, report, "escalated")
    assert [(e.from_state, e.public) for e in escalations] == [("submitted", False), ("disposed", False)]


def test_a_responded_report_without_an_answer_closes_as_no_answer(
    db: Session, reporting: dict[str, Any], admin: Any, session_factory: sessionmaker[Session]
) -> None:
    report = file_at(db, reporting, wib(2025, 2, 3, 9, 0))
    boss = admin_principal(reporting)
    reports.dispose_report(db, principal=boss, report=report, now=wib(2025, 2, 3, 10, 0))
    reports.respond_report(
        db, principal=boss, report=report, note="Sudah ditambal.", now=wib(2025, 2, 4, 10, 0)
    )
    db.commit()
    # 10 working days after Tuesday 4 February: Tuesday 18 February
    assert utc(read(admin, report)["close_due_at"]) == end_of(date(2025, 2, 18), WIB)
    assert check_deadlines(session_factory, now=wib(2025, 2, 18, 20, 0)) == 0
    assert check_deadlines(session_factory, now=wib(2025, 2, 19, 0, 5)) == 1
    assert check_deadlines(session_factory, now=wib(2025, 2, 20, 0, 5)) == 0
    seen = read(admin, report)
    assert (seen["state"], seen["resolution"], seen["due_at"]) == ("closed", "no_answer", None)
    timeline = admin.get(f"{R}/reports/{report.tracking_no}/timeline").json()
    assert [e["kind"] for e in timeline] == ["submitted", "disposed", "responded", "closed"]
    assert timeline[-1]["public"] is True
    db.expire_all()
    assert _events(db, report, "escalated") == []
    # the reporter hears of the closing (filed, disposed, responded, closed)
    assert len(_outbox_to(db, report, "siti@example.id")) == 4


def test_many_overdue_reports_are_handled_in_batches(
    db: Session, reporting: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    filed = [file_at(db, reporting, wib(2025, 2, 3, 9, n)) for n in range(5)]
    assert check_deadlines(session_factory, now=wib(2025, 3, 3), batch=2) == 5
    db.expire_all()
    assert all(r.escalated_at is not None for r in filed)


# ------------------------------------------------------------------------------------ the CLI


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str) -> Iterator[str]:
    """A database of its own (the command commits for real), with a report three weeks overdue."""
    if backend != "sqlite":
        pytest.skip("the command is exercised once, on a SQLite database of its own")
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("KOTACERDAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KOTACERDAS_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    from kotacerdas import migrate

    migrate.upgrade(engine)
    with unit_of_work(make_session_factory(engine), write=True) as session:
        region = regions.create_region(
            session=session, code="35.09", name="Kabupaten Jember", kind="kabupaten", province="Jawa Timur"
        )
        admin = auth.create_user(
            session,
            email="admin@jember.go.id",
            full_name="Admin",
            password="rahasia-yang-panjang",
            role="region_admin",
            region_id=region.id,
        )
        category = categories.create_category(
            session,
            principal=auth.principal_for_user(admin),
            region_id=region.id,
            code="jalan-rusak",
            name="Jalan rusak",
        )
        reports.file_report(
            session,
            principal=ANONYMOUS,
            region_id=region.id,
            category_id=category.id,
            title="Lampu jalan mati",
            description="Sudah sebulan.",
            address="Jl. Kartini",
            now=datetime.now(UTC) - timedelta(days=21),
        )
    engine.dispose()
    yield url
    get_settings.cache_clear()


def test_the_check_deadlines_command_escalates_once(cli_database: str) -> None:
    runner = CliRunner()
    first = runner.invoke(cli_app, ["reports", "check-deadlines"])
    assert first.exit_code == 0, first.output
    assert "1" in first.output
    again = runner.invoke(cli_app, ["reports", "check-deadlines"])
    assert again.exit_code == 0, again.output
    assert ": 0" in again.output
    engine = make_engine(cli_database)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            escalated = session.scalars(select(ReportEvent.kind).where(ReportEvent.kind == "escalated")).all()
            queued = session.scalars(
                select(CitizenOutbox.target).where(CitizenOutbox.target == "admin@jember.go.id")
            ).all()
    finally:
        engine.dispose()
    assert escalated == ["escalated"]
    assert queued == ["admin@jember.go.id"]
