"""As of an instant: what the audit chain says had been recorded by then.

Most rows carry their own ``recorded_at``; structural rows (sources, recommendations,
agencies, assignments, indicators: :attr:`tracker.store.models.Traits.structural`) do
not, and the chain says when each came to be. :func:`recorded_after` reads the events
recorded after an instant that may hold such rows.

A clock that ran ahead stamps events (and their rows) with instants after they were made.
A clock correction (:class:`tracker.store.models.ClockCorrection`) records when they were
known: at the correction's own ``recorded_at``, the right time. :func:`known_at` is when
a row or an event was known, taking the corrections into account: every as-of cut and
every "latest recorded" order reads it, so that an as-of cut is always a prefix of the
chain (and a report's fingerprint, its last event, covers all it read).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, literal, select
from sqlalchemy.orm import Session

from tracker.store.models import DOMAIN_TABLES, TRAITS, ClockCorrection, Event, UTCDateTime, structural_actions

_STRUCTURAL = {
    table.name: [column.name for column in table.primary_key.columns]
    for table in DOMAIN_TABLES
    if TRAITS[table.name].structural
}


@dataclass(frozen=True)
class Later:
    """Structural rows recorded after an instant, by table: their keys (an id, or a tuple of ids)."""

    keys: Mapping[str, frozenset[Any]] = field(default_factory=dict)

    def __call__(self, table: str) -> frozenset[Any]:
        """The keys of ``table``'s rows recorded later (a structural table's name)."""
        if table not in _STRUCTURAL:
            raise KeyError(f"{table} is not a structural table")
        return self.keys.get(table, frozenset())


def recorded_after(session: Session, as_of: datetime) -> Later:
    """The structural rows recorded after ``as_of`` (usually none: cheap by the recorded_at index)."""
    found: dict[str, set[Any]] = {name: set() for name in _STRUCTURAL}
    payloads = session.scalars(
        select(Event.payload).where(known_at(session, Event) > as_of, Event.action.in_(structural_actions()))
    )
    for payload in payloads:
        rows = json.loads(payload).get("rows", {})
        for name, key in _STRUCTURAL.items():
            for row in rows.get(name, ()):
                found[name].add(row[key[0]] if len(key) == 1 else tuple(row[column] for column in key))
    return Later({name: frozenset(keys) for name, keys in found.items() if keys})


@dataclass(frozen=True)
class Correction:
    """What :func:`known_at` needs of a clock correction."""

    last_seq: int
    at: datetime  # its recorded_at: when the events and rows before it are known
    rows_before: Mapping[str, int]


_CORRECTIONS = "tracker.audit.asof.corrections"


def corrections(session: Session) -> tuple[Correction, ...]:
    """The clock corrections recorded, in order (usually none): read once per session, as every
    as-of cut of a report asks (:func:`forget_corrections` when one is recorded in it)."""
    found = session.info.get(_CORRECTIONS)
    if found is None:
        rows = session.execute(
            select(ClockCorrection.last_seq, ClockCorrection.recorded_at, ClockCorrection.rows_before).order_by(
                ClockCorrection.id
            )
        )
        found = session.info[_CORRECTIONS] = tuple(Correction(seq, at, json.loads(before)) for seq, at, before in rows)
    return found


def forget_corrections(session: Session) -> None:
    """A clock correction was recorded in ``session``: the next as-of cut reads them again."""
    session.info.pop(_CORRECTIONS, None)


def rows_before(session: Session) -> dict[str, int]:
    """Each table's highest id now, for a clock correction's ``rows_before`` (tables whose
    rows carry their ``recorded_at`` and an integer id)."""
    found = {}
    for table in DOMAIN_TABLES:
        if "recorded_at" in table.c and [c.name for c in table.primary_key.columns] == ["id"]:
            highest = session.scalar(select(table.c.id).order_by(table.c.id.desc()).limit(1))
            found[table.name] = highest or 0
    return found


def known_at(session: Session, model: Any) -> ColumnElement[datetime]:
    """When the record knew each row of ``model`` (a model with ``recorded_at``, or
    :class:`Event`): its ``recorded_at``, or, for one stamped ahead of a later clock
    correction, that correction's ``recorded_at``. Without corrections, ``recorded_at``."""
    column = model.recorded_at
    whens = []
    for correction in corrections(session):
        if model is Event:
            before = model.seq <= correction.last_seq
        else:
            highest = correction.rows_before.get(model.__tablename__)
            if highest is None:
                continue
            before = model.id <= highest
        moment = literal(correction.at, UTCDateTime())
        whens.append((and_(before, column > moment), moment))
    return case(*whens, else_=column) if whens else column
