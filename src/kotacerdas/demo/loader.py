"""Enter the demo data through the services, as the people of each region would.

Regions, offices and areas go through ``region.service``; accounts through ``auth.service``;
masterplans, programmes, indicators and realisations through ``masterplan.service`` with the region
admin as the acting principal (and an office's operator for realisations of that office's
programmes, where the demo has one). Then the citizen domain's own demo: the public-service
catalogue, and for Jember its report categories and a year of citizen reports ending now
(``citizen.demo``: every step through the report services, at its simulated moment). The JSON
files are validated by the same schemas the API uses, so a mistake in them fails loudly instead of
slipping past the rules.

The caller owns the transaction: ``load_demo`` only flushes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import Principal
from kotacerdas.citizen import demo as citizen_demo
from kotacerdas.citizen.catalogue import load_demo_catalogue
from kotacerdas.errors import NotFound
from kotacerdas.kit.time import utcnow
from kotacerdas.masterplan import schemas as ms, service as masterplans
from kotacerdas.region import service as regions

DATA_DIR = Path(__file__).parent / "data"
DEMO_REGION = "35.09"  # Kabupaten Jember: present means the demo has been loaded

# called after each step: (steps done, total steps, what was just done)
Progress = Callable[[int, int, str], None]


class DemoDataError(ValueError):
    """The demo files contradict themselves (an unknown office, a region without an admin...)."""


@dataclass(frozen=True)
class DemoAccount:
    email: str
    full_name: str
    role: str
    region: str | None
    office: str | None


@dataclass
class DemoSummary:
    regions: int = 0
    areas: int = 0
    offices: int = 0
    users: int = 0
    masterplans: int = 0
    programmes: int = 0
    quick_wins: int = 0
    indicators: int = 0
    realisations: int = 0
    report_categories: int = 0
    reports: int = 0  # laporan warga
    public_services: int = 0  # layanan publik (the catalogue)
    accounts: list[DemoAccount] = field(default_factory=list)


def read_data(name: str, *, exact: bool = False) -> dict[str, Any]:
    """One data file. ``exact`` reads decimals as Decimal (72.4 is not 72.40000000000000568), for
    measures and money; coordinates stay floats, as GeoJSON columns store them."""
    text = (DATA_DIR / name).read_text(encoding="utf-8")
    doc = json.loads(text, parse_float=Decimal) if exact else json.loads(text)
    if not isinstance(doc, dict):
        raise DemoDataError(f"{name}: expected a JSON object")
    return doc


@cache
def _regions_doc() -> dict[str, Any]:
    return read_data("regions.json")


def demo_password() -> str:
    return str(_regions_doc()["password"])


def demo_accounts() -> list[DemoAccount]:
    return [
        DemoAccount(
            email=u["email"],
            full_name=u["full_name"],
            role=u["role"],
            region=u.get("region"),
            office=u.get("office"),
        )
        for u in _regions_doc()["users"]
    ]


def region_names() -> dict[str, str]:
    return {r["code"]: r["name"] for r in _regions_doc()["regions"]}


def is_loaded(session: Session) -> bool:
    try:
        regions.get_region_by_code(session, DEMO_REGION)
    except NotFound:
        return False
    return True


def total_steps() -> int:
    """Steps ``load_demo`` reports: a region with its offices, its areas, the accounts, per
    masterplan one for the plan, one per programme and one for the dimension-level indicators, then
    per region its service catalogue and, where the demo has reports, their categories and
    ``citizen.demo.REPORT_STEPS`` for the year of reports."""
    steps = 1
    for region in _regions_doc()["regions"]:
        steps += 3
        for name in region["masterplans"]:
            steps += 2 + len(read_data(name)["programmes"])
        if citizen_demo.has_demo_reports(region["code"]):
            steps += 1 + citizen_demo.REPORT_STEPS
    return steps


class _Steps:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0
        self.total = total_steps()

    def __call__(self, label: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, label)


def load_demo(
    session: Session, *, progress: Progress | None = None, now: datetime | None = None
) -> DemoSummary:
    """Create the demo regions, offices, areas, accounts, masterplans, service catalogues, report
    categories and a year of citizen reports ending at ``now`` (default: the present moment).

    Raises ``Conflict`` when a demo region already exists (check ``is_loaded`` first).
    """
    doc = _regions_doc()
    summary = DemoSummary(accounts=demo_accounts())
    step = _Steps(progress)
    region_ids: dict[str, int] = {}
    offices: dict[str, dict[str, int]] = {}
    for spec in doc["regions"]:
        areas = read_data(spec["areas"])
        region_id, office_ids = _load_region(session, spec, boundary=areas["boundary"])
        region_ids[spec["code"]], offices[spec["code"]] = region_id, office_ids
        summary.regions += 1
        summary.offices += len(office_ids)
        step(f"{spec['name']}: {len(office_ids)} OPD")
        summary.areas += _load_areas(session, region_id, areas["areas"])
        step(f"{spec['name']}: kecamatan")

    actors = _load_users(session, doc, region_ids, offices)
    summary.users = len(doc["users"])
    step(f"{summary.users} akun demo / demo accounts")

    for spec in doc["regions"]:
        code = spec["code"]
        if code not in actors.admins:
            raise DemoDataError(f"region {code} has no region_admin account to enter its masterplans")
        for name in spec["masterplans"]:
            _load_masterplan(
                session,
                read_data(name, exact=True),
                region_id=region_ids[code],
                office_ids=offices[code],
                admin=actors.admins[code],
                operators=actors.operators,
                summary=summary,
                step=step,
            )

    now = now or utcnow()
    for spec in doc["regions"]:
        code = spec["code"]
        summary.public_services += load_demo_catalogue(
            session, region_id=region_ids[code], office_ids=offices[code]
        )
        step(f"{spec['name']}: layanan publik / public services")
        if not citizen_demo.has_demo_reports(code):
            continue
        summary.report_categories += citizen_demo.load_demo_categories(
            session, region_id=region_ids[code], office_ids=offices[code], admin=actors.admins[code]
        )
        step(f"{spec['name']}: kategori laporan / report categories")
        summary.reports += citizen_demo.load_demo_reports(
            session,
            region_id=region_ids[code],
            office_ids=offices[code],
            admin=actors.admins[code],
            operators=actors.operators,
            citizen=actors.citizens.get(code),
            now=now,
            progress=step,
        )
    return summary


def _load_region(
    session: Session, spec: dict[str, Any], *, boundary: dict[str, Any]
) -> tuple[int, dict[str, int]]:
    region = regions.create_region(
        session,
        code=spec["code"],
        name=spec["name"],
        kind=spec["kind"],
        province=spec["province"],
        timezone=spec["timezone"],
        abbreviation=spec["abbreviation"],
        boundary=boundary,
        is_demo=True,
    )
    office_ids = {}
    for office in spec["offices"]:
        row = regions.create_office(
            session,
            region_id=region.id,
            name=office["name"],
            short_name=office["short_name"],
            kind=office["kind"],
        )
        office_ids[row.short_name] = row.id
    return region.id, office_ids


def _load_areas(session: Session, region_id: int, areas: list[dict[str, Any]]) -> int:
    for area in areas:
        regions.create_area(
            session,
            region_id=region_id,
            code=area["code"],
            name=area["name"],
            kind=area["kind"],
            geometry=area["geometry"],
        )
    return len(areas)


@dataclass
class _Actors:
    admins: dict[str, Principal] = field(default_factory=dict)  # region code -> its admin
    operators: dict[int, Principal] = field(default_factory=dict)  # office id -> its operator
    citizens: dict[str, Principal] = field(default_factory=dict)  # region code -> a citizen account


def _load_users(
    session: Session, doc: dict[str, Any], region_ids: dict[str, int], offices: dict[str, dict[str, int]]
) -> _Actors:
    actors = _Actors()
    for account in demo_accounts():
        region_id = office_id = None
        if account.region is not None:
            region_id = region_ids[account.region]
            if account.office is not None:
                office_id = _office_id(offices[account.region], account.office, account.email)
        user = auth.create_user(
            session,
            email=account.email,
            full_name=account.full_name,
            password=doc["password"],
            role=account.role,
            region_id=region_id,
            office_id=office_id,
        )
        principal = auth.principal_for_user(user)
        if account.role == "region_admin" and account.region is not None:
            actors.admins.setdefault(account.region, principal)
        elif account.role == "office_operator" and office_id is not None:
            actors.operators.setdefault(office_id, principal)
        elif account.role == "citizen" and account.region is not None:
            actors.citizens.setdefault(account.region, principal)
    return actors


def _office_id(office_ids: dict[str, int], short_name: str, where: str) -> int:
    try:
        return office_ids[short_name]
    except KeyError:
        raise DemoDataError(f"{where}: unknown office {short_name!r}") from None


def _load_masterplan(
    session: Session,
    doc: dict[str, Any],
    *,
    region_id: int,
    office_ids: dict[str, int],
    admin: Principal,
    operators: dict[int, Principal],
    summary: DemoSummary,
    step: _Steps,
) -> None:
    plan = masterplans.create_masterplan(
        session,
        principal=admin,
        region_id=region_id,
        data=ms.MasterplanCreate.model_validate(doc["masterplan"]),
    )
    for kind, body in doc["sections"].items():
        masterplans.set_section(
            session, principal=admin, region_id=region_id, masterplan_id=plan.id, kind=kind, body=body
        )
    summary.masterplans += 1
    step(plan.title)
    base_url = doc["evidence_base_url"]

    for raw in doc["programmes"]:
        data = _programme_create(raw, office_ids)
        programme = masterplans.create_programme(
            session, principal=admin, region_id=region_id, masterplan_id=plan.id, data=data
        )
        summary.programmes += 1
        summary.quick_wins += int(programme.is_quick_win)
        # realisations are the lead office's to enter; the admin stands in where the demo has no operator
        enterer = operators.get(programme.lead_office_id or 0, admin)
        for indicator in raw.get("indicators", []):
            _load_indicator(
                session,
                indicator,
                programme_id=programme.id,
                region_id=region_id,
                masterplan_id=plan.id,
                admin=admin,
                enterer=enterer,
                base_url=base_url,
                summary=summary,
            )
        step(f"{programme.code} {programme.name}")

    for indicator in doc.get("indicators", []):
        _load_indicator(
            session,
            indicator,
            programme_id=None,
            region_id=region_id,
            masterplan_id=plan.id,
            admin=admin,
            enterer=admin,
            base_url=base_url,
            summary=summary,
        )
    step(f"{plan.title}: indikator dimensi / dimension indicators")


PROGRAMME_EXTRAS = ("lead_office", "budgets", "status", "status_notes", "indicators")


def _programme_create(raw: dict[str, Any], office_ids: dict[str, int]) -> ms.ProgrammeCreate:
    """The file's compact shape (budgets per source and year, statuses per year) as the API's."""
    fields = {k: v for k, v in raw.items() if k not in PROGRAMME_EXTRAS}
    if raw.get("lead_office"):
        fields["lead_office_id"] = _office_id(office_ids, raw["lead_office"], raw["code"])
    fields["budgets"] = [
        {"year": int(year), "source": source, "amount": amount}
        for source, per_year in raw.get("budgets", {}).items()
        for year, amount in per_year.items()
    ]
    notes = raw.get("status_notes", {})
    fields["year_statuses"] = [
        {"year": int(year), "status": status, "note": notes.get(year, "")}
        for year, status in raw.get("status", {}).items()
    ]
    return ms.ProgrammeCreate.model_validate(fields)


def _load_indicator(
    session: Session,
    raw: dict[str, Any],
    *,
    programme_id: int | None,
    region_id: int,
    masterplan_id: int,
    admin: Principal,
    enterer: Principal,
    base_url: str,
    summary: DemoSummary,
) -> None:
    fields = {k: v for k, v in raw.items() if k not in ("targets", "realisations")}
    fields["programme_id"] = programme_id
    fields["targets"] = [{"year": int(y), "value": v} for y, v in raw.get("targets", {}).items()]
    indicator = masterplans.create_indicator(
        session,
        principal=admin,
        region_id=region_id,
        masterplan_id=masterplan_id,
        data=ms.IndicatorCreate.model_validate(fields),
    )
    summary.indicators += 1
    for write in _realisations(raw, base_url):
        masterplans.record_realisation(
            session, principal=enterer, region_id=region_id, indicator_id=indicator.id, data=write
        )
        summary.realisations += 1


def _realisations(raw: dict[str, Any], base_url: str) -> Iterator[ms.RealisationWrite]:
    for year, entry in raw.get("realisations", {}).items():
        yield ms.RealisationWrite.model_validate(
            {
                "year": int(year),
                "value": entry["value"],
                "note": entry.get("note", ""),
                "evidence_url": entry.get("evidence_url") or f"{base_url}{year}/{raw['code']}.pdf",
            }
        )
