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
CORRECTED_AT = SEEDED_AT + timedelta(days=1)


def corrected_once(database: Database, _folder: Path) -> None:
    """Evidence 1's title corrected once (a day after it was recorded)."""
    with clock.frozen(CORRECTED_AT):
        write(
            database,
            services.amend_evidence,
            1,
            {"title": "MoLVT inspects 12 kilns"},
            reason="The count was of kilns",
            actor="sophea",
        )


CORRECTED = template("cli-corrected", corrected_once, base="cli-seeded")


def earlier_and_later_editions(database: Database, _folder: Path) -> None:
    """The 2018 and 2022 editions too (2019 continues 2018, 2022 continues 2019)."""
    from tracker import catalogs

    for name, at in (("tip-2018-khm", CORRECTED_AT), ("tip-2022-khm", datetime(2022, 8, 1, 9, tzinfo=UTC))):
        with clock.frozen(at):
            database.write(lambda session, name=name: catalogs.load(session, catalogs.read(name), "sophea"))


EDITIONS = template("cli-editions", earlier_and_later_editions, base="cli-seeded")


def two_assessors(database: Database, _folder: Path) -> None:
    """The NCCT secretariat, the default assessor, and an NGO coalition that assesses too."""
    with clock.frozen(CORRECTED_AT):
        write(database, services.add_assessor, "ncct", "NCCT secretariat", "government", default=True, actor="sophea")
        write(database, services.add_assessor, "coalition", "NGO coalition", "ngo", actor="sophea")


ASSESSED = template("cli-assessed", two_assessors, base="cli-seeded")


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


def shown(seeded: Seeded, *args: str):
    """``tracker ARGS --json``'s data."""
    result = invoke(["--db", seeded.url, *args, "--json"])
    assert result.exit_code == 0 and result.stderr == "", result.output
    return json.loads(result.stdout)


def versions(record: str, count: int) -> Callable[[Seeded], None]:
    """``tracker history RECORD`` lists the versions ``count`` commands recorded (the first, then
    each correction), the last with the command's reason."""

    def check(seeded: Seeded) -> None:
        history = shown(seeded, "history", record)
        assert history["record"] == record
        numbers = [v["version"] for v in history["versions"]]
        assert numbers == list(range(1, len(numbers) + 1)), history
        assert len({v["event"] for v in history["versions"]}) == count, history
        assert (history["versions"][-1]["reason"] is None) == (count == 1), history

    return check


def then(*checks: Callable[[Seeded], None]) -> Callable[[Seeded, Result], None]:
    """Checks of the database after the command, in order."""

    def after(seeded: Seeded, _result: Result) -> None:
        for check in checks:
            check(seeded)

    return after


def rec_shows(ref: str, **expected) -> Callable[[Seeded], None]:
    def check(seeded: Seeded) -> None:
        rec = shown(seeded, "rec", "show", ref)
        assert {name: rec[name] for name in expected} == expected, rec

    return check


def roles(ref: str, **expected: str) -> Callable[[Seeded], None]:
    """``rec show REF`` lists exactly these agencies, with these roles."""

    def check(seeded: Seeded) -> None:
        agencies = shown(seeded, "rec", "show", ref)["agencies"]
        assert {a["code"]: a["role"] for a in agencies} == expected, agencies

    return check


def assert_equal(found, expected) -> None:
    assert found == expected


def evidence_1_corrected(seeded: Seeded) -> None:
    evidence = shown(seeded, "evidence", "show", "1")
    assert evidence["title"] == "MoLVT inspects 12 kilns" and evidence["corrected"] is True, evidence
    assert evidence["recommendations"] == [
        {"ref": "labor-inspections", "stance": "progress"},
        {"ref": "victim-identification", "stance": "context"},
    ] or evidence["recommendations"] == [
        {"ref": "victim-identification", "stance": "context"},
        {"ref": "labor-inspections", "stance": "progress"},
    ], evidence


