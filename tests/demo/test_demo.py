"""The demo: its data loads through the services into a fresh database, reads back sensibly through the
API, and ``kotacerdas demo`` loads it once and tells how to log in."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kotacerdas.cli import app as cli_app
from kotacerdas.config import get_settings
from kotacerdas.db import make_engine
from kotacerdas.demo import loader
from kotacerdas.region import service as regions

JBR = "/api/v1/regions/35.09"
PASSWORD = "demo-kotacerdas"
DEMO_YEAR = 2026  # the demo's "current year": realisations up to 2025, plans from 2026 on

JEMBER_KECAMATAN = {
    "Kencong", "Gumukmas", "Puger", "Wuluhan", "Ambulu", "Tempurejo", "Silo", "Mayang", "Mumbulsari",
    "Jenggawah", "Ajung", "Rambipuji", "Balung", "Umbulsari", "Semboro", "Jombang", "Sumberbaru",
    "Tanggul", "Bangsalsari", "Panti", "Sukorambi", "Arjasa", "Pakusari", "Kalisat", "Ledokombo",
    "Sumberjambe", "Sukowono", "Jelbuk", "Kaliwates", "Sumbersari", "Patrang",
}  # fmt: skip
TOWN_CENTRE = (113.703, -8.170)  # near the alun-alun of Jember

ACCOUNTS = {
    "admin@jember.go.id": ("region_admin", "35.09"),
    "operator.dishub@jember.go.id": ("office_operator", "35.09"),
    "operator.dinkes@jember.go.id": ("office_operator", "35.09"),
    "admin@probolinggokota.go.id": ("region_admin", "35.74"),
    "admin@jombangkab.go.id": ("region_admin", "35.17"),
    "evaluator@kominfo.go.id": ("national_evaluator", None),
    "warga@example.id": ("citizen", "35.09"),
}


def test_demo_loads_regions_kecamatan_masterplans_and_accounts(
    db: Session, make_client: Callable[[], Any]
) -> None:
    # loading is the slow part (hundreds of service calls), so one load serves every check below
    summary = loader.load_demo(db)
    db.commit()
    assert loader.is_loaded(db)
    assert (summary.regions, summary.masterplans) == (3, 4)
    assert summary.report_categories == 15 and 2000 <= summary.reports <= 3200
    assert summary.public_services > 0

    evaluator = make_client().login("evaluator@kominfo.go.id", PASSWORD)
    listed = evaluator.get("/api/v1/regions").json()
    assert {r["code"] for r in listed} == {"35.09", "35.74", "35.17"}

    _check_jember_kecamatan(db, evaluator)
    _check_jember_masterplans(evaluator)
    _check_accounts_log_in(make_client)
    admin = make_client().login("admin@jember.go.id", PASSWORD)
    _check_report_categories(admin)
    everything = _all_reports(admin)
    assert len(everything) == summary.reports
    _check_report_year(everything)
    _check_report_lifecycles(admin, everything)
    _check_office_figures(everything)
    _check_report_scopes(make_client, everything)


def _check_jember_kecamatan(db: Session, api: Any) -> None:
    features = api.get(f"{JBR}/areas.geojson", params={"kind": "kecamatan"}).json()["features"]
    assert {f["properties"]["name"] for f in features} == JEMBER_KECAMATAN
    assert all(f["properties"]["code"].startswith("35.09.") for f in features)
    polygons = {f["properties"]["name"]: shape(f["geometry"]) for f in features}
    assert all(p.is_valid and p.area > 0 for p in polygons.values())
    for (name_a, a), (name_b, b) in itertools.combinations(polygons.items(), 2):
        assert a.intersection(b).area < 1e-9, f"{name_a} overlaps {name_b}"
    # together they tile the regency boundary: no gaps
    boundary = shape(api.get(JBR).json()["boundary"])
    assert sum(p.area for p in polygons.values()) == pytest.approx(boundary.area, rel=1e-6)

    jember = regions.get_region_by_code(db, "35.09")
    centre = regions.find_area_at(db, region_id=jember.id, lon=TOWN_CENTRE[0], lat=TOWN_CENTRE[1])
    assert centre is not None and centre.name in {"Kaliwates", "Sumbersari", "Patrang"}
    looked_up = api.get(f"{JBR}/areas/lookup", params={"lon": TOWN_CENTRE[0], "lat": TOWN_CENTRE[1]})
    assert looked_up.status_code == 200 and looked_up.json()["name"] == centre.name
    # the south-west coast is Kencong/Gumukmas/Puger country; the sea off it is no kecamatan at all
    coast = api.get(f"{JBR}/areas/lookup", params={"lon": 113.45, "lat": -8.35}).json()
    assert coast["name"] in {"Kencong", "Gumukmas", "Puger"}
    assert api.get(f"{JBR}/areas/lookup", params={"lon": 113.6, "lat": -8.7}).status_code == 404


def _check_jember_masterplans(api: Any) -> None:
    plans = {p["title"]: p for p in api.get(f"{JBR}/masterplans").json()}
    assert set(plans) == {
        "Masterplan Smart City Kabupaten Jember 2018-2022",
        "Masterplan Smart City Kabupaten Jember 2023-2027",
    }
    assert all(p["status"] == "approved" and "ilustratif" in p["legal_basis_number"] for p in plans.values())
    current = plans["Masterplan Smart City Kabupaten Jember 2023-2027"]

    detail = api.get(f"{JBR}/masterplans/{current['id']}").json()
    assert len(detail["sections"]) == 9  # readiness x3, SWOT x4, gap analysis, strategy
    programmes = api.get(f"{JBR}/masterplans/{current['id']}/programmes").json()
    assert 35 <= len(programmes) <= 45

    framework = api.get("/api/v1/framework").json()
    every_element = {(d["code"], e["code"]) for d in framework["dimensions"] for e in d["elements"]}
    assert len(every_element) == 18
    assert {(p["dimension"], p["element"]) for p in programmes} == every_element
    quick_wins = [p for p in programmes if p["is_quick_win"]]
    assert 6 <= len(quick_wins) <= 8
    assert {p["dimension"] for p in quick_wins} == {d["code"] for d in framework["dimensions"]}
    assert all(len(p["quick_win"]) == 10 for p in quick_wins)
    assert all(p["lead_office"] is not None and p["budgets"] for p in programmes)
    assert {b["source"] for p in programmes for b in p["budgets"]} >= {"APBD", "APBN", "KPBU", "CSR"}
    statuses = {(s["year"], s["status"]) for p in programmes for s in p["year_statuses"]}
    assert all(status != "done" for year, status in statuses if year >= DEMO_YEAR)
    assert {st for _, st in statuses} == {"planned", "running", "done", "stalled"}

    indicators = api.get(f"{JBR}/masterplans/{current['id']}/indicators").json()
    assert any(i["programme_id"] is None for i in indicators)  # dimension-level indicators
    assert {i["direction"] for i in indicators} == {"higher", "lower"}
    realisations = [r for i in indicators for r in i["realisations"]]
    assert realisations and all(2023 <= r["year"] < DEMO_YEAR for r in realisations)
    assert all(r["evidence_url"].startswith("https://") and r["note"] for r in realisations)
    # realisations are entered by the lead office where the demo has its operator
    by_id = {p["id"]: p for p in programmes}
    dishub = [
        r
        for i in indicators
        if i["programme_id"] and by_id[i["programme_id"]]["lead_office"]["short_name"] == "Dishub"
        for r in i["realisations"]
    ]
    assert dishub and all(r["entered_by_label"] == "Operator Dishub Jember (demo)" for r in dishub)


def _check_accounts_log_in(make_client: Callable[[], Any]) -> None:
    for email, (role, region_code) in ACCOUNTS.items():
        me = make_client().login(email, PASSWORD).get("/api/v1/auth/me").json()
        assert (me["role"], me["region_code"]) == (role, region_code), email


# ---------------------------------------------------------------- citizen reports

WIB = ZoneInfo("Asia/Jakarta")
OPEN = {"submitted", "disposed", "in_progress", "responded"}
RAINY = {12, 1, 2, 3}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _check_report_categories(api: Any) -> None:
    listed = {c["code"]: c for c in api.get(f"{JBR}/report-categories").json()}
    assert len(listed) == 15
    assert all(c["office"] is not None and c["name_en"] and c["group"] for c in listed.values())
    assert listed["jalan-rusak"]["office"]["short_name"] == "DPU BMSDA"
    assert listed["adminduk"]["office"]["short_name"] == "Dispendukcapil"
    assert listed["pungli"]["is_private"] and listed["pungli"]["office"]["short_name"] == "Inspektorat"
    assert {a["code"] for c in listed.values() for a in c["attributes"]} == {"tingkat", "nomor_tiang"}
    routes = api.get(f"{JBR}/report-categories/ketertiban-umum/routes").json()
    assert [(r["area"]["name"], r["office"]["short_name"]) for r in routes] == [
        ("Kaliwates", "Kec. Kaliwates")
    ]


def _all_reports(api: Any) -> list[dict[str, Any]]:
    """Every report as the region admin lists them, oldest first, a page of 200 at a time."""
    out: list[dict[str, Any]] = []
    while True:
        page = api.get(
            f"{JBR}/reports", params={"scope": "admin", "sort": "oldest", "limit": 200, "offset": len(out)}
        )
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        out += items
        if len(items) < 200:
            return out


def _check_report_year(reports: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    numbers = [r["tracking_no"] for r in reports]
    assert len(set(numbers)) == len(numbers)
    submitted = [_at(r["submitted_at"]) for r in reports]
    assert min(submitted) >= now - timedelta(days=366) and max(submitted) <= now
    # every month of the last year, the current one included
    months = Counter((s.astimezone(WIB).year, s.astimezone(WIB).month) for s in submitted)
    local_now = now.astimezone(WIB)
    for back in range(12):
        year, month = divmod(local_now.year * 12 + local_now.month - 1 - back, 12)
        least = 100 if back else (1 if local_now.day > 1 else 0)  # the current month may have just begun
        assert months[(year, month + 1)] >= least, (year, month + 1)
    # fewer at weekends (per day), more floods in the rainy season (per month)
    days = Counter(s.astimezone(WIB).weekday() for s in submitted)
    assert (days[5] + days[6]) / 2 < 0.8 * sum(days[d] for d in range(5)) / 5
    floods = Counter(
        _at(r["submitted_at"]).astimezone(WIB).month in RAINY
        for r in reports
        if r["category"] == "banjir-drainase"
    )
    assert floods[True] / 4 > 2 * floods[False] / 8

    states = Counter(r["state"] for r in reports)
    assert set(states) == {"submitted", "disposed", "in_progress", "responded", "closed", "rejected"}
    assert 0.02 < states["rejected"] / len(reports) < 0.08
    assert {r["resolution"] for r in reports if r["state"] == "closed"} == {
        "resolved",
        "unresolved",
        "no_answer",
    }
    assert {r["reject_reason"] for r in reports if r["state"] == "rejected"} == {
        "duplicate",
        "not_authority",
        "spam",
    }
    assert all(r["duplicate_of"] for r in reports if r["reject_reason"] == "duplicate")
    privacy = Counter(r["privacy"] for r in reports)
    assert privacy["identified"] > privacy["anonymous"] > privacy["confidential"] > 0
    assert all(r["privacy"] == "confidential" for r in reports if r["category"] == "pungli")
    # a live queue: the last weeks are mostly open, some open reports are overdue, old ones mostly done
    recent = [r for r in reports if _at(r["submitted_at"]) > now - timedelta(days=7)]
    assert sum(r["state"] in OPEN for r in recent) > len(recent) / 2
    overdue = [r for r in reports if r["overdue"]]
    assert overdue and all(r["state"] in OPEN and _at(r["due_at"]) < now for r in overdue)
    old = [r for r in reports if _at(r["submitted_at"]) < now - timedelta(days=90)]
    assert sum(r["state"] in ("closed", "rejected") for r in old) > 0.9 * len(old)
    # points lie in the kecamatan the report names; Kaliwates's public-order reports go to its office
    assert all(r["area"] is not None for r in reports if r["lat"] is not None)
    assert sum(r["lat"] is None for r in reports) > 0  # some complaints are about a service, not a spot
    kaliwates = [
        r
        for r in reports
        if r["category"] == "ketertiban-umum" and (r["area"] or {}).get("name") == "Kaliwates"
    ]
    assert kaliwates and all(
        r["office"]["short_name"] == "Kec. Kaliwates" for r in kaliwates if r["office"] is not None
    )


def _check_report_lifecycles(api: Any, reports: list[dict[str, Any]]) -> None:
    """A sample of every state: each timeline starts with the filing, runs forward in time, each step
    starts where the previous one ended, and the last leaves the report as it is listed."""
    now = datetime.now(UTC)
    by_state: dict[str, list[dict[str, Any]]] = {}
    for r in reports:
        by_state.setdefault(r["state"], []).append(r)
    picked = [r for rows in by_state.values() for r in rows[:: max(1, len(rows) // 12)][:12]]
    kinds: Counter[str] = Counter()
    for report in picked:
        events = api.get(f"{JBR}/reports/{report['tracking_no']}/timeline").json()
        kinds.update(e["kind"] for e in events)
        moments = [_at(e["at"]) for e in events]
        assert moments == sorted(moments) and moments[-1] <= now, report["tracking_no"]
        assert events[0]["kind"] == "submitted" and moments[0] == _at(report["submitted_at"])
        state = "submitted"
        for event in events[1:]:
            assert event["from_state"] == state, (report["tracking_no"], events)
            state = event["to_state"]
        assert state == report["state"], report["tracking_no"]
        if report["state"] in OPEN:
            stage = {"submitted": "verify", "responded": "close"}.get(report["state"], "respond")
            assert report["due_at"] == report[f"{stage}_due_at"]
    assert {"disposed", "accepted", "responded", "closed", "escalated"} <= set(kinds)


def _check_office_figures(reports: list[dict[str, Any]]) -> None:
    """Offices differ: Dispendukcapil answers quickly, DPU BMSDA slowly and often late."""
    hours: dict[str, list[float]] = {}
    late: dict[str, list[bool]] = {}
    for r in reports:
        if r["first_response_at"] and r["verified_at"] and r["office"]:
            office = r["office"]["short_name"]
            answered = _at(r["first_response_at"])
            hours.setdefault(office, []).append((answered - _at(r["verified_at"])).total_seconds() / 3600)
            late.setdefault(office, []).append(answered > _at(r["respond_due_at"]))
    medians = {office: statistics.median(values) for office, values in hours.items() if len(values) >= 20}
    assert len(medians) >= 8 and len(set(medians.values())) == len(medians)
    assert medians["DPU BMSDA"] > 3 * medians["Dispendukcapil"]
    share_late = {office: sum(values) / len(values) for office, values in late.items()}
    assert share_late["DPU BMSDA"] > 0.3 > share_late["Dispendukcapil"]


def _check_report_scopes(make_client: Callable[[], Any], reports: list[dict[str, Any]]) -> None:
    dishub = [r for r in reports if r["office"] and r["office"]["short_name"] == "Dishub"]
    operator = make_client().login("operator.dishub@jember.go.id", PASSWORD)
    queue = operator.get(f"{JBR}/reports", params={"scope": "office", "limit": 1}).json()
    assert queue["total"] == len(dishub) > 0
    overdue = operator.get(f"{JBR}/reports", params={"scope": "office", "overdue": "true"}).json()
    assert overdue["total"] == sum(r["overdue"] for r in dishub)
    mine = make_client().login("warga@example.id", PASSWORD).get(f"{JBR}/reports", params={"scope": "mine"})
    assert mine.json()["total"] > 0
    public = make_client().get(f"{JBR}/reports", params={"limit": 1}).json()
    hidden = sum(r["privacy"] == "confidential" or r["reject_reason"] == "spam" for r in reports)
    assert public["total"] == len(reports) - hidden


def test_demo_files_keep_past_and_future_apart() -> None:
    """Realisations only for years already over, and nothing in the future marked done."""
    for region in loader.read_data("regions.json")["regions"]:
        for name in region["masterplans"]:
            plan = loader.read_data(name, exact=True)
            future_done = [
                p["code"]
                for p in plan["programmes"]
                for year, status in p["status"].items()
                if int(year) >= DEMO_YEAR and status not in ("planned", "running")
            ]
            assert future_done == [], name
            indicators = [*plan["indicators"], *(i for p in plan["programmes"] for i in p["indicators"])]
            realised_early = [
                i["code"] for i in indicators if any(int(y) >= DEMO_YEAR for y in i.get("realisations", {}))
            ]
            assert realised_early == [], name


# ---------------------------------------------------------------- the command


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Settings pointing at an empty data directory; the command's own environment change is undone."""
    monkeypatch.setenv("KOTACERDAS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KOTACERDAS_DATABASE_URL", raising=False)
    monkeypatch.setenv("KOTACERDAS_DEMO", "0")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


