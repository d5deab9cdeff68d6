"""``kotacerdas demo``: migrate, load the demo data once, tell how to log in, and serve with the demo banner."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, make_url
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.config import Settings, get_settings
from kotacerdas.db import make_engine, make_session_factory, unit_of_work
from kotacerdas.demo import loader
from kotacerdas.errors import KotaCerdasError

console = Console(soft_wrap=True)  # long lines (URLs, e-mails) stay whole when copied

ROLE_LABELS = {
    "region_admin": "admin daerah / region admin",
    "office_operator": "operator OPD / office operator",
    "national_evaluator": "evaluator nasional / national evaluator",
    "citizen": "warga / citizen",
}


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the SQLite database first and start from scratch")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="With --reset on a non-SQLite database: drop all its tables"),
    ] = False,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the application after loading")
    ] = True,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default from settings: 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    simulate: Annotated[
        bool,
        typer.Option(
            "--simulate/--no-simulate", help="Feed the hub with simulated sensor observations while serving"
        ),
    ] = True,
) -> None:
    """Load made-up demo data (Jember, Probolinggo, Jombang) and serve kotacerdas with a demo banner."""
    from kotacerdas.cli import upgrade_database

    settings = get_settings()
    if reset:
        _reset(settings, force=force)
    upgrade_database()
    engine = _engine(settings)
    try:
        _load(engine)
    except KotaCerdasError as exc:
        console.print(f"[red]Data demo tidak dapat dimuat / the demo data could not be loaded: {exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()

    bind_host, bind_port = host or settings.host, port or settings.port
    _print_login(bind_host, bind_port)
    if serve and simulate:
        _start_simulator(settings, bind_host, bind_port)
    # the pages read the setting and show the demo banner; workers inherit the environment
    os.environ["KOTACERDAS_DEMO"] = "1"
    get_settings.cache_clear()
    if not serve:
        return
    import uvicorn

    uvicorn.run(
        "kotacerdas.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=settings.workers,
        log_level=settings.log_level,
    )


def _engine(settings: Settings) -> Engine:
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.resolved_database_url)


def _reset(settings: Settings, *, force: bool) -> None:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            db_file = Path(url.database)
            for path in (db_file, *(Path(f"{db_file}{suffix}") for suffix in ("-wal", "-shm", "-journal"))):
                path.unlink(missing_ok=True)
            console.print(f"Basis data demo dihapus / demo database deleted: {db_file}")
        return
    if not force:
        console.print(
            "[red]--reset menghapus hanya basis data SQLite; tambahkan --force untuk mengosongkan "
            f"{url.render_as_string(hide_password=True)} / --reset only deletes a SQLite database; "
            "add --force to drop every table of this database.[/red]"
        )
        raise typer.Exit(2)
    from kotacerdas import migrate

    engine = _engine(settings)
    try:
        migrate.downgrade(engine, "base")
    finally:
        engine.dispose()
    console.print(f"Semua tabel dihapus / every table dropped: {url.render_as_string(hide_password=True)}")


def _load(engine: Engine) -> None:
    """One unit of work: either the whole demo is there afterwards or nothing is."""
    with unit_of_work(make_session_factory(engine)) as session:
        if loader.is_loaded(session):
            console.print(
                "Data demo sudah ada, tidak dimuat ulang (pakai --reset untuk mengulang) / "
                "demo data already loaded, not loading again (use --reset to start over)."
            )
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("Memuat data demo / loading demo data", total=loader.total_steps())

            def advance(done: int, total: int, label: str) -> None:
                bar.update(task, completed=done, total=total, description=label[:60])

            summary = loader.load_demo(session, progress=advance)
            bar.update(task, description="Hub: tempat dan sensor / places and sensors")
            hub_entities = _load_hub(session)
    console.print(
        f"[green]Data demo dimuat / demo data loaded:[/green] {summary.regions} wilayah/regions, "
        f"{summary.areas} kecamatan, {summary.offices} OPD, {summary.masterplans} masterplan, "
        f"{summary.programmes} program/programmes ({summary.quick_wins} quick win), "
        f"{summary.indicators} indikator/indicators, {summary.realisations} realisasi/realisations, "
        f"{summary.reports} laporan warga/citizen reports ({summary.report_categories} "
        f"kategori/categories), {summary.public_services} layanan publik/public services, "
        f"{hub_entities} entitas hub/hub entities."
    )


def _print_login(host: str, port: int) -> None:
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only for display
    names = loader.region_names()
    console.print()
    console.print(f"[bold]Buka / open:[/bold] http://{shown_host}:{port}")
    console.print("Masuk dengan salah satu akun demo / log in with one of the demo accounts:")
    for account in loader.demo_accounts():
        where = names.get(account.region or "", "")
        if account.office:
            where = f"{where}, {account.office}"
        label = ROLE_LABELS.get(account.role, account.role)
        console.print(f"  {account.email:<30} {label}{f' ({where})' if where else ''}", highlight=False)
    console.print(
        f"[bold]Kata sandi semua akun / password of every account:[/bold] {loader.demo_password()}",
        highlight=False,
    )
    console.print(
        "[yellow]Data ini rekaan untuk mencoba kotacerdas, bukan data resmi / "
        "this data is made up for trying kotacerdas, not official figures.[/yellow]"
    )


SIMULATOR_RATE = 20.0  # observations per second: a lively demo that a laptop hardly notices


def _jember_admin(session: Session) -> Principal:
    from sqlalchemy import select

    from kotacerdas.auth.models import User
    from kotacerdas.auth.service import principal_for_user

    admin = session.scalar(select(User).where(User.email == loader.demo_accounts()[0].email))
    if admin is None:
        raise KotaCerdasError("The demo region admin is missing.")
    return principal_for_user(admin)


def _load_hub(session: Session) -> int:
    """Jember's places, roads, parking and sensors in the hub (one batch per thousand entities)."""
    from kotacerdas.hub import demo as hub_demo, service as hub
    from kotacerdas.region.service import get_region_by_code

    region = get_region_by_code(session, "35.09")
    principal = _jember_admin(session)
    entities = hub_demo.demo_entities(datetime.now(UTC))
    for start in range(0, len(entities), hub.MAX_BATCH):
        outcome = hub.upsert_entities(
            session,
            region_id=region.id,
            principal=principal,
            entities=entities[start : start + hub.MAX_BATCH],
            ctx=hub.core_context(),
        )
        if outcome.errors:
            raise KotaCerdasError(f"Demo hub entity refused: {outcome.errors[0][1].detail}")
    return len(entities)


