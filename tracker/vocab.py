"""The controlled vocabularies of the domain model, stored as their string values."""

from __future__ import annotations

from enum import StrEnum

# Text length limits, shared with validation so the error comes before the database.
CODE_LENGTH = 64
TITLE_LENGTH = 500
NAME_LENGTH = 200
URL_LENGTH = 2000
ACTOR_LENGTH = 100


class Status(StrEnum):
    """How far a recommendation has been implemented, in order of progress."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    PARTIALLY_IMPLEMENTED = "partially_implemented"
    IMPLEMENTED = "implemented"

    @property
    def rank(self) -> int:
        return list(Status).index(self)


class TextStatus(StrEnum):
    VERBATIM = "verbatim"
    PARAPHRASE = "paraphrase"


class Relation(StrEnum):
    """How a recommendation of a later edition continues one of an earlier edition."""

    REPEATED = "repeated"  # the same text
    REWORDED = "reworded"
    NARROWED = "narrowed"
    BROADENED = "broadened"
    MERGED = "merged"  # several earlier ones, in one
    SPLIT = "split"  # one earlier one, in several


class Pillar(StrEnum):
    PROSECUTION = "prosecution"
    PROTECTION = "protection"
    PREVENTION = "prevention"
    PARTNERSHIP = "partnership"


class Role(StrEnum):
    LEAD = "lead"
    SUPPORT = "support"


class AssessorKind(StrEnum):
    """Who an assessor is: the government's own committee, a coalition of NGOs, an embassy..."""

    GOVERNMENT = "government"
    NGO = "ngo"
    DONOR = "donor"
    INTERNATIONAL = "international"
    OTHER = "other"


class EvidenceKind(StrEnum):
    LAW = "law"
    REGULATION = "regulation"
    POLICY = "policy"
    COURT_CASE = "court_case"
    STATISTIC = "statistic"
    INSPECTION = "inspection"
    TRAINING = "training"
    GOVERNMENT_STATEMENT = "government_statement"
    NGO_REPORT = "ngo_report"
    MEDIA_REPORT = "media_report"
    FIELD_OBSERVATION = "field_observation"
    OTHER = "other"


class Stance(StrEnum):
    PROGRESS = "progress"
    SETBACK = "setback"
    CONTEXT = "context"


class Reliability(StrEnum):
    CONFIRMED = "confirmed"
    CREDIBLE = "credible"
    UNVERIFIED = "unverified"


class Sensitivity(StrEnum):
    """Who may see a piece of evidence; each level sees itself and those below it."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"

    @property
    def rank(self) -> int:
        return list(Sensitivity).index(self)


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


class Change(StrEnum):
    ADVANCED = "advanced"
    REGRESSED = "regressed"
    UNCHANGED = "unchanged"


def change_between(previous: Status, current: Status) -> Change:
    if current.rank > previous.rank:
        return Change.ADVANCED
    if current.rank < previous.rank:
        return Change.REGRESSED
    return Change.UNCHANGED


# Every vocabulary with the name of its CHECK constraint, for the schema and its tests.
VOCABULARIES: dict[str, type[StrEnum]] = {
    "status": Status,
    "text_status": TextStatus,
    "pillar": Pillar,
    "role": Role,
    "evidence_kind": EvidenceKind,
    "stance": Stance,
    "reliability": Reliability,
    "sensitivity": Sensitivity,
    "direction": Direction,
}
