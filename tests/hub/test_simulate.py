"""The simulator: valid observations of every demo sensor, with the rush hours, parking, air and weather
where a Jember resident would expect them, reproducible, and accepted by the hub over HTTP."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from sqlalchemy.orm import Session

from kotacerdas.hub import demo, service as hub, simulate
from kotacerdas.hub.context import DEFAULT_VOCAB
from kotacerdas.hub.entity import Parser

WIB = ZoneInfo("Asia/Jakarta")
WEDNESDAY = datetime(2026, 3, 4, tzinfo=WIB)
SATURDAY = datetime(2026, 3, 7, tzinfo=WIB)
SUNDAY = datetime(2026, 3, 8, tzinfo=WIB)


def _at(day: datetime, hour: float) -> datetime:
    return day + timedelta(hours=hour)


def _by_id(at: datetime, **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in simulate.observations(at, **kwargs)}


def _traffic_total(at: datetime) -> int:
    return sum(
        o["intensity"]["value"] for o in simulate.observations(at) if o["type"] == "TrafficFlowObserved"
    )


def _value(observation: dict[str, Any], name: str) -> Any:
    return observation[name]["value"]


def test_observations_are_valid_normalized_ngsi_ld_stamped_with_the_moment() -> None:
    at = _at(WEDNESDAY, 7.5)
    observations = simulate.observations(at)
    parser = Parser(hub.core_context())
    for o in observations:
        parser.entity(o)  # raises on anything that is not valid NGSI-LD
        for name, attr in o.items():
            if name not in ("id", "type"):
                assert attr["type"] == "Property" and attr["observedAt"] == "2026-03-04T00:30:00.000Z", name
    ids = [o["id"] for o in observations]
    assert len(ids) == len(set(ids))
    kinds = Counter(o["type"] for o in observations)
    assert kinds == {
        "TrafficFlowObserved": len(demo.segments()),
        "OffStreetParking": len(demo.parking()),
        "AirQualityObserved": len(demo.air_stations()),
        "WeatherObserved": 1,
    }
    # every simulated sensor is one of the demo entities, so its observation lands on a known place
    assert set(ids) <= {e["id"] for e in demo.demo_entities()}


def test_weekday_traffic_peaks_in_the_morning_and_evening_rush_hours() -> None:
    quarters = [q / 4 for q in range(96)]
    totals = {h: _traffic_total(_at(WEDNESDAY, h)) for h in quarters}
    morning = max((h for h in quarters if 5 <= h < 11), key=totals.__getitem__)
    evening = max((h for h in quarters if 14 <= h < 21), key=totals.__getitem__)
    assert 6.5 <= morning <= 8.0
    assert 16.0 <= evening <= 18.0
    midday = sum(totals[h] for h in quarters if 12 <= h < 13) / 4
    night = sum(totals[h] for h in quarters if 2 <= h < 4) / 8
    assert totals[morning] > 1.5 * midday and totals[evening] > 1.5 * midday
    assert midday > 2 * night


def test_weekends_have_no_morning_rush_but_a_busy_evening() -> None:
    assert _traffic_total(_at(WEDNESDAY, 7.25)) > 2 * _traffic_total(_at(SATURDAY, 7.25))
    assert _traffic_total(_at(SATURDAY, 19.5)) > _traffic_total(_at(WEDNESDAY, 19.5))


def test_rush_hour_jams_the_town_centre_and_nights_flow_freely() -> None:
    rush = _by_id(_at(WEDNESDAY, 7.25))
    night = _by_id(_at(WEDNESDAY, 3.0))
    gajah_mada = "urn:ngsi-ld:TrafficFlowObserved:jember:jl-gajah-mada"
    assert _value(rush[gajah_mada], "congested") is True
    assert _value(night[gajah_mada], "congested") is False
    assert _value(rush[gajah_mada], "averageVehicleSpeed") < 0.5 * _value(
        night[gajah_mada], "averageVehicleSpeed"
    )
    assert _value(rush[gajah_mada], "occupancy") > 3 * _value(night[gajah_mada], "occupancy")
    assert not any(_value(o, "congested") for o in night.values() if o["type"] == "TrafficFlowObserved")


def test_car_parks_fill_by_the_kind_of_facility() -> None:
    def parking(at: datetime, slug: str) -> dict[str, Any]:
        return _by_id(at)[f"urn:ngsi-ld:OffStreetParking:jember:{slug}"]

    mall = "lippo-plaza-jember"
    assert _value(parking(_at(WEDNESDAY, 3), mall), "status") == ["closed"]
    assert _value(parking(_at(SATURDAY, 19.5), mall), "occupancy") > 2 * _value(
        parking(_at(WEDNESDAY, 10.5), mall), "occupancy"
    )
    office = "mal-pelayanan-publik-jember"
    assert _value(parking(_at(WEDNESDAY, 10), office), "occupancy") > 0.7
    assert _value(parking(_at(SUNDAY, 10), office), "status") == ["closed"]
    market = "pasar-tanjung"
    assert _value(parking(_at(WEDNESDAY, 7), market), "occupancy") > 3 * _value(
        parking(_at(WEDNESDAY, 15), market), "occupancy"
    )
    for hour in range(24):
        for p in demo.parking():
            o = parking(_at(SATURDAY, hour), p.slug)
            available, occupied = _value(o, "availableSpotNumber"), _value(o, "occupiedSpotNumber")
            assert available + occupied == p.total and 0 <= available <= p.total
            assert _value(o, "status")[0] in ("closed", "full", "almostFull", "spacesAvailable")


def test_air_quality_follows_traffic_and_sunlight() -> None:
    rush = _by_id(_at(WEDNESDAY, 7.75))
    night = _by_id(_at(WEDNESDAY, 3.0))
    noon = _by_id(_at(WEDNESDAY, 12.5))
    centre = "urn:ngsi-ld:AirQualityObserved:jember:alun-alun-jember"
    coast = "urn:ngsi-ld:AirQualityObserved:jember:puger"
    assert _value(rush[centre], "no2") > 2 * _value(night[centre], "no2")
    assert _value(rush[centre], "co") > _value(night[centre], "co")
    assert _value(noon[centre], "o3") > 3 * _value(night[centre], "o3")
    assert _value(rush[centre], "pm25") > _value(rush[coast], "pm25")
    for o in rush.values():
        if o["type"] == "AirQualityObserved":
            assert o["pm25"]["unitCode"] == "GQ" and o["co"]["unitCode"] == "GP"
            assert _value(o, "pm10") > _value(o, "pm25") > 0
            assert _value(o, "airQualityLevel") in (
                "good",
                "moderate",
                "unhealthy",
                "veryUnhealthy",
                "hazardous",
            )


def test_weather_has_a_daily_cycle() -> None:
    station = "urn:ngsi-ld:WeatherObserved:jember:notohadinegoro"
    dawn = _by_id(_at(WEDNESDAY, 5.5))[station]
    afternoon = _by_id(_at(SATURDAY, 11.5))[station]
    assert _value(afternoon, "temperature") > _value(dawn, "temperature") + 3
    assert _value(afternoon, "relativeHumidity") < _value(dawn, "relativeHumidity")
    assert _value(dawn, "solarRadiation") < _value(afternoon, "solarRadiation")
    assert dawn["temperature"]["unitCode"] == "CEL"


def test_scale_adds_distinct_synthetic_traffic_sensors() -> None:
    observations = simulate.observations(_at(WEDNESDAY, 8), scale=50)
    traffic = [o["id"] for o in observations if o["type"] == "TrafficFlowObserved"]
    assert len(traffic) == len(set(traffic)) == 50 * len(demo.segments())
    assert "urn:ngsi-ld:TrafficFlowObserved:jember:sim-00001" in traffic
    assert f"urn:ngsi-ld:TrafficFlowObserved:jember:sim-{49 * len(demo.segments()):05d}" in traffic
    static = simulate.static_entities(scale=50)
    assert len(static) == 49 * len(demo.segments())
    parser = Parser(hub.core_context())
    for entity in static:
        parser.entity(entity)
        for lon, lat in entity["location"]["value"]["coordinates"]:
            assert 113.2 <= lon <= 114.1 and -8.6 <= lat <= -7.9


def test_the_same_seed_gives_the_same_observations() -> None:
    at = _at(WEDNESDAY, 9.25)
    assert simulate.observations(at, seed=7) == simulate.observations(at, seed=7)
    assert simulate.observations(at, seed=7) != simulate.observations(at, seed=8)


def test_a_moment_without_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        simulate.observations(datetime(2026, 3, 4, 7, 0))  # noqa: DTZ001 - the point of the test


def test_stream_never_repeats_a_moment() -> None:
    feed = simulate.stream(start=_at(WEDNESDAY, 7), speed=0.0)  # a frozen clock: rounds still move on
    per_round = len(simulate.observations(_at(WEDNESDAY, 7)))
    seen = Counter(
        (o["id"], o["intensity"]["observedAt"])
        for o in (next(feed) for _ in range(per_round * 5))
        if "intensity" in o
    )
    assert max(seen.values()) == 1 and len(seen) == 5 * len(demo.segments())


def test_run_over_http_stores_the_places_and_the_observations(
    db: Session, world: dict[str, Any], client: Any, hub_key: str
) -> None:
    target = simulate.HttpTarget("", key=hub_key, region="35.09", client=client)
    result = simulate.run(
        target,
        rate=0,
        duration=None,
        count=120,
        start=_at(WEDNESDAY, 17),
        load_places=True,
        console=Console(quiet=True),
    )
    assert (result.stats.sent, result.stats.accepted, result.stats.failed) == (120, 120, 0)
    assert result.places == len(demo.demo_entities())
    counts = hub.type_counts(db, region_id=world["jember"].id)
    assert counts[DEFAULT_VOCAB + "PointOfInterest"] == len(demo.places())
    sensor = hub.get_entity(
        db, region_id=world["jember"].id, entity_id="urn:ngsi-ld:TrafficFlowObserved:jember:jl-gajah-mada"
    )
    # the observation was merged into the sensor: its static attributes stay
    assert sensor.attrs[DEFAULT_VOCAB + "intensity"]["observedAt"].startswith("2026-03-04T10:00")
    assert sensor.attrs[DEFAULT_VOCAB + "refRoadSegment"]["object"].endswith(":jl-gajah-mada")


def test_run_stops_on_a_refused_key(world: dict[str, Any], client: Any) -> None:
    target = simulate.HttpTarget("", key="kc_not-a-key", region="35.09", client=client)
    with pytest.raises(simulate.SimulateError, match="401"):
        simulate.run(target, rate=0, duration=None, count=10, console=Console(quiet=True))