def _start_simulator(settings: Settings, host: str, port: int) -> None:
    """Send simulated observations to the demo server over HTTP, as a device would, from a thread."""
    import threading
    import time

    import httpx

    from kotacerdas.auth.service import create_api_key
    from kotacerdas.hub import simulate
    from kotacerdas.region.service import get_region_by_code

    engine = _engine(settings)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            region = get_region_by_code(session, "35.09")
            _key, secret = create_api_key(
                session,
                principal=_jember_admin(session),
                region_id=region.id,
                name="Simulator demo / demo simulator",
                permissions=["hub:write"],
            )
    finally:
        engine.dispose()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - where to connect

    def _feed() -> None:
        import logging

        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the log
        url = f"http://{shown}:{port}"
        for _ in range(120):  # wait for the server to listen
            try:
                httpx.get(url + "/ngsi-ld/v1/types", timeout=2.0)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        target = simulate.HttpTarget(url, key=secret, region="35.09")
        quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the thread
        try:
            simulate.run(target, rate=SIMULATOR_RATE, duration=None, console=quiet)
        except Exception as exc:  # the demo keeps serving without live data
            console.print(f"[yellow]Simulator berhenti / simulator stopped: {exc}[/yellow]")

    threading.Thread(target=_feed, name="demo-simulator", daemon=True).start()
    console.print(
        f"Simulator mengirim {SIMULATOR_RATE:.0f} observasi/detik ke hub / the simulator sends "
        f"{SIMULATOR_RATE:.0f} observations/s to the hub (--no-simulate to switch off)."
    )
