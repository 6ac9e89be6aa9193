"""Bulk import and export.

``tracker import FILE`` takes a CSV file of one kind (evidence, status updates or
measurements, recognised by its header) or a JSON export. It is all rows or none: the
file is read, parsed and validated completely, with the same checks as the single
commands (:mod:`tracker.services`), then written in one transaction, each row with its
own event in the audit chain; the first bad row stops it, naming the file, the line and
the field, and nothing is written.

``tracker export`` writes everything, the audit chain included, as one JSON document in
a stable order. Importing it into an empty database restores that database exactly (ids,
``recorded_at``, ``recorded_by`` and the events themselves), so exporting again gives the
same bytes and ``tracker verify`` checks the restored rows against their original events.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import csv
import functools
import gc
import hashlib
import io
import itertools
import json
import math
import operator
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Date, Enum, Float, Integer, LargeBinary, String, Table, Text, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker import files, periods, queries, services, validation
from tracker.render import terminal
from tracker.audit import verify as integrity
from tracker.store import models
from tracker.clock import iso_utc
from tracker.store.database import SCHEMA_REVISION, Database
from tracker.errors import Conflict, InputError
from tracker.audit.verify import Chain, canonical, json_value
from tracker.store.models import DOMAIN_TABLES, Event, ImportBatch

MAX_CSV_BYTES = 200 * 1024 * 1024
MAX_EXPORT_BYTES = 1024 * 1024 * 1024
EXPORT_FORMAT = "tracker-export"
EXPORT_VERSION = 1
CHUNK_ROWS = 5_000
BULK_CACHE_KIB = 64 * 1024
# SQLite binds at most 32,766 values per statement (since 3.32); rows per bulk INSERT.
SQLITE_MAX_VARIABLES = 32_766
SQLITE_ROWS_PER_INSERT = 5_000

EVENT_TABLE: Table = Event.__table__
EXPORT_TABLES: list[Table] = [*DOMAIN_TABLES, EVENT_TABLE]


# Reading a file -----------------------------------------------------------------------------


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
    content = files.read_bounded(path, limit=limit, label=label, hint="; give a CSV or JSON file")
    decoded = _decode(content, label)
    is_json = suffix == ".json" or (suffix != ".csv" and decoded.lstrip().startswith("{"))
    if not is_json and len(content) > MAX_CSV_BYTES:
        raise InputError(f"{label}: {len(content)} bytes is over the {_mib(MAX_CSV_BYTES)} limit for a CSV file; "
                         "split it into smaller files")
    name = validation.text(path.name, "file name", max_length=models.NAME_LENGTH)
    return InputFile(label=label, name=name, sha256=hashlib.sha256(content).hexdigest(), text=decoded,
                     is_json=is_json)


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


# What an import did (or would do) -----------------------------------------------------------

_NOUNS = {
    "source": ("source", "sources"),
    "recommendation": ("recommendation", "recommendations"),
    "agency": ("agency", "agencies"),
    "recommendation_agency": ("agency assignment", "agency assignments"),
    "evidence": ("evidence row", "evidence rows"),
    "evidence_link": ("evidence link", "evidence links"),
    "evidence_retraction": ("retraction", "retractions"),
    "attachment": ("file", "files"),
    "evidence_attachment": ("file attachment", "file attachments"),
    "status_update": ("status update", "status updates"),
    "status_update_evidence": ("cited evidence link", "cited evidence links"),
    "indicator": ("indicator", "indicators"),
    "measurement": ("measurement", "measurements"),
    "import_batch": ("import record", "import records"),
    "event": ("event", "events"),
}


def _count(name: str, number: int) -> str:
    singular, plural = _NOUNS.get(name, (name, name))
    return f"{number} {singular if number == 1 else plural}"


@dataclass(frozen=True)
class ImportSummary:
    """What an import added (or, in a dry run, would add), table by table."""

    label: str
    kind: str
    rows: int
    added: Mapping[str, int]
    dry_run: bool
    batch_id: int | None = None
    ids: tuple[int, int] | None = None  # the first and last id of the rows of the file's kind

    def describe(self) -> str:
        added = ", ".join(_count(name, n) for name, n in self.added.items() if n)
        if self.kind == "export":
            if self.dry_run:
                return f"Would restore {self.label} into this empty database: {added} (dry run: nothing was written)"
            return f"Restored {self.label}: {added}"
        if self.dry_run:
            return (f"Would import {_count(self.kind, self.rows)} from {self.label}: {added} "
                    "(dry run: nothing was written)")
        ids = ""
        if self.ids is not None:
            first, last = self.ids
            one, many = _ID_NAMES[self.kind]
            ids = f" ({one} {first})" if first == last else f" ({many} {first} to {last})"
        return f"Imported {_count(self.kind, self.rows)} from {self.label} as import {self.batch_id}{ids}: {added}"


# The command ----------------------------------------------------------------------------------


def import_file(
    database: Database, path: str | Path, *, actor: str, dry_run: bool = False, again: bool = False
) -> ImportSummary:
    """Import a CSV file or restore an export: check everything, then write it all or nothing."""
    file = read_file(path)
    with _collector_paused():
        with database.reading() as session:
            if file.is_json:
                plan: CsvPlan | ExportPlan = parse_export(file)
            else:
                _refuse_repeat(session, file, again)
                plan = parse_csv(file, Lookups(session))
            if dry_run:
                return plan.apply(session, actor=actor, again=again, dry_run=True)
        return database.write(lambda session: plan.apply(session, actor=actor, again=again, dry_run=False))


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


def _refuse_repeat(session: Session, file: InputFile, again: bool) -> None:
    if again:
        return
    previous = session.scalars(
        select(ImportBatch).where(ImportBatch.sha256 == file.sha256).order_by(ImportBatch.id).limit(1)
    ).first()
    if previous is not None:
        raise Conflict(
            f"{file.label} was already imported on {previous.recorded_at:%Y-%m-%d} "
            f"(import {previous.id}, as {previous.filename!r}, {previous.rows} rows, by {previous.recorded_by}): "
            "pass --again to import the same content again"
        )


# CSV --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvKind:
    """One kind of CSV file, recognised by its required columns."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    @property
    def a_file(self) -> str:
        """``an evidence file``, ``a measurement file``: how messages name a file of this kind."""
        article = "an" if self.name[0] in "aeiou" else "a"
        return f"{article} {self.name} file"

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        """Errors name a field by its column."""
        return {column: column for column in self.columns}


