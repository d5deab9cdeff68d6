"""The background worker: hub notifications, citizen-report notifications and deadlines, and the daily
maintenance (DESIGN, "Growing past one machine").

``kotacerdas worker`` runs it as its own process until SIGTERM or SIGINT; ``start_embedded(app)``
runs the same loops in threads of ``kotacerdas serve`` when ``KOTACERDAS_EMBEDDED_WORKER`` is true.
Every piece of work comes from the database, so workers can be restarted or run several at once:
regions are leased to one notifier at a time, deliveries are claimed per subscription, citizen
outbox rows are claimed per row, and an escalated report remembers it was escalated.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.config import Settings

log = logging.getLogger(__name__)

DAY_SECONDS = 24 * 3600.0
MAINTENANCE_DELAY_SECONDS = 60.0  # after start, so a restart loop does not hammer the database
DEADLINE_CHECK_SECONDS = 60.0  # report deadlines end at 23:59:59 local time; a minute late is on time


def _maintenance_hook() -> Callable[[sessionmaker[Session], Settings], Any] | None:
    try:
        module = importlib.import_module("kotacerdas.hub.maintenance")
    except ModuleNotFoundError as exc:
        if exc.name != "kotacerdas.hub.maintenance":
            raise
        return None
    hook: Callable[[sessionmaker[Session], Settings], Any] | None = getattr(module, "run_maintenance", None)
    return hook


def run_maintenance_daily(
    session_factory: sessionmaker[Session],
    settings: Settings,
    stop: threading.Event,
    *,
    delay: float = MAINTENANCE_DELAY_SECONDS,
) -> None:
    """Call ``kotacerdas.hub.maintenance.run_maintenance`` shortly after start, then once a day."""
    hook = _maintenance_hook()
    if hook is None:
        log.info("no hub maintenance module; the daily maintenance is skipped")
        return
    next_run = time.monotonic() + delay
    while not stop.wait(max(0.0, next_run - time.monotonic())):
        try:
            hook(session_factory, settings)
        except Exception:  # one bad night must not stop the next ones
            log.exception("hub maintenance failed; it runs again in a day")
        next_run = time.monotonic() + DAY_SECONDS


WAKE_GATHER_SECONDS = 0.1  # after a wake, how long the citizen loop lets further commits gather


def run_citizen_loop(
    session_factory: sessionmaker[Session],
    settings: Settings,
    stop: threading.Event,
    wake: threading.Event,
    *,
    deadline_every: float = DEADLINE_CHECK_SECONDS,
) -> None:
    """Send the citizen outbox every ``citizen_poll_seconds`` (within ``WAKE_GATHER_SECONDS`` when
    ``wake`` is set: a unit of work of this process committed outbox rows) and check report deadlines every ``deadline_every``
    seconds, the first time right at start. Set ``wake`` after ``stop`` to end it without waiting."""
    from kotacerdas.citizen.deadlines import check_deadlines
    from kotacerdas.citizen.delivery import deliver_pending, listen

    listen(wake)
    next_check = time.monotonic()
    while not stop.is_set():
        wake.clear()
        busy = False
        if time.monotonic() >= next_check:
            try:
                check_deadlines(session_factory)
            except Exception:  # the next minute tries again
                log.exception("checking report deadlines failed")
            next_check = time.monotonic() + deadline_every
        try:
            busy = deliver_pending(session_factory, settings).full
        except Exception:
            log.exception("sending citizen notifications failed")
        if not busy and wake.wait(
            min(settings.citizen_poll_seconds, max(0.0, next_check - time.monotonic()))
        ):
            # woken by a commit: gather the commits of the next moment into the same pass, so that a
            # burst of filings costs one pass over the outbox, not one each
            stop.wait(WAKE_GATHER_SECONDS)


class Worker:
    """The hub notifier, the citizen loop and the daily maintenance, in threads, stopped together."""

    def __init__(self, session_factory: sessionmaker[Session], settings: Settings) -> None:
        from kotacerdas.citizen.delivery import listen
        from kotacerdas.hub.notifier import Notifier

        self.stopping = threading.Event()
        self.citizen_wake = threading.Event()
        listen(self.citizen_wake)  # from now on: a commit that queues report notifications wakes the loop
        self.notifier = Notifier(session_factory, settings)
        self.threads = [
            threading.Thread(target=self.notifier.run_forever, name="kc-notifier", daemon=True),
            threading.Thread(
                target=run_citizen_loop,
                args=(session_factory, settings, self.stopping, self.citizen_wake),
                name="kc-citizen",
                daemon=True,
            ),
            threading.Thread(
                target=run_maintenance_daily,
                args=(session_factory, settings, self.stopping),
                name="kc-maintenance",
                daemon=True,
            ),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 70.0) -> None:
        """Stop taking work, finish the deliveries under way and record them."""
        self.stopping.set()
        self.citizen_wake.set()
        self.notifier.stop()
        for thread in self.threads:
            thread.join(timeout)

    def wait(self) -> None:
        """Block until ``stop()`` (signals interrupt the wait)."""
        while not self.stopping.wait(1.0):
            pass


def start_embedded(app: Any) -> Callable[[], None]:
    """Run the worker inside ``kotacerdas serve`` (the FastAPI app's engine and settings); returns
    the function that stops it, for the app's lifespan to call on shutdown."""
    worker = Worker(app.state.session_factory, app.state.settings)
    worker.start()
    return worker.stop


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker_command(
        migrate_first: Annotated[
            bool, typer.Option("--migrate/--no-migrate", help="Run migrations first")
        ] = True,
    ) -> None:
        """Deliver hub and report notifications, check report deadlines and run the daily maintenance
        until stopped (SIGTERM/SIGINT)."""
        from kotacerdas.cli import upgrade_database
        from kotacerdas.config import get_settings
        from kotacerdas.db import make_engine, make_session_factory

        settings = get_settings()
        logging.basicConfig(level=settings.log_level.upper())
        if migrate_first:
            upgrade_database()
        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.resolved_database_url)
        worker = Worker(make_session_factory(engine), settings)

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping the worker", signum)
            worker.stopping.set()
            worker.citizen_wake.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        worker.start()
        log.info("worker %s started", worker.notifier.worker_id)
        worker.wait()
        worker.stop()
        engine.dispose()
        log.info("worker stopped")
