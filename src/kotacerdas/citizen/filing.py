"""The rows of a filed report, written with SQLAlchemy Core (``reports.file_report`` decides what they hold).

Filing is the citizen domain's hot write: a busy region files hundreds of reports a second on one
worker. The ORM's unit of work costs more than the statements themselves for one new row, so the
report and its first timeline event are inserted with Core. The caller still gets an ORM ``Report``:
built from exactly the values written (every column set, the new id from ``RETURNING``) and attached
to the session as if it had been loaded, so it is persistent, later changes to it are flushed as
usual, and reading it issues no SQL. What a filing inserts is the same as before, row for row.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.sql.schema import ColumnDefault

from kotacerdas.citizen.models import Report, ReportEvent

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
