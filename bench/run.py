"""Run the hub's benchmarks: ``python -m bench.run [upsert mqtt queries notify] [--quick]``.

Each benchmark prints its figures as it goes; at the end a table gives every figure with its
ceiling (measured in the same run), the ratio, the issue's target and PASS/FAIL. The exit code is 1
when a target failed or a benchmark could not run, 0 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import time
import traceback
from pathlib import Path

import orjson
from rich.table import Table

from bench.common import Figure, Options, Partial, Skipped, console, fmt, machine_facts

BENCHMARKS = {
    "upsert": "bench.upsert",
    "mqtt": "bench.ingest_mqtt",
    "queries": "bench.queries",
    "notify": "bench.notify",
    "reports": "bench.reports",
}


def summary(figures: list[Figure]) -> Table:
    table = Table(title="kotacerdas hub benchmarks", show_lines=False)
    for column in ("benchmark", "figure", "ceiling (same run)", "ratio", "target", "result"):
        table.add_column(column)
    for f in figures:
        ceiling = f"{fmt(f.ceiling)} ({f.ceiling_name})" if f.ceiling is not None else "-"
        table.add_row(
            f.name, f"{fmt(f.value)} {f.unit}", ceiling, f.ratio_text(), f.target_text(), f.verdict()
        )
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description="The hub's benchmarks (see bench/README.md).")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller loads and shorter runs")
    parser.add_argument(
        "--backends",
        default="",
        help="databases to run on, comma-separated (sqlite,postgresql); default: upsert on both, the rest on sqlite",
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="connections of the upsert load (default 4)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    options = Options(quick=args.quick, backends=tuple(backends) or None, concurrency=args.concurrency)
    facts = machine_facts()
    console.print("[bold]machine[/bold]: " + "; ".join(f"{k} {v}" for k, v in facts.items()))
    figures: list[Figure] = []
    problems: list[str] = []
    started = time.monotonic()
    for name in names:
        console.rule(name)
        module = importlib.import_module(BENCHMARKS[name])
        try:
            figures.extend(module.run(options))
        except Partial as exc:
            figures.extend(exc.figures)
            problems.extend(f"{name} on {p}" for p in exc.problems)
        except Skipped as exc:
            problems.append(f"{name}: skipped: {exc}")
            console.print(f"[yellow]{name} skipped: {exc}[/yellow]")
        except Exception as exc:
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            console.print(f"[red]{name} failed:[/red]\n{traceback.format_exc()}")
    console.rule("summary")
    console.print(summary(figures))
    for problem in problems:
        console.print(f"[yellow]{problem}[/yellow]")
    console.print(f"total {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_bytes(
            orjson.dumps(
                {
                    "machine": facts,
                    "quick": args.quick,
                    "figures": [
                        {
                            "bench": f.bench,
                            "name": f.name,
                            "value": f.value,
                            "unit": f.unit,
                            "target": f.target,
                            "higher_is_better": f.higher_is_better,
                            "passed": f.passed,
                            "ceiling": f.ceiling,
                            "ceiling_name": f.ceiling_name,
                            "ratio": f.ratio,
                            "extra": {k: str(v) for k, v in f.extra.items()},
                            "data": f.data,
                        }
                        for f in figures
                    ],
                    "problems": problems,
                },
                option=orjson.OPT_INDENT_2,
            )
        )
    failed = any(f.passed is False for f in figures)
    return 1 if failed or problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
