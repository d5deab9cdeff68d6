"""Open311 GeoReport v2 under /open311/v2, checked against the spec's field tables.

Every operation is called in XML and in JSON. The JSON is validated with JSON Schemas written here from
the tables of the GeoReport v2 page (services, service definition, POST response, token, requests,
errors, discovery); the XML is parsed (defusedxml) and mapped back with the Spark convention, and must
be the same document as the JSON: same elements in the same order, same values.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]
import jsonschema  # type: ignore[import-untyped]
import pytest
from citizendata import IN_SUMBERSARI
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import ANONYMOUS
from kotacerdas.citizen import categories, labels, reports
from kotacerdas.citizen.models import Report
from kotacerdas.i18n import gettext
from kotacerdas.kit.time import utcnow

O311 = "/open311/v2"
API = "/api/v1/regions/35.09"
J = {"jurisdiction_id": "35.09"}
LAT, LON = IN_SUMBERSARI

# ---------------------------------------------------------------- JSON Schemas from the spec's tables

W3C = (
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$"  # "Timezone ... must be included"
)
TEXT = {"type": "string"}
TEXT_OR_NULL = {"type": ["string", "null"]}
SERVICE = {
    "type": "object",
    "additionalProperties": False,  # "do not include foreign tags"
    "required": ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"],
    "properties": {
        "service_code": {"type": "string", "minLength": 1},
        "service_name": {"type": "string", "minLength": 1},
        "description": TEXT_OR_NULL,
        "metadata": {"type": "boolean"},
        "type": {"enum": ["realtime", "batch", "blackbox"]},
        "keywords": TEXT_OR_NULL,
        "group": TEXT_OR_NULL,
    },
}
SERVICES = {"type": "array", "items": SERVICE}
DEFINITION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["service_code", "attributes"],
    "properties": {
        "service_code": TEXT,
        "attributes": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["variable", "code", "datatype", "required", "order", "description", "values"],
                "properties": {
                    "variable": {"type": "boolean"},
                    "code": {"type": "string", "minLength": 1},
                    "datatype": {
                        "enum": ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
                    },
                    "required": {"type": "boolean"},
                    "datatype_description": TEXT_OR_NULL,
                    "order": {"type": "integer", "minimum": 1},
                    "description": TEXT_OR_NULL,
                    "values": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["key", "name"],
                            "properties": {"key": TEXT, "name": TEXT},
                        },
                    },
                },
            },
        },
    },
}
POSTED = {  # POST Service Request: service_request_id or token, never both
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "service_request_id": {"type": "string", "minLength": 1},
            "token": {"type": "string", "minLength": 1},
            "service_notice": TEXT_OR_NULL,
            "account_id": TEXT_OR_NULL,
        },
        "oneOf": [
            {"required": ["service_request_id"], "not": {"required": ["token"]}},
            {"required": ["token"], "not": {"required": ["service_request_id"]}},
        ],
    },
}
TOKEN = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["service_request_id", "token"],
        "properties": {"service_request_id": TEXT, "token": TEXT},
    },
}
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
REQUESTS = {
    "type": "array",
    "maxItems": 1000,  # "first 1000 requests"
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["service_request_id", "status", "service_code", "requested_datetime"],
        "properties": {
            "service_request_id": {"type": "string", "minLength": 1},
            "status": {"enum": ["open", "closed"]},
            "status_notes": TEXT_OR_NULL,
            "service_name": TEXT,
            "service_code": TEXT,
            "description": {"type": ["string", "null"], "maxLength": 4000},
            "agency_responsible": TEXT_OR_NULL,
            "service_notice": TEXT_OR_NULL,
            "requested_datetime": {"type": "string", "pattern": W3C},
            "updated_datetime": {"type": "string", "pattern": W3C},
            "expected_datetime": {"type": ["string", "null"], "pattern": W3C},
            "address": TEXT_OR_NULL,
            "address_id": TEXT_OR_NULL,
            "zipcode": TEXT_OR_NULL,
            "lat": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
            "long": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
            "media_url": TEXT_OR_NULL,
        },
    },
}
ERRORS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string", "minLength": 1}},
    },
}
DISCOVERY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["changeset", "contact", "key_service", "endpoints"],  # "All fields are required"
    "properties": {
        "changeset": TEXT,
        "contact": {"type": "string", "minLength": 1},
        "key_service": {"type": "string", "minLength": 1},
        "endpoints": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["specification", "url", "changeset", "type", "formats"],
                "properties": {
                    "specification": TEXT,
                    "url": TEXT,
                    "changeset": TEXT,
                    "type": {"enum": ["production", "test"]},
                    "formats": {"type": "array", "minItems": 1, "items": TEXT},
                },
            },
        },
    },
}
# the Spark convention: these XML elements are lists of the named child element
LISTS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}


# ---------------------------------------------------------------- reading both formats


def spark(element: Element) -> Any:
    """The XML element as the JSON the Spark convention makes of it."""
    if element.tag in LISTS:
        assert all(child.tag == LISTS[element.tag] for child in element), element.tag
        return [spark(child) for child in element]
    if len(element):
        return {child.tag: spark(child) for child in element}
    return element.text if element.text else None


def assert_same(from_json: Any, from_xml: Any, where: str = "") -> None:
    if isinstance(from_json, dict):
        assert isinstance(from_xml, dict) and list(from_xml) == list(from_json), where
        for key, value in from_json.items():
            assert_same(value, from_xml[key], f"{where}.{key}")
    elif isinstance(from_json, list):
        assert isinstance(from_xml, list) and len(from_xml) == len(from_json), where
        for n, (a, b) in enumerate(zip(from_json, from_xml, strict=True)):
            assert_same(a, b, f"{where}[{n}]")
    elif from_json is None:
        assert from_xml is None, where
    elif isinstance(from_json, bool):
        assert from_xml == ("true" if from_json else "false"), where
    elif isinstance(from_json, (int, float)):
        assert from_xml is not None and float(from_xml) == float(from_json), where
    else:
        assert from_xml == from_json, where


def as_json(resp: Any, schema: dict[str, Any]) -> Any:
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    body = resp.json()
    jsonschema.validate(body, schema)
    return body


def as_xml(resp: Any, root: str) -> Element:
    assert resp.headers["content-type"] == "text/xml; charset=utf-8"
    assert resp.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    element: Element = SafeET.fromstring(resp.content)
    assert element.tag == root and not element.tag.startswith("{")  # no namespace
    return element


def fetch(client: Any, path: str, schema: dict[str, Any], root: str, **params: Any) -> Any:
    """GET ``path`` as .json and .xml: both answer 200, the JSON fits the schema, the XML is the same."""
    json_resp = client.get(f"{O311}/{path}.json", params=params)
    xml_resp = client.get(f"{O311}/{path}.xml", params=params)
    assert json_resp.status_code == 200, json_resp.text
    assert xml_resp.status_code == 200, xml_resp.text
    body = as_json(json_resp, schema)
    assert_same(body, spark(as_xml(xml_resp, root)))
    return body


def errors(client: Any, path: str, status: int, method: str = "GET", **kwargs: Any) -> list[str]:
    """The call in both formats answers ``status`` with the spec's error list; the descriptions."""
    bodies = []
    for fmt in ("json", "xml"):
        resp = client.request(method, f"{O311}/{path}.{fmt}", **kwargs)
        assert resp.status_code == status, resp.text
        if fmt == "json":
            bodies.append(as_json(resp, ERRORS))
        else:
            bodies.append(spark(as_xml(resp, "errors")))
            jsonschema.validate([{**e, "code": int(e["code"])} for e in bodies[-1]], ERRORS)
    assert_same(bodies[0], bodies[1])
    return [e["description"] for e in bodies[0]]


