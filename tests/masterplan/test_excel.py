"""Masterplan workbooks through the API and the pages: the template, import (all or nothing, with every
problem located by sheet, row and column), upsert by code, export and the round trip, the upload checks,
who may do it, and the printable page."""

from __future__ import annotations

import io
import os
import re
import zipfile
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from sqlalchemy.orm import Session

from kotacerdas.region import service as regions

JBR = "/api/v1/regions/35.09"
PBL = "/api/v1/regions/35.74"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

PLAN = {
    "judul": "Masterplan Smart City Jember 2024-2028",
    "tahun_mulai": 2024,
    "tahun_selesai": "2028",
    "dasar_hukum_nomor": "Perbup Nomor 12 Tahun 2024",
    "dasar_hukum_tanggal": "15-03-2024",
    "visi": "Jember cerdas, melayani dan sejahtera",
    "misi": "Layanan publik digital\nEkonomi kreatif",
    "status": "disahkan",
}
# kode nama deskripsi dimensi elemen opd pic mitra jenis jangka tahun_mulai tahun_selesai quick_win rpjmd
PROGRAMMES = [
    [" GOV-01 ", "Mal Pelayanan Publik Digital", "Perizinan dalam satu aplikasi", "governance", "service",
     "Diskominfo", "Kabid Aptika", "Universitas Jember; Bank Jatim", "aplikasi", "menengah", 2024, 2026,
     "ya", "Program SPBE"],
    ["LIV-01", "Parkir Cerdas Alun-alun", "", "living", "mobility", " dishub ", "", "", "infrastruktur",
     "panjang", "2025", 2028, "tidak", ""],
    [None] * 14,  # an empty row in between is ignored
    ["SOC-01", "Posyandu Digital", "", "Masyarakat Cerdas", "community", "Dinkes", "", "", "sdm_tik",
     "pendek", 2024, 2024, None, None],
]  # fmt: skip
BUDGETS = [
    ["GOV-01", 2024, "APBD", "1.250.000.000"],
    ["GOV-01", 2025, "APBD", 1500000000],
    ["GOV-01", 2025, "swasta", "Rp 250.000.000,50"],
    ["LIV-01", 2025, "KPBU", "2.000.000.000"],
]
STATUSES = [["GOV-01", 2024, "selesai", "Diluncurkan"], ["GOV-01", 2025, "berjalan", None]]
# kode kode_program dimensi elemen nama satuan arah tahun_baseline nilai_baseline target_2024..2028 realisasi_2024..2028
INDICATORS = [
    ["GOV-01.1", "GOV-01", None, None, "Layanan perizinan daring", "%", "naik", 2023, "12,5",
     20, 35, "50", None, None, "18,75", 30, None, None, None],
    ["LIV-D1", None, "living", "mobility", "Waktu tempuh rata-rata", "menit", "turun", 2023, 45,
     44, 42, 40, 38, 35, 44.5, None, None, None, None],
]  # fmt: skip
QUICK_WINS = [["GOV-01", "Satu aplikasi untuk semua izin", "Warga tidak perlu datang", "Izin terbit sehari"]]
# bagian isi: the Indonesian word in any case, or the stored code
ANALYSIS = [
    ["kesiapan_struktur", "Tim Pelaksana Smart City ditetapkan dengan SK Bupati.\n\nDewan Smart City melibatkan kampus."],
    ["Kekuatan", "Jaringan fiber optik menjangkau 31 kecamatan"],
    ["swot_threats", "Serangan siber"],
    ["analisis kesenjangan", None],
]  # fmt: skip
SECTIONS = {
    "readiness_struktur": "Tim Pelaksana Smart City ditetapkan dengan SK Bupati.\n\nDewan Smart City melibatkan kampus.",
    "swot_strengths": "Jaringan fiber optik menjangkau 31 kecamatan",
    "swot_threats": "Serangan siber",
    "gap_analysis": "",
}
# kode_indikator tahun catatan url_data_dukung
SUPPORT = [
    ["GOV-01.1", 2024, "Data dari aplikasi perizinan\nper 31 Desember", "https://data.jemberkab.go.id/perizinan-2024"],
    ["GOV-01.1", "2025", None, "http://dpmptsp.jemberkab.go.id/laporan?tahun=2025"],
    ["LIV-D1", 2024, "Survei Dishub", None],
]  # fmt: skip


def fill(
    template: bytes, *, plan: dict[str, Any] | None = None, drop: tuple[str, ...] = (), **rows: Any
) -> bytes:
    """The template with the Masterplan keys set and rows appended to the named sheets."""
    wb = openpyxl.load_workbook(io.BytesIO(template))
    for row in wb["Masterplan"].iter_rows(min_row=2):
        if plan and row[0].value in plan:
            row[1].value = plan[row[0].value]
    for sheet, values in rows.items():
        for line in values:
            wb[sheet].append(line)
    for sheet in drop:
        del wb[sheet]
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def valid_workbook(template: bytes) -> bytes:
    return fill(
        template,
        plan=PLAN,
        Program=PROGRAMMES,
        Anggaran=BUDGETS,
        Status=STATUSES,
        Indikator=INDICATORS,
        QuickWin=QUICK_WINS,
        Analisis=ANALYSIS,
        DataDukung=SUPPORT,
    )


