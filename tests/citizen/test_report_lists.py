"""The report lists' filters and counts: a kecamatan filter by its code, and the total that is exact
up to ``COUNT_CAP`` and says "more than" beyond it (the JSON API's ``total_relation``, the pages'
"Lebih dari … laporan")."""

from __future__ import annotations

from typing import Any

import pytest
from citizendata import IN_KALIWATES, IN_SUMBERSARI

from kotacerdas.citizen import reports

R = "/api/v1/regions/35.09"


def file(client: Any, at: tuple[float, float], description: str) -> str:
    body = {"category": "jalan-rusak", "description": description, "lat": at[0], "lon": at[1]}
    body |= {"name": "Budi Santoso", "email": "budi@example.id"}
    resp = client.post(f"{R}/reports", json=body)
    assert resp.status_code == 201, resp.text
    number: str = resp.json()["report"]["tracking_no"]
    return number


def test_the_kecamatan_filter_takes_the_area_code_and_refuses_an_unknown_one(
    client: Any, reporting: dict[str, Any]
) -> None:
    west = file(client, IN_KALIWATES, "Lubang di Jl. Gajah Mada.")
    east = file(client, IN_SUMBERSARI, "Lubang di Jl. Kalimantan.")
    page = client.get(f"{R}/reports", params={"area": "35.09.01"}).json()
    assert [item["tracking_no"] for item in page["items"]] == [west]
    assert (page["total"], page["total_relation"]) == (1, "eq")
    page = client.get(f"{R}/reports", params={"area": "35.09.02", "category": "jalan-rusak"}).json()
    assert [item["tracking_no"] for item in page["items"]] == [east]
    resp = client.get(f"{R}/reports", params={"area": "35.09.99"})
    assert resp.status_code == 422
    assert "area" in resp.json()["error"]["details"]


def test_the_total_is_exact_up_to_the_cap_and_says_more_than_beyond_it(
    client: Any, reporting: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports, "COUNT_CAP", 3)
    numbers = [file(client, IN_KALIWATES, f"Lampu jalan mati nomor {n}.") for n in range(3)]
    page = client.get(f"{R}/reports").json()
    assert (page["total"], page["total_relation"]) == (3, "eq")
    assert "Lebih dari" not in client.get("/reports").text

    numbers.append(file(client, IN_KALIWATES, "Lampu jalan mati nomor 3."))
    page = client.get(f"{R}/reports", params={"limit": 2}).json()
    assert (page["total"], page["total_relation"]) == (3, "gte")
    assert [item["tracking_no"] for item in page["items"]] == numbers[:1:-1]  # the newest two
    later = client.get(f"{R}/reports", params={"limit": 2, "offset": 2}).json()
    assert [item["tracking_no"] for item in later["items"]] == numbers[1::-1]  # every report still listed
    assert "Lebih dari 3 laporan" in client.get("/reports").text
    assert "More than 3 reports" in client.get("/reports?lang=en").text
