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
from kotacerdas.hub import contexts
from kotacerdas.hub.problems import NgsiError

app = typer.Typer(help="The city data hub (NGSI-LD).", no_args_is_help=True)
context_app = typer.Typer(
    help="@context documents kept by the hub, so clients' contexts resolve without internet.",
    no_args_is_help=True,
)
app.add_typer(context_app, name="context")
console = Console()


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
        rows = contexts.list_documents(session)
        table = Table("URL", "Sumber / source", "Disimpan / stored")
        for row in rows:
            table.add_row(row.url, row.source, row.stored_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table if rows else "Belum ada konteks tersimpan / no stored contexts.")


@context_app.command("remove")
def context_remove(url: Annotated[str, typer.Argument(help="The context URL")]) -> None:
    """Forget the stored document of a context URL."""
    with unit_of_work(_factory(), write=True) as session:
        removed = contexts.remove_document(session, url=url)
    if not removed:
        console.print(f"[red]Tidak ada konteks / no context:[/red] {url}")
        raise typer.Exit(1)
    console.print(f"[green]Dihapus / removed:[/green] {url}")