def upload(
    client: Any,
    data: bytes,
    *,
    region: str = JBR,
    masterplan_id: int | None = None,
    name: str = "rencana.xlsx",
) -> Any:
    form = {"masterplan_id": str(masterplan_id)} if masterplan_id else {}
    return client.post(f"{region}/masterplans/import", files={"file": (name, data, XLSX)}, data=form)


@pytest.fixture
def template(admin: Any) -> bytes:
    resp = admin.get(f"{JBR}/masterplan-template.xlsx", params={"start_year": 2024, "end_year": 2028})
    assert resp.status_code == 200, resp.text
    return bytes(resp.content)


@pytest.fixture
def imported(admin: Any, template: bytes) -> int:
    resp = upload(admin, valid_workbook(template))
    assert resp.status_code == 201, resp.text
    return int(resp.json()["masterplan_id"])


def programmes_of(client: Any, plan_id: int, region: str = JBR) -> dict[str, Any]:
    resp = client.get(f"{region}/masterplans/{plan_id}/programmes")
    assert resp.status_code == 200, resp.text
    return {p["code"]: p for p in resp.json()}


def indicators_of(client: Any, plan_id: int, region: str = JBR) -> dict[str, Any]:
    resp = client.get(f"{region}/masterplans/{plan_id}/indicators")
    assert resp.status_code == 200, resp.text
    return {i["code"]: i for i in resp.json()}


def by_year(rows: list[dict[str, Any]]) -> dict[int, Decimal]:
    return {r["year"]: Decimal(r["value"]) for r in rows}


def notes_of(indicator: dict[str, Any]) -> dict[int, tuple[str, str | None]]:
    return {r["year"]: (r["note"], r["evidence_url"]) for r in indicator["realisations"]}


def sections_of(client: Any, plan_id: int, region: str = JBR) -> dict[str, str]:
    resp = client.get(f"{region}/masterplans/{plan_id}")
    assert resp.status_code == 200, resp.text
    return {sec["kind"]: sec["body"] for sec in resp.json()["sections"]}


def problems(resp: Any) -> set[tuple[str, int | None, str | None]]:
    assert resp.status_code == 422, resp.text
    body = resp.json()["error"]
    assert body["code"] == "validation_failed"
    assert all(d["message"] for d in body["details"])
    return {(d["sheet"], d["row"], d["column"]) for d in body["details"]}


# ---------------------------------------------------------------- template


def test_template_has_every_sheet_headers_dropdowns_and_instructions(template):
    wb = openpyxl.load_workbook(io.BytesIO(template))
    assert wb.sheetnames == [
        "Petunjuk",
        "Masterplan",
        "Analisis",
        "Program",
        "Anggaran",
        "Status",
        "Indikator",
        "DataDukung",
        "QuickWin",
        "Daftar",
    ]
    assert wb["Daftar"].sheet_state == "hidden"
    assert [c.value for c in wb["Analisis"][1]] == ["bagian", "isi"]
    assert [c.value for c in wb["DataDukung"][1]] == ["kode_indikator", "tahun", "catatan", "url_data_dukung"]
    sections = {
        str(dv.sqref).split(":")[0]: dv.formula1 for dv in wb["Analisis"].data_validations.dataValidation
    }
    assert sections["A2"].startswith("Daftar!")  # bagian
    headers = {
        name: [c.value for c in wb[name][1]] for name in ("Program", "Anggaran", "Status", "Indikator")
    }
    assert headers["Program"][:6] == ["kode", "nama", "deskripsi", "dimensi", "elemen", "opd"]
    assert headers["Anggaran"] == ["kode_program", "tahun", "sumber", "jumlah"]
    assert headers["Indikator"][-10:] == [f"target_{y}" for y in range(2024, 2029)] + [
        f"realisasi_{y}" for y in range(2024, 2029)
    ]
    program = wb["Program"]
    assert program.freeze_panes == "A2" and program["A1"].font.bold
    assert program.column_dimensions["B"].width == 40
    dropdowns = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in program.data_validations.dataValidation}
    assert dropdowns["D2"].startswith("Daftar!")  # dimensi
    assert "F2" in dropdowns  # opd: the region's offices
    guide = [[c for c in row if c] for row in wb["Petunjuk"].iter_rows(values_only=True)]
    flat = [str(c) for row in guide for c in row]
    assert "Tata Kelola Pemerintahan Cerdas" in flat and "Pelayanan Publik" in flat
    assert "Diskominfo" in flat and "regulasi" in flat and "naik" in flat
    assert any(row[:2] == ["Program", "jumlah"] or row[:2] == ["Anggaran", "jumlah"] for row in guide)
    assert ["Analisis", "isi"] in [row[:2] for row in guide]
    assert ["DataDukung", "url_data_dukung"] in [row[:2] for row in guide]
    for word in ("kesiapan_struktur", "kesiapan_infrastruktur", "kesiapan_suprastruktur", "kekuatan", "kelemahan",
                 "peluang", "ancaman", "analisis_kesenjangan", "strategi"):  # fmt: skip
        assert ["bagian", word] in [row[:2] for row in guide], word
    assert any("tetap tersimpan di kotacerdas" in text for text in flat)  # evidence files are not carried


