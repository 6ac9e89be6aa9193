"""Bulk import (CSV) and export/restore (JSON): the library, then the two commands.

SQLite and PostgreSQL: CSV imports land as if each row had been recorded by its command
(each event byte for byte), an import is one transaction even when the process is
killed midway, a file is imported once unless ``again``, and export -> restore into an
empty database -> export gives the same bytes (across backends too). Most of it through
:func:`tracker.importing.import_file` and :func:`tracker.importing.export`; the command
line tests at the end check the wiring: exit codes, stdout and stderr, the summary line.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import io
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, create_engine, text
from sqlalchemy.orm import Session

from tracker import clock, importing, operations, queries, services
from tracker.audit.canonical import payload_text
from tracker.audit.chain import Chain, row_values, speller
from tracker.audit.verify import VerifyResult, verify
from tracker.errors import Conflict, InputError
from tracker.importing.bulk import Writer
from tracker.store import models, search_index
from tracker.store.database import Database

from conftest import POSTGRES_URL, _pg_admin, _pg_url, dump, invoke

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2019, 10, 5, 12, tzinfo=UTC)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 16 + b"%%EOF\n"
ACTOR = "tester"


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=UTC)


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


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


def read(database: Database, query: Callable[[Session], Any]) -> Any:
    with database.reading() as session:
        return query(session)


def verified(database: Database) -> VerifyResult:
    return read(database, verify)


def assert_verifies(database: Database) -> None:
    result = verified(database)
    assert result.ok, [finding.describe() for finding in result.findings]


def add_evidence(database: Database, *recs: str, title: str, date: str, kind: str, **fields: Any) -> int:
    """``tracker evidence add``: the new evidence id."""
    attachments = [services.read_attachment(path) for path in fields.pop("attach", ())]
    item = services.check_evidence(recs=recs, title=title, observed_on=date, kind=kind, **fields)
    return database.write(lambda s: services.add_evidence(s, item, attachments=attachments, actor=ACTOR).id)


def set_status(database: Database, ref: str, status: str, *, on: str, note: str, evidence: tuple[int, ...] = ()) -> int:
    """``tracker status set``: the new status update's id."""
    return database.write(
        lambda s: services.set_status(s, ref, status, effective_on=on, note=note, evidence_ids=evidence, actor=ACTOR).id
    )


def record(
    database: Database, code: str, quarter: str, value: str, *, note: str | None = None, evidence: int | None = None
) -> None:
    """``tracker indicator record``."""
    database.write(
        lambda s: services.record_measurement(s, code, quarter, value, note=note, evidence_id=evidence, actor=ACTOR)
    )


@pytest.fixture
def empty_database(empty_url) -> Iterator[Database]:
    db = Database(empty_url)
    yield db
    db.dispose()


EVIDENCE_CSV = """rec,title,date,kind,stance,source_name,reliability,sensitivity,url,summary
labor-inspections,Kandal kilns inspected,2019-07-30,inspection,,MoLVT,confirmed,public,https://example.org/k,
undercover-techniques; prosecute-convict,"Draft law, article 12",2019-08-14,law,progress,,,,,"Two
lines of summary"
victim-identification,Shelters turn victims away,2019-09-01,ngo_report,setback,,unverified,confidential,,
"""


# CSV imports --------------------------------------------------------------------------------------


