"""Open311 as seen by a third-party client: the PyPI library ``georeport`` 0.3.1, over real HTTP.

The app is served by uvicorn on a free port of 127.0.0.1 (as in tests/hub/test_ngsildclient.py) over a
fresh SQLite file holding one region, Jember, so ``jurisdiction_id`` may be left out, with two services
and three reports: one waiting, one with the office, one closed. The library lives in ``.venv-clients/``
(tests/clients/requirements-georeport.txt), so tests/clients/georeport_scenario.py runs there as a
subprocess and prints what the library returned as JSON; the tests check it. The library reads JSON
with ``requests`` and XML with ``xmltodict``: both must give the same answers.
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
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn

from kotacerdas import migrate
from kotacerdas.app import create_app
from kotacerdas.auth import service as auth
from kotacerdas.auth.access import ANONYMOUS
from kotacerdas.citizen import categories, reports
from kotacerdas.config import Settings
from kotacerdas.db import make_engine, make_session_factory
from kotacerdas.region import service as regions

ROOT = Path(__file__).resolve().parents[2]
CLIENT_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
SCENARIO = ROOT / "tests" / "clients" / "georeport_scenario.py"


def root_conftest(config: pytest.Config) -> ModuleType:
    plugin = config.pluginmanager.get_plugin(str(ROOT / "tests" / "conftest.py"))
    assert isinstance(plugin, ModuleType)
    return plugin


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Seeded:
    waiting: str
    disposed: str
    closed: str


def _seed(engine: Any) -> Seeded:
    with make_session_factory(engine)() as session:
        region = regions.create_region(
            session=session,
            code="35.09",
            name="Kabupaten Jember",
            kind="kabupaten",
            province="Jawa Timur",
            abbreviation="JBR",
        )
        dishub = regions.create_office(
            session, region_id=region.id, name="Dinas Perhubungan", short_name="Dishub"
        )
        user = auth.create_user(
            session,
            email="admin@jember.go.id",
            full_name="Admin Jember",
            password="rahasia-yang-panjang",
            role="region_admin",
            region_id=region.id,
            office_id=dishub.id,
        )
        admin = auth.principal_for_user(user)
        road = categories.create_category(
            session,
            principal=admin,
            region_id=region.id,
            code="jalan-rusak",
            name="Jalan rusak",
            group="infrastruktur",
            keywords="jalan, lubang",
            office_id=dishub.id,
            attributes=[
                {
                    "code": "severity",
                    "datatype": "singlevaluelist",
                    "required": True,
                    "description": "Tingkat kerusakan",
                    "values": [{"key": "ringan", "name": "Ringan"}, {"key": "berat", "name": "Berat"}],
                }
            ],
        )
        categories.create_category(
            session, principal=admin, region_id=region.id, code="lampu", name="Lampu jalan mati"
        )
        filed = []
        for n, street in enumerate(("Jl. Kalimantan", "Jl. Jawa", "Jl. Sumatra")):
            filed.append(
                reports.file_report(
                    session,
                    principal=ANONYMOUS,
                    region_id=region.id,
                    category_id=road.id,
                    title="",
                    description=f"Lubang di {street} <berbahaya> & licin",
                    lat=-8.17 + n / 1000,
                    lon=113.71,
                    address=f"{street}, Sumbersari",
                    attributes={"severity": "berat"},
                    channel="open311",
                ).report
            )
        reports.dispose_report(session, principal=admin, report=filed[1], note="Diteruskan ke Dishub")
        reports.close_report(session, principal=admin, report=filed[2], resolution="resolved", note="Selesai")
        session.commit()
        return Seeded(filed[0].tracking_no, filed[1].tracking_no, filed[2].tracking_no)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded]]:
    tmp = tmp_path_factory.mktemp("georeport")
    url = f"sqlite:///{tmp / 'kotacerdas.sqlite3'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    seeded = _seed(engine)
    settings = Settings(
        environment="test",
        data_dir=tmp / "data",
        database_url=url,
        secret_key="georeport-secret-" + "x" * 32,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
        embedded_worker=False,
    )
    app = create_app(settings, engine=engine)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="kotacerdas-georeport", daemon=True)
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
        yield f"{base}/open311/v2", seeded
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture(scope="module")
def scenario(request: pytest.FixtureRequest, live: tuple[str, Seeded]) -> dict[str, Any]:
    has_library = CLIENT_PYTHON.exists() and (
        subprocess.run(
            [str(CLIENT_PYTHON), "-c", "import georeport"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not has_library:
        root_conftest(request.config).service_missing(
            "georeport in the client libraries' virtualenv (make .venv-clients/.installed)"
        )
    url, seeded = live
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    proc = subprocess.run(
        [str(CLIENT_PYTHON), str(SCENARIO)],
        env={
            **env,
            "GEOREPORT_URL": url,
            "GEOREPORT_JURISDICTION": "35.09",
            "GEOREPORT_SERVICE": "jalan-rusak",
            "GEOREPORT_REQUEST": seeded.disposed,
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


def result(scenario: dict[str, Any], name: str) -> Any:
    step = scenario["steps"][name]
    if not step["ok"]:
        calls = "\n".join(f"  {e['url']} -> {e['status']} {e['body']}" for e in scenario["exchanges"])
        pytest.fail(f"georeport step {name} failed: {json.dumps(step)}\nHTTP exchanges:\n{calls}")
    return step["result"]


def as_list(value: Any) -> list[Any]:
    """xmltodict gives a single repeated element as a dict, several as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


