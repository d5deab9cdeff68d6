"""The temporal evolution of entities (GS CIM 009, 5.6.11-5.6.16, 5.7.3, 5.7.4) over ``hub_history``.

Words: an *instance* is one value of one attribute in history; its *time* is the temporal property
the query names (``observedAt`` by default, else ``modifiedAt``, ``createdAt``, ``deletedAt``); the
*window* is what ``timerel``/``timeAt``/``endTimeAt`` select (before: exclusive, after: inclusive,
between: inclusive lower, exclusive upper). Instances without the temporal property never match a
window; with no window every instance matches.

This module is the sub-domain's one door: its callers (``temporal_api``, ``maintenance``, the tests
and benchmarks) import from here, so the code behind it can move between the modules below without
them noticing. Each module imports only the ones listed before it, and none imports this one:

- ``temporal_query``: the query parameters (timerel, timeAt, lastN, aggrMethods, durations) checked
  and converted; attribute instance ids.
- ``temporal_read``: an entity's instances in a window, lastN, the 206 page; the answer's shapes.
- ``temporal_aggregate``: aggregatedValues, in SQL per period, with ``aggregate_cache``.
- ``temporal_write``: creating, adding, editing and deleting instances.
"""

from __future__ import annotations

from kotacerdas.hub.temporal_aggregate import (
    NULL_TEXT as NULL_TEXT,
    aggregate as aggregate,
    aggregate_key as aggregate_key,
    aggregate_rows as aggregate_rows,
    history_attributes as history_attributes,
)
from kotacerdas.hub.temporal_query import (
    AGGR_METHODS as AGGR_METHODS,
    INSTANCE_PREFIX as INSTANCE_PREFIX,
    MAX_LAST_N as MAX_LAST_N,
    NONE_DATASET as NONE_DATASET,
    TIME_PROPERTIES as TIME_PROPERTIES,
    TIMERELS as TIMERELS,
    Aggregation as Aggregation,
    TimeQuery as TimeQuery,
    aggregation as aggregation,
    instance_key as instance_key,
    instance_uri as instance_uri,
    parse_duration as parse_duration,
    time_query as time_query,
)
from kotacerdas.hub.temporal_read import (
    ALL as ALL,
    FIRST_PAGE as FIRST_PAGE,
    SCAN_PAGE as SCAN_PAGE,
    Instance as Instance,
    Selection as Selection,
    Series as Series,
    Span as Span,
    TemporalEntity as TemporalEntity,
    has_instances as has_instances,
    load_entity as load_entity,
    page_range as page_range,
    read_instances as read_instances,
    scan as scan,
)
from kotacerdas.hub.temporal_write import (
    add_instances as add_instances,
    delete_attribute_history as delete_attribute_history,
    delete_instance as delete_instance,
    delete_temporal_entity as delete_temporal_entity,
    modify_instance as modify_instance,
    upsert_temporal as upsert_temporal,
)
