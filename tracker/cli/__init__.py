"""The ``tracker`` command line: parse, open one session, call the library, render.

No SQL and no business rules live here; see ``tracker/``. Heavy imports (SQLAlchemy,
Alembic, Jinja2, matplotlib) happen inside the commands that need them so that
``tracker --help`` stays quick. Annotations here are evaluated at import (no
``from __future__ import annotations``): Typer would otherwise compile every one of them
from its string each time the command tree is built.
"""

import contextlib
import functools
import gc
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from tracker import __version__, render  # render's registry of formats: cheap to import
from tracker.cli.lazy import HelpWhenAlone, PanelOrder
from tracker.errors import InputError, TrackerError

if TYPE_CHECKING:
    from tracker.store.database import Database

SETUP, RECORD, REPORT, CHECK = "Setup", "Record", "Report", "Check"


def group(help: str) -> typer.Typer:
    """A group of sub-commands (``tracker rec ...``); run alone, it prints its help."""
    return typer.Typer(help=help, cls=HelpWhenAlone, no_args_is_help=True, rich_markup_mode=None)


db_app = group("Schema migrations (Alembic).")
catalog_app = group("Built-in and user catalogs of sources and recommendations.")
source_app = group("Sources (report editions): which are loaded, their series, the edition in force.")
rec_app = group("Recommendations: list, show, add, assign agencies, link editions.")
status_app = group("Status assessments of recommendations.")
evidence_app = group("Evidence: add, list, show, retract, get files back.")
indicator_app = group("Indicators and their values per quarter.")
agency_app = group("Responsible agencies.")
report_app = group("Quarterly status reports, timelines and the editions report.")
assessor_app = group("Assessors: the parties whose assessments are recorded and compared.")
team_app = group("A team on PostgreSQL: group roles that each read only what they may, and their members.")


class Commands(PanelOrder):
    """The top-level commands: the Setup, Record, Report and Check panels, the groups built when used."""

    panels = (SETUP, RECORD, REPORT, CHECK)
    groups = {
        "db": (db_app, SETUP),
        "catalog": (catalog_app, SETUP),
        "source": (source_app, SETUP),
        "rec": (rec_app, RECORD),
        "status": (status_app, RECORD),
        "evidence": (evidence_app, RECORD),
        "indicator": (indicator_app, RECORD),
        "agency": (agency_app, RECORD),
        "assessor": (assessor_app, RECORD),
        "team": (team_app, SETUP),
        "report": (report_app, REPORT),
    }


