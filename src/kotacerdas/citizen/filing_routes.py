"""The two filing endpoints (the JSON API's ``POST .../reports`` and Open311's ``POST requests``),
included ahead of every other router in ``app.ROUTERS``.

FastAPI tries an application's routes one after the other, router by router, and the citizen API
comes after the hub, the masterplan and the rest: about 130 routes were tried before a filing
matched, some 0.3-0.9 ms of CPU per report. A busy region files hundreds of reports a second, so its
two endpoints come first; any other request tries just these two more. Each is defined beside its
siblings (``citizen.api``, ``citizen.open311``) on a router of its own.
"""

from __future__ import annotations

from fastapi import APIRouter

from kotacerdas.citizen import api, open311

router = APIRouter()
router.include_router(api.filing_router)
router.include_router(open311.filing_router)
