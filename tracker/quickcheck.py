"""The quick pass of ``tracker verify`` on SQLite: the whole chain and every row, streamed.

:func:`tracker.integrity.verify` runs this pass first. It either confirms that the
database holds nothing :func:`tracker.integrity.full_verify` would report (then that is
the answer), or it stops at the first thing that is off, or merely unusual, by raising
:class:`Unusual`; the full verification then runs and names every problem. It decides
nothing that the full verification would decide otherwise: it is only quicker when all
is well, which is nearly always.

How it is quick:

- It reads with the driver (``sqlite3``) and holds only the current event: events stream
  by ``seq``, and each table's rows stream by primary key alongside them. Rows are
  created in the order of the events that record them (ids are handed out in order), so
  the rows a table's events record, in event order, are its rows in key order, give or
  take the order within one event. Every row must be matched by exactly one record and
  every record by a row; rows that are not made in key order (files, by their sha256;
  agency assignments) are compared by key at the end instead.
- For most tables SQLite writes each row as the canonical JSON its event records
  (instants in the chain's ISO form, strings quoted as ``json.dumps`` quotes them) and
  checks that its stored values read back (dates that exist, vocabulary values, no
  stray floats); the event's payload is then matched against those texts as it stands,
  without being parsed (:meth:`_Part.match_text`). An event this does not fit (a table
  whose values are floats or booleans, a key out of order, anything unexpected) is
  parsed with ``json`` and its records compared one by one.
- A long chain is cut in two at an event; a second process (``python -m
  tracker.quickcheck``) checks the second half while this one checks the first. Each half
  is a complete check of its events and of the rows they record, and the halves must
  join (:func:`join`). Both read the same snapshot of the database (see :func:`run`).

Why a matched text is enough: for the tables checked by text, a stored value and the
JSON SQLite writes for it read back as equal values (text, whole numbers, nulls; instants
and dates checked to be ones SQLAlchemy reads), so a payload that holds exactly that
text records exactly the row that SQLAlchemy reads.

This module imports no SQLAlchemy, so the second process starts quickly. Its plan
(tables, columns, keys, kinds of value) comes from :func:`tracker.integrity.quick_plan`.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from datetime import date, datetime
from operator import itemgetter
from typing import Any

GENESIS = "0" * 64
# Events below which one process is quicker than two (starting the second takes a while).
SPLIT_MIN_EVENTS = 200_000
# How many rows past the next one a record may be (records within one event need not
# come in key order).
LOOKAHEAD = 64
# How SQLite stores an instant (see tracker.models.UTCDateTime): 2019-10-05 12:00:00.000000
_STORED_INSTANT = ("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]."
                   "[0-9][0-9][0-9][0-9][0-9][0-9]")
# A character JSON text may not hold unescaped (json.loads refuses it).
_CONTROL = re.compile("[\x00-\x1f]")
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


class Unusual(Exception):
    """Something the quick pass does not vouch for: the full verification must look."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Values as SQLAlchemy reads them ------------------------------------------------------------------


