"""Reading the cells of a masterplan workbook, and the problems found in them.

A Pemda's workbook is typed by hand, so reading is forgiving where that is safe (numbers as text in
Indonesian format, stray spaces, empty rows, Indonesian words or the stored codes) and strict where
it is not. Each problem names the sheet, the row as Excel shows it and the column, so the person can
find the cell. What the cells mean for a masterplan is checked in ``excel_import``.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import column_index_from_string, get_column_letter

from kotacerdas.errors import KotaCerdasError, PayloadTooLarge, ValidationFailed
from kotacerdas.framework.schemas import EditionRead
from kotacerdas.i18n import _, gettext
from kotacerdas.masterplan.excel_format import PLAN_KEYS, PLAN_STATUSES, REALISED, TARGET, Vocabulary
from kotacerdas.masterplan.schemas import check_period

MAX_ROWS = 10_000  # per sheet: far beyond any masterplan, short of exhausting memory
MAX_COLUMNS = 120  # the widest sheet (Indikator over ten years) has 29
MAX_UNPACKED = 100 * 1024 * 1024  # a zip that unpacks to more than this is not a masterplan
YEAR_HEADER = re.compile(rf"^({TARGET}|{REALISED})(\d{{4}})$")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
MAX_AMOUNT = Decimal("9999999999999999")
MAX_MEASURE = Decimal("1e15")

_ID_GROUPED = re.compile(r"^-?[1-9]\d{0,2}(?:\.\d{3})+(?:,\d+)?$")  # 1.250.000 or 1.250.000,5
_EN_GROUPED = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")  # 1,250,000.5
_COMMA_DECIMAL = re.compile(r"^-?\d+,\d+$")  # 12,5
_PLAIN = re.compile(r"^-?\d+(?:\.\d+)?$")  # 12.5 or 1250000
_MONTHS = {
    m: i
    for i, names in enumerate(
        (
            ("januari", "jan", "january"),
            ("februari", "feb", "pebruari", "february"),
            ("maret", "mar", "march"),
            ("april", "apr"),
            ("mei", "may"),
            ("juni", "jun", "june"),
            ("juli", "jul", "july"),
            ("agustus", "agu", "agt", "aug", "august"),
            ("september", "sep", "sept"),
            ("oktober", "okt", "oct", "october"),
            ("november", "nov", "nopember"),
            ("desember", "des", "dec", "december"),
        ),
        start=1,
    )
    for m in names
}


def parse_number(text: str) -> Decimal | None:
    """A number typed as text: Indonesian first (1.250.000 and 12,5), plain and English forms too.

    A single comma is a decimal comma (Indonesian), so "1,250" is 1.25; "1.250" is one thousand two
    hundred and fifty. Rupiah signs and spaces are ignored.
    """
    t = re.sub(r"\s+", "", text.replace("\u00a0", ""))
    t = re.sub(r"^(?i:rp)\.?", "", t)
    try:
        if _ID_GROUPED.match(t) or _ID_GROUPED.match(t.lstrip("-")):
            return Decimal(t.replace(".", "").replace(",", "."))
        if _COMMA_DECIMAL.match(t):
            return Decimal(t.replace(",", "."))
        if _PLAIN.match(t):
            return Decimal(t)
        if _EN_GROUPED.match(t):
            return Decimal(t.replace(",", ""))
    except InvalidOperation:
        return None
    return None


def parse_date(text: str) -> date | None:
    t = text.strip().lower()
    m = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})$", t)
    parts: tuple[int, int, int] | None = None
    if m:
        parts = (int(m[1]), int(m[2]), int(m[3]))
    elif m := re.match(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$", t):
        parts = (int(m[3]), int(m[2]), int(m[1]))
    elif (m := re.match(r"^(\d{1,2})\s+([a-z]+)\.?\s+(\d{4})$", t)) and m[2] in _MONTHS:
        parts = (int(m[3]), _MONTHS[m[2]], int(m[1]))
    if parts is None:
        return None
    try:
        return date(*parts)
    except ValueError:
        return None


# ---------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    sheet: str
    row: int | None
    column: str | None
    cell: str | None
    message: str  # an English message id, translated when reported
    params: dict[str, Any]


class Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(
        self,
        sheet: str,
        row: int | None,
        column: str | None,
        message: str,
        /,
        *,
        cell: str | None = None,
        **params: Any,
    ) -> None:
        self.items.append(Problem(sheet, row, column, cell, message, params))

    def details(self, lang: str) -> list[dict[str, Any]]:
        """In reading order: sheet by sheet, row by row, left to right."""
        sheets = list(dict.fromkeys(p.sheet for p in self.items))

        def position(p: Problem) -> tuple[int, int, int]:
            letters = re.sub(r"\d", "", p.cell or "")
            return (sheets.index(p.sheet), p.row or 0, column_index_from_string(letters) if letters else 0)

        return [
            {
                "sheet": p.sheet,
                "row": p.row,
                "column": p.column,
                "cell": p.cell,
                "message": gettext(lang, p.message, **p.params),
            }
            for p in sorted(self.items, key=position)
        ]

    def fail(self, lang: str) -> ValidationFailed:
        return ValidationFailed(
            _("The workbook has problems ({count}); nothing was imported."),
            count=len(self.items),
            details=self.details(lang),
        )


# ---------------------------------------------------------------- sheets


@dataclass
class Sheet:
    name: str
    columns: dict[str, int]  # header -> 0-based position
    rows: list[tuple[int, list[Any]]]  # (row number as Excel shows it, cleaned cell values)

    def letter(self, column: str) -> str:
        return get_column_letter(self.columns[column] + 1) if column in self.columns else ""

    def values(self, cells: list[Any]) -> dict[str, Any]:
        """One row's cells by column header."""
        return {h: cells[i] if i < len(cells) else None for h, i in self.columns.items()}

    def has_values(self, column: str) -> bool:
        i = self.columns[column]
        return any(i < len(cells) and cells[i] is not None for _n, cells in self.rows)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.replace("\u00a0", " ").strip()
        return value or None
    return value


