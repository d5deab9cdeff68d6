"""Which members of an entity a response shows: ``pick`` / ``omit`` (GS CIM 009 clause 4.21) and the
deprecated ``attrs``.

An expression is a comma-separated list of names (``|`` is accepted as well). ``id`` and ``type`` are
the entity's own members; every other name is an attribute, expanded with the request's @context.
A name may be followed by a ``{...}`` selection of the linked entity's members (linked-entity
retrieval); the hub checks its syntax but does not project linked entities, so the name alone counts.
``pick`` keeps only what it lists (``id`` and ``type`` included: ``pick=name`` drops them), ``omit``
removes what it lists, ``attrs`` keeps the listed attributes and always the id and type.
"""

from __future__ import annotations

from dataclasses import dataclass

from kotacerdas.hub.context import NGSI_LD, ActiveContext
from kotacerdas.hub.problems import BadRequestData

MAX_LENGTH = 4096
MAX_NESTING = 10
MAX_NAMES = 1000
SCOPE = NGSI_LD + "scope"
# characters that cannot be in a name (entity._NAME) and the expression's own syntax
_FORBIDDEN = frozenset("<>\"'=;()\\ \t\n\r") | frozenset("{},|")
_SEPARATORS = frozenset(",|")


@dataclass(frozen=True, slots=True)
class Projection:
    keep_id: bool = True
    keep_type: bool = True
    attrs: frozenset[str] | None = None  # expanded IRIs to keep; None keeps every attribute
    omit_attrs: frozenset[str] = frozenset()

    @property
    def keep_scope(self) -> bool:
        return self.allows(SCOPE)

    @property
    def is_identity(self) -> bool:
        return self.keep_id and self.keep_type and self.attrs is None and not self.omit_attrs

    def allows(self, iri: str) -> bool:
        """Whether the attribute ``iri`` is shown."""
        return iri not in self.omit_attrs and (self.attrs is None or iri in self.attrs)


ALL = Projection()


def parse_projection(pick: str | None, omit: str | None, attrs: str | None, ctx: ActiveContext) -> Projection:
    """The projection of a request. Raises BadRequestData for malformed expressions, for a member both
    picked and omitted, and for pick or omit together with attrs."""
    if attrs is not None and (pick is not None or omit is not None):
        raise BadRequestData("attrs (deprecated) cannot be combined with pick or omit; use pick alone.")
    if attrs is not None:
        names = parse_names(attrs, "attrs")
        return Projection(attrs=frozenset(ctx.expand(n) for n in names))
    picked = parse_names(pick, "pick") if pick is not None else None
    omitted = parse_names(omit, "omit") if omit is not None else []
    if picked is not None:
        both = sorted(set(picked) & set(omitted))
        if both:
            raise BadRequestData(f"{', '.join(both)} cannot be both picked and omitted.")
    keep_id = "id" not in omitted and (picked is None or "id" in picked)
    keep_type = "type" not in omitted and (picked is None or "type" in picked)
    keep = None
    if picked is not None:
        keep = frozenset(ctx.expand(n) for n in picked if n not in ("id", "type"))
    drop = frozenset(ctx.expand(n) for n in omitted if n not in ("id", "type"))
    return Projection(keep_id=keep_id, keep_type=keep_type, attrs=keep, omit_attrs=drop)


def parse_names(text: str, what: str) -> list[str]:
    """The top-level names of an expression such as ``name,locatedAt{name,owner{name}}``."""
    if not isinstance(text, str):
        raise BadRequestData(f"{what} must be a string.")
    if not text:
        raise BadRequestData(f"{what} must not be empty.")
    if len(text) > MAX_LENGTH:
        raise BadRequestData(f"{what} is longer than {MAX_LENGTH} characters.")
    names: list[str] = []
    depth = 0
    i, n = 0, len(text)
    expect_name = True  # at the start, after a separator and after '{'
    after_name = False  # a '{' may only follow a name
    while i < n:
        c = text[i]
        if expect_name:
            start = i
            while i < n and text[i] not in _FORBIDDEN:
                i += 1
            if i == start:
                raise _error(what, text, i, "a name")
            if depth == 0:
                names.append(text[start:i])
                if len(names) > MAX_NAMES:
                    raise BadRequestData(f"{what} lists more than {MAX_NAMES} names.")
            expect_name, after_name = False, True
            continue
        if c in _SEPARATORS:
            expect_name = True
        elif c == "{" and after_name:
            depth += 1
            if depth > MAX_NESTING:
                raise BadRequestData(f"{what} nests linked-entity selections more than {MAX_NESTING} deep.")
            expect_name = True
        elif c == "}":
            if depth == 0:
                raise _error(what, text, i, "a ',' or the end (this '}' closes nothing)")
            depth -= 1
        else:
            raise _error(what, text, i, "',' or '}'" if c == "{" else "',', '{' or '}'")
        after_name = False
        i += 1
    if expect_name:
        raise _error(what, text, n, "a name")
    if depth:
        raise _error(what, text, n, "'}' to close a linked-entity selection")
    return names


def _error(what: str, text: str, pos: int, expected: str) -> BadRequestData:
    if pos >= len(text):
        return BadRequestData(f"Invalid {what}: expected {expected} at position {pos} (the end).")
    return BadRequestData(f"Invalid {what}: expected {expected} at position {pos}, found {text[pos]!r}.")
