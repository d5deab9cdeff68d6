"""The file store (photos, evidence) and upload checks.

Files go to a directory behind a small interface so an S3-compatible store can replace it. Uploads
are accepted by what their bytes are (magic numbers), not by the name or the Content-Type the client
claims; the name's extension must agree with the bytes.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kotacerdas.errors import NotFound, PayloadTooLarge, UnsupportedMediaType
from kotacerdas.i18n import _


class FileStore(Protocol):
    def save(self, data: bytes, *, suffix: str) -> str: ...
    def read(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...


class DirectoryStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if "/" in key or "\\" in key or key.startswith("."):
            raise NotFound()
        return self.root / key[:2] / key

    def save(self, data: bytes, *, suffix: str) -> str:
        key = secrets.token_hex(16) + suffix
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return key

    def read(self, key: str) -> bytes:
        path = self._path(key)
        if not path.exists():
            raise NotFound(_("The file is no longer in the file store."))
        return path.read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


@dataclass(frozen=True)
class FileKind:
    content_type: str
    extensions: tuple[str, ...]


PDF = FileKind("application/pdf", (".pdf",))
PNG = FileKind("image/png", (".png",))
JPEG = FileKind("image/jpeg", (".jpg", ".jpeg"))
WEBP = FileKind("image/webp", (".webp",))
XLSX = FileKind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",))
DOCX = FileKind("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",))
PPTX = FileKind("application/vnd.openxmlformats-officedocument.presentationml.presentation", (".pptx",))
CSV = FileKind("text/csv", (".csv",))

EVIDENCE_KINDS = (PDF, PNG, JPEG, WEBP, XLSX, DOCX, PPTX, CSV)
WORKBOOK_KINDS = (XLSX,)


def sniff(data: bytes) -> FileKind | None:
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" in names:
            if any(n.startswith("xl/") for n in names):
                return XLSX
            if any(n.startswith("word/") for n in names):
                return DOCX
            if any(n.startswith("ppt/") for n in names):
                return PPTX
        return None
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" not in text and ("," in text or ";" in text):
        return CSV
    return None


@dataclass(frozen=True)
class CheckedUpload:
    kind: FileKind
    filename: str
    sha256: str
    size: int
    suffix: str


def check_upload(
    data: bytes, filename: str, *, allowed: tuple[FileKind, ...], max_bytes: int
) -> CheckedUpload:
    if len(data) > max_bytes:
        raise PayloadTooLarge(limit=f"{max_bytes // 1024} KB")
    if not data:
        raise UnsupportedMediaType(_("The file is empty."))
    kind = sniff(data)
    if kind is None or kind not in allowed:
        names = ", ".join(ext for k in allowed for ext in k.extensions)
        raise UnsupportedMediaType(_("This type of file is not accepted. Accepted: {names}."), names=names)
    clean = Path(filename or "file").name[:200] or "file"
    suffix = Path(clean).suffix.lower()
    if suffix not in kind.extensions:
        raise UnsupportedMediaType(
            _("The file name ends in {suffix} but the file is {kind}."),
            suffix=suffix or "-",
            kind=kind.extensions[0],
        )
    return CheckedUpload(kind, clean, hashlib.sha256(data).hexdigest(), len(data), suffix)
