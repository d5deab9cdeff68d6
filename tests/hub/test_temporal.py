"""The temporal evolution API over /ngsi-ld/v1/temporal, as GS CIM 009 clauses 5.6.11-5.6.16, 5.7.3,
5.7.4 and 6.3.10 describe, plus the history the core API leaves behind."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hubdata import make_key, traffic
from sqlalchemy.orm import Session

from kotacerdas.hub.context import DEFAULT_VOCAB
from kotacerdas.hub.models import HubTypePolicy

VEHICLE = "urn:ngsi-ld:Vehicle:jember:B1234"
BUS = "urn:ngsi-ld:Vehicle:jember:bus-7"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


def obs(minutes: int, hour: int = 12, day: str = "2020-08-01") -> str:
    return f"{day}T{hour:02d}:{minutes:02d}:00Z"


def canon(text: str) -> str:
    return text.replace(":00Z", ":00.000Z")


def vehicle(entity_id: str = VEHICLE) -> dict[str, Any]:
    """The ETSI suite's vehicle: speed 120, 80, 100 (12:03, 12:05, 12:07); fuelLevel 67, 53, 40."""
    return {
        "id": entity_id,
        "type": "Vehicle",
        "speed": [
            {"type": "Property", "value": 120, "observedAt": obs(3)},
            {"type": "Property", "value": 80, "observedAt": obs(5)},
            {"type": "Property", "value": 100, "observedAt": obs(7)},
        ],
        "fuelLevel": [
            {"type": "Property", "value": 67, "observedAt": obs(3)},
            {"type": "Property", "value": 53, "observedAt": obs(5, 13)},
            {"type": "Property", "value": 40, "observedAt": obs(7, 14)},
        ],
    }


def values(body: dict[str, Any], attr: str) -> list[Any]:
    return [inst["value"] for inst in body.get(attr, [])]


def create(ngsi: Any, body: dict[str, Any]) -> None:
    resp = ngsi.post("/temporal/entities", json=body)
    assert resp.status_code in (201, 204), resp.text


def problem(resp: Any, status: int, kind: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["type"] == ERRORS + kind
    assert resp.json()["title"]


# --------------------------------------------------------------------------- create, add, retrieve


def test_create_temporal_representation_then_retrieve(ngsi: Any) -> None:
    resp = ngsi.post("/temporal/entities", json=vehicle())
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"] == f"/ngsi-ld/v1/temporal/entities/{VEHICLE}"
    assert resp.content == b""
    got = ngsi.get(f"/temporal/entities/{VEHICLE}")
    assert got.status_code == 200, got.text
    assert "ngsi-ld-core-context" in got.headers["link"]
    body = got.json()
    assert body["id"] == VEHICLE and body["type"] == "Vehicle"
    assert values(body, "speed") == [120, 80, 100]
    assert values(body, "fuelLevel") == [67, 53, 40]
    first = body["speed"][0]
    assert first["type"] == "Property" and first["observedAt"] == canon(obs(3))
    assert first["instanceId"].startswith("urn:ngsi-ld:attribute:instance:")
    assert len({i["instanceId"] for i in body["speed"]}) == 3
    assert "createdAt" not in first and "modifiedAt" not in first
    sys = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"options": "sysAttrs"}).json()
    assert sys["speed"][0]["createdAt"].endswith("Z") and sys["speed"][0]["modifiedAt"].endswith("Z")
    assert sys["createdAt"].endswith("Z")


def test_the_newest_instance_becomes_the_entity_current_value(ngsi: Any) -> None:
    create(ngsi, vehicle())
    current = ngsi.get(f"/entities/{VEHICLE}").json()
    assert current["speed"] == {"type": "Property", "value": 100, "observedAt": canon(obs(7))}
    assert current["fuelLevel"]["value"] == 40
    # an older instance is recorded but does not replace the current value; a newer one does
    older = {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": [{"type": "Property", "value": 50, "observedAt": obs(0)}],
    }
    resp = ngsi.post("/temporal/entities", json=older)
    assert resp.status_code == 204, resp.text
    assert ngsi.get(f"/entities/{VEHICLE}").json()["speed"]["value"] == 100
    assert values(ngsi.get(f"/temporal/entities/{VEHICLE}").json(), "speed") == [50, 120, 80, 100]
    newer = {"speed": [{"type": "Property", "value": 30, "observedAt": obs(30)}]}
    assert ngsi.post(f"/temporal/entities/{VEHICLE}/attrs", json=newer).status_code == 204
    assert ngsi.get(f"/entities/{VEHICLE}").json()["speed"]["value"] == 30


def test_add_attribute_instances(ngsi: Any) -> None:
    create(ngsi, vehicle())
    body = {
        "brandName": {"type": "Property", "value": "Mercedes"},
        "speed": [{"type": "Property", "value": 90, "observedAt": obs(9)}],
    }
    resp = ngsi.post(f"/temporal/entities/{VEHICLE}/attrs", json=body)
    assert resp.status_code == 204, resp.text
    got = ngsi.get(f"/temporal/entities/{VEHICLE}").json()
    assert values(got, "speed") == [120, 80, 100, 90]
    assert values(got, "brandName") == ["Mercedes"]
    missing = ngsi.post("/temporal/entities/urn:ngsi-ld:Vehicle:nobody/attrs", json=body)
    problem(missing, 404, "ResourceNotFound")
    problem(ngsi.post(f"/temporal/entities/{VEHICLE}/attrs", json={}), 400, "BadRequestData")


