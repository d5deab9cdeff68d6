"""Reads with 100,000 entities stored: by id, type + q, near, and an hourly average over 30 days.

Data: 100,000 entities of four city types (traffic sensors, parking spots, streetlights, air
quality stations), each with about six attributes and a Point in Jember (lon 113.3-114.0,
lat -8.5 to -7.95): most around the towns (Jember, Ambulu, Kalisat, Balung, Rambipuji, Tanggul), the
rest scattered over the regency. They are written through ``hub.service.upsert_entities`` in batches
of 1,000 (not over HTTP), and one traffic sensor gets 30 days of one-minute ``intensity`` history
(43,200 instances) through ``hub.temporal.upsert_temporal``.

Each kind of request is sent sequentially over HTTP (keep-alive, no key: public types) to
`kotacerdas serve` and timed per request. The floor is the same SQL run directly: every request is
first made through the app in-process while its SQL is recorded, then those statements are replayed
by the raw driver, one transaction per request, and timed the same way.
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import orjson

from bench.common import (
    JEMBER_LAT,
    JEMBER_LON,
    LOCAL,
    REGION_CODE,
    ROOT,
    Figure,
    Hub,
    Options,
    Process,
    console,
    database,
    fmt,
    free_port,
    hub_env,
    key_principal,
    median,
    per_backend,
    percentile,
    prepare_hub,
    processes,
    progress,
    show,
    start_server,
    wait_until,
    workdir,
)
from bench.sqlreplay import Recorder, Unit, replay_each

ENTITIES = 100_000
BATCH = 1000
HISTORY_ID = "urn:ngsi-ld:TrafficFlowObserved:jember:bench-history"
HISTORY_START = datetime(2026, 10, 1, tzinfo=UTC)
HISTORY_MINUTES = 30 * 24 * 60  # 43,200
# (lon, lat, spread in degrees, share of the entities): towns of Jember regency
TOWNS = [
    (113.700, -8.170, 0.025, 0.40),  # Jember (Kaliwates, Patrang, Sumbersari)
    (113.610, -8.350, 0.012, 0.07),  # Ambulu
    (113.800, -8.130, 0.012, 0.06),  # Kalisat
    (113.540, -8.270, 0.012, 0.06),  # Balung
    (113.610, -8.180, 0.010, 0.05),  # Rambipuji
    (113.460, -8.160, 0.012, 0.06),  # Tanggul
]
KINDS = [
    ("TrafficFlowObserved", 0.4),
    ("ParkingSpot", 0.3),
    ("Streetlight", 0.2),
    ("AirQualityObserved", 0.1),
]


@dataclass(frozen=True)
class Target:
    kind: str
    label: str
    target_ms: float


TARGETS = [
    Target("by_id", "retrieve entity by id", 5.0),
    Target("type_q", "type + q, 100 returned", 50.0),
    Target("near", "near;maxDistance==2000, 20 returned", 20.0),
    Target("temporal", "hourly avg over 30 days of 1-minute data", 100.0),
]


# ------------------------------------------------------------------------------------------ data


def _place(rng: random.Random) -> tuple[float, float]:
    pick = rng.random()
    for lon, lat, spread, share in TOWNS:
        if pick < share:
            point = (rng.gauss(lon, spread), rng.gauss(lat, spread))
            break
        pick -= share
    else:
        point = (rng.uniform(*JEMBER_LON), rng.uniform(*JEMBER_LAT))
    return (
        round(min(max(point[0], JEMBER_LON[0]), JEMBER_LON[1]), 6),
        round(min(max(point[1], JEMBER_LAT[0]), JEMBER_LAT[1]), 6),
    )


def make_entity(n: int, rng: random.Random, observed: str) -> dict[str, Any]:
    pick = rng.random()
    kind = KINDS[-1][0]
    for name, share in KINDS:
        if pick < share:
            kind = name
            break
        pick -= share
    lon, lat = _place(rng)
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:{kind}:jember:b{n:06d}",
        "type": kind,
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
    }

    def prop(value: Any, unit: str | None = None) -> dict[str, Any]:
        out = {"type": "Property", "value": value, "observedAt": observed}
        if unit:
            out["unitCode"] = unit
        return out

    if kind == "TrafficFlowObserved":
        entity.update(
            intensity=prop(rng.randint(0, 1000)),
            averageVehicleSpeed=prop(round(rng.uniform(5, 70), 1), "KMH"),
            occupancy=prop(round(rng.random(), 3)),
            congested=prop(rng.random() < 0.3),
            laneDirection={"type": "Property", "value": rng.choice(["forward", "backward"])},
        )
    elif kind == "ParkingSpot":
        entity.update(
            status=prop(rng.choice(["free", "occupied", "occupied"])),
            category={"type": "Property", "value": [rng.choice(["onStreet", "offStreet"])]},
            width={"type": "Property", "value": 2.5, "unitCode": "MTR"},
            refParkingSite={
                "type": "Relationship",
                "object": f"urn:ngsi-ld:ParkingSite:jember:{n % 500:03d}",
            },
            name={"type": "Property", "value": f"Petak parkir {n}"},
        )
    elif kind == "Streetlight":
        entity.update(
            powerState=prop(rng.choice(["on", "off"])),
            illuminanceLevel=prop(round(rng.random(), 2)),
            lanternHeight={"type": "Property", "value": 9, "unitCode": "MTR"},
            status=prop("ok"),
            name={"type": "Property", "value": f"PJU {n}"},
        )
    else:
        entity.update(
            pm25=prop(round(rng.uniform(5, 80), 1), "GQ"),
            pm10=prop(round(rng.uniform(10, 120), 1), "GQ"),
            no2=prop(round(rng.uniform(5, 60), 1), "GQ"),
            airQualityLevel=prop(rng.choice(["baik", "sedang", "tidak sehat"])),
            name={"type": "Property", "value": f"Stasiun udara {n}"},
        )
    return entity


def load(database_url: str, hub: Hub, count: int) -> None:
    """``count`` entities through the service, then the 30-day history of one sensor."""
    from kotacerdas.db import make_engine, make_session_factory, unit_of_work
    from kotacerdas.hub import service, temporal

    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    ctx = service.core_context()
    principal = key_principal(hub)
    rng = random.Random(35_09)
    observed = "2026-10-31T00:00:00.000Z"
    try:
        with progress() as bar:
            task = bar.add_task(f"storing {count:,} entities (service, batches of {BATCH:,})", total=count)
            for start in range(0, count, BATCH):
                batch = [make_entity(n, rng, observed) for n in range(start, min(start + BATCH, count))]
                with unit_of_work(factory) as session:
                    outcome = service.upsert_entities(
                        session, region_id=hub.region_id, principal=principal, entities=batch, ctx=ctx
                    )
                if outcome.errors:
                    raise RuntimeError(f"entities refused: {outcome.errors[:3]}")
                bar.advance(task, len(batch))
            chunk = 4320
            task = bar.add_task(
                f"storing {HISTORY_MINUTES:,} one-minute instances (temporal)", total=HISTORY_MINUTES
            )
            rng = random.Random(7)
            for start in range(0, HISTORY_MINUTES, chunk):
                instances = []
                for minute in range(start, min(start + chunk, HISTORY_MINUTES)):
                    at = HISTORY_START + timedelta(minutes=minute)
                    hour = (at.hour + 7) % 24
                    value = round(300 + 250 * math.sin(math.pi * hour / 24) + rng.gauss(0, 30))
                    instances.append(
                        {
                            "type": "Property",
                            "value": value,
                            "observedAt": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        }
                    )
                body = {"id": HISTORY_ID, "type": "TrafficFlowObserved", "intensity": instances}
                with unit_of_work(factory) as session:
                    temporal.upsert_temporal(
                        session, region_id=hub.region_id, principal=principal, raw=body, ctx=ctx
                    )
                bar.advance(task, len(instances))
    finally:
        engine.dispose()


# -------------------------------------------------------------------------------------- requests


def requests(kind: str, n: int, ids: list[str], seed: int = 1) -> list[str]:
    """``n`` request paths of one kind (varied: ids, thresholds and places differ)."""
    rng = random.Random(f"{kind}:{seed}")
    base = "/ngsi-ld/v1"
    out = []
    for _ in range(n):
        if kind == "by_id":
            out.append(f"{base}/entities/{quote(rng.choice(ids), safe=':')}")
        elif kind == "type_q":
            threshold = rng.randint(300, 800)
            params = {
                "type": "TrafficFlowObserved",
                "q": f"intensity>{threshold};congested==true",
                "limit": "100",
            }
            out.append(f"{base}/entities?{urlencode(params)}")
        elif kind == "near":
            lon, lat, spread, _share = TOWNS[0]
            point = [round(rng.gauss(lon, spread / 2), 5), round(rng.gauss(lat, spread / 2), 5)]
            params = {
                "georel": "near;maxDistance==2000",
                "geometry": "Point",
                "coordinates": orjson.dumps(point).decode(),
                "limit": "20",
            }
            out.append(f"{base}/entities?{urlencode(params)}")
        else:
            end = HISTORY_START + timedelta(minutes=HISTORY_MINUTES)
            params = {
                "attrs": "intensity",
                "options": "aggregatedValues",
                "aggrMethods": "avg",
                "aggrPeriodDuration": "PT1H",
                "timerel": "between",
                "timeAt": HISTORY_START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endTimeAt": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            out.append(f"{base}/temporal/entities/{quote(HISTORY_ID, safe=':')}?{urlencode(params)}")
    return out


def check(kind: str, status: int, body: bytes) -> str | None:
    """What is wrong with a response, if anything (each kind must return what the target says)."""
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    data = orjson.loads(body)
    if kind == "type_q" and len(data) != 100:
        return f"returned {len(data)} entities, not 100"
    if kind == "near" and len(data) != 20:
        return f"returned {len(data)} entities, not 20"
    if kind == "temporal":
        values = data.get("intensity", {}).get("avg") if isinstance(data, dict) else None
        if not isinstance(values, list) or len(values) != HISTORY_MINUTES // 60:
            count = len(values) if isinstance(values, list) else "no"
            return f"returned {count} hourly averages, not {HISTORY_MINUTES // 60}: {body[:300]!r}"
    return None


MIN_REQUESTS = 20  # even a slow kind gets this many samples, whatever the time budget


def timed(client: httpx.Client, kind: str, paths: list[str], budget: float) -> list[float]:
    """Sequential requests until all are done or ``budget`` seconds passed (and MIN_REQUESTS made)."""
    latencies: list[float] = []
    deadline = time.monotonic() + budget
    with progress() as bar:
        task = bar.add_task(f"{kind} over HTTP", total=len(paths))
        for path in paths:
            if len(latencies) >= MIN_REQUESTS and time.monotonic() > deadline:
                break
            start = time.perf_counter()
            resp = client.get(path)
            latencies.append((time.perf_counter() - start) * 1000)
            problem = check(kind, resp.status_code, resp.content)
            if problem:
                raise RuntimeError(f"{kind}: {path}: {problem}")
            bar.advance(task)
    return latencies


def record_sql(database_url: str, kind: str, paths: list[str], budget: float) -> list[Unit]:
    """Make the requests through the app in this process and record each one's SQL (as many as
    ``budget`` seconds allow, at least one)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette's note about httpx in its TestClient
        from fastapi.testclient import TestClient

    from kotacerdas.app import create_app
    from kotacerdas.config import Settings
    from kotacerdas.db import make_engine

    engine = make_engine(database_url)
    try:
        settings = Settings(
            database_url=database_url, log_level="warning", default_region=REGION_CODE, embedded_worker=False
        )
        app = create_app(settings, engine=engine)
        recorder = Recorder(engine)
        client = TestClient(app, base_url="http://127.0.0.1")
        deadline = time.monotonic() + budget
        for path in paths:
            if recorder.units and time.monotonic() > deadline:
                break
            with recorder.unit():
                resp = client.get(path)
            problem = check(kind, resp.status_code, resp.content)
            if problem:
                raise RuntimeError(f"{kind} (in process): {path}: {problem}")
        return recorder.units
    finally:
        engine.dispose()


