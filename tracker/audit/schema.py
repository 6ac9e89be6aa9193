"""The database's structure against the migrations: what verify checks besides the rows.

A dropped index, an extra column, a trigger that copies new rows somewhere else, or a
damaged page of the file change no row and no event, so the chain cannot show them. Here
the live schema's tables, columns and indexes are compared with the models' (which the
migrations produce: a test keeps them equal) and the search index's (:mod:`tracker.store.search_index`),
the tracker's schema has no trigger but the search index's (as migration 0006 made them) and, on a
team database, the authorship triggers of ``tracker team setup`` (:data:`AUTHOR_SOURCE`), and no view,
and on SQLite the file
passes ``PRAGMA quick_check`` (every page of every table and index is well formed) and every
index holds exactly its table's rows (:func:`index_problems`). ``quick_check`` alone does not
compare index entries with rows: a flipped byte inside an index key passes it. ``PRAGMA
integrity_check`` does, by looking every row up in every index, which costs several times
``quick_check`` and grows faster than the database (on 400,000 events, 7 s of CPU against
``quick_check``'s 1 s); :func:`index_problems` compares fingerprints instead, in one pass
over each table and each index (3 s there), and leaves naming the problem to
``integrity_check`` of that one table.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3

from sqlalchemy import text
from sqlalchemy.orm import Session

from tracker.audit.chain import on_team_database
from tracker.store import search_index
from tracker.store.models import Base

_VALUE_PROBLEM = re.compile(r"(CHECK|NOT NULL) constraint failed|NULL value in ")

AUTHOR_TRIGGER = "tracker_author"
AUTHOR_FUNCTION = "tracker_check_author"
AUTHOR_SOURCE = """
DECLARE
    author text := to_jsonb(NEW) ->> TG_ARGV[0];
BEGIN
    IF author IS DISTINCT FROM session_user THEN
        RAISE EXCEPTION 'refused: a row of % says it is recorded by %, but you are logged in as %, '
            'and on a team database the author is the database user', TG_TABLE_NAME, author, session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