def test_retrieve_unknown_entity_or_attribute_is_404(ngsi: Any) -> None:
    problem(ngsi.get("/temporal/entities/urn:ngsi-ld:Vehicle:nobody"), 404, "ResourceNotFound")
    create(ngsi, vehicle())
    problem(
        ngsi.get(f"/temporal/entities/{VEHICLE}", params={"attrs": "unknownAttribute"}),
        404,
        "ResourceNotFound",
    )
    problem(ngsi.get("/temporal/entities/not-a-uri"), 400, "BadRequestData")


def test_attrs_pick_and_omit(ngsi: Any) -> None:
    create(ngsi, vehicle())
    only_speed = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"attrs": "speed"}).json()
    assert set(only_speed) == {"id", "type", "speed"}
    picked = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"pick": "id,fuelLevel"}).json()
    assert set(picked) == {"id", "fuelLevel"}
    omitted = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"omit": "speed"}).json()
    assert "speed" not in omitted and values(omitted, "fuelLevel") == [67, 53, 40]


# --------------------------------------------------------------------------- temporal query language


@pytest.mark.parametrize(
    ("params", "speeds"),
    [
        ({"timerel": "before", "timeAt": obs(5)}, [120]),  # before: exclusive
        ({"timerel": "after", "timeAt": obs(5)}, [80, 100]),  # after: inclusive
        ({"timerel": "between", "timeAt": obs(5), "endTimeAt": obs(7)}, [80]),  # [lower, upper)
        ({"timerel": "between", "timeAt": obs(3), "endTimeAt": obs(8)}, [120, 80, 100]),
        ({"timerel": "after", "timeAt": obs(8)}, []),
    ],
)
def test_timerel_bounds(ngsi: Any, params: dict[str, str], speeds: list[int]) -> None:
    create(ngsi, vehicle())
    body = ngsi.get(f"/temporal/entities/{VEHICLE}", params=params).json()
    assert values(body, "speed") == speeds


def test_instances_without_the_temporal_property_do_not_match(ngsi: Any) -> None:
    create(ngsi, {**vehicle(), "brandName": [{"type": "Property", "value": "Mercedes"}]})
    everything = ngsi.get(f"/temporal/entities/{VEHICLE}").json()
    assert values(everything, "brandName") == ["Mercedes"]
    windowed = ngsi.get(
        f"/temporal/entities/{VEHICLE}", params={"timerel": "after", "timeAt": "1970-01-01T00:00:00Z"}
    ).json()
    assert "brandName" not in windowed and values(windowed, "speed") == [120, 80, 100]
    by_modification = ngsi.get(
        f"/temporal/entities/{VEHICLE}",
        params={"timerel": "after", "timeAt": "2020-01-01T00:00:00Z", "timeproperty": "modifiedAt"},
    ).json()
    assert values(by_modification, "brandName") == ["Mercedes"]
    nothing_deleted = ngsi.get(
        f"/temporal/entities/{VEHICLE}",
        params={"timerel": "after", "timeAt": "2020-01-01T00:00:00Z", "timeproperty": "deletedAt"},
    ).json()
    assert set(nothing_deleted) == {"id", "type"}
    created = ngsi.get(
        f"/temporal/entities/{VEHICLE}",
        params={"timerel": "before", "timeAt": "2020-01-01T00:00:00Z", "timeproperty": "createdAt"},
    ).json()
    assert set(created) == {"id", "type"}  # every instance was created (stored) now, not in 2019


def test_last_n(ngsi: Any) -> None:
    create(ngsi, vehicle())
    body = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"lastN": "2"}).json()
    assert values(body, "speed") == [80, 100]
    assert values(body, "fuelLevel") == [53, 40]
    windowed = ngsi.get(
        f"/temporal/entities/{VEHICLE}", params={"lastN": "1", "timerel": "before", "timeAt": obs(6)}
    ).json()
    assert values(windowed, "speed") == [80]


def test_temporal_values_representation(ngsi: Any) -> None:
    create(
        ngsi,
        {
            **vehicle(),
            "owner": [{"type": "Relationship", "object": "urn:ngsi-ld:Person:1", "observedAt": obs(3)}],
        },
    )
    for params in ({"format": "temporalValues"}, {"options": "temporalValues"}, {"format": "simplified"}):
        body = ngsi.get(f"/temporal/entities/{VEHICLE}", params=params).json()
        assert body["speed"] == {
            "type": "Property",
            "values": [[120, canon(obs(3))], [80, canon(obs(5))], [100, canon(obs(7))]],
        }
        assert body["owner"] == {"type": "Relationship", "objects": [["urn:ngsi-ld:Person:1", canon(obs(3))]]}


