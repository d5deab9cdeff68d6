"""What every benchmark shares: results, temp databases, the hub server process, timing helpers.

Everything binds to 127.0.0.1 and lives in a temp directory; every process started here is stopped
by its own id when the benchmark ends, also on errors and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import create_engine, inspect, make_url, text

ROOT = Path(__file__).resolve().parent.parent
LOCAL = "127.0.0.1"
REGION_CODE = "35.09"
POSTGRES_ADMIN_URL = os.environ.get(
    "KOTACERDAS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# Jember, where the benchmark's sensors stand (lon, lat)
JEMBER_LON = (113.3, 114.0)
JEMBER_LAT = (-8.5, -7.95)

console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)


class Skipped(Exception):
    """A benchmark cannot run here (a service or module is missing); the runner says why and goes on."""


class Partial(Exception):
    """Some backends of a benchmark failed or were skipped: the figures of the others, and why."""

    def __init__(self, figures: list[Figure], problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.figures = figures
        self.problems = problems


def per_backend(
    options: Options, run_one: Callable[[str], list[Figure]], default: tuple[str, ...] = ("sqlite",)
) -> list[Figure]:
    """Run a benchmark on each backend (``--backends``, else ``default``); one that fails does not
    lose the others' figures."""
    import traceback

    figures: list[Figure] = []
    problems: list[str] = []
    for backend in options.backends or default:
        try:
            figures.extend(run_one(backend))
        except Skipped as exc:
            problems.append(f"{backend}: skipped: {exc}")
            console.print(f"[yellow]{backend} skipped: {exc}[/yellow]")
        except Exception as exc:
            problems.append(f"{backend}: {type(exc).__name__}: {exc}")
            console.print(f"[red]{backend} failed:[/red]\n{traceback.format_exc()}")
    if problems:
        raise Partial(figures, problems)
    return figures


# ---------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Options:
    quick: bool = False
    backends: tuple[str, ...] | None = None  # None: each benchmark's own default
    concurrency: int = 4  # HTTP connections of the upsert load generator


@dataclass
class Figure:
    """One measured figure, its target from the issue, and the ceiling measured in the same run.

    ``higher_is_better`` figures (rates) are compared as ``value / ceiling`` (the share of the
    ceiling reached); latencies as ``value / ceiling`` too, which then reads "times the floor".
    """

    bench: str
    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    ceiling: float | None = None
    ceiling_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # printed under the figure
    data: dict[str, Any] = field(default_factory=dict)  # machine-readable details (--json)
    fail: str | None = None  # a reason the figure fails whatever its value (lost messages, errors)

    @property
    def passed(self) -> bool | None:
        if self.fail is not None:
            return False
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    @property
    def ratio(self) -> float | None:
        if self.ceiling is None or self.ceiling <= 0:
            return None
        return self.value / self.ceiling

    def target_text(self) -> str:
        if self.target is None:
            return "-"
        sign = "≥" if self.higher_is_better else "≤"
        return f"{sign} {fmt(self.target)} {self.unit}"

    def ratio_text(self) -> str:
        ratio = self.ratio
        if ratio is None:
            return "-"
        if self.higher_is_better:
            return f"{ratio:.2f} ({ratio * 100:.0f}% of ceiling)"
        return f"{ratio:.1f}× the floor"

    def verdict(self) -> str:
        passed = self.passed
        if passed is None:
            return "-"
        return "[green]PASS[/green]" if passed else "[red]FAIL[/red]"


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def show(figure: Figure) -> None:
    """Print one figure as soon as it is known (the runner prints the table of all at the end)."""
    line = f"  [bold]{figure.name}[/bold]: {fmt(figure.value)} {figure.unit}"
    if figure.ceiling is not None:
        line += f"; ceiling ({figure.ceiling_name}) {fmt(figure.ceiling)} {figure.unit}; ratio {figure.ratio_text()}"
    if figure.target is not None:
        line += f"; target {figure.target_text()}: {figure.verdict()}"
    console.print(line)
    for key, value in figure.extra.items():
        console.print(f"      {key}: {value}")
    if figure.fail:
        console.print(f"      [red]FAIL: {figure.fail}[/red]")


# ------------------------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 300 samples is the 297th smallest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


# ------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL, 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


def kotacerdas_command() -> list[str]:
    script = Path(sys.executable).parent / "kotacerdas"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from kotacerdas.cli import app; app()"]


def hub_env(data_dir: Path, database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a hub process: only our settings, none inherited from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOTACERDAS_")}
    env.update(
        {
            "KOTACERDAS_DATA_DIR": str(data_dir),
            "KOTACERDAS_DATABASE_URL": database_url,
            "KOTACERDAS_LOG_LEVEL": "warning",
            "KOTACERDAS_DEFAULT_REGION": REGION_CODE,
            "KOTACERDAS_ENVIRONMENT": "development",
        }
    )
    env.update({f"KOTACERDAS_{k.upper()}": v for k, v in settings.items()})
    return env


class Process:
    """A child process in its own session, stopped by its id (SIGTERM, then SIGKILL)."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.name = name
        self.log_path = log
        self._log: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()

    def errors(self, limit: int = 3) -> list[str]:
        """Distinct exception lines of the log (``...Error: ...``), for a failure's explanation."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        found: list[str] = []
        for line in lines:
            text_ = line.strip()
            if "Error: " in text_ and not text_.startswith("File ") and text_ not in found:
                found.append(text_[:300])
        return found[:limit]

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def processes() -> Iterator[list[Process]]:
    """Collects the processes a benchmark starts; stops them all (newest first) on the way out."""
    started: list[Process] = []
    try:
        yield started
    finally:
        for proc in reversed(started):
            proc.stop()


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, proc: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited while waiting for {what}:\n{proc.tail()}")
        try:
            if check():
                return
        except (OSError, httpx.HTTPError, sqlite3.Error):
            pass
        time.sleep(0.05)
    log = f"; last lines of {proc.name}'s log:\n{proc.tail()}" if proc is not None else ""
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}{log}")


