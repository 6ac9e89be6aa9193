"""Reports as data: the quarterly status report and the status timeline.

Each report is built once, as plain frozen dataclasses, for (quarter or range, sources,
as-of, audience); :mod:`tracker.render` turns that one structure into Markdown, HTML,
JSON or CSV. Two rules hold for everything read here:

- *As of.* Only rows recorded at or before ``as_of`` count: status updates, evidence
  (and so its links and files), retractions and measurements recorded later are
  ignored, so a report regenerated later with the same ``as_of`` is the same report.
- *Audience.* Evidence above the audience's level never leaves this module: its text
  is not even read (only its id, to count what was withheld). Renderers receive only
  what the audience may see.

Cost grows with the quarter, not the history: evidence is read by ``observed_on``
range (index ``ix_evidence_observed_on``), then its links by primary key; status
updates and measurements are read for the selected recommendations and indicators
only (indexes on ``(recommendation_id, effective_on)`` and ``(indicator_id,
quarter_start)``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from tracker import __version__, assessors, corrections, lint
from tracker import editions as series_rules  # not `editions`: the name of this package's editions report
from tracker.audit.asof import Later, known_at, recorded_after
from tracker.audit.chain import last_event, reads_everything
from tracker.errors import InputError
from tracker.periods import Quarter, quarter_range
from tracker.queries import (
    agencies_of,
    corrected_links,
    corrected_recommendation,
    is_overdue,
    measurement_values,
    ref_of,
    report_order,
    source_by_slug,
)
from tracker.store.models import Agency as AgencyRow
from tracker.store.models import (
    EntryFor,
    Evidence,
    EvidenceAttachment,
    EvidenceLink,
    EvidenceRetraction,
    Indicator,
    Measurement,
    Recommendation,
    RecommendationAgency,
    Source,
    StatusUpdate,
    StatusUpdateEvidence,
)
from tracker.store.sets import one_of
from tracker.vocab import Change, EvidenceKind, Reliability, Sensitivity, Stance, Status, change_between

if TYPE_CHECKING:
    from tracker.reports.compare import AssessorLine, ComparedRecommendation

# How many quarters (ending with the report's) the status and indicator charts cover.
HISTORY_QUARTERS = 8
# The most quarters a timeline shows when --from does not say where to start: the latest ones.
DEFAULT_TIMELINE_QUARTERS = 12
# The longest timeline accepted: 100 years of quarters.
MAX_TIMELINE_QUARTERS = 400


# The structure ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceInfo:
    """A source the report covers; ``issued`` is False when it was published after the period."""

    slug: str
    title: str
    publisher: str
    country: str
    published_on: date
    rating: str | None
    url: str | None
    issued: bool


@dataclass(frozen=True)
class Header:
    """What every report prints first.

    ``sources`` are those recorded by ``as_of``; ``selected`` the slugs named with
    ``--source`` (empty: every source).
    """

    sources: tuple[SourceInfo, ...]
    selected: tuple[str, ...]
    as_of: datetime
    audience: Sensitivity
    fingerprint: str | None
    version: str
    # Why these sources: "selected" (--source), else "in force": the edition in force in each
    # series at the end of the quarter (of each quarter, in a timeline).
    basis: str = "in force"

    @property
    def not_for_publication(self) -> bool:
        return self.audience != Sensitivity.PUBLIC

    @property
    def unissued(self) -> tuple[SourceInfo, ...]:
        return tuple(source for source in self.sources if not source.issued)


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    role: str


@dataclass(frozen=True)
class AttachedFile:
    filename: str
    sha256: str


@dataclass(frozen=True)
class EvidenceItem:
    """A piece of evidence the audience may see, as it bears on one recommendation."""

    id: int
    title: str
    kind: EvidenceKind
    observed_on: date
    source_name: str | None
    url: str | None
    sensitivity: Sensitivity
    stance: Stance
    reliability: Reliability
    summary: str | None
    attachments: tuple[AttachedFile, ...] = ()
    corrected: bool = False  # a correction changed it (marked in internal and confidential reports)
    entered: EnteredFor | None = None  # recorded on an agency's behalf (--for)


@dataclass(frozen=True)
class EnteredFor:
    """Who recorded an entry on behalf of which agency: "entered by ncct for molvt"."""

    by: str
    agency: str  # its code


@dataclass(frozen=True)
class CitedEvidence:
    """A piece of evidence an assessment cites, that the audience may see: its id and title
    (as corrected at as_of), its reliability, and whether it was retracted by as_of."""

    id: int
    title: str
    reliability: Reliability
    retracted: bool = False


@dataclass(frozen=True)
class StatusChange:
    """A status update that took effect in the quarter; ``previous`` is the status it replaced."""

    ref: str
    effective_on: date
    previous: Status
    status: Status
    note: str
    recorded_at: datetime
    cites: tuple[CitedEvidence, ...] = ()  # the evidence it cites that the audience may see, by id
    # how many it cites above the audience (counted, never named); None when the database user
    # may not read them to count them (:func:`counts_withheld`)
    cites_withheld: int | None = 0
    entered: EnteredFor | None = None  # recorded on an agency's behalf (--for)


@dataclass(frozen=True)
class QuarterValue:
    quarter: Quarter
    value: float | None


@dataclass(frozen=True)
class IndicatorLine:
    code: str
    name: str
    unit: str
    direction: str
    target: float | None
    value: float | None
    previous_value: float | None
    series: tuple[QuarterValue, ...]
    corrected: bool = False


@dataclass(frozen=True)
class RecommendationSection:
    ref: str
    source: str
    code: str
    title: str
    text: str
    text_status: str
    pillar: str
    agencies: tuple[Agency, ...]
    due_on: date | None
    overdue: bool
    # None: the source had not been published by the end of the previous quarter (as in the
    # timeline); the change is then measured from not_started, its status when issued.
    previous_status: Status | None
    status: Status
    change: Change
    status_updates: tuple[StatusChange, ...]
    evidence: tuple[EvidenceItem, ...]
    indicators: tuple[IndicatorLine, ...]
    corrected: bool = False  # it, or who owns it, was corrected (marked in internal and confidential reports)
    # The edition whose status it shows: it has no assessment of its own yet, and continues a
    # recommendation of that earlier edition (its status "carried over, not yet re-assessed").
    carried_over_from: str | None = None


@dataclass(frozen=True)
class FieldCorrection:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class CorrectionLine:
    """A correction recorded during the quarter, of something the report shows."""

    record: str
    changes: tuple[FieldCorrection, ...]
    reason: str
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class Summary:
    status_counts: tuple[tuple[Status, int], ...]
    previous_status_counts: tuple[tuple[Status, int], ...]
    advanced: int
    regressed: int
    unchanged: int
    # Recommendations issued during the quarter: not in previous_status_counts, and their
    # change counted from not_started.
    issued_in_quarter: int
    evidence_count: int
    evidence_by_kind: tuple[tuple[EvidenceKind, int], ...]
    # Stance belongs to a link: one piece of evidence on two recommendations counts twice.
    evidence_by_stance: tuple[tuple[Stance, int], ...]
    overdue: tuple[str, ...]


@dataclass(frozen=True)
class AttentionItem:
    """A recommendation that needs a look: it regressed, is overdue, has no evidence this quarter,
    carries over a status, or (internal and confidential reports) a check of ``tracker lint`` fires."""

    ref: str
    title: str
    regressed_from: Status | None  # the previous quarter's status, when it regressed
    status: Status
    overdue_since: date | None  # the due date, when overdue
    no_evidence: bool
    carried_over_from: str | None = None  # its status is carried over from that edition, not re-assessed
    # The quarter's lint findings on it, "rule: message" (:func:`tracker.lint.findings`); never for
    # the public audience, and only those whose evidence the audience may see.
    findings: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusCounts:
    quarter: Quarter
    counts: tuple[tuple[Status, int], ...]


@dataclass(frozen=True)
class QuarterlyReport:
    kind: ClassVar[str] = "quarterly"  # which report it is, for renderers that take either
    header: Header
    quarter: Quarter
    summary: Summary
    changes: tuple[StatusChange, ...]
    recommendations: tuple[RecommendationSection, ...]
    attention: tuple[AttentionItem, ...]
    history: tuple[StatusCounts, ...]
    withheld: int | None  # None: not known to the database user (:func:`counts_withheld`)
    # Internal and confidential reports only: the corrections recorded during the quarter.
    corrections: tuple[CorrectionLine, ...] = ()
    # With two assessors or more: the assessors compared and each recommendation's statuses
    # (see :mod:`tracker.reports.compare`); None otherwise.
    compared: tuple[tuple[AssessorLine, ...], tuple[ComparedRecommendation, ...]] | None = None

    @property
    def start(self) -> date:
        return self.quarter.start

    @property
    def end(self) -> date:
        """The first day after the quarter (exclusive)."""
        return self.quarter.end

    @property
    def ended(self) -> bool:
        """Whether the quarter had ended at the as-of instant (``--as-of`` its last day counts)."""
        return self.header.as_of >= _day_start(self.quarter.end) - timedelta(microseconds=1)


@dataclass(frozen=True)
class TimelineCell:
    quarter: Quarter
    status: Status | None  # None: the source had not been published by the quarter's end
    changed: bool


@dataclass(frozen=True)
class TimelineRow:
    ref: str
    source: str
    title: str
    pillar: str
    cells: tuple[TimelineCell, ...]

    @property
    def changed_in(self) -> tuple[Quarter, ...]:
        return tuple(cell.quarter for cell in self.cells if cell.changed)


@dataclass(frozen=True)
class Timeline:
    kind: ClassVar[str] = "timeline"
    header: Header
    quarters: tuple[Quarter, ...]
    rows: tuple[TimelineRow, ...]
    history: tuple[StatusCounts, ...]
    # When the default range was longer than DEFAULT_TIMELINE_QUARTERS: the quarter it would have
    # started at (the range shown is its last quarters); None when nothing was cut.
    cut_from: Quarter | None = None

    @property
    def first(self) -> Quarter:
        return self.quarters[0]

    @property
    def last(self) -> Quarter:
        return self.quarters[-1]


# Building -----------------------------------------------------------------------------------


def parse_audience(value: str | Sensitivity | None) -> Sensitivity:
    if value is None:
        return Sensitivity.INTERNAL
    if isinstance(value, Sensitivity):
        return value
    try:
        return Sensitivity(value.strip().lower())
    except ValueError:
        raise InputError(f"unknown --audience {value!r}: use public, internal (the default) or confidential") from None


def quarterly(
    session: Session,
    quarter: Quarter,
    *,
    sources: Sequence[str] = (),
    as_of: datetime,
    audience: Sensitivity | str = Sensitivity.INTERNAL,
    attention: bool = True,
) -> QuarterlyReport:
    """The quarterly status report for ``quarter`` as known at ``as_of``, for ``audience``.

    ``attention=False`` leaves the attention list empty, for a format that does not show it
    (``Format.attention``): reading the findings is a tenth of a large report's time.
    """
    audience = parse_audience(audience)
    as_of = _utc(as_of)
    later = recorded_after(session, as_of)
    fixes = corrections.as_of(session, as_of)
    marked = audience != Sensitivity.PUBLIC
    selected = _sources(session, sources, quarter.end, later)
    header = _header(session, selected, sources, as_of, audience)
    recs = _recommendations(session, [s for s in selected if s.issued], later, fixes)
    ids = [rec.id for rec, _ in recs]
    refs = _refs(session, recs, later)
    threads = series_rules.threads(session, later, fixes)
    slugs = _slugs_of(session)

    # The charts and the history start at the quarter the earliest selected source was published
    # in, when that is later than HISTORY_QUARTERS ago: no quarter is shown in which it did not exist.
    history_start = _back(quarter, HISTORY_QUARTERS - 1)
    issued = [Quarter.containing(s.published_on) for s in selected if s.issued]
    history_quarters = quarter_range(max(history_start, min(min(issued, default=quarter), quarter)), quarter)
    roster = assessors.roster(session, later=later, fixes=fixes)
    updates = _status_updates(session, _with_ancestors(ids, threads), quarter.end, as_of, fixes, assessors.line(roster))
    published = {s.slug: s.published_on for s in selected}

    def status_at(rec_id: int, day: date) -> tuple[Status, int | None]:
        return _carried(rec_id, threads, updates, day)

    visible, withheld = _quarter_evidence(session, quarter, set(ids), as_of, audience, fixes)
    in_quarter = [u.id for rec_id in ids for u in updates.get(rec_id, ()) if u.effective_on >= quarter.start]
    cited = _cited(session, in_quarter, as_of, audience, fixes)
    entered = _entered(session, StatusUpdate, in_quarter)
    shown_evidence = _entered(session, Evidence, sorted({item.id for items in visible.values() for item in items}))
    if shown_evidence:
        visible = {
            rec_id: tuple(replace(item, entered=shown_evidence.get(item.id)) for item in items)
            for rec_id, items in visible.items()
        }
    indicators = _indicators(session, ids, history_quarters, as_of, later, fixes, marked)
    owners = _owners(session, ids, later, fixes)
    if not marked:
        visible = {rec_id: tuple(replace(item, corrected=False) for item in items) for rec_id, items in visible.items()}

    sections = []
    for rec, slug in recs:
        before, carried_before = status_at(rec.id, quarter.start)
        status, carried = status_at(rec.id, quarter.end)
        changes = _changes_in(refs[rec.id], updates.get(rec.id, ()), quarter, before, cited, entered)
        # Counted at the previous quarter's end only if issued by then, as in the history and the timeline.
        previous = before if published[slug] < quarter.start else None
        sections.append(
            RecommendationSection(
                ref=refs[rec.id],
                source=slug,
                code=rec.code,
                title=rec.title,
                text=rec.text,
                text_status=rec.text_status.value,
                pillar=rec.pillar.value,
                agencies=tuple(Agency(a.code, a.name, a.role) for a in owners.get(rec.id, ())),
                due_on=rec.due_on,
                overdue=is_overdue(rec.due_on, status, quarter.end),
                previous_status=previous,
                status=status,
                # issued in the quarter: measured from not_started, or from the status it carries over
                change=change_between(
                    previous
                    if previous is not None
                    else (before if carried_before is not None else Status.NOT_STARTED),
                    status,
                ),
                status_updates=changes,
                evidence=visible.get(rec.id, ()),
                indicators=indicators.get(rec.id, ()),
                corrected=marked
                and (
                    fixes.corrected("recommendation", (rec.id,))
                    or any(key[0] == rec.id for key in fixes.keys("recommendation_agency"))
                ),
                carried_over_from=None if carried is None else slugs[carried],
            )
        )

    history = tuple(
        StatusCounts(
            q,
            _count_statuses(status_at(rec.id, q.end)[0] for rec, slug in recs if published[slug] < q.end),
        )
        for q in history_quarters
    )
    return QuarterlyReport(
        header=header,
        quarter=quarter,
        summary=_summary(sections),
        changes=tuple(
            sorted(
                (change for section in sections for change in section.status_updates),
                key=lambda c: (c.effective_on, c.recorded_at, c.ref),
            )
        ),
        recommendations=tuple(sections),
        attention=_attention(sections, _findings(session, quarter, as_of, audience, ids, refs, fixes, later, threads))
        if attention
        else (),
        history=history,
        withheld=withheld,
        corrections=_corrections_in(session, quarter, fixes, refs, visible, audience) if marked else (),
        compared=_compared(session, quarter, selected, as_of, audience, later, fixes) if roster else None,
    )


def _compared(
    session: Session,
    quarter: Quarter,
    selected: list[SourceInfo],
    as_of: datetime,
    audience: Sensitivity,
    later: Later,
    fixes: corrections.Corrections,
) -> tuple[tuple[AssessorLine, ...], tuple[ComparedRecommendation, ...]] | None:
    from tracker.reports.compare import section

    return section(session, quarter, selected, as_of=as_of, audience=audience, later=later, fixes=fixes)


def timeline(
    session: Session,
    *,
    sources: Sequence[str] = (),
    first: Quarter | None = None,
    last: Quarter | None = None,
    as_of: datetime,
    audience: Sensitivity | str = Sensitivity.INTERNAL,
) -> Timeline:
    """Every recommendation's status at the end of every quarter from ``first`` to ``last``.

    By default to the quarter of ``as_of``, from the quarter the earliest selected source
    was published in, or with no source selected the earliest edition in force at the end
    of ``last`` (one per series); without ``first``, at most the last
    :data:`DEFAULT_TIMELINE_QUARTERS` quarters of that range (``cut_from`` says where it
    would have started).
    """
    audience = parse_audience(audience)
    as_of = _utc(as_of)
    later = recorded_after(session, as_of)
    last = last or Quarter.containing(as_of.date())
    cut_from = None
    if first is None:
        probe = _sources(session, sources, date.max if sources else last.end, later)
        first = min((Quarter.containing(s.published_on) for s in probe), default=last)
        first = min(first, last)
        if len(quarter_range(first, last)) > DEFAULT_TIMELINE_QUARTERS:
            cut_from, first = first, _back(last, DEFAULT_TIMELINE_QUARTERS - 1)
    quarters = quarter_range(first, last)
    if len(quarters) > MAX_TIMELINE_QUARTERS:
        raise InputError(
            f"the range {first}..{last} has {len(quarters)} quarters; the limit is "
            f"{MAX_TIMELINE_QUARTERS}: narrow it with --from and --to"
        )
    if sources:
        selected = _sources(session, sources, last.end, later)
        showing = {source.slug: quarters for source in selected}
    else:  # the edition in force in each series, quarter by quarter
        showing = {}
        for q in quarters:
            for source in _sources(session, (), q.end, later):
                showing.setdefault(source.slug, []).append(q)
        selected = [source for source in _sources(session, (), date.max, later) if source.slug in showing]
        selected = [replace(source, issued=source.published_on < last.end) for source in selected]
    header = _header(session, selected, sources, as_of, audience)
    fixes = corrections.as_of(session, as_of)
    recs = _recommendations(session, [s for s in selected if s.issued], later, fixes)
    ids = [rec.id for rec, _ in recs]
    refs = _refs(session, recs, later)
    threads = series_rules.threads(session, later, fixes)
    roster = assessors.roster(session, later=later, fixes=fixes)
    updates = _status_updates(session, _with_ancestors(ids, threads), last.end, as_of, fixes, assessors.line(roster))
    published = {s.slug: s.published_on for s in selected}

    rows = []
    for rec, slug in recs:
        shown = set(showing[slug])
        cells = []
        start_shown = first in shown and published[slug] < first.start
        before = _carried(rec.id, threads, updates, first.start)[0] if start_shown else None
        for q in quarters:
            status = _carried(rec.id, threads, updates, q.end)[0] if q in shown and published[slug] < q.end else None
            if before is None and status is not None:  # first shown: from not started, or what it carries over
                carried, carried_from = _carried(rec.id, threads, updates, q.start)
                before = carried if carried_from is not None else None
            changed = status is not None and status != (before or Status.NOT_STARTED)
            cells.append(TimelineCell(q, status, changed))
            before = status
        rows.append(TimelineRow(refs[rec.id], slug, rec.title, rec.pillar.value, tuple(cells)))
    history = tuple(
        StatusCounts(
            q, _count_statuses(status for status in (row.cells[i].status for row in rows) if status is not None)
        )
        for i, q in enumerate(quarters)
    )
    return Timeline(header=header, quarters=tuple(quarters), rows=tuple(rows), history=history, cut_from=cut_from)


# The report's queries -----------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InputError("as_of must be a timezone-aware instant")
    return moment.astimezone(UTC)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _back(quarter: Quarter, steps: int) -> Quarter:
    for _ in range(steps):
        quarter = quarter.previous()
    return quarter


def _sources(session: Session, slugs: Sequence[str], period_end: date, later: Later = Later()) -> list[SourceInfo]:
    """The selected sources, newest first (unknown slugs are refused); when none is named, the
    edition in force in each series at the end of the period (``period_end`` excluded), or a
    series' first edition if none was published by then (:func:`tracker.editions.for_reports`)."""
    if slugs:
        rows = {source.slug: source for source in (source_by_slug(session, slug) for slug in dict.fromkeys(slugs))}
        chosen = [s for s in rows.values() if s.id not in later("source")]
    elif period_end == date.max:  # every source known
        chosen = [s for s in session.scalars(select(Source)) if s.id not in later("source")]
    else:
        known = [s for s in session.scalars(select(Source)) if s.id not in later("source")]
        chosen = series_rules.for_reports(known, period_end - timedelta(days=1))
    chosen.sort(key=lambda s: (-s.published_on.toordinal(), s.slug))
    return [
        SourceInfo(
            slug=s.slug,
            title=s.title,
            publisher=s.publisher,
            country=s.country,
            published_on=s.published_on,
            rating=s.rating,
            url=s.url,
            issued=s.published_on < period_end,
        )
        for s in chosen
    ]


