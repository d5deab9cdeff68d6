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
from collections.abc import Callable, Iterable, Set as AbstractSet
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.config import Settings
from kotacerdas.db import unit_of_work
from kotacerdas.hub import access, service, store
from kotacerdas.hub.entity import (
    LOCATION,
    VALUE_MEMBER,
    Entity,
    Renderer,
    format_us,
    instances_of,
    now_us,
    parse_datetime,
)
from kotacerdas.hub.subscriptions import (
    GEOJSON,
    JSON,
    JSONLD,
    Compiled,
    SubscriptionRecord,
    compile_subscription,
)
from kotacerdas.kit.outbound import DestinationRefused, OutboundPolicy, guarded_client

log = logging.getLogger(__name__)

SECOND = 1_000_000
LATE_WINDOW_US = 5 * SECOND  # how far back transactions committing late are looked for
LATE_CHECK_US = SECOND // 2  # how often
LEASE_US = 15 * SECOND  # a region's cursor belongs to one worker for this long, renewed as it works
CURSOR_PERSIST_US = SECOND  # the cursor is written with every outbox row, else at least this often
RELOAD_US = 5 * SECOND  # subscriptions are re-read at least this often (revoked keys, read policies)
HOUSEKEEPING_US = 30 * SECOND
IDLE_POLL_S = 0.5  # with no subscription at all: how often another process's new ones are looked for
KEEP_SENT_US = 60 * SECOND  # must exceed LATE_WINDOW_US: restarts rebuild the seen set from them
KEEP_FAILED_US = 24 * 3600 * SECOND
KEEP_DELETED_US = 3600 * SECOND
SCAN_LIMIT = 5000
MAX_ROWS_PER_NOTIFICATION = 500
MAX_BYTES_PER_NOTIFICATION = 8 * 1024 * 1024
BACKOFF_BASE_US = SECOND
BACKOFF_CAP_US = 300 * SECOND
TIMEOUT_CAP_S = 60.0

Key = tuple[int, int]  # (entity pk, modified_at) or (-deletion pk, deleted_at)


@lru_cache(maxsize=8192)
def _us(text: str) -> int:
    return parse_datetime(text)


def _ms_floor(us: int) -> int:
    return us - us % 1000


# --------------------------------------------------------------------------------- subscriptions


@dataclass
class Live:
    """A subscription as the notifier holds it between reloads, with what matching asks every time
    worked out once."""

    compiled: Compiled
    region_code: str
    owner_ok: bool
    exclude: frozenset[str]  # entity types its owner may not read
    only: frozenset[str] | None  # when everything is private: the public types
    throttling_us: int | None
    interval_us: int | None
    next_due: int | None
    render_id: int = 0  # equal for subscriptions that render an entity the same way
    since: int = 0  # changes before its last update are not its business
    on_entity_created: bool = False
    on_entity_updated: bool = False
    on_entity_deleted: bool = False
    on_attribute_created: bool = False
    on_attribute_updated: bool = False
    on_attribute_deleted: bool = False

    def __post_init__(self) -> None:
        triggers = self.compiled.triggers
        self.since = self.compiled.record.modified_at
        self.on_entity_created = "entityCreated" in triggers
        self.on_entity_updated = "entityUpdated" in triggers
        self.on_entity_deleted = "entityDeleted" in triggers
        self.on_attribute_created = "attributeCreated" in triggers
        self.on_attribute_updated = "attributeUpdated" in triggers
        self.on_attribute_deleted = "attributeDeleted" in triggers

    @property
    def pk(self) -> int:
        return self.compiled.record.pk

    def render_signature(self) -> tuple[Any, ...]:
        c = self.compiled
        return (
            id(c.ctx),
            c.rendering,
            c.attrs,
            c.omit,
            c.keep_id,
            c.keep_type,
            c.accept == GEOJSON,
            c.show_changes,
            c.watched if self.on_attribute_deleted else None,
            self.on_attribute_deleted,
        )

    def deliverable(self, now: int) -> bool:
        record = self.compiled.record
        expires = record.expires_at
        return self.owner_ok and record.is_active and (expires is None or expires > now)


# ------------------------------------------------------------------------------------- changes


