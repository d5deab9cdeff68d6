"""SQL pre-filters for the q language: the database discards what surely fails, Python decides the rest.

``to_sql(query, dialect)`` returns a boolean SQL condition over ``e.body`` (the entity's attributes as
JSON: SQLite TEXT, PostgreSQL JSONB) with ``?`` placeholders. The guarantee: for an entity whose
attributes are all single instances, the condition is true whenever ``q.matches`` is (the caller
ORs ``e.has_multi`` and re-checks every row). It is exact for the common cases: existence,
equality and ordering of numbers, strings and booleans in Property values and Relationship objects,
and comparisons of observedAt/createdAt/modifiedAt (stored in one canonical form) and unitCode.
What it cannot translate safely (regular expressions, compound members, dates inside values,
language maps) becomes a weaker condition, at worst "the attribute exists".

On PostgreSQL, existence and equality are one jsonpath predicate per term (``e.body @@ ...``, lax
mode, so arrays and multi-attributes are searched too) and member equality is containment
(``e.body @> ...``): both are answered by a GIN index ``USING gin (body jsonb_path_ops)``. Ordering
uses the ``->`` operators (no index helps there). Numbers compare exactly on PostgreSQL (JSONB
numerics against the literal's shortest JSON form, the form orjson stores); on SQLite, stored
non-integers get a tiny tolerance because its JSON parser does not promise correctly rounded doubles.
Attribute IRIs and literals are always bound parameters, never SQL text.
"""

from __future__ import annotations

from typing import Any

import orjson

from kotacerdas.hub.q import (
    KIND_MEMBER,
    ORDERING,
    TIME_MEMBERS,
    And,
    Literal,
    Node,
    Query,
    Term,
    canonical_instant,
)

Sql = tuple[str, tuple[Any, ...]]
TRUE: Sql = ("TRUE", ())
FALSE: Sql = ("FALSE", ())
SAFE_NUMBER = 2.0**53  # beyond this, doubles and integers stop agreeing
RELATIVE = 1e-12  # SQLite tolerance for stored non-integers
MAX_EXACT_LIST = 8  # longer value lists only pre-filter on the attribute's presence
MAX_PARAMS = 20_000  # below SQLite's and PostgreSQL's limits on bound parameters
KINDS = tuple(KIND_MEMBER)
OTHER_KINDS_ORDER = ("ListProperty", "JsonProperty")


class _Untranslatable(Exception):
    """A key SQLite's JSON path syntax cannot carry; the term falls back to TRUE."""


def to_sql(query: Query, dialect: str) -> tuple[str, list[Any]] | None:
    """The pre-filter, or None when it would not filter anything."""
    if dialect == "sqlite":
        builder: _Builder = _Sqlite()
    elif dialect == "postgresql":
        builder = _Postgres()
    else:
        return None
    sql, params = builder.node(query.root)
    if sql == "TRUE" or len(params) > MAX_PARAMS:
        return None
    return sql, list(params)


def _or(*parts: Sql) -> Sql:
    kept = [p for p in parts if p != FALSE]
    if any(p == TRUE for p in kept):
        return TRUE
    if not kept:
        return FALSE
    if len(kept) == 1:
        return kept[0]
    return "(" + " OR ".join(p[0] for p in kept) + ")", tuple(x for p in kept for x in p[1])


def _and(*parts: Sql) -> Sql:
    kept = [p for p in parts if p != TRUE]
    if any(p == FALSE for p in kept):
        return FALSE
    if not kept:
        return TRUE
    if len(kept) == 1:
        return kept[0]
    return "(" + " AND ".join(p[0] for p in kept) + ")", tuple(x for p in kept for x in p[1])


def _not(part: Sql) -> Sql:
    if part == TRUE:
        return FALSE
    if part == FALSE:
        return TRUE
    return f"NOT COALESCE({part[0]}, FALSE)", part[1]


def _number_safe(lit: Literal) -> bool:
    return lit.domain != "num" or abs(lit.value) < SAFE_NUMBER


