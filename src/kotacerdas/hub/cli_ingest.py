"""``kotacerdas simulate`` and ``kotacerdas ingest mqtt``: feed the hub from the shell.

``register(app)`` adds both to the main command. ``simulate`` plays the demo region's sensors
(``kotacerdas.hub.simulate``) over HTTP or MQTT at a chosen rate; ``ingest mqtt`` runs the MQTT ingest
(``kotacerdas.hub.mqtt_ingest``) until stopped with Ctrl-C or SIGTERM, acknowledging only what it has
committed, so stopping (or crashing) loses nothing.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime
from enum import StrEnum
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from kotacerdas.config import Settings, get_settings
from kotacerdas.i18n import _, gettext

console = Console(soft_wrap=True)


class Via(StrEnum):
    http = "http"
    mqtt = "mqtt"


class Payload(StrEnum):
    compact = "compact"
    full = "full"


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
    ingest_app = typer.Typer(help="Feed the hub from devices.", no_args_is_help=True)
    ingest_app.command("mqtt")(ingest_mqtt)
    app.add_typer(ingest_app, name="ingest")


def _setup_logging(settings: Settings) -> None:
    """Our own log lines (the ingest's counters, dead letters) on the console; other libraries' stay quiet."""
    ours = logging.getLogger("kotacerdas")
    if not ours.handlers:
        handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        ours.addHandler(handler)
        ours.setLevel(settings.log_level.upper())
        ours.propagate = False


def simulate(
    via: Annotated[Via, typer.Option(help="How to send: HTTP batch upsert or MQTT (QoS 1)")] = Via.http,
    url: Annotated[str, typer.Option(help="Base URL of kotacerdas (HTTP)")] = "http://127.0.0.1:8000",
    mqtt_host: Annotated[str | None, typer.Option(help="MQTT broker (default from settings)")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="MQTT broker port (default from settings)")] = None,
    region: Annotated[
        str, typer.Option(help="Region code: the NGSILD-Tenant and the topic's region")
    ] = "35.09",
    key: Annotated[
        str | None,
        typer.Option(
            help="API key with hub:write (HTTP)", envvar="KOTACERDAS_SIMULATE_KEY", show_default=False
        ),
    ] = None,
    rate: Annotated[float, typer.Option(help="Observations per second (0: as fast as possible)")] = 100.0,
    duration: Annotated[float, typer.Option(help="Seconds to run (0: until Ctrl-C or --count)")] = 60.0,
    count: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many observations", show_default=False)
    ] = None,
    scale: Annotated[
        int, typer.Option(min=1, help="Multiply the traffic sensors (synthetic sim-NNNNN ones)")
    ] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the simulated values")] = 0,
    office: Annotated[str, typer.Option(help="Office short name in the MQTT topic, or -")] = "-",
    payload: Annotated[Payload, typer.Option(help="MQTT payload: compact observation or full entity")] = (
        Payload.compact
    ),
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per real second (e.g. 60: a day in 24 minutes)")
    ] = 1.0,
    start: Annotated[
        str | None,
        typer.Option(help="Simulated start time, ISO 8601 with zone (default: now)", show_default=False),
    ] = None,
    places: Annotated[
        bool, typer.Option("--places/--no-places", help="First send the demo places, roads and sensors")
    ] = False,
) -> None:
    """Simulate the sensors of the demo region (Jember): traffic, parking, air quality, weather."""
    from kotacerdas.hub import simulate as sim

    settings = get_settings()
    lang = settings.default_language
    started: datetime | None = None
    if start:
        try:
            started = datetime.fromisoformat(start)
        except ValueError:
            raise typer.BadParameter(f"not an ISO 8601 date-time: {start}", param_hint="--start") from None
        if started.tzinfo is None:
            raise typer.BadParameter("give a time zone, e.g. 2026-03-04T07:00:00+07:00", param_hint="--start")
    target: sim.Target
    try:
        if via is Via.http:
            if not key:
                raise typer.BadParameter("an API key with hub:write is needed for HTTP", param_hint="--key")
            target = sim.HttpTarget(url, key=key, region=region)
        else:
            target = sim.MqttTarget(
                mqtt_host or settings.mqtt_host,
                mqtt_port or settings.mqtt_port,
                region=region,
                office=office,
                payload=payload.value,
                username=settings.mqtt_username,
                password=settings.mqtt_password,
            )
        sim.run(
            target,
            rate=rate,
            duration=duration or None,
            count=count,
            scale=scale,
            seed=seed,
            start=started,
            speed=speed,
            load_places=places,
            console=console,
            lang=lang,
        )
    except sim.SimulateError as exc:
        console.print(f"[red]{gettext(lang, _('The simulation stopped: {reason}'), reason=str(exc))}[/red]")
        raise typer.Exit(1) from None


def ingest_mqtt(
    key: Annotated[
        str,
        typer.Option(
            help="API key with hub:write; its region and entity types decide what is accepted",
            envvar="KOTACERDAS_INGEST_KEY",
            show_default=False,
        ),
    ],
    host: Annotated[str | None, typer.Option(help="MQTT broker (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="MQTT broker port (default from settings)")] = None,
    client_id: Annotated[
        str | None, typer.Option(help="Client id of the persistent session (default from settings)")
    ] = None,
    topic: Annotated[
        list[str] | None, typer.Option(help="Topic filter (repeatable; default kotacerdas/<key's region>/#)")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Most messages per transaction")] = None,
    batch_ms: Annotated[
        int | None, typer.Option(min=1, help="Longest wait for a partial batch, in ms")
    ] = None,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Run database migrations first")
    ] = True,
) -> None:
    """Store what devices publish over MQTT in the hub, in batches, acknowledging after each commit."""
    from kotacerdas.cli import upgrade_database
    from kotacerdas.db import make_engine, make_session_factory
    from kotacerdas.hub.mqtt_ingest import IngestConfig, IngestError, MqttIngest

    settings = get_settings()
    lang = settings.default_language
    _setup_logging(settings)
    if migrate_first:
        upgrade_database()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    config = IngestConfig.from_settings(
        settings,
        host=host,
        port=port,
        client_id=client_id,
        topics=tuple(topic) if topic else None,
        batch_size=batch_size,
        batch_ms=batch_ms,
    )
    from kotacerdas.kit.runtime import tune_gc

    tune_gc()
    ingest = MqttIngest(make_session_factory(engine), api_key=key, config=config)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        ingest.start()
    except IngestError as exc:
        console.print(f"[red]{gettext(lang, _('MQTT ingest cannot start: {reason}'), reason=str(exc))}[/red]")
        engine.dispose()
        raise typer.Exit(1) from None
    console.print(
        gettext(
            lang,
            _(
                "MQTT ingest running for region {region} on {host}:{port} (client id {client}). Stop with Ctrl-C."
            ),
            region=ingest.region_code,
            host=config.host,
            port=config.port,
            client=config.client_id,
        )
    )
    ingest.run_until(stop)
    engine.dispose()
    c = ingest.counters
    console.print(
        gettext(
            lang,
            _(
                "MQTT ingest stopped: {received} received, {stored} stored, {dead} dead-lettered, {batches} batches."
            ),
            received=c.received,
            stored=c.stored,
            dead=c.dead_lettered,
            batches=c.batches,
        )
    )
    if ingest.failure:
        console.print(f"[red]{ingest.failure}[/red]")
        raise typer.Exit(1)


if __name__ == "__main__":  # python -m kotacerdas.hub.cli_ingest ... (before the main CLI registers these)
    _app = typer.Typer(no_args_is_help=True)
    register(_app)
    _app()
