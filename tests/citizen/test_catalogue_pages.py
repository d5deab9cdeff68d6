"""The catalogue's pages: the public search and detail pages (in Bahasa Indonesia first), and the staff
pages where the region admin and the offices' operators add, change and withdraw services."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest

JBR = "/api/v1/regions/35.09/services"
PBL = "/api/v1/regions/35.74/services"
EMAILS = {
    "admin": "admin@jember.go.id",
    "dishub": "dishub@jember.go.id",
    "dinkes": "dinkes@jember.go.id",
    "citizen": "warga@example.id",
    "pbl_admin": "admin@probolinggokota.go.id",
    "evaluator": "evaluator@kominfo.go.id",
}
MPP_HOURS = [
    {"days": [0, 1, 2, 3], "opens": "08:00", "closes": "15:00"},
    {"days": [4], "opens": "08:00", "closes": "11:00"},
]


def body(code: str, /, **fields: Any) -> dict[str, Any]:
    return {
        "code": code,
        "office": "Dishub",
        "name": f"Layanan {code}",
        "opening_hours": MPP_HOURS,
        "channels": ["mpp"],
    } | fields


@pytest.fixture
def as_user(make_client: Callable[[], Any], world: dict[str, Any]) -> Callable[[str], Any]:
    logged_in: dict[str, Any] = {}

    def _as(name: str) -> Any:
        if name not in logged_in:
            logged_in[name] = make_client().login(EMAILS[name], world["password"])
        return logged_in[name]

    return _as


@pytest.fixture
def admin(as_user: Callable[[str], Any]) -> Any:
    return as_user("admin")


@pytest.fixture
def kir(admin: Any) -> dict[str, Any]:
    resp = admin.post(
        JBR,
        json=body(
            "UJI-KIR",
            name="Uji berkala kendaraan bermotor",
            name_en="Periodic vehicle test",
            description="Pengujian mobil barang dan angkutan umum.",
            requirements=["STNK asli", "Kartu uji lama"],
            procedure=["Daftar di loket", "Uji emisi dan rem", "Terima kartu uji"],
            fee_rp=75000,
            fee_note="Sesuai Perda retribusi.",
            duration_days=3,
            location_name="UPT Pengujian Kendaraan Bermotor",
            address="Jl. Contoh No. 1, Jember",
            lat=-8.1724,
            lon=113.6871,
            channels=["counter", "online"],
            online_url="https://example.go.id/kir",
            legal_basis="PP No. 55 Tahun 2012",
        ),
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def field_error(page: str, name: str) -> str:
    found = re.search(
        rf'<div class="field has-error">\s*<label for="f-{name}".*?<small class="error" role="alert">(.*?)</small>',
        page,
        re.S,
    )
    assert found, f"field {name} is not marked"
    return html.unescape(found.group(1))


def general_error(page: str) -> str:
    found = re.search(r'class="flash flash-error"[^>]*>(.*?)</', page, re.S)
    assert found, "no message above the form"
    return html.unescape(found.group(1).strip())


def titles(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'<h2><a href="/services/[^"]+">(.*?)</a></h2>', page)]


def form_data(page: str, **fields: Any) -> dict[str, Any]:
    """A form as the staff page would post it: the CSRF token, blanks, and ``fields``."""
    data: dict[str, Any] = {
        "csrf_token": csrf_of(page),
        "code": "",
        "office": "Dishub",
        "name": "",
        "name_en": "",
        "description": "",
        "requirements": "",
        "procedure": "",
        "fee_rp": "0",
        "fee_note": "",
        "duration_days": "1",
        "location_name": "",
        "address": "",
        "lat": "",
        "lon": "",
        "online_url": "",
        "legal_basis": "",
        "keywords": "",
        "channels": ["mpp"],
    }
    for day in range(7):
        for n in (1, 2):
            data[f"opens_{day}_{n}"] = ""
            data[f"closes_{day}_{n}"] = ""
    return data | fields


# ---------------------------------------------------------------- public pages


def test_the_public_list_shows_fee_duration_location_and_status(client, kir, admin):
    assert admin.post(JBR, json=body("GRATIS", name="Layanan gratis", opening_hours=[])).status_code == 201
    resp = client.get("/services")
    assert resp.status_code == 200
    page = resp.text
    assert titles(page) == ["Layanan gratis", "Uji berkala kendaraan bermotor"]
    assert "Rp 75.000" in page
    assert "Gratis" in page
    assert "3 hari kerja" in page
    assert "UPT Pengujian Kendaraan Bermotor" in page
    assert "Dishub — Dinas Perhubungan" in page
    assert ("Buka sekarang" in page) or ("Tutup" in page)
    assert "Jam layanan belum diisi" in page  # the service without hours has no badge
    assert "2 layanan ditemukan" in page

    english = client.get("/services?lang=en").text
    assert "Free" in english and "3 working days" in english and "2 services found" in english


def test_the_public_list_searches_filters_and_pages(client, admin, kir):
    assert admin.post(JBR, json=body("GIZI", office="Dinkes", name="Konsultasi gizi")).status_code == 201
    assert titles(client.get("/services", params={"q": "KENDARAAN uji"}).text) == [
        "Uji berkala kendaraan bermotor"
    ]
    assert titles(client.get("/services", params={"q": "kendaraan gizi"}).text) == []
    assert titles(client.get("/services", params={"office": "Dinkes"}).text) == ["Konsultasi gizi"]
    assert titles(client.get("/services", params={"office": "Tidak-ada"}).text) == []
    nothing = client.get("/services", params={"q": "zzz"}).text
    assert "Tidak ada layanan yang cocok dengan pencarian Anda." in nothing

    for n in range(23):
        assert admin.post(JBR, json=body(f"P{n:02d}", name=f"Perizinan nomor {n:02d}")).status_code == 201
    first = client.get("/services", params={"q": "perizinan"}).text
    assert len(titles(first)) == 20
    assert "1 / 2" in first
    assert 'href="/services?q=perizinan&amp;page=2"' in first  # the search stays in the pager's links
    second = client.get("/services", params={"q": "perizinan", "page": "2"}).text
    assert titles(second) == ["Perizinan nomor 20", "Perizinan nomor 21", "Perizinan nomor 22"]


def test_open_now_filter_leaves_out_services_without_hours(client, admin, kir):
    assert (
        admin.post(JBR, json=body("TANPA-JAM", name="Layanan tanpa jam", opening_hours=[])).status_code == 201
    )
    assert "Layanan tanpa jam" in titles(client.get("/services").text)
    shown = client.get("/services", params={"open_now": "1"}).text
    assert "Layanan tanpa jam" not in titles(shown)
    assert 'name="open_now" value="1" checked' in shown


def test_the_region_comes_from_the_query_else_the_default(client, as_user, kir, settings):
    pbl = as_user("pbl_admin")
    assert pbl.post(PBL, json=body("WIFI", office="Diskominfo", name="Wifi publik")).status_code == 201
    assert titles(client.get("/services").text) == ["Uji berkala kendaraan bermotor"]  # the first region
    assert titles(client.get("/services", params={"region": "35.74"}).text) == ["Wifi publik"]
    assert client.get("/services/WIFI", params={"region": "35.74"}).status_code == 200
    assert client.get("/services/WIFI").status_code == 404  # not in Jember
    # a Probolinggo account sees its own region
    assert titles(pbl.get("/services").text) == ["Wifi publik"]
    settings.default_region = "35.74"
    assert titles(client.get("/services").text) == ["Wifi publik"]
    assert client.get("/services", params={"region": "99.99"}).status_code == 404
    assert client.get("/services", params={"region": "bukan"}).status_code == 404


def test_the_detail_page_tells_everything_in_indonesian_first(client, kir):
    resp = client.get("/services/UJI-KIR")
    assert resp.status_code == 200
    page = resp.text
    assert "<li>STNK asli</li>" in page and "<li>Kartu uji lama</li>" in page
    assert re.search(
        r'<ol class="svc-procedure">\s*<li>Daftar di loket</li>\s*<li>Uji emisi dan rem</li>', page
    )
    assert "Rp 75.000" in page and "Sesuai Perda retribusi." in page
    assert "3 hari kerja" in page
    for day in ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"):
        assert f'<th scope="row">{day}</th>' in page
    assert re.search(r"<th scope=\"row\">Jumat</th>\s*<td>08:00–11:00 WIB</td>", page)
    assert re.search(r"<th scope=\"row\">Sabtu</th>\s*<td><span class=\"muted\">Tutup</span></td>", page)
    assert "https://www.openstreetmap.org/?mlat=-8.1724&amp;mlon=113.6871" in page
    assert 'href="https://example.go.id/kir"' in page
    assert "PP No. 55 Tahun 2012" in page
    assert "Dinas Perhubungan (Dishub)" in page
    assert "Jl. Contoh No. 1, Jember" in page
    assert 'href="/admin/services/UJI-KIR"' not in page  # no edit link for visitors

    english = client.get("/services/UJI-KIR?lang=en").text
    assert '<th scope="row">Monday</th>' in english
    assert "Periodic vehicle test" in english
    assert "3 working days" in english

    assert client.get("/services/TIDAK-ADA").status_code == 404
    assert client.get("/services/" + "x" * 50).status_code == 404


def test_bad_query_parameters_never_break_the_pages(client, kir):
    for params in ({"page": "abc"}, {"page": "-4"}, {"q": "a\x00b"}, {"office": "\x01"}, {"q": "%_%"}):
        assert client.get("/services", params=params).status_code == 200, params


def test_names_are_escaped_on_every_page(client, admin):
    evil = "<script>alert(1)</script>"
    made = admin.post(
        JBR,
        json=body("XSS", name=f"Layanan {evil}", requirements=[evil], description=evil, fee_note=evil),
    )
    assert made.status_code == 201
    for page in (
        client.get("/services").text,
        client.get("/services/XSS").text,
        admin.get("/admin/services").text,
        admin.get("/admin/services/XSS").text,
    ):
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# ---------------------------------------------------------------- staff pages


def test_staff_pages_are_for_the_admin_and_the_office_operators(client, as_user, admin, kir):
    assert admin.post(JBR, json=body("GIZI", office="Dinkes", name="Konsultasi gizi")).status_code == 201
    anonymous = client.get("/admin/services", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    for who in ("citizen", "evaluator"):
        assert as_user(who).get("/admin/services").status_code == 403, who

    all_services = admin.get("/admin/services").text
    assert "Uji berkala kendaraan bermotor" in all_services and "Konsultasi gizi" in all_services

    dishub = as_user("dishub")
    own = dishub.get("/admin/services").text
    assert "Uji berkala kendaraan bermotor" in own and "Konsultasi gizi" not in own
    assert '<option value="Dishub" selected>' in own
    assert '<option value="Dinkes"' not in own  # only its own office to choose
    assert dishub.get("/admin/services/UJI-KIR").status_code == 200
    assert dishub.get("/admin/services/GIZI").status_code == 403
    refused = dishub.post("/admin/services/GIZI", data={"csrf_token": csrf_of(own), "name": "Diubah"})
    assert refused.status_code == 403
    assert as_user("pbl_admin").get("/admin/services/UJI-KIR").status_code == 404  # not in its region

    # the detail page offers the edit link to those who may use it
    assert 'href="/admin/services/UJI-KIR"' in dishub.get("/services/UJI-KIR").text
    assert 'href="/admin/services/GIZI"' not in dishub.get("/services/GIZI").text


def test_adding_a_service_through_the_form(client, admin, world):
    page = admin.get("/admin/services").text
    hours = {"opens_0_1": "08:00", "closes_0_1": "12:00", "opens_0_2": "13:00", "closes_0_2": "15:00"}
    for day in (1, 2, 3):
        hours |= {f"opens_{day}_1": "08:00", f"closes_{day}_1": "15:00"}
    hours |= {"opens_4_1": "8.00", "closes_4_1": "11:00"}
    resp = admin.post(
        "/admin/services",
        data=form_data(
            page,
            code="PBG",
            office="Dishub",
            name="Persetujuan Bangunan Gedung",
            requirements="KTP-el\n\n  Sertipikat tanah  \nGambar teknis\n",
            procedure="Daftar di SIMBG\nBayar retribusi",
            fee_rp="Rp 1.500.000",
            duration_days="28",
            lat="-8,1724",
            lon="113,6871",
            channels=["mpp", "online"],
            online_url="https://simbg.pu.go.id",
            **hours,
        ),
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == "/admin/services/PBG?done=created"
    assert "Layanan telah ditambahkan ke katalog." in admin.get(resp.headers["location"]).text

    made = client.get(f"{JBR}/PBG").json()
    assert made["requirements"] == ["KTP-el", "Sertipikat tanah", "Gambar teknis"]
    assert made["procedure"] == ["Daftar di SIMBG", "Bayar retribusi"]
    assert made["fee_rp"] == 1500000 and made["duration_days"] == 28
    assert (made["lat"], made["lon"]) == (-8.1724, 113.6871)
    assert made["channels"] == ["mpp", "online"]
    assert made["opening_hours"] == [
        {"days": [0], "opens": "08:00", "closes": "12:00"},
        {"days": [0], "opens": "13:00", "closes": "15:00"},
        {"days": [1, 2, 3], "opens": "08:00", "closes": "15:00"},
        {"days": [4], "opens": "08:00", "closes": "11:00"},
    ]


def test_a_refused_form_comes_back_with_messages_and_values(admin, kir):
    page = admin.get("/admin/services").text
    resp = admin.post(
        "/admin/services",
        data=form_data(
            page,
            code="BARU",
            name="",
            fee_rp="-5",
            description="Deskripsi yang tetap ada",
            requirements="Syarat satu\nSyarat dua",
            opens_0_1="15:00",
            closes_0_1="08:00",
            opens_1_1="08:00",
            opens_2_1="8 pagi",
            closes_2_1="15:00",
        ),
    )
    assert resp.status_code == 422
    refused = resp.text
    assert general_error(refused) == "Silakan perbaiki isian yang ditandai."
    assert field_error(refused, "name") == "Isian ini wajib diisi."
    assert field_error(refused, "fee_rp") == "Angka terlalu kecil (paling kecil 0)."
    assert "Jam tutup harus lebih akhir daripada jam buka." in refused  # Monday
    assert "Isi jam buka dan jam tutup, atau kosongkan keduanya." in refused  # Tuesday
    assert "Tulis jam dengan format JJ:MM, misalnya 08:00." in refused  # Wednesday
    assert "Deskripsi yang tetap ada" in refused and "Syarat satu\nSyarat dua" in refused
    assert 'name="opens_0_1" value="15:00"' in refused

    duplicate = admin.post("/admin/services", data=form_data(page, code="UJI-KIR", name="Lagi"))
    assert duplicate.status_code == 422
    assert "sudah ada" in field_error(duplicate.text, "code")

    no_office = admin.post("/admin/services", data=form_data(page, code="X", name="X", office="Bapenda"))
    assert no_office.status_code == 422
    assert field_error(no_office.text, "office") == "Tidak ada OPD Bapenda di wilayah ini."

    half_position = admin.post("/admin/services", data=form_data(page, code="X", name="X", lat="-8.1"))
    assert half_position.status_code == 422
    assert (
        field_error(half_position.text, "lon") == "Isi lintang dan bujur sekaligus, atau kosongkan keduanya."
    )

    english = admin.post("/admin/services?lang=en", data=form_data(page, code="X", name="X", fee_rp="banyak"))
    assert english.status_code == 422
    assert field_error(english.text, "fee_rp") == "Enter a whole number."
    assert admin.get(f"{JBR}/BARU").status_code == 404


def test_editing_and_withdrawing_through_the_form(client, admin, kir):
    page = admin.get("/admin/services/UJI-KIR").text
    assert 'value="Uji berkala kendaraan bermotor"' in page
    assert 'name="opens_4_1" value="08:00"' in page and 'name="closes_4_1" value="11:00"' in page
    assert "STNK asli\nKartu uji lama" in page

    changed = form_data(
        page,
        code="UJI-KIR",
        name="Uji KIR",
        requirements="STNK asli",
        fee_rp="80000",
        duration_days="0",
        lat="",
        lon="",
        channels=["counter"],
        active="1",
        opens_5_1="07:30",
        closes_5_1="11:00",
    )
    resp = admin.post("/admin/services/UJI-KIR", data=changed, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    saved = client.get(f"{JBR}/UJI-KIR").json()
    assert saved["name"] == "Uji KIR" and saved["fee_rp"] == 80000 and saved["duration_days"] == 0
    assert saved["lat"] is None and saved["channels"] == ["counter"]
    assert saved["opening_hours"] == [{"days": [5], "opens": "07:30", "closes": "11:00"}]
    assert "Selesai di hari yang sama" in client.get("/services/UJI-KIR").text

    bad = admin.post("/admin/services/UJI-KIR", data=changed | {"channels": ["online"], "online_url": ""})
    assert bad.status_code == 422
    assert "alamat web" in field_error(bad.text, "online_url")
    assert client.get(f"{JBR}/UJI-KIR").json()["channels"] == ["counter"]  # nothing half-saved

    token = csrf_of(page)
    assert admin.post("/admin/services/UJI-KIR/delete", data={}).status_code == 403  # no CSRF token
    withdrawn = admin.post(
        "/admin/services/UJI-KIR/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert withdrawn.status_code == 303
    assert client.get("/services/UJI-KIR").status_code == 404
    assert "Uji KIR" not in titles(client.get("/services").text)
    listed = admin.get("/admin/services?done=withdrawn").text
    assert "Layanan telah ditarik dari katalog." in listed and "Ditarik" in listed
    assert admin.get("/services/UJI-KIR").status_code == 200  # staff still see it

    # ticking "active" again brings it back
    restored = admin.post("/admin/services/UJI-KIR", data=changed, follow_redirects=False)
    assert restored.status_code == 303
    assert client.get("/services/UJI-KIR").status_code == 200
