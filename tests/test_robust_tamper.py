"""Tamper evidence: a mutation suite on copies of a populated database.

Every case tampers with a fresh copy in a way someone with database access could, then
runs ``tracker verify``. Edits that leave the chain inconsistent are caught without
help and the error names the first bad event or row. A consistent truncation or a
recomputed chain cannot be told from an honest shorter history, so those pass without
an anchor (asserted plainly below) and are caught by ``tracker verify --anchor HASH``
with the fingerprint of a later event seen earlier (as printed on a report).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tracker.audit import canonical as audit_record
from tracker.audit import verify as integrity
from tracker.audit.chain import Chain
from tracker.clock import iso_utc
from tracker.store.database import Database
from tracker.store.models import DOMAIN_TABLES, Event, Evidence, StatusUpdate

from conftest import _pg_admin, _pg_url, invoke

POPULATE = [
    ["agency", "add", "nca", "National Committee for Counter Trafficking"],
    ["rec", "assign", "undercover-techniques", "nca", "--role", "support"],
    [
        "evidence",
        "add",
        "--rec",
        "undercover-techniques",
        "--title",
        "Draft law on undercover investigations",
        "--date",
        "2019-07-15",
        "--kind",
        "law",
        "--sensitivity",
        "public",
        "--url",
        "https://example.org/law",
        "--attach",
        "{attachment}",
    ],
    [
        "evidence",
        "add",
        "--rec",
        "victim-identification",
        "--title",
        "Shelter interview notes",
        "--date",
        "2019-08-02",
        "--kind",
        "field_observation",
        "--sensitivity",
        "confidential",
        "--summary",
        "Names of three victims identified at a brick kiln in Kandal.",
    ],
    [
        "evidence",
        "add",
        "--rec",
        "victim-identification",
        "--rec",
        "labor-inspections",
        "--title",
        "Inspection campaign announced",
        "--date",
        "2019-08-20",
        "--kind",
        "government_statement",
        "--stance",
        "context",
    ],
    [
        "status",
        "set",
        "undercover-techniques",
        "in_progress",
        "--on",
        "2019-08-01",
        "--note",
        "Draft law tabled before the National Assembly.",
        "--evidence",
        "1",
    ],
    [
        "status",
        "set",
        "victim-identification",
        "partially_implemented",
        "--on",
        "2019-09-01",
        "--note",
        "Protocol used in 3 of 25 provinces.",
    ],
    ["indicator", "record", "kiln-inspections", "2019Q3", "12", "--note", "Ministry figures"],
    ["evidence", "retract", "3", "--reason", "Announcement later withdrawn"],
    [
        "evidence",
        "add",
        "--rec",
        "labor-inspections",
        "--title",
        "Kiln inspection report",
        "--date",
        "2019-09-30",
        "--kind",
        "inspection",
    ],
    ["indicator", "record", "kiln-inspections", "2019Q4", "15"],
]


@dataclass
class Template:
    url: str
    fingerprint: str  # the hash of the last event, as a report printed it before any tampering
    events: int


@pytest.fixture(scope="module")
def templates(tmp_path_factory, request):
    """One populated database per backend, built once and copied for each case."""
    built: dict[str, Template] = {}
    pg_names: list[str] = []

    def get(backend: str) -> Template:
        if backend not in built:
            folder = tmp_path_factory.mktemp("tamper")
            if backend == "sqlite":
                url = str(folder / "populated.db")
                shutil.copyfile(request.getfixturevalue("sqlite_templates")["loaded"], url)
            else:
                name = f"tracker_tamper_{os.getpid()}"
                loaded = request.getfixturevalue("pg_templates")["loaded"]
                with _pg_admin().connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{loaded}"'))
                pg_names.append(name)
                url = _pg_url(name)
            attachment = folder / "law.pdf"
            attachment.write_bytes(bytes(range(256)) * 64)
            for args in POPULATE:
                result = invoke(["--db", url, *[a.format(attachment=attachment) for a in args]])
                assert result.exit_code == 0, (args, result.output)
            database = Database(url)
            with Session(database.engine) as session:
                last = integrity.last_event(session)
                built[backend] = Template(url, last.hash, last.seq)
            database.dispose()
            if backend == "sqlite":
                connection = sqlite3.connect(url)
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                connection.close()
        return built[backend]

    yield get
    if pg_names:
        with _pg_admin().connect() as connection:
            for name in pg_names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def copy(backend, templates, tmp_path, request) -> Callable[[], tuple[str, Template]]:
    names: list[str] = []

    def make() -> tuple[str, Template]:
        template = templates(backend)
        if backend == "sqlite":
            path = tmp_path / f"copy-{len(names)}.db"
            shutil.copyfile(template.url, path)
            names.append(str(path))
            return str(path), template
        name = f"tracker_tamper_{os.getpid()}_{len(names)}"
        with _pg_admin().connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "tracker_tamper_{os.getpid()}"'))
        names.append(name)
        return _pg_url(name), template

    yield make
    if backend == "postgres":
        with _pg_admin().connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# Tampering tools ------------------------------------------------------------------------------


def sql(url: str, *statements: str, **params) -> None:
    """Run raw SQL as an intruder would: no tracker code, no events."""
    database = Database(url)
    if database.is_sqlite:
        connection = sqlite3.connect(database.path)
        try:
            connection.execute("PRAGMA ignore_check_constraints = ON")
            for statement in statements:
                connection.execute(statement, params)
            connection.commit()
        finally:
            connection.close()
        return
    with database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)
    database.dispose()


def event_rows(url: str) -> list[Event]:
    database = Database(url)
    with Session(database.engine) as session:
        events = list(session.scalars(select(Event).order_by(Event.seq)))
        session.expunge_all()
    database.dispose()
    return events


def seq_recording(url: str, table: str) -> int:
    """The seq of the first event whose payload records a row of ``table``."""
    for event in event_rows(url):
        if table in json.loads(event.payload).get("rows", {}):
            return event.seq
    raise AssertionError(table)


def rewrite_chain(url: str, edit: Callable[[list[Event]], None]) -> None:
    """Apply ``edit`` to the events, then recompute every hash so the chain is consistent."""
    database = Database(url)
    with Session(database.engine) as session, session.begin():
        # placeholders first, so that new hashes never collide with old ones mid-update
        session.execute(text("UPDATE event SET prev_hash = 'x' || seq, hash = 'y' || seq"))
        events = list(session.scalars(select(Event).order_by(Event.seq)))
        edit(events)
        previous = integrity.GENESIS
        for event in events:
            event.prev_hash = previous
            event.hash = integrity.event_hash(
                previous, event.seq, iso_utc(event.recorded_at), event.actor, event.action, event.payload
            )
            previous = event.hash
            session.flush()
    database.dispose()


def delete_last_events(url: str, count: int, *, with_rows: bool) -> None:
    """Remove the last ``count`` events (and, if asked, every row they recorded)."""
    events = event_rows(url)[-count:]
    statements = []
    if with_rows:
        tables = {table.name: table for table in DOMAIN_TABLES}
        for event in reversed(events):
            rows = json.loads(event.payload)["rows"]
            for name in reversed([t.name for t in DOMAIN_TABLES]):
                for record in rows.get(name, []):
                    keys = [c.name for c in tables[name].primary_key.columns]
                    where = " AND ".join(
                        f"{k} = {record[k]!r}" if isinstance(record[k], str) else f"{k} = {record[k]}" for k in keys
                    )
                    statements.append(f"DELETE FROM {name} WHERE {where}")
    statements.append(f"DELETE FROM event WHERE seq > {events[0].seq - 1}")
    sql(url, *statements)


def verify(url: str, *extra: str):
    result = invoke(["--db", url, "verify", *extra])
    assert "Traceback" not in result.output and "unexpected" not in result.output, result.output
    return result


def assert_caught(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: verify failed at "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# Caught without an anchor ----------------------------------------------------------------------


def change_payload_byte(url: str) -> str:
    target = seq_recording(url, "status_update")
    payload = next(e.payload for e in event_rows(url) if e.seq == target)
    position = payload.index("National Assembly") + 2
    forged = payload[:position] + "x" + payload[position + 1 :]
    sql(url, "UPDATE event SET payload = :payload WHERE seq = :seq", payload=forged, seq=target)
    return f"event {target}: hash does not match the event's content"


def change_status(url: str) -> str:
    sql(url, "UPDATE status_update SET status = 'implemented' WHERE id = 1")
    seq = seq_recording(url, "status_update")
    return f"event {seq}, status_update row 1: differs from what its event recorded (status)"


def change_note(url: str) -> str:
    sql(url, "UPDATE status_update SET note = 'Law adopted and in force.' WHERE id = 1")
    return "status_update row 1: differs from what its event recorded (note)"


def change_evidence_date(url: str) -> str:
    sql(url, "UPDATE evidence SET observed_on = '2019-06-30' WHERE id = 2")
    return "evidence row 2: differs from what its event recorded (observed_on)"


def change_sensitivity(url: str) -> str:
    sql(url, "UPDATE evidence SET sensitivity = 'public' WHERE id = 2")
    return "evidence row 2: differs from what its event recorded (sensitivity)"


def delete_middle_event(url: str) -> str:
    middle = len(event_rows(url)) // 2
    sql(url, f"DELETE FROM event WHERE seq = {middle}")
    return f"event {middle + 1}: sequence gap: event {middle} is missing"


def swap_events(url: str) -> str:
    events = event_rows(url)
    a, b = events[3].seq, events[6].seq
    sql(
        url,
        f"UPDATE event SET seq = -1 WHERE seq = {a}",
        f"UPDATE event SET seq = {a} WHERE seq = {b}",
        f"UPDATE event SET seq = {b} WHERE seq = -1",
    )
    return f"event {a}: prev_hash does not match the hash of the event before it"


# Further cases, also caught without an anchor


def change_attachment_bytes(url: str) -> str:
    database = Database(url)
    with database.engine.begin() as connection:
        sha256, content = connection.execute(text("SELECT sha256, content FROM attachment")).one()
        connection.execute(
            text("UPDATE attachment SET content = :c WHERE sha256 = :s"), {"c": bytes(content[:-1]) + b"!", "s": sha256}
        )
    database.dispose()
    return f"attachment row {sha256}: content does not match its sha256"


def insert_forged_row(url: str) -> str:
    sql(
        url,
        "INSERT INTO status_update (id, recommendation_id, status, effective_on, note, recorded_at, recorded_by) "
        "VALUES (99, 1, 'implemented', '2019-09-15', 'All done.', '2019-09-15 00:00:00', 'intruder')",
    )
    return "status_update row 99: no event recorded this row"


def delete_a_row(url: str) -> str:
    sql(url, "DELETE FROM evidence_link WHERE evidence_id = 2")
    return "evidence_link row 2/3: recorded by its event but missing"


def delete_last_events_only(url: str) -> str:
    delete_last_events(url, 2, with_rows=False)
    return ": no event recorded this row"


def backdate_in_a_recomputed_chain(url: str) -> str:
    def edit(events):
        events[-3].recorded_at = events[0].recorded_at

    rewrite_chain(url, edit)
    return "recorded_at goes backwards along the chain"


def invalid_vocabulary_value(url: str) -> str:
    if Database(url).is_sqlite:
        sql(url, "UPDATE status_update SET status = 'done' WHERE id = 2")
    else:
        sql(
            url,
            "ALTER TABLE status_update DROP CONSTRAINT ck_status_update_status",
            "UPDATE status_update SET status = 'done' WHERE id = 2",
        )
    return "status_update row 2: "


def unreadable_event_timestamp(url: str) -> str | None:
    """SQLite stores any text in a DATETIME column; PostgreSQL cannot hold this case."""
    if not Database(url).is_sqlite:
        return None
    sql(url, "UPDATE event SET recorded_at = 'last Tuesday' WHERE seq = 4")
    return "event 4: recorded_at holds a value that cannot be read"


def _forge(url: str, work) -> int:
    """``work(session)`` gives rows (by table) that an event appended with a valid hash then
    records, as an intruder who knows the chain's rules would write it; returns its seq."""
    database = Database(url)
    try:

        def forge(session):
            action, rows = work(session)
            session.flush()
            return Chain(session, "intruder").append(action, rows)["seq"]

        return database.write(forge)
    finally:
        database.dispose()


