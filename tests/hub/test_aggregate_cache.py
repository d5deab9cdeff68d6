"""Temporal aggregation answers the same with the aggregate cache as without it, whatever happened to
the history between two queries (kotacerdas.hub.aggregate_cache).

Each test asks the API twice or more (the first answer fills the cache, the next ones read it) and
compares every answer with the aggregation computed straight from the history, without the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from kotacerdas.config import Settings
from kotacerdas.hub import maintenance, store, temporal
from kotacerdas.hub.context import DEFAULT_VOCAB

SENSOR = "urn:ngsi-ld:TrafficFlowObserved:jember:cache"
RADAR, LOOP = "urn:ngsi-ld:Dataset:radar", "urn:ngsi-ld:Dataset:loop"
START = datetime(2020, 8, 1, 12, 0, tzinfo=UTC)
METHODS = "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq"
WINDOW = {  # six whole hours and a half one
    "aggrMethods": METHODS,
    "aggrPeriodDuration": "PT1H",
    "timerel": "between",
    "timeAt": "2020-08-01T12:00:00Z",
    "endTimeAt": "2020-08-01T18:30:00Z",
}


def at(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def reading(value: Any, minutes: int, dataset: str | None = None) -> dict[str, Any]:
    inst = {"type": "Property", "value": value, "observedAt": at(minutes)}
    if dataset:
        inst["datasetId"] = dataset
    return inst


def history() -> dict[str, Any]:
    """Every 5 minutes from 12:00 to 18:25: speed (default, radar and loop datasets, written together)
    and a text label in the same rows, so rows outlive the removal of one attribute's instance."""
    minutes = range(0, 390, 5)
    return {
        "id": SENSOR,
        "type": "TrafficFlowObserved",
        "speed": [reading(30 + (m * 7) % 23, m) for m in minutes]
        + [reading(40 + m % 9, m, RADAR) for m in minutes]
        + [reading(50 - m % 5, m, LOOP) for m in minutes if m % 20 == 0],
        "flowLabel": [reading("open" if m % 30 else "closed", m) for m in minutes],
    }


def answer(ngsi: Any, params: dict[str, str]) -> dict[str, Any]:
    """The API's aggregates: attribute -> datasetId -> method -> [[value, start, end], ...]."""
    resp = ngsi.get(f"/temporal/entities/{SENSOR}", params={"format": "aggregatedValues", **params})
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = {}
    for name, value in resp.json().items():
        if name in ("id", "type", "@context"):
            continue
        for series in value if isinstance(value, list) else [value]:
            methods = {k: v for k, v in series.items() if k not in ("type", "datasetId")}
            out.setdefault(name, {})[series.get("datasetId")] = methods
    return out


def uncached(db: Session, region_id: int, params: dict[str, str]) -> dict[str, Any]:
    """The same aggregation computed from the history alone (no cache)."""
    query = temporal.time_query(
        timerel=params.get("timerel"),
        time_at=params.get("timeAt"),
        end_time_at=params.get("endTimeAt"),
        last_n=params.get("lastN"),
    )
    agg = temporal.aggregation(params["aggrMethods"], params.get("aggrPeriodDuration"))
    attrs = frozenset(DEFAULT_VOCAB + a for a in params["attrs"].split(",")) if "attrs" in params else None
    datasets = frozenset(params["datasetId"].split(",")) if "datasetId" in params else None
    pk, entity = temporal.load_entity(db, region_id, SENSOR)
    te = temporal.TemporalEntity(entity=entity, pk=pk)
    temporal.aggregate(
        store.connection(db), te, query, agg, temporal.Selection(attrs=attrs, datasets=datasets)
    )
    out: dict[str, Any] = {}
    for iri, series_list in te.aggregated.items():
        for series in series_list:
            out.setdefault(iri.removeprefix(DEFAULT_VOCAB), {})[series.dataset_id] = series.values
    return out


def cache_rows(db: Session) -> int:
    return int(db.execute(text("SELECT COUNT(*) FROM hub_aggregate_cache")).scalar_one())


def same(ngsi: Any, db: Session, region_id: int, params: dict[str, str]) -> dict[str, Any]:
    got = answer(ngsi, params)
    assert got == uncached(db, region_id, params)
    return got


VARIANTS = [
    WINDOW,
    {**WINDOW, "lastN": "3"},
    {**WINDOW, "datasetId": f"{RADAR},@none", "attrs": "speed"},
    {**WINDOW, "aggrMethods": "distinctCount,stddev", "attrs": "speed,flowLabel"},
    {**WINDOW, "aggrMethods": "avg", "aggrPeriodDuration": "PT30M"},
    {  # no window: the periods start at the first instance, and every row counts
        "aggrMethods": "avg,totalCount",
        "aggrPeriodDuration": "PT1H",
    },
    {  # periods from 13:30 (another phase) up to now
        "aggrMethods": "sum,max",
        "aggrPeriodDuration": "PT1H",
        "timerel": "after",
        "timeAt": "2020-08-01T13:30:00Z",
    },
    {
        "aggrMethods": "min",
        "aggrPeriodDuration": "PT2H",
        "timerel": "before",
        "timeAt": "2020-08-01T17:00:00Z",
    },
]


def warm(ngsi: Any, db: Session, region_id: int) -> list[dict[str, Any]]:
    """Ask every variant twice (fill, then read the cache); the answers."""
    answers = []
    for params in VARIANTS:
        first = same(ngsi, db, region_id, params)
        assert same(ngsi, db, region_id, params) == first
        answers.append(first)
    assert cache_rows(db) > 0
    return answers


