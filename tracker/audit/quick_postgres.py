"""The quick pass of ``tracker verify`` on PostgreSQL: the quick pass of :mod:`tracker.audit.quick`,
reading PostgreSQL through server-side cursors.

It is the same pass, not a second definition: the events are checked, each payload written
again from the rows and compared with the stored text, or parsed and its records matched with
the rows, by :class:`tracker.audit.quick._Part`; every text is spelled by
:class:`tracker.audit.canonical.Speller`; the parts are joined by :func:`tracker.audit.quick.join`;
a long chain is shared with a second process by :func:`tracker.audit.quick.share`. What
differs is where the rows come from (:class:`Postgres`):

- the events by seq, and each table's rows in key order, each through a psycopg named
  cursor (a server-side cursor, fetched 2,000 rows at a time, the next batch fetched by a
  thread while this one is used), all open at once in the one REPEATABLE READ transaction
  of the verifying session: one snapshot, constant memory. Rows are written in the order of
  the events that record them, so key order is event order (ids drawn from a sequence);
  a table keyed by two columns (a link: its evidence, its recommendation) is read by its
  first key column and, within it, as its rows were written (``ctid``), the order of its
  event's records. Where the order is another (a link added by a later amendment), the
  records are matched with the rows around them, and beyond what the pass looks ahead it
  stands aside;
- stored values as psycopg reads them (dates, numbers, booleans already typed); an instant,
  stored in UTC without offset, is selected ``AT TIME ZONE 'UTC'`` (the instant
  :class:`tracker.store.models.UTCDateTime` reads back); a vocabulary value must be one of
  its vocabulary's;
- the second process (``python -m tracker.audit.quick_postgres``) reads this transaction's
  snapshot, exported to it (``pg_export_snapshot``), so it sees exactly what this one sees.

Everything runs inside a savepoint, rolled back when the pass stands aside, so the full
check that then runs finds the transaction (and its snapshot) as it was.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

import psycopg

from tracker.audit.canonical import GENESIS, INVARIANTS, TableSpec, iso_utc
from tracker.audit.quick import (
    SPLIT_MIN_EVENTS,
    Unusual,
    _choice,
    _Helper,
    _or_null,
    _quietly,
    _Table,
    chunks,
    join,
    scan_source,
    serve,
    share,
)

CHECKS = frozenset(INVARIANTS)
"""What the PostgreSQL quick pass checks before it vouches for a database: what
:data:`tracker.audit.quick.CHECKS` says, the same pass (on PostgreSQL the server keeps its own
pages whole: ``storage-intact`` is the full check's too, which finds nothing to run there)."""

# Rows fetched from the server per round trip, for each cursor.
BATCH = 2_000
# The largest integer PostgreSQL's bigint holds (a key outside it matches no row).
_BIGINT = 2**63 - 1


# A row's place in its table's reading order, as one text (compared as text, in that order):
# its first key column, then its ctid (block and line), each as fixed-width hexadecimal.
_PLACE = (
    "lpad(to_hex({first}::bigint), 16, '0') || lpad(to_hex((ctid::text::point)[0]::bigint), 8, '0') "
    "|| lpad(to_hex((ctid::text::point)[1]::int), 4, '0')"
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column(spec: TableSpec, column: str) -> str:
    """A column as the pass selects it: an instant (stored in UTC without offset, and read so by
    :class:`tracker.store.models.UTCDateTime`) as that instant, which psycopg reads as an aware datetime."""
    name = _quote(column)
    return f"{name} AT TIME ZONE 'UTC' AS {name}" if spec.kinds[column] == "instant" else name


class _Values:
    """Stored values as psycopg reads them, read again as SQLAlchemy reads them: a vocabulary
    value must be one of its vocabulary's. Other kinds (text, integers, floats, booleans,
    dates, instants selected as such) are read by psycopg as they are."""

    def readers(self, spec: TableSpec) -> dict[str, Callable[[Any], Any]]:
        readers = {}
        for column, kind in spec.kinds.items():
            if kind == "choice":
                read = _choice(frozenset(spec.choices[column]))
                readers[column] = _or_null(read) if column in spec.nullable else read
        return readers


_VALUES = _Values()


class Postgres:
    """A PostgreSQL database read through ``connection``, in its current transaction."""

    def __init__(self, connection: psycopg.Connection, advance: Callable[[int], None] | None = None) -> None:
        self.connection = connection
        self.values = _VALUES
        self.advance = advance
        self.cursors: list[psycopg.ServerCursor] = []
        self.names = itertools.count(1)
        # fetches the next batch of each cursor while this thread works (psycopg waits for the
        # server without holding the GIL): the server's work and the pass's overlap
        self.fetcher = ThreadPoolExecutor(1, thread_name_prefix="tracker-quick-fetch")
        self.pending: set[Future] = set()

    def _stream(self, query: str, parameters: tuple = ()) -> Iterator[tuple]:
        """The rows of ``query``, a batch at a time, the next batch fetched while this one is used."""
        cursor = self.connection.cursor(name=f"tracker_quick_{next(self.names)}")
        self.cursors.append(cursor)
        cursor.execute(query, parameters)
        return self._prefetched(cursor)

    def _prefetched(self, cursor: psycopg.ServerCursor) -> Iterator[tuple]:
        fetch, pending = self.fetcher.submit, self.pending
        batch = fetch(cursor.fetchmany, BATCH)
        pending.add(batch)
        while rows := batch.result():
            pending.discard(batch)
            batch = fetch(cursor.fetchmany, BATCH)
            pending.add(batch)
            yield from rows
        pending.discard(batch)

    def _one(self, query: str, parameters: tuple = ()) -> tuple | None:
        with self.connection.cursor() as cursor:
            return cursor.execute(query, parameters).fetchone()

    def close(self) -> None:
        """Close every cursor opened so far (once the batches being fetched have come)."""
        for batch in self.pending:
            with contextlib.suppress(Exception):
                batch.result()
        self.pending.clear()
        for cursor in self.cursors:
            with contextlib.suppress(psycopg.Error):
                cursor.close()
        self.cursors.clear()

    def events(self, first: int, last: int) -> Iterator[tuple]:
        rows = self._stream(
            "SELECT seq, recorded_at AT TIME ZONE 'UTC', actor, action, payload, prev_hash, hash FROM event "
            "WHERE seq BETWEEN %s AND %s ORDER BY seq",
            (first, last),
        )
        advance = self.advance
        if advance is None:
            return rows
        return _shown(rows, advance)

    def _select(self, table: _Table) -> str:
        return ", ".join(_column(table.spec, column) for column in table.columns)

    def rows(self, table: _Table, position: Any) -> Iterator[tuple]:
        name, first = _quote(table.name), _quote(table.key[0])
        if len(table.key) == 1:
            return self._stream(
                f"SELECT {self._select(table)}, {first} FROM {name} WHERE {first} >= %s ORDER BY {first}",
                (position,),
            )
        # by the first key column (the parent's), then as written: a parent's rows in the order of its record
        place = _PLACE.format(first=first)
        return self._stream(
            f"SELECT {self._select(table)}, {place} FROM {name} "
            f"WHERE {first} >= %s AND ({first}, ctid) >= (%s, %s::tid) ORDER BY {first}, ctid",
            (parent := int(position[:16], 16), parent, f"({int(position[16:24], 16)},{int(position[24:], 16)})"),
        )

    def locate(self, table: _Table, key: tuple) -> Any:
        for column, value in zip(table.key, key, strict=True):
            kind = table.spec.kinds[column]
            if kind == "integer" and not (type(value) is int and 0 <= value <= _BIGINT):
                return None  # (a negative id: the full check decides)
            if kind != "integer" and not (type(value) is str and "\0" not in value):
                return None
        where = " AND ".join(f"{_quote(k)} = %s" for k in table.key)
        first = _quote(table.key[0])
        place = first if len(key) == 1 else _PLACE.format(first=first)
        found = self._one(f"SELECT {place} FROM {_quote(table.name)} WHERE {where}", key)
        return found[0] if found is not None else None

    def count(self, name: str) -> int:
        found = self._one(f"SELECT count(*) FROM {_quote(name)}")
        return found[0] if found else 0

    def everything(self, table: _Table) -> Iterator[tuple]:
        return self._stream(f"SELECT {self._select(table)} FROM {_quote(table.name)}")

    def stamp(self, stored: Any) -> str:
        if type(stored) is not datetime or stored.tzinfo is None:
            raise Unusual("an event's recorded_at SQLAlchemy would not read back as recorded")
        return iso_utc(stored)


def _shown(rows: Iterator[tuple], advance: Callable[[int], None], step: int = 10_000) -> Iterator[tuple]:
    done = 0
    for row in rows:
        yield row
        done += 1
        if done == step:
            advance(done)
            done = 0
    advance(done)


def run(
    connection: psycopg.Connection,
    plan: dict[str, Any],
    anchor: str | None,
    progress: Callable[[int, str], Any] = _quietly,
) -> dict:
    """The quick pass over the whole chain (see :func:`tracker.audit.quick.run`: the same summary).

    ``connection`` must be in the transaction whose snapshot is checked (REPEATABLE READ, as
    :meth:`tracker.store.database.Database.reading` opens it). A long chain is shared with a
    second process that reads the same snapshot (exported to it: ``pg_export_snapshot``), when
    this transaction has written nothing (else the other could not see it). The pass runs in a
    savepoint, released when it vouches for the database and rolled back otherwise (raising
    :class:`Unusual`, or the error that stopped it), so that the full check finds the
    transaction as it was.
    """
    with connection.cursor() as cursor:
        found = cursor.execute("SELECT count(*), min(seq), max(seq) FROM event").fetchone()
        count, lowest, highest = found if found else (0, None, None)
        snapshot = None
        if count >= SPLIT_MIN_EVENTS:
            alone = cursor.execute(
                "SELECT pg_current_xact_id_if_assigned() IS NOT NULL "
                "OR current_setting('transaction_isolation') NOT IN ('repeatable read', 'serializable')"
            ).fetchone()
            if alone is not None and not alone[0]:
                exported = cursor.execute("SELECT pg_export_snapshot()").fetchone()
                snapshot = exported[0] if exported else None
        cursor.execute("SAVEPOINT tracker_quick_pass")
    source = Postgres(connection)
    vouched = False
    try:
        if count and (lowest != 1 or highest != count):
            raise Unusual("seq does not run from 1 without gaps")
        parts: list[dict] | None = None
        if count:
            with progress(count, "Checking the chain") as advance:
                if snapshot is not None:
                    parts = _shared(connection, source, snapshot, plan, count, anchor, advance)
                if parts is None:
                    source.advance = advance
                    parts = [scan_source(source, plan, 1, count, anchor)]
        parts = parts or []
        rows = join(source, plan, parts)
        vouched = True
    finally:
        source.close()
        source.fetcher.shutdown()
        with connection.cursor() as cursor:
            if not vouched:
                cursor.execute("ROLLBACK TO SAVEPOINT tracker_quick_pass")
            cursor.execute("RELEASE SAVEPOINT tracker_quick_pass")
    anchors = [part["anchor_seq"] for part in parts if part["anchor_seq"] is not None]
    return {
        "events": count,
        "last_hash": parts[-1]["last_hash"] if parts else GENESIS,
        "anchor_seq": min(anchors) if anchors else None,
        "rows": rows,
    }


def _shared(
    connection: psycopg.Connection,
    source: Postgres,
    snapshot: str,
    plan: dict[str, Any],
    count: int,
    anchor: str | None,
    advance: Callable[[int], None],
) -> list[dict] | None:
    """The chunks of the chain shared with a second process (see :func:`tracker.audit.quick.share`);
    None when it does not start or does not see what this one sees. It connects as this
    connection did, but for a password (libpq finds one in ``PGPASSFILE`` or ``PGPASSWORD``);
    where it cannot, this process checks everything alone."""
    runs = chunks(count)
    last = source._one("SELECT hash FROM event WHERE seq = %s", (count,))
    counted: set[int] = set()

    def checked(index: int) -> None:  # a chunk is done, by either process: show it once
        if index not in counted:
            counted.add(index)
            advance(runs[index][1] - runs[index][0] + 1)

    def check(first: int, last: int) -> dict:
        try:
            return scan_source(source, plan, first, last, anchor)
        finally:
            source.close()  # this chunk's cursors

    database = {"conninfo": connection.info.dsn, "snapshot": snapshot}
    helper = _Helper("", plan, runs, anchor, checked, module=__name__, database=database)
    try:
        try:
            seen = helper.started()
        except Unusual:
            return None
        if last is None or seen != [str(count), str(last[0])]:
            return None
        return share(helper, runs, check, checked)
    finally:
        helper.close()


_SNAPSHOT = re.compile(r"^[0-9A-Fa-f-]+$")


def _open(request: dict[str, Any]) -> tuple[Postgres, int, str | None, Callable[[], None]]:
    """The second process's database: the first one's snapshot, read only."""
    database = request["database"]
    if not _SNAPSHOT.match(database["snapshot"]):
        raise ValueError("not a snapshot")
    connection = psycopg.connect(database["conninfo"])
    connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    connection.read_only = True
    connection.execute(f"SET TRANSACTION SNAPSHOT '{database['snapshot']}'")
    found = connection.execute("SELECT count(*), max(seq) FROM event").fetchone()
    count = found[0] if found else 0
    last = connection.execute("SELECT hash FROM event WHERE seq = %s", (found[1] if found else 0,)).fetchone()
    source = Postgres(connection)

    def close() -> None:
        source.close()
        source.fetcher.shutdown()
        connection.close()

    return source, count, last[0] if last else None, close


if __name__ == "__main__":
    serve(_open, (psycopg.Error,))
