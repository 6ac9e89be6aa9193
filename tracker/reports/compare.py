"""Assessments compared: each assessor's status of each recommendation at a quarter's end,
and the recommendations where they differ (see :mod:`tracker.assessors`).

The status of an assessor is its last assessment effective before the quarter ended, known
and not withdrawn at the as-of instant; a recommendation it never assessed is "not
assessed" (never counted as a difference). Two assessors differ on a recommendation when
both assessed it and their statuses differ; the gap is the distance between their levels
(``not_started`` 0 ... ``implemented`` 3). Each side's rationale is its assessment's note,
and the evidence it cites is shown as the audience may see it, as everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from sqlalchemy.orm import Session

from tracker import assessors, corrections
from tracker.audit.asof import Later, recorded_after
from tracker.errors import InputError
from tracker.periods import Quarter
from tracker.reports import (
    CitedEvidence,
    Header,
    SourceInfo,
    _cited,
    _header,
    _recommendations,
    _refs,
    _sources,
    _status_updates,
    _Update,
    _utc,
    parse_audience,
)
from tracker.vocab import Sensitivity, Status


@dataclass(frozen=True)
class AssessorLine:
    """One assessor compared: ``default`` for the one whose assessments are the status."""

    code: str
    name: str
    kind: str
    default: bool


@dataclass(frozen=True)
class Assessed:
    """One assessor's status of a recommendation at the quarter's end (None: not assessed)."""

    assessor: str
    status: Status | None
    effective_on: date | None = None
    note: str | None = None
    cites: tuple[CitedEvidence, ...] = ()
    cites_withheld: int | None = 0  # None: not known to the database user (see tracker.reports.counts_withheld)


@dataclass(frozen=True)
class ComparedRecommendation:
    ref: str
    title: str
    assessed: tuple[Assessed, ...]  # one per assessor, in the comparison's order

    @property
    def gap(self) -> int:
        """The distance between the highest and the lowest level assessed (0: they agree)."""
        levels = [item.status.rank for item in self.assessed if item.status is not None]
        return max(levels) - min(levels) if len(levels) > 1 else 0

    @property
    def differs(self) -> bool:
        return self.gap > 0


@dataclass(frozen=True)
class Comparison:
    kind: ClassVar[str] = "compare"
    header: Header
    quarter: Quarter
    assessors: tuple[AssessorLine, ...]
    recommendations: tuple[ComparedRecommendation, ...]

    @property
    def differing(self) -> tuple[ComparedRecommendation, ...]:
        return tuple(rec for rec in self.recommendations if rec.differs)


def compare(
    session: Session,
    quarter: Quarter,
    *,
    chosen: Sequence[str] = (),
    sources: Sequence[str] = (),
    as_of: datetime,
    audience: Sensitivity | str = Sensitivity.INTERNAL,
) -> Comparison:
    """``tracker report compare``: the assessors ``chosen`` (codes; none: the default line and
    every other assessor), side by side at ``quarter``'s end."""
    audience = parse_audience(audience)
    as_of = _utc(as_of)
    later = recorded_after(session, as_of)
    fixes = corrections.as_of(session, as_of)
    selected = _sources(session, sources, quarter.end, later)
    header = _header(session, selected, sources, as_of, audience)
    found = section(session, quarter, selected, chosen=chosen, as_of=as_of, audience=audience, later=later, fixes=fixes)
    if found is None:
        raise InputError(
            "report compare needs two assessors: add one with `tracker assessor add CODE NAME`"
            if not chosen
            else "give two different assessors (--assessor A --assessor B), or none to compare them all"
        )
    lines, rows = found
    return Comparison(header=header, quarter=quarter, assessors=lines, recommendations=rows)


def section(
    session: Session,
    quarter: Quarter,
    selected: Sequence[SourceInfo],
    *,
    chosen: Sequence[str] = (),
    as_of: datetime,
    audience: Sensitivity,
    later: Later,
    fixes: corrections.Corrections,
) -> tuple[tuple[AssessorLine, ...], tuple[ComparedRecommendation, ...]] | None:
    """The assessors compared and one row per recommendation; None when fewer than two lines."""
    roster = assessors.roster(session, later=later, fixes=fixes)
    if not roster:
        return None
    default_code, default_name = assessors.default_label(roster)
    lines: list[tuple[AssessorLine, assessors.AssessorInfo | None]] = []
    if chosen:
        for code in dict.fromkeys(code.strip() for code in chosen):
            if code == default_code and roster.default is None:
                lines.append((AssessorLine(default_code, default_name, "", True), None))
                continue
            info = roster.find(code)
            lines.append((AssessorLine(info.code, info.name, info.kind.value, info.is_default), info))
    else:
        default = roster.default
        kind = default.kind.value if default is not None else ""
        lines.append((AssessorLine(default_code, default_name, kind, True), default))
        lines += [(AssessorLine(a.code, a.name, a.kind.value, False), a) for a in roster.others()]
    if len(lines) < 2:
        return None
    recs = _recommendations(session, [s for s in selected if s.issued], later, fixes)
    ids = [rec.id for rec, _ in recs]
    refs = _refs(session, recs, later)
    latest: list[dict[int, _Update]] = []
    for _line, whose in lines:
        updates = _status_updates(session, ids, quarter.end, as_of, fixes, assessors.line(roster, whose))
        latest.append({rec_id: items[-1] for rec_id, items in updates.items() if items})
    cited = _cited(session, [u.id for found in latest for u in found.values()], as_of, audience, fixes)
    rows = []
    for rec, _slug in recs:
        assessed = []
        for (line, _info), found in zip(lines, latest):
            update = found.get(rec.id)
            if update is None:
                assessed.append(Assessed(line.code, None))
                continue
            cites, withheld = cited.get(update.id, ((), 0))
            assessed.append(Assessed(line.code, update.status, update.effective_on, update.note, cites, withheld))
        rows.append(ComparedRecommendation(refs[rec.id], rec.title, tuple(assessed)))
    return tuple(line for line, _ in lines), tuple(rows)
