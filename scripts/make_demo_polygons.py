"""Build the APPROXIMATE kecamatan polygons of the demo regions (run once; the output is committed).

Real boundaries are not shipped (licensing, size). Instead each kecamatan gets the Voronoi cell of a
hand-placed point near its real centre, clipped to a rough outline of the regency drawn by hand. The
result is a valid, gap-free, non-overlapping tessellation whose pieces sit roughly where the real
kecamatan are: good enough for maps, area look-ups and charts in a demo, and labelled as such.

    .venv/bin/python scripts/make_demo_polygons.py

writes src/kotacerdas/demo/data/areas-<region code>.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPoint, Point, Polygon, mapping
from shapely.ops import unary_union, voronoi_diagram

OUT = Path(__file__).resolve().parent.parent / "src" / "kotacerdas" / "demo" / "data"
GRID = 1e-5  # about one metre: coordinates are rounded to five decimals

# (Kemendagri code, name, (lon, lat) of a point near the real centre of the kecamatan)
# fmt: off
REGIONS: dict[str, dict[str, Any]] = {
    "35.09": {
        "name": "Kabupaten Jember",
        "outline": [
            (113.27, -8.14), (113.29, -8.06), (113.40, -7.99), (113.55, -7.96), (113.68, -7.98),
            (113.76, -7.99), (113.86, -8.00), (113.96, -7.99), (114.03, -8.06), (114.05, -8.18),
            (114.02, -8.30), (113.98, -8.42), (113.93, -8.52), (113.85, -8.50), (113.76, -8.46),
            (113.72, -8.44), (113.65, -8.42), (113.58, -8.40), (113.50, -8.40), (113.43, -8.38),
            (113.36, -8.33), (113.30, -8.31), (113.26, -8.24),
        ],
        "kecamatan": [
            ("35.09.01", "Jombang", (113.31, -8.25)),
            ("35.09.02", "Kencong", (113.36, -8.29)),
            ("35.09.03", "Sumberbaru", (113.36, -8.11)),
            ("35.09.04", "Gumukmas", (113.42, -8.32)),
            ("35.09.05", "Umbulsari", (113.43, -8.26)),
            ("35.09.06", "Tanggul", (113.45, -8.14)),
            ("35.09.07", "Semboro", (113.46, -8.20)),
            ("35.09.08", "Puger", (113.48, -8.36)),
            ("35.09.09", "Bangsalsari", (113.53, -8.15)),
            ("35.09.10", "Balung", (113.54, -8.27)),
            ("35.09.11", "Wuluhan", (113.57, -8.34)),
            ("35.09.12", "Ambulu", (113.64, -8.36)),
            ("35.09.13", "Rambipuji", (113.60, -8.21)),
            ("35.09.14", "Panti", (113.60, -8.08)),
            ("35.09.15", "Sukorambi", (113.65, -8.13)),
            ("35.09.16", "Jenggawah", (113.64, -8.29)),
            ("35.09.17", "Ajung", (113.68, -8.235)),
            ("35.09.18", "Tempurejo", (113.78, -8.39)),
            ("35.09.19", "Kaliwates", (113.684, -8.180)),
            ("35.09.20", "Patrang", (113.705, -8.145)),
            ("35.09.21", "Sumbersari", (113.725, -8.180)),
            ("35.09.22", "Arjasa", (113.72, -8.09)),
            ("35.09.23", "Mumbulsari", (113.74, -8.28)),
            ("35.09.24", "Pakusari", (113.77, -8.17)),
            ("35.09.25", "Jelbuk", (113.77, -8.04)),
            ("35.09.26", "Mayang", (113.82, -8.21)),
            ("35.09.27", "Kalisat", (113.81, -8.12)),
            ("35.09.28", "Ledokombo", (113.89, -8.14)),
            ("35.09.29", "Sukowono", (113.85, -8.06)),
            ("35.09.30", "Silo", (113.93, -8.27)),
            ("35.09.31", "Sumberjambe", (113.95, -8.07)),
        ],
    },
    "35.74": {
        "name": "Kota Probolinggo",
        "outline": [
            (113.165, -7.745), (113.19, -7.735), (113.215, -7.728), (113.24, -7.735), (113.255, -7.75),
            (113.25, -7.785), (113.235, -7.81), (113.21, -7.82), (113.18, -7.815), (113.165, -7.79),
        ],
        "kecamatan": [
            ("35.74.01", "Kademangan", (113.188, -7.765)),
            ("35.74.02", "Wonoasih", (113.212, -7.800)),
            ("35.74.03", "Mayangan", (113.218, -7.745)),
            ("35.74.04", "Kanigaran", (113.238, -7.765)),
            ("35.74.05", "Kedopok", (113.182, -7.797)),
        ],
    },
    "35.17": {
        "name": "Kabupaten Jombang",
        "outline": [
            (112.06, -7.40), (112.12, -7.33), (112.25, -7.33), (112.38, -7.36), (112.42, -7.45),
            (112.42, -7.55), (112.46, -7.65), (112.44, -7.76), (112.34, -7.77), (112.24, -7.72),
            (112.14, -7.67), (112.08, -7.60), (112.10, -7.50),
        ],
        "kecamatan": [
            ("35.17.01", "Bandar Kedungmulyo", (112.13, -7.60)),
            ("35.17.02", "Perak", (112.17, -7.63)),
            ("35.17.03", "Gudo", (112.22, -7.65)),
            ("35.17.04", "Diwek", (112.25, -7.60)),
            ("35.17.05", "Ngoro", (112.27, -7.68)),
            ("35.17.06", "Mojowarno", (112.32, -7.63)),
            ("35.17.07", "Bareng", (112.31, -7.72)),
            ("35.17.08", "Wonosalam", (112.39, -7.70)),
            ("35.17.09", "Mojoagung", (112.36, -7.57)),
            ("35.17.10", "Sumobito", (112.37, -7.52)),
            ("35.17.11", "Jogoroto", (112.29, -7.58)),
            ("35.17.12", "Peterongan", (112.29, -7.54)),
            ("35.17.13", "Jombang", (112.23, -7.55)),
            ("35.17.14", "Megaluh", (112.17, -7.52)),
            ("35.17.15", "Tembelang", (112.23, -7.49)),
            ("35.17.16", "Kesamben", (112.33, -7.49)),
            ("35.17.17", "Kudu", (112.29, -7.40)),
            ("35.17.18", "Ngusikan", (112.36, -7.42)),
            ("35.17.19", "Ploso", (112.21, -7.44)),
            ("35.17.20", "Kabuh", (112.17, -7.37)),
            ("35.17.21", "Plandaan", (112.10, -7.44)),
        ],
    },
}
# fmt: on


def tessellate(outline: Polygon, sites: list[tuple[str, str, tuple[float, float]]]) -> list[Any]:
    cells = voronoi_diagram(MultiPoint([p for _, _, p in sites]), envelope=outline.buffer(1.0))
    out = []
    for code, name, (lon, lat) in sites:
        site = Point(lon, lat)
        if not outline.contains(site):
            raise SystemExit(f"{name}: its point lies outside the outline")
        cell = next(c for c in cells.geoms if c.contains(site))
        piece = shapely.set_precision(cell.intersection(outline), GRID)
        if not piece.is_valid or piece.is_empty:
            raise SystemExit(f"{name}: invalid cell")
        out.append((code, name, piece))
    return out


def main() -> None:
    for code, spec in REGIONS.items():
        outline = shapely.set_precision(Polygon(spec["outline"]), GRID)
        pieces = tessellate(outline, spec["kecamatan"])
        for i, (_, name_a, a) in enumerate(pieces):
            for _, name_b, b in pieces[i + 1 :]:
                if a.intersection(b).area > 1e-12:
                    raise SystemExit(f"{name_a} and {name_b} overlap")
        boundary = shapely.set_precision(unary_union([p for _, _, p in pieces]), GRID)
        doc = {
            "_about": (
                f"DEMO DATA: approximate kecamatan of {spec['name']} (Voronoi cells of points near the "
                "real centres, clipped to a hand-drawn outline), made by scripts/make_demo_polygons.py. "
                "Not official boundaries."
            ),
            "region": code,
            "boundary": mapping(boundary),
            "areas": [
                {"code": c, "name": n, "kind": "kecamatan", "geometry": mapping(g)} for c, n, g in pieces
            ],
        }
        path = OUT / f"areas-{code}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{path.name}: {len(pieces)} kecamatan, boundary {boundary.geom_type}")


if __name__ == "__main__":
    main()
