"""Generic error behaviour: every failure is the documented JSON under /api/ and a page elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kotacerdas.config import Settings

UPLOAD_LIMIT = 1024  # the smallest the settings allow, so the test need not send megabytes


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="test-secret-" + "x" * 32,
        upload_max_bytes=UPLOAD_LIMIT,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
        embedded_worker=False,
    )


def _error(resp: Any) -> dict[str, Any]:
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    body = resp.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def test_unknown_api_path_is_a_json_404(client):
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert _error(resp)["code"] == "not_found"


def test_unknown_api_path_answers_in_the_language_asked_for(client):
    english = _error(client.get("/api/v1/no-such-thing?lang=en"))
    assert english["message"] == "Not found."


def test_unknown_page_is_an_html_404_page(client):
    resp = client.get("/tidak-ada-halaman-ini")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/html")
    assert "<html" in resp.text.lower()
    assert "404" in resp.text


def test_malformed_json_body_is_a_422_saying_so(client, world):
    client.login("admin@jember.go.id", world["password"])
    resp = client.post(
        "/api/v1/regions/35.09/masterplans",
        content=b'{"title": "Masterplan", "start_year": 20',
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 422
    error = _error(resp)
    assert error["code"] == "validation_failed"
    assert "JSON" in error["message"]
    assert any(d["type"] == "json_invalid" for d in error["details"])


def test_missing_and_wrong_fields_are_a_422_naming_each_field(client, world):
    client.login("admin@jember.go.id", world["password"])
    resp = client.post("/api/v1/regions/35.09/masterplans", json={"title": "Masterplan", "start_year": "x"})
    assert resp.status_code == 422
    error = _error(resp)
    assert error["code"] == "validation_failed"
    fields = {d["field"] for d in error["details"]}
    assert {"start_year", "end_year"} <= fields


def test_body_over_the_upload_limit_is_refused_with_413_before_it_is_read(client, world):
    client.login("admin@jember.go.id", world["password"])
    too_big = UPLOAD_LIMIT + 64 * 1024 + 1
    resp = client.post(
        "/api/v1/regions/35.09/evidence",
        files={"file": ("laporan.pdf", b"%PDF-1.7\n" + b"0" * too_big, "application/pdf")},
    )
    assert resp.status_code == 413
    assert _error(resp)["code"] == "payload_too_large"


def test_wrong_method_is_a_json_405_with_the_allowed_methods(client):
    resp = client.delete("/api/v1/framework")
    assert resp.status_code == 405
    assert _error(resp)["code"] == "method_not_allowed"
    assert "GET" in resp.headers["allow"]


def test_a_404_does_not_echo_markup_from_the_path(client):
    """A path with markup in it gets the plain error shape; nothing of the path is reflected."""
    resp = client.get("/api/v1/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert resp.status_code == 404
    assert "<script>" not in resp.text
