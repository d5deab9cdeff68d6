"""Entities and their attributes over /ngsi-ld/v1, as GS CIM 009 clauses 5.6, 5.7 and 6.3 describe."""

from __future__ import annotations

from typing import Any

from hubdata import CORE_LINK, make_key, traffic

LD = {"Content-Type": "application/ld+json"}
SDM = "https://smartdatamodels.org/dataModel.Transportation/"


def test_create_then_retrieve_normalized_with_link_header(ngsi: Any) -> None:
    resp = ngsi.post("/entities", json=traffic(1))
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"] == "/ngsi-ld/v1/entities/urn:ngsi-ld:TrafficFlowObserved:jember:00001"
    got = ngsi.get("/entities/urn:ngsi-ld:TrafficFlowObserved:jember:00001")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/json"
    assert "ngsi-ld-core-context" in got.headers["link"]
    body = got.json()
    assert body["type"] == "TrafficFlowObserved"
    assert body["intensity"] == {"type": "Property", "value": 100, "observedAt": "2026-11-20T07:00:00.000Z"}
    assert body["refRoadSegment"]["object"] == "urn:ngsi-ld:RoadSegment:jember:gajah-mada"
    assert body["location"]["value"]["type"] == "Point"
    assert "createdAt" not in body and "createdAt" not in body["intensity"]


def test_create_twice_is_409_already_exists(ngsi: Any) -> None:
    assert ngsi.post("/entities", json=traffic(1)).status_code == 201
    resp = ngsi.post("/entities", json=traffic(1))
    assert resp.status_code == 409
    assert resp.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists"
    assert resp.headers["content-type"] == "application/json"


def test_sysattrs_concise_and_keyvalues(ngsi: Any) -> None:
    ngsi.post("/entities", json=traffic(2))
    path = "/entities/urn:ngsi-ld:TrafficFlowObserved:jember:00002"
    sys = ngsi.get(path, params={"options": "sysAttrs"}).json()
    assert sys["createdAt"].endswith("Z") and sys["intensity"]["modifiedAt"].endswith("Z")
    concise = ngsi.get(path, params={"format": "concise"}).json()
    assert concise["congested"] is False
    assert concise["intensity"] == {"value": 100, "observedAt": "2026-11-20T07:00:00.000Z"}
    assert concise["refRoadSegment"] == {"object": "urn:ngsi-ld:RoadSegment:jember:gajah-mada"}
    assert concise["location"]["type"] == "Point"
    kv = ngsi.get(path, params={"options": "keyValues"}).json()
    assert kv["intensity"] == 100
    assert kv["refRoadSegment"] == "urn:ngsi-ld:RoadSegment:jember:gajah-mada"
    assert kv["laneDirection"] == "forward"


def test_concise_input_is_understood(ngsi: Any) -> None:
    entity = {
        "id": "urn:ngsi-ld:OffStreetParking:jember:alun-alun",
        "type": "OffStreetParking",
        "availableSpotNumber": 12,
        "name": "Parkir Alun-alun",
        "location": {"type": "Point", "coordinates": [113.7031, -8.1690]},
        "operator": {"object": "urn:ngsi-ld:Organization:dishub-jember"},
    }
    assert ngsi.post("/entities", json=entity).status_code == 201
    body = ngsi.get("/entities/" + entity["id"]).json()
    assert body["availableSpotNumber"] == {"type": "Property", "value": 12}
    assert body["location"]["type"] == "GeoProperty"
    assert body["operator"] == {"type": "Relationship", "object": "urn:ngsi-ld:Organization:dishub-jember"}


def test_jsonld_body_context_expands_and_compacts(ngsi: Any) -> None:
    ctx = {"tfo": SDM, "intensity": "tfo:intensity", "TrafficFlowObserved": "tfo:TrafficFlowObserved"}
    entity = {
        **traffic(3),
        "@context": [ctx, "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"],
    }
    resp = ngsi.post("/entities", content=_dumps(entity), headers=LD)
    assert resp.status_code == 201, resp.text
    # with only the core context the type and intensity come back as full IRIs
    plain = ngsi.get("/entities/urn:ngsi-ld:TrafficFlowObserved:jember:00003").json()
    assert plain["type"] == SDM + "TrafficFlowObserved"
    assert plain[SDM + "intensity"]["value"] == 100
    assert plain["averageVehicleSpeed"]["value"] == 42.5  # default vocabulary
    # a query by the full IRI finds it
    found = ngsi.get("/entities", params={"type": SDM + "TrafficFlowObserved"}).json()
    assert [e["id"] for e in found] == ["urn:ngsi-ld:TrafficFlowObserved:jember:00003"]


