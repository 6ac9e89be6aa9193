"""Shared fixtures: real databases, migrated once per session, a fresh copy for each test.

SQLite always: template files are migrated (and one loaded with the built-in catalog)
once per session and copied for each test. PostgreSQL too when
``TRACKER_TEST_POSTGRES_URL`` is set: template databases are migrated once; a test gets a
database cloned from one (``CREATE DATABASE ... TEMPLATE``) and, after the test, that
database is put back exactly as its template is, for the next test: its schema is
compared with the template's, then every row and every sequence is restored from a copy
of the template's. (A database whose schema a test changed is emptied into a blank one
or dropped.)
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tracker import catalogs, cli, clock
from tracker.store.database import Database

POSTGRES_URL = os.environ.get("TRACKER_TEST_POSTGRES_URL")
NO_POSTGRES = "PostgreSQL tests need TRACKER_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)),
]
# The built-in catalog is loaded into the "loaded" template at this instant.
CATALOG_LOADED_AT = datetime(2019, 6, 21, tzinfo=UTC)
_counter = itertools.count()
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    """The tests' files (databases included) go to a memory-backed file system where the
    machine has one (Linux's ``/dev/shm``), unless ``--basetemp`` says where: they are real
    files that SQLite opens, locks and syncs as on a disk, only without waiting for one."""
    if config.option.basetemp is None and _MEMORY.is_dir() and os.access(_MEMORY, os.W_OK | os.X_OK):
        tempfile.tempdir = str(_MEMORY)  # where pytest makes its temporary folders


_MEMORY = Path("/dev/shm")


# Running the command line in-process -------------------------------------------------------


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(args: list[str], *, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
    """Run ``tracker ARGS`` through the real entry point (error mapping included)."""
    from typer.testing import CliRunner

    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (stdout, stderr, _mixed):
        try:
            cli.main([str(a) for a in args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        return Result(code, stdout.getvalue().decode(), stderr.getvalue().decode())


def cli_commands() -> Iterator[tuple[tuple[str, ...], object]]:
    """Every command of the CLI's registry, groups' sub-commands included: (path, Click command)."""
    import typer

    stack = [((), typer.main.get_command(cli.app))]
    while stack:
        path, command = stack.pop()
        for name, sub in getattr(command, "commands", {}).items():
            stack.append(((*path, name), sub))
        if path:
            yield path, command


# Databases ------------------------------------------------------------------------------------


def _migrate(url: str) -> None:
    database = Database(url)
    database.upgrade(backup=False)
    database.dispose()


def _load_catalog(url: str) -> None:
    database = Database(url)
    with clock.frozen(CATALOG_LOADED_AT):
        catalog = catalogs.read(catalogs.DEFAULT)
        database.write(lambda session: catalogs.load(session, catalog, "catalog"))
    database.dispose()


@dataclass(frozen=True)
class Template:
    """A database that many tests start from: ``base`` as ``fill(database, folder)`` leaves it."""

    kind: str
    fill: Callable[[Database, Path], object]
    base: str = "loaded"


TEMPLATES: dict[str, Template] = {}


def template(kind: str, fill: Callable[[Database, Path], object], *, base: str = "loaded") -> str:
    """Register a template database; returns ``kind`` for ``make_url_for(kind)``.

    It is built once per session and backend, the first time a test asks for it: a copy of
    ``base`` ("empty", "loaded" or another registered kind) that ``fill`` writes to (through
    the library, with the clock frozen if what it writes must be known); ``folder`` is a
    scratch folder for any file it attaches. Each test then gets a fresh copy of it.
    """
    if kind in ("blank", "empty", "loaded"):
        raise ValueError(f"{kind!r} is a built-in template")
    TEMPLATES[kind] = Template(kind, fill, base)
    return kind


def _sqlite_self_contained(path: Path) -> None:
    """Everything written into the file itself (no ``-wal`` beside it), so that copying the file copies it all."""
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory) -> dict[str, Path]:
    """``empty`` (the schema) and ``loaded`` (the schema and the built-in catalog), migrated once;
    registered templates are added the first time they are asked for."""
    folder = tmp_path_factory.mktemp("templates")
    empty, loaded = folder / "empty.db", folder / "loaded.db"
    _migrate(str(empty))
    _sqlite_self_contained(empty)
    shutil.copyfile(empty, loaded)
    _load_catalog(str(loaded))
    _sqlite_self_contained(loaded)
    return {"empty": empty, "loaded": loaded}


def _sqlite_template(templates: dict[str, Path], kind: str) -> Path:
    if kind not in templates:
        spec = TEMPLATES[kind]
        base = _sqlite_template(templates, spec.base)
        path, folder = base.with_name(f"{kind}.db"), base.with_name(f"{kind}-files")
        shutil.copyfile(base, path)
        folder.mkdir()
        database = Database(str(path))
        spec.fill(database, folder)
        database.dispose()
        _sqlite_self_contained(path)
        templates[kind] = path
    return templates[kind]


_admin_engine = None


def _pg_admin():
    """An AUTOCOMMIT engine on the server's maintenance database (one per session)."""
    global _admin_engine
    if _admin_engine is None:
        _admin_engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    return _admin_engine


def _pg_url(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def _pg_connect(name: str):
    """A psycopg connection (autocommit) to database ``name`` on the test server."""
    import psycopg

    url = make_url(POSTGRES_URL).set(database=name)
    arguments = url.translate_connect_args(username="user", database="dbname")
    return psycopg.connect(autocommit=True, **arguments, **dict(url.query))


def _pg_drop(names: list[str]) -> None:
    """Drop databases, several at once (each DROP DATABASE waits for a checkpoint: they can share it)."""

    def drop(name: str) -> None:
        with _pg_admin().connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    with ThreadPoolExecutor(max(1, min(8, len(names)))) as pool:
        list(pool.map(drop, names))


# Everything a test could change in a database's schema, as one digest: its schemas (owner,
# privileges), relations, columns, defaults, constraints, indexes, triggers, functions, types,
# large objects and settings. Two databases with the same digest differ in their rows at most.
_SCHEMA_DIGEST = r"""
SELECT md5(coalesce(string_agg(item, E'\n' ORDER BY item), '')) FROM (
  SELECT 'schema ' || nspname || ' ' || pg_get_userbyid(nspowner) || ' ' || coalesce(nspacl::text, '') || ' '
         || coalesce(obj_description(oid, 'pg_namespace'), '') AS item
    FROM pg_namespace WHERE nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%'
  UNION ALL
  SELECT 'relation ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' ' || c.relpersistence::text
         || ' ' || coalesce(c.reloptions::text, '') || ' ' || coalesce(c.relacl::text, '')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT 'column ' || n.nspname || '.' || c.relname || ' ' || a.attnum || ' ' || a.attname || ' '
         || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' '
         || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' ' || a.attidentity::text || a.attgenerated::text
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND a.attnum > 0
     AND NOT a.attisdropped
  UNION ALL
  SELECT 'constraint ' || n.nspname || '.' || con.conname || ' ' || pg_get_constraintdef(con.oid)
    FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT 'index ' || schemaname || ' ' || indexdef FROM pg_indexes
   WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT 'trigger ' || t.tgrelid::regclass::text || ' ' || pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
    FROM pg_trigger t WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'function ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') '
         || md5(coalesce(p.prosrc, ''))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  UNION ALL
  SELECT 'type ' || n.nspname || '.' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT 'extension ' || extname || ' ' || extversion FROM pg_extension
  UNION ALL
  SELECT 'large objects ' || count(*) FROM pg_largeobject_metadata
  UNION ALL
  SELECT 'setting ' || coalesce(s.setconfig::text, '') FROM pg_db_role_setting s
   WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
  UNION ALL
  SELECT 'comment ' || coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database
   WHERE datname = current_database()
) AS schema
"""


# A cheap stand-in for that digest: the catalogs it reads (their rows of user objects), each by
# its number of rows and the newest transaction that wrote one of them (and the roles, whose names it shows). DDL writes
# catalog rows: a new row or a new version of one has a newer xmin, a dropped one lowers the
# count. The same signature as the template's: the same schema. Another (a TRUNCATE's new
# file, a role made meanwhile): the digest decides.
_USER_ROWS = {  # where the catalog's rows of user objects are (oids from 16384 on: FirstNormalObjectId)
    "pg_namespace": "true",  # the schemas, public's owner, privileges and comment included
    "pg_class": "oid >= 16384",
    "pg_attribute": "attrelid >= 16384",
    "pg_attrdef": "oid >= 16384",
    "pg_constraint": "oid >= 16384",
    "pg_index": "indexrelid >= 16384",
    "pg_trigger": "oid >= 16384",
    "pg_proc": "oid >= 16384",
    "pg_type": "oid >= 16384",
    "pg_extension": "oid >= 16384",
    "pg_largeobject_metadata": "true",
    "pg_description": "objoid >= 16384 OR objoid IN (SELECT oid FROM pg_namespace)",
}
_CATALOG_SIGNATURE = " UNION ALL ".join(
    [
        *(
            f"SELECT '{name}', count(*)::text || ' ' || coalesce(max(xmin::text::bigint), 0) FROM {name} WHERE {rows}"
            for name, rows in _USER_ROWS.items()
        ),
        "SELECT 'settings', count(*)::text || ' ' || coalesce(max(xmin::text::bigint), 0) FROM pg_db_role_setting "
        "WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())",
        "SELECT 'comment', count(*)::text || ' ' || coalesce(max(xmin::text::bigint), 0) FROM pg_shdescription "
        "WHERE objoid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        "SELECT 'roles', md5(string_agg(oid::text || ' ' || rolname, ',' ORDER BY oid)) FROM pg_roles",
    ]
)


def _catalog_signature(connection) -> dict[str, str]:
    return dict(connection.execute(_CATALOG_SIGNATURE).fetchall())


_SEQUENCES = "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename"


@dataclass
class _Snapshot:
    """What a template database holds: its schema digest (and the signature that stands in for
    it), every table's rows, every sequence."""

    schema: str
    signature: dict[str, str] = field(default_factory=dict)
    rows: dict[str, bytes] = field(default_factory=dict)  # COPY ... (FORMAT binary), in physical order
    digests: dict[str, str] = field(default_factory=dict)  # of each table's rows, in physical order
    sequences: dict[str, tuple[int, bool]] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str) -> _Snapshot:
        with _pg_connect(name) as connection:
            snapshot = cls(
                schema=connection.execute(_SCHEMA_DIGEST).fetchone()[0], signature=_catalog_signature(connection)
            )
            for (table,) in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"):
                with connection.cursor().copy(f'COPY public."{table}" TO STDOUT (FORMAT binary)') as copy:
                    snapshot.rows[table] = b"".join(bytes(block) for block in copy)
            snapshot.digests = snapshot.table_digests(connection)
            snapshot.sequences = snapshot.sequence_values(connection)
        return snapshot

    def table_digests(self, connection) -> dict[str, str]:
        if not self.rows:
            return {}
        query = " UNION ALL ".join(
            f"SELECT '{table}', md5(coalesce(string_agg(r::text, E'\\n' ORDER BY ctid), '')) "
            f'FROM public."{table}" AS r'
            for table in self.rows
        )
        return dict(connection.execute(query).fetchall())

    @staticmethod
    def sequence_values(connection) -> dict[str, tuple[int, bool]]:
        names = [name for (name,) in connection.execute(_SEQUENCES)]
        if not names:
            return {}
        query = " UNION ALL ".join(f"SELECT '{name}', last_value, is_called FROM public.\"{name}\"" for name in names)
        return {name: (last_value, called) for name, last_value, called in connection.execute(query)}


class _PostgresPool:
    """Databases cloned from the templates, each put back as its template is after a test."""

    def __init__(self, templates: dict[str, str], folder: Path) -> None:
        self.templates = dict(templates)
        self.folder = folder  # for the files registered templates attach
        self.snapshots: dict[str, _Snapshot] = {}
        self.free: dict[str, list[str]] = defaultdict(list)
        self.created: list[str] = []
        self.kept: dict[str, Any] = {}  # a connection to each database, to put it back with (warm caches)

    def take(self, kind: str) -> str:
        if self.free[kind]:
            return self.free[kind].pop()
        name = f"tracker_test_{os.getpid()}_{next(_counter)}"
        self._create(name, None if kind == "blank" else self._template(kind))
        if kind not in self.snapshots:
            self.snapshots[kind] = _Snapshot.of(self.templates[kind] if kind != "blank" else name)
        return name

    def _create(self, name: str, template: str | None) -> None:
        with _pg_admin().connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        self.created.append(name)

    def _template(self, kind: str) -> str:
        """The template database of ``kind``; a registered one is built the first time."""
        if kind not in self.templates:
            spec = TEMPLATES[kind]
            base = self._template(spec.base)  # first: it may be built now, and named
            name = f"tracker_tpl_{len(self.templates)}_{os.getpid()}"
            self._create(name, base)
            folder = self.folder / f"{kind}-files"
            folder.mkdir()
            database = Database(_pg_url(name))
            spec.fill(database, folder)
            database.dispose()
            self.templates[kind] = name
        return self.templates[kind]

    def give_back(self, kind: str, name: str) -> None:
        """Restore ``name`` to its template's state and keep it for the next test, or drop it."""
        with _pg_admin().connect() as connection:  # a test may have left connections open
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid() AND pid <> :kept"
                ),
                {"name": name, "kept": self._kept_pid(name)},
            )
        try:
            restored = self._restore(kind, name)
        except Exception:  # e.g. a role that may not disable triggers: clone afresh instead
            restored = False
        if restored:
            self.free[kind].append(name)
        elif (connection := self.kept.pop(name, None)) is not None:
            connection.close()

    def _kept_pid(self, name: str) -> int:
        connection = self.kept.get(name)
        return connection.info.backend_pid if connection is not None and not connection.closed else 0

    @contextlib.contextmanager
    def _connection(self, name: str) -> Iterator[Any]:
        """The connection kept to ``name`` (one made if none, or if the test ended it); closed
        and forgotten if anything fails while it is used."""
        connection = self.kept.get(name)
        if connection is not None and not connection.closed:
            try:
                connection.execute("SELECT 1")
            except Exception:
                connection.close()
        if connection is None or connection.closed:
            connection = self.kept[name] = _pg_connect(name)
        try:
            yield connection
        except BaseException:
            connection.close()
            del self.kept[name]
            raise

    def _restore(self, kind: str, name: str) -> bool:
        snapshot = self.snapshots[kind]
        with self._connection(name) as connection:
            same = _catalog_signature(connection) == snapshot.signature
            schema = snapshot.schema if same else connection.execute(_SCHEMA_DIGEST).fetchone()[0]
            if schema != snapshot.schema:
                # A changed schema (a migration, a downgrade): emptied, it can serve as a blank database.
                if "blank" not in self.snapshots:
                    return False
                connection.execute("DROP SCHEMA public CASCADE")
                connection.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
                connection.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
                connection.execute("COMMENT ON SCHEMA public IS 'standard public schema'")
                if connection.execute(_SCHEMA_DIGEST).fetchone()[0] == self.snapshots["blank"].schema:
                    self.free["blank"].append(name)
                return False
            changed = [t for t, digest in snapshot.table_digests(connection).items() if snapshot.digests[t] != digest]
            if changed:
                with connection.transaction():
                    connection.execute("SET LOCAL session_replication_role = replica")  # no foreign key checks
                    for table in changed:
                        connection.execute(f'DELETE FROM public."{table}"')
                # the emptied tables give their pages back: the rows go back where they were
                connection.execute("VACUUM " + ", ".join(f'public."{table}"' for table in changed))
                with connection.transaction():
                    connection.execute("SET LOCAL session_replication_role = replica")
                    for table in changed:
                        with connection.cursor().copy(f'COPY public."{table}" FROM STDIN (FORMAT binary)') as copy:
                            copy.write(snapshot.rows[table])
            for sequence, value in snapshot.sequence_values(connection).items():
                if value != snapshot.sequences[sequence]:
                    last_value, called = snapshot.sequences[sequence]
                    connection.execute("SELECT setval(%s, %s, %s)", (f'public."{sequence}"', last_value, called))
        return True

    def close(self) -> None:
        """Drop every database made here, and the templates, at once."""
        for connection in self.kept.values():
            connection.close()
        _pg_drop(self.created + list(self.templates.values()))