VARIANTS = [f"{fmt}_{label}_" for fmt in ("json", "xml") for label in ("with", "without")]


@pytest.mark.parametrize("variant", VARIANTS)
def test_service_list_and_definition(scenario: dict[str, Any], variant: str) -> None:
    services = {s["service_code"]: s for s in as_list(result(scenario, variant + "service_list"))}
    assert set(services) == {"jalan-rusak", "lampu"}
    road = services["jalan-rusak"]
    assert road["service_name"] == "Jalan rusak"
    assert str(road["metadata"]).lower() == "true" and str(services["lampu"]["metadata"]).lower() == "false"
    assert (
        road["type"] == "realtime"
        and road["keywords"] == "jalan, lubang"
        and road["group"] == "infrastruktur"
    )
    definition = result(scenario, variant + "service_definition")
    assert definition["service_code"] == "jalan-rusak"
    if variant.startswith("xml"):
        attribute = definition["attributes"]["attribute"]
        values = as_list(attribute["values"]["value"])
    else:
        (attribute,) = definition["attributes"]
        values = attribute["values"]
    assert attribute["code"] == "severity" and attribute["datatype"] == "singlevaluelist"
    assert str(attribute["required"]).lower() == "true"
    assert [v["key"] for v in values] == ["ringan", "berat"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_requests_and_their_filters(scenario: dict[str, Any], live: tuple[str, Seeded], variant: str) -> None:
    seeded = live[1]
    every = [r["service_request_id"] for r in as_list(result(scenario, variant + "requests"))]
    assert sorted(every) == sorted([seeded.waiting, seeded.disposed, seeded.closed])
    opened = [r["service_request_id"] for r in as_list(result(scenario, variant + "requests_open"))]
    assert sorted(opened) == sorted([seeded.waiting, seeded.disposed])
    (closed,) = as_list(result(scenario, variant + "requests_closed"))
    assert closed["service_request_id"] == seeded.closed and closed["status"] == "closed"
    assert closed["status_notes"].endswith("Selesai")
    (by_id,) = as_list(result(scenario, variant + "requests_by_id"))  # the id overrides status=closed
    assert by_id["service_request_id"] == seeded.disposed
    assert len(as_list(result(scenario, variant + "requests_by_service"))) == 3


@pytest.mark.parametrize("variant", VARIANTS)
def test_one_request(scenario: dict[str, Any], live: tuple[str, Seeded], variant: str) -> None:
    got = result(scenario, variant + "request")
    assert got["service_request_id"] == live[1].disposed
    assert got["status"] == "open"
    assert got["agency_responsible"] == "Dinas Perhubungan"
    assert got["description"] == "Lubang di Jl. Jawa <berbahaya> & licin"  # markup comes back as text
    assert got["address"] == "Jl. Jawa, Sumbersari"
    assert float(got["lat"]) == -8.169 and float(got["long"]) == 113.71
    assert got["expected_datetime"].endswith("+07:00")
    assert got["status_notes"].endswith("Diteruskan ke Dishub")
    missing = scenario["steps"][variant + "missing_request"]
    assert missing["ok"] is False and missing["status"] == 404


def test_no_call_of_the_library_ends_in_a_server_error(scenario: dict[str, Any]) -> None:
    assert len(scenario["exchanges"]) == 4 * 9
    assert [e for e in scenario["exchanges"] if e["status"] >= 500] == []
    for exchange in scenario["exchanges"]:
        fmt = "json" if ".json" in exchange["url"] else "xml"
        expected = "application/json" if fmt == "json" else "text/xml"
        assert exchange["content_type"] == f"{expected}; charset=utf-8"
