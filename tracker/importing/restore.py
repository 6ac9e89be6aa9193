"""Restoring an export into an empty database: ids, ``recorded_at``, ``recorded_by`` and
the events themselves, exactly, so that exporting again gives the same bytes and
``tracker verify`` checks the restored rows against their original events.

The document is read as it is restored, a piece at a time (:class:`_Document`), whatever
its size and however its JSON is laid out (``tracker export`` writes one row a line):
every value is checked as its column stores it, the rows are inserted in chunks, and the
restored database must then verify. Any fault rolls the whole restore back: nothing is
restored. :func:`parse_export` checks a document the same way without a database.
"""

from __future__ import annotations

import base64
import codecs
import json
import math
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import IO, Any, cast

from sqlalchemy import Boolean, Column, Date, Enum, Float, Integer, LargeBinary, String, Table, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker import clock, periods, validation
from tracker.audit.canonical import INSTANT_FORMAT, iso_utc
from tracker.audit.chain import last_event
from tracker.audit.verify import verify
from tracker.errors import Conflict, InputError
from tracker.files import open_regular
from tracker.importing.bulk import CHUNK_ROWS, advance_sequences, bulk_settings, insert_chunk
from tracker.importing.export import EVENT_TABLE, EXPORT_FORMAT, EXPORT_TABLES, EXPORT_VERSION
from tracker.importing.files import InputFile
from tracker.importing.summary import ImportSummary
from tracker.progress import Progress, quietly
from tracker.store import models
from tracker.store.database import SCHEMA_REVISION
from tracker.store.models import DOMAIN_TABLES

_ATTACHMENTS = cast(Table, models.Attachment.__table__)
_HEADER_KEYS = ("format", "version", "schema_revision", "files")


@dataclass
class ExportPlan:
    """An export document to restore into an empty database (its rows are read as restored)."""

    file: InputFile
    counts: dict[str, int] = field(default_factory=dict)  # rows of each table, once read
    last_hash: str | None = None  # the last event's, once read

    def apply(
        self, session: Session, *, actor: str, again: bool, dry_run: bool, progress: Progress = quietly
    ) -> ImportSummary:
        """Insert every row of the export as it was (``actor`` and ``again`` do not apply), then
        verify; a dry run reads and checks every row, and inserts none."""
        self._refuse_non_empty(session)
        if not dry_run:
            bulk_settings(session)
        label = f"Checking {self.file.name}" if dry_run else f"Restoring {self.file.name}"
        with progress(self.file.size, label) as advance:
            try:
                self._restore(None if dry_run else session, advance)
            except IntegrityError as error:
                reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
                raise InputError(
                    f"{self.file.label}: its rows do not fit together ({reason}); nothing was restored"
                ) from None
        if not dry_run:
            advance_sequences(session, [t for t in DOMAIN_TABLES if "id" in t.c and t.c.id.primary_key])
            self._verify(session, progress)
        added = {table.name: self.counts.get(table.name, 0) for table in EXPORT_TABLES}
        return ImportSummary(self.file.label, "export", sum(added.values()), added, dry_run)

    def _restore(self, session: Session | None, advance: Callable[[int], None]) -> None:
        """One pass over the document: each table's rows checked, then (into ``session``, if
        given) inserted a chunk at a time."""
        self.counts = {}
        for table, rows in _read(self.file, advance):
            count = 0
            for chunk in rows:
                if session is not None:
                    insert_chunk(session, table, chunk)
                count += len(chunk)
                if table is EVENT_TABLE and chunk:
                    self.last_hash = chunk[-1]["hash"]
            self.counts[table.name] = count
        if session is not None:
            session.flush()

    def _refuse_non_empty(self, session: Session) -> None:
        for table in EXPORT_TABLES:
            if session.execute(select(1).select_from(table).limit(1)).first() is not None:
                last = last_event(session)
                if last is not None and last.hash == _last_hash(self.file):
                    raise Conflict(
                        f"{self.file.label} is already restored here: this database ends with "
                        "the same event as the export"
                    )
                raise Conflict(
                    f"{self.file.label} is an export: it restores into an empty database only, and this one "
                    f"has data (table {table.name}). Create an empty one with `tracker --db NEW init "
                    "--no-catalog` and import it there; to add rows to this database, import CSV files"
                )

    def _verify(self, session: Session, progress: Progress) -> None:
        """The restored rows must be exactly those the restored events recorded."""
        result = verify(session, progress=progress)
        if not result.ok:
            raise InputError(
                f"{self.file.label}: does not verify, nothing was restored: {result.findings[0].describe()}"
            )


