"""Regions, offices and areas through the JSON API: reading rights, isolation, writes and their audit."""

from __future__ import annotations

from typing import get_args

import pytest
from sqlalchemy import select

from kotacerdas.auth.models import AuditEntry
from kotacerdas.region import models, schemas as region_schemas
from kotacerdas.region.models import Office

ADMIN = "admin@jember.go.id"
PBL_ADMIN = "admin@probolinggokota.go.id"

# two adjacent square kecamatan near Jember: west [113.60, 113.70] and east [113.70, 113.80] x [-8.25, -8.15]
WEST = {
    "type": "Polygon",
    "coordinates": [[[113.60, -8.25], [113.70, -8.25], [113.70, -8.15], [113.60, -8.15], [113.60, -8.25]]],
}
EAST = {
    "type": "Polygon",
    "coordinates": [[[113.70, -8.25], [113.80, -8.25], [113.80, -8.15], [113.70, -8.15], [113.70, -8.25]]],
}


@pytest.fixture
def admin(make_client, world):
    return make_client().login(ADMIN, world["password"])


@pytest.fixture
def squares(admin):
    west = admin.post(
        "/api/v1/regions/35.09/areas", json={"code": "35.09.01", "name": "Kaliwates", "geometry": WEST}
    )
    east = admin.post(
        "/api/v1/regions/35.09/areas", json={"code": "35.09.02", "name": "Sumbersari", "geometry": EAST}
    )
    assert west.status_code == 201, west.text
    assert east.status_code == 201, east.text
    return west.json(), east.json()


def test_schema_enums_match_the_stored_codes():
    assert set(get_args(region_schemas.OfficeKind)) == set(models.OFFICE_KINDS)
    assert set(get_args(region_schemas.AreaKind)) == set(models.AREA_KINDS)
    assert set(get_args(region_schemas.RegionKind)) == set(models.REGION_KINDS)
    assert set(get_args(region_schemas.Timezone)) == set(models.TIMEZONES)


# ---------------------------------------------------------------- regions


def test_region_list_depends_on_who_asks(make_client, world):
    assert make_client().get("/api/v1/regions").status_code == 401
    evaluator = make_client().login("evaluator@kominfo.go.id", world["password"])
    assert [r["code"] for r in evaluator.get("/api/v1/regions").json()] == ["35.09", "35.74"]
    admin = make_client().login(ADMIN, world["password"])
    assert [r["code"] for r in admin.get("/api/v1/regions").json()] == ["35.09"]
    operator = make_client().login("dishub@jember.go.id", world["password"])
    assert [r["code"] for r in operator.get("/api/v1/regions").json()] == ["35.09"]
    citizen = make_client().login("warga@example.id", world["password"])
    assert citizen.get("/api/v1/regions").json() == []


def test_region_detail_with_boundary(admin, world):
    body = admin.get("/api/v1/regions/35.09").json()
    assert body["name"] == "Kabupaten Jember"
    assert body["kind"] == "kabupaten"
    assert body["timezone"] == "WIB"
    assert body["boundary"] is None
    assert admin.get("/api/v1/regions/35.74").status_code == 403
    assert admin.get("/api/v1/regions/36.01").status_code == 404
    assert admin.get("/api/v1/regions/jember").status_code == 422


def test_region_admin_sets_edition_and_boundary_and_it_is_audited(admin, world, db):
    outline = {
        "type": "Polygon",
        "coordinates": [[[113.5, -8.4], [113.9, -8.4], [113.9, -8.0], [113.5, -8.0], [113.5, -8.4]]],
    }
    resp = admin.patch(
        "/api/v1/regions/35.09", json={"framework_edition": "giffinger-6", "boundary": outline}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["framework_edition"] == "giffinger-6"
    assert resp.json()["boundary"]["type"] == "Polygon"
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "region.update"))
    assert entry.changes["framework_edition"] == ["gmsc-2024", "giffinger-6"]
    assert entry.changes["boundary"] == [None, [113.5, -8.4, 113.9, -8.0]]

    assert (
        admin.patch("/api/v1/regions/35.09", json={"framework_edition": "no-such-edition"}).status_code == 422
    )
    assert admin.patch("/api/v1/regions/35.09", json={"framework_edition": None}).status_code == 422
    cleared = admin.patch("/api/v1/regions/35.09", json={"boundary": None})
    assert cleared.json()["boundary"] is None
    assert cleared.json()["framework_edition"] == "giffinger-6"


def test_region_settings_are_the_region_admins(make_client, world):
    body = {"framework_edition": "giffinger-6"}
    for email in ("dishub@jember.go.id", "warga@example.id", "evaluator@kominfo.go.id", PBL_ADMIN):
        c = make_client().login(email, world["password"])
        assert c.patch("/api/v1/regions/35.09", json=body).status_code == 403, email
    assert make_client().patch("/api/v1/regions/35.09", json=body).status_code == 401


# ---------------------------------------------------------------- offices


