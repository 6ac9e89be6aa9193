"""``tracker verify``: the full check of the audit record, and the quick pass in front of it.

:func:`verify` runs the quick pass first (:mod:`tracker.audit.quick` on SQLite, read through
server-side cursors by :mod:`tracker.audit.quick_postgres` on PostgreSQL); when
it vouches for the whole database that is the answer, else :func:`full_verify` answers,
naming every problem. Both check the invariants named in
:data:`tracker.audit.canonical.INVARIANTS` (each declares its own list, :data:`CHECKS`
here and :data:`tracker.audit.quick.CHECKS`; a test keeps them equal), and both compare
rows with the records of their events through the one canonical spelling,
:class:`tracker.audit.canonical.Speller`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Integer, LargeBinary, String, Table, and_, func, select, tuple_, type_coerce
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from tracker.audit.canonical import (
    GENESIS,
    INVARIANTS,
    TableSpec,
    event_hash,
    iso_utc,
    read_recorded,
    spell,
)
from tracker.audit.chain import (
    CLOCK_CORRECTION,
    CLOCK_TOLERANCE,
    Chain,
    last_event,
    reads_everything,
    speller,
    table_spec,
    table_specs,
)
from tracker.audit.schema import file_problems, schema_problems, storage_problems
from tracker.errors import InputError, TrackerError
from tracker.progress import Progress, quietly
from tracker.store.models import DOMAIN_TABLES, Attachment, Event

__all__ = [
    "CHECKS",
    "SINCE_CHECKS",
    "Chain",
    "Finding",
    "VerifyResult",
    "full_verify",
    "last_event",
    "verify",
    "verify_since",
]

CHECKS = frozenset(INVARIANTS)
"""What the full check checks: every invariant."""

SINCE_CHECKS = frozenset(INVARIANTS) - {"storage-intact", "no-row-without-event"}
"""What :func:`verify_since` checks, of what was recorded after an event verified before:
the chain from it, and the rows, values and files its later events record. Not the database
file's pages (a pass over all of it), nor rows added behind the chain's back (finding those
reads every row): the full pass checks those, and everything before the event."""

T = TypeVar("T")


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
            "findings": [{"problem": f.problem, "seq": f.seq, "table": f.table, "key": f.key} for f in self.findings],
        }


def normalise_anchor(anchor: str, option: str = "--anchor") -> str:
    """A fingerprint as a report prints it: 64 hex digits (surrounding spaces and case ignored)."""
    value = anchor.strip().lower() if isinstance(anchor, str) else ""
    if not _HASH.match(value):
        raise InputError(
            f"invalid {option} {anchor!r}: give a 64-character hex fingerprint, as printed on a report "
            "or shown by `tracker log --json`"
        )
    return value


def _key(table: Table, record: Mapping[str, Any]) -> str:
    return "/".join(str(record[column.name]) for column in table.primary_key.columns)


def _read(session: Session, columns: Sequence[Any], where: Any) -> tuple[dict[str, Any] | None, str | None]:
    """One row read column by column, to name the column whose stored value cannot be read."""
    values = {}
    for column in columns:
        try:
            values[column.name] = session.execute(select(column).where(where)).scalar()
        except _UNREADABLE as error:
            message = " ".join(str(getattr(error, "orig", None) or error).split())[:200]
            return None, f"{column.name} holds a value that cannot be read ({message})"
    return values, None


# Rows are streamed in batches of this many (see :func:`_readable_rows`).
_BATCH = 10_000


def _readable_rows(
    session: Session, columns: Sequence[Any], keys: Sequence[Any], *, after: tuple[Any, ...] | None = None
) -> Iterator[tuple[Any, str | None, tuple[Any, ...] | None]]:
    """Yield (row, None, None) for every row, streamed in the order of ``keys`` (columns of
    ``columns``); a row that cannot be read (a stored value its column cannot hold) comes as
    (its values read column by column, or None; the problem; its key as stored), and the
    stream goes on after it.

    Such a value fails the whole batch it is fetched in. The rows after the last one read are
    then read again in batches of half the size, halved again while they fail, down to the
    one row that fails: finding it costs about two batches' worth of rows wherever it is (not
    a batch for each row before it in its batch), and streaming goes on after it. ``after``:
    only the rows whose key comes after it.
    """
    names = [column.name for column in columns]
    positions = [names.index(key.name) for key in keys]
    raw_keys = [key if isinstance(key.type, Integer) else type_coerce(key, String) for key in keys]
    last: tuple[Any, ...] | None = after
    size: int | None = None  # None: stream every row left; else read the next ``size`` rows
    while True:
        after = (tuple_(*keys) > tuple_(*last),) if last is not None else ()
        query = select(*columns).where(*after).order_by(*keys)
        try:
            if size is None:
                result = session.execute(query.execution_options(yield_per=_BATCH))
                try:
                    for stored in result:
                        last = tuple(stored[position] for position in positions)
                        yield stored, None, None
                finally:
                    result.close()
                return
            batch = session.execute(query.limit(size)).all()
        except _UNREADABLE:
            if size != 1:
                size = _BATCH if size is None else size // 2
                continue
            # The next row is the one that cannot be read: read it column by column.
            key = session.execute(select(*raw_keys).where(*after).order_by(*keys).limit(1)).first()
            if key is None:  # the failure was not a row's: nothing more to read
                return
            last = tuple(key)
            row, problem = _read(session, columns, and_(*(column == value for column, value in zip(keys, key))))
            yield row, problem, last
            size = None
            continue
        for stored in batch:
            last = tuple(stored[position] for position in positions)
            yield stored, None, None
        if len(batch) < size:
            return


def _table_rows(session: Session, table: Table, columns: Sequence[Any]) -> Iterator[tuple[Any, str | None, Any]]:
    """Yield (row, problem, raw key) for every row, streamed in key order.

    A row that cannot be read (a stored value its column cannot hold) is read again column
    by column and comes with a problem and its key as stored; the stream goes on after it
    (see :func:`_readable_rows`).
    """
    for row, problem, key in _readable_rows(session, columns, list(table.primary_key.columns)):
        yield row, problem, "/".join(map(str, key)) if key is not None else None


def _events(session: Session, after: int | None = None) -> Iterator[tuple[tuple[Any, ...] | None, str | None, Any]]:
    """Yield (row, problem, seq) for every event by seq (after event ``after``, if given), streamed;
    an unreadable one comes with a problem."""
    event = EVENT.c
    columns = [event.seq, event.recorded_at, event.actor, event.action, event.payload, event.prev_hash, event.hash]
    start = None if after is None else (after,)
    for row, problem, key in _readable_rows(session, columns, [event.seq], after=start):
        if key is None:
            yield tuple(row), None, row[0]
        else:
            yield (tuple(row.values()) if row else None), problem, key[0]


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


def _count(session: Session, tables: list[Table], *where: Any) -> int:
    """How many rows the tables hold (those that meet ``where``, if given), to show progress."""
    return sum(session.execute(select(func.count()).select_from(table).where(*where)).scalar() or 0 for table in tables)


def _digest(text: str) -> bytes:
    """16 bytes standing for a record's canonical text (what the full check keeps of each
    recorded row, rather than the row itself)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _recorded_text(spec: TableSpec, record: Mapping[str, Any]) -> str:
    """A parsed record in the canonical spelling of its table's rows (its values read as the
    columns' kinds read them), or a spelling no row has when its fields are not the columns'."""
    values = read_recorded(spec, record)
    if values is None:
        return "\0" + json.dumps(record, sort_keys=True, default=repr)
    try:
        return speller_of(spec.name).record(values)
    except (ValueError, TypeError, RecursionError):
        return "\0" + json.dumps(record, sort_keys=True, default=repr)


