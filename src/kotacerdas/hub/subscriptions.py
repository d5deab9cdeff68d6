"""Hub subscriptions (GS CIM 009, 5.8): validate, store, render, and compile them for the notifier.

A subscription is stored with EXPANDED names (entity types, watched attributes, projected
attributes) plus the @context it was made with; ``q`` and ``pick``/``omit`` stay text and are read
again with that context. It renders back compacted, and its notifications are rendered with the
``jsonldContext`` it names or else with that same context.

Every function takes the caller's session and only flushes; the caller commits. Matching and
delivery are the notifier's (``kotacerdas.hub.notifier``); it never blocks a write.

The definition's members are parsed and validated in ``kotacerdas.hub.subscription_definition``;
its names stay importable from here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.db import after_commit
from kotacerdas.hub import access, store
from kotacerdas.hub.context import (
    CORE_CONTEXT_URL,
    CORE_CONTEXT_URLS,
    ActiveContext,
    ContextResolver,
    ContextValue,
)
from kotacerdas.hub.entity import (
    Entity,
    Rendering,
    check_entity_id,
    format_us,
    now_us,
    parse_datetime,
)
from kotacerdas.hub.models_subscriptions import HubSubscription
from kotacerdas.hub.problems import (
    AlreadyExists,
    BadRequestData,
    ResourceNotFound,
)
from kotacerdas.hub.subscription_definition import (
    ACCEPTS as ACCEPTS,
    DEFAULT_TRIGGERS as DEFAULT_TRIGGERS,
    ENDPOINT_MEMBERS as ENDPOINT_MEMBERS,
    FORMATS as FORMATS,
    GEOJSON as GEOJSON,
    JSON as JSON,
    JSONLD as JSONLD,
    MANAGED_HEADERS as MANAGED_HEADERS,
    MAX_TEXT as MAX_TEXT,
    MEMBERS as MEMBERS,
    NOTIFICATION_MEMBERS as NOTIFICATION_MEMBERS,
    NOTIFICATION_READ_ONLY as NOTIFICATION_READ_ONLY,
    NULL as NULL,
    PERMISSION as PERMISSION,
    READ_ONLY as READ_ONLY,
    REMOVABLE as REMOVABLE,
    TRIGGERS as TRIGGERS,
    UNSUPPORTED as UNSUPPORTED,
    YEAR_SECONDS as YEAR_SECONDS,
    _check_members,
    _check_whole,
    _member,
    _notification,
    parse_definition as parse_definition,
    parse_geo as parse_geo,
    parse_projection as parse_projection,
    parse_q as parse_q,
)
from kotacerdas.kit.outbound import OutboundPolicy

# ------------------------------------------------------------------------------------ records


@dataclass
class SubscriptionRecord:
    """A stored subscription: its definition (expanded names) and its status."""

    pk: int
    region_id: int
    id: str
    definition: dict[str, Any]
    context: ContextValue
    created_at: int
    modified_at: int
    times_sent: int = 0
    times_failed: int = 0
    last_notification: int | None = None
    last_success: int | None = None
    last_failure: int | None = None
    delivery_status: str | None = None

    @property
    def is_active(self) -> bool:
        return bool(self.definition.get("isActive", True))

    @property
    def expires_at(self) -> int | None:
        value = self.definition.get("expiresAt")
        return parse_datetime(value) if value else None

    def status(self, now: int) -> str:
        expires = self.expires_at
        if expires is not None and expires <= now:
            return "expired"
        return "active" if self.is_active else "paused"


def _record(row: HubSubscription) -> SubscriptionRecord:
    return SubscriptionRecord(
        pk=row.pk,
        region_id=row.region_id,
        id=row.sub_id,
        definition=orjson.loads(row.body),
        context=orjson.loads(row.context) if row.context else None,
        created_at=row.created_at,
        modified_at=row.modified_at,
        times_sent=row.times_sent or 0,
        times_failed=row.times_failed or 0,
        last_notification=row.last_notification,
        last_success=row.last_success,
        last_failure=row.last_failure,
        delivery_status=row.delivery_status,
    )


# ------------------------------------------------------------------------------------- service


def check_subscription_id(value: Any) -> str:
    try:
        return check_entity_id(value)
    except BadRequestData:
        raise BadRequestData(
            f"A subscription id must be a URI (for example urn:ngsi-ld:Subscription:1), got {value!r}."
        ) from None


def _row(session: Session, region_id: int, sub_id: str) -> HubSubscription:
    check_subscription_id(sub_id)
    row = session.scalars(
        select(HubSubscription).where(
            HubSubscription.region_id == region_id, HubSubscription.sub_id == sub_id
        )
    ).first()
    if row is None:
        raise ResourceNotFound(f"There is no subscription {sub_id}.")
    return row


def _apply_columns(row: HubSubscription, definition: dict[str, Any]) -> None:
    row.body = orjson.dumps(definition).decode()
    row.is_active = bool(definition.get("isActive", True))
    expires = definition.get("expiresAt")
    row.expires_at = parse_datetime(expires) if expires else None
    row.time_interval = definition.get("timeInterval")
    row.throttling = definition.get("throttling")
    row.on_delete = "entityDeleted" in definition.get("notificationTrigger", ())


def create_subscription(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    raw: Any,
    ctx: ActiveContext,
    context: ContextValue,
    resolver: ContextResolver | None = None,
    outbound: OutboundPolicy | None = None,
) -> SubscriptionRecord:
    """Create Subscription (5.8.1). ``context`` is the @context value the request carried;
    ``outbound`` (the installation's rule) refuses an endpoint on a forbidden address."""
    access.require_hub_member(principal, region_id, PERMISSION)
    if not isinstance(raw, dict):
        raise BadRequestData("A subscription must be a JSON object.")
    now = now_us()
    sub_id = check_subscription_id(raw["id"]) if "id" in raw else f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"
    definition = parse_definition(raw, ctx, now=now, resolver=resolver, outbound=outbound)
    exists = session.scalars(
        select(HubSubscription.pk).where(
            HubSubscription.region_id == region_id, HubSubscription.sub_id == sub_id
        )
    ).first()
    if exists is not None:
        raise AlreadyExists(f"The subscription {sub_id} already exists.")
    row = HubSubscription(
        region_id=region_id,
        sub_id=sub_id,
        context=orjson.dumps(context).decode() if context is not None else None,
        owner_kind="api_key" if principal.kind == "api_key" else "user",
        owner_key_id=principal.api_key_id if principal.kind == "api_key" else None,
        owner_user_id=principal.user_id if principal.kind == "user" else None,
        read_private=access.can_read_private(principal, region_id),
        created_at=now,
        modified_at=now,
        times_sent=0,
        times_failed=0,
        failures=0,
    )
    _apply_columns(row, definition)
    session.add(row)
    session.flush()
    _subscriptions_changed(session)
    return _record(row)


def get_subscription(
    session: Session, *, region_id: int, principal: Principal, sub_id: str
) -> SubscriptionRecord:
    access.require_hub_member(principal, region_id, PERMISSION)
    return _record(_row(session, region_id, sub_id))


def list_subscriptions(
    session: Session, *, region_id: int, principal: Principal, limit: int, offset: int, count: bool = False
) -> tuple[list[SubscriptionRecord], int | None, bool]:
    """(a page of the region's subscriptions, the total when asked, whether more follow)."""
    access.require_hub_member(principal, region_id, PERMISSION)
    total = None
    if count:
        total = int(
            session.scalar(
                select(func.count())
                .select_from(HubSubscription)
                .where(HubSubscription.region_id == region_id)
            )
            or 0
        )
    if limit == 0:
        return [], total, False
    rows = list(
        session.scalars(
            select(HubSubscription)
            .where(HubSubscription.region_id == region_id)
            .order_by(HubSubscription.pk)
            .limit(limit + 1)
            .offset(offset)
        )
    )
    return [_record(r) for r in rows[:limit]], total, len(rows) > limit


def update_subscription(
    session: Session,
    *,
    region_id: int,
    principal: Principal,
    sub_id: str,
    raw: Any,
    ctx: ActiveContext | None,
    context: ContextValue,
    resolver: ContextResolver,
    outbound: OutboundPolicy | None = None,
) -> SubscriptionRecord:
    """Update Subscription (5.8.2): the members given replace the stored ones (``notification``
    member by member); NGSI-LD Null removes an optional member. Without an @context in the request
    the names are read with the subscription's own context; with one, it becomes the subscription's."""
    access.require_hub_member(principal, region_id, PERMISSION)
    row = _row(session, region_id, sub_id)
    if not isinstance(raw, dict) or not (set(raw) - {"@context", "id", "type"}):
        raise BadRequestData("The body must be a JSON object with the members to change.")
    if "id" in raw and raw["id"] != sub_id:
        raise BadRequestData("The id in the body differs from the id in the path.")
    _check_members(raw)
    stored_context: ContextValue = orjson.loads(row.context) if row.context else None
    if context is None or ctx is None:
        ctx = resolver.resolve(stored_context)
    definition: dict[str, Any] = orjson.loads(row.body)
    old_endpoint = definition.get("notification", {}).get("endpoint")
    now = now_us()
    for name, value in raw.items():
        if name in READ_ONLY:
            continue
        if name == "notification":
            definition["notification"] = _notification(
                value, ctx, definition.get("notification"), outbound=outbound
            )
        elif value is None or value == NULL:
            if name not in REMOVABLE:
                raise BadRequestData(f"The member {name} cannot be removed.")
            definition.pop(name, None)
        else:
            definition[name] = _member(name, value, ctx, now=now, resolver=resolver)
    _check_whole(definition)
    # q, geoQ and pick/omit are read again with the context now in force
    if "q" in definition:
        parse_q(definition["q"], ctx)
    if "geoQ" in definition:
        parse_geo(definition["geoQ"], ctx)
    if "pick" in definition["notification"] or "omit" in definition["notification"]:
        parse_projection(definition["notification"], ctx)
    old_interval = row.time_interval
    _apply_columns(row, definition)
    if context is not None:
        row.context = orjson.dumps(context).decode()
    if row.time_interval != old_interval:
        row.next_due = None
    if definition["notification"].get("endpoint") != old_endpoint:
        row.failures, row.retry_at = 0, None  # a new endpoint is tried at once
    row.modified_at = max(now, row.modified_at + 1)
    session.flush()
    _subscriptions_changed(session)
    return _record(row)


def delete_subscription(session: Session, *, region_id: int, principal: Principal, sub_id: str) -> None:
    access.require_hub_member(principal, region_id, PERMISSION)
    row = _row(session, region_id, sub_id)
    conn = store.connection(session)
    store.execute(conn, "DELETE FROM hub_notify_outbox WHERE subscription_pk = ?", [row.pk])
    session.delete(row)
    session.flush()
    _subscriptions_changed(session)


def _subscriptions_changed(session: Session) -> None:
    """Once committed, the notifiers of this process look at the subscriptions at once (while a region
    has none, they do not wake for its entity changes)."""

    def wake() -> None:
        from kotacerdas.hub.notifier import subscriptions_changed

        subscriptions_changed()

    after_commit(session, wake)


# ------------------------------------------------------------------------------------ output


def link_url(value: ContextValue) -> str | None:
    """The one URL a Link header can carry for a context value; None when it cannot (inline terms)."""
    if value is None:
        return CORE_CONTEXT_URL
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        own = [v for v in value if v not in CORE_CONTEXT_URLS]
        if not own:
            return CORE_CONTEXT_URL
        if len(own) == 1:
            return str(own[0])
    return None


def render_subscription(record: SubscriptionRecord, ctx: ActiveContext, *, now: int) -> dict[str, Any]:
    """The Subscription as NGSI-LD JSON, names compacted with ``ctx``, status members filled in."""
    d = record.definition
    out: dict[str, Any] = {"id": record.id, "type": "Subscription"}
    for name in ("subscriptionName", "description"):
        if name in d:
            out[name] = d[name]
    if "entities" in d:
        out["entities"] = [{**s, "type": ctx.compact(s["type"])} for s in d["entities"]]
    if "watchedAttributes" in d:
        out["watchedAttributes"] = [ctx.compact(a) for a in d["watchedAttributes"]]
    if "timeInterval" not in d:
        out["notificationTrigger"] = list(d.get("notificationTrigger", DEFAULT_TRIGGERS))
    for name in ("timeInterval", "q", "geoQ", "throttling", "expiresAt", "lang", "jsonldContext"):
        if name in d:
            value = d[name]
            out[name] = (
                int(value) if name in ("timeInterval", "throttling") and value == int(value) else value
            )
    out["isActive"] = record.is_active
    out["status"] = record.status(now)
    notification = dict(d.get("notification", {}))
    if "attributes" in notification:
        notification["attributes"] = [ctx.compact(a) for a in notification["attributes"]]
    endpoint = dict(notification.get("endpoint", {}))
    for member in ("timeout", "cooldown"):
        if member in endpoint and endpoint[member] == int(endpoint[member]):
            endpoint[member] = int(endpoint[member])
    notification["endpoint"] = endpoint
    notification["timesSent"] = record.times_sent
    notification["timesFailed"] = record.times_failed
    for member, value in (
        ("lastNotification", record.last_notification),
        ("lastSuccess", record.last_success),
        ("lastFailure", record.last_failure),
    ):
        if value is not None:
            notification[member] = format_us(value)
    if record.delivery_status:
        notification["status"] = record.delivery_status
    out["notification"] = notification
    return out


# ---------------------------------------------------------------------- compiled, for matching


@dataclass
class Selector:
    type: str
    id: str | None
    pattern: re.Pattern[str] | None

    def selects(self, entity: Entity) -> bool:
        if self.type not in entity.types:
            return False
        if self.id is not None and entity.id != self.id:
            return False
        return self.pattern is None or self.pattern.search(entity.id) is not None


@dataclass
class Compiled:
    """A subscription ready for the notifier: parsed q and geoQ, the rendering, the endpoint."""

    record: SubscriptionRecord
    selectors: list[Selector] | None
    watched: frozenset[str] | None
    triggers: frozenset[str]
    q: Any
    geo: Any
    ctx: ActiveContext  # compacts the notification
    context_value: ContextValue  # @context of a JSON-LD notification
    link: str  # Link header of a JSON notification
    rendering: Rendering
    attrs: frozenset[str] | None
    omit: frozenset[str]
    keep_id: bool
    keep_type: bool
    show_changes: bool
    uri: str
    accept: str
    headers: dict[str, str]
    timeout: float | None  # seconds, from endpoint.timeout (ms)
    plain_types: frozenset[str] | None = None  # when every selector is a type alone: those types

    @property
    def types(self) -> frozenset[str] | None:
        """The entity types it can select (None: any type)."""
        if self.selectors is None:
            return None
        return frozenset(s.type for s in self.selectors)

    def selects(self, entity: Entity) -> bool:
        """Entity selectors, q and geoQ: the same tests Query Entities applies."""
        if self.plain_types is not None:
            if self.plain_types.isdisjoint(entity.types):
                return False
        elif self.selectors is not None and not any(s.selects(entity) for s in self.selectors):
            return False
        if self.q is not None:
            from kotacerdas.hub import q as qlang

            if not qlang.matches(self.q, entity):
                return False
        return self.geo is None or bool(self.geo.matches(entity))


def compile_subscription(record: SubscriptionRecord, resolver: ContextResolver) -> Compiled:
    d = record.definition
    own = resolver.resolve(record.context)
    notification = d["notification"]
    endpoint = notification["endpoint"]
    accept = endpoint.get("accept", JSON)
    value: ContextValue = d.get("jsonldContext") or record.context
    url = link_url(value)
    if accept == JSON and url is None:
        # inline terms cannot travel in a Link header: compact with the core context instead
        ctx, value, url = resolver.core, None, CORE_CONTEXT_URL
    else:
        ctx = resolver.resolve(value)
    selectors = None
    if "entities" in d:
        selectors = [
            Selector(
                type=s["type"],
                id=s.get("id"),
                pattern=re.compile(s["idPattern"]) if "idPattern" in s else None,
            )
            for s in d["entities"]
        ]
    attrs: frozenset[str] | None = None
    omit: frozenset[str] = frozenset()
    keep_id = keep_type = True
    if "attributes" in notification:
        attrs = frozenset(notification["attributes"])
    elif "pick" in notification or "omit" in notification:
        projection = parse_projection(notification, own)
        attrs, omit = projection.attrs, projection.omit_attrs
        keep_id, keep_type = projection.keep_id, projection.keep_type
    timeout = endpoint.get("timeout")
    plain = None
    if selectors is not None and all(s.id is None and s.pattern is None for s in selectors):
        plain = frozenset(s.type for s in selectors)
    return Compiled(
        record=record,
        selectors=selectors,
        watched=frozenset(d["watchedAttributes"]) if "watchedAttributes" in d else None,
        triggers=frozenset(d.get("notificationTrigger", DEFAULT_TRIGGERS)),
        q=parse_q(d["q"], own) if "q" in d else None,
        geo=parse_geo(d["geoQ"], own) if "geoQ" in d else None,
        ctx=ctx,
        context_value=value if value is not None else CORE_CONTEXT_URL,
        link=url or CORE_CONTEXT_URL,
        rendering=Rendering(
            format=notification.get("format", "normalized"),
            sys_attrs=bool(notification.get("sysAttrs", False)),
            lang=d.get("lang"),
        ),
        attrs=attrs,
        omit=omit,
        keep_id=keep_id,
        keep_type=keep_type,
        show_changes=bool(notification.get("showChanges", False)),
        uri=endpoint["uri"],
        accept=accept,
        headers={i["key"]: i["value"] for i in endpoint.get("receiverInfo", [])},
        timeout=float(timeout) / 1000.0 if timeout else None,
        plain_types=plain,
    )


# ------------------------------------------------------------------------------- deletions


def record_deletions(session: Session, region_id: int, entities: Sequence[Entity]) -> None:
    """Keep the last state of entities about to be deleted, for ``entityDeleted`` notifications.

    The hub's delete path calls this in the same transaction, before it deletes the rows. It costs
    one indexed lookup when no subscription of the region asks for deletions, and writes nothing then.
    Calling it twice for the same entity in one transaction records it once.
    """
    if not entities:
        return
    recorded: set[str] = session.info.setdefault(("hub_deletions_recorded", region_id), set())
    todo = [e for e in entities if e.id not in recorded]
    if not todo:
        return
    conn = store.connection(session)
    wanted = store.execute(
        conn,
        "SELECT 1 FROM hub_subscription WHERE region_id = ? AND on_delete = ? LIMIT 1",
        [region_id, True],
    ).first()
    if wanted is None:
        return
    now = now_us()
    body_mark = "CAST(? AS jsonb)" if store.is_postgres(conn) else "?"
    rows = []
    for entity in todo:
        body = {**entity.attrs, "@scope": entity.scope} if entity.scope is not None else entity.attrs
        extra = "|" + "|".join(entity.types) + "|" if len(entity.types) > 1 else None
        rows.append(
            (
                region_id,
                entity.id,
                entity.types[0],
                extra,
                entity.created_at or now,
                now,
                orjson.dumps(body).decode(),
            )
        )
        recorded.add(entity.id)
    store.executemany(
        conn,
        "INSERT INTO hub_deleted_entity (region_id, entity_id, type, extra_types, created_at, deleted_at, body) "
        f"VALUES (?, ?, ?, ?, ?, ?, {body_mark})",
        rows,
    )
