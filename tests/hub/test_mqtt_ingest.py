"""MQTT ingest: topic and payload decoding, ordered acknowledgements, and, against a real Mosquitto and
a real database, that every published observation is stored exactly once: through malformed messages,
refused keys, redeliveries and a SIGKILL of ``kotacerdas ingest mqtt`` in the middle of a stream.

Each broker test starts its own Mosquitto (``/usr/sbin/mosquitto``, a free port on 127.0.0.1,
``max_queued_messages 0`` so nothing published while ingest is down is dropped). The ingest writes
for real, so these tests use a database of their own (migrated once per module and backend), not the
rolled-back one of the other tests; entity ids and client ids are unique per test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from rich.console import Console
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas import migrate
from kotacerdas.auth import service as auth
from kotacerdas.db import make_engine, make_session_factory, unit_of_work
from kotacerdas.hub import simulate, store
from kotacerdas.hub.context import DEFAULT_VOCAB
from kotacerdas.hub.entity import Parser
from kotacerdas.hub.mqtt_ingest import (
    DEADLETTER_ROOT,
    AckTracker,
    Inbox,
    IngestConfig,
    Message,
    MqttIngest,
    Topic,
    decode_payload,
    parse_topic,
)
from kotacerdas.hub.problems import BadRequestData
from kotacerdas.hub.service import core_context
from kotacerdas.region import service as regions

MOSQUITTO = Path("/usr/sbin/mosquitto")
SHARED_BROKER = ("127.0.0.1", 1883)
TRAFFIC = "TrafficFlowObserved"


def root_conftest(config: pytest.Config) -> ModuleType:
    """tests/conftest.py as pytest loaded it (``tests`` is no package, so it cannot be imported by name)."""
    plugin = config.pluginmanager.get_plugin(str(Path(__file__).resolve().parents[1] / "conftest.py"))
    assert isinstance(plugin, ModuleType)
    return plugin


# ------------------------------------------------------------------------------ decoding (no broker)


def test_topics_name_region_office_type_and_id() -> None:
    assert parse_topic(
        "kotacerdas/35.09/Dishub/TrafficFlowObserved/urn:ngsi-ld:TrafficFlowObserved:x"
    ) == Topic("35.09", "Dishub", TRAFFIC, "urn:ngsi-ld:TrafficFlowObserved:x")
    # the id is everything after the type, slashes included; "-" means no office
    assert parse_topic("kotacerdas/35.09/-/Thing/https://example.org/things/1") == Topic(
        "35.09", None, "Thing", "https://example.org/things/1"
    )
    for bad in ("kotacerdas/35.09/-/Thing", "other/35.09/-/Thing/urn:x", "kotacerdas//-/Thing/urn:x", ""):
        with pytest.raises(BadRequestData, match="not kotacerdas/"):
            parse_topic(bad)


def test_a_compact_observation_becomes_an_entity_with_observed_at_on_every_attribute() -> None:
    topic = Topic("35.09", None, TRAFFIC, "urn:ngsi-ld:TrafficFlowObserved:jember:a")
    payload = orjson.dumps(
        {
            "intensity": 120,
            "averageVehicleSpeed": {"value": 42.5, "unitCode": "KMH"},
            "status": ["open"],
            "location": {"type": "Point", "coordinates": [113.7, -8.17]},
            "refRoadSegment": {"object": "urn:ngsi-ld:RoadSegment:jember:a"},
            "observedAt": "2026-03-04T00:15:00Z",
        }
    )
    entity, context = decode_payload(topic, payload)
    assert context is None
    parsed = Parser(core_context()).entity(entity)
    assert parsed.id == topic.id and parsed.types == [DEFAULT_VOCAB + TRAFFIC]
    attrs = parsed.attrs
    assert attrs[DEFAULT_VOCAB + "intensity"] == {
        "type": "Property",
        "value": 120,
        "observedAt": "2026-03-04T00:15:00.000Z",
    }
    assert attrs[DEFAULT_VOCAB + "averageVehicleSpeed"]["unitCode"] == "KMH"
    assert attrs["https://uri.etsi.org/ngsi-ld/location"]["type"] == "GeoProperty"
    assert attrs[DEFAULT_VOCAB + "refRoadSegment"]["type"] == "Relationship"
    assert all(a["observedAt"] == "2026-03-04T00:15:00.000Z" for a in attrs.values())


def test_a_full_entity_must_agree_with_its_topic() -> None:
    topic = Topic("35.09", None, TRAFFIC, "urn:ngsi-ld:TrafficFlowObserved:jember:a")
    normalized = {"id": topic.id, "type": TRAFFIC, "intensity": {"type": "Property", "value": 3}}
    assert decode_payload(topic, orjson.dumps(normalized))[0] == normalized
    concise = {"type": DEFAULT_VOCAB + TRAFFIC, "intensity": 3, "@context": "https://example.org/ctx.jsonld"}
    entity, context = decode_payload(topic, orjson.dumps(concise))
    assert entity["id"] == topic.id and context == "https://example.org/ctx.jsonld"
    with pytest.raises(BadRequestData, match="id"):
        decode_payload(topic, orjson.dumps({**normalized, "id": "urn:ngsi-ld:TrafficFlowObserved:jember:b"}))
    with pytest.raises(BadRequestData, match="type"):
        decode_payload(topic, orjson.dumps({**normalized, "type": "WeatherObserved"}))


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b"{}", "no attributes"),
        (b'{"observedAt": "2026-03-04T00:15:00Z"}', "no attributes"),
        (b'{"intensity": 1, "observedAt": 17}', "observedAt"),
    ],
)
def test_malformed_payloads_are_refused_with_a_reason(payload: bytes, problem: str) -> None:
    with pytest.raises(BadRequestData, match=problem):
        decode_payload(Topic("35.09", None, TRAFFIC, "urn:ngsi-ld:TrafficFlowObserved:x"), payload)


def test_the_simulators_compact_payload_decodes_to_the_same_entity() -> None:
    parser = Parser(core_context())
    for observation in simulate.observations(datetime.fromisoformat("2026-03-04T07:15:00+07:00")):
        topic = Topic("35.09", None, observation["type"], observation["id"])
        entity, _ = decode_payload(topic, orjson.dumps(simulate.compact(observation)))
        assert parser.entity(entity).attrs == parser.entity(observation).attrs


def test_acknowledgements_go_out_in_arrival_order() -> None:
    sent: list[int] = []
    acks = AckTracker(lambda mid, qos: sent.append(mid))
    tickets = [acks.register(mid, 1) for mid in (1, 2, 3, 4)]
    assert acks.done([tickets[2], tickets[1]]) == 0  # 1 is still being written: nothing may go out
    assert sent == []
    acks.done([tickets[0]])
    assert sent == [1, 2, 3]
    acks.reset()  # the connection dropped: 4 will be redelivered, its old id means nothing now
    acks.done([tickets[3]])
    assert sent == [1, 2, 3]
    fresh = acks.register(4, 1)
    acks.done([fresh])
    assert sent == [1, 2, 3, 4]


def test_a_batch_holds_at_most_the_batch_size() -> None:
    inbox = Inbox(limit=10)
    for n in range(25):
        inbox.put(Message(f"t/{n}", b"{}", None, False))
    sizes = [len(inbox.take(window=0.0)) for _ in range(3)]
    assert sizes == [10, 10, 5]


# ------------------------------------------------------------------------------ broker and database


@dataclass
class Broker:
    host: str
    port: int
    private: bool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def broker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A private Mosquitto for this test (unbounded queues), or the shared one when the binary is missing."""
    if not MOSQUITTO.exists():
        if not _listening(*SHARED_BROKER):
            root_conftest(request.config).service_missing("Mosquitto")
        yield Broker(*SHARED_BROKER, private=False)
        return
    for _ in range(5):
        port = _free_port()
        conf = tmp_path / f"mosquitto-{port}.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\nmax_queued_bytes 0\n",
            encoding="utf-8",
        )
        proc = subprocess.Popen(
            [str(MOSQUITTO), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 5
        while proc.poll() is None and not _listening("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None and _listening("127.0.0.1", port):
            try:
                yield Broker("127.0.0.1", port, private=True)
            finally:
                proc.terminate()
                proc.wait(10)
            return
        proc.kill()
        proc.wait()
    root_conftest(request.config).service_missing("Mosquitto (could not start a private broker)")


@dataclass
class HubDb:
    url: str
    engine: Engine
    session_factory: sessionmaker[Session]
    region_id: int
    keys: dict[str, str]


def _postgres_database(config: pytest.Config) -> Iterator[str]:
    conftest = root_conftest(config)
    admin = create_engine(conftest.PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception:
        admin.dispose()
        conftest.service_missing(f"PostgreSQL at {conftest.PG_URL}")
    name = f"kc_ingest_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def hub_db(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[HubDb]:
    """A database the ingest commits to: Jember (with Dishub and Dinkes) and Probolinggo, and keys."""
    if backend == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('ingest') / 'hub.sqlite3'}"])
    else:
        urls = _postgres_database(request.config)
    url = next(urls)
    engine = make_engine(url)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        jember = regions.create_region(
            session, code="35.09", name="Kabupaten Jember", kind="kabupaten", province="Jawa Timur"
        )
        regions.create_region(
            session, code="35.74", name="Kota Probolinggo", kind="kota", province="Jawa Timur"
        )
        dishub = regions.create_office(
            session, region_id=jember.id, name="Dinas Perhubungan", short_name="Dishub"
        )
        regions.create_office(session, region_id=jember.id, name="Dinas Kesehatan", short_name="Dinkes")
        admin = auth.create_user(
            session,
            email="admin@jember.go.id",
            full_name="Admin",
            password="rahasia-yang-panjang",
            role="region_admin",
            region_id=jember.id,
        )
        principal = auth.principal_for_user(admin)

        def key(name: str, **kwargs: Any) -> str:
            return auth.create_api_key(
                session,
                principal=principal,
                region_id=jember.id,
                name=name,
                permissions=["hub:write"],
                **kwargs,
            )[1]

        keys = {
            "all": key("ingest"),
            "traffic": key("traffic only", entity_types=[TRAFFIC]),
            "dishub": key("dishub", office_id=dishub.id),
        }
        keys["read"] = auth.create_api_key(
            session, principal=principal, region_id=jember.id, name="reader", permissions=["hub:read"]
        )[1]
        region_id = jember.id
    yield HubDb(url, engine, factory, region_id, keys)
    engine.dispose()
    for _ in urls:  # drops the PostgreSQL database
        pass


def _token() -> str:
    return uuid.uuid4().hex[:8]


def _eid(token: str, n: int, type_: str = TRAFFIC) -> str:
    return f"urn:ngsi-ld:{type_}:jember:t{token}-{n:03d}"


def _observed(i: int) -> str:
    return f"2026-03-04T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.000Z"


def history(db: HubDb, entity_id: str, attribute: str) -> list[int]:
    """The observation times of an attribute's stored instances (the hub's history, oldest first)."""
    iri = DEFAULT_VOCAB + attribute
    with db.session_factory() as session:
        conn = store.connection(session)
        found = store.load_entities(conn, db.region_id, [entity_id]).get(entity_id)
        if found is None:
            return []
        return [h.ts for h in store.read_history(conn, found[0], attrs=frozenset([iri]))]


class Publisher:
    """A test device: publishes with QoS 1 and waits for the broker's acknowledgements."""

    def __init__(self, broker: Broker) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-pub-{_token()}", protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.infos: list[Any] = []

    def publish(self, topic: str, payload: bytes | dict[str, Any]) -> None:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        self.infos.append(self.client.publish(topic, body, qos=1))

    def wait(self, timeout: float = 30.0) -> None:
        for info in self.infos:
            info.wait_for_publish(timeout)
        assert all(info.is_published() for info in self.infos)

    def close(self) -> None:
        self.wait()
        self.client.disconnect()
        self.client.loop_stop()


class Listener:
    """Collects what arrives on a topic filter (the dead letters)."""

    def __init__(self, broker: Broker, topic: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-sub-{_token()}", protocol=mqtt.MQTTv5
        )
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, orjson.loads(m.payload)))
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_connect = lambda c, *args: c.subscribe(topic, qos=1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _ingest(db: HubDb, broker: Broker, *, key: str = "all", client_id: str = "", **config: Any) -> MqttIngest:
    ingest = MqttIngest(
        db.session_factory,
        api_key=db.keys[key],
        config=IngestConfig(
            host=broker.host,
            port=broker.port,
            client_id=client_id or f"test-ingest-{_token()}",
            batch_size=config.pop("batch_size", 50),
            batch_ms=config.pop("batch_ms", 20),
            session_expiry=config.pop("session_expiry", 120),
            log_every=1.0,
            **config,
        ),
    )
    ingest.start()
    return ingest


def _topic(entity_id: str, type_: str = TRAFFIC, *, region: str = "35.09", office: str = "-") -> str:
    return f"kotacerdas/{region}/{office}/{type_}/{entity_id}"


@pytest.mark.mqtt
def test_every_published_observation_is_stored_once(hub_db: HubDb, broker: Broker) -> None:
    token, sensors, per_sensor = _token(), 20, 15
    ingest = _ingest(hub_db, broker)
    publisher = Publisher(broker)
    try:
        for i in range(per_sensor):
            for n in range(sensors):
                eid = _eid(token, n)
                if n % 4 == 0:  # some devices send whole normalized entities
                    publisher.publish(
                        _topic(eid),
                        {
                            "id": eid,
                            "type": TRAFFIC,
                            "intensity": {"type": "Property", "value": i, "observedAt": _observed(i)},
                        },
                    )
                else:
                    publisher.publish(
                        _topic(eid), {"intensity": i, "occupancy": 0.2, "observedAt": _observed(i)}
                    )
        publisher.wait()
        sent = sensors * per_sensor
        wait_for(lambda: ingest.counters.stored >= sent)
        wait_for(ingest.idle)
    finally:
        publisher.close()
        ingest.stop()
    assert ingest.counters.stored == ingest.counters.received == sent
    assert ingest.counters.dead_lettered == 0
    assert 0 < ingest.counters.batches < sent  # batched, not one transaction per message
    for n in range(sensors):
        times = history(hub_db, _eid(token, n), "intensity")
        assert len(times) == len(set(times)) == per_sensor


@pytest.mark.mqtt
def test_malformed_messages_go_to_the_dead_letter_topic_and_ingest_goes_on(
    hub_db: HubDb, broker: Broker
) -> None:
    token = _token()
    dead = Listener(broker, DEADLETTER_ROOT + "#")
    ingest = _ingest(hub_db, broker)
    publisher = Publisher(broker)
    eid = _eid(token, 1)
    bad: dict[str, bytes | dict[str, Any]] = {
        _topic(eid) + "x1": b"{not json",
        _topic(_eid(token, 2)): b"[1, 2, 3]",
        f"kotacerdas/35.09/-/{TRAFFIC}": b'{"intensity": 1}',  # no entity id in the topic
        _topic(_eid(token, 3)): {"id": _eid(token, 4), "type": TRAFFIC, "intensity": 1},
        _topic(_eid(token, 5)): {"intensity": 1, "observedAt": "yesterday"},  # refused by the hub itself
        _topic(_eid(token, 6), office="Dishubb"): {"intensity": 1},  # no such office
        _topic("not-a-uri"): {"intensity": 1},
    }
    try:
        for topic, payload in bad.items():
            publisher.publish(topic, payload)
        for i in range(10):
            publisher.publish(_topic(eid), {"intensity": i, "observedAt": _observed(i)})
        publisher.wait()
        wait_for(lambda: ingest.counters.stored >= 10 and ingest.counters.dead_lettered >= len(bad))
        wait_for(lambda: len(dead.messages) >= len(bad))
        wait_for(ingest.idle)
    finally:
        publisher.close()
        ingest.stop()
        dead.close()
    assert (ingest.counters.stored, ingest.counters.dead_lettered) == (10, len(bad))
    assert len(history(hub_db, eid, "intensity")) == 10
    letters = {topic.removeprefix(DEADLETTER_ROOT): body for topic, body in dead.messages}
    assert set(letters) == set(bad)
    for topic, body in letters.items():
        assert body["topic"] == topic
        assert body["error"]["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/")
        assert body["error"]["detail"]
        sent = bad[topic]
        assert body["payload"] == (sent.decode() if isinstance(sent, bytes) else orjson.dumps(sent).decode())
    assert "not JSON" in letters[_topic(eid) + "x1"]["error"]["detail"]
    assert "observedAt" in letters[_topic(_eid(token, 5))]["error"]["detail"]
    assert "Dishubb" in letters[_topic(_eid(token, 6), office="Dishubb")]["error"]["detail"]


@pytest.mark.mqtt
def test_the_keys_region_types_and_office_decide_what_is_accepted(hub_db: HubDb, broker: Broker) -> None:
    token = _token()
    dead = Listener(broker, DEADLETTER_ROOT + "#")
    traffic_only = _ingest(hub_db, broker, key="traffic", topics=("kotacerdas/#",))
    publisher = Publisher(broker)
    accepted = _topic(_eid(token, 1))
    refused = {
        _topic(_eid(token, 2, "WeatherObserved"), "WeatherObserved"): "WeatherObserved",
        _topic(_eid(token, 3), region="35.74"): "35.74",
        _topic(_eid(token, 4), region="99.99"): "99.99",
    }
    try:
        publisher.publish(accepted, {"intensity": 1, "observedAt": _observed(1)})
        for topic in refused:
            publisher.publish(topic, {"temperature": 30, "observedAt": _observed(1)})
        publisher.wait()
        wait_for(lambda: traffic_only.counters.stored + traffic_only.counters.dead_lettered >= 4)
        wait_for(lambda: len(dead.messages) >= 3)
    finally:
        traffic_only.stop()
    assert traffic_only.counters.stored == 1
    letters = {topic.removeprefix(DEADLETTER_ROOT): body for topic, body in dead.messages}
    assert set(letters) == set(refused)
    for topic, what in refused.items():
        assert what in letters[topic]["error"]["detail"]
    assert letters[_topic(_eid(token, 4), region="99.99")]["error"]["type"].endswith("NonexistentTenant")

    dishub = _ingest(hub_db, broker, key="dishub")
    dead.messages.clear()
    try:
        publisher.publish(
            _topic(_eid(token, 5), office="Dishub"), {"intensity": 1, "observedAt": _observed(1)}
        )
        publisher.publish(_topic(_eid(token, 6)), {"intensity": 1, "observedAt": _observed(1)})
        publisher.publish(
            _topic(_eid(token, 7), office="Dinkes"), {"intensity": 1, "observedAt": _observed(1)}
        )
        publisher.wait()
        wait_for(lambda: dishub.counters.stored + dishub.counters.dead_lettered >= 3)
        wait_for(lambda: len(dead.messages) >= 1)
    finally:
        dishub.stop()
        publisher.close()
        dead.close()
    assert dishub.counters.stored == 2
    assert [t.removeprefix(DEADLETTER_ROOT) for t, _ in dead.messages] == [
        _topic(_eid(token, 7), office="Dinkes")
    ]


@pytest.mark.mqtt
def test_a_key_without_hub_write_cannot_start_ingest(hub_db: HubDb, broker: Broker) -> None:
    from kotacerdas.hub.mqtt_ingest import IngestError

    with pytest.raises(IngestError, match="hub:write"):
        _ingest(hub_db, broker, key="read")
    ingest = MqttIngest(hub_db.session_factory, api_key="kc_unknown", config=IngestConfig(port=broker.port))
    with pytest.raises(IngestError, match="unknown or revoked"):
        ingest.start()


@pytest.mark.mqtt
def test_a_redelivery_after_a_crash_between_commit_and_ack_stores_nothing_twice(
    hub_db: HubDb, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, count = _token(), 40
    client_id = f"test-ingest-{token}"
    first = _ingest(hub_db, broker, client_id=client_id)
    # the crash: everything is committed, but no PUBACK ever leaves the process
    monkeypatch.setattr(first._acks, "_send", lambda mid, qos: None)
    publisher = Publisher(broker)
    try:
        for i in range(count):
            publisher.publish(_topic(_eid(token, i % 4)), {"intensity": i, "observedAt": _observed(i)})
        publisher.wait()
        wait_for(lambda: first.counters.stored >= count)
    finally:
        first.stop()
    second = _ingest(hub_db, broker, client_id=client_id)  # the same session: the broker redelivers
    try:
        wait_for(lambda: second.counters.received >= count)
        wait_for(second.idle)
    finally:
        second.stop()
        publisher.close()
    assert second.counters.redelivered == count
    for n in range(4):
        times = history(hub_db, _eid(token, n), "intensity")
        assert len(times) == len(set(times)) == count // 4


@pytest.mark.mqtt
def test_simulated_sensors_over_mqtt_are_stored(hub_db: HubDb, broker: Broker) -> None:
    ingest = _ingest(hub_db, broker, batch_size=500)
    target = simulate.MqttTarget(broker.host, broker.port, region="35.09")
    start = datetime.fromisoformat("2031-01-06T07:00:00+07:00")
    try:
        result = simulate.run(
            target, rate=0, duration=None, count=400, start=start, console=Console(quiet=True)
        )
        assert (result.stats.sent, result.stats.accepted, result.stats.failed) == (400, 400, 0)
        wait_for(lambda: ingest.counters.stored >= 400)
    finally:
        ingest.stop()
    assert ingest.counters.dead_lettered == 0
    per_round = len(simulate.observations(start))
    gajah_mada = history(hub_db, "urn:ngsi-ld:TrafficFlowObserved:jember:jl-gajah-mada", "intensity")
    assert len([t for t in gajah_mada if t >= start.timestamp() * 1_000_000]) in (
        400 // per_round,
        400 // per_round + 1,
    )


@pytest.mark.mqtt
def test_ingest_killed_mid_stream_loses_and_duplicates_nothing(
    hub_db: HubDb, broker: Broker, tmp_path: Path
) -> None:
    if not broker.private:
        pytest.skip("needs a private broker (unbounded queue while ingest is down)")
    token, sensors, total = _token(), 30, 900
    client_id = f"test-ingest-{token}"
    env = {
        **os.environ,
        "KOTACERDAS_DATABASE_URL": hub_db.url,
        "KOTACERDAS_DATA_DIR": str(tmp_path),
        "KOTACERDAS_DEFAULT_LANGUAGE": "en",
        "KOTACERDAS_INGEST_KEY": hub_db.keys["all"],
    }
    command = [
        sys.executable,
        "-c",
        "from kotacerdas.cli import app; app()",
        "ingest",
        "mqtt",
        "--host",
        broker.host,
        "--port",
        str(broker.port),
        "--client-id",
        client_id,
        "--batch-size",
        "40",
        "--batch-ms",
        "30",
    ]

    def start_ingest() -> subprocess.Popen[str]:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "running" in line and client_id in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(60), "kotacerdas ingest mqtt did not start"
        return proc

    def stored() -> int:
        return sum(len(history(hub_db, _eid(token, n), "intensity")) for n in range(sensors))

    first = start_ingest()
    publisher = Publisher(broker)

    def publish_stream() -> None:
        for i in range(total):
            n = i % sensors
            publisher.publish(_topic(_eid(token, n)), {"intensity": i, "observedAt": _observed(i)})
            if i % 30 == 29:
                time.sleep(0.03)  # about 1,000 a second: the kill lands in the middle of the stream

    stream = threading.Thread(target=publish_stream)
    stream.start()
    second: subprocess.Popen[str] | None = None
    try:
        wait_for(lambda: stored() >= total // 4)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = stored()
        assert killed_at < total  # the stream was still running
        second = start_ingest()
        stream.join(60)
        publisher.wait()
        wait_for(lambda: stored() >= total, timeout=120)
        time.sleep(0.5)  # anything redelivered twice would have landed by now
    finally:
        stream.join(60)
        publisher.close()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(30)
    for n in range(sensors):
        times = history(hub_db, _eid(token, n), "intensity")
        assert len(times) == len(set(times)) == total // sensors, n
    assert stored() == total
    assert second is not None and second.returncode == 0  # SIGTERM: a clean stop
