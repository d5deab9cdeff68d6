"""Citizen reports: filing over HTTP on one worker, and listing with 100,000 reports stored.

Setup (not measured): a migrated database with Jember (35.09) as the demo has it: its boundary, 26
offices, 31 kecamatan polygons and the demo's 15 report categories (``citizen.demo``), an admin
account and three API keys: one that files (``reports:submit``, no office), one of the region's
verifiers (``reports:manage``, no office: ``scope=admin``) and one of DPU BMSDA's queue
(``reports:manage`` with that office: ``scope=office``).

1. Filing: ``POST /api/v1/regions/35.09/reports`` with valid JSON reports (a category of the demo,
   a point inside a kecamatan, title, description, name, phone) from another process over keep-alive
   connections, against ``kotacerdas serve`` (one uvicorn worker, its embedded worker on, as
   deployed). Ceiling, same run: ``GET /healthz`` of the same server under the same client load
   (the HTTP stack, the app's middleware and its thread hand-off, with nothing to do). The stored
   rows are counted afterwards against the 201s; one connection alone is measured too. The same
   load as Open311 ``POST /open311/v2/requests.json`` (form-urlencoded, ``api_key``), when the app
   has that route. The load generator (``bench.raw_http``) speaks HTTP/1.1 on raw asyncio sockets,
   so that it is not the bottleneck of the ceiling.
2. Listing: 100,000 reports written straight into the table in batches (SQLAlchemy core; states,
   offices, categories, kecamatan, dates and deadlines spread as a busy region's would be: two
   years, most closed, the open ones recent, about a third of them overdue). Then sequential
   ``GET /api/v1/regions/35.09/reports`` requests of several kinds (office queue, the verifiers' views
   with state, category, date and overdue filters sorted by deadline, the public list), limit 50,
   timed per request over HTTP. Floor, same run: each request's SQL, recorded through the app in
   process and replayed by the raw driver (``bench.sqlreplay``), timed the same way.

The setup and the seeding are in ``bench.citizen_data``. ``KOTACERDAS_BENCH_TRIAL_INDEXES=1`` adds
trial indexes to the listing's database (marked as such in the figures' names): what the indexes
proposed in docs/performance.md would change.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import orjson

from bench.citizen_data import TRIAL_INDEXES, Setup, open311_bodies, prepare, report_bodies, seed
from bench.common import (
    REGION_CODE,
    Figure,
    Options,
    console,
    count_rows,
    database,
    fmt,
    median,
    per_backend,
    percentile,
    processes,
    progress,
    show,
    start_server,
    workdir,
)
from bench.raw_http import rate as rate_of, raw_requests, run_load
from bench.sqlreplay import Recorder, Unit, replay_each

TARGET_RATE = 500.0  # reports filed per second, one worker
TARGET_P99_MS = 50.0  # listing, p99, with 100,000 reports stored
REPORTS = 100_000
QUICK_REPORTS = 20_000
CONNECTIONS = 8  # keep-alive connections of the filing load
REPORTS_PATH = f"/api/v1/regions/{REGION_CODE}/reports"
OPEN311_PATH = "/open311/v2/requests.json"


# ----------------------------------------------------------------------------------- filing


def service_rate(setup: Setup, bodies: list[bytes]) -> float:
    """Reports/s through ``reports.file_report`` in this process, one unit of work each (no HTTP)."""
    from kotacerdas.auth.access import Principal
    from kotacerdas.citizen import reports
    from kotacerdas.db import make_engine, make_session_factory, unit_of_work

    principal = Principal(
        kind="api_key",
        label="benchmark",
        region_id=setup.region_id,
        permissions=frozenset(["reports:submit"]),
    )
    engine = make_engine(setup.url)
    factory = make_session_factory(engine)
    try:
        start = time.perf_counter()
        for raw in bodies:
            body = orjson.loads(raw)
            with unit_of_work(factory) as session:
                reports.file_report(
                    session,
                    principal=principal,
                    region_id=setup.region_id,
                    category_id=setup.categories[body["category"]][0],
                    title=body["title"],
                    description=body["description"],
                    lat=body["lat"],
                    lon=body["lon"],
                    address=body["address"],
                    privacy=body["privacy"],
                    reporter_name=body["name"],
                    reporter_phone=body["phone"],
                    channel="api",
                    attributes=body.get("attributes"),
                )
        return len(bodies) / (time.perf_counter() - start)
    finally:
        engine.dispose()


def filing(backend: str, *, quick: bool) -> list[Figure]:
    duration = 5.0 if quick else 10.0
    console.print(
        f"[bold]reports: filing[/bold] on {backend}: POST {REPORTS_PATH}, {CONNECTIONS} keep-alive "
        f"connections, {duration:.0f} s (after 2 s of warm-up)"
    )
    with workdir(f"reports-post-{backend}") as wd, processes() as started:
        with database(backend, wd, "scratch") as scratch:
            scratch_setup = prepare(scratch)
            in_process = service_rate(
                scratch_setup, report_bodies(scratch_setup, 300 if quick else 1000, seed=2)
            )
        with database(backend, wd, "hub") as url:
            setup = prepare(url)
            server, base = start_server(started, workdir=wd, database_url=url)
            headers = {"Authorization": f"Bearer {setup.file_key}", "Accept": "application/json"}
            bodies = report_bodies(setup, 20_000)
            posts = raw_requests("POST", base + REPORTS_PATH, bodies, headers)
            cpu_before = server.cpu()
            with console.status(f"  filing for {duration:.0f} s ..."):
                result = run_load(base, posts, wd, concurrency=CONNECTIONS, warmup=2.0, duration=duration)
            cpu = server.cpu() - cpu_before
            with console.status("  one connection (requests one after the other) ..."):
                single = run_load(base, posts[::-1], wd, concurrency=1, warmup=0.5, duration=3.0)
            stored = count_rows(url, "SELECT count(*) FROM report")
            open311 = None
            if has_open311_post():
                form = raw_requests(
                    "POST",
                    base + OPEN311_PATH,
                    open311_bodies(setup, 20_000, seed=3),
                    {"Accept": "application/json"},
                    content_type="application/x-www-form-urlencoded",
                )
                with console.status(f"  Open311: filing for {duration:.0f} s ..."):
                    open311 = run_load(base, form, wd, concurrency=CONNECTIONS, warmup=2.0, duration=duration)
                stored_open311 = count_rows(url, "SELECT count(*) FROM report WHERE channel = 'open311'")
            with console.status("  GET /healthz, same server, same load ..."):
                health = run_load(
                    base,
                    raw_requests("GET", base + "/healthz", [], headers),
                    wd,
                    concurrency=CONNECTIONS,
                    warmup=1.0,
                    duration=min(duration, 5.0),
                )
            causes = server.errors()
            server.stop()
            started.remove(server)
    rate = rate_of(result, ("201",))
    ceiling = rate_of(health, ("200",))
    lat = result["latencies_ms"]
    created = result["statuses"].get("201", 0) + single["statuses"].get("201", 0)
    figure = Figure(
        bench="reports",
        name=f"file a report, POST JSON API, {backend}",
        value=rate,
        unit="reports/s",
        target=TARGET_RATE,
        ceiling=ceiling,
        ceiling_name=f"GET /healthz req/s, same server and client, {CONNECTIONS} connections",
        extra={
            "requests": f"{created:,} filed in {result['elapsed']:.1f} s; latency p50 {fmt(median(lat))} ms, "
            f"p99 {fmt(percentile(lat, 99))} ms",
            "one connection": f"{fmt(rate_of(single, ('201',)))} reports/s, p50 "
            f"{fmt(median(single['latencies_ms']))} ms, p99 {fmt(percentile(single['latencies_ms'], 99))} ms",
            "stored": f"{stored:,} report rows (warm-ups included); every 201 stored: "
            f"{'yes' if stored >= created else 'NO'}",
            "server CPU": f"{cpu / (result['elapsed'] + 2.0) * 100:.0f}% of one core",
            "file_report in process (one unit of work each, no HTTP)": f"{fmt(in_process)} reports/s",
            "/healthz": f"{fmt(ceiling)} req/s, p50 {fmt(median(health['latencies_ms']))} ms, "
            f"p99 {fmt(percentile(health['latencies_ms'], 99))} ms",
        },
        data={
            "p50_ms": median(lat),
            "p99_ms": percentile(lat, 99),
            "in_process": in_process,
            "healthz_p99_ms": percentile(health["latencies_ms"], 99),
        },
    )
    refused = {k: v for r in (result, single) for k, v in r["statuses"].items() if k != "201"}
    if refused or stored < created:
        figure.fail = (
            f"refused {refused} (answers: {result['errors'][:3]}; server log: {causes}); "
            f"stored {stored} for {created} filed"
        )
    show(figure)
    figures = [figure]
    if open311 is not None:
        lat = open311["latencies_ms"]
        created = open311["statuses"].get("200", 0)
        variant = Figure(
            bench="reports",
            name=f"file a report, POST Open311 (form), {backend}",
            value=rate_of(open311, ("200",)),
            unit="reports/s",
            target=TARGET_RATE,
            ceiling=ceiling,
            ceiling_name=figure.ceiling_name,
            extra={
                "requests": f"{created:,} filed in {open311['elapsed']:.1f} s; latency p50 "
                f"{fmt(median(lat))} ms, p99 {fmt(percentile(lat, 99))} ms",
                "stored": f"{stored_open311:,} open311 rows (warm-up included); every 200 stored: "
                f"{'yes' if stored_open311 >= created else 'NO'}",
            },
            data={"p50_ms": median(lat), "p99_ms": percentile(lat, 99)},
        )
        refused = {k: v for k, v in open311["statuses"].items() if k != "200"}
        if refused or stored_open311 < created:
            variant.fail = (
                f"refused {refused} (answers: {open311['errors'][:3]}); stored {stored_open311} for {created}"
            )
        show(variant)
        figures.append(variant)
    return figures


def has_open311_post() -> bool:
    """Whether the app serves Open311's POST Service Request (written apart from the JSON API)."""
    from kotacerdas.citizen import open311

    return any(
        getattr(route, "path", "") == OPEN311_PATH.replace(".json", ".{fmt}")
        and "POST" in getattr(route, "methods", ())
        for router in (open311.router, getattr(open311, "filing_router", open311.router))
        for route in router.routes
    )


