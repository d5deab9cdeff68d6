"""The simulated sensors of the demo region (Jember) and what they observe: traffic, parking, air
quality and weather. Split from ``hub.simulate`` (which re-exports every name here), so that the model
of the city's day stays apart from the senders that push it over HTTP and MQTT.

``observations(at)`` is a pure function of the moment, ``scale`` and ``seed``: the same arguments give
the same entities. Values follow the day in WIB: traffic has a morning (06:30-08:00) and an evening
(16:00-18:00) rush on weekdays and a late, flatter day at weekends; car parks fill by facility kind
(malls in the evening, markets at dawn, offices in working hours); pollution follows traffic, with
more of it at night when the air is still and ozone at midday; the weather has a daily cycle and
afternoon showers in the wet season. ``scale`` multiplies the traffic sensors with synthetic ones
(``urn:ngsi-ld:TrafficFlowObserved:jember:sim-00001``...) for benchmarks.

``compact`` gives an observation the MQTT compact form the senders and benchmarks publish.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from kotacerdas.hub import demo

WIB = ZoneInfo("Asia/Jakarta")
WET_MONTHS = frozenset([11, 12, 1, 2, 3, 4])

Entity = dict[str, Any]


# ------------------------------------------------------------------------------------ sensors


@dataclass(frozen=True, slots=True)
class TrafficSensor:
    id: str
    segment_id: str
    capacity: float  # vehicles per 5 minutes at the weekday peak
    free_speed: float
    urban: bool
    busy: float
    base: demo.Segment
    offset: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Sensors:
    traffic: tuple[TrafficSensor, ...]
    parking: tuple[demo.Parking, ...]
    air: tuple[demo.Station, ...]
    weather: tuple[demo.Station, ...]

    @property
    def count(self) -> int:
        return len(self.traffic) + len(self.parking) + len(self.air) + len(self.weather)


@cache
def sensors(scale: int = 1, seed: int = 0) -> Sensors:
    """The demo sensors; ``scale`` - 1 synthetic copies of every road segment's sensor are added."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    base = demo.segments()
    traffic = [
        TrafficSensor(
            id=demo.entity_id("TrafficFlowObserved", s.slug),
            segment_id=demo.entity_id("RoadSegment", s.slug),
            capacity=s.capacity,
            free_speed=s.free_speed,
            urban=s.urban,
            busy=s.busy,
            base=s,
        )
        for s in base
    ]
    rng = random.Random(f"{seed}:sensors")  # noqa: S311 - seeded simulation, not secrets
    for n in range(1, (scale - 1) * len(base) + 1):
        s = base[(n - 1) % len(base)]
        slug = f"sim-{n:05d}"
        traffic.append(
            TrafficSensor(
                id=demo.entity_id("TrafficFlowObserved", slug),
                segment_id=demo.entity_id("RoadSegment", slug),
                capacity=s.capacity * rng.uniform(0.6, 1.3),
                free_speed=s.free_speed * rng.uniform(0.85, 1.1),
                urban=s.urban,
                busy=s.busy * rng.uniform(0.8, 1.08),
                base=s,
                offset=(rng.uniform(-0.01, 0.01), rng.uniform(-0.01, 0.01)),
            )
        )
    return Sensors(tuple(traffic), demo.parking(), demo.air_stations(), demo.weather_stations())


def static_entities(scale: int = 1, seed: int = 0) -> list[Entity]:
    """Name, road segment and location of the synthetic sensors (the real ones are in ``demo``)."""
    out: list[Entity] = []
    for s in sensors(scale, seed).traffic:
        if s.offset == (0.0, 0.0):
            continue
        line = [[round(lon + s.offset[0], 5), round(lat + s.offset[1], 5)] for lon, lat in s.base.line]
        out.append(
            {
                "id": s.id,
                "type": "TrafficFlowObserved",
                "name": {"type": "Property", "value": f"Sensor simulasi {s.id.rsplit(':', 1)[1]}"},
                "refRoadSegment": {"type": "Relationship", "object": s.segment_id},
                "location": {"type": "GeoProperty", "value": {"type": "LineString", "coordinates": line}},
                "dataProvider": {"type": "Property", "value": demo.SOURCE},
            }
        )
    return out


# -------------------------------------------------------------------------------- day curves


