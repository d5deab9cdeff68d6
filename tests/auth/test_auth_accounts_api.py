"""Accounts of a region, API keys and the audit log through the JSON API, with region isolation."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from kotacerdas.auth.models import ApiKey, AuditEntry, User

ADMIN = "admin@jember.go.id"
PBL_ADMIN = "admin@probolinggokota.go.id"


def _audit_actions(db, region_id):
    db.expire_all()
    return [a for a in db.scalars(select(AuditEntry.action).where(AuditEntry.region_id == region_id))]


# ---------------------------------------------------------------- users


def test_region_admin_lists_the_accounts_of_the_region_without_hashes(client, world):
    client.login(ADMIN, world["password"])
    resp = client.get("/api/v1/regions/35.09/users")
    assert resp.status_code == 200
    emails = {u["email"] for u in resp.json()}
    assert emails == {"admin@jember.go.id", "dishub@jember.go.id", "dinkes@jember.go.id", "warga@example.id"}
    assert "$argon2" not in resp.text
    assert all("password_hash" not in u for u in resp.json())


def test_region_admin_creates_an_account_that_can_log_in(client, make_client, world, db):
    client.login(ADMIN, world["password"])
    resp = client.post(
        "/api/v1/regions/35.09/users",
        json={
            "email": "dlh@jember.go.id",
            "full_name": "Operator DLH",
            "password": "sandi-awal-panjang",
            "role": "office_operator",
            "office_id": world["offices"]["dinkes"].id,
        },
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["region_id"] == world["jember"].id
    assert "password" not in created
    make_client().login("dlh@jember.go.id", "sandi-awal-panjang")
    assert "user.create" in _audit_actions(db, world["jember"].id)

    again = client.post(
        "/api/v1/regions/35.09/users",
        json={
            "email": "DLH@jember.go.id",
            "full_name": "X",
            "password": "sandi-awal-panjang",
            "role": "citizen",
        },
    )
    assert again.status_code == 409


def test_account_creation_refuses_bad_input(client, world):
    client.login(ADMIN, world["password"])
    base = {
        "email": "baru@jember.go.id",
        "full_name": "Baru",
        "password": "sandi-awal-panjang",
        "role": "citizen",
    }
    cases = [
        {**base, "role": "national_evaluator"},
        {**base, "password": "pendek"},
        {**base, "email": "bukan-email"},
        {**base, "role": "office_operator"},  # without an office
        {**base, "full_name": "   "},
        {**base, "full_name": "nul\x00byte"},
        {**base, "office_id": 10**12},
        {**base, "extra": True},
    ]
    for body in cases:
        resp = client.post("/api/v1/regions/35.09/users", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["error"]["code"] == "validation_failed"
    other_region_office = {**base, "role": "office_operator", "office_id": world["offices"]["pbl"].id}
    assert client.post("/api/v1/regions/35.09/users", json=other_region_office).status_code == 404
    assert client.get("/api/v1/regions/35.09/users").json().__len__() == 4


def test_deactivating_an_account_ends_its_logins(client, make_client, world, db):
    operator = make_client().login("dishub@jember.go.id", world["password"])
    client.login(ADMIN, world["password"])
    user_id = world["users"]["dishub"].id
    resp = client.patch(f"/api/v1/regions/35.09/users/{user_id}", json={"is_active": False})
    assert resp.status_code == 200
    assert resp.json()["is_active"] is False
    assert operator.get("/api/v1/auth/me").status_code == 401
    again = make_client().post(
        "/api/v1/auth/login", json={"email": "dishub@jember.go.id", "password": world["password"]}
    )
    assert again.status_code == 401
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "user.update"))
    assert entry is not None
    assert entry.changes == {"is_active": [True, False]}
    assert entry.actor_user_id == world["users"]["admin"].id

    assert client.patch(f"/api/v1/regions/35.09/users/{user_id}", json={"is_active": True}).status_code == 200
    make_client().login("dishub@jember.go.id", world["password"])


def test_role_and_office_changes_stay_within_the_region_rules(client, world):
    client.login(ADMIN, world["password"])
    citizen = world["users"]["citizen"].id
    url = f"/api/v1/regions/35.09/users/{citizen}"
    assert client.patch(url, json={"role": "office_operator"}).status_code == 422  # no office
    assert client.patch(url, json={"role": "national_evaluator"}).status_code == 422
    pbl_office = world["offices"]["pbl"].id
    assert client.patch(url, json={"role": "office_operator", "office_id": pbl_office}).status_code == 422
    resp = client.patch(url, json={"role": "office_operator", "office_id": world["offices"]["dishub"].id})
    assert resp.status_code == 200
    assert resp.json()["role"] == "office_operator"
    assert client.patch(url, json={"office_id": None}).status_code == 422  # an operator keeps an office
    assert client.patch(url, json={"role": None}).status_code == 422
    assert client.patch(url, json={"role": "citizen", "office_id": None}).json()["office_id"] is None


def test_admins_cannot_lock_themselves_out(client, world):
    client.login(ADMIN, world["password"])
    url = f"/api/v1/regions/35.09/users/{world['users']['admin'].id}"
    assert client.patch(url, json={"is_active": False}).status_code == 422
    assert client.patch(url, json={"role": "citizen"}).status_code == 422
    assert client.get("/api/v1/auth/me").json()["role"] == "region_admin"


def test_another_region_admin_can_neither_read_nor_change_the_accounts(client, world, db):
    client.login(PBL_ADMIN, world["password"])
    dishub = world["users"]["dishub"].id
    assert client.get("/api/v1/regions/35.09/users").status_code == 403
    assert client.get(f"/api/v1/regions/35.09/users/{dishub}").status_code == 403
    assert client.patch(f"/api/v1/regions/35.09/users/{dishub}", json={"is_active": False}).status_code == 403
    # through the own region, another region's account does not exist
    assert client.patch(f"/api/v1/regions/35.74/users/{dishub}", json={"is_active": False}).status_code == 404
    assert client.get(f"/api/v1/regions/35.74/users/{dishub}").status_code == 404
    body = {"email": "x@jember.go.id", "full_name": "X", "password": "sandi-awal-panjang", "role": "citizen"}
    assert client.post("/api/v1/regions/35.09/users", json=body).status_code == 403
    db.expire_all()
    assert db.get(User, dishub).is_active is True
    assert db.scalar(select(User).where(User.email == "x@jember.go.id")) is None


def test_office_operators_citizens_and_evaluators_do_not_manage_accounts(make_client, world):
    body = {"email": "x@jember.go.id", "full_name": "X", "password": "sandi-awal-panjang", "role": "citizen"}
    for email in ("dishub@jember.go.id", "warga@example.id", "evaluator@kominfo.go.id"):
        c = make_client().login(email, world["password"])
        assert c.get("/api/v1/regions/35.09/users").status_code == 403
        assert c.post("/api/v1/regions/35.09/users", json=body).status_code == 403
    anonymous = make_client()
    assert anonymous.get("/api/v1/regions/35.09/users").status_code == 401


# ---------------------------------------------------------------- API keys


def _create_key(client, permissions, **extra):
    resp = client.post(
        "/api/v1/regions/35.09/api-keys",
        json={"name": "Sensor lalu lintas", "permissions": permissions, **extra},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_api_key_secret_is_shown_once_and_stored_hashed(client, world, db):
    client.login(ADMIN, world["password"])
    created = _create_key(client, ["region:read"])
    secret = created["secret"]
    assert secret.startswith("kc_")
    assert created["prefix"] == secret[:11]

    listed = client.get("/api/v1/regions/35.09/api-keys").json()
    assert [k["name"] for k in listed] == ["Sensor lalu lintas"]
    assert "secret" not in listed[0]
    assert secret not in client.get("/api/v1/regions/35.09/api-keys").text

    row = db.get(ApiKey, created["id"])
    stored = " ".join(str(getattr(row, c.key)) for c in ApiKey.__table__.columns)
    assert secret not in stored
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert "api_key.create" in _audit_actions(db, world["jember"].id)


def test_api_key_is_scoped_to_its_region_and_permissions(client, make_client, world, db):
    client.login(ADMIN, world["password"])
    key = _create_key(client, ["region:read"])
    machine = make_client()
    machine.headers["Authorization"] = f"Bearer {key['secret']}"
    assert machine.get("/api/v1/regions/35.09/offices").status_code == 200
    assert machine.get("/api/v1/regions/35.74/offices").status_code == 403
    assert machine.get("/api/v1/regions/35.74").status_code == 403
    assert [r["code"] for r in machine.get("/api/v1/regions").json()] == ["35.09"]
    # a read permission does not allow writes, nor account management
    assert (
        machine.post("/api/v1/regions/35.09/offices", json={"name": "X", "short_name": "X"}).status_code
        == 403
    )
    assert machine.get("/api/v1/regions/35.09/users").status_code == 403
    assert machine.get("/api/v1/regions/35.09/audit").status_code == 403
    me = machine.get("/api/v1/auth/me").json()
    assert me["kind"] == "api_key"
    assert me["permissions"] == ["region:read"]
    assert me["user"] is None

    db.expire_all()
    assert db.get(ApiKey, key["id"]).last_used_at is not None
    listed = client.get("/api/v1/regions/35.09/api-keys").json()
    assert listed[0]["last_used_at"] is not None

    without_read = _create_key(client, ["masterplan:read"])
    other = make_client()
    other.headers["Authorization"] = f"Bearer {without_read['secret']}"
    assert other.get("/api/v1/regions/35.09/offices").status_code == 403


def test_probolinggo_key_cannot_read_jember(make_client, world):
    pbl = make_client().login(PBL_ADMIN, world["password"])
    resp = pbl.post("/api/v1/regions/35.74/api-keys", json={"name": "PBL", "permissions": ["region:read"]})
    assert resp.status_code == 201
    machine = make_client()
    machine.headers["Authorization"] = f"Bearer {resp.json()['secret']}"
    assert machine.get("/api/v1/regions/35.74/areas").status_code == 200
    for url in ("/api/v1/regions/35.09", "/api/v1/regions/35.09/offices", "/api/v1/regions/35.09/areas"):
        resp = machine.get(url)
        assert resp.status_code == 403
        assert "Diskominfo" not in resp.text


def test_revoked_key_is_refused(client, make_client, world, db):
    client.login(ADMIN, world["password"])
    key = _create_key(client, ["region:read"])
    resp = client.delete(f"/api/v1/regions/35.09/api-keys/{key['id']}")
    assert resp.status_code == 200
    assert resp.json()["revoked_at"] is not None
    machine = make_client()
    machine.headers["Authorization"] = f"Bearer {key['secret']}"
    resp = machine.get("/api/v1/regions/35.09/offices")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "not_authenticated"
    bogus = make_client()
    bogus.headers["Authorization"] = "Bearer kc_not-a-real-key"
    assert bogus.get("/api/v1/regions/35.09/offices").status_code == 401
    assert "api_key.revoke" in _audit_actions(db, world["jember"].id)
    assert client.delete("/api/v1/regions/35.09/api-keys/999999").status_code == 404


def test_office_operator_keys_belong_to_the_own_office(client, make_client, world):
    client.login("dishub@jember.go.id", world["password"])
    key = _create_key(client, ["realisation:write"])
    assert key["office_id"] == world["offices"]["dishub"].id
    other_office = client.post(
        "/api/v1/regions/35.09/api-keys",
        json={"name": "X", "permissions": ["region:read"], "office_id": world["offices"]["dinkes"].id},
    )
    assert other_office.status_code == 403
    admin = make_client().login(ADMIN, world["password"])
    admin_key = admin.post(
        "/api/v1/regions/35.09/api-keys", json={"name": "Admin", "permissions": ["region:read"]}
    )
    assert admin_key.status_code == 201
    # the operator sees the own office's keys only, and cannot revoke the admin's
    assert [k["name"] for k in client.get("/api/v1/regions/35.09/api-keys").json()] == ["Sensor lalu lintas"]
    assert client.delete(f"/api/v1/regions/35.09/api-keys/{admin_key.json()['id']}").status_code == 404


def test_api_key_creation_refuses_bad_input_and_other_regions(client, world):
    client.login(ADMIN, world["password"])
    for body in (
        {"name": "X", "permissions": ["hub:everything"]},
        {"name": "X", "permissions": []},
        {"name": "", "permissions": ["region:read"]},
        {"name": "X", "permissions": "region:read"},
    ):
        resp = client.post("/api/v1/regions/35.09/api-keys", json=body)
        assert resp.status_code == 422, body
    assert (
        client.post(
            "/api/v1/regions/35.74/api-keys", json={"name": "X", "permissions": ["region:read"]}
        ).status_code
        == 403
    )
    assert client.get("/api/v1/regions/35.74/api-keys").status_code == 403


def test_citizens_and_evaluators_have_no_api_keys(make_client, world):
    for email in ("warga@example.id", "evaluator@kominfo.go.id"):
        c = make_client().login(email, world["password"])
        assert c.get("/api/v1/regions/35.09/api-keys").status_code == 403
        resp = c.post("/api/v1/regions/35.09/api-keys", json={"name": "X", "permissions": ["region:read"]})
        assert resp.status_code == 403


def test_permissions_are_listed_with_descriptions_in_the_language_asked(client, world):
    body = client.get("/api/v1/permissions?lang=en").json()
    codes = {p["code"]: p["description"] for p in body}
    assert "region:read" in codes
    assert codes["region:read"].startswith("Read the region")


# ---------------------------------------------------------------- audit log


def test_audit_log_lists_writes_newest_first_and_pages(client, world):
    client.login(ADMIN, world["password"])
    for short in ("A1", "A2", "A3"):
        client.post("/api/v1/regions/35.09/offices", json={"name": f"Kantor {short}", "short_name": short})
    page = client.get("/api/v1/regions/35.09/audit?limit=2").json()
    assert page["limit"] == 2
    assert page["total"] >= 3
    assert [e["action"] for e in page["items"]] == ["office.create", "office.create"]
    assert page["items"][0]["summary"].startswith("A3")
    assert page["items"][0]["actor_label"] == "Admin Jember"
    assert page["items"][0]["changes"]["short_name"] == [None, "A3"]
    assert page["items"][0]["at"].endswith("Z") or page["items"][0]["at"].endswith("+00:00")
    second = client.get("/api/v1/regions/35.09/audit?limit=2&offset=2").json()
    assert second["items"][0]["summary"].startswith("A1")
    assert client.get("/api/v1/regions/35.09/audit?limit=0").status_code == 422
    assert client.get("/api/v1/regions/35.09/audit?offset=-1").status_code == 422
    assert client.get("/api/v1/regions/35.09/audit?offset=99999999999999999999").status_code == 422


def test_audit_log_is_for_the_region_admin_and_the_national_evaluator(make_client, world):
    admin = make_client().login(ADMIN, world["password"])
    admin.post("/api/v1/regions/35.09/offices", json={"name": "Kantor Rahasia", "short_name": "KR"})
    evaluator = make_client().login("evaluator@kominfo.go.id", world["password"])
    assert evaluator.get("/api/v1/regions/35.09/audit").json()["total"] >= 1
    for email in (PBL_ADMIN, "dishub@jember.go.id", "warga@example.id"):
        c = make_client().login(email, world["password"])
        resp = c.get("/api/v1/regions/35.09/audit")
        assert resp.status_code == 403
        assert "Kantor Rahasia" not in resp.text
    assert make_client().get("/api/v1/regions/35.09/audit").status_code == 401


def test_a_key_revoked_while_in_use_is_refused_at_once(client, make_client, world, db):
    """Keys are remembered for a few seconds per process; revoking one forgets it in this process at
    once, for the JSON API and for Open311 (which take the key from different places)."""
    client.login(ADMIN, world["password"])
    key = _create_key(client, ["region:read", "reports:submit"])
    machine = make_client()
    machine.headers["Authorization"] = f"Bearer {key['secret']}"
    for _ in range(2):  # the second answer comes from the remembered key
        assert machine.get("/api/v1/regions/35.09/offices").status_code == 200
    assert client.delete(f"/api/v1/regions/35.09/api-keys/{key['id']}").status_code == 200
    resp = machine.get("/api/v1/regions/35.09/offices")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "not_authenticated"
    filed = machine.post("/api/v1/regions/35.09/reports", json={"category": "x", "description": "x"})
    assert filed.status_code == 401
    open311 = make_client().post(
        "/open311/v2/requests.json",
        data={"api_key": key["secret"], "jurisdiction_id": "35.09", "service_code": "x"},
    )
    assert open311.status_code == 403
    assert "revoked" in open311.text or "dicabut" in open311.text


def test_a_key_stamps_its_last_use_once_a_minute(client, make_client, world, db):
    client.login(ADMIN, world["password"])
    key = _create_key(client, ["region:read"])
    machine = make_client()
    machine.headers["Authorization"] = f"Bearer {key['secret']}"
    assert machine.get("/api/v1/regions/35.09/offices").status_code == 200
    db.expire_all()
    first = db.get(ApiKey, key["id"]).last_used_at
    assert first is not None
    assert machine.get("/api/v1/regions/35.09/offices").status_code == 200
    db.expire_all()
    assert db.get(ApiKey, key["id"]).last_used_at == first  # within the minute: not written again
