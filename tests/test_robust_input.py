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

import itertools
import json
import math
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from tracker import clock, queries
from tracker.store import models
from tracker.store.database import Database
from tracker.validation import LONG_TEXT_LENGTH
from tracker.vocab import Direction, EvidenceKind, Pillar, Reliability, Role, Sensitivity, Stance

import robust_support as support
from conftest import add_evidence, dump, invoke, read, template, write

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
    # an empty --quarter= is refused too: leave the option out for no filter
    assert listed.exit_code == (0 if quarter_start else 2), (value, listed.output)


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
                "amend",
                "withdraw",
                "history",
                "rec",
                "assign",
                "unassign",
                "agency",
                "--reason",
                "--unlink",
                "--stance",
                "--target",
                "--no-target",
                "--due",
                "--no-due",
                "--co-lead",
                "evidence/1",
                "kiln-inspections",
                "moj",
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


# Corrections ---------------------------------------------------------------------------------
#
# `evidence amend`, `status withdraw`, `indicator withdraw`, `indicator amend`, `rec amend`,
# `rec assign` (on an assigned agency), `rec unassign`, `agency amend`, `history`: bad input gets
# one `Error:` line, exit 2 and nothing written (`attempt` compares the database before and
# after); a correction that would change nothing is bad input too. Each example that may
# succeed runs on a fresh copy of this database.


def correctable(database: Database, _folder) -> None:
    """Evidence 1 (labor-inspections, progress) and 2 (labor-inspections and victim-identification,
    setback); status 1 (labor-inspections, cites evidence 1) and 2 (withdrawn); measurements 1
    (kiln-inspections 2019Q3) and 2 (2019Q2, withdrawn); kiln-inspections' target corrected to 20;
    ncct unassigned from labor-inspections (molvt leads it)."""
    from tracker import services

    add_evidence(
        database,
        ["labor-inspections"],
        "Kilns inspected",
        "2019-07-30",
        "inspection",
        summary="Twelve kilns in Kandal",
        actor="analyst",
    )
    add_evidence(
        database,
        ["labor-inspections", "victim-identification"],
        "Two",
        "2019-08-01",
        "media_report",
        stance="setback",
        actor="analyst",
    )
    status = dict(effective_on="2019-09-30", actor="analyst")
    write(database, services.set_status, "labor-inspections", "in_progress", note="Started", evidence_ids=[1], **status)
    write(database, services.set_status, "victim-identification", "in_progress", note="Not so", **status)
    write(database, services.withdraw_status, 2, "Not assessed", actor="analyst")
    write(database, services.record_measurement, "kiln-inspections", "2019Q3", "12", actor="analyst")
    write(database, services.record_measurement, "kiln-inspections", "2019Q2", "5", actor="analyst")
    write(database, services.withdraw_measurement, 2, "Counted twice", actor="analyst")
    write(database, services.amend_indicator, "kiln-inspections", target="20", reason="The target", actor="analyst")
    write(database, services.unassign_agency, "labor-inspections", "ncct", "Not involved", actor="analyst")


CORRECTABLE = template("robust-correctable", correctable)
EVIDENCE_IDS, STATUS_IDS, MEASUREMENT_IDS = {1, 2}, {1, 2}, {1, 2}
WITHDRAWN = {"status": {2}, "measurement": {2}}
REFS_STORED = {"prosecute-convict", "undercover-techniques", "victim-identification", "labor-inspections"}
INDICATOR_CODES = {"prosecutions", "convictions", "victims-identified", "kiln-inspections", "debt-bondage-cases"}
AGENCY_CODES = {"ncct", "moi", "moj", "molvt", "mosvy"}


def _fresh_databases(backend: str, request, tmp_path) -> Iterator[Callable[[], str]]:
    """``fresh()``: the URL of a database as ``correctable`` left it, new for each call."""
    if backend == "sqlite":
        from conftest import _sqlite_template

        source = _sqlite_template(request.getfixturevalue("sqlite_templates"), CORRECTABLE)
        counter = itertools.count()

        def fresh() -> str:
            path = tmp_path / f"correctable-{next(counter)}.db"
            shutil.copyfile(source, path)
            return str(path)

        yield fresh
        return
    from conftest import _pg_url

    pool = request.getfixturevalue("pg_pool")
    held: list[str] = []

    def fresh() -> str:
        while held:  # put back as its template is, then taken again
            pool.give_back(CORRECTABLE, held.pop())
        held.append(pool.take(CORRECTABLE))
        return _pg_url(held[-1])

    yield fresh
    while held:
        pool.give_back(CORRECTABLE, held.pop())


