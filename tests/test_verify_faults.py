"""Faults of the storage that change no row the chain records: verify (and every command) must not miss them.

SQLite only. A flipped byte inside an index key passes ``PRAGMA quick_check``: verify
compares every index with its table (:func:`tracker.audit.schema.index_problems`), in time
linear in the database. A value its column cannot hold costs one read of it, not a batch
per row before it. A ``-wal`` file that is not the database's own (another database's, or
an older one) would be applied by SQLite without a word, rows vanishing: every command
refuses it (:func:`tracker.store.engine.check_wal`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from test_robust_tamper import flip_a_byte_in_an_index_key

from tracker import importing
from tracker.audit import schema
from tracker.audit import verify as integrity
from tracker.store.database import Database

from conftest import _sqlite_template, invoke, template

# Indexes -----------------------------------------------------------------------------------------


def _copy(sqlite_templates, tmp_path: Path, kind: str = "loaded") -> Path:
    path = tmp_path / f"{kind}.db"
    shutil.copyfile(_sqlite_template(sqlite_templates, kind), path)
    return path


def _imported(rows: int):
    """A fill that imports ``rows`` pieces of evidence from a CSV file (an event each)."""

    def fill(database: Database, folder: Path) -> None:
        lines = ["rec,title,date,kind,stance,summary,url"] + [
            f'"labor-inspections;prosecute-convict",Imported {n},2019-07-{n % 28 + 1:02d},inspection,context,'
            f"Summary {n},https://example.org/{n}"
            for n in range(rows)
        ]
        path = folder / "evidence.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        importing.import_file(database, path, actor="tester")

    return fill


THOUSANDS = template("verify-faults-3000", _imported(3_000))
FIFTY_THOUSAND = template("verify-faults-50000", _imported(50_000))


def test_every_index_is_compared_with_its_table_through_the_index_itself(sqlite_templates, tmp_path):
    """The fingerprints cover every index of the tracker's schema, each read as a covering index
    scan (its entries, not the table's rows), and agree on a sound database."""
    connection = sqlite3.connect(_copy(sqlite_templates, tmp_path))
    connection.create_function(schema._FINGERPRINT, 1, hash)
    plan = schema._index_plan(connection)
    assert all(whole for _table, _indexes, whole in plan)
    covered = {index for _table, indexes, _whole in plan for index in indexes}
    assert covered == {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    for table, indexes, _whole in plan:
        for index, terms in indexes.items():
            query = f'SELECT count(*), {", ".join(terms)} FROM "{table}" INDEXED BY "{index}"'
            (detail,) = [row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {query}")]
            assert detail == f"SCAN {table} USING COVERING INDEX {index}", detail
        assert schema._fingerprints_agree(connection, table, indexes), table
    assert schema.index_problems(connection) == []


@pytest.mark.parametrize(
    "index",
    ["sqlite_autoindex_event_1", "sqlite_autoindex_evidence_link_1", "ix_evidence_link_recommendation_id_evidence_id"],
)
def test_a_flipped_byte_inside_an_index_key_passes_quick_check_and_verify_names_it(sqlite_templates, tmp_path, index):
    path = _copy(sqlite_templates, tmp_path, THOUSANDS)
    flip_a_byte_in_an_index_key(str(path), index)
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    assert connection.execute("PRAGMA integrity_check").fetchall() != [("ok",)]
    assert any(index in line for line in schema.index_problems(connection))
    connection.close()
    result = invoke(["--db", str(path), "verify"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: verify failed at the database file: the database file is damaged: ")
    assert f"missing from index {index}" in result.stderr


# Unreadable values ---------------------------------------------------------------------------------


def _counted(path: Path, check) -> tuple[integrity.VerifyResult, int]:
    """The check's result and the number of SQL statements it ran (every engine, this process)."""
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    database = Database(str(path))
    event.listen(Engine, "before_cursor_execute", count)
    try:
        with database.reading() as session:
            return check(session), statements
    finally:
        event.remove(Engine, "before_cursor_execute", count)
        database.dispose()


def _one_bad_value_of_each_kind(sqlite_templates, tmp_path: Path, kind: str) -> None:
    """An event stamped with words, and a piece of evidence whose title is not UTF-8, in the
    middle of a database: each named once, for about the work of the full check of the sound
    one. The work is counted in SQL statements, not timed: a bad value must cost a statement
    or two to read it alone, never one per row read before it."""
    path = _copy(sqlite_templates, tmp_path, kind)
    clean, clean_statements = _counted(path, integrity.full_verify)
    assert clean.ok
    seq, evidence = clean.events * 2 // 3, clean.events // 3
    connection = sqlite3.connect(path)
    connection.execute("UPDATE event SET recorded_at = 'last Tuesday' WHERE seq = ?", (seq,))
    connection.execute("UPDATE evidence SET title = CAST(x'496d706f72746564ff' AS TEXT) WHERE id = ?", (evidence,))
    connection.commit()
    connection.close()
    result, bad_statements = _counted(path, integrity.verify)
    problems = [(f.seq, f.table, f.key, f.problem.split(" (")[0]) for f in result.findings]
    assert problems.count((seq, None, None, "recorded_at holds a value that cannot be read")) == 1, problems[:5]
    assert sum(f[1:] == ("evidence", str(evidence), "title holds a value that cannot be read") for f in problems) == 1
    print(f"\n[figures] {clean.events} events: full check {clean_statements} statements, bad {bad_statements}")
    # every finding costs the full check (the quick pass stands aside); the bad values add little to it
    assert bad_statements <= 2 * clean_statements + 10, (bad_statements, clean_statements)


def test_an_unreadable_value_costs_a_few_statements_not_one_per_row(sqlite_templates, tmp_path):
    _one_bad_value_of_each_kind(sqlite_templates, tmp_path, THOUSANDS)


@pytest.mark.slow
def test_an_unreadable_value_in_fifty_thousand_events_costs_a_few_statements(sqlite_templates, tmp_path):
    _one_bad_value_of_each_kind(sqlite_templates, tmp_path, FIFTY_THOUSAND)


# Write-ahead logs ----------------------------------------------------------------------------------


def _add_and_die(path: Path, code: str) -> None:
    """Add a recommendation, then die before any checkpoint: its pages stay in the ``-wal`` file."""
    script = (
        "import os, sys\n"
        "from tracker import services\n"
        "from tracker.store.database import Database\n"
        "Database(sys.argv[1]).write(lambda session: services.add_recommendation(session, source='tip-2019-khm',"
        " code=sys.argv[2], title='Late', text='Added late.', pillar='prosecution', actor='tester'))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path), code], check=True, timeout=120)
    assert Path(f"{path}-wal").stat().st_size > 32


def _add(path: Path, code: str) -> None:
    result = invoke(["--db", str(path), *REC_ADD, "--code", code, "--by", "tester"])
    assert result.exit_code == 0, result.output


def _codes(path: Path) -> list[str]:
    result = invoke(["--db", str(path), "rec", "list", "--json"])
    assert result.exit_code == 0, result.output
    return sorted(rec["code"] for rec in json.loads(result.stdout))


def _put_beside(wal: bytes, path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    Path(f"{path}-wal").write_bytes(wal)


REC_ADD = ["rec", "add", "--source", "tip-2019-khm", "--title", "T", "--text", "x", "--pillar", "prosecution"]


def _refused(path: Path, *fragments: str) -> None:
    """``verify``, ``rec list`` and ``rec add`` refuse the database with one line; its file is untouched."""
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for command in (["verify"], ["rec", "list"], [*REC_ADD, "--code", "refused", "--by", "tester"]):
        result = invoke(["--db", str(path), *command])
        assert result.exit_code == 1, (command, result.output)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: the write-ahead log {path}-wal does not belong"), lines
        for fragment in fragments:
            assert fragment in lines[0], (fragment, lines[0])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "the log was folded into the file"


def test_the_log_left_by_a_killed_writer_is_its_databases_and_is_applied(sqlite_templates, tmp_path):
    path = _copy(sqlite_templates, tmp_path)
    before = _codes(path)
    _add_and_die(path, "late-1")
    assert _codes(path) == sorted([*before, "late-1"])
    result = invoke(["--db", str(path), "verify"])
    assert result.exit_code == 0, result.output


def test_the_log_of_another_database_is_refused(sqlite_templates, tmp_path):
    """Two databases of one lineage: the log of one, put beside the other, would replace its
    last rows with the first one's (before: `rec list` showed fewer rows, verify said OK)."""
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    shutil.copyfile(_copy(sqlite_templates, tmp_path), first)
    shutil.copyfile(first, second)
    _add(second, "second-1")
    _add(second, "second-2")
    expected = _codes(second)
    _add_and_die(first, "first-1")
    _put_beside(Path(f"{first}-wal").read_bytes(), second)
    _refused(second, "the database file holds events 1 to ", "is missing")
    for suffix in ("-wal", "-shm"):
        Path(f"{second}{suffix}").unlink()
    assert _codes(second) == expected


def test_an_older_log_of_the_same_database_is_refused(sqlite_templates, tmp_path):
    """A copy of the log a killed writer left, put back after later writes were checkpointed."""
    path = _copy(sqlite_templates, tmp_path)
    _add_and_die(path, "late-1")
    stale = Path(f"{path}-wal").read_bytes()
    _add(path, "late-2")  # applies the log, then folds it into the file
    _add(path, "late-3")
    _put_beside(stale, path)
    _refused(path)


def test_a_log_of_another_page_size_is_refused(sqlite_templates, tmp_path):
    """SQLite even applies a log whose pages are not the database's size."""
    path, other = _copy(sqlite_templates, tmp_path), tmp_path / "other.db"
    shutil.copyfile(path, other)
    connection = sqlite3.connect(other)
    for statement in ("PRAGMA journal_mode = DELETE", "PRAGMA page_size = 8192", "VACUUM", "PRAGMA journal_mode = WAL"):
        connection.execute(statement)
    connection.close()
    _add_and_die(other, "late-1")
    _put_beside(Path(f"{other}-wal").read_bytes(), path)
    _refused(path, "its pages are of 8192 bytes, the database's of 4096")


def test_a_log_is_checked_only_when_it_holds_frames(sqlite_templates, tmp_path, monkeypatch):
    """No ``-wal`` file, or an empty one: no page of it is read (the check costs nothing)."""
    from tracker.store import engine

    path = _copy(sqlite_templates, tmp_path)
    calls = []
    monkeypatch.setattr(engine, "_wal_breaks_the_chain", lambda *args: calls.append(args))
    assert _codes(path)
    Path(f"{path}-wal").write_bytes(b"")
    assert _codes(path)
    assert calls == []