# ---------------------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    who: str  # office | admin | public


KINDS = [
    Kind("office_queue", "office queue: disposed + in progress, by deadline", "office"),
    Kind("office_overdue", "office queue: overdue, by deadline", "office"),
    Kind("admin_verify", "verifiers: waiting for verification, by deadline", "admin"),
    Kind("admin_category_month", "verifiers: category + since/until (a month), newest", "admin"),
    Kind("admin_overdue", "verifiers: overdue, by deadline", "admin"),
    Kind("public_newest", "public: newest, pages 1-5", "public"),
    Kind("public_filtered", "public: category + state + kecamatan, newest", "public"),
]


def listing_paths(kind: Kind, setup: Setup, n: int, now: datetime) -> list[str]:
    rng = random.Random(kind.key)
    codes = list(setup.categories)
    out = []
    for _ in range(n):
        params: list[tuple[str, str]] = [("limit", "50")]
        if kind.key == "office_queue":
            params += [
                ("scope", "office"),
                ("state", "disposed"),
                ("state", "in_progress"),
                ("sort", "deadline"),
            ]
        elif kind.key == "office_overdue":
            params += [("scope", "office"), ("overdue", "true"), ("sort", "deadline")]
        elif kind.key == "admin_verify":
            params += [("scope", "admin"), ("state", "submitted"), ("sort", "deadline")]
        elif kind.key == "admin_category_month":
            since = (now - timedelta(days=rng.randint(30, 700))).date()
            params += [
                ("scope", "admin"),
                ("category", rng.choice(codes)),
                ("since", since.isoformat()),
                ("until", (since + timedelta(days=30)).isoformat()),
            ]
        elif kind.key == "admin_overdue":
            params += [("scope", "admin"), ("overdue", "true"), ("sort", "deadline")]
        elif kind.key == "public_newest":
            params += [("offset", str(50 * rng.randint(0, 4)))]
        else:
            params += [
                ("category", rng.choice(codes)),
                ("state", "closed"),
                ("area", setup.pick_area(rng).code),
            ]
        out.append(f"{REPORTS_PATH}?{urlencode(params)}")
    return out


