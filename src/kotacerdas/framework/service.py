"""The framework editions shipped in the package. Read once; immutable afterwards."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from kotacerdas.errors import NotFound, ValidationFailed
from kotacerdas.framework.schemas import DimensionRead, EditionRead
from kotacerdas.i18n import _

EDITIONS_DIR = Path(__file__).parent / "editions"
DEFAULT_EDITION = "gmsc-2024"


@cache
def _editions() -> dict[str, EditionRead]:
    out = {}
    for path in sorted(EDITIONS_DIR.glob("*.json")):
        edition = EditionRead.model_validate(json.loads(path.read_text(encoding="utf-8")))
        out[edition.code] = edition
    return out


def list_editions() -> list[EditionRead]:
    return list(_editions().values())


def get_edition(code: str) -> EditionRead:
    try:
        return _editions()[code]
    except KeyError:
        raise NotFound(_("Framework edition {code} does not exist."), code=code) from None


def get_dimension(edition: EditionRead, code: str) -> DimensionRead:
    for dim in edition.dimensions:
        if dim.code == code:
            return dim
    raise ValidationFailed(
        _("Dimension {code} is not part of framework edition {edition}."), code=code, edition=edition.code
    )


def check_placement(edition_code: str, dimension: str, element: str | None) -> None:
    """Raise ValidationFailed unless ``dimension`` (and ``element``, if given) exist in the edition."""
    dim = get_dimension(get_edition(edition_code), dimension)
    if element is not None and element not in {e.code for e in dim.elements}:
        raise ValidationFailed(
            _("Element {element} is not part of dimension {dimension}."), element=element, dimension=dimension
        )


def dimension_label(edition_code: str, dimension: str, lang: str) -> str:
    dim = get_dimension(get_edition(edition_code), dimension)
    return dim.name.id if lang == "id" else dim.name.en


def element_label(edition_code: str, dimension: str, element: str, lang: str) -> str:
    for el in get_dimension(get_edition(edition_code), dimension).elements:
        if el.code == element:
            return el.name.id if lang == "id" else el.name.en
    return element
