"""Writes. Each function takes the caller's session first, never commits, and appends
the event that records what it wrote (see :mod:`tracker.audit.verify`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import assessors, clock, corrections, editions, files, periods, validation
from tracker.audit.asof import forget_corrections, rows_before
from tracker.audit.canonical import canonical
from tracker.audit.chain import CLOCK_CORRECTION, CLOCK_TOLERANCE, Chain, attachment_stored
from tracker.errors import Conflict, InputError, NotFound
from tracker.periods import Quarter
from tracker.queries import (
    agency_by_code,
    citable_evidence,
    evidence_by_id,
    indicator_by_code,
    resolve_ref,
    source_by_slug,
)
from tracker.store import models
from tracker.store.models import (
    Agency,
    Assessor,
    Attachment,
    Continuation,
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
    StatusAssessor,
    StatusUpdate,
    StatusUpdateEvidence,
)
from tracker.vocab import (
    AssessorKind,
    Direction,
    EvidenceKind,
    Pillar,
    Relation,
    Reliability,
    Role,
    Sensitivity,
    Stance,
    Status,
    TextStatus,
)

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class FileToAttach:
    """A file read from disk, checked, ready to store by its content."""

    filename: str
    content: bytes
    media_type: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def read_attachment(path: str | Path) -> FileToAttach:
    """Read a file to attach; refuse what is missing, unreadable, a directory or too large."""
    path = Path(path)
    content = files.read_bounded(
        path, limit=MAX_ATTACHMENT_BYTES, label=f"--attach {path}", hint="; attach files one by one"
    )
    filename = validation.text(path.name, "attachment filename", max_length=models.NAME_LENGTH)
    media_type = files.media_type(path.name)
    return FileToAttach(filename=filename, content=content, media_type=media_type)


# Agencies and recommendations -----------------------------------------------------------


def add_agency(session: Session, code: str, name: str, *, actor: str) -> Agency:
    code = validation.code(code, "agency code")
    name = validation.text(name, "agency name")
    if session.scalars(select(Agency).where(Agency.code == code)).first() is not None:
        raise Conflict(f"agency {code!r} already exists: see `tracker agency list`")
    chain = Chain(session, actor)
    agency = Agency(code=code, name=name)
    session.add(agency)
    session.flush()
    chain.append("agency.add", {"agency": [agency]})
    return agency


def add_assessor(
    session: Session,
    code: str,
    name: str,
    kind: AssessorKind | str = AssessorKind.OTHER,
    *,
    default: bool = False,
    actor: str,
) -> Assessor:
    """A new assessor; ``default``: it becomes the default (only when there is none yet:
    changing the default is a correction, :func:`set_default_assessor`)."""
    code = validation.code(code, "assessor code")
    name = validation.text(name, "assessor name")
    kind = validation.choice(kind, AssessorKind, "--kind")
    if session.scalars(select(Assessor).where(Assessor.code == code)).first() is not None:
        raise Conflict(f"assessor {code!r} already exists: see `tracker assessor list`")
    current = assessors.roster(session).default
    if default and current is not None:
        raise Conflict(
            f"{current.code!r} is the default assessor: add {code!r}, then "
            f"`tracker assessor default {code} --reason TEXT` to make it the default"
        )
    chain = Chain(session, actor)
    assessor = Assessor(code=code, name=name, kind=kind, is_default=default)
    session.add(assessor)
    session.flush()
    chain.append("assessor.add", {"assessor": [assessor]})
    return assessor


def set_default_assessor(session: Session, code: str, reason: str | None, *, actor: str) -> list[FieldChange]:
    """Make ``code`` the default assessor: a correction of both assessors' ``is_default``."""
    team = assessors.roster(session)
    chosen = team.find(code)
    corrector = Corrector(session, reason, actor=actor)
    for assessor in team.assessors:
        if assessor.is_default and assessor.id != chosen.id:
            stored = corrections.values_of(session.get(Assessor, assessor.id), "assessor")
            corrector.change("assessor", (assessor.id,), f"assessor {assessor.code}", stored, {"is_default": False})
    stored = corrections.values_of(session.get(Assessor, chosen.id), "assessor")
    corrector.change("assessor", (chosen.id,), f"assessor {chosen.code}", stored, {"is_default": True})
    return corrector.write(f"{chosen.code} is already the default assessor")


def amend_assessor(
    session: Session, code: str, *, name: str | None, kind: str | None, reason: str | None, actor: str
) -> list[FieldChange]:
    new: dict[str, Any] = {}
    if name is not None:
        new["name"] = validation.text(name, "--name")
    if kind is not None:
        new["kind"] = validation.choice(kind, AssessorKind, "--kind")
    chosen = assessors.roster(session).find(code)
    corrector = Corrector(session, reason, actor=actor)
    stored = corrections.values_of(session.get(Assessor, chosen.id), "assessor")
    corrector.change("assessor", (chosen.id,), f"assessor {chosen.code}", stored, new)
    return corrector.write(f"assessor {chosen.code} already says so")


