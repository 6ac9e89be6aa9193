"""The audit record's one definition: canonical JSON, the event envelope, the hash, a row.

Every event of the chain is ``{"action", "actor", "payload", "recorded_at", "seq"}`` in
canonical JSON (sorted keys, no spaces, UTF-8, dates as ISO strings), and its hash is
``sha256(prev_hash + that text)``, the first event's ``prev_hash`` being :data:`GENESIS`.
The payload lists every domain row the write created, each spelled by :class:`Speller`
(every column but an attachment's content; files by their sha256).

The chain writer (:mod:`tracker.audit.chain`), the bulk importer, the full check
(:mod:`tracker.audit.verify`) and the quick pass (:mod:`tracker.audit.quick`) all use
what is defined here and nothing else. This module imports no SQLAlchemy: the quick
pass's second process starts from it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

GENESIS = "0" * 64
"""The ``prev_hash`` of the first event."""

INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# What verify checks, by name. Each verifier declares the ones it checks (a test keeps the
# quick pass's list equal to the full check's).
INVARIANTS = (
    "storage-intact",  # the database file passes SQLite's own check of its pages and indexes
    "schema-matches-migrations",  # tables, columns and indexes as the migrations made them; no trigger, no view
    "chain-linked",  # seq runs from 1 without gaps; each prev_hash is the hash before it
    "event-hash",  # each event's hash is the hash of its content
    "recorded-at-monotonic",  # recorded_at never goes backwards along the chain
    "payload-well-formed",  # each payload is a document of rows as tracker records them
    "row-matches-event",  # each row is what the event that recorded it says
    "row-recorded-once",  # no row is recorded by two events
    "row-stamped-by-its-event",  # a row's recorded_at is the recorded_at of the event that recorded it
    "no-row-without-event",  # every row was recorded by an event
    "no-event-row-missing",  # every row an event recorded is there
    "value-readable",  # every stored value reads back as its column's type
    "attachment-content",  # each file's content has its sha256
    "anchor-in-chain",  # an anchor given is the hash of an event of the chain
)


def iso_utc(moment: datetime) -> str:
    """A fixed-width UTC timestamp: ``2019-10-05T12:00:00.000000Z``."""
    return moment.astimezone(UTC).strftime(INSTANT_FORMAT)


def json_value(value: Any) -> Any:
    """A value as JSON holds it: vocabulary values as their strings, dates and instants as ISO text."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical(document: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text, dates as ISO strings; NaN and infinities refused."""
    return json.dumps(
        document,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=json_value,
        allow_nan=False,
    )


def envelope_head(action: str, actor: str) -> str:
    """The event's canonical text up to its payload."""
    return f'{{"action":{canonical(action)},"actor":{canonical(actor)},"payload":'


def envelope_tail(recorded_at: str, seq: int) -> str:
    """The event's canonical text after its payload (``recorded_at`` as :func:`iso_utc` spells it)."""
    return f',"recorded_at":"{recorded_at}","seq":{seq}}}'


def envelope(seq: int, recorded_at: str, actor: str, action: str, payload: str) -> str:
    """The canonical JSON of an event, built around its already canonical payload."""
    return envelope_head(action, actor) + payload + envelope_tail(recorded_at, seq)


def link_hash(prev_hash: str, head: str, payload: str, tail: str) -> str:
    """The hash of an event from the parts of its envelope (see :func:`event_hash`)."""
    return hashlib.sha256(f"{prev_hash}{head}{payload}{tail}".encode()).hexdigest()


def event_hash(prev_hash: str, seq: int, recorded_at: str, actor: str, action: str, payload: str) -> str:
    """``sha256(prev_hash + canonical JSON of the event)``."""
    return link_hash(prev_hash, envelope_head(action, actor), payload, envelope_tail(recorded_at, seq))


# A payload and the rows in it -------------------------------------------------------------


def payload_frame(extra: Mapping[str, Any]) -> tuple[str, str]:
    """A payload's text before and after its rows: ``extra``'s keys and ``"rows"``, sorted.

    ``head + '"table":[records],...' + tail`` is ``canonical({**extra, "rows": {...}})``.
    """
    keys = sorted([*extra, "rows"])
    parts = [f"{canonical(key)}:{canonical(extra[key])}" if key != "rows" else "\0" for key in keys]
    head, tail = ("{" + ",".join(parts) + "}").split("\0")
    return head + '"rows":{', "}" + tail


def payload_text(extra: Mapping[str, Any], records: Mapping[str, Sequence[str]]) -> str:
    """The payload recording ``records`` (each row's text, by table), with ``extra`` keys.

    Tables without rows are left out; tables come in order of their names.
    """
    head, tail = payload_frame(extra)
    body = ",".join(f"{canonical(name)}:[{','.join(records[name])}]" for name in sorted(records) if records[name])
    return head + body + tail


# Rows ---------------------------------------------------------------------------------------

# The kinds of column a row may have, as the chain records their values.
KINDS = ("text", "choice", "integer", "float", "bool", "date", "instant")


