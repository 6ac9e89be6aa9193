"""Spreadsheets in: Excel workbooks, CSV files with other delimiters, and templates to fill in.

An .xlsx sheet is read as the rows of a CSV file and checked by the CSV importer's own
checks: the same kinds, columns, all-or-nothing and errors, located by sheet, row and
column. CSV files may separate their columns with semicolons or tabs, write vocabulary
values in any case and leave out unknown columns when asked to; a day must be written
YYYY-MM-DD. ``tracker import --template KIND`` writes the file to fill in. SQLite and
PostgreSQL (the ``database``, ``url`` and ``run`` fixtures run on both).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tracker import clock, importing, queries, vocab
from tracker.errors import Conflict, InputError
from tracker.store.database import Database

from conftest import add_evidence, dump, invoke, read, verified

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2019, 10, 5, 12, tzinfo=UTC)
ACTOR = "importer"
KHMER = ["របាយការណ៍", "ការត្រួតពិនិត្យឡដុតឥដ្ឋ", "សេចក្តីថ្លែងការណ៍"]
EVIDENCE_HEADER = ["rec", "title", "date", "kind", "stance", "source_name", "reliability", "sensitivity"]


def workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """An .xlsx file written through openpyxl, as Excel would save it (dates as date cells)."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, datetime | date):
                    cell.number_format = "yyyy-mm-dd" if isinstance(cell.value, date) else "yyyy-mm-dd hh:mm"
    book.save(path)
    return path


def evidence_rows(count: int = 200) -> list[list[Any]]:
    """A header and ``count`` rows of evidence: Khmer titles, Excel date cells, kinds in any case."""
    rows: list[list[Any]] = [list(EVIDENCE_HEADER)]
    for n in range(count):
        rows.append(
            [
                "undercover-techniques; prosecute-convict" if n % 3 == 0 else "labor-inspections",
                f"{KHMER[n % 3]} {n + 1}",
                datetime(2019, 7, 1) + timedelta(days=n % 90),
                ["Inspection", "law", "NGO_REPORT"][n % 3],
                "progress",
                "MoLVT",
                "credible",
                ["public", "Internal"][n % 2],
            ]
        )
    return rows


def as_csv(rows: list[list[Any]], delimiter: str = ",") -> str:
    def text(value: Any) -> str:
        return value.date().isoformat() if isinstance(value, datetime) else "" if value is None else str(value)

    return "".join(delimiter.join(text(value) for value in row) + "\n" for row in rows)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def imported(database: Database, path: Path, **options: Any) -> str:
    with clock.frozen(NOW):
        return importing.import_file(database, path, actor=ACTOR, **options).describe()


def refused(database: Database, url: str, path: Path, **options: Any) -> str:
    """The error of importing ``path``: exit code 2, nothing written."""
    before = dump(url)
    with clock.frozen(NOW), pytest.raises(InputError) as error:
        importing.import_file(database, path, actor=ACTOR, **options)
    assert error.value.exit_code == 2
    assert dump(url) == before
    return str(error.value)


def evidence(database: Database) -> list[dict[str, Any]]:
    with clock.frozen(NOW):
        return read(database, queries.evidence_list)


def assert_verifies(database: Database) -> None:
    result = verified(database)
    assert result.ok, [finding.describe() for finding in result.findings]


# Workbooks ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, column, error",
    [
        ("rumour", "kind", "unknown kind 'rumour': use one of law, regulation"),
        (
            datetime(2019, 8, 14, 10, 30),
            "date",
            "a date with a time of day (2019-08-14 10:30) where a day is expected: give the day only, e.g. 2019-08-14",
        ),
        ("14/08/2019", "date", "invalid date '14/08/2019': write the date as YYYY-MM-DD: 2019-08-14"),
        (43691, "date", "the number 43691 where a day is expected: format the cell as a date"),
    ],
    ids=["unknown kind", "date with a time", "day first", "date as a number"],
)
def test_a_workbook_with_a_bad_row_is_refused_naming_it_and_imports_once_fixed(
    database, url, tmp_path, bad, column, error
):
    rows = evidence_rows(200)
    good = rows[136][EVIDENCE_HEADER.index(column)]
    rows[136][EVIDENCE_HEADER.index(column)] = bad  # the sheet's row 137
    path = workbook(tmp_path / "evidence.xlsx", {"evidence": rows})
    message = refused(database, url, path)
    assert message.startswith(f'{path} sheet "evidence", row 137, column "{column}": {error}'), message

    rows[136][EVIDENCE_HEADER.index(column)] = good
    workbook(path, {"evidence": rows})
    assert imported(database, path) == (
        f'Imported 200 evidence rows from {path} sheet "evidence" as import 1 (evidence 1 to 200): '
        "200 evidence rows, 267 evidence links, 201 events"
    )
    listed = evidence(database)
    assert len(listed) == 200
    first = next(item for item in listed if item["title"] == f"{KHMER[0]} 1")
    assert (first["observed_on"], first["kind"], first["sensitivity"]) == ("2019-07-01", "inspection", "public")
    assert [link["ref"] for link in first["recommendations"]] == ["prosecute-convict", "undercover-techniques"]
    assert {item["kind"] for item in listed} == {
        "inspection",
        "law",
        "ngo_report",
    }  # stored as the vocabulary spells it
    assert {item["sensitivity"] for item in listed} == {"public", "internal"}
    assert_verifies(database)


