"""Shared fixtures.

Every database test runs twice: on SQLite (a file, WAL) and on PostgreSQL. The schema is built by
running the real Alembic migrations once per backend; each test then runs inside a transaction that
is rolled back, while the application's own commits become SAVEPOINTs of it.

PostgreSQL is taken from ``KOTACERDAS_TEST_POSTGRES_URL`` (default: the local server, trust auth).
When it is not reachable the PostgreSQL half is skipped and the summary says so, unless
``KOTACERDAS_REQUIRE_SERVICES=1`` (set by .ci/run): then it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas import migrate
from kotacerdas.app import create_app
from kotacerdas.auth import passwords
from kotacerdas.config import Settings
from kotacerdas.db import make_engine

# Argon2id stays argon2id in the tests, with the smallest cost, so that creating accounts is quick.
os.environ.setdefault("KOTACERDAS_ARGON2_TIME_COST", "1")
os.environ.setdefault("KOTACERDAS_ARGON2_MEMORY_KIB", "8")
os.environ.setdefault("KOTACERDAS_ARGON2_PARALLELISM", "1")
passwords.configure(time_cost=1, memory_kib=8, parallelism=1)

PG_URL = os.environ.get(
    "KOTACERDAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("KOTACERDAS_REQUIRE_SERVICES") == "1"
BACKENDS = os.environ.get("KOTACERDAS_TEST_BACKENDS", "sqlite,postgresql").split(",")


def service_missing(what: str) -> None:
    """Skip on a laptop without the service; fail in CI, where it must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required here (KOTACERDAS_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{what} not reachable: skipped (start it to run these tests)")


def _postgres_admin() -> Engine | None:
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception:
        engine.dispose()
        return None
    return engine


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server, dropped at the end of the run."""
    admin = _postgres_admin()
    if admin is None:
        service_missing(f"PostgreSQL at {PG_URL}")
    assert admin is not None
    name = f"kc_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=[b for b in ("sqlite", "postgresql") if b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def engine(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Engine]:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "kotacerdas.sqlite3"
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
    eng = make_engine(url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        trans.rollback()
        conn.close()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for arranging and checking data; its commits are savepoints of the test's transaction."""
    session = session_factory()
    yield session
    session.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="test-secret-" + "x" * 32,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
        embedded_worker=False,  # tests drive the notifier themselves (tests/hub/test_notifier.py)
    )


@pytest.fixture
def app(settings: Settings, engine: Engine, session_factory: sessionmaker[Session]) -> FastAPI:
    application = create_app(settings, engine=engine)
    application.state.session_factory = session_factory
    return application


class Client(TestClient):
    """A TestClient that remembers the CSRF token after an API login and sends it on writes."""

    csrf: str | None = None

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if self.csrf and method.upper() in ("POST", "PUT", "PATCH", "DELETE"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRF-Token", self.csrf)
            kwargs["headers"] = headers
        return super().request(method, url, **kwargs)

    def login(self, email: str, password: str) -> Client:
        resp = self.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert resp.status_code == 200, resp.text
        self.csrf = resp.json()["csrf_token"]
        return self


@pytest.fixture
def client(app: FastAPI) -> Iterator[Client]:
    with Client(app, base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture
def make_client(app: FastAPI) -> Iterator[Any]:
    """More than one browser at once (e.g. two users of different regions)."""
    opened: list[Client] = []

    def _make() -> Client:
        c = Client(app, base_url="http://127.0.0.1")
        c.__enter__()
        opened.append(c)
        return c

    yield _make
    for c in opened:
        c.__exit__(None, None, None)


PASSWORD = "rahasia-yang-panjang"


@pytest.fixture
def world(db: Session) -> dict[str, Any]:
    """Two regions with offices and users of every role: the usual cast of the tests."""
    from kotacerdas.auth import service as auth
    from kotacerdas.region import service as regions

    jember = regions.create_region(
        session=db,
        code="35.09",
        name="Kabupaten Jember",
        kind="kabupaten",
        province="Jawa Timur",
        abbreviation="JBR",
    )
    probolinggo = regions.create_region(
        session=db,
        code="35.74",
        name="Kota Probolinggo",
        kind="kota",
        province="Jawa Timur",
        abbreviation="PBL",
    )
    kominfo = regions.create_office(
        db, region_id=jember.id, name="Dinas Komunikasi dan Informatika", short_name="Diskominfo"
    )
    dishub = regions.create_office(db, region_id=jember.id, name="Dinas Perhubungan", short_name="Dishub")
    dinkes = regions.create_office(db, region_id=jember.id, name="Dinas Kesehatan", short_name="Dinkes")
    pbl_office = regions.create_office(
        db, region_id=probolinggo.id, name="Dinas Komunikasi dan Informatika", short_name="Diskominfo"
    )
    users = {
        "admin": auth.create_user(
            db,
            email="admin@jember.go.id",
            full_name="Admin Jember",
            password=PASSWORD,
            role="region_admin",
            region_id=jember.id,
            office_id=kominfo.id,
        ),
        "dishub": auth.create_user(
            db,
            email="dishub@jember.go.id",
            full_name="Operator Dishub",
            password=PASSWORD,
            role="office_operator",
            region_id=jember.id,
            office_id=dishub.id,
        ),
        "dinkes": auth.create_user(
            db,
            email="dinkes@jember.go.id",
            full_name="Operator Dinkes",
            password=PASSWORD,
            role="office_operator",
            region_id=jember.id,
            office_id=dinkes.id,
        ),
        "citizen": auth.create_user(
            db,
            email="warga@example.id",
            full_name="Warga Jember",
            password=PASSWORD,
            role="citizen",
            region_id=jember.id,
        ),
        "pbl_admin": auth.create_user(
            db,
            email="admin@probolinggokota.go.id",
            full_name="Admin Probolinggo",
            password=PASSWORD,
            role="region_admin",
            region_id=probolinggo.id,
            office_id=pbl_office.id,
        ),
        "evaluator": auth.create_user(
            db,
            email="evaluator@kominfo.go.id",
            full_name="Asesor Kominfo",
            password=PASSWORD,
            role="national_evaluator",
        ),
    }
    db.commit()
    return {
        "jember": jember,
        "probolinggo": probolinggo,
        "offices": {"kominfo": kominfo, "dishub": dishub, "dinkes": dinkes, "pbl": pbl_office},
        "users": users,
        "password": PASSWORD,
    }