def assign_agency(
    session: Session,
    ref: str,
    agency_code: str,
    role: Role | str,
    *,
    reason: str | None = None,
    co_lead: bool = False,
    actor: str,
) -> list[FieldChange]:
    """Make an agency responsible for a recommendation, or (with a ``reason``, a correction)
    change the role of one already assigned, or assign again one that was unassigned.

    A second lead is refused unless ``co_lead`` says it is meant.
    """
    role = validation.choice(role, Role, "--role")
    rec = resolve_ref(session, ref)
    agency = agency_by_code(session, agency_code)
    known = corrections.load(session)
    if role == Role.LEAD and not co_lead:
        leads = [
            code
            for code, link in _assignments(session, rec.id, known)
            if link["role"] == Role.LEAD and code != agency.code
        ]
        if leads:
            raise InputError(
                f"{ref} already has a lead agency ({', '.join(leads)}): add --co-lead if both lead, "
                f"or make one support with `tracker rec assign {ref} AGENCY --role support --reason TEXT`"
            )
    key = (rec.id, agency.id)
    existing = session.get(RecommendationAgency, key)
    record = f"{agency.code} on {ref}"
    if existing is None:
        chain = Chain(session, actor)
        link = RecommendationAgency(recommendation_id=rec.id, agency_id=agency.id, role=role)
        session.add(link)
        session.flush()
        chain.append("recommendation.assign", {"recommendation_agency": [link]})
        return [FieldChange(record, "role", None, role)]
    if reason is None:
        if not known.present("recommendation_agency", key):
            raise InputError(
                f"agency {agency.code!r} was unassigned from {ref}: assigning it again is a correction, "
                "give --reason TEXT"
            )
        current = known.apply("recommendation_agency", key, {"role": existing.role})["role"]
        raise InputError(
            f"agency {agency.code!r} is already assigned to {ref} as {current.value}: changing that is a "
            "correction, give --reason TEXT"
        )
    corrector = Corrector(session, reason, actor=actor)
    corrector.change("recommendation_agency", key, record, {"role": existing.role}, {"role": role}, withdrawn=False)
    return corrector.write(f"{agency.code} is already assigned to {ref} as {role.value}")


def _assignments(session: Session, rec_id: int, known: corrections.Corrections) -> list[tuple[str, dict[str, Any]]]:
    """A recommendation's assignments now, corrections applied: (agency code, {"role": ...})."""
    found = []
    for link, code in session.execute(
        select(RecommendationAgency, Agency.code).join(Agency).where(RecommendationAgency.recommendation_id == rec_id)
    ):
        key = (rec_id, link.agency_id)
        if known.present("recommendation_agency", key):
            found.append((code, known.apply("recommendation_agency", key, {"role": link.role})))
    return found


def add_recommendation(
    session: Session,
    *,
    source: str,
    code: str,
    title: str,
    text: str,
    pillar: Pillar | str,
    due_on: date | None = None,
    position: int | None = None,
    text_status: TextStatus | str = TextStatus.VERBATIM,
    actor: str,
) -> Recommendation:
    src = source_by_slug(session, source)
    code = validation.code(code, "recommendation code")
    values = dict(
        source_id=src.id,
        code=code,
        title=validation.text(title, "title"),
        text=validation.long_text(text, "text"),
        pillar=validation.choice(pillar, Pillar, "pillar"),
        text_status=validation.choice(text_status, TextStatus, "text_status"),
        due_on=due_on,
        position=position,
    )
    exists = session.scalars(
        select(Recommendation).where(Recommendation.source_id == src.id, Recommendation.code == code)
    ).first()
    if exists is not None:
        raise Conflict(f"recommendation {source}/{code} already exists")
    chain = Chain(session, actor)
    rec = Recommendation(**values)
    session.add(rec)
    session.flush()
    chain.append("recommendation.add", {"recommendation": [rec]})
    return rec


# Status ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusInput:
    """A status assessment as given by a user, validated by :func:`check_status`."""

    status: Status
    effective_on: date
    note: str
    evidence_ids: tuple[int, ...] = ()


# How each field is named in error messages: the command's options by default, a CSV
# file's columns when importing.
STATUS_LABELS = {"status": "status", "effective_on": "--on date", "note": "--note", "evidence": "--evidence id"}


