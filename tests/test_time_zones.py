"""The machine's time zone changes nothing: dates are UTC dates (README, "Dates are UTC dates").

The library and the command line run under ``TZ`` = UTC, Pacific/Kiritimati (UTC+14) and
America/Los_Angeles (UTC-7 in October), in process (``TZ`` set and ``time.tzset()``) and
as ``python -m tracker`` subprocesses, at two frozen instants: EAST, when Kiritimati's
date is already the day after UTC's, and WEST, when Los Angeles's is still the day before.
At the same instant every zone accepts and refuses the same dates, the same ``--as-of``
gives the same bytes, and an export made in one zone restores in another. SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tracker import clock, importing, operations, services
from tracker.errors import InputError
from tracker.periods import parse_as_of, parse_date
from tracker.store.database import Database

from conftest import add_evidence, dump, invoke, template, write

ROOT = Path(__file__).resolve().parent.parent
ZONEINFO = Path("/usr/share/zoneinfo")
KIRITIMATI, LOS_ANGELES = "Pacific/Kiritimati", "America/Los_Angeles"
ZONES = ("UTC", KIRITIMATI, LOS_ANGELES)
# 2019-10-05 in UTC at both; 2019-10-06 02:00 in Kiritimati at EAST, 2019-10-04 20:00 in Los Angeles at WEST.
EAST = datetime(2019, 10, 5, 12, tzinfo=UTC)
WEST = datetime(2019, 10, 5, 3, tzinfo=UTC)
TODAY = date(2019, 10, 5)  # in UTC, at both instants
ACTOR = "tester"

pytestmark = [
    pytest.mark.skipif(not hasattr(time, "tzset"), reason="time.tzset() is Unix only"),
    pytest.mark.skipif(
        not all((ZONEINFO / zone).is_file() for zone in ZONES),
        reason=f"the tz database (tzdata) is not installed in {ZONEINFO}",
    ),
]


def local_date(instant: datetime, zone: str) -> date:
    return instant.astimezone(ZoneInfo(zone)).date()


@pytest.fixture
def machine_zone() -> Iterator[Callable[[str], None]]:
    """``machine_zone(name)`` makes ``name`` the process's local time zone; the old one comes back after the test."""
    previous = os.environ.get("TZ")

    def set_zone(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()
        local = time.localtime(EAST.timestamp())
        assert (local.tm_year, local.tm_mon, local.tm_mday) == local_date(EAST, name).timetuple()[:3], name

    yield set_zone
    if previous is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = previous
    time.tzset()


def fill(database: Database, folder: Path) -> None:
    """Evidence, assessments and values of 2019Q3, and an assessment effective on TODAY."""
    with clock.frozen(datetime(2019, 9, 2, 9, tzinfo=UTC)):
        kiln = add_evidence(database, ["labor-inspections"], "Kilns inspected", "2019-09-01", "inspection")
        write(
            database,
            services.set_status,
            "labor-inspections",
            "in_progress",
            effective_on="2019-09-01",
            note="Inspections began",
            evidence_ids=[kiln],
            actor=ACTOR,
        )
        write(database, services.record_measurement, "kiln-inspections", "2019Q3", "12", actor=ACTOR)
    with clock.frozen(datetime(2019, 10, 5, 1, tzinfo=UTC)):  # before WEST and EAST: TODAY in UTC
        write(
            database,
            services.set_status,
            "labor-inspections",
            "partially_implemented",
            effective_on="2019-10-05",
            note="Three provinces",
            actor=ACTOR,
        )


DATA = template("time-zones", fill)


@pytest.fixture
def data_url(make_url_for) -> str:
    return make_url_for(DATA)


def tracker(url: str, *args: str) -> tuple[int, str, str]:
    result = invoke(["--db", url, *args])
    return result.exit_code, result.stdout, result.stderr


# The library -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("instant", [EAST, WEST], ids=["east", "west"])
def test_today_is_the_utc_date_in_every_zone(machine_zone, zone, instant):
    machine_zone(zone)
    with clock.frozen(instant):
        assert clock.today() == TODAY
        assert parse_date("2019-10-05") == TODAY
        with pytest.raises(InputError, match=r"it is in the future \(today is 2019-10-05 in UTC\)"):
            parse_date("2019-10-06")


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("instant", [EAST, WEST], ids=["east", "west"])
def test_as_of_a_date_is_the_same_instant_in_every_zone(machine_zone, zone, instant):
    machine_zone(zone)
    with clock.frozen(instant):
        assert parse_as_of("2019-10-05") == datetime(2019, 10, 5, 23, 59, 59, 999999, tzinfo=UTC)
        assert parse_as_of("2019-10-04") == datetime(2019, 10, 4, 23, 59, 59, 999999, tzinfo=UTC)
        with pytest.raises(InputError, match=r"^invalid --as-of '2019-10-06': it is in the future"):
            parse_as_of("2019-10-06")


@pytest.mark.parametrize("zone", ZONES)
def test_evidence_dated_kiritimatis_today_is_refused_until_it_is_today_in_utc(machine_zone, zone):
    machine_zone(zone)
    kiritimati_today = local_date(EAST, KIRITIMATI)
    assert kiritimati_today == date(2019, 10, 6)
    with clock.frozen(EAST):
        for observed_on in (kiritimati_today.isoformat(), kiritimati_today):
            with pytest.raises(InputError, match=r"in the future \(today is 2019-10-05 in UTC\)"):
                services.check_evidence(recs=["labor-inspections"], title="T", observed_on=observed_on, kind="law")
        assert services.check_evidence(recs=["x"], title="T", observed_on="2019-10-05", kind="law").observed_on == TODAY
    with clock.frozen(datetime(2019, 10, 6, tzinfo=UTC)):  # midnight in UTC: now it is today everywhere it counts
        item = services.check_evidence(recs=["x"], title="T", observed_on=kiritimati_today, kind="law")
        assert item.observed_on == kiritimati_today


# The command line, in process --------------------------------------------------------------------------


REPORTS = [
    ["report", "quarterly", "2019Q3", "--format", "md"],
    ["report", "quarterly", "2019Q4", "--format", "json"],
    ["report", "quarterly", "2019Q3", "--format", "csv", "--audience", "public"],
    ["report", "timeline", "--from", "2019Q3", "--to", "2019Q4", "--format", "md"],
]


@pytest.mark.parametrize("instant", [EAST, WEST], ids=["east", "west"])
def test_the_same_as_of_gives_the_same_bytes_in_every_zone(machine_zone, data_url, instant):
    outputs = {}
    for zone in ZONES:
        machine_zone(zone)
        with clock.frozen(instant):
            outputs[zone] = {
                (tuple(args), as_of): tracker(data_url, *args, "--as-of", as_of)
                for args in REPORTS
                for as_of in ("2019-10-04", "2019-10-05", "2019-10-06")
            }
            outputs[zone]["rec list"] = tracker(data_url, "rec", "list", "--json")
    assert outputs[KIRITIMATI] == outputs["UTC"]
    assert outputs[LOS_ANGELES] == outputs["UTC"]
    for args in REPORTS:
        code, stdout, _ = outputs["UTC"][tuple(args), "2019-10-05"]
        assert code == 0 and stdout
        assert outputs["UTC"][tuple(args), "2019-10-04"][0] == 0
        code, stdout, stderr = outputs["UTC"][tuple(args), "2019-10-06"]
        assert (code, stdout) == (2, "")
        assert stderr.startswith(
            "Error: invalid --as-of '2019-10-06': it is in the future (today is 2019-10-05 in UTC)"
        )
    # the assessment effective on TODAY (UTC) is the current one, in every zone
    current = {view["ref"]: view["status"] for view in json.loads(outputs["UTC"]["rec list"][1])}
    assert current["labor-inspections"] == "partially_implemented"


@pytest.mark.parametrize("zone", ZONES)
def test_evidence_add_refuses_kiritimatis_today_while_utc_is_the_day_before(machine_zone, url, zone):
    machine_zone(zone)
    evidence = ["evidence", "add", "--rec", "labor-inspections", "--title", "Kiln", "--kind", "inspection"]
    before = dump(url)
    with clock.frozen(EAST):
        code, stdout, stderr = tracker(url, *evidence, "--date", "2019-10-06")
    assert (code, stdout) == (2, "")
    assert stderr == "Error: invalid --date '2019-10-06': it is in the future (today is 2019-10-05 in UTC)\n"
    assert dump(url) == before
    with clock.frozen(WEST):  # Los Angeles is still on 2019-10-04: TODAY in UTC is accepted all the same
        assert tracker(url, *evidence, "--date", "2019-10-05") == (0, "1\n", "")


# Export in one zone, restore in another --------------------------------------------------------------


def blank(url: str) -> Database:
    database = Database(url)
    operations.init(database, [], actor=ACTOR)
    return database


@pytest.mark.parametrize(
    ("writer", "restorer"), [(KIRITIMATI, LOS_ANGELES), (LOS_ANGELES, KIRITIMATI), (KIRITIMATI, "UTC")]
)
@pytest.mark.parametrize("instant", [EAST, WEST], ids=["east", "west"])
def test_an_export_made_in_one_zone_restores_in_another_at_the_same_instant(
    machine_zone, url, make_url_for, tmp_path, writer, restorer, instant
):
    database = Database(url)
    machine_zone(writer)
    with clock.frozen(instant):
        kiln = add_evidence(database, ["labor-inspections"], "Kilns today", TODAY.isoformat(), "inspection")
        write(
            database,
            services.set_status,
            "labor-inspections",
            "in_progress",
            effective_on=TODAY.isoformat(),
            note="Started today",
            evidence_ids=[kiln],
            actor=ACTOR,
        )
        write(database, services.record_measurement, "kiln-inspections", "2019Q4", "3", actor=ACTOR)
        document = importing.export(database, with_files=True)
    path = tmp_path / "export.json"
    path.write_bytes(document)

    machine_zone(restorer)
    with clock.frozen(instant):
        empty = blank(make_url_for("blank"))
        summary = importing.import_file(empty, path, actor=ACTOR)
        assert summary.kind == "export" and summary.rows > 0
        assert importing.export(empty, with_files=True) == document
    empty.dispose()
    database.dispose()


def _record_as_an_earlier_version_did(monkeypatch, database: Database, observed_on: date) -> None:
    """Evidence recorded at EAST while "today" was the machine's local date (Kiritimati's), as before UTC dates."""
    monkeypatch.setattr(clock, "today", lambda: observed_on)
    with clock.frozen(EAST):
        add_evidence(database, ["labor-inspections"], "Kilns in Kiritimati's today", observed_on.isoformat(), "law")
    monkeypatch.undo()


def test_an_export_holding_kiritimatis_today_restores_in_utc_at_the_same_instant(
    machine_zone, monkeypatch, url, make_url_for, tmp_path
):
    """The reported fault: evidence observed on Kiritimati's date, recorded while UTC was the day before."""
    database = Database(url)
    machine_zone(KIRITIMATI)
    _record_as_an_earlier_version_did(monkeypatch, database, local_date(EAST, KIRITIMATI))
    with clock.frozen(EAST):
        document = importing.export(database, with_files=True)
    path = tmp_path / "export.json"
    path.write_bytes(document)
    machine_zone("UTC")
    with clock.frozen(EAST):
        empty = blank(make_url_for("blank"))
        importing.import_file(empty, path, actor=ACTOR)
        assert importing.export(empty, with_files=True) == document
    empty.dispose()
    database.dispose()


def test_a_restore_refuses_a_date_after_the_day_it_was_recorded_everywhere(
    machine_zone, monkeypatch, url, make_url_for, tmp_path
):
    """Dated 2019-10-07 but recorded at EAST, when no zone on Earth had reached 2019-10-07."""
    database = Database(url)
    machine_zone(KIRITIMATI)
    _record_as_an_earlier_version_did(monkeypatch, database, date(2019, 10, 7))
    path = tmp_path / "export.json"
    with clock.frozen(EAST):
        path.write_bytes(importing.export(database, with_files=True))
    with clock.frozen(datetime(2030, 1, 1, tzinfo=UTC)):  # whenever it is restored
        empty = blank(make_url_for("blank"))
        before = dump(str(empty.url))
        with pytest.raises(InputError) as refused:
            importing.import_file(empty, path, actor=ACTOR)
    assert refused.value.exit_code == 2
    assert "evidence row 1 (id 1): field 'observed_on': invalid observed_on '2019-10-07': it is after the day" in str(
        refused.value
    )
    assert "(2019-10-05T12:00:00.000000Z)" in str(refused.value)
    assert dump(str(empty.url)) == before
    empty.dispose()
    database.dispose()


# The command line, as python -m tracker in another process ------------------------------------------------

# python -m tracker with the clock frozen at the instant given first (tests fix the clock in the library only).
FROZEN_TRACKER = """\
import runpy, sys
from datetime import datetime
from tracker import clock
instant = datetime.fromisoformat(sys.argv.pop(1))
sys.argv[0] = "tracker"
with clock.frozen(instant):
    runpy.run_module("tracker", run_name="__main__", alter_sys=True)
"""


def python_m_tracker(zone: str, *args: str, at: datetime | None = None) -> tuple[int, str, str]:
    """``TZ=zone python -m tracker ARGS`` (with the clock frozen ``at`` an instant, if given), this tree's code."""
    env = {**os.environ, "TZ": zone, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = ["-m", "tracker"] if at is None else ["-c", FROZEN_TRACKER, at.isoformat()]
    process = subprocess.run(
        [sys.executable, *command, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    return process.returncode, process.stdout, process.stderr


def test_python_m_tracker_gives_the_same_bytes_in_every_zone_now(data_url):
    """At the real instant: today's date in UTC is accepted, tomorrow's refused, alike in every zone."""
    from datetime import timedelta

    today = clock.today()
    as_ofs = [today.isoformat(), (today + timedelta(days=1)).isoformat()]
    results = {
        zone: [python_m_tracker(zone, "--db", data_url, *REPORTS[0], "--as-of", as_of) for as_of in as_ofs]
        for zone in (KIRITIMATI, LOS_ANGELES)
    }
    if clock.today() != today:
        pytest.skip("the date changed in UTC while the test ran")
    assert results[KIRITIMATI] == results[LOS_ANGELES]
    now, tomorrow = results[KIRITIMATI]
    assert now[0] == 0 and now[1], now
    assert tomorrow[0] == 2 and f"(today is {today} in UTC)" in tomorrow[2], tomorrow


def test_python_m_tracker_at_the_same_instant_agrees_in_every_zone(data_url, make_url_for, tmp_path):
    evidence = ["evidence", "add", "--rec", "labor-inspections", "--title", "Kiln", "--kind", "inspection"]
    refused = "Error: invalid --date '2019-10-06': it is in the future (today is 2019-10-05 in UTC)\n"
    for zone in (KIRITIMATI, LOS_ANGELES):  # at EAST, 2019-10-06 is Kiritimati's today
        assert python_m_tracker(zone, "--db", data_url, *evidence, "--date", "2019-10-06", at=EAST) == (2, "", refused)
    # at WEST, 2019-10-05 is Los Angeles's tomorrow
    reports = [python_m_tracker(z, "--db", data_url, *REPORTS[1], "--as-of", "2019-10-05", at=WEST) for z in ZONES[1:]]
    assert reports[0] == reports[1] and reports[0][0] == 0, reports

    added = python_m_tracker(KIRITIMATI, "--db", data_url, *evidence, "--date", "2019-10-05", at=WEST)
    assert added[0] == 0, added
    export = tmp_path / "export.json"
    written = python_m_tracker(KIRITIMATI, "--db", data_url, "export", "--with-files", "-o", str(export), at=WEST)
    assert written[0] == 0, written
    restored_url = make_url_for("blank")
    created = python_m_tracker(LOS_ANGELES, "--db", restored_url, "init", "--no-catalog", at=WEST)
    assert created[0] == 0, created
    restored = python_m_tracker(LOS_ANGELES, "--db", restored_url, "import", str(export), at=WEST)
    assert restored[0] == 0, restored
    again = python_m_tracker(LOS_ANGELES, "--db", restored_url, "export", "--with-files", at=WEST)
    assert again[0] == 0 and again[1].encode() == export.read_bytes()
