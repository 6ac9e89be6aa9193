"""A CSV file of one kind: parsed and checked row by row, then written as one import.

Each row of evidence, status updates or measurements is checked by the same functions as
its single command (:mod:`tracker.services`) and written with the rows, and under the
action, its single command would write. Each row of a correction file is written by the
service function of its single command (``tracker evidence amend``, ``tracker status
withdraw``...), which checks it: row by row, in order, in the import's one transaction.
"""

from __future__ import annotations

import contextlib
import csv
import io
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from tracker import assessors, queries, services, validation
from tracker.audit.chain import Chain, chain_head, reads_everything
from tracker.errors import Conflict, InputError
from tracker.importing.bulk import CHUNK_ROWS, IdAllocator, Rows, Writer, bulk_settings
from tracker.importing.files import InputFile
from tracker.importing.kinds import (
    ATTRIBUTES,
    CORRECTABLE,
    CORRECTION,
    CSV_KINDS,
    EVIDENCE,
    LIST_SEPARATOR,
    MEASUREMENT,
    STATUS,
    VOCABULARY_COLUMNS,
    WITHDRAWN,
    CsvKind,
)
from tracker.importing.summary import ImportSummary
from tracker.progress import Progress, quietly
from tracker.store import models
from tracker.store.models import Correction, Event, ImportBatch

_BATCHES = cast(Table, ImportBatch.__table__)
_EVIDENCE = cast(Table, models.Evidence.__table__)
_EVIDENCE_LINKS = cast(Table, models.EvidenceLink.__table__)
_STATUS_UPDATES = cast(Table, models.StatusUpdate.__table__)
_CITED_EVIDENCE = cast(Table, models.StatusUpdateEvidence.__table__)
_MEASUREMENTS = cast(Table, models.Measurement.__table__)
_CORRECTIONS = cast(Table, Correction.__table__)
_STATUS_ASSESSORS = cast(Table, models.StatusAssessor.__table__)
_ENTRIES_FOR = cast(Table, models.EntryFor.__table__)


@dataclass(frozen=True)
class CsvRow:
    """One checked data row: its line in the file, what it names, its checked values."""

    line: int
    names: tuple[str, ...]  # the REFs of an evidence or status row; the indicator code of a measurement
    value: Any  # services.EvidenceInput, StatusInput or MeasurementInput
    cited: tuple[int, ...]  # evidence ids it cites
    assessor: str | None = None  # a status row's assessor (code; None: the default's)
    on_behalf_of: str | None = None  # the agency (code) it is entered for


@dataclass(frozen=True)
class Party:
    """Whose a row is, beyond its author: a status row's assessor (the default's when the row
    names none), and the agency it is entered on behalf of; ids, None for none."""

    assessor_id: int | None = None
    agency_id: int | None = None