def _header_name(value: Any) -> str:
    return re.sub(r"\s+", "_", str(value).strip().lower()) if value is not None else ""


def _check_zip(data: bytes) -> None:
    try:
        unpacked = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise unreadable() from None
    if unpacked > MAX_UNPACKED:
        raise PayloadTooLarge(
            _("The workbook is too large once unpacked (at most {limit})."),
            limit=f"{MAX_UNPACKED // (1024 * 1024)} MB",
        )


def unreadable() -> ValidationFailed:
    return ValidationFailed(
        _("The file could not be read as an Excel workbook (.xlsx). Save it again from Excel and try again.")
    )


def read_sheets(data: bytes, problems: Problems) -> dict[str, Sheet]:
    """Every sheet's non-empty rows. Anything the parser chokes on is a clear 422, never a 500."""
    _check_zip(data)
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return {name: _read_sheet(name, wb[name], problems) for name in wb.sheetnames}
        finally:
            wb.close()
    except KotaCerdasError:
        raise
    except Exception:  # a malformed workbook can fail anywhere inside openpyxl or the XML parser
        raise unreadable() from None


def _read_sheet(name: str, ws: Any, problems: Problems) -> Sheet:
    ws.reset_dimensions()  # trust the cells, not the size the file claims
    columns: dict[str, int] = {}
    rows: list[tuple[int, list[Any]]] = []
    for number, raw in enumerate(ws.iter_rows(values_only=True, max_col=MAX_COLUMNS), start=1):
        values = [_clean(v) for v in raw]
        if number == 1:
            for idx, value in enumerate(values):
                header = _header_name(value)
                if header and header not in columns:
                    columns[header] = idx
            continue
        if all(v is None for v in values):
            continue
        if len(rows) >= MAX_ROWS:
            problems.add(name, number, None, _("The sheet has more than {max} rows."), max=MAX_ROWS)
            break
        rows.append((number, values))
    return Sheet(name, columns, rows)


