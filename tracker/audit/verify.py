"""The audit chain: every write appends an event whose hash covers the one before it.

``hash = sha256(prev_hash + canonical JSON of the event)`` where the event is
``{"action", "actor", "payload", "recorded_at", "seq"}``. The payload lists every domain
row the write created (attachments by their sha256, never their bytes), so
:func:`verify` can check each stored row against the event that recorded it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    and_,
    func,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy import Enum as Vocabulary
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from tracker import clock
from tracker.progress import Progress, quietly
from tracker.clock import iso_utc
from tracker.errors import InputError
from tracker.store.models import DOMAIN_TABLES, Attachment, Event, UTCDateTime

GENESIS = "0" * 64
T = TypeVar("T")


def json_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical(document: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text, dates as ISO strings."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=json_value,
        allow_nan=False,
    )


def envelope(seq: int, recorded_at: str, actor: str, action: str, payload: str) -> str:
    """The canonical JSON of an event, built around its already canonical payload."""
    return (
        f'{{"action":{json.dumps(action, ensure_ascii=False)},'
        f'"actor":{json.dumps(actor, ensure_ascii=False)},'
        f'"payload":{payload},"recorded_at":"{recorded_at}","seq":{seq}}}'
    )


def event_hash(prev_hash: str, seq: int, recorded_at: str, actor: str, action: str, payload: str) -> str:
    text = prev_hash + envelope(seq, recorded_at, actor, action, payload)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def row_record(table: Table, row: Any) -> dict[str, Any]:
    """A row as the chain records it: every column but attachment content, JSON values."""
    values = row._mapping if hasattr(row, "_mapping") else row if isinstance(row, Mapping) else None
    record = {}
    for column in table.columns:
        if column.name == "content":
            continue
        value = values[column.name] if values is not None else getattr(row, column.key)
        record[column.name] = json_value(value)
    return record


class Chain:
    """Appends events for one write transaction, in order, after the last stored one."""

    def __init__(self, session: Session, actor: str) -> None:
        self.session = session
        self.actor = actor
        last = session.execute(
            select(Event.seq, Event.hash, Event.recorded_at).order_by(Event.seq.desc()).limit(1)
        ).first()
        self.seq, self.hash = (last.seq, last.hash) if last else (0, GENESIS)
        moment = clock.now()
        # recorded_at never goes backwards along the chain, even if the clock does.
        self.recorded_at = max(moment, last.recorded_at) if last else moment
        # The envelope around each payload, but for the action, seq and payload themselves
        # (see :func:`envelope`): built once, so that appending many events is quick.
        self._actor = json.dumps(actor, ensure_ascii=False)
        self._tail = f',"recorded_at":"{iso_utc(self.recorded_at)}","seq":'
        self._heads: dict[str, str] = {}

    def append(self, action: str, rows: Mapping[str, Iterable[Any]], **extra: Any) -> Event:
        """Record ``rows`` (ORM objects or row dicts, by table name) as one event."""
        tables = {table.name: table for table in DOMAIN_TABLES}
        payload: dict[str, Any] = dict(extra)
        payload["rows"] = {
            name: [row_record(tables[name], row) for row in items]
            for name, items in rows.items()
            if items
        }
        event = self.values(action, canonical(payload))
        self.session.add(Event(**event))
        return event

    def values(self, action: str, payload: str) -> dict[str, Any]:
        """The next event as a dict of column values."""
        prev_hash = self.hash
        digest = self.link(action, payload)
        return {
            "seq": self.seq,
            "recorded_at": self.recorded_at,
            "actor": self.actor,
            "action": action,
            "payload": payload,
            "prev_hash": prev_hash,
            "hash": digest,
        }

    def link(self, action: str, payload: str) -> str:
        """Append the next event to the chain (``self.seq`` is its seq); returns its hash.

        The same hash as :func:`event_hash`, with the envelope's fixed parts built once.
        """
        head = self._heads.get(action)
        if head is None:
            head = self._heads[action] = f'{{"action":{json.dumps(action, ensure_ascii=False)},"actor":{self._actor},"payload":'
        self.seq += 1
        digest = hashlib.sha256(f"{self.hash}{head}{payload}{self._tail}{self.seq}}}".encode()).hexdigest()
        self.hash = digest
        return digest


def last_event(session: Session, as_of: datetime | None = None) -> Event | None:
    query = select(Event).order_by(Event.seq.desc()).limit(1)
    if as_of is not None:
        query = query.where(Event.recorded_at <= as_of)
    return session.scalars(query).first()


# Verification -------------------------------------------------------------------------

_HASH = re.compile(r"^[0-9a-f]{64}$")
# What reading a stored value can raise when someone wrote a value its column cannot hold
# (a date that is no date, a status outside the vocabulary...).
_UNREADABLE = (ValueError, LookupError, TypeError, ArithmeticError, StatementError)


@dataclass
class Finding:
    """One thing wrong: the first bad event (by seq), a row no event accounts for, or the anchor."""

    problem: str
    seq: int | None = None
    table: str | None = None
    key: str | None = None
    place: str | None = None

    def describe(self) -> str:
        where = self.place or (f"event {self.seq}" if self.seq is not None else "")
        if self.table:
            where = f"{where}, " if where else ""
            where += f"{self.table} row {self.key}"
        return f"{where}: {self.problem}" if where else self.problem


@dataclass
class VerifyResult:
    events: int = 0
    rows: int = 0
    attachments: int = 0
    last_hash: str = GENESIS
    anchor: str | None = None
    anchor_seq: int | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "rows": self.rows,
            "attachments": self.attachments,
            "last_hash": self.last_hash,
            "anchor": self.anchor,
            "anchor_seq": self.anchor_seq,
            "findings": [
                {"problem": f.problem, "seq": f.seq, "table": f.table, "key": f.key}
                for f in self.findings
            ],
        }


def normalise_anchor(anchor: str) -> str:
    """A fingerprint as a report prints it: 64 hex digits (surrounding spaces and case ignored)."""
    value = anchor.strip().lower() if isinstance(anchor, str) else ""
    if not _HASH.match(value):
        raise InputError(
            f"invalid --anchor {anchor!r}: give a 64-character hex fingerprint, as printed on a report "
            "or shown by `tracker log --json`"
        )
    return value


def _key(table: Table, record: Mapping[str, Any]) -> str:
    return "/".join(str(record[column.name]) for column in table.primary_key.columns)


def _read(session: Session, columns: list[Column], where: Any) -> tuple[dict[str, Any] | None, str | None]:
    """One row read column by column, to name the column whose stored value cannot be read."""
    values = {}
    for column in columns:
        try:
            values[column.name] = session.execute(select(column).where(where)).scalar()
        except _UNREADABLE as error:
            message = " ".join(str(getattr(error, "orig", None) or error).split())[:200]
            return None, f"{column.name} holds a value that cannot be read ({message})"
    return values, None


def _table_rows(session: Session, table: Table, columns: list[Column]) -> Iterator[tuple[Any, str | None, Any]]:
    """Yield (row, problem, raw key) for every row, streamed in key order.

    A row that cannot be read (a stored value its column cannot hold) is read again column
    by column and comes with a problem and its key as stored; the stream goes on after it.
    """
    key_columns = list(table.primary_key.columns)
    last = None
    while True:
        after = (tuple_(*key_columns) > tuple_(*last),) if last is not None else ()
        query = select(*columns).where(*after).order_by(*key_columns).execution_options(yield_per=10_000)
        result = None
        try:
            result = session.execute(query)
            for row in result:
                mapping = row._mapping
                last = tuple(mapping[column.name] for column in key_columns)
                yield row, None, None
            return
        except _UNREADABLE:
            pass
        finally:
            if result is not None:
                result.close()
        # The row after the last one read could not be read: read it column by column.
        after = (tuple_(*key_columns) > tuple_(*last),) if last is not None else ()
        raw_keys = [type_coerce(column, String) if not isinstance(column.type, Integer) else column
                    for column in key_columns]
        key = session.execute(select(*raw_keys).where(*after).order_by(*key_columns).limit(1)).first()
        if key is None:  # the failure was not a row's: nothing more to read
            return
        last = tuple(key)
        where = and_(*(column == value for column, value in zip(key_columns, key)))
        row, problem = _read(session, columns, where)
        yield row, problem, "/".join(map(str, key))


def _events(session: Session) -> Iterator[tuple[tuple | None, str | None, Any]]:
    """Yield (row, problem, seq) for every event by seq, streamed; an unreadable one comes with a problem."""
    columns = [Event.seq, Event.recorded_at, Event.actor, Event.action, Event.payload, Event.prev_hash, Event.hash]
    last = None
    while True:
        after = (Event.seq > last,) if last is not None else ()
        try:
            for row in session.execute(select(*columns).where(*after).order_by(Event.seq)
                                       .execution_options(yield_per=10_000)):
                last = row[0]
                yield tuple(row), None, last
            return
        except _UNREADABLE:
            # Read the next event column by column, then go on streaming after it.
            last = session.execute(select(Event.seq).where(*after).order_by(Event.seq).limit(1)).scalar()
            row, problem = _read(session, columns, Event.seq == last)
            yield (tuple(row.values()) if row else None), problem, last


def _claims(document: Any, tables: Mapping[str, Table]) -> Iterator[tuple[str, str, dict[str, Any]]] | None:
    """(table, key, record) for every row an event's payload records; None if it is malformed."""
    if not isinstance(document, dict):
        return None
    rows = document.get("rows") or {}
    if not isinstance(rows, dict):
        return None
    claims = []
    for name, records in rows.items():
        table = tables.get(name)
        if table is None:
            continue
        if not isinstance(records, list):
            return None
        for record in records:
            if not isinstance(record, dict) or any(c.name not in record for c in table.primary_key.columns):
                return None
            claims.append((name, _key(table, record), record))
    return iter(claims)


