"""Assessors: whose assessment a status update is, and which line of assessments is the status.

A recommendation may be assessed by several parties (the government's committee, an NGO
coalition, an embassy). One assessor is the *default* (``tracker init --assessor CODE``,
``tracker assessor default CODE``, a correction of ``is_default``): its assessments are
the recommendation's status in lists and reports, and the others are compared beside it.

A status update names its assessor in ``status_assessor``; one without (every status
recorded while no assessor was the default) belongs to the default line, whoever the
default is. So a database without assessors works as one always did: every status update
is in the one line, and no query is filtered.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from tracker import corrections
from tracker.audit.asof import Later
from tracker.errors import NotFound
from tracker.store.models import Assessor, StatusAssessor, StatusUpdate
from tracker.vocab import AssessorKind

DEFAULT_LINE = "default"
"""How the default line is named when no assessor is the default."""


@dataclass(frozen=True)
class AssessorInfo:
    """An assessor as known at an instant (corrections applied)."""

    id: int
    code: str
    name: str
    kind: AssessorKind
    is_default: bool


@dataclass(frozen=True)
class Roster:
    """The assessors known at an instant, by code, and the default among them (if any)."""

    assessors: tuple[AssessorInfo, ...] = ()

    @property
    def default(self) -> AssessorInfo | None:
        return next((a for a in self.assessors if a.is_default), None)

    def __bool__(self) -> bool:
        return bool(self.assessors)

    def find(self, code: str) -> AssessorInfo:
        """The assessor ``code`` names, or an error that says where to look."""
        wanted = code.strip()
        for assessor in self.assessors:
            if assessor.code == wanted:
                return assessor
        raise NotFound(f"unknown assessor {code!r}: see `tracker assessor list`")

    def others(self) -> tuple[AssessorInfo, ...]:
        """Every assessor but the default, by code."""
        return tuple(a for a in self.assessors if not a.is_default)


def roster(session: Session, *, later: Later | None = None, fixes: corrections.Corrections | None = None) -> Roster:
    """The assessors known at the instant ``later`` and ``fixes`` were cut at (None: now), by code."""
    fixes = corrections.load(session) if fixes is None else fixes
    hidden = later("assessor") if later is not None else frozenset()
    found = []
    for row in session.scalars(select(Assessor).order_by(Assessor.code)):
        if row.id in hidden:
            continue
        values = fixes.apply("assessor", (row.id,), corrections.values_of(row, "assessor"))
        found.append(AssessorInfo(row.id, row.code, values["name"], values["kind"], bool(values["is_default"])))
    return Roster(tuple(found))


def line(roster: Roster, assessor: AssessorInfo | None = None) -> ColumnElement[bool] | None:
    """The condition on :class:`StatusUpdate` rows that keeps ``assessor``'s assessments
    (None: the default line's); None when nothing is to be filtered (no assessor at all)."""
    if not roster:
        return None
    default = roster.default
    if assessor is None or (default is not None and assessor.id == default.id):
        # the default line: no assessor named, or the default named
        others = select(StatusAssessor.status_update_id).where(StatusAssessor.status_update_id == StatusUpdate.id)
        if default is not None:
            others = others.where(StatusAssessor.assessor_id != default.id)
        return ~exists(others)
    return exists(
        select(StatusAssessor.status_update_id).where(
            StatusAssessor.status_update_id == StatusUpdate.id, StatusAssessor.assessor_id == assessor.id
        )
    )


def default_label(roster: Roster) -> tuple[str, str]:
    """The default line's code and name, as reports show them."""
    default = roster.default
    if default is None:
        return DEFAULT_LINE, "Assessments with no assessor named"
    return default.code, default.name
