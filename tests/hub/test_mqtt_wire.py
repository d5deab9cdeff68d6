"""The ingest's own MQTT v5 client (hub.mqtt_wire): packet framing, and against the real Mosquitto
the guarantees ingest rests on: nothing acknowledged before the caller says so, redelivery of what
was not acknowledged after a reconnect, keep-alive, the Receive Maximum honoured."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from kotacerdas.hub.mqtt_wire import (
    MAX_REMAINING,
    PacketReader,
    ProtocolError,
    Received,
    WireClient,
    WireConfig,
    decode_varint,
    encode_pubacks,
    encode_publish,
    encode_varint,
    subscription_options,
)

BROKER = ("127.0.0.1", 1883)


# ------------------------------------------------------------------------------ framing (no broker)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (MAX_REMAINING, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length_boundaries(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded  # the examples of MQTT v5 1.5.5
    assert decode_varint(b"\x30" + encoded + b"rest", 1) == (value, 1 + len(encoded))
    assert decode_varint(b"\x30" + encoded[:-1], 1)[0] == -1  # not all of it read yet


def test_a_remaining_length_of_five_bytes_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_varint(MAX_REMAINING + 1)
    with pytest.raises(ProtocolError):
        decode_varint(b"\x30\xff\xff\xff\xff\x01", 1)


def _publish_with_remaining(length: int, pid: int) -> tuple[bytes, bytes, bytes]:
    """A QoS 1 PUBLISH whose remaining length is exactly ``length``: (packet, topic, payload)."""
    topic = b"kotacerdas/35.09/-/TrafficFlowObserved/urn:x"
    payload = bytes(random.randrange(256) for _ in range(length - 2 - len(topic) - 2 - 1))
    raw = encode_publish(topic.decode(), payload, qos=1, packet_id=pid)
    assert decode_varint(raw, 1)[0] == length
    return raw, topic, payload


@pytest.mark.parametrize("length", [127, 128, 16_383, 16_384])
def test_a_publish_is_cut_out_whole_however_the_reads_split_it(length: int) -> None:
    raw, topic, payload = _publish_with_remaining(length, pid=513)
    stream = raw + encode_publish("a/b", b"{}", qos=0) + raw
    expected = [(topic, payload, 513, 0x32), (b"a/b", b"{}", 0, 0x30), (topic, payload, 513, 0x32)]
    rng = random.Random(length)
    for split in [1, 2, 3, len(raw) - 1, len(raw), len(raw) + 1, *rng.sample(range(1, len(stream)), 10)]:
        reader = PacketReader()
        got: list[Received] = []
        for part in (stream[:split], stream[split:]):
            publishes, control = reader.feed(part)
            got += publishes
            assert control == []
        assert got == expected, split
        assert len(reader) == 0


def test_byte_by_byte_every_packet_comes_out_once_in_order() -> None:
    packets = [encode_publish(f"t/{n}", b"x" * n * 37, qos=1, packet_id=n + 1) for n in range(20)]
    pingresp = b"\xd0\x00"
    puback_with_reason = b"\x40\x03\x00\x07\x00"
    stream = b"".join(packets[:10]) + pingresp + puback_with_reason + b"".join(packets[10:])
    reader = PacketReader()
    publishes: list[Received] = []
    control: list[tuple[int, int, bytes]] = []
    for i in range(len(stream)):
        got, other = reader.feed(stream[i : i + 1])
        publishes += got
        control += other
    assert [(p[0], p[2]) for p in publishes] == [(f"t/{n}".encode(), n + 1) for n in range(20)]
    assert [len(p[1]) for p in publishes] == [n * 37 for n in range(20)]
    assert control == [(13, 0xD0, b""), (4, 0x40, b"\x00\x07\x00")]


def test_publish_properties_are_skipped_and_flags_kept() -> None:
    props = b"\x01\x01" + b"\x02" + struct.pack("!I", 60)  # payload format, message expiry
    body = b"\x00\x03a/b" + b"\x12\x34" + bytes([len(props)]) + props + b"payload"
    packet = bytes([0x3B]) + encode_varint(len(body)) + body  # DUP, QoS 1, RETAIN
    assert PacketReader().feed(packet)[0] == [(b"a/b", b"payload", 0x1234, 0x3B)]


def test_pubacks_are_encoded_in_one_go() -> None:
    assert encode_pubacks([1, 0x1234, 65535]) == b"\x40\x02\x00\x01\x40\x02\x12\x34\x40\x02\xff\xff"


# --------------------------------------------------------------------------- against the broker


def _root_conftest(config: pytest.Config) -> ModuleType:
    plugin = config.pluginmanager.get_plugin(str(Path(__file__).resolve().parents[1] / "conftest.py"))
    assert isinstance(plugin, ModuleType)
    return plugin


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> tuple[str, int]:
    try:
        with socket.create_connection(BROKER, timeout=0.5):
            pass
    except OSError:
        _root_conftest(request.config).service_missing("Mosquitto at 127.0.0.1:1883")
    return BROKER


class Subscriber:
    """A WireClient in its own thread that records what it receives and acknowledges only on demand."""

    def __init__(self, client_id: str, topic: str, *, keepalive: int = 30, port: int = BROKER[1]) -> None:
        self.received: list[
            tuple[str, bytes, int, int, int]
        ] = []  # topic, payload, pid, first byte, connection
        self.ready = threading.Event()
        self.failed: list[str] = []
        self.lost: list[str] = []
        self._lock = threading.Lock()
        self.client = WireClient(
            WireConfig(
                host=BROKER[0],
                port=port,
                client_id=client_id,
                subscriptions=((topic, subscription_options(qos=1)),),
                keepalive=keepalive,
                session_expiry=300,
            ),
            on_publishes=self._on_publishes,
            on_ready=lambda present: self.ready.set(),
            on_lost=self.lost.append,
            on_failed=self._on_failed,
        )
        self.thread = threading.Thread(target=lambda: asyncio.run(self.client.run()), daemon=True)
        self.thread.start()

    def _on_publishes(self, messages: list[Received], connection: int) -> None:
        with self._lock:
            self.received += [(t.decode(), p, pid, first, connection) for t, p, pid, first in messages]

    def _on_failed(self, reason: str) -> None:
        self.failed.append(reason)
        self.ready.set()

    def ack_all(self) -> None:
        with self._lock:
            by_connection: dict[int, list[int]] = {}
            for *_, pid, _first, connection in self.received:
                by_connection.setdefault(connection, []).append(pid)
        for connection, pids in by_connection.items():
            self.client.send_acks(pids, connection)

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def stop(self) -> None:
        self.client.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


def _publish(topic: str, payloads: list[bytes]) -> None:
    import paho.mqtt.publish as publish
    from paho.mqtt.client import MQTTv5

    publish.multiple(
        [{"topic": topic, "payload": p, "qos": 1} for p in payloads],
        hostname=BROKER[0],
        port=BROKER[1],
        client_id=f"test-wire-pub-{uuid.uuid4().hex[:8]}",
        protocol=MQTTv5,
    )


def _wait(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    token = uuid.uuid4().hex[:8]
    yield f"test-wire-{token}", f"test/wire/{token}"


@pytest.mark.mqtt
def test_what_was_not_acknowledged_comes_again_after_a_reconnect(
    broker: tuple[str, int], names: tuple[str, str]
) -> None:
    client_id, topic = names
    payloads = [f"{n}".encode() for n in range(50)]
    first = Subscriber(client_id, topic)
    assert first.ready.wait(10) and not first.failed
    _publish(topic, payloads)
    # more than Mosquitto's default in-flight window for MQTT 3.1.1 clients (20) arrives unacknowledged:
    # the broker honours our Receive Maximum
    _wait(lambda: first.count() == len(payloads))
    assert [p for _t, p, *_ in first.received] == payloads
    first.stop()  # a clean DISCONNECT, nothing acknowledged

    second = Subscriber(client_id, topic)  # the same session
    _wait(lambda: second.count() == len(payloads))
    assert [p for _t, p, *_ in second.received] == payloads
    assert all(first_byte & 0x08 for *_, first_byte, _c in second.received)  # DUP: a redelivery
    second.ack_all()
    second.stop()  # the acknowledgements leave before the DISCONNECT

    third = Subscriber(client_id, topic)
    assert third.ready.wait(10)
    _publish(topic, [b"after"])
    _wait(lambda: third.count() == 1)
    assert [p for _t, p, *_ in third.received] == [b"after"]  # nothing acknowledged came back: zero loss
    third.ack_all()
    third.stop()


class Proxy:
    """A TCP relay to the broker whose connections the test can cut, as a network failure would."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self.server.accept()
            except OSError:
                return
            far = socket.create_connection(BROKER)
            self.sockets += [near, far]
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.sockets = []

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        self.cut()


