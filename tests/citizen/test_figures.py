"""Response-time figures: the numbers of a known history (figuresdata.py, worked through by hand in
docs/citizen-figures.md), per region and office, their month in the region's time zone, the
isolation of regions, and the public JSON API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from figuresdata import NOW, build_history
from sqlalchemy.orm import Session

from kotacerdas.citizen import figures
from kotacerdas.errors import ValidationFailed

R = "/api/v1/regions/35.09/reports/figures"
EMPTY_STATES = dict.fromkeys(("submitted", "disposed", "in_progress", "responded", "closed", "rejected"), 0)


def approx(value: float) -> Any:
    """Times come from the database as seconds since 1970 in floating point: equal to a millisecond."""
    return pytest.approx(value, abs=1e-6)


def check(found: figures.Figures, **expected: Any) -> None:
    for name, value in expected.items():
        got = getattr(found, name)
        if name.startswith("median") and value is not None:
            assert got == approx(value), name
        elif name.endswith("_share") and value is not None:
            assert got == pytest.approx(value), name
        else:
            assert got == value, name


@pytest.fixture
def history(db: Session, reporting: dict[str, Any]) -> dict[str, Any]:
    return build_history(db, reporting)


def test_the_regions_months_by_hand(db: Session, reporting: dict[str, Any], history: dict[str, Any]) -> None:
    months = figures.monthly_figures(db, region_id=reporting["jember"].id, year=2026, now=NOW)

    assert [m.month for m in months] == list(range(1, 13))
    january, february, march = months[0], months[1], months[2]
    # A, B and C (C at 23:30 WIB on the 31st); D was filed at 00:30 WIB on 1 February
    check(
        january,
        submitted=3,
        states=EMPTY_STATES | {"closed": 1, "disposed": 1, "rejected": 1},
        median_hours_to_verification=66,  # 33.5, 66, 132
        median_hours_to_first_response=72,  # A only
        median_hours_to_close=162,  # A only; C was rejected
        verified_counted=3,
        verified_within_deadline=2,  # B was verified a day late
        verified_within_deadline_share=200 / 3,
        answered_counted=2,  # A on time; B's deadline (12 Feb) passed unanswered
        answered_within_deadline=1,
        answered_within_deadline_share=50.0,
        backlog=3,  # B, C (rejected on 2 Feb) and H from December
        overdue=1,  # H; B and C were still within their verification deadline (4 Feb)
    )
    check(
        february,
        submitted=4,
        states=EMPTY_STATES | {"closed": 1, "responded": 1, "submitted": 1, "disposed": 1},
        median_hours_to_verification=96,  # 34, 96, 139; F is not verified
        median_hours_to_first_response=182.25,  # (175 + 189.5) / 2
        median_hours_to_close=247.5,
        verified_within_deadline=2,  # D, and E thanks to the Lunar New Year; G was late
        verified_counted=3,
        answered_counted=2,  # D late, E on time; G's deadline (6 Mar) has not passed
        answered_within_deadline=1,
        backlog=5,  # B, E, F, G, H
        overdue=2,  # B and H
    )
    # the running month: nothing submitted yet, its backlog taken now
    check(
        march,
        submitted=0,
        states=EMPTY_STATES,
        median_hours_to_verification=None,
        verified_within_deadline_share=None,
        answered_within_deadline_share=None,
        backlog=5,
        overdue=2,
    )
    assert all(m.backlog is None and m.overdue is None and m.submitted == 0 for m in months[3:])


def test_the_regions_year_takes_the_medians_of_all_its_reports(
    db: Session, reporting: dict[str, Any], history: dict[str, Any]
) -> None:
    year = figures.year_figures(db, region_id=reporting["jember"].id, year=2026, now=NOW)
    check(
        year,
        submitted=7,
        median_hours_to_verification=81,  # (66 + 96) / 2 of six, not a median of the months
        median_hours_to_first_response=175,
        median_hours_to_close=204.75,
        verified_within_deadline=4,
        verified_counted=6,
        answered_within_deadline=2,
        answered_counted=4,
        backlog=5,
        overdue=2,
    )
    # a year that has not begun has no backlog yet; one long past counts its end
    assert figures.year_figures(db, region_id=reporting["jember"].id, year=2027, now=NOW).backlog is None
    old = figures.year_figures(db, region_id=reporting["jember"].id, year=2025, now=NOW)
    check(old, submitted=1, backlog=1, overdue=0)  # H at 1 Jan 2026: its follow-up was due 7 Jan


def test_an_office_has_the_reports_it_holds_now(
    db: Session, reporting: dict[str, Any], history: dict[str, Any]
) -> None:
    jember, offices = reporting["jember"].id, reporting["offices"]
    dishub = figures.monthly_figures(db, region_id=jember, year=2026, office_id=offices["dishub"].id, now=NOW)
    check(
        dishub[0],
        submitted=2,  # A and B
        median_hours_to_verification=99,  # (66 + 132) / 2
        median_hours_to_first_response=72,
        verified_within_deadline_share=50.0,
        answered_within_deadline_share=50.0,
        backlog=2,  # B and H
        overdue=1,
    )
    check(
        dishub[1],
        submitted=1,  # E; F is not disposed yet, so it is no office's
        median_hours_to_verification=139,
        median_hours_to_first_response=175,
        median_hours_to_close=None,
        answered_within_deadline_share=100.0,
        backlog=3,  # B, E, H
        overdue=2,
    )
    dinkes = figures.monthly_figures(db, region_id=jember, year=2026, office_id=offices["dinkes"].id, now=NOW)
    check(dinkes[0], submitted=0, backlog=0, overdue=0)  # C was rejected before it had an office
    check(
        dinkes[1],
        submitted=2,  # D and G
        median_hours_to_verification=65,
        median_hours_to_first_response=189.5,
        median_hours_to_close=247.5,
        verified_within_deadline_share=50.0,
        answered_counted=1,
        answered_within_deadline_share=0.0,
        backlog=1,
        overdue=0,
    )


def test_the_office_table_puts_the_worst_first(
    db: Session, reporting: dict[str, Any], history: dict[str, Any]
) -> None:
    jember = reporting["jember"].id
    year = figures.office_table(db, region_id=jember, year=2026, now=NOW)
    assert [(r.short_name, r.figures.answered_within_deadline_share) for r in year] == [
        ("Dinkes", 0.0),
        ("Dishub", pytest.approx(200 / 3)),
        ("Diskominfo", None),
    ]
    assert [(r.figures.submitted, r.figures.backlog, r.figures.overdue) for r in year] == [
        (2, 1, 0),
        (3, 3, 2),
        (0, 0, 0),
    ]
    january = figures.office_table(db, region_id=jember, year=2026, month=1, now=NOW)
    assert [(r.short_name, r.figures.submitted) for r in january] == [
        ("Dishub", 2),
        ("Dinkes", 0),
        ("Diskominfo", 0),
    ]
    with pytest.raises(ValidationFailed):
        figures.office_table(db, region_id=jember, year=2026, month=13, now=NOW)


def test_the_month_is_the_month_in_the_regions_time_zone(
    db: Session, reporting: dict[str, Any], history: dict[str, Any]
) -> None:
    jember = reporting["jember"]
    # D was filed at 17:30 UTC on 31 January: February in WIB
    wib = figures.monthly_figures(db, region_id=jember.id, year=2026, now=NOW)
    assert [m.submitted for m in wib[:2]] == [3, 4]
    # were Jember in WIT (UTC+9), C (23:30 WIB = 01:30 WIT on 1 February) would be February's too
    jember.timezone = "WIT"
    db.flush()
    wit = figures.monthly_figures(db, region_id=jember.id, year=2026, now=NOW)
    assert [m.submitted for m in wit[:2]] == [2, 5]


def test_probolinggos_reports_never_count_for_jember(
    db: Session, reporting: dict[str, Any], history: dict[str, Any]
) -> None:
    jember, pbl = reporting["jember"].id, reporting["probolinggo"].id
    assert figures.year_figures(db, region_id=jember, year=2026, now=NOW).submitted == 7
    assert [r.short_name for r in figures.office_table(db, region_id=jember, year=2026, now=NOW)] == [
        "Dinkes",
        "Dishub",
        "Diskominfo",
    ]
    theirs = figures.monthly_figures(db, region_id=pbl, year=2026, now=NOW)
    assert [m.submitted for m in theirs[:3]] == [1, 0, 0]
    assert theirs[0].backlog == 1 and theirs[1].backlog == 1
    # an office of another region is not found in this one
    with pytest.raises(Exception, match="not found"):
        figures.monthly_figures(
            db, region_id=jember, year=2026, office_id=reporting["offices"]["pbl"].id, now=NOW
        )


def test_indicator_values_of_every_source(
    db: Session, reporting: dict[str, Any], history: dict[str, Any]
) -> None:
    """Computed now (long after March 2026): G's deadline of 6 March has passed unanswered too."""
    jember = reporting["jember"].id

    def value(key: str) -> Decimal | None:
        return figures.indicator_value(db, region_id=jember, key=key, year=2026)

    assert value("reports.answered_within_deadline_share") == Decimal("40.00")  # A, E of A, B, D, E, G
    assert value("reports.verified_within_deadline_share") == Decimal("66.67")
    assert value("reports.median_days_to_first_response") == Decimal("7.29")  # 175 h
    assert value("reports.median_days_to_close") == Decimal("8.53")  # 204.75 h
    assert value("reports.count") == Decimal(7)
    assert figures.indicator_value(db, region_id=jember, key="reports.count", year=2024) == Decimal(0)
    assert (
        figures.indicator_value(db, region_id=jember, key="reports.answered_within_deadline_share", year=2024)
        is None
    )
    with pytest.raises(ValidationFailed):
        value("reports.something_else")
    assert set(figures.SOURCES) >= {
        "reports.answered_within_deadline_share",
        "reports.verified_within_deadline_share",
        "reports.median_days_to_first_response",
        "reports.count",
    }