@pytest.fixture(scope="session")
def pg_templates() -> Iterator[dict[str, str]]:
    """Template databases: ``empty`` (the schema) and ``loaded`` (the schema and the built-in catalog)."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    names = {kind: f"tracker_tpl_{kind}_{os.getpid()}" for kind in ("empty", "loaded")}
    with _pg_admin().connect() as connection:
        for name in names.values():
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{names["empty"]}"'))
        _migrate(_pg_url(names["empty"]))
        connection.execute(text(f'CREATE DATABASE "{names["loaded"]}" TEMPLATE "{names["empty"]}"'))
        _load_catalog(_pg_url(names["loaded"]))
    yield names
    _pg_drop(list(names.values()))
    _pg_admin().dispose()


@pytest.fixture(scope="session")
def pg_pool(pg_templates, tmp_path_factory) -> Iterator[_PostgresPool]:
    pool = _PostgresPool(pg_templates, tmp_path_factory.mktemp("pg-templates"))
    yield pool
    pool.close()


# For a test of how a report is drawn (PDF, Chromium, Word) from a report the library made:
# run on SQLite only. What it draws does not read the database, and the report's data are
# the same on both backends: the golden-file tests of every format check that on each.
DRAWING_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_url_for(backend, request, tmp_path) -> Iterator[Callable[[str], str]]:
    """``make_url_for(kind)`` gives the URL of a fresh database: ``"blank"`` (nothing in it),
    ``"empty"`` (the schema), ``"loaded"`` (the built-in catalog too) or a kind registered
    with :func:`template`."""
    taken: list[tuple[str, str]] = []

    def make(kind: str = "loaded") -> str:
        if backend == "sqlite":
            path = tmp_path / f"tracker-{next(_counter)}.db"
            if kind != "blank":
                shutil.copyfile(_sqlite_template(request.getfixturevalue("sqlite_templates"), kind), path)
            return str(path)
        name = request.getfixturevalue("pg_pool").take(kind)
        taken.append((kind, name))
        return _pg_url(name)

    yield make
    if taken:
        pool = request.getfixturevalue("pg_pool")
        for kind, name in taken:
            pool.give_back(kind, name)


@pytest.fixture
def url(make_url_for) -> str:
    """A database with the schema and the built-in tip-2019-khm catalog."""
    return make_url_for("loaded")


@pytest.fixture
def empty_url(make_url_for) -> str:
    """A database with the schema only."""
    return make_url_for("empty")


@pytest.fixture
def database(url) -> Iterator[Database]:
    db = Database(url)
    yield db
    db.dispose()


@pytest.fixture
def run(url) -> Callable[..., Result]:
    """``run("rec", "list")`` runs tracker against the test database."""

    def go(*args, **kwargs) -> Result:
        return invoke(["--db", url, *args], **kwargs)

    return go


# The library, as the commands call it ------------------------------------------------------------


def read(database: Database, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``query(session, *args, **kwargs)`` in one reading session, as a read command runs it."""
    with database.reading() as session:
        return query(session, *args, **kwargs)


