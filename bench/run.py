"""Benchmarks of the tracker against baselines measured in the same run.

    python bench/run.py                 # default sizes: a few minutes on 2 cores
    python bench/run.py --quick         # smaller databases, fewer runs
    python bench/run.py --smoke         # tiny, one run each: checks that everything runs
    python bench/run.py --only startup,commands   # start-up and short database commands only
    python bench/run.py --only reads --quick      # the reads that must stream, on a smaller database
    python bench/run.py --postgres URL --scale 1000000   # PostgreSQL report database of 1,000,000 evidence
    python bench/run.py --fresh         # generate the cached databases again

Every metric runs the installed ``tracker`` console script in a subprocess, as a user
would, and its baseline (a plain script or another tool) in a subprocess too,
interleaved (A B A B ...); the median wall-clock time of the runs counts. Results go to
``bench/out/results.json`` and ``bench/out/results.md`` (a Markdown table: metric,
tracker, baseline, ratio, target, met), and the table is printed.

The report databases (1,000,000 pieces of evidence over 40 quarters, and 100,000 over
the last 4 of those quarters, so that both hold the same quarter at the same size) are
made once with ``bench/generate.py`` and cached in ``bench/out/db/``, keyed by their
parameters, the generator's version and the schema revision (``generate.py --describe``).
The big database's quarterly report runs as json and md against a hand-written SQL script
that writes the same JSON (``bench/baselines/report_json.py``), as html against the
tracker's own json of the same quarter (at most 3x), and ``tracker report timeline
--format json`` over its 40 quarters against ``bench/baselines/timeline_json.py`` (the same
JSON, at most 2x). ``tracker verify`` runs against ``bench/baselines/verify_chain.py`` on
the machine's cores and, both pinned to CPU 0 with ``taskset -c 0``, on one core (skipped
without ``taskset``).

PostgreSQL runs when a server is reachable (``--postgres URL``, else
``$TRACKER_BENCH_POSTGRES_URL`` or ``$TRACKER_TEST_POSTGRES_URL``). ``--scale N`` gives its
report (and verify) database N pieces of evidence (100,000 by default, 10,000 with
``--quick``), over as many quarters as the big SQLite database has for that many. That
database and the "base" one (the catalog, no evidence: the import's target) are generated
once and kept on the server, as ``bench_cache_report_<hash>`` and ``bench_cache_base_<hash>``
(the hash of the same key as the SQLite files'); a database is reused only when its COMMENT
says it is complete, which is written once generate.py succeeded (an advisory lock keeps two
runs from making it at once). ``--fresh`` drops and generates them again (and the SQLite
files). Databases of an older key are left on the server: drop them by hand. The databases
made for a run (the import targets, the copies that ``tracker evidence add`` writes into)
are named ``tracker_bench_<pid>_*`` and dropped at its end: the cached ones stay as generated,
and verify reads the report database unchanged. Its rows: bulk import, the quarterly report
(json against report_json.py, html against the tracker's json), the timeline (against
timeline_json.py, over the generated quarters), ``tracker evidence add`` and ``tracker rec
list`` on a copy of the report database against ``python -c "import typer,
sqlalchemy.orm"`` and against the same commands on a copy of the base database (at most
1.25x each), and verify (time and memory).

The reads that must stream (``tracker log --json``, ``tracker export -o FILE``, ``tracker
evidence list --format csv`` and ``--json``) run on the big report database: the peak RSS
of the tracker's process (at most 200 MiB), the time to the first line it writes on stdout
(under a second), and the export's time against ``sqlite3 DB .dump`` (at most 3x), when
the ``sqlite3`` command is installed.

The machine must hold still while a metric is measured: the 1-minute load average and the
free cores (CPUs less that load) are recorded at the start and end of each measurement, and,
on Linux, the cores that other work took during it: the machine's busy CPU time
(``/proc/stat``) less this run's own (this process, the commands it ran, and the PostgreSQL
server on this machine, whose work for the commands is theirs). The load average counts the
commands measured too (verify alone takes two cores), so on Linux it is the other work that
decides: when it took more than one core, the measurement is taken again (twice more at
most); elsewhere, when the load moved by more than one core. If it never held still, its
metrics have no verdict (``noisy`` in the table).

Besides timing, the run checks that each comparison is fair: the baseline report
writes the same bytes as ``tracker report quarterly --format json``, the baseline timeline
the same bytes as ``tracker report timeline --format json``, and the databases both
importers wrote pass ``tracker verify``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import import_xlsx  # bench/, beside this script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BASELINES = HERE / "baselines"

PYTHON = sys.executable
ACTOR = "bench"
AS_OF = "2025-06-30"  # after the generated history ends: reports are reproducible


@dataclass(frozen=True)
class Sizes:
    recs: int
    big: int  # evidence in the big report database
    quarters: int  # its quarters of history
    small: int  # evidence in the small report database (the last quarters of the same history)
    import_rows: int  # rows of the CSV file imported
    runs: int  # runs of each heavy command (median)
    quick_runs: int  # runs of each command that takes well under a second
    pg_evidence: int  # evidence in the PostgreSQL report database

    @property
    def small_quarters(self) -> int:
        return max(1, round(self.quarters * self.small / self.big)) if self.big else 1


SIZES = {
    "default": Sizes(
        recs=200,
        big=1_000_000,
        quarters=40,
        small=100_000,
        import_rows=100_000,
        runs=5,
        quick_runs=11,
        pg_evidence=100_000,
    ),
    "quick": Sizes(
        recs=200, big=100_000, quarters=40, small=10_000, import_rows=20_000, runs=3, quick_runs=5, pg_evidence=10_000
    ),
    "smoke": Sizes(recs=10, big=400, quarters=4, small=100, import_rows=200, runs=1, quick_runs=1, pg_evidence=100),
}


@dataclass
class Metric:
    name: str
    tracker: str  # what runs, for the table
    baseline: str
    target: str
    tracker_value: float | None = None  # seconds, or MiB
    baseline_value: float | None = None
    ratio: float | None = None
    met: bool | None = None
    unit: str = "s"
    runs: int = 0
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    load_start: float | None = None  # 1-minute load average when the measurement began
    load_end: float | None = None
    free_cores_start: float | None = None  # CPUs less the load, at least 0
    free_cores_end: float | None = None
    attempts: int = 0  # measurements taken (more than one: the load moved)
    noisy: bool = False  # the load never held still: no verdict
    other_cores: float | None = None  # cores that other work took during the measurement (Linux)


# Running commands ---------------------------------------------------------------------------


def tracker_command() -> list[str]:
    """The installed console script beside this Python, as a user runs it."""
    script = Path(PYTHON).parent / "tracker"
    if script.exists():
        return [str(script)]
    found = shutil.which("tracker")
    if found:
        return [found]
    raise SystemExit("the `tracker` command is not installed: pip install -e . first")


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["TRACKER_USER"] = ACTOR
    for name in ("TRACKER_DATABASE_URL", "TRACKER_DEBUG", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME"):
        env.pop(name, None)
    return env


def compile_sources() -> None:
    """Byte-compile the tracker's modules, as installing a package does (a checkout installed
    in editable mode otherwise compiles them on first use, or on every use when writing
    bytecode is turned off)."""
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", str(ROOT / "tracker"), str(ROOT / "migrations")],
        check=True,
        capture_output=True,
        env=environment(),
    )


@dataclass
class Sample:
    seconds: float
    rss_mib: float


def run_once(command: list[str], *, check: bool = True) -> Sample:
    """Run a command: its wall-clock seconds and peak RSS (from wait4)."""
    with open(os.devnull, "wb") as out:
        return _run_into(command, out, check=check)


def _run_into(command: list[str], out: BinaryIO, *, check: bool) -> Sample:
    """Run a command, its stdout into ``out``: its wall-clock seconds and peak RSS (from wait4)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=environment(), cwd=ROOT
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if check and process.returncode != 0:
            err.seek(0)
            raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}\n{err.read().decode()[-2000:]}")
    return Sample(seconds, usage.ru_maxrss / 1024)


