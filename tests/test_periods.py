"""Quarters and dates: what is accepted and what is refused."""

from __future__ import annotations

from datetime import date

import pytest

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