"""
"""PostgreSQL, a team database (:mod:`tracker.team`): the body of the plpgsql function that the
trigger :data:`AUTHOR_TRIGGER` runs before each row inserted into a table with ``recorded_by``
(the trigger's argument) and into ``event`` (``actor``): a row under another name than the
database user's is refused. Verify accepts these triggers when they run exactly this."""
_AUTHOR_TYPE = 7  # pg_trigger.tgtype: FOR EACH ROW (1) | BEFORE (2) | INSERT (4)


def storage_problems(session: Session) -> list[str]:
    """What is wrong with the database file (SQLite's ``PRAGMA quick_check``, then every index
    against its table: :func:`index_problems`), one line each."""
    if session.get_bind().dialect.name != "sqlite":
        return []
    connection = session.connection().connection.driver_connection
    if isinstance(connection, sqlite3.Connection):
        return file_problems(connection)
    lines = [str(row[0]) for row in session.execute(text("PRAGMA quick_check(100)")).all()]
    return _damaged(_damage(lines))


def file_problems(connection: sqlite3.Connection) -> list[str]:
    """:func:`storage_problems` of the SQLite database ``connection`` reads (verify runs it on a
    connection of its own, beside its quick pass: :func:`tracker.audit.quick.run`)."""
    damage = _damage([str(row[0]) for row in connection.execute("PRAGMA quick_check(100)")])
    return _damaged(damage or index_problems(connection))


def _damaged(damage: list[str]) -> list[str]:
    return [f"the database file is damaged: {line}" for line in damage[:5]]


def _damage(lines: list[str]) -> list[str]:
    """The lines of a ``quick_check`` or ``integrity_check`` that tell of damage."""
    # a value its column's CHECK or NOT NULL refuses is a row's problem: the row checks name it
    return [" ".join(line.split()) for line in lines if line != "ok" and not _VALUE_PROBLEM.match(line)]


_FINGERPRINT = "tracker_fingerprint"
# Each text (or other non-integer) value counts as its keyed hash modulo this: sums of them
# stay exact in SQLite's 64-bit integers for tables of up to 2**31 rows.
_MODULUS = 1 << 32


def index_problems(connection: sqlite3.Connection) -> list[str]:
    """Every index of every table against the table's rows, in time linear in the database.

    Per index, a fingerprint of its entries read through it (``INDEXED BY``: the entries
    themselves) is compared with the fingerprint of the same columns read from the table's
    rows (``NOT INDEXED``, one pass over each table for all its indexes): how many, and the
    sums of every column's values (integers as they are, other values as Python's ``hash()``
    of their bytes modulo 2**32, keyed afresh in each process unless ``PYTHONHASHSEED`` is
    set) and of the rowids. A flipped byte in an entry changes a value, a rowid or the count.
    Where the fingerprints differ, or an index cannot be read, ``PRAGMA integrity_check`` of
    that table names the problem (and has the last word: it finding nothing, there is
    nothing to report). Partial and expression indexes and tables without rowid, which the
    tracker's schema does not have, are left to it too. This finds damage, not a forgery:
    someone who rewrites an index page to fit these sums is not what it is for.
    """
    connection.create_function(_FINGERPRINT, 1, hash, deterministic=True)
    try:
        problems: list[str] = []
        for table, indexes, whole in _index_plan(connection):
            if whole and _fingerprints_agree(connection, table, indexes):
                continue
            lines = [str(row[0]) for row in connection.execute(f"PRAGMA integrity_check({_quote(table)})")]
            problems.extend(_damage(lines))
        return problems
    finally:
        connection.create_function(_FINGERPRINT, 1, None)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _index_plan(connection: sqlite3.Connection) -> list[tuple[str, dict[str, list[str]], bool]]:
    """(table, {index: the SQL of its columns' fingerprints}, whether every index has one) for
    each table with indexes."""
    plan = []
    tables = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name"
    ).fetchall()
    for table, sql in tables:
        listed = connection.execute(f"PRAGMA index_list({_quote(table)})").fetchall()
        if not listed:
            continue
        integers = {
            cid
            for cid, _name, kind, *_rest in connection.execute(f"PRAGMA table_xinfo({_quote(table)})")
            if "INT" in str(kind).upper()
        }
        whole = "WITHOUT ROWID" not in " ".join(str(sql).upper().split())
        if not whole and all(origin == "pk" for _seq, _index, _unique, origin, _partial in listed):
            continue  # (the search index's FTS5 shadow tables) its key's b-tree is the table: nothing to compare
        indexes: dict[str, list[str]] = {}
        for _seq, index, _unique, _origin, partial in listed:
            columns = [
                (cid, name) for _n, cid, name, *_rest in connection.execute(f"PRAGMA index_xinfo({_quote(index)})")
            ]
            if partial or any(cid < -1 for cid, _name in columns):  # a WHERE clause or an expression
                whole = False
                continue
            indexes[index] = [_term(name, integer=cid in integers) for cid, name in columns]
        plan.append((table, indexes, whole))
    return plan


def _term(column: str | None, *, integer: bool) -> str:
    """The SQL summing one column of an index (``None``: the rowid) into a fingerprint."""
    if column is None:
        return "sum(rowid)"
    if integer:  # (a value of another type in it counts as SQLite's sum() reads it)
        return f"sum({_quote(column)})"
    return f"sum({_FINGERPRINT}(CAST({_quote(column)} AS BLOB)) % {_MODULUS})"


def _fingerprints_agree(connection: sqlite3.Connection, table: str, indexes: dict[str, list[str]]) -> bool:
    """Whether each index's entries and the table's rows have the same fingerprint."""
    try:
        terms = [term for index_terms in indexes.values() for term in index_terms]
        count, *rows = connection.execute(
            f"SELECT count(*), {', '.join(terms)} FROM {_quote(table)} NOT INDEXED"
        ).fetchone()
        start = 0
        for index, index_terms in indexes.items():
            entries = connection.execute(
                f"SELECT count(*), {', '.join(index_terms)} FROM {_quote(table)} INDEXED BY {_quote(index)}"
            ).fetchone()
            if tuple(entries) != (count, *rows[start : start + len(index_terms)]):
                return False
            start += len(index_terms)
    except sqlite3.Error:  # an index (or the table) that cannot be read, or a sum too large
        return False
    return True


