"""Engines: where a database is, how to connect to it, and what its driver's errors mean.

SQLite (the default, one file) and PostgreSQL (psycopg 3) run the same code. Every
connection's settings (SQLite pragmas, the busy timeout) are made here, for the
application's sessions and for migrations alike.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from tracker.errors import DatabaseUnavailable, InputError, TrackerError

DEFAULT_PATH = "tracker.db"
ENV_URL = "TRACKER_DATABASE_URL"
BUSY_TIMEOUT_MS = 60_000
"""How long a writer waits for another writer's lock (SQLite's busy timeout, PostgreSQL's
``lock_timeout``) before it gives up with exit 1."""
WAIT_NOTICE_S = 3
"""After this long a writer still waiting for the lock says so (see ``Database(notice=...)``)."""
IDLE_IN_TRANSACTION_MS = 60_000
"""PostgreSQL ends a tracker session that sits inside a transaction doing nothing for this long
(a suspended laptop mid-import), so that its lock does not block the team."""
# Any fixed number: the PostgreSQL advisory lock that serialises appends to the chain.
CHAIN_LOCK_KEY = 7_310_252_019


class Named(Protocol):
    """What error messages need of a database: how to name it to the user."""

    @property
    def display(self) -> str: ...


def resolve_url(given: str | None = None) -> str:
    """``--db``, else ``TRACKER_DATABASE_URL``, else ``./tracker.db``; a plain path is SQLite."""
    value = given or os.environ.get(ENV_URL) or DEFAULT_PATH
    if "://" not in value:
        return URL.create("sqlite", database=str(Path(value).expanduser())).render_as_string()
    # Errors about a URL never quote it: it may hold a password.
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise InputError(f"invalid database URL: {_URL_FORM}") from None
    if "@" in (url.host or ""):
        raise InputError(f"invalid database URL (its host contains '@'): {_URL_FORM}")
    try:
        (url.host or "").encode("idna")
    except UnicodeError:
        raise InputError(f"invalid database URL (its host is not a host name): {_URL_FORM}") from None
    if url.get_backend_name() != "sqlite" and "@" in (url.database or ""):  # a password's unencoded '@' and '/'
        raise InputError(f"invalid database URL (its database name contains '@'): {_URL_FORM}")
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise InputError(f"unsupported database {url.get_backend_name()!r}: use a SQLite path or a postgresql:// URL")
    return url.render_as_string(hide_password=False)


_URL_FORM = (
    "write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE, with any '@', ':', '/' or '%' "
    "in the user name or password written as %40, %3A, %2F or %25"
)
# scheme://user:PASSWORD@host: a password given unencoded may hold any character ('@', '/',
# ':', '#', spaces, line breaks), and a URL parses at its first '@' (the rest of the password
# becoming host and database, where a rendered URL writes any '@' as %40). So the password is
# taken to run to the text's last '@' or '%40': masking a little too much (text after the URL,
# up to another '@') is better than too little. The user name, as SQLAlchemy reads it, holds no
# ':' or '/'.
_PASSWORD_IN_URL = re.compile(r"(\w[\w+.-]*://[^:/]*):.*(?:@|%40)", re.DOTALL)


def mask(text: str) -> str:
    """``text`` with the password of any URL in it hidden, for every message and log."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", text)


def copy_sqlite(source_path: Path, destination: Path) -> None:
    """Copy a live SQLite database with the online backup API (one consistent snapshot).

    The copy is written to a temporary file beside ``destination`` and then linked into
    place, so a failed or interrupted backup never leaves a partial file at
    ``destination``, and an existing file there (or a symlink) is never overwritten.
    """
    import tempfile

    try:
        handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    except OSError as error:
        raise TrackerError(f"cannot write a backup in {destination.parent}: {error.strerror}") from None
    os.close(handle)
    try:
        from urllib.parse import quote

        source = sqlite3.connect(
            f"file:{quote(str(Path(source_path).absolute()))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            target = sqlite3.connect(temporary)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
            finally:
                target.close()
        finally:
            source.close()
        os.link(temporary, destination)
    except FileExistsError:
        raise InputError(f"{destination} already exists: choose a new path for the backup") from None
    except (OSError, sqlite3.Error) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise TrackerError(f"the backup to {destination} failed ({reason}); nothing was written there") from None
    finally:
        os.unlink(temporary)


class Retry(Exception):
    """A write transaction lost a race with another writer: run it again from the start."""


def lock_chain(session: Session) -> None:
    """PostgreSQL: one writer at a time appends to the chain (held until commit or rollback)."""
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})


