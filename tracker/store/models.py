"""The schema: every table of the domain model, typed SQLAlchemy 2.0 ORM.

Nothing here is updated in place once written: corrections are new rows, and every
row is covered by an ``event`` of the audit chain (see :mod:`tracker.audit.verify`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tracker.vocab import (
    ACTOR_LENGTH,
    CODE_LENGTH,
    NAME_LENGTH,
    TITLE_LENGTH,
    URL_LENGTH,
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

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC instant, stored without offset (SQLite drops offsets), read back aware."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def vocabulary(enum: type[StrEnum], name: str) -> Enum:
    """A vocabulary column: its string values, a named CHECK, no native enum type."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


@dataclass(frozen=True)
class Traits:
    """What the rest of the tracker needs to know of a domain table, declared with its model.

    - ``noun``/``plural``: how summaries name its rows ("1 file", "2 files").
    - ``structural``: its rows have no ``recorded_at`` of their own (the catalog's
      sources, recommendations, agencies, assignments and indicators): a report as of an
      instant knows them by the time of the event that recorded them.
    - ``unordered``: its rows are not inserted in the order of the events that record them
      (files stored once by content, assignments keyed by two ids): verification matches
      them by key rather than in order.
    - ``written_by``: the actions whose events record its rows.
    """

    noun: str
    plural: str
    structural: bool = False
    unordered: bool = False
    written_by: tuple[str, ...] = ()

    def count(self, number: int) -> str:
        return f"{number} {self.noun if number == 1 else self.plural}"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Source(Base):
    """One report edition that issues recommendations."""

    __tablename__ = "source"
    traits: ClassVar[Traits] = Traits("source", "sources", structural=True, written_by=("catalog.load",))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    publisher: Mapped[str] = mapped_column(String(NAME_LENGTH))
    country: Mapped[str] = mapped_column(String(2))
    published_on: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    rating: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    complete: Mapped[bool] = mapped_column(Boolean, default=True)


class Recommendation(Base):
    """One recommendation of a source, as published."""

    __tablename__ = "recommendation"
    traits: ClassVar[Traits] = Traits(
        "recommendation", "recommendations", structural=True, written_by=("catalog.load", "recommendation.add")
    )
    __table_args__ = (UniqueConstraint("source_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"))
    code: Mapped[str] = mapped_column(String(CODE_LENGTH))
    position: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    text: Mapped[str] = mapped_column(Text)
    text_status: Mapped[TextStatus] = mapped_column(vocabulary(TextStatus, "text_status"))
    note: Mapped[str | None] = mapped_column(Text)
    pillar: Mapped[Pillar] = mapped_column(vocabulary(Pillar, "pillar"))
    due_on: Mapped[date | None] = mapped_column(Date)