def test_a_sheet_imports_as_the_same_rows_as_a_csv_file(make_url_for, tmp_path):
    rows = evidence_rows(30)
    from_sheet, from_csv = Database(make_url_for("loaded")), Database(make_url_for("loaded"))
    try:
        imported(from_sheet, workbook(tmp_path / "kilns.xlsx", {"Sheet1": rows}))
        imported(from_csv, write(tmp_path / "kilns.csv", as_csv(rows)))
        assert evidence(from_sheet) == evidence(from_csv)
        payloads = [
            [e["payload"] for e in read(db, queries.log) if e["action"] == "evidence.add"]
            for db in (from_sheet, from_csv)
        ]
        assert len(payloads[0]) == 30 and payloads[0] == payloads[1]  # every row's event, byte for byte
    finally:
        from_sheet.dispose()
        from_csv.dispose()


def test_cells_are_read_as_a_csv_file_holds_them(database, url, tmp_path):
    with clock.frozen(datetime(2019, 8, 1, tzinfo=UTC)):
        add_evidence(database, ["labor-inspections"], "Kilns", "2019-07-30", "inspection")
    statuses = workbook(
        tmp_path / "status.xlsx",
        {
            "status": [
                ["Rec", "Status", "Effective_On", "Note", "Evidence", None, None],  # trailing empty header cells
                ["labor-inspections", "In_Progress", date(2019, 8, 2), "Three provinces", 1],  # an id as a number
                [None, None, None, None, None],  # a blank row in the middle
                ["undercover-techniques", "not_started", datetime(2019, 8, 3), 2019, None],  # a number as a note
                [],
                [None, "  ", None],  # blank rows at the end
            ]
        },
    )
    assert "Imported 2 status updates" in imported(database, statuses)
    with clock.frozen(NOW):
        history = read(database, lambda s: queries.status_history(s, "labor-inspections"))
        undercover = read(database, lambda s: queries.status_history(s, "undercover-techniques"))
    assert [(h["status"], h["effective_on"], h["note"], h["evidence"]) for h in history] == [
        ("in_progress", "2019-08-02", "Three provinces", [1])
    ]
    assert [(h["status"], h["note"]) for h in undercover] == [("not_started", "2019")]

    values = workbook(
        tmp_path / "values.xlsx",
        {
            "values": [
                ["indicator", "quarter", "value"],
                ["kiln-inspections", "2019Q3", 12.0],
                ["convictions", "2019Q2", 3.5],
            ]
        },
    )
    assert "Imported 2 measurements" in imported(database, values)
    with clock.frozen(NOW):
        kilns = read(database, lambda s: queries.indicator_detail(s, "kiln-inspections"))
    assert [(m["quarter"], m["value"]) for m in kilns["measurements"]] == [("2019Q3", 12.0)]

    beyond = workbook(
        tmp_path / "beyond.xlsx",
        {"evidence": [["rec", "title", "date", "kind"], ["labor-inspections", "Kilns", date(2019, 8, 1), "law", "x"]]},
    )
    assert refused(database, url, beyond) == (
        f'{beyond} sheet "evidence", row 2: a value in column E, which has no header: '
        "name the column in the first row, or clear the cell"
    )
    blank = workbook(tmp_path / "blank.xlsx", {"evidence": [["rec", "title", None, "date", "kind"]]})
    assert refused(database, url, blank) == (
        f'{blank} sheet "evidence", row 1: column C has no name in the header: name it, or remove the column'
    )


