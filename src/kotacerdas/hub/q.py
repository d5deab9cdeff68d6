"""The NGSI-LD query language ``q`` (GS CIM 009 clause 4.9): parse, evaluate exactly, pre-filter in SQL.

``parse`` checks the whole grammar and returns a ``Query`` whose terms hold everything precomputed
(expanded attribute IRIs, decoded literals, compiled regular expressions). ``matches`` is the exact
semantics on the internal representation (``kotacerdas.hub.entity``). ``to_sql`` (in
``kotacerdas.hub.qsql``) gives a SQL condition that keeps at least every entity ``matches`` accepts.

Semantics worth knowing (clause 4.9, and choices where it is silent):
- a term on a missing attribute (or an undefined compound member) is false, ``!=`` included;
- a Property whose value is an array matches ``==`` when any element does, ``!=`` when none does;
  multi-attributes (several datasetIds) match when any instance does;
- Relationships and ListRelationships match only with ``==`` and ``!=`` (their object URIs);
- VocabProperty values compare with the literal as written and as expanded with the @context;
- a number never equals a string; ``!=`` between different types is true;
- dateTime and date literals compare as instants with strings or ``{"@type": "DateTime"}`` values;
- ``attr[xx]`` on a LanguageProperty picks the language ``xx`` (``attr[*]``: any language);
- regular expressions are Python ``re`` with search semantics, checked for catastrophic backtracking.
Linked-entity terms (``sensor{humidity}==40``) are recognised and answered OperationNotSupported.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import orjson

from kotacerdas.hub.context import NGSI_LD, ActiveContext
from kotacerdas.hub.entity import Entity, parse_datetime
from kotacerdas.hub.patterns import compile_pattern
from kotacerdas.hub.problems import BadRequestData, NgsiError, OperationNotSupported, TooComplexQuery

MAX_LENGTH = 4096
MAX_TERMS = 128
MAX_DEPTH = 16
MAX_LIST = 256

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

_SPACE = re.compile(r"\s*")
_NAME = re.compile(r"[^\W\d_]\w*(?::[^\W\d_]\w*)?")
_MEMBER = re.compile(r"[\w$@-]+|\*")
_OPERATOR = re.compile(r"==|!~=|!=|>=|<=|~=|>|<")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?", re.ASCII
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:?\d{2})?", re.ASCII)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s;|(),\"]+")
_WORD = re.compile(r"[^\W\d]\w*(?:-\w+)*")
_VALUE_END = frozenset(";|),") | frozenset(" \t\r\n")


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


# ---------------------------------------------------------------------------------------- parsing


def parse(text: str, ctx: ActiveContext) -> Query:
    """Parse ``q`` (already percent-decoded). Raises BadRequestData saying where and what was expected."""
    if not isinstance(text, str):
        raise BadRequestData("q must be a string.")
    if len(text) > MAX_LENGTH:
        raise TooComplexQuery(f"q is longer than {MAX_LENGTH} characters.")
    parser = _Parser(text, ctx)
    root = parser.query()
    return Query(text=text, root=root, terms=tuple(parser.terms), _match=_compile(root))


class _Parser:
    def __init__(self, text: str, ctx: ActiveContext) -> None:
        self.text = text
        self.ctx = ctx
        self.pos = 0
        self.terms: list[Term] = []

    # errors -----------------------------------------------------------------------------------
    def fail(self, expected: str, pos: int | None = None) -> BadRequestData:
        at = self.pos if pos is None else pos
        if at >= len(self.text):
            return BadRequestData(f"Invalid q: expected {expected} at position {at} (the end of the query).")
        found = self.text[at : at + 20]
        return BadRequestData(f"Invalid q: expected {expected} at position {at}, found {found!r}.")

    def skip_space(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    # grammar ----------------------------------------------------------------------------------
    def query(self) -> Node:
        self.skip_space()
        if self.pos >= len(self.text):
            raise BadRequestData("Invalid q: the query is empty.")
        node = self.disjunction(0)
        self.skip_space()
        if self.pos < len(self.text):
            if self.peek() == ")":
                raise self.fail("';', '|' or the end of the query (this ')' closes nothing)")
            raise self.fail("';', '|' or the end of the query")
        return node

    def disjunction(self, depth: int) -> Node:
        items = [self.conjunction(depth)]
        while True:
            self.skip_space()
            if self.peek() != "|":
                break
            self.pos += 1
            items.append(self.conjunction(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self, depth: int) -> Node:
        items = [self.primary(depth)]
        while True:
            self.skip_space()
            if self.peek() != ";":
                break
            self.pos += 1
            items.append(self.primary(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def primary(self, depth: int) -> Node:
        self.skip_space()
        if self.peek() == "(":
            if depth >= MAX_DEPTH:
                raise TooComplexQuery(f"q nests parentheses more than {MAX_DEPTH} deep.")
            start = self.pos
            self.pos += 1
            node = self.disjunction(depth + 1)
            self.skip_space()
            if self.peek() != ")":
                raise self.fail(f"')' to close the '(' at position {start}")
            self.pos += 1
            return node
        return self.term()

    def term(self) -> Term:
        if len(self.terms) >= MAX_TERMS:
            raise TooComplexQuery(f"q has more than {MAX_TERMS} terms.")
        path = self.attr_path()
        self.skip_space()
        if self.pos >= len(self.text) or self.peek() in ";|)":
            term = Term(path)
        else:
            match = _OPERATOR.match(self.text, self.pos)
            if match is None:
                hint = " (did you mean '=='?)" if self.peek() == "=" else ""
                raise self.fail(f"an operator (==, !=, >, >=, <, <=, ~=, !~=), ';', '|' or ')'{hint}")
            op = match.group()
            self.pos = match.end()
            self.skip_space()
            term = self.regex_term(path, op) if op in ("~=", "!~=") else self.value_term(path, op)
        self.terms.append(term)
        return term

    def name(self, what: str) -> str:
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise self.fail(what)
        self.pos = match.end()
        return match.group()

    def attr_path(self) -> AttrPath:
        start = self.pos
        first = self.name("an attribute name, '(' or a value")
        if first in ("id", "type"):
            raise BadRequestData(
                f"Invalid q: {first!r} at position {start} is an entity member, not an attribute; "
                f"select entities by {first} with the {first} parameter (or idPattern)."
            )
        names = [first]
        while self.peek() == ".":
            self.pos += 1
            names.append(self.name("an attribute name after '.'"))
        if self.peek() == "{":
            raise OperationNotSupported(
                f"q at position {self.pos}: linked-entity queries (attr{{...}}) are not supported by this hub."
            )
        compound: list[str] = []
        if self.peek() == "[":
            self.pos += 1
            while True:
                match = _MEMBER.match(self.text, self.pos)
                if match is None:
                    raise self.fail("a member name inside [...]")
                compound.append(match.group())
                self.pos = match.end()
                if self.peek() == ".":
                    if compound[-1] == "*":
                        raise self.fail("']' after '*' ('*' can only end a compound path)")
                    self.pos += 1
                    continue
                if self.peek() != "]":
                    raise self.fail("'.' or ']' in the compound path")
                self.pos += 1
                break
        iris = [self.ctx.expand(n) for n in names]
        member = CORE_PATH_MEMBERS.get(iris[-1]) if len(iris) > 1 else None
        subs = tuple(iris[1:-1] if member else iris[1:])
        if member is not None and compound:
            raise self.fail(f"no compound path after the {member} member", self.pos - 1)
        return AttrPath(self.text[start : self.pos], iris[0], subs, member, tuple(compound))

    def regex_term(self, path: AttrPath, op: str) -> Term:
        start = self.pos
        pattern = self.quoted() if self.peek() == '"' else self.raw_regex()
        return Term(
            path, op, regex=compile_pattern(pattern, f"q: the regular expression at position {start}")
        )

    def raw_regex(self) -> str:
        """An unquoted pattern runs to a ';' or '|' outside its own (...) and [...], or a ')' closing q."""
        text, i, depth, in_class = self.text, self.pos, 0, False
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if in_class:
                if c == "]":
                    in_class = False
            elif c == "[":
                in_class = True
                if text.startswith("^]", i + 1):
                    i += 2
                elif text.startswith("]", i + 1):
                    i += 1
            elif c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            elif c in ";|" and depth == 0:
                break
            i += 1
        pattern = text[self.pos : i].rstrip()
        if not pattern:
            raise self.fail("a regular expression")
        self.pos = i
        return pattern

    def quoted(self) -> str:
        text, i = self.text, self.pos + 1
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == '"':
                break
            i += 1
        if i >= len(text):
            raise self.fail("a closing '\"' for the string that starts here")
        raw = text[self.pos : i + 1]
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self.fail("a valid JSON string (check its escapes)") from None
        self.pos = i + 1
        return str(value)

    def value_term(self, path: AttrPath, op: str) -> Term:
        start = self.pos
        first = self.literal(op)
        if self.text.startswith("..", self.pos):
            if op not in ("==", "!="):
                raise self.fail(f"no range after {op} (ranges go with == and !=)")
            self.pos += 2
            high = self.literal(op)
            for end in (first, high):
                if end.kind in (BOOL, URI, WORD):
                    raise BadRequestData(
                        f"Invalid q: the range at position {start} must be between numbers, strings, "
                        f"dates or times, not {end.kind} {end.text!r}."
                    )
            if first.domain != high.domain:
                raise BadRequestData(
                    f"Invalid q: the two ends of the range at position {start} differ in type."
                )
            self.value_end()
            return Term(path, op, low=first, high=high)
        values = [first]
        while self.peek() == ",":
            if op not in ("==", "!="):
                raise self.fail(f"no list after {op} (lists go with == and !=)")
            if len(values) >= MAX_LIST:
                raise TooComplexQuery(f"A value list in q has more than {MAX_LIST} values.")
            self.pos += 1
            self.skip_space()
            values.append(self.literal(op))
        self.value_end()
        if op in ORDERING and first.kind == BOOL:
            raise BadRequestData(
                f"Invalid q: true and false can only be compared with == or != (position {start})."
            )
        return Term(path, op, values=tuple(values))

    def value_end(self) -> None:
        if self.pos < len(self.text) and self.peek() not in _VALUE_END:
            raise self.fail("';', '|', ')', ',' or the end of the query after the value")

    def literal(self, op: str) -> Literal:
        text, pos = self.text, self.pos
        c = self.peek()
        if not c:
            raise self.fail(f"a value after {op}")
        if c == '"':
            value = self.quoted()
            return Literal(STR, value, text[pos : self.pos], self.expand(value))
        if c.isdigit():
            for pattern, kind in ((_DATETIME, DATETIME), (_DATE, DATE), (_TIME, TIME)):
                match = pattern.match(text, pos)
                if match is not None and not self.continues(match.end()):
                    return self.temporal(kind, match.group(), pos, match.end())
        match = _NUMBER.match(text, pos)
        if match is not None and not self.continues(match.end()):
            self.pos = match.end()
            token = match.group()
            number: int | float = float(token) if any(ch in token for ch in ".eE") else int(token)
            if isinstance(number, float) and number in (float("inf"), float("-inf")):
                raise self.fail("a finite number", pos)
            return Literal(NUM, number, token)
        for word, flag in (("true", True), ("false", False)):
            if text.startswith(word, pos) and not self.continues(pos + len(word)):
                self.pos = pos + len(word)
                return Literal(BOOL, flag, word)
        match = _URI.match(text, pos)
        if match is not None:
            uri = match.group()
            if uri.endswith(".") and text.startswith("..", match.end() - 1):
                uri = uri[:-1]
            self.pos = pos + len(uri)
            return Literal(URI, uri, uri, self.expand(uri))
        match = _WORD.match(text, pos)
        if match is not None and not self.continues(match.end()):
            self.pos = match.end()
            return Literal(WORD, match.group(), match.group(), self.expand(match.group()))
        raise self.fail(f'a value after {op}: a number, a "string", true, false, a date-time or a URI', pos)

    def continues(self, end: int) -> bool:
        """Whether a token that ends at ``end`` runs on into something that is not a delimiter."""
        if end >= len(self.text):
            return False
        c = self.text[end]
        return not (c in _VALUE_END or self.text.startswith("..", end))

    def temporal(self, kind: str, token: str, pos: int, end: int) -> Literal:
        value = _instant(token) if kind in (DATETIME, DATE) else _time_of_day(token)
        if value is None:
            raise self.fail(f"a valid {kind}", pos)
        self.pos = end
        return Literal(kind, value, token)

    def expand(self, value: str) -> str | None:
        if not value or len(value) > 2048 or any(ch.isspace() for ch in value):
            return None
        return self.ctx.expand(value)


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
