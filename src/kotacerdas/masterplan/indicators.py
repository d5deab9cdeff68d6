"""Indicators with their targets, realisations and the evidence behind them (data dukung).

Realisations are entered by the programme's lead office (or the region admin), or computed from the
indicator's data source (a citizen figure, read through ``citizen.figures`` only); everything is
checked against the region, audit-logged, and never committed here.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from kotacerdas.auth.access import (
    Principal,
    require_office_write,
    require_read,
    require_region_admin,
    require_region_member,
)
from kotacerdas.citizen import figures
from kotacerdas.db import after_rollback
from kotacerdas.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kotacerdas.framework import service as framework
from kotacerdas.i18n import _, gettext
from kotacerdas.kit.files import EVIDENCE_KINDS, FileStore, check_upload
from kotacerdas.kit.time import utcnow
from kotacerdas.masterplan import schemas as s
from kotacerdas.masterplan.changes import (
    READ,
    WRITE,
    apply_changes,
    audit,
    jsonable,
    reference,
    replace_children,
)
from kotacerdas.masterplan.lookups import find_masterplan, find_programme, get_masterplan
from kotacerdas.masterplan.models import (
    Evidence,
    Indicator,
    IndicatorTarget,
    Masterplan,
    Programme,
    Realisation,
)

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
        with reference("programme_id"):
            programme = find_programme(session, region_id=region_id, programme_id=data.programme_id)
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
        data_source=data.data_source,
    )
    indicator.targets = [
        IndicatorTarget(region_id=region_id, year=t.year, value=t.value) for t in data.targets
    ]
    session.add(indicator)
    session.flush()
    audit(session, principal, region_id, "indicator.create", indicator, f"{indicator.code} {indicator.name}")
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
    return find_indicator(session, region_id=region_id, indicator_id=indicator_id)


def find_indicator(session: Session, *, region_id: int, indicator_id: int) -> Indicator:
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
    changes = apply_changes(indicator, fields)
    if targets is not None:
        changes["targets"] = [
            [{"year": t.year, "value": str(t.value)} for t in indicator.targets],
            jsonable(targets),
        ]
        replace_children(
            session, indicator.targets, (IndicatorTarget(region_id=region_id, **t) for t in targets)
        )
    session.flush()
    if changes:
        audit(
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
    audit(session, principal, region_id, "indicator.delete", indicator, f"{indicator.code} {indicator.name}")
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
    # if the unit of work does not commit, no row points to the file: do not keep it
    after_rollback(session, lambda: store.delete(key))
    session.flush()
    audit(
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
    return find_evidence(session, region_id=region_id, evidence_id=evidence_id)


def find_evidence(session: Session, *, region_id: int, evidence_id: int) -> Evidence:
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
    indicator = find_indicator(session, region_id=region_id, indicator_id=indicator_id)
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
    plan = find_masterplan(session, region_id=region_id, masterplan_id=indicator.masterplan_id)
    if not plan.start_year <= data.year <= plan.end_year:
        raise ValidationFailed(
            _("The year must lie within the masterplan period {start}-{end}."),
            start=plan.start_year,
            end=plan.end_year,
        )
    evidence = None
    if data.evidence_id is not None:
        with reference("evidence_id"):
            evidence = find_evidence(session, region_id=region_id, evidence_id=data.evidence_id)
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
        apply_changes(row, fields)
        row.evidence = evidence
        row.entered_at = utcnow()
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(_("The realisation was changed at the same time; please try again.")) from None
    audit(
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
    audit(
        session,
        principal,
        region_id,
        "indicator.realisation_delete",
        indicator,
        f"{indicator.code} {year}",
        {"year": year, "value": [str(row.value), None]},
    )


# ---------------------------------------------------------------- realisations from a data source

AUTO_NOTE = _("Computed automatically from citizen reports (kotacerdas)")


def refresh_from_source(
    session: Session, *, principal: Principal, region_id: int, indicator_id: int, year: int
) -> Realisation:
    """Compute the year's value from the indicator's data source (the region's figure for the whole
    year) and record it as that year's realisation, in place of whatever was there, a value entered
    by hand included; the audit log keeps the old value. The note says it was computed; there is no
    evidence. Whoever may enter the indicator's realisations may do this."""
    indicator = _realisation_indicator(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id
    )
    if not indicator.data_source:
        raise Conflict(_("This indicator has no data source: its realisations are entered by hand."))
    plan = find_masterplan(session, region_id=region_id, masterplan_id=indicator.masterplan_id)
    if not plan.start_year <= year <= plan.end_year:
        raise ValidationFailed(
            _("The year must lie within the masterplan period {start}-{end}."),
            start=plan.start_year,
            end=plan.end_year,
            details=[{"field": "year"}],
        )
    value = figures.indicator_value(session, region_id=region_id, key=indicator.data_source, year=year)
    if value is None:
        raise Conflict(_("The data source has no figure for {year} yet."), year=year)
    data = s.RealisationWrite(year=year, value=value, note=gettext("id", AUTO_NOTE))
    return record_realisation(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id, data=data
    )


def sourced_indicators(session: Session, *, region_id: int) -> Sequence[Indicator]:
    """The region's indicators (of every masterplan) whose realisations come from a data source."""
    return session.scalars(
        _indicator_query(region_id)
        .where(Indicator.data_source.is_not(None))
        .order_by(Indicator.masterplan_id, Indicator.code)
    ).all()
