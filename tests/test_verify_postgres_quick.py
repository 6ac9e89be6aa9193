"""The quick pass of ``tracker verify`` on PostgreSQL (tracker/audit/quick_postgres.py).

It may only vouch for a database the full check finds nothing wrong with, and then it gives
the same counts and hashes; when it stands aside, the full check that follows runs in the
same transaction, undisturbed (the pass runs in a savepoint), and names the problem. These
run only when ``TRACKER_TEST_POSTGRES_URL`` is set (the random cases are in
tests/test_audit_differential.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tracker import clock, services
from tracker.audit import quick, quick_postgres
from tracker.audit import verify as integrity
from tracker.store.database import Database

from conftest import POSTGRES_URL, _load_catalog, _pg_admin, _pg_url

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL tests need TRACKER_TEST_POSTGRES_URL"),
]

START = datetime(2019, 10, 2, 9, tzinfo=UTC)


def _history(database: Database) -> None:
    """Evidence on one and on two recommendations, a status, a measurement, a retraction, and an
    amendment that links old evidence to another recommendation (a link written long after its
    evidence: out of the order of the links' keys)."""
    moments = iter(START + timedelta(hours=n) for n in range(1_000))

    def write(work):
        with clock.frozen(next(moments)):
            return database.write(work)

    write(lambda s: services.add_agency(s, "mowa", "Ministry of Women's Affairs", actor="ana"))
    first = write(
        lambda s: (
            services.add_evidence(
                s,
                services.check_evidence(
                    recs=["undercover-techniques"],
                    title='Draft "law"',
                    observed_on="2019-07-01",
                    kind="law",
                    summary="ក្រសួង\nline two",
                ),
                actor="ana",
            ).id
        )
    )
    for n in range(5):
        write(
            lambda s, n=n: services.add_evidence(
                s,
                services.check_evidence(
                    recs=["victim-identification", "labor-inspections"][: 1 + n % 2],
                    title=f"Inspections {n}",
                    observed_on="2019-07-15",
                    kind="inspection",
                ),
                actor="bo",
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
    write(
        lambda s: services.amend_evidence(
            s, first, {"title": "Draft law"}, links=[("prosecute-convict", "context")], reason="typo", actor="bo"
        )
    )
    write(lambda s: services.retract_evidence(s, first, "wrong", actor="ana"))


@pytest.fixture(scope="module")
def template() -> Iterator[str]:
    name = f"tracker_quick_pg_{os.getpid()}"
    admin = _pg_admin()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(_pg_url(name))
    try:
        database.upgrade(backup=False)
        _load_catalog(_pg_url(name))
        _history(database)
    finally:
        database.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def url(template) -> Iterator[str]:
    """A copy of the template database, dropped after the test."""
    name = f"{template}_copy"
    admin = _pg_admin()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(name)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _verdicts(url: str) -> tuple[integrity.VerifyResult | None, integrity.VerifyResult]:
    database = Database(url)
    try:
        with database.reading() as session:
            fast = integrity._quick_verify(session, None)
        with database.reading() as session:
            full = integrity.full_verify(session)
    finally:
        database.dispose()
    return fast, full


def test_the_quick_pass_vouches_for_a_good_database_with_the_full_checks_counts(url):
    fast, full = _verdicts(url)
    assert full.ok, full.findings
    assert fast is not None, "the quick pass stood aside"
    assert fast.as_dict() == full.as_dict()
    assert fast.rows > fast.events > 10


def test_shared_with_a_second_process_it_gives_the_same_answer(url, monkeypatch):
    monkeypatch.setattr(quick_postgres, "SPLIT_MIN_EVENTS", 2)
    started = []
    helper = quick_postgres._Helper

    def counted(*args, **kwargs):
        started.append(kwargs.get("module"))
        return helper(*args, **kwargs)

    monkeypatch.setattr(quick_postgres, "_Helper", counted)
    fast, full = _verdicts(url)
    assert started == ["tracker.audit.quick_postgres"], "the second process was used"
    assert fast is not None and fast.as_dict() == full.as_dict()


@pytest.mark.parametrize("split", [False, True])
def test_after_tampering_it_stands_aside_and_the_full_check_names_the_row(url, monkeypatch, split):
    if split:
        monkeypatch.setattr(quick_postgres, "SPLIT_MIN_EVENTS", 2)
    database = Database(url)
    try:
        with database.engine.begin() as connection:
            connection.execute(text("UPDATE status_update SET note = 'edited' WHERE id = 1"))
        with database.reading() as session:
            assert integrity._quick_verify(session, None) is None
            # the same transaction goes on, undisturbed, for the full check
            result = integrity.verify(session)
    finally:
        database.dispose()
    assert not result.ok
    assert (result.findings[0].table, result.findings[0].key) == ("status_update", "1")
    assert "differs from what its event recorded (note)" in result.findings[0].problem


def test_a_value_psycopg_cannot_read_leaves_the_transaction_usable(url):
    """An instant PostgreSQL holds but Python cannot ('infinity'): the pass stands aside and
    the full check, in the same transaction, names it."""
    database = Database(url)
    try:
        with database.engine.begin() as connection:
            connection.execute(text("UPDATE evidence SET recorded_at = 'infinity' WHERE id = 2"))
        with database.reading() as session:
            assert integrity._quick_verify(session, None) is None
            result = integrity.verify(session)
    finally:
        database.dispose()
    assert not result.ok
    assert any(f.table == "evidence" and f.key == "2" for f in result.findings), result.findings


def test_inside_a_write_transaction_it_sees_its_own_rows(url, monkeypatch):
    """A restore verifies its rows before committing: a second process could not see them, so
    the pass checks them alone."""
    monkeypatch.setattr(quick_postgres, "SPLIT_MIN_EVENTS", 2)
    database = Database(url)

    def add_and_verify(session):
        services.add_agency(session, "extra", "Extra", actor="cy")
        session.flush()
        fast = integrity._quick_verify(session, None)
        return fast, integrity.full_verify(session)

    try:
        with clock.frozen(START + timedelta(days=60)):
            fast, full = database.write(add_and_verify)
    finally:
        database.dispose()
    assert full.ok, full.findings
    assert fast is not None and fast.as_dict() == full.as_dict()


def test_it_declares_the_invariants_of_the_full_check():
    assert quick_postgres.CHECKS == quick.CHECKS == integrity.CHECKS
