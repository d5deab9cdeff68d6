"""Masterplan workbooks: the template, the export and the import of the Excel format Pemda staff keep
their masterplans in. The format is ``excel_format``; reading cells, ``excel_read``; checking rows and
writing them through the service, ``excel_import``.

A workbook opens with a 'Petunjuk' sheet explaining every column with its allowed values and an
example; lists come as drop-downs fed from a hidden 'Daftar' sheet. Text a person wrote is always
written back as text, never as a formula (``=...`` in a programme name). The workbook carries the
strategic analysis and the realisations' notes and evidence links, not the evidence files.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal, require_region_admin
from kotacerdas.errors import ValidationFailed
from kotacerdas.framework import service as framework
from kotacerdas.i18n import _
from kotacerdas.kit.files import WORKBOOK_KINDS, check_upload
from kotacerdas.masterplan import schemas as s, service
from kotacerdas.masterplan.excel_format import (
    ANALYSIS,
    ANALYSIS_COLUMNS,
    BUDGET_COLUMNS,
    BUDGETS,
    CELL_LIMIT,
    CONTENT_TYPE,
    DATA_ROWS,
    DIRECTIONS,
    GENERAL_RULES,
    GUIDE,
    INDICATOR_COLUMNS,
    INDICATORS,
    KINDS,
    LISTS,
    PLAN,
    PLAN_KEYS,
    PLAN_STATUSES,
    PROGRAMME_COLUMNS,
    PROGRAMMES,
    QUICK_WIN_COLUMNS,
    QUICK_WIN_FIRST,
    QUICK_WIN_WORDS,
    QUICK_WINS,
    SECTIONS,
    SOURCES,
    STATUS_COLUMNS,
    STATUSES,
    SUPPORT,
    SUPPORT_COLUMNS,
    TERMS,
    VOCABULARIES,
    YEAR_COLUMN_HELP,
    YEAR_STATUSES,
    Column,
    indicator_headers,
)
from kotacerdas.masterplan.excel_import import ImportResult, Progress, WorkbookImport
from kotacerdas.region import service as regions

__all__ = [
    "CONTENT_TYPE",
    "ImportResult",
    "export_workbook",
    "filename_for",
    "import_upload",
    "import_workbook",
    "template_workbook",
]


_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", start_color="DCE6F1", end_color="DCE6F1")
_WRAP = Alignment(wrap_text=True, vertical="top")


@dataclass(frozen=True)
class Layout:
    """What varies between workbooks: the framework edition, the years and the region's offices."""

    edition: str
    years: tuple[int, ...]
    offices: tuple[str, ...]


def _cell(value: Any) -> Any:
    """Text a worksheet can hold: control characters (stored before input refused them) are dropped, and
    line breaks are Excel's (a browser's CRLF would show as a stray character)."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
        return None if value == "" else value
    return value


def _pieces(text: str) -> list[str]:
    """A text in cells. Longer than a cell holds, it is cut between two non-space characters (a cell is
    read trimmed), so the import, joining the pieces without a separator, gets the same text back."""
    pieces = []
    while (fit := _fit(text)) < len(text):
        cut = next((i for i in range(fit, 0, -1) if not (text[i - 1].isspace() or text[i].isspace())), fit)
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text]


def _fit(text: str) -> int:
    """How many characters of ``text`` a cell holds: Excel counts UTF-16 units, an emoji as two."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > CELL_LIMIT:
            return i
    return len(text)


