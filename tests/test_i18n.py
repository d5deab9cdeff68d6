"""The gettext catalogs: complete, faithful to their placeholders, and chosen per request.

Bahasa Indonesia is the default language of every page and API error; ``?lang=en`` switches to
English and the ``kc_lang`` cookie keeps that choice. The completeness test extracts the message ids
from the current source exactly as ``make i18n`` does (same babel.cfg, same keywords), so a string
added without an Indonesian translation fails here instead of showing up in English in production.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from kotacerdas.i18n import LOCALE_DIR

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "src/kotacerdas"
# the keywords of the Makefile's `pybabel extract --no-default-keywords -k _ -k _n:1,2`: only our markers,
# so that `gettext(lang, message)` with a variable message does not extract the language code
KEYWORDS: dict[str, Any] = {"_": None, "_n": (1, 2)}
HOW_TO_FIX = (
    "run `make i18n`, then translate the new entries in src/kotacerdas/locale/id/LC_MESSAGES/messages.po"
)


def _catalog(lang: str) -> Catalog:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def _key(message_id: str | tuple[str, ...] | list[str]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def _strings(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _fields(text: str) -> set[str]:
    """The ``{named}`` placeholders of a text (raises ValueError on a stray brace)."""
    return {name for _literal, name, _spec, _conv in string.Formatter().parse(text) if name is not None}


def _entries(catalog: Catalog) -> Iterable[Message]:
    return (message for message in catalog if message.id)


def _inside_source(path: str) -> bool:
    """Walk only towards the package (the repository also holds data and caches), like pybabel skipping .*/_*."""
    name = Path(path).name
    if name.startswith((".", "_")):
        return False
    rel = Path(path).resolve().relative_to(ROOT).as_posix()
    return rel == SOURCE or SOURCE.startswith(rel + "/") or rel.startswith(SOURCE + "/")


@pytest.fixture(scope="module")
def extracted() -> dict[str, str | tuple[str, ...]]:
    """Message id → the id as extracted (a tuple for plurals), from the source as it is now."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, "babel.cfg")  # type: ignore[no-untyped-call]
    found: dict[str, str | tuple[str, ...]] = {}
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords=KEYWORDS,
        directory_filter=_inside_source,
    ):
        found[_key(message)] = message
    return found


def test_extraction_reads_python_and_templates(extracted: dict[str, Any]) -> None:
    # one id only a template has (inside a macro call), one only Python has, one plural of a template
    assert "Language of the pages" in extracted
    assert "Programme {code} is not on the Program sheet." in extracted
    assert extracted["{n} entry"] == ("{n} entry", "{n} entries")


def test_every_message_has_an_indonesian_translation(extracted: dict[str, Any]) -> None:
    catalog = _catalog("id")
    missing = []
    for key, message_id in sorted(extracted.items()):
        entry = catalog.get(message_id if isinstance(message_id, str) else message_id[0])
        translated = _strings(entry.string) if entry is not None else []
        if entry is None or entry.fuzzy or not translated or not all(s.strip() for s in translated):
            missing.append(key)
    assert not missing, f"{len(missing)} message(s) without an Indonesian translation ({HOW_TO_FIX}):\n" + (
        "\n".join(missing)
    )


def test_indonesian_catalog_has_one_plural_form() -> None:
    catalog = _catalog("id")
    assert catalog.num_plurals == 1
    assert catalog.plural_expr == "0"
    for message in _entries(catalog):
        if message.pluralizable:
            assert len(_strings(message.string)) == 1, message.id


@pytest.mark.parametrize("lang", ["id", "en"])
def test_translations_keep_the_placeholders(lang: str) -> None:
    wrong = []
    for message in _entries(_catalog(lang)):
        expected = set().union(*(_fields(s) for s in _strings(message.id)))
        for text in _strings(message.string):
            if text and _fields(text) != expected:
                wrong.append(f"{message.id!r} -> {text!r}")
    assert not wrong, "translations whose {placeholders} differ from the message id:\n" + "\n".join(wrong)


def test_english_catalog_falls_back_to_the_message_ids() -> None:
    """The ids are English: an English entry is empty (gettext shows the id) or the id itself."""
    for message in _entries(_catalog("en")):
        ids = _strings(message.id)
        for index, text in enumerate(_strings(message.string)):
            assert text in ("", ids[min(index, len(ids) - 1)]), (message.id, text)


# ---------------------------------------------------------------- through the application


def _h1(html: str) -> str:
    return html.split("<h1>", 1)[1].split("</h1>", 1)[0].strip()


def test_login_page_is_indonesian_by_default_and_english_on_request(client: Any) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="id">' in page.text
    assert _h1(page.text) == "Masuk"
    assert "Kata Sandi" in page.text and "Password" not in page.text

    english = client.get("/login?lang=en")
    assert '<html lang="en">' in english.text
    assert _h1(english.text) == "Log in"
    assert "Password" in english.text
    assert client.cookies.get("kc_lang") == "en"

    # the cookie keeps the choice on the next pages, until another ?lang= changes it
    again = client.get("/login")
    assert _h1(again.text) == "Log in"
    back = client.get("/login?lang=id")
    assert _h1(back.text) == "Masuk"
    assert _h1(client.get("/login").text) == "Masuk"


def test_api_errors_follow_the_language(client: Any, world: dict[str, Any]) -> None:
    resp = client.get("/api/v1/regions/35.09")
    assert resp.status_code == 401
    assert resp.json()["error"] == {"code": "not_authenticated", "message": "Silakan masuk terlebih dahulu."}

    resp = client.get("/api/v1/regions/35.09?lang=en")
    assert resp.status_code == 401
    assert resp.json()["error"]["message"] == "Please log in first."


def test_form_errors_are_translated(client: Any, world: dict[str, Any]) -> None:
    wrong = {"email": "admin@jember.go.id", "password": "not-the-password", "next": "/"}
    page = client.post("/login", data={**wrong, "csrf_token": _csrf(client, "/login")})
    assert page.status_code in (400, 401, 422)
    assert "Alamat email atau kata sandi salah." in page.text

    page = client.post("/login?lang=en", data={**wrong, "csrf_token": _csrf(client, "/login?lang=en")})
    assert "The e-mail address or password is wrong." in page.text


def _csrf(client: Any, url: str) -> str:
    html: str = client.get(url).text
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_a_users_saved_language_is_used(make_client: Any, world: dict[str, Any]) -> None:
    setup = make_client().login("admin@jember.go.id", world["password"])
    resp = setup.patch("/api/v1/auth/me", json={"language": "en"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"]["language"] == "en"

    # a new browser without a kc_lang cookie: the account's language decides
    browser = make_client().login("admin@jember.go.id", world["password"])
    assert "kc_lang" not in browser.cookies
    home = browser.get("/")
    assert '<html lang="en">' in home.text
    assert _h1(home.text) == "Welcome, Admin Jember"
    assert "Log out" in home.text
    other_region = browser.get("/api/v1/regions/35.74")
    assert other_region.status_code == 403
    assert other_region.json()["error"]["message"] == "You do not have permission to do this."

    # an explicit choice in this browser still wins over the account's language
    home = browser.get("/?lang=id")
    assert _h1(home.text) == "Selamat datang, Admin Jember"
    assert "Keluar" in home.text

    # an account left at the default gets Indonesian
    dishub = make_client().login("dishub@jember.go.id", world["password"])
    assert _h1(dishub.get("/").text) == "Selamat datang, Operator Dishub"