def _shown(items: Iterator[T], advance: Callable[[int], None], step: int = 1_000) -> Iterator[T]:
    """``items``, calling ``advance`` as they go (every ``step`` items, not to slow them down)."""
    done = 0
    for item in items:
        yield item
        done += 1
        if done == step:
            advance(done)
            done = 0
    advance(done)


def _count(session: Session, tables: list[Table]) -> int:
    """How many rows the tables hold (to show progress)."""
    return sum(session.execute(select(func.count()).select_from(table)).scalar() or 0 for table in tables)


def _same_json(value: Any) -> Any:
    """Values Python finds equal spelled alike: True and 1, 1.0 and 1."""
    if value.__class__ is bool:
        return int(value)
    if value.__class__ is float and value.is_integer():
        return int(value)
    return value


def _fingerprint(record: Mapping[str, Any]) -> bytes:
    """16 bytes that are the same for two records exactly when they are equal (as dicts of JSON
    values): what the full verification keeps of each recorded row, not the row itself."""
    text = json.dumps({key: _same_json(value) for key, value in record.items()}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False, default=_any_json)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _any_json(value: Any) -> Any:
    return json_value(value) if isinstance(value, Enum | date) else repr(value)


def _recorded(session: Session, tables: Mapping[str, Table], seq: Any, name: str, key: str) -> dict[str, Any] | None:
    """The record of row ``key`` of table ``name`` in event ``seq``'s payload (read again)."""
    try:
        payload = session.execute(select(Event.payload).where(Event.seq == seq)).scalar()
        claims = _claims(json.loads(payload), tables) if isinstance(payload, str) else None
    except (*_UNREADABLE, RecursionError):
        return None
    found = None
    for claim_name, claim_key, record in claims or ():
        if claim_name == name and claim_key == key:
            found = record  # the last one counts, as when the events were read
    return found


