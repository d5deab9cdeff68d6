"""HTTP load generator, run in its own process: POSTs prepared bodies over keep-alive connections.

``python -m bench.http_load URL BODIES_FILE --concurrency 4 --duration 10 [--header K:V ...]``
reads bodies written by ``write_bodies`` (length-prefixed), sends them in turn from ``concurrency``
connections until ``duration`` seconds have passed (or each body once with ``--once``), and prints
one JSON line: requests by status, elapsed seconds, per-request latencies (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import orjson


def write_bodies(path: Path, bodies: list[bytes]) -> None:
    with path.open("wb") as out:
        for body in bodies:
            out.write(struct.pack("<I", len(body)))
            out.write(body)


def read_bodies(path: Path) -> list[bytes]:
    data = path.read_bytes()
    bodies = []
    pos = 0
    while pos < len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        bodies.append(data[pos : pos + size])
        pos += size
    return bodies


async def run(
    url: str, bodies: list[bytes], headers: dict[str, str], concurrency: int, duration: float, once: bool
) -> dict[str, object]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    next_index = 0
    total = len(bodies)
    async with httpx.AsyncClient(limits=limits, timeout=120, headers=headers) as client:
        start = time.perf_counter()
        deadline = start + duration
        last_done = start

        async def worker() -> None:
            nonlocal next_index, last_done
            while True:
                if once and next_index >= total:
                    return
                if not once and time.perf_counter() >= deadline:
                    return
                body = bodies[next_index % total]
                next_index += 1
                sent = time.perf_counter()
                try:
                    resp = await client.post(url, content=body)
                except httpx.HTTPError as exc:
                    text = f"{type(exc).__name__}: {exc}"
                    if text not in errors:
                        errors.append(text)
                    statuses[0] += 1
                    continue
                done = time.perf_counter()
                statuses[resp.status_code] += 1
                if resp.status_code >= 300 and f"{resp.status_code}: {resp.text[:200]}" not in errors:
                    errors.append(f"{resp.status_code}: {resp.text[:200]}")
                latencies.append((done - sent) * 1000)
                last_done = max(last_done, done)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "statuses": {str(k): v for k, v in statuses.items()},
        "elapsed": last_done - start,
        "latencies_ms": latencies,
        "errors": errors[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("bodies", type=Path)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--once", action="store_true", help="send each body once, then stop")
    parser.add_argument("--header", action="append", default=[], help="Name:value")
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    result = asyncio.run(
        run(args.url, read_bodies(args.bodies), headers, args.concurrency, args.duration, args.once)
    )
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")


if __name__ == "__main__":
    main()
