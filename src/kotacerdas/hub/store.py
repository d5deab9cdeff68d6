"""The hub's SQL: hot paths in raw SQL through the session's connection, one statement per batch.

Nothing here commits: the unit of work that owns the session does (one transaction per request or
per MQTT batch). SQL is written with ``?`` placeholders and converted for PostgreSQL.

History layout (``hub_history``): ONE ROW PER ENTITY AND INSTANT, not per attribute. A write's
instances are grouped by time (observedAt when present, else the write's modifiedAt) and stored as
``attrs`` = {attribute IRI: instance or [instances]}. Read them with ``read_history`` (it explodes rows
into ``HistoryInstance`` objects) and aggregate numbers in SQL with ``numeric_path_sql``. Per-attribute
rows were measured at ~10 µs of SQLite index work each, too slow for 20,000 entity updates/s.

This module is the store's one door: its callers (the hub's services, the tests and benchmarks)
import from here, so the code behind it can move between the modules below without them noticing.
None of them imports this one:

- ``store_sql``: the connection, placeholders, the driver's cursor, shared decoding and chunking.
- ``store_history``: history rows recorded (with redelivery dedupe), read back, numeric SQL paths.
- ``store_write``: ``Write``, the stored rows' indexed columns, inserts, updates, the type register,
  deletion.
- ``store_read``: rows into entities, the stored state of a merging batch, the ``StateCache``.
"""

from __future__ import annotations

from kotacerdas.hub.store_history import (
    SYSTEM_KEYS as SYSTEM_KEYS,
    HistoryInstance as HistoryInstance,
    _history_rows as _history_rows,
    history_rows as history_rows,
    numeric_path_sql as numeric_path_sql,
    read_history as read_history,
    record_history as record_history,
)
from kotacerdas.hub.store_read import (
    ENTITY_COLUMNS as ENTITY_COLUMNS,
    StateCache as StateCache,
    load_entities as load_entities,
    load_writes as load_writes,
    row_entity as row_entity,
    state_cache as state_cache,
    state_cache_of as state_cache_of,
)
from kotacerdas.hub.store_sql import (
    connection as connection,
    execute as execute,
    executemany as executemany,
    fetch_all as fetch_all,
    is_postgres as is_postgres,
    sql_for as sql_for,
)
from kotacerdas.hub.store_write import (
    StoredColumns as StoredColumns,
    Write as Write,
    _body as _body,
    delete_entities as delete_entities,
    existing_ids as existing_ids,
    existing_rows as existing_rows,
    location_bbox as location_bbox,
    register_types as register_types,
    write_entities as write_entities,
)