@pytest.mark.mqtt
def test_after_a_dropped_connection_the_client_reconnects_and_old_acknowledgements_stay_unsent(
    broker: tuple[str, int], names: tuple[str, str]
) -> None:
    client_id, topic = names
    proxy = Proxy()
    try:
        sub = Subscriber(client_id, topic, port=proxy.port)
        assert sub.ready.wait(10)
        _publish(topic, [b"a", b"b"])
        _wait(lambda: sub.count() == 2)
        before = sub.client.connection
        proxy.cut()  # the network fails before anything was acknowledged
        _wait(lambda: sub.count() == 4)  # the client reconnected by itself and the broker redelivered
        assert sub.lost and sub.client.connection != before
        assert [(p, first & 0x08) for _t, p, _pid, first, _c in sub.received[2:]] == [(b"a", 8), (b"b", 8)]
        # the redelivered copies carry the same packet ids; the old connection's acknowledgements must
        # not be taken for theirs
        sub.client.send_acks([pid for _t, _p, pid, _f, _c in sub.received[:2]], before)
        sub.stop()
    finally:
        proxy.close()
    check = Subscriber(client_id, topic)
    _wait(lambda: check.count() == 2)  # still unacknowledged: nothing was lost
    check.ack_all()
    check.stop()


@pytest.mark.mqtt
def test_keepalive_holds_an_idle_connection(broker: tuple[str, int], names: tuple[str, str]) -> None:
    client_id, topic = names
    sub = Subscriber(client_id, topic, keepalive=1)
    assert sub.ready.wait(10)
    connection = sub.client.connection
    # idle for several keep-alive intervals: without PINGREQs the broker drops us after 1.5 of them
    time.sleep(4)
    _publish(topic, [b"still here"])
    _wait(lambda: sub.count() == 1)
    assert sub.lost == [] and sub.client.connection == connection
    sub.ack_all()
    sub.stop()


@pytest.mark.mqtt
def test_while_reading_is_paused_messages_wait_with_the_broker(
    broker: tuple[str, int], names: tuple[str, str]
) -> None:
    client_id, topic = names
    sub = Subscriber(client_id, topic, keepalive=1)
    assert sub.ready.wait(10)
    sub.client.pause_reading()  # what ingest does when its writer falls behind
    _publish(topic, [b"1", b"2", b"3"])
    time.sleep(3)  # two keep-alive intervals: the paused connection must survive them
    assert sub.count() == 0
    sub.client.resume_reading()
    _wait(lambda: sub.count() == 3)
    assert sub.lost == []
    sub.ack_all()
    sub.stop()


def test_a_broker_that_is_not_there_fails_the_first_connection() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sub = Subscriber("test-wire-nobody", "test/none", port=port)  # nothing listens on that port
    assert sub.ready.wait(15)
    assert sub.failed
    sub.thread.join(5)
    assert not sub.thread.is_alive()