def re_record_an_edited_row(url: str) -> str:
    """Lower a confidential evidence's sensitivity, then record the row again in a new event."""
    sql(url, "UPDATE evidence SET sensitivity = 'public' WHERE id = 2")
    _forge(url, lambda session: ("evidence.add", {"evidence": [session.get(Evidence, 2)]}))
    # the first finding: the row is not what its first event recorded (the second is named next)
    return f"event {seq_recording(url, 'evidence') + 1}, evidence row 2: differs from what its event recorded"


def backdated_row_recorded_today(url: str) -> str:
    """A status update whose own recorded_at is last quarter's, recorded by an event appended now."""

    def work(session):
        earlier = session.get(StatusUpdate, 1)
        forged = StatusUpdate(
            id=99,
            recommendation_id=earlier.recommendation_id,
            status="implemented",
            effective_on=earlier.effective_on,
            note="All done.",
            recorded_at=earlier.recorded_at,
            recorded_by=earlier.recorded_by,
        )
        session.add(forged)
        return "status.set", {"status_update": [forged]}

    seq = _forge(url, work)
    return f"event {seq}, status_update row 99: its recorded_at"


def add_a_trigger(url: str) -> str:
    """A trigger that copies every new summary into a table of the intruder's."""
    if Database(url).is_sqlite:
        sql(
            url,
            "CREATE TABLE loot (summary TEXT)",
            "CREATE TRIGGER copy_summaries AFTER INSERT ON evidence BEGIN INSERT INTO loot VALUES (NEW.summary); END",
        )
    else:
        sql(
            url,
            "CREATE TABLE loot (summary TEXT)",
            "CREATE FUNCTION copy_summary() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO loot VALUES (NEW.summary); RETURN NEW; END $$",
            "CREATE TRIGGER copy_summaries AFTER INSERT ON evidence FOR EACH ROW EXECUTE FUNCTION copy_summary()",
        )
    return "the schema: an extra table loot"


