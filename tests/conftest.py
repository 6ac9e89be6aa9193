"""Shared fixtures: real databases, migrated once per session and copied per test.

SQLite always; PostgreSQL too when ``TRACKER_TEST_POSTGRES_URL`` is set (each test gets
its own database, created from a migrated template).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tracker import cli
from tracker import catalogs, clock
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


# Databases ------------------------------------------------------------------------------------


def _prepare(url: str, loaded: bool) -> None:
    database = Database(url)
    database.upgrade(backup=False)
    if loaded:
        with clock.frozen(CATALOG_LOADED_AT):
            catalog = catalogs.read(catalogs.DEFAULT)
            database.write(lambda session: catalogs.load(session, catalog, "catalog"))
    database.dispose()


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("templates")
    templates = {}
    for name in ("empty", "loaded"):
        path = folder / f"{name}.db"
        _prepare(str(path), loaded=name == "loaded")
        templates[name] = path
    return templates


def _pg_admin():
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def _pg_url(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_templates() -> Iterator[dict[str, str]]:
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    admin = _pg_admin()
    names = {kind: f"tracker_tpl_{kind}_{os.getpid()}" for kind in ("empty", "loaded")}
    with admin.connect() as connection:
        for kind, name in names.items():
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            _prepare(_pg_url(name), loaded=kind == "loaded")
    yield names
    with admin.connect() as connection:
        for name in names.values():
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_url_for(backend, request, tmp_path) -> Iterator[Callable[[str], str]]:
    """``make_url_for("empty" | "loaded" | "blank")`` gives the URL of a fresh database."""
    created: list[str] = []

    def make(kind: str = "loaded") -> str:
        n = next(_counter)
        if backend == "sqlite":
            path = tmp_path / f"tracker-{n}.db"
            if kind != "blank":
                shutil.copyfile(request.getfixturevalue("sqlite_templates")[kind], path)
            return str(path)
        templates = request.getfixturevalue("pg_templates")
        name = f"tracker_test_{os.getpid()}_{n}"
        with _pg_admin().connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if kind == "blank":
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{templates[kind]}"'))
        created.append(name)
        return _pg_url(name)

    yield make
    if created:
        admin = _pg_admin()
        with admin.connect() as connection:
            for name in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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


def dump(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: compare before and after to prove nothing changed."""
    engine = create_engine(Database(url).url)
    try:
        with engine.connect() as connection:
            names = inspect(connection).get_table_names()
            return {
                name: sorted(
                    (tuple(map(repr, row)) for row in connection.execute(text(f'SELECT * FROM "{name}"'))),
                )
                for name in sorted(names)
            }
    finally:
        engine.dispose()


def row_counts(database: Database) -> dict[str, int]:
    """Rows per table of ``database``, every table (Alembic's included)."""
    with database.engine.connect() as connection:
        return {
            name: connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            for name in sorted(inspect(connection).get_table_names())
        }
