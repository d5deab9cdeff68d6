"""The citizen's pages: file a report (``/reports/new``), the receipt with the tracking code
(``/reports/{no}/filed``), track a report (``/reports/track``) and the public list (``/reports``).

Everything works without JavaScript: the map click, "use my location" and the duplicate suggestions
while typing are enhancements (static/js/reports.js). The server suggests the duplicates too: a report
with open reports of its category nearby comes back with them, to support one or to file anyway.
"""

from __future__ import annotations

import contextlib
import math
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import Principal
from kotacerdas.citizen import categories, labels, reports
from kotacerdas.citizen.api import file_store
from kotacerdas.citizen.models import PRIVACY, STATES
from kotacerdas.citizen.pages_common import (
    CSRF,
    STATE_CLASS,
    TRACKING_NO,
    Place,
    category_groups,
    control_errors,
    int_or_none,
    parse_coordinate,
    refusal,
    region_map,
    undo,
    visitor_place,
)
from kotacerdas.citizen.photos import MAX_PHOTOS
from kotacerdas.citizen.present import Presenter
from kotacerdas.citizen.ratelimit import check_anonymous_submission
from kotacerdas.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UnsupportedMediaType,
    ValidationFailed,
)
from kotacerdas.i18n import _, gettext
from kotacerdas.region import service as regions
from kotacerdas.web.deps import CurrentPrincipal, DbSession, language
from kotacerdas.web.forms import PostedForm, text
from kotacerdas.web.render import render
from kotacerdas.web.schemas import GENERAL, FormErrors

router = APIRouter(include_in_schema=False)

FILED_COOKIE = "kc_filed"  # the tracking code, for the receipt page only, read once
PAGE_SIZE = 25
FIELDS = ("category", "title", "description", "lat", "lon", "address", "privacy", "name", "email", "phone")


# ---------------------------------------------------------------- filing


