"""MQTT ingest: devices publish observations, the hub stores them in batches, exactly once.

Topic ``kotacerdas/<region code>/<office short name or ->/<entityType>/<entityId>``; the payload is an
NGSI-LD entity (normalized or concise; its id and type must agree with the topic) or a compact
observation ``{"intensity": 120, "observedAt": "..."}`` whose id and type come from the topic. See
docs/hub-ingest.md.

Delivery: one persistent MQTT v5 session (fixed client id, ``clean_start=False``, long session
expiry, large Receive Maximum) so the broker keeps what arrives while ingest is down. paho's network
thread only decodes and queues; a writer thread gathers batches (N messages or T ms), writes each
batch in ONE transaction through ``hub.service.upsert_entities`` and acknowledges (manual PUBACK, in
the order the messages arrived) only after the commit. A message the broker redelivers (DUP flag,
after a crash between commit and PUBACK) is written with ``redelivered=True``, which skips history
already stored. Malformed or refused messages go to ``kotacerdas/deadletter/<original topic>`` with
the error, are counted and acknowledged; ingest goes on. Database errors are retried, unacknowledged.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.auth.access import Principal
from kotacerdas.config import Settings
from kotacerdas.db import unit_of_work
from kotacerdas.errors import KotaCerdasError
from kotacerdas.hub.context import ActiveContext, ContextValue
from kotacerdas.hub.entity import GEOMETRY_TYPES, MEMBER_KIND, VALUE_MEMBER, format_us, now_us
from kotacerdas.hub.problems import BadRequestData, Forbidden, NgsiError, NonexistentTenant

logger = logging.getLogger("kotacerdas.hub.ingest")

TOPIC_ROOT = "kotacerdas"
DEADLETTER_ROOT = "kotacerdas/deadletter/"


class IngestError(RuntimeError):
    """Ingest cannot start or must stop (unknown key, broker refused us); the message says why."""


# ------------------------------------------------------------------------------ topic, payload


@dataclass(frozen=True, slots=True)
class Topic:
    region: str
    office: str | None  # None: the topic says "-"
    type: str
    id: str


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/", 4)
    if len(parts) != 5 or parts[0] != TOPIC_ROOT or not all(parts):
        raise BadRequestData(
            f"The topic {topic!r} is not kotacerdas/<region code>/<office or ->/<entity type>/<entity id>."
        )
    return Topic(parts[1], None if parts[2] == "-" else parts[2], parts[3], parts[4])


@cache
def _core() -> ActiveContext:
    from kotacerdas.hub.service import core_context

    return core_context()


def _same_type(given: Any, wanted: str) -> bool:
    if isinstance(given, list):
        return any(_same_type(t, wanted) for t in given)
    if not isinstance(given, str):
        return False
    return given == wanted or _core().expand(given) == _core().expand(wanted)


def _is_attribute(value: dict[str, Any]) -> bool:
    """A normalized or concise attribute (as opposed to a JSON object that is itself the value)."""
    return "value" in value or value.get("type") in VALUE_MEMBER or not MEMBER_KIND.keys().isdisjoint(value)


def _with_observed(value: Any, observed: str) -> Any:
    if type(value) is dict:
        if _is_attribute(value):
            value.setdefault("observedAt", observed)
            return value
        if value.get("type") in GEOMETRY_TYPES:
            return {"type": "GeoProperty", "value": value, "observedAt": observed}
    elif type(value) is list and value and all(type(v) is dict and _is_attribute(v) for v in value):
        for v in value:
            v.setdefault("observedAt", observed)
        return value
    return {"value": value, "observedAt": observed}


def decode_payload(topic: Topic, payload: bytes) -> tuple[dict[str, Any], ContextValue]:
    """The entity a message stands for, and its @context (None: the core context)."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise BadRequestData(f"The payload is not JSON: {exc}.") from None
    if type(body) is not dict:
        raise BadRequestData("The payload must be a JSON object: an NGSI-LD entity or a compact observation.")
    context = body.pop("@context", None)
    if "id" in body or "type" in body:
        given_id = body.setdefault("id", topic.id)
        if given_id != topic.id:
            raise BadRequestData(f"The payload's id {given_id!r} is not the topic's {topic.id!r}.")
        given_type = body.setdefault("type", topic.type)
        if not _same_type(given_type, topic.type):
            raise BadRequestData(f"The payload's type {given_type!r} is not the topic's {topic.type!r}.")
        return body, context
    observed = body.pop("observedAt", None)
    if not body:
        raise BadRequestData("The observation holds no attributes.")
    if observed is not None:
        if type(observed) is not str:
            raise BadRequestData("observedAt must be an ISO 8601 date-time string.")
        for name, value in body.items():
            body[name] = _with_observed(value, observed)
    body["id"] = topic.id
    body["type"] = topic.type
    return body, context