app = typer.Typer(
    name="tracker",
    cls=Commands,
    help="Track the recommendations of a report (such as the US Trafficking in Persons "
    "Report): log evidence and assessments, follow indicators, publish quarterly reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class State:
    """Global options, resolved once in the callback."""

    db: str | None = None
    _database: Any = field(default=None, repr=False)

    def database(self) -> "Database":
        if self._database is None:
            from tracker.store.database import Database

            self._database = Database(self.db, notice=say)  # a writer waiting for a lock says so
        return self._database


state = State()

By = Annotated[
    Optional[str],
    typer.Option("--by", metavar="NAME", help="Who is recording (default: $TRACKER_USER, else your login name)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
For = Annotated[
    Optional[str],
    typer.Option("--for", metavar="AGENCY", help="The agency this is entered on behalf of (its code)."),
]
AssessorOption = Annotated[
    Optional[str],
    typer.Option("--assessor", metavar="CODE", help="Whose assessment (default: the default assessor)."),
]
Reason = Annotated[
    Optional[str],
    typer.Option("--reason", metavar="TEXT", help="Why it is corrected (required): kept with the correction."),
]
NoBom = Annotated[
    bool,
    typer.Option(
        "--no-bom", help="CSV without the UTF-8 byte-order mark it starts with by default (for Excel); CSV only."
    ),
]
ListFormat = Annotated[
    Optional[str],
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="table (the default), csv, json (as --json) or xlsx (a workbook: with -o FILE, or stdout to a file).",
    ),
]
ListOutput = Annotated[
    Optional[Path],
    typer.Option(
        "-o", "--output", metavar="FILE", help="Write to this file (replaced if it exists) instead of stdout."
    ),
]


def given(value: str | None, option: str) -> str | None:
    """A filter option's value: None when not given; an empty one is refused, not read as no filter."""
    if value is not None and not value.strip():
        raise InputError(f"{option} is empty: give a value, or leave the option out")
    return value


def csv_bom(form: str, no_bom: bool) -> bool:
    """Whether CSV output starts with a byte-order mark: yes unless --no-bom, which only CSV takes
    (no other format ever has one: --no-bom with it is a mistake, refused)."""
    if no_bom and form != "csv":
        from tracker.errors import InputError

        raise InputError(f"--no-bom is for --format csv only: {form} has no byte-order mark")
    return not no_bom


def as_written(text: str | bytes, form: str, bom: bool) -> str | bytes:
    """A text output as it is written: CSV as its UTF-8 bytes, after a byte-order mark unless
    --no-bom (the one place CSV output gets it); any other as it is."""
    if form != "csv" or isinstance(text, bytes):
        return text
    from tracker.render import csvfile

    return csvfile.encoded(text, bom=bom)


def check_not_terminal(form: str, binary: bool, output: Path | None) -> None:
    """A binary format goes to -o FILE or to stdout redirected, never to a terminal (exit 2)."""
    if binary and output is None and sys.stdout.isatty():
        from tracker.errors import InputError

        raise InputError(f"--format {form} writes a binary file, not text for a terminal: give -o FILE")


def said(changes: Any) -> None:
    """What a correction changed, one line each: old -> new."""
    for change in changes:
        say(change.describe())


def author(by: str | None) -> str:
    """Who is recording: on a PostgreSQL team database the login (``session_user``), which
    ``--by`` cannot change; elsewhere ``--by``, else $TRACKER_USER, else the login name."""
    from tracker import team, validation

    login = team.login_of(state.database())
    if login is not None:
        if by is not None:
            raise InputError(
                f"--by is refused on a team database: you record as your login {login!r}; "
                "say on whose behalf with --for AGENCY"
            )
        return validation.actor(login)
    if by is None:
        by = os.environ.get("TRACKER_USER")
    if by is None:
        import getpass

        try:
            by = getpass.getuser()
        except Exception:  # no login name (e.g. a container without passwd entry)
            by = "unknown"
    return validation.actor(by)


def out(text: str) -> None:
    typer.echo(text)


def out_pieces(pieces: Iterable[str | bytes], *, end: str = "\n") -> None:
    """Text (or bytes, written as they are) to stdout as it is made (a long list's first lines
    show at once), in writes of about 64 KiB; ``end`` after the last piece."""
    held: list[bytes] = []
    size = 0
    for piece in pieces:
        data = piece if isinstance(piece, bytes) else piece.encode("utf-8")
        held.append(data)
        size += len(data)
        if size >= 65_536:
            typer.echo(b"".join(held), nl=False)
            held, size = [], 0
    typer.echo(b"".join(held) + end.encode("utf-8"), nl=False)


def say(text: str) -> None:
    """Messages for people go to stderr; stdout carries data."""
    typer.echo(text, err=True)


def counted(number: int, noun: str) -> str:
    """'1 event', '2 events'."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def dump_json(document: Any) -> None:
    from tracker.render.terminal import to_json

    out(to_json(document))


def emit_list(
    rows: Iterable[dict[str, Any]],
    form: str,
    output: Path | None,
    *,
    sheet: Any,
    table: Callable[[Iterable[dict[str, Any]]], Iterable[str]],
    bom: bool,
    private: Callable[[dict[str, Any]], bool] | None = None,
) -> None:
    """A list (``evidence list``, ``status history``) in its form (``tracker.render.sheets``) to
    stdout or the -o file, written as it is read (call it while the session is open): the
    lines of ``table(rows)``, JSON or CSV; XLSX (a zip, its columns fitted to every row)
    is made whole. A file is readable by its owner only when ``private`` holds of a row
    it lists (it stays so until every row is written)."""
    from tracker.render import csvfile, sheets
    from tracker.render.terminal import json_pieces

    listed: list[bool] = []

    def watched() -> Iterator[dict[str, Any]]:
        for row in rows:
            if private is not None and not listed and private(row):
                listed.append(True)
            yield row

    pieces: Iterable[str | bytes]
    if form == "table":
        pieces = (line + "\n" for line in table(watched()))
    elif form == "json":
        pieces = itertools.chain(json_pieces(watched()), ["\n"])
    elif form == "csv":
        pieces = itertools.chain([csvfile.BOM] if bom else [], sheets.csv_pieces(sheet, watched()))
    else:
        pieces = [sheets.render(sheet, list(watched()), form)]
    if output is None:
        return out_pieces(pieces, end="")
    from tracker import files

    encoded = (piece if isinstance(piece, bytes) else piece.encode("utf-8") for piece in pieces)
    files.write_exactly(output, encoded, force=True, private=lambda: bool(listed))
    say(f"Wrote {output}")


def _print_version(value: bool) -> None:
    """--version: print it and stop before anything else (a command is not needed)."""
    if value:
        out(f"tracker {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    db: Annotated[
        Optional[str],
        typer.Option(
            "--db",
            metavar="URL|PATH",
            help="Database: a SQLite file path or a postgresql:// URL "
            "(default: $TRACKER_DATABASE_URL, else ./tracker.db).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """Track the implementation of a report's recommendations."""
    state.db = db
    state._database = None


# Setup ------------------------------------------------------------------------------------


@app.command(rich_help_panel=SETUP)
def init(
    catalog: Annotated[
        Optional[list[str]],
        typer.Option(
            "--catalog",
            metavar="NAME_OR_FILE",
            help="Catalog to load: a built-in name or a YAML file (repeatable; default tip-2019-khm).",
        ),
    ] = None,
    no_catalog: Annotated[bool, typer.Option("--no-catalog", help="Create the schema only.")] = False,
    assessor: Annotated[
        Optional[str],
        typer.Option(
            "--assessor",
            metavar="CODE",
            help="The default assessor, whose assessments are the status (added if new, named CODE "
            "until `tracker assessor amend`); only while there is none.",
        ),
    ] = None,
    by: By = None,
) -> None:
    """Create or upgrade the database and load the catalogs. Running it twice changes nothing."""
    from tracker import operations

    report = operations.init(
        state.database(), [] if no_catalog else (catalog or None), actor=author(by), assessor=assessor
    )
    for line in report:
        say(line)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(metavar="REVISION", help="Target revision.")] = "head") -> None:
    """Upgrade the schema (on SQLite, a backup copy is written next to the file first)."""
    database = state.database()
    before, after, backup = database.upgrade(revision)
    if backup:
        say(f"Backed up {database.display} to {backup}")
    say(
        f"Schema of {database.display}: {before or 'empty'} -> {after}"
        if before != after
        else f"Schema of {database.display} already at {after}"
    )
    if before != after:
        from tracker import team

        if team.after_upgrade(database) is not None:
            say(f"Team database: privileges, row-level security and authorship checks set again ({after})")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(metavar="REVISION", help="Target revision, e.g. 0001 or base.")],
) -> None:
    """Downgrade the schema to REVISION."""
    database = state.database()
    before, after = database.downgrade(revision)
    say(f"Schema of {database.display}: {before} -> {after or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database (and whether it is the one needed)."""
    database = state.database()
    revision = database.current_revision()
    out(revision or "none")
    problem = database.schema_problem(revision)
    if problem is not None:
        say(problem)


@catalog_app.command("list")
def catalog_list(json_output: Json = False) -> None:
    """List the built-in catalogs."""
    from tracker import catalogs

    rows = catalogs.describe_builtins()
    if json_output:
        return dump_json(rows)
    from tracker.render.terminal import table

    out(
        table(
            ["name", "title", "rating", "recommendations", "complete"],
            [[r["name"], r["title"], r["rating"], r["recommendations"], r["complete"]] for r in rows],
        )
    )


@catalog_app.command("load")
def catalog_load(
    name_or_file: Annotated[
        str, typer.Argument(metavar="NAME_OR_FILE", help="A built-in catalog name or a YAML file.")
    ],
    apply_corrections: Annotated[
        bool,
        typer.Option(
            "--apply-corrections",
            help="Record what the file gives otherwise than stored as corrections (with --reason), then load.",
        ),
    ] = False,
    reason: Annotated[
        Optional[str],
        typer.Option(
            "--reason",
            metavar="TEXT",
            help="Why the file's values replace the stored ones (with --apply-corrections): kept with the corrections.",
        ),
    ] = None,
    by: By = None,
) -> None:
    """Load a catalog; what is already stored is skipped, what differs is refused (or, with
    --apply-corrections, recorded as corrections)."""
    from tracker import catalogs, operations

    catalog = catalogs.read(name_or_file)
    actor = author(by)
    loaded = state.database().write(
        lambda s: operations.load_catalog(s, catalog, actor, apply_corrections=apply_corrections, reason=reason)
    )
    for line in loaded.describe():
        say(line)


@catalog_app.command("diff")
def catalog_diff(
    old: Annotated[str, typer.Argument(metavar="OLD", help="The earlier edition (a source slug).")],
    new: Annotated[str, typer.Argument(metavar="NEW", help="The later edition (a source slug).")],
    json_output: Json = False,
) -> None:
    """What a new edition repeats, rewords, narrows, broadens, merges, splits, drops and adds."""
    from tracker import lineage

    with state.database().reading() as session:
        diff = lineage.catalog_diff(session, old, new)
    if json_output:
        return dump_json(diff)
    from tracker.render.terminal import catalog_diff_text

    out(catalog_diff_text(diff))


@source_app.command("list")
def source_list(json_output: Json = False) -> None:
    """The sources loaded, newest first: their series and which edition is in force today."""
    from tracker import lineage

    with state.database().reading() as session:
        rows = lineage.sources(session)
    if json_output:
        return dump_json(rows)
    from tracker.render.terminal import sources_table

    out(sources_table(rows))


# Recommendations ----------------------------------------------------------------------------


@rec_app.command("list")
def rec_list(
    source: Annotated[
        Optional[list[str]], typer.Option("--source", metavar="SLUG", help="Only this source (repeatable).")
    ] = None,
    status: Annotated[
        Optional[str],
        typer.Option(
            "--status", metavar="STATUS", help="not_started, in_progress, partially_implemented or implemented."
        ),
    ] = None,
    pillar: Annotated[
        Optional[str],
        typer.Option("--pillar", metavar="PILLAR", help="prosecution, protection, prevention or partnership."),
    ] = None,
    agency: Annotated[
        Optional[str], typer.Option("--agency", metavar="AGENCY", help="Only recommendations this agency owns.")
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only recommendations past their due date.")] = False,
    json_output: Json = False,
) -> None:
    """List recommendations with their current status."""
    from tracker import queries, validation
    from tracker.vocab import Pillar, Status

    status_value = validation.choice(status, Status, "status") if given(status, "--status") else None
    pillar_value = validation.choice(pillar, Pillar, "pillar") if given(pillar, "--pillar") else None
    given(agency, "--agency")
    for slug in source or ():
        given(slug, "--source")
    with state.database().reading() as session:
        views = queries.recommendations(
            session, sources=source or (), status=status_value, pillar=pillar_value, agency=agency, overdue=overdue
        )
    if json_output:
        return dump_json([v.as_dict() for v in views])
    from tracker.render.terminal import recommendation_table

    out(recommendation_table(views, filtered=bool(source or status or pillar or agency or overdue)))


@rec_app.command("show")
def rec_show(
    ref: Annotated[
        str, typer.Argument(metavar="REF", help="CODE, or SOURCE/CODE when the code is in several sources.")
    ],
    json_output: Json = False,
) -> None:
    """Show one recommendation: text, status, agencies, indicators."""
    from tracker import queries

    with state.database().reading() as session:
        view = queries.recommendation(session, ref)
    if json_output:
        return dump_json(view.as_dict())
    from tracker.render.terminal import recommendation_detail

    out(recommendation_detail(view))


def _position(value: str) -> int:
    """--position N: a place in the list, in digits (not 1_0: Click's int would read it as 10)."""
    from tracker import validation

    return validation.position(value)


def _evidence_id(value: str) -> int:
    """--evidence ID, in digits."""
    from tracker import validation

    return validation.identifier(value, "evidence id")


@rec_app.command("add")
def rec_add(
    source: Annotated[str, typer.Option("--source", metavar="SLUG", help="Source slug, e.g. tip-2019-khm.")],
    code: Annotated[str, typer.Option("--code", metavar="CODE", help="A new code, unique within the source.")],
    title: Annotated[str, typer.Option("--title", metavar="TEXT", help="A short title.")],
    text: Annotated[str, typer.Option("--text", metavar="TEXT", help="The recommendation as published.")],
    pillar: Annotated[
        str, typer.Option("--pillar", metavar="PILLAR", help="prosecution, protection, prevention or partnership.")
    ],
    due: Annotated[Optional[str], typer.Option("--due", metavar="DATE", help="Due date, YYYY-MM-DD.")] = None,
    position: Annotated[
        Optional[int],
        typer.Option("--position", metavar="N", parser=_position, help="Its place in the report's list."),
    ] = None,
    paraphrase: Annotated[bool, typer.Option("--paraphrase", help="The text is not the report's own words.")] = False,
    by: By = None,
) -> None:
    """Add a recommendation to a source."""
    from tracker import services
    from tracker.periods import parse_date

    due_on = parse_date(due, field="--due", allow_future=True) if due else None
    actor = author(by)
    ref = state.database().write(
        lambda s: (
            services.add_recommendation(
                s,
                source=source,
                code=code,
                title=title,
                text=text,
                pillar=pillar,
                due_on=due_on,
                position=position,
                text_status="paraphrase" if paraphrase else "verbatim",
                actor=actor,
            ).code
        )
    )
    say(f"Added recommendation {source}/{ref}")


@rec_app.command("assign")
def rec_assign(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The recommendation.")],
    agency: Annotated[str, typer.Argument(metavar="AGENCY", help="The agency code.")],
    role: Annotated[str, typer.Option("--role", metavar="ROLE", help="lead or support.")] = "lead",
    co_lead: Annotated[
        bool, typer.Option("--co-lead", help="A second lead is meant: both agencies lead (else refused).")
    ] = False,
    reason: Annotated[
        Optional[str],
        typer.Option(
            "--reason",
            metavar="TEXT",
            help="Why, when the agency is already assigned (a role changed) or was unassigned: a correction.",
        ),
    ] = None,
    by: By = None,
) -> None:
    """Make an agency responsible for a recommendation, or change its role (with --reason)."""
    from tracker import services

    actor = author(by)
    changes = state.database().write(
        lambda s: services.assign_agency(s, ref, agency, role, reason=reason, co_lead=co_lead, actor=actor)
    )
    if len(changes) == 1 and changes[0].old is None:  # a new assignment, not a correction
        return say(f"Assigned {agency} to {ref} as {role}")
    said(changes)


@rec_app.command("unassign")
def rec_unassign(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The recommendation.")],
    agency: Annotated[str, typer.Argument(metavar="AGENCY", help="The agency code.")],
    reason: Reason = None,
    by: By = None,
) -> None:
    """Remove an agency from a recommendation (a correction: the history keeps the assignment)."""
    from tracker import services

    actor = author(by)
    said(state.database().write(lambda s: services.unassign_agency(s, ref, agency, reason, actor=actor)))


@rec_app.command("link")
def rec_link(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The recommendation of the later edition.")],
    continues: Annotated[
        str,
        typer.Option("--continues", metavar="OLD_REF", help="The earlier edition's recommendation it continues."),
    ],
    relation: Annotated[
        Optional[str],
        typer.Option(
            "--relation",
            metavar="RELATION",
            help="repeated, reworded, narrowed, broadened, merged or split (required for a new link).",
        ),
    ] = None,
    note: Annotated[
        Optional[str], typer.Option("--note", metavar="TEXT", help="How it differs, e.g. what a rewording changed.")
    ] = None,
    reason: Annotated[
        Optional[str],
        typer.Option(
            "--reason",
            metavar="TEXT",
            help="Why, when the link is already recorded (its relation or note changed) or was unlinked: a correction.",
        ),
    ] = None,
    by: By = None,
) -> None:
    """Record that a recommendation continues one of an earlier edition (the thread across editions)."""
    from tracker import services

    actor = author(by)
    changes = state.database().write(
        lambda s: services.link_recommendation(s, ref, continues, relation, note=note, reason=reason, actor=actor)
    )
    if len(changes) == 1 and changes[0].old is None:  # a new link, not a correction
        return say(f"Linked: {changes[0].record} ({changes[0].new})")
    said(changes)


@rec_app.command("unlink")
def rec_unlink(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The recommendation of the later edition.")],
    continues: Annotated[
        str, typer.Option("--continues", metavar="OLD_REF", help="The earlier recommendation it was linked to.")
    ],
    reason: Reason = None,
    by: By = None,
) -> None:
    """Remove a link between editions (a correction: the history keeps it)."""
    from tracker import services

    actor = author(by)
    said(state.database().write(lambda s: services.unlink_recommendation(s, ref, continues, reason, actor=actor)))


@rec_app.command("thread")
def rec_thread(
    ref: Annotated[str, typer.Argument(metavar="REF", help="Any recommendation of the thread.")],
    json_output: Json = False,
) -> None:
    """Every edition of a recommendation, oldest first: relation, text changes, status, evidence."""
    from tracker import lineage

    with state.database().reading() as session:
        thread = lineage.thread(session, ref)
    if json_output:
        return dump_json(thread)
    from tracker.render.terminal import thread_text

    out(thread_text(thread))


@rec_app.command("amend")
def rec_amend(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The recommendation.")],
    title: Annotated[Optional[str], typer.Option("--title", metavar="TEXT", help="A new title.")] = None,
    text: Annotated[Optional[str], typer.Option("--text", metavar="TEXT", help="The text as published.")] = None,
    pillar: Annotated[
        Optional[str],
        typer.Option("--pillar", metavar="PILLAR", help="prosecution, protection, prevention or partnership."),
    ] = None,
    due: Annotated[Optional[str], typer.Option("--due", metavar="DATE", help="A due date, YYYY-MM-DD.")] = None,
    no_due: Annotated[bool, typer.Option("--no-due", help="Remove the due date.")] = False,
    position: Annotated[
        Optional[int],
        typer.Option("--position", metavar="N", parser=_position, help="Its place in the report's list."),
    ] = None,
    verbatim: Annotated[bool, typer.Option("--verbatim", help="The text is the report's own words.")] = False,
    paraphrase: Annotated[bool, typer.Option("--paraphrase", help="The text is not the report's own words.")] = False,
    reason: Reason = None,
    by: By = None,
) -> None:
    """Correct a recommendation: title, text, pillar, due date, position; the history keeps the old values."""
    from tracker import services
    from tracker.errors import InputError

    if verbatim and paraphrase:
        raise InputError("give --verbatim or --paraphrase, not both")
    actor = author(by)
    changes = state.database().write(
        lambda s: services.amend_recommendation(
            s,
            ref,
            title=title,
            text=text,
            pillar=pillar,
            due_on=due,
            no_due=no_due,
            position=position,
            text_status="verbatim" if verbatim else "paraphrase" if paraphrase else None,
            reason=reason,
            actor=actor,
        )
    )
    said(changes)


# Status -----------------------------------------------------------------------------------


@status_app.command("set")
def status_set(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The recommendation.")],
    status: Annotated[
        str, typer.Argument(metavar="STATUS", help="not_started, in_progress, partially_implemented or implemented.")
    ],
    on: Annotated[str, typer.Option("--on", metavar="DATE", help="The date the status took effect, YYYY-MM-DD.")],
    note: Annotated[str, typer.Option("--note", metavar="TEXT", help="The rationale for the assessment.")],
    evidence: Annotated[
        Optional[list[int]],
        typer.Option("--evidence", metavar="ID", parser=_evidence_id, help="Evidence id it rests on (repeatable)."),
    ] = None,
    assessor: AssessorOption = None,
    for_agency: For = None,
    by: By = None,
) -> None:
    """Append a status assessment; the history keeps every earlier one."""
    from tracker import services

    actor = author(by)
    update_id = state.database().write(
        lambda s: (
            services.set_status(
                s,
                ref,
                status,
                effective_on=on,
                note=note,
                evidence_ids=evidence or (),
                assessor=given(assessor, "--assessor"),
                on_behalf_of=given(for_agency, "--for"),
                actor=actor,
            ).id
        )
    )
    out(str(update_id))


@status_app.command("withdraw")
def status_withdraw(
    update_id: Annotated[str, typer.Argument(metavar="ID", help="The assessment's id (printed by `status set`).")],
    reason: Reason = None,
    by: By = None,
) -> None:
    """Withdraw an assessment: it no longer counts from now on; reports as of earlier keep it."""
    from tracker import services

    actor = author(by)
    said(state.database().write(lambda s: services.withdraw_status(s, update_id, reason, actor=actor)))


@status_app.command("history")
def status_history(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The recommendation.")],
    assessor: AssessorOption = None,
    fmt: ListFormat = None,
    output: ListOutput = None,
    no_bom: NoBom = False,
    json_output: Json = False,
) -> None:
    """Every assessment of a recommendation by one assessor (the default's unless --assessor), by effective date."""
    from tracker import queries
    from tracker.render import sheets, terminal

    form = sheets.output_form(fmt, json_output)
    bom = csv_bom(form, no_bom)
    check_not_terminal(form, form in sheets.BINARY, output)
    check_output(output)

    def table(rows: Iterable[dict[str, Any]]) -> list[str]:
        found = list(rows)  # (its withdrawals are listed after the table)
        return [terminal.status_history(found) if found else f"No status recorded for {ref}: not_started"]

    with state.database().reading() as session:
        rows = queries.status_history_rows(session, ref, given(assessor, "--assessor"))
        emit_list(rows, form, output, sheet=sheets.STATUS_HISTORY, table=table, bom=bom)


# Evidence ---------------------------------------------------------------------------------


@evidence_app.command("add")
def evidence_add(
    rec: Annotated[list[str], typer.Option("--rec", metavar="REF", help="Recommendation it bears on (repeatable).")],
    title: Annotated[str, typer.Option("--title", metavar="TEXT", help="What it is, in a line.")],
    date: Annotated[str, typer.Option("--date", metavar="DATE", help="When it was observed or happened, YYYY-MM-DD.")],
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            metavar="KIND",
            help="law, regulation, policy, court_case, statistic, inspection, training, "
            "government_statement, ngo_report, media_report, field_observation or other.",
        ),
    ],
    stance: Annotated[
        str, typer.Option("--stance", metavar="STANCE", help="progress, setback or context.")
    ] = "progress",
    url: Annotated[Optional[str], typer.Option("--url", metavar="URL", help="Where it can be found.")] = None,
    summary: Annotated[Optional[str], typer.Option("--summary", metavar="TEXT", help="A summary.")] = None,
    source_name: Annotated[
        Optional[str], typer.Option("--source-name", metavar="NAME", help="Who published it.")
    ] = None,
    reliability: Annotated[
        str, typer.Option("--reliability", metavar="RELIABILITY", help="confirmed, credible or unverified.")
    ] = "credible",
    sensitivity: Annotated[
        str,
        typer.Option("--sensitivity", metavar="SENSITIVITY", help="public, internal or confidential (victims' data)."),
    ] = "internal",
    attach: Annotated[
        Optional[list[Path]],
        typer.Option("--attach", metavar="FILE", help="A file to attach (repeatable; 25 MiB each at most)."),
    ] = None,
    for_agency: For = None,
    by: By = None,
    json_output: Json = False,
) -> None:
    """Log evidence; prints the new evidence id."""
    from tracker import queries, services

    evidence = services.check_evidence(
        recs=rec,
        title=title,
        observed_on=date,
        kind=kind,
        stance=stance,
        url=url,
        summary=summary,
        source_name=source_name,
        reliability=reliability,
        sensitivity=sensitivity,
    )
    files = [services.read_attachment(path) for path in attach or ()]
    actor = author(by)
    record = state.database().write(
        lambda s: queries.evidence_record(
            s,
            services.add_evidence(
                s, evidence, attachments=files, on_behalf_of=given(for_agency, "--for"), actor=actor
            ).id,
        )
    )
    dump_json(record) if json_output else out(str(record["id"]))


