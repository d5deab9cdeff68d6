"""Demo places of the hub: Jember's real places, roads and sensors as NGSI-LD entities.

DEMO DATA. The places are real, but every coordinate is approximate (placed by hand), the spot
counts and road capacities are estimates, and the stations are invented: good enough for maps,
geo-queries and the simulator, never an official register. Each entity says so in its ``dataProvider``.

``demo_entities()`` gives normalized NGSI-LD entities (no ``@context`` member: every attribute is a
short name of the Smart Data Models, which expands under the core context's default vocabulary),
ready for ``hub.service.upsert_entities``. The simulator (``kotacerdas.hub.simulate``) reads the same
files to know which sensors exist. Ids are ``urn:ngsi-ld:<Type>:jember:<slug>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import orjson

REGION_CODE = "35.09"
REGION_SLUG = "jember"
SOURCE = "kotacerdas demo data (approximate, not official)"
ADDRESS_LOCALITY = "Kabupaten Jember"
ADDRESS_REGION = "Jawa Timur"

Lonlat = tuple[float, float]


def entity_id(type_: str, slug: str) -> str:
    return f"urn:ngsi-ld:{type_}:{REGION_SLUG}:{slug}"


@dataclass(frozen=True, slots=True)
class Place:
    slug: str
    name: str
    category: tuple[str, ...]
    description: str
    district: str
    street: str | None
    geometry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Segment:
    slug: str
    name: str
    road: str
    road_name: str
    district: str
    lanes: int
    max_speed: float
    capacity: float
    free_speed: float
    busy: float
    urban: bool
    line: tuple[Lonlat, ...]

    @property
    def length_km(self) -> float:
        return sum(_distance_km(a, b) for a, b in zip(self.line, self.line[1:], strict=False))


@dataclass(frozen=True, slots=True)
class Road:
    slug: str
    name: str
    road_class: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Parking:
    slug: str
    name: str
    kind: str
    total: int
    district: str
    street: str | None
    location: Lonlat
    category: tuple[str, ...]
    layout: tuple[str, ...]
    opening_hours: str


@dataclass(frozen=True, slots=True)
class Station:
    slug: str
    name: str
    district: str
    location: Lonlat
    poi: str
    traffic: float = 0.0
    background: float = 0.0


def _read(name: str) -> dict[str, Any]:
    data = resources.files("kotacerdas.hub").joinpath(f"demo_data/{name}").read_bytes()
    doc: dict[str, Any] = orjson.loads(data)
    return doc


def _lonlat(value: Any) -> Lonlat:
    return (float(value[0]), float(value[1]))


@cache
def places() -> tuple[Place, ...]:
    out = []
    for p in _read("places.json")["places"]:
        if "line" in p:
            geometry: dict[str, Any] = {"type": "LineString", "coordinates": [list(c) for c in p["line"]]}
        else:
            geometry = {"type": "Point", "coordinates": list(_lonlat(p["location"]))}
        out.append(
            Place(
                slug=p["slug"],
                name=p["name"],
                category=tuple(p["category"]),
                description=p["description"],
                district=p["district"],
                street=p.get("street"),
                geometry=geometry,
            )
        )
    return tuple(out)


@cache
def roads() -> tuple[Road, ...]:
    out = []
    for r in _read("roads.json")["roads"]:
        segments = tuple(
            Segment(
                slug=s["slug"],
                name=s["name"],
                road=r["slug"],
                road_name=r["name"],
                district=s["district"],
                lanes=int(s["lanes"]),
                max_speed=float(s["maxSpeed"]),
                capacity=float(s["capacity"]),
                free_speed=float(s["freeSpeed"]),
                busy=float(s["busy"]),
                urban=bool(s["urban"]),
                line=tuple(_lonlat(c) for c in s["line"]),
            )
            for s in r["segments"]
        )
        out.append(Road(slug=r["slug"], name=r["name"], road_class=r["roadClass"], segments=segments))
    return tuple(out)


def segments() -> tuple[Segment, ...]:
    return tuple(s for r in roads() for s in r.segments)


@cache
def parking() -> tuple[Parking, ...]:
    return tuple(
        Parking(
            slug=p["slug"],
            name=p["name"],
            kind=p["kind"],
            total=int(p["totalSpotNumber"]),
            district=p["district"],
            street=p.get("street"),
            location=_lonlat(p["location"]),
            category=tuple(p["category"]),
            layout=tuple(p["layout"]),
            opening_hours=p["openingHours"],
        )
        for p in _read("parking.json")["parking"]
    )


@cache
def _stations_doc() -> dict[str, Any]:
    return _read("stations.json")


def air_stations() -> tuple[Station, ...]:
    return tuple(
        Station(
            slug=s["slug"],
            name=s["name"],
            district=s["district"],
            location=_lonlat(s["location"]),
            poi=s["poi"],
            traffic=float(s["traffic"]),
            background=float(s["background"]),
        )
        for s in _stations_doc()["air"]
    )


def weather_stations() -> tuple[Station, ...]:
    return tuple(
        Station(
            slug=s["slug"],
            name=s["name"],
            district=s["district"],
            location=_lonlat(s["location"]),
            poi=s["poi"],
        )
        for s in _stations_doc()["weather"]
    )


def ispu_pm25() -> tuple[tuple[float, float, float, float, str], ...]:
    """PM2.5 breakpoints of the ISPU index (data, not a constant: see stations.json)."""
    return tuple(
        (float(a), float(b), float(c), float(d), str(e)) for a, b, c, d, e in _stations_doc()["ispu_pm25"]
    )


def _distance_km(a: Lonlat, b: Lonlat) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


# ----------------------------------------------------------------------------------- entities


def _prop(value: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **extra}


def _rel(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def _geo(geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": geometry}


def _point(lonlat: Lonlat) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lonlat[0], lonlat[1]]}


def _address(district: str, street: str | None) -> dict[str, Any]:
    address = {
        "district": district,
        "addressLocality": ADDRESS_LOCALITY,
        "addressRegion": ADDRESS_REGION,
        "addressCountry": "ID",
    }
    if street:
        address = {"streetAddress": street, **address}
    return _prop(address)


def _common(name: str, district: str, street: str | None) -> dict[str, Any]:
    return {"name": _prop(name), "address": _address(district, street), "dataProvider": _prop(SOURCE)}


def _poi(p: Place) -> dict[str, Any]:
    return {
        "id": entity_id("PointOfInterest", p.slug),
        "type": "PointOfInterest",
        **_common(p.name, p.district, p.street),
        "description": _prop(p.description),
        "category": _prop(list(p.category)),
        "zoneName": _prop(p.district),
        "location": _geo(p.geometry),
    }


def _road(r: Road) -> dict[str, Any]:
    return {
        "id": entity_id("Road", r.slug),
        "type": "Road",
        "name": _prop(r.name),
        "roadClass": _prop(r.road_class),
        "refRoadSegment": {
            "type": "Relationship",
            "object": [entity_id("RoadSegment", s.slug) for s in r.segments],
        },
        "length": _prop(round(sum(s.length_km for s in r.segments), 2), unitCode="KMT"),
        "dataProvider": _prop(SOURCE),
    }


def _line(s: Segment) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [[lon, lat] for lon, lat in s.line]}


def _segment(s: Segment) -> dict[str, Any]:
    return {
        "id": entity_id("RoadSegment", s.slug),
        "type": "RoadSegment",
        "name": _prop(s.name),
        "refRoad": _rel(entity_id("Road", s.road)),
        "location": _geo(_line(s)),
        "startPoint": _geo(_point(s.line[0])),
        "endPoint": _geo(_point(s.line[-1])),
        "totalLaneNumber": _prop(s.lanes),
        "maximumAllowedSpeed": _prop(s.max_speed, unitCode="KMH"),
        "length": _prop(round(s.length_km, 2), unitCode="KMT"),
        "zoneName": _prop(s.district),
        "dataProvider": _prop(SOURCE),
    }


def _traffic_sensor(s: Segment) -> dict[str, Any]:
    return {
        "id": entity_id("TrafficFlowObserved", s.slug),
        "type": "TrafficFlowObserved",
        "name": _prop(f"Sensor lalu lintas {s.name}"),
        "refRoadSegment": _rel(entity_id("RoadSegment", s.slug)),
        "location": _geo(_line(s)),
        "zoneName": _prop(s.district),
        "dataProvider": _prop(SOURCE),
    }


def _parking(p: Parking) -> dict[str, Any]:
    return {
        "id": entity_id("OffStreetParking", p.slug),
        "type": "OffStreetParking",
        **_common(p.name, p.district, p.street),
        "location": _geo(_point(p.location)),
        "totalSpotNumber": _prop(p.total),
        "category": _prop(list(p.category)),
        "layout": _prop(list(p.layout)),
        "allowedVehicleType": _prop(["car"]),
        "openingHours": _prop(p.opening_hours),
    }


def _air_station(s: Station) -> dict[str, Any]:
    return {
        "id": entity_id("AirQualityObserved", s.slug),
        "type": "AirQualityObserved",
        **_common(s.name, s.district, None),
        "location": _geo(_point(s.location)),
        "typeofLocation": _prop("outdoor"),
        "refPointOfInterest": _rel(entity_id("PointOfInterest", s.poi)),
    }


def _weather_station(s: Station) -> dict[str, Any]:
    return {
        "id": entity_id("WeatherObserved", s.slug),
        "type": "WeatherObserved",
        **_common(s.name, s.district, None),
        "location": _geo(_point(s.location)),
        "refPointOfInterest": _rel(entity_id("PointOfInterest", s.poi)),
    }


def demo_entities(at: datetime | None = None) -> list[dict[str, Any]]:
    """Every demo entity of Jember (places, roads, segments and the sensors' static attributes).

    With ``at`` the sensors also carry the simulator's observation for that moment, so a fresh demo
    shows traffic, parking, air and weather values before any simulator runs.
    """
    entities: list[dict[str, Any]] = [_poi(p) for p in places()]
    for road in roads():
        entities.append(_road(road))
        entities.extend(_segment(s) for s in road.segments)
    entities.extend(_traffic_sensor(s) for s in segments())
    entities.extend(_parking(p) for p in parking())
    entities.extend(_air_station(s) for s in air_stations())
    entities.extend(_weather_station(s) for s in weather_stations())
    if at is not None:
        from kotacerdas.hub import simulate

        observed = {o["id"]: o for o in simulate.observations(at)}
        for entity in entities:
            extra = observed.get(entity["id"])
            if extra is not None:
                entity.update((k, v) for k, v in extra.items() if k not in ("id", "type"))
    return entities