def verify(session: Session, anchor: str | None = None, progress: Progress = quietly) -> VerifyResult:
    """Recompute the chain, match every domain row to its event, check attachments.

    On SQLite a quick pass (:mod:`tracker.audit.quick`) answers when all is well; anything
    off, or merely unusual, and :func:`full_verify` answers, naming every problem. See
    :func:`full_verify` for what is checked.
    """
    anchor = normalise_anchor(anchor) if anchor is not None else None
    quick = _quick_verify(session, anchor, progress)
    return quick if quick is not None else full_verify(session, anchor, progress)


def _quick_verify(session: Session, anchor: str | None, progress: Progress = quietly) -> VerifyResult | None:
    """The quick pass's result when it vouches for the whole database, else None."""
    bind = session.get_bind()
    path = bind.url.database if bind.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    import sqlite3

    from tracker.audit import quick

    connection = session.connection().connection.driver_connection
    try:
        summary = quick.run(connection, path, quick_plan(), anchor, progress)
    except (quick.Unusual, sqlite3.Error, UnicodeDecodeError, ValueError, TypeError, OverflowError,
            RecursionError, OSError):
        return None
    if anchor is not None and summary["anchor_seq"] is None:
        return None
    attachments, bad = _attachments(session)
    if bad:
        return None
    return VerifyResult(events=summary["events"], rows=sum(summary["rows"].values()), attachments=attachments,
                        last_hash=summary["last_hash"], anchor=anchor, anchor_seq=summary["anchor_seq"])


