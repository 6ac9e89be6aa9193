"""Bulk import (CSV) and export/restore (JSON), through the real command line.

SQLite and PostgreSQL: CSV imports land as if each row had been recorded by its command,
an import is one transaction even when the process is killed midway, a file is imported
once unless ``--again``, and export -> restore into an empty database -> export gives the
same bytes (across backends too).
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from conftest import POSTGRES_URL, _pg_admin, _pg_url, dump, invoke
from tracker import clock
from tracker.store.database import Database

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2019, 10, 5, 12, tzinfo=UTC)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 16 + b"%%EOF\n"


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=UTC)


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(result):
    return json.loads(ok(result))


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def sql(url: str, statement: str, **params):
    engine = create_engine(Database(url).url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return result.all() if result.returns_rows else result.rowcount
    finally:
        engine.dispose()


EVIDENCE_CSV = """rec,title,date,kind,stance,source_name,reliability,sensitivity,url,summary
labor-inspections,Kandal kilns inspected,2019-07-30,inspection,,MoLVT,confirmed,public,https://example.org/k,
undercover-techniques; prosecute-convict,"Draft law, article 12",2019-08-14,law,progress,,,,,"Two
lines of summary"
victim-identification,Shelters turn victims away,2019-09-01,ngo_report,setback,,unverified,confidential,,
"""


# CSV imports --------------------------------------------------------------------------------------


def test_an_evidence_csv_lands_as_if_each_row_was_logged(run, url, tmp_path):
    with clock.frozen(at("2019-08-01")):
        assert ok(run("evidence", "add", "--rec", "labor-inspections", "--title", "Before", "--date", "2019-07-01",
                      "--kind", "statistic")).strip() == "1"
    path = write(tmp_path / "evidence.csv", EVIDENCE_CSV)
    with clock.frozen(NOW):
        result = run("import", path, "--by", "importer")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Imported 3 evidence rows from {path} as import 1 (evidence 2 to 4): 3 evidence rows, 4 evidence links, "
        "4 events"]

    with clock.frozen(NOW):
        listed = as_json(run("evidence", "list", "--json"))
    assert [(e["id"], e["title"]) for e in listed] == [
        (1, "Before"), (2, "Kandal kilns inspected"), (3, "Draft law, article 12"), (4, "Shelters turn victims away")]
    kandal, draft, shelters = listed[1:]
    assert kandal["recommendations"] == [{"ref": "labor-inspections", "stance": "progress"}]  # default stance
    assert (kandal["reliability"], kandal["sensitivity"], kandal["source_name"], kandal["url"], kandal["summary"]) == (
        "confirmed", "public", "MoLVT", "https://example.org/k", None)
    assert draft["recommendations"] == [{"ref": "prosecute-convict", "stance": "progress"},
                                        {"ref": "undercover-techniques", "stance": "progress"}]
    assert (draft["reliability"], draft["sensitivity"], draft["summary"]) == ("credible", "internal",
                                                                              "Two\nlines of summary")
    assert shelters["recommendations"] == [{"ref": "victim-identification", "stance": "setback"}]
    assert {e["recorded_by"] for e in listed[1:]} == {"importer"}
    assert {e["recorded_at"] for e in listed[1:]} == {clock.iso_utc(NOW)}

    events = list(reversed(as_json(run("log", "--json"))))
    assert [e["action"] for e in events] == ["catalog.load", "evidence.add", "import.file", "evidence.add",
                                             "evidence.add", "evidence.add"]
    batch = json.loads(events[2]["payload"])
    assert batch["rows"]["import_batch"][0]["rows"] == 3 and batch["rows"]["import_batch"][0]["filename"] == "evidence.csv"
    assert [json.loads(e["payload"])["import_batch"] for e in events[3:]] == [1, 1, 1]
    assert ok(run("verify")) == ""

    # ids carry on after the imported ones (on PostgreSQL too: the sequences moved on)
    with clock.frozen(NOW):
        assert ok(run("evidence", "add", "--rec", "labor-inspections", "--title", "After", "--date", "2019-10-01",
                      "--kind", "statistic")).strip() == "5"
    assert ok(run("verify")) == ""


def test_status_and_measurement_csvs(run, url, tmp_path):
    with clock.frozen(at("2019-08-01")):
        ok(run("evidence", "add", "--rec", "labor-inspections", "--title", "Kilns", "--date", "2019-07-30",
               "--kind", "inspection"))
        ok(run("status", "set", "labor-inspections", "in_progress", "--on", "2019-07-30", "--note", "Started"))
    statuses = write(tmp_path / "status.csv", "\ufeffrec,status,effective_on,note,evidence\r\n"
                     "labor-inspections,partially_implemented,2019-09-30,Three provinces,1\r\n"
                     "undercover-techniques,in_progress,2019-08-14,\"Draft law, tabled\",\r\n")
    values = write(tmp_path / "values.csv", "indicator,quarter,value,note,evidence\n"
                   "kiln-inspections,2019Q3,12,Kandal,1\n"
                   "kiln-inspections,2019-q3,14,All provinces,\n"
                   "convictions,2019Q2,3.5,,\n")
    with clock.frozen(NOW):
        assert ok(run("import", statuses)) == ""
        assert ok(run("import", values)) == ""
        history = as_json(run("status", "history", "labor-inspections", "--json"))
        indicator = as_json(run("indicator", "show", "kiln-inspections", "--json"))
        convictions = as_json(run("indicator", "show", "convictions", "--json"))
        undercover = as_json(run("rec", "show", "undercover-techniques", "--json"))
    assert [(h["id"], h["status"], h["effective_on"], h["note"], h["evidence"]) for h in history] == [
        (1, "in_progress", "2019-07-30", "Started", []),
        (2, "partially_implemented", "2019-09-30", "Three provinces", [1]),
    ]
    assert undercover["status"] == "in_progress"
    assert [(m["quarter"], m["value"], m["note"], m["evidence_id"], m["current"]) for m in indicator["measurements"]] == [
        ("2019Q3", 12.0, "Kandal", 1, False), ("2019Q3", 14.0, "All provinces", None, True)]
    assert [(m["quarter"], m["value"], m["note"]) for m in convictions["measurements"]] == [("2019Q2", 3.5, None)]
    with clock.frozen(NOW):
        assert ok(run("status", "set", "labor-inspections", "implemented", "--on", "2019-10-01",
                      "--note", "Done")).strip() == "4"
    assert ok(run("verify")) == ""


def test_a_dry_run_says_what_it_would_add_and_writes_nothing(run, url, tmp_path):
    path = write(tmp_path / "evidence.csv", EVIDENCE_CSV)
    before = dump(url)
    with clock.frozen(NOW):
        result = run("import", path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"Would import 3 evidence rows from {path}: 3 evidence rows, 4 evidence links, 4 events "
                             "(dry run: nothing was written)\n")
    assert dump(url) == before
    with clock.frozen(NOW):
        ok(run("import", path))  # a dry run does not count as an import
    assert len(dump(url)["evidence"]) == 3


def test_a_file_is_imported_once_unless_again(run, url, tmp_path):
    path = write(tmp_path / "evidence.csv", EVIDENCE_CSV)
    with clock.frozen(NOW):
        ok(run("import", path))
    before = dump(url)
    renamed = write(tmp_path / "copy-of-evidence.csv", EVIDENCE_CSV)  # the same content under another name
    for again in (path, renamed):
        with clock.frozen(at("2019-10-20")):
            result = run("import", again)
        assert result.exit_code == 1, result.output
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert "already imported on 2019-10-05" in lines[0] and "--again" in lines[0]
        assert dump(url) == before
    with clock.frozen(at("2019-10-20")):
        ok(run("import", renamed, "--again"))
    after = dump(url)
    assert len(after["evidence"]) == 6 and len(after["import_batch"]) == 2
    assert ok(run("verify")) == ""


def test_an_imported_row_changed_in_sql_is_caught_by_its_own_event(run, url, tmp_path):
    with clock.frozen(NOW):
        ok(run("import", write(tmp_path / "evidence.csv", EVIDENCE_CSV)))
    events = as_json(run("log", "--json"))
    seq = next(e["seq"] for e in events if e["action"] == "evidence.add"
               and json.loads(e["payload"])["rows"]["evidence"][0]["id"] == 2)
    assert sql(url, "UPDATE evidence SET title = 'Something else' WHERE id = 2") == 1
    result = run("verify")
    assert result.exit_code == 1, result.output
    assert f"event {seq}, evidence row 2" in result.stderr and "title" in result.stderr


# One transaction, even when killed -------------------------------------------------------------

# Runs `tracker import` in its own process, pausing right after the first bulk insert of
# evidence rows, inside the import's transaction, so that the kill lands midway for certain.
STALLING_IMPORT = """
import sys, time
from tracker import importing
insert = importing._insert_chunk
def insert_then_stall(session, table, rows):
    insert(session, table, rows)
    if table.name == "evidence":
        print(f"inserted {len(rows)} evidence rows", flush=True)
        time.sleep(600)