def restore_plan(file: InputFile) -> ExportPlan:
    """The plan to restore the export ``file``, its header checked (a tracker export of this
    version and schema); its rows are read and checked as they are restored."""
    tables = _read(file, lambda _read: None)
    try:
        next(tables, None)  # (the header is checked before the first table)
    finally:
        tables.close()
    return ExportPlan(file=file)


def parse_export(file: InputFile) -> ExportPlan:
    """Read and check an export document completely, without a database: its counts and last hash."""
    plan = ExportPlan(file=file)
    plan._restore(None, lambda _read: None)
    return plan


def _last_hash(file: InputFile) -> str | None:
    """The last event's hash in the export (read through; only to tell a restore done already)."""
    try:
        return parse_export(file).last_hash
    except InputError:
        return None


# Reading the document ---------------------------------------------------------------------------


def _read(
    file: InputFile, advance: Callable[[int], None]
) -> Generator[tuple[Table, Iterator[list[dict[str, Any]]]], None, None]:
    """Each table of the export, in the order they are restored (parents first), with its rows
    checked, in chunks; the header checked before the first table. Dates are checked against
    when their rows were recorded (:func:`_check_dates`)."""
    assert file.path is not None  # (read_file gives every export its path)
    with open_regular(file.path, label=file.label) as stream:
        document = _Document(stream, file.label, advance)
        document.expect("{", "a tracker export is a JSON object")
        header: dict[str, Any] = {}
        seen_tables = False
        dates = _Dates(file)
        while True:
            key = document.key(first=not header and not seen_tables)
            if key is None:
                break
            if key != "tables":
                if key not in _HEADER_KEYS:  # refused: not an export, or an unknown key
                    _check_header(file, {**header, key: None}, final=False)
                if key in header:
                    raise InputError(f"{file.label}: the key {key!r} appears twice at the top level")
                header[key] = document.value()
                continue
            files = _check_header(file, header, final=True)
            seen_tables = True
            yield from _tables(file, document, files=files, dates=dates)
        if not seen_tables:
            _check_header(file, header, final=True)
            raise InputError(f'{file.label}: "tables" must be an object of tables')
        document.end()
        dates.finish()


def _check_header(file: InputFile, header: dict[str, Any], *, final: bool) -> bool:
    """The top level's keys before ``tables``: a tracker export of this version and schema;
    returns whether it holds the attachments' content."""
    unknown = sorted(set(header) - set(_HEADER_KEYS))
    if header.get("format", EXPORT_FORMAT) != EXPORT_FORMAT or ("format" not in header and (final or unknown)):
        raise InputError(
            f'{file.label}: not a tracker export (no "format": "{EXPORT_FORMAT}"); import CSV '
            "files of evidence, status updates or measurements, or a file made by `tracker export`"
        )
    if unknown:
        allowed = ", ".join(sorted({*_HEADER_KEYS, "tables"}))
        raise InputError(f"{file.label}: unknown key {unknown[0]!r} at the top level (allowed: {allowed})")
    if not final:
        return False
    if header.get("version") != EXPORT_VERSION:
        raise InputError(
            f"{file.label}: export format version {header.get('version')!r}; "
            f"this tracker reads version {EXPORT_VERSION}"
        )
    if header.get("schema_revision") != SCHEMA_REVISION:
        raise InputError(
            f"{file.label}: exported from schema revision {header.get('schema_revision')!r}; this "
            f"tracker needs {SCHEMA_REVISION}: export it again with the same tracker version"
        )
    files = header.get("files")
    if not isinstance(files, bool):
        raise InputError(f'{file.label}: "files" must be true or false')
    return files