def _header(
    session: Session, sources: list[SourceInfo], selected: Sequence[str], as_of: datetime, audience: Sensitivity
) -> Header:
    event = last_event(session, as_of)
    return Header(
        sources=tuple(sources),
        selected=tuple(dict.fromkeys(selected)),
        as_of=as_of,
        audience=audience,
        fingerprint=event.hash if event is not None else None,
        version=__version__,
        basis="selected" if selected else "in force",
    )


@dataclass(frozen=True)
class _Rec:
    """A recommendation as known at as_of: as stored, corrections applied."""

    id: int
    code: str
    title: str
    text: str
    text_status: Any
    pillar: Any
    due_on: date | None
    position: int | None


def _recommendations(
    session: Session, sources: list[SourceInfo], later: Later, fixes: corrections.Corrections
) -> list[tuple[_Rec, str]]:
    """The sources' recommendations known at as_of, in source order then report order."""
    if not sources:
        return []
    order = {s.slug: i for i, s in enumerate(sources)}
    rows = session.execute(select(Recommendation, Source.slug).join(Source).where(Source.slug.in_(list(order)))).all()
    known = [
        (_Rec(id=rec.id, code=rec.code, **corrected_recommendation(fixes, rec)), slug)
        for rec, slug in rows
        if rec.id not in later("recommendation")
    ]
    return sorted(known, key=lambda row: (order[row[1]], *report_order((row[0].position, row[0].code))))


