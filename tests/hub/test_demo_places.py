"""The demo places of Jember: valid NGSI-LD that the hub accepts, where Jember is, spread over the
kecamatan, and the roads and sensors pointing at each other."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.hub import demo, service as hub
from kotacerdas.hub.context import DEFAULT_VOCAB
from kotacerdas.hub.entity import Parser

JEMBER_BBOX = (113.2, -8.6, 114.1, -7.9)  # lon min, lat min, lon max, lat max
AREAS = Path(__file__).resolve().parents[2] / "src" / "kotacerdas" / "demo" / "data" / "areas-35.09.json"


def _kecamatan() -> set[str]:
    return {a["name"] for a in json.loads(AREAS.read_text(encoding="utf-8"))["areas"]}


def _coordinates(geometry: dict[str, Any]) -> list[list[float]]:
    coords = geometry["coordinates"]
    return [coords] if geometry["type"] == "Point" else coords


def _geometries(entity: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["value"] for a in entity.values() if isinstance(a, dict) and a.get("type") == "GeoProperty"]


def test_every_demo_entity_is_valid_normalized_ngsi_ld_with_core_terms_only() -> None:
    entities = demo.demo_entities()
    parser = Parser(hub.core_context())
    for entity in entities:
        assert "@context" not in entity
        parsed = parser.entity(entity)  # raises on anything that is not valid NGSI-LD
        # every attribute is a short name (a Smart Data Models term) that the core context expands
        for name in entity:
            if name not in ("id", "type"):
                assert ":" not in name and parser.ctx.expand(name) in parsed.attrs, name
        for name, attr in entity.items():
            if name not in ("id", "type"):
                assert attr["type"] in ("Property", "Relationship", "GeoProperty"), (entity["id"], name)
    ids = [e["id"] for e in entities]
    assert len(ids) == len(set(ids))
    for entity in entities:
        prefix = f"urn:ngsi-ld:{entity['type']}:jember:"
        assert entity["id"].startswith(prefix) and len(entity["id"]) > len(prefix)


def test_demo_entities_are_marked_as_demo_data() -> None:
    for entity in demo.demo_entities():
        assert "demo" in entity["dataProvider"]["value"] and "approximate" in entity["dataProvider"]["value"]


def test_every_coordinate_lies_in_jember() -> None:
    lon_min, lat_min, lon_max, lat_max = JEMBER_BBOX
    for entity in demo.demo_entities():
        geometries = _geometries(entity)
        assert geometries or entity["type"] == "Road", entity["id"]
        for geometry in geometries:
            for lon, lat in _coordinates(geometry):
                assert lon_min <= lon <= lon_max and lat_min <= lat <= lat_max, (entity["id"], lon, lat)


def test_each_place_lies_in_its_kecamatan() -> None:
    """Within 5 km of the demo outline of its kecamatan (the outlines are rough; beaches sit on the coast)."""
    from shapely.geometry import shape

    areas = {a["name"]: shape(a["geometry"]) for a in json.loads(AREAS.read_text(encoding="utf-8"))["areas"]}
    for entity in demo.demo_entities():
        district = entity.get("address", entity.get("zoneName", {})).get("value")
        if isinstance(district, dict):
            district = district["district"]
        if district is None:
            continue
        km = areas[district].distance(shape(entity["location"]["value"])) * 111
        assert km < 5, (entity["id"], district, round(km, 1))


def test_points_of_interest_cover_the_kecamatan_and_the_well_known_places() -> None:
    pois = [e for e in demo.demo_entities() if e["type"] == "PointOfInterest"]
    kecamatan = _kecamatan()
    districts = Counter(p["address"]["value"]["district"] for p in pois)
    assert set(districts) <= kecamatan
    assert len(districts) == len(kecamatan) == 31  # a puskesmas in every kecamatan at least
    assert districts["Kaliwates"] > 5  # the town centre is where most of them are
    for poi in pois:
        assert poi["name"]["value"] and poi["description"]["value"]
        assert poi["category"]["value"] and all(c.isdigit() for c in poi["category"]["value"])
        assert poi["address"]["value"]["addressLocality"] == "Kabupaten Jember"
        assert poi["location"]["type"] == "GeoProperty"
    names = {p["name"]["value"] for p in pois}
    for wanted in (
        "RSD dr. Soebandi",
        "RS Paru Jember",
        "RSUD Kalisat",
        "RSUD Balung",
        "Polres Jember",
        "Mal Pelayanan Publik Jember",
        "Alun-alun Jember",
        "Pantai Papuma",
        "Pantai Watu Ulo",
        "Kebun Teh Gunung Gambir",
        "Stasiun Jember",
        "Terminal Tawang Alun",
        "Rute Jember Fashion Carnaval",
    ):
        assert wanted in names
    assert sum(1 for n in names if n.startswith("Puskesmas")) >= 20
    assert sum(1 for n in names if n.startswith("Polsek")) >= 8
    route = next(p for p in pois if p["name"]["value"] == "Rute Jember Fashion Carnaval")
    assert route["location"]["value"]["type"] == "LineString"


def test_roads_segments_and_traffic_sensors_point_at_each_other() -> None:
    entities = {e["id"]: e for e in demo.demo_entities()}
    by_type = Counter(e["type"] for e in entities.values())
    assert by_type["RoadSegment"] == by_type["TrafficFlowObserved"] >= 20
    assert by_type["OffStreetParking"] >= 5 and by_type["AirQualityObserved"] >= 3
    assert by_type["WeatherObserved"] == 1
    for entity in entities.values():
        if entity["type"] == "TrafficFlowObserved":
            segment = entities[entity["refRoadSegment"]["object"]]
            assert segment["type"] == "RoadSegment"
            assert segment["location"]["value"] == entity["location"]["value"]
        elif entity["type"] == "RoadSegment":
            road = entities[entity["refRoad"]["object"]]
            assert entity["id"] in road["refRoadSegment"]["object"]
            assert entity["location"]["value"]["type"] == "LineString"
            assert entity["maximumAllowedSpeed"]["unitCode"] == "KMH" and entity["length"]["value"] > 0
        elif entity["type"] in ("AirQualityObserved", "WeatherObserved"):
            assert entities[entity["refPointOfInterest"]["object"]]["type"] == "PointOfInterest"
        elif entity["type"] == "OffStreetParking":
            assert entity["totalSpotNumber"]["value"] > 0
    names = {e["name"]["value"] for e in entities.values() if e["type"] == "Road"}
    assert {"Jl. Gajah Mada", "Jalan Nasional Jember–Lumajang", "Jalan Nasional Jember–Banyuwangi"} <= names


def test_with_a_moment_the_sensors_carry_their_first_observation() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    at = datetime(2026, 3, 4, 7, 15, tzinfo=ZoneInfo("Asia/Jakarta"))
    entities = {e["id"]: e for e in demo.demo_entities(at)}
    lippo = entities["urn:ngsi-ld:OffStreetParking:jember:lippo-plaza-jember"]
    assert (
        lippo["totalSpotNumber"]["value"]
        == lippo["availableSpotNumber"]["value"] + (lippo["occupiedSpotNumber"]["value"])
    )
    traffic = entities["urn:ngsi-ld:TrafficFlowObserved:jember:jl-gajah-mada"]
    assert traffic["intensity"]["observedAt"] == "2026-03-04T00:15:00.000Z"
    assert traffic["refRoadSegment"]["object"] == "urn:ngsi-ld:RoadSegment:jember:jl-gajah-mada"


def test_the_hub_stores_every_demo_entity(db: Session, world: dict[str, Any]) -> None:
    admin = auth.principal_for_user(world["users"]["admin"])
    entities = demo.demo_entities()
    outcome = hub.upsert_entities(
        db,
        region_id=world["jember"].id,
        principal=admin,
        entities=entities,
        ctx=hub.core_context(),
        mode="update",
    )
    db.commit()
    assert outcome.errors == []
    assert len(outcome.created) == len(entities)
    counts = hub.type_counts(db, region_id=world["jember"].id)
    wanted = Counter(DEFAULT_VOCAB + e["type"] for e in entities)
    assert counts == dict(wanted)
    papuma = hub.get_entity(
        db, region_id=world["jember"].id, entity_id="urn:ngsi-ld:PointOfInterest:jember:pantai-papuma"
    )
    assert papuma.attrs[DEFAULT_VOCAB + "zoneName"]["value"] == "Wuluhan"
