"""A team on PostgreSQL: group roles that each read only what they may, and their members.

SQLite is one person's file. On PostgreSQL a team's people log in as themselves, and
:func:`setup` (``tracker team setup``, run by the database's owner or a superuser) makes the
database itself refuse what a role may not read or write, whatever the client (psql too):

- Five group roles (NOLOGIN; cluster-wide, so every database of the server shares them, and
  a member of one is a member on every team database of the server that they may connect
  to): :data:`ROLES`. Logins become members with :func:`grant`.
- Privileges: every role reads every table; the writer inserts into the tables the tracker
  writes, and uses their id sequences; nobody but ``tracker_admin`` (which owns the tables,
  the sequences and the functions below, so that its members run the migrations) updates or
  deletes anything.
- Row-level security follows evidence's sensitivity, as corrections leave it (the highest
  of the stored one and every corrected one): a role reads a piece of evidence, its links,
  retraction, files (names and bytes), citations, corrections, on-behalf record, search
  index entry and the events that record any of them only up to its level
  (:func:`_reader_level_sql`). A writer also reads what it recorded itself. The owner of the
  tables (``tracker_admin`` and its members) and superusers read everything. Status notes
  and measurement notes have no sensitivity of their own (public reports show them), nor
  does the catalog: every role reads them. A table this version does not know is read by
  ``tracker_confidential`` and ``tracker_admin`` only, until a tracker that knows it runs
  setup again.
- Authorship: a trigger before each insert into a table with ``recorded_by``, and into
  ``event`` (``actor``), refuses a row whose author is not the database user
  (``session_user``): nobody writes under another's name (:data:`tracker.audit.schema.AUTHOR_SOURCE`).
- The chain head: :data:`tracker.audit.chain.CHAIN_HEAD_FUNCTION` gives every role the last
  event's seq, hash and time (never its payload), so that a writer appends after the true
  last event and a reader's report has the fingerprint an admin's has. Its presence is what
  makes a team database (:func:`tracker.audit.chain.on_team_database`).
- A stored file: :data:`tracker.audit.chain.ATTACHMENT_STORED_FUNCTION` tells a writer whether a
  file it attaches is stored already (attached to evidence it may not read), so that it links
  the stored file rather than storing it twice; it says nothing else.
- The search index's trigger functions (migration 0006) run as their owner
  (``SECURITY DEFINER``): a writer adds evidence without any right to change the index.

Setup is idempotent: roles are created only when missing (safely when two databases are set
up at once), privileges revoked and granted again, policies and functions replaced. A
migration may add tables or recreate the search index's functions: ``tracker db upgrade``
runs setup again on a team database (:func:`after_upgrade`; a member of ``tracker_admin``
may, once the roles exist).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tracker import validation
from tracker.audit.chain import (
    ATTACHMENT_STORED_FUNCTION,
    CHAIN_HEAD_FUNCTION,
    READER_LEVEL_FUNCTION,
    on_team_database,
)
from tracker.audit.schema import AUTHOR_FUNCTION, AUTHOR_SOURCE, AUTHOR_TRIGGER
from tracker.errors import InputError, TrackerError
from tracker.store import search_index
from tracker.store.database import Database
from tracker.store.models import DOMAIN_TABLES, Event

PUBLIC = "tracker_public"
INTERNAL = "tracker_internal"
CONFIDENTIAL = "tracker_confidential"
WRITER = "tracker_writer"
ADMIN = "tracker_admin"

ROLES: dict[str, str] = {
    PUBLIC: "reads public evidence only (and the catalog, statuses, measurements)",
    INTERNAL: "reads public and internal evidence",
    CONFIDENTIAL: "reads everything; runs tracker verify",
    WRITER: "records evidence (of any sensitivity), statuses, measurements, corrections; "
    "reads public and internal evidence and what it recorded",
    ADMIN: "owns the tables: migrations (tracker db upgrade), team setup, grants roles; reads everything",
}
"""The group roles, with what each may do."""

READERS = (PUBLIC, INTERNAL, CONFIDENTIAL, WRITER)
"""The roles that read through row-level security (``tracker_admin`` owns the tables)."""

LOGIN_LENGTH = 63  # PostgreSQL's NAMEDATALEN - 1

_LEVEL = READER_LEVEL_FUNCTION
_EVIDENCE_CHECK = "tracker_evidence_check"
_EVENT_CHECK = "tracker_event_visible"
_READ_POLICY = "tracker_read"
_WRITE_POLICY = "tracker_write"
_EVIDENCE_TARGETS = ("evidence", "evidence_link")  # corrections of these: record_id is the evidence's id


def _reader_level_sql() -> str:
    """The current role's level: 2 every sensitivity, 1 public and internal, 0 public only, -1 none."""
    return f"""CREATE OR REPLACE FUNCTION {_LEVEL}() RETURNS integer LANGUAGE sql STABLE AS $fn$
SELECT CASE
    WHEN pg_has_role('{ADMIN}', 'MEMBER') OR pg_has_role('{CONFIDENTIAL}', 'MEMBER') THEN 2
    WHEN pg_has_role('{INTERNAL}', 'MEMBER') OR pg_has_role('{WRITER}', 'MEMBER') THEN 1
    WHEN pg_has_role('{PUBLIC}', 'MEMBER') THEN 0
    ELSE -1
END
$fn$"""


