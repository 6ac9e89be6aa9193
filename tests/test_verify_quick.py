"""The quick pass of ``tracker verify`` (tracker/quick.py) against the full verification.

The quick pass may only say "all is well" when the full verification finds nothing, and
then it must report the same counts and hashes. These tests populate a SQLite database
with every kind of row and awkward values (quotes, backslashes, line breaks, control
characters, non-ASCII text, nulls, floats, files, retractions, imports), then check that
the quick pass vouches for it (in one process and split in two), and that after any of a
set of tamperings, with the chain recomputed or not, it stands aside whenever the full
verification finds a problem.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tracker import clock
from tracker.audit import canonical as audit_record
from tracker.audit import quick as quickcheck
from tracker.audit import verify as integrity
from tracker.clock import iso_utc
from tracker.store.database import Database
from tracker.store.models import DOMAIN_TABLES, Event

from conftest import invoke

AWKWARD = ['He said "done"', "back\\slash", "two\nlines\tand a tab", "ក្រសួង ✓ 🧱", "=SUM(A1)", "x" * 300]


def run_ok(url: str, *args: str) -> None:
    result = invoke(["--db", url, *args])
    assert result.exit_code == 0, (args, result.output)


@pytest.fixture(scope="module")
def populated(tmp_path_factory, sqlite_templates) -> str:
    """A database with rows of every table, awkward values and a CSV import."""
    folder = tmp_path_factory.mktemp("quick")
    path = folder / "populated.db"
    shutil.copyfile(sqlite_templates["loaded"], path)
    url = str(path)
    attachment = folder / "scan.pdf"
    attachment.write_bytes(bytes(range(256)) * 8)
    with clock.frozen(datetime(2019, 10, 20, 9, tzinfo=UTC)):
        run_ok(url, "agency", "add", "nca", "National Committee")
        run_ok(url, "rec", "assign", "undercover-techniques", "nca", "--role", "support")
        for n, title in enumerate(AWKWARD):
            run_ok(
                url,
                "evidence",
                "add",
                "--rec",
                "victim-identification",
                "--rec",
                "labor-inspections",
                "--title",
                title.replace("\n", " ").replace("\t", " "),
                "--date",
                f"2019-08-{n + 1:02d}",
                "--kind",
                "media_report",
                "--summary",
                title,
                "--url",
                f"https://example.org/{n}",
                "--source-name",
                title.replace("\n", " ").replace("\t", " ")[:100],
            )
        run_ok(
            url,
            "evidence",
            "add",
            "--rec",
            "undercover-techniques",
            "--title",
            "With a file",
            "--date",
            "2019-08-20",
            "--kind",
            "law",
            "--attach",
            str(attachment),
            "--sensitivity",
            "confidential",
        )
        run_ok(
            url,
            "evidence",
            "add",
            "--rec",
            "undercover-techniques",
            "--title",
            "Same file again",
            "--date",
            "2019-08-21",
            "--kind",
            "law",
            "--attach",
            str(attachment),
        )
        run_ok(
            url,
            "status",
            "set",
            "undercover-techniques",
            "in_progress",
            "--on",
            "2019-08-01",
            "--note",
            'Draft "law"\nline two',
            "--evidence",
            "1",
            "--evidence",
            "2",
        )
        run_ok(
            url,
            "status",
            "set",
            "victim-identification",
            "partially_implemented",
            "--on",
            "2019-09-01",
            "--note",
            "No evidence cited",
        )
        run_ok(url, "indicator", "record", "kiln-inspections", "2019Q3", "0.1", "--note", "tenth")
        run_ok(url, "indicator", "record", "kiln-inspections", "2019Q2", "1e20")
        run_ok(url, "evidence", "retract", "3", "--reason", 'Withdrawn: "wrong"')
        csv_file = folder / "import.csv"
        lines = ["rec,title,date,kind,stance,summary,url"]
        lines += [
            f'"labor-inspections;prosecute-convict",Imported {n} ""quoted"",2019-07-{n % 28 + 1:02d},inspection,'
            f'context,"Line one\nline two {n}",' + ("" if n % 3 else f"https://example.org/i/{n}")
            for n in range(300)
        ]
        csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        run_ok(url, "import", str(csv_file))
        run_ok(
            url,
            "evidence",
            "add",
            "--rec",
            "labor-inspections",
            "--title",
            "After the import",
            "--date",
            "2019-09-30",
            "--kind",
            "inspection",
        )
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return url


@pytest.fixture
def copy(populated, tmp_path) -> str:
    path = tmp_path / "copy.db"
    shutil.copyfile(populated, path)
    return str(path)


def both(url: str, anchor: str | None = None):
    """(quick result or None, full result), each in a session of its own."""
    database = Database(url)
    try:
        with database.reading() as session:
            quick = integrity._quick_verify(session, anchor)
        with database.reading() as session:
            full = integrity.full_verify(session, anchor)
    finally:
        database.dispose()
    return quick, full


def same(quick: integrity.VerifyResult, full: integrity.VerifyResult) -> None:
    assert quick.as_dict() == full.as_dict()


def test_the_quick_pass_vouches_for_an_honest_database(copy):
    quick, full = both(copy)
    assert full.ok, full.findings
    assert quick is not None
    same(quick, full)


def test_with_an_anchor_it_reports_the_same_anchor(copy):
    database = Database(copy)
    with Session(database.engine) as session:
        anchor = session.scalars(select(Event.hash).where(Event.seq == 5)).one()
    database.dispose()
    quick, full = both(copy, anchor)
    assert quick is not None and quick.anchor_seq == 5
    same(quick, full)
    quick, full = both(copy, "f" * 64)
    assert quick is None and not full.ok  # an anchor not in the chain: the full verification reports it


def test_split_in_two_processes_it_gives_the_same_answer(copy, monkeypatch):
    monkeypatch.setattr(quickcheck, "SPLIT_MIN_EVENTS", 2)
    calls = []
    helper = quickcheck._Helper

    def counted(*args, **kwargs):
        calls.append(args)
        return helper(*args, **kwargs)

    monkeypatch.setattr(quickcheck, "_Helper", counted)
    quick, full = both(copy)
    assert calls, "the second process was used"
    assert quick is not None
    same(quick, full)


def test_inside_a_write_transaction_it_sees_its_own_rows(copy, monkeypatch):
    """A restore verifies its rows before committing: the second process could not see them,
    nor could the connection that checks the file beside the scan (its check is not used)."""
    monkeypatch.setattr(quickcheck, "SPLIT_MIN_EVENTS", 2)
    where = _storage_checks_counted(monkeypatch)
    database = Database(copy)
    try:

        def work(session):
            chain = integrity.Chain(session, "tester")
            session.execute(text("INSERT INTO agency (id, code, name) VALUES (99, 'late', 'Late Agency')"))
            chain.append("agency.add", {"agency": [{"id": 99, "code": "late", "name": "Late Agency"}]})
            session.flush()
            quick = integrity._quick_verify(session, None)
            assert quick is not None
            same(quick, integrity.full_verify(session, None))
            raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            database.write(work)
    finally:
        database.dispose()
    assert where == ["after", "after"], where  # the quick pass's (the thread saw another snapshot), the full check's


def _storage_checks_counted(monkeypatch) -> list[str]:
    """Where verify's checks of the file ran: "beside" (the quick pass's thread) or "after"."""
    where: list[str] = []
    beside, after = integrity.file_problems, integrity.storage_problems

    def in_the_thread(connection):
        where.append("beside")
        return beside(connection)

    def afterwards(session):
        where.append("after")
        return after(session)

    monkeypatch.setattr(integrity, "file_problems", in_the_thread)
    monkeypatch.setattr(integrity, "storage_problems", afterwards)
    return where


@pytest.mark.parametrize("split", [False, True])
def test_the_file_is_checked_beside_the_scan_and_not_again(copy, monkeypatch, split):
    if split:
        monkeypatch.setattr(quickcheck, "SPLIT_MIN_EVENTS", 2)
    where = _storage_checks_counted(monkeypatch)
    quick, full = both(copy)
    assert quick is not None
    same(quick, full)
    assert where == ["beside", "after"]  # the quick pass's thread; then the full check's own, in its session


def test_a_damaged_index_found_beside_the_scan_leaves_the_answer_to_the_full_check(copy, monkeypatch):
    where = _storage_checks_counted(monkeypatch)
    monkeypatch.setattr(integrity, "file_problems", lambda connection: where.append("beside") or ["damaged"])
    database = Database(copy)
    try:
        with database.reading() as session:
            assert integrity._quick_verify(session, None) is None
    finally:
        database.dispose()
    assert where == ["beside"]


# Tampering ---------------------------------------------------------------------------------------


def _connect(url: str) -> sqlite3.Connection:
    connection = sqlite3.connect(url)
    connection.execute("PRAGMA ignore_check_constraints = ON")
    connection.execute("PRAGMA foreign_keys = OFF")
    return connection


def recompute_chain(url: str) -> None:
    """Make every hash consistent again (what an intruder who rewrites history would do)."""
    connection = _connect(url)
    rows = connection.execute("SELECT seq, recorded_at, actor, action, payload FROM event ORDER BY seq").fetchall()
    connection.execute("UPDATE event SET prev_hash = 'x' || seq, hash = 'y' || seq")
    previous = integrity.GENESIS
    for seq, recorded_at, actor, action, payload in rows:
        stamp = (
            recorded_at.replace(" ", "T") + "Z"
            if isinstance(recorded_at, str) and len(recorded_at) == 26
            else iso_utc(datetime.fromisoformat(str(recorded_at)).replace(tzinfo=UTC))
        )
        digest = integrity.event_hash(previous, seq, stamp, actor, action, payload)
        connection.execute("UPDATE event SET prev_hash = ?, hash = ? WHERE seq = ?", (previous, digest, seq))
        previous = digest
    connection.commit()
    connection.close()


def edit_payload(url: str, seq: int, edit) -> None:
    connection = _connect(url)
    payload = connection.execute("SELECT payload FROM event WHERE seq = ?", (seq,)).fetchone()[0]
    document = json.loads(payload)
    edit(document)
    connection.execute("UPDATE event SET payload = ? WHERE seq = ?", (audit_record.canonical(document), seq))
    connection.commit()
    connection.close()


def _row_and_event(url: str, rng: random.Random) -> tuple[str, dict, int]:
    """A random recorded row: its table, its record, and the seq of the event recording it."""
    connection = _connect(url)
    events = connection.execute("SELECT seq, payload FROM event").fetchall()
    connection.close()
    choices = [
        (name, record, seq)
        for seq, payload in events
        for name, records in json.loads(payload).get("rows", {}).items()
        for record in records
    ]
    return rng.choice(choices)


ODD_VALUES = [
    None,
    "",
    "x",
    0,
    -1,
    1.5,
    2**40,
    "2019-02-30",
    "2019-07-01 12:00:00",
    "2019-13-01T00:00:00.000000Z",
    "done",
    'a"b',
    "tab\there",
    "\x01",
    b"\x00\x01",
    "1",
    True,
]


def _key_names(name: str) -> list[str]:
    return [c.name for c in {t.name: t for t in DOMAIN_TABLES}[name].primary_key.columns]


def _where(name: str, record: dict) -> tuple[str, list]:
    keys = _key_names(name)
    return " AND ".join(f'"{k}" = ?' for k in keys), [record[k] for k in keys]


@pytest.mark.parametrize("seed", range(40))
def test_after_tampering_it_stands_aside_whenever_the_full_check_finds_something(copy, seed):
    rng = random.Random(seed)
    name, record, seq = _row_and_event(copy, rng)
    column = rng.choice([c for c in record])
    value = rng.choice(ODD_VALUES)
    where, keys = _where(name, record)
    how = rng.choice(
        ["row", "row and payload", "row, payload and chain", "payload and chain", "delete row", "extra record, chain"]
    )
    connection = _connect(copy)
    if how.startswith("row"):
        try:
            connection.execute(f'UPDATE OR IGNORE "{name}" SET "{column}" = ? WHERE {where}', [value, *keys])
        except sqlite3.IntegrityError:  # a rowid cannot hold it: the row stays as it was
            pass
    elif how == "delete row":
        connection.execute(f'DELETE FROM "{name}" WHERE {where}', keys)
    connection.commit()
    connection.close()
    if "payload" in how:

        def edit(document):
            for item in document["rows"][name]:
                if all(item[k] == record[k] for k in _key_names(name)):
                    item[column] = value if not isinstance(value, bytes) else value.decode("latin-1")

        edit_payload(copy, seq, edit)
    if how == "extra record, chain":
        edit_payload(copy, seq, lambda document: document["rows"][name].append(dict(record)))
    if "chain" in how:
        recompute_chain(copy)
    quick, full = both(copy)
    if quick is not None:
        assert full.ok, (how, name, column, value, full.findings[:3])
        same(quick, full)
    # whether the quick pass vouched or stood aside, verify answers what the full check does
    database = Database(copy)
    try:
        with database.reading() as session:
            answer = integrity.verify(session)
    finally:
        database.dispose()
    assert answer.as_dict() == full.as_dict(), (how, name, column, value)


@pytest.mark.parametrize(
    "statement, found",
    [
        ("UPDATE evidence SET title = title || ' ' WHERE id = 2", True),
        ("UPDATE evidence_link SET stance = 'setback' WHERE evidence_id = 2", True),
        ("DELETE FROM evidence_link WHERE rowid = (SELECT max(rowid) FROM evidence_link)", True),
        ("INSERT INTO agency (id, code, name) VALUES (98, 'ghost', 'Ghost')", True),
        ("UPDATE measurement SET value = 0.30000000000000004 WHERE id = 1", True),
        ("UPDATE event SET payload = payload || ' ' WHERE seq = 4", True),
        ("UPDATE attachment SET size = size + 1", True),
        ("UPDATE source SET complete = 2", True),
        ("UPDATE status_update SET effective_on = '2019-8-1' WHERE id = 1", True),
        # read back by SQLAlchemy as the instant it was (they were all recorded at 09:00:00.000000):
        # the full verification finds nothing, the quick pass leaves such a value to it
        ("UPDATE event SET recorded_at = '2019-10-20 09:00:00' WHERE seq = 3", False),
    ],
)
def test_plain_edits_are_left_to_the_full_verification(copy, statement, found):
    connection = _connect(copy)
    connection.execute(statement)
    connection.commit()
    connection.close()
    quick, full = both(copy)
    assert quick is None
    assert full.ok is not found


def test_a_record_and_its_row_are_spelled_alike_exactly_when_their_values_are_equal():
    """Both verifiers compare a stored row with the record of its event through the one speller:
    the record's JSON values read as the columns' kinds read them (a whole float, a date's or an
    instant's ISO text), anything else spelled apart."""
    from datetime import date

    from tracker.audit.canonical import read_recorded
    from tracker.audit.chain import speller, table_spec
    from tracker.store.models import Measurement

    table = Measurement.__table__
    spec, spell = table_spec(table), speller(table).record
    assert spec.columns == (
        "id",
        "indicator_id",
        "quarter_start",
        "value",
        "note",
        "evidence_id",
        "recorded_at",
        "recorded_by",
    )
    row = (1, 2, date(2019, 7, 1), 100.0, 'ក្រសួង "q"\n', None, datetime(2019, 10, 5, 12, tzinfo=UTC), "ana")
    record = {
        "id": 1,
        "indicator_id": 2,
        "quarter_start": "2019-07-01",
        "value": 100,
        "note": 'ក្រសួង "q"\n',
        "evidence_id": None,
        "recorded_at": "2019-10-05T12:00:00.000000Z",
        "recorded_by": "ana",
    }
    assert spell(row) == spell(read_recorded(spec, record))
    assert spell(row) == audit_record.canonical({**record, "value": 100.0})
    for column, other in [
        ("value", "100"),
        ("value", 100.5),
        ("quarter_start", "2019-7-1"),
        ("id", 1.0),
        ("recorded_at", "2019-10-05T12:00:00+00:00"),
        ("note", "ក្រសួង"),
        ("evidence_id", 0),
        ("recorded_by", None),
    ]:
        assert spell(row) != spell(read_recorded(spec, {**record, column: other})), (column, other)
    assert read_recorded(spec, {k: v for k, v in record.items() if k != "note"}) is None
    assert read_recorded(spec, {**record, "extra": 1}) is None
