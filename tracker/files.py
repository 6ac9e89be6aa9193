"""Writing stored files back to disk, only ever at the path the user gave."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tracker.errors import InputError


def check_destination(path: Path, *, force: bool) -> None:
    """Refuse before any database work: an existing path without --force, a directory, no parent."""
    if path.is_dir():
        raise InputError(f"-o {path}: is a directory; give a file path")
    if (path.exists() or path.is_symlink()) and not force:
        raise InputError(f"-o {path}: already exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise InputError(f"-o {path}: the directory {path.parent} does not exist")


def write_exactly(path: Path, content: bytes, *, force: bool) -> None:
    """Write ``content`` to exactly ``path``, atomically, never following a symlink there.

    The bytes go to a temporary file beside ``path`` which then takes its place: a
    symlink at ``path`` is replaced, not followed; without ``force`` nothing existing
    is replaced (a race with another writer fails instead).
    """
    check_destination(path, force=force)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        if force:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise InputError(f"-o {path}: already exists; pass --force to overwrite it") from None
            os.unlink(temporary)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
