"""The rows of a filed report, written with prepared statements (``reports.file_report`` decides what
they hold).

Filing is the citizen domain's hot write: a busy region files hundreds of reports a second on one
worker. Its statements run as ``db.Prepared`` statements, straight on the DBAPI cursor of the unit
of work's connection: SQLAlchemy's execute costs about three times what sqlite3 spends on such a
statement. The ORM's unit of work would cost more than the statements themselves for one new row.
The caller still gets an ORM ``Report``: built from exactly the values written (every column set,
the new id from ``RETURNING``), attached to the session as if it had been loaded when the caller
asks for it (``attach``), so it is persistent, later changes to it are flushed as usual, and reading
it issues no SQL. What a filing inserts is the same as before, row for row.

What filing needs of the region and the category (``Target``) is read the same way: their few
fields in one statement, on every filing (nothing cached, so a change counts at once), instead of
loading ORM rows (the region's with its boundary) for a handful of values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, inspect, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.sql.schema import ColumnDefault

from kotacerdas.citizen.models import Report, ReportCategory, ReportEvent
from kotacerdas.db import Prepared, direct
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


def _place(row: Sequence[Any]) -> Place:
    return Place(row[0], row[1], row[2], row[3], row[4], row[5])


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
_BY_CODES = Prepared(
    select(*_REGION_COLS, *_CATEGORY_COLS)
    .select_from(
        _REGION_T.outerjoin(
            _CATEGORY_T,
            (_CATEGORY_T.c.region_id == _REGION_T.c.id) & (_CATEGORY_T.c.code == bindparam("category_code")),
        )
    )
    .where(_REGION_T.c.code == bindparam("region_code"))
)
_PLACES = Prepared(select(*_REGION_COLS).order_by(_REGION_T.c.code))
_BY_IDS = Prepared(
    select(*_REGION_COLS, *_CATEGORY_COLS)
    .select_from(
        _REGION_T.outerjoin(
            _CATEGORY_T,
            (_CATEGORY_T.c.region_id == _REGION_T.c.id) & (_CATEGORY_T.c.id == bindparam("category_id")),
        )
    )
    .where(_REGION_T.c.id == bindparam("region_id"))
)


def _service(row: Sequence[Any], at: int) -> Service:
    """The category's ``_CATEGORY_NAMES`` read from ``row[at:]``."""
    return Service(
        row[at],
        row[at + 1],
        row[at + 2],
        row[at + 3],
        bool(row[at + 4]),
        bool(row[at + 5]),
        int(row[at + 6]),
        row[at + 7],
        row[at + 8],
    )


def _split(row: Sequence[Any]) -> tuple[Place, Service | None]:
    return _place(row), (_service(row, 6) if row[6] is not None else None)


def find_by_codes(
    session: Session, *, region_code: str, category_code: str
) -> tuple[Place | None, Service | None]:
    """The region and its category by their codes, in one statement (either may be missing)."""
    session.flush()  # a change of this unit of work counts (Core reads do not autoflush)
    params = {"region_code": region_code, "category_code": category_code}
    row = _BY_CODES.first(direct(session), params)
    if row is None:
        return None, None
    return _split(row)


def places(session: Session) -> list[Place]:
    """Every region, ordered by code (as ``regions.list_regions``), as filing needs it."""
    session.flush()
    return [_place(row) for row in _PLACES.rows(direct(session), {})]


def find_by_ids(session: Session, *, region_id: int, category_id: int) -> Target:
    """The region and one of its categories by id; NotFound as ``get_region``/``get_category``."""
    session.flush()
    params = {"region_id": region_id, "category_id": category_id}
    row = _BY_IDS.first(direct(session), params)
    if row is None:
        raise NotFound(_("Region not found."))
    place, service = _split(row)
    if service is None:
        raise NotFound(_("Report category not found."))
    return Target(place, service)


@dataclass(frozen=True)
class Offered:
    """A category as Open311's filing checks a request against it: what filing needs of it, and its
    service definition's attributes."""

    service: Service
    attributes: list[dict[str, Any]]


_OFFERED = Prepared(
    select(*[_CATEGORY_T.c[name] for name in _CATEGORY_NAMES], _CATEGORY_T.c.attributes).where(
        _CATEGORY_T.c.region_id == bindparam("region_id"), _CATEGORY_T.c.code == bindparam("code")
    )
)


def find_offered(session: Session, *, region_id: int, code: str) -> Offered | None:
    """The region's category by its code (``categories.get_category_by_code``, without the ORM row)."""
    session.flush()
    row = _OFFERED.first(direct(session), {"region_id": region_id, "code": code})
    if row is None:
        return None
    return Offered(_service(row, 0), list(row[9] or []))


_REPORT = cast(Table, Report.__table__)
_EVENT = cast(Table, ReportEvent.__table__)


def _insert(table: Table, *, returning_id: bool) -> Prepared:
    """INSERT of every column but the id (each a parameter of its own name and the column's type)."""
    stmt = insert(table).values(
        {c.key: bindparam(c.key, type_=c.type) for c in table.columns if c.key != "id"}
    )
    return Prepared(stmt.returning(table.c.id) if returning_id else stmt)


_INSERT_REPORT = _insert(_REPORT, returning_id=True)
_INSERT_EVENT = _insert(_EVENT, returning_id=False)
_REPORTS = manager_of_class(Report)


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
_EVENT_DEFAULTS, _EVENT_COMPUTED = _scalar_defaults(_EVENT)


def insert_report(session: Session, values: dict[str, Any]) -> Report:
    """Insert one report row and return it as a ``Report`` holding exactly the values written (every
    column, the new id from ``RETURNING``), not yet part of the session: ``attach`` makes it a
    persistent object of it. Reading it needs no session and issues no SQL.

    ``values`` must give every column whose default is computed (times, JSON); the others default to
    their constant default as an ORM insert would. The ``Report`` is made as the ORM makes a row it
    loads (its attributes set in its dict, no change events; ``Report(**row)`` cost 0.15 ms), and
    attached only when a caller wants it persistent (0.03 ms that the API's answer does not need)."""
    missing = _REPORT_COMPUTED - values.keys() - {"id"}
    if missing:
        raise ValueError(f"insert_report needs {sorted(missing)}")
    row = {**_REPORT_DEFAULTS, **values}
    row.pop("id", None)
    session.flush()  # rows the report refers to may still be pending in the session (a no-op otherwise)
    row["id"] = _INSERT_REPORT.scalar(direct(session), row)
    report: Report = _REPORTS.new_instance()
    instance_dict(report).update(row)
    return report


def attach(session: Session, report: Report) -> Report:
    """``report`` (from ``insert_report``) as a persistent object of ``session``, as if it had been
    loaded: later changes to it are flushed as usual. If the session has read the row since, the
    object it holds for it is the answer."""
    if report in session:
        return report
    if inspect(report).key is None:
        make_transient_to_detached(report)  # every attribute is set: it reads as loaded, not expired
    key = inspect(report).key
    held = session.identity_map.get(key) if key is not None else None
    if held is not None:
        found: Report = held
        return found
    session.add(report)
    return report


def insert_event(session: Session, values: dict[str, Any]) -> None:
    """Insert one timeline event row (``values`` gives every column whose default is computed; the
    others default as an ORM insert would). Nothing changes it after it is written."""
    missing = _EVENT_COMPUTED - values.keys() - {"id"}
    if missing:
        raise ValueError(f"insert_event needs {sorted(missing)}")
    row = {**_EVENT_DEFAULTS, **values}
    row.pop("id", None)
    _INSERT_EVENT.rows(direct(session), row)
