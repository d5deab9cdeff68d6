"""The overview's status counts and achievement per element, and deleting a realisation from the
indicator page, through the pages as a browser uses them (the masterplan is built through the API)."""

from __future__ import annotations

import re
from typing import Any

import pytest

JBR = "/api/v1/regions/35.09"


@pytest.fixture
def plan(admin, build) -> dict[str, Any]:
    """Masterplan 2023-2027 of Jember:

    P1 governance/service, Diskominfo, 2023-2025, reported running in 2024; indicator A 60 of 80 in 2024
    P2 governance/policy, no office, 2023-2027, nothing reported, no indicator
    P3 living/health, Dishub, 2024-2027, reported done in 2025; indicator D 50 of 200 in 2024
    E  living/health, a dimension-level indicator: 9 of 10 in 2024
    """
    masterplan = build.masterplan("Masterplan Jember 2023-2027", 2023, 2027)
    p1 = build.programme(
        masterplan["id"],
        "P1",
        office="kominfo",
        element="service",
        start_year=2023,
        end_year=2025,
        year_statuses=[{"year": 2024, "status": "running"}],
    )
    build.programme(masterplan["id"], "P2", element="policy", start_year=2023, end_year=2027)
    p3 = build.programme(
        masterplan["id"],
        "P3",
        office="dishub",
        dimension="living",
        element="health",
        start_year=2024,
        end_year=2027,
        year_statuses=[{"year": 2025, "status": "done"}],
    )
    a = build.indicator(
        masterplan["id"],
        "A",
        programme_id=p1["id"],
        targets=[{"year": 2024, "value": 80}, {"year": 2025, "value": 80}],
    )
    d = build.indicator(
        masterplan["id"],
        "D",
        programme_id=p3["id"],
        targets=[{"year": 2024, "value": 200}, {"year": 2025, "value": 200}],
    )
    e = build.indicator(
        masterplan["id"], "E", dimension="living", element="health", targets=[{"year": 2024, "value": 10}]
    )
    for indicator, year, value in ((a, 2024, 60), (d, 2024, 50), (d, 2025, 120), (e, 2024, 9)):
        resp = admin.put(f"{JBR}/indicators/{indicator['id']}/realisations/{year}", json={"value": value})
        assert resp.status_code == 200, resp.text
    return {"plan": masterplan, "P1": p1, "P3": p3, "A": a, "D": d, "E": e}


def row_of(html: str, attribute: str, value: str) -> str:
    found = re.search(rf'<tr {attribute}="{re.escape(value)}">(.*?)</tr>', html, re.S)
    assert found, f"no row {attribute}={value}"
    return found.group(1)


def status_cells(html: str, dimension: str) -> dict[str, int]:
    row = row_of(html, "data-dimension", dimension)
    return {st: int(n) for st, n in re.findall(r'data-status="(\w+)">([\d.]+)<', row)}


def realisation_years(admin: Any, indicator_id: int) -> list[int]:
    resp = admin.get(f"{JBR}/indicators/{indicator_id}")
    assert resp.status_code == 200, resp.text
    return [r["year"] for r in resp.json()["realisations"]]


# ---------------------------------------------------------------- overview


def test_overview_counts_statuses_as_the_roadmap_shows_them(admin, plan):
    plan_id = plan["plan"]["id"]
    expected = {
        # 2023: P1 and P2 have begun and reported nothing (planned); P3 begins in 2024 and is not counted
        2023: {"governance": (2, 0, 0), "living": (0, 0, 0), "total": (2, 0, 0)},
        2024: {"governance": (1, 1, 0), "living": (1, 0, 0), "total": (2, 1, 0)},
        2025: {"governance": (2, 0, 0), "living": (0, 0, 1), "total": (2, 0, 1)},
        # 2026: P1 has ended
        2026: {"governance": (1, 0, 0), "living": (1, 0, 0), "total": (2, 0, 0)},
    }
    for year, rows in expected.items():
        page = admin.get(f"/masterplans/{plan_id}?year={year}")
        assert page.status_code == 200
        for dimension, (planned, running, done) in rows.items():
            assert status_cells(page.text, dimension) == {
                "planned": planned,
                "running": running,
                "done": done,
                "stalled": 0,
            }, (year, dimension)
        # the same as the roadmap's cells of that year
        roadmap = admin.get(f"{JBR}/masterplans/{plan_id}/roadmap").json()
        cells = [row["years"][str(year)] for dim in roadmap["dimensions"] for row in dim["rows"]]
        assert cells.count("planned") == rows["total"][0] and cells.count("running") == rows["total"][1]
    english = admin.get(f"/masterplans/{plan_id}?year=2024&lang=en").text
    assert "a year not reported yet counts as planned, as on the roadmap" in english