def test_template_period_must_be_five_to_ten_years(admin):
    resp = admin.get(f"{JBR}/masterplan-template.xlsx", params={"start_year": 2024, "end_year": 2025})
    assert resp.status_code == 422


# ---------------------------------------------------------------- import


def test_import_creates_the_masterplan_with_programmes_budgets_statuses_and_indicators(
    admin, world, imported
):
    plan = admin.get(f"{JBR}/masterplans/{imported}").json()
    assert (plan["title"], plan["start_year"], plan["end_year"]) == (PLAN["judul"], 2024, 2028)
    assert plan["missions"] == ["Layanan publik digital", "Ekonomi kreatif"]
    assert (plan["legal_basis_number"], plan["legal_basis_date"], plan["status"]) == (
        "Perbup Nomor 12 Tahun 2024",
        "2024-03-15",
        "approved",
    )
    assert (plan["programme_count"], plan["quick_win_count"], plan["indicator_count"]) == (3, 1, 2)

    got = programmes_of(admin, imported)
    assert set(got) == {"GOV-01", "LIV-01", "SOC-01"}
    gov = got["GOV-01"]
    assert gov["lead_office"]["id"] == world["offices"]["kominfo"].id
    assert gov["partners"] == ["Universitas Jember", "Bank Jatim"]
    assert (gov["kind"], gov["term"], gov["is_quick_win"]) == ("application", "medium", True)
    assert gov["quick_win"] == {
        "innovation": "Satu aplikasi untuk semua izin",
        "attractiveness": "Warga tidak perlu datang",
        "benefit": "Izin terbit sehari",
    }
    assert {(b["year"], b["source"], Decimal(b["amount"])) for b in gov["budgets"]} == {
        (2024, "APBD", Decimal("1250000000")),
        (2025, "APBD", Decimal("1500000000")),
        (2025, "private", Decimal("250000000.50")),
    }
    assert [(s["year"], s["status"], s["note"]) for s in gov["year_statuses"]] == [
        (2024, "done", "Diluncurkan"),
        (2025, "running", ""),
    ]
    assert got["LIV-01"]["lead_office"]["short_name"] == "Dishub"
    assert (got["SOC-01"]["dimension"], got["SOC-01"]["is_quick_win"]) == ("society", False)

    ind = indicators_of(admin, imported)
    assert ind["GOV-01.1"]["programme_id"] == gov["id"]
    assert Decimal(ind["GOV-01.1"]["baseline_value"]) == Decimal("12.5")
    assert by_year(ind["GOV-01.1"]["targets"]) == {2024: 20, 2025: 35, 2026: 50}
    assert by_year(ind["GOV-01.1"]["realisations"]) == {2024: Decimal("18.75"), 2025: 30}
    assert ind["GOV-01.1"]["realisations"][0]["entered_by_label"] == "Admin Jember"
    liv = ind["LIV-D1"]
    assert (liv["programme_id"], liv["dimension"], liv["element"], liv["direction"]) == (
        None,
        "living",
        "mobility",
        "lower",
    )
    assert by_year(liv["realisations"]) == {2024: Decimal("44.5")}

    # the strategic analysis and the realisations' notes and evidence links
    assert sections_of(admin, imported) == SECTIONS
    assert notes_of(ind["GOV-01.1"]) == {
        2024: (
            "Data dari aplikasi perizinan\nper 31 Desember",
            "https://data.jemberkab.go.id/perizinan-2024",
        ),
        2025: ("", "http://dpmptsp.jemberkab.go.id/laporan?tahun=2025"),
    }
    assert notes_of(liv) == {2024: ("Survei Dishub", None)}