def interleave(
    commands: dict[str, list[str]], runs: int, *, before=None, after=None, warm_up: bool = False
) -> dict[str, list[Sample]]:
    """Run each command ``runs`` times, A B A B ...; ``before(label, i)`` prepares a run (untimed).

    With ``warm_up``, each command first runs once untimed (file caches, bytecode).
    """
    if warm_up and runs > 1:  # (a smoke run only checks that everything runs)
        for command in commands.values():
            run_once(command)
    samples: dict[str, list[Sample]] = {label: [] for label in commands}
    for i in range(runs):
        for label, command in commands.items():
            if before:
                before(label, i)
            samples[label].append(run_once(command))
            if after:
                after(label, i)
    return samples


@dataclass
class Streamed:
    seconds: float
    first_line: float | None  # seconds to the first line on stdout; None if it wrote none
    rss_mib: float
    size: int  # bytes written on stdout


def stream_once(command: list[str]) -> Streamed:
    """Run a command that writes on stdout, reading it as it comes: the seconds to its first
    line and to its end, its peak RSS (from wait4: that process alone) and the bytes it wrote.
    Nothing is kept but the count, so that this process stays small."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=environment(), cwd=ROOT
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        first_line = time.perf_counter() - started if line.endswith(b"\n") else None
        size = len(line)
        while chunk := process.stdout.read1(1 << 20):
            size += len(chunk)
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}\n{err.read().decode()[-2000:]}")
    return Streamed(seconds, first_line, usage.ru_maxrss / 1024, size)


def run_to_file(command: list[str], output: Path) -> Sample:
    """Run a command with its stdout going to ``output`` (as a shell's ``> FILE``)."""
    with output.open("wb") as out:
        return _run_into(command, out, check=True)


def median(samples: list[Sample]) -> float:
    return statistics.median(s.seconds for s in samples)


def compare(
    metric: Metric, tracker: list[Sample], baseline: list[Sample] | None, limit: float, strict: bool = False
) -> Metric:
    metric.tracker_value = median(tracker)
    metric.samples["tracker"] = [round(s.seconds, 4) for s in tracker]
    metric.runs = len(tracker)
    if baseline:
        metric.baseline_value = median(baseline)
        metric.samples["baseline"] = [round(s.seconds, 4) for s in baseline]
        metric.ratio = metric.tracker_value / metric.baseline_value
        metric.met = metric.ratio < limit if strict else metric.ratio <= limit
    return metric


# A machine that holds still -------------------------------------------------------------------

NOISE = 1.0  # cores: a measurement during which other work took more (or the load moved by more) is taken again
ATTEMPTS = 3  # the first measurement and at most two more


def load() -> tuple[float, float]:
    """The 1-minute load average, and the cores it leaves free (CPUs less the load, at least 0)."""
    one = os.getloadavg()[0]
    return one, max(0.0, (os.cpu_count() or 1) - one)


def _cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds the machine has spent busy, CPU seconds of this run's own work), or None
    where ``/proc`` cannot tell. This run's own: this process and the commands it ran (each
    waited for), and the PostgreSQL server's processes on this machine (its backends, once
    they exit, count in the postmaster's children's times)."""
    try:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
    except (OSError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    own = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        own += usage.ru_utime + usage.ru_stime
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if name.startswith("postgres"):
            own += sum(int(v) for v in fields[11:15]) / ticks  # utime, stime, cutime, cstime
    return (user + nice + system + irq + softirq + steal) / ticks, own


def steady(measure: Callable[[], list[Metric]]) -> list[Metric]:
    """The metrics of ``measure()``, taken while other work left the machine alone.

    Each attempt records the load and free cores at its start and end in its metrics, and the
    cores other work took meanwhile (:func:`_cpu_seconds`); when that was more than
    :data:`NOISE` (where it cannot be told: when the load moved by more), the measurement is
    taken again, up to :data:`ATTEMPTS` in all. If it never held still, the last attempt's
    metrics have no verdict: ``met`` is None and the note says ``noisy (...)``.
    """
    for attempt in range(1, ATTEMPTS + 1):
        (load_start, free_start) = load()
        cpu_start, wall_start = _cpu_seconds(), time.perf_counter()
        metrics = measure()
        cpu_end, wall = _cpu_seconds(), time.perf_counter() - wall_start
        (load_end, free_end) = load()
        other = None
        if cpu_start is not None and cpu_end is not None and wall > 0:
            other = max(0.0, ((cpu_end[0] - cpu_start[0]) - (cpu_end[1] - cpu_start[1])) / wall)
        for metric in metrics:
            metric.load_start, metric.load_end = round(load_start, 2), round(load_end, 2)
            metric.free_cores_start, metric.free_cores_end = round(free_start, 2), round(free_end, 2)
            metric.other_cores = round(other, 2) if other is not None else None
            metric.attempts = attempt
        moved = other > NOISE if other is not None else abs(load_end - load_start) > NOISE
        why = f"other work took {other:.1f} cores" if other is not None else f"load {load_start:.1f} -> {load_end:.1f}"
        if not moved:
            return metrics
        say(f"  {why}" + (": again" if attempt < ATTEMPTS else ""))
    for metric in metrics:
        if metric.note.startswith("skipped"):
            continue
        metric.met, metric.noisy = None, True
        noisy = f"noisy ({why})"
        metric.note = f"{noisy}; {metric.note}" if metric.note else noisy
    return metrics


# Databases ------------------------------------------------------------------------------------


def generator_key() -> str:
    """What a cached database depends on besides its sizes: the generator's version and the schema."""
    result = subprocess.run(
        [PYTHON, str(HERE / "generate.py"), "--describe"], check=True, capture_output=True, env=environment(), cwd=ROOT
    )
    described = json.loads(result.stdout)
    return f"v{described['version']}-{described['schema']}"


class Generated:
    """A database or CSV file to make with generate.py, in the background (several at once)."""

    def __init__(self, path: Path, arguments: list[str], *, sqlite: bool, fresh: bool = False) -> None:
        self.path, self.sqlite, self.process = path, sqlite, None
        if fresh:  # --fresh: made again
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = path.with_suffix(".partial")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.partial}{suffix}").unlink(missing_ok=True)
        say(f"generating {path.name} (once; cached for later runs)")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [PYTHON, str(HERE / "generate.py"), *arguments, str(self.partial)], env=environment(), cwd=ROOT
        )

    def result(self) -> Path:
        if self.process is not None:
            if self.process.wait() != 0:
                raise SystemExit(f"generating {self.path.name} failed")
            if self.sqlite:
                connection = sqlite3.connect(self.partial)
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                connection.execute("PRAGMA journal_mode = DELETE")
                connection.close()
            self.partial.rename(self.path)
            say(f"  {self.path.name} generated in {time.perf_counter() - self.started:.0f} s")
            self.process = None
        return self.path


