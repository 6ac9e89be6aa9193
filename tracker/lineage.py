"""Lineage: the editions loaded, a recommendation's thread across them, and what changed
from one edition to the next.

Reads only (``tracker source list``, ``tracker rec thread``, ``tracker catalog diff``):
each function takes the caller's session and returns plain data, ready for JSON (dates as
ISO strings), that :mod:`tracker.render.terminal` prints. Recommendations are named
``SOURCE/CODE`` throughout: a thread holds one code in several editions.

Evidence recorded against an earlier edition's recommendation stays linked to it: a thread
shows it on that edition, it is never re-linked to the later ones.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tracker import assessors, clock, corrections, editions, queries
from tracker.audit.asof import Later, known_at, recorded_after
from tracker.errors import InputError, NotFound
from tracker.store.models import Evidence, EvidenceLink, EvidenceRetraction, Recommendation, Source, StatusUpdate
from tracker.store.sets import one_of
from tracker.vocab import Relation, Sensitivity, Status

# The audience whose evidence a thread counts: public and internal, never confidential.
AUDIENCE = Sensitivity.INTERNAL

# Sources ----------------------------------------------------------------------------------


def sources(session: Session, *, today: date | None = None) -> list[dict[str, Any]]:
    """Every source loaded, newest first, with its series, its number of recommendations and
    whether it is the edition in force ``today`` (default: today) in its series."""
    rows = list(session.scalars(select(Source).order_by(Source.published_on.desc(), Source.slug)))
    counts = dict(
        session.execute(select(Recommendation.source_id, func.count()).group_by(Recommendation.source_id)).all()
    )
    current = {source.slug for source in editions.in_force(rows, today or clock.today())}
    return [
        {
            "slug": source.slug,
            "title": source.title,
            "series": editions.series_name(source.slug),
            "publisher": source.publisher,
            "country": source.country,
            "published_on": source.published_on.isoformat(),
            "period_start": _iso(source.period_start),
            "period_end": _iso(source.period_end),
            "rating": source.rating,
            "recommendations": counts.get(source.id, 0),
            "in_force": source.slug in current,
        }
        for source in rows
    ]


# Threads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    """A recommendation of the thread as known at the instant asked for, corrections applied."""

    id: int
    slug: str
    published_on: date
    code: str
    values: Mapping[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.slug}/{self.code}"


@dataclass(frozen=True)
class _Assessment:
    id: int
    status: Status
    effective_on: date
    known: datetime


def thread(session: Session, ref: str, *, as_of: datetime | None = None) -> dict[str, Any]:
    """The thread of the recommendation ``ref`` names, oldest edition first.

    Each edition's entry: its text (corrected) and the word-level difference from the entry
    before it, the links by which it continues earlier ones, its status at the end of its
    time in the thread (:func:`_status_day`), carried over from an earlier edition when it has
    no assessment of its own by then, and the evidence linked to it that an internal
    audience sees. ``as_of`` (timezone-aware): only what was recorded by then counts
    (default: everything, now). A REF naming nothing raises :class:`NotFound`.
    """
    moment = None if as_of is None else _utc(as_of)
    later = Later() if moment is None else recorded_after(session, moment)
    fixes = corrections.as_of(session, moment)
    today = clock.today() if moment is None else moment.date()
    named = queries.resolve_ref(session, ref, today)
    if moment is not None and named.id in later("recommendation"):
        raise NotFound(f"recommendation {ref!r} was not yet recorded at {clock.iso_utc(moment)}: give a later as-of")
    found = editions.threads(session, later, fixes)
    members = _members(session, found.thread(named.id), fixes)
    by_id = {member.id: member for member in members}
    order = {member.id: place for place, member in enumerate(members)}
    assessments = _assessments(session, list(by_id), moment, later, fixes)
    evidence = _evidence(session, set(by_id), moment, fixes)
    entries = []
    previous: _Member | None = None
    for member in members:
        day = _status_day(member, members, today)
        status, carried = editions.carry(member.id, found, _latest(assessments, day))
        entries.append(
            {
                "ref": member.ref,
                "source": member.slug,
                "published_on": member.published_on.isoformat(),
                "code": member.code,
                "title": member.values["title"],
                "text": member.values["text"],
                "text_status": member.values["text_status"].value,
                "continues": [
                    {"ref": by_id[link.earlier_id].ref, "relation": link.relation.value, "note": link.note}
                    for link in sorted(found.earlier(member.id), key=lambda link: order[link.earlier_id])
                ],
                "diff_from": None if previous is None else previous.ref,
                "diff": None if previous is None else word_diff(previous.values["text"], member.values["text"]),
                "status_on": day.isoformat(),
                "status": (status or Status.NOT_STARTED).value,
                "carried_over_from": None if carried is None else by_id[carried].slug,
                "evidence": len(evidence.get(member.id, ())),
                "evidence_ids": sorted(evidence.get(member.id, ())),
            }
        )
        previous = member
    return {"ref": by_id[named.id].ref, "thread": entries}


def _status_day(member: _Member, members: Sequence[_Member], today: date) -> date:
    """The day at whose end the thread shows an edition's status (:func:`tracker.editions.status_day`)."""
    after = [other.published_on for other in members if other.published_on > member.published_on]
    return editions.status_day(member.published_on, min(after) if after else None, today)