def measurement_1_withdrawn(seeded: Seeded) -> None:
    (measurement,) = shown(seeded, "indicator", "show", "kiln-inspections")["measurements"]
    assert measurement["id"] == 1 and measurement["current"] is False and measurement["withdrawn"], measurement


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
        after=then(
            roles("victim-identification", mosvy="lead", moi="support", molvt="support", ncct="support"),
            versions("rec/victim-identification", 1),  # an assignment, not a correction
        ),
    ),
    ("rec", "amend"): Case(
        lambda s: ["rec", "amend", "labor-inspections", "--due", "2020-12-31", "--reason", "The plan sets a deadline"],
        nothing,
        exactly("rec labor-inspections: due_on (none) -> 2020-12-31\n"),
        after=then(rec_shows("labor-inspections", due_on="2020-12-31"), versions("rec/labor-inspections", 2)),
    ),
    ("rec", "link"): Case(
        lambda s: [
            "rec",
            "link",
            "tip-2022-khm/law-enforcement-funding",
            "--continues",
            "tip-2019-khm/undercover-techniques",
            "--relation",
            "broadened",
            "--note",
            "Funding for the units that would use the techniques",
        ],
        nothing,
        exactly(
            "Linked: tip-2022-khm/law-enforcement-funding continues tip-2019-khm/undercover-techniques (broadened)\n"
        ),
        kind=EDITIONS,
        after=then(versions("rec/tip-2022-khm/law-enforcement-funding", 1)),  # a link, not a correction
    ),
    ("rec", "unlink"): Case(
        lambda s: [
            "rec",
            "unlink",
            "tip-2019-khm/labor-inspections",
            "--continues",
            "tip-2018-khm/labor-inspections",
            "--reason",
            "Not the same recommendation",
        ],
        nothing,
        exactly("tip-2019-khm/labor-inspections continues tip-2018-khm/labor-inspections: unlinked no -> yes\n"),
        kind=EDITIONS,
        after=then(versions("rec/tip-2019-khm/labor-inspections", 2)),
    ),
    ("rec", "thread"): Case(
        lambda s: ["rec", "thread", "labor-inspections"],
        lines(
            "Thread of tip-2019-khm/labor-inspections: 2 recommendations in 2 editions, oldest first",
            "tip-2018-khm (published 2018-06-28)",
            "relation  repeated, from tip-2018-khm/labor-inspections",
            "status    partially_implemented",
        ),
        nothing,
        kind=EDITIONS,
    ),
    ("source", "list"): Case(
        lambda s: ["source", "list"],
        lines("IN_FORCE", "tip-2022-khm  tip-khm  2022-07-19", "tip-2018-khm  tip-khm"),
        nothing,
        kind=EDITIONS,
    ),
    ("catalog", "diff"): Case(
        lambda s: ["catalog", "diff", "tip-2019-khm", "tip-2022-khm"],
        lines("reworded (2):", "dropped (2)", "tip-2019-khm/labor-inspections", "added (1)", "law-enforcement-funding"),
        nothing,
        kind=EDITIONS,
    ),
    ("rec", "unassign"): Case(
        lambda s: ["rec", "unassign", "labor-inspections", "ncct", "--reason", "NCCT coordinates, it does not support"],
        nothing,
        exactly("ncct on labor-inspections: unassigned no -> yes\n"),
        after=then(
            roles("labor-inspections", molvt="lead"),
            versions("rec/labor-inspections", 2),
        ),
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
    ("status", "withdraw"): Case(
        lambda s: ["status", "withdraw", "1", "--reason", "Assessed on the wrong recommendation"],
        nothing,
        exactly("status 1: withdrawn no -> yes\n"),
        after=then(rec_shows("labor-inspections", status="not_started"), versions("status/1", 2)),
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
        lambda s: ["evidence", "retract", "1", "--reason", "Withdrawn"],
        nothing,
        # evidence 1 is cited by status 1: the message says so, and how to review it
        exactly(
            "Retracted evidence 1\nWarning: it is cited by status 1 (labor-inspections): review them "
            "(`tracker status withdraw`, `tracker indicator withdraw`)\n"
        ),
    ),
    ("evidence", "amend"): Case(
        lambda s: [
            "evidence",
            "amend",
            "1",
            "--title",
            "MoLVT inspects 12 kilns",
            "--rec",
            "victim-identification",
            "--stance",
            "context",
            "--reason",
            "The count was of kilns",
        ],
        nothing,
        exactly(
            "evidence 1: title MoLVT inspects 12 brick kilns -> MoLVT inspects 12 kilns\n"
            "evidence 1 on victim-identification: stance (none) -> context\n"
            "evidence 1 on victim-identification: linked no -> yes\n"
        ),
        after=then(
            evidence_1_corrected,
            versions("evidence/1", 2),
        ),
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
    ("indicator", "withdraw"): Case(
        lambda s: ["indicator", "withdraw", "1", "--reason", "Counted twice"],
        nothing,
        exactly("measurement 1: withdrawn no -> yes\n"),
        after=then(
            measurement_1_withdrawn,
            versions("measurement/1", 2),
        ),
    ),
    ("indicator", "amend"): Case(
        lambda s: ["indicator", "amend", "kiln-inspections", "--target", "40", "--reason", "The plan's target"],
        nothing,
        exactly("indicator kiln-inspections: target (none) -> 40\n"),
        after=then(
            lambda s: assert_equal(shown(s, "indicator", "show", "kiln-inspections")["target"], 40),
            versions("indicator/kiln-inspections", 2),
        ),
    ),
    ("indicator", "list"): Case(lambda s: ["indicator", "list"], lines("LATEST_VALUE", "kiln-inspections"), nothing),
    ("indicator", "show"): Case(lambda s: ["indicator", "show", "kiln-inspections"], lines("2019Q3", "12"), nothing),
    ("agency", "add"): Case(
        lambda s: ["agency", "add", "mfaic", "Ministry of Foreign Affairs"], nothing, exactly("Added agency mfaic\n")
    ),
    ("agency", "amend"): Case(
        lambda s: ["agency", "amend", "moj", "--name", "Ministry of Justice (MoJ)", "--reason", "Its official name"],
        nothing,
        exactly("agency moj: name Ministry of Justice -> Ministry of Justice (MoJ)\n"),
        after=then(
            lambda s: assert_equal(
                [a for a in shown(s, "agency", "list") if a["code"] == "moj"],
                [{"code": "moj", "name": "Ministry of Justice (MoJ)", "lead": 1, "support": 1}],
            ),
            versions("agency/moj", 2),
        ),
    ),
    ("agency", "list"): Case(lambda s: ["agency", "list"], lines("LEAD", "molvt"), nothing),
    ("assessor", "add"): Case(
        lambda s: ["assessor", "add", "embassy", "US Embassy", "--kind", "donor"],
        nothing,
        exactly("Added assessor embassy\n"),
    ),
    ("assessor", "default"): Case(
        lambda s: ["assessor", "default", "coalition", "--reason", "The coalition leads the review"],
        nothing,
        exactly("assessor ncct: is_default True -> False\nassessor coalition: is_default False -> True\n"),
        kind=ASSESSED,
        after=then(
            lambda s: assert_equal([a["code"] for a in shown(s, "assessor", "list") if a["default"]], ["coalition"]),
            versions("assessor/coalition", 2),
        ),
    ),
    ("assessor", "amend"): Case(
        lambda s: ["assessor", "amend", "ncct", "--name", "NCCT", "--reason", "Its short name"],
        nothing,
        exactly("assessor ncct: name NCCT secretariat -> NCCT\n"),
        kind=ASSESSED,
    ),
    ("assessor", "list"): Case(
        lambda s: ["assessor", "list"], lines("DEFAULT", "coalition", "ncct"), nothing, kind=ASSESSED
    ),
    ("import",): Case(lambda s: ["import", csv_file(s)], nothing, lines("Imported 1 status update from")),
    ("export",): Case(lambda s: ["export"], lambda out, _s: json.loads(out)["format"] == "tracker-export", nothing),
    ("report", "quarterly"): Case(
        lambda s: ["report", "quarterly", "2019Q3", "--as-of", "2019-10-05"],
        lines("2019Q3", "labor-inspections"),
        nothing,
    ),
    ("team", "setup"): Case(
        lambda s: ["team", "setup"],
        nothing,
        per_backend(sqlite=one_error("team roles need PostgreSQL"), postgres=lines("Team database")),
    ),
    ("team", "members"): Case(
        lambda s: ["team", "members", "--json"],
        per_backend(sqlite=nothing, postgres=lambda out, _s: isinstance(json.loads(out), list)),
        per_backend(sqlite=one_error("team roles need PostgreSQL"), postgres=nothing),
    ),
    ("team", "grant"): Case(
        lambda s: ["team", "grant", "nobody-at-all", "tracker_public"],
        nothing,
        per_backend(sqlite=one_error("team roles need PostgreSQL"), postgres=one_error("nobody-at-all")),
    ),
    ("team", "revoke"): Case(
        lambda s: ["team", "revoke", "nobody-at-all", "tracker_public"],
        nothing,
        per_backend(sqlite=one_error("team roles need PostgreSQL"), postgres=one_error("nobody-at-all")),
    ),
    ("report", "compare"): Case(
        lambda s: ["report", "compare", "2019Q3"],
        lines("# Assessments compared 2019Q3", "| labor-inspections |", "### Where they differ"),
        nothing,
        kind=ASSESSED,
    ),
    ("report", "timeline"): Case(
        lambda s: ["report", "timeline", "--as-of", "2019-10-05"], lines("2019Q3", "labor-inspections"), nothing
    ),
    ("report", "editions"): Case(
        lambda s: ["report", "editions", "--series", "tip-khm", "--format", "json"],
        lambda out, _s: (
            {t["ref"]: (t["editions"], t["repeated"], t["highlighted"]) for t in json.loads(out)["threads"]}[
                "tip-2022-khm/victim-identification"
            ]
            == (["tip-2018-khm", "tip-2019-khm", "tip-2022-khm"], 2, False)
        ),
        nothing,
        kind=EDITIONS,
    ),
    ("search",): Case(
        lambda s: ["search", "kilns"],
        lines("RECORD", "evidence/1", "MoLVT inspects 12 [kilns]"),
        nothing,
        kind=CORRECTED,
    ),
    ("history",): Case(
        lambda s: ["history", "evidence/1"],
        lines(
            "evidence/1\n\nversion 1  2019-10-04T09:00:00",
            "  as first recorded:\n    title: MoLVT inspects 12 brick kilns\n",
            "version 2  2019-10-05T09:00:00",
            "  why: The count was of kilns\n    title: MoLVT inspects 12 brick kilns -> MoLVT inspects 12 kilns\n",
        ),
        nothing,
        kind=CORRECTED,
    ),
    ("due",): Case(
        lambda s: ["due", "--as-of", "2019-10-05"],
        lines("# Follow-up digest, 2019-10-05", "## Indicators with no value for 2019Q3", "for labor-inspections"),
        nothing,
    ),
    ("log",): Case(lambda s: ["log"], lines("SEQ", "status.set", "evidence.retract"), nothing),
    ("lint",): Case(lambda s: ["lint", "--strict"], exactly("No findings.\n"), nothing),
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
EXIT_CODES = {
    ("backup",): {"sqlite": 0, "postgres": 1},
    ("correct-clock",): {"sqlite": 0, "postgres": 1},
    # team roles are PostgreSQL's; a login that does not exist is bad input on both
    ("team", "setup"): {"sqlite": 2, "postgres": 0},
    ("team", "members"): {"sqlite": 2, "postgres": 0},
    ("team", "grant"): {"sqlite": 2, "postgres": 2},
    ("team", "revoke"): {"sqlite": 2, "postgres": 2},
}


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
    seeded = prepared(CORRECTED)
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
        (["history", "evidence/1", "--json"], read(database, queries.record_history, "evidence/1")),
        (
            ["history", "rec/labor-inspections", "--json"],
            read(database, queries.record_history, "rec/labor-inspections"),
        ),
    ]
    database.dispose()
    for args, expected in pairs:
        result = invoke(["--db", seeded.url, *args])
        assert result.exit_code == 0 and result.stderr == "", (args, result.output)
        assert json.loads(result.stdout) == expected, args


def run_on(seeded: Seeded, *args: str) -> Result:
    return invoke(["--db", seeded.url, *args], env={"TRACKER_USER": "tester"})


def test_rec_assign_changes_an_assigned_agency_s_role_only_with_a_reason_and_one_lead_unless_co_lead(prepared):
    """labor-inspections: molvt leads, ncct supports."""
    seeded = prepared(SEEDED)
    assert_one_error(run_on(seeded, "rec", "assign", "labor-inspections", "moj"), 2, "(molvt)", "--co-lead")
    assert_one_error(run_on(seeded, "rec", "assign", "labor-inspections", "ncct", "--role", "support"), 2, "--reason")
    assert_one_error(
        run_on(seeded, "rec", "assign", "labor-inspections", "ncct", "--role", "lead", "--reason", "Both lead"),
        2,
        "--co-lead",
    )
    assert_one_error(
        run_on(seeded, "rec", "assign", "labor-inspections", "ncct", "--role", "lead", "--co-lead"), 2, "--reason"
    )
    changed = run_on(
        seeded, "rec", "assign", "labor-inspections", "ncct", "--role", "lead", "--co-lead", "--reason", "Both lead"
    )
    assert changed.exit_code == 0, changed.output
    assert (changed.stdout, changed.stderr) == ("", "ncct on labor-inspections: role support -> lead\n")
    then(roles("labor-inspections", molvt="lead", ncct="lead"), versions("rec/labor-inspections", 2))(seeded, changed)
    added = run_on(seeded, "rec", "assign", "labor-inspections", "moj", "--co-lead")  # a third lead, new
    assert (added.exit_code, added.stdout, added.stderr) == (0, "", "Assigned moj to labor-inspections as lead\n")


def test_an_unassigned_agency_is_assigned_again_with_a_reason(prepared):
    seeded = prepared(SEEDED)
    assert run_on(seeded, "rec", "unassign", "labor-inspections", "ncct", "--reason", "Not involved").exit_code == 0
    again = run_on(seeded, "rec", "assign", "labor-inspections", "ncct", "--role", "support", "--reason", "It is")
    assert (again.exit_code, again.stdout, again.stderr) == (0, "", "ncct on labor-inspections: assigned no -> yes\n")
    then(roles("labor-inspections", molvt="lead", ncct="support"), versions("rec/labor-inspections", 3))(seeded, again)


def test_a_correction_that_changes_nothing_writes_nothing_and_says_so(prepared):
    seeded = prepared(SEEDED)
    assert_one_error(
        run_on(seeded, "agency", "amend", "moj", "--name", " Ministry of Justice ", "--reason", "Same"),
        2,
        "nothing would change",
    )
    assert shown(seeded, "log")[-1]["action"] != "correction.record"


# What a record's history says --------------------------------------------------------------------


def history_changes(seeded: Seeded, record: str) -> list[dict]:
    return shown(seeded, "history", record)["versions"][-1]["changes"]


def test_history_gives_the_stance_a_link_had_before_its_correction(prepared):
    """Evidence 1 bears on labor-inspections as progress (the default): its correction to setback
    is "progress -> setback", not "(none) -> setback"."""
    seeded = prepared(SEEDED)
    amended = run_on(
        seeded, "evidence", "amend", "1", "--rec", "labor-inspections", "--stance", "setback", "--reason", "A setback"
    )
    assert amended.stderr == "evidence 1 on labor-inspections: stance progress -> setback\n", amended.output
    assert history_changes(seeded, "evidence/1") == [
        {"field": "link to labor-inspections: stance", "old": "progress", "new": "setback"}
    ]


def test_history_gives_the_role_an_assignment_had_before_its_correction(prepared):
    """ncct supports labor-inspections (the catalog): made a lead, the history says
    "role: support -> lead"."""
    seeded = prepared(SEEDED)
    changed = run_on(
        seeded, "rec", "assign", "labor-inspections", "ncct", "--role", "lead", "--co-lead", "--reason", "Both lead"
    )
    assert changed.exit_code == 0, changed.output
    assert history_changes(seeded, "rec/labor-inspections") == [
        {"field": "agency ncct: role", "old": "support", "new": "lead"}
    ]


def test_history_values_of_a_link_unlinked_then_linked_again_say_it_is_linked(prepared):
    """A link unlinked then linked again reads as linked, not as both unlinked and linked."""
    seeded = prepared(SEEDED)
    for args in (
        ["--unlink", "labor-inspections", "--rec", "victim-identification", "--stance", "context"],
        ["--rec", "labor-inspections", "--stance", "progress"],
    ):
        result = run_on(seeded, "evidence", "amend", "1", *args, "--reason", "Relinked")
        assert result.exit_code == 0, result.output
    values = shown(seeded, "history", "evidence/1")["versions"][-1]["values"]
    about = {name: value for name, value in values.items() if name.startswith("link to labor-inspections")}
    assert not (about.get("link to labor-inspections: unlinked") and about.get("link to labor-inspections: linked")), (
        about
    )


def test_one_correction_command_is_one_version_in_history(prepared):
    """One ``evidence amend`` that changes the title and adds a link is one event and one version
    (never a state that was not: title changed, link not yet added)."""
    seeded = prepared(SEEDED)
    amended = run_on(
        seeded,
        "evidence",
        "amend",
        "1",
        "--title",
        "T2",
        "--rec",
        "victim-identification",
        "--stance",
        "context",
        "--reason",
        "Both at once",
    )
    assert amended.exit_code == 0, amended.output
    assert len(shown(seeded, "history", "evidence/1")["versions"]) == 2


def test_assigning_again_an_unassigned_agency_without_a_reason_does_not_say_it_is_assigned(prepared):
    """It once said "agency 'ncct' is already assigned to labor-inspections (unassigned)"."""
    seeded = prepared(SEEDED)
    assert run_on(seeded, "rec", "unassign", "labor-inspections", "ncct", "--reason", "Not involved").exit_code == 0
    line = assert_one_error(
        run_on(seeded, "rec", "assign", "labor-inspections", "ncct", "--role", "support"), 2, "--reason"
    )
    assert "already assigned" not in line, line
