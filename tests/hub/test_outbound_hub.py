"""Server-side request forgery in the hub: subscription endpoints and remote @contexts, with the
production rule (``outbound_allow_private=False``), through the NGSI-LD API and the notifier.

Notifications that must arrive go to a real HTTP receiver on 127.0.0.1, let through by the
allowlist. Names are never looked up on the internet: ``kotacerdas.kit.outbound.resolve`` is
replaced by a table, the one function that asks DNS.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from hubdata import traffic
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.config import Settings
from kotacerdas.hub.context import ContextResolver
from kotacerdas.hub.entity import now_us
from kotacerdas.hub.notifier import SECOND, Notifier
from kotacerdas.hub.problems import LdContextNotAvailable
from kotacerdas.kit import outbound
from kotacerdas.kit.outbound import OutboundPolicy

ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
ENTITY = "urn:ngsi-ld:TrafficFlowObserved:jember:00001"
CONTEXT_DOC = {"@context": {"flow": "https://smartdatamodels.org/dataModel.Transportation/intensity"}}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A production installation: loopback and private destinations refused unless allowed."""
    return settings.model_copy(update={"outbound_allow_private": False})


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The names the tests use and what they resolve to now; tests change it to rebind a name."""
    table: dict[str, list[str]] = {}

    def resolve(host: str, port: int) -> list[Any]:
        if host not in table:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return [ipaddress.ip_address(a) for a in table[host]]

    monkeypatch.setattr(outbound, "resolve", resolve)
    return table


class Server:
    """A real HTTP server on 127.0.0.1: records POST bodies and GET paths; serves CONTEXT_DOC."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, dict[str, Any]]] = []  # (path, Host header, body)
        self.gets: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with server.lock:
                    server.posts.append((self.path, self.headers.get("Host", ""), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                with server.lock:
                    server.gets.append(self.path)
                data = orjson.dumps(CONTEXT_DOC)
                self.send_response(200)
                self.send_header("Content-Type", "application/ld+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def server() -> Iterator[Server]:
    found = Server()
    yield found
    found.httpd.shutdown()
    found.httpd.server_close()


def subscription(uri: str, **members: Any) -> dict[str, Any]:
    return {
        "type": "Subscription",
        "entities": [{"type": "TrafficFlowObserved"}],
        "notification": {"endpoint": {"uri": uri}},
        **members,
    }


def refused(resp: Any, words: str) -> None:
    assert resp.status_code == 400, resp.text
    problem = resp.json()
    assert problem["type"] == ERRORS + "BadRequestData"
    assert words in problem["detail"], problem["detail"]
    assert "KOTACERDAS_OUTBOUND_ALLOW" in problem["detail"]


# ---------------------------------------------------------------------------- set: the API


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("http://127.0.0.1:5432/", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::ffff:127.0.0.1]:6379/", "is a loopback address"),
        ("http://10.0.0.8:15672/api/", "10.0.0.8 is a private address"),
        ("http://2130706433/", "resolves to 127.0.0.1, a loopback address"),
        ("http://localhost:8000/notify", "localhost resolves to"),
    ],
)
def test_a_subscription_to_an_internal_address_is_refused_when_created(
    ngsi: Any, uri: str, words: str
) -> None:
    refused(ngsi.post("/subscriptions", json=subscription(uri)), words)
    assert ngsi.get("/subscriptions").json() == []


def test_a_subscription_to_a_name_that_resolves_inside_is_refused_but_unresolvable_names_are_kept(
    ngsi: Any, dns: dict[str, list[str]]
) -> None:
    dns["intranet.example"] = ["36.86.63.182", "192.168.10.5"]  # every address counts
    refused(ngsi.post("/subscriptions", json=subscription("http://intranet.example/n")), "192.168.10.5")
    # DNS being down (or the name not yet published) must not refuse a subscription
    resp = ngsi.post("/subscriptions", json=subscription("https://not-yet.jemberkab.go.id/n"))
    assert resp.status_code == 201, resp.text


def test_changing_an_endpoint_to_an_internal_address_is_refused(ngsi: Any, dns: dict[str, list[str]]) -> None:
    dns["sub.example"] = ["36.86.63.182"]
    resp = ngsi.post("/subscriptions", json=subscription("https://sub.example/n"))
    assert resp.status_code == 201, resp.text
    sub_id = resp.headers["location"].rsplit("/", 1)[1]
    patch = {"notification": {"endpoint": {"uri": "http://169.254.169.254/"}}}
    refused(ngsi.patch(f"/subscriptions/{sub_id}", json=patch), "link-local")
    kept = ngsi.get(f"/subscriptions/{sub_id}").json()
    assert kept["notification"]["endpoint"]["uri"] == "https://sub.example/n"
    # other members can still be changed without the endpoint being looked up again
    dns.clear()
    assert ngsi.patch(f"/subscriptions/{sub_id}", json={"description": "x"}).status_code == 204


def test_the_allowlist_lets_the_pemdas_own_receiver_through(
    ngsi: Any, settings: Settings, session_factory: sessionmaker[Session], server: Server
) -> None:
    uri = f"http://127.0.0.1:{server.port}/notify"
    refused(ngsi.post("/subscriptions", json=subscription(uri)), "loopback")
    settings.outbound_allow = ["127.0.0.0/8"]
    ngsi.post("/entities", json=traffic(1))
    assert ngsi.post("/subscriptions", json=subscription(uri)).status_code == 201
    notifier = Notifier(session_factory, settings, pool_size=2)
    try:
        ngsi.patch(f"/entities/{ENTITY}/attrs", json={"intensity": {"type": "Property", "value": 7}})
        notifier.run_once()
    finally:
        notifier.close()
    assert [body["data"][0]["intensity"]["value"] for _p, _h, body in server.posts] == [7]


# ----------------------------------------------------------------------- deliver: the notifier


def status(ngsi: Any, sub_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ngsi.get(f"/subscriptions/{sub_id}").json()["notification"]
    return found


def test_a_name_that_resolves_inside_at_delivery_fails_and_the_worker_goes_on(
    ngsi: Any,
    settings: Settings,
    session_factory: sessionmaker[Session],
    server: Server,
    dns: dict[str, list[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """DNS rebinding: public when the subscription was made, 127.0.0.1 when the notification goes."""
    settings.outbound_allow = ["receiver.example"]  # the Pemda's own system, allowed by name
    dns["rebind.example"] = ["36.86.63.182"]
    dns["receiver.example"] = ["127.0.0.1"]
    ngsi.post("/entities", json=traffic(1))
    evil = ngsi.post("/subscriptions", json=subscription(f"http://rebind.example:{server.port}/steal"))
    good = ngsi.post("/subscriptions", json=subscription(f"http://receiver.example:{server.port}/notify"))
    assert evil.status_code == good.status_code == 201
    evil_id = evil.headers["location"].rsplit("/", 1)[1]
    good_id = good.headers["location"].rsplit("/", 1)[1]
    dns["rebind.example"] = ["127.0.0.1"]

    clock = [now_us()]
    notifier = Notifier(session_factory, settings, clock=lambda: clock[0], pool_size=2)
    try:
        with caplog.at_level(logging.INFO, logger="kotacerdas.hub.notifier"):
            ngsi.patch(f"/entities/{ENTITY}/attrs", json={"intensity": {"type": "Property", "value": 7}})
            notifier.run_once()
            notifier.run_once()  # records the outcomes
            failed = status(ngsi, evil_id)
            assert failed["status"] == "failed" and failed["timesFailed"] == 1
            assert failed["lastFailure"] == failed["lastNotification"]
            assert "lastSuccess" not in failed
            assert status(ngsi, good_id)["status"] == "ok"
            # the worker goes on: the next change is delivered to the allowed endpoint, and the refused
            # one is tried again after its back-off and refused again, never reached
            clock[0] += 2 * SECOND
            ngsi.patch(f"/entities/{ENTITY}/attrs", json={"intensity": {"type": "Property", "value": 8}})
            notifier.run_once()
            notifier.run_once()
    finally:
        notifier.close()
    assert [p for p, _h, _b in server.posts] == ["/notify", "/notify"]
    assert {h for _p, h, _b in server.posts} == {f"receiver.example:{server.port}"}
    assert status(ngsi, evil_id)["timesFailed"] == 2
    assert status(ngsi, good_id)["timesSent"] == 2
    reasons = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "destination refused: rebind.example resolves to 127.0.0.1, a loopback address" in m for m in reasons
    ), reasons


# ------------------------------------------------------------------------------ remote @context


def link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}


def test_a_context_on_an_internal_address_is_not_fetched(
    ngsi: Any, server: Server, dns: dict[str, list[str]]
) -> None:
    url = f"http://127.0.0.1:{server.port}/ctx.jsonld"
    resp = ngsi.get("/entities", params={"type": "flow"}, headers=link(url))
    assert resp.status_code == 503, resp.text
    problem = resp.json()
    assert problem["type"] == ERRORS + "LdContextNotAvailable"
    assert "127.0.0.1 is a loopback address" in problem["detail"]
    metadata = ngsi.post(
        "/subscriptions", json=subscription("https://x.example/n", jsonldContext="http://169.254.169.254/c")
    )
    assert metadata.status_code == 503 and "link-local" in metadata.json()["detail"]
    assert server.gets == []


def test_an_allowed_context_is_fetched_and_a_preloaded_one_needs_no_fetch(
    ngsi: Any, settings: Settings, server: Server
) -> None:
    settings.outbound_allow = ["127.0.0.1"]
    url = f"http://127.0.0.1:{server.port}/allowed.jsonld"
    resp = ngsi.get("/entities", params={"type": "flow"}, headers=link(url))
    assert resp.status_code == 200, resp.text
    assert server.gets == ["/allowed.jsonld"]

    internal = f"http://127.0.0.1:{server.port}/preloaded.jsonld"
    resolver = ContextResolver(
        preloaded=lambda u: CONTEXT_DOC if u == internal else None, outbound=OutboundPolicy()
    )
    assert resolver.resolve(internal).expand("flow").endswith("/intensity")
    with pytest.raises(LdContextNotAvailable, match="loopback"):
        resolver.resolve(f"http://127.0.0.1:{server.port}/other.jsonld")
    assert server.gets == ["/allowed.jsonld"]
