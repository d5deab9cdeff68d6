"""Pages of login, account, API keys, users and the audit log, with CSRF and isolation."""

from __future__ import annotations

import re

from sqlalchemy import select

from kotacerdas.auth.models import ApiKey, User
from kotacerdas.auth.pages import AUDIT_PAGE_SIZE

ADMIN = "admin@jember.go.id"
PBL_ADMIN = "admin@probolinggokota.go.id"


def csrf_of(client, url):
    html = client.get(url).text
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match, html[:500]
    return match.group(1)


def page_login(client, email, password, next_url=""):
    token = csrf_of(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "next": next_url, "csrf_token": token},
        follow_redirects=False,
    )


# ---------------------------------------------------------------- login, language


def test_pages_are_indonesian_by_default_and_english_on_request(client, world):
    assert '<html lang="id">' in client.get("/login").text
    assert '<html lang="en">' in client.get("/login?lang=en").text
    # the choice is remembered in a cookie
    assert '<html lang="en">' in client.get("/login").text
    assert '<html lang="id">' in client.get("/?lang=id").text


def test_login_form_logs_in_and_goes_to_the_next_page(client, world):
    resp = page_login(client, ADMIN, world["password"], "/admin/users?x=1")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/admin/users?x=1"
    assert "kc_session=" in resp.headers["set-cookie"]
    assert "HttpOnly" in resp.headers["set-cookie"]
    assert "Admin Jember" in client.get("/").text
    # already logged in: the login page sends you on
    assert client.get("/login", follow_redirects=False).status_code == 303


def test_login_goes_only_to_pages_of_this_site(make_client, world):
    for target in (
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "admin",
    ):
        resp = page_login(make_client(), ADMIN, world["password"], target)
        assert resp.status_code == 303
        assert resp.headers["location"] == "/", target


def test_wrong_password_shows_the_form_again(client, world):
    resp = page_login(client, ADMIN, "salah-sekali")
    assert resp.status_code == 422
    assert "The e-mail address or password is wrong." in resp.text or "salah" in resp.text
    assert 'value="admin@jember.go.id"' in resp.text
    assert "set-cookie" not in resp.headers or "kc_session=" not in resp.headers["set-cookie"]
    empty = client.post("/login", data={"csrf_token": csrf_of(client, "/login")})
    assert empty.status_code == 422
    nul = client.post(
        "/login", data={"email": "a\x00b@x.id", "password": "x", "csrf_token": csrf_of(client, "/login")}
    )
    assert nul.status_code == 422


def test_login_form_is_throttled_too(client, world):
    for _ in range(10):
        assert page_login(client, ADMIN, "tebakan-salah").status_code == 422
    resp = page_login(client, ADMIN, world["password"])
    assert resp.status_code == 429
    assert "<form" in resp.text


def test_login_and_logout_forms_need_the_csrf_token(client, world):
    client.get("/login")
    resp = client.post("/login", data={"email": ADMIN, "password": world["password"]})
    assert resp.status_code == 403
    forged = client.post(
        "/login", data={"email": ADMIN, "password": world["password"], "csrf_token": "f" * 64}
    )
    assert forged.status_code == 403
    assert client.get("/api/v1/auth/me").status_code == 401

    page_login(client, ADMIN, world["password"])
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.get("/api/v1/auth/me").status_code == 200
    token = csrf_of(client, "/account")
    resp = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303
    assert client.get("/api/v1/auth/me").status_code == 401


def test_pages_send_anonymous_visitors_to_the_login(client, world):
    for url in ("/account", "/account/api-keys", "/admin/users", "/admin/audit"):
        resp = client.get(url, follow_redirects=False)
        assert resp.status_code == 303
        assert resp.headers["location"] == f"/login?next={url}"


# ---------------------------------------------------------------- account