def test_dataset_instances_share_one_array(ngsi: Any) -> None:
    body = vehicle()
    body["fuelLevel"].append(
        {
            "type": "Property",
            "value": 39,
            "observedAt": obs(8, 14),
            "datasetId": "urn:ngsi-ld:Dataset:sensor-b",
        }
    )
    create(ngsi, body)
    got = ngsi.get(f"/temporal/entities/{VEHICLE}").json()
    assert values(got, "fuelLevel") == [67, 53, 40, 39]
    assert got["fuelLevel"][3]["datasetId"] == "urn:ngsi-ld:Dataset:sensor-b"
    only_b = ngsi.get(
        f"/temporal/entities/{VEHICLE}", params={"datasetId": "urn:ngsi-ld:Dataset:sensor-b"}
    ).json()
    assert values(only_b, "fuelLevel") == [39] and "speed" not in only_b
    default = ngsi.get(
        f"/temporal/entities/{VEHICLE}", params={"datasetId": "@none", "attrs": "fuelLevel"}
    ).json()
    assert values(default, "fuelLevel") == [67, 53, 40]
    simplified = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"format": "temporalValues"}).json()
    assert simplified["fuelLevel"] == [
        {
            "type": "Property",
            "values": [[67, canon(obs(3))], [53, canon(obs(5, 13))], [40, canon(obs(7, 14))]],
        },
        {
            "type": "Property",
            "datasetId": "urn:ngsi-ld:Dataset:sensor-b",
            "values": [[39, canon(obs(8, 14))]],
        },
    ]
    # both datasets are current values of the entity
    current = ngsi.get(f"/entities/{VEHICLE}").json()
    assert sorted(i["value"] for i in current["fuelLevel"]) == [39, 40]


# --------------------------------------------------------------------------- aggregation


def aggregated(ngsi: Any, **params: str) -> Any:
    resp = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"format": "aggregatedValues", **params})
    assert resp.status_code == 200, resp.text
    return resp.json()


def readings_vehicle() -> dict[str, Any]:
    """12:03 120, 12:05 80, 12:07 100, 12:09 80 and 13:10 60; status open, closed, open."""
    speeds = [(3, 12, 120), (5, 12, 80), (7, 12, 100), (9, 12, 80), (10, 13, 60)]
    return {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": [{"type": "Property", "value": v, "observedAt": obs(m, h)} for m, h, v in speeds],
        "status": [
            {"type": "Property", "value": s, "observedAt": obs(m)}
            for m, s in ((4, "open"), (6, "closed"), (8, "open"))
        ],
    }


def test_every_aggregation_method_hourly(ngsi: Any) -> None:
    create(ngsi, readings_vehicle())
    body = aggregated(
        ngsi,
        aggrMethods="totalCount,distinctCount,sum,avg,min,max,stddev,sumsq",
        aggrPeriodDuration="PT1H",
        timerel="between",
        timeAt="2020-08-01T12:00:00Z",
        endTimeAt="2020-08-01T14:00:00Z",
    )
    speed = body["speed"]
    assert speed["type"] == "Property"
    first = ["2020-08-01T12:00:00.000Z", "2020-08-01T13:00:00.000Z"]
    second = ["2020-08-01T13:00:00.000Z", "2020-08-01T14:00:00.000Z"]
    # 12:00-13:00: 120, 80, 100, 80 -> n 4, sum 380, avg 95, sumsq 37200, population variance 9300 - 9025
    assert speed["totalCount"] == [[4, *first], [1, *second]]
    assert speed["distinctCount"] == [[3, *first], [1, *second]]
    assert speed["sum"] == [[380.0, *first], [60.0, *second]]
    assert speed["avg"] == [[95.0, *first], [60.0, *second]]
    assert speed["min"] == [[80.0, *first], [60.0, *second]]
    assert speed["max"] == [[120.0, *first], [60.0, *second]]
    assert speed["sumsq"] == [[37200.0, *first], [3600.0, *second]]
    assert speed["stddev"][0][0] == pytest.approx(math.sqrt(275.0))
    assert speed["stddev"][1] == [0.0, *second]
    # text values are counted, not summed
    status = body["status"]
    assert status["totalCount"] == [[3, *first]]
    assert status["distinctCount"] == [[2, *first]]
    assert status["avg"] == [] and status["sum"] == []


def test_aggregation_over_the_whole_range_and_from_the_first_instance(ngsi: Any) -> None:
    create(ngsi, readings_vehicle())
    whole = aggregated(
        ngsi,
        aggrMethods="avg,max",
        timerel="between",
        timeAt="2020-08-01T12:00:00Z",
        endTimeAt="2020-08-01T14:00:00Z",
    )
    span = ["2020-08-01T12:00:00.000Z", "2020-08-01T14:00:00.000Z"]
    assert whole["speed"]["avg"] == [[88.0, *span]]  # (120 + 80 + 100 + 80 + 60) / 5
    assert whole["speed"]["max"] == [[120.0, *span]]
    zero = aggregated(ngsi, aggrMethods="avg", aggrPeriodDuration="PT0S", timerel="before", timeAt=obs(0, 13))
    assert zero["speed"]["avg"] == [[95.0, canon(obs(3)), canon(obs(0, 13))]]
    # without timerel the periods start at the entity's first instance (the ETSI suite's 12:03)
    hourly = aggregated(ngsi, aggrMethods="avg", aggrPeriodDuration="PT1H")
    assert hourly["speed"]["avg"] == [
        [95.0, canon(obs(3)), canon(obs(3, 13))],
        [60.0, canon(obs(3, 13)), canon(obs(3, 14))],
    ]
    quarter = aggregated(ngsi, aggrMethods="totalCount", aggrPeriodDuration="PT15M", lastN="1")
    assert quarter["speed"]["totalCount"] == [[1, canon(obs(3, 13)), canon(obs(18, 13))]]
    via_options = ngsi.get(
        f"/temporal/entities/{VEHICLE}", params={"options": "aggregatedValues", "aggrMethods": "min"}
    )
    assert via_options.json()["speed"]["min"][0][0] == 60.0


