"""``kotacerdas reports``: the worker's citizen-report jobs, run once from the shell (or cron).

``deliver`` sends the notifications that are due; ``check-deadlines`` escalates or closes overdue
reports. Both are what ``kotacerdas worker`` does continuously; running them next to a worker is
safe (outbox rows are claimed, escalations are recorded on the report).
"""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.config import get_settings
from kotacerdas.i18n import _, gettext

console = Console(soft_wrap=True)


def _both(message: str, **params: object) -> str:
    return gettext("id", message, **params) + " / " + gettext("en", message, **params)


def _factory() -> sessionmaker[Session]:
    from kotacerdas.cli import upgrade_database
    from kotacerdas.db import make_engine, make_session_factory

    upgrade_database()
    settings = get_settings()
    return make_session_factory(make_engine(settings.resolved_database_url))


def deliver() -> None:
    """Send the report e-mails and webhooks that are due, once."""
    from kotacerdas.citizen.delivery import deliver_pending

    factory = _factory()
    settings = get_settings()
    total = {"sent": 0, "retrying": 0, "dead": 0}
    while True:
        stats = deliver_pending(factory, settings)
        for key in total:
            total[key] += getattr(stats, key)
        if not stats.full:
            break
    console.print(
        _both(
            _("Notifications sent: {sent}; to retry later: {retrying}; given up: {dead}."),
            **total,
        ),
        highlight=False,
    )
    if stats.waiting_email:
        console.print(
            "[yellow]"
            + _both(
                _("{n} e-mails wait because KOTACERDAS_SMTP_HOST is not set."),
                n=stats.waiting_email,
            )
            + "[/yellow]",
            highlight=False,
        )


def check_deadlines() -> None:
    """Escalate overdue reports to the region admin and close unanswered ones, once."""
    from kotacerdas.citizen.deadlines import check_deadlines as check

    handled = check(_factory())
    console.print(_both(_("Overdue reports handled: {n}."), n=handled), highlight=False)


def register(app: typer.Typer) -> None:
    reports_app = typer.Typer(help="Citizen reports: notifications and deadlines.", no_args_is_help=True)
    reports_app.command("deliver")(deliver)
    reports_app.command("check-deadlines")(check_deadlines)
    app.add_typer(reports_app, name="reports")
