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
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise InputError(f"unsupported database {url.get_backend_name()!r}: use a SQLite path or a postgresql:// URL")
    return url.render_as_string(hide_password=False)


_URL_FORM = (
    "write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE, with any '@', ':', '/' or '%' "
    "in the user name or password written as %40, %3A, %2F or %25"
)
# scheme://user:PASSWORD@ : the password runs to the first '@' (a rendered URL encodes any '@'
# in it, not spaces); masking a little too much is better than too little.
_PASSWORD_IN_URL = re.compile(r"(\w[\w+.-]*://[^:/@\s]*):[^@]*?@")


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


def make_engine(url: URL, *, migrating: bool = False, read_only: bool = False) -> Engine:
    """The engine for ``url``; on SQLite every connection gets the tracker's settings.

    SQLite: the driver in autocommit (the tracker emits ``BEGIN`` itself, see
    :func:`begin_sqlite`), a busy timeout, WAL, full synchronisation and foreign keys on.
    A ``read_only`` engine (see :func:`read_only_url`) sets nothing that writes. For a
    migration (``migrating``) foreign keys are off, since ``PRAGMA foreign_keys`` is
    a no-op inside a transaction and batch table rebuilds would cascade-delete child rows
    (the migration runs ``PRAGMA foreign_key_check`` before it commits instead), and every
    transaction takes the write lock at once.
    """
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

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
