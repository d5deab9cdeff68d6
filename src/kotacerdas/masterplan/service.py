"""The masterplan rules: masterplans and programmes; indicators, realisations and evidence are in
``indicators`` and re-exported here, so other domains use one module: ``masterplan.service``.

Every function takes the principal and the region and checks access first (``auth.access``), every
query filters on ``region_id``, every change is written to the audit log, and nothing commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from kotacerdas.auth.access import (
    Principal,
    require_office_write,
    require_read,
    require_region_admin,
    require_region_member,
)
from kotacerdas.errors import Conflict, NotFound, ValidationFailed
from kotacerdas.framework import service as framework
from kotacerdas.i18n import _
from kotacerdas.masterplan import schemas as s
from kotacerdas.masterplan.changes import (
    READ as READ,
    WRITE as WRITE,
    apply_changes,
    audit,
    jsonable,
    reference,
    replace_children,
)
from kotacerdas.masterplan.indicators import (
    create_indicator as create_indicator,
    delete_indicator as delete_indicator,
    delete_realisation as delete_realisation,
    get_evidence as get_evidence,
    get_indicator as get_indicator,
    indicator_office_id as indicator_office_id,
    list_indicators as list_indicators,
    record_realisation as record_realisation,
    refresh_from_source as refresh_from_source,
    sourced_indicators as sourced_indicators,
    store_evidence as store_evidence,
    update_indicator as update_indicator,
)
from kotacerdas.masterplan.lookups import (
    find_masterplan as find_masterplan,
    find_programme as find_programme,
    get_masterplan as get_masterplan,
    get_programme as get_programme,
    programme_query,
)
from kotacerdas.masterplan.models import (
    Indicator,
    IndicatorTarget,
    Masterplan,
    MasterplanSection,
    Programme,
    ProgrammeBudget,
    ProgrammeYearStatus,
    Realisation,
)
from kotacerdas.region import service as regions

# ---------------------------------------------------------------- masterplans


def create_masterplan(
    session: Session, *, principal: Principal, region_id: int, data: s.MasterplanCreate
) -> Masterplan:
    require_region_admin(principal, region_id, WRITE)
    region = regions.get_region(session, region_id)
    edition = data.framework_edition or region.framework_edition
    try:
        framework.get_edition(edition)
    except NotFound:
        raise ValidationFailed(
            _("Framework edition {code} does not exist."),
            code=edition,
            details=[{"field": "framework_edition"}],
        ) from None
    exists = session.scalar(
        select(Masterplan.id).where(
            Masterplan.region_id == region_id,
            Masterplan.start_year == data.start_year,
            Masterplan.title == data.title,
        )
    )
    if exists:
        raise Conflict(_("A masterplan with this title and start year already exists."))
    plan = Masterplan(
        region_id=region_id,
        framework_edition=edition,
        **data.model_dump(exclude={"framework_edition"}),
    )
    session.add(plan)
    session.flush()
    audit(
        session,
        principal,
        region_id,
        "masterplan.create",
        plan,
        f"{plan.title} ({plan.start_year}-{plan.end_year})",
    )
    return plan


def list_masterplans(session: Session, *, principal: Principal, region_id: int) -> Sequence[Masterplan]:
    require_read(principal, region_id, READ)
    return session.scalars(
        select(Masterplan).where(Masterplan.region_id == region_id).order_by(Masterplan.start_year.desc())
    ).all()


def current_masterplan(
    session: Session, *, principal: Principal, region_id: int, year: int
) -> Masterplan | None:
    """The approved masterplan whose period contains ``year``, else the newest one."""
    plans = list_masterplans(session, principal=principal, region_id=region_id)
    for plan in plans:
        if plan.start_year <= year <= plan.end_year and plan.status == "approved":
            return plan
    return plans[0] if plans else None


def masterplan_counts(session: Session, *, region_id: int, masterplan_id: int) -> dict[str, int]:
    programmes = session.execute(
        select(func.count(), func.coalesce(func.sum(case((Programme.is_quick_win, 1), else_=0)), 0)).where(
            Programme.region_id == region_id, Programme.masterplan_id == masterplan_id
        )
    ).one()
    indicators = session.scalar(
        select(func.count()).where(Indicator.region_id == region_id, Indicator.masterplan_id == masterplan_id)
    )
    return {
        "programme_count": programmes[0],
        "quick_win_count": int(programmes[1]),
        "indicator_count": indicators or 0,
    }


def update_masterplan(
    session: Session, *, principal: Principal, region_id: int, masterplan_id: int, data: s.MasterplanUpdate
) -> Masterplan:
    require_region_admin(principal, region_id, WRITE)
    plan = get_masterplan(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    fields = data.model_dump(exclude_unset=True)
    start = fields.get("start_year", plan.start_year)
    end = fields.get("end_year", plan.end_year)
    try:
        s.check_period(start, end)
    except ValueError:
        raise ValidationFailed(
            _("A masterplan covers 5 to 10 years (start and end year included).")
        ) from None
    if (start, end) != (plan.start_year, plan.end_year):
        _check_period_keeps_content(session, region_id=region_id, plan=plan, start=start, end=end)
    title = fields.get("title", plan.title)
    if (title, start) != (plan.title, plan.start_year) and session.scalar(
        select(Masterplan.id).where(
            Masterplan.region_id == region_id,
            Masterplan.start_year == start,
            Masterplan.title == title,
            Masterplan.id != plan.id,
        )
    ):
        raise Conflict(_("A masterplan with this title and start year already exists."))
    changes = apply_changes(plan, fields)
    session.flush()
    if changes:
        audit(session, principal, region_id, "masterplan.update", plan, plan.title, changes)
    return plan


def _check_period_keeps_content(
    session: Session, *, region_id: int, plan: Masterplan, start: int, end: int
) -> None:
    """A shorter period must not strand programmes, targets or realisations outside it."""
    stranded = (
        select(func.count())
        .select_from(Programme)
        .where(
            Programme.region_id == region_id,
            Programme.masterplan_id == plan.id,
            or_(Programme.start_year < start, Programme.end_year > end),
        ),
        select(func.count())
        .select_from(IndicatorTarget)
        .join(Indicator, Indicator.id == IndicatorTarget.indicator_id)
        .where(
            Indicator.region_id == region_id,
            Indicator.masterplan_id == plan.id,
            or_(IndicatorTarget.year < start, IndicatorTarget.year > end),
        ),
        select(func.count())
        .select_from(Realisation)
        .join(Indicator, Indicator.id == Realisation.indicator_id)
        .where(
            Indicator.region_id == region_id,
            Indicator.masterplan_id == plan.id,
            or_(Realisation.year < start, Realisation.year > end),
        ),
    )
    if any(session.scalar(stmt) for stmt in stranded):
        raise ValidationFailed(
            _(
                "Programmes, targets or realisations lie outside {start}-{end}; "
                "move them into the new period first."
            ),
            start=start,
            end=end,
        )


def delete_masterplan(session: Session, *, principal: Principal, region_id: int, masterplan_id: int) -> None:
    require_region_admin(principal, region_id, WRITE)
    plan = get_masterplan(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    if plan.status == "approved":
        raise Conflict(_("An approved masterplan cannot be deleted; set it back to draft first."))
    audit(session, principal, region_id, "masterplan.delete", plan, plan.title)
    session.delete(plan)
    session.flush()


def set_section(
    session: Session, *, principal: Principal, region_id: int, masterplan_id: int, kind: str, body: str
) -> MasterplanSection:
    require_region_admin(principal, region_id, WRITE)
    plan = get_masterplan(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    kinds = list(s.SectionKind.__args__)  # type: ignore[attr-defined]
    if kind not in kinds:
        raise NotFound(_("Unknown section {kind}."), kind=kind)
    section = next((sec for sec in plan.sections if sec.kind == kind), None)
    if section is None:
        section = MasterplanSection(region_id=region_id, kind=kind, position=kinds.index(kind), body=body)
        plan.sections.append(section)
    else:
        section.body = body
    session.flush()
    audit(session, principal, region_id, "masterplan.section", plan, f"{plan.title}: {kind}")
    return section


# ---------------------------------------------------------------- programmes


def _check_programme_fields(
    session: Session, *, region_id: int, plan: Masterplan, fields: dict[str, Any]
) -> None:
    framework.check_placement(plan.framework_edition, fields["dimension"], fields["element"])
    if fields.get("lead_office_id") is not None:
        with reference("lead_office_id"):
            regions.get_office(session, region_id=region_id, office_id=fields["lead_office_id"])
    start, end = fields["start_year"], fields["end_year"]
    if start < plan.start_year or end > plan.end_year:
        raise ValidationFailed(
            _("The programme's years must lie within the masterplan period {start}-{end}."),
            start=plan.start_year,
            end=plan.end_year,
        )
    for line in fields.get("budgets") or []:
        if not start <= line["year"] <= end:
            raise ValidationFailed(
                _("A budget line for {year} lies outside the programme's years."), year=line["year"]
            )
    for st in fields.get("year_statuses") or []:
        if not start <= st["year"] <= end:
            raise ValidationFailed(
                _("A status for {year} lies outside the programme's years."), year=st["year"]
            )
    if len({(b["year"], b["source"]) for b in fields.get("budgets") or []}) != len(
        fields.get("budgets") or []
    ):
        raise ValidationFailed(_("One budget line per year and funding source."))
    if len({st["year"] for st in fields.get("year_statuses") or []}) != len(
        fields.get("year_statuses") or []
    ):
        raise ValidationFailed(_("One status per year."))


def _set_children(
    session: Session,
    programme: Programme,
    region_id: int,
    budgets: list[dict[str, Any]] | None,
    statuses: list[dict[str, Any]] | None,
) -> None:
    if budgets is not None:
        replace_children(
            session, programme.budgets, (ProgrammeBudget(region_id=region_id, **b) for b in budgets)
        )
    if statuses is not None:
        replace_children(
            session,
            programme.year_statuses,
            (ProgrammeYearStatus(region_id=region_id, **st) for st in statuses),
        )


def create_programme(
    session: Session, *, principal: Principal, region_id: int, masterplan_id: int, data: s.ProgrammeCreate
) -> Programme:
    require_region_admin(principal, region_id, WRITE)
    plan = get_masterplan(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    fields = data.model_dump()
    _check_programme_fields(session, region_id=region_id, plan=plan, fields=fields)
    if session.scalar(
        select(Programme.id).where(Programme.masterplan_id == plan.id, Programme.code == data.code)
    ):
        raise Conflict(_("Programme code {code} is already used in this masterplan."), code=data.code)
    budgets, statuses = fields.pop("budgets"), fields.pop("year_statuses")
    programme = Programme(region_id=region_id, masterplan_id=plan.id, **fields)
    session.add(programme)
    _set_children(session, programme, region_id, budgets, statuses)
    session.flush()
    audit(session, principal, region_id, "programme.create", programme, f"{programme.code} {programme.name}")
    return programme


def list_programmes(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    masterplan_id: int,
    dimension: str | None = None,
    office_id: int | None = None,
    quick_win: bool | None = None,
) -> Sequence[Programme]:
    get_masterplan(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    stmt = programme_query(region_id).where(Programme.masterplan_id == masterplan_id)
    if dimension:
        stmt = stmt.where(Programme.dimension == dimension)
    if office_id:
        stmt = stmt.where(Programme.lead_office_id == office_id)
    if quick_win is not None:
        stmt = stmt.where(Programme.is_quick_win == quick_win)
    return session.scalars(stmt.order_by(Programme.code)).all()


def programme_reads(
    session: Session, *, region_id: int, programmes: Iterable[Programme]
) -> list[s.ProgrammeRead]:
    """Read models with the lead office and the budget total, offices read once for the whole list."""
    offices = {o.id: o for o in regions.list_offices(session, region_id=region_id)}
    out = []
    for p in programmes:
        office = offices.get(p.lead_office_id) if p.lead_office_id else None
        out.append(
            s.ProgrammeRead.model_validate(
                {
                    **{c: getattr(p, c) for c in s.ProgrammeRead.model_fields if hasattr(p, c)},
                    "lead_office": s.OfficeRef.model_validate(office) if office else None,
                    "total_budget": sum((b.amount for b in p.budgets), Decimal(0)),
                }
            )
        )
    return out


def update_programme(
    session: Session, *, principal: Principal, region_id: int, programme_id: int, data: s.ProgrammeUpdate
) -> Programme:
    require_region_admin(principal, region_id, WRITE)
    programme = get_programme(session, principal=principal, region_id=region_id, programme_id=programme_id)
    plan = get_masterplan(
        session, principal=principal, region_id=region_id, masterplan_id=programme.masterplan_id
    )
    fields = data.model_dump(exclude_unset=True)
    merged = {
        "dimension": programme.dimension,
        "element": programme.element,
        "lead_office_id": programme.lead_office_id,
        "start_year": programme.start_year,
        "end_year": programme.end_year,
        "budgets": [{"year": b.year, "source": b.source} for b in programme.budgets],
        "year_statuses": [{"year": y.year} for y in programme.year_statuses],
    } | fields
    if merged["end_year"] < merged["start_year"]:
        raise ValidationFailed(_("The end year is before the start year."))
    _check_programme_fields(session, region_id=region_id, plan=plan, fields=merged)
    if (
        "code" in fields
        and fields["code"] != programme.code
        and session.scalar(
            select(Programme.id).where(Programme.masterplan_id == plan.id, Programme.code == fields["code"])
        )
    ):
        raise Conflict(_("Programme code {code} is already used in this masterplan."), code=fields["code"])
    budgets, statuses = fields.pop("budgets", None), fields.pop("year_statuses", None)
    changes = apply_changes(programme, fields)
    if budgets is not None:
        changes["budgets"] = ["…", jsonable(budgets)]
    if statuses is not None:
        changes["year_statuses"] = ["…", jsonable(statuses)]
    _set_children(session, programme, region_id, budgets, statuses)
    session.flush()
    if changes:
        audit(
            session,
            principal,
            region_id,
            "programme.update",
            programme,
            f"{programme.code} {programme.name}",
            changes,
        )
    return programme


def delete_programme(session: Session, *, principal: Principal, region_id: int, programme_id: int) -> None:
    require_region_admin(principal, region_id, WRITE)
    programme = get_programme(session, principal=principal, region_id=region_id, programme_id=programme_id)
    audit(session, principal, region_id, "programme.delete", programme, f"{programme.code} {programme.name}")
    session.delete(programme)
    session.flush()


def set_year_status(
    session: Session, *, principal: Principal, region_id: int, programme_id: int, data: s.YearStatusWrite
) -> ProgrammeYearStatus:
    """The lead office reports how its programme went in a year."""
    require_region_member(principal, region_id)
    programme = find_programme(session, region_id=region_id, programme_id=programme_id)
    require_office_write(principal, region_id, programme.lead_office_id)
    if not programme.start_year <= data.year <= programme.end_year:
        raise ValidationFailed(_("A status for {year} lies outside the programme's years."), year=data.year)
    row = next((y for y in programme.year_statuses if y.year == data.year), None)
    old = row.status if row else None
    if row is None:
        row = ProgrammeYearStatus(region_id=region_id, year=data.year, status=data.status, note=data.note)
        programme.year_statuses.append(row)
    else:
        row.status, row.note = data.status, data.note
    session.flush()
    audit(
        session,
        principal,
        region_id,
        "programme.status",
        programme,
        f"{programme.code} {data.year}: {data.status}",
        {"status": [old, data.status]},
    )
    return row
