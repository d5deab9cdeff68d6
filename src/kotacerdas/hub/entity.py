"""Entities in the hub: parse NGSI-LD input into the internal form, merge changes, render output.

The internal form keeps expanded IRIs as attribute names (so it does not depend on any client's
@context) and the NGSI-LD normalized member names inside each attribute instance. See
``/work/notes``-independent description in docs/hub.md ("Internal representation").

This module is the sub-domain's one door: its callers (the hub's services, geo, q, the tests and
benchmarks) import from here, so the code behind it can move between the modules below without them
noticing. Each module imports only the ones listed before it, and none imports this one:

- ``entity_model``: the vocabulary (kinds, value members, core members, limits), ``Entity``, and the
  changes made to attribute instances (stamp, find, put, remove, partial merge).
- ``entity_time``: ISO 8601 date-times to and from microseconds since the epoch, the current time.
- ``entity_parse``: ``Parser`` and the checks of ids, names, geometries and JSON values.
- ``entity_render``: ``Rendering`` and ``Renderer``, the NGSI-LD output formats.
"""

from __future__ import annotations

from kotacerdas.hub.entity_model import (
    CORE_MEMBERS as CORE_MEMBERS,
    ENTITY_MEMBERS as ENTITY_MEMBERS,
    GEO_ATTRIBUTES as GEO_ATTRIBUTES,
    GEOMETRY_TYPES as GEOMETRY_TYPES,
    GEOPROPERTY as GEOPROPERTY,
    JSONPROP as JSONPROP,
    LANGUAGE as LANGUAGE,
    LISTPROP as LISTPROP,
    LISTREL as LISTREL,
    LOCATION as LOCATION,
    MAX_ATTRIBUTES as MAX_ATTRIBUTES,
    MAX_DEPTH as MAX_DEPTH,
    MAX_NAME as MAX_NAME,
    MEMBER_KIND as MEMBER_KIND,
    NULL as NULL,
    PROPERTY as PROPERTY,
    RELATIONSHIP as RELATIONSHIP,
    SYSTEM_MEMBERS as SYSTEM_MEMBERS,
    VALUE_MEMBER as VALUE_MEMBER,
    VOCAB as VOCAB,
    Entity as Entity,
    find_instance as find_instance,
    instances_of as instances_of,
    merge_partial as merge_partial,
    put_instance as put_instance,
    remove_instance as remove_instance,
    stamp as stamp,
)
from kotacerdas.hub.entity_parse import (
    _URI as _URI,
    Parser as Parser,
    _looks_like_geometry as _looks_like_geometry,
    check_entity_id as check_entity_id,
    check_name as check_name,
)
from kotacerdas.hub.entity_render import (
    Renderer as Renderer,
    Rendering as Rendering,
)
from kotacerdas.hub.entity_time import (
    canonical_datetime as canonical_datetime,
    format_us as format_us,
    now_us as now_us,
    parse_datetime as parse_datetime,
)