class _Values:
    """Whether stored values read back as SQLAlchemy reads them, once per distinct value."""

    def __init__(self) -> None:
        self._dates: dict[Any, bool] = {}
        self._instants: dict[Any, bool] = {}
        self._stored: dict[Any, bool] = {}

    def date_ok(self, value: Any) -> bool:
        ok = self._dates.get(value)
        if ok is None:
            try:
                ok = type(value) is str and date.fromisoformat(value).isoformat() == value
            except ValueError:
                ok = False
            if len(self._dates) < 100_000:
                self._dates[value] = ok
        return ok

    def stored_instant_ok(self, value: Any) -> bool:
        """``value`` as SQLite stores an instant (2019-10-05 12:00:00.000000), one that exists."""
        ok = self._stored.get(value)
        if ok is None:
            try:
                ok = (type(value) is str
                      and datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").strftime("%Y-%m-%d %H:%M:%S.%f") == value)
            except ValueError:
                ok = False
            if len(self._stored) < 100_000:
                self._stored[value] = ok
        return ok

    def instant_ok(self, value: Any) -> bool:
        """``value`` in the chain's ISO form (2019-10-05T12:00:00.000000Z), an instant that exists."""
        ok = self._instants.get(value)
        if ok is None:
            try:
                ok = (type(value) is str
                      and datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").strftime("%Y-%m-%dT%H:%M:%S.%fZ") == value)
            except ValueError:
                ok = False
            if len(self._instants) < 100_000:
                self._instants[value] = ok
        return ok


def _iso_sql(column: str) -> str:
    """A stored instant in the chain's ISO form; bytes (which no JSON value equals) if not stored as tracker stores it."""
    return (f"CASE WHEN {column} IS NULL THEN NULL WHEN typeof({column}) = 'text' AND {column} GLOB "
            f"'{_STORED_INSTANT}' THEN substr({column}, 1, 10) || 'T' || substr({column}, 12) || 'Z' "
            f"ELSE CAST({column} AS BLOB) || X'00' END")


def _text_sql(columns: list[str], kinds: dict[str, str], nullable: set[str]) -> tuple[str, str]:
    """SQL for a row as canonical JSON (keys sorted, values as json.dumps spells them), and a
    condition that the stored values are what that spelling assumes.

    Most rows go through one printf; a row with a text value that JSON must escape (a
    quote, a backslash, a line break or tab in a long text) is spelled with json_quote,
    which escapes as json.dumps does. Other control characters are left to the caller: a
    payload that holds one unescaped is not JSON (see _Part.match_text).
    """
    formats, arguments, quoted, clean, checks = [], [], [], [], []
    for column in sorted(columns):
        c, kind, null = _quote(column), kinds[column], column in nullable
        check = None
        if kind == "instant":
            value = f"'\"' || substr({c}, 1, 10) || 'T' || substr({c}, 12) || 'Z\"'"
            check = f"(typeof({c}) = 'text' AND {c} GLOB '{_STORED_INSTANT}')"
        elif kind in ("choice", "date", "text", "longtext"):
            value = f"'\"' || {c} || '\"'"
        else:  # a whole number
            value = c
            check = f"typeof({c}) = 'integer'"
        if check:
            checks.append(f"({c} IS NULL OR {check})" if null else check)
        if kind in ("text", "longtext"):
            escapes = ["'\"'", "'\\'"] + (["char(10)", "char(13)", "char(9)"] if kind == "longtext" else [])
            clean.append(" AND ".join(f"instr({c}, {e}) = 0" for e in escapes))
            spelled = f"json_quote({c})"
        else:
            spelled = value
        if null:
            formats.append(f'"{column}":%s')
            arguments.append(f"iif({c} IS NULL, 'null', {value})")
            quoted.append(f"'\"{column}\":' || iif({c} IS NULL, 'null', {spelled})")
            if clean and kind in ("text", "longtext"):
                clean[-1] = f"({c} IS NULL OR ({clean[-1]}))"
        else:
            if kind == "instant":
                formats.append(f'"{column}":"%sT%sZ"')
                arguments.extend([f"substr({c}, 1, 10)", f"substr({c}, 12)"])
            elif kind == "integer":
                formats.append(f'"{column}":%d')
                arguments.append(c)
            else:
                formats.append(f'"{column}":"%s"')
                arguments.append(c)
            quoted.append(f"'\"{column}\":' || {spelled}")
    printf = f"printf('{{{','.join(formats)}}}', {', '.join(arguments)})"
    escaped = "'{' || " + " || ',' || ".join(quoted) + " || '}'"
    text = f"CASE WHEN {' AND '.join(clean)} THEN {printf} ELSE {escaped} END" if clean else printf
    return text, " AND ".join(checks) if checks else "1"


# Tables ---------------------------------------------------------------------------------------


class _Table:
    """One domain table: its rows in key order, consumed as the events record them.

    ``mode`` is "text" (rows come as (key..., canonical JSON, readable) and records are
    matched as text), "values" (rows come as their JSON values, compared with parsed
    records) or "keyed" (records gathered by key and compared with the rows at the end).
    """

    def __init__(self, spec: dict[str, Any], values: _Values) -> None:
        self.name: str = spec["name"]
        self.columns: list[str] = spec["columns"]
        self.key: list[str] = spec["key"]
        self.mode: str = spec["mode"]
        self.width = len(self.columns)
        self.claim = itemgetter(*self.columns)
        self.key_positions = [self.columns.index(k) for k in self.key]
        self.order = ", ".join(_quote(k) for k in self.key)
        kinds, nullable, choices = spec["kinds"], set(spec["nullable"]), spec["choices"]
        if self.mode == "text":
            text, check = _text_sql(self.columns, kinds, nullable)
            conditions = [check] + [f"({_quote(c)} IS NULL OR {_quote(c)} IN ({', '.join(_sql_string(v) for v in choices[c])}))"
                                    if c in nullable else f"{_quote(c)} IN ({', '.join(_sql_string(v) for v in choices[c])})"
                                    for c in self.columns if kinds[c] == "choice"]
            checked = [(_quote(c), c in nullable, values.date_ok if kinds[c] == "date" else values.stored_instant_ok)
                       for c in self.columns if kinds[c] in ("date", "instant")]
            self.text_at, self.ok_at = len(self.key), len(self.key) + 1
            self.checked = [(self.ok_at + 1 + n, nullable_, ok) for n, (_c, nullable_, ok) in enumerate(checked)]
            self.select = ", ".join([self.order, text, " AND ".join(conditions), *(c for c, _n, _ok in checked)])
        else:
            self.select = ", ".join(_iso_sql(_quote(c)) if kinds[c] == "instant" else _quote(c) for c in self.columns)
        checks = []
        for position, column in enumerate(self.columns):
            kind = kinds[column]
            if kind == "date":
                checks.append((position, column in nullable, values.date_ok))
            elif kind == "instant":
                checks.append((position, column in nullable, values.instant_ok))
            elif kind == "choice":
                checks.append((position, column in nullable, frozenset(choices[column]).__contains__))
            elif kind == "float":
                checks.append((position, column in nullable, lambda v: type(v) in (float, int)))
            elif kind == "bool":
                checks.append((position, column in nullable, lambda v: type(v) is int and v in (0, 1)))
            elif kind == "integer":
                checks.append((position, column in nullable, lambda v: type(v) in (int, str)))
        self.checks = checks
        self.rows: Iterator[tuple] | None = None
        self.pending: deque[tuple] = deque()
        self.count = 0
        self.first: tuple | None = None
        self.last: tuple | None = None
        self.claims: dict[tuple, tuple] = {}

    # Streams of rows

    def start(self, connection: sqlite3.Connection, key: tuple) -> None:
        """Stream the rows from ``key`` (the first this part's events record) on, by key."""
        marks = ", ".join("?" * len(self.key))
        cursor = connection.execute(
            f"SELECT {self.select} FROM {_quote(self.name)} WHERE ({self.order}) >= ({marks}) ORDER BY {self.order}",
            key,
        )
        self.rows = _stream(cursor)
        self.first = key

    def fetch(self) -> tuple | None:
        row = next(self.rows, None)
        if row is not None:
            self.count += 1
            self.last = tuple(row[p] for p in self.key_positions) if self.mode == "values" else row[:len(self.key)]
        return row

    # Records

    def readable(self, row: tuple) -> None:
        for position, nullable, ok in self.checks:
            value = row[position]
            if value is None:
                if not nullable:
                    raise Unusual(f"{self.name}: a null value")
            elif not ok(value):
                raise Unusual(f"{self.name}: a value SQLAlchemy would not read back")

    def values_of(self, record: Any) -> tuple:
        """A parsed record's values in column order; it must have exactly the table's fields."""
        if type(record) is not dict or len(record) != self.width:
            raise Unusual(f"{self.name}: a record with other fields")
        try:
            return self.claim(record)
        except KeyError:
            raise Unusual(f"{self.name}: a record with other fields") from None

    def key_of(self, values: tuple) -> tuple:
        return tuple(values[p] for p in self.key_positions)

    def take_text(self, payload: str, at: int) -> tuple | None:
        """The row whose canonical JSON stands at ``payload[at:]``: pending first, then up to LOOKAHEAD more."""
        pending, text_at = self.pending, self.text_at
        for index, row in enumerate(pending):
            if payload.startswith(row[text_at], at):
                del pending[index]
                return row
        for _ in range(LOOKAHEAD):
            row = self.fetch()
            if row is None:
                return None
            if payload.startswith(row[text_at], at):
                return row
            pending.append(row)
        return None

    def accept(self, row: tuple) -> None:
        """A matched row (text mode): its stored values must read back as the JSON says."""
        if not row[self.ok_at]:
            raise Unusual(f"{self.name}: a value SQLAlchemy would not read back")
        for position, nullable, ok in self.checked:
            value = row[position]
            if value is None:
                if not nullable:
                    raise Unusual(f"{self.name}: a null value")
            elif not ok(value):
                raise Unusual(f"{self.name}: a value SQLAlchemy would not read back")

    def give_back(self, rows: list[tuple]) -> None:
        """Rows taken for an event that will be compared another way: back, in key order."""
        width = len(self.key)
        merged = sorted([*self.pending, *rows], key=lambda row: row[:width])
        self.pending = deque(merged)

    def match_records(self, connection: sqlite3.Connection, records: list) -> None:
        """A parsed event's records of this table: each must match its row."""
        if self.mode == "keyed":
            for record in records:
                values = self.values_of(record)
                key = self.key_of(values)
                if key in self.claims:
                    raise Unusual(f"{self.name}: a row recorded twice")
                self.claims[key] = values
            return
        claimed = [self.values_of(record) for record in records]
        if self.rows is None:
            try:
                self.start(connection, min(self.key_of(values) for values in claimed))
            except TypeError:
                raise Unusual(f"{self.name}: keys of different types") from None
        if self.mode == "text":
            for values in claimed:
                text = _canonical(dict(zip(self.columns, values, strict=True)))
                row = self.take_text(text, 0)
                if row is None or len(row[self.text_at]) != len(text):
                    raise Unusual(f"{self.name}: rows and records differ")
                self.accept(row)
            return
        if len(claimed) > 1:
            try:
                claimed.sort(key=self.key_of)
            except TypeError:
                raise Unusual(f"{self.name}: keys of different types") from None
        for values in claimed:
            row = self.pending.popleft() if self.pending else self.fetch()
            if row != values:
                raise Unusual(f"{self.name}: rows and records differ")
            self.readable(row)

    def summary(self) -> dict[str, Any]:
        if self.pending:
            raise Unusual(f"{self.name}: rows no event of this part records")
        return {"count": self.count, "first": self.first, "last": self.last,
                "claims": [[list(k), list(v)] for k, v in self.claims.items()]}


def _stream(cursor: sqlite3.Cursor) -> Iterator[tuple]:
    while True:
        batch = cursor.fetchmany(1000)
        if not batch:
            return
        yield from batch


# One part of the chain -------------------------------------------------------------------------


class _Part:
    """Events ``first``..``last`` and the rows they record."""

    def __init__(self, connection: sqlite3.Connection, plan: dict[str, Any]) -> None:
        self.connection = connection
        self.values = _Values()
        self.tables = {spec["name"]: _Table(spec, self.values) for spec in plan["tables"]}
        self.text_tables = {name: t for name, t in self.tables.items() if t.mode == "text"}
        self._frames: dict[str, bool] = {}

    def _frame_ok(self, text: str, opening: bool) -> bool:
        """The payload around ``"rows":{...}``: other keys (none named rows), valid JSON."""
        ok = self._frames.get(text)
        if ok is None:
            if text == ("{" if opening else "}"):
                ok = True
            else:
                try:
                    document = json.loads(text[:-1] + "}" if opening else "{" + text[1:])
                    ok = (text.endswith(",") if opening else text.startswith(",")) and type(document) is dict \
                        and "rows" not in document
                except (ValueError, RecursionError):
                    ok = False
            if len(self._frames) < 10_000:
                self._frames[text] = ok
        return ok

    def match_text(self, payload: str) -> bool:
        """Match the payload's records against the rows' texts, as it stands; False (and
        nothing taken) if this event must be parsed instead."""
        start = payload.find('"rows":{')
        if start < 1 or not self._frame_ok(payload[:start], True) or _CONTROL.search(payload):
            return False
        taken: list[tuple[_Table, tuple]] = []
        seen: set[str] = set()
        at = start + 8
        try:
            while payload[at] != "}":
                if payload[at] != '"':
                    raise IndexError
                end = payload.find('":[', at + 1)
                name = payload[at + 1:end]
                table = self.text_tables.get(name)
                if end < 0 or table is None or name in seen or table.rows is None:
                    raise IndexError
                seen.add(name)
                at = end + 3
                if payload[at] != "]":
                    while True:
                        row = table.take_text(payload, at)
                        if row is None:
                            raise IndexError
                        taken.append((table, row))
                        at += len(row[table.text_at])
                        if payload[at] == ",":
                            at += 1
                            continue
                        if payload[at] != "]":
                            raise IndexError
                        break
                at += 1
                if payload[at] == ",":
                    at += 1
                    if payload[at] != '"':
                        raise IndexError
            if not self._frame_ok(payload[at + 1:], False):
                raise IndexError
        except IndexError:
            by_table: dict[_Table, list[tuple]] = {}
            for table, row in taken:
                by_table.setdefault(table, []).append(row)
            for table, rows in by_table.items():
                table.give_back(rows)
            return False
        for table, row in taken:
            table.accept(row)
        return True

    def match_parsed(self, seq: int, payload: str) -> None:
        """The event's records, parsed, as :func:`tracker.integrity.full_verify` reads them."""
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
            if records:
                table.match_records(self.connection, records)

    def scan(self, first: int, last: int, anchor: str | None) -> dict:
        """Check events ``first``..``last`` and the rows they record; a summary for :func:`join`."""
        values = self.values
        heads: dict[tuple[str, str], str] = {}
        cursor = self.connection.execute(
            "SELECT seq, recorded_at, actor, action, payload, prev_hash, hash FROM event WHERE seq BETWEEN ? AND ? "
            "ORDER BY seq",
            (first, last),
        )
        expected = first
        previous_hash = previous_at = None
        first_prev = first_at = None
        anchor_seq = None
        sha256 = hashlib.sha256
        instants: dict[str, str] = {}
        for seq, stored_at, actor, action, payload, prev_hash, stored_hash in _stream(cursor):
            if seq != expected or type(payload) is not str or type(prev_hash) is not str:
                raise Unusual(f"event {seq}: not as tracker writes events")
            if previous_hash is None:
                first_prev, first_at = prev_hash, stored_at
            elif prev_hash != previous_hash or stored_at < previous_at:
                raise Unusual(f"event {seq}: does not follow the one before")
            at = instants.get(stored_at)
            if at is None:
                if not values.stored_instant_ok(stored_at):
                    raise Unusual(f"event {seq}: recorded_at")
                at = stored_at[:10] + "T" + stored_at[11:] + "Z"
                instants.clear()
                instants[stored_at] = at
            head = heads.get((action, actor))
            if head is None:
                if type(action) is not str or type(actor) is not str:
                    raise Unusual(f"event {seq}: action or actor")
                head = heads[(action, actor)] = (
                    f'{{"action":{json.dumps(action, ensure_ascii=False)},'
                    f'"actor":{json.dumps(actor, ensure_ascii=False)},"payload":'
                )
            if sha256(f'{prev_hash}{head}{payload},"recorded_at":"{at}","seq":{seq}}}'.encode()).hexdigest() \
                    != stored_hash:
                raise Unusual(f"event {seq}: hash")
            if stored_hash == anchor and anchor_seq is None:
                anchor_seq = seq
            if not self.match_text(payload):
                self.match_parsed(seq, payload)
            previous_hash, previous_at = stored_hash, stored_at
            expected += 1
        if expected != last + 1:
            raise Unusual("events are missing")
        return {
            "first": first, "last": last, "first_prev": first_prev, "last_hash": previous_hash,
            "first_at": first_at, "last_at": previous_at, "anchor_seq": anchor_seq,
            "tables": {name: table.summary() for name, table in self.tables.items()},
        }


def scan(connection: sqlite3.Connection, plan: dict[str, Any], first: int, last: int, anchor: str | None) -> dict:
    """Check events ``first``..``last`` and the rows they record (raises :class:`Unusual`)."""
    return _Part(connection, plan).scan(first, last, anchor)


def join(connection: sqlite3.Connection, plan: dict[str, Any], parts: list[dict]) -> dict[str, int]:
    """Check that the parts join into the whole database; the rows of each table.

    The parts cover seq 1..N one after another; each table's rows are exactly those the
    parts matched (a run of rows by key per part, one after another, as many as the table
    has), and the rows compared by key equal their records.
    """
    expected_prev, expected_first, previous_at = GENESIS, 1, None
    for part in parts:
        if part["first"] != expected_first or part["first_prev"] != expected_prev:
            raise Unusual("the parts of the chain do not join")
        if previous_at is not None and part["first_at"] < previous_at:
            raise Unusual("recorded_at goes backwards between the parts")
        expected_prev, expected_first, previous_at = part["last_hash"], part["last"] + 1, part["last_at"]
    values = _Values()
    counts = {}
    for spec in plan["tables"]:
        name = spec["name"]
        table = _Table(spec, values)
        stored = connection.execute(f"SELECT count(*) FROM {_quote(name)}").fetchone()[0]
        if table.mode != "keyed":
            matched, last = 0, None
            for part in parts:
                found = part["tables"][name]
                if not found["count"]:
                    continue
                if last is not None and not tuple(last) < tuple(found["first"]):
                    raise Unusual(f"{name}: the parts overlap")
                matched, last = matched + found["count"], found["last"]
            if matched != stored:
                raise Unusual(f"{name}: {stored} rows, {matched} recorded")
        else:
            claims: dict[tuple, tuple] = {}
            for part in parts:
                for key, record in part["tables"][name]["claims"]:
                    if tuple(key) in claims:
                        raise Unusual(f"{name}: a row recorded twice")
                    claims[tuple(key)] = tuple(record)
            if len(claims) != stored:
                raise Unusual(f"{name}: {stored} rows, {len(claims)} recorded")
            for row in connection.execute(f"SELECT {table.select} FROM {_quote(name)}"):
                if claims.get(table.key_of(row)) != row:
                    raise Unusual(f"{name}: rows and records differ")
                table.readable(row)
        counts[name] = stored
    return counts


# Running the parts ------------------------------------------------------------------------------


def run(connection: sqlite3.Connection, path: str, plan: dict[str, Any], anchor: str | None) -> dict:
    """The quick pass over the whole chain, in two processes when it is long.

    ``connection`` must be in a read transaction whose snapshot this fixes (by its first
    read). The second process must read the same snapshot: what it sees (the count and the
    last hash of the events) must be what this one sees, and the database's
    ``data_version``, read on a connection of its own before this one's first read and
    again once the second process fixed its snapshot, must not have changed (no write was
    committed in between). Otherwise this process checks everything alone.
    Raises :class:`Unusual` if anything needs the full verification.
    """
    watcher = sqlite3.connect(path, timeout=60)
    try:
        version = watcher.execute("PRAGMA data_version").fetchone()[0]
        lowest, highest, count = connection.execute("SELECT min(seq), max(seq), count(*) FROM event").fetchone()
        if count and (lowest != 1 or highest != count):
            raise Unusual("seq does not run from 1 without gaps")
        parts = None
        if count >= SPLIT_MIN_EVENTS:
            parts = _in_two(connection, watcher, version, path, plan, count, anchor)
        if parts is None:
            parts = [scan(connection, plan, 1, count, anchor)] if count else []
        rows = join(connection, plan, parts)
    finally:
        watcher.close()
    anchors = [p["anchor_seq"] for p in parts if p["anchor_seq"] is not None]
    return {"events": count, "last_hash": parts[-1]["last_hash"] if parts else GENESIS,
            "anchor_seq": min(anchors) if anchors else None, "rows": rows}


def _in_two(connection: sqlite3.Connection, watcher: sqlite3.Connection, version: int, path: str,
            plan: dict[str, Any], count: int, anchor: str | None) -> list[dict] | None:
    """Both halves at once, or None when the second process would not see what this one sees
    (a write committed meanwhile, or this connection's own uncommitted writes)."""
    middle = count // 2
    last_hash = connection.execute("SELECT hash FROM event WHERE seq = ?", (count,)).fetchone()[0]
    helper = _Helper(path, plan, middle + 1, count, anchor)
    try:
        if helper.started() != [str(count), str(last_hash)]:
            return None
        if watcher.execute("PRAGMA data_version").fetchone()[0] != version:
            return None
        first = scan(connection, plan, 1, middle, anchor)
        return [first, helper.result()]
    finally:
        helper.close()


class _Helper:
    """The second process: checks events ``first``..``last`` and reports its summary as JSON."""

    def __init__(self, path: str, plan: dict, first: int, last: int, anchor: str | None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracker.quickcheck"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        request = {"path": path, "plan": plan, "first": first, "last": last, "anchor": anchor}
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.close()

    def started(self) -> list[str]:
        """What the second process sees: its count of events and its last hash."""
        line = self.process.stdout.readline().decode(errors="replace").split()
        if not line or line[0] != "ready":
            raise Unusual("the second process did not start")
        return line[1:]

    def result(self) -> dict:
        answer = json.loads(self.process.stdout.read() or b"null")
        self.process.wait()
        if not isinstance(answer, dict) or "part" not in answer:
            raise Unusual((answer or {}).get("unusual", "the second process failed"))
        part = answer["part"]
        for found in part["tables"].values():
            for end in ("first", "last"):
                found[end] = tuple(found[end]) if found[end] is not None else None
        return part

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


def _serve() -> None:
    """``python -m tracker.quickcheck``: one part, asked for on stdin, answered on stdout."""
    import gc

    gc.disable()  # what it makes holds no cycles; collecting would be wasted work
    request = json.loads(sys.stdin.readline())
    out = sys.stdout.buffer
    connection = sqlite3.connect(request["path"], timeout=60, isolation_level=None)
    try:
        connection.execute("BEGIN")
        count = connection.execute("SELECT count(*) FROM event").fetchone()[0]  # fixes the snapshot
        last = connection.execute("SELECT hash FROM event ORDER BY seq DESC LIMIT 1").fetchone()
        out.write(f"ready {count} {last[0] if last else None}\n".encode())
        out.flush()
        try:
            part = scan(connection, request["plan"], request["first"], request["last"], request["anchor"])
            answer: dict[str, Any] = {"part": part}
        except Unusual as unusual:
            answer = {"unusual": str(unusual)}
        except (sqlite3.Error, UnicodeDecodeError, OverflowError, TypeError, ValueError, RecursionError) as error:
            answer = {"unusual": f"{type(error).__name__}: {error}"}
        out.write(json.dumps(answer).encode())
        out.flush()
    finally:
        connection.close()


if __name__ == "__main__":
    _serve()