def database_key(sizes: Sizes, evidence: int, quarters: int, version: str) -> str:
    """What a generated database depends on: its sizes, the seed, the generator's version and the schema."""
    return f"r{sizes.recs}-e{evidence}-q{quarters}-s2019-{version}"


def generator_arguments(sizes: Sizes, evidence: int, quarters: int) -> list[str]:
    return ["--recs", str(sizes.recs), "--evidence", str(evidence), "--quarters", str(quarters), "--quiet"]


def cached_sqlite(
    out: Path, sizes: Sizes, evidence: int, quarters: int, *, label: str, version: str, fresh: bool = False
) -> Generated:
    """A generated SQLite database, made once per set of parameters (again with ``fresh``)."""
    return Generated(
        out / "db" / f"{label}-{database_key(sizes, evidence, quarters, version)}.db",
        [*generator_arguments(sizes, evidence, quarters), "--db"],
        sqlite=True,
        fresh=fresh,
    )


def copy_sqlite(source: Path, destination: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{destination}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, destination)
    return destination


def import_csv(out: Path, sizes: Sizes, fresh: bool = False) -> Generated:
    """An evidence CSV file of ``import_rows`` rows for the base database's recommendations."""
    return Generated(
        out / f"import-r{sizes.recs}-{sizes.import_rows}.csv",
        ["--recs", str(sizes.recs), "--evidence", str(sizes.import_rows), "--seed", "6", "--csv"],
        sqlite=False,
        fresh=fresh,
    )


CACHE_PREFIX = "bench_cache_"  # the PostgreSQL databases kept between runs


class Postgres:
    """Databases on a PostgreSQL server: those created for this run (:meth:`create`) are
    dropped at its end; the generated ones (:meth:`cached`) are kept for the next runs."""

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        self.server = {k: v for k, v in conninfo_to_dict(_libpq(url)).items() if k != "dbname"}
        self.admin = psycopg.connect(_libpq(url), autocommit=True)
        self.created: list[str] = []

    def name(self, label: str) -> str:
        return f"tracker_bench_{os.getpid()}_{label}"

    def create(self, label: str, template: str | None = None, *, file_copy: bool = False) -> str:
        """A database for this run (a copy of ``template``); ``file_copy``: copied file by file
        rather than through the WAL, faster for a large one (PostgreSQL 15 and later)."""
        name = self.name(label)
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        strategy = " STRATEGY FILE_COPY" if file_copy and self.admin.info.server_version >= 150000 else ""
        self.admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"{strategy}' if template else ""))
        self.created.append(name)
        return name

    def scalar(self, name: str, sql: str) -> object:
        """The first value of a query on database ``name``."""
        import psycopg

        with psycopg.connect(_libpq(self.url_of(name))) as connection:
            row = connection.execute(sql).fetchone()
        return None if row is None else row[0]

    def url_of(self, name: str) -> str:
        """A URL for the tracker (postgresql+psycopg://...) of database ``name`` on the server."""
        from urllib.parse import quote

        user = quote(self.server.get("user", ""), safe="")
        password = self.server.get("password")
        auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
        port = f":{self.server['port']}" if self.server.get("port") else ""
        return f"postgresql+psycopg://{auth}{self.server.get('host', '')}{port}/{name}"

    def drop(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(self.created):
            self.drop(name)
        self.admin.close()

    # Cached databases ---------------------------------------------------------------------

    @staticmethod
    def cache_name(label: str, key: str) -> str:
        """The name of the cached database of ``label`` generated with parameters ``key``."""
        return f"{CACHE_PREFIX}{label}_{hashlib.sha256(f'{label}-{key}'.encode()).hexdigest()[:12]}"

    @staticmethod
    def marker(label: str, key: str) -> str:
        """The comment a cached database carries once its generation succeeded."""
        return f"tracker bench cache: {label} {key}, complete"

    def comment(self, name: str) -> str | None:
        """The database's COMMENT: None when it has none (unfinished), "" when it does not exist."""
        row = self.admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        return "" if row is None else row[0]

    def cached(self, label: str, key: str, arguments: list[str], *, fresh: bool, template: bool = False) -> Cached:
        """The cached database of ``label`` for ``key``: reused when present and complete (its
        COMMENT is the :meth:`marker`, written only after generate.py succeeded), else (and with
        ``fresh``) dropped and generated again in the background. ``template``: it is copied
        from (CREATE DATABASE ... TEMPLATE), so nobody may connect to it once made."""
        name = self.cache_name(label, key)
        # One run at a time checks and makes it (another waits): released once it is reused or made.
        self.admin.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        if not fresh and self.comment(name) == self.marker(label, key):
            self.admin.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))
            return Cached(self, name, label, key, None, template)
        if self.comment(name) is not None and self.comment(name) != "":  # complete: --fresh
            try:
                self.admin.execute(f'DROP DATABASE "{name}"')
            except Exception as error:
                raise SystemExit(f"--fresh: cannot drop {name} ({error}): is another session using it?") from None
        else:  # absent, or left unfinished by a run that failed
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.execute(f'CREATE DATABASE "{name}"')
        say(f"generating the PostgreSQL database {name} ({label}, {key}; once: cached for later runs)")
        process = subprocess.Popen(
            [PYTHON, str(HERE / "generate.py"), "--db", self.url_of(name), *arguments], env=environment(), cwd=ROOT
        )
        return Cached(self, name, label, key, process, template)


@dataclass
class Cached:
    """A cached PostgreSQL database, perhaps being generated."""

    pg: Postgres
    name: str
    label: str
    key: str
    process: subprocess.Popen | None
    template: bool
    started: float = field(default_factory=time.perf_counter)
    seconds: float | None = None  # to generate it; None: reused from an earlier run

    def result(self) -> str:
        """Its name, once generated and marked complete."""
        if self.process is not None:
            if self.process.wait() != 0:
                raise SystemExit(f"generating the PostgreSQL database {self.name} ({self.label}) failed")
            self.process = None
            if self.template:
                self.pg.admin.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false')
            self.pg.admin.execute(f"COMMENT ON DATABASE \"{self.name}\" IS '{self.pg.marker(self.label, self.key)}'")
            self.seconds = time.perf_counter() - self.started
            self.pg.admin.execute("SELECT pg_advisory_unlock(hashtext(%s))", (self.name,))
            say(f"  {self.name} generated in {self.seconds:.0f} s")
        return self.name


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def postgres_url(given: str | None, disabled: bool) -> str | None:
    if disabled:
        return None
    url = given or os.environ.get("TRACKER_BENCH_POSTGRES_URL") or os.environ.get("TRACKER_TEST_POSTGRES_URL")
    if not url:
        return None
    try:
        import psycopg

        psycopg.connect(_libpq(url), connect_timeout=3).close()
    except Exception as error:
        say(f"PostgreSQL at {url} is not reachable ({type(error).__name__}): skipping its benchmarks")
        return None
    return url


# The benchmarks ---------------------------------------------------------------------------------


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def bench_startup(sizes: Sizes, tracker: list[str]) -> list[Metric]:
    samples = interleave(
        {"tracker": [*tracker, "--help"], "baseline": [PYTHON, "-c", "import typer"]}, sizes.quick_runs, warm_up=True
    )
    metric = Metric("start-up", "`tracker --help`", '`python -c "import typer"`', "<= 1.25x")
    return [compare(metric, samples["tracker"], samples["baseline"], 1.25)]


