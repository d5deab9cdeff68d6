"""JSON-LD @context handling for NGSI-LD: expand terms on the way in, compact them on the way out.

Only what NGSI-LD needs of JSON-LD is implemented, and it is fast because every resolved context is
cached: a context is a map of terms to IRIs (strings, or objects with ``@id``), compact IRIs
(``prefix:suffix``), ``@vocab`` for undefined terms, arrays of contexts and remote contexts.
The core context always applies last, so a user's context cannot redefine core terms (GS CIM 009,
5.5.7). It is served from the copy shipped in the package, so the hub works without internet.

Remote contexts are looked up in this order: the core context's own URLs, documents an operator
preloaded (``kotacerdas hub context add URL FILE``, stored in ``hub_context_doc``), the in-process
cache, then an HTTP fetch with a timeout, whose result is stored so that a restart without internet
still works. A context that cannot be had raises ``LdContextNotAvailable`` (503). The fetch goes
through ``kotacerdas.kit.outbound``: a URL on a refused address (loopback, private, link-local unless
the operator allows it) is not fetched and is unavailable like any other; redirects are followed
(w3id.org and many vocabularies redirect) and every hop is checked. Preloaded documents are never
fetched, so an internal context can always be preloaded instead of allowed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import httpx
import orjson

from kotacerdas.hub.problems import BadRequestData, LdContextNotAvailable
from kotacerdas.kit.outbound import OutboundPolicy, guarded_client

CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
# every published name of the core context resolves to the shipped copy
CORE_CONTEXT_URLS = frozenset(
    [
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
        *(f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{n}.jsonld" for n in range(3, 10)),
        *(f"http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{n}.jsonld" for n in range(3, 10)),
        "http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    ]
)
MAX_DEPTH = 8
MAX_CONTEXT_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5

ContextValue = str | dict[str, Any] | list[Any] | None


@lru_cache(maxsize=1)
def core_document() -> dict[str, Any]:
    data = resources.files("kotacerdas.hub").joinpath("data/ngsi-ld-core-context.jsonld").read_bytes()
    doc: dict[str, Any] = orjson.loads(data)
    return doc


def _is_absolute(value: str) -> bool:
    return "://" in value or value.startswith(("urn:", "did:", "mailto:"))


@dataclass
class ActiveContext:
    """The terms in force for one request. Immutable once built; shared through the cache."""

    terms: dict[str, str]
    vocab: str | None
    source: ContextValue  # what the client sent (None = only the core context)
    _expanded: dict[str, str] = field(default_factory=dict, repr=False)
    _compacted: dict[str, str] = field(default_factory=dict, repr=False)
    _reverse: dict[str, str] | None = field(default=None, repr=False)
    _prefixes: list[tuple[str, str]] | None = field(default=None, repr=False)
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # tables made from terms

    @property
    def is_core(self) -> bool:
        return self.source is None

    def expand(self, term: str) -> str:
        """A term, compact IRI or IRI to its full IRI (vocabulary-relative, as attribute names)."""
        hit = self._expanded.get(term)
        if hit is not None:
            return hit
        iri = self._expand(term)
        if len(self._expanded) < 50_000:
            self._expanded[term] = iri
        return iri

    def _expand(self, term: str) -> str:
        mapped = self.terms.get(term)
        if mapped is not None:
            return mapped
        if ":" in term:
            prefix, _, suffix = term.partition(":")
            if not suffix.startswith("//"):
                base = self.terms.get(prefix)
                if base is not None:
                    return base + suffix
            if _is_absolute(term) or prefix:
                return term
        return (self.vocab or DEFAULT_VOCAB) + term

    def compact(self, iri: str) -> str:
        hit = self._compacted.get(iri)
        if hit is not None:
            return hit
        term = self._compact(iri)
        if len(self._compacted) < 50_000:
            self._compacted[iri] = term
        return term

    def _compact(self, iri: str) -> str:
        if self._reverse is None:
            reverse: dict[str, str] = {}
            for term, target in self.terms.items():
                best = reverse.get(target)
                if best is None or (len(term), term) < (len(best), best):
                    reverse[target] = term
            self._reverse = reverse
            self._prefixes = sorted(
                ((t, v) for t, v in self.terms.items() if v.endswith(("/", "#", ":")) and ":" not in t),
                key=lambda item: -len(item[1]),
            )
        found = self._reverse.get(iri)
        if found is not None:
            return found
        vocab = self.vocab or DEFAULT_VOCAB
        if iri.startswith(vocab):
            rest = iri[len(vocab) :]
            if rest and ":" not in rest and rest not in self.terms:
                return rest
        for prefix, base in self._prefixes or ():
            if iri.startswith(base) and len(iri) > len(base):
                return f"{prefix}:{iri[len(base) :]}"
        return iri


DocumentLoader = Callable[[str], dict[str, Any] | None]


class ContextResolver:
    """Builds ``ActiveContext`` objects and caches them by the context value that produced them."""

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        cache_seconds: float = 3600.0,
        preloaded: DocumentLoader | None = None,
        store_fetched: Callable[[str, dict[str, Any]], None] | None = None,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self.timeout = timeout
        # None: the process's settings decide (``get_settings``); the web app sets its own
        self.outbound = outbound
        self.cache_seconds = cache_seconds
        self.preloaded = preloaded
        self.store_fetched = store_fetched
        self._docs: dict[str, tuple[float, dict[str, Any]]] = {}
        self._active: dict[str, ActiveContext] = {}
        self._lock = threading.Lock()
        self.core = self._build(None)

    def resolve(self, value: ContextValue) -> ActiveContext:
        active = self.cached(value)
        if active is not None:
            return active
        key = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        active = self._build(value)
        with self._lock:
            if len(self._active) > 1000:
                self._active.clear()
            self._active[key] = active
        return active

    def cached(self, value: ContextValue) -> ActiveContext | None:
        """The context for ``value`` if it is already built (no document to read or fetch), else None."""
        if value is None:
            return self.core
        key = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        return self._active.get(key)

    def _build(self, value: ContextValue) -> ActiveContext:
        terms: dict[str, str] = {}
        raw: dict[str, Any] = {}
        vocab: list[str | None] = [None]
        if value is not None:
            self._collect(value, raw, vocab, depth=0)
        core = core_document()["@context"]
        self._collect(core, raw, vocab, depth=0)  # the core context is applied last and wins
        for term, definition in raw.items():
            iri = self._definition_iri(term, definition, raw)
            if iri is not None:
                terms[term] = iri
        return ActiveContext(terms=terms, vocab=vocab[0] or DEFAULT_VOCAB, source=value)

    def _definition_iri(self, term: str, definition: Any, raw: dict[str, Any], depth: int = 0) -> str | None:
        target: Any = definition.get("@id") if isinstance(definition, dict) else definition
        if target is None and isinstance(definition, dict):
            target = term  # a definition with only @type/@container keeps the term's own expansion
            if ":" not in term:
                return None
        if not isinstance(target, str) or target.startswith("@"):
            return None
        if ":" in target and depth < MAX_DEPTH:
            prefix, _, suffix = target.partition(":")
            if not suffix.startswith("//") and prefix in raw and prefix != term:
                base = self._definition_iri(prefix, raw[prefix], raw, depth + 1)
                if base is not None:
                    return base + suffix
            return target
        if target in raw and target != term and depth < MAX_DEPTH:
            return self._definition_iri(target, raw[target], raw, depth + 1)
        return DEFAULT_VOCAB + target

    def _collect(self, value: Any, raw: dict[str, Any], vocab: list[str | None], *, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise BadRequestData("The @context nests too deeply.")
        if value is None:
            return
        if isinstance(value, list):
            for item in value:
                self._collect(item, raw, vocab, depth=depth + 1)
            return
        if isinstance(value, str):
            document = self.document(value)
            self._collect(document.get("@context"), raw, vocab, depth=depth + 1)
            return
        if not isinstance(value, dict):
            raise BadRequestData("An @context must be a URL, an object or an array of them.")
        for term, definition in value.items():
            if term == "@vocab":
                if isinstance(definition, str):
                    vocab[0] = definition
                continue
            if term.startswith("@"):
                continue
            if not isinstance(definition, (str, dict)) and definition is not None:
                raise BadRequestData(f"The @context term {term!r} has an invalid definition.")
            if definition is None:
                raw.pop(term, None)
                continue
            raw[term] = definition

    def document(self, url: str) -> dict[str, Any]:
        if url in CORE_CONTEXT_URLS:
            return core_document()
        if not _is_absolute(url) or not url.startswith(("http://", "https://")):
            raise BadRequestData(f"The @context {url!r} is not an http(s) URL.")
        now = time.monotonic()
        cached = self._docs.get(url)
        if cached is not None and cached[0] > now:
            return cached[1]
        doc = self.preloaded(url) if self.preloaded else None
        if doc is None:
            try:
                doc = self._fetch(url)
            except LdContextNotAvailable:
                if cached is not None:  # a stale copy is better than failing
                    return cached[1]
                raise
            if self.store_fetched is not None:
                self.store_fetched(url, doc)
        with self._lock:
            self._docs[url] = (now + self.cache_seconds, doc)
        return doc

    def _policy(self) -> OutboundPolicy:
        if self.outbound is None:
            from kotacerdas.config import get_settings

            self.outbound = OutboundPolicy.from_settings(get_settings())
        return self.outbound

    def _fetch(self, url: str) -> dict[str, Any]:
        try:
            with (
                guarded_client(
                    self._policy(), timeout=self.timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS
                ) as client,
                client.stream(
                    "GET", url, headers={"Accept": "application/ld+json, application/json"}
                ) as response,
            ):
                if response.status_code != 200:
                    raise LdContextNotAvailable(f"The @context {url} answered HTTP {response.status_code}.")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_CONTEXT_BYTES:
                        raise LdContextNotAvailable(f"The @context {url} is too large.")
        except httpx.HTTPError as exc:
            raise LdContextNotAvailable(f"The @context {url} could not be retrieved: {exc}.") from exc
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise LdContextNotAvailable(f"The @context {url} is not JSON.") from exc
        if not isinstance(doc, dict) or "@context" not in doc:
            raise LdContextNotAvailable(f"The document at {url} has no @context.")
        return doc


def parse_context_document(data: bytes) -> dict[str, Any]:
    """Check a context document an operator wants to preload (the CLI and the API use it)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequestData(f"The file is not JSON: {exc}.") from exc
    if not isinstance(doc, dict) or "@context" not in doc:
        raise BadRequestData('A context document is a JSON object with an "@context" member.')
    _check_shape(doc["@context"], 0)
    return doc


def _check_shape(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BadRequestData("The @context nests too deeply.")
    if isinstance(value, list):
        for item in value:
            _check_shape(item, depth + 1)
    elif isinstance(value, dict):
        for term, definition in value.items():
            if not term.startswith("@") and not isinstance(definition, (str, dict, type(None))):
                raise BadRequestData(f"The @context term {term!r} has an invalid definition.")
    elif not isinstance(value, str):
        raise BadRequestData("An @context must be a URL, an object or an array of them.")