class _Builder:
    """The term logic, shared; the dialects supply the primitives."""

    def node(self, node: Node) -> Sql:
        if isinstance(node, Term):
            try:
                return self.term(node)
            except _Untranslatable:
                return TRUE
        parts = [self.node(item) for item in node.items]
        return _and(*parts) if isinstance(node, And) else _or(*parts)

    # the term ----------------------------------------------------------------------------------
    def term(self, t: Term) -> Sql:
        path = t.path
        target = [path.attr, *path.subs]
        escape = _or(*(self.is_array(target[:k]) for k in range(2, len(target) + 1)))  # multi sub-attributes
        if path.member is not None:
            reach = _or(self.exists([*target, path.member]), escape)
        else:
            reach = _or(self.exists(target), escape)
        if t.op is None:
            if path.compound:
                return reach
            if path.member is None and not path.subs:
                return self.exists_top(path.attr)
            return reach
        if path.compound or t.regex is not None:
            return reach
        if len(t.values) > MAX_EXACT_LIST:
            return reach
        if t.op == "!=":
            return _and(reach, _not(self.equal(t, target, exact=True)))
        if t.op == "==":
            return _or(self.equal(t, target, exact=False), escape)
        return _or(self.order(t, target), escape)

    def equal(self, t: Term, target: list[str], *, exact: bool) -> Sql:
        """Some candidate equals some literal (or lies in the range). ``exact`` wants a subset of the
        truth (it is negated for !=), otherwise a superset."""
        member = t.path.member
        if member is not None:
            return self.member_equal(t, [*target, member], member, exact=exact)
        if t.low is not None and t.high is not None:
            return self.range_equal(t.low, t.high, target, exact=exact)
        parts: list[Sql] = []
        for lit in t.values:
            if not _number_safe(lit):
                parts.append(FALSE if exact else self.exists(target))
                continue
            domain = lit.domain
            if domain in ("instant", "time"):
                if not exact:
                    parts.append(self.exists(target))
                continue
            parts.append(self.value_equal(target, "value", "Property", lit, exact=exact))
            if domain in ("num", "bool"):
                if not exact:
                    parts.append(self.list_has(target, "valueList", lit))
                    parts.append(self.list_has(target, "json", lit))
                continue
            parts.append(self.value_equal(target, "object", "Relationship", lit, exact=exact))
            if exact:
                continue
            parts.append(self.object_list_has(target, lit.value))
            for text in sorted({lit.value, lit.expanded or lit.value}):
                parts.append(self.value_equal(target, "vocab", "VocabProperty", _text(text), exact=False))
            parts.append(self.list_has(target, "valueList", lit))
            parts.append(self.list_has(target, "json", lit))
            parts.append(self.type_in(target, ("LanguageProperty",)))
        return _or(*parts)

    def member_equal(self, t: Term, path: list[str], member: str, *, exact: bool) -> Sql:
        """Equality on observedAt, unitCode, datasetId ... (strings; times in canonical form)."""
        if t.low is not None and t.high is not None:
            low, high = self.member_text(t.low, member), self.member_text(t.high, member)
            if low is None or high is None:
                return FALSE if exact or not self.maybe_member(t.low, member) else self.exists(path)
            return _and(self.text_compare(path, ">=", low), self.text_compare(path, "<=", high))
        parts: list[Sql] = []
        for lit in t.values:
            text = self.member_text(lit, member)
            if text is not None:
                parts.append(self.text_equal(path, text))
            elif not exact and self.maybe_member(lit, member):
                parts.append(self.exists(path))
        return _or(*parts)

    def member_text(self, lit: Literal, member: str) -> str | None:
        if lit.domain == "str":
            return str(lit.value)
        if lit.domain == "instant" and member in TIME_MEMBERS:
            return canonical_instant(lit.value)
        return None

    @staticmethod
    def maybe_member(lit: Literal, member: str) -> bool:
        """Whether a literal the SQL cannot compare exactly could still match the member in Python."""
        return lit.domain == "instant"

    def range_equal(self, low: Literal, high: Literal, target: list[str], *, exact: bool) -> Sql:
        if low.domain not in ("num", "str") or not (_number_safe(low) and _number_safe(high)):
            return FALSE if exact else self.exists(target)
        if exact:
            return self.scalar_between(target, low, high, exact=True)
        return _or(
            self.scalar_between(target, low, high, exact=False),
            self.is_array([*target, "value"]),
            self.type_in(target, OTHER_KINDS_ORDER + (("LanguageProperty",) if low.domain == "str" else ())),
        )

    def order(self, t: Term, target: list[str]) -> Sql:
        lit = t.values[0]
        op = t.op if t.op in ORDERING else ">"
        member = t.path.member
        if member is not None:
            text = self.member_text(lit, member)
            if text is not None:
                return self.text_compare([*target, member], op, text)
            return self.exists([*target, member]) if self.maybe_member(lit, member) else FALSE
        if lit.domain not in ("num", "str") or not _number_safe(lit):
            return self.exists(target)
        return _or(
            self.scalar_compare([*target, "value"], op, lit),
            self.is_array([*target, "value"]),
            self.type_in(target, OTHER_KINDS_ORDER + (("LanguageProperty",) if lit.domain == "str" else ())),
        )

    # primitives ---------------------------------------------------------------------------------
    def exists(self, keys: list[str]) -> Sql:
        raise NotImplementedError

    def exists_top(self, attr: str) -> Sql:
        return self.exists([attr])

    def is_array(self, keys: list[str]) -> Sql:
        raise NotImplementedError

    def type_in(self, target: list[str], kinds: tuple[str, ...]) -> Sql:
        raise NotImplementedError

    def value_equal(self, target: list[str], member: str, kind: str, lit: Literal, *, exact: bool) -> Sql:
        raise NotImplementedError

    def list_has(self, target: list[str], member: str, lit: Literal) -> Sql:
        raise NotImplementedError

    def object_list_has(self, target: list[str], uri: Any) -> Sql:
        raise NotImplementedError

    def scalar_compare(self, keys: list[str], op: str, lit: Literal) -> Sql:
        raise NotImplementedError

    def scalar_between(self, target: list[str], low: Literal, high: Literal, *, exact: bool) -> Sql:
        raise NotImplementedError

    def text_equal(self, keys: list[str], text: str) -> Sql:
        raise NotImplementedError

    def text_compare(self, keys: list[str], op: str, text: str) -> Sql:
        raise NotImplementedError


