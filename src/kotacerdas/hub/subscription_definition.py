"""Subscription definitions (GS CIM 009, 5.2.12): from a request body to the stored form.

Everything a Subscription may hold is checked here, member by member (entities, watchedAttributes,
notificationTrigger, q, geoQ, timeInterval, expiresAt, the notification and its endpoint...), so a
stored definition is always well formed: names expanded with the request's @context, ``q``, ``geoQ``
and ``pick``/``omit`` proven readable, the endpoint an http(s) URL the installation may contact.
Problems are ``BadRequestData`` or ``OperationNotSupported``. Nothing here touches the database;
storing, rendering and compiling are ``kotacerdas.hub.subscriptions``'s.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import orjson

from kotacerdas.hub.context import ActiveContext, ContextResolver
from kotacerdas.hub.entity import check_entity_id, check_name, format_us, parse_datetime
from kotacerdas.hub.problems import BadRequestData, OperationNotSupported
from kotacerdas.kit.outbound import DestinationRefused, OutboundPolicy

JSON = "application/json"
JSONLD = "application/ld+json"
GEOJSON = "application/geo+json"
NULL = "urn:ngsi-ld:null"
TRIGGERS = (
    "entityCreated",
    "entityUpdated",
    "entityDeleted",
    "attributeCreated",
    "attributeUpdated",
    "attributeDeleted",
)
DEFAULT_TRIGGERS = ("attributeCreated", "attributeUpdated")
FORMATS = {
    "normalized": "normalized",
    "concise": "concise",
    "keyValues": "keyValues",
    "simplified": "keyValues",
}
ACCEPTS = (JSON, JSONLD, GEOJSON)
PERMISSION = "hub:subscribe"
MAX_TEXT = 4096

# members of a Subscription (5.2.12) and what is done with them
MEMBERS = frozenset(
    [
        "entities",
        "watchedAttributes",
        "notificationTrigger",
        "q",
        "geoQ",
        "timeInterval",
        "isActive",
        "expiresAt",
        "throttling",
        "description",
        "subscriptionName",
        "jsonldContext",
        "lang",
        "notification",
        "localOnly",
    ]
)
READ_ONLY = frozenset(["id", "type", "status", "createdAt", "modifiedAt", "@context"])
UNSUPPORTED = frozenset(["scopeQ", "datasetId", "csf", "temporalQ", "expandValues", "jsonKeys"])
REMOVABLE = frozenset(
    [
        "watchedAttributes",
        "notificationTrigger",
        "q",
        "geoQ",
        "timeInterval",
        "expiresAt",
        "throttling",
        "description",
        "subscriptionName",
        "jsonldContext",
        "lang",
        "entities",
    ]
)
NOTIFICATION_MEMBERS = frozenset(
    ["attributes", "pick", "omit", "format", "sysAttrs", "showChanges", "endpoint"]
)
NOTIFICATION_READ_ONLY = frozenset(
    ["status", "timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure"]
)
ENDPOINT_MEMBERS = frozenset(["uri", "accept", "receiverInfo", "notifierInfo", "timeout", "cooldown"])
# headers the notifier sets itself (or that HTTP manages): receiverInfo may not override them
MANAGED_HEADERS = frozenset(
    ["content-type", "content-length", "host", "link", "transfer-encoding", "connection", "ngsild-tenant"]
)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

# --------------------------------------------------------------------------------- validation


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


YEAR_SECONDS = 366 * 24 * 3600


def _positive(value: Any, what: str, maximum: float) -> float:
    if not _is_number(value) or not value > 0 or value != value:
        raise BadRequestData(f"{what} must be a positive number, got {value!r}.")
    if value > maximum:
        raise BadRequestData(f"{what} may be at most {maximum:g}, got {value!r}.")
    return float(value)


def _text(value: Any, what: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadRequestData(f"{what} must be a non-empty string of at most {limit} characters.")
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequestData(f"{what} must be true or false, got {value!r}.")
    return value


def _names(value: Any, what: str, ctx: ActiveContext) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise BadRequestData(f"{what} must be a non-empty array of attribute names.")
    return list(dict.fromkeys(ctx.expand(check_name(v)) for v in value))


def _selectors(value: Any, ctx: ActiveContext) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise BadRequestData(
            "entities must be a non-empty array of entity selectors {type, id?, idPattern?}."
        )
    selectors = []
    for item in value:
        if not isinstance(item, dict):
            raise BadRequestData("Every member of entities must be an object {type, id?, idPattern?}.")
        unknown = set(item) - {"type", "id", "idPattern"}
        if unknown:
            raise BadRequestData(f"An entity selector has unknown members: {', '.join(sorted(unknown))}.")
        if not isinstance(item.get("type"), str):
            raise BadRequestData("Every entity selector needs a type (a string).")
        selector = {"type": ctx.expand(check_name(item["type"], "entity type"))}
        if "id" in item and "idPattern" in item:
            raise BadRequestData("An entity selector takes id or idPattern, not both.")
        if "id" in item:
            selector["id"] = check_entity_id(item["id"])
        if "idPattern" in item:
            pattern = item["idPattern"]
            if not isinstance(pattern, str) or not pattern or len(pattern) > 1024:
                raise BadRequestData("idPattern must be a non-empty string (a regular expression).")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise BadRequestData(f"idPattern is not a valid regular expression: {exc}.") from None
            selector["idPattern"] = pattern
        selectors.append(selector)
    return selectors


def _triggers(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise BadRequestData("notificationTrigger must be a non-empty array of trigger names.")
    for trigger in value:
        if trigger not in TRIGGERS:
            raise BadRequestData(f"Unknown notificationTrigger {trigger!r}; allowed: {', '.join(TRIGGERS)}.")
    return list(dict.fromkeys(value))


def _geo_q(value: Any, ctx: ActiveContext) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestData("geoQ must be an object {geometry, coordinates, georel, geoproperty?}.")
    unknown = set(value) - {"geometry", "coordinates", "georel", "geoproperty"}
    if unknown:
        raise BadRequestData(f"geoQ has unknown members: {', '.join(sorted(unknown))}.")
    for member in ("geometry", "coordinates", "georel"):
        if member not in value:
            raise BadRequestData(f"geoQ needs {member}.")
    if not isinstance(value["geometry"], str) or not isinstance(value["georel"], str):
        raise BadRequestData("geoQ geometry and georel must be strings.")
    if "geoproperty" in value and not isinstance(value["geoproperty"], str):
        raise BadRequestData("geoQ geoproperty must be a string.")
    parse_geo(value, ctx)
    return dict(value)


def parse_geo(geo_q: dict[str, Any], ctx: ActiveContext) -> Any:
    """The GeoQuery of a stored geoQ, with the same parser as Query Entities."""
    from kotacerdas.hub.geo import parse_geoquery

    coords = geo_q.get("coordinates")
    text = coords if isinstance(coords, str) else orjson.dumps(coords).decode()
    return parse_geoquery(geo_q.get("georel"), geo_q.get("geometry"), text, geo_q.get("geoproperty"), ctx)


def parse_q(text: str, ctx: ActiveContext) -> Any:
    from kotacerdas.hub import q as qlang

    return qlang.parse(text, ctx)


def _projection_text(value: Any, what: str) -> str:
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return ",".join(value)
    if isinstance(value, str) and value:
        return value
    raise BadRequestData(f"notification.{what} must be a non-empty string or array of strings.")


def parse_projection(notification: dict[str, Any], ctx: ActiveContext) -> Any:
    from kotacerdas.hub.projection import parse_projection as parse

    return parse(notification.get("pick"), notification.get("omit"), None, ctx)


def _key_values(value: Any, what: str, *, headers: bool) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise BadRequestData(f"{what} must be an array of {{key, value}} objects.")
    pairs = []
    for item in value:
        if (
            not isinstance(item, dict)
            or set(item) != {"key", "value"}
            or not isinstance(item["key"], str)
            or not isinstance(item["value"], str)
        ):
            raise BadRequestData(f"Every member of {what} must be an object with a string key and value.")
        if headers:
            if not _TOKEN.match(item["key"]):
                raise BadRequestData(f"{what} key {item['key']!r} is not a valid HTTP header name.")
            if item["key"].lower() in MANAGED_HEADERS:
                raise BadRequestData(f"{what} may not set the header {item['key']}; the notifier sets it.")
            if any(c in item["value"] for c in "\r\n\0") or len(item["value"]) > MAX_TEXT:
                raise BadRequestData(f"{what} value of {item['key']} is not a valid header value.")
        pairs.append({"key": item["key"], "value": item["value"]})
    return pairs


def _endpoint(value: Any, outbound: OutboundPolicy | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestData("notification.endpoint must be an object {uri, accept?, receiverInfo?, ...}.")
    unknown = set(value) - ENDPOINT_MEMBERS
    if unknown:
        raise BadRequestData(f"notification.endpoint has unknown members: {', '.join(sorted(unknown))}.")
    uri = value.get("uri")
    if not isinstance(uri, str) or not uri or len(uri) > 2048 or any(c.isspace() for c in uri):
        raise BadRequestData("notification.endpoint.uri must be an http or https URL.")
    try:
        parts = urlsplit(uri)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        raise BadRequestData(f"notification.endpoint.uri is not a valid URL: {uri!r}.") from None
    if parts.scheme not in ("http", "https"):
        raise BadRequestData(
            f"notification.endpoint.uri must be an http or https URL (MQTT notifications are not "
            f"supported), got scheme {parts.scheme!r}."
        )
    if not parts.hostname or not port_ok:
        raise BadRequestData(f"notification.endpoint.uri has no valid host: {uri!r}.")
    if outbound is not None:
        _check_destination(uri, outbound)
    out: dict[str, Any] = {"uri": uri, "accept": value.get("accept", JSON)}
    if not isinstance(out["accept"], str) or out["accept"] not in ACCEPTS:
        raise BadRequestData(f"notification.endpoint.accept must be one of {', '.join(ACCEPTS)}.")
    if "receiverInfo" in value:
        out["receiverInfo"] = _key_values(value["receiverInfo"], "receiverInfo", headers=True)
    if "notifierInfo" in value:
        out["notifierInfo"] = _key_values(value["notifierInfo"], "notifierInfo", headers=False)
    for member in ("timeout", "cooldown"):
        if member in value:
            # milliseconds: at most an hour for timeout, a year for cooldown
            limit = 3_600_000 if member == "timeout" else YEAR_SECONDS * 1000
            out[member] = _positive(value[member], f"notification.endpoint.{member}", limit)
    return out


def _check_destination(uri: str, outbound: OutboundPolicy) -> None:
    """Refuse an endpoint on a loopback, private or link-local address now (server-side request
    forgery); a name that does not resolve yet is accepted and checked again at each delivery."""
    try:
        outbound.check_url(uri, lenient=True)
    except DestinationRefused as exc:
        raise BadRequestData(
            f"notification.endpoint.uri {uri!r} may not be notified: {exc.reason}. Notifications are "
            "not sent to loopback, private or link-local addresses unless the operator allows them "
            "(KOTACERDAS_OUTBOUND_ALLOW)."
        ) from None


def _notification(
    value: Any,
    ctx: ActiveContext,
    old: dict[str, Any] | None = None,
    *,
    outbound: OutboundPolicy | None = None,
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestData("notification must be an object with an endpoint.")
    unknown = set(value) - NOTIFICATION_MEMBERS - NOTIFICATION_READ_ONLY
    if unknown & {"join", "joinLevel"}:
        raise OperationNotSupported("notification.join (linked entities) is not supported by this broker.")
    if unknown:
        raise BadRequestData(f"notification has unknown members: {', '.join(sorted(unknown))}.")
    out = dict(old or {})
    for member, item in value.items():
        if member in NOTIFICATION_READ_ONLY:
            continue
        if item is None or item == NULL:
            if member == "endpoint":
                raise BadRequestData("notification.endpoint cannot be removed.")
            out.pop(member, None)
        elif member == "attributes":
            out["attributes"] = _names(item, "notification.attributes", ctx)
        elif member in ("pick", "omit"):
            out[member] = _projection_text(item, member)
        elif member == "format":
            if not isinstance(item, str) or item not in FORMATS:
                raise BadRequestData("notification.format must be normalized, concise or keyValues.")
            out["format"] = FORMATS[item]
        elif member in ("sysAttrs", "showChanges"):
            out[member] = _bool(item, f"notification.{member}")
        elif member == "endpoint":
            out["endpoint"] = _endpoint(item, outbound)
    if "endpoint" not in out:
        raise BadRequestData("notification.endpoint is required.")
    if "attributes" in out and ("pick" in out or "omit" in out):
        raise BadRequestData("notification.attributes cannot be combined with pick or omit.")
    if "pick" in out or "omit" in out:
        parse_projection(out, ctx)
    out.setdefault("format", "normalized")
    return out


def _member(name: str, value: Any, ctx: ActiveContext, *, now: int, resolver: ContextResolver | None) -> Any:
    if name == "entities":
        return _selectors(value, ctx)
    if name == "watchedAttributes":
        return _names(value, "watchedAttributes", ctx)
    if name == "notificationTrigger":
        return _triggers(value)
    if name == "q":
        text = _text(value, "q")
        parse_q(text, ctx)
        return text
    if name == "geoQ":
        return _geo_q(value, ctx)
    if name in ("timeInterval", "throttling"):
        return _positive(value, name, YEAR_SECONDS)
    if name in ("isActive", "localOnly"):
        return _bool(value, name)
    if name == "expiresAt":
        moment = parse_datetime(value, what="expiresAt")
        if moment <= now:
            raise BadRequestData(f"expiresAt must be in the future, got {value!r}.")
        return format_us(moment)
    if name in ("description", "subscriptionName", "lang"):
        return _text(value, name)
    if name == "jsonldContext":
        url = _text(value, "jsonldContext", 2048)
        if not url.startswith(("http://", "https://")):
            raise BadRequestData("jsonldContext must be the http(s) URL of a JSON-LD context.")
        if resolver is not None:
            resolver.resolve(url)  # LdContextNotAvailable now rather than at the first notification
        return url
    raise BadRequestData(f"Unknown member {name!r}.")  # pragma: no cover - names are checked first


def _check_members(raw: dict[str, Any]) -> None:
    for name in raw:
        if name in UNSUPPORTED:
            raise OperationNotSupported(f"The subscription member {name} is not supported by this broker.")
        if name not in MEMBERS and name not in READ_ONLY:
            raise BadRequestData(f"A subscription has no member {name!r}.")
    if "type" in raw and raw["type"] != "Subscription":
        raise BadRequestData('The type of a subscription must be "Subscription".')


def _check_whole(definition: dict[str, Any]) -> None:
    if "entities" not in definition and "watchedAttributes" not in definition:
        raise BadRequestData("A subscription needs entities or watchedAttributes (or both).")
    if "timeInterval" in definition:
        if "watchedAttributes" in definition:
            raise BadRequestData("timeInterval (periodic) and watchedAttributes cannot be combined.")
        if "throttling" in definition:
            raise BadRequestData("timeInterval (periodic) and throttling cannot be combined.")
        if "entities" not in definition:
            raise BadRequestData("A periodic subscription (timeInterval) needs entities.")
    if "notification" not in definition:
        raise BadRequestData("A subscription needs a notification member with an endpoint.")


def parse_definition(
    raw: Any,
    ctx: ActiveContext,
    *,
    now: int,
    resolver: ContextResolver | None = None,
    outbound: OutboundPolicy | None = None,
) -> dict[str, Any]:
    """A whole subscription from a request body into its stored form (raises BadRequestData).
    With ``outbound``, an endpoint the installation may not contact is refused."""
    if not isinstance(raw, dict):
        raise BadRequestData("A subscription must be a JSON object.")
    _check_members(raw)
    definition: dict[str, Any] = {}
    for name, value in raw.items():
        if name in READ_ONLY:
            continue
        if name == "notification":
            definition["notification"] = _notification(value, ctx, outbound=outbound)
        else:
            definition[name] = _member(name, value, ctx, now=now, resolver=resolver)
    _check_whole(definition)
    return definition
