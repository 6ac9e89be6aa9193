"""Several assessors on one record: the default's assessments are the status, the others are
compared beside it; entries made on behalf of an agency say so. Both backends."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import dump, invoke

USER = {"TRACKER_USER": "sophea"}
Q3 = "2019Q3"


def run(url: str, *args: str, code: int = 0):
    result = invoke(["--db", url, *args], env=USER)
    assert result.exit_code == code, result.output
    if code:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return result


def status(url: str, ref: str, value: str, day: str, note: str, *more: str) -> int:
    return int(run(url, "status", "set", ref, value, "--on", day, "--note", note, *more).stdout)


def docx_text(url: str, path) -> str:
    """The text of the quarterly report as a Word document: its paragraphs and table cells."""
    import docx

    run(url, "report", "quarterly", Q3, "--format", "docx", "-o", str(path))
    document = docx.Document(str(path))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


def rec_status(url: str, ref: str) -> str:
    found = json.loads(run(url, "rec", "show", ref, "--json").stdout)
    return found["status"]


@pytest.fixture
def assessed(url):
    """The NCCT secretariat (the default) and an NGO coalition, that disagree on two recommendations."""
    run(url, "assessor", "add", "ncct", "NCCT secretariat", "--kind", "government", "--default")
    run(url, "assessor", "add", "coalition", "NGO coalition", "--kind", "ngo")
    evidence = run(
        url, "evidence", "add", "--rec", "labor-inspections", "--title", "Kiln inspections in Kandal",
        "--date", "2019-08-10", "--kind", "inspection", "--sensitivity", "public",
    ).stdout.strip()  # fmt: skip
    secret = run(
        url, "evidence", "add", "--rec", "labor-inspections", "--title", "Names of bonded families",
        "--date", "2019-08-11", "--kind", "field_observation", "--sensitivity", "confidential",
    ).stdout.strip()  # fmt: skip
    status(url, "labor-inspections", "partially_implemented", "2019-09-01", "Three provinces", "--evidence", evidence)
    status(url, "labor-inspections", "in_progress", "2019-09-02", "Kandal only", "--assessor", "coalition",
           "--evidence", evidence, "--evidence", secret)  # fmt: skip
    status(url, "undercover-techniques", "in_progress", "2019-08-01", "Draft law tabled")
    status(url, "undercover-techniques", "not_started", "2019-08-02", "Nothing passed", "--assessor", "coalition")
    status(url, "victim-identification", "in_progress", "2019-08-03", "Protocol adopted")
    status(url, "victim-identification", "in_progress", "2019-08-04", "Agreed", "--assessor", "coalition")
    return url


def test_the_default_assessors_assessments_are_the_status(assessed):
    assert rec_status(assessed, "labor-inspections") == "partially_implemented"
    assert rec_status(assessed, "undercover-techniques") == "in_progress"
    history = json.loads(run(assessed, "status", "history", "labor-inspections", "--json").stdout)
    assert [(h["status"], h["assessor"]) for h in history] == [("partially_implemented", "ncct")]
    theirs = json.loads(
        run(assessed, "status", "history", "labor-inspections", "--assessor", "coalition", "--json").stdout
    )
    assert [(h["status"], h["assessor"], h["note"]) for h in theirs] == [("in_progress", "coalition", "Kandal only")]
    assert run(assessed, "verify").stderr.startswith("OK")


def test_changing_the_default_is_a_correction_and_earlier_reports_keep_the_earlier_one(assessed):
    before = run(assessed, "report", "quarterly", Q3, "--format", "json").stdout
    as_of = json.loads(before)["as_of"]
    changed = run(assessed, "assessor", "default", "coalition", "--reason", "The coalition leads the review")
    assert changed.stderr == "assessor ncct: is_default True -> False\nassessor coalition: is_default False -> True\n"
    assert rec_status(assessed, "labor-inspections") == "in_progress"
    assert rec_status(assessed, "undercover-techniques") == "not_started"
    again = run(assessed, "report", "quarterly", Q3, "--format", "json", "--as-of", as_of).stdout
    assert again == before  # as of then: the earlier default, the same bytes
    run(assessed, "assessor", "default", "coalition", "--reason", "Again", code=2)  # nothing would change


def test_compare_lists_exactly_the_recommendations_that_differ(assessed, tmp_path):
    document = json.loads(run(assessed, "report", "compare", Q3, "--format", "json").stdout)
    assert [a["code"] for a in document["assessors"]] == ["ncct", "coalition"]
    differing = {r["ref"]: r["gap"] for r in document["recommendations"] if r["differs"]}
    assert differing == {"labor-inspections": 1, "undercover-techniques": 1}
    rows = {r["ref"]: [a["status"] for a in r["assessments"]] for r in document["recommendations"]}
    assert rows["victim-identification"] == ["in_progress", "in_progress"]
    assert rows["prosecute-convict"] == [None, None]  # not assessed: never a difference
    markdown = run(assessed, "report", "compare", Q3).stdout
    where = markdown.split("### Where they differ")[1]
    assert "**labor-inspections**" in where and "**undercover-techniques**" in where
    assert "victim-identification" not in where
    quarterly = json.loads(run(assessed, "report", "quarterly", Q3, "--format", "json").stdout)
    assert quarterly["assessments_compared"]["recommendations"] == document["recommendations"]
    assert "## Assessments compared" in run(assessed, "report", "quarterly", Q3).stdout
    page = run(assessed, "report", "quarterly", Q3, "--format", "html", "--audience", "public").stdout
    compared = page.split("<h2>Assessments compared</h2>")[1].split("<section")[0]
    assert compared.count("<tr>") == 5  # the header and the four recommendations
    assert "1 item withheld" in compared and "Names of bonded families" not in page
    word = docx_text(assessed, tmp_path / "q.docx")
    assert "Assessments compared" in word and "labor-inspections: Increase labor inspections" in word
    table = run(assessed, "report", "compare", Q3, "--format", "csv").stdout
    assert table.startswith("\ufeffref,title,differs,gap,assessor,status,effective_on,note,")
    lines = list(csv.DictReader(io.StringIO(table.lstrip("\ufeff"))))
    assert len(lines) == 2 * len(document["recommendations"])
    assert {line["ref"] for line in lines if line["differs"] == "yes"} == set(differing)
    assert [(line["assessor"], line["status"]) for line in lines if line["ref"] == "labor-inspections"] == [
        (a["assessor"], a["status"])
        for r in document["recommendations"]
        if r["ref"] == "labor-inspections"
        for a in r["assessments"]
    ]
    assert not run(assessed, "report", "compare", Q3, "--format", "csv", "--no-bom").stdout.startswith("\ufeff")
    run(assessed, "report", "compare", Q3, "--no-bom", code=2)


def test_compare_withholds_what_the_audience_may_not_see(assessed):
    public = run(assessed, "report", "compare", Q3, "--audience", "public", "--format", "json").stdout
    assert "Names of bonded families" not in public
    labor = next(r for r in json.loads(public)["recommendations"] if r["ref"] == "labor-inspections")
    coalition = labor["assessments"][1]
    assert [c["title"] for c in coalition["cites"]] == ["Kiln inspections in Kandal"]
    assert coalition["cites_withheld"] == 1
    confidential = run(assessed, "report", "compare", Q3, "--audience", "confidential", "--format", "json").stdout
    assert "Names of bonded families" in confidential


def test_two_chosen_assessors_and_bad_choices(assessed):
    chosen = run(assessed, "report", "compare", Q3, "--assessor", "coalition", "--assessor", "ncct", "--format", "json")
    assert [a["code"] for a in json.loads(chosen.stdout)["assessors"]] == ["coalition", "ncct"]
    run(assessed, "report", "compare", Q3, "--assessor", "ncct", code=2)
    run(assessed, "report", "compare", Q3, "--assessor", "nobody", "--assessor", "ncct", code=2)
    run(assessed, "report", "compare", Q3, "--format", "html", code=2)


def test_a_database_without_assessors_has_no_comparison(url):
    status(url, "labor-inspections", "in_progress", "2019-08-01", "Started")
    assert "assessments_compared" not in run(url, "report", "quarterly", Q3, "--format", "json").stdout
    result = run(url, "report", "compare", Q3, code=2)
    assert "needs two assessors" in result.stderr
    history = json.loads(run(url, "status", "history", "labor-inspections", "--json").stdout)
    assert history[0]["assessor"] is None and history[0]["for"] is None


def test_bad_assessor_input_writes_nothing(url):
    run(url, "assessor", "add", "ncct", "NCCT", "--default")
    before = dump(url)
    run(url, "status", "set", "labor-inspections", "in_progress", "--on", "2019-08-01", "--note", "x",
        "--assessor", "nobody", code=2)  # fmt: skip
    run(url, "status", "set", "labor-inspections", "in_progress", "--on", "2019-08-01", "--note", "x",
        "--for", "nobody", code=2)  # fmt: skip
    run(url, "assessor", "add", "ncct", "Again", code=1)
    run(url, "assessor", "add", "second", "Second", "--default", code=1)
    run(url, "assessor", "add", "bad", "Bad kind", "--kind", "church", code=2)
    run(url, "status", "history", "labor-inspections", "--assessor", "nobody", code=2)
    assert dump(url) == before


def test_init_names_the_default_assessor_once(url):
    assert "Added assessor ncct, the default" in run(url, "init", "--assessor", "ncct").stderr
    assert "Assessor ncct is the default" in run(url, "init", "--assessor", "ncct").stderr
    before = dump(url)
    assert "tracker assessor default" in run(url, "init", "--assessor", "other", code=1).stderr
    assert dump(url) == before
    first = status(url, "labor-inspections", "in_progress", "2019-08-01", "Started")
    history = json.loads(run(url, "status", "history", "labor-inspections", "--json").stdout)
    assert [(h["id"], h["assessor"]) for h in history] == [(first, "ncct")]


def test_entries_made_on_behalf_of_an_agency_say_so(url, tmp_path):
    update = status(url, "labor-inspections", "in_progress", "2019-08-01", "Inspections began", "--for", "molvt")
    run(url, "evidence", "add", "--rec", "labor-inspections", "--title", "MoLVT inspection log", "--date",
        "2019-08-02", "--kind", "inspection", "--for", "molvt")  # fmt: skip
    run(url, "indicator", "record", "kiln-inspections", Q3, "12", "--for", "molvt")
    history = json.loads(run(url, "status", "history", "labor-inspections", "--json").stdout)
    assert [(h["id"], h["for"], h["recorded_by"]) for h in history] == [(update, "molvt", "sophea")]
    table = run(url, "status", "history", "labor-inspections").stdout
    assert "sophea for molvt" in table
    rows = dump(url)["entry_for"]
    assert sorted(row[1] for row in rows) == ["'evidence'", "'measurement'", "'status_update'"]  # dump: repr of values
    events = json.loads(run(url, "log", "--json").stdout)
    assert all("entry_for" in e["payload"] for e in events[:3])
    assert [e.get("for") for e in events[:4]] == ["molvt", "molvt", "molvt", None]
    assert [line.split()[2:5] for line in run(url, "log", "--limit", "3").stdout.splitlines()[1:]] == [
        ["sophea", "for", "molvt"]
    ] * 3
    # the reports say who entered what for whom, in every format
    document = json.loads(run(url, "report", "quarterly", Q3, "--format", "json").stdout)
    (section,) = [r for r in document["recommendations"] if r["ref"] == "labor-inspections"]
    assert [u.get("entered_for") for u in section["status_updates"]] == [{"by": "sophea", "agency": "molvt"}]
    assert [e.get("entered_for") for e in section["evidence"]] == [{"by": "sophea", "agency": "molvt"}]
    others = [r for r in document["recommendations"] if r["ref"] != "labor-inspections"]
    assert not any("entered_for" in item for r in others for item in r["status_updates"] + r["evidence"])
    said = "entered by sophea for molvt"
    markdown = run(url, "report", "quarterly", Q3).stdout
    assert f"Inspections began ({said})" in markdown and f"| {said} |" in markdown
    html = run(url, "report", "quarterly", Q3, "--format", "html").stdout
    assert html.count(said) == 3
    assert docx_text(url, tmp_path / "r.docx").count(said) == 3
    assert run(url, "verify").stderr.startswith("OK")


def test_an_imported_file_names_assessors_and_agencies_as_the_commands_do(assessed, tmp_path):
    """The assessor and for columns of an import record the rows status set --assessor and --for
    record: the same rows, so the same reports, whoever later becomes the default."""
    statuses = tmp_path / "statuses.csv"
    statuses.write_text(
        "rec,status,effective_on,note,evidence,assessor,for\n"
        "prosecute-convict,in_progress,2019-09-10,Cases filed,,coalition,moj\n"
        "prosecute-convict,partially_implemented,2019-09-11,Convictions,,,moj\n"
    )
    imported = run(assessed, "import", str(statuses))
    assert "2 status updates" in imported.stderr or "2 status updates" in imported.stdout, imported.output
    evidence = tmp_path / "evidence.csv"
    evidence.write_text("rec,title,date,kind,for\nprosecute-convict,Court list,2019-09-12,court_case,moj\n")
    run(assessed, "import", str(evidence))
    measurements = tmp_path / "measurements.csv"
    measurements.write_text("indicator,quarter,value,for\nkiln-inspections,2019Q3,14,molvt\n")
    run(assessed, "import", str(measurements))
    coalition = json.loads(
        run(assessed, "status", "history", "prosecute-convict", "--assessor", "coalition", "--json").stdout
    )
    assert [(h["status"], h["for"], h["assessor"]) for h in coalition] == [("in_progress", "moj", "coalition")]
    default = json.loads(run(assessed, "status", "history", "prosecute-convict", "--json").stdout)
    assert [(h["status"], h["for"]) for h in default] == [("partially_implemented", "moj")]
    rows = dump(assessed)
    assessed_by = {row[0]: row[1] for row in rows["status_assessor"]}  # (status_update_id, assessor_id)
    assert assessed_by[str(default[0]["id"])] == "1"  # the default's imported row names it, as status set does
    assert assessed_by[str(coalition[0]["id"])] == "2"
    assert sorted(row[1] for row in rows["entry_for"]) == [
        "'evidence'",
        "'measurement'",
        "'status_update'",
        "'status_update'",
    ]
    events = json.loads(run(assessed, "log", "--json", "--limit", "7").stdout)
    assert [(e["action"], e.get("for")) for e in events if e["action"] != "import.file"] == [
        ("measurement.record", "molvt"),
        ("evidence.add", "moj"),
        ("status.set", "moj"),
        ("status.set", "moj"),
    ]
    assert run(assessed, "verify").stderr.startswith("OK")


@pytest.mark.parametrize(
    ("header", "line", "says"),
    [
        ("rec,status,effective_on,note,assessor", "prosecute-convict,in_progress,2019-09-10,x,nobody",
         "unknown assessor 'nobody'"),
        ("rec,status,effective_on,note,for", "prosecute-convict,in_progress,2019-09-10,x,nowhere",
         "unknown agency 'nowhere'"),
        ("rec,title,date,kind,for", "prosecute-convict,T,2019-09-12,court_case,MOJ", "unknown agency 'MOJ'"),
    ],
)  # fmt: skip
def test_an_import_naming_an_unknown_assessor_or_agency_writes_nothing(assessed, tmp_path, header, line, says):
    path = tmp_path / "bad.csv"
    path.write_text(f"{header}\n{line}\n")
    before = dump(assessed)
    refused = run(assessed, "import", str(path), code=2)
    assert "line 2" in refused.stderr and says in refused.stderr, refused.stderr
    assert dump(assessed) == before
