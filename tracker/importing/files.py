"""Reading a file to import: its bytes, bounded in size, decoded as UTF-8 text (a CSV file, an
export) or kept as they are (an Excel workbook, read by :mod:`tracker.importing.xlsxfile`)."""

from __future__ import annotations

import codecs
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tracker import validation
from tracker.errors import InputError
from tracker.files import open_regular, read_bounded
from tracker.store import models

MAX_CSV_BYTES = 200 * 1024 * 1024
MAX_XLSX_BYTES = 100 * 1024 * 1024
XLSX_SUFFIXES = (".xlsx", ".xlsm")
_ZIP = b"PK\x03\x04"  # how an .xlsx file (a zip archive) begins
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # how an .xls file (Excel 97-2003) begins
_OTHER_SPREADSHEETS = {".xls": "an Excel 97-2003 workbook (.xls)", ".ods": "an OpenDocument spreadsheet (.ods)"}


@dataclass(frozen=True)
class InputFile:
    """A file to import: its bytes, their sha256 and the text they decode to.

    An Excel workbook is not text: its bytes are ``workbook`` (and ``text`` is empty).
    """

    label: str
    name: str
    sha256: str  # ("" for an export: it is read as it is restored)
    text: str
    is_json: bool
    workbook: bytes | None = None
    path: Path | None = None  # where it is (an export is read from there as it is restored)
    size: int = 0  # its size in bytes

    @property
    def is_xlsx(self) -> bool:
        return self.workbook is not None


def read_file(path: str | Path) -> InputFile:
    """Read and decode a file to import; refuse what is missing, too large or not UTF-8.

    A file named ``.xlsx`` (or ``.xlsm``), or whose bytes are a zip archive's, is an Excel
    workbook; ``.json``, or text that starts with ``{``, an export; anything else CSV.
    """
    path = Path(path)
    label = str(path)
    suffix = path.suffix.lower()
    hint = "; give a CSV, XLSX or JSON file"
    name = validation.text(path.name, "file name", max_length=models.NAME_LENGTH)
    assert name is not None  # a required text is never None
    if suffix == ".json" or (
        suffix not in (".csv", *XLSX_SUFFIXES, *_OTHER_SPREADSHEETS) and _starts_as_json(path, label)
    ):
        # An export, of any size: read as it is restored (tracker.importing.restore), never whole.
        with open_regular(path, label=label, hint=hint) as stream:
            size = os.fstat(stream.fileno()).st_size
        return InputFile(label=label, name=name, sha256="", text="", is_json=True, path=path, size=size)
    limit = {".csv": MAX_CSV_BYTES, ".xlsx": MAX_XLSX_BYTES, ".xlsm": MAX_XLSX_BYTES}.get(suffix, MAX_CSV_BYTES)
    content = read_bounded(path, limit=limit, label=label, hint=hint)
    sha256 = hashlib.sha256(content).hexdigest()
    if suffix in _OTHER_SPREADSHEETS or content.startswith(_OLE):
        what = _OTHER_SPREADSHEETS.get(suffix, _OTHER_SPREADSHEETS[".xls"])
        raise InputError(f"{label}: is {what}; save it as an Excel workbook (.xlsx) or as CSV UTF-8, then import that")
    if suffix in XLSX_SUFFIXES or content.startswith(_ZIP):
        if len(content) > MAX_XLSX_BYTES:
            raise InputError(
                f"{label}: {len(content)} bytes is over the {_mib(MAX_XLSX_BYTES)} limit for a workbook; "
                "split it into smaller files"
            )
        return InputFile(label=label, name=name, sha256=sha256, text="", is_json=False, workbook=content)
    decoded = _decode(content, label)
    if len(content) > MAX_CSV_BYTES:
        raise InputError(
            f"{label}: {len(content)} bytes is over the {_mib(MAX_CSV_BYTES)} limit for a CSV file; "
            "split it into smaller files"
        )
    return InputFile(label=label, name=name, sha256=sha256, text=decoded, is_json=False, path=path, size=len(content))


def _starts_as_json(path: Path, label: str) -> bool:
    """Whether the file's text starts with ``{`` (after a byte-order mark and white space): an export."""
    with open_regular(path, label=label, hint="; give a CSV, XLSX or JSON file") as stream:
        start = stream.read(64 * 1024)
    if start.startswith(codecs.BOM_UTF8):
        start = start[len(codecs.BOM_UTF8) :]
    return start.lstrip(b" \t\r\n").startswith(b"{")


def _decode(content: bytes, label: str) -> str:
    """The text of ``content`` (UTF-8, a byte-order mark skipped); an error names the bad byte and its line."""
    start = len(codecs.BOM_UTF8) if content.startswith(codecs.BOM_UTF8) else 0
    try:
        return str(memoryview(content)[start:], "utf-8")  # no copy of the bytes after the mark
    except UnicodeDecodeError as error:
        bad = start + error.start  # error.start counts from after the mark
        line = content.count(b"\n", 0, bad) + 1
        raise InputError(
            f"{label} line {line}: not UTF-8 text (byte 0x{content[bad]:02x}); save the file as UTF-8"
        ) from None


def _mib(size: int) -> str:
    return f"{size // 1024 // 1024} MiB"
