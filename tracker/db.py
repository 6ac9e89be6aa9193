"""Databases: where they are, how to connect, sessions and schema migrations.

SQLite (the default, one file) and PostgreSQL (psycopg 3) run the same code. Alembic
is imported only by the functions that migrate, so ordinary commands stay quick.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from tracker.errors import DatabaseUnavailable, InputError, SchemaOutOfDate, TrackerError

# The revision this version of tracker needs; a test keeps it equal to Alembic's head.
SCHEMA_REVISION = "0002"
# Every revision of migrations/, oldest first (a test keeps this in step with Alembic's list).
KNOWN_REVISIONS = ("0001", "0002")
DEFAULT_PATH = "tracker.db"
ENV_URL = "TRACKER_DATABASE_URL"
BUSY_TIMEOUT_MS = 60_000
# Any fixed number: the PostgreSQL advisory lock that serialises appends to the chain.
CHAIN_LOCK_KEY = 7_310_252_019

T = TypeVar("T")


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
        raise InputError(
            f"unsupported database {url.get_backend_name()!r}: use a SQLite path or a postgresql:// URL"
        )
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


class Database:
    """One database, its engine and its sessions. Build one per process."""

    def __init__(self, url: str | None = None) -> None:
        self.url = resolve_url(url)
        self._url = make_url(self.url)
        self.is_sqlite = self._url.get_backend_name() == "sqlite"
        self._engine: Engine | None = None

    def __repr__(self) -> str:
        return f"Database({self._url.render_as_string(hide_password=True)!r})"

    @property
    def display(self) -> str:
        if self.is_sqlite and self.path:
            return self.path.as_posix()
        return self._url.render_as_string(hide_password=True)

    @property
    def path(self) -> Path | None:
        database = self._url.database
        if not self.is_sqlite or not database or database == ":memory:":
            return None
        return Path(database)

    def exists(self) -> bool:
        return self.path is None or self.path.exists()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = _make_engine(self._url)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # Sessions ----------------------------------------------------------------------

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session on a database whose schema is at head.

        Every query in it reads one snapshot, even while others write: a SQLite read
        transaction keeps the snapshot of its first read; PostgreSQL needs REPEATABLE READ
        (under its default, each statement would see the writes committed before it).
        """
        self.require_schema()
        engine = self.engine if self.is_sqlite else self.engine.execution_options(isolation_level="REPEATABLE READ")
        with Session(engine) as session, _translate_errors(self):
            yield session
            session.rollback()

    def write(self, work: Callable[[Session], T], *, attempts: int = 5) -> T:
        """Run ``work`` in one write transaction, committed only if it returns.

        Writers are serialised (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory
        lock); a transaction that still loses a race is retried from the start.
        """
        self.require_schema()
        for attempt in range(1, attempts + 1):
            try:
                with _translate_errors(self, retryable=True):
                    with Session(self.engine.execution_options(tracker_write=True)) as session:
                        with session.begin():
                            if not self.is_sqlite:
                                _lock_chain(session)
                            return work(session)
            except _Retry:
                if attempt == attempts:
                    raise DatabaseUnavailable(
                        f"the database {self.display} stayed busy: another writer holds it; try again"
                    ) from None
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    # Schema ------------------------------------------------------------------------

    def current_revision(self) -> str | None:
        """The schema revision stored in the database, None when it has no schema."""
        if not self.exists():
            return None
        with _translate_errors(self), self.engine.connect() as connection:
            try:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except (OperationalError, DBAPIError) as error:
                if "alembic_version" in str(error.orig):
                    return None
                raise

    def require_file(self) -> None:
        """Refuse a SQLite path where there is no file: only ``tracker init`` creates one."""
        if not self.exists():
            raise DatabaseUnavailable(self._no_database())

    def require_schema(self) -> None:
        self.require_file()
        problem = self.schema_problem(self.current_revision())
        if problem is not None:
            raise SchemaOutOfDate(problem)

    def schema_problem(self, revision: str | None) -> str | None:
        """What keeps this tracker from using the database at ``revision``, and what to run; None if nothing."""
        if revision == SCHEMA_REVISION:
            return None
        if not self.exists():
            return self._no_database()
        if revision is None:
            return f"{self.display} has no tracker schema: run `tracker init` to create it"
        if revision not in KNOWN_REVISIONS:
            return (
                f"the schema of {self.display} is at revision {revision}, which this tracker does not know: "
                "a newer version of tracker migrated it; use that version"
            )
        return (
            f"the schema of {self.display} is at revision {revision}, this tracker needs "
            f"{SCHEMA_REVISION}: run `tracker db upgrade`"
        )

    def _no_database(self) -> str:
        return f"no tracker database at {self.display}: run `tracker init` to create one, or pass --db"

    def upgrade(
        self, revision: str = "head", *, backup: bool = True, create: bool | None = None
    ) -> tuple[str | None, str | None, Path | None]:
        """Migrate up to ``revision``; returns (from, to, backup path or None).

        A SQLite file that does not exist is created only with ``create=True`` (``tracker
        init``) or, by default, when no backup is wanted (a program building a new database,
        as the tests and benchmarks do); ``tracker db upgrade`` refuses it.
        """
        from tracker import migrate

        return migrate.upgrade(self, revision, backup=backup, create=not backup if create is None else create)

    def downgrade(self, revision: str) -> tuple[str | None, str | None]:
        from tracker import migrate

        return migrate.downgrade(self, revision)

    def backup(self, destination: Path) -> Path:
        """A consistent copy of a SQLite database, taken while others may write."""
        if not self.is_sqlite or self.path is None:
            raise TrackerError(
                "backup copies SQLite files only: for PostgreSQL use pg_dump, "
                "e.g. `pg_dump --format=custom DBNAME > tracker.dump`"
            )
        self.require_schema()
        destination = Path(destination)
        if destination.exists() or destination.is_symlink():
            raise InputError(f"{destination} already exists: choose a new path for the backup")
        if not destination.parent.is_dir():
            raise InputError(f"{destination.parent} is not a directory")
        copy_sqlite(self.path, destination)
        return destination


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
        source = sqlite3.connect(source_path, timeout=BUSY_TIMEOUT_MS / 1000)
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