def test_the_sheet_imported_is_the_first_with_a_header_of_a_kind(database, url, tmp_path):
    notes = [["How to fill in this workbook"], ["One row per piece of evidence."]]
    rows = evidence_rows(3)
    path = workbook(tmp_path / "book.xlsx", {"notes": notes, "evidence": rows, "lists": [["law"], ["policy"]]})
    assert f'Imported 3 evidence rows from {path} sheet "evidence"' in imported(database, path)

    statuses = [["rec", "status", "effective_on", "note"], ["labor-inspections", "in_progress", date(2019, 9, 1), "x"]]
    both = workbook(tmp_path / "both.xlsx", {"evidence": evidence_rows(2), "status": statuses})
    assert refused(database, url, both) == (
        f'{both}: sheets "evidence" and "status" both have the header of a file to import; '
        'pass --sheet NAME to import one of them (e.g. --sheet "evidence")'
    )
    assert refused(database, url, both, sheet="values") == (
        f'{both}: no sheet "values"; its sheets are "evidence", "status"'
    )
    assert "Imported 1 status update" in imported(database, both, sheet="Status")  # a sheet's name, in any case
    with clock.frozen(NOW), pytest.raises(Conflict, match="to import another sheet of it, pass --again"):
        importing.import_file(database, both, actor=ACTOR, sheet="evidence")  # the workbook is one file
    assert "Imported 2 evidence rows" in imported(database, both, sheet="evidence", again=True)

    unknown = workbook(tmp_path / "unknown.xlsx", {"empty": [], "data": [["ref", "headline", "when"], ["a", "b", "c"]]})
    assert refused(database, url, unknown).startswith(f'{unknown} sheet "data", row 1: header not recognised')
    empty = workbook(tmp_path / "empty.xlsx", {"Sheet1": []})
    assert refused(database, url, empty) == (
        f"{empty}: every sheet is empty; a sheet's first row must be its header, e.g. rec,title,date,kind"
    )
    header_only = workbook(tmp_path / "header.xlsx", {"evidence": [EVIDENCE_HEADER]})
    assert refused(database, url, header_only) == (
        f'{header_only} sheet "evidence": has a header but no rows; nothing to import'
    )
    with pytest.raises(InputError, match="--sheet chooses a sheet of an .xlsx file"):
        importing.import_file(database, write(tmp_path / "x.csv", as_csv(rows)), actor=ACTOR, sheet="evidence")


def test_files_that_are_no_workbook_are_refused(database, url, tmp_path):
    fake = write(tmp_path / "fake.xlsx", as_csv(evidence_rows(2)))
    assert refused(database, url, fake).startswith(f"{fake}: not an Excel workbook that can be read (")
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    assert refused(database, url, old) == (
        f"{old}: is an Excel 97-2003 workbook (.xls); save it as an Excel workbook (.xlsx) or as CSV UTF-8, "
        "then import that"
    )
    # a workbook saved without its extension is still a workbook
    unnamed = tmp_path / "kilns"
    unnamed.write_bytes(workbook(tmp_path / "kilns.xlsx", {"evidence": evidence_rows(2)}).read_bytes())
    assert "Imported 2 evidence rows" in imported(database, unnamed)


class Shown:
    """A :data:`tracker.progress.Progress` that keeps what it was asked to show."""

    def __init__(self) -> None:
        self.bars: list[tuple[str, int, int]] = []

    @contextlib.contextmanager
    def __call__(self, total: int, label: str) -> Iterator[Callable[[int], None]]:
        done: list[int] = []
        yield done.append
        self.bars.append((label, total, sum(done)))


def test_a_long_workbook_shows_its_progress(database, tmp_path):
    path = workbook(tmp_path / "long.xlsx", {"evidence": evidence_rows(3_000) + [[None] * 8] * 3})
    shown = Shown()
    with clock.frozen(NOW):
        importing.import_file(database, path, actor=ACTOR, progress=shown)
    assert shown.bars == [("Checking long.xlsx", 3_004, 3_004), ("Importing long.xlsx", 3_000, 3_000)]


# CSV files: delimiters, vocabularies in any case, unknown columns, dates --------------------------------