class Lookups:
    """What rows name, read from the database once: REFs, indicator codes, evidence ids."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._refs: queries.RefIndex | None = None
        self._indicators: dict[str, int] | None = None
        self._evidence: set[int] | None = None
        self._retracted: dict[int, datetime] | None = None
        self._resolved: dict[tuple[tuple[str, ...], date | None], tuple[int, ...]] = {}
        self._roster: assessors.Roster | None = None
        self._agencies: dict[str, int] | None = None

    def party(self, kind: CsvKind, row: CsvRow) -> Party:
        """The assessor and agency a row names, found as the single commands find them
        (``status set --assessor``, ``--for``); an unknown one is said of its column."""
        assessor_id = None
        if kind is STATUS:
            if self._roster is None:
                self._roster = assessors.roster(self.session)
            try:
                by = self._roster.find(row.assessor) if row.assessor is not None else self._roster.default
            except InputError as error:
                raise _said("assessor", error) from None
            assessor_id = None if by is None else by.id
        agency_id = None
        if row.on_behalf_of is not None:
            if self._agencies is None:
                self._agencies = {
                    code: agency_id
                    for code, agency_id in self.session.execute(select(models.Agency.code, models.Agency.id))
                }
            if row.on_behalf_of not in self._agencies:
                try:
                    queries.agency_by_code(self.session, row.on_behalf_of)
                except InputError as error:
                    raise _said("for", error) from None
            agency_id = self._agencies[row.on_behalf_of]
        return Party(assessor_id, agency_id)

    def targets(self, kind: CsvKind, row: CsvRow) -> tuple[int, ...]:
        """The ids a row's names resolve to; unknown evidence it cites is refused too.

        An error is said of its column: ``evidence`` for what a row cites, else ``rec`` or ``indicator``.
        """
        for evidence_id in row.cited:
            if evidence_id not in self.evidence:
                raise _said(CITED_COLUMN, queries.unknown_evidence(evidence_id))
            if evidence_id in self.retracted:
                raise _said(CITED_COLUMN, queries.retracted_evidence(evidence_id, self.retracted[evidence_id]))
        if kind is MEASUREMENT:
            code = row.names[0]
            if code not in self.indicators:
                raise _said("indicator", queries.unknown_indicator(code))
            return (self.indicators[code],)
        # A bare code names the edition in force on the row's day, as the commands resolve it.
        day = getattr(row.value, "effective_on", None) or getattr(row.value, "observed_on", None)
        key = (row.names, day)
        resolved = self._resolved.get(key)
        if resolved is None:  # many rows name the same REFs: each set resolved once
            try:
                resolved = tuple(dict.fromkeys(self.refs.resolve(ref, day) for ref in row.names))
            except InputError as error:
                raise _said("rec", error) from None
            self._resolved[key] = resolved
        return resolved

    @property
    def refs(self) -> queries.RefIndex:
        if self._refs is None:
            self._refs = queries.RefIndex(self.session)
        return self._refs

    @property
    def indicators(self) -> dict[str, int]:
        if self._indicators is None:
            self._indicators = queries.indicator_ids(self.session)
        return self._indicators

    @property
    def retracted(self) -> dict[int, datetime]:
        if self._retracted is None:
            self._retracted = queries.retractions(self.session)
        return self._retracted

    @property
    def evidence(self) -> set[int]:
        if self._evidence is None:
            self._evidence = queries.evidence_ids(self.session)
        return self._evidence


def refuse_repeat(session: Session, file: InputFile, again: bool) -> None:
    """Refuse a file whose content was imported before, unless ``again``."""
    if again:
        return
    previous = session.scalars(
        select(ImportBatch).where(ImportBatch.sha256 == file.sha256).order_by(ImportBatch.id).limit(1)
    ).first()
    if previous is not None:
        sheets = " (a workbook counts as one file: to import another sheet of it, pass --again)" if file.is_xlsx else ""
        raise Conflict(
            f"{file.label} was already imported on {previous.recorded_at:%Y-%m-%d} "
            f"(import {previous.id}, as {previous.filename!r}, {previous.rows} rows, by {previous.recorded_by}): "
            f"pass --again to import the same content again{sheets}"
        )


# Parsing and checking -----------------------------------------------------------------------------

CITED_COLUMN = "evidence"  # the column of the evidence ids a status update or a measurement cites


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(LIST_SEPARATOR) if part.strip()]


def _name(value: str | None, field: str, *, max_length: int) -> str:
    """A name a row must give (a REF, an indicator code), trimmed; never blank."""
    name = validation.text(value, field, max_length=max_length)
    assert name is not None  # a required text is never None
    return name


def _check_row(kind: CsvKind, row: Mapping[str, str | None], line: int) -> CsvRow:
    """A row checked by the same functions as the single commands."""
    labels = kind.labels
    if kind is EVIDENCE:
        evidence = services.check_evidence(
            recs=_split(row["rec"]),
            title=row["title"],
            observed_on=row["date"],
            kind=row["kind"],
            stance=row.get("stance"),
            url=row.get("url"),
            summary=row.get("summary"),
            source_name=row.get("source_name"),
            reliability=row.get("reliability"),
            sensitivity=row.get("sensitivity"),
            labels=labels,
        )
        return CsvRow(line, evidence.recs, evidence, (), on_behalf_of=_code(row, "for"))
    if kind is STATUS:
        ref = _name(row["rec"], "rec", max_length=2 * models.CODE_LENGTH + 1)
        status = services.check_status(
            status=row["status"],
            effective_on=row["effective_on"],
            note=row["note"],
            evidence_ids=_split(row.get("evidence")),
            labels=labels,
        )
        return CsvRow(
            line, (ref,), status, status.evidence_ids, assessor=_code(row, "assessor"), on_behalf_of=_code(row, "for")
        )
    code = _name(row["indicator"], "indicator", max_length=models.CODE_LENGTH)
    measurement = services.check_measurement(
        quarter=row["quarter"], value=row["value"], note=row.get("note"), evidence_id=row.get("evidence"), labels=labels
    )
    cited = () if measurement.evidence_id is None else (measurement.evidence_id,)
    return CsvRow(line, (code,), measurement, cited, on_behalf_of=_code(row, "for"))


def _code(row: Mapping[str, str | None], column: str) -> str | None:
    """An optional code a row names (an assessor, an agency), trimmed; None when blank."""
    return validation.text(row.get(column), column, max_length=models.CODE_LENGTH, required=False)


def _as_checked(kind: CsvKind, values: dict[str, str | None]) -> dict[str, str | None]:
    """A row's values as its checks take them: vocabularies' in lower case (``Inspection``:
    ``inspection``). A day written with slashes or dots is refused here, with its ISO spelling."""
    for column in kind.vocabularies:
        value = values.get(column)
        if value is not None:
            values[column] = value.lower()
    for column in kind.dates:
        value = values.get(column)
        if value is not None and (written := _WRITTEN_DAY.fullmatch(value.strip())):
            raise _CellError(column, _iso_hint(column, value, written), said=True)
    return values


# A day written as people write it by hand (14/08/2019, 14.08.2019, 8-14-2019, 2019/08/14), not YYYY-MM-DD.
_WRITTEN_DAY = re.compile(
    r"(?P<first>\d{1,2})[/.-](?P<second>\d{1,2})[/.-](?P<year>\d{4})|(?P<y>\d{4})[/.](?P<m>\d{1,2})[/.](?P<d>\d{1,2})",
    re.ASCII,
)


def _iso_hint(column: str, value: str, written: re.Match[str]) -> str:
    """Why a day written ``14/08/2019`` is refused, and how to write it. The order of day and
    month is never guessed: where only one order makes a date, the message gives that date,
    where both do, both."""
    refused = f"invalid {column} {value!r}: write the date as YYYY-MM-DD"
    if written["y"]:
        meant = _iso(int(written["y"]), int(written["m"]), int(written["d"]))
        return f"{refused}: {meant}" if meant else f"{refused}; no such day in the calendar"
    year, first, second = int(written["year"]), int(written["first"]), int(written["second"])
    day_first, month_first = _iso(year, second, first), _iso(year, first, second)
    if day_first and month_first and day_first != month_first:
        return f"{refused}: {day_first} if it is day/month/year, {month_first} if it is month/day/year"
    meant = day_first or month_first
    return f"{refused}: {meant}" if meant else f"{refused}; no such day in the calendar"


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


class _CellError(InputError):
    """An error in one cell of a row: ``column`` names its column (None: not known).

    ``said``: the message names the column already (the single commands' checks name each
    field by its column): a CSV file's error does not repeat it; a sheet's names it always.
    """

    def __init__(self, column: str | None, message: str, *, said: bool = False) -> None:
        super().__init__(message)
        self.column = column
        self.said = said


def _said(column: str, error: InputError) -> _CellError:
    return _CellError(column, str(error), said=True)


@dataclass(frozen=True)
class Place:
    """How errors name a place in a file: a CSV file's lines (``FILE line 14``), or the rows of
    one sheet of a workbook (``FILE sheet "evidence", row 14, column "date"``)."""

    label: str
    sheet: str | None = None

    @property
    def whole(self) -> str:
        """The file, or its sheet."""
        return self.label if self.sheet is None else f'{self.label} sheet "{self.sheet}"'

    def at(self, line: int, column: str | None = None) -> str:
        if self.sheet is None:
            return f"{self.label} line {line}" + (f", column {column}" if column else "")
        return f"{self.whole}, row {line}" + (f', column "{column}"' if column else "")

    def column(self, index: int) -> str:
        """How a column is named by its place (0: the first): a CSV file's by number, a sheet's by letter."""
        return str(index + 1) if self.sheet is None else column_letter(index)

    def error(self, line: int, error: InputError) -> InputError:
        """``error`` said of a line or row (and of its column, where known)."""
        column = None
        if isinstance(error, _CellError) and (self.sheet is not None or not error.said):
            column = error.column
        return InputError(f"{self.at(line, column)}: {error}")


def column_letter(index: int) -> str:
    """A spreadsheet's name of the column at ``index`` (0: A, 25: Z, 26: AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


