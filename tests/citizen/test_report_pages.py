"""The citizen's report pages through the browser's forms: filing with photos (their EXIF removed),
refused input that comes back as a form message with nothing stored, the abuse limits, the receipt
with the code shown once, tracking by code, and duplicates suggested at submission."""

from __future__ import annotations

import io
import re
from typing import Any

from citizendata import IN_KALIWATES, IN_SUMBERSARI
from PIL import Image
from reportpages import (
    R,
    count_reports,
    csrf,
    file_report,
    form_message,
    jpeg_with_gps,
    login,
    post_report,
)

from kotacerdas.config import Settings


def test_the_form_lists_categories_by_group_and_draws_the_kecamatan(
    client: Any, reporting: dict[str, Any]
) -> None:
    page = client.get("/reports/new")
    assert page.status_code == 200
    text = page.text
    assert '<optgroup label="infrastruktur">' in text and '<option value="jalan-rusak"' in text
    assert "Pungutan liar (selalu rahasia)" in text  # a private category says so
    assert 'data-name="Kaliwates"' in text and 'data-name="Sumbersari"' in text  # the clickable map
    assert 'enctype="multipart/form-data"' in text and 'accept="image/jpeg,image/png,image/webp"' in text
    assert "/static/js/reports.js" in text
    assert 'value="anonymous"' in text and 'value="confidential"' in text
    assert client.get("/reports/new?lang=en").text.count("Damaged road") == 1


def test_a_logged_in_citizen_finds_the_form_filled_with_their_contact(
    make_client: Any, reporting: dict[str, Any]
) -> None:
    citizen = login(make_client, reporting, "citizen")
    page = citizen.get("/reports/new").text
    assert 'value="Warga Jember"' in page and 'value="warga@example.id"' in page


def test_filing_with_a_photo_shows_the_code_once_and_the_photo_loses_its_exif(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    photo = jpeg_with_gps()
    resp = post_report(client, files=[("photos", ("lubang.jpg", photo, "image/jpeg"))])
    assert resp.status_code == 303, form_message(resp.text)
    receipt_url = resp.headers["location"]
    assert re.fullmatch(r"/reports/JBR-\d{4}-000001/filed", receipt_url)
    receipt = client.get(receipt_url)
    assert receipt.headers["cache-control"] == "no-store"
    code = re.search(r'id="access-code">([^<]+)<', receipt.text)
    assert code is not None
    assert "Simpan kode ini" in receipt.text and "WIB" in receipt.text  # the verification deadline, local
    again = client.get(receipt_url)  # shown once: the cookie that carried it is gone
    assert code.group(1) not in again.text and 'id="access-code"' not in again.text

    no = receipt_url.split("/")[2]
    mine = client.get(f"/reports/{no}", params={"code": code.group(1)})
    assert mine.status_code == 200
    img = re.search(r'<img src="([^"]+)"', mine.text)
    assert img is not None and "code=" in img.group(1)
    stored = client.get(img.group(1).replace("&amp;", "&"))
    assert stored.status_code == 200 and stored.headers["content-type"] == "image/jpeg"
    cleaned = Image.open(io.BytesIO(stored.content))
    assert len(cleaned.getexif()) == 0 and not cleaned.getexif().get_ifd(0x8825)
    assert b"KameraRahasia" not in stored.content

    admin = login(make_client, reporting, "admin")
    seen = admin.get(f"{R}/reports/{no}").json()
    assert seen["area"]["name"] == "Sumbersari" and len(seen["photos"]) == 1 and seen["channel"] == "web"


def test_refused_input_comes_back_with_messages_and_nothing_is_stored(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    admin = login(make_client, reporting, "admin")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"description": ""}, "Jelaskan masalahnya."),
        ({"category": "tidak-ada"}, "Pilih"),
        ({"lat": "delapan", "lon": "113.7"}, "Lintang dan bujur"),
        ({"lat": "", "lon": "", "address": ""}, "alamat"),
        ({"lat": "-8.17", "lon": ""}, "Isi lintang dan bujur"),
        ({"lat": "95", "lon": "113.7"}, "Lintang dan bujur"),
        ({"email": "bukan-email"}, "alamat email yang valid"),
        ({"title": "x" * 201}, "Paling banyak 200 karakter"),
        ({"description": "x" * 4001}, "Paling banyak 4000 karakter"),
        ({"privacy": "rahasia-sekali"}, "Pilih"),
        ({"description": "ada\x00nul"}, "karakter kontrol"),
    ]
    for fields, expected in cases:
        resp = post_report(client, **fields)
        assert resp.status_code == 422, (fields, resp.status_code)
        message = form_message(resp.text)
        assert expected.lower() in message.lower(), (fields, message)
        # what was typed stays in the form
        if "title" in fields:
            assert 'value="' + "x" * 201 + '"' in resp.text
    assert count_reports(admin) == 0


