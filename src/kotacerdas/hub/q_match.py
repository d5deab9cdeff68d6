"""The q model (terms, paths, literals, queries) and its exact semantics on the internal representation.

A ``Query`` built by ``q_parse`` matches an entity here, in Python, with the semantics listed in
``kotacerdas.hub.q``; this is the reference every pre-filter (``qsql``) must keep at least every
match of. The literal kinds, the instance members a path can end on and the instant conversions
(``_instant``, ``_time_of_day``, ``canonical_instant``) live here because the parser and the SQL
translation both rely on them meaning the same thing as the matching does. Imports neither
``q_parse`` nor ``q`` at module level (``to_sql`` imports ``qsql`` when it is called).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from kotacerdas.hub.context import NGSI_LD
from kotacerdas.hub.entity import Entity, parse_datetime
from kotacerdas.hub.problems import NgsiError

# members of an attribute instance a path can end on (attr.observedAt); the rest are sub-attributes
CORE_PATH_MEMBERS = {
    NGSI_LD + name: name
    for name in ("observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt", "deletedAt")
}
TIME_MEMBERS = frozenset(["observedAt", "createdAt", "modifiedAt", "deletedAt"])
KIND_MEMBER = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}
RELATION_MEMBERS = frozenset(["object", "objectList"])

# literal kinds and the domain they compare in
NUM, STR, URI, WORD, BOOL = "number", "string", "uri", "word", "bool"
DATETIME, DATE, TIME = "dateTime", "date", "time"
DOMAIN = {
    NUM: "num",
    STR: "str",
    URI: "str",
    WORD: "str",
    BOOL: "bool",
    DATETIME: "instant",
    DATE: "instant",
    TIME: "time",
}
ORDERING = frozenset([">", ">=", "<", "<="])
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:?\d{2})?", re.ASCII)


# ------------------------------------------------------------------------------------------ model


@dataclass(frozen=True, slots=True)
class AttrPath:
    """``attr.sub.member[compound.path]`` with the names expanded (compound members stay verbatim)."""

    text: str
    attr: str
    subs: tuple[str, ...] = ()
    member: str | None = None  # observedAt, unitCode, ... when the path ends on an instance member
    compound: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Literal:
    kind: str
    value: Any  # int | float | str | bool; instants and times as integer microseconds
    text: str
    expanded: str | None = None  # the string expanded with the @context (VocabProperty comparisons)

    @property
    def domain(self) -> str:
        return DOMAIN[self.kind]


@dataclass(frozen=True, slots=True)
class Term:
    """One query term. ``op`` None is an existence test; ``values`` has one item or an any-of list."""

    path: AttrPath
    op: str | None = None
    values: tuple[Literal, ...] = ()
    low: Literal | None = None  # a range low..high (with == or !=)
    high: Literal | None = None
    regex: re.Pattern[str] | None = None

    def matches(self, entity: Entity) -> bool:
        found = entity.attrs.get(self.path.attr)
        if found is None:
            return False
        return any(self._instance(inst) for inst in _targets(found, self.path.subs))

    def _instance(self, inst: dict[str, Any]) -> bool:
        extracted = _candidates(inst, self.path)
        if extracted is None:
            return False
        candidates, member = extracted
        op = self.op
        if op is None:
            return True
        if op == "==":
            return self._equal(candidates, member)
        if op == "!=":
            return not self._equal(candidates, member)
        if member in RELATION_MEMBERS:
            return False  # 4.9: a Relationship with any other operator does not match
        if self.regex is not None:
            texts = [c for c in candidates if type(c) is str]
            hit = any(self.regex.search(c) is not None for c in texts)
            return hit if op == "~=" else bool(texts) and not hit
        if member == "vocab":
            return False
        literal = self.values[0]
        key = KEY[literal.domain]
        compare = COMPARE[op]
        for c in candidates:
            k = key(c)
            if k is not None and compare(k, literal.value):
                return True
        return False

    def _equal(self, candidates: list[Any], member: str) -> bool:
        if self.low is not None and self.high is not None:
            if member in RELATION_MEMBERS or member == "vocab":
                return False  # URIs have no order
            low, high = self.low.value, self.high.value
            key = KEY[self.low.domain]
            for c in candidates:
                k = key(c)
                if k is not None and low <= k <= high:
                    return True
            return False
        vocab = member == "vocab"
        for literal in self.values:
            key = KEY[literal.domain]
            for c in candidates:
                if vocab:
                    if type(c) is str and literal.domain == "str" and c in (literal.value, literal.expanded):
                        return True
                    continue
                k = key(c)
                if k is not None and k == literal.value:
                    return True
        return False


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


Node = Term | And | Or


@dataclass(frozen=True)
class Query:
    text: str
    root: Node
    terms: tuple[Term, ...]
    _match: Callable[[Entity], bool] = field(repr=False, compare=False)

    def matches(self, entity: Entity) -> bool:
        return self._match(entity)


def matches(query: Query, entity: Entity) -> bool:
    """Whether ``entity`` satisfies ``query`` (exact; the reference for every pre-filter)."""
    return query._match(entity)


def attribute_paths(query: Query) -> set[str]:
    """The expanded IRIs of the attributes the query reads (for a subscription's watched attributes)."""
    return {term.path.attr for term in query.terms}


def to_sql(query: Query, dialect: str) -> tuple[str, list[Any]] | None:
    """A SQL pre-filter over ``e.body``; see ``kotacerdas.hub.qsql.to_sql``."""
    from kotacerdas.hub.qsql import to_sql as translate

    return translate(query, dialect)


def _compile(node: Node) -> Callable[[Entity], bool]:
    if isinstance(node, Term):
        return node.matches
    parts = [_compile(item) for item in node.items]
    if isinstance(node, And):
        return lambda e: all(p(e) for p in parts)
    return lambda e: any(p(e) for p in parts)


# ------------------------------------------------------------------------------------ evaluation


def _instances(value: Any) -> list[dict[str, Any]]:
    if type(value) is dict:
        return [value]
    if type(value) is list:
        return [v for v in value if type(v) is dict]
    return []


def _targets(found: Any, subs: tuple[str, ...]) -> list[dict[str, Any]]:
    instances = _instances(found)
    for sub in subs:
        instances = [x for inst in instances for x in _instances(inst.get(sub))]
    return instances


def _flatten(value: Any) -> list[Any]:
    return list(value) if type(value) is list else [value]


def _candidates(inst: dict[str, Any], path: AttrPath) -> tuple[list[Any], str] | None:
    """The values a term compares for one target instance, and the member they come from."""
    if path.member is not None:
        found = inst.get(path.member)
        return None if found is None else ([found], path.member)
    kind = inst.get("type")
    member = KIND_MEMBER.get(kind) if type(kind) is str else None
    if member is None:  # not stored by the hub, but be tolerant: look at the members themselves
        member = "value" if "value" in inst else "object" if "object" in inst else None
        if member is None:
            return None
    seed = inst.get(member)
    if seed is None:
        return None
    if path.compound:
        if member in RELATION_MEMBERS or member == "vocab":
            return None
        walked = _walk(seed, path.compound)
        return None if walked is None else (walked, member)
    if member == "languageMap":
        return (_language_values(seed), member) if type(seed) is dict else None
    if member == "objectList":
        return [o.get("object") if type(o) is dict else o for o in _flatten(seed)], member
    return _flatten(seed), member


def _language_values(language_map: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for text in language_map.values():
        if type(text) is list:
            out.extend(text)
        else:
            out.append(text)
    return out


def _walk(seed: Any, members: tuple[str, ...]) -> list[Any] | None:
    """ECMA-262 member access in dot notation; None when the result is undefined."""
    current = seed
    for member in members:
        if member == "*":  # only last (the parser checks): every value of an object, e.g. a languageMap
            return _language_values(current) if type(current) is dict else None
        if type(current) is dict:
            if member not in current:
                return None
            current = current[member]
        elif type(current) is list and member.isdigit():
            index = int(member)
            if index >= len(current):
                return None
            current = current[index]
        else:
            return None
    return _flatten(current)


def _key_num(c: Any) -> Any:
    return c if type(c) is int or type(c) is float else None


def _key_str(c: Any) -> Any:
    return c if type(c) is str else None


def _key_bool(c: Any) -> Any:
    return c if type(c) is bool else None


def _key_instant(c: Any) -> Any:
    if type(c) is dict and c.get("@type") in ("DateTime", "Date"):
        c = c.get("@value")
    return _instant(c) if type(c) is str else None


def _key_time(c: Any) -> Any:
    if type(c) is dict and c.get("@type") == "Time":
        c = c.get("@value")
    return _time_of_day(c) if type(c) is str else None


KEY: dict[str, Callable[[Any], Any]] = {
    "num": _key_num,
    "str": _key_str,
    "bool": _key_bool,
    "instant": _key_instant,
    "time": _key_time,
}


@lru_cache(maxsize=8192)
def _instant(text: str) -> int | None:
    """A date-time (or a date, at midnight UTC) as microseconds since the epoch; None if it is not one."""
    if len(text) < 10 or not text[:4].isdigit():
        return None
    if len(text) == 10 and _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        return (day - date(1970, 1, 1)).days * 86_400_000_000
    try:
        return parse_datetime(text)
    except (NgsiError, ValueError, OverflowError):
        return None


@lru_cache(maxsize=4096)
def _time_of_day(text: str) -> int | None:
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    hours, minutes, seconds, fraction, zone = match.groups()
    h, m, s = int(hours), int(minutes), int(seconds)
    if h > 23 or m > 59 or s > 60:
        return None
    us = ((h * 60 + m) * 60 + min(s, 59)) * 1_000_000 + int((fraction or "0")[:6].ljust(6, "0"))
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        us += sign * (int(digits[:2]) * 60 + int(digits[2:] or 0)) * 60_000_000
    return us % 86_400_000_000


def canonical_instant(us: int) -> str | None:
    """The stored form of observedAt/createdAt/modifiedAt for an instant, when it has one exactly."""
    if us % 1000:
        return None
    seconds, micro = divmod(us, 1_000_000)
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    if not 1000 <= moment.year <= 9999:
        return None
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{micro // 1000:03d}Z"
