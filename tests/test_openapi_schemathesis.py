"""Property-based test of the JSON API against its own OpenAPI document: no input may produce a 5xx.

Schemathesis generates requests for every ``/api/v1`` operation from the schema the application
publishes at ``/openapi.json`` (valid and invalid ones, boundary values, wrong methods) and checks
that none is answered with a server error. It runs three times:

* with an API key of Jember that holds every permission, so requests get past the access checks into
  the services and the database;
* as Jember's region admin logged in with a session cookie (and the CSRF header), for what keys may
  not do: users, API keys, offices, areas, the audit log;
* anonymously.

The application has a database of its own (a SQLite file built by the real migrations) instead of
the suite's rolled-back transaction, because the generated requests commit. Generated requests may
revoke a key, end a session, demote a user or delete the masterplan, so each operation starts with
fresh credentials and the seeded masterplan put back.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from kotacerdas import migrate
from kotacerdas.app import create_app
from kotacerdas.auth import service as auth
from kotacerdas.auth.access import PERMISSIONS
from kotacerdas.config import Settings
from kotacerdas.db import make_engine, make_session_factory, unit_of_work
from kotacerdas.region import service as regions

pytestmark = pytest.mark.slow

REGION = "35.09"
PASSWORD = "rahasia-yang-panjang"
API = f"/api/v1/regions/{REGION}"
_serial = itertools.count(1)


def _settings(**overrides: Any) -> Settings:
    return Settings(
        environment="test",
        secret_key="schemathesis-" + "s" * 40,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
        embedded_worker=False,
        **overrides,
    )


# The schema is read at collection time from an application that never opens its database; the
# requests go to the application of the `api_world` fixture (same code, its own database).
def _api_schema() -> Any:
    reader = create_app(_settings(database_url="sqlite://"), engine=make_engine("sqlite://"))
    return schemathesis.openapi.from_asgi("/openapi.json", reader).include(path_regex=r"^/api/v1/")


# Signed in, requests aim at the caller's own region so that they reach the services; anonymously,
# generated region codes also exercise the lookups of regions that do not exist.
as_api_key = _api_schema()
as_api_key.config.update(parameters={"path.region_code": REGION})
as_region_admin = _api_schema()
as_region_admin.config.update(parameters={"path.region_code": REGION})
as_anonymous = _api_schema()
# Anonymous requests stop at the access checks; the deterministic coverage phase (boundary values of
# every field) is spent where requests reach the services, which keeps the three runs near two minutes.
as_anonymous.config.phases.update(phases=["examples", "fuzzing"])

EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # fresh credentials per operation, on purpose
    ],
)


@pytest.fixture(scope="module")
def api_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Jember and its Diskominfo office, in a database of its own."""
    data_dir: Path = tmp_path_factory.mktemp("schemathesis")
    app_settings = _settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'kotacerdas.sqlite3'}")
    engine = make_engine(app_settings.resolved_database_url)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        region = regions.create_region(
            session, code=REGION, name="Kabupaten Jember", kind="kabupaten", province="Jawa Timur"
        )
        office = regions.create_office(
            session, region_id=region.id, name="Dinas Komunikasi dan Informatika", short_name="Diskominfo"
        )
        ids = {"region_id": region.id, "office_id": office.id}
    yield {"app": create_app(app_settings, engine=engine), "factory": factory, **ids}
    engine.dispose()


@pytest.fixture
def credentials(api_world: dict[str, Any]) -> dict[str, Any]:
    """A new region admin with an API key of every permission and a logged-in session, for one
    operation; and masterplan 1 with a programme and an indicator, so small generated ids find data."""
    email = f"admin{next(_serial)}@jember.go.id"
    with unit_of_work(api_world["factory"]) as session:
        admin = auth.create_user(
            session,
            email=email,
            full_name="Admin Jember",
            password=PASSWORD,
            role="region_admin",
            region_id=api_world["region_id"],
            office_id=api_world["office_id"],
        )
        _key, secret = auth.create_api_key(
            session,
            principal=auth.principal_for_user(admin),
            region_id=api_world["region_id"],
            name="schemathesis",
            permissions=sorted(PERMISSIONS),
        )
    key_headers = {"Authorization": f"Bearer {secret}"}
    app: FastAPI = api_world["app"]
    with TestClient(app) as client:
        _put_back_masterplan(client, key_headers)
        login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        session_cookie = {"kc_session": login.cookies["kc_session"]}
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    return {"key_headers": key_headers, "session_cookie": session_cookie, "csrf_headers": csrf}


def _put_back_masterplan(client: TestClient, headers: dict[str, str]) -> None:
    if client.get(f"{API}/masterplans/1", headers=headers).status_code == 200:
        return
    plan = client.post(
        f"{API}/masterplans",
        headers=headers,
        json={"title": f"Masterplan Smart City {next(_serial)}", "start_year": 2024, "end_year": 2028},
    )
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["id"]
    programme = client.post(
        f"{API}/masterplans/{plan_id}/programmes",
        headers=headers,
        json={
            "code": "GOV-01",
            "name": "Satu data Jember",
            "dimension": "governance",
            "element": "service",
            "kind": "application",
            "term": "short",
            "start_year": 2024,
            "end_year": 2026,
        },
    )
    assert programme.status_code == 201, programme.text
    indicator = client.post(
        f"{API}/masterplans/{plan_id}/indicators",
        headers=headers,
        json={
            "code": "GOV-01.1",
            "name": "Layanan daring terintegrasi",
            "unit": "layanan",
            "programme_id": programme.json()["id"],
            "targets": [{"year": 2025, "value": "40"}],
        },
    )
    assert indicator.status_code == 201, indicator.text


@as_api_key.parametrize()
@EXAMPLES
def test_no_operation_answers_an_api_key_with_a_server_error(
    case: Any, api_world: dict[str, Any], credentials: dict[str, Any]
) -> None:
    case.call_and_validate(
        app=api_world["app"], headers=credentials["key_headers"], checks=[not_a_server_error]
    )


@as_region_admin.parametrize()
@EXAMPLES
def test_no_operation_answers_a_logged_in_region_admin_with_a_server_error(
    case: Any, api_world: dict[str, Any], credentials: dict[str, Any]
) -> None:
    case.call_and_validate(
        app=api_world["app"],
        headers=credentials["csrf_headers"],
        cookies=credentials["session_cookie"],
        checks=[not_a_server_error],
    )


@as_anonymous.parametrize()
@EXAMPLES
def test_no_operation_answers_an_anonymous_caller_with_a_server_error(
    case: Any, api_world: dict[str, Any]
) -> None:
    case.call_and_validate(app=api_world["app"], checks=[not_a_server_error])
