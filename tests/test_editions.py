"""Editions and threads, as a user meets them on the command line.

Several editions of the TIP Report on Cambodia (2015, 2018, 2019, 2022) loaded side by
side: a short REF names the edition in force on the day an entry is about (else today);
loading 2018 and 2022 changes nothing for the README's 2019 commands or a 2019 CSV file;
reports cover the edition in force at the quarter's end; a new edition carries the
thread's last status over until someone assesses it; a code two series share is
ambiguous; ``rec link`` / ``rec unlink`` refuse bad input and write nothing, record good
input as links and corrections; all of it survives export and restore, and ``--as-of``
before a link gives the earlier report byte for byte.

Expectations are derived from the built-in catalogs (which edition has which code, when
each was published), not from the code under test. Every test runs on SQLite and, when
configured, PostgreSQL, through the command line in-process with the clock frozen: the
catalog of the "loaded" template was loaded on 2019-06-21, the other editions here on
2022-08-01, and the work of each test is stamped after that.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tracker import catalogs, clock, services
from tracker.store.database import Database

from conftest import Result, dump, invoke, template

ACTOR = "analyst"
README = Path(__file__).resolve().parent.parent / "README.md"
BUILTINS = ("tip-2015-khm", "tip-2018-khm", "tip-2019-khm", "tip-2022-khm")
LOADED_AT = datetime(2022, 8, 1, 9, tzinfo=UTC)  # when the template below loads 2015, 2018 and 2022
WORK_AT = datetime(2022, 9, 1, 10, tzinfo=UTC)  # when the tests start writing


# The built-in catalogs: which edition has which code, and when each was published -------------------


EDITIONS = {spec.slug: spec for name in BUILTINS for spec in catalogs.read(name).sources}


def codes_of(slug: str) -> list[str]:
    return [rec.code for rec in EDITIONS[slug].recommendations]


def named_on(code: str, day: date) -> str:
    """The edition whose recommendation a bare ``code`` names on ``day``: the latest published on
    or before it that has the code, else (the day is before them all) the earliest that has it."""
    having = sorted((s for s in EDITIONS.values() if code in codes_of(s.slug)), key=lambda s: s.published_on)
    published = [s for s in having if s.published_on <= day]
    return (published[-1] if published else having[0]).slug


def last_day(quarter: str) -> date:
    year, number = int(quarter[:4]), int(quarter[-1])
    return date(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1) - timedelta(days=1)


def in_force_at_end(quarter: str) -> str:
    """The edition a quarter's report covers by default: the latest published by its last day, else the first."""
    ordered = sorted(EDITIONS.values(), key=lambda s: s.published_on)
    published = [s for s in ordered if s.published_on <= last_day(quarter)]
    return (published[-1] if published else ordered[0]).slug


# Databases ------------------------------------------------------------------------------------------


def every_edition(database: Database, _folder: Path) -> None:
    """2015, 2018 and 2022 loaded (a minute apart) beside 2019."""
    for minute, name in enumerate(("tip-2018-khm", "tip-2015-khm", "tip-2022-khm")):
        with clock.frozen(LOADED_AT + timedelta(minutes=minute)):
            database.write(lambda session, name=name: catalogs.load(session, catalogs.read(name), ACTOR))


ALL_EDITIONS = template("editions-every-edition", every_edition)


# The command line, with the clock frozen ------------------------------------------------------------


def run(url: str, when: datetime, *args: Any) -> Result:
    with clock.frozen(when):
        return invoke(["--db", url, *args], env={"TRACKER_USER": ACTOR})


def ok(url: str, when: datetime, *args: Any) -> Result:
    result = run(url, when, *args)
    assert result.exit_code == 0, result.output
    return result


def read_json(url: str, when: datetime, *args: Any) -> Any:
    return json.loads(ok(url, when, *args).stdout)


def quarterly(url: str, when: datetime, quarter: str, *args: str, fmt: str = "json") -> Any:
    result = ok(url, when, "report", "quarterly", quarter, "--format", fmt, *args)
    return json.loads(result.stdout) if fmt == "json" else result.stdout


