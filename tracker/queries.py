"""Reads. Nothing here writes; every function takes the caller's session."""

from __future__ import annotations

import heapq
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker import assessors, clock, corrections, editions
from tracker.audit import asof
from tracker.errors import InputError, NotFound
from tracker.store.models import (
    Agency,
    Assessor,
    Attachment,
    Continuation,
    EntryFor,
    Event,
    Evidence,
    EvidenceAttachment,
    EvidenceLink,
    EvidenceRetraction,
    Indicator,
    Measurement,
    Recommendation,
    RecommendationAgency,
    Source,
    StatusAssessor,
    StatusUpdate,
    StatusUpdateEvidence,
)
from tracker.store.sets import one_of
from tracker.vocab import Pillar, Role, Status

# References -----------------------------------------------------------------------------


def ref_of(slug: str, code: str, ambiguous_codes: set[str] | None = None) -> str:
    """A recommendation's REF: its code when unique across sources, else SOURCE/CODE."""
    return f"{slug}/{code}" if ambiguous_codes is None or code in ambiguous_codes else code


def ambiguous_codes(session: Session) -> set[str]:
    codes = session.execute(select(Recommendation.code)).scalars().all()
    seen: set[str] = set()
    repeated: set[str] = set()
    for code in codes:
        (repeated if code in seen else seen).add(code)
    return repeated


def resolve_ref(session: Session, ref: str, on: date | None = None) -> Recommendation:
    """The recommendation a REF names on day ``on`` (default today): ``SOURCE/CODE`` names one
    edition's; a bare ``CODE`` the one of the edition in force that has it (see
    :func:`tracker.editions.pick`), and is ambiguous only across series."""
    ref = (ref or "").strip()
    if not ref:
        raise InputError("a recommendation REF is required, e.g. undercover-techniques")
    if not _storable(ref):
        raise _unknown_ref(ref)
    query = select(Recommendation, *_EDITION_COLUMNS).join(Source)
    if "/" in ref:
        slug, _, code = ref.partition("/")
        query = query.where(Source.slug == slug, Recommendation.code == code)
    else:
        query = query.where(Recommendation.code == ref)
    candidates = [
        (rec, _SourceEdition(slug, publisher, country, day))
        for rec, slug, publisher, country, day in session.execute(query)
    ]
    return _one(ref, candidates, on)


# Rows read from the database at a time by a list that streams (a log of a million events).
READ_BATCH = 2_000
_EDITION_COLUMNS = (Source.slug, Source.publisher, Source.country, Source.published_on)


@dataclass(frozen=True)
class _SourceEdition:
    slug: str
    publisher: str
    country: str
    published_on: date


def _one(ref: str, candidates: Sequence[tuple[Any, _SourceEdition]], on: date | None) -> Any:
    """The one candidate a REF names on ``on``, else the error that says why none or which."""
    if not candidates:
        raise _unknown_ref(ref)
    chosen = editions.pick(candidates, on or clock.today()) if len(candidates) > 1 else candidates
    if len(chosen) > 1:
        raise _ambiguous_ref(ref, [f"{source.slug}/{ref}" for _, source in chosen])
    return chosen[0][0]


def _unknown_ref(ref: str) -> NotFound:
    return NotFound(f"unknown recommendation {ref!r}: see `tracker rec list` for the REFs")


def _ambiguous_ref(ref: str, candidates: Iterable[str]) -> InputError:
    return InputError(
        f"recommendation {ref!r} is ambiguous (the code is in several report series): use one of "
        f"{', '.join(sorted(candidates))}"
    )


class RefIndex:
    """Every recommendation's REF, read once: resolves many REFs (an import) without a
    query each, with the same rules and errors as :func:`resolve_ref`."""

    def __init__(self, session: Session) -> None:
        self._by_code: dict[str, list[tuple[int, _SourceEdition]]] = defaultdict(list)
        self._by_ref: dict[str, int] = {}
        for rec_id, code, slug, publisher, country, day in session.execute(
            select(Recommendation.id, Recommendation.code, *_EDITION_COLUMNS).join(Source)
        ):
            source = _SourceEdition(slug, publisher, country, day)
            self._by_code[code].append((rec_id, source))
            self._by_ref[f"{source.slug}/{code}"] = rec_id

    def resolve(self, ref: str, on: date | None = None) -> int:
        """The recommendation id of ``ref`` on day ``on`` (default today)."""
        ref = (ref or "").strip()
        if not ref:
            raise InputError("a recommendation REF is required, e.g. undercover-techniques")
        if "/" in ref:
            if ref not in self._by_ref:
                raise _unknown_ref(ref)
            return self._by_ref[ref]
        return _one(ref, self._by_code.get(ref, []), on)


def source_by_slug(session: Session, slug: str) -> Source:
    source = session.scalars(select(Source).where(Source.slug == slug)).first()
    if source is None:
        known = ", ".join(session.scalars(select(Source.slug).order_by(Source.slug))) or "none loaded"
        raise NotFound(f"unknown source {slug!r}: known sources are {known}")
    return source


def _storable(code: str) -> bool:
    """Whether a code could be stored: one with a NUL byte never was (and PostgreSQL refuses it
    in a query), so it is unknown without asking the database."""
    return "\x00" not in code


def agency_by_code(session: Session, code: str) -> Agency:
    agency = session.scalars(select(Agency).where(Agency.code == code)).first() if _storable(code) else None
    if agency is None:
        known = ", ".join(session.scalars(select(Agency.code).order_by(Agency.code))) or "none"
        raise NotFound(f"unknown agency {code!r}: known agencies are {known}")
    return agency


