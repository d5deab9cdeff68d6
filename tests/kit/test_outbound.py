"""Server-side request forgery: which addresses the server may contact for a URL somebody else chose.

The classifier is checked on many written forms of the same few destinations; the transport through
real HTTP servers on 127.0.0.1. Names other than ``localhost`` are never looked up: the tests that
need them replace ``outbound.resolve``, the one function of the module that asks DNS.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from kotacerdas.config import Settings
from kotacerdas.kit import outbound
from kotacerdas.kit.outbound import DestinationRefused, OutboundPolicy, guarded_client, kind_of, parse_allow

STRICT = OutboundPolicy()
LENIENT = OutboundPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.20.30.40", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("100.127.255.255", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("169.254.0.1", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.10", "reserved"),  # documentation
        ("198.18.0.1", "reserved"),  # benchmarking
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),  # unique-local
        ("fec0::1", "private"),  # site-local
        ("ff02::1", "multicast"),
        ("2001:db8::1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped forms are judged by their IPv4 address
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:0.0.0.0", "unspecified"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("::7f00:1", "reserved"),  # IPv4-compatible (deprecated)
        ("8.8.8.8", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("36.86.63.182", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),  # NAT64 of a public address
    ],
)
def test_every_address_is_classified(address: str, kind: str | None) -> None:
    assert kind_of(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:5432/",
        "http://[::1]:6379/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://localhost:15672/api/overview",
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/",  # ... as hex
        "http://0177.0.0.1/",  # ... in octal
        "http://127.1/",  # ... shortened
        "http://10.0.0.5/",
        "https://192.168.0.1/admin",
        "http://100.64.1.1/",
        "http://[fd00::5]/",
    ],
)
def test_loopback_and_private_urls_are_refused_in_any_spelling(url: str) -> None:
    with pytest.raises(DestinationRefused):
        STRICT.check_url(url)
    with pytest.raises(DestinationRefused):
        STRICT.check_url(url, lenient=True)
    LENIENT.check_url(url)  # development: loopback and private networks are allowed


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0:8000/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
    ],
)
def test_link_local_unspecified_and_multicast_are_refused_even_when_private_is_allowed(url: str) -> None:
    with pytest.raises(DestinationRefused):
        LENIENT.check_url(url)


@pytest.mark.parametrize(
    "url", ["ftp://8.8.8.8/", "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "http:///nohost"]
)
def test_only_http_and_https_with_a_host_are_contacted(url: str) -> None:
    with pytest.raises(DestinationRefused):
        LENIENT.check_url(url)


def test_the_reason_names_the_address_and_its_kind() -> None:
    with pytest.raises(DestinationRefused) as literal:
        STRICT.check_url("http://169.254.169.254/")
    assert literal.value.reason == "169.254.169.254 is a link-local address"
    assert "destination refused" in str(literal.value)
    with pytest.raises(DestinationRefused) as named:
        STRICT.check_url("http://localhost/")
    assert named.value.reason.startswith("localhost resolves to ")
    assert named.value.reason.endswith(", a loopback address")


def fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> None:
    def resolve(host: str, port: int) -> list[Any]:
        host = host.lower().rstrip(".")  # as DNS does
        if host not in table:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return [ipaddress.ip_address(a) for a in table[host]]

    monkeypatch.setattr(outbound, "resolve", resolve)


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(
        monkeypatch,
        {
            "public.example": ["36.86.63.182", "2606:4700:4700::1111"],
            "mixed.example": ["36.86.63.182", "10.1.2.3"],  # one private address is enough to refuse
            "mapped.example": ["::ffff:169.254.169.254"],
        },
    )
    assert STRICT.check_url("https://public.example/notify") == [
        ipaddress.ip_address("36.86.63.182"),
        ipaddress.ip_address("2606:4700:4700::1111"),
    ]
    with pytest.raises(DestinationRefused, match=r"mixed\.example resolves to 10\.1\.2\.3, a private"):
        STRICT.check_url("https://mixed.example/notify")
    with pytest.raises(DestinationRefused, match="link-local"):
        LENIENT.check_url("http://mapped.example/")


def test_a_name_that_does_not_resolve_is_accepted_when_set_but_not_contacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {})
    assert STRICT.check_url("https://opd-baru.jemberkab.go.id/hook", lenient=True) == []
    with pytest.raises(httpx.ConnectError, match="could not be resolved"):
        STRICT.check_url("https://opd-baru.jemberkab.go.id/hook")


def test_the_allowlist_lets_chosen_networks_and_names_through(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(
        monkeypatch,
        {
            "simpeg.jemberkab.go.id": ["10.20.1.5"],
            "sipd.bappeda.jemberkab.go.id": ["10.99.0.7"],
            "other.internal": ["10.30.0.1"],
            "evil-simpeg.jemberkab.go.id.attacker.example": ["10.20.1.5"],
        },
    )
    networks, hosts = parse_allow(
        ["10.20.0.0/16", "fd00:1::/32", "169.254.10.1", "*.bappeda.jemberkab.go.id"]
    )
    policy = OutboundPolicy(networks=networks, hosts=hosts)
    policy.check_url("http://10.20.99.1/hook")
    policy.check_url("http://[::ffff:10.20.0.1]/hook")  # the mapped form of an allowed address
    policy.check_url("http://[fd00:1::9]/hook")
    policy.check_url("http://169.254.10.1/")
    policy.check_url("http://simpeg.jemberkab.go.id/hook")  # resolves into the allowed network
    policy.check_url("http://sipd.bappeda.jemberkab.go.id/hook")  # allowed by name
    for refused in (
        "http://10.21.0.1/",
        "http://169.254.169.254/",
        "http://other.internal/",
        "http://127.0.0.1/",
    ):
        with pytest.raises(DestinationRefused):
            policy.check_url(refused)
    named = OutboundPolicy(hosts=frozenset(["simpeg.jemberkab.go.id"]))
    named.check_url("http://SIMPEG.jemberkab.go.id./hook")  # case and the root dot do not matter
    with pytest.raises(DestinationRefused):
        named.check_url("http://evil-simpeg.jemberkab.go.id.attacker.example/", lenient=False)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "http://10.0.0.1/", "bad host", "*.", "a..b"])
def test_a_mistyped_allowlist_entry_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="neither"):
        parse_allow([entry])


def test_settings_refuse_private_destinations_in_production_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("KOTACERDAS_OUTBOUND_ALLOW_PRIVATE", "KOTACERDAS_OUTBOUND_ALLOW", "KOTACERDAS_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    secret = "s" * 48
    assert Settings().outbound_allow_private is True
    assert Settings(environment="test").outbound_allow_private is True
    production = Settings(environment="production", secret_key=secret)
    assert production.outbound_allow_private is False
    assert OutboundPolicy.from_settings(production) == OutboundPolicy()
    assert Settings(
        environment="production", secret_key=secret, outbound_allow_private=True
    ).outbound_allow_private
    monkeypatch.setenv("KOTACERDAS_OUTBOUND_ALLOW", "10.20.0.0/16, simpeg.jemberkab.go.id")
    monkeypatch.setenv("KOTACERDAS_OUTBOUND_ALLOW_PRIVATE", "false")
    configured = Settings()
    assert configured.outbound_allow == ["10.20.0.0/16", "simpeg.jemberkab.go.id"]
    assert configured.outbound_allow_private is False
    policy = OutboundPolicy.from_settings(configured)
    assert policy.networks == (ipaddress.ip_network("10.20.0.0/16"),)
    assert policy.hosts == frozenset(["simpeg.jemberkab.go.id"])
    monkeypatch.setenv("KOTACERDAS_OUTBOUND_ALLOW", "10.20.0.0/33")
    with pytest.raises(ValueError, match="outbound_allow"):
        Settings()


# --------------------------------------------------------------------------- the transport


class Seen:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Host header)


@pytest.fixture
def server() -> Iterator[tuple[int, Seen]]:
    """An HTTP server on 127.0.0.1: /redirect?to=URL answers 302, anything else 200 "ok"."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.requests.append((self.command, self.path, self.headers.get("Host", "")))
            if self.path.startswith("/redirect?to="):
                self.send_response(302)
                self.send_header("Location", self.path.split("=", 1)[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = _answer  # noqa: N815 - http.server's hook names

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()


def client_for(policy: OutboundPolicy, **options: Any) -> httpx.Client:
    return guarded_client(policy, timeout=5.0, **options)


def test_the_transport_refuses_before_connecting(server: tuple[int, Seen]) -> None:
    port, seen = server
    with client_for(STRICT) as client, pytest.raises(DestinationRefused, match="loopback"):
        client.post(f"http://127.0.0.1:{port}/notify", content=b"{}")
    assert seen.requests == []
    with client_for(LENIENT) as client:
        assert client.post(f"http://127.0.0.1:{port}/notify", content=b"{}").status_code == 200
    assert seen.requests == [("POST", "/notify", f"127.0.0.1:{port}")]


def test_the_transport_connects_to_the_address_it_checked_and_keeps_the_name(
    server: tuple[int, Seen], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name is resolved once per request, checked, and that address is used."""
    port, seen = server
    answers: list[list[str]] = [["127.0.0.1"], ["127.0.0.1"], ["169.254.169.254"]]
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[Any]:
        lookups.append(host)
        return [ipaddress.ip_address(a) for a in answers.pop(0)]

    monkeypatch.setattr(outbound, "resolve", resolve)
    with client_for(LENIENT) as client:
        url = f"http://opd.jemberkab.go.id:{port}/hook"
        assert client.post(url, content=b"{}").status_code == 200
        response = client.post(url, content=b"{}")
        assert response.status_code == 200
        assert str(response.request.url) == url  # the name, not the address, is what the caller sees
        with pytest.raises(
            DestinationRefused, match=r"opd\.jemberkab\.go\.id resolves to 169\.254\.169\.254"
        ):
            client.post(url, content=b"{}")
    assert lookups == ["opd.jemberkab.go.id"] * 3
    assert [host for _m, _p, host in seen.requests] == [f"opd.jemberkab.go.id:{port}"] * 2


def test_each_hop_of_a_redirect_is_checked(server: tuple[int, Seen], monkeypatch: pytest.MonkeyPatch) -> None:
    port, seen = server
    fake_dns(monkeypatch, {"ctx.example": ["127.0.0.1"]})
    allowed_by_name = OutboundPolicy(hosts=frozenset(["ctx.example"]))
    with client_for(allowed_by_name, follow_redirects=True) as client:
        # a hop to another allowed URL is followed
        ok = client.get(f"http://ctx.example:{port}/redirect?to=http://ctx.example:{port}/final")
        assert ok.status_code == 200 and ok.text == "ok"
        # a hop to a refused address is not
        with pytest.raises(DestinationRefused, match="loopback"):
            client.get(f"http://ctx.example:{port}/redirect?to=http://127.0.0.1:{port}/secret")
    assert "/secret" not in [path for _m, path, _h in seen.requests]
    with client_for(LENIENT) as client:  # not following is the default
        assert client.get(f"http://127.0.0.1:{port}/redirect?to=/final").status_code == 302


def test_a_name_with_several_addresses_falls_back_to_the_next(
    server: tuple[int, Seen], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, seen = server
    # nothing listens on 127.0.0.3 (the server is bound to 127.0.0.1 only): the first connection fails
    fake_dns(monkeypatch, {"two.example": ["127.0.0.3", "127.0.0.1"]})
    with client_for(LENIENT) as client:
        assert client.post(f"http://two.example:{port}/hook", content=b"{}").status_code == 200
    assert len(seen.requests) == 1


def test_a_connection_opened_for_one_name_is_not_reused_for_another_on_the_same_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    peers: list[tuple[str, int]] = []

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            peers.append((self.headers.get("Host", ""), self.client_address[1]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = httpd.server_address[1]
    fake_dns(monkeypatch, {"a.example": ["127.0.0.1"], "b.example": ["127.0.0.1"]})
    try:
        with client_for(LENIENT) as client:
            for name in ("a.example", "a.example", "b.example", "a.example"):
                assert client.post(f"http://{name}:{port}/", content=b"{}").status_code == 200
    finally:
        httpd.shutdown()
        httpd.server_close()
    a_ports = {p for host, p in peers if host.startswith("a.")}
    b_ports = {p for host, p in peers if host.startswith("b.")}
    assert len(a_ports) == 1  # kept alive for a.example
    assert a_ports.isdisjoint(b_ports)  # b.example got a connection of its own