# Whether the evidence ``e`` (a row of evidence, or NULL: none) may be read by a reader of level
# READER (and, if WRITER, by the session's user as its author): its level is the highest of the
# stored sensitivity and every correction's, a correction spelled otherwise than the tracker
# spells it counting as confidential, as does evidence that is not there.
_MAY_READ = r"""coalesce(
        greatest(
            CASE e.sensitivity WHEN 'public' THEN 0 WHEN 'internal' THEN 1 ELSE 2 END,
            (SELECT max(CASE
                        WHEN c.changes ~ '"sensitivity"\s*:\s*"public"' THEN 0
                        WHEN c.changes ~ '"sensitivity"\s*:\s*"internal"' THEN 1
                        ELSE 2 END)
               FROM correction c
              WHERE c.target = 'evidence' AND c.record_id = e.id AND c.changes ~ '"sensitivity"\s*:')
        ) <= READER
        OR (WRITER AND e.recorded_by = session_user),
        false)"""


def _functions(schema: str) -> dict[str, str]:
    """The functions setup installs, by signature: their CREATE OR REPLACE statements.

    The two checks run as their owner (they read evidence and corrections whatever the caller
    may read) and are given the caller's level and whether it is a writer (:data:`_MAY_READ`):
    ``tracker_evidence_check(id, reader, writer)`` for a piece of evidence,
    ``tracker_event_visible(payload, reader, writer)`` for an event, which may be read when
    every piece of evidence its payload records or names may be (the event check is plpgsql:
    its plan is kept for the session, where a SQL function called from it would be planned
    again for every event).
    """
    path = f"SET search_path = {schema}, pg_temp"
    return {
        f"{_LEVEL}()": _reader_level_sql(),
        f"{_EVIDENCE_CHECK}(integer, integer, boolean)": f"""CREATE OR REPLACE FUNCTION {_EVIDENCE_CHECK}(
    evidence_id integer, reader integer, writer boolean
) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER {path} AS $fn$
SELECT {_MAY_READ.replace("READER", "$2").replace("WRITER", "$3")}
  FROM (SELECT $1 AS id) AS asked LEFT JOIN evidence e ON e.id = asked.id
$fn$""",
        f"{_EVENT_CHECK}(text, integer, boolean)": f"""CREATE OR REPLACE FUNCTION {_EVENT_CHECK}(
    payload text, reader integer, writer boolean
) RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER {path} AS $fn$
DECLARE
    recorded jsonb;
BEGIN
    IF reader >= 2 OR strpos(payload, 'evidence') = 0 THEN
        RETURN true;  -- (every key and target naming evidence says so)
    END IF;
    recorded := payload::jsonb -> 'rows';
    IF jsonb_typeof(recorded) IS DISTINCT FROM 'object' THEN
        RETURN false;
    END IF;
    RETURN NOT EXISTS (
        SELECT 1
          FROM jsonb_each(recorded) AS tables (name, items),
               jsonb_array_elements(CASE WHEN jsonb_typeof(items) = 'array' THEN items ELSE '[]' END)
                   AS row_of (item),
               LATERAL (SELECT (CASE
                   WHEN tables.name = 'evidence' THEN item ->> 'id'
                   WHEN tables.name = 'correction' AND item ->> 'target' IN {_EVIDENCE_TARGETS!r}
                       THEN item ->> 'record_id'
                   WHEN tables.name = 'entry_for' AND item ->> 'target' = 'evidence' THEN item ->> 'record_id'
                   ELSE item ->> 'evidence_id'
               END)::integer AS id) AS named
          LEFT JOIN evidence e ON e.id = named.id
         WHERE named.id IS NOT NULL
           AND NOT {_MAY_READ.replace("READER", "reader").replace("WRITER", "writer")}
    );
EXCEPTION WHEN others THEN
    RETURN false;  -- not the tracker's JSON (written behind its back): for those who read everything
END
$fn$""",
        f"{ATTACHMENT_STORED_FUNCTION}(character varying)": f"""CREATE OR REPLACE FUNCTION {ATTACHMENT_STORED_FUNCTION}(
    sha256 varchar
) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER {path} AS $fn$
SELECT EXISTS (SELECT 1 FROM attachment a WHERE a.sha256 = $1)
$fn$""",
        f"{CHAIN_HEAD_FUNCTION}(timestamp without time zone)": f"""CREATE OR REPLACE FUNCTION {CHAIN_HEAD_FUNCTION}(
    as_of timestamp without time zone DEFAULT NULL
) RETURNS TABLE (seq integer, hash varchar, recorded_at timestamp without time zone)
LANGUAGE plpgsql STABLE SECURITY DEFINER {path} AS $fn$
#variable_conflict use_column
BEGIN
    -- as tracker.audit.asof.known_at: an event stamped ahead of a later clock correction is
    -- known from the correction's recorded_at
    IF as_of IS NULL THEN
        RETURN QUERY SELECT e.seq, e.hash::varchar, e.recorded_at FROM event e ORDER BY e.seq DESC LIMIT 1;
    ELSIF NOT EXISTS (SELECT 1 FROM clock_correction) THEN
        RETURN QUERY SELECT e.seq, e.hash::varchar, e.recorded_at FROM event e
            WHERE e.recorded_at <= as_of ORDER BY e.seq DESC LIMIT 1;
    ELSE
        RETURN QUERY SELECT e.seq, e.hash::varchar, e.recorded_at FROM event e
            WHERE coalesce(
                (SELECT c.recorded_at FROM clock_correction c
                  WHERE e.seq <= c.last_seq AND e.recorded_at > c.recorded_at ORDER BY c.id LIMIT 1),
                e.recorded_at) <= as_of
            ORDER BY e.seq DESC LIMIT 1;
    END IF;
END
$fn$""",
        f"{AUTHOR_FUNCTION}()": f"CREATE OR REPLACE FUNCTION {AUTHOR_FUNCTION}() RETURNS trigger LANGUAGE plpgsql "
        f"AS $fn${AUTHOR_SOURCE}$fn$",
    }


