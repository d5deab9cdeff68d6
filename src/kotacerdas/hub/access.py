"""Who may read and write what in the hub, and which region a request is for.

Writing needs an API key of the region with ``hub:write`` (limited to the key's entity types, if it
has any) or a region admin's login. Reading is public per entity type unless the region marked the
type ``key`` (``hub_type_policy``), or the installation's default says so; then it needs a key of
the region with ``hub:read``/``hub:write``, the region's staff, or the national evaluator.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.db import after_commit
from kotacerdas.hub import store
from kotacerdas.hub.problems import Forbidden, NonexistentTenant, Unauthorized


def tenant_region(session: Session, tenant: str | None, default_code: str = "") -> int:
    """The region id for an ``NGSILD-Tenant`` value (a Kemendagri code such as 35.09).

    No tenant header means the installation's default region (``KOTACERDAS_DEFAULT_REGION``, else the
    first region created). One indexed lookup; HTTP requests go through ``ReadCache.tenant_region``.
    """
    code = (tenant or "").strip() or default_code
    conn = store.connection(session)
    if code:
        row = store.execute(conn, "SELECT id FROM region WHERE code = ?", [code]).first()
    else:
        row = store.execute(conn, "SELECT id FROM region ORDER BY id LIMIT 1").first()
    if row is None:
        raise NonexistentTenant(f"There is no tenant {code!r}. A tenant is a region code such as 35.09.")
    return int(row[0])


def can_write_type(
    principal: Principal, region_id: int, type_iri: str, entity_types: frozenset[str] | None
) -> bool:
    if principal.region_id != region_id:
        return False
    if principal.kind == "api_key":
        if "hub:write" not in principal.permissions:
            return False
        return entity_types is None or type_iri in entity_types
    return principal.kind == "user" and principal.is_region_admin


def require_write(
    principal: Principal, region_id: int, types: Iterable[str], entity_types: frozenset[str] | None
) -> None:
    if not principal.is_authenticated:
        raise Unauthorized("Writing to the hub needs an API key (Authorization: Bearer kc_...).")
    for type_iri in types:
        if not can_write_type(principal, region_id, type_iri, entity_types):
            raise Forbidden(f"This key may not write entities of type {type_iri}.")


def require_hub_member(principal: Principal, region_id: int, permission: str) -> None:
    """Subscriptions and other region-level hub operations."""
    if not principal.is_authenticated:
        raise Unauthorized("This operation needs an API key (Authorization: Bearer kc_...).")
    if principal.region_id != region_id:
        raise Forbidden("This key or account belongs to another region.")
    if principal.kind == "api_key" and permission not in principal.permissions:
        raise Forbidden(f"This key lacks the permission {permission}.")
    if principal.kind == "user" and not (principal.is_region_admin or principal.is_office_operator):
        raise Forbidden("Only the region's staff may do this.")


def can_read_private(principal: Principal, region_id: int) -> bool:
    if principal.is_national:
        return True
    if principal.region_id != region_id:
        return False
    if principal.kind == "api_key":
        return bool({"hub:read", "hub:write"} & principal.permissions)
    return principal.kind == "user" and principal.role in ("region_admin", "office_operator")


def private_types(
    session: Session, region_id: int, default: str
) -> tuple[bool, frozenset[str], frozenset[str]]:
    """(everything private by default?, types marked key, types marked public) for a region."""
    rows = store.execute(
        store.connection(session), "SELECT type, read FROM hub_type_policy WHERE region_id = ?", [region_id]
    ).all()
    keyed = frozenset(t for t, r in rows if r == "key")
    public = frozenset(t for t, r in rows if r == "public")
    return default == "key", keyed, public


def set_type_policy(session: Session, *, region_id: int, type_iri: str, read: str) -> None:
    """Mark an entity type of a region readable without a key (``public``) or with one (``key``)."""
    from kotacerdas.hub.problems import BadRequestData

    if read not in ("public", "key"):
        raise BadRequestData("read must be public or key.")
    _policies_changed()
    after_commit(session, _policies_changed)  # a request that read the old rows meanwhile cached them
    conn = store.connection(session)
    updated = store.execute(
        conn,
        "UPDATE hub_type_policy SET read = ? WHERE region_id = ? AND type = ?",
        [read, region_id, type_iri],
    )
    if not updated.rowcount:
        store.execute(
            conn,
            "INSERT INTO hub_type_policy (region_id, type, read) VALUES (?, ?, ?)",
            [region_id, type_iri, read],
        )


def type_policies(session: Session, *, region_id: int) -> list[tuple[str, str]]:
    rows = store.execute(
        store.connection(session),
        "SELECT type, read FROM hub_type_policy WHERE region_id = ? ORDER BY type",
        [region_id],
    ).all()
    return [(t, r) for t, r in rows]


# ------------------------------------------------------------------------------ request cache

TENANT_SECONDS = 60.0
POLICY_SECONDS = 2.0
_policy_version = 0  # bumped by every policy change made in this process


def _policies_changed() -> None:
    global _policy_version
    _policy_version += 1


class ReadCache:
    """What every hub request looks up before its own work, kept per application (one per process).

    - tenant -> region id: only found tenants are kept, so a new region is seen at once. A region's
      code and id never change (regions are not renamed or deleted by the services); the entry still
      expires after ``TENANT_SECONDS`` in case an operator changed the table by hand.
    - region -> its read policies (``hub_type_policy``): a change made in this process
      (``set_type_policy``) is seen by the next request; one made by another process (the CLI, another
      worker) within ``POLICY_SECONDS``.
    """

    def __init__(self) -> None:
        self._tenants: dict[str, tuple[float, int]] = {}
        self._policies: dict[int, tuple[int, float, frozenset[str], frozenset[str]]] = {}

    def tenant_region(self, session: Session, tenant: str | None, default_code: str = "") -> int:
        code = (tenant or "").strip() or default_code
        now = time.monotonic()
        found = self._tenants.get(code)
        if found is not None and found[0] > now:
            return found[1]
        region_id = tenant_region(session, code)
        if len(self._tenants) > 10_000:  # tenants are regions: a few hundred at most
            self._tenants.clear()
        self._tenants[code] = (now + TENANT_SECONDS, region_id)
        return region_id

    def private_types(
        self, session: Session, region_id: int, default: str
    ) -> tuple[bool, frozenset[str], frozenset[str]]:
        """As ``private_types``, from the cache while it is fresh."""
        now = time.monotonic()
        version = _policy_version
        found = self._policies.get(region_id)
        if found is not None and found[0] == version and found[1] > now:
            return default == "key", found[2], found[3]
        private_by_default, keyed, public = private_types(session, region_id, default)
        self._policies[region_id] = (version, now + POLICY_SECONDS, keyed, public)
        return private_by_default, keyed, public
