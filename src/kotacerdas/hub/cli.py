"""``kotacerdas hub``: operator commands of the data hub (JSON-LD contexts for offline servers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.config import get_settings
from kotacerdas.db import make_engine, make_session_factory, unit_of_work
from kotacerdas.errors import KotaCerdasError
from kotacerdas.hub import contexts
from kotacerdas.hub.problems import NgsiError

app = typer.Typer(help="The city data hub (NGSI-LD).", no_args_is_help=True)
context_app = typer.Typer(
    help="@context documents kept by the hub, so clients' contexts resolve without internet.",
    no_args_is_help=True,
)
app.add_typer(context_app, name="context")
policy_app = typer.Typer(
    help="Which entity types can be read without a key (public) and which need one (key).",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="read-policy")
console = Console(soft_wrap=True)


def _factory() -> sessionmaker[Session]:
    from kotacerdas.cli import upgrade_database

    upgrade_database()
    settings = get_settings()
    return make_session_factory(make_engine(settings.resolved_database_url))


@context_app.command("add")
def context_add(
    url: Annotated[
        str,
        typer.Argument(help="The @context URL clients use, e.g. https://smartdatamodels.org/context.jsonld"),
    ],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The JSON-LD document for it")
    ],
) -> None:
    """Preload the document for a context URL (replaces an earlier one)."""
    try:
        with unit_of_work(_factory(), write=True) as session:
            contexts.add_file(session, url=url, path=file)
    except NgsiError as exc:
        console.print(f"[red]Konteks ditolak / context refused: {exc.detail}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]Konteks disimpan / context stored:[/green] {url}")


@context_app.command("list")
def context_list() -> None:
    """The context documents the hub holds (preloaded or fetched earlier)."""
    with unit_of_work(_factory(), write=True) as session:
        rows = [
            (r.url, r.source, r.stored_at.strftime("%Y-%m-%d %H:%M"))
            for r in contexts.list_documents(session)
        ]
    if not rows:
        console.print("Belum ada konteks tersimpan / no stored contexts.")
    for url, source, stored in rows:  # one line each: a URL is copied whole, never folded into a table
        console.print(f"{url}  [dim]({source}, {stored})[/dim]", highlight=False)


@context_app.command("remove")
def context_remove(url: Annotated[str, typer.Argument(help="The context URL")]) -> None:
    """Forget the stored document of a context URL."""
    with unit_of_work(_factory(), write=True) as session:
        removed = contexts.remove_document(session, url=url)
    if not removed:
        console.print(f"[red]Tidak ada konteks / no context:[/red] {url}")
        raise typer.Exit(1)
    console.print(f"[green]Dihapus / removed:[/green] {url}")


RegionOption = Annotated[str, typer.Option("--region", help="Kemendagri code of the region, e.g. 35.09")]


@policy_app.command("set")
def policy_set(
    type_name: Annotated[str, typer.Argument(help="Entity type, e.g. TrafficFlowObserved (or a full IRI)")],
    read: Annotated[str, typer.Argument(help="public or key")],
    region: RegionOption,
) -> None:
    """Make an entity type public, or readable with a key only (the region's staff and keys)."""
    from kotacerdas.hub import access
    from kotacerdas.hub.context import DEFAULT_VOCAB
    from kotacerdas.region.service import get_region_by_code

    iri = type_name if ":" in type_name else DEFAULT_VOCAB + type_name
    try:
        with unit_of_work(_factory(), write=True) as session:
            found = get_region_by_code(session, region)
            access.set_type_policy(session, region_id=found.id, type_iri=iri, read=read)
    except NgsiError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None
    except KotaCerdasError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]{type_name}: {read}[/green]")


@policy_app.command("list")
def policy_list(region: RegionOption) -> None:
    """The entity types with their own reading rule (the others follow KOTACERDAS_HUB_READ_DEFAULT)."""
    from kotacerdas.hub import access
    from kotacerdas.region.service import get_region_by_code

    with unit_of_work(_factory()) as session:
        found = get_region_by_code(session, region)
        rows = access.type_policies(session, region_id=found.id)
    from kotacerdas.hub.service import core_context

    ctx = core_context()
    table = Table("Jenis / type", "Baca / read")
    for type_iri, read in rows:
        table.add_row(ctx.compact(type_iri), read)
    console.print(table if rows else "Semua jenis mengikuti bawaan / every type follows the default.")
