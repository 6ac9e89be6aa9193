"""Benchmark: ``tracker import`` of an Excel workbook against the same rows as CSV.

    python bench/run.py --only xlsx             # this row alone
    python bench/import_xlsx.py CSV XLSX        # the workbook of a CSV file's rows (what the row imports)

The workbook holds the rows of an evidence CSV file made by ``bench/generate.py`` (10,000
rows, fewer with ``--smoke``), as Excel saves them: one sheet, a header, the dates as date
cells, the rest as text. Both files are imported by the installed ``tracker`` into fresh
copies of the same catalog-only database, interleaved; the baseline is the CSV import,
measured in the same run. The workbook is read through openpyxl (read-only mode), then
checked and written by the same path as the CSV file, so the ratio is the price of
reading the sheet. The run checks that both imports stored the same evidence and that
both databases pass ``tracker verify``.
"""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROWS = 10_000
LIMIT = 3.0

# What both imports must have stored alike (not when: each import is stamped with its own time).
STORED = "SELECT id, title, kind, observed_on, source_name, url, summary, reliability, sensitivity FROM evidence"


def rows_for(sizes: Any) -> int:
    """10,000 rows, or the run's import size when it is smaller (``--smoke``)."""
    return min(ROWS, sizes.import_rows)


def bench(harness: ModuleType, sizes: Any, tracker: list[str], base_db: Path, out: Path, work: Path) -> list[Any]:
    """The metric: ``tracker import`` of the workbook, against ``tracker import`` of the same rows as CSV.

    ``harness`` is ``bench/run.py`` (its runner, cached files and comparison).
    """
    rows = rows_for(sizes)
    csv_file = harness.Generated(
        out / f"import-r{sizes.recs}-{rows}.csv",
        ["--recs", str(sizes.recs), "--evidence", str(rows), "--seed", "6", "--csv"],
        sqlite=False,
    ).result()
    xlsx_file = csv_file.with_suffix(".xlsx")
    if not xlsx_file.exists():
        partial = xlsx_file.with_suffix(".partial.xlsx")
        subprocess.run(
            [harness.PYTHON, str(HERE / "import_xlsx.py"), str(csv_file), str(partial)],
            check=True,
            env=harness.environment(),
        )
        partial.rename(xlsx_file)
    targets = {"xlsx": work / "import-xlsx.db", "csv": work / "import-xlsx-baseline.db"}
    commands = {
        "xlsx": [*tracker, "--db", str(targets["xlsx"]), "import", str(xlsx_file)],
        "csv": [*tracker, "--db", str(targets["csv"]), "import", str(csv_file)],
    }
    checked: dict[str, bool] = {}

    def before(label: str, _i: int) -> None:
        harness.copy_sqlite(base_db, targets[label])

    def after(label: str, _i: int) -> None:
        if label not in checked:
            result = subprocess.run(
                [*tracker, "--db", str(targets[label]), "verify"], capture_output=True, env=harness.environment()
            )
            checked[label] = result.returncode == 0

    samples = harness.interleave(commands, sizes.runs, before=before, after=after)
    metric = harness.compare(
        harness.Metric(
            f"bulk import, xlsx ({rows:,}-row evidence workbook)",
            "`tracker import` of the .xlsx",
            "`tracker import` of the same rows as CSV",
            f"<= {LIMIT:g}x",
        ),
        samples["xlsx"],
        samples["csv"],
        LIMIT,
    )
    same = _stored(targets["xlsx"]) == _stored(targets["csv"])
    verifies = all(checked.values())
    metric.note = ("the same evidence stored from both files" if same else "STORED ROWS DIFFER") + (
        "; both databases pass `tracker verify`" if verifies else "; a database did not verify"
    )
    if not (same and verifies):
        metric.met = False
    return [metric]


def _stored(db: Path) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(db)
    try:
        return connection.execute(f"{STORED} ORDER BY id").fetchall()
    finally:
        connection.close()


def workbook_of(csv_path: Path, xlsx_path: Path) -> None:
    """The rows of an evidence CSV file as a workbook saved by Excel: dates as date cells, blanks empty."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "evidence"
    with csv_path.open(newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        sheet.append(header)
        day = header.index("date")
        for record in reader:
            cells: list[Any] = [value or None for value in record]
            cells[day] = date.fromisoformat(record[day])
            sheet.append(cells)
    for (cell,) in sheet.iter_rows(min_row=2, min_col=day + 1, max_col=day + 1):
        cell.number_format = "yyyy-mm-dd"
    book.save(xlsx_path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split("\n\n")[1])
    workbook_of(Path(sys.argv[1]), Path(sys.argv[2]))
