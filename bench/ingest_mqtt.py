"""MQTT ingest: one `kotacerdas ingest mqtt` process, QoS 1, every message counted.

A private mosquitto (temp config: 127.0.0.1, a free port, unbounded queues and in-flight windows, no
persistence) carries compact traffic observations from the simulator
(``kotacerdas/35.09/-/TrafficFlowObserved/<id>``, ``simulate.compact``), published at full speed by
a socket-level QoS 1 publisher (``bench.mqtt_clients``). The figure is observations stored per
second, from the first publish to the last history row written (``hub_history.modified_at``), and
sent (acknowledged by the broker) against stored (``intensity`` history rows). The ceiling is a raw
subscriber receiving the same messages from the same broker and publisher: mosquitto's C client
``mosquitto_sub`` (QoS 1, output discarded) when installed, else a paho subscriber that only counts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, text

from bench.common import (
    LOCAL,
    REGION_CODE,
    ROOT,
    Figure,
    Options,
    Process,
    Skipped,
    console,
    count_instances,
    database,
    fmt,
    free_port,
    hub_env,
    kotacerdas_command,
    per_backend,
    prepare_hub,
    processes,
    progress,
    show,
    wait_until,
    workdir,
)
from bench.mqtt_clients import write_messages

TARGET = 15_000.0  # observations per second, one ingest process, zero loss
MOSQUITTO = Path("/usr/sbin/mosquitto")
START = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
INTENSITY = "https://uri.etsi.org/ngsi-ld/default-context/intensity"
PROBE_ID = "urn:ngsi-ld:BenchProbe:ready"


def start_broker(started: list[Process], wd: Path) -> int:
    if not MOSQUITTO.exists():
        raise Skipped(f"{MOSQUITTO} is not installed (apt-get install mosquitto)")
    port = free_port()
    conf = wd / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                f"listener {port} {LOCAL}",
                "allow_anonymous true",
                "persistence false",
                "max_queued_messages 0",
                "max_queued_bytes 0",
                "max_inflight_messages 0",
                "max_inflight_bytes 0",
                "set_tcp_nodelay true",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "",
            ]
        )
    )
    proc = Process("mosquitto", [str(MOSQUITTO), "-c", str(conf)], env={}, cwd=wd, log=wd / "mosquitto.log")
    started.append(proc)

    def listening() -> bool:
        import socket

        with socket.create_connection((LOCAL, port), timeout=0.5):
            return True

    wait_until(listening, timeout=10, what="mosquitto", proc=proc)
    return port


@dataclass
class Messages:
    warmup: list[tuple[str, bytes]]  # round 0: creates every sensor's entity, untimed
    timed: list[tuple[str, bytes]]
    last_id: str  # the last timed message: stored means everything before it is
    last_at: str
    warmup_last_id: str
    warmup_last_at: str


def make_messages(sensors: int, count: int) -> Messages:
    """One untimed round, then ``count`` compact observations of ``sensors`` sensors, round after
    round (one minute apart), every sensor once per round."""
    from kotacerdas.hub import simulate

    scale = -(-sensors // len(simulate.sensors(1).traffic))
    prefix = f"kotacerdas/{REGION_CODE}/-/TrafficFlowObserved/"
    rounds: list[tuple[list[tuple[str, bytes]], str, str]] = []
    total = 1 + -(-count // sensors)
    with progress() as bar:
        task = bar.add_task("preparing messages", total=total)
        for r in range(total):
            observed = simulate.observations(START + timedelta(minutes=r), scale=scale)
            out: list[tuple[str, bytes]] = []
            last_id = last_at = ""
            for e in [e for e in observed if e["type"] == "TrafficFlowObserved"][:sensors]:
                body = simulate.compact(e)
                out.append((prefix + e["id"], orjson.dumps(body)))
                last_id, last_at = e["id"], body["observedAt"]
            rounds.append((out, last_id, last_at))
            bar.advance(task)
    timed = [m for out, _i, _a in rounds[1:] for m in out][:count]
    last_topic = timed[-1][0]
    last_body = orjson.loads(timed[-1][1])
    return Messages(
        warmup=rounds[0][0],
        timed=timed,
        last_id=last_topic.rsplit("/", 1)[1],
        last_at=last_body["observedAt"],
        warmup_last_id=rounds[0][1],
        warmup_last_at=rounds[0][2],
    )


def _run_client(args: list[str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.mqtt_clients", *args],
        cwd=ROOT,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"MQTT client failed:\n{done.stderr.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def raw_subscriber_rate(port: int, wd: Path, path: Path, count: int) -> tuple[float, dict[str, Any]]:
    """The ceiling: a raw subscriber's receive rate of the same messages from the same broker.
    mosquitto's own C client (``mosquitto_sub``, Debian's mosquitto-clients) when it is installed:
    the ingest's receive path outruns paho's (7-10 µs a message against 45), so paho no longer bounds
    it; else a paho subscriber in Python."""
    c_client = shutil.which("mosquitto_sub")
    if c_client is not None:
        return _c_subscriber_rate(c_client, port, path, count)
    sub = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.mqtt_clients",
            "subscribe",
            LOCAL,
            str(port),
            f"kotacerdas/{REGION_CODE}/#",
            str(count),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert sub.stdout is not None
        if sub.stdout.readline().strip() != b"ready":
            raise RuntimeError("the raw subscriber did not start")
        with console.status("  raw paho subscriber (ceiling) ..."):
            pub = _run_client(["publish", LOCAL, str(port), str(path)], timeout=600)
            out, err = sub.communicate(timeout=120)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    if sub.returncode != 0:
        raise RuntimeError(f"raw subscriber failed: {err.decode(errors='replace')[-1000:]}")
    got: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    rate = got["received"] / (got["last"] - pub["start"])
    return rate, {"received": got["received"], "publisher": pub}


def _c_subscriber_rate(c_client: str, port: int, path: Path, count: int) -> tuple[float, dict[str, Any]]:
    """``mosquitto_sub -q 1 -C count`` (output discarded): messages over the time from the first
    publish to its exit after the last one."""
    sub = subprocess.Popen(
        [
            c_client,
            "-h",
            LOCAL,
            "-p",
            str(port),
            "-q",
            "1",
            "-t",
            f"kotacerdas/{REGION_CODE}/#",
            "-C",
            str(count),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        time.sleep(1.0)  # subscribed: it prints nothing until messages come
        with console.status("  mosquitto_sub (C client, ceiling) ..."):
            pub = _run_client(["publish", LOCAL, str(port), str(path)], timeout=600)
            sub.wait(timeout=120)
            done = time.time()
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    if sub.returncode != 0:
        err = sub.stderr.read().decode(errors="replace") if sub.stderr else ""
        raise RuntimeError(f"mosquitto_sub failed ({sub.returncode}): {err[-1000:]}")
    return count / (done - pub["start"]), {"received": count, "publisher": pub, "client": "mosquitto_sub"}


def _last_observed(url: str, entity_id: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT body FROM hub_entity WHERE entity_id = :id"), {"id": entity_id}
            ).first()
    finally:
        engine.dispose()
    if row is None:
        return None
    body = row[0] if isinstance(row[0], dict) else orjson.loads(row[0])
    found: str | None = body.get(INTENSITY, {}).get("observedAt")
    return found


def _last_write_seconds(url: str, region_id: int) -> float:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.execute(
                text("SELECT MAX(modified_at) FROM hub_entity WHERE region_id = :r"), {"r": region_id}
            ).scalar_one()
    finally:
        engine.dispose()
    return float(value) / 1e6


def run_backend(backend: str, *, quick: bool) -> Figure:
    count = 60_000 if quick else 150_000
    sensors = 10_000
    console.print(f"[bold]mqtt[/bold] on {backend}: {count:,} QoS 1 observations of {sensors:,} sensors")
    with workdir(f"mqtt-{backend}") as wd, processes() as started:
        port = start_broker(started, wd)
        messages = make_messages(sensors, count)
        path = wd / "messages.bin"
        write_messages(path, messages.timed)
        warmup_path = wd / "warmup.bin"
        write_messages(warmup_path, messages.warmup)
        probe_path = wd / "probe.bin"
        write_messages(
            probe_path,
            [(f"kotacerdas/{REGION_CODE}/-/BenchProbe/{PROBE_ID}", orjson.dumps({"probe": 1}))],
        )
        ceiling, ceiling_info = raw_subscriber_rate(port, wd, path, len(messages.timed))
        with database(backend, wd, "hub") as url:
            hub = prepare_hub(url)
            env = hub_env(wd / "data", url, mqtt_host=LOCAL, mqtt_port=str(port), log_level="info")
            env["COLUMNS"] = "300"  # its log lines unwrapped, for reading its counters
            ingest = Process(
                "ingest",
                [*kotacerdas_command(), "ingest", "mqtt", "--no-migrate", "--key", hub.key],
                env=env,
                cwd=wd,
                log=wd / "ingest.log",
            )
            started.append(ingest)
            # ready when a probe message published now gets stored
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                _run_client(["publish", LOCAL, str(port), str(probe_path)], timeout=30)
                try:
                    wait_until(
                        lambda: _probe_exists(url),
                        timeout=2,
                        what="the probe",
                        proc=ingest,
                    )
                    break
                except RuntimeError as exc:
                    if not ingest.alive():
                        raise RuntimeError(f"ingest exited:\n{ingest.tail()}") from exc
            else:
                raise RuntimeError(f"ingest did not store the probe message:\n{ingest.tail()}")
            _run_client(["publish", LOCAL, str(port), str(warmup_path)], timeout=300)
            if not _wait_stored(
                url,
                messages.warmup_last_id,
                messages.warmup_last_at,
                ingest,
                sensors,
                cap=120.0,
                what="warm-up",
            ):
                raise RuntimeError(f"the warm-up round ({sensors:,} messages) was not stored within 120 s")
            stored_before = count_instances(url, hub.region_id, INTENSITY)
            cpu_before = ingest.cpu()
            publisher = subprocess.Popen(
                [sys.executable, "-m", "bench.mqtt_clients", "publish", LOCAL, str(port), str(path)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            try:
                finished = _wait_stored(
                    url, messages.last_id, messages.last_at, ingest, count, cap=60.0 if quick else 120.0
                )
                out, err = publisher.communicate(timeout=300)
            finally:
                if publisher.poll() is None:
                    publisher.kill()
                    publisher.wait()
            if publisher.returncode != 0:
                raise RuntimeError(f"publisher failed: {err.decode(errors='replace')[-1000:]}")
            pub = orjson.loads(out.splitlines()[-1])
            cpu = ingest.cpu() - cpu_before
            last_write = _last_write_seconds(url, hub.region_id)
            stored = count_instances(url, hub.region_id, INTENSITY) - stored_before
            ingest.stop(timeout=30)
            counted = _COUNTERS.findall(" ".join(ingest.log_path.read_text(errors="replace").split()))
    elapsed = last_write - pub["start"]
    rate = stored / elapsed
    lost = pub["acked"] - stored
    figure = Figure(
        bench="mqtt",
        name=f"MQTT ingest (QoS 1), {backend}",
        value=rate,
        unit="observations/s",
        target=TARGET,
        ceiling=ceiling,
        ceiling_name=(
            "mosquitto_sub (C client), same broker and messages"
            if ceiling_info.get("client") == "mosquitto_sub"
            else "raw paho subscriber, same broker and messages"
        ),
        extra={
            "sent / acknowledged by broker / stored": f"{pub['sent']:,} / {pub['acked']:,} / {stored:,} "
            f"({'zero loss' if lost == 0 else f'{lost:,} LOST'})",
            "publisher alone": f"{fmt(pub['acked'] / (pub['end'] - pub['start']))} msg/s acknowledged",
            "ingest CPU": f"{cpu / elapsed * 100:.0f}% of one core",
            "raw subscriber received": f"{ceiling_info['received']:,} of {count:,}",
            "ingest's own count (its log)": (
                "{} received, {} stored, {} dead-lettered".format(*counted[-1])
                if counted
                else "(not in its log)"
            ),
        },
        data={"sent": pub["sent"], "acked": pub["acked"], "stored": stored, "elapsed": elapsed},
    )
    if not finished:
        figure.fail = (
            f"not everything was stored within the time allowed: {stored:,} of {pub['acked']:,}; "
            "the rest was still queued at the broker (loss not determined)"
        )
        figure.extra["sent / acknowledged by broker / stored"] = (
            f"{pub['sent']:,} / {pub['acked']:,} / {stored:,}"
        )
    elif lost != 0:
        figure.fail = f"{lost:,} acknowledged messages were not stored (the target asks for zero loss)"
    show(figure)
    return figure


_STORED = re.compile(rb"(\d+) stored")
_COUNTERS = re.compile(r"(\d+) received, (\d+) stored, (\d+) dead-lettered")


def _logged_stored(ingest: Process) -> int:
    """What the ingest last logged as stored (it logs its counters every few seconds)."""
    try:
        found = _STORED.findall(ingest.log_path.read_bytes()[-4000:])
    except OSError:
        return 0
    return int(found[-1]) if found else 0


def _wait_stored(
    url: str, last_id: str, last_at: str, ingest: Process, count: int, *, cap: float, what: str = "timed run"
) -> bool:
    """Until the last message is stored (True) or ``cap`` seconds pass (False), with a progress bar
    fed by the ingest's own log of what it stored."""
    engine = create_engine(url)
    deadline = time.monotonic() + cap
    baseline = _logged_stored(ingest)
    try:
        with progress() as bar:
            task = bar.add_task(f"kotacerdas ingest mqtt storing ({what})", total=count)
            while time.monotonic() < deadline:
                if not ingest.alive():
                    raise RuntimeError(f"ingest exited:\n{ingest.tail()}")
                with engine.connect() as conn:
                    row = conn.execute(
                        text("SELECT body FROM hub_entity WHERE entity_id = :id"), {"id": last_id}
                    ).first()
                if row is not None:
                    body = row[0] if isinstance(row[0], dict) else orjson.loads(row[0])
                    if body.get(INTENSITY, {}).get("observedAt") == last_at:
                        return True
                bar.update(task, completed=max(0, _logged_stored(ingest) - baseline))
                time.sleep(0.25)
        return False
    finally:
        engine.dispose()


def _probe_exists(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return (
                conn.execute(text("SELECT 1 FROM hub_entity WHERE entity_id = :id"), {"id": PROBE_ID}).first()
                is not None
            )
    finally:
        engine.dispose()


def run(options: Options) -> list[Figure]:
    return per_backend(options, lambda b: [run_backend(b, quick=options.quick)])
