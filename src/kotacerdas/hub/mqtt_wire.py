"""A lean MQTT v5 client for the ingest: one asyncio connection, PUBLISH packets parsed in bulk.

Written from the OASIS MQTT Version 5.0 standard for the one job ingest has, because paho's
per-message Python path (a ``MQTTMessage`` object, a callback, its locks) costs more than the whole
ingest may spend on a message. What it does:

- CONNECT with a fixed client id, ``clean_start=False``, a Session Expiry Interval and a Receive
  Maximum (MQTT v5 3.1.2.11): the broker keeps our session, and with it every message not yet
  acknowledged, while we are away, and keeps up to Receive Maximum messages in flight to us;
- SUBSCRIBE (QoS 1, optionally No Local and Retain Handling 1, 3.8.3.1);
- every socket read is cut into packets at once (``PacketReader.feed``): a PUBLISH becomes a tuple
  ``(topic, payload, packet id, first byte)``, no more; a packet split across reads waits for the rest;
- PUBACKs are written only when the caller says so (``send_acks``, after its commit), never on receipt;
  acknowledgements meant for an earlier connection are dropped (their packet ids mean nothing now:
  the broker redelivers those messages, 4.4);
- QoS 1 PUBLISH out (the dead letters) within the broker's Receive Maximum, sent again with DUP on
  reconnect until acknowledged;
- PINGREQ when nothing was sent for the keep-alive interval, the connection dropped when the broker
  stays silent past 1.5 times it; DISCONNECT on stop; reconnection with a growing pause (1 to 30 s).

Topic aliases are not offered (Topic Alias Maximum 0), so every PUBLISH carries its topic name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

logger = logging.getLogger("kotacerdas.hub.ingest")

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
PINGREQ, PINGRESP, DISCONNECT, AUTH = 12, 13, 14, 15
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"  # reason 0, normal disconnection (the reason may be left out, 3.14.2.1)
MAX_REMAINING = 268_435_455  # the largest remaining length four varint bytes hold (1.5.5)

# A received PUBLISH: topic name (raw UTF-8), payload, packet id (0 at QoS 0), the fixed header's
# first byte (DUP 0x08, QoS (b >> 1) & 3, RETAIN 0x01).
Received = tuple[bytes, bytes, int, int]

REASONS = {
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8E: "session taken over",
    0x8F: "topic filter invalid",
    0x97: "quota exceeded",
    0x9E: "shared subscriptions not supported",
}


class ProtocolError(ConnectionError):
    """The broker sent something this client cannot take; the connection is dropped."""


class Refused(ConnectionError):
    """The broker refused the connection or a subscription (a reason code of 0x80 or more)."""


def reason_text(code: int) -> str:
    return f"{REASONS.get(code, 'reason')} (0x{code:02X})"


# ---------------------------------------------------------------------------------- encoding


def encode_varint(n: int) -> bytes:
    """Variable Byte Integer (1.5.5): seven bits a byte, low first, the top bit says more follow."""
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError(f"{n} does not fit a variable byte integer")
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); value -1 when ``data`` ends inside it."""
    value = shift = 0
    for i in range(pos, min(pos + 4, len(data))):
        byte = data[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    if len(data) - pos >= 4:
        raise ProtocolError("a variable byte integer longer than four bytes")
    return -1, pos


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_varint(len(body)) + body


def utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def encode_connect(
    client_id: str,
    *,
    keepalive: int,
    session_expiry: int,
    receive_maximum: int,
    clean_start: bool = False,
    username: str = "",
    password: str = "",
) -> bytes:
    flags = (0x02 if clean_start else 0) | (0x80 if username else 0) | (0x40 if password else 0)
    props = b"\x11" + struct.pack("!I", session_expiry) + b"\x21" + struct.pack("!H", receive_maximum)
    body = b"\x00\x04MQTT\x05" + bytes([flags]) + struct.pack("!H", keepalive)
    body += encode_varint(len(props)) + props + utf8(client_id)
    if username:
        body += utf8(username)
    if password:
        body += utf8(password)  # Binary Data: the same two-byte length prefix (1.5.6)
    return packet(CONNECT << 4, body)


def subscription_options(*, qos: int = 1, no_local: bool = False, retain_handling: int = 0) -> int:
    return qos | (0x04 if no_local else 0) | (retain_handling << 4)


def encode_subscribe(packet_id: int, filters: Iterable[tuple[str, int]]) -> bytes:
    body = struct.pack("!H", packet_id) + b"\x00"
    for topic_filter, options in filters:
        body += utf8(topic_filter) + bytes([options])
    return packet(SUBSCRIBE << 4 | 0x02, body)


def encode_publish(
    topic: str, payload: bytes, *, qos: int = 0, packet_id: int = 0, dup: bool = False
) -> bytes:
    first = PUBLISH << 4 | qos << 1 | (0x08 if dup else 0)
    body = utf8(topic) + (struct.pack("!H", packet_id) if qos else b"") + b"\x00" + payload
    return packet(first, body)


def encode_pubacks(packet_ids: list[int]) -> bytes:
    """PUBACK packets (reason 0 left out, 3.4.2.1), all in one ``struct.pack``."""
    return struct.pack(f"!{len(packet_ids)}I", *[0x40020000 | pid for pid in packet_ids])


# ---------------------------------------------------------------------------------- decoding


class PacketReader:
    """Cuts a byte stream into packets. ``feed`` returns the complete PUBLISH packets as tuples and
    the other packets as ``(type, first byte, body)``, in the order they came; an incomplete packet's
    bytes wait for the next read."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> tuple[list[Received], list[tuple[int, int, bytes]]]:
        if self._rest:
            data = self._rest + data
        publishes: list[Received] = []
        control: list[tuple[int, int, bytes]] = []
        append = publishes.append
        end = len(data)
        pos = 0
        while end - pos >= 2:
            first = data[pos]
            length = data[pos + 1]
            if length < 0x80:
                start = pos + 2
            else:
                length, start = decode_varint(data, pos + 1)
                if length < 0:
                    break
            stop = start + length
            if stop > end:
                break
            if first >> 4 == PUBLISH:
                at = start + 2 + (data[start] << 8 | data[start + 1])
                topic = data[start + 2 : at]
                if first & 0x06:
                    pid = data[at] << 8 | data[at + 1]
                    at += 2
                else:
                    pid = 0
                props = data[at]
                if props < 0x80:
                    at += 1 + props
                else:
                    props, at = decode_varint(data, at)
                    at += props
                if at > stop:
                    raise ProtocolError("a PUBLISH packet shorter than its own header")
                append((topic, data[at:stop], pid, first))
            else:
                control.append((first >> 4, first, data[start:stop]))
            pos = stop
        self._rest = data[pos:]
        return publishes, control

    def __len__(self) -> int:
        return len(self._rest)


def skip_properties(body: bytes, pos: int) -> tuple[dict[int, int], int]:
    """The integer properties of a CONNACK or SUBACK (2.2.2.2), and the position after them."""
    length, pos = decode_varint(body, pos)
    if length < 0 or pos + length > len(body):
        raise ProtocolError("properties longer than their packet")
    stop = pos + length
    found: dict[int, int] = {}
    while pos < stop:
        ident = body[pos]
        pos += 1
        if ident in (0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A):
            found[ident] = body[pos]
            pos += 1
        elif ident in (0x13, 0x21, 0x22, 0x23):
            found[ident] = body[pos] << 8 | body[pos + 1]
            pos += 2
        elif ident in (0x02, 0x11, 0x18, 0x27):
            found[ident] = int.from_bytes(body[pos : pos + 4], "big")
            pos += 4
        elif ident == 0x0B:
            found[ident], pos = decode_varint(body, pos)
        elif ident in (0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F):
            pos += 2 + (body[pos] << 8 | body[pos + 1])
        elif ident == 0x26:  # User Property: a string pair
            pos += 2 + (body[pos] << 8 | body[pos + 1])
            pos += 2 + (body[pos] << 8 | body[pos + 1])
        else:
            raise ProtocolError(f"unknown property 0x{ident:02X}")
    return found, stop


# ---------------------------------------------------------------------------------- the client


@dataclass
class WireConfig:
    host: str
    port: int
    client_id: str
    subscriptions: tuple[tuple[str, int], ...]  # (filter, subscription options)
    keepalive: int = 30
    session_expiry: int = 7 * 24 * 3600
    receive_maximum: int = 65535
    username: str = ""
    password: str = ""
    read_size: int = 1 << 18
    retry_max: float = 30.0


class WireClient:
    """One MQTT connection kept up by ``run()`` (in its own event loop); other threads use only
    ``send_acks``, ``publish``, ``pause_reading``, ``resume_reading`` and ``stop``.

    ``on_publishes(messages, connection)`` runs in the loop for every socket read that completed
    PUBLISH packets; ``connection`` numbers the connection, to hand back to ``send_acks``.
    ``on_ready(session_present)`` runs once the subscription holds (or the session was resumed),
    ``on_lost(reason)`` when a connection ends, ``on_failed(reason)`` when the first connection cannot
    be made (``run`` then returns).
    """

    def __init__(
        self,
        config: WireConfig,
        *,
        on_publishes: Callable[[list[Received], int], None],
        on_ready: Callable[[bool], None],
        on_lost: Callable[[str], None],
        on_failed: Callable[[str], None],
    ) -> None:
        self.config = config
        self.connection = 0
        self.connected = False
        self._on_publishes = on_publishes
        self._on_ready = on_ready
        self._on_lost = on_lost
        self._on_failed = on_failed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._stopping = False
        self._stopped: asyncio.Event | None = None
        self._last_sent = 0.0
        self._last_heard = 0.0
        self._outgoing: dict[int, bytes] = {}  # our QoS 1 PUBLISH packets the broker has not acknowledged
        self._queued: deque[bytes] = deque()  # waiting for room in the broker's Receive Maximum
        self._next_id = 0
        self._send_quota = 65535
        self._reading = asyncio.Event()  # cleared: reading paused (created here, used only in the loop)
        self._reading.set()
        self._established = False  # this connection got its CONNACK
        self._ever_ready = False  # some connection got as far as its subscription

    # ------------------------------------------------------------------- from other threads
    def send_acks(self, packet_ids: list[int], connection: int) -> None:
        """Acknowledge (PUBACK) these messages, if the connection they came by is still the current one."""
        if packet_ids:
            self._call(self._write_acks, packet_ids, connection)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish with QoS 1; kept (and sent again after a reconnect) until the broker acknowledges."""
        self._call(self._publish, topic, payload)

    def stop(self) -> None:
        """Disconnect (after the acknowledgements already handed to ``send_acks``) and end ``run``."""
        self._call(self._stop)

    def pause_reading(self) -> None:
        """Deliver nothing more until ``resume_reading``: the caller has enough waiting. At most the
        read under way is held; the broker's other messages stay in TCP buffers and with the broker
        (flow control), not in our memory."""
        self._call(self._reading.clear)

    def resume_reading(self) -> None:
        self._call(self._reading.set)

    def _call(self, func: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended: there is no connection left
                loop.call_soon_threadsafe(func, *args)

    # --------------------------------------------------------------------------- in the loop
    def _write_acks(self, packet_ids: list[int], connection: int) -> None:
        if connection == self.connection and self._writer is not None:
            self._send(encode_pubacks(packet_ids))

    def _send(self, data: bytes) -> None:
        if self._stopping:  # our DISCONNECT is out: nothing may follow it
            return
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)
            self._last_sent = time.monotonic()

    def _publish(self, topic: str, payload: bytes) -> None:
        self._queued.append(encode_publish(topic, payload, qos=1, packet_id=0))
        self._flush_outgoing()

    def _flush_outgoing(self) -> None:
        if not self.connected:
            return
        while self._queued and len(self._outgoing) < self._send_quota:
            pid = self._free_id()
            raw = self._queued.popleft()
            # the packet id sits after the topic: patch it into the encoded packet
            _length, start = decode_varint(raw, 1)
            at = start + 2 + (raw[start] << 8 | raw[start + 1])
            raw = raw[:at] + struct.pack("!H", pid) + raw[at + 2 :]
            self._outgoing[pid] = raw
            self._send(raw)

    def _free_id(self) -> int:
        while True:
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._outgoing:
                return self._next_id

    def _stop(self) -> None:
        """DISCONNECT, then a half-close: the broker reads everything we sent (the last PUBACKs)
        and closes its side; we read until then. Closing at once could make the kernel answer the
        broker's late bytes with a reset, and a reset can discard our PUBACKs still unread there."""
        self._stopping = True
        self._reading.set()
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(DISCONNECT_PACKET)
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
            if self._loop is not None:  # a broker that never closes its side is not waited for long
                self._loop.call_later(5.0, writer.transport.abort)
        if self._stopped is not None:
            self._stopped.set()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        delay = 1.0
        while not self._stopping:
            self._established = False
            try:
                await self._connection()
            except (OSError, EOFError) as exc:  # ProtocolError and Refused are ConnectionErrors
                reason = str(exc) or type(exc).__name__
                if not self._ever_ready:  # never got going: the caller decides (ingest refuses to start)
                    self._on_failed(reason)
                    self._stopping = True
                else:
                    logger.warning(
                        "MQTT connection to %s:%s failed: %s", self.config.host, self.config.port, reason
                    )
            finally:
                await self._close()
            if self._established:
                delay = 1.0
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)
            delay = min(self.config.retry_max, delay * 2)

    async def _close(self) -> None:
        writer, self._writer = self._writer, None
        was = self.connected
        self.connected = False
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2.0)
        if was:
            # first forget, then number the next connection: acknowledgements computed before
            # this point carry the old number and are dropped by _write_acks
            self._on_lost("stopped" if self._stopping else "connection lost")
            self.connection += 1

    async def _connection(self) -> None:
        """One connection, from CONNECT to its end."""
        cfg = self.config
        reader, writer = await asyncio.wait_for(asyncio.open_connection(cfg.host, cfg.port), 10.0)
        self._writer = writer
        self._send(
            encode_connect(
                cfg.client_id,
                keepalive=cfg.keepalive,
                session_expiry=cfg.session_expiry,
                receive_maximum=cfg.receive_maximum,
                username=cfg.username,
                password=cfg.password,
            )
        )
        packets = PacketReader()
        session_present, publishes, control = await self._handshake(reader, packets)
        self._established = self.connected = True
        self._resend(session_present)
        if session_present:
            self._ready(True)  # the broker kept our subscriptions; its queued messages come first
        else:
            self._send(encode_subscribe(self._free_id(), cfg.subscriptions))
        keepalive = asyncio.ensure_future(self._keepalive())
        try:
            while True:
                if self._stopping:  # after our DISCONNECT: read until the broker closes, deliver nothing
                    publishes, control = [], []
                for kind, head, body in control:
                    self._control(kind, head, body)
                if publishes:
                    self._on_publishes(publishes, self.connection)
                if not self._reading.is_set():
                    await self._reading.wait()
                data = await reader.read(cfg.read_size)
                if not data:
                    if self._stopping:
                        return
                    raise EOFError("the broker closed the connection")
                self._last_heard = time.monotonic()
                if not self._reading.is_set():  # paused while this read was under way: hold it
                    await self._reading.wait()
                publishes, control = packets.feed(data)
        finally:
            keepalive.cancel()

    def _ready(self, session_present: bool) -> None:
        self._ever_ready = True
        self._on_ready(session_present)

    async def _handshake(
        self, reader: asyncio.StreamReader, packets: PacketReader
    ) -> tuple[bool, list[Received], list[tuple[int, int, bytes]]]:
        """CONNACK's session-present flag, and the packets that came right behind it in the same read."""
        deadline = time.monotonic() + 10.0
        while True:
            data = await asyncio.wait_for(
                reader.read(self.config.read_size), max(0.1, deadline - time.monotonic())
            )
            if not data:
                raise EOFError("the broker closed the connection before CONNACK")
            publishes, control = packets.feed(data)
            if control and control[0][0] == CONNACK:
                break
            if publishes or control:
                raise ProtocolError("the broker's first packet is not CONNACK")
        body = control[0][2]
        if len(body) < 2:
            raise ProtocolError("a CONNACK too short")
        if body[1] >= 0x80:
            raise Refused(f"the MQTT broker refused the connection: {reason_text(body[1])}")
        props, _ = skip_properties(body, 2)
        self._send_quota = props.get(0x21, 65535)
        if props.get(0x13):  # Server Keep Alive overrides ours (3.2.2.3.14)
            self.config.keepalive = props[0x13]
        self._last_heard = time.monotonic()
        return bool(body[0] & 0x01), publishes, control[1:]

    def _resend(self, session_present: bool) -> None:
        """Our unacknowledged PUBLISH packets go out again: on a resumed session with their packet ids
        and DUP (4.4), on a new one as new messages."""
        if session_present:
            for raw in self._outgoing.values():
                self._send(bytes([raw[0] | 0x08]) + raw[1:])
        else:
            self._queued.extendleft(reversed(list(self._outgoing.values())))
            self._outgoing.clear()
        self._flush_outgoing()

    def _control(self, kind: int, head: int, body: bytes) -> None:
        if kind == PUBACK:
            self._outgoing.pop(body[0] << 8 | body[1], None)
            self._flush_outgoing()
        elif kind == SUBACK:
            _props, pos = skip_properties(body, 2)
            refused = [reason_text(code) for code in body[pos:] if code >= 0x80]
            if refused:
                raise Refused(f"the MQTT broker refused the subscription: {', '.join(refused)}")
            self._ready(False)
        elif kind == DISCONNECT:
            raise ProtocolError(f"the broker disconnected us: {reason_text(body[0]) if body else 'normal'}")
        elif kind not in (PINGRESP, AUTH):
            raise ProtocolError(f"an unexpected packet of type {kind}")

    async def _keepalive(self) -> None:
        """PINGREQ when we said nothing for the keep-alive interval; silence from the broker for
        1.5 times it ends the connection (3.1.2.10)."""
        interval = self.config.keepalive
        if not interval:
            return
        while True:
            await asyncio.sleep(min(interval / 2, 5.0))
            now = time.monotonic()
            if not self._reading.is_set():
                self._last_heard = now  # we do not read: the broker's answers wait in the socket
            if now - self._last_heard > interval * 1.5:
                logger.warning("the MQTT broker did not answer within %s s", interval * 1.5)
                if self._writer is not None:
                    self._writer.transport.abort()
                return
            if now - self._last_sent >= interval / 2 or now - self._last_heard >= interval / 2:
                self._send(PINGREQ_PACKET)


__all__ = [
    "MAX_REMAINING",
    "PacketReader",
    "ProtocolError",
    "Received",
    "Refused",
    "WireClient",
    "WireConfig",
    "decode_varint",
    "encode_connect",
    "encode_pubacks",
    "encode_publish",
    "encode_subscribe",
    "encode_varint",
    "subscription_options",
]
