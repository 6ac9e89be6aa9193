"""CSV and XLSX for spreadsheets: the byte-order mark, the list commands' --format, workbooks.

- Every CSV output (the three reports, ``due``, ``evidence list``, ``status history``)
  starts with a UTF-8 byte-order mark, on stdout and in the -o file, and has none with
  ``--no-bom``; ``--no-bom`` with another format is refused. Khmer text comes back as it
  went in.
- ``--format xlsx`` writes a workbook that openpyxl reads back: bold frozen header, ids as
  numbers, dates as date cells; the same rows give the same bytes; a title that starts
  with ``=`` is text, never a formula; a workbook is never written to a terminal.

SQLite and PostgreSQL: the rows come from the database.
"""

from __future__ import annotations

import csv
import io
import os
import pty
import stat
import subprocess
import sys
import time
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tracker import clock, queries, services
from tracker.errors import InputError
from tracker.render import render, sheets
from tracker.store.database import Database

from conftest import add_evidence, read, template, write

ROOT = Path(__file__).resolve().parent.parent
BOM = b"\xef\xbb\xbf"
KHMER_TITLE = "ក្រសួងការងារ ត្រួតពិនិត្យឡឥដ្ឋ ២០១៩"
KHMER_NOTE = "ការត្រួតពិនិត្យបានចាប់ផ្តើមនៅខេត្តកណ្តាល"
FORMULAS = ('=HYPERLINK("http://example.org","click")', "+SUM(A1)", "＝1+1")
T1, T2, T3 = (datetime(2019, 10, day, 9, 30, 15, tzinfo=UTC) for day in (2, 3, 4))
AS_OF = "2019-12-31"


def fill(database: Database, _folder: Path) -> None:
    """Khmer evidence, formula-like titles (one confidential, retracted later), two assessments
    (one citing the evidence retracted later, one withdrawn)."""
    with clock.frozen(T1):
        khmer = add_evidence(
            database,
            ["labor-inspections", "prosecute-convict"],
            KHMER_TITLE,
            "2019-08-14",
            "inspection",
            source_name="ក្រសួងការងារ និងបណ្តុះបណ្តាលវិជ្ជាជីវៈ",
            sensitivity="public",
        )
        formula, plus, wide = (
            add_evidence(database, ["labor-inspections"], title, f"2019-09-0{n}", "media_report", **extra)
            for n, (title, extra) in enumerate(
                zip(FORMULAS, ({"stance": "setback"}, {"sensitivity": "confidential"}, {})), start=1
            )
        )
        write(
            database,
            services.set_status,
            "labor-inspections",
            "in_progress",
            effective_on="2019-09-30",
            note=KHMER_NOTE,
            evidence_ids=[khmer, plus],
            actor="sophea",
        )
    with clock.frozen(T2):
        wrong = database.write(
            lambda session: (
                services.set_status(
                    session,
                    "labor-inspections",
                    "implemented",
                    effective_on="2019-09-30",
                    note="@SUM(1) typed in the wrong recommendation",
                    actor="sophea",
                ).id
            )
        )
    with clock.frozen(T3):
        write(database, services.withdraw_status, wrong, "Wrong recommendation", actor="sophea")
        write(database, services.retract_evidence, plus, "Duplicate", actor="sophea")
    assert (khmer, formula, plus, wide) == (1, 2, 3, 4)


LISTS = template("spreadsheet-lists", fill)


@pytest.fixture
def lists_url(make_url_for) -> str:
    return make_url_for(LISTS)