def _g(h: float, mu: float, sigma: float) -> float:
    d = (h - mu + 12.0) % 24.0 - 12.0  # hours apart on the clock face
    return math.exp(-0.5 * (d / sigma) ** 2)


def _plateau(h: float, start: float, end: float) -> float:
    return 1.0 / (1.0 + math.exp(-3.0 * (h - start))) / (1.0 + math.exp(-3.0 * (end - h)))


def traffic_demand(h: float, weekend: bool, urban: bool = True) -> float:
    """Share of a road's weekday-peak traffic at local hour ``h`` (about 1.0 at the rush hours)."""
    if weekend:
        d = 0.06 + 0.30 * _g(h, 9.0, 1.8) + 0.45 * _g(h, 13.0, 2.8) + 0.60 * _g(h, 19.25, 1.6)
    else:
        d = 0.05 + 0.85 * _g(h, 7.25, 0.6) + 0.55 * _g(h, 12.0, 3.0) + 0.80 * _g(h, 17.0, 0.65)
        d += 0.30 * _g(h, 19.75, 1.1)
    return d if urban else 0.18 + 0.75 * d  # trucks keep intercity roads busier at night


def parking_share(kind: str, h: float, weekday: int) -> tuple[float, bool]:
    """(occupied share, open?) of a car park of ``kind`` at local hour ``h`` (weekday: Monday = 0)."""
    weekend = weekday >= 5
    if kind == "mall":
        if not 9.5 <= h < 22.0:
            return 0.03, False
        if weekend:
            return 0.15 + 0.50 * _g(h, 13.5, 2.0) + 0.72 * _g(h, 19.5, 1.8), True
        return 0.10 + 0.28 * _g(h, 13.0, 1.5) + 0.45 * _g(h, 19.5, 1.5), True
    if kind == "civic":
        if weekend:
            return 0.15 + 0.55 * _g(h, 6.5, 1.2) + 0.78 * _g(h, 19.5, 2.0), True
        return 0.12 + 0.25 * _g(h, 6.5, 1.0) + 0.50 * _g(h, 19.5, 1.8), True
    if kind == "station":
        if weekend:
            return 0.22 + 0.50 * _g(h, 11.0, 3.0), True
        return 0.15 + 0.45 * _g(h, 8.0, 2.0) + 0.35 * _g(h, 16.0, 2.5), True
    if kind == "market":
        if not 3.0 <= h < 17.0:
            return 0.03, False
        return (0.08 + 0.82 * _g(h, 7.0, 1.8)) * (1.08 if weekend else 1.0), True
    if kind == "hospital":
        if weekend:
            return 0.22 + 0.30 * _g(h, 11.0, 3.0) + 0.20 * _g(h, 17.0, 2.0), True
        return 0.25 + 0.55 * _g(h, 10.0, 2.5) + 0.20 * _g(h, 17.0, 2.0), True
    if kind == "office":
        if weekend or not 7.0 <= h < 16.5:
            return 0.04, False
        return 0.05 + 0.85 * _plateau(h, 7.5, 15.5), True
    if kind == "campus":
        if weekday == 6 or not 6.0 <= h < 21.0:
            return 0.05, False
        return 0.06 + (0.30 if weekday == 5 else 0.82) * _plateau(h, 7.0, 16.0), True
    return 0.1 + 0.6 * _g(h, 12.0, 4.0), True


def _sun(h: float) -> float:
    return max(0.0, math.sin(math.pi * (h - 6.0) / 12.0))


@cache
def _rain(day: date, seed: int) -> tuple[float, float, float] | None:
    """(start hour, end hour, mm per hour) of the day's shower, if it rains that day."""
    rng = random.Random(f"{seed}:rain:{day.isoformat()}")  # noqa: S311 - seeded simulation
    chance = 0.6 if day.month in WET_MONTHS else 0.35 if day.month in (5, 10) else 0.12
    if rng.random() >= chance:
        return None
    start = rng.uniform(12.5, 18.5)
    return start, start + rng.uniform(0.5, 3.0), rng.uniform(2.0, 22.0)


@dataclass(frozen=True, slots=True)
class _Moment:
    text: str  # observedAt: canonical UTC with milliseconds
    hour: float  # local (WIB) hour of the day
    weekday: int
    day: date
    month: int