@pytest.fixture
def fresh_sqlite(request, tmp_path) -> Iterator[Callable[[], str]]:
    yield from _fresh_databases("sqlite", request, tmp_path)


@pytest.fixture
def fresh_any(backend, request, tmp_path) -> Iterator[Callable[[], str]]:
    yield from _fresh_databases(backend, request, tmp_path)


def outcome(name: str) -> None:
    """Counted by ``--hypothesis-show-statistics`` (in a hypothesis test)."""
    if currently_in_test_context():
        event(name)


def refused(url: str, args: list[str], *fragments: str) -> None:
    """``tracker ARGS`` exits 2 with one ``Error:`` line saying ``fragments``, and writes nothing."""
    result = attempt(url, args)
    assert result.exit_code == 2, (args, result.output[:500])
    outcome("refused")
    for fragment in fragments:
        assert fragment in result.stderr, (args, fragment, result.stderr[:500])


def corrected(url: str, args: list[str]) -> Any:
    """``tracker ARGS`` succeeds as a correction: nothing on stdout, "old -> new" lines on stderr,
    and its rows and their event written."""
    before = {table: rows for table, rows in dump(url).items() if table in ("correction", "event")}
    result = attempt(url, args)
    assert result.exit_code == 0, (args, result.output[:500])
    assert result.stdout == ""
    # one "RECORD: FIELD OLD -> NEW" line per change (a value of several lines takes several)
    assert result.stderr.endswith("\n") and " -> " in result.stderr.splitlines()[0], result.stderr[:500]
    outcome("corrected")
    after = dump(url)
    assert len(after["correction"]) > len(before["correction"]) and len(after["event"]) == len(before["event"]) + 1
    return result


