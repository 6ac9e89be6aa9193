"""Lineage: the sources loaded, a recommendation's thread across editions, and what one
edition does with the recommendations of an earlier one.

SQLite and PostgreSQL, with the four built-in TIP Cambodia editions loaded (2015, 2018,
2019, 2022), assessments and evidence recorded against several editions, and the clock
fixed in January 2023 (tip-2022-khm in force).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tracker import catalogs, clock, lineage, queries, services
from tracker.errors import InputError, NotFound
from tracker.render import terminal
from tracker.store.database import Database

from conftest import add_evidence, read, template, write

ACTOR = "analyst"
NOW = datetime(2023, 1, 10, 9, tzinfo=UTC)
EDITIONS = ("tip-2015-khm", "tip-2018-khm", "tip-2019-khm", "tip-2022-khm")


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def assess(database: Database, instant: datetime, ref: str, status: str, effective_on: str) -> int:
    with clock.frozen(instant):
        return database.write(
            lambda session: (
                services.set_status(session, ref, status, effective_on=effective_on, note="Assessed", actor=ACTOR).id
            )
        )


def evidence(database: Database, instant: datetime, ref: str, title: str, observed_on: str, **fields) -> int:
    with clock.frozen(instant):
        return add_evidence(database, [ref], title, observed_on, "inspection", actor=ACTOR, **fields)


def editions_recorded(database: Database, _folder: Path) -> None:
    """tip-2019-khm (the "loaded" template, 2019-06-21), then 2015 and 2018, then in time
    assessments and evidence against several editions, and tip-2022-khm when it came out."""
    with clock.frozen(at("2019-06-22")):
        for name in ("tip-2015-khm", "tip-2018-khm"):
            write(database, catalogs.load, catalogs.read(name), ACTOR)
    assess(database, at("2019-06-22", 10), "tip-2015-khm/victim-identification", "in_progress", "2016-03-01")
    assess(database, at("2019-06-22", 11), "tip-2018-khm/labor-inspections", "in_progress", "2018-10-01")
    evidence(database, at("2019-06-23"), "tip-2018-khm/labor-inspections", "Kiln inspections 2018", "2019-05-01")
    # After tip-2019-khm came out: an assessment of the 2018 edition's recommendation still.
    assess(database, at("2019-07-02"), "tip-2018-khm/victim-identification", "partially_implemented", "2019-07-01")
    evidence(
        database,
        at("2019-08-15"),
        "tip-2019-khm/labor-inspections",
        "MoLVT inspects 12 brick kilns",
        "2019-08-14",
        sensitivity="public",
    )
    evidence(
        database,
        at("2019-08-16"),
        "tip-2019-khm/labor-inspections",
        "Names of bonded workers",
        "2019-08-15",
        sensitivity="confidential",
    )
    duplicate = evidence(database, at("2019-08-20"), "tip-2019-khm/labor-inspections", "Kandal (news)", "2019-08-19")
    assess(database, at("2019-10-01"), "tip-2019-khm/labor-inspections", "partially_implemented", "2019-09-30")
    with clock.frozen(at("2019-10-05")):
        write(database, services.retract_evidence, duplicate, "Duplicate", actor=ACTOR)
    mistaken = assess(database, at("2020-01-02"), "tip-2019-khm/victim-identification", "implemented", "2020-01-01")
    with clock.frozen(at("2020-01-03")):
        write(database, services.withdraw_status, mistaken, "Entered against the wrong recommendation", actor=ACTOR)
    with clock.frozen(at("2022-08-01")):
        write(database, catalogs.load, catalogs.read("tip-2022-khm"), ACTOR)
    assess(database, at("2022-09-02"), "tip-2022-khm/victim-identification", "implemented", "2022-09-01")


EDITIONS_RECORDED = template("lineage-editions", editions_recorded)


@pytest.fixture
def database(make_url_for):
    db = Database(make_url_for(EDITIONS_RECORDED))
    yield db
    db.dispose()


def now(database: Database, query, *args, **kwargs):
    """``query`` read with the clock at :data:`NOW`."""
    with clock.frozen(NOW):
        return read(database, query, *args, **kwargs)


def evidence_id(database: Database, title: str) -> int:
    listed = read(database, queries.evidence_list, include_retracted=True)
    return next(item["id"] for item in listed if item["title"] == title)


def entry(thread: dict, ref: str) -> dict:
    return next(e for e in thread["thread"] if e["ref"] == ref)


# Sources ----------------------------------------------------------------------------------


def test_sources_newest_first_with_the_edition_in_force_today(database):
    rows = now(database, lineage.sources)
    assert [r["slug"] for r in rows] == list(reversed(EDITIONS))
    assert {r["slug"]: r["in_force"] for r in rows} == {
        "tip-2022-khm": True,
        "tip-2019-khm": False,
        "tip-2018-khm": False,
        "tip-2015-khm": False,
    }
    assert {r["series"] for r in rows} == {"tip-khm"}
    assert {r["slug"]: r["recommendations"] for r in rows} == {
        "tip-2022-khm": 3,
        "tip-2019-khm": 4,
        "tip-2018-khm": 4,
        "tip-2015-khm": 10,
    }
    newest = rows[0]
    assert newest == {
        "slug": "tip-2022-khm",
        "title": "2022 Trafficking in Persons Report: Cambodia",
        "series": "tip-khm",
        "publisher": "U.S. Department of State",
        "country": "KH",
        "published_on": "2022-07-19",
        "period_start": "2021-04-01",
        "period_end": "2022-03-31",
        "rating": "Tier 3",
        "recommendations": 3,
        "in_force": True,
    }
    in_2019 = read(database, lineage.sources, today=date(2019, 7, 1))
    assert [r["slug"] for r in in_2019 if r["in_force"]] == ["tip-2019-khm"]
    table = terminal.sources_table(rows)
    assert [line.split()[0] for line in table.splitlines()] == ["SLUG", *reversed(EDITIONS)]
    assert [" yes " in line for line in table.splitlines()[1:]] == [True, False, False, False]


def test_no_sources_says_how_to_load_one(make_url_for):
    db = Database(make_url_for("empty"))
    try:
        assert read(db, lineage.sources) == []
        assert "tracker catalog load" in terminal.sources_table([])
    finally:
        db.dispose()


# Threads ----------------------------------------------------------------------------------


def test_a_repeated_recommendation_thread_lists_both_editions_with_their_own_status_and_evidence(database):
    found = now(database, lineage.thread, "tip-2019-khm/labor-inspections")
    assert found["ref"] == "tip-2019-khm/labor-inspections"
    assert [e["ref"] for e in found["thread"]] == ["tip-2018-khm/labor-inspections", "tip-2019-khm/labor-inspections"]
    first, second = found["thread"]
    assert first["continues"] == [] and first["diff"] is None and first["diff_from"] is None
    assert [(c["ref"], c["relation"]) for c in second["continues"]] == [("tip-2018-khm/labor-inspections", "repeated")]
    assert second["diff_from"] == "tip-2018-khm/labor-inspections"
    assert {part["op"] for part in second["diff"]} == {"equal"}
    assert (second["source"], second["published_on"], second["code"]) == (
        "tip-2019-khm",
        "2019-06-20",
        "labor-inspections",
    )
    assert (first["text_status"], second["text_status"]) == ("verbatim", "paraphrase")
    # Each edition's own status at the end of its time in the thread.
    assert (first["status_on"], first["status"], first["carried_over_from"]) == ("2019-06-19", "in_progress", None)
    assert (second["status_on"], second["status"], second["carried_over_from"]) == (
        "2023-01-10",
        "partially_implemented",
        None,
    )
    # Evidence stays on the edition it was recorded against; the confidential and the
    # retracted items are not counted.
    assert (first["evidence"], first["evidence_ids"]) == (1, [evidence_id(database, "Kiln inspections 2018")])
    assert (second["evidence"], second["evidence_ids"]) == (1, [evidence_id(database, "MoLVT inspects 12 brick kilns")])
    kiln_2018 = read(database, queries.evidence_record, evidence_id(database, "Kiln inspections 2018"))
    assert [link["ref"] for link in kiln_2018["recommendations"]] == ["tip-2018-khm/labor-inspections"]
    # A bare code names the edition in force; the thread is the same from any of its members.
    assert now(database, lineage.thread, "labor-inspections") == found
    assert now(database, lineage.thread, "tip-2018-khm/labor-inspections")["thread"] == found["thread"]


def test_a_thread_across_four_editions_with_diffs_and_carried_statuses(database):
    found = now(database, lineage.thread, "tip-2019-khm/victim-identification")
    assert [e["ref"] for e in found["thread"]] == [f"{slug}/victim-identification" for slug in EDITIONS]
    assert [[c["relation"] for c in e["continues"]] for e in found["thread"]] == [
        [],
        ["broadened"],
        ["repeated"],
        ["reworded"],
    ]
    assert [[c["ref"] for c in e["continues"]] for e in found["thread"][1:]] == [
        ["tip-2015-khm/victim-identification"],
        ["tip-2018-khm/victim-identification"],
        ["tip-2019-khm/victim-identification"],
    ]
    y2015, y2018, y2019, y2022 = found["thread"]
    assert y2018["continues"][0]["note"].startswith("2015 asks to finalize")
    changed = [part for part in y2018["diff"] if part["op"] != "equal"]
    assert changed and {"op": "replace", "old": "Finalize and", "new": "Strengthen efforts to fully"} in changed
    assert " ".join(p["old"] for p in y2018["diff"] if p["old"]) == " ".join(y2015["text"].split())
    assert " ".join(p["new"] for p in y2018["diff"] if p["new"]) == " ".join(y2018["text"].split())
    assert {part["op"] for part in y2019["diff"]} == {"equal"}
    assert {part["op"] for part in y2022["diff"]} > {"equal"}
    # Statuses: its own, or the thread's latest carried over; a withdrawn assessment never counts.
    assert [(e["status_on"], e["status"], e["carried_over_from"]) for e in found["thread"]] == [
        ("2018-06-27", "in_progress", None),
        ("2019-06-19", "in_progress", "tip-2015-khm"),
        ("2022-07-18", "partially_implemented", "tip-2018-khm"),
        ("2023-01-10", "implemented", None),
    ]
    assert [e["evidence"] for e in found["thread"]] == [0, 0, 0, 0]
    text = terminal.thread_text(found)
    assert text.startswith("Thread of tip-2019-khm/victim-identification: 4 recommendations in 4 editions")
    assert "[-Finalize and-]{+Strengthen efforts to fully+} implement [-a-]{+the+} nationwide" in text
    assert "in_progress at the end of 2019-06-19 (carried over from tip-2015-khm, not yet re-assessed)" in text
    assert "tip-2019-khm (published 2019-06-20)  <- the REF given" in text
    assert "  relation  broadened, from tip-2015-khm/victim-identification\n" in text
    assert "the same as tip-2018-khm/victim-identification" in text


def test_a_thread_as_of_an_instant_leaves_out_what_was_recorded_later(database):
    moment = at("2019-09-01")
    found = read(database, lineage.thread, "victim-identification", as_of=moment)
    assert [e["source"] for e in found["thread"]] == ["tip-2015-khm", "tip-2018-khm", "tip-2019-khm"]
    assert found["thread"][-1]["status_on"] == "2019-09-01"
    assert found["thread"][-1]["carried_over_from"] == "tip-2018-khm"
    labor = read(database, lineage.thread, "tip-2019-khm/labor-inspections", as_of=moment)["thread"][-1]
    # Not yet assessed itself: 2018's status carried over; the duplicate not yet retracted.
    assert (labor["status"], labor["carried_over_from"]) == ("in_progress", "tip-2018-khm")
    assert labor["evidence_ids"] == [
        evidence_id(database, "MoLVT inspects 12 brick kilns"),
        evidence_id(database, "Kandal (news)"),
    ]
    with pytest.raises(NotFound) as unknown:
        read(database, lineage.thread, "tip-2022-khm/law-enforcement-funding", as_of=moment)
    assert unknown.value.exit_code == 2
    with pytest.raises(InputError):
        read(database, lineage.thread, "labor-inspections", as_of=datetime(2019, 9, 1))


def test_corrections_show_in_the_thread_and_the_diff(database):
    with clock.frozen(at("2023-01-05")):
        write(
            database,
            services.amend_recommendation,
            "tip-2019-khm/labor-inspections",
            title="Increase labor inspections at brick kilns",
            text="Increase labor inspections at brick kilns, with a focus on identifying debt bondage.",
            reason="The 2019 wording, now confirmed",
            actor=ACTOR,
        )
    found = now(database, lineage.thread, "tip-2019-khm/labor-inspections")
    corrected = found["thread"][1]
    assert corrected["title"] == "Increase labor inspections at brick kilns"
    assert {"op": "delete", "old": "in high-vulnerability professions, especially", "new": ""} in corrected["diff"]
    before = read(database, lineage.thread, "tip-2019-khm/labor-inspections", as_of=at("2023-01-01"))
    assert {part["op"] for part in before["thread"][1]["diff"]} == {"equal"}
    # A withdrawn continuation no longer joins the editions.
    with clock.frozen(at("2023-01-06")):
        write(
            database,
            services.unlink_recommendation,
            "tip-2019-khm/labor-inspections",
            "tip-2018-khm/labor-inspections",
            "Not the same recommendation",
            actor=ACTOR,
        )
    alone = now(database, lineage.thread, "tip-2019-khm/labor-inspections")
    assert [e["ref"] for e in alone["thread"]] == ["tip-2019-khm/labor-inspections"]
    assert "continues no other recommendation, and none continues it" in terminal.thread_text(alone)
    diff = read(database, lineage.catalog_diff, "tip-2018-khm", "tip-2019-khm")
    assert diff["dropped"] == ["tip-2018-khm/labor-inspections"]
    assert diff["added"] == ["tip-2019-khm/labor-inspections"]


def test_evidence_counts_follow_corrections_of_links_and_sensitivity(database):
    kiln_2018 = evidence_id(database, "Kiln inspections 2018")
    kiln_2019 = evidence_id(database, "MoLVT inspects 12 brick kilns")
    with clock.frozen(at("2023-01-05")):
        write(
            database,
            services.amend_evidence,
            kiln_2018,
            {},
            links=[("tip-2019-khm/victim-identification", "context")],
            reason="It bears on victim identification too",
            actor=ACTOR,
        )
        write(
            database,
            services.amend_evidence,
            kiln_2019,
            {"sensitivity": "confidential"},
            reason="Names a worker",
            actor=ACTOR,
        )
    labor = now(database, lineage.thread, "tip-2019-khm/labor-inspections")["thread"]
    assert [e["evidence_ids"] for e in labor] == [[kiln_2018], []]
    identification = now(database, lineage.thread, "tip-2019-khm/victim-identification")
    assert entry(identification, "tip-2019-khm/victim-identification")["evidence_ids"] == [kiln_2018]
    # As of before the corrections: as linked then; the raised sensitivity hides it all the same.
    earlier = read(database, lineage.thread, "tip-2019-khm/labor-inspections", as_of=at("2023-01-01"))["thread"]
    assert [e["evidence_ids"] for e in earlier] == [[kiln_2018], []]
    earlier = read(database, lineage.thread, "tip-2019-khm/victim-identification", as_of=at("2023-01-01"))
    assert entry(earlier, "tip-2019-khm/victim-identification")["evidence_ids"] == []


# Comparing two editions -------------------------------------------------------------------


def test_catalog_diff_of_2018_and_2019(database):
    diff = read(database, lineage.catalog_diff, "tip-2018-khm", "tip-2019-khm")
    assert (diff["old"], diff["new"]) == ("tip-2018-khm", "tip-2019-khm")
    assert [(item["new"], item["old"]) for item in diff["repeated"]] == [
        (f"tip-2019-khm/{code}", [f"tip-2018-khm/{code}"])
        for code in ("undercover-techniques", "victim-identification", "labor-inspections")
    ]
    assert diff["repeated"][0]["note"] is None
    assert [(item["new"], item["old"]) for item in diff["reworded"]] == [
        ("tip-2019-khm/prosecute-convict", ["tip-2018-khm/prosecute-convict"])
    ]
    assert diff["reworded"][0]["note"].startswith("2019 adds respect for due process")
    assert diff["narrowed"] == diff["broadened"] == diff["merged"] == diff["split"] == []
    assert diff["dropped"] == diff["added"] == []
    text = terminal.catalog_diff_text(diff)
    assert text.startswith("tip-2018-khm -> tip-2019-khm\n\nrepeated (3):\n")
    assert "reworded (1):\n  tip-2019-khm/prosecute-convict  from tip-2018-khm/prosecute-convict" in text
    assert "dropped" not in text and "added" not in text and "narrowed" not in text


def test_catalog_diff_of_2019_and_2022_names_what_was_dropped_and_added(database):
    diff = read(database, lineage.catalog_diff, "tip-2019-khm", "tip-2022-khm")
    assert list(diff) == [
        "old",
        "new",
        "repeated",
        "reworded",
        "narrowed",
        "broadened",
        "merged",
        "split",
        "dropped",
        "added",
    ]
    assert [item["new"] for item in diff["reworded"]] == [
        "tip-2022-khm/prosecute-convict",
        "tip-2022-khm/victim-identification",
    ]
    assert diff["repeated"] == []
    assert diff["dropped"] == ["tip-2019-khm/undercover-techniques", "tip-2019-khm/labor-inspections"]
    assert diff["added"] == ["tip-2022-khm/law-enforcement-funding"]
    text = terminal.catalog_diff_text(diff)
    assert "dropped (2): no recommendation of tip-2022-khm continues them\n  tip-2019-khm/undercover-techniques" in text
    assert "added (1): they continue no recommendation of tip-2019-khm\n  tip-2022-khm/law-enforcement-funding" in text


def test_catalog_diff_of_2015_and_2018(database):
    diff = read(database, lineage.catalog_diff, "tip-2015-khm", "tip-2018-khm")
    assert [item["new"] for item in diff["reworded"]] == [
        "tip-2018-khm/prosecute-convict",
        "tip-2018-khm/undercover-techniques",
    ]
    assert [item["old"] for item in diff["broadened"]] == [["tip-2015-khm/victim-identification"]]
    assert diff["added"] == ["tip-2018-khm/labor-inspections"]
    assert len(diff["dropped"]) == 7 and diff["dropped"][0] == "tip-2015-khm/male-victim-services"


# Bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "args", "error", "says"),
    [
        (lineage.thread, ("tip-2019-khm/no-such-code",), NotFound, "unknown recommendation"),
        (lineage.thread, ("no-such-code",), NotFound, "unknown recommendation"),
        (lineage.catalog_diff, ("tip-2018-khm", "tip-2030-khm"), NotFound, "unknown source 'tip-2030-khm'"),
        (lineage.catalog_diff, ("tip-2019-khm", "tip-2019-khm"), InputError, "given twice"),
        (lineage.catalog_diff, ("tip-2019-khm", "tip-2018-khm"), InputError, "(tip-2018-khm tip-2019-khm)"),
    ],
    ids=["unknown-ref", "unknown-code", "unknown-source", "same-source", "reversed"],
)
def test_bad_input_is_refused_with_exit_code_2(database, query, args, error, says):
    with pytest.raises(error) as refused:
        now(database, query, *args)
    assert refused.value.exit_code == 2
    assert says in str(refused.value) and "\n" not in str(refused.value)
