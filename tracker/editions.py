"""Editions: report series, the edition in force, and threads of recommendations.

Sources of one publisher and country form a *series* (the TIP Report on Cambodia). The
edition *in force* on a day is the latest edition of its series published on or before
it. A recommendation may *continue* recommendations of earlier editions
(:class:`tracker.store.models.Continuation`: repeated, reworded, narrowed...); the
recommendations joined by continuations form a *thread*.

A series is named after its editions' slugs without their year (``tip-2019-khm`` and
``tip-2018-khm``: ``tip-khm``), so that ``--series`` can be typed; two editions belong
to one series by their publisher and country, not by their name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import corrections
from tracker.audit.asof import Later
from tracker.store.models import Continuation, Recommendation, Source
from tracker.vocab import Relation

_YEAR = re.compile(r"(?:^|-)(?:19|20)[0-9]{2}(?=-|$)")


class Edition(Protocol):
    """What the rules need of a source (a :class:`Source` row, or a report's copy of one)."""

    @property
    def slug(self) -> str: ...
    @property
    def publisher(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def published_on(self) -> date: ...


E = TypeVar("E", bound=Edition)
S = TypeVar("S")


def series_key(source: Edition) -> tuple[str, str]:
    """The series a source belongs to: its publisher and country."""
    return (source.publisher, source.country)


def series_name(slug: str) -> str:
    """The name of a source's series, from its slug: the slug without its year."""
    name = _YEAR.sub("", slug, count=1).strip("-")
    return name or slug


def in_force(sources: Iterable[E], day: date) -> list[E]:
    """The edition in force on ``day`` in each series: the latest published on or before it
    (a series none of whose editions was published by then has none), newest first."""
    chosen: dict[tuple[str, str], E] = {}
    for source in sources:
        if source.published_on > day:
            continue
        key = series_key(source)
        best = chosen.get(key)
        if best is None or (source.published_on, source.slug) > (best.published_on, best.slug):
            chosen[key] = source
    return sorted(chosen.values(), key=lambda s: (-s.published_on.toordinal(), s.slug))


def for_reports(sources: Iterable[E], day: date) -> list[E]:
    """The editions a report for the period ending ``day`` covers by default: the one in force
    in each series, or, in a series none of whose editions was published by then, its first
    (which the report says was not yet issued)."""
    listed = list(sources)
    chosen = {series_key(source): source for source in in_force(listed, day)}
    for source in sorted(listed, key=lambda s: (s.published_on, s.slug)):
        chosen.setdefault(series_key(source), source)
    return sorted(chosen.values(), key=lambda s: (-s.published_on.toordinal(), s.slug))


def pick(candidates: Sequence[tuple[Any, E]], day: date) -> list[tuple[Any, E]]:
    """Which of the recommendations sharing a code a short REF names on ``day``.

    Within one series: the one of the latest edition published on or before ``day`` that
    has the code, else (the day is before all of them) the earliest. Codes of several
    series stay ambiguous: every candidate is returned, for the error to list them.
    """
    series = {series_key(source) for _, source in candidates}
    if len(series) != 1:
        return list(candidates)
    ordered = sorted(candidates, key=lambda pair: (pair[1].published_on, pair[1].slug))
    published = [pair for pair in ordered if pair[1].published_on <= day]
    return [published[-1] if published else ordered[0]]


# Threads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A continuation that counts: both recommendations known, not withdrawn; its relation
    and note as corrected."""

    id: int
    recommendation_id: int  # the later one
    earlier_id: int
    relation: Relation
    note: str | None


class Threads:
    """The continuations that count (as of an instant), and the threads they make."""

    def __init__(self, links: Iterable[Link]) -> None:
        self.links = tuple(sorted(links, key=lambda link: link.id))
        self._earlier: dict[int, list[Link]] = {}
        self._later: dict[int, list[Link]] = {}
        for link in self.links:
            self._earlier.setdefault(link.recommendation_id, []).append(link)
            self._later.setdefault(link.earlier_id, []).append(link)

    def earlier(self, rec_id: int) -> tuple[Link, ...]:
        """The links from a recommendation to those it continues."""
        return tuple(self._earlier.get(rec_id, ()))

    def later(self, rec_id: int) -> tuple[Link, ...]:
        """The links to a recommendation from those that continue it."""
        return tuple(self._later.get(rec_id, ()))

    def ancestors(self, rec_id: int) -> list[int]:
        """Every recommendation ``rec_id`` continues, directly or not (nearest first)."""
        found: list[int] = []
        frontier = [rec_id]
        while frontier:
            step = [link.earlier_id for current in frontier for link in self.earlier(current)]
            frontier = [rid for rid in dict.fromkeys(step) if rid not in found and rid != rec_id]
            found.extend(frontier)
        return found

    def thread(self, rec_id: int) -> set[int]:
        """Every recommendation joined to ``rec_id`` by continuations, itself included."""
        found = {rec_id}
        frontier = [rec_id]
        while frontier:
            current = frontier.pop()
            for link in (*self.earlier(current), *self.later(current)):
                for other in (link.earlier_id, link.recommendation_id):
                    if other not in found:
                        found.add(other)
                        frontier.append(other)
        return found

    def threads(self, rec_ids: Iterable[int]) -> list[set[int]]:
        """The threads of ``rec_ids``, each once (a recommendation continued by nothing and
        continuing nothing is a thread of one)."""
        seen: set[int] = set()
        found = []
        for rec_id in rec_ids:
            if rec_id not in seen:
                members = self.thread(rec_id)
                seen |= members
                found.append(members)
        return found


def threads(session: Session, later: Later | None = None, fixes: corrections.Corrections | None = None) -> Threads:
    """The continuations that count: both recommendations stored (and, with ``later``, known
    at its instant), the earlier one of an edition published before, not withdrawn by
    ``fixes`` (default: every correction)."""
    later = later or Later()
    fixes = fixes if fixes is not None else corrections.load(session)
    ids, published = {}, {}
    for rec_id, slug, code, day in session.execute(
        select(Recommendation.id, Source.slug, Recommendation.code, Source.published_on).join(Source)
    ):
        if rec_id not in later("recommendation"):
            ids[(slug, code)], published[rec_id] = rec_id, day
    links = []
    for row in session.scalars(select(Continuation)):
        earlier = ids.get((row.earlier_source, row.earlier_code))
        if earlier is None or row.id in later("continuation") or row.recommendation_id not in published:
            continue
        if published[earlier] >= published[row.recommendation_id]:
            continue  # declared before that edition was loaded, and it is not earlier: no thread runs backwards
        if not fixes.present("continuation", (row.id,)):
            continue
        values = fixes.apply("continuation", (row.id,), corrections.values_of(row, "continuation"))
        links.append(Link(row.id, row.recommendation_id, earlier, Relation(values["relation"]), values["note"]))
    return Threads(links)


def carry(rec_id: int, found: Threads, latest: Mapping[int, tuple[Any, S]]) -> tuple[S | None, int | None]:
    """A recommendation's status on a day, with what a new edition carries over.

    ``latest``: each recommendation's last assessment effective before the day, as (its
    order: effective date, when known, id; its status). A recommendation assessed itself
    has its own status. One never assessed that continues earlier ones starts from the
    thread's last status: the latest assessment of any recommendation it continues,
    directly or not ("carried over, not yet re-assessed"), returned with the id of the
    recommendation it is carried from. Neither: (None, None), i.e. not started.
    """
    own = latest.get(rec_id)
    if own is not None:
        return own[1], None
    assessed = [(latest[earlier][0], earlier) for earlier in found.ancestors(rec_id) if earlier in latest]
    if not assessed:
        return None, None
    _, source = max(assessed)
    return latest[source][1], source


def status_day(published_on: date, next_published: date | None, today: date) -> date:
    """The day at whose end a thread shows an edition's status: the last of its time as the
    thread's latest edition, the day before the thread's next edition was published, or
    ``today`` for the latest (never after ``today``).

    (A source's ``period_end`` closes the period its report covers, before it is published:
    a status taken then would never be that edition's own.)
    """
    if next_published is None or next_published <= published_on:
        return today
    return min(next_published - timedelta(days=1), today)


def continuation(session: Session, rec_id: int, earlier_source: str, earlier_code: str) -> Continuation | None:
    """The stored link (withdrawn or not) from a recommendation to ``earlier_source/earlier_code``."""
    return session.scalars(
        select(Continuation).where(
            Continuation.recommendation_id == rec_id,
            Continuation.earlier_source == earlier_source,
            Continuation.earlier_code == earlier_code,
        )
    ).first()
