"""The search index: evidence texts, status notes and measurement notes, for ``tracker search``.

Derived data, not a domain table: it holds copies of texts stored elsewhere and is kept
by triggers, in the same transaction as the rows it copies (an insert into evidence,
status_update or measurement adds a row; a correction of evidence's title, summary,
source name or URL updates it). Export, restore and verify leave it aside; a restore's
inserts fill it through the triggers. Upgrading builds it for the rows already stored;
downgrading drops it.

- SQLite: an FTS5 table with the trigram tokenizer (any substring of 3 or more characters
  is found, in text written without spaces too: Khmer, Thai), its rowid encoding the
  record (``id * 4 + 1`` evidence, ``+ 2`` a status update, ``+ 3`` a measurement).
- PostgreSQL: a plain table keyed by (target, record_id) with a GIN trigram index
  (pg_trgm, created if missing; a downgrade leaves the extension installed, as other
  schemas may use it) on all its texts, and plpgsql trigger functions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FIELDS = ("title", "summary", "source_name", "url")  # evidence's texts a correction may change

SQLITE_TABLE = "CREATE VIRTUAL TABLE search_index USING fts5(title, body, source_name, url, tokenize = 'trigram')"
SQLITE_TRIGGERS = (
    """CREATE TRIGGER search_index_evidence AFTER INSERT ON evidence BEGIN
    INSERT OR REPLACE INTO search_index (rowid, title, body, source_name, url)
    VALUES (new.id * 4 + 1, new.title, new.summary, new.source_name, new.url);
END""",
    """CREATE TRIGGER search_index_status_update AFTER INSERT ON status_update BEGIN
    INSERT OR REPLACE INTO search_index (rowid, body) VALUES (new.id * 4 + 2, new.note);
END""",
    """CREATE TRIGGER search_index_measurement AFTER INSERT ON measurement WHEN new.note IS NOT NULL BEGIN
    INSERT OR REPLACE INTO search_index (rowid, body) VALUES (new.id * 4 + 3, new.note);
END""",
    """CREATE TRIGGER search_index_correction AFTER INSERT ON correction
WHEN new.target = 'evidence' AND json_valid(new.changes) AND json_type(new.changes) = 'object' AND (
    json_type(new.changes, '$.title') IS NOT NULL OR json_type(new.changes, '$.summary') IS NOT NULL
    OR json_type(new.changes, '$.source_name') IS NOT NULL OR json_type(new.changes, '$.url') IS NOT NULL)
BEGIN
    UPDATE search_index SET
        title = CASE WHEN json_type(new.changes, '$.title') IS NULL THEN title
            ELSE json_extract(new.changes, '$.title') END,
        body = CASE WHEN json_type(new.changes, '$.summary') IS NULL THEN body
            ELSE json_extract(new.changes, '$.summary') END,
        source_name = CASE WHEN json_type(new.changes, '$.source_name') IS NULL THEN source_name
            ELSE json_extract(new.changes, '$.source_name') END,
        url = CASE WHEN json_type(new.changes, '$.url') IS NULL THEN url
            ELSE json_extract(new.changes, '$.url') END
    WHERE rowid = new.record_id * 4 + 1;
