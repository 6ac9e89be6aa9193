"""Team roles on PostgreSQL (tracker/team.py): what each group role may read and write, shown
by connecting as logins in each role, with plain SQL as well as through the tracker.

These run only when ``TRACKER_TEST_POSTGRES_URL`` is set. The group roles are the server's
(shared by every database and every test process); each test makes its own logins, with
unique names, and drops them afterwards.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql
from sqlalchemy import select
from sqlalchemy.engine import make_url

from tracker import clock, services, team
from tracker.audit.asof import known_at
from tracker.audit.chain import ChainHead, chain_head
from tracker.store.database import Database
from tracker.store.models import Event

from conftest import POSTGRES_URL, invoke, template

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL tests need TRACKER_TEST_POSTGRES_URL"),
]

START = datetime(2019, 9, 30, 9, tzinfo=UTC)
AS_OF = "2019-10-01T00:00:00Z"
CONFIDENTIAL_CANARY = "CONFCANARY"  # in every text of confidential evidence, and of evidence raised to it
INTERNAL_CANARY = "INTCANARY"  # in every text of internal evidence


@pytest.fixture
def backend() -> str:
    """Every test here runs on PostgreSQL only."""
    return "postgres"


# The data: evidence of each sensitivity, with files, corrections, a retraction, citations -----------


def _evidence(database: Database, at: datetime, folder: Path, number: int, level: str, **given: Any) -> int:
    canary = {"public": "", "internal": INTERNAL_CANARY, "confidential": CONFIDENTIAL_CANARY}[level]
    attachment = folder / f"file-{number}-{canary or 'public'}.txt"
    attachment.write_bytes(f"bytes of file {number} {canary}".encode())
    evidence = services.check_evidence(
        recs=[given.pop("rec", "labor-inspections")],
        title=given.pop("title", f"Evidence {number} {canary}"),
        observed_on=given.pop("observed_on", "2019-08-01"),
        kind="inspection",
        summary=f"Summary {number} {canary}",
        url=f"https://example.org/{number}/{canary}",
        source_name=f"Source {number} {canary}",
        sensitivity=level,
    )
    with clock.frozen(at):
        return database.write(
            lambda s: (
                services.add_evidence(
                    s, evidence, attachments=[services.read_attachment(attachment)], actor="ana", **given
                ).id
            )
        )


def _fill(database: Database, folder: Path) -> None:
    """Public, internal and confidential evidence in 2019Q3; public evidence a correction raised
    to confidential; corrections (of a text, of links), a retraction, a citing status, a measurement, an entry made
    for an agency. The last event records confidential evidence: its payload is hidden from a
    public reader, not its hash. Then ``team setup``, as the owner."""
    moments = iter(START + timedelta(hours=n) for n in range(100))
    public = _evidence(database, next(moments), folder, 1, "public")
    internal = _evidence(database, next(moments), folder, 2, "internal")
    secret = _evidence(database, next(moments), folder, 3, "confidential", on_behalf_of="molvt")
    raised = _evidence(database, next(moments), folder, 4, "public", title=f"Raised later {CONFIDENTIAL_CANARY}")

    def write(work: Callable[[Any], object]) -> None:
        with clock.frozen(next(moments)):
            database.write(work)

    write(
        lambda s: services.amend_evidence(
            s, secret, {"title": f"Corrected {CONFIDENTIAL_CANARY}"}, reason=f"why {CONFIDENTIAL_CANARY}", actor="ana"
        )
    )
    write(
        lambda s: services.amend_evidence(
            s, raised, {"sensitivity": "confidential"}, reason=f"names a victim {CONFIDENTIAL_CANARY}", actor="ana"
        )
    )
    write(
        lambda s: services.amend_evidence(
            s, secret, {}, links=[("prosecute-convict", "progress")], reason=f"also {CONFIDENTIAL_CANARY}", actor="ana"
        )
    )
    write(lambda s: services.retract_evidence(s, internal, f"withdrawn {INTERNAL_CANARY}", actor="ana"))
    write(
        lambda s: services.set_status(
            s,
            "labor-inspections",
            "in_progress",
            effective_on="2019-09-30",
            note="First kiln inspections since 2017",
            evidence_ids=[public, secret],
            actor="ana",
        )
    )
    write(lambda s: services.record_measurement(s, "kiln-inspections", "2019Q3", 12, evidence_id=secret, actor="ana"))
    _evidence(database, next(moments), folder, 5, "confidential", observed_on="2019-09-02")
    database.write(team.setup)


TEAM = template("team", _fill)


@pytest.fixture
def places() -> list[str]:
    """The databases of a test whose logins may own something there: cleaned before they are dropped."""
    return []


@pytest.fixture
def team_url(make_url_for, places) -> str:
    """A team database (setup run by its owner, a superuser) with :func:`_fill`'s data."""
    url = make_url_for(TEAM)
    places.append(url)
    return url


# Logins -----------------------------------------------------------------------------------------


