"""Test data shared by the hub tests (import as ``from hubdata import ...``)."""

from __future__ import annotations

from typing import Any

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
