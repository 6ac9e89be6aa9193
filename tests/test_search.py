"""tracker search: the database's own index (FTS5 trigram on SQLite, pg_trgm on PostgreSQL),
kept by triggers, finds evidence, status notes and measurement notes; results show what the
records are now (corrections applied) and never what the audience may not see. SQLite and
PostgreSQL through the same library calls; the command line's wiring at the end.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tracker import clock, importing, search, services
from tracker.errors import InputError
from tracker.store import models, search_index
from tracker.store.database import SCHEMA_REVISION, Database

from conftest import add_evidence, invoke, read, template, verified, write

ACTOR = "analyst"
WRITTEN_AT = datetime(2019, 12, 1, 9, tzinfo=UTC)
KHMER_TITLE = "ការត្រួតពិនិត្យឡឥដ្ឋ"  # "the inspection of brick kilns", written without spaces


def seed(database: Database, _folder: Path) -> None:
    """Evidence of every sensitivity, one retracted, one corrected, notes, a withdrawn assessment.

    ids: 1 public inspection, 2 internal court case, 3 internal Khmer media report, 4
    confidential field observation, 5 retracted, 6 corrected title; status 1 stands, status 2 is
    withdrawn; measurement 1 has a note."""
    with clock.frozen(WRITTEN_AT):
        add_evidence(
            database,
            ["labor-inspections"],
            "MoLVT inspects 12 brick kilns in Kandal",
            "2019-08-14",
            "inspection",
            summary="Inspectors visited kilns in Kandal province",
            source_name="MoLVT press release",
            sensitivity="public",
        )
        add_evidence(
            database, ["labor-inspections"], "Owners fined", "2019-09-02", "court_case", summary="Two kiln owners fined"
        )
        add_evidence(database, ["victim-identification"], KHMER_TITLE, "2019-10-03", "media_report")
        add_evidence(
            database,
            ["labor-inspections"],
            "Interview on debt bondage at a kiln",
            "2019-08-20",
            "field_observation",
            sensitivity="confidential",
        )
        add_evidence(database, ["labor-inspections"], "Duplicate kiln report", "2019-08-21", "media_report")
        add_evidence(database, ["prosecute-convict"], "Court convicts kiln owner", "2019-11-05", "court_case")
        write(database, services.retract_evidence, 5, "Duplicate of evidence 1", actor=ACTOR)
        write(
            database,
            services.amend_evidence,
            6,
            {"title": "Court convicts factory owner in Kampong Chhnang"},
            reason="Wrong title",
            actor=ACTOR,
        )
        for ref, note in (
            ("labor-inspections", "First kiln inspections since 2017"),
            ("undercover-techniques", "Kiln law"),
        ):
            write(
                database,
                services.set_status,
                ref,
                "in_progress",
                effective_on="2019-09-30",
                note=note,
                actor=ACTOR,
            )
        write(database, services.withdraw_status, 2, "Wrong recommendation", actor=ACTOR)
        write(
            database,
            services.record_measurement,
            "kiln-inspections",
            "2019Q3",
            "12",
            note="Kilns counted by MoLVT",
            actor=ACTOR,
        )


SEEDED = template("search-seeded", seed)


def found(database: Database, words: str, **options) -> list[dict]:
    """``tracker search WORDS --json``, through the library."""
    return [hit.as_dict() for hit in read(database, search.search, search.parse(words, **options))]


def records(database: Database, words: str, **options) -> list[str]:
    return [hit["record"] for hit in found(database, words, **options)]


@pytest.fixture
def seeded(make_url_for):
    database = Database(make_url_for(SEEDED))
    yield database
    database.dispose()


# What is found ---------------------------------------------------------------------------------------


def test_every_kind_of_text_is_found_and_audience_and_retraction_leave_out(seeded):
    assert set(records(seeded, "kiln")) == {
        "evidence/1",  # summary
        "evidence/2",  # summary
        "status/1",
        "measurement/1",
    }  # not 4 (confidential), 5 (retracted), 6 (its title no longer says kiln), status 2 (withdrawn)
    assert records(seeded, "MoLVT press") == ["evidence/1"]  # title and source name
    assert records(seeded, "KANDAL province") == ["evidence/1"]  # case aside, words anywhere


def test_ranking_puts_the_title_first_and_scores_descend(make_url_for):
    database = Database(make_url_for("loaded"))
    with clock.frozen(WRITTEN_AT):
        add_evidence(
            database,
            ["labor-inspections"],
            "Provincial report",
            "2019-08-01",
            "ngo_report",
            summary="A long account of labour conditions in several provinces, which mentions a kiln once among "
            "many other workplaces: plantations, fisheries, garment factories and construction sites.",
        )
        add_evidence(database, ["labor-inspections"], "Kiln inspections", "2019-08-02", "inspection")
    hits = found(database, "kiln")
    database.dispose()
    assert [hit["id"] for hit in hits] == [2, 1]
    assert hits[0]["score"] > hits[1]["score"]


def test_the_fragment_is_the_matching_text_with_its_matches(seeded):
    (hit,) = found(seeded, "visited kandal")
    assert hit["field"] == "summary"
    assert hit["fragment"] == "Inspectors visited kilns in Kandal province"
    assert [hit["fragment"][a:b] for a, b in hit["highlights"]] == ["visited", "Kandal"]
    assert set(hit) >= {"kind", "record", "id", "refs", "date", "title", "fragment", "score"}
    assert (hit["kind"], hit["refs"], hit["date"], hit["sensitivity"]) == (
        "inspection",
        ["labor-inspections"],
        "2019-08-14",
        "public",
    )
    long = search.fragment_of("word " * 40 + "kiln" + " word" * 40, search.pattern_of(["kiln"]))
    assert long[0].startswith("…") and long[0].endswith("…") and len(long[0]) <= search.FRAGMENT_WIDTH + 2
    assert [long[0][a:b] for a, b in long[1]] == ["kiln"]


def test_a_khmer_substring_is_found_in_text_written_without_spaces(seeded):
    (hit,) = found(seeded, "ត្រួតពិនិត្យ")
    assert (hit["record"], hit["title"]) == ("evidence/3", KHMER_TITLE)
    assert [hit["fragment"][a:b] for a, b in hit["highlights"]] == ["ត្រួតពិនិត្យ"]


def test_a_corrected_title_is_found_and_shown_corrected(seeded):
    (hit,) = found(seeded, "Chhnang")
    assert (hit["record"], hit["title"]) == ("evidence/6", "Court convicts factory owner in Kampong Chhnang")
    assert records(seeded, "convicts kiln") == []  # what it no longer says
    write(seeded, services.amend_evidence, 6, {"summary": "Kampot court, second kiln case"}, reason="Add", actor=ACTOR)
    assert found(seeded, "kiln kampot")[0]["fragment"] == "Kampot court, second kiln case"
    assert found(seeded, "Chhnang")[0]["title"].endswith("Chhnang")  # the title's correction still holds


# Filters -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"kind": "inspection"}, ["evidence/1"]),
        ({"kind": "evidence"}, ["evidence/1", "evidence/2"]),
        ({"kind": "status"}, ["status/1"]),
        ({"kind": "measurement"}, ["measurement/1"]),
        ({"rec": "labor-inspections"}, ["evidence/1", "evidence/2", "status/1", "measurement/1"]),
        ({"rec": "prosecute-convict"}, []),
        ({"quarter": "2019Q3", "kind": "evidence"}, ["evidence/1", "evidence/2"]),
        ({"quarter": "2019Q4"}, []),
        ({"since": "2019-09-01", "until": "2019-09-30"}, ["evidence/2", "status/1"]),
        ({"since": "2019-09-03"}, ["status/1"]),
        ({"until": "2019-08-14", "kind": "evidence"}, ["evidence/1"]),
        ({"audience": "public"}, ["evidence/1", "status/1", "measurement/1"]),  # notes have no sensitivity
        ({"audience": "confidential", "kind": "field_observation"}, ["evidence/4"]),
        ({"include_retracted": True, "kind": "media_report"}, ["evidence/5"]),
        ({"include_retracted": True, "kind": "status"}, ["status/1", "status/2"]),
    ],
)
def test_each_filter(seeded, options, expected):
    assert sorted(records(seeded, "kiln", **options)) == sorted(expected)


def test_retracted_and_withdrawn_are_marked_when_included(seeded):
    hits = {hit["record"]: hit for hit in found(seeded, "kiln", include_retracted=True)}
    assert hits["evidence/5"]["retracted"] and hits["status/2"]["retracted"]
    assert not hits["evidence/1"]["retracted"] and not hits["status/1"]["retracted"]


def test_limit_keeps_the_best(seeded):
    every = records(seeded, "kiln")
    assert records(seeded, "kiln", limit="1") == every[:1]
    assert records(seeded, "kiln", limit=2) == every[:2]


def test_candidates_the_audience_may_not_see_do_not_crowd_out_the_rest(make_url_for):
    """The best matches are all confidential: the first window of candidates holds none the
    audience may see, and the search goes on, narrowed by the stored sensitivity."""
    database = Database(make_url_for("loaded"))
    with clock.frozen(WRITTEN_AT):
        for n in range(30):
            add_evidence(
                database, ["labor-inspections"], f"Kiln {n}", "2019-08-01", "inspection", sensitivity="confidential"
            )
        add_evidence(database, ["labor-inspections"], "Shown", "2019-08-02", "other", summary="x " * 200 + "kiln")
        write(database, services.retract_evidence, 2, "Withdrawn by its source", actor=ACTOR)
    assert records(database, "kiln", limit=1) == ["evidence/31"]
    assert len(records(database, "kiln", audience="confidential", limit=50)) == 30
    assert len(records(database, "kiln", audience="confidential", include_retracted=True, limit=50)) == 31
    database.dispose()


def test_a_short_word_is_matched_beside_a_longer_one(seeded):
    assert records(seeded, "12 kilns") == ["evidence/1"]
    assert records(seeded, "zz kilns") == []


def test_filters_read_the_corrected_values(seeded):
    changes = {"kind": "inspection", "observed_on": "2019-11-30", "sensitivity": "public"}
    write(seeded, services.amend_evidence, 2, changes, reason="Mistyped", actor=ACTOR)
    assert "evidence/2" in records(seeded, "kiln", kind="inspection", quarter="2019Q4", audience="public")
    assert "evidence/2" not in records(seeded, "kiln", kind="court_case")
    assert "evidence/2" not in records(seeded, "kiln", quarter="2019Q3")
    write(
        seeded, services.amend_evidence, 2, {}, links=[("undercover-techniques", "context")], reason="Also", actor=ACTOR
    )
    write(seeded, services.amend_evidence, 2, {}, unlinks=["labor-inspections"], reason="Not this one", actor=ACTOR)
    assert "evidence/2" in records(seeded, "kiln", rec="undercover-techniques")
    assert "evidence/2" not in records(seeded, "kiln", rec="labor-inspections")


def test_evidence_above_the_audience_never_appears_by_its_corrected_sensitivity(seeded):
    write(seeded, services.amend_evidence, 1, {"sensitivity": "confidential"}, reason="A victim named", actor=ACTOR)
    assert "evidence/1" not in records(seeded, "kiln")
    assert "evidence/1" not in records(seeded, "kiln", audience="public")
    assert "evidence/1" in records(seeded, "kiln", audience="confidential")
    write(seeded, services.amend_evidence, 4, {"sensitivity": "public"}, reason="Cleared", actor=ACTOR)
    assert "evidence/4" in records(seeded, "bondage", audience="public")


def test_a_sensitivity_raised_by_a_correction_known_later_withholds_now(make_url_for, backend):
    if backend == "postgres":
        pytest.skip("PostgreSQL refuses a clock ahead of its server's: a correction cannot be stamped later")
    database = Database(make_url_for(SEEDED))
    with clock.frozen(datetime.now(UTC) + timedelta(days=365)):
        write(database, services.amend_evidence, 1, {"sensitivity": "confidential"}, reason="Raised", actor=ACTOR)
    assert "evidence/1" in records(database, "kiln", audience="confidential")
    assert "evidence/1" not in records(database, "kiln")  # as the reports of now judge it
    database.dispose()


# Bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "words, options, fragment",
    [
        ("", {}, "the search text is empty"),
        ("   ", {}, "the search text is empty"),
        ("ab", {}, "no word of 3 or more characters"),
        ("ab 12", {}, "no word of 3 or more characters"),
        ("kiln\x07", {}, "control character"),
        ("kiln", {"kind": "report"}, "unknown --kind 'report'"),
        ("kiln", {"kind": ""}, "--kind is empty"),
        ("kiln", {"rec": " "}, "--rec is empty"),
        ("kiln", {"audience": "everyone"}, "unknown --audience 'everyone'"),
        ("kiln", {"quarter": "2019Q5"}, "2019Q5"),
        ("kiln", {"quarter": "2019Q3", "since": "2019-07-01"}, "--quarter cannot be combined"),
        ("kiln", {"since": "2019-13-01"}, "invalid --from"),
        ("kiln", {"since": "2019-09-02", "until": "2019-09-01"}, "--to '2019-09-01' is before --from"),
        ("kiln", {"limit": "0"}, "invalid --limit '0'"),
        ("kiln", {"limit": "1_000"}, "invalid --limit '1_000'"),
    ],
)
def test_bad_input_is_refused_before_anything_is_read(words, options, fragment):
    with pytest.raises(InputError) as refused:
        search.parse(words, **options)
    assert refused.value.exit_code == 2 and fragment in str(refused.value) and "\n" not in str(refused.value)


def test_an_unknown_rec_is_refused(seeded):
    with pytest.raises(InputError) as refused:
        found(seeded, "kiln", rec="no-such-rec")
    assert refused.value.exit_code == 2


# The index: kept by the database, derived, rebuilt by its migration ---------------------------------------------


def test_the_index_is_derived_data_not_a_domain_table():
    assert search_index.TABLE not in models.TRAITS
    assert not search_index.table_names() & {table.name for table in importing.EXPORT_TABLES}
    assert not search_index.table_names() & set(models.Base.metadata.tables)


def test_a_bulk_import_fills_the_index_through_the_triggers(make_url_for, tmp_path):
    database = Database(make_url_for("loaded"))
    path = tmp_path / "evidence.csv"
    rows = [f"labor-inspections,Imported kiln report {n},2019-08-{n + 1:02d},inspection,Batch {n}" for n in range(5)]
    path.write_text("rec,title,date,kind,summary\n" + "\n".join(rows) + "\nvictim-identification,x,2019-08-09,law,\n")
    with clock.frozen(WRITTEN_AT):
        importing.import_file(database, path, actor=ACTOR)
    assert len(found(database, "imported kiln")) == 5
    assert records(database, "Batch 3") == ["evidence/4"]
    database.dispose()


def test_upgrading_a_populated_database_to_0006_builds_the_index(seeded):
    assert seeded.downgrade("0005") == (SCHEMA_REVISION, "0005")
    tables = _tables(seeded)
    assert not tables & search_index.table_names(), "the downgrade dropped the index"
    assert seeded.upgrade(backup=False)[:2] == ("0005", SCHEMA_REVISION)
    assert set(records(seeded, "kiln")) == {"evidence/1", "evidence/2", "status/1", "measurement/1"}
    assert records(seeded, "Chhnang") == ["evidence/6"], "the corrections recorded before are applied"
    assert records(seeded, "ត្រួតពិនិត្យ") == ["evidence/3"]
    assert verified(seeded).ok
    write(seeded, services.amend_evidence, 3, {"title": "Brick kiln inspection"}, reason="In English", actor=ACTOR)
    assert "evidence/3" in records(seeded, "kiln inspection"), "the triggers keep it from then on"


def _tables(database: Database) -> set[str]:
    from sqlalchemy import inspect

    with database.engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def test_verify_stays_green_and_names_a_search_trigger_changed_or_dropped(seeded):
    assert verified(seeded).ok
    engine = create_engine(seeded.url)
    with engine.begin() as connection:
        if seeded.is_sqlite:
            connection.exec_driver_sql("DROP TRIGGER search_index_status_update")
            connection.exec_driver_sql(
                "CREATE TRIGGER search_index_status_update AFTER INSERT ON status_update BEGIN SELECT 1; END"
            )
            connection.exec_driver_sql("DROP TRIGGER search_index_measurement")
        else:
            connection.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION search_index_status_update() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RETURN NULL; END $$"
            )
            connection.exec_driver_sql("DROP TRIGGER search_index_measurement ON measurement")
    engine.dispose()
    problems = [finding.problem for finding in verified(seeded).findings]
    assert (
        "the search index's trigger 'search_index_status_update' on status_update is not the one migration 0006 made"
        in problems
    )
    assert "the search index's trigger 'search_index_measurement' on measurement is missing" in problems


def test_export_then_restore_then_search_still_finds(seeded, make_url_for, tmp_path):
    exported = tmp_path / "export.json"
    exported.write_bytes(importing.export(seeded, with_files=True))
    restored = Database(make_url_for("empty"))
    importing.import_file(restored, exported, actor=ACTOR)
    for words in ("kiln", "Chhnang", "ត្រួតពិនិត្យ"):
        assert found(restored, words, include_retracted=True) == found(seeded, words, include_retracted=True)
    assert verified(restored).ok
    restored.dispose()


# The command line --------------------------------------------------------------------------------------------


def test_the_command_prints_a_table_with_the_matches_marked_and_json(make_url_for):
    url = make_url_for(SEEDED)
    result = invoke(["--db", url, "search", "visited kandal"])
    assert result.exit_code == 0 and result.stderr == "", result.output
    header, row = result.stdout.splitlines()
    assert header.split() == ["RECORD", "KIND", "DATE", "REFS", "TITLE", "MATCH"]
    assert row.startswith("evidence/1") and row.endswith("Inspectors [visited] kilns in [Kandal] province")
    assert "\x1b" not in result.stdout  # not a terminal: plain text
    result = invoke(["--db", url, "search", "kiln", "--kind", "status", "--json"])
    assert result.exit_code == 0 and result.stderr == "", result.output
    (hit,) = json.loads(result.stdout)
    assert (hit["kind"], hit["record"], hit["refs"], hit["title"]) == (
        "status",
        "status/1",
        ["labor-inspections"],
        "in_progress",
    )
    result = invoke(["--db", url, "search", "nothing-like-this"])
    assert (result.exit_code, result.stdout) == (0, "Nothing matches.\n")


def test_the_search_results_mark_matches_for_a_terminal():
    from tracker.render.terminal import search_results

    rows = [
        {
            "record": "evidence/1",
            "kind": "inspection",
            "date": "2019-08-14",
            "refs": ["labor-inspections"],
            "title": "Kilns",
            "fragment": "Kilns [sic] in Kandal",
            "highlights": [[0, 5]],
            "retracted": False,
        }
    ]
    assert search_results(rows).endswith("[Kilns] [sic] in Kandal")
    assert search_results(rows, mark=lambda s: f"<b>{s}</b>").endswith("<b>Kilns</b> [sic] in Kandal")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["search", ""], "the search text is empty"),
        (["search", "ab"], "no word of 3 or more characters"),
        (["search", "kiln", "--kind", "report"], "unknown --kind"),
        (["search", "kiln", "--rec", "nowhere"], "nowhere"),
        (["search", "kiln", "--limit", "x"], "invalid --limit"),
        (["search", "kiln", "--quarter", "2019Q3", "--to", "2019-09-30"], "--quarter cannot be combined"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(make_url_for, args, fragment):
    result = invoke(["--db", make_url_for(SEEDED), *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    assert fragment in result.stderr, result.stderr


def test_search_reads_only(make_url_for):
    url = make_url_for(SEEDED)
    engine = create_engine(Database(url).url)
    with engine.connect() as connection:
        before = connection.execute(text("SELECT count(*) FROM event")).scalar()
    assert invoke(["--db", url, "search", "kiln", "--json"]).exit_code == 0
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM event")).scalar() == before
    engine.dispose()
