"""Logging in and out through the JSON API: the cookie, wrong passwords, throttling, password change, CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from kotacerdas.auth.models import AuditEntry, UserSession
from kotacerdas.auth.service import LoginThrottle
from kotacerdas.errors import RateLimited
from kotacerdas.kit.time import utcnow

ADMIN = "admin@jember.go.id"


def test_login_sets_an_httponly_session_cookie_and_returns_the_user(client, world, db):
    resp = client.post(
        "/api/v1/auth/login", json={"email": "  Admin@Jember.go.id ", "password": world["password"]}
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["user"]["email"] == ADMIN
    assert body["user"]["role"] == "region_admin"
    assert "password_hash" not in body["user"]
    assert "$argon2" not in resp.text
    assert len(body["csrf_token"]) == 64
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("kc_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert f"Max-Age={14 * 86400}" in cookie
    assert "Secure" not in cookie  # test settings: not production

    me = client.get("/api/v1/auth/me").json()
    assert me["kind"] == "user"
    assert me["region_code"] == "35.09"
    assert me["user"]["email"] == ADMIN


def test_the_csrf_token_of_the_login_matches_the_new_cookie(client, world):
    client.login(ADMIN, world["password"])
    # a cookie-authenticated write succeeds with exactly the token the login returned
    resp = client.patch("/api/v1/auth/me", json={"language": "en"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"]["language"] == "en"


def test_cookies_are_secure_in_production(app, client, world):
    app.state.settings.environment = "production"
    resp = client.post("/api/v1/auth/login", json={"email": ADMIN, "password": world["password"]})
    assert "Secure" in resp.headers["set-cookie"]


def test_wrong_password_and_unknown_account_are_the_same_401(client, world):
    wrong = client.post("/api/v1/auth/login", json={"email": ADMIN, "password": "salah-sekali-ini"})
    unknown = client.post("/api/v1/auth/login", json={"email": "nobody@jember.go.id", "password": "x"})
    for resp in (wrong, unknown):
        assert resp.status_code == 401
        assert resp.headers["content-type"].startswith("application/json")
        assert resp.json()["error"]["code"] == "not_authenticated"
        assert "set-cookie" not in resp.headers
    assert wrong.json() == unknown.json()
    assert client.get("/api/v1/auth/me").status_code == 401


def test_deactivated_account_cannot_log_in(client, world, db):
    world["users"]["dishub"].is_active = False
    db.commit()
    resp = client.post(
        "/api/v1/auth/login", json={"email": "dishub@jember.go.id", "password": world["password"]}
    )
    assert resp.status_code == 401


def test_logout_ends_the_session_for_good(client, make_client, world, db):
    client.login(ADMIN, world["password"])
    token = client.cookies["kc_session"]
    resp = client.post("/api/v1/auth/logout")
    assert resp.status_code == 200
    assert resp.json() == {"logged_out": True}
    assert client.get("/api/v1/auth/me").status_code == 401
    # the old cookie, replayed by someone who copied it, is dead too
    other = make_client()
    other.cookies.set("kc_session", token)
    assert other.get("/api/v1/auth/me").status_code == 401
    assert (
        db.scalars(select(UserSession).where(UserSession.user_id == world["users"]["admin"].id)).all() == []
    )


def test_logout_with_the_cookie_needs_the_csrf_header(client, world):
    client.login(ADMIN, world["password"])
    client.csrf = None
    resp = client.post("/api/v1/auth/logout")
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "csrf_failed"
    assert client.get("/api/v1/auth/me").status_code == 200


def test_logout_without_login_says_so(client, world):
    assert client.post("/api/v1/auth/logout").json() == {"logged_out": False}


def test_a_second_login_in_the_same_browser_replaces_the_first(client, world, db):
    client.login(ADMIN, world["password"])
    client.login(ADMIN, world["password"])
    rows = db.scalars(select(UserSession).where(UserSession.user_id == world["users"]["admin"].id)).all()
    assert len(rows) == 1


# ---------------------------------------------------------------- throttling


def test_ten_failed_logins_lock_the_address_for_a_while(client, world):
    for _ in range(10):
        resp = client.post("/api/v1/auth/login", json={"email": ADMIN, "password": "tebakan-salah"})
        assert resp.status_code == 401
    resp = client.post("/api/v1/auth/login", json={"email": ADMIN, "password": world["password"]})
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == "rate_limited"
    # the address is throttled, not the client: another account still logs in
    other = client.post(
        "/api/v1/auth/login", json={"email": "dishub@jember.go.id", "password": world["password"]}
    )
    assert other.status_code == 200


def test_throttle_counts_within_the_window_and_forgets_after_success():
    throttle = LoginThrottle(limit=3, window=timedelta(minutes=15))
    start = utcnow()
    for minute in range(3):
        throttle.check("a@x.id", start + timedelta(minutes=minute))
        throttle.failed("A@x.id ", start + timedelta(minutes=minute))
    with pytest.raises(RateLimited):
        throttle.check("a@x.id", start + timedelta(minutes=5))
    # the first failure leaves the window after 15 minutes: one attempt is free again
    throttle.check("a@x.id", start + timedelta(minutes=15, seconds=1))
    throttle.failed("a@x.id", start + timedelta(minutes=15, seconds=30))
    with pytest.raises(RateLimited):
        throttle.check("a@x.id", start + timedelta(minutes=15, seconds=30))
    throttle.succeeded("a@x.id")
    throttle.check("a@x.id", start + timedelta(minutes=15, seconds=30))


def test_throttle_memory_is_bounded():
    throttle = LoginThrottle(limit=1, max_tracked=2)
    now = utcnow()
    for email in ("a@x.id", "b@x.id", "c@x.id"):
        throttle.failed(email, now)
    throttle.check("a@x.id", now)  # forgotten, the oldest
    with pytest.raises(RateLimited):
        throttle.check("c@x.id", now)


# ---------------------------------------------------------------- password change


def test_password_change_ends_the_other_sessions_only(make_client, world, db):
    laptop = make_client().login(ADMIN, world["password"])
    phone = make_client().login(ADMIN, world["password"])
    resp = laptop.post(
        "/api/v1/auth/password",
        json={"current_password": world["password"], "new_password": "kata-sandi-baru-123"},
    )
    assert resp.status_code == 200, resp.text
    assert laptop.get("/api/v1/auth/me").status_code == 200
    assert phone.get("/api/v1/auth/me").status_code == 401

    fresh = make_client()
    old = fresh.post("/api/v1/auth/login", json={"email": ADMIN, "password": world["password"]})
    assert old.status_code == 401
    fresh.login(ADMIN, "kata-sandi-baru-123")
    actions = db.scalars(
        select(AuditEntry.action).where(AuditEntry.entity_id == str(world["users"]["admin"].id))
    )
    assert "user.password_change" in list(actions)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"current_password": "bukan-yang-ini", "new_password": "kata-sandi-baru-123"}, 422),
        ({"current_password": "rahasia-yang-panjang", "new_password": "pendek"}, 422),
        ({"current_password": "rahasia-yang-panjang"}, 422),
        ({"current_password": 12, "new_password": ["x"]}, 422),
    ],
)
def test_password_change_refuses_bad_input(client, world, body, status):
    client.login(ADMIN, world["password"])
    resp = client.post("/api/v1/auth/password", json=body)
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == "validation_failed"
    client.post("/api/v1/auth/logout")
    client.login(ADMIN, world["password"])  # unchanged


def test_password_change_with_the_cookie_needs_the_csrf_header(client, world):
    client.login(ADMIN, world["password"])
    client.csrf = None
    resp = client.post(
        "/api/v1/auth/password",
        json={"current_password": world["password"], "new_password": "kata-sandi-baru-123"},
    )
    assert resp.status_code == 403
    client.login(ADMIN, world["password"])


def test_cookie_authenticated_api_write_without_csrf_header_is_refused(client, world, db):
    client.login(ADMIN, world["password"])
    client.csrf = None
    resp = client.post(
        "/api/v1/regions/35.09/offices", json={"name": "Dinas Pendidikan", "short_name": "Dispendik"}
    )
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "csrf_failed"
    forged = client.post(
        "/api/v1/regions/35.09/offices",
        json={"name": "Dinas Pendidikan", "short_name": "Dispendik"},
        headers={"X-CSRF-Token": "0" * 64},
    )
    assert forged.status_code == 403
    offices = client.get("/api/v1/regions/35.09/offices").json()
    assert "Dispendik" not in {o["short_name"] for o in offices}


def test_me_needs_a_login(client, world):
    resp = client.get("/api/v1/auth/me")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"


def test_profile_refuses_null_and_unknown_fields(client, world):
    client.login(ADMIN, world["password"])
    assert client.patch("/api/v1/auth/me", json={"full_name": None}).status_code == 422
    assert client.patch("/api/v1/auth/me", json={"role": "national_evaluator"}).status_code == 422
    assert client.patch("/api/v1/auth/me", json={"language": "fr"}).status_code == 422
    assert client.get("/api/v1/auth/me").json()["role"] == "region_admin"
