"""Importing a correction file: ``record,field,value,reason``, one correction per row.

Each row is written by the service function of its single command (``tracker evidence
amend``, ``tracker status withdraw``...), with its own event, in the order of the file;
the whole file in one transaction: a bad row anywhere, or a dry run, writes nothing.
What a user checks afterwards: ``tracker history`` and the reads show the corrected values
and ``tracker verify`` passes. SQLite and PostgreSQL (the catalog was loaded 2019-06-21).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tracker import clock, importing, queries, services
from tracker.errors import Conflict, InputError
from tracker.importing.kinds import CORRECTABLE
from tracker.store.database import Database
from tracker.store.models import Event

from conftest import add_evidence, dump, invoke, read, verified

NOW = datetime(2019, 10, 5, 12, tzinfo=UTC)
ACTOR = "importer"
HEADER = "record,field,value,reason"


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def csv_file(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def recorded(database: Database) -> tuple[int, int, int]:
    """What was recorded before the corrections: (evidence id, status id, measurement id)."""
    with clock.frozen(at("2019-07-05")):
        evidence = add_evidence(database, ["labor-inspections"], "Kiln visti", "2019-07-02", "inspection")
        status = database.write(
            lambda s: (
                services.set_status(
                    s, "labor-inspections", "in_progress", effective_on="2019-07-03", note="Began", actor="analyst"
                ).id
            )
        )
        measurement = database.write(
            lambda s: services.record_measurement(s, "kiln-inspections", "2019Q3", "120", actor="analyst").id
        )
    return evidence, status, measurement


def events(database: Database) -> int:
    return read(database, lambda s: s.scalar(select(func.count()).select_from(Event)))


def history(database: Database, record: str) -> list[dict]:
    return read(database, queries.record_history, record)["versions"]


def versions_but_events(database: Database) -> list[dict]:
    return [{k: v for k, v in version.items() if k != "event"} for version in history(database, "evidence/1")]


def assert_verifies(database: Database) -> None:
    result = verified(database)
    assert result.ok, [finding.describe() for finding in result.findings]


# A file that corrects every correctable field of every kind of record.
EVERY_FIELD = [
    ("evidence/1,title,Kiln visit,Typo in the title", "Typo in the title"),
    ('evidence/1,summary,"Two kilns, Kandal",Summary added', "Summary added"),
    ('evidence/1,kind,statistic,"Counted, not visited"', "Counted, not visited"),
    ("evidence/1,date,2019-07-01,Wrong day", "Wrong day"),
    ("evidence/1,source_name,MoLVT,Source named", "Source named"),
    ("evidence/1,url,https://example.org/kilns,Link found", "Link found"),
    ("evidence/1,reliability,confirmed,Confirmed by the ministry", "Confirmed by the ministry"),
    ("evidence/1,sensitivity,public,Cleared for publication", "Cleared for publication"),
    ("evidence/1,title,Kiln visit (Kandal),Place added", "Place added"),  # the same record again: in order
    ("evidence/1,url,,The link is dead", "The link is dead"),  # blank: no url
    ("rec/labor-inspections,title,Increase labor inspections,Shorter title", "Shorter title"),
    ('rec/labor-inspections,text,"Increase labor inspections, especially at kilns.",Checked', "Checked"),
    ("rec/labor-inspections,pillar,protection,Wrong pillar", "Wrong pillar"),
    ("rec/labor-inspections,due,2020-06-30,Action plan", "Action plan"),
    ("rec/labor-inspections,position,4,Its place in the report", "Its place in the report"),
    ("rec/labor-inspections,text_status,verbatim,The report's own words", "The report's own words"),
    ("rec/tip-2019-khm/labor-inspections,due,,No deadline after all", "No deadline after all"),  # blank: none
    ("indicator/kiln-inspections,name,Inspections at brick kilns,Shorter name", "Shorter name"),
    ("indicator/kiln-inspections,unit,visits,Unit", "Unit"),
    ("indicator/kiln-inspections,direction,down,Fewer is better", "Fewer is better"),
    ("indicator/kiln-inspections,target,45,Target agreed", "Target agreed"),
    ("agency/molvt,name,Ministry of Labour and Vocational Training (MoLVT),Official name", "Official name"),
    ("status/1,withdrawn,yes,Assessed too early", "Assessed too early"),
    ("measurement/1,withdrawn,yes,A zero too many", "A zero too many"),
]


def test_every_correctable_field_is_in_the_file_below():
    named = {(row.split(",")[0].split("/")[0], row.split(",")[1]) for row, _ in EVERY_FIELD}
    assert named == {(kind, field) for kind, fields in CORRECTABLE.items() for field in fields}


def test_a_correction_file_corrects_each_record_row_by_row(database, tmp_path):
    assert recorded(database) == (1, 1, 1)
    path = csv_file(tmp_path / "corrections.csv", *(row for row, _ in EVERY_FIELD))
    before = events(database)
    n = len(EVERY_FIELD)
    with clock.frozen(NOW):
        summary = importing.import_file(database, path, actor=ACTOR)
    assert summary.describe() == (
        f"Imported {n} corrections from {path} as import 1 (corrections 1 to {n}): {n} corrections, {n + 1} events"
    )
    assert events(database) == before + n + 1

    # Each row its own event, after the import's, in the file's order.
    log = list(reversed(read(database, queries.log)))[before:]
    assert [e["action"] for e in log] == ["import.file"] + ["correction.record"] * n
    assert {e["actor"] for e in log} == {ACTOR}
    assert [len(json.loads(e["payload"])["rows"]["correction"]) for e in log[1:]] == [1] * n

    # What `tracker history` shows: every version, oldest first, with who and why.
    evidence = history(database, "evidence/1")
    assert [v["reason"] for v in evidence] == [None] + [why for row, why in EVERY_FIELD if row.startswith("evidence")]
    assert {v["recorded_by"] for v in evidence[1:]} == {ACTOR}
    assert evidence[-1]["values"] == {
        "title": "Kiln visit (Kandal)",
        "summary": "Two kilns, Kandal",
        "kind": "statistic",
        "observed_on": "2019-07-01",
        "source_name": "MoLVT",
        "url": None,
        "reliability": "confirmed",
        "sensitivity": "public",
    }
    assert evidence[9]["changes"] == [{"field": "title", "old": "Kiln visit", "new": "Kiln visit (Kandal)"}]
    rec = history(database, "rec/labor-inspections")
    assert [v["reason"] for v in rec] == [None] + [why for row, why in EVERY_FIELD if row.startswith("rec/")]
    assert rec[4]["changes"] == [{"field": "due_on", "old": None, "new": "2020-06-30"}]
    assert rec[-1]["changes"] == [{"field": "due_on", "old": "2020-06-30", "new": None}]
    assert history(database, "status/1")[-1]["changes"] == [{"field": "withdrawn", "old": False, "new": True}]
    assert history(database, "measurement/1")[-1]["values"]["withdrawn"] is True

    # What the reads show now.
    with clock.frozen(NOW):
        shown = read(database, queries.evidence_record, 1)
        labor = read(database, lambda s: queries.recommendation(s, "labor-inspections").as_dict())
        kilns = read(database, queries.indicator_detail, "kiln-inspections")
        statuses = read(database, queries.status_history, "labor-inspections")
        agencies = {a["code"]: a["name"] for a in read(database, queries.agency_list)}
    assert (shown["title"], shown["url"], shown["corrected"]) == ("Kiln visit (Kandal)", None, True)
    assert (labor["title"], labor["pillar"], labor["due_on"], labor["position"], labor["text_status"]) == (
        "Increase labor inspections",
        "protection",
        None,
        4,
        "verbatim",
    )
    assert labor["text"] == "Increase labor inspections, especially at kilns."
    assert labor["status"] == "not_started"  # its one assessment withdrawn
    assert (kilns["name"], kilns["unit"], kilns["direction"], kilns["target"]) == (
        "Inspections at brick kilns",
        "visits",
        "down",
        45.0,
    )
    assert statuses[0]["withdrawn"]["reason"] == "Assessed too early"
    assert agencies["molvt"] == "Ministry of Labour and Vocational Training (MoLVT)"
    assert_verifies(database)


def test_a_row_is_recorded_as_its_command_records_it(make_url_for, tmp_path):
    """The same correction by the command and by an import: the same correction event, byte for byte."""
    by_command, by_import = Database(make_url_for()), Database(make_url_for())
    try:
        for database in (by_command, by_import):
            recorded(database)
        with clock.frozen(NOW):
            result = invoke(
                ["--db", by_command.url, "evidence", "amend", "1", "--date", "2019-07-01", "--reason", "Wrong day"],
                env={"TRACKER_USER": ACTOR},
            )
            assert result.exit_code == 0, result.output
            importing.import_file(
                by_import, csv_file(tmp_path / "one.csv", "evidence/1,date,2019-07-01,Wrong day"), actor=ACTOR
            )
        command = read(by_command, queries.log)[0]
        imported = read(by_import, queries.log)[0]
        assert imported["action"] == command["action"] == "correction.record"
        assert imported["payload"] == command["payload"]
        # the same versions, but the events' hashes (the import's chain has its import.file event too)
        assert versions_but_events(by_import) == versions_but_events(by_command)
        assert_verifies(by_import)
    finally:
        by_command.dispose()
        by_import.dispose()


GOOD_BEFORE = ["evidence/1,title,Kiln visit,Typo", "status/1,withdrawn,yes,Assessed too early"]
GOOD_AFTER = ["agency/molvt,name,MoLVT,Short name"]


@pytest.mark.parametrize(
    "bad, column, says",
    [
        ("evidence/99,title,X,Why", "record", "unknown evidence id 99"),
        ("evidence/one,title,X,Why", "record", "invalid evidence id 'one'"),
        ("rec/no-such-rec,title,X,Why", "record", "unknown recommendation 'no-such-rec'"),
        ("status/7,withdrawn,yes,Why", "record", "no status with id 7"),
        ("task/1,title,X,Why", "record", "unknown record 'task/1'"),
        (",title,X,Why", "record", "record is required"),
        ("evidence/1,colour,red,Why", "field", "evidence has no field 'colour'"),
        ("status/1,note,Other,Why", "field", "give one of withdrawn"),
        ("evidence/1,title,Kiln visit (Kandal),", "reason", "reason is required"),
        ('evidence/1,title,Kiln visit (Kandal),"  "', "reason", "reason is required"),
        ("evidence/1,kind,rumour,Why", "value", "'rumour'"),
        ("evidence/1,date,2019-02-30,Why", "value", "no such day"),
        ("evidence/1,title,,Why", "value", "is required"),
        ("rec/labor-inspections,due,soon,Why", "value", "YYYY-MM-DD"),
        ("rec/labor-inspections,position,first,Why", "value", "whole number"),
        ("indicator/kiln-inspections,target,many,Why", "value", "give a number"),
        ("measurement/1,withdrawn,no,Why", "value", "takes the value yes"),
        ("evidence/1,title,Kiln visit,Same again", "value", "nothing would change"),  # row 2 said so
        ("status/1,withdrawn,yes,Again", "value", "nothing would change"),  # row 3 withdrew it
    ],
    ids=[
        "unknown evidence",
        "bad evidence id",
        "unknown rec",
        "unknown status",
        "unknown kind of record",
        "no record",
        "unknown field",
        "field of another kind",
        "no reason",
        "blank reason",
        "bad kind",
        "no such day",
        "blank title",
        "bad due date",
        "bad position",
        "bad target",
        "withdrawn no",
        "same value again",
        "withdrawn twice",
    ],
)
@pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry-run"])
def test_a_bad_row_anywhere_writes_nothing(database, url, tmp_path, bad, column, says, dry_run):
    recorded(database)
    path = csv_file(tmp_path / "bad.csv", *GOOD_BEFORE, bad, *GOOD_AFTER)
    before, counted = dump(url), events(database)
    with clock.frozen(NOW), pytest.raises(InputError) as refused:
        importing.import_file(database, path, actor=ACTOR, dry_run=dry_run)
    message = str(refused.value)
    assert refused.value.exit_code == 2
    assert message.startswith(f"{path} line 4, column {column}: "), message
    assert says in message and "\n" not in message, message
    assert events(database) == counted
    assert dump(url) == before


def test_a_bad_last_row_undoes_the_rows_before_it(database, url, tmp_path):
    recorded(database)
    rows = [f"evidence/1,title,Kiln visit {n},Try {n}" for n in range(1, 21)]
    path = csv_file(tmp_path / "long.csv", *rows, "evidence/1,title,Kiln visit 20,Once more")
    before, counted = dump(url), events(database)
    with clock.frozen(NOW), pytest.raises(InputError) as refused:
        importing.import_file(database, path, actor=ACTOR)
    assert str(refused.value) == (f"{path} line 22, column value: nothing would change: evidence 1 already says so")
    assert events(database) == counted and dump(url) == before
    assert len(history(database, "evidence/1")) == 1
    with clock.frozen(NOW):  # what was refused took no ids (on PostgreSQL neither)
        done = importing.import_file(database, csv_file(tmp_path / "one.csv", rows[0]), actor=ACTOR)
    assert done.describe().startswith(f"Imported 1 correction from {tmp_path / 'one.csv'} as import 1 (correction 1)")


def test_a_dry_run_says_what_it_would_do_and_writes_nothing(database, url, tmp_path):
    recorded(database)
    path = csv_file(tmp_path / "fix.csv", *GOOD_BEFORE, *GOOD_AFTER)
    before = dump(url)
    with clock.frozen(NOW):
        summary = importing.import_file(database, path, actor=ACTOR, dry_run=True)
    assert summary.describe() == (
        f"Would import 3 corrections from {path}: 3 corrections, 4 events (dry run: nothing was written)"
    )
    assert (summary.batch_id, summary.ids) == (None, None)
    assert dump(url) == before
    with clock.frozen(NOW):  # a dry run is no import, and takes no ids (on PostgreSQL neither)
        done = importing.import_file(database, path, actor=ACTOR)
    assert done.describe() == (
        f"Imported 3 corrections from {path} as import 1 (corrections 1 to 3): 3 corrections, 4 events"
    )
    assert_verifies(database)


def test_a_correction_file_is_imported_once_unless_again(database, url, tmp_path):
    recorded(database)
    path = csv_file(tmp_path / "fix.csv", "evidence/1,title,Kiln visit,Typo")
    with clock.frozen(NOW):
        importing.import_file(database, path, actor=ACTOR)
    before = dump(url)
    for dry_run in (False, True):
        with clock.frozen(at("2019-10-20")), pytest.raises(Conflict) as refused:
            importing.import_file(database, path, actor=ACTOR, dry_run=dry_run)
        assert "already imported on 2019-10-05" in str(refused.value) and "--again" in str(refused.value)
    with clock.frozen(at("2019-10-20")), pytest.raises(InputError) as again:  # again: its rows change nothing now
        importing.import_file(database, path, actor=ACTOR, again=True)
    assert str(again.value) == f"{path} line 2, column value: nothing would change: evidence 1 already says so"
    assert dump(url) == before


@pytest.mark.parametrize(
    "header, error",
    [
        ("record,field,value", "header not recognised: a correction file needs the column(s) reason"),
        ("record,field,value,reason,note", "unknown column 'note' in a correction file"),
        ("record,field,value,reason,reason", "the column 'reason' appears twice"),
    ],
    ids=["no reason column", "unknown column", "repeated column"],
)
def test_the_header_of_a_correction_file(database, url, tmp_path, header, error):
    recorded(database)
    path = csv_file(tmp_path / "fix.csv", "evidence/1,title,Kiln visit,Typo", header=header)
    before = dump(url)
    with clock.frozen(NOW), pytest.raises(InputError) as refused:
        importing.import_file(database, path, actor=ACTOR)
    assert str(refused.value).startswith(f"{path} line 1: ") and error in str(refused.value), str(refused.value)
    assert dump(url) == before


def test_a_header_is_matched_as_for_the_other_kinds(database, tmp_path):
    """Any case, spaces around names, any column order, a byte-order mark."""
    recorded(database)
    path = tmp_path / "fix.csv"
    path.write_text("\ufeffReason , VALUE,field,Record\r\nTypo,Kiln visit,title,evidence/1\r\n", encoding="utf-8")
    with clock.frozen(NOW):
        summary = importing.import_file(database, path, actor=ACTOR)
    assert (summary.kind, summary.rows) == ("correction", 1)
    assert history(database, "evidence/1")[-1]["values"]["title"] == "Kiln visit"


# The command: wiring, exit codes, stdout and stderr ---------------------------------------------


def test_the_import_command_with_a_correction_file(run, url, database, tmp_path):
    recorded(database)
    path = csv_file(tmp_path / "fix.csv", *GOOD_BEFORE, *GOOD_AFTER)
    with clock.frozen(NOW):
        dry = run("import", path, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout == (
        f"Would import 3 corrections from {path}: 3 corrections, 4 events (dry run: nothing was written)\n"
    )
    assert dry.stderr == ""

    with clock.frozen(NOW):
        result = run("import", path, "--by", ACTOR)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Imported 3 corrections from {path} as import 1 (corrections 1 to 3): 3 corrections, 4 events"
    ]
    shown = json.loads(run("history", "evidence/1", "--json").stdout)
    assert shown["versions"][-1]["values"]["title"] == "Kiln visit"
    assert (shown["versions"][-1]["reason"], shown["versions"][-1]["recorded_by"]) == ("Typo", ACTOR)
    verify = run("verify")
    assert verify.exit_code == 0, verify.output


def test_a_missing_reason_is_refused_with_its_line(run, url, database, tmp_path):
    recorded(database)
    path = csv_file(tmp_path / "fix.csv", "evidence/1,title,Kiln visit,Typo", "agency/molvt,name,MoLVT,")
    before = dump(url)
    with clock.frozen(NOW):
        for args in (("import", path), ("import", path, "--dry-run")):
            result = run(*args)
            assert result.exit_code == 2, result.output
            assert result.stdout == ""
            assert result.stderr.splitlines() == [
                f"Error: {path} line 3, column reason: reason is required and must not be blank"
            ]
    assert dump(url) == before