FIRST_REC = (
    "SELECT s.slug || '/' || r.code FROM recommendation r JOIN source s ON s.id = r.source_id ORDER BY r.id LIMIT 1"
)
COMMAND_BASELINE = [PYTHON, "-c", "import typer, sqlalchemy.orm"]  # what a database command cannot do without


def evidence_add(tracker: list[str], db: str, ref: str) -> list[str]:
    """`tracker evidence add` of one piece of evidence for recommendation ``ref``."""
    return [
        *tracker,
        "--db",
        db,
        "evidence",
        "add",
        "--rec",
        ref,
        "--title",
        "Kiln inspection report",
        "--date",
        "2024-12-01",
        "--kind",
        "inspection",
        "--summary",
        "Inspectors visited 12 kilns.",
    ]


def bench_commands(sizes: Sizes, tracker: list[str], small_db: Path, work: Path) -> list[Metric]:
    scratch = copy_sqlite(small_db, work / "commands.db")
    ref = sqlite3.connect(scratch).execute(FIRST_REC).fetchone()[0]
    add = evidence_add(tracker, str(scratch), ref)
    listing = [*tracker, "--db", str(scratch), "rec", "list"]
    baseline = COMMAND_BASELINE
    samples = interleave({"add": add, "list": listing, "baseline": baseline}, sizes.quick_runs, warm_up=True)
    target, described = "<= 1.25x", '`python -c "import typer, sqlalchemy.orm"`'
    return [
        compare(
            Metric("database command: evidence add", "`tracker evidence add ...`", described, target),
            samples["add"],
            samples["baseline"],
            1.25,
        ),
        compare(
            Metric("database command: rec list", "`tracker rec list`", described, target),
            samples["list"],
            samples["baseline"],
            1.25,
        ),
    ]


def bench_import(sizes: Sizes, tracker: list[str], base_db: Path, csv_file: Path, work: Path) -> list[Metric]:
    targets = {
        "tracker": work / "import-tracker.db",
        "baseline": work / "import-baseline.db",
        "sqlite-utils": work / "import-sqlite-utils.db",
    }
    sqlite_utils = Path(PYTHON).parent / "sqlite-utils"
    commands = {
        "tracker": [*tracker, "--db", str(targets["tracker"]), "import", str(csv_file)],
        "baseline": [PYTHON, str(BASELINES / "import_csv.py"), str(targets["baseline"]), str(csv_file), ACTOR],
        "sqlite-utils": [
            str(sqlite_utils) if sqlite_utils.exists() else "sqlite-utils",
            "insert",
            str(targets["sqlite-utils"]),
            "evidence",
            str(csv_file),
            "--csv",
        ],
    }
    checked: dict[str, bool] = {}

    def before(label: str, _i: int) -> None:
        if label == "sqlite-utils":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{targets[label]}{suffix}").unlink(missing_ok=True)
        else:
            copy_sqlite(base_db, targets[label])

    def after(label: str, _i: int) -> None:
        if label in ("tracker", "baseline") and label not in checked:  # both wrote a valid, verifiable database
            result = subprocess.run(
                [*tracker, "--db", str(targets[label]), "verify"], capture_output=True, env=environment()
            )
            checked[label] = result.returncode == 0

    samples = interleave(commands, sizes.runs, before=before, after=after)
    rows = f"{sizes.import_rows:,}-row evidence CSV"
    first = compare(
        Metric(
            f"bulk import ({rows})",
            "`tracker import`",
            "plain script: csv + sqlite3 executemany + the same hash chain, one transaction",
            "<= 2x",
        ),
        samples["tracker"],
        samples["baseline"],
        2.0,
    )
    second = compare(
        Metric(
            f"bulk import vs sqlite-utils ({rows})", "`tracker import`", "`sqlite-utils insert --csv`", "< 1x (faster)"
        ),
        samples["tracker"],
        samples["sqlite-utils"],
        1.0,
        strict=True,
    )
    if not all(checked.values()):
        first.met = False
        first.note = "a database did not verify: " + ", ".join(k for k, ok in checked.items() if not ok)
    else:
        first.note = "both databases pass `tracker verify`"
    return [first, second]


def report_commands(tracker: list[str], db: str, quarter: str, fmt: str, output: Path) -> list[str]:
    return [*tracker, "--db", db, "report", "quarterly", quarter, "--format", fmt, "--as-of", AS_OF, "-o", str(output)]


LAST_QUARTER = "2024Q4"  # where the generated history ends (generate.py --end)


def history_range(quarters: int) -> tuple[str, str]:
    """The first and last quarter of a generated history of ``quarters`` quarters."""
    year, number = int(LAST_QUARTER[:4]), int(LAST_QUARTER[-1])
    for _ in range(quarters - 1):
        year, number = (year, number - 1) if number > 1 else (year - 1, 4)
    return f"{year}Q{number}", LAST_QUARTER


def timeline_commands(tracker: list[str], db: str, quarters: int, outputs: dict[str, Path]) -> dict[str, list[str]]:
    """`tracker report timeline --format json` over the generated history, and its baseline
    (bench/baselines/timeline_json.py), writing ``outputs["timeline"]`` and ``outputs["timeline-baseline"]``."""
    first, last = history_range(quarters)
    return {
        "timeline": [
            *tracker,
            "--db",
            db,
            "report",
            "timeline",
            "--from",
            first,
            "--to",
            last,
            "--format",
            "json",
            "--as-of",
            AS_OF,
            "-o",
            str(outputs["timeline"]),
        ],
        "timeline-baseline": [
            PYTHON,
            str(BASELINES / "timeline_json.py"),
            db,
            first,
            last,
            AS_OF,
            str(outputs["timeline-baseline"]),
        ],
    }


def timeline_metric(name: str, quarters: int) -> Metric:
    first, last = history_range(quarters)
    return Metric(
        name,
        f"`tracker report timeline --from {first} --to {last} --format json`",
        "hand-written raw SQL script (bench/baselines/timeline_json.py), same JSON",
        "<= 2x",
    )


def timeline_result(metric: Metric, samples: dict[str, list[Sample]], outputs: dict[str, Path]) -> Metric:
    """The timeline's row: the tracker against its baseline, and whether both wrote the same bytes."""
    compare(metric, samples["timeline"], samples["timeline-baseline"], 2.0)
    same = outputs["timeline"].read_bytes() == outputs["timeline-baseline"].read_bytes()
    document = json.loads(outputs["timeline"].read_text())
    metric.note = (
        f"{len(document['recommendations']):,} recommendations over {len(document['quarters'])} quarter(s) "
        f"({document['from']}..{document['to']}); "
        + ("output identical to the baseline's" if same else "OUTPUT DIFFERS from the baseline's")
    )
    if not same:
        metric.met = False
    return metric


def html_metric(name: str, quarter: str) -> Metric:
    return Metric(
        name,
        f"`tracker report quarterly {quarter} --format html`",
        f"`tracker report quarterly {quarter} --format json` (the same report, in the same run)",
        "<= 3x",
    )


def html_result(metric: Metric, html: list[Sample], json_samples: list[Sample], html_file: Path) -> Metric:
    compare(metric, html, json_samples, 3.0)
    metric.note = f"{html_file.stat().st_size / 2**20:,.1f} MiB of HTML"
    return metric


