"""Migrations on real data: populated databases at every earlier revision reach head intact.

A database is created at an earlier revision with ``Database.upgrade(REV)`` and filled
with SQL that matches that revision's schema (realistic rows: Khmer, Arabic and
combining text, multi-line summaries, NULLs, binary attachments, floats, microsecond
timestamps) together with the events that record them, so that ``tracker verify``
holds. It is upgraded to head; every table's content hash must be unchanged. Then head
goes down one revision and back up, and again every row and value must be the same.
On SQLite the application's engine has foreign keys on; on PostgreSQL the same. The
migrations run through ``Database.upgrade`` and ``Database.downgrade``, as ``tracker db
upgrade`` and ``tracker db downgrade`` call them (their messages are in test_cli.py).
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tracker import search, services
from tracker.audit import canonical as audit_record
from tracker.audit import verify as integrity
from tracker.clock import iso_utc
from tracker.errors import TrackerError
from tracker.store import migrations, search_index
from tracker.store.database import SCHEMA_REVISION, Database

import robust_support as support
from conftest import add_evidence, dump, write

NOTES = [
    "ក្រសួងការងារបានចុះត្រួតពិនិត្យឡឥដ្ឋចំនួន ១២ កន្លែង",  # Khmer
    "تقرير منظمة غير حكومية عن العمل القسري",  # Arabic, right to left
    "Cafe\u0301 owner e\u0301mployeur: combining accents",
    "Line one\nLine two\ttabbed\r\nand 'quotes' \"double\" ; DROP TABLE evidence; --",
    "Emoji 🧱 and a very long note " + "x" * 5000,
]
KINDS = [
    "law",
    "regulation",
    "policy",
    "court_case",
    "statistic",
    "inspection",
    "training",
    "government_statement",
    "ngo_report",
    "media_report",
    "field_observation",
    "other",
]
STATUSES = ["not_started", "in_progress", "partially_implemented", "implemented"]


class Writer:
    """Inserts rows with plain SQL and appends the event recording them, as tracker would."""

    def __init__(self, connection, start: datetime) -> None:
        self.connection = connection
        self.seq = 0
        self.hash = integrity.GENESIS
        self.moment = start

    def insert(self, table: str, row: dict[str, Any]) -> None:
        columns = ", ".join(f'"{c}"' for c in row)
        values = ", ".join(f":{c}" for c in row)
        plain = {k: self.stored(v) for k, v in row.items()}
        self.connection.execute(text(f'INSERT INTO "{table}" ({columns}) VALUES ({values})'), plain)

    def stored(self, value: Any) -> Any:
        """Dates and instants as SQLAlchemy stores them (SQLite: text, written here rather than
        by the sqlite3 module's default adapters, deprecated since Python 3.12)."""
        sqlite = self.connection.dialect.name == "sqlite"
        if isinstance(value, datetime):
            value = value.replace(tzinfo=None)
            return value.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else value
        if isinstance(value, date) and sqlite:
            return value.isoformat()
        return value

    def write(self, action: str, rows: dict[str, list[dict[str, Any]]], actor: str = "analyst") -> None:
        for table, items in rows.items():
            for row in items:
                self.insert(table, row)
        payload = audit_record.canonical(
            {
                "rows": {
                    table: [{k: v for k, v in row.items() if k != "content"} for row in items]
                    for table, items in rows.items()
                    if items
                }
            }
        )
        self.seq += 1
        stamp = iso_utc(self.moment)
        digest = integrity.event_hash(self.hash, self.seq, stamp, actor, action, payload)
        self.insert(
            "event",
            {
                "seq": self.seq,
                "recorded_at": self.moment,
                "actor": actor,
                "action": action,
                "payload": payload,
                "prev_hash": self.hash,
                "hash": digest,
            },
        )
        self.hash = digest
        self.moment += timedelta(minutes=37, microseconds=123_457)


def populate_0001(url: str, evidence_count: int) -> dict[str, int]:
    """Three years of work at revision 0001, written with SQL matching that revision."""
    chance = random.Random(1)
    database = Database(url)
    with database.engine.begin() as connection:
        writer = Writer(connection, datetime(2019, 6, 21, 9, 30, 0, 250_001, tzinfo=UTC))
        source = {
            "id": 1,
            "slug": "tip-2019-khm",
            "title": "2019 Trafficking in Persons Report: Cambodia",
            "publisher": "U.S. Department of State",
            "country": "KH",
            "published_on": date(2019, 6, 20),
            "period_start": date(2018, 4, 1),
            "period_end": date(2019, 3, 31),
            "rating": "Tier 2 Watch List",
            "url": "https://www.state.gov/reports/2019-trafficking-in-persons-report/cambodia/",
            "complete": False,
        }
        recs = [
            {
                "id": n,
                "source_id": 1,
                "code": code,
                "position": n if n < 4 else None,
                "title": title,
                "text": f"{title}, as published.",
                "text_status": "verbatim" if n < 3 else "paraphrase",
                "note": None if n != 2 else "Text shortened",
                "pillar": pillar,
                "due_on": date(2020, 3, 31) if n == 1 else None,
            }
            for n, (code, title, pillar) in enumerate(
                [
                    ("prosecute-convict", "Prosecute and convict traffickers", "prosecution"),
                    ("undercover-techniques", "Authorize undercover investigative techniques", "prosecution"),
                    ("victim-identification", "Implement the victim identification protocol", "protection"),
                    ("labor-inspections", "Increase labor inspections at brick kilns", "prevention"),
                ],
                start=1,
            )
        ]
        agencies = [
            {"id": n, "code": code, "name": name}
            for n, (code, name) in enumerate(
                [
                    ("ncct", "National Committee for Counter Trafficking"),
                    ("moi", "Ministry of Interior"),
                    ("moj", "Ministry of Justice"),
                    ("molvt", "Ministry of Labour and Vocational Training"),
                ],
                start=1,
            )
        ]
        assignments = [
            {"recommendation_id": r, "agency_id": a, "role": "lead" if a == r else "support"}
            for r in range(1, 5)
            for a in range(1, 5)
            if a == r or (r + a) % 3 == 0
        ]
        indicators = [
            {
                "id": 1,
                "recommendation_id": 4,
                "code": "kiln-inspections",
                "name": "Labor inspections at brick kilns",
                "unit": "inspections",
                "direction": "up",
                "target": 120.5,
            },
            {
                "id": 2,
                "recommendation_id": 1,
                "code": "convictions",
                "name": "Traffickers convicted",
                "unit": "persons",
                "direction": "up",
                "target": None,
            },
        ]
        writer.write(
            "catalog.load",
            {
                "source": [source],
                "recommendation": recs,
                "agency": agencies,
                "recommendation_agency": assignments,
                "indicator": indicators,
            },
            actor="catalog",
        )
        attachments: list[str] = []
        status_id = measurement_id = retraction_id = 0
        for n in range(1, evidence_count + 1):
            observed = date(2019, 7, 1) + timedelta(days=n * 1000 // evidence_count)
            evidence = {
                "id": n,
                "title": f"{KINDS[n % len(KINDS)]} #{n}: {NOTES[n % 3][:40]}",
                "kind": KINDS[n % len(KINDS)],
                "observed_on": observed,
                "source_name": None if n % 4 == 0 else "Ministry of Labour",
                "url": None if n % 5 == 0 else f"https://example.org/{n}?q=a&b=%20",
                "summary": None if n % 6 == 0 else NOTES[n % len(NOTES)],
                "reliability": ["confirmed", "credible", "unverified"][n % 3],
                "sensitivity": ["public", "internal", "confidential"][n % 3],
                "recorded_at": writer.moment,
                "recorded_by": "analyst",
            }
            links = [
                {"evidence_id": n, "recommendation_id": r, "stance": ["progress", "setback", "context"][(n + r) % 3]}
                for r in sorted({1 + n % 4, 1 + (n * 7) % 4})
            ]
            stored, attached = [], []
            if n % 7 == 0:
                content = bytes(chance.randrange(256) for _ in range(2048)) + bytes(range(256))
                sha256 = hashlib.sha256(content).hexdigest()
                if sha256 not in attachments:
                    attachments.append(sha256)
                    stored.append(
                        {"sha256": sha256, "size": len(content), "media_type": "application/pdf", "content": content}
                    )
                attached.append({"evidence_id": n, "sha256": sha256, "filename": f"rapport-{n}-ល.pdf"})
            writer.write(
                "evidence.add",
                {"evidence": [evidence], "evidence_link": links, "attachment": stored, "evidence_attachment": attached},
            )
            if n % 3 == 0:
                status_id += 1
                writer.write(
                    "status.set",
                    {
                        "status_update": [
                            {
                                "id": status_id,
                                "recommendation_id": 1 + n % 4,
                                "status": STATUSES[n % 4],
                                "effective_on": observed,
                                "note": NOTES[(n + 1) % len(NOTES)],
                                "recorded_at": writer.moment,
                                "recorded_by": "analyst",
                            }
                        ]
                    },
                )
            if n % 5 == 0:
                measurement_id += 1
                writer.write(
                    "measurement.record",
                    {
                        "measurement": [
                            {
                                "id": measurement_id,
                                "indicator_id": 1 + n % 2,
                                "quarter_start": date(observed.year, 3 * ((observed.month - 1) // 3) + 1, 1),
                                "value": [0.1, 12.0, 1e-300, -3.5, 2**53 + 1.0][n % 5],
                                "note": None if n % 2 else NOTES[0],
                                "evidence_id": n if n % 10 == 0 else None,
                                "recorded_at": writer.moment,
                                "recorded_by": "analyst",
                            }
                        ]
                    },
                )
            if n % 11 == 0:
                retraction_id += 1
                writer.write(
                    "evidence.retract",
                    {
                        "evidence_retraction": [
                            {
                                "id": retraction_id,
                                "evidence_id": n,
                                "reason": "Duplicate of an earlier report",
                                "recorded_at": writer.moment,
                                "recorded_by": "analyst",
                            }
                        ]
                    },
                )
    database.dispose()
    return {"events": writer.seq}


def populate_0002(url: str, evidence_count: int) -> dict[str, int]:
    """Revision 0002 added the evidence an assessment cites and the record of imported files:
    the history of :func:`populate_0001`, then assessments citing evidence and two imports."""
    figures = populate_0001(url, evidence_count)
    database = Database(url)
    with database.engine.begin() as connection:
        seq, last_hash, last_at = connection.execute(
            text("SELECT seq, hash, recorded_at FROM event ORDER BY seq DESC LIMIT 1")
        ).one()
        moment = datetime.fromisoformat(str(last_at)).replace(tzinfo=UTC) + timedelta(days=1)
        writer = Writer(connection, moment)
        writer.seq, writer.hash = seq, last_hash
        status_id = connection.execute(text("SELECT max(id) FROM status_update")).scalar() or 0
        standing = [
            row[0]
            for row in connection.execute(
                text(
                    "SELECT id FROM evidence WHERE id NOT IN (SELECT evidence_id FROM evidence_retraction) ORDER BY id"
                )
            )
        ]
        for n, evidence_id in enumerate(standing[:12], start=1):
            writer.write(
                "status.set",
                {
                    "status_update": [
                        {
                            "id": status_id + n,
                            "recommendation_id": 1 + n % 4,
                            "status": STATUSES[n % 4],
                            "effective_on": date(2022, 1, 1) + timedelta(days=n),
                            "note": NOTES[n % len(NOTES)],
                            "recorded_at": writer.moment,
                            "recorded_by": "analyst",
                        }
                    ],
                    "status_update_evidence": [{"status_update_id": status_id + n, "evidence_id": evidence_id}],
                },
            )
        for n in (1, 2):
            writer.write(
                "import.file",
                {
                    "import_batch": [
                        {
                            "id": n,
                            "sha256": hashlib.sha256(f"file {n}".encode()).hexdigest(),
                            "filename": f"evidence-{n}.csv",
                            "rows": 0,
                            "recorded_at": writer.moment,
                            "recorded_by": "analyst",
                        }
                    ]
                },
            )
    database.dispose()
    return {"events": writer.seq, "earlier": figures["events"]}


def populate_0003(url: str, evidence_count: int) -> dict[str, int]:
    """Revision 0003 added clock corrections: the history of :func:`populate_0002`, then an
    assessment stamped by a clock a year ahead, and the clock correction that follows it."""
    figures = populate_0002(url, evidence_count)
    database = Database(url)
    with database.engine.begin() as connection:
        seq, last_hash, last_at = connection.execute(
            text("SELECT seq, hash, recorded_at FROM event ORDER BY seq DESC LIMIT 1")
        ).one()
        right = datetime.fromisoformat(str(last_at)).replace(tzinfo=UTC) + timedelta(days=1)
        writer = Writer(connection, right + timedelta(days=365))
        writer.seq, writer.hash = seq, last_hash
        status_id = connection.execute(text("SELECT max(id) FROM status_update")).scalar() or 0
        ahead = writer.moment
        writer.write(
            "status.set",
            {
                "status_update": [
                    {
                        "id": status_id + 1,
                        "recommendation_id": 1,
                        "status": "in_progress",
                        "effective_on": date(2022, 6, 1),
                        "note": "Stamped by a clock a year ahead.",
                        "recorded_at": ahead,
                        "recorded_by": "analyst",
                    }
                ],
                "status_update_evidence": [],
            },
        )
        before = {
            table: connection.execute(text(f'SELECT coalesce(max(id), 0) FROM "{table}"')).scalar()
            for table in ("evidence", "evidence_retraction", "status_update", "measurement", "import_batch")
        }
        before["clock_correction"] = 0
        writer.moment = right
        writer.write(
            "clock.correct",
            {
                "clock_correction": [
                    {
                        "id": 1,
                        "stamped_until": ahead,
                        "last_seq": writer.seq,
                        "rows_before": audit_record.canonical(before),
                        "reason": "The laptop's clock ran a year ahead.",
                        "recorded_at": right,
                        "recorded_by": "analyst",
                    }
                ]
            },
        )
    database.dispose()
    return {"events": writer.seq, "earlier": figures["events"]}


def populate_0004(url: str, evidence_count: int) -> dict[str, int]:
    """Revision 0004 added corrections: the history of :func:`populate_0003`, then the
    assessment stamped a year ahead withdrawn by a correction."""
    figures = populate_0003(url, evidence_count)
    database = Database(url)
    with database.engine.begin() as connection:
        seq, last_hash, last_at = connection.execute(
            text("SELECT seq, hash, recorded_at FROM event ORDER BY seq DESC LIMIT 1")
        ).one()
        writer = Writer(connection, datetime.fromisoformat(str(last_at)).replace(tzinfo=UTC) + timedelta(hours=1))
        writer.seq, writer.hash = seq, last_hash
        status_id = connection.execute(text("SELECT max(id) FROM status_update")).scalar()
        writer.write(
            "correction.record",
            {
                "correction": [
                    {
                        "id": 1,
                        "target": "status_update",
                        "record_id": status_id,
                        "record_part": None,
                        "changes": "{}",
                        "withdrawn": True,
                        "reason": "Set on the wrong date.",
                        "recorded_at": writer.moment,
                        "recorded_by": "analyst",
                    }
                ]
            },
        )
    database.dispose()
    return {"events": writer.seq, "earlier": figures["events"]}


CORRECTED_TITLE = "Inspection des fours à briques de Kandal (titre corrigé)"


def populate_0005(url: str, evidence_count: int) -> dict[str, int]:
    """Revision 0005 added continuations: the history of :func:`populate_0004`, then a link of a
    recommendation to one of an earlier edition, and a correction of a piece of evidence's
    title (revision 0006's search index must find it by its corrected title)."""
    figures = populate_0004(url, evidence_count)
    database = Database(url)
    with database.engine.begin() as connection:
        seq, last_hash, last_at = connection.execute(
            text("SELECT seq, hash, recorded_at FROM event ORDER BY seq DESC LIMIT 1")
        ).one()
        writer = Writer(connection, datetime.fromisoformat(str(last_at)).replace(tzinfo=UTC) + timedelta(hours=1))
        writer.seq, writer.hash = seq, last_hash
        writer.write(
            "recommendation.link",
            {
                "continuation": [
                    {
                        "id": 1,
                        "recommendation_id": 4,
                        "earlier_source": "tip-2018-khm",
                        "earlier_code": "labor-inspections",
                        "relation": "reworded",
                        "note": "« brick kilns » became « កន្លែងផលិតឥដ្ឋ »",
                    }
                ]
            },
        )
        writer.write(
            "correction.record",
            {
                "correction": [
                    {
                        "id": 2,
                        "target": "evidence",
                        "record_id": 1,
                        "record_part": None,
                        "changes": audit_record.canonical({"title": CORRECTED_TITLE}),
                        "withdrawn": None,
                        "reason": "Title mistyped.",
                        "recorded_at": writer.moment,
                        "recorded_by": "analyst",
                    }
                ]
            },
        )
    database.dispose()
    return {"events": writer.seq, "earlier": figures["events"]}


def populate_0006(url: str, evidence_count: int) -> dict[str, int]:
    """Revision 0006 added the search index: the history of :func:`populate_0005`, then a status
    set with no assessor named (revision 0007's assessors must count it as the default's)."""
    figures = populate_0005(url, evidence_count)
    database = Database(url)
    with database.engine.begin() as connection:
        seq, last_hash, last_at = connection.execute(
            text("SELECT seq, hash, recorded_at FROM event ORDER BY seq DESC LIMIT 1")
        ).one()
        (last_id,) = connection.execute(text("SELECT coalesce(max(id), 0) FROM status_update")).one()
        writer = Writer(connection, datetime.fromisoformat(str(last_at)).replace(tzinfo=UTC) + timedelta(hours=1))
        writer.seq, writer.hash = seq, last_hash
        writer.write(
            "status.set",
            {
                "status_update": [
                    {
                        "id": last_id + 1,
                        "recommendation_id": 2,
                        "status": "in_progress",
                        "effective_on": "2019-09-30",
                        "note": "Protocol rolled out in two provinces.",
                        "recorded_at": writer.moment,
                        "recorded_by": "analyst",
                    }
                ],
                "status_update_evidence": [],
            },
        )
    database.dispose()
    return {"events": writer.seq, "earlier": figures["events"]}


# Every revision before head needs a populator here: a new migration makes this fail
# until the revision it supersedes gets one.
POPULATE = {
    "0001": populate_0001,
    "0002": populate_0002,
    "0003": populate_0003,
    "0004": populate_0004,
    "0005": populate_0005,
    "0006": populate_0006,
}


def test_every_earlier_revision_has_a_populated_fixture():
    script = ScriptDirectory.from_config(migrations.config())
    earlier = [r.revision for r in script.walk_revisions() if r.revision != script.get_current_head()]
    assert sorted(earlier) == sorted(POPULATE)


def foreign_keys_on_in_the_application_engine(url: str) -> None:
    database = Database(url)
    if database.is_sqlite:
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    database.dispose()


def check_upgrade_and_round_trip(backend: str, url: str, revision: str, evidence_count: int) -> dict[str, Any]:
    database = Database(url)
    database.upgrade(revision, backup=False)
    database.dispose()
    POPULATE[revision](url, evidence_count)
    foreign_keys_on_in_the_application_engine(url)
    before = support.table_hashes(url)
    assert before["evidence"][0] == evidence_count

    # Upgrade to head, as `tracker db upgrade` does (on SQLite, with its backup).
    database = Database(url)
    assert database.upgrade()[:2] == (revision, SCHEMA_REVISION)
    database.dispose()
    after = support.table_hashes(url)
    for table, digest in before.items():
        assert after[table] == digest, f"{table} changed during the upgrade from {revision}"
    derived = search_index.table_names()
    assert all(after[t][0] == 0 for t in set(after) - set(before) - derived), "new tables start empty"
    foreign_keys_on_in_the_application_engine(url)
    support.verify_ok(url)
    search_finds_the_stored_rows(url)

    # Head goes down one revision and back up: every row and value is the same.
    script = ScriptDirectory.from_config(migrations.config())
    previous = script.get_revision(SCHEMA_REVISION).down_revision
    database = Database(url)
    assert database.downgrade(previous) == (SCHEMA_REVISION, previous)
    assert database.current_revision() == previous
    assert database.upgrade()[:2] == (previous, SCHEMA_REVISION)
    database.dispose()
    assert support.table_hashes(url) == after
    foreign_keys_on_in_the_application_engine(url)
    support.verify_ok(url)
    search_finds_the_stored_rows(url)
    return {"tables": len(after), "rows": sum(n for n, _ in after.values())}


def search_finds_the_stored_rows(url: str) -> None:
    """Revision 0006 built its search index from the rows stored before it: a Khmer substring
    finds every record whose text holds it, and corrected evidence is found by its new title."""
    word = "ក្រសួងការងារ"
    database = Database(url)
    with database.engine.connect() as connection:
        expected = {
            f"{record}/{row_id}"
            for record, sql in (
                ("evidence", "SELECT id FROM evidence WHERE title LIKE :w OR summary LIKE :w"),
                ("status", "SELECT id FROM status_update WHERE note LIKE :w"),
                ("measurement", "SELECT id FROM measurement WHERE note LIKE :w"),
            )
            for (row_id,) in connection.execute(text(sql), {"w": f"%{word}%"})
        }
        corrected = connection.execute(
            text("SELECT count(*) FROM correction WHERE target = 'evidence' AND record_id = 1")
        ).scalar()
    options = {"audience": "confidential", "include_retracted": True, "limit": 10_000}
    with database.reading() as session:
        found = {hit.record for hit in search.search(session, search.parse(word, **options))}
        by_new_title = [hit.title for hit in search.search(session, search.parse("fours briques", **options))]
    database.dispose()
    assert expected and found == expected
    assert by_new_title == ([CORRECTED_TITLE] if corrected else [])


@pytest.mark.parametrize("revision", sorted(POPULATE))
def test_a_populated_database_reaches_head_and_round_trips_unchanged(backend, make_url_for, revision):
    url = make_url_for("blank")
    figures = check_upgrade_and_round_trip(backend, url, revision, evidence_count=120)
    assert figures["rows"] > 400


@pytest.mark.slow
@pytest.mark.parametrize("revision", sorted(POPULATE))
def test_three_years_of_data_reach_head_and_round_trip_unchanged(backend, make_url_for, revision):
    url = make_url_for("blank")
    figures = check_upgrade_and_round_trip(backend, url, revision, evidence_count=3000)
    print(
        f"\n[figures] migrations {backend} from {revision}: {figures['rows']} rows in {figures['tables']} tables "
        "identical after upgrade and after down-one-and-up"
    )


def test_db_upgrade_on_sqlite_writes_a_backup_next_to_the_file(tmp_path):
    path = tmp_path / "work" / "tracker.db"
    path.parent.mkdir()
    url = str(path)
    database = Database(url)
    database.upgrade("0001", backup=False)
    database.dispose()
    populate_0001(url, 30)
    before = support.table_hashes(url)
    database = Database(url)
    _from, _to, backup = database.upgrade()  # as `tracker db upgrade` calls it
    backups = sorted(path.parent.glob("tracker.db.0001.*.bak"))
    assert len(backups) == 1, list(path.parent.iterdir())
    assert backup == backups[0]
    # the copy is the database as it was before the upgrade, whole
    support.sqlite_health(backups[0])
    connection = sqlite3.connect(backups[0])
    assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
    connection.close()
    assert support.table_hashes(str(backups[0])) == before
    # nothing to do: no second backup
    assert database.upgrade() == (SCHEMA_REVISION, SCHEMA_REVISION, None)
    assert len(list(path.parent.glob("*.bak"))) == 1
    database.dispose()


def test_a_downgrade_that_would_delete_rows_is_refused_and_changes_nothing(backend, database, url):
    """status_update_evidence exists only at head: going down with rows in it would lose them."""
    evidence_id = add_evidence(database, ["undercover-techniques"], "Draft law", "2019-07-01", "law")
    write(
        database,
        services.set_status,
        "undercover-techniques",
        "in_progress",
        effective_on="2019-07-02",
        note="Tabled",
        evidence_ids=[evidence_id],
        actor="tester",
    )
    before = dump(url)
    with pytest.raises(TrackerError) as refused:
        database.downgrade("0001")
    assert refused.value.exit_code == 1
    # the catalog's continuations (revision 0005) too
    assert "would delete 5 stored rows (4 in continuation, 1 in status_update_evidence)" in str(refused.value)
    assert "nothing was changed" in str(refused.value)
    assert dump(url) == before
    assert database.current_revision() == SCHEMA_REVISION
    support.verify_ok(url)
