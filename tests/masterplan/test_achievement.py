"""Achievement, roadmap, trend and quick wins through the API, with the worked example of the formula
(kotacerdas.masterplan.achievement): numbers written out and checked to 2 decimals."""

from __future__ import annotations

from typing import Any

import pytest

from kotacerdas.kit.time import current_year

JBR = "/api/v1/regions/35.09"


@pytest.fixture
def example(admin, build) -> dict[str, Any]:
    """Masterplan 2023-2027, three programmes in two dimensions, one dimension-level indicator.

    Year 2024:
      P1 governance/service  A higher 60 of 80 = 75 %; B higher 12 of 10 = 120 % (100 capped) -> P1 87.5
      P2 governance/policy   C lower: target 5, realised 4 -> 5 / 4 = 125 % (100 capped)  -> P2 100
      P3 living/health       D higher 50 of 200 = 25 %                                      -> P3 25
      living/health, no programme: E higher 9 of 10 = 90 %
    Year 2025: only A, 80 of 80 = 100 %.
    """
    plan = build.masterplan("Masterplan Jember 2023-2027", 2023, 2027)
    p1 = build.programme(
        plan["id"],
        "P1",
        office="kominfo",
        element="service",
        start_year=2023,
        end_year=2025,
        is_quick_win=True,
        quick_win={"innovation": "Satu aplikasi untuk semua layanan", "benefit": "Antrean hilang"},
        year_statuses=[{"year": 2024, "status": "running"}],
    )
    p2 = build.programme(plan["id"], "P2", element="policy", start_year=2023, end_year=2027)
    p3 = build.programme(
        plan["id"],
        "P3",
        office="dinkes",
        dimension="living",
        element="health",
        start_year=2024,
        end_year=2027,
    )
    indicators = {
        "A": build.indicator(
            plan["id"],
            "A",
            programme_id=p1["id"],
            targets=[{"year": 2024, "value": 80}, {"year": 2025, "value": 80}],
        ),
        "B": build.indicator(plan["id"], "B", programme_id=p1["id"], targets=[{"year": 2024, "value": 10}]),
        "C": build.indicator(
            plan["id"], "C", programme_id=p2["id"], direction="lower", targets=[{"year": 2024, "value": 5}]
        ),
        "D": build.indicator(plan["id"], "D", programme_id=p3["id"], targets=[{"year": 2024, "value": 200}]),
        "E": build.indicator(
            plan["id"], "E", dimension="living", element="health", targets=[{"year": 2024, "value": 10}]
        ),
    }
    for code, year, value in [
        ("A", 2024, 60),
        ("B", 2024, 12),
        ("C", 2024, 4),
        ("D", 2024, 50),
        ("E", 2024, 9),
        ("A", 2025, 80),
    ]:
        resp = admin.put(
            f"{JBR}/indicators/{indicators[code]['id']}/realisations/{year}", json={"value": value}
        )
        assert resp.status_code == 200, resp.text
    return {"plan": plan, "programmes": {"P1": p1, "P2": p2, "P3": p3}, "indicators": indicators}


