"""Filing under load: tracking numbers stay unique and without gaps when reports are filed at the same
moment (threads of one process, separate engines as separate processes would be, and concurrent HTTP
requests through the SQLite writer thread), filings that wait for the writer together commit together
while one that fails rolls back alone, and the kecamatan lookup sees an area's change at once."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from citizendata import IN_KALIWATES, IN_SUMBERSARI, KALIWATES, SUMBERSARI
from sqlalchemy import create_engine, event, make_url, select, text
from sqlalchemy.orm import Session
from starlette.requests import Request

from kotacerdas import migrate
from kotacerdas.app import create_app
from kotacerdas.auth import service as auth
from kotacerdas.auth.access import Principal
from kotacerdas.citizen import categories, reports
from kotacerdas.citizen.models import Report, ReportEvent
from kotacerdas.config import Settings
from kotacerdas.db import (
    after_commit,
    after_rollback,
    make_engine,
    make_session_factory,
    sqlite_writer,
    unit_of_work,
)
from kotacerdas.errors import Conflict
from kotacerdas.region import service as regions
from kotacerdas.web.deps import run_write

THREADS = 4
EACH = 8


@pytest.fixture
def own_database(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A database of its own, committed to for real: Jember, its admin, one category and an API key
    that files reports (its URL and the key's secret)."""
    admin_engine = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'filing.sqlite3'}"
    else:
        shared = make_url(request.getfixturevalue("postgres_url"))
        admin_engine = create_engine(shared.set(database="postgres"), isolation_level="AUTOCOMMIT")
        name = f"kc_filing_{uuid.uuid4().hex[:10]}"
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = shared.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        with unit_of_work(make_session_factory(engine), write=True) as session:
            region = regions.create_region(
                session,
                code="35.09",
                name="Kabupaten Jember",
                kind="kabupaten",
                province="Jawa Timur",
                abbreviation="JBR",
            )
            admin = auth.create_user(
                session,
                email="admin@jember.go.id",
                full_name="Admin Jember",
                password="rahasia-sekali-123",
                role="region_admin",
                region_id=region.id,
            )
            categories.create_category(
                session,
                principal=auth.principal_for_user(admin),
                region_id=region.id,
                code="jalan-rusak",
                name="Jalan rusak",
            )
            _row, secret = auth.create_api_key(
                session,
                principal=auth.principal_for_user(admin),
                region_id=region.id,
                name="aplikasi warga",
                permissions=["reports:submit"],
            )
        engine.dispose()
        yield url, secret
    finally:
        engine.dispose()
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
            admin_engine.dispose()


def _file_one(factory: Any, region_id: int, category_id: int) -> str:
    with unit_of_work(factory, write=True) as session:
        filed = reports.file_report(
            session,
            principal=Principal(kind="api_key", label="uji", region_id=region_id),
            region_id=region_id,
            category_id=category_id,
            title="Jalan berlubang",
            description="Lubang besar di tengah jalan.",
            address="Jl. Gajah Mada",
            channel="api",
        )
        return filed.report.tracking_no


