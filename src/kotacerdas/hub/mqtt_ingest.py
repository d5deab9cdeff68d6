"""MQTT ingest: devices publish observations, the hub stores them in batches, exactly once.

Topic ``kotacerdas/<region code>/<office short name or ->/<entityType>/<entityId>``; the payload is an
NGSI-LD entity (normalized or concise; its id and type must agree with the topic) or a compact
observation ``{"intensity": 120, "observedAt": "..."}`` whose id and type come from the topic
(``hub.mqtt_messages``). See docs/hub-ingest.md.

Delivery: one persistent MQTT v5 session (fixed client id, ``clean_start=False``, long session
expiry, large Receive Maximum) so the broker keeps what arrives while ingest is down. The network
thread (``hub.mqtt_wire``, an asyncio loop) cuts every socket read into PUBLISH packets, decodes them
and queues them; a writer thread gathers batches (N messages or T ms), writes each batch in ONE
transaction through ``hub.service.upsert_entities`` and hands the PUBACKs (in the order the messages
arrived) to the network thread only after the commit. The two overlap: while SQLite or PostgreSQL
works on a batch (without the GIL), the next messages are read, decoded and parsed. A message the
broker redelivers (DUP flag, after a crash between commit and PUBACK) is written with
``redelivered=True``, which skips history already stored. Malformed or refused messages go to
``kotacerdas/deadletter/<original topic>`` with the error, are counted and acknowledged; ingest goes
on. Database errors are retried, unacknowledged.

This module holds the configuration, the counters and ``MqttIngest``'s lifecycle and network side;
the writer thread's side (batches, routing checks, dead letters) is its part ``IngestWriter`` in
``hub.mqtt_writer``, whose names stay importable from here.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.auth.access import Principal
from kotacerdas.config import Settings
from kotacerdas.db import unit_of_work
from kotacerdas.hub.mqtt_messages import (
    DEADLETTER_ROOT,
    TOPIC_ROOT,
    AckTracker,
    Inbox,
    Message,
    Topic,
    core,
    decode_payload,
    parse_topic,
    parse_topic_cached,
)
from kotacerdas.hub.mqtt_wire import Received, WireClient
from kotacerdas.hub.mqtt_writer import (
    IngestWriter as IngestWriter,
    _chunks as _chunks,
    _internal as _internal,
    _KeyRejected as _KeyRejected,
    _transient as _transient,
)
from kotacerdas.hub.problems import NgsiError

logger = logging.getLogger("kotacerdas.hub.ingest")


class IngestError(RuntimeError):
    """Ingest cannot start or must stop (unknown key, broker refused us); the message says why."""


# ------------------------------------------------------------------------------------- ingest


@dataclass
class IngestConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""
    password: str = ""
    client_id: str = "kotacerdas-ingest"
    topics: tuple[str, ...] = ()  # default: kotacerdas/<the key's region code>/#
    batch_size: int = 5000
    batch_ms: int = 50
    session_expiry: int = 7 * 24 * 3600  # seconds the broker keeps our session while we are away
    receive_maximum: int = 65535
    keepalive: int = 30
    log_every: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> IngestConfig:
        config = cls(
            host=settings.mqtt_host,
            port=settings.mqtt_port,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
            client_id=settings.mqtt_client_id,
            batch_size=settings.mqtt_batch_size,
            batch_ms=settings.mqtt_batch_ms,
        )
        for name, value in overrides.items():
            if value is not None:
                setattr(config, name, value)
        return config


@dataclass
class Counters:
    received: int = 0
    stored: int = 0
    dead_lettered: int = 0
    batches: int = 0
    redelivered: int = 0
    retries: int = 0


class MqttIngest(IngestWriter):
    """One ingest process: ``start()``, then ``stop()`` (or ``run_until`` from the CLI)."""

    def __init__(self, session_factory: sessionmaker[Session], *, api_key: str, config: IngestConfig) -> None:
        self.config = config
        self.counters = Counters()
        self.region_code = ""
        self.failure: str | None = None
        self._session_factory = session_factory
        self._api_key = api_key
        self._inbox = Inbox(max(1, config.batch_size))
        self._stopping = False
        self._abort = threading.Event()
        self._ready = threading.Event()
        self._connect_error: str | None = None
        self._regions: dict[str, int | None] = {}
        self._offices: dict[int, tuple[float, dict[str, int]]] = {}
        self._writer: threading.Thread | None = None
        self._busy = False
        self._last_log = time.monotonic()
        self._logged: tuple[int, ...] = ()
        self._wire: WireClient | None = None
        self._network: threading.Thread | None = None
        self._topics: tuple[str, ...] = ()
        self._acks: AckTracker | None = None
        self._ack_out: list[int] = []
        # messages waiting in memory before the network thread stops reading (each holds a few KB)
        self._high_water = max(4 * self._inbox.limit, 20_000)
        self._paused = False

    # ----------------------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 15.0) -> None:
        from kotacerdas.hub.mqtt_wire import WireClient, WireConfig, subscription_options

        self._check_key()
        cfg = self.config
        topics = cfg.topics or (f"{TOPIC_ROOT}/{self.region_code}/#",)
        self._topics = topics
        self._acks = AckTracker(self._queue_ack)
        self._wire = WireClient(
            WireConfig(
                host=cfg.host,
                port=cfg.port,
                client_id=cfg.client_id,
                # no echo of our own dead letters; a shared subscription ($share/<group>/...) may not ask that
                subscriptions=tuple(
                    (t, subscription_options(qos=1, no_local=not t.startswith("$share/"), retain_handling=1))
                    for t in topics
                ),
                keepalive=cfg.keepalive,
                session_expiry=cfg.session_expiry,
                receive_maximum=cfg.receive_maximum,
                username=cfg.username,
                password=cfg.password,
            ),
            on_publishes=self._on_publishes,
            on_ready=self._on_ready,
            on_lost=self._on_lost,
            on_failed=self._on_failed,
        )
        self._writer = threading.Thread(target=self._write_loop, name="kotacerdas-ingest-writer", daemon=True)
        self._writer.start()
        self._network = threading.Thread(
            target=self._network_loop, name="kotacerdas-ingest-mqtt", daemon=True
        )
        self._network.start()
        if not self._ready.wait(timeout) or self._connect_error:
            self.stop(timeout=1.0)
            raise IngestError(self._connect_error or f"MQTT broker {cfg.host}:{cfg.port} did not answer.")

    def _network_loop(self) -> None:
        import asyncio

        wire = self._wire
        if wire is None:
            return
        try:
            asyncio.run(wire.run())
        except Exception:  # a bug: stop rather than hold messages that are never acknowledged
            logger.exception("the MQTT connection failed")
            self.failure = "The MQTT connection failed (see the log); messages stay with the broker."

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, write and acknowledge what was taken, then disconnect."""
        self._stopping = True
        self._inbox.close()
        if self._writer is not None:
            self._writer.join(timeout)
            self._abort.set()  # a writer still waiting for the database gives up; the broker keeps the rest
            self._writer.join(2.0)
        if self._wire is not None:
            self._wire.stop()  # after the acknowledgements the writer handed over
        if self._network is not None:
            self._network.join(timeout)
        self._log_counters(force=True)

    def run_until(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set or ingest fails; then stop."""
        while not stop.wait(0.5) and self.failure is None:
            pass
        self.stop()

    def idle(self) -> bool:
        """Nothing received is waiting to be written or acknowledged."""
        return not len(self._inbox) and not self._busy and not (self._acks is not None and len(self._acks))

    def _check_key(self) -> None:
        try:
            self._load_key()
        except DBAPIError as exc:
            raise IngestError(
                f"The database cannot be read ({exc.orig}); is it migrated (kotacerdas db upgrade)?"
            ) from exc

    def _load_key(self) -> None:
        from kotacerdas.region import service as regions

        with unit_of_work(self._session_factory, write=True) as session:
            principal = self._principal_or_none(session)
            if principal is None:
                raise IngestError("The API key is unknown or revoked.")
            if principal.region_id is None or "hub:write" not in principal.permissions:
                raise IngestError("The API key lacks the permission hub:write.")
            region = regions.get_region(session, principal.region_id)
            self.region_code = region.code
            self._regions[region.code] = region.id

    def _principal_or_none(self, session: Session) -> Principal | None:
        try:
            return self._principal(session)
        except _KeyRejected:
            return None

    # ------------------------------------------------------------------ MQTT (the network thread)
    def _on_failed(self, reason: str) -> None:
        self._connect_error = f"MQTT broker {self.config.host}:{self.config.port}: {reason}"
        logger.error("%s", self._connect_error)
        self._ready.set()

    def _on_ready(self, session_present: bool) -> None:
        logger.info(
            "MQTT ingest connected to %s:%s as %s (session %s), topics %s",
            self.config.host,
            self.config.port,
            self.config.client_id,
            "resumed" if session_present else "new",
            ", ".join(self._topics),
        )
        # on a resumed session the broker kept our subscriptions and sends what it queued for us first
        self._ready.set()  # start() returns once the broker keeps messages for us

    def _on_lost(self, reason: str) -> None:
        if self._acks is not None:
            self._acks.reset()  # those packet ids mean nothing on the next connection
        if not self._stopping:
            logger.warning("MQTT ingest lost the broker (%s); reconnecting", reason)

    def _on_publishes(self, received: list[Received], connection: int) -> None:
        """A socket read's PUBLISH packets: decoded here, written by the writer thread."""
        if self._stopping:
            return  # not acknowledged: the broker redelivers them to the next ingest
        counters = self.counters
        counters.received += len(received)
        register = self._acks.register if self._acks is not None else None
        messages: list[Message] = []
        for raw_topic, payload, mid, first in received:
            ticket = register(mid, 1) if mid and register is not None else None
            dup = bool(first & 0x09)  # DUP, or RETAIN: a retained message may have been stored before, too
            if dup:
                counters.redelivered += 1
            try:
                topic = raw_topic.decode()
            except UnicodeDecodeError:
                topic = "-invalid-topic-"
            message = Message(topic, payload, ticket, dup)
            messages.append(message)
            if topic.startswith(DEADLETTER_ROOT):
                message.skip = True
                continue
            try:
                message.target = target = parse_topic_cached(topic)
                message.entity, message.context = decode_payload(target, payload)
            except NgsiError as exc:
                message.error = exc
            except Exception as exc:  # a bug must not stop the feed: the message goes to the dead letters
                logger.exception("could not decode a message on %s", topic)
                message.error = NgsiError(f"The message could not be decoded: {type(exc).__name__}.")
        _parse_ahead(messages)
        self._inbox.put_many(messages)
        if not self._paused and len(self._inbox) > self._high_water and self._wire is not None:
            self._paused = True  # a slow database: leave the rest with the broker
            self._wire.pause_reading()

    def snapshot(self) -> dict[str, int]:
        return asdict(self.counters)


def _parse_ahead(messages: list[Message]) -> None:
    """Parse the core-context entities now, in the network thread, while the writer thread waits on
    the database (SQLite and PostgreSQL work without the GIL); the writer then only stores them. An
    entity with its own @context is parsed by the writer (resolving it may need the database)."""
    from kotacerdas.hub import service as hub

    todo = [m for m in messages if m.entity is not None and m.context is None and m.error is None]
    for start in range(0, len(todo), hub.MAX_BATCH):
        part = todo[start : start + hub.MAX_BATCH]
        try:
            parsed = hub.parse_batch([m.entity for m in part], core())
        except Exception:  # the writer parses them again and reports what is wrong
            logger.exception("could not parse a batch ahead")
            continue
        for m, item in zip(part, parsed, strict=True):
            m.parsed = item


__all__ = [
    "DEADLETTER_ROOT",
    "AckTracker",
    "Counters",
    "Inbox",
    "IngestConfig",
    "IngestError",
    "Message",
    "MqttIngest",
    "Topic",
    "decode_payload",
    "parse_topic",
]
