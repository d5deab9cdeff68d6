"""The hub as seen by a third-party NGSI-LD client: Orange's ``ngsildclient`` 0.5.2, over real HTTP.

The app is served by uvicorn on a free port (as in tests/browser/) over a fresh SQLite file holding
region 35.09 and an API key with hub:write, hub:read and hub:subscribe. The library lives in its own
virtualenv, ``.venv-clients/`` (its pins clash with ours), so tests/clients/ngsildclient_scenario.py
runs there as a subprocess and prints what it got back as JSON. The tests check that output and what
the hub stored, read back through the hub's service functions or its HTTP API.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from kotacerdas import migrate
from kotacerdas.app import create_app
from kotacerdas.auth import service as auth
from kotacerdas.config import Settings
from kotacerdas.db import make_engine, make_session_factory
from kotacerdas.hub import service as hub
from kotacerdas.hub.entity import Entity
from kotacerdas.region import service as regions

ROOT = Path(__file__).resolve().parents[2]
CLIENT_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
SCENARIO = ROOT / "tests" / "clients" / "ngsildclient_scenario.py"
TENANT = "35.09"
TRAFFIC = "urn:ngsi-ld:TrafficFlowObserved:jember:ngsildclient:"
GAJAH_MADA = TRAFFIC + "gajah-mada"
KALIWATES = TRAFFIC + "kaliwates"
PATRANG = TRAFFIC + "patrang"
PARKING = "urn:ngsi-ld:OffStreetParking:jember:ngsildclient:alun-alun"
CORE = hub.core_context()


def root_conftest(config: pytest.Config) -> ModuleType:
    """tests/conftest.py as pytest loaded it (``tests`` is no package, so it cannot be imported by name)."""
    plugin = config.pluginmanager.get_plugin(str(ROOT / "tests" / "conftest.py"))
    assert isinstance(plugin, ModuleType)
    return plugin


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveHub:
    url: str
    engine: Engine
    region_id: int
    key: str

    def entity(self, entity_id: str) -> Entity:
        """The entity as the hub stored it (expanded attribute IRIs), through the hub's service."""
        with make_session_factory(self.engine)() as session:
            return hub.get_entity(session, region_id=self.region_id, entity_id=entity_id)

    def get(self, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}", "NGSILD-Tenant": TENANT}
        return httpx.get(f"{self.url}/ngsi-ld/v1{path}", headers=headers, timeout=10)


def _seed(engine: Engine) -> tuple[int, str]:
    with make_session_factory(engine)() as session:
        region = regions.create_region(
            session=session,
            code=TENANT,
            name="Kabupaten Jember",
            kind="kabupaten",
            province="Jawa Timur",
            abbreviation="JBR",
        )
        office = regions.create_office(
            session, region_id=region.id, name="Dinas Perhubungan", short_name="Dishub"
        )
        admin = auth.create_user(
            session,
            email="admin@jember.go.id",
            full_name="Admin Jember",
            password="rahasia-yang-panjang",
            role="region_admin",
            region_id=region.id,
            office_id=office.id,
        )
        _key, secret = auth.create_api_key(
            session,
            principal=auth.principal_for_user(admin),
            region_id=region.id,
            name="ngsildclient",
            permissions=["hub:write", "hub:read", "hub:subscribe"],
            office_id=office.id,
        )
        session.commit()
        return region.id, secret


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    tmp = tmp_path_factory.mktemp("ngsildclient")
    url = f"sqlite:///{tmp / 'kotacerdas.sqlite3'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    region_id, key = _seed(engine)
    settings = Settings(
        environment="test",
        data_dir=tmp / "data",
        database_url=url,
        secret_key="ngsildclient-secret-" + "x" * 32,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
    )
    app = create_app(settings, engine=engine)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="kotacerdas-ngsildclient", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:  # wait for the server to answer, not for a fixed time
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            pytest.fail("the app did not start answering /healthz")
        time.sleep(0.05)
    try:
        yield LiveHub(url=base, engine=engine, region_id=region_id, key=key)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    """A notification endpoint on this machine that answers 200: the subscription's target."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="ngsildclient-receiver", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/notify"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def client_python(request: pytest.FixtureRequest) -> Path:
    """The interpreter of .venv-clients/, where ngsildclient is installed (``make test`` makes it)."""
    if not CLIENT_PYTHON.exists():
        root_conftest(request.config).service_missing(
            "the ngsildclient virtualenv (make .venv-clients/.installed)"
        )
    return CLIENT_PYTHON


@pytest.fixture(scope="module")
def scenario(client_python: Path, live_hub: LiveHub, receiver: str) -> dict[str, Any]:
    """Run the ngsildclient scenario once against the live hub; its JSON output."""
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    proc = subprocess.run(
        [str(client_python), str(SCENARIO)],
        env={
            **env,
            "NGSILD_URL": live_hub.url,
            "NGSILD_TENANT": TENANT,
            "NGSILD_API_KEY": live_hub.key,
            "NGSILD_NOTIFY": receiver,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        out: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"the scenario printed no JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
        )
    return out


def _step(scenario: dict[str, Any], name: str) -> Any:
    """The result of one scenario step; a failed step fails the test with the broker's answer."""
    step = scenario["steps"][name]
    if not step["ok"]:
        calls = "\n".join(
            f"  {e['method']} {e['path']} -> {e['status']} {e['body'] or ''}" for e in scenario["exchanges"]
        )
        pytest.fail(f"ngsildclient step {name} failed: {json.dumps(step)}\nHTTP exchanges:\n{calls}")
    return step["result"]