def check_status(
    *,
    status: Status | str | None,
    effective_on: date | str | None,
    note: str | None,
    evidence_ids: Sequence[int | str] = (),
    labels: Mapping[str, str] = STATUS_LABELS,
) -> StatusInput:
    return StatusInput(
        status=validation.choice(status, Status, labels["status"]),
        effective_on=validation.day(effective_on, labels["effective_on"]),
        note=validation.long_text(note, labels["note"]),
        evidence_ids=tuple(dict.fromkeys(validation.identifier(i, labels["evidence"]) for i in evidence_ids)),
    )


def set_status(
    session: Session,
    ref: str,
    status: Status | str,
    *,
    effective_on: date | str,
    note: str,
    evidence_ids: Sequence[int] = (),
    assessor: str | None = None,
    on_behalf_of: str | None = None,
    actor: str,
) -> StatusUpdate:
    """Append an assessment; earlier ones stay in the history. ``assessor``: whose it is (a
    code; None: the default assessor's); ``on_behalf_of``: the agency it is entered for."""
    given = check_status(status=status, effective_on=effective_on, note=note, evidence_ids=evidence_ids)
    rec = resolve_ref(session, ref, given.effective_on)  # the edition in force on that day
    cited = [citable_evidence(session, i).id for i in given.evidence_ids]
    team = assessors.roster(session)
    by = team.find(assessor) if assessor is not None else team.default
    agency = None if on_behalf_of is None else agency_by_code(session, on_behalf_of)
    chain = Chain(session, actor)
    update = StatusUpdate(
        recommendation_id=rec.id,
        status=given.status,
        effective_on=given.effective_on,
        note=given.note,
        recorded_at=chain.recorded_at,
        recorded_by=actor,
    )
    session.add(update)
    session.flush()
    links = [StatusUpdateEvidence(status_update_id=update.id, evidence_id=i) for i in cited]
    session.add_all(links)
    rows: dict[str, list[Any]] = {"status_update": [update], "status_update_evidence": links}
    if by is not None:
        rows["status_assessor"] = [StatusAssessor(status_update_id=update.id, assessor_id=by.id)]
    rows.update(_entered_for(agency, "status_update", update.id))
    session.add_all([row for name in ("status_assessor", "entry_for") for row in rows.get(name, ())])
    session.flush()
    chain.append("status.set", rows)
    return update


def _entered_for(agency: Agency | None, target: str, record_id: int) -> dict[str, list[EntryFor]]:
    """The rows that say an entry was made on behalf of ``agency`` (none when it was not)."""
    if agency is None:
        return {}
    return {"entry_for": [EntryFor(target=target, record_id=record_id, agency_id=agency.id)]}


# Evidence -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceInput:
    """Evidence as given by a user, validated by :func:`check_evidence`."""

    recs: tuple[str, ...]
    title: str
    observed_on: date
    kind: EvidenceKind
    stance: Stance = Stance.PROGRESS
    url: str | None = None
    summary: str | None = None
    source_name: str | None = None
    reliability: Reliability = Reliability.CREDIBLE
    sensitivity: Sensitivity = Sensitivity.INTERNAL


EVIDENCE_LABELS = {
    "rec": "--rec",
    "title": "--title",
    "date": "--date",
    "kind": "kind",
    "stance": "stance",
    "url": "--url",
    "summary": "--summary",
    "source_name": "--source-name",
    "reliability": "reliability",
    "sensitivity": "sensitivity",
}


def check_evidence(
    *,
    recs: Sequence[str],
    title: str | None,
    observed_on: str | date | None,
    kind: str | None,
    stance: str | None = None,
    url: str | None = None,
    summary: str | None = None,
    source_name: str | None = None,
    reliability: str | None = None,
    sensitivity: str | None = None,
    labels: Mapping[str, str] = EVIDENCE_LABELS,
) -> EvidenceInput:
    refs = tuple(dict.fromkeys(r.strip() for r in recs if r and r.strip()))
    if not refs:
        raise InputError(f"{labels['rec']} is required: name at least one recommendation the evidence bears on")
    return EvidenceInput(
        recs=refs,
        title=validation.text(title, labels["title"]),
        observed_on=validation.day(observed_on, labels["date"]),
        kind=validation.choice(kind, EvidenceKind, labels["kind"]),
        stance=validation.choice(stance or Stance.PROGRESS, Stance, labels["stance"]),
        url=validation.text(url, labels["url"], required=False, max_length=models.URL_LENGTH),
        summary=validation.long_text(summary, labels["summary"], required=False),
        source_name=validation.text(source_name, labels["source_name"], required=False, max_length=models.NAME_LENGTH),
        reliability=validation.choice(reliability or Reliability.CREDIBLE, Reliability, labels["reliability"]),
        sensitivity=validation.choice(sensitivity or Sensitivity.INTERNAL, Sensitivity, labels["sensitivity"]),
    )


