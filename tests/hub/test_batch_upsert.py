"""Batch upsert over /ngsi-ld/v1: what every later read sees after entities are written again.

The write path updates only the body and modifiedAt of an entity whose type, attribute kinds and
location stay as stored; these tests change each of them in turn and read the entity back through
the queries that use the indexed columns (type, near/geo on the location, has several instances).
"""

from __future__ import annotations

from typing import Any

from hubdata import traffic

UPSERT = "/entityOperations/upsert"
ID = "urn:ngsi-ld:TrafficFlowObserved:jember:00001"


def _near(ngsi: Any, lon: float, lat: float) -> list[str]:
    resp = ngsi.get(
        "/entities",
        params={
            "type": "TrafficFlowObserved",
            "georel": "near;maxDistance==50",
            "geometry": "Point",
            "coordinates": f"[{lon},{lat}]",
        },
    )
    assert resp.status_code == 200, resp.text
    return [e["id"] for e in resp.json()]


def test_upserting_again_keeps_every_column_the_queries_read(ngsi: Any) -> None:
    assert ngsi.post(UPSERT, json=[traffic(1), traffic(2)]).status_code == 201
    # the same shape again, new values: found where it was, with the new values
    again = ngsi.post(UPSERT, json=[traffic(1, intensity=7, observed="2026-11-20T07:05:00Z")])
    assert again.status_code == 204, again.text
    assert _near(ngsi, 113.701, -8.17) == [ID]
    got = ngsi.get(f"/entities/{ID}").json()
    assert got["intensity"]["value"] == 7 and got["intensity"]["observedAt"] == "2026-11-20T07:05:00.000Z"
    # the location moves: the near query finds it at the new place only
    moved = traffic(1)
    moved["location"]["value"]["coordinates"] = [113.80, -8.20]
    assert ngsi.post(UPSERT, json=[moved]).status_code == 204
    assert _near(ngsi, 113.701, -8.17) == []
    assert _near(ngsi, 113.80, -8.20) == [ID]
    # the location goes away, then several instances of an attribute arrive
    gone = traffic(1)
    del gone["location"]
    gone["intensity"] = [
        {"type": "Property", "value": 1, "datasetId": "urn:ngsi-ld:Dataset:lane1"},
        {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:Dataset:lane2"},
    ]
    assert ngsi.post(UPSERT, json=[gone]).status_code == 204
    assert _near(ngsi, 113.80, -8.20) == []
    found = ngsi.get("/entities", params={"type": "TrafficFlowObserved", "q": "intensity==2"}).json()
    assert [e["id"] for e in found] == [ID]
    # and a second type: queries by either type find it
    typed = traffic(1)
    typed["type"] = ["TrafficFlowObserved", "Device"]
    assert ngsi.post(UPSERT, json=[typed]).status_code == 204
    assert [e["id"] for e in ngsi.get("/entities", params={"type": "Device"}).json()] == [ID]
    assert _near(ngsi, 113.701, -8.17) == [ID]


def test_an_upsert_records_one_history_instance_per_attribute_sent(ngsi: Any) -> None:
    for minute in range(3):
        body = [traffic(n, intensity=minute, observed=f"2026-11-20T07:0{minute}:00Z") for n in (1, 2)]
        assert ngsi.post(UPSERT, json=body).status_code in (201, 204)
    history = ngsi.get(
        f"/temporal/entities/{ID}", params={"attrs": "intensity,location", "options": "temporalValues"}
    )
    assert history.status_code == 200, history.text
    body = history.json()
    assert [v[0] for v in body["intensity"]["values"]] == [0, 1, 2]
    assert len(body["location"]["values"]) == 3


def test_a_refused_entity_leaves_the_rest_of_the_batch_written(ngsi: Any) -> None:
    bad = traffic(2)
    bad["refRoadSegment"] = {"type": "Relationship", "object": "urn:ngsi-ld:null"}
    resp = ngsi.post(UPSERT, json=[traffic(1), bad, {"id": "urn:x:3", "type": "TrafficFlowObserved"}])
    assert resp.status_code == 207, resp.text
    result = resp.json()
    assert result["success"] == [ID, "urn:x:3"]
    assert [e["entityId"] for e in result["errors"]] == ["urn:ngsi-ld:TrafficFlowObserved:jember:00002"]
    assert "urn:ngsi-ld:null" in result["errors"][0]["error"]["detail"]


def test_history_rows_that_reuse_the_body_equal_the_general_grouping() -> None:
    from kotacerdas.hub import service, store
    from kotacerdas.hub.context import ContextResolver
    from kotacerdas.hub.fastparse import FastParser

    ctx = ContextResolver(preloaded=lambda _url: None).core
    later = traffic(2, observed="2026-11-20T07:01:00Z")
    later["intensity"]["observedAt"] = "2026-11-20T07:02:00Z"  # two instants in one write
    plain = {"id": "urn:x:4", "type": "T", "a": 1, "b": {"type": "Property", "value": 2}}  # no observedAt
    nested = traffic(5)
    nested["intensity"]["accuracy"] = {"type": "Property", "value": 0.5}
    multi = traffic(6)
    multi["intensity"] = [
        {"type": "Property", "value": 1, "datasetId": "urn:x:a", "observedAt": "2026-11-20T07:00:00Z"},
        {"type": "Property", "value": 2, "datasetId": "urn:x:b", "observedAt": "2026-11-20T07:00:00Z"},
    ]
    scoped = {**traffic(7), "scope": "/Jember"}
    empty = {"id": "urn:x:8", "type": "T"}
    device = {
        "id": "urn:x:9",
        "type": "T",
        "a": {"type": "Property", "value": 1, "observedAt": "2026-11-20T07:00:00Z"},
    }
    raws = [traffic(1), later, plain, nested, multi, scoped, empty, device]
    writes = []
    for n, raw in enumerate(raws):
        write = service._new_state(FastParser(ctx).entity(raw), 1_763_600_000_000_000 + n)
        write.pk = n + 1
        writes.append(write)
    writes[1].history.append(writes[1].history[0])  # an attribute recorded twice
    general = store.history_rows(1, writes)
    bodies = [  # what write_entities passes: the body of each unscoped entity of single instances
        store._body(w.entity)
        if w.entity.scope is None and all(type(v) is dict for v in w.entity.attrs.values())
        else None
        for w in writes
    ]
    reused = store._history_rows(1, writes, bodies)

    def without_iid(rows: list[Any]) -> list[Any]:
        return [(*row[:2], *row[3:]) for row in rows]

    assert without_iid(reused) == without_iid(general)
    # traffic() has observed and unobserved attributes: two instants each (three for ``later``)
    assert [row[0] for row in general] == [1, 1, 2, 2, 2, 3, 4, 4, 5, 5, 6, 6, 8]
    assert reused[-1][6] == store._body(writes[-1].entity)