END""",
)
SQLITE_FILL = (
    "INSERT INTO search_index (rowid, title, body, source_name, url) "
    "SELECT id * 4 + 1, title, summary, source_name, url FROM evidence ORDER BY id",
    "INSERT INTO search_index (rowid, body) SELECT id * 4 + 2, note FROM status_update ORDER BY id",
    "INSERT INTO search_index (rowid, body) "
    "SELECT id * 4 + 3, note FROM measurement WHERE note IS NOT NULL ORDER BY id",
)
SQLITE_DOWN = (
    "DROP TRIGGER search_index_correction",
    "DROP TRIGGER search_index_measurement",
    "DROP TRIGGER search_index_status_update",
    "DROP TRIGGER search_index_evidence",
    "DROP TABLE search_index",
)

POSTGRES_EXTENSION = "CREATE EXTENSION IF NOT EXISTS pg_trgm"
POSTGRES_TABLE = """CREATE TABLE search_index (
    target VARCHAR(32) NOT NULL,
    record_id INTEGER NOT NULL,
    title TEXT,
    body TEXT,
    source_name TEXT,
    url TEXT,
    document TEXT GENERATED ALWAYS AS (
        coalesce(title, '') || E'\\n' || coalesce(body, '') || E'\\n' || coalesce(source_name, '') || E'\\n'
        || coalesce(url, '')
    ) STORED,
    CONSTRAINT pk_search_index PRIMARY KEY (target, record_id)
)"""
POSTGRES_TRIGGERS = (
    """CREATE FUNCTION search_index_evidence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_index (target, record_id, title, body, source_name, url)
    VALUES ('evidence', NEW.id, NEW.title, NEW.summary, NEW.source_name, NEW.url)
    ON CONFLICT (target, record_id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body,
        source_name = EXCLUDED.source_name, url = EXCLUDED.url;
    RETURN NULL;
END
$$""",
    """CREATE FUNCTION search_index_status_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_index (target, record_id, body) VALUES ('status_update', NEW.id, NEW.note)
    ON CONFLICT (target, record_id) DO UPDATE SET body = EXCLUDED.body;
    RETURN NULL;
END
$$""",
    """CREATE FUNCTION search_index_measurement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.note IS NOT NULL THEN
        INSERT INTO search_index (target, record_id, body) VALUES ('measurement', NEW.id, NEW.note)
        ON CONFLICT (target, record_id) DO UPDATE SET body = EXCLUDED.body;
    END IF;
    RETURN NULL;
END
$$""",
    """CREATE FUNCTION search_index_correction() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changes jsonb;
BEGIN
    IF NEW.target <> 'evidence' THEN
        RETURN NULL;
    END IF;
    BEGIN
        changes := NEW.changes::jsonb;
    EXCEPTION WHEN others THEN
        RETURN NULL;  -- not JSON (only a row written behind the tracker's back): verify names it
    END;
    IF jsonb_typeof(changes) <> 'object' OR NOT changes ?| ARRAY['title', 'summary', 'source_name', 'url'] THEN
        RETURN NULL;
    END IF;
    UPDATE search_index SET
        title = CASE WHEN changes ? 'title' THEN changes ->> 'title' ELSE title END,
        body = CASE WHEN changes ? 'summary' THEN changes ->> 'summary' ELSE body END,
        source_name = CASE WHEN changes ? 'source_name' THEN changes ->> 'source_name' ELSE source_name END,
        url = CASE WHEN changes ? 'url' THEN changes ->> 'url' ELSE url END
    WHERE target = 'evidence' AND record_id = NEW.record_id;
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER search_index_evidence AFTER INSERT ON evidence "
    "FOR EACH ROW EXECUTE FUNCTION search_index_evidence()",
    "CREATE TRIGGER search_index_status_update AFTER INSERT ON status_update "
    "FOR EACH ROW EXECUTE FUNCTION search_index_status_update()",
    "CREATE TRIGGER search_index_measurement AFTER INSERT ON measurement "
    "FOR EACH ROW EXECUTE FUNCTION search_index_measurement()",
    "CREATE TRIGGER search_index_correction AFTER INSERT ON correction "
    "FOR EACH ROW EXECUTE FUNCTION search_index_correction()",
)
POSTGRES_FILL = (
    "INSERT INTO search_index (target, record_id, title, body, source_name, url) "
    "SELECT 'evidence', id, title, summary, source_name, url FROM evidence",
    "INSERT INTO search_index (target, record_id, body) SELECT 'status_update', id, note FROM status_update",
    "INSERT INTO search_index (target, record_id, body) "
    "SELECT 'measurement', id, note FROM measurement WHERE note IS NOT NULL",
)
# Built after the rows are in: one pass, faster than keeping it up row by row.
POSTGRES_INDEX = "CREATE INDEX ix_search_index_document ON search_index USING gin (document gin_trgm_ops)"
POSTGRES_DOWN = (
    "DROP TRIGGER search_index_correction ON correction",
    "DROP TRIGGER search_index_measurement ON measurement",
    "DROP TRIGGER search_index_status_update ON status_update",
    "DROP TRIGGER search_index_evidence ON evidence",
    "DROP FUNCTION search_index_correction()",
    "DROP FUNCTION search_index_measurement()",
    "DROP FUNCTION search_index_status_update()",
    "DROP FUNCTION search_index_evidence()",
    "DROP TABLE search_index",
)


def upgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        create, fill, index, triggers = (SQLITE_TABLE,), SQLITE_FILL, (), SQLITE_TRIGGERS
    else:
        create, fill, index, triggers = (
            (POSTGRES_EXTENSION, POSTGRES_TABLE),
            POSTGRES_FILL,
            (POSTGRES_INDEX,),
            POSTGRES_TRIGGERS,
        )
    # The table, the rows already stored, the corrections already recorded (in the order they
    # apply, as the trigger would have applied them), then the triggers that keep it from now on.
    for statement in (*create, *fill):
        connection.exec_driver_sql(statement)
    _apply_corrections(connection, sqlite)
    for statement in (*index, *triggers):
        connection.exec_driver_sql(statement)


def _apply_corrections(connection, sqlite: bool) -> None:
    """The corrections of evidence's texts recorded before this revision, applied in order."""
    rows = connection.execute(
        sa.text("SELECT record_id, changes FROM correction WHERE target = 'evidence' ORDER BY id")
    ).all()
    for record_id, changes in rows:
        try:
            values = json.loads(changes)
        except ValueError:
            continue  # only a row written behind the tracker's back: verify names it
        if not isinstance(values, dict):
            continue
        columns = {"summary": "body"}
        changed = {columns.get(name, name): values[name] for name in FIELDS if name in values}
        if not changed:
            continue
        assignments = ", ".join(f"{column} = :{column}" for column in changed)
        where = "rowid = :record_id * 4 + 1" if sqlite else "target = 'evidence' AND record_id = :record_id"
        connection.execute(
            sa.text(f"UPDATE search_index SET {assignments} WHERE {where}"), {**changed, "record_id": record_id}
        )


def downgrade() -> None:
    connection = op.get_bind()
    for statement in SQLITE_DOWN if connection.dialect.name == "sqlite" else POSTGRES_DOWN:
        connection.exec_driver_sql(statement)