def add_evidence(
    session: Session,
    evidence: EvidenceInput,
    *,
    attachments: Sequence[FileToAttach] = (),
    on_behalf_of: str | None = None,
    actor: str,
) -> Evidence:
    """Store evidence, its links and its files (each file once by its sha256); ``on_behalf_of``:
    the agency it is entered for."""
    recs = [resolve_ref(session, ref, evidence.observed_on) for ref in evidence.recs]
    agency = None if on_behalf_of is None else agency_by_code(session, on_behalf_of)
    chain = Chain(session, actor)
    row = Evidence(
        title=evidence.title,
        kind=evidence.kind,
        observed_on=evidence.observed_on,
        source_name=evidence.source_name,
        url=evidence.url,
        summary=evidence.summary,
        reliability=evidence.reliability,
        sensitivity=evidence.sensitivity,
        recorded_at=chain.recorded_at,
        recorded_by=actor,
    )
    session.add(row)
    session.flush()
    links = [
        EvidenceLink(evidence_id=row.id, recommendation_id=rec.id, stance=evidence.stance)
        for rec in {rec.id: rec for rec in recs}.values()
    ]
    session.add_all(links)
    stored: list[Attachment] = []
    attached: list[EvidenceAttachment] = []
    unique: dict[str, FileToAttach] = {}
    for file in attachments:
        unique.setdefault(file.sha256, file)  # the same content twice: stored once, under its first name
    for file in unique.values():
        if not attachment_stored(session, file.sha256):
            blob = Attachment(
                sha256=file.sha256, size=len(file.content), media_type=file.media_type, content=file.content
            )
            session.add(blob)
            stored.append(blob)
        attached.append(EvidenceAttachment(evidence_id=row.id, sha256=file.sha256, filename=file.filename))
    session.add_all(attached)
    entered = _entered_for(agency, "evidence", row.id)
    session.add_all(entered.get("entry_for", ()))
    session.flush()
    chain.append(
        "evidence.add",
        {"evidence": [row], "evidence_link": links, "attachment": stored, "evidence_attachment": attached, **entered},
    )
    return row


def retract_evidence(session: Session, evidence_id: int | str, reason: str, *, actor: str) -> EvidenceRetraction:
    evidence = evidence_by_id(session, validation.identifier(evidence_id, "evidence id"))
    reason = validation.long_text(reason, "--reason")
    existing = session.scalars(select(EvidenceRetraction).where(EvidenceRetraction.evidence_id == evidence.id)).first()
    if existing is not None:
        raise Conflict(f"evidence {evidence.id} was already retracted on {existing.recorded_at:%Y-%m-%d}")
    chain = Chain(session, actor)
    retraction = EvidenceRetraction(
        evidence_id=evidence.id, reason=reason, recorded_at=chain.recorded_at, recorded_by=actor
    )
    session.add(retraction)
    session.flush()
    chain.append("evidence.retract", {"evidence_retraction": [retraction]})
    return retraction


# The clock -------------------------------------------------------------------------------


def correct_clock(session: Session, reason: str, *, actor: str) -> models.ClockCorrection:
    """Record that the chain's last events were stamped by a clock that ran ahead.

    Nothing stored changes: from now on they count as known at this correction's instant
    (this machine's clock, which must be right: on PostgreSQL it is checked against the
    server's), and later events are stamped from then on again. Refused when the last
    event is not ahead of the clock by more than :data:`tracker.audit.chain.CLOCK_TOLERANCE`.
    """
    reason = validation.long_text(reason, "--reason")
    chain = Chain(session, actor, correcting_clock=True)
    last = chain.last_recorded_at
    if last is None or last <= chain.recorded_at + CLOCK_TOLERANCE:
        shown = "nothing is recorded yet" if last is None else f"the last event was recorded at {clock.iso_utc(last)}"
        raise Conflict(f"no clock ran ahead: {shown}, and this machine's clock says {clock.iso_utc(chain.recorded_at)}")
    correction = models.ClockCorrection(
        stamped_until=last,
        last_seq=chain.seq,
        rows_before=canonical(rows_before(session)),
        reason=reason,
        recorded_at=chain.recorded_at,
        recorded_by=actor,
    )
    session.add(correction)
    session.flush()
    chain.append(CLOCK_CORRECTION, {"clock_correction": [correction]})
    forget_corrections(session)
    return correction


# Indicators -----------------------------------------------------------------------------


