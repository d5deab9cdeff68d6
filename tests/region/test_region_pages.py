"""Pages of regions (overview and its map), the region admin's offices, and the start page."""

from __future__ import annotations

import re

from sqlalchemy import select

from kotacerdas.region import service as regions
from kotacerdas.region.models import Office

ADMIN = "admin@jember.go.id"
PBL_ADMIN = "admin@probolinggokota.go.id"


def _square(lon, lat, size=0.1):
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def _two_kecamatan(db, region):
    regions.create_area(
        db, region_id=region.id, code="35.09.01", name="Kaliwates", geometry=_square(113.6, -8.25)
    )
    regions.create_area(
        db, region_id=region.id, code="35.09.02", name="Sumbersari", geometry=_square(113.7, -8.25)
    )
    db.commit()


# ---------------------------------------------------------------- start page


def test_home_page_welcomes_visitors_with_a_login_button(client, world):
    page = client.get("/?lang=en")
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert 'href="/login"' in page.text
    assert "Smart City Movement" in page.text
    assert "/admin/users" not in page.text


def test_home_page_links_depend_on_the_role(make_client, world):
    admin = make_client().login(ADMIN, world["password"]).get("/").text
    for href in (
        "/masterplans",
        "/region",
        "/admin/offices",
        "/admin/users",
        "/admin/audit",
        "/account/api-keys",
    ):
        assert f'href="{href}"' in admin
    operator = make_client().login("dishub@jember.go.id", world["password"]).get("/").text
    assert 'href="/masterplans"' in operator
    assert 'href="/admin/users"' not in operator
    evaluator = make_client().login("evaluator@kominfo.go.id", world["password"]).get("/").text
    assert 'href="/regions"' in evaluator
    assert 'href="/masterplans"' not in evaluator
    citizen = make_client().login("warga@example.id", world["password"]).get("/").text
    assert 'href="/account"' in citizen
    assert 'href="/region"' not in citizen


# ---------------------------------------------------------------- regions


def test_national_evaluator_lists_every_region(client, world):
    client.login("evaluator@kominfo.go.id", world["password"])
    page = client.get("/regions").text
    assert 'href="/regions/35.09"' in page
    assert 'href="/regions/35.74"' in page
    assert "Kota Probolinggo" in page


def test_region_overview_draws_the_kecamatan_as_svg(client, world, db):
    _two_kecamatan(db, world["jember"])
    client.login("evaluator@kominfo.go.id", world["password"])
    page = client.get("/regions/35.09").text
    svg = re.search(r"<svg .*?</svg>", page, re.S).group(0)
    assert svg.count("<path ") == 2
    assert "<title>Kaliwates (35.09.01)</title>" in svg
    assert ">Sumbersari</text>" in svg
    width, height = map(float, re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg).groups())
    # two 0.1° squares side by side near 8°S: twice as wide as high, less cos(8.2°) and the margins
    assert 1.8 < (width - 28) / (height - 28) < 2.0
    paths = re.findall(r'<path d="([^"]+)"', svg)
    xs = [float(x) for d in paths for x in re.findall(r"([\d.]+) [\d.]+", d)]
    assert min(xs) >= 0
    assert max(xs) <= width
    for text in ("Dinas Perhubungan", "Kabupaten", "Jawa Timur", "WIB", "35.09.02"):
        assert text in page


def test_region_overview_without_polygons_says_so(client, world):
    client.login(ADMIN, world["password"])
    page = client.get("/region?lang=en")
    assert page.status_code == 200
    assert "<svg" not in page.text
    assert "No area polygons have been loaded" in page.text