def test_aggregation_of_relationships_and_of_datasets_written_together(ngsi: Any) -> None:
    radar, loop = "urn:ngsi-ld:Dataset:radar", "urn:ngsi-ld:Dataset:loop"
    body = {
        "id": VEHICLE,
        "type": "Vehicle",
        # the two datasets observed at the same instants share history rows
        "speed": [
            {"type": "Property", "value": v, "observedAt": obs(m), "datasetId": ds}
            for m, v, ds in ((3, 10, radar), (3, 100, loop), (5, 20, radar), (5, 300, loop), (7, 20, radar))
        ],
        "driver": [
            {"type": "Relationship", "object": f"urn:ngsi-ld:Person:{p}", "observedAt": obs(m)}
            for m, p in ((3, "a"), (5, "b"), (7, "a"))
        ],
    }
    create(ngsi, body)
    got = aggregated(ngsi, aggrMethods="totalCount,distinctCount,avg,max", aggrPeriodDuration="PT1H")
    span = [canon(obs(3)), canon(obs(3, 13))]
    by_dataset = {s["datasetId"]: s for s in got["speed"]}
    assert by_dataset[radar]["totalCount"] == [[3, *span]]
    assert by_dataset[radar]["distinctCount"] == [[2, *span]]
    assert by_dataset[radar]["avg"] == [[50 / 3, *span]]
    assert by_dataset[loop]["avg"] == [[200.0, *span]] and by_dataset[loop]["max"] == [[300.0, *span]]
    assert got["driver"]["type"] == "Relationship"
    assert got["driver"]["totalCount"] == [[3, *span]] and got["driver"]["distinctCount"] == [[2, *span]]
    assert got["driver"]["avg"] == []
    only_loop = aggregated(ngsi, aggrMethods="sum", datasetId=loop, attrs="speed")
    assert only_loop["speed"]["sum"][0][0] == 400.0
    # instances that share a history row still have their own instanceId
    speed = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"attrs": "speed"}).json()["speed"]
    assert len({i["instanceId"] for i in speed}) == 5
    first_loop = next(i["instanceId"] for i in speed if i.get("datasetId") == loop)
    assert ngsi.delete(f"/temporal/entities/{VEHICLE}/attrs/speed/{first_loop}").status_code == 204
    again = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"attrs": "speed", "datasetId": loop}).json()
    assert values(again, "speed") == [300]


@pytest.mark.parametrize(
    ("params", "status", "kind"),
    [
        ({"format": "aggregatedValues"}, 400, "BadRequestData"),
        ({"format": "aggregatedValues", "aggrMethods": "median"}, 400, "BadRequestData"),
        (
            {"format": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "1H"},
            400,
            "BadRequestData",
        ),
        (
            {"format": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "PT"},
            400,
            "BadRequestData",
        ),
        (
            {"format": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "P1M"},
            422,
            "OperationNotSupported",
        ),
        ({"timerel": "during", "timeAt": obs(3)}, 400, "BadRequestData"),
        ({"timerel": "before"}, 400, "BadRequestData"),
        ({"timerel": "before", "timeAt": "yesterday"}, 400, "BadRequestData"),
        ({"timerel": "between", "timeAt": obs(3)}, 400, "BadRequestData"),
        ({"timerel": "between", "timeAt": obs(5), "endTimeAt": obs(3)}, 400, "BadRequestData"),
        ({"timeAt": obs(3)}, 400, "BadRequestData"),
        ({"timeproperty": "observedOn"}, 400, "BadRequestData"),
        ({"lastN": "0"}, 400, "BadRequestData"),
        ({"lastN": "many"}, 400, "BadRequestData"),
        ({"format": "tabular"}, 400, "BadRequestData"),
        ({"options": "temporalValues,aggregatedValues"}, 400, "BadRequestData"),
        ({"options": "everything"}, 400, "BadRequestData"),
        ({"unknownParameter": "1"}, 400, "InvalidRequest"),
    ],
)
def test_bad_temporal_parameters(ngsi: Any, params: dict[str, str], status: int, kind: str) -> None:
    create(ngsi, vehicle())
    problem(ngsi.get(f"/temporal/entities/{VEHICLE}", params=params), status, kind)


# --------------------------------------------------------------------------- paging (6.3.10)


def many(n: int, attr: str = "speed", start_hour: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "type": "Property",
            "value": i,
            "observedAt": f"2020-01-01T{start_hour + i // 60:02d}:{i % 60:02d}:00Z",
        }
        for i in range(n)
    ]


