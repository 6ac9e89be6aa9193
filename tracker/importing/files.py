"""Reading a file to import: its bytes, bounded in size, decoded as UTF-8 text."""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path

from tracker import validation
from tracker.errors import InputError
from tracker.files import read_bounded
from tracker.store import models

MAX_CSV_BYTES = 200 * 1024 * 1024
MAX_EXPORT_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True)
class InputFile:
    """A file to import: its bytes, their sha256 and the text they decode to."""

    label: str
    name: str
    sha256: str
    text: str
    is_json: bool


def read_file(path: str | Path) -> InputFile:
    """Read and decode a file to import; refuse what is missing, too large or not UTF-8."""
    path = Path(path)
    label = str(path)
    suffix = path.suffix.lower()
    limit = MAX_CSV_BYTES if suffix == ".csv" else MAX_EXPORT_BYTES
    content = read_bounded(path, limit=limit, label=label, hint="; give a CSV or JSON file")
    decoded = _decode(content, label)
    is_json = suffix == ".json" or (suffix != ".csv" and decoded.lstrip().startswith("{"))
    if not is_json and len(content) > MAX_CSV_BYTES:
        raise InputError(
            f"{label}: {len(content)} bytes is over the {_mib(MAX_CSV_BYTES)} limit for a CSV file; "
            "split it into smaller files"
        )
    name = validation.text(path.name, "file name", max_length=models.NAME_LENGTH)
    assert name is not None  # a required text is never None
    return InputFile(label=label, name=name, sha256=hashlib.sha256(content).hexdigest(), text=decoded, is_json=is_json)


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
