"""CPU per MQTT observation through the ingest, in process: the ingest's side of ``bench.ingest_mqtt``.

``python -m bench.mqtt_cpu [--sensors N] [--rounds R] [--batch B] [--repeat K] [--profile]``
builds the benchmark's hub database (``bench.common.prepare_hub``) and messages
(``bench.ingest_mqtt.make_messages``: compact TrafficFlowObserved observations on
``kotacerdas/35.09/-/TrafficFlowObserved/<id>``), stores a first round, then hands the later rounds to
``MqttIngest`` exactly as its network thread does after reading a socket (``_on_publishes``: topic,
decode, parse ahead) and writes them as its writer thread does (``_write_batch``: one unit of work
per batch of B), with no broker and no socket. It prints wall and CPU time (``time.process_time``)
per observation, split into the network thread's part and the writer's. The MQTT figure of
``bench.ingest_mqtt`` depends on how much of a core the ingest gets on a shared machine (and on the
broker and publisher beside it); this one much less. ``--profile`` prints the top of a cProfile of
both parts (``SORT=tottime`` to order by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import prepare_hub
from bench.ingest_mqtt import make_messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds after the storing one")
    parser.add_argument("--batch", type=int, default=5000, help="observations per write (the ingest's batch)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="instead: a feeding thread hands over this many messages per socket read while the "
        "ingest's own writer thread writes, side by side as in the ingest process",
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="with --threads: feed at most this many per second"
    )
    args = parser.parse_args()

    from kotacerdas.db import make_engine, make_session_factory
    from kotacerdas.hub.mqtt_ingest import IngestConfig, MqttIngest
    from kotacerdas.kit.runtime import tune_gc

    total = args.sensors * args.rounds * args.repeat
    messages = make_messages(args.sensors, total)
    with tempfile.TemporaryDirectory(prefix="kc-bench-mqtt-cpu-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'mqtt.sqlite3'}"
        hub = prepare_hub(url)
        engine = make_engine(url)
        ingest = MqttIngest(
            make_session_factory(engine),
            api_key=hub.key,
            config=IngestConfig(batch_ms=int(os.environ.get("BATCH_MS", "50"))),
        )
        ingest._load_key()
        tune_gc()
        profile = cProfile.Profile() if args.profile else None

        def feed(batch: list[tuple[str, bytes]]) -> tuple[float, float]:
            received = [(topic.encode(), payload, 0, 0) for topic, payload in batch]
            start = time.process_time()
            if profile is not None:
                profile.enable()
            ingest._on_publishes(received, 0)
            network = time.process_time()
            taken = ingest._inbox.take(0.0)
            ingest._write_batch(taken, dedupe=False)
            if profile is not None:
                profile.disable()
            if len(taken) != len(batch) or ingest.counters.stored != stored[0] + len(batch):
                raise RuntimeError(f"stored {ingest.counters.stored - stored[0]} of {len(batch)}")
            stored[0] = ingest.counters.stored
            return network - start, time.process_time() - network

        stored = [0]
        for start in range(0, len(messages.warmup), args.batch):
            feed(messages.warmup[start : start + args.batch])
        per_round = args.sensors * args.rounds
        if args.threads:
            _side_by_side(ingest, messages.timed, per_round, args)
            engine.dispose()
            return
        for r in range(args.repeat):
            chunk = messages.timed[r * per_round : (r + 1) * per_round]
            wall = time.perf_counter()
            parts = [feed(chunk[i : i + args.batch]) for i in range(0, len(chunk), args.batch)]
            wall = time.perf_counter() - wall
            network = sum(p[0] for p in parts) / len(chunk) * 1e6
            writer = sum(p[1] for p in parts) / len(chunk) * 1e6
            print(
                f"repeat {r + 1}: {len(chunk):,} observations, {wall / len(chunk) * 1e6:.1f} µs wall, "
                f"CPU µs per observation: network thread {network:.1f} + writer {writer:.1f} = "
                f"{network + writer:.1f} ({len(chunk) / wall:,.0f}/s wall in one thread); batch CPU "
                f"median {statistics.median(p[0] + p[1] for p in parts) * 1e3:.0f} ms"
            )
        engine.dispose()
    if profile is not None:
        pstats.Stats(profile).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(60)


def _side_by_side(ingest: Any, timed: list[tuple[str, bytes]], per_round: int, args: Any) -> None:
    """The network thread's part in this thread, ``args.threads`` messages per call, as fast as it
    goes (the writer batches what arrives in its window); the writer thread as the ingest runs it."""
    writer = threading.Thread(target=ingest._write_loop, name="writer", daemon=True)
    writer.start()
    for r in range(args.repeat):
        chunk = timed[r * per_round : (r + 1) * per_round]
        received = [(topic.encode(), payload, 0, 0) for topic, payload in chunk]
        before = ingest.counters.stored
        wall, cpu = time.perf_counter(), time.process_time()
        feeder = time.thread_time()
        start = time.perf_counter()
        for i in range(0, len(received), args.threads):
            ingest._on_publishes(received[i : i + args.threads], 0)
            if args.rate:
                ahead = start + (i + args.threads) / args.rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
        feeder = time.thread_time() - feeder
        while ingest.counters.stored < before + len(chunk):
            time.sleep(0.001)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n = len(chunk)
        print(
            f"repeat {r + 1}: {n:,} observations side by side, {wall / n * 1e6:.1f} µs wall, "
            f"CPU µs per observation {cpu / n * 1e6:.1f} (feeding thread {feeder / n * 1e6:.1f}); "
            f"{ingest.counters.batches} batches so far"
        )
    ingest._inbox.close()
    writer.join()


if __name__ == "__main__":
    main()