def _text(value: Any) -> Literal:
    return Literal("string", str(value), str(value))


def _widen(value: float, op: str) -> float:
    """A literal moved by a hair so that a slightly misparsed stored double is still kept."""
    slack = abs(value) * RELATIVE + 1e-300
    return value - slack if op in (">", ">=") else value + slack


class _Sqlite(_Builder):
    @staticmethod
    def path(keys: list[str]) -> str:
        for key in keys:
            if '"' in key or "\\" in key or any(ord(c) < 32 for c in key):
                raise _Untranslatable
        return "$" + "".join(f'."{key}"' for key in keys)

    def kind_is(self, target: list[str], kind: str) -> Sql:
        return "json_extract(e.body, ?) = ?", (self.path([*target, "type"]), kind)

    def exists(self, keys: list[str]) -> Sql:
        return "json_type(e.body, ?) IS NOT NULL", (self.path(keys),)

    def is_array(self, keys: list[str]) -> Sql:
        return "json_type(e.body, ?) = 'array'", (self.path(keys),)

    def type_in(self, target: list[str], kinds: tuple[str, ...]) -> Sql:
        marks = ", ".join("?" * len(kinds))
        return f"json_extract(e.body, ?) IN ({marks})", (self.path([*target, "type"]), *kinds)

    @staticmethod
    def atom_equal(kind: Sql, value: Sql, lit: Literal, *, exact: bool) -> Sql:
        """``value`` (an SQL value whose JSON type is ``kind``) equals the literal."""
        domain = lit.domain
        if domain == "bool":
            return f"{kind[0]} = ?", (*kind[1], "true" if lit.value else "false")
        if domain == "str":
            if exact:
                return f"({kind[0]} = 'text' AND {value[0]} = ?)", (*kind[1], *value[1], lit.value)
            return f"{value[0]} = ?", (*value[1], lit.value)
        if isinstance(lit.value, int):  # integers parse exactly; other stored numbers get a hair of slack
            integer: Sql = f"({kind[0]} = 'integer' AND {value[0]} = ?)", (*kind[1], *value[1], lit.value)
            if exact:
                return integer
        elif exact:
            return FALSE
        number = float(lit.value)
        return f"({kind[0]} IN ('integer', 'real') AND {value[0]} BETWEEN ? AND ?)", (
            *kind[1],
            *value[1],
            _widen(number, ">="),
            _widen(number, "<="),
        )

    def scalar(self, path: str) -> tuple[Sql, Sql]:
        return ("json_type(e.body, ?)", (path,)), ("json_extract(e.body, ?)", (path,))

    def value_equal(self, target: list[str], member: str, kind: str, lit: Literal, *, exact: bool) -> Sql:
        path = self.path([*target, member])
        json_kind, value = self.scalar(path)
        found = _or(
            self.atom_equal(json_kind, value, lit, exact=exact),
            _and(self.is_array([*target, member]), self.each_has(path, lit, exact=exact)),
        )
        return _and(self.kind_is(target, kind), found) if exact else found

    def each_has(self, path: str, lit: Literal, *, exact: bool) -> Sql:
        cond = self.atom_equal(("qj.type", ()), ("qj.atom", ()), lit, exact=exact)
        if cond == FALSE:
            return FALSE
        return f"EXISTS (SELECT 1 FROM json_each(e.body, ?) AS qj WHERE {cond[0]})", (path, *cond[1])

    def list_has(self, target: list[str], member: str, lit: Literal) -> Sql:
        path = self.path([*target, member])
        return _and(self.is_array([*target, member]), self.each_has(path, lit, exact=False))

    def object_list_has(self, target: list[str], uri: Any) -> Sql:
        path = self.path([*target, "objectList"])
        return (
            "EXISTS (SELECT 1 FROM json_each(e.body, ?) AS qj WHERE json_extract(qj.value, '$.object') = ?)",
            (path, uri),
        )

    def compare(self, path: str, op: str, lit: Literal) -> Sql:
        (kind, kind_params), (value, value_params) = self.scalar(path)
        if lit.domain == "str":
            return f"({kind} = 'text' AND {value} {op} ?)", (*kind_params, *value_params, lit.value)
        return (
            f"(({kind} = 'integer' AND {value} {op} ?) OR ({kind} = 'real' AND {value} {op} ?))",
            (
                *kind_params,
                *value_params,
                lit.value,
                *kind_params,
                *value_params,
                _widen(float(lit.value), op),
            ),
        )

    def scalar_compare(self, keys: list[str], op: str, lit: Literal) -> Sql:
        return self.compare(self.path(keys), op, lit)

    def scalar_between(self, target: list[str], low: Literal, high: Literal, *, exact: bool) -> Sql:
        path = self.path([*target, "value"])
        if exact:
            if low.domain == "str":
                found = _and(self.compare(path, ">=", low), self.compare(path, "<=", high))
            elif isinstance(low.value, int) and isinstance(high.value, int):
                (kind, kind_params), (value, value_params) = self.scalar(path)
                found = (
                    f"({kind} = 'integer' AND {value} BETWEEN ? AND ?)",
                    (*kind_params, *value_params, low.value, high.value),
                )
            else:
                return FALSE
            return _and(self.kind_is(target, "Property"), found)
        return _and(self.compare(path, ">=", low), self.compare(path, "<=", high))

    def text_equal(self, keys: list[str], text: str) -> Sql:
        path = self.path(keys)
        return "(json_type(e.body, ?) = 'text' AND json_extract(e.body, ?) = ?)", (path, path, text)

    def text_compare(self, keys: list[str], op: str, text: str) -> Sql:
        path = self.path(keys)
        return f"(json_type(e.body, ?) = 'text' AND json_extract(e.body, ?) {op} ?)", (path, path, text)


