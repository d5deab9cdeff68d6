"""Who sees and does what with a report. Every permission-checked report decision has its home here.

- The public sees reports that are not confidential and were not rejected as spam, never who filed them.
- An office sees the reports disposed to it; the reporter's identity only when the report is not anonymous.
- The region admin (the verifier, Diskominfo) sees every report of the region, identity included.
- The reporter sees their own report: logged in as the citizen who filed it, or with its tracking code.
- API keys with ``reports:manage`` act as their office (or as the region admin when they have no office).
"""

from __future__ import annotations

from typing import Literal

from kotacerdas.auth.access import Principal
from kotacerdas.citizen.models import Report

Role = Literal["admin", "office", "reporter", "public"]


def is_report_admin(principal: Principal, region_id: int) -> bool:
    if principal.region_id != region_id:
        return False
    if principal.kind == "api_key":
        return "reports:manage" in principal.permissions and principal.office_id is None
    return principal.is_region_admin


def office_of(principal: Principal, region_id: int) -> int | None:
    """The office whose queue the principal works, if it works one in this region."""
    if principal.region_id != region_id or principal.office_id is None:
        return None
    if principal.kind == "api_key":
        return principal.office_id if "reports:manage" in principal.permissions else None
    return principal.office_id if principal.is_office_operator else None


def is_public(report: Report) -> bool:
    return report.privacy != "confidential" and report.reject_reason != "spam"


def role_for(principal: Principal, report: Report, *, has_code: bool = False) -> Role | None:
    """The strongest way the principal may look at the report, or None when they may not see it."""
    if is_report_admin(principal, report.region_id):
        return "admin"
    office = office_of(principal, report.region_id)
    if office is not None and office == report.office_id:
        return "office"
    if has_code or (principal.user_id is not None and principal.user_id == report.reporter_user_id):
        return "reporter"
    if is_public(report):
        return "public"
    return None


def shows_identity(role: Role, report: Report) -> bool:
    if role in ("admin", "reporter"):
        return True
    return role == "office" and report.privacy != "anonymous"
