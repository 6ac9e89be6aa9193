"""XLSX: the CSV report's table as an Excel workbook of one sheet, for people who live in spreadsheets.

The same rows and columns as :mod:`tracker.render.csvfile` (one row per recommendation, or
per thread), written by :func:`tracker.render.sheets.workbook`: a bold, frozen header row,
numbers as numbers, text cells that are never formulas. The workbook is dated the report's
as-of instant, so the same report gives the same bytes. openpyxl is imported when a
workbook is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracker.render import csvfile
from tracker.render.sheets import Column, workbook

if TYPE_CHECKING:
    from tracker.reports import Header, QuarterlyReport, Timeline
    from tracker.reports.editions import EditionsReport


def _sheet(title: str, header: Header, table: tuple[list[str], list[list[Any]]]) -> bytes:
    names, rows = table
    kinds = [
        "number" if rows and all(isinstance(row[i], int | float) for row in rows) else "text" for i in range(len(names))
    ]
    columns = [Column(name, kind) for name, kind in zip(names, kinds)]
    cells = [[None if value == "" else value for value in row] for row in rows]  # an empty CSV cell: an empty cell
    return workbook(title, columns, cells, header.as_of)


def quarterly(report: QuarterlyReport) -> bytes:
    """One row per recommendation, the columns of the CSV report."""
    return _sheet(f"Quarterly {report.quarter}", report.header, csvfile.quarterly_table(report))


def timeline(timeline: Timeline) -> bytes:
    """One row per recommendation, one column per quarter, as in the CSV timeline."""
    return _sheet(f"Timeline {timeline.first}-{timeline.last}", timeline.header, csvfile.timeline_table(timeline))


def editions(report: EditionsReport) -> bytes:
    """One row per thread, as in the CSV editions report."""
    return _sheet("Editions", report.header, csvfile.editions_table(report))
