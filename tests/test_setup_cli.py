"""Setup and the first reads: init, catalogs, schema revisions; then the command line's wiring.

What setup does is asserted through the library (``tracker.operations``, ``tracker.catalogs``,
``tracker.queries``, the ``Database``); the command line tests below check help, exit codes,
stdout against stderr and the one ``Error:`` line.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from tracker import catalogs, cli, operations, queries
from tracker.errors import Conflict, DatabaseUnavailable, InputError, SchemaOutOfDate
from tracker.render.terminal import recommendation_table
from tracker.store.database import SCHEMA_REVISION, Database
from tracker.vocab import Pillar, Status

from conftest import cli_commands, invoke, read, row_counts, verified, write

RECS_2019 = ["prosecute-convict", "undercover-techniques", "victim-identification", "labor-inspections"]


@pytest.fixture
def blank(make_url_for):
    """A database with nothing in it, not even the schema."""
    database = Database(make_url_for("blank"))
    yield database
    database.dispose()


def init(database: Database, *names: str) -> str:
    """``tracker init [--catalog NAME]...``: what it reports, one line each."""
    return "\n".join(operations.init(database, list(names) if names else None, actor="tester"))


def recs(database: Database, **filters) -> list[dict]:
    return [view.as_dict() for view in read(database, queries.recommendations, **filters)]


# Setup, through the library ---------------------------------------------------------------------


def test_init_then_rec_list_shows_the_2019_recommendations(blank):
    assert "tip-2019-khm" in init(blank)
    listed = recs(blank)
    assert [r["code"] for r in listed] == RECS_2019
    assert {r["code"]: r["text_status"] for r in listed} == {
        "prosecute-convict": "verbatim",
        "undercover-techniques": "verbatim",
        "victim-identification": "paraphrase",
        "labor-inspections": "paraphrase",
    }
    assert all(r["status"] == "not_started" for r in listed)
    lead = {r["code"]: [a["code"] for a in r["agencies"] if a["role"] == "lead"] for r in listed}
    assert lead["labor-inspections"] == ["molvt"]


def test_init_twice_changes_nothing(blank):
    init(blank)
    before = row_counts(blank)
    assert "nothing to add" in init(blank)
    assert row_counts(blank) == before


def test_init_loads_several_editions_and_a_short_ref_names_the_edition_in_force(blank):
    init(blank, "tip-2019-khm", "tip-2018-khm")
    assert read(blank, queries.recommendation, "undercover-techniques").ref == "tip-2019-khm/undercover-techniques"
    on_2018 = read(blank, lambda s: queries.resolve_ref(s, "undercover-techniques", date(2018, 8, 1)).id)
    assert on_2018 == read(blank, queries.recommendation, "tip-2018-khm/undercover-techniques").id
    assert read(blank, queries.recommendation, "tip-2018-khm/labor-inspections").position == 4
    refs = [r["ref"] for r in recs(blank)]
    assert "tip-2019-khm/prosecute-convict" in refs and "tip-2018-khm/prosecute-convict" in refs


def test_init_no_catalog_creates_the_schema_only(blank):
    operations.init(blank, [], actor="tester")
    assert recs(blank) == []


def test_rec_show_reports_text_status_note_and_owners(database):
    rec = read(database, queries.recommendation, "victim-identification").as_dict()
    assert rec["ref"] == "victim-identification"
    assert rec["text_status"] == "paraphrase" and "confirmed only as far as" in rec["note"]
    assert rec["pillar"] == "protection"
    assert rec["indicators"] == ["victims-identified"]
    assert {(a["code"], a["role"]) for a in rec["agencies"]} == {
        ("mosvy", "lead"),
        ("ncct", "support"),
        ("moi", "support"),
    }


def test_rec_list_filters(database):
    assert [r["code"] for r in recs(database, pillar=Pillar.PROSECUTION)] == [
        "prosecute-convict",
        "undercover-techniques",
    ]
    assert [r["code"] for r in recs(database, agency="molvt")] == ["labor-inspections"]
    assert recs(database, status=Status.IMPLEMENTED) == []
    human = recommendation_table(read(database, queries.recommendations))
    assert "undercover-techniques" in human and "STATUS" in human
    nothing = read(database, queries.recommendations, status=Status.IMPLEMENTED)
    assert recommendation_table(nothing, filtered=True) == "No recommendations match these filters."


def test_rec_list_on_an_empty_database_says_how_to_fill_it(empty_url):
    database = Database(empty_url)
    listed = read(database, queries.recommendations)
    database.dispose()
    assert recommendation_table(listed).startswith("No recommendations yet: load a catalog with `tracker catalog load`")


def test_tables_show_whole_numbers_and_yes_or_no():
    from tracker.render.terminal import table

    assert table(["value", "complete"], [[12.0, True], [2.5, False]]).splitlines()[1:] == ["12     yes", "2.5    no"]


def test_a_user_catalog_loads_once_and_a_conflict_is_refused(database, tmp_path):
    path = tmp_path / "extra.yaml"
    body = (
        "agencies:\n  - code: mfa\n    name: Ministry of Foreign Affairs\n"
        "sources:\n  - slug: ngo-2020-khm\n    title: NGO shadow report\n    publisher: Coalition\n"
        "    country: KH\n    published_on: 2020-01-15\n    recommendations:\n"
        "      - code: shelter-funding\n        title: Fund shelters\n        text: Fund shelters.\n"
        "        pillar: protection\n        agencies: {lead: mosvy, support: [mfa]}\n"
    )
    path.write_text(body)
    assert "1 source" in write(database, catalogs.load, catalogs.read(str(path)), "tester").describe()
    assert "nothing to add" in write(database, catalogs.load, catalogs.read(str(path)), "tester").describe()
    path.write_text(body.replace("Fund shelters.", "Fund more shelters."))
    before = row_counts(database)
    changed = catalogs.read(str(path))
    with pytest.raises(Conflict) as conflict:
        write(database, catalogs.load, changed, "tester")
    assert conflict.value.exit_code == 1
    assert "ngo-2020-khm/shelter-funding" in str(conflict.value) and "text" in str(conflict.value)
    assert row_counts(database) == before


def test_catalog_list_names_the_built_in_catalogs():
    names = {row["name"] for row in catalogs.describe_builtins()}
    assert names == {"tip-2015-khm", "tip-2018-khm", "tip-2019-khm", "tip-2022-khm"}
    assert {row["complete"] for row in catalogs.describe_builtins()} == {True, False}


def test_every_built_in_catalog_loads(empty_url):
    database = Database(empty_url)
    for name in ("tip-2015-khm", "tip-2018-khm", "tip-2019-khm", "tip-2022-khm"):
        write(database, catalogs.load, catalogs.read(name), "tester")
    listed = recs(database, sources=["tip-2015-khm"])
    assert len(listed) == 10 and listed[0]["code"] == "victim-identification"
    assert verified(database).ok
    database.dispose()


def test_a_database_one_revision_behind_must_be_upgraded(empty_url):
    database = Database(empty_url)
    database.downgrade("0001")
    with pytest.raises(SchemaOutOfDate) as behind:
        read(database, queries.recommendations)
    assert behind.value.exit_code == 1 and "tracker db upgrade" in str(behind.value)
    before, after, _backup = database.upgrade()
    assert (before, after) == ("0001", SCHEMA_REVISION)
    assert read(database, queries.recommendations) == []
    assert database.current_revision() == SCHEMA_REVISION
    database.dispose()


def test_a_missing_sqlite_database_is_not_created_by_a_read(tmp_path):
    path = tmp_path / "none.db"
    with pytest.raises(DatabaseUnavailable) as missing:
        read(Database(str(path)), queries.recommendations)
    assert missing.value.exit_code == 1 and "tracker init" in str(missing.value)
    assert not path.exists()


@pytest.mark.parametrize("action, revision", [("upgrade", "head"), ("upgrade", "0001"), ("downgrade", "base")])
def test_db_upgrade_and_downgrade_do_not_create_a_missing_sqlite_database(tmp_path, action, revision):
    path = tmp_path / "typo.db"
    database = Database(str(path))
    with pytest.raises(DatabaseUnavailable) as missing:
        getattr(database, action)(revision)  # as `tracker db upgrade|downgrade REVISION` calls it
    assert missing.value.exit_code == 1
    assert f"no tracker database at {path.as_posix()}: run `tracker init` to create one" in str(missing.value)
    assert list(tmp_path.iterdir()) == []


def test_init_does_not_create_a_missing_folder(tmp_path):
    with pytest.raises(InputError) as missing:
        init(Database(str(tmp_path / "nodir" / "x.db")))
    assert missing.value.exit_code == 2
    assert f"the folder {tmp_path / 'nodir'} does not exist" in str(missing.value)
    assert "create it first" in str(missing.value)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError) as not_a_folder:
        init(Database(str(tmp_path / "file" / "x.db")))
    assert not_a_folder.value.exit_code == 2 and f"{tmp_path / 'file'} is not a folder" in str(not_a_folder.value)
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_init_creates_a_new_database_in_a_folder_that_exists(tmp_path):
    database = Database(str(tmp_path / "new.db"))
    assert f"Created the tracker schema (revision {SCHEMA_REVISION})" in "\n".join(
        operations.init(database, [], actor="tester")
    )
    assert database.current_revision() == SCHEMA_REVISION
    database.dispose()


def test_what_to_run_before_a_database_can_be_used(tmp_path, sqlite_templates):
    """``db current`` and every other command say the same: init where there is no schema yet."""
    missing = Database(str(tmp_path / "none.db"))
    assert missing.schema_problem(None) == (
        f"no tracker database at {missing.display}: run `tracker init` to create one, or pass --db"
    )
    (tmp_path / "blank.db").write_bytes(b"")
    blank = Database(str(tmp_path / "blank.db"))
    assert blank.schema_problem(None) == f"{blank.display} has no tracker schema: run `tracker init` to create it"
    current = Database(str(sqlite_templates["empty"]))
    assert current.schema_problem(SCHEMA_REVISION) is None
    assert current.schema_problem("0001").endswith(f"this tracker needs {SCHEMA_REVISION}: run `tracker db upgrade`")
    with pytest.raises(SchemaOutOfDate) as no_schema:
        read(blank, queries.recommendations)
    assert no_schema.value.exit_code == 1 and "has no tracker schema: run `tracker init`" in str(no_schema.value)
    blank.dispose()


def test_the_log_says_what_each_event_wrote():
    from tracker.render.terminal import event_rows

    assert (
        event_rows('{"rows":{"evidence":[{"id":12}],"evidence_link":[{"evidence_id":12},{"evidence_id":12}]}}')
        == "evidence 12, evidence_link x2"
    )
    assert (
        event_rows('{"rows":{"evidence_retraction":[{"id":3,"evidence_id":7}]}}')
        == "evidence_retraction 3 (evidence 7)"
    )
    assert event_rows("not json") == "?"


# The command line: help, exit codes, stdout and stderr --------------------------------------------


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_error(result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result.output
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_unknown_ref_exits_2_with_one_error_line(run):
    assert_one_error(run("rec", "show", "nosuch"), 2, "nosuch")


def test_unknown_status_filter_lists_the_allowed_statuses(run):
    assert_one_error(
        run("rec", "list", "--status", "done"),
        2,
        "done",
        "not_started",
        "in_progress",
        "partially_implemented",
        "implemented",
    )


@pytest.mark.parametrize(
    "content, fragments",
    [
        (
            "sources:\n  - slug: x-1\n    title: T\n    publisher: P\n    country: KH\n    published_on: 2019-06-20\n"
            "    recommendations:\n      - code: a\n        title: A\n        text: X\n        pillar: bogus\n",
            ["sources[0] (x-1).recommendations[0] (a)", "'pillar'", "bogus"],
        ),
        (
            "sources:\n  - slug: x-1\n    title: T\n    publisher: P\n    country: KH\n    published_on: 2019-13-01\n",
            ["sources[0] (x-1)", "'published_on'"],
        ),
        ("sources: [1, 2", ["invalid YAML"]),
        ("agencies:\n  - code: A B\n    name: n\n", ["agencies[0]", "'code'"]),
    ],
)
def test_an_invalid_catalog_file_exits_2_naming_file_entry_field_and_loads_nothing(
    run, database, tmp_path, content, fragments
):
    path = tmp_path / "mine.yaml"
    path.write_text(content)
    before = row_counts(database)
    result = run("catalog", "load", str(path))
    assert_one_error(result, 2, str(path), *fragments)
    assert row_counts(database) == before


def test_a_conflicting_catalog_exits_1(run, tmp_path):
    path = tmp_path / "changed.yaml"
    path.write_text("agencies:\n  - code: molvt\n    name: Another name\n")
    assert_one_error(run("catalog", "load", str(path)), 1, "molvt")


def test_reads_before_init_or_upgrade_exit_1_saying_what_to_run(tmp_path, empty_url):
    assert_one_error(invoke(["--db", str(tmp_path / "none.db"), "rec", "list"]), 1, "tracker init")
    assert not (tmp_path / "none.db").exists()
    (tmp_path / "blank.db").write_bytes(b"")
    assert_one_error(
        invoke(["--db", str(tmp_path / "blank.db"), "rec", "list"]), 1, "has no tracker schema: run `tracker init`"
    )
    database = Database(empty_url)
    database.downgrade("0001")
    database.dispose()
    assert_one_error(invoke(["--db", empty_url, "rec", "list"]), 1, "tracker db upgrade")


@pytest.mark.parametrize("command_line", [["db", "upgrade"], ["db", "upgrade", "0001"], ["db", "downgrade", "base"]])
def test_db_upgrade_and_downgrade_of_a_missing_file_exit_1(tmp_path, command_line):
    path = tmp_path / "typo.db"
    result = invoke(["--db", str(path), *command_line])
    assert_one_error(result, 1, f"no tracker database at {path.as_posix()}: run `tracker init` to create one")
    assert list(tmp_path.iterdir()) == []


def test_database_url_from_the_environment(url):
    result = invoke(["rec", "list", "--json"], env={"TRACKER_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 4


def test_unreachable_postgres_exits_1_without_the_password():
    result = invoke(["--db", "postgresql://analyst:hunter2@127.0.0.1:1/tracker", "rec", "list"])
    assert_one_error(result, 1)
    assert "hunter2" not in result.output


def test_help_groups_the_commands():
    result = invoke(["--help"])
    assert result.exit_code == 0
    positions = [result.stdout.find(f"\n{panel}:\n") for panel in ("Setup", "Record", "Report", "Check")]
    assert all(p >= 0 for p in positions), result.stdout
    assert positions == sorted(positions), "panels appear in the order Setup, Record, Report, Check"


@pytest.mark.parametrize(
    "path, command", list(cli_commands()), ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_command_has_help(path, command):
    assert (command.help or "").strip(), f"tracker {' '.join(path)} has no help text"
    result = invoke([*path, "--help"])
    assert result.exit_code == 0, result.output
    # every argument and option that takes a value is named in capitals (REF, QUARTER...) or by its choices
    for param in command.params:
        if not getattr(param, "is_flag", False) and param.name != "help":
            assert param.metavar and (param.metavar.isupper() or "|" in param.metavar), (
                f"tracker {' '.join(path)}: {param.name} has no metavar"
            )


def test_version_needs_no_command():
    for args in (["--version"], ["--db", "/no/such/folder/x.db", "--version"]):
        result = invoke(args)
        assert (result.exit_code, result.stdout, result.stderr) == (0, f"tracker {cli.__version__}\n", ""), args


@pytest.mark.parametrize("args", [[], ["rec"], ["report"]], ids=["tracker", "tracker rec", "tracker report"])
def test_a_group_alone_prints_its_help(args):
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: tracker {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND"), result.stdout
    assert "Error" not in result.output


def test_a_negative_value_without_dashes_gets_a_hint(run):
    result = run("indicator", "record", "kiln-inspections", "2019Q3", "-5")
    assert_one_error(result, 2, "No such option: -5", "-- -5")


def test_a_report_file_gets_the_usual_permissions_and_an_export_stays_private(run, tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        assert run("report", "quarterly", "2019Q3", "-o", str(tmp_path / "report.md")).exit_code == 0
        assert run("export", "-o", str(tmp_path / "everything.json")).exit_code == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "everything.json").stat().st_mode) == 0o600


def test_db_current_before_init_says_to_run_init(tmp_path):
    path = tmp_path / "typo.db"
    result = invoke(["--db", str(path), "db", "current"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "none\n" and "run `tracker init`" in result.stderr, result.output
    assert not path.exists()
