"""The start page: a short introduction for visitors, a start page with the right links once logged in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from kotacerdas.region import service as regions
from kotacerdas.web.deps import CurrentPrincipal, DbSession
from kotacerdas.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: DbSession, principal: CurrentPrincipal) -> HTMLResponse:
    region = regions.get_region(session, principal.region_id) if principal.region_id is not None else None
    return render(request, "home.html", {"home_region": region})
