"""The progress bar the command line passes to long library work (see :mod:`tracker.progress`)."""

import contextlib
import sys
from collections.abc import Callable, Iterator

import typer

from tracker.progress import Progress, quietly

# Work shorter than this (rows, events) shows no progress bar.
PROGRESS_MIN = 1_000


@contextlib.contextmanager
def bar(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A :data:`~tracker.progress.Progress` that draws a bar on stderr, for work of ``PROGRESS_MIN`` steps or more."""
    if total < PROGRESS_MIN:
        with quietly(total, label) as advance:
            yield advance
        return
    with typer.progressbar(length=total, label=label, file=sys.stderr, update_min_steps=max(1, total // 200)) as shown:
        yield shown.update


def progress() -> Progress:
    """What long work shows: a bar when stderr is a terminal, else nothing (and the work
    need not count what it would not show)."""
    return bar if sys.stderr.isatty() else quietly
