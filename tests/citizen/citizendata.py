"""Shared test data of the citizen tests (import as ``from citizendata import ...``)."""

from __future__ import annotations

from typing import Any

# two adjacent squares around Jember's centre: Kaliwates (west) and Sumbersari (east)
KALIWATES = {
    "type": "Polygon",
    "coordinates": [[[113.64, -8.20], [113.69, -8.20], [113.69, -8.15], [113.64, -8.15], [113.64, -8.20]]],
}
SUMBERSARI = {
    "type": "Polygon",
    "coordinates": [[[113.69, -8.20], [113.74, -8.20], [113.74, -8.15], [113.69, -8.15], [113.69, -8.20]]],
}
IN_KALIWATES = (-8.17, 113.66)  # lat, lon
IN_SUMBERSARI = (-8.17, 113.71)


def admin_key(db: Any, world: dict[str, Any], permissions: list[str]) -> str:
    """A new API key of Jember, made by its region admin, with these permissions; returns the secret."""
    from kotacerdas.auth import service as auth

    admin = auth.principal_for_user(world["users"]["admin"])
    _row, secret = auth.create_api_key(
        db,
        principal=admin,
        region_id=world["jember"].id,
        name="kunci " + "+".join(permissions),
        permissions=permissions,
    )
    db.commit()
    return secret
