"""Read the Open311 endpoint with the client library georeport 0.3.1, as a city's integrator would.

Runs with ``.venv-clients/bin/python`` (tests/clients/requirements-georeport.txt). For each output
format the library offers (json, xml: it parses XML with xmltodict) and with and without a
jurisdiction, it lists the services, reads a service definition, lists requests (all, open, closed,
by id) and reads one request, then asks for a request that does not exist. It prints one JSON object
on stdout: each step's result (or the error the library raised, with the HTTP status) and every HTTP
exchange the library made. The library is read-only: it has no POST, tokens or discovery.

    python georeport_scenario.py --url http://127.0.0.1:8000/open311/v2 --jurisdiction 35.09 \
        --service jalan-rusak --request JBR-2026-000001

Each option can also come from the environment: GEOREPORT_URL, GEOREPORT_JURISDICTION,
GEOREPORT_SERVICE, GEOREPORT_REQUEST.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from functools import partial
from typing import Any

import requests
from georeport import GeoReport  # type: ignore[import-not-found]

EXCHANGES: list[dict[str, Any]] = []
_get = requests.get


def _recording_get(url: str, params: Any = None, **kwargs: Any) -> requests.Response:
    response = _get(url, params=params, timeout=30, **kwargs)
    EXCHANGES.append(
        {
            "url": response.url,
            "status": response.status_code,
            "content_type": response.headers.get("content-type", ""),
            "body": response.text[:2000] if response.status_code >= 400 else "",
        }
    )
    return response


requests.get = _recording_get  # type: ignore[assignment]  # georeport calls requests.get for every call


def step(fn: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"ok": True, "result": fn()}
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        return {"ok": False, "status": status, "error": str(exc)}
    except Exception as exc:  # what the library raised, reported to the test
        return {"ok": False, "status": None, "error": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get("GEOREPORT_URL"))
    parser.add_argument("--jurisdiction", default=os.environ.get("GEOREPORT_JURISDICTION"))
    parser.add_argument("--service", default=os.environ.get("GEOREPORT_SERVICE"))
    parser.add_argument("--request", default=os.environ.get("GEOREPORT_REQUEST"))
    args = parser.parse_args()
    steps: dict[str, Any] = {}
    for fmt in ("json", "xml"):
        for label, jurisdiction in (("with", args.jurisdiction), ("without", None)):
            client = GeoReport(args.url, jurisdiction=jurisdiction, output_format=fmt)
            prefix = f"{fmt}_{label}_"
            steps[prefix + "service_list"] = step(client.get_service_list)
            requests_of = client.get_service_requests
            steps[prefix + "service_definition"] = step(partial(client.get_service_definition, args.service))
            steps[prefix + "requests"] = step(requests_of)
            steps[prefix + "requests_open"] = step(partial(requests_of, status="open"))
            steps[prefix + "requests_closed"] = step(partial(requests_of, status="closed"))
            # the id overrides every other argument (status=closed would leave it out)
            steps[prefix + "requests_by_id"] = step(
                partial(requests_of, service_request_id=args.request, status="closed")
            )
            steps[prefix + "requests_by_service"] = step(partial(requests_of, service_code=args.service))
            steps[prefix + "request"] = step(partial(client.get_service_request, args.request))
            steps[prefix + "missing_request"] = step(partial(client.get_service_request, "JBR-1999-999999"))
    print(json.dumps({"steps": steps, "exchanges": EXCHANGES}, ensure_ascii=False))


if __name__ == "__main__":
    main()
