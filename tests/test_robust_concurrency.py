"""Concurrent writers: N processes log evidence at once; nothing is lost, nobody sees an error.

The default suite runs 2 writer processes x 10 commands, each command through the real
entry point ``cli.main`` inside its writer process (a fresh engine each time, as a
separate ``tracker`` process would have). The slow suite runs 4 x 10 the same way, 8 x 100
commands, each one its own ``python -c "from tracker import cli; cli.main()"`` process, and a
negative control with the serialisation removed, which must make the same check fail.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import robust_support as support
from conftest import add_evidence

HERE = Path(__file__).parent


def start_writers(
    url: str, writers: int, count: int, mode: str, *, unserialised: bool = False, tag: str = "w"
) -> list[subprocess.Popen]:
    extra = ["--unserialised"] if unserialised else []
    return [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "robust_support.py"),
                mode,
                "--db",
                url,
                "--tag",
                f"{tag}{n}",
                "--count",
                str(count),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for n in range(writers)
    ]


def collect(processes: list[subprocess.Popen]) -> list[dict]:
    records = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=3600)
        assert process.returncode == 0, stderr
        records += support.read_records(stdout)
    return records


def run_concurrently(url: str, writers: int, count: int, mode: str, *, unserialised: bool = False) -> list[dict]:
    before = len(support.evidence_titles(url))
    records = collect(start_writers(url, writers, count, mode, unserialised=unserialised))
    assert len(records) == writers * count
    check(url, records, before)
    return records


def check(url: str, records: list[dict], before: int) -> None:
    """All N*M commands exited 0 with no message; N*M new rows, each at its printed id; verify passes."""
    stored = support.check_writes(url, records)
    assert len(stored) == before + len(records)
    support.verify_ok(url)


def test_two_concurrent_writers(backend, url):
    run_concurrently(url, writers=2, count=10, mode="loop")


@pytest.mark.slow
def test_concurrent_writers(backend, url):
    """4 processes x 10 commands: more contention than the two writers above."""
    run_concurrently(url, writers=4, count=10, mode="loop")


@pytest.mark.slow
def test_concurrent_writers_full_size(backend, url):
    """8 processes x 100 `tracker evidence add` processes each: 800 rows."""
    records = run_concurrently(url, writers=8, count=100, mode="exec")
    print(f"\n[figures] concurrency {backend}: 8 writers x 100 commands = {len(records)} rows, 0 errors, verify OK")


@pytest.mark.slow
def test_negative_control_without_serialisation_the_check_fails(backend, url):
    """Plain BEGIN on SQLite, no advisory lock on PostgreSQL, no retries: errors reach users.

    Many short in-process commands per writer make the race near certain; the control
    is repeated (up to 5 times) until the check fails, and it must fail at least once.
    """
    for attempt in range(1, 6):
        before = len(support.evidence_titles(url))
        records = collect(start_writers(url, 8, 40, "loop", unserialised=True, tag=f"a{attempt}w"))
        try:
            check(url, records, before)
        except AssertionError as failure:
            errors = [r for r in records if r["code"] != 0]
            print(
                f"\n[figures] negative control {backend}: attempt {attempt}, {len(errors)} of "
                f"{len(records)} commands failed; e.g. {errors[0]['stderr'].strip() if errors else failure}"
            )
            return
    pytest.fail("the concurrency check passed even without serialisation: it cannot detect a race")


def test_the_unserialised_patch_really_removes_the_lock(backend, url):
    """Guard for the negative control: the names it patches exist and are used by writes."""
    import tracker.store.engine as db

    assert callable(db.lock_chain) and callable(db.begin_sqlite) and callable(db.translate_errors)
    calls = []
    original_lock, original_begin = db.lock_chain, db.begin_sqlite
    db.lock_chain = lambda session: calls.append("lock") or original_lock(session)
    db.begin_sqlite = lambda connection, *, write: (
        calls.append(("begin", write)) or original_begin(connection, write=write)
    )
    try:
        with ThreadPoolExecutor(1) as pool:  # a fresh Database, as a command would have
            evidence_id = pool.submit(write_evidence, url, "patched").result()
    finally:
        db.lock_chain, db.begin_sqlite = original_lock, original_begin
    assert support.evidence_titles(url)[evidence_id] == "patched"
    assert ("lock" in calls) if backend == "postgres" else (("begin", True) in calls)


# Readers see one snapshot ------------------------------------------------------------------------


def write_evidence(url: str, title: str) -> int:
    """What one ``tracker evidence add`` does, with a Database of its own; the new id."""
    from tracker.store.database import Database

    database = Database(url)
    try:
        return add_evidence(database, [support.REC], title, "2019-07-01", "inspection", actor="robust")
    finally:
        database.dispose()


def event_count(session) -> int:
    from sqlalchemy import func, select

    from tracker.store.models import Event

    return session.scalar(select(func.count()).select_from(Event))


def test_a_reading_session_sees_one_snapshot_while_another_command_writes(backend, url):
    """Every query of a command reads the same state: a write committed meanwhile is not half seen."""
    from tracker.store.database import Database

    database = Database(url)
    try:
        with database.reading() as session:
            before = event_count(session)
            write_evidence(url, "meanwhile")  # another command's write, committed meanwhile
            assert event_count(session) == before
        with database.reading() as session:
            assert event_count(session) == before + 1
    finally:
        database.dispose()


def test_verify_is_not_fooled_by_a_write_committed_while_it_reads(backend, url, monkeypatch):
    """The full verification reads the events, then the tables: a write committed in between
    must not show as rows that no event recorded."""
    from tracker.audit import verify as integrity
    from tracker.store.database import Database

    real_rows, wrote = integrity._table_rows, []

    def rows_after_a_write(session, table, columns):
        if not wrote:
            wrote.append(write_evidence(url, "during verify"))
        return real_rows(session, table, columns)

    monkeypatch.setattr(integrity, "_table_rows", rows_after_a_write)
    database = Database(url)
    try:
        with database.reading() as session:
            result = integrity.full_verify(session)
    finally:
        database.dispose()
    assert wrote and support.evidence_titles(url)[wrote[0]] == "during verify", wrote
    assert result.ok, [finding.describe() for finding in result.findings]
    monkeypatch.undo()
    support.verify_ok(url)
