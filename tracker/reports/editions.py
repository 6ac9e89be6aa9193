"""The editions report: every thread of recommendations across the editions of its series.

A *thread* is the recommendations joined by continuations (:mod:`tracker.editions`); a
recommendation that continues nothing and that nothing continues is a thread of one. For
each thread, as known at ``as_of``: the edition that first recommended it, the editions it
appears in, how many times a later edition repeated it, its status now, and the editions
in which it was not implemented. A thread repeated in
``highlight_after`` or more later editions and still not implemented is highlighted.

Dates and statuses:

- *Now* is ``as_of``'s date (UTC). The status now is that of the thread's latest
  recommendation: its own last assessment effective on or before that date, else the
  latest assessment of a recommendation it continues ("carried over, not yet
  re-assessed"), else not started.
- *An edition's* status is that of the thread's recommendation in it, taken the same way
  on the last day it was the thread's latest edition: the day before the thread's next
  edition was published, else the as-of date (:func:`tracker.editions.status_day`). An
  edition with several recommendations in the thread (a split) counts as implemented only
  when all of them are.

Only what was recorded at or before ``as_of`` counts (sources, recommendations, links,
assessments, corrections), so the same ``as_of`` gives the same report forever. Editions
published after the as-of date are left out: their recommendations had not been issued.
Nothing in this report depends on evidence, so the audience only marks the output.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import assessors, corrections
from tracker import editions as series_rules
from tracker.audit.asof import Later, recorded_after
from tracker.clock import iso_utc
from tracker.errors import InputError
from tracker.reports import (
    Header,
    SourceInfo,
    _carried,
    _header,
    _Rec,
    _recommendations,
    _sources,
    _status_updates,
    _utc,
    parse_audience,
)
from tracker.store.models import Source
from tracker.vocab import Sensitivity, Status

# A thread repeated in this many later editions, or more, and not implemented is highlighted.
HIGHLIGHT_AFTER = 3


@dataclass(frozen=True)
class EditionStatus:
    """A thread's status in one of its editions: that of its recommendation there at the end of
    the last day it was the thread's latest edition (``on``), carried over from an earlier
    edition when not yet assessed."""

    source: str
    on: date
    status: Status
    carried_over_from: str | None = None


@dataclass(frozen=True)
class ThreadRow:
    """One thread: named by its latest recommendation (``SOURCE/CODE``), with its corrected title."""

    series: str
    ref: str
    title: str
    first_source: str
    first_published_on: date
    editions: tuple[str, ...]  # slugs, oldest first
    repeated: int  # the editions after the first it appears in
    status: Status  # now: at the as-of date
    carried_over_from: str | None  # the edition whose status ``status`` carries over, if not yet re-assessed
    not_implemented_in: tuple[str, ...]
    highlighted: bool
    by_edition: tuple[EditionStatus, ...]  # one per edition of ``editions``, in that order

    def status_in(self, source: str) -> EditionStatus | None:
        """Its status in the edition ``source`` (a slug); None when the thread is not in it."""
        return next((found for found in self.by_edition if found.source == source), None)


@dataclass(frozen=True)
class SeriesEditions:
    """A series the report covers and its editions published by the as-of date, oldest first."""

    name: str
    editions: tuple[SourceInfo, ...]


@dataclass(frozen=True)
class EditionsReport:
    kind: ClassVar[str] = "editions"
    header: Header
    series: tuple[str, ...]  # the names of the series covered, in order
    highlight_after: int
    threads: tuple[ThreadRow, ...]  # by series, then first published, then ref
    series_editions: tuple[SeriesEditions, ...] = ()  # one per name of ``series``, in that order
    selected: str | None = None  # the series named with --series, as given

    @property
    def on(self) -> date:
        """The date of the statuses "now": the as-of instant's date (UTC)."""
        return self.header.as_of.date()

    def threads_of(self, series: str) -> tuple[ThreadRow, ...]:
        return tuple(row for row in self.threads if row.series == series)


def editions(
    session: Session,
    *,
    series: str | None = None,
    as_of: datetime,
    audience: Sensitivity | str = Sensitivity.INTERNAL,
    highlight_after: int = HIGHLIGHT_AFTER,
) -> EditionsReport:
    """Every thread of recommendations across the editions of every series (or of ``series``,
    e.g. ``tip-khm``), as known at ``as_of``, for ``audience``. An unknown series raises
    :class:`InputError` naming the series known then."""
    audience = parse_audience(audience)
    as_of = _utc(as_of)
    if isinstance(highlight_after, bool) or not isinstance(highlight_after, int) or highlight_after < 1:
        raise InputError(f"highlight_after must be a whole number of editions, 1 or more, not {highlight_after!r}")
    today = as_of.date()
    later = recorded_after(session, as_of)
    fixes = corrections.as_of(session, as_of)
    known = [source for source in session.scalars(select(Source)) if source.id not in later("source")]
    names = _series_names(known)
    chosen = None if series is None else _chosen_series(series, names, as_of)
    issued = sorted(
        (source for source in known if source.published_on <= today),
        key=lambda source: (source.published_on, source.slug),
    )
    published = {source.slug for source in issued}
    infos = sorted(
        (info for info in _sources(session, (), date.max, later) if info.slug in published),
        key=lambda info: (info.published_on, info.slug),
    )
    covered = [info for info in infos if chosen is None or series_rules.series_key(info) == chosen]
    header = _header(session, sorted(covered, key=lambda s: (-s.published_on.toordinal(), s.slug)), (), as_of, audience)
    header = replace(header, basis="all" if chosen is None else "series")

    # Threads run across every series (a link may join two): each belongs to its latest edition's.
    recs = _recommendations(session, infos, later, fixes)
    rows = _threads(session, recs, issued, names, today, as_of, later, fixes, highlight_after)
    shown = sorted({names[key] for key in names if chosen is None or key == chosen})
    series_editions = tuple(
        SeriesEditions(name, tuple(info for info in covered if names[series_rules.series_key(info)] == name))
        for name in shown
    )
    return EditionsReport(
        header=header,
        series=tuple(shown),
        highlight_after=highlight_after,
        threads=tuple(row for row in rows if chosen is None or row.series == names[chosen]),
        series_editions=series_editions,
        selected=series,
    )


