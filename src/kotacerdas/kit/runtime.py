"""Process settings for throughput: the garbage collector.

A batch of 1,000 NGSI-LD entities makes tens of thousands of short-lived dicts. With Python's default
thresholds (700 allocations) the collector runs hundreds of times per batch, and each full pass walks
every long-lived object of the application; measured on the hub's batch path this tripled the time
per batch. ``tune_gc`` moves what exists after start-up (modules, routes, caches) out of the
collector's sight and collects the young generation less often. Reference cycles are still collected.
"""

from __future__ import annotations

import gc

_tuned = False


def tune_gc() -> None:
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)
