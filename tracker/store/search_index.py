"""The search index: derived data the database keeps itself, not a domain table.

Migration 0006 creates it: copies of evidence's title, summary, source name and URL, of
status notes and of measurement notes, kept by triggers in the same transaction as the
rows they copy (an insert into ``evidence``, ``status_update`` or ``measurement`` adds a
row; a correction of evidence's texts updates it). :mod:`tracker.search` reads it.

It is in no model and not in :data:`tracker.store.models.DOMAIN_MODELS`: export, restore
and the chain leave it aside (a restore's inserts fill it through the triggers), a
migration does not count its rows among those it must not lose, Alembic's comparison of
models and schema skips it, and ``tracker verify`` checks that it is there as migration
0006 made it (:mod:`tracker.audit.schema`), triggers included. A later migration that
rebuilds ``evidence``, ``status_update``, ``measurement`` or ``correction`` (Alembic's batch
mode on SQLite copies a table and drops the old one, its triggers with it) must create the
table's trigger again, as 0006 wrote it: verify names a missing or different one.

- SQLite: an FTS5 table with the trigram tokenizer, and the shadow tables FTS5 keeps its
  index in. The rowid says which record a row copies: ``id * 4 + ROWID_CODES[table]``.
- PostgreSQL: a plain table keyed by (``target``, ``record_id``), ``target`` naming the
  table of the record, with a GIN ``gin_trgm_ops`` index (pg_trgm) on ``document``, all
  its texts in one column; plpgsql functions run its triggers.
"""

from __future__ import annotations

TABLE = "search_index"

ROWID_CODES = {"evidence": 1, "status_update": 2, "measurement": 3}
"""SQLite: a row of the index is the record ``rowid // 4`` of the table whose code is ``rowid % 4``."""

COLUMNS = ("title", "body", "source_name", "url")
"""The texts indexed: evidence's title, summary (``body``, as are notes), source name, URL."""

TABLES: dict[str, dict[str, frozenset[str]]] = {
    "sqlite": {
        TABLE: frozenset(COLUMNS),
        f"{TABLE}_data": frozenset({"id", "block"}),
        f"{TABLE}_idx": frozenset({"segid", "term", "pgno"}),
        f"{TABLE}_content": frozenset({"id", "c0", "c1", "c2", "c3"}),
        f"{TABLE}_docsize": frozenset({"id", "sz"}),
        f"{TABLE}_config": frozenset({"k", "v"}),
    },
    "postgresql": {TABLE: frozenset({"target", "record_id", *COLUMNS, "document"})},
}
"""The index's tables, with their columns, on each backend."""

INDEXES: dict[str, dict[str, str]] = {"sqlite": {}, "postgresql": {"ix_search_index_document": TABLE}}
"""Its indexes made by CREATE INDEX (index: table)."""

TRIGGERS: dict[str, str] = {
    "search_index_evidence": "evidence",
    "search_index_status_update": "status_update",
    "search_index_measurement": "measurement",
    "search_index_correction": "correction",
}
"""Its triggers (the same names on both backends; on PostgreSQL each runs the function of its name)."""

DEFINITIONS: dict[str, dict[str, str]] = {
    "sqlite": {
        "search_index_evidence": "affa888ab3fa4f8dc61acc8cef27fc3fef6f114740af5e3e4f632a07c3500766",
        "search_index_status_update": "edca66657ec8bda425f5efef85eb7f40922a21ee3a1396d6afd5b4b69f20e222",
        "search_index_measurement": "9aa4d1b4a9160ab338b6a35ed4201d67f3b81585b6a77bf439e62b124cf73252",
        "search_index_correction": "7e387efe0eb35cd8b409f683ad0a6dfc336151239b46ce1193f2c6905bc1befd",
    },
    "postgresql": {
        "search_index_evidence": "1300214d148a0d5f34ad29f46191c9fb35996165b64723220104ae5f3ba554b1",
        "search_index_status_update": "bdda3037121ee5c3ba4d5b3589c088394f80ef1476ea1b5ab54d332ae5451fa0",
        "search_index_measurement": "049150c518d015eef26f2518095badc8be5306c2b984db749405fc50e362f531",
        "search_index_correction": "3bf081473896642d324a60abeaabd8afc3461e4a35bb73c9c146be12d45cabc7",
    },
}
"""The sha256 of each trigger's definition as migration 0006 creates it (SQLite: its SQL;
PostgreSQL: its table, type, state, function name and the function's source, joined by
``|``): a trigger changed behind the tracker's back is named by verify. A migration that
changes a trigger changes its digest here."""


def table_names(dialect: str | None = None) -> frozenset[str]:
    """The index's tables on ``dialect`` ("sqlite" or "postgresql"; None: on either)."""
    if dialect is None:
        return frozenset(name for tables in TABLES.values() for name in tables)
    return frozenset(TABLES.get(dialect, {}))
