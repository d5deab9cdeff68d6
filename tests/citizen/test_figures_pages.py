"""The public page of the response-time figures: its charts (server-drawn SVG with data tables), the
office table worst first, the choice of region, year and office, and bad choices shown as messages."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from figuresdata import build_history
from sqlalchemy.orm import Session

SVG = "{http://www.w3.org/2000/svg}"
PAGE = "/reports/figures"


@pytest.fixture
def history(db: Session, reporting: dict[str, Any]) -> dict[str, Any]:
    return build_history(db, reporting)


def charts_of(html: str) -> dict[str, ET.Element]:
    """The page's SVG charts by their title."""
    found = {}
    for svg in re.findall(r"<svg .*?</svg>", html, re.S):
        root = ET.fromstring(svg)  # noqa: S314 - our own page, not untrusted input
        title = root.find(f"{SVG}title")
        assert title is not None and title.text
        found[title.text] = root
    return found


def series_of(chart: ET.Element) -> list[str]:
    return [g.get("data-label", "") for g in chart.findall(f"{SVG}g[@class='series']")]


def office_rows(html: str) -> list[str]:
    table = re.search(r'<table class="office-figures">.*?</table>', html, re.S)
    assert table, "no office table on the page"
    return re.findall(r'<tr data-office="([^"]+)">', table.group(0))


def test_the_page_draws_the_charts_and_the_office_table_for_anyone(
    client: Any, history: dict[str, Any]
) -> None:
    page = client.get(PAGE, params={"region": "35.09", "year": 2026, "lang": "en"})
    assert page.status_code == 200, page.text
    html = page.text
    charts = charts_of(html)
    assert set(charts) == {
        "Share within the deadline per month",
        "Median response time per month (days)",
        "Submitted and closed per month",
    }
    assert series_of(charts["Share within the deadline per month"]) == [
        "Answered within the deadline",
        "Verified within the deadline",
    ]
    assert series_of(charts["Median response time per month (days)"]) == [
        "Disposition to first response",
        "Submission to closing",
    ]
    # January: 1 of 2 answered in time; February: 1 of 3 (G's deadline of 6 March has passed)
    share_table = re.search(r"Answered within the deadline</th>(.*?)</tr>", html, re.S)
    assert share_table is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', share_table.group(1))[:2] == ["50,0%", "33,3%"]
    bars = charts["Submitted and closed per month"]
    assert len(bars.findall(f"{SVG}rect[@class='chart-bar']")) % 2 == 0  # two per month that has begun
    assert "January: submitted" in html and "January: closed or rejected" in html
    assert office_rows(html) == ["Dinkes", "Dishub", "Diskominfo"]  # 0 %, 66.7 %, nothing to count


def test_the_page_is_in_bahasa_indonesia_first(client: Any, history: dict[str, Any]) -> None:
    html = client.get(PAGE, params={"region": "35.09", "year": 2026}).text
    assert '<html lang="id">' in html
    assert "Waktu tanggap laporan warga" in html and "Dijawab dalam tenggat" in html
    assert "Januari" in html


def test_one_office_and_one_month(client: Any, history: dict[str, Any]) -> None:
    html = client.get(
        PAGE, params={"region": "35.09", "year": 2026, "office": "Dishub", "month": 1, "lang": "en"}
    ).text
    assert "Dinas Perhubungan" in html
    months = re.search(r'<table class="month-figures">.*?</table>', html, re.S)
    assert months is not None
    january = re.search(r'<tr data-month="1">(.*?)</tr>', months.group(0), re.S)
    assert january is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', january.group(1))[0] == "2"  # A and B
    # the office table for January alone: Dishub answered 1 of 2 in time, the others had nothing
    assert office_rows(html) == ["Dishub", "Dinkes", "Diskominfo"]
    assert "January 2026" in html


def test_the_region_is_the_visitors_own_by_default(
    make_client: Any, client: Any, reporting: dict[str, Any], history: dict[str, Any]
) -> None:
    pbl = make_client().login(reporting["users"]["pbl_admin"].email, reporting["password"])
    html = pbl.get(PAGE, params={"year": 2026}).text
    assert "Kota Probolinggo" in html and office_rows(html) == ["Diskominfo"]
    # anyone else: the installation's default region, else the first one (Jember)
    assert "Kabupaten Jember" in client.get(PAGE, params={"year": 2026}).text
    assert "Kota Probolinggo" in client.get(PAGE, params={"region": "35.74"}).text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"year": "1999"}, "Choose a year between 2000 and 2100."),
        ({"year": "tahun"}, "Choose a year between 2000 and 2100."),
        ({"office": "Bappeda"}, "There is no office Bappeda in this region."),
        ({"month": "13"}, "Choose a month from 1 to 12."),
    ],
)
def test_a_bad_choice_is_named_next_to_its_field(
    client: Any, history: dict[str, Any], params: dict[str, str], message: str
) -> None:
    page = client.get(PAGE, params={"region": "35.09", "lang": "en"} | params)
    assert page.status_code == 422
    assert f'<small class="error" role="alert">{message}</small>' in page.text
    assert "<svg" in page.text  # the region's figures of this year are shown all the same


def test_an_unknown_region_is_a_404_page(client: Any, reporting: dict[str, Any]) -> None:
    assert client.get(PAGE, params={"region": "99.99"}).status_code == 404
    assert client.get(PAGE, params={"region": "<script>"}).status_code == 404
