"""Realisations, year statuses and evidence files through the API: who may enter them (the lead office,
its keys, the region admin), what is refused, and that a refusal loses nothing already stored."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest

JBR = "/api/v1/regions/35.09"
PBL = "/api/v1/regions/35.74"


def small_pdf(text: str = "Laporan realisasi 2024") -> bytes:
    """A real one-page PDF: objects, a cross-reference table with correct offsets, a trailer."""
    content = f"BT /F1 12 Tf 10 50 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 100] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


@pytest.fixture
def plan(build) -> dict[str, Any]:
    """Jember 2023-2027: a Dishub programme, a Dinkes programme, each with an indicator, and an
    indicator of the whole living dimension."""
    plan = build.masterplan(start=2023, end=2027)
    dishub = build.programme(plan["id"], "LIV-1", office="dishub", dimension="living", element="mobility")
    dinkes = build.programme(plan["id"], "LIV-2", office="dinkes", dimension="living", element="health")
    return {
        "plan": plan,
        "dishub_programme": dishub,
        "dinkes_programme": dinkes,
        "dishub": build.indicator(
            plan["id"], "LIV-1.1", programme_id=dishub["id"], targets=[{"year": 2024, "value": 100}]
        ),
        "dinkes": build.indicator(
            plan["id"], "LIV-2.1", programme_id=dinkes["id"], targets=[{"year": 2024, "value": 100}]
        ),
        "dimension": build.indicator(
            plan["id"], "LIV-X", dimension="living", targets=[{"year": 2024, "value": 100}]
        ),
    }


def realisations(admin: Any, indicator: dict[str, Any]) -> list[tuple[int, Decimal]]:
    got = admin.get(f"{JBR}/indicators/{indicator['id']}").json()
    return [(r["year"], Decimal(r["value"])) for r in got["realisations"]]


def upload(client: Any, name: str, data: bytes, region: str = JBR, **kwargs: Any) -> Any:
    return client.post(
        f"{region}/evidence", files={"file": (name, data, "application/octet-stream")}, **kwargs
    )


# ---------------------------------------------------------------- realisations


def test_realisation_put_replaces_and_delete_removes(admin, plan):
    url = f"{JBR}/indicators/{plan['dishub']['id']}/realisations/2024"
    resp = admin.put(
        url, json={"value": 60.5, "note": "Data BPS", "evidence_url": "https://jember.go.id/data/parkir"}
    )
    assert resp.status_code == 200, resp.text
    row = resp.json()
    assert (row["year"], Decimal(row["value"]), row["note"]) == (2024, Decimal("60.5"), "Data BPS")
    assert row["evidence_url"] == "https://jember.go.id/data/parkir"
    assert row["entered_by_label"] == "Admin Jember"

    resp = admin.put(url, json={"value": 72})
    assert resp.status_code == 200
    # a PUT replaces the entry: what was not sent again is cleared
    assert (resp.json()["note"], resp.json()["evidence_url"]) == ("", None)
    got = admin.get(f"{JBR}/indicators/{plan['dishub']['id']}").json()
    assert [(r["year"], Decimal(r["value"])) for r in got["realisations"]] == [(2024, 72)]
    assert next(a for a in got["achievements"] if a["year"] == 2024)["achievement"] == 72.0

    assert admin.delete(url).status_code == 204
    assert realisations(admin, plan["dishub"]) == []
    resp = admin.delete(url)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("year", "body"),
    [
        (2024, {"year": 2024, "value": 1}),  # the year is the address, not a field
        (2024, {"value": "banyak"}),
        (2024, {"value": None}),
        (2024, {"note": "no value"}),
        (2024, {"value": 1, "evidence_url": "javascript:alert(1)"}),
        (2024, {"value": 1, "evidence_id": 999999}),
        (2024, {"value": 1e20}),
        (2024, {"value": 1, "note": "x" * 1001}),
        (2030, {"value": 1}),  # outside the masterplan period
        (1999, {"value": 1}),
        ("2024a", {"value": 1}),
        (2024, "[not json"),
    ],
)
def test_a_rejected_realisation_keeps_the_stored_one(admin, plan, year, body):
    url = f"{JBR}/indicators/{plan['dishub']['id']}/realisations"
    assert admin.put(f"{url}/2024", json={"value": 60, "note": "Awal"}).status_code == 200
    if isinstance(body, str):
        resp = admin.put(f"{url}/{year}", content=body, headers={"Content-Type": "application/json"})
    else:
        resp = admin.put(f"{url}/{year}", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "validation_failed"
    got = admin.get(f"{JBR}/indicators/{plan['dishub']['id']}").json()["realisations"]
    assert [(r["year"], Decimal(r["value"]), r["note"]) for r in got] == [(2024, Decimal(60), "Awal")]


def test_an_office_operator_reports_for_its_own_programmes_only(as_user, plan):
    dishub = as_user("dishub")
    own = f"{JBR}/indicators/{plan['dishub']['id']}/realisations/2024"
    resp = dishub.put(own, json={"value": 40})
    assert resp.status_code == 200, resp.text
    assert resp.json()["entered_by_label"] == "Operator Dishub"
    resp = dishub.put(
        f"{JBR}/programmes/{plan['dishub_programme']['id']}/status",
        json={"year": 2024, "status": "running", "note": "Tahap 1"},
    )
    assert resp.status_code == 200
    assert resp.json() == {"year": 2024, "status": "running", "note": "Tahap 1"}

    for path, body in [
        (f"/indicators/{plan['dinkes']['id']}/realisations/2024", {"value": 1}),
        (f"/indicators/{plan['dimension']['id']}/realisations/2024", {"value": 1}),  # only the admin
        (f"/programmes/{plan['dinkes_programme']['id']}/status", {"year": 2024, "status": "stalled"}),
    ]:
        resp = dishub.put(JBR + path, json=body)
        assert resp.status_code == 403, (path, resp.text)
        assert resp.json()["error"]["code"] == "permission_denied"
    assert dishub.delete(f"{JBR}/indicators/{plan['dinkes']['id']}/realisations/2024").status_code == 403
    # a year outside the programme's years is bad input even for the lead office
    resp = dishub.put(
        f"{JBR}/programmes/{plan['dishub_programme']['id']}/status", json={"year": 2027, "status": "done"}
    )
    assert resp.status_code == 422

    admin = as_user("admin")
    assert realisations(admin, plan["dishub"]) == [(2024, Decimal(40))]
    assert realisations(admin, plan["dinkes"]) == []
    assert realisations(admin, plan["dimension"]) == []
    dinkes_programme = admin.get(f"{JBR}/programmes/{plan['dinkes_programme']['id']}").json()
    assert dinkes_programme["year_statuses"] == []
    # and the other office may correct its own
    assert (
        as_user("dinkes")
        .put(f"{JBR}/indicators/{plan['dinkes']['id']}/realisations/2024", json={"value": 55})
        .status_code
        == 200
    )
    assert realisations(admin, plan["dinkes"]) == [(2024, Decimal(55))]


def test_an_office_key_enters_realisations_for_its_office_only(client, admin, plan, api_key):
    key = api_key(["realisation:write"], office="dishub")
    resp = client.put(
        f"{JBR}/indicators/{plan['dishub']['id']}/realisations/2024", json={"value": 33}, headers=key
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["entered_by_label"].startswith("API key")
    resp = client.put(
        f"{JBR}/programmes/{plan['dishub_programme']['id']}/status",
        json={"year": 2024, "status": "done"},
        headers=key,
    )
    assert resp.status_code == 200
    for path, body in [
        (f"/indicators/{plan['dinkes']['id']}/realisations/2024", {"value": 1}),
        (f"/indicators/{plan['dimension']['id']}/realisations/2024", {"value": 1}),
        (f"/programmes/{plan['dinkes_programme']['id']}/status", {"year": 2024, "status": "stalled"}),
    ]:
        assert client.put(JBR + path, json=body, headers=key).status_code == 403, path
    # it writes realisations; it was not given masterplan:read, nor any planning
    assert client.get(f"{JBR}/indicators/{plan['dishub']['id']}", headers=key).status_code == 403
    assert (
        client.patch(
            f"{JBR}/indicators/{plan['dishub']['id']}", json={"name": "Dari mesin"}, headers=key
        ).status_code
        == 403
    )
    assert (
        client.put(
            f"{PBL}/indicators/{plan['dishub']['id']}/realisations/2024", json={"value": 1}, headers=key
        ).status_code
        == 403
    )

    assert realisations(admin, plan["dishub"]) == [(2024, Decimal(33))]
    assert realisations(admin, plan["dinkes"]) == []


def test_a_key_without_realisation_write_enters_nothing(client, admin, plan, api_key):
    key = api_key(["masterplan:read"])
    resp = client.put(
        f"{JBR}/indicators/{plan['dishub']['id']}/realisations/2024", json={"value": 1}, headers=key
    )
    assert resp.status_code == 403
    assert realisations(admin, plan["dishub"]) == []


# ---------------------------------------------------------------- evidence


def test_evidence_is_uploaded_attached_and_downloaded(as_user, plan, audit_actions):
    pdf = small_pdf()
    dishub = as_user("dishub")
    resp = upload(dishub, "Laporan Parkir 2024.pdf", pdf)
    assert resp.status_code == 201, resp.text
    evidence = resp.json()
    assert evidence["filename"] == "Laporan Parkir 2024.pdf"
    assert evidence["content_type"] == "application/pdf"
    assert (evidence["size"], evidence["sha256"]) == (len(pdf), hashlib.sha256(pdf).hexdigest())

    url = f"{JBR}/indicators/{plan['dishub']['id']}/realisations/2024"
    resp = dishub.put(url, json={"value": 80, "evidence_id": evidence["id"]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["evidence"]["id"] == evidence["id"]
    admin = as_user("admin")
    stored = admin.get(f"{JBR}/indicators/{plan['dishub']['id']}").json()["realisations"][0]
    assert stored["evidence"] == evidence

    for reader in (admin, dishub, as_user("evaluator")):
        resp = reader.get(f"{JBR}/evidence/{evidence['id']}")
        assert resp.status_code == 200
        assert resp.content == pdf
        assert resp.headers["content-type"] == "application/pdf"
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["content-disposition"] == (
            "attachment; filename=\"Laporan_Parkir_2024.pdf\"; filename*=UTF-8''Laporan%20Parkir%202024.pdf"
        )
    assert ("evidence.upload", str(evidence["id"]), "Operator Dishub") in audit_actions()


def test_another_region_cannot_fetch_or_attach_evidence(as_user, client, plan):
    pdf = small_pdf()
    evidence = upload(as_user("admin"), "bukti.pdf", pdf).json()
    pbl = as_user("pbl_admin")
    assert pbl.get(f"{JBR}/evidence/{evidence['id']}").status_code == 403
    assert pbl.get(f"{PBL}/evidence/{evidence['id']}").status_code == 404
    assert as_user("citizen").get(f"{JBR}/evidence/{evidence['id']}").status_code == 403
    assert client.get(f"{JBR}/evidence/{evidence['id']}").status_code == 401
    # nor upload into Jember
    assert upload(pbl, "bukti.pdf", pdf).status_code == 403

    # Probolinggo's own file cannot be attached to a Jember realisation
    pbl_evidence = upload(pbl, "bukti-pbl.pdf", small_pdf("Probolinggo"), region=PBL)
    assert pbl_evidence.status_code == 201
    admin = as_user("admin")
    resp = admin.put(
        f"{JBR}/indicators/{plan['dishub']['id']}/realisations/2024",
        json={"value": 1, "evidence_id": pbl_evidence.json()["id"]},
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["details"] == [{"field": "evidence_id"}]
    assert realisations(admin, plan["dishub"]) == []


def test_only_region_staff_and_writing_keys_upload(as_user, client, plan, api_key):
    pdf = small_pdf()
    assert upload(as_user("evaluator"), "bukti.pdf", pdf).status_code == 403
    assert upload(as_user("citizen"), "bukti.pdf", pdf).status_code == 403
    assert upload(client, "bukti.pdf", pdf).status_code == 401
    assert upload(client, "bukti.pdf", pdf, headers=api_key(["masterplan:read"])).status_code == 403
    assert (
        upload(client, "bukti.pdf", pdf, headers=api_key(["realisation:write"], office="dishub")).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("tool.exe", ELF),
        ("laporan.pdf", ELF),  # an executable renamed
        ("setup.exe", WINDOWS_EXE),
        ("laporan.pdf", WINDOWS_EXE),
        ("laporan.pdf", b"Ini bukan PDF, hanya teks biasa.\n"),  # text renamed .pdf
        ("catatan.txt", b"Ini teks tanpa pemisah\n"),
        ("laporan.pdf", b""),
        ("page.html", b"<html><script>alert(1)</script></html>"),
    ],
)
def test_files_are_judged_by_their_bytes(admin, plan, name, data):
    resp = upload(admin, name, data)
    assert resp.status_code == 415, resp.text
    assert resp.json()["error"]["code"] == "unsupported_media_type"


def test_a_file_over_the_limit_is_413_and_not_stored(admin, settings, plan, audit_actions):
    settings.upload_max_bytes = 2048
    resp = upload(admin, "besar.pdf", small_pdf("x" * 3000))
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["code"] == "payload_too_large"
    assert upload(admin, "kecil.pdf", small_pdf()).status_code == 201
    assert [a for a, _e, _actor in audit_actions() if a == "evidence.upload"] == ["evidence.upload"]
    stored = [p for p in settings.upload_dir.rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].read_bytes() == small_pdf()


def test_an_upload_without_a_file_is_422(admin, plan):
    resp = admin.post(f"{JBR}/evidence", data={"name": "tanpa berkas"})
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "validation_failed"