@evidence_app.command("retract")
def evidence_retract(
    evidence_id: Annotated[str, typer.Argument(metavar="ID", help="The evidence id.")],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why it is withdrawn (required).")],
    by: By = None,
) -> None:
    """Withdraw evidence: it stays in the history; lists and reports leave it out from now on."""
    from tracker import queries, services

    actor = author(by)
    citing = state.database().write(
        lambda s: queries.citations_of(s, services.retract_evidence(s, evidence_id, reason, actor=actor).evidence_id)
    )
    say(f"Retracted evidence {evidence_id}")
    if citing:
        say(
            f"Warning: it is cited by {', '.join(citing)}: review them (`tracker status withdraw`, "
            "`tracker indicator withdraw`)"
        )


@evidence_app.command("amend")
def evidence_amend(
    evidence_id: Annotated[str, typer.Argument(metavar="ID", help="The evidence id.")],
    title: Annotated[Optional[str], typer.Option("--title", metavar="TEXT", help="A new title.")] = None,
    summary: Annotated[
        Optional[str], typer.Option("--summary", metavar="TEXT", help="A new summary ('' removes it).")
    ] = None,
    kind: Annotated[Optional[str], typer.Option("--kind", metavar="KIND", help="A new kind.")] = None,
    date: Annotated[Optional[str], typer.Option("--date", metavar="DATE", help="When observed, YYYY-MM-DD.")] = None,
    source_name: Annotated[
        Optional[str], typer.Option("--source-name", metavar="NAME", help="Who published it ('' removes it).")
    ] = None,
    url: Annotated[Optional[str], typer.Option("--url", metavar="URL", help="Where it is ('' removes it).")] = None,
    reliability: Annotated[
        Optional[str], typer.Option("--reliability", metavar="RELIABILITY", help="confirmed, credible or unverified.")
    ] = None,
    sensitivity: Annotated[
        Optional[str],
        typer.Option(
            "--sensitivity",
            metavar="SENSITIVITY",
            help="public, internal or confidential; raised, it is withheld from every later report below it.",
        ),
    ] = None,
    rec: Annotated[
        Optional[list[str]],
        typer.Option("--rec", metavar="REF", help="Link it to REF, or change that link's stance (with --stance)."),
    ] = None,
    stance: Annotated[
        Optional[list[str]],
        typer.Option("--stance", metavar="STANCE", help="progress, setback or context: one per --rec, in order."),
    ] = None,
    unlink: Annotated[
        Optional[list[str]], typer.Option("--unlink", metavar="REF", help="It no longer bears on REF (repeatable).")
    ] = None,
    reason: Reason = None,
    by: By = None,
) -> None:
    """Correct evidence: any attribute, its links and their stance; the history keeps the old values."""
    from tracker import services
    from tracker.errors import InputError

    recs, stances = rec or [], stance or []
    if len(recs) != len(stances):
        raise InputError(f"give one --stance for each --rec ({len(recs)} --rec, {len(stances)} --stance)")
    fields = {
        "title": title,
        "summary": summary,
        "kind": kind,
        "observed_on": date,
        "source_name": source_name,
        "url": url,
        "reliability": reliability,
        "sensitivity": sensitivity,
    }
    actor = author(by)
    changes = state.database().write(
        lambda s: services.amend_evidence(
            s, evidence_id, fields, links=list(zip(recs, stances)), unlinks=unlink or (), reason=reason, actor=actor
        )
    )
    said(changes)


