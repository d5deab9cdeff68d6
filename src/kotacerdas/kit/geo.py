"""GeoJSON geometry checks and point-in-polygon, on WGS84 longitude/latitude."""

from __future__ import annotations

import math
from typing import Any

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from kotacerdas.errors import ValidationFailed
from kotacerdas.i18n import _

AREA_TYPES = ("Polygon", "MultiPolygon")


def parse_area(geojson: Any) -> BaseGeometry:
    """A Polygon or MultiPolygon (a Feature is unwrapped), valid, with coordinates in WGS84 ranges."""
    if isinstance(geojson, dict) and geojson.get("type") == "Feature":
        geojson = geojson.get("geometry")
    if not isinstance(geojson, dict) or geojson.get("type") not in AREA_TYPES:
        raise ValidationFailed(_("The boundary must be a GeoJSON Polygon or MultiPolygon."))
    try:
        geom = shape(geojson)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise ValidationFailed(
            _("The GeoJSON geometry is malformed: {reason}"), reason=str(exc)[:200]
        ) from None
    if geom.is_empty or not geom.is_valid:
        raise ValidationFailed(_("The polygon is empty or crosses itself."))
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValidationFailed(_("Coordinates must be longitude, latitude in degrees (WGS84)."))
    return geom


def bbox(geom: BaseGeometry) -> tuple[float, float, float, float]:
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    return float(min_lon), float(min_lat), float(max_lon), float(max_lat)


def contains(geojson: dict[str, Any], lon: float, lat: float) -> bool:
    return bool(shape(geojson).intersects(Point(lon, lat)))  # a point on the border belongs to the area


def check_point(lon: float, lat: float) -> None:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationFailed(_("Coordinates must be longitude, latitude in degrees (WGS84)."))


EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (good to about 0.5% for a city)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def degree_box(lat: float, radius_m: float) -> tuple[float, float]:
    """Half-sizes (latitude, longitude degrees) of a box that holds every point within ``radius_m``."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return dlat, dlon
