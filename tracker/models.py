"""The schema: every table of the domain model, typed SQLAlchemy 2.0 ORM.

Nothing here is updated in place once written: corrections are new rows, and every
row is covered by an ``event`` of the audit chain (see :mod:`tracker.integrity`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

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
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tracker.vocab import (
    Direction,
    EvidenceKind,
    Pillar,
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

# Text length limits, shared with validation so the error comes before the database.
CODE_LENGTH = 64
TITLE_LENGTH = 500
NAME_LENGTH = 200
URL_LENGTH = 2000
ACTOR_LENGTH = 100


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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Source(Base):
    """One report edition that issues recommendations."""

    __tablename__ = "source"

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

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(TITLE_LENGTH))


class RecommendationAgency(Base):
    """Who owns a recommendation."""

    __tablename__ = "recommendation_agency"

    recommendation_id: Mapped[int] = mapped_column(ForeignKey("recommendation.id"), primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    role: Mapped[Role] = mapped_column(vocabulary(Role, "role"))


class StatusUpdate(Base):
    """One assessment of a recommendation; append-only."""

    __tablename__ = "status_update"
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

    status_update_id: Mapped[int] = mapped_column(ForeignKey("status_update.id"), primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), primary_key=True)


class Evidence(Base):
    """One piece of evidence; append-only."""

    __tablename__ = "evidence"
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
    __table_args__ = (Index(None, "recommendation_id", "evidence_id"),)

    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), primary_key=True)
    recommendation_id: Mapped[int] = mapped_column(ForeignKey("recommendation.id"), primary_key=True)
    stance: Mapped[Stance] = mapped_column(vocabulary(Stance, "stance"))


class EvidenceRetraction(Base):
    """Evidence withdrawn; the evidence itself is never deleted."""

    __tablename__ = "evidence_retraction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))


class Attachment(Base):
    """A file, stored once by its content."""

    __tablename__ = "attachment"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(NAME_LENGTH))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class EvidenceAttachment(Base):
    """A file attached to evidence, under the name it was given."""

    __tablename__ = "evidence_attachment"

    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("attachment.sha256"), primary_key=True)
    filename: Mapped[str] = mapped_column(String(NAME_LENGTH))


class Indicator(Base):
    """A number that shows progress on a recommendation."""

    __tablename__ = "indicator"

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

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(NAME_LENGTH))
    rows: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))


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


# Domain tables in the order a restore must insert them (parents first).
DOMAIN_TABLES = [
    Source.__table__,
    Recommendation.__table__,
    Agency.__table__,
    RecommendationAgency.__table__,
    Evidence.__table__,
    EvidenceLink.__table__,
    EvidenceRetraction.__table__,
    Attachment.__table__,
    EvidenceAttachment.__table__,
    StatusUpdate.__table__,
    StatusUpdateEvidence.__table__,
    Indicator.__table__,
    Measurement.__table__,
    ImportBatch.__table__,
]
