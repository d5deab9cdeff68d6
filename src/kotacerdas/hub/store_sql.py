"""The hub's SQL plumbing: the session's connection, ``?`` placeholders converted for PostgreSQL,
statements through the driver's own cursor, and the helpers every part of the store shares (a stored
JSON body decoded, ids cut into chunks a statement's parameter limit accepts).

Nothing here commits: the unit of work that owns the session does. Every other ``store_*`` module
builds on this one; it imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.orm import Session


def connection(session: Session) -> Connection:
    return session.connection()


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


@lru_cache(maxsize=4096)
def _pg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def sql_for(conn: Connection, sql: str) -> str:
    return _pg(sql) if is_postgres(conn) else sql


def execute(conn: Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    return conn.exec_driver_sql(sql_for(conn, sql), tuple(params))


def fetch_all(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of a query as the driver's plain tuples, through its own cursor in the session's
    transaction (no result objects: for the batch lookups, 1,000 rows at a time)."""
    raw: Any = conn.connection.dbapi_connection
    cursor = raw.cursor()
    try:
        cursor.execute(sql_for(conn, sql), tuple(params))
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    finally:
        cursor.close()
    return rows


def executemany(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(sql_for(conn, sql), rows)


def _loads(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, str)):
        loaded: dict[str, Any] = orjson.loads(body)
        return loaded
    return {}


def _chunks(items: Sequence[Any], size: int = 900) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
