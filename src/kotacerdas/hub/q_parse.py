"""The q grammar (GS CIM 009 clause 4.9): ``parse`` turns the text into a ``Query`` or says what is wrong.

The whole text is checked before anything is evaluated; every error names the position and what
was expected there (BadRequestData), and the limits below (length, terms, nesting, list size)
answer TooComplexQuery, so that a caller cannot make the hub do unbounded work with one q. Terms
come out with everything precomputed (expanded IRIs, decoded literals, compiled regular
expressions), so matching (``q_match``) and SQL translation (``qsql``) never parse again.
"""

from __future__ import annotations

import re

import orjson

from kotacerdas.hub.context import ActiveContext
from kotacerdas.hub.patterns import compile_pattern
from kotacerdas.hub.problems import BadRequestData, OperationNotSupported, TooComplexQuery
from kotacerdas.hub.q_match import (
    _DATE,
    _TIME,
    BOOL,
    CORE_PATH_MEMBERS,
    DATE,
    DATETIME,
    NUM,
    ORDERING,
    STR,
    TIME,
    URI,
    WORD,
    And,
    AttrPath,
    Literal,
    Node,
    Or,
    Query,
    Term,
    _compile,
    _instant,
    _time_of_day,
)

MAX_LENGTH = 4096
MAX_TERMS = 128
MAX_DEPTH = 16
MAX_LIST = 256

_SPACE = re.compile(r"\s*")
_NAME = re.compile(r"[^\W\d_]\w*(?::[^\W\d_]\w*)?")
_MEMBER = re.compile(r"[\w$@-]+|\*")
_OPERATOR = re.compile(r"==|!~=|!=|>=|<=|~=|>|<")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?", re.ASCII
)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s;|(),\"]+")
_WORD = re.compile(r"[^\W\d]\w*(?:-\w+)*")
_VALUE_END = frozenset(";|),") | frozenset(" \t\r\n")


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