def _refs(session: Session, recs: list[tuple[_Rec, str]], later: Later) -> dict[int, str]:
    """REFs as they were at as_of: a code is qualified (SOURCE/CODE) when the report shows it
    twice (two editions selected) or another series has it too (a short REF would be
    ambiguous); a code repeated only by a later source, or by another edition of the
    series that the report does not show, stays unqualified."""
    series: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for rec_id, code, publisher, country in session.execute(
        select(Recommendation.id, Recommendation.code, Source.publisher, Source.country).join(Source)
    ):
        if rec_id not in later("recommendation"):
            series[code].add((publisher, country))
    shown = Counter(rec.code for rec, _ in recs)
    repeated = {code for code, count in shown.items() if count > 1 or len(series[code]) > 1}
    return {rec.id: ref_of(slug, rec.code, repeated) for rec, slug in recs}


def _slugs_of(session: Session) -> dict[int, str]:
    """Each recommendation's source slug, by its id."""
    return dict(session.execute(select(Recommendation.id, Source.slug).join(Source)).all())


def _with_ancestors(ids: Sequence[int], threads: series_rules.Threads) -> list[int]:
    """``ids`` and every recommendation they continue (whose statuses a new edition carries over)."""
    return list(dict.fromkeys([*ids, *(earlier for rec_id in ids for earlier in threads.ancestors(rec_id))]))


