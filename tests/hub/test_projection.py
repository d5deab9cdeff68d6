"""pick / omit (GS CIM 009 clause 4.21) and the deprecated attrs, including the ETSI 019_17/019_18 cases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from kotacerdas.hub.context import DEFAULT_VOCAB, NGSI_LD, ContextResolver
from kotacerdas.hub.problems import BadRequestData, NgsiError
from kotacerdas.hub.projection import ALL, Projection, parse_names, parse_projection

RESOLVER = ContextResolver(preloaded=lambda _url: None)
CTX = RESOLVER.core
V = DEFAULT_VOCAB
NAME, CATEGORY, LOCATION = V + "name", V + "category", NGSI_LD + "location"


def test_nothing_given_keeps_everything() -> None:
    projection = parse_projection(None, None, None, CTX)
    assert projection == ALL and projection.is_identity
    assert projection.keep_id and projection.keep_type and projection.keep_scope
    assert projection.allows(NAME) and projection.allows(LOCATION)


# 019_17: pick and omit on attributes and on the entity members id and type
def test_pick_an_attribute_drops_everything_else() -> None:
    projection = parse_projection("name", None, None, CTX)
    assert projection == Projection(keep_id=False, keep_type=False, attrs=frozenset({NAME}))
    assert projection.allows(NAME) and not projection.allows(CATEGORY) and not projection.keep_scope


def test_omit_an_attribute() -> None:
    projection = parse_projection(None, "name", None, CTX)
    assert projection.keep_id and projection.keep_type
    assert not projection.allows(NAME) and projection.allows(CATEGORY)


def test_pick_id_only() -> None:
    projection = parse_projection("id", None, None, CTX)
    assert projection.keep_id and not projection.keep_type
    assert projection.attrs == frozenset() and not projection.allows(NAME)


def test_omit_id() -> None:
    projection = parse_projection(None, "id", None, CTX)
    assert not projection.keep_id and projection.keep_type and projection.allows(NAME)


def test_pick_id_and_an_attribute() -> None:
    projection = parse_projection("id,name", None, None, CTX)
    assert projection.keep_id and not projection.keep_type and projection.attrs == frozenset({NAME})


def test_omit_type_and_an_attribute() -> None:
    projection = parse_projection(None, "type,name", None, CTX)
    assert projection.keep_id and not projection.keep_type
    assert projection.omit_attrs == frozenset({NAME}) and projection.attrs is None


def test_pick_and_omit_of_different_members_combine() -> None:
    projection = parse_projection("id,name,category", "type", None, CTX)
    assert projection.keep_id and not projection.keep_type and projection.attrs == frozenset({NAME, CATEGORY})


def test_names_are_expanded_with_the_context() -> None:
    ctx = RESOLVER.resolve({"ex": "http://example.org/", "size": "ex:size"})
    projection = parse_projection("size,ex:colour,location,scope", None, None, ctx)
    assert projection.attrs == frozenset(
        {"http://example.org/size", "http://example.org/colour", LOCATION, NGSI_LD + "scope"}
    )
    assert projection.keep_scope


def test_linked_entity_selections_are_accepted_and_count_as_their_name() -> None:
    projection = parse_projection("name,locatedAt{name,owner{name}}|category", None, None, CTX)
    assert projection.attrs == frozenset({NAME, CATEGORY, V + "locatedAt"})
    assert parse_names("a{b{c}},d{e}", "pick") == ["a", "d"]


def test_attrs_keeps_id_and_type() -> None:
    projection = parse_projection(None, None, "name,location", CTX)
    assert projection.keep_id and projection.keep_type
    assert projection.attrs == frozenset({NAME, LOCATION})


# 019_18: malformed expressions and forbidden combinations are 400 BadRequestData
@pytest.mark.parametrize(
    ("pick", "omit", "attrs"),
    [
        ("name", "name", None),  # 019_18_01 the same member in pick and omit
        ("id", "id", None),
        ("name", None, "category"),  # 019_18_02 pick with attrs
        (None, "name", "category"),  # 019_18_03 omit with attrs
        ("id;name", None, None),  # 019_18_04 an invalid character
        ("id,locatedAt{name", None, None),  # 019_18_05 an unclosed brace
        ("id,locatedAt{{name}", None, None),  # 019_18_06 double braces
        ("id,,name", None, None),  # 019_18_07 consecutive separators
        ("id,locatedAt{,name}", None, None),  # 019_18_08 a selection starting with a separator
        ("id,locatedAt{}", None, None),  # 019_18_09 a selection with no attribute
        ("", None, None),
        (None, "", None),
        (None, None, ""),
        (",name", None, None),
        ("name,", None, None),
        ("name}", None, None),
        ("a{b}{c}", None, None),
        ("a{b}c", None, None),
        ("{name}", None, None),
        ("na me", None, None),
        ('na"me', None, None),
        ("na=me", None, None),
        ("name(1)", None, None),
        ("a{a{a{a{a{a{a{a{a{a{a{name}}}}}}}}}}}", None, None),  # eleven hops
        ("x," * 1001 + "x", None, None),
    ],
)
def test_malformed_projections_are_bad_request_data(
    pick: str | None, omit: str | None, attrs: str | None
) -> None:
    with pytest.raises(BadRequestData):
        parse_projection(pick, omit, attrs, CTX)


def test_errors_say_where() -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_projection("id;name", None, None, CTX)
    assert "position 2" in caught.value.detail and "';'" in caught.value.detail
    with pytest.raises(BadRequestData) as caught:
        parse_projection(None, "id,locatedAt{name", None, CTX)
    assert "omit" in caught.value.detail and "'}'" in caught.value.detail


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:/#.-_{},|; é")), max_size=30), st.booleans())
def test_random_expressions_are_parsed_or_refused_cleanly(text: str, as_pick: bool) -> None:
    try:
        projection = parse_projection(text if as_pick else None, None if as_pick else text, None, CTX)
    except NgsiError:
        return
    assert projection.attrs is not None or not as_pick