def test_instance_limit_answers_206_with_content_range(ngsi: Any) -> None:
    # 40 speed readings a minute apart (00:00 .. 00:39) against the limit of 30 per attribute
    create(ngsi, {"id": VEHICLE, "type": "Vehicle", "speed": many(40)})
    first = ngsi.get(f"/temporal/entities/{VEHICLE}")
    assert first.status_code == 206
    assert values(first.json(), "speed") == list(range(30))
    assert first.headers["content-range"] == "date-time 2020-01-01T00:00:00.000Z-2020-01-01T00:29:00.000Z/*"
    after = ngsi.get(
        f"/temporal/entities/{VEHICLE}", params={"timerel": "after", "timeAt": "2020-01-01T00:09:00Z"}
    )
    assert after.status_code == 206  # 31 instances from 00:09 on
    assert after.headers["content-range"] == "date-time 2020-01-01T00:09:00.000Z-2020-01-01T00:38:00.000Z/*"
    exactly = ngsi.get(
        f"/temporal/entities/{VEHICLE}", params={"timerel": "after", "timeAt": "2020-01-01T00:10:00Z"}
    )
    assert exactly.status_code == 200 and len(values(exactly.json(), "speed")) == 30
    rest = ngsi.get(
        f"/temporal/entities/{VEHICLE}", params={"timerel": "after", "timeAt": "2020-01-01T00:30:00Z"}
    )
    assert rest.status_code == 200 and values(rest.json(), "speed") == list(range(30, 40))
    assert "content-range" not in rest.headers
    newest = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"lastN": "35"})
    assert newest.status_code == 206
    assert values(newest.json(), "speed") == list(range(10, 40))
    assert newest.headers["content-range"] == "date-time 2020-01-01T00:39:00.000Z-2020-01-01T00:10:00.000Z/35"
    before = ngsi.get(
        f"/temporal/entities/{VEHICLE}",
        params={"lastN": "35", "timerel": "before", "timeAt": "2021-01-01T00:00:00Z"},
    )
    assert before.headers["content-range"] == "date-time 2021-01-01T00:00:00.000Z-2020-01-01T00:10:00.000Z/35"
    within = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"lastN": "30"})
    assert within.status_code == 200 and len(values(within.json(), "speed")) == 30


def test_a_cut_applies_to_every_attribute_of_the_page(ngsi: Any) -> None:
    fuel = [
        {"type": "Property", "value": v, "observedAt": t}
        for v, t in ((9, "2020-01-01T00:05:00Z"), (8, "2020-01-01T00:35:00Z"))
    ]
    create(ngsi, {"id": VEHICLE, "type": "Vehicle", "speed": many(40), "fuelLevel": fuel})
    page = ngsi.get(f"/temporal/entities/{VEHICLE}")
    assert page.status_code == 206
    assert values(page.json(), "fuelLevel") == [9]  # 00:35 lies beyond the page's range
    temporal_values = ngsi.get(f"/temporal/entities/{VEHICLE}", params={"format": "temporalValues"})
    assert temporal_values.status_code == 206 and len(temporal_values.json()["speed"]["values"]) == 30


# --------------------------------------------------------------------------- query


def two_vehicles_and_a_bus(ngsi: Any) -> None:
    create(ngsi, vehicle())
    september = vehicle("urn:ngsi-ld:Vehicle:jember:B5678")
    for attr in ("speed", "fuelLevel"):
        for inst in september[attr]:
            inst["observedAt"] = inst["observedAt"].replace("2020-08", "2020-09")
    create(ngsi, september)
    create(ngsi, {**vehicle(BUS), "type": "Bus"})


def test_query_temporal_evolution(ngsi: Any) -> None:
    two_vehicles_and_a_bus(ngsi)
    resp = ngsi.get(
        "/temporal/entities", params={"type": "Vehicle", "timerel": "after", "timeAt": "2020-08-01T12:04:00Z"}
    )
    assert resp.status_code == 200, resp.text
    found = {e["id"]: e for e in resp.json()}
    assert set(found) == {VEHICLE, "urn:ngsi-ld:Vehicle:jember:B5678"}
    assert values(found[VEHICLE], "speed") == [80, 100]
    assert values(found[VEHICLE], "fuelLevel") == [53, 40]
    assert values(found["urn:ngsi-ld:Vehicle:jember:B5678"], "speed") == [120, 80, 100]
    # an entity with no instance in the window does not match
    august = ngsi.get(
        "/temporal/entities",
        params={"type": "Vehicle,Bus", "timerel": "before", "timeAt": "2020-09-01T00:00:00Z"},
    )
    assert {e["id"] for e in august.json()} == {VEHICLE, BUS}
    counted = ngsi.get(
        "/temporal/entities",
        params={
            "type": "Vehicle,Bus",
            "timerel": "after",
            "timeAt": "2020-01-01T00:00:00Z",
            "limit": "2",
            "count": "true",
        },
    )
    assert counted.headers["ngsild-results-count"] == "3"
    assert len(counted.json()) == 2
    assert 'rel="next"' in counted.headers["link"]
    by_id = ngsi.get("/temporal/entities", params={"id": BUS, "attrs": "speed", "lastN": "1"}).json()
    assert [(e["id"], values(e, "speed"), "fuelLevel" in e) for e in by_id] == [(BUS, [100], False)]
    pattern = ngsi.get(
        "/temporal/entities", params={"idPattern": "B5678$", "format": "temporalValues"}
    ).json()
    assert [e["id"] for e in pattern] == ["urn:ngsi-ld:Vehicle:jember:B5678"]
    by_value = ngsi.get("/temporal/entities", params={"type": "Vehicle", "q": "fuelLevel==40"}).json()
    assert len(by_value) == 2  # q applies to the current state of the entities


