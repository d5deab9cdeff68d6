"""Delivery (step 4 of a cycle, see ``kotacerdas.hub.notifier``): claim a subscription's pending outbox
rows, make them ONE notification (body and headers per the subscription's format; rows past
``MAX_ROWS_PER_NOTIFICATION`` or ``MAX_BYTES_PER_NOTIFICATION`` wait for the next), POST it on the
pool, and record the outcome.

What it guarantees: a subscription is delivered by one worker at a time (the claim on
``hub_subscription.delivering_by``/``delivering_until`` expires if that worker dies, and the rows,
still pending, are sent again); a failing endpoint holds only its own subscription and backs off
(1 s, 2 s, 4 s ... at most ``BACKOFF_CAP_US``); every request goes through ``kotacerdas.kit.outbound``,
so an endpoint whose address is refused is never contacted and counts as a failure. Outcomes are
queued by the pool's threads and written to the database by the notifier's own thread, never the pool's.

``Delivery`` is a part of ``Notifier``; the state it declares is set up in ``Notifier.__init__``.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection

from kotacerdas.config import Settings
from kotacerdas.hub import store
from kotacerdas.hub.entity import format_us
from kotacerdas.hub.notify_changes import SECOND, Live
from kotacerdas.hub.subscriptions import GEOJSON, JSON, JSONLD
from kotacerdas.kit.outbound import DestinationRefused

# the notifier's messages keep the one logger name that deployments (and tests) filter on
log = logging.getLogger("kotacerdas.hub.notifier")

MAX_ROWS_PER_NOTIFICATION = 500
MAX_BYTES_PER_NOTIFICATION = 8 * 1024 * 1024
BACKOFF_BASE_US = SECOND
BACKOFF_CAP_US = 300 * SECOND
TIMEOUT_CAP_S = 60.0


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


class Delivery:
    """Claiming, building, posting and recording notifications."""

    subs: dict[int, Live]
    in_flight: dict[int, Future[Outcome]]
    results: queue.SimpleQueue[Outcome]
    worker_id: str
    settings: Settings
    pool: ThreadPoolExecutor
    client: httpx.Client
    _wake: threading.Event

    def _pending_subscriptions(self, conn: Connection, now: int) -> set[int]:
        rows = store.execute(
            conn,
            "SELECT DISTINCT o.subscription_pk FROM hub_notify_outbox o JOIN hub_subscription s "
            "ON s.pk = o.subscription_pk WHERE o.state = ? AND COALESCE(s.retry_at, 0) <= ? "
            "AND COALESCE(s.next_allowed, 0) <= ? AND (s.delivering_until IS NULL OR s.delivering_until < ?)",
            ["pending", now, now, now],
        ).all()
        return {pk for (pk,) in rows if pk not in self.in_flight}

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
