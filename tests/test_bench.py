"""The benchmarks do not rot, and start-up stays lean.

A smoke run of ``bench/run.py`` (tiny sizes, one run each) must complete and write its
table with every metric. Nothing here asserts a time: the machines are shared and noisy,
and ``bench/run.py`` itself compares the tracker with baselines measured in the same run.
The smoke run takes minutes: it is marked ``slow``. The import checks run in a subprocess
and look at ``sys.modules``: ``tracker --help`` loads neither SQLAlchemy, Alembic, Jinja2,
matplotlib, python-docx, WeasyPrint nor openpyxl, database commands load no Alembic, and a
report loads python-docx or WeasyPrint only in the format that needs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parent.parent
METRICS = [
    "start-up",
    "database command: evidence add",
    "database command: rec list",
    "bulk import (",
    "bulk import vs sqlite-utils (",
    "bulk import, xlsx (",
    "quarterly report, json (",
    "quarterly report, md (",
    "quarterly report, html (",
    "report scaling: ",
    "report memory (",
    "timeline, json (",
    "verify (",
    "verify, one core (",
    "search (",
    "read memory: log --json (",
    "first line: log --json (",
    "read memory: evidence list --format csv (",
    "first line: evidence list --format csv (",
    "read memory: evidence list --json (",
    "first line: evidence list --json (",
    "read memory: export -o FILE (",
    "export vs sqlite3 .dump (",
    "PostgreSQL: bulk import (",
    "PostgreSQL: quarterly report, json (",
    "PostgreSQL: quarterly report, html (",
    "PostgreSQL: timeline, json (",
    "PostgreSQL: database command: evidence add (",
    "PostgreSQL: database command: rec list (",
    "PostgreSQL: database command, evidence add: ",
    "PostgreSQL: database command, rec list: ",
    "PostgreSQL: verify (",
    "PostgreSQL: verify memory (",
]


@pytest.mark.slow
def test_a_smoke_run_of_the_benchmarks_writes_every_metric(tmp_path):
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(tmp_path)]
    command += ["--postgres", POSTGRES_URL] if POSTGRES_URL else ["--no-postgres"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    table = (tmp_path / "results.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| metric")]
    for metric in METRICS:
        assert sum(row.startswith(f"| {metric}") for row in rows) >= 1, (metric, table)
    assert "| metric | tracker | baseline | ratio | target | met |" in table
    # each measurement says how loaded the machine was; a noisy one has no verdict
    for m in document_metrics(tmp_path):
        if not m["note"].startswith("skipped"):
            assert m["load_start"] is not None and m["free_cores_end"] is not None, m
            assert m["attempts"] >= 1, m
        if m["noisy"]:
            assert m["met"] is None and m["note"].startswith("noisy (load "), m
    document = json.loads((tmp_path / "results.json").read_text())
    names = [m["name"] for m in document["metrics"]]
    assert len(names) == len(METRICS)
    assert all(any(name.startswith(metric) for name in names) for metric in METRICS)
    measured = [m for m in document["metrics"] if not m["note"].startswith("skipped")]
    assert all(m["tracker_value"] is not None for m in measured)
    # each comparison is fair: same report bytes, both imported databases verify
    for m in measured:
        assert "DIFFERS" not in m["note"] and "did not verify" not in m["note"], m
    assert result.stdout.startswith("| metric |")
    # the generated databases are cached for the next run
    assert list((tmp_path / "db").glob("*.db"))


def document_metrics(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["metrics"]


def loaded_modules(code: str, *, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages loaded after running ``code`` in a fresh interpreter."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


RUN = """
from tracker import cli
try:
    cli.main({args!r})
except SystemExit as exit_:
    assert exit_.code in (0, None), exit_.code
"""


HEAVY = {"sqlalchemy", "alembic", "jinja2", "matplotlib", "docx", "weasyprint", "openpyxl"}
DOCUMENT_LIBRARIES = {"docx", "weasyprint", "openpyxl"}  # python-docx, WeasyPrint, openpyxl


def test_importing_cli_and_help_load_no_heavy_library():
    assert not loaded_modules("from tracker import cli") & HEAVY
    assert not loaded_modules(RUN.format(args=["--help"])) & HEAVY
    assert not loaded_modules(RUN.format(args=["report", "--help"])) & HEAVY


@pytest.mark.parametrize(
    "args",
    [
        ["rec", "list"],
        ["rec", "list", "--json"],
        [
            "evidence",
            "add",
            "--rec",
            "labor-inspections",
            "--title",
            "Kiln inspection",
            "--date",
            "2019-07-01",
            "--kind",
            "inspection",
        ],
        ["status", "set", "labor-inspections", "in_progress", "--on", "2019-07-01", "--note", "Inspections began."],
        ["evidence", "list", "--quarter", "2019Q3"],
    ],
)  # (not verify: it compares the live schema with the models through Alembic)
def test_database_commands_do_not_load_alembic(url, args):
    loaded = loaded_modules(RUN.format(args=["--db", url, *args]))
    assert "sqlalchemy" in loaded  # it did reach the database
    assert "alembic" not in loaded


@pytest.mark.parametrize("fmt", ["md", "html", "docx"])
def test_a_report_loads_the_document_library_of_its_format_only(url, fmt, tmp_path):
    args = ["--db", url, "report", "quarterly", "2019Q3", "--format", fmt, "-o", str(tmp_path / f"report.{fmt}")]
    loaded = loaded_modules(RUN.format(args=args)) & DOCUMENT_LIBRARIES
    assert loaded == ({"docx"} if fmt == "docx" else set())
