"""Make a synthetic tracker database of a given size, through the tracker's own bulk path.

    python bench/generate.py --db bench/out/big.db --recs 200 --evidence 1000000 --quarters 40

The history runs for ``--quarters`` calendar quarters ending with ``--end`` (default
2024Q4). Sources (report editions from several countries), their recommendations,
agencies and indicators are loaded as a catalog; then, quarter by quarter, three CSV
files (evidence, status updates, measurements) are written and imported with
:func:`tracker.importing.import_file`, exactly as ``tracker import`` does, with the
program's clock set to a few days after the quarter ended. A few pieces of evidence
per quarter carry an attached file and a few are retracted, through the same service
functions as ``tracker evidence add`` and ``tracker evidence retract``. The result is a
valid database: ``tracker verify`` passes on it.

Proportions (per quarter): ``evidence / quarters`` pieces of evidence, each bearing on
one recommendation (one in five on two or three); a status assessment for about one
recommendation in five; one value per indicator (one indicator per two
recommendations), a few of them corrections of the previous quarter; one retraction per
2,000 pieces of evidence. Everything is drawn from a random generator seeded with
``--seed`` and the quarter, so the same arguments give the same database (its last
event's hash included), and a quarter's content does not depend on how many quarters
came before it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# The tracker as installed (`pip install .`, or `pip install -e .` in a checkout): its
# migrations are the package tracker.migrations, which only an installed tracker has.
from tracker import catalogs, clock, importing, services
from tracker.periods import Quarter
from tracker.store.database import Database

# Bump when the data drawn changes, so that cached databases are rebuilt.
VERSION = 1
ACTOR = "bench"
COUNTRIES = ["KH", "TH", "VN", "MY", "LA", "MM", "ID", "PH", "BD", "NP"]
PILLARS = ["prosecution", "protection", "prevention", "partnership"]
KINDS = [  # roughly how often each kind of evidence turns up
    ("media_report", 22),
    ("ngo_report", 14),
    ("government_statement", 12),
    ("court_case", 10),
    ("inspection", 9),
    ("statistic", 8),
    ("field_observation", 7),
    ("training", 6),
    ("regulation", 4),
    ("policy", 3),
    ("law", 2),
    ("other", 3),
]
STATUSES = ["not_started", "in_progress", "partially_implemented", "implemented"]
WORDS = (
    "labour inspection brick kiln fishery plantation debt bondage victim shelter protocol police "
    "prosecutor court verdict conviction complicit official undercover investigation province "
    "referral repatriation training hotline border recruitment agency migrant worker wage passport "
    "confiscation child forced marriage online exploitation sentence appeal budget committee"
).split()
OUTLETS = [
    "Phnom Penh Post",
    "Khmer Times",
    "VOD",
    "Reuters",
    "UNODC",
    "IOM",
    "ILO",
    "LICADHO",
    "Ministry of Justice",
    "National Committee for Counter Trafficking",
    "Field team",
]


@dataclass(frozen=True)
class Rec:
    ref: str
    source: int  # index of its source


@dataclass
class Plan:
    recs: int
    evidence: int
    quarters: int
    end: Quarter
    seed: int

    @property
    def first(self) -> Quarter:
        quarter = self.end
        for _ in range(self.quarters - 1):
            quarter = quarter.previous()
        return quarter

    @property
    def sources(self) -> int:
        return max(1, self.recs // 20)


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def catalog_document(plan: Plan) -> tuple[dict, list[Rec], list[str]]:
    """Sources (editions published before the history starts), recommendations, agencies, indicators."""
    rng = random.Random(f"{plan.seed}-catalog")
    agencies = [
        {"code": f"agency-{i:02d}", "name": f"Ministry of {_sentence(rng, 2).title()} {i}"}
        for i in range(max(3, plan.recs // 10))
    ]
    per_source = [plan.recs // plan.sources + (1 if i < plan.recs % plan.sources else 0) for i in range(plan.sources)]
    start = plan.first.start
    sources, recs, indicators = [], [], []
    for s, count in enumerate(per_source):
        country = COUNTRIES[s % len(COUNTRIES)]
        year = start.year - 1 - s // len(COUNTRIES)
        slug = f"tip-{year}-{country.lower()}"
        published = date(year, 6, 20) if date(year, 6, 20) < start else start - timedelta(days=30)
        entries = []
        for j in range(count):
            # Half the codes recur across editions (their REF is then SOURCE/CODE), half are the source's own.
            code = f"theme-{j:02d}" if j < count // 2 else f"{slug}-rec-{j:02d}"
            lead = rng.choice(agencies)["code"]
            support = sorted({rng.choice(agencies)["code"] for _ in range(2)} - {lead})
            entry = {
                "code": code,
                "position": j + 1,
                "title": _sentence(rng, 6).capitalize(),
                "text": _sentence(rng, 30).capitalize() + ".",
                "pillar": PILLARS[j % len(PILLARS)],
                "agencies": {"lead": lead, "support": support},
            }
            if rng.random() < 0.3:
                entry["due_on"] = (start + timedelta(days=rng.randrange(90 * plan.quarters))).isoformat()
            if len(recs) % 2 == 0:
                indicator = f"ind-{len(indicators):04d}"
                entry["indicators"] = [
                    {
                        "code": indicator,
                        "name": _sentence(rng, 3).capitalize(),
                        "unit": "cases",
                        "direction": "up",
                        "target": float(rng.randrange(50, 500)),
                    }
                ]
                indicators.append(indicator)
            entries.append(entry)
            recs.append((slug, code, s))
        sources.append(
            {
                "slug": slug,
                "title": f"{year} Trafficking in Persons Report: {country}",
                "publisher": "U.S. Department of State",
                "country": country,
                "published_on": published.isoformat(),
                "period_start": date(year - 1, 4, 1).isoformat(),
                "period_end": date(year, 3, 31).isoformat(),
                "rating": rng.choice(["Tier 2", "Tier 2 Watch List", "Tier 3"]),
                "url": f"https://example.org/{slug}",
                "recommendations": entries,
            }
        )
    codes = [code for _, code, _ in recs]
    refs = [Rec(code if codes.count(code) == 1 else f"{slug}/{code}", s) for slug, code, s in recs]
    return {"agencies": agencies, "sources": sources}, refs, indicators


def _write_csv(folder: Path, name: str, header: list[str], rows: list[list]) -> Path:
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header[: len(rows[0])] if rows else header)  # the columns the rows fill, in order
        writer.writerows(rows)
    return path


def quarter_files(
    plan: Plan,
    quarter: Quarter,
    index: int,
    recs: list[Rec],
    indicators: list[str],
    statuses: dict[str, int],
    folder: Path,
) -> list[Path]:
    """The quarter's evidence, status update and measurement CSV files."""
    rng = random.Random(f"{plan.seed}-{quarter}")
    kinds, weights = zip(*KINDS)
    days = (quarter.end - quarter.start).days
    count = plan.evidence // plan.quarters + (1 if index < plan.evidence % plan.quarters else 0)
    evidence = []
    for n in range(count):
        linked = rng.sample(recs, 1 if rng.random() < 0.8 else rng.choice((2, 3)))
        sensitivity = rng.choices(("public", "internal", "confidential"), (50, 40, 10))[0]
        evidence.append(
            [
                ";".join(rec.ref for rec in linked),
                _sentence(rng, rng.randrange(4, 10)).capitalize(),
                (quarter.start + timedelta(days=rng.randrange(days))).isoformat(),
                rng.choices(kinds, weights)[0],
                rng.choices(("progress", "setback", "context"), (60, 15, 25))[0],
                f"https://example.org/{quarter}/{n}" if rng.random() < 0.7 else "",
                _sentence(rng, rng.randrange(10, 30)).capitalize() + "." if rng.random() < 0.8 else "",
                rng.choice(OUTLETS),
                rng.choices(("confirmed", "credible", "unverified"), (30, 50, 20))[0],
                sensitivity,
            ]
        )
    updates = []
    for rec in recs:
        if rng.random() < 0.2:
            current = statuses.get(rec.ref, 0)
            step = rng.choices((1, -1, 0), (70, 10, 20))[0]
            new = min(max(current + step, 0), len(STATUSES) - 1)
            statuses[rec.ref] = new
            effective = quarter.start + timedelta(days=rng.randrange(days))
            updates.append([rec.ref, STATUSES[new], effective.isoformat(), _sentence(rng, 15).capitalize() + ".", ""])
    values = []
    for code in indicators:
        values.append([code, str(quarter), str(float(rng.randrange(0, 400))), "", ""])
        if index and rng.random() < 0.05:  # a correction of last quarter's value
            values.append([code, str(quarter.previous()), str(float(rng.randrange(0, 400))), "Corrected figure", ""])
    files = []
    if evidence:
        files.append(_write_csv(folder, f"evidence-{quarter}.csv", list(importing.EVIDENCE.columns), evidence))
    if updates:
        files.append(_write_csv(folder, f"status-{quarter}.csv", list(importing.STATUS.columns), updates))
    if values:
        files.append(_write_csv(folder, f"measurements-{quarter}.csv", list(importing.MEASUREMENT.columns), values))
    return files


