"""Jinja2 rendering with the request's language, principal and CSRF token in every template."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from kotacerdas.auth.access import ANONYMOUS
from kotacerdas.i18n import gettext, ngettext
from kotacerdas.kit.time import to_local
from kotacerdas.web.deps import csrf_token, language
from kotacerdas.web.nav import nav_items

TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html", "xml", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def format_number(value: Any, digits: int = 0) -> str:
    """Indonesian style: 1.234.567,89."""
    if value is None or value == "":
        return "–"
    number = float(value) if isinstance(value, (Decimal, int, float)) else float(str(value))
    text = f"{number:,.{digits}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def format_rupiah(value: Any) -> str:
    return "Rp " + format_number(value, 0) if value is not None else "–"


def format_percent(value: Any, digits: int = 1) -> str:
    return format_number(value, digits) + "%" if value is not None else "–"


env.globals["nav_items"] = nav_items
env.filters["number"] = format_number
env.filters["rupiah"] = format_rupiah
env.filters["percent"] = format_percent


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    lang = language(request)
    principal = getattr(request.state, "principal", None) or ANONYMOUS  # visitors get the public menu
    settings = request.app.state.settings

    def _(message: str, **params: Any) -> str:
        return gettext(lang, message, **params)

    def _n(singular: str, plural: str, n: int, **params: Any) -> str:
        return ngettext(lang, singular, plural, n, **params)

    def local_time(moment: datetime | date | None, zone: str = "WIB", fmt: str = "%d-%m-%Y %H:%M") -> str:
        if moment is None:
            return "–"
        if isinstance(moment, datetime):
            return (
                to_local(moment, zone).strftime(fmt) + " " + (zone if zone in ("WIB", "WITA", "WIT") else "")
            )
        return moment.strftime("%d-%m-%Y")

    token = csrf_token(request)
    ctx: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "_": _,
        "_n": _n,
        "principal": principal,
        "settings": settings,
        "csrf_token": token,
        "csrf_field": Markup('<input type="hidden" name="csrf_token" value="{}">').format(token),
        "local_time": local_time,
        "demo": settings.demo,
    }
    if context:
        ctx.update(context)
    html = env.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status_code)