def _moment(at: datetime) -> _Moment:
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    utc = at.astimezone(UTC)
    local = at.astimezone(WIB)
    hour = local.hour + local.minute / 60 + local.second / 3600 + local.microsecond / 3.6e9
    text = f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
    return _Moment(text, hour, local.weekday(), local.date(), local.month)


# ------------------------------------------------------------------------------- observations


def _p(value: Any, t: str, unit: str | None = None) -> dict[str, Any]:
    if unit is None:
        return {"type": "Property", "value": value, "observedAt": t}
    return {"type": "Property", "value": value, "unitCode": unit, "observedAt": t}


def _observed(t: str) -> dict[str, Any]:
    return {"type": "Property", "value": {"@type": "DateTime", "@value": t}, "observedAt": t}


def observations(at: datetime, *, scale: int = 1, seed: int = 0) -> list[Entity]:
    """One observation of every sensor at ``at``: normalized NGSI-LD entities, every attribute with
    ``observedAt``. Only the observed attributes are present (merge them with ``options=update``)."""
    m = _moment(at)
    rng = random.Random(f"{seed}:{m.text}")  # noqa: S311 - seeded simulation
    gauss = rng.gauss
    t = m.text
    weekend = m.weekday >= 5
    out: list[Entity] = []
    urban_d = traffic_demand(m.hour, weekend, True)
    inter_d = traffic_demand(m.hour, weekend, False)
    for s in sensors(scale, seed).traffic:
        load = (urban_d if s.urban else inter_d) * s.busy
        intensity = max(0, round(s.capacity * load * gauss(1.0, 0.08)))
        speed = max(5.0, s.free_speed * (1.0 - 0.68 * min(load, 1.1) ** 2.2) * gauss(1.0, 0.05))
        occupancy = min(0.97, max(0.0, (0.02 + 0.5 * load**1.7) * gauss(1.0, 0.06)))
        out.append(
            {
                "id": s.id,
                "type": "TrafficFlowObserved",
                "intensity": _p(intensity, t),
                "averageVehicleSpeed": _p(round(speed, 1), t, "KMH"),
                "occupancy": _p(round(occupancy, 3), t),
                "congested": _p(speed < 0.45 * s.free_speed, t),
                "dateObserved": _observed(t),
            }
        )
    for p in sensors(scale, seed).parking:
        share, is_open = parking_share(p.kind, m.hour, m.weekday)
        occupied = min(p.total, max(0, round(p.total * share * gauss(1.0, 0.05))))
        available = p.total - occupied
        if not is_open:
            status = "closed"
        elif available == 0:
            status = "full"
        elif occupied >= 0.9 * p.total:
            status = "almostFull"
        else:
            status = "spacesAvailable"
        out.append(
            {
                "id": demo.entity_id("OffStreetParking", p.slug),
                "type": "OffStreetParking",
                "availableSpotNumber": _p(available, t),
                "occupiedSpotNumber": _p(occupied, t),
                "occupancy": _p(round(occupied / p.total, 3), t),
                "status": _p([status], t),
            }
        )
    weather = _weather(m, seed, gauss)
    raining = weather["precipitation"] > 0
    traffic = traffic_demand(m.hour - 0.5, weekend, True)  # the air lags the roads a little
    mix = 1.15 + 0.45 * math.cos(2 * math.pi * (m.hour - 3.0) / 24)  # still air at night traps more
    sun = _sun(m.hour)
    for a in sensors(scale, seed).air:
        local = traffic * a.traffic
        washout = 0.6 if raining else 1.0
        pm25 = max(1.0, (a.background + 24.0 * local) * mix * washout * gauss(1.0, 0.07))
        pm10 = pm25 * 1.65 + 5.0 * abs(gauss(1.0, 0.2))
        no2 = max(1.0, (6.0 + 48.0 * local) * math.sqrt(mix) * gauss(1.0, 0.08))
        o3 = max(1.0, (12.0 + 95.0 * sun) * (1.0 - 0.25 * min(local, 1.2)) * gauss(1.0, 0.08))
        co = max(0.05, (0.3 + 1.6 * local) * mix * gauss(1.0, 0.08))
        index, level = _ispu(pm25)
        out.append(
            {
                "id": demo.entity_id("AirQualityObserved", a.slug),
                "type": "AirQualityObserved",
                "pm25": _p(round(pm25, 1), t, "GQ"),
                "pm10": _p(round(pm10, 1), t, "GQ"),
                "no2": _p(round(no2, 1), t, "GQ"),
                "o3": _p(round(o3, 1), t, "GQ"),
                "co": _p(round(co, 2), t, "GP"),
                "airQualityIndex": _p(index, t),
                "airQualityLevel": _p(level, t),
                "temperature": _p(weather["temperature"], t, "CEL"),
                "relativeHumidity": _p(weather["relativeHumidity"], t),
                "dateObserved": _observed(t),
            }
        )
    for w in sensors(scale, seed).weather:
        entity: Entity = {"id": demo.entity_id("WeatherObserved", w.slug), "type": "WeatherObserved"}
        for name, unit in _WEATHER_UNITS.items():
            entity[name] = _p(weather[name], t, unit)
        entity["dateObserved"] = _observed(t)
        out.append(entity)
    return out