def test_offices_are_read_by_members_evaluators_and_keys_only(make_client, world):
    for email in (ADMIN, "dishub@jember.go.id", "evaluator@kominfo.go.id"):
        c = make_client().login(email, world["password"])
        names = [o["short_name"] for o in c.get("/api/v1/regions/35.09/offices").json()]
        assert names == ["Dinkes", "Dishub", "Diskominfo"], email
    citizen = make_client().login("warga@example.id", world["password"])
    assert citizen.get("/api/v1/regions/35.09/offices").status_code == 403
    assert citizen.get("/api/v1/regions/35.09").status_code == 403
    assert citizen.get("/api/v1/regions/35.09/areas").status_code == 403
    assert make_client().get("/api/v1/regions/35.09/offices").status_code == 401


def test_region_admin_creates_and_changes_offices_with_audit(admin, world, db):
    resp = admin.post(
        "/api/v1/regions/35.09/offices",
        json={"name": "Dinas Lingkungan Hidup", "short_name": "DLH", "email": "dlh@jember.go.id"},
    )
    assert resp.status_code == 201, resp.text
    office = resp.json()
    assert office["kind"] == "dinas"
    url = f"/api/v1/regions/35.09/offices/{office['id']}"
    assert admin.get(url).json()["short_name"] == "DLH"

    changed = admin.patch(
        url, json={"name": "Dinas Lingkungan Hidup dan Kebersihan", "kind": "dinas", "email": None}
    )
    assert changed.status_code == 200
    assert changed.json()["email"] is None
    assert changed.json()["name"] == "Dinas Lingkungan Hidup dan Kebersihan"

    entries = db.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "office").order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in entries] == ["office.create", "office.update"]
    assert entries[1].changes == {
        "name": ["Dinas Lingkungan Hidup", "Dinas Lingkungan Hidup dan Kebersihan"],
        "email": ["dlh@jember.go.id", None],
    }
    assert entries[1].region_id == world["jember"].id
    assert entries[1].actor_label == "Admin Jember"


def test_office_writes_refuse_bad_input_cleanly(admin, world):
    url = "/api/v1/regions/35.09/offices"
    assert admin.post(url, json={"name": "Dinas Perhubungan Lagi", "short_name": "Dishub"}).status_code == 409
    for body in (
        {"name": "X"},
        {"name": "X", "short_name": "Y", "kind": "ministry"},
        {"name": "X" * 201, "short_name": "Y"},
        {"name": "X", "short_name": "   "},
        {"name": 5, "short_name": ["Y"]},
        {"name": "X", "short_name": "Y", "email": "not-an-address"},
    ):
        resp = admin.post(url, json=body)
        assert resp.status_code == 422, body
        assert resp.json()["error"]["code"] == "validation_failed"
        assert resp.json()["error"]["details"]
    malformed = admin.post(url, content=b'{"name": "X",', headers={"Content-Type": "application/json"})
    assert malformed.status_code == 422
    assert malformed.json()["error"]["message"] == "Isi permintaan bukan JSON yang valid."
    dishub = world["offices"]["dishub"].id
    assert admin.patch(f"{url}/{dishub}", json={"short_name": "Dinkes"}).status_code == 409
    assert admin.patch(f"{url}/{dishub}", json={"name": None}).status_code == 422
    assert admin.get(f"{url}/999999").status_code == 404
    assert admin.get(f"{url}/0").status_code == 422
    assert admin.get(f"{url}/99999999999").status_code == 422
    assert admin.get(f"{url}/abc").json()["error"]["code"] == "validation_failed"


def test_other_roles_cannot_write_offices(make_client, world, db):
    body = {"name": "Dinas Pendidikan", "short_name": "Dispendik"}
    dishub = world["offices"]["dishub"].id
    for email in ("dishub@jember.go.id", "warga@example.id", "evaluator@kominfo.go.id"):
        c = make_client().login(email, world["password"])
        assert c.post("/api/v1/regions/35.09/offices", json=body).status_code == 403, email
        assert c.patch(f"/api/v1/regions/35.09/offices/{dishub}", json={"name": "X"}).status_code == 403
    db.expire_all()
    assert db.scalar(select(Office).where(Office.short_name == "Dispendik")) is None
    assert db.get(Office, dishub).name == "Dinas Perhubungan"


def test_probolinggo_admin_cannot_touch_jember_offices(make_client, world, db):
    pbl = make_client().login(PBL_ADMIN, world["password"])
    dishub = world["offices"]["dishub"].id
    assert pbl.get("/api/v1/regions/35.09/offices").status_code == 403
    assert pbl.get(f"/api/v1/regions/35.09/offices/{dishub}").status_code == 403
    assert pbl.patch(f"/api/v1/regions/35.09/offices/{dishub}", json={"name": "Diambil"}).status_code == 403
    # addressed through the own region, Jember's office is simply not there
    assert pbl.get(f"/api/v1/regions/35.74/offices/{dishub}").status_code == 404
    assert pbl.patch(f"/api/v1/regions/35.74/offices/{dishub}", json={"name": "Diambil"}).status_code == 404
    db.expire_all()
    assert db.get(Office, dishub).name == "Dinas Perhubungan"
    assert [o["short_name"] for o in pbl.get("/api/v1/regions/35.74/offices").json()] == ["Diskominfo"]