_TABLES = {table.name: table for table in DOMAIN_TABLES}
_ATTACHMENT_TABLE: Table = Attachment.__table__  # type: ignore[assignment]
EVENT: Table = Event.__table__  # type: ignore[assignment]  # a declarative model's table is a Table


def speller_of(name: str):
    return speller(_TABLES[name])


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

    A quick pass (:mod:`tracker.audit.quick`) answers when all is well; anything
    off, or merely unusual, and :func:`full_verify` answers, naming every problem. See
    :func:`full_verify` for what is checked.
    """
    anchor = normalise_anchor(anchor) if anchor is not None else None
    _require_reading_everything(session)
    quick = _quick_verify(session, anchor, progress)
    return quick if quick is not None else full_verify(session, anchor, progress)


def _require_reading_everything(session: Session) -> None:
    """On a team database (:mod:`tracker.team`) each role reads only what it may, and verify must
    read every row and event: a role below tracker_confidential is refused at once, rather than
    told that the rows it cannot see are missing."""
    if not reads_everything(session):
        raise TrackerError(
            "verify reads every row and event, and on this team database your role may not: it needs "
            "tracker_confidential (or tracker_admin); ask a team admin to run `tracker team grant LOGIN "
            "tracker_confidential`"
        )


def _quick_verify(session: Session, anchor: str | None, progress: Progress = quietly) -> VerifyResult | None:
    """The quick pass's result when it vouches for the whole database, else None."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        summary = _quick_postgres(session, anchor, progress)
    elif dialect == "sqlite":
        summary = _quick_sqlite(session, anchor, progress)
    else:
        summary = None
    if summary is None:
        return None
    if anchor is not None and summary["anchor_seq"] is None:
        return None
    attachments, bad = _attachments(session)
    if bad or _structure(session, storage=summary.get("beside")):
        return None
    return VerifyResult(
        events=summary["events"],
        rows=sum(summary["rows"].values()),
        attachments=attachments,
        last_hash=summary["last_hash"],
        anchor=anchor,
        anchor_seq=summary["anchor_seq"],
    )


