"""The program's clock. Tests fix it through :func:`frozen`, never through the environment.

Calendar dates are UTC dates: "today" is today's date in UTC whatever the machine's time
zone (``TZ``), so that the same input is accepted or refused, and means the same instant,
on every machine at the same moment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

_now: Callable[[], datetime] = lambda: datetime.now(UTC)


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    moment = _now()
    if moment.tzinfo is None:  # astimezone would read it in the machine's zone
        raise ValueError(f"the clock gave {moment} without a time zone: give timezone-aware instants")
    return moment.astimezone(UTC)


def today() -> date:
    """Today's date in UTC, never the machine's local date: for 'not in the future' checks,
    ``--as-of DATE``, current statuses and overdue recommendations."""
    return now().date()


# UTC+14 (Pacific/Kiritimati): the first zone to reach each date, the last to leave it is UTC-12.
_FIRST_ZONE = timedelta(hours=14)


def latest_date(moment: datetime) -> date:
    """The latest calendar date anywhere on Earth at ``moment``: its date at UTC+14.

    No machine, whatever its zone, had a later "today" at that instant: a restore bounds the
    dates of a row by it, at the row's ``recorded_at``, so that it refuses a date after the
    row was recorded yet accepts every date that any version accepted when recording it
    (earlier versions used the machine's local date).
    """
    try:
        return (moment.astimezone(UTC) + _FIRST_ZONE).date()
    except OverflowError:  # within 14 hours of the end of year 9999
        return date.max


@contextlib.contextmanager
def frozen(instant: datetime | Callable[[], datetime]) -> Iterator[None]:
    """Run with the clock fixed at ``instant`` (or driven by a callable)."""
    global _now
    previous = _now
    _now = instant if callable(instant) else (lambda: instant)
    try:
        yield
    finally:
        _now = previous


def iso_utc(moment: datetime) -> str:
    """A fixed-width UTC timestamp: ``2019-10-05T12:00:00.000000Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