BAD_CORRECTIONS = [
    # --reason missing or blank
    (["evidence", "amend", "1", "--title=T"], "--reason"),
    (["evidence", "amend", "1", "--title=T", "--reason= \t"], "--reason"),
    (["status", "withdraw", "1"], "--reason"),
    (["status", "withdraw", "1", "--reason="], "--reason"),
    (["indicator", "withdraw", "1"], "--reason"),
    (["indicator", "withdraw", "1", "--reason=\n"], "--reason"),
    (["indicator", "amend", "kiln-inspections", "--name=N"], "--reason"),
    (["rec", "amend", "labor-inspections", "--title=T"], "--reason"),
    (["rec", "amend", "labor-inspections", "--title=T", "--reason=\u3000"], "--reason"),
    (["rec", "assign", "labor-inspections", "molvt", "--role=support"], "--reason"),
    (["rec", "assign", "labor-inspections", "molvt", "--role=support", "--reason= "], "--reason"),
    (["rec", "assign", "labor-inspections", "ncct", "--role=support"], "--reason"),  # unassigned: assigned again
    (["rec", "unassign", "labor-inspections", "molvt"], "--reason"),
    (["rec", "unassign", "labor-inspections", "molvt", "--reason=  "], "--reason"),
    (["agency", "amend", "moj", "--name=N"], "--reason"),
    (["agency", "amend", "moj", "--name=N", "--reason=\x00"], "--reason"),
    # unknown ids, refs, codes
    (["evidence", "amend", "3", "--title=T", "--reason=r"], "unknown evidence id 3"),
    (["status", "withdraw", "3", "--reason=r"], "3"),
    (["indicator", "withdraw", "3", "--reason=r"], "3"),
    (["indicator", "amend", "no-such", "--name=N", "--reason=r"], "no-such"),
    (["rec", "amend", "no-such", "--title=T", "--reason=r"], "no-such"),
    (["rec", "assign", "no-such", "moj", "--role=support"], "no-such"),
    (["rec", "assign", "labor-inspections", "no-such", "--role=support"], "no-such"),
    (["rec", "unassign", "no-such", "molvt", "--reason=r"], "no-such"),
    (["rec", "unassign", "labor-inspections", "no-such", "--reason=r"], "no-such"),
    (["rec", "unassign", "labor-inspections", "moj", "--reason=r"], "not assigned"),
    (["agency", "amend", "no-such", "--name=N", "--reason=r"], "no-such"),
    (["evidence", "amend", "1", "--rec=no-such", "--stance=progress", "--reason=r"], "no-such"),
    (["evidence", "amend", "1", "--unlink=no-such", "--reason=r"], "no-such"),
    # a REF or code with a NUL byte is unknown (PostgreSQL would refuse it in a query)
    (["history", "rec/a\x00"], "a\\x00"),
    (["history", "agency/a\x00"], "a\\x00"),
    (["rec", "amend", "a\x00", "--title=T", "--reason=r"], "a\\x00"),
    (["indicator", "amend", "a\x00", "--name=N", "--reason=r"], "a\\x00"),
    (["agency", "amend", "a\x00", "--name=N", "--reason=r"], "a\\x00"),
    (["rec", "unassign", "labor-inspections", "a\x00", "--reason=r"], "a\\x00"),
    # an id past 2**31 - 1 (the id columns are 32-bit on PostgreSQL) is refused before the query
    (["evidence", "amend", "2147483648", "--title=T", "--reason=r"], "2147483648"),
    (["status", "withdraw", "2147483648", "--reason=r"], "2147483648"),
    (["indicator", "withdraw", str(2**62), "--reason=r"], str(2**62)),
    (["history", "evidence/2147483648"], "2147483648"),
    (["history", "status/2147483648"], "2147483648"),
    (["history", "measurement/2147483648"], "2147483648"),
    # ids that are not whole numbers in digits
    (["evidence", "amend", "abc", "--title=T", "--reason=r"], "evidence id"),
    (["evidence", "amend", "1.0", "--title=T", "--reason=r"], "evidence id"),
    (["evidence", "amend", "+1", "--title=T", "--reason=r"], "evidence id"),
    (["evidence", "amend", "１", "--title=T", "--reason=r"], "evidence id"),
    (["evidence", "amend", "0", "--title=T", "--reason=r"], "evidence id"),
    (["status", "withdraw", "x", "--reason=r"], "status id"),
    (["status", "withdraw", "--reason=r", "--", "-1"], "status id"),
    (["indicator", "withdraw", "1e0", "--reason=r"], "measurement id"),
    (["indicator", "withdraw", "", "--reason=r"], "measurement id"),
    # unknown values of a vocabulary
    (["evidence", "amend", "1", "--kind=rumour", "--reason=r"], "rumour"),
    (["evidence", "amend", "1", "--kind=", "--reason=r"], "--kind"),
    (["evidence", "amend", "1", "--sensitivity=secret", "--reason=r"], "secret"),
    (["evidence", "amend", "1", "--reliability=maybe", "--reason=r"], "maybe"),
    (["evidence", "amend", "1", "--rec=victim-identification", "--stance=maybe", "--reason=r"], "maybe"),
    (["indicator", "amend", "kiln-inspections", "--direction=sideways", "--reason=r"], "sideways"),
    (["rec", "amend", "labor-inspections", "--pillar=policing", "--reason=r"], "policing"),
    (["rec", "assign", "labor-inspections", "moj", "--role=boss"], "boss"),
    # options that exclude each other
    (["indicator", "amend", "kiln-inspections", "--target=5", "--no-target", "--reason=r"], "not both"),
    (["rec", "amend", "labor-inspections", "--due=2020-12-31", "--no-due", "--reason=r"], "not both"),
    (["rec", "amend", "labor-inspections", "--verbatim", "--paraphrase", "--reason=r"], "not both"),
    # --rec and --stance in pairs
    (["evidence", "amend", "1", "--rec=victim-identification", "--reason=r"], "--stance"),
    (["evidence", "amend", "1", "--stance=progress", "--reason=r"], "--stance"),
    (
        ["evidence", "amend", "1", "--rec=victim-identification", "--rec=prosecute-convict", "--stance=progress"]
        + ["--reason=r"],
        "--stance",
    ),
    (
        ["evidence", "amend", "1", "--rec=victim-identification", "--stance=progress"]
        + ["--rec=victim-identification", "--stance=context", "--reason=r"],
        "twice",
    ),
    (
        ["evidence", "amend", "2", "--rec=victim-identification", "--stance=progress"]
        + ["--unlink=victim-identification", "--reason=r"],
        "both",
    ),
    # unlinking
    (["evidence", "amend", "1", "--unlink=victim-identification", "--reason=r"], "does not bear on"),
    (["evidence", "amend", "1", "--unlink=labor-inspections", "--reason=r"], "no recommendation"),
    (
        ["evidence", "amend", "2", "--unlink=labor-inspections", "--unlink=victim-identification", "--reason=r"],
        "no recommendation",
    ),
    # the same --unlink twice says so (not "both linked (--rec) and unlinked")
    (
        ["evidence", "amend", "2", "--unlink=victim-identification", "--unlink=victim-identification", "--reason=r"],
        "twice",
    ),
    # a second lead
    (["rec", "assign", "labor-inspections", "moj"], "--co-lead"),
    (["rec", "assign", "labor-inspections", "moj", "--role=lead", "--reason=r"], "--co-lead"),
    # dates, numbers, positions
    (["evidence", "amend", "1", "--date=2019-02-29", "--reason=r"], "--date"),
    (["evidence", "amend", "1", "--date=9999-12-31", "--reason=r"], "future"),
    (["rec", "amend", "labor-inspections", "--due=2020-13-01", "--reason=r"], "--due"),
    (["rec", "amend", "labor-inspections", "--due=", "--reason=r"], "--due"),
    (["rec", "amend", "labor-inspections", "--position=0", "--reason=r"], "--position"),
    (["rec", "amend", "labor-inspections", "--position=1_0", "--reason=r"], "--position"),
    (["indicator", "amend", "kiln-inspections", "--target=inf", "--reason=r"], "--target"),
    (["indicator", "amend", "kiln-inspections", "--target=0x10", "--reason=r"], "--target"),
    (["indicator", "amend", "kiln-inspections", "--target=", "--reason=r"], "--target"),
    # blank or bad text
    (["evidence", "amend", "1", "--title= ", "--reason=r"], "--title"),
    (["rec", "amend", "labor-inspections", "--text=\n", "--reason=r"], "--text"),
    (["indicator", "amend", "kiln-inspections", "--unit=a\x1bb", "--reason=r"], "--unit"),
    (["agency", "amend", "moj", "--name=", "--reason=r"], "--name"),
    # nothing would change
    (["evidence", "amend", "1", "--reason=r"], "nothing would change"),
    (["evidence", "amend", "1", "--title= Kilns inspected ", "--reason=r"], "nothing would change"),
    (["evidence", "amend", "1", "--kind=inspection", "--reason=r"], "nothing would change"),
    (["evidence", "amend", "1", "--url=", "--reason=r"], "nothing would change"),
    (
        ["evidence", "amend", "2", "--rec=victim-identification", "--stance=setback", "--reason=r"],
        "nothing would change",
    ),
    (["status", "withdraw", "2", "--reason=r"], "nothing would change"),
    (["indicator", "withdraw", "2", "--reason=r"], "nothing would change"),
    (["indicator", "amend", "kiln-inspections", "--reason=r"], "nothing would change"),
    (["indicator", "amend", "kiln-inspections", "--target=2e1", "--reason=r"], "nothing would change"),
    (["indicator", "amend", "kiln-inspections", "--direction=up", "--reason=r"], "nothing would change"),
    (["rec", "amend", "labor-inspections", "--reason=r"], "nothing would change"),
    (["rec", "amend", "labor-inspections", "--no-due", "--reason=r"], "nothing would change"),
    (["rec", "amend", "labor-inspections", "--paraphrase", "--reason=r"], "nothing would change"),
    (["rec", "amend", "labor-inspections", "--pillar=prevention", "--reason=r"], "nothing would change"),
    (["rec", "assign", "labor-inspections", "molvt", "--role=lead", "--reason=r"], "nothing would change"),
    (["rec", "unassign", "labor-inspections", "ncct", "--reason=r"], "not assigned"),
    (["agency", "amend", "moj", "--reason=r"], "nothing would change"),
    (["agency", "amend", "moj", "--name=Ministry of Justice", "--reason=r"], "nothing would change"),
    # history: a malformed or unknown RECORD
    (["history", ""], "evidence/ID"),
    (["history", "evidence"], "evidence/ID"),
    (["history", "evidence/"], "evidence/ID"),
    (["history", "evidence/ "], "evidence/ID"),
    (["history", "/1"], "evidence/ID"),
    (["history", "Evidence/1"], "evidence/ID"),
    (["history", "evidence:1"], "evidence/ID"),
    (["history", "recommendation/labor-inspections"], "evidence/ID"),
    (["history", "evidence/x"], "evidence id"),
    (["history", "evidence/1/2"], "evidence id"),
    (["history", "evidence/0"], "evidence id"),
    (["history", "evidence/3"], "3"),
    (["history", "status/3"], "3"),
    (["history", "measurement/-1"], "measurement id"),
    (["history", "rec/no-such"], "no-such"),
    (["history", "rec/tip-2019-khm/no-such"], "no-such"),
    (["history", "indicator/no-such"], "no-such"),
    (["history", "agency/no-such"], "no-such"),
    # empty filter values; --db after the command
    (["evidence", "list", "--quarter="], "--quarter is empty"),
    (["evidence", "list", "--kind="], "--kind is empty"),
    (["evidence", "list", "--rec="], "--rec is empty"),
    (["rec", "list", "--status="], "--status is empty"),
    (["rec", "list", "--pillar="], "--pillar is empty"),
    (["rec", "list", "--agency="], "--agency is empty"),
    (["rec", "list", "--source="], "--source is empty"),
    (["rec", "list", "--source=tip-2019-khm", "--source= "], "--source is empty"),
    (["rec", "list", "--db", "other.db"], "before the command"),
    (["rec", "list", "--db=other.db"], "before the command"),
]