def _tables(
    file: InputFile, document: _Document, *, files: bool, dates: _Dates
) -> Iterator[tuple[Table, Iterator[list[dict[str, Any]]]]]:
    """The ``tables`` object: each table's rows, in chunks, the tables in the order they are restored."""
    document.expect("{", '"tables" must be an object of tables')
    known = {table.name: table for table in EXPORT_TABLES}
    order = {table.name: number for number, table in enumerate(EXPORT_TABLES)}
    done: set[str] = set()
    last = -1
    first = True
    while (name := document.key(first=first)) is not None:
        first = False
        if name not in known:
            raise InputError(f"{file.label}: unknown table {name!r}")
        if name in done:
            raise InputError(f"{file.label}: table {name!r} appears twice")
        if order[name] < last:
            raise InputError(
                f"{file.label}: table {name!r} comes after {EXPORT_TABLES[last].name!r}: the tables of an "
                "export come in the order `tracker export` writes them (parents first)"
            )
        done.add(name)
        last = order[name]
        table = known[name]
        if not document.starts("["):
            raise InputError(f"{file.label}: table {name!r} must be a list of rows")
        yield table, _rows(file, document, table, files=files, dates=dates)
    for table in EXPORT_TABLES:  # the tables it leaves out: none of their rows
        if table.name not in done:
            yield table, iter(())


def _rows(
    file: InputFile, document: _Document, table: Table, *, files: bool, dates: _Dates
) -> Iterator[list[dict[str, Any]]]:
    readers = {column.name: _value_reader(table, column) for column in table.columns}
    if table.name == "attachment" and not files:
        readers.pop("content")
    chunk: list[dict[str, Any]] = []
    number = 0
    while document.item(first=number == 0):
        number += 1
        row = _check_record(file, table, document.value(), number, readers)
        if table is _ATTACHMENTS and not files:
            raise InputError(
                f"{file.label}: it lists attachments without their content; export with "
                "`tracker export --with-files` to make a file that can be restored"
            )
        dates.check(table, number, row)
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    yield chunk


def _check_record(
    file: InputFile, table: Table, record: Any, number: int, readers: dict[str, Callable[[Any], Any]]
) -> dict[str, Any]:
    where = f"{file.label}: {table.name} row {number}"
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected an object")
    keys = [c.name for c in table.primary_key.columns if c.name in record]
    if keys:
        where += " (" + ", ".join(f"{k} {record[k]}" for k in keys) + ")"
    unknown = sorted(set(record) - set(readers))
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
    return row


_WHITESPACE = " \t\r\n"
_PIECE = 1024 * 1024  # characters read at a time (more while one value is longer)
_DECODER = json.JSONDecoder()