def _new_page(
    request: Request,
    session: Session,
    principal: Principal,
    place: Place,
    form: dict[str, str],
    *,
    errors: FormErrors | None = None,
    suggestions: list[dict[str, Any]] | None = None,
    photos_dropped: bool = False,
    status: int = 200,
) -> HTMLResponse:
    lang = language(request)
    drawn = region_map(session, place.region)
    lat = parse_coordinate(form.get("lat", ""), -90, 90)
    lon = parse_coordinate(form.get("lon", ""), -180, 180)
    marker = drawn.frame.xy(lon, lat) if drawn and lat is not None and lon is not None else None
    rows = categories.list_categories(session, region_id=place.region.id)
    context = {
        "region": place.region,
        "place": place,
        "form": form,
        "errors": errors or FormErrors(),
        "error": (errors.general or None if errors is not None else None),
        "groups": category_groups(rows, lang),
        "map": drawn,
        "marker": marker,
        "privacy_options": [(p, gettext(lang, labels.PRIVACY_LABELS[p])) for p in PRIVACY],
        "max_photos": MAX_PHOTOS,
        "max_photo_mb": max(1, request.app.state.settings.report_photo_max_bytes // (1024 * 1024)),
        "suggestions": suggestions or [],
        "photos_dropped": photos_dropped,
        "logged_in": principal.is_authenticated,
    }
    return render(request, "reports/new.html", context, status)


def _blank_form(session: Session, principal: Principal) -> dict[str, str]:
    form = dict.fromkeys(FIELDS, "")
    form["privacy"] = "identified"
    if principal.kind == "user" and principal.user_id is not None:
        user = auth.get_user(session, principal.user_id)
        form["name"], form["email"] = user.full_name or "", user.email
    return form


@router.get("/reports/new", response_class=HTMLResponse)
def report_new(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    place = visitor_place(session, request, principal)
    form = _blank_form(session, principal)
    category = request.query_params.get("category", "")
    if category:
        form["category"] = category[:40]
    return _new_page(request, session, principal, place, form)


def _uploads(form: PostedForm) -> list[UploadFile]:
    """The chosen files (a file input left empty still sends a part without a name)."""
    return [f for f in form.getlist("photos") if isinstance(f, UploadFile) and (f.filename or f.size)]


@router.post("/reports/new", response_class=HTMLResponse, dependencies=CSRF)
def report_file(
    request: Request, session: DbSession, principal: CurrentPrincipal, form: PostedForm
) -> Response:
    place = visitor_place(session, request, principal)
    region = place.region
    lang = language(request)
    settings = request.app.state.settings
    values = {name: text(form, name) for name in FIELDS}
    errors = control_errors(values, lang)
    uploads = _uploads(form)

    def again(status: int, **extra: Any) -> HTMLResponse:
        if errors and not errors.general:
            errors.general = gettext(lang, GENERAL)
        return _new_page(
            request,
            session,
            principal,
            place,
            values,
            errors=errors,
            photos_dropped=bool(uploads),
            status=status,
            **extra,
        )

    category = None
    with contextlib.suppress(NotFound):
        category = categories.get_category_by_code(session, region_id=region.id, code=values["category"])
    if category is None or not category.active:
        errors["category"] = gettext(lang, _("Choose what the report is about."))
    lat = parse_coordinate(values["lat"], -90, 90) if values["lat"] else None
    lon = parse_coordinate(values["lon"], -180, 180) if values["lon"] else None
    if (values["lat"] and lat is None) or (values["lon"] and lon is None):
        errors["location"] = gettext(
            lang, _("Latitude and longitude are numbers in degrees, e.g. -8.17 and 113.70.")
        )
    elif bool(values["lat"]) != bool(values["lon"]):
        errors["location"] = gettext(lang, _("Give both latitude and longitude."))
    if len(uploads) > MAX_PHOTOS:
        errors["photos"] = gettext(lang, _("At most {n} photos."), n=MAX_PHOTOS)
    if errors or category is None:
        return again(422)

    if lat is not None and lon is not None and "1" not in form.getlist("confirm_new"):
        nearby = reports.nearby_open(session, region_id=region.id, category_id=category.id, lat=lat, lon=lon)
        if nearby:
            p = Presenter(session, region, lang)
            p.prefetch([r for r, _d in nearby])
            found = [{"distance": round(d), "report": p.read(r, "public")} for r, d in nearby]
            return again(200, suggestions=found)

    try:
        limit = settings.report_photo_max_bytes
        photos = [reports.Photo(data=f.file.read(limit + 1), filename=f.filename or "") for f in uploads]
        filed = reports.file_report(
            session,
            principal=principal,
            region_id=region.id,
            category_id=category.id,
            title=values["title"],
            description=values["description"],
            lat=lat,
            lon=lon,
            address=values["address"],
            privacy=values["privacy"] or "identified",
            reporter_name=values["name"],
            reporter_email=values["email"],
            reporter_phone=values["phone"],
            photos=photos,
            store=file_store(settings),
            photo_max_bytes=limit,
            channel="web",
        )
        if not principal.is_authenticated:
            # counted once a report would be stored: a citizen correcting the form is not held back
            check_anonymous_submission(request, settings)
    except (PayloadTooLarge, UnsupportedMediaType) as exc:
        undo(session)
        errors.update(refusal(exc, lang, field="photos"))
        errors.general = errors["photos"]
        return again(exc.status)
    except RateLimited as exc:
        undo(session)
        errors.general = exc.translated(lang)
        return again(429)
    except (ValidationFailed, Conflict) as exc:
        undo(session)
        refused = refusal(exc, lang)
        errors.update(refused)
        errors.general = refused.general
        return again(exc.status)
    no = filed.report.tracking_no
    response = RedirectResponse(place.url(f"/reports/{no}/filed"), status_code=303)
    response.set_cookie(
        FILED_COOKIE,
        f"{no} {filed.access_code}",
        max_age=3600,
        path=f"/reports/{no}/filed",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    return response


@router.get("/reports/{no:tracking}/filed", response_class=HTMLResponse)
def report_filed(no: str, request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    """The receipt: the tracking number, and the code once (the cookie that carries it is deleted)."""
    place = visitor_place(session, request, principal)
    cookie_no, _sep, code = request.cookies.get(FILED_COOKIE, "").partition(" ")
    code = code if cookie_no == no else ""
    context: dict[str, Any] = {"region": place.region, "place": place, "no": no, "code": "", "report": None}
    try:
        report, _role = reports.open_report(
            session, principal=principal, region_id=place.region.id, tracking_no=no, code=code or None
        )
    except NotFound:
        report = None
    if report is not None:
        if code and secrets.compare_digest(reports.sha256(code), report.access_code_hash):
            context["code"] = code
        context["report"] = report
        context["category"] = categories.get_category(
            session, region_id=report.region_id, category_id=report.category_id
        )
    response = render(request, "reports/filed.html", context)
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(FILED_COOKIE, path=f"/reports/{no}/filed")
    return response


# ---------------------------------------------------------------- tracking


@router.get("/reports/track", response_class=HTMLResponse)
def report_track(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Tracking number and code → the report; a logged-in reporter also sees their own reports."""
    place = visitor_place(session, request, principal)
    lang = language(request)
    no = request.query_params.get("no", "").strip().upper()[:24]
    code = request.query_params.get("code", "").strip()[:40]
    errors = FormErrors()
    if "no" in request.query_params:
        if not TRACKING_NO.match(no):
            errors["no"] = gettext(lang, _("A tracking number looks like JBR-2026-000123."))
        else:
            try:
                report, _role = reports.open_report(
                    session, principal=principal, region_id=place.region.id, tracking_no=no, code=code or None
                )
                if code and not secrets.compare_digest(reports.sha256(code), report.access_code_hash):
                    raise NotFound()
                return RedirectResponse(place.url(f"/reports/{no}", code=code), status_code=303)
            except NotFound:
                errors["code"] = gettext(lang, _("No report has this tracking number and code."))
        errors.general = next(iter(errors.values()))
    mine: list[Any] = []
    if principal.user_id is not None:
        rows, _total = reports.list_reports(
            session, principal=principal, region_id=place.region.id, scope="mine", limit=50
        )
        p = Presenter(session, place.region, lang)
        p.prefetch(rows)
        mine = [p.read(r, "reporter") for r in rows]
    context = {
        "region": place.region,
        "place": place,
        "form": {"no": no, "code": code},
        "errors": errors,
        "error": errors.general or None,
        "mine": mine,
        "state_class": STATE_CLASS,
    }
    return render(request, "reports/track.html", context, 422 if errors else 200)


# ---------------------------------------------------------------- the public list


@router.get("/reports", response_class=HTMLResponse)
def report_list(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    place = visitor_place(session, request, principal)
    region = place.region
    lang = language(request)
    q = request.query_params
    f = reports.ReportFilter()
    chosen = {"category": q.get("category", "")[:40], "state": q.get("state", ""), "area": q.get("area", "")}
    rows_categories = categories.list_categories(session, region_id=region.id, include_inactive=True)
    match = next((c for c in rows_categories if c.code == chosen["category"]), None)
    if match is not None:
        f.category_ids = [match.id]
    if chosen["state"] in STATES:
        f.state = [chosen["state"]]
    areas = regions.area_choices(session, region_id=region.id, kind="kecamatan")
    area_id = int_or_none(chosen["area"])
    if area_id is not None and any(a.id == area_id for a in areas):
        f.area_id = area_id
    page = max(1, min(int_or_none(q.get("page")) or 1, 10_000))
    rows, total = reports.list_reports(
        session,
        principal=principal,
        region_id=region.id,
        scope="public",
        filters=f,
        sort="newest",
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    p = Presenter(session, region, lang)
    p.prefetch(rows)
    pages = max(1, math.ceil(min(total or 0, reports.COUNT_CAP) / PAGE_SIZE))
    context = {
        "region": region,
        "place": place,
        "items": [p.read(r, "public") for r in rows],
        "total": total or 0,
        "count_cap": reports.COUNT_CAP,
        "page": page,
        "pages": pages,
        "pager_url": place.url("/reports", **chosen)
        + ("&" if place.explicit or any(chosen.values()) else "?"),
        "chosen": chosen,
        "category_options": [(c.code, p.category_name(c)) for c in rows_categories],
        "state_options": [(s, gettext(lang, labels.STATE_LABELS[s])) for s in STATES],
        "area_options": [(str(a.id), a.name) for a in areas],
        "state_class": STATE_CLASS,
    }
    return render(request, "reports/list.html", context)
