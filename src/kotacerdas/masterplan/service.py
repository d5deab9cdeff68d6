"""The masterplan rules: masterplans, programmes, indicators, realisations and their evidence.

Every function takes the principal and the region and checks access first (``auth.access``), every
query filters on ``region_id``, every change is written to the audit log, and nothing commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import (
    Principal,
    require_office_write,
    require_read,
    require_region_admin,
    require_region_member,
)
from kotacerdas.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kotacerdas.framework import service as framework
from kotacerdas.i18n import _
from kotacerdas.kit.files import EVIDENCE_KINDS, FileStore, check_upload
from kotacerdas.kit.time import utcnow
from kotacerdas.masterplan import schemas as s
from kotacerdas.masterplan.models import (
    Evidence,
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

READ = "masterplan:read"
WRITE = "masterplan:write"


def _audit(
    session: Session,
    principal: Principal,
    region_id: int,
    action: str,
    entity: Any,
    summary: str,
    changes: dict[str, Any] | None = None,
) -> None:
    auth.record_audit(
        session,
        actor=principal,
        region_id=region_id,
        action=action,
        entity_type=action.split(".")[0],
        entity_id=entity.id,
        summary=summary,
        changes=changes,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@contextmanager
def _reference(field: str) -> Iterator[None]:
    """A body field naming something that is not in this region is invalid input (422), not a
    missing resource: the URL itself was found."""
    try:
        yield
    except NotFound as exc:
        raise ValidationFailed(exc.message, details=[{"field": field}], **exc.params) from None


def _apply(obj: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """Set the fields that differ; return {field: [old, new]} for the audit log."""
    changes = {}
    for key, value in fields.items():
        old = getattr(obj, key)
        if old != value:
            changes[key] = [_jsonable(old), _jsonable(value)]
            setattr(obj, key, value)
    return changes


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
    _audit(
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


def get_masterplan(
    session: Session, *, principal: Principal, region_id: int, masterplan_id: int
) -> Masterplan:
    require_read(principal, region_id, READ)
    return _find_masterplan(session, region_id=region_id, masterplan_id=masterplan_id)


def _find_masterplan(session: Session, *, region_id: int, masterplan_id: int) -> Masterplan:
    """The lookup without an access check: for callers that have checked access their own way."""
    plan = session.scalar(
        select(Masterplan)
        .where(Masterplan.region_id == region_id, Masterplan.id == masterplan_id)
        .options(selectinload(Masterplan.sections))
    )
    if plan is None:
        raise NotFound(_("Masterplan not found in this region."))
    return plan


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
    changes = _apply(plan, fields)
    session.flush()
    if changes:
        _audit(session, principal, region_id, "masterplan.update", plan, plan.title, changes)
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
    _audit(session, principal, region_id, "masterplan.delete", plan, plan.title)
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
    _audit(session, principal, region_id, "masterplan.section", plan, f"{plan.title}: {kind}")
    return section


# ---------------------------------------------------------------- programmes


def _programme_query(region_id: int) -> Select[Programme]:
    return (
        select(Programme)
        .where(Programme.region_id == region_id)
        .options(selectinload(Programme.budgets), selectinload(Programme.year_statuses))
    )


def _check_programme_fields(
    session: Session, *, region_id: int, plan: Masterplan, fields: dict[str, Any]
) -> None:
    framework.check_placement(plan.framework_edition, fields["dimension"], fields["element"])
    if fields.get("lead_office_id") is not None:
        with _reference("lead_office_id"):
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


def _replace_children(session: Session, collection: list[Any], new: Iterable[Any]) -> None:
    """Replace a child collection whose rows have a unique key (year, source...).

    The unit of work inserts before it deletes, so the old rows are removed in their own flush first.
    """
    if collection:
        collection.clear()
        session.flush()
    collection.extend(new)


def _set_children(
    session: Session,
    programme: Programme,
    region_id: int,
    budgets: list[dict[str, Any]] | None,
    statuses: list[dict[str, Any]] | None,
) -> None:
    if budgets is not None:
        _replace_children(
            session, programme.budgets, (ProgrammeBudget(region_id=region_id, **b) for b in budgets)
        )
    if statuses is not None:
        _replace_children(
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
    _audit(session, principal, region_id, "programme.create", programme, f"{programme.code} {programme.name}")
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
    stmt = _programme_query(region_id).where(Programme.masterplan_id == masterplan_id)
    if dimension:
        stmt = stmt.where(Programme.dimension == dimension)
    if office_id:
        stmt = stmt.where(Programme.lead_office_id == office_id)
    if quick_win is not None:
        stmt = stmt.where(Programme.is_quick_win == quick_win)
    return session.scalars(stmt.order_by(Programme.code)).all()


def get_programme(session: Session, *, principal: Principal, region_id: int, programme_id: int) -> Programme:
    require_read(principal, region_id, READ)
    return _find_programme(session, region_id=region_id, programme_id=programme_id)


def _find_programme(session: Session, *, region_id: int, programme_id: int) -> Programme:
    programme = session.scalar(_programme_query(region_id).where(Programme.id == programme_id))
    if programme is None:
        raise NotFound(_("Programme not found in this region."))
    return programme


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
    changes = _apply(programme, fields)
    if budgets is not None:
        changes["budgets"] = ["…", _jsonable(budgets)]
    if statuses is not None:
        changes["year_statuses"] = ["…", _jsonable(statuses)]
    _set_children(session, programme, region_id, budgets, statuses)
    session.flush()
    if changes:
        _audit(
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
    _audit(session, principal, region_id, "programme.delete", programme, f"{programme.code} {programme.name}")
    session.delete(programme)
    session.flush()


def set_year_status(
    session: Session, *, principal: Principal, region_id: int, programme_id: int, data: s.YearStatusWrite
) -> ProgrammeYearStatus:
    """The lead office reports how its programme went in a year."""
    require_region_member(principal, region_id)
    programme = _find_programme(session, region_id=region_id, programme_id=programme_id)
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
    _audit(
        session,
        principal,
        region_id,
        "programme.status",
        programme,
        f"{programme.code} {data.year}: {data.status}",
        {"status": [old, data.status]},
    )
    return row


# ---------------------------------------------------------------- indicators


def _indicator_query(region_id: int) -> Select[Indicator]:
    return (
        select(Indicator)
        .where(Indicator.region_id == region_id)
        .options(
            selectinload(Indicator.targets),
            selectinload(Indicator.realisations).selectinload(Realisation.evidence),
        )
    )


def create_indicator(
    session: Session, *, principal: Principal, region_id: int, masterplan_id: int, data: s.IndicatorCreate
) -> Indicator:
    require_region_admin(principal, region_id, WRITE)
    plan = get_masterplan(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    if data.programme_id is not None:
        with _reference("programme_id"):
            programme = _find_programme(session, region_id=region_id, programme_id=data.programme_id)
        if programme.masterplan_id != plan.id:
            raise ValidationFailed(_("The programme belongs to another masterplan."))
        if (data.dimension or programme.dimension, data.element or programme.element) != (
            programme.dimension,
            programme.element,
        ):
            raise ValidationFailed(
                _("An indicator of a programme takes the programme's dimension and element."),
                details=[{"field": "dimension"}, {"field": "element"}],
            )
        dimension: str = programme.dimension
        element: str | None = programme.element
    else:
        if not data.dimension:
            raise ValidationFailed(
                _("An indicator needs a programme or a dimension."), details=[{"field": "dimension"}]
            )
        framework.check_placement(plan.framework_edition, data.dimension, data.element)
        dimension, element = data.dimension, data.element
    if session.scalar(
        select(Indicator.id).where(Indicator.masterplan_id == plan.id, Indicator.code == data.code)
    ):
        raise Conflict(_("Indicator code {code} is already used in this masterplan."), code=data.code)
    _check_target_years(plan, [t.year for t in data.targets])
    indicator = Indicator(
        region_id=region_id,
        masterplan_id=plan.id,
        programme_id=data.programme_id,
        dimension=dimension,
        element=element,
        code=data.code,
        name=data.name,
        unit=data.unit,
        direction=data.direction,
        baseline_year=data.baseline_year,
        baseline_value=data.baseline_value,
        source=data.source,
    )
    indicator.targets = [
        IndicatorTarget(region_id=region_id, year=t.year, value=t.value) for t in data.targets
    ]
    session.add(indicator)
    session.flush()
    _audit(session, principal, region_id, "indicator.create", indicator, f"{indicator.code} {indicator.name}")
    return indicator


def _check_target_years(plan: Masterplan, years: list[int]) -> None:
    outside = [y for y in years if not plan.start_year <= y <= plan.end_year]
    if outside:
        raise ValidationFailed(
            _("Targets must lie within the masterplan period {start}-{end}."),
            start=plan.start_year,
            end=plan.end_year,
        )


def list_indicators(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    masterplan_id: int,
    programme_id: int | None = None,
) -> Sequence[Indicator]:
    get_masterplan(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    stmt = _indicator_query(region_id).where(Indicator.masterplan_id == masterplan_id)
    if programme_id is not None:
        stmt = stmt.where(Indicator.programme_id == programme_id)
    return session.scalars(stmt.order_by(Indicator.code)).all()


def get_indicator(session: Session, *, principal: Principal, region_id: int, indicator_id: int) -> Indicator:
    require_read(principal, region_id, READ)
    return _find_indicator(session, region_id=region_id, indicator_id=indicator_id)


def _find_indicator(session: Session, *, region_id: int, indicator_id: int) -> Indicator:
    indicator = session.scalar(_indicator_query(region_id).where(Indicator.id == indicator_id))
    if indicator is None:
        raise NotFound(_("Indicator not found in this region."))
    return indicator


def update_indicator(
    session: Session, *, principal: Principal, region_id: int, indicator_id: int, data: s.IndicatorUpdate
) -> Indicator:
    require_region_admin(principal, region_id, WRITE)
    indicator = get_indicator(session, principal=principal, region_id=region_id, indicator_id=indicator_id)
    fields = data.model_dump(exclude_unset=True)
    targets = fields.pop("targets", None)
    if targets is not None:
        plan = get_masterplan(
            session, principal=principal, region_id=region_id, masterplan_id=indicator.masterplan_id
        )
        _check_target_years(plan, [t["year"] for t in targets])
        if len({t["year"] for t in targets}) != len(targets):
            raise ValidationFailed(_("One target per year."))
    changes = _apply(indicator, fields)
    if targets is not None:
        changes["targets"] = [
            [{"year": t.year, "value": str(t.value)} for t in indicator.targets],
            _jsonable(targets),
        ]
        _replace_children(
            session, indicator.targets, (IndicatorTarget(region_id=region_id, **t) for t in targets)
        )
    session.flush()
    if changes:
        _audit(
            session,
            principal,
            region_id,
            "indicator.update",
            indicator,
            f"{indicator.code} {indicator.name}",
            changes,
        )
    return indicator


def delete_indicator(session: Session, *, principal: Principal, region_id: int, indicator_id: int) -> None:
    require_region_admin(principal, region_id, WRITE)
    indicator = get_indicator(session, principal=principal, region_id=region_id, indicator_id=indicator_id)
    _audit(session, principal, region_id, "indicator.delete", indicator, f"{indicator.code} {indicator.name}")
    session.delete(indicator)
    session.flush()


def indicator_office_id(session: Session, *, region_id: int, indicator: Indicator) -> int | None:
    if indicator.programme_id is None:
        return None
    return session.scalar(
        select(Programme.lead_office_id).where(
            Programme.region_id == region_id, Programme.id == indicator.programme_id
        )
    )


# ---------------------------------------------------------------- realisations and evidence


def store_evidence(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    store: FileStore,
    filename: str,
    data: bytes,
    max_bytes: int,
) -> Evidence:
    """Check an upload (by its bytes) and keep it. Who may attach it is checked when it is attached.

    Region staff upload; a key needs a write permission (an OPD system sending its realisations with
    their evidence). The national evaluator reads evidence but does not add any.
    """
    require_region_member(principal, region_id)
    if principal.kind == "api_key" and not {WRITE, "realisation:write"} & principal.permissions:
        raise PermissionDenied()
    filename = "".join(ch for ch in filename if ch.isprintable())  # no NUL or newline in names
    checked = check_upload(data, filename, allowed=EVIDENCE_KINDS, max_bytes=max_bytes)
    key = store.save(data, suffix=checked.suffix)
    evidence = Evidence(
        region_id=region_id,
        storage_key=key,
        filename=checked.filename,
        content_type=checked.kind.content_type,
        size=checked.size,
        sha256=checked.sha256,
        uploaded_by_id=principal.user_id,
    )
    session.add(evidence)
    try:
        session.flush()
    except Exception:
        store.delete(key)  # the row was not written: do not keep a file nothing points to
        raise
    _audit(
        session,
        principal,
        region_id,
        "evidence.upload",
        evidence,
        f"{evidence.filename} ({evidence.size} bytes)",
        {"sha256": evidence.sha256},
    )
    return evidence


def get_evidence(session: Session, *, principal: Principal, region_id: int, evidence_id: int) -> Evidence:
    require_read(principal, region_id, READ)
    return _find_evidence(session, region_id=region_id, evidence_id=evidence_id)


def _find_evidence(session: Session, *, region_id: int, evidence_id: int) -> Evidence:
    evidence = session.scalar(
        select(Evidence).where(Evidence.region_id == region_id, Evidence.id == evidence_id)
    )
    if evidence is None:
        raise NotFound(_("Evidence file not found in this region."))
    return evidence


def _realisation_indicator(
    session: Session, *, principal: Principal, region_id: int, indicator_id: int
) -> Indicator:
    """The indicator, once the principal may write realisations for its programme's lead office.

    Office keys hold ``realisation:write`` without ``masterplan:read``, so this does not go through
    ``get_indicator``; the region check comes before the lookup so no other region learns what exists.
    """
    require_region_member(principal, region_id)
    indicator = _find_indicator(session, region_id=region_id, indicator_id=indicator_id)
    require_office_write(
        principal, region_id, indicator_office_id(session, region_id=region_id, indicator=indicator)
    )
    return indicator


def record_realisation(
    session: Session, *, principal: Principal, region_id: int, indicator_id: int, data: s.RealisationWrite
) -> Realisation:
    """Enter (or correct) the realised value of a year. Only the programme's lead office or the region admin.

    The entry is replaced as a whole: a note or evidence not sent again is cleared.
    """
    indicator = _realisation_indicator(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id
    )
    plan = _find_masterplan(session, region_id=region_id, masterplan_id=indicator.masterplan_id)
    if not plan.start_year <= data.year <= plan.end_year:
        raise ValidationFailed(
            _("The year must lie within the masterplan period {start}-{end}."),
            start=plan.start_year,
            end=plan.end_year,
        )
    evidence = None
    if data.evidence_id is not None:
        with _reference("evidence_id"):
            evidence = _find_evidence(session, region_id=region_id, evidence_id=data.evidence_id)
    row = next((r for r in indicator.realisations if r.year == data.year), None)
    old = str(row.value) if row else None
    fields = {
        "value": data.value,
        "note": data.note,
        "evidence_url": str(data.evidence_url) if data.evidence_url else None,
        "entered_by_id": principal.user_id,
        "entered_by_label": principal.label[:200],
    }
    if row is None:
        row = Realisation(region_id=region_id, year=data.year, evidence=evidence, **fields)
        indicator.realisations.append(row)
    else:
        _apply(row, fields)
        row.evidence = evidence
        row.entered_at = utcnow()
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(_("The realisation was changed at the same time; please try again.")) from None
    _audit(
        session,
        principal,
        region_id,
        "indicator.realisation",
        indicator,
        f"{indicator.code} {data.year}: {data.value} {indicator.unit}",
        {"year": data.year, "value": [old, str(data.value)], "evidence_id": data.evidence_id},
    )
    return row


def delete_realisation(
    session: Session, *, principal: Principal, region_id: int, indicator_id: int, year: int
) -> None:
    indicator = _realisation_indicator(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id
    )
    row = next((r for r in indicator.realisations if r.year == year), None)
    if row is None:
        raise NotFound(_("No realisation for {year}."), year=year)
    indicator.realisations.remove(row)
    session.flush()
    _audit(
        session,
        principal,
        region_id,
        "indicator.realisation_delete",
        indicator,
        f"{indicator.code} {year}",
        {"year": year, "value": [str(row.value), None]},
    )