def test_ld_json_rules_of_6_3_5(ngsi: Any) -> None:
    no_context = ngsi.post("/entities", json=traffic(4), headers=LD)
    assert no_context.status_code == 400
    assert no_context.json()["type"].endswith("/BadRequestData")
    with_both = ngsi.post(
        "/entities",
        content=_dumps({**traffic(4), "@context": CORE_CONTEXT}),
        headers={**LD, "Link": CORE_LINK},
    )
    assert with_both.status_code == 400
    json_with_context = ngsi.post("/entities", json={**traffic(4), "@context": CORE_CONTEXT})
    assert json_with_context.status_code == 400


def test_content_type_and_accept_errors(ngsi: Any) -> None:
    resp = ngsi.post("/entities", content=b"<x/>", headers={"Content-Type": "application/xml"})
    assert resp.status_code == 415 and resp.content == b""
    resp = ngsi.get("/entities", params={"type": "X"}, headers={"Accept": "application/xml"})
    assert resp.status_code == 406
    star = ngsi.get("/entities", params={"type": "X"}, headers={"Accept": "*/*"})
    assert star.status_code == 200 and star.headers["content-type"] == "application/json"
    assert star.headers["link"]
    ld = ngsi.get("/entities", params={"type": "X"}, headers={"Accept": "application/ld+json"})
    assert ld.headers["content-type"] == "application/ld+json"