def test_an_evidence_csv_lands_as_if_each_row_was_logged(database, tmp_path):
    with clock.frozen(at("2019-08-01")):
        assert add_evidence(database, "labor-inspections", title="Before", date="2019-07-01", kind="statistic") == 1
    path = write(tmp_path / "evidence.csv", EVIDENCE_CSV)
    with clock.frozen(NOW):
        summary = importing.import_file(database, path, actor="importer")
    assert summary.describe() == (
        f"Imported 3 evidence rows from {path} as import 1 (evidence 2 to 4): 3 evidence rows, 4 evidence links, "
        "4 events"
    )
    assert (summary.kind, summary.rows, summary.batch_id, summary.ids) == ("evidence", 3, 1, (2, 4))

    with clock.frozen(NOW):
        listed = read(database, queries.evidence_list)
    assert [(e["id"], e["title"]) for e in listed] == [
        (1, "Before"),
        (2, "Kandal kilns inspected"),
        (3, "Draft law, article 12"),
        (4, "Shelters turn victims away"),
    ]
    kandal, draft, shelters = listed[1:]
    assert kandal["recommendations"] == [{"ref": "labor-inspections", "stance": "progress"}]  # default stance
    assert (kandal["reliability"], kandal["sensitivity"], kandal["source_name"], kandal["url"], kandal["summary"]) == (
        "confirmed",
        "public",
        "MoLVT",
        "https://example.org/k",
        None,
    )
    assert draft["recommendations"] == [
        {"ref": "prosecute-convict", "stance": "progress"},
        {"ref": "undercover-techniques", "stance": "progress"},
    ]
    assert (draft["reliability"], draft["sensitivity"], draft["summary"]) == (
        "credible",
        "internal",
        "Two\nlines of summary",
    )
    assert shelters["recommendations"] == [{"ref": "victim-identification", "stance": "setback"}]
    assert {e["recorded_by"] for e in listed[1:]} == {"importer"}
    assert {e["recorded_at"] for e in listed[1:]} == {clock.iso_utc(NOW)}

    events = list(reversed(read(database, queries.log)))
    assert [e["action"] for e in events] == [
        "catalog.load",
        "evidence.add",
        "import.file",
        "evidence.add",
        "evidence.add",
        "evidence.add",
    ]
    batch = json.loads(events[2]["payload"])
    assert batch["rows"]["import_batch"][0]["rows"] == 3
    assert batch["rows"]["import_batch"][0]["filename"] == "evidence.csv"
    assert [json.loads(e["payload"])["import_batch"] for e in events[3:]] == [1, 1, 1]
    assert_verifies(database)

    # ids carry on after the imported ones (on PostgreSQL too: the sequences moved on)
    with clock.frozen(NOW):
        assert add_evidence(database, "labor-inspections", title="After", date="2019-10-01", kind="statistic") == 5
    assert_verifies(database)


def test_status_and_measurement_csvs(database, tmp_path):
    with clock.frozen(at("2019-08-01")):
        add_evidence(database, "labor-inspections", title="Kilns", date="2019-07-30", kind="inspection")
        set_status(database, "labor-inspections", "in_progress", on="2019-07-30", note="Started")
    statuses = write(
        tmp_path / "status.csv",
        "\ufeffrec,status,effective_on,note,evidence\r\n"
        "labor-inspections,partially_implemented,2019-09-30,Three provinces,1\r\n"
        'undercover-techniques,in_progress,2019-08-14,"Draft law, tabled",\r\n',
    )
    values = write(
        tmp_path / "values.csv",
        "indicator,quarter,value,note,evidence\n"
        "kiln-inspections,2019Q3,12,Kandal,1\n"
        "kiln-inspections,2019-q3,14,All provinces,\n"
        "convictions,2019Q2,3.5,,\n",
    )
    with clock.frozen(NOW):
        assert importing.import_file(database, statuses, actor=ACTOR).describe() == (
            f"Imported 2 status updates from {statuses} as import 1 (status updates 2 to 3): 2 status updates, "
            "1 cited evidence link, 3 events"
        )
        assert importing.import_file(database, values, actor=ACTOR).describe() == (
            f"Imported 3 measurements from {values} as import 2 (measurements 1 to 3): 3 measurements, 4 events"
        )
        history = read(database, lambda s: queries.status_history(s, "labor-inspections"))
        indicator = read(database, lambda s: queries.indicator_detail(s, "kiln-inspections"))
        convictions = read(database, lambda s: queries.indicator_detail(s, "convictions"))
        undercover = read(database, lambda s: queries.recommendation(s, "undercover-techniques").as_dict())
    assert [(h["id"], h["status"], h["effective_on"], h["note"], h["evidence"]) for h in history] == [
        (1, "in_progress", "2019-07-30", "Started", []),
        (2, "partially_implemented", "2019-09-30", "Three provinces", [1]),
    ]
    assert undercover["status"] == "in_progress"
    assert [
        (m["quarter"], m["value"], m["note"], m["evidence_id"], m["current"]) for m in indicator["measurements"]
    ] == [("2019Q3", 12.0, "Kandal", 1, False), ("2019Q3", 14.0, "All provinces", None, True)]
    assert [(m["quarter"], m["value"], m["note"]) for m in convictions["measurements"]] == [("2019Q2", 3.5, None)]
    with clock.frozen(NOW):
        assert set_status(database, "labor-inspections", "implemented", on="2019-10-01", note="Done") == 4
    assert_verifies(database)


def _blank_is_none(row: dict[str, str]) -> dict[str, str | None]:
    return {column: value if value.strip() else None for column, value in row.items()}


