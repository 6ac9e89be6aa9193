"""The quick pass of ``tracker verify`` on SQLite: the whole chain and every row, streamed.

:func:`tracker.audit.verify.verify` runs this pass first. It either confirms that the
database holds nothing :func:`tracker.audit.verify.full_verify` would report (then that is
the answer), or it stops at the first thing that is off, or merely unusual, by raising
:class:`Unusual`; the full verification then runs and names every problem. It decides
nothing that the full verification would decide otherwise: it is only quicker when all
is well, which is nearly always.

How it is quick: **it writes each event's payload again from the rows and compares the
text with the stored payload**, whose hash the chain checks. If they are the same text,
the rows are exactly what the event recorded, as the full verification would find them
(the text is written as :func:`tracker.audit.verify.row_record` and
:func:`tracker.audit.verify.canonical` write it), and no payload is parsed.

- Rows are created in the order of the events that record them, so each table is read
  once, in insertion order (``rowid``), alongside the events.
- Which rows an event recorded is learnt from the last event with the same action whose
  payload was read: its extra keys (``import_batch``...), the table of its one new row
  and the tables of rows that refer to it (an evidence row and its links, a status update
  and the evidence it cites). The next event with that action is written from the next
  row of that table and the rows referring to it. If the texts differ (another shape of
  event, or tampering), its payload is parsed, its records matched with the rows one by
  one, and the lesson learnt again. A first event of each action is always parsed.
- Stored values are checked once per distinct value to read back as SQLAlchemy reads
  them (dates and instants that exist, vocabulary values, booleans).
- A long chain is cut in two at an event; a second process (``python -m
  tracker.audit.quick``) checks the second half while this one checks the first. Each half
  is a complete check of its events and of the rows they record, and the halves must
  join (:func:`join`). Both read the same snapshot of the database (see :func:`run`).

This module imports no SQLAlchemy, so the second process starts quickly. Its plan
(tables, columns, keys, kinds of value) comes from :func:`tracker.audit.verify.quick_plan`.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import IO, Any, Protocol

from tracker.audit.canonical import (
    GENESIS,
    INVARIANTS,
    Speller,
    TableSpec,
    canonical,
    envelope_head,
    envelope_tail,
    iso_utc,
    link_hash,
    read_recorded,
)

CHECKS = frozenset(INVARIANTS)
"""What the quick pass checks before it vouches for a database: every invariant the full check
checks (files' content is checked beside it, by :func:`tracker.audit.verify.verify`)."""

# Events below which one process is quicker than two (starting the second takes a while).
SPLIT_MIN_EVENTS = 200_000
# How many rows past the next one a parsed record's row may be (records within one event
# need not come in the order they were inserted).
LOOKAHEAD = 64


def _ignore(_n: int) -> None:
    """No progress shown."""


@contextlib.contextmanager
def _quietly(_total: int, _label: str) -> Iterator[Callable[[int], None]]:
    yield _ignore


def _specs(plan: Mapping[str, Any]) -> list[TableSpec]:
    return [TableSpec.from_dict(spec) for spec in plan["tables"]]


class Unusual(Exception):
    """Something the quick pass does not vouch for: the full verification must look."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Stored values as SQLAlchemy reads them -----------------------------------------------------------


class _Values:
    """SQLite's raw values of each kind of column as SQLAlchemy reads them (dates, aware instants,
    floats...), checked once per distinct value; :class:`Unusual` for a value it would not read
    back so (a date that does not exist, a float in an integer column...)."""

    def __init__(self) -> None:
        self.dates: dict[Any, date] = {}
        self.instants: dict[Any, datetime] = {}

    def date(self, value: Any) -> date:
        found = self.dates.get(value)
        if found is None:
            try:
                found = date.fromisoformat(value) if type(value) is str else None
            except ValueError:
                found = None
            if found is None or found.isoformat() != value:
                raise Unusual("a stored date SQLAlchemy would not read back as recorded")
            if len(self.dates) < 100_000:
                self.dates[value] = found
        return found

    def instant(self, value: Any) -> datetime:
        found = self.instants.get(value)
        if found is None:
            try:  # as SQLAlchemy stores an instant on SQLite: "2019-10-05 12:00:00.000000", in UTC
                found = datetime.fromisoformat(value) if type(value) is str else None
            except ValueError:
                found = None
            if found is None or found.tzinfo is not None or found.isoformat(" ", "microseconds") != value:
                raise Unusual("a stored instant SQLAlchemy would not read back as recorded")
            found = found.replace(tzinfo=UTC)
            if len(self.instants) < 100_000:
                self.instants[value] = found
        return found

    def readers(self, spec: TableSpec) -> dict[str, Callable[[Any], Any]]:
        """For each column of ``spec`` whose raw value is not already what SQLAlchemy reads, the
        function that reads it (text and integer columns read as stored)."""
        readers = {}
        for column, kind in spec.kinds.items():
            read: Callable[[Any], Any] | None = None
            if kind == "date":
                read = self.date
            elif kind == "instant":
                read = self.instant
            elif kind == "float":
                read = _float
            elif kind == "bool":
                read = _bool
            elif kind == "choice":
                read = _choice(frozenset(spec.choices[column]))
            if read is not None:
                readers[column] = _or_null(read) if column in spec.nullable else read
        return readers


def _float(value: Any) -> float:
    if type(value) is float and math.isfinite(value):
        return value
    if type(value) is int:  # SQLAlchemy reads it as a float
        return float(value)
    raise Unusual("a stored float SQLAlchemy would not read back as recorded")


def _bool(value: Any) -> bool:
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise Unusual("a stored boolean SQLAlchemy would not read back as recorded")


def _choice(allowed: frozenset[str]) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        if value in allowed:
            return value
        raise Unusual("a stored vocabulary value outside its vocabulary")

    return read


def _or_null(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else read(value)


_SPELLERS: dict[tuple[str, int], Speller] = {}


def _speller(spec: TableSpec, values: _Values | None) -> Speller:
    """The table's :class:`Speller`, made once per table: reading raw values with ``values``
    first, or (None) of values already read."""
    key = (spec.name, id(values))
    found = _SPELLERS.get(key)
    if found is None:
        found = _SPELLERS[key] = Speller(spec, prepare=values.readers(spec) if values is not None else None)
    return found


# Tables ---------------------------------------------------------------------------------------


class _Table:
    """One domain table, read in insertion order (``rowid``) as its events record it.

    Tables whose rows are not inserted in the order their events come (files, stored once
    by sha256; agency assignments) are "keyed": their records are gathered by key and
    compared with the rows at the end.
    """

    def __init__(self, spec: TableSpec, values: _Values) -> None:
        self.spec = spec
        self.name: str = spec.name
        self.columns: tuple[str, ...] = spec.columns
        self.key: tuple[str, ...] = spec.key
        self.keyed: bool = spec.unordered
        # where a row holds its recorded_at, which must be its event's
        self.stamp: int | None = spec.columns.index(spec.recorded_at) if spec.recorded_at else None
        self.refs: Mapping[str, str] = spec.refs  # column -> table it refers to
        self.width = len(self.columns)
        self.positions = {column: index for index, column in enumerate(self.columns)}
        self.key_positions = [self.positions[k] for k in self.key]
        self.single_id = self.key == ("id",)
        self.record = _speller(spec, values).record  # a stored row's raw values
        self.recorded = _speller(spec, None).record  # a parsed record's values (see read_recorded)
        self.select = ", ".join(_quote(c) for c in self.columns)
        self.rows: Iterator[tuple] | None = None
        self.pending: deque[tuple] = deque()  # (rowid, row, text) read ahead, not yet claimed
        self.count = 0  # rows claimed by events
        self.first: int | None = None  # the rowid this part's reading starts at
        self.last: int | None = None  # the highest rowid claimed
        self.claims: dict[tuple, str] = {}

    def start(self, source: Source, position: Any) -> None:
        """Read the table from the row at ``position`` on (see :meth:`Source.rows`)."""
        self.rows = source.rows(self, position)
        self.first = position

    def fetch(self) -> tuple | None:
        """The next row by rowid, as (rowid, row, text); the row's last value is its rowid.
        (Rows read ahead come first: callers check ``pending`` themselves.)"""
        if self.pending:
            return self.pending.popleft()
        row = next(self.rows, None) if self.rows is not None else None
        if row is None:
            return None
        return row[-1], row, self.record(row)

    def claim(self, entry: tuple) -> None:
        """An event recorded this row."""
        self.count += 1
        if self.last is None or entry[0] > self.last:
            self.last = entry[0]

    def give_back(self, entry: tuple) -> None:
        """A row read but not claimed after all, back in rowid order."""
        pending = self.pending
        if not pending or entry[0] < pending[0][0]:
            pending.appendleft(entry)
        else:
            self.pending = deque(sorted([*pending, entry]))

    def take_text(self, text: str) -> tuple | None:
        """The row (read so far or within LOOKAHEAD) whose record is ``text``."""
        for index, entry in enumerate(self.pending):
            if entry[2] == text:
                del self.pending[index]
                return entry
        skipped: list[tuple[Any, ...]] = []
        for _ in range(LOOKAHEAD):
            row = next(self.rows, None) if self.rows is not None else None
            if row is None:
                break
            entry = (row[-1], row, self.record(row))
            if entry[2] == text:
                self.pending.extend(skipped)
                return entry
            skipped.append(entry)
        self.pending.extend(skipped)
        return None

    def summary(self) -> dict[str, Any]:
        """Rows read ahead past the last one claimed belong to the next part; any before it
        were recorded by no event."""
        if self.pending and (self.last is None or self.pending[0][0] < self.last):
            raise Unusual(f"{self.name}: rows no event of this part records")
        return {
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "claims": [[list(key), text] for key, text in self.claims.items()],
        }


# Where the rows come from -----------------------------------------------------------------------


class Source(Protocol):
    """A database as the quick pass reads it: one snapshot, events and rows streamed.

    A table's rows come in its reading order, each with its position in that order as its
    last value (SQLite: insertion order, ``rowid``; PostgreSQL: key order, see
    :mod:`tracker.audit.quick_postgres`). ``values`` reads stored values as SQLAlchemy reads
    them (see :class:`_Values`).
    """

    values: Any

    def events(self, first: int, last: int) -> Iterator[tuple]:
        """(seq, recorded_at, actor, action, payload, prev_hash, hash) of events first..last, by seq."""
        ...

    def rows(self, table: _Table, position: Any) -> Iterator[tuple]:
        """The table's rows from ``position`` on, in reading order, each ending with its position."""
        ...

    def locate(self, table: _Table, key: tuple) -> Any:
        """The position of the row with this key (its values as recorded), or None."""
        ...

    def count(self, name: str) -> int: ...

    def everything(self, table: _Table) -> Iterator[tuple]:
        """Every row of the table, in any order (its columns first)."""
        ...

    def stamp(self, stored: Any) -> str:
        """An event's stored ``recorded_at`` as :func:`iso_utc` spells it (:class:`Unusual` if unreadable)."""
        ...