def _carried(
    rec_id: int, threads: series_rules.Threads, updates: dict[int, tuple[_Update, ...]], day: date
) -> tuple[Status, int | None]:
    """A recommendation's status at the start of ``day``, carried over from the thread when it
    has no assessment of its own (:func:`tracker.editions.carry`), and the id carried from."""
    latest = {}
    for rec in (rec_id, *threads.ancestors(rec_id)):
        last = None
        for update in updates.get(rec, ()):
            if update.effective_on >= day:
                break
            last = update
        if last is not None:
            latest[rec] = ((last.effective_on, last.recorded_at, last.id), last.status)
    status, carried = series_rules.carry(rec_id, threads, latest)
    return status or Status.NOT_STARTED, carried


def _owners(session: Session, ids: Sequence[int], later: Later, fixes: corrections.Corrections) -> dict[int, list]:
    owners = agencies_of(session, ids, fixes) if ids else {}
    if not later("recommendation_agency"):
        return owners
    agency_ids = dict(session.execute(select(AgencyRow.code, AgencyRow.id)).all())
    return {
        rec_id: [a for a in roles if (rec_id, agency_ids[a.code]) not in later("recommendation_agency")]
        for rec_id, roles in owners.items()
    }


@dataclass(frozen=True)
class _Update:
    id: int
    status: Status
    effective_on: date
    note: str
    recorded_at: datetime