Record = tuple[int, int, Sequence[str | None] | None]
"""A record of a file, as :func:`check_records` reads it: its first line (or row), its last, and its
cells (as many as the header has; a blank one "" or None), or None for a blank line."""


@dataclass(frozen=True)
class Records:
    """What a file holds, as :func:`check_records` reads it: a CSV file's records or a sheet's rows.

    ``header`` is its first line or row as written; ``lines`` how many lines (or rows) it has,
    for the progress shown; ``records`` yields the others, from line ``header_end + 1``.
    """

    place: Place
    header: Sequence[str]
    records: Iterator[Record]
    lines: int
    header_end: int = 1


def _ignored(names: Iterable[str]) -> frozenset[str]:
    ignored = set()
    for name in names:
        if not name.strip():
            raise InputError("--ignore-column is empty: name the column to leave out")
        ignored.add(name.strip().lower())
    return frozenset(ignored)


def _recognise(header: list[str], place: Place, ignored: frozenset[str]) -> CsvKind:
    columns = set(header)
    for kind in CSV_KINDS:
        if set(kind.required) <= columns:
            known = sorted(c for c in ignored if c in kind.columns)
            if known:
                raise InputError(
                    f"--ignore-column {known[0]}: {known[0]} is a column of {kind.a_file}, which tracker imports; "
                    "only a column tracker does not know can be left out"
                )
            unknown = [c for c in header if c not in kind.columns and c not in ignored]
            if "" in unknown:
                raise InputError(
                    f"{place.at(1)}: column {place.column(header.index(''))} has no name in the header: "
                    "name it, or remove the column"
                )
            if unknown:
                raise InputError(
                    f"{place.at(1)}: unknown column {unknown[0]!r} in {kind.a_file} "
                    f"(its columns: {','.join(kind.columns)}); pass --ignore-column {_quoted(unknown[0])} "
                    "to import the file without it"
                )
            return kind
    closest = max(CSV_KINDS, key=lambda kind: len(columns & set(kind.required)))
    missing = [c for c in closest.required if c not in columns]
    hint = f"{closest.a_file} needs the column(s) {','.join(missing)}; " if columns & set(closest.required) else ""
    expected = "; ".join(f"{kind.name}: {','.join(kind.required)}" for kind in CSV_KINDS)
    raise InputError(f"{place.at(1)}: header not recognised: {hint}name the columns of one kind ({expected})")


