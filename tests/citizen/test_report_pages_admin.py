"""The region admin's set-up of reporting through its pages: categories, their routing per kecamatan,
the region's days off next to the national holidays, the offices' notification channels, and the menu."""

from __future__ import annotations

import re
from typing import Any

from citizendata import IN_KALIWATES
from reportpages import R, csrf, file_report, form_message, login

CATEGORIES = "/admin/report-categories"


def category_form(**overrides: Any) -> dict[str, str]:
    data = {
        "code": "lampu-jalan",
        "name": "Lampu jalan mati",
        "name_en": "Street light out",
        "group": "infrastruktur",
        "office_id": "",
        "verify_days": "2",
        "respond_days": "4",
        "close_days": "7",
        "duplicate_radius_m": "50",
        "description": "",
        "keywords": "lampu, penerangan",
        "active": "1",
    }
    data.update({k: str(v) for k, v in overrides.items()})
    return data


def test_the_admin_adds_and_edits_a_category_and_refused_input_comes_back(
    make_client: Any, reporting: dict[str, Any]
) -> None:
    admin = login(make_client, reporting, "admin")
    page = admin.get(CATEGORIES)
    assert page.status_code == 200
    assert 'data-code="jalan-rusak"' in page.text and "Pungutan liar" in page.text
    assert "atribut Open311" in page.text  # attributes stay API-only, and the page says so
    dishub = reporting["offices"]["dishub"].id

    token = csrf(page.text)
    bad = admin.post(
        CATEGORIES, data={"csrf_token": token, **category_form(code="lampu jalan", verify_days="0")}
    )
    assert bad.status_code == 422
    assert "Silakan perbaiki isian yang ditandai." in form_message(bad.text)
    assert 'value="Lampu jalan mati"' in bad.text  # what was typed stays
    taken = admin.post(CATEGORIES, data={"csrf_token": token, **category_form(code="jalan-rusak")})
    assert taken.status_code == 422 and "Kategori dengan kode ini sudah ada." in form_message(taken.text)

    made = admin.post(
        CATEGORIES, data={"csrf_token": token, **category_form(office_id=dishub)}, follow_redirects=False
    )
    assert made.status_code == 303 and made.headers["location"] == f"{CATEGORIES}?ok=created"
    created = {c["code"]: c for c in admin.get(f"{R}/report-categories").json()}["lampu-jalan"]
    assert created["office"]["short_name"] == "Dishub" and created["verify_days"] == 2
    assert created["duplicate_radius_m"] == 50 and created["name_en"] == "Street light out"

    edit_url = f"{CATEGORIES}/{created['id']}"
    edit = admin.get(edit_url)
    assert edit.status_code == 200 and 'value="Lampu jalan mati"' in edit.text
    saved = admin.post(
        edit_url,
        data={
            "csrf_token": csrf(edit.text),
            **category_form(name="Lampu PJU mati", respond_days="6", active=""),
        },
        follow_redirects=False,
    )
    assert saved.headers["location"] == f"{edit_url}?ok=saved"
    everything = admin.get(f"{R}/report-categories", params={"include_inactive": "true"}).json()
    row = {c["code"]: c for c in everything}["lampu-jalan"]
    assert row["name"] == "Lampu PJU mati" and row["respond_days"] == 6 and row["active"] is False
    assert row["office"] is None  # the office select was left empty
    assert 'value="lampu-jalan"' not in admin.get("/reports/new").text  # inactive: no longer offered

    attributes = {c["code"]: c for c in everything}["jalan-rusak"]["attributes"]
    road_edit = f"{CATEGORIES}/{reporting['categories']['road'].id}"
    admin.post(road_edit, data={"csrf_token": csrf(edit.text), **category_form(name="Jalan rusak")})
    kept = {c["code"]: c for c in admin.get(f"{R}/report-categories").json()}["jalan-rusak"]
    assert kept["attributes"] == attributes  # the form leaves the API-only attributes alone

    assert admin.get(f"{CATEGORIES}/999999").status_code == 404
    assert login(make_client, reporting, "dishub").get(CATEGORIES).status_code == 403