def add_indicator(
    session: Session,
    ref: str,
    *,
    code: str,
    name: str,
    unit: str,
    direction: Direction | str = Direction.UP,
    target: float | str | None = None,
    actor: str,
) -> Indicator:
    code = validation.code(code, "indicator code")
    values = dict(
        code=code,
        name=validation.text(name, "--name"),
        unit=validation.text(unit, "--unit", max_length=models.NAME_LENGTH),
        direction=validation.choice(direction, Direction, "direction"),
        target=validation.number(target, "--target", required=False),
    )
    rec = resolve_ref(session, ref)
    if session.scalars(select(Indicator).where(Indicator.code == code)).first() is not None:
        raise Conflict(f"indicator {code!r} already exists: see `tracker indicator list`")
    chain = Chain(session, actor)
    indicator = Indicator(recommendation_id=rec.id, **values)
    session.add(indicator)
    session.flush()
    chain.append("indicator.add", {"indicator": [indicator]})
    return indicator


@dataclass(frozen=True)
class MeasurementInput:
    """An indicator value as given by a user, validated by :func:`check_measurement`."""

    quarter: Quarter
    value: float
    note: str | None = None
    evidence_id: int | None = None


MEASUREMENT_LABELS = {"quarter": "quarter", "value": "value", "note": "--note", "evidence": "--evidence id"}


def check_measurement(
    *,
    quarter: Quarter | str | None,
    value: float | str | None,
    note: str | None = None,
    evidence_id: int | str | None = None,
    labels: Mapping[str, str] = MEASUREMENT_LABELS,
) -> MeasurementInput:
    if not isinstance(quarter, Quarter):
        if quarter is None or not str(quarter).strip():
            raise InputError(f"{labels['quarter']} is required: write it as YYYYQN, e.g. 2019Q3")
        quarter = Quarter.parse(quarter)
    number = validation.number(value, labels["value"])
    note = validation.long_text(note, labels["note"], required=False)
    if quarter.start > clock.today():  # a UTC date, as every "not in the future" check
        raise InputError(
            f"quarter {quarter} has not started yet (today is {clock.today()} in UTC): record values for past quarters"
        )
    return MeasurementInput(
        quarter=quarter,
        value=number,
        note=note,
        evidence_id=None if evidence_id is None else validation.identifier(evidence_id, labels["evidence"]),
    )


def record_measurement(
    session: Session,
    code: str,
    quarter: Quarter | str,
    value: float | str,
    *,
    note: str | None = None,
    evidence_id: int | str | None = None,
    on_behalf_of: str | None = None,
    actor: str,
) -> Measurement:
    """Record an indicator's value for a quarter; a later value supersedes, both are kept.
    ``on_behalf_of``: the agency it is entered for."""
    given = check_measurement(quarter=quarter, value=value, note=note, evidence_id=evidence_id)
    indicator = indicator_by_code(session, code)
    evidence = None if given.evidence_id is None else citable_evidence(session, given.evidence_id).id
    agency = None if on_behalf_of is None else agency_by_code(session, on_behalf_of)
    chain = Chain(session, actor)
    measurement = Measurement(
        indicator_id=indicator.id,
        quarter_start=given.quarter.start,
        value=given.value,
        note=given.note,
        evidence_id=evidence,
        recorded_at=chain.recorded_at,
        recorded_by=actor,
    )
    session.add(measurement)
    session.flush()
    entered = _entered_for(agency, "measurement", measurement.id)
    session.add_all(entered.get("entry_for", ()))
    session.flush()
    chain.append("measurement.record", {"measurement": [measurement], **entered})
    return measurement


# Corrections ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One attribute a correction changes, for the message that says what changed."""

    record: str
    field: str
    old: Any
    new: Any

    def describe(self) -> str:
        return f"{self.record}: {self.field} {corrections.shown(self.old)} -> {corrections.shown(self.new)}"


