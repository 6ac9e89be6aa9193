"""The command line is wiring: each command of the CLI's registry runs once here.

For each: the exit code, data on stdout and messages on stderr (nothing else on either),
and a failure is one ``Error:`` line. What the commands do is asserted through the library
in the other test files. A command added to the registry fails
``test_every_command_is_run_here`` until it gets a case below. SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tracker import clock, queries, services
from tracker.store.database import SCHEMA_REVISION, Database

from conftest import Result, add_evidence, cli_commands, invoke, read, template, write

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"
SEEDED_AT = datetime(2019, 10, 4, 9, tzinfo=UTC)


@dataclass
class Seeded:
    """A database for one command: its URL, a folder, and what was recorded in it."""

    backend: str
    url: str
    folder: Path
    sha256: str = hashlib.sha256(PDF).hexdigest()  # of the one stored file

    @property
    def display(self) -> str:
        return Database(self.url).display


def seed(database: Database, folder: Path) -> None:
    """Evidence with a file, a retracted item, an assessment and a value."""
    pdf = folder / "inspection.pdf"
    pdf.write_bytes(PDF)
    with clock.frozen(SEEDED_AT):
        kiln = add_evidence(
            database,
            ["labor-inspections"],
            "MoLVT inspects 12 brick kilns",
            "2019-07-30",
            "inspection",
            attach=[pdf],
            actor="sophea",
        )
        duplicate = add_evidence(
            database, ["labor-inspections"], "Kandal inspections (news)", "2019-09-02", "media_report", actor="sophea"
        )
        write(database, services.retract_evidence, duplicate, "Duplicate", actor="sophea")
        write(
            database,
            services.set_status,
            "labor-inspections",
            "partially_implemented",
            effective_on="2019-09-30",
            note="Inspections in three provinces",
            evidence_ids=[kiln],
            actor="sophea",
        )
        write(database, services.record_measurement, "kiln-inspections", "2019Q3", "12", actor="sophea")


# Each command runs on a copy of one of these (or of "blank" or "empty").
SEEDED = template("cli-seeded", seed)
BEHIND = template("cli-at-0001", lambda database, _folder: database.downgrade("0001"), base="empty")


def stamped_a_year_ahead(database: Database, _folder: Path) -> None:
    """An assessment stamped by a clock a year ahead (on SQLite: PostgreSQL's server clock refuses it)."""
    if database.url.startswith("postgresql"):
        return
    with clock.frozen(datetime.now(UTC) + timedelta(days=365)):
        write(
            database,
            services.set_status,
            "undercover-techniques",
            "in_progress",
            effective_on="2019-09-30",
            note="Stamped a year ahead",
            actor="sophea",
        )


AHEAD = template("cli-clock-ahead", stamped_a_year_ahead, base="cli-seeded")


# What must be on stdout and on stderr: a check of the text, given the database it ran on.
Check = Callable[[str, Seeded], bool]


def nothing(text: str, _seeded: Seeded) -> bool:
    return text == ""


def exactly(expected: str) -> Check:
    return lambda text, _seeded: text == expected


def lines(*fragments: str) -> Check:
    return lambda text, _seeded: text.endswith("\n") and all(fragment in text for fragment in fragments)


def a_number(text: str, _seeded: Seeded) -> bool:
    return text.endswith("\n") and text.strip().isdigit()


def one_error(*fragments: str) -> Check:
    return lambda text, _seeded: (
        text.startswith("Error: ") and len(text.splitlines()) == 1 and all(fragment in text for fragment in fragments)
    )


def per_backend(sqlite: Check, postgres: Check) -> Check:
    return lambda text, seeded: (sqlite if seeded.backend == "sqlite" else postgres)(text, seeded)


@dataclass(frozen=True)
class Case:
    """``tracker ARGS`` on a copy of the database ``kind``: what must be on stdout and on stderr."""

    args: Callable[[Seeded], list]
    stdout: Check
    stderr: Check
    kind: str = SEEDED  # or BEHIND (the schema at 0001), "empty" (the schema only), "blank" (nothing)
    after: Callable[[Seeded, Result], None] | None = None


def csv_file(seeded: Seeded) -> Path:
    path = seeded.folder / "status.csv"
    path.write_text("rec,status,effective_on,note\nvictim-identification,in_progress,2019-09-01,Protocol adopted\n")
    return path


def written(seeded: Seeded, _result: Result) -> None:
    assert (seeded.folder / "copy.pdf").read_bytes() == PDF


def backed_up(seeded: Seeded, _result: Result) -> None:
    assert (seeded.folder / "copy.db").exists() == (seeded.backend == "sqlite")


def backed_up_beside(seeded: Seeded, result: Result) -> None:
    """On SQLite, ``db upgrade`` says where it put the copy it took first: next to the file."""
    backups = list(seeded.folder.glob("*.bak"))
    assert len(backups) == (1 if seeded.backend == "sqlite" else 0), backups
    if backups:
        assert f"Backed up {seeded.display} to {backups[0]}\n" in result.stderr


CASES: dict[tuple[str, ...], Case] = {
    ("init",): Case(
        lambda s: ["init"],
        nothing,
        lines(f"Created the tracker schema (revision {SCHEMA_REVISION})", "tip-2019-khm"),
        kind="blank",
    ),
    ("db", "upgrade"): Case(
        lambda s: ["db", "upgrade"],
        nothing,
        lambda err, s: lines(f"Schema of {s.display}: 0001 -> {SCHEMA_REVISION}")(err, s),
        kind=BEHIND,
        after=backed_up_beside,
    ),
    ("db", "downgrade"): Case(
        lambda s: ["db", "downgrade", "0001"],
        nothing,
        lambda err, s: lines(f"Schema of {s.display}: {SCHEMA_REVISION} -> 0001")(err, s),
        kind="empty",
    ),
    ("db", "current"): Case(lambda s: ["db", "current"], exactly(f"{SCHEMA_REVISION}\n"), nothing),
    ("catalog", "list"): Case(
        lambda s: ["catalog", "list"],
        lambda out, _s: (
            out.splitlines()[0].split()[-1] == "COMPLETE"
            and {line.split()[-1] for line in out.splitlines()[1:]} == {"yes", "no"}
        ),
        nothing,
    ),
    ("catalog", "load"): Case(
        lambda s: ["catalog", "load", "tip-2018-khm"], nothing, lines("Catalog tip-2018-khm: added", "1 source")
    ),
    ("rec", "list"): Case(lambda s: ["rec", "list"], lines("undercover-techniques", "STATUS"), nothing),
    ("rec", "show"): Case(
        lambda s: ["rec", "show", "labor-inspections"], lines("labor-inspections", "partially_implemented"), nothing
    ),
    ("rec", "add"): Case(
        lambda s: [
            "rec",
            "add",
            "--source",
            "tip-2019-khm",
            "--code",
            "shelter-funding",
            "--title",
            "Fund shelters",
            "--text",
            "Fund shelters.",
            "--pillar",
            "protection",
            "--due",
            "2020-12-31",
        ],
        nothing,
        exactly("Added recommendation tip-2019-khm/shelter-funding\n"),
    ),
    ("rec", "assign"): Case(
        lambda s: ["rec", "assign", "victim-identification", "molvt", "--role", "support"],
        nothing,
        exactly("Assigned molvt to victim-identification as support\n"),
    ),
    ("status", "set"): Case(
        lambda s: [
            "status",
            "set",
            "undercover-techniques",
            "in_progress",
            "--on",
            "2019-08-14",
            "--note",
            "Draft law tabled",
            "--evidence",
            "1",
        ],
        a_number,
        nothing,
    ),
    ("status", "history"): Case(
        lambda s: ["status", "history", "labor-inspections"],
        lines("partially_implemented", "Inspections in three provinces"),
        nothing,
    ),
    ("evidence", "add"): Case(
        lambda s: [
            "evidence",
            "add",
            "--rec",
            "prosecute-convict",
            "--title",
            "June verdict",
            "--date",
            "2019-06-10",
            "--kind",
            "court_case",
        ],
        exactly("3\n"),
        nothing,
    ),
    ("evidence", "retract"): Case(
        lambda s: ["evidence", "retract", "1", "--reason", "Withdrawn"], nothing, exactly("Retracted evidence 1\n")
    ),
    ("evidence", "show"): Case(
        lambda s: ["evidence", "show", "1"], lines("MoLVT inspects 12 brick kilns", "inspection.pdf"), nothing
    ),
    ("evidence", "list"): Case(
        lambda s: ["evidence", "list", "--include-retracted"],
        lines("[RETRACTED] Kandal inspections (news)", "MoLVT inspects 12 brick kilns"),
        nothing,
    ),
    ("evidence", "file"): Case(
        lambda s: ["evidence", "file", s.sha256, "-o", s.folder / "copy.pdf"],
        nothing,
        lambda err, s: err == f"Wrote {len(PDF)} bytes to {s.folder / 'copy.pdf'}\n",
        after=written,
    ),
    ("indicator", "add"): Case(
        lambda s: [
            "indicator",
            "add",
            "victim-identification",
            "--code",
            "shelter-beds",
            "--name",
            "Shelter beds",
            "--unit",
            "beds",
            "--target",
            "200",
        ],
        nothing,
        exactly("Added indicator shelter-beds\n"),
    ),
    ("indicator", "record"): Case(
        lambda s: ["indicator", "record", "kiln-inspections", "2019Q4", "14"],
        nothing,
        exactly("Recorded kiln-inspections 2019Q4: 14\n"),
    ),
    ("indicator", "list"): Case(lambda s: ["indicator", "list"], lines("LATEST_VALUE", "kiln-inspections"), nothing),
    ("indicator", "show"): Case(lambda s: ["indicator", "show", "kiln-inspections"], lines("2019Q3", "12"), nothing),
    ("agency", "add"): Case(
        lambda s: ["agency", "add", "mfaic", "Ministry of Foreign Affairs"], nothing, exactly("Added agency mfaic\n")
    ),
    ("agency", "list"): Case(lambda s: ["agency", "list"], lines("LEAD", "molvt"), nothing),
    ("import",): Case(lambda s: ["import", csv_file(s)], nothing, lines("Imported 1 status update from")),
    ("export",): Case(lambda s: ["export"], lambda out, _s: json.loads(out)["format"] == "tracker-export", nothing),
    ("report", "quarterly"): Case(
        lambda s: ["report", "quarterly", "2019Q3", "--as-of", "2019-10-05"],
        lines("2019Q3", "labor-inspections"),
        nothing,
    ),
    ("report", "timeline"): Case(
        lambda s: ["report", "timeline", "--as-of", "2019-10-05"], lines("2019Q3", "labor-inspections"), nothing
    ),
    ("log",): Case(lambda s: ["log"], lines("SEQ", "status.set", "evidence.retract"), nothing),
    ("verify",): Case(
        lambda s: ["verify"],
        nothing,
        lambda err, _s: err.startswith("OK: ") and err.endswith("\n") and len(err.splitlines()) == 1,
    ),
    ("backup",): Case(
        lambda s: ["backup", s.folder / "copy.db"],
        nothing,
        per_backend(
            sqlite=lambda err, s: err == f"Backed up {s.display} to {s.folder / 'copy.db'}\n",
            postgres=one_error("pg_dump"),
        ),
        after=backed_up,
    ),
    ("correct-clock",): Case(
        lambda s: ["correct-clock", "--reason", "The laptop's clock was a year ahead"],
        nothing,
        per_backend(
            sqlite=lines("Recorded: events up to 7, stamped up to", "count as known at"),
            postgres=one_error("no clock ran ahead"),
        ),
        kind=AHEAD,
    ),
}
# The commands whose success depends on the backend: PostgreSQL databases are copied with
# pg_dump, and their server's clock keeps any event from being stamped ahead.
EXIT_CODES = {("backup",): {"sqlite": 0, "postgres": 1}, ("correct-clock",): {"sqlite": 0, "postgres": 1}}


def test_every_command_is_run_here():
    commands = {path for path, command in cli_commands() if not hasattr(command, "commands")}
    assert commands == set(CASES)


@pytest.fixture
def prepared(backend, make_url_for, tmp_path) -> Callable[[str], Seeded]:
    return lambda kind: Seeded(backend, make_url_for(kind), tmp_path)


@pytest.mark.parametrize("path", sorted(CASES), ids=" ".join)
def test_each_command_gives_its_exit_code_data_on_stdout_and_messages_on_stderr(path, prepared, backend):
    case = CASES[path]
    seeded = prepared(case.kind)
    result = invoke(["--db", seeded.url, *case.args(seeded)], env={"TRACKER_USER": "tester"})
    assert result.exit_code == EXIT_CODES.get(path, {}).get(backend, 0), result.output
    assert "Traceback" not in result.output
    assert case.stdout(result.stdout, seeded), result.stdout
    assert case.stderr(result.stderr, seeded), result.stderr
    if case.after is not None:
        case.after(seeded, result)


def assert_one_error(result, exit_code: int, *fragments: str) -> str:
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    lines_ = result.stderr.splitlines()
    assert len(lines_) == 1 and lines_[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines_[0], lines_[0]
    return lines_[0]


def test_a_failed_verify_exits_1_naming_the_first_bad_event(prepared):
    seeded = prepared(SEEDED)
    engine = create_engine(Database(seeded.url).url)
    with engine.begin() as connection:
        changed = connection.execute(text("UPDATE status_update SET note = 'Everything is fine' WHERE id = 1"))
        assert changed.rowcount == 1
    engine.dispose()
    database = Database(seeded.url)
    status_event = min(e["seq"] for e in read(database, queries.log) if e["action"] == "status.set")
    database.dispose()
    line = assert_one_error(invoke(["--db", seeded.url, "verify"]), 1, "Error: verify failed at ")
    assert f"event {status_event}" in line and "status_update row 1" in line and "note" in line


def test_evidence_file_refuses_to_overwrite_without_force(prepared):
    seeded = prepared(SEEDED)
    target = seeded.folder / "mine.pdf"
    target.write_bytes(b"my own notes")
    assert_one_error(invoke(["--db", seeded.url, "evidence", "file", seeded.sha256, "-o", target]), 2, "--force")
    assert target.read_bytes() == b"my own notes"  # untouched
    forced = invoke(["--db", seeded.url, "evidence", "file", seeded.sha256, "-o", target, "--force"])
    assert forced.exit_code == 0, forced.output
    assert target.read_bytes() == PDF


def test_json_output_is_the_library_s_data(prepared):
    """``--json`` prints what the library's query returns, nothing added or lost."""
    seeded = prepared(SEEDED)
    database = Database(seeded.url)
    pairs = [
        (["rec", "list", "--json"], [v.as_dict() for v in read(database, queries.recommendations)]),
        (
            ["rec", "show", "labor-inspections", "--json"],
            read(database, queries.recommendation, "labor-inspections").as_dict(),
        ),
        (
            ["status", "history", "labor-inspections", "--json"],
            read(database, queries.status_history, "labor-inspections"),
        ),
        (
            ["evidence", "list", "--include-retracted", "--json"],
            read(database, queries.evidence_list, include_retracted=True),
        ),
        (["evidence", "show", "1", "--json"], read(database, queries.evidence_record, 1)),
        (["indicator", "list", "--json"], read(database, queries.indicator_list)),
        (
            ["indicator", "show", "kiln-inspections", "--json"],
            read(database, queries.indicator_detail, "kiln-inspections"),
        ),
        (["agency", "list", "--json"], read(database, queries.agency_list)),
        (["log", "--json"], read(database, queries.log)),
    ]
    database.dispose()
    for args, expected in pairs:
        result = invoke(["--db", seeded.url, *args])
        assert result.exit_code == 0 and result.stderr == "", (args, result.output)
        assert json.loads(result.stdout) == expected, args