def test_an_import_records_each_row_as_its_command_does(make_url_for, tmp_path):
    """The same rows imported into one database and recorded by the single commands into
    another: the same events, byte for byte, but for the import's own record and key."""
    imported, logged = Database(make_url_for()), Database(make_url_for())
    files = [
        write(tmp_path / "evidence.csv", EVIDENCE_CSV),
        write(
            tmp_path / "status.csv",
            "rec,status,effective_on,note,evidence\n"
            "labor-inspections,partially_implemented,2019-09-30,Three provinces,1;3\n",
        ),
        write(
            tmp_path / "values.csv",
            "indicator,quarter,value,note,evidence\nkiln-inspections,2019Q3,12,Kandal,2\nconvictions,2019Q2,3.5,,\n",
        ),
    ]
    with clock.frozen(NOW):
        for path in files:
            importing.import_file(imported, path, actor=ACTOR)
        for row in csv.DictReader(io.StringIO(EVIDENCE_CSV)):
            given = _blank_is_none(row)
            add_evidence(
                logged,
                *given.pop("rec").split(";"),
                title=given.pop("title"),
                date=given.pop("date"),
                kind=given.pop("kind"),
                **given,
            )
        set_status(
            logged,
            "labor-inspections",
            "partially_implemented",
            on="2019-09-30",
            note="Three provinces",
            evidence=(1, 3),
        )
        record(logged, "kiln-inspections", "2019Q3", "12", note="Kandal", evidence=2)
        record(logged, "convictions", "2019Q2", "3.5")
    by_import = list(reversed(read(imported, queries.log)))[1:]  # after the catalog
    by_command = list(reversed(read(logged, queries.log)))[1:]
    assert [e["action"] for e in by_import] == [
        "import.file",
        *["evidence.add"] * 3,
        "import.file",
        "status.set",
        "import.file",
        *["measurement.record"] * 2,
    ]
    rows = [event for event in by_import if event["action"] != "import.file"]
    batches = [1, 1, 1, 2, 3, 3]
    assert len(rows) == len(by_command) == len(batches)
    for event, expected, batch in zip(rows, by_command, batches, strict=True):
        assert (event["action"], event["actor"], event["recorded_at"]) == (
            expected["action"],
            expected["actor"],
            expected["recorded_at"],
        )
        assert event["payload"] == '{"import_batch":' + str(batch) + "," + expected["payload"][1:]
    assert_verifies(imported)
    assert_verifies(logged)
    imported.dispose()
    logged.dispose()


def test_the_bulk_writer_records_a_file_by_its_columns_but_content(database):
    """The record leaves an attachment's content out (the audit record's columns); the
    stored tuple keeps it, in the table's column order."""
    table = cast(Table, models.Attachment.__table__)
    row = {"sha256": "a" * 64, "size": 3, "media_type": "text/plain", "content": b"abc"}
    with database.reading() as session:
        writer = Writer(session, Chain(session, ACTOR), dry_run=True)
        writer.add("evidence.add", {table: [row]}, {"note": "x"})
        (event,) = writer.events
        stored = writer.pending[table]
    assert event[4] == payload_text({"note": "x"}, {"attachment": [speller(table).record(row_values(table, row))]})
    assert (
        event[4]
        == '{"note":"x","rows":{"attachment":[{"media_type":"text/plain","sha256":"' + "a" * 64 + '","size":3}]}}'
    )
    ((sha256, size, media_type, content),) = stored  # the driver's own wrapping of bytes (psycopg's Binary)
    assert (sha256, size, media_type, bytes(getattr(content, "obj", content))) == ("a" * 64, 3, "text/plain", b"abc")


def test_a_dry_run_says_what_it_would_add_and_writes_nothing(database, url, tmp_path):
    path = write(tmp_path / "evidence.csv", EVIDENCE_CSV)
    before = dump(url)
    with clock.frozen(NOW):
        summary = importing.import_file(database, path, actor=ACTOR, dry_run=True)
    assert summary.describe() == (
        f"Would import 3 evidence rows from {path}: 3 evidence rows, 4 evidence links, "
        "4 events (dry run: nothing was written)"
    )
    assert (summary.batch_id, summary.ids) == (None, None)
    assert dump(url) == before
    with clock.frozen(NOW):
        importing.import_file(database, path, actor=ACTOR)  # a dry run does not count as an import
    assert len(dump(url)["evidence"]) == 3


