"""The ingest writer: the thread that turns queued MQTT messages into stored entities, exactly once.

What it guarantees: a batch (N messages or T ms, ``IngestConfig.batch_size``/``batch_ms``) is written
in ONE transaction through ``hub.service.upsert_entities``, and its messages are acknowledged (in the
order they arrived) only after the commit. Every message is checked first against its topic's region
and office and the key's rights (``_routable``); what is malformed or refused goes to
``kotacerdas/deadletter/<original topic>`` with the error, counted and acknowledged. A batch that fails
as a whole is retried (transient database errors wait and retry, unacknowledged), then written message
by message so one bad message cannot block the feed.

``IngestWriter`` is a part of ``hub.mqtt_ingest.MqttIngest`` (split from it, so the network side and
the writing side each fit one module); the state it declares is set up in ``MqttIngest.__init__``. It
logs as ``kotacerdas.hub.ingest``, like the rest of the ingest.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.auth.access import Principal
from kotacerdas.db import unit_of_work
from kotacerdas.errors import KotaCerdasError
from kotacerdas.hub.entity import format_us, now_us
from kotacerdas.hub.mqtt_messages import DEADLETTER_ROOT, AckTracker, Inbox, Message, Topic, core
from kotacerdas.hub.mqtt_wire import WireClient
from kotacerdas.hub.problems import BadRequestData, Forbidden, NgsiError, NonexistentTenant

if TYPE_CHECKING:  # mqtt_ingest imports this module at run time
    from kotacerdas.hub.mqtt_ingest import Counters, IngestConfig

logger = logging.getLogger("kotacerdas.hub.ingest")


class _KeyRejected(Exception):
    pass


def _transient(exc: BaseException) -> bool:
    """Worth retrying as is: the database is away or busy, not the data wrong."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class IngestWriter:
    """The writer thread's side of ``MqttIngest``: batches, routing checks, dead letters, counters."""

    config: IngestConfig
    counters: Counters
    failure: str | None
    _session_factory: sessionmaker[Session]
    _api_key: str
    _inbox: Inbox
    _stopping: bool
    _abort: threading.Event
    _regions: dict[str, int | None]
    _offices: dict[int, tuple[float, dict[str, int]]]
    _busy: bool
    _last_log: float
    _logged: tuple[int, ...]
    _wire: WireClient | None
    _acks: AckTracker | None
    _ack_out: list[int]
    _high_water: int
    _paused: bool

    # --------------------------------------------------------------------------------- writer
    def _write_loop(self) -> None:
        window = self.config.batch_ms / 1000.0
        inbox = self._inbox
        while self.failure is None:
            batch = inbox.take(window)
            if self._paused and len(inbox) < self._high_water // 2 and self._wire is not None:
                self._paused = False
                self._wire.resume_reading()
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
                    for m in batch:
                        m.parsed = None  # a retry parses again: a failed write may have changed them
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

    def _write_batch(self, batch: list[Message], *, dedupe: bool) -> None:
        from kotacerdas.hub import service as hub

        todo = [m for m in batch if not m.done]
        dedupe = dedupe or any(m.dup for m in todo)
        with unit_of_work(self._session_factory, write=True) as session:
            principal = self._principal(session)
            writable = self._routable(session, principal, todo)
            for chunk in _chunks(writable, hub.MAX_BATCH):
                entities: list[Any] = (
                    hub.ParsedBatch(m.parsed for m in chunk)  # type: ignore[misc]
                    if all(m.parsed is not None for m in chunk)
                    else [m.entity for m in chunk]
                )
                outcome = hub.upsert_entities(
                    session,
                    region_id=principal.region_id or 0,
                    principal=principal,
                    entities=entities,
                    context=chunk[0].context,
                    ctx=core() if chunk[0].context is None else None,
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
                            ctx=core() if m.context is None else None,
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
        checked: dict[tuple[str, str | None], NgsiError | None] = {}  # once per region and office
        for m in messages:
            m.write_error = None
            target = m.target
            if m.error is not None or target is None:
                continue
            where = (target.region, target.office)
            if where in checked:
                error = checked[where]
            else:
                error = checked[where] = self._route_error(session, principal, target)
            if error is None:
                out.append(m)
            else:
                m.write_error = error
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
            ctx = core() if m.context is None else hub.resolver_for(session.get_bind()).resolve(m.context)  # type: ignore[arg-type]
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
        if self._acks is not None and self._wire is not None:
            # the connection number first: acknowledgements of an older connection are dropped
            connection = self._wire.connection
            self._acks.done(m.ticket for m in messages)
            out, self._ack_out = self._ack_out, []
            self._wire.send_acks(out, connection)

    def _queue_ack(self, mid: int, qos: int) -> None:
        self._ack_out.append(mid)

    def _dead_letter(self, m: Message, error: NgsiError) -> None:
        self.counters.dead_lettered += 1
        body: dict[str, Any] = {"topic": m.topic, "error": error.body(), "receivedAt": format_us(now_us())}
        try:
            body["payload"] = bytes(m.payload).decode("utf-8")
        except UnicodeDecodeError:
            body["payloadBase64"] = base64.b64encode(bytes(m.payload)).decode("ascii")
        if self._wire is not None:
            self._wire.publish(DEADLETTER_ROOT + m.topic, orjson.dumps(body))
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