class _Document:
    """A JSON document read a piece at a time: its structure (objects, lists) token by token,
    each row a value decoded whole. Errors name the line and column, as a JSON parser does."""

    def __init__(self, stream: IO[bytes], label: str, advance: Callable[[int], None]) -> None:
        self.stream, self.label, self.advance = stream, label, advance
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.at = 0  # where reading is in self.text
        self.lines = 0  # line breaks before self.text
        self.ended = False
        self.first = True

    # reading -------------------------------------------------------------------------------------

    def _more(self, wanted: int = _PIECE) -> bool:
        """Read more of the file (at least ``wanted`` bytes, if it has them); False at its end."""
        if self.ended:
            return False
        data = self.stream.read(wanted)
        if self.first and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        self.first = False
        try:
            decoded = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as error:
            line = self.lines + self.text.count("\n") + data.count(b"\n", 0, error.start) + 1
            raise InputError(
                f"{self.label} line {line}: not UTF-8 text (byte 0x{data[error.start]:02x}); save the file as UTF-8"
            ) from None
        self.advance(len(data))
        if not data:
            self.ended = True
            return False
        done = self.text[: self.at]  # what is read and done with goes
        self.lines += done.count("\n")
        self.text = self.text[self.at :] + decoded
        self.at = 0
        return True

    def _skip(self) -> str:
        """The next character that is not white space ("" at the end of the file), not consumed."""
        while True:
            while self.at < len(self.text) and self.text[self.at] in _WHITESPACE:
                self.at += 1
            if self.at < len(self.text):
                return self.text[self.at]
            if not self._more():
                return ""

    def _error(self, message: str, at: int | None = None) -> InputError:
        at = self.at if at is None else at
        line = self.lines + self.text.count("\n", 0, at) + 1
        column = at - (self.text.rfind("\n", 0, at) + 1) + 1
        return InputError(f"{self.label} line {line}, column {column}: invalid JSON: {message}")

    # tokens --------------------------------------------------------------------------------------

    def expect(self, char: str, what: str) -> None:
        found = self._skip()
        if found != char:
            if found == "":
                raise self._error("Expecting value")
            if self.at == 0 and self.lines == 0 and char == "{":
                raise InputError(
                    f'{self.label}: not a tracker export (no "format": "{EXPORT_FORMAT}"); import CSV '
                    "files of evidence, status updates or measurements, or a file made by `tracker export`"
                )
            raise InputError(f"{self.label}: {what}")
        self.at += 1

    def starts(self, char: str) -> bool:
        """Whether the next value starts with ``char`` (consumed if so)."""
        if self._skip() == char:
            self.at += 1
            return True
        return False

    def key(self, *, first: bool) -> str | None:
        """The next key of the object being read (None at its end)."""
        if not self._next_in("}", first=first):
            return None
        key = self.value()
        if not isinstance(key, str):
            raise self._error("Expecting property name enclosed in double quotes")
        if self._skip() != ":":
            raise self._error("Expecting ':' delimiter")
        self.at += 1
        return key

    def item(self, *, first: bool) -> bool:
        """Whether the list being read has another item (False at its end)."""
        return self._next_in("]", first=first)

    def _next_in(self, closing: str, *, first: bool) -> bool:
        found = self._skip()
        if found == closing:
            self.at += 1
            return False
        if not first:
            if found != ",":
                raise self._error("Expecting ',' delimiter" if found else "Expecting value")
            self.at += 1
            if self._skip() == closing:
                raise self._error("Illegal trailing comma before end of " + ("object" if closing == "}" else "array"))
        elif found == "":
            raise self._error("Expecting value")
        return True

    def value(self) -> Any:
        """The next JSON value, decoded whole."""
        self._skip()
        wanted = _PIECE
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.at)
            except json.JSONDecodeError as error:
                if self._more(wanted):  # (the value may go on past what is read)
                    wanted = max(wanted, 2 * len(self.text))
                    continue
                raise self._error(error.msg, error.pos) from None
            except RecursionError:
                raise InputError(f"{self.label}: invalid JSON: nested too deeply") from None
            except ValueError:  # a whole number of more digits than Python reads (4300)
                raise InputError(f"{self.label}: invalid JSON: a number in it has thousands of digits") from None
            if end == len(self.text) and self._more(wanted):  # a number may go on
                continue
            self.at = end
            return value

    def end(self) -> None:
        """Nothing but white space after the document."""
        if self._skip() != "":
            raise self._error("Extra data")


class _Dates:
    """No date after the day its row was recorded (a due date excepted), wherever it was recorded.

    Not against this machine's clock, which may be in another zone or behind: a row's dates
    against its own ``recorded_at``; a catalog source's (it has none) against the last event
    of the export, which recorded it at the latest (checked once every event is read). The
    bound is the latest date on Earth at that instant (:func:`clock.latest_date`): every date
    that a tracker accepted as not in the future when recording it, in any zone, is restored.
    """

    def __init__(self, file: InputFile) -> None:
        self.file = file
        self.last: datetime | None = None  # the latest event's recorded_at
        self.undated: list[tuple[Table, int, dict[str, Any]]] = []  # rows without recorded_at
        self._dated: dict[Table, list[str]] = {}

    def check(self, table: Table, number: int, row: dict[str, Any]) -> None:
        if table is EVENT_TABLE:
            if self.last is None or row["recorded_at"] > self.last:
                self.last = row["recorded_at"]
            return
        dated = self._dated.get(table)
        if dated is None:
            dated = self._dated[table] = [
                c.name for c in table.columns if isinstance(c.type, Date) and c.name != "due_on"
            ]
        if not dated:
            return
        if "recorded_at" not in row:
            self.undated.append((table, number, {name: row[name] for name in dated} | _keys(table, row)))
            return
        self._check(table, number, row, dated, row["recorded_at"])

    def finish(self) -> None:
        for table, number, row in self.undated:
            if self.last is not None:  # (a source in an export without events: verifying refuses it)
                self._check(table, number, row, self._dated[table], self.last)

    def _check(self, table: Table, number: int, row: dict[str, Any], dated: list[str], recorded: datetime) -> None:
        for name in dated:
            day: date | None = row[name]
            if day is not None and day > clock.latest_date(recorded):
                keys = ", ".join(f"{c.name} {row[c.name]}" for c in table.primary_key.columns)
                raise InputError(
                    f"{self.file.label}: {table.name} row {number} ({keys}): field {name!r}: invalid {name} "
                    f"{day.isoformat()!r}: it is after the day it was recorded ({iso_utc(recorded)}), "
                    "in every time zone"
                )