def test_semicolons_and_tabs_separate_columns_too(database, url, tmp_path):
    semicolons = write(
        tmp_path / "semicolons.csv",
        "rec;title;date;kind;sensitivity\n"
        "labor-inspections;Kandal kilns, 12 inspected;2019-07-30;Inspection;PUBLIC\n"
        'undercover-techniques;"Draft law; article 12";2019-08-14;Law;Internal\n',
    )
    assert "Imported 2 evidence rows" in imported(database, semicolons)
    listed = evidence(database)
    assert [(e["title"], e["kind"], e["sensitivity"]) for e in listed] == [
        ("Kandal kilns, 12 inspected", "inspection", "public"),
        ("Draft law; article 12", "law", "internal"),
    ]
    tabs = write(
        tmp_path / "tabs.csv",
        "rec\tstatus\teffective_on\tnote\tevidence\n"
        "labor-inspections\tIn_Progress\t2019-08-01\tKilns, brick and tile\t1;2\n",
    )
    assert "Imported 1 status update" in imported(database, tabs)
    with clock.frozen(NOW):
        history = read(database, lambda s: queries.status_history(s, "labor-inspections"))
    assert [(h["status"], h["note"], h["evidence"]) for h in history] == [
        ("in_progress", "Kilns, brick and tile", [1, 2])
    ]

    mixed = write(tmp_path / "mixed.csv", "rec;title,date;kind\nlabor-inspections;Kilns,2019-07-30;law\n")
    assert refused(database, url, mixed) == (
        f"{mixed} line 1: cannot tell how the columns are separated: the header holds commas and semicolons; "
        "separate them with one of commas, semicolons or tabs, the same on every line"
    )
    short = write(tmp_path / "short.csv", "rec;title;date;kind\nlabor-inspections;Kilns;2019-07-30\n")
    assert refused(database, url, short) == (
        f"{short} line 2: 3 fields, but the header has 4 columns (quote a field that contains a semicolon)"
    )


def test_a_correction_file_reads_vocabularies_in_any_case(database, tmp_path):
    with clock.frozen(datetime(2019, 8, 1, tzinfo=UTC)):
        add_evidence(database, ["labor-inspections"], "Kilns", "2019-07-30", "inspection")
    path = write(tmp_path / "fix.csv", "record,field,value,reason\nevidence/1,kind,Court_Case,The verdict came first\n")
    assert "Imported 1 correction" in imported(database, path)
    assert evidence(database)[0]["kind"] == "court_case"


def test_an_unknown_column_is_refused_unless_ignored(database, url, tmp_path):
    path = write(
        tmp_path / "colour.csv",
        "rec,title,date,kind,Colour,checked by\nlabor-inspections,Kilns,2019-07-30,law,red,Sok\n",
    )
    assert refused(database, url, path) == (
        f"{path} line 1: unknown column 'colour' in an evidence file "
        "(its columns: rec,title,date,kind,stance,url,summary,source_name,reliability,sensitivity,for); "
        "pass --ignore-column colour to import the file without it"
    )
    assert "pass --ignore-column 'checked by'" in refused(database, url, path, ignore=["colour"])
    assert "Imported 1 evidence row" in imported(database, path, ignore=["COLOUR", "checked by"])
    assert [e["title"] for e in evidence(database)] == ["Kilns"]

    assert refused(database, url, path, ignore=["colour", "checked by", "title"], again=True) == (
        "--ignore-column title: title is a column of an evidence file, which tracker imports; "
        "only a column tracker does not know can be left out"
    )
    sheet = workbook(tmp_path / "colour.xlsx", {"evidence": [["rec", "title", "date", "kind", "colour"]]})
    assert "pass --ignore-column colour" in refused(database, url, sheet)


@pytest.mark.parametrize(
    "written, hint",
    [
        ("14/08/2019", "write the date as YYYY-MM-DD: 2019-08-14"),
        ("8/14/2019", "write the date as YYYY-MM-DD: 2019-08-14"),
        ("14.08.2019", "write the date as YYYY-MM-DD: 2019-08-14"),
        (
            "03/04/2019",
            "write the date as YYYY-MM-DD: 2019-04-03 if it is day/month/year, 2019-03-04 if it is month/day/year",
        ),
        ("2019/08/14", "write the date as YYYY-MM-DD: 2019-08-14"),
        ("31/02/2019", "write the date as YYYY-MM-DD; no such day in the calendar"),
    ],
)
def test_a_day_is_written_yyyy_mm_dd_and_never_guessed(database, url, tmp_path, written, hint):
    path = write(tmp_path / "dates.csv", f"rec,title,date,kind\nlabor-inspections,Kilns,{written},law\n")
    assert refused(database, url, path) == f"{path} line 2: invalid date '{written}': {hint}"
    status = write(
        tmp_path / "status.csv", f"rec;status;effective_on;note\nlabor-inspections;in_progress;{written};Began\n"
    )
    assert refused(database, url, status).startswith(f"{status} line 2: invalid effective_on '{written}': ")