# What each table's rows may be read by: an SQL condition, besides "the reader reads everything".
_LEVEL_NOW = f"(SELECT {_LEVEL}())"
_IS_WRITER = f"(SELECT pg_has_role('{WRITER}', 'MEMBER'))"


def _visible(column: str) -> str:
    return f"{_EVIDENCE_CHECK}({column}, {_LEVEL_NOW}, {_IS_WRITER})"


PROTECTED: dict[str, str] = {
    "evidence": _visible("id"),
    "evidence_link": _visible("evidence_id"),
    "evidence_retraction": _visible("evidence_id"),
    "evidence_attachment": _visible("evidence_id"),
    "status_update_evidence": _visible("evidence_id"),
    # a file: when some evidence the reader may read has it (evidence_attachment's policy applies)
    "attachment": "EXISTS (SELECT 1 FROM evidence_attachment a WHERE a.sha256 = attachment.sha256)",
    "correction": f"target NOT IN {_EVIDENCE_TARGETS!r} OR {_visible('record_id')}",
    "entry_for": f"target <> 'evidence' OR {_visible('record_id')}",
    search_index.TABLE: f"target <> 'evidence' OR {_visible('record_id')}",
    "event": f"{_EVENT_CHECK}(payload, {_LEVEL_NOW}, {_IS_WRITER})",
}
"""The tables under row-level security, with who reads which rows (evidence's level)."""