def start_server(
    started: list[Process], *, workdir: Path, database_url: str, name: str = "hub", **settings: str
) -> tuple[Process, str]:
    """`kotacerdas serve` with one uvicorn worker on a free port of 127.0.0.1; returns it and its URL."""
    port = free_port()
    args = [
        *kotacerdas_command(),
        "serve",
        "--no-migrate",
        "--host",
        LOCAL,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    proc = Process(
        name,
        args,
        env=hub_env(workdir / "data", database_url, **settings),
        cwd=workdir,
        log=workdir / f"{name}.log",
    )
    started.append(proc)
    url = f"http://{LOCAL}:{port}"
    wait_until(
        lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200,
        timeout=60,
        what=f"{name} on {url}",
        proc=proc,
    )
    return proc, url


# ------------------------------------------------------------------------------------- databases


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"kc-bench-{prefix}-") as tmp:
        path = Path(tmp)
        (path / "data").mkdir()
        yield path


@contextmanager
def database(backend: str, where: Path, name: str = "hub") -> Iterator[str]:
    """A fresh, empty database: a SQLite file in ``where`` or a PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{where / f'{name}.sqlite3'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend}")
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        raise Skipped(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable ({type(exc).__name__})") from None
    db_name = f"kc_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=db_name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL as a libpq conninfo for psycopg.connect."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlite_path(database_url: str) -> str:
    path = make_url(database_url).database
    assert path
    return path


@dataclass
class Hub:
    """A migrated hub database with region 35.09, its admin and an API key that may write and subscribe."""

    url: str
    region_id: int
    key: str
    key_id: int


def prepare_hub(database_url: str) -> Hub:
    from kotacerdas import migrate
    from kotacerdas.auth import passwords, service as auth
    from kotacerdas.db import make_engine, make_session_factory, unit_of_work
    from kotacerdas.region import service as regions

    passwords.configure(time_cost=1, memory_kib=8, parallelism=1)  # one account, made once: no need for cost
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        with unit_of_work(make_session_factory(engine)) as session:
            region = regions.create_region(
                session,
                code=REGION_CODE,
                name="Kabupaten Jember",
                kind="kabupaten",
                province="Jawa Timur",
                abbreviation="JBR",
            )
            admin = auth.create_user(
                session,
                email="bench@jember.go.id",
                full_name="Benchmark",
                password=uuid.uuid4().hex + "Aa1!",
                role="region_admin",
                region_id=region.id,
            )
            key, secret = auth.create_api_key(
                session,
                principal=auth.principal_for_user(admin),
                region_id=region.id,
                name="benchmark",
                permissions=["hub:write", "hub:read", "hub:subscribe"],
            )
            return Hub(url=database_url, region_id=region.id, key=secret, key_id=key.id)
    finally:
        engine.dispose()


def key_principal(hub: Hub) -> Any:
    """The principal the API key resolves to, for calling the hub's service directly."""
    from kotacerdas.auth.access import Principal

    return Principal(
        kind="api_key",
        label="benchmark key",
        api_key_id=hub.key_id,
        region_id=hub.region_id,
        permissions=frozenset(["hub:write", "hub:read", "hub:subscribe"]),
    )


def count_instances(database_url: str, region_id: int, attribute: str | None = None) -> int:
    """Attribute instances in a region's history (of one attribute IRI, or of all).

    Reads ``hub_history`` directly (one row per entity and instant, ``attrs`` a JSON object of the
    instances), so that what was stored is counted apart from what the hub reports.
    """
    engine = create_engine(database_url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("hub_history")}
        if "attrs" not in columns:
            raise RuntimeError(
                f"bench does not know this hub_history layout ({sorted(columns)}); update count_instances"
            )
        pg = engine.dialect.name == "postgresql"
        params: dict[str, Any] = {"r": region_id}
        if attribute is None:
            sql = (
                "SELECT COUNT(*) FROM hub_history h, jsonb_object_keys(h.attrs) WHERE h.region_id = :r"
                if pg
                else "SELECT COUNT(*) FROM hub_history h, json_each(h.attrs) WHERE h.region_id = :r"
            )
        elif pg:
            sql = "SELECT COUNT(*) FROM hub_history WHERE region_id = :r AND jsonb_exists(attrs, :a)"
            params["a"] = attribute
        else:
            sql = "SELECT COUNT(*) FROM hub_history WHERE region_id = :r AND json_type(attrs, :a) IS NOT NULL"
            params["a"] = '$."' + attribute + '"'
        with engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar_one())
    finally:
        engine.dispose()


def count_rows(database_url: str, sql: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------- output


def progress() -> Progress:
    return Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def machine_facts() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    facts = {
        "cpu": f"{os.cpu_count()} × {cpu}",
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    import importlib.metadata as md

    for dist in (
        "uvicorn",
        "fastapi",
        "sqlalchemy",
        "psycopg",
        "httpx",
        "paho-mqtt",
        "orjson",
        "uvloop",
        "httptools",
    ):
        try:
            facts[dist] = md.version(dist)
        except md.PackageNotFoundError:
            facts[dist] = "not installed"
    facts["load average"] = load_average()
    return facts


def load_average() -> str:
    """The 1/5/15-minute load averages: other work on the 2 cores skews every figure."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"