class _Retry(Exception):
    pass


def _lock_chain(session: Session) -> None:
    """PostgreSQL: one writer at a time appends to the chain (held until commit or rollback)."""
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})


def _begin_sqlite(connection, *, write: bool) -> None:
    """SQLite: a write transaction takes the write lock at once, so two writers never
    both read the chain's tip and then race to append after it."""
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextlib.contextmanager
def _translate_errors(database: Database, *, retryable: bool = False) -> Iterator[None]:
    """Turn driver errors into the library's errors, with the password masked."""
    try:
        yield
    except IntegrityError as error:
        message = str(error.orig)
        if retryable and any(key in message for key in ("prev_hash", "pk_event", "event.seq")):
            raise _Retry() from error
        raise TrackerError(
            f"the database {database.display} refused the write ({mask(_first_line(error))}); nothing was written"
        ) from error
    except OperationalError as error:
        message = _first_line(error)
        if retryable and ("locked" in message or "could not serialize" in message or "deadlock" in message):
            raise _Retry() from error
        raise DatabaseUnavailable(f"cannot use the database {database.display}: {mask(message)}") from error
    except DBAPIError as error:
        message = _first_line(error)
        if retryable and ("could not serialize" in message or "deadlock" in message):
            raise _Retry() from error
        raise DatabaseUnavailable(f"database error on {database.display}: {mask(message)}") from error


def _first_line(error: DBAPIError) -> str:
    """The driver's first line only: SQLAlchemy's text adds the statement and its parameters,
    which may hold anything stored (confidential evidence included)."""
    lines = str(error.orig).strip().splitlines() if error.orig is not None else []
    return lines[0] if lines else type(error.orig or error).__name__


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:
            # Autocommit at the driver level: we emit BEGIN ourselves (see _on_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection) -> None:
            _begin_sqlite(connection, write=connection.get_execution_options().get("tracker_write", False))

        return engine
    try:
        return create_engine(url, pool_pre_ping=False)
    except ModuleNotFoundError:
        raise DatabaseUnavailable(
            "PostgreSQL needs psycopg 3: pip install 'tracker[postgres]'"
        ) from None

