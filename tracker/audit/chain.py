"""Writing the audit chain: every write appends an event whose hash covers the one before it.

What an event is and how it is spelled is :mod:`tracker.audit.canonical`; this module
appends events to a session and knows each domain table's :class:`TableSpec` (from the
models and their registry, :data:`tracker.store.models.DOMAIN_MODELS`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Date, Float, Integer, String, Table, Text, bindparam, func, select, text
from sqlalchemy import Enum as Vocabulary
from sqlalchemy.orm import Session

from tracker import clock
from tracker.audit.asof import known_at
from tracker.audit.canonical import (
    GENESIS,
    Speller,
    TableSpec,
    envelope_head,
    envelope_tail,
    iso_utc,
    link_hash,
    payload_text,
)
from tracker.errors import ClockError
from tracker.store.models import DOMAIN_TABLES, TRAITS, Attachment, Event, UTCDateTime, recorded_at_column

__all__ = [
    "CHAIN_HEAD_FUNCTION",
    "ATTACHMENT_STORED_FUNCTION",
    "CLOCK_TOLERANCE",
    "READER_LEVEL_FUNCTION",
    "GENESIS",
    "Chain",
    "attachment_stored",
    "ChainHead",
    "chain_head",
    "checked_clock",
    "last_event",
    "on_team_database",
    "reads_everything",
    "row_values",
    "speller",
    "table_spec",
    "table_specs",
]


def _kind(table: Table, column: Any) -> str:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "instant"
    if isinstance(kind, Vocabulary):
        return "choice"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, Float):
        return "float"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, String | Text):
        return "text"
    raise AssertionError(f"no audit spelling for {table.name}.{column.name} ({kind!r})")


@functools.cache
def table_spec(table: Table) -> TableSpec:
    """What the audit record knows of ``table``: every column but an attachment's content (the
    event table too, which is spelled so in an export)."""
    columns = [column for column in table.columns if column.name != "content"]
    return TableSpec(
        name=table.name,
        columns=tuple(column.name for column in columns),
        key=tuple(column.name for column in table.primary_key.columns),
        kinds={column.name: _kind(table, column) for column in columns},
        nullable=frozenset(column.name for column in columns if column.nullable),
        choices={column.name: tuple(column.type.enums) for column in columns if isinstance(column.type, Vocabulary)},
        refs={fk.parent.name: fk.column.table.name for fk in table.foreign_keys},
        unordered=TRAITS[table.name].unordered if table.name in TRAITS else False,
        recorded_at=recorded_at_column(table),
    )


@functools.cache
def table_specs() -> tuple[TableSpec, ...]:
    """Every domain table's spec, in the registry's order."""
    return tuple(table_spec(table) for table in DOMAIN_TABLES)


@functools.cache
def speller(table: Table) -> Speller:
    """The canonical spelling of ``table``'s rows, from their Python values in column order."""
    return Speller(table_spec(table))


def row_values(table: Table, row: Any) -> tuple[Any, ...]:
    """A row's values in :func:`table_spec` column order, from an ORM object, a mapping or a Row."""
    columns = table_spec(table).columns
    if isinstance(row, Mapping):
        return tuple(row[name] for name in columns)
    mapping = getattr(row, "_mapping", None)
    if mapping is not None:
        return tuple(mapping[name] for name in columns)
    keys = [table.columns[name].key for name in columns]
    return tuple(getattr(row, key) for key in keys)


_TABLES = {table.name: table for table in DOMAIN_TABLES}

CLOCK_CORRECTION = "clock.correct"
"""The action of the one event that may be stamped before the event it follows."""

CLOCK_TOLERANCE = timedelta(minutes=2)
"""How far this machine's clock may be behind the chain's last event, or ahead of the
PostgreSQL server's clock, before a write is refused: two machines' clocks rarely agree to
the second, but a clock minutes off is wrong and would stamp the record with a wrong time."""


