"""Empty files to fill in and import: ``tracker import --template KIND -o FILE``.

A template is a CSV file or an Excel workbook with the header of one kind of file (every
column it takes, required ones first) and one example row, to replace with your own. A
workbook's vocabulary columns (kind, stance, reliability, sensitivity, status) offer their
values in a list (Excel's data validation), its date columns are formatted as YYYY-MM-DD,
and the columns that hold codes or ids as text. openpyxl is imported only to write a
workbook.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path
from typing import Any

from tracker.errors import InputError
from tracker.importing.kinds import CORRECTION, EVIDENCE, MEASUREMENT, STATUS, CsvKind

TEMPLATE_KINDS: dict[str, CsvKind] = {
    "evidence": EVIDENCE,
    "status": STATUS,
    "measurement": MEASUREMENT,
    "correction": CORRECTION,
}
"""The kinds of template, by the name ``--template`` takes."""
TEMPLATE_FORMATS = ("csv", "xlsx")

# One row of each kind, valid against the built-in catalog (tip-2019-khm).
EXAMPLES: dict[str, dict[str, Any]] = {
    EVIDENCE.name: {
        "rec": "labor-inspections",
        "title": "MoLVT inspects 12 brick kilns in Kandal",
        "date": date(2019, 8, 14),
        "kind": "inspection",
        "stance": "progress",
        "url": "https://example.org/molvt-kandal-kilns",
        "summary": "Inspectors visited 12 brick kilns; two held workers in debt bondage.",
        "source_name": "MoLVT press release",
        "reliability": "credible",
        "sensitivity": "internal",
    },
    STATUS.name: {
        "rec": "labor-inspections",
        "status": "in_progress",
        "effective_on": date(2019, 9, 30),
        "note": "First kiln inspections since 2017",
        "evidence": None,
    },
    MEASUREMENT.name: {
        "indicator": "kiln-inspections",
        "quarter": "2019Q3",
        "value": 12,
        "note": "Kandal province",
        "evidence": None,
    },
    CORRECTION.name: {
        "record": "evidence/1",
        "field": "title",
        "value": "MoLVT inspects 12 brick kilns in Kandal province",
        "reason": "The press release names the province",
    },
}
# Columns a spreadsheet program must keep as text: codes, REFs, ids, quarters ("1;2" is no number).
_TEXT_COLUMNS = frozenset({"rec", "record", "field", "indicator", "quarter", "evidence"})
_LAST_ROW = 1_048_576  # a sheet's last row: the lists apply to every row below the header


def template_kind(name: str) -> CsvKind:
    """The kind ``--template`` names: ``evidence``, ``status``, ``measurement``, ``correction``
    (also as the kind's own name, ``status update``, in the singular or the plural)."""
    found = _SPELLINGS.get(_spelled(name))
    if found is None:
        raise InputError(f"unknown template kind {name!r}: use one of {', '.join(TEMPLATE_KINDS)}")
    return found


def _spelled(name: str) -> str:
    return re.sub(r"[\s_-]+", "-", name.strip().lower())


_SPELLINGS = {
    _spelled(spelling): kind for slug, kind in TEMPLATE_KINDS.items() for spelling in (slug, kind.name, *kind.ids)
}


def template_format(given: str | None, output: Path) -> str:
    """The format of a template: ``given`` (``--format``), else the one ``output`` is named for, else csv.

    A format that the file's name contradicts (``--format csv -o kiln.xlsx``) is refused:
    ``tracker import`` reads a file by its name.
    """
    suffix = output.suffix.lower().lstrip(".")
    if given is None:
        return suffix if suffix in TEMPLATE_FORMATS else "csv"
    chosen = given.strip().lower()
    if chosen not in TEMPLATE_FORMATS:
        raise InputError(f"unknown --format {given!r} for a template: use {' or '.join(TEMPLATE_FORMATS)}")
    if suffix in TEMPLATE_FORMATS and suffix != chosen:
        raise InputError(
            f"-o {output}: a {chosen} template in a .{suffix} file would not import; name it .{chosen}, "
            "or leave out --format"
        )
    return chosen


def template(kind_name: str, file_format: str) -> bytes:
    """The template of the kind ``kind_name`` (see :func:`template_kind`) as ``file_format`` (csv or xlsx)."""
    kind = template_kind(kind_name)
    example = EXAMPLES[kind.name]
    if file_format == "xlsx":
        return _workbook(kind, example)
    if file_format != "csv":
        raise InputError(f"unknown --format {file_format!r} for a template: use {' or '.join(TEMPLATE_FORMATS)}")
    return _csv(kind, example)


def _csv(kind: CsvKind, example: dict[str, Any]) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel reads non-Latin text (Khmer, Thai) right."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(kind.columns)
    writer.writerow(["" if example.get(c) is None else _written(example[c]) for c in kind.columns])
    return "\ufeff".encode() + text.getvalue().encode()


def _written(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _workbook(kind: CsvKind, example: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = kind.name
    sheet.append(list(kind.columns))
    sheet.append([example.get(column) for column in kind.columns])
    sheet.freeze_panes = "A2"
    for index, column in enumerate(kind.columns, start=1):
        letter = get_column_letter(index)
        sheet.cell(1, index).font = Font(bold=True)
        shown = max(len(column), len(_written(example[column])) if example.get(column) is not None else 0)
        sheet.column_dimensions[letter].width = min(60, max(12, shown + 2))
        number_format = "yyyy-mm-dd" if column in kind.dates else "@" if column in _TEXT_COLUMNS else None
        if number_format is not None:
            sheet.column_dimensions[letter].number_format = number_format
            sheet.cell(2, index).number_format = number_format
        vocabulary = kind.vocabularies.get(column)
        if vocabulary is not None:
            values = [member.value for member in vocabulary]
            check = DataValidation(
                type="list",
                formula1='"' + ",".join(values) + '"',
                allow_blank=True,
                showErrorMessage=True,
                errorTitle=f"Unknown {column}",
                error=f"Use one of: {', '.join(values)}",
            )
            check.add(f"{letter}2:{letter}{_LAST_ROW}")
            sheet.add_data_validation(check)
    content = io.BytesIO()
    book.save(content)
    return content.getvalue()
