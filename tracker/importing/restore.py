"""Restoring an export into an empty database: ids, ``recorded_at``, ``recorded_by`` and
the events themselves, exactly, so that exporting again gives the same bytes and
``tracker verify`` checks the restored rows against their original events.

The document is checked completely before anything is written (every value as its
column stores it); the restored database must then verify, or nothing is restored.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Boolean, Column, Date, Enum, Float, Integer, LargeBinary, String, Table, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker import clock, periods, validation
from tracker.audit.canonical import INSTANT_FORMAT, iso_utc
from tracker.audit.chain import last_event
from tracker.audit.verify import verify
from tracker.errors import Conflict, InputError
from tracker.importing.bulk import CHUNK_ROWS, advance_sequences, bulk_settings, insert_chunk
from tracker.importing.export import EVENT_TABLE, EXPORT_FORMAT, EXPORT_TABLES, EXPORT_VERSION
from tracker.importing.files import InputFile
from tracker.importing.summary import ImportSummary
from tracker.progress import Progress, quietly
from tracker.store import models
from tracker.store.database import SCHEMA_REVISION
from tracker.store.models import DOMAIN_TABLES

_ATTACHMENTS = cast(Table, models.Attachment.__table__)


@dataclass
class ExportPlan:
    """A checked export document, ready to be restored into an empty database."""

    file: InputFile
    files: bool
    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)
    last_hash: str | None = None

    def apply(
        self, session: Session, *, actor: str, again: bool, dry_run: bool, progress: Progress = quietly
    ) -> ImportSummary:
        """Insert every row of the export as it was (``actor`` and ``again`` do not apply), then verify."""
        self._refuse_non_empty(session)
        added = {table.name: len(self.rows[table]) for table in EXPORT_TABLES}
        if not dry_run:
            bulk_settings(session)
            with progress(sum(added.values()), f"Restoring {self.file.name}") as advance:
                try:
                    for table in EXPORT_TABLES:
                        for start in range(0, len(self.rows[table]), CHUNK_ROWS):
                            chunk = self.rows[table][start : start + CHUNK_ROWS]
                            insert_chunk(session, table, chunk)
                            advance(len(chunk))
                    session.flush()
                except IntegrityError as error:
                    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
                    raise InputError(
                        f"{self.file.label}: its rows do not fit together ({reason}); nothing was restored"
                    ) from None
            advance_sequences(session, [t for t in DOMAIN_TABLES if "id" in t.c and t.c.id.primary_key])
            self._verify(session, progress)
        return ImportSummary(self.file.label, "export", sum(added.values()), added, dry_run)

    def _refuse_non_empty(self, session: Session) -> None:
        for table in EXPORT_TABLES:
            if session.execute(select(1).select_from(table).limit(1)).first() is not None:
                last = last_event(session)
                if last is not None and last.hash == self.last_hash:
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


def parse_export(file: InputFile) -> ExportPlan:
    """Parse and check an export document completely, without a database."""
    try:
        document = json.loads(file.text)
    except json.JSONDecodeError as error:
        raise InputError(f"{file.label} line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}") from None
    except RecursionError:
        raise InputError(f"{file.label}: invalid JSON: nested too deeply") from None
    except ValueError:  # a whole number of more digits than Python reads (4300)
        raise InputError(f"{file.label}: invalid JSON: a number in it has thousands of digits") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise InputError(
            f'{file.label}: not a tracker export (no "format": "{EXPORT_FORMAT}"); import CSV '
            "files of evidence, status updates or measurements, or a file made by `tracker export`"
        )
    allowed = {"format", "version", "schema_revision", "files", "tables"}
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise InputError(
            f"{file.label}: unknown key {unknown[0]!r} at the top level (allowed: {', '.join(sorted(allowed))})"
        )
    if document.get("version") != EXPORT_VERSION:
        raise InputError(
            f"{file.label}: export format version {document.get('version')!r}; "
            f"this tracker reads version {EXPORT_VERSION}"
        )
    if document.get("schema_revision") != SCHEMA_REVISION:
        raise InputError(
            f"{file.label}: exported from schema revision {document.get('schema_revision')!r}; this "
            f"tracker needs {SCHEMA_REVISION}: export it again with the same tracker version"
        )
    files = document.get("files")
    if not isinstance(files, bool):
        raise InputError(f'{file.label}: "files" must be true or false')
    tables = document.get("tables")
    if not isinstance(tables, dict):
        raise InputError(f'{file.label}: "tables" must be an object of tables')
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
    _check_dates(file, plan)
    if plan.rows[_ATTACHMENTS] and not files:
        raise InputError(
            f"{file.label}: it lists attachments without their content; export with "
            "`tracker export --with-files` to make a file that can be restored"
        )
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


def _check_dates(file: InputFile, plan: ExportPlan) -> None:
    """No date after the day its row was recorded (a due date excepted), wherever it was recorded.

    Not against this machine's clock, which may be in another zone or behind: a row's dates
    against its own ``recorded_at``; a catalog source's (it has none) against the last event
    of the export, which recorded it at the latest. The bound is the latest date on Earth at
    that instant (:func:`clock.latest_date`): every date that a tracker accepted as not in
    the future when recording it, in any zone, is restored.
    """
    last = max((event["recorded_at"] for event in plan.rows[EVENT_TABLE]), default=None)
    for table, rows in plan.rows.items():
        dated = [c.name for c in table.columns if isinstance(c.type, Date) and c.name != "due_on"]
        if not dated:
            continue
        for number, row in enumerate(rows, start=1):
            recorded = row.get("recorded_at", last)
            if recorded is None:  # a source in an export without events: verifying refuses it
                continue
            for name in dated:
                if row[name] is not None and row[name] > clock.latest_date(recorded):
                    keys = ", ".join(f"{c.name} {row[c.name]}" for c in table.primary_key.columns)
                    raise InputError(
                        f"{file.label}: {table.name} row {number} ({keys}): field {name!r}: invalid {name} "
                        f"{row[name].isoformat()!r}: it is after the day it was recorded ({iso_utc(recorded)}), "
                        "in every time zone"
                    )


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