def test_a_file_is_imported_once_unless_again(database, url, tmp_path):
    path = write(tmp_path / "evidence.csv", EVIDENCE_CSV)
    with clock.frozen(NOW):
        importing.import_file(database, path, actor=ACTOR)
    before = dump(url)
    renamed = write(tmp_path / "copy-of-evidence.csv", EVIDENCE_CSV)  # the same content under another name
    for again in (path, renamed):
        for dry_run in (False, True):
            with clock.frozen(at("2019-10-20")), pytest.raises(Conflict) as refused:
                importing.import_file(database, again, actor=ACTOR, dry_run=dry_run)
            message = str(refused.value)
            assert refused.value.exit_code == 1 and "\n" not in message
            assert "already imported on 2019-10-05" in message and "--again" in message
            assert dump(url) == before
    with clock.frozen(at("2019-10-20")):
        importing.import_file(database, renamed, actor=ACTOR, again=True)
    after = dump(url)
    assert len(after["evidence"]) == 6 and len(after["import_batch"]) == 2
    assert_verifies(database)


def test_an_imported_row_changed_in_sql_is_caught_by_its_own_event(database, url, tmp_path):
    with clock.frozen(NOW):
        importing.import_file(database, write(tmp_path / "evidence.csv", EVIDENCE_CSV), actor=ACTOR)
    events = read(database, queries.log)
    seq = next(
        e["seq"]
        for e in events
        if e["action"] == "evidence.add" and json.loads(e["payload"])["rows"]["evidence"][0]["id"] == 2
    )
    assert sql(url, "UPDATE evidence SET title = 'Something else' WHERE id = 2") == 1
    result = verified(database)
    assert not result.ok
    found = result.findings[0].describe()
    assert f"event {seq}, evidence row 2" in found and "title" in found


@pytest.mark.parametrize(
    "content, error",
    [
        ("", "is empty"),
        ("rec,title,date,kind\n", "has a header but no rows"),
        ("rec,title,date,kind,colour\n", "unknown column 'colour'"),
        ("rec,title,date,kind\nlabor-inspections,Kilns,2019-07-30,rumour\n", "line 2"),
        ("rec,title,date,kind\nno-such-rec,Kilns,2019-07-30,law\n", "line 2"),
    ],
    ids=["empty", "no rows", "unknown column", "bad kind", "unknown rec"],
)
def test_a_bad_file_writes_nothing(database, url, tmp_path, content, error):
    path = write(tmp_path / "bad.csv", content)
    before = dump(url)
    with clock.frozen(NOW), pytest.raises(InputError) as refused:
        importing.import_file(database, path, actor=ACTOR)
    assert refused.value.exit_code == 2 and str(refused.value).startswith(str(path)) and error in str(refused.value)
    assert dump(url) == before


# Progress, shown by the caller ------------------------------------------------------------------


class Shown:
    """A :data:`tracker.progress.Progress` that keeps what it was asked to show."""

    def __init__(self) -> None:
        self.bars: list[tuple[str, int, int]] = []  # (label, total, advanced)

    @contextlib.contextmanager
    def __call__(self, total: int, label: str) -> Iterator[Callable[[int], None]]:
        done: list[int] = []
        yield done.append
        self.bars.append((label, total, sum(done)))


def test_long_work_shows_its_progress_through_what_it_is_given(database, url, empty_database, tmp_path, capfd):
    path = big_csv(tmp_path / "long.csv", 3_000)
    shown = Shown()
    importing.import_file(database, path, actor=ACTOR, dry_run=True, progress=shown)
    assert shown.bars == [("Checking long.csv", 3_001, 3_001), ("Importing long.csv", 3_000, 3_000)]

    shown = Shown()
    importing.import_file(database, path, actor=ACTOR, progress=shown)
    assert shown.bars == [("Checking long.csv", 3_001, 3_001), ("Importing long.csv", 3_000, 3_000)]

    shown = Shown()
    exported = write(tmp_path / "export.json", importing.export(database, with_files=True, progress=shown))
    derived = {"alembic_version", *search_index.table_names()}  # not exported: Alembic's, the search index
    rows = sum(len(stored) for name, stored in dump(url).items() if name not in derived)
    assert shown.bars == [("Exporting", rows, rows)]

    shown = Shown()
    importing.import_file(empty_database, exported, actor=ACTOR, progress=shown)
    size = exported.stat().st_size  # an export is read as it is restored: its bytes
    assert shown.bars[0] == ("Restoring export.json", size, size)
    checks = shown.bars[1:]  # then the check of what was restored, with its own bars ("Checking the chain")
    assert checks and all(label.startswith("Checking ") and total == done for label, total, done in checks), checks

    # and by default nothing at all: the library never writes to the terminal
    importing.import_file(database, path, actor=ACTOR, dry_run=True, again=True)
    importing.export(database)
    assert capfd.readouterr() == ("", "")


