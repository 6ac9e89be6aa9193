"""Checks of assessments against evidence (``tracker lint``), as data.

Six rules, each defined once here (:data:`RULES`), that ``tracker lint`` and the
quarterly report's "Needs attention" list both call (:func:`findings`):

- ``unsupported-progress``: an assessment of ``implemented`` or ``partially_implemented``
  citing no evidence (or only evidence since retracted);
- ``advanced-on-setback``: an assessment whose status is above the one before it (the
  recommendation's previous assessment, else the status it carried over from an earlier
  edition, else not started) while the evidence on the recommendation observed in the
  quarter of its effective date is all setback evidence (at least one item, none of
  another stance);
- ``setback-after-implemented``: the current status is ``implemented`` (the last
  assessment effective before the day the record is read up to, its own or carried over)
  and setback evidence on the recommendation was observed after that assessment's
  effective date, with no assessment since;
- ``unverified-only``: an assessment whose cited evidence (not retracted) is all
  ``unverified``;
- ``no-lead``: a recommendation with no lead agency;
- ``indicator-against-status``: an indicator whose value moved against its direction in
  each of two consecutive quarters (Q-1 on Q-2, and Q on Q-1: three values, each worse
  than the one before; an equal value is no move) while the status advanced over them
  (at the end of Q above what it was at the end of Q-2). A quarter without a value breaks
  the run.

Everything is read as known at an instant ``as_of`` and by current values at that
instant: assessments and measurements withdrawn by then do not count; retracted evidence
supports nothing (it is neither cited support nor setback); corrected stances,
reliabilities, dates, links and directions count (:mod:`tracker.corrections`). The same
``as_of`` gives the same findings forever.

Scope: the recommendations of the editions in force on the as-of date
(:func:`tracker.editions.in_force`), as the reports show them; the assessments of older
editions are history and are not linted, but a status a recommendation carries over from
one counts as its status (and a setback recorded against the older recommendation, after
the assessment it carries over, counts too). The report passes its own recommendations.

With ``quarter`` (the quarterly report), only the findings that concern it: assessments
effective in it (rules 1, 2 and 4); setbacks observed in it after the assessment that still
makes the recommendation implemented at its end (rule 3: the setbacks of earlier quarters
were the earlier reports'); runs of an indicator ending in it (rule 6); and recommendations
without a lead (rule 5, which has no date). Without, the whole record up to now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from tracker import assessors, corrections, editions, queries
from tracker.audit.asof import Later, known_at, recorded_after
from tracker.errors import InputError
from tracker.periods import Quarter
from tracker.store.models import (
    Agency,
    Evidence,
    EvidenceLink,
    EvidenceRetraction,
    Indicator,
    Measurement,
    Recommendation,
    Source,
    StatusUpdate,
    StatusUpdateEvidence,
)
from tracker.store.sets import one_of
from tracker.vocab import Direction, Reliability, Role, Sensitivity, Stance, Status

CHUNK = 500  # ids per IN (...) list
LISTED = 5  # evidence ids a message names (the finding keeps them all)


@dataclass(frozen=True)
class Rule:
    name: str
    what: str
    why: str


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            "unsupported-progress",
            "an assessment of implemented or partially_implemented that cites no evidence, or only retracted evidence",
            "a claim of progress that cites nothing cannot be checked by a reader, a donor or the next analyst",
        ),
        Rule(
            "advanced-on-setback",
            "a status that advanced on the one before it while the quarter's only evidence on the recommendation "
            "is setback evidence",
            "the record contradicts itself: evidence of the progress is missing, or the assessment is too generous",
        ),
        Rule(
            "setback-after-implemented",
            "the status is implemented and setback evidence was observed after that assessment, with no assessment "
            "since",
            "an implemented recommendation can slip back (a law repealed, inspections stopped): the status needs a "
            "new look",
        ),
        Rule(
            "unverified-only",
            "an assessment whose cited evidence (not retracted) is all unverified",
            "a status that rests on unverified reports alone may have to be withdrawn: confirm one, or say why not",
        ),
        Rule(
            "no-lead",
            "a recommendation with no lead agency",
            "nobody is answerable for it, and the follow-up digest (`tracker due`), grouped by lead, misses it",
        ),
        Rule(
            "indicator-against-status",
            "an indicator that moved against its direction in two consecutive quarters while the status advanced "
            "over them",
            "the numbers and the assessment disagree: one of them is wrong, or the indicator measures the wrong thing",
        ),
    )
}
_ORDER = {name: index for index, name in enumerate(RULES)}


@dataclass(frozen=True)
class Finding:
    """One rule that fires: on which recommendation, what, and the records involved.

    ``on``: the day it is about (the assessment's effective date; the first setback's date;
    the first day of an indicator's last quarter), None for ``no-lead``. ``sensitivity``:
    the highest of the evidence it names (public when it names none), so that a report
    shows it only to an audience that may see them all.
    """

    rule: str
    ref: str
    message: str
    recommendation_id: int
    status_update_id: int | None = None
    evidence_ids: tuple[int, ...] = ()
    measurement_ids: tuple[int, ...] = ()
    indicator: str | None = None
    on: date | None = None
    sensitivity: Sensitivity = Sensitivity.PUBLIC

    @property
    def why(self) -> str:
        return RULES[self.rule].why

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "ref": self.ref,
            "message": self.message,
            "why": self.why,
            "status_update_id": self.status_update_id,
            "evidence_ids": list(self.evidence_ids),
            "measurement_ids": list(self.measurement_ids),
            "indicator": self.indicator,
            "on": self.on.isoformat() if self.on else None,
            "sensitivity": self.sensitivity.value,
        }


# Finding ------------------------------------------------------------------------------------


def findings(
    session: Session,
    *,
    as_of: datetime,
    quarter: Quarter | None = None,
    recommendations: Sequence[int] | None = None,
    refs: Mapping[int, str] | None = None,
    fixes: corrections.Corrections | None = None,
    later: Later | None = None,
    threads: editions.Threads | None = None,
) -> tuple[Finding, ...]:
    """Every finding as known at ``as_of`` (see the module's note), in the order of the
    recommendations, then of :data:`RULES`, then by day.

    ``recommendations``: their ids (default: those of the editions in force on the as-of
    date), with ``refs`` to name them (default: as the reports name them then). ``fixes``,
    ``later`` and ``threads`` are what a report already read for ``as_of``.
    """
    if as_of.tzinfo is None:
        raise InputError("as_of must be a timezone-aware instant")
    as_of = as_of.astimezone(UTC)
    later = later if later is not None else recorded_after(session, as_of)
    fixes = fixes if fixes is not None else corrections.as_of(session, as_of)
    threads = threads if threads is not None else editions.threads(session, later, fixes)
    if recommendations is None:
        recommendations = _in_force(session, as_of.date(), later, fixes)
    ids = list(recommendations)
    if not ids:
        return ()
    names = dict(refs) if refs is not None else _refs(session, ids, later)
    record = _Record.read(session, ids, as_of, quarter, later, fixes, threads)
    found: list[Finding] = []
    for rec_id in ids:
        ref = names[rec_id]
        found += _assessments(record, rec_id, ref)
        found += _setbacks(record, rec_id, ref)
        if not record.leads.get(rec_id):
            found.append(Finding("no-lead", ref, "no lead agency is assigned", rec_id))
        found += _indicators(record, rec_id, ref)
    place = {rec_id: index for index, rec_id in enumerate(ids)}
    return tuple(
        sorted(
            found,
            key=lambda f: (place[f.recommendation_id], _ORDER[f.rule], f.on or date.min, f.status_update_id or 0),
        )
    )


def _assessments(record: _Record, rec_id: int, ref: str) -> list[Finding]:
    """Rules 1, 2 and 4: each of the recommendation's own assessments in the period."""
    found = []
    own = record.updates.get(rec_id, ())
    for index, update in enumerate(own):
        if not record.in_period(update.effective_on):
            continue
        cited = record.citations.get(update.id, ())
        standing = [e for e in cited if e in record.evidence and not record.evidence[e].retracted]
        retracted = [e for e in cited if e not in standing]
        what = f"status {update.id} ({update.status.value}, effective {update.effective_on})"
        if update.status in (Status.IMPLEMENTED, Status.PARTIALLY_IMPLEMENTED) and not standing:
            message = f"{what} cites no evidence"
            if retracted:
                message = f"{what} cites only retracted evidence: {_ids(retracted)}"
            found.append(record.finding("unsupported-progress", ref, rec_id, message, update, retracted))
        if standing and all(record.evidence[e].reliability == Reliability.UNVERIFIED for e in standing):
            message = f"{what} cites only unverified evidence: {_ids(standing)}"
            found.append(record.finding("unverified-only", ref, rec_id, message, update, standing))
        previous = own[index - 1] if index else record.carried_before(rec_id, update.effective_on)
        before = previous.status if previous is not None else Status.NOT_STARTED
        if update.status.rank > before.rank:
            period = Quarter.containing(update.effective_on)
            seen = record.observed(rec_id, period.start, period.end)
            if seen and all(stance == Stance.SETBACK for _, stance in seen):
                message = (
                    f"status {update.id} ({before.value} -> {update.status.value}, effective {update.effective_on}) "
                    f"advanced while the only evidence observed in {period} is setback evidence: "
                    f"{_ids(e for e, _ in seen)}"
                )
                found.append(record.finding("advanced-on-setback", ref, rec_id, message, update, [e for e, _ in seen]))
    return found


def _setbacks(record: _Record, rec_id: int, ref: str) -> list[Finding]:
    """Rule 3: the status at the end of the period is implemented, and setbacks came after it."""
    current, carried = record.status_at(rec_id, record.until)
    if current is None or current.status != Status.IMPLEMENTED:
        return []
    after = sorted(
        {
            (facts.observed_on, evidence_id)
            for linked in {rec_id, current.recommendation_id}
            for evidence_id, facts in record.by_rec.get(linked, ())
            if not facts.retracted
            and facts.links[linked] == Stance.SETBACK
            and current.effective_on < facts.observed_on
            and record.in_period(facts.observed_on)
        }
    )
    if not after:
        return []
    whose = f" of {record.refs_of_ancestors.get(carried, carried)}, carried over" if carried is not None else ""
    message = (
        f"status {current.id}{whose} (implemented, effective {current.effective_on}) is followed by setback evidence "
        f"observed later: {_ids((e for _, e in after), [f' ({day})' for day, _ in after])}; no assessment since"
    )
    return [
        record.finding("setback-after-implemented", ref, rec_id, message, current, [e for _, e in after], after[0][0])
    ]


def _indicators(record: _Record, rec_id: int, ref: str) -> list[Finding]:
    """Rule 6: runs of three quarters, each value against the direction, as the status advanced."""
    found = []
    for indicator in record.indicators.get(rec_id, ()):
        values = record.values.get(indicator.id, {})
        for last in sorted(values):
            if not record.in_period(last.start):
                continue
            middle, first = last.previous(), last.previous().previous()
            if middle not in values or first not in values:
                continue
            run = [values[first], values[middle], values[last]]
            if not all(_against(indicator.direction, a.value, b.value) for a, b in zip(run, run[1:])):
                continue
            start, _ = record.status_at(rec_id, middle.start)
            end, _ = record.status_at(rec_id, last.end)
            before = start.status if start is not None else Status.NOT_STARTED
            if end is None or end.status.rank <= before.rank:
                continue
            moves = " -> ".join(corrections.shown(value.value) for value in run)
            message = (
                f"indicator {indicator.code} ({indicator.direction.value}) went {moves} from {first} to {last}, "
                f"against its direction, while the status advanced from {before.value} to {end.status.value}"
            )
            found.append(
                Finding(
                    "indicator-against-status",
                    ref,
                    message,
                    rec_id,
                    status_update_id=end.id,
                    measurement_ids=tuple(value.id for value in run),
                    indicator=indicator.code,
                    on=last.start,
                )
            )
    return found


def _against(direction: Direction, before: float, after: float) -> bool:
    return after < before if direction == Direction.UP else after > before


def _ids(ids: Iterable[int], notes: Sequence[str] = ()) -> str:
    """'evidence 3, 5': the first few ids (each with its note, if any), and how many more."""
    named = [f"{i}{notes[n] if n < len(notes) else ''}" for n, i in enumerate(ids)]
    more = f" and {len(named) - LISTED} more" if len(named) > LISTED else ""
    return "evidence " + ", ".join(named[:LISTED]) + more


# What the rules read ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Update:
    id: int
    recommendation_id: int
    status: Status
    effective_on: date
    known: datetime


@dataclass(frozen=True)
class _Evidence:
    """Evidence as known at as_of, corrected: its date, reliability, level and links ({rec id: stance})."""

    observed_on: date
    reliability: Reliability
    sensitivity: Sensitivity
    retracted: bool
    links: Mapping[int, Stance]


@dataclass(frozen=True)
class _Indicator:
    id: int
    code: str
    direction: Direction


@dataclass(frozen=True)
class _Value:
    id: int
    value: float


@dataclass
class _Record:
    """What the rules read, as known at as_of, for the recommendations linted."""

    start: date  # the period: assessments effective in [start, until)
    until: date
    threads: editions.Threads
    updates: dict[int, tuple[_Update, ...]]  # the linted recommendations' and their ancestors', in order
    citations: dict[int, tuple[int, ...]]
    evidence: dict[int, _Evidence]
    leads: dict[int, bool]
    indicators: dict[int, tuple[_Indicator, ...]]
    values: dict[int, dict[Quarter, _Value]]
    refs_of_ancestors: dict[int, str]
    by_rec: dict[int, list[tuple[int, _Evidence]]] = field(default_factory=dict)  # the evidence by recommendation

    @classmethod
    def read(
        cls,
        session: Session,
        ids: list[int],
        as_of: datetime,
        quarter: Quarter | None,
        later: Later,
        fixes: corrections.Corrections,
        threads: editions.Threads,
    ) -> _Record:
        start, until = (quarter.start, quarter.end) if quarter is not None else (date.min, date.max)
        lineage = list(dict.fromkeys([*ids, *(a for rec_id in ids for a in threads.ancestors(rec_id))]))
        record = cls(
            start=start,
            until=until,
            threads=threads,
            updates=_updates(session, lineage, as_of, later, fixes),
            citations={},
            evidence={},
            leads=_leads(session, ids, later, fixes),
            indicators={},
            values={},
            refs_of_ancestors={},
        )
        linted = set(ids)
        in_period = [u.id for rec_id in ids for u in record.updates.get(rec_id, ()) if record.in_period(u.effective_on)]
        record.citations = _citations(session, in_period)
        record.evidence = _evidence(session, record._wanted(ids), record.citations, as_of, fixes)
        for evidence_id, facts in record.evidence.items():
            for rec_id in facts.links:
                record.by_rec.setdefault(rec_id, []).append((evidence_id, facts))
        record.indicators, record.values = _measurements(session, ids, quarter, as_of, later, fixes)
        carried = {a for rec_id in ids for a in threads.ancestors(rec_id)} - linted
        if carried:
            record.refs_of_ancestors = _refs(session, sorted(carried), later, qualified=True)
        return record

    def in_period(self, day: date) -> bool:
        return self.start <= day < self.until

    def status_at(self, rec_id: int, day: date) -> tuple[_Update | None, int | None]:
        """The assessment that gives the status at the start of ``day`` (its own, or carried over from
        the recommendation it returns the id of: :func:`tracker.editions.carry`); None: not started."""
        latest = {}
        for rec in (rec_id, *self.threads.ancestors(rec_id)):
            last = None
            for update in self.updates.get(rec, ()):
                if update.effective_on >= day:
                    break
                last = update
            if last is not None:
                latest[rec] = ((last.effective_on, last.known, last.id), last)
        return editions.carry(rec_id, self.threads, latest)

    def carried_before(self, rec_id: int, day: date) -> _Update | None:
        """For a first assessment: the status it replaced, carried over from an earlier edition."""
        found, carried = self.status_at(rec_id, day)
        return found if carried is not None else None

    def observed(self, rec_id: int, start: date, end: date) -> list[tuple[int, Stance]]:
        """The evidence on a recommendation observed in [start, end), not retracted: (id, stance)."""
        return sorted(
            (evidence_id, facts.links[rec_id])
            for evidence_id, facts in self.by_rec.get(rec_id, ())
            if not facts.retracted and start <= facts.observed_on < end
        )

    def finding(
        self,
        rule: str,
        ref: str,
        rec_id: int,
        message: str,
        update: _Update,
        evidence_ids: Iterable[int],
        on: date | None = None,
    ) -> Finding:
        named = tuple(sorted(evidence_ids))
        levels = [self.evidence[e].sensitivity for e in named if e in self.evidence]
        return Finding(
            rule,
            ref,
            message,
            rec_id,
            status_update_id=update.id,
            evidence_ids=named,
            on=on or update.effective_on,
            sensitivity=max(levels, key=lambda level: level.rank, default=Sensitivity.PUBLIC),
        )

    def _wanted(self, ids: list[int]) -> list[tuple[list[Any], Any]]:
        """What rules 2 and 3 read, by the stored values: each a range of dates observed and a
        condition on the links (whose recommendations are ``+ 0``: not a use for the links'
        index, so that the date index drives the query, its cost following the period's
        evidence, as in the reports)."""
        linked = EvidenceLink.recommendation_id + 0
        # Rule 2: the evidence observed in the quarter of an assessment that advanced.
        by_quarter: dict[Quarter, set[int]] = defaultdict(set)
        for rec_id in ids:
            own = self.updates.get(rec_id, ())
            for index, update in enumerate(own):
                if self.in_period(update.effective_on):
                    previous = own[index - 1] if index else self.carried_before(rec_id, update.effective_on)
                    if update.status.rank > (previous.status.rank if previous is not None else 0):
                        by_quarter[Quarter.containing(update.effective_on)].add(rec_id)
        wanted = [
            ([Evidence.observed_on >= period.start, Evidence.observed_on < period.end], linked.in_(sorted(recs)))
            for period, recs in sorted(by_quarter.items())
        ]
        # Rule 3: setbacks in the period after the assessment that makes a recommendation implemented
        # at its end, on it or on the one it carries that status over from.
        implemented, since = set(), date.max
        for rec_id in ids:
            current, _ = self.status_at(rec_id, self.until)
            if current is not None and current.status == Status.IMPLEMENTED:
                implemented |= {rec_id, current.recommendation_id}
                since = min(since, current.effective_on)
        if not implemented:
            return wanted
        setbacks = and_(linked.in_(sorted(implemented)), EvidenceLink.stance == Stance.SETBACK)
        if self.start == date.min:
            return [*wanted, ([Evidence.observed_on > since], setbacks)]
        # A quarter: one read of its evidence serves both rules.
        quarter = [Evidence.observed_on >= self.start, Evidence.observed_on < self.until]
        return [(quarter, or_(setbacks, *(links for _, links in wanted)))]


def _in_force(session: Session, day: date, later: Later, fixes: corrections.Corrections) -> list[int]:
    """The recommendations of the editions in force on ``day`` known at as_of, newest edition
    first, then in report order (corrected positions)."""
    known = [source for source in session.scalars(select(Source)) if source.id not in later("source")]
    sources = editions.in_force(known, day)
    order = {source.id: index for index, source in enumerate(sources)}
    if not order:
        return []
    rows = [
        rec
        for rec in session.scalars(select(Recommendation).where(Recommendation.source_id.in_(list(order))))
        if rec.id not in later("recommendation")
    ]
    position = {rec.id: queries.corrected_recommendation(fixes, rec)["position"] for rec in rows}
    rows.sort(key=lambda rec: (order[rec.source_id], *queries.report_order((position[rec.id], rec.code))))
    return [rec.id for rec in rows]


def _refs(session: Session, ids: Sequence[int], later: Later, *, qualified: bool = False) -> dict[int, str]:
    """REFs as the reports give them at as_of: SOURCE/CODE when another series has the code too
    (one edition per series is in force), else the code; ``qualified``: always SOURCE/CODE."""
    series: dict[str, set[tuple[str, str]]] = defaultdict(set)
    named: dict[int, tuple[str, str]] = {}
    wanted = set(ids)
    for rec_id, code, slug, publisher, country in session.execute(
        select(Recommendation.id, Recommendation.code, Source.slug, Source.publisher, Source.country).join(Source)
    ):
        if rec_id not in later("recommendation"):
            series[code].add((publisher, country))
        if rec_id in wanted:
            named[rec_id] = (slug, code)
    repeated = None if qualified else {code for code, found in series.items() if len(found) > 1}
    return {rec_id: queries.ref_of(slug, code, repeated) for rec_id, (slug, code) in named.items()}


def _updates(
    session: Session, ids: Sequence[int], as_of: datetime, later: Later, fixes: corrections.Corrections
) -> dict[int, tuple[_Update, ...]]:
    """Each recommendation's assessments known and not withdrawn at as_of, in order (effective
    date, when known, id), as the reports order them."""
    known = known_at(session, StatusUpdate)
    withdrawn = fixes.withdrawn("status_update")
    found: dict[int, list[_Update]] = defaultdict(list)
    default_line = assessors.line(assessors.roster(session, later=later, fixes=fixes))
    for start in range(0, len(ids), CHUNK):
        query = (
            select(
                StatusUpdate.id, StatusUpdate.recommendation_id, StatusUpdate.status, StatusUpdate.effective_on, known
            )
            .where(
                StatusUpdate.recommendation_id.in_(list(ids[start : start + CHUNK])),
                known <= as_of,
                *(() if default_line is None else (default_line,)),
            )
            .order_by(StatusUpdate.effective_on, known, StatusUpdate.id)
        )
        for update_id, rec_id, status, effective_on, when in session.execute(query):
            if (update_id,) not in withdrawn:
                found[rec_id].append(_Update(update_id, rec_id, Status(status), effective_on, when))
    return {rec_id: tuple(updates) for rec_id, updates in found.items()}


def _citations(session: Session, update_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
    cited: dict[int, list[int]] = defaultdict(list)
    for start in range(0, len(update_ids), CHUNK):
        for update_id, evidence_id in session.execute(
            select(StatusUpdateEvidence.status_update_id, StatusUpdateEvidence.evidence_id).where(
                StatusUpdateEvidence.status_update_id.in_(list(update_ids[start : start + CHUNK]))
            )
        ):
            cited[update_id].append(evidence_id)
    return {update_id: tuple(sorted(found)) for update_id, found in cited.items()}


def _evidence(
    session: Session,
    wanted: list[tuple[list[Any], Any]],
    citations: Mapping[int, Sequence[int]],
    as_of: datetime,
    fixes: corrections.Corrections,
) -> dict[int, _Evidence]:
    """The evidence the rules read, known at as_of and judged by its corrected values: the links
    whose stored values match one of ``wanted`` (rules 2 and 3), what is cited (rules 1 and 4),
    and, apart, every corrected item (whose corrected values may match where the stored ones
    do not), with all its links as corrected."""
    corrected = fixes.ids("evidence") | fixes.ids("evidence_link")
    known = known_at(session, Evidence)
    columns = (Evidence.id, Evidence.observed_on, Evidence.reliability, Evidence.sensitivity)
    stored: dict[int, tuple[Any, ...]] = {}
    links: dict[int, dict[int, Any]] = defaultdict(dict)
    for observed, linked in wanted:
        query = (
            select(*columns, EvidenceLink.recommendation_id, EvidenceLink.stance)
            .join(EvidenceLink, EvidenceLink.evidence_id == Evidence.id)
            .where(*observed, linked, known <= as_of)
        )
        if corrected:
            query = query.where(~one_of(Evidence.id, corrected))
        for evidence_id, observed_on, reliability, sensitivity, rec_id, stance in session.execute(query):
            stored[evidence_id] = (observed_on, reliability, sensitivity)
            links[evidence_id][rec_id] = stance
    cited = {e for found in citations.values() for e in found}
    rest = sorted((cited | (corrected if wanted else set())) - set(stored))
    for start in range(0, len(rest), CHUNK):
        for evidence_id, observed_on, reliability, sensitivity in session.execute(
            select(*columns).where(Evidence.id.in_(rest[start : start + CHUNK]), known <= as_of)
        ):
            stored[evidence_id] = (observed_on, reliability, sensitivity)
    fixed = sorted(corrected & set(stored))
    links.update(queries.evidence_links(session, fixed, fixes) if fixed else {})
    retracted = set(
        session.scalars(select(EvidenceRetraction.evidence_id).where(known_at(session, EvidenceRetraction) <= as_of))
    )
    found = {}
    for evidence_id, (observed_on, reliability, sensitivity) in stored.items():
        values = fixes.apply(
            "evidence",
            (evidence_id,),
            {"observed_on": observed_on, "reliability": reliability, "sensitivity": sensitivity},
        )
        found[evidence_id] = _Evidence(
            observed_on=values["observed_on"],
            reliability=Reliability(values["reliability"]),
            sensitivity=fixes.sensitivity(evidence_id, Sensitivity(values["sensitivity"])),
            retracted=evidence_id in retracted,
            links={rec_id: Stance(stance) for rec_id, stance in links.get(evidence_id, {}).items()},
        )
    return found


def _leads(session: Session, ids: Sequence[int], later: Later, fixes: corrections.Corrections) -> dict[int, bool]:
    """Whether each recommendation has a lead agency as known at as_of."""
    agency_ids = dict(session.execute(select(Agency.code, Agency.id)).all())
    return {
        rec_id: any(
            role.role == Role.LEAD.value and (rec_id, agency_ids[role.code]) not in later("recommendation_agency")
            for role in roles
        )
        for rec_id, roles in queries.agencies_of(session, ids, fixes).items()
    }


def _measurements(
    session: Session,
    ids: Sequence[int],
    quarter: Quarter | None,
    as_of: datetime,
    later: Later,
    fixes: corrections.Corrections,
) -> tuple[dict[int, tuple[_Indicator, ...]], dict[int, dict[Quarter, _Value]]]:
    """The recommendations' indicators (corrected directions) and their current values by quarter
    (the latest known at as_of and not withdrawn); with ``quarter``, its and the two before."""
    indicators: dict[int, list[_Indicator]] = defaultdict(list)
    for indicator in session.scalars(
        select(Indicator).where(Indicator.recommendation_id.in_(list(ids))).order_by(Indicator.id)
    ):
        if indicator.id not in later("indicator"):
            direction = fixes.apply("indicator", (indicator.id,), {"direction": indicator.direction})["direction"]
            indicators[indicator.recommendation_id].append(
                _Indicator(indicator.id, indicator.code, Direction(direction))
            )
    indicator_ids = [i.id for found in indicators.values() for i in found]
    if not indicator_ids:
        return {}, {}
    known = known_at(session, Measurement)
    query = select(Measurement.id, Measurement.indicator_id, Measurement.quarter_start, Measurement.value).where(
        Measurement.indicator_id.in_(indicator_ids), known <= as_of
    )
    if quarter is not None:
        query = query.where(
            Measurement.quarter_start.in_(
                [quarter.previous().previous().start, quarter.previous().start, quarter.start]
            )
        )
    withdrawn = fixes.withdrawn("measurement")
    values: dict[int, dict[Quarter, _Value]] = defaultdict(dict)
    for measurement_id, indicator_id, quarter_start, value in session.execute(query.order_by(known, Measurement.id)):
        if (measurement_id,) not in withdrawn:
            values[indicator_id][Quarter.containing(quarter_start)] = _Value(measurement_id, value)
    return {rec_id: tuple(found) for rec_id, found in indicators.items()}, dict(values)
