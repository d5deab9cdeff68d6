"""Notifications: commit to receipt at 1,000 entity updates a second with 10 subscriptions.

`kotacerdas serve` takes batch upserts (100 TrafficFlowObserved updates every 100 ms from a paced
sender in another process, 1,000 sensors, each update carrying ``sentAt``); `kotacerdas worker` runs
the notifier, as DESIGN.md deploys it; 10 subscriptions on TrafficFlowObserved (attributes
intensity and sentAt, ``sysAttrs``) notify a local receiver (bare ASGI on uvicorn) that notes the
arrival time of every notification.

Commit to receipt is taken as arrival minus the entity's ``modifiedAt``: the hub stamps it just
before the commit, so the figure is an upper bound of the real commit-to-receipt time. Send to
receipt (arrival minus ``sentAt``) is shown too. The floor is a raw HTTP POST round trip (keep-alive,
a notification-sized body) to the same receiver, measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import (
    LOCAL,
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
    kotacerdas_command,
    median,
    per_backend,
    percentile,
    prepare_hub,
    processes,
    show,
    start_server,
    wait_until,
    workdir,
)

TARGET_MS = 100.0
RATE = 1000.0
BATCH = 100
SENSORS = 1000
SUBSCRIPTIONS = 10
WARMUP_S = 1.0  # notifications of updates sent in the first second are left out


def _precreate(url: str, hub: Hub) -> None:
    """The sensors exist before the clock starts (the timed updates change them)."""
    from bench.paced_upsert import batch_body
    from kotacerdas.db import make_engine, make_session_factory, unit_of_work
    from kotacerdas.hub import service

    engine = make_engine(url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            service.upsert_entities(
                session,
                region_id=hub.region_id,
                principal=key_principal(hub),
                entities=orjson.loads(batch_body(0, SENSORS, SENSORS, time.time())),
                ctx=service.core_context(),
            )
    finally:
        engine.dispose()


def _start_receiver(started: list[Process], wd: Path) -> str:
    port = free_port()
    proc = Process(
        "receiver",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.receiver:app",
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
        log=wd / "receiver.log",
    )
    started.append(proc)
    url = f"http://{LOCAL}:{port}"
    wait_until(
        lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200,
        timeout=30,
        what="receiver",
        proc=proc,
    )
    return url


def _subscribe(base: str, hub: Hub, receiver: str, server: Process) -> None:
    headers = {
        "Authorization": f"Bearer {hub.key}",
        "Content-Type": "application/json",
        "NGSILD-Tenant": "35.09",
    }
    for i in range(SUBSCRIPTIONS):
        body = {
            "type": "Subscription",
            "entities": [{"type": "TrafficFlowObserved"}],
            "notification": {
                "endpoint": {"uri": f"{receiver}/notify/{i}", "accept": "application/json"},
                "attributes": ["intensity", "sentAt"],
                "sysAttrs": True,
                "format": "normalized",
            },
        }
        resp = httpx.post(f"{base}/ngsi-ld/v1/subscriptions", content=orjson.dumps(body), headers=headers)
        if resp.status_code != 201:
            raise RuntimeError(
                f"subscription refused: {resp.status_code} {resp.text[:300]}\n{server.tail(30)}"
            )


def raw_round_trip(receiver: str, body: bytes, samples: int) -> list[float]:
    """The floor: a plain HTTP POST of a notification-sized body to the same receiver (ms)."""
    out = []
    with httpx.Client(timeout=10) as client:
        for i in range(samples + 20):
            start = time.perf_counter()
            client.post(f"{receiver}/echo", content=body, headers={"Content-Type": "application/json"})
            if i >= 20:
                out.append((time.perf_counter() - start) * 1000)
    return out


def _wait_quiet(receiver: str, quiet: float = 2.0, cap: float = 60.0) -> None:
    """Until no notification has arrived for ``quiet`` seconds (the notifier caught up)."""
    last = -1
    since = time.monotonic()
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        count = httpx.get(f"{receiver}/count", timeout=10).json()
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.2)


def run_backend(backend: str, *, quick: bool) -> Figure:
    duration = 6.0 if quick else 10.0
    console.print(
        f"[bold]notify[/bold] on {backend}: {RATE:,.0f} updates/s for {duration:.0f} s, {SUBSCRIPTIONS} subscriptions"
    )
    with workdir(f"notify-{backend}") as wd, processes() as started, database(backend, wd, "hub") as url:
        hub = prepare_hub(url)
        _precreate(url, hub)
        receiver = _start_receiver(started, wd)
        _server, base = start_server(started, workdir=wd, database_url=url, embedded_worker="false")
        worker = Process(
            "worker",
            [*kotacerdas_command(), "worker"],
            env=hub_env(wd / "data", url),
            cwd=wd,
            log=wd / "worker.log",
        )
        started.append(worker)
        _subscribe(base, hub, receiver, _server)
        time.sleep(2.0)  # the worker starts and loads the subscriptions
        if not worker.alive():
            raise RuntimeError(f"the worker exited:\n{worker.tail()}")
        httpx.post(f"{receiver}/reset")
        with console.status(f"  sending {RATE:,.0f} updates/s for {duration:.0f} s ..."):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.paced_upsert",
                    f"{base}/ngsi-ld/v1/entityOperations/upsert",
                    hub.key,
                    "--rate",
                    str(RATE),
                    "--batch",
                    str(BATCH),
                    "--sensors",
                    str(SENSORS),
                    "--duration",
                    str(duration),
                ],
                cwd=ROOT,
                capture_output=True,
                timeout=duration + 120,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"sender failed: {done.stderr.decode(errors='replace')[-1500:]}")
            sender: dict[str, Any] = orjson.loads(done.stdout)
            _wait_quiet(receiver)
        records = httpx.get(f"{receiver}/results", timeout=60).json()
        causes, worker_causes = _server.errors(), worker.errors()
        sample = _sample_body(records)
        floor = raw_round_trip(receiver, sample, 300)
    if not records:
        raise RuntimeError(f"no notification arrived; worker log:\n{worker.tail()}")
    first_sent = min(r[3] for r in records if r[3] is not None)
    timed = [r for r in records if r[3] is not None and r[3] >= first_sent + WARMUP_S]
    commit = [(r[0] - r[4]) * 1000 for r in timed if r[4] is not None]
    sent = [(r[0] - r[3]) * 1000 for r in timed]
    expected = sender["updates"] * SUBSCRIPTIONS
    ok_batches = sender["statuses"].get("204", 0) + sender["statuses"].get("201", 0)
    figure = Figure(
        bench="notify",
        name=f"notification, commit to receipt, median, {backend}",
        value=median(commit) if commit else float("nan"),
        unit="ms",
        target=TARGET_MS,
        higher_is_better=False,
        ceiling=median(floor),
        ceiling_name="raw HTTP POST round trip to the same receiver, median",
        extra={
            "commit to receipt": f"p50 {fmt(median(commit))} ms, p99 {fmt(percentile(commit, 99))} ms "
            f"(arrival minus modifiedAt, {len(commit):,} entity notifications after the first {WARMUP_S:.0f} s)",
            "send to receipt": f"p50 {fmt(median(sent))} ms, p99 {fmt(percentile(sent, 99))} ms",
            "delivered": f"{len(records):,} entity notifications of {expected:,} expected "
            f"({SUBSCRIPTIONS} subscriptions × {sender['updates']:,} updates)",
            "sender": f"{fmt(sender['rate'])} updates/s achieved; batches {sender['statuses']}; response p50 "
            f"{fmt(median(sender['response_ms']))} ms, p99 {fmt(percentile(sender['response_ms'], 99))} ms",
            "raw round trip": f"p50 {fmt(median(floor))} ms, p99 {fmt(percentile(floor, 99))} ms",
        },
        data={
            "commit_p50": median(commit),
            "commit_p99": percentile(commit, 99),
            "sent_p50": median(sent),
            "delivered": len(records),
            "expected": expected,
        },
    )
    if ok_batches != sender["batches"]:
        figure.fail = (
            f"the hub refused {sender['batches'] - ok_batches} of {sender['batches']} batches "
            f"(server log: {causes}; worker log: {worker_causes})"
        )
    elif len(records) < expected:
        figure.fail = f"{expected - len(records):,} notifications did not arrive"
    show(figure)
    return figure


def _sample_body(records: list[list[Any]]) -> bytes:
    """A body the size of a typical notification (the entities one notification carried)."""
    per_post: dict[tuple[float, str], int] = {}
    for r in records:
        per_post[(r[0], r[1])] = per_post.get((r[0], r[1]), 0) + 1
    size = int(median(list(per_post.values()))) if per_post else 1
    entity = {
        "id": "urn:ngsi-ld:TrafficFlowObserved:jember:n00001",
        "type": "TrafficFlowObserved",
        "intensity": {"type": "Property", "value": 1, "observedAt": "2026-11-02T00:00:00.000Z"},
        "sentAt": {"type": "Property", "value": 1.0},
        "modifiedAt": "2026-11-02T00:00:00.000Z",
    }
    return orjson.dumps(
        {
            "id": "urn:ngsi-ld:Notification:x",
            "type": "Notification",
            "subscriptionId": "urn:x",
            "data": [entity] * size,
        }
    )


def run(options: Options) -> list[Figure]:
    return per_backend(options, lambda b: [run_backend(b, quick=options.quick)])
