"""Which addresses the server may contact for a URL somebody else chose (server-side request forgery).

Subscription endpoints, office webhooks and remote JSON-LD @contexts are URLs that API keys, office
staff or any client name; without a check, the server would call the database, Redis, a cloud
metadata service (169.254.169.254) or an internal OPD system for them. The rule:

* only ``http`` and ``https``;
* the host is resolved and EVERY address it resolves to is checked; one refused address refuses the
  URL (an attacker's name can list a public and a private address);
* refused always: link-local (169.254.0.0/16, fe80::/10), unspecified (0.0.0.0/8, ::), multicast,
  reserved and documentation ranges;
* refused unless ``allow_private``: loopback, private (RFC 1918, 100.64.0.0/10 CGNAT, fc00::/7);
* IPv6 forms that carry an IPv4 address (``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4
  ``2002::/16``) are judged by that IPv4 address;
* the operator's allowlist (networks in CIDR, host names, ``*.domain``) lets chosen destinations
  through whatever their kind.

A URL is checked when it is set (``check_url(..., lenient=True)``: a name that cannot be resolved now
is accepted, since DNS may be down) and again at every request by ``GuardedTransport``, which
connects to the very addresses it checked, so a name that resolves differently later (DNS
rebinding) cannot slip through between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from kotacerdas.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PRIVATE_KINDS = frozenset(["loopback", "private"])  # what ``allow_private`` lets through
SET_TIME_LOOKUP_SECONDS = 2.0  # a name that takes longer to resolve when it is set is accepted

_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_PRIVATE_NETWORKS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # carrier-grade NAT, often the Pemda's own WAN
        "fc00::/7",  # IPv6 unique-local
        "fec0::/10",  # IPv6 site-local (deprecated, still routed by some)
        "64:ff9b:1::/48",  # local-use NAT64
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(httpx.ConnectError):
    """The URL may not be contacted. An ``httpx.ConnectError``, so code that treats a failed
    connection as a failed delivery records this one the same way, with ``reason`` as its text."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"destination refused: {reason}")
        self.url = url
        self.reason = reason


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def kind_of(address: IPAddress) -> str | None:
    """Why an address is not a public one ("loopback", "private", "link-local", "unspecified",
    "multicast", "reserved"), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = kind_of(embedded)
            if inner is not None or address.ipv4_mapped is not None or address in _NAT64:
                return inner  # judged by the IPv4 address it reaches
    if address.is_unspecified or address in _THIS_NETWORK:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if any(address in network for network in _PRIVATE_NETWORKS):
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def parse_allow(entries: Iterable[str]) -> tuple[tuple[Network, ...], frozenset[str]]:
    """The allowlist setting into (networks, host names); raises ValueError for an entry that is
    neither an address, a CIDR network, a host name nor ``*.domain``."""
    networks: list[Network] = []
    hosts: set[str] = set()
    for raw in entries:
        entry = raw.strip().lower().rstrip(".")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        name = entry[2:] if entry.startswith("*.") else entry
        labels = name.split(".")
        if not name or "/" in name or any(not _is_label(label) for label in labels):
            raise ValueError(f"{raw!r} is neither a CIDR network, an IP address nor a host name")
        hosts.add(entry)
    return tuple(networks), frozenset(hosts)


def _is_label(label: str) -> bool:
    return 0 < len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label) and label[0] != "-"


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order (tests replace this function)."""
    found: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _resolve_within(host: str, port: int, seconds: float) -> list[IPAddress] | None:
    """``resolve`` bounded in time; None when the name cannot be resolved (now)."""
    box: dict[str, Any] = {}

    def lookup() -> None:
        try:
            box["found"] = resolve(host, port)
        except (OSError, UnicodeError, ValueError):
            box["found"] = None

    thread = threading.Thread(target=lookup, name="kc-outbound-lookup", daemon=True)
    thread.start()
    thread.join(seconds)
    found: list[IPAddress] | None = box.get("found")
    return found


