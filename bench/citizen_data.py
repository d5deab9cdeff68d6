"""The citizen-report benchmark's data: Jember as the demo has it, valid report bodies, and 100,000
stored reports for the listing (written straight into the table: setup, not what is measured)."""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson

from bench.common import REGION_CODE, progress

OFFICE = "DPU BMSDA"  # the office whose queue is listed: the demo's busiest and slowest office
# TRIAL, not the application's schema: KOTACERDAS_BENCH_TRIAL_INDEXES=1 adds these indexes to the
# benchmark's database after seeding, to show what they would change (docs/performance.md). The
# figures of a normal run are the application's schema as its migrations build it.
TRIAL_INDEXES = (
    [
        "CREATE INDEX trial_report_region_due ON report (region_id, due_at)",
        "CREATE INDEX trial_report_region_category_state ON report (region_id, category_id, state, submitted_at)",
    ]
    if os.environ.get("KOTACERDAS_BENCH_TRIAL_INDEXES") == "1"
    else []
)


# ------------------------------------------------------------------------------------------ setup


@dataclass
class Area:
    id: int
    code: str
    name: str
    weight: float
    bounds: tuple[float, float, float, float]
    geometry: Any  # a prepared shapely geometry


@dataclass
class Setup:
    url: str
    region_id: int
    file_key: str
    admin_key: str
    office_key: str
    office_id: int
    admin_user_id: int
    offices: dict[str, int]
    categories: dict[str, tuple[int, int, float]]  # code -> (id, office id, weight)
    areas: list[Area]
    texts: dict[str, Any] = field(default_factory=dict)  # the demo's texts per category

    def point(self, rng: random.Random, area: Area) -> tuple[float, float]:
        from shapely.geometry import Point

        min_lon, min_lat, max_lon, max_lat = area.bounds
        while True:
            lon, lat = rng.uniform(min_lon, max_lon), rng.uniform(min_lat, max_lat)
            if area.geometry.contains(Point(lon, lat)):
                return round(lon, 6), round(lat, 6)

    def pick_area(self, rng: random.Random) -> Area:
        return rng.choices(self.areas, weights=[a.weight for a in self.areas])[0]

    def pick_category(self, rng: random.Random) -> str:
        codes = list(self.categories)
        return rng.choices(codes, weights=[self.categories[c][2] for c in codes])[0]


def prepare(database_url: str) -> Setup:
    """Migrations, Jember with its offices, kecamatan and the demo's categories, an admin and the keys,
    all through the services."""
    from shapely.geometry import shape
    from shapely.prepared import prep

    from kotacerdas import migrate
    from kotacerdas.auth import passwords, service as auth
    from kotacerdas.citizen import categories as cats, demo as citizen_demo
    from kotacerdas.db import make_engine, make_session_factory, unit_of_work
    from kotacerdas.demo import loader
    from kotacerdas.region import service as regions

    passwords.configure(time_cost=1, memory_kib=8, parallelism=1)  # one account, made once
    spec = next(r for r in loader.read_data("regions.json")["regions"] if r["code"] == REGION_CODE)
    area_doc = loader.read_data(spec["areas"])
    report_doc = citizen_demo.demo_doc("reports", REGION_CODE)
    category_doc = citizen_demo.demo_doc("categories", REGION_CODE)
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        with unit_of_work(make_session_factory(engine)) as session:
            region = regions.create_region(
                session,
                code=REGION_CODE,
                name=spec["name"],
                kind=spec["kind"],
                province=spec["province"],
                timezone=spec["timezone"],
                abbreviation=spec["abbreviation"],
                boundary=area_doc["boundary"],
            )
            offices = {
                o["short_name"]: regions.create_office(
                    session, region_id=region.id, name=o["name"], short_name=o["short_name"], kind=o["kind"]
                ).id
                for o in spec["offices"]
            }
            areas = []
            weights = report_doc["kecamatan_weight"]
            for raw in area_doc["areas"]:
                row = regions.create_area(
                    session,
                    region_id=region.id,
                    code=raw["code"],
                    name=raw["name"],
                    kind=raw["kind"],
                    geometry=raw["geometry"],
                )
                geom = shape(raw["geometry"])
                areas.append(
                    Area(
                        row.id, row.code, row.name, float(weights.get(row.name, 1.0)), geom.bounds, prep(geom)
                    )
                )
            admin = auth.create_user(
                session,
                email="bench@jember.go.id",
                full_name="Benchmark",
                password=uuid.uuid4().hex + "Aa1!",
                role="region_admin",
                region_id=region.id,
                office_id=offices["Diskominfo"],
            )
            principal = auth.principal_for_user(admin)
            citizen_demo.load_demo_categories(
                session, region_id=region.id, office_ids=offices, admin=principal
            )
            keys = {}
            for name, permissions, office in (
                ("file", ["reports:submit"], None),
                ("admin", ["reports:manage"], None),
                ("office", ["reports:manage"], offices[OFFICE]),
            ):
                _key, keys[name] = auth.create_api_key(
                    session,
                    principal=principal,
                    region_id=region.id,
                    name=f"benchmark {name}",
                    permissions=permissions,
                    office_id=office,
                )
            categories = {}
            for raw in category_doc["categories"]:
                category = cats.get_category_by_code(session, region_id=region.id, code=raw["code"])
                categories[category.code] = (category.id, category.office_id or 0, float(raw["weight"]))
            return Setup(
                url=database_url,
                region_id=region.id,
                file_key=keys["file"],
                admin_key=keys["admin"],
                office_key=keys["office"],
                office_id=offices[OFFICE],
                admin_user_id=admin.id,
                offices=offices,
                categories=categories,
                areas=areas,
                texts=report_doc["category_texts"],
            )
    finally:
        engine.dispose()


