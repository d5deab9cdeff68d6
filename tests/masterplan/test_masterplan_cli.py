"""``kotacerdas masterplan template|import|export`` against a database of their own (SQLite in a temp
directory), the way an operator runs them."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from kotacerdas.auth.access import Principal
from kotacerdas.cli import app
from kotacerdas.config import get_settings
from kotacerdas.db import make_engine, make_session_factory, unit_of_work
from kotacerdas.masterplan import service
from kotacerdas.region import service as regions

runner = CliRunner()

# kode nama deskripsi dimensi elemen opd pic mitra jenis jangka tahun_mulai tahun_selesai quick_win rpjmd
PROGRAMMES = [
    ["GOV-01", "Mal Pelayanan Publik Digital", "", "governance", "service", "Diskominfo", "", "", "aplikasi",
     "menengah", 2024, 2026, "ya", ""],
    ["LIV-01", "Parkir Cerdas", "", "living", "mobility", "Dishub", "", "", "infrastruktur", "panjang", 2025,
     2028, "tidak", ""],
]  # fmt: skip
PLAN = {"judul": "Masterplan Smart City Jember", "tahun_mulai": 2024, "tahun_selesai": 2028}


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    return result


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite database with Jember and two of its offices, made with the CLI where it can."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("KOTACERDAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KOTACERDAS_DATABASE_URL", url)
    get_settings.cache_clear()
    assert run("db", "upgrade").exit_code == 0
    created = run("region", "create", "35.09", "Kabupaten Jember", "--province", "Jawa Timur")
    assert created.exit_code == 0, created.output
    engine = make_engine(url)
    with unit_of_work(make_session_factory(engine)) as session:
        region_id = regions.get_region_by_code(session, "35.09").id
        for short in ("Diskominfo", "Dishub"):
            regions.create_office(session, region_id=region_id, name=f"Dinas {short}", short_name=short)
    engine.dispose()
    yield url
    get_settings.cache_clear()


def programme_codes(url: str) -> dict[str, list[str]]:
    """Masterplan title -> its programme codes, read through the service as the region's admin."""
    engine = make_engine(url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            region_id = regions.get_region_by_code(session, "35.09").id
            who = Principal(kind="user", role="region_admin", region_id=region_id, label="test")
            return {
                plan.title: [
                    p.code
                    for p in service.list_programmes(
                        session, principal=who, region_id=region_id, masterplan_id=plan.id
                    )
                ]
                for plan in service.list_masterplans(session, principal=who, region_id=region_id)
            }
    finally:
        engine.dispose()


def fill(
    template: Path,
    target: Path,
    *,
    programmes: list[list[Any]],
    budgets: list[list[Any]],
    **rows: list[list[Any]],
) -> Path:
    wb = openpyxl.load_workbook(template)
    for row in wb["Masterplan"].iter_rows(min_row=2):
        if row[0].value in PLAN:
            row[1].value = PLAN[row[0].value]
    for line in programmes:
        wb["Program"].append(line)
    for line in budgets:
        wb["Anggaran"].append(line)
    for sheet, lines in rows.items():
        for line in lines:
            wb[sheet].append(line)
    wb.save(target)
    return target


def test_template_import_and_export(database, tmp_path):
    template = tmp_path / "template.xlsx"
    made = run(
        "masterplan",
        "template",
        "--region",
        "35.09",
        "--start",
        "2024",
        "--end",
        "2028",
        "--output",
        str(template),
    )
    assert made.exit_code == 0, made.output
    wb = openpyxl.load_workbook(template)
    assert {
        "Petunjuk", "Masterplan", "Analisis", "Program", "Anggaran", "Status", "Indikator", "DataDukung", "QuickWin"
    } <= set(wb.sheetnames)  # fmt: skip
    assert [c.value for c in wb["Indikator"][1]][-1] == "realisasi_2028"
    assert "Dishub" in [c.value for c in wb["Daftar"]["C"]]  # the region's offices feed the drop-down

    workbook = fill(
        template,
        tmp_path / "rencana.xlsx",
        programmes=PROGRAMMES,
        budgets=[["GOV-01", 2024, "APBD", "1.250.000"]],
        Analisis=[["strategi", "Layanan digital lebih dulu\nlalu data terpadu"]],
        Indikator=[["GOV-01.1", "GOV-01", None, None, "Layanan daring", "%", "naik", None, None,
                    None, None, None, None, None, 40, None, None, None, None]],
        DataDukung=[["GOV-01.1", 2024, "Dari aplikasi perizinan", "https://data.jemberkab.go.id/izin"]],
    )  # fmt: skip
    checked = run("masterplan", "import", str(workbook), "--region", "35.09", "--dry-run")
    assert checked.exit_code == 0, checked.output
    assert programme_codes(database) == {}

    imported = run("masterplan", "import", str(workbook), "--region", "35.09")
    assert imported.exit_code == 0, imported.output
    assert "1 bagian analisis" in " ".join(imported.output.split())
    assert programme_codes(database) == {"Masterplan Smart City Jember": ["GOV-01", "LIV-01"]}
    plan_id = re.search(r"masterplan (\d+)", imported.output)
    assert plan_id, imported.output

    exported = tmp_path / "export.xlsx"
    done = run(
        "masterplan", "export", "--region", "35.09", "--masterplan", plan_id[1], "--output", str(exported)
    )
    assert done.exit_code == 0, done.output
    back = openpyxl.load_workbook(io.BytesIO(exported.read_bytes()))
    assert [r[0] for r in back["Program"].iter_rows(min_row=2, values_only=True)] == ["GOV-01", "LIV-01"]
    assert list(back["Anggaran"].iter_rows(min_row=2, values_only=True)) == [
        ("GOV-01", 2024, "APBD", 1250000)
    ]
    assert list(back["Analisis"].iter_rows(min_row=2, values_only=True)) == [
        ("strategi", "Layanan digital lebih dulu\nlalu data terpadu")
    ]
    assert list(back["DataDukung"].iter_rows(min_row=2, values_only=True)) == [
        ("GOV-01.1", 2024, "Dari aplikasi perizinan", "https://data.jemberkab.go.id/izin")
    ]

    # the export imported again into the same masterplan changes nothing and succeeds
    again = run("masterplan", "import", str(exported), "--region", "35.09", "--masterplan", plan_id[1])
    assert again.exit_code == 0, again.output
    assert programme_codes(database) == {"Masterplan Smart City Jember": ["GOV-01", "LIV-01"]}


def test_a_bad_workbook_exits_1_shows_the_row_and_imports_nothing(database, tmp_path):
    template = tmp_path / "template.xlsx"
    assert (
        run(
            "masterplan", "template", "--region", "35.09", "--start", "2024", "--output", str(template)
        ).exit_code
        == 0
    )
    bad_row = ["ECO-10", "Pasar Daring", "", "economy", "industry", "Disperindag", "", "", "aplikasi", "pendek", 2024, 2025, "", ""]  # fmt: skip
    workbook = fill(
        template,
        tmp_path / "rencana.xlsx",
        programmes=[*PROGRAMMES, bad_row],
        budgets=[["GOV-01", 2024, "APBD", "satu juta"]],
    )
    result = run("masterplan", "import", str(workbook), "--region", "35.09")
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "tidak ada data yang diimpor" in output
    assert re.search(r"Program\s*│\s*4\s*│\s*opd", result.output), result.output
    assert re.search(r"Anggaran\s*│\s*2\s*│\s*jumlah", result.output), result.output
    assert "Disperindag" in result.output
    assert programme_codes(database) == {}


def test_unknown_region_or_file_type_exits_1(database, tmp_path):
    pdf = tmp_path / "rencana.xlsx"
    pdf.write_bytes(b"%PDF-1.7\n%%EOF")
    result = run("masterplan", "import", str(pdf), "--region", "35.09")
    assert result.exit_code == 1
    assert "tidak diterima" in result.output
    missing = run(
        "masterplan", "export", "--region", "99.99", "--masterplan", "1", "--output", str(tmp_path / "x.xlsx")
    )
    assert missing.exit_code == 1
    assert "99.99" in missing.output
    assert not (tmp_path / "x.xlsx").exists()