OPEN = frozenset({table.name for table in DOMAIN_TABLES if table.name not in PROTECTED} | {"alembic_version"})
"""The tables every team role reads whole: nothing in them has a sensitivity."""

WRITTEN = tuple(table.name for table in DOMAIN_TABLES) + (str(Event.__tablename__),)
"""The tables the tracker inserts into (the search index is written by its triggers)."""


@dataclass(frozen=True)
class Setup:
    """What :func:`setup` did and left."""

    created: tuple[str, ...]  # roles created now
    protected: tuple[str, ...]  # tables under row-level security
    readable: tuple[str, ...]  # tables every role reads whole
    authored: tuple[str, ...]  # tables whose author is checked

    def describe(self) -> list[str]:
        roles = ", ".join(ROLES)
        return [
            f"Created the group roles {', '.join(self.created)}" if self.created else f"Group roles there: {roles}",
            f"{len(self.protected)} tables under row-level security by evidence's sensitivity "
            f"({', '.join(self.protected)}); {len(self.readable)} read whole by every role",
            f"Authorship checked on {len(self.authored)} tables: rows are recorded by the database user",
            "Next: give each person a login and a role: `tracker team grant LOGIN ROLE`",
        ]


@dataclass(frozen=True)
class Member:
    """A login's membership in one of the group roles."""

    login: str
    role: str

    def as_dict(self) -> dict[str, str]:
        return {"login": self.login, "role": self.role, "may": ROLES[self.role]}


def team_database(database: Database) -> Database:
    """``database``, refused (exit 2) when it is a SQLite file: team roles need PostgreSQL."""
    if database.is_sqlite:
        raise InputError(
            f"team roles need PostgreSQL: {database.display} is a SQLite file, one person's; "
            "for a team, create a PostgreSQL database and pass its postgresql:// URL with --db"
        )
    return database


def login_of(database: Database) -> str | None:
    """The author of what this process records on ``database`` when the database says it
    (a PostgreSQL team database: the login); None on SQLite, on a database without team
    setup, or one that cannot be read yet (the command itself then says why)."""
    if database.is_sqlite:
        return None
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with Session(database.engine) as session:
            return session_author(session)
    except SQLAlchemyError:
        return None


def after_upgrade(database: Database) -> Setup | None:
    """After a migration: a team database set up again (a migration may add tables, which
    setup alone gives the team's privileges and policies); None for any other database."""
    if database.is_sqlite:
        return None
    with Session(database.engine) as session:
        if not on_team_database(session):
            return None
    try:
        return database.write(setup)
    except TrackerError as error:
        revision = database.current_revision()
        raise TrackerError(
            f"the schema is at {revision}, but the team's privileges were not set again ({error}); "
            "run `tracker team setup` as the database's owner"
        ) from None


def session_author(session: Session) -> str | None:
    """On a team database (:func:`setup` has been run on it), the database user every row is
    recorded by (``session_user``); else None (the author is whoever the command line says)."""
    if not on_team_database(session):
        return None
    return str(session.scalar(text("SELECT session_user")))


def setup(session: Session) -> Setup:
    """Create the group roles if missing, then (again) the privileges, policies, functions and
    triggers of a team database. Idempotent. See the module's note."""
    _require_postgres(session)
    try:
        return _set_up(session)
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        refused = str(error.orig).strip().splitlines()[0]
        raise TrackerError(
            f"team setup was refused ({refused}): run it as the database's owner or a superuser "
            f"(once the group roles exist, a member of {ADMIN} may run it again); nothing was changed"
        ) from None


