"""The database's structure against the migrations: what verify checks besides the rows.

A dropped index, an extra column, a trigger that copies new rows somewhere else, or a
damaged page of the file change no row and no event, so the chain cannot show them. Here
the live schema is compared with the models (which the migrations produce: a test keeps
them equal), the tracker's schema has no trigger and no view, and on SQLite the file
passes ``PRAGMA integrity_check`` (``quick_check`` would not see an index whose content no
longer matches its table: a flipped byte in a key).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from tracker.store.models import Base


_VALUE_PROBLEM = re.compile(r"(CHECK|NOT NULL) constraint failed|NULL value in ")


def storage_problems(session: Session) -> list[str]:
    """What is wrong with the database file (SQLite's ``PRAGMA integrity_check``), one line each."""
    if session.get_bind().dialect.name != "sqlite":
        return []
    lines = [str(row[0]) for row in session.execute(text("PRAGMA integrity_check(100)")).all()]
    # a value its column's CHECK or NOT NULL refuses is a row's problem: the row checks name it
    damage = [" ".join(line.split()) for line in lines if line != "ok" and not _VALUE_PROBLEM.match(line)]
    return [f"the database file is damaged: {line}" for line in damage[:5]]


def schema_problems(session: Session) -> list[str]:
    """How the live schema differs from the tracker's (tables, columns, indexes, triggers, views)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    connection = session.connection()
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    problems = [_describe(difference) for difference in _flatten(compare_metadata(context, Base.metadata))]
    for kind, name, table in _triggers_and_views(session):
        where = f" on {table}" if kind == "trigger" else ""
        problems.append(f"a {kind} {name!r}{where} that the tracker's schema does not have")
    return problems


def _flatten(differences: list[Any]) -> list[Any]:
    flat = []
    for difference in differences:
        if isinstance(difference, list):  # modifications of one column come as a list
            flat.extend(difference)
        else:
            flat.append(difference)
    return flat


def _describe(difference: tuple[Any, ...]) -> str:
    """One difference found by Alembic's comparison, in words (add = missing, remove = extra)."""
    kind = difference[0]
    if kind == "add_table":
        return f"table {difference[1].name} is missing"
    if kind == "remove_table":
        return f"an extra table {difference[1].name}"
    if kind == "add_column":
        return f"column {difference[2]}.{difference[3].name} is missing"
    if kind == "remove_column":
        return f"an extra column {difference[2]}.{difference[3].name}"
    if kind in ("add_index", "add_constraint", "add_fk"):
        item = difference[1]
        return f"{'index' if kind == 'add_index' else 'constraint'} {item.name} on {item.table.name} is missing"
    if kind in ("remove_index", "remove_constraint", "remove_fk"):
        item = difference[1]
        return f"an extra {'index' if kind == 'remove_index' else 'constraint'} {item.name} on {item.table.name}"
    if kind.startswith("modify_"):
        return f"column {difference[2]}.{difference[3]} was changed ({kind[7:]})"
    return f"the schema differs from the tracker's ({kind})"


def _triggers_and_views(session: Session) -> list[tuple[str, str, str]]:
    """(kind, name, table) of every trigger and view: the tracker's schema has none."""
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(text(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY name"))
        return [(kind, name, table) for kind, name, table in rows]
    triggers = session.execute(text(
        "SELECT DISTINCT 'trigger', trigger_name, event_object_table FROM information_schema.triggers "
        "WHERE trigger_schema = current_schema() ORDER BY 2"))
    views = session.execute(text(
        "SELECT 'view', table_name, table_name FROM information_schema.views WHERE table_schema = current_schema() "
        "ORDER BY 2"))
    return [(kind, name, table) for kind, name, table in [*triggers, *views]]