# Tables whose rows are not created in the order of their keys: checked by key, not in order.
_UNORDERED = {"attachment", "recommendation_agency"}


@functools.cache
def quick_plan() -> dict[str, Any]:
    """What :mod:`tracker.audit.quick` needs to know of the schema (plain data: it imports no SQLAlchemy)."""
    tables = []
    for table in DOMAIN_TABLES:
        columns = [column for column in table.columns if column.name != "content"]
        kinds, choices = {}, {}
        for column in columns:
            kind = column.type
            if isinstance(kind, UTCDateTime):
                kinds[column.name] = "instant"
            elif isinstance(kind, Vocabulary):
                kinds[column.name] = "choice"
                choices[column.name] = list(kind.enums)
            elif isinstance(kind, Date):
                kinds[column.name] = "date"
            elif isinstance(kind, Boolean):
                kinds[column.name] = "bool"
            elif isinstance(kind, Float):
                kinds[column.name] = "float"
            elif isinstance(kind, Integer):
                kinds[column.name] = "integer"
            elif isinstance(kind, Text):
                kinds[column.name] = "longtext"  # may hold line breaks and tabs
            elif isinstance(kind, String):
                kinds[column.name] = "text"
            else:
                raise AssertionError(f"no quick check for {table.name}.{column.name} ({kind!r})")
        tables.append({
            "name": table.name,
            "columns": [column.name for column in columns],
            "key": [column.name for column in table.primary_key.columns],
            "keyed": table.name in _UNORDERED,
            "refs": {fk.parent.name: fk.column.table.name for fk in table.foreign_keys},
            "kinds": kinds,
            "choices": choices,
            "nullable": [column.name for column in columns if column.nullable],
        })
    return {"tables": tables}


def _attachments(session: Session) -> tuple[int, list[Finding]]:
    """Every attachment's content against its sha256: (how many, findings)."""
    count, findings = 0, []
    for sha256, content in session.execute(
        select(type_coerce(Attachment.sha256, String), type_coerce(Attachment.content, LargeBinary))
    ):
        count += 1
        if not isinstance(content, bytes | memoryview) or hashlib.sha256(content).hexdigest() != sha256:
            findings.append(Finding("content does not match its sha256", table="attachment", key=sha256))
    return count, findings