def begin_sqlite(connection, *, write: bool) -> None:
    """SQLite: a write transaction takes the write lock at once, so two writers never
    both read the chain's tip and then race to append after it."""
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextlib.contextmanager
def translate_errors(database: Named, *, retryable: bool = False) -> Iterator[None]:
    """Turn driver errors into the library's errors, with the password masked."""
    try:
        yield
    except IntegrityError as error:
        message = str(error.orig)
        if retryable and any(key in message for key in ("prev_hash", "pk_event", "event.seq")):
            raise Retry() from error
        raise TrackerError(
            f"the database {database.display} refused the write ({mask(_first_line(error))}); nothing was written"
        ) from error
    except OperationalError as error:
        message = _first_line(error)
        if retryable and ("could not serialize" in message or "deadlock" in message):
            raise Retry() from error
        if "database is locked" in message or "lock timeout" in message:
            raise DatabaseUnavailable(
                f"another writer held {database.display} for over {BUSY_TIMEOUT_MS // 1000} s; nothing was "
                "written: try again when it is done"
            ) from error
        raise DatabaseUnavailable(f"cannot use the database {database.display}: {mask(message)}") from error
    except DBAPIError as error:
        message = _first_line(error)
        if retryable and ("could not serialize" in message or "deadlock" in message):
            raise Retry() from error
        raise DatabaseUnavailable(f"database error on {database.display}: {mask(message)}") from error


def _first_line(error: DBAPIError) -> str:
    """The driver's first line only: SQLAlchemy's text adds the statement and its parameters,
    which may hold anything stored (confidential evidence included)."""
    lines = str(error.orig).strip().splitlines() if error.orig is not None else []
    return lines[0] if lines else type(error.orig or error).__name__


def read_only_url(path: Path) -> URL:
    """The URL that opens the SQLite file at ``path`` for reading only.

    Nothing is written to it, not even the journal mode, so that reading works on a
    read-only folder or mount and leaves a backup copy byte for byte as it was. In a folder
    this process cannot write to, where SQLite could not make the ``-shm`` file that reading
    a WAL database needs, and when no ``-wal`` file is there (so the file holds
    everything), the file is opened as immutable.
    """
    from urllib.parse import quote

    absolute = path.absolute()
    query = {"mode": "ro", "uri": "true"}
    wal = absolute.with_name(absolute.name + "-wal")
    if not os.access(absolute.parent, os.W_OK) and not wal.exists():
        query["immutable"] = "1"
    return URL.create("sqlite", database=f"file:{quote(str(absolute))}", query=query)


_WAL_HEADER = 32  # bytes: magic, version, page size, checkpoint sequence, salt-1, salt-2, checksum
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_DAMAGED = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def check_wal(path: Path) -> None:
    """Refuse a ``-wal`` file beside the SQLite database at ``path`` that does not belong to it.

    On opening a database SQLite applies every frame of the write-ahead log beside it that
    passes its own check: a frame carries the salts of its log's header (new ones each time
    the log starts over) and a checksum running through the frames before it. That ties the
    frames to their log, not the log to the database: the log of another database, or an
    older log of this one (copied, or left by a writer killed before its checkpoint), passes
    it, and its pages silently replace the file's own (rows vanish; even a log of another
    page size is applied). The chain ties them: the file holds what was checkpointed, the log
    what was written since, and events are only ever appended. So the last event the file
    alone holds must still be there, unchanged, with the log applied, and the events after it
    must follow it without a gap; and the log's pages must be the file's size. This reads a
    few pages, and only when a log with frames is there. Raises
    :class:`tracker.errors.DatabaseUnavailable` (nothing read, nothing written: the log is
    not applied, so no checkpoint folds it into the file); a file the check cannot read
    alone (no tracker schema yet, a checkpoint cut short) is left to SQLite.
    """
    wal = path.with_name(path.name + "-wal")
    try:
        # (the log only: closing a descriptor of the database file itself would drop every lock
        # this process's SQLite connections hold on it)
        with open(wal, "rb") as file:
            head = file.read(_WAL_HEADER + 24)
    except OSError:
        return
    # No frame SQLite would apply: an empty log, or one started over (the salts of its first
    # frame, 8 bytes into it, are not the header's).
    if len(head) < _WAL_HEADER + 24 or int.from_bytes(head[0:4], "big") not in _WAL_MAGIC:
        return
    if head[16:24] != head[_WAL_HEADER + 8 : _WAL_HEADER + 16]:
        return
    problem = _wal_breaks_the_chain(path, int.from_bytes(head[8:12], "big"))
    if problem is not None:
        raise DatabaseUnavailable(
            f"the write-ahead log {wal} does not belong to {path} ({problem}): it is another database's log "
            f"or an older one of this database, whose pages would replace the file's; nothing was read or "
            f"written: move {wal.name} away to use the file as it is, or restore a backup"
        )


