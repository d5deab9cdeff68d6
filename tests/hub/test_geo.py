"""Geo-queries (GS CIM 009 clause 4.10) on places in and around Jember, and GeoJSON validation."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from kotacerdas.hub import geo
from kotacerdas.hub.context import NGSI_LD, ContextResolver
from kotacerdas.hub.entity import Entity
from kotacerdas.hub.problems import BadRequestData, NgsiError

RESOLVER = ContextResolver(preloaded=lambda _url: None)
CTX = RESOLVER.core
LOCATION = NGSI_LD + "location"
OBSERVATION = NGSI_LD + "observationSpace"

# lon, lat
ALUN_ALUN = [113.7003, -8.1687]  # the town square
STASIUN = [113.6966, -8.1657]  # Jember railway station, about 530 m away
UNEJ = [113.7172, -8.1649]  # the university campus, about 1.9 km away
AJUNG = [113.6500, -8.2300]  # about 8.7 km south-west
PROBOLINGGO = [113.2160, -7.7540]  # about 70 km away


def square(lon: float, lat: float, half: float) -> list[list[list[float]]]:
    return [
        [
            [lon - half, lat - half],
            [lon + half, lat - half],
            [lon + half, lat + half],
            [lon - half, lat + half],
            [lon - half, lat - half],
        ]
    ]


KOTA = square(113.70, -8.17, 0.05)  # Jember town, about 11 km across


def point(coords: list[float]) -> dict[str, Any]:
    return {"type": "Point", "coordinates": coords}


def entity(value: dict[str, Any] | list[dict[str, Any]], attr: str = LOCATION, name: str = "x") -> Entity:
    values = value if isinstance(value, list) else [value]
    instances = [
        {"type": "GeoProperty", "value": v, **({"datasetId": f"urn:ds:{i}"} if len(values) > 1 else {})}
        for i, v in enumerate(values)
    ]
    return Entity(
        id=f"urn:ngsi-ld:Place:{name}",
        types=["https://uri.etsi.org/ngsi-ld/default-context/Place"],
        attrs={attr: instances[0] if len(instances) == 1 else instances},
    )


PLACES: dict[str, Entity] = {
    "alun": entity(point(ALUN_ALUN)),
    "stasiun": entity(point(STASIUN)),
    "unej": entity(point(UNEJ)),
    "ajung": entity(point(AJUNG)),
    "probolinggo": entity(point(PROBOLINGGO)),
    "kecamatan": entity({"type": "Polygon", "coordinates": square(113.70, -8.17, 0.01)}),
    "kabupaten": entity({"type": "Polygon", "coordinates": square(113.70, -8.17, 0.4)}),
    "half": entity({"type": "Polygon", "coordinates": square(113.75, -8.17, 0.05)}),
    "far": entity({"type": "Polygon", "coordinates": square(113.22, -7.75, 0.02)}),
    "same": entity(
        {"type": "Polygon", "coordinates": [[KOTA[0][2], KOTA[0][3], KOTA[0][0], KOTA[0][1], KOTA[0][2]]]}
    ),
    "jalan_dalam": entity({"type": "LineString", "coordinates": [[113.69, -8.16], [113.71, -8.18]]}),
    "jalan_keluar": entity({"type": "LineString", "coordinates": [[113.70, -8.17], [113.80, -8.17]]}),
    "dua_desa": entity(
        {"type": "MultiPolygon", "coordinates": [square(113.70, -8.17, 0.005), square(113.22, -7.75, 0.005)]}
    ),
    "halte": entity({"type": "MultiPoint", "coordinates": [STASIUN, UNEJ]}),
    "multi": entity([point(PROBOLINGGO), point(STASIUN)]),
    "observed": entity(point(ALUN_ALUN), attr=OBSERVATION),
    "nowhere": Entity(id="urn:x:nowhere", types=["T"], attrs={}),
}


def found(georel: str, geometry: str, coordinates: Any, geoproperty: str | None = None) -> set[str]:
    query = geo.parse_geoquery(georel, geometry, coordinates, geoproperty, CTX)
    assert query is not None
    return {name for name, e in PLACES.items() if query.matches(e)}


# ------------------------------------------------------------------------------------ distances


def test_geodesic_distance_matches_the_published_vincenty_example() -> None:
    # Flinders Peak to Buninyong (Vincenty 1975 / Geoscience Australia): 54 972.271 m
    lon1, lat1 = 144 + 25 / 60 + 29.52440 / 3600, -(37 + 57 / 60 + 3.72030 / 3600)
    lon2, lat2 = 143 + 55 / 60 + 35.38390 / 3600, -(37 + 39 / 60 + 10.15610 / 3600)
    assert geo.geodesic_distance(lon1, lat1, lon2, lat2) == pytest.approx(54_972.271, abs=0.01)


def test_distances_in_jember_are_ellipsoidal() -> None:
    # a thousandth of a degree of latitude near the equator is 110.6 m on the ellipsoid (111.2 m on a sphere)
    assert geo.geodesic_distance(113.70, -8.170, 113.70, -8.180) == pytest.approx(1105.9, abs=1.0)
    assert geo.geodesic_distance(113.70, -8.17, 113.71, -8.17) == pytest.approx(1101.97, abs=1.0)
    assert geo.geodesic_distance(*ALUN_ALUN, *STASIUN) == pytest.approx(530, abs=15)
    assert geo.geodesic_distance(*ALUN_ALUN, *PROBOLINGGO) == pytest.approx(70_100, rel=0.01)
    assert geo.geodesic_distance(0.0, 0.0, 179.5, 0.5) > 19_000_000  # nearly antipodal still answers


# ------------------------------------------------------------------------------------------ near


def test_near_max_distance_from_a_point() -> None:
    # the diagonal street passes about 125 m from the square; the polygons around it are at 0 m
    assert found("near;maxDistance==100", "Point", ALUN_ALUN) >= {"alun", "kecamatan", "same", "half"}
    assert "jalan_dalam" not in found("near;maxDistance==100", "Point", ALUN_ALUN)
    assert "jalan_dalam" in found("near;maxDistance==200", "Point", ALUN_ALUN)
    near = found("near;maxDistance==1000", "Point", ALUN_ALUN)
    assert {"alun", "stasiun", "multi"} <= near
    assert not near & {"unej", "ajung", "probolinggo", "far", "observed", "nowhere"}
    assert "unej" in found("near;maxDistance==2500", "Point", ALUN_ALUN)
    assert "probolinggo" in found("near;maxDistance==75000", "Point", ALUN_ALUN)


def test_near_min_distance_from_a_point() -> None:
    far = found("near;minDistance==5000", "Point", ALUN_ALUN)
    assert {"ajung", "probolinggo", "far"} <= far
    assert not far & {"alun", "stasiun", "unej", "kecamatan", "halte", "nowhere", "observed"}
    # an entity with two locations matches when any of them does: multi is also in Probolinggo
    assert "multi" in far
    assert "multi" not in found("near;minDistance==80000", "Point", STASIUN)


def test_near_results_can_be_sorted_by_distance() -> None:
    query = geo.parse_geoquery("near;maxDistance==100000", "Point", "[113.7003,-8.1687]", None, CTX)
    assert query is not None and query.sorts_by_distance
    names = ["unej", "probolinggo", "stasiun", "ajung"]
    names.sort(key=lambda name: query.distance_to(PLACES[name]) or 0.0)
    assert names == ["stasiun", "unej", "ajung", "probolinggo"]
    assert query.distance_to(PLACES["nowhere"]) is None
    assert query.distance_to(PLACES["kecamatan"]) == 0.0
    assert query.distance_to(PLACES["multi"]) == pytest.approx(530, abs=15)


def test_near_measures_from_the_nearest_point_of_a_line() -> None:
    # 019_30_09/10: a point 0.009 degrees north of the end of a long line is about 1 km away from it
    probe = entity(point([10, 60.009]))
    line_60 = geo.parse_geoquery("near;maxDistance==2000", "LineString", "[[0,60],[10,60]]", None, CTX)
    line_61 = geo.parse_geoquery("near;maxDistance==2000", "LineString", "[[0,61],[10,61]]", None, CTX)
    assert line_60 is not None and line_61 is not None
    assert line_60.matches(probe) and not line_61.matches(probe)
    # and from a street of Jember to the station next to it
    street = geo.parse_geoquery(  # the station is about 730 m east of this street, the campus 3 km
        "near;maxDistance==800", "LineString", [[113.6900, -8.1700], [113.6900, -8.1600]], None, CTX
    )
    assert street is not None
    assert street.matches(PLACES["stasiun"]) and not street.matches(PLACES["unej"])


def test_near_picks_the_metrically_nearest_point_at_high_latitude() -> None:
    # 019_30_11/12: at 85 degrees north a degree of longitude is 9.7 km, a degree of latitude 111 km
    probe = entity({"type": "LineString", "coordinates": [[1, 85], [0, 85.6]]})
    wide = geo.parse_geoquery("near;maxDistance==20000", "Point", "[0,85]", None, CTX)
    narrow = geo.parse_geoquery("near;maxDistance==5000", "Point", "[0,85]", None, CTX)
    assert wide is not None and narrow is not None
    assert wide.matches(probe) and not narrow.matches(probe)


def test_near_from_a_polygon_measures_from_its_edge() -> None:
    query = geo.parse_geoquery("near;maxDistance==2000", "Polygon", square(113.60, -8.17, 0.03), None, CTX)
    assert query is not None
    # the polygon ends at 113.63: the square, at 113.70, is 7.7 km east of its edge
    assert not query.matches(PLACES["alun"])
    assert query.matches(entity(point([113.64, -8.17])))  # about 1.1 km from the edge
    assert query.matches(entity(point([113.60, -8.17])))  # inside


# ----------------------------------------------------------------------------- spatial relations


def test_within_a_polygon() -> None:
    # an equal polygon is within; multi is within through its station location
    assert found("within", "Polygon", KOTA) == {
        "alun",
        "stasiun",
        "unej",
        "kecamatan",
        "same",
        "jalan_dalam",
        "halte",
        "multi",
    }


def test_a_point_in_a_hole_is_not_within() -> None:
    holed = [KOTA[0], square(113.70, -8.17, 0.005)[0]]
    inside = found("within", "Polygon", holed)
    assert not inside & {"alun", "stasiun", "kecamatan"}  # in the hole (or across its edge)
    assert "unej" in inside


def test_contains() -> None:
    # half spans 113.70-113.80, so the square (113.7003) is just inside it
    assert found("contains", "Point", ALUN_ALUN) == {
        "alun",
        "kecamatan",
        "kabupaten",
        "half",
        "same",
        "dua_desa",
    }
    assert found("contains", "Polygon", KOTA) == {"kabupaten", "same"}


def test_intersects() -> None:
    hit = found("intersects", "Polygon", KOTA)
    assert {
        "alun",
        "kecamatan",
        "kabupaten",
        "half",
        "same",
        "jalan_dalam",
        "jalan_keluar",
        "dua_desa",
        "multi",
    } <= hit
    assert not hit & {"probolinggo", "far", "ajung", "observed", "nowhere"}


def test_disjoint() -> None:
    apart = found("disjoint", "Polygon", KOTA)
    assert apart == {"ajung", "probolinggo", "far", "multi"}  # multi: its Probolinggo location is apart


def test_equals() -> None:
    assert found("equals", "Polygon", KOTA) == {"same"}
    assert found("equals", "Point", ALUN_ALUN) == {"alun"}


def test_overlaps() -> None:
    # dua_desa has one village inside the town and one outside it
    assert found("overlaps", "Polygon", KOTA) == {"half", "dua_desa"}
    assert found("overlaps", "MultiPoint", [STASIUN, PROBOLINGGO]) == {"halte"}


def test_multipolygon_and_linestring_references() -> None:
    two_towns = [square(113.70, -8.17, 0.05), square(113.22, -7.75, 0.05)]
    assert {"alun", "probolinggo", "far", "dua_desa"} <= found("within", "MultiPolygon", two_towns)
    assert "ajung" not in found("within", "MultiPolygon", two_towns)
    road = [[113.60, -8.17], [113.80, -8.17]]
    assert found("intersects", "LineString", road) >= {
        "kecamatan",
        "kabupaten",
        "jalan_dalam",
        "jalan_keluar",
    }
    assert found("within", "MultiLineString", [road]) == {"jalan_keluar"}


def test_geoproperty_selects_the_target() -> None:
    assert found("near;maxDistance==10", "Point", ALUN_ALUN, "observationSpace") == {"observed"}
    assert "observed" not in found("near;maxDistance==10", "Point", ALUN_ALUN)
    query = geo.parse_geoquery("within", "Polygon", KOTA, "observationSpace", CTX)
    assert query is not None and query.geoproperty == OBSERVATION


# ------------------------------------------------------------------------------ bounding boxes


def _intersects(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[2] and a[2] >= b[0] and a[1] <= b[3] and a[3] >= b[1]


def test_bbox_per_relation() -> None:
    near = geo.parse_geoquery("near;maxDistance==1000", "Point", ALUN_ALUN, None, CTX)
    assert near is not None
    box = near.bbox()
    assert box is not None
    assert box[0] < ALUN_ALUN[0] < box[2] and box[1] < ALUN_ALUN[1] < box[3]
    assert 0.009 < box[3] - ALUN_ALUN[1] < 0.0095  # 1 km is 0.00904 degrees of latitude here
    for georel in ("within", "contains", "intersects", "equals", "overlaps"):
        query = geo.parse_geoquery(georel, "Polygon", KOTA, None, CTX)
        assert query is not None and query.bbox() == pytest.approx((113.65, -8.22, 113.75, -8.12))
    for georel in ("disjoint", "near;minDistance==10"):
        query = geo.parse_geoquery(georel, "Polygon", KOTA, None, CTX)
        assert query is not None and query.bbox() is None
    polar = geo.parse_geoquery("near;maxDistance==50000", "Point", "[10,89.9]", None, CTX)
    assert polar is not None and polar.bbox() == pytest.approx((-180.0, 89.45, 180.0, 90.0), abs=0.01)
    dateline = geo.parse_geoquery("near;maxDistance==50000", "Point", "[179.9,-8]", None, CTX)
    assert dateline is not None and (dateline.bbox() or (0, 0, 0, 0))[0] == -180.0


@settings(max_examples=300, deadline=None)
@given(
    lon=st.floats(113.0, 114.5),
    lat=st.floats(-8.9, -7.5),
    distance=st.floats(1.0, 60_000.0),
    target=st.lists(st.tuples(st.floats(112.5, 115.0), st.floats(-9.5, -7.0)), min_size=1, max_size=4),
    shape=st.sampled_from(["Point", "MultiPoint", "LineString"]),
)
def test_every_near_match_intersects_the_bbox(
    lon: float, lat: float, distance: float, target: list[tuple[float, float]], shape: str
) -> None:
    query = geo.parse_geoquery(f"near;maxDistance=={distance:.3f}", "Point", [lon, lat], None, CTX)
    assert query is not None
    if shape == "Point":
        value: dict[str, Any] = point(list(target[0]))
    elif shape == "LineString" and len(target) >= 2:
        value = {"type": "LineString", "coordinates": [list(p) for p in target]}
    else:
        value = {"type": "MultiPoint", "coordinates": [list(p) for p in target]}
    e = entity(value)
    box = query.bbox()
    assert box is not None
    if query.matches(e):
        assert _intersects(geo.geometry_bbox(value), box)


@settings(max_examples=150, deadline=None)
@given(
    lon=st.floats(113.0, 114.5),
    lat=st.floats(-8.9, -7.5),
    half=st.floats(0.001, 0.3),
    georel=st.sampled_from(["within", "contains", "intersects", "equals", "overlaps"]),
    other=st.tuples(st.floats(112.5, 115.0), st.floats(-9.5, -7.0), st.floats(0.001, 0.5)),
)
def test_every_polygon_match_intersects_the_bbox(
    lon: float, lat: float, half: float, georel: str, other: tuple[float, float, float]
) -> None:
    query = geo.parse_geoquery(georel, "Polygon", square(lon, lat, half), None, CTX)
    assert query is not None
    value = {"type": "Polygon", "coordinates": square(*other)}
    box = query.bbox()
    assert box is not None
    if query.matches(entity(value)):
        assert _intersects(geo.geometry_bbox(value), box)


# ---------------------------------------------------------------------------------------- parsing


def test_no_geo_parameters_is_no_query() -> None:
    assert geo.parse_geoquery(None, None, None, None, CTX) is None
    assert geo.parse_geoquery("", "", "", None, CTX) is None
    assert geo.parse_geoquery(None, None, None, "location", CTX) is None


def test_coordinates_can_be_an_array_or_its_json() -> None:
    from_text = geo.parse_geoquery(
        "within", "Polygon", "[[[113.65,-8.22],[113.75,-8.22],[113.75,-8.12],[113.65,-8.22]]]", None, CTX
    )
    from_list = geo.parse_geoquery(
        "within", "polygon", [[[113.65, -8.22], [113.75, -8.22], [113.75, -8.12], [113.65, -8.22]]], None, CTX
    )
    assert from_text is not None and from_list is not None
    assert from_text.geometry == from_list.geometry
    assert from_text.geoproperty == LOCATION


INVALID = [
    ("within", "Polygon", None),
    (None, "Point", "[113.7,-8.17]"),
    ("within", None, "[113.7,-8.17]"),
    ("near;maxDistance==0", "Point", "[8,40]"),
    ("near;maxDistance==-100", "Point", "[8,40]"),
    ("near;maxDistance==5;minDistance==1", "Point", "[8,40]"),
    ("near", "Point", "[8,40]"),
    ("near;maxDistance:100", "Point", "[8,40]"),
    ("near;maxDistance==abc", "Point", "[8,40]"),
    ("near;maxDistance==inf", "Point", "[8,40]"),
    ("near;maxDistance==1e400", "Point", "[8,40]"),
    ("near;maxDistance==NaN", "Point", "[8,40]"),
    ("near;distance==100", "Point", "[8,40]"),
    ("touches", "Point", "[8,40]"),
    ("WITHIN", "Point", "[8,40]"),
    ("within", "GeometryCollection", "[]"),
    ("within", "Circle", "[8,40]"),
    ("within", "Point", "8,40"),
    ("within", "Point", "[8]"),
    ("within", "Point", "[8,40,1,2]"),
    ("within", "Point", "[-8.17,113.70]"),
    ("within", "Point", "[181,0]"),
    ("within", "Point", '["8","40"]'),
    ("within", "Point", "[true,40]"),
    ("within", "Point", "{}"),
    ("within", "Point", "[[8,40]]"),
    ("within", "LineString", "[[8,40]]"),
    ("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]"),
    ("within", "Polygon", "[[[0,0],[1,0],[0,0]]]"),
    ("within", "Polygon", "[[[0,0],[1,1],[1,0],[0,1],[0,0]]]"),
    ("within", "Polygon", "[]"),
    ("within", "MultiPolygon", "[[]]"),
    ("within", "MultiPoint", "[]"),
]


@pytest.mark.parametrize(("georel", "geometry", "coordinates"), INVALID)
def test_invalid_geoqueries_are_bad_request_data(
    georel: str | None, geometry: str | None, coordinates: Any
) -> None:
    with pytest.raises(BadRequestData):
        geo.parse_geoquery(georel, geometry, coordinates, None, CTX)


def test_bad_geoproperty_name() -> None:
    with pytest.raises(BadRequestData):
        geo.parse_geoquery("within", "Point", "[1,2]", "loc ation", CTX)


@settings(max_examples=300, deadline=None)
@given(
    georel=st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["within", "near;maxDistance==10"])),
    geometry=st.one_of(st.none(), st.text(max_size=12), st.sampled_from(list(geo.GEOMETRY_TYPES))),
    coordinates=st.one_of(st.none(), st.text(alphabet="[],.-0123456789e ", max_size=60)),
)
def test_random_parameters_are_parsed_or_refused_cleanly(
    georel: Any, geometry: Any, coordinates: Any
) -> None:
    try:
        query = geo.parse_geoquery(georel, geometry, coordinates, None, CTX)
    except NgsiError:
        return
    if query is not None:
        for place in PLACES.values():
            query.matches(place)
        query.bbox()


# ----------------------------------------------------------------------------- stored geometries


def test_validate_geometry_accepts_every_geojson_type() -> None:
    for value in [
        point(ALUN_ALUN),
        point([113.7, -8.17, 87.5]),
        {"type": "MultiPoint", "coordinates": [STASIUN, UNEJ]},
        {"type": "LineString", "coordinates": [STASIUN, UNEJ]},
        {"type": "MultiLineString", "coordinates": [[STASIUN, UNEJ], [ALUN_ALUN, AJUNG]]},
        {"type": "Polygon", "coordinates": KOTA},
        {"type": "MultiPolygon", "coordinates": [KOTA, square(113.22, -7.75, 0.02)]},
    ]:
        assert geo.validate_geometry(value) is value


@pytest.mark.parametrize(
    "value",
    [
        None,
        [113.7, -8.17],
        {"type": "Point"},
        {"type": "Point", "coordinates": None},
        {"type": "Point", "coordinates": [113.7, -98.0]},
        {"type": "Point", "coordinates": [math.inf, 0]},
        {"type": "Point", "coordinates": [False, 0]},
        {"type": "GeometryCollection", "geometries": []},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}},
        {"type": "LineString", "coordinates": [[1, 2]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
        {"type": "MultiPolygon", "coordinates": []},
    ],
)
def test_validate_geometry_refuses_invalid_geojson(value: Any) -> None:
    with pytest.raises(BadRequestData):
        geo.validate_geometry(value)


def test_geometry_bbox() -> None:
    assert geo.geometry_bbox(point(ALUN_ALUN)) == (113.7003, -8.1687, 113.7003, -8.1687)
    assert geo.geometry_bbox({"type": "Polygon", "coordinates": KOTA}) == pytest.approx(
        (113.65, -8.22, 113.75, -8.12)
    )
    assert geo.geometry_bbox({"type": "MultiPoint", "coordinates": [STASIUN, PROBOLINGGO]}) == (
        113.216,
        -8.1657,
        113.6966,
        -7.754,
    )


def test_a_self_crossing_stored_polygon_is_still_judged() -> None:
    bowtie = entity(
        {
            "type": "Polygon",
            "coordinates": [[[113.6, -8.2], [113.8, -8.1], [113.8, -8.2], [113.6, -8.1], [113.6, -8.2]]],
        }
    )
    near = geo.parse_geoquery("within", "Polygon", KOTA, None, CTX)
    apart = geo.parse_geoquery("disjoint", "Point", PROBOLINGGO, None, CTX)
    assert near is not None and apart is not None
    near.matches(bowtie)  # no error
    assert apart.matches(bowtie)