class _Postgres(_Builder):
    @staticmethod
    def get(keys: list[str]) -> Sql:
        return "(e.body" + " -> CAST(? AS text)" * len(keys) + ")", tuple(keys)

    @staticmethod
    def text(keys: list[str]) -> Sql:
        return "(e.body" + " -> CAST(? AS text)" * (len(keys) - 1) + " ->> CAST(? AS text))", tuple(keys)

    @staticmethod
    def contains(keys: list[str], leaf: Any) -> Sql:
        doc: Any = leaf
        for key in reversed(keys):
            doc = {key: doc}
        return "e.body @> CAST(? AS jsonb)", (orjson.dumps(doc).decode(),)

    def exists(self, keys: list[str]) -> Sql:
        sql, params = self.get(keys)
        return f"{sql} IS NOT NULL", params

    @staticmethod
    def jsonpath(target: list[str]) -> str:
        return "$" + "".join("." + orjson.dumps(key).decode() for key in target)

    @staticmethod
    def matching(alternatives: list[str]) -> Sql:
        """One jsonpath predicate (lax mode: arrays, multi-attributes included, are searched)."""
        if not alternatives:
            return FALSE
        return "e.body @@ CAST(? AS jsonpath)", (" || ".join(alternatives),)

    def kinds(self, target: list[str]) -> list[str]:
        base = self.jsonpath(target)
        return [f'{base}.type == "{kind}"' for kind in KINDS]  # the hub always stores "type"

    def exists_top(self, attr: str) -> Sql:
        return self.matching(self.kinds([attr]))

    def equal(self, t: Term, target: list[str], *, exact: bool) -> Sql:
        """As a single jsonpath predicate, so that a GIN index (jsonb_path_ops) answers it and the
        planner does not scan the table for it."""
        if exact or t.path.member is not None or t.low is not None:
            return super().equal(t, target, exact=exact)
        base = self.jsonpath(target)
        alternatives: list[str] = []
        for lit in t.values:
            if not _number_safe(lit) or lit.domain in ("instant", "time"):
                alternatives.extend(self.kinds(target))
                continue
            members = ["value", "valueList", "json"]
            if lit.domain == "str":
                members += ["object", "objectList.object"]
            literal = orjson.dumps(lit.value).decode()
            alternatives.extend(f"{base}.{member} == {literal}" for member in members)
            if lit.domain == "str":
                for text in sorted({lit.value, lit.expanded or lit.value}):
                    alternatives.append(f"{base}.vocab == {orjson.dumps(text).decode()}")
                alternatives.append(f'{base}.type == "LanguageProperty"')
        return self.matching(list(dict.fromkeys(alternatives)))

    def is_array(self, keys: list[str]) -> Sql:
        sql, params = self.get(keys)
        return f"jsonb_typeof({sql}) = 'array'", params

    def type_in(self, target: list[str], kinds: tuple[str, ...]) -> Sql:
        return _or(*(self.contains(target, {"type": kind}) for kind in kinds))

    def value_equal(self, target: list[str], member: str, kind: str, lit: Literal, *, exact: bool) -> Sql:
        leaf = lit.value
        if exact:
            return _or(
                self.contains(target, {"type": kind, member: leaf}),
                self.contains(target, {"type": kind, member: [leaf]}),
            )
        return _or(self.contains(target, {member: leaf}), self.contains(target, {member: [leaf]}))

    def list_has(self, target: list[str], member: str, lit: Literal) -> Sql:
        return self.contains(target, {member: [lit.value]})

    def object_list_has(self, target: list[str], uri: Any) -> Sql:
        return self.contains(target, {"objectList": [{"object": uri}]})

    def scalar_compare(self, keys: list[str], op: str, lit: Literal) -> Sql:
        if lit.domain == "str":
            value, value_params = self.get(keys)
            text, text_params = self.text(keys)
            return (
                f"(jsonb_typeof({value}) = 'string' AND {text} COLLATE \"C\" {op} CAST(? AS text))",
                (*value_params, *text_params, lit.value),
            )
        value, value_params = self.get(keys)
        return (
            f"(jsonb_typeof({value}) = 'number' AND {value} {op} CAST(? AS jsonb))",
            (*value_params, *value_params, orjson.dumps(lit.value).decode()),
        )

    def scalar_between(self, target: list[str], low: Literal, high: Literal, *, exact: bool) -> Sql:
        keys = [*target, "value"]
        found = _and(self.scalar_compare(keys, ">=", low), self.scalar_compare(keys, "<=", high))
        if exact:
            return _and(self.contains(target, {"type": "Property"}), found)
        return found

    def text_equal(self, keys: list[str], text: str) -> Sql:
        return self.contains(keys[:-1], {keys[-1]: text})

    def text_compare(self, keys: list[str], op: str, text: str) -> Sql:
        value, value_params = self.get(keys)
        sql, params = self.text(keys)
        return (
            f"(jsonb_typeof({value}) = 'string' AND {sql} COLLATE \"C\" {op} CAST(? AS text))",
            (*value_params, *params, text),
        )