def test_routing_per_kecamatan_decides_the_suggested_office(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    admin = login(make_client, reporting, "admin")
    road = reporting["categories"]["road"]
    kaliwates = reporting["areas"]["kaliwates"]
    sumbersari = reporting["areas"]["sumbersari"]
    kominfo = reporting["offices"]["kominfo"].id
    page = admin.get(f"{CATEGORIES}/{road.id}")
    dinkes = reporting["offices"]["dinkes"].id
    assert re.search(rf'name="area_{kaliwates.id}">.*?<option value="{dinkes}" selected>', page.text, re.S)

    data = {"csrf_token": csrf(page.text), f"area_{kaliwates.id}": str(kominfo), f"area_{sumbersari.id}": ""}
    resp = admin.post(f"{CATEGORIES}/{road.id}/routes", data=data, follow_redirects=False)
    assert resp.status_code == 303 and "ok=routes" in resp.headers["location"]
    no, _code = file_report(client, lat=IN_KALIWATES[0], lon=IN_KALIWATES[1])
    assert admin.get(f"{R}/reports/{no}").json()["suggested_office"]["short_name"] == "Diskominfo"

    bad = admin.post(
        f"{CATEGORIES}/{road.id}/routes",
        data={"csrf_token": csrf(page.text), f"area_{kaliwates.id}": "999999"},
    )
    assert bad.status_code == 422 and form_message(bad.text)
    routes = admin.get(f"{R}/report-categories/jalan-rusak/routes").json()
    assert [r["office"]["short_name"] for r in routes] == ["Diskominfo"]  # the refused change left it


def test_days_off_are_added_and_removed_next_to_the_national_holidays(
    make_client: Any, reporting: dict[str, Any]
) -> None:
    admin = login(make_client, reporting, "admin")
    page = admin.get(CATEGORIES, params={"year": "2026"})
    assert "Hari libur tahun 2026" in page.text
    assert "Tahun Baru" in page.text  # national holidays are listed for context
    token = csrf(page.text)
    added = admin.post(
        f"{CATEGORIES}/days-off",
        data={"csrf_token": token, "day": "2026-01-21", "name": "Hari Jadi Kabupaten Jember"},
        follow_redirects=False,
    )
    assert added.status_code == 303 and "ok=day_added" in added.headers["location"]
    assert admin.get(f"{R}/days-off", params={"year": 2026}).json() == [
        {"day": "2026-01-21", "name": "Hari Jadi Kabupaten Jember"}
    ]
    twice = admin.post(
        f"{CATEGORIES}/days-off", data={"csrf_token": token, "day": "2026-01-21", "name": "Lagi"}
    )
    assert twice.status_code == 409 and "Hari ini sudah tercatat." in form_message(twice.text)
    bad = admin.post(f"{CATEGORIES}/days-off", data={"csrf_token": token, "day": "kemarin", "name": ""})
    assert bad.status_code == 422 and form_message(bad.text)

    listed = admin.get(CATEGORIES, params={"year": "2026"}).text
    assert "Hari Jadi Kabupaten Jember" in listed
    assert 'action="/admin/report-categories/days-off/2026-01-21/delete"' in listed
    removed = admin.post(
        f"{CATEGORIES}/days-off/2026-01-21/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert removed.status_code == 303 and admin.get(f"{R}/days-off").json() == []
    gone = admin.post(f"{CATEGORIES}/days-off/2026-01-21/delete", data={"csrf_token": token})
    assert gone.status_code == 404
    assert (
        admin.post(f"{CATEGORIES}/days-off/bukan-tanggal/delete", data={"csrf_token": token}).status_code
        == 404
    )


def test_offices_manage_their_own_channels_and_the_admin_any(
    make_client: Any, reporting: dict[str, Any]
) -> None:
    dishub = login(make_client, reporting, "dishub")
    page = dishub.get("/reports/channels")
    assert page.status_code == 200 and "Dinas Perhubungan" in page.text
    token = csrf(page.text)
    bad = dishub.post(
        "/reports/channels", data={"csrf_token": token, "kind": "webhook", "target": "ftp://x.id"}
    )
    assert bad.status_code == 422 and "http:// atau https://" in form_message(bad.text)
    ok = dishub.post(
        "/reports/channels",
        data={"csrf_token": token, "kind": "email", "target": "dishub@jember.go.id", "active": "1"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and "ok=channel_added" in ok.headers["location"]
    listed = dishub.get("/reports/channels").text
    assert "dishub@jember.go.id" in listed
    channel = re.search(r'action="/reports/channels/(\d+)/delete"', listed)
    assert channel is not None

    dinkes = login(make_client, reporting, "dinkes")
    dishub_id = reporting["offices"]["dishub"].id
    assert dinkes.get("/reports/channels", params={"office": dishub_id}).status_code == 403
    foreign = dinkes.post(
        f"/reports/channels/{channel.group(1)}/delete",
        data={"csrf_token": csrf(dinkes.get("/reports/channels").text), "office": str(dishub_id)},
    )
    assert foreign.status_code == 403

    admin = login(make_client, reporting, "admin")
    overview = admin.get(CATEGORIES).text
    assert f'href="/reports/channels?office={dishub_id}"' in overview
    seen = admin.get("/reports/channels", params={"office": dishub_id}).text
    assert "dishub@jember.go.id" in seen
    removed = admin.post(
        f"/reports/channels/{channel.group(1)}/delete",
        data={"csrf_token": csrf(seen), "office": str(dishub_id)},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert "dishub@jember.go.id" not in dishub.get("/reports/channels").text


def test_the_menu_offers_reporting_to_everyone_and_the_queues_to_staff(
    make_client: Any, reporting: dict[str, Any]
) -> None:
    def menu(who: str) -> list[str]:
        page = login(make_client, reporting, who).get("/").text
        nav = re.search(r'<nav class="mainnav"[^>]*>(.*?)</nav>', page, re.S)
        assert nav is not None
        return re.findall(r'href="([^"]+)"', nav.group(1))

    citizen = menu("citizen")
    assert citizen[:4] == ["/", "/reports/new", "/reports/track", "/services"]
    assert "/reports/queue" not in citizen
    office = menu("dishub")
    assert "/reports/queue" in office and "/reports/verify" not in office and "/masterplans" in office
    admin = menu("admin")
    assert {"/reports/queue", "/reports/verify", "/admin/report-categories", "/admin/offices"} <= set(admin)
    page = login(make_client, reporting, "admin").get("/reports/verify").text
    assert ">Verifikasi</a>" in page and ">Kategori laporan</a>" in page and ">Lapor</a>" in page
