"""What a hub request looks up before its work is cached per application (``access.ReadCache``), and
a public read by id may run on the event loop: neither may change what a client sees."""

from __future__ import annotations

from typing import Any

from hubdata import traffic
from sqlalchemy.orm import Session

from kotacerdas.hub import access, service
from kotacerdas.region import service as regions

TRAFFIC = traffic(1)
PATH = f"/ngsi-ld/v1/entities/{TRAFFIC['id']}"
JEMBER = {"NGSILD-Tenant": "35.09"}


def _type_iri() -> str:
    return service.core_context().expand("TrafficFlowObserved")


def test_a_read_policy_change_is_seen_by_the_next_request(
    ngsi: Any, client: Any, db: Session, world: dict[str, Any]
) -> None:
    assert ngsi.post("/entities", json=TRAFFIC).status_code == 201
    assert client.get(PATH, headers=JEMBER).status_code == 200  # the policy is now cached
    listed = client.get("/ngsi-ld/v1/entities", params={"type": "TrafficFlowObserved"}, headers=JEMBER)
    assert [e["id"] for e in listed.json()] == [TRAFFIC["id"]]

    access.set_type_policy(db, region_id=world["jember"].id, type_iri=_type_iri(), read="key")
    db.commit()
    hidden = client.get(PATH, headers=JEMBER)
    assert hidden.status_code == 401
    assert hidden.json()["type"].endswith("Unauthorized")
    listed = client.get("/ngsi-ld/v1/entities", params={"type": "TrafficFlowObserved"}, headers=JEMBER)
    assert listed.json() == []
    assert ngsi.get(f"/entities/{TRAFFIC['id']}").status_code == 200  # a key of the region still reads

    access.set_type_policy(db, region_id=world["jember"].id, type_iri=_type_iri(), read="public")
    db.commit()
    assert client.get(PATH, headers=JEMBER).status_code == 200


def test_a_new_tenant_is_seen_by_the_next_request(client: Any, db: Session, world: dict[str, Any]) -> None:
    headers = {"NGSILD-Tenant": "35.10"}
    missing = client.get(PATH, headers=headers)
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("NonexistentTenant")

    regions.create_region(
        db,
        code="35.10",
        name="Kabupaten Banyuwangi",
        kind="kabupaten",
        province="Jawa Timur",
        abbreviation="BWI",
    )
    db.commit()
    found = client.get(PATH, headers=headers)
    assert found.status_code == 404
    assert found.json()["type"].endswith("ResourceNotFound")  # the tenant exists; the entity does not


def test_tenants_are_kept_apart_when_cached(ngsi: Any, client: Any) -> None:
    assert ngsi.post("/entities", json=TRAFFIC).status_code == 201
    for _ in range(2):  # the second round comes from the cache
        assert client.get(PATH, headers=JEMBER).status_code == 200
        assert client.get(PATH).status_code == 200  # no header: the default region, the first one
        other = client.get(PATH, headers={"NGSILD-Tenant": "35.74"})
        assert other.status_code == 404
        assert other.json()["type"].endswith("ResourceNotFound")


def test_a_read_on_the_event_loop_answers_as_one_in_a_worker_thread(ngsi: Any, client: Any) -> None:
    """Anonymous (the quick path) and with a key (a worker thread): the same response."""
    assert ngsi.post("/entities", json=TRAFFIC).status_code == 201
    cases: list[dict[str, Any]] = [
        {},
        {"params": {"options": "keyValues,sysAttrs"}},
        {"params": {"pick": "id,intensity"}, "headers": {"Accept": "application/ld+json"}},
        {"params": {"omit": "location"}, "headers": {"Accept": "application/geo+json"}},
        {"params": {"type": "ParkingSpot"}},
        {"headers": {"Accept": "text/csv"}},
    ]
    for case in cases:
        quick = client.get(PATH, params=case.get("params"), headers={**JEMBER, **case.get("headers", {})})
        keyed = ngsi.get(f"/entities/{TRAFFIC['id']}", params=case.get("params"), headers=case.get("headers"))
        assert quick.status_code == keyed.status_code, case
        assert quick.content == keyed.content, case
        for name in ("content-type", "link", "NGSILD-Tenant", "x-content-type-options"):
            assert quick.headers.get(name) == keyed.headers.get(name), (case, name)
    missing = client.get(PATH + "x", headers=JEMBER)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json()["type"].endswith("ResourceNotFound")