def test_malformed_bodies_are_problem_details(ngsi: Any) -> None:
    cases: list[tuple[bytes, str]] = [
        (b"{not json", "InvalidRequest"),
        (b"[]", "BadRequestData"),
        (_dumps({"type": "T"}), "BadRequestData"),  # no id
        (_dumps({"id": "not a uri", "type": "T"}), "BadRequestData"),
        (_dumps({"id": "urn:ngsi-ld:T:1"}), "BadRequestData"),  # no type
        (_dumps({"id": "urn:ngsi-ld:T:1", "type": "T", "a": {"type": "Property"}}), "BadRequestData"),
        (
            _dumps({"id": "urn:ngsi-ld:T:1", "type": "T", "a": {"type": "Relationship", "object": 5}}),
            "BadRequestData",
        ),
        (
            _dumps({"id": "urn:ngsi-ld:T:1", "type": "T", "location": {"type": "Point", "coordinates": "x"}}),
            "BadRequestData",
        ),
        (
            _dumps({"id": "urn:ngsi-ld:T:1", "type": "T", "a": {"type": "Weird", "value": 1}}),
            "BadRequestData",
        ),
        (
            _dumps(
                {
                    "id": "urn:ngsi-ld:T:1",
                    "type": "T",
                    "a": {"type": "Property", "value": 1, "observedAt": "yesterday"},
                }
            ),
            "BadRequestData",
        ),
        (
            _dumps(
                {"id": "urn:ngsi-ld:T:1", "type": "T", "a": {"type": "Property", "value": "urn:ngsi-ld:null"}}
            ),
            "BadRequestData",
        ),
        (_dumps({"id": "urn:ngsi-ld:T:1", "type": "T", "bad name": 1}), "BadRequestData"),
    ]
    for body, kind in cases:
        resp = ngsi.post("/entities", content=body, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400, (body, resp.text)
        problem = resp.json()
        assert problem["type"] == f"https://uri.etsi.org/ngsi-ld/errors/{kind}", body
        assert problem["title"] and problem["detail"]
    assert ngsi.get("/entities", params={"type": "T"}).json() == []  # nothing half-stored


def test_unknown_query_parameter_and_tenant(ngsi: Any) -> None:
    resp = ngsi.get("/entities", params={"type": "T", "colour": "red"})
    assert resp.status_code == 400
    assert resp.json()["type"].endswith("/InvalidRequest")
    resp = ngsi.get("/entities", params={"type": "T"}, headers={"NGSILD-Tenant": "99.99"})
    assert resp.status_code == 404
    assert resp.json()["type"].endswith("/NonexistentTenant")
    assert ngsi.get("/entities").json()["type"].endswith("/BadRequestData")  # no selector at all


def test_append_update_partial_and_delete_attributes(ngsi: Any) -> None:
    ngsi.post("/entities", json=traffic(5))
    path = "/entities/urn:ngsi-ld:TrafficFlowObserved:jember:00005"
    resp = ngsi.post(path + "/attrs", json={"occupancy": {"type": "Property", "value": 0.4}})
    assert resp.status_code == 204
    keep = ngsi.post(path + "/attrs", params={"options": "noOverwrite"}, json={"occupancy": 0.9, "laneId": 2})
    assert keep.status_code == 207
    assert keep.json()["notUpdated"][0]["attributeName"] == "occupancy"
    assert ngsi.get(path).json()["occupancy"]["value"] == 0.4
    upd = ngsi.patch(path + "/attrs", json={"intensity": {"type": "Property", "value": 150}, "nothere": 1})
    assert upd.status_code == 207
    assert upd.json()["updated"] == ["intensity"]
    assert upd.json()["notUpdated"][0]["attributeName"] == "nothere"
    part = ngsi.patch(path + "/attrs/averageVehicleSpeed", json={"value": 12.5})
    assert part.status_code == 204
    got = ngsi.get(path).json()
    assert got["averageVehicleSpeed"] == {
        "type": "Property",
        "value": 12.5,
        "unitCode": "KMH",
        "observedAt": "2026-11-20T07:00:00.000Z",
    }
    assert got["intensity"]["value"] == 150
    assert ngsi.delete(path + "/attrs/occupancy").status_code == 204
    assert "occupancy" not in ngsi.get(path).json()
    missing = ngsi.delete(path + "/attrs/occupancy")
    assert missing.status_code == 404 and missing.json()["type"].endswith("/ResourceNotFound")
    null = ngsi.patch(
        path + "/attrs", json={"laneDirection": {"type": "Property", "value": "urn:ngsi-ld:null"}}
    )
    assert null.status_code == 204
    assert "laneDirection" not in ngsi.get(path).json()


def test_multi_attribute_datasets(ngsi: Any) -> None:
    entity = {
        "id": "urn:ngsi-ld:AirQualityObserved:jember:1",
        "type": "AirQualityObserved",
        "pm25": [
            {"type": "Property", "value": 30, "datasetId": "urn:ngsi-ld:Dataset:sensorA"},
            {"type": "Property", "value": 35, "datasetId": "urn:ngsi-ld:Dataset:sensorB"},
        ],
    }
    assert ngsi.post("/entities", json=entity).status_code == 201
    path = "/entities/" + entity["id"]
    got = ngsi.get(path).json()
    assert sorted(i["value"] for i in got["pm25"]) == [30, 35]
    assert (
        ngsi.delete(path + "/attrs/pm25", params={"datasetId": "urn:ngsi-ld:Dataset:sensorA"}).status_code
        == 204
    )
    assert ngsi.get(path).json()["pm25"] == {
        "type": "Property",
        "value": 35,
        "datasetId": "urn:ngsi-ld:Dataset:sensorB",
    }
    dup = {
        **entity,
        "id": "urn:ngsi-ld:AirQualityObserved:jember:2",
        "pm25": [entity["pm25"][0], entity["pm25"][0]],
    }  # type: ignore[index]
    assert ngsi.post("/entities", json=dup).status_code == 400


def test_merge_replace_and_delete_entity(ngsi: Any) -> None:
    ngsi.post("/entities", json=traffic(6))
    path = "/entities/urn:ngsi-ld:TrafficFlowObserved:jember:00006"
    assert (
        ngsi.patch(path, json={"intensity": 7, "congested": "urn:ngsi-ld:null", "laneId": 1}).status_code
        == 204
    )
    got = ngsi.get(path).json()
    assert got["intensity"]["value"] == 7 and got["intensity"]["observedAt"] == "2026-11-20T07:00:00.000Z"
    assert "congested" not in got and got["laneId"]["value"] == 1
    assert ngsi.put(path, json={"type": "TrafficFlowObserved", "intensity": 1}).status_code == 204
    assert set(ngsi.get(path).json()) == {"id", "type", "intensity"}
    assert ngsi.delete(path).status_code == 204
    assert ngsi.get(path).status_code == 404
    assert ngsi.delete(path).status_code == 404


def test_batch_operations_report_207_per_entity(ngsi: Any) -> None:
    batch = [traffic(n) for n in range(10, 15)]
    created = ngsi.post("/entityOperations/create", json=batch)
    assert created.status_code == 201
    assert sorted(created.json()) == sorted(e["id"] for e in batch)
    again = ngsi.post("/entityOperations/create", json=[traffic(10), traffic(20), {"id": "bad", "type": "T"}])
    assert again.status_code == 207
    result = again.json()
    assert result["success"] == ["urn:ngsi-ld:TrafficFlowObserved:jember:00020"]
    assert {e["error"]["type"].rsplit("/", 1)[1] for e in result["errors"]} == {
        "AlreadyExists",
        "BadRequestData",
    }
    upsert = ngsi.post("/entityOperations/upsert", json=[traffic(10, intensity=999), traffic(30)])
    assert upsert.status_code == 201 and upsert.json() == ["urn:ngsi-ld:TrafficFlowObserved:jember:00030"]
    assert ngsi.post("/entityOperations/upsert", json=[traffic(10, intensity=5)]).status_code == 204
    body = ngsi.get("/entities/urn:ngsi-ld:TrafficFlowObserved:jember:00010").json()
    assert body["intensity"]["value"] == 5
    update = ngsi.post(
        "/entityOperations/update",
        json=[{"id": traffic(11)["id"], "type": "TrafficFlowObserved", "laneId": 3}, traffic(99)],
    )
    assert update.status_code == 207
    assert update.json()["errors"][0]["error"]["type"].endswith("/ResourceNotFound")
    assert ngsi.get("/entities/" + traffic(11)["id"]).json()["laneId"]["value"] == 3
    deleted = ngsi.post("/entityOperations/delete", json=[traffic(12)["id"], "urn:ngsi-ld:T:none"])
    assert deleted.status_code == 207
    assert deleted.json()["success"] == [traffic(12)["id"]]
    assert ngsi.get("/entities/" + traffic(12)["id"]).status_code == 404


def test_upsert_update_mode_merges(ngsi: Any) -> None:
    ngsi.post("/entities", json=traffic(40))
    resp = ngsi.post(
        "/entityOperations/upsert",
        params={"options": "update"},
        json=[{"id": traffic(40)["id"], "type": "TrafficFlowObserved", "occupancy": 0.3}],
    )
    assert resp.status_code == 204
    body = ngsi.get("/entities/" + traffic(40)["id"]).json()
    assert body["occupancy"]["value"] == 0.3 and body["intensity"]["value"] == 100


def test_query_paging_count_and_links(ngsi: Any) -> None:
    ngsi.post("/entityOperations/create", json=[traffic(n) for n in range(50)])
    first = ngsi.get("/entities", params={"type": "TrafficFlowObserved", "limit": 20, "count": "true"})
    assert first.status_code == 200
    assert first.headers["ngsild-results-count"] == "50"
    assert len(first.json()) == 20
    assert 'rel="next"' in first.headers["link"] and 'rel="prev"' not in first.headers["link"]
    last = ngsi.get("/entities", params={"type": "TrafficFlowObserved", "limit": 20, "offset": 40})
    assert len(last.json()) == 10
    assert 'rel="prev"' in last.headers["link"] and 'rel="next"' not in last.headers["link"]
    ids = [e["id"] for e in first.json()] + [
        e["id"]
        for e in ngsi.get(
            "/entities", params={"type": "TrafficFlowObserved", "limit": 30, "offset": 20}
        ).json()
    ]
    assert len(set(ids)) == 50
    assert ngsi.get("/entities", params={"type": "TrafficFlowObserved", "limit": 5000}).status_code == 403
    assert ngsi.get("/entities", params={"type": "TrafficFlowObserved", "limit": 0}).status_code == 400
    assert ngsi.get("/entities", params={"type": "TrafficFlowObserved", "limit": "x"}).status_code == 400
    only_count = ngsi.get("/entities", params={"type": "TrafficFlowObserved", "limit": 0, "count": "true"})
    assert only_count.json() == [] and only_count.headers["ngsild-results-count"] == "50"


def test_query_by_id_pattern_attrs_and_pick(ngsi: Any) -> None:
    ngsi.post("/entityOperations/create", json=[traffic(n) for n in range(3)])
    found = ngsi.get(
        "/entities", params={"idPattern": "^urn:ngsi-ld:TrafficFlowObserved:jember:0000[12]$"}
    ).json()
    assert sorted(e["id"] for e in found) == [traffic(1)["id"], traffic(2)["id"]]
    picked = ngsi.get("/entities", params={"id": traffic(0)["id"], "pick": "id,intensity"}).json()
    assert picked == [
        {
            "id": traffic(0)["id"],
            "intensity": traffic(0)["intensity"] | {"observedAt": "2026-11-20T07:00:00.000Z"},
        }
    ]
    omitted = ngsi.get("/entities/" + traffic(0)["id"], params={"omit": "location,refRoadSegment"}).json()
    assert "location" not in omitted and "intensity" in omitted


def test_geojson_output(ngsi: Any) -> None:
    ngsi.post("/entities", json=traffic(1))
    resp = ngsi.get(
        "/entities", params={"type": "TrafficFlowObserved"}, headers={"Accept": "application/geo+json"}
    )
    assert resp.headers["content-type"] == "application/geo+json"
    body = resp.json()
    assert body["type"] == "FeatureCollection"
    feature = body["features"][0]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
    assert feature["properties"]["intensity"]["value"] == 100


def test_types_and_attributes_discovery(ngsi: Any) -> None:
    ngsi.post("/entityOperations/create", json=[traffic(1), traffic(2)])
    ngsi.post(
        "/entities",
        json={
            "id": "urn:ngsi-ld:OffStreetParking:jember:p1",
            "type": "OffStreetParking",
            "availableSpotNumber": 3,
        },
    )
    types = ngsi.get("/types").json()
    assert types["type"] == "EntityTypeList"
    assert types["typeList"] == ["OffStreetParking", "TrafficFlowObserved"]
    details = ngsi.get("/types", params={"details": "true"}).json()
    tfo = next(t for t in details if t["typeName"] == "TrafficFlowObserved")
    assert "intensity" in tfo["attributeNames"] and "location" in tfo["attributeNames"]
    info = ngsi.get("/types/TrafficFlowObserved").json()
    assert info["entityCount"] == 2
    kinds = {a["attributeName"]: a["attributeTypes"] for a in info["attributeDetails"]}
    assert kinds["refRoadSegment"] == ["Relationship"] and kinds["location"] == ["GeoProperty"]
    attrs = ngsi.get("/attributes").json()
    assert "availableSpotNumber" in attrs["attributeList"]
    one = ngsi.get("/attributes/intensity").json()
    assert one["attributeCount"] == 2 and one["typeNames"] == ["TrafficFlowObserved"]
    assert ngsi.get("/types/Nothing").status_code == 404


def test_writes_need_a_key_with_the_type(ngsi: Any, client: Any, db: Any, world: Any) -> None:
    anon = client.post("/ngsi-ld/v1/entities", json=traffic(1), headers={"NGSILD-Tenant": "35.09"})
    assert anon.status_code == 401
    parking_only = make_key(
        db, world, entity_types=["https://uri.etsi.org/ngsi-ld/default-context/OffStreetParking"]
    )
    headers = {"Authorization": f"Bearer {parking_only}", "NGSILD-Tenant": "35.09"}
    denied = client.post("/ngsi-ld/v1/entities", json=traffic(1), headers=headers)
    assert denied.status_code == 403
    ok = client.post(
        "/ngsi-ld/v1/entities",
        json={"id": "urn:ngsi-ld:OffStreetParking:x", "type": "OffStreetParking", "availableSpotNumber": 1},
        headers=headers,
    )
    assert ok.status_code == 201
    other_region = make_key(db, world, region="probolinggo")
    cross = client.post(
        "/ngsi-ld/v1/entities",
        json=traffic(1),
        headers={"Authorization": f"Bearer {other_region}", "NGSILD-Tenant": "35.09"},
    )
    assert cross.status_code == 403


def test_tenants_are_separate(ngsi: Any, client: Any, db: Any, world: Any) -> None:
    ngsi.post("/entities", json=traffic(1))
    pbl = {"Authorization": f"Bearer {make_key(db, world, region='probolinggo')}", "NGSILD-Tenant": "35.74"}
    assert client.get("/ngsi-ld/v1/entities/" + traffic(1)["id"], headers=pbl).status_code == 404
    assert client.post("/ngsi-ld/v1/entities", json=traffic(1), headers=pbl).status_code == 201
    assert (
        client.get("/ngsi-ld/v1/entities", params={"type": "TrafficFlowObserved"}, headers=pbl).json()[0][
            "id"
        ]
        == traffic(1)["id"]
    )


def test_key_only_types_are_hidden_from_the_public(ngsi: Any, client: Any, db: Any, world: Any) -> None:
    from kotacerdas.hub.models import HubTypePolicy

    ngsi.post("/entities", json=traffic(1))
    db.add(
        HubTypePolicy(
            region_id=world["jember"].id,
            type="https://uri.etsi.org/ngsi-ld/default-context/TrafficFlowObserved",
            read="key",
        )
    )
    db.commit()
    public = {"NGSILD-Tenant": "35.09"}
    assert (
        client.get("/ngsi-ld/v1/entities", params={"type": "TrafficFlowObserved"}, headers=public).json()
        == []
    )
    assert client.get("/ngsi-ld/v1/entities/" + traffic(1)["id"], headers=public).status_code == 401
    assert len(ngsi.get("/entities", params={"type": "TrafficFlowObserved"}).json()) == 1


def test_oversized_body_is_413_problem(ngsi: Any, app: Any) -> None:
    app.state.settings.hub_max_body_bytes = 2048
    resp = ngsi.post("/entityOperations/upsert", json=[traffic(n) for n in range(20)])
    assert resp.status_code == 413
    assert resp.json()["type"].endswith("/BadRequestData")


CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"


def _dumps(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def test_batch_delete_as_json_ld_needs_no_context(ngsi: Any) -> None:
    ngsi.post("/entities", json=traffic(1))
    resp = ngsi.post("/entityOperations/delete", content=_dumps([traffic(1)["id"]]), headers=LD)
    assert resp.status_code == 204
    assert ngsi.get("/entities/" + traffic(1)["id"]).status_code == 404


def test_link_headers_of_other_relations_are_ignored(ngsi: Any) -> None:
    ngsi.post("/entities", json=traffic(1))
    other = '<https://example.org/doc>; rel="describedby"'
    resp = ngsi.get("/entities/" + traffic(1)["id"], headers={"Link": other})
    assert resp.status_code == 200 and resp.json()["intensity"]["value"] == 100


def test_geo_query_on_another_geoproperty_is_not_cut_by_the_location_box(ngsi: Any) -> None:
    entity = {
        "id": "urn:ngsi-ld:Device:jember:cam-1",
        "type": "Device",
        "location": {"type": "Point", "coordinates": [113.0, -8.0]},
        "observationSpace": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [113.70, -8.17]},
        },
    }
    assert ngsi.post("/entities", json=entity).status_code == 201
    params = {
        "type": "Device",
        "georel": "near;maxDistance==500",
        "geometry": "Point",
        "coordinates": "[113.7001,-8.1701]",
        "geoproperty": "observationSpace",
    }
    assert [e["id"] for e in ngsi.get("/entities", params=params).json()] == [entity["id"]]