@pytest.mark.parametrize(
    ("args", "fragment"), [pytest.param(args, fragment, id=" ".join(args)) for args, fragment in BAD_CORRECTIONS]
)
def test_bad_corrections_exit_2_and_write_nothing(make_url_for, args, fragment):
    refused(make_url_for(CORRECTABLE), args, fragment)


def test_each_correction_command_has_bad_cases():
    commands = {tuple(args[:2]) if args[0] != "history" else ("history",) for args, _ in BAD_CORRECTIONS}
    assert commands >= {
        ("evidence", "amend"),
        ("status", "withdraw"),
        ("indicator", "withdraw"),
        ("indicator", "amend"),
        ("rec", "amend"),
        ("rec", "assign"),
        ("rec", "unassign"),
        ("agency", "amend"),
        ("history",),
    }


# Each succeeds on a fresh correctable database when given a good --reason.
CORRECTIONS = {
    "evidence amend": ["evidence", "amend", "1", "--title=Kilns inspected twice"],
    "evidence amend --rec": ["evidence", "amend", "1", "--rec=victim-identification", "--stance=context"],
    "evidence amend --unlink": ["evidence", "amend", "2", "--unlink=victim-identification"],
    "status withdraw": ["status", "withdraw", "1"],
    "indicator withdraw": ["indicator", "withdraw", "1"],
    "indicator amend": ["indicator", "amend", "kiln-inspections", "--no-target"],
    "rec amend": ["rec", "amend", "labor-inspections", "--due=2020-12-31"],
    "rec assign": ["rec", "assign", "labor-inspections", "molvt", "--role=support"],
    "rec assign again": ["rec", "assign", "labor-inspections", "ncct", "--role=support"],
    "rec unassign": ["rec", "unassign", "labor-inspections", "molvt"],
    "agency amend": ["agency", "amend", "moj", "--name=Ministry of Justice (MoJ)"],
}
reasons = st.one_of(st.none(), WHITESPACE, texts(long=True))


