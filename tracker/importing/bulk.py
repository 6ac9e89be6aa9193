"""Writing many rows and their events quickly, in the caller's transaction.

A CSV import writes each line's rows with their own event, as the single commands do,
but through Core bulk inserts (SQLite) and ``COPY`` (PostgreSQL) rather than the ORM.
Each row's record in its event is spelled by the audit record's one speller,
:func:`tracker.audit.chain.speller`.
"""

from __future__ import annotations

import itertools
import operator
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Dialect, Table, func, insert, select, text
from sqlalchemy.orm import Session

from tracker.audit.canonical import canonical, payload_frame
from tracker.audit.chain import Chain, reads_everything, speller, table_spec
from tracker.errors import InputError
from tracker.store.models import DOMAIN_TABLES, Event

CHUNK_ROWS = 5_000
BULK_CACHE_KIB = 64 * 1024
# SQLite binds at most 32,766 values per statement (since 3.32); rows per bulk INSERT.
SQLITE_MAX_VARIABLES = 32_766
SQLITE_ROWS_PER_INSERT = 5_000

EVENT_TABLE = cast(Table, Event.__table__)

# The rows an event writes, by table: each row a dict of its column values.
Rows = Mapping[Table, Sequence[Mapping[str, Any]]]


class IdAllocator:
    """Ids for new rows, counted on from the largest stored one.

    Safe because writers are serialised (see :meth:`Database.write`); on PostgreSQL the
    id sequences are moved past the rows written afterwards. A session that does not read
    every row (a team role under row-level security, :func:`tracker.audit.chain.reads_everything`)
    cannot find the largest id, nor move a sequence: it draws its ids from the sequences
    themselves, in blocks (a dry run or a refused import leaves a gap, as any PostgreSQL
    insert rolled back does).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._next: dict[Table, int] = {}
        self._drawn: dict[Table, list[int]] = {}  # drawn from a sequence, not given out yet (last first)
        self._last: dict[Table, int] = {}
        self._count: dict[Table, int] = {}  # how many were drawn
        self._from_sequences = session.get_bind().dialect.name == "postgresql" and not reads_everything(session)

    def next(self, table: Table) -> int:
        if self._from_sequences:
            return self._draw(table)
        if table not in self._next:
            self._next[table] = (self.session.scalar(select(func.max(table.c.id))) or 0) + 1
        value = self._next[table]
        self._next[table] = value + 1
        return value

    def _draw(self, table: Table) -> int:
        drawn = self._drawn.setdefault(table, [])
        if not drawn:
            block = min(CHUNK_ROWS, max(1, self._count.get(table, 0)))  # doubling: few ids unused
            drawn.extend(
                reversed(
                    self.session.scalars(
                        text("SELECT nextval(pg_get_serial_sequence(:name, 'id')) FROM generate_series(1, :n)"),
                        {"name": table.name, "n": block},
                    ).all()
                )
            )
            self._count[table] = self._count.get(table, 0) + block
        value = drawn.pop()
        self._last[table] = value
        return value

    def last(self, table: Table) -> int | None:
        """The last id given out for ``table``, if any."""
        if self._from_sequences:
            return self._last.get(table)
        return self._next[table] - 1 if table in self._next else None

    def advance_sequences(self) -> None:
        if not self._from_sequences:  # (drawn from them: they are past every id given out)
            advance_sequences(self.session, self._next)


def advance_sequences(session: Session, tables: Iterable[Table]) -> None:
    """PostgreSQL: move each table's id sequence past its largest id (rows were inserted with ids)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:name, 'id'), MAX(id)) FROM {table.name} "
                "HAVING MAX(id) IS NOT NULL"
            ),
            {"name": table.name},
        )