def _status_updates(
    session: Session,
    ids: Sequence[int],
    before: date,
    as_of: datetime,
    fixes: corrections.Corrections,
    line: ColumnElement[bool] | None = None,
) -> dict[int, tuple[_Update, ...]]:
    """Each recommendation's updates effective before ``before``, known and not withdrawn at
    ``as_of``, in order; ``line``: one assessor's (:func:`tracker.assessors.line`), else all."""
    if not ids:
        return {}
    known = known_at(session, StatusUpdate)
    query = (
        select(
            StatusUpdate.recommendation_id,
            StatusUpdate.id,
            StatusUpdate.status,
            StatusUpdate.effective_on,
            StatusUpdate.note,
            known,
        )
        .where(
            StatusUpdate.recommendation_id.in_(list(ids)),
            StatusUpdate.effective_on < before,
            known <= as_of,
            *(() if line is None else (line,)),
        )
        .order_by(StatusUpdate.effective_on, known, StatusUpdate.id)
    )
    updates: dict[int, list[_Update]] = defaultdict(list)
    withdrawn = fixes.withdrawn("status_update")
    for rec_id, update_id, status, effective_on, note, recorded_at in session.execute(query):
        if (update_id,) in withdrawn:
            continue
        updates[rec_id].append(_Update(update_id, Status(status), effective_on, note, recorded_at))
    return {rec_id: tuple(items) for rec_id, items in updates.items()}


def _status_before(updates: Iterable[_Update], day: date) -> Status:
    """The status at the start of ``day``: the last update (in order) effective before it."""
    status = Status.NOT_STARTED
    for update in updates:
        if update.effective_on >= day:
            break
        status = update.status
    return status


def _changes_in(
    ref: str,
    updates: Iterable[_Update],
    quarter: Quarter,
    previous: Status,
    cited: dict[int, tuple[tuple[CitedEvidence, ...], int | None]],
    entered: Mapping[int, EnteredFor],
) -> tuple[StatusChange, ...]:
    changes = []
    for update in updates:
        if quarter.start <= update.effective_on < quarter.end:
            cites, cites_withheld = cited.get(update.id, ((), 0))
            changes.append(
                StatusChange(
                    ref,
                    update.effective_on,
                    previous,
                    update.status,
                    update.note,
                    update.recorded_at,
                    cites=cites,
                    cites_withheld=cites_withheld,
                    entered=entered.get(update.id),
                )
            )
            previous = update.status
    return tuple(changes)


def _cited(
    session: Session,
    update_ids: Sequence[int],
    as_of: datetime,
    audience: Sensitivity,
    fixes: corrections.Corrections,
) -> dict[int, tuple[tuple[CitedEvidence, ...], int | None]]:
    """The evidence each status update cites: what the audience may see (title as corrected at
    as_of, retracted or not at as_of), and how many citations it may not see (None when the
    database user cannot count them: :func:`counts_withheld`), for every update of ``update_ids``.

    An assessment cites evidence recorded before it, so every cited row is known at as_of;
    its sensitivity is the corrected one, as everywhere (:meth:`Corrections.sensitivity`).
    """
    if not update_ids:
        return {}
    citing = one_of(StatusUpdateEvidence.status_update_id, update_ids)
    retracted_at = dict(
        session.execute(
            select(EvidenceRetraction.evidence_id, known_at(session, EvidenceRetraction))
            .join(StatusUpdateEvidence, StatusUpdateEvidence.evidence_id == EvidenceRetraction.evidence_id)
            .where(citing)
        ).all()
    )
    shown: dict[int, list[CitedEvidence]] = defaultdict(list)
    withheld: Counter[int] = Counter()
    for update_id, row in session.execute(
        select(StatusUpdateEvidence.status_update_id, Evidence)
        .join(Evidence, Evidence.id == StatusUpdateEvidence.evidence_id)
        .where(citing)
        .order_by(StatusUpdateEvidence.status_update_id, Evidence.id)
    ):
        values = fixes.apply("evidence", (row.id,), corrections.values_of(row, "evidence"))
        if fixes.sensitivity(row.id, values["sensitivity"]).rank > audience.rank:
            withheld[update_id] += 1
            continue
        retracted = row.id in retracted_at and retracted_at[row.id] <= as_of
        shown[update_id].append(CitedEvidence(row.id, values["title"], Reliability(values["reliability"]), retracted))
    counted = counts_withheld(session, audience)
    return {
        update_id: (tuple(shown.get(update_id, ())), withheld[update_id] if counted else None)
        for update_id in update_ids
    }