def run_backend(backend: str, *, quick: bool) -> list[Figure]:
    n_requests = 200 if quick else 500
    budget = 10.0 if quick else 20.0  # seconds per kind; a slow kind stops early (at least 20 requests)
    console.print(
        f"[bold]queries[/bold] on {backend}: {ENTITIES:,} entities, up to {n_requests} sequential requests "
        f"or {budget:.0f} s per kind"
    )
    figures = []
    with workdir(f"queries-{backend}") as wd, processes() as started, database(backend, wd, "hub") as url:
        hub = prepare_hub(url)
        load(url, hub, ENTITIES)
        rng = random.Random(3)
        ids = _existing(url, rng.sample(range(ENTITIES), 2000))
        nearby = _near_candidates(url, requests("near", 50, ids))
        server, base = start_server(started, workdir=wd, database_url=url)
        results: dict[str, tuple[list[float], list[float]]] = {}
        with httpx.Client(base_url=base, timeout=30) as client:
            for target in TARGETS:
                paths = requests(target.kind, n_requests, ids)
                for path in paths[:5]:  # warm-up
                    client.get(path)
                try:
                    results[target.kind] = (timed(client, target.kind, paths, budget), [])
                except RuntimeError as exc:
                    raise RuntimeError(f"{exc}\nserver log: {server.errors()}") from None
        server.stop()
        started.remove(server)
        http_floor = _http_floor(started, wd, n_requests)
        for target in TARGETS:
            paths = requests(target.kind, min(n_requests, 100), ids)
            with console.status(f"  recording the SQL of {target.kind} in process ..."):
                units = record_sql(url, target.kind, paths, budget / 3)
                floor = [x * 1000 for x in replay_each(url, units, len(results[target.kind][0]))]
            results[target.kind] = (results[target.kind][0], floor)
    for target in TARGETS:
        lat, floor = results[target.kind]
        figure = Figure(
            bench="queries",
            name=f"{target.label}, p99, {backend}",
            value=percentile(lat, 99),
            unit="ms",
            target=target.target_ms,
            higher_is_better=False,
            ceiling=percentile(floor, 99),
            ceiling_name="same SQL, raw driver, p99",
            extra={
                "latency": f"p50 {fmt(median(lat))} ms, p99 {fmt(percentile(lat, 99))} ms, max {fmt(max(lat))} ms "
                f"over {len(lat)} requests",
                "SQL alone": f"p50 {fmt(median(floor))} ms, p99 {fmt(percentile(floor, 99))} ms",
                "HTTP alone (GET to a bare ASGI app, same uvicorn)": f"p50 {fmt(median(http_floor))} ms, "
                f"p99 {fmt(percentile(http_floor, 99))} ms",
                **(
                    {"entities within 2 km of the query points": f"median {median(nearby):,.0f}"}
                    if target.kind == "near"
                    else {}
                ),
            },
            data={
                "p50": median(lat),
                "p99": percentile(lat, 99),
                "sql_p50": median(floor),
                "sql_p99": percentile(floor, 99),
            },
        )
        show(figure)
        figures.append(figure)
    return figures


