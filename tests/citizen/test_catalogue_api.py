"""The public-service catalogue (Mal Pelayanan Publik) through its JSON API: public search, who may
write which office's services, validation, withdrawal, region isolation, opening hours and the demo
catalogue."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.models import AuditEntry
from kotacerdas.citizen import catalogue
from kotacerdas.citizen.models import PublicService, RegionDayOff
from kotacerdas.region import service as regions

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
# 23-11-2026 is a Monday, 27-11-2026 a Friday, 17-08-2026 (Independence Day) a Monday
MONDAY_0900_WIB = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
FRIDAY_1300_WIB = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
INDEPENDENCE_DAY_0900_WIB = datetime(2026, 8, 17, 2, 0, tzinfo=UTC)


def body(code: str, /, **fields: Any) -> dict[str, Any]:
    return {
        "code": code,
        "office": "Dishub",
        "name": f"Layanan {code}",
        "requirements": ["KTP-el"],
        "procedure": ["Datang ke loket"],
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
def api_key(db: Session, world: dict[str, Any]) -> Callable[..., dict[str, str]]:
    def _key(permissions: list[str], office: str | None = None) -> dict[str, str]:
        _row, secret = auth.create_api_key(
            db,
            principal=auth.principal_for_user(world["users"]["admin"]),
            region_id=world["jember"].id,
            name=f"key {'/'.join(permissions)} {office or ''}",
            permissions=permissions,
            office_id=world["offices"][office].id if office else None,
        )
        db.commit()
        return {"Authorization": f"Bearer {secret}"}

    return _key


@pytest.fixture
def services(admin: Any) -> dict[str, dict[str, Any]]:
    """Four Jember services: two of Dishub, one of Dinkes, one without opening hours."""
    made = {}
    for data in (
        body(
            "UJI-KIR",
            name="Uji berkala kendaraan bermotor (uji KIR)",
            description="Pengujian mobil barang dan angkutan umum",
            keywords="KIR, BLUe, truk",
            fee_rp=75000,
            duration_days=0,
            channels=["counter"],
            opening_hours=[*MPP_HOURS, {"days": [5], "opens": "07:30", "closes": "11:00"}],
        ),
        body(
            "ANDALALIN",
            name="Persetujuan analisis dampak lalu lintas",
            requirements=["Dokumen Andalalin", "Site plan"],
            duration_days=30,
        ),
        body(
            "SLHS",
            office="Dinkes",
            name="Sertifikat Laik Higiene Sanitasi",
            requirements=["Hasil uji laboratorium dari Labkesda", "Sertifikat kursus penjamah pangan"],
            keywords="rumah makan, katering",
            channels=["mpp", "online"],
            online_url="https://oss.go.id",
            duration_days=14,
        ),
        body("KONSULTASI", office="Dinkes", name="Konsultasi gizi daring", opening_hours=[], channels=[]),
    ):
        resp = admin.post(JBR, json=data)
        assert resp.status_code == 201, resp.text
        made[data["code"]] = resp.json()
    return made


def codes(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [item["code"] for item in resp.json()["items"]]


# ---------------------------------------------------------------- reading


def test_anyone_reads_the_catalogue_without_logging_in(client, services):
    resp = client.get(JBR)
    assert resp.status_code == 200
    page = resp.json()
    assert page["total"] == 4 and page["limit"] == 50 and page["offset"] == 0
    # by name: Konsultasi, Persetujuan, Sertifikat, Uji
    assert [i["code"] for i in page["items"]] == ["KONSULTASI", "ANDALALIN", "SLHS", "UJI-KIR"]

    one = client.get(f"{JBR}/UJI-KIR")
    assert one.status_code == 200
    kir = one.json()
    assert kir["office"]["short_name"] == "Dishub"
    assert kir["office"]["name"] == "Dinas Perhubungan"
    assert kir["fee_rp"] == 75000 and kir["duration_days"] == 0
    assert kir["opening_hours"][-1] == {"days": [5], "opens": "07:30", "closes": "11:00"}
    assert isinstance(kir["open_now"], bool)
    assert kir["next_opening"].endswith("+07:00")  # the region's zone (WIB)

    assert client.get(f"{JBR}/KONSULTASI").json()["next_opening"] is None  # no hours, no opening
    missing = client.get(f"{JBR}/NOPE")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/regions/99.99/services").status_code == 404


def test_search_words_must_all_match_ignoring_case(client, services):
    assert codes(client.get(JBR, params={"q": "UJI kir"})) == ["UJI-KIR"]
    assert codes(client.get(JBR, params={"q": "kir andalalin"})) == []  # both words, not either
    assert codes(client.get(JBR, params={"q": "LABKESDA"})) == ["SLHS"]  # a requirement
    assert codes(client.get(JBR, params={"q": "katering"})) == ["SLHS"]  # keywords
    assert codes(client.get(JBR, params={"q": "angkutan"})) == ["UJI-KIR"]  # the description
    assert codes(client.get(JBR, params={"q": "perhubungan"})) == ["ANDALALIN", "UJI-KIR"]  # office name
    assert codes(client.get(JBR, params={"q": "site plan dishub"})) == ["ANDALALIN"]


def test_search_takes_percent_and_underscore_literally(admin, client, services):
    assert admin.post(JBR, json=body("DISKON", name="Keringanan 100% retribusi")).status_code == 201
    assert admin.post(JBR, json=body("SNAKE", name="Layanan kode_pos")).status_code == 201
    assert codes(client.get(JBR, params={"q": "100%"})) == ["DISKON"]
    assert codes(client.get(JBR, params={"q": "%"})) == ["DISKON"]
    assert codes(client.get(JBR, params={"q": "e_p"})) == ["SNAKE"]
    assert codes(client.get(JBR, params={"q": "_"})) == ["SNAKE"]
    assert codes(client.get(JBR, params={"q": 'ktp"'})) == []  # a quote is not JSON's quote


def test_filters_by_office_and_channel(client, services):
    assert codes(client.get(JBR, params={"office": "Dinkes"})) == ["KONSULTASI", "SLHS"]
    assert codes(client.get(JBR, params={"office": "dishub"})) == ["ANDALALIN", "UJI-KIR"]
    assert codes(client.get(JBR, params={"office": "Bapenda"})) == []
    assert codes(client.get(JBR, params={"channel": "online"})) == ["SLHS"]
    assert codes(client.get(JBR, params={"channel": "counter", "office": "Dishub"})) == ["UJI-KIR"]
    assert client.get(JBR, params={"channel": "fax"}).status_code == 422


def test_open_now_follows_the_weekly_hours_in_the_regions_zone(client, services, db, world):
    jember = world["jember"]

    def open_at(moment: datetime) -> list[str]:
        rows, total = catalogue.list_services(db, region_id=jember.id, open_at=moment)
        assert total == len(rows)
        return [row.code for row in rows]

    assert open_at(MONDAY_0900_WIB) == ["ANDALALIN", "SLHS", "UJI-KIR"]
    assert open_at(FRIDAY_1300_WIB) == []  # Friday closes at 11:00
    assert open_at(datetime(2026, 11, 28, 3, 0, tzinfo=UTC)) == ["UJI-KIR"]  # Saturday 10:00 WIB
    assert open_at(datetime(2026, 11, 23, 0, 59, tzinfo=UTC)) == []  # Monday 07:59 WIB
    assert open_at(datetime(2026, 11, 23, 8, 0, tzinfo=UTC)) == []  # Monday 15:00 WIB: closed
    assert open_at(INDEPENDENCE_DAY_0900_WIB) == []  # a national holiday

    db.add(RegionDayOff(region_id=jember.id, day=date(2026, 11, 23), name="Hari Jadi Kabupaten (contoh)"))
    db.commit()
    assert open_at(MONDAY_0900_WIB) == []
    rows, total = catalogue.list_services(db, region_id=jember.id, open_at=MONDAY_0900_WIB, q="kir")
    assert (rows, total) == ([], 0)

    # the API's open_now=true keeps only services open at the moment of the request
    for item in client.get(JBR, params={"open_now": "true"}).json()["items"]:
        assert item["open_now"] is True
        assert item["code"] != "KONSULTASI"


def test_opening_helpers_read_the_hours_in_the_given_zone(services, db, world):
    kir = db.scalar(select(PublicService).where(PublicService.code == "UJI-KIR"))
    assert kir is not None
    half_past_midnight = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    assert not catalogue.is_open(kir, half_past_midnight, "WIB")  # 07:30 WIB
    assert catalogue.is_open(kir, half_past_midnight, "WITA")  # 08:30 WITA
    assert catalogue.next_opening(kir, half_past_midnight, "WIB") == datetime(
        2026, 11, 23, 1, 0, tzinfo=UTC
    )  # 08:00 WIB
    # Friday 12:00 WIB: Saturday 07:30; the desk is closed Sunday
    assert catalogue.next_opening(kir, datetime(2026, 11, 27, 5, 0, tzinfo=UTC), "WIB") == datetime(
        2026, 11, 28, 0, 30, tzinfo=UTC
    )
    # while open, the next opening is the next window: Monday 09:00 WIB -> Tuesday 08:00 WIB
    assert catalogue.next_opening(kir, MONDAY_0900_WIB, "WIB") == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    # the Sunday before Independence Day: the Monday is a holiday, so Tuesday
    assert catalogue.next_opening(kir, datetime(2026, 8, 16, 2, 0, tzinfo=UTC), "WIB") == datetime(
        2026, 8, 18, 1, 0, tzinfo=UTC
    )


def test_pagination_pages_through_the_list_in_name_order(admin, client):
    for n in range(7):
        assert admin.post(JBR, json=body(f"S{n}", name=f"Layanan nomor {n}")).status_code == 201
    first = client.get(JBR, params={"limit": 3}).json()
    assert [i["code"] for i in first["items"]] == ["S0", "S1", "S2"]
    assert first["total"] == 7
    last = client.get(JBR, params={"limit": 3, "offset": 6}).json()
    assert [i["code"] for i in last["items"]] == ["S6"]
    assert last["total"] == 7 and last["offset"] == 6
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"q": "x" * 201}, {"q": "a\x00b"}):
        resp = client.get(JBR, params=bad)
        assert resp.status_code == 422, bad
        assert resp.json()["error"]["code"] == "validation_failed"


def test_regions_keep_their_own_catalogues(as_user, client, services):
    pbl = as_user("pbl_admin")
    made = pbl.post(PBL, json=body("UJI-KIR", office="Diskominfo", name="Layanan wifi publik Probolinggo"))
    assert made.status_code == 201, made.text  # the same code in another region is another service
    assert "UJI-KIR" in codes(client.get(JBR))
    assert codes(client.get(JBR, params={"q": "probolinggo"})) == []
    assert codes(client.get(JBR, params={"q": "wifi"})) == []
    assert client.get(f"{JBR}/UJI-KIR").json()["name"] == "Uji berkala kendaraan bermotor (uji KIR)"
    assert codes(client.get(PBL)) == ["UJI-KIR"]
    assert client.get(f"{PBL}/UJI-KIR").json()["office"]["short_name"] == "Diskominfo"
    assert codes(client.get(PBL, params={"office": "Dishub"})) == []  # Jember's office, not Probolinggo's


# ---------------------------------------------------------------- who may write


def test_office_operators_write_their_own_offices_services_only(as_user, client, services):
    dishub = as_user("dishub")
    assert dishub.post(JBR, json=body("PARKIR", name="Izin parkir")).status_code == 201
    refused = dishub.post(JBR, json=body("PUSKESMAS", office="Dinkes"))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"

    assert dishub.patch(f"{JBR}/UJI-KIR", json={"fee_rp": 80000}).json()["fee_rp"] == 80000
    assert dishub.patch(f"{JBR}/SLHS", json={"fee_rp": 1}).status_code == 403
    assert dishub.delete(f"{JBR}/SLHS").status_code == 403
    # nor may it hand its service to another office
    assert dishub.patch(f"{JBR}/UJI-KIR", json={"office": "Dinkes"}).status_code == 403
    assert client.get(f"{JBR}/UJI-KIR").json()["office"]["short_name"] == "Dishub"
    assert client.get(f"{JBR}/SLHS").json()["fee_rp"] == 0


def test_region_admin_writes_for_any_office_and_moves_services(admin, client, services):
    moved = admin.patch(f"{JBR}/KONSULTASI", json={"office": "Dishub", "name": "Konsultasi angkutan"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["office"]["short_name"] == "Dishub"
    assert client.get(f"{JBR}/KONSULTASI").json()["name"] == "Konsultasi angkutan"
    renamed = admin.patch(f"{JBR}/KONSULTASI", json={"code": "KONSULTASI-ANGKUTAN"})
    assert renamed.status_code == 200
    assert client.get(f"{JBR}/KONSULTASI").status_code == 404
    assert client.get(f"{JBR}/KONSULTASI-ANGKUTAN").status_code == 200


def test_outsiders_cannot_write(as_user, client, services):
    for who in ("citizen", "pbl_admin", "evaluator"):
        user = as_user(who)
        assert user.post(JBR, json=body("X1")).status_code == 403, who
        assert user.patch(f"{JBR}/UJI-KIR", json={"name": "Diubah"}).status_code == 403, who
        assert user.delete(f"{JBR}/UJI-KIR").status_code == 403, who
    for call in (
        lambda: client.post(JBR, json=body("X1")),
        lambda: client.patch(f"{JBR}/UJI-KIR", json={"name": "Diubah"}),
        lambda: client.delete(f"{JBR}/UJI-KIR"),
        lambda: client.post("/api/v1/regions/99.99/services", json=body("X1")),
    ):
        resp = call()
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "not_authenticated"
    assert client.get(f"{JBR}/UJI-KIR").json()["name"] == "Uji berkala kendaraan bermotor (uji KIR)"


def test_api_keys_need_the_permission_and_keep_to_their_office(client, api_key, services):
    dishub_key = api_key(["catalogue:write"], office="dishub")
    assert client.post(JBR, json=body("TRAYEK"), headers=dishub_key).status_code == 201
    assert client.post(JBR, json=body("GIZI", office="Dinkes"), headers=dishub_key).status_code == 403
    assert client.patch(f"{JBR}/SLHS", json={"fee_rp": 5}, headers=dishub_key).status_code == 403

    any_office = api_key(["catalogue:write"])
    assert client.post(JBR, json=body("GIZI", office="Dinkes"), headers=any_office).status_code == 201

    reader = api_key(["region:read"])
    assert client.post(JBR, json=body("LAIN"), headers=reader).status_code == 403
    assert client.get(JBR, headers=reader).status_code == 200  # reading needs nothing


# ---------------------------------------------------------------- withdrawal and the audit log


def test_delete_withdraws_the_service_and_patch_brings_it_back(admin, as_user, client, services, db, world):
    assert admin.delete(f"{JBR}/UJI-KIR").status_code == 204
    assert admin.delete(f"{JBR}/UJI-KIR").status_code == 204  # again: nothing more to do
    assert client.get(f"{JBR}/UJI-KIR").status_code == 404
    assert "UJI-KIR" not in codes(client.get(JBR))
    assert client.get(JBR, params={"include_inactive": "true"}).status_code == 401
    assert as_user("citizen").get(JBR, params={"include_inactive": "true"}).status_code == 403

    withdrawn = admin.get(f"{JBR}/UJI-KIR").json()
    assert withdrawn["active"] is False
    assert "UJI-KIR" in codes(admin.get(JBR, params={"include_inactive": "true"}))
    assert "UJI-KIR" in codes(as_user("dishub").get(JBR, params={"include_inactive": "true"}))
    # the code stays taken
    taken = admin.post(JBR, json=body("UJI-KIR"))
    assert taken.status_code == 409
    assert taken.json()["error"]["details"] == [{"field": "code"}]

    assert admin.patch(f"{JBR}/UJI-KIR", json={"active": True}).json()["active"] is True
    assert client.get(f"{JBR}/UJI-KIR").status_code == 200

    entries = db.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "public_service").order_by(AuditEntry.id)
    ).all()
    kir = db.scalar(select(PublicService).where(PublicService.code == "UJI-KIR"))
    assert kir is not None
    actions = [e.action for e in entries]
    assert actions.count("public_service.create") == 4
    assert actions[-2:] == ["public_service.delete", "public_service.update"]
    assert entries[-2].entity_id == entries[-1].entity_id == str(kir.id)
    assert entries[-1].changes == {"active": [False, True]}
    assert entries[-1].actor_label == "Admin Jember"
    assert entries[-1].region_id == world["jember"].id


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"opening_hours": [{"days": [0], "opens": "15:00", "closes": "08:00"}]}, "opening_hours"),
        ({"opening_hours": [{"days": [0], "opens": "25:00", "closes": "26:00"}]}, "opening_hours"),
        ({"opening_hours": [{"days": [0], "opens": "8 pagi", "closes": "15:00"}]}, "opening_hours"),
        ({"opening_hours": [{"days": [7], "opens": "08:00", "closes": "15:00"}]}, "opening_hours"),
        ({"opening_hours": [{"days": [], "opens": "08:00", "closes": "15:00"}]}, "opening_hours"),
        (
            {
                "opening_hours": [
                    {"days": [0, 1], "opens": "08:00", "closes": "12:00"},
                    {"days": [1], "opens": "11:00", "closes": "15:00"},
                ]
            },
            "opening_hours",
        ),
        ({"fee_rp": -1}, "fee_rp"),
        ({"fee_rp": 2**31}, "fee_rp"),
        ({"duration_days": -2}, "duration_days"),
        ({"code": "ada spasi"}, "code"),
        ({"name": ""}, "name"),
        ({"name": "Nama\x00"}, "name"),
        ({"requirements": ["ok", "x" * 501]}, "requirements"),
        ({"channels": ["fax"]}, "channels"),
        ({"online_url": "javascript:alert(1)"}, "online_url"),
        ({"lat": 95.0, "lon": 113.0}, "lat"),
        ({"colour": "biru"}, "colour"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(admin, world, change, where):
    resp = admin.post(JBR, json=body("BARU") | change)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_failed"
    assert any(d["field"].split(".")[0] == where for d in error["details"]), error["details"]


def test_the_service_refuses_what_needs_the_whole_record(admin, world, services):
    for change, field in (
        ({"office": "Bapenda"}, "office"),
        ({"lat": -8.17}, "lat"),
        ({"channels": ["online"], "online_url": ""}, "online_url"),
    ):
        resp = admin.post(JBR, json=body("BARU") | change)
        assert resp.status_code == 422, change
        assert {"field": field} in resp.json()["error"]["details"]
    unknown = admin.post(JBR, json=body("BARU", office="Bapenda")).json()["error"]["message"]
    assert unknown == "Tidak ada OPD Bapenda di wilayah ini."
    # a partial update is checked merged with what is stored
    assert admin.patch(f"{JBR}/SLHS", json={"online_url": ""}).status_code == 422
    assert admin.patch(f"{JBR}/UJI-KIR", json={"lat": -8.17}).status_code == 422
    assert admin.patch(f"{JBR}/UJI-KIR", json={"lat": -8.17, "lon": 113.69}).status_code == 200
    assert admin.patch(f"{JBR}/UJI-KIR", json={"lat": None, "lon": None}).json()["lat"] is None
    assert admin.patch(f"{JBR}/UJI-KIR", json={"name": None}).status_code == 422  # not a "clear"
    assert admin.patch(f"{JBR}/UJI-KIR", json={"code": "SLHS"}).status_code == 409
    assert admin.post(JBR, json=body("SLHS")).status_code == 409


def test_times_are_normalised_and_windows_sorted(admin, world):
    hours = [{"days": [4, 0], "opens": "8.00", "closes": "11:30"}]
    made = admin.post(JBR, json=body("JAM", opening_hours=hours))
    assert made.status_code == 201, made.text
    assert made.json()["opening_hours"] == [{"days": [0, 4], "opens": "08:00", "closes": "11:30"}]


# ---------------------------------------------------------------- the demo catalogue


def test_the_demo_catalogue_loads_into_a_region_with_the_demo_offices(client, db, world):
    jember = world["jember"]
    doc = json.loads(catalogue.demo_catalogue_file("35.09").read_text(encoding="utf-8"))
    assert "DEMO" in doc["source"]
    office_ids = {o.short_name: o.id for o in regions.list_offices(db, region_id=jember.id)}
    for short_name in sorted({s["office"] for s in doc["services"]} - set(office_ids)):
        office = regions.create_office(
            db, region_id=jember.id, name=f"Dinas {short_name}", short_name=short_name
        )
        office_ids[short_name] = office.id

    loaded = catalogue.load_demo_catalogue(db, region_id=jember.id, office_ids=office_ids)
    db.commit()
    assert loaded == len(doc["services"]) >= 25

    page = client.get(JBR, params={"limit": 200}).json()
    assert page["total"] == loaded
    assert {"KTP-EL", "KK", "AKTA-LAHIR", "PBG", "NIB-OSS", "UJI-KIR", "KARTU-AK1", "DTKS"} <= {
        i["code"] for i in page["items"]
    }
    # in the names, and in the requirements of the child's and the family card
    assert codes(client.get(JBR, params={"q": "akta", "office": "Dispendukcapil"})) == [
        "AKTA-LAHIR",
        "AKTA-MATI",
        "KIA",
        "KK",
    ]
    assert codes(client.get(JBR, params={"q": "kartu kuning"})) == ["KARTU-AK1"]
    ktp = client.get(f"{JBR}/KTP-EL").json()
    assert ktp["location_name"] == "Mal Pelayanan Publik Kabupaten Jember"
    assert ktp["fee_rp"] == 0
    assert ktp["opening_hours"][-1] == {"days": [4], "opens": "08:00", "closes": "11:00"}
    rows, _total = catalogue.list_services(db, region_id=jember.id, open_at=FRIDAY_1300_WIB, limit=200)
    assert {row.code for row in rows} == {"KTA-PERPUS"}  # the library reopens after Friday prayers

    # a region without a demo catalogue gets none; an office missing from the map is a fault
    assert catalogue.load_demo_catalogue(db, region_id=world["probolinggo"].id, office_ids={}) == 0
    with pytest.raises(ValueError, match="unknown office"):
        catalogue.load_demo_catalogue(db, region_id=jember.id, office_ids={"Dishub": office_ids["Dishub"]})