def refused(url: str, when: datetime, *args: Any, says: str) -> str:
    """The command exits 2 with one line, ``Error: ...`` saying ``says``, on stderr, and writes nothing."""
    before = dump(url)
    result = run(url, when, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert says in lines[0], lines[0]
    assert dump(url) == before, f"{args} wrote something"
    return lines[0]


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [row["id"] for row in rows]


def by_code(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rec["code"]: rec for rec in report["recommendations"]}


def attention(markdown: str) -> dict[str, str]:
    """The "Needs attention" list of a Markdown report: each REF's reasons."""
    section = markdown.split("## Needs attention\n", 1)[1].split("\n## ", 1)[0]
    items = {}
    for line in section.splitlines():
        if line.startswith("- **"):
            ref, _, rest = line[len("- **") :].partition("**")
            items[ref] = rest
    return items


def without_as_of(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key not in ("as_of", "fingerprint")}


# 1. A bare REF names the edition in force that has the code -------------------------------------------


def test_a_bare_ref_names_the_edition_in_force_on_the_day_that_has_the_code(make_url_for):
    url = make_url_for(ALL_EDITIONS)
    today = WORK_AT.date()
    # What the catalogs say: 2022 has no labor-inspections (2019's is the latest), it has victim-identification.
    assert "labor-inspections" not in codes_of("tip-2022-khm")
    assert named_on("labor-inspections", today) == "tip-2019-khm"
    assert named_on("victim-identification", today) == "tip-2022-khm"

    # Today: every code of every edition, rec show names the latest edition that has it.
    for code in sorted({code for slug in EDITIONS for code in codes_of(slug)}):
        shown = read_json(url, WORK_AT, "rec", "show", code, "--json")
        expected = named_on(code, today)
        assert (shown["source"], shown["code"]) == (expected, code)
        having = sum(code in codes_of(slug) for slug in EDITIONS)
        assert shown["ref"] == (f"{expected}/{code}" if having > 1 else code)

    # An assessment goes to the edition in force on its --on day (the earliest if before them all).
    days = [
        ("labor-inspections", "2019-08-01"),
        ("victim-identification", "2018-08-01"),
        ("labor-inspections", "2019-06-19"),  # the day before 2019 was published: 2018's
        ("labor-inspections", "2019-06-20"),  # the day it was published: 2019's
        ("labor-inspections", "2022-08-01"),  # 2022 has none: still 2019's
        ("victim-identification", "2022-07-19"),
        ("victim-identification", "2015-01-05"),  # before every edition: the earliest, 2015
        ("labor-inspections", "2015-01-05"),  # the earliest that has it: 2018
    ]
    assert named_on("labor-inspections", date(2019, 8, 1)) == "tip-2019-khm"
    assert named_on("victim-identification", date(2018, 8, 1)) == "tip-2018-khm"
    targeted: dict[str, list[int]] = {}
    for minute, (code, day) in enumerate(days):
        result = ok(
            url, WORK_AT + timedelta(minutes=minute), "status", "set", code, "in_progress", "--on", day, "--note", "..."
        )
        expected = f"{named_on(code, date.fromisoformat(day))}/{code}"
        targeted.setdefault(expected, []).append(int(result.stdout))
    for code in ("labor-inspections", "victim-identification"):
        for slug in EDITIONS:
            if code in codes_of(slug):
                ref = f"{slug}/{code}"
                history = read_json(url, WORK_AT + timedelta(hours=1), "status", "history", ref, "--json")
                assert sorted(ids(history)) == sorted(targeted.get(ref, [])), ref

    # Evidence goes to the edition in force on its --date.
    evidence = read_json(
        url,
        WORK_AT + timedelta(hours=2),
        "evidence",
        "add",
        "--rec",
        "victim-identification",
        "--rec",
        "labor-inspections",
        "--title",
        "Kiln inspections and screening",
        "--date",
        "2018-09-01",
        "--kind",
        "inspection",
        "--json",
    )
    assert [link["ref"] for link in evidence["recommendations"]] == [
        "tip-2018-khm/victim-identification",
        "tip-2018-khm/labor-inspections",
    ]


# 2. Loading 2018 and 2022 changes nothing for the work of 2019 ------------------------------------------


def readme_day_of_work() -> list[tuple[list[str], list[str]]]:
    """The README's "A day of work" commands (without ``tracker``), each with the output it shows."""
    text = README.read_text()
    block = text.split("A day of work looks like this:", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[list[str], list[str]]] = []
    for line in block.replace("\\\n", " ").splitlines():
        if line.startswith("$ "):
            words = shlex.split(line[2:])
            assert words[0] == "tracker", line
            steps.append((words[1:], []))
        elif line.strip():
            steps[-1][1].append(line)
    return steps


def two_databases(make_url_for) -> tuple[str, str]:
    """A database with 2019 only, and one where a user then loaded 2018 and 2022."""
    only_2019, more = make_url_for("loaded"), make_url_for("loaded")
    for minute, name in enumerate(("tip-2018-khm", "tip-2022-khm")):
        ok(more, LOADED_AT + timedelta(minutes=minute), "catalog", "load", name)
    return only_2019, more


WORK_TABLES = (
    "evidence",
    "evidence_link",
    "attachment",
    "evidence_attachment",
    "status_update",
    "status_update_evidence",
    "measurement",
    "import_batch",
)


def work(url: str) -> dict[str, list[tuple]]:
    """What was recorded about the work itself (not the catalogs, not the chain's hashes)."""
    rows = dump(url)
    return {table: rows[table] for table in WORK_TABLES}


def test_the_readme_day_of_work_gives_the_same_2019_results_with_2018_and_2022_loaded(
    make_url_for, tmp_path, monkeypatch
):
    steps = readme_day_of_work()
    assert [args[:2] for args, _ in steps] == [
        ["evidence", "add"],
        ["indicator", "record"],
        ["status", "set"],
        ["report", "quarterly"],
    ]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kandal.pdf").write_bytes(b"%PDF-1.4 MoLVT press release\n")
    only_2019, more = two_databases(make_url_for)

    outputs = {}
    for url in (only_2019, more):
        printed = []
        for minute, (args, shown) in enumerate(steps):
            result = ok(url, WORK_AT + timedelta(minutes=minute), *args)
            if shown:  # the README shows what some commands print (the new evidence id)
                assert result.stdout.splitlines() == shown, (args, result.output)
            printed.append(result.output)
        outputs[url] = printed
    assert outputs[only_2019] == outputs[more]
    assert (tmp_path / "2019Q3.html").is_file()

    # The same rows, with the same ids, targeting the same (2019) recommendations.
    assert work(only_2019) == work(more)
    later = WORK_AT + timedelta(hours=1)
    for url, ref in ((only_2019, "labor-inspections"), (more, "tip-2019-khm/labor-inspections")):
        evidence = read_json(url, later, "evidence", "show", "1", "--json")
        assert [link["ref"] for link in evidence["recommendations"]] == [ref]
        history = read_json(url, later, "status", "history", "tip-2019-khm/labor-inspections", "--json")
        assert [(row["status"], row["effective_on"], row["evidence"]) for row in history] == [
            ("in_progress", "2019-09-30", [1])
        ]
    assert read_json(more, later, "status", "history", "tip-2018-khm/labor-inspections", "--json") == []

    # The 2019Q3 report: the same but for its as-of instant and fingerprint.
    report_at = WORK_AT + timedelta(hours=2)
    before = quarterly(only_2019, report_at, "2019Q3")
    with_more = quarterly(more, report_at, "2019Q3")
    assert before["sources"] == ["tip-2019-khm"]
    assert without_as_of(with_more) == without_as_of(before)
    assert with_more["fingerprint"] != before["fingerprint"]

    # The same database, before and after its user loads 2018 and 2022.
    for minute, name in enumerate(("tip-2018-khm", "tip-2022-khm")):
        ok(only_2019, report_at + timedelta(minutes=1 + minute), "catalog", "load", name)
    after = quarterly(only_2019, report_at + timedelta(minutes=10), "2019Q3")
    assert without_as_of(after) == without_as_of(before)


EVIDENCE_CSV = """\
rec,title,date,kind,stance,source_name,sensitivity
labor-inspections,MoLVT inspects 12 brick kilns,2019-08-14,inspection,,MoLVT press release,public
undercover-techniques;prosecute-convict,"Draft law, article 12",2019-08-20,law,progress,,
victim-identification,Screening protocol training in Siem Reap,2019-09-02,training,,,
"""
STATUS_CSV = """\
rec,status,effective_on,note,evidence
labor-inspections,in_progress,2019-08-15,First kiln inspections since 2017,1
prosecute-convict,partially_implemented,2019-08-21,"Draft law tabled, article 12",2
victim-identification,in_progress,2019-09-03,Officials trained on the protocol,3
"""


def test_a_2019_csv_imports_the_same_with_2018_and_2022_loaded(make_url_for, tmp_path):
    evidence_file, status_file = tmp_path / "evidence-2019.csv", tmp_path / "status-2019.csv"
    evidence_file.write_text(EVIDENCE_CSV)
    status_file.write_text(STATUS_CSV)
    only_2019, more = two_databases(make_url_for)
    # 2022 has victim-identification and prosecute-convict: today, their bare codes name 2022's.
    assert {"victim-identification", "prosecute-convict"} <= set(codes_of("tip-2022-khm"))

    said = {}
    for url in (only_2019, more):
        said[url] = [
            ok(url, WORK_AT + timedelta(minutes=minute), "import", path).output
            for minute, path in enumerate((evidence_file, status_file))
        ]
    assert said[only_2019] == said[more]
    assert work(only_2019) == work(more)

    # Every row went to the 2019 recommendation of its code, none to 2018's or 2022's.
    later = WORK_AT + timedelta(hours=1)
    for code, evidence_ids, statuses in (
        ("labor-inspections", [1], ["in_progress"]),
        ("undercover-techniques", [2], []),
        ("prosecute-convict", [2], ["partially_implemented"]),
        ("victim-identification", [3], ["in_progress"]),
    ):
        ref = f"tip-2019-khm/{code}"
        assert ids(read_json(more, later, "evidence", "list", "--rec", ref, "--json")) == evidence_ids, ref
        history = read_json(more, later, "status", "history", ref, "--json")
        assert [row["status"] for row in history] == statuses, ref
        for slug in ("tip-2018-khm", "tip-2022-khm"):
            if code in codes_of(slug):
                ref = f"{slug}/{code}"
                assert read_json(more, later, "evidence", "list", "--rec", ref, "--json") == [], ref
                assert read_json(more, later, "status", "history", ref, "--json") == [], ref


# 3. Reports cover the edition in force ---------------------------------------------------------------


@pytest.mark.parametrize("quarter", ["2015Q2", "2015Q3", "2018Q3", "2019Q3", "2021Q4", "2022Q3"])
def test_a_quarterly_report_covers_the_edition_in_force_at_the_quarters_end(make_url_for, quarter):
    url = make_url_for(ALL_EDITIONS)
    assert in_force_at_end("2019Q3") == "tip-2019-khm" and in_force_at_end("2018Q3") == "tip-2018-khm"
    report = quarterly(url, WORK_AT, quarter)
    expected = in_force_at_end(quarter)
    assert report["sources"] == [expected]
    assert report["sources_basis"] == "in force"
    # Its recommendations only, named by their bare codes (which name them on the quarter's days);
    # none if it was published after the quarter (before the first edition: the notice says so).
    issued = EDITIONS[expected].published_on <= last_day(quarter)
    assert sorted(rec["code"] for rec in report["recommendations"]) == sorted(codes_of(expected) if issued else [])
    assert all(rec["ref"] == rec["code"] for rec in report["recommendations"])


def test_a_quarterly_report_of_two_selected_editions_qualifies_their_refs(make_url_for):
    url = make_url_for(ALL_EDITIONS)
    report = quarterly(url, WORK_AT, "2019Q3", "--source", "tip-2018-khm", "--source", "tip-2019-khm")
    assert sorted(report["sources"]) == ["tip-2018-khm", "tip-2019-khm"]
    assert report["sources_basis"] == "selected"
    assert sorted(rec["ref"] for rec in report["recommendations"]) == sorted(
        f"{slug}/{code}" for slug in ("tip-2018-khm", "tip-2019-khm") for code in codes_of(slug)
    )


# 4. A new edition starts from the last one -----------------------------------------------------------


def test_a_new_edition_carries_the_2019_status_over_until_it_is_assessed(url):
    assessed_at = datetime(2019, 10, 1, 9, tzinfo=UTC)
    ok(
        url,
        assessed_at,
        "status",
        "set",
        "victim-identification",
        "in_progress",
        "--on",
        "2019-08-01",
        "--note",
        "Pilot",
    )
    ok(
        url,
        assessed_at + timedelta(minutes=1),
        "status",
        "set",
        "prosecute-convict",
        "partially_implemented",
        "--on",
        "2019-09-15",
        "--note",
        "Two convictions",
    )
    ok(url, LOADED_AT, "catalog", "load", "tip-2022-khm")
    continuing = {"victim-identification", "prosecute-convict"}  # 2022's continues declared for them
    assert continuing == {
        rec.code
        for rec in EDITIONS["tip-2022-khm"].recommendations
        if any(c.source == "tip-2019-khm" for c in rec.continues)
    }

    # Carried over: the 2019 status, marked, everywhere; listed under "Needs attention" for it.
    report = by_code(quarterly(url, WORK_AT, "2022Q3"))
    assert report["victim-identification"]["status"] == "in_progress"
    assert report["prosecute-convict"]["status"] == "partially_implemented"
    assert {code: rec["carried_over_from"] for code, rec in report.items()} == {
        "prosecute-convict": "tip-2019-khm",
        "law-enforcement-funding": None,
        "victim-identification": "tip-2019-khm",
    }
    markdown = quarterly(url, WORK_AT, "2022Q3", fmt="md")
    needs = attention(markdown)
    for code in continuing:
        assert "status carried over from tip-2019-khm, not yet re-assessed" in needs[code]
    assert "carried over" not in needs.get("law-enforcement-funding", "")
    shown = read_json(url, WORK_AT, "rec", "show", "victim-identification", "--json")
    assert (shown["source"], shown["status"], shown["carried_over_from"]) == (
        "tip-2022-khm",
        "in_progress",
        "tip-2019-khm",
    )

    # Assessed: its own status, no longer carried over nor listed for it; the other still is.
    ok(
        url,
        WORK_AT + timedelta(minutes=1),
        "status",
        "set",
        "tip-2022-khm/victim-identification",
        "partially_implemented",
        "--on",
        "2022-08-01",
        "--note",
        "Guidelines applied in 10 provinces",
    )
    later = WORK_AT + timedelta(minutes=2)
    report = by_code(quarterly(url, later, "2022Q3"))
    assert report["victim-identification"]["status"] == "partially_implemented"
    assert report["victim-identification"]["carried_over_from"] is None
    assert report["prosecute-convict"]["carried_over_from"] == "tip-2019-khm"
    needs = attention(quarterly(url, later, "2022Q3", fmt="md"))
    assert "carried over" not in needs.get("victim-identification", "")
    assert "status carried over from tip-2019-khm" in needs["prosecute-convict"]
    listed = {rec["ref"]: rec for rec in read_json(url, later, "rec", "list", "--json")}
    assert listed["tip-2022-khm/victim-identification"]["carried_over_from"] is None
    assert listed["tip-2022-khm/prosecute-convict"]["carried_over_from"] == "tip-2019-khm"
    # The 2019 report is as it was.
    assert by_code(quarterly(url, later, "2019Q3"))["victim-identification"]["status"] == "in_progress"


def assessed_in_2019_then_2022(database: Database, _folder: Path) -> None:
    """2019's victim-identification assessed in_progress (August 2019), then 2022 loaded."""
    with clock.frozen(datetime(2019, 10, 1, 9, tzinfo=UTC)):
        database.write(
            lambda session: services.set_status(
                session, "victim-identification", "in_progress", effective_on="2019-08-01", note="Pilot", actor=ACTOR
            )
        )
    with clock.frozen(LOADED_AT):
        database.write(lambda session: catalogs.load(session, catalogs.read("tip-2022-khm"), ACTOR))


CARRIED = template("editions-carried", assessed_in_2019_then_2022)


def test_the_summary_of_a_quarter_says_how_a_carried_over_status_is_counted(make_url_for):
    """The 2022Q3 summary says how the recommendations issued in the quarter are counted: the
    report counts victim-identification, which carries in_progress over from 2019, as unchanged
    (from the status it carries over), so the sentence must not say they count from not started."""
    url = make_url_for(CARRIED)
    report = quarterly(url, WORK_AT, "2022Q3")
    carried = by_code(report)["victim-identification"]
    assert (carried["previous_status"], carried["status"], carried["carried_over_from"]) == (
        None,
        "in_progress",
        "tip-2019-khm",
    )
    summary = next(
        line
        for line in quarterly(url, WORK_AT, "2022Q3", fmt="md").splitlines()
        if line.startswith("- Between the end of 2022Q2")
    )
    from_not_started = sum(rec["status"] != "not_started" for rec in report["recommendations"])
    if "count from not started" in summary:  # then what it counts must be what it says
        assert report["summary"]["advanced"] == from_not_started, summary
    else:
        assert "carried over" in summary, summary


def test_the_timeline_marks_no_change_where_a_new_edition_carries_the_status_over(make_url_for):
    """tip-2022-khm/victim-identification carries over the in_progress of
    tip-2019-khm/victim-identification (in_progress at the end of 2022Q2 in the same timeline):
    its first cell, 2022Q3, is no change, as the 2022Q3 quarterly report says."""
    url = make_url_for(CARRIED)
    assert by_code(quarterly(url, WORK_AT, "2022Q3"))["victim-identification"]["change"] == "unchanged"
    timeline = read_json(url, WORK_AT, "report", "timeline", "--from", "2022Q2", "--to", "2022Q3", "--format", "json")
    rows = {row["ref"]: row for row in timeline["recommendations"]}
    assert [cell["status"] for cell in rows["tip-2019-khm/victim-identification"]["statuses"]] == ["in_progress", None]
    cells = rows["tip-2022-khm/victim-identification"]["statuses"]
    assert [cell["status"] for cell in cells] == [None, "in_progress"]
    assert rows["tip-2022-khm/victim-identification"]["changed_in"] == []


# 5. A code two series share is ambiguous -------------------------------------------------------------


SHADOW_REPORT = """\
sources:
  - slug: ngo-2020-khm
    title: NGO coalition shadow report 2020
    publisher: NGO coalition
    country: KH
    published_on: 2020-01-15
    complete: true
    recommendations:
      - code: labor-inspections
        position: 1
        title: Inspect brick kilns without notice
        text: Carry out unannounced labour inspections at brick kilns.
        text_status: verbatim
        pillar: prevention
        agencies: {lead: molvt}
      - code: shelter-funding
        position: 2
        title: Fund shelters
        text: Allocate funding to victim shelters.
        text_status: verbatim
        pillar: protection
        agencies: {lead: mosvy}
"""


def test_a_code_in_two_series_is_ambiguous_and_source_slash_code_names_each(url, tmp_path):
    shadow = tmp_path / "shadow.yaml"
    shadow.write_text(SHADOW_REPORT)
    loaded_at = datetime(2020, 2, 1, 9, tzinfo=UTC)
    loaded = ok(url, loaded_at, "catalog", "load", shadow)
    assert "added 1 source, 2 recommendations" in loaded.stderr

    when = loaded_at + timedelta(hours=1)
    error = refused(url, when, "rec", "show", "labor-inspections", says="ambiguous")
    assert "ngo-2020-khm/labor-inspections" in error and "tip-2019-khm/labor-inspections" in error
    refused(
        url,
        when,
        "status",
        "set",
        "labor-inspections",
        "in_progress",
        "--on",
        "2020-01-20",
        "--note",
        "x",
        says="ngo-2020-khm/labor-inspections",
    )
    for ref, source in (
        ("ngo-2020-khm/labor-inspections", "ngo-2020-khm"),
        ("tip-2019-khm/labor-inspections", "tip-2019-khm"),
    ):
        shown = read_json(url, when, "rec", "show", ref, "--json")
        assert (shown["ref"], shown["source"]) == (ref, source)
    # Codes of one series only still resolve bare.
    assert read_json(url, when, "rec", "show", "shelter-funding", "--json")["source"] == "ngo-2020-khm"
    assert read_json(url, when, "rec", "show", "victim-identification", "--json")["source"] == "tip-2019-khm"
    update = ok(
        url, when, "status", "set", "tip-2019-khm/labor-inspections", "in_progress", "--on", "2020-01-20", "--note", "x"
    )
    history = read_json(url, when, "status", "history", "tip-2019-khm/labor-inspections", "--json")
    assert ids(history) == [int(update.stdout)]
    assert read_json(url, when, "status", "history", "ngo-2020-khm/labor-inspections", "--json") == []


# 6. rec link and rec unlink ---------------------------------------------------------------------------


NEW = "tip-2022-khm/law-enforcement-funding"
OLD = "tip-2019-khm/undercover-techniques"
DECLARED = ("tip-2019-khm/labor-inspections", "tip-2018-khm/labor-inspections")  # the 2019 catalog declares it


def test_rec_link_and_unlink_refuse_bad_input_and_write_nothing(make_url_for):
    url = make_url_for(ALL_EDITIONS)
    later, earlier = DECLARED
    cases = [
        (["rec", "link", "no-such-rec", "--continues", OLD, "--relation", "repeated"], "unknown recommendation"),
        (["rec", "link", NEW, "--continues", "tip-2019-khm/no-such-rec", "--relation", "repeated"], "unknown"),
        (["rec", "link", OLD, "--continues", OLD, "--relation", "repeated"], "cannot continue itself"),
        (["rec", "link", earlier, "--continues", later, "--relation", "repeated"], "earlier edition"),  # later edition
        (
            ["rec", "link", later, "--continues", "tip-2019-khm/victim-identification", "--relation", "broadened"],
            "earlier",
        ),
        (["rec", "link", NEW, "--continues", OLD], "--relation is required"),
        (["rec", "link", NEW, "--continues", OLD, "--relation", "copied"], "copied"),
        (["rec", "link", NEW, "--continues", OLD, "--relation", ""], "--relation"),
        (["rec", "link", later, "--continues", earlier, "--relation", "reworded"], "--reason"),
        (
            ["rec", "link", later, "--continues", earlier, "--relation", "repeated", "--reason", "x"],
            "nothing would change",
        ),
        (["rec", "link", later, "--continues", earlier, "--relation", "reworded", "--reason", "  "], "--reason"),
        (["rec", "unlink", NEW, "--continues", OLD, "--reason", "Never linked"], "does not continue"),
        (["rec", "unlink", later, "--continues", earlier], "--reason"),
        (["rec", "unlink", later, "--continues", earlier, "--reason", ""], "--reason"),
        (["rec", "unlink", later, "--continues", earlier, "--reason", " \t "], "--reason"),
        (["rec", "unlink", "no-such-rec", "--continues", earlier, "--reason", "x"], "unknown recommendation"),
    ]
    for args, says in cases:
        refused(url, WORK_AT, *args, says=says)


def test_rec_link_and_unlink_print_what_they_did_and_the_history_keeps_it(make_url_for):
    url = make_url_for(ALL_EDITIONS)
    record = f"{NEW} continues {OLD}"
    steps = [
        (["rec", "link", NEW, "--continues", OLD, "--relation", "broadened", "--note", "Funds the units"],
         f"Linked: {record} (broadened)\n"),
        (["rec", "link", NEW, "--continues", OLD, "--relation", "narrowed", "--reason", "Only the funding"],
         f"{record}: relation broadened -> narrowed\n"),
        (["rec", "link", NEW, "--continues", OLD, "--note", "Funds the units in advance", "--reason", "Wording"],
         f"{record}: note Funds the units -> Funds the units in advance\n"),
        (["rec", "unlink", NEW, "--continues", OLD, "--reason", "Not the same request"],
         f"{record}: unlinked no -> yes\n"),
        (["rec", "link", NEW, "--continues", OLD, "--reason", "It is, after all"],
         f"{record}: linked no -> yes\n"),
    ]  # fmt: skip
    for minute, (args, says) in enumerate(steps):
        result = ok(url, WORK_AT + timedelta(minutes=minute), *args)
        assert (result.stdout, result.stderr) == ("", says)
    when = WORK_AT + timedelta(hours=1)

    thread = read_json(url, when, "rec", "thread", NEW, "--json")
    mine = next(item for item in thread["thread"] if item["ref"] == NEW)
    assert mine["continues"] == [{"ref": OLD, "relation": "narrowed", "note": "Funds the units in advance"}]

    history = read_json(url, when, "history", f"rec/{NEW}", "--json")
    field = f"continues {OLD}"
    assert [(v["reason"], [(c["field"], c["old"], c["new"]) for c in v["changes"]]) for v in history["versions"]] == [
        (None, []),
        ("Only the funding", [(f"{field}: relation", "broadened", "narrowed")]),
        ("Wording", [(f"{field}: note", "Funds the units", "Funds the units in advance")]),
        ("Not the same request", [(f"{field}: unlinked", False, True)]),
        ("It is, after all", [(f"{field}: linked", False, True)]),
    ]
    assert all(v["recorded_by"] == ACTOR for v in history["versions"][1:])

    assert "OK:" in ok(url, when, "verify").output


def test_rec_unlink_by_a_bare_ref_names_the_edition_it_unlinked(make_url_for):
    """The message names the edition a bare REF resolved to (``tip-2019-khm/labor-inspections
    continues ...``), as ``rec link`` does, not the REF as typed."""
    url = make_url_for(ALL_EDITIONS)
    later, earlier = DECLARED
    result = ok(url, WORK_AT, "rec", "unlink", "labor-inspections", "--continues", earlier, "--reason", "Not the same")
    assert named_on("labor-inspections", WORK_AT.date()) == later.split("/")[0]
    assert result.stderr == f"{later} continues {earlier}: unlinked no -> yes\n"


def test_a_catalog_link_unlinked_stays_unlinked_when_the_catalog_is_loaded_again(make_url_for):
    url = make_url_for(ALL_EDITIONS)
    later, earlier = DECLARED
    ok(url, WORK_AT, "rec", "unlink", later, "--continues", earlier, "--reason", "Not the same recommendation")
    for minute, name in enumerate(("tip-2019-khm", "tip-2018-khm"), 1):
        loaded = ok(url, WORK_AT + timedelta(minutes=minute), "catalog", "load", name)
        assert "already loaded, nothing to add" in loaded.stderr
    thread = read_json(url, WORK_AT + timedelta(hours=1), "rec", "thread", later, "--json")
    assert [item["ref"] for item in thread["thread"]] == [later]
    assert "OK:" in ok(url, WORK_AT + timedelta(hours=1), "verify").output


# 7. Export and restore -------------------------------------------------------------------------------


def test_threads_links_and_carried_statuses_survive_export_and_restore(make_url_for, tmp_path):
    url = make_url_for(ALL_EDITIONS)
    attachment = tmp_path / "decree.pdf"
    attachment.write_bytes(b"%PDF-1.4 decree\n")
    steps = [
        ["evidence", "add", "--rec", "victim-identification", "--title", "Protocol decree", "--date", "2019-08-14",
         "--kind", "regulation", "--attach", attachment],
        ["status", "set", "victim-identification", "in_progress", "--on", "2019-08-20", "--note", "Decree",
         "--evidence", "1"],
        ["status", "set", "prosecute-convict", "partially_implemented", "--on", "2019-09-30", "--note", "Verdicts"],
        ["status", "set", "undercover-techniques", "in_progress", "--on", "2020-03-01", "--note", "Draft law"],
        ["rec", "link", NEW, "--continues", OLD, "--relation", "broadened", "--note", "Funds the units"],
        ["rec", "link", NEW, "--continues", OLD, "--relation", "narrowed", "--reason", "Only the funding"],
        ["rec", "unlink", "tip-2022-khm/prosecute-convict", "--continues", "tip-2019-khm/prosecute-convict",
         "--reason", "Assessed apart"],
        ["status", "set", "tip-2022-khm/victim-identification", "implemented", "--on", "2022-08-20", "--note", "Done"],
    ]  # fmt: skip
    for minute, args in enumerate(steps):
        ok(url, WORK_AT + timedelta(minutes=minute), *args)

    export = tmp_path / "export.json"
    when = WORK_AT + timedelta(hours=1)
    ok(url, when, "export", "-o", export, "--with-files")
    restored = make_url_for("blank")
    ok(restored, when, "init", "--no-catalog")
    ok(restored, when, "import", export)

    reads = [
        ("report", "quarterly", "2022Q3", "--format", "json"),
        ("report", "quarterly", "2022Q3", "--format", "md"),
        ("report", "quarterly", "2019Q3", "--format", "json"),
        ("rec", "list", "--json"),
        ("rec", "thread", NEW, "--json"),
        ("history", f"rec/{NEW}", "--json"),
    ]
    read_at = when + timedelta(minutes=5)
    for args in reads:
        assert ok(restored, read_at, *args).stdout == ok(url, read_at, *args).stdout, args
    report = by_code(json.loads(ok(restored, read_at, *reads[0]).stdout))
    assert report["law-enforcement-funding"]["carried_over_from"] == "tip-2019-khm"
    assert report["prosecute-convict"]["carried_over_from"] is None  # unlinked: it carries nothing
    assert report["victim-identification"]["carried_over_from"] is None  # assessed
    again = tmp_path / "again.json"
    ok(restored, read_at, "export", "-o", again, "--with-files")
    assert again.read_bytes() == export.read_bytes()
    assert "OK:" in ok(restored, read_at, "verify").output


# 8. --as-of before a link ------------------------------------------------------------------------------


def test_a_report_as_of_before_a_link_or_an_unlink_is_the_earlier_report_byte_for_byte(make_url_for):
    url = make_url_for(ALL_EDITIONS)
    ok(url, WORK_AT, "status", "set", "tip-2019-khm/victim-identification", "in_progress", "--on", "2019-08-01",
       "--note", "Pilot")  # fmt: skip
    ok(url, WORK_AT + timedelta(minutes=1), "status", "set", "undercover-techniques", "in_progress", "--on",
       "2022-08-10", "--note", "Draft law")  # fmt: skip

    def reports(when: datetime, *as_of: str) -> dict[str, str]:
        """The 2022Q3 report's bytes, Markdown and JSON, as printed at ``when``."""
        return {
            fmt: ok(url, when, "report", "quarterly", "2022Q3", "--format", fmt, *as_of).stdout
            for fmt in ("md", "json")
        }

    first_at = WORK_AT + timedelta(hours=1)
    first = reports(first_at)
    assert by_code(json.loads(first["json"]))["law-enforcement-funding"]["carried_over_from"] is None

    linked_at = first_at + timedelta(hours=1)
    ok(url, linked_at, "rec", "link", NEW, "--continues", OLD, "--relation", "broadened")
    second_at = linked_at + timedelta(hours=1)
    second = reports(second_at)
    now = by_code(json.loads(second["json"]))
    assert (now["law-enforcement-funding"]["status"], now["law-enforcement-funding"]["carried_over_from"]) == (
        "in_progress",
        "tip-2019-khm",
    )
    assert second != first
    assert reports(second_at, "--as-of", clock.iso_utc(first_at)) == first
    just_before = clock.iso_utc(linked_at - timedelta(microseconds=1))  # the same report, but for its as-of
    assert reports(second_at, "--as-of", just_before) == {
        fmt: text.replace(clock.iso_utc(first_at), just_before) for fmt, text in first.items()
    }

    unlinked_at = second_at + timedelta(hours=1)
    ok(url, unlinked_at, "rec", "unlink", "tip-2022-khm/victim-identification", "--continues",
       "tip-2019-khm/victim-identification", "--reason", "Assessed apart")  # fmt: skip
    third = reports(unlinked_at + timedelta(hours=1))
    assert by_code(json.loads(third["json"]))["victim-identification"]["carried_over_from"] is None
    assert reports(unlinked_at + timedelta(hours=1), "--as-of", clock.iso_utc(second_at)) == second
    assert reports(unlinked_at + timedelta(hours=1), "--as-of", clock.iso_utc(first_at)) == first
