"""NGSI-LD geo-queries (GS CIM 009 clause 4.10) and the GeoJSON checks behind GeoProperty values.

``parse_geoquery`` turns the four parameters (georel, geometry, coordinates, geoproperty) into a
``GeoQuery``: ``matches`` decides on an entity, ``bbox`` gives a box that every match's geometry
box intersects (the SQL pre-filter on the stored bounding box), ``distance_to`` orders ``near``
results. Geometries are in WGS84 longitude/latitude; relations other than ``near`` are the OGC
predicates computed by shapely on those coordinates (a GeoJSON line is straight in lon/lat, RFC 7946).
``near`` distances are in metres on the WGS84 ellipsoid (Vincenty), measured between the closest
points of the reference and the target, found in a plane scaled to the local latitude, so a reference
line or polygon measures from its nearest point, not from its first coordinate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import shapely
from shapely import affinity
from shapely.errors import GEOSException
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from kotacerdas.hub.context import ActiveContext
from kotacerdas.hub.entity import Entity, check_name
from kotacerdas.hub.problems import BadRequestData, NgsiError, TooComplexQuery

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
_CANONICAL = {name.lower(): name for name in GEOMETRY_TYPES}
RELATIONS = frozenset(["within", "contains", "intersects", "equals", "disjoint", "overlaps"])
MAX_POSITIONS = 100_000
MAX_COORDINATES_TEXT = 2_000_000
# WGS84
_A = 6_378_137.0
_F = 1 / 298.257223563
_B = _A * (1 - _F)
MEAN_RADIUS = 6_371_008.8
# metres per degree, rounded down so that boxes derived from them are never too small
_LAT_DEGREE = 110_000.0  # the true minimum, at the equator, is 110 574 m
_LON_DEGREE = 111_000.0  # times cos(latitude); the true value is at least 111 319 m times cos(latitude)

_NEAR = re.compile(r"near;(maxDistance|minDistance)==(.*)")
_POSITIVE = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

BBox = tuple[float, float, float, float]


# ----------------------------------------------------------------------------------- validation


def validate_geometry(geojson: Any, *, what: str = "The geometry") -> dict[str, Any]:
    """A GeoJSON geometry (RFC 7946, not GeometryCollection) with WGS84 positions; returned as given."""
    if not isinstance(geojson, dict):
        raise BadRequestData(f"{what} must be a GeoJSON geometry object.")
    kind = geojson.get("type")
    if kind not in GEOMETRY_TYPES:
        raise BadRequestData(f"{what} must have a type among {', '.join(GEOMETRY_TYPES)}, got {kind!r}.")
    _check_coordinates(str(kind), geojson.get("coordinates"), what)
    return geojson


def _check_coordinates(kind: str, coords: Any, what: str, limit: type[NgsiError] = BadRequestData) -> None:
    count = [0]
    if kind == "Point":
        _position(coords, what, count)
    elif kind == "MultiPoint":
        for pos in _array(coords, what, kind, 1):
            _position(pos, what, count)
    elif kind == "LineString":
        _line(coords, what, count)
    elif kind == "MultiLineString":
        for line in _array(coords, what, kind, 1):
            _line(line, what, count)
    elif kind == "Polygon":
        _polygon(coords, what, count)
    else:
        for polygon in _array(coords, what, kind, 1):
            _polygon(polygon, what, count)
    if count[0] > MAX_POSITIONS:
        raise limit(f"{what} has more than {MAX_POSITIONS} positions.")


def _array(value: Any, what: str, kind: str, minimum: int) -> list[Any]:
    if not isinstance(value, list) or len(value) < minimum:
        raise BadRequestData(f"{what}: the coordinates of a {kind} must be an array of at least {minimum}.")
    return value


def _position(value: Any, what: str, count: list[int]) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise BadRequestData(
            f"{what}: a position must be [longitude, latitude] (or with an altitude), got {value!r:.80}."
        )
    for number in value:
        if not isinstance(number, (int, float)) or isinstance(number, bool) or not math.isfinite(number):
            raise BadRequestData(f"{what}: a position holds numbers only, got {value!r:.80}.")
    lon, lat = float(value[0]), float(value[1])
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise BadRequestData(
            f"{what}: [{value[0]}, {value[1]}] is outside WGS84 (longitude -180..180 first, then latitude -90..90)."
        )
    count[0] += 1
    return lon, lat


def _line(value: Any, what: str, count: list[int]) -> None:
    for pos in _array(value, what, "LineString", 2):
        _position(pos, what, count)


def _polygon(value: Any, what: str, count: list[int]) -> None:
    for ring in _array(value, what, "Polygon", 1):
        positions = [_position(pos, what, count) for pos in _array(ring, what, "Polygon ring", 4)]
        if positions[0] != positions[-1]:
            raise BadRequestData(f"{what}: a Polygon ring must end where it starts (a closed ring).")


def _positions(coords: Any) -> Iterator[tuple[float, float]]:
    stack: list[Any] = [coords]
    while stack:
        item = stack.pop()
        if isinstance(item, list) and item and isinstance(item[0], (int, float)) and len(item) >= 2:
            yield float(item[0]), float(item[1])
        elif isinstance(item, list):
            stack.extend(item)


def geometry_bbox(geojson: dict[str, Any]) -> BBox:
    """(min lon, min lat, max lon, max lat) of a valid geometry."""
    lons: list[float] = []
    lats: list[float] = []
    for lon, lat in _positions(geojson.get("coordinates")):
        lons.append(lon)
        lats.append(lat)
    if not lons:
        raise BadRequestData("The geometry has no positions.")
    return min(lons), min(lats), max(lons), max(lats)


# ------------------------------------------------------------------------------------- distance


def geodesic_distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Metres between two points on the WGS84 ellipsoid (Vincenty's inverse formula, millimetre
    accuracy); the spherical distance for the nearly antipodal pairs where it does not converge."""
    if lon1 == lon2 and lat1 == lat2:
        return 0.0
    u1 = math.atan((1 - _F) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - _F) * math.tan(math.radians(lat2)))
    big_l = math.radians(lon2 - lon1)
    lam = big_l
    sin_u1, cos_u1, sin_u2, cos_u2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha * sin_alpha
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha != 0 else 0.0
        c = _F / 16 * cos2_alpha * (4 + _F * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * _F * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm * cos_2sm))
        )
        if abs(lam - previous) < 1e-12:
            break
    else:
        return haversine(lon1, lat1, lon2, lat2)
    u_sq = cos2_alpha * (_A * _A - _B * _B) / (_B * _B)
    a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta = (
        b
        * sin_sigma
        * (
            cos_2sm
            + b
            / 4
            * (
                cos_sigma * (-1 + 2 * cos_2sm * cos_2sm)
                - b / 6 * cos_2sm * (-3 + 4 * sin_sigma * sin_sigma) * (-3 + 4 * cos_2sm * cos_2sm)
            )
        )
    )
    return _B * a * (sigma - delta)


def haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * MEAN_RADIUS * math.asin(min(1.0, math.sqrt(h)))


def distance_between(a: BaseGeometry, b: BaseGeometry) -> float:
    """Metres between two lon/lat geometries: 0 when they meet, else between their closest points."""
    if isinstance(a, Point) and isinstance(b, Point):
        return geodesic_distance(a.x, a.y, b.x, b.y)
    if a.intersects(b):
        return 0.0
    # closest points in a plane where a degree of longitude is as long as at the pair's latitude
    lat0 = (a.centroid.y + b.centroid.y) / 2
    p = q = Point(0, 0)
    for _ in range(2):
        k = max(math.cos(math.radians(lat0)), 1e-6)
        sa = affinity.scale(a, xfact=k, yfact=1.0, origin=(0, 0))
        sb = affinity.scale(b, xfact=k, yfact=1.0, origin=(0, 0))
        sp, sq = nearest_points(sa, sb)
        p, q = Point(sp.x / k, sp.y), Point(sq.x / k, sq.y)
        lat0 = (p.y + q.y) / 2
    return geodesic_distance(p.x, p.y, q.x, q.y)


# ------------------------------------------------------------------------------------ the query


def radius_box(lon: float, lat: float, radius: float) -> BBox:
    """A box (lon/lat degrees) holding every point within ``radius`` metres of (lon, lat): the same
    conservative degree lengths as ``GeoQuery.bbox``, so nothing within the radius falls outside."""
    dlat = radius / _LAT_DEGREE
    low, high = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    widest = max(abs(low), abs(high))
    if widest >= 89.999:
        return -180.0, low, 180.0, high
    dlon = radius / (_LON_DEGREE * math.cos(math.radians(widest)))
    west, east = lon - dlon, lon + dlon
    if west < -180.0 or east > 180.0:
        return -180.0, low, 180.0, high
    return west, low, east, high


