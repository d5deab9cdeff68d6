"""Pages of regions (overview with a map of its kecamatan) and the region admin's offices.

The map is drawn on the server as inline SVG: an equirectangular projection of the areas' polygons,
scaled to their bounding box, so the page needs no JavaScript map library and no tile server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.auth.pages import own_region
from kotacerdas.errors import KotaCerdasError, NotFound, ValidationFailed
from kotacerdas.i18n import _, gettext
from kotacerdas.kit import geo
from kotacerdas.region import api as region_api, service as regions
from kotacerdas.region.models import OFFICE_KINDS, Area, Region
from kotacerdas.region.schemas import OfficeCreate, OfficeUpdate
from kotacerdas.web.deps import CurrentPrincipal, DbSession, csrf_protect, language
from kotacerdas.web.render import render
from kotacerdas.web.schemas import MAX_ID, form_errors

router = APIRouter(include_in_schema=False)
CSRF = [Depends(csrf_protect)]
TextField = Annotated[str, Form()]
OfficeId = Annotated[int, Path(ge=1, le=MAX_ID)]
OFFICE_KIND_LABELS = {
    "dinas": _("Agency (dinas)"),
    "badan": _("Board (badan)"),
    "sekretariat": _("Secretariat (sekretariat)"),
    "kantor": _("Office (kantor)"),
    "inspektorat": _("Inspectorate (inspektorat)"),
    "bagian": _("Division (bagian)"),
    "kecamatan": _("Sub-district (kecamatan)"),
    "rsud": _("Regional hospital (RSUD)"),
    "other": _("Other"),
}


# ---------------------------------------------------------------- the map


@dataclass(frozen=True)
class MapShape:
    code: str
    name: str
    path: str
    label_x: float
    label_y: float


@dataclass(frozen=True)
class MapProjection:
    """How ``area_map`` turns longitude/latitude into SVG coordinates (pages place points and read
    clicks with it)."""

    min_lon: float
    max_lat: float
    kx: float
    scale: float
    pad: float

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        return self.pad + (lon - self.min_lon) * self.kx * self.scale, self.pad + (
            self.max_lat - lat
        ) * self.scale

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self.point(lon, lat)
        return round(x, 1), round(y, 1)


@dataclass(frozen=True)
class AreaMap:
    width: float
    height: float
    shapes: list[MapShape]
    outline: str | None
    projection: MapProjection


def area_map(
    areas: Sequence[Area],
    boundary: Any = None,
    *,
    width: float = 640,
    max_height: float = 480,
    pad: float = 14,
) -> AreaMap | None:
    """Project the areas' polygons (and the region's outline) into an SVG box; None without geometry."""
    parsed: list[tuple[Area, Any]] = []
    for area in areas:
        if area.geometry:
            try:
                parsed.append((area, geo.parse_area(area.geometry)))
            except ValidationFailed:
                continue
    outline_geom = None
    if boundary:
        try:
            outline_geom = geo.parse_area(boundary)
        except ValidationFailed:
            outline_geom = None
    geoms = [g for _area, g in parsed] + ([outline_geom] if outline_geom is not None else [])
    if not geoms:
        return None
    boxes = [geo.bbox(g) for g in geoms]
    min_lon, min_lat = min(b[0] for b in boxes), min(b[1] for b in boxes)
    max_lon, max_lat = max(b[2] for b in boxes), max(b[3] for b in boxes)
    # a degree of longitude is cos(latitude) as long as one of latitude: keep shapes true near the equator
    kx = math.cos(math.radians((min_lat + max_lat) / 2))
    span_x = max((max_lon - min_lon) * kx, 1e-9)
    span_y = max(max_lat - min_lat, 1e-9)
    scale = min((width - 2 * pad) / span_x, (max_height - 2 * pad) / span_y)
    projection = MapProjection(min_lon=min_lon, max_lat=max_lat, kx=kx, scale=scale, pad=pad)
    xy = projection.point

    def svg_path(geom: Any) -> str:
        polygons = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
        parts = []
        for polygon in polygons:
            for ring in [polygon.exterior, *polygon.interiors]:
                points = [xy(lon, lat) for lon, lat, *_z in ring.coords]
                parts.append("M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in points) + " Z")
        return " ".join(parts)

    shapes = []
    for area, geom in parsed:
        point = geom.representative_point()
        x, y = xy(point.x, point.y)
        shapes.append(MapShape(code=area.code, name=area.name, path=svg_path(geom), label_x=x, label_y=y))
    return AreaMap(
        width=round(span_x * scale + 2 * pad, 1),
        height=round(span_y * scale + 2 * pad, 1),
        shapes=shapes,
        outline=svg_path(outline_geom) if outline_geom is not None else None,
        projection=projection,
    )


# ---------------------------------------------------------------- regions


@router.get("/regions", response_class=HTMLResponse)
def region_list(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    found = region_api.readable_regions(session, principal)
    return render(request, "region/regions.html", {"regions": found})


def _overview(request: Request, session: Session, principal: Principal, region: Region) -> HTMLResponse:
    areas = regions.list_areas(session, region_id=region.id)
    kecamatan = [a for a in areas if a.kind == "kecamatan"]
    context = {
        "region": region,
        "offices": regions.list_offices(session, region_id=region.id),
        "areas": areas,
        "area_names": {a.id: a.name for a in areas},
        "map": area_map(kecamatan or areas, region.boundary),
        "can_edit": principal.is_region_admin and principal.region_id == region.id,
    }
    return render(request, "region/overview.html", context)


@router.get("/regions/{code}", response_class=HTMLResponse)
def region_page(code: str, request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    if not regions.REGION_CODE.match(code):
        raise NotFound(_("Region {code} not found."), code=code[:20])
    return _overview(request, session, principal, region_api.readable_region(session, principal, code))


@router.get("/region", response_class=HTMLResponse)
def own_region_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    if principal.is_national:
        return RedirectResponse("/regions", status_code=303)
    region = own_region(session, principal)
    return _overview(request, session, principal, region_api.readable_region(session, principal, region.code))


# ---------------------------------------------------------------- the region admin's offices


def _admin_region(session: Session, principal: Principal) -> Region:
    return region_api.admin_region(session, principal, own_region(session, principal).code)


def _offices_page(
    request: Request,
    session: Session,
    region: Region,
    *,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    done: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = language(request)
    flash = None
    if done in ("created", "updated"):
        message = _("The office has been added.") if done == "created" else _("The office has been saved.")
        flash = {"kind": "ok", "message": gettext(lang, message)}
    context = {
        "region": region,
        "offices": regions.list_offices(session, region_id=region.id),
        "kind_labels": _kind_labels(request),
        "kind_options": list(_kind_labels(request).items()),
        "error": error,
        "errors": errors or {},
        "form": form or {"kind": "dinas"},
        "flash": flash,
    }
    return render(request, "region/offices.html", context, status)


def _kind_labels(request: Request) -> dict[str, str]:
    lang = language(request)
    return {kind: gettext(lang, OFFICE_KIND_LABELS.get(kind, kind)) for kind in OFFICE_KINDS}


def _office_values(name: str, short_name: str, kind: str, email: str) -> dict[str, Any]:
    return {"name": name, "short_name": short_name, "kind": kind, "email": email.strip() or None}


@router.get("/admin/offices", response_class=HTMLResponse)
def offices(
    request: Request, session: DbSession, principal: CurrentPrincipal, done: str | None = None
) -> Response:
    return _offices_page(request, session, _admin_region(session, principal), done=done)


@router.post("/admin/offices", response_class=HTMLResponse, dependencies=CSRF)
def office_create(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    name: TextField = "",
    short_name: TextField = "",
    kind: TextField = "",
    email: TextField = "",
) -> Response:
    region = _admin_region(session, principal)
    values = _office_values(name, short_name, kind, email)
    try:
        data = OfficeCreate.model_validate(values)
        region_api.create_office(session, principal=principal, region=region, data=data)
    except (ValidationError, KotaCerdasError) as exc:
        if isinstance(exc, KotaCerdasError) and exc.status not in (409, 422):
            raise
        errors = form_errors(exc, language(request))
        return _offices_page(
            request, session, region, error=errors.general, errors=errors, form=values, status=422
        )
    return RedirectResponse("/admin/offices?done=created", status_code=303)


def _office_edit_page(
    request: Request,
    region: Region,
    form: dict[str, Any],
    office_id: int,
    *,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = {
        "region": region,
        "office_id": office_id,
        "form": form,
        "kind_options": list(_kind_labels(request).items()),
        "error": error,
        "errors": errors or {},
    }
    return render(request, "region/office_edit.html", context, status)


@router.get("/admin/offices/{office_id}", response_class=HTMLResponse)
def office_edit(
    request: Request, office_id: OfficeId, session: DbSession, principal: CurrentPrincipal
) -> Response:
    region = _admin_region(session, principal)
    office = regions.get_office(session, region_id=region.id, office_id=office_id)
    form = {
        "name": office.name,
        "short_name": office.short_name,
        "kind": office.kind,
        "email": office.email or "",
    }
    return _office_edit_page(request, region, form, office.id)


@router.post("/admin/offices/{office_id}", response_class=HTMLResponse, dependencies=CSRF)
def office_update(
    request: Request,
    office_id: OfficeId,
    session: DbSession,
    principal: CurrentPrincipal,
    name: TextField = "",
    short_name: TextField = "",
    kind: TextField = "",
    email: TextField = "",
) -> Response:
    region = _admin_region(session, principal)
    regions.get_office(session, region_id=region.id, office_id=office_id)  # 404 before anything else
    values = _office_values(name, short_name, kind, email)
    try:
        data = OfficeUpdate.model_validate(values)
        region_api.update_office(session, principal=principal, region=region, office_id=office_id, data=data)
    except (ValidationError, KotaCerdasError) as exc:
        if isinstance(exc, KotaCerdasError) and exc.status not in (409, 422):
            raise
        errors = form_errors(exc, language(request))
        return _office_edit_page(
            request, region, values, office_id, error=errors.general, errors=errors, status=422
        )
    return RedirectResponse("/admin/offices?done=updated", status_code=303)
