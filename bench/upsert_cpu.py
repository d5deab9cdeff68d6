"""CPU per upserted entity through the app, in process: the server's side of ``bench.upsert``.

``python -m bench.upsert_cpu [--sensors N] [--rounds R] [--concurrency C ...] [--repeat K]
[--modes writer threadpool] [--worker] [--profile]``
builds the benchmark's hub database (``bench.common.prepare_hub``) and load (``bench.upsert.make_load``:
batches of 1,000 TrafficFlowObserved entities), creates the entities with a first round, then sends
the later rounds straight to the app's ASGI callable (no socket, no client) with C requests in flight
at once (``asyncio.gather``), and prints wall and CPU time (``time.process_time``: every thread of the
process) per entity and the garbage collections per generation (``gc.callbacks``). It also times
``service.upsert_entities`` alone (orjson, parse, SQL, commit; no HTTP) on the same kind of database:
the difference is what the HTTP path adds. Each measurement also shows the CPU of each thread (the
event loop, the SQLite writer, the notifier; clock ticks, so coarse) and ``--repeat`` measures all
in turn K times and prints min and median. ``--modes threadpool`` runs the write unit of work in the
threadpool under the write lock (the path before the writer thread) for comparison. ``--worker``
runs the embedded worker (the notifier) as ``kotacerdas serve`` does. ``--profile`` runs the
request's work in the event loop's thread (no threadpool, concurrency 1) so that cProfile sees the
whole request, and prints the top of the profile (``SORT=tottime`` to order by own time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.common import REGION_CODE, key_principal, prepare_hub
from bench.upsert import BATCH, UPSERT_PATH, Load, make_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after the creating one")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--worker", action="store_true", help="run the embedded worker (the notifier)")
    parser.add_argument("--repeat", type=int, default=1, help="measure everything this many times, in turn")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=["writer", "threadpool"],
        default=["writer"],
        help="where the write unit of work runs: the SQLite writer thread (as served) or, as before, "
        "the threadpool under the write lock",
    )
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    modes = [mode == "writer" for mode in args.modes]
    phases = 1 + (1 if args.profile else len(args.concurrency) * len(modes))
    load = make_load(args.sensors, 1 + args.rounds * phases * args.repeat)
    with tempfile.TemporaryDirectory(prefix="kc-bench-upsert-cpu-") as tmp:
        rounds = iter(load.rounds[1:])
        service = _service(f"sqlite:///{Path(tmp) / 'service.sqlite3'}", load)
        http, stop = _http(Path(tmp), load, args)
        profile: cProfile.Profile | None = None
        try:
            for _ in range(args.repeat):
                _print(
                    "upsert_entities alone", *service([b for _ in range(args.rounds) for b in next(rounds)])
                )
                for concurrency in [1] if args.profile else args.concurrency:
                    for writer in modes:
                        bodies = [b for _ in range(args.rounds) for b in next(rounds)]
                        profile = http(bodies, concurrency, args.profile, writer)
        finally:
            stop()
        _summary()
    if profile is not None:
        pstats.Stats(profile).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(70)


class _Collections:
    """Garbage collections per generation while counting."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.seconds = 0.0
        self._start = 0.0
        self.threads: dict[str, float] = {}  # CPU µs per entity by thread name

    def __enter__(self) -> _Collections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.counts[info["generation"]] += 1
            self.seconds += time.perf_counter() - self._start


_seen: dict[str, list[tuple[float, float]]] = {}
_batches: list[tuple[float, float]] = []  # upsert_entities alone: (median batch, mean) CPU µs per entity


def _summary() -> None:
    print(
        "upsert_entities alone, CPU µs per entity of the median batch vs the mean of all (the mean "
        "carries the WAL checkpoints): "
        + ", ".join(f"{median:.1f} vs {mean:.1f}" for median, mean in _batches)
    )
    print("CPU µs per entity, min / median over the repeats (wall µs in brackets):")
    for what, figures in _seen.items():
        cpu = sorted(c for _w, c in figures)
        wall = sorted(w for w, _c in figures)
        print(
            f"{what:>34}: {cpu[0]:6.1f} / {cpu[len(cpu) // 2]:6.1f}"
            f"   ({wall[0]:6.1f} / {wall[len(wall) // 2]:6.1f})"
        )


def _print(what: str, entities: int, wall: float, cpu: float, collections: _Collections) -> None:
    _seen.setdefault(what, []).append((wall / entities * 1e6, cpu / entities * 1e6))
    gcs = ", ".join(f"gen{g} {collections.counts[g]}" for g in range(3))
    print(
        f"{what:>34}: {entities:>6} entities, {wall / entities * 1e6:6.1f} µs wall, "
        f"{cpu / entities * 1e6:6.1f} µs CPU per entity ({entities / wall:,.0f}/s wall); "
        f"gc {gcs}, {collections.seconds / entities * 1e6:.1f} µs/entity"
    )
    print(" " * 36 + "threads: " + ", ".join(f"{n} {v:.1f}" for n, v in sorted(collections.threads.items())))


Measure = tuple[int, float, float, _Collections]


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's threads so far, by thread name (Linux; a thread that ended is
    no longer counted)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    names = {t.native_id: t.name for t in threading.enumerate()}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = names.get(int(task.name), "?")
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        key = re.sub(r"[-_ ]?\d+$", "", name)
        out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def _measure(run: Callable[[], None], entities: int) -> Measure:
    with _Collections() as collections:
        threads = _thread_cpu()
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = _thread_cpu()
    collections.threads = {
        name: (seconds - threads.get(name, 0.0)) / entities * 1e6
        for name, seconds in after.items()
        if seconds > threads.get(name, 0.0)
    }
    return entities, wall, cpu, collections


