"""Migrations: one head, upgrade from empty, models agree, down and up again."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from tracker.errors import TrackerError
from tracker.store import migrations
from tracker.store.database import KNOWN_REVISIONS, SCHEMA_REVISION, Database
from tracker.store.models import Base

from conftest import _sqlite_template, dump, invoke, template


def load_2015(database: Database, _folder: Path) -> None:
    """The 2015 catalog: recommendations, agencies and indicators, no continuation (a table
    revision 0005 added), so that the database goes down to 0001 with nothing lost."""
    from tracker import catalogs

    database.write(lambda session: catalogs.load(session, catalogs.read("tip-2015-khm"), "analyst"))


OLD_ENOUGH = template("migrations-2015", load_2015, base="empty")


def test_one_head_and_it_is_the_revision_the_code_needs():
    script = ScriptDirectory.from_config(migrations.config())
    assert len(script.get_heads()) == 1
    assert script.get_current_head() == SCHEMA_REVISION
    assert tuple(found.revision for found in reversed(list(script.walk_revisions()))) == KNOWN_REVISIONS


def test_no_migration_imports_the_application():
    for path in migrations.script_location().joinpath("versions").glob("*.py"):
        source = path.read_text()
        assert "import tracker" not in source and "from tracker" not in source, path.name


def test_upgrade_from_empty_creates_every_table(make_url_for):
    database = Database(make_url_for("blank"))
    before, after, _ = database.upgrade(create=True)
    assert (before, after) == (None, SCHEMA_REVISION)
    with database.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    database.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(make_url_for):
    database = Database(make_url_for("empty"))
    cfg = migrations.config(database)
    with database.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.check(cfg)  # raises if autogenerate would find any difference
    database.dispose()


def test_downgrade_to_base_and_back_to_head(make_url_for):
    database = Database(make_url_for("empty"))
    assert database.downgrade("base") == (SCHEMA_REVISION, None)
    with database.engine.connect() as connection:
        left = set(inspect(connection).get_table_names()) - {"alembic_version"}
    assert left == set()
    _, after, _ = database.upgrade()
    assert after == SCHEMA_REVISION
    database.dispose()


# Nothing is written when a migration cannot or does not happen -------------------------------------------


def files_beside(url: str) -> set[str]:
    """The files in a SQLite database's folder (nothing for PostgreSQL), SQLite's own aside.

    (A read opens the file read-only; in WAL mode that leaves its ``-wal`` and ``-shm``
    companions in place.)
    """
    path = Database(url).path
    return set() if path is None else names_in(path.parent)


def names_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.endswith(("-wal", "-shm"))}


def down_to(url: str, revision: str) -> None:
    database = Database(url)
    database.downgrade(revision)
    database.dispose()


def revision_of(url: str) -> str | None:
    database = Database(url)
    try:
        return database.current_revision()
    finally:
        database.dispose()


def assert_one_error(result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("at", [SCHEMA_REVISION, "0001"])
@pytest.mark.parametrize(
    "command_line, fragments",
    [
        (
            ["db", "upgrade", "9999"],
            ["cannot migrate to '9999'", "give one of 0001, 0002, 0003, 0004, 0005, 0006, 0007, head or base"],
        ),
        (["db", "upgrade", "+7"], ["cannot migrate to '+7'"]),
        (["db", "upgrade", ""], ["cannot migrate to ''", "give one of"]),
        (["db", "upgrade", "0001:0002"], ["cannot migrate to '0001:0002'"]),
        (["db", "downgrade", "9999"], ["cannot migrate to '9999'", "give one of"]),
        (["db", "downgrade", "+1"], ["cannot migrate to '+1'"]),
    ],
    ids=["upgrade 9999", "upgrade +7", "upgrade ''", "upgrade range", "downgrade 9999", "downgrade +1"],
)
def test_a_revision_that_names_nothing_is_refused_before_any_backup(make_url_for, at, command_line, fragments):
    url = make_url_for(OLD_ENOUGH)
    if at != SCHEMA_REVISION:
        down_to(url, at)
    files, before = files_beside(url), dump(url)
    result = invoke(["--db", url, *command_line])
    assert_one_error(result, 2, *fragments)
    assert "backup" not in result.stderr
    assert files_beside(url) == files, "no backup (nor any other file) is left behind"
    assert dump(url) == before
    assert revision_of(url) == at


def test_a_database_from_a_newer_tracker_is_refused_before_any_backup(make_url_for):
    url = make_url_for("loaded")
    database = Database(url)
    with database.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    database.dispose()
    files = files_beside(url)
    for command_line in (["db", "upgrade"], ["db", "downgrade", "0001"], ["rec", "list"], ["verify"]):
        result = invoke(["--db", url, *command_line])
        assert_one_error(result, 1, "at revision 0099, which this tracker does not know", "newer version")
        assert files_beside(url) == files


def test_an_upgrade_that_fails_leaves_no_backup_when_nothing_changed(sqlite_templates, tmp_path, monkeypatch):
    path = tmp_path / "tracker.db"
    path.write_bytes(_sqlite_template(sqlite_templates, OLD_ENOUGH).read_bytes())
    down_to(str(path), "0001")
    before = dump(str(path))
    real_upgrade = command.upgrade

    def upgrade_then_fail(cfg, revision):
        real_upgrade(cfg, revision)  # the tables change inside the migration's transaction...
        raise TrackerError("the disk is full")  # ...which then fails, so they change back

    monkeypatch.setattr(migrations.command, "upgrade", upgrade_then_fail)
    database = Database(str(path))
    with pytest.raises(TrackerError) as failed:
        database.upgrade()  # as `tracker db upgrade` calls it
    database.dispose()
    assert failed.value.exit_code == 1 and "the disk is full" in str(failed.value)
    assert "backup" not in str(failed.value)
    assert names_in(tmp_path) == {"tracker.db"}
    assert revision_of(str(path)) == "0001"
    assert dump(str(path)) == before


def test_an_upgrade_that_changes_something_still_writes_its_backup(sqlite_templates, tmp_path):
    path = tmp_path / "tracker.db"
    path.write_bytes(_sqlite_template(sqlite_templates, OLD_ENOUGH).read_bytes())
    down_to(str(path), "0001")
    database = Database(str(path))
    _from, _to, backup = database.upgrade()
    assert [p.name.split(".")[:3] for p in tmp_path.glob("*.bak")] == [["tracker", "db", "0001"]]
    assert backup == next(tmp_path.glob("*.bak"))
    assert database.upgrade("0001") == (SCHEMA_REVISION, SCHEMA_REVISION, None)
    database.dispose()
    assert len(list(tmp_path.glob("*.bak"))) == 1, "an upgrade that changes nothing takes no backup"