def _set_up(session: Session) -> Setup:
    schema = str(session.scalar(text("SELECT current_schema()")))
    quoted = _quote(session, schema)
    created = _create_roles(session)
    _grant_schema(session, schema, quoted)  # first: a new owner needs CREATE on the schema
    _own(session, quoted)
    for signature, statement in _functions(quoted).items():
        _run(session, statement)
        _run(session, f"ALTER FUNCTION {quoted}.{signature} OWNER TO {ADMIN}")
        _run(session, f"REVOKE ALL ON FUNCTION {quoted}.{signature} FROM PUBLIC")
        _run(session, f"GRANT EXECUTE ON FUNCTION {quoted}.{signature} TO {', '.join(ROLES)}")
    for name in search_index.TRIGGERS:  # its functions have the names of its triggers
        if _exists(session, "to_regprocedure", f"{quoted}.{name}()"):
            _run(session, f"ALTER FUNCTION {quoted}.{name}() SECURITY DEFINER")
            _run(session, f"ALTER FUNCTION {quoted}.{name}() SET search_path = {quoted}, pg_temp")
    tables = _tables(session, quoted)
    _grant_tables(session, quoted, tables)
    protected = []
    for table in tables:
        if table in OPEN:
            continue
        _protect(session, quoted, table, PROTECTED.get(table, "false"))
        protected.append(table)
    authored = _check_authors(session, quoted)
    return Setup(
        created=tuple(created),
        protected=tuple(protected),
        readable=tuple(table for table in tables if table in OPEN),
        authored=tuple(authored),
    )


def members(session: Session) -> list[Member]:
    """Every login's membership in a group role, by role then login."""
    _require_postgres(session)
    rows = session.execute(
        text(
            "SELECT DISTINCT m.rolname, g.rolname FROM pg_auth_members a "
            "JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member "
            "WHERE g.rolname = ANY(:roles) AND NOT m.rolname = ANY(:roles)"
        ),
        {"roles": list(ROLES)},
    )
    order = list(ROLES)
    return sorted((Member(login, role) for login, role in rows), key=lambda m: (order.index(m.role), m.login))


def grant(session: Session, login: str, role: str) -> bool:
    """Make ``login`` a member of the group role ``role``; False if it already was."""
    login, role = _check_membership(session, login, role)
    if _is_member(session, login, role):
        return False
    _membership(session, f"GRANT {role} TO {_quote(session, login)}", role)
    return True


def revoke(session: Session, login: str, role: str) -> bool:
    """End ``login``'s membership in ``role``; False if it was not a member."""
    login, role = _check_membership(session, login, role)
    if not _is_member(session, login, role):
        return False
    _membership(session, f"REVOKE {role} FROM {_quote(session, login)}", role)
    if _is_member(session, login, role):
        raise TrackerError(f"{login} is still a member of {role}: another role granted it; revoke it as a superuser")
    return True


# Setup's steps -------------------------------------------------------------------------------


def _require_postgres(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        raise InputError("team roles need PostgreSQL")


def _run(session: Session, statement: str) -> None:
    """One statement as it is (no bind parameters: psycopg reads ``%%`` as ``%``)."""
    session.connection().exec_driver_sql(statement.replace("%", "%%"))


def _quote(session: Session, name: str) -> str:
    return session.get_bind().dialect.identifier_preparer.quote_identifier(name)


def _exists(session: Session, lookup: str, name: str) -> bool:
    return bool(session.scalar(text(f"SELECT {lookup}(:name) IS NOT NULL"), {"name": name}))


def _create_roles(session: Session) -> list[str]:
    """The group roles missing, created (with what they may do as their comment).

    Roles are the server's, not the database's: two databases may be set up at once, and
    their transactions both find a role missing. Each creation runs in a block that takes
    "it exists already" (the other transaction committed first) as done.
    """
    existing = set(
        session.scalars(text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:roles)"), {"roles": list(ROLES)})
    )
    missing = [role for role in ROLES if role not in existing]
    if missing:
        may = session.execute(text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"))
        if not may.scalar():
            raise TrackerError(
                f"team setup creates the group roles {', '.join(missing)}, and this database user may not "
                "create roles: run it once as a superuser or a role with CREATEROLE (the database's owner)"
            )
    created = []
    for role in missing:
        comment = ROLES[role].replace("'", "''")
        try:
            with session.begin_nested():
                _run(session, f"CREATE ROLE {role} NOLOGIN")
                _run(session, f"COMMENT ON ROLE {role} IS 'tracker: {comment}'")
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) not in _ALREADY:
                raise
            continue  # another database's setup created it meanwhile
        created.append(role)
    # tracker_admin's members grant the other roles (team management without CREATEROLE)
    for role in (PUBLIC, INTERNAL, CONFIDENTIAL, WRITER):
        held = session.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_auth_members WHERE roleid = to_regrole(:role) "
                "AND member = to_regrole(:admin) AND admin_option)"
            ),
            {"role": role, "admin": ADMIN},
        )
        if not held:
            _tolerant(session, f"GRANT {role} TO {ADMIN} WITH ADMIN OPTION")
    return created


