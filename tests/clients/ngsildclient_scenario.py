"""Drive the hub with the NGSI-LD client library ngsildclient 0.5.2, as an OPD system would.

Runs with ``.venv-clients/bin/python`` (ngsildclient pins httpx<0.24 and rich<13, which the project's
own environment cannot hold). It creates a TrafficFlowObserved and an OffStreetParking built with the
library's ``Entity`` class, retrieves one, queries by type and by ``q``, upserts a batch and creates a
subscription, then prints one JSON object on stdout: each step's result (or the error the library
raised, with the broker's ProblemDetails) and every HTTP exchange the library made.

    python ngsildclient_scenario.py --url http://127.0.0.1:8000 --tenant 35.09 --key kc_... \
        --notify http://127.0.0.1:9000/notify

Each option can also come from the environment: NGSILD_URL, NGSILD_TENANT, NGSILD_API_KEY, NGSILD_NOTIFY.

The library posts to ``/entities/``, ``/entityOperations/upsert/`` and ``/subscriptions/`` (with a
trailing slash); the hub answers 307 to the path without it and requests follows, keeping the method,
body and Authorization header (same host), so those calls work as they are.

Where the library is at odds with NGSI-LD, the script uses the call that works and says why:
- ``SubscriptionBuilder.query()`` percent-encodes the q expression (``intensity>500`` becomes
  ``intensity%3E500``), but a subscription's ``q`` is a JSON string in the query language, not part of a
  URL (GS CIM 009, 5.2.12): the script sets ``q`` on the built dict instead.
- ``Subscriptions.get(id)`` sends by default ``Link: <core context>; rel="<core context URL>"``: the
  rel must be ``http://www.w3.org/ns/json-ld#context`` (6.3.5), so that is no @context link at all;
  the script passes ``ctx=None`` (no Link header: the core context applies).
- ``SubscriptionBuilder.name()`` writes the member ``name``, which NGSI-LD renamed ``subscriptionName``
  in 1.3.1 (5.2.12); the hub refuses unknown members (400 BadRequestData), so the script renames it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ngsildclient import Client, Entity, SubscriptionBuilder  # type: ignore[import-not-found]
from requests import PreparedRequest, Response
from requests.auth import AuthBase

OBSERVED = "2026-11-20T07:00:00Z"
TRAFFIC_ID = "urn:ngsi-ld:TrafficFlowObserved:jember:ngsildclient:gajah-mada"
PARKING_ID = "urn:ngsi-ld:OffStreetParking:jember:ngsildclient:alun-alun"


class BearerAuth(AuthBase):
    """The hub's API keys go in ``Authorization: Bearer``; ngsildclient takes any requests auth."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.key}"
        return request


def traffic(name: str, intensity: int, lat: float, lon: float) -> Any:
    """A TrafficFlowObserved as the Smart Data Model shapes it. ``loc`` takes (lat, lon)."""
    entity = Entity("TrafficFlowObserved", f"jember:ngsildclient:{name}")
    entity.prop("intensity", intensity, observedat=OBSERVED)
    entity.prop("averageVehicleSpeed", 38.5, unitcode="KMH", observedat=OBSERVED)
    entity.prop("congested", intensity > 500)
    entity.prop("laneDirection", "forward")
    entity.tprop("dateObserved", OBSERVED)
    entity.loc(lat, lon)
    entity.rel("refRoadSegment", f"RoadSegment:jember:{name}")
    return entity


def parking() -> Any:
    entity = Entity("OffStreetParking", "jember:ngsildclient:alun-alun")
    entity.prop("name", "Parkir Alun-Alun Jember")
    entity.prop("category", ["public", "feeCharged"])
    entity.prop("totalSpotNumber", 120)
    # anchor(): the next property nests inside availableSpotNumber (a sub-property)
    entity.prop("availableSpotNumber", 87, observedat=OBSERVED).anchor()
    entity.prop("reliability", 0.9).unanchor()
    entity.prop(
        "address",
        {"streetAddress": "Jl. Sultan Agung", "addressLocality": "Jember", "addressCountry": "ID"},
    )
    entity.loc(-8.1690, 113.7020)
    return entity


def as_json(entity: Any) -> Any:
    return json.loads(entity.to_json())


def error_of(exc: Exception) -> dict[str, Any]:
    """The library's exception, with the broker's ProblemDetails when it parsed one."""
    found: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
    details = getattr(exc, "problemdetails", None)
    if details is not None:
        found["problem"] = {"type": details.type, "status": details.status, "detail": details.detail}
    cause = exc.__cause__
    if cause is not None:
        found["cause"] = f"{type(cause).__name__}: {cause}"
    return found


