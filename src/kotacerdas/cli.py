"""The ``kotacerdas`` command. Each command owns its unit of work and commits once."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine

from kotacerdas.config import get_settings
from kotacerdas.db import make_engine, make_session_factory, unit_of_work

app = typer.Typer(
    help="kotacerdas: smart-city platform for Indonesian regional governments.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
region_app = typer.Typer(help="Regions (Pemda).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(region_app, name="region")
console = Console()


@app.callback()
def _configure() -> None:
    """Apply the settings every command shares (the password-hash cost)."""
    from kotacerdas.auth import passwords

    settings = get_settings()
    passwords.configure(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def _engine() -> Engine:
    settings = get_settings()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.resolved_database_url)


def upgrade_database() -> None:
    from kotacerdas import migrate

    engine = _engine()
    migrate.upgrade(engine)
    engine.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema (safe to run again)."""
    upgrade_database()
    console.print("[green]Basis data mutakhir / database is up to date.[/green]")


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default from settings: 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes")] = None,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Run migrations first")
    ] = True,
) -> None:
    """Serve the web application and APIs."""
    import uvicorn

    settings = get_settings()
    if migrate_first:
        upgrade_database()
    uvicorn.run(
        "kotacerdas.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
    )


@region_app.command("create")
def region_create(
    code: Annotated[str, typer.Argument(help="Kemendagri code, e.g. 35.09")],
    name: Annotated[str, typer.Argument(help='e.g. "Kabupaten Jember"')],
    kind: Annotated[str, typer.Option(help="kabupaten or kota")] = "kabupaten",
    province: Annotated[str, typer.Option(help="Province name")] = "",
    timezone: Annotated[str, typer.Option(help="WIB, WITA or WIT")] = "WIB",
    abbreviation: Annotated[
        str | None, typer.Option(help="Short code for tracking numbers, e.g. JBR")
    ] = None,
) -> None:
    """Create a region (Pemda)."""
    from kotacerdas.region import service as regions

    with unit_of_work(make_session_factory(_engine())) as session:
        region = regions.create_region(
            session,
            code=code,
            name=name,
            kind=kind,
            province=province,
            timezone=timezone,
            abbreviation=abbreviation,
        )
        console.print(f"[green]Wilayah dibuat / region created:[/green] {region.code} {region.name}")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="national_evaluator, region_admin, office_operator or citizen")],
    name: Annotated[str, typer.Option(help="Full name")] = "",
    region: Annotated[str | None, typer.Option(help="Region code (not for national_evaluator)")] = None,
    office: Annotated[str | None, typer.Option(help="Office short name, e.g. Dishub")] = None,
    password: Annotated[
        str | None, typer.Option(help="Password; asked for when omitted", envvar="KOTACERDAS_NEW_PASSWORD")
    ] = None,
) -> None:
    """Create a user account."""
    from kotacerdas.auth import service as auth
    from kotacerdas.errors import KotaCerdasError
    from kotacerdas.region import service as regions

    if password is None:
        password = getpass.getpass("Kata sandi / password: ")
    try:
        with unit_of_work(make_session_factory(_engine())) as session:
            region_id = office_id = None
            if region:
                region_id = regions.get_region_by_code(session, region).id
                if office:
                    found = regions.find_office(session, region_id=region_id, short_name=office)
                    if found is None:
                        raise typer.BadParameter(f"office {office} not found in region {region}")
                    office_id = found.id
            user = auth.create_user(
                session,
                email=email,
                full_name=name or email,
                password=password,
                role=role,
                region_id=region_id,
                office_id=office_id,
            )
            console.print(f"[green]Pengguna dibuat / user created:[/green] {user.email} ({user.role})")
    except KotaCerdasError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def _register_domain_commands() -> None:
    """Domains add their own command groups (masterplan import/export, demo...)."""
    import importlib

    for module_name, attr in (
        ("kotacerdas.masterplan.cli", "app"),
        ("kotacerdas.hub.cli", "app"),
        ("kotacerdas.hub.cli_ingest", "register"),
        ("kotacerdas.worker", "register"),
        ("kotacerdas.citizen.cli", "register"),
        ("kotacerdas.demo.cli", "register"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        target = getattr(module, attr)
        if attr == "app":
            app.add_typer(target, name=module_name.split(".")[1])
        else:
            target(app)


_register_domain_commands()
