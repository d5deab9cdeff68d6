"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL.

Each test builds its own empty database (the shared test database must stay at head for the other
tests), migrates it to head, compares it with the models the way ``alembic revision --autogenerate``
would, then goes down to base and up again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from kotacerdas import migrate
from kotacerdas.db import make_engine
from kotacerdas.models import Base


def _empty_sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'migrations.sqlite3'}")
    yield engine
    engine.dispose()


def _empty_postgres(server_url: str) -> Iterator[Engine]:
    """A database of its own on the server the suite's ``postgres_url`` lives on."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"kc_migrations_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def empty_engine(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """On each backend the suite runs on (``backend`` from conftest: KOTACERDAS_TEST_BACKENDS)."""
    if backend == "sqlite":
        yield from _empty_sqlite(tmp_path)
    else:
        yield from _empty_postgres(request.getfixturevalue("postgres_url"))


def _model_diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True, "include_name": migrate.include_name}
        )
        return list(compare_metadata(context, Base.metadata))


def _tables(engine: Engine) -> set[str]:
    """Tables, without Alembic's own and the hub history's PostgreSQL partitions (made at run time)."""
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    return {n for n in names if migrate.include_name(n, "table", {})}


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_migrations_from_empty_to_head_build_what_the_models_describe(empty_engine: Engine) -> None:
    assert _tables(empty_engine) == set()

    migrate.upgrade(empty_engine)

    assert _tables(empty_engine) == set(Base.metadata.tables)
    assert _model_diff(empty_engine) == []


def test_downgrade_to_base_then_upgrade_again_gives_the_same_schema(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    head = _revision(empty_engine)
    assert head is not None

    migrate.downgrade(empty_engine, "base")
    assert _tables(empty_engine) == set()
    assert _revision(empty_engine) is None

    migrate.upgrade(empty_engine)
    assert _revision(empty_engine) == head
    assert _model_diff(empty_engine) == []


def test_upgrade_is_safe_to_run_again(empty_engine: Engine) -> None:
    """``kotacerdas serve`` and ``db upgrade`` migrate at every start; a second run changes nothing."""
    migrate.upgrade(empty_engine)
    migrate.upgrade(empty_engine)
    assert _model_diff(empty_engine) == []
