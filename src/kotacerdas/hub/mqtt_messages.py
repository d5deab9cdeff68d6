"""What ingest does with one MQTT message before the database: the topic and payload read into an
entity (``parse_topic``, ``decode_payload``), the message's place in the acknowledgement order
(``AckTracker``) and in a batch (``Inbox``). No network and no database here; ``hub.mqtt_ingest``
puts them to work. Topics and payloads: docs/hub-ingest.md.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from kotacerdas.hub.context import ActiveContext, ContextValue
from kotacerdas.hub.entity import GEOMETRY_TYPES, MEMBER_KIND, VALUE_MEMBER
from kotacerdas.hub.problems import BadRequestData, NgsiError

TOPIC_ROOT = "kotacerdas"
DEADLETTER_ROOT = "kotacerdas/deadletter/"


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


_TOPICS: dict[str, Topic] = {}


def parse_topic_cached(topic: str) -> Topic:
    """parse_topic, remembered: a device publishes to the same topic again and again."""
    found = _TOPICS.get(topic)
    if found is None:
        if len(_TOPICS) >= 200_000:
            _TOPICS.clear()
        found = _TOPICS[topic] = parse_topic(topic)
    return found


@cache
def core() -> ActiveContext:
    from kotacerdas.hub.service import core_context

    return core_context()


def _same_type(given: Any, wanted: str) -> bool:
    if isinstance(given, list):
        return any(_same_type(t, wanted) for t in given)
    if not isinstance(given, str):
        return False
    return given == wanted or core().expand(given) == core().expand(wanted)


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

    ``register`` runs in the network thread, ``done`` in the writer thread; ``send`` (which only
    collects the packet id for the network thread) is called outside the lock. ``reset`` (on disconnect) forgets what is pending: those message ids
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
        "parsed",
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
        self.parsed: tuple[str | None, Any] | None = None  # parsed ahead, in the network thread
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

    def put_many(self, batch: list[Message]) -> None:
        if not batch:
            return
        with self._cond:
            items = self._items
            was = len(items)
            items.extend(batch)
            if not was:
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


__all__ = [
    "DEADLETTER_ROOT",
    "TOPIC_ROOT",
    "AckTracker",
    "Inbox",
    "Message",
    "Ticket",
    "Topic",
    "core",
    "decode_payload",
    "parse_topic",
    "parse_topic_cached",
]
