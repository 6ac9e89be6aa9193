"""Writing an export: every table, the audit chain included, as one JSON document.

The order is stable (tables in the registry's order, then the events; rows by primary
key; one row a line, each in canonical JSON), so the same database always gives the
same bytes, and restoring an export (:mod:`tracker.importing.restore`) then exporting
again gives the bytes it was restored from.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import cast

from sqlalchemy import String, Table, func, select
from sqlalchemy.orm import Session

from tracker.audit.canonical import canonical, json_value
from tracker.audit.chain import speller, table_spec
from tracker.progress import Progress, quietly
from tracker.store.database import SCHEMA_REVISION, Database
from tracker.store.models import DOMAIN_TABLES, Event

EXPORT_FORMAT = "tracker-export"
EXPORT_VERSION = 1
EVENT_TABLE = cast(Table, Event.__table__)
# Every table an export holds, in the order a restore inserts them (parents first).
EXPORT_TABLES: list[Table] = [*DOMAIN_TABLES, EVENT_TABLE]
_SHOW_EVERY = 10_000  # rows between two steps of the progress shown
_BATCH = 2_000  # rows read from the database at a time
_PIECE = 256 * 1024  # characters in a piece of the export written at once


def export(database: Database, *, with_files: bool = False, progress: Progress = quietly) -> bytes:
    """Everything, the audit chain included, as one JSON document: a stable order, one row a line.

    ``progress`` is shown as rows are read (see :mod:`tracker.progress`). :func:`export_pieces`
    gives the same bytes a piece at a time, in constant memory.
    """
    return b"".join(export_pieces(database, with_files=with_files, progress=progress))


def export_pieces(database: Database, *, with_files: bool = False, progress: Progress = quietly) -> Iterator[bytes]:
    """:func:`export`'s bytes as they are read, in pieces of about 256 KiB: the rows of each
    table are read in key order by the database, a batch at a time, never all at once."""
    pieces: list[str] = []
    size = 0
    for line in _lines(database, with_files=with_files, progress=progress):
        pieces.append(line)
        size += len(line)
        if size >= _PIECE:
            yield "".join(pieces).encode("utf-8")
            pieces, size = [], 0
    yield "".join(pieces).encode("utf-8")


def _lines(database: Database, *, with_files: bool, progress: Progress) -> Iterator[str]:
    with database.reading() as session:  # one snapshot for every table, even while others write
        total = sum(session.scalar(select(func.count()).select_from(table)) or 0 for table in EXPORT_TABLES)
        yield (
            "{\n"
            f'  "format": "{EXPORT_FORMAT}",\n'
            f'  "version": {EXPORT_VERSION},\n'
            f'  "schema_revision": "{SCHEMA_REVISION}",\n'
            f'  "files": {"true" if with_files else "false"},\n'
            '  "tables": {\n'
        )
        with progress(total, "Exporting") as advance:
            for number, table in enumerate(EXPORT_TABLES):
                comma = "," if number < len(EXPORT_TABLES) - 1 else ""
                previous = None
                for record in _table_records(session, table, with_files=with_files, advance=advance):
                    yield f'    "{table.name}": [\n' if previous is None else f"      {previous},\n"
                    previous = record
                yield f'    "{table.name}": []{comma}\n' if previous is None else f"      {previous}\n    ]{comma}\n"
        yield "  }\n}\n"


def _table_records(
    session: Session, table: Table, *, with_files: bool, advance: Callable[[int], None]
) -> Iterator[str]:
    """A table's rows as canonical JSON, in primary key order (text keys compared by code point,
    as Python compares them, whatever the database's collation): spelled as the audit record
    spells a row (:func:`tracker.audit.chain.speller`), and an attachment's content, when files
    are exported, beside its other columns."""
    spec = table_spec(table)
    content = with_files and "content" in table.c
    columns = [table.c[name] for name in spec.columns] + ([table.c.content] if content else [])
    postgres = session.get_bind().dialect.name == "postgresql"
    order = [c.collate("C") if postgres and isinstance(c.type, String) else c for c in table.primary_key.columns]
    record = speller(table).record
    count = 0
    for row in session.execute(select(*columns).order_by(*order).execution_options(yield_per=_BATCH)):
        if content:
            values = dict(zip(spec.columns, map(json_value, row), strict=False))
            values["content"] = base64.b64encode(row[-1]).decode("ascii")
            yield canonical(values)
        else:
            yield record(row)
        count += 1
        if count == _SHOW_EVERY:
            advance(count)
            count = 0
    advance(count)
