"""Baseline for `tracker verify`: a plain loop of hashlib.sha256 over the stored events.

    python verify_chain.py DB_PATH

Reads every event in order with raw sqlite3 and recomputes its hash from the previous
hash and the event (the stored canonical payload inside its envelope), checking that
each event links to the one before it. It does not check the domain rows against the
payloads, the attachments or the timestamps' order, as ``tracker verify`` also does.
"""

import hashlib
import json
import sqlite3
import sys

connection = sqlite3.connect(sys.argv[1])
previous = "0" * 64
count = 0
for seq, recorded_at, actor, action, payload, prev_hash, stored in connection.execute(
    "SELECT seq, recorded_at, actor, action, payload, prev_hash, hash FROM event ORDER BY seq"
):
    stamp = recorded_at.replace(" ", "T") + "Z"
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