def test_the_importing_package_leaves_the_terminal_to_its_caller():
    """No module of tracker.importing imports the command line or the terminal rendering."""
    package = ROOT / "tracker" / "importing"
    for module in sorted(package.glob("*.py")):
        tree = ast.parse(module.read_text(), str(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):  # "from tracker import cli" names tracker.cli
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(("tracker.render", "tracker.cli")), (module.name, name)


# One transaction, even when killed -------------------------------------------------------------

# Imports a file in its own process, pausing right after the first bulk insert of evidence
# rows, inside the import's transaction, so that the kill lands midway for certain.
STALLING_IMPORT = """
import sys, time
from tracker.importing import bulk
insert = bulk.insert_chunk
def insert_then_stall(session, table, rows):
    insert(session, table, rows)
    if table.name == "evidence":
        print(f"inserted {len(rows)} evidence rows", flush=True)
        time.sleep(600)
bulk.insert_chunk = insert_then_stall
from tracker import importing
from tracker.store.database import Database
importing.import_file(Database(sys.argv[1]), sys.argv[2], actor="importer")
"""


def big_csv(path: Path, rows: int) -> Path:
    lines = ["rec,title,date,kind,summary"] + [
        f"labor-inspections;prosecute-convict,Inspection report {n},2019-0{n % 9 + 1}-1{n % 10},inspection,Row {n}"
        for n in range(rows)
    ]
    return write(path, "\n".join(lines) + "\n")


def test_an_import_killed_midway_leaves_none_of_its_rows(database, url, tmp_path):
    with clock.frozen(at("2019-08-01")):
        add_evidence(database, "labor-inspections", title="Before", date="2019-07-01", kind="statistic")
    path = big_csv(tmp_path / "ten-thousand.csv", 10_000)
    before = dump(url)
    process = subprocess.Popen(
        [sys.executable, "-c", STALLING_IMPORT, url, str(path)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
    assert_verifies(database)

    # and the file was not recorded as imported: importing it now works, in full
    assert "Imported 10000 evidence rows" in importing.import_file(database, path, actor=ACTOR).describe()
    assert len(dump(url)["evidence"]) == 10_001
    assert_verifies(database)


# Export and restore -----------------------------------------------------------------------------


def populate(database: Database, tmp_path: Path) -> None:
    """A database with one of everything: files, retractions, citations, imports, agencies."""
    pdf = write(tmp_path / "kandal.pdf", PDF)
    notes = write(tmp_path / "notes.txt", "Field notes\nline two\n")
    with clock.frozen(at("2019-08-01")):
        add_evidence(
            database,
            "labor-inspections",
            title="Kilns inspected",
            date="2019-07-30",
            kind="inspection",
            attach=(pdf, notes),
            sensitivity="public",
        )
        add_evidence(
            database,
            "labor-inspections",
            title="Same file again",
            date="2019-07-31",
            kind="media_report",
            attach=(pdf,),
        )
        set_status(
            database,
            "labor-inspections",
            "in_progress",
            on="2019-08-01",
            note="First inspections — «ខ្មែរ»",
            evidence=(1, 2),
        )
        record(database, "kiln-inspections", "2019Q3", "12", evidence=1)
    with clock.frozen(at("2019-09-01")):
        database.write(lambda s: services.retract_evidence(s, 2, "Duplicate", actor=ACTOR))
        database.write(lambda s: services.add_agency(s, "mfaic", "Ministry of Foreign Affairs", actor=ACTOR))
        database.write(lambda s: services.assign_agency(s, "victim-identification", "mfaic", "support", actor=ACTOR))
        database.write(
            lambda s: services.add_recommendation(
                s,
                source="tip-2019-khm",
                code="shelter-funding",
                title="Fund shelters",
                text="Increase funding\nfor shelters.",
                pillar="protection",
                due_on=date(2021, 12, 31),
                text_status="paraphrase",
                actor=ACTOR,
            )
        )
        database.write(
            lambda s: services.add_indicator(
                s,
                "shelter-funding",
                code="shelter-beds",
                name="Shelter beds",
                unit="beds",
                direction="up",
                target="200.5",
                actor=ACTOR,
            )
        )
        record(database, "shelter-beds", "2019Q3", "0.1")
        record(database, "kiln-inspections", "2019Q3", "14")
    with clock.frozen(NOW):
        importing.import_file(database, write(tmp_path / "evidence.csv", EVIDENCE_CSV), actor=ACTOR)
        importing.import_file(
            database,
            write(
                tmp_path / "status.csv",
                "rec,status,effective_on,note,evidence\nshelter-funding,in_progress,2019-09-15,Budget line,1;3\n",
            ),
            actor=ACTOR,
        )


def exported(database: Database, path: Path, *, with_files: bool) -> bytes:
    """``tracker export -o PATH``: the bytes written."""
    return write(path, importing.export(database, with_files=with_files)).read_bytes()


def blank(url: str) -> Database:
    """``tracker init --no-catalog`` on a new database."""
    database = Database(url)
    operations.init(database, [], actor=ACTOR)
    return database


# What a restored database must read back as the original does (as of NOW).
READS: dict[str, Callable[[Session], Any]] = {
    "evidence list": lambda s: queries.evidence_list(s, include_retracted=True),
    "status history": lambda s: queries.status_history(s, "labor-inspections"),
    "indicator show": lambda s: queries.indicator_detail(s, "kiln-inspections"),
    "rec list": lambda s: [view.as_dict() for view in queries.recommendations(s)],
    "log": queries.log,
}


@pytest.mark.parametrize("with_files", [True, False], ids=["with-files", "without-files"])
def test_export_restore_export_is_byte_identical(database, url, make_url_for, tmp_path, with_files):
    populate(database, tmp_path)
    empty = blank(make_url_for("blank"))
    first = exported(database, tmp_path / "first.json", with_files=with_files)
    document = json.loads(first)
    assert (document["format"], document["version"], document["files"]) == ("tracker-export", 1, with_files)
    assert [row["id"] for row in document["tables"]["evidence"]] == [1, 2, 3, 4, 5]
    assert len(document["tables"]["event"]) == len(dump(url)["event"])

    source = tmp_path / "first.json"
    if not with_files:  # an export without the files' content cannot be restored
        before = dump(str(empty.url))
        with pytest.raises(InputError) as refused:
            importing.import_file(empty, source, actor=ACTOR)
        assert refused.value.exit_code == 2
        assert "--with-files" in str(refused.value) and "\n" not in str(refused.value)
        assert dump(str(empty.url)) == before
        exported(database, tmp_path / "restorable.json", with_files=True)
        source = tmp_path / "restorable.json"

    restored = importing.import_file(empty, source, actor=ACTOR)
    assert restored.describe().startswith(f"Restored {source}: 1 source, 5 recommendations, 6 agencies")
    assert exported(empty, tmp_path / "second.json", with_files=with_files) == first

    # the restored database is the same database: its reads, its log, its chain
    for name, query in READS.items():
        with clock.frozen(NOW):
            assert read(empty, query) == read(database, query), name
    assert_verifies(empty)
    attachments = read(empty, lambda s: queries.evidence_record(s, 1))["attachments"]
    pdf_sha = next(a["sha256"] for a in attachments if a["filename"] == "kandal.pdf")
    assert read(empty, lambda s: queries.attachment_content(s, pdf_sha)) == PDF

    # and it goes on: new ids after the restored ones (PostgreSQL sequences moved on)
    with clock.frozen(NOW):
        assert add_evidence(empty, "shelter-funding", title="New", date="2019-10-01", kind="statistic") == 6
        assert set_status(empty, "shelter-funding", "implemented", on="2019-10-01", note="Funded") == 3
    assert_verifies(empty)
    empty.dispose()


def test_a_restore_needs_an_empty_database(database, url, empty_database, empty_url, tmp_path):
    populate(database, tmp_path)
    export = write(tmp_path / "export.json", importing.export(database, with_files=True))
    before = dump(url)
    with pytest.raises(Conflict) as into_itself:
        importing.import_file(database, export, actor=ACTOR)
    assert into_itself.value.exit_code == 1
    assert "already restored here" in str(into_itself.value) and "\n" not in str(into_itself.value)
    operations.init(empty_database, None, actor=ACTOR)  # the catalog only: not empty
    other_before = dump(empty_url)
    for dry_run in (False, True):
        with pytest.raises(Conflict) as refused:
            importing.import_file(empty_database, export, actor=ACTOR, dry_run=dry_run)
        assert refused.value.exit_code == 1
        assert "empty database only" in str(refused.value) and "--no-catalog" in str(refused.value)
    assert dump(url) == before and dump(empty_url) == other_before


def test_a_restore_dry_run_writes_nothing(database, empty_database, empty_url, tmp_path):
    populate(database, tmp_path)
    export = write(tmp_path / "export.json", importing.export(database, with_files=True))
    before = dump(empty_url)
    summary = importing.import_file(empty_database, export, actor=ACTOR, dry_run=True)
    assert summary.describe().startswith(f"Would restore {export} into this empty database: 1 source")
    assert summary.describe().endswith("(dry run: nothing was written)")
    assert dump(empty_url) == before


@pytest.mark.parametrize("tamper", ["note", "hash", "missing row", "bad kind", "unknown field", "lone surrogate"])
def test_a_tampered_export_is_refused(database, empty_database, empty_url, tmp_path, tamper):
    populate(database, tmp_path)
    export = tmp_path / "export.json"
    document = json.loads(importing.export(database, with_files=True))
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
    with pytest.raises(InputError) as refused:
        importing.import_file(empty_database, export, actor=ACTOR)
    message = str(refused.value)
    assert refused.value.exit_code == 2 and "\n" not in message and message.startswith(f"{export}"), message
    expected = {
        "note": "does not verify",
        "hash": "does not verify",
        "missing row": "does not verify",
        "bad kind": "unknown kind 'rumour'",
        "unknown field": "unknown field 'colour'",
        "lone surrogate": "evidence row 1 (id 1): field 'title': title is not valid Unicode",
    }[tamper]
    assert expected in message
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
    laptop_path = tmp_path / "laptop.db"
    shutil.copyfile(sqlite_templates["loaded"], laptop_path)
    back_path = tmp_path / "back.db"
    shutil.copyfile(sqlite_templates["empty"], back_path)
    laptop, server, back = Database(str(laptop_path)), Database(pg_empty_url), Database(str(back_path))
    try:
        populate(laptop, tmp_path)
        from_sqlite = exported(laptop, tmp_path / "laptop.json", with_files=True)

        importing.import_file(server, tmp_path / "laptop.json", actor=ACTOR)
        from_postgres = exported(server, tmp_path / "server.json", with_files=True)
        assert from_postgres == from_sqlite

        importing.import_file(back, tmp_path / "server.json", actor=ACTOR)
        assert exported(back, tmp_path / "back.json", with_files=True) == from_sqlite
        assert_verifies(server)
    finally:
        for database in (laptop, server, back):
            database.dispose()


# The commands: wiring, exit codes, stdout and stderr ---------------------------------------------


def test_the_import_command(run, url, tmp_path):
    path = write(tmp_path / "evidence.csv", EVIDENCE_CSV)
    with clock.frozen(NOW):
        dry = run("import", path, "--dry-run")  # the summary of a dry run is its output: stdout
    assert dry.exit_code == 0, dry.output
    assert dry.stdout == (
        f"Would import 3 evidence rows from {path}: 3 evidence rows, 4 evidence links, 4 events "
        "(dry run: nothing was written)\n"
    )
    assert dry.stderr == ""

    with clock.frozen(NOW):
        result = run("import", path, "--by", "importer")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # a message, on stderr
    assert result.stderr.splitlines() == [
        f"Imported 3 evidence rows from {path} as import 1 (evidence 1 to 3): 3 evidence rows, 4 evidence links, "
        "4 events"
    ]
    events = json.loads(ok(run("log", "--json")))
    assert {e["actor"] for e in events if e["action"] != "catalog.load"} == {"importer"}  # --by

    before = dump(url)
    with clock.frozen(at("2019-10-20")):
        repeated = run("import", path)
    assert repeated.exit_code == 1, repeated.output
    lines = repeated.stderr.splitlines()
    assert repeated.stdout == "" and len(lines) == 1 and lines[0].startswith("Error: "), repeated.stderr
    assert "already imported on 2019-10-05" in lines[0] and "--again" in lines[0]

    bad = run("import", write(tmp_path / "bad.csv", "rec,title,date,kind\nlabor-inspections,Kilns,2019-07-30,rumour\n"))
    assert bad.exit_code == 2, bad.output
    lines = bad.stderr.splitlines()
    assert bad.stdout == "" and len(lines) == 1 and lines[0].startswith(f"Error: {tmp_path / 'bad.csv'} line 2"), (
        bad.stderr
    )
    assert dump(url) == before

    with clock.frozen(at("2019-10-20")):
        ok(run("import", path, "--again"))
    assert len(dump(url)["import_batch"]) == 2


def test_export_goes_to_stdout_or_a_new_file(run, url, tmp_path):
    target = write(tmp_path / "existing.json", "keep me")
    refused = run("export", "-o", target)
    assert refused.exit_code == 2 and "--force" in refused.stderr, refused.output
    assert target.read_text() == "keep me"
    written = run("export", "-o", target, "--force")
    assert written.exit_code == 0 and written.stdout == "", written.output
    assert written.stderr.splitlines() == [f"Exported {Database(url).display} to {target}"], written.stderr
    printed = run("export")
    assert printed.exit_code == 0 and printed.stdout.encode() == target.read_bytes()
    database = Database(url)
    assert printed.stdout.encode() == importing.export(database)  # exactly what the library exports
    database.dispose()
    assert json.loads(printed.stdout)["tables"]["source"][0]["slug"] == "tip-2019-khm"
    with_files = run("export", "--with-files")
    assert with_files.exit_code == 0 and json.loads(with_files.stdout)["files"] is True


def on_a_terminal(*args: str, prelude: str = "") -> tuple[int, str]:
    """Run tracker with stderr on a pseudo-terminal: (exit code, what the terminal showed).
    Its stdout is a pipe and must stay empty. ``prelude`` is Python run first."""
    terminal, stderr_end = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", f"{prelude}\nfrom tracker import cli; cli.main()", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_end,
    )
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
    assert (
        shown.rstrip().splitlines()[-1] == f"Imported 3000 evidence rows from {path} as import 1 (evidence 1 to 3000): "
        "3000 evidence rows, 6000 evidence links, 3001 events"
    )


def test_the_full_verification_shows_its_progress_on_a_terminal(database, url, tmp_path):
    """A changed row makes verify run its full check, which shows a bar for the chain and
    one for the rows, then the one-line error."""
    importing.import_file(database, big_csv(tmp_path / "long.csv", 1_500), actor=ACTOR)
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


def test_the_quick_verification_shows_its_progress_on_a_terminal(backend, database, url, tmp_path):
    """On SQLite, a chain long enough to be shared with a second process shows one bar (here
    "long enough" is lowered to 1,000 events), then the OK line."""
    importing.import_file(database, big_csv(tmp_path / "long.csv", 1_500), actor=ACTOR)
    database.dispose()
    code, shown = on_a_terminal(
        "--db", url, "verify", prelude="import tracker.audit.quick as quick; quick.SPLIT_MIN_EVENTS = 1_000"
    )
    assert code == 0, shown
    lines = shown.rstrip().splitlines()
    assert lines[-1].startswith("OK: 1502 events"), shown
    if backend == "sqlite":
        assert "Checking the chain" in shown and "100%" in shown and "Checking the rows" not in shown


@pytest.mark.parametrize("forgery", ["row edited and recorded again", "backdated row recorded today"])
def test_an_export_forged_with_a_valid_chain_is_refused(database, empty_database, empty_url, tmp_path, forgery):
    """The two forgeries of a record that a valid hash chain hid, made in an export: a row edited
    (sensitivity lowered) and recorded again by one new event with a valid hash; a status update
    stamped last quarter recorded by an event appended now. The restore verifies and refuses both."""
    from tracker.audit.canonical import canonical, event_hash

    populate(database, tmp_path)
    document = json.loads(importing.export(database, with_files=True))
    tables, events = document["tables"], document["tables"]["event"]
    if forgery == "row edited and recorded again":
        row = tables["evidence"][0]
        row["sensitivity"] = "public" if row["sensitivity"] != "public" else "confidential"
        rows, action = {"evidence": [row]}, "evidence.add"
    else:
        update = dict(tables["status_update"][0])
        update["id"] = max(u["id"] for u in tables["status_update"]) + 1
        update["note"] = "Backdated: as if known when the first assessment was"  # stamped as that one
        tables["status_update"].append(update)
        rows, action = {"status_update": [update]}, "status.set"
    last = events[-1]
    payload = canonical({"rows": rows})
    seq, stamp = last["seq"] + 1, last["recorded_at"]
    events.append(
        {
            "seq": seq,
            "recorded_at": stamp,
            "actor": "intruder",
            "action": action,
            "payload": payload,
            "prev_hash": last["hash"],
            "hash": event_hash(last["hash"], seq, stamp, "intruder", action, payload),
        }
    )
    export = tmp_path / "forged.json"
    export.write_text(json.dumps(document))
    before = dump(empty_url)
    with pytest.raises(InputError) as refused:
        importing.import_file(empty_database, export, actor=ACTOR)
    assert "does not verify" in str(refused.value), str(refused.value)
    assert dump(empty_url) == before