def _safe(ws: Worksheet, values: Sequence[Any]) -> None:
    """Append a row; text stays text even when it starts with '=' (no formula injection)."""
    ws.append([_cell(v) for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def _header(ws: Worksheet, names: Sequence[str], widths: Sequence[int]) -> None:
    ws.append(list(names))
    for idx, cell in enumerate(ws[1], start=1):
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        ws.column_dimensions[get_column_letter(idx)].width = widths[idx - 1] if idx <= len(widths) else 12
    ws.freeze_panes = "A2"


def _list_sheet(wb: Workbook, layout: Layout) -> dict[str, str]:
    """The hidden sheet the drop-downs read; returns list name -> range formula."""
    ws = wb.create_sheet(LISTS)
    ws.sheet_state = "hidden"
    edition = framework.get_edition(layout.edition)
    lists: dict[str, list[str]] = {
        "dimensi": [d.code for d in edition.dimensions],
        "elemen": [e.code for d in edition.dimensions for e in d.elements],
        "opd": list(layout.offices),
    }
    lists |= {v.name: [w for _c, w, _i, _e in v.words] for v in VOCABULARIES}
    ranges = {}
    for idx, (name, values) in enumerate(lists.items(), start=1):
        letter = get_column_letter(idx)
        ws.cell(1, idx, name).font = _BOLD
        for row, value in enumerate(values, start=2):
            ws.cell(row, idx, value)
        if values:
            ranges[name] = f"{LISTS}!${letter}$2:${letter}${len(values) + 1}"
    return ranges


def _validations(
    ws: Worksheet, columns: Sequence[Column], ranges: dict[str, str], years: tuple[int, ...]
) -> None:
    for idx, column in enumerate(columns, start=1):
        letter = get_column_letter(idx)
        area = f"{letter}2:{letter}{DATA_ROWS}"
        if column.choices and column.choices in ranges:
            dv = DataValidation(type="list", formula1=ranges[column.choices], allow_blank=True)
            dv.error = "Pilih salah satu nilai dari daftar (lihat lembar Petunjuk)."
        elif column.kind == "year":
            dv = DataValidation(
                type="whole", operator="between", formula1="2000", formula2="2100", allow_blank=True
            )
            dv.error = f"Isi tahun, misalnya {years[0] if years else 2024}."
        else:
            continue
        dv.errorTitle = "Nilai tidak sesuai"
        dv.showErrorMessage = True
        ws.add_data_validation(dv)
        dv.add(area)


def _guide(wb: Workbook, layout: Layout) -> None:
    ws = wb.create_sheet(GUIDE, 0)
    for letter, width in zip("ABCDEF", (14, 22, 10, 62, 52, 30), strict=True):
        ws.column_dimensions[letter].width = width
    ws.append(["Petunjuk pengisian rencana induk smart city"])
    ws["A1"].font = Font(bold=True, size=14)
    first, last = (layout.years[0], layout.years[-1]) if layout.years else ("-", "-")
    ws.append(
        [
            f"How to fill in this workbook. Edisi kerangka / framework edition: {layout.edition}; periode / period: {first}-{last}."
        ]
    )
    ws.append([])
    for rule_id, rule_en in GENERAL_RULES:
        _safe(ws, ["Umum", "", "", rule_id, rule_en])
    ws.append([])
    _bold_row(ws, ["Lembar", "Kolom", "Wajib", "Penjelasan", "Explanation (English)", "Contoh / example"])
    sheets = (
        (PLAN, PLAN_KEYS),
        (ANALYSIS, ANALYSIS_COLUMNS),
        (PROGRAMMES, PROGRAMME_COLUMNS),
        (BUDGETS, BUDGET_COLUMNS),
        (STATUSES, STATUS_COLUMNS),
        (INDICATORS, INDICATOR_COLUMNS + YEAR_COLUMN_HELP),
        (SUPPORT, SUPPORT_COLUMNS),
    )
    for sheet, columns in sheets:
        for c in columns:
            _safe(ws, [sheet, c.name, "ya" if c.required else "", c.help_id, c.help_en, c.example])
    _safe(
        ws,
        [QUICK_WINS, QUICK_WIN_FIRST.name, "ya", QUICK_WIN_FIRST.help_id, QUICK_WIN_FIRST.help_en, "GOV-01"],
    )
    for attr, header in QUICK_WIN_COLUMNS.items():
        _w, help_id, help_en = QUICK_WIN_WORDS.get(attr, (attr, attr, attr))
        _safe(
            ws,
            [
                QUICK_WINS,
                header,
                "",
                f"Uraian kriteria quick win: {help_id}",
                f"Quick-win criterion: {help_en}",
                "",
            ],
        )
    ws.append([])
    _bold_row(ws, ["Kolom", "Nilai", "Dimensi", "Arti", "Meaning (English)"])
    edition = framework.get_edition(layout.edition)
    for dim in edition.dimensions:
        _safe(ws, ["dimensi", dim.code, "", dim.name.id, dim.name.en])
    for dim in edition.dimensions:
        for el in dim.elements:
            _safe(ws, ["elemen", el.code, dim.code, el.name.id, el.name.en])
    for office in layout.offices:
        _safe(ws, ["opd", office, "", "OPD terdaftar di kotacerdas", "Office registered in kotacerdas"])
    for vocab in VOCABULARIES:
        for _code, word, meaning_id, meaning_en in vocab.words:
            _safe(ws, [vocab.name, word, "", meaning_id, meaning_en])
    for row in ws.iter_rows(min_row=4):
        for cell in row:
            cell.alignment = _WRAP


def _bold_row(ws: Worksheet, values: Sequence[str]) -> None:
    ws.append([_cell(v) for v in values])
    for cell in ws[ws.max_row]:
        cell.font = _BOLD
        cell.fill = _HEADER_FILL


def _build(layout: Layout) -> Workbook:
    wb = Workbook()
    wb.remove(wb.worksheets[0])
    plan = wb.create_sheet(PLAN)
    _header(plan, ["kunci", "nilai", "keterangan"], [22, 70, 60])
    for key in PLAN_KEYS:
        _safe(plan, [key.name, None, key.help_id])
    for row in plan.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = _WRAP
    ranges = _list_sheet(wb, layout)
    status_dv = DataValidation(type="list", formula1=ranges[PLAN_STATUSES.name], allow_blank=True)
    plan.add_data_validation(status_dv)
    status_dv.add(f"B{len(PLAN_KEYS) + 1}")
    year_cols = [YEAR_COLUMN_HELP[0]] * len(layout.years) + [YEAR_COLUMN_HELP[1]] * len(layout.years)
    sheets: list[tuple[str, Sequence[Column], list[str]]] = [
        (ANALYSIS, ANALYSIS_COLUMNS, [c.name for c in ANALYSIS_COLUMNS]),
        (PROGRAMMES, PROGRAMME_COLUMNS, [c.name for c in PROGRAMME_COLUMNS]),
        (BUDGETS, BUDGET_COLUMNS, [c.name for c in BUDGET_COLUMNS]),
        (STATUSES, STATUS_COLUMNS, [c.name for c in STATUS_COLUMNS]),
        (INDICATORS, list(INDICATOR_COLUMNS) + year_cols, indicator_headers(layout.years)),
        (SUPPORT, SUPPORT_COLUMNS, [c.name for c in SUPPORT_COLUMNS]),
    ]
    for name, columns, headers in sheets:
        ws = wb.create_sheet(name)
        _header(ws, headers, [c.width for c in columns])
        _validations(ws, columns, ranges, layout.years)
    ws = wb.create_sheet(QUICK_WINS)
    _header(ws, [QUICK_WIN_FIRST.name, *QUICK_WIN_COLUMNS.values()], [14] + [30] * len(QUICK_WIN_COLUMNS))
    _guide(wb, layout)
    wb.move_sheet(LISTS, offset=len(wb.sheetnames) - 1 - wb.sheetnames.index(LISTS))
    wb.active = 0
    return wb


def _bytes(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def template_workbook(
    edition_code: str, start_year: int, end_year: int, *, offices: Sequence[str] = ()
) -> bytes:
    """An empty workbook for the period, with headers, drop-downs and the instructions."""
    framework.get_edition(edition_code)
    try:
        s.check_period(start_year, end_year)
    except ValueError:
        raise ValidationFailed(
            _("A masterplan covers 5 to 10 years (start and end year included)."),
            details=[{"field": "start_year"}, {"field": "end_year"}],
        ) from None
    return _bytes(_build(Layout(edition_code, tuple(range(start_year, end_year + 1)), tuple(offices))))


def _number(value: Decimal | None) -> Decimal | int | None:
    """Whole numbers as integers (Excel shows 1250000, not 1250000.00)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else value.normalize()


def export_workbook(session: Session, *, principal: Principal, region_id: int, masterplan_id: int) -> bytes:
    """The masterplan in the import format: importing it again gives the same masterplan."""
    plan = service.get_masterplan(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id
    )
    programmes = service.list_programmes(
        session, principal=principal, region_id=region_id, masterplan_id=plan.id
    )
    indicators = service.list_indicators(
        session, principal=principal, region_id=region_id, masterplan_id=plan.id
    )
    offices = {o.id: o.short_name for o in regions.list_offices(session, region_id=region_id)}
    years = tuple(range(plan.start_year, plan.end_year + 1))
    wb = _build(Layout(plan.framework_edition, years, tuple(sorted(offices.values()))))

    sheet = wb[PLAN]
    values: dict[str, Any] = {
        "judul": plan.title,
        "tahun_mulai": plan.start_year,
        "tahun_selesai": plan.end_year,
        "dasar_hukum_nomor": plan.legal_basis_number or "",
        "dasar_hukum_tanggal": plan.legal_basis_date.strftime("%d-%m-%Y") if plan.legal_basis_date else "",
        "visi": plan.vision,
        "misi": "\n".join(plan.missions),
        "status": PLAN_STATUSES.word(plan.status),
    }
    for row in sheet.iter_rows(min_row=2):
        key = row[0].value
        if isinstance(key, str) and key in values:
            row[1].value = _cell(values[key])
            if isinstance(values[key], str) and values[key].startswith("="):
                row[1].data_type = "s"

    for sec in plan.sections:
        for piece in _pieces(_cell(sec.body) or ""):
            _safe(wb[ANALYSIS], [SECTIONS.word(sec.kind), piece])
    for row in wb[ANALYSIS].iter_rows(min_row=2):
        for cell in row:
            cell.alignment = _WRAP

    codes = {p.id: p.code for p in programmes}
    for p in programmes:
        _safe(
            wb[PROGRAMMES],
            [
                p.code, p.name, p.description, p.dimension, p.element,
                offices.get(p.lead_office_id, "") if p.lead_office_id else "",
                p.pic_name, "; ".join(p.partners), KINDS.word(p.kind), TERMS.word(p.term),
                p.start_year, p.end_year, "ya" if p.is_quick_win else "tidak", p.rpjmd_programme,
            ],
        )  # fmt: skip
        for b in p.budgets:
            _safe(wb[BUDGETS], [p.code, b.year, SOURCES.word(b.source), _number(b.amount)])
        for st in p.year_statuses:
            _safe(wb[STATUSES], [p.code, st.year, YEAR_STATUSES.word(st.status), st.note])
        if p.is_quick_win or any(p.quick_win.values()):
            _safe(wb[QUICK_WINS], [p.code, *(str(p.quick_win.get(a) or "") for a in QUICK_WIN_COLUMNS)])
    for cell in wb[BUDGETS]["D"][1:]:
        cell.number_format = "#,##0"
    for ind in indicators:
        targets = {t.year: t.value for t in ind.targets}
        reals = {r.year: r.value for r in ind.realisations}
        _safe(
            wb[INDICATORS],
            [
                ind.code, codes.get(ind.programme_id, "") if ind.programme_id else "", ind.dimension,
                ind.element or "", ind.name, ind.unit, DIRECTIONS.word(ind.direction),
                ind.baseline_year, _number(ind.baseline_value),
                *(_number(targets.get(y)) for y in years), *(_number(reals.get(y)) for y in years),
            ],
        )  # fmt: skip
        for r in ind.realisations:  # evidence files stay in kotacerdas: a workbook carries text
            if r.note or r.evidence_url:
                _safe(wb[SUPPORT], [ind.code, r.year, r.note, r.evidence_url])
                if r.evidence_url:
                    link = wb[SUPPORT].cell(wb[SUPPORT].max_row, 4)
                    link.hyperlink, link.style = r.evidence_url, "Hyperlink"
    return _bytes(wb)


def filename_for(region_code: str, title: str) -> str:
    """A download name that survives every browser and file system."""
    stem = "".join(ch if ch.isalnum() else "-" for ch in f"masterplan-{region_code}-{title}".lower())
    while "--" in stem:
        stem = stem.replace("--", "-")
    return stem.strip("-")[:80] + ".xlsx"


def import_workbook(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    data: bytes,
    masterplan_id: int | None,
    lang: str = "id",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Create a masterplan from the workbook (no ``masterplan_id``) or upsert its programmes and
    indicators by code into the masterplan; either way the analysis sections and the realisations'
    notes and evidence links that have a row are set (``excel_texts``). All or nothing: any problem raises ValidationFailed whose
    details list every problem as {"sheet", "row", "column", "cell", "message"} in ``lang``.

    Writes happen inside the caller's transaction; ``dry_run`` checks everything, the writes included,
    and rolls them back.
    """
    require_region_admin(principal, region_id, service.WRITE)
    job = WorkbookImport(
        session, principal=principal, region_id=region_id, masterplan_id=masterplan_id, lang=lang
    )
    job.read(data)
    if job.problems.items:
        raise job.problems.fail(lang)
    return job.write(dry_run=dry_run, progress=progress)


def import_upload(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    filename: str,
    data: bytes,
    max_bytes: int,
    masterplan_id: int | None,
    lang: str = "id",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """An uploaded file: who may import first, then what the bytes are (413/415), then the workbook."""
    require_region_admin(principal, region_id, service.WRITE)
    check_upload(data, filename, allowed=WORKBOOK_KINDS, max_bytes=max_bytes)
    return import_workbook(
        session,
        principal=principal,
        region_id=region_id,
        data=data,
        masterplan_id=masterplan_id,
        lang=lang,
        dry_run=dry_run,
        progress=progress,
    )
