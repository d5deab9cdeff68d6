"""The LAPOR!-SP4N lifecycle through the JSON API: each step, who may take it, and what it leaves on
the timeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from citizendata import IN_KALIWATES, IN_SUMBERSARI, admin_key
from pydantic import TypeAdapter

from kotacerdas.citizen.schemas import ReportFiled

R = "/api/v1/regions/35.09"


def file(client: Any, **overrides: Any) -> dict[str, Any]:
    body = {
        "category": "jalan-rusak",
        "title": "Jalan berlubang di Jl. Kalimantan",
        "description": "Lubang besar di depan kampus, berbahaya untuk motor.",
        "lat": IN_SUMBERSARI[0],
        "lon": IN_SUMBERSARI[1],
        "name": "Siti Aminah",
        "email": "siti@example.id",
        "phone": "081234567890",
        "attributes": {"severity": "berat"},
    }
    body.update(overrides)
    resp = client.post(f"{R}/reports", json=body)
    assert resp.status_code == 201, resp.text
    filed: dict[str, Any] = resp.json()
    return filed


def login(make_client: Any, world: dict[str, Any], who: str) -> Any:
    return make_client().login(world["users"][who].email, world["password"])


def test_full_lifecycle_with_timeline(client: Any, make_client: Any, reporting: dict[str, Any]) -> None:
    filed = file(client)
    report = filed["report"]
    no = report["tracking_no"]
    assert no.startswith("JBR-") and no.endswith("000001")
    assert report["state"] == "submitted"
    assert report["area"]["name"] == "Sumbersari"
    assert report["due_at"] == report["verify_due_at"]
    code = filed["access_code"]

    admin = login(make_client, reporting, "admin")
    seen = admin.get(f"{R}/reports/{no}").json()
    assert seen["suggested_office"]["short_name"] == "Dishub"  # Sumbersari: the category's default
    resp = admin.post(f"{R}/reports/{no}/dispose", json={"note": "Diteruskan ke Dishub"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "disposed" and resp.json()["office"]["short_name"] == "Dishub"

    dishub = login(make_client, reporting, "dishub")
    assert dishub.post(f"{R}/reports/{no}/accept", json={}).json()["state"] == "in_progress"
    resp = dishub.post(f"{R}/reports/{no}/respond", json={"note": "Sudah ditambal pada 3 Juni."})
    assert resp.json()["state"] == "responded"
    assert resp.json()["first_response_at"] is not None

    # the reporter answers with the tracking code, no login needed
    resp = client.post(
        f"{R}/reports/{no}/close", json={"resolution": "resolved"}, headers={"X-Report-Code": code}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "closed" and resp.json()["resolution"] == "resolved"

    kinds = [e["kind"] for e in client.get(f"{R}/reports/{no}/timeline").json()]
    assert kinds == ["submitted", "disposed", "accepted", "responded", "closed"]
    staff_view = admin.get(f"{R}/reports/{no}/timeline").json()
    assert staff_view[1]["actor"] == "Admin Jember"
    assert (
        client.get(f"{R}/reports/{no}/timeline").json()[1]["actor"] == ""
    )  # no civil servant's name in public


def test_area_routing_suggests_the_routed_office(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no = file(client, lat=IN_KALIWATES[0], lon=IN_KALIWATES[1])["report"]["tracking_no"]
    admin = login(make_client, reporting, "admin")
    assert admin.get(f"{R}/reports/{no}").json()["suggested_office"]["short_name"] == "Dinkes"


def test_only_the_verifier_disposes_and_only_the_office_responds(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no = file(client)["report"]["tracking_no"]
    dishub = login(make_client, reporting, "dishub")
    assert dishub.post(f"{R}/reports/{no}/dispose", json={}).status_code == 403
    admin = login(make_client, reporting, "admin")
    admin.post(f"{R}/reports/{no}/dispose", json={})
    dinkes = login(make_client, reporting, "dinkes")
    assert dinkes.post(f"{R}/reports/{no}/respond", json={"note": "x"}).status_code == 403
    assert client.post(f"{R}/reports/{no}/accept", json={}).status_code in (401, 403)
    pbl = login(make_client, reporting, "pbl_admin")
    assert pbl.post(f"{R}/reports/{no}/accept", json={}).status_code == 403


def test_steps_out_of_order_are_refused_and_change_nothing(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no = file(client)["report"]["tracking_no"]
    dishub = login(make_client, reporting, "dishub")
    admin = login(make_client, reporting, "admin")
    assert admin.post(f"{R}/reports/{no}/respond", json={"note": "terlalu cepat"}).status_code == 409
    assert admin.get(f"{R}/reports/{no}").json()["state"] == "submitted"
    admin.post(f"{R}/reports/{no}/dispose", json={})
    assert admin.post(f"{R}/reports/{no}/dispose", json={}).status_code == 409
    assert (
        dishub.post(f"{R}/reports/{no}/respond", json={"note": ""}).status_code == 422
    )  # a follow-up says something


def test_reject_as_duplicate_links_the_original_and_spam_disappears(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    first = file(client)["report"]["tracking_no"]
    second = file(client)["report"]["tracking_no"]
    third = file(client, title="beli obat murah", description="klik tautan ini")["report"]["tracking_no"]
    admin = login(make_client, reporting, "admin")
    resp = admin.post(f"{R}/reports/{second}/reject", json={"reason": "duplicate", "duplicate_of": first})
    assert resp.json()["duplicate_of"] == first and resp.json()["state"] == "rejected"
    assert admin.post(f"{R}/reports/{third}/reject", json={"reason": "duplicate"}).status_code == 422
    admin.post(f"{R}/reports/{third}/reject", json={"reason": "spam"})
    public = {r["tracking_no"] for r in client.get(f"{R}/reports").json()["items"]}
    assert first in public and second in public and third not in public
    assert client.get(f"{R}/reports/{third}").status_code == 404


def test_reassign_moves_the_queue_and_restarts_the_office_deadline(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no = file(client)["report"]["tracking_no"]
    admin = login(make_client, reporting, "admin")
    admin.post(f"{R}/reports/{no}/dispose", json={})
    dishub = login(make_client, reporting, "dishub")
    dinkes_id = reporting["offices"]["dinkes"].id
    resp = dishub.post(
        f"{R}/reports/{no}/reassign", json={"office_id": dinkes_id, "note": "Bukan kewenangan kami"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["office"]["short_name"] == "Dinkes" and resp.json()["state"] == "disposed"
    assert dishub.get(f"{R}/reports?scope=office").json()["total"] == 0
    dinkes = login(make_client, reporting, "dinkes")
    assert [r["tracking_no"] for r in dinkes.get(f"{R}/reports?scope=office").json()["items"]] == [no]
    # the office that passed it on can no longer act on it
    assert dishub.post(f"{R}/reports/{no}/accept", json={}).status_code == 403


def test_reopen_after_an_unsatisfying_answer_goes_back_to_the_office(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    filed = file(client)
    no, code = filed["report"]["tracking_no"], filed["access_code"]
    admin = login(make_client, reporting, "admin")
    admin.post(f"{R}/reports/{no}/dispose", json={})
    dishub = login(make_client, reporting, "dishub")
    dishub.post(f"{R}/reports/{no}/respond", json={"note": "Sudah dijadwalkan."})
    resp = client.post(
        f"{R}/reports/{no}/reopen", json={"note": "Belum ada perbaikan."}, headers={"X-Report-Code": code}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "in_progress"
    # a wrong code is no code
    assert client.post(
        f"{R}/reports/{no}/close", json={"resolution": "resolved"}, headers={"X-Report-Code": "salah"}
    ).status_code in (401, 403)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": ""}, "description"),
        ({"lat": 95.0}, "lat"),
        ({"lat": None, "lon": None, "address": ""}, "location"),
        ({"privacy": "public"}, "privacy"),
        ({"category": "tidak-ada"}, None),
        ({"description": "x" * 4001}, "description"),
        ({"description": "nul\x00byte"}, "description"),
    ],
)
def test_bad_reports_are_refused_with_a_clear_error(
    client: Any, reporting: dict[str, Any], body: dict[str, Any], field: str | None
) -> None:
    base = {
        "category": "jalan-rusak",
        "description": "Lampu mati",
        "lat": IN_SUMBERSARI[0],
        "lon": IN_SUMBERSARI[1],
    }
    base.update(body)
    resp = client.post(f"{R}/reports", json=base)
    assert resp.status_code in (404, 422), resp.text
    error = resp.json()["error"]
    assert error["message"]
    if field:
        assert field in str(error["details"])
    assert client.get(f"{R}/reports").json()["total"] == 0


def test_an_api_key_files_reports_only_with_the_permission(
    client: Any, db: Any, reporting: dict[str, Any]
) -> None:
    hub_only = admin_key(db, reporting, ["hub:write"])
    filer = admin_key(db, reporting, ["reports:submit"])
    body = {"category": "jalan-rusak", "description": "Lampu jalan mati", "address": "Jl. Jawa 10"}
    refused = client.post(f"{R}/reports", json=body, headers={"Authorization": f"Bearer {hub_only}"})
    assert refused.status_code == 403
    assert client.get(f"{R}/reports").json()["total"] == 0
    filed = client.post(f"{R}/reports", json=body, headers={"Authorization": f"Bearer {filer}"})
    assert filed.status_code == 201, filed.text
    assert filed.json()["report"]["channel"] == "api"


def test_the_filing_answer_is_what_the_response_model_writes(client: Any, reporting: dict[str, Any]) -> None:
    """The endpoint writes its answer itself (FastAPI does not validate it again): the same bytes and
    headers as FastAPI's ``response_model`` serialization, and the documented schema."""
    resp = client.post(
        f"{R}/reports",
        json={"category": "jalan-rusak", "description": "Lampu jalan mati", "address": "Jl. Jawa 10"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert int(resp.headers["content-length"]) == len(resp.content)
    answer = TypeAdapter(ReportFiled)
    assert resp.content == answer.dump_json(answer.validate_json(resp.content), by_alias=True)
    assert resp.json()["report"]["reporter"] is not None  # the reporter sees their own contact
    documented = client.get("/openapi.json").json()["paths"]["/api/v1/regions/{region_code}/reports"]
    assert documented["post"]["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReportFiled"
    }
