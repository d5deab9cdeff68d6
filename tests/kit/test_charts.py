"""The server-drawn charts: well-formed SVG, the geometry right, every label escaped, a data table."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from kotacerdas.kit.charts import Series, bar_chart, line_chart, radar_chart

SVG = "{http://www.w3.org/2000/svg}"
SIX = [
    ("Smart Governance", 80.0, "#0b5cab"),
    ("Smart Branding", 50.0, "#8e44ad"),
    ("Smart Economy", None, "#c27c0e"),
    ("Smart Living", 100.0, "#1e8e6e"),
    ("Smart Society", 25.0, "#d35400"),
    ("Smart Environment", 130.0, "#2e7d32"),
]


def parse(markup: object) -> ET.Element:
    """The whole figure parses as XML (no HTML-only entities or unclosed tags)."""
    return ET.fromstring(str(markup))  # noqa: S314 - our own chart output, not untrusted input


def points(polygon: ET.Element | None) -> list[tuple[float, float]]:
    assert polygon is not None
    return [(float(x), float(y)) for x, y in (p.split(",") for p in polygon.get("points", "").split())]


def test_radar_has_one_vertex_per_axis_scaled_to_the_maximum():
    figure = parse(radar_chart(SIX, title="Capaian 2026", desc="per dimensi"))
    svg = figure.find(f"{SVG}svg")
    assert svg is not None and svg.get("role") == "img" and svg.get("aria-label") == "Capaian 2026"
    assert svg.findtext(f"{SVG}title") == "Capaian 2026" and svg.findtext(f"{SVG}desc") == "per dimensi"
    series = points(svg.find(f".//{SVG}polygon[@class='series']"))
    rings = svg.findall(f".//{SVG}polygon[@class='ring']")
    assert len(series) == 6 and len(rings) == 4  # 25, 50, 75 and 100 %
    outer = points(rings[-1])
    cx = sum(x for x, _y in outer) / 6
    cy = sum(y for _x, y in outer) / 6
    radius = math.dist((cx, cy), outer[0])
    expected = [0.8, 0.5, 0.0, 1.0, 0.25, 1.0]  # missing at the centre, 130 % clipped to the edge
    for (x, y), fraction in zip(series, expected, strict=True):
        assert math.dist((cx, cy), (x, y)) == pytest.approx(radius * fraction, abs=0.15)
    for ring, fraction in zip(rings, (0.25, 0.5, 0.75, 1.0), strict=True):
        assert math.dist((cx, cy), points(ring)[0]) == pytest.approx(radius * fraction, abs=0.15)
    assert series[0][0] == pytest.approx(cx, abs=0.15) and series[0][1] < cy  # the first axis points up
    assert len(svg.findall(f".//{SVG}circle[@class='vertex']")) == 6


def test_radar_marks_missing_values_and_draws_the_comparison_dashed_with_a_legend():
    figure = parse(
        radar_chart(
            SIX,
            compare=[70, 40, 10, None, 20, 90],
            series_label="2026",
            compare_label="2025",
            no_data="tidak ada data",
        )
    )
    svg = figure.find(f"{SVG}svg")
    assert svg is not None
    labels = [" ".join(t.itertext()) for t in svg.findall(f".//{SVG}text[@class='axis-label']")]
    assert len(labels) == 6 and labels[2] == "Smart Economy tidak ada data"
    assert labels[0] == "Smart Governance 80.0%"
    dashed_axes = [a for a in svg.findall(f".//{SVG}line[@class='axis']") if a.get("stroke-dasharray")]
    assert len(dashed_axes) == 1
    compare = svg.find(f".//{SVG}polygon[@class='compare']")
    assert compare is not None and compare.get("stroke-dasharray") and len(points(compare)) == 6
    texts = [t.text for t in svg.findall(f"{SVG}text")]
    assert "2026" in texts and "2025" in texts
    rows = [[c.text or "" for c in row] for row in figure.iter("tr")]
    assert rows[0] == ["", "2026", "2025"]
    assert rows[3] == ["Smart Economy", "tidak ada data", "10.0%"] and rows[4][2] == "tidak ada data"


def test_every_label_is_escaped():
    hostile = '<script>alert("x")</script> & Co'
    axes = [(hostile, 10.0, "#000"), ("B", 20.0, 'red" onload="x'), ("C", 30.0, "#111")]
    for markup in (
        radar_chart(axes, title=hostile),
        line_chart([(hostile, "#000", {2024: 1.0})], title=hostile),
        bar_chart(axes, title=hostile),
    ):
        text = str(markup)
        assert "<script>" not in text and 'onload="x' not in text
        figure = parse(markup)
        assert any(hostile in "".join(el.itertext()) for el in figure.iter())


def test_a_radar_needs_three_axes_and_one_compared_value_per_axis():
    with pytest.raises(ValueError):
        radar_chart(SIX[:2])
    with pytest.raises(ValueError):
        radar_chart(SIX, compare=[1, 2])


def test_line_chart_leaves_gaps_where_a_year_has_no_value():
    figure = parse(
        line_chart(
            [
                ("Realisasi", "#0b5cab", {2024: 20.0, 2025: None, 2026: 50.0, 2027: 60.0}),
                Series("Target", "#5b6675", {2024: 25.0, 2025: 50.0, 2026: 75.0, 2027: 100.0}, dashed=True),
            ],
            height=240,
        )
    )
    svg = figure.find(f"{SVG}svg")
    assert svg is not None
    groups = svg.findall(f"{SVG}g[@class='series']")
    real_path = groups[0].find(f"{SVG}path")
    target_path = groups[1].find(f"{SVG}path")
    assert real_path is not None and target_path is not None
    assert real_path.get("d", "").count("M") == 2 and target_path.get("d", "").count("M") == 1
    assert target_path.get("stroke-dasharray") and not real_path.get("stroke-dasharray")
    assert len(groups[0].findall(f"{SVG}circle")) == 3
    # y from 0 (bottom of the plot) to 100 (top): 50 % lies halfway
    ys = {
        c.findtext(f"{SVG}title"): float(c.get("cy", "0")) for g in groups for c in g.findall(f"{SVG}circle")
    }
    top, bottom = (
        ys["Target 2027: 100%"],
        ys["Target 2024: 25%"] + (ys["Target 2024: 25%"] - ys["Target 2025: 50%"]),
    )
    assert ys["Realisasi 2026: 50%"] == pytest.approx((top + bottom) / 2, abs=0.15)
    years = [t.text for t in svg.findall(f"{SVG}text[@class='year']")]
    assert years == ["2024", "2025", "2026", "2027"]
    cells = [[c.text for c in row] for row in figure.iter("tr")]
    assert cells[1] == ["Realisasi", "20%", "–", "50%", "60%"]


def test_line_chart_scales_other_units_to_a_round_maximum():
    svg = parse(line_chart([("Halte", "#000", {2024: 37.0, 2025: 180.0})], unit=" halte")).find(f"{SVG}svg")
    assert svg is not None
    ticks = [t.text for t in svg.findall(f"{SVG}text[@text-anchor='end']")]
    assert ticks == ["0 halte", "50 halte", "100 halte", "150 halte", "200 halte"]


def test_bar_chart_bars_are_proportional_and_a_missing_value_has_no_bar():
    figure = parse(bar_chart([("A", 2.0, "#000"), ("B", 8.0, "#111"), ("C", None, "#222")], max_value=8))
    svg = figure.find(f"{SVG}svg")
    assert svg is not None
    bars = [float(b.get("width", "0")) for b in svg.findall(f"{SVG}rect[@class='chart-bar']")]
    tracks = [float(b.get("width", "0")) for b in svg.findall(f"{SVG}rect[@class='chart-track']")]
    assert bars[0] == pytest.approx(tracks[0] / 4, abs=0.15) and bars[1] == pytest.approx(tracks[1], abs=0.15)
    assert bars[2] == 0
    assert [t.text for t in svg.findall(f"{SVG}text[@class='chart-bar-value']")] == ["2", "8", "–"]


def test_each_chart_has_its_own_ids():
    first, second = str(radar_chart(SIX)), str(radar_chart(SIX))
    ids = re.findall(r'<title id="([^"]+)"', first + second)
    assert len(ids) == 2 and ids[0] != ids[1]