def _keys(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    return {c.name: row[c.name] for c in table.primary_key.columns}


def _value_reader(table: Table, column: Column[Any]) -> Callable[[Any], Any]:
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
        vocabulary = cast("type[StrEnum]", kind.enum_class)  # every vocabulary is a StrEnum
        return nullable(lambda value: validation.choice(_string(value, name), vocabulary, name).value)
    if isinstance(kind, Date):  # checked against when the row was recorded by _check_dates
        return nullable(lambda value: periods.parse_date(_string(value, name), field=name, allow_future=True))
    if isinstance(kind, Boolean):
        return nullable(lambda value: _typed(value, bool, name, "true or false"))
    if isinstance(kind, Float):
        return nullable(lambda value: _number(value, name))
    if isinstance(kind, Integer):
        return nullable(lambda value: _integer(value, name))
    if isinstance(kind, LargeBinary):
        return nullable(lambda value: _base64(value, name))
    required = not column.nullable
    if table is EVENT_TABLE or name == "payload":
        # Verified against their hashes after restoring; any text the chain recorded.
        return nullable(lambda value: _string(value, name))
    if isinstance(kind, Text):
        return nullable(
            lambda value: _exact(validation.long_text(_string(value, name), name, required=required), value, name)
        )
    if isinstance(kind, String):
        length = kind.length
        if length is None:
            raise AssertionError(f"{table.name}.{name} has no length")
        return nullable(
            lambda value: _exact(
                validation.text(_string(value, name), name, max_length=length, required=required), value, name
            )
        )
    raise AssertionError(f"no reader for {table.name}.{name} ({kind!r})")


def _string(value: Any, name: str) -> str:
    _typed(value, str, name, "a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # JSON can spell a lone surrogate ("\\udcff"); no database stores one
        raise InputError(f"{name} is not valid Unicode (a lone surrogate)") from None
    return cast(str, value)


def _typed(value: Any, expected: type, name: str, what: str) -> Any:
    if type(value) is not expected:
        raise InputError(f"{name} must be {what}, not {json.dumps(value)[:40]}")
    return value


# An Integer column holds 32 bits on PostgreSQL (SQLite's hold 64): every id, count and seq
# tracker writes fits in it, and a restore must not depend on the database it restores into.
_INTEGER_RANGE = range(-(2**31), 2**31)


def _integer(value: Any, name: str) -> int:
    whole = cast(int, _typed(value, int, name, "a whole number"))
    if whole not in _INTEGER_RANGE:
        raise InputError(
            f"{name} {json.dumps(value)[:40]} is out of range: give a whole number between {_INTEGER_RANGE.start} "
            f"and {_INTEGER_RANGE.stop - 1}"
        )
    return whole


def _number(value: Any, name: str) -> float:
    if type(value) not in (int, float) or (type(value) is float and not math.isfinite(value)):
        raise InputError(f"{name} must be a finite number, not {json.dumps(value)[:40]}")
    # The range of every value tracker records; a JSON whole number may have any number of digits.
    if abs(value) > validation.MAX_NUMBER:
        raise InputError(f"{name} {json.dumps(value)[:40]} is out of range: give a number between -1e100 and 1e100")
    return float(value)


def _exact(clean: str | None, value: str, name: str) -> str:
    if clean != value:
        raise InputError(f"{name} {value[:40]!r} is not as tracker stores it (surrounding spaces or blank)")
    return value


def _instant(value: Any, name: str) -> datetime:
    text_value = _string(value, name)
    try:
        moment = datetime.strptime(text_value, INSTANT_FORMAT).replace(tzinfo=UTC)
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
