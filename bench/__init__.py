"""The hub's benchmarks: each prints its figures, a ceiling measured in the same run, and PASS/FAIL.

Run them with ``make bench`` (all) or ``make bench BENCH=upsert``; see bench/README.md.
"""