@evidence_app.command("show")
def evidence_show(
    evidence_id: Annotated[str, typer.Argument(metavar="ID", help="The evidence id.")], json_output: Json = False
) -> None:
    """Show one piece of evidence with its links and files."""
    from tracker import queries, validation

    number = validation.identifier(evidence_id, "evidence id")
    with state.database().reading() as session:
        record = queries.evidence_record(session, number)
    if json_output:
        return dump_json(record)
    from tracker.render.terminal import evidence_detail

    out(evidence_detail(record))


@evidence_app.command("list")
def evidence_list(
    rec: Annotated[
        Optional[str], typer.Option("--rec", metavar="REF", help="Only evidence on this recommendation.")
    ] = None,
    quarter: Annotated[
        Optional[str],
        typer.Option("--quarter", metavar="QUARTER", help="Only evidence observed in this quarter, e.g. 2019Q3."),
    ] = None,
    kind: Annotated[Optional[str], typer.Option("--kind", metavar="KIND", help="Only this kind of evidence.")] = None,
    include_retracted: Annotated[
        bool, typer.Option("--include-retracted", help="Show retracted evidence too, marked.")
    ] = False,
    fmt: ListFormat = None,
    output: ListOutput = None,
    no_bom: NoBom = False,
    json_output: Json = False,
) -> None:
    """List evidence by date observed.

    A file written with -o that lists confidential evidence is readable by you only.
    """
    from tracker import queries, validation
    from tracker.periods import Quarter
    from tracker.render import sheets, terminal
    from tracker.vocab import EvidenceKind

    form = sheets.output_form(fmt, json_output)
    bom = csv_bom(form, no_bom)
    period = Quarter.parse(quarter) if quarter is not None and given(quarter, "--quarter") else None
    kind_value = validation.choice(kind, EvidenceKind, "kind") if given(kind, "--kind") else None
    given(rec, "--rec")
    check_not_terminal(form, form in sheets.BINARY, output)
    check_output(output)
    with state.database().reading() as session:  # written as read: the first lines at once, constant memory
        rows = queries.evidence_rows(
            session, rec=rec, quarter=period, kind=kind_value, include_retracted=include_retracted
        )
        emit_list(
            rows,
            form,
            output,
            sheet=sheets.EVIDENCE,
            table=terminal.evidence_lines,
            bom=bom,
            private=lambda row: row["sensitivity"] == "confidential",
        )