def test_one_bad_row_among_good_ones_imports_nothing_and_lists_exactly_the_bad_rows(admin, template):
    bad_programmes = [
        ["ECO-09", "Pasar Digital", "", "ekonomi_digital", "industry", "", "", "", "aplikasi", "pendek", 2024, 2025, "", ""],
        ["ECO-10", "Pasar Daring", "", "economy", "industry", "Disperindag", "", "", "aplikasi", "pendek", 2024, 2025, "", ""],
        ["ECO-11", "Pasar Kreatif", "", "economy", "industry", "", "", "", "aplikasi", "pendek", "20x6", 2027, "", ""],
        ["GOV-01", "Program Kembar", "", "governance", "service", "", "", "", "aplikasi", "pendek", 2024, 2025, "", ""],
    ]  # fmt: skip
    workbook = fill(
        template,
        plan=PLAN,
        Program=PROGRAMMES + bad_programmes,
        Anggaran=[*BUDGETS, ["LIV-01", 2026, "APBD", "dua miliar"]],
        Status=STATUSES,
        Indikator=INDICATORS,
        QuickWin=QUICK_WINS,
    )
    expected = {
        ("Program", 6, "dimensi"),
        ("Program", 7, "opd"),
        ("Program", 8, "tahun_mulai"),
        ("Program", 9, "kode"),
        ("Anggaran", 6, "jumlah"),
    }
    resp = upload(admin, workbook)
    assert problems(resp) == expected
    details = resp.json()["error"]["details"]
    assert {(d["sheet"], d["cell"]) for d in details} == {
        ("Program", "D6"),
        ("Program", "F7"),
        ("Program", "K8"),
        ("Program", "A9"),
        ("Anggaran", "D6"),
    }
    assert any("Disperindag" in d["message"] for d in details)
    assert admin.get(f"{JBR}/masterplans").json() == []  # not even the masterplan

    # the same into an existing masterplan: nothing changes there either
    plan_id = upload(admin, valid_workbook(template)).json()["masterplan_id"]
    before = programmes_of(admin, plan_id)
    assert problems(upload(admin, workbook, masterplan_id=plan_id)) == expected
    assert programmes_of(admin, plan_id) == before
    assert len(indicators_of(admin, plan_id)) == 2


def test_import_into_an_existing_masterplan_updates_by_code_and_deletes_nothing(
    admin, world, template, imported
):
    workbook = fill(
        template,
        Program=[
            ["GOV-01", "Mal Pelayanan Publik Terpadu", "", "governance", "service", "Dishub", "", "", "aplikasi",
             "menengah", 2024, 2027, "ya", ""],
            ["NEW-01", "Satu Data Jember", "", "governance", "policy", "Diskominfo", "", "", "aplikasi", "pendek",
             2025, 2025, "tidak", ""],
        ],
        Anggaran=[["GOV-01", 2027, "APBN", "999.000"]],
        Status=[["GOV-01", 2026, "terhenti", "Menunggu anggaran"]],
        Indikator=[
            ["GOV-01.1", "GOV-01", None, None, "Layanan perizinan daring", "%", "naik", 2023, 12.5,
             25, None, None, None, None, 19, None, None, None, None],
        ],
        drop=("QuickWin", "Masterplan"),
    )  # fmt: skip
    resp = upload(admin, workbook, masterplan_id=imported)
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"masterplan_id": imported, "programmes": 2, "indicators": 1}

    got = programmes_of(admin, imported)
    assert set(got) == {"GOV-01", "LIV-01", "SOC-01", "NEW-01"}
    gov = got["GOV-01"]
    assert (gov["name"], gov["end_year"], gov["lead_office"]["short_name"]) == (
        "Mal Pelayanan Publik Terpadu",
        2027,
        "Dishub",
    )
    assert [(b["year"], b["source"], Decimal(b["amount"])) for b in gov["budgets"]] == [
        (2027, "APBN", Decimal(999000))
    ]
    assert [(s["year"], s["status"]) for s in gov["year_statuses"]] == [(2026, "stalled")]
    assert gov["partners"] == [] and gov["description"] == ""  # fields are replaced
    assert gov["quick_win"]["innovation"] == "Satu aplikasi untuk semua izin"  # no QuickWin sheet: kept
    assert [(b["source"], Decimal(b["amount"])) for b in got["LIV-01"]["budgets"]] == [
        ("KPBU", Decimal(2000000000))
    ]

    ind = indicators_of(admin, imported)
    assert set(ind) == {"GOV-01.1", "LIV-D1"}
    assert by_year(ind["GOV-01.1"]["targets"]) == {2024: 25}
    # an empty realisation cell deletes nothing; a changed one is corrected
    assert by_year(ind["GOV-01.1"]["realisations"]) == {2024: 19, 2025: 30}
    assert by_year(ind["LIV-D1"]["targets"]) == {2024: 44, 2025: 42, 2026: 40, 2027: 38, 2028: 35}


