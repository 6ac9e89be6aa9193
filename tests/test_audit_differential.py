"""The quick pass against the full check, on random databases with random tampering (hypothesis).

Each example copies a database holding a little of everything, adds a few random records
through the library, then tampers with it as an intruder would (a value changed, a row
deleted or added, a payload edited, the chain recomputed, a row recorded again by a new
event with a valid hash...). Whatever happened:

- the quick pass says OK only if the full check says OK, with the same counts and hashes;
- :func:`verify` (quick pass first) answers exactly what :func:`full_verify` answers,
  first bad event or row included;
- the quick pass and the full check declare the same invariants.

On PostgreSQL (when ``TRACKER_TEST_POSTGRES_URL`` is set) the same holds of its quick pass
(:mod:`tracker.audit.quick_postgres`, in one process or shared with a second), and the full
check must answer there what it answers on SQLite.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tracker import clock, services
from tracker.audit import canonical, quick, quick_postgres
from tracker.audit import verify as integrity
from tracker.audit.chain import Chain
from tracker.store.database import Database
from tracker.store.models import DOMAIN_TABLES

from conftest import POSTGRES_URL, _pg_admin, _pg_url

TABLES = {table.name: table for table in DOMAIN_TABLES}
START = datetime(2019, 10, 2, 9, tzinfo=UTC)
ODD = [
    None,
    "",
    "x",
    0,
    -1,
    1,
    1.5,
    2.0,
    2**40,
    "2019-02-30",
    "2019-07-01",
    "2019-07-01 12:00:00",
    "2019-07-02 09:00:00.000000",
    "done",
    "implemented",
    "public",
    'a"b',
    "tab\there",
    "\x01",
    "ក្រសួង",
    True,
]


def test_both_verifiers_declare_the_same_invariants():
    assert quick.CHECKS == quick_postgres.CHECKS == integrity.CHECKS == frozenset(canonical.INVARIANTS)


def _history(database: Database) -> None:
    """A little of everything, recorded through the library."""
    moments = iter(START + timedelta(hours=n) for n in range(1_000))

    def write(work):
        with clock.frozen(next(moments)):
            return database.write(work)

    write(lambda s: services.add_agency(s, "mowa", "Ministry of Women's Affairs", actor="ana"))
    write(lambda s: services.assign_agency(s, "undercover-techniques", "mowa", "support", actor="ana"))
    first = write(
        lambda s: (
            services.add_evidence(
                s,
                services.check_evidence(
                    recs=["undercover-techniques"],
                    title='Draft "law" of tab\\t',
                    observed_on="2019-07-01",
                    kind="law",
                    summary="ក្រសួង\nline two",
                    sensitivity="confidential",
                ),
                actor="ana",
            ).id
        )
    )
    write(
        lambda s: (
            services.add_evidence(
                s,
                services.check_evidence(
                    recs=["victim-identification", "labor-inspections"],
                    title="Inspections",
                    observed_on="2019-07-15",
                    kind="inspection",
                    stance="setback",
                    url="https://example.org/x",
                ),
                actor="bo",
            ).id
        )
    )
    write(
        lambda s: services.set_status(
            s,
            "undercover-techniques",
            "in_progress",
            effective_on="2019-07-01",
            note="Drafting",
            evidence_ids=[first],
            actor="ana",
        )
    )
    write(lambda s: services.record_measurement(s, "kiln-inspections", "2019Q3", 0.1, note="tenth", actor="bo"))
    write(lambda s: services.retract_evidence(s, first, "wrong", actor="ana"))
    write(
        lambda s: services.amend_evidence(
            s,
            first,
            {"title": "Draft law", "sensitivity": "internal"},
            links=[("prosecute-convict", "context")],
            reason="typo",
            actor="bo",
        )
    )
    write(lambda s: services.withdraw_status(s, 1, "wrong date", actor="ana"))
    write(
        lambda s: services.assign_agency(
            s, "undercover-techniques", "mowa", "lead", co_lead=True, reason="co-leads", actor="ana"
        )
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory, sqlite_templates) -> Path:
    path = tmp_path_factory.mktemp("differential") / "base.db"
    shutil.copyfile(sqlite_templates["loaded"], path)
    database = Database(str(path))
    try:
        _history(database)
    finally:
        database.dispose()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return path


# Tampering ------------------------------------------------------------------------------------------

tamperings = st.one_of(
    st.tuples(
        st.just("update"),
        st.sampled_from(sorted(TABLES)),
        st.integers(0, 50),
        st.integers(0, 20),
        st.one_of(st.sampled_from(ODD), st.text(max_size=5), st.floats(allow_nan=False, allow_infinity=False)),
    ),
    st.tuples(st.just("delete"), st.sampled_from(sorted(TABLES)), st.integers(0, 50)),
    st.tuples(
        st.just("duplicate"), st.sampled_from(["agency", "evidence_link", "recommendation_agency"]), st.integers(0, 50)
    ),
    st.tuples(st.just("payload"), st.integers(1, 60), st.integers(0, 20), st.sampled_from(ODD)),
    st.tuples(
        st.just("re-record"),
        st.sampled_from(["evidence", "status_update", "measurement", "agency", "correction"]),
        st.integers(0, 50),
        st.sampled_from([None, "public", "x", 0]),
    ),
    st.tuples(st.just("backdate"), st.integers(1, 60)),
    st.tuples(
        st.just("rewrite"),
        st.sampled_from(sorted(TABLES)),
        st.integers(0, 50),
        st.integers(0, 20),
        st.one_of(st.sampled_from(ODD), st.text(max_size=5), st.floats(allow_nan=False, allow_infinity=False)),
    ),
    st.tuples(st.just("nothing")),
    st.tuples(st.just("drop-event"), st.integers(1, 60)),
)
extras = st.lists(st.sampled_from(["evidence", "status", "measurement", "agency", "correction"]), max_size=3)


def _add(database: Database, what: str, n: int) -> None:
    with clock.frozen(START + timedelta(days=30, hours=n)):
        if what == "evidence":
            database.write(
                lambda s: services.add_evidence(
                    s,
                    services.check_evidence(
                        recs=["prosecute-convict"], title=f"Extra {n}", observed_on="2019-08-01", kind="court_case"
                    ),
                    actor="cy",
                )
            )
        elif what == "status":
            database.write(
                lambda s: services.set_status(
                    s, "labor-inspections", "implemented", effective_on="2019-08-01", note=f"Done {n}", actor="cy"
                )
            )
        elif what == "measurement":
            database.write(lambda s: services.record_measurement(s, "kiln-inspections", "2019Q2", float(n), actor="cy"))
        elif what == "correction":
            database.write(
                lambda s: services.amend_agency(s, "mowa", name=f"Ministry {n}", reason=f"Renamed {n}", actor="cy")
            )
        else:
            database.write(lambda s: services.add_agency(s, f"extra-{n}", f"Extra {n}", actor="cy"))


def _rows(connection, name: str) -> list[dict]:
    keys = ", ".join(f'"{c.name}"' for c in TABLES[name].primary_key.columns)
    result = connection.execute(text(f'SELECT * FROM "{name}" ORDER BY {keys}'))
    return [dict(row._mapping) for row in result]


def _where(name: str, row: dict) -> tuple[str, dict]:
    keys = [c.name for c in TABLES[name].primary_key.columns]
    return " AND ".join(f'"{k}" = :k_{k}' for k in keys), {f"k_{k}": row[k] for k in keys}


def _tamper(database: Database, case: tuple) -> bool:
    """Apply ``case``; False if it does not apply (nothing to tamper with there, or the database
    refuses the value: a rowid cannot hold text, a PostgreSQL date column a non-date)."""
    try:
        return _apply(database, case)
    except DBAPIError:
        return False


def _apply(database: Database, case: tuple) -> bool:
    kind = case[0]
    sqlite = database.is_sqlite
    with database.engine.connect() as connection:
        if sqlite:  # outside any transaction, where these take effect
            raw = connection.connection.driver_connection
            raw.execute("PRAGMA foreign_keys = OFF")
            raw.execute("PRAGMA ignore_check_constraints = ON")
        with connection.begin():
            if not sqlite:
                connection.exec_driver_sql("SET session_replication_role = replica")  # no FK or trigger checks
            if kind == "nothing":
                return True
            if kind in ("update", "delete", "duplicate", "re-record", "rewrite"):
                name, index = case[1], case[2]
                rows = _rows(connection, name)
                if not rows:
                    return False
                row = rows[index % len(rows)]
                where, keys = _where(name, row)
                if kind in ("update", "rewrite"):
                    columns = [c.name for c in TABLES[name].columns if c.name != "content"]
                    column = columns[case[3] % len(columns)]
                    connection.execute(
                        text(f'UPDATE "{name}" SET "{column}" = :v WHERE {where}'), {"v": case[4], **keys}
                    )
                    if kind == "rewrite":  # the record too, and every hash again: a consistent history
                        if not _rewrite_record(connection, name, row, column, case[4]):
                            return False
                        _recompute_chain(connection)
                elif kind == "delete":
                    connection.execute(text(f'DELETE FROM "{name}" WHERE {where}'), keys)
                elif kind == "duplicate":
                    copy = dict(row)
                    if "code" in copy:
                        copy["code"] += "-copy"
                    if "id" in copy:
                        copy["id"] = 10_000
                    elif name == "evidence_link":
                        copy["recommendation_id"] = 10_000
                    else:
                        copy["agency_id"] = 10_000
                    columns = ", ".join(f'"{c}"' for c in copy)
                    marks = ", ".join(f":{c}" for c in copy)
                    connection.execute(text(f'INSERT INTO "{name}" ({columns}) VALUES ({marks})'), copy)
                else:  # the forgery: change a row, then record it again in a new event with a valid hash
                    column = {
                        "evidence": "sensitivity",
                        "status_update": "note",
                        "measurement": "note",
                        "agency": "name",
                        "correction": "reason",
                    }[name]
                    value = case[3] if case[3] is not None or column == "note" else "public"
                    value = "forged" if column == "reason" and not value else value
                    connection.execute(text(f'UPDATE "{name}" SET "{column}" = :v WHERE {where}'), {"v": value, **keys})
                    changed = _rows(connection, name)[index % len(rows)]
                    from sqlalchemy.orm import Session

                    with Session(bind=connection) as session:
                        event = Chain(session, "intruder").append(
                            {"evidence": "evidence.add", "correction": "correction.record"}.get(name, f"{name}.add"),
                            {name: [changed]},
                        )
                        session.flush()
                        assert event["seq"] > 1
            elif kind in ("payload", "backdate", "drop-event"):
                count = connection.execute(text("SELECT count(*) FROM event")).scalar()
                seq = (case[1] - 1) % count + 1
                if kind == "drop-event":
                    connection.execute(text("DELETE FROM event WHERE seq = :s"), {"s": seq})
                elif kind == "backdate":
                    connection.execute(
                        text("UPDATE event SET recorded_at = :t WHERE seq = :s"), {"t": datetime(2019, 1, 1), "s": seq}
                    )
                else:
                    payload = connection.execute(text("SELECT payload FROM event WHERE seq = :s"), {"s": seq}).scalar()
                    document = json.loads(payload)
                    records = [r for rs in document.get("rows", {}).values() for r in rs]
                    if not records:
                        return False
                    record = records[case[2] % len(records)]
                    column = sorted(record)[case[2] % len(record)]
                    record[column] = case[3]
                    connection.execute(
                        text("UPDATE event SET payload = :p WHERE seq = :s"),
                        {"p": canonical.canonical(document), "s": seq},
                    )
    return True


def _rewrite_record(connection, name: str, row: dict, column: str, value) -> bool:
    keys = [c.name for c in TABLES[name].primary_key.columns]
    for seq, payload in connection.execute(text("SELECT seq, payload FROM event ORDER BY seq")).all():
        document = json.loads(payload)
        for record in document.get("rows", {}).get(name, ()):
            if all(record.get(k) == canonical.json_value(row[k]) for k in keys):
                record[column] = value
                connection.execute(
                    text("UPDATE event SET payload = :p WHERE seq = :s"), {"p": canonical.canonical(document), "s": seq}
                )
                return True
    return False


def _recompute_chain(connection) -> None:
    """Every hash made consistent again, as an intruder who rewrites history would."""
    from tracker.store.models import Event

    events = connection.execute(
        select(Event.seq, Event.recorded_at, Event.actor, Event.action, Event.payload).order_by(Event.seq)
    ).all()
    connection.execute(text("UPDATE event SET prev_hash = 'x' || seq, hash = 'y' || seq"))
    previous = canonical.GENESIS
    for seq, recorded_at, actor, action, payload in events:
        digest = canonical.event_hash(previous, seq, canonical.iso_utc(recorded_at), actor, action, payload)
        connection.execute(
            text("UPDATE event SET prev_hash = :p, hash = :h WHERE seq = :s"), {"p": previous, "h": digest, "s": seq}
        )
        previous = digest


def _verdicts(url: str) -> tuple[integrity.VerifyResult | None, integrity.VerifyResult, integrity.VerifyResult]:
    """(quick pass or None, full check, verify) on ``url``, each in a session of its own."""
    database = Database(url)
    try:
        with database.reading() as session:
            fast = integrity._quick_verify(session, None)
        with database.reading() as session:
            full = integrity.full_verify(session)
        with database.reading() as session:
            both = integrity.verify(session)
    finally:
        database.dispose()
    return fast, full, both


def _check(
    base: Path, folder: Path, added: list[str], case: tuple, *, events: bool = True
) -> integrity.VerifyResult | None:
    """The full check's answer on the tampered copy (None if ``case`` did not apply), having
    asserted that the quick pass and :func:`verify` agree with it."""
    path = folder / f"case-{os.getpid()}-{next(_numbers)}.db"
    shutil.copyfile(base, path)
    database = Database(str(path))
    try:
        for n, what in enumerate(added):
            _add(database, what, n)
        applied = _tamper(database, case)
    finally:
        database.dispose()
    if not applied:
        return None
    fast, full, both = _verdicts(str(path))
    if events:
        event(
            f"{case[0]}: the quick pass {'vouched' if fast else 'stood aside'}, the full check "
            f"{'found nothing' if full.ok else 'found ' + full.findings[0].problem.split(' (')[0]}"
        )
    if fast is not None:
        assert full.ok, (case, full.findings[:3])
        assert fast.as_dict() == full.as_dict(), case
    assert both.as_dict() == full.as_dict(), case
    path.unlink()
    return full


_numbers = iter(range(10**9))
SETTINGS = dict(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], derandomize=True
)


@settings(max_examples=50, **SETTINGS)
@given(added=extras, case=tamperings)
def test_the_quick_pass_says_ok_only_when_the_full_check_does(base, tmp_path, added, case):
    assume(_check(base, tmp_path, added, case) is not None)


@pytest.mark.slow
@settings(max_examples=500, **{**SETTINGS, "derandomize": False})
@given(added=extras, case=tamperings)
def test_the_quick_pass_says_ok_only_when_the_full_check_does_many(base, tmp_path, added, case):
    assume(_check(base, tmp_path, added, case) is not None)


def test_every_kind_of_tampering_here_is_caught(base, tmp_path):
    """The strategy's cases are real: each kind, applied once, is found by the full check."""
    cases = [
        ("update", "evidence", 1, 9, "public"),
        ("delete", "evidence_link", 0),
        ("duplicate", "agency", 0),
        ("payload", 5, 0, "x"),
        ("re-record", "evidence", 1, "public"),
        ("backdate", 6),
        ("drop-event", 3),
    ]
    for case in cases:
        result = _check(base, tmp_path, [], case, events=False)
        assert result is not None and not result.ok, (case, result)