def _entered(session: Session, model: type[Evidence] | type[StatusUpdate], ids: Sequence[int]) -> dict[int, EnteredFor]:
    """Which of ``model``'s rows ``ids`` were recorded on an agency's behalf, by whom for which."""
    if not ids:
        return {}
    target = str(model.__tablename__)
    return {
        record_id: EnteredFor(by, code)
        for record_id, by, code in session.execute(
            select(EntryFor.record_id, model.recorded_by, AgencyRow.code)
            .join(model, model.id == EntryFor.record_id)
            .join(AgencyRow, AgencyRow.id == EntryFor.agency_id)
            .where(EntryFor.target == target, one_of(EntryFor.record_id, ids))
        )
    }


def counts_withheld(session: Session, audience: Sensitivity) -> bool:
    """Whether the evidence above ``audience`` can be counted: nothing is above a confidential
    report, and otherwise the database user must read every row. On a team database a role
    below tracker_confidential is shown only some evidence by the database itself, so what
    it may not read is neither shown nor counted (a count of 0 would say what it cannot know)."""
    return audience is Sensitivity.CONFIDENTIAL or reads_everything(session)


def _visible_levels(audience: Sensitivity) -> list[Sensitivity]:
    return [level for level in Sensitivity if level.rank <= audience.rank]


def _quarter_evidence(
    session: Session,
    quarter: Quarter,
    rec_ids: set[int],
    as_of: datetime,
    audience: Sensitivity,
    fixes: corrections.Corrections,
) -> tuple[dict[int, tuple[EvidenceItem, ...]], int | None]:
    """The quarter's evidence the audience may see, by recommendation; and how many were withheld
    (None when the database user cannot count them: :func:`counts_withheld`).

    Evidence counts when observed in the quarter, recorded at or before ``as_of`` and
    not retracted at ``as_of``. Withheld evidence is counted by id only. Evidence that a
    correction changed (few) is read apart and judged by its corrected values.
    """
    if not rec_ids:
        return {}, 0
    visible_levels = _visible_levels(audience)
    retracted = exists().where(
        EvidenceRetraction.evidence_id == Evidence.id, known_at(session, EvidenceRetraction) <= as_of
    )
    standing = (known_at(session, Evidence) <= as_of, ~retracted)
    corrected = sorted(fixes.ids("evidence") | fixes.ids("evidence_link") | fixes.raised_later())
    in_quarter = (
        Evidence.observed_on >= quarter.start,
        Evidence.observed_on < quarter.end,
        *standing,
        *((~one_of(Evidence.id, corrected),) if corrected else ()),
    )
    # Links are filtered by recommendation here, not in SQL, so that the planner always
    # drives the query from the observed_on index (cost follows the quarter's size).
    withheld: set[int] = set()
    visible = frozenset(visible_levels)
    files: dict[int, list[AttachedFile]] = defaultdict(list)
    for evidence_id, filename, sha256 in session.execute(
        select(EvidenceAttachment.evidence_id, EvidenceAttachment.filename, EvidenceAttachment.sha256)
        .join(Evidence, Evidence.id == EvidenceAttachment.evidence_id)
        .where(*in_quarter, Evidence.sensitivity.in_(visible_levels))
        .order_by(EvidenceAttachment.evidence_id, EvidenceAttachment.filename, EvidenceAttachment.sha256)
    ):
        files[evidence_id].append(AttachedFile(filename, sha256))
    items: dict[int, list[EvidenceItem]] = defaultdict(list)
    # Tens of thousands of rows in a large quarter: unpacked, and the vocabulary columns come
    # back as their enum members already (see tracker.store.models.vocabulary). The evidence
    # above the audience is read in the same pass, and counted only.
    for (
        evidence_id,
        title,
        kind,
        observed_on,
        source_name,
        url,
        sensitivity,
        reliability,
        summary,
        rec_id,
        stance,
    ) in session.connection().execute(  # (Core: rows, without the ORM's loading of each)
        select(
            Evidence.id,
            Evidence.title,
            Evidence.kind,
            Evidence.observed_on,
            Evidence.source_name,
            Evidence.url,
            Evidence.sensitivity,
            Evidence.reliability,
            Evidence.summary,
            EvidenceLink.recommendation_id,
            EvidenceLink.stance,
        )
        .join(EvidenceLink, EvidenceLink.evidence_id == Evidence.id)
        .where(*in_quarter)
        .order_by(Evidence.observed_on, Evidence.id, EvidenceLink.recommendation_id)
    ):
        if rec_id not in rec_ids:
            continue
        if sensitivity not in visible:
            withheld.add(evidence_id)
            continue
        items[rec_id].append(
            EvidenceItem(
                evidence_id,
                title,
                kind,
                observed_on,
                source_name,
                url,
                sensitivity,
                stance,
                reliability,
                summary,
                tuple(files.get(evidence_id, ())),
            )
        )
    if corrected:
        _corrected_evidence(session, corrected, standing, quarter, rec_ids, audience, fixes, items, withheld)
    counted = counts_withheld(session, audience)
    return {rec_id: tuple(found) for rec_id, found in items.items()}, len(withheld) if counted else None