def _http_floor(started: list[Process], wd: Path, samples: int) -> list[float]:
    """Round trips of a GET to a bare ASGI app on the same uvicorn: what HTTP alone costs (ms)."""
    port = free_port()
    proc = Process(
        "bare-app",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--host",
            LOCAL,
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        env=hub_env(wd / "data", ""),
        cwd=ROOT,
        log=wd / "bare-app.log",
    )
    started.append(proc)
    url = f"http://{LOCAL}:{port}"
    wait_until(
        lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200,
        timeout=30,
        what="bare app",
        proc=proc,
    )
    out = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(samples + 20):
            start = time.perf_counter()
            client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:x:1")
            if i >= 20:
                out.append((time.perf_counter() - start) * 1000)
    proc.stop()
    started.remove(proc)
    return out


def _near_candidates(database_url: str, paths: list[str]) -> list[float]:
    """How many entities lie within 2 km of each near query's point (what the query has to sort)."""
    from urllib.parse import parse_qs, urlsplit

    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    out: list[float] = []
    try:
        with engine.connect() as conn:
            for path in paths:
                lon, lat = orjson.loads(parse_qs(urlsplit(path).query)["coordinates"][0])
                dlat = 2000 / 111_320
                dlon = dlat / math.cos(math.radians(lat))
                rows = conn.execute(
                    text(
                        "SELECT min_lon, min_lat FROM hub_entity WHERE min_lat BETWEEN :a AND :b "
                        "AND min_lon BETWEEN :c AND :d"
                    ),
                    {"a": lat - dlat, "b": lat + dlat, "c": lon - dlon, "d": lon + dlon},
                ).all()
                out.append(
                    sum(
                        1
                        for x, y in rows
                        if math.hypot((x - lon) * 111_320 * math.cos(math.radians(lat)), (y - lat) * 111_320)
                        <= 2000
                    )
                )
    finally:
        engine.dispose()
    return out


def _existing(database_url: str, numbers: list[int]) -> list[str]:
    """Ids of stored entities (their type is random, so ask the database)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT entity_id FROM hub_entity WHERE entity_id LIKE :p"), {"p": "%:jember:b%"}
            )
            wanted = {f"b{n:06d}" for n in numbers}
            return sorted(r[0] for r in rows if r[0].rsplit(":", 1)[1] in wanted)
    finally:
        engine.dispose()


def run(options: Options) -> list[Figure]:
    return per_backend(options, lambda b: run_backend(b, quick=options.quick))