def _headers(kind: Kind, setup: Setup) -> dict[str, str]:
    if kind.who == "office":
        return {"Authorization": f"Bearer {setup.office_key}"}
    if kind.who == "admin":
        return {"Authorization": f"Bearer {setup.admin_key}"}
    return {}


def _check(status: int, body: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    if not isinstance(orjson.loads(body).get("items"), list):
        return f"no items: {body[:300]!r}"
    return None


def record_sql(setup: Setup, kind: Kind, paths: list[str], budget: float) -> list[Unit]:
    """Make the requests through the app in this process and record each one's SQL."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from kotacerdas.app import create_app
    from kotacerdas.config import Settings
    from kotacerdas.db import make_engine

    engine = make_engine(setup.url)
    try:
        settings = Settings(
            database_url=setup.url, log_level="warning", default_region=REGION_CODE, embedded_worker=False
        )
        client = TestClient(create_app(settings, engine=engine), base_url="http://127.0.0.1")
        client.headers.update(_headers(kind, setup))
        client.get(paths[0])  # the key's last use is stamped once a minute: not in the recorded units
        recorder = Recorder(engine)
        deadline = time.monotonic() + budget
        for path in paths:
            if recorder.units and time.monotonic() > deadline:
                break
            with recorder.unit():
                resp = client.get(path)
            problem = _check(resp.status_code, resp.content)
            if problem:
                raise RuntimeError(f"{kind.key} (in process): {path}: {problem}")
        return recorder.units
    finally:
        engine.dispose()


def query_plans(database_url: str, unit: Unit) -> list[str]:
    """The plans of a request's statements on the report table (the page, and the count)."""
    from bench.common import libpq_url, sqlite_path

    found = [
        s for s in unit.statements if re.search(r"\bFROM report\s", s.sql) and "report.id IN" not in s.sql
    ]
    plans = []
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(sqlite_path(database_url)) as lite:
            for statement in found:
                rows = lite.execute("EXPLAIN QUERY PLAN " + statement.sql, statement.params or ()).fetchall()
                kind = "count" if "count(" in statement.sql else "page"
                plans.append(f"{kind}: " + "; ".join(r[3] for r in rows))
        return plans
    import psycopg

    with psycopg.connect(libpq_url(database_url)) as pg:
        for statement in found:
            rows = pg.execute("EXPLAIN " + statement.sql, statement.params).fetchall()
            kind = "count" if "count(" in statement.sql else "page"
            plans.append(
                f"{kind}: " + " / ".join(r[0].strip() for r in rows if "Scan" in r[0] or "Sort" in r[0])
            )
    return plans


@dataclass
class Timing:
    latencies: list[float]  # ms, over HTTP
    total: float  # matching reports (the page's "total"), median over the requests
    floor: list[float] = field(default_factory=list)  # ms, the same SQL by the raw driver
    statements: float = 0.0  # SQL statements per request, median
    plans: list[str] = field(default_factory=list)  # how the database runs the page's and count's SQL


def listing(backend: str, *, quick: bool) -> list[Figure]:
    count = QUICK_REPORTS if quick else REPORTS
    n_requests = 100 if quick else 300
    console.print(
        f"[bold]reports: listing[/bold] on {backend}: {count:,} reports stored, {n_requests} sequential "
        f"requests per kind, limit 50"
    )
    if TRIAL_INDEXES:
        console.print(
            "  [yellow]TRIAL indexes added to the benchmark's database:[/yellow] " + "; ".join(TRIAL_INDEXES)
        )
    now = datetime.now(UTC)
    results: dict[str, Timing] = {}
    with (
        workdir(f"reports-list-{backend}") as wd,
        processes() as started,
        database(backend, wd, "hub") as url,
    ):
        setup = prepare(url)
        seed(setup, count, now)
        server, base = start_server(started, workdir=wd, database_url=url)
        for kind in KINDS:
            paths = listing_paths(kind, setup, n_requests, now)
            latencies: list[float] = []
            totals: list[int] = []
            with httpx.Client(base_url=base, timeout=30, headers=_headers(kind, setup)) as client:
                for path in paths[:5]:  # warm-up
                    client.get(path)
                with progress() as bar:
                    task = bar.add_task(f"{kind.key} over HTTP", total=len(paths))
                    for path in paths:
                        start = time.perf_counter()
                        resp = client.get(path)
                        latencies.append((time.perf_counter() - start) * 1000)
                        problem = _check(resp.status_code, resp.content)
                        if problem:
                            raise RuntimeError(
                                f"{kind.key}: {path}: {problem}\nserver log: {server.errors()}"
                            )
                        totals.append(orjson.loads(resp.content)["total"])
                        bar.advance(task)
            results[kind.key] = Timing(latencies, median(totals))
        server.stop()
        started.remove(server)
        for kind in KINDS:
            paths = listing_paths(kind, setup, min(n_requests, 60), now)
            with console.status(f"  recording the SQL of {kind.key} in process ..."):
                units = record_sql(setup, kind, paths, budget=10.0)
                timing = results[kind.key]
                timing.floor = [x * 1000 for x in replay_each(url, units, len(timing.latencies))]
                timing.statements = median([len(u.statements) for u in units])
                timing.plans = query_plans(url, units[0])
    figures = []
    for kind in KINDS:
        timing = results[kind.key]
        lat, floor, total, statements = timing.latencies, timing.floor, timing.total, timing.statements
        figure = Figure(
            bench="reports",
            name=f"list: {kind.label}, p99, {backend}{' (TRIAL indexes)' if TRIAL_INDEXES else ''}",
            value=percentile(lat, 99),
            unit="ms",
            target=TARGET_P99_MS,
            higher_is_better=False,
            ceiling=percentile(floor, 99),
            ceiling_name="the request's SQL, raw driver, p99",
            extra={
                "latency": f"p50 {fmt(median(lat))} ms, p99 {fmt(percentile(lat, 99))} ms, max {fmt(max(lat))} ms "
                f"over {len(lat)} requests",
                "SQL alone": f"p50 {fmt(median(floor))} ms, p99 {fmt(percentile(floor, 99))} ms "
                f"({statements:.0f} statements per request)",
                "matching reports (total), median": f"{total:,.0f} of {count:,}",
                **{f"plan {n}": plan for n, plan in enumerate(timing.plans, start=1)},
            },
            data={
                "p50": median(lat),
                "p99": percentile(lat, 99),
                "sql_p50": median(floor),
                "sql_p99": percentile(floor, 99),
                "total_median": total,
            },
        )
        show(figure)
        figures.append(figure)
    return figures


def run(options: Options) -> list[Figure]:
    return per_backend(options, lambda b: [*filing(b, quick=options.quick), *listing(b, quick=options.quick)])