def _series_names(sources: Sequence[Source]) -> dict[tuple[str, str], str]:
    """Each series' name: that of its newest edition's slug (:func:`tracker.editions.series_name`)."""
    newest: dict[tuple[str, str], Source] = {}
    for source in sorted(sources, key=lambda s: (s.published_on, s.slug)):
        newest[series_rules.series_key(source)] = source
    return {key: series_rules.series_name(source.slug) for key, source in newest.items()}


def _chosen_series(given: str, names: dict[tuple[str, str], str], as_of: datetime) -> tuple[str, str]:
    """The series ``--series`` names (its name, or an edition's slug), or an error listing the known ones."""
    wanted = series_rules.series_name(given.strip().lower())
    for key, name in names.items():
        if name == wanted:
            return key
    if not names:
        raise InputError(
            f"unknown --series {given!r}: no source had been recorded by {iso_utc(as_of)}; "
            "load a catalog with `tracker catalog load`, or give a later --as-of"
        )
    known = ", ".join(sorted(set(names.values())))
    raise InputError(f"unknown --series {given!r}: the series recorded by {iso_utc(as_of)} are {known}")


def _threads(
    session: Session,
    recs: list[tuple[_Rec, str]],
    issued: Sequence[Source],
    names: dict[tuple[str, str], str],
    today: date,
    as_of: datetime,
    later: Later,
    fixes: corrections.Corrections,
    highlight_after: int,
) -> list[ThreadRow]:
    """One row per thread of ``recs`` (the recommendations of the editions issued by ``today``)."""
    if not recs:
        return []
    by_slug = {source.slug: source for source in issued}
    slug_of = {rec.id: slug for rec, slug in recs}
    found = series_rules.threads(session, later, fixes)
    within = series_rules.Threads(
        link for link in found.links if link.recommendation_id in slug_of and link.earlier_id in slug_of
    )
    place = {rec.id: index for index, (rec, _) in enumerate(recs)}  # by source, then report order
    by_id = {rec.id: rec for rec, _ in recs}
    roster = assessors.roster(session, later=later, fixes=fixes)
    updates = _status_updates(session, list(slug_of), _day_after(today), as_of, fixes, assessors.line(roster))

    def status_on(rec_id: int, day: date) -> tuple[Status, str | None]:
        status, carried = _carried(rec_id, within, updates, _day_after(day))
        return status, None if carried is None else slug_of[carried]

    rows = []
    for group in within.threads(rec.id for rec, _ in recs):
        members = sorted(group, key=lambda rid: (by_slug[slug_of[rid]].published_on, slug_of[rid], place[rid]))
        slugs = tuple(dict.fromkeys(slug_of[rid] for rid in members))
        latest = next(rid for rid in members if slug_of[rid] == slugs[-1])
        status, carried = status_on(latest, today)
        in_edition = defaultdict(list)
        for rid in members:
            in_edition[slug_of[rid]].append(rid)
        by_edition = []
        for index, slug in enumerate(slugs):
            day = _period_end(by_slug[slug], by_slug[slugs[index + 1]] if index + 1 < len(slugs) else None, today)
            # The least advanced of the edition's recommendations in the thread (one, unless split).
            found_status, found_carried = min(
                (status_on(rid, day) for rid in in_edition[slug]), key=lambda pair: pair[0].rank
            )
            by_edition.append(EditionStatus(slug, day, found_status, found_carried))
        repeated = len(slugs) - 1
        rows.append(
            ThreadRow(
                series=names[series_rules.series_key(by_slug[slugs[-1]])],
                ref=f"{slugs[-1]}/{by_id[latest].code}",
                title=by_id[latest].title,
                first_source=slugs[0],
                first_published_on=by_slug[slugs[0]].published_on,
                editions=slugs,
                repeated=repeated,
                status=status,
                carried_over_from=carried,
                not_implemented_in=tuple(e.source for e in by_edition if e.status != Status.IMPLEMENTED),
                highlighted=repeated >= highlight_after and status != Status.IMPLEMENTED,
                by_edition=tuple(by_edition),
            )
        )
    return sorted(rows, key=lambda row: (row.series, row.first_published_on, row.ref))


def _period_end(source: Source, following: Source | None, today: date) -> date:
    """The day at whose end the thread shows an edition's status (:func:`tracker.editions.status_day`)."""
    return series_rules.status_day(source.published_on, None if following is None else following.published_on, today)


def _day_after(day: date) -> date:
    """The next day: statuses "on" a day are those effective before the start of the next."""
    return date.max if day == date.max else day + timedelta(days=1)