# the year of reports ends at the moment of loading, so their number may differ by one or two
# between two loads: they are counted apart from the tables that must come back the same
TABLES = ("region", "area", "office", "app_user", "programme", "indicator", "realisation", "report_category")


def _counts(db_file: Path, tables: tuple[str, ...] = TABLES) -> dict[str, int]:
    engine = make_engine(f"sqlite:///{db_file}")
    try:
        with engine.connect() as conn:
            return {
                table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
                for table in tables
            }
    finally:
        engine.dispose()


def test_demo_command_loads_once_and_prints_how_to_log_in(data_dir: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli_app, ["demo", "--no-serve"])
    assert first.exit_code == 0, first.output
    assert "http://127.0.0.1:8000" in first.output
    assert "admin@jember.go.id" in first.output and "warga@example.id" in first.output
    assert PASSWORD in first.output
    assert "laporan warga/citizen reports" in first.output and "layanan publik" in first.output
    loaded = _counts(data_dir / "kotacerdas.sqlite3")
    assert loaded["region"] == 3 and loaded["area"] > 31 and loaded["programme"] > 60
    assert loaded["report_category"] == 15
    assert 2000 < _counts(data_dir / "kotacerdas.sqlite3", ("report",))["report"] < 3200

    again = runner.invoke(cli_app, ["demo", "--no-serve"])
    assert again.exit_code == 0, again.output
    assert "already loaded" in again.output
    assert _counts(data_dir / "kotacerdas.sqlite3") == loaded
    assert get_settings().demo  # the pages will show the demo banner

    fresh = runner.invoke(cli_app, ["demo", "--no-serve", "--reset"])
    assert fresh.exit_code == 0, fresh.output
    assert "already loaded" not in fresh.output
    assert _counts(data_dir / "kotacerdas.sqlite3") == loaded


def test_demo_reset_refuses_a_non_sqlite_database_without_force(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOTACERDAS_DATABASE_URL", "postgresql+psycopg://kotacerdas@127.0.0.1:1/production")
    get_settings.cache_clear()
    result = CliRunner().invoke(cli_app, ["demo", "--no-serve", "--reset"])
    assert result.exit_code == 2
    assert "--force" in result.output
