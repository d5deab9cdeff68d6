"""``kotacerdas demo``: migrate, load the demo data once, tell how to log in, and serve with the demo banner."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, make_url

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
    console.print(
        f"[green]Data demo dimuat / demo data loaded:[/green] {summary.regions} wilayah/regions, "
        f"{summary.areas} kecamatan, {summary.offices} OPD, {summary.masterplans} masterplan, "
        f"{summary.programmes} program/programmes ({summary.quick_wins} quick win), "
        f"{summary.indicators} indikator/indicators, {summary.realisations} realisasi/realisations."
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
