"""Helpers of the report-page tests: read the CSRF token of a page, file a report through the form,
count what is stored through the API, and make photos (import as ``from reportpages import ...``)."""

from __future__ import annotations

import html
import io
import re
from typing import Any

from citizendata import IN_SUMBERSARI
from PIL import Image

R = "/api/v1/regions/35.09"


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def form_message(page: str) -> str:
    """The texts of the page's error messages (above the form and next to the fields)."""
    found = re.findall(r'class="(?:flash flash-error|error)"[^>]*>(.*?)</', page, re.DOTALL)
    return " | ".join(html.unescape(m).strip() for m in found)


def report_form(**overrides: Any) -> dict[str, str]:
    data = {
        "category": "jalan-rusak",
        "title": "Jalan berlubang di Jl. Kalimantan",
        "description": "Lubang besar di depan kampus, berbahaya untuk motor.",
        "lat": str(IN_SUMBERSARI[0]),
        "lon": str(IN_SUMBERSARI[1]),
        "address": "",
        "privacy": "identified",
        "name": "Siti Aminah",
        "email": "siti@example.id",
        "phone": "081234567890",
    }
    data.update({k: str(v) for k, v in overrides.items()})
    return data


def post_report(
    client: Any, files: list[tuple[str, tuple[str, bytes, str]]] | None = None, **overrides: Any
) -> Any:
    """Fetch the form, then post it as the browser would (multipart, with its CSRF token)."""
    page = client.get("/reports/new")
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf(page.text), **report_form(**overrides)}
    # an empty file part, as a browser sends for a file input left empty
    parts = files if files is not None else [("photos", ("", b"", "application/octet-stream"))]
    return client.post("/reports/new", data=data, files=parts, follow_redirects=False)


def file_report(client: Any, **overrides: Any) -> tuple[str, str]:
    """File a report through the page; returns (tracking number, access code) from the receipt."""
    resp = post_report(client, **overrides)
    assert resp.status_code == 303, form_message(resp.text) or resp.text
    receipt = client.get(resp.headers["location"])
    assert receipt.status_code == 200
    no = re.search(r'id="tracking-no">([^<]+)<', receipt.text)
    code = re.search(r'id="access-code">([^<]+)<', receipt.text)
    assert no and code, receipt.text
    return no.group(1), html.unescape(code.group(1))


def count_reports(admin: Any) -> int:
    resp = admin.get(f"{R}/reports", params={"scope": "admin", "limit": 1})
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total"])


def login(make_client: Any, world: dict[str, Any], who: str) -> Any:
    return make_client().login(world["users"][who].email, world["password"])


def jpeg_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A small JPEG carrying EXIF: the camera make and a GPS position."""
    image = Image.new("RGB", size, (200, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "KameraRahasia"  # Make
    exif[0x8825] = {1: "S", 2: (8.0, 10.0, 12.0), 3: "E", 4: (113.0, 42.0, 1.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825), "the test photo lacks its GPS tags"
    return data


def send_step(client: Any, no: str, action: str, code: str = "", **fields: Any) -> Any:
    """Post one of the report page's step forms, with the page's CSRF token."""
    page = client.get(f"/reports/{no}" + (f"?code={code}" if code else ""))
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf(page.text), **{k: str(v) for k, v in fields.items()}}
    if code:
        data["code"] = code
    return client.post(f"/reports/{no}/{action}", data=data, follow_redirects=False)