def bulk_settings(session: Session) -> None:
    """SQLite: a page cache (up to 64 MiB, for this connection) that holds the indexes a
    large import updates, rather than spilling and re-reading their pages (the default
    is 2 MiB); it makes inserting 100,000 rows with their events about twice as quick."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(f"PRAGMA cache_size = -{BULK_CACHE_KIB}"))


def insert_chunk(session: Session, table: Table, rows: Sequence[Any]) -> None:
    """One bulk insert, in the session's transaction.

    ``rows`` are dicts of column values (a Core ``insert()``, executemany), or, from the
    CSV writer, tuples in the table's column order already in the form the database
    stores (see :class:`_Codec`): those go straight to the driver, as one
    ``executemany`` on SQLite and one ``COPY`` on PostgreSQL.
    """
    if not rows:
        return
    if not isinstance(rows[0], tuple):
        session.execute(insert(table), list(rows))
        return
    connection = session.connection()
    driver: Any = connection.connection.driver_connection
    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(quote(column.name) for column in table.columns)
    if connection.dialect.name == "sqlite":
        # Many rows per statement: their values are bound in one go and SQLite inserts them in
        # one step, outside Python's interpreter lock (see _Inserter).
        width = len(table.columns)
        per_statement = max(1, min(SQLITE_ROWS_PER_INSERT, SQLITE_MAX_VARIABLES // width))
        marks = "(" + ", ".join("?" * width) + ")"
        for start in range(0, len(rows), per_statement):
            part = rows[start : start + per_statement]
            driver.execute(
                f"INSERT INTO {quote(table.name)} ({columns}) VALUES {', '.join([marks] * len(part))}",
                list(itertools.chain.from_iterable(part)),
            )
        return
    if _row_security_active(session, table):  # COPY FROM is refused there: INSERT, pipelined
        marks = ", ".join(["%s"] * len(table.columns))
        with driver.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})", rows)
        return
    with driver.cursor() as cursor, cursor.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _row_security_active(session: Session, table: Table) -> bool:
    """PostgreSQL: whether row-level security applies to this session's user on ``table``
    (a team role, :mod:`tracker.team`); asked once per table and session."""
    known: dict[str, bool] = session.info.setdefault("tracker.importing.bulk.row_security", {})
    if table.name not in known:
        known[table.name] = bool(session.scalar(text("SELECT row_security_active(:name)"), {"name": table.name}))
    return known[table.name]


def _getter(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """``item -> (item[key] for key in keys)`` as a tuple, quickly."""
    if len(keys) == 1:
        key = keys[0]
        return lambda item: (item[key],)
    return operator.itemgetter(*keys)


class _Codec:
    """One table's rows for the bulk writer: the tuple the database stores, the text its event records.

    Stored values are made by hand rather than by SQLAlchemy per row, which is most of an
    import's time otherwise: each goes through its column type's own bind processor
    (memoised: dates, timestamps and vocabulary values repeat). The record of a domain
    row is spelled by :func:`tracker.audit.chain.speller`, from the row's values in
    :func:`tracker.audit.chain.table_spec` column order (the stored ones but an
    attachment's content).
    """

    def __init__(self, table: Table, dialect: Dialect, *, recorded: bool = True) -> None:
        self.table = table
        self.key = canonical(table.name)  # the table's key in a payload's rows
        self.columns = tuple(column.name for column in table.columns)
        self.values = _getter(self.columns)
        processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in table.columns]
        self.converted: list[tuple[int, Callable[[Any], Any], dict[Any, Any]]] = [
            (index, process, {}) for index, process in enumerate(processors) if process is not None
        ]
        self.record: Callable[[tuple[Any, ...]], str] = _unrecorded
        if recorded:
            spelled = speller(table).record
            audited = table_spec(table).columns
            if audited == self.columns:
                self.record = spelled
            else:
                pick = _getter([self.columns.index(name) for name in audited])
                self.record = lambda values: spelled(pick(values))

    def stored(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
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


def _unrecorded(values: tuple[Any, ...]) -> str:
    raise AssertionError("an event records no event rows")


class Writer:
    """Collects rows and their events, inserting them in chunks (parents first).

    A dry run collects and counts the same, spelling every event, and inserts nothing.
    """

    def __init__(self, session: Session, chain: Chain, *, dry_run: bool) -> None:
        self.session = session
        self.chain = chain
        self.dry_run = dry_run
        self.dialect = session.get_bind().dialect
        self.codecs: dict[Table, _Codec] = {}
        self.pending: dict[Table, list[tuple[Any, ...]]] = defaultdict(list)
        self.events: list[tuple[Any, ...]] = []
        self.counts: dict[str, int] = {table.name: 0 for table in [*DOMAIN_TABLES, EVENT_TABLE]}
        self.inserter: _Inserter | None = None
        self._frames: dict[int, tuple[Mapping[str, Any], str, str]] = {}
        event_codec = _Codec(EVENT_TABLE, self.dialect, recorded=False)
        self.stored_stamp = event_codec.stored((0, chain.recorded_at, None, None, None, None, None))[1]

    def _codec(self, table: Table) -> _Codec:
        codec = self.codecs.get(table)
        if codec is None:
            codec = self.codecs[table] = _Codec(table, self.dialect)
        return codec

    def _frame(self, extra: Mapping[str, Any]) -> tuple[str, str]:
        """:func:`tracker.audit.canonical.payload_frame` of ``extra``, once per ``extra`` (every row shares one)."""
        frame = self._frames.get(id(extra))
        if frame is None or frame[0] is not extra:
            frame = self._frames[id(extra)] = (extra, *payload_frame(extra))
        return frame[1], frame[2]

    def add(self, action: str, rows: Rows, extra: Mapping[str, Any]) -> None:
        """Rows written by one event, recorded as the single commands record them
        (:meth:`tracker.audit.chain.Chain.append`: tables by name, rows in the order given)."""
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
            tables.append(f"{codec.key}:[{','.join(records)}]")
        payload = head + ",".join(tables) + tail
        chain = self.chain
        prev_hash = chain.hash
        digest = chain.link(action, payload)
        self.events.append((chain.seq, self.stored_stamp, chain.actor, action, payload, prev_hash, digest))
        self.counts[EVENT_TABLE.name] += 1
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


_Chunk = list[tuple[Table, list[tuple[Any, ...]]]]


class _Inserter:
    """Inserts chunks of rows in a thread of its own, in order, while the caller builds the next.

    The database does most of an insert's work outside Python's interpreter lock, so the
    two overlap; the caller does not use the session meanwhile. At most two chunks wait.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.chunks: queue.Queue[_Chunk | None] = queue.Queue(maxsize=2)
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
                    insert_chunk(self.session, table, rows)
            except BaseException as error:  # handed to the caller's thread
                self.error = error

    def put(self, chunk: _Chunk) -> None:
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