def _fill(template: str, rng: random.Random, area: Area) -> str:
    return template.format(
        street=f"Jl. Raya {area.name}", kec=area.name, place="dekat balai desa", n=rng.randint(2, 5)
    )


def report_dicts(setup: Setup, count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Valid reports as a citizen's app would send them (no e-mail: nothing for the worker to send)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        code = setup.pick_category(rng)
        area = setup.pick_area(rng)
        lon, lat = setup.point(rng, area)
        texts = setup.texts[code]
        body: dict[str, Any] = {
            "category": code,
            "title": _fill(rng.choice(texts["titles"]), rng, area),
            "description": _fill(rng.choice(texts["descriptions"]), rng, area),
            "lat": lat,
            "lon": lon,
            "address": f"Jl. Raya {area.name}, Kec. {area.name}",
            "privacy": rng.choice(["identified"] * 14 + ["anonymous"] * 5 + ["confidential"]),
            "name": rng.choice(["Siti Aminah", "Ahmad Fauzi", "Nur Hidayati", "Slamet Riyadi", ""]),
            "phone": f"08{rng.randint(10**9, 10**10 - 1)}",
        }
        if code == "jalan-rusak":
            body["attributes"] = {"tingkat": rng.choice(["ringan", "sedang", "berat"])}
        out.append(body)
    return out


def report_bodies(setup: Setup, count: int, seed: int = 1) -> list[bytes]:
    """JSON bodies for ``POST /api/v1/regions/35.09/reports``."""
    return [orjson.dumps(body) for body in report_dicts(setup, count, seed)]


def open311_bodies(setup: Setup, count: int, seed: int = 1) -> list[bytes]:
    """Form bodies for Open311's ``POST /open311/v2/requests.json`` (the key in ``api_key``)."""
    out = []
    for body in report_dicts(setup, count, seed):
        first, _, last = body["name"].partition(" ")
        fields = [
            ("api_key", setup.file_key),
            ("service_code", body["category"]),
            ("lat", str(body["lat"])),
            ("long", str(body["lon"])),
            ("address_string", body["address"]),
            ("description", body["description"]),
            ("first_name", first),
            ("last_name", last),
            ("phone", body["phone"]),
            *((f"attribute[{k}]", v) for k, v in body.get("attributes", {}).items()),
        ]
        out.append(urlencode(fields).encode())
    return out


# ---------------------------------------------------------------------------------------- seeding


OPEN = ("submitted", "disposed", "in_progress", "responded")


def seed(setup: Setup, count: int, now: datetime) -> None:
    """``count`` reports written straight into the table: setup, not what is measured. Two years of
    them; nearly all older than six weeks are closed; a third of the open ones are overdue (and were
    escalated, so that the server's worker has nothing to do during the run)."""
    from sqlalchemy import insert

    from kotacerdas.citizen.models import Report
    from kotacerdas.db import make_engine

    rng = random.Random(35_09)
    rows: list[dict[str, Any]] = []
    hour = timedelta(hours=1)
    for _ in range(count):
        code = setup.pick_category(rng)
        category_id, office_id, _weight = setup.categories[code]
        area = setup.pick_area(rng)
        lon, lat = setup.point(rng, area)
        submitted = now - timedelta(seconds=rng.uniform(0, 730 * 86400))
        age = (now - submitted).days
        p_open = 0.85 if age < 7 else 0.45 if age < 21 else 0.15 if age < 42 else 0.01
        state = "closed"
        if rng.random() < p_open:
            state = rng.choices(OPEN, weights=[0.35 if age < 5 else 0.03, 0.2, 0.45, 0.3])[0]
        elif rng.random() < 0.05:
            state = "rejected"
        texts = setup.texts[code]
        verified = submitted + hour * rng.uniform(1, 72) if state != "submitted" else None
        responded = (
            verified + hour * rng.uniform(4, 240)
            if verified is not None and state in ("responded", "closed")
            else None
        )
        closed = (
            (responded or verified or submitted) + hour * rng.uniform(1, 240)
            if state in ("closed", "rejected")
            else None
        )
        due = None
        escalated = None
        if state in OPEN:
            if rng.random() < 0.33:
                due = now - hour * rng.uniform(1, 24 * 30)
                escalated = due + timedelta(minutes=5)
            else:
                due = now + hour * rng.uniform(24, 24 * 10)
        # a recent report's later steps cannot lie in the future: they happen by "now" at the latest
        late = now - timedelta(minutes=1)
        verified, responded, closed = (
            min(m, late) if m is not None else None for m in (verified, responded, closed)
        )
        moments = [m for m in (submitted, verified, responded, closed) if m is not None]
        rows.append(
            {
                "region_id": setup.region_id,
                "tracking_no": "",
                "category_id": category_id,
                "office_id": office_id if verified is not None and state != "rejected" else None,
                "suggested_office_id": office_id,
                "area_id": area.id,
                "title": _fill(rng.choice(texts["titles"]), rng, area),
                "description": _fill(rng.choice(texts["descriptions"]), rng, area),
                "lat": lat,
                "lon": lon,
                "address": f"Jl. Raya {area.name}, Kec. {area.name}",
                "privacy": rng.choices(("identified", "anonymous", "confidential"), weights=(70, 25, 5))[0],
                "reporter_user_id": None,
                "reporter_name": "Warga",
                "reporter_email": "",
                "reporter_phone": "",
                "access_code_hash": hashlib.sha256(rng.randbytes(9)).hexdigest(),
                "channel": rng.choice(("web", "web", "api", "open311")),
                "state": state,
                "resolution": rng.choice(("resolved", "resolved", "unresolved", "no_answer"))
                if state == "closed"
                else None,
                "reject_reason": rng.choice(("duplicate", "not_authority", "spam"))
                if state == "rejected"
                else None,
                "duplicate_of_id": None,
                "status_note": "",
                "due_at": due,
                "verify_due_at": submitted + timedelta(days=4),
                "respond_due_at": verified + timedelta(days=7) if verified else None,
                "close_due_at": responded + timedelta(days=14) if responded else None,
                "submitted_at": submitted,
                "verified_at": verified,
                "first_response_at": responded,
                "responded_at": responded,
                "closed_at": closed,
                "updated_at": max(moments),
                "escalated_at": escalated,
                "supporters": rng.choice((0, 0, 0, 1, 2, 5)),
                "open311_token": None,
                "attributes": {},
                "media_url": "",
            }
        )
    rows.sort(key=lambda r: r["submitted_at"])
    numbers: dict[int, int] = {}
    for row in rows:
        year = row["submitted_at"].year
        numbers[year] = numbers.get(year, 0) + 1
        row["tracking_no"] = f"JBR-{year}-{numbers[year]:06d}"
    engine = make_engine(setup.url)
    try:
        with progress() as bar:
            task = bar.add_task(f"storing {count:,} reports (core inserts, batches of 5,000)", total=count)
            for start in range(0, count, 5000):
                with engine.begin() as conn:
                    conn.execute(insert(Report), rows[start : start + 5000])
                bar.advance(task, min(5000, count - start))
        if TRIAL_INDEXES:
            with engine.begin() as conn:
                for statement in TRIAL_INDEXES:
                    conn.exec_driver_sql(statement)
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:  # what autovacuum would do within a minute of the load
                conn.exec_driver_sql("ANALYZE report")
                conn.commit()
    finally:
        engine.dispose()