def _quoted(name: str) -> str:
    """A column's name as it is typed on a command line."""
    return name if re.fullmatch(r"[\w.-]+", name) else repr(name)


def header_of(cells: Sequence[str]) -> list[str]:
    """A header's column names, as they are compared: trimmed, in lower case."""
    return [cell.strip().lower() for cell in cells]


def is_recognised(header: Sequence[str]) -> bool:
    """Whether ``header`` (see :func:`header_of`) has the required columns of a kind."""
    columns = set(header)
    return any(set(kind.required) <= columns for kind in CSV_KINDS)


def check_records(
    file: InputFile,
    records: Records,
    lookups: Lookups,
    *,
    progress: Progress = quietly,
    ignore: Iterable[str] = (),
) -> CsvPlan | CorrectionPlan:
    """Check every record, REFs included, as a CSV file's: the first bad one stops it.

    ``ignore`` names columns the kind does not have, to leave out rather than refuse.
    """
    place = records.place
    header = header_of(records.header)
    ignored = _ignored(ignore)
    repeated = sorted({c for c in header if header.count(c) > 1 and c not in ignored})
    if repeated:
        raise InputError(f"{place.at(1)}: the column {repeated[0]!r} appears twice")
    kind = _recognise(header, place, ignored)
    plan: CsvPlan | CorrectionPlan = (
        CorrectionPlan(file, place) if kind is CORRECTION else CsvPlan(file=file, kind=kind, place=place)
    )
    kept = [index for index, column in enumerate(header) if column not in ignored]
    columns = [header[index] for index in kept]
    pick = None if len(kept) == len(header) else _getter(kept)
    ended = records.header_end
    with progress(records.lines, f"Checking {file.name}") as advance:
        advance(ended)
        for line, end, cells in records.records:
            advance(end - ended)
            ended = end
            if cells is None:
                continue  # a blank line
            given = pick(cells) if pick else cells
            values = {column: cell if cell and cell.strip() else None for column, cell in zip(columns, given)}
            try:
                plan.add(values, line, lookups)
            except InputError as error:
                raise place.error(line, error) from None
        if records.lines > ended:
            advance(records.lines - ended)  # the last rows of a sheet were empty
    if not plan.rows:
        raise InputError(f"{place.whole}: has a header but no rows; nothing to import")
    return plan


def _getter(indexes: Sequence[int]) -> Callable[[Sequence[str | None]], Sequence[str | None]]:
    if len(indexes) == 1:
        index = indexes[0]
        return lambda cells: (cells[index],)
    return operator.itemgetter(*indexes)


# CSV files: their delimiter, their records -----------------------------------------------------------

DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs"}