def _quick_postgres(session: Session, anchor: str | None, progress: Progress) -> dict[str, Any] | None:
    """The quick pass's summary on PostgreSQL (:mod:`tracker.audit.quick_postgres`), None if it stands aside."""
    import psycopg

    from tracker.audit import quick, quick_postgres

    connection = session.connection().connection.driver_connection
    if not isinstance(connection, psycopg.Connection):
        return None
    try:
        return quick_postgres.run(connection, quick_plan(), anchor, progress)
    except (
        quick.Unusual,
        psycopg.Error,
        UnicodeDecodeError,
        ValueError,
        TypeError,
        OverflowError,
        RecursionError,
        OSError,
    ):
        return None


def _quick_sqlite(session: Session, anchor: str | None, progress: Progress) -> dict[str, Any] | None:
    """The quick pass's summary on SQLite (:mod:`tracker.audit.quick`), None if it stands aside."""
    engine = session.get_bind()
    url = engine.engine.url
    name = url.database
    if not name or name == ":memory:":
        return None
    if name.startswith("file:"):  # a URI (a read-only reader): the quick pass opens the same file, as it does
        if not url.query.get("uri"):
            return None
        options = "&".join(f"{key}={value}" for key, value in sorted(url.query.items()) if key != "uri")
        path = f"{name}?{options}" if options else name
    else:
        from urllib.parse import quote

        path = f"file:{quote(name)}?mode=ro"
    import sqlite3

    from tracker.audit import quick

    connection = session.connection().connection.driver_connection
    if not isinstance(connection, sqlite3.Connection):
        return None
    try:
        # the file's pages and indexes checked beside the scan, on its snapshot (see _structure)
        return quick.run(connection, path, quick_plan(), anchor, progress, beside=file_problems)
    except (
        quick.Unusual,
        sqlite3.Error,
        UnicodeDecodeError,
        ValueError,
        TypeError,
        OverflowError,
        RecursionError,
        OSError,
    ):
        return None


def quick_plan() -> dict[str, Any]:
    """What :mod:`tracker.audit.quick` needs to know of the schema: the tables' specs, as plain data."""
    return {"tables": [spec.as_dict() for spec in table_specs()]}


def _structure(session: Session, storage: list[str] | None = None) -> list[Finding]:
    """The database file and its schema (see :mod:`tracker.audit.schema`); ``storage``: the file's
    problems, when they were found already (the quick pass's ``beside``)."""
    storage = storage_problems(session) if storage is None else storage
    return [Finding(problem, place="the database file") for problem in storage] + [
        Finding(problem, place="the schema") for problem in schema_problems(session)
    ]


