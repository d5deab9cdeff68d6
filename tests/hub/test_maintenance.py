"""History upkeep: monthly partitions on PostgreSQL, retention and downsampling (kotacerdas.hub.maintenance)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from kotacerdas.config import Settings
from kotacerdas.hub import maintenance

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SENSOR = "urn:ngsi-ld:TrafficFlowObserved:jember:gajah-mada"


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def reading(value: Any, moment: datetime) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": at(moment)}


def post(ngsi: Any, **attrs: list[dict[str, Any]]) -> None:
    resp = ngsi.post("/temporal/entities", json={"id": SENSOR, "type": "TrafficFlowObserved", **attrs})
    assert resp.status_code in (201, 204), resp.text


def speeds(ngsi: Any, **params: str) -> list[Any]:
    resp = ngsi.get(f"/temporal/entities/{SENSOR}", params={"attrs": "speed", **params})
    assert resp.status_code == 200, resp.text
    return [i["value"] for i in resp.json().get("speed", [])]


def partition_counts(db: Session) -> dict[str, int]:
    rows = db.execute(text("SELECT tableoid::regclass::text, COUNT(*) FROM hub_history GROUP BY 1")).all()
    return {str(name): int(n) for name, n in rows}


def with_settings(settings: Settings, **values: Any) -> Settings:
    return settings.model_copy(update=values)


# --------------------------------------------------------------------------- partitions


def test_partitions_are_made_ahead_and_rows_land_in_their_month(ngsi: Any, db: Session, backend: str) -> None:
    created = maintenance.ensure_partitions(db.connection(), now=NOW)
    if backend == "sqlite":
        assert created == []  # SQLite has no partitions; nothing to do
        return
    assert created == ["hub_history_202611", "hub_history_202612", "hub_history_202701", "hub_history_202702"]
    assert maintenance.ensure_partitions(db.connection(), now=NOW) == []
    post(
        ngsi,
        speed=[
            reading(41, datetime(2026, 12, 5, tzinfo=UTC)),
            reading(42, datetime(2026, 11, 30, tzinfo=UTC)),
        ],
    )
    counts = partition_counts(db)
    assert counts["hub_history_202612"] == 1 and counts["hub_history_202611"] == 1
    assert "hub_history_default" not in counts


def test_rows_waiting_in_the_default_partition_move_to_their_month(
    ngsi: Any, db: Session, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("partitions exist on PostgreSQL only")
    march = datetime(2027, 3, 10, tzinfo=UTC)
    post(ngsi, speed=[reading(n, march + timedelta(minutes=n)) for n in range(5)])
    assert partition_counts(db) == {"hub_history_default": 5}
    created = maintenance.ensure_partitions(db.connection(), months_ahead=4, now=NOW)
    assert "hub_history_202703" in created
    assert partition_counts(db) == {"hub_history_202703": 5}
    assert speeds(ngsi) == [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------- retention


def test_retention_deletes_old_history_and_drops_old_partitions(
    ngsi: Any, db: Session, settings: Settings, backend: str
) -> None:
    old = NOW - timedelta(days=100)
    if backend == "postgresql":
        maintenance.ensure_partitions(db.connection(), months_ahead=0, now=old)
    post(
        ngsi,
        speed=[
            reading(1, old),
            reading(2, NOW - timedelta(days=40)),
            reading(3, NOW - timedelta(days=10)),
            reading(4, NOW - timedelta(days=1)),
        ],
    )
    assert (
        maintenance.apply_retention(
            db, with_settings(settings, hub_history_retention_days=0), NOW
        ).rows_deleted
        == 0
    )
    report = maintenance.apply_retention(db, with_settings(settings, hub_history_retention_days=30), NOW)
    assert speeds(ngsi) == [3, 4]
    if backend == "postgresql":
        assert report.partitions_dropped == [f"hub_history_{old:%Y%m}"]
        assert report.rows_deleted == 1  # the reading of 40 days ago, in the default partition
        assert f"hub_history_{old:%Y%m}" not in maintenance.partitions(db.connection())
    else:
        assert report.rows_deleted == 2
    # the entity itself keeps its current value
    assert ngsi.get(f"/entities/{SENSOR}").json()["speed"]["value"] == 4


# --------------------------------------------------------------------------- downsampling


def test_downsampling_averages_old_numbers_and_keeps_the_rest(
    ngsi: Any, db: Session, settings: Settings
) -> None:
    old = datetime(2026, 10, 13, 0, 0, tzinfo=UTC)  # 40 days before NOW
    recent = NOW - timedelta(days=5)
    minutes = [old + timedelta(minutes=n) for n in range(120)]
    post(
        ngsi,
        speed=[reading(n, m) for n, m in enumerate(minutes)]
        + [reading(7, recent), reading(9, recent + timedelta(minutes=1))],
        status=[reading("lancar" if n % 3 else "padat", m) for n, m in enumerate(minutes)],
        unitless=[reading(5, old + timedelta(minutes=30))],  # one reading in its hour: nothing to average
    )
    config = with_settings(settings, hub_downsample_after_days=30, hub_downsample_period="PT1H")
    report = maintenance.downsample(db, config, NOW)
    assert report.rows_downsampled == 120 and report.rows_averaged == 2
    body = ngsi.get(f"/temporal/entities/{SENSOR}", params={"attrs": "speed"}).json()
    assert [(i["value"], i["observedAt"]) for i in body["speed"]] == [
        (29.5, "2026-10-13T00:00:00.000Z"),  # the mean of 0 .. 59
        (89.5, "2026-10-13T01:00:00.000Z"),  # the mean of 60 .. 119
        (7, "2026-11-17T12:00:00.000Z"),
        (9, "2026-11-17T12:01:00.000Z"),
    ]
    counted = ngsi.get(
        f"/temporal/entities/{SENSOR}",
        params={
            "format": "aggregatedValues",
            "aggrMethods": "totalCount,distinctCount",
            "attrs": "status,unitless",
        },
    ).json()
    assert counted["status"]["totalCount"][0][0] == 120 and counted["status"]["distinctCount"][0][0] == 2
    assert counted["unitless"]["totalCount"][0][0] == 1
    # a second run finds nothing left to do; the current value never changes
    assert maintenance.downsample(db, config, NOW).rows_downsampled == 0
    assert ngsi.get(f"/entities/{SENSOR}").json()["speed"]["value"] == 9
    assert (
        maintenance.downsample(db, with_settings(settings, hub_downsample_after_days=0), NOW).rows_downsampled
        == 0
    )


def test_downsampling_keeps_datasets_apart(ngsi: Any, db: Session, settings: Settings) -> None:
    old = datetime(2026, 10, 13, 0, 0, tzinfo=UTC)
    post(
        ngsi,
        speed=[
            {**reading(10, old), "datasetId": "urn:ngsi-ld:Dataset:radar"},
            {**reading(20, old + timedelta(minutes=10)), "datasetId": "urn:ngsi-ld:Dataset:radar"},
            {**reading(100, old), "datasetId": "urn:ngsi-ld:Dataset:loop"},
            {**reading(300, old + timedelta(minutes=10)), "datasetId": "urn:ngsi-ld:Dataset:loop"},
        ],
    )
    config = with_settings(settings, hub_downsample_after_days=30, hub_downsample_period="PT1H")
    assert maintenance.downsample(db, config, NOW).rows_downsampled == 4
    body = ngsi.get(f"/temporal/entities/{SENSOR}", params={"attrs": "speed"}).json()
    assert sorted((i["datasetId"], i["value"]) for i in body["speed"]) == [
        ("urn:ngsi-ld:Dataset:loop", 200.0),
        ("urn:ngsi-ld:Dataset:radar", 15.0),
    ]


# --------------------------------------------------------------------------- the daily job


def test_run_maintenance(
    ngsi: Any, db: Session, settings: Settings, session_factory: sessionmaker[Session], backend: str
) -> None:
    old = NOW - timedelta(days=400)
    post(
        ngsi,
        speed=[reading(1, old), reading(2, old + timedelta(minutes=1)), reading(3, NOW - timedelta(days=1))],
    )
    config = with_settings(settings, hub_history_retention_days=365, hub_downsample_after_days=30)
    report = maintenance.run_maintenance(session_factory, config, NOW)
    assert report.rows_deleted == 2
    assert report.partitions_created == (
        [] if backend == "sqlite" else [f"hub_history_{m}" for m in ("202611", "202612", "202701", "202702")]
    )
    assert speeds(ngsi) == [3]
