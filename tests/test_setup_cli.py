"""Setup and the first read commands, through the real command line."""

from __future__ import annotations

import json

import pytest
import typer

from tracker import cli
from conftest import invoke, row_counts
from tracker.store import migrations
from tracker.store.database import SCHEMA_REVISION, Database

RECS_2019 = ["prosecute-convict", "undercover-techniques", "victim-identification", "labor-inspections"]


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_error(result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result.output
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_init_then_rec_list_shows_the_2019_recommendations(make_url_for):
    url = make_url_for("blank")
    first = invoke(["--db", url, "init"])
    assert first.exit_code == 0, first.output
    assert "tip-2019-khm" in first.stderr
    listed = invoke(["--db", url, "rec", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    recs = json.loads(listed.stdout)
    assert [r["code"] for r in recs] == RECS_2019
    assert {r["code"]: r["text_status"] for r in recs} == {
        "prosecute-convict": "verbatim",
        "undercover-techniques": "verbatim",
        "victim-identification": "paraphrase",
        "labor-inspections": "paraphrase",
    }
    assert all(r["status"] == "not_started" for r in recs)
    lead = {r["code"]: [a["code"] for a in r["agencies"] if a["role"] == "lead"] for r in recs}
    assert lead["labor-inspections"] == ["molvt"]


def test_init_twice_changes_nothing(make_url_for):
    url = make_url_for("blank")
    assert invoke(["--db", url, "init"]).exit_code == 0
    database = Database(url)
    before = row_counts(database)
    second = invoke(["--db", url, "init"])
    assert second.exit_code == 0, second.output
    assert "nothing to add" in second.stderr
    assert row_counts(database) == before
    database.dispose()


def test_init_loads_several_catalogs_and_refs_become_qualified(make_url_for):
    url = make_url_for("blank")
    result = invoke(["--db", url, "init", "--catalog", "tip-2019-khm", "--catalog", "tip-2018-khm"])
    assert result.exit_code == 0, result.output
    ambiguous = invoke(["--db", url, "rec", "show", "undercover-techniques"])
    assert_one_error(ambiguous, 2, "ambiguous", "tip-2018-khm/undercover-techniques", "tip-2019-khm/undercover-techniques")
    shown = invoke(["--db", url, "rec", "show", "tip-2018-khm/labor-inspections", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["position"] == 4
    refs = [r["ref"] for r in json.loads(invoke(["--db", url, "rec", "list", "--json"]).stdout)]
    assert "tip-2019-khm/prosecute-convict" in refs and "tip-2018-khm/prosecute-convict" in refs


def test_init_no_catalog_creates_the_schema_only(make_url_for):
    url = make_url_for("blank")
    assert invoke(["--db", url, "init", "--no-catalog"]).exit_code == 0
    assert json.loads(invoke(["--db", url, "rec", "list", "--json"]).stdout) == []


def test_rec_show_reports_text_status_note_and_owners(run):
    result = run("rec", "show", "victim-identification", "--json")
    assert result.exit_code == 0, result.output
    rec = json.loads(result.stdout)
    assert rec["ref"] == "victim-identification"
    assert rec["text_status"] == "paraphrase" and "confirmed only as far as" in rec["note"]
    assert rec["pillar"] == "protection"
    assert rec["indicators"] == ["victims-identified"]
    assert {(a["code"], a["role"]) for a in rec["agencies"]} == {("mosvy", "lead"), ("ncct", "support"), ("moi", "support")}


def test_rec_list_filters(run):
    by_pillar = json.loads(run("rec", "list", "--pillar", "prosecution", "--json").stdout)
    assert [r["code"] for r in by_pillar] == ["prosecute-convict", "undercover-techniques"]
    by_agency = json.loads(run("rec", "list", "--agency", "molvt", "--json").stdout)
    assert [r["code"] for r in by_agency] == ["labor-inspections"]
    by_status = json.loads(run("rec", "list", "--status", "implemented", "--json").stdout)
    assert by_status == []
    human = run("rec", "list")
    assert human.exit_code == 0 and "undercover-techniques" in human.stdout and "STATUS" in human.stdout
    nothing = run("rec", "list", "--status", "implemented")
    assert (nothing.exit_code, nothing.stdout) == (0, "No recommendations match these filters.\n")


def test_rec_list_on_an_empty_database_says_how_to_fill_it(make_url_for):
    result = invoke(["--db", make_url_for("empty"), "rec", "list"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("No recommendations yet: load a catalog with `tracker catalog load`")


def test_tables_show_whole_numbers_and_yes_or_no():
    from tracker.render.terminal import table

    assert table(["value", "complete"], [[12.0, True], [2.5, False]]).splitlines()[1:] == \
        ["12     yes", "2.5    no"]


def test_unknown_ref_exits_2_with_one_error_line(run):
    assert_one_error(run("rec", "show", "nosuch"), 2, "nosuch")


def test_unknown_status_filter_lists_the_allowed_statuses(run):
    assert_one_error(run("rec", "list", "--status", "done"), 2, "done", "not_started", "in_progress",
                     "partially_implemented", "implemented")


@pytest.mark.parametrize(
    "content, fragments",
    [
        ("sources:\n  - slug: x-1\n    title: T\n    publisher: P\n    country: KH\n    published_on: 2019-06-20\n"
         "    recommendations:\n      - code: a\n        title: A\n        text: X\n        pillar: bogus\n",
         ["sources[0] (x-1).recommendations[0] (a)", "'pillar'", "bogus"]),
        ("sources:\n  - slug: x-1\n    title: T\n    publisher: P\n    country: KH\n    published_on: 2019-13-01\n",
         ["sources[0] (x-1)", "'published_on'"]),
        ("sources: [1, 2", ["invalid YAML"]),
        ("agencies:\n  - code: A B\n    name: n\n", ["agencies[0]", "'code'"]),
    ],
)
def test_an_invalid_catalog_file_exits_2_naming_file_entry_field_and_loads_nothing(run, url, tmp_path, content, fragments):
    path = tmp_path / "mine.yaml"
    path.write_text(content)
    database = Database(url)
    before = row_counts(database)
    result = run("catalog", "load", str(path))
    assert_one_error(result, 2, str(path), *fragments)
    assert row_counts(database) == before
    database.dispose()


def test_a_user_catalog_loads_once_and_a_conflict_is_refused(run, url, tmp_path):
    path = tmp_path / "extra.yaml"
    body = ("agencies:\n  - code: mfa\n    name: Ministry of Foreign Affairs\n"
            "sources:\n  - slug: ngo-2020-khm\n    title: NGO shadow report\n    publisher: Coalition\n"
            "    country: KH\n    published_on: 2020-01-15\n    recommendations:\n"
            "      - code: shelter-funding\n        title: Fund shelters\n        text: Fund shelters.\n"
            "        pillar: protection\n        agencies: {lead: mosvy, support: [mfa]}\n")
    path.write_text(body)
    loaded = run("catalog", "load", str(path))
    assert loaded.exit_code == 0, loaded.output
    assert "1 source" in loaded.stderr
    again = run("catalog", "load", str(path))
    assert again.exit_code == 0 and "nothing to add" in again.stderr
    path.write_text(body.replace("Fund shelters.", "Fund more shelters."))
    database = Database(url)
    before = row_counts(database)
    assert_one_error(run("catalog", "load", str(path)), 1, "ngo-2020-khm/shelter-funding", "text")
    assert row_counts(database) == before
    database.dispose()


def test_catalog_list_names_the_built_in_catalogs():
    result = invoke(["catalog", "list", "--json"])
    assert result.exit_code == 0, result.output
    names = {row["name"] for row in json.loads(result.stdout)}
    assert names == {"tip-2015-khm", "tip-2018-khm", "tip-2019-khm", "tip-2022-khm"}
    human = invoke(["catalog", "list"]).stdout.splitlines()
    assert human[0].split()[-1] == "COMPLETE" and {line.split()[-1] for line in human[1:]} == {"yes", "no"}


def test_every_built_in_catalog_loads(make_url_for):
    url = make_url_for("empty")
    for name in ("tip-2015-khm", "tip-2018-khm", "tip-2019-khm", "tip-2022-khm"):
        result = invoke(["--db", url, "catalog", "load", name])
        assert result.exit_code == 0, result.output
    recs = json.loads(invoke(["--db", url, "rec", "list", "--source", "tip-2015-khm", "--json"]).stdout)
    assert len(recs) == 10 and recs[0]["code"] == "victim-identification"
    assert invoke(["--db", url, "verify"]).exit_code == 0


def test_a_database_one_revision_behind_must_be_upgraded(make_url_for):
    url = make_url_for("empty")
    database = Database(url)
    database.downgrade("0001")
    result = invoke(["--db", url, "rec", "list"])
    assert_one_error(result, 1, "tracker db upgrade")
    upgraded = invoke(["--db", url, "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "0001 -> 0002" in upgraded.stderr
    assert invoke(["--db", url, "rec", "list"]).exit_code == 0
    current = invoke(["--db", url, "db", "current"])
    assert current.stdout.strip() == "0002"
    database.dispose()


def test_a_missing_sqlite_database_is_not_created_by_a_read(tmp_path):
    path = tmp_path / "none.db"
    result = invoke(["--db", str(path), "rec", "list"])
    assert_one_error(result, 1, "tracker init")
    assert not path.exists()


@pytest.mark.parametrize("command_line", [["db", "upgrade"], ["db", "upgrade", "0001"], ["db", "downgrade", "base"]])
def test_db_upgrade_and_downgrade_do_not_create_a_missing_sqlite_database(tmp_path, command_line):
    path = tmp_path / "typo.db"
    result = invoke(["--db", str(path), *command_line])
    assert_one_error(result, 1, f"no tracker database at {path.as_posix()}: run `tracker init` to create one")
    assert list(tmp_path.iterdir()) == []


def test_init_does_not_create_a_missing_folder(tmp_path):
    path = tmp_path / "nodir" / "x.db"
    result = invoke(["--db", str(path), "init"])
    assert_one_error(result, 2, f"the folder {tmp_path / 'nodir'} does not exist", "create it first")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    result = invoke(["--db", str(tmp_path / "file" / "x.db"), "init"])
    assert_one_error(result, 2, f"{tmp_path / 'file'} is not a folder")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_init_creates_a_new_database_in_a_folder_that_exists(tmp_path):
    path = tmp_path / "new.db"
    result = invoke(["--db", str(path), "init", "--no-catalog"])
    assert result.exit_code == 0, result.output
    assert f"Created the tracker schema (revision {SCHEMA_REVISION})" in result.stderr
    assert invoke(["--db", str(path), "db", "current"]).stdout == f"{SCHEMA_REVISION}\n"


def test_what_to_run_before_a_database_can_be_used(tmp_path, sqlite_templates):
    """``db current`` and every other command say the same: init where there is no schema yet."""
    missing = Database(str(tmp_path / "none.db"))
    assert missing.schema_problem(None) == (
        f"no tracker database at {missing.display}: run `tracker init` to create one, or pass --db")
    (tmp_path / "blank.db").write_bytes(b"")
    blank = Database(str(tmp_path / "blank.db"))
    assert blank.schema_problem(None) == f"{blank.display} has no tracker schema: run `tracker init` to create it"
    current = Database(str(sqlite_templates["empty"]))
    assert current.schema_problem(SCHEMA_REVISION) is None
    assert current.schema_problem("0001").endswith(f"this tracker needs {SCHEMA_REVISION}: run `tracker db upgrade`")
    assert_one_error(invoke(["--db", blank.display, "rec", "list"]), 1, "has no tracker schema: run `tracker init`")


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


def _all_commands():
    group = typer.main.get_command(cli.app)
    stack = [((), group)]
    while stack:
        path, command = stack.pop()
        for name, sub in getattr(command, "commands", {}).items():
            stack.append(((*path, name), sub))
        if path:
            yield path, command


@pytest.mark.parametrize("path, command", list(_all_commands()), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_has_help(path, command):
    assert (command.help or "").strip(), f"tracker {' '.join(path)} has no help text"
    result = invoke([*path, "--help"])
    assert result.exit_code == 0, result.output
    # every argument and option that takes a value is named in capitals (REF, QUARTER...) or by its choices
    for param in command.params:
        if not getattr(param, "is_flag", False) and param.name != "help":
            assert param.metavar and (param.metavar.isupper() or "|" in param.metavar), \
                f"tracker {' '.join(path)}: {param.name} has no metavar"


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


def test_the_log_says_what_each_event_wrote():
    from tracker.render.terminal import event_rows

    assert event_rows('{"rows":{"evidence":[{"id":12}],"evidence_link":[{"evidence_id":12},{"evidence_id":12}]}}') \
        == "evidence 12, evidence_link x2"
    assert event_rows('{"rows":{"evidence_retraction":[{"id":3,"evidence_id":7}]}}') == "evidence_retraction 3 (evidence 7)"
    assert event_rows("not json") == "?"


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
