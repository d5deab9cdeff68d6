"""Translations through gettext catalogs: Bahasa Indonesia first, English second.

Message ids are English; ``locale/id`` translates them to Bahasa Indonesia, which is the default
language of every page. Catalogs are read from the ``.po`` files at start-up (Babel compiles them in
memory), so there is no build step and no binary in the repository.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("id", "en")
LOCALE_DIR = Path(__file__).parent / "locale"


@cache
def translations(lang: str) -> NullTranslations:
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def gettext(lang: str, message: str, **params: Any) -> str:
    text = translations(lang if lang in LANGUAGES else "id").gettext(message)
    return text.format(**params) if params else text


def ngettext(lang: str, singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(lang if lang in LANGUAGES else "id").ngettext(singular, plural, n)
    return text.format(n=n, **params)


def _(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


class Message(str):
    """A message id with its parameters, for error details: it reads as the English text wherever a
    plain string is expected, and ``translate`` renders it in the reader's language."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, **params: Any) -> Message:
        obj = super().__new__(cls, msgid.format(**params) if params else msgid)
        obj.msgid = msgid
        obj.params = params
        return obj


def translate(lang: str, text: str) -> str:
    """``text`` in ``lang``: a ``Message`` with its parameters, or a plain message id."""
    if isinstance(text, Message):
        return gettext(lang, text.msgid, **text.params)
    return gettext(lang, text)
