"""Progress of long work, shown by whoever called it: the library never writes to the terminal.

A long operation takes ``progress``, a :data:`Progress`: called as ``progress(total,
label)`` it is a context manager that yields ``advance(n)``, to be called as work gets
done. The command line passes one that draws a bar on stderr; the default,
:func:`quietly`, shows nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

Progress = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]


def _ignore(_n: int) -> None:
    """Nothing shown."""


@contextlib.contextmanager
def quietly(_total: int, _label: str) -> Iterator[Callable[[int], None]]:
    """No progress shown."""
    yield _ignore