def write_evidence_csv(path: Path, *, recs: int, rows: int, seed: int, quarter: Quarter) -> Path:
    """An evidence CSV file (``tracker import``'s format) of ``rows`` rows observed in ``quarter``,
    naming the recommendations of a database generated with the same ``recs`` (and default seed)."""
    _, refs, indicators = catalog_document(Plan(recs=recs, evidence=0, quarters=1, end=quarter, seed=2019))
    plan = Plan(recs=recs, evidence=rows, quarters=1, end=quarter, seed=seed)
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as folder:
        files = quarter_files(plan, quarter, 0, refs, indicators, {}, Path(folder))
        source = next(f for f in files if f.name.startswith("evidence-"))
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, path)
    return path


def _moment(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _retract_and_attach(
    database: Database, plan: Plan, quarter: Quarter, first_id: int, last_id: int, recs: list[Rec]
) -> tuple[int, int]:
    """A few retractions of the quarter's evidence and one piece of evidence with a file, as single commands."""
    rng = random.Random(f"{plan.seed}-{quarter}-single")
    count = last_id - first_id + 1 if last_id >= first_id else 0
    retract = sorted(rng.sample(range(first_id, last_id + 1), min(count, count // 2000 + (1 if count else 0))))

    def work(session) -> None:
        for evidence_id in retract:
            services.retract_evidence(
                session, evidence_id, "Source withdrew the item: " + _sentence(rng, 5), actor=ACTOR
            )
        content = f"Inspection sheet {quarter}\n{_sentence(rng, 40)}\n".encode()
        item = services.check_evidence(
            recs=[rng.choice(recs).ref],
            title=f"Inspection sheet {quarter}",
            observed_on=quarter.start,
            kind="inspection",
            sensitivity="internal",
        )
        services.add_evidence(
            session,
            item,
            actor=ACTOR,
            attachments=[services.FileToAttach(f"inspection-{quarter}.txt", content, "text/plain")],
        )

    database.write(work)
    return len(retract), 1


def generate(url: str, plan: Plan, *, progress=None) -> dict[str, int]:
    """Fill an empty database (a new SQLite file, or an empty PostgreSQL database)."""
    say = progress or (lambda text: None)
    database = Database(url)
    started = time.perf_counter()
    try:
        database.upgrade(backup=False)
        document, recs, indicators = catalog_document(plan)
        with clock.frozen(_moment(plan.first.start - timedelta(days=7), 9)):
            catalog = catalogs.parse(document, "bench-catalog")
            database.write(lambda session: catalogs.load(session, catalog, ACTOR))
        say(f"catalog: {plan.sources} sources, {len(recs)} recommendations, {len(indicators)} indicators")
        statuses: dict[str, int] = {}
        totals = {"evidence": 0, "status updates": 0, "measurements": 0, "retractions": 0, "attachments": 0}
        quarter, index = plan.first, 0
        with tempfile.TemporaryDirectory(prefix="tracker-bench-") as folder:
            while index < plan.quarters:
                files = quarter_files(plan, quarter, index, recs, indicators, statuses, Path(folder))
                at = _moment(quarter.end + timedelta(days=5), 9)
                with clock.frozen(at):
                    first_id = _max_evidence_id(database) + 1
                    for path in files:
                        summary = importing.import_file(database, path, actor=ACTOR)
                        name = {
                            "evidence": "evidence",
                            "status update": "status updates",
                            "measurement": "measurements",
                        }[summary.kind]
                        totals[name] += summary.rows
                        path.unlink()
                    last_id = _max_evidence_id(database)
                with clock.frozen(at + timedelta(hours=2)):
                    retracted, attached = _retract_and_attach(database, plan, quarter, first_id, last_id, recs)
                totals["retractions"] += retracted
                totals["attachments"] += attached
                index += 1
                elapsed = time.perf_counter() - started
                say(
                    f"{quarter} ({index}/{plan.quarters}): {totals['evidence']:,} evidence, "
                    f"{totals['status updates']:,} status updates, {totals['measurements']:,} measurements "
                    f"[{elapsed:.0f} s]"
                )
                quarter = quarter.next()
        if not database.is_sqlite:
            # PostgreSQL's autovacuum gathers planner statistics soon after a large load; a
            # benchmark run straight after generating would otherwise plan without them.
            from sqlalchemy import text

            with database.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    finally:
        database.dispose()
    return totals


def _max_evidence_id(database: Database) -> int:
    from sqlalchemy import func, select

    from tracker.store.models import Evidence

    with database.reading() as session:
        return session.scalar(select(func.max(Evidence.id))) or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", metavar="PATH_OR_URL", help="a new SQLite file, or the URL of an empty PostgreSQL database"
    )
    parser.add_argument("--recs", type=int, default=200, help="recommendations (default 200)")
    parser.add_argument("--evidence", type=int, default=100_000, help="pieces of evidence (default 100000)")
    parser.add_argument("--quarters", type=int, default=40, help="quarters of history (default 40)")
    parser.add_argument("--end", default="2024Q4", help="the last quarter (default 2024Q4)")
    parser.add_argument("--seed", type=int, default=2019, help="random seed (default 2019)")
    parser.add_argument("--force", action="store_true", help="replace an existing SQLite file")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--csv",
        metavar="FILE",
        help="write an evidence CSV file of --evidence rows (for the "
        "recommendations of a database made with the same --recs) instead of a database",
    )
    parser.add_argument(
        "--describe",
        action="store_true",
        help="print this generator's version and the schema revision as JSON (what a cached database depends on)",
    )
    args = parser.parse_args(argv)
    if args.describe:
        from tracker.store.database import SCHEMA_REVISION

        print(json.dumps({"version": VERSION, "schema": SCHEMA_REVISION}))
        return 0
    if args.csv:
        write_evidence_csv(
            Path(args.csv), recs=args.recs, rows=args.evidence, seed=args.seed, quarter=Quarter.parse(args.end)
        )
        return 0
    if args.recs < 1 or args.quarters < 1 or args.evidence < 0:
        parser.error("--recs and --quarters must be at least 1, --evidence at least 0")
    plan = Plan(
        recs=args.recs, evidence=args.evidence, quarters=args.quarters, end=Quarter.parse(args.end), seed=args.seed
    )
    if plan.end.end > date.today():
        parser.error(f"--end {plan.end} has not ended yet")
    if not args.db:
        parser.error("--db is required")
    if "://" not in args.db:
        path = Path(args.db)
        if path.exists():
            if not args.force:
                parser.error(f"{path} exists: pass --force to replace it")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    totals = generate(
        args.db, plan, progress=None if args.quiet else lambda text: print(text, file=sys.stderr, flush=True)
    )
    if not args.quiet:
        print(
            f"done in {time.perf_counter() - started:.0f} s: " + ", ".join(f"{v:,} {k}" for k, v in totals.items()),
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TRACKER_USER", ACTOR)
    sys.exit(main())
