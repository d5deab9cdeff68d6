"""The parsed entity states a merging batch keeps between batches (``store.StateCache``).

A merging batch (MQTT observations, batch upsert with options=update) starts from each entity's
stored state; the process keeps the states it wrote, each with the version (pk and modified_at) it
wrote, and uses one only while the row is still that version. Here every other way the row can
change (another kind of write that does not keep states, a delete and re-create, a batch that rolls
back) must show in the next merge, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from hubdata import traffic
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.auth.access import Principal
from kotacerdas.db import unit_of_work
from kotacerdas.hub import service, store
from kotacerdas.hub.entity import Entity

UPSERT = "/entityOperations/upsert"
ID = "urn:ngsi-ld:TrafficFlowObserved:jember:00001"


def _merge(ngsi: Any, **attrs: Any) -> None:
    body = [{"id": ID, "type": "TrafficFlowObserved", **attrs}]
    resp = ngsi.post(UPSERT, params={"options": "update"}, json=body)
    assert resp.status_code == 204, resp.text


def _get(ngsi: Any) -> dict[str, Any]:
    resp = ngsi.get(f"/entities/{ID}", params={"options": "keyValues"})
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = resp.json()
    return found


def _cached(engine: Any, world: dict[str, Any]) -> bool:
    """Whether the process keeps a state of the entity (what the tests below rely on being used)."""
    cache = store.state_cache_of(engine)
    return cache is not None and cache.has(world["jember"].id, ID)


def test_merges_use_the_kept_state_and_see_every_other_change(
    ngsi: Any, world: dict[str, Any], engine: Any
) -> None:
    assert ngsi.post(UPSERT, json=[traffic(1)]).status_code == 201
    _merge(ngsi, intensity={"value": 1, "observedAt": "2026-11-20T07:01:00Z"})
    assert _cached(engine, world)
    _merge(ngsi, intensity={"value": 2, "observedAt": "2026-11-20T07:02:00Z"})  # from the kept state
    assert _get(ngsi)["intensity"] == 2
    # a partial update through the entity API (which keeps no state): the next merge starts from it
    resp = ngsi.post(f"/entities/{ID}/attrs", json={"note": {"type": "Property", "value": "diperbaiki"}})
    assert resp.status_code == 204, resp.text
    _merge(ngsi, intensity={"value": 3, "observedAt": "2026-11-20T07:03:00Z"})
    got = _get(ngsi)
    assert (got["intensity"], got["note"]) == (3, "diperbaiki")
    # a replacing upsert drops what it does not send: the merge must not bring it back
    replaced = traffic(1, intensity=50)
    del replaced["laneDirection"]
    assert ngsi.post(UPSERT, json=[replaced]).status_code == 204
    _merge(ngsi, intensity={"value": 4, "observedAt": "2026-11-20T07:04:00Z"})
    got = _get(ngsi)
    assert got["intensity"] == 4
    assert "laneDirection" not in got and "note" not in got
    # deleted and created again under the same id: nothing of the old entity comes back
    _merge(ngsi, old={"value": "lama"})
    assert ngsi.delete(f"/entities/{ID}").status_code == 204
    fresh = {"id": ID, "type": "TrafficFlowObserved", "intensity": {"type": "Property", "value": 9}}
    assert ngsi.post("/entities", json=fresh).status_code == 201
    _merge(ngsi, congested={"value": True})
    assert _get(ngsi) == {"id": ID, "type": "TrafficFlowObserved", "intensity": 9, "congested": True}


def test_a_batch_that_rolls_back_leaves_no_state_behind(
    ngsi: Any, world: dict[str, Any], session_factory: sessionmaker[Session], engine: Any
) -> None:
    assert ngsi.post(UPSERT, json=[traffic(1)]).status_code == 201
    _merge(ngsi, intensity={"value": 1, "observedAt": "2026-11-20T07:01:00Z"})
    assert _cached(engine, world)
    principal = Principal(
        kind="api_key",
        label="test",
        api_key_id=None,
        region_id=world["jember"].id,
        permissions=frozenset(["hub:write", "hub:read"]),
    )
    ghost = {"id": ID, "type": "TrafficFlowObserved", "ghost": {"type": "Property", "value": "hantu"}}
    with pytest.raises(RuntimeError), unit_of_work(session_factory, write=True) as session:
        outcome = service.upsert_entities(
            session,
            region_id=world["jember"].id,
            principal=principal,
            entities=[ghost],
            ctx=service.core_context(),
            mode="update",
        )
        assert outcome.updated == [ID]
        raise RuntimeError("the batch fails after writing")
    _merge(ngsi, intensity={"value": 2, "observedAt": "2026-11-20T07:02:00Z"})
    got = _get(ngsi)
    assert got["intensity"] == 2
    assert "ghost" not in got


def _write(n: int, modified: int) -> store.Write:
    entity = Entity(f"urn:x:{n}", ["T"], {"a": {"type": "Property", "value": n}}, None, 1, modified)
    return store.Write(entity, n, [], ("T", None, False, None, None, None, None))


def test_the_cache_hands_out_copies_and_keeps_the_latest_written_first_to_go() -> None:
    cache = store.StateCache(limit=3)
    cache.remember(1, [_write(n, 10) for n in range(3)])
    found: dict[str, store.Write] = {}
    missing = cache.hits(1, [("urn:x:0", 0, 10), ("urn:x:1", 1, 11), ("urn:x:2", 99, 10)], found)
    # only the first is of the version asked (another modified_at, another pk)
    assert missing == ["urn:x:1", "urn:x:2"]
    got = found["urn:x:0"]
    got.entity.attrs["b"] = {"type": "Property", "value": 1}
    got.entity.types.append("U")
    again: dict[str, store.Write] = {}
    cache.hits(1, [("urn:x:0", 0, 10)], again)
    assert again["urn:x:0"].entity.attrs == {"a": {"type": "Property", "value": 0}}
    assert again["urn:x:0"].entity.types == ["T"]
    # written again, urn:x:0 is the newest: a fourth entity pushes out urn:x:1, the oldest written
    cache.remember(1, [_write(0, 12)])
    cache.remember(1, [_write(3, 10)])
    assert len(cache) == 3
    assert [cache.has(1, f"urn:x:{n}") for n in range(4)] == [True, False, True, True]
    assert not cache.has(2, "urn:x:0")  # another region