# PostgreSQL: the full check answers the same cases as on SQLite ------------------------------------


@pytest.fixture(scope="module")
def pg_base(base) -> str:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need TRACKER_TEST_POSTGRES_URL")
    from tracker.importing import export, import_file

    name = f"tracker_differential_{os.getpid()}"
    admin = _pg_admin()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = _pg_url(name)
    target = Database(url)
    target.upgrade(backup=False)
    dump = base.parent / "base-export.json"
    source = Database(str(base))
    dump.write_bytes(export(source))
    source.dispose()
    import_file(target, dump, actor="restore")
    target.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _same_on_postgres(base: Path, template: str, folder: Path, case: tuple, *, split: bool = False) -> None:
    path = folder / f"pg-case-{next(_numbers)}.db"
    shutil.copyfile(base, path)
    lite = Database(str(path))
    try:
        applied = _tamper(lite, case)
    finally:
        lite.dispose()
    assume(applied)
    name = f"{template}_{next(_numbers)}"
    admin = _pg_admin()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    pg = Database(_pg_url(name))
    split_at = quick_postgres.SPLIT_MIN_EVENTS
    try:
        applied = _tamper(pg, case)
        assume(applied)
        quick_postgres.SPLIT_MIN_EVENTS = 2 if split else split_at  # (a second process for a short chain)
        fast, on_pg, both = _verdicts(_pg_url(name))
    finally:
        quick_postgres.SPLIT_MIN_EVENTS = split_at
        pg.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    event(f"PostgreSQL, {case[0]}: the quick pass {'vouched' if fast else 'stood aside'}")
    if fast is not None:
        assert on_pg.ok, (case, on_pg.findings[:3])
        assert fast.as_dict() == on_pg.as_dict(), case
    assert both.as_dict() == on_pg.as_dict(), case
    _fast, on_sqlite, _both = _verdicts(str(path))
    assert (on_pg.ok, on_pg.events, on_pg.rows) == (on_sqlite.ok, on_sqlite.events, on_sqlite.rows), case
    if not on_sqlite.ok:
        first_pg, first_lite = on_pg.findings[0], on_sqlite.findings[0]
        assert (first_pg.seq, first_pg.table, first_pg.key) == (first_lite.seq, first_lite.table, first_lite.key), (
            case,
            on_pg.findings[:2],
            on_sqlite.findings[:2],
        )


