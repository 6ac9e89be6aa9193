"""The database's structure against the migrations: what verify checks besides the rows.

A dropped index, an extra column, a trigger that copies new rows somewhere else, or a
damaged page of the file change no row and no event, so the chain cannot show them. Here
the live schema's tables, columns and indexes are compared with the models' (which the
migrations produce: a test keeps them equal), the tracker's schema has no trigger and no view, and on SQLite the file
passes ``PRAGMA quick_check``: every page of every table and index is well formed. (It
does not compare each index entry with its row, as ``PRAGMA integrity_check`` does, which
on a database of a million events takes minutes rather than seconds.)
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from tracker.store.models import Base

_VALUE_PROBLEM = re.compile(r"(CHECK|NOT NULL) constraint failed|NULL value in ")


def storage_problems(session: Session) -> list[str]:
    """What is wrong with the database file (SQLite's ``PRAGMA quick_check``), one line each."""
    if session.get_bind().dialect.name != "sqlite":
        return []
    lines = [str(row[0]) for row in session.execute(text("PRAGMA quick_check(100)")).all()]
    # a value its column's CHECK or NOT NULL refuses is a row's problem: the row checks name it
    damage = [" ".join(line.split()) for line in lines if line != "ok" and not _VALUE_PROBLEM.match(line)]
    return [f"the database file is damaged: {line}" for line in damage[:5]]


def schema_problems(session: Session) -> list[str]:
    """How the live schema differs from the tracker's: tables, their columns, indexes, triggers, views."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    expected = {table.name: {column.name for column in table.columns} for table in Base.metadata.sorted_tables}
    expected["alembic_version"] = {"version_num"}
    found = _sqlite_columns(session) if sqlite else _postgres_columns(session)
    problems = []
    for name in sorted(expected.keys() - found.keys()):
        problems.append(f"table {name} is missing")
    for name in sorted(found.keys() - expected.keys()):
        problems.append(f"an extra table {name}")
    for name in sorted(expected.keys() & found.keys()):
        problems.extend(f"column {name}.{column} is missing" for column in sorted(expected[name] - found[name]))
        problems.extend(f"an extra column {name}.{column}" for column in sorted(found[name] - expected[name]))
    indexes = {str(index.name): table.name for table in Base.metadata.sorted_tables for index in table.indexes}
    present = _indexes(session, sqlite)
    for name in sorted(indexes.keys() - present.keys()):
        problems.append(f"index {name} on {indexes[name]} is missing")
    for name in sorted(present.keys() - indexes.keys()):
        problems.append(f"an extra index {name} on {present[name]}")
    for kind, name, table in _triggers_and_views(session):
        where = f" on {table}" if kind == "trigger" else ""
        problems.append(f"a {kind} {name!r}{where} that the tracker's schema does not have")
    return problems


def _sqlite_columns(session: Session) -> dict[str, set[str]]:
    names = list(
        session.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")
        ).scalars()
    )
    return {name: {row[1] for row in session.execute(text(f'PRAGMA table_info("{name}")'))} for name in names}


def _postgres_columns(session: Session) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table, column in session.execute(
        text(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
        )
    ):
        found.setdefault(table, set()).add(column)
    return found


def _indexes(session: Session, sqlite: bool) -> dict[str, str]:
    """Indexes made by CREATE INDEX (not those SQLite or PostgreSQL make for keys and UNIQUE), by table."""
    if sqlite:
        rows = session.execute(
            text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        )
    else:
        rows = session.execute(
            text(
                "SELECT i.indexname, i.tablename FROM pg_indexes i WHERE i.schemaname = current_schema() "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)"
            )
        )
    return {name: table for name, table in rows}


def _triggers_and_views(session: Session) -> list[tuple[str, str, str]]:
    """(kind, name, table) of every trigger and view: the tracker's schema has none."""
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(
            text("SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY name")
        )
        return [(kind, name, table) for kind, name, table in rows]
    triggers = session.execute(
        text(
            "SELECT DISTINCT 'trigger', trigger_name, event_object_table FROM information_schema.triggers "
            "WHERE trigger_schema = current_schema() ORDER BY 2"
        )
    )
    views = session.execute(
        text(
            "SELECT 'view', table_name, table_name FROM information_schema.views WHERE table_schema = current_schema() "
            "ORDER BY 2"
        )
    )
    return [(kind, name, table) for kind, name, table in [*triggers, *views]]