def indicator_by_code(session: Session, code: str) -> Indicator:
    indicator = session.scalars(select(Indicator).where(Indicator.code == code)).first() if _storable(code) else None
    if indicator is None:
        raise unknown_indicator(code)
    return indicator


def unknown_indicator(code: str) -> NotFound:
    return NotFound(f"unknown indicator {code!r}: see `tracker indicator list`")


def indicator_ids(session: Session) -> dict[str, int]:
    """Every indicator's id by its code."""
    return {code: indicator_id for code, indicator_id in session.execute(select(Indicator.code, Indicator.id))}


def evidence_by_id(session: Session, evidence_id: int) -> Evidence:
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        raise unknown_evidence(evidence_id)
    return evidence


def unknown_evidence(evidence_id: int) -> NotFound:
    return NotFound(f"unknown evidence id {evidence_id}: see `tracker evidence list`")


def citable_evidence(session: Session, evidence_id: int) -> Evidence:
    """Evidence an assessment or a measurement may cite: stored and not retracted."""
    evidence = evidence_by_id(session, evidence_id)
    retracted = session.scalars(
        select(EvidenceRetraction.recorded_at).where(EvidenceRetraction.evidence_id == evidence.id)
    ).first()
    if retracted is not None:
        raise retracted_evidence(evidence.id, retracted)
    return evidence


def retracted_evidence(evidence_id: int, on: datetime) -> InputError:
    return InputError(
        f"evidence {evidence_id} was retracted on {on:%Y-%m-%d} and cannot be cited: cite evidence that stands"
    )


def retractions(session: Session) -> dict[int, datetime]:
    """When each retracted piece of evidence was retracted, to check many citations at once."""
    return dict(session.execute(select(EvidenceRetraction.evidence_id, EvidenceRetraction.recorded_at)).all())


def evidence_ids(session: Session) -> set[int]:
    """Every stored evidence id, to check many citations (an import) at once."""
    return set(session.scalars(select(Evidence.id)))


def stamped_after(session: Session, instant: datetime) -> tuple[int, datetime | None]:
    """How many events the record knows only after ``instant``, and the last one's stamp: a report
    as of now leaves them out (a clock that ran ahead stamped them; see ``tracker correct-clock``)."""
    known = asof.known_at(session, Event)
    count, last = session.execute(select(func.count(), func.max(Event.recorded_at)).where(known > instant)).one()
    return count, last


# Status over time -----------------------------------------------------------------------


def statuses_at(
    session: Session,
    before: date,
    known_at: datetime | None = None,
    recommendation_ids: Iterable[int] | None = None,
) -> dict[int, Status]:
    """Each recommendation's status at the start of ``before`` as known at ``known_at``
    (its own assessments only: see :func:`carried_statuses`).

    The latest status update with ``effective_on < before`` and ``recorded_at <=
    known_at``, by effective_on, then recorded_at, then id. Missing means not_started.
    """
    return {
        rec_id: status
        for rec_id, (_, status) in latest_assessments(session, before, known_at, recommendation_ids).items()
    }


def latest_assessments(
    session: Session,
    before: date,
    known_at: datetime | None = None,
    recommendation_ids: Iterable[int] | None = None,
) -> dict[int, tuple[tuple[date, datetime, int], Status]]:
    """Each recommendation's last assessment effective before ``before`` (as known at
    ``known_at``, withdrawn ones left out): its order (effective_on, when known, id) and status."""
    known = asof.known_at(session, StatusUpdate)
    query = select(
        StatusUpdate.recommendation_id, StatusUpdate.effective_on, known, StatusUpdate.id, StatusUpdate.status
    ).where(StatusUpdate.effective_on < before)
    if known_at is not None:
        query = query.where(known <= known_at)
    withdrawn = withdrawn_ids(session, "status_update", known_at)
    if withdrawn:
        query = query.where(~one_of(StatusUpdate.id, withdrawn))
    if recommendation_ids is not None:
        query = query.where(StatusUpdate.recommendation_id.in_(list(recommendation_ids)))
    later = asof.recorded_after(session, known_at) if known_at is not None else None
    roster = assessors.roster(session, later=later, fixes=corrections.as_of(session, known_at))
    if (default_line := assessors.line(roster)) is not None:
        query = query.where(default_line)
    query = query.order_by(StatusUpdate.effective_on, known, StatusUpdate.id)
    return {
        rec_id: ((effective_on, when, update_id), Status(status))
        for rec_id, effective_on, when, update_id, status in session.execute(query)
    }


def carried_statuses(session: Session, before: date) -> dict[int, tuple[Status, int | None]]:
    """Each recommendation's status at the start of ``before``, with what a new edition
    carries over (:func:`tracker.editions.carry`): (status, the id of the recommendation it
    is carried from, or None)."""
    latest = latest_assessments(session, before)
    found = editions.threads(session)
    rec_ids = session.scalars(select(Recommendation.id))
    result = {}
    for rec_id in rec_ids:
        status, carried = editions.carry(rec_id, found, latest)
        result[rec_id] = (status or Status.NOT_STARTED, carried)
    return result


def withdrawn_ids(session: Session, target: str, known_at: datetime | None = None) -> set[int]:
    """The ids of ``target``'s records (status updates, measurements) withdrawn as known at ``known_at``."""
    return {key[0] for key in corrections.as_of(session, known_at).withdrawn(target)}


def is_overdue(due_on: date | None, status: Status, on: date) -> bool:
    return due_on is not None and due_on < on and status != Status.IMPLEMENTED


# Recommendations ------------------------------------------------------------------------