def count_reports(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Report)) or 0


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def same_second(w3c: str, iso: str) -> bool:
    """Open311 times are given to the second (the JSON API's to the microsecond)."""
    return ts(w3c) == ts(iso).replace(microsecond=0)


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def o311(db: Session, reporting: dict[str, Any]) -> dict[str, Any]:
    """Reporting's categories plus a batch service with every kind of question, and API keys."""
    jember, pbl = reporting["jember"], reporting["probolinggo"]
    admin = auth.principal_for_user(reporting["users"]["admin"])
    pbl_admin = auth.principal_for_user(reporting["users"]["pbl_admin"])
    categories.create_category(
        db,
        principal=admin,
        region_id=jember.id,
        code="sampah",
        name="Sampah menumpuk",
        name_en="Uncollected rubbish",
        description="Sampah tidak diangkut",
        group="kebersihan",
        keywords="sampah, kebersihan",
        office_id=reporting["offices"]["dishub"].id,
        open311_type="batch",
        attributes=[
            {
                "code": "jenis",
                "datatype": "multivaluelist",
                "required": True,
                "order": 1,
                "description": "Jenis sampah",
                "values": [
                    {"key": "organik", "name": "Organik"},
                    {"key": "plastik", "name": "Plastik"},
                    {"key": "b3", "name": "Bahan berbahaya"},
                ],
            },
            {"code": "jumlah", "datatype": "number", "order": 2, "description": "Perkiraan karung"},
            {"code": "sejak", "datatype": "datetime", "order": 3, "description": "Sejak kapan"},
            {"code": "patokan", "datatype": "string", "order": 4, "datatype_description": "Satu baris"},
        ],
    )
    _row, key = auth.create_api_key(
        db, principal=admin, region_id=jember.id, name="Aplikasi warga", permissions=["reports:submit"]
    )
    _row, reader = auth.create_api_key(
        db, principal=admin, region_id=jember.id, name="Dasbor", permissions=["region:read"]
    )
    revoked_row, revoked = auth.create_api_key(
        db, principal=admin, region_id=jember.id, name="Lama", permissions=["reports:submit"]
    )
    auth.revoke_api_key(db, principal=admin, region_id=jember.id, key_id=revoked_row.id)
    _row, pbl_key = auth.create_api_key(
        db, principal=pbl_admin, region_id=pbl.id, name="Aplikasi PBL", permissions=["reports:submit"]
    )
    db.commit()
    return {**reporting, "key": key, "reader": reader, "revoked": revoked, "pbl_key": pbl_key}