def drop_an_index(url: str) -> str:
    sql(url, "DROP INDEX ix_evidence_observed_on")
    return "the schema: index ix_evidence_observed_on on evidence is missing"


def add_a_column(url: str) -> str:
    sql(url, "ALTER TABLE evidence ADD COLUMN copied_to TEXT")
    return "the schema: an extra column evidence.copied_to"


def corrupt_an_index_page(url: str) -> str | None:
    """A flipped byte in an index b-tree (the first cell pointer of the event hashes' index):
    no row changes, the page no longer holds together."""
    if not Database(url).is_sqlite:
        return None
    connection = sqlite3.connect(url)
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_event_1'").fetchone()[
        0
    ]
    connection.close()
    with open(url, "r+b") as file:
        file.seek((root - 1) * page_size + 8)  # past the leaf page's 8-byte header
        byte = file.read(1)
        file.seek(-1, 1)
        file.write(bytes([byte[0] ^ 0x55]))
    return "the database file: the database file is damaged"


def add_a_trigger_alone(url: str) -> str:
    """A trigger that makes every new piece of evidence public, on a table of the tracker's."""
    if Database(url).is_sqlite:
        sql(
            url,
            "CREATE TRIGGER publish_all AFTER INSERT ON evidence "
            "BEGIN UPDATE evidence SET sensitivity = 'public' WHERE id = NEW.id; END",
        )
    else:
        sql(
            url,
            "CREATE FUNCTION publish() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN NEW.sensitivity := 'public'; RETURN NEW; END $$",
            "CREATE TRIGGER publish_all BEFORE INSERT ON evidence FOR EACH ROW EXECUTE FUNCTION publish()",
        )
    return "the schema: a trigger 'publish_all' on evidence that the tracker's schema does not have"