# ---------------------------------------------------------------- the API


def test_the_api_gives_twelve_months_to_anyone(client: Any, history: dict[str, Any]) -> None:
    resp = client.get(R, params={"year": 2026})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["region"] == {"code": "35.09", "name": "Kabupaten Jember", "timezone": "WIB"}
    assert body["office"] is None and body["year"] == 2026
    assert [m["month"] for m in body["months"]] == list(range(1, 13))
    january, february = body["months"][0], body["months"][1]
    assert january == {
        "month": 1,
        "submitted": 3,
        "states": EMPTY_STATES | {"closed": 1, "disposed": 1, "rejected": 1},
        "median_hours_to_verification": 66.0,
        "median_hours_to_first_response": 72.0,
        "median_hours_to_close": 162.0,
        "verified_counted": 3,
        "verified_within_deadline": 2,
        "verified_within_deadline_share": 66.67,
        "answered_counted": 2,
        "answered_within_deadline": 1,
        "answered_within_deadline_share": 50.0,
        "backlog": 3,
        "overdue": 1,
    }
    # computed now, G's follow-up deadline (6 March) has passed unanswered: late
    assert (february["answered_counted"], february["answered_within_deadline_share"]) == (3, 33.33)
    assert (february["median_hours_to_first_response"], february["backlog"]) == (182.25, 5)
    assert body["total"]["submitted"] == 7 and body["total"]["median_hours_to_verification"] == 81.0


