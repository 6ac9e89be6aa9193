"""The program's clock against the record: refused when it would stamp a wrong time, and the
recovery when a clock that ran ahead already stamped events (``tracker correct-clock``).

Before these checks a clock behind the chain was clamped: one command run with the clock in
2031 pinned every later event to 2031, and a report as of now silently left those out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from tracker import clock, importing, queries, render, reports, services
from tracker.audit.chain import CLOCK_TOLERANCE, last_event
from tracker.errors import ClockError, Conflict
from tracker.periods import Quarter
from tracker.store.database import Database
from tracker.store.models import Event

from conftest import POSTGRES_URL, read, verified, write

# Instants in the past: on PostgreSQL the writer refuses a clock ahead of the server's.
NOW = datetime(2024, 12, 2, 9, tzinfo=UTC)
AHEAD = NOW + timedelta(days=365)
REF = "undercover-techniques"


def assess(database: Database, at: datetime, status: str, on: str, note: str) -> None:
    with clock.frozen(at):
        write(database, services.set_status, REF, status, effective_on=on, note=note, actor="analyst")


def events(database: Database) -> int:
    return read(database, lambda s: s.scalar(select(func.count()).select_from(Event)))


def report(database: Database, as_of: datetime, fmt: str = "json") -> str:
    def build(session):
        return render.render(reports.quarterly(session, Quarter.parse("2019Q4"), as_of=as_of), fmt)

    return read(database, build)


def status_in(document: str) -> str:
    (rec,) = [r for r in json.loads(document)["recommendations"] if r["ref"] == REF]
    return rec["status"]


# The writer refuses a clock that would stamp a wrong time ------------------------------------------


def test_a_clock_behind_the_last_event_is_refused_naming_both_times(database):
    assess(database, NOW, "in_progress", "2019-09-30", "first")
    before = events(database)
    with clock.frozen(NOW - timedelta(hours=3)), pytest.raises(ClockError) as refused:
        write(database, services.set_status, REF, "implemented", effective_on="2019-10-30", note="x", actor="a")
    message = str(refused.value)
    assert "2024-12-02 06:00:00 UTC" in message and "2024-12-02 09:00:00 UTC" in message and "3 hours" in message
    assert "tracker correct-clock" in message and "\n" not in message and refused.value.exit_code == 1
    assert events(database) == before


def test_a_clock_a_little_behind_records_at_the_last_events_instant(database):
    assess(database, NOW, "in_progress", "2019-09-30", "first")
    assess(database, NOW - CLOCK_TOLERANCE + timedelta(seconds=1), "implemented", "2019-10-30", "second")
    assert read(database, lambda s: last_event(s).recorded_at) == NOW
    assert verified(database).ok


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only")
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_on_postgresql_a_clock_ahead_of_the_server_is_refused(database):
    server = read(database, lambda s: s.scalar(text("SELECT now()")))
    with clock.frozen(server + timedelta(hours=1)), pytest.raises(ClockError) as refused:
        write(database, services.set_status, REF, "implemented", effective_on="2019-10-30", note="x", actor="a")
    assert "ahead of the database server's" in str(refused.value) and "1 hour" in str(refused.value)
    assert events(database) == 1  # the catalog's
    with clock.frozen(server + timedelta(seconds=30)):  # within the tolerance
        write(database, services.set_status, REF, "implemented", effective_on="2019-10-30", note="x", actor="a")


# The recovery: a recorded clock correction -----------------------------------------------------------


def test_nothing_to_correct_is_refused(database):
    assess(database, NOW, "in_progress", "2019-09-30", "first")
    with clock.frozen(NOW + timedelta(minutes=1)), pytest.raises(Conflict, match="no clock ran ahead"):
        write(database, services.correct_clock, "just in case", actor="analyst")
    with clock.frozen(NOW), pytest.raises(Exception, match="--reason"):
        write(database, services.correct_clock, "  ", actor="analyst")


def test_after_a_correction_nothing_is_left_out_and_the_past_stays_as_it_was(database):
    assess(database, NOW - timedelta(days=1), "in_progress", "2019-09-30", "yesterday, clock right")
    yesterday = report(database, NOW - timedelta(hours=12))
    assess(database, AHEAD, "implemented", "2019-11-15", "clock a year ahead")
    # the report as of now leaves out what the clock stamped ahead, and says how many
    assert status_in(report(database, NOW)) == "in_progress"
    assert read(database, queries.stamped_after, NOW) == (1, AHEAD)
    with clock.frozen(NOW + timedelta(minutes=5)):
        corrected = database.write(
            lambda s: (lambda c: (c.last_seq, c.stamped_until))(
                services.correct_clock(s, "laptop clock was a year ahead", actor="analyst")
            )
        )
        assert corrected == (3, AHEAD)
        assess(database, NOW + timedelta(minutes=6), "implemented", "2019-12-01", "clock right again")
    later = NOW + timedelta(hours=1)
    assert status_in(report(database, later)) == "implemented"
    assert read(database, queries.stamped_after, later) == (0, None)
    # as of before the correction, the same bytes as ever; the fingerprint follows the chain's order
    assert report(database, NOW - timedelta(hours=12)) == yesterday
    assert report(database, NOW) == report(database, NOW)
    fingerprint = json.loads(report(database, later))["fingerprint"]
    assert fingerprint == read(database, lambda s: last_event(s).hash)
    result = verified(database)
    assert result.ok, result.findings
    assert result.events == 5


def test_the_latest_measurement_is_the_latest_known_not_the_latest_stamped(database):
    with clock.frozen(AHEAD):
        write(database, services.record_measurement, "prosecutions", "2019Q3", 99, actor="analyst")
    with clock.frozen(NOW):
        write(database, services.correct_clock, "clock ahead", actor="analyst")
        write(database, services.record_measurement, "prosecutions", "2019Q3", 12, actor="analyst")
    values = read(database, queries.measurement_values, known_at=NOW + timedelta(hours=1))
    assert list(values.values()) == [12.0]


def test_a_forged_correction_is_caught(database):
    """A correction made by hand that lowers the chain's time without cause does not verify."""
    assess(database, NOW, "in_progress", "2019-09-30", "first")
    # the writer refuses it (see above); forge one through the library's chain, the clock set back
    from tracker.audit.asof import rows_before
    from tracker.audit.canonical import canonical
    from tracker.audit.chain import Chain
    from tracker.store.models import ClockCorrection

    def forge(session):
        chain = Chain(session, "intruder", correcting_clock=True)
        row = ClockCorrection(
            stamped_until=chain.last_recorded_at,
            last_seq=chain.seq,
            rows_before=canonical(rows_before(session)),
            reason="forged",
            recorded_at=chain.recorded_at,
            recorded_by="intruder",
        )
        session.add(row)
        session.flush()
        chain.append("clock.correct", {"clock_correction": [row]})

    with clock.frozen(NOW - timedelta(seconds=30)):  # behind, but within the tolerance: no cause
        database.write(forge)
    result = verified(database)
    assert not result.ok
    assert [f.problem for f in result.findings] == ["recorded_at goes backwards along the chain"]


