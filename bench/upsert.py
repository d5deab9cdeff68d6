"""Batch upsert over HTTP: 1,000 TrafficFlowObserved entities per request into one uvicorn worker.

The load is the simulator's (``kotacerdas.hub.simulate.observations(at, scale=...)``): 5,000 traffic
sensors, five attributes each with observedAt, sent as plain ``POST /ngsi-ld/v1/entityOperations/upsert``
(replace) bodies of 1,000 entities, prepared before the clock starts. A first pass creates the
entities; the timed part sends later rounds (every entity again, new observations, history kept) from
another process over keep-alive connections.

Ceilings, measured in the same run:
- database: the SQL the hub issued for the same batches (recorded while the hub's service wrote them
  into a scratch database), replayed by the raw driver (sqlite3 / psycopg) on a fresh database;
- transport: the same bodies POSTed to a bare ASGI app (read, parse, 204) on the same uvicorn.
The in-process rate of ``service.upsert_entities`` (parse + SQL + commit, no HTTP) shows where the
rest of the time goes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench import http_load
from bench.common import (
    LOCAL,
    ROOT,
    Figure,
    Hub,
    Options,
    Process,
    console,
    count_instances,
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
from bench.sqlreplay import Recorder, Unit, replay_concurrently

TARGET = 20_000.0  # entity updates per second, SQLite, one worker
BATCH = 1000
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
UPSERT_PATH = "/ngsi-ld/v1/entityOperations/upsert"


@dataclass
class Load:
    sensors: int
    rounds: list[list[bytes]]  # rounds[r][b]: body of batch b of round r (round 0 creates)

    @property
    def batches_per_round(self) -> int:
        return len(self.rounds[0])


def make_load(sensors: int, rounds: int) -> Load:
    """``rounds`` rounds of observations of ``sensors`` traffic sensors, one minute apart."""
    from kotacerdas.hub import simulate

    scale = -(-sensors // len(simulate.sensors(1).traffic))
    out: list[list[bytes]] = []
    for r in range(rounds):
        observed = simulate.observations(START + timedelta(minutes=r), scale=scale)
        traffic = [e for e in observed if e["type"] == "TrafficFlowObserved"][:sensors]
        out.append([orjson.dumps(traffic[i : i + BATCH]) for i in range(0, len(traffic), BATCH)])
    return Load(sensors=sensors, rounds=out)


def _headers(hub: Hub) -> list[str]:
    return [
        f"Authorization:Bearer {hub.key}",
        "Content-Type:application/json",
        "NGSILD-Tenant:35.09",
    ]


def post_bodies(
    url: str,
    bodies: list[bytes],
    where: Path,
    *,
    headers: list[str],
    concurrency: int,
    duration: float,
    once: bool,
) -> dict[str, Any]:
    """Run bench.http_load in another process and return its result."""
    path = where / f"bodies-{free_port()}.bin"
    http_load.write_bodies(path, bodies)
    args = [
        sys.executable,
        "-m",
        "bench.http_load",
        url,
        str(path),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        *[f"--header={h}" for h in headers],
    ]
    if once:
        args.append("--once")
    done = subprocess.run(args, cwd=ROOT, capture_output=True, timeout=duration + 600, check=False)
    path.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def _ok(result: dict[str, Any]) -> int:
    return sum(v for k, v in result["statuses"].items() if k in ("201", "204"))


def _check_all_ok(result: dict[str, Any], what: str, server: Process | None = None) -> None:
    bad = {k: v for k, v in result["statuses"].items() if k not in ("201", "204")}
    if bad:
        log = f"\nserver log:\n{server.tail(40)}" if server is not None else ""
        raise RuntimeError(f"{what}: unexpected responses {bad}: {result['errors']}{log}")


# ------------------------------------------------------------------------------------ in process


def service_run(database_url: str, load: Load, rounds: int) -> tuple[list[Unit], float, int]:
    """Write rounds 0..rounds-1 with the hub's service, recording the SQL. Returns the recorded units,
    seconds spent on rounds >= 1 (parse + service + commit) and the entities in them."""
    from kotacerdas.db import make_engine, make_session_factory, unit_of_work
    from kotacerdas.hub import service
    from kotacerdas.hub.context import ContextResolver

    hub = prepare_hub(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    ctx = ContextResolver(preloaded=lambda _url: None).core
    principal = key_principal(hub)
    recorder = Recorder(engine)
    timed = 0.0
    entities = 0
    try:
        with progress() as bar:
            task = bar.add_task("hub service, recording SQL", total=rounds * load.batches_per_round)
            for r in range(rounds):
                for body in load.rounds[r]:
                    start = time.perf_counter()
                    with recorder.unit(), unit_of_work(factory) as session:
                        batch = orjson.loads(body)
                        outcome = service.upsert_entities(
                            session, region_id=hub.region_id, principal=principal, entities=batch, ctx=ctx
                        )
                    if outcome.errors:
                        raise RuntimeError(f"service refused entities: {outcome.errors[:3]}")
                    if r > 0:
                        timed += time.perf_counter() - start
                        entities += len(batch)
                    bar.advance(task)
    finally:
        engine.dispose()
    return recorder.units, timed, entities


# ----------------------------------------------------------------------------------------- bench


def transport_ceiling(
    started: list[Process], wd: Path, load: Load, *, concurrency: int, duration: float
) -> float:
    """Entities/s the same bodies reach against a bare ASGI app on the same uvicorn."""
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
    import httpx

    url = f"http://{LOCAL}:{port}"
    wait_until(
        lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200,
        timeout=30,
        what="bare app",
        proc=proc,
    )
    bodies = [b for round_ in load.rounds[1:] for b in round_]
    result = post_bodies(
        f"{url}{UPSERT_PATH}", bodies, wd, headers=[], concurrency=concurrency, duration=duration, once=False
    )
    _check_all_ok(result, "bare app")
    proc.stop()
    started.remove(proc)
    return float(_ok(result) * BATCH / result["elapsed"])


def run_backend(backend: str, *, quick: bool, concurrency: int = 4) -> Figure:
    sensors = 3000 if quick else 5000
    rounds = 3 if quick else 6
    duration = 5.0 if quick else 10.0
    console.print(
        f"[bold]upsert[/bold] on {backend}: {sensors:,} sensors, batches of {BATCH:,}, {concurrency} connections"
    )
    with workdir(f"upsert-{backend}") as wd, processes() as started:
        load = make_load(sensors, rounds)
        # 1. the hub's service in this process, recording its SQL (round 0 creates, 1-3 update)
        with database(backend, wd, "scratch") as scratch_url:
            units, service_seconds, service_entities = service_run(scratch_url, load, min(rounds, 4))
        service_rate = service_entities / service_seconds
        # 2. the database ceiling: the recorded SQL, replayed by the raw driver on a fresh database
        with database(backend, wd, "replay") as replay_url:
            prepare_hub(replay_url)
            first_update = load.batches_per_round
            seconds = replay_concurrently(replay_url, units, timed_from=first_update, connections=concurrency)
            db_ceiling = sum(1 for _ in units[first_update:]) * BATCH / seconds
        rows_per_batch = units[-1].rows
        # 3. the hub over HTTP
        with database(backend, wd, "hub") as url:
            hub = prepare_hub(url)
            server, base = start_server(started, workdir=wd, database_url=url)
            endpoint = f"{base}{UPSERT_PATH}"
            created = post_bodies(
                endpoint,
                load.rounds[0],
                wd,
                headers=_headers(hub),
                concurrency=1,  # untimed; one connection so that setup never meets a refused write
                duration=0,
                once=True,
            )
            _check_all_ok(created, "creation pass", server)
            history_before = count_instances(url, hub.region_id)
            bodies = [b for round_ in load.rounds[1:] for b in round_]
            cpu_before = server.cpu()
            with console.status(f"  posting for {duration:.0f} s ..."):
                result = post_bodies(
                    endpoint,
                    bodies,
                    wd,
                    headers=_headers(hub),
                    concurrency=concurrency,
                    duration=duration,
                    once=False,
                )
            cpu = server.cpu() - cpu_before
            refused = {k: v for k, v in result["statuses"].items() if k not in ("201", "204")}
            causes = server.errors()
            history_after = count_instances(url, hub.region_id)
            server.stop()
            started.remove(server)
        ok = _ok(result)
        rate = ok * BATCH / result["elapsed"]
        attrs = len(orjson.loads(load.rounds[1][0])[0]) - 2
        expected_history = ok * BATCH * attrs
        # 4. the transport ceiling: the same bodies to a bare ASGI app
        transport = transport_ceiling(started, wd, load, concurrency=concurrency, duration=min(duration, 5.0))
    lat = result["latencies_ms"]
    figure = Figure(
        bench="upsert",
        name=f"batch upsert over HTTP, {backend}",
        value=rate,
        unit="entity updates/s",
        target=TARGET if backend == "sqlite" else None,
        ceiling=db_ceiling,
        ceiling_name=f"raw {'sqlite3' if backend == 'sqlite' else 'psycopg'} replay of the hub's SQL, "
        f"{concurrency} connections",
        extra={
            "requests": f"{ok} × {BATCH} entities in {result['elapsed']:.1f} s; latency p50 {median(lat):.0f} ms, "
            f"p99 {percentile(lat, 99):.0f} ms",
            "history instances written": f"{history_after - history_before:,} (expected {expected_history:,}: "
            f"{'ok' if history_after - history_before == expected_history else 'MISMATCH'})",
            "server CPU": f"{cpu / result['elapsed'] * 100:.0f}% of one core",
            "hub service in process (parse + SQL + commit, no HTTP)": f"{fmt(service_rate)} entities/s",
            "transport ceiling (same bodies, bare ASGI app, same uvicorn)": f"{fmt(transport)} entities/s",
            "SQL per batch": f"{len(units[-1].statements)} statements, {rows_per_batch:,} rows",
        },
    )
    if refused:
        total = sum(result["statuses"].values())
        figure.fail = (
            f"{sum(refused.values())} of {total} requests were refused {refused} "
            f"(answers: {result['errors'][:3]}; server log: {causes})"
        )
    if backend != "sqlite":
        figure.extra["target"] = f"the issue's target ({fmt(TARGET)}/s) is stated for SQLite"
    figure.data = {
        "service_rate": service_rate,
        "transport": transport,
        "p50_ms": median(lat),
        "p99_ms": percentile(lat, 99),
        "server_cpu": cpu / result["elapsed"],
    }
    show(figure)
    return figure


def run(options: Options) -> list[Figure]:
    return per_backend(
        options, lambda b: [run_backend(b, quick=options.quick, concurrency=options.concurrency)]
    )