def test_language_preference_is_saved_on_the_account(client, world, db):
    client.login("dishub@jember.go.id", world["password"])
    resp = client.post(
        "/account",
        data={"full_name": "Operator Dishub Jember", "language": "en", "csrf_token": client.csrf},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    db.expire_all()
    user = db.get(User, world["users"]["dishub"].id)
    assert user.language == "en"
    assert user.full_name == "Operator Dishub Jember"
    assert '<html lang="en">' in client.get("/account").text
    bad = client.post("/account", data={"full_name": "", "language": "fr", "csrf_token": client.csrf})
    assert bad.status_code == 422
    assert 'class="field has-error"' in bad.text


def test_password_form_changes_the_password_and_checks_the_repeat(client, make_client, world):
    client.login(ADMIN, world["password"])
    other = make_client().login(ADMIN, world["password"])
    mismatch = client.post(
        "/account/password",
        data={
            "current_password": world["password"],
            "new_password": "kata-sandi-baru-123",
            "new_password_again": "kata-sandi-baru-124",
            "csrf_token": client.csrf,
        },
    )
    assert mismatch.status_code == 422
    assert "The two new passwords are not the same." in mismatch.text or "sama" in mismatch.text
    short = client.post(
        "/account/password",
        data={
            "current_password": world["password"],
            "new_password": "x",
            "new_password_again": "x",
            "csrf_token": client.csrf,
        },
    )
    assert short.status_code == 422
    ok = client.post(
        "/account/password",
        data={
            "current_password": world["password"],
            "new_password": "kata-sandi-baru-123",
            "new_password_again": "kata-sandi-baru-123",
            "csrf_token": client.csrf,
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert other.get("/api/v1/auth/me").status_code == 401
    assert client.get("/account").status_code == 200


# ---------------------------------------------------------------- API keys


def test_api_key_page_shows_the_secret_once(client, world, db):
    client.login(ADMIN, world["password"])
    resp = client.post(
        "/account/api-keys",
        data={
            "name": "Kamera simpang",
            "permissions": ["region:read", "masterplan:read"],
            "csrf_token": client.csrf,
        },
    )
    assert resp.status_code == 201
    secret = re.search(r'<p class="secret" id="new-secret">(kc_[^<]+)</p>', resp.text).group(1)
    assert "will not be shown again" in resp.text or "tidak akan" in resp.text
    row = db.scalar(select(ApiKey).where(ApiKey.name == "Kamera simpang"))
    assert row.permissions == ["masterplan:read", "region:read"]
    listing = client.get("/account/api-keys").text
    assert "Kamera simpang" in listing
    assert secret not in listing
    assert secret[:11] in listing

    revoke = client.post(
        f"/account/api-keys/{row.id}/revoke", data={"csrf_token": client.csrf}, follow_redirects=False
    )
    assert revoke.status_code == 303
    db.expire_all()
    assert db.get(ApiKey, row.id).revoked_at is not None


def test_api_key_form_with_bad_input_is_shown_again(client, world, db):
    client.login("dishub@jember.go.id", world["password"])
    resp = client.post("/account/api-keys", data={"name": "", "csrf_token": client.csrf})
    assert resp.status_code == 422
    assert "<form" in resp.text
    resp = client.post(
        "/account/api-keys", data={"name": "X", "permissions": ["root:all"], "csrf_token": client.csrf}
    )
    assert resp.status_code == 422
    assert db.scalars(select(ApiKey)).all() == []


def test_api_key_form_needs_the_csrf_token(client, world, db):
    client.login(ADMIN, world["password"])
    resp = client.post(
        "/account/api-keys", data={"name": "X", "permissions": ["region:read"]}, headers={"X-CSRF-Token": ""}
    )
    assert resp.status_code == 403
    assert db.scalars(select(ApiKey)).all() == []


# ---------------------------------------------------------------- users


def test_region_admin_creates_and_deactivates_accounts_on_the_page(client, make_client, world, db):
    client.login(ADMIN, world["password"])
    page = client.get("/admin/users").text
    assert "Operator Dishub" in page
    assert "Admin Probolinggo" not in page
    form = {
        "full_name": "Operator Bappeda",
        "email": "bappeda@jember.go.id",
        "role": "office_operator",
        "office_id": str(world["offices"]["kominfo"].id),
        "language": "id",
        "password": "sandi-awal-panjang",
        "csrf_token": client.csrf,
    }
    assert client.post("/admin/users", data=form, follow_redirects=False).status_code == 303
    make_client().login("bappeda@jember.go.id", "sandi-awal-panjang")

    again = client.post("/admin/users", data=form)
    assert again.status_code == 422  # the address exists: shown on the form, not an error page
    assert 'value="Operator Bappeda"' in again.text
    short = client.post("/admin/users", data={**form, "email": "lain@jember.go.id", "password": "pendek"})
    assert short.status_code == 422
    no_office = client.post("/admin/users", data={**form, "email": "lain@jember.go.id", "office_id": ""})
    assert no_office.status_code == 422

    user = db.scalar(select(User).where(User.email == "bappeda@jember.go.id"))
    resp = client.post(
        f"/admin/users/{user.id}/active",
        data={"active": "0", "csrf_token": client.csrf},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    db.expire_all()
    assert db.get(User, user.id).is_active is False
    assert (
        client.post(
            f"/admin/users/{user.id}/active", data={"active": "maybe", "csrf_token": client.csrf}
        ).status_code
        == 422
    )


def test_user_forms_need_the_csrf_token_and_change_nothing_without(client, world, db):
    client.login(ADMIN, world["password"])
    dishub = world["users"]["dishub"].id
    for token in (None, "0" * 64):
        data = {"active": "0"} if token is None else {"active": "0", "csrf_token": token}
        resp = client.post(f"/admin/users/{dishub}/active", data=data, headers={"X-CSRF-Token": ""})
        assert resp.status_code == 403
        created = {
            "full_name": "X",
            "email": "x@jember.go.id",
            "role": "citizen",
            "password": "sandi-awal-panjang",
        }
        if token:
            created["csrf_token"] = token
        assert client.post("/admin/users", data=created).status_code == 403
    db.expire_all()
    assert db.get(User, dishub).is_active is True
    assert db.scalar(select(User).where(User.email == "x@jember.go.id")) is None


def test_probolinggo_admin_cannot_change_jember_accounts_on_the_page(client, world, db):
    client.login(PBL_ADMIN, world["password"])
    dishub = world["users"]["dishub"].id
    resp = client.post(f"/admin/users/{dishub}/active", data={"active": "0", "csrf_token": client.csrf})
    assert resp.status_code == 404
    assert "Operator Dishub" not in client.get("/admin/users").text
    db.expire_all()
    assert db.get(User, dishub).is_active is True


def test_admin_pages_are_for_region_admins(make_client, world):
    for email in ("dishub@jember.go.id", "warga@example.id", "evaluator@kominfo.go.id"):
        c = make_client().login(email, world["password"])
        assert c.get("/admin/users").status_code == 403, email
        assert c.get("/admin/audit").status_code == 403, email
    citizen = make_client().login("warga@example.id", world["password"])
    assert citizen.get("/account/api-keys").status_code == 403
    assert citizen.get("/account").status_code == 200


# ---------------------------------------------------------------- audit


def test_audit_page_shows_actor_action_and_local_time(client, make_client, world):
    client.login(ADMIN, world["password"])
    client.post("/api/v1/regions/35.09/offices", json={"name": "Dinas Pariwisata", "short_name": "Dispar"})
    page = client.get("/admin/audit?lang=en")
    assert page.status_code == 200
    assert "office.create" in page.text
    assert "Dispar: Dinas Pariwisata" in page.text
    assert "Admin Jember" in page.text
    assert re.search(r"\d{2}-\d{2}-\d{4} \d{2}:\d{2} WIB", page.text)
    assert client.get("/admin/audit?page=0").status_code == 422
    assert client.get("/admin/audit?page=500").status_code == 200

    pbl = make_client().login(PBL_ADMIN, world["password"])
    assert "Dispar" not in pbl.get("/admin/audit").text


def test_audit_page_pages_through_a_long_log(client, world):
    client.login(ADMIN, world["password"])
    for n in range(AUDIT_PAGE_SIZE + 1):
        resp = client.post(
            "/api/v1/regions/35.09/offices", json={"name": f"Kantor {n}", "short_name": f"K{n}"}
        )
        assert resp.status_code == 201
    first = client.get("/admin/audit?lang=en")
    assert first.status_code == 200
    assert 'class="pager"' in first.text and "page=2" in first.text
    second = client.get("/admin/audit?page=2&lang=en")
    assert second.status_code == 200 and "K0: Kantor 0" in second.text