def _wal_breaks_the_chain(path: Path, page_size: int) -> str | None:
    """What the log beside ``path``, of pages of ``page_size`` bytes, does to the chain the file
    alone holds (see :func:`check_wal`)."""
    from urllib.parse import quote

    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    try:
        alone = sqlite3.connect(f"{uri}&immutable=1", uri=True)  # immutable: the file, without its log
        try:
            last = alone.execute("SELECT seq, hash FROM event ORDER BY seq DESC LIMIT 1").fetchone()
            file_page_size = alone.execute("PRAGMA page_size").fetchone()[0]
        finally:
            alone.close()
    except sqlite3.Error:
        return None
    if last is None:
        return None
    if page_size != file_page_size:
        return f"its pages are of {page_size} bytes, the database's of {file_page_size}"
    seq, digest = last
    try:
        applied = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            applied.execute("BEGIN")  # one snapshot for the three reads
            found = applied.execute("SELECT hash FROM event WHERE seq = ?", (seq,)).fetchone()
            count, highest = applied.execute("SELECT count(*), max(seq) FROM event WHERE seq > ?", (seq,)).fetchone()
            following = applied.execute("SELECT prev_hash FROM event WHERE seq = ?", (seq + 1,)).fetchone()
        finally:
            applied.close()
    except sqlite3.DatabaseError as error:
        if error.sqlite_errorcode & 0xFF not in _DAMAGED:
            return None  # (locked, cannot open...): SQLite will say so
        return f"with it the database cannot be read: {error}; without it, it holds events 1 to {seq}"
    if found is None or found[0] != digest:
        state = "is missing" if found is None else "is another event"
        return f"the database file holds events 1 to {seq}, and with the log applied event {seq} {state}"
    if count and (highest - seq != count or following is None or following[0] != digest):
        return f"with the log applied, the events after event {seq} (the file's last) do not follow it"
    return None


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL whose ``-wal`` SQLite would apply (not an immutable or in-memory one)."""
    database = url.database
    if not database or database == ":memory:" or url.query.get("immutable") or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):
        from urllib.parse import unquote

        return Path(unquote(database[len("file:") :]))
    return Path(database)


def make_engine(url: URL, *, migrating: bool = False, read_only: bool = False) -> Engine:
    """The engine for ``url``; on SQLite every connection gets the tracker's settings.

    SQLite: before each connection, :func:`check_wal`; the driver in autocommit (the tracker
    emits ``BEGIN`` itself, see :func:`begin_sqlite`), a busy timeout, WAL, full
    synchronisation and foreign keys on.
    A ``read_only`` engine (see :func:`read_only_url`) sets nothing that writes. For a
    migration (``migrating``) foreign keys are off, since ``PRAGMA foreign_keys`` is
    a no-op inside a transaction and batch table rebuilds would cascade-delete child rows
    (the migration runs ``PRAGMA foreign_key_check`` before it commits instead), and every
    transaction takes the write lock at once.
    """
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        path = _sqlite_file(url)

        @event.listens_for(engine, "do_connect")
        def _before_connecting(_dialect, _record, _arguments, _options) -> None:
            if path is not None:  # before SQLite applies a log that is not the file's
                check_wal(path)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not read_only:  # a reader changes nothing, not even the journal mode
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute(f"PRAGMA foreign_keys = {'OFF' if migrating else 'ON'}")
                cursor.execute("PRAGMA synchronous = FULL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection) -> None:
            write = not read_only and (migrating or connection.get_execution_options().get("tracker_write", False))
            begin_sqlite(connection, write=write)

        return engine
    try:
        engine = create_engine(url, pool_pre_ping=False)
    except ModuleNotFoundError:
        raise DatabaseUnavailable(
            "PostgreSQL needs psycopg 3: pip install 'recommendation-compliance-tracker[postgres]'"
        ) from None

    @event.listens_for(engine, "connect")
    def _on_connect_postgres(dbapi_connection, _record) -> None:
        # bounded waits: a lock held too long, or a session idle inside its transaction
        # (a client suspended mid-import) holding the chain's lock, end with a clear error
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}")
        dbapi_connection.commit()

    return engine