# --------------------------------------------------------------------------- acks and batching


class Ticket:
    """One received QoS 1/2 message waiting for its acknowledgement."""

    __slots__ = ("done", "generation", "mid", "qos")

    def __init__(self, mid: int, qos: int, generation: int) -> None:
        self.mid = mid
        self.qos = qos
        self.generation = generation
        self.done = False


class AckTracker:
    """Sends acknowledgements in the order the messages arrived (MQTT 4.6), however the work finishes.

    ``register`` runs in paho's network thread, ``done`` in the writer thread; ``send`` (paho's
    ``ack``, which only queues a packet) is called outside the lock, so paho's own locks are never
    taken while ours is held. ``reset`` (on disconnect) forgets what is pending: those message ids
    mean nothing on the next connection, and the broker will redeliver the messages.
    """

    def __init__(self, send: Callable[[int, int], Any]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._pending: deque[Ticket] = deque()
        self._generation = 0

    def register(self, mid: int, qos: int) -> Ticket:
        with self._lock:
            ticket = Ticket(mid, qos, self._generation)
            self._pending.append(ticket)
        return ticket

    def done(self, tickets: Iterable[Ticket | None]) -> int:
        ready: list[Ticket] = []
        with self._lock:
            for ticket in tickets:
                if ticket is not None:
                    ticket.done = True
            pending = self._pending
            while pending and pending[0].done:
                ready.append(pending.popleft())
        for ticket in ready:
            self._send(ticket.mid, ticket.qos)
        return len(ready)

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self._pending.clear()

    def __len__(self) -> int:
        return len(self._pending)


class Message:
    __slots__ = (
        "context",
        "done",
        "dup",
        "entity",
        "error",
        "payload",
        "skip",
        "target",
        "ticket",
        "topic",
        "write_error",
    )

    def __init__(self, topic: str, payload: bytes, ticket: Ticket | None, dup: bool) -> None:
        self.topic = topic
        self.payload = payload
        self.ticket = ticket
        self.dup = dup
        self.target: Topic | None = None
        self.entity: dict[str, Any] | None = None
        self.context: ContextValue = None
        self.error: NgsiError | None = None  # found while decoding
        self.write_error: NgsiError | None = None  # found while writing (reset on every attempt)
        self.skip = False  # acknowledged, never stored (a dead letter of another ingest)
        self.done = False

    @property
    def problem(self) -> NgsiError | None:
        return self.error or self.write_error


class Inbox:
    """Messages between the network thread and the writer: a batch is ``limit`` messages or whatever
    arrived within ``window`` seconds of the first one waiting."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: deque[Message] = deque()
        self._cond = threading.Condition()
        self._first = 0.0
        self.closed = False

    def put(self, item: Message) -> None:
        with self._cond:
            items = self._items
            items.append(item)
            if len(items) == 1:
                self._first = time.monotonic()
                self._cond.notify()
            elif len(items) >= self.limit:
                self._cond.notify()

    def take(self, window: float, idle: float = 0.5) -> list[Message]:
        with self._cond:
            items = self._items
            if not items and not self.closed:
                self._cond.wait(idle)
            if not items:
                return []
            while len(items) < self.limit and not self.closed:
                remaining = self._first + window - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return [items.popleft() for _ in range(min(self.limit, len(items)))]

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._items)


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


class _KeyRejected(Exception):
    pass


def _transient(exc: BaseException) -> bool:
    """Worth retrying as is: the database is away or busy, not the data wrong."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class MqttIngest:
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
        self._client: Any = None
        self._acks: AckTracker | None = None

    # ----------------------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 15.0) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self._check_key()
        cfg = self.config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=cfg.client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password or None)
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(1000)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        self._acks = AckTracker(client.ack)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = cfg.session_expiry
        props.ReceiveMaximum = cfg.receive_maximum
        try:
            client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive, clean_start=False, properties=props)
        except OSError as exc:
            raise IngestError(f"MQTT broker {cfg.host}:{cfg.port} is not reachable: {exc}") from exc
        self._writer = threading.Thread(target=self._write_loop, name="kotacerdas-ingest-writer", daemon=True)
        self._writer.start()
        client.loop_start()
        if not self._ready.wait(timeout) or self._connect_error:
            self.stop(timeout=1.0)
            raise IngestError(self._connect_error or f"MQTT broker {cfg.host}:{cfg.port} did not answer.")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, write and acknowledge what was taken, then disconnect."""
        self._stopping = True
        self._inbox.close()
        if self._writer is not None:
            self._writer.join(timeout)
            self._abort.set()  # a writer still waiting for the database gives up; the broker keeps the rest
            self._writer.join(2.0)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        self._log_counters(force=True)

    def run_until(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set or ingest fails; then stop."""
        while not stop.wait(0.5) and self.failure is None:
            pass
        self.stop()

    def idle(self) -> bool:
        """Nothing received is waiting to be written or acknowledged."""
        return not len(self._inbox) and not self._busy and not (self._acks is not None and len(self._acks))

    # ------------------------------------------------------------------------- MQTT callbacks
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._connect_error = f"The MQTT broker refused the connection: {reason}"
            logger.error("%s", self._connect_error)
            self._ready.set()
            return
        from paho.mqtt.subscribeoptions import SubscribeOptions

        topics = self.config.topics or (f"{TOPIC_ROOT}/{self.region_code}/#",)
        client.subscribe(
            [
                # no echo of our own dead letters; a shared subscription ($share/<group>/...) may not ask that
                (t, SubscribeOptions(qos=1, noLocal=not t.startswith("$share/"), retainHandling=1))
                for t in topics
            ]
        )
        logger.info(
            "MQTT ingest connected to %s:%s as %s (session %s), topics %s",
            self.config.host,
            self.config.port,
            self.config.client_id,
            "resumed" if flags.session_present else "new",
            ", ".join(topics),
        )
        if flags.session_present:
            # the broker kept our session and subscriptions; its SUBACK may come only after the messages
            # it queued for us, so do not wait for it
            self._ready.set()

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self._connect_error = f"The MQTT broker refused the subscription: {', '.join(refused)}"
            logger.error("%s", self._connect_error)
        self._ready.set()  # start() returns once the broker keeps messages for us

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self._acks is not None:
            self._acks.reset()
        if not self._stopping:
            logger.warning("MQTT ingest lost the broker (%s); reconnecting", reason)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if self._stopping:
            return  # not acknowledged: the broker redelivers it to the next ingest
        counters = self.counters
        counters.received += 1
        qos = msg.qos
        ticket = self._acks.register(msg.mid, qos) if qos and self._acks is not None else None
        dup = bool(msg.dup or msg.retain)  # a retained message may have been stored before, too
        if dup:
            counters.redelivered += 1
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "-invalid-topic-"
        message = Message(topic, msg.payload, ticket, dup)
        if topic.startswith(DEADLETTER_ROOT):
            message.skip = True
        else:
            try:
                message.target = target = parse_topic(topic)
                message.entity, message.context = decode_payload(target, msg.payload)
            except NgsiError as exc:
                message.error = exc
            except Exception as exc:  # a bug must not stop the feed: the message goes to the dead letters
                logger.exception("could not decode a message on %s", topic)
                message.error = NgsiError(f"The message could not be decoded: {type(exc).__name__}.")
        self._inbox.put(message)

    # --------------------------------------------------------------------------------- writer
    def _write_loop(self) -> None:
        window = self.config.batch_ms / 1000.0
        inbox = self._inbox
        while self.failure is None:
            batch = inbox.take(window)
            if batch:
                self._busy = True
                try:
                    self._handle(batch)
                except Exception:  # a bug: stop rather than go on receiving what is never stored
                    logger.exception("the ingest writer failed")
                    self.failure = "The ingest writer failed (see the log); messages stay with the broker."
                finally:
                    self._busy = False
            elif inbox.closed:
                break
            self._log_counters()

    def _handle(self, batch: list[Message]) -> None:
        attempt = 0
        failures = 0
        while not self._abort.is_set():
            try:
                if attempt < 2:
                    self._write_batch(batch, dedupe=attempt > 0)
                else:
                    self._write_each(batch)
                return
            except _KeyRejected:
                self.failure = (
                    "The API key was revoked or deleted; ingest stops (messages stay with the broker)."
                )
                logger.error("%s", self.failure)
                return
            except Exception as exc:
                self.counters.retries += 1
                if _transient(exc):
                    failures += 1
                    attempt = max(attempt, 1)  # part of it may be stored: the retry skips stored history
                    logger.warning("database unavailable (%s); retrying the batch", exc)
                    if self._stopping and failures > 2:
                        return
                    self._abort.wait(min(30.0, 0.25 * 2**failures))
                else:
                    attempt += 1
                    logger.exception(
                        "writing a batch of %d messages failed (attempt %d)", len(batch), attempt
                    )

    def _principal(self, session: Session) -> Principal:
        from kotacerdas.auth import service as auth

        principal = auth.resolve_api_key(session, self._api_key)
        if principal is None:
            raise _KeyRejected()
        return principal

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

    def _write_batch(self, batch: list[Message], *, dedupe: bool) -> None:
        from kotacerdas.hub import service as hub

        todo = [m for m in batch if not m.done]
        dedupe = dedupe or any(m.dup for m in todo)
        with unit_of_work(self._session_factory, write=True) as session:
            principal = self._principal(session)
            writable = self._routable(session, principal, todo)
            for chunk in _chunks(writable, hub.MAX_BATCH):
                outcome = hub.upsert_entities(
                    session,
                    region_id=principal.region_id or 0,
                    principal=principal,
                    entities=[m.entity for m in chunk],
                    context=chunk[0].context,
                    ctx=_core() if chunk[0].context is None else None,
                    mode="update",
                    redelivered=dedupe,
                )
                if outcome.errors:
                    self._assign_errors(session, principal, chunk, outcome.errors)
        self._finish(todo)
        self.counters.batches += 1

    def _write_each(self, batch: list[Message]) -> None:
        """The batch as a whole failed for no reason a message explains: write each alone, so one
        bad message goes to the dead letters instead of blocking the feed."""
        from kotacerdas.hub import service as hub

        for m in batch:
            if m.done:
                continue
            try:
                with unit_of_work(self._session_factory, write=True) as session:
                    principal = self._principal(session)
                    if self._routable(session, principal, [m]):
                        outcome = hub.upsert_entities(
                            session,
                            region_id=principal.region_id or 0,
                            principal=principal,
                            entities=[m.entity],
                            context=m.context,
                            ctx=_core() if m.context is None else None,
                            mode="update",
                            redelivered=True,
                        )
                        if outcome.errors:
                            m.write_error = outcome.errors[0][1]
            except _KeyRejected:
                raise
            except Exception as exc:
                if _transient(exc):
                    raise
                logger.exception("a message on %s could not be written", m.topic)
                m.write_error = exc if isinstance(exc, NgsiError) else _internal(exc)
            self._finish([m])
            self.counters.batches += 1

    def _routable(self, session: Session, principal: Principal, messages: list[Message]) -> list[Message]:
        """Check region and office of each message; return those to write."""
        out = []
        for m in messages:
            m.write_error = None
            if m.error is not None or m.target is None:
                continue
            m.write_error = self._route_error(session, principal, m.target)
            if m.write_error is None:
                out.append(m)
        return out

    def _route_error(self, session: Session, principal: Principal, target: Topic) -> NgsiError | None:
        from kotacerdas.errors import NotFound
        from kotacerdas.region import service as regions

        if target.region not in self._regions:
            try:
                self._regions[target.region] = regions.get_region_by_code(session, target.region).id
            except NotFound:
                self._regions[target.region] = None
        region_id = self._regions[target.region]
        if region_id is None:
            return NonexistentTenant(f"There is no region {target.region!r}.")
        if region_id != principal.region_id:
            return Forbidden(f"The ingest key may not write to region {target.region}.")
        if target.office is None:
            return None
        loaded, offices = self._offices.get(region_id, (-1e18, {}))
        if target.office not in offices and time.monotonic() - loaded > 60.0:
            offices = {o.short_name: o.id for o in regions.list_offices(session, region_id=region_id)}
            self._offices[region_id] = (time.monotonic(), offices)
        office_id = offices.get(target.office)
        if office_id is None:
            return BadRequestData(f"The region {target.region} has no office {target.office!r}.")
        if principal.office_id is not None and principal.office_id != office_id:
            return Forbidden(f"The ingest key belongs to another office than {target.office}.")
        return None

    def _assign_errors(
        self,
        session: Session,
        principal: Principal,
        chunk: list[Message],
        errors: list[tuple[str | None, NgsiError]],
    ) -> None:
        by_id: dict[str, list[Message]] = {}
        for m in chunk:
            by_id.setdefault(str(m.entity["id"] if m.entity else ""), []).append(m)
        for entity_id, error in errors:
            candidates = [m for m in by_id.get(entity_id or "", []) if m.write_error is None]
            if not candidates:
                logger.warning("an error for %s matches no message: %s", entity_id, error.detail)
                continue
            culprit = candidates[0] if len(candidates) == 1 else self._culprit(session, principal, candidates)
            culprit.write_error = error

    def _culprit(self, session: Session, principal: Principal, candidates: list[Message]) -> Message:
        """Several messages for one entity and an error for it: find the one that fails on its own."""
        from kotacerdas.hub import access, service as hub
        from kotacerdas.hub.entity import Parser

        key_types = hub.key_entity_types(session, principal)
        for m in candidates:
            ctx = _core() if m.context is None else hub.resolver_for(session.get_bind()).resolve(m.context)  # type: ignore[arg-type]
            try:
                entity = Parser(ctx).entity(m.entity)
                access.require_write(principal, principal.region_id or 0, entity.types, key_types)
            except NgsiError:
                return m
        return candidates[0]

    def _finish(self, messages: list[Message]) -> None:
        """After the commit: dead letters out, counters up, acknowledgements (in order) sent."""
        stored = 0
        for m in messages:
            problem = m.problem
            if m.done or m.skip:
                pass
            elif problem is not None:
                self._dead_letter(m, problem)
            else:
                stored += 1
            m.done = True
        self.counters.stored += stored
        if self._acks is not None:
            self._acks.done(m.ticket for m in messages)

    def _dead_letter(self, m: Message, error: NgsiError) -> None:
        self.counters.dead_lettered += 1
        body: dict[str, Any] = {"topic": m.topic, "error": error.body(), "receivedAt": format_us(now_us())}
        try:
            body["payload"] = bytes(m.payload).decode("utf-8")
        except UnicodeDecodeError:
            body["payloadBase64"] = base64.b64encode(bytes(m.payload)).decode("ascii")
        if self._client is not None:
            self._client.publish(DEADLETTER_ROOT + m.topic, orjson.dumps(body), qos=1)
        if self.counters.dead_lettered <= 20 or self.counters.dead_lettered % 1000 == 0:
            logger.warning("dead letter #%d from %s: %s", self.counters.dead_lettered, m.topic, error.detail)

    def _log_counters(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_log < self.config.log_every:
            return
        c = self.counters
        snapshot = (c.received, c.stored, c.dead_lettered, c.batches)
        if snapshot != self._logged or force:
            stored_before = self._logged[1] if self._logged else 0
            rate = (c.stored - stored_before) / max(now - self._last_log, 1e-9)
            logger.info(
                "MQTT ingest: %d received, %d stored, %d dead-lettered, %d batches, %d redelivered (%.0f stored/s)",
                c.received,
                c.stored,
                c.dead_lettered,
                c.batches,
                c.redelivered,
                rate,
            )
            self._logged = snapshot
        self._last_log = now

    def snapshot(self) -> dict[str, int]:
        return asdict(self.counters)


def _internal(exc: BaseException) -> NgsiError:
    if isinstance(exc, KotaCerdasError):
        return BadRequestData(str(exc))
    return NgsiError(f"The message could not be stored: {type(exc).__name__}.")


def _chunks(messages: list[Message], size: int) -> Iterator[list[Message]]:
    """Runs of messages with the same @context, at most ``size`` long (order kept)."""
    chunk: list[Message] = []
    for m in messages:
        if chunk and (len(chunk) >= size or m.context != chunk[0].context):
            yield chunk
            chunk = []
        chunk.append(m)
    if chunk:
        yield chunk


__all__ = [
    "DEADLETTER_ROOT",
    "AckTracker",
    "Counters",
    "Inbox",
    "IngestConfig",
    "IngestError",
    "MqttIngest",
    "Topic",
    "decode_payload",
    "parse_topic",
]