def tracker(url: str, *args: str) -> tuple[int, bytes, str]:
    """Run ``tracker --db URL ARGS`` in process: (exit code, stdout as bytes, stderr)."""
    from typer.testing import CliRunner

    from tracker import cli

    with CliRunner().isolation() as (stdout, stderr, _mixed):
        try:
            cli.main(["--db", url, *args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        return code, stdout.getvalue(), stderr.getvalue().decode()


def one_error(code: int, stdout: bytes, stderr: str, *fragments: str) -> None:
    assert code == 2 and stdout == b"", (code, stdout, stderr)
    assert len(stderr.splitlines()) == 1 and stderr.startswith("Error: "), stderr
    for fragment in fragments:
        assert fragment in stderr, stderr


# The byte-order mark ------------------------------------------------------------------------------

CSV_OUTPUTS = {
    "quarterly": ["report", "quarterly", "2019Q3", "--as-of", AS_OF, "--format", "csv"],
    "timeline": ["report", "timeline", "--from", "2019Q3", "--to", "2019Q4", "--as-of", AS_OF, "--format", "csv"],
    "editions": ["report", "editions", "--as-of", AS_OF, "--format", "csv"],
    "due": ["due", "--as-of", AS_OF, "--format", "csv"],
    "evidence list": ["evidence", "list", "--include-retracted", "--format", "csv"],
    "status history": ["status", "history", "labor-inspections", "--format", "csv"],
}
WITH_OUTPUT = {"quarterly", "timeline", "editions", "evidence list", "status history"}  # due has no -o


def library_csv(url: str, name: str) -> str:
    """The CSV text the library renders for ``CSV_OUTPUTS[name]``."""
    from tracker import due, reports
    from tracker.periods import Quarter, parse_as_of
    from tracker.render import digest
    from tracker.reports import editions

    moment, database = parse_as_of(AS_OF), Database(url)
    try:
        if name == "quarterly":
            return render(read(database, reports.quarterly, Quarter.parse("2019Q3"), as_of=moment), "csv")
        if name == "timeline":
            report = read(
                database, reports.timeline, first=Quarter.parse("2019Q3"), last=Quarter.parse("2019Q4"), as_of=moment
            )
            return render(report, "csv")
        if name == "editions":
            return render(read(database, editions.editions, as_of=moment), "csv")
        if name == "due":
            return digest.render(read(database, due.digest, as_of=moment, within=30), "csv")
        if name == "evidence list":
            return sheets.csv_text(sheets.EVIDENCE, read(database, queries.evidence_list, include_retracted=True))
        return sheets.csv_text(sheets.STATUS_HISTORY, read(database, queries.status_history, "labor-inspections"))
    finally:
        database.dispose()


@pytest.mark.parametrize("name", sorted(CSV_OUTPUTS))
def test_every_csv_output_starts_with_a_byte_order_mark_unless_no_bom(name, lists_url, tmp_path):
    expected = library_csv(lists_url, name).encode("utf-8")
    assert not expected.startswith(BOM)
    code, marked, stderr = tracker(lists_url, *CSV_OUTPUTS[name])
    assert (code, stderr) == (0, "")
    assert marked == BOM + expected
    code, plain, stderr = tracker(lists_url, *CSV_OUTPUTS[name], "--no-bom")
    assert (code, stderr) == (0, "")
    assert plain == expected
    if name in WITH_OUTPUT:
        for extra, content in (([], marked), (["--no-bom"], plain)):
            target = tmp_path / f"{name}{len(extra)}.csv"
            code, stdout, stderr = tracker(lists_url, *CSV_OUTPUTS[name], *extra, "-o", str(target))
            assert (code, stdout, stderr) == (0, b"", f"Wrote {target}\n")
            assert target.read_bytes() == content


NOT_CSV = [
    ["report", "quarterly", "2019Q3", "--format", "md"],
    ["report", "quarterly", "2019Q3", "--format", "json", "-o", "{target}"],
    ["report", "timeline"],
    ["report", "editions", "--format", "html"],
    ["due"],
    ["due", "--json"],
    ["evidence", "list"],
    ["evidence", "list", "--format", "xlsx", "-o", "{target}"],
    ["evidence", "list", "--json"],
    ["status", "history", "labor-inspections", "--format", "json"],
]


@pytest.mark.parametrize("args", NOT_CSV, ids=" ".join)
def test_no_bom_with_another_format_than_csv_is_refused(args, lists_url, tmp_path):
    target = tmp_path / "out"
    code, stdout, stderr = tracker(lists_url, *[a.format(target=target) for a in args], "--no-bom")
    one_error(code, stdout, stderr, "--no-bom is for --format csv only")
    assert not target.exists()


def test_khmer_text_comes_back_from_the_csv_and_the_workbook(lists_url, tmp_path):
    code, content, _ = tracker(lists_url, "evidence", "list", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    assert rows[0]["title"] == KHMER_TITLE
    assert rows[0]["source_name"] == "ក្រសួងការងារ និងបណ្តុះបណ្តាលវិជ្ជាជីវៈ"
    code, content, _ = tracker(lists_url, "status", "history", "labor-inspections", "--format", "csv")
    assert next(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))["note"] == KHMER_NOTE
    assert workbook(lists_url, tmp_path, "evidence", "list")[1][3].value == KHMER_TITLE


# Workbooks -------------------------------------------------------------------------------------------


def workbook(url: str, folder: Path, *args: str):
    """The sheet ``tracker ARGS --format xlsx -o FILE`` writes, as openpyxl reads it: its rows of cells."""
    from openpyxl import load_workbook

    target = folder / "list.xlsx"
    code, stdout, stderr = tracker(url, *args, "--format", "xlsx", "-o", str(target))
    assert (code, stdout, stderr) == (0, b"", f"Wrote {target}\n")
    book = load_workbook(target)
    assert book.sheetnames == [book.active.title]
    sheet = book.active
    assert sheet.freeze_panes == "A2"
    return [list(row) for row in sheet.iter_rows()]


def test_an_evidence_list_workbook_has_the_header_the_rows_and_typed_cells(lists_url, tmp_path):
    from openpyxl import load_workbook

    rows = workbook(lists_url, tmp_path, "evidence", "list", "--include-retracted")
    header = [cell.value for cell in rows[0]]
    assert header == [column.name for column in sheets.EVIDENCE.columns]
    assert all(cell.font.b for cell in rows[0])
    assert not any(cell.font.b for cell in rows[1])
    records = read(Database(lists_url), queries.evidence_list, include_retracted=True)
    assert [row[0].value for row in rows[1:]] == [r["id"] for r in records] == [1, 2, 3, 4]
    values = [{name: cell.value for name, cell in zip(header, row)} for row in rows[1:]]
    first, _, retracted, _ = values
    assert first["refs"] == ";".join(link["ref"] for link in records[0]["recommendations"])  # as the JSON has them
    assert sorted(first["refs"].split(";")) == ["labor-inspections", "prosecute-convict"]
    assert first["stances"] == "progress;progress"
    assert first["corrected"] is False and first["attachments"] == 0 and first["url"] is None
    assert first["recorded_at"] == T1.replace(tzinfo=None) and first["recorded_by"] == "tester"
    assert retracted["retracted_at"] == T3.replace(tzinfo=None) and retracted["retraction_reason"] == "Duplicate"
    assert retracted["sensitivity"] == "confidential" and values[1]["stances"] == "setback"
    observed = [row[header.index("observed_on")] for row in rows[1:]]
    assert all(cell.is_date and cell.number_format == "yyyy-mm-dd" for cell in observed)
    assert [cell.value.date() for cell in observed] == [date.fromisoformat(r["observed_on"]) for r in records]
    assert all(isinstance(row[0].value, int) and row[0].data_type == "n" for row in rows[1:])
    widths = load_workbook(tmp_path / "list.xlsx").active.column_dimensions
    assert 4 <= widths["A"].width < widths["D"].width <= 62  # id narrow, title wide, none wider than 62


def test_a_status_history_workbook_marks_withdrawn_assessments_and_retracted_evidence(lists_url, tmp_path):
    rows = workbook(lists_url, tmp_path, "status", "history", "labor-inspections")
    header = [cell.value for cell in rows[0]]
    assert header == [column.name for column in sheets.STATUS_HISTORY.columns]
    values = [{name: cell.value for name, cell in zip(header, row)} for row in rows[1:]]
    assert [(v["id"], v["status"], v["evidence"], v["retracted_evidence"]) for v in values] == [
        (1, "in_progress", "1;3", "3"),
        (2, "implemented", None, None),
    ]
    assert values[0]["effective_on"] == datetime(2019, 9, 30) and rows[1][2].is_date
    assert values[0]["withdrawn_at"] is None
    assert (values[1]["withdrawn_at"], values[1]["withdrawal_reason"]) == (
        T3.replace(tzinfo=None),
        "Wrong recommendation",
    )


def test_the_same_rows_give_the_same_workbook_bytes_whenever_it_is_made(lists_url, tmp_path, monkeypatch):
    records = read(Database(lists_url), queries.evidence_list, include_retracted=True)
    first = sheets.xlsx(sheets.EVIDENCE, records)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 86_400 * 400)  # the zip's clock, 400 days on
    time.sleep(2.1)  # and the files openpyxl writes get a later time too
    assert sheets.xlsx(sheets.EVIDENCE, records) == first
    monkeypatch.undo()
    target = tmp_path / "evidence.xlsx"
    assert tracker(lists_url, "evidence", "list", "--include-retracted", "--format", "xlsx", "-o", str(target))[0] == 0
    assert target.read_bytes() == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        # every entry dated by the newest time in the rows (the retraction's), to the zip's 2 seconds
        assert {entry.date_time for entry in archive.infolist()} == {(2019, 10, 4, 9, 30, 14)}
        core = archive.read("docProps/core.xml").decode()
    assert "<dcterms:created" in core and core.count("2019-10-04T09:30:15Z") == 2
    empty = sheets.xlsx(sheets.EVIDENCE, [])
    with zipfile.ZipFile(io.BytesIO(empty)) as archive:
        assert {entry.date_time for entry in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_a_formula_is_text_in_the_csv_and_the_workbook(lists_url, tmp_path):
    code, content, _ = tracker(lists_url, "evidence", "list", "--include-retracted", "--format", "csv")
    titles = [row["title"] for row in csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline=""))]
    assert titles == [KHMER_TITLE, *("'" + title for title in FORMULAS)]
    rows = workbook(lists_url, tmp_path, "evidence", "list", "--include-retracted")
    cells = [row[3] for row in rows[1:]]
    assert [cell.value for cell in cells] == [KHMER_TITLE, *FORMULAS]  # as recorded, no "'"
    assert all(cell.data_type == "s" for cell in cells)
    assert [cell.quotePrefix for cell in cells] == [False, True, True, True]
    with zipfile.ZipFile(tmp_path / "list.xlsx") as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet and "HYPERLINK" in sheet
    history = workbook(lists_url, tmp_path, "status", "history", "labor-inspections")
    assert history[2][4].value.startswith("@SUM") and history[2][4].data_type == "s" and history[2][4].quotePrefix