class Change:
    """One entity state to consider: what changed in it since ``since`` is worked out once."""

    __slots__ = ("_sets", "at", "created", "deleted_at", "entity", "gone", "key", "previous", "since")

    def __init__(self, key: Key, entity: Entity, since: int, deleted_at: int | None = None) -> None:
        self.key = key
        self.at = key[1]
        self.entity = entity
        self.since = since
        self.deleted_at = deleted_at
        self.gone: dict[str, list[dict[str, Any]]] = {}  # attributeDeleted: iri -> deletion instances
        self.previous: dict[tuple[str, str | None], tuple[str, Any]] = {}  # showChanges
        created = entity.created_at or 0
        self.created = created > since or created >= _ms_floor(self.at)
        self._sets: tuple[frozenset[str], frozenset[str]] | None = None

    def attribute_sets(self) -> tuple[frozenset[str], frozenset[str]]:
        """(attributes with an instance created, attributes with an instance updated) in this change."""
        if self._sets is None:
            floor = _ms_floor(self.at)
            since = self.since
            new: set[str] = set()
            updated: set[str] = set()
            for iri, value in self.entity.attrs.items():
                if iri[0] == "@":
                    continue
                for inst in value if isinstance(value, list) else (value,):
                    modified = inst.get("modifiedAt")
                    if not modified:
                        continue
                    modified_us = _us(modified)
                    if modified_us <= since and modified_us < floor:
                        continue
                    created_us = _us(inst.get("createdAt") or modified)
                    (new if created_us > since or created_us >= floor else updated).add(iri)
            self._sets = (frozenset(new), frozenset(updated))
        return self._sets


def matches(live: Live, change: Change) -> bool:
    """Whether ``change`` concerns the subscription (its triggers, watched attributes, filters)."""
    if change.at < live.since:
        return False
    entity = change.entity
    if live.only is not None:
        if entity.types[0] not in live.only:
            return False
    elif live.exclude and entity.types[0] in live.exclude:
        return False
    c = live.compiled
    if change.deleted_at is not None:
        return live.on_entity_deleted and c.selects(entity)
    if not c.selects(entity):
        return False
    watched = c.watched
    if change.created:
        if live.on_entity_created:
            return True
        return live.on_attribute_created and (watched is None or not watched.isdisjoint(entity.attrs))
    new, updated = change.attribute_sets()
    gone: AbstractSet[str] = change.gone.keys()
    if watched is not None:
        new, updated = new & watched, updated & watched
        gone = gone & watched
    if live.on_entity_updated and (watched is None or new or updated or gone):
        return True
    return bool(
        (live.on_attribute_created and new)
        or (live.on_attribute_updated and updated)
        or (live.on_attribute_deleted and gone)
    )


def _previous_member(inst: dict[str, Any]) -> tuple[str, Any] | None:
    kind = inst.get("type", "Property")
    member = VALUE_MEMBER.get(kind, "value")
    if member not in inst:
        return None
    return "previous" + member[0].upper() + member[1:], inst[member]


def render(live: Live, change: Change) -> dict[str, Any]:
    """The entity of ``change`` as the subscription's notification shows it."""
    c = live.compiled
    entity = change.entity
    if change.deleted_at is not None:
        types = [c.ctx.compact(t) for t in entity.types]
        return {
            "id": entity.id,
            "type": types[0] if len(types) == 1 else types,
            "deletedAt": format_us(change.deleted_at),
        }
    wants_gone = live.on_attribute_deleted and change.gone
    if wants_gone or (c.show_changes and change.previous):
        attrs = dict(entity.attrs)
        if c.show_changes and change.previous:
            for iri, value in entity.attrs.items():
                shown = []
                for inst in instances_of(value):
                    prev = change.previous.get((iri, inst.get("datasetId")))
                    shown.append({**inst, prev[0]: prev[1]} if prev is not None else inst)
                attrs[iri] = shown[0] if len(shown) == 1 else shown
        if wants_gone:
            for iri, instances in change.gone.items():
                if c.watched is None or iri in c.watched:
                    attrs[iri] = [*instances_of(attrs[iri]), *instances] if iri in attrs else instances
                    if len(instances_of(attrs[iri])) == 1:
                        attrs[iri] = instances_of(attrs[iri])[0]
        entity = Entity(
            id=entity.id,
            types=entity.types,
            attrs=attrs,
            scope=entity.scope,
            created_at=entity.created_at,
            modified_at=entity.modified_at,
        )
    body = Renderer(c.ctx, c.rendering).entity(
        entity, attrs=c.attrs, omit=c.omit, keep_id=c.keep_id, keep_type=c.keep_type
    )
    if c.accept == GEOJSON:
        located = entity.instances(LOCATION)
        geometry = located[0].get("value") if located else None
        properties = {k: v for k, v in body.items() if k != "id"}
        return {"id": entity.id, "type": "Feature", "geometry": geometry, "properties": properties}
    return body