@dataclass(frozen=True)
class OutboundPolicy:
    """What this installation may contact. The default refuses every non-public address."""

    allow_private: bool = False
    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        networks, hosts = parse_allow(settings.outbound_allow)
        return cls(allow_private=settings.outbound_allow_private, networks=networks, hosts=hosts)

    def host_allowed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        if name in self.hosts:
            return True
        return any(entry.startswith("*.") and name.endswith(entry[1:]) for entry in self.hosts)

    def refusal(self, address: IPAddress) -> str | None:
        """The kind of ``address`` when it may not be contacted ("loopback" ...), or None when it may."""
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        if any(a in network for a in candidates for network in self.networks):
            return None
        kind = kind_of(address)
        if kind is None or (kind in PRIVATE_KINDS and self.allow_private):
            return None
        return kind

    def _split(self, url: str) -> tuple[str, int]:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise DestinationRefused(url, "not a valid URL") from None
        if parts.scheme not in ("http", "https"):
            raise DestinationRefused(url, "only http and https URLs may be contacted")
        if not parts.hostname:
            raise DestinationRefused(url, "the URL has no host")
        return parts.hostname, port or (443 if parts.scheme == "https" else 80)

    def check_addresses(self, url: str, host: str, addresses: Sequence[IPAddress]) -> None:
        """Refuse when any of the addresses ``host`` resolved to is refused."""
        if self.host_allowed(host):
            return
        for address in addresses:
            kind = self.refusal(address)
            if kind is not None:
                if _literal(host) is not None:
                    raise DestinationRefused(url, f"{address} is a {kind} address")
                raise DestinationRefused(url, f"{host} resolves to {address}, a {kind} address")

    def check_url(self, url: str, *, lenient: bool = False) -> list[IPAddress]:
        """The checked addresses of ``url``'s host; raises ``DestinationRefused``. ``lenient`` (when
        the URL is being set): a name that cannot be resolved in a couple of seconds is accepted
        (it is checked again at each request), and the answer is then empty."""
        host, port = self._split(url)
        literal = _literal(host)
        if literal is not None:
            addresses: list[IPAddress] | None = [literal]
        elif lenient:
            if self.host_allowed(host):
                return []
            addresses = _resolve_within(host, port, SET_TIME_LOOKUP_SECONDS)
        else:
            try:
                addresses = resolve(host, port)
            except (OSError, UnicodeError, ValueError) as exc:
                raise httpx.ConnectError(f"{host} could not be resolved: {exc}") from exc
        if not addresses:
            if lenient:
                return []
            raise httpx.ConnectError(f"{host} could not be resolved")
        self.check_addresses(url, host, addresses)
        return addresses


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


class GuardedTransport(httpx.BaseTransport):
    """An ``httpx`` transport that checks every request's destination with a policy (redirects
    included, since each hop is a request of its own) and connects to the addresses it checked:
    the URL's host is replaced by the address for the connection, the ``Host`` header and the TLS
    server name (``sni_hostname``, also used to verify the certificate) keep the name. Each host
    name has a connection pool of its own, so a connection opened (and verified) for one name is
    never reused for another name on the same address.

    Environment proxies (``HTTP_PROXY``) are not used: a proxy would make the connection itself."""

    MAX_POOLS = 256

    def __init__(self, policy: OutboundPolicy, **options: Any) -> None:
        self.policy = policy
        self.options = options
        self._pools: dict[str, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def _pool(self, host: str) -> httpx.HTTPTransport:
        with self._lock:
            pool = self._pools.pop(host, None)
            if pool is None:
                pool = httpx.HTTPTransport(**self.options)
                if len(self._pools) >= self.MAX_POOLS:  # the least recently used is dropped (sockets: by GC)
                    self._pools.pop(next(iter(self._pools)))
            self._pools[host] = pool
            return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        original = request.url
        host = original.host
        addresses = self.policy.check_url(str(original))
        if _literal(host) is not None:
            return self._pool("").handle_request(request)
        pool = self._pool(host)
        if original.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        error: httpx.ConnectError | None = None
        try:
            for address in addresses:
                request.url = original.copy_with(host=str(address))
                try:
                    return pool.handle_request(request)
                except httpx.ConnectError as exc:  # try the name's next address, as a browser would
                    error = exc
        finally:
            request.url = original  # redirects and logs see the name, not the address
        raise error or httpx.ConnectError(f"{host} could not be resolved")

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


def guarded_client(policy: OutboundPolicy, **options: Any) -> httpx.Client:
    """An ``httpx.Client`` whose every request goes through ``GuardedTransport``; ``limits`` is
    handed to the transport, the rest to the client. Redirects are not followed unless asked."""
    transport_options = {key: options.pop(key) for key in ("limits",) if key in options}
    options.setdefault("follow_redirects", False)
    return httpx.Client(transport=GuardedTransport(policy, **transport_options), **options)