def test_near_pages_come_nearest_first_like_a_full_sort(ngsi: Any) -> None:
    import math
    import random

    rng = random.Random(7)
    points = {}
    batch = []
    for n in range(300):
        lon, lat = 113.70 + rng.uniform(-0.03, 0.03), -8.17 + rng.uniform(-0.03, 0.03)
        entity_id = f"urn:ngsi-ld:PointOfInterest:jember:p{n}"
        points[entity_id] = (lon, lat)
        batch.append(
            {
                "id": entity_id,
                "type": "PointOfInterest",
                "location": {"type": "Point", "coordinates": [lon, lat]},
            }
        )
    assert ngsi.post("/entityOperations/create", json=batch).status_code == 201

    def metres(lon: float, lat: float) -> float:  # close enough to rank points a few km apart
        dx = (lon - 113.70) * 111_320 * math.cos(math.radians(-8.17))
        return math.hypot(dx, (lat + 8.17) * 110_574)

    within = sorted((metres(*p), i) for i, p in points.items() if metres(*p) <= 2000)
    params = {
        "type": "PointOfInterest",
        "georel": "near;maxDistance==2000",
        "geometry": "Point",
        "coordinates": "[113.70,-8.17]",
        "count": "true",
    }
    got: list[str] = []
    for offset in range(0, 60, 20):
        page = ngsi.get("/entities", params={**params, "limit": 20, "offset": offset})
        assert page.headers["ngsild-results-count"] == str(len(within))
        got += [e["id"] for e in page.json()]
    assert got == [i for _d, i in within[:60]]
    first = ngsi.get("/entities", params={k: v for k, v in params.items() if k != "count"} | {"limit": 5})
    assert [e["id"] for e in first.json()] == [i for _d, i in within[:5]]
    assert 'rel="next"' in first.headers["link"]