def test_worked_example_of_the_achievement_formula(admin, example):
    plan_id = example["plan"]["id"]
    resp = admin.get(f"{JBR}/masterplans/{plan_id}/achievement", params={"year": 2024, "lang": "en"})
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["year"] == 2024
    dims = {d["code"]: d for d in report["dimensions"]}
    assert list(dims) == ["governance", "branding", "economy", "living", "society", "environment"]

    def element(dim: str, code: str) -> Any:
        return next(e for e in dims[dim]["elements"] if e["code"] == code)

    # P1 = mean(75, min(120, 100)) = 87.5; P2 = min(125, 100) = 100
    assert element("governance", "service")["achievement"] == pytest.approx(87.5, abs=0.005)
    assert element("governance", "policy")["achievement"] == pytest.approx(100.0, abs=0.005)
    assert element("governance", "bureaucracy")["achievement"] is None
    # governance = mean of its units (P1, P2) = (87.5 + 100) / 2
    assert dims["governance"]["achievement"] == pytest.approx(93.75, abs=0.005)
    # living/health = mean(P3 25, indicator E 90) = 57.5; living has nothing else
    assert element("living", "health")["achievement"] == pytest.approx(57.5, abs=0.005)
    assert element("living", "mobility")["achievement"] is None
    assert dims["living"]["achievement"] == pytest.approx(57.5, abs=0.005)
    for empty in ("branding", "economy", "society", "environment"):
        assert dims[empty]["achievement"] is None
        assert all(e["achievement"] is None for e in dims[empty]["elements"])
    # overall = mean(93.75, 57.5) = 75.625, shown rounded half up
    assert report["overall"] == 75.63

    assert dims["governance"]["name"] == "Smart Governance"
    assert element("living", "health")["name"] == "Health Facilities"
    assert (dims["governance"]["programme_count"], dims["governance"]["indicator_count"]) == (2, 3)
    assert (dims["governance"]["quick_win_count"], dims["living"]["quick_win_count"]) == (1, 0)
    assert (
        element("living", "health")["programme_count"],
        element("living", "health")["indicator_count"],
    ) == (1, 2)
    # P1 reported running; P2 (2023-2027) reported nothing for 2024, so it counts as planned
    assert dims["governance"]["status_counts"] == {"planned": 1, "running": 1, "done": 0, "stalled": 0}
    assert dims["living"]["status_counts"] == {"planned": 1, "running": 0, "done": 0, "stalled": 0}

    # the other year: only A, 80 of 80
    report_2025 = admin.get(f"{JBR}/masterplans/{plan_id}/achievement", params={"year": 2025}).json()
    dims_2025 = {d["code"]: d["achievement"] for d in report_2025["dimensions"]}
    assert dims_2025["governance"] == 100.0 and dims_2025["living"] is None
    assert report_2025["overall"] == 100.0


def test_each_indicator_shows_its_raw_achievement_per_year(admin, example):
    raw = {}
    for code, ind in example["indicators"].items():
        got = admin.get(f"{JBR}/indicators/{ind['id']}").json()
        by_year = {a["year"]: a for a in got["achievements"]}
        assert list(by_year) == [2023, 2024, 2025, 2026, 2027]
        assert by_year[2023]["achievement"] is None and by_year[2023]["target"] is None
        raw[code] = by_year[2024]["achievement"]
    # not capped where it is shown: 12 of 10 is 120 %, 4 against a ceiling of 5 is 125 %
    assert raw == {"A": 75.0, "B": 120.0, "C": 125.0, "D": 25.0, "E": 90.0}


def test_the_trend_follows_the_years(admin, example):
    plan_id = example["plan"]["id"]
    trend = admin.get(f"{JBR}/masterplans/{plan_id}/trend").json()
    assert trend["years"] == [2023, 2024, 2025, 2026, 2027]
    points = {d["code"]: [p["achievement"] for p in d["points"]] for d in trend["dimensions"]}
    assert points["governance"] == [None, 93.75, 100.0, None, None]
    assert points["living"] == [None, 57.5, None, None, None]
    assert points["economy"] == [None] * 5
    assert [p["achievement"] for p in trend["overall"]] == [None, 75.63, 100.0, None, None]


def test_the_roadmap_shows_each_programmes_years(admin, example):
    plan_id = example["plan"]["id"]
    roadmap = admin.get(f"{JBR}/masterplans/{plan_id}/roadmap").json()
    assert roadmap["years"] == [2023, 2024, 2025, 2026, 2027]
    rows = {row["code"]: row for dim in roadmap["dimensions"] for row in dim["rows"]}
    assert [dim["code"] for dim in roadmap["dimensions"] if dim["rows"]] == ["governance", "living"]
    # outside its years: null; reported: the status; not reported: planned
    assert rows["P1"]["years"] == {
        "2023": "planned",
        "2024": "running",
        "2025": "planned",
        "2026": None,
        "2027": None,
    }
    assert rows["P3"]["years"] == {
        "2023": None,
        "2024": "planned",
        "2025": "planned",
        "2026": "planned",
        "2027": "planned",
    }
    assert (rows["P1"]["lead_office"], rows["P2"]["lead_office"], rows["P3"]["lead_office"]) == (
        "Diskominfo",
        None,
        "Dinkes",
    )
    assert rows["P1"]["is_quick_win"] is True