@dataclass(frozen=True)
class AgencyRole:
    code: str
    name: str
    role: str


@dataclass(frozen=True)
class RecommendationView:
    id: int
    ref: str
    source: str
    code: str
    position: int | None
    title: str
    text: str
    text_status: str
    note: str | None
    pillar: str
    due_on: date | None
    status: str
    overdue: bool
    agencies: tuple[AgencyRole, ...] = ()
    indicators: tuple[str, ...] = ()
    # The edition whose status it shows, carried over: it has no assessment of its own yet.
    carried_over_from: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "source": self.source,
            "code": self.code,
            "position": self.position,
            "title": self.title,
            "text": self.text,
            "text_status": self.text_status,
            "note": self.note,
            "pillar": self.pillar,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "status": self.status,
            "overdue": self.overdue,
            "carried_over_from": self.carried_over_from,
            "agencies": [{"code": a.code, "name": a.name, "role": a.role} for a in self.agencies],
            "indicators": list(self.indicators),
        }


def recommendations(
    session: Session,
    *,
    sources: Sequence[str] = (),
    status: Status | None = None,
    pillar: Pillar | None = None,
    agency: str | None = None,
    overdue: bool = False,
) -> list[RecommendationView]:
    """Recommendations with their current status, in source and report order."""
    for slug in sources:
        source_by_slug(session, slug)
    if agency is not None:
        agency_by_code(session, agency)
    query = select(Recommendation, Source.slug).join(Source)
    if sources:
        query = query.where(Source.slug.in_(list(sources)))
    query = query.order_by(Source.published_on.desc(), Source.slug)
    rows = session.execute(query).all()
    views = _views(session, rows)
    # Filters on what a correction may change are applied to the corrected values.
    if pillar is not None:
        views = [view for view in views if view.pillar == pillar]
    if agency is not None:
        views = [view for view in views if any(a.code == agency for a in view.agencies)]
    if status is not None:
        views = [view for view in views if view.status == status]
    if overdue:
        views = [view for view in views if view.overdue]
    return views


def recommendation(session: Session, ref: str) -> RecommendationView:
    rec = resolve_ref(session, ref)
    slug = session.get_one(Source, rec.source_id).slug
    return _views(session, [(rec, slug)])[0]


def corrected_recommendation(fixes: corrections.Corrections, rec: Recommendation) -> dict[str, Any]:
    """A recommendation's correctable attributes with ``fixes`` applied."""
    return fixes.apply("recommendation", (rec.id,), corrections.values_of(rec, "recommendation"))


def report_order(rec_id_code: tuple[int | None, str]) -> tuple[bool, int, str]:
    """The order of a source's recommendations: by position (unpositioned last), then code."""
    position, code = rec_id_code
    return (position is None, position or 0, code)


def _views(session: Session, rows: Sequence[tuple[Recommendation, str]]) -> list[RecommendationView]:
    ids = [rec.id for rec, _ in rows]
    today = clock.today()
    statuses = carried_statuses(session, today + timedelta(days=1))
    slugs = dict(session.execute(select(Recommendation.id, Source.slug).join(Source)).all())
    fixes = corrections.load(session)
    owners = agencies_of(session, ids, fixes)
    fixed = {rec.id: corrected_recommendation(fixes, rec) for rec, _ in rows}
    # Grouped by source as given, then in report order by the corrected positions.
    groups: dict[str, list[Recommendation]] = defaultdict(list)
    for rec, slug in rows:
        groups[slug].append(rec)
    rows = [
        (rec, slug)
        for slug, recs in groups.items()
        for rec in sorted(recs, key=lambda r: report_order((fixed[r.id]["position"], r.code)))
    ]
    indicators: dict[int, list[str]] = defaultdict(list)
    for rec_id, code in session.execute(
        select(Indicator.recommendation_id, Indicator.code)
        .where(Indicator.recommendation_id.in_(ids))
        .order_by(Indicator.id)
    ):
        indicators[rec_id].append(code)
    repeated = ambiguous_codes(session)
    views = []
    for rec, slug in rows:
        status, carried = statuses.get(rec.id, (Status.NOT_STARTED, None))
        values = fixed[rec.id]
        views.append(
            RecommendationView(
                id=rec.id,
                ref=ref_of(slug, rec.code, repeated),
                source=slug,
                code=rec.code,
                position=values["position"],
                title=values["title"],
                text=values["text"],
                text_status=values["text_status"].value,
                note=rec.note,
                pillar=values["pillar"].value,
                due_on=values["due_on"],
                status=status.value,
                overdue=is_overdue(values["due_on"], status, today),
                agencies=tuple(owners.get(rec.id, ())),
                indicators=tuple(indicators.get(rec.id, ())),
                carried_over_from=None if carried is None else slugs[carried],
            )
        )
    return views


def agencies_of(
    session: Session, recommendation_ids: Sequence[int], fixes: corrections.Corrections | None = None
) -> dict[int, list[AgencyRole]]:
    """Each recommendation's agencies, leads first, with ``fixes`` (default: every correction) applied."""
    fixes = corrections.load(session) if fixes is None else fixes
    owners: dict[int, list[AgencyRole]] = defaultdict(list)
    query = select(
        RecommendationAgency.recommendation_id, Agency.id, Agency.code, Agency.name, RecommendationAgency.role
    ).join(Agency)
    if len(recommendation_ids) < 1000:
        query = query.where(RecommendationAgency.recommendation_id.in_(list(recommendation_ids)))
    wanted = set(recommendation_ids)
    for rec_id, agency_id, code, name, role in session.execute(query):
        key = (rec_id, agency_id)
        if rec_id not in wanted or not fixes.present("recommendation_agency", key):
            continue
        role = fixes.apply("recommendation_agency", key, {"role": role})["role"]
        name = fixes.apply("agency", (agency_id,), {"name": name})["name"]
        owners[rec_id].append(AgencyRole(code, name, role.value))
    for roles in owners.values():
        roles.sort(key=lambda a: (a.role != Role.LEAD.value, a.code))
    return owners


