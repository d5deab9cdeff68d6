"""Categories, their per-kecamatan routing, the region's days off, the deadline calculator and the
offices' notification channels, through the JSON API."""

from __future__ import annotations

from typing import Any

R = "/api/v1/regions/35.09"


def login(make_client: Any, world: dict[str, Any], who: str) -> Any:
    return make_client().login(world["users"][who].email, world["password"])


def test_categories_are_public_and_only_the_admin_changes_them(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    listed = client.get(f"{R}/report-categories").json()
    assert {c["code"] for c in listed} == {"jalan-rusak", "puskesmas", "pungli"}
    road = next(c for c in listed if c["code"] == "jalan-rusak")
    assert road["office"]["short_name"] == "Dishub"
    assert (road["verify_days"], road["respond_days"], road["close_days"]) == (3, 5, 10)  # LAPOR!-SP4N
    body = {"code": "lampu-pju", "name": "Lampu PJU mati", "office_id": reporting["offices"]["dishub"].id}
    assert client.post(f"{R}/report-categories", json=body).status_code == 401
    dishub = login(make_client, reporting, "dishub")
    assert dishub.post(f"{R}/report-categories", json=body).status_code == 403
    admin = login(make_client, reporting, "admin")
    created = admin.post(f"{R}/report-categories", json=body)
    assert created.status_code == 201, created.text
    assert admin.post(f"{R}/report-categories", json=body).status_code == 409
    resp = admin.patch(f"{R}/report-categories/lampu-pju", json={"respond_days": 2, "active": False})
    assert resp.json()["respond_days"] == 2
    assert "lampu-pju" not in {c["code"] for c in client.get(f"{R}/report-categories").json()}
    # an inactive category takes no reports
    resp = client.post(
        f"{R}/reports", json={"category": "lampu-pju", "description": "Mati", "address": "Jl. Jawa"}
    )
    assert resp.status_code == 422


def test_bad_category_input_is_a_clear_error(make_client: Any, reporting: dict[str, Any]) -> None:
    admin = login(make_client, reporting, "admin")
    bad = [
        {"code": "x y", "name": "Spasi"},
        {"code": "ok", "name": ""},
        {"code": "ok", "name": "Hari", "verify_days": 0},
        {"code": "ok", "name": "Kantor", "office_id": reporting["offices"]["pbl"].id},
        {"code": "ok", "name": "Atribut", "attributes": [{"code": "a", "datatype": "singlevaluelist"}]},
        {"code": "ok", "name": "Atribut", "attributes": [{"code": "a", "datatype": "photo"}]},
        {"code": "ok", "name": "Lain", "unknown": 1},
    ]
    for body in bad:
        resp = admin.post(f"{R}/report-categories", json=body)
        assert resp.status_code in (404, 422), (body, resp.text)
        assert resp.json()["error"]["message"]
    assert len(admin.get(f"{R}/report-categories").json()) == 3


def test_routes_send_a_kecamatan_to_another_office(make_client: Any, reporting: dict[str, Any]) -> None:
    admin = login(make_client, reporting, "admin")
    routes = admin.get(f"{R}/report-categories/jalan-rusak/routes").json()
    assert [(r["area"]["name"], r["office"]["short_name"]) for r in routes] == [("Kaliwates", "Dinkes")]
    resp = admin.put(f"{R}/report-categories/jalan-rusak/routes/35.09.01", json={"office_id": None})
    assert resp.status_code == 204
    assert admin.get(f"{R}/report-categories/jalan-rusak/routes").json() == []
    assert (
        admin.put(f"{R}/report-categories/jalan-rusak/routes/99.99", json={"office_id": None}).status_code
        == 404
    )


def test_days_off_move_deadlines(client: Any, make_client: Any, reporting: dict[str, Any]) -> None:
    params = {"start": "2026-06-05T10:00:00+07:00", "days": 3}  # a Friday
    before = client.get(f"{R}/working-days/deadline", params=params).json()
    assert before["due_at"].startswith("2026-06-10T16:59:59")  # end of Wednesday, WIB, in UTC
    admin = login(make_client, reporting, "admin")
    resp = admin.post(f"{R}/days-off", json={"day": "2026-06-09", "name": "Hari Jadi Kabupaten (contoh)"})
    assert resp.status_code == 201
    assert admin.post(f"{R}/days-off", json={"day": "2026-06-09", "name": "lagi"}).status_code == 409
    after = client.get(f"{R}/working-days/deadline", params=params).json()
    assert after["due_at"].startswith("2026-06-11T16:59:59")
    assert [d["day"] for d in client.get(f"{R}/days-off?year=2026").json()] == ["2026-06-09"]
    assert login(make_client, reporting, "dishub").delete(f"{R}/days-off/2026-06-09").status_code == 403
    assert admin.delete(f"{R}/days-off/2026-06-09").status_code == 204


def test_office_channels_belong_to_their_office(make_client: Any, reporting: dict[str, Any]) -> None:
    dishub_id = reporting["offices"]["dishub"].id
    dinkes_id = reporting["offices"]["dinkes"].id
    dishub = login(make_client, reporting, "dishub")
    body = {"kind": "webhook", "target": "https://sistem.dishub.example/hook", "secret": "s3cret-value"}
    created = dishub.post(f"{R}/offices/{dishub_id}/channels", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["signed"] is True and "secret" not in created.json()
    assert dishub.post(f"{R}/offices/{dinkes_id}/channels", json=body).status_code == 403
    bad = dishub.post(f"{R}/offices/{dishub_id}/channels", json={"kind": "webhook", "target": "ftp://x"})
    assert bad.status_code == 422
    assert (
        dishub.post(
            f"{R}/offices/{dishub_id}/channels", json={"kind": "email", "target": "bukan-email"}
        ).status_code
        == 422
    )
    assert len(dishub.get(f"{R}/offices/{dishub_id}/channels").json()) == 1
    channel_id = created.json()["id"]
    assert (
        login(make_client, reporting, "dinkes")
        .delete(f"{R}/offices/{dishub_id}/channels/{channel_id}")
        .status_code
        == 403
    )
    assert dishub.delete(f"{R}/offices/{dishub_id}/channels/{channel_id}").status_code == 204