@dataclass(frozen=True)
class GeoQuery:
    georel: str  # near | within | contains | intersects | equals | disjoint | overlaps
    geometry: dict[str, Any]  # the reference geometry, GeoJSON
    geoproperty: str  # expanded IRI of the target GeoProperty
    reference: BaseGeometry = field(repr=False, compare=False)  # the same, as a prepared shapely geometry
    max_distance: float | None = None
    min_distance: float | None = None

    @property
    def sorts_by_distance(self) -> bool:
        """near results come nearest first."""
        return self.georel == "near"

    def matches(self, entity: Entity) -> bool:
        return any(self._test(geom) for geom in self._geometries(entity))

    def distance_to(self, entity: Entity) -> float | None:
        """Metres from the reference geometry to the entity's nearest target geometry (None: it has none)."""
        distances = [distance_between(self.reference, geom) for geom in self._geometries(entity)]
        return min(distances) if distances else None

    def bbox(self) -> BBox | None:
        """A box every matching geometry's bounding box intersects; None when there is none (disjoint,
        minDistance). It bounds the target GeoProperty, which is ``location`` unless geoproperty says."""
        if self.georel == "disjoint" or self.min_distance is not None:
            return None
        min_lon, min_lat, max_lon, max_lat = geometry_bbox(self.geometry)
        if self.max_distance is None:
            return min_lon, min_lat, max_lon, max_lat
        dlat = self.max_distance / _LAT_DEGREE
        low, high = max(-90.0, min_lat - dlat), min(90.0, max_lat + dlat)
        widest = max(abs(low), abs(high))
        if widest >= 89.999:
            return -180.0, low, 180.0, high
        dlon = self.max_distance / (_LON_DEGREE * math.cos(math.radians(widest)))
        west, east = min_lon - dlon, max_lon + dlon
        if west < -180.0 or east > 180.0:  # it wraps around the antimeridian: keep every longitude
            return -180.0, low, 180.0, high
        return west, low, east, high

    # internals --------------------------------------------------------------------------------
    def _geometries(self, entity: Entity) -> Iterator[BaseGeometry]:
        found = entity.attrs.get(self.geoproperty)
        if found is None:
            return
        for inst in found if isinstance(found, list) else [found]:
            value = inst.get("value") if isinstance(inst, dict) else None
            if isinstance(value, dict) and value.get("type") in GEOMETRY_TYPES:
                try:
                    geom = shape(value)
                except (GEOSException, ValueError, TypeError, IndexError, AttributeError):
                    continue
                if not geom.is_empty:
                    yield geom

    def _test(self, geom: BaseGeometry) -> bool:
        try:
            return self._relate(geom)
        except GEOSException:  # an invalid stored polygon: judge its repaired form
            return self._relate(shapely.make_valid(geom))

    def _relate(self, geom: BaseGeometry) -> bool:
        ref = self.reference
        rel = self.georel
        if rel == "near":
            distance = distance_between(ref, geom)
            if self.max_distance is not None:
                return distance <= self.max_distance
            return distance > (self.min_distance or 0.0)
        point = isinstance(geom, Point)
        if rel == "within":
            return bool(shapely.contains_xy(ref, geom.x, geom.y)) if point else bool(ref.contains(geom))
        if rel == "intersects":
            return bool(shapely.intersects_xy(ref, geom.x, geom.y)) if point else bool(ref.intersects(geom))
        if rel == "disjoint":
            return not (
                bool(shapely.intersects_xy(ref, geom.x, geom.y)) if point else bool(ref.intersects(geom))
            )
        if rel == "contains":
            return bool(geom.contains(ref))
        if rel == "equals":
            return bool(geom.equals(ref))
        return bool(geom.overlaps(ref))