def add_a_view(url: str) -> str:
    sql(url, "CREATE VIEW summaries AS SELECT id, summary FROM evidence")
    return "the schema: a view 'summaries' that the tracker's schema does not have"


def add_an_index(url: str) -> str:
    sql(url, "CREATE INDEX ix_evidence_title ON evidence (title)")
    return "the schema: an extra index ix_evidence_title on evidence"


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """The SQLite varint at ``at``: (value, where the next field starts)."""
    value = 0
    for n in range(9):
        byte = data[at + n]
        if n == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, at + n + 1
    raise AssertionError("unreachable")


def flip_a_byte_in_an_index_key(path: str, index: str) -> int:
    """Flip the lowest bit of a byte inside the key of an entry of ``index`` (in its first
    column, of the middle cell of a leaf page found with the ``dbstat`` virtual table): every
    page still holds together, so ``PRAGMA quick_check`` passes, but the entry no longer
    matches its row. Returns the page changed."""
    connection = sqlite3.connect(path)
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    leaves = connection.execute(
        "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (index,)
    ).fetchall()
    connection.close()
    page = leaves[len(leaves) // 2][0]
    with open(path, "r+b") as file:
        file.seek((page - 1) * page_size)
        data = file.read(page_size)
        header = 100 if page == 1 else 0
        assert data[header] == 0x0A, "an index leaf page"
        cells = int.from_bytes(data[header + 3 : header + 5], "big")
        assert cells, f"{index} holds entries"
        pointer = header + 8 + 2 * (cells // 2)
        cell = int.from_bytes(data[pointer : pointer + 2], "big")
        _size, record = _varint(data, cell)  # the cell: its payload's size, then the record
        header_size, types = _varint(data, record)  # the record: its header's size, its columns' types...
        serial_type, _next = _varint(data, types)
        body = record + header_size  # ... then their values
        if serial_type >= 13:  # a text: a byte in its middle
            at = body + (serial_type - 13) // 4
        elif serial_type in (8, 9):  # the integer 0 or 1, held by the type alone: 1 or 0 instead
            at = types
        else:  # an integer of 1 to 4 bytes: its last byte
            at = body + {1: 0, 2: 1, 3: 2, 4: 3}[serial_type]
        file.seek((page - 1) * page_size + at)
        file.write(bytes([data[at] ^ 0x01]))
    return page


def flip_a_byte_in_the_event_hashes_index(url: str) -> str | None:
    """A flipped byte inside a key of the index of the events' hashes (which looks events up by hash)."""
    if not Database(url).is_sqlite:
        return None
    flip_a_byte_in_an_index_key(url, "sqlite_autoindex_event_1")
    return "the database file: the database file is damaged: row "


def flip_a_byte_in_an_evidence_links_index(url: str) -> str | None:
    """A flipped byte inside a key of the index that finds a recommendation's evidence."""
    if not Database(url).is_sqlite:
        return None
    flip_a_byte_in_an_index_key(url, "ix_evidence_link_recommendation_id_evidence_id")
    return "missing from index ix_evidence_link_recommendation_id_evidence_id"


CAUGHT = {
    "a trigger copying new rows": add_a_trigger,
    "a trigger alone": add_a_trigger_alone,
    "a view": add_a_view,
    "a dropped index": drop_an_index,
    "an extra index": add_an_index,
    "an extra column": add_a_column,
    "a flipped byte in an index": corrupt_an_index_page,
    "a flipped byte inside a key of the event hashes' index": flip_a_byte_in_the_event_hashes_index,
    "a flipped byte inside a key of an evidence links' index": flip_a_byte_in_an_evidence_links_index,
    "row edited, then recorded again by a new event": re_record_an_edited_row,
    "backdated row recorded by an event appended today": backdated_row_recorded_today,
    "payload byte": change_payload_byte,
    "status": change_status,
    "note": change_note,
    "evidence date": change_evidence_date,
    "sensitivity": change_sensitivity,
    "delete middle event": delete_middle_event,
    "swap two events": swap_events,
    "attachment bytes": change_attachment_bytes,
    "forged row": insert_forged_row,
    "deleted row": delete_a_row,
    "delete last events, rows kept": delete_last_events_only,
    "backdated event in a recomputed chain": backdate_in_a_recomputed_chain,
    "value outside the vocabulary": invalid_vocabulary_value,
    "unreadable event timestamp": unreadable_event_timestamp,
}


@pytest.mark.parametrize("case", list(CAUGHT))
def test_tampering_is_caught_without_an_anchor(backend, copy, case):
    url, template = copy()
    expected = CAUGHT[case](url)
    if expected is None:
        pytest.skip(f"{case}: not possible on {backend}")
    result = verify(url)
    assert_caught(result, expected)
    as_json = verify(url, "--json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["findings"]
    # with the anchor too (the anchor does not hide other findings)
    assert_caught(verify(url, "--anchor", template.fingerprint), expected)


# Caught only with an anchor ---------------------------------------------------------------------


def truncate(url: str) -> None:
    delete_last_events(url, 2, with_rows=True)


def recompute_after_edit(url: str) -> None:
    sql(url, "UPDATE status_update SET status = 'implemented' WHERE id = 1")

    def edit(events):
        for event in events:
            document = json.loads(event.payload)
            for record in document["rows"].get("status_update", []):
                if record["id"] == 1:
                    record["status"] = "implemented"
                    event.payload = audit_record.canonical(document)

    rewrite_chain(url, edit)


NEEDS_ANCHOR = {"delete the last events": truncate, "recompute the chain after an edit": recompute_after_edit}


@pytest.mark.parametrize("case", list(NEEDS_ANCHOR))
def test_truncation_and_recomputation_pass_without_an_anchor_and_fail_with_one(backend, copy, case):
    url, template = copy()
    NEEDS_ANCHOR[case](url)
    plain = verify(url)
    # Plainly: a consistent truncation or a recomputed chain passes without an anchor.
    assert plain.exit_code == 0, plain.output
    assert plain.stderr.startswith("OK:")
    anchored = verify(url, "--anchor", template.fingerprint)
    assert_caught(anchored, f"anchor {template.fingerprint} is not in the chain")


def test_an_intact_copy_passes_with_the_fingerprint_or_an_earlier_hash(backend, copy):
    url, template = copy()
    plain = verify(url)
    assert plain.exit_code == 0 and "anchor" not in plain.stderr
    anchored = verify(url, "--anchor", template.fingerprint)
    assert anchored.exit_code == 0
    assert anchored.stderr.rstrip().endswith(f"; the anchor is event {template.events}"), anchored.stderr
    earlier = event_rows(url)[2]
    again = verify(url, "--anchor", f"  {earlier.hash.upper()} ")
    assert again.exit_code == 0 and again.stderr.rstrip().endswith(f"the anchor is event {earlier.seq}")


def test_each_unreadable_row_is_named_and_the_rows_after_it_are_still_checked(backend, copy):
    """Values outside the vocabulary in two evidence rows and in a link (a table keyed by two
    columns): exactly those rows are named; every row around them still matches its event."""
    url, _template = copy()
    statements = [
        "UPDATE evidence SET kind = 'rumour' WHERE id IN (1, 3)",
        "UPDATE evidence_link SET stance = 'maybe' WHERE evidence_id = 3",
    ]
    if not Database(url).is_sqlite:
        statements[:0] = [
            "ALTER TABLE evidence DROP CONSTRAINT ck_evidence_evidence_kind",
            "ALTER TABLE evidence_link DROP CONSTRAINT ck_evidence_link_stance",
        ]
    sql(url, *statements)
    database = Database(url)
    with database.engine.connect() as connection:
        links = [
            f"3/{rec_id}"
            for (rec_id,) in sorted(
                connection.execute(text("SELECT recommendation_id FROM evidence_link WHERE evidence_id = 3"))
            )
        ]
    database.dispose()
    result = verify(url, "--json")
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["findings"]
    assert sorted((f["table"], f["key"]) for f in findings) == sorted(
        [("evidence", "1"), ("evidence", "3"), *(("evidence_link", key) for key in links)]
    )
    assert len(links) == 2
    for finding in findings:
        column = "kind" if finding["table"] == "evidence" else "stance"
        assert finding["problem"].startswith(f"{column} holds a value that cannot be read"), finding
        assert finding["seq"] is not None


@pytest.mark.parametrize("anchor", ["", "abc", "g" * 64, "0" * 63])
def test_a_malformed_anchor_is_an_input_error(backend, copy, anchor):
    url, _template = copy()
    result = verify(url, "--anchor", anchor)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and "--anchor" in result.stderr


def test_every_case_is_counted():
    """How many cases the suite holds: caught without an anchor, and caught only with one."""
    assert len(CAUGHT) == 25 and len(NEEDS_ANCHOR) == 2