@pytest.mark.postgres
@settings(max_examples=20, **SETTINGS)
@given(
    case=tamperings.filter(lambda case: case[0] != "update" or not isinstance(case[4], str)),
    split=st.integers(0, 3).map(lambda n: n == 0),  # one example in four shares the chain with a second process
)
def test_on_postgresql_the_quick_pass_and_the_full_check_answer_the_same_cases(base, pg_base, tmp_path, case, split):
    _same_on_postgres(base, pg_base, tmp_path, case, split=split)


def test_a_remembered_spelling_is_given_only_for_the_same_stored_text():
    """The quick pass remembers how a stored value is spelled; ``1``, ``1.0`` and ``True`` are one
    dict key, so only text is remembered, and a value that failed to read fails every time."""
    spec = canonical.TableSpec(
        name="t", columns=("flag", "day", "size"), key=("flag",), kinds={"flag": "bool", "day": "date", "size": "float"}
    )
    record = canonical.Speller(spec, prepare=quick._Values().readers(spec)).record
    assert record((1, "2019-07-01", 1)) == '{"day":"2019-07-01","flag":true,"size":1.0}'
    assert record((0, "2019-07-01", 2.5)) == '{"day":"2019-07-01","flag":false,"size":2.5}'
    for row in [(1.0, "2019-07-01", 1), (True, "2019-07-01", 1), ("1", "2019-07-01", 1), (1, "2019-02-30", 1)]:
        for _ in range(2):
            with pytest.raises(quick.Unusual):
                record(row)