class Corrector:
    """Collects one command's corrections, writes them as one event, says what changed.

    The values a correction is measured against are the record's now: as first stored with
    every correction recorded so far applied. Nothing is written when nothing would change.
    """

    def __init__(self, session: Session, reason: str | None, *, actor: str) -> None:
        self.session = session
        self.reason = validation.long_text(reason, "--reason")
        self.actor = actor
        self.known = corrections.load(session)
        self.rows: list[dict[str, Any]] = []
        self.changes: list[FieldChange] = []

    def current(self, target: str, key: Sequence[int], stored: Mapping[str, Any]) -> dict[str, Any]:
        return self.known.apply(target, key, stored)

    def present(self, target: str, key: Sequence[int], stored: bool = True) -> bool:
        return self.known.present(target, key, stored)

    def change(
        self,
        target: str,
        key: Sequence[int],
        record: str,
        stored: Mapping[str, Any],
        new: Mapping[str, Any],
        *,
        withdrawn: bool | None = None,
        exists: bool = True,
    ) -> None:
        """Correct ``new``'s attributes of one record (``stored``: its stored values), and
        withdraw it (``withdrawn=True``) or put it back (False); what would not change is dropped."""
        spec = corrections.TARGETS[target]
        unknown = set(new) - set(spec.fields)
        if unknown:
            raise AssertionError(f"{target} has no correctable {sorted(unknown)}")
        current = self.current(target, key, stored)
        changed = {name: value for name, value in new.items() if current.get(name) != value}
        presence = None
        if withdrawn is not None and self.present(target, key, exists) == withdrawn:
            presence = withdrawn
        if not changed and presence is None:
            return
        for name, value in changed.items():
            self.changes.append(FieldChange(record, name, current.get(name), value))
        if presence is not None:
            self.changes.append(FieldChange(record, spec.withdrawn_as if presence else spec.restored_as, "no", "yes"))
        self.rows.append(
            {
                "target": target,
                "record_id": key[0],
                "record_part": key[1] if len(key) > 1 else None,
                "changes": corrections.stored_changes(target, changed),
                "withdrawn": presence,
            }
        )

    def write(self, nothing: str) -> list[FieldChange]:
        """Record the corrections collected; ``nothing`` says why none would change anything."""
        if not self.rows:
            raise InputError(f"nothing would change: {nothing}")
        chain = Chain(self.session, self.actor)
        rows = [
            models.Correction(**row, reason=self.reason, recorded_at=chain.recorded_at, recorded_by=self.actor)
            for row in self.rows
        ]
        self.session.add_all(rows)
        self.session.flush()
        chain.append(corrections.ACTION, {"correction": rows})
        corrections.remember(self.session, rows)
        return self.changes


EVIDENCE_FIELDS = {
    "title": lambda v: validation.text(v, "--title"),
    "summary": lambda v: validation.long_text(v, "--summary", required=False),
    "kind": lambda v: validation.choice(v, EvidenceKind, "--kind"),
    "observed_on": lambda v: validation.day(v, "--date"),
    "source_name": lambda v: validation.text(v, "--source-name", required=False, max_length=models.NAME_LENGTH),
    "url": lambda v: validation.text(v, "--url", required=False, max_length=models.URL_LENGTH),
    "reliability": lambda v: validation.choice(v, Reliability, "--reliability"),
    "sensitivity": lambda v: validation.choice(v, Sensitivity, "--sensitivity"),
}


def amend_evidence(
    session: Session,
    evidence_id: int | str,
    fields: Mapping[str, str | None],
    *,
    links: Sequence[tuple[str, str]] = (),
    unlinks: Sequence[str] = (),
    reason: str | None,
    actor: str,
) -> list[FieldChange]:
    """Correct evidence: its attributes (``fields``: the given ones, as typed), the stance of
    its links or new links (``links``: REF, stance), links removed (``unlinks``)."""
    new = {name: EVIDENCE_FIELDS[name](value) for name, value in fields.items() if value is not None}
    stances = [(ref, validation.choice(stance, Stance, "--stance")) for ref, stance in links]
    evidence = evidence_by_id(session, validation.identifier(evidence_id, "evidence id"))
    corrector = Corrector(session, reason, actor=actor)
    record = f"evidence {evidence.id}"
    corrector.change("evidence", (evidence.id,), record, corrections.values_of(evidence, "evidence"), new)
    stored = {
        link.recommendation_id: link
        for link in session.scalars(select(EvidenceLink).where(EvidenceLink.evidence_id == evidence.id))
    }
    linked = {rec_id for rec_id in stored if corrector.present("evidence_link", (evidence.id, rec_id))}
    linked |= {
        key[1]
        for key in corrector.known.keys("evidence_link")
        if key[0] == evidence.id and corrector.present("evidence_link", key, key[1] in stored)
    }
    touched: dict[int, str] = {}
    unlinked: set[int] = set()
    day = corrector.current("evidence", (evidence.id,), {"observed_on": evidence.observed_on})["observed_on"]
    for ref, stance in stances:
        rec = resolve_ref(session, ref, day)  # the edition in force on the day it was observed, as when added
        if rec.id in touched:
            raise InputError(f"--rec {ref} is given twice: name each recommendation once")
        touched[rec.id] = ref
        key = (evidence.id, rec.id)
        link = stored.get(rec.id)
        values: dict[str, Any] = {"stance": link.stance if link is not None else None}
        corrector.change(
            "evidence_link",
            key,
            f"{record} on {ref}",
            values,
            {"stance": stance},
            withdrawn=False,
            exists=link is not None,
        )
        linked.add(rec.id)
    for ref in unlinks:
        rec = resolve_ref(session, ref, day)
        if rec.id in unlinked:
            raise InputError(f"--unlink {ref} is given twice: name each recommendation once")
        if rec.id in touched:
            raise InputError(f"{ref} is both linked (--rec) and unlinked (--unlink): give one")
        unlinked.add(rec.id)
        if rec.id not in linked:
            raise InputError(
                f"evidence {evidence.id} does not bear on {ref}: see `tracker evidence show {evidence.id}`"
            )
        link = stored.get(rec.id)
        values = {"stance": link.stance if link is not None else None}
        corrector.change(
            "evidence_link",
            (evidence.id, rec.id),
            f"{record} on {ref}",
            values,
            {},
            withdrawn=True,
            exists=link is not None,
        )
        linked.discard(rec.id)
    if not linked:
        raise InputError(
            f"evidence {evidence.id} would bear on no recommendation: link another with --rec REF --stance S first"
        )
    return corrector.write(f"evidence {evidence.id} already says so")