def test_query_with_aggregation_and_geo(ngsi: Any) -> None:
    near = {
        **vehicle(),
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [113.70, -8.17]}},
    }
    far_id = "urn:ngsi-ld:Vehicle:jember:far"
    far = {
        **vehicle(far_id),
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [112.0, -7.0]}},
    }
    create(ngsi, near)
    create(ngsi, far)
    resp = ngsi.get(
        "/temporal/entities",
        params={
            "type": "Vehicle",
            "georel": "near;maxDistance==2000",
            "geometry": "Point",
            "coordinates": "[113.701,-8.171]",
            "attrs": "speed",
            "format": "aggregatedValues",
            "aggrMethods": "max",
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [e["id"] for e in body] == [VEHICLE]
    assert body[0]["speed"]["max"][0][0] == 120.0 and "fuelLevel" not in body[0]


def test_query_needs_a_selector_and_good_parameters(ngsi: Any) -> None:
    create(ngsi, vehicle())
    problem(
        ngsi.get("/temporal/entities", params={"timerel": "after", "timeAt": obs(3)}), 400, "BadRequestData"
    )
    problem(ngsi.get("/temporal/entities", params={"type": "Vehicle", "limit": "-1"}), 400, "BadRequestData")
    problem(ngsi.get("/temporal/entities", params={"type": "Vehicle", "limit": "0"}), 400, "BadRequestData")
    problem(ngsi.get("/temporal/entities", params={"type": "Vehicle", "q": "speed>>"}), 400, "BadRequestData")
    problem(ngsi.get("/temporal/entities", params={"type": "Vehicle", "bogus": "1"}), 400, "InvalidRequest")
    problem(
        ngsi.get("/temporal/entities", params={"type": "Vehicle", "scopeQ": "/a"}),
        422,
        "OperationNotSupported",
    )


def test_query_via_post(ngsi: Any) -> None:
    two_vehicles_and_a_bus(ngsi)
    query = {
        "type": "Query",
        "entities": [{"type": "Vehicle"}],
        "attrs": ["speed"],
        "temporalQ": {
            "timerel": "between",
            "timeAt": "2020-08-01T12:04:00Z",
            "endTimeAt": "2020-08-01T12:06:00Z",
        },
    }
    resp = ngsi.post("/temporal/entityOperations/query", json=query)
    assert resp.status_code == 200, resp.text
    assert [(e["id"], values(e, "speed")) for e in resp.json()] == [(VEHICLE, [80])]
    aggregated_q = {**query, "temporalQ": {"lastN": 2}, "aggrMethods": ["sum"], "aggrPeriodDuration": "P1D"}
    agg = ngsi.post(
        "/temporal/entityOperations/query", json=aggregated_q, params={"format": "aggregatedValues"}
    )
    sums = {e["id"]: e["speed"]["sum"] for e in agg.json()}
    assert sums[VEHICLE] == [[300.0, canon(obs(3)), "2020-08-02T12:03:00.000Z"]]
    problem(
        ngsi.post("/temporal/entityOperations/query", json={"type": "Subscription"}), 400, "BadRequestData"
    )
    problem(
        ngsi.post("/temporal/entityOperations/query", json={**query, "temporalQ": "soon"}),
        400,
        "BadRequestData",
    )


# --------------------------------------------------------------------------- deletes and edits


def test_delete_attribute_from_temporal_representation(ngsi: Any) -> None:
    body = vehicle()
    body["fuelLevel"].append(
        {"type": "Property", "value": 39, "observedAt": obs(8, 14), "datasetId": "urn:ngsi-ld:Dataset:b"}
    )
    create(ngsi, body)
    resp = ngsi.delete(
        f"/temporal/entities/{VEHICLE}/attrs/fuelLevel", params={"datasetId": "urn:ngsi-ld:Dataset:b"}
    )
    assert resp.status_code == 204, resp.text
    assert values(ngsi.get(f"/temporal/entities/{VEHICLE}").json(), "fuelLevel") == [67, 53, 40]
    assert ngsi.delete(f"/temporal/entities/{VEHICLE}/attrs/fuelLevel").status_code == 204
    assert "fuelLevel" not in ngsi.get(f"/temporal/entities/{VEHICLE}").json()
    problem(ngsi.delete(f"/temporal/entities/{VEHICLE}/attrs/fuelLevel"), 404, "ResourceNotFound")
    assert (
        ngsi.delete(f"/temporal/entities/{VEHICLE}/attrs/speed", params={"deleteAll": "true"}).status_code
        == 204
    )
    assert set(ngsi.get(f"/temporal/entities/{VEHICLE}").json()) == {"id", "type"}
    # the entity and its current state stay
    assert ngsi.get(f"/entities/{VEHICLE}").json()["speed"]["value"] == 100


def test_modify_and_delete_one_instance(ngsi: Any) -> None:
    create(ngsi, vehicle())
    speed = ngsi.get(f"/temporal/entities/{VEHICLE}").json()["speed"]
    first = speed[0]["instanceId"]
    resp = ngsi.patch(
        f"/temporal/entities/{VEHICLE}/attrs/speed/{first}",
        json={"type": "Property", "value": 129, "observedAt": obs(4)},
    )
    assert resp.status_code == 204, resp.text
    after = ngsi.get(f"/temporal/entities/{VEHICLE}").json()["speed"]
    assert [(i["value"], i["observedAt"], i["instanceId"]) for i in after] == [
        (129, canon(obs(4)), first),
        (80, canon(obs(5)), speed[1]["instanceId"]),
        (100, canon(obs(7)), speed[2]["instanceId"]),
    ]
    # a fragment keyed by the attribute name, changing only the value, keeps observedAt
    keyed = ngsi.patch(f"/temporal/entities/{VEHICLE}/attrs/speed/{first}", json={"speed": {"value": 130}})
    assert keyed.status_code == 204, keyed.text
    assert ngsi.get(f"/temporal/entities/{VEHICLE}").json()["speed"][0]["value"] == 130
    assert ngsi.delete(f"/temporal/entities/{VEHICLE}/attrs/speed/{first}").status_code == 204
    assert values(ngsi.get(f"/temporal/entities/{VEHICLE}").json(), "speed") == [80, 100]
    problem(ngsi.delete(f"/temporal/entities/{VEHICLE}/attrs/speed/{first}"), 404, "ResourceNotFound")
    unknown = "urn:ngsi-ld:attribute:instance:zzz"
    problem(
        ngsi.patch(f"/temporal/entities/{VEHICLE}/attrs/speed/{unknown}", json={"value": 1}),
        404,
        "ResourceNotFound",
    )
    second = speed[1]["instanceId"]
    problem(ngsi.patch(f"/temporal/entities/{VEHICLE}/attrs/speed/{second}", json=[1]), 400, "BadRequestData")
    problem(
        ngsi.patch(f"/temporal/entities/{VEHICLE}/attrs/speed/{second}", json={"value": None}),
        400,
        "BadRequestData",
    )


def test_delete_temporal_representation_deletes_the_entity(ngsi: Any) -> None:
    create(ngsi, vehicle())
    assert ngsi.delete(f"/temporal/entities/{VEHICLE}").status_code == 204
    problem(ngsi.get(f"/temporal/entities/{VEHICLE}"), 404, "ResourceNotFound")
    problem(ngsi.get(f"/entities/{VEHICLE}"), 404, "ResourceNotFound")
    problem(ngsi.delete(f"/temporal/entities/{VEHICLE}"), 404, "ResourceNotFound")
    # re-created, it starts with no history
    create(
        ngsi,
        {"id": VEHICLE, "type": "Vehicle", "speed": [{"type": "Property", "value": 1, "observedAt": obs(1)}]},
    )
    assert values(ngsi.get(f"/temporal/entities/{VEHICLE}").json(), "speed") == [1]


# --------------------------------------------------------------------------- history of the core API


def test_core_api_changes_are_recorded_in_history(ngsi: Any) -> None:
    entity = traffic(1)
    entity_id = entity["id"]
    assert ngsi.post("/entities", json=entity).status_code == 201
    later = {"intensity": {"type": "Property", "value": 120, "observedAt": "2026-11-20T07:05:00Z"}}
    assert ngsi.patch(f"/entities/{entity_id}/attrs", json=later).status_code == 204
    partial = {"value": 130, "observedAt": "2026-11-20T07:10:00Z"}
    assert ngsi.patch(f"/entities/{entity_id}/attrs/intensity", json=partial).status_code == 204
    appended = {"congested": {"type": "Property", "value": True}}
    assert ngsi.post(f"/entities/{entity_id}/attrs", json=appended).status_code == 204
    assert ngsi.delete(f"/entities/{entity_id}/attrs/laneDirection").status_code == 204
    body = ngsi.get(f"/temporal/entities/{entity_id}").json()
    assert values(body, "intensity") == [100, 120, 130]
    assert [i["observedAt"] for i in body["intensity"]] == [
        "2026-11-20T07:00:00.000Z",
        "2026-11-20T07:05:00.000Z",
        "2026-11-20T07:10:00.000Z",
    ]
    assert values(body, "congested") == [False, True]
    lane = body["laneDirection"]
    assert lane[0]["value"] == "forward"
    assert lane[1]["value"] == "urn:ngsi-ld:null" and lane[1]["deletedAt"].endswith("Z")
    assert body["refRoadSegment"][0]["object"] == "urn:ngsi-ld:RoadSegment:jember:gajah-mada"
    deleted = ngsi.get(
        f"/temporal/entities/{entity_id}",
        params={"timerel": "after", "timeAt": "2000-01-01T00:00:00Z", "timeproperty": "deletedAt"},
    ).json()
    assert list(deleted) == ["id", "type", "laneDirection"] and len(deleted["laneDirection"]) == 1
    observed = ngsi.get(
        f"/temporal/entities/{entity_id}", params={"timerel": "after", "timeAt": "2026-11-20T07:05:00Z"}
    ).json()
    assert values(observed, "intensity") == [120, 130] and "laneDirection" not in observed
    hourly = ngsi.get(
        f"/temporal/entities/{entity_id}",
        params={
            "format": "aggregatedValues",
            "aggrMethods": "avg",
            "attrs": "intensity",
            "aggrPeriodDuration": "PT1H",
        },
    ).json()
    assert hourly["intensity"]["avg"] == [[350 / 3, "2026-11-20T07:00:00.000Z", "2026-11-20T08:00:00.000Z"]]


def test_batch_upsert_records_history(ngsi: Any) -> None:
    batch = [traffic(n, intensity=10 * n) for n in (1, 2)]
    assert ngsi.post("/entityOperations/upsert", json=batch).status_code == 201
    again = [traffic(n, intensity=10 * n + 1, observed="2026-11-20T07:15:00Z") for n in (1, 2)]
    assert ngsi.post("/entityOperations/upsert", json=again).status_code == 204
    found = ngsi.get(
        "/temporal/entities",
        params={"type": "TrafficFlowObserved", "attrs": "intensity", "format": "temporalValues"},
    ).json()
    assert {e["id"]: [v for v, _t in e["intensity"]["values"]] for e in found} == {
        "urn:ngsi-ld:TrafficFlowObserved:jember:00001": [10, 11],
        "urn:ngsi-ld:TrafficFlowObserved:jember:00002": [20, 21],
    }


# --------------------------------------------------------------------------- access and input checks


def test_writing_needs_a_key_with_the_type(
    ngsi: Any, client: Any, db: Session, world: dict[str, Any]
) -> None:
    anonymous = client.post(
        "/ngsi-ld/v1/temporal/entities", json=vehicle(), headers={"NGSILD-Tenant": "35.09"}
    )
    problem(anonymous, 401, "Unauthorized")
    parking_only = make_key(db, world, entity_types=[DEFAULT_VOCAB + "OffStreetParking"])
    headers = {"Authorization": f"Bearer {parking_only}", "NGSILD-Tenant": "35.09"}
    problem(client.post("/ngsi-ld/v1/temporal/entities", json=vehicle(), headers=headers), 403, "Forbidden")
    create(ngsi, vehicle())
    attrs = {"speed": [{"type": "Property", "value": 1, "observedAt": obs(1)}]}
    problem(
        client.post(f"/ngsi-ld/v1/temporal/entities/{VEHICLE}/attrs", json=attrs, headers=headers),
        403,
        "Forbidden",
    )
    problem(
        client.delete(f"/ngsi-ld/v1/temporal/entities/{VEHICLE}/attrs/speed", headers=headers),
        403,
        "Forbidden",
    )
    other_region = make_key(db, world, region="probolinggo")
    elsewhere = {"Authorization": f"Bearer {other_region}", "NGSILD-Tenant": "35.09"}
    problem(client.delete(f"/ngsi-ld/v1/temporal/entities/{VEHICLE}", headers=elsewhere), 403, "Forbidden")


def test_reading_a_keyed_type_needs_a_key(ngsi: Any, client: Any, db: Session, world: dict[str, Any]) -> None:
    create(ngsi, vehicle())
    create(ngsi, {**vehicle(BUS), "type": "Bus"})
    db.add(HubTypePolicy(region_id=world["jember"].id, type=DEFAULT_VOCAB + "Vehicle", read="key"))
    db.commit()
    tenant = {"NGSILD-Tenant": "35.09"}
    problem(client.get(f"/ngsi-ld/v1/temporal/entities/{VEHICLE}", headers=tenant), 401, "Unauthorized")
    public = client.get("/ngsi-ld/v1/temporal/entities", params={"type": "Vehicle,Bus"}, headers=tenant)
    assert [e["id"] for e in public.json()] == [BUS]
    assert ngsi.get(f"/temporal/entities/{VEHICLE}").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"type": "Vehicle", "speed": []},
        {"id": "not a uri", "type": "Vehicle"},
        {"id": VEHICLE},
        {"id": VEHICLE, "type": "Vehicle", "speed": []},
        {"id": VEHICLE, "type": "Vehicle", "speed": [1, 2]},
        {"id": VEHICLE, "type": "Vehicle", "speed": [{"type": "Property", "value": 1, "observedAt": "noon"}]},
        {"id": VEHICLE, "type": "Vehicle", "speed": [{"type": "Property"}]},
        {"id": VEHICLE, "type": "Vehicle", "location": [{"type": "GeoProperty", "value": {"type": "Point"}}]},
    ],
)
def test_bad_temporal_bodies(ngsi: Any, body: Any) -> None:
    problem(ngsi.post("/temporal/entities", json=body), 400, "BadRequestData")


def test_content_type_rules_apply(ngsi: Any) -> None:
    resp = ngsi.post("/temporal/entities", content=b"<vehicle/>", headers={"Content-Type": "application/xml"})
    assert resp.status_code == 415
    problem(
        ngsi.post("/temporal/entities", content=b"{oops", headers={"Content-Type": "application/json"}),
        400,
        "InvalidRequest",
    )
    ld = {**vehicle(), "@context": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"}
    import orjson

    assert (
        ngsi.post(
            "/temporal/entities", content=orjson.dumps(ld), headers={"Content-Type": "application/ld+json"}
        ).status_code
        == 201
    )
    got = ngsi.get(f"/temporal/entities/{VEHICLE}", headers={"Accept": "application/ld+json"})
    assert got.headers["content-type"] == "application/ld+json" and "@context" in got.json()
    assert ngsi.get(f"/temporal/entities/{VEHICLE}", headers={"Accept": "application/xml"}).status_code == 406
