"""An indicator whose realisations come from a data source (a citizen figure): choosing the source,
refreshing a year through the API, the page and the CLI, who may, and what the achievement shows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from kotacerdas.auth.access import ANONYMOUS, Principal
from kotacerdas.citizen import categories, reports
from kotacerdas.cli import app
from kotacerdas.config import get_settings
from kotacerdas.db import make_engine, make_session_factory, unit_of_work
from kotacerdas.masterplan import schemas as s, service
from kotacerdas.region import service as regions

JBR = "/api/v1/regions/35.09"
SHARE = "reports.answered_within_deadline_share"
AUTO_NOTE = "Dihitung otomatis dari laporan warga (kotacerdas)"
WIB = ZoneInfo("Asia/Jakarta")


def wib(month: int, day: int, hour: int) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=WIB).astimezone(UTC)


def file_reports(session: Session, region_id: int, office_id: int) -> None:
    """Three road reports of June 2025 to one office, disposed a day after filing (follow-up due Thu
    12 June: 6 and 9 June are Idul Adha and its joint leave): answered the next day, answered on
    20 June (late), never answered (late). Answered within the deadline: 1 of 3 = 33.33 %; the
    median time to the first response is that of 24 h and 408 h: 216 h = 9 days."""
    admin = Principal(kind="user", role="region_admin", region_id=region_id, label="Verifikator")
    office = Principal(kind="user", role="office_operator", region_id=region_id, office_id=office_id)
    road = categories.create_category(
        session, principal=admin, region_id=region_id, code="jalan", name="Jalan rusak", office_id=office_id
    )
    for hour, answered in ((9, wib(6, 4, 9)), (10, wib(6, 20, 10)), (11, None)):
        report = reports.file_report(
            session,
            principal=ANONYMOUS,
            region_id=region_id,
            category_id=road.id,
            title="Jalan berlubang",
            description="Lubang di jalan.",
            address="Jl. Gajah Mada, Jember",
            now=wib(6, 2, hour),
        ).report
        reports.dispose_report(session, principal=admin, report=report, now=wib(6, 3, hour))
        if answered is not None:
            reports.respond_report(session, principal=office, report=report, note="Ditangani.", now=answered)


@pytest.fixture
def june(db: Session, world: dict[str, Any]) -> None:
    file_reports(db, world["jember"].id, world["offices"]["dishub"].id)
    db.commit()


@pytest.fixture
def sourced(build: Any, june: None) -> dict[str, Any]:
    """A Smart Governance programme led by Dishub with an indicator fed by the share answered in time."""
    plan = build.masterplan(start=2024, end=2028)
    programme = build.programme(plan["id"], "GOV-01", office="dishub", start_year=2024, end_year=2028)
    indicator = build.indicator(
        plan["id"],
        "GOV-01-I1",
        programme_id=programme["id"],
        name="Laporan warga dijawab tepat waktu",
        data_source=SHARE,
        targets=[{"year": 2025, "value": 80}],
    )
    return {"plan": plan, "programme": programme, "indicator": indicator}


def refresh(client: Any, indicator_id: int, year: int | None = 2025) -> Any:
    params = {"year": year} if year is not None else {}
    return client.post(f"{JBR}/indicators/{indicator_id}/refresh-source", params=params)


def test_refresh_records_the_figure_as_the_years_realisation(
    admin: Any, sourced: dict[str, Any], audit_actions: Any
) -> None:
    ind = sourced["indicator"]
    assert ind["data_source"] == SHARE
    resp = refresh(admin, ind["id"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert Decimal(body["value"]) == Decimal("33.33")
    assert body["note"] == AUTO_NOTE and body["evidence"] is None and body["evidence_url"] is None
    assert body["entered_by_label"] == "Admin Jember"

    read = admin.get(f"{JBR}/indicators/{ind['id']}").json()
    year = next(a for a in read["achievements"] if a["year"] == 2025)
    assert Decimal(year["realisation"]) == Decimal("33.33")
    assert year["achievement"] == 41.66  # 33.33 / 80
    assert ("indicator.realisation", str(ind["id"]), "Admin Jember") in audit_actions()


def test_refresh_replaces_a_value_entered_by_hand_and_the_audit_log_keeps_it(
    admin: Any, sourced: dict[str, Any], db: Session, world: dict[str, Any]
) -> None:
    ind = sourced["indicator"]
    put = admin.put(
        f"{JBR}/indicators/{ind['id']}/realisations/2025", json={"value": 90, "note": "diisi tangan"}
    )
    assert put.status_code == 200, put.text
    assert Decimal(refresh(admin, ind["id"]).json()["value"]) == Decimal("33.33")
    realisations = admin.get(f"{JBR}/indicators/{ind['id']}").json()["realisations"]
    assert [(r["year"], Decimal(r["value"]), r["note"]) for r in realisations] == [
        (2025, Decimal("33.33"), AUTO_NOTE)
    ]
    audit = admin.get(f"{JBR}/audit", params={"limit": 50}).json()["items"]
    changes = [e["changes"]["value"] for e in audit if e["action"] == "indicator.realisation"]
    old, new = changes[0]  # the newest: from the value entered by hand to the figure
    assert (Decimal(old), Decimal(new)) == (Decimal(90), Decimal("33.33"))


def test_each_source_gives_its_own_figure(admin: Any, build: Any, june: None) -> None:
    plan = build.masterplan(start=2024, end=2028)
    expected = {
        "reports.median_days_to_first_response": Decimal("9"),
        "reports.count": Decimal("3"),
        "reports.verified_within_deadline_share": Decimal("100"),
    }
    for n, (key, value) in enumerate(expected.items()):
        ind = build.indicator(plan["id"], f"GOV-{n}", dimension="governance", unit="x", data_source=key)
        resp = refresh(admin, ind["id"])
        assert resp.status_code == 200, resp.text
        assert Decimal(resp.json()["value"]) == value, key


def test_who_may_refresh(as_user: Any, client: Any, sourced: dict[str, Any]) -> None:
    ind = sourced["indicator"]
    assert refresh(client, ind["id"]).status_code == 401
    assert refresh(as_user("citizen"), ind["id"]).status_code == 403
    assert refresh(as_user("dinkes"), ind["id"]).status_code == 403  # not the programme's lead office
    assert refresh(as_user("pbl_admin"), ind["id"]).status_code == 403
    resp = refresh(as_user("dishub"), ind["id"])  # the lead office may, as it may enter realisations
    assert resp.status_code == 200, resp.text
    assert resp.json()["entered_by_label"] == "Operator Dishub"


def test_what_cannot_be_refreshed(admin: Any, build: Any, sourced: dict[str, Any]) -> None:
    ind = sourced["indicator"]
    assert refresh(admin, ind["id"], 2030).status_code == 422  # outside the masterplan 2024-2028
    assert refresh(admin, ind["id"], 1999).status_code == 422
    no_figure = refresh(admin, ind["id"], 2024)  # no report was answered or overdue in 2024
    assert no_figure.status_code == 409, no_figure.text
    by_hand = build.indicator(sourced["plan"]["id"], "GOV-01-I2", dimension="governance")
    assert by_hand["data_source"] is None
    assert refresh(admin, by_hand["id"]).status_code == 409
    assert admin.get(f"{JBR}/indicators/{ind['id']}").json()["realisations"] == []


def test_the_data_source_must_be_a_known_one_and_can_be_cleared(admin: Any, sourced: dict[str, Any]) -> None:
    plan_id, ind = sourced["plan"]["id"], sourced["indicator"]
    bad = admin.post(
        f"{JBR}/masterplans/{plan_id}/indicators",
        json={
            "code": "X-1",
            "name": "Indikator x",
            "unit": "%",
            "dimension": "governance",
            "data_source": "x",
        },
    )
    assert bad.status_code == 422
    assert "data_source" in str(bad.json()["error"]["details"])
    changed = admin.patch(
        f"{JBR}/indicators/{ind['id']}", json={"data_source": "reports.median_days_to_close"}
    )
    assert changed.status_code == 200 and changed.json()["data_source"] == "reports.median_days_to_close"
    cleared = admin.patch(f"{JBR}/indicators/{ind['id']}", json={"data_source": None})
    assert cleared.status_code == 200 and cleared.json()["data_source"] is None


# ---------------------------------------------------------------- the pages


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def test_the_indicator_page_names_the_source_and_refreshes_it(
    as_user: Any, admin: Any, sourced: dict[str, Any]
) -> None:
    ind = sourced["indicator"]
    page = admin.get(f"/indicators/{ind['id']}")
    assert page.status_code == 200
    assert "Sumber data" in page.text and "Persentase laporan yang dijawab dalam tenggat (%)" in page.text
    assert 'action="/indicators/{}/refresh-source"'.format(ind["id"]) in page.text
    assert "Perbarui dari sumber data" in page.text
    # an office that may read but not enter sees the source, not the button
    other = as_user("dinkes").get(f"/indicators/{ind['id']}").text
    assert "Sumber data" in other and "refresh-source" not in other

    done = admin.post(
        f"/indicators/{ind['id']}/refresh-source",
        data={"csrf_token": csrf_of(page.text), "year": "2025"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/indicators/{ind['id']}?ok=refreshed&year=2025#history"
    shown = admin.get(done.headers["location"]).text
    assert AUTO_NOTE in shown and "33,33" in shown

    refused = admin.post(
        f"/indicators/{ind['id']}/refresh-source", data={"csrf_token": csrf_of(page.text), "year": "2024"}
    )
    assert refused.status_code == 409
    assert "Sumber data belum memiliki angka untuk 2024." in refused.text
    forbidden = as_user("dinkes").post(
        f"/indicators/{ind['id']}/refresh-source", data={"csrf_token": csrf_of(other), "year": "2025"}
    )
    assert forbidden.status_code == 403


def test_the_indicator_form_offers_the_sources(admin: Any, sourced: dict[str, Any]) -> None:
    ind = sourced["indicator"]
    form = admin.get(f"/indicators/{ind['id']}/edit").text
    assert f'<option value="{SHARE}" selected>' in form
    resp = admin.post(
        f"/indicators/{ind['id']}/edit",
        data={
            "csrf_token": csrf_of(form),
            "name": ind["name"],
            "unit": "%",
            "direction": "higher",
            "data_source": "reports.count",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    assert admin.get(f"{JBR}/indicators/{ind['id']}").json()["data_source"] == "reports.count"
    refused = admin.post(
        f"/indicators/{ind['id']}/edit",
        data={"csrf_token": csrf_of(form), "name": ind["name"], "unit": "%", "data_source": "nope"},
    )
    assert refused.status_code == 422
    assert re.search(r'has-error">\s*<label for="f-data_source"', refused.text)


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A SQLite database of its own with Jember, Dishub, the June reports and a sourced indicator."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("KOTACERDAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KOTACERDAS_DATABASE_URL", url)
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    created = runner.invoke(
        app, ["region", "create", "35.09", "Kabupaten Jember", "--province", "Jawa Timur"]
    )
    assert created.exit_code == 0, created.output
    engine = make_engine(url)
    with unit_of_work(make_session_factory(engine)) as session:
        region_id = regions.get_region_by_code(session, "35.09").id
        dishub = regions.create_office(
            session, region_id=region_id, name="Dinas Perhubungan", short_name="Dishub"
        )
        file_reports(session, region_id, dishub.id)
        admin = Principal(kind="user", role="region_admin", region_id=region_id, label="test")
        plan = service.create_masterplan(
            session,
            principal=admin,
            region_id=region_id,
            data=s.MasterplanCreate(title="Masterplan", start_year=2024, end_year=2028),
        )
        for code, source in (("GOV-1", SHARE), ("GOV-2", "reports.count"), ("GOV-3", None)):
            service.create_indicator(
                session,
                principal=admin,
                region_id=region_id,
                masterplan_id=plan.id,
                data=s.IndicatorCreate(
                    code=code, name=f"Indikator {code}", unit="%", dimension="governance", data_source=source
                ),
            )
    engine.dispose()
    yield url
    get_settings.cache_clear()


def realisations_of(url: str) -> dict[str, list[tuple[int, Decimal, str]]]:
    engine = make_engine(url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            region_id = regions.get_region_by_code(session, "35.09").id
            who = Principal(kind="user", role="region_admin", region_id=region_id, label="test")
            plan = service.list_masterplans(session, principal=who, region_id=region_id)[0]
            return {
                i.code: [(r.year, r.value, r.entered_by_label) for r in i.realisations]
                for i in service.list_indicators(
                    session, principal=who, region_id=region_id, masterplan_id=plan.id
                )
            }
    finally:
        engine.dispose()


def test_the_cli_refreshes_every_sourced_indicator(cli_database: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["masterplan", "refresh-sources", "--region", "35.09", "--year", "2025"])
    assert result.exit_code == 0, result.output
    assert "2 indikator" in result.output
    assert realisations_of(cli_database) == {
        "GOV-1": [(2025, Decimal("33.33"), "CLI")],
        "GOV-2": [(2025, Decimal("3"), "CLI")],
        "GOV-3": [],  # entered by hand: left alone
    }
    # 2024 had no report: the share has no figure and is skipped, the count (0) is written
    result = runner.invoke(app, ["masterplan", "refresh-sources", "--year", "2024"])
    assert result.exit_code == 0, result.output
    assert "GOV-1" in result.output and "1 dilewati" in result.output
    assert realisations_of(cli_database)["GOV-2"] == [
        (2024, Decimal("0"), "CLI"),
        (2025, Decimal("3"), "CLI"),
    ]
