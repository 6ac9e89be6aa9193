"""Hostile input over the command line, with hypothesis.

Every example goes through the real entry point (``cli.main``, in-process) and must:
never raise (no traceback), exit with 0, 1 or 2, leave the database exactly as it was
(``dump``) whenever it exits non-zero, and when it succeeds store each value exactly as
given after trimming surrounding whitespace (documented behaviour). Inputs: quarters,
dates, numbers, texts up to and past 100,000 characters, NUL bytes, control characters,
right-to-left and combining characters, SQL-looking strings. A stateful test runs random
sequences of record commands against an in-memory model of what must be stored.

Example counts are modest in the default suite and larger in the slow one (``pytest -m
slow``); ``--hypothesis-show-statistics`` prints how many ran.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from tracker import clock, queries
from tracker.store import models
from tracker.store.database import Database
from tracker.validation import LONG_TEXT_LENGTH

import robust_support as support
from conftest import dump, invoke, read

DEFAULT = settings(
    max_examples=20,
    deadline=None,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
SLOW = settings(DEFAULT, max_examples=200)

# Values ---------------------------------------------------------------------------------------

SQLISH = [
    "'; DROP TABLE evidence; --",
    "' OR '1'='1",
    "Robert'); DELETE FROM event;--",
    "%' AND 1=1 --",
    "\\'; SELECT pg_sleep(10); --",
    "1; UPDATE status_update SET status='implemented'",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    '=HYPERLINK("http://x")',
    '" OR ""="',
    "$1",
    "%s%s%n",
    "?",
]
SPECIAL = [
    "\x00",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x1f",
    "\x7f",
    "\x85",
    "\xa0",
    "\u2028",
    "\u202e",
    "\u202c",
    "\u200f",
    "\u0301",
    "\u0336",
    "\ufeff",
    "\u200b",
    " ",
    "'",
    '"',
    ";",
    "--",
    "\\",
    "%",
    "_",
    "ក្រ",
    "العربية",
    "עברית",
    "🧱",
    "e\u0301",
    "Z\u0351\u0362\u0340",
]
WHITESPACE = st.text(st.sampled_from([" ", "\t", "\n", "\r", "\xa0", "\u3000", "\x85", "\x1c"]), max_size=3)


def long_texts() -> st.SearchStrategy[str]:
    """Around the 100,000-character limit (after trimming)."""
    return st.builds(
        lambda unit, size, pad: pad + (unit * (size // len(unit) + 1))[:size] + pad,
        st.lists(st.sampled_from(["a", "ល", "\u0301", "\n", "x y", "🧱", "\x00"]), min_size=1, max_size=3).map("".join),
        st.sampled_from([LONG_TEXT_LENGTH - 1, LONG_TEXT_LENGTH, LONG_TEXT_LENGTH + 1]),
        WHITESPACE,
    )


def texts(*, long: bool = False) -> st.SearchStrategy[str]:
    options = [
        st.text(max_size=40),  # any character but surrogates
        st.lists(st.sampled_from(SPECIAL + list("aZ9 ")), max_size=12).map("".join),
        st.sampled_from(SQLISH),
        st.builds(lambda a, b, c: a + b + c, WHITESPACE, st.text(min_size=1, max_size=20), WHITESPACE),
    ]
    if long:
        options.append(long_texts())
    return st.one_of(*options)


_SINGLE_LINE_BAD = re.compile(r"[\x00-\x1f\x7f]")
_MULTI_LINE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def expected_text(value: str, *, required: bool, max_length: int, multiline: bool) -> tuple[bool, str | None]:
    """The model: (accepted, stored value)."""
    clean = value.strip()
    if not clean:
        return (not required), None
    if len(clean) > max_length or (_MULTI_LINE_BAD if multiline else _SINGLE_LINE_BAD).search(clean):
        return False, None
    return True, clean


def expected_date(value: str) -> date | None:
    clean = value.strip()
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", clean):
        return None
    try:
        day = date.fromisoformat(clean)
    except ValueError:
        return None
    return day if day <= clock.today() else None


def expected_quarter(value: str) -> date | None:
    # ASCII digits only: "２０１９Q3" is refused.
    match = re.fullmatch(r"([0-9]{4})-?[Qq]([1-4])", value.strip())
    if not match or not 1 <= int(match.group(1)) <= 9998:
        return None
    return date(int(match.group(1)), 3 * int(match.group(2)) - 2, 1)


# Numbers as people write them (documented): ASCII digits with an optional sign, decimal point
# and exponent ("1_000", "0x10", "inf" and full-width digits are refused), at most 1e100 either way.
_DIGITS = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def expected_number(value: str) -> float | None:
    clean = value.strip()
    if not _DIGITS.fullmatch(clean):
        return None
    number = float(clean)
    return number if math.isfinite(number) and abs(number) <= 1e100 else None


# Running a command ------------------------------------------------------------------------------


def attempt(url: str, args: list[str]) -> Any:
    """Run ``tracker ARGS``; check the contract that holds whatever the input."""
    before = dump(url)
    result = invoke(["--db", url, *args], env={"TRACKER_DEBUG": None, "TRACKER_USER": "analyst"})
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr[:500]
        assert "unexpected" not in lines[0], lines[0][:500]
        assert dump(url) == before, "a failed command changed the database"
    return result


def stored(url: str, query: str, **params: Any) -> tuple:
    rows = support.sql_rows(url, query, **params)
    assert len(rows) == 1, rows
    return rows[0]


EVIDENCE = ["evidence", "add", "--rec", "labor-inspections", "--date", "2019-07-01", "--kind", "inspection"]

# (field, required, max length, multiline, build the command, read back what was stored)
FIELDS = {
    "evidence --title": (
        True,
        models.TITLE_LENGTH,
        False,
        lambda v: [*EVIDENCE, f"--title={v}"],
        lambda url, out: stored(url, "SELECT title FROM evidence WHERE id = :i", i=int(out))[0],
    ),
    "evidence --summary": (
        False,
        LONG_TEXT_LENGTH,
        True,
        lambda v: [*EVIDENCE, "--title=T", f"--summary={v}"],
        lambda url, out: stored(url, "SELECT summary FROM evidence WHERE id = :i", i=int(out))[0],
    ),
    "evidence --source-name": (
        False,
        models.NAME_LENGTH,
        False,
        lambda v: [*EVIDENCE, "--title=T", f"--source-name={v}"],
        lambda url, out: stored(url, "SELECT source_name FROM evidence WHERE id = :i", i=int(out))[0],
    ),
    "evidence --url": (
        False,
        models.URL_LENGTH,
        False,
        lambda v: [*EVIDENCE, "--title=T", f"--url={v}"],
        lambda url, out: stored(url, "SELECT url FROM evidence WHERE id = :i", i=int(out))[0],
    ),
    "evidence --by": (
        True,
        models.ACTOR_LENGTH,
        False,
        lambda v: [*EVIDENCE, "--title=T", f"--by={v}"],
        lambda url, out: stored(url, "SELECT recorded_by FROM evidence WHERE id = :i", i=int(out))[0],
    ),
    "status --note": (
        True,
        LONG_TEXT_LENGTH,
        True,
        lambda v: ["status", "set", "labor-inspections", "in_progress", "--on", "2019-07-01", f"--note={v}"],
        lambda url, out: stored(url, "SELECT note FROM status_update WHERE id = :i", i=int(out))[0],
    ),
    "indicator --note": (
        False,
        LONG_TEXT_LENGTH,
        True,
        lambda v: ["indicator", "record", "kiln-inspections", "2019Q3", "7", f"--note={v}"],
        lambda url, out: stored(url, "SELECT note FROM measurement ORDER BY id DESC LIMIT 1")[0],
    ),
}


def check_text(url: str, name: str, value: str) -> None:
    required, max_length, multiline, build, stored_value = FIELDS[name]
    accepted, expected = expected_text(value, required=required, max_length=max_length, multiline=multiline)
    result = attempt(url, build(value))
    assert result.exit_code == (0 if accepted else 2), (name, value[:80], result.output[:500])
    if accepted:
        assert stored_value(url, result.stdout.strip()) == expected
        if name.startswith("evidence"):
            database = Database(url)
            shown = read(database, queries.evidence_record, int(result.stdout))  # what `evidence show` prints
            database.dispose()
            key = {
                "--title": "title",
                "--summary": "summary",
                "--source-name": "source_name",
                "--url": "url",
                "--by": "recorded_by",
            }[name.split()[1]]
            assert shown[key] == expected


def check_date(url: str, value: str) -> None:
    expected = expected_date(value)
    result = attempt(url, [*EVIDENCE[:4], f"--date={value}", "--kind", "law", "--title", "Dated"])
    assert result.exit_code == (0 if expected else 2), (value, result.output)
    if expected:
        assert stored(url, "SELECT observed_on FROM evidence WHERE id = :i", i=int(result.stdout))[0] in (
            expected,
            expected.isoformat(),
        )


def check_quarter(url: str, value: str, number: str) -> None:
    quarter_start = expected_quarter(value)
    in_past = quarter_start is not None and quarter_start <= clock.today()
    # "--" so that a value starting with "-" (a negative number) is not read as an option
    result = attempt(url, ["indicator", "record", "kiln-inspections", "--", value, number])
    accepted = in_past and expected_number(number) is not None
    assert result.exit_code == (0 if accepted else 2), (value, number, result.output)
    if accepted:
        start, stored_value = stored(url, "SELECT quarter_start, value FROM measurement ORDER BY id DESC LIMIT 1")
        assert start in (quarter_start, quarter_start.isoformat())
        assert stored_value == expected_number(number)
    listed = attempt(url, ["evidence", "list", f"--quarter={value}", "--json"])
    # an empty --quarter= is no filter at all
    assert listed.exit_code == (0 if quarter_start or value == "" else 2), (value, listed.output)


quarter_texts = st.one_of(
    st.builds(
        lambda y, sep, q, n, pad: f"{pad}{y:04d}{sep}{q}{n}{pad}",
        st.integers(0, 9999),
        st.sampled_from(["", "-", " ", "--", "/"]),
        st.sampled_from(["Q", "q", "K", "Ｑ"]),
        st.integers(0, 6),
        st.sampled_from(["", " ", "\t"]),
    ),
    st.sampled_from(["19Q3", "2019Q", "Q3", "2019Q3\n", "２０１９Q3", "٢٠١٩Q3", "2019Q3;--", "0000Q1", "9999Q4"]),
    st.text(max_size=10),
)
number_texts = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "0x10", "1_000", " 5 ", "-0", "", "1,5", "٣", "5\x00"]),
    st.text(max_size=8),
)
date_texts = st.one_of(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32)),
    st.sampled_from(
        [
            "2019-02-29",
            "2020-02-29",
            "2019-7-1",
            "20190701",
            "2019/07/01",
            " 2019-07-01 ",
            "2019-07-01\x00",
            "２０１９-０７-０１",
            "2019-07-01T00:00",
            "tomorrow",
            "",
        ]
    ),
    st.text(max_size=12),
)


# The tests: short in the default suite, long with -m slow ----------------------------------------


@pytest.fixture
def sqlite_url(sqlite_templates, tmp_path) -> str:
    """The default suite runs these on SQLite; the slow versions run on every backend."""
    path = tmp_path / "hostile.db"
    shutil.copyfile(sqlite_templates["loaded"], path)
    return str(path)


def _text_property(url: str, name: str, value: str) -> None:
    check_text(url, name, value)


@settings(DEFAULT, max_examples=60)
@given(name=st.sampled_from(list(FIELDS)), value=texts(long=True))
def test_text_fields_store_exactly_what_was_given(sqlite_url, name, value):
    _text_property(sqlite_url, name, value)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FIELDS))
@SLOW
@given(value=texts(long=True))
def test_text_fields_store_exactly_what_was_given_long(url, name, value):
    """Every field, 200 examples each, on every backend."""
    _text_property(url, name, value)


@DEFAULT
@given(value=date_texts)
def test_dates(sqlite_url, value):
    check_date(sqlite_url, value)


@pytest.mark.slow
@SLOW
@given(value=date_texts)
def test_dates_long(url, value):
    check_date(url, value)


@DEFAULT
@given(value=quarter_texts, number=number_texts)
def test_quarters_and_numbers(sqlite_url, value, number):
    check_quarter(sqlite_url, value, number)


@pytest.mark.slow
@SLOW
@given(value=quarter_texts, number=number_texts)
def test_quarters_and_numbers_long(url, value, number):
    check_quarter(url, value, number)


ARGUMENT_LISTS = st.lists(
    st.one_of(
        texts(),
        st.sampled_from(
            [
                "evidence",
                "add",
                "status",
                "set",
                "indicator",
                "record",
                "retract",
                "--rec",
                "--title",
                "--date",
                "--kind",
                "--note",
                "--on",
                "--evidence",
                "--json",
                "--db",
                "-o",
                "--force",
                "labor-inspections",
                "2019Q3",
                "1",
                "--",
            ]
        ),
    ),
    max_size=8,
)


@DEFAULT
@given(args=ARGUMENT_LISTS)
def test_any_argument_list_keeps_the_contract(sqlite_url, args):
    """Random argument lists (unknown commands, missing values, options as values...)."""
    assume("--db" not in args and "-o" not in args and "--output" not in args)
    attempt(sqlite_url, args)


@pytest.mark.slow
@SLOW
@given(args=ARGUMENT_LISTS)
def test_any_argument_list_keeps_the_contract_long(url, args):
    assume("--db" not in args and "-o" not in args and "--output" not in args)
    attempt(url, args)


# The stateful test --------------------------------------------------------------------------------

REFS = ["prosecute-convict", "undercover-techniques", "victim-identification", "labor-inspections"]
STATUSES = ["not_started", "in_progress", "partially_implemented", "implemented"]
KINDS = ["law", "court_case", "inspection", "media_report", "field_observation"]
SENSITIVITIES = ["public", "internal", "confidential"]
INDICATORS = ["kiln-inspections", "convictions", "victims-identified"]


@dataclass
class Model:
    """What the database must hold, as the machine believes it."""

    evidence: dict[int, dict[str, Any]] = field(default_factory=dict)
    retracted: dict[int, str] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[dict[str, Any]] = field(default_factory=list)


class RecordingMachine(RuleBasedStateMachine):
    """Random sequences of record commands against a model; checked against the database."""

    fresh_database: Any  # () -> (url, drop): a new copy of the loaded database for each run
    evidence_ids = Bundle("evidence_ids")

    def __init__(self) -> None:
        super().__init__()
        self.url, self.drop = type(self).fresh_database()
        self.model = Model()
        self.steps = 0

    def teardown(self) -> None:
        try:
            support.verify_ok(self.url)
        finally:
            self.drop()

    @rule(
        target=evidence_ids,
        title=texts(),
        summary=texts(long=True),
        day=date_texts,
        kind=st.sampled_from(KINDS + ["rumour"]),
        sensitivity=st.sampled_from(SENSITIVITIES + ["secret"]),
        recs=st.lists(st.sampled_from(REFS + ["no-such-rec"]), min_size=1, max_size=3),
    )
    def add_evidence(self, title, summary, day, kind, sensitivity, recs):
        args = [
            "evidence",
            "add",
            f"--title={title}",
            f"--summary={summary}",
            f"--date={day}",
            "--kind",
            kind,
            "--sensitivity",
            sensitivity,
        ]
        for ref in recs:
            args += ["--rec", ref]
        result = attempt(self.url, args)
        ok_title, clean_title = expected_text(title, required=True, max_length=models.TITLE_LENGTH, multiline=False)
        ok_summary, clean_summary = expected_text(summary, required=False, max_length=LONG_TEXT_LENGTH, multiline=True)
        valid = (
            ok_title
            and ok_summary
            and expected_date(day) is not None
            and kind in KINDS
            and sensitivity in SENSITIVITIES
            and "no-such-rec" not in recs
        )
        assert result.exit_code == (0 if valid else 2), (args[:8], result.output[:300])
        if not valid:
            return -1
        new_id = int(result.stdout)
        self.model.evidence[new_id] = {
            "title": clean_title,
            "summary": clean_summary,
            "kind": kind,
            "observed_on": expected_date(day).isoformat(),
            "sensitivity": sensitivity,
            "recs": sorted(set(recs)),
        }
        return new_id

    @rule(evidence_id=st.one_of(evidence_ids, st.integers(-1, 10**6).map(int)), reason=texts(long=True))
    def retract(self, evidence_id, reason):
        result = attempt(self.url, ["evidence", "retract", str(evidence_id), f"--reason={reason}"])
        ok, clean = expected_text(reason, required=True, max_length=LONG_TEXT_LENGTH, multiline=True)
        if evidence_id not in self.model.evidence or not ok:
            assert result.exit_code == 2, result.output[:300]
        elif evidence_id in self.model.retracted:
            assert result.exit_code == 1, result.output[:300]  # already retracted: a conflict
        else:
            assert result.exit_code == 0, result.output[:300]
            self.model.retracted[evidence_id] = clean

    @rule(
        ref=st.sampled_from(REFS + ["nope"]),
        status=st.sampled_from(STATUSES + ["done"]),
        day=date_texts,
        note=texts(long=True),
        cited=st.lists(st.one_of(evidence_ids, st.integers(1, 500)), max_size=2),
    )
    def set_status(self, ref, status, day, note, cited):
        args = ["status", "set", ref, status, f"--on={day}", f"--note={note}"]
        for evidence_id in cited:
            args += ["--evidence", str(evidence_id)]
        result = attempt(self.url, args)
        ok, clean = expected_text(note, required=True, max_length=LONG_TEXT_LENGTH, multiline=True)
        cited_ok = all(i in self.model.evidence for i in cited)
        valid = ok and ref in REFS and status in STATUSES and expected_date(day) is not None and cited_ok
        assert result.exit_code == (0 if valid else 2), (args[:6], result.output[:300])
        if valid:
            self.model.statuses.append(
                {
                    "id": int(result.stdout),
                    "ref": ref,
                    "status": status,
                    "effective_on": expected_date(day).isoformat(),
                    "note": clean,
                    "cited": sorted(set(cited)),
                }
            )

    @rule(
        code=st.sampled_from(INDICATORS + ["no-such-indicator"]),
        quarter=quarter_texts,
        value=number_texts,
        note=texts(long=True),
    )
    def record_measurement(self, code, quarter, value, note):
        result = attempt(self.url, ["indicator", "record", code, f"--note={note}", "--", quarter, value])
        start = expected_quarter(quarter)
        ok, clean = expected_text(note, required=False, max_length=LONG_TEXT_LENGTH, multiline=True)
        valid = (
            code in INDICATORS
            and start is not None
            and start <= clock.today()
            and expected_number(value) is not None
            and ok
        )
        assert result.exit_code == (0 if valid else 2), (code, quarter, value, result.output[:300])
        if valid:
            self.model.measurements.append(
                {"code": code, "quarter_start": start.isoformat(), "value": expected_number(value), "note": clean}
            )

    @invariant()
    def database_matches_the_model(self):
        self.steps += 1
        if self.steps % 3:  # every third step keeps the test quick; teardown verifies everything
            return
        self.check_everything()

    def check_everything(self):
        shown = json.loads(attempt(self.url, ["evidence", "list", "--include-retracted", "--json"]).stdout)
        assert {e["id"] for e in shown} == set(self.model.evidence)
        for item in shown:
            expected = self.model.evidence[item["id"]]
            assert {k: item[k] for k in ("title", "summary", "kind", "observed_on", "sensitivity")} == {
                k: expected[k] for k in ("title", "summary", "kind", "observed_on", "sensitivity")
            }
            assert sorted(link["ref"] for link in item["recommendations"]) == expected["recs"]
            retraction = item["retraction"]
            assert (retraction["reason"] if retraction else None) == self.model.retracted.get(item["id"])
        rows = support.sql_rows(
            self.url,
            "SELECT s.id, r.code, s.status, s.effective_on, s.note FROM status_update s "
            "JOIN recommendation r ON r.id = s.recommendation_id ORDER BY s.id",
        )
        assert [(i, ref, status, str(day), note) for i, ref, status, day, note in rows] == [
            (s["id"], s["ref"], s["status"], s["effective_on"], s["note"]) for s in self.model.statuses
        ]
        cited = support.sql_rows(self.url, "SELECT status_update_id, evidence_id FROM status_update_evidence")
        assert sorted(cited) == sorted((s["id"], e) for s in self.model.statuses for e in s["cited"])
        measured = support.sql_rows(
            self.url,
            "SELECT i.code, m.quarter_start, m.value, m.note FROM measurement m "
            "JOIN indicator i ON i.id = m.indicator_id ORDER BY m.id",
        )
        assert [(c, str(q), v, n) for c, q, v, n in measured] == [
            (m["code"], m["quarter_start"], m["value"], m["note"]) for m in self.model.measurements
        ]

    @precondition(lambda self: True)
    @rule()
    def check_now(self):
        self.check_everything()


def _run_machine(backend: str, request, tmp_path, examples: int, steps: int) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    counter = iter(range(10**6))
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_templates")["loaded"]

        def fresh_database():
            path = tmp_path / f"machine-{next(counter)}.db"
            shutil.copyfile(template, path)
            return str(path), path.unlink
    else:
        from sqlalchemy import text

        from conftest import _pg_admin, _pg_url

        template = request.getfixturevalue("pg_templates")["loaded"]
        admin = _pg_admin()

        def fresh_database():
            name = f"tracker_machine_{os.getpid()}_{next(counter)}"
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

            def drop():
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

            return _pg_url(name), drop

    RecordingMachine.fresh_database = staticmethod(fresh_database)
    run_state_machine_as_test(
        RecordingMachine, settings=settings(DEFAULT, max_examples=examples, stateful_step_count=steps)
    )


def test_random_sequences_of_record_commands_match_the_model(request, tmp_path):
    _run_machine("sqlite", request, tmp_path, examples=6, steps=10)


@pytest.mark.slow
def test_random_sequences_of_record_commands_match_the_model_long(backend, request, tmp_path):
    _run_machine(backend, request, tmp_path, examples=60, steps=25)


def test_a_non_utf8_byte_in_an_argument_is_an_input_error(sqlite_url):
    attempt(sqlite_url, [*EVIDENCE, "--title=T\udcffX"])
