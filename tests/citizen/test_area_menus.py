"""The kecamatan menus of the report pages (the office queue, the public list, the category's routes)
are filled without reading the areas' geometries: a real kecamatan boundary can run to megabytes,
and these pages are opened all day by every office."""

from __future__ import annotations

from typing import Any

from reportpages import login
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker


def _geometry_reads(session_factory: sessionmaker[Session], open_page: Any) -> tuple[Any, list[str]]:
    statements: list[str] = []
    engine = session_factory.kw["bind"].engine

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "geometry" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = open_page()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return page, statements


def test_the_kecamatan_menus_do_not_read_geometries(
    client: Any, make_client: Any, reporting: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    kaliwates = reporting["areas"]["kaliwates"]
    office = login(make_client, reporting, "dishub")
    admin = login(make_client, reporting, "admin")
    road = reporting["categories"]["road"]
    pages = {
        "office queue": lambda: office.get("/reports/queue"),
        "public list": lambda: client.get("/reports"),
        "category routes": lambda: admin.get(f"/admin/report-categories/{road.id}"),
    }
    for name, open_page in pages.items():
        page, reads = _geometry_reads(session_factory, open_page)
        assert page.status_code == 200, (name, page.text)
        assert f'value="{kaliwates.id}"' in page.text or f'name="area_{kaliwates.id}"' in page.text, name
        assert "Kaliwates" in page.text, name
        assert reads == [], (name, reads)