def check_reason(url: str, name: str, reason: str | None) -> None:
    args = CORRECTIONS[name] + ([] if reason is None else [f"--reason={reason}"])
    ok, clean = (
        (False, None)
        if reason is None
        else expected_text(reason, required=True, max_length=LONG_TEXT_LENGTH, multiline=True)
    )
    if not ok:
        return refused(url, args, "--reason")
    corrected(url, args)
    latest = support.sql_rows(url, "SELECT reason, recorded_by FROM correction ORDER BY id DESC LIMIT 1")
    assert latest == [(clean, "analyst")]


@settings(DEFAULT, max_examples=40)
@given(name=st.sampled_from(list(CORRECTIONS)), reason=reasons)
def test_a_correction_needs_a_reason_and_stores_it_as_given(fresh_sqlite, name, reason):
    check_reason(fresh_sqlite(), name, reason)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CORRECTIONS))
@settings(SLOW, max_examples=60)
@given(reason=reasons)
def test_a_correction_needs_a_reason_and_stores_it_as_given_long(fresh_any, name, reason):
    check_reason(fresh_any(), name, reason)


# ID -> arguments; the ids it succeeds on
ID_COMMANDS = {
    "evidence amend": (lambda i: ["evidence", "amend", "--title=Retitled", "--reason=r", "--", i], EVIDENCE_IDS),
    "status withdraw": (lambda i: ["status", "withdraw", "--reason=r", "--", i], STATUS_IDS - WITHDRAWN["status"]),
    "indicator withdraw": (
        lambda i: ["indicator", "withdraw", "--reason=r", "--", i],
        MEASUREMENT_IDS - WITHDRAWN["measurement"],
    ),
    "history evidence": (lambda i: ["history", f"evidence/{i}"], EVIDENCE_IDS),
    "history status": (lambda i: ["history", f"status/{i}", "--json"], STATUS_IDS),
    "history measurement": (lambda i: ["history", f"measurement/{i}"], MEASUREMENT_IDS),
}
id_texts = st.one_of(
    st.sampled_from(["1", "2"]),
    st.builds(lambda pad, i: pad + i + pad, WHITESPACE, st.sampled_from(["1", "2", "01"])),
    st.integers(-3, 10**20).map(str),
    st.sampled_from(
        [" 1 ", "01", "0002", "+1", "-0", "１", "١", "1.0", "1e0", "0x1", "1_0", "1 2", "1\x00", "", str(2**62)]
        + [str(2**62 + 1), str(2**63), "\t2\n"]
    ),
    texts(),
)


