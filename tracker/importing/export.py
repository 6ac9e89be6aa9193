"""Writing an export: every table, the audit chain included, as one JSON document.

The order is stable (tables in the registry's order, then the events; rows by primary
key; one row a line, each in canonical JSON), so the same database always gives the
same bytes, and restoring an export (:mod:`tracker.importing.restore`) then exporting
again gives the bytes it was restored from.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from tracker.audit.canonical import canonical, json_value
from tracker.progress import Progress, quietly
from tracker.store.database import SCHEMA_REVISION, Database
from tracker.store.models import DOMAIN_TABLES, Event

EXPORT_FORMAT = "tracker-export"
EXPORT_VERSION = 1
EVENT_TABLE = cast(Table, Event.__table__)
# Every table an export holds, in the order a restore inserts them (parents first).
EXPORT_TABLES: list[Table] = [*DOMAIN_TABLES, EVENT_TABLE]
_SHOW_EVERY = 10_000  # rows between two steps of the progress shown


def export(database: Database, *, with_files: bool = False, progress: Progress = quietly) -> bytes:
    """Everything, the audit chain included, as one JSON document: a stable order, one row a line.

    ``progress`` is shown as rows are read (see :mod:`tracker.progress`).
    """
    with database.reading() as session:  # one snapshot for every table, even while others write
        total = sum(session.scalar(select(func.count()).select_from(table)) or 0 for table in EXPORT_TABLES)
        lines = [
            "{",
            f'  "format": "{EXPORT_FORMAT}",',
            f'  "version": {EXPORT_VERSION},',
            f'  "schema_revision": "{SCHEMA_REVISION}",',
            f'  "files": {"true" if with_files else "false"},',
            '  "tables": {',
        ]
        with progress(total, "Exporting") as advance:
            for number, table in enumerate(EXPORT_TABLES):
                records = _table_records(session, table, with_files=with_files, advance=advance)
                comma = "," if number < len(EXPORT_TABLES) - 1 else ""
                if not records:
                    lines.append(f'    "{table.name}": []{comma}')
                    continue
                lines.append(f'    "{table.name}": [')
                lines.extend(f"      {record}," for record in records[:-1])
                lines.append(f"      {records[-1]}")
                lines.append(f"    ]{comma}")
        lines += ["  }", "}", ""]
    return "\n".join(lines).encode("utf-8")


def _table_records(session: Session, table: Table, *, with_files: bool, advance: Callable[[int], None]) -> list[str]:
    """A table's rows as canonical JSON, by primary key."""
    columns = [c for c in table.columns if c.name != "content" or with_files]
    keys = [c.name for c in table.primary_key.columns]
    rows: list[tuple[tuple[Any, ...], str]] = []
    for row in session.execute(select(*columns).execution_options(yield_per=10_000)):
        values = row._mapping
        record = {c.name: json_value(values[c.name]) for c in columns if c.name != "content"}
        if "content" in values:
            record["content"] = base64.b64encode(values["content"]).decode("ascii")
        rows.append((tuple(values[k] for k in keys), canonical(record)))
        if len(rows) % _SHOW_EVERY == 0:
            advance(_SHOW_EVERY)
    advance(len(rows) % _SHOW_EVERY)
    rows.sort(key=lambda pair: pair[0])
    return [record for _key, record in rows]