def year_columns(sheet: Sheet) -> dict[str, tuple[str, int]]:
    """target_2025 -> ("target_", 2025) for the Indikator sheet's year columns."""
    out = {}
    for header in sheet.columns:
        m = YEAR_HEADER.match(header)
        if m:
            out[header] = (m[1], int(m[2]))
    return out


def plan_rows(sheet: Sheet) -> dict[str, tuple[int, Any]]:
    """The Masterplan sheet's key -> (row, value): the key in column A, the value in column B."""
    out: dict[str, tuple[int, Any]] = {}
    for number, cells in sheet.rows:
        key = _header_name(cells[0]) if cells else ""
        if key and key not in out:
            out[key] = (number, cells[1] if len(cells) > 1 else None)
    return out


# ---------------------------------------------------------------- cells


def _as_decimal(value: Any) -> Decimal | None:
    """A cell as a finite number: Excel numbers as they are, text through ``parse_number``."""
    number: Decimal | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        number = parse_number(value)
    return number if number is not None and number.is_finite() else None


class Cells:
    """One row's cells. Each reader records a problem and returns an empty value when a cell is unusable."""

    def __init__(
        self,
        sheet: str,
        row: int | None,
        values: dict[str, Any],
        letters: dict[str, str],
        problems: Problems,
        rows: dict[str, int] | None = None,
    ):
        self.sheet, self.row, self.values, self.letters, self.problems = sheet, row, values, letters, problems
        self.rows = rows  # per column, for the Masterplan sheet where every key has its own row
        self.failed = False

    @classmethod
    def of(cls, sheet: Sheet, row: int, cells: list[Any], problems: Problems) -> Cells:
        return cls(
            sheet.name, row, sheet.values(cells), {h: sheet.letter(h) for h in sheet.columns}, problems
        )

    def problem(self, column: str, message: str, **params: Any) -> None:
        row = self.rows.get(column) if self.rows is not None else self.row
        letter = self.letters.get(column)
        cell = f"{letter}{row}" if letter and row else None
        self.problems.add(self.sheet, row, column, message, cell=cell, **params)
        self.failed = True

    def raw(self, column: str, required: bool = False) -> Any:
        value = self.values.get(column)
        if value is None and required:
            self.problem(column, _("A value is required."))
        return value

    def text(self, column: str, *, required: bool = False, min_len: int = 0, max_len: int = 250) -> str:
        value = self.raw(column, required)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = value.strftime("%d-%m-%Y") if isinstance(value, (date, datetime)) else str(value).strip()
        if "\x00" in text:
            self.problem(column, _("The text contains a character that cannot be stored."))
            return ""
        if len(text) > max_len:
            self.problem(column, _("The text is too long (at most {max} characters)."), max=max_len)
            return ""
        if len(text) < min_len:
            self.problem(column, _("The text is too short (at least {min} characters)."), min=min_len)
            return ""
        return text

    def code(self, column: str, *, required: bool = True, max_len: int = 30) -> str:
        text = self.text(column, required=required, max_len=max_len)
        if text and not CODE.match(text):
            self.problem(
                column,
                _("A code may hold letters, digits and . _ / - and starts with a letter or digit: {value}."),
                value=text,
            )
            return ""
        return text

    def number(
        self, column: str, *, required: bool = False, places: int = 4, minimum: Decimal | None = None
    ) -> Decimal | None:
        value = self.raw(column, required)
        if value is None:
            return None
        number = _as_decimal(value)
        if number is None:
            self.problem(column, _("Not a number: {value}."), value=str(value)[:40])
            return None
        limit = MAX_AMOUNT if places == 2 else MAX_MEASURE
        if abs(number) > limit:
            self.problem(column, _("The number is too large."))
            return None
        if minimum is not None and number < minimum:
            self.problem(column, _("The number may not be below {minimum}."), minimum=minimum)
            return None
        return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)

    def year(self, column: str, *, required: bool = False) -> int | None:
        value = self.raw(column, required)
        if value is None:
            return None
        number = _as_decimal(value)
        if number is None or number != number.to_integral_value() or not 2000 <= number <= 2100:
            self.problem(column, _("Not a year between 2000 and 2100: {value}."), value=str(value)[:40])
            return None
        return int(number)

    def choice(self, column: str, vocabulary: Vocabulary, *, required: bool = False) -> str | None:
        text = self.text(column, required=required, max_len=60)
        if not text:
            return None
        code = vocabulary.code(text)
        if code is None:
            allowed = ", ".join(w for _c, w, _i, _e in vocabulary.words)
            self.problem(
                column, _("{value} is not one of the allowed values: {allowed}."), value=text, allowed=allowed
            )
        return code

    def date(self, column: str) -> date | None:
        value = self.raw(column)
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        parsed = parse_date(str(value))
        if parsed is None:
            self.problem(column, _("Not a date (use dd-mm-yyyy): {value}."), value=str(value)[:40])
        return parsed

    def dimension(self, column: str, edition: EditionRead, *, required: bool) -> str | None:
        """A dimension by its code or its name in either language."""
        text = self.text(column, required=required, max_len=100)
        if not text:
            return None
        for dim in edition.dimensions:
            if text.lower() in (dim.code.lower(), dim.name.id.lower(), dim.name.en.lower()):
                return dim.code
        self.problem(
            column,
            _("Dimension {code} is not part of framework edition {edition}."),
            code=text,
            edition=edition.code,
        )
        return None

    def element(
        self, column: str, edition: EditionRead, dimension: str | None, *, required: bool
    ) -> str | None:
        """An element of ``dimension`` by its code or name; unchecked while the dimension is unknown."""
        text = self.text(column, required=required, max_len=100)
        if not text or dimension is None:
            return None
        dim = next(d for d in edition.dimensions if d.code == dimension)
        for el in dim.elements:
            if text.lower() in (el.code.lower(), el.name.id.lower(), el.name.en.lower()):
                return el.code
        self.problem(
            column,
            _("Element {element} is not part of dimension {dimension}."),
            element=text,
            dimension=dimension,
        )
        return None