def bench_report(sizes: Sizes, tracker: list[str], big_db: Path, small_db: Path, work: Path) -> list[Metric]:
    quarter = "2024Q4"
    outputs = {
        name: work / f"report-{name}"
        for name in ("json", "md", "html", "baseline", "small", "timeline", "timeline-baseline")
    }
    commands = {
        "json": report_commands(tracker, str(big_db), quarter, "json", outputs["json"]),
        "md": report_commands(tracker, str(big_db), quarter, "md", outputs["md"]),
        "html": report_commands(tracker, str(big_db), quarter, "html", outputs["html"]),
        "baseline": [PYTHON, str(BASELINES / "report_json.py"), str(big_db), quarter, AS_OF, str(outputs["baseline"])],
        "small": report_commands(tracker, str(small_db), quarter, "json", outputs["small"]),
        **timeline_commands(tracker, str(big_db), sizes.quarters, outputs),
    }
    samples = interleave(commands, sizes.runs)
    same = outputs["json"].read_bytes() == outputs["baseline"].read_bytes()
    evidence = json.loads(outputs["json"].read_text())["summary"]["evidence_count"]
    small_evidence = json.loads(outputs["small"].read_text())["summary"]["evidence_count"]
    big, small = f"{sizes.big:,}", f"{sizes.small:,}"
    raw = "hand-written raw SQL script, same JSON"
    metrics = [
        compare(
            Metric(
                f"quarterly report, json ({big}-evidence database)",
                f"`tracker report quarterly {quarter} --format json`",
                raw,
                "<= 2x",
            ),
            samples["json"],
            samples["baseline"],
            2.0,
        ),
        compare(
            Metric(
                f"quarterly report, md ({big}-evidence database)",
                f"`tracker report quarterly {quarter} --format md`",
                raw,
                "<= 2x",
            ),
            samples["md"],
            samples["baseline"],
            2.0,
        ),
        compare(
            Metric(
                f"report scaling: {big} vs {small} evidence",
                f"json report on the {big}-evidence database",
                f"the same on the {small}-evidence database",
                "<= 1.5x",
            ),
            samples["json"],
            samples["small"],
            1.5,
        ),
    ]
    for metric in metrics[:2]:
        metric.note = f"{evidence:,} pieces of evidence in the quarter; " + (
            "output identical to the baseline's" if same else "OUTPUT DIFFERS from the baseline's"
        )
        if not same:
            metric.met = False
    metrics[2].note = f"{evidence:,} vs {small_evidence:,} pieces of evidence in the quarter"
    peak = max(s.rss_mib for s in samples["json"] + samples["md"])
    memory = Metric(
        f"report memory ({big}-evidence database)",
        "peak RSS of `tracker report quarterly` (json, md)",
        "",
        "<= 200 MiB",
        tracker_value=peak,
        unit="MiB",
        met=peak <= 200,
        runs=len(samples["json"]) * 2,
        note=f"baseline script: {max(s.rss_mib for s in samples['baseline']):.0f} MiB",
    )
    html = html_result(
        html_metric(f"quarterly report, html ({big}-evidence database)", quarter),
        samples["html"],
        samples["json"],
        outputs["html"],
    )
    timeline = timeline_result(
        timeline_metric(f"timeline, json ({big}-evidence database)", sizes.quarters), samples, outputs
    )
    return [*metrics[:2], html, *metrics[2:], memory, timeline]


ONE_CORE = ["taskset", "-c", "0"]  # a command's prefix: it runs on the first CPU only


def one_core() -> str | None:
    """Why commands cannot be pinned to one core here, or None when they can."""
    if shutil.which("taskset") is None:
        return "the taskset command is not installed (util-linux)"
    if subprocess.run([*ONE_CORE, "true"], capture_output=True).returncode != 0:
        return "`taskset -c 0` failed (CPU 0 not allowed here)"
    return None


def bench_verify(sizes: Sizes, tracker: list[str], big_db: Path) -> list[Metric]:
    """`tracker verify` against bench/baselines/verify_chain.py, on the machine's cores, and
    both pinned to one core (``taskset -c 0``), interleaved."""
    events = sqlite3.connect(big_db).execute("SELECT count(*) FROM event").fetchone()[0]
    commands = {
        "tracker": [*tracker, "--db", str(big_db), "verify"],
        "baseline": [PYTHON, str(BASELINES / "verify_chain.py"), str(big_db)],
    }
    unpinned = one_core()
    if unpinned is None:
        commands |= {f"{label}, one core": [*ONE_CORE, *command] for label, command in list(commands.items())}
    samples = interleave(commands, sizes.runs)
    metric = Metric(
        f"verify ({events:,} events)",
        "`tracker verify`",
        "plain loop of hashlib.sha256 over the stored events",
        "<= 1.5x",
    )
    pinned = Metric(
        f"verify, one core ({events:,} events)",
        "`taskset -c 0 tracker verify`",
        "`taskset -c 0` the same plain loop of hashlib.sha256",
        "<= 1.5x",
    )
    if unpinned is None:
        compare(pinned, samples["tracker, one core"], samples["baseline, one core"], 1.5)
        pinned.note = "both pinned to CPU 0 (`taskset -c 0`)"
    else:
        pinned.note = f"skipped: {unpinned}"
    return [compare(metric, samples["tracker"], samples["baseline"], 1.5), pinned]


SEARCH_WORDS = "brick kiln"  # two of the generator's words: each text holds both in about 1 case in 6


def bench_search(sizes: Sizes, tracker: list[str], big_db: Path) -> list[Metric]:
    """`tracker search` against the same FTS5 query written by hand (bench/baselines/search_fts.py)."""
    connection = sqlite3.connect(f"file:{big_db}?mode=ro", uri=True)
    match = " ".join(f'"{word}"' for word in SEARCH_WORDS.split())
    matches = connection.execute("SELECT count(*) FROM search_index WHERE search_index MATCH ?", (match,)).fetchone()[0]
    evidence = connection.execute("SELECT count(*) FROM evidence").fetchone()[0]
    connection.close()
    samples = interleave(
        {
            "tracker": [*tracker, "--db", str(big_db), "search", SEARCH_WORDS],
            "baseline": [PYTHON, str(BASELINES / "search_fts.py"), str(big_db), SEARCH_WORDS, "20"],
        },
        sizes.runs,
        warm_up=True,
    )
    metric = compare(
        Metric(
            f"search ({evidence:,}-evidence database)",
            f'`tracker search "{SEARCH_WORDS}"` (20 results)',
            "hand-written sqlite3 script: the same FTS5 MATCH, bm25 and LIMIT 20",
            "< 1 s and <= 3x",
        ),
        samples["tracker"],
        samples["baseline"],
        3.0,
    )
    metric.met = bool(metric.met) and (metric.tracker_value or 0) < 1.0
    metric.note = f"{matches:,} records hold both words"
    return [metric]


READ_MEMORY = 200  # MiB: a read that streams holds no more, however large the database
FIRST_LINE = 1.0  # seconds to the first line on stdout
DUMP_LIMIT = 3.0  # `tracker export` against `sqlite3 DB .dump`


def read_memory(label: str, described: str, peak: float, runs: int, note: str) -> Metric:
    """The row of a read's peak RSS, against the memory a read may take."""
    return Metric(
        f"read memory: {label} ({described})",
        f"peak RSS of `tracker {label}`",
        "",
        f"<= {READ_MEMORY} MiB",
        tracker_value=peak,
        unit="MiB",
        met=peak <= READ_MEMORY,
        runs=runs,
        note=note,
    )


