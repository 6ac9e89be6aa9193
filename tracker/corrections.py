"""Corrections: what a record is at an instant.

Nothing stored is updated in place. A correction (:class:`tracker.store.models.Correction`)
is a new row that names the record it corrects (``target``: the record's table, and its
key), the new values of the attributes it changes, a reason, who and when, and whether it
withdraws the record or puts it back. A record as known at an instant T is the record as
first stored with every correction known at or before T (:func:`tracker.audit.asof.known_at`)
applied in order: by when it was known, then by id.

The kinds of record that can be corrected, and which of their attributes, are declared
once here (:data:`TARGETS`); the writer (:mod:`tracker.services`), the reads
(:mod:`tracker.queries`, :mod:`tracker.reports`) and ``tracker history`` all read them.

One exception to "as of T": a correction that raises evidence's sensitivity also hides it
from every report made later at the lower audience, whatever its ``--as-of``
(:meth:`Corrections.sensitivity`): what someone has said must not be shown is not shown
again, even as it was once known.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, select
from sqlalchemy import Enum as Vocabulary
from sqlalchemy.orm import Session

from tracker.audit.asof import known_at
from tracker.audit.canonical import canonical
from tracker.store.models import (
    Agency,
    Assessor,
    Base,
    Continuation,
    Correction,
    Evidence,
    EvidenceLink,
    Indicator,
    Measurement,
    Recommendation,
    RecommendationAgency,
    StatusUpdate,
)
from tracker.vocab import Sensitivity

ACTION = "correction.record"
"""The action of the event that records one command's corrections."""


@dataclass(frozen=True)
class Target:
    """A kind of record that can be corrected.

    ``fields``: the attributes a correction may change; ``withdrawable``: whether a
    correction may withdraw it (and, for ``restorable`` ones, put it back or add it).
    """

    model: type[Base]
    label: str
    fields: tuple[str, ...] = ()
    withdrawable: bool = False
    restorable: bool = False
    withdrawn_as: str = "withdrawn"  # how messages and reports name a withdrawal
    restored_as: str = "restored"  # and putting it back (or adding it)

    @property
    def name(self) -> str:
        return self.model.__tablename__

    @property
    def key_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.model.__table__.primary_key.columns)  # type: ignore[attr-defined]


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target(
            Evidence,
            "evidence",
            ("title", "summary", "kind", "observed_on", "source_name", "url", "reliability", "sensitivity"),
        ),
        Target(EvidenceLink, "evidence link", ("stance",), True, True, "unlinked", "linked"),
        Target(StatusUpdate, "status", withdrawable=True),
        Target(Measurement, "measurement", withdrawable=True),
        Target(Indicator, "indicator", ("name", "unit", "direction", "target")),
        Target(Recommendation, "rec", ("title", "text", "pillar", "due_on", "position", "text_status")),
        Target(RecommendationAgency, "assignment", ("role",), True, True, "unassigned", "assigned"),
        Target(Agency, "agency", ("name",)),
        Target(Continuation, "continuation", ("relation", "note"), True, True, "unlinked", "linked"),
        Target(Assessor, "assessor", ("name", "kind", "is_default")),
    )
}


def encode(target: str, name: str, value: Any) -> Any:
    """An attribute's value as a correction stores it (plain JSON: dates as ISO strings)."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "value"):  # a vocabulary member
        return value.value
    return value


def decode(target: str, name: str, value: Any) -> Any:
    """An attribute's value from a correction, as the model's column gives it."""
    if value is None:
        return None
    column = TARGETS[target].model.__table__.c[name]
    kind = column.type
    if isinstance(kind, Vocabulary) and kind.enum_class is not None:
        return kind.enum_class(value)
    if isinstance(kind, Date):
        return date.fromisoformat(value)
    if kind.python_type is float:
        return float(value)
    return value


def shown(value: Any) -> str:
    """An attribute's value as messages and reports print it."""
    value = encode("", "", value)
    if value is None:
        return "(none)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Amendment:
    """One stored correction, decoded."""

    id: int
    target: str
    key: tuple[int, ...]
    changes: Mapping[str, Any]
    withdrawn: bool | None
    reason: str
    known: datetime
    recorded_at: datetime
    recorded_by: str

    @property
    def label(self) -> str:
        return TARGETS[self.target].label


def key_of(target: str, record_id: int, record_part: int | None) -> tuple[int, ...]:
    return (record_id,) if record_part is None else (record_id, record_part)


