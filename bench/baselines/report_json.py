"""Baseline for `tracker report quarterly --format json`: hand-written SQL, no tracker code.

    python report_json.py DB_PATH_OR_URL QUARTER AS_OF_DATE [OUTPUT]

Fetches the rows the quarterly report needs (sources, recommendations, status updates,
the quarter's evidence and links, indicator values, the fingerprint) with raw sqlite3
or psycopg 3, and writes the same JSON document as ``tracker report quarterly QUARTER
--format json --as-of AS_OF_DATE`` (audience internal): the benchmark checks that the
two outputs are byte-identical.
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

sources = [s for s in query("SELECT id, slug, published_on FROM source") if s[0] not in later["source"]]
sources.sort(key=lambda s: (-date.fromisoformat(iso(s[2])).toordinal(), s[1]))
issued = [s for s in sources if iso(s[2]) < end.isoformat()]
order = {s[0]: i for i, s in enumerate(issued)}
repeated = {
    code
    for code, n in Counter(
        c for i, c in query("SELECT id, code FROM recommendation") if i not in later["recommendation"]
    ).items()
    if n > 1
}
recs = query(
    "SELECT r.id, r.source_id, s.slug, r.code, r.title, r.pillar, r.due_on FROM recommendation r "
    "JOIN source s ON s.id = r.source_id ORDER BY r.position IS NULL, r.position, r.code"
)
recs = sorted((r for r in recs if r[1] in order and r[0] not in later["recommendation"]), key=lambda r: order[r[1]])
rec_ids = {r[0] for r in recs}

updates = defaultdict(list)
for rec_id, status, effective_on, note, recorded_at in query(
    "SELECT recommendation_id, status, effective_on, note, recorded_at FROM status_update "
    "WHERE effective_on < %s AND recorded_at <= %s ORDER BY effective_on, recorded_at, id",
    end if postgres else end.isoformat(),
    as_of_param,
):
    if rec_id in rec_ids:
        updates[rec_id].append((status, iso(effective_on), note, recorded_at))

in_quarter = (
    "e.observed_on >= %s AND e.observed_on < %s AND e.recorded_at <= %s AND NOT EXISTS "
    "(SELECT 1 FROM evidence_retraction x WHERE x.evidence_id = e.id AND x.recorded_at <= %s)"
)
bounds = (start, end) if postgres else (start.isoformat(), end.isoformat())
evidence = defaultdict(list)
for eid, title, kind, observed_on, url_, sensitivity, rec_id, stance in query(
    "SELECT e.id, e.title, e.kind, e.observed_on, e.url, e.sensitivity, l.recommendation_id, l.stance "
    f"FROM evidence e JOIN evidence_link l ON l.evidence_id = e.id WHERE {in_quarter} "
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
                "url": url_,
                "sensitivity": sensitivity,
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

fingerprint = query("SELECT hash FROM event WHERE recorded_at <= %s ORDER BY seq DESC LIMIT 1", as_of_param)


def status_before(items, day):
    status = "not_started"
    for item in items:
        if item[1] >= day:
            break
        status = item[0]
    return status


sections = []
for rec_id, _source_id, slug, code, title, pillar, due_on in recs:
    own = updates.get(rec_id, [])
    previous = status_before(own, start.isoformat())
    status = status_before(own, end.isoformat())
    rank = STATUSES.index(status) - STATUSES.index(previous)
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
            "status_updates": [
                {"effective_on": effective_on, "status": s, "note": note, "recorded_at": instant(recorded_at)}
                for s, effective_on, note, recorded_at in own
                if effective_on >= start.isoformat()
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
                }
                for i, c, n, u, t in indicators.get(rec_id, [])
            ],
        }
    )

changes = Counter(s["change"] for s in sections)
document = {
    "schema_version": 1,
    "quarter": quarter_text,
    "period": {"start": start.isoformat(), "end": end.isoformat()},
    "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    "audience": "internal",
    "fingerprint": fingerprint[0][0] if fingerprint else None,
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
}
text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
if output:
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
else:
    sys.stdout.write(text)
