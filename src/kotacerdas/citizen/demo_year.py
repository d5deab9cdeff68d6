"""The demo year's discrete-event simulation: the fate chosen for each report at filing and every later
step, queued at its simulated moment and run in time order through the report services.

All randomness comes from the one seeded generator of ``_Year`` (``rng``), in the order the steps run,
so the same ``now`` gives the same year. It reads its rates and rows from ``citizen.demo_tables`` and is
run by ``citizen.demo.load_demo_reports``; it does not import ``citizen.demo``.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from shapely.geometry import Point, shape
from shapely.prepared import PreparedGeometry, prep
from sqlalchemy import select
from sqlalchemy.orm import Session

from kotacerdas.auth.access import ANONYMOUS, Principal
from kotacerdas.auth.models import User
from kotacerdas.citizen import categories, reports
from kotacerdas.citizen.demo_tables import (
    CHANNELS,
    CLOSE_RESOLVED,
    CLOSE_UNRESOLVED,
    DAYS,
    HOURS,
    PER_DAY,
    PRIVACY,
    RAINY_MONTHS,
    REASSIGN,
    REJECT_AUTHORITY,
    REJECT_DUPLICATE,
    REJECT_SPAM,
    REOPEN,
    WEEKDAY,
    _Kind,
    _Speed,
    demo_doc,
)
from kotacerdas.citizen.models import Report
from kotacerdas.kit.time import zone
from kotacerdas.kit.workdays import WorkCalendar
from kotacerdas.region import service as regions

# ---------------------------------------------------------------- the simulation


@dataclass
class _Case:
    """One report and the fate the generator chose for it when it was filed."""

    report: Report
    kind: _Kind
    kec: str
    reporter: Principal  # who closes or reopens it: the citizen's account, or anyone with the code
    reject: str | None = None
    duplicate_of: str | None = None
    reassign: bool = False
    reopened: bool = False
    places: dict[str, str] = field(default_factory=dict)


class _Year:
    def __init__(
        self,
        session: Session,
        *,
        region_id: int,
        office_ids: dict[str, int],
        admin: Principal,
        operators: dict[int, Principal],
        citizen: Principal | None,
        now: datetime,
    ) -> None:
        self.session = session
        self.region = regions.get_region(session, region_id)
        # The session's identity map holds rows weakly; the services look the region, its categories,
        # offices and the acting users up by id at every step, so keep them alive (thousands of
        # lookups then never reach the database).
        self.keep: list[object] = [
            *categories.list_categories(session, region_id=region_id, include_inactive=True),
            *regions.list_offices(session, region_id=region_id),
            *session.scalars(select(User).where(User.region_id == region_id)),
        ]
        self.tz = zone(self.region.timezone)
        self.calendar: WorkCalendar = categories.calendar_for(session, region_id=region_id)
        self.office_ids = office_ids
        self.office_names = {v: k for k, v in office_ids.items()}
        self.admin = admin
        self.operators = operators
        self.citizen = citizen
        self.now = now
        self.rng = random.Random(35_09)  # noqa: S311 - reproducible demo data, not a secret
        self.data = demo_doc("reports", self.region.code)
        texts = self.data["category_texts"]
        self.kinds = []
        for raw in demo_doc("categories", self.region.code)["categories"]:
            row = categories.get_category_by_code(session, region_id=region_id, code=raw["code"])
            self.kinds.append(
                _Kind(
                    id=row.id,
                    code=row.code,
                    office=raw["office"],
                    weight=float(raw["weight"]),
                    rainy=float(raw["rainy"]),
                    has_attributes=bool(row.attributes),
                    texts=texts[row.code],
                )
            )
        speeds = self.data["office_speed"]
        self.speeds = {
            name: _Speed(**{k: float(v) for k, v in spec.items()})
            for name, spec in speeds.items()
            if not name.startswith("_")
        }
        weights = self.data["kecamatan_weight"]
        self.areas: list[tuple[str, float, PreparedGeometry, tuple[float, ...]]] = []
        for area in regions.list_areas(session, region_id=region_id, kind="kecamatan"):
            if area.geometry:
                geom = shape(area.geometry)
                self.areas.append((area.name, float(weights.get(area.name, 1.0)), prep(geom), geom.bounds))
        if not self.areas:
            raise ValueError(f"demo reports: region {self.region.code} has no kecamatan polygons")
        self.queue: list[tuple[datetime, int, str, Any]] = []  # (when, order, step, its case or kind)
        self.seq = 0
        self.recent: dict[str, list[_Case]] = {}  # per category, for duplicates
        self.filed = 0

    # -------------------------------------------------------------- time

    def schedule(self, at: datetime, action: str, subject: Any) -> None:
        if at <= self.now:  # what would come after "now" has not happened yet
            self.seq += 1
            heapq.heappush(self.queue, (at, self.seq, action, subject))

    def run_until(self, until: datetime) -> None:
        """Every queued step before ``until``, in time order (steps may queue further steps)."""
        while self.queue and self.queue[0][0] < until:
            at, _seq, action, subject = heapq.heappop(self.queue)
            if action == "escalate":
                reports.escalate_overdue(self.session, now=at)
            elif action == "file":
                self.file_one(at, subject)
            else:
                getattr(self, f"_{action}")(at, subject)

    def office_moment(self, start: datetime, days: int) -> datetime:
        """During office hours (08:00-15:30 local) of the ``days``-th working day after ``start``'s
        day, or later the same day when ``days`` is 0 and the office is still open."""
        local = start.astimezone(self.tz)
        day = local.date()
        if days <= 0 and (not self.calendar.is_working_day(day) or local.hour >= 15):
            days = 1
        if days > 0:
            day = self.calendar.add_working_days(day, days)
        earliest = 8 * 60 if day != local.date() else max(8 * 60, local.hour * 60 + local.minute + 5)
        minute = self.rng.randint(earliest, max(earliest, 15 * 60 + 30))
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.tz).astimezone(UTC)

    def citizen_moment(self, start: datetime, low_hours: float, high_hours: float) -> datetime:
        """Some hours later, but not in the middle of the night."""
        moment = start + timedelta(hours=self.rng.uniform(low_hours, high_hours))
        hour = moment.astimezone(self.tz).hour
        if hour < 6:
            moment += timedelta(hours=6 - hour, minutes=self.rng.randint(0, 50))
        return moment

    def working_days(self, median: float, spread: float) -> int:
        if median <= 0:
            return 0
        return max(0, round(median * math.exp(self.rng.gauss(0.0, spread))))

    # -------------------------------------------------------------- choices

    def pick(self, choices: tuple[tuple[str, float], ...]) -> str:
        return self.rng.choices([c for c, _w in choices], weights=[w for _c, w in choices])[0]

    def speed(self, office: str) -> _Speed:
        return self.speeds.get(office, self.speeds["default"])

    def actor(self, office_id: int | None) -> Principal:
        """The office's operator where the demo has one; the region admin stands in for the rest."""
        return self.operators.get(office_id or 0, self.admin)

    def point(self, kec: str) -> tuple[float, float]:
        for name, _weight, geom, (min_lon, min_lat, max_lon, max_lat) in self.areas:
            if name == kec:
                while True:  # uniform in the bounding box, kept when inside the polygon
                    lon = self.rng.uniform(min_lon, max_lon)
                    lat = self.rng.uniform(min_lat, max_lat)
                    if geom.contains(Point(lon, lat)):
                        return round(lon, 6), round(lat, 6)
        raise ValueError(kec)

    def fill(self, template: str, places: dict[str, str]) -> str:
        return template.format(**places)

    def places(self, kec: str) -> dict[str, str]:
        d = self.data
        town = kec in d["town_kecamatan"]
        street = self.rng.choice(
            d["town_streets"] if town or self.rng.random() < 0.1 else d["village_streets"]
        )
        n = str(self.rng.randint(2, 5))
        return {
            "kec": kec,
            "n": n,
            "street": street.format(kec=kec),
            "place": self.rng.choice(d["places"]).format(n=self.rng.randint(1, 9)),
        }

    def person(self) -> tuple[str, str, str]:
        first = self.rng.choice(self.data["first_names"])
        last = self.rng.choice(self.data["last_names"])
        name = f"{first} {last}"
        phone = (
            f"08{self.rng.choice('1235789')}{self.rng.randint(10**8, 10**9 - 1)}"
            if self.rng.random() < 0.6
            else ""
        )
        handle = f"{first}.{last}".lower().replace(" ", "").replace("..", ".").replace("'", "")
        email = f"{handle}{self.rng.randint(1, 99)}@example.com" if self.rng.random() < 0.3 else ""
        return name, phone, email

    # -------------------------------------------------------------- filing

    def plan_day(self, day: date, index: int) -> None:
        """Queue the day's filings: the worker's nightly run first, then the reports."""
        self.schedule(datetime.combine(day, time(0, 5), tzinfo=self.tz).astimezone(UTC), "escalate", None)
        rainy = day.month in RAINY_MONTHS
        rate = PER_DAY * WEEKDAY[day.weekday()] * (0.85 + 0.3 * index / DAYS)  # the app catches on
        rate *= 1.15 if rainy else 0.94
        if not self.calendar.is_working_day(day) and day.weekday() < 5:
            rate *= 0.5  # a holiday
        weights = [k.weight * (k.rainy if rainy else 1.0) for k in self.kinds]
        for _ in range(self._poisson(rate)):
            hour = self.rng.choices(range(24), weights=HOURS)[0]
            local = datetime.combine(
                day, time(hour, self.rng.randint(0, 59), self.rng.randint(0, 59)), tzinfo=self.tz
            )
            self.schedule(local.astimezone(UTC), "file", self.rng.choices(self.kinds, weights=weights)[0])

    def _poisson(self, rate: float) -> int:
        threshold, count, product = math.exp(-rate), 0, self.rng.random()
        while product > threshold:
            count += 1
            product *= self.rng.random()
        return count

    def file_one(self, at: datetime, kind: _Kind) -> None:
        texts = kind.texts
        kec = self.rng.choices([a[0] for a in self.areas], weights=[a[1] for a in self.areas])[0]
        places = self.places(kec)
        roll = self.rng.random()
        reject: str | None = None
        original: _Case | None = None
        if roll < REJECT_DUPLICATE:
            recent = [
                c for c in self.recent.get(kind.code, []) if at - c.report.submitted_at < timedelta(days=21)
            ]
            if recent:
                reject, original = "duplicate", self.rng.choice(recent)
        elif roll < REJECT_DUPLICATE + REJECT_AUTHORITY and texts.get("not_authority"):
            reject = "not_authority"
        elif roll < REJECT_DUPLICATE + REJECT_AUTHORITY + REJECT_SPAM:
            reject = "spam"

        if original is not None:  # the same problem, seen by someone else a little later
            kec, places = original.kec, original.places
            title = original.report.title
            lat, lon = original.report.lat, original.report.lon
            if lat is not None and lon is not None:
                lat, lon = (
                    round(lat + self.rng.uniform(-3e-4, 3e-4), 6),
                    round(lon + self.rng.uniform(-3e-4, 3e-4), 6),
                )
            description = self.fill(self.rng.choice(texts["descriptions"]), places)
        elif reject == "spam":
            spam = self.rng.choice(self.data["spam"])
            title, description = spam["title"], spam["description"]
            lon, lat = self.point(kec)
        else:
            title = self.fill(self.rng.choice(texts["titles"]), places)
            description = self.fill(self.rng.choice(texts["descriptions"]), places)
            lon, lat = self.point(kec)
            if kind.code in self.data["service_categories"]["codes"] and self.rng.random() < 0.5:
                lat = lon = None  # a complaint about a service, not about a spot
        address = f"{places['street']}, Kec. {kec}" if lat is not None else f"Kec. {kec}, Kabupaten Jember"

        privacy = self.pick(PRIVACY)
        name, phone, email = self.person()
        if privacy == "anonymous" and self.rng.random() < 0.5:
            name = ""
        principal, reporter = ANONYMOUS, ANONYMOUS
        if self.citizen is not None and self.rng.random() < 0.01:
            principal = reporter = self.citizen  # the demo's citizen account, so "my reports" has some
        attributes: dict[str, object] = {}
        if kind.code == "jalan-rusak":
            attributes["tingkat"] = self.rng.choice(["ringan", "sedang", "sedang", "berat"])
        elif kind.has_attributes and self.rng.random() < 0.4:
            attributes["nomor_tiang"] = f"PJU-{self.rng.randint(100, 4999):04d}"
        filed = reports.file_report(
            self.session,
            principal=principal,
            region_id=self.region.id,
            category_id=kind.id,
            title=title,
            description=description,
            lat=lat,
            lon=lon,
            address=address,
            privacy=privacy,
            reporter_name=name,
            reporter_email=email,
            reporter_phone=phone,
            channel=self.pick(CHANNELS),
            attributes=attributes,
            now=at,
        )
        case = _Case(
            report=filed.report,
            kind=kind,
            kec=kec,
            reporter=reporter,
            reject=reject,
            duplicate_of=original.report.tracking_no if original else None,
            reassign=reject is None and "reassign" in texts and self.rng.random() < REASSIGN,
            places=places,
        )
        self.filed += 1
        if reject is None:
            recent = self.recent.setdefault(kind.code, [])
            recent.append(case)
            del recent[:-30]
        roll = self.rng.random()  # the verifiers: mostly within three working days, some late
        days = (
            0
            if roll < 0.3
            else 1
            if roll < 0.65
            else 2
            if roll < 0.82
            else 3
            if roll < 0.9
            else self.rng.randint(4, 8)
        )
        self.schedule(self.office_moment(at, days), "verify", case)

    # -------------------------------------------------------------- the steps

    def _verify(self, at: datetime, case: _Case) -> None:
        report = case.report
        if report.state != "submitted":
            return
        notes = self.data["notes"]
        if case.reject == "duplicate":
            note = notes["duplicate"].format(original=case.duplicate_of)
            reports.reject_report(
                self.session,
                principal=self.admin,
                report=report,
                reason="duplicate",
                duplicate_of=case.duplicate_of,
                note=note,
                now=at,
            )
        elif case.reject == "not_authority":
            note = self.rng.choice(case.kind.texts["not_authority"])
            reports.reject_report(
                self.session, principal=self.admin, report=report, reason="not_authority", note=note, now=at
            )
        elif case.reject == "spam":
            reports.reject_report(
                self.session, principal=self.admin, report=report, reason="spam", note=notes["spam"], now=at
            )
        else:
            reports.dispose_report(
                self.session,
                principal=self.admin,
                report=report,
                note=self.rng.choice(notes["dispose"]),
                now=at,
            )
            self._next_accept(at, case)

    def _next_accept(self, at: datetime, case: _Case) -> None:
        speed = self.speed(self.office_names.get(case.report.office_id or 0, ""))
        if self.rng.random() < speed.stuck / 3:
            return  # never even opened
        days = self.working_days(speed.accept, speed.spread)
        if days == 0 and not case.reassign and self.rng.random() < 0.5:
            # a quick office often replies at once, without marking the report as taken up first
            self.schedule(
                self.office_moment(at, self.working_days(speed.respond, speed.spread)), "respond", case
            )
            return
        self.schedule(self.office_moment(at, days), "accept", case)

    def _accept(self, at: datetime, case: _Case) -> None:
        report = case.report
        if report.state != "disposed":
            return
        note = self.rng.choice(self.data["notes"]["accept"])
        reports.accept_report(
            self.session, principal=self.actor(report.office_id), report=report, note=note, now=at
        )
        if case.reassign:
            self.schedule(self.office_moment(at, self.rng.randint(0, 2)), "reassign", case)
            return
        speed = self.speed(self.office_names.get(report.office_id or 0, ""))
        if self.rng.random() < speed.stuck:
            return  # taken up and then forgotten: an overdue report in the office's queue
        days = self.working_days(speed.respond, speed.spread)
        self.schedule(self.office_moment(at, days), "respond", case)

    def _reassign(self, at: datetime, case: _Case) -> None:
        report = case.report
        target = case.kind.texts["reassign"]
        office_id = self.office_ids[target["office"]]
        case.reassign = False
        if report.state not in ("disposed", "in_progress") or office_id == report.office_id:
            return
        reports.reassign_report(
            self.session,
            principal=self.actor(report.office_id),
            report=report,
            office_id=office_id,
            note=target["note"],
            now=at,
        )
        self._next_accept(at, case)

    def _respond(self, at: datetime, case: _Case) -> None:
        report = case.report
        if report.state not in ("disposed", "in_progress"):
            return
        key = "respond_again" if case.reopened else "responses"
        pool = self.data["notes"]["respond_again"] if case.reopened else case.kind.texts[key]
        note = self.fill(self.rng.choice(pool), case.places)
        reports.respond_report(
            self.session, principal=self.actor(report.office_id), report=report, note=note, now=at
        )
        roll = self.rng.random()
        if case.reopened:
            if roll < 0.65:
                self.schedule(self.citizen_moment(at, 2, 96), "close_resolved", case)
        elif roll < CLOSE_RESOLVED:
            self.schedule(self.citizen_moment(at, 1, 120), "close_resolved", case)
        elif roll < CLOSE_RESOLVED + CLOSE_UNRESOLVED:
            self.schedule(self.citizen_moment(at, 1, 120), "close_unresolved", case)
        elif roll < CLOSE_RESOLVED + CLOSE_UNRESOLVED + REOPEN:
            self.schedule(self.citizen_moment(at, 12, 168), "reopen", case)
        # otherwise the reporter stays silent and the worker closes it as "no answer"

    def _close_resolved(self, at: datetime, case: _Case) -> None:
        self._close(at, case, "resolved", "close_resolved")

    def _close_unresolved(self, at: datetime, case: _Case) -> None:
        self._close(at, case, "unresolved", "close_unresolved")

    def _close(self, at: datetime, case: _Case, resolution: str, notes: str) -> None:
        if case.report.state != "responded":
            return  # the worker closed it first
        reports.close_report(
            self.session,
            principal=case.reporter,
            report=case.report,
            resolution=resolution,
            note=self.rng.choice(self.data["notes"][notes]),
            has_code=True,
            now=at,
        )

    def _reopen(self, at: datetime, case: _Case) -> None:
        report = case.report
        if report.state != "responded":
            return
        reports.reopen_report(
            self.session,
            principal=case.reporter,
            report=report,
            note=self.rng.choice(self.data["notes"]["reopen"]),
            has_code=True,
            now=at,
        )
        case.reopened = True
        speed = self.speed(self.office_names.get(report.office_id or 0, ""))
        days = self.working_days(speed.respond * 0.6, speed.spread)
        self.schedule(self.office_moment(at, days), "respond", case)