def test_an_export_with_a_correction_restores_and_verifies(database, make_url_for, tmp_path):
    assess(database, AHEAD, "implemented", "2019-11-15", "clock a year ahead")
    with clock.frozen(NOW):
        write(database, services.correct_clock, "clock ahead", actor="analyst")
    exported = tmp_path / "export.json"
    exported.write_bytes(importing.export(database))
    target = Database(make_url_for("empty"))
    try:
        with clock.frozen(NOW + timedelta(hours=1)):
            importing.import_file(target, exported, actor="restorer")
        assert verified(target).ok
        assert report(target, NOW + timedelta(hours=1)) == report(database, NOW + timedelta(hours=1))
    finally:
        target.dispose()


# A real clock a year ahead, then right again ---------------------------------------------------------


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs faketime (Debian: apt-get install faketime)")
def test_a_command_run_a_year_ahead_then_normal_use(tmp_path):
    environment = {**os.environ, "TRACKER_DATABASE_URL": str(tmp_path / "tracker.db")}
    environment.pop("TRACKER_DEBUG", None)

    def tracker(*args: str, fake: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tracker", *args]
        if fake:
            command = ["faketime", "-f", fake, *command]
        return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=120)

    assert tracker("init").returncode == 0
    assert (
        tracker("status", "set", REF, "in_progress", "--on", "2019-09-30", "--note", "ahead", fake="+365d").returncode
        == 0
    )
    # normal use: the next write is refused, saying what to do
    refused = tracker("status", "set", REF, "implemented", "--on", "2019-12-01", "--note", "right")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "days later" in refused.stderr and "tracker correct-clock" in refused.stderr
    # the report as of now says what it leaves out
    shown = tracker("report", "quarterly", "2019Q4", "--format", "json")
    assert shown.returncode == 0 and "1 event stamped after now" in shown.stderr
    assert status_in(shown.stdout) == "not_started"
    corrected = tracker("correct-clock", "--reason", "the laptop's clock was a year ahead")
    assert corrected.returncode == 0, corrected.stderr
    # nothing disappears: the report shows what `rec list` shows, and writing goes on
    shown = tracker("report", "quarterly", "2019Q4", "--format", "json")
    assert shown.stderr == "" and status_in(shown.stdout) == "in_progress"
    listed = json.loads(tracker("rec", "list", "--json").stdout)
    assert [r["status"] for r in listed if r["ref"] == REF] == ["in_progress"]
    assert tracker("status", "set", REF, "implemented", "--on", "2019-12-01", "--note", "right").returncode == 0
    assert status_in(tracker("report", "quarterly", "2019Q4", "--format", "json").stdout) == "implemented"
    checked = tracker("verify")
    assert checked.returncode == 0, checked.stderr
