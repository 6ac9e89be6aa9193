"""What is due: the follow-up digest, as data (``tracker due``; :mod:`tracker.render.digest` renders it).

For the editions in force on the as-of date (each series' latest published on or
before it, :func:`tracker.editions.in_force`), as known at the as-of instant, it lists:

- *overdue*: recommendations whose due date (as corrected) is before the as-of date and
  whose status is not implemented (:func:`tracker.queries.is_overdue`; the status is the
  one ``rec list`` shows, carried over from an earlier edition when not yet re-assessed);
- *due soon*: not implemented, due on the as-of date or up to ``within`` days after it
  (both ends included: ``within=0`` is "due today");
- both grouped by lead agency: a recommendation with two co-leads is listed under each,
  one without a lead under none (the group without an agency, last);
- *indicators missing*: indicators of those recommendations with no value for the last
  quarter ended at the as-of instant (a withdrawn value does not count; the quarter of an
  as-of on its last day, ``--as-of 2019-09-30``, has ended, as in the quarterly report);
- *stale*: recommendations, not implemented, whose latest own assessment took effect
  before the start of the quarter two quarters before the as-of date's (as of
  2019-11-15, in 2019Q4: before 2019-04-01, i.e. none in 2019Q2, Q3 or Q4). One never
  assessed is stale once its edition has been out that long (published before that
  day), so that a new edition is not stale at once; one whose status is carried over is
  listed as carried over instead;
- *carried over*: recommendations with no assessment of their own whose status is
  carried over from a recommendation of an earlier edition they continue
  (:func:`tracker.editions.carry`), whatever that status.

``agency`` keeps the recommendations that agency leads, and their indicators. Only what
was recorded at or before ``as_of`` counts (sources, recommendations, assignments,
indicators, links between editions, assessments, measurements, corrections), so the
same ``as_of`` gives the same digest forever.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import corrections, editions, queries
from tracker.audit.asof import Later, recorded_after
from tracker.clock import iso_utc
from tracker.errors import InputError, NotFound
from tracker.periods import Quarter
from tracker.store.models import Agency as AgencyRow
from tracker.store.models import Indicator, Source
from tracker.store.models import Recommendation as RecommendationRow
from tracker.vocab import Role, Status

DEFAULT_WITHIN = 30
MAX_WITHIN = 3650  # ten years of days


# The structure ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agency:
    code: str
    name: str  # as corrected at the as-of instant


@dataclass(frozen=True)
class Recommendation:
    """A recommendation the digest names: its REF, corrected title, status and lead agencies."""

    ref: str
    source: str
    title: str
    status: Status
    leads: tuple[Agency, ...]


@dataclass(frozen=True)
class DueItem:
    """An overdue recommendation (``days`` since its due date) or one due soon (``days`` left)."""

    recommendation: Recommendation
    due_on: date
    days: int
    carried_over_from: str | None = None  # its status is carried over from that edition


@dataclass(frozen=True)
class AgencyGroup:
    """The items one agency leads; ``agency`` None: those without a lead agency."""

    agency: Agency | None
    items: tuple[DueItem, ...]


@dataclass(frozen=True)
class MissingIndicator:
    code: str
    name: str
    unit: str
    recommendation: Recommendation


@dataclass(frozen=True)
class StaleItem:
    """``last_assessed_on`` None: never assessed, waiting since its edition was published (``since``)."""

    recommendation: Recommendation
    last_assessed_on: date | None
    since: date


@dataclass(frozen=True)
class CarriedItem:
    recommendation: Recommendation
    carried_over_from: str  # the slug of the edition whose status it shows


@dataclass(frozen=True)
class Digest:
    as_of: datetime
    within_days: int
    agency: Agency | None  # the one --agency kept, if any
    sources: tuple[str, ...]  # the editions in force, newest first
    quarter: Quarter  # the last quarter ended: the one whose indicator values are looked for
    stale_before: date
    overdue: tuple[AgencyGroup, ...]
    due_soon: tuple[AgencyGroup, ...]
    indicators_missing: tuple[MissingIndicator, ...]
    stale: tuple[StaleItem, ...]
    carried_over: tuple[CarriedItem, ...]

    @property
    def on(self) -> date:
        """The as-of date (UTC): overdue before it, due soon from it."""
        return self.as_of.date()

    @property
    def due_by(self) -> date:
        """The last day counted as due soon."""
        return self.on + timedelta(days=self.within_days)


# Building -----------------------------------------------------------------------------------


def parse_within(value: str | int) -> int:
    """``--within DAYS``: a whole number of days from 0 to 3650, in digits."""
    text = str(value).strip() if not isinstance(value, bool) else ""
    if not text.isascii() or not text.isdigit():
        raise InputError(f"invalid --within {value!r}: give a whole number of days in digits, e.g. 30")
    if len(text.lstrip("0")) > len(str(MAX_WITHIN)) or int(text) > MAX_WITHIN:
        raise InputError(f"invalid --within {value!r}: give a whole number of days from 0 to {MAX_WITHIN}")
    return int(text)


def last_ended_quarter(as_of: datetime) -> Quarter:
    """The last quarter that had ended at ``as_of`` (an instant on a quarter's last day, at its
    very end, as ``--as-of DATE`` gives, counts as after it)."""
    current = Quarter.containing(as_of.date())
    end = datetime.combine(current.end, datetime.min.time(), tzinfo=UTC) - timedelta(microseconds=1)
    return current if as_of >= end else current.previous()


def stale_before(on: date) -> date:
    """The start of the quarter two quarters before ``on``'s: an assessment effective before it is stale."""
    return Quarter.containing(on).previous().previous().start


