"""NGSI-LD context information API under /ngsi-ld/v1: entities, attributes, batches, discovery.

Temporal routes live in ``kotacerdas.hub.temporal_api``, subscriptions in ``kotacerdas.hub.subscriptions_api``.

This module is the API's one door: ``kotacerdas.app`` includes its ``router``, and its callers
(``temporal_api``, the tests) import from here. ``router`` holds the routes of the modules below,
included in this order, which is the order their paths match in; none of them imports this one:

- ``read_request``: what a read selects (type, id, idPattern, q, geo), may see, and how it renders.
- ``entities_api``: entities and their attributes, the entity queries (GET and POST).
- ``batch_api``: the batch operations.
- ``discovery_api``: types, attributes and the @contexts the hub serves.
"""

from __future__ import annotations

from fastapi import APIRouter

from kotacerdas.hub import batch_api, discovery_api, entities_api
from kotacerdas.hub.batch_api import (
    batch_create as batch_create,
    batch_delete as batch_delete,
    batch_merge as batch_merge,
    batch_update as batch_update,
    batch_upsert as batch_upsert,
)
from kotacerdas.hub.discovery_api import (
    attribute_info as attribute_info,
    list_attributes as list_attributes,
    list_types as list_types,
    serve_context as serve_context,
    type_info as type_info,
)
from kotacerdas.hub.entities_api import (
    COMMON as COMMON,
    QUERY_PARAMS as QUERY_PARAMS,
    RETRIEVE_PARAMS as RETRIEVE_PARAMS,
    append_attributes as append_attributes,
    create_entity as create_entity,
    delete_attribute as delete_attribute,
    delete_entity as delete_entity,
    merge_entity as merge_entity,
    partial_update as partial_update,
    query_entities as query_entities,
    query_post as query_post,
    replace_attribute as replace_attribute,
    replace_entity as replace_entity,
    retrieve_entity as retrieve_entity,
    update_attributes as update_attributes,
)
from kotacerdas.hub.read_request import (
    NOT_SUPPORTED as NOT_SUPPORTED,
    Selection as Selection,
    _check_readable as _check_readable,
    _readable as _readable,
    _types as _types,
    entity_selection as entity_selection,
)

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"])
router.include_router(entities_api.router)
router.include_router(batch_api.router)
router.include_router(discovery_api.router)