def post(client: Any, o311: dict[str, Any], fmt: Any = "json", **fields: Any) -> Any:
    data: dict[str, Any] = {
        "api_key": o311["key"],
        "jurisdiction_id": "35.09",
        "service_code": "jalan-rusak",
        "lat": str(LAT),
        "long": str(LON),
        "address_string": "Jl. Kalimantan No. 37, Sumbersari, Jember",
        "description": "Lubang besar di depan kampus, berbahaya untuk motor.",
        "email": "siti@example.id",
        "first_name": "Siti",
        "last_name": "Aminah",
        "phone": "081234567890",
        "attribute[severity]": "berat",
    }
    data.update(fields)
    return client.post(f"{O311}/requests.{fmt}", data={k: v for k, v in data.items() if v is not None})


def filed_id(client: Any, o311: dict[str, Any], **fields: Any) -> str:
    resp = post(client, o311, **fields)
    assert resp.status_code == 200, resp.text
    number: str = as_json(resp, POSTED)[0]["service_request_id"]
    return number


def login(make_client: Any, world: dict[str, Any], who: str) -> Any:
    return make_client().login(world["users"][who].email, world["password"])


# ---------------------------------------------------------------- discovery and services


def test_discovery_in_both_formats(client: Any, o311: dict[str, Any]) -> None:
    body = fetch(client, "discovery", DISCOVERY, "discovery")  # no jurisdiction needed
    endpoint = body["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://127.0.0.1:8000/open311/v2"
    assert endpoint["type"] == "production"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert body["contact"] == "Diskominfo"
    assert "reports:submit" in body["key_service"]
    stamp = ts(body["changeset"])
    assert stamp.tzinfo is not None and stamp <= datetime.now(UTC)
    assert endpoint["changeset"] == body["changeset"]


def test_discovery_changeset_moves_when_a_service_changes(
    client: Any, db: Session, o311: dict[str, Any]
) -> None:
    before = client.get(f"{O311}/discovery.json").json()["changeset"]
    category = o311["categories"]["health"]
    category.description = "Antrean, obat, petugas"
    category.updated_at = utcnow() + timedelta(seconds=5)
    db.commit()
    after = client.get(f"{O311}/discovery.json").json()["changeset"]
    assert ts(after) > ts(before)


def test_service_list_in_both_formats(client: Any, o311: dict[str, Any]) -> None:
    body = fetch(client, "services", SERVICES, "services", **J)
    services = {s["service_code"]: s for s in body}
    assert set(services) == {"jalan-rusak", "puskesmas", "pungli", "sampah"}
    road = services["jalan-rusak"]
    assert road["service_name"] == "Jalan rusak"
    assert road["metadata"] is True and road["type"] == "realtime" and road["group"] == "infrastruktur"
    assert services["puskesmas"]["metadata"] is False  # no questions: no definition needed
    assert services["sampah"]["type"] == "batch"
    assert services["sampah"]["keywords"] == "sampah, kebersihan"
    assert services["pungli"]["keywords"] == "private"  # FixMyStreet's mark of a non-public service
    english = client.get(f"{O311}/services.json", params={**J, "lang": "en"}).json()
    assert {s["service_code"]: s["service_name"] for s in english}["jalan-rusak"] == "Damaged road"


def test_service_definition_in_both_formats(client: Any, o311: dict[str, Any]) -> None:
    body = fetch(client, "services/sampah", DEFINITION, "service_definition", **J)
    assert body["service_code"] == "sampah"
    attributes = body["attributes"]
    assert [a["code"] for a in attributes] == ["jenis", "jumlah", "sejak", "patokan"]
    assert [a["order"] for a in attributes] == [1, 2, 3, 4]
    jenis = attributes[0]
    assert jenis["datatype"] == "multivaluelist" and jenis["required"] is True and jenis["variable"] is True
    assert jenis["values"] == [
        {"key": "organik", "name": "Organik"},
        {"key": "plastik", "name": "Plastik"},
        {"key": "b3", "name": "Bahan berbahaya"},
    ]
    assert attributes[1]["values"] == [] and attributes[1]["required"] is False
    assert attributes[3]["datatype_description"] == "Satu baris"
    road = fetch(client, "services/jalan-rusak", DEFINITION, "service_definition", **J)
    assert road["attributes"][0]["code"] == "severity"
    assert fetch(client, "services/puskesmas", DEFINITION, "service_definition", **J)["attributes"] == []


def test_unknown_service_or_jurisdiction_and_a_missing_jurisdiction(
    client: Any, o311: dict[str, Any]
) -> None:
    (text,) = errors(client, "services/tidak-ada", 404, params=J)
    assert "tidak-ada" in text
    (text,) = errors(client, "services", 404, params={"jurisdiction_id": "99.99"})
    assert "99.99" in text
    # two regions here: jurisdiction_id is required everywhere but in discovery; empty is absent
    for path in ("services", "services/jalan-rusak", "requests", "requests/JBR-2026-000001", "tokens/abc"):
        (text,) = errors(client, path, 400, params={"jurisdiction_id": ""})
        assert text.startswith("jurisdiction_id: ") and "35.09, 35.74" in text
    errors(
        client, "requests", 400, method="POST", data={"api_key": o311["key"], "service_code": "jalan-rusak"}
    )


def test_configured_jurisdiction_id_names_the_default_region(
    client: Any, settings: Any, o311: dict[str, Any]
) -> None:
    settings.open311_jurisdiction = "jemberkab.go.id"
    by_domain = fetch(client, "services", SERVICES, "services", jurisdiction_id="jemberkab.go.id")
    by_code = fetch(client, "services", SERVICES, "services", jurisdiction_id="35.09")
    assert by_domain == by_code and len(by_code) == 4
    assert fetch(client, "services", SERVICES, "services", jurisdiction_id="35.74") == []
    (text,) = errors(client, "services", 400)
    assert "jemberkab.go.id, 35.74" in text


def test_errors_are_in_indonesian_unless_english_is_asked(client: Any, o311: dict[str, Any]) -> None:
    message = "Required here: this server serves several jurisdictions ({ids})."
    (indonesian,) = errors(client, "services", 400)
    assert indonesian == "jurisdiction_id: " + gettext("id", message, ids="35.09, 35.74")
    (english,) = errors(client, "services", 400, params={"lang": "en"})
    assert english == "jurisdiction_id: " + message.format(ids="35.09, 35.74")
    assert indonesian != english


def test_bad_urls_and_parameters_get_the_error_list_never_a_500(client: Any, o311: dict[str, Any]) -> None:
    # an unknown format: the error list in XML
    resp = client.get(f"{O311}/services.html", params=J)
    assert resp.status_code == 400
    assert spark(as_xml(resp, "errors"))[0]["code"] == "400"
    resp = client.get(f"{O311}/services.yaml", params=J)
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("text/xml")
    # no such resource
    errors(client, "nothing", 404)
    # FastAPI's own checks (a path parameter too long) answer in the Open311 format, as 400
    errors(client, "services/" + "x" * 50, 400, params=J)
    errors(client, "requests", 400, params={**J, "status": "open" * 20})
    # the wrong method: 400 with the more specific code in the body
    resp = client.put(f"{O311}/services.json", params=J)
    assert resp.status_code == 400 and as_json(resp, ERRORS)[0]["code"] == 405
    # control characters (NUL cannot even be stored by PostgreSQL) are refused, not crashed on
    for params in (
        {**J, "service_code": "jalan\x00rusak"},
        {**J, "service_request_id": "JBR\x00"},
        {"jurisdiction_id": "35.09\x00"},
    ):
        errors(client, "requests", 400, params=params)
    errors(client, "requests/JBR%00X", 400, params=J)
    errors(client, "tokens/%00", 400, params=J)


def test_the_html_page_lists_the_operations_and_jurisdictions(client: Any, o311: dict[str, Any]) -> None:
    for path in (f"{O311}/", f"{O311}/discovery"):
        resp = client.get(path)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
        assert "http://127.0.0.1:8000/open311/v2/discovery.xml" in resp.text
        assert "Kabupaten Jember" in resp.text and "Kota Probolinggo" in resp.text
        assert "page_size" in resp.text and "device_id" in resp.text


# ---------------------------------------------------------------- POST requests, then reading them back


def test_post_then_get_by_id_in_both_formats(client: Any, o311: dict[str, Any]) -> None:
    for fmt in ("json", "xml"):
        resp = post(client, o311, fmt=fmt, media_url="https://foto.example.id/lubang.jpg")
        assert resp.status_code == 200, resp.text
        if fmt == "json":
            (created,) = as_json(resp, POSTED)
        else:
            (created,) = spark(as_xml(resp, "service_requests"))
            jsonschema.validate([created], POSTED)
        number = created["service_request_id"]
        assert re.fullmatch(r"JBR-\d{4}-\d{6}", number)
        assert created["service_notice"] == gettext(
            "id", "The report is verified within {days} working days.", days=3
        )
        (got,) = fetch(client, f"requests/{number}", REQUESTS, "service_requests", **J)
        assert list(got) == REQUEST_FIELDS  # every field of the table, in its order
        report = client.get(f"{API}/reports/{number}").json()
        assert got["service_request_id"] == number
        assert got["status"] == "open"
        assert got["status_notes"] == gettext("id", labels.STATE_LABELS["submitted"])
        assert got["service_code"] == "jalan-rusak" and got["service_name"] == "Jalan rusak"
        assert got["description"] == "Lubang besar di depan kampus, berbahaya untuk motor."
        assert got["agency_responsible"] is None  # not disposed to an office yet
        assert got["requested_datetime"].endswith("+07:00")  # Jember keeps WIB
        assert same_second(got["requested_datetime"], report["submitted_at"])
        assert same_second(got["updated_datetime"], report["updated_at"])
        assert same_second(got["expected_datetime"], report["verify_due_at"])  # the verification deadline
        assert got["address"] == "Jl. Kalimantan No. 37, Sumbersari, Jember"
        assert (got["lat"], got["long"]) == (LAT, LON)
        assert got["media_url"] == "https://foto.example.id/lubang.jpg"
        assert got["address_id"] is None and got["zipcode"] is None
        for fmt_read in ("json", "xml"):
            text = client.get(f"{O311}/requests/{number}.{fmt_read}", params=J).text
            for secret in ("siti@example.id", "Aminah", "081234567890"):
                assert secret not in text  # never who filed it


def test_the_reporter_details_are_stored_for_the_office(
    client: Any, db: Session, o311: dict[str, Any]
) -> None:
    number = filed_id(client, o311, device_id="android-123", account_id="u-9")
    stored = reports.get_report(db, region_id=o311["jember"].id, tracking_no=number)
    assert (stored.reporter_name, stored.reporter_email, stored.reporter_phone) == (
        "Siti Aminah",
        "siti@example.id",
        "081234567890",
    )
    assert stored.privacy == "identified" and stored.channel == "open311"
    assert stored.attributes == {"severity": "berat"}


def test_batch_service_answers_a_token_that_resolves_to_the_id(
    client: Any, db: Session, o311: dict[str, Any]
) -> None:
    resp = post(
        client,
        o311,
        service_code="sampah",
        **{
            "attribute[severity]": None,
            "attribute[jenis][]": ["organik", "plastik"],
            "attribute[jumlah]": "12",
            "attribute[sejak]": "2026-06-01T08:00:00+07:00",
            "attribute[patokan]": "Depan pasar Tanjung",
        },
    )
    assert resp.status_code == 200, resp.text
    (created,) = as_json(resp, POSTED)
    assert "service_request_id" not in created
    token = created["token"]
    (found,) = fetch(client, f"tokens/{token}", TOKEN, "service_requests", **J)
    assert found["token"] == token
    stored = reports.get_report(db, region_id=o311["jember"].id, tracking_no=found["service_request_id"])
    assert stored.attributes == {
        "jenis": ["organik", "plastik"],
        "jumlah": 12,
        "sejak": "2026-06-01T08:00:00+07:00",
        "patokan": "Depan pasar Tanjung",
    }
    (got,) = fetch(client, f"requests/{found['service_request_id']}", REQUESTS, "service_requests", **J)
    assert got["service_code"] == "sampah"
    (text,) = errors(client, "tokens/0123456789abcdef", 404, params=J)
    assert "0123456789abcdef" in text
    # a single value of a multivaluelist may also be sent without []
    resp = post(
        client, o311, service_code="sampah", **{"attribute[severity]": None, "attribute[jenis]": "b3"}
    )
    assert resp.status_code == 200, resp.text


def test_multipart_and_api_key_in_the_query_are_accepted(client: Any, o311: dict[str, Any]) -> None:
    resp = client.post(
        f"{O311}/requests.json",
        params={"api_key": o311["key"], "jurisdiction_id": "35.09"},
        data={
            "service_code": "puskesmas",
            "address_string": "Puskesmas Sumbersari",
            "description": "Antre lama",
        },
        files={"ignored": ("a.txt", b"not a photo", "text/plain")},
    )
    assert resp.status_code == 200, resp.text
    number = as_json(resp, POSTED)[0]["service_request_id"]
    (got,) = fetch(client, f"requests/{number}", REQUESTS, "service_requests", **J)
    assert got["lat"] is None and got["long"] is None and got["address"] == "Puskesmas Sumbersari"
    # address_id is taken as the address; without a description the service's name describes it
    number = filed_id(
        client, o311, lat=None, long=None, address_string=None, address_id="ID-4411", description=""
    )
    (got,) = fetch(client, f"requests/{number}", REQUESTS, "service_requests", **J)
    assert got["address"] == "ID-4411" and got["description"] == "Jalan rusak"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"attribute[severity]": None}, ["attribute[severity]: "]),
        ({"attribute[severity]": "parah"}, ["attribute[severity]: "]),
        ({"attribute[warna]": "merah"}, ["attribute[warna]: "]),
        ({"lat": "abc"}, ["lat: "]),
        ({"lat": "-95", "long": "200"}, ["lat: ", "long: "]),
        ({"lat": "nan"}, ["lat: "]),
        ({"long": None}, ["lat/long: "]),
        ({"lat": None, "long": None, "address_string": None}, [""]),
        ({"description": "x" * 4001}, ["description: "]),
        ({"media_url": "ftp://foto.example.id/a.jpg"}, ["media_url: "]),
        ({"email": "bukan-email"}, ["email: "]),
        (
            {"attribute[severity]": "parah", "description": "x" * 4001, "lat": "abc"},
            ["lat: ", "description: ", "attribute[severity]: "],
        ),
    ],
)
def test_bad_input_gets_one_error_per_problem_and_stores_nothing(
    client: Any, db: Session, o311: dict[str, Any], fields: dict[str, Any], expected: list[str]
) -> None:
    filed_id(client, o311)
    before = count_reports(db)
    for fmt in ("json", "xml"):
        resp = post(client, o311, fmt=fmt, **fields)
        assert resp.status_code == 400, resp.text
        items = as_json(resp, ERRORS) if fmt == "json" else spark(as_xml(resp, "errors"))
        assert [int(e["code"]) for e in items] == [400] * len(expected)
        assert len(items) == len(expected)
        for item, prefix in zip(items, expected, strict=True):
            assert item["description"].startswith(prefix) and len(item["description"]) > len(prefix) + 3
    assert count_reports(db) == before


