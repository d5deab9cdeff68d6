"""The main menu, by role. Each entry's label is an English message id translated in the template."""

from __future__ import annotations

from dataclasses import dataclass

from kotacerdas.auth.access import Principal
from kotacerdas.i18n import _


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str


def nav_items(principal: Principal) -> list[NavItem]:
    items = [NavItem("/", _("Home"))]
    if principal.is_national:
        items.append(NavItem("/regions", _("Regions")))
        return items
    if principal.region_id is None or principal.role == "citizen":
        return items
    items.append(NavItem("/region", _("Region")))
    items.append(NavItem("/masterplans", _("Masterplan")))
    if principal.is_region_admin:
        items += [
            NavItem("/admin/offices", _("Offices")),
            NavItem("/admin/users", _("Users")),
            NavItem("/admin/audit", _("Audit log")),
        ]
    items.append(NavItem("/account/api-keys", _("API keys")))
    return items
