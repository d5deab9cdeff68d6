"""Masterplans, programmes and indicators through the JSON API: round trips, the rules on bad input,
and who may read and write what."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

JBR = "/api/v1/regions/35.09"
PBL = "/api/v1/regions/35.74"


def error_code(resp: Any) -> str:
    """Every error is the JSON error body; return its code."""
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    return str(resp.json()["error"]["code"])


# ---------------------------------------------------------------- masterplans


def test_masterplan_round_trip(admin, build):
    plan = build.masterplan("Masterplan Smart City Jember", 2023, 2027)
    assert plan["framework_edition"] == "gmsc-2024"
    assert plan["status"] == "draft"
    assert plan["sections"] == []
    assert (plan["programme_count"], plan["quick_win_count"], plan["indicator_count"]) == (0, 0, 0)

    resp = admin.patch(
        f"{JBR}/masterplans/{plan['id']}",
        json={
            "vision": "Jember cerdas, warga sejahtera",
            "missions": ["Layanan publik digital", "Data terpadu"],
            "legal_basis_number": "Perbup 12/2023",
            "legal_basis_date": "2023-05-02",
        },
    )
    assert resp.status_code == 200, resp.text
    resp = admin.put(
        f"{JBR}/masterplans/{plan['id']}/sections/swot_strengths", json={"body": "Jaringan fiber"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"kind": "swot_strengths", "body": "Jaringan fiber"}
    admin.put(
        f"{JBR}/masterplans/{plan['id']}/sections/readiness_struktur", json={"body": "Dewan smart city"}
    )
    admin.put(f"{JBR}/masterplans/{plan['id']}/sections/swot_strengths", json={"body": "Fiber dan BTS"})
    build.programme(plan["id"], "GOV-1", is_quick_win=True)
    build.programme(plan["id"], "GOV-2")
    build.indicator(plan["id"], "IND-1", dimension="living", element="health")

    got = admin.get(f"{JBR}/masterplans/{plan['id']}").json()
    assert got["vision"] == "Jember cerdas, warga sejahtera"
    assert got["missions"] == ["Layanan publik digital", "Data terpadu"]
    assert (got["legal_basis_number"], got["legal_basis_date"]) == ("Perbup 12/2023", "2023-05-02")
    # sections in the order of the masterplan's chapters, each kind once
    assert got["sections"] == [
        {"kind": "readiness_struktur", "body": "Dewan smart city"},
        {"kind": "swot_strengths", "body": "Fiber dan BTS"},
    ]
    assert (got["programme_count"], got["quick_win_count"], got["indicator_count"]) == (2, 1, 1)
    assert [p["id"] for p in admin.get(f"{JBR}/masterplans").json()] == [plan["id"]]

    resp = admin.put(f"{JBR}/masterplans/{plan['id']}/sections/chapter_99", json={"body": "x"})
    assert resp.status_code == 422 and error_code(resp) == "validation_failed"

    assert admin.delete(f"{JBR}/masterplans/{plan['id']}").status_code == 204
    assert admin.get(f"{JBR}/masterplans/{plan['id']}").status_code == 404
    assert admin.get(f"{JBR}/masterplans").json() == []


def test_an_approved_masterplan_is_not_deleted(admin, build):
    plan = build.masterplan()
    assert admin.patch(f"{JBR}/masterplans/{plan['id']}", json={"status": "approved"}).status_code == 200
    resp = admin.delete(f"{JBR}/masterplans/{plan['id']}")
    assert resp.status_code == 409 and error_code(resp) == "conflict"
    assert admin.get(f"{JBR}/masterplans/{plan['id']}").json()["status"] == "approved"


@pytest.mark.parametrize(
    ("start", "end", "status"),
    [(2023, 2026, 422), (2023, 2027, 201), (2021, 2030, 201), (2020, 2030, 422), (2027, 2023, 422)],
)
def test_a_masterplan_covers_5_to_10_years(admin, world, start, end, status):
    resp = admin.post(
        f"{JBR}/masterplans", json={"title": "Rencana induk", "start_year": start, "end_year": end}
    )
    assert resp.status_code == status, resp.text
    if status == 422:
        assert error_code(resp) == "validation_failed"


def test_a_period_change_keeps_5_to_10_years_and_everything_inside(admin, build):
    plan = build.masterplan(start=2023, end=2027)
    build.programme(plan["id"], "GOV-1", start_year=2023, end_year=2027)
    url = f"{JBR}/masterplans/{plan['id']}"
    for change in ({"end_year": 2033}, {"end_year": 2026}, {"start_year": 2024, "end_year": 2028}):
        resp = admin.patch(url, json=change)
        assert resp.status_code == 422, (change, resp.text)
        assert error_code(resp) == "validation_failed"
    # a longer period strands nothing
    assert admin.patch(url, json={"end_year": 2030}).json()["end_year"] == 2030
    got = admin.get(url).json()
    assert (got["start_year"], got["end_year"]) == (2023, 2030)


def test_duplicates_are_conflicts(admin, build):
    plan = build.masterplan("Masterplan A")
    other = build.masterplan("Masterplan B")
    resp = admin.post(
        f"{JBR}/masterplans", json={"title": "Masterplan A", "start_year": 2023, "end_year": 2027}
    )
    assert resp.status_code == 409 and error_code(resp) == "conflict"
    resp = admin.patch(f"{JBR}/masterplans/{other['id']}", json={"title": "Masterplan A"})
    assert resp.status_code == 409

    build.programme(plan["id"], "GOV-1")
    second = build.programme(plan["id"], "GOV-2")
    resp = admin.post(f"{JBR}/masterplans/{plan['id']}/programmes", json=build.programme_body("GOV-1"))
    assert resp.status_code == 409 and error_code(resp) == "conflict"
    resp = admin.patch(f"{JBR}/programmes/{second['id']}", json={"code": "GOV-1"})
    assert resp.status_code == 409
    # the same code in another masterplan is fine
    build.programme(other["id"], "GOV-1")

    build.indicator(plan["id"], "IND-1", dimension="governance")
    resp = admin.post(
        f"{JBR}/masterplans/{plan['id']}/indicators", json=build.indicator_body("IND-1", dimension="living")
    )
    assert resp.status_code == 409
    assert admin.get(f"{JBR}/programmes/{second['id']}").json()["code"] == "GOV-2"
    assert admin.get(f"{JBR}/masterplans/{other['id']}").json()["title"] == "Masterplan B"


# ---------------------------------------------------------------- programmes


def test_programme_round_trip(admin, build, world):
    plan = build.masterplan()
    dishub = world["offices"]["dishub"].id
    body = build.programme_body(
        "LIV-1",
        name="Smart parking Jember",
        dimension="living",
        element="mobility",
        lead_office_id=dishub,
        pic_name="Kabid Parkir",
        partners=["Bank Jatim"],
        kind="infrastructure",
        term="medium",
        start_year=2024,
        end_year=2026,
        is_quick_win=True,
        quick_win={"innovation": "Parkir non-tunai", "benefit": "PAD naik"},
        budgets=[
            {"year": 2024, "source": "APBD", "amount": "1500000000"},
            {"year": 2025, "source": "KPBU", "amount": 2500000000.5},
        ],
        year_statuses=[{"year": 2024, "status": "running", "note": "Uji coba di alun-alun"}],
    )
    resp = admin.post(f"{JBR}/masterplans/{plan['id']}/programmes", json=body)
    assert resp.status_code == 201, resp.text
    prog = resp.json()
    assert prog["lead_office"] == {"id": dishub, "short_name": "Dishub", "name": "Dinas Perhubungan"}
    assert Decimal(prog["total_budget"]) == Decimal("4000000000.50")
    assert [(b["year"], b["source"]) for b in prog["budgets"]] == [(2024, "APBD"), (2025, "KPBU")]
    assert prog["year_statuses"] == [{"year": 2024, "status": "running", "note": "Uji coba di alun-alun"}]
    assert prog["quick_win"] == {"innovation": "Parkir non-tunai", "benefit": "PAD naik"}
    assert admin.get(f"{JBR}/programmes/{prog['id']}").json() == prog

    # replacing the lines with the same (year, source) keys, and clearing the lead office
    resp = admin.patch(
        f"{JBR}/programmes/{prog['id']}",
        json={
            "budgets": [{"year": 2024, "source": "APBD", "amount": 100}],
            "year_statuses": [{"year": 2024, "status": "done"}, {"year": 2025, "status": "stalled"}],
            "lead_office_id": None,
            "name": "Smart parking Kabupaten Jember",
        },
    )
    assert resp.status_code == 200, resp.text
    got = admin.get(f"{JBR}/programmes/{prog['id']}").json()
    assert got["name"] == "Smart parking Kabupaten Jember"
    assert got["lead_office"] is None
    assert [(b["year"], b["source"], Decimal(b["amount"])) for b in got["budgets"]] == [(2024, "APBD", 100)]
    assert [(y["year"], y["status"]) for y in got["year_statuses"]] == [(2024, "done"), (2025, "stalled")]
    assert got["pic_name"] == "Kabid Parkir"  # left out, kept

    ind = build.indicator(plan["id"], "LIV-1.1", programme_id=prog["id"])
    assert (ind["dimension"], ind["element"]) == ("living", "mobility")
    assert admin.delete(f"{JBR}/programmes/{prog['id']}").status_code == 204
    assert admin.get(f"{JBR}/programmes/{prog['id']}").status_code == 404
    assert admin.get(f"{JBR}/indicators/{ind['id']}").status_code == 404


def test_programme_list_filters(admin, build, world):
    plan = build.masterplan()
    build.programme(plan["id"], "GOV-1", office="kominfo", is_quick_win=True)
    build.programme(plan["id"], "GOV-2", office="dishub", element="policy")
    build.programme(plan["id"], "LIV-1", office="dishub", dimension="living", element="mobility")
    url = f"{JBR}/masterplans/{plan['id']}/programmes"

    def codes(**params: Any) -> list[str]:
        resp = admin.get(url, params=params)
        assert resp.status_code == 200, resp.text
        return [p["code"] for p in resp.json()]

    assert codes() == ["GOV-1", "GOV-2", "LIV-1"]
    assert codes(dimension="governance") == ["GOV-1", "GOV-2"]
    assert codes(office_id=world["offices"]["dishub"].id) == ["GOV-2", "LIV-1"]
    assert codes(quick_win="true") == ["GOV-1"]
    assert codes(quick_win="false", dimension="governance") == ["GOV-2"]
    assert admin.get(url, params={"quick_win": "maybe"}).status_code == 422
    assert admin.get(url, params={"office_id": "dishub"}).status_code == 422


@pytest.mark.parametrize(
    "fields",
    [
        {"dimension": "mobility"},  # not a dimension of gmsc-2024
        {"dimension": "living", "element": "service"},  # an element of another dimension
        {"start_year": 2022},  # before the masterplan
        {"end_year": 2028},  # after it
        {"start_year": 2025, "end_year": 2024},
        {"budgets": [{"year": 2026, "source": "APBD", "amount": 1}]},  # outside the programme's years
        {
            "budgets": [
                {"year": 2024, "source": "APBD", "amount": 1},
                {"year": 2024, "source": "APBD", "amount": 2},
            ]
        },
        {"budgets": [{"year": 2024, "source": "Hibah", "amount": 1}]},
        {"budgets": [{"year": 2024, "source": "APBD", "amount": -5}]},
        {"year_statuses": [{"year": 2024, "status": "finished"}]},
        {"lead_office_id": 999999},  # not an office of Jember
        {"quick_win": {"colour": "blue"}},
        {"kind": "festival"},
        {"code": "has space"},
    ],
)
def test_a_programme_must_fit_the_edition_and_the_period(admin, build, world, fields):
    plan = build.masterplan(start=2023, end=2027)
    resp = admin.post(
        f"{JBR}/masterplans/{plan['id']}/programmes", json=build.programme_body("GOV-1", **fields)
    )
    assert resp.status_code == 422, resp.text
    assert error_code(resp) == "validation_failed"
    assert admin.get(f"{JBR}/masterplans/{plan['id']}/programmes").json() == []


def test_another_regions_office_cannot_lead_a_programme(admin, build, world):
    plan = build.masterplan()
    resp = admin.post(
        f"{JBR}/masterplans/{plan['id']}/programmes",
        json=build.programme_body("GOV-1", lead_office_id=world["offices"]["pbl"].id),
    )
    assert resp.status_code == 422 and error_code(resp) == "validation_failed"
    assert resp.json()["error"]["details"] == [{"field": "lead_office_id"}]


# ---------------------------------------------------------------- indicators


def test_indicator_round_trip(admin, build):
    plan = build.masterplan(start=2023, end=2027)
    prog = build.programme(plan["id"], "GOV-1", element="policy")
    ind = build.indicator(
        plan["id"],
        "GOV-1.1",
        programme_id=prog["id"],
        unit="layanan",
        baseline_year=2022,
        baseline_value=12,
        targets=[{"year": 2024, "value": 20}, {"year": 2025, "value": 30}],
    )
    assert (ind["dimension"], ind["element"], ind["programme_id"]) == ("governance", "policy", prog["id"])
    assert [(t["year"], Decimal(t["value"])) for t in ind["targets"]] == [(2024, 20), (2025, 30)]
    assert [a["year"] for a in ind["achievements"]] == [2023, 2024, 2025, 2026, 2027]
    assert ind["realisations"] == []

    dim_level = build.indicator(plan["id"], "LIV-X", dimension="living", direction="lower")
    assert (dim_level["programme_id"], dim_level["element"], dim_level["direction"]) == (None, None, "lower")

    # targets replaced with the same years (the old rows go before the new ones come)
    resp = admin.patch(
        f"{JBR}/indicators/{ind['id']}",
        json={"targets": [{"year": 2024, "value": 25}, {"year": 2026, "value": 40}], "baseline_value": None},
    )
    assert resp.status_code == 200, resp.text
    got = admin.get(f"{JBR}/indicators/{ind['id']}").json()
    assert [(t["year"], Decimal(t["value"])) for t in got["targets"]] == [(2024, 25), (2026, 40)]
    assert got["baseline_value"] is None and got["baseline_year"] == 2022
    assert got["unit"] == "layanan"

    listed = admin.get(f"{JBR}/masterplans/{plan['id']}/indicators").json()
    assert [i["code"] for i in listed] == ["GOV-1.1", "LIV-X"]
    only = admin.get(f"{JBR}/masterplans/{plan['id']}/indicators", params={"programme_id": prog["id"]}).json()
    assert [i["code"] for i in only] == ["GOV-1.1"]

    assert admin.delete(f"{JBR}/indicators/{dim_level['id']}").status_code == 204
    assert admin.get(f"{JBR}/indicators/{dim_level['id']}").status_code == 404


@pytest.mark.parametrize(
    "fields",
    [
        {},  # neither a programme nor a dimension
        {"dimension": "smart"},
        {"dimension": "living", "element": "service"},
        {"dimension": "living", "targets": [{"year": 2030, "value": 1}]},  # outside the period
        {"dimension": "living", "targets": [{"year": 2024, "value": 1}, {"year": 2024, "value": 2}]},
        {"dimension": "living", "direction": "sideways"},
        {"dimension": "living", "targets": [{"year": 2024, "value": "lots"}]},
    ],
)
def test_an_indicator_must_fit_the_edition_and_the_period(admin, build, fields):
    plan = build.masterplan(start=2023, end=2027)
    resp = admin.post(
        f"{JBR}/masterplans/{plan['id']}/indicators", json=build.indicator_body("X-1", **fields)
    )
    assert resp.status_code == 422, resp.text
    assert admin.get(f"{JBR}/masterplans/{plan['id']}/indicators").json() == []


def test_a_programmes_indicator_sits_where_the_programme_sits(admin, build):
    plan = build.masterplan()
    other_plan = build.masterplan("Masterplan lama", 2017, 2021)
    prog = build.programme(plan["id"], "GOV-1")
    url = f"{JBR}/masterplans/{plan['id']}/indicators"
    resp = admin.post(url, json=build.indicator_body("X", programme_id=prog["id"], dimension="living"))
    assert resp.status_code == 422
    resp = admin.post(
        f"{JBR}/masterplans/{other_plan['id']}/indicators",
        json=build.indicator_body("X", programme_id=prog["id"]),
    )
    assert resp.status_code == 422
    resp = admin.post(url, json=build.indicator_body("X", programme_id=999999))
    assert resp.status_code == 422


# ---------------------------------------------------------------- bad input


def test_unknown_things_are_404(admin, build):
    build.masterplan()
    for path in (
        "/masterplans/999999",
        "/masterplans/999999/programmes",
        "/masterplans/999999/indicators",
        "/masterplans/999999/roadmap",
        "/programmes/999999",
        "/indicators/999999",
        "/evidence/999999",
    ):
        resp = admin.get(JBR + path)
        assert resp.status_code == 404, path
        assert error_code(resp) == "not_found"
    assert admin.patch(f"{JBR}/programmes/999999", json={"name": "Nothing here"}).status_code == 404
    assert admin.delete(f"{JBR}/indicators/999999").status_code == 404
    assert admin.get("/api/v1/regions/99.99/masterplans").status_code == 404


def test_ids_beyond_the_databases_integers_are_422_not_500(admin, build):
    plan = build.masterplan()
    for path in ("/masterplans/9999999999", "/programmes/99999999999999999999", "/indicators/-1"):
        resp = admin.get(JBR + path)
        assert resp.status_code == 422, path
    resp = admin.post(
        f"{JBR}/masterplans/{plan['id']}/programmes", json=build.programme_body("GOV-1", lead_office_id=2**40)
    )
    assert resp.status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"title": "Rencana", "start_year": 2023,', None),  # malformed JSON
        ({"title": "Rencana induk", "start_year": "dua ribu", "end_year": 2027}, "start_year"),
        ({"title": "Rencana induk", "start_year": 2023, "end_year": 2027, "owner": "me"}, "owner"),
        ({"title": ["Rencana"], "start_year": 2023, "end_year": 2027}, "title"),
        ({"title": "Rencana\x00induk", "start_year": 2023, "end_year": 2027}, "title"),
        ({"title": "Rencana induk", "start_year": 1900, "end_year": 1904}, "start_year"),
        ({"start_year": 2023, "end_year": 2027}, "title"),
        ([1, 2, 3], None),
    ],
)
def test_bad_masterplan_bodies_are_422_json(admin, world, body, field):
    if isinstance(body, str):
        resp = admin.post(f"{JBR}/masterplans", content=body, headers={"Content-Type": "application/json"})
    else:
        resp = admin.post(f"{JBR}/masterplans", json=body)
    assert resp.status_code == 422, resp.text
    assert error_code(resp) == "validation_failed"
    if field:
        assert field in {d["field"] for d in resp.json()["error"]["details"]}
    assert admin.get(f"{JBR}/masterplans").json() == []


def test_a_rejected_update_changes_nothing(admin, build, world):
    plan = build.masterplan("Masterplan Jember", 2023, 2027)
    prog = build.programme(
        plan["id"], "GOV-1", office="dishub", budgets=[{"year": 2023, "source": "APBD", "amount": 10}]
    )
    ind = build.indicator(
        plan["id"], "GOV-1.1", programme_id=prog["id"], targets=[{"year": 2024, "value": 5}]
    )
    before = (
        admin.get(f"{JBR}/masterplans/{plan['id']}").json(),
        admin.get(f"{JBR}/programmes/{prog['id']}").json(),
        admin.get(f"{JBR}/indicators/{ind['id']}").json(),
    )
    rejected = [
        (f"/masterplans/{plan['id']}", {"title": None}),
        (f"/masterplans/{plan['id']}", {"title": "Baru", "end_year": 2040}),
        (f"/masterplans/{plan['id']}", {"status": "published"}),
        (f"/masterplans/{plan['id']}", {"framework_edition": "giffinger-6"}),  # not changeable
        (f"/programmes/{prog['id']}", {"name": "Nama baru", "end_year": 2030}),
        (
            f"/programmes/{prog['id']}",
            {"name": "Nama baru", "budgets": [{"year": 2026, "source": "APBD", "amount": 1}]},
        ),
        (f"/programmes/{prog['id']}", {"name": "Nama baru", "element": "harmony"}),
        (f"/programmes/{prog['id']}", {"name": "Nama baru", "start_year": 2024}),  # strands the 2023 budget
        (f"/programmes/{prog['id']}", {"dimension": None}),
        (f"/programmes/{prog['id']}", {"name": "Nama baru", "lead_office_id": world["offices"]["pbl"].id}),
        (f"/indicators/{ind['id']}", {"name": "Nama baru", "targets": [{"year": 2031, "value": 1}]}),
        (f"/indicators/{ind['id']}", {"unit": None}),
        (f"/indicators/{ind['id']}", {"programme_id": None}),  # not changeable
    ]
    for path, body in rejected:
        resp = admin.patch(JBR + path, json=body)
        assert resp.status_code == 422, (path, body, resp.text)
    for path, _body in rejected[:2]:
        resp = admin.patch(JBR + path, content=b'{"title": ', headers={"Content-Type": "application/json"})
        assert resp.status_code == 422
    after = (
        admin.get(f"{JBR}/masterplans/{plan['id']}").json(),
        admin.get(f"{JBR}/programmes/{prog['id']}").json(),
        admin.get(f"{JBR}/indicators/{ind['id']}").json(),
    )
    assert after == before


# ---------------------------------------------------------------- who may do what


def test_office_operator_reads_but_does_not_plan(as_user, build, world):
    plan = build.masterplan()
    prog = build.programme(plan["id"], "LIV-1", office="dishub", dimension="living", element="mobility")
    ind = build.indicator(plan["id"], "LIV-1.1", programme_id=prog["id"])
    dishub = as_user("dishub")
    assert dishub.get(f"{JBR}/masterplans/{plan['id']}").status_code == 200
    assert dishub.get(f"{JBR}/programmes/{prog['id']}").status_code == 200
    writes = [
        (
            "post",
            f"/masterplans/{plan['id']}/programmes",
            build.programme_body("LIV-2", dimension="living", element="health"),
        ),
        ("patch", f"/programmes/{prog['id']}", {"name": "Diubah Dishub"}),
        ("delete", f"/programmes/{prog['id']}", None),
        ("post", "/masterplans", {"title": "Masterplan Dishub", "start_year": 2023, "end_year": 2027}),
        ("patch", f"/masterplans/{plan['id']}", {"title": "Diubah Dishub"}),
        ("put", f"/masterplans/{plan['id']}/sections/strategy", {"body": "x"}),
        ("post", f"/masterplans/{plan['id']}/indicators", build.indicator_body("X", dimension="living")),
        ("patch", f"/indicators/{ind['id']}", {"name": "Diubah Dishub"}),
    ]
    for method, path, body in writes:
        resp = dishub.request(method, JBR + path, json=body)
        assert resp.status_code == 403, (method, path, resp.text)
        assert error_code(resp) == "permission_denied"
    admin = as_user("admin")
    assert admin.get(f"{JBR}/programmes/{prog['id']}").json()["name"] == "Programme LIV-1"
    assert [p["code"] for p in admin.get(f"{JBR}/masterplans/{plan['id']}/programmes").json()] == ["LIV-1"]
    assert len(admin.get(f"{JBR}/masterplans").json()) == 1


def test_another_regions_admin_sees_and_changes_nothing_of_jember(as_user, build):
    plan = build.masterplan()
    prog = build.programme(plan["id"], "GOV-1", office="kominfo")
    ind = build.indicator(
        plan["id"], "GOV-1.1", programme_id=prog["id"], targets=[{"year": 2024, "value": 5}]
    )
    admin = as_user("admin")
    admin.put(f"{JBR}/indicators/{ind['id']}/realisations/2024", json={"value": 4})
    before = [
        admin.get(JBR + p).json()
        for p in (f"/masterplans/{plan['id']}", f"/programmes/{prog['id']}", f"/indicators/{ind['id']}")
    ]

    pbl = as_user("pbl_admin")
    reads = [
        f"/masterplans/{plan['id']}",
        f"/programmes/{prog['id']}",
        f"/indicators/{ind['id']}",
        "/masterplans",
        f"/masterplans/{plan['id']}/achievement",
        f"/masterplans/{plan['id']}/roadmap",
    ]
    for path in reads:
        assert pbl.get(JBR + path).status_code == 403, path
        # through its own region the ids do not exist
        if path != "/masterplans":
            assert pbl.get(PBL + path).status_code == 404, path
    writes = [
        ("patch", f"/masterplans/{plan['id']}", {"title": "Punya Probolinggo"}),
        ("delete", f"/masterplans/{plan['id']}", None),
        ("patch", f"/programmes/{prog['id']}", {"name": "Punya Probolinggo"}),
        ("delete", f"/programmes/{prog['id']}", None),
        ("put", f"/programmes/{prog['id']}/status", {"year": 2024, "status": "stalled"}),
        ("patch", f"/indicators/{ind['id']}", {"name": "Punya Probolinggo"}),
        ("put", f"/indicators/{ind['id']}/realisations/2024", {"value": 1}),
        ("delete", f"/indicators/{ind['id']}/realisations/2024", None),
        ("delete", f"/indicators/{ind['id']}", None),
        ("post", f"/masterplans/{plan['id']}/programmes", build.programme_body("PBL-1")),
    ]
    for method, path, body in writes:
        assert pbl.request(method, JBR + path, json=body).status_code == 403, (method, path)
        assert pbl.request(method, PBL + path, json=body).status_code == 404, (method, path)
    after = [
        admin.get(JBR + p).json()
        for p in (f"/masterplans/{plan['id']}", f"/programmes/{prog['id']}", f"/indicators/{ind['id']}")
    ]
    assert after == before


def test_national_evaluator_reads_every_region_and_writes_none(as_user, build):
    plan = build.masterplan()
    prog = build.programme(plan["id"], "GOV-1", office="kominfo")
    ind = build.indicator(plan["id"], "GOV-1.1", programme_id=prog["id"])
    evaluator = as_user("evaluator")
    for path in (
        f"/masterplans/{plan['id']}",
        f"/programmes/{prog['id']}",
        f"/indicators/{ind['id']}",
        f"/masterplans/{plan['id']}/achievement?year=2024",
        f"/masterplans/{plan['id']}/quick-wins",
    ):
        assert evaluator.get(JBR + path).status_code == 200, path
    for method, path, body in [
        ("post", "/masterplans", {"title": "Evaluasi", "start_year": 2023, "end_year": 2027}),
        ("patch", f"/masterplans/{plan['id']}", {"status": "approved"}),
        ("patch", f"/programmes/{prog['id']}", {"name": "Dinilai"}),
        ("put", f"/programmes/{prog['id']}/status", {"year": 2024, "status": "done"}),
        ("put", f"/indicators/{ind['id']}/realisations/2024", {"value": 1}),
        ("delete", f"/indicators/{ind['id']}", None),
    ]:
        assert evaluator.request(method, JBR + path, json=body).status_code == 403, (method, path)
    assert as_user("admin").get(f"{JBR}/masterplans/{plan['id']}").json()["status"] == "draft"


def test_citizens_and_anonymous_callers_cannot_read(as_user, build, client):
    plan = build.masterplan()
    citizen = as_user("citizen")
    assert citizen.get(f"{JBR}/masterplans").status_code == 403
    assert citizen.get(f"{JBR}/masterplans/{plan['id']}").status_code == 403
    for path in ("/masterplans", f"/masterplans/{plan['id']}", f"/masterplans/{plan['id']}/roadmap"):
        resp = client.get(JBR + path)
        assert resp.status_code == 401 and error_code(resp) == "not_authenticated"
    resp = client.post(f"{JBR}/masterplans", json={"title": "Anonim", "start_year": 2023, "end_year": 2027})
    assert resp.status_code == 401
    bad_key = client.get(f"{JBR}/masterplans", headers={"Authorization": "Bearer kc_not-a-key"})
    assert bad_key.status_code == 401


def test_a_cookie_write_without_the_csrf_header_is_refused(admin, build):
    plan = build.masterplan()
    resp = admin.patch(
        f"{JBR}/masterplans/{plan['id']}", json={"title": "Tanpa token"}, headers={"X-CSRF-Token": ""}
    )
    assert resp.status_code == 403
    assert admin.get(f"{JBR}/masterplans/{plan['id']}").json()["title"] == "Masterplan Smart City"


def test_a_read_key_reads_and_cannot_write(client, build, api_key):
    plan = build.masterplan()
    prog = build.programme(plan["id"], "GOV-1", office="kominfo")
    key = api_key(["masterplan:read"])
    assert client.get(f"{JBR}/masterplans/{plan['id']}", headers=key).status_code == 200
    assert client.get(f"{JBR}/masterplans/{plan['id']}/programmes", headers=key).json()[0]["code"] == "GOV-1"
    assert client.get(f"{PBL}/masterplans", headers=key).status_code == 403  # a key is bound to its region
    for method, path, body in [
        ("post", "/masterplans", {"title": "Dari mesin", "start_year": 2023, "end_year": 2027}),
        ("patch", f"/programmes/{prog['id']}", {"name": "Dari mesin"}),
        ("put", f"/programmes/{prog['id']}/status", {"year": 2024, "status": "done"}),
        ("delete", f"/masterplans/{plan['id']}", None),
    ]:
        assert client.request(method, JBR + path, json=body, headers=key).status_code == 403, (method, path)
    write_key = api_key(["masterplan:read", "masterplan:write"])
    resp = client.patch(
        f"{JBR}/programmes/{prog['id']}", json={"name": "Dari sistem perencanaan"}, headers=write_key
    )
    assert resp.status_code == 200
    assert resp.json()["name"] == "Dari sistem perencanaan"


def test_every_write_is_in_the_audit_log(admin, build, audit_actions):
    plan = build.masterplan()
    admin.patch(f"{JBR}/masterplans/{plan['id']}", json={"vision": "Cerdas"})
    admin.put(f"{JBR}/masterplans/{plan['id']}/sections/strategy", json={"body": "Bertahap"})
    prog = build.programme(plan["id"], "GOV-1", office="kominfo")
    admin.patch(f"{JBR}/programmes/{prog['id']}", json={"name": "Layanan terpadu"})
    admin.put(f"{JBR}/programmes/{prog['id']}/status", json={"year": 2024, "status": "running"})
    ind = build.indicator(plan["id"], "GOV-1.1", programme_id=prog["id"])
    admin.patch(f"{JBR}/indicators/{ind['id']}", json={"targets": [{"year": 2024, "value": 3}]})
    admin.put(f"{JBR}/indicators/{ind['id']}/realisations/2024", json={"value": 2})
    admin.delete(f"{JBR}/indicators/{ind['id']}/realisations/2024")
    admin.delete(f"{JBR}/indicators/{ind['id']}")
    admin.delete(f"{JBR}/programmes/{prog['id']}")
    admin.delete(f"{JBR}/masterplans/{plan['id']}")
    m, p, i = str(plan["id"]), str(prog["id"]), str(ind["id"])
    assert [(action, entity) for action, entity, _actor in audit_actions()] == [
        ("masterplan.create", m),
        ("masterplan.update", m),
        ("masterplan.section", m),
        ("programme.create", p),
        ("programme.update", p),
        ("programme.status", p),
        ("indicator.create", i),
        ("indicator.update", i),
        ("indicator.realisation", i),
        ("indicator.realisation_delete", i),
        ("indicator.delete", i),
        ("programme.delete", p),
        ("masterplan.delete", m),
    ]
    assert {actor for _action, _entity, actor in audit_actions()} == {"Admin Jember"}


def test_the_openapi_document_declares_the_error_bodies(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/regions/{region_code}/masterplans/{masterplan_id}/programmes"]["post"]
    assert op["tags"] == ["masterplan"]
    for status in ("401", "403", "404", "409", "422"):
        schema = op["responses"][status]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/ErrorBody")
    upload = spec["paths"]["/api/v1/regions/{region_code}/evidence"]["post"]
    assert {"413", "415"} <= set(upload["responses"])
