"""Baseline for `tracker search`: the same full-text query, hand-written with the sqlite3 module.

    python search_fts.py DB_PATH "WORDS" [LIMIT]

Opens the database read-only and runs the query `tracker search` sends to SQLite's FTS5
index: each word a quoted phrase (trigram substrings), ranked by the same weighted bm25,
``LIMIT`` rows (default 20, `tracker search`'s default; it asks the index for 2 x 20 + 10
candidates, to judge them), then reads the title of each piece of evidence found and prints
one line each. It applies no correction, audience, retraction or filter, finds no fragment.
"""

import sqlite3
import sys

path, words = sys.argv[1], sys.argv[2]
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 20
connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
match = " ".join('"' + word.replace('"', '""') + '"' for word in words.split() if len(word) >= 3)
rows = connection.execute(
    "SELECT rowid % 4, rowid / 4, -bm25(search_index, 3.0, 1.0, 2.0, 1.0) FROM search_index "
    "WHERE search_index MATCH ? ORDER BY bm25(search_index, 3.0, 1.0, 2.0, 1.0), rowid LIMIT ?",
    (match, limit),
).fetchall()
for code, record_id, score in rows:
    title = (
        connection.execute("SELECT title FROM evidence WHERE id = ?", (record_id,)).fetchone() if code == 1 else None
    )
    print(code, record_id, round(score, 6), title[0] if title else "")
