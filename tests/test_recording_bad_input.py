"""Bad input, by the single commands and by import: exit 2, one ``Error:`` line, nothing written.

Each case runs the command line against a database with the 2019 catalog and some evidence
(recorded through the library), and compares a full dump of every table before and after.
The clock is fixed at 2019-10-05 so that "in the future" means 2019-10-06. SQLite and
PostgreSQL.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker import clock, importing, services
from tracker.errors import InputError
from tracker.store.database import SCHEMA_REVISION, Database

from conftest import add_evidence, dump, invoke, template

NOW = datetime(2019, 10, 5, 12, tzinfo=UTC)
EVIDENCE = [
    "evidence",
    "add",
    "--rec",
    "labor-inspections",
    "--title",
    "Kiln inspection",
    "--date",
    "2019-08-01",
    "--kind",
    "inspection",
]
STATUS = ["status", "set", "labor-inspections", "in_progress", "--on", "2019-08-01", "--note", "Inspections began"]
RECORD = ["indicator", "record", "kiln-inspections", "2019Q3", "12"]
EVIDENCE_HEADER = "rec,title,date,kind,stance,url,summary,source_name,reliability,sensitivity"
GOOD_EVIDENCE = "labor-inspections,Inspection {n},2019-08-0{n},inspection,progress,,,,credible,internal"


def replace(args: list[str], old: str, new: str) -> list[str]:
    """``args`` with the value of option ``old`` (``--date``...), or the argument ``old``, replaced."""
    changed = list(args)
    index = changed.index(old)
    changed[index + 1 if old.startswith("--") else index] = new
    return changed


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def evidence_csv(bad_line: str, *, header: str = EVIDENCE_HEADER) -> str:
    """A CSV whose line 7 is ``bad_line`` (lines 2-6 and 8-9 are good)."""
    good = [GOOD_EVIDENCE.format(n=n) for n in range(1, 8)]
    return "\n".join([header, *good[:5], bad_line, *good[5:]]) + "\n"


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], list]
    fragments: tuple[str, ...]


def case(name: str, build, *fragments: str) -> Case:
    return Case(name, build if callable(build) else (lambda _tmp, args=build: args), fragments)


STATUS_CSV = "rec,status,effective_on,note\n" + "\n".join(
    f"labor-inspections,in_progress,2019-08-0{n},Note {n}" for n in range(1, 6)
)
MEASUREMENT_CSV = "indicator,quarter,value,note\n" + "\n".join(
    f"kiln-inspections,2019Q{n % 3 + 1},{n},x" for n in range(1, 6)
)

CASES = [
    # vocabularies and references
    case(
        "unknown REF in status set",
        replace(STATUS, "labor-inspections", "no-such-rec"),
        "unknown recommendation 'no-such-rec'",
    ),
    case(
        "unknown REF in evidence add", replace(EVIDENCE, "--rec", "no-such-rec"), "unknown recommendation 'no-such-rec'"
    ),
    case(
        "unknown REF in indicator add",
        ["indicator", "add", "no-such-rec", "--code", "x", "--name", "X", "--unit", "u"],
        "unknown recommendation 'no-such-rec'",
    ),
    case(
        "unknown source/REF",
        replace(STATUS, "labor-inspections", "tip-2018-khm/labor-inspections"),
        "unknown recommendation",
    ),
    case("unknown status", replace(STATUS, "in_progress", "done"), "unknown status 'done'", "partially_implemented"),
    case("unknown kind", replace(EVIDENCE, "--kind", "lawsuit"), "unknown kind 'lawsuit'", "court_case"),
    case("unknown stance", EVIDENCE + ["--stance", "forward"], "unknown stance 'forward'", "setback"),
    case("unknown reliability", EVIDENCE + ["--reliability", "rumour"], "unknown reliability 'rumour'", "unverified"),
    case("unknown sensitivity", EVIDENCE + ["--sensitivity", "secret"], "unknown sensitivity 'secret'", "confidential"),
    case(
        "unknown indicator",
        replace(RECORD, "kiln-inspections", "no-such-indicator"),
        "unknown indicator 'no-such-indicator'",
    ),
    case("unknown evidence id in status set", STATUS + ["--evidence", "999"], "unknown evidence id 999"),
    case(
        "unknown evidence id in retract", ["evidence", "retract", "999", "--reason", "wrong"], "unknown evidence id 999"
    ),
    case("unknown evidence id in indicator record", RECORD + ["--evidence", "999"], "unknown evidence id 999"),
    case("unknown evidence id in evidence show", ["evidence", "show", "999"], "unknown evidence id 999"),
    case("non-numeric evidence id", ["evidence", "retract", "twelve", "--reason", "wrong"], "twelve"),
    # text
    case("blank note", replace(STATUS, "--note", "   "), "--note is required"),
    case("blank title", replace(EVIDENCE, "--title", " "), "--title is required"),
    case("blank retraction reason", ["evidence", "retract", "1", "--reason", ""], "--reason is required"),
    case("title too long", replace(EVIDENCE, "--title", "x" * 501), "the limit is 500"),
    case("control character in a title", replace(EVIDENCE, "--title", "a\x07b"), "control character"),
    # dates and quarters
    case("future evidence date", replace(EVIDENCE, "--date", "2019-10-06"), "in the future"),
    case("future status date", replace(STATUS, "--on", "2019-10-06"), "in the future"),
    *[
        case(f"evidence date {bad}", replace(EVIDENCE, "--date", bad), repr(bad), "YYYY-MM-DD")
        for bad in ("20191231", "2019-W01-1", "2019/12/31")
    ],
    case("evidence date 2019-02-29", replace(EVIDENCE, "--date", "2019-02-29"), "'2019-02-29'", "no such day"),
    *[
        case(f"status date {bad}", replace(STATUS, "--on", bad), repr(bad))
        for bad in ("20191231", "2019-W01-1", "2019/12/31", "2019-02-29")
    ],
    case("quarter 2019Q5", replace(RECORD, "2019Q3", "2019Q5"), "invalid quarter '2019Q5'"),
    case("quarter 19Q3", replace(RECORD, "2019Q3", "19Q3"), "invalid quarter '19Q3'"),
    case("quarter 2019Q5 in evidence list", ["evidence", "list", "--quarter", "2019Q5"], "invalid quarter '2019Q5'"),
    case("a quarter not started", replace(RECORD, "2019Q3", "2020Q1"), "2020Q1 has not started"),
    # numbers
    case("non-numeric indicator value", replace(RECORD, "12", "twelve"), "invalid value 'twelve'"),
    case("indicator value with a comma", replace(RECORD, "12", "1,5"), "invalid value '1,5'"),
    case("indicator value nan", replace(RECORD, "12", "nan"), "finite"),
    # attachments
    case("missing --attach", lambda tmp: EVIDENCE + ["--attach", tmp / "missing.pdf"], "missing.pdf", "no such file"),
    case("directory --attach", lambda tmp: EVIDENCE + ["--attach", tmp], "is a directory"),
    # CSV files: the first bad row stops the import, naming the file and line 7
    case(
        "CSV line 7 unknown kind",
        lambda tmp: [
            "import",
            write(
                tmp / "ev.csv", evidence_csv("labor-inspections,Bad,2019-08-07,lawsuit,progress,,,,credible,internal")
            ),
        ],
        "ev.csv line 7",
        "unknown kind 'lawsuit'",
    ),
    case(
        "CSV line 7 bad date",
        lambda tmp: [
            "import",
            write(
                tmp / "ev.csv",
                evidence_csv("labor-inspections,Bad,2019/08/07,inspection,progress,,,,credible,internal"),
            ),
        ],
        "ev.csv line 7",
        "invalid date '2019/08/07'",
    ),
    case(
        "CSV line 7 future date",
        lambda tmp: [
            "import",
            write(
                tmp / "ev.csv",
                evidence_csv("labor-inspections,Bad,2019-10-06,inspection,progress,,,,credible,internal"),
            ),
        ],
        "ev.csv line 7",
        "in the future",
    ),
    case(
        "CSV line 7 unknown REF",
        lambda tmp: [
            "import",
            write(
                tmp / "ev.csv",
                evidence_csv("labor-inspections;no-such-rec,Bad,2019-08-07,inspection,progress,,,,credible,internal"),
            ),
        ],
        "ev.csv line 7",
        "unknown recommendation 'no-such-rec'",
    ),
    case(
        "CSV line 7 unknown sensitivity",
        lambda tmp: [
            "import",
            write(
                tmp / "ev.csv", evidence_csv("labor-inspections,Bad,2019-08-07,inspection,progress,,,,credible,secret")
            ),
        ],
        "ev.csv line 7",
        "unknown sensitivity 'secret'",
    ),
    case(
        "CSV line 7 blank title",
        lambda tmp: [
            "import",
            write(
                tmp / "ev.csv", evidence_csv("labor-inspections,  ,2019-08-07,inspection,progress,,,,credible,internal")
            ),
        ],
        "ev.csv line 7",
        "title is required",
    ),
    case(
        "CSV line 7 missing a field",
        lambda tmp: [
            "import",
            write(tmp / "ev.csv", evidence_csv("labor-inspections,Bad,2019-08-07,inspection,progress,,,,credible")),
        ],
        "ev.csv line 7",
        "9 fields",
        "10 columns",
    ),
    case(
        "CSV line 7 after a quoted line break",
        lambda tmp: [
            "import",
            write(
                tmp / "ev.csv",
                "\n".join(
                    [
                        EVIDENCE_HEADER,
                        GOOD_EVIDENCE.format(n=1),
                        'labor-inspections,Two lines,2019-08-02,inspection,progress,,"first line',
                        'second line",,credible,internal',
                        GOOD_EVIDENCE.format(n=3),
                        GOOD_EVIDENCE.format(n=4),
                        "labor-inspections,Bad,2019-08-07,inspection,sideways,,,,credible,internal",
                        GOOD_EVIDENCE.format(n=5),
                    ]
                )
                + "\n",
            ),
        ],
        "ev.csv line 7",
        "unknown stance 'sideways'",
    ),
    case(
        "CSV with a BOM, line 7 bad",
        lambda tmp: [
            "import",
            write(
                tmp / "ev.csv",
                b"\xef\xbb\xbf"
                + evidence_csv("labor-inspections,Bad,2019-02-29,inspection,progress,,,,credible,internal").encode(),
            ),
        ],
        "ev.csv line 7",
        "no such day",
    ),
    case(
        "status CSV line 7 blank note",
        lambda tmp: ["import", write(tmp / "st.csv", STATUS_CSV + "\nlabor-inspections,implemented,2019-09-01,  \n")],
        "st.csv line 7",
        "note is required",
    ),
    case(
        "status CSV line 7 unknown status",
        lambda tmp: ["import", write(tmp / "st.csv", STATUS_CSV + "\nlabor-inspections,finished,2019-09-01,x\n")],
        "st.csv line 7",
        "unknown status 'finished'",
    ),
    case(
        "status CSV line 7 unknown evidence",
        lambda tmp: [
            "import",
            write(
                tmp / "st.csv",
                "rec,status,effective_on,note,evidence\n"
                + "\n".join(f"labor-inspections,in_progress,2019-08-0{n},Note {n},1" for n in range(1, 6))
                + "\nlabor-inspections,implemented,2019-09-01,x,1;999\n",
            ),
        ],
        "st.csv line 7",
        "unknown evidence id 999",
    ),
    case(
        "measurement CSV line 7 non-numeric",
        lambda tmp: ["import", write(tmp / "m.csv", MEASUREMENT_CSV + "\nkiln-inspections,2019Q3,many,x\n")],
        "m.csv line 7",
        "invalid value 'many'",
    ),
    case(
        "measurement CSV line 7 2019Q5",
        lambda tmp: ["import", write(tmp / "m.csv", MEASUREMENT_CSV + "\nkiln-inspections,2019Q5,3,x\n")],
        "m.csv line 7",
        "invalid quarter '2019Q5'",
    ),
    case(
        "measurement CSV line 7 unknown indicator",
        lambda tmp: ["import", write(tmp / "m.csv", MEASUREMENT_CSV + "\nno-such-indicator,2019Q3,3,x\n")],
        "m.csv line 7",
        "unknown indicator 'no-such-indicator'",
    ),
    case(
        "non-UTF-8 CSV",
        lambda tmp: [
            "import",
            write(
                tmp / "latin1.csv",
                evidence_csv("labor-inspections,Inspección,2019-08-07,inspection,progress,,,,credible,internal").encode(
                    "latin-1"
                ),
            ),
        ],
        "latin1.csv line 7",
        "not UTF-8 text (byte 0xf3)",
    ),
    case(
        "non-UTF-8 CSV with a BOM",
        lambda tmp: [
            "import",
            write(
                tmp / "latin1.csv",
                b"\xef\xbb\xbf"
                + evidence_csv(
                    "labor-inspections,Inspección,2019-08-07,inspection,progress,,,,credible,internal"
                ).encode("latin-1"),
            ),
        ],
        "latin1.csv line 7",
        "not UTF-8 text (byte 0xf3)",
    ),
    case(
        "CSV with an unknown header",
        lambda tmp: ["import", write(tmp / "x.csv", "ref,headline,when\na,b,c\n")],
        "x.csv line 1",
        "header not recognised",
    ),
    case(
        "CSV with an unknown column",
        lambda tmp: ["import", write(tmp / "x.csv", "rec,title,date,kind,colour\na,b,c,d,e\n")],
        "x.csv line 1",
        "unknown column 'colour' in an evidence file",
    ),
    case(
        "CSV lacking a column",
        lambda tmp: ["import", write(tmp / "x.csv", "rec,title,kind\na,b,c\n")],
        "x.csv line 1",
        "an evidence file needs the column(s) date",
    ),
    case(
        "status CSV with an unknown column",
        lambda tmp: ["import", write(tmp / "x.csv", "rec,status,effective_on,note,colour\na,b,c,d,e\n")],
        "x.csv line 1",
        "unknown column 'colour' in a status update file",
    ),
    case("empty CSV", lambda tmp: ["import", write(tmp / "x.csv", "")], "x.csv", "empty"),
    case(
        "CSV with a header only",
        lambda tmp: ["import", write(tmp / "x.csv", EVIDENCE_HEADER + "\n")],
        "x.csv",
        "no rows",
    ),
    case(
        "CSV with an unclosed quote",
        lambda tmp: [
            "import",
            write(
                tmp / "x.csv",
                evidence_csv('labor-inspections,"Unclosed,2019-08-07,inspection,progress,,,,credible,internal'),
            ),
        ],
        "x.csv line 7",
        "malformed CSV",
    ),
    case("import of a missing file", lambda tmp: ["import", tmp / "nothing.csv"], "nothing.csv", "no such file"),
    case("import of a directory", lambda tmp: ["import", tmp], "is a directory"),
    # JSON files
    case(
        "malformed JSON",
        lambda tmp: [
            "import",
            # (cut short after its header: an export is read as it is restored, its header first)
            write(
                tmp / "export.json",
                '{\n  "format": "tracker-export",\n  "version": 1,\n'
                f'  "schema_revision": "{SCHEMA_REVISION}",\n  "files": false,\n  "tables": {{\n',
            ),
        ],
        "export.json line",
        "invalid JSON",
    ),
    case(
        "JSON that is no export",
        lambda tmp: ["import", write(tmp / "other.json", '{"rows": []}')],
        "other.json",
        "not a tracker export",
    ),
]


def one_evidence(database, _folder) -> None:
    with clock.frozen(NOW):
        assert add_evidence(database, ["labor-inspections"], "Kiln inspection", "2019-08-01", "inspection") == 1


ONE_EVIDENCE = template("one-evidence", one_evidence)


@pytest.fixture
def seeded(make_url_for):
    """The catalog and one piece of evidence (id 1), so that ids exist and a dump has rows."""
    return make_url_for(ONE_EVIDENCE)


@pytest.fixture
def run(seeded):
    """``run("rec", "list")`` runs tracker against the seeded database."""
    return lambda *args, **kwargs: invoke(["--db", seeded, *args], **kwargs)


def assert_one_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert str(fragment) in lines[0], lines[0]


@pytest.mark.parametrize("bad", CASES, ids=[c.name for c in CASES])
def test_bad_input_exits_2_and_writes_nothing(bad, run, seeded, tmp_path):
    args = bad.build(tmp_path)
    before = dump(seeded)
    with clock.frozen(NOW):
        result = run(*args)
    assert_one_error(result, *bad.fragments)
    assert dump(seeded) == before


@pytest.mark.parametrize("what", ["attach", "import"])
def test_an_unreadable_file_exits_2_and_writes_nothing(what, run, seeded, tmp_path, monkeypatch):
    secret = write(
        tmp_path / ("secret.pdf" if what == "attach" else "secret.csv"), evidence_csv(GOOD_EVIDENCE.format(n=7))
    )
    if os.geteuid() == 0:  # root reads anything: make reading fail the way a permission would
        real = os.open

        def refuse(path, *args, **kwargs):
            if pathlib.Path(path).name == secret.name:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    else:
        secret.chmod(0)
    before = dump(seeded)
    args = EVIDENCE + ["--attach", secret] if what == "attach" else ["import", secret]
    with clock.frozen(NOW):
        result = run(*args)
    assert_one_error(result, secret.name, "permission denied")
    assert dump(seeded) == before


def test_a_dry_run_of_a_bad_file_fails_the_same_way(run, seeded, tmp_path):
    path = write(
        tmp_path / "ev.csv", evidence_csv("labor-inspections,Bad,2019-08-07,lawsuit,progress,,,,credible,internal")
    )
    before = dump(seeded)
    with clock.frozen(NOW):
        result = run("import", path, "--dry-run")
    assert_one_error(result, "ev.csv line 7", "unknown kind 'lawsuit'")
    assert dump(seeded) == before


# A byte that is not UTF-8: the byte itself and its line, with or without a byte-order mark ----------


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no BOM", "BOM"])
@pytest.mark.parametrize(
    "lines, line",
    [
        ([b"\xe9rec,title,date,kind"], 1),
        ([b"rec,title,date,kind", b"labor-inspections,caf\xe9,2019-08-01,law"], 2),
        (
            [
                b"rec,title,date,kind",
                b"labor-inspections,Law,2019-08-01,law",
                b"\xe9abor-inspections,Law,2019-08-02,law",
            ],
            3,
        ),
    ],
    ids=["first byte", "mid-line", "start of a line"],
)
def test_a_byte_that_is_not_utf8_is_named_with_its_line(bom, lines, line, tmp_path):
    path = write(tmp_path / "bad.csv", bom + b"\n".join([*lines, b"labor-inspections,Later,2019-08-03,law"]) + b"\n")
    with pytest.raises(InputError) as error:
        importing.read_file(path)
    assert str(error.value) == f"{path} line {line}: not UTF-8 text (byte 0xe9); save the file as UTF-8"


def test_a_byte_order_mark_is_not_part_of_the_text(tmp_path):
    path = write(
        tmp_path / "ok.csv", b"\xef\xbb\xbfrec,title,date,kind\nlabor-inspections,Caf\xc3\xa9,2019-08-01,law\n"
    )
    assert importing.read_file(path).text == "rec,title,date,kind\nlabor-inspections,Café,2019-08-01,law\n"


# Line numbers, for any file: a property of the parser (no database needed) -------------------------


class AnyRef:
    """Lookups that know every REF and indicator: this test is about the rows' own fields."""

    def targets(self, kind, row):
        return (1,)

    def party(self, kind, row):
        from tracker.importing.csvfile import Party

        return Party()


