"""The masterplan workbook format: sheet names, columns and the words cells may hold.

The format is a contract with people, so it is defined once: sheet names and column headers in Bahasa
Indonesia, cell words in Bahasa Indonesia (``regulasi``, ``pendek``, ``naik``) mapped to the stored
codes. The template, the export (``excel``) and the import (``excel_import``) all read it from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kotacerdas.kit.files import XLSX
from kotacerdas.masterplan.models import QUICK_WIN_ATTRIBUTES, SECTION_KINDS

CONTENT_TYPE = XLSX.content_type
GUIDE, PLAN, ANALYSIS, PROGRAMMES, BUDGETS, STATUSES, INDICATORS, SUPPORT, QUICK_WINS, LISTS = (
    "Petunjuk",
    "Masterplan",
    "Analisis",
    "Program",
    "Anggaran",
    "Status",
    "Indikator",
    "DataDukung",
    "QuickWin",
    "Daftar",
)
DATA_ROWS = 5000  # how far down the drop-downs reach
CELL_LIMIT = 32_767  # characters an Excel cell holds; a longer section text continues on the next row
TARGET, REALISED = "target_", "realisasi_"


@dataclass(frozen=True)
class Vocabulary:
    """The words a column accepts: (stored code, word in the workbook, meaning id, meaning en)."""

    name: str
    words: tuple[tuple[str, str, str, str], ...]

    def word(self, code: str) -> str:
        return next((w for c, w, _i, _e in self.words if c == code), code)

    def code(self, text: str) -> str | None:
        """The stored code for the Indonesian word or the code itself, ignoring case, spaces and dashes."""
        key = _normal(text)
        for code, word, _i, _e in self.words:
            if key in (_normal(code), _normal(word)):
                return code
        return None


def _normal(text: str) -> str:
    return text.strip().lower().replace(" ", "_").replace("-", "_")


KINDS = Vocabulary(
    "jenis",
    (
        ("regulation", "regulasi", "Regulasi dan kebijakan", "Regulation and policy"),
        ("infrastructure", "infrastruktur", "Infrastruktur", "Infrastructure"),
        ("application", "aplikasi", "Aplikasi atau sistem informasi", "Application or information system"),
        ("ict_hr", "sdm_tik", "Pengembangan SDM TIK", "ICT human resources"),
        ("cooperation", "kerja_sama", "Kerja sama antarlembaga", "Cooperation between institutions"),
    ),
)
TERMS = Vocabulary(
    "jangka",
    (
        ("short", "pendek", "Jangka pendek (sekitar 1 tahun)", "Short term (about a year)"),
        ("medium", "menengah", "Jangka menengah (2-3 tahun)", "Medium term (2-3 years)"),
        ("long", "panjang", "Jangka panjang (lebih dari 3 tahun)", "Long term (more than 3 years)"),
    ),
)
SOURCES = Vocabulary(
    "sumber",
    (
        ("APBD", "APBD", "Anggaran Pendapatan dan Belanja Daerah", "Regional budget"),
        ("APBN", "APBN", "Anggaran Pendapatan dan Belanja Negara", "National budget"),
        ("KPBU", "KPBU", "Kerja sama Pemerintah dan Badan Usaha", "Public-private partnership"),
        ("CSR", "CSR", "Tanggung jawab sosial perusahaan", "Corporate social responsibility"),
        ("private", "swasta", "Pendanaan swasta", "Private funding"),
        ("community", "masyarakat", "Swadaya masyarakat", "Community funding"),
    ),
)
YEAR_STATUSES = Vocabulary(
    "status",
    (
        ("planned", "rencana", "Direncanakan", "Planned"),
        ("running", "berjalan", "Sedang berjalan", "Running"),
        ("done", "selesai", "Selesai", "Done"),
        ("stalled", "terhenti", "Terhenti atau tertunda", "Stalled"),
    ),
)
PLAN_STATUSES = Vocabulary(
    "status_rencana",
    (
        ("draft", "draf", "Masih disusun", "Draft"),
        ("approved", "disahkan", "Sudah ditetapkan (Perbup/Perda)", "Approved (legal basis set)"),
    ),
)
DIRECTIONS = Vocabulary(
    "arah",
    (
        ("higher", "naik", "Makin tinggi makin baik", "Higher is better"),
        ("lower", "turun", "Makin rendah makin baik", "Lower is better"),
    ),
)
FLAGS = Vocabulary(
    "ya_tidak",
    (("yes", "ya", "Ya", "Yes"), ("no", "tidak", "Tidak", "No")),
)
SECTION_WORDS = {
    "readiness_struktur": ("kesiapan_struktur", "Kesiapan struktur (kelembagaan, SDM, tata kelola)", "Readiness: structure (institutions, people, governance)"),
    "readiness_infrastruktur": ("kesiapan_infrastruktur", "Kesiapan infrastruktur (jaringan, pusat data, perangkat)", "Readiness: infrastructure (network, data centre, devices)"),
    "readiness_suprastruktur": ("kesiapan_suprastruktur", "Kesiapan suprastruktur (regulasi dan kebijakan)", "Readiness: superstructure (regulation and policy)"),
    "swot_strengths": ("kekuatan", "SWOT: kekuatan", "SWOT: strengths"),
    "swot_weaknesses": ("kelemahan", "SWOT: kelemahan", "SWOT: weaknesses"),
    "swot_opportunities": ("peluang", "SWOT: peluang", "SWOT: opportunities"),
    "swot_threats": ("ancaman", "SWOT: ancaman", "SWOT: threats"),
    "gap_analysis": ("analisis_kesenjangan", "Analisis kesenjangan", "Gap analysis"),
    "strategy": ("strategi", "Strategi", "Strategy"),
}  # fmt: skip
# every section kind of the model gets a word, one added later at least its code
SECTIONS = Vocabulary("bagian", tuple((k, *SECTION_WORDS.get(k, (k, k, k))) for k in SECTION_KINDS))
VOCABULARIES = (KINDS, TERMS, SOURCES, YEAR_STATUSES, PLAN_STATUSES, DIRECTIONS, FLAGS, SECTIONS)

QUICK_WIN_WORDS = {
    "innovation": ("inovasi", "Rumusan inovasi", "Innovation"),
    "attractiveness": ("daya_tarik", "Daya tarik bagi warga", "Attractiveness"),
    "benefit": ("manfaat", "Manfaat", "Benefit"),
    "uniqueness": ("keunikan", "Keunikan", "Uniqueness"),
    "partnership": ("kemitraan", "Peluang kemitraan", "Partnership opportunity"),
    "development_potential": ("potensi_pengembangan", "Potensi pengembangan", "Development potential"),
    "continuity": ("kesinambungan", "Kesinambungan", "Continuity"),
    "resources": ("sumber_daya", "Sumber daya", "Resources"),
    "risk_management": ("manajemen_risiko", "Manajemen risiko", "Risk management"),
    "sustainability": ("keberlanjutan", "Keberlanjutan", "Sustainability"),
}
# attribute code -> column header; an attribute added to the model later still gets a column
QUICK_WIN_COLUMNS = {a: QUICK_WIN_WORDS.get(a, (a, a, a))[0] for a in QUICK_WIN_ATTRIBUTES}


@dataclass(frozen=True)
class Column:
    name: str
    width: int
    required: bool
    help_id: str
    help_en: str
    example: str = ""
    choices: str | None = None  # a list on the Daftar sheet: the cell gets a drop-down
    kind: str = "text"  # text or year (Excel checks years as whole numbers)
    field: str = ""  # the schema field the column fills, to place a schema's complaint on its cell


def _col(
    name: str, width: int, required: bool, help_id: str, help_en: str, example: Any = "", **kw: Any
) -> Column:
    return Column(name, width, required, help_id, help_en, str(example), **kw)


# fmt: off
PLAN_KEYS = (
    _col("judul", 0, True, "Judul rencana induk (3-200 karakter)", "Title of the masterplan", "Masterplan Smart City Kabupaten Jember 2024-2028", field="title"),
    _col("tahun_mulai", 0, True, "Tahun pertama periode", "First year of the period", 2024, kind="year", field="start_year"),
    _col("tahun_selesai", 0, True, "Tahun terakhir periode; periode 5 sampai 10 tahun", "Last year; the period is 5 to 10 years", 2028, kind="year", field="end_year"),
    _col("dasar_hukum_nomor", 0, False, "Nomor Perbup/Perda yang menetapkan rencana induk", "Number of the regulation setting the masterplan", "Perbup Nomor 12 Tahun 2024", field="legal_basis_number"),
    _col("dasar_hukum_tanggal", 0, False, "Tanggal penetapan (tanggal Excel atau dd-mm-yyyy)", "Date it was set (Excel date or dd-mm-yyyy)", "15-03-2024", field="legal_basis_date"),
    _col("visi", 0, False, "Visi smart city", "Smart-city vision", "Jember cerdas, melayani dan sejahtera", field="vision"),
    _col("misi", 0, False, "Misi, satu per baris (Alt+Enter untuk baris baru di Excel)", "Missions, one per line (Alt+Enter)", "Layanan publik digital", field="missions"),
    _col("status", 0, False, "draf atau disahkan; kosong berarti draf", "draft or approved; empty means draft", "draf", choices=PLAN_STATUSES.name, field="status"),
)
PROGRAMME_COLUMNS = (
    _col("kode", 12, True, "Kode unik program (huruf, angka, titik, garis bawah, garis miring, tanda hubung)", "Unique programme code", "GOV-01", field="code"),
    _col("nama", 40, True, "Nama program (3-250 karakter)", "Programme name", "Mal Pelayanan Publik Digital", field="name"),
    _col("deskripsi", 50, False, "Uraian singkat program", "Short description", "Perizinan dan layanan kependudukan dalam satu aplikasi", field="description"),
    _col("dimensi", 16, True, "Kode dimensi (lihat daftar di bawah)", "Dimension code (see the list below)", "governance", choices="dimensi", field="dimension"),
    _col("elemen", 18, True, "Kode elemen; harus termasuk dimensi yang dipilih", "Element code; must belong to the dimension", "service", choices="elemen", field="element"),
    _col("opd", 16, False, "Singkatan OPD pengampu persis seperti terdaftar (mis. Diskominfo); kosong bila belum ada", "Lead office short name as registered", "Diskominfo", choices="opd", field="lead_office_id"),
    _col("pic", 20, False, "Nama penanggung jawab program", "Person in charge", "Kabid Aplikasi Informatika", field="pic_name"),
    _col("mitra", 30, False, "Mitra, dipisahkan titik koma (;)", "Partners, separated by semicolons", "Universitas Jember; Bank Jatim", field="partners"),
    _col("jenis", 14, True, "Jenis program", "Kind of programme", "aplikasi", choices=KINDS.name, field="kind"),
    _col("jangka", 10, True, "Jangka waktu", "Term", "menengah", choices=TERMS.name, field="term"),
    _col("tahun_mulai", 11, True, "Tahun mulai, di dalam periode rencana induk", "Start year, within the period", 2024, kind="year", field="start_year"),
    _col("tahun_selesai", 11, True, "Tahun selesai, tidak sebelum tahun mulai", "End year, not before the start", 2026, kind="year", field="end_year"),
    _col("quick_win", 10, False, "ya bila program percepatan (quick win); kosong berarti tidak", "ya if a quick win", "ya", choices=FLAGS.name, field="is_quick_win"),
    _col("rpjmd", 30, False, "Program RPJMD yang didukung", "RPJMD programme it supports", "Program Penyelenggaraan Pemerintahan Berbasis Elektronik", field="rpjmd_programme"),
)
BUDGET_COLUMNS = (
    _col("kode_program", 14, True, "Kode program dari lembar Program", "Programme code from the Program sheet", "GOV-01"),
    _col("tahun", 8, True, "Tahun anggaran, di dalam tahun program", "Budget year, within the programme's years", 2025, kind="year"),
    _col("sumber", 12, True, "Sumber dana; satu baris per tahun dan sumber", "Funding source; one row per year and source", "APBD", choices=SOURCES.name),
    _col("jumlah", 18, True, "Jumlah dalam rupiah; boleh 1.250.000 atau 1250000", "Amount in rupiah", "1.250.000.000"),
)
STATUS_COLUMNS = (
    _col("kode_program", 14, True, "Kode program dari lembar Program", "Programme code from the Program sheet", "GOV-01"),
    _col("tahun", 8, True, "Tahun, di dalam tahun program; satu baris per tahun", "Year, within the programme's years", 2024, kind="year"),
    _col("status", 12, True, "Status pelaksanaan pada tahun itu", "Status in that year", "berjalan", choices=YEAR_STATUSES.name),
    _col("catatan", 40, False, "Catatan (paling banyak 500 karakter)", "Note (at most 500 characters)", "Uji coba di 3 kecamatan"),
)
INDICATOR_COLUMNS = (
    _col("kode", 12, True, "Kode unik indikator", "Unique indicator code", "GOV-01.1", field="code"),
    _col("kode_program", 14, False, "Kode program; kosong untuk indikator tingkat dimensi", "Programme code; empty for a dimension-level indicator", "GOV-01", field="programme_id"),
    _col("dimensi", 16, False, "Wajib bila kode_program kosong; bila ada program, dimensi program yang dipakai", "Required without a programme; otherwise the programme's", "governance", choices="dimensi", field="dimension"),
    _col("elemen", 18, False, "Elemen dalam dimensi, boleh kosong (dipakai bila kode_program kosong)", "Element within the dimension (used without a programme)", "service", choices="elemen", field="element"),
    _col("nama", 40, True, "Nama indikator (3-300 karakter)", "Indicator name", "Persentase layanan perizinan daring", field="name"),
    _col("satuan", 10, True, "Satuan (%, unit, orang, ...)", "Unit", "%", field="unit"),
    _col("arah", 8, False, "naik: makin tinggi makin baik; turun: makin rendah makin baik; kosong berarti naik", "naik: higher is better; turun: lower is better", "naik", choices=DIRECTIONS.name, field="direction"),
    _col("tahun_baseline", 14, False, "Tahun nilai awal", "Baseline year", 2023, kind="year", field="baseline_year"),
    _col("nilai_baseline", 14, False, "Nilai awal; boleh 12,5 atau 12.5", "Baseline value", "40", field="baseline_value"),
)
YEAR_COLUMN_HELP = (
    _col(TARGET + "TTTT", 12, False, "Target tahun TTTT (satu kolom per tahun periode)", "Target for year TTTT (one column per year)", "60"),
    _col(REALISED + "TTTT", 12, False, "Realisasi tahun TTTT; sel kosong tidak menghapus realisasi yang sudah ada", "Realisation for year TTTT; an empty cell deletes nothing", "55"),
)
ANALYSIS_COLUMNS = (
    _col("bagian", 26, True, "Bagian analisis strategis (lihat daftar di bawah; kode aplikasi seperti swot_strengths juga diterima); satu baris per bagian, bagian yang tidak ada di lembar tidak diubah", "Section of the strategic analysis (see the list below; the application's codes such as swot_strengths are accepted too); one row per section, sections left out are not changed", "kekuatan", choices=SECTIONS.name),
    _col("isi", 100, False, "Isi bagian, boleh beberapa paragraf (Alt+Enter untuk baris baru di Excel); sel kosong mengosongkan bagian itu. Teks lebih dari 32.767 karakter (batas satu sel Excel) dilanjutkan di baris tepat di bawahnya dengan bagian yang sama; isinya disambung tanpa pemisah", "Text of the section, paragraphs allowed (Alt+Enter); an empty cell empties the section. Text over 32,767 characters (an Excel cell's limit) continues on the rows right below with the same section, joined without a separator", "Jaringan fiber optik sudah menjangkau 31 kecamatan"),
)
SUPPORT_COLUMNS = (
    _col("kode_indikator", 14, True, "Kode indikator dari lembar Indikator atau yang sudah ada di rencana induk", "Indicator code from the Indikator sheet or already in the masterplan", "GOV-01.1"),
    _col("tahun", 8, True, "Tahun realisasi; realisasinya harus ada (kolom realisasi_TTTT di lembar Indikator atau sudah tersimpan). Satu baris per indikator dan tahun; catatan dan data dukung realisasi yang tidak punya baris di sini tidak berubah", "Year of the realisation, which must exist (realisasi_TTTT on the Indikator sheet or already stored). One row per indicator and year; realisations without a row keep their note and evidence", 2024, kind="year"),
    _col("catatan", 50, False, "Catatan realisasi (paling banyak 1000 karakter); sel kosong menghapus catatan", "Note on the realisation (at most 1000 characters); an empty cell clears it", "Data dari aplikasi perizinan"),
    _col("url_data_dukung", 50, False, "Alamat web data dukung, diawali http:// atau https:// (paling banyak 500 karakter); sel kosong menghapus alamat. Berkas data dukung yang diunggah tidak ikut dalam berkas Excel: berkas itu tetap tersimpan di kotacerdas", "Web address of the evidence, starting with http:// or https:// (at most 500 characters); an empty cell clears it. Uploaded evidence files are not part of the workbook: they stay in kotacerdas", "https://data.jemberkab.go.id/perizinan-2024"),
)
QUICK_WIN_FIRST = _col("kode_program", 14, True, "Kode program quick win dari lembar Program", "Quick-win programme code", "GOV-01")

GENERAL_RULES = (
    ("Baris 1 setiap lembar adalah judul kolom; jangan diubah. Baris kosong diabaikan.", "Row 1 of each sheet holds the column headers; keep them. Empty rows are ignored."),
    ("Angka boleh ditulis dengan format Indonesia (1.250.000 atau 12,5) maupun sebagai angka Excel.", "Numbers may use Indonesian formatting (1.250.000, 12,5) or be Excel numbers."),
    ("Bila ada satu saja kesalahan, tidak ada yang diimpor; daftar kesalahan menyebut lembar, baris dan kolom.", "If anything is wrong, nothing is imported; the problems list sheet, row and column."),
    ("Impor ke rencana induk yang sudah ada: program dan indikator dicocokkan dengan kode dan diganti; yang tidak ada di berkas tidak dihapus.", "Importing into an existing masterplan updates programmes and indicators by code; nothing absent is deleted."),
    ("Anggaran, status, target dan isian quick win sebuah program/indikator di berkas menggantikan yang lama; lembar yang tidak ada di berkas tidak mengubah apa pun.", "Budgets, statuses, targets and quick-win texts in the file replace the old ones; a sheet left out changes nothing."),
    ("Lembar Masterplan hanya dipakai saat membuat rencana induk baru.", "The Masterplan sheet is used only when creating a new masterplan."),
    ("Lembar Analisis dan DataDukung mengubah hanya bagian dan realisasi yang punya baris di lembar itu.", "The Analisis and DataDukung sheets change only the sections and realisations that have a row there."),
    ("Berkas data dukung yang diunggah (PDF, foto) tidak ikut diekspor maupun diimpor; berkas itu tetap tersimpan di kotacerdas.", "Uploaded evidence files (PDF, photos) are neither exported nor imported; they stay in kotacerdas."),
)
# fmt: on


def indicator_headers(years: Iterable[int]) -> list[str]:
    years = list(years)
    return (
        [c.name for c in INDICATOR_COLUMNS]
        + [f"{TARGET}{y}" for y in years]
        + [f"{REALISED}{y}" for y in years]
    )
