"""The HTML pages of citizen reports, split by who uses them: the citizen's (file, receipt, track, the
public list), one report with its timeline and steps, the offices' (queue, channels) and the region
admin's (verification, categories, routing, days off). They call the same services as the JSON API.
"""

from fastapi import APIRouter

from kotacerdas.citizen import pages_admin, pages_detail, pages_public, pages_staff

router = APIRouter(include_in_schema=False)
router.include_router(pages_public.router)
router.include_router(pages_staff.router)
router.include_router(pages_admin.router)
router.include_router(pages_detail.router)  # last: /reports/{no} after the named pages