def write(database: Database, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``service(session, *args, **kwargs)`` in one write transaction, as a record command runs it."""
    return database.write(lambda session: service(session, *args, **kwargs))


def add_evidence(
    database: Database,
    recs: Sequence[str],
    title: str,
    observed_on: str,
    kind: str,
    *,
    attach: Sequence[Path] = (),
    actor: str = "tester",
    **fields: Any,
) -> int:
    """What ``tracker evidence add`` does: check the input, read the files, store; the new id."""
    from tracker import services

    evidence = services.check_evidence(recs=recs, title=title, observed_on=observed_on, kind=kind, **fields)
    files = [services.read_attachment(path) for path in attach]
    return database.write(lambda session: services.add_evidence(session, evidence, attachments=files, actor=actor).id)


def verified(database: Database):
    """The full ``tracker verify`` result of ``database``."""
    from tracker.audit import verify as integrity

    return read(database, integrity.verify)


# Comparing databases ---------------------------------------------------------------------------


def dump(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: compare before and after to prove nothing changed."""
    with _reader(Database(url).url).connect() as connection:
        names = sorted(connection.execute(text(_TABLE_NAMES[connection.dialect.name])).scalars())
        queries = [f'SELECT * FROM "{name}"' for name in names]
        if connection.dialect.name == "postgresql":  # every query sent at once (psycopg's pipeline mode)
            raw = connection.connection.dbapi_connection
            with raw.pipeline():
                cursors = [raw.execute(query) for query in queries]
            tables = [cursor.fetchall() for cursor in cursors]
        else:
            tables = [connection.execute(text(query)).all() for query in queries]
        return {name: sorted(tuple(map(repr, row)) for row in rows) for name, rows in zip(names, tables)}


_TABLE_NAMES = {  # what inspect(connection).get_table_names() lists, in one query
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
}


@functools.lru_cache(maxsize=32)
def _reader(url: str) -> Any:
    """An engine for :func:`dump`, kept between its calls (its dialect set up once) and holding
    no connection between them (``NullPool``): a test's database can still be dropped."""
    return create_engine(url, poolclass=NullPool)


def row_counts(database: Database) -> dict[str, int]:
    """Rows per table of ``database``, every table (Alembic's included)."""
    with database.engine.connect() as connection:
        return {
            name: connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            for name in sorted(inspect(connection).get_table_names())
        }
