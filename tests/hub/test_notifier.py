"""Notifications (GS CIM 009, 5.8.6 and the ETSI suite's 046_xx cases) delivered to a real HTTP
receiver on 127.0.0.1. The notifier is driven one cycle at a time (``run_once``) on the test's
transaction, with a clock the tests move forward instead of waiting; the last tests run the real
worker loop (in a thread of the app, and as ``kotacerdas worker``) on a database of their own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from hubdata import make_key, own_sqlite_hub, traffic
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.auth import service as auth
from kotacerdas.config import Settings
from kotacerdas.db import unit_of_work
from kotacerdas.hub import service, store, subscriptions as subs
from kotacerdas.hub.context import CORE_CONTEXT_URL
from kotacerdas.hub.entity import format_us, now_us
from kotacerdas.hub.notifier import LEASE_US, SECOND, Notifier

SDM = "https://smartdatamodels.org/dataModel.Transportation/"
ENTITY = "urn:ngsi-ld:TrafficFlowObserved:jember:00001"


# ------------------------------------------------------------------------------------ receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """A notification endpoint: records what it receives, answers with the queued statuses (else 200)."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
        return list(self.requests)

    def data(self) -> list[list[dict[str, Any]]]:
        return [r.body["data"] for r in self.requests]


def start_receiver() -> Receiver:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = orjson.loads(self.rfile.read(length))
            receiver = holder[0]
            with receiver.arrived:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                receiver.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Receiver(server))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return holder[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = start_receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


class Clock:
    """The notifier's clock (µs): due times, back-off, throttling, periodic notifications, leases."""

    def __init__(self) -> None:
        self.now = now_us()

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * SECOND)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_notifier(session_factory: sessionmaker[Session], settings: Settings, clock: Clock) -> Iterator[Any]:
    made: list[Notifier] = []

    def _make(**changes: Any) -> Notifier:
        notifier = Notifier(session_factory, settings.model_copy(update=changes), clock=clock, pool_size=4)
        made.append(notifier)
        return notifier

    yield _make
    for notifier in made:
        notifier.close()


@pytest.fixture
def notifier(make_notifier: Any) -> Notifier:
    return make_notifier()  # type: ignore[no-any-return]


def subscribe(ngsi: Any, receiver: Receiver, **changes: Any) -> str:
    notification = changes.pop("notification", {})
    endpoint = {"uri": receiver.url, **notification.pop("endpoint", {})}
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "TrafficFlowObserved"}],
        "notification": {**notification, "endpoint": endpoint},
        **changes,
    }
    body = {k: v for k, v in body.items() if v is not None}
    resp = ngsi.post("/subscriptions", json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.headers["location"].rsplit("/", 1)[1])


def set_intensity(ngsi: Any, value: int, entity: str = ENTITY) -> None:
    resp = ngsi.patch(f"/entities/{entity}/attrs", json={"intensity": {"type": "Property", "value": value}})
    assert resp.status_code == 204, resp.text


def status(ngsi: Any, sub_id: str) -> dict[str, Any]:
    body: dict[str, Any] = ngsi.get(f"/subscriptions/{sub_id}").json()
    return body


# --------------------------------------------------------------------------------------- basics


