"""``tracker backup PATH``: a consistent copy of a SQLite database while writers run.

Each copy taken during the writes (with ``Database.backup``, what the command calls) must
pass ``integrity_check``, ``foreign_key_check`` and the full verification, and be a prefix
of the final history (its last event is in the final chain with the same hash). On
PostgreSQL the command says to use pg_dump.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from tracker.errors import TrackerError
from tracker.store.database import Database

import robust_support as support
from conftest import dump, invoke

HERE = Path(__file__).parent


def last_event(url: str) -> tuple[int, str]:
    return support.sql_rows(url, "SELECT seq, hash FROM event ORDER BY seq DESC LIMIT 1")[0]


def backups_while_writing(url: str, folder: Path, writers: int, count: int, copies: int) -> dict[str, int]:
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "robust_support.py"),
                "loop",
                "--db",
                url,
                "--tag",
                f"b{n}",
                "--count",
                str(count),
                "--attach-bytes",
                "4096",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for n in range(writers)
    ]
    taken = []
    database = Database(url)
    start = len(support.evidence_titles(url))
    while len(taken) < copies:
        if len(support.evidence_titles(url)) >= start + (len(taken) + 1) * writers * count // (copies + 1):
            path = folder / f"copy-{len(taken)}.db"
            assert database.backup(path) == path  # what `tracker backup PATH` does
            taken.append(path)
        elif all(p.poll() is not None for p in processes):
            break
        time.sleep(0.05)
    database.dispose()
    records = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        records += support.read_records(stdout)
    support.check_writes(url, records, expected=writers * count)
    support.verify_ok(url)
    final = dict(support.sql_rows(url, "SELECT seq, hash FROM event"))
    sizes = []
    for path in taken:
        support.sqlite_health(path)
        support.verify_ok(str(path))
        seq, digest = last_event(str(path))
        assert final[seq] == digest, "the copy is not a prefix of the history"
        sizes.append(len(support.evidence_titles(str(path))))
    assert len(taken) == copies, "the writers finished before every copy was taken"
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] <= len(support.evidence_titles(url))
    return {"copies": len(taken), "rows_in_copies": sum(sizes), "writes": len(records)}


@pytest.fixture
def sqlite_url(sqlite_templates, tmp_path) -> str:
    import shutil

    path = tmp_path / "live.db"
    shutil.copyfile(sqlite_templates["loaded"], path)
    return str(path)


def test_backups_taken_while_writers_run_are_whole(sqlite_url, tmp_path):
    figures = backups_while_writing(sqlite_url, tmp_path, writers=2, count=15, copies=2)
    assert figures["copies"] == 2


@pytest.mark.slow
def test_many_backups_taken_while_eight_writers_run_are_whole(sqlite_url, tmp_path):
    figures = backups_while_writing(sqlite_url, tmp_path, writers=8, count=60, copies=10)
    print(f"\n[figures] backup sqlite: {figures}")


def test_backup_refuses_an_existing_path_a_symlink_or_a_missing_directory(sqlite_url, tmp_path):
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"keep me")
    dangling = tmp_path / "dangling.db"
    dangling.symlink_to(tmp_path / "elsewhere.db")
    for path in (existing, dangling, tmp_path / "no" / "such" / "dir.db"):
        result = invoke(["--db", sqlite_url, "backup", str(path)])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1
    assert existing.read_bytes() == b"keep me"
    assert not (tmp_path / "elsewhere.db").exists()
    assert not (tmp_path / "no").exists()


def test_backup_on_postgresql_says_to_use_pg_dump(backend, database, url, tmp_path):
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    target = tmp_path / "copy.db"
    before = dump(url)
    with pytest.raises(TrackerError) as refused:
        database.backup(target)
    assert refused.value.exit_code == 1 and "pg_dump" in str(refused.value)
    assert not target.exists()
    # and the database is untouched
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM event")).scalar() >= 1
    assert dump(url) == before