def _ids(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            region = regions.get_region_by_code(session, "35.09")
            category = categories.get_category_by_code(session, region_id=region.id, code="jalan-rusak")
            return region.id, category.id
    finally:
        engine.dispose()


def _numbers(tracking: list[str]) -> list[int]:
    assert all(no.startswith("JBR-") for no in tracking)
    return sorted(int(no.rsplit("-", 1)[1]) for no in tracking)


@pytest.mark.parametrize("engines", ["one engine", "an engine per thread"])
def test_tracking_numbers_stay_unique_and_without_gaps_when_filed_at_once(
    own_database: tuple[str, str], engines: str
) -> None:
    url, _secret = own_database
    region_id, category_id = _ids(url)
    shared = make_engine(url)
    own = [make_engine(url) for _ in range(THREADS)] if engines != "one engine" else []
    start = threading.Barrier(THREADS)
    tracking: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def filer(n: int) -> None:
        factory = make_session_factory(own[n] if own else shared)
        try:
            start.wait()
            for _ in range(EACH):
                number = _file_one(factory, region_id, category_id)
                with lock:
                    tracking.append(number)
        except BaseException as exc:  # reported below, with the numbers
            failures.append(exc)

    threads = [threading.Thread(target=filer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in [shared, *own]:
        engine.dispose()
    assert failures == []
    # the year's first report created the counter while the others raced for it: no number twice, none skipped
    assert _numbers(tracking) == list(range(1, THREADS * EACH + 1))


def test_concurrent_requests_file_through_the_writer_and_each_gets_its_own_number(
    own_database: tuple[str, str], settings: Settings
) -> None:
    url, secret = own_database
    engine = make_engine(url)  # the app's own engine: on SQLite its writes go through the writer thread
    app = create_app(settings, engine=engine)
    body = {
        "category": "jalan-rusak",
        "title": "Jalan berlubang",
        "description": "Lubang besar di tengah jalan.",
        "address": "Jl. Gajah Mada",
    }

    async def file_many() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            headers = {"Authorization": f"Bearer {secret}"}
            return await asyncio.gather(
                *(client.post("/api/v1/regions/35.09/reports", json=body, headers=headers) for _ in range(12))
            )

    try:
        answers = asyncio.run(file_many())
        assert [a.status_code for a in answers] == [201] * 12, answers[0].text
        tracking = [a.json()["report"]["tracking_no"] for a in answers]
        assert _numbers(tracking) == list(range(1, 13))
        # each one committed with its timeline's first step
        with Session(engine) as session:
            events = session.scalars(select(ReportEvent.kind)).all()
        assert events == ["submitted"] * 12
    finally:
        engine.dispose()


def test_writes_queued_together_commit_together_and_one_that_fails_rolls_back_alone(
    own_database: tuple[str, str], settings: Settings, backend: str
) -> None:
    """Eight filings wait for the writer at once (on SQLite it is kept busy until all of them are
    queued, so they run in one transaction); the fourth fails after writing its rows. It answers its
    own error and leaves nothing (no report, no event, no number: the others are 1-7), its undo runs
    and its after-commit effect does not; the others are stored and their effects run."""
    url, _secret = own_database
    region_id, category_id = _ids(url)
    engine = make_engine(url)
    app = create_app(settings, engine=engine)
    factory = app.state.session_factory
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    sent: list[int] = []
    undone: list[int] = []

    def filing(n: int) -> Any:
        def work(session: Session) -> str:
            filed = reports.file_report(
                session,
                principal=Principal(kind="api_key", label="uji", region_id=region_id),
                region_id=region_id,
                category_id=category_id,
                title=f"Jalan berlubang {n}",
                description="Lubang besar di tengah jalan.",
                address="Jl. Gajah Mada",
                channel="api",
            )
            after_commit(session, lambda: sent.append(n))
            after_rollback(session, lambda: undone.append(n))
            if n == 3:
                raise Conflict("gagal setelah menulis")
            return filed.report.tracking_no

        return work

    async def file_together() -> list[Any]:
        request = Request({"type": "http", "app": app})
        writer = sqlite_writer(factory)
        release = threading.Event()
        if writer is not None:
            writer.submit(release.wait, 10)  # the writer is busy: the filings queue behind it
        tasks = [asyncio.ensure_future(run_write(request, filing(n))) for n in range(8)]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        answers = asyncio.run(file_together())
        assert isinstance(answers[3], Conflict)
        tracking = [a for n, a in enumerate(answers) if n != 3]
        assert _numbers(tracking) == list(range(1, 8))
        assert sorted(sent) == [0, 1, 2, 4, 5, 6, 7]
        assert undone == [3]
        with Session(engine) as session:
            assert sorted(session.scalars(select(Report.title)).all()) == sorted(
                f"Jalan berlubang {n}" for n in range(8) if n != 3
            )
            assert session.scalars(select(ReportEvent.kind)).all() == ["submitted"] * 7
        if backend == "sqlite":
            assert commits == [1]  # one transaction for the eight
    finally:
        engine.dispose()


def test_the_kecamatan_of_a_point_follows_a_change_of_the_areas(db: Session, world: dict[str, Any]) -> None:
    jember = world["jember"]
    lat, lon = IN_KALIWATES
    assert regions.area_at(db, region_id=jember.id, lon=lon, lat=lat) is None
    kaliwates = regions.create_area(
        db, region_id=jember.id, code="35.09.01", name="Kaliwates", kind="kecamatan", geometry=KALIWATES
    )
    db.commit()
    found = regions.area_at(db, region_id=jember.id, lon=lon, lat=lat)
    assert found is not None and (found.id, found.code, found.name) == (kaliwates.id, "35.09.01", "Kaliwates")
    assert regions.area_at(db, region_id=jember.id, lon=IN_SUMBERSARI[1], lat=IN_SUMBERSARI[0]) is None

    # the polygon is redrawn over Sumbersari: the point in Kaliwates is no longer in it, the other is
    kaliwates.geometry = SUMBERSARI
    kaliwates.min_lon, kaliwates.min_lat, kaliwates.max_lon, kaliwates.max_lat = 113.69, -8.20, 113.74, -8.15
    db.flush()
    assert regions.area_at(db, region_id=jember.id, lon=lon, lat=lat) is None
    moved = regions.area_at(db, region_id=jember.id, lon=IN_SUMBERSARI[1], lat=IN_SUMBERSARI[0])
    assert moved is not None and moved.id == kaliwates.id
    # find_area_at answers the same, as the row
    assert (
        regions.find_area_at(db, region_id=jember.id, lon=IN_SUMBERSARI[1], lat=IN_SUMBERSARI[0]) is kaliwates
    )


def test_the_region_box_follows_a_change_of_the_boundary(db: Session, world: dict[str, Any]) -> None:
    jember = world["jember"]
    regions.update_region(db, region_id=jember.id, boundary=KALIWATES)
    db.flush()
    assert regions.region_bbox(jember) == [113.64, -8.2, 113.69, -8.15]
    regions.update_region(db, region_id=jember.id, boundary=SUMBERSARI)
    assert regions.region_bbox(jember) == [113.69, -8.2, 113.74, -8.15]  # not flushed yet: still seen
    db.flush()
    assert regions.region_bbox(jember) == [113.69, -8.2, 113.74, -8.15]


def test_filing_sees_a_change_of_its_category_and_region_at_once(
    client: Any, make_client: Any, db: Session, world: dict[str, Any], reporting: dict[str, Any]
) -> None:
    """Filing reads what it needs of the region and the category in one statement, each time: a
    renamed or closed category and a redrawn boundary count from the next report on."""
    from citizendata import admin_key

    machine = make_client()
    machine.headers["Authorization"] = f"Bearer {admin_key(db, world, ['reports:submit'])}"
    admin = make_client().login(world["users"]["admin"].email, world["password"])
    url = "/api/v1/regions/35.09/reports"
    body = {
        "category": "jalan-rusak",
        "description": "Lubang besar di tengah jalan.",
        "lat": IN_SUMBERSARI[0],
        "lon": IN_SUMBERSARI[1],
        "attributes": {"severity": "berat"},
    }
    first = machine.post(url, json=body)
    assert first.status_code == 201, first.text
    assert first.json()["report"]["category_name"] == "Jalan rusak"
    assert first.json()["report"]["area"]["code"] == "35.09.02"

    renamed = admin.patch("/api/v1/regions/35.09/report-categories/jalan-rusak", json={"name": "Jalan retak"})
    assert renamed.status_code == 200, renamed.text
    second = machine.post(url, json=body)
    assert second.status_code == 201
    assert second.json()["report"]["category_name"] == "Jalan retak"

    # the region's outline is redrawn far away: the same point is now outside Jember
    far = {"type": "Polygon", "coordinates": [[[120.0, -5.0], [120.1, -5.0], [120.1, -4.9], [120.0, -5.0]]]}
    assert admin.patch("/api/v1/regions/35.09", json={"boundary": far}).status_code == 200
    outside = machine.post(url, json=body)
    assert outside.status_code == 422
    assert "location" in outside.json()["error"]["details"]
    assert admin.patch("/api/v1/regions/35.09", json={"boundary": None}).status_code == 200
    assert machine.post(url, json=body).status_code == 201

    closed = admin.patch("/api/v1/regions/35.09/report-categories/jalan-rusak", json={"active": False})
    assert closed.status_code == 200
    refused = machine.post(url, json=body)
    assert refused.status_code == 422
    assert "category" in refused.json()["error"]["details"]
    # the order of the answers stays: an unknown category is "not found", an unknown region too
    assert machine.post(url, json={**body, "category": "tidak-ada"}).status_code == 404
    assert machine.post("/api/v1/regions/35.99/reports", json=body).status_code == 404