def schema_problems(session: Session) -> list[str]:
    """How the live schema differs from the tracker's: tables, their columns, indexes, triggers, views."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    dialect = "sqlite" if sqlite else "postgresql"
    expected = {table.name: {column.name for column in table.columns} for table in Base.metadata.sorted_tables}
    expected["alembic_version"] = {"version_num"}
    expected.update({name: set(columns) for name, columns in search_index.TABLES[dialect].items()})
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
    indexes.update(search_index.INDEXES[dialect])
    present = _indexes(session, sqlite)
    for name in sorted(indexes.keys() - present.keys()):
        problems.append(f"index {name} on {indexes[name]} is missing")
    for name in sorted(present.keys() - indexes.keys()):
        problems.append(f"an extra index {name} on {present[name]}")
    derived = _search_index_triggers(session, sqlite)
    authored = set() if sqlite else _author_triggers(session)
    for kind, name, table in _triggers_and_views(session):
        if kind == "trigger" and (name in derived or (name == AUTHOR_TRIGGER and table in authored)):
            continue
        where = f" on {table}" if kind == "trigger" else ""
        problems.append(f"a {kind} {name!r}{where} that the tracker's schema does not have")
    if not sqlite and on_team_database(session):
        for table in sorted(authored_tables() - authored):
            problems.append(
                f"the authorship trigger {AUTHOR_TRIGGER!r} on {table} is missing or changed: its rows could be "
                "recorded under any name; run `tracker team setup` again"
            )
    for name, table in search_index.TRIGGERS.items():
        if name not in derived:
            problems.append(f"the search index's trigger {name!r} on {table} is missing")
        elif derived[name] != (table, search_index.DEFINITIONS[dialect].get(name)):
            problems.append(f"the search index's trigger {name!r} on {table} is not the one migration 0006 made")
    return problems


def _search_index_triggers(session: Session, sqlite: bool) -> dict[str, tuple[str, str]]:
    """The search index's triggers found (by name), with their table and the sha256 of their
    definition (see :data:`tracker.store.search_index.DEFINITIONS`)."""
    if sqlite:
        rows = session.execute(text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"))
        found = {name: (table, str(sql)) for name, table, sql in rows}
    else:
        rows = session.execute(
            text(
                "SELECT t.tgname, c.relname, t.tgtype, t.tgenabled::text, p.proname, p.prosrc FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = to_regnamespace(current_schema())"
            )
        )
        found = {name: (table, "|".join(map(str, (table, *rest)))) for name, table, *rest in rows}
    return {
        name: (table, hashlib.sha256(definition.encode()).hexdigest())
        for name, (table, definition) in found.items()
        if name in search_index.TRIGGERS
    }


def authored_tables() -> set[str]:
    """The tables whose rows name their author (``recorded_by``; an event its ``actor``): on a
    team database each has :data:`AUTHOR_TRIGGER`."""
    return {
        table.name
        for table in Base.metadata.sorted_tables
        if "recorded_by" in table.c or (table.name == "event" and "actor" in table.c)
    }


def _author_triggers(session: Session) -> set[str]:
    """The tables whose :data:`AUTHOR_TRIGGER` is exactly the one team setup makes (PostgreSQL)."""
    rows = session.execute(
        text(
            "SELECT c.relname, t.tgtype, t.tgenabled::text, p.proname, p.prosrc FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE NOT t.tgisinternal AND t.tgname = :name AND c.relnamespace = to_regnamespace(current_schema())"
        ),
        {"name": AUTHOR_TRIGGER},
    )
    return {
        table
        for table, kind, enabled, function, source in rows
        if (kind, enabled, function, source) == (_AUTHOR_TYPE, "O", AUTHOR_FUNCTION, AUTHOR_SOURCE)
    }


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
    # The catalogs, not information_schema: it shows only what the role may do more than read
    # (a role that verifies a team database reads).
    triggers = session.execute(
        text(
            "SELECT 'trigger', t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = to_regnamespace(current_schema()) ORDER BY 2, 3"
        )
    )
    views = session.execute(
        text(
            "SELECT 'view', relname, relname FROM pg_class WHERE relkind = 'v' "
            "AND relnamespace = to_regnamespace(current_schema()) ORDER BY 2"
        )
    )
    return [(kind, name, table) for kind, name, table in [*triggers, *views]]