def full_verify(session: Session, anchor: str | None = None, progress: Progress = quietly) -> VerifyResult:
    """Recompute the chain, match every domain row to its event, check attachments.

    Without ``anchor`` this catches any edit that leaves the chain inconsistent: a
    changed, deleted, inserted or reordered event, a domain row changed, added or
    deleted behind the chain's back, an attachment whose bytes changed, a backdated
    event. It cannot tell a consistently shortened or fully recomputed chain from an
    honest one: ``anchor``, the hash of an event seen earlier (a report's fingerprint),
    catches those too, for the history up to that event.
    """
    anchor = normalise_anchor(anchor) if anchor is not None else None
    result = VerifyResult(anchor=anchor)
    tables = {table.name: table for table in DOMAIN_TABLES}
    # every row the events record: (seq, fingerprint) by table and key
    claimed: dict[str, dict[str, tuple[int, bytes]]] = {name: {} for name in tables}
    chain_findings: list[Finding] = []
    expected_prev = GENESIS
    previous_at = None
    chain_broken = False

    def broken(problem: str, seq: Any) -> None:
        nonlocal chain_broken
        if not chain_broken:
            chain_findings.append(Finding(problem, seq=seq))
            chain_broken = True

    shown = progress is not quietly
    with progress(_count(session, [Event.__table__]) if shown else 0, "Checking the chain") as advance:
        for row, unreadable, seq in _shown(_events(session), advance):
            result.events += 1
            if unreadable:
                broken(unreadable, seq)
                continue
            seq, recorded_at, actor, action, payload, prev_hash, stored_hash = row
            if seq != result.events:
                broken(f"sequence gap: event {result.events} is missing "
                       f"(event {result.events - 1} is followed by {seq})", seq)
            elif prev_hash != expected_prev:
                broken("prev_hash does not match the hash of the event before it", seq)
            elif event_hash(prev_hash, seq, iso_utc(recorded_at), actor, action, payload) != stored_hash:
                broken("hash does not match the event's content", seq)
            elif previous_at is not None and recorded_at < previous_at:
                broken("recorded_at goes backwards along the chain", seq)
            expected_prev = stored_hash
            previous_at = recorded_at
            result.last_hash = stored_hash
            if anchor is not None and stored_hash == anchor and result.anchor_seq is None:
                result.anchor_seq = seq
            try:
                claims = _claims(json.loads(payload), tables)
            except (ValueError, RecursionError):
                claims = None
            if claims is None:
                broken("payload is not a list of rows as tracker records them", seq)
                continue
            for name, key, record in claims:
                claimed[name][key] = (seq, _fingerprint(record))

    row_findings: list[Finding] = []
    with progress(_count(session, list(tables.values())) if shown else 0, "Checking the rows") as advance:
        for name, table in tables.items():
            expected = claimed[name]
            columns = [column for column in table.columns if column.name != "content"]
            for row, unreadable, raw_key in _shown(_table_rows(session, table, columns), advance):
                result.rows += 1
                if unreadable:
                    entry = expected.pop(raw_key, None)
                    row_findings.append(Finding(unreadable, seq=entry[0] if entry else None, table=name, key=raw_key))
                    continue
                record = row_record(table, row)
                key = _key(table, record)
                entry = expected.pop(key, None)
                if entry is None:
                    row_findings.append(Finding("no event recorded this row", table=name, key=key))
                elif entry[1] != _fingerprint(record):
                    recorded = _recorded(session, tables, entry[0], name, key) or {}
                    fields = sorted(k for k in set(record) | set(recorded) if record.get(k) != recorded.get(k))
                    row_findings.append(
                        Finding(f"differs from what its event recorded ({', '.join(fields)})",
                                seq=entry[0], table=name, key=key)
                    )
            for key, (seq, _record) in expected.items():
                row_findings.append(Finding("recorded by its event but missing", seq=seq, table=name, key=key))
    result.attachments, bad = _attachments(session)
    row_findings.extend(bad)
    row_findings.sort(key=lambda f: (f.seq is None, f.seq or 0, f.table or "", f.key or ""))
    result.findings = chain_findings + row_findings
    if anchor is not None and result.anchor_seq is None:
        result.findings.append(Finding(
            f"anchor {anchor} is not in the chain: events after it were removed, or the chain "
            "was rewritten", place=f"the end of the chain (event {result.events})",
        ))
    return result
