"""The masterplan's HTML pages, mounted twice: ``/masterplans/...`` for the staff of a region (their own
region) and ``/regions/{code}/masterplans/...`` for whom reads another region (the national evaluator).

The handlers are the same for both; ``pagekit.Scope`` tells them the region and the prefix to keep in
links. ``pages_views`` shows, ``pages_entry`` takes what an office enters (year status, realisations
with evidence), ``pages_edit`` holds the region admin's forms.
"""

from __future__ import annotations

from fastapi import APIRouter

from kotacerdas.masterplan import pages_edit, pages_edit_items, pages_entry, pages_views

router = APIRouter(include_in_schema=False)
for _module in (pages_edit, pages_edit_items, pages_entry, pages_views):
    router.include_router(_module.router)
    router.include_router(_module.router, prefix="/regions/{region_code}")
