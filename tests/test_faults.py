"""Faults found by probing the edges: each is refused with its exit code (2 for bad input) and
one ``Error:`` line naming what to fix; none is "unexpected".

Most checks are on the library; one command-line check or so per fault checks the wiring.
The clock is fixed at 2019-10-05 where a quarter or a date matters. SQLite and PostgreSQL.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tracker import catalogs, clock, files, importing, services, validation
from tracker.errors import InputError, TrackerError
from tracker.render import charts, csvfile
from tracker.store.database import Database
from tracker.store.engine import mask, resolve_url

from conftest import add_evidence, dump, invoke, write

NOW = datetime(2019, 10, 5, 12, tzinfo=UTC)


def error_line(result, exit_code: int = 2) -> str:
    """The one ``Error:`` line of a failed command, checked: its exit code, nothing unexpected."""
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "unexpected" not in result.output and "Traceback" not in result.output, result.output
    return lines[0]


def export_document(url: str) -> dict:
    """The export of the database at ``url``, as a JSON document to edit."""
    database = Database(url)
    try:
        return json.loads(importing.export(database))
    finally:
        database.dispose()


def save(path: Path, document: dict | str) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


# 1. A value near the largest float ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["1.7e308", "-1.7e308", 1.7e308, 10**101, "1e101"], ids=["text", "negative", "float", "int", "1e101"]
)
def test_a_value_beyond_the_number_range_is_refused(value):
    with pytest.raises(InputError, match="between -1e100 and 1e100"):
        validation.number(value, "value")
    with clock.frozen(NOW), pytest.raises(InputError, match="value"):
        services.check_measurement(quarter="2019Q3", value=value)


def test_an_export_holding_a_value_beyond_the_number_range_is_refused(url, empty_url, monkeypatch, tmp_path):
    """An export (made by a tracker that stored 1.7e308) is refused before it is restored: its
    HTML report could not draw the value ("Axis limits cannot be NaN or Inf")."""
    monkeypatch.setattr(validation, "MAX_NUMBER", math.inf)
    database = Database(url)
    with clock.frozen(NOW):
        write(database, services.record_measurement, "convictions", "2019Q3", "1.7e308", actor="tester")
    monkeypatch.undo()
    path = tmp_path / "export.json"
    path.write_bytes(importing.export(database))
    database.dispose()
    with pytest.raises(InputError, match=r"measurement row 1 .*field 'value'.*between -1e100 and 1e100"):
        importing.parse_export(importing.read_file(path))
    with clock.frozen(NOW):
        assert "'value'" in error_line(invoke(["--db", empty_url, "import", path]))


def test_a_chart_draws_values_at_both_ends_of_the_range():
    top = validation.MAX_NUMBER
    chart = charts.IndicatorTrend(
        "Cases (cases)", "r/c", "cases", ("2019Q1", "2019Q2", "2019Q3"), (top, None, -top), top
    )
    assert charts.svg(chart).startswith("<svg")


def test_indicator_record_refuses_1_7e308_and_the_html_report_draws_the_largest_value(run):
    with clock.frozen(NOW):
        assert "value" in error_line(run("indicator", "record", "convictions", "2019Q3", "1.7e308"))
        assert run("indicator", "record", "convictions", "2019Q2", "1e100").exit_code == 0
        assert run("indicator", "record", "convictions", "2019Q3", "--", "-1e100").exit_code == 0
        report = run("report", "quarterly", "2019Q3", "--format", "html")
    assert report.exit_code == 0, report.output
    assert "<svg" in report.stdout


def test_importing_a_measurement_of_1_7e308_is_refused(run, tmp_path):
    path = tmp_path / "values.csv"
    path.write_text("indicator,quarter,value\nconvictions,2019Q3,1.7e308\n", encoding="utf-8")
    with clock.frozen(NOW):
        line = error_line(run("import", path))
    assert "line 2" in line and "value" in line and "1e100" in line


# 2. A deeply nested catalog file ------------------------------------------------------------------

DEEP = 100_000


@pytest.mark.parametrize(
    "text",
    [
        "sources: " + "[" * DEEP + "]" * DEEP + "\n",
        "sources: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n",
        "sources:\n" + "".join(" " * depth + "- \n" for depth in range(3000)),
        "sources:\n- slug: s\n  title: " + "[" * DEEP + "]" * DEEP + "\n",
    ],
    ids=["flow-lists", "flow-mappings", "block-lists", "under-a-field"],
)
def test_a_deeply_nested_catalog_file_is_refused(text, tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="nested too deeply"):
        catalogs.read(str(path))


def test_a_field_nested_less_deeply_is_refused_by_its_name(tmp_path):
    path = tmp_path / "nested.yaml"
    path.write_text(
        "sources:\n- slug: s\n  country: KH\n  title: T\n  publisher: P\n  published_on: 2019-06-20\n"
        "  recommendations:\n  - code: r\n    title: T\n    text: X\n    pillar: prevention\n"
        "    indicators:\n    - {code: i, name: N, unit: u, target: " + "[" * 150 + "]" * 150 + "}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"field 'target': invalid target"):
        catalogs.read(str(path))


def test_catalog_load_and_init_refuse_a_deeply_nested_file(run, tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("sources: " + "[" * DEEP + "]" * DEEP + "\n", encoding="utf-8")
    assert "nested too deeply" in error_line(run("catalog", "load", path))
    assert "nested too deeply" in error_line(invoke(["--db", tmp_path / "new.db", "init", "--catalog", path]))


# 3. Numbers too large for the database -------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["99999999999999999999", "1000000001", "0", "9" * 5000], ids=["20-digits", "1e9+1", "0", "5000-digits"]
)
def test_a_limit_out_of_range_is_refused(value):
    with pytest.raises(InputError, match="--limit"):
        validation.count(value, "--limit", maximum=1_000_000_000)


def test_log_refuses_a_limit_too_large(run):
    assert "--limit" in error_line(run("log", "--limit", "99999999999999999999"))
    assert run("log", "--limit", "1000000000").exit_code == 0


@pytest.mark.parametrize(
    ("table", "field", "value"),
    [
        ("agency", "id", 10**30),
        ("agency", "id", 2**31),  # a PostgreSQL integer holds 32 bits
        ("recommendation", "position", -(2**31) - 1),
        ("indicator", "target", 10**400),  # a whole number too large for a float
        ("indicator", "target", 1.7e308),
    ],
    ids=["id-10**30", "id-2**31", "position-below-int32", "target-10**400", "target-1.7e308"],
)
def test_an_export_with_a_number_out_of_range_is_refused_naming_the_field(url, tmp_path, table, field, value):
    document = export_document(url)
    document["tables"][table][0][field] = value
    with pytest.raises(InputError, match=rf"{table} row 1 .*field '{field}': {field} .* is out of range"):
        importing.parse_export(importing.read_file(save(tmp_path / "export.json", document)))


def test_an_export_with_a_number_of_thousands_of_digits_is_refused(url, tmp_path):
    document = export_document(url)
    document["tables"]["agency"][0]["id"] = 987654321012
    text = json.dumps(document).replace("987654321012", "9" * 5000)
    with pytest.raises(InputError, match="thousands of digits"):
        importing.parse_export(importing.read_file(save(tmp_path / "export.json", text)))


def test_restoring_an_export_with_an_id_of_10_30_is_refused(url, empty_url, tmp_path):
    document = export_document(url)
    document["tables"]["agency"][0]["id"] = 10**30
    line = error_line(invoke(["--db", empty_url, "import", save(tmp_path / "export.json", document)]))
    assert "agency row 1" in line and "field 'id'" in line


# 4. A full disk under -o ---------------------------------------------------------------------------


def test_a_full_disk_is_one_line_naming_the_path_and_leaves_nothing(monkeypatch, tmp_path):
    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "report.html"
    with pytest.raises(TrackerError) as raised:
        files.write_exactly(target, b"x" * 100_000, force=False)
    assert type(raised.value) is TrackerError and raised.value.exit_code == 1
    message = str(raised.value)
    assert str(target) in message and "No space left on device" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


@pytest.fixture
def full_folder(tmp_path) -> Iterator[Path]:
    """A folder on a 64 KiB tmpfs that is full (root only)."""
    folder = tmp_path / "full"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        try:
            with (folder / "filler").open("wb") as stream:
                while True:
                    stream.write(b"\0" * 4096)
                    stream.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_every_o_output_on_a_full_disk_is_one_line_naming_the_path(run, url, full_folder, tmp_path):
    attachment = tmp_path / "scan.pdf"
    attachment.write_bytes(b"%PDF-1.4 " + os.urandom(20_000))
    database = Database(url)
    with clock.frozen(NOW):
        add_evidence(database, ["labor-inspections"], "Scan", "2019-08-01", "inspection", attach=[attachment])
    database.dispose()
    sha256 = hashlib.sha256(attachment.read_bytes()).hexdigest()
    for args, name in [
        (["export"], "export.json"),
        (["report", "quarterly", "2019Q3", "--format", "html"], "report.html"),
        (["report", "timeline", "--format", "csv"], "timeline.csv"),
        (["evidence", "file", sha256], "scan.pdf"),
    ]:
        target = full_folder / name
        with clock.frozen(NOW):
            line = error_line(run(*args, "-o", target), 1)
        assert str(target) in line and "No space left on device" in line, line
        assert sorted(p.name for p in full_folder.iterdir()) == ["filler"]


# 5. 1_000 is not a number ---------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["1_000", "1_0", "0x10", "１２"])
def test_no_reader_takes_a_number_not_in_plain_digits(spelling):
    refused = rf"^invalid .*{re.escape(repr(spelling))}: give a (whole )?number"
    with pytest.raises(InputError, match=refused):
        validation.number(spelling, "value")
    with pytest.raises(InputError, match=refused):
        validation.identifier(spelling, "evidence id")
    with pytest.raises(InputError, match=refused):
        validation.count(spelling, "--limit", maximum=1_000_000_000)


CATALOG = (
    "sources:\n- slug: s\n  country: KH\n  title: T\n  publisher: P\n  published_on: 2019-06-20\n"
    "  recommendations:\n  - code: r\n    title: T\n    text: X\n    pillar: prevention\n    position: {position}\n"
    "    indicators:\n    - {{code: i, name: N, unit: u, target: {target}}}\n"
)


@pytest.mark.parametrize(
    ("position", "target", "field"),
    [
        ("1", "1_000", "target"),
        ("1", "0x10", "target"),
        ("1", "1:30", "target"),
        ("1", "1_000.5", "target"),
        ("1_000", "5", "position"),
        ("0x10", "5", "position"),
        ("!!int 1.5", "5", "position"),  # int("1.5") was an unexpected ValueError
        ("1", "!!float abc", "target"),
    ],
)
def test_a_catalog_number_not_in_plain_digits_is_refused(tmp_path, position, target, field):
    """YAML 1.1 reads 1_000 as 1000, 0x10 as 16 and 1:30 as 90; a catalog does not."""
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG.format(position=position, target=target), encoding="utf-8")
    with pytest.raises(InputError, match=rf"field '{field}'"):
        catalogs.read(str(path))


def test_a_catalog_reads_numbers_written_in_digits(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG.format(position="3", target="-2.5e3"), encoding="utf-8")
    (recommendation,) = catalogs.read(str(path)).sources[0].recommendations
    assert recommendation.position == 3 and recommendation.indicators[0].target == -2500.0


@pytest.mark.parametrize(
    "args",
    [
        ["log", "--limit", "1_000"],
        ["indicator", "record", "convictions", "2019Q3", "1_000"],
        ["indicator", "add", "labor-inspections", "--code", "x", "--name", "X", "--unit", "u", "--target", "1_000"],
        ["evidence", "show", "1_0"],
    ],
    ids=["limit", "value", "target", "evidence-id"],
)
def test_commands_refuse_1_000(run, args):
    with clock.frozen(NOW):
        assert "1_0" in error_line(run(*args))


def test_importing_1_000_is_refused(run, tmp_path):
    path = tmp_path / "values.csv"
    path.write_text("indicator,quarter,value\nconvictions,2019Q3,1_000\n", encoding="utf-8")
    with clock.frozen(NOW):
        line = error_line(run("import", path))
    assert "line 2" in line and "1_000" in line


# 6. Formulas in CSV output ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        "＝1+1",  # full-width equals sign, U+FF1D
        "＋1+1",  # U+FF0B
        "－1+1",  # U+FF0D
        "＠SUM(A1)",  # U+FF20
        "﹦1+1",  # small equals sign, U+FE66
        " =1+1",
        "  +1",
        "\u00a0=1+1",  # no-break space
        "\u3000＝1+1",  # ideographic space
        "\u200b=1+1",  # zero-width space
        "\ufeff@SUM(A1)",  # byte-order mark
        "\t=1",
    ],
)
def test_csv_neutralises_formulas_behind_spaces_and_in_full_width(cell):
    assert csvfile.neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["x=1", "a＝b", "", "   ", "2019Q3", -5, 1.5, 0, None])
def test_csv_leaves_other_cells_and_numbers_alone(cell):
    assert csvfile.neutralise(cell) == cell


def test_the_csv_report_neutralises_a_full_width_formula(run):
    with clock.frozen(NOW):
        for code, title in (("fw-equals", "＝1+1"), ("fw-at", "＠SUM(A1)")):
            added = run(
                "rec", "add", "--source", "tip-2019-khm", "--code", code, "--title", title, "--text", "X",
                "--pillar", "prevention",
            )  # fmt: skip
            assert added.exit_code == 0, added.output
        report = run("report", "quarterly", "2019Q3", "--format", "csv")
    assert report.exit_code == 0, report.output
    lines = report.stdout.split("\r\n")
    assert any(line.startswith("fw-equals,'＝1+1,") for line in lines), report.stdout
    assert any(line.startswith("fw-at,'＠SUM(A1),") for line in lines), report.stdout


# 7. Passwords of any characters in messages -------------------------------------------------------------

MARKED = "postgresql://tracker:A7xQ{}Z9wK@127.0.0.1:1/tracker"


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(password=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20))
@example(password="x@y/")
@example(password="@/")
@example(password="|\u0fb8@U{/")
@example(password="a b@c d/e")
@example(password="#:/@?#")
@example(password="p\n@q/")
def test_mask_hides_a_password_of_any_characters(password):
    """No part of the password shows, however SQLAlchemy splits the URL (a raw '@' makes the
    rest of the password host and database, where the rendered URL writes '@' as %40)."""
    url = MARKED.format(password)
    for text in (url, f"cannot use the database {url}: failed"):
        assert "A7xQ" not in mask(text) and "Z9wK" not in mask(text)
    try:
        rendered = resolve_url(url)
    except InputError as error:
        assert "A7xQ" not in str(error) and "Z9wK" not in str(error)
        return
    masked = mask(rendered)
    assert "A7xQ" not in masked and "Z9wK" not in masked, masked
    assert masked.startswith("postgresql+psycopg://tracker:***@")


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        (
            "cannot use the database postgresql+psycopg://u:s3cret@db.example.org:5432/tracker: connection refused",
            "cannot use the database postgresql+psycopg://u:***@db.example.org:5432/tracker: connection refused",
        ),
        ("see postgresql://u:p@ss@h/d and sqlite:///x.db", "see postgresql://u:***@h/d and sqlite:///x.db"),
        ("postgresql://u:a%40b@h/d%40e/f", "postgresql://u:***@e/f"),
        (
            "postgresql://tracker@localhost:5432/db: role missing",
            "postgresql://tracker@localhost:5432/db: role missing",
        ),
        ("no URL here: user@example.org", "no URL here: user@example.org"),
        ("sqlite:////tmp/x.db: disk I/O error", "sqlite:////tmp/x.db: disk I/O error"),
    ],
)
def test_mask_leaves_the_rest_of_an_ordinary_message(message, masked):
    assert mask(message) == masked


@pytest.mark.parametrize(
    "password",
    [
        "p#a:s/s",
        "semi;colon",
        "x@y/",  # parsed as host y and a database named "@...": refused by name, nothing shown
        "@/@/",
    ],
)
def test_no_command_shows_a_password_of_any_characters(password):
    result = invoke(["--db", MARKED.format(password), "rec", "list"])
    assert result.exit_code in (1, 2), result.output
    assert "A7xQ" not in result.output and "Z9wK" not in result.output, result.output


ASSESS = ["status", "set", "undercover-techniques", "in_progress", "--on", "2019-09-30", "--note", "n"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["rec", "add", "--position", "1_0"], "invalid --position '1_0'"),
        (["rec", "add", "--position", "99999999999999999999"], "give a whole number from 1 to"),
        ([*ASSESS, "--evidence", "1_0"], "invalid evidence id '1_0'"),
        ([*ASSESS, "--evidence", "99999999999999999999999"], "invalid evidence id"),
    ],
)
def test_whole_number_options_take_plain_digits_only(run, url, args, message):
    if args[:2] == ["rec", "add"]:
        args = [
            *args,
            "--source",
            "tip-2019-khm",
            "--code",
            "x-y",
            "--title",
            "T",
            "--text",
            "T",
            "--pillar",
            "protection",
        ]
    before = dump(url)
    result = run(*args)
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr and "unexpected" not in result.stderr
    assert dump(url) == before


def test_a_host_that_is_not_a_host_name_is_refused_by_name():
    result = invoke(["--db", "postgresql://user@\x80host/db", "rec", "list"])
    assert result.exit_code == 2 and "its host is not a host name" in result.stderr, result.output
