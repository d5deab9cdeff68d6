"""``kotacerdas masterplan``: import, export and the template of masterplan workbooks from the shell,
and the refresh of the indicators whose realisations come from a data source.

The operator of the installation runs these as the region's admin (the audit log names them "CLI").
Each command is one unit of work: an import commits once, after every row has been checked and
written, and a workbook with any problem leaves the database as it was (exit code 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from sqlalchemy import Engine

from kotacerdas.auth.access import Principal
from kotacerdas.config import get_settings
from kotacerdas.db import make_engine, make_session_factory, unit_of_work
from kotacerdas.errors import KotaCerdasError
from kotacerdas.kit.time import current_year
from kotacerdas.masterplan import excel, service
from kotacerdas.region import service as regions

app = typer.Typer(
    help="Masterplan workbooks (Excel): import, export and the empty template; indicator data sources.",
    no_args_is_help=True,
)
console = Console()

RegionOption = Annotated[str, typer.Option("--region", help="Kemendagri code of the region, e.g. 35.09")]


def _engine() -> Engine:
    settings = get_settings()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.resolved_database_url)


def operator(region_id: int) -> Principal:
    """Who the CLI acts as: the region's admin, named "CLI" in the audit log."""
    return Principal(kind="user", role="region_admin", region_id=region_id, label="CLI")


def _fail(exc: KotaCerdasError, lang: str) -> typer.Exit:
    console.print(f"[red]{exc.translated(lang)}[/red]")
    rows = exc.details if isinstance(exc.details, list) else []
    rows = [d for d in rows if isinstance(d, dict) and "sheet" in d]
    if rows:
        table = Table(title="Masalah di berkas / problems in the workbook", show_lines=False)
        for header in ("Lembar", "Baris", "Kolom", "Sel"):
            table.add_column(header, no_wrap=True)
        table.add_column("Masalah / problem", overflow="fold", ratio=1)
        for d in rows:
            row = "" if d.get("row") is None else str(d["row"])
            table.add_row(str(d["sheet"]), row, d.get("column") or "", d.get("cell") or "", str(d["message"]))
        console.print(table)
    return typer.Exit(1)


@app.command("import")
def import_workbook(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The workbook (.xlsx)")
    ],
    region: RegionOption,
    masterplan: Annotated[
        int | None, typer.Option("--masterplan", help="Upsert into this masterplan id; omit to create one")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check everything, import nothing")] = False,
) -> None:
    """Import a masterplan workbook, all or nothing; problems are listed with sheet, row and column."""
    settings = get_settings()
    lang = settings.default_language
    with file.open("rb") as fh:
        data = fh.read(settings.upload_max_bytes + 1)  # one byte over the limit is enough to refuse
    engine = _engine()
    try:
        with (
            unit_of_work(make_session_factory(engine)) as session,
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            ) as bar,
        ):
            region_id = regions.get_region_by_code(session, region).id
            task = bar.add_task("Memeriksa / checking", total=None)

            def step(done: int, total: int) -> None:
                bar.update(task, description="Mengimpor / importing", completed=done, total=total)

            result = excel.import_upload(
                session,
                principal=operator(region_id),
                region_id=region_id,
                filename=file.name,
                data=data,
                max_bytes=settings.upload_max_bytes,
                masterplan_id=masterplan,
                lang=lang,
                dry_run=dry_run,
                progress=step,
            )
    except KotaCerdasError as exc:
        raise _fail(exc, lang) from None
    finally:
        engine.dispose()
    what = (
        f"{result.programmes} program / programmes "
        f"({result.created_programmes} baru / new, {result.updated_programmes} diganti / replaced), "
        f"{result.indicators} indikator / indicators "
        f"({result.created_indicators} baru / new, {result.updated_indicators} diganti / replaced), "
        f"{result.realisations} realisasi diisi / realisations entered, "
        f"{result.sections} bagian analisis diisi / analysis sections set"
    )
    if dry_run:
        console.print(
            f"[green]Berkas lolos pemeriksaan, tidak ada yang diimpor / the workbook is valid, nothing imported:[/green] {what}"
        )
    else:
        console.print(
            f"[green]Diimpor ke rencana induk / imported into masterplan {result.masterplan_id}:[/green] {what}"
        )


