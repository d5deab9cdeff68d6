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
    # what every visitor may do: report a problem, follow it, and find a public service
    items = [
        NavItem("/", _("Home")),
        NavItem("/reports/new", _("Report a problem")),
        NavItem("/reports/track", _("Track a report")),
        NavItem("/services", _("Public services")),
        NavItem("/reports/figures", _("Response times")),
    ]
    if principal.is_national:
        items.append(NavItem("/regions", _("Regions")))
        return items
    if principal.region_id is None or principal.role == "citizen":
        return items
    items.append(NavItem("/region", _("Region")))
    items.append(NavItem("/masterplans", _("Masterplan")))
    items.append(NavItem("/reports/queue", _("Report queue")))
    items.append(NavItem("/admin/services", _("Service catalogue")))
    if principal.is_region_admin:
        items += [
            NavItem("/reports/verify", _("Verification")),
            NavItem("/admin/report-categories", _("Report categories")),
            NavItem("/admin/offices", _("Offices")),
            NavItem("/admin/users", _("Users")),
            NavItem("/admin/audit", _("Audit log")),
        ]
    items.append(NavItem("/account/api-keys", _("API keys")))
    return items
