"""Baseline for `tracker verify` on PostgreSQL: a plain psycopg loop of hashlib.sha256 over the stored events.

    python verify_postgres.py URL

Reads every event in seq order through a server-side cursor (psycopg 3, batches of 2,000
rows) and recomputes its hash from the previous hash and the event (the stored canonical
payload inside its envelope), checking that each event links to the one before it. It does
not check the domain rows against the payloads, the attachments, the schema or the
timestamps' order, as ``tracker verify`` also does.
"""

import hashlib
import json
import sys

import psycopg

url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://", 1)
previous = "0" * 64
count = 0
with psycopg.connect(url) as connection:
    cursor = connection.cursor(name="events")
    cursor.itersize = 2_000
    cursor.execute("SELECT seq, recorded_at, actor, action, payload, prev_hash, hash FROM event ORDER BY seq")
    for seq, recorded_at, actor, action, payload, prev_hash, stored in cursor:
        stamp = recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # stored in UTC, without offset
        body = (
            f'{{"action":{json.dumps(action, ensure_ascii=False)},"actor":{json.dumps(actor, ensure_ascii=False)},'
            f'"payload":{payload},"recorded_at":"{stamp}","seq":{seq}}}'
        )
        digest = hashlib.sha256((previous + body).encode("utf-8")).hexdigest()
        if prev_hash != previous or digest != stored:
            sys.exit(f"chain broken at event {seq}")
        previous = digest
        count += 1
print(f"OK: {count} events, last hash {previous}")
