"""Test data shared by the hub tests (import as ``from hubdata import ...``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.hub.context import CORE_CONTEXT_URL

CORE_LINK = f'<{CORE_CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


def make_key(
    db: Session,
    world: dict[str, Any],
    *,
    region: str = "jember",
    permissions: list[str] | None = None,
    entity_types: list[str] | None = None,
    office: str | None = None,
) -> str:
    admin = world["users"]["admin" if region == "jember" else "pbl_admin"]
    principal = auth.principal_for_user(admin)
    key, secret = auth.create_api_key(
        db,
        principal=principal,
        region_id=world[region].id,
        name="hub test",
        permissions=permissions or ["hub:write", "hub:read", "hub:subscribe"],
        office_id=world["offices"][office].id if office else None,
    )
    if entity_types is not None:
        key.entity_types = entity_types
    db.commit()
    return secret


def traffic(n: int, *, intensity: int = 100, observed: str = "2026-11-20T07:00:00Z") -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:TrafficFlowObserved:jember:{n:05d}",
        "type": "TrafficFlowObserved",
        "intensity": {"type": "Property", "value": intensity, "observedAt": observed},
        "averageVehicleSpeed": {"type": "Property", "value": 42.5, "unitCode": "KMH", "observedAt": observed},
        "congested": {"type": "Property", "value": False},
        "laneDirection": {"type": "Property", "value": "forward"},
        "refRoadSegment": {"type": "Relationship", "object": "urn:ngsi-ld:RoadSegment:jember:gajah-mada"},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [113.70 + n / 1000, -8.17]},
        },
    }


def own_sqlite_hub(url: str, *, name: str, permissions: list[str]) -> tuple[Engine, str]:
    """A migrated SQLite database of its own at ``url`` (for tests whose code commits for real), with
    Jember, its region admin and a hub key: the engine (the caller disposes of it) and the key."""
    from kotacerdas import migrate
    from kotacerdas.db import make_engine, make_session_factory, unit_of_work
    from kotacerdas.region import service as regions

    engine = make_engine(url)
    migrate.upgrade(engine)
    with unit_of_work(make_session_factory(engine)) as session:
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
        _key, secret = auth.create_api_key(
            session,
            principal=auth.principal_for_user(admin),
            region_id=region.id,
            name=name,
            permissions=permissions,
        )
    return engine, secret
