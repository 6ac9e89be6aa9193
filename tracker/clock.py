"""The program's clock. Tests fix it through :func:`frozen`, never through the environment."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return _now().astimezone(UTC)


def today() -> date:
    """Today's date where the user is (their local calendar), for 'not in the future' checks."""
    return _now().astimezone().date()


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