def test_a_workbook_holds_at_most_what_excel_opens():
    long_note = "ក្រ" * 12_000  # 36,000 characters
    record = {
        "id": 1,
        "ref": "x",
        "effective_on": "2019-09-30",
        "status": "in_progress",
        "note": long_note,
        "evidence": [],
        "retracted_evidence": [],
        "recorded_at": "2019-10-04T09:00:00.000000Z",
        "recorded_by": "tester",
        "withdrawn": None,
    }
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(sheets.xlsx(sheets.STATUS_HISTORY, [record])))
    note = book.active.cell(row=2, column=5).value
    assert len(note) <= sheets.MAX_CELL and note.endswith("--format csv or json has the whole text]")
    assert long_note.startswith(note[: note.index(" [")]) and note[: note.index(" [")].endswith("ក្រ")
    with pytest.raises(InputError, match="do not fit in a worksheet"):
        sheets.xlsx(sheets.STATUS_HISTORY, [record] * sheets.MAX_ROWS)


def on_a_terminal(url: str, *args: str) -> tuple[int, bytes, bytes]:
    """Run tracker with stdout on a pseudo-terminal: (exit code, what the terminal showed, stderr)."""
    terminal, stdout_end = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", "from tracker import cli; cli.main()", "--db", url, *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=stdout_end,
        stderr=subprocess.PIPE,
    )
    os.close(stdout_end)
    shown = b""
    try:
        while True:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            shown += chunk
        code = process.wait(timeout=120)
        stderr = process.stderr.read()
    finally:
        process.stderr.close()
        os.close(terminal)
    return code, shown, stderr