def _corrected_evidence(
    session: Session,
    ids: list[int],
    standing: tuple[Any, ...],
    quarter: Quarter,
    rec_ids: set[int],
    audience: Sensitivity,
    fixes: corrections.Corrections,
    items: dict[int, list[EvidenceItem]],
    withheld: set[int],
) -> None:
    """Add the corrected evidence to ``items`` (or ``withheld``), judged by its corrected values."""
    rows = session.scalars(select(Evidence).where(one_of(Evidence.id, ids), *standing)).all()
    stored: dict[int, dict[int, Any]] = defaultdict(dict)
    for evidence_id, rec_id, stance in session.execute(
        select(EvidenceLink.evidence_id, EvidenceLink.recommendation_id, EvidenceLink.stance).where(
            one_of(EvidenceLink.evidence_id, ids)
        )
    ):
        stored[evidence_id][rec_id] = stance
    links = corrected_links(stored, fixes, set(ids))
    files: dict[int, list[AttachedFile]] = defaultdict(list)
    for evidence_id, filename, sha256 in session.execute(
        select(EvidenceAttachment.evidence_id, EvidenceAttachment.filename, EvidenceAttachment.sha256)
        .where(one_of(EvidenceAttachment.evidence_id, ids))
        .order_by(EvidenceAttachment.evidence_id, EvidenceAttachment.filename, EvidenceAttachment.sha256)
    ):
        files[evidence_id].append(AttachedFile(filename, sha256))
    touched = set()
    for row in rows:
        values = fixes.apply("evidence", (row.id,), corrections.values_of(row, "evidence"))
        if not quarter.start <= values["observed_on"] < quarter.end:
            continue
        level = fixes.sensitivity(row.id, values["sensitivity"])
        for rec_id, stance in sorted(links.get(row.id, {}).items()):
            if rec_id not in rec_ids:
                continue
            if level.rank > audience.rank:
                withheld.add(row.id)
                continue
            touched.add(rec_id)
            items[rec_id].append(
                EvidenceItem(
                    row.id,
                    values["title"],
                    values["kind"],
                    values["observed_on"],
                    values["source_name"],
                    values["url"],
                    level,
                    stance,
                    Reliability(values["reliability"]),
                    values["summary"],
                    tuple(files.get(row.id, ())),
                    corrected=bool(fixes.of("evidence", (row.id,)) or fixes.of("evidence_link", (row.id, rec_id))),
                )
            )
    for rec_id in touched:
        items[rec_id].sort(key=lambda item: (item.observed_on, item.id))


def _indicators(
    session: Session,
    ids: Sequence[int],
    quarters: Sequence[Quarter],
    as_of: datetime,
    later: Later,
    fixes: corrections.Corrections,
    marked: bool,
) -> dict[int, tuple[IndicatorLine, ...]]:
    """Each recommendation's indicators with their values over ``quarters`` (the last is the report's)."""
    if not ids:
        return {}
    indicators = [
        indicator
        for indicator in session.scalars(
            select(Indicator).where(Indicator.recommendation_id.in_(list(ids))).order_by(Indicator.id)
        )
        if indicator.id not in later("indicator")
    ]
    if not indicators:
        return {}
    values = measurement_values(
        session,
        known_at=as_of,
        indicator_ids=[i.id for i in indicators],
        quarter_starts=[q.start for q in quarters],
    )
    lines: dict[int, list[IndicatorLine]] = defaultdict(list)
    current, previous = quarters[-1], quarters[-1].previous()
    for indicator in indicators:
        fixed = fixes.apply("indicator", (indicator.id,), corrections.values_of(indicator, "indicator"))
        lines[indicator.recommendation_id].append(
            IndicatorLine(
                code=indicator.code,
                name=fixed["name"],
                unit=fixed["unit"],
                direction=fixed["direction"].value,
                target=fixed["target"],
                value=values.get((indicator.id, current.start)),
                previous_value=values.get((indicator.id, previous.start)),
                series=tuple(QuarterValue(q, values.get((indicator.id, q.start))) for q in quarters),
                corrected=marked and fixes.corrected("indicator", (indicator.id,)),
            )
        )
    return {rec_id: tuple(items) for rec_id, items in lines.items()}


def _corrections_in(
    session: Session,
    quarter: Quarter,
    fixes: corrections.Corrections,
    refs: dict[int, str],
    visible: dict[int, tuple[EvidenceItem, ...]],
    audience: Sensitivity,
) -> tuple[CorrectionLine, ...]:
    """The corrections recorded during the quarter (and known at as_of) of what the report
    covers: its recommendations, their assignments, agencies, status updates, indicators and
    values, and evidence on them that the audience may see (corrected values)."""
    during = fixes.during(_day_start(quarter.start), _day_start(quarter.end))
    if not during:
        return ()
    lines = []
    for item in during:
        record = _corrected_record(session, item, fixes, refs, audience)
        if record is None:
            continue
        name, stored = record
        changes = []
        for amendment, before, after in fixes.versions(item.target, item.key, stored):
            if amendment.id != item.id:
                continue
            for field in amendment.changes:
                changes.append(
                    FieldCorrection(field, corrections.shown(before.get(field)), corrections.shown(after.get(field)))
                )
        if item.withdrawn is not None:
            spec = corrections.TARGETS[item.target]
            changes.append(FieldCorrection(spec.withdrawn_as if item.withdrawn else spec.restored_as, "no", "yes"))
        lines.append(CorrectionLine(name, tuple(changes), item.reason, item.recorded_at, item.recorded_by))
    return tuple(lines)


