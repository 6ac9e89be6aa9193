"""``tracker init``: create or upgrade the schema, then load catalogs, idempotently."""

from __future__ import annotations

from collections.abc import Sequence

from tracker import catalogs
from tracker.store.database import Database


def init(database: Database, names: Sequence[str] | None, *, actor: str) -> list[str]:
    """Returns what was done, one line each, for the user."""
    wanted = [catalogs.DEFAULT] if names is None else list(dict.fromkeys(names))
    read = [catalogs.read(name) for name in wanted]  # every file checked before anything is written
    lines = []
    existed = database.exists() and database.current_revision() is not None
    before, after, backup = database.upgrade("head", create=True)
    if backup:
        lines.append(f"Backed up {database.display} to {backup}")
    if not existed:
        lines.append(f"Created the tracker schema (revision {after}) in {database.display}")
    elif before != after:
        lines.append(f"Upgraded the schema of {database.display} from {before} to {after}")
    else:
        lines.append(f"Schema of {database.display} is up to date (revision {after})")
    if read:
        summaries = database.write(lambda session: [catalogs.load(session, c, actor) for c in read])
        lines.extend(summary.describe() for summary in summaries)
    return lines