def add_in_cached_period(ngsi: Any, db: Session) -> None:
    resp = ngsi.post(
        f"/temporal/entities/{SENSOR}/attrs",
        json={"speed": [reading(99, 77), reading(98, 77, RADAR)], "flowLabel": [reading("jammed", 77)]},
    )
    assert resp.status_code == 204, resp.text


def upsert_through_core_api(ngsi: Any, db: Session) -> None:
    """A batch upsert (the ingest path) of a reading observed in an old period."""
    body = [{"id": SENSOR, "type": "TrafficFlowObserved", "speed": reading(7, 127)}]
    resp = ngsi.post("/entityOperations/upsert", params={"options": "update"}, json=body)
    assert resp.status_code in (201, 204), resp.text


def default_instance(ngsi: Any, minutes: int) -> str:
    """The instanceId of the default speed instance observed at ``minutes``."""
    params = {"attrs": "speed", "timerel": "between", "timeAt": at(minutes), "endTimeAt": at(minutes + 1)}
    speed = ngsi.get(f"/temporal/entities/{SENSOR}", params=params).json()["speed"]
    found = [i["instanceId"] for i in (speed if isinstance(speed, list) else [speed]) if "datasetId" not in i]
    assert len(found) == 1, speed
    return str(found[0])


def modify_instance(ngsi: Any, db: Session) -> None:
    instance = default_instance(ngsi, 140)
    resp = ngsi.patch(f"/temporal/entities/{SENSOR}/attrs/speed/{instance}", json={"value": 1000})
    assert resp.status_code == 204, resp.text


def delete_instance(ngsi: Any, db: Session) -> None:
    resp = ngsi.delete(f"/temporal/entities/{SENSOR}/attrs/speed/{default_instance(ngsi, 200)}")
    assert resp.status_code == 204, resp.text


def delete_dataset_history(ngsi: Any, db: Session) -> None:
    resp = ngsi.delete(f"/temporal/entities/{SENSOR}/attrs/speed", params={"datasetId": RADAR})
    assert resp.status_code == 204, resp.text


def delete_label_history(ngsi: Any, db: Session) -> None:
    resp = ngsi.delete(f"/temporal/entities/{SENSOR}/attrs/flowLabel")
    assert resp.status_code == 204, resp.text


CHANGES: dict[str, Callable[[Any, Session], None]] = {
    "temporal add in a cached period": add_in_cached_period,
    "batch upsert in an old period": upsert_through_core_api,
    "instance modified": modify_instance,
    "instance deleted": delete_instance,
    "one dataset's history deleted": delete_dataset_history,
    "an attribute's history deleted": delete_label_history,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_aggregates_follow_every_change_of_history(
    ngsi: Any, db: Session, world: dict[str, Any], change: str
) -> None:
    region_id = world["jember"].id
    assert ngsi.post("/temporal/entities", json=history()).status_code == 201
    before = warm(ngsi, db, region_id)
    CHANGES[change](ngsi, db)
    after = warm(ngsi, db, region_id)
    assert after != before  # the change shows, and matches the history (checked in warm)


def test_downsampling_and_retention(
    ngsi: Any, db: Session, world: dict[str, Any], settings: Settings
) -> None:
    region_id = world["jember"].id
    assert ngsi.post("/temporal/entities", json=history()).status_code == 201
    before = warm(ngsi, db, region_id)
    now = START + timedelta(days=40)
    config = settings.model_copy(update={"hub_downsample_after_days": 30, "hub_downsample_period": "PT20M"})
    assert maintenance.downsample(db, config, now).rows_downsampled > 0
    thinned = warm(ngsi, db, region_id)
    assert thinned != before
    # retention from 15:00 on the day: the periods before it have no history any more
    cutoff = START + timedelta(hours=3)
    config = settings.model_copy(update={"hub_history_retention_days": 1})
    maintenance.apply_retention(db, config, cutoff + timedelta(days=1))
    kept = warm(ngsi, db, region_id)
    starts = [v[1] for v in kept[0]["speed"][None]["avg"]]
    assert starts[0] == "2020-08-01T15:00:00.000Z"


def test_unused_cache_rows_are_evicted(ngsi: Any, db: Session, world: dict[str, Any]) -> None:
    assert ngsi.post("/temporal/entities", json=history()).status_code == 201
    warm(ngsi, db, world["jember"].id)
    stored = cache_rows(db)
    assert stored > 0
    moment = datetime.now(UTC)
    conn = store.connection(db)
    assert maintenance.aggregate_cache.evict(conn, maintenance._us(moment)) == 0
    assert cache_rows(db) == stored
    later = moment + timedelta(days=maintenance.aggregate_cache.UNUSED_DAYS + 1)
    assert maintenance.aggregate_cache.evict(conn, maintenance._us(later)) == stored
    assert cache_rows(db) == 0
    # the cache is only a cache: the answers stay right
    warm(ngsi, db, world["jember"].id)


def test_deleting_the_entity_forgets_its_cache(ngsi: Any, db: Session, world: dict[str, Any]) -> None:
    assert ngsi.post("/temporal/entities", json=history()).status_code == 201
    warm(ngsi, db, world["jember"].id)
    assert ngsi.delete(f"/temporal/entities/{SENSOR}").status_code == 204
    assert cache_rows(db) == 0
    assert ngsi.post("/temporal/entities", json=history()).status_code == 201
    warm(ngsi, db, world["jember"].id)