def test_overview_shows_the_achievement_of_every_element(admin, plan):
    page = admin.get(f"/masterplans/{plan['plan']['id']}?year=2024")
    assert page.status_code == 200
    html = page.text
    assert 'id="h-elements"' in html and "Capaian per Elemen Tahun 2024" in html

    def cells(element: str) -> list[str]:
        row = row_of(html, "data-element", element)
        return [
            re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]

    # name, programmes, indicators, achievement
    assert cells("governance/service") == ["Pelayanan Publik", "1", "1", "75,0%"]  # A: 60 of 80
    assert cells("governance/policy") == ["Efisiensi Kebijakan Publik", "1", "0", "–"]  # P2 has no indicator
    # P3 (D: 50 of 200 = 25) and the dimension-level indicator E (9 of 10 = 90): (25 + 90) / 2
    assert cells("living/health") == ["Sarana-Prasarana Kesehatan", "1", "2", "57,5%"]
    assert cells("living/mobility") == ["Sarana Transportasi", "0", "0", "–"]
    bar = re.search(
        r'data-element="living/health">.*?class="bar"[^>]*><span style="width: ([\d.]+)%"', html, re.S
    )
    assert bar and float(bar.group(1)) == 57.5
    # every element of the edition has its row, under its dimension
    assert len(re.findall(r'<tr data-element="', html)) == sum(
        len(d["elements"])
        for d in admin.get(f"{JBR}/masterplans/{plan['plan']['id']}/achievement").json()["dimensions"]
    )
    english = admin.get(f"/masterplans/{plan['plan']['id']}?year=2025&lang=en").text
    assert "Achievement per element in 2025" in english and "Public Service" in english


# ---------------------------------------------------------------- deleting a realisation


def test_the_lead_office_deletes_a_realisation_after_confirming(as_user, admin, plan, audit_actions):
    dishub = as_user("dishub")
    d = plan["D"]["id"]
    page = dishub.get(f"/indicators/{d}")
    assert page.status_code == 200
    url = f"/indicators/{d}/realisations/2024/delete"
    assert f'href="{url}"' in page.text and f'href="/indicators/{d}/realisations/2025/delete"' in page.text

    confirm = dishub.get(url)
    assert confirm.status_code == 200
    assert "D Indicator D · 2024: 50 %" in confirm.text
    assert f'action="{url}"' in confirm.text and 'name="csrf_token"' in confirm.text
    assert realisation_years(admin, d) == [2024, 2025]  # looking at the confirmation deletes nothing

    done = dishub.post(url, data={"csrf_token": dishub.csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"/indicators/{d}?ok=realisation_deleted&year=2024#history"
    after = dishub.get(done.headers["location"])
    assert "Realisasi berhasil dihapus." in after.text
    assert f'href="/indicators/{d}/realisations/2024/delete"' not in after.text

    # only that realisation is gone: the other year, the targets and the other indicators stay
    got = admin.get(f"{JBR}/indicators/{d}").json()
    assert [(r["year"], r["value"]) for r in got["realisations"]] == [(2025, "120.0000")]
    assert [t["year"] for t in got["targets"]] == [2024, 2025]
    assert realisation_years(admin, plan["A"]["id"]) == [2024]
    assert realisation_years(admin, plan["E"]["id"]) == [2024]
    assert audit_actions()[-1] == ("indicator.realisation_delete", str(d), "Operator Dishub")

    # the region admin may too; a year without a realisation is not found
    gone = admin.post(
        f"/indicators/{d}/realisations/2025/delete", data={"csrf_token": admin.csrf}, follow_redirects=False
    )
    assert gone.status_code == 303 and realisation_years(admin, d) == []
    assert admin.get(f"/indicators/{d}/realisations/2025/delete").status_code == 404
    again = admin.post(f"/indicators/{d}/realisations/2025/delete", data={"csrf_token": admin.csrf})
    assert again.status_code == 404
    assert [a for a, _id, _by in audit_actions()].count("indicator.realisation_delete") == 2


def test_deleting_a_realisation_is_refused_to_everyone_else(as_user, admin, plan, audit_actions):
    d = plan["D"]["id"]
    url = f"/indicators/{d}/realisations/2024/delete"
    before = audit_actions()

    dinkes = as_user("dinkes")  # an operator of another office of the region
    page = dinkes.get(f"/indicators/{d}")
    assert page.status_code == 200 and "/realisations/2024/delete" not in page.text
    for resp in (dinkes.get(url), dinkes.post(url, data={"csrf_token": dinkes.csrf})):
        assert resp.status_code == 403
        assert "<html" in resp.text and "Indicator D" not in resp.text  # the error page, not the realisation

    evaluator = as_user("evaluator")  # reads every region, enters nothing
    assert evaluator.get(f"/regions/35.09{url}").status_code == 403
    assert evaluator.post(f"/regions/35.09{url}", data={"csrf_token": evaluator.csrf}).status_code == 403

    for name in ("citizen", "pbl_admin"):
        other = as_user(name)
        assert other.get(url).status_code in (403, 404), name
        assert other.post(url, data={"csrf_token": other.csrf}).status_code in (403, 404), name

    dishub = as_user("dishub")  # allowed, but not without the form's CSRF token
    assert dishub.post(url, data={}).status_code == 403
    assert dishub.post(url, data={"csrf_token": "forged"}).status_code == 403

    assert realisation_years(admin, d) == [2024, 2025]
    assert audit_actions() == before
