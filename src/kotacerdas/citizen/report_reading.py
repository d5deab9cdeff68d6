"""Reading citizen reports one at a time: by tracking number or id, as a principal may see it (a
hidden report is "not found"), its timeline and photos, and the open reports near a point (the
duplicates a reporter is shown before filing). Nothing here changes a report.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.citizen import access, categories
from kotacerdas.citizen.models import OPEN_STATES, Report, ReportEvent, ReportPhoto
from kotacerdas.citizen.report_filing import sha256
from kotacerdas.errors import NotFound
from kotacerdas.i18n import _
from kotacerdas.kit import geo


def get_report(session: Session, *, region_id: int, tracking_no: str) -> Report:
    row = session.scalar(
        select(Report).where(Report.region_id == region_id, Report.tracking_no == tracking_no)
    )
    if row is None:
        raise NotFound(_("Report not found."))
    return row


def get_report_by_id(session: Session, *, report_id: int) -> Report:
    row = session.get(Report, report_id)
    if row is None:
        raise NotFound(_("Report not found."))
    return row


def open_report(
    session: Session, *, principal: Principal, region_id: int, tracking_no: str, code: str | None = None
) -> tuple[Report, access.Role]:
    """The report and how the principal sees it; hidden reports are "not found", as if absent."""
    report = get_report(session, region_id=region_id, tracking_no=tracking_no)
    has_code = bool(code) and secrets.compare_digest(sha256(code or ""), report.access_code_hash)
    role = access.role_for(principal, report, has_code=has_code)
    if role is None:
        raise NotFound(_("Report not found."))
    return report, role


def timeline(session: Session, *, report: Report, role: access.Role) -> Sequence[ReportEvent]:
    stmt = select(ReportEvent).where(ReportEvent.report_id == report.id)
    if role in ("public", "reporter"):
        stmt = stmt.where(ReportEvent.public.is_(True))
    return session.scalars(stmt.order_by(ReportEvent.at, ReportEvent.id)).all()


def photos_of(session: Session, *, report: Report) -> Sequence[ReportPhoto]:
    return session.scalars(
        select(ReportPhoto).where(ReportPhoto.report_id == report.id).order_by(ReportPhoto.position)
    ).all()


def nearby_open(
    session: Session,
    *,
    region_id: int,
    category_id: int,
    lat: float,
    lon: float,
    radius_m: float | None = None,
) -> list[tuple[Report, float]]:
    """Open, public reports of the category within the category's duplicate radius, nearest first."""
    category = categories.get_category(session, region_id=region_id, category_id=category_id)
    radius = float(radius_m if radius_m is not None else category.duplicate_radius_m)
    dlat, dlon = geo.degree_box(lat, radius)
    rows = session.scalars(
        select(Report).where(
            Report.region_id == region_id,
            Report.category_id == category_id,
            Report.lat.between(lat - dlat, lat + dlat),
            Report.lon.between(lon - dlon, lon + dlon),
            Report.state.in_(OPEN_STATES),
            Report.privacy != "confidential",
        )
    ).all()
    found = []
    for row in rows:
        distance = geo.haversine_m(lat, lon, row.lat or 0.0, row.lon or 0.0)
        if distance <= radius:
            found.append((row, distance))
    return sorted(found, key=lambda pair: pair[1])[:10]