def test_region_overview_is_for_members_and_evaluators(make_client, client, world):
    client.login(ADMIN, world["password"])
    assert client.get("/regions/35.09").status_code == 200
    assert client.get("/regions/35.74").status_code == 403
    assert client.get("/regions/99.99").status_code == 404
    assert client.get("/regions/%00").status_code == 404
    assert [r for r in re.findall(r'href="/regions/([\d.]+)"', client.get("/regions").text)] == ["35.09"]

    operator = make_client().login("dishub@jember.go.id", world["password"])
    assert "Kabupaten Jember" in operator.get("/region").text
    citizen = make_client().login("warga@example.id", world["password"])
    assert citizen.get("/region").status_code == 403
    assert citizen.get("/regions/35.09").status_code == 403
    evaluator = make_client().login("evaluator@kominfo.go.id", world["password"])
    assert evaluator.get("/region", follow_redirects=False).headers["location"] == "/regions"
    anonymous = make_client().get("/region", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/region"


# ---------------------------------------------------------------- offices


def test_region_admin_adds_and_edits_offices_on_the_page(client, world, db):
    client.login(ADMIN, world["password"])
    page = client.get("/admin/offices").text
    assert "Dinas Perhubungan" in page
    assert "Dinas Komunikasi dan Informatika" in page
    form = {
        "short_name": "Bappeda",
        "name": "Badan Perencanaan Pembangunan Daerah",
        "kind": "badan",
        "email": "",
        "csrf_token": client.csrf,
    }
    resp = client.post("/admin/offices", data=form, follow_redirects=False)
    assert resp.status_code == 303
    office = db.scalar(select(Office).where(Office.short_name == "Bappeda"))
    assert office.kind == "badan"
    assert office.email is None

    edit = client.get(f"/admin/offices/{office.id}")
    assert 'value="Badan Perencanaan Pembangunan Daerah"' in edit.text
    resp = client.post(
        f"/admin/offices/{office.id}",
        data={**form, "email": "bappeda@jember.go.id"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    db.expire_all()
    assert db.get(Office, office.id).email == "bappeda@jember.go.id"
    audit = client.get("/admin/audit").text
    assert "office.create" in audit
    assert "office.update" in audit


def test_office_forms_with_bad_input_are_shown_again(client, world, db):
    client.login(ADMIN, world["password"])
    base = {
        "short_name": "DLH",
        "name": "Dinas Lingkungan Hidup",
        "kind": "dinas",
        "email": "",
        "csrf_token": client.csrf,
    }
    for bad in (
        {"short_name": ""},
        {"kind": "ministry"},
        {"email": "nope"},
        {"name": "x" * 300},
        {"short_name": "Dishub"},
    ):
        resp = client.post("/admin/offices", data={**base, **bad})
        assert resp.status_code == 422, bad
        assert "<form" in resp.text
        assert 'class="flash flash-error"' in resp.text
    assert db.scalar(select(Office).where(Office.short_name == "DLH")) is None
    dishub = world["offices"]["dishub"].id
    resp = client.post(f"/admin/offices/{dishub}", data={**base, "short_name": "Dinkes"})
    assert resp.status_code == 422
    assert client.get("/admin/offices/999999").status_code == 404


def test_office_forms_need_the_csrf_token(client, world, db):
    client.login(ADMIN, world["password"])
    dishub = world["offices"]["dishub"].id
    data = {"short_name": "Hub", "name": "Diambil alih", "kind": "dinas"}
    assert client.post("/admin/offices", data=data, headers={"X-CSRF-Token": ""}).status_code == 403
    assert client.post(f"/admin/offices/{dishub}", data={**data, "csrf_token": "1" * 64}).status_code == 403
    db.expire_all()
    assert db.get(Office, dishub).name == "Dinas Perhubungan"
    assert db.scalar(select(Office).where(Office.short_name == "Hub")) is None


def test_probolinggo_admin_cannot_see_or_change_jember_offices_on_the_page(client, world, db):
    client.login(PBL_ADMIN, world["password"])
    dishub = world["offices"]["dishub"].id
    assert "<td>Dishub</td>" not in client.get("/admin/offices").text
    assert client.get(f"/admin/offices/{dishub}").status_code == 404
    resp = client.post(
        f"/admin/offices/{dishub}",
        data={"short_name": "Dishub", "name": "Diambil alih", "kind": "dinas", "csrf_token": client.csrf},
    )
    assert resp.status_code == 404
    db.expire_all()
    assert db.get(Office, dishub).name == "Dinas Perhubungan"


def test_office_pages_are_for_the_region_admin(make_client, world):
    for email in ("dishub@jember.go.id", "warga@example.id", "evaluator@kominfo.go.id"):
        c = make_client().login(email, world["password"])
        assert c.get("/admin/offices").status_code == 403, email
        resp = c.post(
            "/admin/offices", data={"short_name": "X", "name": "X", "kind": "dinas", "csrf_token": c.csrf}
        )
        assert resp.status_code == 403, email
