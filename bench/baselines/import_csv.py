"""Baseline for `tracker import`: a plain script, as a user would write it without the tracker.

    python import_csv.py DB_PATH_OR_URL FILE.csv ACTOR

Reads an evidence CSV with the csv module, resolves each row's REFs with one query,
builds the same rows and the same hash-chained event per row (canonical JSON payload,
sha256 over the previous hash and the event), and writes everything in one transaction:
raw sqlite3 ``executemany`` for SQLite, psycopg 3 ``COPY`` for PostgreSQL. No validation
beyond what the database itself checks. The rows and events it writes are the ones
``tracker import`` writes, so ``tracker verify`` passes on the result.
"""

import csv
import hashlib
import json
import sys
from collections import Counter
from datetime import UTC, datetime

url, path, actor = sys.argv[1], sys.argv[2], sys.argv[3]
postgres = url.startswith("postgresql")
if postgres:
    import psycopg

    connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    cursor = connection.cursor()
    cursor.execute("SELECT pg_advisory_xact_lock(7310252019)")
else:
    import sqlite3

    connection = sqlite3.connect(url, isolation_level=None)
    cursor = connection.cursor()
    cursor.execute("BEGIN IMMEDIATE")

with open(path, "rb") as handle:
    content = handle.read()
text = content.decode("utf-8-sig")

refs = {}
rows = cursor.execute(
    "SELECT r.id, r.code, s.slug FROM recommendation r JOIN source s ON s.id = r.source_id"
).fetchall()
codes = Counter(code for _, code, _ in rows)
for rec_id, code, slug in rows:
    refs[f"{slug}/{code}"] = rec_id
    if codes[code] == 1:
        refs[code] = rec_id

last = cursor.execute("SELECT seq, hash, recorded_at FROM event ORDER BY seq DESC LIMIT 1").fetchone()
seq, prev = (last[0], last[1]) if last else (0, "0" * 64)
now = datetime.now(UTC)
stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
stored = now.replace(tzinfo=None)
evidence_id = (cursor.execute("SELECT max(id) FROM evidence").fetchone()[0] or 0) + 1
batch_id = (cursor.execute("SELECT max(id) FROM import_batch").fetchone()[0] or 0) + 1
quoted_actor = json.dumps(actor, ensure_ascii=False)
events = []


def event(action, payload):
    global seq, prev
    seq += 1
    body = f'{{"action":"{action}","actor":{quoted_actor},"payload":{payload},"recorded_at":"{stamp}","seq":{seq}}}'
    digest = hashlib.sha256((prev + body).encode("utf-8")).hexdigest()
    events.append((seq, stored, actor, action, payload, prev, digest))
    prev = digest


def canonical(document):
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


records = list(csv.DictReader(text.splitlines(keepends=True)))
name = path.replace("\\", "/").rsplit("/", 1)[-1]
sha256 = hashlib.sha256(content).hexdigest()
batch = {
    "id": batch_id,
    "sha256": sha256,
    "filename": name,
    "rows": len(records),
    "recorded_at": stamp,
    "recorded_by": actor,
}
event("import.file", canonical({"kind": "evidence", "rows": {"import_batch": [batch]}}))

evidence, links = [], []
for record in records:
    values = {key: (value.strip() or None) for key, value in record.items()}
    row = {
        "id": evidence_id,
        "title": values["title"],
        "kind": values["kind"],
        "observed_on": values["date"],
        "source_name": values.get("source_name"),
        "url": values.get("url"),
        "summary": values.get("summary"),
        "reliability": values.get("reliability") or "credible",
        "sensitivity": values.get("sensitivity") or "internal",
        "recorded_at": stamp,
        "recorded_by": actor,
    }
    stance = values.get("stance") or "progress"
    targets = list(dict.fromkeys(refs[ref.strip()] for ref in values["rec"].split(";") if ref.strip()))
    linked = [{"evidence_id": evidence_id, "recommendation_id": rec_id, "stance": stance} for rec_id in targets]
    event("evidence.add", canonical({"import_batch": batch_id, "rows": {"evidence": [row], "evidence_link": linked}}))
    evidence.append(
        (
            evidence_id,
            row["title"],
            row["kind"],
            row["observed_on"],
            row["source_name"],
            row["url"],
            row["summary"],
            row["reliability"],
            row["sensitivity"],
            stored,
            actor,
        )
    )
    links.extend((evidence_id, rec_id, stance) for rec_id in targets)
    evidence_id += 1

batch_row = (batch_id, sha256, name, len(records), stored, actor)
if postgres:
    tables = [
        ("import_batch (id, sha256, filename, rows, recorded_at, recorded_by)", [batch_row]),
        (
            "evidence (id, title, kind, observed_on, source_name, url, summary, reliability, sensitivity, "
            "recorded_at, recorded_by)",
            evidence,
        ),
        ("evidence_link (evidence_id, recommendation_id, stance)", links),
        ("event (seq, recorded_at, actor, action, payload, prev_hash, hash)", events),
    ]
    for table, data in tables:
        with cursor.copy(f"COPY {table} FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)
    for table in ("evidence", "import_batch"):
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
    connection.commit()
else:
    text_stamp = stored.strftime("%Y-%m-%d %H:%M:%S.%f")
    cursor.execute("INSERT INTO import_batch VALUES (?, ?, ?, ?, ?, ?)", (*batch_row[:4], text_stamp, actor))
    cursor.executemany(
        "INSERT INTO evidence VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*row[:9], text_stamp, actor) for row in evidence],
    )
    cursor.executemany("INSERT INTO evidence_link VALUES (?, ?, ?)", links)
    cursor.executemany("INSERT INTO event VALUES (?, ?, ?, ?, ?, ?, ?)", [(e[0], text_stamp, *e[2:]) for e in events])
    cursor.execute("COMMIT")
connection.close()
print(f"imported {len(evidence)} rows")