class Agency(Base):
    """A responsible body."""

    __tablename__ = "agency"
    traits: ClassVar[Traits] = Traits("agency", "agencies", structural=True, written_by=("catalog.load", "agency.add"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(TITLE_LENGTH))


class RecommendationAgency(Base):
    """Who owns a recommendation."""

    __tablename__ = "recommendation_agency"
    traits: ClassVar[Traits] = Traits(
        "agency assignment",
        "agency assignments",
        structural=True,
        unordered=True,
        written_by=("catalog.load", "recommendation.assign"),
    )

    recommendation_id: Mapped[int] = mapped_column(ForeignKey("recommendation.id"), primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    role: Mapped[Role] = mapped_column(vocabulary(Role, "role"))


class Continuation(Base):
    """A recommendation continues one of an earlier edition (the thread from edition to
    edition), with how: repeated, reworded, narrowed...

    The earlier recommendation is named by its source's slug and its code, not by id, so
    that a catalog can declare it before that edition is loaded: the link counts once
    both are stored (and, in a report as of an instant, once both were known)."""

    __tablename__ = "continuation"
    traits: ClassVar[Traits] = Traits(
        "continuation", "continuations", structural=True, written_by=("catalog.load", "recommendation.link")
    )
    __table_args__ = (UniqueConstraint("recommendation_id", "earlier_source", "earlier_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recommendation_id: Mapped[int] = mapped_column(ForeignKey("recommendation.id"))
    earlier_source: Mapped[str] = mapped_column(String(CODE_LENGTH))
    earlier_code: Mapped[str] = mapped_column(String(CODE_LENGTH))
    relation: Mapped[Relation] = mapped_column(vocabulary(Relation, "relation"))
    note: Mapped[str | None] = mapped_column(Text)

    @property
    def earlier_ref(self) -> str:
        return f"{self.earlier_source}/{self.earlier_code}"


class StatusUpdate(Base):
    """One assessment of a recommendation; append-only."""

    __tablename__ = "status_update"
    traits: ClassVar[Traits] = Traits("status update", "status updates", written_by=("status.set",))
    __table_args__ = (
        Index(None, "recommendation_id", "effective_on"),
        CheckConstraint("length(note) > 0", name="note_not_blank"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recommendation_id: Mapped[int] = mapped_column(ForeignKey("recommendation.id"))
    status: Mapped[Status] = mapped_column(vocabulary(Status, "status"))
    effective_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))


class StatusUpdateEvidence(Base):
    """Evidence cited by a status update."""

    __tablename__ = "status_update_evidence"
    traits: ClassVar[Traits] = Traits("cited evidence link", "cited evidence links", written_by=("status.set",))

    status_update_id: Mapped[int] = mapped_column(ForeignKey("status_update.id"), primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), primary_key=True)


class Evidence(Base):
    """One piece of evidence; append-only."""

    __tablename__ = "evidence"
    traits: ClassVar[Traits] = Traits("evidence row", "evidence rows", written_by=("evidence.add",))
    __table_args__ = (Index(None, "observed_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    kind: Mapped[EvidenceKind] = mapped_column(vocabulary(EvidenceKind, "evidence_kind"))
    observed_on: Mapped[date] = mapped_column(Date)
    source_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    url: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    summary: Mapped[str | None] = mapped_column(Text)
    reliability: Mapped[Reliability] = mapped_column(vocabulary(Reliability, "reliability"))
    sensitivity: Mapped[Sensitivity] = mapped_column(vocabulary(Sensitivity, "sensitivity"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))


class EvidenceLink(Base):
    """Evidence bears on a recommendation."""

    __tablename__ = "evidence_link"
    traits: ClassVar[Traits] = Traits("evidence link", "evidence links", written_by=("evidence.add",))
    __table_args__ = (Index(None, "recommendation_id", "evidence_id"),)

    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), primary_key=True)
    recommendation_id: Mapped[int] = mapped_column(ForeignKey("recommendation.id"), primary_key=True)
    stance: Mapped[Stance] = mapped_column(vocabulary(Stance, "stance"))


class EvidenceRetraction(Base):
    """Evidence withdrawn; the evidence itself is never deleted."""

    __tablename__ = "evidence_retraction"
    traits: ClassVar[Traits] = Traits("retraction", "retractions", written_by=("evidence.retract",))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))


class Attachment(Base):
    """A file, stored once by its content."""

    __tablename__ = "attachment"
    traits: ClassVar[Traits] = Traits("file", "files", unordered=True, written_by=("evidence.add",))

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(NAME_LENGTH))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class EvidenceAttachment(Base):
    """A file attached to evidence, under the name it was given."""

    __tablename__ = "evidence_attachment"
    traits: ClassVar[Traits] = Traits("file attachment", "file attachments", written_by=("evidence.add",))

    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("attachment.sha256"), primary_key=True)
    filename: Mapped[str] = mapped_column(String(NAME_LENGTH))


class Indicator(Base):
    """A number that shows progress on a recommendation."""

    __tablename__ = "indicator"
    traits: ClassVar[Traits] = Traits(
        "indicator", "indicators", structural=True, written_by=("catalog.load", "indicator.add")
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recommendation_id: Mapped[int] = mapped_column(ForeignKey("recommendation.id"), index=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    unit: Mapped[str] = mapped_column(String(NAME_LENGTH))
    direction: Mapped[Direction] = mapped_column(vocabulary(Direction, "direction"))
    target: Mapped[float | None] = mapped_column(Float)


class Measurement(Base):
    """An indicator's value for a quarter; append-only, the latest recorded wins."""

    __tablename__ = "measurement"
    traits: ClassVar[Traits] = Traits("measurement", "measurements", written_by=("measurement.record",))
    __table_args__ = (Index(None, "indicator_id", "quarter_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id"))
    quarter_start: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))


class ImportBatch(Base):
    """One file imported with ``tracker import``, by the hash of its content."""

    __tablename__ = "import_batch"
    traits: ClassVar[Traits] = Traits("import record", "import records", written_by=("import.file",))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(NAME_LENGTH))
    rows: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))


class ClockCorrection(Base):
    """The record that the chain's last events were stamped by a clock that ran ahead.

    Events up to ``last_seq`` stamped after this row's ``recorded_at`` (the right time, when
    it was recorded) are known from then on, as are the rows they recorded (``rows_before``:
    each table's highest id at that moment, as canonical JSON); later events are stamped from
    ``recorded_at`` on again. Nothing stored is changed: see :mod:`tracker.audit.asof`.
    """

    __tablename__ = "clock_correction"
    traits: ClassVar[Traits] = Traits(
        "clock correction", "clock corrections", written_by=("clock.correct",)
    )  # chain.CLOCK_CORRECTION

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stamped_until: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seq: Mapped[int] = mapped_column(Integer)
    rows_before: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))