class Corrections:
    """The corrections known at an instant, by record, in the order they apply."""

    def __init__(self, items: Sequence[Amendment], later: Sequence[Amendment] = ()) -> None:
        self.items = tuple(items)
        self._later = tuple(later)
        self._by: dict[tuple[str, tuple[int, ...]], list[Amendment]] = defaultdict(list)
        for item in self.items:
            self._by[(item.target, item.key)].append(item)

    def __bool__(self) -> bool:
        return bool(self.items) or bool(self._later)

    def at(self, as_of: datetime | None) -> Corrections:
        """Those known at or before ``as_of`` (None: all)."""
        if as_of is None:
            return self
        known = [item for item in self.items if item.known <= as_of]
        later = [item for item in self.items if item.known > as_of] + list(self._later)
        return Corrections(known, later)

    def of(self, target: str, key: Iterable[int]) -> tuple[Amendment, ...]:
        return tuple(self._by.get((target, tuple(key)), ()))

    def keys(self, target: str) -> set[tuple[int, ...]]:
        return {key for (name, key) in self._by if name == target}

    def ids(self, target: str) -> set[int]:
        """The first key part of every corrected record of ``target``."""
        return {key[0] for key in self.keys(target)}

    def apply(self, target: str, key: Iterable[int], values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` (a record's stored attributes) with its corrections applied."""
        found = dict(values)
        for item in self.of(target, key):
            found.update(item.changes)
        return found

    def present(self, target: str, key: Iterable[int], stored: bool = True) -> bool:
        """Whether the record counts: the last correction that withdrew it or put it back says,
        else whether it is stored."""
        for item in reversed(self.of(target, key)):
            if item.withdrawn is not None:
                return not item.withdrawn
        return stored

    def withdrawn(self, target: str) -> set[tuple[int, ...]]:
        """The keys of ``target``'s records withdrawn (and not put back)."""
        return {key for key in self.keys(target) if not self.present(target, key)}

    def raised_later(self) -> set[int]:
        """The evidence whose sensitivity a correction known later raised (or may have)."""
        return {item.key[0] for item in self._later if item.target == "evidence" and "sensitivity" in item.changes}

    def corrected(self, target: str, key: Iterable[int]) -> bool:
        return bool(self.of(target, key))

    def sensitivity(self, evidence_id: int, known: Sensitivity) -> Sensitivity:
        """Evidence's sensitivity for a report: ``known`` (as of the report's instant), or higher
        when a correction known later raised it (see the module's note)."""
        level = known
        for item in self._later:
            if item.target == "evidence" and item.key == (evidence_id,):
                raised = item.changes.get("sensitivity")
                if raised is not None and raised.rank > level.rank:
                    level = raised
        return level

    def versions(
        self, target: str, key: Iterable[int], stored: Mapping[str, Any]
    ) -> Iterator[tuple[Amendment, dict[str, Any], dict[str, Any]]]:
        """Each correction of a record with its values before and after it."""
        current = dict(stored)
        for item in self.of(target, key):
            before = dict(current)
            current.update(item.changes)
            yield item, before, dict(current)

    def during(self, start: datetime, end: datetime) -> tuple[Amendment, ...]:
        """Those known in [start, end)."""
        return tuple(item for item in self.items if start <= item.known < end)


_CACHE = "tracker.corrections.load"


def load(session: Session) -> Corrections:
    """Every correction recorded, in the order they apply (read once per session:
    :func:`forget` when one is recorded in it)."""
    found = session.info.get(_CACHE)
    if found is None:
        known = known_at(session, Correction)
        rows = session.execute(
            select(
                Correction.id,
                Correction.target,
                Correction.record_id,
                Correction.record_part,
                Correction.changes,
                Correction.withdrawn,
                Correction.reason,
                known,
                Correction.recorded_at,
                Correction.recorded_by,
            ).order_by(known, Correction.id)
        )
        items = []
        for id_, target, record_id, part, changes, withdrawn, reason, when, recorded_at, by in rows:
            values = json.loads(changes)
            items.append(
                Amendment(
                    id=id_,
                    target=target,
                    key=key_of(target, record_id, part),
                    changes={name: decode(target, name, value) for name, value in values.items()},
                    withdrawn=withdrawn,
                    reason=reason,
                    known=when,
                    recorded_at=recorded_at,
                    recorded_by=by,
                )
            )
        found = session.info[_CACHE] = Corrections(items)
    return found


def remember(session: Session, rows: Sequence[Correction]) -> None:
    """Corrections just recorded in ``session`` (flushed): added to what :func:`load` read, if it
    did, rather than read again (an import records one per row). Their ``recorded_at`` is when
    they are known: they follow every clock correction."""
    found = session.info.get(_CACHE)
    if found is None:
        return
    added = [
        Amendment(
            id=row.id,
            target=row.target,
            key=key_of(row.target, row.record_id, row.record_part),
            changes={name: decode(row.target, name, value) for name, value in json.loads(row.changes).items()},
            withdrawn=row.withdrawn,
            reason=row.reason,
            known=row.recorded_at,
            recorded_at=row.recorded_at,
            recorded_by=row.recorded_by,
        )
        for row in rows
    ]
    session.info[_CACHE] = Corrections([*found.items, *added])


def forget(session: Session) -> None:
    """A correction was recorded in ``session``: the next read loads them again."""
    session.info.pop(_CACHE, None)


def as_of(session: Session, moment: datetime | None) -> Corrections:
    """The corrections known at ``moment`` (None: all)."""
    return load(session).at(moment)


def stored_changes(target: str, changes: Mapping[str, Any]) -> str:
    """A correction's ``changes`` column: canonical JSON of the new values, encoded."""
    return canonical({name: encode(target, name, value) for name, value in changes.items()})


def values_of(row: Any, target: str) -> dict[str, Any]:
    """The correctable attributes of a stored ORM row."""
    return {name: getattr(row, name) for name in TARGETS[target].fields}