# Templates -------------------------------------------------------------------------------------------


def fill_in(path: Path, changes: dict[str, str]) -> None:
    """Change the example row of a template, as someone filling it in does."""
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path)
        sheet = book.active
        header = [cell.value for cell in sheet[1]]
        for column, value in changes.items():
            sheet.cell(2, header.index(column) + 1).value = value
        book.save(path)
        return
    header, example = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    for column, value in changes.items():
        example[header.index(column)] = value
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header, example])
    write(path, text.getvalue())


FILLED = {
    "evidence": {"title": "MoLVT inspects 15 brick kilns in Kandal"},
    "status": {"note": "Kiln inspections resumed"},
    "measurement": {"value": "15"},
    "correction": {"value": "MoLVT inspects 15 brick kilns", "reason": "The count was 15"},
}


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_template_filled_in_imports(run, url, tmp_path, file_format):
    database = Database(url)
    with clock.frozen(datetime(2019, 8, 20, tzinfo=UTC)):
        add_evidence(database, ["labor-inspections"], "Kilns", "2019-08-14", "inspection")  # evidence 1
    for kind, changes in FILLED.items():
        path = tmp_path / f"{kind}.{file_format}"
        made = run("import", "--template", kind, "-o", path)
        assert made.exit_code == 0, made.output
        assert made.stdout == ""
        assert made.stderr == (
            f"Wrote the template {path} ({file_format}): replace its example row with yours, "
            f"then `tracker import {path}`\n"
        )
        fill_in(path, changes)
        with clock.frozen(NOW):
            result = run("import", path)
        assert result.exit_code == 0, result.output
        assert result.stderr.startswith("Imported 1 "), result.stderr
    listed = evidence(database)
    assert [(e["id"], e["title"], e["kind"], e["observed_on"], e["source_name"]) for e in listed] == [
        (1, "MoLVT inspects 15 brick kilns", "inspection", "2019-08-14", None),  # corrected
        (2, "MoLVT inspects 15 brick kilns in Kandal", "inspection", "2019-08-14", "MoLVT press release"),
    ]
    with clock.frozen(NOW):
        kilns = read(database, lambda s: queries.indicator_detail(s, "kiln-inspections"))
        history = read(database, lambda s: queries.status_history(s, "labor-inspections"))
    assert [(m["quarter"], m["value"]) for m in kilns["measurements"]] == [("2019Q3", 15.0)]
    assert [(h["status"], h["effective_on"], h["note"]) for h in history] == [
        ("in_progress", "2019-09-30", "Kiln inspections resumed")
    ]
    assert_verifies(database)
    database.dispose()


def test_the_workbook_template_lists_each_vocabulary(tmp_path):
    expected = {
        "evidence": {"kind": vocab.EvidenceKind, "stance": vocab.Stance, "reliability": vocab.Reliability,
                     "sensitivity": vocab.Sensitivity},
        "status": {"status": vocab.Status},
        "measurement": {},
        "correction": {},
    }  # fmt: skip
    for kind, lists in expected.items():
        path = tmp_path / f"{kind}.xlsx"
        path.write_bytes(importing.template(kind, "xlsx"))
        sheet = openpyxl.load_workbook(path).active
        header = [cell.value for cell in sheet[1]]
        assert header == list(importing.TEMPLATE_KINDS[kind].columns)
        found = {}
        for check in sheet.data_validations.dataValidation:
            letter = str(check.sqref).split(":")[0].rstrip("0123456789")
            column = header[openpyxl.utils.column_index_from_string(letter) - 1]
            assert str(check.sqref) == f"{letter}2:{letter}1048576" and check.type == "list"
            found[column] = check.formula1.strip('"').split(",")
        assert found == {column: [member.value for member in enum] for column, enum in lists.items()}, kind
    evidence_sheet = openpyxl.load_workbook(tmp_path / "evidence.xlsx").active
    assert evidence_sheet["C2"].value == datetime(2019, 8, 14)  # a date cell, shown as YYYY-MM-DD
    assert evidence_sheet["C2"].number_format == "yyyy-mm-dd"


def test_the_csv_template(tmp_path):
    content = importing.template("status update", "csv")
    assert (
        content
        == (
            "\ufeffrec,status,effective_on,note,evidence,assessor,for\nlabor-inspections,in_progress,2019-09-30,"
            "First kiln inspections since 2017,,,\n"
        ).encode()
    )