class Correction(Base):
    """A correction of a stored record: a new row, never an update (see :mod:`tracker.corrections`).

    ``target`` names the kind of record (its table), ``record_id`` and ``record_part`` its
    key (the second part for records keyed by two ids: an assignment, an evidence link).
    ``changes`` holds the new values of the attributes it changes, as canonical JSON;
    ``withdrawn`` says whether it withdraws the record (True), puts it back or adds it
    (False), or leaves its presence as it was (NULL).
    """

    __tablename__ = "correction"
    traits: ClassVar[Traits] = Traits("correction", "corrections", written_by=("correction.record",))
    __table_args__ = (
        Index(None, "target", "record_id"),
        CheckConstraint("length(reason) > 0", name="reason_not_blank"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(CODE_LENGTH))
    record_id: Mapped[int] = mapped_column(Integer)
    record_part: Mapped[int | None] = mapped_column(Integer)
    changes: Mapped[str] = mapped_column(Text)
    withdrawn: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))


class Assessor(Base):
    """A party that assesses recommendations: a government committee, an NGO coalition, an
    embassy. The default one's assessments are a recommendation's status; the others' are
    compared beside it. Which is the default is an attribute a correction changes."""

    __tablename__ = "assessor"
    traits: ClassVar[Traits] = Traits("assessor", "assessors", structural=True, written_by=("assessor.add",))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    kind: Mapped[AssessorKind] = mapped_column(vocabulary(AssessorKind, "assessor_kind"))
    is_default: Mapped[bool] = mapped_column(Boolean)


class StatusAssessor(Base):
    """Whose assessment a status update is. A status update without one was recorded before
    any assessor was named: it is the default assessor's."""

    __tablename__ = "status_assessor"
    traits: ClassVar[Traits] = Traits("assessor attribution", "assessor attributions", written_by=("status.set",))

    status_update_id: Mapped[int] = mapped_column(ForeignKey("status_update.id"), primary_key=True)
    assessor_id: Mapped[int] = mapped_column(ForeignKey("assessor.id"), index=True)


class EntryFor(Base):
    """An entry made on behalf of an agency (the secretariat entering a ministry's update):
    ``target`` names the kind of entry (its table: ``evidence``, ``status_update`` or
    ``measurement``), ``record_id`` the entry."""

    __tablename__ = "entry_for"
    traits: ClassVar[Traits] = Traits(
        "on-behalf record", "on-behalf records", written_by=("status.set", "evidence.add", "measurement.record")
    )
    __table_args__ = (UniqueConstraint("target", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(CODE_LENGTH))
    record_id: Mapped[int] = mapped_column(Integer)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))


ON_BEHALF_TARGETS = ("evidence", "status_update", "measurement")
"""The entries that may be made on behalf of an agency (:class:`EntryFor`)."""


class Event(Base):
    """The audit log: one row per write, hash-chained."""

    __tablename__ = "event"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    action: Mapped[str] = mapped_column(String(CODE_LENGTH))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


# The registry: every domain model, in the order a restore must insert them (parents first).
# A new table is a model above, with its traits, and its place in this list.
DOMAIN_MODELS: tuple[type[Base], ...] = (
    Source,
    Recommendation,
    Agency,
    RecommendationAgency,
    Continuation,
    Evidence,
    EvidenceLink,
    EvidenceRetraction,
    Attachment,
    EvidenceAttachment,
    StatusUpdate,
    StatusUpdateEvidence,
    Indicator,
    Measurement,
    ImportBatch,
    ClockCorrection,
    Correction,
    Assessor,
    StatusAssessor,
    EntryFor,
)
DOMAIN_TABLES: list[Table] = [model.__table__ for model in DOMAIN_MODELS]  # type: ignore[misc]
TRAITS: dict[str, Traits] = {model.__tablename__: model.traits for model in DOMAIN_MODELS}  # type: ignore[attr-defined]


def traits(name: str) -> Traits:
    """The traits of the domain table ``name`` (KeyError if it is none)."""
    return TRAITS[name]


def recorded_at_column(table: Table) -> str | None:
    """The column that holds when a row was recorded, if the table has one."""
    return "recorded_at" if "recorded_at" in table.c else None


def structural_actions() -> tuple[str, ...]:
    """The actions whose events may record structural rows (sources, recommendations...)."""
    return tuple(sorted({action for t in TRAITS.values() if t.structural for action in t.written_by}))
