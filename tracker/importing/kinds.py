"""The kinds of CSV file ``tracker import`` reads, each recognised by its header."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table

from tracker.store import models


@dataclass(frozen=True)
class CsvKind:
    """One kind of CSV file, recognised by its required columns.

    Each data row becomes one row of ``table`` (with the rows that go with it), whose
    ids a summary names as ``ids`` (singular, plural): "evidence 2 to 4".
    """

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    table: Table
    ids: tuple[str, str]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    @property
    def a_file(self) -> str:
        """``an evidence file``, ``a measurement file``: how messages name a file of this kind."""
        article = "an" if self.name[0] in "aeiou" else "a"
        return f"{article} {self.name} file"

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        """Errors name a field by its column."""
        return {column: column for column in self.columns}


EVIDENCE = CsvKind(
    "evidence",
    ("rec", "title", "date", "kind"),
    ("stance", "url", "summary", "source_name", "reliability", "sensitivity"),
    cast(Table, models.Evidence.__table__),
    ("evidence", "evidence"),
)
STATUS = CsvKind(
    "status update",
    ("rec", "status", "effective_on", "note"),
    ("evidence",),
    cast(Table, models.StatusUpdate.__table__),
    ("status update", "status updates"),
)
MEASUREMENT = CsvKind(
    "measurement",
    ("indicator", "quarter", "value"),
    ("note", "evidence"),
    cast(Table, models.Measurement.__table__),
    ("measurement", "measurements"),
)
CSV_KINDS = (EVIDENCE, STATUS, MEASUREMENT)
KINDS_BY_NAME = {kind.name: kind for kind in CSV_KINDS}
LIST_SEPARATOR = ";"