def digest(
    session: Session, *, as_of: datetime, within: int | str = DEFAULT_WITHIN, agency: str | None = None
) -> Digest:
    """The follow-up digest as known at ``as_of`` (see the module's note)."""
    if as_of.tzinfo is None:
        raise InputError("as_of must be a timezone-aware instant")
    as_of = as_of.astimezone(UTC)
    days = parse_within(within)
    on = as_of.date()
    later = recorded_after(session, as_of)
    fixes = corrections.as_of(session, as_of)
    kept = None if agency is None else _agency(session, agency, as_of, later, fixes)
    known = [source for source in session.scalars(select(Source)) if source.id not in later("source")]
    sources = editions.in_force(known, on)
    recs = _recommendations(session, sources, later, fixes)
    leads = _leads(session, [rec.id for rec in recs], later, fixes)
    if kept is not None:
        recs = [rec for rec in recs if kept.code in {lead.code for lead in leads.get(rec.id, ())}]
    threads = editions.threads(session, later, fixes)
    ids = [rec.id for rec in recs]
    with_ancestors = list(dict.fromkeys([*ids, *(earlier for rec_id in ids for earlier in threads.ancestors(rec_id))]))
    latest = queries.latest_assessments(session, on + timedelta(days=1), as_of, with_ancestors) if ids else {}
    slugs = dict(session.execute(select(RecommendationRow.id, Source.slug).join(Source)).all())
    refs = _refs(session, recs, later)
    threshold, quarter = stale_before(on), last_ended_quarter(as_of)
    published = {source.slug: source.published_on for source in sources}

    overdue: list[tuple[int, DueItem]] = []
    due_soon: list[tuple[int, DueItem]] = []
    stale: list[StaleItem] = []
    carried_over: list[CarriedItem] = []
    named: dict[int, Recommendation] = {}
    for rec in recs:
        status, carried = editions.carry(rec.id, threads, latest)
        status = status or Status.NOT_STARTED
        carried_from = None if carried is None else slugs[carried]
        shown = named[rec.id] = Recommendation(refs[rec.id], rec.source, rec.title, status, leads.get(rec.id, ()))
        if rec.due_on is not None and status != Status.IMPLEMENTED:
            if queries.is_overdue(rec.due_on, status, on):
                overdue.append((rec.id, DueItem(shown, rec.due_on, (on - rec.due_on).days, carried_from)))
            elif rec.due_on <= on + timedelta(days=days):
                due_soon.append((rec.id, DueItem(shown, rec.due_on, (rec.due_on - on).days, carried_from)))
        if carried_from is not None:
            carried_over.append(CarriedItem(shown, carried_from))
        elif status != Status.IMPLEMENTED:
            own = latest.get(rec.id)
            last = None if own is None else own[0][0]
            since = published[rec.source] if last is None else last
            if since < threshold:
                stale.append(StaleItem(shown, last, since))

    return Digest(
        as_of=as_of,
        within_days=days,
        agency=kept,
        sources=tuple(source.slug for source in sources),
        quarter=quarter,
        stale_before=threshold,
        overdue=_grouped(overdue, kept),
        due_soon=_grouped(due_soon, kept),
        indicators_missing=_missing(session, recs, named, quarter, as_of, later, fixes),
        stale=tuple(stale),
        carried_over=tuple(carried_over),
    )


@dataclass(frozen=True)
class _Rec:
    """A recommendation of an edition in force as known at as_of: corrected values."""

    id: int
    source: str
    code: str
    title: str
    due_on: date | None
    position: int | None