def test_an_update_is_notified_with_the_chosen_attributes_and_headers(
    ngsi: Any, notifier: Notifier, receiver: Receiver
) -> None:
    ngsi.post("/entities", json=traffic(1))
    sub_id = subscribe(
        ngsi,
        receiver,
        watchedAttributes=["intensity"],
        notification={
            "attributes": ["intensity"],
            "endpoint": {"receiverInfo": [{"key": "X-Api-Token", "value": "rahasia"}]},
        },
    )
    notifier.run_once()
    assert receiver.requests == []  # the entity was there before the subscription: nothing to say

    set_intensity(ngsi, 150)
    notifier.run_once()

    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    assert got.path == "/notify"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["link"] == (
        f'<{CORE_CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    )
    assert got.headers["x-api-token"] == "rahasia"
    assert got.headers["ngsild-tenant"] == "35.09"
    body = got.body
    assert body["id"].startswith("urn:ngsi-ld:Notification:")
    assert body["type"] == "Notification"
    assert body["subscriptionId"] == sub_id
    assert body["notifiedAt"].endswith("Z")
    assert "@context" not in body
    assert body["data"] == [
        {"id": ENTITY, "type": "TrafficFlowObserved", "intensity": {"type": "Property", "value": 150}}
    ]
    notification = status(ngsi, sub_id)["notification"]
    assert notification["timesSent"] == 1 and notification["timesFailed"] == 0
    assert notification["status"] == "ok"
    assert notification["lastNotification"] == notification["lastSuccess"]
    assert "lastFailure" not in notification

    notifier.run_once()
    assert len(receiver.requests) == 1  # nothing new, nothing sent


def test_jsonld_notification_carries_the_context_in_the_body_and_no_link(
    ngsi: Any, notifier: Notifier, receiver: Receiver
) -> None:
    ngsi.post("/entities", json=traffic(1))
    subscribe(
        ngsi,
        receiver,
        notification={"format": "keyValues", "endpoint": {"accept": "application/ld+json"}},
    )
    set_intensity(ngsi, 170)
    notifier.run_once()
    got = receiver.requests[0]
    assert got.headers["content-type"] == "application/ld+json"
    assert "link" not in got.headers
    assert got.body["@context"] == CORE_CONTEXT_URL
    assert got.body["data"][0]["intensity"] == 170
    assert got.body["data"][0]["laneDirection"] == "forward"


def test_notifications_use_the_subscriptions_own_terms(
    ngsi: Any, notifier: Notifier, receiver: Receiver
) -> None:
    context = [{"tfo": SDM, "Flow": "tfo:TrafficFlowObserved", "flow": "tfo:intensity"}, CORE_CONTEXT_URL]
    ld = {"Content-Type": "application/ld+json"}
    entity = {"id": ENTITY, "type": "Flow", "flow": {"type": "Property", "value": 10}, "@context": context}
    assert ngsi.post("/entities", content=orjson.dumps(entity), headers=ld).status_code == 201
    body = {
        "type": "Subscription",
        "entities": [{"type": "Flow"}],
        "watchedAttributes": ["flow"],
        "notification": {
            "format": "concise",
            "endpoint": {"uri": receiver.url, "accept": "application/ld+json"},
        },
        "@context": context,
    }
    assert ngsi.post("/subscriptions", content=orjson.dumps(body), headers=ld).status_code == 201
    patch = {"flow": {"type": "Property", "value": 11}, "@context": context}
    assert ngsi.patch(f"/entities/{ENTITY}/attrs", content=orjson.dumps(patch), headers=ld).status_code == 204
    notifier.run_once()
    got = receiver.requests[0].body
    assert got["@context"] == context
    assert got["data"] == [{"id": ENTITY, "type": "Flow", "flow": 11}]


def test_several_changes_go_in_one_notification(ngsi: Any, notifier: Notifier, receiver: Receiver) -> None:
    subscribe(ngsi, receiver, notification={"attributes": ["intensity"]})
    resp = ngsi.post("/entityOperations/upsert", json=[traffic(1), traffic(2), traffic(3)])
    assert resp.status_code == 201, resp.text
    notifier.run_once()
    assert len(receiver.requests) == 1
    assert sorted(e["id"] for e in receiver.requests[0].body["data"]) == [
        "urn:ngsi-ld:TrafficFlowObserved:jember:00001",
        "urn:ngsi-ld:TrafficFlowObserved:jember:00002",
        "urn:ngsi-ld:TrafficFlowObserved:jember:00003",
    ]


# ------------------------------------------------------------------------------------- filtering


def test_only_changes_of_watched_attributes_are_notified(
    ngsi: Any, notifier: Notifier, receiver: Receiver
) -> None:
    ngsi.post("/entities", json=traffic(1))
    subscribe(ngsi, receiver, watchedAttributes=["intensity"])
    resp = ngsi.patch(f"/entities/{ENTITY}/attrs", json={"congested": {"type": "Property", "value": True}})
    assert resp.status_code == 204
    notifier.run_once()
    assert receiver.requests == []
    set_intensity(ngsi, 300)
    notifier.run_once()
    assert len(receiver.requests) == 1
    assert receiver.requests[0].body["data"][0]["intensity"]["value"] == 300


def test_q_filters_like_a_query(ngsi: Any, notifier: Notifier, receiver: Receiver) -> None:
    ngsi.post("/entities", json=traffic(1))
    subscribe(ngsi, receiver, q="intensity>200")
    set_intensity(ngsi, 150)
    notifier.run_once()
    assert receiver.requests == []
    assert ngsi.get("/entities", params={"type": "TrafficFlowObserved", "q": "intensity>200"}).json() == []
    set_intensity(ngsi, 250)
    notifier.run_once()
    assert [e["id"] for e in receiver.data()[0]] == [ENTITY]
    queried = ngsi.get("/entities", params={"type": "TrafficFlowObserved", "q": "intensity>200"}).json()
    assert [e["id"] for e in queried] == [ENTITY]


def test_geoq_filters_like_a_query(ngsi: Any, notifier: Notifier, receiver: Receiver) -> None:
    near, far = traffic(1), traffic(900)  # about 110 m and about 99 km east of the point
    ngsi.post("/entityOperations/create", json=[near, far])
    geo = {"geometry": "Point", "coordinates": [113.70, -8.17], "georel": "near;maxDistance==2000"}
    subscribe(ngsi, receiver, geoQ=geo)
    for entity in (near["id"], far["id"]):
        set_intensity(ngsi, 400, entity)
    notifier.run_once()
    assert [[e["id"] for e in data] for data in receiver.data()] == [[near["id"]]]
    queried = ngsi.get(
        "/entities",
        params={
            "type": "TrafficFlowObserved",
            "georel": geo["georel"],
            "geometry": "Point",
            "coordinates": "[113.70,-8.17]",
        },
    ).json()
    assert [e["id"] for e in queried] == [near["id"]]


def test_entity_created_and_deleted_triggers(
    ngsi: Any,
    notifier: Notifier,
    receiver: Receiver,
    session_factory: sessionmaker[Session],
    db: Session,
    hub_key: str,
    world: dict[str, Any],
) -> None:
    subscribe(ngsi, receiver, notificationTrigger=["entityCreated", "entityDeleted"])
    ngsi.post("/entities", json=traffic(1))
    notifier.run_once()
    assert [e["id"] for e in receiver.data()[0]] == [ENTITY]
    set_intensity(ngsi, 120)
    notifier.run_once()
    assert len(receiver.requests) == 1  # an update is neither

    # the hub's delete path records the last state for entityDeleted (subscriptions.record_deletions)
    region_id = world["jember"].id
    principal = auth.resolve_api_key(db, hub_key)
    assert principal is not None
    with unit_of_work(session_factory) as session:
        entity = service.get_entity(session, region_id=region_id, entity_id=ENTITY)
        subs.record_deletions(session, region_id, [entity])
        service.delete_entities(session, region_id=region_id, principal=principal, ids=[ENTITY])
    notifier.run_once()
    assert len(receiver.requests) == 2
    gone = receiver.data()[1]
    assert len(gone) == 1
    assert gone[0]["id"] == ENTITY and gone[0]["type"] == "TrafficFlowObserved"
    assert gone[0]["deletedAt"].endswith("Z")
    notifier.run_once()
    assert len(receiver.requests) == 2


def test_attribute_deleted_trigger_shows_the_deleted_attribute(
    ngsi: Any, notifier: Notifier, receiver: Receiver
) -> None:
    ngsi.post("/entities", json=traffic(1))
    subscribe(ngsi, receiver, watchedAttributes=["congested"], notificationTrigger=["attributeDeleted"])
    assert ngsi.delete(f"/entities/{ENTITY}/attrs/laneDirection").status_code == 204
    notifier.run_once()
    assert receiver.requests == []  # not watched
    assert ngsi.delete(f"/entities/{ENTITY}/attrs/congested").status_code == 204
    notifier.run_once()
    data = receiver.data()[0]
    assert data[0]["congested"]["value"] == "urn:ngsi-ld:null"
    assert data[0]["congested"]["deletedAt"].endswith("Z")


def test_show_changes_adds_the_previous_value(ngsi: Any, notifier: Notifier, receiver: Receiver) -> None:
    ngsi.post("/entities", json=traffic(1, intensity=100))
    subscribe(ngsi, receiver, notification={"attributes": ["intensity"], "showChanges": True})
    set_intensity(ngsi, 130)
    notifier.run_once()
    assert receiver.data()[0][0]["intensity"] == {"type": "Property", "value": 130, "previousValue": 100}


# -------------------------------------------------------------------------------- timing rules


def test_throttling_sends_later_changes_when_it_allows(
    ngsi: Any, notifier: Notifier, receiver: Receiver, clock: Clock
) -> None:
    ngsi.post("/entities", json=traffic(1))
    subscribe(
        ngsi, receiver, throttling=10, notification={"format": "keyValues", "attributes": ["intensity"]}
    )
    set_intensity(ngsi, 1)
    notifier.run_once()
    set_intensity(ngsi, 2)
    notifier.run_once()
    set_intensity(ngsi, 3)
    clock.advance(9)
    notifier.run_once()
    assert receiver.data() == [[{"id": ENTITY, "type": "TrafficFlowObserved", "intensity": 1}]]
    clock.advance(1)
    notifier.run_once()
    assert receiver.data()[1] == [{"id": ENTITY, "type": "TrafficFlowObserved", "intensity": 3}]
    notifier.run_once()
    assert len(receiver.requests) == 2


def test_time_interval_sends_the_matching_entities_periodically(
    ngsi: Any, notifier: Notifier, receiver: Receiver, clock: Clock
) -> None:
    ngsi.post("/entityOperations/create", json=[traffic(1, intensity=50), traffic(2, intensity=500)])
    subscribe(ngsi, receiver, timeInterval=60, q="intensity>100", notification={"format": "keyValues"})
    notifier.run_once()
    assert [[e["id"] for e in data] for data in receiver.data()] == [
        ["urn:ngsi-ld:TrafficFlowObserved:jember:00002"]
    ]
    set_intensity(ngsi, 700)  # a change alone does not trigger a periodic subscription
    clock.advance(30)
    notifier.run_once()
    assert len(receiver.requests) == 1
    clock.advance(30)
    notifier.run_once()
    assert len(receiver.requests) == 2
    assert sorted(e["id"] for e in receiver.data()[1]) == [
        ENTITY,
        "urn:ngsi-ld:TrafficFlowObserved:jember:00002",
    ]


def test_an_expired_subscription_sends_nothing(
    ngsi: Any, notifier: Notifier, receiver: Receiver, clock: Clock
) -> None:
    ngsi.post("/entities", json=traffic(1))
    expires = clock.now + 60 * SECOND
    subscribe(ngsi, receiver, expiresAt=format_us(expires))
    clock.advance(61)
    set_intensity(ngsi, 160)
    notifier.run_once()
    assert receiver.requests == []


def test_a_paused_subscription_sends_nothing_until_resumed(
    ngsi: Any, notifier: Notifier, receiver: Receiver
) -> None:
    ngsi.post("/entities", json=traffic(1))
    sub_id = subscribe(ngsi, receiver, isActive=False)
    assert status(ngsi, sub_id)["status"] == "paused"
    set_intensity(ngsi, 160)
    notifier.run_once()
    assert receiver.requests == []
    assert ngsi.patch(f"/subscriptions/{sub_id}", json={"isActive": True}).status_code == 204
    notifier.run_once()
    assert receiver.requests == []  # what happened while paused is not sent afterwards
    set_intensity(ngsi, 170)
    notifier.run_once()
    assert [d[0]["intensity"]["value"] for d in receiver.data()] == [170]


# -------------------------------------------------------------------------------------- delivery


def test_failures_back_off_give_up_then_recover(
    ngsi: Any, make_notifier: Any, receiver: Receiver, clock: Clock
) -> None:
    notifier = make_notifier(notify_max_attempts=3)
    ngsi.post("/entities", json=traffic(1))
    sub_id = subscribe(ngsi, receiver)
    receiver.statuses = [500, 503, 500]
    set_intensity(ngsi, 1)

    notifier.run_once()
    assert len(receiver.requests) == 1
    failed = status(ngsi, sub_id)["notification"]
    assert failed["status"] == "failed" and failed["timesFailed"] == 1 and failed["timesSent"] == 1
    assert failed["lastFailure"] == failed["lastNotification"]
    assert "lastSuccess" not in failed

    notifier.run_once()
    assert len(receiver.requests) == 1  # backing off
    clock.advance(1)
    notifier.run_once()
    assert len(receiver.requests) == 2
    clock.advance(1.5)
    notifier.run_once()
    assert len(receiver.requests) == 2  # the second back-off is 2 s
    clock.advance(0.5)
    notifier.run_once()
    assert len(receiver.requests) == 3  # third attempt: the last one allowed
    ids = {r.body["id"] for r in receiver.requests}
    assert len(ids) == 1  # the same notification each time
    clock.advance(600)
    notifier.run_once()
    assert len(receiver.requests) == 3  # given up

    set_intensity(ngsi, 2)
    notifier.run_once()
    assert len(receiver.requests) == 4
    assert [e["intensity"]["value"] for e in receiver.data()[3]] == [2]
    recovered = status(ngsi, sub_id)["notification"]
    assert recovered["status"] == "ok"
    assert recovered["timesSent"] == 4 and recovered["timesFailed"] == 3
    assert recovered["lastSuccess"] == recovered["lastNotification"]
    assert recovered["lastFailure"] < recovered["lastSuccess"]


def test_an_unreachable_endpoint_counts_as_a_failure(
    ngsi: Any, notifier: Notifier, receiver: Receiver
) -> None:
    ngsi.post("/entities", json=traffic(1))
    gone = start_receiver()
    url = gone.url
    gone.server.shutdown()
    gone.server.server_close()
    sub_id = subscribe(ngsi, receiver, notification={"endpoint": {"uri": url}})
    set_intensity(ngsi, 5)
    notifier.run_once()
    assert status(ngsi, sub_id)["notification"]["status"] == "failed"


def test_a_restarted_notifier_neither_loses_nor_repeats(
    ngsi: Any, make_notifier: Any, receiver: Receiver, clock: Clock
) -> None:
    ngsi.post("/entities", json=traffic(1))
    subscribe(ngsi, receiver, notification={"format": "keyValues", "attributes": ["intensity"]})
    first = make_notifier()
    set_intensity(ngsi, 1)
    first.run_once()
    first.close()  # stopped: it hands its regions back

    set_intensity(ngsi, 2)  # while no notifier runs
    second = make_notifier()
    second.run_once()
    clock.advance(1)
    second.run_once()
    assert [d[0]["intensity"] for d in receiver.data()] == [1, 2]

    # a notifier that died without handing over: the next one waits out its lease, then goes on
    set_intensity(ngsi, 3)
    third = make_notifier()
    third.run_once()
    assert len(receiver.requests) == 2
    clock.advance(LEASE_US / SECOND + 1)
    third.run_once()
    clock.advance(1)
    third.run_once()
    assert [d[0]["intensity"] for d in receiver.data()] == [1, 2, 3]


def test_a_transaction_that_commits_late_is_notified_once(
    ngsi: Any,
    notifier: Notifier,
    receiver: Receiver,
    clock: Clock,
    session_factory: sessionmaker[Session],
    world: dict[str, Any],
) -> None:
    ngsi.post("/entityOperations/create", json=[traffic(1), traffic(2)])
    subscribe(ngsi, receiver, notification={"format": "keyValues", "attributes": ["intensity"]})
    set_intensity(ngsi, 10)
    notifier.run_once()
    assert [d[0]["id"] for d in receiver.data()] == [ENTITY]

    # entity 2 written with a time before what the notifier has read: its transaction began
    # earlier and committed later
    late_id = "urn:ngsi-ld:TrafficFlowObserved:jember:00002"
    region_id = world["jember"].id
    with unit_of_work(session_factory) as session:
        conn = store.connection(session)
        pk, entity = store.load_entities(conn, region_id, [late_id])[late_id]
        high = store.execute(
            conn, "SELECT high FROM hub_notify_cursor WHERE region_id = ?", [region_id]
        ).scalar()
        subscribed = store.execute(conn, "SELECT modified_at FROM hub_subscription").scalar()
        written = (high + subscribed) // 2  # after the subscription, before what was read
        entity.attrs[next(iter(k for k in entity.attrs if k.endswith("/intensity")))].update(
            {"value": 20, "modifiedAt": format_us(written)}
        )
        entity.modified_at = written
        store.write_entities(conn, region_id, [store.Write(entity=entity, pk=pk)])
    clock.advance(1)
    notifier.run_once()
    assert [d[0]["id"] for d in receiver.data()] == [ENTITY, late_id]
    assert receiver.data()[1][0]["intensity"] == 20
    clock.advance(1)
    notifier.run_once()
    assert len(receiver.requests) == 2


def test_changes_of_other_regions_are_not_notified(
    ngsi: Any, notifier: Notifier, receiver: Receiver, client: Any, db: Session, world: dict[str, Any]
) -> None:
    other_key = make_key(db, world, region="probolinggo")
    subscribe(ngsi, receiver)
    other = {"Authorization": f"Bearer {other_key}", "NGSILD-Tenant": "35.74"}
    assert client.post("/ngsi-ld/v1/entities", json=traffic(7), headers=other).status_code == 201
    notifier.run_once()
    assert receiver.requests == []


def test_a_subscriber_without_read_rights_gets_no_key_only_types(
    ngsi: Any, notifier: Notifier, receiver: Receiver, client: Any, db: Session, world: dict[str, Any]
) -> None:
    from kotacerdas.hub.context import DEFAULT_VOCAB
    from kotacerdas.hub.models import HubTypePolicy

    db.add(
        HubTypePolicy(region_id=world["jember"].id, type=DEFAULT_VOCAB + "TrafficFlowObserved", read="key")
    )
    db.add(
        HubTypePolicy(region_id=world["jember"].id, type=DEFAULT_VOCAB + "OffStreetParking", read="public")
    )
    db.commit()
    subscriber = make_key(db, world, permissions=["hub:subscribe"])
    body = {
        "type": "Subscription",
        "entities": [{"type": "TrafficFlowObserved"}, {"type": "OffStreetParking"}],
        "notification": {"endpoint": {"uri": receiver.url}},
    }
    headers = {"Authorization": f"Bearer {subscriber}", "NGSILD-Tenant": "35.09"}
    assert client.post("/ngsi-ld/v1/subscriptions", json=body, headers=headers).status_code == 201
    parking = {
        "id": "urn:ngsi-ld:OffStreetParking:jember:1",
        "type": "OffStreetParking",
        "availableSpotNumber": 3,
    }
    assert ngsi.post("/entityOperations/create", json=[traffic(1), parking]).status_code == 201
    notifier.run_once()
    assert [[e["id"] for e in d] for d in receiver.data()] == [[parking["id"]]]


# ------------------------------------------------------------------------- the real worker loop


@pytest.fixture
def own_database(tmp_path: Path, backend: str) -> Iterator[tuple[str, str]]:
    """A SQLite database of its own (the loop commits for real), with a region and a hub key."""
    if backend != "sqlite":
        pytest.skip("the worker loop is exercised once, on a database of its own")
    url = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    engine, secret = own_sqlite_hub(
        url, name="worker test", permissions=["hub:write", "hub:read", "hub:subscribe"]
    )
    engine.dispose()
    yield url, secret


def _subscribe_and_change(client: Any, headers: dict[str, str], receiver: Receiver, value: int) -> None:
    """Subscribe the receiver to TrafficFlowObserved, then change the intensity of ENTITY to ``value``."""
    body = {
        "type": "Subscription",
        "entities": [{"type": "TrafficFlowObserved"}],
        "notification": {"endpoint": {"uri": receiver.url}},
    }
    assert client.post("/ngsi-ld/v1/subscriptions", json=body, headers=headers).status_code == 201
    patch = {"intensity": {"type": "Property", "value": value}}
    assert (
        client.patch(f"/ngsi-ld/v1/entities/{ENTITY}/attrs", json=patch, headers=headers).status_code == 204
    )


def _client_for(url: str, settings: Settings) -> Any:
    from fastapi.testclient import TestClient

    from kotacerdas.app import create_app
    from kotacerdas.db import make_engine

    app = create_app(settings, engine=make_engine(url))
    return app, TestClient(app, base_url="http://127.0.0.1")


def test_the_embedded_worker_notifies_right_after_the_commit(
    own_database: tuple[str, str], settings: Settings, receiver: Receiver
) -> None:
    from kotacerdas.worker import start_embedded

    url, secret = own_database
    app, client = _client_for(url, settings)
    headers = {"Authorization": f"Bearer {secret}", "NGSILD-Tenant": "35.09"}
    stop = start_embedded(app)
    try:
        with client:
            assert client.post("/ngsi-ld/v1/entities", json=traffic(1), headers=headers).status_code == 201
            _subscribe_and_change(client, headers, receiver, 99)
            got = receiver.wait_for(1)
    finally:
        stop()
    assert len(got) == 1
    assert got[0].body["data"][0]["intensity"]["value"] == 99


def test_with_no_subscription_entity_writes_do_not_wake_the_notifier(
    own_database: tuple[str, str], settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kotacerdas.hub import notifier as notifier_module
    from kotacerdas.worker import start_embedded

    cycles: list[float] = []
    run_once = notifier_module.Notifier.run_once

    def counted(self: Any, *, wait: bool = True) -> Any:
        cycles.append(time.monotonic())
        return run_once(self, wait=wait)

    monkeypatch.setattr(notifier_module.Notifier, "run_once", counted)
    url, secret = own_database
    app, client = _client_for(url, settings)
    headers = {"Authorization": f"Bearer {secret}", "NGSILD-Tenant": "35.09"}
    stop = start_embedded(app)
    try:
        with client:
            started = time.monotonic()
            for n in range(1, 41):
                assert (
                    client.post("/ngsi-ld/v1/entities", json=traffic(n), headers=headers).status_code == 201
                )
            elapsed = time.monotonic() - started
            idle_cycles = len(cycles)
            # the first cycle, then one per IDLE_POLL_S: not one per write nor one per worker_poll_ms
            assert idle_cycles <= 2 + elapsed / notifier_module.IDLE_POLL_S
            _subscribe_and_change(client, headers, receiver, 55)
            got = receiver.wait_for(1)
    finally:
        stop()
    assert [n.body["data"][0]["intensity"]["value"] for n in got] == [55]
    assert len(cycles) > idle_cycles  # once subscribed, it cycles again


def test_kotacerdas_worker_delivers_and_stops_cleanly_on_sigterm(
    own_database: tuple[str, str], settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    url, secret = own_database
    _app, client = _client_for(url, settings)
    headers = {"Authorization": f"Bearer {secret}", "NGSILD-Tenant": "35.09"}
    with client:
        assert client.post("/ngsi-ld/v1/entities", json=traffic(1), headers=headers).status_code == 201
        _subscribe_and_change(client, headers, receiver, 77)
    env = {
        **os.environ,
        "KOTACERDAS_DATABASE_URL": url,
        "KOTACERDAS_DATA_DIR": str(tmp_path / "data"),
        "KOTACERDAS_ENVIRONMENT": "test",
        "KOTACERDAS_LOG_LEVEL": "warning",
    }
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "kotacerdas"), "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        got = receiver.wait_for(1, timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=90)
    assert worker.returncode == 0, err.decode()
    assert len(got) == 1
    assert got[0].body["data"][0]["intensity"]["value"] == 77
