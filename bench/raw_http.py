"""A keep-alive HTTP/1.1 load generator on raw asyncio sockets, run in its own process.

``python -m bench.raw_http HOST PORT REQUESTS [--concurrency 8 --warmup 2 --duration 10]`` sends the
pre-encoded requests of the file (``bench.http_load`` framing: length-prefixed) in turn from
``concurrency`` connections, and prints one JSON line: responses by status counted over the measured
window (after the warm-up), its length in seconds, per-request latencies (ms) and the first error
answers. No HTTP library on the client's side: at a few thousand small requests a second httpx would
measure itself, not the server (the same reason as ``bench.mqtt_clients``' socket-level publisher).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench import http_load
from bench.common import ROOT, free_port


def raw_requests(
    method: str,
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    *,
    content_type: str = "application/json",
) -> list[bytes]:
    """Pre-encoded HTTP/1.1 keep-alive requests (one per body; one without a body for GET)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    if method == "GET":
        return [("\r\n".join(lines) + "\r\n\r\n").encode()]
    out = []
    for body in bodies:
        head = [*lines, f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        out.append(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return out


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length) if length else b""
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def _load(
    host: str, port: int, requests: list[bytes], concurrency: int, warmup: float, duration: float
) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    measure_from = start + warmup
    deadline = measure_from + duration
    last_done = measure_from

    async def worker(first: int) -> None:
        nonlocal last_done
        index = first
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                sent = time.perf_counter()
                if sent >= deadline:
                    return
                writer.write(requests[index % len(requests)])
                index += concurrency
                try:
                    status, body = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    statuses[0] = statuses.get(0, 0) + 1
                    if len(errors) < 5:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                done = time.perf_counter()
                if sent >= measure_from:
                    statuses[status] = statuses.get(status, 0) + 1
                    latencies.append((done - sent) * 1000)
                    last_done = max(last_done, done)
                    if status >= 300 and len(errors) < 5:
                        errors.append(f"{status}: {body[:300].decode(errors='replace')}")
        finally:
            writer.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return {
        "statuses": {str(k): v for k, v in statuses.items()},
        "elapsed": last_done - measure_from,
        "latencies_ms": latencies,
        "errors": errors,
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.raw_http")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("requests", type=Path, help="pre-encoded requests (bench.http_load framing)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # plain asyncio is slower but works
        pass
    result = asyncio.run(
        _load(
            args.host,
            args.port,
            http_load.read_bodies(args.requests),
            args.concurrency,
            args.warmup,
            args.duration,
        )
    )
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")


def run_load(
    base: str, requests: list[bytes], where: Path, *, concurrency: int, warmup: float, duration: float
) -> dict[str, Any]:
    """The load generator in its own process (the server keeps its core)."""
    path = where / f"requests-{free_port()}.bin"
    http_load.write_bodies(path, requests)
    parts = urlsplit(base)
    args = [
        sys.executable,
        "-m",
        "bench.raw_http",
        parts.hostname or "127.0.0.1",
        str(parts.port),
        str(path),
        f"--concurrency={concurrency}",
        f"--warmup={warmup}",
        f"--duration={duration}",
    ]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, timeout=warmup + duration + 120, check=False)
    path.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def rate(result: dict[str, Any], ok: tuple[str, ...]) -> float:
    done: int = sum(v for k, v in result["statuses"].items() if k in ok)
    return done / max(float(result["elapsed"]), 1e-9)


if __name__ == "__main__":
    main(sys.argv[1:])
