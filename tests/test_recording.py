"""Recording a quarter of work on the 2019 recommendations, and reading it back.

Everything goes through the real command line (in-process) with the clock fixed, so
that ``recorded_at`` is known; each read command must show exactly what was recorded.
Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from conftest import dump
from tracker import clock
from tracker.store.database import Database

ANALYST = "sophea"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"  # every byte value, some binary


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return clock.iso_utc(moment)


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(result):
    return json.loads(ok(result))


@pytest.fixture
def quarter(run, tmp_path):
    """The third quarter of 2019, logged as it happened; returns the ids and the file."""
    pdf = tmp_path / "kandal-inspections.pdf"
    pdf.write_bytes(PDF)
    by = ["--by", ANALYST]
    ids = {}
    with clock.frozen(at("2019-08-01")):
        ids["kiln"] = int(ok(run("evidence", "add", "--rec", "labor-inspections",
                                 "--title", "MoLVT inspects 12 brick kilns in Kandal", "--date", "2019-07-30",
                                 "--kind", "inspection", "--source-name", "MoLVT press release",
                                 "--reliability", "confirmed", "--sensitivity", "public",
                                 "--url", "https://example.org/molvt/kandal", "--attach", pdf, *by)))
        ok(run("status", "set", "labor-inspections", "in_progress", "--on", "2019-08-01",
               "--note", "First kiln inspections since 2017", "--evidence", ids["kiln"], *by))
        ok(run("indicator", "record", "kiln-inspections", "2019Q3", "12", "--evidence", ids["kiln"],
               "--note", "Kandal only", *by))
    with clock.frozen(at("2019-08-15")):
        ids["draft"] = int(ok(run("evidence", "add", "--rec", "undercover-techniques", "--rec", "prosecute-convict",
                                  "--title", "Draft law on undercover operations tabled", "--date", "2019-08-14",
                                  "--kind", "law", "--summary", "Article 12 authorises undercover work.", *by)))
        ok(run("status", "set", "undercover-techniques", "in_progress", "--on", "2019-08-14",
               "--note", "Draft law tabled", "--evidence", ids["draft"], *by))
        ids["june"] = int(ok(run("evidence", "add", "--rec", "prosecute-convict", "--title", "June verdict",
                                 "--date", "2019-06-10", "--kind", "court_case", *by)))
    with clock.frozen(at("2019-09-02")):
        ids["ngo"] = int(ok(run("evidence", "add", "--rec", "victim-identification",
                                "--title", "Shelters report victims turned away", "--date", "2019-09-01",
                                "--kind", "ngo_report", "--stance", "setback", "--sensitivity", "confidential",
                                "--reliability", "unverified", *by)))
        ids["dup"] = int(ok(run("evidence", "add", "--rec", "labor-inspections", "--title", "Kandal inspections (news)",
                                "--date", "2019-09-02", "--kind", "media_report", *by)))
    with clock.frozen(at("2019-09-03")):
        ok(run("evidence", "retract", ids["dup"], "--reason", "Duplicate of the MoLVT press release", *by))
    with clock.frozen(at("2019-10-04")):
        ok(run("status", "set", "labor-inspections", "partially_implemented", "--on", "2019-09-30",
               "--note", "Inspections in three provinces; no debt bondage cases yet", *by))
        ok(run("indicator", "record", "kiln-inspections", "2019Q3", "14", "--note", "All provinces", *by))
        ok(run("indicator", "record", "kiln-inspections", "2019Q2", "0", *by))
    return ids, pdf


def test_the_quarter_shows_exactly_what_was_logged(run, quarter, tmp_path):
    ids, pdf = quarter
    sha = __import__("hashlib").sha256(PDF).hexdigest()
    with clock.frozen(at("2019-10-05")):
        shown = as_json(run("rec", "show", "labor-inspections", "--json"))
        history = as_json(run("status", "history", "labor-inspections", "--json"))
        listed = as_json(run("evidence", "list", "--quarter", "2019Q3", "--json"))
        with_retracted = as_json(run("evidence", "list", "--quarter", "2019Q3", "--include-retracted", "--json"))
        indicator = as_json(run("indicator", "show", "kiln-inspections", "--json"))
        undercover = as_json(run("rec", "show", "undercover-techniques", "--json"))
        untouched = as_json(run("rec", "show", "victim-identification", "--json"))

    assert shown["status"] == "partially_implemented"
    assert undercover["status"] == "in_progress"
    assert untouched["status"] == "not_started"  # evidence alone does not change a status
    assert shown["indicators"] == ["kiln-inspections", "debt-bondage-cases"]  # catalog order

    assert history == [
        {"id": 1, "ref": "labor-inspections", "status": "in_progress", "effective_on": "2019-08-01",
         "note": "First kiln inspections since 2017", "evidence": [ids["kiln"]],
         "recorded_at": stamp(at("2019-08-01")), "recorded_by": ANALYST},
        {"id": 3, "ref": "labor-inspections", "status": "partially_implemented", "effective_on": "2019-09-30",
         "note": "Inspections in three provinces; no debt bondage cases yet", "evidence": [],
         "recorded_at": stamp(at("2019-10-04")), "recorded_by": ANALYST},
    ]

    kiln = {
        "id": ids["kiln"], "title": "MoLVT inspects 12 brick kilns in Kandal", "kind": "inspection",
        "observed_on": "2019-07-30", "source_name": "MoLVT press release", "url": "https://example.org/molvt/kandal",
        "summary": None, "reliability": "confirmed", "sensitivity": "public",
        "recorded_at": stamp(at("2019-08-01")), "recorded_by": ANALYST,
        "recommendations": [{"ref": "labor-inspections", "stance": "progress"}],
        "attachments": [{"sha256": sha, "filename": "kandal-inspections.pdf", "size": len(PDF),
                         "media_type": "application/pdf"}],
        "retraction": None,
    }
    draft = {
        "id": ids["draft"], "title": "Draft law on undercover operations tabled", "kind": "law",
        "observed_on": "2019-08-14", "source_name": None, "url": None,
        "summary": "Article 12 authorises undercover work.", "reliability": "credible", "sensitivity": "internal",
        "recorded_at": stamp(at("2019-08-15")), "recorded_by": ANALYST,
        "recommendations": [{"ref": "prosecute-convict", "stance": "progress"},
                            {"ref": "undercover-techniques", "stance": "progress"}],
        "attachments": [], "retraction": None,
    }
    ngo = {
        "id": ids["ngo"], "title": "Shelters report victims turned away", "kind": "ngo_report",
        "observed_on": "2019-09-01", "source_name": None, "url": None, "summary": None,
        "reliability": "unverified", "sensitivity": "confidential",
        "recorded_at": stamp(at("2019-09-02")), "recorded_by": ANALYST,
        "recommendations": [{"ref": "victim-identification", "stance": "setback"}],
        "attachments": [], "retraction": None,
    }
    dup = {
        "id": ids["dup"], "title": "Kandal inspections (news)", "kind": "media_report",
        "observed_on": "2019-09-02", "source_name": None, "url": None, "summary": None,
        "reliability": "credible", "sensitivity": "internal",
        "recorded_at": stamp(at("2019-09-02")), "recorded_by": ANALYST,
        "recommendations": [{"ref": "labor-inspections", "stance": "progress"}],
        "attachments": [],
        "retraction": {"reason": "Duplicate of the MoLVT press release", "recorded_at": stamp(at("2019-09-03")),
                       "recorded_by": ANALYST},
    }
    # by date observed; the June verdict is in 2019Q2, the retracted item left out
    assert listed == [kiln, draft, ngo]
    assert with_retracted == [kiln, draft, ngo, dup]

    assert indicator == {
        "code": "kiln-inspections", "ref": "labor-inspections", "name": "Labor inspections at brick kilns",
        "unit": "inspections", "direction": "up", "target": None,
        "measurements": [
            {"quarter": "2019Q2", "quarter_start": "2019-04-01", "value": 0.0, "note": None, "evidence_id": None,
             "current": True, "recorded_at": stamp(at("2019-10-04")), "recorded_by": ANALYST},
            {"quarter": "2019Q3", "quarter_start": "2019-07-01", "value": 12.0, "note": "Kandal only",
             "evidence_id": ids["kiln"], "current": False, "recorded_at": stamp(at("2019-08-01")),
             "recorded_by": ANALYST},
            {"quarter": "2019Q3", "quarter_start": "2019-07-01", "value": 14.0, "note": "All provinces",
             "evidence_id": None, "current": True, "recorded_at": stamp(at("2019-10-04")), "recorded_by": ANALYST},
        ],
    }

    listed_text = ok(run("evidence", "list", "--quarter", "2019Q3", "--include-retracted"))
    assert "[RETRACTED] Kandal inspections (news)" in listed_text
    assert "June verdict" not in listed_text
    assert "partially_implemented" in ok(run("status", "history", "labor-inspections"))

    result = run("verify")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("OK: ")


def test_an_attachment_comes_back_byte_for_byte(run, quarter, tmp_path):
    ids, pdf = quarter
    sha = as_json(run("evidence", "show", ids["kiln"], "--json"))["attachments"][0]["sha256"]
    target = tmp_path / "out" / "copy.pdf"
    target.parent.mkdir()
    ok(run("evidence", "file", sha, "-o", target))
    assert target.read_bytes() == pdf.read_bytes() == PDF

    target.write_bytes(b"my own notes")
    refused = run("evidence", "file", sha, "-o", target)
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.startswith("Error: ") and "--force" in refused.stderr
    assert target.read_bytes() == b"my own notes"  # untouched

    ok(run("evidence", "file", sha, "-o", target, "--force"))
    assert target.read_bytes() == PDF


def test_the_same_file_attached_twice_is_stored_once(run, url, tmp_path):
    one, two = tmp_path / "a.pdf", tmp_path / "b.pdf"
    one.write_bytes(PDF)
    two.write_bytes(PDF)
    first = as_json(run("evidence", "add", "--rec", "labor-inspections", "--title", "One", "--date", "2019-07-01",
                        "--kind", "inspection", "--attach", one, "--attach", two, "--json"))
    second = as_json(run("evidence", "add", "--rec", "labor-inspections", "--title", "Two", "--date", "2019-07-02",
                         "--kind", "inspection", "--attach", one, "--json"))
    assert {a["filename"] for a in first["attachments"]} == {"a.pdf"}  # same content, once per evidence
    assert second["attachments"][0]["sha256"] == first["attachments"][0]["sha256"]
    assert len(dump(url)["attachment"]) == 1


def test_verify_names_the_event_of_a_note_changed_in_sql(run, url, quarter):
    events = as_json(run("log", "--json"))
    status_events = sorted(e["seq"] for e in events if e["action"] == "status.set")
    first = status_events[0]
    assert ok(run("verify")) == ""

    engine = create_engine(Database(url).url)
    with engine.begin() as connection:
        changed = connection.execute(text("UPDATE status_update SET note = 'Everything is fine' WHERE id = 1"))
        assert changed.rowcount == 1
    engine.dispose()

    result = run("verify")
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: verify failed at "), result.stderr
    assert f"event {first}" in lines[0] and "status_update row 1" in lines[0] and "note" in lines[0]


def test_verify_passes_after_every_kind_of_write(run, url, quarter, tmp_path):
    ok(run("agency", "add", "mfaic", "Ministry of Foreign Affairs and International Cooperation"))
    ok(run("rec", "assign", "victim-identification", "mfaic", "--role", "support"))
    ok(run("rec", "add", "--source", "tip-2019-khm", "--code", "shelter-funding", "--title", "Fund shelters",
           "--text", "Increase funding for victim shelters.", "--pillar", "protection", "--due", "2020-12-31"))
    ok(run("indicator", "add", "shelter-funding", "--code", "shelter-beds", "--name", "Shelter beds funded",
           "--unit", "beds", "--target", "200"))
    ok(run("indicator", "record", "shelter-beds", "2019Q3", "40"))
    csv_file = tmp_path / "status.csv"
    csv_file.write_text("rec,status,effective_on,note\nshelter-funding,in_progress,2019-09-01,Budget line agreed\n")
    ok(run("import", csv_file))
    before = dump(url)
    result = run("verify", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["findings"] == []
    assert report["attachments"] == 1
    assert dump(url) == before  # verify only reads
