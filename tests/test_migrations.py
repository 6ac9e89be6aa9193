"""Migrations: one head, upgrade from empty, models agree, down and up again."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from tracker import migrate
from tracker.db import SCHEMA_REVISION, Database
from tracker.models import Base


def test_one_head_and_it_is_the_revision_the_code_needs():
    script = ScriptDirectory.from_config(migrate.config())
    assert len(script.get_heads()) == 1
    assert script.get_current_head() == SCHEMA_REVISION


def test_no_migration_imports_the_application():
    for path in migrate.script_location().joinpath("versions").glob("*.py"):
        source = path.read_text()
        assert "import tracker" not in source and "from tracker" not in source, path.name


def test_upgrade_from_empty_creates_every_table(make_url_for):
    database = Database(make_url_for("blank"))
    before, after, _ = database.upgrade()
    assert (before, after) == (None, SCHEMA_REVISION)
    with database.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    database.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(make_url_for):
    database = Database(make_url_for("empty"))
    cfg = migrate.config(database)
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
