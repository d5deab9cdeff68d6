"""A paced sender, run in its own process: ``rate`` entity updates a second as batch upserts.

``python -m bench.paced_upsert URL KEY --rate 1000 --batch 100 --sensors 1000 --duration 10``
sends a batch of ``batch`` TrafficFlowObserved updates every ``batch / rate`` seconds (on an
absolute schedule, so a slow response does not lower the rate), each entity carrying ``sentAt``
(this process's clock when the batch was built). Prints one JSON line: batches sent, statuses,
the achieved rate, and the response times.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import orjson


def batch_body(start: int, size: int, sensors: int, now: float) -> bytes:
    observed = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return orjson.dumps(
        [
            {
                "id": f"urn:ngsi-ld:TrafficFlowObserved:jember:n{(start + i) % sensors:05d}",
                "type": "TrafficFlowObserved",
                "intensity": {"type": "Property", "value": (start + i) % 997, "observedAt": observed},
                "sentAt": {"type": "Property", "value": now},
            }
            for i in range(size)
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    headers = {
        "Authorization": f"Bearer {args.key}",
        "Content-Type": "application/json",
        "NGSILD-Tenant": "35.09",
    }
    interval = args.batch / args.rate
    statuses: Counter[int] = Counter()
    response_ms: list[float] = []
    lock = threading.Lock()
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=8, max_keepalive_connections=8))

    def send(start: int) -> None:
        now = time.time()
        body = batch_body(start, args.batch, args.sensors, now)
        try:
            status = client.post(args.url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        with lock:
            statuses[status] += 1
            response_ms.append((time.time() - now) * 1000)

    started = time.monotonic()
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while True:
            due = started + sent * interval
            if due - started >= args.duration:
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, sent * args.batch)
            sent += 1
    elapsed = time.monotonic() - started
    client.close()
    result = {
        "batches": sent,
        "updates": sent * args.batch,
        "rate": sent * args.batch / elapsed,
        "statuses": {str(k): v for k, v in statuses.items()},
        "response_ms": response_ms,
    }
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")


if __name__ == "__main__":
    main()