def _iri(term: str) -> str:
    return CORE.expand(term)


# ---------------------------------------------------------------------------------------------------- tests


def test_entities_built_with_the_library_are_stored_as_built(
    scenario: dict[str, Any], live_hub: LiveHub
) -> None:
    """Entity(...).prop/.tprop/.loc/.rel and anchor() nesting land in the hub as the NGSI-LD they mean."""
    assert _step(scenario, "create_parking") is True
    parking = live_hub.entity(PARKING)
    assert parking.types == [_iri("OffStreetParking")]
    assert parking.attrs[_iri("name")]["value"] == "Parkir Alun-Alun Jember"
    assert parking.attrs[_iri("category")]["value"] == ["public", "feeCharged"]
    spots = parking.attrs[_iri("availableSpotNumber")]
    assert spots["value"] == 87
    assert spots["observedAt"] == "2026-11-20T07:00:00.000Z"
    assert spots[_iri("reliability")]["value"] == 0.9  # anchor(): a sub-property, not a top-level one
    assert _iri("reliability") not in parking.attrs
    # compound values are kept verbatim, their keys unexpanded
    assert parking.attrs[_iri("address")]["value"]["addressLocality"] == "Jember"
    location = parking.attrs[_iri("location")]
    assert location["type"] == "GeoProperty"
    # the library's loc(lat, lon) becomes GeoJSON's [lon, lat]
    assert location["value"] == {"type": "Point", "coordinates": [113.702, -8.169]}


def test_retrieve_returns_the_entity_as_created(scenario: dict[str, Any]) -> None:
    assert _step(scenario, "create_traffic") is True
    traffic = _step(scenario, "get_traffic")
    assert traffic["id"] == GAJAH_MADA
    assert traffic["type"] == "TrafficFlowObserved"
    assert "@context" in traffic  # asked for application/ld+json
    assert traffic["intensity"]["value"] == 240
    assert traffic["intensity"]["observedAt"] == "2026-11-20T07:00:00.000Z"
    assert traffic["averageVehicleSpeed"]["unitCode"] == "KMH"
    assert traffic["dateObserved"]["value"] == {"@type": "DateTime", "@value": "2026-11-20T07:00:00Z"}
    assert traffic["refRoadSegment"] == {
        "type": "Relationship",
        "object": "urn:ngsi-ld:RoadSegment:jember:gajah-mada",
    }
    assert traffic["location"]["value"]["coordinates"] == [113.7005, -8.1724]
    parking = _step(scenario, "get_parking_dict")
    assert parking["availableSpotNumber"]["reliability"] == {"type": "Property", "value": 0.9}


def test_queries_by_type_and_by_q(scenario: dict[str, Any]) -> None:
    """client.query() counts first (limit=0&count=true, NGSILD-Results-Count) and then pages."""
    assert _step(scenario, "query_type") == [GAJAH_MADA]
    assert _step(scenario, "query_q") == [PARKING]
    assert _step(scenario, "count_type") == 1
    assert _step(scenario, "query_q_after_upsert") == [GAJAH_MADA, PATRANG]
    assert _step(scenario, "query_q_only") == [GAJAH_MADA, PATRANG]


def test_batch_upsert_replaces_existing_and_creates_new(scenario: dict[str, Any], live_hub: LiveHub) -> None:
    result = _step(scenario, "upsert_batch")
    assert result["errors"] == []
    # 201 lists the ids the upsert created (5.6.8); the replaced one is not among them
    assert sorted(result["success"]) == [KALIWATES, PATRANG]
    replaced = live_hub.entity(GAJAH_MADA)
    assert replaced.attrs[_iri("intensity")]["value"] == 610
    assert replaced.attrs[_iri("congested")]["value"] is True
    assert live_hub.entity(KALIWATES).attrs[_iri("intensity")]["value"] == 150
    with make_session_factory(live_hub.engine)() as session:
        counts = hub.type_counts(session, region_id=live_hub.region_id)
    assert counts[_iri("TrafficFlowObserved")] == 3
    assert counts[_iri("OffStreetParking")] == 1


def test_subscription_is_stored_with_the_receiver_endpoint(
    scenario: dict[str, Any], live_hub: LiveHub, receiver: str
) -> None:
    created = _step(scenario, "subscribe")
    assert created["id"]
    assert created["stored"]["id"] == created["id"]
    resp = live_hub.get(f"/subscriptions/{created['id']}")
    assert resp.status_code == 200, resp.text
    stored = resp.json()
    assert stored["notification"]["endpoint"]["uri"] == receiver
    assert stored["notification"]["attributes"] == ["intensity", "congested"]
    assert stored["entities"] == [{"type": "TrafficFlowObserved"}]
    assert stored["watchedAttributes"] == ["intensity"]
    assert stored["q"] == "intensity>500"
    assert stored["subscriptionName"] == "ngsildclient congestion watch"


def test_no_request_of_the_library_ends_in_a_server_error(scenario: dict[str, Any]) -> None:
    failed = [e for e in scenario["exchanges"] if e["status"] >= 500]
    assert failed == []
