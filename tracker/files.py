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


def write_exactly(path: Path, content: bytes, *, force: bool, private: bool = True) -> None:
    """Write ``content`` to exactly ``path``, atomically, never following a symlink there.

    The bytes go to a temporary file beside ``path`` which then takes its place: a
    symlink at ``path`` is replaced, not followed; without ``force`` nothing existing
    is replaced (a race with another writer fails instead). A private file can be read
    by its owner only (mode 0600: an export, an attached file); otherwise the file gets
    the permissions any new file gets (the umask's: a report to share).
    """
    check_destination(path, force=force)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        if not private:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(handle, 0o666 & ~umask)
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


def read_bounded(path: Path, *, limit: int, label: str, hint: str = "") -> bytes:
    """Read a regular file of at most ``limit`` bytes; refuse anything else, with ``label`` first.

    The file is opened without blocking and checked on its open descriptor, so a FIFO or
    a device (``/dev/zero``) is refused instead of read forever.
    """
    import stat

    if path.is_dir():
        raise InputError(f"{label}: is a directory{hint}")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except PermissionError:
        raise InputError(f"{label}: permission denied; check the file's permissions") from None
    except OSError as error:
        raise InputError(f"{label}: cannot open it ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as stream:
        status = os.fstat(stream.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise InputError(f"{label}: not a regular file (a pipe, device or socket); give a file")
        if status.st_size > limit:
            raise InputError(f"{label}: {status.st_size} bytes is over the {limit // 1024 // 1024} MiB limit")
        try:
            content = stream.read(limit + 1)
        except OSError as error:
            raise InputError(f"{label}: cannot read it ({error.strerror})") from None
    if len(content) > limit:
        raise InputError(f"{label}: over the {limit // 1024 // 1024} MiB limit")
    return content
