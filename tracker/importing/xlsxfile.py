"""An Excel workbook (.xlsx) to import: one of its sheets, read as the rows of a CSV file.

The sheet imported is the first whose first row is the header of a kind of file
(:data:`tracker.importing.kinds.CSV_KINDS`), or the one ``--sheet`` names; other sheets
(notes, lists) are left alone, but a second sheet with such a header is refused rather
than left out unseen. Its cells become the text a CSV file would hold, and
:func:`tracker.importing.csvfile.check_records` checks them, exactly as a CSV file's: the
same columns, checks, all-or-nothing and errors, located as ``sheet "evidence", row 14,
column "date"``.

Cells: text as it is; a whole number as its digits (``12.0`` is ``12``: values, ids); a
date or a date and time at midnight as the day (``2019-08-14``); a time of day other
than midnight in a date column is refused (a day has no time). Blank rows are skipped.
openpyxl is imported here only, when a workbook is read: other commands never load it.
"""

from __future__ import annotations

import contextlib
import io
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from typing import Any

from tracker.errors import InputError
from tracker.importing.csvfile import (
    CorrectionPlan,
    CsvPlan,
    Lookups,
    Place,
    Record,
    Records,
    check_records,
    column_letter,
    header_of,
    is_recognised,
)
from tracker.importing.files import InputFile
from tracker.importing.kinds import CSV_KINDS, DATE_COLUMNS
from tracker.progress import Progress, quietly

# openpyxl's read-only worksheet (its type stubs declare iter_rows for the writable one only).
ReadOnlyWorksheet = Any
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
"""What a workbook's parts may add up to, unpacked (a small zip can hold a great deal)."""


def parse_xlsx(
    file: InputFile,
    lookups: Lookups,
    *,
    progress: Progress = quietly,
    ignore: Sequence[str] = (),
    sheet: str | None = None,
) -> CsvPlan | CorrectionPlan:
    """Parse and check every row of a workbook's sheet to import, REFs included; the first bad row stops it."""
    with warnings.catch_warnings():  # openpyxl's, about parts it does not read: the library never prints
        warnings.simplefilter("ignore")
        with _damaged(file):
            book = _open(file)
        try:
            with _damaged(file):
                chosen, header = _choose(file, book.worksheets, sheet)
            place = Place(file.label, chosen.title)
            # The rows are read as the sheet holds them, however many its dimensions say (they can
            # be wrong): those only give the total that the progress shown counts to.
            lines = chosen.max_row or 0
            chosen.reset_dimensions()
            records = Records(place, header, _rows(file, chosen, place, header_of(header)), lines)
            return check_records(file, records, lookups, progress=progress, ignore=ignore)
        finally:
            book.close()


@contextlib.contextmanager
def _damaged(file: InputFile) -> Iterator[None]:
    """What openpyxl fails on inside (a damaged archive or sheet: zipfile, XML and openpyxl's own
    errors alike), said of the file."""
    try:
        yield
    except InputError:
        raise
    except Exception as error:
        raise _unreadable(file, error) from None


def _unreadable(file: InputFile, error: Exception) -> InputError:
    reason = " ".join(str(error).split()) or "damaged"
    return InputError(
        f"{file.label}: not an Excel workbook that can be read ({type(error).__name__}: {reason}); "
        "save it again as .xlsx (Excel Workbook)"
    )


def _open(file: InputFile) -> Any:
    import openpyxl

    assert file.workbook is not None
    archive = io.BytesIO(file.workbook)
    with zipfile.ZipFile(archive) as parts:
        unpacked = sum(part.file_size for part in parts.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise InputError(
            f"{file.label}: its parts unpack to {unpacked} bytes, over the {MAX_UNPACKED_BYTES // 1024 // 1024} MiB "
            "limit for a workbook; split it into smaller files"
        )
    return openpyxl.load_workbook(archive, read_only=True, data_only=True, keep_links=False)


def _header(sheet: ReadOnlyWorksheet) -> list[str]:
    """The sheet's first row as text, without the empty cells after its last column."""
    first = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), ())
    cells = ["" if value is None else str(value) for value in first]
    while cells and not cells[-1].strip():
        cells.pop()
    return cells


