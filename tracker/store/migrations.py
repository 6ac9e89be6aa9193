"""Schema migrations with Alembic, run against the application's own engine settings."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from tracker import clock
from tracker.errors import InputError, TrackerError
from tracker.store import search_index
from tracker.store.engine import copy_sqlite, make_engine, translate_errors

if TYPE_CHECKING:
    from tracker.store.database import Database


def script_location() -> Path:
    """The migrations, shipped in the wheel as the package ``tracker.migrations``."""
    return Path(str(resources.files("tracker.migrations")))


def config(database: Database | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    if database is not None:
        cfg.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    return cfg


def _migration_engine(database: Database) -> Engine:
    """The engine a migration runs on: on SQLite, foreign keys off (see :func:`make_engine`)."""
    if not database.is_sqlite:
        return database.engine
    return make_engine(make_url(database.url), migrating=True)


def _counts(connection) -> dict[str, int]:
    """Rows per table, read inside the migration's transaction: the stored rows a migration
    must not lose. Alembic's own table is left out, and so are the search index's tables (on
    SQLite the FTS5 table and its shadow tables): derived data, copies of stored texts that
    migration 0006 builds from the rows and its downgrade drops, losing nothing stored."""
    from sqlalchemy import inspect

    derived = search_index.table_names()
    return {
        name: connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
        for name in inspect(connection).get_table_names()
        if name != "alembic_version" and name not in derived
    }


def _run(database: Database, action, revision: str) -> tuple[str | None, str | None]:
    """Migrate in one transaction; refuse (and change nothing) if any stored row would be lost."""
    cfg = config(database)
    engine = _migration_engine(database)
    try:
        with translate_errors(database), engine.begin() as connection:
            before = MigrationContext.configure(connection).get_current_revision()
            counts = _counts(connection)
            cfg.attributes["connection"] = connection
            action(cfg, revision)
            remaining = _counts(connection)
            lost = {name: n - remaining.get(name, 0) for name, n in counts.items() if n > remaining.get(name, 0)}
            if lost:
                what = ", ".join(f"{n} in {name}" for name, n in sorted(lost.items()))
                raise TrackerError(
                    f"migrating {database.display} from {before} to {revision} would delete {sum(lost.values())} "
                    f"stored rows ({what}); nothing was changed. Those rows need the newer schema: keep it, "
                    "or restore the backup taken before the upgrade"
                )
            if database.is_sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise TrackerError(
                        f"migration to {revision} would break {len(broken)} foreign keys; nothing was changed"
                    )
            after = MigrationContext.configure(connection).get_current_revision()
    except Exception as error:
        from alembic.util import CommandError

        if isinstance(error, CommandError):
            raise InputError(f"cannot migrate to {revision!r}: {error}") from None
        raise
    finally:
        if engine is not database.engine:
            engine.dispose()
    return before, after


def upgrade(database: Database, revision: str = "head", *, backup: bool = True, create: bool = False):
    """Upgrade; on an existing SQLite database that will change, back it up first.

    Everything that can be checked is checked before the backup is taken: the file (a
    missing one is created only if ``create``), the revision stored and the target. The
    migration runs in one transaction: if it fails, the database is as it was and the
    backup, a needless copy of everything stored (confidential evidence included), is
    removed again.
    """
    path = database.path
    if path is not None and not path.exists():
        if not create:
            database.require_file()
        _require_folder(path, database.display)
    current = database.current_revision()
    steps = _steps(database, revision, current, upgrade=True)
    backup_path = None
    if backup and database.path is not None and current is not None and steps:
        backup_path = _backup_beside(database.path, current)
    if path is not None and not path.exists():
        _create_private(path)
    try:
        before, after = _run(database, command.upgrade, revision)
    except BaseException as error:
        if backup_path is not None:
            if _still_at(database, current):
                backup_path.unlink(missing_ok=True)
            elif isinstance(error, TrackerError):
                raise type(error)(f"{error} (the backup taken before the upgrade is {backup_path})") from error
        raise
    return before, after, backup_path


def downgrade(database: Database, revision: str):
    database.require_file()
    current = database.current_revision()
    if current is None:
        raise TrackerError(f"{database.display} has no tracker schema to downgrade")
    _steps(database, revision, current, upgrade=False)
    return _run(database, command.downgrade, revision)


def _create_private(path: Path) -> None:
    """A new SQLite file that its owner only can read (mode 0600): it will hold confidential
    evidence. SQLite gives its ``-wal`` and ``-shm`` files the database file's mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process created it meanwhile: SQLite opens it as it is
    except OSError as error:
        raise InputError(f"cannot create {path}: {error.strerror}") from None


def _require_folder(path: Path, display: str) -> None:
    """A new SQLite file goes into a folder that exists: a mistyped path is not created."""
    folder = path.parent
    if folder.is_dir():
        return
    if folder.exists():
        raise InputError(f"cannot create {display}: {folder} is not a folder; give another path")
    raise InputError(f"cannot create {display}: the folder {folder} does not exist; create it first")


def _steps(database: Database, revision: str, current: str | None, *, upgrade: bool) -> list:
    """The migrations from ``current`` to ``revision``, worked out before anything is touched.

    These are the steps ``alembic.command.upgrade`` (or ``downgrade``) would run: a
    revision that names nothing or cannot be reached from ``current`` is refused here,
    before any backup, lock or transaction.
    """
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(config())
    known = [found.revision for found in reversed(list(script.walk_revisions()))]
    if current is not None and current not in known:
        raise TrackerError(
            f"the schema of {database.display} is at revision {current}, which this tracker does not know "
            f"(it knows {', '.join(known)}): a newer version of tracker migrated it; use that version"
        )
    choices = f"give one of {', '.join(known)}, head or base"
    if not revision.strip() or ":" in revision:
        raise InputError(f"cannot migrate to {revision!r}: {choices}")
    from alembic.script.revision import RevisionError

    try:  # the revisions alembic.command would run, by ScriptDirectory's public walk
        if upgrade:
            return list(script.iterate_revisions(revision, current, implicit_base=True))
        return list(script.iterate_revisions(current, revision, select_for_downgrade=True))
    except (CommandError, RevisionError) as error:
        raise InputError(f"cannot migrate to {revision!r}: {error}; {choices}") from None


def _still_at(database: Database, revision: str | None) -> bool:
    """Whether the database is still at ``revision`` (False if that cannot be read)."""
    try:
        return database.current_revision() == revision
    except Exception:
        return False


def _backup_beside(path: Path, revision: str) -> Path:
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    destination = path.with_name(f"{path.name}.{revision}.{stamp}.bak")
    counter = 1
    while destination.exists():
        counter += 1
        destination = path.with_name(f"{path.name}.{revision}.{stamp}-{counter}.bak")
    copy_sqlite(path, destination)
    return destination
