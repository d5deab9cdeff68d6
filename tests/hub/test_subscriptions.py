"""Subscriptions over /ngsi-ld/v1/subscriptions, as GS CIM 009 clauses 5.8.1-5.8.5 describe."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hubdata import make_key

from kotacerdas.hub import service, subscriptions as subs
from kotacerdas.hub.context import CORE_CONTEXT_URL

ENDPOINT = "http://127.0.0.1:9/notify"
SDM = "https://smartdatamodels.org/dataModel.Transportation/"
BAD_DATA = "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"


def subscription(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "TrafficFlowObserved"}],
        "watchedAttributes": ["intensity"],
        "notification": {"attributes": ["intensity"], "endpoint": {"uri": ENDPOINT}},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_create_then_retrieve_with_defaults_and_status(ngsi: Any) -> None:
    resp = ngsi.post("/subscriptions", json=subscription(q="intensity>100"))
    assert resp.status_code == 201, resp.text
    location = resp.headers["location"]
    assert location.startswith("/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:")
    got = ngsi.get(location.removeprefix("/ngsi-ld/v1"))
    assert got.status_code == 200
    assert "ngsi-ld-core-context" in got.headers["link"]
    body = got.json()
    assert body["id"] == location.rsplit("/", 1)[1]
    assert body["type"] == "Subscription"
    assert body["entities"] == [{"type": "TrafficFlowObserved"}]
    assert body["watchedAttributes"] == ["intensity"]
    assert body["q"] == "intensity>100"
    assert body["notificationTrigger"] == ["attributeCreated", "attributeUpdated"]
    assert body["isActive"] is True and body["status"] == "active"
    notification = body["notification"]
    assert notification["attributes"] == ["intensity"]
    assert notification["format"] == "normalized"
    assert notification["endpoint"] == {"uri": ENDPOINT, "accept": "application/json"}
    assert notification["timesSent"] == 0 and notification["timesFailed"] == 0
    assert "status" not in notification and "lastNotification" not in notification


def test_given_id_is_kept_and_a_second_create_is_409(ngsi: Any) -> None:
    sub = subscription(
        id="urn:ngsi-ld:Subscription:dishub-1", subscriptionName="arus", description="Arus lalu lintas"
    )
    resp = ngsi.post("/subscriptions", json=sub)
    assert resp.status_code == 201
    assert resp.headers["location"] == "/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:dishub-1"
    again = ngsi.post("/subscriptions", json=sub)
    assert again.status_code == 409
    assert again.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists"
    body = ngsi.get("/subscriptions/urn:ngsi-ld:Subscription:dishub-1").json()
    assert body["subscriptionName"] == "arus" and body["description"] == "Arus lalu lintas"


INVALID = [
    ("not an object", ["a"], "JSON object"),
    ("wrong type", subscription(type="Entity"), '"Subscription"'),
    ("unknown member", subscription(colour="red"), "no member 'colour'"),
    ("no selector", subscription(entities=None, watchedAttributes=None), "entities or watchedAttributes"),
    ("empty entities", subscription(entities=[]), "non-empty array"),
    ("selector without type", subscription(entities=[{"id": "urn:a:b"}]), "needs a type"),
    (
        "id and idPattern",
        subscription(entities=[{"type": "T", "id": "urn:a:b", "idPattern": ".*"}]),
        "not both",
    ),
    ("bad idPattern", subscription(entities=[{"type": "T", "idPattern": "(["}]), "regular expression"),
    ("bad entity id", subscription(entities=[{"type": "T", "id": "no uri"}]), "URI"),
    ("bad trigger", subscription(notificationTrigger=["entityChanged"]), "entityChanged"),
    ("empty watched", subscription(watchedAttributes=[]), "watchedAttributes"),
    ("bad q", subscription(q="intensity>>"), "q"),
    (
        "geoQ without georel",
        subscription(geoQ={"geometry": "Point", "coordinates": [113.7, -8.17]}),
        "georel",
    ),
    (
        "bad geoQ georel",
        subscription(geoQ={"geometry": "Point", "coordinates": [1, 2], "georel": "close"}),
        "",
    ),
    ("interval with watched", subscription(timeInterval=60), "watchedAttributes"),
    (
        "interval and throttling",
        subscription(watchedAttributes=None, timeInterval=60, throttling=5),
        "throttling",
    ),
    ("negative throttling", subscription(throttling=-1), "positive"),
    ("throttling not a number", subscription(throttling="5"), "positive"),
    ("throttling beyond a year", subscription(throttling=1e300), "at most"),
    ("isActive not bool", subscription(isActive="yes"), "true or false"),
    ("expiresAt in the past", subscription(expiresAt="2020-01-01T00:00:00Z"), "future"),
    ("expiresAt not a date", subscription(expiresAt="tomorrow"), "expiresAt"),
    ("no notification", subscription(notification=None), "notification"),
    ("no endpoint", subscription(notification={"format": "keyValues"}), "endpoint is required"),
    ("mqtt endpoint", subscription(notification={"endpoint": {"uri": "mqtt://broker:1883/t"}}), "MQTT"),
    ("no host", subscription(notification={"endpoint": {"uri": "http:///notify"}}), "host"),
    (
        "bad accept",
        subscription(notification={"endpoint": {"uri": ENDPOINT, "accept": "text/xml"}}),
        "accept",
    ),
    ("bad format", subscription(notification={"format": "compact", "endpoint": {"uri": ENDPOINT}}), "format"),
    (
        "attributes with pick",
        subscription(notification={"attributes": ["a"], "pick": "b", "endpoint": {"uri": ENDPOINT}}),
        "pick",
    ),
    (
        "receiverInfo header injection",
        subscription(
            notification={
                "endpoint": {"uri": ENDPOINT, "receiverInfo": [{"key": "X-A", "value": "a\r\nB: c"}]}
            }
        ),
        "header value",
    ),
    (
        "receiverInfo sets Content-Type",
        subscription(
            notification={
                "endpoint": {"uri": ENDPOINT, "receiverInfo": [{"key": "Content-Type", "value": "x"}]}
            }
        ),
        "Content-Type",
    ),
    (
        "receiverInfo not key/value",
        subscription(notification={"endpoint": {"uri": ENDPOINT, "receiverInfo": [{"name": "a"}]}}),
        "key and value",
    ),
    ("bad timeout", subscription(notification={"endpoint": {"uri": ENDPOINT, "timeout": 0}}), "timeout"),
    ("jsonldContext not a URL", subscription(jsonldContext="ctx.jsonld"), "jsonldContext"),
    ("bad id", subscription(id="not a uri"), "URI"),
]


@pytest.mark.parametrize(("case", "body", "detail"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_subscriptions_are_400_with_a_precise_detail(
    ngsi: Any, case: str, body: Any, detail: str
) -> None:
    resp = ngsi.post("/subscriptions", json=body)
    assert resp.status_code == 400, (case, resp.text)
    problem = resp.json()
    assert problem["type"] == BAD_DATA
    assert detail in problem["detail"], problem["detail"]
    assert ngsi.get("/subscriptions").json() == []


def test_unsupported_members_are_422(ngsi: Any) -> None:
    resp = ngsi.post("/subscriptions", json=subscription(scopeQ="/Jember"))
    assert resp.status_code == 422
    assert resp.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/OperationNotSupported"


def test_query_pages_with_link_header_and_count(ngsi: Any) -> None:
    for n in range(3):
        ngsi.post("/subscriptions", json=subscription(id=f"urn:ngsi-ld:Subscription:{n}"))
    first = ngsi.get("/subscriptions", params={"limit": 2, "count": "true"})
    assert first.status_code == 200
    assert [s["id"] for s in first.json()] == ["urn:ngsi-ld:Subscription:0", "urn:ngsi-ld:Subscription:1"]
    assert first.headers["NGSILD-Results-Count"] == "3"
    links = first.headers["link"].replace(" ", "").split(",")
    assert (
        '</ngsi-ld/v1/subscriptions?count=true&limit=2&offset=2>;rel="next";type="application/ld+json"'
        in links
    )
    assert not any('rel="prev"' in link for link in links)
    last = ngsi.get("/subscriptions", params={"limit": 2, "offset": 2})
    assert [s["id"] for s in last.json()] == ["urn:ngsi-ld:Subscription:2"]
    last_links = last.headers["link"].replace(" ", "").split(",")
    assert '</ngsi-ld/v1/subscriptions?limit=2&offset=0>;rel="prev";type="application/ld+json"' in last_links
    assert not any('rel="next"' in link for link in last_links)
    assert ngsi.get("/subscriptions", params={"limit": 0}).status_code == 400
    assert ngsi.get("/subscriptions", params={"limit": "x"}).status_code == 400
    assert ngsi.get("/subscriptions", params={"colour": "red"}).status_code == 400


def test_patch_changes_members_and_a_bad_patch_changes_nothing(ngsi: Any) -> None:
    ngsi.post("/subscriptions", json=subscription(id="urn:ngsi-ld:Subscription:p", throttling=5))
    path = "/subscriptions/urn:ngsi-ld:Subscription:p"
    resp = ngsi.patch(
        path,
        json={
            "watchedAttributes": ["averageVehicleSpeed"],
            "isActive": False,
            "throttling": "urn:ngsi-ld:null",
            "notification": {"format": "keyValues"},
        },
    )
    assert resp.status_code == 204, resp.text
    body = ngsi.get(path).json()
    assert body["watchedAttributes"] == ["averageVehicleSpeed"]
    assert body["isActive"] is False and body["status"] == "paused"
    assert "throttling" not in body
    assert body["notification"]["format"] == "keyValues"
    assert body["notification"]["attributes"] == ["intensity"]  # untouched members stay
    assert body["notification"]["endpoint"]["uri"] == ENDPOINT

    bad = ngsi.patch(path, json={"timeInterval": 10})
    assert bad.status_code == 400 and "watchedAttributes" in bad.json()["detail"]
    assert ngsi.patch(path, json={}).status_code == 400
    assert ngsi.patch(path, json={"id": "urn:ngsi-ld:Subscription:other"}).status_code == 400
    assert ngsi.patch(path, json={"notification": {"endpoint": "urn:ngsi-ld:null"}}).status_code == 400
    assert ngsi.get(path).json() == body
    assert (
        ngsi.patch("/subscriptions/urn:ngsi-ld:Subscription:none", json={"isActive": True}).status_code == 404
    )


def test_delete_then_it_is_gone(ngsi: Any) -> None:
    ngsi.post("/subscriptions", json=subscription(id="urn:ngsi-ld:Subscription:d"))
    assert ngsi.delete("/subscriptions/urn:ngsi-ld:Subscription:d").status_code == 204
    missing = ngsi.get("/subscriptions/urn:ngsi-ld:Subscription:d")
    assert missing.status_code == 404
    assert missing.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"
    assert ngsi.delete("/subscriptions/urn:ngsi-ld:Subscription:d").status_code == 404
    assert ngsi.get("/subscriptions/not-a-uri").status_code == 400


def test_who_may_subscribe(ngsi: Any, client: Any, db: Any, world: dict[str, Any]) -> None:
    assert ngsi.post("/subscriptions", json=subscription(id="urn:ngsi-ld:Subscription:j")).status_code == 201
    tenant = {"NGSILD-Tenant": "35.09"}
    anonymous = client.post("/ngsi-ld/v1/subscriptions", json=subscription(), headers=tenant)
    assert anonymous.status_code == 401
    reader = make_key(db, world, permissions=["hub:read"])
    forbidden = client.get(
        "/ngsi-ld/v1/subscriptions", headers={**tenant, "Authorization": f"Bearer {reader}"}
    )
    assert forbidden.status_code == 403
    other = make_key(db, world, region="probolinggo")
    as_other = {"Authorization": f"Bearer {other}"}
    assert client.get("/ngsi-ld/v1/subscriptions", headers={**tenant, **as_other}).status_code == 403
    own = client.get("/ngsi-ld/v1/subscriptions", headers={"NGSILD-Tenant": "35.74", **as_other})
    assert own.status_code == 200 and own.json() == []
    hidden = client.get(
        "/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:j", headers={"NGSILD-Tenant": "35.74", **as_other}
    )
    assert hidden.status_code == 404
    client.login("admin@jember.go.id", world["password"])
    assert client.get("/ngsi-ld/v1/subscriptions", headers=tenant).status_code == 200


def test_it_renders_in_the_terms_it_was_made_with(ngsi: Any) -> None:
    context = [{"tfo": SDM, "TrafficFlowObserved": "tfo:TrafficFlowObserved", "intensity": "tfo:intensity"}]
    body = {**subscription(id="urn:ngsi-ld:Subscription:ctx"), "@context": [*context, CORE_CONTEXT_URL]}
    resp = ngsi.post(
        "/subscriptions", content=orjson.dumps(body), headers={"Content-Type": "application/ld+json"}
    )
    assert resp.status_code == 201, resp.text
    path = "/subscriptions/urn:ngsi-ld:Subscription:ctx"
    as_ld = ngsi.get(path, headers={"Accept": "application/ld+json"})
    assert as_ld.headers["content-type"] == "application/ld+json"
    got = as_ld.json()
    assert got["entities"] == [{"type": "TrafficFlowObserved"}]
    assert got["watchedAttributes"] == ["intensity"]
    assert got["@context"] == body["@context"]
    # asked in the core context's terms, the names come back as full IRIs
    core = ngsi.get(
        path, headers={"Link": f'<{CORE_CONTEXT_URL}>; rel="http://www.w3.org/ns/json-ld#context"'}
    )
    assert core.json()["entities"] == [{"type": SDM + "TrafficFlowObserved"}]
    assert core.json()["watchedAttributes"] == [SDM + "intensity"]


def test_patch_without_context_reads_names_with_the_subscriptions_context(ngsi: Any) -> None:
    context = [
        {"tfo": SDM, "intensity": "tfo:intensity", "speed": "tfo:averageVehicleSpeed"},
        CORE_CONTEXT_URL,
    ]
    body = {**subscription(id="urn:ngsi-ld:Subscription:pc"), "@context": context}
    ngsi.post("/subscriptions", content=orjson.dumps(body), headers={"Content-Type": "application/ld+json"})
    assert (
        ngsi.patch(
            "/subscriptions/urn:ngsi-ld:Subscription:pc", json={"watchedAttributes": ["speed"]}
        ).status_code
        == 204
    )
    got = ngsi.get(
        "/subscriptions/urn:ngsi-ld:Subscription:pc", headers={"Accept": "application/ld+json"}
    ).json()
    assert got["watchedAttributes"] == ["speed"]


def test_status_is_expired_after_expires_at(ngsi: Any, db: Any, world: dict[str, Any]) -> None:
    ngsi.post(
        "/subscriptions", json=subscription(id="urn:ngsi-ld:Subscription:e", expiresAt="2099-01-01T00:00:00Z")
    )
    assert ngsi.get("/subscriptions/urn:ngsi-ld:Subscription:e").json()["status"] == "active"
    record = subs.get_subscription(
        db, region_id=world["jember"].id, principal=_admin(world), sub_id="urn:ngsi-ld:Subscription:e"
    )
    later = record.expires_at + 1  # type: ignore[operator]
    assert subs.render_subscription(record, service.core_context(), now=later)["status"] == "expired"


def _admin(world: dict[str, Any]) -> Any:
    from kotacerdas.auth import service as auth

    return auth.principal_for_user(world["users"]["admin"])
