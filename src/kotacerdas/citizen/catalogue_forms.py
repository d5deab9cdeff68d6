"""The staff form of a catalogue service: from what was typed to a ``PublicServiceCreate`` /
``PublicServiceUpdate`` payload and back.

Requirements and steps are typed one per line; the fee may be typed the Indonesian way
(``Rp 1.500.000``), coordinates with a decimal comma; the opening hours are a table of two windows
per weekday, turned into windows shared by the days that have the same hours. A row that cannot be
read gets its own message, next to the row.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError
from starlette.datastructures import FormData

from kotacerdas.citizen import catalogue
from kotacerdas.citizen.catalogue_schemas import clock
from kotacerdas.citizen.models import PublicService
from kotacerdas.errors import KotaCerdasError
from kotacerdas.i18n import _, gettext
from kotacerdas.region.models import Office
from kotacerdas.web.schemas import GENERAL, FormErrors, form_errors

WINDOWS_PER_DAY = 2
TEXT_FIELDS = (
    "code",
    "office",
    "name",
    "name_en",
    "description",
    "fee_note",
    "location_name",
    "address",
    "online_url",
    "legal_basis",
    "keywords",
)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def form_values(form: FormData) -> dict[str, Any]:
    """The form as typed, to fill it in again when it is refused."""
    values: dict[str, Any] = {name: _text(form, name) for name in TEXT_FIELDS}
    for name in ("requirements", "procedure", "fee_rp", "duration_days", "lat", "lon"):
        values[name] = _text(form, name)
    values["channels"] = [c for c in form.getlist("channels") if isinstance(c, str)]
    values["active"] = form.get("active") is not None
    values["hours"] = [
        [
            (_text(form, f"opens_{day}_{n}"), _text(form, f"closes_{day}_{n}"))
            for n in range(1, WINDOWS_PER_DAY + 1)
        ]
        for day in range(7)
    ]
    return values


def service_values(svc: PublicService, office: Office) -> dict[str, Any]:
    """A stored service as form values."""
    week = catalogue.week_hours(svc.opening_hours)
    return {
        **{name: getattr(svc, name) for name in TEXT_FIELDS if name != "office"},
        "office": office.short_name,
        "requirements": "\n".join(svc.requirements or []),
        "procedure": "\n".join(svc.procedure or []),
        "fee_rp": str(svc.fee_rp),
        "duration_days": str(svc.duration_days),
        "lat": "" if svc.lat is None else str(svc.lat),
        "lon": "" if svc.lon is None else str(svc.lon),
        "channels": list(svc.channels or []),
        "active": svc.active,
        "hours": [
            [*week[day][:WINDOWS_PER_DAY], *[("", "")] * (WINDOWS_PER_DAY - len(week[day][:WINDOWS_PER_DAY]))]
            for day in range(7)
        ],
    }


def blank_values(office: str = "") -> dict[str, Any]:
    return {
        **dict.fromkeys(TEXT_FIELDS, ""),
        "office": office,
        "requirements": "",
        "procedure": "",
        "fee_rp": "0",
        "duration_days": "1",
        "lat": "",
        "lon": "",
        "channels": ["mpp"],
        "active": True,
        "hours": [[("", "")] * WINDOWS_PER_DAY for _day in range(7)],
    }


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _whole_number(text: str) -> str:
    """``Rp 10.000`` and ``10 000`` as ``10000``; anything else is left for the schema to refuse."""
    cleaned = text.strip().removeprefix("Rp").removeprefix("rp").strip().replace(" ", "")
    if cleaned.replace(".", "").isdigit() and all(len(g) == 3 for g in cleaned.split(".")[1:]):
        return cleaned.replace(".", "")
    return cleaned


def _coordinate(text: str) -> str | None:
    text = text.strip().replace(",", ".")
    return text or None


def _hours(rows: list[list[tuple[str, str]]], lang: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The weekly table as opening-hours windows (days with the same window share one), and a message
    per weekday row that cannot be read."""
    windows: dict[tuple[str, str], list[int]] = {}
    errors: dict[str, str] = {}
    for day, row in enumerate(rows):
        spans = []
        for raw_opens, raw_closes in row:
            opens, closes = raw_opens.strip(), raw_closes.strip()
            if not opens and not closes:
                continue
            if not opens or not closes:
                message = _("Give both the opening and the closing time, or leave both empty.")
            else:
                try:
                    opens, closes = clock(opens), clock(closes)
                except PydanticCustomError:
                    message = _("Write a time as HH:MM, for example 08:00.")
                else:
                    if closes > opens:
                        spans.append((opens, closes))
                        continue
                    message = _("The closing time must be later than the opening time.")
            errors.setdefault(f"hours_{day}", gettext(lang, message))
        spans.sort()
        if any(later[0] < earlier[1] for earlier, later in pairwise(spans)):
            errors.setdefault(f"hours_{day}", gettext(lang, _("The opening windows of this day overlap.")))
            continue
        for span in spans:
            windows.setdefault(span, []).append(day)
    hours = [
        {"days": days, "opens": opens, "closes": closes}
        for (opens, closes), days in sorted(windows.items(), key=lambda item: (item[1][0], item[0]))
    ]
    return hours, errors


def form_payload(
    values: dict[str, Any], lang: str, *, with_active: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    payload: dict[str, Any] = {name: values[name] for name in TEXT_FIELDS}
    payload["requirements"] = _lines(values["requirements"])
    payload["procedure"] = _lines(values["procedure"])
    payload["fee_rp"] = _whole_number(values["fee_rp"]) or "0"
    payload["duration_days"] = values["duration_days"].strip()
    payload["lat"] = _coordinate(values["lat"])
    payload["lon"] = _coordinate(values["lon"])
    payload["channels"] = values["channels"]
    payload["opening_hours"], hour_errors = _hours(values["hours"], lang)
    if with_active:
        payload["active"] = values["active"]
    return payload, hour_errors


def refused_errors(
    exc: ValidationError | KotaCerdasError, lang: str, hour_errors: dict[str, str]
) -> FormErrors:
    errors = form_errors(exc, lang, rename={"opening_hours": "hours"})
    errors.update(hour_errors)
    return errors


def hour_errors_only(lang: str, hour_errors: dict[str, str]) -> FormErrors:
    errors = FormErrors(hour_errors)
    errors.general = gettext(lang, GENERAL)
    return errors