EVIDENCE = CsvKind("evidence", ("rec", "title", "date", "kind"),
                   ("stance", "url", "summary", "source_name", "reliability", "sensitivity"))
STATUS = CsvKind("status update", ("rec", "status", "effective_on", "note"), ("evidence",))
MEASUREMENT = CsvKind("measurement", ("indicator", "quarter", "value"), ("note", "evidence"))
CSV_KINDS = (EVIDENCE, STATUS, MEASUREMENT)
LIST_SEPARATOR = ";"


@dataclass(frozen=True)
class CsvRow:
    """One checked data row: its line in the file, what it names, its checked values."""

    line: int
    names: tuple[str, ...]  # the REFs of an evidence or status row; the indicator code of a measurement
    value: Any  # services.EvidenceInput, StatusInput or MeasurementInput
    cited: tuple[int, ...]  # evidence ids it cites


class Lookups:
    """What rows name, read from the database once: REFs, indicator codes, evidence ids."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._refs: queries.RefIndex | None = None
        self._indicators: dict[str, int] | None = None
        self._evidence: set[int] | None = None
        self._retracted: dict[int, datetime] | None = None
        self._resolved: dict[tuple[str, ...], tuple[int, ...]] = {}

    def targets(self, kind: CsvKind, row: CsvRow) -> tuple[int, ...]:
        """The ids a row's names resolve to; unknown evidence it cites is refused too."""
        for evidence_id in row.cited:
            if evidence_id not in self.evidence:
                raise queries.unknown_evidence(evidence_id)
            if evidence_id in self.retracted:
                raise queries.retracted_evidence(evidence_id, self.retracted[evidence_id])
        if kind is MEASUREMENT:
            code = row.names[0]
            if code not in self.indicators:
                raise queries.unknown_indicator(code)
            return (self.indicators[code],)
        resolved = self._resolved.get(row.names)
        if resolved is None:  # many rows name the same REFs: each set resolved once
            resolved = self._resolved[row.names] = tuple(dict.fromkeys(self.refs.resolve(ref) for ref in row.names))
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


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(LIST_SEPARATOR) if part.strip()]


def _check_row(kind: CsvKind, row: Mapping[str, str | None], line: int) -> CsvRow:
    """A row checked by the same functions as the single commands."""
    labels = kind.labels
    if kind is EVIDENCE:
        evidence = services.check_evidence(
            recs=_split(row["rec"]), title=row["title"], observed_on=row["date"], kind=row["kind"],
            stance=row.get("stance"), url=row.get("url"), summary=row.get("summary"),
            source_name=row.get("source_name"), reliability=row.get("reliability"),
            sensitivity=row.get("sensitivity"), labels=labels,
        )
        return CsvRow(line, evidence.recs, evidence, ())
    if kind is STATUS:
        ref = validation.text(row["rec"], "rec", max_length=2 * models.CODE_LENGTH + 1)
        status = services.check_status(status=row["status"], effective_on=row["effective_on"], note=row["note"],
                                       evidence_ids=_split(row.get("evidence")), labels=labels)
        return CsvRow(line, (ref,), status, status.evidence_ids)
    code = validation.text(row["indicator"], "indicator", max_length=models.CODE_LENGTH)
    measurement = services.check_measurement(quarter=row["quarter"], value=row["value"], note=row.get("note"),
                                             evidence_id=row.get("evidence"), labels=labels)
    cited = () if measurement.evidence_id is None else (measurement.evidence_id,)
    return CsvRow(line, (code,), measurement, cited)