_ALREADY = ("42710", "23505")  # duplicate_object; unique_violation (another transaction's, just committed)


def _tolerant(session: Session, statement: str) -> None:
    """A change to the server's roles, taken as done if another transaction just made it."""
    try:
        with session.begin_nested():
            _run(session, statement)
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) not in _ALREADY:
            raise


def _own(session: Session, quoted: str) -> None:
    """tracker_admin owns every table and sequence of the schema (its members migrate), and
    the search index's functions; whoever runs setup, if not a superuser, joins it."""
    if not session.scalar(
        text("SELECT rolsuper OR pg_has_role(:admin, 'MEMBER') FROM pg_roles WHERE rolname = current_user"),
        {"admin": ADMIN},
    ):
        _tolerant(session, f"GRANT {ADMIN} TO {_quote(session, str(session.scalar(text('SELECT current_user'))))}")
    owned = session.execute(
        text(
            "SELECT c.relname, c.relkind FROM pg_class c WHERE c.relnamespace = to_regnamespace(:schema) "
            "AND c.relkind IN ('r', 'p', 'S') AND pg_get_userbyid(c.relowner) <> :admin "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
            "AND d.deptype IN ('a', 'i', 'e')) "
            "ORDER BY c.relkind, c.relname"
        ),
        {"schema": quoted, "admin": ADMIN},
    ).all()
    for name, kind in owned:
        what = "SEQUENCE" if kind == "S" else "TABLE"
        _run(session, f"ALTER {what} {quoted}.{_quote(session, name)} OWNER TO {ADMIN}")
    for name in search_index.TRIGGERS:
        if _exists(session, "to_regprocedure", f"{quoted}.{name}()"):
            _run(session, f"ALTER FUNCTION {quoted}.{name}() OWNER TO {ADMIN}")


def _grant_schema(session: Session, schema: str, quoted: str) -> None:
    """Every role uses the schema (PostgreSQL gives every role USAGE on ``public``, unless the
    DBA took it back); tracker_admin creates tables in it (migrations)."""
    held = text("SELECT has_schema_privilege(:role, :schema, :privilege)")
    for role, privilege in [*((role, "USAGE") for role in ROLES), (ADMIN, "CREATE")]:
        asked = {"role": role, "schema": schema, "privilege": privilege}
        if not session.scalar(held, asked):
            _run(session, f"GRANT {privilege} ON SCHEMA {quoted} TO {role}")
            if not session.scalar(held, asked):
                raise TrackerError(
                    f"{role} needs {privilege} on the schema {schema}, which this database user may not grant: "
                    "run team setup as the database's owner or a superuser"
                )


def _tables(session: Session, quoted: str) -> list[str]:
    return list(
        session.scalars(
            text(
                "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace(:schema) "
                "AND relkind IN ('r', 'p') ORDER BY relname"
            ),
            {"schema": quoted},
        )
    )