@evidence_app.command("file")
def evidence_file(
    sha256: Annotated[str, typer.Argument(metavar="SHA256", help="The file's sha256 (see `tracker evidence show`).")],
    output: Annotated[Path, typer.Option("-o", "--output", metavar="PATH", help="Where to write the file.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a stored attachment back to a file, byte for byte."""
    from tracker import files, queries

    files.check_destination(output, force=force)
    with state.database().reading() as session:
        content = queries.attachment_content(session, sha256)
    files.write_exactly(output, content, force=force)
    say(f"Wrote {len(content)} bytes to {output}")


# Indicators and agencies --------------------------------------------------------------------


@indicator_app.command("add")
def indicator_add(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The recommendation it measures.")],
    code: Annotated[str, typer.Option("--code", metavar="CODE", help="A new, unique code.")],
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="What it counts.")],
    unit: Annotated[str, typer.Option("--unit", metavar="UNIT", help="The unit, e.g. cases.")],
    direction: Annotated[
        str, typer.Option("--direction", metavar="up|down", help="up or down: which way is progress.")
    ] = "up",
    target: Annotated[Optional[str], typer.Option("--target", metavar="VALUE", help="The value to reach.")] = None,
    by: By = None,
) -> None:
    """Add an indicator to a recommendation."""
    from tracker import services

    actor = author(by)
    state.database().write(
        lambda s: services.add_indicator(
            s, ref, code=code, name=name, unit=unit, direction=direction, target=target, actor=actor
        )
    )
    say(f"Added indicator {code}")


@indicator_app.command("record")
def indicator_record(
    code: Annotated[str, typer.Argument(metavar="CODE", help="The indicator code.")],
    quarter: Annotated[str, typer.Argument(metavar="QUARTER", help="The quarter, e.g. 2019Q3.")],
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The value.")],
    note: Annotated[Optional[str], typer.Option("--note", metavar="TEXT", help="A note.")] = None,
    evidence: Annotated[
        Optional[str], typer.Option("--evidence", metavar="ID", help="The evidence id it comes from.")
    ] = None,
    for_agency: For = None,
    by: By = None,
) -> None:
    """Record an indicator's value for a quarter (a later value supersedes; both are kept)."""
    from tracker import services

    actor = author(by)
    state.database().write(
        lambda s: services.record_measurement(
            s,
            code,
            quarter,
            value,
            note=note,
            evidence_id=evidence,
            on_behalf_of=given(for_agency, "--for"),
            actor=actor,
        )
    )
    say(f"Recorded {code} {quarter}: {value}")


@indicator_app.command("withdraw")
def indicator_withdraw(
    measurement_id: Annotated[
        str, typer.Argument(metavar="MEASUREMENT_ID", help="The value's id (see `tracker indicator show CODE`).")
    ],
    reason: Reason = None,
    by: By = None,
) -> None:
    """Withdraw a recorded value: the quarter's earlier value, if any, counts again."""
    from tracker import services

    actor = author(by)
    said(state.database().write(lambda s: services.withdraw_measurement(s, measurement_id, reason, actor=actor)))


@indicator_app.command("amend")
def indicator_amend(
    code: Annotated[str, typer.Argument(metavar="CODE", help="The indicator code.")],
    name: Annotated[Optional[str], typer.Option("--name", metavar="NAME", help="What it counts.")] = None,
    unit: Annotated[Optional[str], typer.Option("--unit", metavar="UNIT", help="The unit.")] = None,
    direction: Annotated[
        Optional[str], typer.Option("--direction", metavar="up|down", help="Which way is progress.")
    ] = None,
    target: Annotated[Optional[str], typer.Option("--target", metavar="VALUE", help="The value to reach.")] = None,
    no_target: Annotated[bool, typer.Option("--no-target", help="Remove the target.")] = False,
    reason: Reason = None,
    by: By = None,
) -> None:
    """Correct an indicator: name, unit, direction, target; the history keeps the old values."""
    from tracker import services

    actor = author(by)
    changes = state.database().write(
        lambda s: services.amend_indicator(
            s,
            code,
            name=name,
            unit=unit,
            direction=direction,
            target=target,
            no_target=no_target,
            reason=reason,
            actor=actor,
        )
    )
    said(changes)


@indicator_app.command("list")
def indicator_list(json_output: Json = False) -> None:
    """List indicators with their latest value."""
    from tracker import queries

    with state.database().reading() as session:
        rows = queries.indicator_list(session)
    if json_output:
        return dump_json(rows)
    from tracker.render.terminal import table

    out(
        table(
            ["code", "ref", "name", "unit", "direction", "target", "latest_quarter", "latest_value"],
            [
                [r[k] for k in ("code", "ref", "name", "unit", "direction", "target", "latest_quarter", "latest_value")]
                for r in rows
            ],
        )
    )


@indicator_app.command("show")
def indicator_show(
    code: Annotated[str, typer.Argument(metavar="CODE", help="The indicator code.")],
    json_output: Json = False,
) -> None:
    """Show an indicator and its values by quarter."""
    from tracker import queries

    with state.database().reading() as session:
        detail = queries.indicator_detail(session, code)
    if json_output:
        return dump_json(detail)
    from tracker.render.terminal import indicator_detail

    out(indicator_detail(detail))


@agency_app.command("add")
def agency_add(
    code: Annotated[str, typer.Argument(metavar="CODE", help="A new, unique code, e.g. molvt.")],
    name: Annotated[str, typer.Argument(metavar="NAME", help="The agency's name.")],
    by: By = None,
) -> None:
    """Add a responsible agency."""
    from tracker import services

    actor = author(by)
    state.database().write(lambda s: services.add_agency(s, code, name, actor=actor))
    say(f"Added agency {code}")


@agency_app.command("amend")
def agency_amend(
    code: Annotated[str, typer.Argument(metavar="CODE", help="The agency code.")],
    name: Annotated[Optional[str], typer.Option("--name", metavar="NAME", help="The agency's name.")] = None,
    reason: Reason = None,
    by: By = None,
) -> None:
    """Correct an agency's name; the history keeps the old one."""
    from tracker import services

    actor = author(by)
    said(state.database().write(lambda s: services.amend_agency(s, code, name=name, reason=reason, actor=actor)))


@agency_app.command("list")
def agency_list(json_output: Json = False) -> None:
    """List agencies and how many recommendations each leads or supports."""
    from tracker import queries

    with state.database().reading() as session:
        rows = queries.agency_list(session)
    if json_output:
        return dump_json(rows)
    from tracker.render.terminal import table

    out(table(["code", "name", "lead", "support"], [[r["code"], r["name"], r["lead"], r["support"]] for r in rows]))


# Assessors ------------------------------------------------------------------------------------


@assessor_app.command("add")
def assessor_add(
    code: Annotated[str, typer.Argument(metavar="CODE", help="A new, unique code, e.g. ncct or ngo-coalition.")],
    name: Annotated[str, typer.Argument(metavar="NAME", help="The assessor's name.")],
    kind: Annotated[
        str, typer.Option("--kind", metavar="KIND", help="government, ngo, donor, international or other.")
    ] = "other",
    default: Annotated[
        bool, typer.Option("--default", help="Make it the default assessor (only while there is none).")
    ] = False,
    by: By = None,
) -> None:
    """Add an assessor, whose assessments are recorded with `status set --assessor CODE`."""
    from tracker import services

    actor = author(by)
    state.database().write(lambda s: services.add_assessor(s, code, name, kind, default=default, actor=actor))
    say(f"Added assessor {code}" + (" (the default)" if default else ""))


@assessor_app.command("default")
def assessor_default(
    code: Annotated[str, typer.Argument(metavar="CODE", help="The assessor to make the default.")],
    reason: Reason = None,
    by: By = None,
) -> None:
    """Make an assessor the default, whose assessments are the status: a recorded correction."""
    from tracker import services

    actor = author(by)
    said(state.database().write(lambda s: services.set_default_assessor(s, code, reason, actor=actor)))


@assessor_app.command("amend")
def assessor_amend(
    code: Annotated[str, typer.Argument(metavar="CODE", help="The assessor code.")],
    name: Annotated[Optional[str], typer.Option("--name", metavar="NAME", help="The assessor's name.")] = None,
    kind: Annotated[
        Optional[str], typer.Option("--kind", metavar="KIND", help="government, ngo, donor, international or other.")
    ] = None,
    reason: Reason = None,
    by: By = None,
) -> None:
    """Correct an assessor's name or kind; the history keeps the old ones."""
    from tracker import services

    actor = author(by)
    said(
        state.database().write(
            lambda s: services.amend_assessor(s, code, name=name, kind=kind, reason=reason, actor=actor)
        )
    )


@assessor_app.command("list")
def assessor_list(json_output: Json = False) -> None:
    """List the assessors: the default marked, how many assessments each has recorded."""
    from tracker import queries

    with state.database().reading() as session:
        rows = queries.assessor_list(session)
    if json_output:
        return dump_json(rows)
    if not rows:
        return say("No assessor: every assessment is the database's own (`tracker assessor add` adds one)")
    from tracker.render.terminal import table

    out(
        table(
            ["code", "name", "kind", "default", "assessments"],
            [[r["code"], r["name"], r["kind"], "yes" if r["default"] else "", r["assessments"]] for r in rows],
        )
    )


# Import and export ----------------------------------------------------------------------------


@app.command("import", rich_help_panel=RECORD)
def import_file(
    file: Annotated[
        Optional[Path],
        typer.Argument(
            metavar="FILE",
            help="A CSV file (columns separated by commas, semicolons or tabs) or an Excel workbook (.xlsx: "
            "the first sheet whose first row is the header of a kind, or --sheet) of evidence, status updates, "
            "measurements or corrections; or a JSON file made by `tracker export`.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything and say what would be added; write nothing.")
    ] = False,
    again: Annotated[bool, typer.Option("--again", help="Import a file whose content was imported before.")] = False,
    ignore_column: Annotated[
        Optional[list[str]],
        typer.Option(
            "--ignore-column",
            metavar="NAME",
            help="Leave out the column NAME, which tracker does not know, instead of refusing the file (repeatable).",
        ),
    ] = None,
    sheet: Annotated[
        Optional[str],
        typer.Option("--sheet", metavar="NAME", help="The sheet of a workbook to import (default: as FILE says)."),
    ] = None,
    template: Annotated[
        Optional[str],
        typer.Option(
            "--template",
            metavar="KIND",
            help="Import nothing: write an empty file to fill in to -o, with one example row. KIND is "
            "evidence, status, measurement or correction.",
        ),
    ] = None,
    template_format: Annotated[
        Optional[str],
        typer.Option(
            "--format", metavar="FORMAT", help="The template's format: csv or xlsx (default: as -o is named, else csv)."
        ),
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option("-o", "--output", metavar="FILE", help="Where --template writes the template.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --template overwrite an existing -o file.")] = False,
    by: By = None,
) -> None:
    """Import a CSV or XLSX file, all rows or none, or restore an export into an empty database.

    With --template KIND -o FILE, write an empty file of that kind to fill in and import instead.
    """
    from tracker import importing
    from tracker.cli.progress import progress
    from tracker.errors import InputError

    if template is not None or template_format is not None or output is not None:
        return write_template(template, template_format, output, force=force, file=file)
    if file is None:
        raise InputError("give the FILE to import, or --template KIND -o FILE to write a file to fill in")
    summary = importing.import_file(
        state.database(),
        file,
        actor=author(by),
        dry_run=dry_run,
        again=again,
        ignore=ignore_column or (),
        sheet=sheet,
        progress=progress(),
    )
    out(summary.describe()) if dry_run else say(summary.describe())


def write_template(kind: str | None, file_format: str | None, output: Path | None, *, force: bool, file: Any) -> None:
    """``tracker import --template KIND -o FILE``: an empty file to fill in written; nothing imported."""
    from tracker import files, importing
    from tracker.errors import InputError

    if kind is None:
        raise InputError("-o and --format go with --template KIND, which writes a file to fill in")
    if output is None:
        raise InputError(f"--template {kind} needs -o FILE: where to write the template")
    if file is not None:
        raise InputError(f"--template writes a template and imports nothing: leave out {file}")
    chosen = importing.template_format(file_format, output)
    files.write_exactly(output, importing.template(kind, chosen), force=force, private=False)
    say(f"Wrote the template {output} ({chosen}): replace its example row with yours, then `tracker import {output}`")


@app.command(rich_help_panel=REPORT)
def export(
    output: Annotated[
        Optional[Path], typer.Option("-o", "--output", metavar="FILE", help="Write to this file (default: stdout).")
    ] = None,
    with_files: Annotated[bool, typer.Option("--with-files", help="Include attached files' content (base64).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Everything, the audit log included, as one JSON document that `tracker import` restores."""
    from tracker import files, importing
    from tracker.cli.progress import progress

    if output is not None:
        files.check_destination(output, force=force)
    pieces = importing.export_pieces(state.database(), with_files=with_files, progress=progress())
    if output is None:
        for piece in pieces:  # written as it is read: constant memory, whatever the size
            typer.echo(piece, nl=False)
        return
    files.write_exactly(output, pieces, force=force)
    say(f"Exported {state.database().display} to {output}")


# Reports ----------------------------------------------------------------------------------

ReportSources = Annotated[
    Optional[list[str]],
    typer.Option(
        "--source", metavar="SOURCE", help="Only this source's recommendations (repeatable; default: every source)."
    ),
]
ReportFormat = Annotated[str, typer.Option("--format", metavar="FORMAT", help=f"{render.format_help()}.")]
ReportOutput = Annotated[
    Optional[Path],
    typer.Option(
        "-o", "--output", metavar="FILE", help="Write to this file (replaced if it exists) instead of stdout."
    ),
]
ReportAsOf = Annotated[
    Optional[str],
    typer.Option(
        "--as-of",
        metavar="T",
        help="Only what was recorded by then: YYYY-MM-DD (the end of that day, UTC) or an ISO "
        "8601 timestamp with offset; default now, never later. Same --as-of, same bytes.",
    ),
]
ReportAudience = Annotated[
    str,
    typer.Option(
        "--audience",
        metavar="AUDIENCE",
        help="public, internal (the default; marked not for publication) or "
        "confidential: evidence above it is withheld.",
    ),
]


def check_output(output: Path | None) -> None:
    """Refuse a bad -o path before any database work."""
    if output is not None:
        from tracker import files

        files.check_destination(output, force=True)


def warn_of_later_stamps(session: Any, now: Any) -> None:
    """A report as of now leaves out events stamped later by a clock that ran ahead: say so."""
    from tracker import clock, queries

    count, last = queries.stamped_after(session, now)
    if count and last is not None:
        say(
            f"Warning: {counted(count, 'event')} stamped after now (up to {clock.iso_utc(last)}) left out of "
            "this report: a clock ran ahead; with this machine's clock right, `tracker correct-clock "
            "--reason TEXT` records it and later reports include them"
        )


def emit_report(text: str | bytes, output: Path | None, *, confidential: bool) -> None:
    """A report (text, or bytes: written as they are) to stdout, or atomically to the -o file:
    readable by its owner only when it is for the confidential audience, else with the usual
    permissions (it is made to be shared)."""
    if output is None:
        typer.echo(text, nl=False)
        return
    from tracker import files

    content = text if isinstance(text, bytes) else text.encode("utf-8")
    files.write_exactly(output, content, force=True, private=confidential)
    say(f"Wrote {output}")


@app.command(rich_help_panel=REPORT)
def due(
    within: Annotated[
        str, typer.Option("--within", metavar="DAYS", help="Due soon: within this many days, 0 to 3650.")
    ] = "30",
    agency: Annotated[
        Optional[str],
        typer.Option("--agency", metavar="AGENCY", help="Only what this agency leads, and their indicators."),
    ] = None,
    as_of: ReportAsOf = None,
    fmt: Annotated[Optional[str], typer.Option("--format", metavar="FORMAT", help="md (the default) or csv.")] = None,
    no_bom: NoBom = False,
    json_output: Json = False,
) -> None:
    """A follow-up digest to mail: overdue and soon due, missing indicator values, stale and carried over."""
    from tracker import due as follow_up
    from tracker.periods import parse_as_of
    from tracker.render import digest

    days, moment, form = follow_up.parse_within(within), parse_as_of(as_of), digest.output_form(fmt, json_output)
    bom = csv_bom(form, no_bom)
    with state.database().reading() as session:
        found = follow_up.digest(session, as_of=moment, within=days, agency=given(agency, "--agency"))
        if as_of is None:
            warn_of_later_stamps(session, moment)
    typer.echo(as_written(digest.render(found, form), form, bom), nl=False)


@report_app.command("quarterly")
def report_quarterly(
    quarter: Annotated[str, typer.Argument(metavar="QUARTER", help="The quarter, e.g. 2019Q3.")],
    source: ReportSources = None,
    fmt: ReportFormat = "md",
    output: ReportOutput = None,
    no_bom: NoBom = False,
    as_of: ReportAsOf = None,
    audience: ReportAudience = "internal",
) -> None:
    """The quarterly status report: statuses, changes, evidence, indicators, attention list."""
    from tracker import reports
    from tracker.periods import Quarter, parse_as_of

    period, fmt, moment = Quarter.parse(quarter), render.check_format(fmt), parse_as_of(as_of)
    level = reports.parse_audience(audience)
    chosen = render.find_format(fmt)
    check_output(output)
    check_not_terminal(fmt, chosen.binary, output)
    bom = csv_bom(fmt, no_bom)
    with state.database().reading() as session:
        report = reports.quarterly(
            session, period, sources=source or (), as_of=moment, audience=level, attention=chosen.attention
        )
        if as_of is None:
            warn_of_later_stamps(session, moment)
    emit_report(as_written(render.render(report, fmt), fmt, bom), output, confidential=level.value == "confidential")


@report_app.command("compare")
def report_compare(
    quarter: Annotated[str, typer.Argument(metavar="QUARTER", help="The quarter, e.g. 2019Q3.")],
    assessor: Annotated[
        Optional[list[str]],
        typer.Option("--assessor", metavar="CODE", help="An assessor to compare (repeatable; default: all of them)."),
    ] = None,
    source: ReportSources = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="md (the default), json or csv.")] = "md",
    output: ReportOutput = None,
    as_of: ReportAsOf = None,
    audience: ReportAudience = "internal",
    no_bom: NoBom = False,
) -> None:
    """Each assessor's status of every recommendation at the quarter's end, and where they differ."""
    from tracker import reports
    from tracker.periods import Quarter, parse_as_of
    from tracker.render import compare as shown
    from tracker.reports import compare

    chosen = (fmt or "").strip().lower()
    if chosen not in shown.FORMATS:
        raise InputError(f"unknown --format {fmt!r} for report compare: use md, json or csv")
    bom = csv_bom(chosen, no_bom)
    period, moment = Quarter.parse(quarter), parse_as_of(as_of)
    level = reports.parse_audience(audience)
    check_output(output)
    with state.database().reading() as session:
        found = compare.compare(
            session, period, chosen=assessor or (), sources=source or (), as_of=moment, audience=level
        )
    written = as_written(shown.render(found, chosen), chosen, bom)
    emit_report(written, output, confidential=level.value == "confidential")


@report_app.command("timeline")
def report_timeline(
    source: ReportSources = None,
    first: Annotated[
        Optional[str],
        typer.Option(
            "--from",
            metavar="QUARTER",
            help="First quarter (default: when the earliest source, or edition in force, was published; "
            "without --from at most the last 12 quarters are shown).",
        ),
    ] = None,
    last: Annotated[
        Optional[str], typer.Option("--to", metavar="QUARTER", help="Last quarter (default: the quarter of --as-of).")
    ] = None,
    fmt: ReportFormat = "md",
    output: ReportOutput = None,
    no_bom: NoBom = False,
    as_of: ReportAsOf = None,
    audience: ReportAudience = "internal",
) -> None:
    """Every recommendation's status at the end of every quarter, with the quarters it changed in."""
    from tracker import reports
    from tracker.periods import Quarter, parse_as_of

    start, end = (Quarter.parse(first) if first else None), (Quarter.parse(last) if last else None)
    fmt, moment, level = render.check_format(fmt), parse_as_of(as_of), reports.parse_audience(audience)
    check_output(output)
    check_not_terminal(fmt, render.find_format(fmt).binary, output)
    bom = csv_bom(fmt, no_bom)
    with state.database().reading() as session:
        report = reports.timeline(session, sources=source or (), first=start, last=end, as_of=moment, audience=level)
        if as_of is None:
            warn_of_later_stamps(session, moment)
    emit_report(as_written(render.render(report, fmt), fmt, bom), output, confidential=level.value == "confidential")


@report_app.command("editions")
def report_editions(
    series: Annotated[
        Optional[str],
        typer.Option("--series", metavar="SERIES", help="One report series, e.g. tip-khm (default: every series)."),
    ] = None,
    fmt: ReportFormat = "md",
    output: ReportOutput = None,
    no_bom: NoBom = False,
    as_of: ReportAsOf = None,
    audience: ReportAudience = "internal",
) -> None:
    """One row per thread of recommendations across editions: since when, how often repeated, status now."""
    from tracker import reports
    from tracker.periods import parse_as_of
    from tracker.reports import editions

    fmt, moment, level = render.check_format(fmt), parse_as_of(as_of), reports.parse_audience(audience)
    check_output(output)
    check_not_terminal(fmt, render.find_format(fmt).binary, output)
    bom = csv_bom(fmt, no_bom)
    if series is not None:
        series = given(series, "--series")
    with state.database().reading() as session:
        report = editions.editions(session, series=series, as_of=moment, audience=level)
        if as_of is None:
            warn_of_later_stamps(session, moment)
    emit_report(as_written(render.render(report, fmt), fmt, bom), output, confidential=level.value == "confidential")


# Check ------------------------------------------------------------------------------------


def _limit(value: str) -> int:
    """--limit N: from 1 to a billion, in digits (not 1_000: Click's int would read it as 1000)."""
    from tracker import validation

    return validation.count(value, "--limit", maximum=1_000_000_000)


@app.command(rich_help_panel=REPORT)
def search(
    text: Annotated[
        str, typer.Argument(metavar="TEXT", help="Words to find, each anywhere in a text (one of 3+ characters).")
    ],
    kind: Annotated[
        Optional[str],
        typer.Option("--kind", metavar="KIND", help="An evidence kind, evidence (any), status or measurement (notes)."),
    ] = None,
    rec: Annotated[
        Optional[str], typer.Option("--rec", metavar="REF", help="Only records on this recommendation.")
    ] = None,
    quarter: Annotated[
        Optional[str], typer.Option("--quarter", metavar="QUARTER", help="Only records dated in this quarter.")
    ] = None,
    since: Annotated[
        Optional[str], typer.Option("--from", metavar="DATE", help="Only records dated on or after.")
    ] = None,
    until: Annotated[
        Optional[str], typer.Option("--to", metavar="DATE", help="Only records dated on or before.")
    ] = None,
    audience: Annotated[
        str, typer.Option("--audience", metavar="AUDIENCE", help="public, internal (default) or confidential.")
    ] = "internal",
    include_retracted: Annotated[
        bool, typer.Option("--include-retracted", help="Retracted evidence and withdrawn notes too, marked.")
    ] = False,
    limit: Annotated[str, typer.Option("--limit", metavar="N", help="At most N results (default 20).")] = "20",
    json_output: Json = False,
) -> None:
    """Find evidence, status notes and measurement notes by their text, best match first."""
    from tracker import search as finder

    query = finder.parse(
        text,
        kind=kind,
        rec=rec,
        quarter=quarter,
        since=since,
        until=until,
        audience=audience,
        include_retracted=include_retracted,
        limit=limit,
    )
    with state.database().reading() as session:
        rows = [hit.as_dict() for hit in finder.search(session, query)]
    if json_output:
        return dump_json(rows)
    from tracker.render.terminal import search_results

    out(search_results(rows, mark=(lambda s: typer.style(s, bold=True)) if sys.stdout.isatty() else None))


@app.command(rich_help_panel=REPORT)
def history(
    record: Annotated[
        str,
        typer.Argument(
            metavar="RECORD",
            help="evidence/ID, rec/REF, status/ID, indicator/CODE, measurement/ID or agency/CODE.",
        ),
    ],
    json_output: Json = False,
) -> None:
    """Every version of a record, oldest first: who, when, why, and the event that recorded it."""
    from tracker import queries

    with state.database().reading() as session:
        versions = queries.record_history(session, record)
    if json_output:
        return dump_json(versions)
    from tracker.render.terminal import record_history

    out(record_history(versions))


@app.command(rich_help_panel=REPORT)
def log(
    limit: Annotated[
        Optional[int], typer.Option("--limit", metavar="N", parser=_limit, help="Only the last N events.")
    ] = None,
    json_output: Json = False,
) -> None:
    """The audit log: who recorded what, when (newest first)."""
    from tracker import queries
    from tracker.render.terminal import entered_by, event_rows, json_pieces, table_lines

    with state.database().reading() as session:  # written as read: the first lines at once, constant memory
        rows = queries.log_rows(session, limit)
        if json_output:
            return out_pieces(json_pieces(rows))
        lines = table_lines(
            ["seq", "recorded_at", "actor", "action", "rows", "hash"],
            (
                [
                    r["seq"],
                    r["recorded_at"],
                    entered_by(r["actor"], r.get("for")),
                    r["action"],
                    event_rows(r["payload"]),
                    r["hash"][:16],
                ]
                for r in rows
            ),
        )
        out_pieces((line + "\n" for line in lines), end="")


@app.command(rich_help_panel=CHECK)
def verify(
    anchor: Annotated[
        Optional[str],
        typer.Option(
            "--anchor",
            metavar="HASH",
            help="A fingerprint printed on an earlier report: also catches a truncated or recomputed chain.",
        ),
    ] = None,
    since_anchor: Annotated[
        Optional[str],
        typer.Option(
            "--since-anchor",
            metavar="HASH",
            help="The last hash an earlier verify printed: check only what was recorded after that event.",
        ),
    ] = None,
    json_output: Json = False,
) -> None:
    """Check the hash chain, every row against its event, and every attachment."""
    from tracker.audit import verify as integrity
    from tracker.cli.progress import progress
    from tracker.errors import IntegrityFailure

    if anchor is not None and since_anchor is not None:
        raise InputError("--anchor and --since-anchor are two kinds of check: give one")
    with state.database().reading() as session:
        if since_anchor is not None:
            result = integrity.verify_since(session, since_anchor, progress=progress())
        else:
            result = integrity.verify(session, anchor=anchor, progress=progress())
    if json_output:
        dump_json(result.as_dict())
    if not result.ok:
        raise IntegrityFailure(
            f"verify failed at {result.findings[0].describe()}"
            + (f" (and {len(result.findings) - 1} more)" if len(result.findings) > 1 else "")
        )
    if not json_output and since_anchor is not None:
        new = result.events - (result.anchor_seq or 0)
        say(
            f"OK: {counted(new, 'event')} after event {result.anchor_seq}, {counted(result.rows, 'row')} and "
            f"{counted(result.attachments, 'attachment')} they record; last hash {result.last_hash} "
            "(what came before was not checked again: `tracker verify` checks it all)"
        )
    elif not json_output:
        anchored = f"; the anchor is event {result.anchor_seq}" if result.anchor_seq is not None else ""
        say(
            f"OK: {counted(result.events, 'event')}, {counted(result.rows, 'row')}, "
            f"{counted(result.attachments, 'attachment')}; last hash {result.last_hash}{anchored}"
        )


@app.command(rich_help_panel=CHECK)
def lint(
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any rule fires (the findings still print).")
    ] = False,
    json_output: Json = False,
) -> None:
    """Check assessments against evidence: unsupported progress, setbacks, unverified support, no lead, indicators."""
    from tracker import clock
    from tracker import lint as checks

    with state.database().reading() as session:
        found = checks.findings(session, as_of=clock.now())
    if json_output:
        dump_json([finding.as_dict() for finding in found])
    else:
        from tracker.render.terminal import lint_findings

        out(lint_findings([finding.as_dict() for finding in found]))
    if strict and found:
        rules = ", ".join(dict.fromkeys(finding.rule for finding in found))
        raise TrackerError(f"lint found {counted(len(found), 'finding')} ({rules})")


@app.command(rich_help_panel=CHECK)
def backup(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="Where to write the copy (must not exist).")],
) -> None:
    """A consistent copy of a SQLite database, safe while others write."""
    written = state.database().backup(path)
    say(f"Backed up {state.database().display} to {written}")