def _recognise(header: list[str], label: str) -> CsvKind:
    columns = set(header)
    for kind in CSV_KINDS:
        if set(kind.required) <= columns:
            unknown = [c for c in header if c not in kind.columns]
            if unknown:
                raise InputError(
                    f"{label} line 1: unknown column {unknown[0]!r} in {kind.a_file} "
                    f"(its columns: {','.join(kind.columns)})"
                )
            return kind
    closest = max(CSV_KINDS, key=lambda kind: len(columns & set(kind.required)))
    missing = [c for c in closest.required if c not in columns]
    hint = f"{closest.a_file} needs the column(s) {','.join(missing)}; " if columns & set(closest.required) else ""
    expected = "; ".join(f"{kind.name}: {','.join(kind.required)}" for kind in CSV_KINDS)
    raise InputError(f"{label} line 1: header not recognised: {hint}name the columns of one kind ({expected})")


def parse_csv(file: InputFile, lookups: Lookups) -> CsvPlan:
    """Parse and check every row of a CSV file, REFs included; the first bad row stops it."""
    reader = csv.reader(io.StringIO(file.text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise InputError(f"{file.label} line 1: malformed CSV: {error}") from None
    if not header or not any(cell.strip() for cell in header):
        raise InputError(f"{file.label}: is empty; its first line must be a header, e.g. {','.join(EVIDENCE.required)}")
    header = [cell.strip().lower() for cell in header]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise InputError(f"{file.label} line 1: the column {repeated[0]!r} appears twice")
    kind = _recognise(header, file.label)
    plan = CsvPlan(file=file, kind=kind)
    ended = reader.line_num
    with terminal.progress(file.text.count("\n"), f"Checking {file.name}") as advance:
        advance(ended)
        while True:
            line = ended + 1
            try:
                record = next(reader, None)
            except csv.Error as error:
                raise InputError(f"{file.label} line {line}: malformed CSV: {error}") from None
            if record is None:
                break
            advance(reader.line_num - ended)
            ended = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line
            if len(record) != len(header):
                raise InputError(
                    f"{file.label} line {line}: {len(record)} fields, but the header has {len(header)} columns "
                    "(quote a field that contains a comma)"
                )
            values = {column: cell if cell.strip() else None for column, cell in zip(header, record)}
            try:
                row = _check_row(kind, values, line)
                plan.targets.append(lookups.targets(kind, row))
            except InputError as error:
                raise InputError(f"{file.label} line {line}: {error}") from None
            plan.rows.append(row)
    if not plan.rows:
        raise InputError(f"{file.label}: has a header but no rows; nothing to import")
    return plan


@dataclass
class CsvPlan:
    """A checked CSV file: its rows and the ids they name, ready to write."""

    file: InputFile
    kind: CsvKind
    rows: list[CsvRow] = field(default_factory=list)
    targets: list[tuple[int, ...]] = field(default_factory=list)

    def apply(self, session: Session, *, actor: str, again: bool, dry_run: bool) -> ImportSummary:
        """Write every row with its event, as one import (or, in a dry run, count what would be)."""
        _refuse_repeat(session, self.file, again)
        if not dry_run:  # what the rows name, again, in the write transaction
            lookups = Lookups(session)
            resolved: dict[tuple[tuple[str, ...], tuple[int, ...]], tuple[int, ...]] = {}
            for number, row in enumerate(self.rows):
                key = (row.names, row.cited)
                target = resolved.get(key)
                if target is None:
                    try:
                        target = resolved[key] = lookups.targets(self.kind, row)
                    except InputError as error:
                        raise InputError(f"{self.file.label} line {row.line}: {error}") from None
                self.targets[number] = target
        ids = _IdAllocator(session)
        chain = Chain(session, actor)
        stamp = chain.recorded_at
        if not dry_run:
            _bulk_settings(session)
        writer = _Writer(session, chain, dry_run=dry_run)
        batch_id = ids.next(ImportBatch.__table__)
        writer.add("import.file", {ImportBatch.__table__: [{
            "id": batch_id, "sha256": self.file.sha256, "filename": self.file.name, "rows": len(self.rows),
            "recorded_at": stamp, "recorded_by": actor,
        }]}, {"kind": self.kind.name})
        build = _ROW_BUILDERS[self.kind.name]
        extra = {"import_batch": batch_id}
        with terminal.progress(len(self.rows), f"Importing {self.file.name}") as advance:
            try:
                for number, (row, target) in enumerate(zip(self.rows, self.targets, strict=True), start=1):
                    action, rows = build(row.value, target, ids, stamp, actor)
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
        added = {name: count for name, count in writer.counts.items() if name != "import_batch"}
        last = ids.last(_ROW_TABLES[self.kind.name])  # one row of this table per line, ids in a run
        return ImportSummary(self.file.label, self.kind.name, len(self.rows), added, dry_run,
                             None if dry_run else batch_id,
                             None if dry_run or last is None else (last - len(self.rows) + 1, last))


Rows = dict[Table, list[dict[str, Any]]]


def _evidence_rows(item: services.EvidenceInput, recs: tuple[int, ...], ids: _IdAllocator,
                   stamp: datetime, actor: str) -> tuple[str, Rows]:
    evidence_id = ids.next(models.Evidence.__table__)
    return "evidence.add", {
        models.Evidence.__table__: [{
            "id": evidence_id, "title": item.title, "kind": item.kind.value, "observed_on": item.observed_on,
            "source_name": item.source_name, "url": item.url, "summary": item.summary,
            "reliability": item.reliability.value, "sensitivity": item.sensitivity.value,
            "recorded_at": stamp, "recorded_by": actor,
        }],
        models.EvidenceLink.__table__: [
            {"evidence_id": evidence_id, "recommendation_id": rec_id, "stance": item.stance.value} for rec_id in recs
        ],
    }


def _status_rows(item: services.StatusInput, recs: tuple[int, ...], ids: _IdAllocator,
                 stamp: datetime, actor: str) -> tuple[str, Rows]:
    update_id = ids.next(models.StatusUpdate.__table__)
    return "status.set", {
        models.StatusUpdate.__table__: [{
            "id": update_id, "recommendation_id": recs[0], "status": item.status.value,
            "effective_on": item.effective_on, "note": item.note, "recorded_at": stamp, "recorded_by": actor,
        }],
        models.StatusUpdateEvidence.__table__: [
            {"status_update_id": update_id, "evidence_id": evidence_id} for evidence_id in item.evidence_ids
        ],
    }


def _measurement_rows(item: services.MeasurementInput, indicator: tuple[int, ...], ids: _IdAllocator,
                      stamp: datetime, actor: str) -> tuple[str, Rows]:
    return "measurement.record", {
        models.Measurement.__table__: [{
            "id": ids.next(models.Measurement.__table__), "indicator_id": indicator[0],
            "quarter_start": item.quarter.start, "value": item.value, "note": item.note,
            "evidence_id": item.evidence_id, "recorded_at": stamp, "recorded_by": actor,
        }],
    }


# Each row is recorded under the action (and with the rows) its single command records.
_ROW_BUILDERS = {EVIDENCE.name: _evidence_rows, STATUS.name: _status_rows, MEASUREMENT.name: _measurement_rows}
# The table that gets one row per line of each kind of file, and what its ids are called.
_ROW_TABLES = {EVIDENCE.name: models.Evidence.__table__, STATUS.name: models.StatusUpdate.__table__,
               MEASUREMENT.name: models.Measurement.__table__}
_ID_NAMES = {EVIDENCE.name: ("evidence", "evidence"), STATUS.name: ("status update", "status updates"),
             MEASUREMENT.name: ("measurement", "measurements")}


# Writing rows in bulk ---------------------------------------------------------------------------


class _IdAllocator:
    """Ids for new rows, counted on from the largest stored one.

    Safe because writers are serialised (see :meth:`Database.write`); on PostgreSQL the
    id sequences are moved past the rows written afterwards.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._next: dict[Table, int] = {}

    def next(self, table: Table) -> int:
        if table not in self._next:
            self._next[table] = (self.session.scalar(select(func.max(table.c.id))) or 0) + 1
        value = self._next[table]
        self._next[table] = value + 1
        return value

    def last(self, table: Table) -> int | None:
        """The last id given out for ``table``, if any."""
        return self._next[table] - 1 if table in self._next else None

    def advance_sequences(self) -> None:
        _advance_sequences(self.session, self._next)


def _advance_sequences(session: Session, tables: Iterable[Table]) -> None:
    """PostgreSQL: move each table's id sequence past its largest id (rows were inserted with ids)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(
            text(f"SELECT setval(pg_get_serial_sequence(:name, 'id'), MAX(id)) FROM {table.name} HAVING MAX(id) IS NOT NULL"),
            {"name": table.name},
        )


def _bulk_settings(session: Session) -> None:
    """SQLite: a page cache (up to 64 MiB, for this connection) that holds the indexes a
    large import updates, rather than spilling and re-reading their pages (the default
    is 2 MiB); it makes inserting 100,000 rows with their events about twice as quick."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(f"PRAGMA cache_size = -{BULK_CACHE_KIB}"))


def _insert_chunk(session: Session, table: Table, rows: list[Any]) -> None:
    """One bulk insert, in the session's transaction.

    ``rows`` are dicts of column values (a Core ``insert()``, executemany), or, from the
    CSV writer, tuples in the table's column order already in the form the database
    stores (see :class:`_Codec`): those go straight to the driver, as one
    ``executemany`` on SQLite and one ``COPY`` on PostgreSQL.
    """
    if not rows:
        return
    if not isinstance(rows[0], tuple):
        session.execute(insert(table), rows)
        return
    connection = session.connection()
    driver = connection.connection.driver_connection
    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(quote(column.name) for column in table.columns)
    if connection.dialect.name == "sqlite":
        # Many rows per statement: their values are bound in one go and SQLite inserts them in
        # one step, outside Python's interpreter lock (see _Inserter).
        width = len(table.columns)
        per_statement = max(1, min(SQLITE_ROWS_PER_INSERT, SQLITE_MAX_VARIABLES // width))
        marks = "(" + ", ".join("?" * width) + ")"
        for start in range(0, len(rows), per_statement):
            part = rows[start:start + per_statement]
            driver.execute(f"INSERT INTO {quote(table.name)} ({columns}) VALUES {', '.join([marks] * len(part))}",
                           list(itertools.chain.from_iterable(part)))
        return
    with driver.cursor() as cursor, cursor.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _json_float(value: float) -> str:
    if value != value or value in (math.inf, -math.inf):
        raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
    return float.__repr__(value)


# How canonical JSON (:func:`tracker.audit.verify.canonical`) spells each kind of value.
_JSON_SPELLING: dict[type, Callable[[Any], str]] = {
    str: json.encoder.encode_basestring,
    int: int.__repr__,
    float: _json_float,
    bool: lambda value: "true" if value else "false",
    type(None): lambda _value: "null",
    date: lambda value: f'"{value.isoformat()}"',
    datetime: lambda value: f'"{iso_utc(value)}"',
}


class _Codec:
    """One table's rows for the bulk writer: the tuple the database stores, the JSON its event records.

    Both are made by hand rather than by SQLAlchemy and ``json.dumps`` per row, which
    is most of an import's time otherwise: stored values go through the column type's
    own bind processor (memoised: dates, timestamps and vocabulary values repeat), and
    the record is the canonical JSON of :func:`tracker.audit.verify.row_record`, byte for
    byte (a test compares them).
    """

    def __init__(self, table: Table, dialect) -> None:
        self.table = table
        self.columns = tuple(column.name for column in table.columns)
        self.values = operator.itemgetter(*self.columns)
        processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in table.columns]
        self.converted = [(index, process, {}) for index, process in enumerate(processors) if process is not None]
        self.record = _record_function(table)

    def stored(self, values: tuple) -> tuple:
        if not self.converted:
            return values
        row = list(values)
        for index, process, memo in self.converted:
            value = row[index]
            try:
                row[index] = memo[value]
            except KeyError:
                row[index] = converted = process(value)
                if len(memo) < 10_000:
                    memo[value] = converted
        return tuple(row)


_SPELLED_TEMPORAL: dict[Any, str] = {}


def _spell(value: Any) -> str:
    """Any value as canonical JSON spells it (dates and instants memoised: they repeat)."""
    kind = type(value)
    if kind is date or kind is datetime:
        text_value = _SPELLED_TEMPORAL.get(value)
        if text_value is None:
            text_value = _JSON_SPELLING[kind](value)
            if len(_SPELLED_TEMPORAL) < 10_000:
                _SPELLED_TEMPORAL[value] = text_value
        return text_value
    spell = _JSON_SPELLING.get(kind)
    return spell(value) if spell is not None else canonical(json_value(value))


@functools.cache
def _record_function(table: Table) -> Callable[[tuple], str]:
    """A function of a row's values (in column order) that writes the canonical JSON its event
    records (:func:`tracker.audit.verify.row_record`): one f-string, keys sorted, each value
    spelled by the quickest route for its column's type, any other value by :func:`_spell`."""
    fields = []
    for name, index in sorted((c.name, i) for i, c in enumerate(table.columns) if c.name != "content"):
        value = f"v[{index}]"
        kind = table.columns[name].type
        if isinstance(kind, (String, Enum)):
            spelled = f"(quote({value}) if {value}.__class__ is str else spell({value}))"
        elif isinstance(kind, Integer) and not isinstance(kind, Boolean):
            spelled = f"(int_repr({value}) if {value}.__class__ is int else spell({value}))"
        else:
            spelled = f"spell({value})"
        fields.append(f'"{name}":{{{spelled}}}')
    source = "def record(v):\n    return f'{{" + ",".join(fields) + "}}'\n"
    namespace = {"quote": json.encoder.encode_basestring, "int_repr": int.__repr__, "spell": _spell}
    exec(compile(source, f"<record of {table.name}>", "exec"), namespace)
    return namespace["record"]


class _Writer:
    """Collects rows and their events, inserting them in chunks (parents first)."""

    def __init__(self, session: Session, chain: Chain, *, dry_run: bool) -> None:
        self.session = session
        self.chain = chain
        self.dry_run = dry_run
        self.dialect = session.get_bind().dialect
        self.codecs: dict[Table, _Codec] = {}
        self.pending: dict[Table, list[tuple]] = defaultdict(list)
        self.events: list[tuple] = []
        self.counts: dict[str, int] = {table.name: 0 for table in EXPORT_TABLES}
        self.inserter: _Inserter | None = None
        self._frames: dict[int, tuple[Mapping[str, Any], str, str]] = {}
        event_codec = self._codec(EVENT_TABLE)
        self.stored_stamp = event_codec.stored((0, chain.recorded_at, None, None, None, None, None))[1]

    def _codec(self, table: Table) -> _Codec:
        codec = self.codecs.get(table)
        if codec is None:
            codec = self.codecs[table] = _Codec(table, self.dialect)
        return codec

    def _frame(self, extra: Mapping[str, Any]) -> tuple[str, str]:
        """The payload's text before and after its rows: ``extra``'s keys and ``"rows"``, sorted."""
        frame = self._frames.get(id(extra))
        if frame is None or frame[0] is not extra:
            keys = sorted([*extra, "rows"])
            parts = [f'{json.encoder.encode_basestring(k)}:{canonical(extra[k])}' if k != "rows" else "\0"
                     for k in keys]
            head, tail = ("{" + ",".join(parts) + "}").split("\0")
            frame = self._frames[id(extra)] = (extra, head + '"rows":{', "}" + tail)
        return frame[1], frame[2]

    def add(self, action: str, rows: Mapping[Table, list[dict[str, Any]]], extra: Mapping[str, Any]) -> None:
        """Rows written by one event, recorded as the single commands record them."""
        head, tail = self._frame(extra)
        tables = []
        for table in sorted(rows, key=lambda t: t.name):
            items = rows[table]
            if not items:
                continue
            codec = self._codec(table)
            pending = self.pending[table]
            records = []
            for item in items:
                values = codec.values(item)
                records.append(codec.record(values))
                pending.append(codec.stored(values))
            self.counts[table.name] += len(items)
            tables.append(f'"{table.name}":[{",".join(records)}]')
        payload = head + ",".join(tables) + tail
        chain = self.chain
        prev_hash = chain.hash
        digest = chain.link(action, payload)
        self.events.append((chain.seq, self.stored_stamp, chain.actor, action, payload, prev_hash, digest))
        self.counts["event"] += 1
        if len(self.events) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        """Hand the rows collected so far to the inserting thread (see :class:`_Inserter`)."""
        if not self.dry_run:
            chunk = [(table, self.pending[table]) for table in DOMAIN_TABLES if self.pending.get(table)]
            if self.events:
                chunk.append((EVENT_TABLE, self.events))
            if chunk:
                if self.inserter is None:
                    self.inserter = _Inserter(self.session)
                self.inserter.put(chunk)
        self.pending = defaultdict(list)
        self.events = []

    def finish(self) -> None:
        """Insert what is left and wait until every row is in (re-raising what inserting raised)."""
        self.flush()
        if self.inserter is not None:
            self.inserter.close()

    def abandon(self) -> None:
        """Stop inserting (the transaction is about to be rolled back)."""
        if self.inserter is not None:
            self.inserter.close(discard=True)


class _Inserter:
    """Inserts chunks of rows in a thread of its own, in order, while the caller builds the next.

    The database does most of an insert's work outside Python's interpreter lock, so the
    two overlap; the caller does not use the session meanwhile. At most two chunks wait.
    """

    def __init__(self, session: Session) -> None:
        import queue
        import threading

        self.session = session
        self.chunks: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="tracker-import-insert", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            chunk = self.chunks.get()
            if chunk is None:
                return
            if self.error is not None:
                continue
            try:
                for table, rows in chunk:
                    _insert_chunk(self.session, table, rows)
            except BaseException as error:  # handed to the caller's thread
                self.error = error

    def put(self, chunk: list) -> None:
        self._raise()
        self.chunks.put(chunk)

    def close(self, *, discard: bool = False) -> None:
        if discard and self.error is None:
            self.error = InputError("import abandoned")
        self.chunks.put(None)
        self.thread.join()
        if not discard:
            self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


# Export -----------------------------------------------------------------------------------------


def export(database: Database, *, with_files: bool = False) -> bytes:
    """Everything, the audit chain included, as one JSON document: a stable order, one row a line."""
    with database.reading() as session:  # one snapshot for every table, even while others write
        lines = [
            "{",
            f'  "format": "{EXPORT_FORMAT}",',
            f'  "version": {EXPORT_VERSION},',
            f'  "schema_revision": "{SCHEMA_REVISION}",',
            f'  "files": {"true" if with_files else "false"},',
            '  "tables": {',
        ]
        for number, table in enumerate(EXPORT_TABLES):
            records = _table_records(session, table, with_files=with_files)
            comma = "," if number < len(EXPORT_TABLES) - 1 else ""
            if not records:
                lines.append(f'    "{table.name}": []{comma}')
                continue
            lines.append(f'    "{table.name}": [')
            lines.extend(f"      {record}," for record in records[:-1])
            lines.append(f"      {records[-1]}")
            lines.append(f"    ]{comma}")
        lines += ["  }", "}", ""]
    return "\n".join(lines).encode("utf-8")


def _table_records(session: Session, table: Table, *, with_files: bool) -> list[str]:
    """A table's rows as canonical JSON, by primary key."""
    columns = [c for c in table.columns if c.name != "content" or with_files]
    keys = [c.name for c in table.primary_key.columns]
    rows = []
    for row in session.execute(select(*columns).execution_options(yield_per=10_000)):
        record = {c.name: json_value(row._mapping[c.name]) for c in columns if c.name != "content"}
        if "content" in row._mapping:
            record["content"] = base64.b64encode(row._mapping["content"]).decode("ascii")
        rows.append((tuple(row._mapping[k] for k in keys), canonical(record)))
    rows.sort(key=lambda pair: pair[0])
    return [record for _key, record in rows]


# Restoring an export ----------------------------------------------------------------------------


@dataclass
class ExportPlan:
    """A checked export document, ready to be restored into an empty database."""

    file: InputFile
    files: bool
    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)
    last_hash: str | None = None

    def apply(self, session: Session, *, actor: str, again: bool, dry_run: bool) -> ImportSummary:
        self._refuse_non_empty(session)
        added = {table.name: len(self.rows[table]) for table in EXPORT_TABLES}
        if not dry_run:
            total = sum(added.values())
            _bulk_settings(session)
            with terminal.progress(total, f"Restoring {self.file.name}") as advance:
                try:
                    for table in EXPORT_TABLES:
                        for start in range(0, len(self.rows[table]), CHUNK_ROWS):
                            chunk = self.rows[table][start : start + CHUNK_ROWS]
                            _insert_chunk(session, table, chunk)
                            advance(len(chunk))
                    session.flush()
                except IntegrityError as error:
                    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
                    raise InputError(f"{self.file.label}: its rows do not fit together ({reason}); "
                                     "nothing was restored") from None
            _advance_sequences(session, [t for t in DOMAIN_TABLES if "id" in t.c and t.c.id.primary_key])
            self._verify(session)
        return ImportSummary(self.file.label, "export", sum(added.values()), added, dry_run)

    def _refuse_non_empty(self, session: Session) -> None:
        for table in EXPORT_TABLES:
            if session.execute(select(1).select_from(table).limit(1)).first() is not None:
                last = integrity.last_event(session)
                if last is not None and last.hash == self.last_hash:
                    raise Conflict(f"{self.file.label} is already restored here: this database ends with "
                                   "the same event as the export")
                raise Conflict(
                    f"{self.file.label} is an export: it restores into an empty database only, and this one "
                    f"has data (table {table.name}). Create an empty one with `tracker --db NEW init "
                    "--no-catalog` and import it there; to add rows to this database, import CSV files"
                )

    def _verify(self, session: Session) -> None:
        """The restored rows must be exactly those the restored events recorded."""
        result = integrity.verify(session)
        if not result.ok:
            raise InputError(f"{self.file.label}: does not verify, nothing was restored: "
                             f"{result.findings[0].describe()}")