# ---------------------------------------------------------------- areas


def test_area_lookup_finds_the_kecamatan_containing_a_point(admin, squares):
    west, _east = squares
    lookup = "/api/v1/regions/35.09/areas/lookup"
    assert admin.get(lookup, params={"lon": 113.65, "lat": -8.20}).json()["id"] == west["id"]
    assert admin.get(lookup, params={"lon": 113.75, "lat": -8.20}).json()["name"] == "Sumbersari"
    outside = admin.get(lookup, params={"lon": 113.90, "lat": -8.20})
    assert outside.status_code == 404
    assert outside.json()["error"]["message"] == (
        "Tidak ada kecamatan di Kabupaten Jember yang memuat titik (bujur 113.9, lintang -8.2)."
    )
    assert admin.get(lookup, params={"lon": 113.65, "lat": -8.20, "kind": "desa"}).status_code == 404
    assert admin.get(lookup, params={"lon": 200, "lat": -8.20}).status_code == 422
    assert admin.get(lookup, params={"lon": "nan", "lat": -8.20}).status_code == 422
    assert admin.get(lookup, params={"lat": -8.20}).status_code == 422


def test_areas_are_listed_fetched_and_exported_as_geojson(admin, squares, world):
    west, _east = squares
    listed = admin.get("/api/v1/regions/35.09/areas").json()
    assert [a["code"] for a in listed] == ["35.09.01", "35.09.02"]
    assert "geometry" not in listed[0]
    assert listed[0]["bbox"] == [113.6, -8.25, 113.7, -8.15]
    one = admin.get(f"/api/v1/regions/35.09/areas/{west['id']}").json()
    assert one["geometry"]["type"] == "Polygon"
    assert one["geometry"]["coordinates"][0][0] == [113.6, -8.25]

    resp = admin.get("/api/v1/regions/35.09/areas.geojson")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/geo+json")
    collection = resp.json()
    assert collection["type"] == "FeatureCollection"
    assert [f["properties"]["name"] for f in collection["features"]] == ["Kaliwates", "Sumbersari"]
    assert collection["features"][0]["type"] == "Feature"
    assert admin.get("/api/v1/regions/35.09/areas.geojson?kind=desa").json()["features"] == []

    pbl = admin.get("/api/v1/regions/35.74/areas.geojson")
    assert pbl.status_code == 403
    assert pbl.headers["content-type"].startswith("application/json")
    assert admin.get("/api/v1/regions/35.09/areas/999999").status_code == 404


def test_area_creation_checks_the_polygon(admin, squares, db):
    url = "/api/v1/regions/35.09/areas"
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    point = {"type": "Point", "coordinates": [113.6, -8.2]}
    open_ring = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}
    for geometry in (bowtie, point, open_ring, {"type": "Polygon", "coordinates": "x"}, None):
        resp = admin.post(url, json={"code": "35.09.09", "name": "Rusak", "geometry": geometry})
        assert resp.status_code == 422, geometry
    assert admin.post(url, json={"code": "35.09.01", "name": "Lagi", "geometry": WEST}).status_code == 409
    child = admin.post(
        url,
        json={
            "code": "35.09.01.2001",
            "name": "Kepatihan",
            "kind": "kelurahan",
            "parent_id": squares[0]["id"],
            "geometry": WEST,
        },
    )
    assert child.status_code == 201
    assert child.json()["parent_id"] == squares[0]["id"]
    orphan = admin.post(
        url,
        json={
            "code": "35.09.01.2002",
            "name": "X",
            "kind": "kelurahan",
            "parent_id": 999999,
            "geometry": WEST,
        },
    )
    assert orphan.status_code == 422
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "area")).all()
    assert list(actions) == ["area.create"] * 3


def test_areas_are_written_by_the_region_admin_only(make_client, world):
    body = {"code": "35.09.03", "name": "Patrang", "geometry": WEST}
    for email in ("dishub@jember.go.id", "evaluator@kominfo.go.id", PBL_ADMIN):
        c = make_client().login(email, world["password"])
        assert c.post("/api/v1/regions/35.09/areas", json=body).status_code == 403, email


def test_api_key_with_region_read_reads_areas(admin, squares, make_client):
    key = admin.post(
        "/api/v1/regions/35.09/api-keys", json={"name": "Peta", "permissions": ["region:read"]}
    ).json()
    machine = make_client()
    machine.headers["Authorization"] = f"Bearer {key['secret']}"
    assert len(machine.get("/api/v1/regions/35.09/areas").json()) == 2
    found = machine.get("/api/v1/regions/35.09/areas/lookup", params={"lon": 113.75, "lat": -8.2})
    assert found.json()["code"] == "35.09.02"
    assert (
        machine.post(
            "/api/v1/regions/35.09/areas", json={"code": "X1", "name": "X", "geometry": EAST}
        ).status_code
        == 403
    )
