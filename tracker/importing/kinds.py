"""The kinds of CSV file ``tracker import`` reads, each recognised by its header."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from sqlalchemy import Table

from tracker import corrections, queries
from tracker.store import models
from tracker.vocab import Direction, EvidenceKind, Pillar, Reliability, Sensitivity, Stance, Status, TextStatus

VOCABULARY_COLUMNS: dict[str, type[StrEnum]] = {
    "kind": EvidenceKind,
    "stance": Stance,
    "reliability": Reliability,
    "sensitivity": Sensitivity,
    "status": Status,
    "pillar": Pillar,
    "text_status": TextStatus,
    "direction": Direction,
}
"""The columns (and the fields of a correction file) that hold a vocabulary's values: read in
any case (``Inspection``), stored as the vocabulary spells them (``inspection``)."""
DATE_COLUMNS = frozenset({"date", "effective_on"})


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

    @functools.cached_property
    def vocabularies(self) -> dict[str, type[StrEnum]]:
        """Its columns that hold a vocabulary's values, with the vocabulary."""
        return {column: VOCABULARY_COLUMNS[column] for column in self.columns if column in VOCABULARY_COLUMNS}

    @functools.cached_property
    def dates(self) -> tuple[str, ...]:
        """Its columns that hold a day."""
        return tuple(column for column in self.columns if column in DATE_COLUMNS)

    @functools.cached_property
    def named_column(self) -> re.Pattern[str]:
        """Finds the first of its columns an error message names (every check names its field by its column)."""
        names = "|".join(re.escape(column) for column in sorted(self.columns, key=len, reverse=True))
        return re.compile(rf"(?<![\w-])({names})(?![\w-])")


EVIDENCE = CsvKind(
    "evidence",
    ("rec", "title", "date", "kind"),
    ("stance", "url", "summary", "source_name", "reliability", "sensitivity", "for"),
    cast(Table, models.Evidence.__table__),
    ("evidence", "evidence"),
)
STATUS = CsvKind(
    "status update",
    ("rec", "status", "effective_on", "note"),
    ("evidence", "assessor", "for"),
    cast(Table, models.StatusUpdate.__table__),
    ("status update", "status updates"),
)
MEASUREMENT = CsvKind(
    "measurement",
    ("indicator", "quarter", "value"),
    ("note", "evidence", "for"),
    cast(Table, models.Measurement.__table__),
    ("measurement", "measurements"),
)
CORRECTION = CsvKind(
    "correction",
    ("record", "field", "value", "reason"),
    (),
    cast(Table, models.Correction.__table__),
    ("correction", "corrections"),
)
CSV_KINDS = (EVIDENCE, STATUS, MEASUREMENT, CORRECTION)
KINDS_BY_NAME = {kind.name: kind for kind in CSV_KINDS}
LIST_SEPARATOR = ";"

# A correction file's ``field`` names an attribute as the command-line options name it.
_OPTION_NAMES = {"observed_on": "date", "due_on": "due"}
ATTRIBUTES = {option: attribute for attribute, option in _OPTION_NAMES.items()}
"""The attribute a field names, where its name is not the attribute's (``date``: ``observed_on``)."""
WITHDRAWN = "withdrawn"


def _correctable(kind: str) -> tuple[str, ...]:
    target = corrections.TARGETS[queries.HISTORY_KINDS[kind]]
    fields = tuple(_OPTION_NAMES.get(name, name) for name in target.fields)
    return fields + ((WITHDRAWN,) if target.withdrawable else ())


# Assessors are corrected by `tracker assessor amend` and `assessor default` only: a file that
# made one the default without the other ceasing to be would leave two.
CORRECTABLE: dict[str, tuple[str, ...]] = {
    kind: _correctable(kind) for kind in queries.HISTORY_KINDS if kind != "assessor"
}
"""The fields a correction file may name, by the kind of its ``record`` (``evidence/ID``, ``rec/REF``...):
the attributes :data:`tracker.corrections.TARGETS` declares correctable, and ``withdrawn``
for the records a correction may withdraw."""