_WEATHER_UNITS: dict[str, str | None] = {
    "temperature": "CEL",
    "relativeHumidity": None,
    "dewPoint": "CEL",
    "atmosphericPressure": "A97",
    "precipitation": "MMT",
    "windSpeed": "MTS",
    "windDirection": "DD",
    "gustSpeed": "MTS",
    "solarRadiation": "D54",
    "weatherType": None,
}


def _weather(m: _Moment, seed: int, gauss: Any) -> dict[str, Any]:
    h = m.hour
    wet = m.month in WET_MONTHS
    tmin, tmax = (23.5, 30.5) if wet else (22.5, 31.5)
    if 5.5 <= h <= 13.5:
        temp = tmin + (tmax - tmin) * (1 - math.cos(math.pi * (h - 5.5) / 8.0)) / 2
    else:
        temp = tmax - (tmax - tmin) * (1 - math.cos(math.pi * ((h - 13.5) % 24) / 16.0)) / 2
    shower = _rain(m.day, seed)
    rain = shower[2] if shower is not None and shower[0] <= h < shower[1] else 0.0
    temp = temp - 2.5 if rain else temp
    temp += gauss(0.0, 0.25)
    humidity = 0.96 if rain else 0.95 - 0.35 * (temp - tmin) / (tmax - tmin)
    humidity = min(1.0, max(0.4, humidity + gauss(0.0, 0.01)))
    a, b = 17.62, 243.12
    gamma = math.log(humidity) + a * temp / (b + temp)
    sun = _sun(h)
    wind = max(0.0, (0.8 + 2.6 * sun) * gauss(1.0, 0.15))
    heading = (gauss(260.0, 40.0) if wet else gauss(135.0, 25.0)) % 360.0
    cloud = 0.25 if rain else 0.85
    kind = ("heavyRain" if rain > 10 else "lightRain") if rain else ("sunnyDay" if sun > 0 else "clearNight")
    return {
        "temperature": round(temp, 1),
        "relativeHumidity": round(humidity, 2),
        "dewPoint": round(b * gamma / (a - gamma), 1),
        "atmosphericPressure": round(
            1010.0 + 1.1 * math.cos(4 * math.pi * (h - 10.0) / 24) + gauss(0, 0.3), 1
        ),
        "precipitation": round(rain * abs(gauss(1.0, 0.1)), 1),
        "windSpeed": round(wind, 1),
        "windDirection": round(heading),
        "gustSpeed": round(wind * 1.6, 1),
        "solarRadiation": round(980.0 * sun**1.2 * cloud),
        "weatherType": kind,
    }


def _ispu(pm25: float) -> tuple[int, str]:
    table = demo.ispu_pm25()
    for low, high, i_low, i_high, level in table:
        if pm25 <= high:
            return round(i_low + (i_high - i_low) * (pm25 - low) / (high - low)), level
    return round(table[-1][3]), table[-1][4]


def compact(entity: Entity) -> dict[str, Any]:
    """The MQTT compact form of an observation: attribute values, and one ``observedAt`` for all."""
    out: dict[str, Any] = {}
    observed = None
    for name, attr in entity.items():
        if name in ("id", "type"):
            continue
        observed = attr.get("observedAt", observed)
        if attr.get("type") != "Property":
            out[name] = {k: v for k, v in attr.items() if k != "observedAt"}
        elif "unitCode" in attr:
            out[name] = {"value": attr["value"], "unitCode": attr["unitCode"]}
        else:
            out[name] = attr["value"]
    if observed is not None:
        out["observedAt"] = observed
    return out