def _agency(session: Session, code: str, as_of: datetime, later: Later, fixes: corrections.Corrections) -> Agency:
    """The agency ``--agency`` names, as known at as_of (one recorded later is unknown then)."""
    if not code.strip():
        raise InputError("--agency is empty: give an agency code, or leave the option out")
    row = queries.agency_by_code(session, code.strip())
    if row.id in later("agency"):
        raise NotFound(f"unknown agency {code!r} as of {iso_utc(as_of)}: it was recorded later")
    return Agency(row.code, fixes.apply("agency", (row.id,), {"name": row.name})["name"])


def _recommendations(
    session: Session, sources: Sequence[Source], later: Later, fixes: corrections.Corrections
) -> list[_Rec]:
    """The sources' recommendations known at as_of, in source order (newest first) then report order."""
    if not sources:
        return []
    order = {source.slug: index for index, source in enumerate(sources)}
    query = select(RecommendationRow, Source.slug).join(Source).where(Source.slug.in_(list(order)))
    rows = session.execute(query).all()
    found = []
    for rec, slug in rows:
        if rec.id in later("recommendation"):
            continue
        values = queries.corrected_recommendation(fixes, rec)
        found.append(_Rec(rec.id, slug, rec.code, values["title"], values["due_on"], values["position"]))
    return sorted(found, key=lambda rec: (order[rec.source], *queries.report_order((rec.position, rec.code))))


def _leads(
    session: Session, ids: Sequence[int], later: Later, fixes: corrections.Corrections
) -> dict[int, tuple[Agency, ...]]:
    """Each recommendation's lead agencies as known at as_of, by code."""
    if not ids:
        return {}
    agency_ids = dict(session.execute(select(AgencyRow.code, AgencyRow.id)).all())
    return {
        rec_id: tuple(
            Agency(role.code, role.name)
            for role in roles
            if role.role == Role.LEAD.value and (rec_id, agency_ids[role.code]) not in later("recommendation_agency")
        )
        for rec_id, roles in queries.agencies_of(session, ids, fixes).items()
    }


def _refs(session: Session, recs: Sequence[_Rec], later: Later) -> dict[int, str]:
    """REFs as they were at as_of: the code, or SOURCE/CODE when another series has it too
    (one edition per series is in force, so a code is shown once per series)."""
    series: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for rec_id, code, publisher, country in session.execute(
        select(RecommendationRow.id, RecommendationRow.code, Source.publisher, Source.country).join(Source)
    ):
        if rec_id not in later("recommendation"):
            series[code].add((publisher, country))
    repeated = {code for code, found in series.items() if len(found) > 1}
    return {rec.id: queries.ref_of(rec.source, rec.code, repeated) for rec in recs}


def _grouped(items: Sequence[tuple[int, DueItem]], kept: Agency | None) -> tuple[AgencyGroup, ...]:
    """Items by lead agency (by code; those without a lead last), each group by due date then
    report order; with ``kept``, that agency's group only."""
    place = {rec_id: index for index, (rec_id, _) in enumerate(items)}
    groups: dict[Agency | None, list[tuple[int, DueItem]]] = defaultdict(list)
    for rec_id, item in items:
        for lead in item.recommendation.leads or (None,):
            if kept is None or (lead is not None and lead.code == kept.code):
                groups[lead].append((rec_id, item))
    ordered = sorted(groups, key=lambda agency: (agency is None, "" if agency is None else agency.code))
    return tuple(
        AgencyGroup(
            agency,
            tuple(item for _, item in sorted(groups[agency], key=lambda pair: (pair[1].due_on, place[pair[0]]))),
        )
        for agency in ordered
    )


def _missing(
    session: Session,
    recs: Sequence[_Rec],
    named: dict[int, Recommendation],
    quarter: Quarter,
    as_of: datetime,
    later: Later,
    fixes: corrections.Corrections,
) -> tuple[MissingIndicator, ...]:
    """The recommendations' indicators (known at as_of) with no value for ``quarter`` known then."""
    if not recs:
        return ()
    place = {rec.id: index for index, rec in enumerate(recs)}
    indicators = [
        indicator
        for indicator in session.scalars(select(Indicator).where(Indicator.recommendation_id.in_(list(place))))
        if indicator.id not in later("indicator")
    ]
    values = queries.measurement_values(
        session, known_at=as_of, indicator_ids=[i.id for i in indicators], quarter_starts=[quarter.start]
    )
    missing = []
    for indicator in sorted(indicators, key=lambda i: (place[i.recommendation_id], i.code)):
        if (indicator.id, quarter.start) in values:
            continue
        fixed = fixes.apply("indicator", (indicator.id,), corrections.values_of(indicator, "indicator"))
        owner = named[indicator.recommendation_id]
        missing.append(MissingIndicator(indicator.code, fixed["name"], fixed["unit"], owner))
    return tuple(missing)
