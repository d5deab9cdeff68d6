"""timeInterval subscriptions: every interval, the entities that match at that moment, in one
notification, whether they changed or not.

They are not driven by changes, so they do not read the region cursors: each due time is claimed on
the subscription row (``hub_subscription.next_due``, moved only if it is still due, so one worker
writes each periodic notification), and the entities come from Query Entities itself, within what the
subscription's owner may read. The outbox row is written in the cycle's write transaction and
delivered like any other.

``PeriodicNotifications`` is a part of ``Notifier``; the state it declares is set up in
``Notifier.__init__``.
"""

from __future__ import annotations

import uuid

import orjson
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from kotacerdas.config import Settings
from kotacerdas.hub import service, store
from kotacerdas.hub.entity import Entity
from kotacerdas.hub.notify_changes import SECOND, Change, Live, render


class PeriodicNotifications:
    """timeInterval notifications: which are due, and their outbox rows."""

    settings: Settings

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