class SQLite:
    """A SQLite database, read through ``connection`` (its read transaction fixes the snapshot)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.values = _VALUES

    def events(self, first: int, last: int) -> Iterator[tuple]:
        cursor = self.connection.execute(
            "SELECT seq, recorded_at, actor, action, payload, prev_hash, hash FROM event WHERE seq BETWEEN ? AND ? "
            "ORDER BY seq",
            (first, last),
        )
        cursor.arraysize = 256
        return iter(cursor)

    def rows(self, table: _Table, position: Any) -> Iterator[tuple]:
        cursor = self.connection.execute(
            f"SELECT {table.select}, rowid FROM {_quote(table.name)} WHERE rowid >= ? ORDER BY rowid", (position,)
        )
        cursor.arraysize = 256
        return iter(cursor)

    def locate(self, table: _Table, key: tuple) -> Any:
        where = " AND ".join(f"{_quote(k)} = ?" for k in table.key)
        found = self.connection.execute(f"SELECT rowid FROM {_quote(table.name)} WHERE {where}", key).fetchone()
        return found[0] if found is not None else None

    def count(self, name: str) -> int:
        return self.connection.execute(f"SELECT count(*) FROM {_quote(name)}").fetchone()[0]

    def everything(self, table: _Table) -> Iterator[tuple]:
        return iter(self.connection.execute(f"SELECT {table.select}, rowid FROM {_quote(table.name)}"))

    def stamp(self, stored: Any) -> str:
        return iso_utc(self.values.instant(stored))


# One part of the chain -------------------------------------------------------------------------


class _Shape:
    """What an action's events record, learnt from one of them: extra keys, the table of its
    one new row, and the tables (and columns) of the rows that refer to that row."""

    def __init__(self, head: str, tail: str, parent: _Table, children: list[tuple[_Table, int]]) -> None:
        self.head = head + '"rows":{'
        self.tail = "}" + tail
        self.parent = parent
        self.children = children
        self.parent_key = parent.key_positions[0]
        self.order = [parent.name, *(child.name for child, _column in children)]  # as predict() reads them
        self.names = sorted(self.order)
        # the whole payload when every table has rows, with a slot for each table's records in
        # the order predict() reads them: '{"import_batch":7,"rows":{"evidence":[{0}],...}}'
        slots = {name: index for index, name in enumerate(self.order)}
        body = ",".join(f'"{name}":[{{{slots[name]}}}]' for name in self.names)
        self.template = (
            self.head.replace("{", "{{").replace("}", "}}") + body + self.tail.replace("{", "{{").replace("}", "}}")
        )


_VALUES = _Values()  # one per process: the values it has checked


class _Part:
    """Events ``first``..``last`` and the rows they record."""

    def __init__(self, source: Source, plan: dict[str, Any]) -> None:
        self.source = source
        self.values = source.values
        self.tables = {spec.name: _Table(spec, self.values) for spec in _specs(plan)}
        self.shapes: dict[str, _Shape | None] = {}

    # Writing an event's payload from the rows

    def predict(self, shape: _Shape) -> tuple[str, list[tuple[_Table, tuple]]] | None:
        """The payload of the next event of this shape, written from the next rows; None if
        the rows are not there to write it."""
        parent = shape.parent
        if parent.rows is None:
            return None
        first = parent.pending.popleft() if parent.pending else parent.fetch()
        if first is None:
            return None
        taken = [(parent, first)]
        texts = [first[2]]
        key = first[1][shape.parent_key]
        for child, column in shape.children:
            if child.rows is None:
                for table, entry in taken:
                    table.give_back(entry)
                return None
            found = []
            pending = child.pending
            while True:
                next_entry = pending.popleft() if pending else child.fetch()
                if next_entry is None:
                    break
                entry = next_entry
                if entry[1][column] != key:
                    child.give_back(entry)
                    break
                taken.append((child, entry))
                found.append(entry[2])
            texts.append(",".join(found) if found else None)
        if None in texts:
            named = dict(zip(shape.order, texts))
            body = ",".join(f'"{name}":[{named[name]}]' for name in shape.names if named[name] is not None)
            return shape.head + body + shape.tail, taken
        return shape.template.format(*texts), taken

    # Reading an event's payload

    def learn(self, action: str, document: dict, rows: dict) -> None:
        """The shape of ``action``'s events, from this one (None if it has no simple shape)."""
        shape = None
        tables = {name: records for name, records in rows.items() if records}
        singles = [
            name
            for name, records in tables.items()
            if len(records) == 1 and name in self.tables and self.tables[name].single_id and not self.tables[name].keyed
        ]
        for parent_name in singles:
            parent = self.tables[parent_name]
            parent_id = tables[parent_name][0].get("id")
            children, fits = [], True
            for name, records in tables.items():
                if name == parent_name:
                    continue
                table = self.tables.get(name)
                column = next((c for c, target in (table.refs.items() if table else ()) if target == parent_name), None)
                if table is None or table.keyed or column is None or any(r.get(column) != parent_id for r in records):
                    fits = False
                    break
                children.append((table, table.positions[column]))
            if fits:
                extras = {k: v for k, v in document.items() if k != "rows"}
                frame = canonical({**extras, "rows": 0})
                cut = frame.index('"rows":0')
                if frame.count('"rows":0') == 1:
                    shape = _Shape(
                        frame[:cut],
                        frame[cut + 8 : -1] + "}",
                        parent,
                        sorted(children, key=lambda child: child[0].name),
                    )
                break
        self.shapes[action] = shape

    def read(self, seq: int, action: str, payload: str, at: str) -> None:
        """The event's records, parsed as :func:`tracker.audit.verify.full_verify` reads them,
        each matched with its row."""
        try:
            document = json.loads(payload)
        except (ValueError, RecursionError):
            raise Unusual(f"event {seq}: payload") from None
        if type(document) is not dict:
            raise Unusual(f"event {seq}: payload")
        rows = document.get("rows") or {}
        if type(rows) is not dict:
            raise Unusual(f"event {seq}: payload")
        for name, records in rows.items():
            table = self.tables.get(name)
            if table is None:
                continue  # not a table tracker knows: the full verification ignores it too
            if type(records) is not list:
                raise Unusual(f"event {seq}: payload")
            for record in records:
                self.match(table, record, at)
        self.learn(action, document, rows)

    def match(self, table: _Table, record: Any, at: str) -> None:
        """A parsed record of an event recorded ``at``: the row with its key must record as it does."""
        if type(record) is not dict or len(record) != table.width or any(c not in record for c in table.columns):
            raise Unusual(f"{table.name}: a record with other fields")
        if table.spec.recorded_at is not None and record[table.spec.recorded_at] != at:
            raise Unusual(f"{table.name}: a row recorded at another time than its event")
        values = read_recorded(table.spec, record)
        if values is None:
            raise Unusual(f"{table.name}: a record with other fields")
        text = table.recorded(values)
        key = tuple(record[k] for k in table.key)
        if table.keyed:
            if key in table.claims:
                raise Unusual(f"{table.name}: a row recorded twice")
            table.claims[key] = text
            return
        if table.rows is None:
            found = self.source.locate(table, key)
            if found is None:
                raise Unusual(f"{table.name}: a recorded row is missing")
            table.start(self.source, found)
        entry = table.take_text(text)
        if entry is None:
            raise Unusual(f"{table.name}: rows and records differ")
        table.claim(entry)

    def scan(self, first: int, last: int, anchor: str | None) -> dict:
        """Check events ``first``..``last`` and the rows they record; a summary for :func:`join`."""
        stamp = self.source.stamp
        heads: dict[tuple[str, str], str] = {}
        expected = first
        previous_hash = previous_at = None
        first_prev = first_at = None
        anchor_seq = None
        shapes = self.shapes
        instants: dict[Any, str] = {}
        for seq, stored_at, actor, action, payload, prev_hash, stored_hash in self.source.events(first, last):
            if seq != expected or type(prev_hash) is not str or type(payload) is not str:
                raise Unusual(f"event {seq}: not as tracker writes events")
            if previous_hash is None:
                first_prev, first_at = prev_hash, stored_at
            elif prev_hash != previous_hash or stored_at < previous_at:
                raise Unusual(f"event {seq}: does not follow the one before")
            at = instants.get(stored_at)
            if at is None:
                at = stamp(stored_at)
                if len(instants) > 10_000:
                    instants.clear()
                instants[stored_at] = at
            head = heads.get((action, actor))
            if head is None:
                if type(action) is not str or type(actor) is not str:
                    raise Unusual(f"event {seq}: action or actor")
                head = heads[(action, actor)] = envelope_head(action, actor)
            if link_hash(prev_hash, head, payload, envelope_tail(at, seq)) != stored_hash:
                raise Unusual(f"event {seq}: hash")
            shape = shapes.get(action)
            predicted = self.predict(shape) if shape is not None else None
            if predicted is not None:
                if predicted[0] == payload:
                    for table, entry in predicted[1]:  # claimed, in rowid order: table.claim(entry)
                        if table.stamp is not None and entry[1][table.stamp] != stored_at:
                            raise Unusual(f"event {seq}: a row recorded at another time")
                        table.count += 1
                        table.last = entry[0]
                else:
                    for table, entry in reversed(predicted[1]):
                        table.give_back(entry)
                    predicted = None
            if predicted is None:
                self.read(seq, action, payload, at)
            if stored_hash == anchor and anchor_seq is None:
                anchor_seq = seq
            previous_hash, previous_at = stored_hash, stored_at
            expected += 1
        if expected != last + 1:
            raise Unusual("events are missing")
        return {
            "first": first,
            "last": last,
            "first_prev": first_prev,
            "last_hash": previous_hash,
            # as ISO text (fixed width: compared as text by join), whatever the stored value's type
            "first_at": stamp(first_at) if first_at is not None else None,
            "last_at": stamp(previous_at) if previous_at is not None else None,
            "anchor_seq": anchor_seq,
            "tables": {name: table.summary() for name, table in self.tables.items()},
        }


