"""Regular expressions from clients (q ``~=``, idPattern): compiled once, and only if they are safe."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kotacerdas.hub.problems import BadRequestData, TooComplexQuery

MAX_LENGTH = 256
MAX_REPEATS = 8  # repeated elements in one expression


def compile_pattern(pattern: str, what: str = "The regular expression") -> re.Pattern[str]:
    """Compile a client's regular expression, refusing those that could run for minutes.

    Python's ``re`` backtracks and has no timeout, so the length is capped and the shapes known to
    backtrack exponentially are refused (BadRequestData saying why); what remains is at worst
    polynomial in the length of the searched text."""
    if not pattern:
        raise BadRequestData(f"{what} is empty.")
    if len(pattern) > MAX_LENGTH:
        raise TooComplexQuery(f"{what} is longer than {MAX_LENGTH} characters.")
    try:
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise BadRequestData(f"{what} is not valid: {exc}.") from None
    problem = backtracking_risk(pattern)
    if problem is not None:
        raise BadRequestData(f"{what} is refused: {problem}.")
    return compiled


@dataclass
class _Group:
    repeats: bool = False  # holds a repeated (unbounded or counted) element
    firsts: list[str | None] = field(default_factory=lambda: [None])  # first literal of each alternative
    fresh: bool = True  # nothing parsed yet in the current alternative

    def distinct_alternatives(self) -> bool:
        firsts = self.firsts
        if len(firsts) == 1:
            return True
        return all(f is not None for f in firsts) and len(set(firsts)) == len(firsts)


_QUANTIFIER = re.compile(r"\*|\+|\?|\{(\d*)(,?)(\d*)\}")
_INLINE_FLAGS = re.compile(r"\(\?[aiLmsux-]+\)")
_GROUP_HEADER = re.compile(r"\(\?(?:P<\w+>|<[=!]|[:=!>]|[aiLmsux-]+:)|\(")


def backtracking_risk(pattern: str) -> str | None:
    """Refuse the shapes that make a backtracking engine exponential: a repeated group that itself
    repeats something or has overlapping alternatives, backreferences, and too many quantifiers."""
    stack = [_Group()]
    previous: _Group | None = None  # the group just closed, when the next token may quantify it
    has_previous = False
    repeats = 0
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        top = stack[-1]
        quantifier = _QUANTIFIER.match(pattern, i) if c in "*+?{" else None
        if quantifier is not None and has_previous:
            token = quantifier.group()
            many = token in ("*", "+") or (token.startswith("{") and _counted_many(quantifier))
            if many:
                repeats += 1
                if repeats > MAX_REPEATS:
                    return f"more than {MAX_REPEATS} repetitions"
                if previous is not None and (previous.repeats or not previous.distinct_alternatives()):
                    return (
                        "a repeated group that repeats or has overlapping alternatives (nested quantifiers)"
                    )
                top.repeats = True
            i = quantifier.end()
            if i < n and pattern[i] in "?+":
                i += 1  # lazy or possessive
            has_previous, previous = False, None
            continue
        first: str | None = None
        if c == "\\":
            if i + 1 < n and pattern[i + 1] in "123456789":
                return "backreferences are not supported"
            if i + 1 < n and not pattern[i + 1].isalnum():
                first = pattern[i + 1]
            i += 2
            previous = None
        elif c == "[":
            i = _class_end(pattern, i)
            previous = None
        elif c == "(":
            if pattern.startswith("(?P=", i) or pattern.startswith("(?(", i):
                return "backreferences and conditionals are not supported"
            if pattern.startswith("(?#", i):
                end = pattern.find(")", i)
                i = n if end < 0 else end + 1
                continue
            flags = _INLINE_FLAGS.match(pattern, i)
            if flags is not None:
                i = flags.end()
                continue
            stack.append(_Group())
            header = _GROUP_HEADER.match(pattern, i)
            i = header.end() if header is not None else i + 1
            has_previous, previous = False, None
            continue
        elif c == ")":
            if len(stack) > 1:
                closed = stack.pop()
                parent = stack[-1]
                parent.repeats = parent.repeats or closed.repeats
                if parent.fresh:
                    parent.firsts[-1] = None
                    parent.fresh = False
                i += 1
                previous, has_previous = closed, True
                continue
            i += 1
            continue
        elif c == "|":
            top.firsts.append(None)
            top.fresh = True
            i += 1
            has_previous, previous = False, None
            continue
        else:
            first = None if c in ".^$" else c
            i += 1
            previous = None
        if top.fresh:
            top.firsts[-1] = first
            top.fresh = False
        has_previous = True
    return None


def _counted_many(match: re.Match[str]) -> bool:
    low, comma, high = match.groups()
    if not comma:
        return int(low or 0) > 1
    return not high or int(high) > 1


def _class_end(pattern: str, i: int) -> int:
    j = i + 1
    if pattern.startswith("^", j):
        j += 1
    if pattern.startswith("]", j):
        j += 1
    while j < len(pattern):
        if pattern[j] == "\\":
            j += 2
            continue
        if pattern[j] == "]":
            return j + 1
        j += 1
    return len(pattern)
