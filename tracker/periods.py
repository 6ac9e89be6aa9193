"""Calendar quarters, strict dates and as-of instants.

Dates are UTC dates, whatever the machine's time zone: "today" is :func:`clock.today`,
today's date in UTC, and ``--as-of DATE`` is the end of that date in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from tracker import clock
from tracker.errors import InputError

_QUARTER = re.compile(r"^([0-9]{4})-?[Qq]([1-4])$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter, half-open: 2019Q3 is [2019-07-01, 2019-10-01)."""

    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        match = _QUARTER.match(text.strip())
        if not match:
            raise InputError(f"invalid quarter {text!r}: write it as YYYYQN with N from 1 to 4, e.g. 2019Q3")
        if not 1 <= int(match.group(1)) <= 9998:  # its dates, end included, must exist
            raise InputError(f"invalid quarter {text!r}: the year must be from 1 to 9998")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def containing(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def start(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> date:
        """The first day after the quarter (exclusive end)."""
        return self.next().start

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"


def quarter_range(first: Quarter, last: Quarter) -> list[Quarter]:
    if last < first:
        raise InputError(f"the range {first}..{last} is empty: --from must not be after --to")
    quarters = [first]
    while quarters[-1] < last:
        quarters.append(quarters[-1].next())
    return quarters


def parse_date(text: str, *, field: str = "date", allow_future: bool = False) -> date:
    """A strict ``YYYY-MM-DD`` date that exists, and (by default) is not after today in UTC."""
    value = text.strip() if isinstance(text, str) else text
    if not isinstance(value, str) or not _DATE.match(value):
        raise InputError(f"invalid {field} {text!r}: write it as YYYY-MM-DD, e.g. 2019-12-31")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InputError(f"invalid {field} {text!r}: no such day in the calendar") from None
    if not allow_future and day > clock.today():
        raise InputError(f"invalid {field} {text!r}: it is in the future (today is {clock.today()} in UTC)")
    return day


def parse_as_of(text: str | None) -> datetime:
    """``YYYY-MM-DD`` means the end of that day, UTC; else an ISO 8601 timestamp with offset.

    Not in the future: a report as of a later instant could still change as more is
    recorded. A date may be today in UTC (:func:`clock.today`, as for every date) at the
    latest, never the machine's local date; a timestamp may not be after now. So the same
    text means the same instant, and is accepted or refused alike, in every time zone.
    """
    if text is None:
        return clock.now()
    value = text.strip()
    if _DATE.match(value):
        day = parse_date(value, field="--as-of", allow_future=True)
        if day > clock.today():
            raise InputError(
                f"invalid --as-of {text!r}: it is in the future (today is {clock.today()} in UTC); --as-of is the "
                "moment things had been recorded by: give today or an earlier date, or leave it out for now"
            )
        return datetime.combine(day, time.max, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InputError(
            f"invalid --as-of {text!r}: give a date YYYY-MM-DD or a timestamp with offset, "
            "e.g. 2019-12-31T18:00:00+07:00"
        )
    now = clock.now()
    if moment > now:  # compared before converting: a far future instant may not exist in UTC
        raise InputError(
            f"invalid --as-of {text!r}: it is in the future (now is {clock.iso_utc(now)}); --as-of is the "
            "moment things had been recorded by: give an earlier instant, or leave it out for now"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InputError(f"invalid --as-of {text!r}: it is before the year 1 in UTC") from None