def test_a_refusal_of_the_service_midway_rolls_back_every_write_of_the_import(admin, template, imported):
    # without an Anggaran sheet GOV-01 keeps its 2024/2025 budget lines, which the service will not
    # leave outside the programme's new years; NEW-02 on the row before was already written by then
    workbook = fill(
        template,
        Program=[
            ["NEW-02", "Program Baru", "", "governance", "policy", "", "", "", "aplikasi", "pendek", 2025, 2025, "", ""],
            ["GOV-01", "Mal Pelayanan Publik Digital", "", "governance", "service", "", "", "", "aplikasi",
             "pendek", 2026, 2026, "ya", ""],
        ],
        drop=("Anggaran", "Status", "QuickWin", "Indikator", "Masterplan"),
    )  # fmt: skip
    before = programmes_of(admin, imported)
    resp = upload(admin, workbook, masterplan_id=imported)
    assert problems(resp) == {("Program", 3, None)}
    assert "2024" in resp.json()["error"]["details"][0]["message"]
    assert programmes_of(admin, imported) == before


def test_export_then_import_into_another_region_gives_the_same_masterplan(
    admin, as_user, db: Session, world, imported
):
    for short in ("Dishub", "Dinkes"):
        regions.create_office(db, region_id=world["probolinggo"].id, name=f"Dinas {short}", short_name=short)
    db.commit()
    resp = admin.get(f"{JBR}/masterplans/{imported}/export.xlsx")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == XLSX
    assert "attachment" in resp.headers["content-disposition"]

    pbl = as_user("pbl_admin")
    again = upload(pbl, resp.content, region=PBL)
    assert again.status_code == 201, again.text
    copy_id = again.json()["masterplan_id"]

    def plan_view(client: Any, region: str, plan_id: int) -> dict[str, Any]:
        plan = client.get(f"{region}/masterplans/{plan_id}").json()
        skip = {"id", "created_at", "updated_at"}
        return {k: v for k, v in plan.items() if k not in skip}

    def programme_view(p: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in p.items() if k not in ("id", "masterplan_id", "lead_office")}
        out["lead_office"] = p["lead_office"]["short_name"] if p["lead_office"] else None
        return out

    def indicator_view(i: dict[str, Any], codes: dict[int, str]) -> dict[str, Any]:
        out = {k: v for k, v in i.items() if k not in ("id", "masterplan_id", "programme_id", "realisations")}
        out["programme"] = codes.get(i["programme_id"])
        out["realisations"] = {
            r["year"]: (Decimal(r["value"]), r["note"], r["evidence_url"]) for r in i["realisations"]
        }
        return out

    assert plan_view(admin, JBR, imported) == plan_view(pbl, PBL, copy_id)
    assert sections_of(pbl, copy_id, PBL) == SECTIONS  # the plan's view holds the sections
    original, copy = programmes_of(admin, imported), programmes_of(pbl, copy_id, PBL)
    assert {c: programme_view(p) for c, p in original.items()} == {
        c: programme_view(p) for c, p in copy.items()
    }
    codes_a = {p["id"]: c for c, p in original.items()}
    codes_b = {p["id"]: c for c, p in copy.items()}
    assert {c: indicator_view(i, codes_a) for c, i in indicators_of(admin, imported).items()} == {
        c: indicator_view(i, codes_b) for c, i in indicators_of(pbl, copy_id, PBL).items()
    }


# ---------------------------------------------------------------- strategic analysis and realisation notes


def test_bad_analysis_and_data_dukung_rows_are_located_and_nothing_is_imported(admin, template):
    analysis = [
        *ANALYSIS,
        ["kesiapan_anggaran", "Anggaran TIK naik"],  # row 6: not a section
        ["kekuatan", "Lagi"],  # row 7: kekuatan again, not right below the first
        [None, "Teks tanpa bagian"],  # row 8
    ]
    support = [
        ["GOV-01.1", 2024, "Laporan", "ftp://data.jemberkab.go.id/perizinan"],  # row 2
        ["GOV-01.1", 2025, None, "data.jemberkab.go.id/laporan"],  # row 3: no scheme
        ["XXX-09", 2024, "Catatan", None],  # row 4: no such indicator
        ["LIV-D1", 2026, "Belum ada realisasi", None],  # row 5: no realisation in 2026
        ["LIV-D1", 2031, None, None],  # row 6: outside the period
        ["LIV-D1", 2024, "Survei", "https://dishub.jemberkab.go.id/survei"],  # row 7: fine
        ["LIV-D1", "2024", "Survei lagi", None],  # row 8: the same realisation again
        ["GOV-01.1", 2024, None, "javascript:alert(1)"],  # row 9
    ]
    workbook = fill(
        template, plan=PLAN, Program=PROGRAMMES, Indikator=INDICATORS, Analisis=analysis, DataDukung=support
    )
    expected = {
        ("Analisis", "A6"), ("Analisis", "A7"), ("Analisis", "A8"),
        ("DataDukung", "D2"), ("DataDukung", "D3"), ("DataDukung", "A4"), ("DataDukung", "B5"),
        ("DataDukung", "B6"), ("DataDukung", "B8"), ("DataDukung", "D9"),
    }  # fmt: skip
    resp = upload(admin, workbook)
    assert problems(resp) == {
        ("Analisis", 6, "bagian"), ("Analisis", 7, "bagian"), ("Analisis", 8, "bagian"),
        ("DataDukung", 2, "url_data_dukung"), ("DataDukung", 3, "url_data_dukung"),
        ("DataDukung", 4, "kode_indikator"), ("DataDukung", 5, "tahun"), ("DataDukung", 6, "tahun"),
        ("DataDukung", 8, "tahun"), ("DataDukung", 9, "url_data_dukung"),
    }  # fmt: skip
    details = resp.json()["error"]["details"]
    assert {(d["sheet"], d["cell"]) for d in details} == expected
    messages = {d["cell"]: d["message"] for d in details}
    assert "kesiapan_anggaran" in messages["A6"] and "strategi" in messages["A6"]  # the allowed words
    assert "XXX-09" in messages["A4"] and "realisasi_2026" in messages["B5"]
    assert "http" in messages["D2"]
    assert admin.get(f"{JBR}/masterplans").json() == []  # not even the masterplan

    # into an existing masterplan: the same problems, and its texts stay as they were
    plan_id = upload(admin, valid_workbook(template)).json()["masterplan_id"]
    before = (sections_of(admin, plan_id), indicators_of(admin, plan_id))
    assert {
        (d["sheet"], d["cell"])
        for d in upload(admin, workbook, masterplan_id=plan_id).json()["error"]["details"]
    } == expected
    assert (sections_of(admin, plan_id), indicators_of(admin, plan_id)) == before