def _members(session: Session, ids: Iterable[int], fixes: corrections.Corrections) -> list[_Member]:
    """The recommendations ``ids``, corrected, by edition (published_on, slug) then report order."""
    rows = session.execute(
        select(Recommendation, Source.slug, Source.published_on).join(Source).where(Recommendation.id.in_(list(ids)))
    ).all()
    members = [
        _Member(rec.id, slug, published_on, rec.code, queries.corrected_recommendation(fixes, rec))
        for rec, slug, published_on in rows
    ]
    return sorted(
        members,
        key=lambda m: (m.published_on, m.slug, *queries.report_order((m.values["position"], m.code))),
    )


def _assessments(
    session: Session, ids: Sequence[int], as_of: datetime | None, later: Later, fixes: corrections.Corrections
) -> dict[int, list[_Assessment]]:
    """Each recommendation's assessments known at ``as_of`` and not withdrawn, in order
    (effective date, when known, id)."""
    known = known_at(session, StatusUpdate)
    query = select(
        StatusUpdate.id, StatusUpdate.recommendation_id, StatusUpdate.status, StatusUpdate.effective_on, known
    )
    query = query.where(StatusUpdate.recommendation_id.in_(list(ids)))
    if as_of is not None:
        query = query.where(known <= as_of)
    if (default_line := assessors.line(assessors.roster(session, later=later, fixes=fixes))) is not None:
        query = query.where(default_line)
    withdrawn = fixes.withdrawn("status_update")
    found: dict[int, list[_Assessment]] = defaultdict(list)
    for update_id, rec_id, status, effective_on, when in session.execute(
        query.order_by(StatusUpdate.effective_on, known, StatusUpdate.id)
    ):
        if (update_id,) not in withdrawn:
            found[rec_id].append(_Assessment(update_id, Status(status), effective_on, when))
    return found


def _latest(
    assessments: Mapping[int, Sequence[_Assessment]], day: date
) -> dict[int, tuple[tuple[date, datetime, int], Status]]:
    """Each recommendation's last assessment effective on or before ``day`` (its status at the
    end of that day), as :func:`tracker.editions.carry` reads them: (its order, its status)."""
    latest = {}
    for rec_id, items in assessments.items():
        standing = [item for item in items if item.effective_on <= day]
        if standing:
            last = standing[-1]
            latest[rec_id] = ((last.effective_on, last.known, last.id), last.status)
    return latest


def _evidence(
    session: Session, rec_ids: set[int], as_of: datetime | None, fixes: corrections.Corrections
) -> dict[int, list[int]]:
    """The evidence linked to each of ``rec_ids`` (links as corrected) that :data:`AUDIENCE`
    sees: recorded and not retracted at ``as_of``, its sensitivity (as corrected, or raised
    since) public or internal."""
    linked = Evidence.id.in_(
        select(EvidenceLink.evidence_id).where(EvidenceLink.recommendation_id.in_(sorted(rec_ids)))
    )
    linked_by_fix = sorted({evidence_id for evidence_id, rec_id in fixes.keys("evidence_link") if rec_id in rec_ids})
    retracted = select(EvidenceRetraction.evidence_id)
    query = select(Evidence).where(or_(linked, one_of(Evidence.id, linked_by_fix)) if linked_by_fix else linked)
    if as_of is not None:
        retracted = retracted.where(known_at(session, EvidenceRetraction) <= as_of)
        query = query.where(known_at(session, Evidence) <= as_of)
    rows = session.scalars(query.where(Evidence.id.not_in(retracted))).all()
    links = queries.evidence_links(session, [row.id for row in rows], fixes)
    found: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        values = fixes.apply("evidence", (row.id,), corrections.values_of(row, "evidence"))
        if fixes.sensitivity(row.id, values["sensitivity"]).rank > AUDIENCE.rank:
            continue
        for rec_id in links.get(row.id, {}):
            if rec_id in rec_ids:
                found[rec_id].append(row.id)
    return found