def test_status_counts_agree_with_the_roadmap_in_every_year(admin, example):
    """The summary counts a programme in a year when the year lies in its span: its reported status, or
    planned when nothing is reported, exactly as the roadmap shows it; other programmes not at all."""
    plan_id = example["plan"]["id"]
    roadmap = admin.get(f"{JBR}/masterplans/{plan_id}/roadmap").json()
    for year in roadmap["years"]:
        report = admin.get(f"{JBR}/masterplans/{plan_id}/achievement", params={"year": year}).json()
        for dim, summary in zip(roadmap["dimensions"], report["dimensions"], strict=True):
            on_roadmap = {"planned": 0, "running": 0, "done": 0, "stalled": 0}
            for row in dim["rows"]:
                if row["years"][str(year)] is not None:
                    on_roadmap[row["years"][str(year)]] += 1
            assert summary["status_counts"] == on_roadmap, (year, dim["code"])

    def counts(year: int, dimension: str) -> dict[str, int]:
        report = admin.get(f"{JBR}/masterplans/{plan_id}/achievement", params={"year": year}).json()
        found = next(d for d in report["dimensions"] if d["code"] == dimension)
        return {status: n for status, n in found["status_counts"].items() if n}

    # 2023: P1 (2023-2025) and P2 (2023-2027) planned; P3 starts in 2024 and is not counted
    assert (counts(2023, "governance"), counts(2023, "living")) == ({"planned": 2}, {})
    # 2026: P1 has ended; P2 and P3 planned
    assert (counts(2026, "governance"), counts(2026, "living")) == ({"planned": 1}, {"planned": 1})
    # a reported status replaces planned in that year only
    resp = admin.put(
        f"{JBR}/programmes/{example['programmes']['P3']['id']}/status",
        json={"year": 2026, "status": "stalled"},
    )
    assert resp.status_code == 200, resp.text
    assert (counts(2026, "living"), counts(2025, "living")) == ({"stalled": 1}, {"planned": 1})


def test_quick_wins_list_every_attribute_the_evaluation_asks_about(admin, example):
    plan_id = example["plan"]["id"]
    wins = admin.get(f"{JBR}/masterplans/{plan_id}/quick-wins", params={"lang": "id"}).json()
    assert [w["code"] for w in wins] == ["P1"]
    win = wins[0]
    assert win["dimension_name"] == "Tata Kelola Pemerintahan Cerdas"
    assert win["lead_office"] == "Diskominfo"
    assert list(win["attributes"]) == [
        "innovation",
        "attractiveness",
        "benefit",
        "uniqueness",
        "partnership",
        "development_potential",
        "continuity",
        "resources",
        "risk_management",
        "sustainability",
    ]
    assert win["attributes"]["innovation"] == "Satu aplikasi untuk semua layanan"
    assert win["attributes"]["uniqueness"] == ""
    assert win["described"] == 2


def test_dimension_names_follow_the_language(admin, example):
    url = f"{JBR}/masterplans/{example['plan']['id']}"
    assert (
        admin.get(f"{url}/roadmap", params={"lang": "id"}).json()["dimensions"][0]["name"]
        == "Tata Kelola Pemerintahan Cerdas"
    )
    assert (
        admin.get(f"{url}/roadmap", params={"lang": "en"}).json()["dimensions"][0]["name"]
        == "Smart Governance"
    )
    assert admin.get(f"{url}/trend", params={"lang": "en"}).json()["dimensions"][3]["name"] == "Smart Living"


def test_the_report_year_defaults_to_this_year_within_the_period(admin, build):
    now = build.masterplan("Masterplan berjalan", 2023, 2027)
    past = build.masterplan("Masterplan lama", 2010, 2014)
    future = build.masterplan("Masterplan depan", 2090, 2095)
    expected = min(max(current_year("WIB"), 2023), 2027)
    assert admin.get(f"{JBR}/masterplans/{now['id']}/achievement").json()["year"] == expected
    assert admin.get(f"{JBR}/masterplans/{past['id']}/achievement").json()["year"] == 2014
    assert admin.get(f"{JBR}/masterplans/{future['id']}/achievement").json()["year"] == 2090
    resp = admin.get(f"{JBR}/masterplans/{now['id']}/achievement", params={"year": 2030})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "validation_failed"
    assert admin.get(f"{JBR}/masterplans/{now['id']}/achievement", params={"year": "soon"}).status_code == 422


def test_a_masterplan_without_data_reports_nothing_rather_than_zero(admin, build):
    plan = build.masterplan()
    build.programme(plan["id"], "P1")
    report = admin.get(f"{JBR}/masterplans/{plan['id']}/achievement", params={"year": 2024}).json()
    assert report["overall"] is None
    assert all(d["achievement"] is None for d in report["dimensions"])
    assert admin.get(f"{JBR}/masterplans/{plan['id']}/quick-wins").json() == []