# Status history ---------------------------------------------------------------------------


def status_history(session: Session, ref: str, assessor: str | None = None) -> list[dict[str, Any]]:
    """Every assessment of a recommendation by one assessor (None: the default's), by
    effective date then when recorded (:func:`status_history_rows`, as a list)."""
    return list(status_history_rows(session, ref, assessor))


def status_history_rows(session: Session, ref: str, assessor: str | None = None) -> Iterator[dict[str, Any]]:
    """:func:`status_history`, read from the database a batch at a time: constant memory."""
    rec = resolve_ref(session, ref)
    roster = assessors.roster(session)
    chosen = None if assessor is None else roster.find(assessor)
    query = select(StatusUpdate).where(StatusUpdate.recommendation_id == rec.id)
    if (in_line := assessors.line(roster, chosen)) is not None:
        query = query.where(in_line)
    query = query.order_by(StatusUpdate.effective_on, asof.known_at(session, StatusUpdate), StatusUpdate.id)
    by_id = {a.id: a.code for a in roster.assessors}
    default_code = roster.default.code if roster.default is not None else None
    ref_text = recommendation_ref(session, rec)
    fixes = corrections.load(session)
    retracted = retractions(session)
    for updates in session.scalars(query.execution_options(yield_per=READ_BATCH)).partitions():
        ids = [u.id for u in updates]
        whose = dict(
            session.execute(
                select(StatusAssessor.status_update_id, StatusAssessor.assessor_id).where(
                    one_of(StatusAssessor.status_update_id, ids)
                )
            ).all()
        )
        entered = entered_for(session, "status_update", ids)
        cited: dict[int, list[int]] = defaultdict(list)
        for update_id, evidence_id in session.execute(
            select(StatusUpdateEvidence.status_update_id, StatusUpdateEvidence.evidence_id)
            .where(one_of(StatusUpdateEvidence.status_update_id, ids))
            .order_by(StatusUpdateEvidence.evidence_id)
        ):
            cited[update_id].append(evidence_id)
        for u in updates:
            yield {
                "id": u.id,
                "ref": ref_text,
                "status": u.status.value,
                "effective_on": u.effective_on.isoformat(),
                "note": u.note,
                "evidence": cited.get(u.id, []),
                "retracted_evidence": [i for i in cited.get(u.id, []) if i in retracted],
                "recorded_at": clock.iso_utc(u.recorded_at),
                "recorded_by": u.recorded_by,
                "assessor": by_id[whose[u.id]] if u.id in whose else default_code,
                "for": entered.get(u.id),
                "withdrawn": withdrawal(fixes, "status_update", u.id),
            }


def entered_for(session: Session, target: str, ids: Sequence[int]) -> dict[int, str]:
    """The agency (code) each of ``target``'s entries ``ids`` was made on behalf of, if any."""
    found: dict[int, str] = {}
    for start in range(0, len(ids), READ_BATCH):
        found.update(
            session.execute(
                select(EntryFor.record_id, Agency.code)
                .join(Agency, Agency.id == EntryFor.agency_id)
                .where(EntryFor.target == target, EntryFor.record_id.in_(list(ids[start : start + READ_BATCH])))
            ).all()
        )
    return found


def assessor_list(session: Session) -> list[dict[str, Any]]:
    """The assessors, by code: the default marked, how many assessments each has recorded."""
    roster = assessors.roster(session)
    counts = dict(
        session.execute(select(StatusAssessor.assessor_id, func.count()).group_by(StatusAssessor.assessor_id)).all()
    )
    return [
        {
            "code": a.code,
            "name": a.name,
            "kind": a.kind.value,
            "default": a.is_default,
            "assessments": counts.get(a.id, 0),
        }
        for a in roster.assessors
    ]


def withdrawal(fixes: corrections.Corrections, target: str, record_id: int) -> dict[str, str] | None:
    """How a withdrawn status update or measurement was withdrawn (None: it stands)."""
    if fixes.present(target, (record_id,)):
        return None
    last = [item for item in fixes.of(target, (record_id,)) if item.withdrawn][-1]
    return {"reason": last.reason, "recorded_at": clock.iso_utc(last.recorded_at), "recorded_by": last.recorded_by}


def citations_of(session: Session, evidence_id: int) -> list[str]:
    """What cites a piece of evidence and still counts: 'status 3 (REF)', 'measurement 7 (CODE 2019Q3)'."""
    from tracker.periods import Quarter

    fixes = corrections.load(session)
    refs = refs_by_id(session)
    found = [
        f"status {update_id} ({refs[rec_id]})"
        for update_id, rec_id in session.execute(
            select(StatusUpdate.id, StatusUpdate.recommendation_id)
            .join(StatusUpdateEvidence, StatusUpdateEvidence.status_update_id == StatusUpdate.id)
            .where(StatusUpdateEvidence.evidence_id == evidence_id)
            .order_by(StatusUpdate.id)
        )
        if fixes.present("status_update", (update_id,))
    ]
    found += [
        f"measurement {measurement_id} ({code} {Quarter.containing(start)})"
        for measurement_id, code, start in session.execute(
            select(Measurement.id, Indicator.code, Measurement.quarter_start)
            .join(Indicator)
            .where(Measurement.evidence_id == evidence_id)
            .order_by(Measurement.id)
        )
        if fixes.present("measurement", (measurement_id,))
    ]
    return found