@app.command("correct-clock", rich_help_panel=CHECK)
def correct_clock(
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="What happened to the clock, and when (required).")
    ],
    by: By = None,
) -> None:
    """Record that the last events were stamped by a clock that ran ahead: they count as known
    from now on, and writing goes on. Run it with this machine's clock right."""
    from tracker import clock, services

    actor = author(by)

    def work(session: Any) -> tuple[int, str, str]:
        correction = services.correct_clock(session, reason, actor=actor)
        return correction.last_seq, clock.iso_utc(correction.stamped_until), clock.iso_utc(correction.recorded_at)

    last_seq, stamped_until, known = state.database().write(work)
    say(f"Recorded: events up to {last_seq}, stamped up to {stamped_until}, count as known at {known}")


# Entry point ------------------------------------------------------------------------------


def main(args: list[str] | None = None, prog_name: str = "tracker", **_: Any) -> None:
    """Run the command line; map every failure to one ``Error:`` line and an exit code.

    Run as the program (``args`` None: they come from ``sys.argv``), the process ends with
    the command; called from Python (tests), it goes on.
    """
    with _collector_for_one_command(exiting=args is None):
        code = _run(args, prog_name)
    sys.exit(code)


def _run(args: list[str] | None, prog_name: str) -> int:
    """The command's exit code; every failure printed as one ``Error:`` line."""
    try:
        code = _command().main(args=args, prog_name=prog_name, standalone_mode=False)
    except typer.TyperException as error:  # usage errors: bad options, missing arguments...
        import re

        message = error.format_message()
        if re.fullmatch(r"No such option: -[0-9.]+", message):
            message += " (a negative value goes after --, e.g. `tracker indicator record CODE 2019Q3 -- -5`)"
        elif re.match(r"No such option: --db\b", message):
            message = "--db is a global option: put it before the command, e.g. `tracker --db FILE rec list`"
        elif extra := re.fullmatch(r"Got unexpected extra argument(?:\(s\)|s)? \((.*)\)", message, re.DOTALL):
            context = getattr(error, "ctx", None)
            command = context.command_path if context is not None else prog_name
            message = f"too many arguments: {extra[1]!r} is more than `{command}` takes (see `{command} --help`)"
        code = _fail(message, error.exit_code)
    except TrackerError as error:
        code = _fail(str(error), error.exit_code)
    except typer.Abort:
        code = _fail("aborted", 1)
    except KeyboardInterrupt:
        code = _fail("interrupted; nothing was written", 130)
    except Exception as error:  # the one place that turns surprises into a line
        if os.environ.get("TRACKER_DEBUG") == "1":
            raise
        code = _fail(f"unexpected {type(error).__name__}: {_one_line(error)} (run with TRACKER_DEBUG=1 for details)", 1)
    finally:
        if state._database is not None:
            state._database.dispose()
    return code if isinstance(code, int) else 0


