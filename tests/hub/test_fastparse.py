"""The batch parser's fast path gives what the general parser gives, for every shape, good or bad.

``FastParser`` (batch create/upsert/update) handles the common attribute shapes itself and leaves the
rest to ``Parser``; here both parse the same inputs and must agree on the entity or on the
ProblemDetails (type, title and detail). The general path is ``Parser`` without its own shortcut for
scalar Properties and Relationships, so that shortcut is held to the same rule.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hubdata import traffic

from kotacerdas.hub.context import ContextResolver
from kotacerdas.hub.entity import Entity, Parser
from kotacerdas.hub.fastparse import FastParser
from kotacerdas.hub.problems import NgsiError

BASE = {"id": "urn:ngsi-ld:Thing:jember:1", "type": "Thing"}
WHEN = "2026-11-20T07:00:00Z"
POINT = {"type": "Point", "coordinates": [113.7, -8.17]}

# attribute values, each tried as attribute "a" of an entity (and some as "location")
ATTRIBUTES: list[Any] = [
    {"type": "Property", "value": 1},
    {"type": "Property", "value": 1.5, "observedAt": WHEN, "unitCode": "KMH"},
    {"type": "Property", "value": True, "unitCode": "C62", "observedAt": "2026-11-20T07:00:00.5+07:00"},
    {"type": "Property", "value": "teks", "datasetId": "urn:ngsi-ld:Dataset:a"},
    {"type": "Property", "value": {"@type": "DateTime", "@value": WHEN}, "observedAt": WHEN},
    {"type": "Property", "value": [1, 2.5, "x", None, True]},
    {"type": "Property", "value": {"nested": {"deeper": [1, {"x": 2}]}}},
    {"type": "Property", "value": [[1, 2], [3, 4]]},
    {"type": "Property", "value": {}},
    {"type": "Property", "value": []},
    {"type": "Property", "value": "urn:ngsi-ld:null"},  # NGSI-LD Null: refused outside updates
    {"type": "Property", "value": None},
    {"type": "Property"},
    {"type": "Property", "value": math.inf},
    {"type": "Property", "value": [1, math.nan]},
    {"type": "Property", "value": 1, "observedAt": "yesterday"},
    {"type": "Property", "value": 1, "observedAt": 5},
    {"type": "Property", "value": 1, "unitCode": ""},
    {"type": "Property", "value": 1, "unitCode": 3},
    {"type": "Property", "value": 1, "datasetId": "not a uri"},
    {"type": "Property", "value": 1, "object": "urn:x:1"},  # a member of another kind
    {"type": "Property", "value": 1, "createdAt": WHEN, "modifiedAt": WHEN, "instanceId": "urn:x:i"},
    {"type": "Property", "value": 1, "@context": "ignored", "entity": "ignored"},
    {"type": "Property", "value": 1, "previousValue": 0},
    {"type": "Property", "value": 1, "lang": "id"},
    {"type": "Property", "value": 1, "observedBy": {"type": "Relationship", "object": "urn:x:sensor"}},
    {"type": "Property", "value": 1, "accuracy": {"type": "Property", "value": 0.5, "observedAt": WHEN}},
    {"type": "Property", "value": 1, "accuracy": 0.5},
    {"value": 1, "type": "Property", "observedAt": WHEN},  # members in another order
    {"value": 7, "observedAt": WHEN},  # type left out (the MQTT compact form)
    {"value": 1.5, "unitCode": "KMH", "observedAt": WHEN},
    {"value": {"@type": "DateTime", "@value": WHEN}, "observedAt": "2026-11-20T07:00:00+07:00"},
    {"value": [1, "x", None], "datasetId": "urn:ngsi-ld:Dataset:a"},
    {"value": POINT},  # a geometry: a GeoProperty
    {"value": POINT, "observedAt": WHEN},
    {"value": {"type": "Point"}},  # no coordinates: a JSON value
    {"value": {"type": "Point", "coordinates": [200, 0]}},
    {"value": "urn:ngsi-ld:null"},
    {"value": None, "observedAt": WHEN},
    {"value": math.nan},
    {"value": [1, math.inf]},
    {"value": 1, "observedAt": "yesterday"},
    {"value": 1, "unitCode": ""},
    {"value": 1, "datasetId": "not a uri"},
    {"value": 1, "observedAt": WHEN, "accuracy": 0.5},  # a sub-attribute
    {"value": 1, "object": "urn:x:1"},
    {"value": 1, "type": "Property"},
    {"type": "Relationship", "object": "urn:ngsi-ld:RoadSegment:1", "observedAt": WHEN},
    {"type": "Relationship", "object": "urn:ngsi-ld:RoadSegment:1", "datasetId": "urn:x:d"},
    {"type": "Relationship", "object": "urn:ngsi-ld:null"},
    {"type": "Relationship", "object": "not a uri"},
    {"type": "Relationship", "object": ["urn:x:1", "urn:x:2"]},
    {"type": "Relationship", "object": "urn:x:1", "value": 3},
    {"type": "Relationship", "object": "urn:x:1", "objectType": "RoadSegment"},
    {"type": "Relationship", "value": "urn:x:1"},
    {"type": "GeoProperty", "value": POINT},
    {"type": "GeoProperty", "value": POINT, "observedAt": WHEN},
    {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
    {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [200, 0]}},
    {"type": "GeoProperty", "value": {"type": "Circle", "coordinates": [1, 1]}},
    {"type": "GeoProperty", "value": "urn:ngsi-ld:null"},
    {"type": "LanguageProperty", "languageMap": {"id": "jalan", "en": "road"}},
    {"type": "LanguageProperty", "languageMap": {}},
    {"type": "VocabProperty", "vocab": "Property"},
    {"type": "JsonProperty", "json": {"a": [1, 2]}},
    {"type": "ListProperty", "valueList": [1, 2, 3]},
    {"type": "ListRelationship", "objectList": [{"object": "urn:x:1"}]},
    {"type": "Unknown", "value": 1},
    {"type": 5, "value": 1},
    [
        {"type": "Property", "value": 1, "datasetId": "urn:x:a"},
        {"type": "Property", "value": 2, "datasetId": "urn:x:b"},
    ],
    [{"type": "Property", "value": 1}, {"type": "Property", "value": 2}],  # the same datasetId twice
    [{"type": "Property", "value": 1}],
    POINT,
    42,
    "concise",
    None,
    [1, 2, 3],
]

ENTITIES: list[Any] = [
    traffic(1),
    traffic(2, observed="2026-11-20T07:00:00+07:00"),
    {**BASE, "scope": "/Jember/Kaliwates", "a": {"type": "Property", "value": 1}},
    {**BASE, "scope": "Jember", "a": {"type": "Property", "value": 1}},
    {**BASE, "@context": "https://example.org/ctx.jsonld", "createdAt": WHEN, "a": 1},
    {**BASE, "type": ["Thing", "Device", "Thing"]},
    {**BASE, "type": []},
    {**BASE, "type": "bad type"},
    {"id": "not a uri", "type": "Thing"},
    {"id": 5, "type": "Thing"},
    {"type": "Thing"},
    {**BASE, "value": {"type": "Property", "value": 1}},  # an NGSI-LD member as an attribute name
    {**BASE, "bad name": {"type": "Property", "value": 1}},
    {**BASE, "ngsi-ld:a": {"type": "Property", "value": 1}, "a": {"type": "Property", "value": 2}},
    {**BASE, "https://example.org/a": {"type": "Property", "value": 1}},
    {**BASE, "location": {"type": "Property", "value": 1}},
    {**BASE, "location": {"type": "Relationship", "object": "urn:x:1"}},
    {**BASE, "location": POINT},
    {**BASE, "location": [{"type": "GeoProperty", "value": POINT}]},
    {**BASE, **{f"a{i}": i for i in range(1001)}},
    [BASE],
    "entity",
]


class _GeneralParser(Parser):
    """``Parser`` without its shortcut for scalar Properties and Relationships: the general path alone."""

    def _fast(self, iri: str, raw: dict[str, Any]) -> dict[str, Any] | None:
        return None


def _general(ctx: Any) -> Parser:
    return _GeneralParser(ctx)


def _outcome(parse: Any, raw: Any) -> tuple[str, Any]:
    try:
        entity: Entity = parse(copy.deepcopy(raw))
    except NgsiError as exc:
        return "error", exc.body()
    return "entity", (entity.id, entity.types, entity.attrs, entity.scope)


def _cases() -> list[Any]:
    cases = list(ENTITIES)
    for value in ATTRIBUTES:
        cases.append({**BASE, "a": value})
        cases.append({**BASE, "location": value})
        cases.append({**BASE, "b": {"type": "Property", "value": 0}, "a": value, "c": 1})
    return cases


@pytest.mark.parametrize("raw", _cases())
def test_fast_and_general_parsers_agree(raw: Any) -> None:
    ctx = ContextResolver(preloaded=lambda _url: None).core
    expected = _outcome(_general(ctx).entity, raw)
    fast = FastParser(ctx)
    assert _outcome(fast.entity, raw) == expected
    # again with what the first parse kept (expanded names, times in canonical form): the next
    # entities of a batch, and the MQTT compact observations' shortcut, take that path
    assert _outcome(fast.entity, raw) == expected
    assert _outcome(Parser(ctx).entity, raw) == expected


def test_a_user_context_expands_names_and_types_the_same_way() -> None:
    resolver = ContextResolver(preloaded=lambda _url: None)
    ctx = resolver.resolve(
        {
            "Thing": "https://example.org/things#Thing",
            "a": "https://example.org/a",
            "ex": "https://example.org/",
        }
    )
    raw = {**BASE, "a": {"type": "Property", "value": 1}, "ex:b": {"type": "Property", "value": 2}, "c": 3}
    expected = _outcome(_general(ctx).entity, raw)
    assert expected[0] == "entity"
    assert list(expected[1][2]) == [
        "https://example.org/a",
        "https://example.org/b",
        "https://uri.etsi.org/ngsi-ld/default-context/c",
    ]
    assert _outcome(FastParser(ctx).entity, raw) == expected
    # a second batch with the same context uses the names kept on it, and a core-context batch is apart
    assert _outcome(FastParser(ctx).entity, raw) == expected
    core = resolver.core
    assert _outcome(FastParser(core).entity, raw) == _outcome(_general(core).entity, raw)


def test_the_parsed_instance_is_a_copy_of_the_input() -> None:
    ctx = ContextResolver(preloaded=lambda _url: None).core
    raw = traffic(3)
    entity = FastParser(ctx).entity(raw)
    for value in entity.attrs.values():
        value["createdAt"] = WHEN  # what stamping does
    assert raw == traffic(3)
