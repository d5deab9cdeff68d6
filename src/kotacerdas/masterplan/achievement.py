"""Achievement: how far realisations reach their targets, rolled up to programme, element, dimension.

The formula (docs/achievement.md has it with a worked example):

* indicator, year y, target T, realisation R:
  - higher is better: a = R / T x 100  (T = 0: 100 when R >= 0)
  - lower is better:  a = T / R x 100  (R = 0: 100)
  The raw value is shown; for rolling up it is capped at 100, so one indicator far over its target
  cannot hide another that is behind.
* programme P(y) = mean of its indicators' capped achievements that have both T and R in y.
* A *unit* is a programme with P(y), or a dimension-level indicator with a(y).
  element E(y) = mean of the units placed in the element; dimension D(y) = mean of the units in the
  dimension; the masterplan's overall figure = mean of the dimensions that have a D(y).
* Roll-ups use unrounded values; a figure is rounded half up to 2 decimals only where it is shown
  (75.625 is shown as 75.63), so rounding never compounds from one level to the next.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from statistics import fmean

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from kotacerdas.auth.access import Principal
from kotacerdas.errors import ValidationFailed
from kotacerdas.framework import service as framework
from kotacerdas.i18n import _
from kotacerdas.kit.time import current_year
from kotacerdas.masterplan import schemas as s, service
from kotacerdas.masterplan.models import YEAR_STATUSES, Indicator, Masterplan, Programme, Realisation
from kotacerdas.region import service as regions

CAP = 100.0


def indicator_achievement(
    direction: str, target: Decimal | None, realisation: Decimal | None
) -> float | None:
    if target is None or realisation is None:
        return None
    t, r = float(target), float(realisation)
    if direction == "lower":
        if r <= 0:
            return 100.0
        return max(t, 0.0) / r * 100.0
    if t == 0:
        return 100.0 if r >= 0 else 0.0
    return max(r / t * 100.0, 0.0)


def capped(value: float | None) -> float | None:
    return None if value is None else min(value, CAP)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def shown(value: float | None) -> float | None:
    """Round half up to 2 decimals (Python's round() would show 75.625 as 75.62)."""
    if value is None:
        return None
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def year_achievements(indicator: Indicator, years: Iterable[int]) -> list[s.YearAchievement]:
    targets = {t.year: t.value for t in indicator.targets}
    reals = {r.year: r.value for r in indicator.realisations}
    out = []
    for year in years:
        raw = indicator_achievement(indicator.direction, targets.get(year), reals.get(year))
        out.append(
            s.YearAchievement(
                year=year,
                target=targets.get(year),
                realisation=reals.get(year),
                achievement=shown(raw),
            )
        )
    return out


def indicator_read(indicator: Indicator, plan: Masterplan) -> s.IndicatorRead:
    base = s.IndicatorRead.model_validate(
        {
            **{
                c: getattr(indicator, c)
                for c in (
                    "id",
                    "masterplan_id",
                    "programme_id",
                    "dimension",
                    "element",
                    "code",
                    "name",
                    "unit",
                    "direction",
                    "baseline_year",
                    "baseline_value",
                    "source",
                    "data_source",
                )
            },
            "targets": indicator.targets,
            "realisations": indicator.realisations,
            "achievements": year_achievements(indicator, range(plan.start_year, plan.end_year + 1)),
        }
    )
    return base


class _Loaded:
    """Everything of one masterplan needed for the roll-ups, read in three queries."""

    def __init__(self, session: Session, *, region_id: int, plan: Masterplan) -> None:
        self.plan = plan
        self.programmes: Sequence[Programme] = session.scalars(
            select(Programme)
            .where(Programme.region_id == region_id, Programme.masterplan_id == plan.id)
            .options(selectinload(Programme.budgets), selectinload(Programme.year_statuses))
            .order_by(Programme.code)
        ).all()
        self.indicators: Sequence[Indicator] = session.scalars(
            select(Indicator)
            .where(Indicator.region_id == region_id, Indicator.masterplan_id == plan.id)
            .options(selectinload(Indicator.targets), selectinload(Indicator.realisations))
            .order_by(Indicator.code)
        ).all()
        self.by_programme: dict[int, list[Indicator]] = defaultdict(list)
        self.dimension_level: list[Indicator] = []
        for ind in self.indicators:
            if ind.programme_id is None:
                self.dimension_level.append(ind)
            else:
                self.by_programme[ind.programme_id].append(ind)

    def indicator_score(self, ind: Indicator, year: int) -> float | None:
        target = next((t.value for t in ind.targets if t.year == year), None)
        real = next((r.value for r in ind.realisations if r.year == year), None)
        return capped(indicator_achievement(ind.direction, target, real))

    def programme_score(self, programme: Programme, year: int) -> float | None:
        return _mean(self.indicator_score(i, year) for i in self.by_programme.get(programme.id, []))

    def units(self, year: int) -> list[tuple[str, str | None, float | None]]:
        """(dimension, element, score) for every programme and dimension-level indicator."""
        out: list[tuple[str, str | None, float | None]] = [
            (p.dimension, p.element, self.programme_score(p, year)) for p in self.programmes
        ]
        out += [(i.dimension, i.element, self.indicator_score(i, year)) for i in self.dimension_level]
        return out


def _load(session: Session, *, principal: Principal, region_id: int, masterplan_id: int) -> _Loaded:
    plan = service.get_masterplan(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id
    )
    return _Loaded(session, region_id=region_id, plan=plan)


def programme_scores(
    session: Session, *, principal: Principal, region_id: int, programme: Programme
) -> dict[int, float | None]:
    data = _load(session, principal=principal, region_id=region_id, masterplan_id=programme.masterplan_id)
    return {
        y: shown(data.programme_score(programme, y))
        for y in range(data.plan.start_year, data.plan.end_year + 1)
    }


def report_year(session: Session, *, region_id: int, plan: Masterplan, year: int | None) -> int:
    """The year asked for, which must lie in the period. By default the latest year up to this one
    (in the region's time zone, clipped into the period) that has realisations: early in a year
    nothing has been reported yet, and an empty chart would say less than last year's figures."""
    if year is None:
        today = current_year(regions.get_region(session, region_id).timezone)
        upto = min(max(today, plan.start_year), plan.end_year)
        reported = session.scalar(
            select(func.max(Realisation.year))
            .join(Indicator, Indicator.id == Realisation.indicator_id)
            .where(
                Realisation.region_id == region_id,
                Indicator.masterplan_id == plan.id,
                Realisation.year <= upto,
                Realisation.year >= plan.start_year,
            )
        )
        return int(reported) if reported is not None else upto
    if not plan.start_year <= year <= plan.end_year:
        raise ValidationFailed(
            _("The year must lie within the masterplan period {start}-{end}."),
            start=plan.start_year,
            end=plan.end_year,
            details=[{"field": "year"}],
        )
    return year


def year_status(programme: Programme, year: int) -> str | None:
    """How the programme stands in ``year``: the reported status, ``planned`` while nothing is reported,
    None when the year lies outside its years. The roadmap and the dimension summary both use this,
    so their counts always agree."""
    if not programme.start_year <= year <= programme.end_year:
        return None
    return next((y.status for y in programme.year_statuses if y.year == year), "planned")


def status_counts(programmes: Iterable[Programme], year: int) -> dict[str, int]:
    """Programmes whose years include ``year``, per status of that year (every status, zero included)."""
    counts = dict.fromkeys(YEAR_STATUSES, 0)
    for programme in programmes:
        status = year_status(programme, year)
        if status is not None:
            counts[status] = counts.get(status, 0) + 1
    return counts


def achievement_report(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    masterplan_id: int,
    year: int | None = None,
    lang: str = "id",
) -> s.AchievementReport:
    """The dimension summary as Kominfo reports it, with achievement per dimension and element for ``year``.

    The status counts take the programmes whose years include ``year`` (see ``year_status``)."""
    data = _load(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    year = report_year(session, region_id=region_id, plan=data.plan, year=year)
    edition = framework.get_edition(data.plan.framework_edition)
    units = data.units(year)
    dims = []
    dim_scores: list[float | None] = []
    for dim in edition.dimensions:
        programmes = [p for p in data.programmes if p.dimension == dim.code]
        indicators = [i for i in data.indicators if i.dimension == dim.code]
        elements = []
        for el in dim.elements:
            el_programmes = [p for p in programmes if p.element == el.code]
            elements.append(
                s.ScoreRead(
                    code=el.code,
                    name=el.name.id if lang == "id" else el.name.en,
                    achievement=shown(_mean(sc for d, e, sc in units if d == dim.code and e == el.code)),
                    programme_count=len(el_programmes),
                    indicator_count=sum(1 for i in indicators if i.element == el.code),
                )
            )
        dim_score = _mean(sc for d, _e, sc in units if d == dim.code)
        dim_scores.append(dim_score)
        statuses = status_counts(programmes, year)
        dims.append(
            s.DimensionSummaryRead(
                code=dim.code,
                name=dim.name.id if lang == "id" else dim.name.en,
                programme_count=len(programmes),
                quick_win_count=sum(1 for p in programmes if p.is_quick_win),
                indicator_count=len(indicators),
                budget_total=sum((b.amount for p in programmes for b in p.budgets), Decimal(0)),
                achievement=shown(dim_score),
                elements=elements,
                status_counts=statuses,
            )
        )
    return s.AchievementReport(
        masterplan_id=data.plan.id, year=year, overall=shown(_mean(dim_scores)), dimensions=dims
    )


def dimension_trend(
    session: Session, *, principal: Principal, region_id: int, masterplan_id: int
) -> dict[str, dict[int, float | None]]:
    """Achievement per dimension for every year of the masterplan (for the trend chart)."""
    data = _load(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    edition = framework.get_edition(data.plan.framework_edition)
    out: dict[str, dict[int, float | None]] = {}
    years = range(data.plan.start_year, data.plan.end_year + 1)
    per_year = {y: data.units(y) for y in years}
    for dim in edition.dimensions:
        out[dim.code] = {y: shown(_mean(sc for d, _e, sc in per_year[y] if d == dim.code)) for y in years}
    return out


def trend_report(
    session: Session, *, principal: Principal, region_id: int, masterplan_id: int, lang: str = "id"
) -> s.TrendRead:
    """Achievement per dimension and overall for every year of the masterplan (the trend chart)."""
    data = _load(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    edition = framework.get_edition(data.plan.framework_edition)
    years = list(range(data.plan.start_year, data.plan.end_year + 1))
    per_year = {y: data.units(y) for y in years}
    raw = {
        dim.code: {y: _mean(sc for d, _e, sc in per_year[y] if d == dim.code) for y in years}
        for dim in edition.dimensions
    }
    return s.TrendRead(
        masterplan_id=data.plan.id,
        years=years,
        overall=[
            s.TrendPoint(year=y, achievement=shown(_mean(raw[dim.code][y] for dim in edition.dimensions)))
            for y in years
        ],
        dimensions=[
            s.TrendDimension(
                code=dim.code,
                name=dim.name.id if lang == "id" else dim.name.en,
                points=[s.TrendPoint(year=y, achievement=shown(raw[dim.code][y])) for y in years],
            )
            for dim in edition.dimensions
        ],
    )


def quick_wins(
    session: Session, *, principal: Principal, region_id: int, masterplan_id: int, lang: str = "id"
) -> list[s.QuickWinRead]:
    """The quick wins in the edition's dimension order, each with every attribute the evaluation asks about."""
    data = _load(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    edition = framework.get_edition(data.plan.framework_edition)
    offices = {o.id: o.short_name for o in regions.list_offices(session, region_id=region_id)}
    attributes: tuple[s.QuickWinAttribute, ...] = s.QuickWinAttribute.__args__  # type: ignore[attr-defined]
    out = []
    for dim in edition.dimensions:
        for p in data.programmes:
            if p.dimension != dim.code or not p.is_quick_win:
                continue
            described = {a: str(p.quick_win.get(a) or "") for a in attributes}
            out.append(
                s.QuickWinRead(
                    programme_id=p.id,
                    code=p.code,
                    name=p.name,
                    dimension=p.dimension,
                    dimension_name=dim.name.id if lang == "id" else dim.name.en,
                    element=p.element,
                    lead_office=offices.get(p.lead_office_id) if p.lead_office_id else None,
                    start_year=p.start_year,
                    end_year=p.end_year,
                    attributes=described,
                    described=sum(1 for text in described.values() if text.strip()),
                )
            )
    return out


def roadmap(
    session: Session, *, principal: Principal, region_id: int, masterplan_id: int, lang: str = "id"
) -> s.RoadmapRead:
    """Programmes x years grouped by dimension; a cell holds the year's status (``planned`` when not reported)."""
    data = _load(session, principal=principal, region_id=region_id, masterplan_id=masterplan_id)
    edition = framework.get_edition(data.plan.framework_edition)
    offices = {o.id: o.short_name for o in regions.list_offices(session, region_id=region_id)}
    years = list(range(data.plan.start_year, data.plan.end_year + 1))
    dims = []
    for dim in edition.dimensions:
        rows = []
        for p in data.programmes:
            if p.dimension != dim.code:
                continue
            rows.append(
                s.RoadmapRow(
                    programme_id=p.id,
                    code=p.code,
                    name=p.name,
                    element=p.element,
                    lead_office=offices.get(p.lead_office_id) if p.lead_office_id else None,
                    is_quick_win=p.is_quick_win,
                    years={y: year_status(p, y) for y in years},
                )
            )
        dims.append(
            s.RoadmapDimension(code=dim.code, name=dim.name.id if lang == "id" else dim.name.en, rows=rows)
        )
    return s.RoadmapRead(masterplan_id=data.plan.id, years=years, dimensions=dims)