def connect(url: str, login: str | None = None) -> psycopg.Connection:
    """A plain psycopg connection (autocommit) to the database of ``url``, as ``login`` if given."""
    address = make_url(url)
    if login is not None:
        address = address.set(username=login, password=None)
    return psycopg.connect(autocommit=True, **address.translate_connect_args(username="user", database="dbname"))


def as_login(url: str, login: str) -> str:
    """The tracker's URL of the same database, logged in as ``login`` (trust authentication)."""
    return make_url(url).set(username=login, password=None).render_as_string(hide_password=False)


@pytest.fixture
def logins(make_url_for, places) -> Iterator[Callable[..., str]]:
    """``login(role)``: a new LOGIN role with a unique name, a member of ``tracker_ROLE`` (none
    for ``None``); dropped after the test, with anything it owns in the test's databases."""
    made: list[str] = []

    def make(role: str | None = None) -> str:
        name = f"t{uuid.uuid4().hex[:10]}_{role or 'nobody'}"
        with connect(POSTGRES_URL) as connection:
            connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            made.append(name)
            if role is not None:
                connection.execute(
                    sql.SQL("GRANT {} TO {}").format(sql.Identifier(f"tracker_{role}"), sql.Identifier(name))
                )
        return name

    yield make
    for url in places:
        with connect(url) as connection:
            for name in made:
                connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
                connection.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(sql.Identifier(name)))
                connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    with connect(POSTGRES_URL) as connection:
        for name in made:
            connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def run_as(url: str, login: str, *args: str, env: dict[str, str | None] | None = None):
    return invoke(["--db", as_login(url, login), *args], env=env)


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


# What the owner knows: every piece of evidence and its effective level ------------------------------


def levels(url: str) -> dict[int, str]:
    """Each piece of evidence's sensitivity as corrections leave it (the highest)."""
    with connect(url) as connection:
        found = dict(connection.execute("SELECT id, sensitivity FROM evidence").fetchall())
        for record_id, changes in connection.execute(
            "SELECT record_id, changes FROM correction WHERE target = 'evidence' ORDER BY id"
        ):
            raised = json.loads(changes).get("sensitivity")
            if raised is not None and RANK[raised] > RANK[found[record_id]]:
                found[record_id] = raised
    return found


RANK = {"public": 0, "internal": 1, "confidential": 2}


def mentioned(payload: str) -> set[int]:
    """The evidence an event's payload records or names."""
    ids = set()
    for name, rows in json.loads(payload)["rows"].items():
        for row in rows:
            if name == "evidence":
                ids.add(row["id"])
            elif name == "correction" and row["target"] in ("evidence", "evidence_link"):
                ids.add(row["record_id"])
            elif name == "entry_for" and row["target"] == "evidence":
                ids.add(row["record_id"])
            elif row.get("evidence_id") is not None:
                ids.add(row["evidence_id"])
    return ids


# Setup ------------------------------------------------------------------------------------------


def test_team_setup_on_sqlite_is_refused(tmp_path):
    path = tmp_path / "one.db"
    result = invoke(["--db", str(path), "team", "setup"])
    assert result.exit_code == 2, result.output
    assert "team roles need PostgreSQL" in one_error_line(result)
    assert not path.exists()


# Everything setup makes, as one text: ownership, privileges, policies, functions, triggers.
_TEAM_STATE = """
SELECT string_agg(item, E'\\n' ORDER BY item) FROM (
  SELECT 'relation ' || relname || ' ' || pg_get_userbyid(relowner) || ' ' || coalesce(relacl::text, '')
         || ' ' || relrowsecurity::text || relforcerowsecurity::text AS item
    FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S')
  UNION ALL
  SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text || ' '
         || coalesce(qual, '') || ' ' || coalesce(with_check, '') FROM pg_policies
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure::text || ' ' || pg_get_userbyid(p.proowner) || ' '
         || coalesce(p.proacl::text, '') || ' ' || p.prosecdef::text || ' ' || coalesce(p.proconfig::text, '')
         || ' ' || md5(p.prosrc)
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT 'member ' || roleid::regrole::text || ' ' || member::regrole::text || ' ' || admin_option::text
    FROM pg_auth_members WHERE roleid::regrole::text LIKE 'tracker\\_%'
     AND member::regrole::text LIKE 'tracker\\_%'  -- (other tests' logins come and go meanwhile)
  UNION ALL
  SELECT 'role ' || rolname || ' ' || rolcanlogin::text FROM pg_roles WHERE rolname LIKE 'tracker\\_%'
) AS state
"""


def test_team_setup_twice_changes_nothing(team_url):
    with connect(team_url) as connection:
        before = connection.execute(_TEAM_STATE).fetchone()[0]
    first = invoke(["--db", team_url, "team", "setup"])
    assert first.exit_code == 0, first.output
    second = invoke(["--db", team_url, "team", "setup"])
    assert second.exit_code == 0, second.output
    assert first.stderr == second.stderr
    assert "Group roles there: tracker_public" in second.stderr
    with connect(team_url) as connection:
        assert connection.execute(_TEAM_STATE).fetchone()[0] == before


