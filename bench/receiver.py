"""A notification receiver (bare ASGI, run by uvicorn): it records when each POST arrived.

``POST /notify/<anything>`` is answered 204 at once, after noting ``time.time()`` and the body;
``GET /results`` returns, for every entity of every notification, ``[arrival, path, id, sentAt,
modifiedAt]`` (the last two read from the entity: ``sentAt`` is the sender's clock when it built
the update, ``modifiedAt`` the hub's when it wrote it). ``POST /echo`` only answers 204: the raw
round trip the benchmark compares with.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Message = MutableMapping[str, Any]
_received: list[tuple[float, str, bytes]] = []


def _value(attr: Any) -> Any:
    return attr.get("value") if isinstance(attr, dict) else attr


def _seconds(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def results() -> list[list[Any]]:
    out: list[list[Any]] = []
    for arrival, path, body in _received:
        data = orjson.loads(body).get("data", [])
        for entity in data:
            sent = _value(entity.get("sentAt"))
            modified = entity.get("modifiedAt")
            out.append([arrival, path, entity.get("id"), sent, _seconds(modified) if modified else None])
    return out


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    arrival = time.time()
    path: str = scope["path"]
    if scope["method"] == "POST" and path.startswith("/notify/"):
        _received.append((arrival, path, b"".join(chunks)))
    body = b""
    status = 204
    if scope["method"] == "GET" and path == "/results":
        body, status = orjson.dumps(results()), 200
    elif scope["method"] == "GET" and path == "/count":
        body, status = orjson.dumps(len(_received)), 200
    elif scope["method"] == "GET" and path == "/healthz":
        body, status = b"{}", 200
    elif scope["method"] == "POST" and path == "/reset":
        _received.clear()
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})
