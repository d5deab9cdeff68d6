"""Fixtures of the masterplan tests: logged-in browsers, API keys, and a masterplan built through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth

JBR = "/api/v1/regions/35.09"
PBL = "/api/v1/regions/35.74"

MASTERPLAN_ENTITIES = ("masterplan", "programme", "indicator", "evidence")

EMAILS = {
    "admin": "admin@jember.go.id",
    "dishub": "dishub@jember.go.id",
    "dinkes": "dinkes@jember.go.id",
    "citizen": "warga@example.id",
    "pbl_admin": "admin@probolinggokota.go.id",
    "evaluator": "evaluator@kominfo.go.id",
}


@pytest.fixture
def as_user(make_client: Callable[[], Any], world: dict[str, Any]) -> Callable[[str], Any]:
    """A browser logged in as one of the world's users (``admin``, ``dishub``, ``pbl_admin`` ...)."""
    logged_in: dict[str, Any] = {}

    def _as(name: str) -> Any:
        if name not in logged_in:
            logged_in[name] = make_client().login(EMAILS[name], world["password"])
        return logged_in[name]

    return _as


@pytest.fixture
def admin(as_user: Callable[[str], Any]) -> Any:
    """Jember's region admin."""
    return as_user("admin")


@pytest.fixture
def api_key(db: Session, world: dict[str, Any]) -> Callable[..., dict[str, str]]:
    """Create an API key of Jember the way its admin would; returns the Authorization header."""

    def _key(permissions: list[str], office: str | None = None) -> dict[str, str]:
        principal = auth.principal_for_user(world["users"]["admin"])
        _row, secret = auth.create_api_key(
            db,
            principal=principal,
            region_id=world["jember"].id,
            name=f"key {'/'.join(permissions)} {office or ''}",
            permissions=permissions,
            office_id=world["offices"][office].id if office else None,
        )
        db.commit()
        return {"Authorization": f"Bearer {secret}"}

    return _key


def programme_body(code: str, /, **fields: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": f"Programme {code}",
        "dimension": "governance",
        "element": "service",
        "kind": "application",
        "term": "short",
        "start_year": 2023,
        "end_year": 2025,
    } | fields


def indicator_body(code: str, /, **fields: Any) -> dict[str, Any]:
    return {"code": code, "name": f"Indicator {code}", "unit": "%"} | fields


@pytest.fixture
def build(admin: Any, world: dict[str, Any]) -> Any:
    """Builds masterplans, programmes and indicators in Jember through the API as its admin."""

    class Build:
        programme_body = staticmethod(programme_body)
        indicator_body = staticmethod(indicator_body)

        def masterplan(self, title: str = "Masterplan Smart City", start: int = 2023, end: int = 2027) -> Any:
            resp = admin.post(
                f"{JBR}/masterplans", json={"title": title, "start_year": start, "end_year": end}
            )
            assert resp.status_code == 201, resp.text
            return resp.json()

        def programme(self, plan_id: int, code: str, office: str | None = None, **fields: Any) -> Any:
            if office:
                fields["lead_office_id"] = world["offices"][office].id
            resp = admin.post(f"{JBR}/masterplans/{plan_id}/programmes", json=programme_body(code, **fields))
            assert resp.status_code == 201, resp.text
            return resp.json()

        def indicator(self, plan_id: int, code: str, **fields: Any) -> Any:
            resp = admin.post(f"{JBR}/masterplans/{plan_id}/indicators", json=indicator_body(code, **fields))
            assert resp.status_code == 201, resp.text
            return resp.json()

    return Build()


@pytest.fixture
def audit_actions(admin: Any) -> Callable[[], list[tuple[str, str, str]]]:
    """(action, entity_id, actor) of the masterplan domain in Jember's audit log, oldest first, read
    through GET /audit."""

    def _read() -> list[tuple[str, str, str]]:
        resp = admin.get(f"{JBR}/audit", params={"limit": 500})
        assert resp.status_code == 200, resp.text
        return [
            (e["action"], e["entity_id"], e["actor_label"])
            for e in reversed(resp.json()["items"])
            if e["entity_type"] in MASTERPLAN_ENTITIES
        ]

    return _read
