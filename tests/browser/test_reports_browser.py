"""A citizen report's whole way in Chromium: the citizen files it by clicking the kecamatan map and
attaching a photo, the region admin disposes it from the verification queue, the office takes it up
and responds from its queue, and the citizen follows it with the tracking code.

The site is its own: a fresh SQLite file with Jember, two kecamatan with polygons, three offices and a
report category, committed before uvicorn starts serving the app on a free port.
"""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image

from kotacerdas import migrate
from kotacerdas.app import create_app
from kotacerdas.auth import service as auth
from kotacerdas.citizen import categories
from kotacerdas.config import Settings
from kotacerdas.db import make_engine, make_session_factory
from kotacerdas.region import service as regions

pytestmark = pytest.mark.browser

PASSWORD = "rahasia-yang-panjang"
KALIWATES = {
    "type": "Polygon",
    "coordinates": [[[113.64, -8.20], [113.69, -8.20], [113.69, -8.15], [113.64, -8.15], [113.64, -8.20]]],
}
SUMBERSARI = {
    "type": "Polygon",
    "coordinates": [[[113.69, -8.20], [113.74, -8.20], [113.74, -8.15], [113.69, -8.15], [113.69, -8.20]]],
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _seed(url: str) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
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
        for code, name, geometry in (
            ("35.09.01", "Kaliwates", KALIWATES),
            ("35.09.02", "Sumbersari", SUMBERSARI),
        ):
            regions.create_area(
                session, region_id=region.id, code=code, name=name, kind="kecamatan", geometry=geometry
            )
        categories.create_category(
            session,
            principal=auth.principal_for_user(admin),
            region_id=region.id,
            code="jalan-rusak",
            name="Jalan rusak",
            name_en="Damaged road",
            group="infrastruktur",
            office_id=offices["Dishub"].id,
        )
        session.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def report_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("reports-browser")
    url = f"sqlite:///{tmp / 'kotacerdas.sqlite3'}"
    _seed(url)
    engine = make_engine(url)
    settings = Settings(
        environment="test",
        data_dir=tmp / "data",
        database_url=url,
        secret_key="browser-secret-" + "x" * 32,
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
    thread = threading.Thread(target=server.run, name="kotacerdas-reports", daemon=True)
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
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture
def open_tab(browser: Any, report_site: str) -> Iterator[Any]:
    """A new browser (its own cookies) on the report site, for each person of the story."""
    contexts: list[Any] = []

    def _open() -> Any:
        context = browser.new_context(base_url=report_site, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield _open
    for context in contexts:
        context.close()


def _log_in(page: Any, email: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def _photo(path: Path) -> Path:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 90, 90)).save(out, format="JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_a_report_from_the_map_to_the_office_and_back_to_the_citizen(
    open_tab: Any, report_site: str, tmp_path: Path
) -> None:
    citizen = open_tab()
    citizen.goto("/reports/new")
    citizen.select_option("select[name=category]", "jalan-rusak")
    citizen.fill("textarea[name=description]", "Lubang besar di depan kampus, berbahaya untuk motor.")
    citizen.fill("input[name=title]", "Jalan berlubang di Jl. Kalimantan")
    assert citizen.input_value("input[name=lat]") == ""

    # a click in Sumbersari (the eastern square) fills the point and names the kecamatan
    citizen.locator("#pick-map g.area[data-name='Sumbersari'] path").click()
    lat = float(citizen.input_value("input[name=lat]"))
    lon = float(citizen.input_value("input[name=lon]"))
    assert -8.20 < lat < -8.15 and 113.69 < lon < 113.74
    assert citizen.locator("#map-area").text_content() == "Kecamatan: Sumbersari"
    assert citizen.locator("#pick-map g.marker").get_attribute("display") is None  # the pin is shown
    assert citizen.locator("#nearby-live").is_hidden()  # nothing like it yet

    citizen.set_input_files("input[name=photos]", str(_photo(tmp_path / "lubang.jpg")))
    citizen.fill("input[name=name]", "Siti Aminah")
    citizen.get_by_role("button", name="Kirim laporan").click()
    citizen.wait_for_url(re.compile(r"/reports/JBR-\d{4}-\d{6}/filed$"))
    number = citizen.locator("#tracking-no").text_content().strip()
    code = citizen.locator("#access-code").text_content().strip()
    assert re.fullmatch(r"JBR-\d{4}-000001", number) and len(code) >= 10

    # another citizen at the same spot is shown the open report before sending a duplicate
    neighbour = open_tab()
    neighbour.goto("/reports/new")
    neighbour.select_option("select[name=category]", "jalan-rusak")
    neighbour.locator("#pick-map g.area[data-name='Sumbersari'] path").click()
    similar = neighbour.locator("#nearby-live")
    similar.wait_for(state="visible")
    assert number in similar.text_content() and "Laporan serupa di dekat Anda" in similar.text_content()
    assert similar.get_by_role("button", name="Dukung laporan ini").is_visible()

    admin = open_tab()
    _log_in(admin, "admin@jember.go.id")
    admin.goto("/reports/verify")
    row = admin.locator(f"tr[data-no='{number}']")
    assert "Dishub" in row.text_content()  # the suggested office
    row.locator("input[type=checkbox]").check()
    admin.get_by_role("button", name="Disposisikan", exact=True).click()
    admin.get_by_role("heading", name="1 laporan didisposisikan").wait_for()

    office = open_tab()
    _log_in(office, "dishub@jember.go.id")
    office.goto("/reports/queue")
    office.get_by_role("link", name=number).click()
    office.wait_for_url(re.compile(rf"/reports/{number}$"))
    assert "Siti Aminah" in office.content()  # identified: the office sees who reported it
    office.get_by_role("button", name="Proses laporan").click()
    office.wait_for_url(re.compile(r"ok=accepted"))
    office.fill("#respond-note", "Sudah ditambal pada 3 Juni.")
    office.get_by_role("button", name="Kirim tindak lanjut").click()
    office.wait_for_url(re.compile(r"ok=responded"))

    citizen.goto("/reports/track")
    citizen.fill("input[name=no]", number)
    citizen.fill("input[name=code]", code)
    citizen.get_by_role("button", name="Tampilkan laporan").click()
    citizen.wait_for_url(re.compile(rf"/reports/{number}\?code="))
    steps = [s.strip() for s in citizen.locator(".report-timeline .event-label").all_text_contents()]
    assert steps == [
        "Laporan dikirim",
        "Diverifikasi dan didisposisikan",
        "Diproses oleh OPD",
        "Tindak lanjut dari OPD",
    ]
    assert "Sudah ditambal pada 3 Juni." in citizen.locator(".report-timeline").text_content()
    photo = citizen.locator(".report-photos img").first
    photo.wait_for()
    assert citizen.evaluate("(img) => img.complete && img.naturalWidth", photo.element_handle()) == 320
    assert citizen.get_by_role(
        "button", name="Selesai", exact=True
    ).is_visible()  # the reporter may answer now
