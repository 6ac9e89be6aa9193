"""Quarters and dates: what is accepted and what is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tracker import clock
from tracker.errors import InputError
from tracker.periods import Quarter, parse_date


@pytest.mark.parametrize("text", ["2019Q3", "2019-Q3", "2019q3", " 2019Q3 "])
def test_quarter_spellings(text):
    quarter = Quarter.parse(text)
    assert (quarter.start, quarter.end) == (date(2019, 7, 1), date(2019, 10, 1))


@pytest.mark.parametrize("text", ["2019Q5", "19Q3", "2019Q0", "2019 Q3", "２０１９Q3", "2019Q３", ""])
def test_bad_quarters_are_refused(text):
    with pytest.raises(InputError):
        Quarter.parse(text)


@pytest.mark.parametrize("text", ["20191231", "2019-W01-1", "2019/12/31", "2019-02-29", "２０１９-01-01", "2019-1-1"])
def test_bad_dates_are_refused(text):
    with pytest.raises(InputError):
        parse_date(text)


def test_quarters_follow_each_other_across_years():
    assert Quarter.parse("2019Q4").next() == Quarter.parse("2020Q1")
    assert Quarter.parse("2020Q1").previous() == Quarter.parse("2019Q4")
    assert Quarter.containing(date(2019, 9, 30)) == Quarter.parse("2019Q3")
    assert Quarter.containing(date(2019, 10, 1)) == Quarter.parse("2019Q4")


def test_today_is_the_date_in_utc_whatever_the_offset_of_the_instant():
    with clock.frozen(datetime(2019, 10, 5, 23, 30, tzinfo=timezone(timedelta(hours=-5)))):  # 04:30 UTC on the 6th
        assert clock.today() == date(2019, 10, 6)
        assert parse_date("2019-10-06") == date(2019, 10, 6)
        with pytest.raises(InputError, match=r"it is in the future \(today is 2019-10-06 in UTC\)"):
            parse_date("2019-10-07")
        assert parse_date("2019-10-07", allow_future=True) == date(2019, 10, 7)


def test_the_latest_date_on_earth_is_the_date_at_utc_plus_14():
    assert clock.latest_date(datetime(2019, 10, 5, 9, 59, tzinfo=UTC)) == date(2019, 10, 5)
    assert clock.latest_date(datetime(2019, 10, 5, 10, 0, tzinfo=UTC)) == date(2019, 10, 6)
    assert clock.latest_date(datetime(2019, 10, 5, 20, 0, tzinfo=timezone(timedelta(hours=-12)))) == date(2019, 10, 6)
    assert clock.latest_date(datetime.max.replace(tzinfo=UTC)) == date.max


def test_the_clock_refuses_an_instant_without_a_time_zone():
    with clock.frozen(datetime(2019, 10, 5, 12)), pytest.raises(ValueError, match="without a time zone"):
        clock.today()
