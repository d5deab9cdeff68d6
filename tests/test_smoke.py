from __future__ import annotations


def test_framework_edition_in_force_lists_six_dimensions_of_three_elements(client):
    body = client.get("/api/v1/framework").json()
    assert body["code"] == "gmsc-2024"
    assert [d["code"] for d in body["dimensions"]] == [
        "governance",
        "branding",
        "economy",
        "living",
        "society",
        "environment",
    ]
    assert all(len(d["elements"]) == 3 for d in body["dimensions"])
    assert {p["code"] for p in body["readiness_pillars"]} == {"struktur", "infrastruktur", "suprastruktur"}
