from __future__ import annotations

from pydantic import BaseModel


class Text(BaseModel):
    id: str
    en: str


class ElementRead(BaseModel):
    code: str
    name: Text


class DimensionRead(BaseModel):
    code: str
    name: Text
    goal: Text
    elements: list[ElementRead]


class PillarRead(BaseModel):
    code: str
    name: Text
    covers: Text


class EditionRead(BaseModel):
    code: str
    name: Text
    source: str
    dimensions: list[DimensionRead]
    readiness_pillars: list[PillarRead]


class EditionSummary(BaseModel):
    code: str
    name: Text