def parse_export(file: InputFile) -> ExportPlan:
    """Parse and check an export document completely, without a database."""
    try:
        document = json.loads(file.text)
    except json.JSONDecodeError as error:
        raise InputError(f"{file.label} line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}") from None
    except RecursionError:
        raise InputError(f"{file.label}: invalid JSON: nested too deeply") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise InputError(f"{file.label}: not a tracker export (no \"format\": \"{EXPORT_FORMAT}\"); "
                         "import CSV files of evidence, status updates or measurements, or a file made by `tracker export`")
    allowed = {"format", "version", "schema_revision", "files", "tables"}
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise InputError(f"{file.label}: unknown key {unknown[0]!r} at the top level (allowed: {', '.join(sorted(allowed))})")
    if document.get("version") != EXPORT_VERSION:
        raise InputError(f"{file.label}: export format version {document.get('version')!r}; this tracker reads version {EXPORT_VERSION}")
    if document.get("schema_revision") != SCHEMA_REVISION:
        raise InputError(f"{file.label}: exported from schema revision {document.get('schema_revision')!r}; this "
                         f"tracker needs {SCHEMA_REVISION}: export it again with the same tracker version")
    files = document.get("files")
    if not isinstance(files, bool):
        raise InputError(f"{file.label}: \"files\" must be true or false")
    tables = document.get("tables")
    if not isinstance(tables, dict):
        raise InputError(f"{file.label}: \"tables\" must be an object of tables")
    known = {table.name: table for table in EXPORT_TABLES}
    unknown = sorted(set(tables) - set(known))
    if unknown:
        raise InputError(f"{file.label}: unknown table {unknown[0]!r}")
    plan = ExportPlan(file=file, files=files)
    for table in EXPORT_TABLES:
        records = tables.get(table.name, [])
        if not isinstance(records, list):
            raise InputError(f"{file.label}: table {table.name!r} must be a list of rows")
        plan.rows[table] = _check_records(file, table, records, files=files)
    if plan.rows[models.Attachment.__table__] and not files:
        raise InputError(f"{file.label}: it lists attachments without their content; export with "
                         "`tracker export --with-files` to make a file that can be restored")
    events = plan.rows[EVENT_TABLE]
    plan.last_hash = events[-1]["hash"] if events else None
    return plan