def checked_clock(session: Session, last_recorded_at: datetime | None) -> datetime:
    """The clock's instant, for a new event after one recorded at ``last_recorded_at``.

    Refused (:class:`ClockError`) when the clock is behind that event by more than
    :data:`CLOCK_TOLERANCE` (it would stamp the new event in the past, or, clamped, pin it
    to a wrong future instant), and, on PostgreSQL, when it is ahead of the server's clock
    by as much (every later writer with a right clock would then be refused).
    """
    moment = clock.now()
    if last_recorded_at is not None and moment < last_recorded_at - CLOCK_TOLERANCE:
        raise ClockError(
            f"this machine's clock says {_shown(moment)} but the database's last event was recorded at "
            f"{_shown(last_recorded_at)}, {_span(last_recorded_at - moment)} later: set the clock right, or, "
            "if it is right, record that a clock ran ahead with `tracker correct-clock --reason TEXT`"
        )
    if session.get_bind().dialect.name == "postgresql":
        server = session.execute(select(func.statement_timestamp())).scalar_one()
        if moment > server + CLOCK_TOLERANCE:
            raise ClockError(
                f"this machine's clock says {_shown(moment)}, {_span(moment - server)} ahead of the database "
                f"server's ({_shown(server)}): set this machine's clock right before writing"
            )
    return moment


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(delta: timedelta) -> str:
    seconds = round(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


class Chain:
    """Appends events for one write transaction, in order, after the last stored one."""

    def __init__(self, session: Session, actor: str, *, correcting_clock: bool = False) -> None:
        """``correcting_clock``: this transaction records a clock correction, the one event
        stamped before the one it follows (see :class:`tracker.store.models.ClockCorrection`)."""
        self.session = session
        self.actor = actor
        last = chain_head(session)
        self.seq: int = last.seq if last else 0
        self.hash: str = last.hash if last else GENESIS
        self.last_recorded_at: datetime | None = last.recorded_at if last else None
        moment = checked_clock(session, None if correcting_clock else self.last_recorded_at)
        # recorded_at never goes backwards along the chain: a clock a little behind (within
        # CLOCK_TOLERANCE) records at the last event's instant.
        self.recorded_at: datetime = max(moment, last.recorded_at) if last and not correcting_clock else moment
        self._stamp = iso_utc(self.recorded_at)
        self._heads: dict[str, str] = {}

    def append(self, action: str, rows: Mapping[str, Iterable[Any]], **extra: Any) -> dict[str, Any]:
        """Record ``rows`` (ORM objects or row dicts, by table name) as one event."""
        records = {}
        for name, items in rows.items():
            table = _TABLES[name]
            spelled = speller(table).record
            records[name] = [spelled(row_values(table, row)) for row in items]
        event = self.values(action, payload_text(extra, records))
        self.session.add(Event(**event))
        return event

    def values(self, action: str, payload: str) -> dict[str, Any]:
        """The next event as a dict of column values."""
        prev_hash = self.hash
        digest = self.link(action, payload)
        return {
            "seq": self.seq,
            "recorded_at": self.recorded_at,
            "actor": self.actor,
            "action": action,
            "payload": payload,
            "prev_hash": prev_hash,
            "hash": digest,
        }

    def link(self, action: str, payload: str) -> str:
        """Append the next event to the chain (``self.seq`` is its seq); returns its hash."""
        head = self._heads.get(action)
        if head is None:
            head = self._heads[action] = envelope_head(action, self.actor)
        self.seq += 1
        self.hash = link_hash(self.hash, head, payload, envelope_tail(self._stamp, self.seq))
        return self.hash


CHAIN_HEAD_FUNCTION = "tracker_chain_head"
"""The SQL function that ``tracker team setup`` (:mod:`tracker.team`) installs on a team
database: the chain's last event (its seq, hash and recorded_at, known at an instant if given),
for roles that may not read that event's payload. Its presence is what makes a team database."""

READER_LEVEL_FUNCTION = "tracker_reader_level"
"""The SQL function team setup installs that gives the database user's reading level: 2 reads
every row, 1 public and internal evidence, 0 public evidence only, -1 nothing."""

ATTACHMENT_STORED_FUNCTION = "tracker_attachment_stored"
"""The SQL function team setup installs that says whether a file (by its sha256) is stored,
for a role that may not read every attachment: it gives nothing but that, and only to whoever
holds the file's bytes already (they made the digest)."""

_TEAM = "tracker.audit.chain.team"
_READS_ALL = "tracker.audit.chain.reads_everything"


@dataclass(frozen=True)
class ChainHead:
    """The chain's last event, as far as a new event or a report's fingerprint needs it."""

    seq: int
    hash: str
    recorded_at: datetime


def on_team_database(session: Session) -> bool:
    """Whether team setup has been run on the database (PostgreSQL only): asked once per session."""
    found = session.info.get(_TEAM)
    if found is None:
        found = session.get_bind().dialect.name == "postgresql" and bool(
            session.scalar(
                text("SELECT to_regprocedure(:name) IS NOT NULL"),
                {"name": f"{CHAIN_HEAD_FUNCTION}(timestamp without time zone)"},
            )
        )
        session.info[_TEAM] = found
    return found


def reads_everything(session: Session) -> bool:
    """Whether this session reads every row and event: always, but on a team database as a
    role below ``tracker_confidential``, which row-level security shows only some evidence
    (:mod:`tracker.team`). Asked once per session."""
    found = session.info.get(_READS_ALL)
    if found is None:
        found = not on_team_database(session) or bool(session.scalar(text(f"SELECT {READER_LEVEL_FUNCTION}() >= 2")))
        session.info[_READS_ALL] = found
    return found


def attachment_stored(session: Session, sha256: str) -> bool:
    """Whether the file with this sha256 is stored (an attachment of some evidence), even where
    row-level security hides that evidence, its file included, from this session: a file is
    stored once, however many pieces of evidence it is attached to."""
    if reads_everything(session) or not _installed(session, f"{ATTACHMENT_STORED_FUNCTION}(character varying)"):
        return session.get(Attachment, sha256) is not None
    return bool(session.scalar(text(f"SELECT {ATTACHMENT_STORED_FUNCTION}(:sha256)"), {"sha256": sha256}))


def _installed(session: Session, signature: str) -> bool:
    """Whether the function of ``signature`` is on the database (asked once per session)."""
    known: dict[str, bool] = session.info.setdefault("tracker.audit.chain.functions", {})
    if signature not in known:
        known[signature] = bool(session.scalar(text("SELECT to_regprocedure(:name) IS NOT NULL"), {"name": signature}))
    return known[signature]


def chain_head(session: Session, as_of: datetime | None = None) -> ChainHead | None:
    """The chain's last event (known at ``as_of``, if given), None for an empty chain.

    On a team database row-level security may hide the last event from this role (it records
    evidence above its level): the head comes from :data:`CHAIN_HEAD_FUNCTION`, which reads
    every event, so that a writer appends after the true last event and a reader's report has
    the fingerprint anyone else's has.
    """
    if on_team_database(session):
        served = (
            text(f"SELECT seq, hash, recorded_at FROM {CHAIN_HEAD_FUNCTION}(:as_of)")
            .bindparams(bindparam("as_of", type_=UTCDateTime()))
            .columns(seq=Integer(), hash=String(), recorded_at=UTCDateTime())
        )
        found = session.execute(served, {"as_of": as_of}).first()
        return None if found is None else ChainHead(found.seq, found.hash, found.recorded_at)
    query = select(Event.seq, Event.hash, Event.recorded_at).order_by(Event.seq.desc()).limit(1)
    if as_of is not None:
        query = query.where(known_at(session, Event) <= as_of)
    last = session.execute(query).first()
    return None if last is None else ChainHead(last.seq, last.hash, last.recorded_at)


def last_event(session: Session, as_of: datetime | None = None) -> Event | None:
    """The last event of the chain (known at ``as_of``, if given: see :func:`tracker.audit.asof.known_at`).

    On a team database whose last event this role may not read (:func:`chain_head`), an
    :class:`Event` that holds only its ``seq``, ``hash`` and ``recorded_at`` (not added to the
    session).
    """
    if not on_team_database(session):
        query = select(Event).order_by(Event.seq.desc()).limit(1)
        if as_of is not None:
            query = query.where(known_at(session, Event) <= as_of)
        return session.scalars(query).first()
    head = chain_head(session, as_of)
    if head is None:
        return None
    readable = session.scalars(select(Event).where(Event.seq == head.seq)).first()
    return readable if readable is not None else Event(seq=head.seq, hash=head.hash, recorded_at=head.recorded_at)
