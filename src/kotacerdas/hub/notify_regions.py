"""Per region, the changes past the notifier's cursor, matched and written as outbox rows (steps 1 to 3
of a cycle, see ``kotacerdas.hub.notifier``).

A region's cursor (``hub_notify_cursor``: how far ``hub_entity.modified_at`` and
``hub_deleted_entity.deleted_at`` have been read) belongs to one worker at a time, under a lease, so two
workers never notify the same change: the cursor moves only if it still holds what this worker read,
in the transaction that writes the outbox rows it covers, and a worker that loses the race forgets the
region and reads it afresh. Transactions committing late are found by reading the last
``LATE_WINDOW_US`` again and de-duplicated against ``RegionState.seen``.

``RegionScanning`` is a part of ``Notifier``; the state it declares is set up in ``Notifier.__init__``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection

from kotacerdas.hub import store
from kotacerdas.hub.entity import instances_of
from kotacerdas.hub.notify_changes import (
    SECOND,
    Change,
    Key,
    Live,
    _ms_floor,
    _previous_member,
    _us,
    matches,
    render,
)

LATE_WINDOW_US = 5 * SECOND  # how far back transactions committing late are looked for
LATE_CHECK_US = SECOND // 2  # how often
LEASE_US = 15 * SECOND  # a region's cursor belongs to one worker for this long, renewed as it works
CURSOR_PERSIST_US = SECOND  # the cursor is written with every outbox row, else at least this often
SCAN_LIMIT = 5000


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


class RegionScanning:
    """The change-driven part of a cycle: read each watched region past its cursor, match, and write
    the outbox rows with the cursor; renew the lease of the regions it holds."""

    subs: dict[int, Live]
    regions: dict[int, RegionState]
    worker_id: str

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