importing._insert_chunk = insert_then_stall
from tracker import cli
cli.main(sys.argv[1:])
"""


def big_csv(path: Path, rows: int) -> Path:
    lines = ["rec,title,date,kind,summary"] + [
        f"labor-inspections;prosecute-convict,Inspection report {n},2019-0{n % 9 + 1}-1{n % 10},inspection,Row {n}"
        for n in range(rows)
    ]
    return write(path, "\n".join(lines) + "\n")


def test_an_import_killed_midway_leaves_none_of_its_rows(run, url, tmp_path):
    with clock.frozen(at("2019-08-01")):
        ok(run("evidence", "add", "--rec", "labor-inspections", "--title", "Before", "--date", "2019-07-01",
               "--kind", "statistic"))
    path = big_csv(tmp_path / "ten-thousand.csv", 10_000)
    before = dump(url)
    process = subprocess.Popen(
        [sys.executable, "-c", STALLING_IMPORT, "--db", url, "import", str(path)],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    watchdog = threading.Timer(300, process.kill)
    watchdog.start()
    try:
        marker = process.stdout.readline()
        assert marker.startswith("inserted "), (marker, process.stderr.read() if process.poll() is not None else "")
        written = int(marker.split()[1])
        assert 0 < written < 10_000  # midway: some rows are in the open transaction, not all
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        watchdog.cancel()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL

    assert dump(url) == before  # none of its rows, no import record, no event
    result = run("verify")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("OK: ")

    # and the file was not recorded as imported: importing it now works, in full
    result = run("import", path)
    assert result.exit_code == 0, result.output
    assert "Imported 10000 evidence rows" in result.stderr
    assert len(dump(url)["evidence"]) == 10_001
    assert ok(run("verify")) == ""


def on_a_terminal(*args: str, prelude: str = "") -> tuple[int, str]:
    """Run tracker with stderr on a pseudo-terminal: (exit code, what the terminal showed).
    Its stdout is a pipe and must stay empty. ``prelude`` is Python run first."""
    terminal, stderr_end = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", f"{prelude}\nfrom tracker import cli; cli.main()", *args],
                               cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr_end)
    os.close(stderr_end)
    watchdog = threading.Timer(300, process.kill)
    watchdog.start()
    shown = b""
    try:
        while True:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            shown += chunk
        code = process.wait(timeout=60)
        assert process.stdout.read() == b""
    finally:
        watchdog.cancel()
        process.stdout.close()
        os.close(terminal)
    return code, shown.decode()


def test_a_progress_bar_on_a_terminal_only(url, tmp_path):
    path = big_csv(tmp_path / "long.csv", 3_000)
    quiet = invoke(["--db", url, "import", path, "--dry-run"])  # stderr is no terminal here
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output

    code, shown = on_a_terminal("--db", url, "import", str(path))
    assert code == 0, shown
    assert "Checking long.csv" in shown and "Importing long.csv" in shown and "100%" in shown
    assert shown.rstrip().splitlines()[-1] == f"Imported 3000 evidence rows from {path} as import 1 (evidence 1 to 3000): " \
        "3000 evidence rows, 6000 evidence links, 3001 events"


def test_the_full_verification_shows_its_progress_on_a_terminal(url, tmp_path):
    """A changed row makes verify run its full check, which shows a bar for the chain and
    one for the rows, then the one-line error."""
    ok(invoke(["--db", url, "import", str(big_csv(tmp_path / "long.csv", 1_500))]))
    database = Database(url)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE evidence SET title = 'Changed' WHERE id = 700"))
    database.dispose()
    quiet = invoke(["--db", url, "verify"])
    assert quiet.exit_code == 1 and quiet.stderr.count("\n") == 1, quiet.output

    code, shown = on_a_terminal("--db", url, "verify")
    assert code == 1, shown
    assert "Checking the chain" in shown and "Checking the rows" in shown and "100%" in shown
    assert shown.rstrip().splitlines()[-1].startswith("Error: verify failed at event "), shown
    assert "evidence row 700: differs from what its event recorded (title)" in shown


def test_the_quick_verification_shows_its_progress_on_a_terminal(backend, url, tmp_path):
    """On SQLite, a chain long enough to be shared with a second process shows one bar (here
    "long enough" is lowered to 1,000 events), then the OK line."""
    ok(invoke(["--db", url, "import", str(big_csv(tmp_path / "long.csv", 1_500))]))
    code, shown = on_a_terminal("--db", url, "verify",
                                prelude="import tracker.audit.quick as quick; quick.SPLIT_MIN_EVENTS = 1_000")
    assert code == 0, shown
    lines = shown.rstrip().splitlines()
    assert lines[-1].startswith("OK: 1502 events"), shown
    if backend == "sqlite":
        assert "Checking the chain" in shown and "100%" in shown and "Checking the rows" not in shown


# Export and restore -----------------------------------------------------------------------------


def populate(run, tmp_path: Path) -> None:
    """A database with one of everything: files, retractions, citations, imports, agencies."""
    pdf = write(tmp_path / "kandal.pdf", PDF)
    notes = write(tmp_path / "notes.txt", "Field notes\nline two\n")
    with clock.frozen(at("2019-08-01")):
        ok(run("evidence", "add", "--rec", "labor-inspections", "--title", "Kilns inspected", "--date", "2019-07-30",
               "--kind", "inspection", "--attach", pdf, "--attach", notes, "--sensitivity", "public"))
        ok(run("evidence", "add", "--rec", "labor-inspections", "--title", "Same file again", "--date", "2019-07-31",
               "--kind", "media_report", "--attach", pdf))
        ok(run("status", "set", "labor-inspections", "in_progress", "--on", "2019-08-01",
               "--note", "First inspections — «ខ្មែរ»", "--evidence", "1", "--evidence", "2"))
        ok(run("indicator", "record", "kiln-inspections", "2019Q3", "12", "--evidence", "1"))
    with clock.frozen(at("2019-09-01")):
        ok(run("evidence", "retract", "2", "--reason", "Duplicate"))
        ok(run("agency", "add", "mfaic", "Ministry of Foreign Affairs"))
        ok(run("rec", "assign", "victim-identification", "mfaic", "--role", "support"))
        ok(run("rec", "add", "--source", "tip-2019-khm", "--code", "shelter-funding", "--title", "Fund shelters",
               "--text", "Increase funding\nfor shelters.", "--pillar", "protection", "--due", "2021-12-31",
               "--paraphrase"))
        ok(run("indicator", "add", "shelter-funding", "--code", "shelter-beds", "--name", "Shelter beds",
               "--unit", "beds", "--direction", "up", "--target", "200.5"))
        ok(run("indicator", "record", "shelter-beds", "2019Q3", "0.1"))
        ok(run("indicator", "record", "kiln-inspections", "2019Q3", "14"))
    with clock.frozen(NOW):
        ok(run("import", write(tmp_path / "evidence.csv", EVIDENCE_CSV)))
        ok(run("import", write(tmp_path / "status.csv", "rec,status,effective_on,note,evidence\n"
                                                          "shelter-funding,in_progress,2019-09-15,Budget line,1;3\n")))


def export_bytes(db_url: str, tmp_path: Path, name: str, *extra: str) -> bytes:
    target = tmp_path / name
    result = invoke(["--db", db_url, "export", "-o", target, *extra])
    assert result.exit_code == 0, result.output
    return target.read_bytes()


@pytest.mark.parametrize("with_files", [True, False], ids=["with-files", "without-files"])
def test_export_restore_export_is_byte_identical(run, url, make_url_for, tmp_path, with_files):
    populate(run, tmp_path)
    empty_url = make_url_for("blank")
    created = invoke(["--db", empty_url, "init", "--no-catalog"])
    assert created.exit_code == 0, created.output
    flags = ["--with-files"] if with_files else []
    first = export_bytes(url, tmp_path, "first.json", *flags)
    document = json.loads(first)
    assert (document["format"], document["version"], document["files"]) == ("tracker-export", 1, with_files)
    assert [row["id"] for row in document["tables"]["evidence"]] == [1, 2, 3, 4, 5]
    assert len(document["tables"]["event"]) == len(dump(url)["event"])

    source = tmp_path / "first.json"
    if not with_files:  # an export without the files' content cannot be restored
        before = dump(empty_url)
        result = invoke(["--db", empty_url, "import", source])
        assert result.exit_code == 2, result.output
        assert "--with-files" in result.stderr and len(result.stderr.splitlines()) == 1
        assert dump(empty_url) == before
        export_bytes(url, tmp_path, "restorable.json", "--with-files")
        source = tmp_path / "restorable.json"

    restored = invoke(["--db", empty_url, "import", source])
    assert restored.exit_code == 0, restored.output
    assert restored.stderr.startswith(f"Restored {source}: 1 source, 5 recommendations, 6 agencies")
    assert export_bytes(empty_url, tmp_path, "second.json", *flags) == first

    # the restored database is the same database: its reads, its log, its chain
    for args in (["evidence", "list", "--include-retracted", "--json"], ["status", "history", "labor-inspections", "--json"],
                 ["indicator", "show", "kiln-inspections", "--json"], ["rec", "list", "--json"], ["log", "--json"]):
        with clock.frozen(NOW):
            assert invoke(["--db", empty_url, *args]).stdout == invoke(["--db", url, *args]).stdout, args
    assert invoke(["--db", empty_url, "verify"]).exit_code == 0
    sha = json.loads(invoke(["--db", empty_url, "evidence", "show", "1", "--json"]).stdout)["attachments"]
    pdf_sha = next(a["sha256"] for a in sha if a["filename"] == "kandal.pdf")
    assert invoke(["--db", empty_url, "evidence", "file", pdf_sha, "-o", tmp_path / "back.pdf"]).exit_code == 0
    assert (tmp_path / "back.pdf").read_bytes() == PDF

    # and it goes on: new ids after the restored ones (PostgreSQL sequences moved on)
    with clock.frozen(NOW):
        added = invoke(["--db", empty_url, "evidence", "add", "--rec", "shelter-funding", "--title", "New",
                        "--date", "2019-10-01", "--kind", "statistic"])
        assert added.stdout.strip() == "6", added.output
        assert invoke(["--db", empty_url, "status", "set", "shelter-funding", "implemented", "--on", "2019-10-01",
                       "--note", "Funded"]).stdout.strip() == "3"
    assert invoke(["--db", empty_url, "verify"]).exit_code == 0


def test_export_goes_to_stdout_or_a_new_file(run, url, tmp_path):
    target = write(tmp_path / "existing.json", "keep me")
    refused = run("export", "-o", target)
    assert refused.exit_code == 2 and "--force" in refused.stderr, refused.output
    assert target.read_text() == "keep me"
    ok(run("export", "-o", target, "--force"))
    printed = run("export")
    assert printed.exit_code == 0 and printed.stdout.encode() == target.read_bytes()
    assert json.loads(printed.stdout)["tables"]["source"][0]["slug"] == "tip-2019-khm"


def test_a_restore_needs_an_empty_database(run, url, empty_url, tmp_path):
    populate(run, tmp_path)
    export = tmp_path / "export.json"
    ok(run("export", "-o", export, "--with-files"))
    before = dump(url)
    into_itself = run("import", export)
    assert into_itself.exit_code == 1, into_itself.output
    assert "already restored here" in into_itself.stderr and len(into_itself.stderr.splitlines()) == 1
    other = invoke(["--db", empty_url, "init"])  # the catalog only: not empty
    assert other.exit_code == 0, other.output
    other_before = dump(empty_url)
    refused = invoke(["--db", empty_url, "import", export])
    assert refused.exit_code == 1, refused.output
    assert "empty database only" in refused.stderr and "--no-catalog" in refused.stderr
    assert dump(url) == before and dump(empty_url) == other_before


def test_a_restore_dry_run_writes_nothing(run, url, empty_url, tmp_path):
    populate(run, tmp_path)
    export = tmp_path / "export.json"
    ok(run("export", "-o", export, "--with-files"))
    before = dump(empty_url)
    result = invoke(["--db", empty_url, "import", export, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Would restore {export} into this empty database: 1 source")
    assert dump(empty_url) == before


@pytest.mark.parametrize("tamper", ["note", "hash", "missing row", "bad kind", "unknown field", "lone surrogate"])
def test_a_tampered_export_is_refused(run, url, empty_url, tmp_path, tamper):
    populate(run, tmp_path)
    export = tmp_path / "export.json"
    ok(run("export", "-o", export, "--with-files"))
    document = json.loads(export.read_text())
    tables = document["tables"]
    if tamper == "note":
        tables["status_update"][0]["note"] = "Nothing happened"
    elif tamper == "hash":
        tables["event"][3]["hash"] = "0" * 64
    elif tamper == "missing row":
        del tables["evidence_retraction"][0]
    elif tamper == "bad kind":
        tables["evidence"][0]["kind"] = "rumour"
    elif tamper == "unknown field":
        tables["agency"][0]["colour"] = "blue"
    else:
        tables["evidence"][0]["title"] = "Kilns \udcff inspected"
    export.write_text(json.dumps(document))
    before = dump(empty_url)
    result = invoke(["--db", empty_url, "import", export])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {export}"), result.stderr
    expected = {"note": "does not verify", "hash": "does not verify", "missing row": "does not verify",
                "bad kind": "unknown kind 'rumour'", "unknown field": "unknown field 'colour'",
                "lone surrogate": "evidence row 1 (id 1): field 'title': title is not valid Unicode"}[tamper]
    assert expected in lines[0]
    assert dump(empty_url) == before


# Across backends ---------------------------------------------------------------------------------


@pytest.fixture
def pg_empty_url(pg_templates):
    name = f"tracker_test_{os.getpid()}_cross"
    admin = _pg_admin()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_templates["empty"]}"'))
    yield _pg_url(name)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="needs TRACKER_TEST_POSTGRES_URL")
def test_export_is_byte_identical_across_backends(sqlite_templates, pg_empty_url, tmp_path):
    sqlite_url = str(tmp_path / "laptop.db")
    shutil.copyfile(sqlite_templates["loaded"], sqlite_url)
    populate(lambda *args: invoke(["--db", sqlite_url, *args]), tmp_path)
    from_sqlite = export_bytes(sqlite_url, tmp_path, "laptop.json", "--with-files")

    assert invoke(["--db", pg_empty_url, "import", tmp_path / "laptop.json"]).exit_code == 0
    from_postgres = export_bytes(pg_empty_url, tmp_path, "server.json", "--with-files")
    assert from_postgres == from_sqlite

    back = str(tmp_path / "back.db")
    shutil.copyfile(sqlite_templates["empty"], back)
    assert invoke(["--db", back, "import", tmp_path / "server.json"]).exit_code == 0
    assert export_bytes(back, tmp_path, "back.json", "--with-files") == from_sqlite
    assert invoke(["--db", pg_empty_url, "verify"]).exit_code == 0