def bench_reads(sizes: Sizes, tracker: list[str], big_db: Path, work: Path) -> list[Metric]:
    """The reads that must stream, on the big report database: the peak RSS of each and, for
    those that write on stdout, the time to their first line; and `tracker export` against
    `sqlite3 DB .dump` of the same database, run in turn."""
    connection = sqlite3.connect(f"file:{big_db}?mode=ro", uri=True)
    evidence = connection.execute("SELECT count(*) FROM evidence").fetchone()[0]
    events = connection.execute("SELECT count(*) FROM event").fetchone()[0]
    connection.close()
    db, described = str(big_db), f"{evidence:,}-evidence database"
    streams = {
        "log --json": ["log", "--json"],
        "evidence list --format csv": ["evidence", "list", "--format", "csv"],
        "evidence list --json": ["evidence", "list", "--json"],
    }
    streamed: dict[str, list[Streamed]] = {label: [] for label in streams}
    for _ in range(sizes.runs):
        for label, arguments in streams.items():
            streamed[label].append(stream_once([*tracker, "--db", db, *arguments]))
    metrics = []
    for label, runs in streamed.items():
        peak = max(s.rss_mib for s in runs)
        whole = f"{runs[-1].size / 2**20:,.1f} MiB written in {statistics.median(s.seconds for s in runs):.2f} s"
        memory = read_memory(
            label, described, peak, len(runs), whole + (f" ({events:,} events)" if label.startswith("log") else "")
        )
        first = Metric(
            f"first line: {label} ({described})",
            f"`tracker {label}`: seconds to its first line on stdout",
            "",
            f"< {FIRST_LINE:g} s",
            runs=len(runs),
            note=whole,
        )
        firsts = [s.first_line for s in runs]
        if None in firsts:
            first.met, first.note = False, f"it wrote no line; {whole}"
        else:
            first.tracker_value = statistics.median(firsts)
            first.samples["tracker"] = [round(f, 4) for f in firsts]
            first.met = first.tracker_value < FIRST_LINE
        metrics += [memory, first]

    outputs = {"tracker": work / "export.json", "sqlite3": work / "dump.sql"}
    export = [*tracker, "--db", db, "export", "-o", str(outputs["tracker"])]
    dump = shutil.which("sqlite3")
    exported: list[Sample] = []
    dumped: list[Sample] = []
    for _ in range(sizes.runs):  # in turn, as interleave() runs them
        for output in outputs.values():
            output.unlink(missing_ok=True)
        exported.append(run_once(export))
        if dump:
            dumped.append(run_to_file([dump, db, ".dump"], outputs["sqlite3"]))
    peak = max(s.rss_mib for s in exported)
    size = outputs["tracker"].stat().st_size / 2**20
    memory = read_memory(
        "export -o FILE", described, peak, len(exported), f"{size:,.1f} MiB written in {median(exported):.2f} s"
    )
    timed = Metric(
        f"export vs sqlite3 .dump ({described})",
        "`tracker export -o FILE`",
        "`sqlite3 DB .dump > FILE`",
        f"<= {DUMP_LIMIT:g}x",
    )
    if dump:
        compare(timed, exported, dumped, DUMP_LIMIT)
        timed.note = f"export {size:,.1f} MiB, dump {outputs['sqlite3'].stat().st_size / 2**20:,.1f} MiB"
        if dumped:
            memory.note += f"; sqlite3 .dump: {max(s.rss_mib for s in dumped):.0f} MiB"
    else:
        timed.note = "skipped: the sqlite3 command is not installed (apt-get install sqlite3)"
    for output in outputs.values():
        output.unlink(missing_ok=True)
    return [*metrics, memory, timed]


def postgres_verify_metrics(sizes: Sizes) -> list[Metric]:
    return [
        Metric(
            f"PostgreSQL: verify ({sizes.pg_evidence:,}-evidence database)",
            "`tracker verify`",
            "psycopg loop of hashlib.sha256 over the stored events, in seq order (server-side cursor)",
            "<= 1.5x",
        ),
        Metric(
            f"PostgreSQL: verify memory ({sizes.pg_evidence:,}-evidence database)",
            "peak RSS of `tracker verify`",
            "",
            "<= 250 MiB",
            unit="MiB",
        ),
    ]


def bench_postgres_verify(sizes: Sizes, tracker: list[str], db: str) -> list[Metric]:
    """`tracker verify` on PostgreSQL against bench/baselines/verify_postgres.py, on the same database."""
    timed, memory = postgres_verify_metrics(sizes)
    samples = interleave(
        {
            "tracker": [*tracker, "--db", db, "verify"],
            "baseline": [PYTHON, str(BASELINES / "verify_postgres.py"), db],
        },
        sizes.runs,
    )
    compare(timed, samples["tracker"], samples["baseline"], 1.5)
    peak = max(s.rss_mib for s in samples["tracker"])
    memory.tracker_value, memory.met, memory.runs = peak, peak <= 250, len(samples["tracker"])
    memory.note = (
        "the largest of its processes (a long chain is shared with a second one); "
        f"baseline script: {max(s.rss_mib for s in samples['baseline']):.0f} MiB"
    )
    return [timed, memory]


def postgres_import_metric(sizes: Sizes) -> Metric:
    return Metric(
        f"PostgreSQL: bulk import ({sizes.import_rows:,}-row evidence CSV)",
        "`tracker import`",
        "psycopg 3 COPY + the same hash chain, one transaction",
        "<= 2x",
    )


def postgres_report_metric(sizes: Sizes) -> Metric:
    return Metric(
        f"PostgreSQL: quarterly report, json ({sizes.pg_evidence:,}-evidence database)",
        "`tracker report quarterly --format json`",
        "the same hand-written SQL, same JSON",
        "<= 2x",
    )


def postgres_html_metric(sizes: Sizes) -> Metric:
    return html_metric(f"PostgreSQL: quarterly report, html ({sizes.pg_evidence:,}-evidence database)", "2024Q4")


def postgres_timeline_metric(sizes: Sizes) -> Metric:
    return timeline_metric(
        f"PostgreSQL: timeline, json ({sizes.pg_evidence:,}-evidence database)", postgres_quarters(sizes)
    )


def postgres_command_metrics(sizes: Sizes) -> list[Metric]:
    """`tracker evidence add` and `tracker rec list` on (a copy of) the report database, against
    Python importing what they need, and against the same commands on (a copy of) the empty one."""
    n, described = f"{sizes.pg_evidence:,}", '`python -c "import typer, sqlalchemy.orm"`'
    return [
        Metric(
            f"PostgreSQL: database command: evidence add ({n}-evidence database)",
            "`tracker evidence add ...`",
            described,
            "<= 1.25x",
        ),
        Metric(
            f"PostgreSQL: database command: rec list ({n}-evidence database)",
            "`tracker rec list`",
            described,
            "<= 1.25x",
        ),
        Metric(
            f"PostgreSQL: database command, evidence add: {n} vs empty database",
            f"`tracker evidence add ...` on the {n}-evidence database",
            "the same on the database with the catalog only",
            "<= 1.25x",
        ),
        Metric(
            f"PostgreSQL: database command, rec list: {n} vs empty database",
            f"`tracker rec list` on the {n}-evidence database",
            "the same on the database with the catalog only",
            "<= 1.25x",
        ),
    ]


