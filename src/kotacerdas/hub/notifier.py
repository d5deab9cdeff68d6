"""The notifier: turns committed hub changes into notifications and delivers them (GS CIM 009, 5.8.6).

It runs apart from the writes (in ``kotacerdas worker``, or in a thread of ``kotacerdas serve``) and
never slows them down: a write only commits and, in the same process, wakes it. One cycle
(``Notifier.run_once``):

1. **Read** (a read-only transaction): the subscriptions, reloaded when the table changes; then, for
   each region with change-driven subscriptions, the entities whose ``modified_at`` passed the
   region's cursor. Transactions can commit out of order, so the last ``LATE_WINDOW_US`` is read
   again now and then (keys only) and de-duplicated by (entity pk, modified_at). Deletions come
   from ``hub_deleted_entity`` the same way.
2. **Match** each change with each subscription: entity selectors, ``q`` and ``geoQ`` with the very
   code of Query Entities; ``watchedAttributes`` and ``notificationTrigger`` from the instances'
   ``createdAt``/``modifiedAt`` against the cursor. Each entity is rendered once per distinct
   rendering (format, context, projection).
3. **Write** (one transaction): an outbox row per subscription with the cycle's matches, the cursor
   (guarded by a lease on the region, so two workers never both notify), periodic notifications
   that are due, the results of finished deliveries, and claims: per subscription, all its pending
   rows become ONE notification, unless it is backing off after a failure, throttled, or being
   delivered by another worker.
4. **Deliver** on a small thread pool with one shared HTTP client (kept-alive connections), so a slow
   endpoint holds only its own subscription. Results are recorded in the next cycle: success marks
   the rows sent; failure counts an attempt, backs off 1 s, 2 s, 4 s ... (at most 5 minutes) and
   gives a row up after ``notify_max_attempts``. Every delivery goes through
   ``kotacerdas.kit.outbound``: an endpoint whose name now resolves to a refused address (DNS
   rebinding) is not contacted and counts as a failure like any other, its reason logged.

Restarting continues from the cursor: the outbox rows of the last minute remember which changes
they carried, so the re-read window is not notified twice.

This module holds the loop, the cycle and the loading of the subscriptions; the steps live beside it,
as parts of ``Notifier`` so that the state stays in one object: ``notify_changes`` (what a change is,
matching, rendering), ``notify_regions`` (reading past the region cursors, the outbox rows, the cursor
and its lease), ``notify_periodic`` (timeInterval) and ``notify_delivery`` (claiming, the notification,
HTTP, recording the outcomes). Their public names are importable from here too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.config import Settings
from kotacerdas.db import unit_of_work
from kotacerdas.hub import access, service, store
from kotacerdas.hub.entity import now_us
from kotacerdas.hub.notify_changes import (
    SECOND as SECOND,
    Change as Change,
    Key as Key,
    Live as Live,
    matches as matches,
    render as render,
)
from kotacerdas.hub.notify_delivery import (
    BACKOFF_BASE_US as BACKOFF_BASE_US,
    BACKOFF_CAP_US as BACKOFF_CAP_US,
    MAX_BYTES_PER_NOTIFICATION as MAX_BYTES_PER_NOTIFICATION,
    MAX_ROWS_PER_NOTIFICATION as MAX_ROWS_PER_NOTIFICATION,
    TIMEOUT_CAP_S as TIMEOUT_CAP_S,
    Claim as Claim,
    Delivery,
    Outcome as Outcome,
)
from kotacerdas.hub.notify_periodic import PeriodicNotifications
from kotacerdas.hub.notify_regions import (
    CURSOR_PERSIST_US as CURSOR_PERSIST_US,
    LATE_CHECK_US as LATE_CHECK_US,
    LATE_WINDOW_US as LATE_WINDOW_US,
    LEASE_US as LEASE_US,
    SCAN_LIMIT as SCAN_LIMIT,
    RegionPlan as RegionPlan,
    RegionScanning,
    RegionState as RegionState,
)
from kotacerdas.hub.subscriptions import SubscriptionRecord, compile_subscription
from kotacerdas.kit.outbound import OutboundPolicy, guarded_client

log = logging.getLogger(__name__)

RELOAD_US = 5 * SECOND  # subscriptions are re-read at least this often (revoked keys, read policies)
HOUSEKEEPING_US = 30 * SECOND
IDLE_POLL_S = 0.5  # with no subscription at all: how often another process's new ones are looked for
KEEP_SENT_US = 60 * SECOND  # must exceed LATE_WINDOW_US: restarts rebuild the seen set from them
KEEP_FAILED_US = 24 * 3600 * SECOND
KEEP_DELETED_US = 3600 * SECOND


@dataclass
class CycleStats:
    changes: int = 0
    queued: int = 0  # outbox rows written
    dispatched: int = 0  # notifications handed to the pool
    recorded: int = 0  # delivery results written

    @property
    def busy(self) -> bool:
        return bool(self.changes or self.queued or self.dispatched or self.recorded)


_live: weakref.WeakSet[Notifier] = weakref.WeakSet()


def _wake_all(_region_id: int) -> None:
    for notifier in list(_live):
        notifier.wake()


def subscriptions_changed() -> None:
    """A subscription was created, changed or deleted in this process (after its commit)."""
    for notifier in list(_live):
        notifier.wake(subscriptions=True)


def _engine_of(session_factory: sessionmaker[Session]) -> Engine:
    bind = session_factory.kw.get("bind")
    if isinstance(bind, Connection):
        return bind.engine
    if isinstance(bind, Engine):
        return bind
    raise ValueError("the notifier needs a session factory bound to an engine or a connection")


# -------------------------------------------------------------------------------------- notifier


class Notifier(RegionScanning, PeriodicNotifications, Delivery):
    """Drive it with ``run_once()`` (tests, one cycle) or ``run_forever()`` (the worker's loop)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        *,
        clock: Callable[[], int] = now_us,
        worker_id: str | None = None,
        pool_size: int = 16,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.resolver = service.resolver_for(
            _engine_of(session_factory),
            timeout=settings.hub_context_timeout,
            cache_seconds=settings.hub_context_cache_seconds,
        )
        self.outbound = OutboundPolicy.from_settings(settings)
        self.resolver.outbound = self.outbound
        self.client = guarded_client(
            self.outbound,
            limits=httpx.Limits(max_connections=pool_size * 4, max_keepalive_connections=pool_size * 2),
            follow_redirects=False,
            headers={"User-Agent": "kotacerdas-notifier"},
        )
        self.pool = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="kc-notify")
        self.subs: dict[int, Live] = {}
        self.regions: dict[int, RegionState] = {}
        self.in_flight: dict[int, Future[Outcome]] = {}
        self.results: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._signature: tuple[Any, ...] | None = None
        self._loaded_at = 0
        self._housekept = 0
        self._broken: set[tuple[int, int]] = set()
        self._wake = threading.Event()
        self._subscriptions_wake = threading.Event()
        self._stop = threading.Event()

    # ------------------------------------------------------------------------------- the loop
    def wake(self, *, subscriptions: bool = False) -> None:
        self._wake.set()
        if subscriptions:
            self._subscriptions_wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._subscriptions_wake.set()

    @property
    def idle(self) -> bool:
        """Nothing to notify: no subscription, no delivery under way, no result to record."""
        return not self.subs and not self.in_flight and self.results.empty()

    def run_forever(self) -> None:
        """Cycle until ``stop()``: at once when a write in this process commits, else every
        ``worker_poll_ms``. While there is no subscription at all, entity writes do not wake it and it
        looks for new subscriptions every ``IDLE_POLL_S`` (at once for one made in this process):
        a broker fed thousands of updates a second by MQTT or batch upserts, with nobody subscribed,
        spent a read transaction on every write for nothing. Changes made meanwhile are still
        notified to a new subscription (it watches from its own creation). Errors are logged and
        retried with a pause; in-flight deliveries are awaited and recorded before returning."""
        service.on_change(_wake_all)
        _live.add(self)
        poll = self.settings.worker_poll_ms / 1000.0
        errors = 0
        try:
            while not self._stop.is_set():
                self._wake.clear()
                self._subscriptions_wake.clear()
                try:
                    stats = self.run_once(wait=False)
                    errors = 0
                except Exception:
                    errors += 1
                    log.exception("notifier cycle failed (%s in a row)", errors)
                    self._stop.wait(min(30.0, 0.2 * 2**errors))
                    continue
                if self.idle:
                    self._subscriptions_wake.wait(max(poll, IDLE_POLL_S))
                elif not stats.busy:
                    self._wake.wait(poll)
        finally:
            _live.discard(self)
            self.close()

    def close(self) -> None:
        """Wait for deliveries under way, record them, release the HTTP client and the pool."""
        for future in list(self.in_flight.values()):
            # a failure is already an outcome in the queue; a hang leaves the lock to expire
            with contextlib.suppress(Exception):
                future.result(timeout=TIMEOUT_CAP_S + 5)
        try:
            self._record_only()
            self._release()
        except Exception:
            log.exception("recording the last deliveries failed; their locks expire and they are resent")
        self.pool.shutdown(wait=True)
        self.client.close()

    def _release(self) -> None:
        """Hand the regions back, so that the next worker goes on at once instead of waiting out the lease."""
        owned = {r: s for r, s in self.regions.items() if s.stored_high is not None}
        if not owned:
            return
        with unit_of_work(self.session_factory, write=True) as session:
            conn = store.connection(session)
            for region_id, state in owned.items():
                store.execute(
                    conn,
                    "UPDATE hub_notify_cursor SET owner = NULL, lease_until = NULL "
                    "WHERE region_id = ? AND owner = ? AND high = ?",
                    [region_id, self.worker_id, state.stored_high],
                )
        self.regions.clear()

    # -------------------------------------------------------------------------------- a cycle
    def run_once(self, *, wait: bool = True) -> CycleStats:
        """One cycle. With ``wait`` the deliveries it starts are awaited and recorded before it returns."""
        now = self.clock()
        stats = CycleStats()
        outcomes = self._drain()
        with unit_of_work(self.session_factory) as session:
            conn = store.connection(session)
            self._refresh(session, conn, now)
            plans = self._read(conn, now)
            candidates = self._pending_subscriptions(conn, now)
        due = [live for live in self.subs.values() if self._periodic_due(live, now)]
        stats.changes = sum(len(p.new_keys) for p in plans)
        renew = any(self._lease_due(region_id, now) for region_id in self._scanned_regions(now))
        claims: list[Claim] = []
        if outcomes or plans or due or candidates or renew:
            committed: list[RegionPlan] = []
            try:
                claims = self._write(outcomes, plans, due, candidates, committed, stats, now)
            except BaseException:
                for outcome in outcomes:  # recorded by the next cycle instead
                    self.results.put(outcome)
                raise
            for plan in committed:
                self._apply(plan, now)
        for claim in claims:
            self._dispatch(claim, now)
        stats.dispatched = len(claims)
        if wait and claims:
            for claim in claims:
                future = self.in_flight.get(claim.live.pk)
                if future is not None:
                    future.result()
            stats.recorded += self._record_only()
        return stats

    def _write(
        self,
        outcomes: list[Outcome],
        plans: list[RegionPlan],
        due: list[Live],
        candidates: set[int],
        committed: list[RegionPlan],
        stats: CycleStats,
        now: int,
    ) -> list[Claim]:
        """The write transaction of a cycle; returns the claims to deliver once it has committed."""
        with unit_of_work(self.session_factory, write=True) as session:
            conn = store.connection(session)
            self._take_write_lock(conn)
            stats.recorded = self._record(conn, outcomes, now)
            for plan in plans:
                if self._write_plan(conn, plan, now):
                    committed.append(plan)
                    stats.queued += len(plan.rows)
            for region_id in self._scanned_regions(now):
                if self._lease_due(region_id, now) and region_id not in {p.region_id for p in plans}:
                    self._renew_lease(conn, region_id, now)
            periodic = self._write_periodic(session, conn, due, now)
            stats.queued += len(periodic)
            with_rows = {p_row[1] for plan in committed for p_row in plan.rows} | periodic
            claims = self._claim(conn, candidates | with_rows, now)
            if now - self._housekept >= HOUSEKEEPING_US:
                self._housekeeping(conn, now)
        return claims

    def _drain(self) -> list[Outcome]:
        outcomes = []
        while True:
            try:
                outcome = self.results.get_nowait()
            except queue.Empty:
                break
            outcomes.append(outcome)
            self.in_flight.pop(outcome.claim.live.pk, None)
        return outcomes

    def _record_only(self) -> int:
        outcomes = self._drain()
        if not outcomes:
            return 0
        with unit_of_work(self.session_factory, write=True) as session:
            conn = store.connection(session)
            self._take_write_lock(conn)
            return self._record(conn, outcomes, self.clock())

    @staticmethod
    def _take_write_lock(conn: Connection) -> None:
        """Start the write transaction with a write: SQLite then takes its lock at once instead of
        failing to upgrade a read snapshot another writer has moved past."""
        if not store.is_postgres(conn):
            store.execute(conn, "UPDATE hub_notify_cursor SET lease_until = lease_until WHERE region_id = -1")

    # --------------------------------------------------------------------------- subscriptions
    def _refresh(self, session: Session, conn: Connection, now: int) -> None:
        signature = tuple(
            store.execute(conn, "SELECT COUNT(*), COALESCE(MAX(modified_at), 0) FROM hub_subscription").one()
        )
        if signature == self._signature and now - self._loaded_at < RELOAD_US:
            return
        rows = store.execute(
            conn,
            "SELECT s.pk, s.region_id, s.sub_id, s.body, s.context, s.created_at, s.modified_at, "
            "s.owner_kind, s.owner_key_id, s.owner_user_id, s.read_private, s.next_due, r.code, "
            "k.revoked_at, u.is_active FROM hub_subscription s JOIN region r ON r.id = s.region_id "
            "LEFT JOIN api_key k ON k.id = s.owner_key_id LEFT JOIN app_user u ON u.id = s.owner_user_id",
        ).all()
        policies: dict[int, tuple[bool, frozenset[str], frozenset[str]]] = {}
        fresh: dict[int, Live] = {}
        for row in rows:
            (pk, region_id, sub_id, body, context, created, modified, owner_kind, key_id, user_id) = row[:10]
            read_private, next_due, code, revoked_at, user_active = row[10:]
            record = SubscriptionRecord(
                pk=pk,
                region_id=region_id,
                id=sub_id,
                definition=orjson.loads(body),
                context=orjson.loads(context) if context else None,
                created_at=created,
                modified_at=modified,
            )
            old = self.subs.get(pk)
            if old is not None and old.compiled.record.modified_at == modified:
                compiled = old.compiled
                compiled.record = record
            else:
                try:
                    compiled = compile_subscription(record, self.resolver)
                except Exception:
                    if (pk, modified) not in self._broken:
                        self._broken.add((pk, modified))
                        log.exception("subscription %s cannot be used; it is skipped", sub_id)
                    continue
            owner_ok = (owner_kind == "api_key" and key_id is not None and revoked_at is None) or (
                owner_kind == "user" and user_id is not None and bool(user_active)
            )
            exclude: frozenset[str] = frozenset()
            only: frozenset[str] | None = None
            if not read_private:
                if region_id not in policies:
                    policies[region_id] = access.private_types(
                        session, region_id, self.settings.hub_read_default
                    )
                private_by_default, keyed, public = policies[region_id]
                if private_by_default:
                    only = public
                else:
                    exclude = keyed
            definition = record.definition
            fresh[pk] = Live(
                compiled=compiled,
                region_code=code,
                owner_ok=owner_ok,
                exclude=exclude,
                only=only,
                throttling_us=int(definition["throttling"] * SECOND) if "throttling" in definition else None,
                interval_us=int(definition["timeInterval"] * SECOND)
                if "timeInterval" in definition
                else None,
                next_due=next_due
                if old is None or old.next_due is None
                else max(old.next_due, next_due or 0),
            )
        signatures: dict[tuple[Any, ...], int] = {}
        for live in fresh.values():
            live.render_id = signatures.setdefault(live.render_signature(), len(signatures))
        self.subs = fresh
        self._signature = signature
        self._loaded_at = now

    def _housekeeping(self, conn: Connection, now: int) -> None:
        store.execute(
            conn,
            "DELETE FROM hub_notify_outbox WHERE (state = ? AND done_at < ?) OR (state = ? AND done_at < ?)",
            ["sent", now - KEEP_SENT_US, "failed", now - KEEP_FAILED_US],
        )
        store.execute(
            conn, "DELETE FROM hub_deleted_entity WHERE deleted_at < ?", [now_us() - KEEP_DELETED_US]
        )
        self._housekept = now
