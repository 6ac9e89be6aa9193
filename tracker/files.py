"""Files on disk: attachments read in, stored files written back (only ever at the path the user gave)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from tracker.errors import InputError, TrackerError

# An attached file's media type goes into the hash-chained event that records it, so it must
# not depend on the machine: this table ships with the tracker (the host's /etc/mime.types
# and Windows registry, which Python's mimetypes reads, differ from one machine to the next).
# By file name extension, compared in lower case; any other extension is
# application/octet-stream.
MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".xml": "application/xml",
    ".html": "text/html",
    ".htm": "text/html",
    ".rtf": "application/rtf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".dot": "text/vnd.graphviz",
    ".dotx": "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".odg": "application/vnd.oasis.opendocument.graphics",
    ".epub": "application/epub+zip",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".bmp": "image/bmp",
    ".svg": "image/svg+xml",
    ".heic": "image/heic",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/x-wav",
    ".flac": "audio/flac",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".mkv": "video/x-matroska",
    ".zip": "application/zip",
    ".tgz": "application/x-tar",
    ".tar": "application/x-tar",
    ".7z": "application/x-7z-compressed",
    ".rar": "application/vnd.rar",
    ".eml": "message/rfc822",
    ".ics": "text/calendar",
    ".vcf": "text/vcard",
    ".kml": "application/vnd.google-earth.kml+xml",
    ".geojson": "application/geo+json",
}
UNKNOWN_MEDIA_TYPE = "application/octet-stream"


def media_type(filename: str) -> str:
    """The media type of a file by its name, from :data:`MEDIA_TYPES`: the same on every machine."""
    return MEDIA_TYPES.get(Path(filename).suffix.lower(), UNKNOWN_MEDIA_TYPE)


def check_destination(path: Path, *, force: bool) -> None:
    """Refuse before any database work: an existing path without --force, anything but a regular
    file (a directory, a symbolic link, a device, a FIFO, a socket), a folder that does not exist."""
    import stat

    if path.is_symlink():
        raise InputError(f"-o {path}: is a symbolic link; give the path of a regular file")
    if path.is_dir():
        raise InputError(f"-o {path}: is a directory; give a file path")
    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        raise InputError(f"-o {path}: is a device, FIFO or socket, not a regular file; give a file path")
    if (path.exists() or path.is_symlink()) and not force:
        raise InputError(f"-o {path}: already exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise InputError(f"-o {path}: the directory {path.parent} does not exist")


def write_exactly(
    path: Path, content: bytes | Iterable[bytes], *, force: bool, private: bool | Callable[[], bool] = True
) -> None:
    """Write ``content`` to exactly ``path``, atomically, never following a symlink there.

    Only a regular file is ever replaced (see :func:`check_destination`). The bytes go to
    a temporary file beside ``path`` which then takes its place, so a reader never sees
    half a file; without ``force`` nothing existing is replaced (a race with another
    writer fails instead). A private file can be read
    by its owner only (mode 0600: an export, an attached file); otherwise the file gets
    the permissions any new file gets (the umask's: a report to share).

    ``content`` may come in pieces (bytes, as they are made: a list written as it is read),
    and ``private`` may be a question asked once they are all written (a list is private
    when it turned out to hold confidential records); until then the file is private.
    """
    check_destination(path, force=force)
    try:
        _write_atomically(path, content, force=force, private=private)
    except OSError as error:  # a full disk, a read-only folder, a quota...
        raise TrackerError(
            f"-o {path}: cannot write it ({error.strerror or error}); nothing was written there"
        ) from None


def _write_atomically(
    path: Path, content: bytes | Iterable[bytes], *, force: bool, private: bool | Callable[[], bool]
) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")  # mode 0600
    try:
        with os.fdopen(handle, "wb") as stream:
            if isinstance(content, bytes):
                stream.write(content)
            else:
                for piece in content:
                    stream.write(piece)
            stream.flush()
            if not (private() if callable(private) else private):
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(stream.fileno(), 0o666 & ~umask)
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


@contextlib.contextmanager
def open_regular(path: Path, *, label: str, hint: str = "") -> Iterator[BinaryIO]:
    """A regular file opened for reading; anything else refused, with ``label`` first.

    The file is opened without blocking and checked on its open descriptor, so a FIFO or
    a device (``/dev/zero``) is refused instead of read forever. A symbolic link is not
    followed (it could point anywhere: ``/etc/shadow``).
    """
    import errno
    import stat

    if path.is_symlink():
        raise InputError(f"{label}: is a symbolic link; give the file it points to")
    if path.is_dir():
        raise InputError(f"{label}: is a directory{hint}")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputError(f"{label}: is a symbolic link; give the file it points to") from None
        if isinstance(error, PermissionError):
            raise InputError(f"{label}: permission denied; check the file's permissions") from None
        raise InputError(f"{label}: cannot open it ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise InputError(f"{label}: not a regular file (a pipe, device or socket); give a file")
        try:
            yield stream
        except OSError as error:
            raise InputError(f"{label}: cannot read it ({error.strerror})") from None


def read_bounded(path: Path, *, limit: int, label: str, hint: str = "") -> bytes:
    """Read a regular file of at most ``limit`` bytes; refuse anything else, with ``label`` first.

    The file is opened as :func:`open_regular` opens it; a file whose size does not match
    what it holds (``/proc/self/environ``) is refused as the special file it is.
    """
    with open_regular(path, label=label, hint=hint) as stream:
        status = os.fstat(stream.fileno())
        if status.st_size > limit:
            raise InputError(f"{label}: {status.st_size} bytes is over the {limit // 1024 // 1024} MiB limit")
        try:
            content = stream.read(limit + 1)
        except OSError as error:
            raise InputError(f"{label}: cannot read it ({error.strerror})") from None
    if len(content) > limit:
        raise InputError(f"{label}: over the {limit // 1024 // 1024} MiB limit")
    if len(content) != status.st_size:
        raise InputError(
            f"{label}: a special file (its size is {status.st_size} bytes but it holds "
            f"{len(content)}, as files under /proc do); give a regular file"
        )
    return content