def test_a_workbook_without_analisis_and_data_dukung_still_imports_and_changes_neither(
    admin, template, imported
):
    older = fill(template, plan={**PLAN, "judul": "Masterplan lama"}, Program=PROGRAMMES, Indikator=INDICATORS,
                 drop=("Analisis", "DataDukung"))  # fmt: skip
    resp = upload(admin, older)
    assert resp.status_code == 201, resp.text
    assert sections_of(admin, resp.json()["masterplan_id"]) == {}
    assert notes_of(indicators_of(admin, resp.json()["masterplan_id"])["GOV-01.1"]) == {
        2024: ("", None),
        2025: ("", None),
    }

    # into the masterplan that has them: a corrected value keeps its note and link
    corrected = [[*INDICATORS[0][:14], "19", *INDICATORS[0][15:]]]
    resp = upload(admin, fill(template, Indikator=corrected, drop=("Analisis", "DataDukung", "Masterplan")),
                  masterplan_id=imported)  # fmt: skip
    assert resp.status_code == 201, resp.text
    assert sections_of(admin, imported) == SECTIONS
    gov = indicators_of(admin, imported)["GOV-01.1"]
    assert by_year(gov["realisations"])[2024] == 19
    assert notes_of(gov)[2024] == (
        "Data dari aplikasi perizinan\nper 31 Desember",
        "https://data.jemberkab.go.id/perizinan-2024",
    )

    # a sheet without its text column would empty every section: refused
    wb = openpyxl.load_workbook(io.BytesIO(template))
    wb["Analisis"].delete_cols(2)
    wb["Analisis"].append(["kekuatan"])
    buf = io.BytesIO()
    wb.save(buf)
    assert problems(upload(admin, buf.getvalue(), masterplan_id=imported)) == {("Analisis", 1, "isi")}
    assert sections_of(admin, imported) == SECTIONS


def test_into_an_existing_masterplan_only_the_sections_and_realisations_with_a_row_change(
    admin, template, imported, audit_actions
):
    before = indicators_of(admin, imported)
    workbook = fill(
        template,
        Analisis=[["kekuatan", "Fiber optik di 31 kecamatan\nWi-Fi publik di 200 titik"],
                  ["gap_analysis", "SDM TIK masih kurang"], ["ancaman", None]],
        DataDukung=[["LIV-D1", 2024, None, "https://dishub.jemberkab.go.id/survei"],
                    ["GOV-01.1", 2025, "Laporan DPMPTSP", "http://dpmptsp.jemberkab.go.id/laporan?tahun=2025"]],
        drop=("Masterplan", "Program", "Anggaran", "Status", "Indikator", "QuickWin"),
    )  # fmt: skip
    resp = upload(admin, workbook, masterplan_id=imported)
    assert resp.status_code == 201, resp.text
    assert sections_of(admin, imported) == {
        **SECTIONS,
        "swot_strengths": "Fiber optik di 31 kecamatan\nWi-Fi publik di 200 titik",
        "gap_analysis": "SDM TIK masih kurang",
        "swot_threats": "",  # an empty cell empties the section
    }
    after = indicators_of(admin, imported)
    assert notes_of(after["LIV-D1"]) == {2024: ("", "https://dishub.jemberkab.go.id/survei")}
    assert by_year(after["LIV-D1"]["realisations"]) == {2024: Decimal("44.5")}
    assert notes_of(after["GOV-01.1"])[2025] == (
        "Laporan DPMPTSP",
        "http://dpmptsp.jemberkab.go.id/laporan?tahun=2025",
    )
    assert after["GOV-01.1"]["realisations"][0] == before["GOV-01.1"]["realisations"][0]  # no row: untouched

    # the same workbook again changes nothing: no section or realisation is written twice
    logged = len(audit_actions())
    assert upload(admin, workbook, masterplan_id=imported).status_code == 201
    assert [a for a, _e, _who in audit_actions()[logged:]] == ["masterplan.import"]

    # a DataDukung sheet without the url column sets notes and keeps the links
    wb = openpyxl.load_workbook(io.BytesIO(template))
    wb["DataDukung"].delete_cols(4)
    wb["DataDukung"].append(["LIV-D1", 2024, "Survei lalu lintas"])
    buf = io.BytesIO()
    wb.save(buf)
    assert upload(admin, buf.getvalue(), masterplan_id=imported).status_code == 201
    assert notes_of(indicators_of(admin, imported)["LIV-D1"]) == {
        2024: ("Survei lalu lintas", "https://dishub.jemberkab.go.id/survei")
    }


