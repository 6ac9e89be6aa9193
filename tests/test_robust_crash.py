"""Crash safety: writers killed with SIGKILL at random moments lose nothing they reported.

Each round starts writer processes that log evidence in a loop (every other one with a
64 KiB attachment, so that a kill often lands inside a transaction or an fsync), lets
them run for a random time, then kills them all with SIGKILL at random moments. After
every round: each write whose command printed an id is there with its title, SQLite's
``integrity_check`` is ok and ``foreign_key_check`` empty, and ``tracker verify`` passes.
1 round in the default suite; 5 and 30 in the slow one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import robust_support as support

HERE = Path(__file__).parent
WRITERS = 2


def start_writer(url: str, tag: str, folder: Path) -> tuple[subprocess.Popen, Path]:
    log = folder / f"{tag}.log"
    process = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "robust_support.py"),
            "loop",
            "--db",
            url,
            "--tag",
            tag,
            "--log",
            str(log),
            "--attach-bytes",
            str(64 * 1024),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return process, log


def wait_writing(log: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until the writer has finished its first command (so the kill lands in its write loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and b'"title"' in log.read_bytes():
            return
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.02)
    raise AssertionError(f"writer {log.stem} never finished a command")


def crash_rounds(url: str, rounds: int, folder: Path, *, seed: int) -> dict[str, int]:
    chance = random.Random(seed)
    figures = {"rounds": 0, "killed": 0, "reported": 0, "checked_rows": 0}
    reported: list[dict] = []
    for round_ in range(rounds):
        writers = [start_writer(url, f"r{round_}w{n}", folder) for n in range(WRITERS)]
        for process, log in writers:
            wait_writing(log, process)
        time.sleep(chance.uniform(0.0, 0.6))
        for process, _log in writers:
            time.sleep(chance.uniform(0.0, 0.2))
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                figures["killed"] += 1
        for process, log in writers:
            process.wait(timeout=60)
            assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
            process.stderr.close()
            records = support.read_records(log.read_text(errors="replace"))
            reported += [r for r in records if r["code"] == 0]
            # a command that finished before the kill finished cleanly
            assert all(r["code"] == 0 and not r["stderr"].strip() for r in records), records
        for leftover in folder.glob("*.bin"):
            leftover.unlink()
        stored = support.check_writes(url, reported)
        if "://" not in url:  # SQLite: a plain path
            support.sqlite_health(url)
        support.verify_ok(url)
        figures["rounds"] += 1
        figures["checked_rows"] = len(stored)
    figures["reported"] = len(reported)
    # the attachments written before the kills are whole
    rows = support.sql_rows(url, "SELECT count(*) FROM attachment")
    figures["attachments"] = rows[0][0]
    return figures


# Runs `tracker` with a marker on stderr when the import's write transaction begins.
IMPORT_WITH_MARKER = """
import sys, tracker.store.database as _db
_write = _db.Database.write
def _marked(self, work, **options):
    sys.stderr.write("WRITING\\n"); sys.stderr.flush()
    return _write(self, work, **options)
_db.Database.write = _marked
from tracker import cli; cli.main()
"""


def import_kill_rounds(url: str, rounds: int, folder: Path, *, seed: int, rows: int) -> dict[str, Any]:
    """``tracker import`` of a CSV killed inside its write transaction: all its rows or none.

    The first round runs to the end and times the write; each later round kills the
    import at a random moment between the start of its write and a little after the
    time the write took.
    """
    chance = random.Random(seed)
    figures: dict[str, Any] = {"import_rounds": 0, "killed_while_writing": 0, "finished": 0, "rows_each": rows}
    write_seconds = None
    for round_ in range(rounds):
        csv_file = folder / f"import-{round_}.csv"
        lines = ["rec,title,date,kind,summary"] + [
            f"{support.REC},imp{round_}-{n},2019-07-01,statistic,row {n} of import {round_}" for n in range(rows)
        ]
        csv_file.write_text("\n".join(lines) + "\n")
        process = subprocess.Popen(
            [sys.executable, "-c", IMPORT_WITH_MARKER, "--db", url, "import", str(csv_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        marker = process.stderr.readline()
        assert marker == b"WRITING\n", marker + process.stderr.read()
        started = time.monotonic()
        killed = False
        if write_seconds is not None:
            time.sleep(chance.uniform(0.0, 1.1 * write_seconds))
            killed = process.poll() is None
            if killed:
                os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=300)
        if write_seconds is None:
            write_seconds = time.monotonic() - started
            figures["write_seconds"] = round(write_seconds, 2)
        stderr = process.stderr.read().decode()
        process.stderr.close()
        count = support.sql_rows(url, "SELECT count(*) FROM evidence WHERE title LIKE :p", p=f"imp{round_}-%")[0][0]
        if process.returncode == 0:
            assert count == rows, (count, stderr)
            figures["finished"] += 1
        else:
            assert killed and process.returncode == -signal.SIGKILL, stderr
            assert count in (0, rows), f"a killed import left {count} of its {rows} rows"
            figures["killed_while_writing"] += 1
        if "://" not in url:
            support.sqlite_health(url)
        support.verify_ok(url)
        figures["import_rounds"] += 1
    return figures


def test_an_import_killed_midway_leaves_all_its_rows_or_none(backend, url, tmp_path):
    figures = import_kill_rounds(url, 2, tmp_path, seed=3, rows=1500)
    assert figures["import_rounds"] == 2


@pytest.mark.slow
def test_imports_killed_midway_ten_rounds(backend, url, tmp_path):
    figures = import_kill_rounds(url, 11, tmp_path, seed=10, rows=4000)
    print(f"\n[figures] import kills {backend}: {json.dumps(figures)}")
    assert figures["killed_while_writing"] > 0, "no kill landed while an import was writing"


def test_writers_killed_at_a_random_moment_lose_nothing_they_reported(backend, url, tmp_path):
    figures = crash_rounds(url, 1, tmp_path, seed=1)
    assert figures["rounds"] == 1 and figures["killed"] == WRITERS and figures["reported"] >= WRITERS, figures


@pytest.mark.slow
def test_writers_killed_at_random_lose_nothing_they_reported(backend, url, tmp_path):
    figures = crash_rounds(url, 5, tmp_path, seed=5)
    assert figures["rounds"] == 5 and figures["reported"] > 0, figures


@pytest.mark.slow
def test_writers_killed_at_random_thirty_rounds(backend, url, tmp_path):
    figures = crash_rounds(url, 30, tmp_path, seed=30)
    assert figures["rounds"] == 30, figures
    print(f"\n[figures] crash {backend}: {json.dumps(figures)}")
