"""The audit chain: every write appends an event whose hash covers the one before it.

``hash = sha256(prev_hash + canonical JSON of the event)`` where the event is
``{"action", "actor", "payload", "recorded_at", "seq"}``. The payload lists every domain
row the write created (attachments by their sha256, never their bytes), so
:func:`verify` can check each stored row against the event that recorded it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from tracker import clock
from tracker.clock import iso_utc
from tracker.models import DOMAIN_TABLES, Attachment, Event

GENESIS = "0" * 64


def json_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical(document: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text, dates as ISO strings."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=json_value,
        allow_nan=False,
    )


def envelope(seq: int, recorded_at: str, actor: str, action: str, payload: str) -> str:
    """The canonical JSON of an event, built around its already canonical payload."""
    return (
        f'{{"action":{json.dumps(action, ensure_ascii=False)},'
        f'"actor":{json.dumps(actor, ensure_ascii=False)},'
        f'"payload":{payload},"recorded_at":"{recorded_at}","seq":{seq}}}'
    )


def event_hash(prev_hash: str, seq: int, recorded_at: str, actor: str, action: str, payload: str) -> str:
    text = prev_hash + envelope(seq, recorded_at, actor, action, payload)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def row_record(table: Table, row: Any) -> dict[str, Any]:
    """A row as the chain records it: every column but attachment content, JSON values."""
    values = row._mapping if hasattr(row, "_mapping") else None
    record = {}
    for column in table.columns:
        if column.name == "content":
            continue
        value = values[column.name] if values is not None else getattr(row, column.key)
        record[column.name] = json_value(value)
    return record


class Chain:
    """Appends events for one write transaction, in order, after the last stored one."""

    def __init__(self, session: Session, actor: str) -> None:
        self.session = session
        self.actor = actor
        last = session.execute(
            select(Event.seq, Event.hash, Event.recorded_at).order_by(Event.seq.desc()).limit(1)
        ).first()
        self.seq, self.hash = (last.seq, last.hash) if last else (0, GENESIS)
        moment = clock.now()
        # recorded_at never goes backwards along the chain, even if the clock does.
        self.recorded_at = max(moment, last.recorded_at) if last else moment

    def append(self, action: str, rows: Mapping[str, Iterable[Any]], **extra: Any) -> Event:
        """Record ``rows`` (ORM objects or row dicts, by table name) as one event."""
        tables = {table.name: table for table in DOMAIN_TABLES}
        payload: dict[str, Any] = dict(extra)
        payload["rows"] = {
            name: [row_record(tables[name], row) for row in items]
            for name, items in rows.items()
            if items
        }
        event = self.values(action, canonical(payload))
        self.session.add(Event(**event))
        return event

    def values(self, action: str, payload: str) -> dict[str, Any]:
        """The next event as a dict of column values (for bulk inserts)."""
        self.seq += 1
        stamp = iso_utc(self.recorded_at)
        digest = event_hash(self.hash, self.seq, stamp, self.actor, action, payload)
        event = {
            "seq": self.seq,
            "recorded_at": self.recorded_at,
            "actor": self.actor,
            "action": action,
            "payload": payload,
            "prev_hash": self.hash,
            "hash": digest,
        }
        self.hash = digest
        return event


def last_event(session: Session, as_of: datetime | None = None) -> Event | None:
    query = select(Event).order_by(Event.seq.desc()).limit(1)
    if as_of is not None:
        query = query.where(Event.recorded_at <= as_of)
    return session.scalars(query).first()


# Verification -------------------------------------------------------------------------


@dataclass
class Finding:
    """One thing wrong: the first bad event (by seq) or a row no event accounts for."""

    problem: str
    seq: int | None = None
    table: str | None = None
    key: str | None = None

    def describe(self) -> str:
        where = f"event {self.seq}" if self.seq is not None else ""
        if self.table:
            where = f"{where}, " if where else ""
            where += f"{self.table} row {self.key}"
        return f"{where}: {self.problem}"


@dataclass
class VerifyResult:
    events: int = 0
    rows: int = 0
    attachments: int = 0
    last_hash: str = GENESIS
    anchor: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "rows": self.rows,
            "attachments": self.attachments,
            "last_hash": self.last_hash,
            "anchor": self.anchor,
            "findings": [
                {"problem": f.problem, "seq": f.seq, "table": f.table, "key": f.key}
                for f in self.findings
            ],
        }


def _key(table: Table, record: Mapping[str, Any]) -> str:
    return "/".join(str(record[column.name]) for column in table.primary_key.columns)


def _events(session: Session) -> Iterator[tuple]:
    query = select(
        Event.seq, Event.recorded_at, Event.actor, Event.action, Event.payload, Event.prev_hash, Event.hash
    ).order_by(Event.seq)
    yield from session.execute(query.execution_options(yield_per=10_000))


def verify(session: Session, anchor: str | None = None) -> VerifyResult:
    """Recompute the chain, match every domain row to its event, check attachments."""
    result = VerifyResult(anchor=anchor)
    tables = {table.name: table for table in DOMAIN_TABLES}
    claimed: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {name: {} for name in tables}
    expected_prev = GENESIS
    previous_at = None
    anchor_seen = anchor is None
    chain_broken = False
    for seq, recorded_at, actor, action, payload, prev_hash, stored_hash in _events(session):
        result.events += 1
        if not chain_broken:
            problem = None
            if seq != result.events:
                problem = f"sequence gap: expected event {result.events}, found {seq}"
            elif prev_hash != expected_prev:
                problem = "prev_hash does not match the hash of the event before it"
            elif event_hash(prev_hash, seq, iso_utc(recorded_at), actor, action, payload) != stored_hash:
                problem = "hash does not match the event's content"
            elif previous_at is not None and recorded_at < previous_at:
                problem = "recorded_at goes backwards along the chain"
            if problem:
                result.findings.append(Finding(problem, seq=seq))
                chain_broken = True
        expected_prev = stored_hash
        previous_at = recorded_at
        result.last_hash = stored_hash
        if stored_hash == anchor:
            anchor_seen = True
        try:
            document = json.loads(payload)
        except ValueError:
            if not chain_broken:
                result.findings.append(Finding("payload is not valid JSON", seq=seq))
                chain_broken = True
            continue
        for name, records in (document.get("rows") or {}).items():
            table = tables.get(name)
            if table is None:
                continue
            for record in records:
                claimed[name][_key(table, record)] = (seq, record)
    if not anchor_seen:
        result.findings.append(
            Finding(f"anchor {anchor} is not in the chain: events were removed or rewritten")
        )
    row_findings: list[Finding] = []
    for name, table in tables.items():
        expected = claimed[name]
        columns = [column for column in table.columns if column.name != "content"]
        for row in session.execute(select(*columns).execution_options(yield_per=10_000)):
            result.rows += 1
            record = row_record(table, row)
            key = _key(table, record)
            entry = expected.pop(key, None)
            if entry is None:
                row_findings.append(Finding("no event recorded this row", table=name, key=key))
            elif entry[1] != record:
                fields = sorted(k for k in record if record.get(k) != entry[1].get(k))
                row_findings.append(
                    Finding(f"differs from what its event recorded ({', '.join(fields)})",
                            seq=entry[0], table=name, key=key)
                )
        for key, (seq, _record) in expected.items():
            row_findings.append(Finding("recorded by its event but missing", seq=seq, table=name, key=key))
    for sha256, content in session.execute(select(Attachment.sha256, Attachment.content)):
        result.attachments += 1
        if hashlib.sha256(content).hexdigest() != sha256:
            row_findings.append(Finding("content does not match its sha256", table="attachment", key=sha256))
    row_findings.sort(key=lambda f: (f.seq is None, f.seq or 0, f.table or "", f.key or ""))
    result.findings.extend(row_findings)
    return result