def plan_cells(sheet: Sheet, problems: Problems) -> Cells:
    """The Masterplan sheet read as one record whose "columns" are its keys; each key keeps its own row."""
    found = plan_rows(sheet)
    cells = Cells(
        sheet.name,
        None,
        {key: value for key, (_row, value) in found.items()},
        dict.fromkeys(found, "B"),
        problems,
        rows={key: row for key, (row, _value) in found.items()},
    )
    for key in PLAN_KEYS:
        if key.required and key.name not in found:
            problems.add(sheet.name, None, key.name, _("The key {key} is missing."), key=key.name)
            cells.failed = True
    return cells


def plan_fields(sheet: Sheet, problems: Problems) -> tuple[Cells, dict[str, Any], tuple[int, int] | None]:
    """The Masterplan sheet as the fields of a new masterplan (``MasterplanCreate``) and its period, if
    usable. An unusable cell is recorded on the returned ``Cells`` and left empty."""
    c = plan_cells(sheet, problems)
    title = c.text("judul", required=True, min_len=3, max_len=200)
    period = None
    start, end = c.year("tahun_mulai", required=True), c.year("tahun_selesai", required=True)
    if start is not None and end is not None:
        try:
            check_period(start, end)
            period = (start, end)
        except ValueError:
            c.problem("tahun_selesai", _("A masterplan covers 5 to 10 years (start and end year included)."))
    number = c.text("dasar_hukum_nomor", max_len=120)
    missions = [line.strip().lstrip("-•").strip() for line in c.text("misi", max_len=31_000).splitlines()]
    missions = [m for m in missions if m]
    if len(missions) > 30 or any(len(m) > 1000 for m in missions):
        c.problem("misi", _("At most 30 missions of at most 1000 characters each."))
    fields = {
        "title": title,
        "start_year": start,
        "end_year": end,
        "legal_basis_number": number or None,
        "legal_basis_date": c.date("dasar_hukum_tanggal"),
        "vision": c.text("visi", max_len=5000),
        "missions": missions,
        "status": c.choice("status", PLAN_STATUSES) or "draft",
    }
    return c, fields, period