def expected_id(value: str, succeeds_on: set[int], *, history: bool) -> bool:
    clean = value.strip()
    if history:  # RECORD is stripped as a whole, then the part after the first "/"
        clean = ("x/" + value).strip().partition("/")[2].strip()
    return bool(re.fullmatch(r"[0-9]+", clean)) and int(clean) in succeeds_on


def check_id(url: str, name: str, value: str) -> None:
    build, succeeds_on = ID_COMMANDS[name]
    args = build(value)
    result = attempt(url, args)
    ok = expected_id(value, succeeds_on, history=name.startswith("history"))
    outcome("accepted" if ok else "refused")
    assert result.exit_code == (0 if ok else 2), (
        args,
        result.output[:300],
    )


@settings(DEFAULT, max_examples=40)
@given(name=st.sampled_from(list(ID_COMMANDS)), value=id_texts)
def test_ids_are_whole_numbers_of_stored_records(fresh_sqlite, name, value):
    check_id(fresh_sqlite(), name, value)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ID_COMMANDS))
@SLOW
@given(value=id_texts)
def test_ids_are_whole_numbers_of_stored_records_long(fresh_any, name, value):
    check_id(fresh_any(), name, value)


# A field of a vocabulary: its values, the value now (None: a new link or assignment), the command.
VOCABULARY_FIELDS = {
    "evidence --kind": (EvidenceKind, "inspection", lambda v: ["evidence", "amend", "1", f"--kind={v}"]),
    "evidence --sensitivity": (Sensitivity, "internal", lambda v: ["evidence", "amend", "1", f"--sensitivity={v}"]),
    "evidence --reliability": (Reliability, "credible", lambda v: ["evidence", "amend", "1", f"--reliability={v}"]),
    "evidence --stance, a new link": (
        Stance,
        None,
        lambda v: ["evidence", "amend", "1", "--rec=victim-identification", f"--stance={v}"],
    ),
    "evidence --stance of a link": (
        Stance,
        "progress",
        lambda v: ["evidence", "amend", "1", "--rec=labor-inspections", f"--stance={v}"],
    ),
    "indicator --direction": (
        Direction,
        "up",
        lambda v: ["indicator", "amend", "kiln-inspections", f"--direction={v}"],
    ),
    "rec --pillar": (Pillar, "prevention", lambda v: ["rec", "amend", "labor-inspections", f"--pillar={v}"]),
    "rec assign --role": (Role, "lead", lambda v: ["rec", "assign", "labor-inspections", "molvt", f"--role={v}"]),
}


def vocabulary_values(enum) -> st.SearchStrategy[str]:
    values = [member.value for member in enum]
    return st.one_of(
        st.sampled_from(values),
        st.builds(lambda v, pad: pad + v + pad, st.sampled_from(values), WHITESPACE),
        st.sampled_from(values).flatmap(
            lambda v: st.sampled_from(
                [v.upper(), v.title(), v[:-1], v + "s", v + "\x00", f"'{v}'", v.replace("_", "-")]
            )
        ),
        texts(),
    )


vocabulary_cases = st.sampled_from(list(VOCABULARY_FIELDS)).flatmap(
    lambda name: st.tuples(st.just(name), vocabulary_values(VOCABULARY_FIELDS[name][0]))
)


def check_vocabulary(url: str, name: str, value: str) -> None:
    enum, now, build = VOCABULARY_FIELDS[name]
    args = [*build(value), "--reason=Checked"]
    clean = value.strip()
    if clean not in {member.value for member in enum}:
        return refused(url, args)
    if clean == now:
        return refused(url, args, "nothing would change")
    corrected(url, args)


@settings(DEFAULT, max_examples=60)
@given(case=vocabulary_cases)
def test_vocabulary_values(fresh_sqlite, case):
    check_vocabulary(fresh_sqlite(), *case)


@pytest.mark.slow
@SLOW
@given(case=vocabulary_cases)
def test_vocabulary_values_long(fresh_any, case):
    check_vocabulary(fresh_any(), *case)


def _evidence_1(key: str):
    return lambda session: queries.evidence_record(session, 1)[key]


def _rec(key: str):
    return lambda session: getattr(queries.recommendation(session, "labor-inspections"), key)


def _indicator(key: str):
    return lambda session: queries.indicator_detail(session, "kiln-inspections")[key]


def _agency_name(session) -> str:
    return next(a["name"] for a in queries.agency_list(session) if a["code"] == "moj")


