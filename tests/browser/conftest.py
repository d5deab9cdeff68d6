"""Real pages in a real browser: the app served by uvicorn on a free port, driven by Debian's Chromium.

The database is a fresh SQLite file built by the migrations and filled through the services (a
region, its offices and users, and a masterplan with realisations over three years), committed before
the server starts. Playwright never downloads a browser here: it launches /usr/bin/chromium, and the
tests are skipped on a machine without it (and fail in CI, where it must be installed).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
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
from kotacerdas.masterplan import schemas as s, service
from kotacerdas.region import service as regions

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "rahasia-yang-panjang"
RESULTS = Path(__file__).resolve().parents[2] / "test-results"


def root_conftest(config: pytest.Config) -> ModuleType:
    """tests/conftest.py as pytest loaded it (``tests`` is no package, so it cannot be imported by name)."""
    plugin = config.pluginmanager.get_plugin(str(Path(__file__).resolve().parents[1] / "conftest.py"))
    assert isinstance(plugin, ModuleType)
    return plugin


@dataclass
class LiveSite:
    url: str
    ids: dict[str, int]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# (code, name, dimension, element, office, quick win, {year: (target, realisation)})
PROGRAMMES: list[tuple[str, str, str, str, str, bool, dict[int, tuple[int, int | None]]]] = [
    (
        "GOV-01",
        "Jember Satu Data",
        "governance",
        "service",
        "Diskominfo",
        True,
        {2024: (40, 32), 2025: (60, 54), 2026: (80, 70)},
    ),
    (
        "GOV-02",
        "E-Office Terpadu",
        "governance",
        "bureaucracy",
        "Diskominfo",
        False,
        {2024: (30, 30), 2025: (60, 45), 2026: (90, None)},
    ),
    (
        "BRD-01",
        "Jember Fashion Carnaval Digital",
        "branding",
        "tourism",
        "Diskominfo",
        True,
        {2024: (50, 20), 2025: (70, 42), 2026: (90, 60)},
    ),
    (
        "ECO-01",
        "Pasar Rakyat Non-Tunai",
        "economy",
        "transaction",
        "Diskominfo",
        False,
        {2024: (20, 12), 2025: (40, 30), 2026: (60, 51)},
    ),
    (
        "LIV-01",
        "Angkutan Pintar Jember",
        "living",
        "mobility",
        "Dishub",
        True,
        {2024: (10, 6), 2025: (20, 17), 2026: (30, 28)},
    ),
    (
        "LIV-02",
        "Puskesmas Online",
        "living",
        "health",
        "Dinkes",
        False,
        {2024: (25, 25), 2025: (50, 40), 2026: (75, 60)},
    ),
    (
        "SOC-01",
        "Sekolah Digital Desa",
        "society",
        "learning",
        "Diskominfo",
        False,
        {2024: (15, 5), 2025: (30, 21), 2026: (45, None)},
    ),
    (
        "ENV-01",
        "Bank Sampah Digital",
        "environment",
        "waste",
        "Dishub",
        False,
        {2024: (100, 60), 2025: (200, 150), 2026: (300, 260)},
    ),
]


def seed(engine: Engine) -> dict[str, int]:
    """Jember with its offices and users, and its masterplan 2024-2028 filled as the admin would."""
    with make_session_factory(engine)() as session:
        region = regions.create_region(
            session=session,
            code="35.09",
            name="Kabupaten Jember",
            kind="kabupaten",
            province="Jawa Timur",
            abbreviation="JBR",
        )
        offices = {
            short: regions.create_office(session, region_id=region.id, name=name, short_name=short)
            for short, name in (
                ("Diskominfo", "Dinas Komunikasi dan Informatika"),
                ("Dishub", "Dinas Perhubungan"),
                ("Dinkes", "Dinas Kesehatan"),
            )
        }
        admin = auth.create_user(
            session,
            email="admin@jember.go.id",
            full_name="Admin Jember",
            password=PASSWORD,
            role="region_admin",
            region_id=region.id,
            office_id=offices["Diskominfo"].id,
        )
        auth.create_user(
            session,
            email="dishub@jember.go.id",
            full_name="Operator Dishub",
            password=PASSWORD,
            role="office_operator",
            region_id=region.id,
            office_id=offices["Dishub"].id,
        )
        principal = auth.principal_for_user(admin)
        plan = service.create_masterplan(
            session,
            principal=principal,
            region_id=region.id,
            data=s.MasterplanCreate(
                title="Masterplan Smart City Kabupaten Jember 2024-2028",
                start_year=2024,
                end_year=2028,
                legal_basis_number="Perbup Jember No. 12 Tahun 2024",
                vision="Jember yang cerdas, terhubung dan melayani warganya.",
                missions=[
                    "Layanan publik digital yang terpadu",
                    "Ekonomi rakyat yang bertransaksi non-tunai",
                ],
                status="approved",
            ),
        )
        for kind, body in (
            ("readiness_struktur", "Tim smart city dibentuk dengan SK Bupati; 12 ASN bersertifikat TIK."),
            ("swot_strengths", "Jaringan fiber optik di 31 kecamatan."),
            ("swot_weaknesses", "Data antar-OPD belum terhubung."),
            ("swot_opportunities", "Program Satu Data Indonesia."),
            ("swot_threats", "Anggaran TIK bersaing dengan infrastruktur jalan."),
            ("strategy", "Mulai dari satu data, lalu layanan terpadu."),
        ):
            service.set_section(
                session, principal=principal, region_id=region.id, masterplan_id=plan.id, kind=kind, body=body
            )
        ids = {"plan": plan.id}
        for code, name, dim, element, office, quick_win, values in PROGRAMMES:
            programme = service.create_programme(
                session,
                principal=principal,
                region_id=region.id,
                masterplan_id=plan.id,
                data=s.ProgrammeCreate(
                    code=code,
                    name=name,
                    dimension=dim,
                    element=element,
                    lead_office_id=offices[office].id,
                    kind="application",
                    term="medium",
                    start_year=2024,
                    end_year=2027,
                    is_quick_win=quick_win,
                    quick_win={"innovation": f"{name}: satu layanan untuk warga"} if quick_win else {},
                    budgets=[
                        s.BudgetLine(year=y, source="APBD", amount=Decimal(750_000_000))
                        for y in (2024, 2025, 2026)
                    ],
                    year_statuses=[
                        s.YearStatusWrite(year=2024, status="done"),
                        s.YearStatusWrite(
                            year=2025, status="done" if values[2025][1] == values[2025][0] else "running"
                        ),
                        s.YearStatusWrite(
                            year=2026, status="stalled" if values[2026][1] is None else "running"
                        ),
                    ],
                ),
            )
            indicator = service.create_indicator(
                session,
                principal=principal,
                region_id=region.id,
                masterplan_id=plan.id,
                data=s.IndicatorCreate(
                    code=f"{code}-I1",
                    name=f"Capaian {name}",
                    unit="%",
                    programme_id=programme.id,
                    targets=[s.TargetWrite(year=y, value=Decimal(t)) for y, (t, _r) in values.items()],
                ),
            )
            for year, (_target, real) in values.items():
                if real is not None:
                    service.record_realisation(
                        session,
                        principal=principal,
                        region_id=region.id,
                        indicator_id=indicator.id,
                        data=s.RealisationWrite(year=year, value=Decimal(real), note="laporan tahunan"),
                    )
            ids[code] = programme.id
            ids[f"{code}-I1"] = indicator.id
        session.commit()
        return ids


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp / 'kotacerdas.sqlite3'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    ids = seed(engine)
    settings = Settings(
        environment="test",
        data_dir=tmp / "data",
        database_url=url,
        secret_key="browser-secret-" + "x" * 32,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
    )
    app = create_app(settings, engine=engine)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="kotacerdas-live", daemon=True)
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
        yield LiveSite(url=base, ids=ids)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    if not CHROMIUM.exists():
        root_conftest(request.config).service_missing("Chromium (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_site: LiveSite) -> Iterator[Any]:
    context = browser.new_context(base_url=live_site.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def log_in(page: Any) -> Callable[[str], None]:
    """Log in through the login form, as a person would."""

    def _log_in(email: str) -> None:
        page.goto("/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.locator("form[action='/login'] button[type=submit]").click()
        page.wait_for_url(lambda url: "/login" not in url)

    return _log_in


@pytest.fixture
def results_dir() -> Path:
    """Screenshots go to test-results/ (ignored by git) to be looked at."""
    RESULTS.mkdir(exist_ok=True)
    return RESULTS
