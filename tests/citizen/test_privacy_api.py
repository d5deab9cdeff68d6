"""Who sees what of a report: the public, the office handling it, another office, the verifier and
the reporter. Anonymous reporters never appear to offices; confidential reports never appear publicly;
office A never sees office B's queue."""

from __future__ import annotations

import io
from typing import Any

from citizendata import IN_SUMBERSARI
from PIL import Image

R = "/api/v1/regions/35.09"
PEOPLE = {"name": "Budi Santoso", "email": "budi@example.id", "phone": "0812000111"}


def file(client: Any, **overrides: Any) -> dict[str, Any]:
    body = {
        "category": "jalan-rusak",
        "description": "Aspal mengelupas sepanjang 20 meter.",
        "lat": IN_SUMBERSARI[0],
        "lon": IN_SUMBERSARI[1],
        **PEOPLE,
    }
    body.update(overrides)
    resp = client.post(f"{R}/reports", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def login(make_client: Any, world: dict[str, Any], who: str) -> Any:
    return make_client().login(world["users"][who].email, world["password"])


def dispose(admin: Any, no: str, office_id: int | None = None) -> None:
    resp = admin.post(f"{R}/reports/{no}/dispose", json={"office_id": office_id} if office_id else {})
    assert resp.status_code == 200, resp.text


def test_anonymous_reporter_is_hidden_from_the_office_and_the_public(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no = file(client, privacy="anonymous")["report"]["tracking_no"]
    admin = login(make_client, reporting, "admin")
    dispose(admin, no)
    dishub = login(make_client, reporting, "dishub")
    for who in (dishub, client):
        seen = who.get(f"{R}/reports/{no}")
        assert seen.status_code == 200
        assert seen.json()["reporter"] is None
        assert "Budi" not in seen.text and "budi@" not in seen.text
        listed = who.get(f"{R}/reports?scope={'office' if who is dishub else 'public'}")
        assert "Budi" not in listed.text and "budi@" not in listed.text
        assert "Budi" not in who.get(f"{R}/reports/{no}/timeline").text
    # the verifier still knows who to answer
    assert admin.get(f"{R}/reports/{no}").json()["reporter"]["email"] == "budi@example.id"


def test_identified_reporter_is_shown_to_the_office_but_never_to_the_public(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no = file(client)["report"]["tracking_no"]
    admin = login(make_client, reporting, "admin")
    dispose(admin, no)
    dishub = login(make_client, reporting, "dishub")
    assert dishub.get(f"{R}/reports/{no}").json()["reporter"]["name"] == "Budi Santoso"
    assert client.get(f"{R}/reports/{no}").json()["reporter"] is None
    assert "Budi" not in client.get(f"{R}/reports").text


def test_confidential_reports_never_appear_publicly(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    filed = file(client, privacy="confidential")
    no, code = filed["report"]["tracking_no"], filed["access_code"]
    private_category = file(client, category="pungli", privacy="identified")["report"]
    assert private_category["privacy"] == "confidential"  # the category makes every report confidential
    assert client.get(f"{R}/reports/{no}").status_code == 404
    assert client.get(f"{R}/reports/{no}/timeline").status_code == 404
    assert client.get(f"{R}/reports").json()["total"] == 0
    nearby = client.get(
        f"{R}/reports/nearby",
        params={"category": "jalan-rusak", "lat": IN_SUMBERSARI[0], "lon": IN_SUMBERSARI[1]},
    )
    assert nearby.json() == []
    # the reporter with the code, the verifier and the office it goes to do see it
    assert client.get(f"{R}/reports/{no}", headers={"X-Report-Code": code}).status_code == 200
    admin = login(make_client, reporting, "admin")
    dispose(admin, no)
    assert login(make_client, reporting, "dishub").get(f"{R}/reports/{no}").status_code == 200
    assert login(make_client, reporting, "dinkes").get(f"{R}/reports/{no}").status_code == 404
    assert login(make_client, reporting, "citizen").get(f"{R}/reports/{no}").status_code == 404


def test_an_office_never_sees_another_office_queue(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    road = file(client)["report"]["tracking_no"]
    health = file(client, category="puskesmas", description="Antrean puskesmas sangat lama.")["report"][
        "tracking_no"
    ]
    admin = login(make_client, reporting, "admin")
    dispose(admin, road)
    dispose(admin, health)
    dinkes = login(make_client, reporting, "dinkes")
    queue = dinkes.get(f"{R}/reports?scope=office").json()
    assert [r["tracking_no"] for r in queue["items"]] == [health]
    assert dinkes.get(f"{R}/reports?scope=office&office=Dishub").status_code == 403
    assert dinkes.get(f"{R}/reports?scope=admin").status_code == 403
    assert dinkes.post(f"{R}/reports/{road}/accept", json={}).status_code == 403
    # the region admin may look at any office's queue
    dishub_queue = admin.get(f"{R}/reports?scope=office&office=Dishub").json()
    assert [r["tracking_no"] for r in dishub_queue["items"]] == [road]


def test_another_region_sees_nothing_of_jember(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    filed = file(client, privacy="confidential")
    no = filed["report"]["tracking_no"]
    pbl = login(make_client, reporting, "pbl_admin")
    assert pbl.get(f"{R}/reports/{no}").status_code == 404
    assert pbl.get(f"{R}/reports?scope=admin").status_code == 403
    assert pbl.post(f"{R}/reports/{no}/dispose", json={}).status_code in (403, 404)
    assert pbl.get("/api/v1/regions/35.74/reports").json()["total"] == 0


def test_my_reports_lists_only_the_logged_in_citizen_reports(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    citizen = login(make_client, reporting, "citizen")
    mine = file(citizen, privacy="confidential")["report"]["tracking_no"]
    file(client)
    listed = citizen.get(f"{R}/reports?scope=mine").json()
    assert [r["tracking_no"] for r in listed["items"]] == [mine]
    assert citizen.get(f"{R}/reports/{mine}").status_code == 200  # no code needed when logged in
    assert client.get(f"{R}/reports?scope=mine").status_code in (401, 403)


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "KameraMerk"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x8825] = {1: "S", 2: (8.0, 10.0, 12.0), 3: "E", 4: (113.0, 42.0, 6.0)}  # GPS IFD
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_photos_lose_their_exif_and_wrong_files_are_refused(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    original = _jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif()  # the test photo does carry EXIF
    filed = file(client)
    no, code = filed["report"]["tracking_no"], filed["access_code"]
    headers = {"X-Report-Code": code}
    resp = client.post(
        f"{R}/reports/{no}/photos", files={"photo": ("a.jpg", original, "image/jpeg")}, headers=headers
    )
    assert resp.status_code == 201, resp.text
    url = resp.json()["photos"][0]
    served = client.get(url)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    stored = Image.open(io.BytesIO(served.content))
    assert stored.size == (64, 48)
    assert not stored.getexif()
    assert b"KameraMerk" not in served.content
    # not an image, whatever its name says
    resp = client.post(
        f"{R}/reports/{no}/photos",
        files={"photo": ("b.jpg", b"%PDF-1.4 not a photo", "image/jpeg")},
        headers=headers,
    )
    assert resp.status_code == 415
    # someone without the code cannot add photos
    resp = client.post(f"{R}/reports/{no}/photos", files={"photo": ("c.jpg", original, "image/jpeg")})
    assert resp.status_code in (403, 404)
    for _ in range(2):
        client.post(
            f"{R}/reports/{no}/photos", files={"photo": ("d.jpg", original, "image/jpeg")}, headers=headers
        )
    resp = client.post(
        f"{R}/reports/{no}/photos", files={"photo": ("e.jpg", original, "image/jpeg")}, headers=headers
    )
    assert resp.status_code == 409  # at most three
    assert len(client.get(f"{R}/reports/{no}").json()["photos"]) == 3


def test_nearby_suggests_open_reports_of_the_same_category_and_support_counts_once(
    client: Any, reporting: dict[str, Any]
) -> None:
    no = file(client)["report"]["tracking_no"]
    file(client, category="puskesmas", description="Puskesmas tutup")  # another category: not suggested
    far = file(client, lat=IN_SUMBERSARI[0] + 0.01)["report"]["tracking_no"]  # ~1.1 km away
    found = client.get(
        f"{R}/reports/nearby",
        params={"category": "jalan-rusak", "lat": IN_SUMBERSARI[0] + 0.0003, "lon": IN_SUMBERSARI[1]},
    ).json()
    assert [f["report"]["tracking_no"] for f in found] == [no]
    assert 30 < found[0]["distance_m"] < 40
    assert far != no
    first = client.post(f"{R}/reports/{no}/support", json={"email": "tetangga@example.id"}).json()
    again = client.post(f"{R}/reports/{no}/support", json={"email": "tetangga@example.id"}).json()
    assert first == {"supported": True, "supporters": 1}
    assert again == {"supported": False, "supporters": 1}


def test_anonymous_submissions_are_rate_limited_per_address(
    client: Any, reporting: dict[str, Any], app: Any
) -> None:
    app.state.settings.report_anonymous_limit = 2
    file(client)
    file(client)
    resp = client.post(
        f"{R}/reports", json={"category": "jalan-rusak", "description": "lagi", "address": "Jl. Jawa"}
    )
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == "rate_limited"
    assert client.get(f"{R}/reports").json()["total"] == 2
