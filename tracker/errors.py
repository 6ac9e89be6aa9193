"""One exception hierarchy for the library; the command line maps it to exit codes."""

from __future__ import annotations


class TrackerError(Exception):
    """Something failed that is not the user's input (exit code 1)."""

    exit_code = 1


class InputError(TrackerError):
    """The command line or an input file is invalid (exit code 2)."""

    exit_code = 2


class NotFound(InputError):
    """A reference (recommendation, evidence id, indicator code...) names nothing."""


class Conflict(TrackerError):
    """The request contradicts what is stored (exit code 1)."""


class SchemaOutOfDate(TrackerError):
    """The database schema is not at the revision this version of tracker needs."""


class IntegrityFailure(TrackerError):
    """verify found tampering or corruption."""


class DatabaseUnavailable(TrackerError):
    """The database cannot be opened or reached."""


class ClockError(TrackerError):
    """This machine's clock disagrees with the record (or the database server): nothing is written."""