def _differing(spec: TableSpec, values: tuple[Any, ...], recorded: Mapping[str, Any]) -> list[str]:
    """The fields in which a stored row and its record differ (in their canonical spelling)."""
    read = read_recorded(spec, recorded)
    if read is None:
        present = set(recorded)
        return sorted(present.symmetric_difference(spec.columns) or present)
    return sorted(
        column
        for column, mine, theirs in zip(spec.columns, values, read, strict=True)
        if _spelled(mine) != _spelled(theirs)
    )


def _spelled(value: Any) -> str:
    try:
        return spell(value)
    except (ValueError, TypeError):
        return repr(value)


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


def _corrects_clock(
    action: str,
    payload: str,
    seq: int,
    recorded_at: datetime,
    previous_at: datetime,
    claimed: Mapping[str, Mapping[str, Any]],
) -> bool:
    """Whether event ``seq``, stamped before the event it follows, is the one event that may
    be: a clock correction of the events before it (it names the last one's stamp and seq, and
    each table's highest id recorded by them; see :class:`tracker.store.models.ClockCorrection`),
    made because they were stamped ahead of it by more than the writer tolerates."""
    if action != CLOCK_CORRECTION or previous_at - recorded_at <= CLOCK_TOLERANCE:
        return False
    try:
        records = json.loads(payload)["rows"]["clock_correction"]
        (record,) = records
        before = json.loads(record["rows_before"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return False
    if record.get("stamped_until") != iso_utc(previous_at) or record.get("last_seq") != seq - 1:
        return False
    if not isinstance(before, dict):
        return False
    for name, highest in before.items():
        keys = claimed.get(name)
        if keys is None or highest != max((int(key) for key in keys), default=0):
            return False
    return True


def verify_since(session: Session, since: str, progress: Progress = quietly) -> VerifyResult:
    """Check only what was recorded after the event whose hash is ``since`` (one verified
    before, e.g. the last hash an earlier ``tracker verify`` printed), in time proportional to
    what came after it: :data:`SINCE_CHECKS`. The chain must still hold that event; its
    content and all before it are taken as verified."""
    since = normalise_anchor(since, option="--since-anchor")
    _require_reading_everything(session)
    result = VerifyResult(anchor=since)
    result.findings = [Finding(problem, place="the schema") for problem in schema_problems(session)]
    found = session.execute(select(EVENT.c.seq, EVENT.c.hash, EVENT.c.recorded_at).where(EVENT.c.hash == since)).first()
    if found is None:
        result.findings.append(
            Finding(
                f"anchor {since} is not in the chain: events after it were removed, or the chain was rewritten",
                place="the chain",
            )
        )
        return result
    result.anchor_seq = found.seq
    tables = {table.name: table for table in DOMAIN_TABLES}
    specs = {name: table_spec(table) for name, table in tables.items()}
    chain = _ChainCheck(result, tables, specs, None, after=(found.seq, found.hash, found.recorded_at))
    shown = progress is not quietly
    later = EVENT.c.seq > found.seq
    with progress(_count(session, [EVENT], later) if shown else 0, "Checking the chain") as advance:
        for row, unreadable, seq in _shown(_events(session, after=found.seq), advance):
            chain.read(row, unreadable, seq)
    row_findings: list[Finding] = []
    claimed = {name: entries for name, entries in chain.claimed.items() if entries}
    with progress(sum(map(len, claimed.values())) if shown else 0, "Checking the rows") as advance:
        for name, expected in claimed.items():
            row_findings += _claimed_rows(session, tables[name], specs[name], expected, result, advance)
    row_findings.extend(chain.twice)
    row_findings.sort(key=lambda f: (f.seq is None, f.seq or 0, f.table or "", f.key or ""))
    result.findings += chain.findings + row_findings
    return result


def _claimed_rows(
    session: Session,
    table: Table,
    spec: TableSpec,
    expected: dict[str, tuple[int, bytes]],
    result: VerifyResult,
    advance: Callable[[int], None],
) -> list[Finding]:
    """The stored rows of ``table`` that events recorded (``expected``: digest by key), read by
    key a batch at a time, each against its record; attachments' content against their sha256."""
    findings: list[Finding] = []
    columns = [table.columns[column] for column in spec.columns]
    keys = [table.columns[column] for column in spec.key]
    key_positions = [spec.columns.index(column) for column in spec.key]
    spelled = speller(table).record
    wanted: dict[tuple[Any, ...], str] = {}
    for key in expected:
        parts = key.split("/")
        try:
            wanted[tuple(int(p) if isinstance(c.type, Integer) else p for p, c in zip(parts, keys, strict=True))] = key
        except ValueError:
            findings.append(
                Finding("recorded by its event but missing", seq=expected[key][0], table=table.name, key=key)
            )
    ordered = list(wanted)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        where = tuple_(*keys).in_(chunk) if len(keys) > 1 else keys[0].in_([k[0] for k in chunk])
        read: list[tuple[tuple[Any, ...], tuple[Any, ...] | None, str | None]] = []  # (key, values, problem)
        try:
            for row in session.execute(select(*columns).where(where)):
                values = tuple(row)
                read.append((tuple(values[position] for position in key_positions), values, None))
        except _UNREADABLE:  # a value that cannot be read: each row of the chunk read apart
            read = []
            for key_values in chunk:
                found, problem = _read(session, columns, and_(*(c == v for c, v in zip(keys, key_values))))
                if problem is not None:
                    read.append((key_values, None, problem))
                elif found is not None and any(value is not None for value in found.values()):
                    read.append((key_values, tuple(found.values()), None))
        seen = set()
        for stored_key, stored, problem in read:
            key = wanted.get(stored_key) or "/".join(map(str, stored_key))
            seen.add(key)
            seq, digest = expected.get(key, (None, b""))
            result.rows += 1
            if problem is not None or stored is None:
                findings.append(Finding(problem or "cannot be read", seq=seq, table=table.name, key=key))
            elif digest != _digest(spelled(stored)):
                recorded = _recorded(session, _TABLES, seq, table.name, key) or {}
                fields = _differing(spec, stored, recorded)
                findings.append(
                    Finding(
                        f"differs from what its event recorded ({', '.join(fields)})",
                        seq=seq,
                        table=table.name,
                        key=key,
                    )
                )
            elif table is _ATTACHMENT_TABLE:
                result.attachments += 1
                findings += _attachment(session, key)
        for values in chunk:
            if wanted[values] not in seen:
                key = wanted[values]
                findings.append(
                    Finding("recorded by its event but missing", seq=expected[key][0], table=table.name, key=key)
                )
        advance(len(chunk))
    return findings


def _attachment(session: Session, sha256: str) -> list[Finding]:
    """One file's content against its sha256."""
    content = session.execute(
        select(type_coerce(Attachment.content, LargeBinary)).where(Attachment.sha256 == sha256)
    ).scalar()
    if not isinstance(content, bytes | memoryview) or hashlib.sha256(content).hexdigest() != sha256:
        return [Finding("content does not match its sha256", table="attachment", key=sha256)]
    return []


class _ChainCheck:
    """The chain read event by event (from the start, or on from a verified event): each event
    linked to the one before it, hashed as its content says, stamped no earlier than it (a
    clock correction excepted), its payload rows as tracker records them; what each records
    kept, as a digest per row, to match the stored rows against."""

    def __init__(
        self,
        result: VerifyResult,
        tables: Mapping[str, Table],
        specs: Mapping[str, TableSpec],
        anchor: str | None,
        *,
        after: tuple[int, str, datetime] | None = None,
    ) -> None:
        self.result, self.tables, self.specs, self.anchor = result, tables, specs, anchor
        # every row the events record: (seq, fingerprint) by table and key
        self.claimed: dict[str, dict[str, tuple[int, bytes]]] = {name: {} for name in tables}
        self.findings: list[Finding] = []
        self.twice: list[Finding] = []  # rows recorded by a second event, or stamped with another time
        self.expected_prev = GENESIS if after is None else after[1]
        self.previous_at: datetime | None = None if after is None else after[2]
        self.broken_once = False
        if after is not None:
            result.events, result.last_hash = after[0], after[1]

    def broken(self, problem: str, seq: Any) -> None:
        if not self.broken_once:
            self.findings.append(Finding(problem, seq=seq))
            self.broken_once = True

    def read(self, row: tuple[Any, ...] | None, unreadable: str | None, seq: Any) -> None:
        result, broken = self.result, self.broken
        result.events += 1
        if unreadable or row is None:
            broken(unreadable or "an event that cannot be read", seq)
            return
        seq, recorded_at, actor, action, payload, prev_hash, stored_hash = row
        stamp = iso_utc(recorded_at)
        if seq != result.events:
            broken(
                f"sequence gap: event {result.events} is missing (event {result.events - 1} is followed by {seq})",
                seq,
            )
        elif prev_hash != self.expected_prev:
            broken("prev_hash does not match the hash of the event before it", seq)
        elif event_hash(prev_hash, seq, stamp, actor, action, payload) != stored_hash:
            broken("hash does not match the event's content", seq)
        elif (
            self.previous_at is not None
            and recorded_at < self.previous_at
            and not _corrects_clock(action, payload, seq, recorded_at, self.previous_at, self.claimed)
        ):
            broken("recorded_at goes backwards along the chain", seq)
        self.expected_prev = stored_hash
        self.previous_at = recorded_at
        result.last_hash = stored_hash
        if self.anchor is not None and stored_hash == self.anchor and result.anchor_seq is None:
            result.anchor_seq = seq
        try:
            claims = _claims(json.loads(payload), self.tables)
        except (ValueError, RecursionError):
            claims = None
        if claims is None:
            broken("payload is not a list of rows as tracker records them", seq)
            return
        for name, key, record in claims:
            column = self.specs[name].recorded_at
            if column is not None and record.get(column) != stamp:
                self.twice.append(
                    Finding(
                        f"its recorded_at ({record.get(column)}) is not its event's ({stamp})",
                        seq=seq,
                        table=name,
                        key=key,
                    )
                )
            first = self.claimed[name].get(key)
            if first is not None:
                self.twice.append(Finding(f"recorded again (first by event {first[0]})", seq=seq, table=name, key=key))
                continue
            self.claimed[name][key] = (seq, _digest(_recorded_text(self.specs[name], record)))


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
    structure = _structure(session)
    tables = {table.name: table for table in DOMAIN_TABLES}
    specs = {name: table_spec(table) for name, table in tables.items()}
    chain = _ChainCheck(result, tables, specs, anchor)
    shown = progress is not quietly
    with progress(_count(session, [EVENT]) if shown else 0, "Checking the chain") as advance:
        for row, unreadable, seq in _shown(_events(session), advance):
            chain.read(row, unreadable, seq)
    claimed, chain_findings, twice = chain.claimed, chain.findings, chain.twice

    row_findings: list[Finding] = []
    with progress(_count(session, list(tables.values())) if shown else 0, "Checking the rows") as advance:
        for name, table in tables.items():
            expected = claimed[name]
            spec = specs[name]
            columns = [table.columns[column] for column in spec.columns]
            key_positions = [spec.columns.index(column) for column in spec.key]
            spelled = speller(table).record
            for row, unreadable, raw_key in _shown(_table_rows(session, table, columns), advance):
                result.rows += 1
                if unreadable:
                    entry = expected.pop(raw_key, None)
                    row_findings.append(Finding(unreadable, seq=entry[0] if entry else None, table=name, key=raw_key))
                    continue
                values = tuple(row)
                key = "/".join(str(values[position]) for position in key_positions)
                entry = expected.pop(key, None)
                if entry is None:
                    row_findings.append(Finding("no event recorded this row", table=name, key=key))
                elif entry[1] != _digest(spelled(values)):
                    recorded = _recorded(session, tables, entry[0], name, key) or {}
                    fields = _differing(specs[name], values, recorded)
                    row_findings.append(
                        Finding(
                            f"differs from what its event recorded ({', '.join(fields)})",
                            seq=entry[0],
                            table=name,
                            key=key,
                        )
                    )
            for key, (seq, _record) in expected.items():
                row_findings.append(Finding("recorded by its event but missing", seq=seq, table=name, key=key))
    result.attachments, bad = _attachments(session)
    row_findings.extend(bad)
    row_findings.extend(twice)
    row_findings.sort(key=lambda f: (f.seq is None, f.seq or 0, f.table or "", f.key or ""))
    result.findings = structure + chain_findings + row_findings
    if anchor is not None and result.anchor_seq is None:
        result.findings.append(
            Finding(
                f"anchor {anchor} is not in the chain: events after it were removed, or the chain was rewritten",
                place=f"the end of the chain (event {result.events})",
            )
        )
    return result