def scan(connection: sqlite3.Connection, plan: dict[str, Any], first: int, last: int, anchor: str | None) -> dict:
    """Check events ``first``..``last`` and the rows they record (raises :class:`Unusual`)."""
    return scan_source(SQLite(connection), plan, first, last, anchor)


def scan_source(source: Source, plan: dict[str, Any], first: int, last: int, anchor: str | None) -> dict:
    """:func:`scan` of the database ``source`` reads."""
    return _Part(source, plan).scan(first, last, anchor)


def join(source: Source, plan: dict[str, Any], parts: list[dict]) -> dict[str, int]:
    """Check that the parts join into the whole database; the rows of each table.

    The parts cover seq 1..N one after another; each table's rows are exactly those the
    parts read (a run of rows by rowid per part, one after another, as many as the table
    has), and the rows compared by key record as their records say.
    """
    expected_prev, expected_first, previous_at = GENESIS, 1, None
    for part in parts:
        if part["first"] != expected_first or part["first_prev"] != expected_prev:
            raise Unusual("the parts of the chain do not join")
        if previous_at is not None and part["first_at"] < previous_at:
            raise Unusual("recorded_at goes backwards between the parts")
        expected_prev, expected_first, previous_at = part["last_hash"], part["last"] + 1, part["last_at"]
    counts = {}
    for spec in _specs(plan):
        name = spec.name
        table = _Table(spec, source.values)
        stored = source.count(name)
        if not table.keyed:
            read, last = 0, None
            for part in parts:
                found = part["tables"][name]
                if not found["count"]:
                    continue
                if last is not None and not last < found["first"]:
                    raise Unusual(f"{name}: the parts overlap")
                read, last = read + found["count"], found["last"]
            if read != stored:
                raise Unusual(f"{name}: {stored} rows, {read} recorded")
        else:
            claims: dict[tuple, str] = {}
            for part in parts:
                for key, text in part["tables"][name]["claims"]:
                    if tuple(key) in claims:
                        raise Unusual(f"{name}: a row recorded twice")
                    claims[tuple(key)] = text
            if len(claims) != stored:
                raise Unusual(f"{name}: {stored} rows, {len(claims)} recorded")
            for row in source.everything(table):
                if claims.get(tuple(row[p] for p in table.key_positions)) != table.record(row):
                    raise Unusual(f"{name}: rows and records differ")
        counts[name] = stored
    return counts


