"""Recording a quarter of work on the 2019 recommendations, and reading it back.

Everything goes through the library, as the record and read commands call it, with the
clock fixed so that ``recorded_at`` is known; each read must give exactly what was
recorded. (What the commands print is in test_cli.py.) Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tracker import clock, files, importing, queries, services
from tracker.errors import InputError
from tracker.periods import Quarter
from tracker.render.terminal import evidence_table
from tracker.store.database import Database

from conftest import add_evidence, dump, read, template, verified, write

ANALYST = "sophea"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"  # every byte value, some binary


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return clock.iso_utc(moment)


def log_the_quarter(database: Database, folder: Path) -> None:
    """The third quarter of 2019, logged as it happened."""
    pdf = folder / "kandal-inspections.pdf"
    pdf.write_bytes(PDF)
    by = {"actor": ANALYST}
    ids = {}
    with clock.frozen(at("2019-08-01")):
        ids["kiln"] = add_evidence(
            database,
            ["labor-inspections"],
            "MoLVT inspects 12 brick kilns in Kandal",
            "2019-07-30",
            "inspection",
            source_name="MoLVT press release",
            reliability="confirmed",
            sensitivity="public",
            url="https://example.org/molvt/kandal",
            attach=[pdf],
            **by,
        )
        write(
            database,
            services.set_status,
            "labor-inspections",
            "in_progress",
            effective_on="2019-08-01",
            note="First kiln inspections since 2017",
            evidence_ids=[ids["kiln"]],
            **by,
        )
        write(
            database,
            services.record_measurement,
            "kiln-inspections",
            "2019Q3",
            "12",
            evidence_id=ids["kiln"],
            note="Kandal only",
            **by,
        )
    with clock.frozen(at("2019-08-15")):
        ids["draft"] = add_evidence(
            database,
            ["undercover-techniques", "prosecute-convict"],
            "Draft law on undercover operations tabled",
            "2019-08-14",
            "law",
            summary="Article 12 authorises undercover work.",
            **by,
        )
        write(
            database,
            services.set_status,
            "undercover-techniques",
            "in_progress",
            effective_on="2019-08-14",
            note="Draft law tabled",
            evidence_ids=[ids["draft"]],
            **by,
        )
        ids["june"] = add_evidence(database, ["prosecute-convict"], "June verdict", "2019-06-10", "court_case", **by)
    with clock.frozen(at("2019-09-02")):
        ids["ngo"] = add_evidence(
            database,
            ["victim-identification"],
            "Shelters report victims turned away",
            "2019-09-01",
            "ngo_report",
            stance="setback",
            sensitivity="confidential",
            reliability="unverified",
            **by,
        )
        ids["dup"] = add_evidence(
            database, ["labor-inspections"], "Kandal inspections (news)", "2019-09-02", "media_report", **by
        )
    with clock.frozen(at("2019-09-03")):
        write(database, services.retract_evidence, ids["dup"], "Duplicate of the MoLVT press release", **by)
    with clock.frozen(at("2019-10-04")):
        write(
            database,
            services.set_status,
            "labor-inspections",
            "partially_implemented",
            effective_on="2019-09-30",
            note="Inspections in three provinces; no debt bondage cases yet",
            **by,
        )
        write(database, services.record_measurement, "kiln-inspections", "2019Q3", "14", note="All provinces", **by)
        write(database, services.record_measurement, "kiln-inspections", "2019Q2", "0", **by)


QUARTER = template("2019Q3-logged", log_the_quarter)
TITLES = {
    "kiln": "MoLVT inspects 12 brick kilns in Kandal",
    "draft": "Draft law on undercover operations tabled",
    "june": "June verdict",
    "ngo": "Shelters report victims turned away",
    "dup": "Kandal inspections (news)",
}


@dataclass
class Logged:
    database: Database
    url: str
    ids: dict[str, int]


@pytest.fixture
def quarter(make_url_for):
    """A copy of the database with the quarter logged; the evidence ids by name."""
    url = make_url_for(QUARTER)
    database = Database(url)
    by_title = {e["title"]: e["id"] for e in read(database, queries.evidence_list, include_retracted=True)}
    yield Logged(database, url, {name: by_title[title] for name, title in TITLES.items()})
    database.dispose()


def test_the_quarter_shows_exactly_what_was_logged(quarter):
    database, ids = quarter.database, quarter.ids
    sha = hashlib.sha256(PDF).hexdigest()
    q3 = Quarter.parse("2019Q3")
    with clock.frozen(at("2019-10-05")):
        shown = read(database, queries.recommendation, "labor-inspections").as_dict()
        history = read(database, queries.status_history, "labor-inspections")
        listed = read(database, queries.evidence_list, quarter=q3)
        with_retracted = read(database, queries.evidence_list, quarter=q3, include_retracted=True)
        indicator = read(database, queries.indicator_detail, "kiln-inspections")
        undercover = read(database, queries.recommendation, "undercover-techniques").as_dict()
        untouched = read(database, queries.recommendation, "victim-identification").as_dict()

    assert shown["status"] == "partially_implemented"
    assert undercover["status"] == "in_progress"
    assert untouched["status"] == "not_started"  # evidence alone does not change a status
    assert shown["indicators"] == ["kiln-inspections", "debt-bondage-cases"]  # catalog order

    assert history == [
        {
            "id": 1,
            "ref": "labor-inspections",
            "status": "in_progress",
            "effective_on": "2019-08-01",
            "note": "First kiln inspections since 2017",
            "evidence": [ids["kiln"]],
            "retracted_evidence": [],
            "recorded_at": stamp(at("2019-08-01")),
            "recorded_by": ANALYST,
            "assessor": None,
            "for": None,
            "withdrawn": None,
        },
        {
            "id": 3,
            "ref": "labor-inspections",
            "status": "partially_implemented",
            "effective_on": "2019-09-30",
            "note": "Inspections in three provinces; no debt bondage cases yet",
            "evidence": [],
            "retracted_evidence": [],
            "recorded_at": stamp(at("2019-10-04")),
            "recorded_by": ANALYST,
            "assessor": None,
            "for": None,
            "withdrawn": None,
        },
    ]

    kiln = {
        "id": ids["kiln"],
        "title": "MoLVT inspects 12 brick kilns in Kandal",
        "kind": "inspection",
        "observed_on": "2019-07-30",
        "source_name": "MoLVT press release",
        "url": "https://example.org/molvt/kandal",
        "summary": None,
        "reliability": "confirmed",
        "sensitivity": "public",
        "corrected": False,
        "recorded_at": stamp(at("2019-08-01")),
        "recorded_by": ANALYST,
        "recommendations": [{"ref": "labor-inspections", "stance": "progress"}],
        "attachments": [
            {"sha256": sha, "filename": "kandal-inspections.pdf", "size": len(PDF), "media_type": "application/pdf"}
        ],
        "retraction": None,
    }
    draft = {
        "id": ids["draft"],
        "title": "Draft law on undercover operations tabled",
        "kind": "law",
        "observed_on": "2019-08-14",
        "source_name": None,
        "url": None,
        "summary": "Article 12 authorises undercover work.",
        "reliability": "credible",
        "sensitivity": "internal",
        "corrected": False,
        "recorded_at": stamp(at("2019-08-15")),
        "recorded_by": ANALYST,
        "recommendations": [
            {"ref": "prosecute-convict", "stance": "progress"},
            {"ref": "undercover-techniques", "stance": "progress"},
        ],
        "attachments": [],
        "retraction": None,
    }
    ngo = {
        "id": ids["ngo"],
        "title": "Shelters report victims turned away",
        "kind": "ngo_report",
        "observed_on": "2019-09-01",
        "source_name": None,
        "url": None,
        "summary": None,
        "reliability": "unverified",
        "sensitivity": "confidential",
        "corrected": False,
        "recorded_at": stamp(at("2019-09-02")),
        "recorded_by": ANALYST,
        "recommendations": [{"ref": "victim-identification", "stance": "setback"}],
        "attachments": [],
        "retraction": None,
    }
    dup = {
        "id": ids["dup"],
        "title": "Kandal inspections (news)",
        "kind": "media_report",
        "observed_on": "2019-09-02",
        "source_name": None,
        "url": None,
        "summary": None,
        "reliability": "credible",
        "sensitivity": "internal",
        "corrected": False,
        "recorded_at": stamp(at("2019-09-02")),
        "recorded_by": ANALYST,
        "recommendations": [{"ref": "labor-inspections", "stance": "progress"}],
        "attachments": [],
        "retraction": {
            "reason": "Duplicate of the MoLVT press release",
            "recorded_at": stamp(at("2019-09-03")),
            "recorded_by": ANALYST,
        },
    }
    # by date observed; the June verdict is in 2019Q2, the retracted item left out
    assert listed == [kiln, draft, ngo]
    assert with_retracted == [kiln, draft, ngo, dup]

    assert indicator == {
        "code": "kiln-inspections",
        "ref": "labor-inspections",
        "name": "Labor inspections at brick kilns",
        "unit": "inspections",
        "direction": "up",
        "target": None,
        "measurements": [
            {
                "id": 3,
                "quarter": "2019Q2",
                "quarter_start": "2019-04-01",
                "value": 0.0,
                "note": None,
                "evidence_id": None,
                "evidence_retracted": False,
                "current": True,
                "recorded_at": stamp(at("2019-10-04")),
                "recorded_by": ANALYST,
                "withdrawn": None,
            },
            {
                "id": 1,
                "quarter": "2019Q3",
                "quarter_start": "2019-07-01",
                "value": 12.0,
                "note": "Kandal only",
                "evidence_id": ids["kiln"],
                "evidence_retracted": False,
                "current": False,
                "recorded_at": stamp(at("2019-08-01")),
                "recorded_by": ANALYST,
                "withdrawn": None,
            },
            {
                "id": 2,
                "quarter": "2019Q3",
                "quarter_start": "2019-07-01",
                "value": 14.0,
                "note": "All provinces",
                "evidence_id": None,
                "evidence_retracted": False,
                "current": True,
                "recorded_at": stamp(at("2019-10-04")),
                "recorded_by": ANALYST,
                "withdrawn": None,
            },
        ],
    }

    listed_text = evidence_table(with_retracted)
    assert "[RETRACTED] Kandal inspections (news)" in listed_text
    assert "June verdict" not in listed_text
    assert [row["status"] for row in history][-1] == "partially_implemented"

    assert verified(database).ok


def test_an_attachment_comes_back_byte_for_byte(quarter, tmp_path):
    database, ids = quarter.database, quarter.ids
    sha = read(database, queries.evidence_record, ids["kiln"])["attachments"][0]["sha256"]
    target = tmp_path / "out" / "copy.pdf"
    target.parent.mkdir()
    files.write_exactly(target, read(database, queries.attachment_content, sha), force=False)
    assert target.read_bytes() == PDF

    target.write_bytes(b"my own notes")
    with pytest.raises(InputError) as refused:
        files.check_destination(target, force=False)
    assert refused.value.exit_code == 2 and "--force" in str(refused.value)
    with pytest.raises(InputError, match="--force"):
        files.write_exactly(target, PDF, force=False)
    assert target.read_bytes() == b"my own notes"  # untouched

    files.write_exactly(target, read(database, queries.attachment_content, sha), force=True)
    assert target.read_bytes() == PDF


def test_the_same_file_attached_twice_is_stored_once(database, url, tmp_path):
    one, two = tmp_path / "a.pdf", tmp_path / "b.pdf"
    one.write_bytes(PDF)
    two.write_bytes(PDF)
    first = read(
        database,
        queries.evidence_record,
        add_evidence(database, ["labor-inspections"], "One", "2019-07-01", "inspection", attach=[one, two]),
    )
    second = read(
        database,
        queries.evidence_record,
        add_evidence(database, ["labor-inspections"], "Two", "2019-07-02", "inspection", attach=[one]),
    )
    assert {a["filename"] for a in first["attachments"]} == {"a.pdf"}  # same content, once per evidence
    assert second["attachments"][0]["sha256"] == first["attachments"][0]["sha256"]
    assert len(dump(url)["attachment"]) == 1


def test_verify_names_the_event_of_a_note_changed_in_sql(quarter):
    database, url = quarter.database, quarter.url
    events = read(database, queries.log)
    status_events = sorted(e["seq"] for e in events if e["action"] == "status.set")
    first = status_events[0]
    assert verified(database).ok

    engine = create_engine(Database(url).url)
    with engine.begin() as connection:
        changed = connection.execute(text("UPDATE status_update SET note = 'Everything is fine' WHERE id = 1"))
        assert changed.rowcount == 1
    engine.dispose()

    result = verified(database)
    assert not result.ok
    finding = result.findings[0].describe()
    assert f"event {first}" in finding and "status_update row 1" in finding and "note" in finding


def test_verify_passes_after_every_kind_of_write(quarter, tmp_path):
    database, url = quarter.database, quarter.url
    write(
        database,
        services.add_agency,
        "mfaic",
        "Ministry of Foreign Affairs and International Cooperation",
        actor="tester",
    )
    write(database, services.assign_agency, "victim-identification", "mfaic", "support", actor="tester")
    write(
        database,
        services.add_recommendation,
        source="tip-2019-khm",
        code="shelter-funding",
        title="Fund shelters",
        text="Increase funding for victim shelters.",
        pillar="protection",
        due_on=datetime(2020, 12, 31).date(),
        actor="tester",
    )
    write(
        database,
        services.add_indicator,
        "shelter-funding",
        code="shelter-beds",
        name="Shelter beds funded",
        unit="beds",
        target="200",
        actor="tester",
    )
    write(database, services.record_measurement, "shelter-beds", "2019Q3", "40", actor="tester")
    csv_file = tmp_path / "status.csv"
    csv_file.write_text("rec,status,effective_on,note\nshelter-funding,in_progress,2019-09-01,Budget line agreed\n")
    importing.import_file(database, csv_file, actor="tester")
    before = dump(url)
    report = verified(database).as_dict()
    assert report["ok"] is True and report["findings"] == []
    assert report["attachments"] == 1
    assert dump(url) == before  # verify only reads