def test_bad_attributes_of_each_datatype(client: Any, db: Session, o311: dict[str, Any]) -> None:
    before = count_reports(db)
    base: dict[str, Any] = {"service_code": "sampah", "attribute[severity]": None}
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "attribute[jenis]"),  # required multivaluelist missing
        ({"attribute[jenis][]": ["organik", "kaca"]}, "attribute[jenis]"),  # kaca is not a key
        ({"attribute[jenis][]": "organik", "attribute[jumlah]": "dua belas"}, "attribute[jumlah]"),
        ({"attribute[jenis][]": "organik", "attribute[jumlah]": "1_000"}, "attribute[jumlah]"),
        ({"attribute[jenis][]": "organik", "attribute[sejak]": "kemarin"}, "attribute[sejak]"),
        ({"attribute[jenis][]": "organik", "attribute[patokan]": "dua\nbaris"}, "attribute[patokan]"),
        ({"attribute[jenis][]": "organik", "attribute[patokan]": "x" * 301}, "attribute[patokan]"),
        ({"attribute[jenis][]": "organik", "attribute[jumlah][]": ["1", "2"]}, "attribute[jumlah]"),
    ]
    for fields, field in cases:
        (text,) = errors(client, "requests", 400, method="POST", data=_form(o311, {**base, **fields}))
        assert text.startswith(field + ": "), (fields, text)
    assert count_reports(db) == before