def withdraw_status(session: Session, update_id: int | str, reason: str | None, *, actor: str) -> list[FieldChange]:
    """Withdraw an assessment: it no longer counts from now on (reports as of earlier keep it)."""
    number = validation.identifier(update_id, "status id")
    update = session.get(StatusUpdate, number)
    if update is None:
        raise NotFound(f"no status assessment with id {number}: `tracker status history REF` lists their ids")
    corrector = Corrector(session, reason, actor=actor)
    corrector.change("status_update", (update.id,), f"status {update.id}", {}, {}, withdrawn=True)
    return corrector.write(f"status {update.id} is already withdrawn")


def withdraw_measurement(
    session: Session, measurement_id: int | str, reason: str | None, *, actor: str
) -> list[FieldChange]:
    """Withdraw an indicator value: the quarter's earlier value, if any, counts again."""
    number = validation.identifier(measurement_id, "measurement id")
    measurement = session.get(Measurement, number)
    if measurement is None:
        raise NotFound(f"no measurement with id {number}: `tracker indicator show CODE` lists their ids")
    corrector = Corrector(session, reason, actor=actor)
    corrector.change("measurement", (measurement.id,), f"measurement {measurement.id}", {}, {}, withdrawn=True)
    return corrector.write(f"measurement {measurement.id} is already withdrawn")


def amend_indicator(
    session: Session,
    code: str,
    *,
    name: str | None = None,
    unit: str | None = None,
    direction: str | None = None,
    target: str | float | None = None,
    no_target: bool = False,
    reason: str | None,
    actor: str,
) -> list[FieldChange]:
    if target is not None and no_target:
        raise InputError("give --target V or --no-target, not both")
    new: dict[str, Any] = {}
    if name is not None:
        new["name"] = validation.text(name, "--name")
    if unit is not None:
        new["unit"] = validation.text(unit, "--unit", max_length=models.NAME_LENGTH)
    if direction is not None:
        new["direction"] = validation.choice(direction, Direction, "--direction")
    if target is not None:
        new["target"] = validation.number(target, "--target")
    if no_target:
        new["target"] = None
    indicator = indicator_by_code(session, code)
    corrector = Corrector(session, reason, actor=actor)
    corrector.change(
        "indicator", (indicator.id,), f"indicator {indicator.code}", corrections.values_of(indicator, "indicator"), new
    )
    return corrector.write(f"indicator {indicator.code} already says so")


def amend_recommendation(
    session: Session,
    ref: str,
    *,
    title: str | None = None,
    text: str | None = None,
    pillar: str | None = None,
    due_on: date | str | None = None,
    no_due: bool = False,
    position: int | str | None = None,
    text_status: str | None = None,
    reason: str | None,
    actor: str,
) -> list[FieldChange]:
    """Correct a recommendation; ``due_on`` and ``position`` as given (text, or already parsed)."""
    if due_on is not None and no_due:
        raise InputError("give --due DATE or --no-due, not both")
    if isinstance(due_on, str):
        due_on = periods.parse_date(due_on, field="--due", allow_future=True)
    if position is not None:
        position = validation.position(position)
    new: dict[str, Any] = {}
    if title is not None:
        new["title"] = validation.text(title, "--title")
    if text is not None:
        new["text"] = validation.long_text(text, "--text")
    if pillar is not None:
        new["pillar"] = validation.choice(pillar, Pillar, "--pillar")
    if due_on is not None or no_due:
        new["due_on"] = due_on
    if position is not None:
        new["position"] = position
    if text_status is not None:
        new["text_status"] = validation.choice(text_status, TextStatus, "text_status")
    rec = resolve_ref(session, ref)
    corrector = Corrector(session, reason, actor=actor)
    corrector.change("recommendation", (rec.id,), f"rec {ref}", corrections.values_of(rec, "recommendation"), new)
    return corrector.write(f"{ref} already says so")


