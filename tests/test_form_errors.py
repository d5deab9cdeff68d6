"""Refused forms say what is wrong next to the field, in the page's language, on every domain's pages:
one translation (``web.schemas.form_errors``) for the schema's complaints and the services' refusals."""

from __future__ import annotations

import re
from typing import Any

import pytest

JBR = "/api/v1/regions/35.09"


def field_error(html: str, name: str) -> str:
    """The message shown next to the form field ``name`` (fails when the field is not marked)."""
    found = re.search(
        rf'<div class="field has-error">\s*<label for="f-{name}".*?<small class="error" role="alert">(.*?)</small>',
        html,
        re.S,
    )
    assert found, f"field {name} is not marked"
    return found.group(1)


def general_error(html: str) -> str:
    found = re.search(r'class="flash flash-error"[^>]*>(.*?)</', html, re.S)
    assert found, "no message above the form"
    return found.group(1).strip()


@pytest.fixture
def admin(client: Any, world: dict[str, Any]) -> Any:
    return client.login("admin@jember.go.id", world["password"])


def test_the_users_form_explains_each_field(admin):
    resp = admin.post(
        "/admin/users",
        data={
            "email": "bukan-email",
            "full_name": "Warga Baru",
            "password": "pendek",
            "role": "kepala_dinas",
            "csrf_token": admin.csrf,
        },
    )
    assert resp.status_code == 422
    assert field_error(resp.text, "email") == "Masukkan alamat email yang valid."
    assert field_error(resp.text, "password") == "Isian terlalu pendek (paling sedikit 10 karakter)."
    assert field_error(resp.text, "role") == "Pilih salah satu opsi."
    assert general_error(resp.text) == "Silakan perbaiki isian yang ditandai."

    english = admin.post(
        "/admin/users?lang=en",
        data={"email": "", "full_name": "", "password": "", "role": "citizen", "csrf_token": admin.csrf},
    )
    assert english.status_code == 422
    assert field_error(english.text, "full_name") == "This field is required."
    assert field_error(english.text, "email") == "This field is required."  # not "at least 3 characters"
    assert field_error(english.text, "password") == "This field is required."


def test_the_office_form_names_control_characters(admin):
    resp = admin.post(
        "/admin/offices",
        data={"name": "Dinas\x01Pariwisata", "short_name": "", "kind": "dinas", "csrf_token": admin.csrf},
    )
    assert resp.status_code == 422
    assert field_error(resp.text, "name") == "Teks ini mengandung karakter kontrol; hapus karakter tersebut."
    assert field_error(resp.text, "short_name") == "Isian ini wajib diisi."


def test_the_password_form_marks_the_field_a_service_refusal_names(admin, world):
    resp = admin.post(
        "/account/password",
        data={
            "current_password": world["password"],
            "new_password": "kata-sandi-baru-123",
            "new_password_again": "kata-sandi-baru-124",
            "csrf_token": admin.csrf,
        },
    )
    assert resp.status_code == 422
    assert field_error(resp.text, "new_password_again") == "Kedua kata sandi baru tidak sama."
    assert general_error(resp.text) == "Kedua kata sandi baru tidak sama."


def test_masterplan_forms_use_the_same_messages(admin, world):
    plan = admin.post(
        f"{JBR}/masterplans", json={"title": "Masterplan 2024", "start_year": 2024, "end_year": 2028}
    )
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["id"]
    resp = admin.post(
        f"/masterplans/{plan_id}/programmes/new",
        data={
            "csrf_token": admin.csrf,
            "code": "-GOV 01",
            "name": "Satu\x07Data",
            "placement": "governance/service",
            "kind": "application",
            "term": "short",
            "start_year": "2024",
            "end_year": "2026",
        },
    )
    assert resp.status_code == 422
    assert (
        field_error(resp.text, "code")
        == "Gunakan hanya huruf, angka, serta . _ / -, diawali huruf atau angka."
    )
    assert field_error(resp.text, "name") == "Teks ini mengandung karakter kontrol; hapus karakter tersebut."

    programme = admin.post(
        f"{JBR}/masterplans/{plan_id}/programmes",
        json={
            "code": "GOV-01",
            "name": "Satu Data",
            "dimension": "governance",
            "element": "service",
            "kind": "application",
            "term": "short",
            "start_year": 2024,
            "end_year": 2026,
            "lead_office_id": world["offices"]["kominfo"].id,
        },
    )
    assert programme.status_code == 201, programme.text
    indicator = admin.post(
        f"{JBR}/masterplans/{plan_id}/indicators",
        json={
            "code": "GOV-01-I1",
            "name": "OPD terhubung",
            "unit": "%",
            "programme_id": programme.json()["id"],
        },
    )
    assert indicator.status_code == 201, indicator.text
    url = f"/indicators/{indicator.json()['id']}/realisation"
    resp = admin.post(
        url,
        data={
            "csrf_token": admin.csrf,
            "year": "2025",
            "value": "70",
            "evidence_url": "ftp://jemberkab.go.id",
        },
    )
    assert resp.status_code == 422
    assert field_error(resp.text, "evidence_url") == "Masukkan alamat web lengkap yang diawali https://."
    # a service's refusal goes next to the field its message is about
    resp = admin.post(url, data={"csrf_token": admin.csrf, "year": "2031", "value": "70"})
    assert resp.status_code == 422
    assert field_error(resp.text, "year") == "Tahun harus berada dalam periode masterplan 2024-2028."