# (required, max length, multiline, the command, what `show` gives now)
AMENDED_TEXTS = {
    "evidence --title": (True, models.TITLE_LENGTH, False, ["evidence", "amend", "1", "--title"], _evidence_1("title")),
    "evidence --summary": (
        False,
        LONG_TEXT_LENGTH,
        True,
        ["evidence", "amend", "1", "--summary"],
        _evidence_1("summary"),
    ),
    "evidence --source-name": (
        False,
        models.NAME_LENGTH,
        False,
        ["evidence", "amend", "1", "--source-name"],
        _evidence_1("source_name"),
    ),
    "evidence --url": (False, models.URL_LENGTH, False, ["evidence", "amend", "1", "--url"], _evidence_1("url")),
    "rec --title": (True, models.TITLE_LENGTH, False, ["rec", "amend", "labor-inspections", "--title"], _rec("title")),
    "rec --text": (True, LONG_TEXT_LENGTH, True, ["rec", "amend", "labor-inspections", "--text"], _rec("text")),
    "indicator --name": (
        True,
        models.TITLE_LENGTH,
        False,
        ["indicator", "amend", "kiln-inspections", "--name"],
        _indicator("name"),
    ),
    "indicator --unit": (
        True,
        models.NAME_LENGTH,
        False,
        ["indicator", "amend", "kiln-inspections", "--unit"],
        _indicator("unit"),
    ),
    "agency --name": (True, models.TITLE_LENGTH, False, ["agency", "amend", "moj", "--name"], _agency_name),
}


def check_amended_text(url: str, name: str, value: str, *, padded_current: bool = False) -> None:
    required, max_length, multiline, command, now = AMENDED_TEXTS[name]
    database = Database(url)
    before = read(database, now)
    database.dispose()
    if padded_current:  # the value it has, with whitespace around it
        assume(before is not None)
        value = value + before + value
    *words, option = command
    args = [*words, f"{option}={value}", "--reason=Corrected"]
    accepted, clean = expected_text(value, required=required, max_length=max_length, multiline=multiline)
    if not accepted:
        return refused(url, args, option)
    if clean == before:
        return refused(url, args, "nothing would change")
    corrected(url, args)
    database = Database(url)
    assert read(database, now) == clean  # what `show` prints now
    database.dispose()


@settings(DEFAULT, max_examples=60)
@given(name=st.sampled_from(list(AMENDED_TEXTS)), value=texts(long=True))
def test_amended_texts_are_stored_exactly_as_given(fresh_sqlite, name, value):
    check_amended_text(fresh_sqlite(), name, value)


@settings(DEFAULT, max_examples=30)
@given(
    name=st.sampled_from([n for n in AMENDED_TEXTS if n not in ("evidence --source-name", "evidence --url")]),
    pad=WHITESPACE,
)
def test_amending_a_text_to_what_it_is_changes_nothing(fresh_sqlite, name, pad):
    check_amended_text(fresh_sqlite(), name, pad, padded_current=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(AMENDED_TEXTS))
@SLOW
@given(value=texts(long=True))
def test_amended_texts_are_stored_exactly_as_given_long(fresh_any, name, value):
    check_amended_text(fresh_any(), name, value)


def expected_due(value: str) -> date | None:
    """A due date: a strict YYYY-MM-DD day of the calendar, in the future too."""
    clean = value.strip()
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", clean):
        return None
    try:
        return date.fromisoformat(clean)
    except ValueError:
        return None


def check_target_and_due(url: str, target: str | None, due: str | None, no_target: bool, no_due: bool) -> None:
    """kiln-inspections' target is 20; labor-inspections has no due date."""
    if target is not None or no_target:
        args = ["indicator", "amend", "kiln-inspections", "--reason=r"]
        args += ([f"--target={target}"] if target is not None else []) + (["--no-target"] if no_target else [])
        number = None if target is None else expected_number(target)
        if target is not None and no_target:
            return refused(url, args, "not both")
        if target is not None and number is None:
            return refused(url, args, "--target")
        if number == 20:
            return refused(url, args, "nothing would change")
        corrected(url, args)
        database = Database(url)
        assert read(database, _indicator("target")) == number
        database.dispose()
    else:
        args = ["rec", "amend", "labor-inspections", "--reason=r"]
        args += ([f"--due={due}"] if due is not None else []) + (["--no-due"] if no_due else [])
        day = None if due is None else expected_due(due)
        if due is not None and no_due:
            return refused(url, args)  # "not both", or the bad date first
        if due is not None and day is None:
            return refused(url, args, "--due")
        if day is None:
            return refused(url, args, "nothing would change")
        corrected(url, args)
        database = Database(url)
        assert read(database, _rec("due_on")) == day
        database.dispose()


@settings(DEFAULT, max_examples=40)
@given(
    target=st.one_of(st.none(), number_texts, st.sampled_from(["20", "20.0", "2e1", "+20", "020", " 20 "])),
    due=st.one_of(st.none(), date_texts),
    no_target=st.booleans(),
    no_due=st.booleans(),
)
def test_targets_and_due_dates(fresh_sqlite, target, due, no_target, no_due):
    check_target_and_due(fresh_sqlite(), target, due, no_target, no_due)


