"""The staff's report pages: one report as the public, the office and the region admin see it, every
step through its form, the office queue (its own office only), the verification queue with bulk
disposition, and output escaping of whatever a reporter typed."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from citizendata import IN_KALIWATES, IN_SUMBERSARI
from reportpages import R, csrf, file_report, form_message, login, send_step
from sqlalchemy.orm import Session

from kotacerdas.auth.access import ANONYMOUS
from kotacerdas.citizen import reports
from kotacerdas.kit.time import utcnow


def office_id(world: dict[str, Any], name: str) -> int:
    return int(world["offices"][name].id)


def state_of(admin: Any, no: str) -> str:
    return str(admin.get(f"{R}/reports/{no}").json()["state"])


def test_the_public_the_office_and_the_admin_see_what_they_may(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no, _code = file_report(client, privacy="anonymous", title="Jalan amblas dekat pasar")
    public = client.get(f"/reports/{no}")
    assert public.status_code == 200 and "Jalan amblas dekat pasar" in public.text
    assert "Siti Aminah" not in public.text and "siti@example.id" not in public.text
    assert 'id="step-dispose"' not in public.text and 'id="step-support"' in public.text

    admin = login(make_client, reporting, "admin")
    page = admin.get(f"/reports/{no}").text
    assert "Siti Aminah" in page and "siti@example.id" in page  # the verifier sees who filed it
    dishub = office_id(reporting, "dishub")
    assert f'<option value="{dishub}" selected>' in page  # the suggested office is preselected
    assert 'id="step-reject"' in page and 'id="step-accept"' not in page

    resp = send_step(admin, no, "dispose", office=dishub, note="Diteruskan ke Dishub")
    assert resp.status_code == 303 and resp.headers["location"] == f"/reports/{no}?ok=disposed"
    assert "Laporan telah didisposisikan ke OPD." in admin.get(resp.headers["location"]).text

    office = login(make_client, reporting, "dishub")
    seen = office.get(f"/reports/{no}")
    assert seen.status_code == 200
    assert "Siti Aminah" not in seen.text and "siti@example.id" not in seen.text  # anonymous to the office
    assert "081234567890" not in seen.text
    assert 'id="step-accept"' in seen.text and 'id="step-dispose"' not in seen.text
    assert "Admin Jember" in seen.text  # staff see which civil servant acted
    public = client.get(f"/reports/{no}").text
    assert "Admin Jember" not in public and "Siti Aminah" not in public and "Diteruskan ke Dishub" in public

    other = login(make_client, reporting, "dinkes")
    assert 'id="step-accept"' not in other.get(f"/reports/{no}").text  # another office: the public view


def test_a_confidential_report_is_not_found_by_the_public_nor_by_another_office(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no, code = file_report(client, privacy="confidential", title="Pungutan di loket")
    admin = login(make_client, reporting, "admin")
    send_step(admin, no, "dispose", office=office_id(reporting, "dishub"))
    assert client.get(f"/reports/{no}").status_code == 404
    assert client.get("/reports").text.count(no) == 0
    assert login(make_client, reporting, "dinkes").get(f"/reports/{no}").status_code == 404
    assert login(make_client, reporting, "dishub").get(f"/reports/{no}").status_code == 200
    assert client.get(f"/reports/{no}", params={"code": code}).status_code == 200
    assert client.get(f"/reports/{no}", params={"code": "salah"}).status_code == 404


def test_an_office_sees_its_own_queue_and_never_another_offices(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    road, _c = file_report(client, title="Jalan Sumbersari")  # to Dishub
    routed, _c = file_report(client, title="Jalan Kaliwates", lat=IN_KALIWATES[0], lon=IN_KALIWATES[1])
    waiting, _c = file_report(client, title="Belum diverifikasi", category="puskesmas")
    admin = login(make_client, reporting, "admin")
    verify = admin.get("/reports/verify").text
    admin.post(
        "/reports/verify", data={"csrf_token": csrf(verify), "no": [road, routed]}, follow_redirects=False
    )

    dinkes = login(make_client, reporting, "dinkes")
    queue = dinkes.get("/reports/queue")
    assert queue.status_code == 200
    assert routed in queue.text and road not in queue.text and waiting not in queue.text
    assert "Dinas Kesehatan" in queue.text
    refused = dinkes.get("/reports/queue", params={"office": office_id(reporting, "dishub")})
    assert refused.status_code == 403 and road not in refused.text

    dishub = login(make_client, reporting, "dishub")
    text = dishub.get("/reports/queue").text
    assert road in text and routed not in text

    everyone = admin.get("/reports/queue").text  # the admin: every office's open reports
    assert road in everyone and routed in everyone and waiting in everyone
    one = admin.get("/reports/queue", params={"office": office_id(reporting, "dishub")}).text
    assert road in one and routed not in one
    found = admin.get("/reports/queue", params={"q": "kaliwates", "state": "all"}).text
    assert routed in found and road not in found

    citizen = login(make_client, reporting, "citizen")
    assert citizen.get("/reports/queue").status_code == 403
    anonymous = client.get("/reports/queue", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_overdue_reports_come_first_and_are_marked_with_the_days_late(
    client: Any, make_client: Any, reporting: dict[str, Any], db: Session
) -> None:
    fresh, _c = file_report(client, title="Baru saja")
    past = utcnow() - timedelta(days=30)
    old = reports.file_report(
        db,
        principal=ANONYMOUS,
        region_id=reporting["jember"].id,
        category_id=reporting["categories"]["road"].id,
        title="Sudah lama menunggu",
        description="Belum juga diverifikasi.",
        lat=IN_SUMBERSARI[0],
        lon=IN_SUMBERSARI[1],
        now=past,
    ).report
    db.commit()
    admin = login(make_client, reporting, "admin")
    for url in ("/reports/verify", "/reports/queue"):
        page = admin.get(url).text
        assert page.index(old.tracking_no) < page.index(fresh), url  # the nearest deadline first
        row = re.search(rf'<tr class="report-row overdue" data-no="{old.tracking_no}">(.*?)</tr>', page, re.S)
        assert row is not None, url
        late = re.search(r"terlambat (\d+) hari", row.group(1))
        assert late is not None and int(late.group(1)) >= 20
        assert f'<tr class="report-row" data-no="{fresh}">' in page
    only = admin.get("/reports/queue", params={"overdue": "1"}).text
    assert old.tracking_no in only and fresh not in only
    detail = admin.get(f"/reports/{old.tracking_no}").text
    assert "Lewat tenggat" in detail and "terlambat" in detail


def test_bulk_disposition_sends_each_report_to_its_suggested_office_and_says_what_was_skipped(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    a, _c = file_report(client, title="A di Sumbersari")
    b, _c = file_report(client, title="B di Kaliwates", lat=IN_KALIWATES[0], lon=IN_KALIWATES[1])
    c, _c = file_report(client, title="C di puskesmas", category="puskesmas")
    admin = login(make_client, reporting, "admin")
    page = admin.get("/reports/verify")
    assert page.status_code == 200
    for no, suggested in ((a, "Dishub"), (b, "Dinkes"), (c, "Dinkes")):
        row = re.search(rf'data-no="{no}">(.*?)</tr>', page.text, re.S)
        assert row is not None and f"<td>{suggested}</td>" in row.group(1)
        assert f'name="no" value="{no}"' in row.group(1)

    empty = admin.post("/reports/verify", data={"csrf_token": csrf(page.text)})
    assert empty.status_code == 422 and "Centang paling sedikit satu laporan." in form_message(empty.text)

    done = admin.post("/reports/verify", data={"csrf_token": csrf(page.text), "no": [a, b]})
    assert done.status_code == 200
    assert "2 laporan didisposisikan" in done.text
    assert admin.get(f"{R}/reports/{a}").json()["office"]["short_name"] == "Dishub"
    assert admin.get(f"{R}/reports/{b}").json()["office"]["short_name"] == "Dinkes"
    assert f'name="no" value="{a}"' not in done.text and f'name="no" value="{c}"' in done.text

    kominfo = office_id(reporting, "kominfo")
    again = admin.post(
        "/reports/verify", data={"csrf_token": csrf(done.text), "no": [a, c], "office": str(kominfo)}
    )
    assert "1 laporan didisposisikan" in again.text and "1 dilewati" in again.text
    skipped = re.search(
        rf'<li class="skipped"><a href="/reports/{a}">{a}</a>: <span class="error">([^<]+)<', again.text
    )
    assert skipped is not None and "tidak dapat dilakukan" in html.unescape(skipped.group(1))
    assert admin.get(f"{R}/reports/{c}").json()["office"]["short_name"] == "Diskominfo"

    assert login(make_client, reporting, "dishub").get("/reports/verify").status_code == 403


def test_every_step_of_the_lifecycle_through_its_form(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no, code = file_report(client)
    admin = login(make_client, reporting, "admin")
    dishub = login(make_client, reporting, "dishub")
    assert send_step(admin, no, "dispose").headers["location"].endswith("ok=disposed")  # suggested office
    assert send_step(dishub, no, "accept", note="Tim ke lokasi").headers["location"].endswith("ok=accepted")

    refused = send_step(dishub, no, "respond", note="")
    assert refused.status_code == 422
    assert "Tulis catatan untuk pelapor." in form_message(refused.text)
    assert 'href="#step-respond"' in refused.text
    assert state_of(admin, no) == "in_progress"

    internal = send_step(dishub, no, "note", note="Menunggu aspal dari gudang")
    assert internal.headers["location"].endswith("ok=noted")
    assert "Menunggu aspal dari gudang" not in client.get(f"/reports/{no}").text
    assert "Menunggu aspal dari gudang" in dishub.get(f"/reports/{no}").text
    send_step(dishub, no, "note", note="Pekerjaan dijadwalkan Senin", public="1")
    assert "Pekerjaan dijadwalkan Senin" in client.get(f"/reports/{no}").text

    done = send_step(dishub, no, "respond", note="Sudah ditambal pada 3 Juni.")
    assert done.headers["location"] == f"/reports/{no}?ok=responded"

    # the reporter answers with the code, without logging in
    page = client.get(f"/reports/{no}", params={"code": code}).text
    assert 'id="step-close"' in page and 'id="step-reopen"' in page and 'id="step-close-unresolved"' in page
    assert f'name="code" value="{code}"' in page
    assert 'id="step-close"' not in client.get(f"/reports/{no}").text  # without the code: not the reporter
    reopened = send_step(client, no, "reopen", code=code, note="Lubangnya muncul lagi.")
    assert reopened.headers["location"] == f"/reports/{no}?code={code}&ok=reopened"
    assert state_of(admin, no) == "in_progress"
    send_step(dishub, no, "respond", note="Ditambal ulang dengan hotmix.")
    closed = send_step(client, no, "close", code=code, resolution="resolved", note="Terima kasih")
    assert closed.headers["location"].endswith("ok=closed")
    assert state_of(admin, no) == "closed"

    timeline = client.get(f"/reports/{no}", params={"code": code}).text
    labels = re.findall(r'<strong class="event-label">([^<]+)</strong>', timeline)
    assert labels == [
        "Laporan dikirim",
        "Diverifikasi dan didisposisikan",
        "Diproses oleh OPD",
        "Catatan",
        "Tindak lanjut dari OPD",
        "Dibuka kembali",
        "Tindak lanjut dari OPD",
        "Ditutup",
    ]
    assert "Selesai" in timeline and "WIB" in timeline


def test_reassign_reject_and_the_admins_close(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    admin = login(make_client, reporting, "admin")
    dishub = login(make_client, reporting, "dishub")
    moved, _c = file_report(client, title="Salah alamat")
    send_step(admin, moved, "dispose")
    dinkes_id = office_id(reporting, "dinkes")
    passed = send_step(dishub, moved, "reassign", office=dinkes_id, note="Ini urusan Dinkes")
    assert passed.status_code == 303 and passed.headers["location"] == "/reports/queue?ok=reassigned"
    assert "Laporan telah diteruskan ke OPD lain." in dishub.get(passed.headers["location"]).text
    assert moved in login(make_client, reporting, "dinkes").get("/reports/queue").text
    no_office = send_step(admin, moved, "reassign", office="")
    assert no_office.status_code == 422 and "Pilih OPD yang menangani laporan ini." in form_message(
        no_office.text
    )

    original, _c = file_report(client, title="Asli", confirm_new="1")
    copy, _c = file_report(client, title="Salinan", confirm_new="1")
    wrong = send_step(admin, copy, "reject", reason="duplicate", duplicate_of="JBR-2020-999999")
    assert wrong.status_code == 422 and "Laporan tidak ditemukan." in form_message(wrong.text)
    assert 'value="JBR-2020-999999"' in wrong.text  # what was typed stays
    assert state_of(admin, copy) == "submitted"
    ok = send_step(admin, copy, "reject", reason="duplicate", duplicate_of=original.lower(), note="Sudah ada")
    assert ok.headers["location"].endswith("ok=rejected")
    page = client.get(f"/reports/{copy}").text
    assert "Laporan duplikat" in page and f'href="/reports/{original}"' in page

    spam, _c = file_report(client, title="Beli obat murah", confirm_new="1")
    send_step(admin, spam, "reject", reason="spam")
    assert client.get(f"/reports/{spam}").status_code == 404

    send_step(admin, original, "dispose")
    closed = send_step(admin, original, "close", resolution="unresolved", note="Ditutup oleh admin")
    assert closed.headers["location"].endswith("ok=closed") and state_of(admin, original) == "closed"


def test_steps_out_of_turn_are_refused_with_a_message_not_an_error_page(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    no, _code = file_report(client)
    anonymous = send_step(client, no, "dispose")
    assert anonymous.status_code == 403 and "Hanya verifikator laporan daerah" in form_message(anonymous.text)
    dishub = login(make_client, reporting, "dishub")
    assert send_step(dishub, no, "dispose").status_code == 403
    admin = login(make_client, reporting, "admin")
    early = send_step(admin, no, "accept")
    assert early.status_code == 409 and "tidak dapat dilakukan" in form_message(early.text)
    assert state_of(admin, no) == "submitted"
    nul = send_step(admin, no, "note", note="catatan\x00jahat")
    assert nul.status_code == 422 and "karakter kontrol" in form_message(nul.text)
    assert send_step(admin, no, "teleport").status_code == 404
    assert client.get(f"/reports/{no}/dispose").status_code == 405
    assert client.get("/reports/JBR-2020-999999").status_code == 404


def test_what_a_reporter_typed_is_escaped_wherever_it_is_shown(
    client: Any, make_client: Any, reporting: dict[str, Any]
) -> None:
    evil = "<script>alert(1)</script>"
    no, code = file_report(
        client, title=evil, description=f"{evil}<img src=x onerror=alert(2)>", name=evil, address=evil
    )
    admin = login(make_client, reporting, "admin")
    citizen = login(make_client, reporting, "citizen")
    mine, _c = file_report(citizen, title=evil, confirm_new="1")
    pages = [
        client.get(f"/reports/{no}"),
        client.get(f"/reports/{no}", params={"code": code}),
        client.get("/reports"),
        admin.get(f"/reports/{no}"),
        admin.get("/reports/verify"),
        admin.get("/reports/queue"),
        citizen.get("/reports/track"),
        # the form sent back with the suggestion of the first report
        client.post(
            "/reports/new",
            data={
                "csrf_token": csrf(client.get("/reports/new").text),
                "category": "jalan-rusak",
                "title": evil,
                "description": evil,
                "lat": str(IN_SUMBERSARI[0]),
                "lon": str(IN_SUMBERSARI[1]),
            },
        ),
    ]
    for page in pages:
        assert page.status_code == 200, page.url
        assert evil not in page.text and "<img src=x" not in page.text, page.url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, page.url
    assert mine in pages[6].text