def word_diff(old: str, new: str) -> list[dict[str, str]]:
    """How ``new`` differs from ``old``, word by word (words split on whitespace): a list of
    ``{"op": "equal" | "insert" | "delete" | "replace", "old": words, "new": words}``
    (``""`` for the side an insertion or deletion does not have)."""
    before, after = old.split(), new.split()
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [
        {"op": op, "old": " ".join(before[i1:i2]), "new": " ".join(after[j1:j2])}
        for op, i1, i2, j1, j2 in matcher.get_opcodes()
    ]


# Comparing two editions -------------------------------------------------------------------


def catalog_diff(session: Session, old: str, new: str) -> dict[str, Any]:
    """What edition ``new`` does with the recommendations of the earlier edition ``old``.

    For each relation (repeated, reworded...), the recommendations of ``new`` that continue
    recommendations of ``old`` that way: ``{"new": ref, "old": [refs], "note": ...}``;
    ``dropped``: those of ``old`` no recommendation of ``new`` continues; ``added``: those of
    ``new`` that continue none of ``old``. Only direct links count, as corrected.
    """
    earlier, later = queries.source_by_slug(session, old), queries.source_by_slug(session, new)
    if earlier.id == later.id:
        raise InputError(
            f"{old} was given twice: give two editions, the earlier first (e.g. tip-2018-khm tip-2019-khm)"
        )
    if later.published_on <= earlier.published_on:
        if later.published_on < earlier.published_on:
            raise InputError(
                f"{new} (published {later.published_on}) is older than {old} (published {earlier.published_on}): "
                f"give the earlier edition first ({new} {old})"
            )
        raise InputError(
            f"{old} and {new} were both published on {later.published_on}: give an edition and a later one"
        )
    fixes = corrections.load(session)
    old_recs = _recommendations_of(session, earlier, fixes)
    new_recs = _recommendations_of(session, later, fixes)
    old_ids = {rec_id for rec_id, _ in old_recs}
    found = editions.threads(session, fixes=fixes)
    result: dict[str, Any] = {"old": earlier.slug, "new": later.slug}
    result.update({relation.value: [] for relation in Relation})
    continued: set[int] = set()
    added = []
    for rec_id, ref in new_recs:
        grouped: dict[Relation, list[editions.Link]] = defaultdict(list)
        for link in found.earlier(rec_id):
            if link.earlier_id in old_ids:
                grouped[link.relation].append(link)
        if not grouped:
            added.append(ref)
        for relation, links in grouped.items():
            ids = {link.earlier_id for link in links}
            continued |= ids
            notes = list(dict.fromkeys(link.note for link in links if link.note))
            result[relation.value].append(
                {
                    "new": ref,
                    "old": [old_ref for old_id, old_ref in old_recs if old_id in ids],
                    "note": "; ".join(notes) if notes else None,
                }
            )
    result["dropped"] = [ref for rec_id, ref in old_recs if rec_id not in continued]
    result["added"] = added
    return result


def _recommendations_of(session: Session, source: Source, fixes: corrections.Corrections) -> list[tuple[int, str]]:
    """A source's recommendations in report order (positions as corrected): (id, SOURCE/CODE)."""
    recs = session.scalars(select(Recommendation).where(Recommendation.source_id == source.id)).all()
    ordered = sorted(
        recs, key=lambda rec: queries.report_order((queries.corrected_recommendation(fixes, rec)["position"], rec.code))
    )
    return [(rec.id, f"{source.slug}/{rec.code}") for rec in ordered]


# ------------------------------------------------------------------------------------------


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InputError("as_of must be a timezone-aware instant")
    return moment.astimezone(UTC)