def _check_records(file: InputFile, table: Table, records: list[Any], *, files: bool) -> list[dict[str, Any]]:
    readers = {column.name: _value_reader(table, column) for column in table.columns}
    if table.name == "attachment" and not files:
        readers.pop("content")
    expected = set(readers)
    rows = []
    for number, record in enumerate(records, start=1):
        where = f"{file.label}: {table.name} row {number}"
        if not isinstance(record, dict):
            raise InputError(f"{where}: expected an object")
        keys = [c.name for c in table.primary_key.columns if c.name in record]
        if keys:
            where += " (" + ", ".join(f"{k} {record[k]}" for k in keys) + ")"
        unknown = sorted(set(record) - expected)
        if unknown:
            raise InputError(f"{where}: unknown field {unknown[0]!r}")
        missing = [name for name in readers if name not in record]
        if missing:
            raise InputError(f"{where}: field {missing[0]!r} is missing")
        row = {}
        for name, read in readers.items():
            try:
                row[name] = read(record[name])
            except InputError as error:
                raise InputError(f"{where}: field {name!r}: {error}") from None
        rows.append(row)
    return rows


def _value_reader(table: Table, column) -> Callable[[Any], Any]:
    """How one column's JSON value is checked and turned into what the database stores."""
    name = column.name
    kind = column.type

    def nullable(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def check(value: Any) -> Any:
            if value is None:
                if column.nullable:
                    return None
                raise InputError(f"{name} is required")
            return read(value)
        return check

    if isinstance(kind, models.UTCDateTime):
        return nullable(lambda value: _instant(value, name))
    if isinstance(kind, Enum):
        return nullable(lambda value: validation.choice(_string(value, name), kind.enum_class, name).value)
    if isinstance(kind, Date):
        future = name == "due_on"
        return nullable(lambda value: periods.parse_date(_string(value, name), field=name, allow_future=future))
    if isinstance(kind, Boolean):
        return nullable(lambda value: _typed(value, bool, name, "true or false"))
    if isinstance(kind, Float):
        return nullable(lambda value: _number(value, name))
    if isinstance(kind, Integer):
        return nullable(lambda value: _integer(value, name))
    if isinstance(kind, LargeBinary):
        return nullable(lambda value: _base64(value, name))
    if table is EVENT_TABLE or name == "payload":
        # Verified against their hashes after restoring; any text the chain recorded.
        return nullable(lambda value: _string(value, name))
    if isinstance(kind, Text):
        return nullable(lambda value: _exact(validation.long_text(_string(value, name), name, required=not column.nullable), value, name))
    if isinstance(kind, String):
        return nullable(lambda value: _exact(validation.text(_string(value, name), name, max_length=kind.length,
                                                             required=not column.nullable), value, name))
    raise AssertionError(f"no reader for {table.name}.{name} ({kind!r})")


def _string(value: Any, name: str) -> str:
    _typed(value, str, name, "a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # JSON can spell a lone surrogate ("\\udcff"); no database stores one
        raise InputError(f"{name} is not valid Unicode (a lone surrogate)") from None
    return value


def _typed(value: Any, expected: type, name: str, what: str) -> Any:
    if type(value) is not expected:
        raise InputError(f"{name} must be {what}, not {json.dumps(value)[:40]}")
    return value


def _integer(value: Any, name: str) -> int:
    return _typed(value, int, name, "a whole number")


def _number(value: Any, name: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, not {json.dumps(value)[:40]}")
    return float(value)


def _exact(clean: str | None, value: str, name: str) -> str:
    if clean != value:
        raise InputError(f"{name} {value[:40]!r} is not as tracker stores it (surrounding spaces or blank)")
    return value


def _instant(value: Any, name: str) -> datetime:
    text_value = _string(value, name)
    try:
        moment = datetime.strptime(text_value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        moment = None
    if moment is None or iso_utc(moment) != text_value:
        raise InputError(f"invalid {name} {text_value!r}: write it as 2019-10-05T12:00:00.000000Z")
    return moment


def _base64(value: Any, name: str) -> bytes:
    try:
        return base64.b64decode(_string(value, name), validate=True)
    except ValueError:
        raise InputError(f"{name} is not valid base64") from None