@pytest.mark.parametrize("args", [["evidence", "list"], ["status", "history", "labor-inspections"]], ids=" ".join)
def test_a_workbook_is_refused_to_a_terminal_and_written_to_a_pipe(args, lists_url, tmp_path):
    code, shown, stderr = on_a_terminal(lists_url, *args, "--format", "xlsx")
    assert (code, shown) == (2, b""), stderr
    assert stderr.decode().splitlines() == [
        "Error: --format xlsx writes a binary file, not text for a terminal: give -o FILE"
    ]
    piped = subprocess.run(
        [sys.executable, "-c", "from tracker import cli; cli.main()", "--db", lists_url, *args, "--format", "xlsx"],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert (piped.returncode, piped.stderr) == (0, b"")
    target = tmp_path / "list.xlsx"
    assert tracker(lists_url, *args, "--format", "xlsx", "-o", str(target))[0] == 0
    assert piped.stdout == target.read_bytes() and zipfile.is_zipfile(io.BytesIO(piped.stdout))


# --format, --json and -o of the lists ------------------------------------------------------------------


def test_the_lists_take_json_as_before_and_as_a_format_and_write_any_format_to_o(lists_url, tmp_path):
    for args in (["evidence", "list"], ["status", "history", "labor-inspections"]):
        code, by_option, _ = tracker(lists_url, *args, "--json")
        assert code == 0
        assert tracker(lists_url, *args, "--format", "json")[1] == by_option
        assert tracker(lists_url, *args, "--format", " JSON ")[1] == by_option
        table = tracker(lists_url, *args)[1]
        assert tracker(lists_url, *args, "--format", "table")[1] == table and table.startswith(b"ID ")
        for form, content in (("json", by_option), ("table", table)):
            target = tmp_path / f"{args[0]}.{form}"
            assert tracker(lists_url, *args, "--format", form, "-o", str(target))[:2] == (0, b"")
            assert target.read_bytes() == content
        one_error(*tracker(lists_url, *args, "--json", "--format", "csv"), "give --json or --format, not both")
        one_error(*tracker(lists_url, *args, "--format", "docx"), "unknown --format 'docx'", "xlsx")


def test_a_list_file_with_confidential_evidence_is_readable_by_its_owner_only(lists_url, tmp_path):
    everything, public = tmp_path / "all.csv", tmp_path / "public.csv"
    assert (
        tracker(lists_url, "evidence", "list", "--include-retracted", "--format", "csv", "-o", str(everything))[0] == 0
    )
    assert tracker(lists_url, "evidence", "list", "--format", "csv", "-o", str(public))[0] == 0  # 3 is retracted
    assert stat.S_IMODE(everything.stat().st_mode) == 0o600
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(public.stat().st_mode) == 0o666 & ~umask
