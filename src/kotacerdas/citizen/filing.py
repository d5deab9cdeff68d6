"""The rows of a filed report, written with SQLAlchemy Core (``reports.file_report`` decides what they hold).

Filing is the citizen domain's hot write: a busy region files hundreds of reports a second on one
worker. The ORM's unit of work costs more than the statements themselves for one new row, so the
report and its first timeline event are inserted with Core. The caller still gets an ORM ``Report``:
built from exactly the values written (every column set, the new id from ``RETURNING``) and attached
to the session as if it had been loaded, so it is persistent, later changes to it are flushed as
usual, and reading it issues no SQL. What a filing inserts is the same as before, row for row.

What filing needs of the region and the category (``Target``) is read the same way: their few
fields in one Core statement, on every filing (nothing cached, so a change counts at once), instead
of loading ORM rows (the region's with its boundary) for a handful of values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.sql.schema import ColumnDefault

from kotacerdas.citizen.models import Report, ReportCategory, ReportEvent
from kotacerdas.errors import NotFound
from kotacerdas.i18n import _
from kotacerdas.region.models import Region


@dataclass(frozen=True)
class Place:
    """What filing needs of the region (``updated_at`` keys its cached bounding box)."""

    id: int
    code: str
    name: str
    abbreviation: str
    timezone: str
    updated_at: datetime | None


@dataclass(frozen=True)
class Service:
    """What filing and its answer need of the report category."""

    id: int
    code: str
    name: str
    name_en: str
    active: bool
    is_private: bool
    verify_days: int
    office_id: int | None
    open311_type: str


@dataclass(frozen=True)
class Target:
    """Where a report is filed: read in one statement for the hot path, never cached (always current)."""

    region: Place
    category: Service


def _place(row: Any) -> Place:
    return Place(row.id, row.code, row.name, row.abbreviation, row.timezone, row.updated_at)


def service_of(row: ReportCategory) -> Service:
    """From a category the caller has loaded (and not changed since it was last flushed)."""
    return Service(
        row.id,
        row.code,
        row.name,
        row.name_en,
        row.active,
        row.is_private,
        row.verify_days,
        row.office_id,
        row.open311_type,
    )


_REGION_T = cast(Table, Region.__table__)
_CATEGORY_T = cast(Table, ReportCategory.__table__)
_REGION_COLS = [
    _REGION_T.c[name] for name in ("id", "code", "name", "abbreviation", "timezone", "updated_at")
]
_CATEGORY_NAMES = (
    "id",
    "code",
    "name",
    "name_en",
    "active",
    "is_private",
    "verify_days",
    "office_id",
    "open311_type",
)
_CATEGORY_COLS = [_CATEGORY_T.c[name].label(f"c_{name}") for name in _CATEGORY_NAMES]
_BY_CODES = (
    select(*_REGION_COLS, *_CATEGORY_COLS)
    .select_from(
        _REGION_T.outerjoin(
            _CATEGORY_T,
            (_CATEGORY_T.c.region_id == _REGION_T.c.id) & (_CATEGORY_T.c.code == bindparam("category_code")),
        )
    )
    .where(_REGION_T.c.code == bindparam("region_code"))
)
_PLACES = select(*_REGION_COLS).order_by(_REGION_T.c.code)
_BY_IDS = (
    select(*_REGION_COLS, *_CATEGORY_COLS)
    .select_from(
        _REGION_T.outerjoin(
            _CATEGORY_T,
            (_CATEGORY_T.c.region_id == _REGION_T.c.id) & (_CATEGORY_T.c.id == bindparam("category_id")),
        )
    )
    .where(_REGION_T.c.id == bindparam("region_id"))
)


def _split(row: Any) -> tuple[Place, Service | None]:
    place = _place(row)
    if row.c_id is None:
        return place, None
    c = {name: getattr(row, f"c_{name}") for name in _CATEGORY_NAMES}
    return place, Service(
        c["id"],
        c["code"],
        c["name"],
        c["name_en"],
        bool(c["active"]),
        bool(c["is_private"]),
        int(c["verify_days"]),
        c["office_id"],
        c["open311_type"],
    )


def find_by_codes(
    session: Session, *, region_code: str, category_code: str
) -> tuple[Place | None, Service | None]:
    """The region and its category by their codes, in one statement (either may be missing)."""
    session.flush()  # a change of this unit of work counts (Core reads do not autoflush)
    params = {"region_code": region_code, "category_code": category_code}
    row = session.connection().execute(_BY_CODES, params).one_or_none()
    if row is None:
        return None, None
    return _split(row)


def places(session: Session) -> list[Place]:
    """Every region, ordered by code (as ``regions.list_regions``), as filing needs it."""
    session.flush()
    return [_place(row) for row in session.connection().execute(_PLACES)]


def find_by_ids(session: Session, *, region_id: int, category_id: int) -> Target:
    """The region and one of its categories by id; NotFound as ``get_region``/``get_category``."""
    session.flush()
    params = {"region_id": region_id, "category_id": category_id}
    row = session.connection().execute(_BY_IDS, params).one_or_none()
    if row is None:
        raise NotFound(_("Region not found."))
    place, service = _split(row)
    if service is None:
        raise NotFound(_("Report category not found."))
    return Target(place, service)


_REPORT = cast(Table, Report.__table__)
_EVENT = cast(Table, ReportEvent.__table__)
_INSERT_REPORT = insert(_REPORT).returning(_REPORT.c.id)
_INSERT_EVENT = insert(_EVENT)


def _scalar_defaults(table: Table) -> tuple[dict[str, Any], frozenset[str]]:
    """Each column's constant default (None without one), and the columns whose default is computed
    (a callable: the caller must give those)."""
    constants: dict[str, Any] = {}
    computed = set()
    for column in table.columns:
        default = column.default
        if default is None:
            constants[column.key] = None
        elif isinstance(default, ColumnDefault) and default.is_scalar:
            constants[column.key] = default.arg
        else:
            computed.add(column.key)
    return constants, frozenset(computed)


_REPORT_DEFAULTS, _REPORT_COMPUTED = _scalar_defaults(_REPORT)


def insert_report(session: Session, values: dict[str, Any]) -> Report:
    """Insert one report row and return it as a persistent ``Report`` of ``session`` (no SQL to read it).

    ``values`` must give every column whose default is computed (times, JSON); the others default to
    their constant default as an ORM insert would."""
    missing = _REPORT_COMPUTED - values.keys() - {"id"}
    if missing:
        raise ValueError(f"insert_report needs {sorted(missing)}")
    row = {**_REPORT_DEFAULTS, **values}
    row.pop("id", None)
    session.flush()  # rows the report refers to may still be pending in the session (a no-op otherwise)
    report_id = session.connection().execute(_INSERT_REPORT, row).scalar_one()
    report = Report(**row)
    report.id = report_id
    make_transient_to_detached(report)  # every attribute is set: it reads as loaded, not expired
    session.add(report)
    return report


def insert_event(session: Session, values: dict[str, Any]) -> ReportEvent:
    """Insert one timeline event row; the returned ``ReportEvent`` carries its values (for the
    notifications) but is not part of the session: nothing changes it after it is written."""
    session.connection().execute(_INSERT_EVENT, values)
    return ReportEvent(**values)