# Running the parts ------------------------------------------------------------------------------


def run(
    connection: sqlite3.Connection,
    path: str,
    plan: dict[str, Any],
    anchor: str | None,
    progress: Callable[[int, str], Any] = _quietly,
    beside: Callable[[sqlite3.Connection], Any] | None = None,
) -> dict:
    """The quick pass over the whole chain, shared with a second process when it is long.

    ``path`` is the database's ``file:`` URI (read-only: the quick pass writes nothing).

    ``connection`` must be in a read transaction whose snapshot this fixes (by its first
    read). The second process must read the same snapshot: what it sees (the count and the
    last hash of the events) must be what this one sees, and the database's
    ``data_version``, read on a connection of its own before this one's first read and
    again once the second process fixed its snapshot, must not have changed (no write was
    committed in between). Otherwise this process checks everything alone.

    ``beside``, if given, is run on a connection of its own, in a thread, while the chain is
    checked: on the same snapshot (checked as the second process's is), and its result is the
    summary's ``beside``; None when it could not read the same snapshot or failed (the caller
    then does that work itself). SQLite works without holding the GIL, so work that is mostly
    SQLite's (verify's checks of the file's pages and indexes) takes a core the scan leaves.
    Raises :class:`Unusual` if anything needs the full verification.
    """
    watcher = sqlite3.connect(path, timeout=60, uri=True)
    side: _Beside | None = None
    try:
        version = watcher.execute("PRAGMA data_version").fetchone()[0]
        count = connection.execute("SELECT count(*) FROM event").fetchone()[0]
        if beside is not None:
            side = _Beside(path, beside, (count, _last_hash(connection, count)))
            if watcher.execute("PRAGMA data_version").fetchone()[0] != version:  # not this snapshot
                side.cancel()
                side = None
        lowest, highest = connection.execute("SELECT min(seq), max(seq) FROM event").fetchone()
        if count and (lowest != 1 or highest != count):
            raise Unusual("seq does not run from 1 without gaps")
        parts = None
        if count >= SPLIT_MIN_EVENTS:
            with progress(count, "Checking the chain") as advance:
                parts = _shared(connection, watcher, version, path, plan, count, anchor, advance)
        if parts is None:
            parts = [scan(connection, plan, 1, count, anchor)] if count else []
        rows = join(SQLite(connection), plan, parts)
    except BaseException:
        if side is not None:
            side.cancel()
        raise
    finally:
        watcher.close()
    anchors = [p["anchor_seq"] for p in parts if p["anchor_seq"] is not None]
    return {
        "events": count,
        "last_hash": parts[-1]["last_hash"] if parts else GENESIS,
        "anchor_seq": min(anchors) if anchors else None,
        "rows": rows,
        "beside": side.result() if side is not None else None,
    }


