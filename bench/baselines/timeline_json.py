"""Baseline for `tracker report timeline --format json`: hand-written SQL, no tracker code.

    python timeline_json.py DB_PATH_OR_URL FROM_QUARTER TO_QUARTER AS_OF_DATE [OUTPUT]

Fetches the rows the timeline needs (the sources, the editions in force at the end of each
quarter of the range, their recommendations, the status updates effective before the
range's end and recorded by the as-of date, the fingerprint: the last event known at the
as-of date) with raw sqlite3 or psycopg 3, and writes the same JSON document as ``tracker
report timeline --from FROM --to TO --format json --as-of AS_OF_DATE`` (audience internal,
schema version 3): the benchmark checks that the two outputs are byte-identical.

It covers what the benchmark's generated databases hold: a database with corrections,
clock corrections, continuations between editions or assessors is refused.
"""

import json
import re
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, time

url, first_text, last_text, as_of_text = sys.argv[1:5]
output = sys.argv[5] if len(sys.argv) > 5 else None
postgres = url.startswith("postgresql")
if postgres:
    import psycopg

    connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    mark = "%s"
else:
    import sqlite3

    connection = sqlite3.connect(url)
    mark = "?"


def query(sql, *params):
    return connection.execute(sql.replace("%s", mark), params).fetchall()


def iso(value):
    """A date as YYYY-MM-DD (sqlite3 gives text, psycopg a date)."""
    return value if value is None or isinstance(value, str) else value.isoformat()


def parse(text):
    """A quarter as (year, number)."""
    year, number = map(int, re.fullmatch(r"(\d{4})Q([1-4])", text).groups())
    return year, number


def bounds(quarter):
    """A quarter's first day and the first day after it, as YYYY-MM-DD."""
    year, number = quarter
    return date(year, 3 * number - 2, 1).isoformat(), date(year + number // 4, 3 * (number % 4) + 1, 1).isoformat()


first, last = parse(first_text), parse(last_text)
quarters = []
quarter = first
while quarter <= last:
    quarters.append(quarter)
    quarter = (quarter[0] + quarter[1] // 4, quarter[1] % 4 + 1)
names = [f"{year}Q{number}" for year, number in quarters]
last_end = bounds(last)[1]
as_of = datetime.combine(date.fromisoformat(as_of_text), time.max)
as_of_param = as_of if postgres else as_of.strftime("%Y-%m-%d %H:%M:%S.%f")

for table in ("correction", "continuation", "assessor", "clock_correction"):
    if query(f"SELECT 1 FROM {table} LIMIT 1"):
        sys.exit(f"this baseline does not apply {table} rows: the generated databases hold none")

# Sources and recommendations recorded after as_of (dated by their events) are left out.
later = {"source": set(), "recommendation": set()}
for (payload,) in query(
    "SELECT payload FROM event WHERE recorded_at > %s AND action IN ('catalog.load', 'recommendation.add')",
    as_of_param,
):
    rows = json.loads(payload).get("rows", {})
    for table, ids in later.items():
        ids.update(row["id"] for row in rows.get(table, ()))

sources = [
    (i, slug, (publisher, country), iso(published_on))
    for i, slug, publisher, country, published_on in query(
        "SELECT id, slug, publisher, country, published_on FROM source"
    )
    if i not in later["source"]
]
by_age = sorted(sources, key=lambda s: (s[3], s[1]))


def editions_for(end):
    """The slugs a report for the period ending before ``end`` covers: in each series the latest
    edition published by its last day, or the series' first if none was."""
    last_day = date.fromordinal(date.fromisoformat(end).toordinal() - 1).isoformat()
    chosen = {}
    for source in by_age:
        if source[3] <= last_day or source[2] not in chosen:
            chosen[source[2]] = source
    return {s[1] for s in chosen.values()}


# Each source's quarters of the range in which it is the edition in force (or its series' first).
showing = defaultdict(set)
for quarter in quarters:
    for slug in editions_for(bounds(quarter)[1]):
        showing[slug].add(quarter)
selected = sorted((s for s in sources if s[1] in showing), key=lambda s: (-date.fromisoformat(s[3]).toordinal(), s[1]))
published = {s[1]: s[3] for s in selected}
order = {s[0]: i for i, s in enumerate(s for s in selected if s[3] < last_end)}  # the issued ones

series_of = {s[0]: s[2] for s in sources}
series = defaultdict(set)
for rec_id, source_id, code in query("SELECT id, source_id, code FROM recommendation"):
    if rec_id not in later["recommendation"]:
        series[code].add(series_of[source_id])
recs = query(
    "SELECT r.id, r.source_id, s.slug, r.code, r.title, r.pillar FROM recommendation r "
    "JOIN source s ON s.id = r.source_id ORDER BY r.position IS NULL, r.position, r.code"
)
recs = sorted((r for r in recs if r[1] in order and r[0] not in later["recommendation"]), key=lambda r: order[r[1]])
rec_ids = {r[0] for r in recs}
# A code is qualified (SOURCE/CODE) when the timeline shows it twice or another series has it.
repeated = {code for code, n in Counter(r[3] for r in recs).items() if n > 1 or len(series[code]) > 1}

updates = defaultdict(list)
for rec_id, status, effective_on in query(
    "SELECT recommendation_id, status, effective_on FROM status_update "
    "WHERE effective_on < %s AND recorded_at <= %s ORDER BY effective_on, recorded_at, id",
    date.fromisoformat(last_end) if postgres else last_end,
    as_of_param,
):
    if rec_id in rec_ids:
        updates[rec_id].append((status, iso(effective_on)))

fingerprint = query(
    "SELECT hash FROM event WHERE recorded_at <= %s ORDER BY recorded_at DESC, seq DESC LIMIT 1", as_of_param
)


def status_before(items, day):
    status = "not_started"
    for item in items:
        if item[1] >= day:
            break
        status = item[0]
    return status


rows = []
for rec_id, _source_id, slug, code, title, pillar in recs:
    own, shown = updates.get(rec_id, []), showing[slug]
    before = status_before(own, bounds(first)[0]) if first in shown and published[slug] < bounds(first)[0] else None
    cells = []
    for quarter, name in zip(quarters, names, strict=True):
        end = bounds(quarter)[1]
        status = status_before(own, end) if quarter in shown and published[slug] < end else None
        changed = status is not None and status != (before or "not_started")
        cells.append({"quarter": name, "status": status, "changed": changed})
        before = status
    rows.append(
        {
            "ref": f"{slug}/{code}" if code in repeated else code,
            "title": title,
            "pillar": pillar,
            "statuses": cells,
            "changed_in": [cell["quarter"] for cell in cells if cell["changed"]],
        }
    )

document = {
    "schema_version": 3,
    "from": first_text,
    "to": last_text,
    "cut_from": None,
    "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    "audience": "internal",
    "fingerprint": fingerprint[0][0] if fingerprint else None,
    "sources": [s[1] for s in selected],
    "sources_basis": "in force",
    "quarters": names,
    "recommendations": rows,
}
text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
if output:
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
else:
    sys.stdout.write(text)