def run(url: str, tenant: str, key: str, notify: str) -> dict[str, Any]:
    parts = urlsplit(url)
    exchanges: list[dict[str, Any]] = []
    steps: dict[str, Any] = {}

    def record(response: Response, *_args: Any, **_kwargs: Any) -> Response:
        request = response.request
        target = urlsplit(str(request.url))
        exchanges.append(
            {
                "method": request.method,
                "path": target.path + (f"?{target.query}" if target.query else ""),
                "status": response.status_code,
                "content_type": request.headers.get("Content-Type"),
                "location": response.headers.get("Location"),
                "body": response.text[:500] if response.status_code >= 400 else None,
            }
        )
        return response

    def step(name: str, action: Callable[[], Any]) -> None:
        try:
            steps[name] = {"ok": True, "result": action()}
        except Exception as exc:  # every failure is reported in the JSON, not as a traceback
            steps[name] = {"ok": False, **error_of(exc)}

    client = Client(
        hostname=parts.hostname,
        port=parts.port or (443 if parts.scheme == "https" else 80),
        secure=parts.scheme == "https",
        tenant=tenant,
        tenant_autocreate=False,  # a tenant is a region the hub already has, never made by a client
        custom_auth=BearerAuth(key),
        verbose=False,
    )
    client.session.hooks["response"].append(record)
    with client:
        step("create_traffic", lambda: client.create(traffic("gajah-mada", 240, -8.1724, 113.7005)))
        step("create_parking", lambda: client.create(parking()))
        step("get_traffic", lambda: as_json(client.get(TRAFFIC_ID)))
        step("get_parking_dict", lambda: client.get(PARKING_ID, asdict=True))
        step("query_type", lambda: [e.id for e in client.query(type="TrafficFlowObserved")])
        step(
            "query_q",
            lambda: [e.id for e in client.query(type="OffStreetParking", q="availableSpotNumber>50")],
        )
        step("count_type", lambda: client.count(type="OffStreetParking"))

        def upsert() -> dict[str, Any]:
            batch = [
                traffic("gajah-mada", 610, -8.1724, 113.7005),
                traffic("kaliwates", 150, -8.1800, 113.6800),
                traffic("patrang", 720, -8.1500, 113.7100),
            ]
            result = client.upsert(batch)
            return {"success": list(result.success), "errors": list(result.errors)}

        step("upsert_batch", upsert)
        step(
            "query_q_after_upsert",
            lambda: sorted(e.id for e in client.query(type="TrafficFlowObserved", q="intensity>500")),
        )
        step("query_q_only", lambda: sorted(e.id for e in client.query(q="congested==true")))

        def subscribe() -> dict[str, Any]:
            subscription = (
                SubscriptionBuilder(notify)
                .name("ngsildclient congestion watch")
                .description("Dishub: roads in Jember above 500 vehicles per hour")
                .select_type("TrafficFlowObserved")
                .watch(["intensity"])
                .notif(["intensity", "congested"])
                .build()
            )
            subscription["q"] = "intensity>500"  # not .query(): it percent-encodes (see the docstring)
            subscription["subscriptionName"] = subscription.pop("name")  # "name" is pre-1.3 NGSI-LD
            created = client.subscriptions.create(subscription)
            stored = client.subscriptions.get(created, ctx=None)  # default ctx sends a bad Link rel
            return {"id": created, "sent": subscription, "stored": stored}

        step("subscribe", subscribe)
    return {"steps": steps, "exchanges": exchanges}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=os.environ.get("NGSILD_URL"), help="the hub, e.g. http://host:8000")
    parser.add_argument("--tenant", default=os.environ.get("NGSILD_TENANT"), help="a region code, e.g. 35.09")
    parser.add_argument("--key", default=os.environ.get("NGSILD_API_KEY"), help="an API key (kc_...)")
    parser.add_argument("--notify", default=os.environ.get("NGSILD_NOTIFY"), help="the receiver's URL")
    args = parser.parse_args(argv)
    missing = [name for name in ("url", "tenant", "key", "notify") if not getattr(args, name)]
    if missing:
        parser.error(f"missing: {', '.join(missing)}")
    # the library prints progress ("Entities upserted : 3/3") on stdout: keep stdout for the JSON
    with contextlib.redirect_stdout(sys.stderr):
        outcome = run(args.url, args.tenant, args.key, args.notify)
    print(json.dumps(outcome, indent=2, default=str))
    return 0 if all(s["ok"] for s in outcome["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
