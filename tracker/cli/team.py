"""``tracker team ...``: a team's group roles and members on PostgreSQL (see :mod:`tracker.team`)."""

from tracker.cli import team_app  # noqa: F401