def amend_agency(session: Session, code: str, *, name: str | None, reason: str | None, actor: str) -> list[FieldChange]:
    new = {} if name is None else {"name": validation.text(name, "--name")}
    agency = agency_by_code(session, code)
    corrector = Corrector(session, reason, actor=actor)
    corrector.change("agency", (agency.id,), f"agency {agency.code}", corrections.values_of(agency, "agency"), new)
    return corrector.write(f"agency {agency.code} already says so")


def unassign_agency(
    session: Session, ref: str, agency_code: str, reason: str | None, *, actor: str
) -> list[FieldChange]:
    rec = resolve_ref(session, ref)
    agency = agency_by_code(session, agency_code)
    corrector = Corrector(session, reason, actor=actor)
    key = (rec.id, agency.id)
    link = session.get(RecommendationAgency, key)
    if link is None or not corrector.present("recommendation_agency", key):
        raise InputError(f"agency {agency.code!r} is not assigned to {ref}: see `tracker rec show {ref}`")
    corrector.change("recommendation_agency", key, f"{agency.code} on {ref}", {}, {}, withdrawn=True)
    return corrector.write(f"{agency.code} is not assigned to {ref}")


# Threads ------------------------------------------------------------------------------------


def link_recommendation(
    session: Session,
    ref: str,
    earlier_ref: str,
    relation: Relation | str | None,
    *,
    note: str | None = None,
    reason: str | None = None,
    actor: str,
) -> list[FieldChange]:
    """Record that ``ref`` continues ``earlier_ref`` (a recommendation of an earlier edition),
    with how; or (with a ``reason``, a correction) change the relation or note of a link
    already recorded (None: kept), or link again one that was unlinked."""
    relation = None if relation is None else validation.choice(relation, Relation, "--relation")
    note = validation.long_text(note, "--note", required=False)
    rec = resolve_ref(session, ref)
    earlier = resolve_ref(session, earlier_ref)
    if earlier.id == rec.id:
        raise InputError(f"{ref} cannot continue itself: give a recommendation of an earlier edition")
    source, earlier_source = session.get_one(Source, rec.source_id), session.get_one(Source, earlier.source_id)
    if earlier_source.published_on >= source.published_on:
        raise InputError(
            f"{earlier_source.slug}/{earlier.code} is of an edition published on {earlier_source.published_on}, "
            f"not before {source.slug} ({source.published_on}): a recommendation continues one of an earlier edition"
        )
    record = f"{source.slug}/{rec.code} continues {earlier_source.slug}/{earlier.code}"
    existing = editions.continuation(session, rec.id, earlier_source.slug, earlier.code)
    if existing is None:
        if relation is None:
            raise InputError(f"--relation is required: how {ref} continues {earlier_ref} ({', '.join(Relation)})")
        chain = Chain(session, actor)
        row = Continuation(
            recommendation_id=rec.id,
            earlier_source=earlier_source.slug,
            earlier_code=earlier.code,
            relation=relation,
            note=note,
        )
        session.add(row)
        session.flush()
        chain.append("recommendation.link", {"continuation": [row]})
        return [FieldChange(record, "relation", None, relation)]
    if reason is None:
        raise InputError(
            f"{record} is already recorded: changing its relation or note, or linking it again, is a "
            "correction, give --reason TEXT"
        )
    corrector = Corrector(session, reason, actor=actor)
    corrector.change(
        "continuation",
        (existing.id,),
        record,
        corrections.values_of(existing, "continuation"),
        {name: value for name, value in (("relation", relation), ("note", note)) if value is not None},
        withdrawn=False,
    )
    return corrector.write(f"{record} already says so")


def unlink_recommendation(
    session: Session, ref: str, earlier_ref: str, reason: str | None, *, actor: str
) -> list[FieldChange]:
    """Withdraw a continuation (a correction: the history keeps it)."""
    rec = resolve_ref(session, ref)
    earlier = resolve_ref(session, earlier_ref)
    earlier_slug = session.get_one(Source, earlier.source_id).slug
    ref = f"{session.get_one(Source, rec.source_id).slug}/{rec.code}"  # which edition's, said in full
    corrector = Corrector(session, reason, actor=actor)
    existing = editions.continuation(session, rec.id, earlier_slug, earlier.code)
    record = f"{ref} continues {earlier_slug}/{earlier.code}"
    if existing is None or not corrector.present("continuation", (existing.id,)):
        raise InputError(f"{ref} does not continue {earlier_slug}/{earlier.code}: see `tracker rec thread {ref}`")
    corrector.change("continuation", (existing.id,), record, {}, {}, withdrawn=True)
    return corrector.write(f"{record} is already unlinked")
