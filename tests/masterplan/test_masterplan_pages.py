"""The masterplan's HTML pages, through the app as a browser would use them (forms, redirects, cookies).

Each user logs in through the /login form. The masterplan of Jember is built through the service,
as the region admin would through the API; the pages are then read and posted by every role.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.config import Settings
from kotacerdas.masterplan import schemas as s, service
from kotacerdas.masterplan.models import Evidence, Indicator, Programme, Realisation

SVG = "{http://www.w3.org/2000/svg}"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
UPLOAD_LIMIT = 20 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A small upload limit, so an oversized file is cheap to send (the request limit is 64 KB above it)."""
    settings.upload_max_bytes = UPLOAD_LIMIT
    return settings


def login(client: Any, email: str, password: str) -> Any:
    page = client.get("/login")
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    resp = client.post(
        "/login",
        data={"email": email, "password": password, "next": "/", "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def jember(db: Session, world: dict[str, Any]) -> dict[str, Any]:
    """Jember's masterplan 2024-2028: three programmes of three offices, their indicators and realisations."""
    admin = auth.principal_for_user(world["users"]["admin"])
    region_id = world["jember"].id
    offices = world["offices"]
    plan = service.create_masterplan(
        db,
        principal=admin,
        region_id=region_id,
        data=s.MasterplanCreate(
            title="Masterplan Smart City Jember",
            start_year=2024,
            end_year=2028,
            legal_basis_number="Perbup Jember No. 12 Tahun 2024",
            vision="Jember yang cerdas, terhubung dan melayani.",
            missions=["Layanan publik digital terpadu", "Transportasi yang tertib"],
            status="approved",
        ),
    )
    for kind, body in (("swot_strengths", "Jaringan fiber di 31 kecamatan"), ("strategy", "Satu data dulu")):
        service.set_section(
            db, principal=admin, region_id=region_id, masterplan_id=plan.id, kind=kind, body=body
        )

    def programme(code: str, name: str, dim: str, el: str, office: str, quick_win: bool = False) -> Programme:
        return service.create_programme(
            db,
            principal=admin,
            region_id=region_id,
            masterplan_id=plan.id,
            data=s.ProgrammeCreate(
                code=code,
                name=name,
                dimension=dim,
                element=el,
                lead_office_id=offices[office].id,
                kind="application",
                term="short",
                start_year=2024,
                end_year=2026,
                is_quick_win=quick_win,
                quick_win={"innovation": "Satu portal untuk semua OPD"} if quick_win else {},
                budgets=[
                    s.BudgetLine(year=2024, source="APBD", amount=Decimal("1500000000")),
                    s.BudgetLine(year=2025, source="CSR", amount=Decimal("250000000")),
                ],
                year_statuses=[s.YearStatusWrite(year=2024, status="done")],
            ),
        )

    satu_data = programme("GOV-01", "Jember Satu Data", "governance", "service", "kominfo", quick_win=True)
    angkutan = programme("LIV-01", "Angkutan Pintar Jember", "living", "mobility", "dishub")

    def indicator(code: str, name: str, unit: str, programme_id: int | None, **extra: Any) -> Indicator:
        return service.create_indicator(
            db,
            principal=admin,
            region_id=region_id,
            masterplan_id=plan.id,
            data=s.IndicatorCreate(
                code=code,
                name=name,
                unit=unit,
                programme_id=programme_id,
                targets=[
                    s.TargetWrite(year=y, value=Decimal(v)) for y, v in ((2024, 40), (2025, 60), (2026, 80))
                ],
                **extra,
            ),
        )

    opd = indicator("GOV-01-I1", "OPD terhubung Satu Data", "%", satu_data.id)
    halte = indicator("LIV-01-I1", "Halte dengan info kedatangan", "halte", angkutan.id)
    indicator("ENV-I1", "Sampah terolah", "%", None, dimension="environment")
    for ind, value in ((opd, "30"), (halte, "20")):
        service.record_realisation(
            db,
            principal=admin,
            region_id=region_id,
            indicator_id=ind.id,
            data=s.RealisationWrite(year=2024, value=Decimal(value), note="laporan triwulan IV"),
        )
    db.commit()
    return {"plan": plan, "satu_data": satu_data, "angkutan": angkutan, "opd": opd, "halte": halte}


def realisation(db: Session, indicator_id: int, year: int) -> Realisation | None:
    db.expire_all()
    return db.scalar(
        select(Realisation).where(Realisation.indicator_id == indicator_id, Realisation.year == year)
    )


def count(db: Session, model: Any) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def radar_of(html: str) -> ET.Element:
    found = re.search(r'<svg[^>]*class="radar".*?</svg>', html, re.S)
    assert found, "no radar chart on the page"
    return ET.fromstring(found.group(0))  # noqa: S314 - our own page, not untrusted input


# ---------------------------------------------------------------- what the region admin sees


def test_overview_shows_the_plan_the_summary_and_a_radar_of_six_dimensions(client, world, jember):
    login(client, "admin@jember.go.id", world["password"])
    plan = jember["plan"]
    page = client.get(f"/masterplans/{plan.id}?year=2024")
    assert page.status_code == 200
    html = page.text
    assert "Masterplan Smart City Jember" in html and "Perbup Jember No. 12 Tahun 2024" in html
    assert "Layanan publik digital terpadu" in html and "Jaringan fiber di 31 kecamatan" in html
    assert "Tata Kelola Pemerintahan Cerdas" in html  # Indonesian by default
    assert "Rp 1.750.000.000" in html  # GOV-01's budget in the summary table
    for link in ("/roadmap", "/quick-wins", "/print", "/export.xlsx"):
        assert f'href="/masterplans/{plan.id}{link}"' in html
    radar = radar_of(html)
    assert len(radar.findall(f".//{SVG}circle[@class='vertex']")) == 6
    series = radar.find(f".//{SVG}polygon[@class='series']")
    assert series is not None and len(series.get("points", "").split()) == 6
    labels = [" ".join(t.itertext()) for t in radar.findall(f".//{SVG}text[@class='axis-label']")]
    assert len(labels) == 6 and labels[0].startswith("Tata Kelola Pemerintahan Cerdas")
    # 2024: governance 30/40 = 75 %, living 20/40 = 50 %; the others have no realisation
    assert "75,0%" in labels[0] and any("50,0%" in label for label in labels)
    assert sum("tidak ada data" in label or "no data" in label for label in labels) == 4

    english = client.get(f"/masterplans/{plan.id}?lang=en").text
    assert "Smart Governance" in english and "Tata Kelola Pemerintahan Cerdas" not in english


def test_list_roadmap_and_quick_wins_pages(client, world, jember):
    login(client, "admin@jember.go.id", world["password"])
    plan = jember["plan"]
    listing = client.get("/masterplans").text
    assert "Masterplan Smart City Jember" in listing and 'href="/masterplans/new"' in listing
    assert 'href="/masterplans/import"' in listing

    roadmap = client.get(f"/masterplans/{plan.id}/roadmap").text
    assert "Jember Satu Data" in roadmap and "Angkutan Pintar Jember" in roadmap
    assert 'class="year on done"' in roadmap  # 2024 reported as done
    living_only = client.get(f"/masterplans/{plan.id}/roadmap?dimension=living").text
    assert "Angkutan Pintar Jember" in living_only and "Jember Satu Data" not in living_only
    dishub_only = client.get(f"/masterplans/{plan.id}/roadmap?office={world['offices']['dishub'].id}").text
    assert "Angkutan Pintar Jember" in dishub_only and "Jember Satu Data" not in dishub_only

    wins = client.get(f"/masterplans/{plan.id}/quick-wins?lang=en").text
    assert "Jember Satu Data" in wins and "Angkutan Pintar Jember" not in wins
    assert "Satu portal untuk semua OPD" in wins and "Partnership opportunity" in wins


def test_programme_and_indicator_pages_show_budget_status_history_and_audit(client, world, jember):
    login(client, "admin@jember.go.id", world["password"])
    programme = client.get(f"/programmes/{jember['satu_data'].id}?lang=en").text
    assert "Jember Satu Data" in programme and "Application" in programme and "Short term" in programme
    assert "Rp 1.500.000.000" in programme and "Rp 1.750.000.000" in programme  # a cell and the total
    assert "OPD terhubung Satu Data" in programme and "75,0%" in programme
    assert 'id="audit"' in programme and "programme.create" in programme  # the admin reads the history
    assert f'action="/programmes/{jember["satu_data"].id}/status"' in programme

    indicator = client.get(f"/indicators/{jember['opd'].id}").text
    assert "laporan triwulan IV" in indicator and 'enctype="multipart/form-data"' in indicator
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="line"' in indicator


# ---------------------------------------------------------------- the office operator


def test_operator_may_enter_realisations_of_its_own_office_only(client, db, world, jember):
    login(client, "dishub@jember.go.id", world["password"])
    own = client.get(f"/indicators/{jember['halte'].id}")
    assert own.status_code == 200 and f'action="/indicators/{jember["halte"].id}/realisation"' in own.text
    other = client.get(f"/indicators/{jember['opd'].id}")
    assert other.status_code == 200 and "/realisation" not in other.text and 'id="audit"' not in other.text
    assert "/status" not in client.get(f"/programmes/{jember['satu_data'].id}").text

    refused = client.post(
        f"/indicators/{jember['opd'].id}/realisation",
        data={"csrf_token": csrf_of(own.text), "year": "2025", "value": "99"},
    )
    assert refused.status_code == 403
    assert realisation(db, jember["opd"].id, 2025) is None

    saved = client.post(
        f"/indicators/{jember['halte'].id}/realisation",
        data={"csrf_token": csrf_of(own.text), "year": "2025", "value": "45", "note": "data Dishub"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get(saved.headers["location"]).text
    assert "Realisasi berhasil disimpan." in page
    row = realisation(db, jember["halte"].id, 2025)
    assert row is not None and row.value == Decimal("45") and row.entered_by_label == "Operator Dishub"

    mine = client.get(f"/masterplans/{jember['plan'].id}/roadmap?mine=1").text
    assert "Angkutan Pintar Jember" in mine and "Jember Satu Data" not in mine


def test_operator_reports_the_status_of_its_programme(client, db, world, jember):
    login(client, "dishub@jember.go.id", world["password"])
    page = client.get(f"/programmes/{jember['angkutan'].id}").text
    resp = client.post(
        f"/programmes/{jember['angkutan'].id}/status",
        data={"csrf_token": csrf_of(page), "year": "2025", "status": "stalled", "note": "anggaran dipotong"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    db.expire_all()
    statuses = {y.year: y.status for y in db.get(Programme, jember["angkutan"].id).year_statuses}
    assert statuses == {2024: "done", 2025: "stalled"}
    outside = client.post(
        f"/programmes/{jember['angkutan'].id}/status",
        data={"csrf_token": csrf_of(page), "year": "2028", "status": "done"},
    )
    assert outside.status_code == 422 and "2028" in outside.text


# ---------------------------------------------------------------- other regions and the evaluator


def test_admin_of_another_region_sees_nothing_of_jember(client, db, world, jember):
    login(client, "admin@probolinggokota.go.id", world["password"])
    plan = jember["plan"]
    evidence = service.store_evidence(
        db,
        principal=auth.principal_for_user(world["users"]["admin"]),
        region_id=world["jember"].id,
        store=_store(client),
        filename="bukti.pdf",
        data=PDF,
        max_bytes=UPLOAD_LIMIT,
    )
    db.commit()
    urls = [
        f"/masterplans/{plan.id}",
        f"/masterplans/{plan.id}/roadmap",
        f"/masterplans/{plan.id}/quick-wins",
        f"/masterplans/{plan.id}/edit",
        f"/programmes/{jember['satu_data'].id}",
        f"/programmes/{jember['satu_data'].id}/edit",
        f"/indicators/{jember['opd'].id}",
        f"/evidence/{evidence.id}",
        "/regions/35.09/masterplans",
        f"/regions/35.09/masterplans/{plan.id}",
        f"/regions/35.09/evidence/{evidence.id}",
    ]
    for url in urls:
        resp = client.get(url)
        assert resp.status_code in (403, 404), url
        assert "Jember" not in resp.text and "%PDF" not in resp.text, url
    assert "Jember" not in client.get("/masterplans").text
    token = csrf_of(client.get("/masterplans").text)
    resp = client.post(
        f"/indicators/{jember['opd'].id}/realisation",
        data={"csrf_token": token, "year": "2025", "value": "1"},
    )
    assert resp.status_code in (403, 404) and realisation(db, jember["opd"].id, 2025) is None


def test_evaluator_reads_under_the_region_url_without_forms_and_cannot_post(client, db, world, jember):
    login(client, "evaluator@kominfo.go.id", world["password"])
    plan = jember["plan"]
    first = client.get("/masterplans", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/regions"

    overview = client.get(f"/regions/35.09/masterplans/{plan.id}")
    assert overview.status_code == 200 and "Masterplan Smart City Jember" in overview.text
    assert f'href="/regions/35.09/masterplans/{plan.id}/roadmap"' in overview.text
    assert "/edit" not in overview.text and "/programmes/new" not in overview.text
    for url in (
        f"/regions/35.09/programmes/{jember['satu_data'].id}",
        f"/regions/35.09/indicators/{jember['opd'].id}",
    ):
        page = client.get(url)
        assert page.status_code == 200 and 'method="post"' not in page.text.replace(
            'method="post" action="/logout"', ""
        )
        assert 'id="audit"' in page.text  # national evaluators read the audit history
    roadmap = client.get(f"/regions/35.09/masterplans/{plan.id}/roadmap")
    assert roadmap.status_code == 200 and "Angkutan Pintar Jember" in roadmap.text
    assert client.get(f"/regions/35.09/masterplans/{plan.id}/edit").status_code == 403

    token = csrf_of(overview.text)
    posts = [
        (f"/regions/35.09/indicators/{jember['opd'].id}/realisation", {"year": "2025", "value": "5"}),
        (f"/regions/35.09/programmes/{jember['satu_data'].id}/status", {"year": "2025", "status": "stalled"}),
        (f"/regions/35.09/masterplans/{plan.id}/programmes/new", {"code": "X-1", "name": "Program baru"}),
        (f"/regions/35.09/masterplans/{plan.id}/delete", {}),
    ]
    before = count(db, Programme)
    for url, data in posts:
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 403, url
    assert count(db, Programme) == before and realisation(db, jember["opd"].id, 2025) is None


# ---------------------------------------------------------------- forms that must not pass


def test_a_form_post_without_its_csrf_token_is_refused(client, db, world, jember):
    login(client, "admin@jember.go.id", world["password"])
    resp = client.post(
        f"/programmes/{jember['satu_data'].id}/status", data={"year": "2025", "status": "stalled"}
    )
    assert resp.status_code == 403
    resp = client.post(
        f"/indicators/{jember['opd'].id}/realisation",
        data={"year": "2025", "value": "70", "csrf_token": "forged"},
    )
    assert resp.status_code == 403
    db.expire_all()
    assert [y.year for y in db.get(Programme, jember["satu_data"].id).year_statuses] == [2024]
    assert realisation(db, jember["opd"].id, 2025) is None


@pytest.mark.parametrize(
    ("filename", "content", "status", "message"),
    [
        ("laporan.pdf", PDF + b"0" * UPLOAD_LIMIT, 413, "20 KB"),
        ("laporan.pdf", b"MZ\x90\x00 not a pdf at all", 415, ".pdf"),
        ("laporan.exe", PDF, 415, ".exe"),
        ("huge.pdf", PDF + b"0" * (UPLOAD_LIMIT + 80 * 1024), 413, "20 KB"),
    ],
)
def test_a_refused_evidence_file_keeps_the_stored_realisation(
    client, db, world, jember, filename, content, status, message
):
    login(client, "admin@jember.go.id", world["password"])
    indicator_id = jember["opd"].id
    page = client.get(f"/indicators/{indicator_id}").text
    evidence_before = count(db, Evidence)
    resp = client.post(
        f"/indicators/{indicator_id}/realisation",
        data={"csrf_token": csrf_of(page), "year": "2024", "value": "35", "note": "koreksi"},
        files={"evidence_file": (filename, content, "application/pdf")},
    )
    assert resp.status_code == status
    assert message in resp.text
    row = realisation(db, indicator_id, 2024)
    assert row is not None and row.value == Decimal("30") and row.note == "laporan triwulan IV"
    assert count(db, Evidence) == evidence_before


def test_evidence_upload_is_stored_and_downloaded_as_an_attachment(client, db, world, jember):
    login(client, "admin@jember.go.id", world["password"])
    indicator_id = jember["opd"].id
    page = client.get(f"/indicators/{indicator_id}").text
    resp = client.post(
        f"/indicators/{indicator_id}/realisation",
        data={
            "csrf_token": csrf_of(page),
            "year": "2024",
            "value": "38",
            "evidence_url": "https://jemberkab.go.id/data",
        },
        files={"evidence_file": ("Laporan Satu Data.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    row = realisation(db, indicator_id, 2024)
    assert row is not None and row.value == Decimal("38") and row.evidence_id is not None
    html = client.get(resp.headers["location"]).text
    assert f'href="/evidence/{row.evidence_id}"' in html and "95,0%" in html  # 38 of 40
    download = client.get(f"/evidence/{row.evidence_id}")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert "Laporan%20Satu%20Data.pdf" in download.headers["content-disposition"]

    # a correction without a new file keeps the file when asked to
    page = client.get(f"/indicators/{indicator_id}?year=2024").text
    assert 'name="keep_evidence"' in page
    client.post(
        f"/indicators/{indicator_id}/realisation",
        data={"csrf_token": csrf_of(page), "year": "2024", "value": "39", "keep_evidence": "1"},
    )
    kept = realisation(db, indicator_id, 2024)
    assert kept is not None and kept.value == Decimal("39") and kept.evidence_id == row.evidence_id


def _store(client: Any) -> Any:
    from kotacerdas.kit.files import DirectoryStore

    return DirectoryStore(client.app.state.settings.upload_dir)


def _programme_form(masterplan_id: int, token: str, **fields: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "code": "ENV-01",
        "name": "Bank Sampah Digital",
        "placement": "environment/waste",
        "kind": "application",
        "term": "medium",
        "start_year": "2025",
        "end_year": "2027",
        "budget-2025-APBD": "750000000",
        "budget-2026-CSR": "1.250.000,50",
        "status-2025": "running",
        "note-2025": "uji coba di 3 kecamatan",
        "is_quick_win": "1",
        "qw-benefit": "Warga menukar sampah dengan saldo",
    }
    return form | fields


def test_invalid_programme_forms_show_field_messages_and_store_nothing(client, db, world, jember):
    login(client, "admin@jember.go.id", world["password"])
    plan = jember["plan"]
    url = f"/masterplans/{plan.id}/programmes/new"
    token = csrf_of(client.get(url).text)
    before = count(db, Programme)

    unknown = client.post(url, data=_programme_form(plan.id, token, placement="environment/teleport"))
    assert unknown.status_code == 422
    assert re.search(r'has-error">\s*<label for="f-placement"', unknown.text)
    assert "teleport" in unknown.text  # the message names the element
    assert 'value="Bank Sampah Digital"' in unknown.text  # what was typed stays

    backwards = client.post(url, data=_programme_form(plan.id, token, start_year="2027", end_year="2025"))
    assert backwards.status_code == 422
    assert re.search(r'has-error">\s*<label for="f-end_year"', backwards.text)

    bad_amount = client.post(url, data=_programme_form(plan.id, token, **{"budget-2025-APBD": "banyak"}))
    assert bad_amount.status_code == 422 and "1500000" in bad_amount.text

    taken = client.post(url, data=_programme_form(plan.id, token, code="GOV-01"))
    assert taken.status_code == 409 and re.search(r'has-error">\s*<label for="f-code"', taken.text)
    assert count(db, Programme) == before


def test_admin_creates_edits_and_deletes_through_the_forms(client, db, world, jember):
    login(client, "admin@jember.go.id", world["password"])
    plan = jember["plan"]
    token = csrf_of(client.get(f"/masterplans/{plan.id}/programmes/new").text)
    created = client.post(
        f"/masterplans/{plan.id}/programmes/new", data=_programme_form(plan.id, token), follow_redirects=False
    )
    assert created.status_code == 303, created.text
    programme_id = int(created.headers["location"].split("/")[2].split("?")[0])
    db.expire_all()
    programme = db.get(Programme, programme_id)
    assert programme is not None and programme.dimension == "environment" and programme.is_quick_win
    assert {(b.year, b.source, b.amount) for b in programme.budgets} == {
        (2025, "APBD", Decimal("750000000.00")),
        (2026, "CSR", Decimal("1250000.50")),
    }
    edit = client.get(f"/programmes/{programme_id}/edit").text
    assert 'value="environment/waste" selected' in edit and 'name="budget-2026-CSR" value="1250000.5"' in edit
    form = _programme_form(plan.id, token, name="Bank Sampah Digital Jember", end_year="2028")
    assert (
        client.post(f"/programmes/{programme_id}/edit", data=form, follow_redirects=False).status_code == 303
    )

    indicator = client.post(
        f"/masterplans/{plan.id}/indicators/new",
        data={
            "csrf_token": token,
            "code": "ENV-01-I1",
            "name": "Nasabah bank sampah",
            "unit": "orang",
            "direction": "higher",
            "programme_id": str(programme_id),
            "target-2025": "500",
            "target-2026": "1500",
        },
        follow_redirects=False,
    )
    assert indicator.status_code == 303, indicator.text
    db.expire_all()
    programme = db.get(Programme, programme_id)
    assert (
        programme is not None
        and programme.name == "Bank Sampah Digital Jember"
        and programme.end_year == 2028
    )
    row = db.scalar(select(Indicator).where(Indicator.code == "ENV-01-I1"))
    assert row is not None and [(t.year, t.value) for t in row.targets] == [(2025, 500), (2026, 1500)]

    confirm = client.get(f"/programmes/{programme_id}/delete")
    assert confirm.status_code == 200 and "Bank Sampah Digital Jember" in confirm.text
    gone = client.post(
        f"/programmes/{programme_id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert gone.status_code == 303
    db.expire_all()
    assert db.get(Programme, programme_id) is None

    approved = client.post(f"/masterplans/{plan.id}/delete", data={"csrf_token": token})
    assert approved.status_code == 409  # an approved masterplan is set back to draft first


def test_masterplan_form_creates_a_plan_with_missions_and_sections(client, db, world, jember):
    login(client, "admin@jember.go.id", world["password"])
    token = csrf_of(client.get("/masterplans/new").text)
    short = client.post(
        "/masterplans/new",
        data={
            "csrf_token": token,
            "title": "Masterplan 2029",
            "start_year": "2029",
            "end_year": "2030",
            "status": "draft",
        },
    )
    assert short.status_code == 422 and re.search(r'has-error">\s*<label for="f-end_year"', short.text)
    resp = client.post(
        "/masterplans/new",
        data={
            "csrf_token": token,
            "title": "Masterplan Smart City Jember 2029-2033",
            "start_year": "2029",
            "end_year": "2033",
            "status": "draft",
            "framework_edition": "gmsc-2024",
            "missions": "Satu\n\n  Dua  \n",
            "section-gap_analysis": "SDM TIK masih kurang",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    html = client.get(resp.headers["location"]).text
    assert "<li>Satu</li>" in html and "<li>Dua</li>" in html and "SDM TIK masih kurang" in html


def test_edit_forms_show_the_stored_values_and_save_changes(client, db, world, jember):
    login(client, "admin@jember.go.id", world["password"])
    plan = jember["plan"]
    page = client.get(f"/masterplans/{plan.id}/edit").text
    assert 'value="Perbup Jember No. 12 Tahun 2024"' in page and "Transportasi yang tertib" in page
    assert "Jaringan fiber di 31 kecamatan</textarea>" in page
    resp = client.post(
        f"/masterplans/{plan.id}/edit",
        data={
            "csrf_token": csrf_of(page),
            "title": "Masterplan Smart City Jember (revisi)",
            "start_year": "2024",
            "end_year": "2028",
            "status": "draft",
            "legal_basis_number": "",
            "missions": "Satu misi saja",
            "section-swot_strengths": "Jaringan fiber di 31 kecamatan",
            "section-swot_threats": "Cuaca ekstrem",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303
    db.expire_all()
    stored = service.get_masterplan(
        db,
        principal=auth.principal_for_user(world["users"]["admin"]),
        region_id=world["jember"].id,
        masterplan_id=plan.id,
    )
    assert (
        stored.title.endswith("(revisi)")
        and stored.legal_basis_number is None
        and stored.missions == ["Satu misi saja"]
    )
    assert {sec.kind: sec.body for sec in stored.sections}["swot_threats"] == "Cuaca ekstrem"

    form = client.get(f"/indicators/{jember['halte'].id}/edit").text
    assert 'name="target-2026" value="80"' in form and "LIV-01-I1" in form
    resp = client.post(
        f"/indicators/{jember['halte'].id}/edit",
        data={
            "csrf_token": csrf_of(form),
            "name": "Halte pintar",
            "unit": "halte",
            "direction": "higher",
            "target-2025": "55",
            "target-2029": "1",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303  # 2029 lies outside the period: the form has no field for it
    db.expire_all()
    indicator = db.get(Indicator, jember["halte"].id)
    assert indicator is not None and indicator.name == "Halte pintar"
    assert [(t.year, t.value) for t in indicator.targets] == [(2025, Decimal("55"))]
    refused = client.post(
        f"/indicators/{jember['halte'].id}/edit",
        data={"csrf_token": csrf_of(form), "name": "Ha", "unit": "", "direction": "sideways"},
    )
    assert refused.status_code == 422
    for field in ("name", "unit", "direction"):
        assert re.search(rf'has-error">\s*<label for="f-{field}"', refused.text), field