class _Beside:
    """``work(connection)`` in a thread, on a read-only connection of its own whose snapshot is
    fixed before the thread starts (see :func:`run`), done only if that snapshot holds what
    ``seen`` says the quick pass's does: the count of its events and its last hash (the quick
    pass's own uncommitted writes, which another connection cannot see, make them differ)."""

    def __init__(self, path: str, work: Callable[[sqlite3.Connection], Any], seen: tuple[int, str]) -> None:
        self.connection = sqlite3.connect(path, timeout=60, uri=True, isolation_level=None, check_same_thread=False)
        self.connection.execute("BEGIN")
        self.connection.execute("SELECT count(*) FROM sqlite_master").fetchone()  # fixes its snapshot
        self.outcome: Any = None
        self.thread = threading.Thread(target=self._run, args=(work, seen), name="tracker-verify-beside", daemon=True)
        self.thread.start()

    def _run(self, work: Callable[[sqlite3.Connection], Any], seen: tuple[int, str]) -> None:
        try:
            count = self.connection.execute("SELECT count(*) FROM event").fetchone()[0]
            if (count, _last_hash(self.connection, count)) == seen:
                self.outcome = work(self.connection)
        except Exception:  # (interrupted, or the file could not be read: the caller does the work itself, and says why)
            self.outcome = None

    def cancel(self) -> None:
        """Stop the work (its result is not wanted)."""
        self.connection.interrupt()
        self.result()
        self.outcome = None

    def result(self) -> Any:
        """What the work returned, once it is done (None if it was not done, or failed)."""
        self.thread.join()
        self.connection.close()
        return self.outcome