def _delimiter(file: InputFile, place: Place) -> str:
    """The delimiter of a CSV file's columns, told by :class:`csv.Sniffer` from its header line:
    a comma, a semicolon or a tab. Refused when the header holds more than one."""
    end = file.text.find("\n")
    first = file.text[: None if end < 0 else end].rstrip("\r")
    present = [mark for mark in DELIMITERS if mark in first]
    if not present:
        return ","  # one column (no kind has one: its header is refused)
    try:
        sniffed: str | None = csv.Sniffer().sniff(first, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = present[0] if len(present) == 1 else None
    if sniffed is None or any(mark != sniffed for mark in present):  # a column name holds none of them
        marks = " and ".join(DELIMITERS[mark] for mark in present)
        raise InputError(
            f"{place.at(1)}: cannot tell how the columns are separated: the header holds {marks}; "
            "separate them with one of commas, semicolons or tabs, the same on every line"
        )
    return sniffed


def _csv_records(reader: Any, place: Place, width: int, delimiter: str) -> Iterator[Record]:
    ended = reader.line_num
    while True:
        line = ended + 1
        try:
            record = next(reader, None)
        except csv.Error as error:
            raise InputError(f"{place.at(line)}: malformed CSV: {error}") from None
        if record is None:
            return
        ended = reader.line_num
        if not record or (len(record) == 1 and not record[0].strip()):
            yield line, ended, None  # a blank line
            continue
        if len(record) != width:
            raise InputError(
                f"{place.at(line)}: {len(record)} fields, but the header has {width} columns "
                f"(quote a field that contains {_A_DELIMITER[delimiter]})"
            )
        yield line, ended, record


_A_DELIMITER = {",": "a comma", ";": "a semicolon", "\t": "a tab"}


def parse_csv(
    file: InputFile, lookups: Lookups, *, progress: Progress = quietly, ignore: Iterable[str] = ()
) -> CsvPlan | CorrectionPlan:
    """Parse and check every row of a CSV file, REFs included; the first bad row stops it.

    Its columns are separated by commas, semicolons or tabs (told from the header line).
    """
    place = Place(file.label)
    delimiter = _delimiter(file, place)
    reader = csv.reader(io.StringIO(file.text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise InputError(f"{place.at(1)}: malformed CSV: {error}") from None
    if not header or not any(cell.strip() for cell in header):
        raise InputError(f"{file.label}: is empty; its first line must be a header, e.g. {','.join(EVIDENCE.required)}")
    records = Records(
        place, header, _csv_records(reader, place, len(header), delimiter), file.text.count("\n"), reader.line_num
    )
    return check_records(file, records, lookups, progress=progress, ignore=ignore)


# Writing ----------------------------------------------------------------------------------------


@dataclass
class CsvPlan:
    """A checked CSV file: its rows and the ids they name, ready to write."""

    file: InputFile
    kind: CsvKind
    place: Place
    rows: list[CsvRow] = field(default_factory=list)
    targets: list[tuple[int, ...]] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)

    def add(self, values: dict[str, str | None], line: int, lookups: Lookups) -> None:
        """Check one data row (``values``: blank cells None) and what it names."""
        try:
            row = _check_row(self.kind, _as_checked(self.kind, values), line)
        except _CellError:
            raise
        except InputError as error:  # its message names its column (see CsvKind.labels)
            found = self.kind.named_column.search(str(error))
            raise _CellError(found and found[1], str(error), said=True) from None
        self.targets.append(lookups.targets(self.kind, row))
        self.parties.append(lookups.party(self.kind, row))
        self.rows.append(row)

    def apply(
        self, session: Session, *, actor: str, again: bool, dry_run: bool, progress: Progress = quietly
    ) -> ImportSummary:
        """Write every row with its event, as one import (or, in a dry run, count what would be)."""
        refuse_repeat(session, self.file, again)
        if not dry_run:  # what the rows name, again, in the write transaction
            self._resolve_again(session)
        ids = IdAllocator(session)
        chain = Chain(session, actor)
        stamp = chain.recorded_at
        if not dry_run:
            bulk_settings(session)
        writer = Writer(session, chain, dry_run=dry_run)
        batch_id = ids.next(_BATCHES)
        writer.add(
            IMPORT_ACTION,
            {_BATCHES: [{"id": batch_id, **_batch(self.file, len(self.rows), stamp, actor)}]},
            {"kind": self.kind.name},
        )
        build = _ROW_BUILDERS[self.kind.name]
        extra = {"import_batch": batch_id}
        with progress(len(self.rows), f"Importing {self.file.name}") as advance:
            try:
                for number, (row, target, party) in enumerate(
                    zip(self.rows, self.targets, self.parties, strict=True), start=1
                ):
                    action, rows = build(row.value, target, party, ids, stamp, actor)
                    writer.add(action, rows, extra)
                    if number % CHUNK_ROWS == 0:
                        advance(CHUNK_ROWS)
                writer.finish()
            except BaseException:
                writer.abandon()
                raise
            advance(len(self.rows) % CHUNK_ROWS)
        if not dry_run:
            ids.advance_sequences()
        added = {name: count for name, count in writer.counts.items() if name != _BATCHES.name}
        last = ids.last(self.kind.table)  # one row of this table per line, ids in a run
        return ImportSummary(
            self.place.whole,
            self.kind.name,
            len(self.rows),
            added,
            dry_run,
            None if dry_run else batch_id,
            None if dry_run or last is None else (last - len(self.rows) + 1, last),
        )

    def _resolve_again(self, session: Session) -> None:
        lookups = Lookups(session)
        resolved: dict[tuple[tuple[str, ...], tuple[int, ...]], tuple[int, ...]] = {}
        for number, row in enumerate(self.rows):
            key = (row.names, row.cited)
            target = resolved.get(key)
            if target is None:
                try:
                    target = resolved[key] = lookups.targets(self.kind, row)
                except InputError as error:
                    raise self.place.error(row.line, error) from None
            self.targets[number] = target
            try:
                self.parties[number] = lookups.party(self.kind, row)
            except InputError as error:
                raise self.place.error(row.line, error) from None


IMPORT_ACTION = "import.file"


def _batch(file: InputFile, rows: int, stamp: datetime, actor: str) -> dict[str, Any]:
    """The import record of a file (but its id)."""
    return {"sha256": file.sha256, "filename": file.name, "rows": rows, "recorded_at": stamp, "recorded_by": actor}


def _evidence_rows(
    item: services.EvidenceInput, recs: tuple[int, ...], party: Party, ids: IdAllocator, stamp: datetime, actor: str
) -> tuple[str, Rows]:
    evidence_id = ids.next(_EVIDENCE)
    return "evidence.add", {
        _EVIDENCE: [
            {
                "id": evidence_id,
                "title": item.title,
                "kind": item.kind.value,
                "observed_on": item.observed_on,
                "source_name": item.source_name,
                "url": item.url,
                "summary": item.summary,
                "reliability": item.reliability.value,
                "sensitivity": item.sensitivity.value,
                "recorded_at": stamp,
                "recorded_by": actor,
            }
        ],
        _EVIDENCE_LINKS: [
            {"evidence_id": evidence_id, "recommendation_id": rec_id, "stance": item.stance.value} for rec_id in recs
        ],
        **_entered_for(party, "evidence", evidence_id, ids),
    }


def _status_rows(
    item: services.StatusInput, recs: tuple[int, ...], party: Party, ids: IdAllocator, stamp: datetime, actor: str
) -> tuple[str, Rows]:
    update_id = ids.next(_STATUS_UPDATES)
    rows: dict[Table, list[dict[str, Any]]] = {
        _STATUS_UPDATES: [
            {
                "id": update_id,
                "recommendation_id": recs[0],
                "status": item.status.value,
                "effective_on": item.effective_on,
                "note": item.note,
                "recorded_at": stamp,
                "recorded_by": actor,
            }
        ],
        _CITED_EVIDENCE: [
            {"status_update_id": update_id, "evidence_id": evidence_id} for evidence_id in item.evidence_ids
        ],
        **_entered_for(party, "status_update", update_id, ids),
    }
    if party.assessor_id is not None:  # as status set records it: the default's too
        rows[_STATUS_ASSESSORS] = [{"status_update_id": update_id, "assessor_id": party.assessor_id}]
    return "status.set", rows


def _measurement_rows(
    item: services.MeasurementInput,
    indicator: tuple[int, ...],
    party: Party,
    ids: IdAllocator,
    stamp: datetime,
    actor: str,
) -> tuple[str, Rows]:
    measurement_id = ids.next(_MEASUREMENTS)
    return "measurement.record", {
        _MEASUREMENTS: [
            {
                "id": measurement_id,
                "indicator_id": indicator[0],
                "quarter_start": item.quarter.start,
                "value": item.value,
                "note": item.note,
                "evidence_id": item.evidence_id,
                "recorded_at": stamp,
                "recorded_by": actor,
            }
        ],
        **_entered_for(party, "measurement", measurement_id, ids),
    }


def _entered_for(party: Party, target: str, record_id: int, ids: IdAllocator) -> dict[Table, list[dict[str, Any]]]:
    """The row that says an entry was made on behalf of an agency, as the single commands write it."""
    if party.agency_id is None:
        return {}
    return {
        _ENTRIES_FOR: [
            {"id": ids.next(_ENTRIES_FOR), "target": target, "record_id": record_id, "agency_id": party.agency_id}
        ]
    }


# Each row is recorded under the action (and with the rows) its single command records.
_ROW_BUILDERS: dict[str, Callable[[Any, tuple[int, ...], Party, IdAllocator, datetime, str], tuple[str, Rows]]] = {
    EVIDENCE.name: _evidence_rows,
    STATUS.name: _status_rows,
    MEASUREMENT.name: _measurement_rows,
}


# Correction files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CorrectionRow:
    """One row of a correction file, its record found and its reason given.

    ``value`` is the cell as written (None when blank), but a due date (a date) and a
    position (a number): the service function that corrects the record checks it.
    """

    line: int
    kind: str  # the record's kind as ``tracker history`` spells it: evidence, rec, status...
    ident: str  # its id, REF or code
    field: str  # as the file names it: the command's option
    attribute: str  # the attribute it corrects (the service function's keyword)
    value: Any
    reason: str


@contextlib.contextmanager
def _column(name: str) -> Iterator[None]:
    """What goes wrong inside is said of the column ``name``."""
    try:
        yield
    except InputError as error:
        raise _CellError(name, str(error)) from None


def _check_correction(values: Mapping[str, str | None], line: int, session: Session) -> CorrectionRow:
    """The checks a row of a correction file needs before its service function sees it: the
    record exists (spelled as for ``tracker history RECORD``), the field is one of its
    correctable ones, a reason is given, ``withdrawn`` says yes."""
    with _column("record"):
        record = _name(values["record"], "record", max_length=models.NAME_LENGTH)
        queries.history_target(session, record)  # as `tracker history RECORD` finds it (NotFound if not stored)
    kind, _, ident = record.partition("/")
    if kind not in CORRECTABLE:
        with _column("record"):
            raise InputError(
                f"{kind}s are corrected with `tracker {kind} amend` or `tracker {kind} default`, not a file"
            )
    with _column("field"):
        name = _name(values["field"], "field", max_length=models.CODE_LENGTH)
        if name not in CORRECTABLE[kind]:
            raise InputError(f"{kind} has no field {name!r} to correct: give one of {', '.join(CORRECTABLE[kind])}")
    with _column("reason"):
        reason = validation.long_text(values["reason"], "reason")
    value: Any = values["value"]
    if name in VOCABULARY_COLUMNS and value is not None:
        value = value.lower()  # a vocabulary's value, in any case (see CsvKind.vocabularies)
    with _column("value"):
        if name == WITHDRAWN:
            if (value or "").strip() != "yes":
                raise InputError(f"{kind} withdrawn takes the value yes (to withdraw {record}), not {value!r}")
    return CorrectionRow(line, kind, ident.strip(), name, ATTRIBUTES.get(name, name), value, reason)


# A blank value is given as "": the service function clears what may be cleared (a summary, a
# url) and refuses it where a value is required; a blank due date or target is --no-due, --no-target.


def _correct_evidence(session: Session, row: CorrectionRow, actor: str) -> list[services.FieldChange]:
    fields = {row.attribute: row.value or ""}
    return services.amend_evidence(session, row.ident, fields, reason=row.reason, actor=actor)


def _correct_recommendation(session: Session, row: CorrectionRow, actor: str) -> list[services.FieldChange]:
    if row.attribute == "due_on":
        return services.amend_recommendation(
            session, row.ident, due_on=row.value, no_due=row.value is None, reason=row.reason, actor=actor
        )
    given: dict[str, Any] = {row.attribute: row.value or ""}
    return services.amend_recommendation(session, row.ident, **given, reason=row.reason, actor=actor)


def _correct_indicator(session: Session, row: CorrectionRow, actor: str) -> list[services.FieldChange]:
    if row.attribute == "target" and row.value is None:
        return services.amend_indicator(session, row.ident, no_target=True, reason=row.reason, actor=actor)
    given: dict[str, Any] = {row.attribute: row.value or ""}
    return services.amend_indicator(session, row.ident, **given, reason=row.reason, actor=actor)


def _correct_agency(session: Session, row: CorrectionRow, actor: str) -> list[services.FieldChange]:
    return services.amend_agency(session, row.ident, name=row.value or "", reason=row.reason, actor=actor)


def _withdraw_status(session: Session, row: CorrectionRow, actor: str) -> list[services.FieldChange]:
    return services.withdraw_status(session, row.ident, row.reason, actor=actor)


def _withdraw_measurement(session: Session, row: CorrectionRow, actor: str) -> list[services.FieldChange]:
    return services.withdraw_measurement(session, row.ident, row.reason, actor=actor)


# Each row is corrected by the service function of its single command, with the options it would be given.
_CORRECTORS: dict[str, Callable[[Session, CorrectionRow, str], list[services.FieldChange]]] = {
    "evidence": _correct_evidence,
    "rec": _correct_recommendation,
    "indicator": _correct_indicator,
    "agency": _correct_agency,
    "status": _withdraw_status,
    "measurement": _withdraw_measurement,
}


@dataclass
class CorrectionPlan:
    """A correction file whose rows' records, fields and reasons are checked, ready to write.

    Only writing a correction checks it all (its value, that it changes something, given
    the rows before it): a dry run writes it too, in a transaction it rolls back
    (see :func:`tracker.importing.import_file`).
    """

    file: InputFile
    place: Place
    rows: list[CorrectionRow] = field(default_factory=list)
    kind: CsvKind = CORRECTION

    def add(self, values: dict[str, str | None], line: int, lookups: Lookups) -> None:
        self.rows.append(_check_correction(values, line, lookups.session))

    def apply(
        self, session: Session, *, actor: str, again: bool, dry_run: bool, progress: Progress = quietly
    ) -> ImportSummary:
        """Record the file's import, then each row's correction with its own event, in order.

        A row its service function refuses stops it, naming the line: the caller rolls back.
        A dry run writes the same, for the caller to roll back. Either leaves PostgreSQL's id
        sequences as they were (see :func:`_give_back_ids`).
        """
        refuse_repeat(session, self.file, again)
        highest = {table: _highest(session, table.c.id) for table in (_BATCHES, _CORRECTIONS)}
        corrected_before = highest[_CORRECTIONS]
        events_before = _last_seq(session)
        chain = Chain(session, actor)
        batch = ImportBatch(**_batch(self.file, len(self.rows), chain.recorded_at, actor))
        session.add(batch)
        session.flush()
        chain.append(IMPORT_ACTION, {_BATCHES.name: [batch]}, kind=self.kind.name)
        session.flush()
        with progress(len(self.rows), f"Importing {self.file.name}") as advance:
            for row in self.rows:
                try:
                    _CORRECTORS[row.kind](session, row, actor)
                except InputError as error:
                    _give_back_ids(session, highest)
                    raise self.place.error(row.line, _CellError("value", str(error))) from None
                advance(1)
        added, first, last = session.execute(
            select(func.count(), func.min(Correction.id), func.max(Correction.id)).where(
                Correction.id > corrected_before
            )
        ).one()
        events = _last_seq(session) - events_before
        if dry_run:
            _give_back_ids(session, highest)
        return ImportSummary(
            self.place.whole,
            self.kind.name,
            len(self.rows),
            {Correction.__tablename__: added, Event.__tablename__: events},
            dry_run,
            None if dry_run else batch.id,
            None if dry_run or not added else (first, last),
        )


def _last_seq(session: Session) -> int:
    """The chain's last event's seq (as a team role that may not read every event knows it too)."""
    head = chain_head(session)
    return 0 if head is None else head.seq


def _highest(session: Session, column: Any) -> int:
    return session.scalar(select(func.max(column))) or 0


def _give_back_ids(session: Session, highest: Mapping[Table, int]) -> None:
    """PostgreSQL: each table's id sequence put back after its ``highest`` id, in a transaction
    about to be rolled back (``setval`` is not): a dry run or a refused file leaves the next
    ids as they were, as the other kinds' imports do (they count ids from the largest stored
    one, :class:`tracker.importing.bulk.IdAllocator`). Writers are serialised (see
    :meth:`Database.write`): no other took an id meanwhile. A team role that does not read
    every row may not move a sequence (:class:`tracker.importing.bulk.IdAllocator`): it leaves
    a gap, as any PostgreSQL insert rolled back does."""
    if session.get_bind().dialect.name != "postgresql" or not reads_everything(session):
        return
    for table, value in highest.items():
        session.execute(
            text("SELECT setval(pg_get_serial_sequence(:name, 'id'), :next, false)"),
            {"name": table.name, "next": value + 1},
        )
