"""As of an instant: what the audit chain says had been recorded by then.

Most rows carry their own ``recorded_at``; structural rows (sources, recommendations,
agencies, assignments, indicators: :attr:`tracker.store.models.Traits.structural`) do
not, and the chain says when each came to be. :func:`recorded_after` reads the events
recorded after an instant that may hold such rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.store.models import DOMAIN_TABLES, TRAITS, Event, structural_actions

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
        select(Event.payload).where(Event.recorded_at > as_of, Event.action.in_(structural_actions()))
    )
    for payload in payloads:
        rows = json.loads(payload).get("rows", {})
        for name, key in _STRUCTURAL.items():
            for row in rows.get(name, ()):
                found[name].add(row[key[0]] if len(key) == 1 else tuple(row[column] for column in key))
    return Later({name: frozenset(keys) for name, keys in found.items() if keys})