def postgres_metrics(sizes: Sizes) -> list[Metric]:
    """Every PostgreSQL row, in the order of the table."""
    return [
        postgres_import_metric(sizes),
        postgres_report_metric(sizes),
        postgres_html_metric(sizes),
        postgres_timeline_metric(sizes),
        *postgres_command_metrics(sizes),
        *postgres_verify_metrics(sizes),
    ]


def postgres_quarters(sizes: Sizes) -> int:
    """The quarters of history of the PostgreSQL report database: as many as the big SQLite
    database has for that much evidence."""
    return max(1, round(sizes.quarters * sizes.pg_evidence / sizes.big)) if sizes.big else 1


def bench_postgres(
    sizes: Sizes, tracker: list[str], url: str | None, csv_file: Path, *, version: str, fresh: bool = False
) -> list[Metric]:
    """The PostgreSQL rows: its report and base databases are generated once and cached on the
    server (:meth:`Postgres.cached`), then each measurement is taken while the machine holds
    still (:func:`steady`). What a measurement writes goes into copies made for the run."""
    if url is None:
        skipped = postgres_metrics(sizes)
        for metric in skipped:
            metric.note = "skipped: no PostgreSQL server (pass --postgres URL)"
        return skipped
    pg = Postgres(url)
    try:
        quarters = postgres_quarters(sizes)
        made = [
            pg.cached(
                "report",
                database_key(sizes, sizes.pg_evidence, quarters, version),
                generator_arguments(sizes, sizes.pg_evidence, quarters),
                fresh=fresh,
            ),
            pg.cached(
                "base", database_key(sizes, 0, 1, version), generator_arguments(sizes, 0, 1), fresh=fresh, template=True
            ),
        ]
        report_name, base = (cached.result() for cached in made)
        for cached in made:
            if cached.seconds is None:
                say(f"PostgreSQL: reusing the cached {cached.label} database {cached.name} (--fresh to regenerate)")
        report_db = pg.url_of(report_name)

        targets = {"tracker": "import_tracker", "baseline": "import_baseline"}

        def imports() -> list[Metric]:
            checked: dict[str, bool] = {}

            def before(label: str, _i: int) -> None:
                pg.create(targets[label], template=base)

            def after(label: str, _i: int) -> None:
                name = pg.name(targets[label])
                if label not in checked:
                    result = subprocess.run(
                        [*tracker, "--db", pg.url_of(name), "verify"], capture_output=True, env=environment()
                    )
                    checked[label] = result.returncode == 0
                pg.drop(name)

            samples = interleave(
                {
                    "tracker": [*tracker, "--db", pg.url_of(pg.name("import_tracker")), "import", str(csv_file)],
                    "baseline": [
                        PYTHON,
                        str(BASELINES / "import_csv.py"),
                        pg.url_of(pg.name("import_baseline")),
                        str(csv_file),
                        ACTOR,
                    ],
                },
                sizes.runs,
                before=before,
                after=after,
            )
            metric = compare(postgres_import_metric(sizes), samples["tracker"], samples["baseline"], 2.0)
            metric.note = (
                "both databases pass `tracker verify`"
                if all(checked.values())
                else "a database did not verify: " + ", ".join(k for k, ok in checked.items() if not ok)
            )
            if not all(checked.values()):
                metric.met = False
            return [metric]

        work = csv_file.parent

        def report() -> list[Metric]:
            outputs = {
                "tracker": work / "pg-report.json",
                "baseline": work / "pg-report-baseline.json",
                "html": work / "pg-report.html",
            }
            samples = interleave(
                {
                    "tracker": report_commands(tracker, report_db, "2024Q4", "json", outputs["tracker"]),
                    "html": report_commands(tracker, report_db, "2024Q4", "html", outputs["html"]),
                    "baseline": [
                        PYTHON,
                        str(BASELINES / "report_json.py"),
                        report_db,
                        "2024Q4",
                        AS_OF,
                        str(outputs["baseline"]),
                    ],
                },
                sizes.runs,
            )
            metric = compare(postgres_report_metric(sizes), samples["tracker"], samples["baseline"], 2.0)
            same = outputs["tracker"].read_bytes() == outputs["baseline"].read_bytes()
            evidence = json.loads(outputs["tracker"].read_text())["summary"]["evidence_count"]
            metric.note = f"{evidence:,} pieces of evidence in the quarter; " + (
                "output identical to the baseline's" if same else "OUTPUT DIFFERS from the baseline's"
            )
            if not same:
                metric.met = False
            html = html_result(postgres_html_metric(sizes), samples["html"], samples["tracker"], outputs["html"])
            return [metric, html]

        def timeline() -> list[Metric]:
            outputs = {"timeline": work / "pg-timeline.json", "timeline-baseline": work / "pg-timeline-baseline.json"}
            samples = interleave(timeline_commands(tracker, report_db, quarters, outputs), sizes.runs)
            return [timeline_result(postgres_timeline_metric(sizes), samples, outputs)]

        metrics = steady(imports) + steady(report) + steady(timeline)
        say("PostgreSQL: database commands")
        metrics += postgres_commands(sizes, tracker, pg, report_name, base)
        say("PostgreSQL: verify")
        metrics += steady(lambda: bench_postgres_verify(sizes, tracker, report_db))
    finally:
        pg.close()
    return metrics


def postgres_commands(sizes: Sizes, tracker: list[str], pg: Postgres, report: str, base: str) -> list[Metric]:
    """The database commands on copies of the report and base databases (what they write
    leaves the cached ones as they were), made for the run and dropped at its end."""
    try:
        big = pg.create("commands_report", template=report, file_copy=True)
        empty = pg.create("commands_base", template=base)
    except Exception as error:  # e.g. another session is connected to the report database
        skipped = postgres_command_metrics(sizes)
        for metric in skipped:
            metric.note = f"skipped: could not copy the cached databases ({type(error).__name__}: {error})"
        return skipped
    # each database's own first recommendation (the base database's catalog covers fewer years)
    ref, empty_ref = str(pg.scalar(big, FIRST_REC)), str(pg.scalar(empty, FIRST_REC))

    def measure() -> list[Metric]:
        samples = interleave(
            {
                "add": evidence_add(tracker, pg.url_of(big), ref),
                "list": [*tracker, "--db", pg.url_of(big), "rec", "list"],
                "add-empty": evidence_add(tracker, pg.url_of(empty), empty_ref),
                "list-empty": [*tracker, "--db", pg.url_of(empty), "rec", "list"],
                "baseline": COMMAND_BASELINE,
            },
            sizes.quick_runs,
            warm_up=True,
        )
        add, listing, add_empty, list_empty = postgres_command_metrics(sizes)
        compare(add, samples["add"], samples["baseline"], 1.25)
        compare(listing, samples["list"], samples["baseline"], 1.25)
        compare(add_empty, samples["add"], samples["add-empty"], 1.25)
        compare(list_empty, samples["list"], samples["list-empty"], 1.25)
        add.note = "on a copy of the cached report database, made for the run"
        add_empty.note = "on copies of the cached report and base databases, made for the run"
        return [add, listing, add_empty, list_empty]

    return steady(measure)


# Output ---------------------------------------------------------------------------------------------


def _value(metric: Metric, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} MiB" if metric.unit == "MiB" else f"{value:.3f} s"


