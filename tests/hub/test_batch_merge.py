"""Batch upsert with options=update (the MQTT ingest's write): merging into the stored entity.

``_merge_attributes`` replaces a stored default instance by a new one without sub-attributes in one
step; here it is held to the general rule (find the instance with the same datasetId, stamp it with
the stored createdAt, put it in place) for every shape of stored and incoming attribute, and the
merged entities are read back through the API, where the indexed columns must still be right.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hubdata import traffic

from kotacerdas.hub import service, store
from kotacerdas.hub.entity import Entity, find_instance, instances_of, put_instance, stamp

UPSERT = "/entityOperations/upsert"
ID = "urn:ngsi-ld:TrafficFlowObserved:jember:00001"
THEN = "2026-11-20T06:00:00.000Z"
NOW = "2026-11-20T07:00:00.000Z"
A = "https://example.org/a"


def _prop(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


def _stored(value: Any, **members: Any) -> dict[str, Any]:
    return _prop(value, createdAt=THEN, modifiedAt=THEN, **members)


def _general_merge(target: store.Write, incoming: Entity, stamp_text: str, *, no_overwrite: bool) -> Any:
    """The rule, instance by instance, with the entity helpers."""
    updated: list[str] = []
    not_updated: list[tuple[str, str]] = []
    for iri, value in incoming.attrs.items():
        for inst in instances_of(value):
            old = find_instance(target.entity, iri, inst.get("datasetId"))
            if old is not None and no_overwrite:
                not_updated.append((iri, "attribute exists and noOverwrite was asked"))
                continue
            stamp(inst, stamp_text, old.get("createdAt") if old else None)
            put_instance(target.entity, iri, inst)
            target.history.append((iri, inst, False))
            if iri not in updated:
                updated.append(iri)
    return updated, not_updated


# (stored value of A or None, incoming value of A)
CASES: list[tuple[Any, Any]] = [
    (_stored(1), _prop(2, observedAt=NOW)),  # the device update: createdAt kept
    (None, _prop(2)),  # a new attribute
    ({"type": "Property", "value": 1}, _prop(2)),  # stored without createdAt
    (_stored(1, datasetId="urn:x:a"), _prop(2)),  # beside another dataset's instance
    ([_stored(1, datasetId="urn:x:a"), _stored(2)], _prop(3)),  # into a list
    ([_stored(1, datasetId="urn:x:a"), _stored(2, datasetId="urn:x:b")], _prop(3)),
    (_stored(1), _prop(2, datasetId="urn:x:a")),  # incoming with a datasetId
    (_stored(1, datasetId="urn:x:a"), _prop(2, datasetId="urn:x:a")),
    (_stored(1), _prop(2, accuracy=_prop(0.5))),  # sub-attributes are stamped too
    (_stored(1, accuracy=_stored(0.1)), _prop(2)),  # the stored sub-attribute goes
    (_stored(1), [_prop(2, datasetId="urn:x:a"), _prop(3)]),
    (
        {"type": "Relationship", "object": "urn:x:1", "createdAt": THEN},
        {"type": "Relationship", "object": "urn:x:2"},
    ),
]


@pytest.mark.parametrize("no_overwrite", [False, True])
@pytest.mark.parametrize(("stored", "incoming"), CASES)
def test_the_merge_follows_the_general_rule(stored: Any, incoming: Any, no_overwrite: bool) -> None:
    def target() -> store.Write:
        attrs: dict[str, Any] = {"https://example.org/first": _stored(0)}
        if stored is not None:
            attrs[A] = copy.deepcopy(stored)
        attrs["https://example.org/last"] = _stored(9)
        return store.Write(entity=Entity(id="urn:x:1", types=["T"], attrs=attrs), pk=1)

    def entity() -> Entity:
        return Entity(
            id="urn:x:1", types=["T"], attrs={A: copy.deepcopy(incoming), "https://example.org/new": _prop(5)}
        )

    expected_target = target()
    expected = _general_merge(expected_target, entity(), NOW, no_overwrite=no_overwrite)
    merged_target = target()
    result = service._merge_attributes(merged_target, entity(), NOW, no_overwrite=no_overwrite)
    assert (result.updated, result.not_updated) == expected
    assert list(merged_target.entity.attrs.items()) == list(expected_target.entity.attrs.items())
    assert merged_target.history == expected_target.history


def _upsert_update(ngsi: Any, body: list[dict[str, Any]]) -> Any:
    return ngsi.post(UPSERT, params={"options": "update"}, json=body)


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


def test_a_merging_upsert_keeps_what_was_not_sent_and_the_indexed_columns(ngsi: Any) -> None:
    assert ngsi.post(UPSERT, json=[traffic(1), traffic(2)]).status_code == 201
    before = ngsi.get(f"/entities/{ID}", params={"options": "sysAttrs"}).json()
    # the MQTT compact form after decoding: no "type" on the attributes
    update = {
        "id": ID,
        "type": "TrafficFlowObserved",
        "intensity": {"value": 7, "observedAt": "2026-11-20T07:05:00Z"},
        "averageVehicleSpeed": {"value": 30.5, "unitCode": "KMH", "observedAt": "2026-11-20T07:05:00Z"},
    }
    assert _upsert_update(ngsi, [update]).status_code == 204
    got = ngsi.get(f"/entities/{ID}", params={"options": "sysAttrs"}).json()
    assert got["intensity"]["value"] == 7
    assert got["intensity"]["type"] == "Property"
    assert got["intensity"]["observedAt"] == "2026-11-20T07:05:00.000Z"
    assert got["intensity"]["createdAt"] == before["intensity"]["createdAt"]
    assert got["intensity"]["modifiedAt"] > before["intensity"]["modifiedAt"]
    assert got["averageVehicleSpeed"]["unitCode"] == "KMH"
    for name in ("congested", "laneDirection", "refRoadSegment", "location"):
        assert got[name] == before[name]
    assert _near(ngsi, 113.701, -8.17) == [ID]
    # merged again with a location that moved and a second type: the indexed columns follow
    moved = {
        "id": ID,
        "type": ["TrafficFlowObserved", "Device"],
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [113.80, -8.20]}},
    }
    assert _upsert_update(ngsi, [moved]).status_code == 204
    assert _near(ngsi, 113.701, -8.17) == []
    assert _near(ngsi, 113.80, -8.20) == [ID]
    assert [e["id"] for e in ngsi.get("/entities", params={"type": "Device"}).json()] == [ID]
    # several instances merged in: the query over them finds it
    lanes = {
        "id": ID,
        "type": "TrafficFlowObserved",
        "intensity": [
            {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:lane1"},
            {"type": "Property", "value": 12, "datasetId": "urn:ngsi-ld:Dataset:lane2"},
        ],
    }
    assert _upsert_update(ngsi, [lanes]).status_code == 204
    found = ngsi.get("/entities", params={"type": "TrafficFlowObserved", "q": "intensity==12"}).json()
    assert [e["id"] for e in found] == [ID]
    history = ngsi.get(
        f"/temporal/entities/{ID}", params={"attrs": "intensity", "options": "temporalValues"}
    ).json()
    series = history["intensity"]  # one entry per datasetId once there are several
    values = [v[0] for entry in (series if isinstance(series, list) else [series]) for v in entry["values"]]
    assert sorted(values) == [7, 11, 12, 100]
