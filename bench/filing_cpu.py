"""CPU per filed report through the app, in process: the server's side of ``bench.reports`` filing.

``python -m bench.filing_cpu [api|open311|healthz] [N] [--concurrent C] [--profile]`` builds the
benchmark's database (``bench.citizen_data.prepare``: Jember, its kecamatan and categories, the filing
key), then sends N requests straight to the app's ASGI callable (no socket, no client), one after the
other or C at a time (``--concurrent``: as C clients would, so that filings queue for the SQLite
writer thread), and prints the wall and CPU time (``time.process_time``: every thread of the
process) per request. The HTTP
figures of ``bench.reports`` depend on how much of a core the server gets on a shared machine; this
one much less. ``--profile`` runs the write unit of work in the event loop's thread (instead of the
SQLite writer thread or the threadpool) so that cProfile sees the whole request, and prints the top
of the profile.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.citizen_data import open311_bodies, prepare, report_bodies
from bench.common import REGION_CODE

PATHS = {
    "api": f"/api/v1/regions/{REGION_CODE}/reports",
    "open311": "/open311/v2/requests.json",
    "healthz": "/healthz",
}
WARMUP = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(PATHS), nargs="?", default="api")
    parser.add_argument("n", type=int, nargs="?", default=500)
    parser.add_argument("--concurrent", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    from kotacerdas.app import create_app
    from kotacerdas.config import Settings
    from kotacerdas.db import make_engine

    with tempfile.TemporaryDirectory(prefix="kc-bench-filing-cpu-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'filing.sqlite3'}"
        setup = prepare(url)
        engine = make_engine(url)
        settings = Settings(
            database_url=url,
            data_dir=Path(tmp) / "data",
            log_level="warning",
            default_region=REGION_CODE,
            embedded_worker=False,
        )
        app = create_app(settings, engine=engine)
        if args.profile:
            _inline_writes()
        headers: list[tuple[bytes, bytes]] = []
        if args.kind == "api":
            bodies = report_bodies(setup, args.n + WARMUP)
            headers = [
                (b"authorization", f"Bearer {setup.file_key}".encode()),
                (b"content-type", b"application/json"),
            ]
        elif args.kind == "open311":
            bodies = open311_bodies(setup, args.n + WARMUP)
            headers = [(b"content-type", b"application/x-www-form-urlencoded")]
        else:
            bodies = [b""] * (args.n + WARMUP)
        send = _sender(app, "GET" if args.kind == "healthz" else "POST", PATHS[args.kind], headers)
        try:
            profile = asyncio.run(_run(send, bodies, args.n, args.profile, args.concurrent))
        finally:
            engine.dispose()
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(60)


def _inline_writes() -> None:
    """``run_write`` without its thread: the unit of work in the caller's thread (profiling only)."""
    from kotacerdas.citizen import api, open311
    from kotacerdas.db import unit_of_work

    async def inline(request: Any, work: Callable[[Any], Any]) -> Any:
        with unit_of_work(request.app.state.session_factory, write=True) as session:
            return work(session)

    api.run_write = inline  # type: ignore[attr-defined]
    open311.run_write = inline  # type: ignore[attr-defined]


def _sender(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Callable[[bytes], Any]:
    async def send_one(body: bytes) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [*headers, (b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            return {"type": "http.disconnect"}

        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        if statuses[0] not in (200, 201):
            raise RuntimeError(f"{method} {path}: HTTP {statuses[0]}")

    return send_one


async def _run(
    send: Callable[[bytes], Any], bodies: list[bytes], n: int, profile: bool, concurrent: int = 1
) -> cProfile.Profile | None:
    for body in bodies[:WARMUP]:
        await send(body)
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    wall, cpu = time.perf_counter(), time.process_time()
    todo = iter(bodies[WARMUP:])

    async def client() -> None:  # one request after the other, as one connection would
        for body in todo:
            await send(body)

    await asyncio.gather(*(client() for _ in range(max(1, concurrent))))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
    print(f"{n} requests: {wall / n * 1000:.2f} ms wall, {cpu / n * 1000:.2f} ms CPU per request")
    return profiler


if __name__ == "__main__":
    main()