def _choose(
    file: InputFile, sheets: Sequence[ReadOnlyWorksheet], named: str | None
) -> tuple[ReadOnlyWorksheet, list[str]]:
    """The sheet to import and its header: the sheet named, else the first whose first row is the
    header of a kind of file (see :func:`tracker.importing.csvfile.is_recognised`)."""
    if named is not None:
        for sheet in sheets:
            if sheet.title.strip().lower() == named.strip().lower():
                return sheet, _header(sheet)
        names = ", ".join(f'"{sheet.title}"' for sheet in sheets)
        raise InputError(f'{file.label}: no sheet "{named}"; its sheets are {names}')
    headers = [(sheet, _header(sheet)) for sheet in sheets]
    found = [(sheet, header) for sheet, header in headers if is_recognised(header_of(header))]
    if len(found) > 1:
        both = " and ".join(f'"{sheet.title}"' for sheet, _ in found[:2])
        raise InputError(
            f"{file.label}: sheets {both} both have the header of a file to import; "
            f'pass --sheet NAME to import one of them (e.g. --sheet "{found[0][0].title}")'
        )
    if found:
        return found[0]
    filled = [(sheet, header) for sheet, header in headers if header]
    if not filled:
        example = ",".join(CSV_KINDS[0].required)
        raise InputError(f"{file.label}: every sheet is empty; a sheet's first row must be its header, e.g. {example}")
    return filled[0]  # its header is refused, as a CSV file's would be, saying why


def _rows(file: InputFile, sheet: ReadOnlyWorksheet, place: Place, header: list[str]) -> Iterator[Record]:
    """The rows after the header, each as the cells a CSV file would hold (see :func:`_text`)."""
    width = len(header)
    dates = [column in DATE_COLUMNS for column in header]
    rows = sheet.iter_rows(min_row=2, values_only=True)
    number = 1
    while True:
        try:
            row = next(rows, None)
        except Exception as error:  # openpyxl reading on through a damaged sheet
            raise _unreadable(file, error) from None
        if row is None:
            return
        number += 1
        if not any(_filled(value) for value in row):
            yield number, number, None  # a blank row
            continue
        if len(row) > width:
            beyond = next((index for index in range(width, len(row)) if _filled(row[index])), None)
            if beyond is not None:
                raise InputError(
                    f"{place.at(number)}: a value in column {column_letter(beyond)}, which has no header: "
                    "name the column in the first row, or clear the cell"
                )
        cells: list[str | None] = [None] * width
        for index, value in enumerate(row[:width]):
            try:
                cells[index] = _text(value, dates[index])
            except InputError as error:
                raise InputError(f"{place.at(number, header[index])}: {error}") from None
        yield number, number, cells


def _filled(value: Any) -> bool:
    return value is not None and (type(value) is not str or bool(value.strip()))


def _text(value: Any, is_date: bool) -> str | None:
    """A cell's value as a CSV file would hold it, or None when blank."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is datetime:
        if value.time() == time(0):
            return value.date().isoformat()
        if is_date:
            raise InputError(
                f"a date with a time of day ({value:%Y-%m-%d %H:%M}) where a day is expected: "
                f"give the day only, e.g. {value:%Y-%m-%d}"
            )
        return value.isoformat(sep=" ")
    if kind is date:
        return value.isoformat()
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if (kind is int or kind is float) and is_date:
        raise InputError(
            f"the number {value:g} where a day is expected: format the cell as a date, or write the day as text, "
            "YYYY-MM-DD"
        )
    if kind is int:
        return str(value)
    if kind is float:
        return str(int(value)) if value.is_integer() else repr(value)
    if is_date:
        raise InputError(f"{value} where a day is expected: give the day, YYYY-MM-DD")
    return str(value)