def _service(url: str, load: Load) -> Callable[[list[bytes]], Measure]:
    """``service.upsert_entities`` in its own unit of work per batch, on a database of its own."""
    from kotacerdas.db import make_engine, make_session_factory, unit_of_work
    from kotacerdas.hub import service
    from kotacerdas.hub.context import ContextResolver
    from kotacerdas.kit.runtime import tune_gc

    hub = prepare_hub(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    ctx = ContextResolver(preloaded=lambda _url: None).core
    principal = key_principal(hub)
    tune_gc()

    def write(body: bytes) -> None:
        with unit_of_work(factory, write=True) as session:
            outcome = service.upsert_entities(
                session, region_id=hub.region_id, principal=principal, entities=orjson.loads(body), ctx=ctx
            )
        if outcome.errors:
            raise RuntimeError(f"service refused entities: {outcome.errors[:3]}")

    for body in load.rounds[0]:
        write(body)

    def measure(bodies: list[bytes]) -> Measure:
        per_batch: list[float] = []

        def run() -> None:
            for body in bodies:
                cpu = time.process_time()
                write(body)
                per_batch.append(time.process_time() - cpu)

        measured = _measure(run, len(bodies) * BATCH)
        per_batch.sort()
        _batches.append(
            (per_batch[len(per_batch) // 2] / BATCH * 1e6, sum(per_batch) / len(bodies) / BATCH * 1e6)
        )
        return measured

    return measure


def _http(
    tmp: Path, load: Load, args: argparse.Namespace
) -> tuple[Callable[[list[bytes], int, bool, bool], cProfile.Profile | None], Callable[[], None]]:
    """The app on a database of its own, the entities created; returns the measuring function and
    the one that stops it all."""
    from kotacerdas.app import create_app
    from kotacerdas.config import Settings
    from kotacerdas.db import make_engine

    url = f"sqlite:///{tmp / 'hub.sqlite3'}"
    hub = prepare_hub(url)
    engine = make_engine(url)
    settings = Settings(
        database_url=url,
        data_dir=tmp / "data",
        log_level="warning",
        default_region=REGION_CODE,
        embedded_worker=args.worker,
    )
    app = create_app(settings, engine=engine)
    stop_worker: Callable[[], None] | None = None
    if args.worker:
        from kotacerdas.worker import start_embedded

        stop_worker = start_embedded(app)
    if args.profile:
        _inline_work()
    headers = [
        (b"authorization", f"Bearer {hub.key}".encode()),
        (b"content-type", b"application/json"),
        (b"ngsild-tenant", REGION_CODE.encode()),
    ]
    send = _sender(app, headers)
    asyncio.run(_gather(send, load.rounds[0], 1))  # creates the entities

    from kotacerdas import db
    from kotacerdas.hub import http

    def no_writer(_factory: Any) -> None:
        return None

    def measure(
        bodies: list[bytes], concurrency: int, profile: bool, writer: bool
    ) -> cProfile.Profile | None:
        profiler = cProfile.Profile() if profile else None
        http.sqlite_writer = db.sqlite_writer if writer and not profile else no_writer  # type: ignore[assignment,attr-defined]

        def run() -> None:
            if profiler is not None:
                profiler.enable()
            asyncio.run(_gather(send, bodies, concurrency))
            if profiler is not None:
                profiler.disable()

        what = f"HTTP, {concurrency} in flight{'' if writer else ', threadpool'}"
        _print(what, *_measure(run, len(bodies) * BATCH))
        return profiler

    def stop() -> None:
        if stop_worker is not None:
            stop_worker()
        engine.dispose()

    return measure, stop


def _inline_work() -> None:
    """The request's work in the caller's thread (profiling only)."""
    from kotacerdas.hub import http

    async def inline(func: Callable[[], Any], *a: Any) -> Any:
        return func(*a)

    http.run_in_threadpool = inline  # type: ignore[assignment,attr-defined]


async def _gather(send: Callable[[bytes], Any], bodies: list[bytes], concurrency: int) -> None:
    queue = iter(bodies)

    async def lane() -> None:
        for body in queue:
            await send(body)

    await asyncio.gather(*(lane() for _ in range(concurrency)))


def _sender(app: Any, headers: list[tuple[bytes, bytes]]) -> Callable[[bytes], Any]:
    chunk = 64 * 1024  # uvicorn hands a body over in pieces of at most this size

    async def send_one(body: bytes) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": UPSERT_PATH,
            "raw_path": UPSERT_PATH.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [*headers, (b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
        position = 0

        async def receive() -> dict[str, Any]:
            nonlocal position
            if position < len(pieces):
                position += 1
                return {
                    "type": "http.request",
                    "body": pieces[position - 1],
                    "more_body": position < len(pieces),
                }
            await asyncio.Event().wait()  # the client never disconnects
            return {"type": "http.disconnect"}

        statuses: list[int] = []
        answer: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            elif message["type"] == "http.response.body":
                answer.append(message.get("body", b""))

        await app(scope, receive, send)
        if statuses[0] not in (201, 204):
            raise RuntimeError(f"upsert: HTTP {statuses[0]}: {b''.join(answer)[:500]!r}")

    return send_one


if __name__ == "__main__":
    main()