BAD_FIELDS = {
    "title": ["", "  ", "a\x00b"],
    "date": ["20191231", "2019-W01-1", "2019/12/31", "2019-02-29", "2019-13-01", "2019-10-06", ""],
    "kind": ["lawsuit", "LAWSUIT", ""],  # an import reads a vocabulary's values in any case: LAW is law
    "stance": ["forward"],
    "reliability": ["rumour"],
    "sensitivity": ["secret", "Publik"],
}
COLUMNS = EVIDENCE_HEADER.split(",")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.integers(min_value=1, max_value=30),
    data=st.data(),
)
def test_the_error_names_the_first_bad_line(rows, data, tmp_path):
    good = [
        [f"rec-{n}", f"Item {n}", "2019-08-01", "inspection", "progress", "", "", "", "credible", "internal"]
        for n in range(rows)
    ]
    bad_index = data.draw(st.integers(min_value=0, max_value=rows - 1), label="bad row")
    field = data.draw(st.sampled_from(sorted(BAD_FIELDS)), label="field")
    value = data.draw(st.sampled_from(BAD_FIELDS[field]), label="value")
    good[bad_index][COLUMNS.index(field)] = value
    if data.draw(st.booleans(), label="a later row is bad too"):
        good.append(["x", "Later", "2019/01/01", "lawsuit", "", "", "", "", "", ""])
    text = "\n".join([EVIDENCE_HEADER] + [",".join(row) for row in good]) + "\n"
    path = write(tmp_path / "prop.csv", text)
    with clock.frozen(NOW), pytest.raises(InputError) as error:
        importing.parse_csv(importing.read_file(path), AnyRef())
    assert str(error.value).startswith(f"{path} line {bad_index + 2}: "), str(error.value)


def test_retracted_evidence_cannot_be_cited(run, seeded, tmp_path):
    """An assessment, a measurement or an imported status update that cites withdrawn evidence is refused."""
    database = Database(seeded)
    with clock.frozen(NOW):
        database.write(lambda session: services.retract_evidence(session, 1, "Announcement withdrawn", actor="tester"))
    database.dispose()
    csv = tmp_path / "statuses.csv"
    csv.write_text("rec,status,effective_on,note,evidence\nlabor-inspections,in_progress,2019-08-01,Began,1\n")
    before = dump(seeded)
    with clock.frozen(NOW):
        for args in ([*STATUS, "--evidence", "1"], [*RECORD, "--evidence", "1"], ["import", str(csv)]):
            assert_one_error(run(*args), "evidence 1 was retracted on 2019-10-05 and cannot be cited")
        assert "line 2: evidence 1 was retracted" in run("import", str(csv)).stderr
        assert run(*STATUS, "--evidence", "1").exit_code == 2
    assert dump(seeded) == before
