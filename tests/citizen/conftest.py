"""Citizen-report fixtures: Jember's categories on top of the shared ``world``.

``reporting`` adds three categories (roads to Dishub, with Kaliwates routed to Dinkes for the test of
per-area routing; health to Dinkes; a private one) and two kecamatan with real-ish polygons.
"""

from __future__ import annotations

from typing import Any

import pytest
from citizendata import KALIWATES, SUMBERSARI
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.citizen import categories
from kotacerdas.region import service as regions


def admin_principal(world: dict[str, Any]) -> Principal:
    user = world["users"]["admin"]
    return Principal(
        kind="user",
        label=user.full_name,
        user_id=user.id,
        role="region_admin",
        region_id=world["jember"].id,
        office_id=user.office_id,
    )


@pytest.fixture
def reporting(db: Session, world: dict[str, Any]) -> dict[str, Any]:
    jember = world["jember"]
    admin = admin_principal(world)
    kaliwates = regions.create_area(
        db, region_id=jember.id, code="35.09.01", name="Kaliwates", kind="kecamatan", geometry=KALIWATES
    )
    sumbersari = regions.create_area(
        db, region_id=jember.id, code="35.09.02", name="Sumbersari", kind="kecamatan", geometry=SUMBERSARI
    )
    offices = world["offices"]
    road = categories.create_category(
        db,
        principal=admin,
        region_id=jember.id,
        code="jalan-rusak",
        name="Jalan rusak",
        name_en="Damaged road",
        group="infrastruktur",
        office_id=offices["dishub"].id,
        duplicate_radius_m=100,
        attributes=[
            {
                "code": "severity",
                "datatype": "singlevaluelist",
                "required": True,
                "description": "Tingkat kerusakan",
                "values": [{"key": "ringan", "name": "Ringan"}, {"key": "berat", "name": "Berat"}],
            }
        ],
    )
    categories.set_route(
        db,
        principal=admin,
        region_id=jember.id,
        category_id=road.id,
        area_id=kaliwates.id,
        office_id=offices["dinkes"].id,
    )
    health = categories.create_category(
        db,
        principal=admin,
        region_id=jember.id,
        code="puskesmas",
        name="Pelayanan puskesmas",
        name_en="Community health centre service",
        group="kesehatan",
        office_id=offices["dinkes"].id,
    )
    private = categories.create_category(
        db,
        principal=admin,
        region_id=jember.id,
        code="pungli",
        name="Pungutan liar",
        name_en="Illegal levy",
        group="tata kelola",
        office_id=offices["kominfo"].id,
        is_private=True,
    )
    db.commit()
    return {
        **world,
        "areas": {"kaliwates": kaliwates, "sumbersari": sumbersari},
        "categories": {"road": road, "health": health, "private": private},
    }
