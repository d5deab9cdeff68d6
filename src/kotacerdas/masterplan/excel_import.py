"""Importing a masterplan workbook: every row is checked first, then everything is written, or nothing.

The checks collect every problem (sheet, row, column) before anything is written, so a person fixes
the whole workbook in one go. The writes then go through the masterplan service, which checks access
and writes the audit log, inside a savepoint: if the service refuses anything, the savepoint is
rolled back and its refusal becomes a problem on the row that caused it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import Principal
from kotacerdas.errors import KotaCerdasError, NotAuthenticated, PermissionDenied, ValidationFailed
from kotacerdas.framework import service as framework
from kotacerdas.i18n import _, gettext
from kotacerdas.masterplan import schemas as s, service
from kotacerdas.masterplan.excel_format import (
    ANALYSIS,
    ANALYSIS_COLUMNS,
    BUDGET_COLUMNS,
    BUDGETS,
    DIRECTIONS,
    FLAGS,
    INDICATOR_COLUMNS,
    INDICATORS,
    KINDS,
    PLAN,
    PLAN_KEYS,
    PROGRAMME_COLUMNS,
    PROGRAMMES,
    QUICK_WIN_COLUMNS,
    QUICK_WIN_FIRST,
    QUICK_WINS,
    SOURCES,
    STATUS_COLUMNS,
    STATUSES,
    SUPPORT,
    SUPPORT_COLUMNS,
    TARGET,
    TERMS,
    YEAR_STATUSES,
    Column,
)
from kotacerdas.masterplan.excel_read import Cells, Problems, Sheet, plan_fields, read_sheets, year_columns
from kotacerdas.masterplan.excel_texts import (
    NoteIn,
    SectionIn,
    read_notes,
    read_sections,
    write_realisations,
    write_section,
)
from kotacerdas.masterplan.models import Indicator, Masterplan, Programme
from kotacerdas.region import service as regions

Progress = Callable[[int, int], None]
SHEET_COLUMNS: dict[str, tuple[Column, ...]] = {
    ANALYSIS: ANALYSIS_COLUMNS,
    PROGRAMMES: PROGRAMME_COLUMNS,
    BUDGETS: BUDGET_COLUMNS,
    STATUSES: STATUS_COLUMNS,
    INDICATORS: INDICATOR_COLUMNS,
    QUICK_WINS: (QUICK_WIN_FIRST,),
    SUPPORT: SUPPORT_COLUMNS,
}
HEADERS_NEEDED = {"isi"}  # optional in a row, but a sheet without the column would empty every section
# schema field -> column, to place a schema's complaint on the right cell
PLAN_FIELDS = {c.field: c.name for c in PLAN_KEYS}
PROGRAMME_FIELDS = {c.field: c.name for c in PROGRAMME_COLUMNS if c.field}
INDICATOR_FIELDS = {c.field: c.name for c in INDICATOR_COLUMNS if c.field}


@dataclass
class ProgrammeIn:
    row: int
    code: str
    fields: dict[str, Any]
    years: tuple[int, int] | None  # None when the row's years are not usable
    ok: bool  # the row itself had no problem
    budgets: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    quick_win: dict[str, str] = field(default_factory=dict)
    quick_win_row: int | None = None


@dataclass
class IndicatorIn:
    row: int
    code: str
    programme_code: str | None
    dimension: str | None
    element: str | None
    fields: dict[str, Any]
    targets: dict[int, Decimal]
    realisations: dict[int, Decimal]
    ok: bool


@dataclass
class ImportResult:
    masterplan_id: int | None  # None after a dry run that would have created the masterplan
    programmes: int
    indicators: int
    created_programmes: int = 0
    updated_programmes: int = 0
    created_indicators: int = 0
    updated_indicators: int = 0
    realisations: int = 0
    sections: int = 0  # strategic analysis sections set
    dry_run: bool = False


class WorkbookImport:
    """One import: ``read`` the workbook (collecting problems), then ``write`` it if there were none."""

    def __init__(
        self, session: Session, *, principal: Principal, region_id: int, masterplan_id: int | None, lang: str
    ) -> None:
        self.session, self.principal, self.region_id, self.lang = session, principal, region_id, lang
        self.masterplan_id = masterplan_id
        self.problems = Problems()
        self.plan: Masterplan | None = None
        self.new_plan: s.MasterplanCreate | None = None
        self.plan_row: int | None = None
        region = regions.get_region(session, region_id)
        self.edition = framework.get_edition(region.framework_edition)
        self.period: tuple[int, int] | None = None
        self.offices = {
            o.short_name.strip().lower(): o.id for o in regions.list_offices(session, region_id=region_id)
        }
        self.programmes: dict[str, ProgrammeIn] = {}
        self.indicators: dict[str, IndicatorIn] = {}
        self.old_programmes: dict[str, Programme] = {}
        self.old_indicators: dict[str, Indicator] = {}
        self.sections: dict[str, SectionIn] = {}
        self.notes: dict[tuple[str, int], NoteIn] = {}
        self.present: set[str] = set()

    # ------------------------------------------------------------ reading

    def read(self, data: bytes) -> None:
        sheets = read_sheets(data, self.problems)
        known = (PLAN, ANALYSIS, PROGRAMMES, BUDGETS, STATUSES, INDICATORS, SUPPORT, QUICK_WINS)
        self.present = {name for name in known if name in sheets}
        if not self.present:
            raise ValidationFailed(
                _("This is not a masterplan workbook: it has none of the sheets {sheets}."),
                sheets=", ".join(known),
            )
        self._target(sheets.get(PLAN))
        sheet = sheets.get(ANALYSIS)
        if sheet is not None and self._headers(sheet):
            self.sections = read_sections(sheet, self.problems)
        readers = (
            (PROGRAMMES, self._programme),
            (BUDGETS, self._budget),
            (STATUSES, self._status),
            (QUICK_WINS, self._quick_win),
        )
        for name, reader in readers:
            sheet = sheets.get(name)
            if sheet is not None and self._headers(sheet):
                for number, values in sheet.rows:
                    reader(Cells.of(sheet, number, values, self.problems))
        sheet = sheets.get(INDICATORS)
        if sheet is not None and self._headers(sheet):
            self._indicators(sheet)
        sheet = sheets.get(SUPPORT)
        if sheet is not None and self._headers(sheet):
            realised = {code: set(i.realisations) for code, i in self.indicators.items()}
            for code, old in self.old_indicators.items():
                realised.setdefault(code, set()).update(r.year for r in old.realisations)
            self.notes = read_notes(sheet, self.problems, period=self.period, realised=realised)
        self._check_schemas()

    def _headers(self, sheet: Sheet) -> bool:
        needed = [c.name for c in SHEET_COLUMNS[sheet.name] if c.required or c.name in HEADERS_NEEDED]
        missing = [name for name in needed if name not in sheet.columns]
        for name in missing:
            self.problems.add(sheet.name, 1, name, _("The column {column} is missing."), column=name)
        return not missing

    def _target(self, plan_sheet: Sheet | None) -> None:
        if self.masterplan_id is not None:
            self.plan = service.get_masterplan(
                self.session,
                principal=self.principal,
                region_id=self.region_id,
                masterplan_id=self.masterplan_id,
            )
            self.edition = framework.get_edition(self.plan.framework_edition)
            self.period = (self.plan.start_year, self.plan.end_year)
            who, plan_id = self.principal, self.plan.id
            self.old_programmes = {
                p.code: p
                for p in service.list_programmes(
                    self.session, principal=who, region_id=self.region_id, masterplan_id=plan_id
                )
            }
            self.old_indicators = {
                i.code: i
                for i in service.list_indicators(
                    self.session, principal=who, region_id=self.region_id, masterplan_id=plan_id
                )
            }
        elif plan_sheet is None:
            self.problems.add(
                PLAN, None, None, _("The sheet {sheet} is needed to create a new masterplan."), sheet=PLAN
            )
        else:
            self._new_plan(plan_sheet)

    def _new_plan(self, sheet: Sheet) -> None:
        c, fields, self.period = plan_fields(sheet, self.problems)
        self.plan_row = (c.rows or {}).get("judul")
        title, start = fields["title"], fields["start_year"]
        if title and start is not None:
            plans = service.list_masterplans(self.session, principal=self.principal, region_id=self.region_id)
            if any(p.title == title and p.start_year == start for p in plans):
                c.problem("judul", _("A masterplan with this title and start year already exists."))
        if not c.failed:
            try:
                self.new_plan = s.MasterplanCreate(**fields)
            except ValidationError as exc:
                self._schema_problems(exc, c, PLAN_FIELDS, "judul")

    def _in_period(self, c: Cells, column: str, year: int | None) -> bool:
        if year is None or self.period is None:
            return year is not None
        start, end = self.period
        if not start <= year <= end:
            c.problem(
                column,
                _("{year} lies outside the masterplan period {start}-{end}."),
                year=year,
                start=start,
                end=end,
            )
            return False
        return True

    def _programme(self, c: Cells) -> None:
        code = c.code("kode")
        name = c.text("nama", required=True, min_len=3, max_len=250)
        description = c.text("deskripsi", max_len=10_000)
        dimension = c.dimension("dimensi", self.edition, required=True)
        element = c.element("elemen", self.edition, dimension, required=True)
        office = c.text("opd", max_len=120)
        office_id = self.offices.get(office.lower()) if office else None
        if office and office_id is None:
            c.problem("opd", _("Office {name} does not exist in this region."), name=office)
        partners = [p.strip() for p in c.text("mitra", max_len=6200).split(";") if p.strip()]
        if len(partners) > 30 or any(len(p) > 200 for p in partners):
            c.problem("mitra", _("At most 30 partners of at most 200 characters each."))
        start, end = c.year("tahun_mulai", required=True), c.year("tahun_selesai", required=True)
        years_ok = self._in_period(c, "tahun_mulai", start) & self._in_period(c, "tahun_selesai", end)
        if start is not None and end is not None and end < start:
            c.problem("tahun_selesai", _("The end year is before the start year."))
            years_ok = False
        fields = {
            "name": name,
            "description": description,
            "dimension": dimension,
            "element": element,
            "lead_office_id": office_id,
            "pic_name": c.text("pic", max_len=200),
            "partners": partners,
            "kind": c.choice("jenis", KINDS, required=True),
            "term": c.choice("jangka", TERMS, required=True),
            "start_year": start,
            "end_year": end,
            "is_quick_win": c.choice("quick_win", FLAGS) == "yes",
            "rpjmd_programme": c.text("rpjmd", max_len=250),
        }
        if code in self.programmes:
            c.problem(
                "kode",
                _("Code {code} appears more than once (first on row {row})."),
                code=code,
                row=self.programmes[code].row,
            )
        elif code:
            years = (start, end) if years_ok and start is not None and end is not None else None
            self.programmes[code] = ProgrammeIn(c.row or 0, code, fields, years, ok=not c.failed)

    def _programme_of(self, c: Cells) -> ProgrammeIn | None:
        code = c.text("kode_program", required=True, max_len=30)
        programme = self.programmes.get(code) if code else None
        if code and programme is None:
            c.problem("kode_program", _("Programme {code} is not on the Program sheet."), code=code)
        return programme

    def _in_programme(self, c: Cells, programme: ProgrammeIn | None, year: int | None) -> None:
        if programme is None or programme.years is None or year is None:
            return
        start, end = programme.years
        if not start <= year <= end:
            c.problem(
                "tahun",
                _("{year} lies outside the programme's years {start}-{end}."),
                year=year,
                start=start,
                end=end,
            )

    def _budget(self, c: Cells) -> None:
        programme = self._programme_of(c)
        year = c.year("tahun", required=True)
        source = c.choice("sumber", SOURCES, required=True)
        amount = c.number("jumlah", required=True, places=2, minimum=Decimal(0))
        self._in_programme(c, programme, year)
        if programme is None or c.failed:
            return
        if any(b["year"] == year and b["source"] == source for b in programme.budgets):
            c.problem(
                "sumber",
                _("The programme already has a budget line for {year} from {source}."),
                year=year,
                source=SOURCES.word(source or ""),
            )
            return
        programme.budgets.append({"year": year, "source": source, "amount": amount})

    def _status(self, c: Cells) -> None:
        programme = self._programme_of(c)
        year = c.year("tahun", required=True)
        status = c.choice("status", YEAR_STATUSES, required=True)
        note = c.text("catatan", max_len=500)
        self._in_programme(c, programme, year)
        if programme is None or c.failed:
            return
        if any(st["year"] == year for st in programme.statuses):
            c.problem("tahun", _("The programme already has a status for {year}."), year=year)
            return
        programme.statuses.append({"year": year, "status": status, "note": note})

    def _quick_win(self, c: Cells) -> None:
        programme = self._programme_of(c)
        texts = {attr: c.text(header, max_len=2000) for attr, header in QUICK_WIN_COLUMNS.items()}
        if programme is None or c.failed:
            return
        if programme.quick_win_row is not None:
            c.problem(
                "kode_program",
                _("Code {code} appears more than once (first on row {row})."),
                code=programme.code,
                row=programme.quick_win_row,
            )
            return
        programme.quick_win_row = c.row
        programme.quick_win = {attr: text for attr, text in texts.items() if text}

    def _indicators(self, sheet: Sheet) -> None:
        usable: dict[str, tuple[str, int]] = {}
        for header, (prefix, year) in year_columns(sheet).items():
            if self.period and not self.period[0] <= year <= self.period[1]:
                if sheet.has_values(header):
                    self.problems.add(
                        sheet.name,
                        1,
                        header,
                        _("{year} lies outside the masterplan period {start}-{end}."),
                        cell=f"{sheet.letter(header)}1",
                        year=year,
                        start=self.period[0],
                        end=self.period[1],
                    )
                continue
            usable[header] = (prefix, year)
        for number, values in sheet.rows:
            self._indicator(Cells.of(sheet, number, values, self.problems), usable)

    def _indicator(self, c: Cells, usable: dict[str, tuple[str, int]]) -> None:
        code = c.code("kode", max_len=40)
        programme_code = c.text("kode_program", max_len=30) or None
        if (
            programme_code
            and programme_code not in self.programmes
            and programme_code not in self.old_programmes
        ):
            c.problem(
                "kode_program",
                _("Programme {code} is neither on the Program sheet nor in the masterplan."),
                code=programme_code,
            )
        dimension = element = None
        if programme_code is None:
            dimension = c.dimension("dimensi", self.edition, required=True)
            element = c.element("elemen", self.edition, dimension, required=False)
        fields = {
            "name": c.text("nama", required=True, min_len=3, max_len=300),
            "unit": c.text("satuan", required=True, max_len=40),
            "direction": c.choice("arah", DIRECTIONS) or "higher",
            "baseline_year": c.year("tahun_baseline"),
            "baseline_value": c.number("nilai_baseline"),
        }
        targets: dict[int, Decimal] = {}
        realisations: dict[int, Decimal] = {}
        for header, (prefix, year) in usable.items():
            value = c.number(header)
            if value is not None:
                (targets if prefix == TARGET else realisations)[year] = value
        old = self.old_indicators.get(code)
        if old is not None:
            codes = {p.id: p.code for p in self.old_programmes.values()}
            old_programme = codes.get(old.programme_id) if old.programme_id else None
            if old_programme != programme_code or (
                programme_code is None and (old.dimension, old.element) != (dimension, element)
            ):
                c.problem(
                    "kode_program" if old_programme != programme_code else "dimensi",
                    _("Indicator {code} is placed elsewhere in this masterplan; move it in the application."),
                    code=code,
                )
        if code in self.indicators:
            c.problem(
                "kode",
                _("Code {code} appears more than once (first on row {row})."),
                code=code,
                row=self.indicators[code].row,
            )
        elif code:
            self.indicators[code] = IndicatorIn(
                c.row or 0,
                code,
                programme_code,
                dimension,
                element,
                fields,
                targets,
                realisations,
                not c.failed,
            )

    def _schema_problems(
        self, exc: ValidationError, c: Cells, columns: dict[str, str], fallback: str
    ) -> None:
        """A schema's complaint the checks above did not catch, placed on the nearest column."""
        for err in exc.errors():
            loc = err.get("loc", ())
            column = columns.get(str(loc[0]), fallback) if loc else fallback
            c.problem(column, _("The value is not valid: {reason}."), reason=err.get("msg", ""))

    def _check_schemas(self) -> None:
        for p in self.programmes.values():
            if p.ok:
                try:
                    s.ProgrammeCreate(code=p.code, **self._programme_data(p, new=True))
                except ValidationError as exc:
                    cells = Cells(PROGRAMMES, p.row, {}, {}, self.problems)
                    self._schema_problems(exc, cells, PROGRAMME_FIELDS, "kode")
        for i in self.indicators.values():
            if i.ok:
                try:
                    s.IndicatorCreate(code=i.code, targets=self._targets(i), **i.fields)
                except ValidationError as exc:
                    cells = Cells(INDICATORS, i.row, {}, {}, self.problems)
                    self._schema_problems(exc, cells, INDICATOR_FIELDS, "kode")

    # ------------------------------------------------------------ writing

    def _programme_data(self, p: ProgrammeIn, *, new: bool) -> dict[str, Any]:
        data = dict(p.fields)
        if new or BUDGETS in self.present:
            data["budgets"] = p.budgets
        if new or STATUSES in self.present:
            data["year_statuses"] = p.statuses
        if new or QUICK_WINS in self.present:
            data["quick_win"] = p.quick_win
        return data

    @staticmethod
    def _targets(i: IndicatorIn) -> list[dict[str, Any]]:
        return [{"year": y, "value": v} for y, v in sorted(i.targets.items())]

    def write(self, *, dry_run: bool, progress: Progress | None) -> ImportResult:
        """Everything through the service in one savepoint; a refusal becomes the row's problem."""
        result = ImportResult(None, len(self.programmes), len(self.indicators), dry_run=dry_run)
        where: tuple[str, int | None] = (PLAN, self.plan_row)
        stored_only = {(c, y): n for (c, y), n in self.notes.items() if c not in self.indicators}
        total, done = len(self.sections) + len(self.programmes) + len(self.indicators) + len(stored_only), 0
        nested = self.session.begin_nested()
        try:
            plan = self.plan
            if plan is None:
                if self.new_plan is None:  # read() reports a problem whenever it cannot build one
                    raise ValidationFailed()
                plan = service.create_masterplan(
                    self.session, principal=self.principal, region_id=self.region_id, data=self.new_plan
                )
            args: dict[str, Any] = {"principal": self.principal, "region_id": self.region_id}
            for section in self.sections.values():
                where = (ANALYSIS, section.row)
                result.sections += write_section(self.session, **args, plan=plan, section=section)
                done = self._step(progress, done, total)
            ids = {code: p.id for code, p in self.old_programmes.items()}
            for p in self.programmes.values():
                where = (PROGRAMMES, p.row)
                ids[p.code] = self._write_programme(plan, p, result)
                done = self._step(progress, done, total)
            for i in self.indicators.values():
                where = (INDICATORS, i.row)
                self._write_indicator(plan, i, ids, result)
                done = self._step(progress, done, total)
            for (code, year), note in stored_only.items():  # indicators only in the database
                where = (SUPPORT, note.row)
                old = self.old_indicators[code]
                result.realisations += write_realisations(
                    self.session, **args, indicator=old, values={}, notes={year: note}
                )
                done = self._step(progress, done, total)
            auth.record_audit(
                self.session,
                actor=self.principal,
                region_id=self.region_id,
                action="masterplan.import",
                entity_type="masterplan",
                entity_id=plan.id,
                summary=f"{plan.title}: {result.programmes} programmes, {result.indicators} indicators, "
                f"{result.sections} sections",
            )
            self.session.flush()
            result.masterplan_id = plan.id
        except (PermissionDenied, NotAuthenticated):
            nested.rollback()
            raise
        except (KotaCerdasError, IntegrityError, ValidationError) as exc:
            nested.rollback()
            message = (
                exc.translated(self.lang)
                if isinstance(exc, KotaCerdasError)
                else gettext(self.lang, _("This conflicts with data already stored."))
            )
            problems = Problems()
            problems.add(where[0], where[1], None, "{text}", text=message)
            raise problems.fail(self.lang) from None
        except BaseException:
            nested.rollback()
            raise
        if dry_run:
            nested.rollback()
            if self.plan is None:
                result.masterplan_id = None
        else:
            nested.commit()
        return result

    @staticmethod
    def _step(progress: Progress | None, done: int, total: int) -> int:
        if progress:
            progress(done + 1, total)
        return done + 1

    def _write_programme(self, plan: Masterplan, p: ProgrammeIn, result: ImportResult) -> int:
        args: dict[str, Any] = {"principal": self.principal, "region_id": self.region_id}
        old = self.old_programmes.get(p.code)
        if old is None:
            data = s.ProgrammeCreate(code=p.code, **self._programme_data(p, new=True))
            created = service.create_programme(self.session, **args, masterplan_id=plan.id, data=data)
            result.created_programmes += 1
            return created.id
        update = s.ProgrammeUpdate(**self._programme_data(p, new=False))
        service.update_programme(self.session, **args, programme_id=old.id, data=update)
        result.updated_programmes += 1
        return old.id

    def _write_indicator(
        self, plan: Masterplan, i: IndicatorIn, ids: dict[str, int], result: ImportResult
    ) -> None:
        args: dict[str, Any] = {"principal": self.principal, "region_id": self.region_id}
        old = self.old_indicators.get(i.code)
        if old is None:
            data = s.IndicatorCreate(
                code=i.code,
                programme_id=ids[i.programme_code] if i.programme_code else None,
                dimension=i.dimension,
                element=i.element,
                targets=self._targets(i),
                **i.fields,
            )
            indicator = service.create_indicator(self.session, **args, masterplan_id=plan.id, data=data)
            result.created_indicators += 1
        else:
            update = s.IndicatorUpdate(targets=self._targets(i), **i.fields)
            indicator = service.update_indicator(self.session, **args, indicator_id=old.id, data=update)
            result.updated_indicators += 1
        notes = {year: n for (code, year), n in self.notes.items() if code == i.code}
        result.realisations += write_realisations(
            self.session, **args, indicator=indicator, values=i.realisations, notes=notes
        )
