"""``catalog load`` of an edited catalog file: its differences are refused, every one named, or
recorded as corrections with ``--apply-corrections --reason TEXT``.

The edited file is the built-in tip-2019-khm with four changes, each in another record: a
due date, an indicator's target, a title and an agency's role. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tracker import catalogs, operations, services
from tracker.errors import Conflict, InputError
from tracker.store.database import Database
from tracker.vocab import Role

from conftest import read, row_counts, verified, write

REASON = "The 2019 report, re-read"
OLD_TITLE = "Authorize undercover investigative techniques"
NEW_TITLE = "Authorize undercover investigation techniques"
DIFFERENCES = [
    "assignment moj on tip-2019-khm/prosecute-convict role lead -> support",
    f"rec tip-2019-khm/undercover-techniques title {OLD_TITLE} -> {NEW_TITLE}",
    "rec tip-2019-khm/labor-inspections due_on (none) -> 2020-06-30",
    "indicator kiln-inspections target (none) -> 120",
]
BUILT_IN = catalogs.builtin_path(catalogs.DEFAULT).read_text()


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def edited(folder: Path, *, source_rating: str | None = None, extra: str = "") -> Path:
    """The built-in catalog with the four changes (and, if given, a source's rating changed
    and ``extra`` recommendations added at the end)."""
    text = edit(
        BUILT_IN, "      lead: moj\n      support:\n      - moi\n", "      support:\n      - moi\n      - moj\n"
    )
    text = edit(text, f"title: {OLD_TITLE}\n", f"title: {NEW_TITLE}\n")
    text = edit(text, "  - code: labor-inspections\n", "  - code: labor-inspections\n    due_on: 2020-06-30\n")
    text = edit(
        text,
        "      unit: inspections\n      direction: up\n",
        "      unit: inspections\n      direction: up\n      target: 120\n",
    )
    if source_rating is not None:
        text = edit(text, "rating: Tier 2 Watch List\n", f"rating: {source_rating}\n")
    path = folder / "tip-2019-khm-edited.yaml"
    path.write_text(text + extra)
    return path


NEW_REC = (
    "  - code: shelter-funding\n"
    "    title: Fund shelters\n"
    "    text: Fund shelters for victims.\n"
    "    pillar: protection\n"
    "    agencies:\n"
    "      lead: {lead}\n"
)


def one_error(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def load(database: Database, path: Path, **options) -> operations.CatalogLoad:
    return write(database, operations.load_catalog, catalogs.read(str(path)), "analyst", **options)


# The library -------------------------------------------------------------------------------------


def test_the_differences_are_every_differing_field_now_and_which_a_correction_can_make(database, tmp_path):
    found = read(database, catalogs.differences, catalogs.read(str(edited(tmp_path, source_rating="Tier 3"))))
    assert [difference.describe() for difference in found] == [
        "source tip-2019-khm rating Tier 2 Watch List -> Tier 3",
        *DIFFERENCES,
    ]
    assert [difference.correctable for difference in found] == [False, True, True, True, True]
    assert read(database, catalogs.differences, catalogs.read(catalogs.DEFAULT)) == []


def test_without_apply_corrections_the_catalog_is_refused_and_nothing_written(database, tmp_path):
    before = row_counts(database)
    with pytest.raises(Conflict) as refused:
        load(database, edited(tmp_path))
    assert refused.value.exit_code == 1
    assert str(refused.value) == (
        f"catalog {edited(tmp_path)} differs from what is stored: {'; '.join(DIFFERENCES)}: "
        "record them as corrections with --apply-corrections --reason TEXT"
    )
    assert row_counts(database) == before


def test_applied_they_are_corrections_and_loading_again_changes_nothing(database, tmp_path):
    path = edited(tmp_path)
    done = load(database, path, apply_corrections=True, reason=REASON)
    assert done.describe() == [
        f"Catalog {path.name}: already loaded, nothing to add",
        "Recorded 4 corrections:",
        "moj on tip-2019-khm/prosecute-convict: role lead -> support",
        f"rec tip-2019-khm/undercover-techniques: title {OLD_TITLE} -> {NEW_TITLE}",
        "rec tip-2019-khm/labor-inspections: due_on (none) -> 2020-06-30",
        "indicator kiln-inspections: target (none) -> 120",
    ]
    assert row_counts(database)["correction"] == 4
    assert read(database, catalogs.differences, catalogs.read(str(path))) == []
    before = row_counts(database)
    assert load(database, path, apply_corrections=True, reason=REASON).describe()[1:] == [
        "No corrections were needed: the catalog agrees with what is stored"
    ]
    assert load(database, path).describe() == [f"Catalog {path.name}: already loaded, nothing to add"]
    # The file the records were first loaded from says what the corrections superseded: it loads.
    assert (
        operations.init(database, None, actor="analyst")[-1] == "Catalog tip-2019-khm: already loaded, nothing to add"
    )
    assert row_counts(database) == before
    assert verified(database).ok


def test_a_catalog_edited_to_match_an_earlier_correction_is_no_conflict(database, tmp_path):
    write(
        database,
        services.amend_recommendation,
        "labor-inspections",
        due_on=date(2020, 6, 30),
        reason="Due date from the action plan",
        actor="analyst",
    )
    found = read(database, catalogs.differences, catalogs.read(str(edited(tmp_path))))
    assert [difference.describe() for difference in found] == [d for d in DIFFERENCES if "due_on" not in d]


def test_new_entries_and_corrections_are_one_transaction(database, tmp_path):
    before = row_counts(database)
    with pytest.raises(InputError, match="agency 'nobody' is neither"):
        load(database, edited(tmp_path, extra=NEW_REC.format(lead="nobody")), apply_corrections=True, reason=REASON)
    assert row_counts(database) == before
    done = load(database, edited(tmp_path, extra=NEW_REC.format(lead="mosvy")), apply_corrections=True, reason=REASON)
    assert done.describe()[:2] == [
        "Catalog tip-2019-khm-edited.yaml: added 1 recommendation, 1 agency assignment",
        "Recorded 4 corrections:",
    ]


def test_a_lead_and_a_support_swapped_are_two_corrections_and_no_second_lead(database, tmp_path):
    path = tmp_path / "swapped.yaml"
    path.write_text(
        edit(
            BUILT_IN, "      lead: moj\n      support:\n      - moi\n", "      lead: moi\n      support:\n      - moj\n"
        )
    )
    changes = load(database, path, apply_corrections=True, reason=REASON).corrections
    assert changes is not None
    assert [(change.record, change.old, change.new) for change in changes] == [
        ("moj on tip-2019-khm/prosecute-convict", Role.LEAD, Role.SUPPORT),
        ("moi on tip-2019-khm/prosecute-convict", Role.SUPPORT, Role.LEAD),
    ]


def test_what_a_correction_cannot_change_is_still_refused_naming_it(database, tmp_path):
    path = edited(tmp_path, source_rating="Tier 3")
    before = row_counts(database)
    with pytest.raises(Conflict) as applying:
        load(database, path, apply_corrections=True, reason=REASON)
    assert str(applying.value) == (
        f"catalog {path} differs from what is stored in what a correction cannot change: "
        "source tip-2019-khm rating Tier 2 Watch List -> Tier 3: "
        "nothing was written (give the entry a new code, or correct the file)"
    )
    with pytest.raises(Conflict) as refused:
        load(database, path)
    assert "source tip-2019-khm rating Tier 2 Watch List -> Tier 3 (not correctable); assignment moj" in str(
        refused.value
    )
    assert "record the others as corrections with --apply-corrections --reason TEXT" in str(refused.value)
    moved = tmp_path / "moved.yaml"
    moved.write_text(edit(BUILT_IN, "    - code: kiln-inspections\n", "    - code: victims-identified\n"))
    with pytest.raises(
        Conflict, match="indicator victims-identified recommendation tip-2019-khm/victim-identification"
    ):
        load(database, moved, apply_corrections=True, reason=REASON)
    assert row_counts(database) == before


@pytest.mark.parametrize(
    "options, message",
    [
        ({"reason": REASON}, "--reason goes with --apply-corrections"),
        ({"apply_corrections": True}, "--apply-corrections needs --reason TEXT"),
        ({"apply_corrections": True, "reason": " "}, "--reason is required"),
    ],
)
def test_reason_and_apply_corrections_go_together(database, tmp_path, options, message):
    before = row_counts(database)
    with pytest.raises(InputError, match=message) as refused:
        load(database, edited(tmp_path), **options)
    assert refused.value.exit_code == 2
    assert row_counts(database) == before


# The command line ----------------------------------------------------------------------------------


def test_catalog_load_refuses_then_records_and_the_reads_show_the_new_values(run, database, tmp_path):
    path = edited(tmp_path)
    before = row_counts(database)
    error = one_error(run("catalog", "load", str(path)), 1)
    assert all(difference in error for difference in DIFFERENCES)
    assert error.endswith(": record them as corrections with --apply-corrections --reason TEXT")
    assert "--apply-corrections needs --reason" in one_error(
        run("catalog", "load", str(path), "--apply-corrections"), 2
    )
    assert "--reason goes with" in one_error(run("catalog", "load", str(path), "--reason", REASON), 2)
    assert row_counts(database) == before

    done = run("catalog", "load", str(path), "--apply-corrections", "--reason", REASON, "--by", "analyst")
    assert done.exit_code == 0, done.output
    assert done.stdout == ""
    assert "Recorded 4 corrections:" in done.stderr

    labor = json.loads(run("rec", "show", "labor-inspections", "--json").stdout)
    assert labor["due_on"] == "2020-06-30"
    prosecute = json.loads(run("rec", "show", "prosecute-convict", "--json").stdout)
    assert {a["code"]: a["role"] for a in prosecute["agencies"]} == {"moj": "support", "moi": "support"}
    assert json.loads(run("rec", "show", "undercover-techniques", "--json").stdout)["title"] == NEW_TITLE
    assert "target     120" in run("indicator", "show", "kiln-inspections").stdout
    history = json.loads(run("history", "rec/undercover-techniques", "--json").stdout)["versions"]
    assert [version["values"]["title"] for version in history] == [OLD_TITLE, NEW_TITLE]
    assert history[1]["reason"] == REASON and history[1]["recorded_by"] == "analyst"
    assert run("verify").exit_code == 0

    after = row_counts(database)
    again = run("catalog", "load", str(path), "--apply-corrections", "--reason", REASON)
    assert again.exit_code == 0, again.output
    assert "No corrections were needed" in again.stderr
    assert run("catalog", "load", str(path)).exit_code == 0
    assert row_counts(database) == after


def test_catalog_load_of_a_changed_source_exits_1_naming_it(run, database, tmp_path):
    path = edited(tmp_path, source_rating="Tier 3")
    before = row_counts(database)
    for options in ([], ["--apply-corrections", "--reason", REASON]):
        error = one_error(run("catalog", "load", str(path), *options), 1)
        assert "source tip-2019-khm rating Tier 2 Watch List -> Tier 3" in error
    assert row_counts(database) == before


def test_an_agency_named_twice_for_one_recommendation_is_refused(database, tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(BUILT_IN + NEW_REC.format(lead="mosvy") + "      support: [mosvy]\n")
    with pytest.raises(InputError, match="agency 'mosvy' is named twice: give it once, as lead or support"):
        load(database, path)