@functools.cache
def _command() -> Any:
    """The Click command that Typer builds from ``app``, built once per process: a process
    that runs many commands (tests, a program calling :func:`main`) does not build the
    tree again each time (``app()`` would)."""
    return typer.main.get_command(app)


@contextlib.contextmanager
def _collector_for_one_command(*, exiting: bool) -> Iterator[None]:
    """Python's cyclic garbage collector tuned for one short command.

    A command loads modules (SQLAlchemy, the models) that make a few hundred thousand
    objects living as long as the process, few of them in reference cycles: with the default
    thresholds the collector scans them again and again while they load. It runs less often
    here (the first generation is collected every 100,000 allocations instead of 700). When
    the process ends next, every object is frozen first, so that the collection Python runs
    while it shuts down skips them all (what is left holds no open resource: the database
    was disposed of). Called from Python, the thresholds are put back. Together these take
    about a quarter off the time of a short database command such as ``tracker rec list``.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        if exiting:
            gc.freeze()
        else:
            gc.set_threshold(*thresholds)


def _one_line(error: BaseException) -> str:
    from tracker.store.engine import mask

    text = " ".join(str(error).split()) or type(error).__name__
    return mask(text)


def _fail(message: str, exit_code: int) -> int:
    if os.environ.get("TRACKER_DEBUG") == "1":
        import traceback

        traceback.print_exc()
    typer.echo(f"Error: {' '.join(message.split())}", err=True)
    return exit_code


if __name__ == "__main__":  # pragma: no cover
    main()


from tracker.cli import team as _team  # noqa: E402,F401  (its commands are on team_app)