def recommendation_ref(session: Session, rec: Recommendation) -> str:
    slug = session.get_one(Source, rec.source_id).slug
    return ref_of(slug, rec.code, ambiguous_codes(session))


def refs_by_id(session: Session) -> dict[int, str]:
    repeated = ambiguous_codes(session)
    return {
        rec_id: ref_of(slug, code, repeated)
        for rec_id, code, slug in session.execute(
            select(Recommendation.id, Recommendation.code, Source.slug).join(Source)
        )
    }


# Evidence ---------------------------------------------------------------------------------


def evidence_record(session: Session, evidence_id: int) -> dict[str, Any]:
    """One piece of evidence with its links, files and retraction."""
    return evidence_records(session, [evidence_by_id(session, evidence_id)])[0]


def evidence_records(
    session: Session,
    items: Sequence[Evidence],
    *,
    refs: dict[int, str] | None = None,
    fixes: corrections.Corrections | None = None,
) -> list[dict[str, Any]]:
    """The records of ``items`` as lists and ``evidence show`` give them (their corrected values,
    links, attachments, retraction); ``refs`` and ``fixes`` when the caller has them already."""
    ids = [e.id for e in items]
    refs = refs_by_id(session) if refs is None else refs
    fixes = corrections.load(session) if fixes is None else fixes
    links: dict[int, list[dict[str, str]]] = defaultdict(list)
    for evidence_id, by_rec in evidence_links(session, ids, fixes).items():
        for rec_id, stance in sorted(by_rec.items()):
            links[evidence_id].append({"ref": refs[rec_id], "stance": stance.value})
    files: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for evidence_id, sha256, filename, size, media_type in session.execute(
        select(
            EvidenceAttachment.evidence_id,
            EvidenceAttachment.sha256,
            EvidenceAttachment.filename,
            Attachment.size,
            Attachment.media_type,
        )
        .join(Attachment)
        .where(one_of(EvidenceAttachment.evidence_id, ids))
        .order_by(EvidenceAttachment.filename, EvidenceAttachment.sha256)
    ):
        files[evidence_id].append({"sha256": sha256, "filename": filename, "size": size, "media_type": media_type})
    retractions = {
        r.evidence_id: r
        for r in session.scalars(select(EvidenceRetraction).where(one_of(EvidenceRetraction.evidence_id, ids)))
    }
    records = []
    for e in items:
        retraction = retractions.get(e.id)
        values = fixes.apply("evidence", (e.id,), corrections.values_of(e, "evidence"))
        records.append(
            {
                "id": e.id,
                "title": values["title"],
                "kind": values["kind"].value,
                "observed_on": values["observed_on"].isoformat(),
                "source_name": values["source_name"],
                "url": values["url"],
                "summary": values["summary"],
                "reliability": values["reliability"].value,
                "sensitivity": values["sensitivity"].value,
                "corrected": fixes.corrected("evidence", (e.id,))
                or any(key[0] == e.id for key in fixes.keys("evidence_link")),
                "recorded_at": clock.iso_utc(e.recorded_at),
                "recorded_by": e.recorded_by,
                "recommendations": links.get(e.id, []),
                "attachments": files.get(e.id, []),
                "retraction": None
                if retraction is None
                else {
                    "reason": retraction.reason,
                    "recorded_at": clock.iso_utc(retraction.recorded_at),
                    "recorded_by": retraction.recorded_by,
                },
            }
        )
    return records


def evidence_links(
    session: Session, evidence_ids: Sequence[int], fixes: corrections.Corrections
) -> dict[int, dict[int, Any]]:
    """Each piece of evidence's links as ``fixes`` leave them: {evidence id: {recommendation id: stance}}."""
    found: dict[int, dict[int, Any]] = defaultdict(dict)
    wanted = set(evidence_ids)
    for start in range(0, len(evidence_ids), 500):
        chunk = list(evidence_ids[start : start + 500])
        for evidence_id, rec_id, stance in session.execute(
            select(EvidenceLink.evidence_id, EvidenceLink.recommendation_id, EvidenceLink.stance).where(
                EvidenceLink.evidence_id.in_(chunk)
            )
        ):
            found[evidence_id][rec_id] = stance
    return corrected_links(found, fixes, wanted)


def corrected_links(
    stored: dict[int, dict[int, Any]], fixes: corrections.Corrections, wanted: set[int] | None = None
) -> dict[int, dict[int, Any]]:
    """Stored links ({evidence id: {recommendation id: stance}}) with ``fixes`` applied: links
    withdrawn left out, links added by a correction put in, stances corrected."""
    for evidence_id, rec_id in fixes.keys("evidence_link"):
        if wanted is not None and evidence_id not in wanted:
            continue
        by_rec = stored.setdefault(evidence_id, {})
        key = (evidence_id, rec_id)
        if fixes.present("evidence_link", key, rec_id in by_rec):
            by_rec[rec_id] = fixes.apply("evidence_link", key, {"stance": by_rec.get(rec_id)})["stance"]
        else:
            by_rec.pop(rec_id, None)
    return stored


def evidence_list(
    session: Session,
    *,
    rec: str | None = None,
    quarter=None,
    kind=None,
    include_retracted: bool = False,
) -> list[dict[str, Any]]:
    """Evidence by date observed (then id), retracted items left out unless asked for
    (:func:`evidence_rows`, as a list)."""
    return list(evidence_rows(session, rec=rec, quarter=quarter, kind=kind, include_retracted=include_retracted))