def test_team_setup_of_two_databases_at_once(make_url_for):
    urls = [make_url_for("loaded"), make_url_for("loaded")]
    results: list[Any] = [None, None]
    barrier = threading.Barrier(2)

    def set_up(index: int) -> None:
        database = Database(urls[index])
        try:
            barrier.wait()
            results[index] = database.write(team.setup)
        except Exception as error:  # the test names it
            results[index] = error
        finally:
            database.dispose()

    threads = [threading.Thread(target=set_up, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(result, team.Setup) for result in results), results
    for url in urls:
        with connect(url) as connection:
            assert connection.execute("SELECT to_regprocedure('tracker_chain_head(timestamp)')").fetchone()[0]


def test_a_database_owner_who_is_no_superuser_sets_the_team_up(logins, places):
    """The usual server: the database's owner (CREATEROLE, not a superuser) made the schema
    with ``tracker init``; setup makes it a member of tracker_admin, which gets the tables."""
    owner = logins()
    name = f"{owner}_db"
    with connect(POSTGRES_URL) as connection:
        connection.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(owner)))
        connection.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        places.append(url)
        created = run_as(url, owner, "init", "--no-catalog", "--by", owner)
        assert created.exit_code == 0, created.output
        result = run_as(url, owner, "team", "setup")
        assert result.exit_code == 0, result.output
        with connect(url) as connection:
            assert connection.execute(
                "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "AND relkind IN ('r', 'S')"
            ).fetchall() == [("tracker_admin",)]
        verified = run_as(url, owner, "verify")
        assert verified.exit_code == 0, verified.output
        person = logins()
        granted = run_as(url, owner, "team", "grant", person, "tracker_public")
        assert granted.exit_code == 0, granted.output
    finally:
        places.remove(url)
        with connect(POSTGRES_URL) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_grant_and_revoke_show_in_members(team_url, logins):
    person = logins()
    granted = invoke(["--db", team_url, "team", "grant", person, "tracker_internal"])
    assert granted.exit_code == 0, granted.output
    assert f"Granted tracker_internal to {person}" in granted.stderr
    again = invoke(["--db", team_url, "team", "grant", person, "tracker_internal"])
    assert again.exit_code == 0 and "already a member" in again.stderr, again.output
    listed = invoke(["--db", team_url, "team", "members", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {"login": person, "role": "tracker_internal"} in [
        {"login": row["login"], "role": row["role"]} for row in json.loads(listed.stdout)
    ]
    table = invoke(["--db", team_url, "team", "members"])
    assert person in table.stdout and "tracker_internal" in table.stdout
    revoked = invoke(["--db", team_url, "team", "revoke", person, "tracker_internal"])
    assert revoked.exit_code == 0 and f"Revoked tracker_internal from {person}" in revoked.stderr, revoked.output
    listed = invoke(["--db", team_url, "team", "members", "--json"])
    assert person not in [row["login"] for row in json.loads(listed.stdout)]
    again = invoke(["--db", team_url, "team", "revoke", person, "tracker_internal"])
    assert again.exit_code == 0 and "not a member" in again.stderr, again.output


@pytest.mark.parametrize(
    ("login", "role", "says"),
    [
        ("PERSON", "tracker_superuser", "unknown role 'tracker_superuser'"),
        ("PERSON", "", "role is required"),
        ("nobody_by_that_name_xyz", "tracker_public", "there is no database user 'nobody_by_that_name_xyz'"),
        ("tracker_admin", "tracker_public", "one of the group roles"),
    ],
)
def test_bad_grants_exit_2_and_change_nothing(team_url, logins, login, role, says):
    person = logins()
    login = person if login == "PERSON" else login
    with connect(team_url) as connection:
        before = connection.execute(_TEAM_STATE).fetchone()[0]
    for command in ("grant", "revoke"):
        result = invoke(["--db", team_url, "team", command, login, role])
        assert result.exit_code == 2, result.output
        assert says in one_error_line(result)
    with connect(team_url) as connection:
        assert connection.execute(_TEAM_STATE).fetchone()[0] == before


def test_grant_before_setup_is_refused(url, logins):
    """(``url``: a database whose team setup has not been run.)"""
    person = logins()
    result = invoke(["--db", url, "team", "grant", person, "tracker_public"])
    assert result.exit_code == 1, result.output
    assert "run `tracker team setup` first" in one_error_line(result)


def test_an_admin_grants_roles_without_createrole(team_url, logins):
    admin, person = logins("admin"), logins()
    result = run_as(team_url, admin, "team", "grant", person, "tracker_writer")
    assert result.exit_code == 0, result.output
    with connect(team_url) as connection:
        assert connection.execute("SELECT pg_has_role(%s, 'tracker_writer', 'MEMBER')", (person,)).fetchone()[0]


# Reading ----------------------------------------------------------------------------------------

PROTECTED_BY_EVIDENCE = {
    "evidence": "id",
    "evidence_link": "evidence_id",
    "evidence_retraction": "evidence_id",
    "evidence_attachment": "evidence_id",
    "status_update_evidence": "evidence_id",
    "entry_for": "CASE WHEN target = 'evidence' THEN record_id END",
    "search_index": "CASE WHEN target = 'evidence' THEN record_id END",
    "correction": "CASE WHEN target IN ('evidence', 'evidence_link') THEN record_id END",
}


@pytest.mark.parametrize(("role", "level"), [("public", 0), ("internal", 1), ("writer", 1), ("confidential", 2)])
def test_each_role_reads_evidence_up_to_its_level_only(team_url, logins, role, level):
    known = levels(team_url)
    above = sorted(key for key, sensitivity in known.items() if RANK[sensitivity] > level)
    visible = sorted(key for key, sensitivity in known.items() if RANK[sensitivity] <= level)
    assert above or level == 2
    reader = logins(role)
    with connect(team_url, reader) as connection:
        for table, column in PROTECTED_BY_EVIDENCE.items():
            seen = {key for (key,) in connection.execute(f"SELECT {column} FROM {table}") if key is not None}
            assert not seen & set(above), (table, seen)
        assert sorted(key for (key,) in connection.execute("SELECT id FROM evidence")) == visible
        files = connection.execute("SELECT sha256 FROM attachment").fetchall()
        names = connection.execute("SELECT DISTINCT sha256 FROM evidence_attachment").fetchall()
        assert sorted(files) == sorted(names)  # a file only with evidence it may read
        events = connection.execute("SELECT seq, payload FROM event ORDER BY seq").fetchall()
        for seq, payload in events:
            assert not mentioned(payload) & set(above), (seq, payload)
    with connect(team_url) as connection:
        everything = connection.execute("SELECT seq, payload FROM event").fetchall()
    hidden = [seq for seq, payload in everything if mentioned(payload) & set(above)]
    assert len(events) == len(everything) - len(hidden)


def test_an_event_not_written_by_the_tracker_is_hidden_if_it_may_name_evidence(team_url, logins):
    """(Tampering, for verify to name: a reader below confidential cannot tell what such an
    event records, so it does not see it, unless the payload cannot name evidence at all.)"""
    with connect(team_url) as connection:
        connection.execute("ALTER TABLE event DISABLE TRIGGER USER")
        for seq, payload in ((100, '{"rows": "evidence 3"}'), (101, "not JSON, evidence 3"), (102, "not JSON")):
            connection.execute(
                "INSERT INTO event (seq, recorded_at, actor, action, payload, prev_hash, hash) "
                "VALUES (%s, now(), 'x', 'evidence.add', %s, %s, %s)",
                (seq, payload, f"p{seq}", f"h{seq}"),
            )
        connection.execute("ALTER TABLE event ENABLE TRIGGER USER")
    with connect(team_url, logins("public")) as connection:
        assert connection.execute("SELECT seq FROM event WHERE seq >= 100").fetchall() == [(102,)]
    with connect(team_url, logins("confidential")) as connection:
        assert len(connection.execute("SELECT seq FROM event WHERE seq >= 100").fetchall()) == 3


def _texts(connection: psycopg.Connection) -> Iterator[tuple[str, Any]]:
    """Every value of every row of every table, view and function of the schema this role may
    select or call (functions with no argument or defaults only), and of pg_stats."""
    relations = connection.execute(
        "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
        "AND c.relkind IN ('r', 'v', 'm', 'p', 'f') AND has_table_privilege(c.oid, 'SELECT')"
    ).fetchall()
    assert relations
    for (relation,) in relations:
        for row in connection.execute(f"SELECT * FROM {relation}"):
            for value in row:
                yield relation, value
    callable_ = connection.execute(
        "SELECT p.oid::regprocedure::text, p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
        "AND has_function_privilege(p.oid, 'EXECUTE') AND p.pronargs = p.pronargdefaults AND p.prorettype <> "
        "'trigger'::regtype AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
    ).fetchall()
    assert {name for _signature, name in callable_} >= {"tracker_chain_head", "tracker_reader_level"}
    for signature, name in callable_:
        for row in connection.execute(f"SELECT * FROM {name}()"):
            for value in row:
                yield signature, value
    for row in connection.execute("SELECT * FROM pg_stats WHERE schemaname = 'public'"):
        for value in row:
            yield "pg_stats", value


def _leaks(connection: psycopg.Connection, canaries: tuple[str, ...]) -> list[tuple[str, str]]:
    found = []
    for where, value in _texts(connection):
        spelled = bytes(value).decode(errors="replace") if isinstance(value, bytes | memoryview) else str(value)
        found.extend((where, canary) for canary in canaries if canary in spelled)
    return found


def test_no_canary_reaches_a_public_reader_by_any_select(team_url, logins):
    with connect(team_url) as connection:
        connection.execute("ANALYZE")  # pg_stats filled: its most common values would show texts
        assert _leaks(connection, (CONFIDENTIAL_CANARY, INTERNAL_CANARY))  # the canaries are there
    with connect(team_url, logins("public")) as connection:
        assert _leaks(connection, (CONFIDENTIAL_CANARY, INTERNAL_CANARY)) == []
    with connect(team_url, logins("internal")) as connection:
        assert _leaks(connection, (CONFIDENTIAL_CANARY,)) == []


def test_no_canary_reaches_a_public_reader_through_the_tracker(team_url, logins):
    reader = logins("public")
    for args in (
        ["log", "--json"],
        ["evidence", "list", "--json"],
        ["search", "Evidence", "--audience", "confidential", "--include-retracted", "--json"],
        ["status", "history", "labor-inspections", "--json"],
        ["report", "quarterly", "2019Q3", "--audience", "confidential", "--format", "json", "--as-of", AS_OF],
    ):
        result = run_as(team_url, reader, *args)
        assert result.exit_code == 0, (args, result.output)
        assert CONFIDENTIAL_CANARY not in result.output and INTERNAL_CANARY not in result.output, args


def test_a_public_readers_report_has_the_owners_fingerprint_and_evidence(team_url, logins):
    """A report's fingerprint is the chain's last event, which here records confidential
    evidence: the public reader gets it through tracker_chain_head. What it shows is the
    owner's, but for the counts of what it withholds (see the next test)."""
    args = ["report", "quarterly", "2019Q3", "--audience", "public", "--format", "json"]
    owner = invoke(["--db", team_url, *args, "--as-of", AS_OF])
    reader = run_as(team_url, logins("public"), *args, "--as-of", AS_OF)
    assert owner.exit_code == 0 and reader.exit_code == 0, (owner.output, reader.output)
    mine, theirs = json.loads(owner.stdout), json.loads(reader.stdout)
    with connect(team_url) as connection:
        last = connection.execute("SELECT hash FROM event ORDER BY seq DESC LIMIT 1").fetchone()[0]
    assert mine["fingerprint"] == theirs["fingerprint"] == last

    def without_counts(document: Any) -> Any:
        if isinstance(document, dict):
            return {k: without_counts(v) for k, v in document.items() if k not in ("withheld", "cites_withheld")}
        if isinstance(document, list):
            return [without_counts(item) for item in document]
        return document

    assert without_counts(theirs) == without_counts(mine)
    # as of an earlier instant, too (the chain head known then)
    earlier = ["--as-of", "2019-09-30T11:30:00Z"]
    owner, reader = invoke(["--db", team_url, *args, *earlier]), run_as(team_url, logins("public"), *args, *earlier)
    assert json.loads(owner.stdout)["fingerprint"] == json.loads(reader.stdout)["fingerprint"] is not None


def test_a_report_says_the_withheld_are_not_counted_when_its_maker_may_not_read_them(team_url, logins):
    """A role below tracker_confidential cannot count evidence the database hides from it: its
    report says so (null counts, a sentence) rather than a number it cannot know; a
    tracker_confidential login's report is the owner's byte for byte."""
    args = ["report", "quarterly", "2019Q3", "--audience", "public", "--format", "json", "--as-of", AS_OF]
    owner = invoke(["--db", team_url, *args])
    mine = json.loads(owner.stdout)
    assert mine["withheld"] > 0 and any(
        u["cites_withheld"] for r in mine["recommendations"] for u in r["status_updates"]
    )
    for role in ("public", "internal", "writer"):
        reader = run_as(team_url, logins(role), *args)
        assert reader.exit_code == 0, reader.output
        theirs = json.loads(reader.stdout)
        assert theirs["withheld"] is None, role
        assert [u["cites_withheld"] for r in theirs["recommendations"] for u in r["status_updates"]] == [
            None for r in mine["recommendations"] for u in r["status_updates"]
        ], role
    markdown = run_as(team_url, logins("public"), *args[:-4], "--as-of", AS_OF)
    assert "Evidence withheld from this public report is not counted" in markdown.stdout
    assert "withheld from this public report: " not in markdown.stdout
    csv_rows = list(
        csv.reader(io.StringIO(run_as(team_url, logins("public"), *args[:-3], "csv", "--as-of", AS_OF).stdout))
    )
    column = csv_rows[0].index("cited_withheld")
    assert {row[column] for row in csv_rows[1:]} == {""}
    confidential = run_as(team_url, logins("confidential"), *args)
    assert confidential.stdout == owner.stdout
    # a confidential report withholds nothing: every role's is the owner's
    whole = ["report", "quarterly", "2019Q3", "--audience", "confidential", "--format", "json", "--as-of", AS_OF]
    assert json.loads(invoke(["--db", team_url, *whole]).stdout)["withheld"] == 0


def test_the_chain_head_known_at_an_instant_follows_clock_corrections(team_url, logins):
    """tracker_chain_head(as_of) gives the event tracker.audit.asof.known_at would: one stamped
    ahead of a later clock correction is known from the correction's time."""
    with connect(team_url) as connection:
        stamps = [row[0] for row in connection.execute("SELECT recorded_at FROM event ORDER BY seq")]
        # (a correction row only, written by hand: events 1 to 6 count as known at its instant)
        connection.execute("ALTER TABLE clock_correction DISABLE TRIGGER USER")
        connection.execute(
            "INSERT INTO clock_correction (stamped_until, last_seq, rows_before, reason, recorded_at, recorded_by) "
            "VALUES (%s, 6, '{}', 'test', %s, 'ana')",
            (stamps[5], stamps[2] + timedelta(minutes=30)),
        )
        connection.execute("ALTER TABLE clock_correction ENABLE TRIGGER USER")
    reader, owner = Database(as_login(team_url, logins("public"))), Database(team_url)
    try:
        for moment in [*stamps, *(stamp + timedelta(minutes=30) for stamp in stamps)]:
            moment = moment.replace(tzinfo=UTC)
            with owner.reading() as session:  # the tracker's definition, reading every event
                expected = session.execute(
                    select(Event.seq, Event.hash, Event.recorded_at)
                    .where(known_at(session, Event) <= moment)
                    .order_by(Event.seq.desc())
                    .limit(1)
                ).one()
            with reader.reading() as session:
                assert chain_head(session, moment) == ChainHead(*expected), moment
    finally:
        reader.dispose()
        owner.dispose()


# Verify -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["public", "internal", "writer"])
def test_verify_below_confidential_says_what_it_needs(team_url, logins, role):
    result = run_as(team_url, logins(role), "verify")
    assert result.exit_code == 1, result.output
    assert "needs tracker_confidential" in one_error_line(result)


@pytest.mark.parametrize("role", ["confidential", "admin"])
def test_verify_as_confidential_or_admin_passes(team_url, logins, role):
    result = run_as(team_url, logins(role), "verify")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("OK: 12 events")


# Writing ----------------------------------------------------------------------------------------


def test_a_writer_records_evidence_of_any_level_and_a_status(team_url, logins, tmp_path):
    writer, confidential, public = logins("writer"), logins("confidential"), logins("public")
    attachment = tmp_path / "raid.txt"
    attachment.write_bytes(b"names of victims WRITERCANARY")
    added = run_as(
        team_url,
        writer,
        *("evidence", "add", "--rec", "victim-identification", "--title", "Raid report WRITERCANARY"),
        *("--date", "2019-09-10", "--kind", "field_observation", "--sensitivity", "confidential"),
        *("--attach", str(attachment)),
    )
    assert added.exit_code == 0, added.output
    evidence_id = added.stdout.strip()
    status = run_as(
        team_url,
        writer,
        *("status", "set", "victim-identification", "in_progress", "--on", "2019-09-11"),
        *("--note", "Shelters open again", "--evidence", evidence_id, "--for", "mosvy"),
        env={"TRACKER_USER": "someone-else"},  # the client's name for the author: the login wins
    )
    assert status.exit_code == 0, status.output
    with connect(team_url) as connection:
        assert connection.execute(
            "SELECT recorded_by FROM status_update WHERE id = %s", (int(status.stdout),)
        ).fetchone() == (writer,)
        assert connection.execute(
            "SELECT agency.code FROM entry_for JOIN agency ON agency.id = entry_for.agency_id "
            "WHERE target = 'status_update' AND record_id = %s",
            (int(status.stdout),),
        ).fetchone() == ("mosvy",)
    shown = run_as(team_url, writer, "evidence", "show", evidence_id, "--json")  # it reads what it recorded
    assert shown.exit_code == 0 and "WRITERCANARY" in shown.stdout, shown.output
    hidden = run_as(team_url, public, "evidence", "show", evidence_id)
    assert hidden.exit_code == 2 and "WRITERCANARY" not in hidden.output, hidden.output
    with connect(team_url) as connection:
        assert connection.execute("SELECT recorded_by FROM evidence WHERE id = %s", (evidence_id,)).fetchone() == (
            writer,
        )
        assert {actor for (actor,) in connection.execute("SELECT actor FROM event WHERE seq > 12")} == {writer}
    verified = run_as(team_url, confidential, "verify")
    assert verified.exit_code == 0, verified.output
    assert verified.stderr.startswith("OK: 14 events")


def test_a_writer_imports_a_file_and_its_ids_follow_the_hidden_rows(team_url, logins, tmp_path):
    """A writer cannot see confidential evidence others recorded, nor count it: its import
    still gives every row an id after the last stored one (the database's sequences), is
    recorded under its login, and verifies."""
    writer, confidential = logins("writer"), logins("confidential")
    with connect(team_url) as connection:
        (highest,) = connection.execute("SELECT max(id) FROM evidence").fetchone()
        (hidden,) = connection.execute("SELECT count(*) FROM evidence WHERE sensitivity = 'confidential'").fetchone()
    assert hidden and highest
    rows = [
        f"labor-inspections,Kiln visit {n},2019-08-{n:02d},inspection,progress,,Seen,MoLVT,credible,"
        + ("confidential" if n % 2 else "internal")
        for n in range(1, 21)
    ]
    evidence = tmp_path / "evidence.csv"
    evidence.write_text(
        "rec,title,date,kind,stance,url,summary,source_name,reliability,sensitivity\n" + "\n".join(rows) + "\n"
    )
    dry = run_as(team_url, writer, "import", str(evidence), "--dry-run")
    assert dry.exit_code == 0, dry.output
    done = run_as(team_url, writer, "import", str(evidence))
    assert done.exit_code == 0, done.output
    statuses = tmp_path / "status.csv"
    statuses.write_text("rec,status,effective_on,note,evidence\nlabor-inspections,in_progress,2019-09-29,Kilns,\n")
    assert run_as(team_url, writer, "import", str(statuses)).exit_code == 0
    with connect(team_url) as connection:
        ids = [
            row[0] for row in connection.execute("SELECT id FROM evidence WHERE title LIKE 'Kiln visit %' ORDER BY id")
        ]
        authors = {row[0] for row in connection.execute("SELECT recorded_by FROM evidence WHERE id > %s", (highest,))}
    assert len(ids) == 20 and min(ids) > highest and authors == {writer}
    # a single command after the import takes the next id, as the import moved the sequence on
    added = run_as(
        team_url,
        writer,
        "evidence",
        "add",
        "--rec",
        "labor-inspections",
        "--title",
        "After",
        "--date",
        "2019-09-01",
        "--kind",
        "inspection",
    )
    assert added.exit_code == 0, added.output
    assert int(added.stdout) > max(ids)
    fixes = tmp_path / "fixes.csv"
    fixes.write_text(f"record,field,value,reason\nevidence/{ids[0]},title,Kiln visit one,Typo\n")
    assert run_as(team_url, writer, "import", str(fixes), "--dry-run").exit_code == 0
    fixed = run_as(team_url, writer, "import", str(fixes))
    assert fixed.exit_code == 0, fixed.output
    verified = run_as(team_url, confidential, "verify")
    assert verified.exit_code == 0, verified.output


def test_a_writer_attaches_a_file_stored_for_evidence_it_may_not_read(team_url, logins, tmp_path):
    """A file is stored once: one already attached to confidential evidence (hidden from the
    writer) is linked, not stored again, and the chain still verifies."""
    writer, confidential = logins("writer"), logins("confidential")
    same = tmp_path / "copy.txt"
    same.write_bytes(f"bytes of file 3 {CONFIDENTIAL_CANARY}".encode())
    added = run_as(
        team_url,
        writer,
        *("evidence", "add", "--rec", "labor-inspections", "--title", "Same file", "--date", "2019-09-01"),
        *("--kind", "inspection", "--sensitivity", "confidential", "--attach", str(same)),
    )
    assert added.exit_code == 0, added.output
    with connect(team_url) as connection:
        digest = connection.execute(
            "SELECT sha256 FROM evidence_attachment WHERE evidence_id = %s", (int(added.stdout),)
        ).fetchone()[0]
        assert connection.execute("SELECT count(*) FROM attachment WHERE sha256 = %s", (digest,)).fetchone() == (1,)
        assert connection.execute(
            "SELECT count(*) FROM evidence_attachment WHERE sha256 = %s", (digest,)
        ).fetchone() == (2,)
    again = run_as(
        team_url,
        writer,
        *("evidence", "add", "--rec", "labor-inspections", "--title", "Same file again", "--date", "2019-09-02"),
        *("--kind", "inspection", "--attach", str(same)),
    )
    assert again.exit_code == 0, again.output
    verified = run_as(team_url, confidential, "verify")
    assert verified.exit_code == 0, verified.output


def test_a_row_under_another_name_is_refused(team_url, logins):
    writer = logins("writer")
    refused = run_as(
        team_url,
        writer,
        *("evidence", "add", "--rec", "labor-inspections", "--title", "Forged", "--date", "2019-09-10"),
        *("--kind", "other", "--by", "someone-else"),
    )
    assert refused.exit_code == 2, refused.output  # the command line refuses --by on a team database
    assert f"--by is refused on a team database: you record as your login {writer!r}" in one_error_line(refused)
    with connect(team_url, writer) as connection:
        with pytest.raises(errors.InsufficientPrivilege, match="author is the database user"):
            connection.execute(
                "INSERT INTO evidence (title, kind, observed_on, reliability, sensitivity, recorded_at, recorded_by) "
                "VALUES ('Forged', 'other', '2019-09-10', 'credible', 'public', now(), 'someone-else')"
            )
        with pytest.raises(errors.InsufficientPrivilege, match="author is the database user"):
            connection.execute(
                "INSERT INTO event (seq, recorded_at, actor, action, payload, prev_hash, hash) "
                "VALUES (1000, now(), 'someone-else', 'evidence.add', '{}', 'x', 'y')"
            )
    with connect(team_url) as connection:  # nobody's exception: not even the owner's
        with pytest.raises(errors.InsufficientPrivilege):
            connection.execute(
                "INSERT INTO status_update (recommendation_id, status, effective_on, note, recorded_at, recorded_by) "
                "VALUES (1, 'in_progress', '2019-09-10', 'forged', now(), 'someone-else')"
            )


def test_a_writer_updates_deletes_and_truncates_nothing(team_url, logins):
    writer = logins("writer")
    with connect(team_url) as connection:
        tables = connection.execute(
            "SELECT c.relname, (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum = 1) "
            "FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' ORDER BY 1"
        ).fetchall()
        sequences = [name for (name,) in connection.execute("SELECT sequencename FROM pg_sequences")]
    assert len(tables) >= 20 and sequences
    with connect(team_url, writer) as connection:
        for table, column in tables:
            for statement in (
                f'UPDATE "{table}" SET "{column}" = "{column}"',
                f'DELETE FROM "{table}"',
                f'TRUNCATE "{table}"',
            ):
                with pytest.raises(errors.InsufficientPrivilege):
                    connection.execute(statement)
        for sequence in sequences:
            with pytest.raises(errors.InsufficientPrivilege):
                connection.execute("SELECT setval(%s, 1)", (sequence,))
        for statement in ("ALTER TABLE evidence DISABLE ROW LEVEL SECURITY", "DROP POLICY tracker_read ON evidence"):
            with pytest.raises(errors.InsufficientPrivilege):
                connection.execute(statement)


def test_an_admin_migrates_and_sets_the_team_up_again(make_url_for, places, logins):
    """A member of tracker_admin downgrades and upgrades the schema (the tables are
    tracker_admin's), then runs team setup again: the tables the migration made are
    tracker_admin's too, protected, and the writer writes as before."""
    url = make_url_for("loaded")
    places.append(url)
    assert invoke(["--db", url, "team", "setup"]).exit_code == 0
    admin, writer, confidential, public = logins("admin"), logins("writer"), logins("confidential"), logins("public")

    def add(title: str, sensitivity: str) -> None:
        result = run_as(
            url,
            writer,
            *("evidence", "add", "--rec", "labor-inspections", "--title", title, "--date", "2019-09-12"),
            *("--kind", "other", "--sensitivity", sensitivity),
        )
        assert result.exit_code == 0, result.output

    add(f"Before the upgrade {CONFIDENTIAL_CANARY}", "confidential")
    for args in (["db", "downgrade", "0005"], ["db", "upgrade"]):
        result = run_as(url, admin, *args)
        assert result.exit_code == 0, (args, result.output)
    # the upgrade set the team up again itself: the tables it made are protected at once
    assert "Team database: privileges, row-level security and authorship checks set again" in result.stderr
    with connect(url) as connection:
        protected = connection.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' "
            "AND relrowsecurity AND relname IN ('entry_for', 'search_index')"
        ).fetchall()
    assert sorted(protected) == [("entry_for",), ("search_index",)]
    assert run_as(url, admin, "team", "setup").exit_code == 0  # and setup by hand still changes nothing wrong
    with connect(url) as connection:
        owners = connection.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind IN ('r', 'S')"
        ).fetchall()
        assert owners == [("tracker_admin",)]
    add("After the upgrade", "public")
    found = run_as(url, public, "search", "upgrade", "--audience", "confidential", "--json")
    assert found.exit_code == 0, found.output
    assert [hit["title"] for hit in json.loads(found.stdout)] == ["After the upgrade"]
    verified = run_as(url, confidential, "verify")
    assert verified.exit_code == 0, verified.output


