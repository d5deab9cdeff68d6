"""A history of Jember's reports with known timings, for the figures tests (docs/citizen-figures.md
works through the same example). Import as ``from figuresdata import ...``.

Every moment is Jember's local time (WIB, UTC+7). Deadlines: verification 3, follow-up 5 and the
reporter's answer 10 working days (the categories' defaults); 2026's days off that matter here are
Fri 16 January (Isra Mi'raj) and Mon 16 + Tue 17 February (Lunar New Year, joint leave and holiday).

=====  ======  =====================  ====================================================================
 id    office  submitted (WIB)         what happened (WIB)
=====  ======  =====================  ====================================================================
 H     Dishub  Mon 2025-12-29 09:00   disposed Tue 30 Dec 09:00; never answered (open, overdue since Jan)
 A     Dishub  Fri 2026-01-09 15:00   disposed Mon 12 Jan 09:00 (66 h, due Wed 14); accepted; answered
                                       Thu 15 Jan 09:00 (72 h from disposition, due Tue 20: the 16th is a
                                       holiday); closed resolved Fri 16 Jan 09:00 (162 h)
 B     Dishub  Fri 2026-01-30 20:00   disposed Thu 5 Feb 08:00 (132 h, due Wed 4: late); never answered
                                       (follow-up due Thu 12 Feb)
 C     (none)  Sat 2026-01-31 23:30   rejected Mon 2 Feb 09:00 (33.5 h, due Wed 4): rejected before any
                                       disposition, so it never had an office
 D     Dinkes  Sun 2026-02-01 00:30   (17:30 UTC on 31 January, February in WIB) disposed Mon 2 Feb 10:30
                                       (34 h, due Wed 4); answered Tue 10 Feb 08:00 (189.5 h; due Mon 9:
                                       late); closed unresolved Wed 11 Feb 08:00 (247.5 h)
 E     Dishub  Thu 2026-02-12 14:00   disposed Wed 18 Feb 09:00 (139 h; due Thu 19 because of the Lunar
                                       New Year, else Tue 17); answered Wed 25 Feb 16:00 (175 h, due Wed 25)
                                       and waits for the reporter (due Wed 11 Mar)
 F     (none)  Fri 2026-02-27 10:00   not yet verified (due Wed 4 Mar)
 G     Dinkes  Mon 2026-02-23 09:00   disposed Fri 27 Feb 09:00 (96 h, due Thu 26: late); not answered
                                       (due Fri 6 Mar)
=====  ======  =====================  ====================================================================

Probolinggo has one report of January 2026, which must never appear in Jember's figures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from citizendata import IN_SUMBERSARI
from sqlalchemy.orm import Session

from kotacerdas.auth.access import ANONYMOUS, Principal
from kotacerdas.citizen import categories, reports
from kotacerdas.citizen.models import Report

WIB = ZoneInfo("Asia/Jakarta")


def wib(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment given in Jember's local time, as the UTC moment the services store."""
    return datetime(year, month, day, hour, minute, tzinfo=WIB).astimezone(UTC)


# the moment the figures are computed at in the tests that fix it: Monday 2 March 2026, 10:00 WIB
NOW = wib(2026, 3, 2, 10)


def user_principal(world: dict[str, Any], name: str, region: str = "jember") -> Principal:
    user = world["users"][name]
    return Principal(
        kind="user",
        label=user.full_name,
        user_id=user.id,
        role=user.role,
        region_id=world[region].id,
        office_id=user.office_id,
    )


def _file(db: Session, world: dict[str, Any], category: str, at: datetime) -> Report:
    if category == "road":  # in Sumbersari: the road category's own office, Dishub
        where: dict[str, Any] = {"lat": IN_SUMBERSARI[0], "lon": IN_SUMBERSARI[1]}
    else:
        where = {"address": "Jl. Trunojoyo 1, Jember"}
    return reports.file_report(
        db,
        principal=ANONYMOUS,
        region_id=world["jember"].id,
        category_id=world["categories"][category].id,
        title="Laporan uji angka",
        description="Laporan untuk menguji angka waktu tanggap.",
        attributes={"severity": "berat"} if category == "road" else {},
        now=at,
        **where,
    ).report


def build_history(db: Session, world: dict[str, Any]) -> dict[str, Report]:
    """The reports of the table above (on top of the ``reporting`` fixture), committed."""
    admin = user_principal(world, "admin")
    dishub = user_principal(world, "dishub")
    dinkes = user_principal(world, "dinkes")
    out: dict[str, Report] = {}

    h = out["H"] = _file(db, world, "road", wib(2025, 12, 29, 9))
    reports.dispose_report(db, principal=admin, report=h, now=wib(2025, 12, 30, 9))

    a = out["A"] = _file(db, world, "road", wib(2026, 1, 9, 15))
    reports.dispose_report(db, principal=admin, report=a, now=wib(2026, 1, 12, 9))
    reports.accept_report(db, principal=dishub, report=a, now=wib(2026, 1, 12, 10))
    reports.respond_report(db, principal=dishub, report=a, note="Sudah ditambal.", now=wib(2026, 1, 15, 9))
    reports.close_report(
        db, principal=ANONYMOUS, report=a, resolution="resolved", has_code=True, now=wib(2026, 1, 16, 9)
    )

    b = out["B"] = _file(db, world, "road", wib(2026, 1, 30, 20))
    reports.dispose_report(db, principal=admin, report=b, now=wib(2026, 2, 5, 8))

    c = out["C"] = _file(db, world, "health", wib(2026, 1, 31, 23, 30))
    reports.reject_report(db, principal=admin, report=c, reason="not_authority", now=wib(2026, 2, 2, 9))

    d = out["D"] = _file(db, world, "health", wib(2026, 2, 1, 0, 30))
    reports.dispose_report(db, principal=admin, report=d, now=wib(2026, 2, 2, 10, 30))
    reports.accept_report(db, principal=dinkes, report=d, now=wib(2026, 2, 3, 8))
    reports.respond_report(db, principal=dinkes, report=d, note="Sudah ditangani.", now=wib(2026, 2, 10, 8))
    reports.close_report(
        db, principal=ANONYMOUS, report=d, resolution="unresolved", has_code=True, now=wib(2026, 2, 11, 8)
    )

    e = out["E"] = _file(db, world, "road", wib(2026, 2, 12, 14))
    reports.dispose_report(db, principal=admin, report=e, now=wib(2026, 2, 18, 9))
    reports.respond_report(db, principal=dishub, report=e, note="Dijadwalkan.", now=wib(2026, 2, 25, 16))

    out["F"] = _file(db, world, "road", wib(2026, 2, 27, 10))

    g = out["G"] = _file(db, world, "health", wib(2026, 2, 23, 9))
    reports.dispose_report(db, principal=admin, report=g, now=wib(2026, 2, 27, 9))

    pbl_admin = user_principal(world, "pbl_admin", region="probolinggo")
    pbl = world["probolinggo"]
    category = categories.create_category(
        db,
        principal=pbl_admin,
        region_id=pbl.id,
        code="sampah",
        name="Sampah menumpuk",
        office_id=world["offices"]["pbl"].id,
    )
    p = out["P"] = reports.file_report(
        db,
        principal=ANONYMOUS,
        region_id=pbl.id,
        category_id=category.id,
        title="Sampah",
        description="Sampah menumpuk di pasar.",
        address="Pasar Baru, Probolinggo",
        now=wib(2026, 1, 20, 9),
    ).report
    reports.dispose_report(db, principal=pbl_admin, report=p, now=wib(2026, 1, 20, 10))
    db.commit()
    return out