def test_evidence_files_stay_in_kotacerdas_and_long_texts_survive_the_round_trip(admin, imported):
    gov = indicators_of(admin, imported)["GOV-01.1"]
    pdf = admin.post(
        f"{JBR}/evidence", files={"file": ("laporan.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}
    )
    assert pdf.status_code == 201, pdf.text
    entry = {"value": 18.75, "note": "Laporan tahunan", "evidence_id": pdf.json()["id"]}
    assert admin.put(f"{JBR}/indicators/{gov['id']}/realisations/2024", json=entry).status_code == 200
    # longer than an Excel cell holds, typed in a browser (CRLF), a character Excel counts twice
    long_text = ("Strategi 🚀 pentahelix:\r\n" + "kolaborasi pemerintah dan kampus. " * 1200).strip()
    assert len(long_text) > 32_767
    put = admin.put(f"{JBR}/masterplans/{imported}/sections/strategy", json={"body": long_text})
    assert put.status_code == 200, put.text

    exported = admin.get(f"{JBR}/masterplans/{imported}/export.xlsx").content
    wb = openpyxl.load_workbook(io.BytesIO(exported))
    rows = [r for r in wb["Analisis"].iter_rows(min_row=2, values_only=True) if r[0] == "strategi"]
    assert len(rows) == 2 and all(len(r[1]) <= 32_767 for r in rows)
    support = list(wb["DataDukung"].iter_rows(min_row=2, values_only=True))
    assert ("GOV-01.1", 2024, "Laporan tahunan", None) in support  # the file itself is not in the workbook
    assert "laporan.pdf" not in str(support)

    # imported again into the same masterplan: nothing is rewritten, the file stays attached
    assert upload(admin, exported, masterplan_id=imported).status_code == 201
    kept = indicators_of(admin, imported)["GOV-01.1"]["realisations"][0]
    assert (kept["note"], kept["evidence"]["id"]) == ("Laporan tahunan", pdf.json()["id"])
    # a changed note is written, and still the file stays
    wb["DataDukung"]["C2"] = "Laporan tahunan (revisi)"
    buf = io.BytesIO()
    wb.save(buf)
    assert upload(admin, buf.getvalue(), masterplan_id=imported).status_code == 201
    kept = indicators_of(admin, imported)["GOV-01.1"]["realisations"][0]
    assert (kept["note"], kept["evidence"]["id"]) == ("Laporan tahunan (revisi)", pdf.json()["id"])

    # as a new masterplan the long text comes back whole, with Excel's line breaks
    copy = fill(exported, plan={"judul": "Salinan Masterplan"})
    resp = upload(admin, copy)
    assert resp.status_code == 201, resp.text
    assert sections_of(admin, resp.json()["masterplan_id"])["strategy"] == long_text.replace("\r\n", "\n")


# ---------------------------------------------------------------- uploads and access


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("rencana.pdf", b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF"),
        ("rencana.xlsx", b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF"),
        ("rencana.xlsx", os.urandom(4096)),
    ],
)
def test_a_file_that_is_not_a_workbook_is_415(admin, name, data):
    resp = upload(admin, data, name=name)
    assert resp.status_code == 415, resp.text
    assert resp.json()["error"]["code"] == "unsupported_media_type"


def test_a_broken_workbook_is_refused_with_a_clear_message(admin):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook><sheets><sheet")
    resp = upload(admin, buf.getvalue())
    assert resp.status_code == 422, resp.text
    assert "Excel" in resp.json()["error"]["message"]
    assert admin.get(f"{JBR}/masterplans").json() == []


def test_a_workbook_over_the_upload_limit_is_413(admin, settings, template):
    workbook = valid_workbook(template)
    settings.upload_max_bytes = 4096
    assert len(workbook) > 4096
    assert upload(admin, workbook).status_code == 413
    assert upload(admin, workbook + b"\0" * 100_000).status_code == 413
    settings.upload_max_bytes = 10 * 1024 * 1024
    assert admin.get(f"{JBR}/masterplans").json() == []


def test_an_office_operator_cannot_import(as_user, admin, template):
    resp = upload(as_user("dishub"), valid_workbook(template))
    assert resp.status_code == 403, resp.text
    assert admin.get(f"{JBR}/masterplans").json() == []


def test_another_regions_admin_cannot_export_or_import_into_jember(as_user, imported, template):
    pbl = as_user("pbl_admin")
    assert pbl.get(f"{JBR}/masterplans/{imported}/export.xlsx").status_code == 403
    assert pbl.get(f"{PBL}/masterplans/{imported}/export.xlsx").status_code == 404
    assert pbl.get(f"/masterplans/{imported}/export.xlsx").status_code == 404
    assert upload(pbl, valid_workbook(template), masterplan_id=imported).status_code == 403
    assert upload(pbl, valid_workbook(template), region=PBL, masterplan_id=imported).status_code == 404


# ---------------------------------------------------------------- pages


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found[1]


def test_the_import_page_lists_the_row_errors_and_a_good_workbook_redirects(admin, template):
    form = admin.get("/masterplans/import")
    assert form.status_code == 200
    assert "masterplan-template.xlsx" in form.text
    token = csrf_of(form.text)
    bad = fill(template, plan=PLAN, Program=[*PROGRAMMES, ["ECO-10", "Pasar Daring", "", "economy", "industry",
               "Disperindag", "", "", "aplikasi", "pendek", 2024, 2025, "", ""]])  # fmt: skip
    resp = admin.post(
        "/masterplans/import",
        data={"csrf_token": token, "target": "new"},
        files={"file": ("rencana.xlsx", bad, XLSX)},
    )
    assert resp.status_code == 422
    assert "OPD Disperindag tidak terdaftar di daerah ini." in resp.text
    assert re.search(r"<td>Program</td>\s*<td class=\"num\">6</td>\s*<td>opd</td>\s*<td>F6</td>", resp.text)
    assert admin.get(f"{JBR}/masterplans").json() == []

    checked = admin.post(
        "/masterplans/import",
        data={"csrf_token": token, "target": "new", "dry_run": "1"},
        files={"file": ("rencana.xlsx", valid_workbook(template), XLSX)},
    )
    assert checked.status_code == 200
    assert "Berkas Dapat Diimpor" in checked.text
    assert admin.get(f"{JBR}/masterplans").json() == []

    done = admin.post(
        "/masterplans/import",
        data={"csrf_token": token, "target": "new"},
        files={"file": ("rencana.xlsx", valid_workbook(template), XLSX)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    plan_id = admin.get(f"{JBR}/masterplans").json()[0]["id"]
    assert done.headers["location"].startswith(f"/masterplans/{plan_id}")

    pdf = admin.post(
        "/masterplans/import",
        data={"csrf_token": token, "target": str(plan_id)},
        files={"file": ("rencana.pdf", b"%PDF-1.7\n%%EOF", "application/pdf")},
    )
    assert pdf.status_code == 415
    assert "tidak diterima" in pdf.text


def test_the_import_page_is_for_the_region_admin_and_needs_the_form_token(as_user, admin, template):
    assert as_user("dishub").get("/masterplans/import").status_code == 403
    resp = admin.post(
        "/masterplans/import",
        data={"target": "new"},
        files={"file": ("rencana.xlsx", valid_workbook(template), XLSX)},
    )
    assert resp.status_code == 403
    assert admin.get(f"{JBR}/masterplans").json() == []


def test_the_print_page_shows_the_whole_masterplan(admin, as_user, imported):
    resp = admin.get(f"/masterplans/{imported}/print")
    assert resp.status_code == 200
    page = resp.text
    for text in (
        PLAN["judul"],
        "Perbup Nomor 12 Tahun 2024",
        "Jember cerdas, melayani dan sejahtera",
        "Ekonomi kreatif",
        "Mal Pelayanan Publik Digital",
        "Parkir Cerdas Alun-alun",
        "Posyandu Digital",
        "Layanan perizinan daring",
        "Waktu tempuh rata-rata",
        "Rp 1.250.000.000",
        "Satu aplikasi untuk semua izin",
        "Diskominfo",
    ):
        assert text in page, text
    assert "18,75" in page  # realisation, Indonesian number format
    evaluator = as_user("evaluator").get(f"/regions/35.09/masterplans/{imported}/print")
    assert evaluator.status_code == 200
    assert "Mal Pelayanan Publik Digital" in evaluator.text
    download = admin.get(f"/masterplans/{imported}/export.xlsx")
    assert download.status_code == 200
    assert openpyxl.load_workbook(io.BytesIO(download.content))["Program"]["A2"].value == "GOV-01"
