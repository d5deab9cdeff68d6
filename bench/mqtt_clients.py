"""MQTT clients for the ingest benchmark, each run in its own process.

``python -m bench.mqtt_clients publish HOST PORT FILE`` publishes the prepared messages of FILE
(QoS 1, MQTT 3.1.1 on a plain socket, as fast as the broker acknowledges) and prints one JSON line:
sent, acknowledged, failed, the wall-clock start and the time the last PUBACK came back.

``python -m bench.mqtt_clients subscribe HOST PORT FILTER COUNT`` is the raw ceiling: a paho
subscriber (QoS 1, a callback that only counts) prints ``ready`` once subscribed, then one JSON line
with the count and the wall-clock times of the first and last receipt (after COUNT messages, or
after 10 s without any).
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def write_messages(path: Path, messages: list[tuple[str, bytes]]) -> None:
    with path.open("wb") as out:
        for topic, payload in messages:
            raw = topic.encode()
            out.write(struct.pack("<HI", len(raw), len(payload)))
            out.write(raw)
            out.write(payload)


def read_messages(path: Path) -> list[tuple[str, bytes]]:
    data = path.read_bytes()
    out = []
    pos = 0
    while pos < len(data):
        tlen, plen = struct.unpack_from("<HI", data, pos)
        pos += 6
        topic = data[pos : pos + tlen].decode()
        pos += tlen
        out.append((topic, data[pos : pos + plen]))
        pos += plen
    return out


def _client(name: str) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv311)


WINDOW = 20_000  # PUBLISH packets sent and not yet acknowledged (packet ids cycle through 1..65535)
CHUNK = 500  # packets per socket write


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def encode_publishes(messages: list[tuple[str, bytes]]) -> list[bytes]:
    """MQTT 3.1.1 PUBLISH packets, QoS 1, packet ids 1..65535 in turn."""
    return [
        _packet(0x32, _string(topic) + struct.pack("!H", i % 65535 + 1) + payload)
        for i, (topic, payload) in enumerate(messages)
    ]


def publish(host: str, port: int, path: Path) -> dict[str, Any]:
    """A minimal MQTT 3.1.1 publisher on a plain socket: pre-encoded QoS 1 PUBLISH packets written
    in chunks, PUBACKs counted by a reader thread. paho's Python client tops out at a few thousand
    QoS 1 messages a second here (it scans its in-flight messages on every PUBACK), below what the
    ingest is meant to take, so it cannot be the load."""
    packets = encode_publishes(read_messages(path))
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connect = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", 60) + _string(f"kc-bench-pub-{time.monotonic_ns()}")
    sock.sendall(_packet(0x10, connect))
    connack = sock.recv(4)
    if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
        raise SystemExit(f"the broker refused the publisher: {connack!r}")
    done = threading.Condition()
    acked = 0
    last_ack = 0.0

    def reader() -> None:
        nonlocal acked, last_ack
        pending = b""
        while acked < len(packets):
            data = sock.recv(65536)
            if not data:
                return
            pending += data
            usable = len(pending) - len(pending) % 4  # only PUBACKs (0x40 0x02 id id) come back
            count = usable // 4
            if pending[:usable:4] != b"\x40" * count:
                raise SystemExit("unexpected packet from the broker")
            pending = pending[usable:]
            with done:
                acked += count
                last_ack = time.time()
                done.notify_all()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    started = time.time()
    sent = 0
    for start in range(0, len(packets), CHUNK):
        chunk = packets[start : start + CHUNK]
        with done:
            while sent - acked > WINDOW - len(chunk):
                done.wait(1.0)
        sock.sendall(b"".join(chunk))
        sent += len(chunk)
    handed = time.time()
    deadline = time.monotonic() + 300
    with done:
        while acked < sent and time.monotonic() < deadline:
            done.wait(0.5)
    sock.sendall(b"\xe0\x00")
    sock.close()
    return {
        "sent": sent,
        "acked": acked,
        "failed": sent - acked,
        "start": started,
        "handed": handed,
        "end": last_ack,
    }


def subscribe(host: str, port: int, topic_filter: str, count: int) -> dict[str, Any]:
    lock = threading.Lock()
    received = 0
    first = 0.0
    last = 0.0
    subscribed = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        nonlocal received, first, last
        now = time.time()
        with lock:
            if received == 0:
                first = now
            received += 1
            last = now

    def on_subscribe(client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        subscribed.set()

    client = _client(f"kc-bench-sub-{time.monotonic_ns()}")
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.connect(host, port, keepalive=60)
    client.subscribe(topic_filter, qos=1)
    client.loop_start()
    if not subscribed.wait(10):
        raise SystemExit("no SUBACK from the broker")
    print("ready", flush=True)
    idle_since = time.monotonic()
    seen = 0
    while True:
        time.sleep(0.05)
        with lock:
            now_count = received
        if now_count >= count:
            break
        if now_count != seen:
            seen = now_count
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > 10:
            break
    client.disconnect()
    client.loop_stop()
    return {"received": received, "first": first, "last": last}


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser("publish")
    pub.add_argument("host")
    pub.add_argument("port", type=int)
    pub.add_argument("file", type=Path)
    rec = sub.add_parser("subscribe")
    rec.add_argument("host")
    rec.add_argument("port", type=int)
    rec.add_argument("filter")
    rec.add_argument("count", type=int)
    args = parser.parse_args()
    if args.command == "publish":
        result = publish(args.host, args.port, args.file)
    else:
        result = subscribe(args.host, args.port, args.filter, args.count)
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