# ---------------------------------------------------------------------------------- bookkeeping


@dataclass
class RegionState:
    high: int  # largest modified_at read (in memory; persisted lazily)
    deleted_high: int
    stored_high: int | None  # what the cursor row holds (None: no row yet)
    stored_deleted_high: int | None
    seen: dict[Key, int] = field(default_factory=dict)  # key -> its time, for pruning
    late_checked: int = 0
    persisted: int = 0  # clock time the cursor was last written
    pruned: int = 0  # clock time the seen set was last pruned
    lease_until: int = 0


@dataclass
class RegionPlan:
    region_id: int
    state: RegionState
    high: int
    deleted_high: int
    new_keys: dict[Key, int]
    rows: list[tuple[Any, ...]]  # outbox rows

    @property
    def advanced(self) -> bool:
        return self.high != self.state.stored_high or self.deleted_high != self.state.stored_deleted_high


@dataclass
class Claim:
    live: Live
    rows: list[tuple[int, str, str, int]]  # (outbox pk, notification id, data, attempts)
    failures: int


@dataclass
class Outcome:
    claim: Claim
    started: int
    ok: bool
    detail: str


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


class Notifier:
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

    def _change_subs(self, now: int) -> dict[int, list[Live]]:
        by_region: dict[int, list[Live]] = {}
        for live in self.subs.values():
            if live.interval_us is None and live.deliverable(now):
                by_region.setdefault(live.compiled.record.region_id, []).append(live)
        return by_region

    def _scanned_regions(self, now: int) -> Iterable[int]:
        return [r for r in self._change_subs(now) if r in self.regions]

    # -------------------------------------------------------------------------------- reading
    def _read(self, conn: Connection, now: int) -> list[RegionPlan]:
        by_region = self._change_subs(now)
        for region_id in list(self.regions):
            if region_id not in by_region:
                del self.regions[region_id]  # no longer watched: start afresh when it is again
        if not by_region:
            return []
        marks = ",".join("?" * len(by_region))
        cursors = {
            row[0]: row[1:]
            for row in store.execute(
                conn,
                "SELECT region_id, high, deleted_high, owner, lease_until FROM hub_notify_cursor "
                f"WHERE region_id IN ({marks})",
                list(by_region),
            )
        }
        plans = []
        for region_id, subs in by_region.items():
            floor = min(live.since for live in subs) - 1
            state = self._region_state(conn, region_id, cursors.get(region_id), floor, now)
            if state is None:
                continue
            plan = self._scan(conn, region_id, state, subs, floor, now)
            if plan.new_keys or plan.rows or (plan.advanced and now - state.persisted >= CURSOR_PERSIST_US):
                plans.append(plan)
        return plans

    def _region_state(
        self, conn: Connection, region_id: int, cursor: Any, floor: int, now: int
    ) -> RegionState | None:
        """This worker's view of a region's cursor; None while another worker holds the region."""
        state = self.regions.get(region_id)
        if cursor is not None:
            high, deleted_high, owner, lease_until = cursor
            if owner not in (None, self.worker_id) and (lease_until or 0) >= now:
                self.regions.pop(region_id, None)
                return None
            if state is not None and owner == self.worker_id and state.stored_high == high:
                return state
            state = RegionState(
                high=high, deleted_high=deleted_high, stored_high=high, stored_deleted_high=deleted_high
            )
            # what the last minute's notifications carried is not notified again
            low = min(high, deleted_high) - LATE_WINDOW_US
            for (changes,) in store.execute(
                conn,
                "SELECT changes FROM hub_notify_outbox WHERE region_id = ? AND max_modified > ?",
                [region_id, low],
            ):
                for pk, at in orjson.loads(changes or "[]"):
                    state.seen[(pk, at)] = at
        elif state is None or state.stored_high is not None:
            state = RegionState(high=floor, deleted_high=floor, stored_high=None, stored_deleted_high=None)
        self.regions[region_id] = state
        return state

    def _scan(
        self, conn: Connection, region_id: int, state: RegionState, subs: list[Live], floor: int, now: int
    ) -> RegionPlan:
        since = max(state.high, floor)
        types: set[str] = set()
        for live in subs:
            wanted = live.compiled.types
            if wanted is None:
                types = set()
                break
            types |= wanted
        type_sql, type_params = "", []
        if types:
            marks = ",".join("?" * len(types))
            type_sql = f" AND (e.type IN ({marks}) OR e.extra_types IS NOT NULL)"
            type_params = sorted(types)
        changes: list[Change] = []
        rows = store.execute(
            conn,
            f"SELECT {store.ENTITY_COLUMNS} FROM hub_entity e WHERE e.region_id = ? AND e.modified_at > ?"
            f"{type_sql} ORDER BY e.modified_at LIMIT ?",
            [region_id, since, *type_params, SCAN_LIMIT],
        ).all()
        if len(rows) == SCAN_LIMIT and rows[0][5] != rows[-1][5]:
            last = rows[-1][5]
            rows = [r for r in rows if r[5] != last]  # the rest of that instant comes next time
        high = since
        for row in rows:
            pk, entity = store.row_entity(row)
            at = entity.modified_at or 0
            high = max(high, at)
            if (pk, at) not in state.seen:
                changes.append(Change(key=(pk, at), entity=entity, since=since))
        if now - state.late_checked >= LATE_CHECK_US:
            changes.extend(self._late(conn, region_id, state, since, floor, type_sql, type_params))
            state.late_checked = now
        deleted_high = max(state.deleted_high, floor)
        if any("entityDeleted" in live.compiled.triggers for live in subs):
            found, deleted_high = self._deletions(conn, region_id, state, deleted_high)
            changes.extend(found)
        if any("attributeDeleted" in live.compiled.triggers for live in subs):
            self._attach_deleted_attributes(conn, changes)
        if any(live.compiled.show_changes for live in subs):
            self._attach_previous(conn, changes)
        plan = RegionPlan(
            region_id=region_id,
            state=state,
            high=high,
            deleted_high=deleted_high,
            new_keys={c.key: c.at for c in changes},
            rows=[],
        )
        plan.rows = self._outbox_rows(region_id, subs, changes, now)
        return plan

    def _late(
        self,
        conn: Connection,
        region_id: int,
        state: RegionState,
        since: int,
        floor: int,
        type_sql: str,
        type_params: list[str],
    ) -> list[Change]:
        """Entities written up to ``since`` whose transaction committed after it was read."""
        keys = store.execute(
            conn,
            "SELECT e.pk, e.modified_at FROM hub_entity e WHERE e.region_id = ? AND e.modified_at > ? "
            f"AND e.modified_at <= ?{type_sql}",
            [region_id, max(since - LATE_WINDOW_US, floor), since, *type_params],
        ).all()
        missing = [pk for pk, at in keys if (pk, at) not in state.seen]
        changes = []
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            rows = store.execute(
                conn,
                f"SELECT {store.ENTITY_COLUMNS} FROM hub_entity e WHERE e.pk IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for row in rows:
                pk, entity = store.row_entity(row)
                at = entity.modified_at or 0
                if (pk, at) not in state.seen and at <= since:
                    changes.append(Change(key=(pk, at), entity=entity, since=at - 1))
        return changes

    def _deletions(
        self, conn: Connection, region_id: int, state: RegionState, deleted_high: int
    ) -> tuple[list[Change], int]:
        rows = store.execute(
            conn,
            "SELECT pk, entity_id, type, extra_types, created_at, deleted_at, body FROM hub_deleted_entity "
            "WHERE region_id = ? AND deleted_at > ? ORDER BY deleted_at",
            [region_id, deleted_high - LATE_WINDOW_US],
        ).all()
        changes = []
        high = deleted_high
        for pk, entity_id, type_, extra, created, deleted_at, body in rows:
            key = (-pk, deleted_at)
            high = max(high, deleted_at)
            if key in state.seen:
                continue
            _pk, entity = store.row_entity((pk, entity_id, type_, extra, created, deleted_at, body))
            changes.append(Change(key=key, entity=entity, since=deleted_at - 1, deleted_at=deleted_at))
        return changes, high

    def _attach_deleted_attributes(self, conn: Connection, changes: list[Change]) -> None:
        """attributeDeleted: the deletion instances the history recorded for these changes."""
        live_changes = {c.key[0]: c for c in changes if c.deleted_at is None}
        if not live_changes:
            return
        low = min(min(c.since, _ms_floor(c.at) - 1) for c in live_changes.values())
        pks = list(live_changes)
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            rows = store.execute(
                conn,
                f"SELECT entity_pk, attrs FROM hub_history WHERE entity_pk IN ({','.join('?' * len(chunk))}) "
                "AND ts > ? AND observed = ?",
                [*chunk, low, False],
            ).all()
            for entity_pk, attrs in rows:
                change = live_changes[entity_pk]
                floor = _ms_floor(change.at)
                stored = attrs if isinstance(attrs, dict) else orjson.loads(attrs)
                for iri, value in stored.items():
                    for inst in instances_of(value):
                        gone_at = inst.get("deletedAt")
                        if gone_at and (_us(gone_at) > change.since or _us(gone_at) >= floor):
                            shown = {k: v for k, v in inst.items() if k not in ("modifiedAt", "createdAt")}
                            change.gone.setdefault(iri, []).append(shown)

    def _attach_previous(self, conn: Connection, changes: list[Change]) -> None:
        """showChanges: the instance each updated attribute had before, from the history."""
        for change in changes:
            if change.deleted_at is not None or change.created:
                continue
            updated = change.attribute_sets()[1]
            if not updated:
                continue
            current: dict[tuple[str, str | None], int] = {}
            for iri in updated:
                for inst in change.entity.instances(iri):
                    if inst.get("modifiedAt"):
                        current[(iri, inst.get("datasetId"))] = _us(inst["modifiedAt"])
            history = store.read_history(
                conn,
                change.key[0],
                attrs=frozenset(updated),
                newest_first=True,
                row_limit=4 * len(current) + 4,
            )
            for item in history:
                slot = (item.iri, item.instance.get("datasetId"))
                if slot not in current or slot in change.previous or item.instance.get("deletedAt"):
                    continue
                if item.modified_at < current[slot]:
                    previous = _previous_member(item.instance)
                    if previous is not None:
                        change.previous[slot] = previous

    def _outbox_rows(
        self, region_id: int, subs: list[Live], changes: list[Change], now: int
    ) -> list[tuple[Any, ...]]:
        if not changes:
            return []
        rendered: dict[tuple[Any, ...], dict[str, Any]] = {}
        rows = []
        for live in subs:
            data = []
            keys = []
            for change in changes:
                if not matches(live, change):
                    continue
                cache_key = (change.key, live.render_id)
                body = rendered.get(cache_key)
                if body is None:
                    body = rendered[cache_key] = render(live, change)
                data.append(body)
                keys.append(change.key)
            if data:
                rows.append(
                    (
                        region_id,
                        live.pk,
                        f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
                        now,
                        "pending",
                        0,
                        orjson.dumps(data).decode(),
                        orjson.dumps(keys).decode(),
                        max(k[1] for k in keys),
                    )
                )
        return rows

    def _pending_subscriptions(self, conn: Connection, now: int) -> set[int]:
        rows = store.execute(
            conn,
            "SELECT DISTINCT o.subscription_pk FROM hub_notify_outbox o JOIN hub_subscription s "
            "ON s.pk = o.subscription_pk WHERE o.state = ? AND COALESCE(s.retry_at, 0) <= ? "
            "AND COALESCE(s.next_allowed, 0) <= ? AND (s.delivering_until IS NULL OR s.delivering_until < ?)",
            ["pending", now, now, now],
        ).all()
        return {pk for (pk,) in rows if pk not in self.in_flight}

    # -------------------------------------------------------------------------------- writing
    def _write_plan(self, conn: Connection, plan: RegionPlan, now: int) -> bool:
        """The region's outbox rows and cursor, if the region is still this worker's."""
        state = plan.state
        lease_until = now + LEASE_US
        if state.stored_high is None:
            inserted = store.execute(
                conn,
                "INSERT INTO hub_notify_cursor (region_id, high, deleted_high, owner, lease_until) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (region_id) DO NOTHING",
                [plan.region_id, plan.high, plan.deleted_high, self.worker_id, lease_until],
            )
            if inserted.rowcount != 1:
                self.regions.pop(plan.region_id, None)
                return False
        else:
            updated = store.execute(
                conn,
                "UPDATE hub_notify_cursor SET high = ?, deleted_high = ?, owner = ?, lease_until = ? "
                "WHERE region_id = ? AND high = ? AND deleted_high = ? "
                "AND (owner = ? OR owner IS NULL OR lease_until < ?)",
                [
                    plan.high,
                    plan.deleted_high,
                    self.worker_id,
                    lease_until,
                    plan.region_id,
                    state.stored_high,
                    state.stored_deleted_high,
                    self.worker_id,
                    now,
                ],
            )
            if updated.rowcount != 1:
                self.regions.pop(plan.region_id, None)  # another worker moved it: read it again
                return False
        store.executemany(
            conn,
            "INSERT INTO hub_notify_outbox (region_id, subscription_pk, notification_id, created_at, state, "
            "attempts, data, changes, max_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            plan.rows,
        )
        return True

    def _apply(self, plan: RegionPlan, now: int) -> None:
        """After commit: the region's state moves on."""
        state = plan.state
        state.high, state.deleted_high = plan.high, plan.deleted_high
        state.stored_high, state.stored_deleted_high = plan.high, plan.deleted_high
        state.persisted = now
        state.lease_until = now + LEASE_US
        state.seen.update(plan.new_keys)
        if now - state.pruned >= LATE_CHECK_US:
            horizon = min(state.high, state.deleted_high) - LATE_WINDOW_US
            state.seen = {k: at for k, at in state.seen.items() if at > horizon}
            state.pruned = now

    def _lease_due(self, region_id: int, now: int) -> bool:
        state = self.regions.get(region_id)
        return state is not None and state.stored_high is not None and state.lease_until - now < LEASE_US // 2

    def _renew_lease(self, conn: Connection, region_id: int, now: int) -> None:
        state = self.regions[region_id]
        updated = store.execute(
            conn,
            "UPDATE hub_notify_cursor SET owner = ?, lease_until = ? WHERE region_id = ? AND high = ? "
            "AND (owner = ? OR owner IS NULL OR lease_until < ?)",
            [self.worker_id, now + LEASE_US, region_id, state.stored_high, self.worker_id, now],
        )
        if updated.rowcount == 1:
            state.lease_until = now + LEASE_US
        else:
            self.regions.pop(region_id, None)

    # ------------------------------------------------------------------------------- periodic
    def _periodic_due(self, live: Live, now: int) -> bool:
        return (
            live.interval_us is not None
            and live.deliverable(now)
            and (live.next_due is None or live.next_due <= now)
        )

    def _write_periodic(self, session: Session, conn: Connection, due: list[Live], now: int) -> set[int]:
        """timeInterval: every interval, the entities that match now (one notification each);
        returns the subscriptions that got one."""
        written: set[int] = set()
        for live in due:
            interval = live.interval_us or SECOND
            next_due = now + interval
            claimed = store.execute(
                conn,
                "UPDATE hub_subscription SET next_due = ? WHERE pk = ? AND (next_due IS NULL OR next_due <= ?)",
                [next_due, live.pk, now],
            )
            live.next_due = next_due
            if claimed.rowcount != 1:
                continue
            entities = self._query(session, live)
            if not entities:
                continue
            data = []
            for entity in entities:
                change = Change(key=(0, now), entity=entity, since=now)
                data.append(render(live, change))
            store.execute(
                conn,
                "INSERT INTO hub_notify_outbox (region_id, subscription_pk, notification_id, created_at, state, "
                "attempts, data, changes, max_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    live.compiled.record.region_id,
                    live.pk,
                    f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
                    now,
                    "pending",
                    0,
                    orjson.dumps(data).decode(),
                    None,
                    None,
                ],
            )
            written.add(live.pk)
        return written

    def _query(self, session: Session, live: Live) -> list[Entity]:
        c = live.compiled
        found: dict[str, Entity] = {}
        for selector in c.selectors or []:
            query = service.EntityQuery(
                types=[selector.type],
                ids=[selector.id] if selector.id else None,
                id_pattern=selector.pattern.pattern if selector.pattern else None,
                q=c.q,
                geo=c.geo,
                limit=self.settings.hub_max_limit,
                exclude_types=live.exclude,
                only_types=live.only,
            )
            for entity in service.query_entities(session, region_id=c.record.region_id, query=query).entities:
                found.setdefault(entity.id, entity)
        return list(found.values())

    # ------------------------------------------------------------------------------- claiming
    def _claim(self, conn: Connection, candidates: set[int], now: int) -> list[Claim]:
        """Take the subscriptions that may deliver now (not backing off, not throttled, not being
        delivered by anyone) with all their pending rows: three statements, however many there are."""
        wanted = sorted(pk for pk in candidates if pk in self.subs and pk not in self.in_flight)
        if not wanted:
            return []
        until = now + int((TIMEOUT_CAP_S + 30) * SECOND)
        marks = ",".join("?" * len(wanted))
        store.execute(
            conn,
            f"UPDATE hub_subscription SET delivering_by = ?, delivering_until = ? WHERE pk IN ({marks}) "
            "AND COALESCE(retry_at, 0) <= ? AND COALESCE(next_allowed, 0) <= ? "
            "AND (delivering_until IS NULL OR delivering_until < ?)",
            [self.worker_id, until, *wanted, now, now, now],
        )
        taken = {
            pk: failures
            for pk, failures in store.execute(
                conn,
                f"SELECT pk, failures FROM hub_subscription WHERE pk IN ({marks}) "
                "AND delivering_by = ? AND delivering_until = ?",
                [*wanted, self.worker_id, until],
            )
        }
        if not taken:
            return []
        marks = ",".join("?" * len(taken))
        rows: dict[int, list[tuple[int, str, str, int]]] = {}
        sizes: dict[int, int] = {}
        for pk, sub_pk, notification_id, data, attempts in store.execute(
            conn,
            "SELECT pk, subscription_pk, notification_id, data, attempts FROM hub_notify_outbox "
            f"WHERE subscription_pk IN ({marks}) AND state = ? ORDER BY pk",
            [*taken, "pending"],
        ):
            picked = rows.setdefault(sub_pk, [])
            sizes[sub_pk] = sizes.get(sub_pk, 0) + len(data)
            if picked and (
                len(picked) >= MAX_ROWS_PER_NOTIFICATION or sizes[sub_pk] > MAX_BYTES_PER_NOTIFICATION
            ):
                continue  # the rest goes in the next notification
            picked.append((pk, notification_id, data, attempts))
        empty = [pk for pk in taken if pk not in rows]
        if empty:
            store.execute(
                conn,
                "UPDATE hub_subscription SET delivering_by = NULL, delivering_until = NULL "
                f"WHERE pk IN ({','.join('?' * len(empty))})",
                empty,
            )
        return [
            Claim(live=self.subs[pk], rows=picked, failures=int(taken[pk] or 0))
            for pk, picked in rows.items()
        ]

    def _timeout(self, live: Live) -> float:
        wanted = live.compiled.timeout or self.settings.notify_timeout
        return min(wanted, TIMEOUT_CAP_S)

    # ------------------------------------------------------------------------------ delivering
    def _dispatch(self, claim: Claim, now: int) -> None:
        body, headers = self.build(claim, now)
        live = claim.live
        future = self.pool.submit(self._post, claim, body, headers, now)
        self.in_flight[live.pk] = future
        future.add_done_callback(lambda _f: self._wake.set())

    def build(self, claim: Claim, now: int) -> tuple[bytes, dict[str, str]]:
        """The notification's body and headers, the claimed rows' data merged in order."""
        c = claim.live.compiled
        if c.record.definition.get("throttling"):
            latest: dict[Any, Any] = {}
            for _pk, _nid, data, _a in claim.rows:
                for item in orjson.loads(data):
                    latest.pop(item.get("id"), None)
                    latest[item.get("id")] = item
            merged = orjson.dumps(list(latest.values()))
        else:
            parts = [data[1:-1] for _pk, _nid, data, _a in claim.rows if len(data) > 2]
            merged = ("[" + ",".join(parts) + "]").encode()
        if c.accept == GEOJSON:
            merged = b'{"type":"FeatureCollection","features":' + merged + b"}"
        head: dict[str, Any] = {
            "id": claim.rows[0][1],
            "type": "Notification",
            "subscriptionId": c.record.id,
            "notifiedAt": format_us(now),
        }
        headers = dict(c.headers)
        headers["Content-Type"] = c.accept
        headers["NGSILD-Tenant"] = claim.live.region_code
        if c.accept == JSON:
            headers["Link"] = f'<{c.link}>; rel="http://www.w3.org/ns/json-ld#context"; type="{JSONLD}"'
        else:
            head["@context"] = c.context_value
        body = orjson.dumps(head)[:-1] + b',"data":' + merged + b"}"
        return body, headers

    def _post(self, claim: Claim, body: bytes, headers: dict[str, str], started: int) -> Outcome:
        try:
            response = self.client.post(
                claim.live.compiled.uri, content=body, headers=headers, timeout=self._timeout(claim.live)
            )
            outcome = Outcome(
                claim, started, 200 <= response.status_code < 300, f"HTTP {response.status_code}"
            )
        except DestinationRefused as exc:  # the endpoint's address is refused (SSRF): say why
            outcome = Outcome(claim, started, False, str(exc))
        except Exception as exc:  # any failure of the endpoint is the endpoint's, never the loop's
            outcome = Outcome(claim, started, False, type(exc).__name__)
        if not outcome.ok:
            refused = outcome.detail.startswith("destination refused")
            log.log(
                logging.WARNING if refused else logging.INFO,
                "notification for %s failed: %s",
                claim.live.compiled.record.id,
                outcome.detail,
            )
        self.results.put(outcome)
        return outcome

    def _record(self, conn: Connection, outcomes: list[Outcome], now: int) -> int:
        """Delivery results: rows sent or one attempt more (given up after ``notify_max_attempts``),
        the subscriptions' counters, back-off and throttling. A handful of statements for any number."""
        sent: list[int] = []
        tried: list[int] = []
        succeeded: list[tuple[Any, ...]] = []
        failed: list[tuple[Any, ...]] = []
        for outcome in outcomes:
            claim = outcome.claim
            pks = [r[0] for r in claim.rows]
            throttle = claim.live.throttling_us
            next_allowed = outcome.started + throttle if throttle else None
            if outcome.ok:
                sent.extend(pks)
                succeeded.append((outcome.started, outcome.started, "ok", next_allowed, claim.live.pk))
            else:
                tried.extend(pks)
                failures = claim.failures + 1
                retry_at = now + min(BACKOFF_CAP_US, BACKOFF_BASE_US * 2 ** min(failures - 1, 20))
                failed.append(
                    (
                        outcome.started,
                        outcome.started,
                        "failed",
                        failures,
                        retry_at,
                        next_allowed,
                        claim.live.pk,
                    )
                )
        for start in range(0, len(sent), 500):
            chunk = sent[start : start + 500]
            store.execute(
                conn,
                "UPDATE hub_notify_outbox SET state = ?, attempts = attempts + 1, done_at = ? "
                f"WHERE pk IN ({','.join('?' * len(chunk))})",
                ["sent", now, *chunk],
            )
        for start in range(0, len(tried), 500):
            chunk = tried[start : start + 500]
            marks = ",".join("?" * len(chunk))
            store.execute(
                conn, f"UPDATE hub_notify_outbox SET attempts = attempts + 1 WHERE pk IN ({marks})", chunk
            )
            store.execute(
                conn,
                f"UPDATE hub_notify_outbox SET state = ?, done_at = ? WHERE pk IN ({marks}) AND attempts >= ?",
                ["failed", now, *chunk, self.settings.notify_max_attempts],
            )
        store.executemany(
            conn,
            "UPDATE hub_subscription SET times_sent = times_sent + 1, last_notification = ?, "
            "last_success = ?, delivery_status = ?, failures = 0, retry_at = NULL, next_allowed = ?, "
            "delivering_by = NULL, delivering_until = NULL WHERE pk = ?",
            succeeded,
        )
        store.executemany(
            conn,
            "UPDATE hub_subscription SET times_sent = times_sent + 1, times_failed = times_failed + 1, "
            "last_notification = ?, last_failure = ?, delivery_status = ?, failures = ?, retry_at = ?, "
            "next_allowed = ?, delivering_by = NULL, delivering_until = NULL WHERE pk = ?",
            failed,
        )
        return len(outcomes)

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
