"""What an import did (or, in a dry run, would do)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tracker.importing.kinds import KINDS_BY_NAME
from tracker.store.models import TRAITS, Event, Traits

EVENT_TABLE_NAME = Event.__tablename__
# The event table is not a domain table (it has no traits of its own); how summaries name its rows.
_EVENTS = Traits("event", "events")


def count(name: str, number: int) -> str:
    """``number`` rows of the table ``name``, as a summary says it: "1 file", "2 files"."""
    return (_EVENTS if name == EVENT_TABLE_NAME else TRAITS[name]).count(number)


@dataclass(frozen=True)
class ImportSummary:
    """What an import added (or, in a dry run, would add), table by table.

    ``kind`` is ``"export"`` for a restored export, otherwise the name of the CSV file's
    kind (:data:`tracker.importing.kinds.CSV_KINDS`).
    """

    label: str
    kind: str
    rows: int
    added: Mapping[str, int]
    dry_run: bool
    batch_id: int | None = None
    ids: tuple[int, int] | None = None  # the first and last id of the rows of the file's kind

    def describe(self) -> str:
        added = ", ".join(count(name, n) for name, n in self.added.items() if n)
        if self.kind == "export":
            if self.dry_run:
                return f"Would restore {self.label} into this empty database: {added} (dry run: nothing was written)"
            return f"Restored {self.label}: {added}"
        kind = KINDS_BY_NAME[self.kind]
        rows = count(kind.table.name, self.rows)
        if self.dry_run:
            return f"Would import {rows} from {self.label}: {added} (dry run: nothing was written)"
        ids = ""
        if self.ids is not None:
            first, last = self.ids
            one, many = kind.ids
            ids = f" ({one} {first})" if first == last else f" ({many} {first} to {last})"
        return f"Imported {rows} from {self.label} as import {self.batch_id}{ids}: {added}"
