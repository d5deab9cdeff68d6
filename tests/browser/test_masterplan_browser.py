"""The masterplan pages in Chromium: logging in, the overview's charts, the language switch, filtering
the roadmap, and an office entering a realisation with a PDF as evidence."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def test_admin_reads_the_overview_with_its_radar_and_switches_to_english(
    page: Any, live_site: Any, log_in: Callable[[str], None], results_dir: Path
) -> None:
    log_in("admin@jember.go.id")
    page.goto("/masterplans")
    page.get_by_role("link", name="Masterplan Smart City Kabupaten Jember 2024-2028").click()
    page.wait_for_url(re.compile(r"/masterplans/\d+$"))

    radar = page.locator("svg.radar")
    radar.wait_for(state="visible")
    box = radar.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 300
    labels = radar.locator("text.axis-label")
    assert labels.count() == 6
    assert labels.first.text_content().startswith("Tata Kelola")
    assert radar.locator("polygon.compare").count() == 1  # the year before, dashed
    assert page.locator("svg.line").first.is_visible()
    total = page.locator("table.summary tfoot tr").inner_text().split()
    assert total[:4] == ["Total", "8", "3", "8"] and total[-5:] == ["0", "6", "0", "2", "82,5%"]
    page.screenshot(path=str(results_dir / "masterplan-overview.png"), full_page=True)
    page.locator("section[aria-labelledby=h-achievement]").screenshot(
        path=str(results_dir / "masterplan-charts.png")
    )

    page.get_by_role("link", name="EN", exact=True).click()
    page.wait_for_url(re.compile(r"lang=en"))
    assert radar.locator("text.axis-label").first.text_content().startswith("Smart Governance")
    assert page.locator("table.summary").get_by_role("rowheader", name="Smart Governance").is_visible()
    # each element's achievement under the summary: Public Service is GOV-01 alone, 70 of 80 in 2026
    element = page.locator("table.elements tr[data-element='governance/service']")
    assert element.get_by_role("rowheader", name="Public Service").is_visible()
    assert element.locator("td.achievement").inner_text().strip() == "87,5%"

    page.select_option("select#year", "2024")  # the selector submits itself
    page.wait_for_url(re.compile(r"year=2024"))
    assert page.get_by_role("heading", name="Achievement in 2024").is_visible()


def test_roadmap_filters_by_dimension(
    page: Any, live_site: Any, log_in: Callable[[str], None], results_dir: Path
) -> None:
    log_in("admin@jember.go.id")
    page.goto(f"/masterplans/{live_site.ids['plan']}/roadmap?lang=en")
    table = page.locator("table.roadmap")
    assert table.get_by_role("link", name="Jember Satu Data").is_visible()
    page.select_option("select#f-dimension", "living")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"dimension=living"))
    assert table.get_by_role("link", name="Angkutan Pintar Jember").is_visible()
    assert table.get_by_role("link", name="Puskesmas Online").is_visible()
    assert table.get_by_role("link", name="Jember Satu Data").count() == 0
    assert table.locator("td.year.on.done").count() == 2  # both Smart Living programmes finished 2024
    page.screenshot(path=str(results_dir / "masterplan-roadmap.png"), full_page=True)


def test_office_enters_a_realisation_with_a_pdf_and_sees_it_in_the_history(
    page: Any, live_site: Any, log_in: Callable[[str], None], results_dir: Path, tmp_path: Path
) -> None:
    log_in("dishub@jember.go.id")
    indicator_id = live_site.ids["LIV-01-I1"]
    page.goto(f"/indicators/{indicator_id}?lang=en")
    form = page.locator("form[action$='/realisation']")
    assert form.is_visible()

    evidence = tmp_path / "laporan-halte-2027.pdf"
    evidence.write_bytes(PDF)
    page.select_option("select#f-year", "2027")
    page.fill("input[name=value]", "36.5")
    page.fill("textarea[name=note]", "Halte baru di Ambulu dan Balung")
    page.set_input_files("input[name=evidence_file]", str(evidence))
    form.get_by_role("button", name="Save realisation").click()
    page.wait_for_url(re.compile(rf"/indicators/{indicator_id}\?ok=realisation"))

    assert page.get_by_role("status").text_content().strip() == "The realisation has been saved."
    row = page.locator("table.history tr[data-year='2027']")
    assert row.locator("td.realisation").text_content().strip() == "36,5"
    # the programme has no target for 2027, so there is no achievement; 2026 still shows 28 of 30
    assert row.locator("td.achievement").text_content().strip() == "–"
    assert "93,3%" in page.locator("table.history tr[data-year='2026'] td.achievement").text_content()
    link = row.get_by_role("link", name="laporan-halte-2027.pdf")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "laporan-halte-2027.pdf"
    assert Path(download.value.path()).read_bytes() == PDF

    # choosing another year shows what is stored for it; a value within a target year shows its achievement
    assert page.locator("#keep-evidence").is_visible()
    page.select_option("select#f-year", "2026")
    assert page.input_value("input[name=value]") == "28"
    assert page.input_value("textarea[name=note]") == "laporan tahunan"
    assert page.locator("#keep-evidence").is_hidden()
    page.fill("input[name=value]", "33")
    form.get_by_role("button", name="Save realisation").click()
    page.wait_for_url(re.compile(r"ok=realisation"))
    assert "110,0%" in page.locator("table.history tr[data-year='2026'] td.achievement").text_content()
    assert "laporan tahunan" in page.locator("table.history tr[data-year='2026']").text_content()
    page.screenshot(path=str(results_dir / "indicator-after-entry.png"), full_page=True)