@app.command("export")
def export_workbook(
    region: RegionOption,
    masterplan: Annotated[int, typer.Option("--masterplan", help="Id of the masterplan")],
    output: Annotated[Path, typer.Option("--output", dir_okay=False, help="Where to write the .xlsx")],
) -> None:
    """Write a masterplan to a workbook in the import format."""
    lang = get_settings().default_language
    engine = _engine()
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            region_id = regions.get_region_by_code(session, region).id
            data = excel.export_workbook(
                session, principal=operator(region_id), region_id=region_id, masterplan_id=masterplan
            )
    except KotaCerdasError as exc:
        raise _fail(exc, lang) from None
    finally:
        engine.dispose()
    output.write_bytes(data)
    console.print(f"[green]Ditulis / written:[/green] {output}")


@app.command("template")
def template_workbook(
    region: RegionOption,
    output: Annotated[Path, typer.Option("--output", dir_okay=False, help="Where to write the .xlsx")],
    start: Annotated[int | None, typer.Option("--start", help="First year (default: this year)")] = None,
    end: Annotated[int | None, typer.Option("--end", help="Last year (default: start + 4)")] = None,
) -> None:
    """Write an empty workbook with the region's dimensions, offices and the instructions."""
    lang = get_settings().default_language
    engine = _engine()
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            found = regions.get_region_by_code(session, region)
            first = start or current_year(found.timezone)
            offices = [o.short_name for o in regions.list_offices(session, region_id=found.id)]
            data = excel.template_workbook(found.framework_edition, first, end or first + 4, offices=offices)
    except KotaCerdasError as exc:
        raise _fail(exc, lang) from None
    finally:
        engine.dispose()
    output.write_bytes(data)
    console.print(f"[green]Ditulis / written:[/green] {output}")


@app.command("refresh-sources")
def refresh_sources(
    region: Annotated[
        str | None, typer.Option("--region", help="Kemendagri code of the region, e.g. 35.09 (default: all)")
    ] = None,
    year: Annotated[
        int | None, typer.Option("--year", min=2000, max=2100, help="Default: this year in each region")
    ] = None,
) -> None:
    """Recompute the year's realisation of every indicator that has a data source (the worker of the
    "Refresh from the data source" button). An indicator whose source has no figure for the year, or
    whose masterplan does not cover it, is skipped and listed; the others are written in one commit."""
    lang = get_settings().default_language
    engine = _engine()
    done, skipped = 0, []
    try:
        with (
            unit_of_work(make_session_factory(engine), write=True) as session,
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            ) as bar,
        ):
            found = [regions.get_region_by_code(session, region)] if region else regions.list_regions(session)
            work = [(r, i) for r in found for i in service.sourced_indicators(session, region_id=r.id)]
            task = bar.add_task("Memperbarui / refreshing", total=len(work))
            for r, indicator in work:
                the_year = year or current_year(r.timezone)
                try:
                    with session.begin_nested():
                        service.refresh_from_source(
                            session,
                            principal=operator(r.id),
                            region_id=r.id,
                            indicator_id=indicator.id,
                            year=the_year,
                        )
                    done += 1
                except KotaCerdasError as exc:
                    skipped.append((r.code, indicator.code, the_year, exc.translated(lang)))
                bar.advance(task)
    except KotaCerdasError as exc:
        raise _fail(exc, lang) from None
    finally:
        engine.dispose()
    if skipped:
        table = Table(title="Dilewati / skipped")
        for header in ("Daerah / region", "Indikator / indicator", "Tahun / year"):
            table.add_column(header, no_wrap=True)
        table.add_column("Alasan / reason", overflow="fold", ratio=1)
        for row in skipped:
            table.add_row(row[0], row[1], str(row[2]), row[3])
        console.print(table)
    console.print(
        f"[green]Diperbarui / refreshed:[/green] {done} indikator / indicators"
        + (f", {len(skipped)} dilewati / skipped" if skipped else "")
    )