def parse_geoquery(
    georel: str | None,
    geometry: str | None,
    coordinates: str | list[Any] | None,
    geoproperty: str | None,
    ctx: ActiveContext,
) -> GeoQuery | None:
    """The geo-query of a request; None when it has none. Raises BadRequestData naming what is wrong."""
    given = {"georel": georel, "geometry": geometry, "coordinates": coordinates}
    missing = sorted(k for k, v in given.items() if v is None or v == "")
    if len(missing) == len(given):
        return None
    if missing or georel is None or geometry is None or coordinates is None:
        raise BadRequestData(
            f"A geo-query needs georel, geometry and coordinates together; missing: {', '.join(missing)}."
        )
    if not isinstance(georel, str) or not isinstance(geometry, str):
        raise BadRequestData("georel and geometry must be strings.")
    rel, max_distance, min_distance = _parse_georel(georel)
    kind = _CANONICAL.get(geometry.lower())
    if kind is None:
        raise BadRequestData(f"geometry must be one of {', '.join(GEOMETRY_TYPES)}, got {geometry!r}.")
    coords = _parse_coordinates(coordinates)
    _check_coordinates(kind, coords, "The coordinates", TooComplexQuery)
    reference_json = {"type": kind, "coordinates": coords}
    try:
        reference = shape(reference_json)
    except (GEOSException, ValueError, TypeError) as exc:
        raise BadRequestData(f"The coordinates do not make a valid {kind}: {exc}.") from None
    if not reference.is_valid:
        raise BadRequestData(
            f"The {kind} of the geo-query is not valid ({shapely.is_valid_reason(reference)})."
        )
    shapely.prepare(reference)
    name = check_name(geoproperty, "geoproperty") if geoproperty else "location"
    return GeoQuery(
        georel=rel,
        geometry=reference_json,
        geoproperty=ctx.expand(name),
        max_distance=max_distance,
        min_distance=min_distance,
        reference=reference,
    )


def _parse_georel(georel: str) -> tuple[str, float | None, float | None]:
    if georel in RELATIONS:
        return georel, None, None
    match = _NEAR.fullmatch(georel)
    if match is None:
        raise BadRequestData(
            "georel must be near;maxDistance==<metres>, near;minDistance==<metres>, within, contains, "
            f"intersects, equals, disjoint or overlaps, got {georel!r}."
        )
    modifier, number = match.groups()
    if not _POSITIVE.fullmatch(number):
        raise BadRequestData(f"The distance in georel must be a positive number of metres, got {number!r}.")
    distance = float(number)
    if not math.isfinite(distance) or distance <= 0:
        raise BadRequestData(
            f"The distance in georel must be a positive, finite number of metres, got {number!r}."
        )
    if modifier == "maxDistance":
        return "near", distance, None
    return "near", None, distance


def _parse_coordinates(coordinates: str | list[Any]) -> Any:
    if isinstance(coordinates, list):
        return coordinates
    if not isinstance(coordinates, str):
        raise BadRequestData("coordinates must be a JSON array.")
    if len(coordinates) > MAX_COORDINATES_TEXT:
        raise TooComplexQuery("coordinates is too long.")
    try:
        parsed = orjson.loads(coordinates)
    except orjson.JSONDecodeError:
        raise BadRequestData(
            f"coordinates must be a JSON array such as [113.70,-8.17], got {coordinates[:80]!r}."
        ) from None
    if not isinstance(parsed, list):
        raise BadRequestData("coordinates must be a JSON array.")
    return parsed
