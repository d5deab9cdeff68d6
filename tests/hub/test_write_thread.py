"""NGSI-LD writes on an app bound to a SQLite engine: the unit of work runs on the engine's writer
thread (``db.sqlite_writer``) after the body was parsed in the threadpool. The answers, the errors
and what is stored are those of the usual path; several batches in flight at once all land."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hubdata import own_sqlite_hub, traffic
from sqlalchemy import text

from kotacerdas.config import Settings
from kotacerdas.db import make_engine

UPSERT = "/ngsi-ld/v1/entityOperations/upsert"


@pytest.fixture
def served(tmp_path: Path, backend: str, settings: Settings) -> Iterator[tuple[Any, dict[str, str], str]]:
    """The app on a SQLite database of its own (real commits), with a region and a hub key."""
    if backend != "sqlite":
        pytest.skip("the writer thread is SQLite's")
    from kotacerdas.app import create_app

    url = f"sqlite:///{tmp_path / 'writer.sqlite3'}"
    engine, secret = own_sqlite_hub(url, name="writer test", permissions=["hub:write", "hub:read"])
    app = create_app(settings, engine=engine)
    try:
        yield app, {"Authorization": f"Bearer {secret}", "NGSILD-Tenant": "35.09"}, url
    finally:
        engine.dispose()


def _history_instances(url: str) -> int:
    """Attribute instances kept in the history (a row per entity and instant, its attributes a JSON object)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            sql = "SELECT COUNT(*) FROM hub_history h, json_each(h.attrs)"
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


async def _post_all(app: Any, headers: dict[str, str], bodies: list[Any]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as client:
        return await asyncio.gather(*(client.post(UPSERT, json=body) for body in bodies))


def test_batch_upsert_answers_and_stores_as_usual(served: tuple[Any, dict[str, str], str]) -> None:
    app, headers, url = served
    created = asyncio.run(_post_all(app, headers, [[traffic(1), traffic(2)]]))[0]
    assert created.status_code == 201, created.text
    assert sorted(created.json()) == [
        "urn:ngsi-ld:TrafficFlowObserved:jember:00001",
        "urn:ngsi-ld:TrafficFlowObserved:jember:00002",
    ]
    # eight batches in flight at once, each a new observation of both entities: all written, in full
    bodies = [
        [traffic(i, intensity=n, observed=f"2026-11-20T07:{n:02d}:00Z") for i in (1, 2)] for n in range(1, 9)
    ]
    for again in asyncio.run(_post_all(app, headers, bodies)):
        assert again.status_code == 204, again.text
        assert again.headers["NGSILD-Tenant"] == "35.09"
    attributes = len(traffic(1)) - 2
    assert _history_instances(url) == 2 * 9 * attributes  # every attribute of both entities, each write
    stored = asyncio.run(_get(app, headers, "urn:ngsi-ld:TrafficFlowObserved:jember:00001"))
    assert stored["intensity"]["value"] in range(1, 9)


async def _get(app: Any, headers: dict[str, str], entity_id: str) -> Any:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as client:
        resp = await client.get(f"/ngsi-ld/v1/entities/{entity_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()


def test_batch_errors_are_the_usual_answers(served: tuple[Any, dict[str, str], str]) -> None:
    app, headers, _url = served
    bad = traffic(3)
    bad["id"] = "not a urn"
    partial, not_a_list, unknown_option = asyncio.run(
        _post_many(
            app, headers, [("", [traffic(3), bad]), ("", {"id": "x"}), ("?options=update,replace", [])]
        )
    )
    assert partial.status_code == 207, partial.text
    assert partial.json()["success"] == ["urn:ngsi-ld:TrafficFlowObserved:jember:00003"]
    assert [e["entityId"] for e in partial.json()["errors"]] == ["not a urn"]
    assert not_a_list.status_code == 400
    assert not_a_list.headers["content-type"].startswith("application/json")
    assert not_a_list.json()["type"].endswith("BadRequestData")
    assert unknown_option.status_code == 400
    refused = asyncio.run(_post_many(app, {**headers, "Authorization": "Bearer wrong"}, [("", [traffic(4)])]))
    assert refused[0].status_code == 401


async def _post_many(app: Any, headers: dict[str, str], posts: list[tuple[str, Any]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as client:
        return [await client.post(UPSERT + query, json=body) for query, body in posts]
