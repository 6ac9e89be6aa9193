"""CSV: one row per recommendation, for spreadsheets.

Rows end with CRLF (RFC 4180). A text cell a spreadsheet could take for a formula is
neutralised; numbers stay numbers. Every CSV the command line writes (reports, ``tracker
due``, the lists of :mod:`tracker.render.sheets`) becomes bytes in :func:`encoded`: UTF-8
after a byte-order mark, unless ``--no-bom``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.reports import QuarterlyReport, Timeline
    from tracker.reports.editions import EditionsReport


_FORMULA_SIGNS = ("=", "+", "-", "@")
_FORMULA_START = (*_FORMULA_SIGNS, "\t", "\r", "\n")


def neutralise(cell: Any) -> Any:
    """OWASP's CSV injection advice: a text cell that a spreadsheet could run as a formula gets a ``'``.

    A formula can hide behind what spreadsheets skip or read alike: leading spaces (any
    Unicode space, and invisible format characters such as a zero-width space or a
    byte-order mark) and the full-width or small forms of the starters (``＝1+1``, ``﹢1``),
    which NFKC folds into ``=`` and ``+``. Numbers are not text: they stay numbers.
    """
    if isinstance(cell, str) and (cell.startswith(_FORMULA_START) or _first_visible(cell) in _FORMULA_SIGNS):
        return "'" + cell
    return cell


def _first_visible(text: str) -> str:
    """The first character of ``text`` after any spaces and format characters, as NFKC folds it ("" if none)."""
    import unicodedata

    for character in text:
        if not character.isspace() and unicodedata.category(character) != "Cf":
            return unicodedata.normalize("NFKC", character)[:1]
    return ""


BOM = "\ufeff"


def encoded(text: str, *, bom: bool = True) -> bytes:
    """CSV text as the bytes written out: UTF-8, after a byte-order mark unless ``bom`` is false.

    Excel reads a CSV file without the mark in the machine's legacy code page, which turns
    Khmer (or any non-Latin text) into mojibake; with it, Excel, LibreOffice and Python's
    ``utf-8-sig`` read UTF-8. Some tools take the mark for part of the first header: for
    them, ``--no-bom``."""
    return (BOM + text if bom else text).encode("utf-8")


def table_text(header: list[str], rows: Iterable[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()


def _number(value: float | None) -> Any:
    """Numbers stay numbers (never prefixed): 12.0 is written 12, a missing value as an empty cell."""
    if value is None:
        return ""
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else value


def ids_cell(ids: Iterable[int]) -> str:
    """Evidence ids in a cell, in order, once each, joined with ``;`` (empty when none)."""
    return ";".join(str(i) for i in sorted(set(ids)))


def quarterly(report: QuarterlyReport) -> str:
    """The rows of :func:`quarterly_table` as CSV text."""
    return table_text(*quarterly_table(report))


def quarterly_table(report: QuarterlyReport) -> tuple[list[str], list[list[Any]]]:
    """One row per recommendation: its evidence (ids, those unverified), the evidence its
    assessments in the quarter cite (ids, and how many are withheld from the audience; empty
    when the database user could not count them);
    one column per indicator (its value in the quarter)."""
    codes = list(dict.fromkeys(i.code for r in report.recommendations for i in r.indicators))
    header = ["ref", "title", "pillar", "previous_status", "status", "change", "evidence_count"]
    header += ["evidence_ids", "unverified_evidence_ids", "cited_evidence_ids", "cited_withheld"]
    header += [f"indicator:{code}" for code in codes]
    rows = []
    for r in report.recommendations:
        values = {i.code: i.value for i in r.indicators}
        rows.append(
            [
                r.ref,
                r.title,
                r.pillar,
                "" if r.previous_status is None else r.previous_status.value,
                r.status.value,
                r.change.value,
                len({e.id for e in r.evidence}),
                ids_cell(e.id for e in r.evidence),
                ids_cell(e.id for e in r.evidence if e.reliability.value == "unverified"),
                ids_cell(item.id for c in r.status_updates for item in c.cites),
                "" if report.withheld is None else sum(c.cites_withheld or 0 for c in r.status_updates),
            ]
            + [_number(values[code]) if code in values else "" for code in codes]
        )
    return header, rows


def timeline(timeline: Timeline) -> str:
    """The rows of :func:`timeline_table` as CSV text."""
    return table_text(*timeline_table(timeline))


def timeline_table(timeline: Timeline) -> tuple[list[str], list[list[Any]]]:
    """One row per recommendation, one column per quarter (empty: not yet issued), then the quarters it changed in."""
    header = ["ref", "title", "pillar"] + [str(q) for q in timeline.quarters] + ["changed_in"]
    rows = [
        [row.ref, row.title, row.pillar]
        + ["" if c.status is None else c.status.value for c in row.cells]
        + [" ".join(str(q) for q in row.changed_in)]
        for row in timeline.rows
    ]
    return header, rows


def editions(report: EditionsReport) -> str:
    """The rows of :func:`editions_table` as CSV text."""
    return table_text(*editions_table(report))


def editions_table(report: EditionsReport) -> tuple[list[str], list[list[Any]]]:
    """One row per thread; lists of editions joined with ``;``, booleans as ``true``/``false``."""
    header = [
        "series",
        "ref",
        "title",
        "first_source",
        "first_published_on",
        "editions",
        "repeated",
        "status",
        "carried_over_from",
        "not_implemented_in",
        "highlighted",
    ]
    rows = [
        [
            row.series,
            row.ref,
            row.title,
            row.first_source,
            row.first_published_on.isoformat(),
            ";".join(row.editions),
            row.repeated,
            row.status.value,
            row.carried_over_from or "",
            ";".join(row.not_implemented_in),
            "true" if row.highlighted else "false",
        ]
        for row in report.threads
    ]
    return header, rows
