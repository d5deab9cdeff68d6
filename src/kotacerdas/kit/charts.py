"""Charts as inline SVG, drawn on the server: no JavaScript library, printable, readable without colour.

Every chart is a ``<figure>`` holding an ``<svg role="img">`` with a ``<title>`` and ``<desc>``, and a
``<details>`` data table with the same numbers for screen readers and for copying. Every label is
escaped here, so data from users (programme and dimension names) can be passed as it is. The output is
well-formed XML, which the tests rely on. Words shown on the chart (title, "no data", table headings)
are passed in by the caller already translated: this module knows nothing of languages or domains.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from markupsafe import Markup, escape

Formatter = Callable[[float], str]

MUTED = "#5b6675"
GRID = "#dde3ea"
INK = "#1c2430"
SERIES = "#0b5cab"
# colours are written into attributes: only plain forms are accepted, anything else falls back
_COLOUR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|var\(--[a-z0-9-]{1,40}\))$")
_ids = itertools.count(1)


def _percent(value: float) -> str:
    return f"{value:.1f}%"


def _colour(value: str, fallback: str = SERIES) -> str:
    return value if _COLOUR.match(value) else fallback


def _n(value: float) -> str:
    """A coordinate: short, locale-free."""
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _truncate(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 1)].rstrip() + "…"


def _chart_id() -> str:
    return f"chart-{next(_ids)}"


def _wrap(text: str, width: int, lines: int = 2) -> list[str]:
    """Break a label into at most ``lines`` lines of about ``width`` characters (the last is cut with …)."""
    words, out, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current:
        out.append(current)
    if len(out) > lines:
        out = [*out[: lines - 1], " ".join(out[lines - 1 :])]
    return [line if len(line) <= width + 4 else line[: width + 3] + "…" for line in out] or [""]


def _svg_open(chart_id: str, width: float, height: float, title: str, desc: str, css: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="{_n(width)}" height="{_n(height)}" role="img" aria-label="{escape(title)}" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>'
    )


def _table(summary: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = "".join(f'<th scope="col">{escape(h)}</th>' for h in head)
    body = "".join(
        "<tr>"
        + f'<th scope="row">{escape(row[0])}</th>'
        + "".join(f'<td class="num">{escape(c)}</td>' for c in row[1:])
        + "</tr>"
        for row in rows
    )
    return (
        f'<details class="chart-data"><summary>{escape(summary)}</summary>'
        f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table></details>"
    )


def _legend_swatch(x: float, y: float, colour: str, dashed: bool) -> str:
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    return (
        f'<line x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x + 22)}" y2="{_n(y)}" stroke="{colour}" '
        f'stroke-width="2.5"{dash}/>'
    )


# ---------------------------------------------------------------- radar


def radar_chart(
    axes: Sequence[tuple[str, float | None, str]],
    *,
    max_value: float = 100,
    size: int = 480,
    title: str = "Achievement",
    desc: str = "",
    series_label: str = "",
    compare: Sequence[float | None] | None = None,
    compare_label: str = "",
    no_data: str = "no data",
    table_label: str = "Data table",
    axis_heading: str = "",
    fmt: Formatter = _percent,
    tick_fmt: Formatter = lambda v: f"{v:g}%",
    colour: str = SERIES,
) -> Markup:
    """A spider chart of one value per axis (``(label, value or None, colour)``), scaled to ``max_value``.

    Grid rings sit at 25/50/75/100 % of ``max_value``. A missing value is drawn at the centre and its
    axis is dashed and labelled ``no_data``. ``compare`` (one value per axis, e.g. the previous year)
    is drawn as a dashed outline, with a legend naming both series.
    """
    if len(axes) < 3:
        raise ValueError("a radar chart needs at least three axes")
    if compare is not None and len(compare) != len(axes):
        raise ValueError("compare needs one value per axis")
    chart_id = _chart_id()
    colour = _colour(colour)
    n = len(axes)
    radius = size * 0.25
    line_height = 14
    label_gap = 14
    top = 3 * line_height + label_gap + 6
    cx, cy = size / 2, top + radius
    legend_h = 26 if compare is not None else 0
    height = cy + radius + label_gap + 3 * line_height + 8 + legend_h

    def point(index: int, value: float | None) -> tuple[float, float]:
        scaled = 0.0 if value is None else min(max(value, 0.0), max_value) / max_value
        angle = -math.pi / 2 + 2 * math.pi * index / n
        return cx + radius * scaled * math.cos(angle), cy + radius * scaled * math.sin(angle)

    def outline(values: Sequence[float | None]) -> str:
        return " ".join(f"{_n(x)},{_n(y)}" for x, y in (point(i, v) for i, v in enumerate(values)))

    parts = [_svg_open(chart_id, size, height, title, desc, "radar")]
    parts.append(f'<g class="grid" fill="none" stroke="{GRID}">')
    for fraction in (0.25, 0.5, 0.75, 1.0):
        parts.append(f'<polygon class="ring" points="{outline([fraction * max_value] * n)}"/>')
    parts.append("</g>")
    for i, (_label, value, _c) in enumerate(axes):
        x, y = point(i, max_value)
        dash = ' stroke-dasharray="3 3"' if value is None else ""
        parts.append(
            f'<line class="axis" x1="{_n(cx)}" y1="{_n(cy)}" x2="{_n(x)}" y2="{_n(y)}" stroke="{GRID}"{dash}/>'
        )
    between = -math.pi / 2 + math.pi / n
    for fraction in (0.25, 0.5, 0.75, 1.0):
        tx = cx + radius * fraction * math.cos(between) * math.cos(math.pi / n)
        ty = cy + radius * fraction * math.sin(between) * math.cos(math.pi / n)
        parts.append(
            f'<text class="ring-label" x="{_n(tx)}" y="{_n(ty)}" text-anchor="middle" font-size="10" '
            f'fill="{MUTED}" stroke="#fff" stroke-width="3" paint-order="stroke">'
            f"{escape(tick_fmt(fraction * max_value))}</text>"
        )
    if compare is not None:
        parts.append(
            f'<polygon class="compare" points="{outline(compare)}" fill="none" stroke="{MUTED}" '
            f'stroke-width="1.8" stroke-dasharray="5 4"/>'
        )
    values = [v for _l, v, _c in axes]
    parts.append(
        f'<polygon class="series" points="{outline(values)}" fill="{colour}" fill-opacity="0.22" '
        f'stroke="{colour}" stroke-width="2.2" stroke-linejoin="round"/>'
    )
    for i, (label, value, axis_colour) in enumerate(axes):
        x, y = point(i, value)
        shown = fmt(value) if value is not None else no_data
        parts.append(
            f'<circle class="vertex" cx="{_n(x)}" cy="{_n(y)}" r="4.5" fill="{_colour(axis_colour)}" '
            f'stroke="#fff" stroke-width="1.5"><title>{escape(label)}: {escape(shown)}</title></circle>'
        )
    for i, (label, value, axis_colour) in enumerate(axes):
        parts.append(_radar_label(i, n, cx, cy, radius + label_gap, label, value, axis_colour, fmt, no_data))
    if compare is not None:
        ly = height - 12
        parts.append(_legend_swatch(cx - 150, ly - 4, colour, False))
        parts.append(
            f'<text x="{_n(cx - 122)}" y="{_n(ly)}" font-size="12" fill="{INK}">{escape(series_label)}</text>'
        )
        parts.append(_legend_swatch(cx + 20, ly - 4, MUTED, True))
        parts.append(
            f'<text x="{_n(cx + 48)}" y="{_n(ly)}" font-size="12" fill="{INK}">{escape(compare_label)}</text>'
        )
    parts.append("</svg>")
    head = [axis_heading, series_label] + ([compare_label] if compare is not None else [])
    rows = []
    for i, (label, value, _c) in enumerate(axes):
        row = [label, fmt(value) if value is not None else no_data]
        if compare is not None:
            row.append(fmt(v) if (v := compare[i]) is not None else no_data)
        rows.append(row)
    parts.append(_table(table_label, head, rows))
    return Markup(f'<figure class="chart chart-radar">{"".join(parts)}</figure>')  # noqa: S704 - every piece is escaped above


def _radar_label(
    index: int,
    n: int,
    cx: float,
    cy: float,
    distance: float,
    label: str,
    value: float | None,
    colour: str,
    fmt: Formatter,
    no_data: str,
) -> str:
    angle = -math.pi / 2 + 2 * math.pi * index / n
    cos, sin = math.cos(angle), math.sin(angle)
    x, y = cx + distance * cos, cy + distance * sin
    anchor = "start" if cos > 0.3 else "end" if cos < -0.3 else "middle"
    lines = _wrap(label, 20)
    count = len(lines) + 1
    line_height = 14
    if sin < -0.3:
        first = y - count * line_height + 11
    elif sin > 0.3:
        first = y + 11
    else:
        first = y - count * line_height / 2 + 11
    spans = [
        f'<tspan x="{_n(x)}" y="{_n(first + k * line_height)}">{escape(line)}</tspan>'
        for k, line in enumerate(lines)
    ]
    value_y = _n(first + len(lines) * line_height)
    if value is None:
        spans.append(
            f'<tspan class="no-data" x="{_n(x)}" y="{value_y}" fill="{MUTED}" font-style="italic">'
            f"{escape(no_data)}</tspan>"
        )
    else:
        spans.append(
            f'<tspan class="value" x="{_n(x)}" y="{value_y}" font-weight="700" fill="{_colour(colour, INK)}">'
            f"{escape(fmt(value))}</tspan>"
        )
    return (
        f'<text class="axis-label" text-anchor="{anchor}" font-size="12" fill="{INK}">{"".join(spans)}</text>'
    )


# ---------------------------------------------------------------- line


class Series(NamedTuple):
    label: str
    colour: str
    values: Mapping[int, float | None]
    dashed: bool = False


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def line_chart(
    series: Sequence[tuple[str, str, Mapping[int, float | None]] | Series],
    *,
    y_max: float | None = None,
    unit: str = "%",
    width: int = 560,
    height: int = 240,
    title: str = "Trend",
    desc: str = "",
    table_label: str = "Data table",
    series_heading: str = "",
    no_data: str = "–",
    fmt: Formatter | None = None,
) -> Markup:
    """Values over years, one line per series; a year without a value leaves a gap in its line.

    The y axis starts at 0 and ends at ``y_max`` (default: 100 for percentages, else a round number
    above the largest value). A series may be ``(label, colour, {year: value})`` or a ``Series`` with
    ``dashed=True`` (e.g. a target drawn against the realisation).
    """
    lines = [Series(*s) for s in series]
    years = sorted({y for s in lines for y in s.values})
    present = [v for s in lines for v in s.values.values() if v is not None]
    largest = max(present, default=0.0)
    top_value = y_max if y_max else max(100.0, _nice_max(largest)) if unit == "%" else _nice_max(largest)
    fmt = fmt or (lambda v: f"{v:g}{unit}")
    chart_id = _chart_id()
    left, right, top, bottom = 52.0, 16.0, 12.0, 26.0
    legend_rows = _legend_layout([s.label for s in lines], width - left - right)
    total_height = height + len({r for r, _x in legend_rows}) * 20 + (6 if lines else 0)
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(index: int, value: float) -> tuple[float, float]:
        x = left + (plot_w / 2 if len(years) == 1 else plot_w * index / (len(years) - 1))
        y = top + plot_h * (1 - min(max(value, 0.0), top_value) / top_value)
        return x, y

    parts = [_svg_open(chart_id, width, total_height, title, desc, "line")]
    for k in range(5):
        tick = top_value * k / 4
        _x, y = xy(0, tick)
        parts.append(
            f'<line class="gridline" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(width - right)}" y2="{_n(y)}" '
            f'stroke="{GRID}"/>'
        )
        parts.append(
            f'<text x="{_n(left - 6)}" y="{_n(y + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{escape(fmt(tick))}</text>"
        )
    for i, year in enumerate(years):
        x, _y = xy(i, 0)
        parts.append(
            f'<text class="year" x="{_n(x)}" y="{_n(height - 8)}" text-anchor="middle" font-size="11" '
            f'fill="{MUTED}">{year}</text>'
        )
    for s in lines:
        colour = _colour(s.colour)
        path, pen_down = [], False
        for i, year in enumerate(years):
            value = s.values.get(year)
            if value is None:
                pen_down = False
                continue
            x, y = xy(i, value)
            path.append(f"{'L' if pen_down else 'M'}{_n(x)} {_n(y)}")
            pen_down = True
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(f'<g class="series" data-label="{escape(s.label)}">')
        if path:
            parts.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2.2" '
                f'stroke-linejoin="round"{dash}/>'
            )
        for i, year in enumerate(years):
            value = s.values.get(year)
            if value is None:
                continue
            x, y = xy(i, value)
            fill = "#fff" if s.dashed else colour
            parts.append(
                f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{fill}" stroke="{colour}" stroke-width="1.5">'
                f"<title>{escape(s.label)} {year}: {escape(fmt(value))}</title></circle>"
            )
        parts.append("</g>")
    for (row, offset), s in zip(legend_rows, lines, strict=True):
        y = height + 14 + row * 20
        x = left + offset
        parts.append(_legend_swatch(x, y - 4, _colour(s.colour), s.dashed))
        parts.append(
            f'<text x="{_n(x + 28)}" y="{_n(y)}" font-size="12" fill="{INK}">{escape(s.label)}</text>'
        )
    parts.append("</svg>")
    rows = [
        [s.label, *(fmt(v) if (v := s.values.get(y)) is not None else no_data for y in years)] for s in lines
    ]
    parts.append(_table(table_label, [series_heading, *(str(y) for y in years)], rows))
    return Markup(f'<figure class="chart chart-line">{"".join(parts)}</figure>')  # noqa: S704 - every piece is escaped above


def _legend_layout(labels: Sequence[str], room: float) -> list[tuple[int, float]]:
    """(row, x offset) of each legend item, wrapping to a new row when the next would not fit."""
    out: list[tuple[int, float]] = []
    row, x = 0, 0.0
    for label in labels:
        item = 28 + len(label) * 6.6 + 18
        if x > 0 and x + item > room:
            row, x = row + 1, 0.0
        out.append((row, x))
        x += item
    return out


# ---------------------------------------------------------------- bar


def bar_chart(
    rows: Sequence[tuple[str, float | None, str]],
    *,
    max_value: float | None = None,
    width: int = 480,
    title: str = "",
    desc: str = "",
    table_label: str = "Data table",
    label_heading: str = "",
    value_heading: str = "",
    no_data: str = "–",
    fmt: Formatter | None = None,
) -> Markup:
    """Horizontal bars, one per ``(label, value or None, colour)``, all scaled to ``max_value``."""
    fmt = fmt or (lambda v: f"{v:g}")
    chart_id = _chart_id()
    top_value = max_value if max_value else _nice_max(max((v or 0.0 for _l, v, _c in rows), default=0.0))
    bar_h, gap = 18, 10
    label_w = width * 0.40
    value_w = width * 0.20
    plot_w = width - label_w - value_w - 8
    height = len(rows) * (bar_h + gap) + gap
    parts = [_svg_open(chart_id, width, height, title, desc, "bars")]
    for i, (label, value, colour) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        shown = fmt(value) if value is not None else no_data
        short = _truncate(label, int(label_w / 7.2))
        parts.append(
            f'<text class="chart-bar-label" x="{_n(label_w - 8)}" y="{_n(y + 13)}" text-anchor="end" font-size="12" '
            f'fill="{INK}"><title>{escape(label)}</title>{escape(short)}</text>'
        )
        parts.append(
            f'<rect class="chart-track" x="{_n(label_w)}" y="{_n(y)}" width="{_n(plot_w)}" height="{bar_h}" '
            f'rx="3" fill="#eef2f7"/>'
        )
        length = 0.0 if value is None else plot_w * min(max(value, 0.0), top_value) / top_value
        parts.append(
            f'<rect class="chart-bar" x="{_n(label_w)}" y="{_n(y)}" width="{_n(length)}" height="{bar_h}" rx="3" '
            f'fill="{_colour(colour)}"><title>{escape(label)}: {escape(shown)}</title></rect>'
        )
        parts.append(
            f'<text class="chart-bar-value" x="{_n(label_w + length + 6)}" y="{_n(y + 13)}" font-size="12" '
            f'fill="{INK}">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    table_rows = [[label, fmt(v) if v is not None else no_data] for label, v, _c in rows]
    parts.append(_table(table_label, [label_heading, value_heading], table_rows))
    return Markup(f'<figure class="chart chart-bars">{"".join(parts)}</figure>')  # noqa: S704 - every piece is escaped above
