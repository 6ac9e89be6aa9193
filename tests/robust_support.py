"""Helpers for the robustness tests (tests/test_robust_*.py): writer processes, checks.

Run as a script it is a *writer process*::

    python robust_support.py loop  --db URL --tag T --count N [--log FILE] [--attach-bytes B]
    python robust_support.py exec  --db URL --tag T --count N
    ... [--unserialised]

``loop`` runs N real commands in this one process, each through ``cli.main`` (the real
entry point: argument parsing, a fresh engine, error mapping), and prints one JSON line
per command. ``exec`` starts one ``python -c "from tracker import cli; cli.main()"`` process per
command. ``--unserialised`` first removes the writers' serialisation from ``tracker.store.database``
(plain ``BEGIN`` on SQLite, no advisory lock on PostgreSQL, no retries): the negative
control that shows the concurrency test can fail.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text

REC = "undercover-techniques"
OTHER_REC = "victim-identification"

# Code a Python process runs first to remove the serialisation of writers.
UNSERIALISE = """
import tracker.store.engine as _db
_db.lock_chain = lambda session: None
_db.begin_sqlite = lambda connection, *, write: connection.exec_driver_sql("BEGIN")
_original_translate = _db.translate_errors
_db.translate_errors = lambda database, retryable=False: _original_translate(database, retryable=False)
"""


def cli_command(unserialised: bool = False) -> list[str]:
    """The argv prefix that runs the real ``tracker`` entry point in a new process."""
    return [sys.executable, "-c", (UNSERIALISE if unserialised else "") + "from tracker import cli; cli.main()"]


def evidence_args(db: str, title: str, attach: Path | None = None) -> list[str]:
    args = [
        "--db",
        db,
        "evidence",
        "add",
        "--rec",
        REC,
        "--title",
        title,
        "--date",
        "2019-07-01",
        "--kind",
        "inspection",
        "--summary",
        f"summary of {title}",
        "--by",
        "robust",
    ]
    if attach is not None:
        args += ["--attach", str(attach)]
    return args


def run_in_process(args: list[str]) -> dict[str, Any]:
    """Run one command through cli.main in this process; capture its exit code and output."""
    from tracker import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(args)
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def run_subprocess(args: list[str], unserialised: bool = False) -> dict[str, Any]:
    done = subprocess.run(cli_command(unserialised) + args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return {"code": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def writer_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["loop", "exec"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--count", type=int, default=10**9)
    parser.add_argument("--log")
    parser.add_argument("--attach-bytes", type=int, default=0)
    parser.add_argument("--unserialised", action="store_true")
    options = parser.parse_args(argv)
    if options.unserialised and options.mode == "loop":
        exec(UNSERIALISE, {})
    from tracker import cli  # noqa: F401  (import before announcing that we are ready)

    log = os.open(options.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if options.log else None

    def emit(record: dict[str, Any]) -> None:
        line = (json.dumps(record) + "\n").encode()
        if log is not None:
            os.write(log, line)  # unbuffered: what is written survives a SIGKILL
        else:
            sys.stdout.write(line.decode())
            sys.stdout.flush()

    emit({"ready": options.tag})
    folder = Path(options.log).parent if options.log else Path.cwd()
    for i in range(options.count):
        title = f"{options.tag}-{i}"
        attach = None
        if options.attach_bytes and i % 2 == 0:
            attach = folder / f"{title}.bin"
            attach.write_bytes(hashlib.sha256(title.encode()).digest() * (options.attach_bytes // 32 + 1))
        args = evidence_args(options.db, title, attach)
        if options.mode == "loop":
            result = run_in_process(args)
        else:
            result = run_subprocess(args, options.unserialised)
        emit({"title": title, "attached": attach is not None, **result})
        if attach is not None:
            attach.unlink()


def read_records(lines: str) -> list[dict[str, Any]]:
    records = []
    for line in lines.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by SIGKILL
        if "title" in record:
            records.append(record)
    return records


# Checks -----------------------------------------------------------------------------------


def sql_rows(url: str, query: str, **params: Any) -> list[tuple]:
    from tracker.store.database import Database

    engine = create_engine(Database(url).url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query), params)]
    finally:
        engine.dispose()


def evidence_titles(url: str) -> dict[int, str]:
    return dict(sql_rows(url, "SELECT id, title FROM evidence"))


def check_writes(url: str, records: list[dict[str, Any]], *, expected: int | None = None) -> dict[int, str]:
    """Every command succeeded quietly and printed an id that holds exactly its row."""
    failures = [r for r in records if r["code"] != 0 or r["stderr"].strip()]
    assert not failures, f"{len(failures)} of {len(records)} commands failed, e.g. {failures[:3]}"
    if expected is not None:
        assert len(records) == expected
    stored = evidence_titles(url)
    ids = [int(r["stdout"].strip()) for r in records]
    assert len(set(ids)) == len(ids), "two commands reported the same evidence id"
    for record, evidence_id in zip(records, ids):
        assert stored.get(evidence_id) == record["title"], (evidence_id, record["title"])
    return stored


def verify_ok(url: str) -> None:
    """The full verification that ``tracker verify`` runs passes: no finding."""
    from tracker.audit import verify as integrity
    from tracker.store.database import Database

    database = Database(url)
    try:
        with database.reading() as session:
            result = integrity.verify(session)
    finally:
        database.dispose()
    assert result.ok, [finding.describe() for finding in result.findings]


def sqlite_health(path: str | Path) -> None:
    """``PRAGMA integrity_check`` is ok and ``PRAGMA foreign_key_check`` finds nothing."""
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()


def table_hashes(url: str) -> dict[str, tuple[int, str]]:
    """(row count, sha256 of every row, sorted) for every table but alembic_version."""
    from tracker.store.database import Database

    engine = create_engine(Database(url).url)
    hashes = {}
    try:
        with engine.connect() as connection:
            for name in sorted(inspect(connection).get_table_names()):
                if name == "alembic_version":
                    continue
                columns = sorted(c["name"] for c in inspect(connection).get_columns(name))
                quoted = ", ".join(f'"{c}"' for c in columns)
                rows = sorted(
                    repr(tuple(_plain(v) for v in row))
                    for row in connection.execute(text(f'SELECT {quoted} FROM "{name}"'))
                )
                digest = hashlib.sha256("\n".join(rows).encode("utf-8", "surrogatepass")).hexdigest()
                hashes[name] = (len(rows), digest)
    finally:
        engine.dispose()
    return hashes


def _plain(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    return value


if __name__ == "__main__":
    writer_main(sys.argv[1:])
