"""The workbook's written sheets: the strategic analysis ('Analisis') and the notes and evidence links of
realisations ('DataDukung').

Both change only what has a row: a section or a realisation without one keeps what is stored, and a
row's empty cell empties that text (a person who clears a cell of an exported workbook means it).
Uploaded evidence files are not carried: a workbook holds text, the files stay in the file store, and a
realisation keeps its file whatever the import says about its note and link.

Read here into checked records; ``excel_import`` writes them with the rest of the workbook, in the same
savepoint, so a refusal still undoes everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal
from kotacerdas.i18n import _
from kotacerdas.masterplan import schemas as s, service
from kotacerdas.masterplan.excel_format import REALISED, SECTIONS
from kotacerdas.masterplan.excel_read import Cells, Problems, Sheet
from kotacerdas.masterplan.models import Indicator, Masterplan, Realisation

MAX_SECTION = 50_000  # what the application accepts for one section (SectionWrite)


@dataclass
class SectionIn:
    row: int  # the first row; a long text continues on the rows right below
    kind: str
    body: str


@dataclass
class NoteIn:
    row: int
    code: str
    year: int
    # the realisation's "note" and "evidence_url" to set; a column missing from the sheet sets nothing
    fields: dict[str, Any]


def same_text(a: str, b: str) -> bool:
    """Equal once line breaks are alike (a browser sends CRLF, a workbook gives back LF) and the ends
    trimmed (a workbook cell is read trimmed)."""
    return a.replace("\r\n", "\n").strip() == b.replace("\r\n", "\n").strip()


# ---------------------------------------------------------------- Analisis


def read_sections(sheet: Sheet, problems: Problems) -> dict[str, SectionIn]:
    """Section kind -> its text. Rows right below one another with the same section are one text."""
    found: dict[str, SectionIn] = {}
    previous: SectionIn | None = None
    for number, values in sheet.rows:
        c = Cells.of(sheet, number, values, problems)
        kind = c.choice("bagian", SECTIONS, required=True)
        text = c.text("isi", max_len=MAX_SECTION)
        if kind is None or c.failed:
            previous = None
            continue
        if previous is not None and previous.kind == kind:
            previous.body += text
            if len(previous.body) > MAX_SECTION:
                c.problem("isi", _("The text is too long (at most {max} characters)."), max=MAX_SECTION)
            continue
        if kind in found:
            c.problem(
                "bagian",
                _(
                    "Section {section} appears more than once (first on row {row}); continue a long text right below."
                ),
                section=SECTIONS.word(kind),
                row=found[kind].row,
            )
            previous = None
            continue
        previous = found[kind] = SectionIn(number, kind, text)
    for section in found.values():
        if len(section.body) > MAX_SECTION:
            continue  # reported on the row that made it too long
        try:
            s.SectionWrite(body=section.body)
        except ValidationError as exc:
            cells = Cells.of(sheet, section.row, [], problems)
            for err in exc.errors():
                cells.problem("isi", _("The value is not valid: {reason}."), reason=err.get("msg", ""))
    return found


def write_section(
    session: Session, *, principal: Principal, region_id: int, plan: Masterplan, section: SectionIn
) -> bool:
    """Set the section unless it already says the same (the audit log then stays quiet); True if set."""
    stored = next((sec for sec in plan.sections if sec.kind == section.kind), None)
    if stored is not None and same_text(stored.body, section.body):
        return False
    service.set_section(
        session,
        principal=principal,
        region_id=region_id,
        masterplan_id=plan.id,
        kind=section.kind,
        body=section.body,
    )
    return True


# ---------------------------------------------------------------- DataDukung


def _url(c: Cells) -> str | None:
    """The link as the application stores it (``evidence_url`` of a realisation), or None if it is empty."""
    text = c.text("url_data_dukung", max_len=500)
    if not text:
        return None
    entry = None
    if text.lower().startswith(("http://", "https://")):
        try:
            entry = s.RealisationEntry(value=Decimal(0), evidence_url=text)
        except ValidationError:
            entry = None
    # the stored form may grow (a "/" is added to a bare host): it must still fit the column
    if entry is None or entry.evidence_url is None or len(str(entry.evidence_url)) > 500:
        c.problem(
            "url_data_dukung",
            _("Not a web address starting with http:// or https://: {value}."),
            value=text[:80],
        )
        return None
    return str(entry.evidence_url)


def read_notes(
    sheet: Sheet,
    problems: Problems,
    *,
    period: tuple[int, int] | None,
    realised: dict[str, set[int]],
) -> dict[tuple[str, int], NoteIn]:
    """(indicator code, year) -> the note and link to set. ``realised`` holds, per indicator known to the
    import (on the Indikator sheet or already stored), the years that have a realisation."""
    found: dict[tuple[str, int], NoteIn] = {}
    for number, values in sheet.rows:
        c = Cells.of(sheet, number, values, problems)
        code = c.code("kode_indikator", max_len=40)
        year = c.year("tahun", required=True)
        fields: dict[str, Any] = {}
        if "catatan" in sheet.columns:
            fields["note"] = c.text("catatan", max_len=1000)
        if "url_data_dukung" in sheet.columns:
            fields["evidence_url"] = _url(c)
        if year is not None and period is not None and not period[0] <= year <= period[1]:
            c.problem(
                "tahun",
                _("{year} lies outside the masterplan period {start}-{end}."),
                year=year,
                start=period[0],
                end=period[1],
            )
        elif code and code not in realised:
            c.problem(
                "kode_indikator",
                _("Indicator {code} is neither on the Indikator sheet nor in the masterplan."),
                code=code,
            )
        elif code and year is not None and year not in realised[code]:
            c.problem(
                "tahun",
                _("Indicator {code} has no realisation for {year}: fill in {name} on the Indikator sheet."),
                code=code,
                year=year,
                name=f"{REALISED}{year}",
            )
        if not code or year is None or c.failed:
            continue
        if (code, year) in found:
            c.problem(
                "tahun",
                _("The realisation of {code} in {year} appears more than once (first on row {row})."),
                code=code,
                year=year,
                row=found[code, year].row,
            )
            continue
        found[code, year] = NoteIn(number, code, year, fields)
    return found


def realisation_entry(
    year: int, value: Decimal, before: Realisation | None, note: NoteIn | None
) -> s.RealisationWrite | None:
    """The entry to record for a year, or None when the stored one already says the same (who entered it
    and when then stay). The service replaces an entry as a whole, so what the workbook does not change
    (the note and link without a DataDukung row, the evidence file always) is sent again as stored."""
    fields: dict[str, Any] = {
        "note": before.note if before else "",
        "evidence_url": before.evidence_url if before else None,
    }
    if note is not None:
        fields |= note.fields
    if (
        before is not None
        and before.value == value
        and same_text(before.note, fields["note"])
        and before.evidence_url == fields["evidence_url"]
    ):
        return None
    return s.RealisationWrite(
        year=year,
        value=value,
        evidence_id=before.evidence_id if before else None,
        **fields,
    )


def write_realisations(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    indicator: Indicator,
    values: dict[int, Decimal],
    notes: dict[int, NoteIn],
) -> int:
    """Record an indicator's realisations from the workbook: values from the Indikator sheet, notes and
    links from DataDukung. An empty value cell deletes nothing. Returns how many were entered or corrected."""
    entered = {r.year: r for r in indicator.realisations}
    count = 0
    for year in sorted(values.keys() | notes.keys()):
        before = entered.get(year)
        value = values.get(year, before.value if before else None)
        entry = realisation_entry(year, value, before, notes.get(year)) if value is not None else None
        if entry is not None:
            service.record_realisation(
                session, principal=principal, region_id=region_id, indicator_id=indicator.id, data=entry
            )
            count += 1
    return count