# history RECORD: kind/ident
_KINDS = ["evidence", "rec", "status", "indicator", "measurement", "agency"]
_RECORDS = (
    [f"{kind}/{i}" for kind in ("evidence", "status", "measurement") for i in (1, 2)]
    + [f"rec/{ref}" for ref in sorted(REFS_STORED)]
    + [f"rec/tip-2019-khm/{ref}" for ref in sorted(REFS_STORED)]
    + [f"indicator/{code}" for code in sorted(INDICATOR_CODES)]
    + [f"agency/{code}" for code in sorted(AGENCY_CODES)]
)
record_texts = st.one_of(
    st.builds(lambda pad, record: pad + record + pad, WHITESPACE, st.sampled_from(_RECORDS)),
    st.builds(
        lambda pad, kind, sep, ident: f"{pad}{kind}{sep}{ident}{pad}",
        WHITESPACE,
        st.sampled_from(_KINDS + ["Evidence", "recs", "", "event", "correction", "status "]),
        st.sampled_from(["/", "/", "/", "//", "\\", ":", "", "/ "]),
        st.one_of(
            st.sampled_from(
                ["1", "2", "3", "0", "01", " 1", "x", "1/2", ""]
                + sorted(REFS_STORED | INDICATOR_CODES | AGENCY_CODES)
                + [f"tip-2019-khm/{ref}" for ref in sorted(REFS_STORED)]
                + ["tip-2018-khm/labor-inspections", "LABOR-INSPECTIONS", "moj ", "/moj"]
            ),
            texts(),
        ),
    ),
    texts().map(str),  # .map: one branch of three, not flattened into texts()'s own four
)


def expected_record(record: str) -> bool:
    kind, _, ident = record.strip().partition("/")
    if kind not in _KINDS or not ident.strip():
        return False
    if kind in ("evidence", "status", "measurement"):
        clean = ident.strip()
        return bool(re.fullmatch(r"[0-9]+", clean)) and int(clean) in {1, 2}  # two of each
    if kind == "rec":
        ref = ident.strip()
        return ref in REFS_STORED or (ref.startswith("tip-2019-khm/") and ref.partition("/")[2] in REFS_STORED)
    return ident in (INDICATOR_CODES if kind == "indicator" else AGENCY_CODES)  # codes as given


def check_history(url: str, record: str, as_json: bool) -> None:
    result = attempt(url, ["history", record, *(["--json"] if as_json else [])])
    ok = expected_record(record)
    outcome("shown" if ok else "refused")
    assert result.exit_code == (0 if ok else 2), (record, result.output[:300])
    if ok and as_json:
        history = json.loads(result.stdout)
        kind, _, ident = record.strip().partition("/")
        assert history["record"] == f"{kind}/{ident.strip()}"
        assert [v["version"] for v in history["versions"]] == list(range(1, len(history["versions"]) + 1))
        assert history["versions"][0]["reason"] is None
        assert all(v["reason"] for v in history["versions"][1:])


@pytest.fixture
def correctable_url(make_url_for) -> str:
    """One correctable database, for commands that only read."""
    return make_url_for(CORRECTABLE)


@settings(DEFAULT, max_examples=60)
@given(record=record_texts, as_json=st.booleans())
def test_history_records(correctable_url, record, as_json):
    check_history(correctable_url, record, as_json)


FILTERS = [
    ["evidence", "list", "--quarter"],
    ["evidence", "list", "--kind"],
    ["evidence", "list", "--rec"],
    ["rec", "list", "--status"],
    ["rec", "list", "--pillar"],
    ["rec", "list", "--agency"],
    ["rec", "list", "--source"],
    ["rec", "list", "--source=tip-2019-khm", "--source"],
]


@DEFAULT
@given(command=st.sampled_from(FILTERS), value=WHITESPACE, as_json=st.booleans())
def test_an_empty_filter_value_is_an_error(sqlite_url, command, value, as_json):
    *words, option = command
    refused(sqlite_url, [*words, f"{option}={value}", *(["--json"] if as_json else [])], f"{option} is empty")


@DEFAULT
@given(
    command=st.sampled_from(
        [
            ["rec", "list"],
            ["evidence", "list"],
            ["rec", "show", "labor-inspections"],
            ["history", "rec/labor-inspections"],
        ]
    ),
    where=texts(),
    joined=st.booleans(),
)
def test_db_after_the_command_says_to_put_it_first(sqlite_url, command, where, joined):
    refused(sqlite_url, [*command, *([f"--db={where}"] if joined else ["--db", where])], "before the command")


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