def test_a_login_without_a_role_is_told_to_ask_for_one(team_url, logins):
    person = logins()
    result = run_as(team_url, person, "rec", "list")
    assert result.exit_code == 1
    shown = make_url(as_login(team_url, person)).render_as_string()
    assert one_error_line(result) == (
        f"Error: database user {person} may not read the tracker's tables on {shown}: "
        f"ask a team admin to run `tracker team grant {person} ROLE` (see `tracker team --help`)"
    )


def test_verify_finds_an_authorship_trigger_dropped(team_url, logins):
    with connect(team_url) as connection:
        connection.execute("DROP TRIGGER tracker_author ON status_update")
    result = run_as(team_url, logins("confidential"), "verify")
    assert result.exit_code == 1, result.output
    assert "the authorship trigger 'tracker_author' on status_update is missing or changed" in result.output
    assert invoke(["--db", team_url, "team", "setup"]).exit_code == 0
    assert run_as(team_url, logins("confidential"), "verify").exit_code == 0


# The author -----------------------------------------------------------------------------------------


def test_session_author_is_the_database_user_on_a_team_database_only(team_url, url, logins, tmp_path):
    person = logins("writer")
    for address, expected in ((as_login(team_url, person), person), (url, None), (str(tmp_path / "t.db"), None)):
        database = Database(address)
        if database.is_sqlite:
            database.upgrade(backup=False)
        try:
            with database.reading() as session:
                assert team.session_author(session) == expected
        finally:
            database.dispose()
