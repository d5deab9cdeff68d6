"""Who may read and write what in the hub, and which region a request is for.

Writing needs an API key of the region with ``hub:write`` (limited to the key's entity types, if it
has any) or a region admin's login. Reading is public per entity type unless the region marked the
type ``key`` (``hub_type_policy``), or the installation's default says so; then it needs a key of
the region with ``hub:read``/``hub:write``, the region's staff, or the national evaluator.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.hub import store
from kotacerdas.hub.problems import Forbidden, NonexistentTenant, Unauthorized


def tenant_region(session: Session, tenant: str | None, default_code: str = "") -> int:
    """The region id for an ``NGSILD-Tenant`` value (a Kemendagri code such as 35.09).

    No tenant header means the installation's default region (``KOTACERDAS_DEFAULT_REGION``, else the
    first region created). One indexed lookup per request; not cached, so a new region is seen at once.
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
