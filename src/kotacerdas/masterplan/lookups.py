"""Lookups of masterplans and programmes, shared by ``service`` and ``indicators``.

``get_*`` checks that the principal may read the region; ``find_*`` does not, for callers that check
access their own way (an office's key that may only write realisations).
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from kotacerdas.auth.access import Principal, require_read
from kotacerdas.errors import NotFound
from kotacerdas.i18n import _
from kotacerdas.masterplan.changes import READ
from kotacerdas.masterplan.models import Masterplan, Programme


def get_masterplan(
    session: Session, *, principal: Principal, region_id: int, masterplan_id: int
) -> Masterplan:
    require_read(principal, region_id, READ)
    return find_masterplan(session, region_id=region_id, masterplan_id=masterplan_id)


def find_masterplan(session: Session, *, region_id: int, masterplan_id: int) -> Masterplan:
    """The lookup without an access check: for callers that have checked access their own way."""
    plan = session.scalar(
        select(Masterplan)
        .where(Masterplan.region_id == region_id, Masterplan.id == masterplan_id)
        .options(selectinload(Masterplan.sections))
    )
    if plan is None:
        raise NotFound(_("Masterplan not found in this region."))
    return plan


def programme_query(region_id: int) -> Select[Programme]:
    return (
        select(Programme)
        .where(Programme.region_id == region_id)
        .options(selectinload(Programme.budgets), selectinload(Programme.year_statuses))
    )


def get_programme(session: Session, *, principal: Principal, region_id: int, programme_id: int) -> Programme:
    require_read(principal, region_id, READ)
    return find_programme(session, region_id=region_id, programme_id=programme_id)


def find_programme(session: Session, *, region_id: int, programme_id: int) -> Programme:
    programme = session.scalar(programme_query(region_id).where(Programme.id == programme_id))
    if programme is None:
        raise NotFound(_("Programme not found in this region."))
    return programme
