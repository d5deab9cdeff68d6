"""Who is asking, and what they may do. Every permission-checked lookup goes through here.

A user's role decides what they may do; an API key's permissions decide what a machine may do. Both
are bound to a region (the national evaluator reads every region and writes none of the masterplans).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kotacerdas.errors import NotAuthenticated, PermissionDenied
from kotacerdas.i18n import _

# What an API key may be granted. Each domain adds its own (the hub: entity types, parking: gates).
PERMISSIONS: dict[str, str] = {
    "region:read": _("Read the region, its areas and offices"),
    "masterplan:read": _("Read masterplans, programmes and indicators"),
    "masterplan:write": _("Create and change masterplans, programmes and indicators"),
    "realisation:write": _(
        "Enter indicator realisations (own office's programmes only, if the key has an office)"
    ),
    "hub:read": _("Read hub entity types that are not public"),
    "hub:write": _("Create, change and delete hub entities (only the key's entity types, if it has any)"),
    "hub:subscribe": _("Create and manage hub subscriptions"),
    "reports:submit": _("Submit citizen reports on behalf of an application (Open311 api_key)"),
    "reports:manage": _(
        "Handle citizen reports: the queue of the key's office, or every report if the key has no office"
    ),
    "catalogue:write": _(
        "Change the public-service catalogue (own office's services only, if the key has an office)"
    ),
}

Level = Literal["read", "write"]


@dataclass(frozen=True)
class Principal:
    kind: Literal["anonymous", "user", "api_key"]
    label: str = ""
    user_id: int | None = None
    api_key_id: int | None = None
    role: str | None = None
    region_id: int | None = None
    office_id: int | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    session_id: int | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def is_national(self) -> bool:
        return self.role == "national_evaluator"

    @property
    def is_region_admin(self) -> bool:
        return self.role == "region_admin"

    @property
    def is_office_operator(self) -> bool:
        return self.role == "office_operator"


ANONYMOUS = Principal(kind="anonymous")


def require_login(principal: Principal) -> None:
    if not principal.is_authenticated:
        raise NotAuthenticated()


def require_region_member(principal: Principal, region_id: int) -> None:
    """Staff of the region (admin or office operator), or a key of the region."""
    require_login(principal)
    if principal.region_id != region_id or principal.role == "citizen":
        raise PermissionDenied()


def can_read_region_data(principal: Principal, region_id: int, permission: str) -> bool:
    if principal.kind == "api_key":
        return principal.region_id == region_id and permission in principal.permissions
    if principal.is_national:
        return True
    return principal.region_id == region_id and principal.role in ("region_admin", "office_operator")


def require_read(principal: Principal, region_id: int, permission: str = "masterplan:read") -> None:
    require_login(principal)
    if not can_read_region_data(principal, region_id, permission):
        raise PermissionDenied()


def require_region_admin(principal: Principal, region_id: int, permission: str = "masterplan:write") -> None:
    """Writes that belong to the smart-city team (Diskominfo/Bappeda), or a key granted them."""
    require_login(principal)
    if principal.kind == "api_key":
        if (
            principal.region_id == region_id
            and permission in principal.permissions
            and principal.office_id is None
        ):
            return
        raise PermissionDenied()
    if not (principal.is_region_admin and principal.region_id == region_id):
        raise PermissionDenied()


def require_office_write(
    principal: Principal, region_id: int, office_id: int | None, permission: str = "realisation:write"
) -> None:
    """Writes an office does for itself: the region admin may do them for any office."""
    require_login(principal)
    if principal.region_id != region_id:
        raise PermissionDenied()
    if principal.kind == "api_key":
        if permission not in principal.permissions:
            raise PermissionDenied()
        if principal.office_id is not None and principal.office_id != office_id:
            raise PermissionDenied(_("This key belongs to another office."))
        return
    if principal.is_region_admin:
        return
    if principal.is_office_operator and office_id is not None and principal.office_id == office_id:
        return
    raise PermissionDenied(_("Only the lead office of this programme or the region admin may do this."))