def table(metrics: list[Metric]) -> str:
    lines = ["| metric | tracker | baseline | ratio | target | met |", "|---|---|---|---|---|---|"]
    for m in metrics:
        met = "noisy" if m.noisy else "—" if m.met is None else ("yes" if m.met else "**no**")
        ratio = f"{m.ratio:.2f}x" if m.ratio is not None else "—"
        lines.append(
            f"| {m.name} | {_value(m, m.tracker_value)} | {_value(m, m.baseline_value)} | {ratio} | "
            f"{m.target} | {met} |"
        )
    return "\n".join(lines)


def details(metrics: list[Metric]) -> str:
    lines = [
        "| metric | tracker runs | baseline runs | runs | load (free cores) | notes |",
        "|---|---|---|---|---|---|",
    ]
    for m in metrics:
        held = (
            "—"
            if m.load_start is None
            else f"{m.load_start:.1f} ({m.free_cores_start:.1f}) -> {m.load_end:.1f} ({m.free_cores_end:.1f})"
            + (f"; other work {m.other_cores:.1f} cores" if m.other_cores is not None else "")
            + (f", {m.attempts} attempts" if m.attempts > 1 else "")
        )
        lines.append(f"| {m.name} | {m.tracker} | {m.baseline or '—'} | {m.runs or '—'} | {held} | {m.note or ''} |")
    return "\n".join(lines)


def machine() -> dict[str, object]:
    from importlib.metadata import version

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": version("sqlalchemy"),
        "typer": version("typer"),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "platform": platform.platform(),
    }


GROUPS = ("startup", "commands", "import", "xlsx", "report", "verify", "search", "reads", "postgres")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smaller databases, fewer runs")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes, one run each (for the test suite)")
    parser.add_argument("--runs", type=int, help="runs of each heavy command (default 5)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="where results and cached databases go")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server URL (database name ignored)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL benchmarks")
    parser.add_argument(
        "--scale",
        "--pg-evidence",
        dest="scale",
        type=int,
        metavar="N",
        help="evidence in the PostgreSQL report and verify database (default 100,000)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="generate the cached databases again (SQLite in OUT/db/, PostgreSQL's bench_cache_* on the server)",
    )
    parser.add_argument("--only", metavar="GROUPS", help=f"comma-separated: {','.join(GROUPS)}")
    args = parser.parse_args(argv)
    sizes = SIZES["smoke" if args.smoke else "quick" if args.quick else "default"]
    if args.runs:
        sizes = Sizes(**{**asdict(sizes), "runs": args.runs})
    if args.scale:
        sizes = Sizes(**{**asdict(sizes), "pg_evidence": args.scale})
    groups = set(args.only.split(",") if args.only else GROUPS)
    if groups - set(GROUPS):
        parser.error(f"unknown group: {', '.join(sorted(groups - set(GROUPS)))} (groups: {','.join(GROUPS)})")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    work.mkdir(exist_ok=True)
    tracker = tracker_command()
    compile_sources()
    url = postgres_url(args.postgres, args.no_postgres) if "postgres" in groups else None
    started = time.perf_counter()
    info = machine()

    version = generator_key()
    fresh = args.fresh
    made = {  # generated at once, in the background; cached
        "big": cached_sqlite(out, sizes, sizes.big, sizes.quarters, label="big", version=version, fresh=fresh)
        if groups & {"report", "verify", "search", "reads"}
        else None,
        "small": cached_sqlite(
            out, sizes, sizes.small, sizes.small_quarters, label="small", version=version, fresh=fresh
        )
        if groups & {"commands", "report"}
        else None,
        "base": cached_sqlite(out, sizes, 0, 1, label="base", version=version, fresh=fresh)
        if groups & {"import", "xlsx"}
        else None,
        "csv": import_csv(out, sizes, fresh=fresh) if groups & {"import", "postgres"} else None,
    }
    big_db, small_db, base_db, csv_file = (
        made[k].result() if made[k] else None for k in ("big", "small", "base", "csv")
    )

    metrics: list[Metric] = []

    def group(name: str, measure: Callable[[], list[Metric]]) -> None:
        """One group's metrics; a group that fails is said so, and the others still run."""
        say(name)
        try:
            metrics.extend(measure())
        except (Exception, SystemExit) as error:
            say(f"  {name} failed: {error}")
            failed_groups.append(name)

    failed_groups: list[str] = []
    if "startup" in groups:
        group("start-up", lambda: steady(lambda: bench_startup(sizes, tracker)))
    if "commands" in groups:
        group("database commands", lambda: steady(lambda: bench_commands(sizes, tracker, small_db, work)))
    if "import" in groups:
        group("bulk import", lambda: steady(lambda: bench_import(sizes, tracker, base_db, csv_file, work)))
    if "xlsx" in groups:  # bench/import_xlsx.py
        group(
            "bulk import, xlsx",
            lambda: steady(lambda: import_xlsx.bench(sys.modules[__name__], sizes, tracker, base_db, out, work)),
        )
    if "report" in groups:
        group("quarterly report", lambda: steady(lambda: bench_report(sizes, tracker, big_db, small_db, work)))
    if "verify" in groups:
        group("verify", lambda: steady(lambda: bench_verify(sizes, tracker, big_db)))
    if "search" in groups:
        group("search", lambda: steady(lambda: bench_search(sizes, tracker, big_db)))
    if "reads" in groups:
        group("reads that stream", lambda: steady(lambda: bench_reads(sizes, tracker, big_db, work)))
    if "postgres" in groups:
        # each of its measurements steady
        group("PostgreSQL", lambda: bench_postgres(sizes, tracker, url, csv_file, version=version, fresh=fresh))
    shutil.rmtree(work, ignore_errors=True)

    info["load_average_end"] = os.getloadavg()
    # A child's peak RSS counts this process's own at the fork: it is kept small (no tracker imports).
    info["runner_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    info["seconds"] = round(time.perf_counter() - started, 1)
    mode_name = "smoke" if args.smoke else "quick" if args.quick else "default"
    command = "python bench/run.py" + {"default": "", "quick": " --quick", "smoke": " --smoke"}[mode_name]
    command += f" --only {args.only}" if args.only else ""
    command += f" --scale {args.scale}" if args.scale else ""
    document = {
        "command": command,
        "mode": mode_name,
        "sizes": asdict(sizes),
        "machine": info,
        "metrics": [asdict(m) for m in metrics],
    }
    (out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    markdown = (
        "\n\n".join(
            [
                f"Produced by `{command}` on {info['date']} ({info['cpus']} CPUs, Python {info['python']}, "
                f"SQLite {info['sqlite']}; load average {info['load_average'][0]:.1f} at the start, "
                f"{info['load_average_end'][0]:.1f} at the end; {info['seconds']:.0f} s). Times are medians of "
                f"interleaved runs ({sizes.runs} for the heavy commands, {sizes.quick_runs} for start-up and "
                "database commands), wall clock.",
                table(metrics),
                details(metrics),
            ]
        )
        + "\n"
    )
    (out / "results.md").write_text(markdown)
    print(table(metrics))
    failed = [m.name for m in metrics if m.met is False]
    if failed:
        say(f"targets not met: {', '.join(failed)}")
    noisy = [m.name for m in metrics if m.noisy]
    if noisy:
        say(f"no verdict, the machine did not hold still: {', '.join(noisy)}")
    if failed_groups:
        say(f"groups that failed (their rows are missing): {', '.join(failed_groups)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
