"""The ``Database`` facade: one database, its sessions, its schema, its backups.

SQLite (the default, one file) and PostgreSQL (psycopg 3) run the same code (engines
and connection settings: :mod:`tracker.store.engine`). Schema changes are delegated to
:mod:`tracker.store.migrations`, imported only by the methods that migrate (Alembic is
slow to import), and that module never imports this one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from tracker.errors import DatabaseUnavailable, InputError, SchemaOutOfDate, TrackerError
from tracker.store import engine as engines
from tracker.store.engine import resolve_url

# The revision this version of tracker needs; a test keeps it equal to Alembic's head.
SCHEMA_REVISION = "0007"
# Every revision of migrations/, oldest first (a test keeps this in step with Alembic's list).
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007")

T = TypeVar("T")


class Database:
    """One database, its engine and its sessions. Build one per process."""

    def __init__(self, url: str | None = None, *, notice: Callable[[str], None] | None = None) -> None:
        """``notice``, if given, is told when a write has waited a few seconds for another
        writer's lock (the command line prints it on stderr)."""
        self.notice = notice
        self.url = resolve_url(url)
        self._url = make_url(self.url)
        self.is_sqlite = self._url.get_backend_name() == "sqlite"
        self._engine: Engine | None = None
        self._reader: Engine | None = None

    def __repr__(self) -> str:
        return f"Database({self._url.render_as_string(hide_password=True)!r})"

    @property
    def display(self) -> str:
        if self.is_sqlite and self.path:
            return self.path.as_posix()
        return engines.mask(self._url.render_as_string(hide_password=True))

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
            self._engine = engines.make_engine(self._url)
        return self._engine

    @property
    def reader(self) -> Engine:
        """The engine reads go through: on a SQLite file, one that opens it read-only."""
        if self.path is None:
            return self.engine
        if self._reader is None:
            self._reader = engines.make_engine(engines.read_only_url(self.path), read_only=True)
        return self._reader

    def dispose(self) -> None:
        # the reader first: the last connection to a WAL database to close folds the -wal
        # file back into the database, which a read-only connection cannot do
        for engine in (self._reader, self._engine):
            if engine is not None:
                engine.dispose()
        self._engine = self._reader = None

    # Sessions ----------------------------------------------------------------------

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session on a database whose schema is at head.

        Every query in it reads one snapshot, even while others write: a SQLite read
        transaction keeps the snapshot of its first read; PostgreSQL needs REPEATABLE READ
        (under its default, each statement would see the writes committed before it).
        """
        self.require_schema()
        engine = self.reader if self.is_sqlite else self.engine.execution_options(isolation_level="REPEATABLE READ")
        with Session(engine) as session, engines.translate_errors(self):
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
                with engines.translate_errors(self, retryable=True):
                    with Session(self.engine.execution_options(tracker_write=True)) as session:
                        with session.begin():
                            with self._told_if_waiting():
                                session.connection()  # SQLite: BEGIN IMMEDIATE takes the write lock
                                if not self.is_sqlite:
                                    engines.lock_chain(session)
                            return work(session)
            except engines.Retry:
                if attempt == attempts:
                    raise DatabaseUnavailable(
                        f"the database {self.display} stayed busy: another writer holds it; try again"
                    ) from None
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _told_if_waiting(self) -> Iterator[None]:
        """Tell ``notice`` when taking the write lock takes more than a few seconds."""
        if self.notice is None:
            yield
            return
        import threading

        notice = self.notice
        limit = engines.BUSY_TIMEOUT_MS // 1000
        timer = threading.Timer(
            engines.WAIT_NOTICE_S,
            lambda: notice(f"waiting for another writer to finish with {self.display} (giving up after {limit} s)..."),
        )
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    # Schema ------------------------------------------------------------------------

    def current_revision(self) -> str | None:
        """The schema revision stored in the database, None when it has no schema."""
        if not self.exists():
            return None
        with engines.translate_errors(self), self.reader.connect() as connection:
            try:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except (OperationalError, DBAPIError) as error:
                if getattr(error.orig, "sqlstate", None) == "42501":  # insufficient_privilege
                    raise DatabaseUnavailable(self._not_granted(connection)) from None
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

    def _not_granted(self, connection: Connection) -> str:
        """A PostgreSQL user who may not read the tracker's tables (a team database, and no
        role of the team's granted to it): who, and what to ask for."""
        connection.rollback()
        login = connection.execute(text("SELECT session_user")).scalar()
        return (
            f"database user {login} may not read the tracker's tables on {self.display}: "
            f"ask a team admin to run `tracker team grant {login} ROLE` (see `tracker team --help`)"
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
        from tracker.store import migrations

        return migrations.upgrade(self, revision, backup=backup, create=not backup if create is None else create)

    def downgrade(self, revision: str) -> tuple[str | None, str | None]:
        from tracker.store import migrations

        return migrations.downgrade(self, revision)

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
        engines.copy_sqlite(self.path, destination)
        return destination