def _corrected_record(
    session: Session,
    item: corrections.Amendment,
    fixes: corrections.Corrections,
    refs: dict[int, str],
    audience: Sensitivity,
) -> tuple[str, dict[str, Any]] | None:
    """How the report names a corrected record and its stored values; None when the report does
    not cover it (another source's, or evidence above the audience)."""
    target, key = item.target, item.key
    if target == "recommendation":
        row = session.get(Recommendation, key[0])
        if row is None or row.id not in refs:
            return None
        return f"rec {refs[row.id]}", corrections.values_of(row, target)
    if target == "recommendation_agency":
        link = session.get(RecommendationAgency, key)
        agency = session.get(AgencyRow, key[1])
        if key[0] not in refs or agency is None:
            return None
        return f"rec {refs[key[0]]} agency {agency.code}", {"role": link.role if link else None}
    if target == "agency":
        agency = session.get(AgencyRow, key[0])
        return (f"agency {agency.code}", corrections.values_of(agency, target)) if agency is not None else None
    if target == "status_update":
        update = session.get(StatusUpdate, key[0])
        if update is None or update.recommendation_id not in refs:
            return None
        return f"status {update.id} ({refs[update.recommendation_id]}, {update.effective_on})", {}
    if target in ("indicator", "measurement"):
        if target == "measurement":
            measurement = session.get(Measurement, key[0])
            indicator = session.get(Indicator, measurement.indicator_id) if measurement is not None else None
        else:
            measurement, indicator = None, session.get(Indicator, key[0])
        if indicator is None or indicator.recommendation_id not in refs:
            return None
        if measurement is not None:
            return (
                f"measurement {measurement.id} ({indicator.code} {Quarter.containing(measurement.quarter_start)})",
                {},
            )
        return f"indicator {indicator.code}", corrections.values_of(indicator, target)
    if target in ("evidence", "evidence_link"):
        evidence = session.get(Evidence, key[0])
        if evidence is None:
            return None
        values = fixes.apply("evidence", (evidence.id,), corrections.values_of(evidence, "evidence"))
        if fixes.sensitivity(evidence.id, values["sensitivity"]).rank > audience.rank:
            return None
        linked = set(
            session.scalars(select(EvidenceLink.recommendation_id).where(EvidenceLink.evidence_id == evidence.id))
        ) | {k[1] for k in fixes.keys("evidence_link") if k[0] == evidence.id}
        if not linked & set(refs):
            return None
        if target == "evidence":
            return f"evidence {evidence.id}", corrections.values_of(evidence, target)
        if key[1] not in refs:
            return None
        stance = session.scalar(
            select(EvidenceLink.stance).where(
                EvidenceLink.evidence_id == key[0], EvidenceLink.recommendation_id == key[1]
            )
        )
        return f"evidence {evidence.id} on {refs[key[1]]}", {"stance": stance}
    return None


# Summaries ----------------------------------------------------------------------------------


def _count_statuses(statuses: Iterable[Status]) -> tuple[tuple[Status, int], ...]:
    counts = Counter(statuses)
    return tuple((status, counts.get(status, 0)) for status in Status)


def _summary(sections: Sequence[RecommendationSection]) -> Summary:
    changes = Counter(section.change for section in sections)
    kinds: dict[int, EvidenceKind] = {}
    stances: Counter[Stance] = Counter()
    for section in sections:
        for item in section.evidence:
            kinds[item.id] = item.kind
            stances[item.stance] += 1
    by_kind = Counter(kinds.values())
    return Summary(
        status_counts=_count_statuses(section.status for section in sections),
        previous_status_counts=_count_statuses(
            section.previous_status for section in sections if section.previous_status is not None
        ),
        advanced=changes.get(Change.ADVANCED, 0),
        regressed=changes.get(Change.REGRESSED, 0),
        unchanged=changes.get(Change.UNCHANGED, 0),
        issued_in_quarter=sum(1 for section in sections if section.previous_status is None),
        evidence_count=len(kinds),
        evidence_by_kind=tuple((kind, by_kind[kind]) for kind in EvidenceKind if by_kind.get(kind)),
        evidence_by_stance=tuple((stance, stances[stance]) for stance in Stance if stances.get(stance)),
        overdue=tuple(section.ref for section in sections if section.overdue),
    )


def _findings(
    session: Session,
    quarter: Quarter,
    as_of: datetime,
    audience: Sensitivity,
    ids: list[int],
    refs: dict[int, str],
    fixes: corrections.Corrections,
    later: Later,
    threads: series_rules.Threads,
) -> dict[str, tuple[str, ...]]:
    """The lint findings of the quarter by REF, as known at as_of: none for the public audience,
    and only those whose evidence the audience may see."""
    if audience == Sensitivity.PUBLIC or not ids:
        return {}
    found = lint.findings(
        session, as_of=as_of, quarter=quarter, recommendations=ids, refs=refs, fixes=fixes, later=later, threads=threads
    )
    shown: dict[str, list[str]] = defaultdict(list)
    for finding in found:
        if finding.sensitivity.rank <= audience.rank:
            shown[finding.ref].append(f"{finding.rule}: {finding.message}")
    return {ref: tuple(messages) for ref, messages in shown.items()}


def _attention(
    sections: Sequence[RecommendationSection], findings: dict[str, tuple[str, ...]]
) -> tuple[AttentionItem, ...]:
    items = []
    for section in sections:
        regressed = section.change == Change.REGRESSED
        flagged = findings.get(section.ref, ())
        if regressed or section.overdue or not section.evidence or section.carried_over_from or flagged:
            items.append(
                AttentionItem(
                    ref=section.ref,
                    title=section.title,
                    regressed_from=section.previous_status if regressed else None,
                    status=section.status,
                    overdue_since=section.due_on if section.overdue else None,
                    no_evidence=not section.evidence,
                    carried_over_from=section.carried_over_from,
                    findings=flagged,
                )
            )
    return tuple(items)