def test_the_template_command_refuses_what_it_cannot_write(run, tmp_path):
    existing = write(tmp_path / "evidence.csv", "keep me")
    refused_ = run("import", "--template", "evidence", "-o", existing)
    assert refused_.exit_code == 2 and refused_.stdout == "", refused_.output
    assert refused_.stderr == f"Error: -o {existing}: already exists; pass --force to overwrite it\n"
    assert existing.read_text() == "keep me"
    assert run("import", "--template", "evidence", "-o", existing, "--force").exit_code == 0
    assert existing.read_text(encoding="utf-8-sig").startswith("rec,title,date,kind,")

    cases = {
        ("--template", "rumours", "-o", tmp_path / "x.csv"): (
            "unknown template kind 'rumours': use one of evidence, status, measurement, correction"
        ),
        ("--template", "evidence"): "--template evidence needs -o FILE: where to write the template",
        ("--template", "evidence", "--format", "pdf", "-o", tmp_path / "x.pdf"): (
            "unknown --format 'pdf' for a template: use csv or xlsx"
        ),
        ("--template", "evidence", "--format", "csv", "-o", tmp_path / "x.xlsx"): (
            f"-o {tmp_path / 'x.xlsx'}: a csv template in a .xlsx file would not import; name it .csv, "
            "or leave out --format"
        ),
        ("-o", tmp_path / "x.csv"): "-o and --format go with --template KIND, which writes a file to fill in",
        (existing, "--template", "evidence", "-o", tmp_path / "y.csv"): (
            f"--template writes a template and imports nothing: leave out {existing}"
        ),
        (): "give the FILE to import, or --template KIND -o FILE to write a file to fill in",
    }
    for args, error in cases.items():
        result = run("import", *args)
        assert result.exit_code == 2 and result.stdout == "", result.output
        assert result.stderr == f"Error: {error}\n"
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.xlsx").exists()
    made = run("import", "--template", "measurements", "-o", tmp_path / "m.xlsx")  # the format from the name
    assert made.exit_code == 0, made.output
    assert openpyxl.load_workbook(tmp_path / "m.xlsx").active.title == "measurement"


# The command line -------------------------------------------------------------------------------------


def test_the_import_command_with_a_workbook(run, url, tmp_path):
    rows = evidence_rows(200)
    rows[136][3] = "rumour"
    path = workbook(tmp_path / "evidence.xlsx", {"evidence": rows})
    before = dump(url)
    with clock.frozen(NOW):
        bad = run("import", path)
    assert bad.exit_code == 2 and bad.stdout == "", bad.output
    lines = bad.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f'Error: {path} sheet "evidence", row 137, column "kind": unknown kind \'rumour\''
    ), bad.stderr
    assert dump(url) == before

    csv_path = write(
        tmp_path / "colour.csv", "rec;title;date;kind;colour\nlabor-inspections;Kilns;2019-07-30;LAW;red\n"
    )
    with clock.frozen(NOW):
        ignored = run("import", csv_path, "--ignore-column", "colour", "--dry-run")
    assert ignored.exit_code == 0, ignored.output
    assert ignored.stdout.startswith(f"Would import 1 evidence row from {csv_path}: ")


def test_the_import_help_names_the_new_options():
    result = invoke(["import", "--help"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for option in ("--ignore-column NAME", "--sheet NAME", "--template KIND", "--format FORMAT", "-o, --output FILE"):
        assert option in text, option
    assert "Excel workbook (.xlsx: the first sheet whose first row is the header of a kind, or --sheet)" in text
    assert "semicolons or tabs" in text and "evidence, status, measurement or correction" in text


LOADED = """
import json, sys
from tracker import cli
try:
    cli.main(sys.argv[1:])
except SystemExit as exit_:
    assert exit_.code in (0, None), exit_.code
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
"""


def loaded_by(*args: str | Path) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after ``tracker ARGS``."""
    result = subprocess.run(
        [sys.executable, "-c", LOADED, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_openpyxl_is_loaded_for_workbooks_only(url, tmp_path):
    rows = evidence_rows(2)
    csv_path = write(tmp_path / "kilns.csv", as_csv(rows))
    assert "openpyxl" not in loaded_by("--db", url, "import", csv_path, "--dry-run")
    assert "openpyxl" not in loaded_by("--db", url, "import", "--template", "evidence", "-o", tmp_path / "t.csv")
    assert "openpyxl" in loaded_by("--db", url, "import", workbook(tmp_path / "kilns.xlsx", {"e": rows}), "--dry-run")
