"""The demo's citizen reports: a region's report categories and a year of reports, through the services.

The year is a discrete-event simulation. Reports are filed day by day (fewer at weekends and on
holidays, more floods, potholes and fallen trees from December to March), and every later step
(verification, disposition, acceptance, reassignment, the office's reply, the reporter closing or
reopening, the worker's daily escalation and automatic closing) is queued at its own simulated
moment and run in time order across all reports, by the same service functions the API calls, with
``now=`` set to that moment. Deadlines, escalations, timelines and the figures read from them are
therefore what the service itself made of the year. Steps that would fall after ``now`` never
happen: the last weeks are a live queue, with overdue reports in it.

Offices differ (``office_speed`` in the data): Dispendukcapil answers within a day or so, DPU BMSDA
takes longer than its five working days more often than not. Random choices come from one seeded
generator, so the same ``now`` gives the same reports (only the reporters' secret codes differ).

The demo is split by what it holds; every name other modules use stays importable from here:

- ``kotacerdas.citizen.demo_tables``: the rates and chances, the demo JSON files, the rows read from them;
- ``kotacerdas.citizen.demo_year``: the simulation of the year (``_Year``);
- this module: loading a region's categories and its year of reports (the entry points).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.citizen import categories
from kotacerdas.citizen.demo_tables import (
    CHANNELS as CHANNELS,
    CLOSE_RESOLVED as CLOSE_RESOLVED,
    CLOSE_UNRESOLVED as CLOSE_UNRESOLVED,
    DATA_DIR as DATA_DIR,
    DAYS as DAYS,
    HOURS as HOURS,
    PER_DAY as PER_DAY,
    PRIVACY as PRIVACY,
    RAINY_MONTHS as RAINY_MONTHS,
    REASSIGN as REASSIGN,
    REJECT_AUTHORITY as REJECT_AUTHORITY,
    REJECT_DUPLICATE as REJECT_DUPLICATE,
    REJECT_SPAM as REJECT_SPAM,
    REOPEN as REOPEN,
    REPORT_STEPS as REPORT_STEPS,
    WEEKDAY as WEEKDAY,
    demo_doc as demo_doc,
    demo_file as demo_file,
    has_demo_reports as has_demo_reports,
)
from kotacerdas.citizen.demo_year import _Year
from kotacerdas.citizen.models import CitizenOutbox
from kotacerdas.citizen.schemas import CategoryCreate
from kotacerdas.region import service as regions


def load_demo_categories(
    session: Session, *, region_id: int, office_ids: dict[str, int], admin: Principal
) -> int:
    """The region's report categories and their per-kecamatan routes, entered by its admin. Every
    entry passes ``CategoryCreate``, like a write through the API. Returns how many categories."""
    code = regions.get_region(session, region_id).code
    doc = demo_doc("categories", code)
    created: dict[str, int] = {}
    for raw in doc["categories"]:
        fields = {k: v for k, v in raw.items() if k not in ("office", "weight", "rainy")}
        fields["office_id"] = _office(office_ids, raw["office"], raw["code"])
        data = CategoryCreate.model_validate(fields)
        row = categories.create_category(
            session,
            principal=admin,
            region_id=region_id,
            code=data.code,
            name=data.name,
            **data.model_dump(exclude={"code", "name"}),
        )
        created[row.code] = row.id
    areas = {a.code: a.id for a in regions.list_areas(session, region_id=region_id)}
    for route in doc.get("routes", []):
        if route["area"] not in areas:
            raise ValueError(f"categories-{code}.json: unknown area {route['area']}")
        categories.set_route(
            session,
            principal=admin,
            region_id=region_id,
            category_id=created[route["category"]],
            area_id=areas[route["area"]],
            office_id=_office(office_ids, route["office"], route["category"]),
        )
    return len(created)


def _office(office_ids: dict[str, int], short_name: str, where: str) -> int:
    try:
        return office_ids[short_name]
    except KeyError:
        raise ValueError(f"demo reports: {where}: unknown office {short_name!r}") from None


def load_demo_reports(
    session: Session,
    *,
    region_id: int,
    office_ids: dict[str, int],
    admin: Principal,
    operators: dict[int, Principal],
    now: datetime,
    citizen: Principal | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """A year of the region's reports ending at ``now`` (categories loaded first); returns how many.

    ``operators`` maps office ids to the operator who works that office's queue (the admin stands in
    for offices without one); ``citizen`` files a few reports under their account. ``progress`` is
    called ``REPORT_STEPS`` times with a label. The messages the year queued count as sent: a worker
    started on the demo sends none of them.
    """
    year = _Year(
        session,
        region_id=region_id,
        office_ids=office_ids,
        admin=admin,
        operators=operators,
        citizen=citizen,
        now=now,
    )
    start_day = (now - timedelta(days=DAYS)).astimezone(year.tz).date() + timedelta(days=1)
    steps_done = 0
    for index in range(DAYS):
        day = start_day + timedelta(days=index)
        year.plan_day(day, index)
        year.run_until(datetime.combine(day + timedelta(days=1), time(0), tzinfo=year.tz).astimezone(UTC))
        while progress is not None and steps_done < (index + 1) * REPORT_STEPS // DAYS:
            steps_done += 1
            progress(f"Laporan warga / citizen reports: {day.strftime('%m/%Y')}")
    year.run_until(now + timedelta(seconds=1))
    session.execute(
        update(CitizenOutbox)
        .where(CitizenOutbox.region_id == region_id, CitizenOutbox.sent_at.is_(None))
        .values(sent_at=CitizenOutbox.created_at)
    )
    session.flush()
    return year.filed
