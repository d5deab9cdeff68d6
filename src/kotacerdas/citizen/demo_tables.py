"""The demo year's data tables: the rates and chances the simulation draws with, the region's demo
JSON files (``demo_data/categories-<code>.json``, ``demo_data/reports-<code>.json``), and the rows the
simulation reads from them (an office's speed, a category as the generator sees it).

``demo_doc`` reads each file once per process (one ``functools.cache``, here); the categories and the
year both read them through it. This module imports nothing of the demo's other modules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "demo_data"
REPORT_STEPS = 12  # progress calls of load_demo_reports: one per twelfth of the year
PER_DAY = 7.0  # reports a day on average: about 2,500 a year, loaded in well under a minute
DAYS = 365
RAINY_MONTHS = (12, 1, 2, 3)
# Monday .. Sunday
WEEKDAY = (1.25, 1.15, 1.1, 1.05, 0.95, 0.75, 0.6)
# local hour of filing: quiet at night, peaks in the morning and after the evening prayer
HOURS = (1, 0.5, 0.3, 0.3, 1, 3, 6, 9, 10, 9, 8, 7, 6, 6, 6, 6, 6, 6, 7, 9, 10, 8, 5, 2)
# the reporter's choice of privacy and of what they leave
PRIVACY = (("identified", 0.70), ("anonymous", 0.25), ("confidential", 0.05))
CHANNELS = (("web", 0.70), ("api", 0.20), ("open311", 0.10))
# what happens to a report at verification (the rest is disposed)
REJECT_DUPLICATE, REJECT_AUTHORITY, REJECT_SPAM = 0.025, 0.015, 0.01
REASSIGN = 0.04  # offices pass the report on, when the category has somewhere to send it
# the reporter after the office's reply: close resolved, close unresolved, reopen; else silent
CLOSE_RESOLVED, CLOSE_UNRESOLVED, REOPEN = 0.55, 0.12, 0.08


def demo_file(kind: str, region_code: str) -> Path:
    return DATA_DIR / f"{kind}-{region_code}.json"


def has_demo_reports(region_code: str) -> bool:
    return demo_file("categories", region_code).exists() and demo_file("reports", region_code).exists()


@cache
def demo_doc(kind: str, region_code: str) -> dict[str, Any]:
    doc = json.loads(demo_file(kind, region_code).read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"{kind}-{region_code}.json: expected a JSON object")
    return doc


@dataclass(frozen=True)
class _Speed:
    accept: float
    respond: float
    spread: float
    stuck: float


@dataclass
class _Kind:
    """A category as the generator sees it: the row, how common it is, and its texts."""

    id: int
    code: str
    office: str
    weight: float
    rainy: float
    has_attributes: bool
    texts: dict[str, Any]