@dataclass(frozen=True)
class TableSpec:
    """What the audit record needs to know of a domain table (plain data, no SQLAlchemy).

    ``columns`` are in the table's order, without an attachment's ``content``; ``kinds``
    gives each column's kind (one of :data:`KINDS`); ``choices`` the values a vocabulary
    column may hold.
    """

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    kinds: Mapping[str, str]
    nullable: frozenset[str] = frozenset()
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    refs: Mapping[str, str] = field(default_factory=dict)  # column -> the table it refers to
    unordered: bool = False
    recorded_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """As JSON (for the quick pass's second process)."""
        return {
            "name": self.name,
            "columns": list(self.columns),
            "key": list(self.key),
            "kinds": dict(self.kinds),
            "nullable": sorted(self.nullable),
            "choices": {k: list(v) for k, v in self.choices.items()},
            "refs": dict(self.refs),
            "unordered": self.unordered,
            "recorded_at": self.recorded_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableSpec:
        return cls(
            name=data["name"],
            columns=tuple(data["columns"]),
            key=tuple(data["key"]),
            kinds=dict(data["kinds"]),
            nullable=frozenset(data["nullable"]),
            choices={k: tuple(v) for k, v in data["choices"].items()},
            refs=dict(data["refs"]),
            unordered=data["unordered"],
            recorded_at=data["recorded_at"],
        )


_quote: Callable[[str], str] = json.encoder.encode_basestring  # canonical's own, for text
_SPELLED: dict[Any, str] = {}  # dates and instants, which repeat: spelled once each


def spell(value: Any) -> str:
    """One value as :func:`canonical` spells it, by the quickest route for its type."""
    kind = value.__class__
    if kind is str:
        return _quote(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is date or kind is datetime:
        text = _SPELLED.get(value)
        if text is None:
            text = canonical(json_value(value))
            if len(_SPELLED) < 100_000:
                _SPELLED[value] = text
        return text
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        return float.__repr__(value)
    return canonical(json_value(value))


class Speller:
    """The canonical text of a table's rows: ``canonical`` of the row's values as a dict of
    JSON values, keys sorted, byte for byte, by one compiled expression per table.

    A row is given as a sequence of values in :attr:`TableSpec.columns` order (Python
    values: strings, numbers, dates, aware instants, vocabulary members). ``prepare``
    optionally turns each stored value into such a value first (the quick pass reads
    SQLite's raw values); it maps a column to a function.
    """

    def __init__(self, spec: TableSpec, prepare: Mapping[str, Callable[[Any], Any]] | None = None) -> None:
        self.spec = spec
        namespace: dict[str, Any] = {"quote": _quote, "spell": spell, "int_repr": int.__repr__}
        fields = []
        for name in sorted(spec.columns):
            value = f"v[{spec.columns.index(name)}]"
            if prepare and name in prepare:
                # a stored value's spelling, looked up by the stored value once it is known
                memo, slow = _memoized(prepare[name])
                namespace[f"m_{name}"], namespace[f"s_{name}"] = memo, slow
                fields.append(f'"{name}":{{m_{name}.get({value}) or s_{name}({value})}}')
                continue
            kind = spec.kinds[name]
            if kind in ("text", "choice"):
                spelled = f"(quote({value}) if {value}.__class__ is str else spell({value}))"
            elif kind == "integer":
                spelled = f"(int_repr({value}) if {value}.__class__ is int else spell({value}))"
            else:
                spelled = f"spell({value})"
            fields.append(f'"{name}":{{{spelled}}}')
        source = "def record(v):\n    return f'{{" + ",".join(fields) + "}}'\n"
        exec(compile(source, f"<record of {spec.name}>", "exec"), namespace)
        self.record: Callable[[Sequence[Any]], str] = namespace["record"]

    def records(self, rows: Iterable[Sequence[Any]]) -> list[str]:
        return [self.record(row) for row in rows]


# Distinct stored values remembered per column (a column of instants has nearly as many as rows).
_MEMO_LIMIT = 4096


def _memoized(prepare: Callable[[Any], Any]) -> tuple[dict[Any, str], Callable[[Any], str]]:
    """``spell(prepare(stored))``, remembered for the first distinct stored values: the dict
    to look a stored value up in, and the function that spells it (and remembers it) when it
    is not there. Only text is remembered: ``1``, ``1.0`` and ``True`` are one key to a dict,
    and ``prepare`` may read them differently. ``prepare`` may raise; nothing is remembered then."""
    memo: dict[Any, str] = {}

    def slow(stored: Any) -> str:
        text = spell(prepare(stored))
        if stored.__class__ is str and len(memo) < _MEMO_LIMIT:
            memo[stored] = text
        return text

    return memo, slow


# Reading recorded values back ---------------------------------------------------------------------


def read_recorded(spec: TableSpec, record: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A record parsed from a payload, as the row values it stands for (in column order), so
    that :class:`Speller` spells a stored row and the record that recorded it alike when
    they hold equal values; None when its fields are not the table's columns.

    JSON does not tell a whole float from an integer, nor a date from its ISO text: the
    column's kind does. A value that is not what its kind reads is kept as it is (and so
    spelled differently from any stored value).
    """
    if len(record) != len(spec.columns) or any(column not in record for column in spec.columns):
        return None
    values = []
    for column in spec.columns:
        value = record[column]
        kind = spec.kinds[column]
        if value is None:
            pass
        elif kind == "float" and value.__class__ is int:
            value = float(value)
        elif kind == "bool" and value.__class__ is int and value in (0, 1):
            value = bool(value)
        elif kind == "date" and value.__class__ is str:
            value = _read(value, date.fromisoformat, date.isoformat)
        elif kind == "instant" and value.__class__ is str:
            value = _read(value, _instant, iso_utc)
        values.append(value)
    return tuple(values)


def _instant(text: str) -> datetime:
    """An instant's text as :func:`iso_utc` spells it (``_read`` checks that it is): fromisoformat
    reads it quicker than strptime, and a trailing ``Z`` as UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("an instant without its Z")
    return moment


def _read(text: str, parse: Callable[[str], Any], spelled: Callable[[Any], str]) -> Any:
    """``parse(text)`` when ``text`` is exactly how that value is spelled, else ``text`` itself."""
    try:
        value = parse(text)
    except ValueError:
        return text
    return value if spelled(value) == text else text
