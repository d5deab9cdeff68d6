"""Reports as a reader may see them: one place that decides which fields leave the server for whom,
shared by the JSON API, Open311 and the pages. Lookups (offices, categories, areas, photos) are read
once per page of reports, not once per report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from kotacerdas.citizen import access, labels
from kotacerdas.citizen.models import Report, ReportCategory, ReportEvent, ReportPhoto
from kotacerdas.citizen.reports import is_overdue
from kotacerdas.citizen.schemas import AreaRef, EventRead, OfficeRef, Reporter, ReportRead
from kotacerdas.i18n import gettext
from kotacerdas.region.models import Area, Office, Region
from kotacerdas.region.service import AreaPlace


class RegionRef(Protocol):
    """What the presenter needs of the region: a ``Region`` or filing's ``Place``."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...


class CategoryNames(Protocol):
    """What a report's answer shows of its category: a ``ReportCategory`` or filing's ``Service``."""

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def name_en(self) -> str: ...


class Presenter:
    def __init__(self, session: Session, region: Region | RegionRef, lang: str = "id") -> None:
        self.session = session
        self.region = region
        self.lang = lang
        self._offices: dict[int, Office] | None = None
        self._categories: dict[int, ReportCategory] | None = None
        self._given: dict[int, CategoryNames] = {}  # categories the caller already holds
        self._areas: dict[int, Area | AreaPlace] = {}
        self._photos: dict[int, list[ReportPhoto]] = {}
        self._tracking: dict[int, str] = {}

    def _load_lookups(self) -> None:
        """Every office and category of the region at once: for a page of reports."""
        if self._offices is None:
            rows = self.session.scalars(select(Office).where(Office.region_id == self.region.id))
            self._offices = {o.id: o for o in rows}
        if self._categories is None:
            found = self.session.scalars(
                select(ReportCategory).where(ReportCategory.region_id == self.region.id)
            )
            self._categories = {c.id: c for c in found}

    def _office(self, office_id: int) -> Office | None:
        if self._offices is not None:
            return self._offices.get(office_id)
        office = self.session.get(Office, office_id)  # one report: the identity map, not the whole list
        return office if office is not None and office.region_id == self.region.id else None

    def _category(self, category_id: int) -> CategoryNames:
        given = self._given.get(category_id)
        if given is not None:
            return given
        if self._categories is not None:
            return self._categories[category_id]
        category = self.session.get(ReportCategory, category_id)
        if category is None or category.region_id != self.region.id:
            raise KeyError(category_id)
        return category

    def office_ref(self, office_id: int | None) -> OfficeRef | None:
        office = self._office(office_id) if office_id else None
        return OfficeRef(id=office.id, short_name=office.short_name, name=office.name) if office else None

    def category_name(self, category: CategoryNames) -> str:
        return category.name_en if self.lang == "en" and category.name_en else category.name

    def prefetch(self, reports: Sequence[Report], *, lookups: bool = True) -> None:
        """Read what a page of reports shows in a few queries (``lookups``: every office and category)."""
        if lookups:
            self._load_lookups()
        ids = [r.id for r in reports if r.id not in self._photos]
        if ids:
            for photo in self.session.scalars(
                select(ReportPhoto).where(ReportPhoto.report_id.in_(ids)).order_by(ReportPhoto.position)
            ):
                self._photos.setdefault(photo.report_id, []).append(photo)
            for report_id in ids:
                self._photos.setdefault(report_id, [])
        area_ids = {r.area_id for r in reports if r.area_id and r.area_id not in self._areas}
        if area_ids:
            for area in self.session.scalars(select(Area).where(Area.id.in_(area_ids))):
                self._areas[area.id] = area
        dup_ids = {
            r.duplicate_of_id
            for r in reports
            if r.duplicate_of_id and r.duplicate_of_id not in self._tracking
        }
        if dup_ids:
            for rid, no in self.session.execute(
                select(Report.id, Report.tracking_no).where(Report.id.in_(dup_ids))
            ):
                self._tracking[rid] = no

    def photo_urls(self, report: Report) -> list[str]:
        if report.id not in self._photos:
            self.prefetch([report], lookups=False)
        base = f"/api/v1/regions/{self.region.code}/reports/{report.tracking_no}/photos"
        return [f"{base}/{p.position}" for p in self._photos[report.id]]

    def read_filed(
        self, report: Report, area: AreaPlace | None, category: CategoryNames | None = None
    ) -> ReportRead:
        """A report this unit of work has just filed, without photos, as its reporter sees it: its
        category (given, or in the session's identity map) and its kecamatan are known, so nothing is
        read again."""
        if category is not None:
            self._given[report.category_id] = category
        self._photos.setdefault(report.id, [])
        if area is not None and area.id == report.area_id:
            self._areas[area.id] = area
        return self.read(report, "reporter")

    def read(self, report: Report, role: access.Role) -> ReportRead:
        if report.id not in self._photos:
            self.prefetch([report], lookups=False)
        category = self._category(report.category_id)
        area = self._areas.get(report.area_id) if report.area_id else None
        reporter = None
        if access.shows_identity(role, report):
            reporter = Reporter(
                name=report.reporter_name, email=report.reporter_email, phone=report.reporter_phone
            )
        return ReportRead(
            tracking_no=report.tracking_no,
            title=report.title,
            description=report.description,
            category=category.code,
            category_name=self.category_name(category),
            state=report.state,
            state_label=labels.state_label(self.lang, report),
            resolution=report.resolution,
            reject_reason=report.reject_reason,
            duplicate_of=self._tracking.get(report.duplicate_of_id) if report.duplicate_of_id else None,
            privacy=report.privacy,
            office=self.office_ref(report.office_id),
            area=AreaRef(id=area.id, code=area.code, name=area.name) if area else None,
            lat=report.lat,
            lon=report.lon,
            address=report.address,
            status_note=report.status_note,
            supporters=report.supporters,
            photos=self.photo_urls(report),
            channel=report.channel,
            submitted_at=report.submitted_at,
            updated_at=report.updated_at,
            due_at=report.due_at,
            overdue=is_overdue(report),
            verify_due_at=report.verify_due_at,
            respond_due_at=report.respond_due_at,
            close_due_at=report.close_due_at,
            verified_at=report.verified_at,
            first_response_at=report.first_response_at,
            closed_at=report.closed_at,
            reporter=reporter,
            suggested_office=self.office_ref(report.suggested_office_id) if role == "admin" else None,
        )

    def event(self, event: ReportEvent, role: access.Role, report: Report) -> EventRead:
        # the public and the reporter see which office acted, never which civil servant; an anonymous
        # reporter's own step names nobody to the office either
        actor = event.actor_label if role in ("admin", "office") else ""
        if event.kind == "submitted" and not access.shows_identity(role, report):
            actor = ""
        return EventRead(
            at=event.at,
            kind=event.kind,
            label=gettext(self.lang, labels.EVENT_LABELS.get(event.kind, event.kind)),
            from_state=event.from_state,
            to_state=event.to_state,
            office=self.office_ref(event.office_id),
            actor=actor,
            note=event.note,
            public=event.public,
        )
