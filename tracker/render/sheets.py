"""Lists for spreadsheets: ``tracker evidence list`` and ``tracker status history`` as CSV or XLSX.

One row per item, the same columns in both (:data:`EVIDENCE`, :data:`STATUS_HISTORY`),
from the records the queries return (``tracker.queries.evidence_list``, ``status_history``):
the JSON output's fields flattened, lists joined with ``;``.

- **CSV** is written as the reports' CSV (:mod:`tracker.render.csvfile`): CRLF rows, a text
  cell a spreadsheet could run as a formula prefixed with ``'``; dates ``YYYY-MM-DD``,
  times as in the JSON (UTC, ``...Z``). The byte-order mark is added where the bytes are
  made, by :func:`tracker.render.csvfile.encoded`.
- **XLSX** is a workbook of one sheet, written by openpyxl in write-only mode (imported
  only here): the header row bold and frozen, ids and counts as numbers, dates as date
  cells, times as date-time cells (UTC), text as text cells. A text that looks like a
  formula is stored as text, never as a formula: every text cell is a string cell, and
  one that :func:`~tracker.render.csvfile.neutralise` would prefix also gets Excel's
  quote prefix (what typing ``'=1+1`` gives), so that it stays text when edited; its
  value is the text as recorded, without a ``'``.
- **The same rows give the same bytes**: the workbook's created and modified times are
  the newest time the rows hold (recorded, retracted, withdrawn), 1980-01-01 for an empty
  list, and so are the times of the entries of its zip file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from tracker.errors import InputError
from tracker.render.csvfile import neutralise

if TYPE_CHECKING:
    from zipfile import ZipInfo

FORMATS = ("table", "csv", "json", "xlsx")
BINARY = frozenset({"xlsx"})

# Excel's limits: rows in a sheet (the header is one), characters in a cell (UTF-16 units).
MAX_ROWS = 1_048_576
MAX_CELL = 32_767
_CUT_NOTE = " [… cut at Excel's limit of 32,767 characters: --format csv or json has the whole text]"
_NO_TIME = datetime(1980, 1, 1)  # the earliest time a zip entry can have


def output_form(fmt: str | None, json_output: bool) -> str:
    """``table`` (the default), ``csv``, ``json`` (also ``--json``) or ``xlsx``; refuses both
    ``--json`` and ``--format``, or another format."""
    if fmt is not None and json_output:
        raise InputError("give --json or --format, not both")
    if json_output:
        return "json"
    chosen = "table" if fmt is None else fmt.strip().lower()
    if chosen not in FORMATS:
        raise InputError(f"unknown --format {fmt!r}: use table (the default), csv, json or xlsx")
    return chosen


@dataclass(frozen=True)
class Column:
    """A column: its name (the header) and the kind of its values, which decides their cells.

    ``number`` (an id, a count), ``date``, ``time`` (a UTC moment), ``flag`` (``true`` or
    ``false`` in CSV, a boolean cell in XLSX) or ``text``; None is an empty cell in every kind."""

    name: str
    kind: str = "text"


@dataclass(frozen=True)
class Sheet:
    """A list's columns, and how a record (a dict of the query's) gives one row of values."""

    title: str
    columns: tuple[Column, ...]
    row: Callable[[dict[str, Any]], tuple[Any, ...]]


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def _joined(values: Sequence[Any]) -> str | None:
    """Values in one cell, joined with ``;``; None (an empty cell) when there are none."""
    return ";".join(str(v) for v in values) or None


def _evidence_row(r: dict[str, Any]) -> tuple[Any, ...]:
    retraction = r["retraction"] or {}
    return (
        r["id"],
        _day(r["observed_on"]),
        r["kind"],
        r["title"],
        _joined([link["ref"] for link in r["recommendations"]]),
        _joined([link["stance"] for link in r["recommendations"]]),
        r["source_name"],
        r["url"],
        r["summary"],
        r["reliability"],
        r["sensitivity"],
        len(r["attachments"]),
        bool(r["corrected"]),
        _moment(r["recorded_at"]),
        r["recorded_by"],
        _moment(retraction.get("recorded_at")),
        retraction.get("recorded_by"),
        retraction.get("reason"),
    )


EVIDENCE = Sheet(
    "evidence",
    (
        Column("id", "number"),
        Column("observed_on", "date"),
        Column("kind"),
        Column("title"),
        Column("refs"),
        Column("stances"),
        Column("source_name"),
        Column("url"),
        Column("summary"),
        Column("reliability"),
        Column("sensitivity"),
        Column("attachments", "number"),
        Column("corrected", "flag"),
        Column("recorded_at", "time"),
        Column("recorded_by"),
        Column("retracted_at", "time"),
        Column("retracted_by"),
        Column("retraction_reason"),
    ),
    _evidence_row,
)
"""Evidence: ``refs`` and ``stances`` list its recommendations and its stance on each, in the
same order; ``attachments`` counts its files; ``corrected`` says whether it was; the
``retracted_*`` columns are empty unless it was retracted."""


def _status_row(r: dict[str, Any]) -> tuple[Any, ...]:
    withdrawn = r["withdrawn"] or {}
    return (
        r["id"],
        r["ref"],
        _day(r["effective_on"]),
        r["status"],
        r["note"],
        _joined(r["evidence"]),
        _joined(r["retracted_evidence"]),
        _moment(r["recorded_at"]),
        r["recorded_by"],
        _moment(withdrawn.get("recorded_at")),
        withdrawn.get("recorded_by"),
        withdrawn.get("reason"),
    )


STATUS_HISTORY = Sheet(
    "status history",
    (
        Column("id", "number"),
        Column("ref"),
        Column("effective_on", "date"),
        Column("status"),
        Column("note"),
        Column("evidence"),
        Column("retracted_evidence"),
        Column("recorded_at", "time"),
        Column("recorded_by"),
        Column("withdrawn_at", "time"),
        Column("withdrawn_by"),
        Column("withdrawal_reason"),
    ),
    _status_row,
)
"""Assessments: ``evidence`` lists the ids of the evidence each cites, ``retracted_evidence``
those of it retracted since; the ``withdrawn_*`` columns are empty unless it was withdrawn."""


def render(sheet: Sheet, records: Sequence[dict[str, Any]], form: str) -> str | bytes:
    """The list as ``csv`` text or ``xlsx`` bytes."""
    return xlsx(sheet, records) if form == "xlsx" else csv_text(sheet, records)


# CSV --------------------------------------------------------------------------------------


def csv_text(sheet: Sheet, records: Iterable[dict[str, Any]]) -> str:
    """One CSV row per record after the header, cells neutralised, rows ending with CRLF."""
    return "".join(csv_pieces(sheet, records))


CSV_ROWS_PER_PIECE = 1_000


def csv_pieces(sheet: Sheet, records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """:func:`csv_text` in pieces as the records come (a piece per thousand rows)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.name for column in sheet.columns])
    for number, record in enumerate(records, start=1):
        writer.writerow([neutralise(_csv_cell(value)) for value in sheet.row(record)])
        if number % CSV_ROWS_PER_PIECE == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        from tracker.clock import iso_utc

        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


