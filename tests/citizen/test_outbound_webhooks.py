"""Server-side request forgery in office webhooks: refused when the channel is added, and again when
the webhook is sent (a name can resolve differently later). Webhooks that must arrive go to a real
HTTP server on 127.0.0.1 let through by the allowlist; names other than ``localhost`` are answered
by a table that replaces ``kotacerdas.kit.outbound.resolve``, never by DNS.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from citizendata import IN_SUMBERSARI
from reportpages import csrf, form_message
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.auth import service as auth
from kotacerdas.citizen import channels
from kotacerdas.citizen.delivery import deliver_pending
from kotacerdas.citizen.models import CitizenOutbox, OfficeChannel
from kotacerdas.config import Settings, get_settings
from kotacerdas.errors import ValidationFailed
from kotacerdas.kit import outbound
from kotacerdas.kit.outbound import OutboundPolicy, parse_allow

R = "/api/v1/regions/35.09"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}

    def resolve(host: str, port: int) -> list[Any]:
        if host not in table:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return [ipaddress.ip_address(a) for a in table[host]]

    monkeypatch.setattr(outbound, "resolve", resolve)
    return table


@pytest.fixture
def process_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The process's settings (``get_settings``), which the channel API checks webhooks with."""

    def configure(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(f"KOTACERDAS_{name.upper()}", value)
        get_settings.cache_clear()

    yield configure
    get_settings.cache_clear()


class Hooks:
    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []  # (path, Host header)
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hooks.received.append((self.path, self.headers.get("Host", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    found = Hooks()
    yield found
    found.httpd.shutdown()
    found.httpd.server_close()


def login(make_client: Any, world: dict[str, Any]) -> Any:
    return make_client().login(world["users"]["admin"].email, world["password"])


def add(admin: Any, world: dict[str, Any], target: str) -> Any:
    office = world["offices"]["dishub"].id
    return admin.post(f"{R}/offices/{office}/channels", json={"kind": "webhook", "target": target})


def stored(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(select(OfficeChannel.target).order_by(OfficeChannel.id)))


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/hook",
        "http://0.0.0.0:8000/",
        "http://224.0.0.1/",
    ],
)
def test_a_webhook_to_the_cloud_metadata_or_other_never_public_address_is_refused(
    make_client: Any, reporting: dict[str, Any], db: Session, target: str
) -> None:
    admin = login(make_client, reporting)
    resp = add(admin, reporting, target)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert "KOTACERDAS_OUTBOUND_ALLOW" in error["details"]["target"]
    assert "address" in error["details"]["target"]
    assert stored(db) == []


def test_the_channels_page_shows_why_a_webhook_address_is_refused(
    make_client: Any, reporting: dict[str, Any], db: Session
) -> None:
    dishub = make_client().login(reporting["users"]["dishub"].email, reporting["password"])
    token = csrf(dishub.get("/reports/channels").text)
    form = {"csrf_token": token, "kind": "webhook", "target": "http://169.254.169.254/latest/meta-data/"}
    page = dishub.post("/reports/channels", data=form)
    assert page.status_code == 422
    assert "169.254.169.254 is a link-local address" in form_message(page.text)
    assert stored(db) == []


def test_private_webhooks_are_refused_in_production_unless_the_operator_allows_them(
    make_client: Any,
    reporting: dict[str, Any],
    db: Session,
    process_settings: Any,
    dns: dict[str, list[str]],
) -> None:
    admin = login(make_client, reporting)
    dns["simpeg.jemberkab.go.id"] = ["10.20.1.5"]
    process_settings(outbound_allow_private="false")
    for target, kind in (
        ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
        ("http://10.20.1.5/hook", "10.20.1.5 is a private address"),
        ("http://simpeg.jemberkab.go.id/hook", "resolves to 10.20.1.5, a private address"),
    ):
        resp = add(admin, reporting, target)
        assert resp.status_code == 422, resp.text
        assert kind in resp.json()["error"]["details"]["target"]
    assert stored(db) == []
    # a name that cannot be resolved now is kept: it is checked again at each delivery
    assert add(admin, reporting, "https://opd-baru.jemberkab.go.id/hook").status_code == 201

    process_settings(outbound_allow_private="false", outbound_allow="10.20.0.0/16")
    assert add(admin, reporting, "http://10.20.1.5/hook").status_code == 201
    assert add(admin, reporting, "http://simpeg.jemberkab.go.id/hook").status_code == 201
    assert add(admin, reporting, "http://127.0.0.1:8080/hook").status_code == 422
    assert stored(db) == [
        "https://opd-baru.jemberkab.go.id/hook",
        "http://10.20.1.5/hook",
        "http://simpeg.jemberkab.go.id/hook",
    ]


def test_the_service_checks_with_the_rule_it_is_given(reporting: dict[str, Any], db: Session) -> None:
    office = reporting["offices"]["dishub"].id
    region = reporting["jember"].id
    principal = auth.principal_for_user(reporting["users"]["admin"])
    with pytest.raises(ValidationFailed) as refused:
        channels.add_channel(
            db,
            principal=principal,
            region_id=region,
            office_id=office,
            kind="webhook",
            target="http://192.168.1.10/hook",
            outbound=OutboundPolicy(),
        )
    assert "192.168.1.10 is a private address" in refused.value.details["target"]
    networks, hosts = parse_allow(["192.168.1.0/24"])
    row = channels.add_channel(
        db,
        principal=principal,
        region_id=region,
        office_id=office,
        kind="webhook",
        target="http://192.168.1.10/hook",
        outbound=OutboundPolicy(networks=networks, hosts=hosts),
    )
    assert row.target == "http://192.168.1.10/hook"


def test_a_webhook_whose_name_resolves_inside_later_fails_with_the_reason_and_the_rest_go(
    client: Any,
    make_client: Any,
    reporting: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    db: Session,
    hooks: Hooks,
    dns: dict[str, list[str]],
) -> None:
    admin = login(make_client, reporting)
    dns["rebind.example"] = ["36.86.63.182"]
    dns["simpeg.jemberkab.go.id"] = ["127.0.0.1"]
    assert add(admin, reporting, f"http://rebind.example:{hooks.port}/steal").status_code == 201
    assert add(admin, reporting, f"http://simpeg.jemberkab.go.id:{hooks.port}/hook").status_code == 201
    body = {
        "category": "jalan-rusak",
        "title": "Jalan berlubang di Jl. Kalimantan",
        "description": "Lubang besar di depan kampus, berbahaya untuk motor.",
        "lat": IN_SUMBERSARI[0],
        "lon": IN_SUMBERSARI[1],
    }
    filed = client.post(f"{R}/reports", json=body)
    assert filed.status_code == 201, filed.text
    no = filed.json()["report"]["tracking_no"]
    assert admin.post(f"{R}/reports/{no}/dispose", json={}).status_code == 200

    dns["rebind.example"] = ["127.0.0.1"]  # DNS rebinding: now it points at the server itself
    production = settings.model_copy(
        update={"outbound_allow_private": False, "outbound_allow": ["simpeg.jemberkab.go.id"]}
    )
    stats = deliver_pending(session_factory, production)
    assert (stats.sent, stats.retrying) == (1, 1)
    assert hooks.received == [("/hook", f"simpeg.jemberkab.go.id:{hooks.port}")]
    db.expire_all()
    rows = {r.target: r for r in db.scalars(select(CitizenOutbox).where(CitizenOutbox.kind == "webhook"))}
    failed = rows[f"http://rebind.example:{hooks.port}/steal"]
    assert failed.sent_at is None and not failed.dead and failed.attempts == 1
    assert (
        failed.last_error == "destination refused: rebind.example resolves to 127.0.0.1, a loopback address"
    )
