"""Baseline for `tracker report quarterly --format json`: hand-written SQL, no tracker code.

    python report_json.py DB_PATH_OR_URL QUARTER AS_OF_DATE [OUTPUT]

Fetches the rows the quarterly report needs (the editions in force, their recommendations,
status updates and the evidence they cite, the quarter's evidence and links, entries made
on an agency's behalf, indicator values, the fingerprint: the last event known at the
as-of date, one seek of the events' recorded_at index when no clock was corrected) with
raw sqlite3 or psycopg 3, and writes the same JSON document as ``tracker report quarterly
QUARTER --format json --as-of AS_OF_DATE`` (audience internal, schema version 4): the
benchmark checks that the two outputs are byte-identical.

It covers what the benchmark's generated databases hold: a database with corrections,
continuations between editions or assessors is refused.
"""

import json
import re
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, time

url, quarter_text, as_of_text = sys.argv[1], sys.argv[2], sys.argv[3]
output = sys.argv[4] if len(sys.argv) > 4 else None
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


def instant(value):
    """A stored UTC timestamp as 2019-10-05T12:00:00.000000Z."""
    if isinstance(value, str):
        return value.replace(" ", "T") + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


year, number = map(int, re.match(r"(\d{4})Q([1-4])", quarter_text).groups())
start = date(year, 3 * number - 2, 1)
end = date(year + number // 4, 3 * (number % 4) + 1, 1)
previous_start = date(year - (number == 1), 3 * ((number - 2) % 4) + 1, 1)
as_of = datetime.combine(date.fromisoformat(as_of_text), time.max)
as_of_param = as_of if postgres else as_of.strftime("%Y-%m-%d %H:%M:%S.%f")
STATUSES = ["not_started", "in_progress", "partially_implemented", "implemented"]
VISIBLE = ("public", "internal")  # the sensitivities an internal report shows

for table in ("correction", "continuation", "assessor"):
    if query(f"SELECT 1 FROM {table} LIMIT 1"):
        sys.exit(f"this baseline does not apply {table} rows: the generated databases hold none")

# Sources, recommendations and indicators recorded after as_of (dated by their events) are left out.
later = {"source": set(), "recommendation": set(), "indicator": set()}
for (payload,) in query(
    "SELECT payload FROM event WHERE recorded_at > %s AND action IN ('catalog.load', 'recommendation.add', "
    "'recommendation.assign', 'agency.add', 'indicator.add')",
    as_of_param,
):
    rows = json.loads(payload).get("rows", {})
    for table, ids in later.items():
        ids.update(row["id"] for row in rows.get(table, ()))

# The editions in force at the end of the quarter: in each series (publisher and country) the
# latest published by then, or the series' first if none was; newest first.
sources = [
    (i, slug, (publisher, country), iso(published_on))
    for i, slug, publisher, country, published_on in query(
        "SELECT id, slug, publisher, country, published_on FROM source"
    )
    if i not in later["source"]
]
last_day = date.fromordinal(end.toordinal() - 1).isoformat()
in_force = {}
for source in sorted(sources, key=lambda s: (s[3], s[1])):
    if source[3] <= last_day or source[2] not in in_force:
        in_force[source[2]] = source
chosen = sorted(in_force.values(), key=lambda s: (-date.fromisoformat(s[3]).toordinal(), s[1]))
published = {s[0]: s[3] for s in chosen}
order = {s[0]: i for i, s in enumerate(s for s in chosen if s[3] < end.isoformat())}

series_of = {s[0]: s[2] for s in sources}
series = defaultdict(set)
for rec_id, source_id, code in query("SELECT id, source_id, code FROM recommendation"):
    if rec_id not in later["recommendation"]:
        series[code].add(series_of[source_id])
recs = query(
    "SELECT r.id, r.source_id, s.slug, r.code, r.title, r.pillar, r.due_on FROM recommendation r "
    "JOIN source s ON s.id = r.source_id ORDER BY r.position IS NULL, r.position, r.code"
)
recs = sorted((r for r in recs if r[1] in order and r[0] not in later["recommendation"]), key=lambda r: order[r[1]])
rec_ids = {r[0] for r in recs}
# A code is qualified (SOURCE/CODE) when the report shows it twice or another series has it.
repeated = {code for code, n in Counter(r[3] for r in recs).items() if n > 1 or len(series[code]) > 1}


def entered_for(table):
    """Which rows of ``table`` were entered on an agency's behalf: id -> {by, agency}."""
    return {
        record_id: {"entered_for": {"by": by, "agency": agency}}
        for record_id, by, agency in query(
            f"SELECT f.record_id, t.recorded_by, a.code FROM entry_for f JOIN {table} t ON t.id = f.record_id "
            "JOIN agency a ON a.id = f.agency_id WHERE f.target = %s",
            table,
        )
    }


updates = defaultdict(list)
for update_id, rec_id, status, effective_on, note, recorded_at in query(
    "SELECT id, recommendation_id, status, effective_on, note, recorded_at FROM status_update "
    "WHERE effective_on < %s AND recorded_at <= %s ORDER BY effective_on, recorded_at, id",
    end if postgres else end.isoformat(),
    as_of_param,
):
    if rec_id in rec_ids:
        updates[rec_id].append((status, iso(effective_on), note, recorded_at, update_id))

# The evidence the quarter's status updates cite: shown if the audience may see it, else counted.
cited = {u[4] for own in updates.values() for u in own if u[1] >= start.isoformat()}
cites, cites_withheld = defaultdict(list), Counter()
citing = query(
    "SELECT c.status_update_id, e.id, e.title, e.reliability, e.sensitivity FROM status_update_evidence c "
    "JOIN evidence e ON e.id = c.evidence_id ORDER BY c.status_update_id, e.id"
)
retracted_at = dict(query("SELECT evidence_id, recorded_at FROM evidence_retraction")) if citing else {}
for update_id, eid, title, reliability, sensitivity in citing:
    if update_id not in cited:
        continue
    if sensitivity not in VISIBLE:
        cites_withheld[update_id] += 1
        continue
    retracted = eid in retracted_at and retracted_at[eid] <= as_of_param
    cites[update_id].append({"id": eid, "title": title, "reliability": reliability, "retracted": retracted})
entered_updates = entered_for("status_update") if cited else {}

in_quarter = (
    "e.observed_on >= %s AND e.observed_on < %s AND e.recorded_at <= %s AND NOT EXISTS "
    "(SELECT 1 FROM evidence_retraction x WHERE x.evidence_id = e.id AND x.recorded_at <= %s)"
)
bounds = (start, end) if postgres else (start.isoformat(), end.isoformat())
evidence = defaultdict(list)
entered_evidence = entered_for("evidence")
for eid, title, kind, observed_on, source_name, url_, sensitivity, reliability, summary, rec_id, stance in query(
    "SELECT e.id, e.title, e.kind, e.observed_on, e.source_name, e.url, e.sensitivity, e.reliability, e.summary, "
    f"l.recommendation_id, l.stance FROM evidence e JOIN evidence_link l ON l.evidence_id = e.id WHERE {in_quarter} "
    "AND e.sensitivity IN ('public', 'internal') ORDER BY e.observed_on, e.id, l.recommendation_id",
    *bounds,
    as_of_param,
    as_of_param,
):
    if rec_id in rec_ids:
        evidence[rec_id].append(
            {
                "id": eid,
                "title": title,
                "kind": kind,
                "observed_on": iso(observed_on),
                "stance": stance,
                "reliability": reliability,
                "summary": summary,
                "source_name": source_name,
                "url": url_,
                "sensitivity": sensitivity,
                "corrected": False,
                **entered_evidence.get(eid, {}),
            }
        )
withheld = {
    eid
    for eid, rec_id in query(
        f"SELECT e.id, l.recommendation_id FROM evidence e JOIN evidence_link l ON l.evidence_id = e.id "
        f"WHERE {in_quarter} AND e.sensitivity NOT IN ('public', 'internal')",
        *bounds,
        as_of_param,
        as_of_param,
    )
    if rec_id in rec_ids
}

indicators = defaultdict(list)
for ind_id, rec_id, code, name, unit, target in query(
    "SELECT id, recommendation_id, code, name, unit, target FROM indicator ORDER BY id"
):
    if rec_id in rec_ids and ind_id not in later["indicator"]:
        indicators[rec_id].append((ind_id, code, name, unit, target))
values = {}
for ind_id, quarter_start, value in query(
    "SELECT indicator_id, quarter_start, value FROM measurement WHERE recorded_at <= %s "
    "AND quarter_start IN (%s, %s) ORDER BY recorded_at, id",
    as_of_param,
    *((start, previous_start) if postgres else (start.isoformat(), previous_start.isoformat())),
):
    values[(ind_id, iso(quarter_start))] = value

# The fingerprint: the hash of the last event known at as_of. An event is known at its
# recorded_at, which never goes back along the chain unless a clock correction was recorded:
# without one, the last event is the newest recorded_at <= as_of (the highest seq among
# equals), one seek of the recorded_at index. With corrections, an event stamped ahead is
# known at the correction's recorded_at instead, and the chain is read from its end.
corrections = query("SELECT last_seq, recorded_at FROM clock_correction ORDER BY id")
if not corrections:
    fingerprint = query(
        "SELECT hash FROM event WHERE recorded_at <= %s ORDER BY recorded_at DESC, seq DESC LIMIT 1", as_of_param
    )
else:
    whens = " ".join("WHEN seq <= %s AND recorded_at > %s THEN %s" for _ in corrections)
    fingerprint = query(
        f"SELECT hash FROM event WHERE CASE {whens} ELSE recorded_at END <= %s ORDER BY seq DESC LIMIT 1",
        *(value for last_seq, at in corrections for value in (last_seq, at, at)),
        as_of_param,
    )


def status_before(items, day):
    status = "not_started"
    for item in items:
        if item[1] >= day:
            break
        status = item[0]
    return status


sections = []
for rec_id, source_id, slug, code, title, pillar, due_on in recs:
    own = updates.get(rec_id, [])
    before = status_before(own, start.isoformat())
    status = status_before(own, end.isoformat())
    # counted at the previous quarter's end only if issued by then; else measured from not_started
    previous = before if published[source_id] < start.isoformat() else None
    rank = STATUSES.index(status) - STATUSES.index(previous or "not_started")
    sections.append(
        {
            "ref": f"{slug}/{code}" if code in repeated else code,
            "code": code,
            "title": title,
            "pillar": pillar,
            "status": status,
            "previous_status": previous,
            "change": "advanced" if rank > 0 else "regressed" if rank < 0 else "unchanged",
            "due_on": iso(due_on),
            "overdue": due_on is not None and iso(due_on) < end.isoformat() and status != "implemented",
            "corrected": False,
            "carried_over_from": None,
            "status_updates": [
                {
                    "effective_on": effective_on,
                    "status": s,
                    "note": note,
                    "recorded_at": instant(recorded_at),
                    "cites": cites.get(update_id, []),
                    "cites_withheld": cites_withheld[update_id],
                    **entered_updates.get(update_id, {}),
                }
                for s, effective_on, note, recorded_at, update_id in own
                if start.isoformat() <= effective_on < end.isoformat()
            ],
            "evidence": evidence.get(rec_id, []),
            "indicators": [
                {
                    "code": c,
                    "name": n,
                    "unit": u,
                    "value": values.get((i, start.isoformat())),
                    "previous_value": values.get((i, previous_start.isoformat())),
                    "target": t,
                    "corrected": False,
                }
                for i, c, n, u, t in indicators.get(rec_id, [])
            ],
        }
    )

changes = Counter(s["change"] for s in sections)
document = {
    "schema_version": 4,
    "quarter": quarter_text,
    "period": {"start": start.isoformat(), "end": end.isoformat()},
    "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    "audience": "internal",
    "fingerprint": fingerprint[0][0] if fingerprint else None,
    "sources": [s[1] for s in chosen],
    "sources_basis": "in force",
    "summary": {
        "status_counts": {s: sum(1 for x in sections if x["status"] == s) for s in STATUSES},
        "previous_status_counts": {s: sum(1 for x in sections if x["previous_status"] == s) for s in STATUSES},
        "advanced": changes["advanced"],
        "regressed": changes["regressed"],
        "unchanged": changes["unchanged"],
        "evidence_count": len({item["id"] for x in sections for item in x["evidence"]}),
        "overdue": sum(1 for x in sections if x["overdue"]),
    },
    "recommendations": sections,
    "withheld": len(withheld),
    "corrections": [],
}
text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
if output:
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
else:
    sys.stdout.write(text)