def evidence_rows(
    session: Session,
    *,
    rec: str | None = None,
    quarter=None,
    kind=None,
    include_retracted: bool = False,
) -> Iterator[dict[str, Any]]:
    """Evidence by date observed (then id), retracted items left out unless asked for, read
    from the database a batch at a time: constant memory, whatever the size.

    The filters read the corrected values: SQL selects, in order, the evidence whose stored
    values match and that no correction touches; the corrected evidence (few) is read apart,
    filtered and ordered by its corrected values, and merged in."""
    conditions = []
    recommendation_id = None
    if rec is not None:
        recommendation_id = resolve_ref(session, rec).id
        conditions.append(
            Evidence.id.in_(select(EvidenceLink.evidence_id).where(EvidenceLink.recommendation_id == recommendation_id))
        )
    if quarter is not None:
        conditions += [Evidence.observed_on >= quarter.start, Evidence.observed_on < quarter.end]
    if kind is not None:
        conditions.append(Evidence.kind == kind)
    if not include_retracted:
        conditions.append(Evidence.id.not_in(select(EvidenceRetraction.evidence_id)))
    refs = refs_by_id(session)
    fixes = corrections.load(session)
    corrected = fixes.ids("evidence") | fixes.ids("evidence_link")
    ref = refs.get(recommendation_id) if recommendation_id is not None else None

    def wanted(record: dict[str, Any]) -> bool:  # by its corrected values
        return (
            (ref is None or any(link["ref"] == ref for link in record["recommendations"]))
            and (quarter is None or quarter.start.isoformat() <= record["observed_on"] < quarter.end.isoformat())
            and (kind is None or record["kind"] == kind.value)
        )

    apart: list[dict[str, Any]] = []
    if corrected:
        retracted = [] if include_retracted else [Evidence.id.not_in(select(EvidenceRetraction.evidence_id))]
        ordered = sorted(corrected)
        for start in range(0, len(ordered), 500):
            items = session.scalars(
                select(Evidence).where(Evidence.id.in_(ordered[start : start + 500]), *retracted)
            ).all()
            apart += [r for r in evidence_records(session, items, refs=refs, fixes=fixes) if wanted(r)]
        apart.sort(key=_observed)

    def stored() -> Iterator[dict[str, Any]]:
        query = select(Evidence).where(*conditions).order_by(Evidence.observed_on, Evidence.id)
        for batch in session.scalars(query.execution_options(yield_per=READ_BATCH)).partitions():
            items = [e for e in batch if e.id not in corrected]
            yield from evidence_records(session, items, refs=refs, fixes=fixes)

    yield from heapq.merge(stored(), apart, key=_observed) if apart else stored()


def _observed(record: dict[str, Any]) -> tuple[str, int]:
    return record["observed_on"], record["id"]


def attachment_content(session: Session, sha256: str) -> bytes:
    sha256 = (sha256 or "").strip().lower()
    content = session.scalar(select(Attachment.content).where(Attachment.sha256 == sha256))
    if content is None:
        raise NotFound(f"no stored file with sha256 {sha256!r}: see the attachments in `tracker evidence show ID`")
    return content


# Indicators and agencies ------------------------------------------------------------------


def indicator_list(session: Session) -> list[dict[str, Any]]:
    refs = refs_by_id(session)
    latest = latest_measurements(session)
    rows = []
    fixes = corrections.load(session)
    for indicator in session.scalars(select(Indicator).order_by(Indicator.code)):
        last = latest.get(indicator.id)
        values = fixes.apply("indicator", (indicator.id,), corrections.values_of(indicator, "indicator"))
        rows.append(
            {
                "code": indicator.code,
                "ref": refs[indicator.recommendation_id],
                "name": values["name"],
                "unit": values["unit"],
                "direction": values["direction"].value,
                "target": values["target"],
                "latest_quarter": str(last[0]) if last else None,
                "latest_value": last[1] if last else None,
            }
        )
    return rows


def latest_measurements(session: Session, known_at: datetime | None = None) -> dict[int, tuple[Any, float]]:
    """Each indicator's most recent quarter and its value (the latest recorded wins)."""
    from tracker.periods import Quarter

    values = measurement_values(session, known_at=known_at)
    latest: dict[int, tuple[Any, float]] = {}
    for (indicator_id, quarter_start), value in sorted(values.items()):
        latest[indicator_id] = (Quarter.containing(quarter_start), value)
    return latest


def measurement_values(
    session: Session,
    *,
    known_at: datetime | None = None,
    indicator_ids: Iterable[int] | None = None,
    quarter_starts: Iterable[date] | None = None,
) -> dict[tuple[int, date], float]:
    """(indicator, quarter start) -> value: for each, the latest recorded at or before known_at
    and not withdrawn at known_at."""
    query = select(Measurement.indicator_id, Measurement.quarter_start, Measurement.value)
    known = asof.known_at(session, Measurement)
    if known_at is not None:
        query = query.where(known <= known_at)
    withdrawn = withdrawn_ids(session, "measurement", known_at)
    if withdrawn:
        query = query.where(~one_of(Measurement.id, withdrawn))
    if indicator_ids is not None:
        query = query.where(Measurement.indicator_id.in_(list(indicator_ids)))
    if quarter_starts is not None:
        query = query.where(Measurement.quarter_start.in_(list(quarter_starts)))
    query = query.order_by(known, Measurement.id)
    return {(i, q): v for i, q, v in session.execute(query)}


