"""Bulk import and export.

``tracker import FILE`` takes a CSV file of one kind (evidence, status updates,
measurements or corrections, recognised by its header), an Excel workbook's sheet of one
of these kinds (read as the same rows, :mod:`~tracker.importing.xlsxfile`) or a JSON
export. It is all rows or none: the file is read, parsed and validated completely, with
the same checks as the single commands (:mod:`tracker.services`), then written in one
transaction, each row with its own event in the audit chain; the first bad row stops it,
naming the file, the line (or sheet and row) and the field, and nothing is written. A
correction file (``record,field,value,reason``) is written row by row, in order, by the
service functions of the single commands, which check each row as they write it.

``tracker export`` writes everything, the audit chain included, as one JSON document in
a stable order. Importing it into an empty database restores that database exactly (ids,
``recorded_at``, ``recorded_by`` and the events themselves), so exporting again gives the
same bytes and ``tracker verify`` checks the restored rows against their original events.

The modules: :mod:`~tracker.importing.files` reads a file, :mod:`~tracker.importing.kinds`
and :mod:`~tracker.importing.csvfile` parse and write a CSV file, through the bulk writer
of :mod:`~tracker.importing.bulk`; :mod:`~tracker.importing.xlsxfile` reads a workbook's
sheet as a CSV file's rows; :mod:`~tracker.importing.templates` writes the empty files to
fill in; :mod:`~tracker.importing.export` writes an export and
:mod:`~tracker.importing.restore` restores one. Long work shows its progress through the
``progress`` it is given (:mod:`tracker.progress`); the library itself never writes to
the terminal.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from tracker.errors import InputError
from tracker.importing.csvfile import CorrectionPlan, CsvPlan, Lookups, parse_csv, refuse_repeat
from tracker.importing.export import EXPORT_FORMAT, EXPORT_TABLES, EXPORT_VERSION, export, export_pieces
from tracker.importing.files import MAX_CSV_BYTES, MAX_XLSX_BYTES, InputFile, read_file
from tracker.importing.kinds import CORRECTION, CSV_KINDS, EVIDENCE, MEASUREMENT, STATUS, CsvKind
from tracker.importing.restore import ExportPlan, parse_export, restore_plan
from tracker.importing.summary import ImportSummary
from tracker.importing.templates import TEMPLATE_FORMATS, TEMPLATE_KINDS, template, template_format
from tracker.importing.xlsxfile import parse_xlsx
from tracker.progress import Progress, quietly
from tracker.store.database import Database

__all__ = [
    "CORRECTION",
    "CSV_KINDS",
    "EVIDENCE",
    "EXPORT_FORMAT",
    "EXPORT_TABLES",
    "EXPORT_VERSION",
    "MAX_CSV_BYTES",
    "MAX_XLSX_BYTES",
    "MEASUREMENT",
    "STATUS",
    "TEMPLATE_FORMATS",
    "TEMPLATE_KINDS",
    "CorrectionPlan",
    "CsvKind",
    "CsvPlan",
    "ExportPlan",
    "ImportSummary",
    "InputFile",
    "Lookups",
    "export",
    "export_pieces",
    "import_file",
    "parse_csv",
    "parse_export",
    "parse_xlsx",
    "read_file",
    "template",
    "template_format",
]


def import_file(
    database: Database,
    path: str | Path,
    *,
    actor: str,
    dry_run: bool = False,
    again: bool = False,
    ignore: Sequence[str] = (),
    sheet: str | None = None,
    progress: Progress = quietly,
) -> ImportSummary:
    """Import a CSV file or a workbook's sheet, or restore an export: check everything, then
    write it all or nothing.

    ``ignore`` names columns of a CSV file or a sheet that tracker does not know, to leave
    out rather than refuse; ``sheet`` the sheet of a workbook to import (by default the first
    whose first row is the header of a kind of file). ``progress`` is shown while the file is
    checked and while it is written (see :mod:`tracker.progress`; the default shows nothing).
    A dry run of a correction file writes it all in a write transaction that it then rolls
    back: only writing each correction checks it.
    """
    file = read_file(path)
    if sheet is not None and not file.is_xlsx:
        raise InputError(f"--sheet {sheet}: {file.label} is not a workbook; --sheet chooses a sheet of an .xlsx file")
    if file.is_json and ignore:
        raise InputError(f"--ignore-column: {file.label} is an export, which has no columns to leave out")
    with _collector_paused():
        with database.reading() as session:
            if file.is_json:
                plan: CsvPlan | CorrectionPlan | ExportPlan = restore_plan(file)
            else:
                refuse_repeat(session, file, again)
                lookups = Lookups(session)
                if file.is_xlsx:
                    plan = parse_xlsx(file, lookups, progress=progress, ignore=ignore, sheet=sheet)
                else:
                    plan = parse_csv(file, lookups, progress=progress, ignore=ignore)
            if dry_run and not isinstance(plan, CorrectionPlan):
                return plan.apply(session, actor=actor, again=again, dry_run=True, progress=progress)
        work = functools.partial(plan.apply, actor=actor, again=again, dry_run=dry_run, progress=progress)
        return _rehearse(database, work) if dry_run else database.write(work)


class _Rehearsed(Exception):
    """Ends a rehearsal, its transaction rolled back, with what it would have done."""

    def __init__(self, summary: ImportSummary) -> None:
        super().__init__("rehearsed")
        self.summary = summary


def _rehearse(database: Database, work: Callable[[Session], ImportSummary]) -> ImportSummary:
    """``work`` done in a write transaction, then rolled back: its summary."""

    def rehearse(session: Session) -> ImportSummary:
        raise _Rehearsed(work(session))

    try:
        database.write(rehearse)
    except _Rehearsed as done:
        return done.summary
    raise AssertionError("a rehearsal always ends rolled back")


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a file is read and written.

    An import makes a few objects per row and keeps them until it is done, none of them in
    a reference cycle: each collection would scan all of them again, for nothing (about a
    tenth of an import's time). Mercurial does the same around its parsers.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
