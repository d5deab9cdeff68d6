"""Simulated sensor feed of the demo region (Jember): the load generator behind ``kotacerdas simulate``.

Senders: ``HttpTarget`` (batch upsert, up to 1,000 entities per request) and ``MqttTarget`` (QoS 1,
one message per observation on ``kotacerdas/<region>/<office>/<type>/<id>``). ``run`` keeps a rate.

What the sensors observe (the sensor model, the day curves, ``observations(at)``, ``compact``) lives in
``hub.simulate_observations``; every name of it stays importable from here.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from kotacerdas.hub import demo
from kotacerdas.hub.simulate_observations import (
    WET_MONTHS as WET_MONTHS,
    WIB as WIB,
    Entity as Entity,
    Sensors as Sensors,
    TrafficSensor as TrafficSensor,
    compact as compact,
    observations as observations,
    parking_share as parking_share,
    sensors as sensors,
    static_entities as static_entities,
    traffic_demand as traffic_demand,
)
from kotacerdas.i18n import _, gettext

TOPIC_ROOT = "kotacerdas"


class SimulateError(RuntimeError):
    """The target refused the feed as a whole (bad key, unknown tenant, broker unreachable)."""


# ---------------------------------------------------------------------------------- senders


@dataclass
class SendStats:
    sent: int = 0
    accepted: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)  # the first few error details

    def problem(self, text: str) -> None:
        if len(self.problems) < 5:
            self.problems.append(text)


class Target(Protocol):
    stats: SendStats

    def send(self, entities: list[Entity], *, full: bool = False) -> None: ...

    def reset(self) -> None:
        """Wait until everything sent so far is answered, then count from zero."""

    def close(self) -> SendStats: ...


class HttpTarget:
    """POST /ngsi-ld/v1/entityOperations/upsert?options=update, one request per batch."""

    def __init__(self, url: str, *, key: str, region: str, client: httpx.Client | None = None) -> None:
        self.stats = SendStats()
        self._own = client is None
        self._client = client or httpx.Client(base_url=url, timeout=60.0)
        self._headers = {
            "Authorization": f"Bearer {key}",
            "NGSILD-Tenant": region,
            "Content-Type": "application/json",
        }

    def send(self, entities: list[Entity], *, full: bool = False) -> None:
        for start in range(0, len(entities), 1000):
            chunk = entities[start : start + 1000]
            self.stats.sent += len(chunk)
            try:
                resp = self._client.post(
                    "/ngsi-ld/v1/entityOperations/upsert",
                    params={"options": "update"},
                    content=orjson.dumps(chunk),
                    headers=self._headers,
                )
            except httpx.HTTPError as exc:
                raise SimulateError(f"{type(exc).__name__}: {exc}") from exc
            if resp.status_code in (201, 204):
                self.stats.accepted += len(chunk)
            elif resp.status_code == 207:
                errors = resp.json().get("errors", [])
                self.stats.failed += len(errors)
                self.stats.accepted += len(chunk) - len(errors)
                for err in errors[:5]:
                    self.stats.problem(f"{err.get('entityId')}: {err.get('error', {}).get('detail')}")
            else:
                detail = resp.text[:300]
                raise SimulateError(f"HTTP {resp.status_code}: {detail}")

    def reset(self) -> None:
        self.stats = SendStats()

    def close(self) -> SendStats:
        if self._own:
            self._client.close()
        return self.stats


class MqttTarget:
    """One QoS 1 message per entity; counts what the broker acknowledged."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        region: str,
        office: str = "-",
        payload: Literal["compact", "full"] = "compact",
        username: str = "",
        password: str = "",
        client_id: str = "",
        max_outstanding: int = 20_000,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.stats = SendStats()
        self.prefix = f"{TOPIC_ROOT}/{region}/{office}/"
        self.payload = payload
        self._max_outstanding = max_outstanding
        self._cond = threading.Condition()
        self._acked = 0
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"kotacerdas-sim-{random.getrandbits(32):08x}",
            protocol=mqtt.MQTTv5,
        )
        if username:
            self._client.username_pw_set(username, password or None)
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._client.on_publish = self._on_publish
        try:
            self._client.connect(host, port, keepalive=30)
        except OSError as exc:
            raise SimulateError(f"MQTT broker {host}:{port}: {exc}") from exc
        self._client.loop_start()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._cond:
            if reason is not None and getattr(reason, "is_failure", False):
                self.stats.failed += 1
                self.stats.problem(str(reason))
            else:
                self._acked += 1
            self._cond.notify_all()

    def send(self, entities: list[Entity], *, full: bool = False) -> None:
        dumps = orjson.dumps
        as_compact = self.payload == "compact" and not full
        publish = self._client.publish
        for entity in entities:
            with self._cond:
                while self.stats.sent - self._acked - self.stats.failed > self._max_outstanding:
                    self._cond.wait(1.0)
            body = compact(entity) if as_compact else entity
            info = publish(f"{self.prefix}{entity['type']}/{entity['id']}", dumps(body), qos=1)
            self.stats.sent += 1
            if info.rc != 0:
                with self._cond:
                    self.stats.failed += 1
                    self.stats.problem(f"publish failed: rc={info.rc}")

    def _flush(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._acked + self.stats.failed < self.stats.sent and time.monotonic() < deadline:
                self._cond.wait(0.2)
            self.stats.accepted = self._acked

    def reset(self) -> None:
        self._flush(60.0)
        with self._cond:
            self.stats = SendStats()
            self._acked = 0

    def close(self, timeout: float = 30.0) -> SendStats:
        self._flush(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        return self.stats


# ---------------------------------------------------------------------------------------- run


@dataclass
class RunResult:
    stats: SendStats
    seconds: float
    places: int = 0

    @property
    def rate(self) -> float:
        return self.stats.sent / self.seconds if self.seconds > 0 else 0.0


def stream(
    *, scale: int = 1, seed: int = 0, start: datetime | None = None, speed: float = 1.0
) -> Iterator[Entity]:
    """Observations round after round; each round is one moment, strictly later than the last
    (at least 1 ms), so no sensor reports the same ``observedAt`` twice."""
    t0_wall = time.monotonic()
    origin = start if start is not None else datetime.now(UTC)
    last: datetime | None = None
    while True:
        at = origin + timedelta(seconds=(time.monotonic() - t0_wall) * speed)
        if last is not None and at < last + timedelta(milliseconds=1):
            at = last + timedelta(milliseconds=1)
        last = at
        yield from observations(at, scale=scale, seed=seed)


def run(
    target: Target,
    *,
    rate: float,
    duration: float | None,
    count: int | None = None,
    scale: int = 1,
    seed: int = 0,
    start: datetime | None = None,
    speed: float = 1.0,
    batch_size: int = 1000,
    load_places: bool = False,
    console: Console | None = None,
    lang: str = "en",
) -> RunResult:
    """Send observations at ``rate`` per second (0: as fast as the target takes them) for ``duration``
    seconds or ``count`` observations (both None: until interrupted), with a progress bar; prints the
    counts at the end."""
    console = console or Console()
    places = 0
    if load_places:
        static = demo.demo_entities() + static_entities(scale, seed)
        for i in range(0, len(static), batch_size):
            target.send(static[i : i + batch_size], full=True)
        places = len(static)
        target.reset()  # the places are not observations: count only what follows
    feed = stream(scale=scale, seed=seed, start=start, speed=speed)
    total = count if count is not None else rate * duration if rate > 0 and duration else None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:.0f} obs"),
        TimeElapsedColumn(),
    )
    t0 = time.monotonic()
    produced = 0
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(gettext(lang, _("Sending observations")), total=total)
            while True:
                elapsed = time.monotonic() - t0
                if (duration is not None and elapsed >= duration) or (
                    count is not None and produced >= count
                ):
                    break
                n = batch_size if count is None else min(batch_size, count - produced)
                if rate > 0:
                    due = int(rate * elapsed) + 1 - produced
                    if due <= 0:
                        time.sleep(min(0.05, (produced - rate * elapsed) / rate))
                        continue
                    n = min(due, n)
                batch = [next(feed) for _ in range(n)]
                target.send(batch)
                produced += n
                bar.update(task, completed=produced)
    except KeyboardInterrupt:
        pass
    seconds = time.monotonic() - t0
    stats = target.close()
    result = RunResult(stats=stats, seconds=seconds, places=places)
    console.print(
        gettext(
            lang,
            _(
                "Sent {sent} observations in {seconds:.1f} s ({rate:.0f}/s): {accepted} accepted, {failed} refused."
            ),
            sent=stats.sent,
            seconds=seconds,
            rate=result.rate,
            accepted=stats.accepted,
            failed=stats.failed,
        )
    )
    for problem in stats.problems:
        console.print(f"  [yellow]{problem}[/yellow]", highlight=False)
    return result
