"""``db.Prepared``: statements run straight on the DBAPI cursor give and take the values SQLAlchemy's
execute would (times, JSON, booleans), raise SQLAlchemy's errors, and follow a SAVEPOINT's fate, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kotacerdas.citizen.models import ReportCategory
from kotacerdas.db import Prepared, direct

CATEGORY = cast(Table, ReportCategory.__table__)
VALUES: dict[str, Any] = {
    "code": "lampu-mati",
    "name": "Lampu jalan mati",
    "name_en": "Street light out",
    "description": "",
    "group": "infrastruktur",
    "keywords": "",
    "office_id": None,
    "verify_days": 3,
    "respond_days": 5,
    "close_days": 10,
    "duplicate_radius_m": 50,
    "is_private": True,
    "open311_type": "realtime",
    "attributes": [{"code": "tiang", "datatype": "string", "required": False, "values": []}],
    "active": False,
    "created_at": datetime(2026, 3, 1, 1, 2, 3, 456789, tzinfo=UTC),
    "updated_at": datetime(2026, 3, 2, 4, 5, 6, 7, tzinfo=UTC),
}
INSERT = Prepared(
    insert(CATEGORY)
    .values({c.key: bindparam(c.key, type_=c.type) for c in CATEGORY.columns if c.key != "id"})
    .returning(CATEGORY.c.id)
)
READ = select(CATEGORY.c.name, CATEGORY.c.attributes, CATEGORY.c.is_private, CATEGORY.c.updated_at).where(
    CATEGORY.c.region_id == bindparam("region_id"), CATEGORY.c.code == bindparam("code")
)
PREPARED_READ = Prepared(READ)


def _insert(db: Session, region_id: int, **changes: Any) -> int:
    found: int = INSERT.scalar(direct(db), {**VALUES, "region_id": region_id, **changes})
    return found


def test_values_written_and_read_are_those_of_sqlalchemy(db: Session, world: dict[str, Any]) -> None:
    region_id = world["jember"].id
    category_id = _insert(db, region_id)
    stored = db.get(ReportCategory, category_id)
    assert stored is not None
    assert stored.attributes == VALUES["attributes"]
    assert (stored.is_private, stored.active) == (True, False)
    assert stored.updated_at.replace(tzinfo=UTC) == VALUES["updated_at"]
    params = {"region_id": region_id, "code": "lampu-mati"}
    # the rows as ``Connection.execute`` gives them: the same types, JSON parsed, times as datetimes
    assert PREPARED_READ.rows(direct(db), params) == [tuple(row) for row in db.execute(READ, params)]
    assert PREPARED_READ.first(direct(db), {"region_id": region_id, "code": "tidak-ada"}) is None


def test_an_error_is_sqlalchemys(db: Session, world: dict[str, Any]) -> None:
    _insert(db, world["jember"].id)
    with pytest.raises(IntegrityError), db.begin_nested():  # (region_id, code) is unique
        _insert(db, world["jember"].id)


def test_a_write_in_a_savepoint_that_rolls_back_is_gone(db: Session, world: dict[str, Any]) -> None:
    region_id = world["jember"].id
    _insert(db, region_id)  # before the SAVEPOINT: stays
    with pytest.raises(RuntimeError), db.begin_nested():
        _insert(db, region_id, code="sampah")
        raise RuntimeError("the unit of work failed")
    codes = db.scalars(select(ReportCategory.code).where(ReportCategory.region_id == region_id)).all()
    assert "lampu-mati" in codes and "sampah" not in codes
