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

This module is the language's one door: its callers (``qsql``, the entity reads, subscriptions, the
API and the tests) import from here. Neither module behind it imports this one:

- ``q_match``: the model (paths, literals, terms, queries), the exact matching, the instant
  conversions shared with ``qsql``.
- ``q_parse``: the grammar and its limits; ``parse``.
"""

from __future__ import annotations

from kotacerdas.hub.q_match import (
    BOOL as BOOL,
    COMPARE as COMPARE,
    CORE_PATH_MEMBERS as CORE_PATH_MEMBERS,
    DATE as DATE,
    DATETIME as DATETIME,
    DOMAIN as DOMAIN,
    KEY as KEY,
    KIND_MEMBER as KIND_MEMBER,
    NUM as NUM,
    ORDERING as ORDERING,
    RELATION_MEMBERS as RELATION_MEMBERS,
    STR as STR,
    TIME as TIME,
    TIME_MEMBERS as TIME_MEMBERS,
    URI as URI,
    WORD as WORD,
    And as And,
    AttrPath as AttrPath,
    Literal as Literal,
    Node as Node,
    Or as Or,
    Query as Query,
    Term as Term,
    attribute_paths as attribute_paths,
    canonical_instant as canonical_instant,
    matches as matches,
    to_sql as to_sql,
)
from kotacerdas.hub.q_parse import (
    MAX_DEPTH as MAX_DEPTH,
    MAX_LENGTH as MAX_LENGTH,
    MAX_LIST as MAX_LIST,
    MAX_TERMS as MAX_TERMS,
    parse as parse,
)
