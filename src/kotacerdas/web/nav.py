"""The main menu, by role. Each entry's label is an English message id translated in the template."""

from __future__ import annotations

from dataclasses import dataclass

from kotacerdas.auth.access import Principal


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str


def nav_items(principal: Principal) -> list[NavItem]:
    items = [NavItem("/", "Home")]
    if principal.is_national:
        items.append(NavItem("/regions", "Regions"))
        return items
    if principal.region_id is None or principal.role == "citizen":
        return items
    items.append(NavItem("/region", "Region"))
    items.append(NavItem("/masterplans", "Masterplan"))
    if principal.is_region_admin:
        items += [
            NavItem("/admin/offices", "Offices"),
            NavItem("/admin/users", "Users"),
            NavItem("/admin/audit", "Audit log"),
        ]
    items.append(NavItem("/account/api-keys", "API keys"))
    return items