def indicator_detail(session: Session, code: str) -> dict[str, Any]:
    """An indicator with every value by quarter, superseded values included."""
    from tracker.periods import Quarter

    indicator = indicator_by_code(session, code)
    measurements = session.scalars(
        select(Measurement)
        .where(Measurement.indicator_id == indicator.id)
        .order_by(Measurement.quarter_start, asof.known_at(session, Measurement), Measurement.id)
    ).all()
    fixes = corrections.load(session)
    retracted = retractions(session)
    current = {m.quarter_start: m.id for m in measurements if fixes.present("measurement", (m.id,))}
    values = fixes.apply("indicator", (indicator.id,), corrections.values_of(indicator, "indicator"))
    return {
        "code": indicator.code,
        "ref": recommendation_ref(session, session.get_one(Recommendation, indicator.recommendation_id)),
        "name": values["name"],
        "unit": values["unit"],
        "direction": values["direction"].value,
        "target": values["target"],
        "measurements": [
            {
                "id": m.id,
                "quarter": str(Quarter.containing(m.quarter_start)),
                "quarter_start": m.quarter_start.isoformat(),
                "value": m.value,
                "note": m.note,
                "evidence_id": m.evidence_id,
                "evidence_retracted": m.evidence_id is not None and m.evidence_id in retracted,
                "current": current.get(m.quarter_start) == m.id,
                "recorded_at": clock.iso_utc(m.recorded_at),
                "recorded_by": m.recorded_by,
                "withdrawn": withdrawal(fixes, "measurement", m.id),
            }
            for m in measurements
        ],
    }


def agency_list(session: Session) -> list[dict[str, Any]]:
    fixes = corrections.load(session)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"lead": 0, "support": 0})
    for rec_id, agency_id, role in session.execute(
        select(RecommendationAgency.recommendation_id, RecommendationAgency.agency_id, RecommendationAgency.role)
    ):
        key = (rec_id, agency_id)
        if fixes.present("recommendation_agency", key):
            counts[agency_id][fixes.apply("recommendation_agency", key, {"role": role})["role"].value] += 1
    return [
        {
            "code": a.code,
            "name": fixes.apply("agency", (a.id,), {"name": a.name})["name"],
            "lead": counts[a.id]["lead"],
            "support": counts[a.id]["support"],
        }
        for a in session.scalars(select(Agency).order_by(Agency.code))
    ]


def sources(session: Session) -> list[Source]:
    return list(session.scalars(select(Source).order_by(Source.published_on.desc(), Source.slug)))


# The audit log ----------------------------------------------------------------------------


def log(session: Session, limit: int | None = None) -> list[dict[str, Any]]:
    """The most recent events, newest first (:func:`log_rows`, as a list)."""
    return list(log_rows(session, limit))