def test_near_rings_give_the_same_pages_as_a_full_sort_in_a_dense_cluster(ngsi: Any) -> None:
    """near searches outward in rings; whatever the density, a page is exactly the full sort's page:
    a dense cluster (hundreds within 100 m), sparse points, a road (a line) passing close by, and
    entities of another type that the type filter must skip."""
    import random

    from kotacerdas.hub.geo import geodesic_distance, haversine

    rng = random.Random(11)
    centre = (113.7000, -8.1700)
    points: dict[str, tuple[float, float]] = {}
    batch: list[dict[str, Any]] = []
    for n in range(400):
        spread = 0.0008 if n < 250 else 0.02  # ~90 m, then ~2 km
        lon, lat = centre[0] + rng.gauss(0, spread), centre[1] + rng.gauss(0, spread)
        entity_id = f"urn:ngsi-ld:Streetlight:jember:s{n}"
        points[entity_id] = (lon, lat)
        batch.append(
            {"id": entity_id, "type": "Streetlight", "location": {"type": "Point", "coordinates": [lon, lat]}}
        )
        if n % 4 == 0:
            batch.append(
                {
                    "id": f"urn:ngsi-ld:ParkingSpot:jember:p{n}",
                    "type": "ParkingSpot",
                    "location": {"type": "Point", "coordinates": [lon + 0.00001, lat]},
                }
            )
    road = {
        "id": "urn:ngsi-ld:Streetlight:jember:road-row",
        "type": "Streetlight",
        "location": {"type": "LineString", "coordinates": [[113.6900, -8.1710], [113.7100, -8.1710]]},
    }
    batch.append(road)
    for start in range(0, len(batch), 500):
        assert ngsi.post("/entityOperations/create", json=batch[start : start + 500]).status_code == 201

    def distance(entity_id: str, at: tuple[float, float]) -> float:
        if entity_id == road["id"]:  # the line passes due south of points near the centre
            return haversine(at[0], at[1], at[0], -8.1710) if 113.69 <= at[0] <= 113.71 else 1e9
        return geodesic_distance(at[0], at[1], *points[entity_id])

    for at in [centre, (113.7005, -8.1695), (113.7150, -8.1500), (113.6000, -8.3000)]:
        ids = [*points, road["id"]]
        expected = [i for d, i in sorted((distance(i, at), i) for i in ids) if d <= 1500]
        params = {
            "type": "Streetlight",
            "georel": "near;maxDistance==1500",
            "geometry": "Point",
            "coordinates": f"[{at[0]},{at[1]}]",
        }
        got: list[str] = []
        for offset in (0, 20, 40):
            page = ngsi.get("/entities", params={**params, "limit": 20, "offset": offset})
            assert page.status_code == 200, page.text
            got += [e["id"] for e in page.json()]
        assert got == expected[:60], at