def _grant_tables(session: Session, quoted: str, tables: Iterable[str]) -> None:
    """Every role reads every table (row-level security decides which rows); the writer
    inserts into the tables the tracker writes and draws their ids; nobody else has more."""
    everyone = ", ".join(READERS)
    _run(session, f"REVOKE ALL ON ALL TABLES IN SCHEMA {quoted} FROM PUBLIC, {everyone}")
    _run(session, f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {quoted} FROM PUBLIC, {everyone}")
    _run(session, f"GRANT SELECT ON ALL TABLES IN SCHEMA {quoted} TO {everyone}")
    written = [f"{quoted}.{_quote(session, table)}" for table in tables if table in WRITTEN]
    if written:
        _run(session, f"GRANT INSERT ON {', '.join(written)} TO {WRITER}")
    _run(session, f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {quoted} TO {WRITER}")


def _protect(session: Session, quoted: str, table: str, condition: str) -> None:
    """Row-level security on ``table``: its rows read by a role that reads everything, or
    when ``condition`` holds, or (a writer) when it recorded them; the writer inserts."""
    name = f"{quoted}.{_quote(session, table)}"
    columns = set(
        session.scalars(
            text("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:name) AND attnum > 0"), {"name": name}
        )
    )
    own = f" OR ({_IS_WRITER} AND recorded_by = session_user)" if "recorded_by" in columns else ""
    _run(session, f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
    _run(session, f"DROP POLICY IF EXISTS {_READ_POLICY} ON {name}")
    _run(session, f"CREATE POLICY {_READ_POLICY} ON {name} FOR SELECT USING ({_LEVEL_NOW} >= 2 OR ({condition}){own})")
    _run(session, f"DROP POLICY IF EXISTS {_WRITE_POLICY} ON {name}")
    if table in WRITTEN:
        _run(session, f"CREATE POLICY {_WRITE_POLICY} ON {name} FOR INSERT TO {WRITER} WITH CHECK (true)")


def _check_authors(session: Session, quoted: str) -> list[str]:
    """The authorship trigger on every table with ``recorded_by`` and on ``event`` (``actor``)."""
    authored = session.execute(
        text(
            "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relnamespace = to_regnamespace(:schema) AND c.relkind IN ('r', 'p') AND a.attnum > 0 "
            "AND NOT a.attisdropped AND (a.attname = 'recorded_by' OR (c.relname = 'event' AND a.attname = 'actor')) "
            "ORDER BY c.relname"
        ),
        {"schema": quoted},
    ).all()
    for table, column in authored:
        name = f"{quoted}.{_quote(session, table)}"
        _run(session, f"DROP TRIGGER IF EXISTS {AUTHOR_TRIGGER} ON {name}")
        _run(
            session,
            f"CREATE TRIGGER {AUTHOR_TRIGGER} BEFORE INSERT ON {name} FOR EACH ROW "
            f"EXECUTE FUNCTION {quoted}.{AUTHOR_FUNCTION}('{column}')",
        )
    return [table for table, _column in authored]


# Members ----------------------------------------------------------------------------------------


def _check_membership(session: Session, login: str, role: str) -> tuple[str, str]:
    """``login`` and ``role`` checked (exit 2 for a role or login that is none), on a team database."""
    _require_postgres(session)
    role = validation.text(role, "role", max_length=LOGIN_LENGTH)
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    login = validation.text(login, "login", max_length=LOGIN_LENGTH)
    if login in ROLES:
        raise InputError(f"{login} is one of the group roles, not a person's login")
    found = session.execute(text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :login"), {"login": login}).first()
    if found is None:
        raise InputError(
            f"there is no database user {login!r} on this server: create the login first "
            f"(CREATE ROLE \"{login}\" LOGIN PASSWORD '...'), then grant it a role"
        )
    if not found[0]:
        raise InputError(f"{login!r} cannot log in (a group role?): grant roles to a person's login")
    if not on_team_database(session):
        raise TrackerError("this database is not set up for a team: run `tracker team setup` first")
    return login, role


def _is_member(session: Session, login: str, role: str) -> bool:
    return bool(
        session.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_auth_members WHERE roleid = to_regrole(:role) "
                "AND member = to_regrole(quote_ident(:login)))"
            ),
            {"role": role, "login": login},
        )
    )


def _membership(session: Session, statement: str, role: str) -> None:
    try:
        with session.begin_nested():
            _run(session, statement)
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        raise TrackerError(
            f"this database user may not grant or revoke {role}: run it as a member of {ADMIN}, "
            "a role with CREATEROLE or a superuser"
        ) from None