def test_the_api_per_office_and_the_office_table(client: Any, history: dict[str, Any]) -> None:
    resp = client.get(R, params={"year": 2026, "office": "Dishub"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["office"]["short_name"] == "Dishub"
    assert [m["submitted"] for m in body["months"][:3]] == [2, 1, 0]
    assert body["months"][0]["median_hours_to_verification"] == 99.0

    resp = client.get(f"{R}/offices", params={"year": 2026, "month": 2})
    assert resp.status_code == 200, resp.text
    table = resp.json()
    assert table["month"] == 2 and table["region"]["code"] == "35.09"
    rows = [(r["office"]["short_name"], r["answered_within_deadline_share"]) for r in table["offices"]]
    assert rows == [("Dinkes", 0.0), ("Dishub", 100.0), ("Diskominfo", None)]  # D and G late; E on time
    whole = client.get(f"{R}/offices", params={"year": 2026}).json()
    assert whole["month"] is None and [r["submitted"] for r in whole["offices"]] == [2, 3, 0]


def test_the_api_keeps_regions_apart(client: Any, reporting: dict[str, Any], history: dict[str, Any]) -> None:
    theirs = client.get("/api/v1/regions/35.74/reports/figures", params={"year": 2026}).json()
    assert theirs["total"]["submitted"] == 1
    assert client.get(R, params={"year": 2026}).json()["total"]["submitted"] == 7
    table = client.get(f"{R}/offices", params={"year": 2026}).json()
    assert sorted(r["office"]["short_name"] for r in table["offices"]) == ["Dinkes", "Dishub", "Diskominfo"]
    assert reporting["offices"]["pbl"].id not in {r["office"]["id"] for r in table["offices"]}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("", {"year": 1999}, "year"),
        ("", {"year": "dua ribu"}, "year"),
        ("", {"office": "Bappeda"}, "office"),
        ("", {"office": "Diskominfo\x00"}, "office"),
        ("/offices", {"month": 13}, "month"),
        ("/offices", {"year": 2101}, "year"),
    ],
)
def test_bad_parameters_are_422_json(
    client: Any, reporting: dict[str, Any], path: str, params: dict[str, Any], field: str
) -> None:
    resp = client.get(R + path, params=params)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_failed"
    assert field in str(error["details"])


def test_an_unknown_region_is_404(client: Any, reporting: dict[str, Any]) -> None:
    resp = client.get("/api/v1/regions/99.99/reports/figures")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