def _last_hash(connection: sqlite3.Connection, count: int) -> str:
    """The hash of event ``count`` (the last, as the caller counts them) that ``connection`` reads."""
    last = connection.execute("SELECT hash FROM event WHERE seq = ?", (count,)).fetchone()
    return last[0] if last else GENESIS


def chunks(count: int) -> list[tuple[int, int]]:
    """The chain cut into runs of events (first, last): enough that two processes share them
    out evenly, even when one of them runs slower."""
    number = max(2, min(32, count // 25_000))
    bounds = [count * k // number for k in range(number + 1)]
    return [(bounds[k] + 1, bounds[k + 1]) for k in range(number)]


def _shared(
    connection: sqlite3.Connection,
    watcher: sqlite3.Connection,
    version: int,
    path: str,
    plan: dict[str, Any],
    count: int,
    anchor: str | None,
    advance: Callable[[int], None] = _ignore,
) -> list[dict] | None:
    """The chunks of the chain shared with a second process: this one takes them from the
    first on, the other from the last back, until they meet; None when the second process
    would not see what this one sees (a write committed meanwhile, or this connection's own
    uncommitted writes)."""
    runs = chunks(count)
    last_hash = connection.execute("SELECT hash FROM event WHERE seq = ?", (count,)).fetchone()[0]
    counted: set[int] = set()

    def checked(index: int) -> None:  # a chunk is done, by either process: show it once
        if index not in counted:
            counted.add(index)
            advance(runs[index][1] - runs[index][0] + 1)

    helper = _Helper(path, plan, runs, anchor, checked)
    try:
        if helper.started() != [str(count), str(last_hash)]:
            return None
        if watcher.execute("PRAGMA data_version").fetchone()[0] != version:
            return None
        return share(helper, runs, lambda first, last: scan(connection, plan, first, last, anchor), checked)
    finally:
        helper.close()


def share(
    helper: _Helper, runs: list[tuple[int, int]], check: Callable[[int, int], dict], checked: Callable[[int], None]
) -> list[dict]:
    """The chunks ``runs`` checked by this process (``check(first, last)``), from the first on, and
    by the second (``helper``, started and reading the same snapshot), from the last back."""
    done: dict[int, dict] = {}
    for index, (first, last) in enumerate(runs):
        if index >= helper.lowest():
            break
        helper.taken(index)
        done[index] = check(first, last)
        checked(index)
    done.update(helper.results())
    if sorted(done) != list(range(len(runs))):
        raise Unusual("a part of the chain was not checked")
    return [done[index] for index in range(len(runs))]


class _Lines:
    """Lines from a pipe, read without waiting when asked (no hidden buffer: ``select`` on the
    pipe then tells the truth)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.eof = False

    def readline(self, *, block: bool = True) -> bytes | None:
        """The next line; b"" at the end; None if none has come yet and ``block`` is False."""
        import os
        import select

        while b"\n" not in self.buffer and not self.eof:
            if not block and not select.select([self.fd], [], [], 0)[0]:
                return None
            data = os.read(self.fd, 1 << 16)
            if not data:
                self.eof = True
            self.buffer += data
        line, newline, self.buffer = self.buffer.partition(b"\n")
        return line + newline


class _Helper:
    """The second process: checks chunks of the chain from the last back, as JSON lines.

    It says ``start K`` before each chunk and ``part K {...}`` after it; this process says
    ``taken K`` before each chunk it checks itself. Each stops where the other has been; a
    chunk both began (their messages crossed) is checked twice, which does no harm.
    """

    def __init__(
        self,
        path: str,
        plan: dict,
        runs: list[tuple[int, int]],
        anchor: str | None,
        checked: Callable[[int], None] = _ignore,
        *,
        module: str = "tracker.audit.quick",
        database: Mapping[str, Any] | None = None,
    ) -> None:
        """``module`` is run as the second process (its ``__main__`` calls :func:`serve`) and
        finds the database at ``path`` (SQLite) or as ``database`` says (another source)."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None  # both are pipes (see above)
        self.stdin: IO[bytes] = stdin
        self.stdout: IO[bytes] = stdout
        request = {"path": path, "plan": plan, "runs": runs, "anchor": anchor, "database": database}
        self.stdin.write(json.dumps(request).encode() + b"\n")
        self.stdin.flush()
        self.lines = _Lines(self.stdout.fileno())
        self.started_at = len(runs)  # the lowest chunk it has begun
        self.parts: dict[int, dict] = {}
        self.unusual: str | None = None
        self.checked = checked  # called with each chunk's index as its part comes

    def started(self) -> list[str]:
        """What the second process sees: its count of events and its last hash."""
        line = (self.lines.readline() or b"").decode(errors="replace").split()
        if not line or line[0] != "ready":
            raise Unusual("the second process did not start")
        return line[1:]

    def _message(self, line: bytes) -> None:
        word, _, rest = line.strip().partition(b" ")
        if word == b"start":
            self.started_at = min(self.started_at, int(rest))
        elif word == b"part":
            index, _, body = rest.partition(b" ")
            self.parts[int(index)] = json.loads(body)
            self.checked(int(index))
        elif word == b"unusual":
            self.unusual = rest.decode(errors="replace").strip() or "the second process found something"
        elif word != b"end":
            raise Unusual("the second process said something unexpected")

    def lowest(self) -> int:
        """The lowest chunk the second process has begun, as far as it has said so far."""
        while line := self.lines.readline(block=False):
            self._message(line)
            if self.unusual:
                raise Unusual(self.unusual)
        return self.started_at

    def taken(self, index: int) -> None:
        try:
            self.stdin.write(f"taken {index}\n".encode())
            self.stdin.flush()
        except BrokenPipeError:
            pass

    def results(self) -> dict[int, dict]:
        """Every chunk the second process checked (waiting for the one it is on)."""
        try:
            self.stdin.write(b"finish\n")
            self.stdin.close()
        except BrokenPipeError:
            pass
        while line := self.lines.readline():
            self._message(line)
            if self.unusual:
                raise Unusual(self.unusual)
        if self.process.wait() != 0:
            raise Unusual("the second process failed")
        return self.parts

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stdout.close()
        if not self.stdin.closed:
            try:
                self.stdin.close()
            except BrokenPipeError:
                pass


def _serve() -> None:
    """``python -m tracker.audit.quick``: chunks from the last back, asked for on stdin."""
    serve(_open_sqlite, (sqlite3.Error,))


def _open_sqlite(request: dict[str, Any]) -> tuple[Source, int, str | None, Callable[[], None]]:
    """The SQLite database of a request, in a read transaction: (source, its count of events,
    its last hash, what closes it)."""
    connection = sqlite3.connect(request["path"], timeout=60, isolation_level=None, uri=True)
    connection.execute("BEGIN")
    count = connection.execute("SELECT count(*) FROM event").fetchone()[0]  # fixes the snapshot
    last = connection.execute("SELECT hash FROM event ORDER BY seq DESC LIMIT 1").fetchone()
    return SQLite(connection), count, last[0] if last else None, connection.close


def serve(
    open_source: Callable[[dict[str, Any]], tuple[Source, int, str | None, Callable[[], None]]],
    errors: tuple[type[Exception], ...],
) -> None:
    """The second process: reads its request from stdin, opens the database with ``open_source``,
    says what it sees, then checks chunks from the last back until it meets the first process.
    ``errors`` (the database's own) are told as unusual, as the first process would find them."""
    import gc

    gc.disable()  # what it makes holds no cycles; collecting would be wasted work
    lines = _Lines(sys.stdin.fileno())
    request = json.loads(lines.readline() or b"null")
    out = sys.stdout.buffer
    taken = -1  # the highest chunk the first process has begun

    def say(line: str) -> None:
        out.write(line.encode() + b"\n")
        out.flush()

    def listen() -> bool:
        """Read what the first process said; False once it asks to finish."""
        nonlocal taken
        while (line := lines.readline(block=False)) is not None:
            if not line or line.startswith(b"finish"):
                return False
            if line.startswith(b"taken "):
                taken = max(taken, int(line.split()[1]))
        return True

    caught: tuple[type[Exception], ...] = (
        *errors,
        UnicodeDecodeError,
        OverflowError,
        TypeError,
        ValueError,
        RecursionError,
    )
    source, count, last, close = open_source(request)
    try:
        say(f"ready {count} {last}")
        runs = request["runs"]
        for index in range(len(runs) - 1, -1, -1):
            if not listen() or index <= taken:
                break
            say(f"start {index}")
            try:
                part = scan_source(source, request["plan"], runs[index][0], runs[index][1], request["anchor"])
            except Unusual as unusual:
                say(f"unusual {unusual}".replace("\n", " "))
                break
            except caught as error:
                say(f"unusual {type(error).__name__}: {error}".replace("\n", " "))
                break
            say(f"part {index} {json.dumps(part)}")
        say("end")
    finally:
        close()


if __name__ == "__main__":
    _serve()