def _form(o311: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    data = {
        "api_key": o311["key"],
        "jurisdiction_id": "35.09",
        "lat": str(LAT),
        "long": str(LON),
        "description": "Sampah menumpuk",
        **fields,
    }
    return {k: v for k, v in data.items() if v is not None}


def test_keys_that_may_not_file_get_403_and_store_nothing(
    client: Any, db: Session, o311: dict[str, Any]
) -> None:
    before = count_reports(db)
    for key in (None, "", "kc_bukan-kunci", o311["revoked"], o311["reader"], o311["pbl_key"]):
        texts = errors(
            client,
            "requests",
            403,
            method="POST",
            data=_form(o311, {"api_key": key, "service_code": "puskesmas"}),
        )
        assert texts[0].startswith("api_key: ")
    # Probolinggo's key is good in Probolinggo, and only there
    pbl = errors(
        client,
        "requests",
        404,  # Probolinggo has no such service; but the key got past the check
        method="POST",
        data={
            **_form(o311, {"api_key": o311["pbl_key"], "service_code": "puskesmas"}),
            "jurisdiction_id": "35.74",
        },
    )
    assert pbl[0].startswith("service_code: ")
    assert count_reports(db) == before


def test_missing_or_unknown_service_code(client: Any, db: Session, o311: dict[str, Any]) -> None:
    before = count_reports(db)
    (text,) = errors(client, "requests", 400, method="POST", data=_form(o311, {}))
    assert text.startswith("service_code: ")
    (text,) = errors(client, "requests", 404, method="POST", data=_form(o311, {"service_code": "banjir"}))
    assert text.startswith("service_code: ") and "banjir" in text
    assert count_reports(db) == before


def test_markup_in_a_description_comes_back_as_text(client: Any, o311: dict[str, Any]) -> None:
    nasty = "<script>alert('x')</script> & <b>tebal</b> \"kutip\" ]]>"
    number = filed_id(client, o311, description=nasty)
    raw = client.get(f"{O311}/requests/{number}.xml", params=J)
    assert b"<script>" not in raw.content and b"&lt;script&gt;" in raw.content
    (got,) = spark(as_xml(raw, "service_requests"))
    assert got["description"] == nasty
    (from_json,) = client.get(f"{O311}/requests/{number}.json", params=J).json()
    assert from_json["description"] == nasty


# ---------------------------------------------------------------- the lifecycle as Open311 shows it


def test_status_notes_office_deadline_and_closing(
    client: Any, make_client: Any, o311: dict[str, Any]
) -> None:
    number = filed_id(client, o311)
    admin = login(make_client, o311, "admin")
    dishub = login(make_client, o311, "dishub")
    assert (
        admin.post(f"{API}/reports/{number}/dispose", json={"note": "Diteruskan ke Dishub"}).status_code
        == 200
    )
    assert dishub.post(f"{API}/reports/{number}/accept", json={}).status_code == 200
    (got,) = fetch(client, f"requests/{number}", REQUESTS, "service_requests", **J)
    report = client.get(f"{API}/reports/{number}").json()
    assert got["status"] == "open"
    assert got["agency_responsible"] == "Dinas Perhubungan"
    assert (
        got["status_notes"] == gettext("id", labels.STATE_LABELS["in_progress"]) + " — Diteruskan ke Dishub"
    )
    assert same_second(got["expected_datetime"], report["respond_due_at"])  # the office's deadline
    dishub.post(f"{API}/reports/{number}/respond", json={"note": "Sudah ditambal pada 3 Juni."})
    admin.post(f"{API}/reports/{number}/close", json={"resolution": "resolved"})
    (got,) = fetch(client, f"requests/{number}", REQUESTS, "service_requests", **J)
    report = client.get(f"{API}/reports/{number}").json()
    assert got["status"] == "closed"
    assert got["status_notes"].endswith("Sudah ditambal pada 3 Juni.")
    assert same_second(got["updated_datetime"], report["closed_at"])
    assert got["expected_datetime"] is None


def test_a_duplicate_names_the_original(client: Any, make_client: Any, o311: dict[str, Any]) -> None:
    first = filed_id(client, o311)
    second = filed_id(client, o311)
    admin = login(make_client, o311, "admin")
    resp = admin.post(f"{API}/reports/{second}/reject", json={"reason": "duplicate", "duplicate_of": first})
    assert resp.status_code == 200, resp.text
    (got,) = fetch(client, f"requests/{second}", REQUESTS, "service_requests", **J)
    assert got["status"] == "closed"
    assert gettext("id", "Duplicate report ({number})", number=first) in got["status_notes"]


def test_the_first_photo_is_the_media_url(client: Any, o311: dict[str, Any]) -> None:
    filed = client.post(
        f"{API}/reports",
        json={
            "category": "jalan-rusak",
            "title": "Jalan berlubang",
            "description": "Lubang besar",
            "lat": LAT,
            "lon": LON,
            "attributes": {"severity": "berat"},
        },
    ).json()
    number = filed["report"]["tracking_no"]
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(out, format="JPEG")
    resp = client.post(
        f"{API}/reports/{number}/photos",
        files={"photo": ("a.jpg", out.getvalue(), "image/jpeg")},
        headers={"X-Report-Code": filed["access_code"]},
    )
    assert resp.status_code == 201, resp.text
    (got,) = fetch(client, f"requests/{number}", REQUESTS, "service_requests", **J)
    assert got["media_url"] == f"http://127.0.0.1:8000{API}/reports/{number}/photos/1"


def test_confidential_and_spam_reports_are_not_on_open311(
    client: Any, make_client: Any, o311: dict[str, Any]
) -> None:
    resp = post(client, o311, service_code="pungli", **{"attribute[severity]": None})
    assert resp.status_code == 200, resp.text
    (created,) = as_json(resp, POSTED)
    assert created["service_notice"] == gettext(
        "id",
        "Confidential service: the report is not shown to the public. It is verified within {days} working days.",
        days=3,
    )
    confidential = created["service_request_id"]
    spam = filed_id(client, o311, description="beli obat murah, klik tautan ini")
    public = filed_id(client, o311)
    admin = login(make_client, o311, "admin")
    assert admin.post(f"{API}/reports/{spam}/reject", json={"reason": "spam"}).status_code == 200
    for number in (confidential, spam):
        (text,) = errors(client, f"requests/{number}", 404, params=J)
        assert number in text
    listed = fetch(client, "requests", REQUESTS, "service_requests", **J)
    assert [r["service_request_id"] for r in listed] == [public]
    asked = fetch(
        client,
        "requests",
        REQUESTS,
        "service_requests",
        **J,
        service_request_id=f"{confidential},{spam},{public}",
    )
    assert [r["service_request_id"] for r in asked] == [public]


# ---------------------------------------------------------------- GET requests: filters and limits


@pytest.fixture
def history(client: Any, make_client: Any, db: Session, o311: dict[str, Any]) -> dict[str, str]:
    """A road report (open), a health report (closed), a rubbish report (open) and one 120 days old."""
    road = filed_id(client, o311)
    health = filed_id(client, o311, service_code="puskesmas", **{"attribute[severity]": None})
    rubbish = post(
        client, o311, service_code="sampah", **{"attribute[severity]": None, "attribute[jenis][]": "organik"}
    ).json()[0]["token"]
    rubbish = client.get(f"{O311}/tokens/{rubbish}.json", params=J).json()[0]["service_request_id"]
    admin = login(make_client, o311, "admin")
    assert admin.post(f"{API}/reports/{health}/close", json={"resolution": "resolved"}).status_code == 200
    old = reports.file_report(
        db,
        principal=ANONYMOUS,
        region_id=o311["jember"].id,
        category_id=o311["categories"]["road"].id,
        title="Lama",
        description="Laporan lama",
        address="Jl. Gajah Mada",
        attributes={"severity": "ringan"},
        channel="open311",
        now=utcnow() - timedelta(days=120),
    ).report
    db.commit()
    return {
        "road": road,
        "health": health,
        "rubbish": rubbish,
        "old": old.tracking_no,
        "when": old.submitted_at,
    }


def ids(client: Any, **params: Any) -> list[str]:
    return [
        r["service_request_id"]
        for r in fetch(client, "requests", REQUESTS, "service_requests", **J, **params)
    ]


def test_default_is_the_last_90_days_newest_first(client: Any, history: dict[str, Any]) -> None:
    assert ids(client) == [history["rubbish"], history["health"], history["road"]]
    assert ids(client, start_date="", end_date="", status="", service_code="") == ids(
        client
    )  # empty = absent


def test_service_code_and_status_filters_take_comma_lists(client: Any, history: dict[str, Any]) -> None:
    assert ids(client, service_code="jalan-rusak") == [history["road"]]
    assert ids(client, service_code="jalan-rusak,sampah") == [history["rubbish"], history["road"]]
    assert ids(client, status="closed") == [history["health"]]
    assert ids(client, status="open") == [history["rubbish"], history["road"]]
    assert ids(client, status="open,closed") == ids(client)
    assert ids(client, status="open", service_code="puskesmas") == []
    (text,) = errors(client, "requests", 400, params={**J, "status": "open,selesai"})
    assert text.startswith("status: ")
    (text,) = errors(client, "requests", 404, params={**J, "service_code": "jalan-rusak,banjir"})
    assert "banjir" in text


def test_service_request_id_overrides_every_other_argument(client: Any, history: dict[str, Any]) -> None:
    asked = f"{history['road']}, {history['old']},JBR-1999-000999"
    got = ids(
        client, service_request_id=asked, status="closed", service_code="puskesmas", start_date="kemarin"
    )
    assert got == [history["road"], history["old"]]  # the old one too: no date range applies


def test_dates_select_on_requested_datetime_within_90_days(client: Any, history: dict[str, Any]) -> None:
    when = history["when"].replace(tzinfo=UTC)
    window = {
        "start_date": (when - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "end_date": (when + timedelta(days=1)).astimezone(timedelta_zone(7)).isoformat(),
    }
    assert ids(client, **window) == [history["old"]]
    assert ids(client, start_date=window["start_date"]) == [history["old"]]  # start + 90 days
    assert ids(client, end_date=window["end_date"]) == [history["old"]]  # end - 90 days
    now = datetime.now(UTC)
    assert ids(client, start_date=(now + timedelta(hours=1)).isoformat()) == []
    for params, field in [
        ({"start_date": (now - timedelta(days=91)).isoformat(), "end_date": now.isoformat()}, "end_date"),
        ({"start_date": now.isoformat(), "end_date": (now - timedelta(days=1)).isoformat()}, "end_date"),
        ({"start_date": "2026-06-01T00:00:00"}, "start_date"),  # no time zone
        ({"start_date": "2026-06-01"}, "start_date"),
        ({"end_date": "kemarin"}, "end_date"),
        ({"end_date": "0001-01-01T00:00:00+07:00"}, "end_date"),
    ]:
        (text,) = errors(client, "requests", 400, params={**J, **params})
        assert text.startswith(field + ": "), text


def timedelta_zone(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


def test_page_and_page_size_extension(client: Any, history: dict[str, Any]) -> None:
    everything = ids(client)
    assert ids(client, page_size="2") == everything[:2]
    assert ids(client, page_size="2", page="2") == everything[2:]
    assert ids(client, page_size="2", page="3") == []
    for params in (
        {"page_size": "0"},
        {"page_size": "1001"},
        {"page": "0"},
        {"page": "satu"},
        {"page": "99999999999"},
    ):
        (text,) = errors(client, "requests", 400, params={**J, **params})
        assert text.startswith(next(iter(params)) + ": ")


def test_end_date_includes_the_whole_second_it_names(client: Any, o311: dict[str, Any]) -> None:
    number = filed_id(client, o311)
    (got,) = fetch(client, f"requests/{number}", REQUESTS, "service_requests", **J)
    moment = got["requested_datetime"]  # to the second, as a client would copy it
    assert number in ids(client, start_date=moment, end_date=moment)


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "requests", {"params": {**J, "service_request_id": ",,, ,"}}),
        ("GET", "requests", {"params": {**J, "service_code": "é" * 100}}),
        ("GET", "requests", {"params": {**J, "start_date": "9999-12-31T23:59:59-23:59"}}),
        ("GET", "requests", {"params": {**J, "start_date": "2026-13-45T25:61:00Z"}}),
        ("GET", "requests", {"params": {**J, "page": "٣"}}),  # an Arabic-Indic digit: isdigit, not a page
        ("GET", "requests/%F0%9F%92%A5", {"params": J}),
        ("GET", "services/..%2F..%2Fetc", {"params": J}),
        ("GET", "tokens/" + "a" * 41, {"params": J}),
        (
            "POST",
            "requests",
            {
                "content": b"service_code=%FF%FE&api_key=\xff",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
        ),
        (
            "POST",
            "requests",
            {"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=x"}},
        ),
        ("POST", "requests", {"json": {"service_code": "jalan-rusak"}, "params": J}),
        (
            "POST",
            "requests",
            {"data": {**J, "api_key": "KEY", "attribute[severity][][]": "berat", "attribute[]": "x"}},
        ),
        (
            "POST",
            "requests",
            {"data": {**J, "api_key": "KEY", "service_code": "jalan-rusak", "address_id": "A1"}},
        ),
    ],
)
def test_odd_input_never_gets_a_server_error(
    client: Any, db: Session, o311: dict[str, Any], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    before = count_reports(db)
    if kwargs.get("data", {}).get("api_key") == "KEY":
        kwargs = {**kwargs, "data": {**kwargs["data"], "api_key": o311["key"]}}
    for fmt in ("json", "xml"):
        resp = client.request(method, f"{O311}/{path}.{fmt}", **kwargs)
        assert resp.status_code in (200, 400, 403, 404), resp.text
        if resp.status_code == 200:
            body = as_json(resp, REQUESTS) if fmt == "json" else spark(as_xml(resp, "service_requests"))
        else:
            body = as_json(resp, ERRORS) if fmt == "json" else spark(as_xml(resp, "errors"))
        assert isinstance(body, list)
    assert count_reports(db) == before
