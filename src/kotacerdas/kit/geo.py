"""GeoJSON geometry checks and point-in-polygon, on WGS84 longitude/latitude."""

from __future__ import annotations

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