def log_rows(session: Session, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The most recent events, newest first, read from the database a batch at a time."""
    from tracker.store.models import Event

    query = select(Event.seq, Event.recorded_at, Event.actor, Event.action, Event.payload, Event.prev_hash, Event.hash)
    query = query.order_by(Event.seq.desc())
    if limit is not None:
        query = query.limit(limit)
    agencies: dict[int, str] | None = None
    for seq, recorded_at, actor, action, payload, prev_hash, hash_ in session.execute(
        query.execution_options(yield_per=READ_BATCH)
    ):
        row = {
            "seq": seq,
            "recorded_at": clock.iso_utc(recorded_at),
            "actor": actor,
            "action": action,
            "payload": payload,
            "prev_hash": prev_hash,
            "hash": hash_,
        }
        if '"entry_for"' in payload:  # (few events: an entry made on an agency's behalf, --for)
            if agencies is None:
                agencies = dict(session.execute(select(Agency.id, Agency.code)).all())
            if on_behalf := _on_behalf_of(payload, agencies):
                row["for"] = on_behalf
        yield row


def _on_behalf_of(payload: str, agencies: Mapping[int, str]) -> str | None:
    """The agencies (codes, joined by ", ") an event's entries were made on behalf of, if any."""
    try:
        recorded = json.loads(payload).get("rows", {}).get("entry_for", [])
        codes = dict.fromkeys(agencies.get(item["agency_id"], f"agency {item['agency_id']}") for item in recorded)
    except (ValueError, AttributeError, KeyError, TypeError):  # not the tracker's JSON: verify says so
        return None
    return ", ".join(codes) or None


# The history of a record ------------------------------------------------------------------

HISTORY_KINDS = {
    "evidence": "evidence",
    "rec": "recommendation",
    "status": "status_update",
    "indicator": "indicator",
    "measurement": "measurement",
    "agency": "agency",
    "assessor": "assessor",
}


def history_target(session: Session, record: str) -> tuple[str, Any, str]:
    """RECORD (``kind/ident``) -> (table, the stored row, its name as given back)."""
    from tracker import validation

    kind, _, ident = (record or "").strip().partition("/")
    if kind not in HISTORY_KINDS or not ident.strip():
        raise InputError(
            f"unknown record {record!r}: write it as evidence/ID, rec/REF, status/ID, indicator/CODE, "
            "measurement/ID, agency/CODE or assessor/CODE"
        )
    target = HISTORY_KINDS[kind]
    if kind == "evidence":
        row: Any = evidence_by_id(session, validation.identifier(ident, "evidence id"))
    elif kind == "rec":
        row = resolve_ref(session, ident)
    elif kind == "indicator":
        row = indicator_by_code(session, ident)
    elif kind == "agency":
        row = agency_by_code(session, ident)
    elif kind == "assessor":
        row = session.get(Assessor, assessors.roster(session).find(ident).id)
    else:
        model = StatusUpdate if kind == "status" else Measurement
        number = validation.identifier(ident, f"{kind} id")
        row = session.get(model, number)
        if row is None:
            raise NotFound(f"no {kind} with id {number}")
    return target, row, f"{kind}/{ident.strip()}"


def _event_of(session: Session, table: str, key: dict[str, Any], actions: Sequence[str], at: datetime | None) -> Event:
    """The event that recorded a row (by the row's key among its rows)."""
    import json

    query = select(Event).where(Event.action.in_(list(actions))).order_by(Event.seq)
    if at is not None:
        query = query.where(Event.recorded_at == at)
    for event in session.scalars(query):
        for row in json.loads(event.payload).get("rows", {}).get(table, ()):
            if all(row.get(name) == value for name, value in key.items()):
                return event
    raise AssertionError(f"no event records {table} {key}")  # verify would have said so


def _stored_values(target: str, row: Any) -> dict[str, Any]:
    if target == "status_update":
        names = ["status", "effective_on", "note"]
    elif target == "measurement":
        names = ["quarter_start", "value", "note", "evidence_id"]
    else:
        names = list(corrections.TARGETS[target].fields)
    return {name: corrections.encode(target, name, getattr(row, name)) for name in names}


def record_history(session: Session, record: str) -> dict[str, Any]:
    """Every version of a record, oldest first: as first stored, then after each correction
    (with its changes, old -> new), each with who, when, why and its event's hash. A
    recommendation's history includes its assignments' corrections; evidence's, its links'."""
    from tracker.store.models import TRAITS

    target, row, name = history_target(session, record)
    fixes = corrections.load(session)
    key_columns = corrections.TARGETS[target].key_columns
    at = getattr(row, "recorded_at", None)
    first = _event_of(session, target, {c: getattr(row, c) for c in key_columns}, TRAITS[target].written_by, at)
    values = _stored_values(target, row)
    versions: list[dict[str, Any]] = [
        {
            "version": 1,
            "values": dict(values),
            "changes": [],
            "reason": None,
            "recorded_at": clock.iso_utc(first.recorded_at),
            "recorded_by": first.actor,
            "event": first.hash,
        }
    ]
    own: list[tuple[corrections.Amendment, str | None]] = [(item, None) for item in fixes.of(target, (row.id,))]
    before: dict[str, Any] = {}  # what a part (a link, an assignment) was as stored, before its corrections
    if target == "evidence":
        refs = refs_by_id(session)
        own += [
            (item, f"link to {refs[item.key[1]]}")
            for key in fixes.keys("evidence_link")
            if key[0] == row.id
            for item in fixes.of("evidence_link", key)
        ]
        for link in session.scalars(select(EvidenceLink).where(EvidenceLink.evidence_id == row.id)):
            before[f"link to {refs[link.recommendation_id]}: stance"] = corrections.encode(
                "evidence_link", "stance", link.stance
            )
    if target == "recommendation":
        codes = dict(session.execute(select(Agency.id, Agency.code)).all())
        own += [
            (item, f"agency {codes[item.key[1]]}")
            for key in fixes.keys("recommendation_agency")
            if key[0] == row.id
            for item in fixes.of("recommendation_agency", key)
        ]
        for continuation in session.scalars(select(Continuation).where(Continuation.recommendation_id == row.id)):
            thread_part = f"continues {continuation.earlier_ref}"
            own += [(item, thread_part) for item in fixes.of("continuation", (continuation.id,))]
            for field in ("relation", "note"):
                before[f"{thread_part}: {field}"] = corrections.encode(
                    "continuation", field, getattr(continuation, field)
                )
        for assignment in session.scalars(
            select(RecommendationAgency).where(RecommendationAgency.recommendation_id == row.id)
        ):
            before[f"agency {codes[assignment.agency_id]}: role"] = corrections.encode(
                "recommendation_agency", "role", assignment.role
            )
    own.sort(key=lambda pair: (pair[0].known, pair[0].id))
    events = _correction_events(session, [item.id for item, _ in own])
    # one command's corrections are one event: one version
    for event, group in itertools.groupby(own, key=lambda pair: events[pair[0].id]):
        changes = []
        for item, part in group:
            for field, new in item.changes.items():
                label = field if part is None else f"{part}: {field}"
                old = values.get(label, before.get(label))
                values[label] = corrections.encode(item.target, field, new)
                changes.append({"field": label, "old": old, "new": values[label]})
            if item.withdrawn is not None:
                spec = corrections.TARGETS[item.target]
                named, other = (
                    (spec.withdrawn_as, spec.restored_as) if item.withdrawn else (spec.restored_as, spec.withdrawn_as)
                )
                label, opposite = (named, other) if part is None else (f"{part}: {named}", f"{part}: {other}")
                changes.append({"field": label, "old": values.get(label, False), "new": True})
                values[label] = True
                if opposite in values:
                    values[opposite] = False
        versions.append(
            {
                "version": len(versions) + 1,
                "values": dict(values),
                "changes": changes,
                "reason": item.reason,
                "recorded_at": clock.iso_utc(item.recorded_at),
                "recorded_by": item.recorded_by,
                "event": event,
            }
        )
    return {"record": name, "versions": versions}


def _correction_events(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """The hash of the event that recorded each correction."""
    import json

    wanted, found = set(ids), {}
    if not wanted:
        return {}
    for payload, digest in session.execute(
        select(Event.payload, Event.hash).where(Event.action == corrections.ACTION).order_by(Event.seq)
    ):
        for row in json.loads(payload).get("rows", {}).get("correction", ()):
            if row.get("id") in wanted:
                found[row["id"]] = digest
    return found