def test_more_than_three_photos_a_fake_photo_and_a_big_photo_are_refused(
    client: Any, make_client: Any, reporting: dict[str, Any], settings: Settings
) -> None:
    photo = jpeg_with_gps()
    four = [("photos", (f"{n}.jpg", photo, "image/jpeg")) for n in range(4)]
    resp = post_report(client, files=four)
    assert resp.status_code == 422 and "Paling banyak 3 foto" in form_message(resp.text)

    fake = [("photos", ("foto.jpg", b"hanya teks, bukan gambar\n" * 20, "image/jpeg"))]
    resp = post_report(client, files=fake)
    assert resp.status_code == 415
    assert "JPEG, PNG atau WebP" in form_message(resp.text)
    assert "lampirkan lagi" in resp.text.lower()  # the photos were not kept: the page says so

    settings.report_photo_max_bytes = 2048
    big = Image.new("RGB", (600, 600))
    big.putdata([(x * 7 % 256, x * 13 % 256, x % 256) for x in range(600 * 600)])
    out = io.BytesIO()
    big.save(out, format="PNG")
    resp = post_report(client, files=[("photos", ("besar.png", out.getvalue(), "image/png"))])
    assert resp.status_code == 413 and "terlalu besar" in form_message(resp.text)

    admin = login(make_client, reporting, "admin")
    assert count_reports(admin) == 0


def test_anonymous_submissions_are_rate_limited_per_address_but_a_login_is_not(
    client: Any, make_client: Any, reporting: dict[str, Any], settings: Settings
) -> None:
    # the limiter is made at the first anonymous submission, from the app's settings (this object)
    settings.report_anonymous_limit = 2
    file_report(client)
    file_report(client, lat=IN_KALIWATES[0], lon=IN_KALIWATES[1], confirm_new="1")
    resp = post_report(client, confirm_new="1")
    assert resp.status_code == 429
    assert "Terlalu banyak laporan dari alamat ini" in form_message(resp.text)
    assert "Lubang besar di depan kampus" in resp.text  # nothing typed is lost
    citizen = login(make_client, reporting, "citizen")
    file_report(citizen, confirm_new="1")
    assert count_reports(login(make_client, reporting, "admin")) == 3


def test_tracking_by_number_and_code_and_my_reports(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no, code = file_report(client, privacy="confidential", title="Laporan rahasia saya")
    page = client.get("/reports/track")
    assert page.status_code == 200 and 'name="no"' in page.text

    resp = client.get("/reports/track", params={"no": no.lower(), "code": code}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"/reports/{no}?code={code}"
    detail = client.get(resp.headers["location"])
    assert detail.status_code == 200 and "Laporan rahasia saya" in detail.text
    assert "Siti Aminah" in detail.text  # the reporter sees their own contact
    assert client.get(f"/reports/{no}").status_code == 404  # confidential: not without the code

    wrong = client.get("/reports/track", params={"no": no, "code": "salah"})
    assert wrong.status_code == 422 and "Tidak ada laporan" in form_message(wrong.text)
    bad = client.get("/reports/track", params={"no": "bukan nomor", "code": ""})
    assert bad.status_code == 422 and "JBR-2026-000123" in form_message(bad.text)

    citizen = login(make_client, reporting, "citizen")
    mine_no, _code = file_report(citizen, title="Lampu jalan mati", confirm_new="1")
    mine = citizen.get("/reports/track")
    assert "Laporan saya" in mine.text and mine_no in mine.text and no not in mine.text
    assert citizen.get(f"/reports/{mine_no}").status_code == 200  # the login opens it, no code needed


def test_open_reports_nearby_are_suggested_and_can_be_supported_instead(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    first, _code = file_report(client, title="Lubang pertama")
    # a second report of the same category a few metres away comes back with the suggestion
    resp = post_report(client, title="Lubang yang sama", lat=IN_SUMBERSARI[0] + 0.0002)
    assert resp.status_code == 200
    assert "Laporan serupa di dekat Anda" in resp.text and first in resp.text
    assert "Tetap kirim laporan baru" in resp.text and "Lubang yang sama" in resp.text
    admin = login(make_client, reporting, "admin")
    assert count_reports(admin) == 1

    support = re.search(rf'action="(/reports/{first}/support)"', resp.text)
    assert support is not None
    done = client.post(support.group(1), data={"csrf_token": csrf(resp.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/reports/{first}?ok=supported"
    page = client.get(done.headers["location"])
    assert "dukungan Anda telah dihitung" in page.text
    assert re.search(r'class="supporters">1<', page.text)
    twice = client.post(support.group(1), data={"csrf_token": csrf(page.text)}, follow_redirects=False)
    assert twice.headers["location"].endswith("ok=already_supported")

    # another category, or far away: no suggestion; "send anyway" files it
    assert post_report(client, category="puskesmas").status_code == 303
    file_report(client, title="Lubang yang sama", confirm_new="1")
    assert count_reports(admin) == 3


def test_the_receipt_of_a_report_opened_by_someone_else_shows_no_code(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no, code = file_report(client, privacy="confidential")
    other = make_client()
    page = other.get(f"/reports/{no}/filed")
    assert page.status_code == 200 and code not in page.text and "Siti" not in page.text


def test_a_post_without_the_csrf_token_is_refused(client: Any, reporting: dict[str, Any]) -> None:
    from reportpages import report_form

    client.get("/reports/new")
    resp = client.post("/reports/new", data=report_form(), files=[("photos", ("", b"", "text/plain"))])
    assert resp.status_code == 403