# XLSX -------------------------------------------------------------------------------------


def xlsx(sheet: Sheet, records: Sequence[dict[str, Any]]) -> bytes:
    """The list as an XLSX workbook of one sheet; the same records give the same bytes."""
    if len(records) >= MAX_ROWS:
        raise InputError(
            f"{len(records):,} rows do not fit in a worksheet (Excel holds {MAX_ROWS - 1:,} below the header): "
            "use --format csv, or narrow the list"
        )
    rows = [sheet.row(record) for record in records]
    moment = max((v for row in rows for v in row if isinstance(v, datetime)), default=None)
    return workbook(sheet.title, sheet.columns, rows, moment)


def workbook(title: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]], moment: datetime | None) -> bytes:
    """A workbook of one sheet named ``title``: a bold, frozen header row, then ``rows`` (text
    cells never formulas, numbers, dates, UTC times, booleans; None empty). Its properties and
    zip entries are dated ``moment`` (1980-01-01 when None), so the same rows give the same bytes."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    stamp = _NO_TIME if moment is None else moment.astimezone(UTC).replace(tzinfo=None)
    book = Workbook(write_only=True)
    book.properties.creator = "tracker"
    book.properties.title = title
    book.properties.created = book.properties.modified = stamp
    worksheet = book.create_sheet(title)
    for index, column in enumerate(columns, start=1):
        worksheet.column_dimensions[get_column_letter(index)].width = _width(column, [row[index - 1] for row in rows])
    worksheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def text_cell(value: str, font: Any = None) -> Any:
        cell = WriteOnlyCell(worksheet, value=_fitted(value))
        cell.data_type = "s"  # a text cell, even when it starts with "=": never a formula
        if neutralise(value) is not value:
            cell.quotePrefix = True  # and it stays text when edited, as Excel keeps a typed '=1+1
        if font is not None:
            cell.font = font
        return cell

    def cell(value: Any) -> Any:
        if isinstance(value, str):
            return text_cell(value)
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None)  # Excel's times have no zone: these are UTC
        return value  # a number, a boolean, a date (a date cell), or None (an empty cell)

    worksheet.append([text_cell(column.name, bold) for column in columns])
    for row in rows:
        worksheet.append([cell(value) for value in row])
    return _saved(book, stamp)


def _fitted(text: str) -> str:
    """``text``, or as much of it as a cell holds, cut between two grapheme clusters, and said so."""
    if len(text) <= MAX_CELL // 2 or len(text.encode("utf-16-le")) // 2 <= MAX_CELL:
        return text
    from tracker.render.terminal import graphemes

    room, kept = MAX_CELL - len(_CUT_NOTE), []
    for cluster in graphemes(text):
        room -= len(cluster.encode("utf-16-le")) // 2
        if room < 0:
            break
        kept.append(cluster)
    return "".join(kept) + _CUT_NOTE


_WIDTHS = {"date": 12, "time": 21, "flag": 7}  # 2019-08-14, 2019-10-04 09:00:00, FALSE
_WIDEST = 60


def _width(column: Column, values: Sequence[Any]) -> float:
    """A column's width in characters: its widest value (screen cells), between its header's and 60."""
    from rich.cells import cell_len

    if column.kind in _WIDTHS:
        return max(_WIDTHS[column.kind], len(column.name) + 2)
    widest = max((cell_len(str(v)[: _WIDEST * 2]) for v in values if v is not None), default=0)
    return min(max(widest, len(column.name)), _WIDEST) + 2


def _saved(workbook: Any, stamp: datetime) -> bytes:
    """The workbook's bytes, every zip entry dated ``stamp`` (openpyxl dates them now)."""
    import zipfile

    from openpyxl.writer.excel import ExcelWriter

    written = io.BytesIO()
    ExcelWriter(workbook, zipfile.ZipFile(written, "w", zipfile.ZIP_DEFLATED)).save()  # not save_workbook: it
    # would stamp the workbook as modified now
    fixed = io.BytesIO()
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            target.writestr(_dated(entry.filename, stamp), source.read(entry))
    return fixed.getvalue()


def _dated(name: str, stamp: datetime) -> ZipInfo:
    from zipfile import ZIP_DEFLATED, ZipInfo

    entry = ZipInfo(name, date_time=stamp.timetuple()[:6])
    entry.compress_type = ZIP_DEFLATED
    entry.create_system = 3  # as on Unix, wherever it is made
    entry.external_attr = 0o644 << 16
    return entry
