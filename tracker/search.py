"""Search: evidence, status notes and measurement notes by their text, ranked.

The database's own index answers (:mod:`tracker.store.search_index`, kept by triggers in the
same transaction as the rows): on SQLite an FTS5 trigram index ranked by ``bm25`` (a match in
the title weighs 3, in the source name 2, in the summary, a note or the URL 1); on
PostgreSQL a ``pg_trgm`` GIN index that ``ILIKE`` uses, ranked by twice the text's
``word_similarity`` with the title plus its ``similarity`` with all the record's texts (so
matches in titles, and in short records, come first).

The text is split into words; a record matches when each word is a substring of one of its
texts (case aside): evidence's title, summary, source name or URL, a status note, a
measurement note. The index finds sequences of 3 characters, so at least one word must
have 3 or more; shorter words are matched beside those, in the candidates the longer words
found. Results show what records are now, corrections applied (:mod:`tracker.corrections`),
and a record matches by those values: the filters read the corrected values, as ``tracker
evidence list`` does (SQL narrows the candidates by the stored values, corrected records
always among them, then each is judged as corrected). Evidence above the audience, judged
as the reports judge it (its corrected sensitivity, or higher when a correction known later
raised it), never appears; retracted evidence, and withdrawn assessments and measurements,
only with ``include_retracted``. Status notes and measurement notes carry no sensitivity and
are shown to every audience, as in the reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, exists, func, literal_column, or_, select, table
from sqlalchemy import column as sql_column
from sqlalchemy.orm import Session

from tracker import clock, corrections, queries, validation
from tracker.errors import InputError
from tracker.periods import Quarter, parse_date
from tracker.store import search_index
from tracker.store.models import (
    Correction,
    Evidence,
    EvidenceLink,
    EvidenceRetraction,
    Indicator,
    Measurement,
    StatusUpdate,
)
from tracker.vocab import EvidenceKind, Sensitivity

STATUS, MEASUREMENT, EVIDENCE = "status", "measurement", "evidence"
KINDS = (*(kind.value for kind in EvidenceKind), STATUS, MEASUREMENT, EVIDENCE)
"""What ``--kind`` takes: an evidence kind, ``status`` (status notes), ``measurement``
(measurement notes), or ``evidence`` (every kind of evidence)."""

MIN_WORD = 3  # the index is of 3-character sequences
MAX_TEXT = 500
DEFAULT_LIMIT = 20
MAX_LIMIT = 10_000
FRAGMENT_WIDTH = 56  # characters of text around the first match, ellipses aside
WEIGHTS = (3.0, 1.0, 2.0, 1.0)  # bm25: title, summary or note, source name, URL

_TARGETS = {EVIDENCE: "evidence", STATUS: "status_update", MEASUREMENT: "measurement"}
_RECORDS = {"evidence": "evidence", "status_update": "status", "measurement": "measurement"}  # history's RECORD
_CODES = {code: target for target, code in search_index.ROWID_CODES.items()}


@dataclass(frozen=True)
class Query:
    """A search, checked: what :func:`search` looks for."""

    text: str
    words: tuple[str, ...]
    kinds: frozenset[str]  # the targets searched: evidence, status_update, measurement
    evidence_kind: EvidenceKind | None = None
    rec: str | None = None
    start: date | None = None  # inclusive
    end: date | None = None  # exclusive
    audience: Sensitivity = Sensitivity.INTERNAL
    include_retracted: bool = False
    limit: int = DEFAULT_LIMIT

    @property
    def indexed(self) -> tuple[str, ...]:
        """The words the index can find (3 characters or more)."""
        return tuple(word for word in self.words if len(word) >= MIN_WORD)


def parse(
    text: str | None,
    *,
    kind: str | None = None,
    rec: str | None = None,
    quarter: str | None = None,
    since: str | None = None,
    until: str | None = None,
    audience: str | None = None,
    include_retracted: bool = False,
    limit: str | int | None = None,
) -> Query:
    """A search from the command line's values; :class:`InputError` for anything invalid (an
    option given an empty value included: it is refused, never read as "no filter")."""
    for value, option in (
        (kind, "--kind"),
        (rec, "--rec"),
        (quarter, "--quarter"),
        (since, "--from"),
        (until, "--to"),
        (audience, "--audience"),
    ):
        if value is not None and not value.strip():
            raise InputError(f"{option} is empty: give a value, or leave the option out")
    if text is None or not text.strip():
        raise InputError("the search text is empty: give a word of 3 or more characters")
    text = validation.text(text, "search text", max_length=MAX_TEXT)
    words = tuple(dict.fromkeys(text.split()))
    if not any(len(word) >= MIN_WORD for word in words):
        raise InputError(
            f"search text {text!r} has no word of {MIN_WORD} or more characters: the index finds sequences of "
            f"{MIN_WORD} characters; give a longer word (shorter ones are matched beside it)"
        )
    kinds, evidence_kind = frozenset(_TARGETS.values()), None
    if kind is not None:
        name = kind.strip()
        if name not in KINDS:
            raise InputError(f"unknown --kind {kind!r}: use one of {', '.join(KINDS)}")
        if name in _TARGETS:
            kinds = frozenset({_TARGETS[name]})
        else:
            kinds, evidence_kind = frozenset({"evidence"}), EvidenceKind(name)
    start, end = _period(quarter, since, until)
    return Query(
        text=text,
        words=words,
        kinds=kinds,
        evidence_kind=evidence_kind,
        rec=rec.strip() if rec is not None else None,
        start=start,
        end=end,
        audience=Sensitivity.INTERNAL if audience is None else validation.choice(audience, Sensitivity, "--audience"),
        include_retracted=include_retracted,
        limit=DEFAULT_LIMIT if limit is None else validation.count(str(limit), "--limit", maximum=MAX_LIMIT),
    )


def _period(quarter: str | None, since: str | None, until: str | None) -> tuple[date | None, date | None]:
    """[start, end) of the dates a record must fall in (None: open)."""
    if quarter is not None:
        if since is not None or until is not None:
            raise InputError("--quarter cannot be combined with --from or --to: give one or the other")
        period = Quarter.parse(quarter)
        return period.start, period.end
    start = parse_date(since, field="--from", allow_future=True) if since is not None else None
    last = parse_date(until, field="--to", allow_future=True) if until is not None else None
    if start is not None and last is not None and last < start:
        raise InputError(f"--to {until!r} is before --from {since!r}: give a period that ends after it starts")
    return start, None if last is None else date.fromordinal(last.toordinal() + 1)


@dataclass(frozen=True)
class Hit:
    """One record found: what it is now, and where the words are in it."""

    kind: str  # the evidence's kind, or status, or measurement
    record: str  # as ``tracker history`` names it: evidence/12, status/3, measurement/7
    id: int
    refs: tuple[str, ...]
    date: date
    title: str
    field: str  # the text the fragment is from: title, summary, source_name, url, note
    fragment: str
    highlights: tuple[tuple[int, int], ...]  # [start, end) of each match in the fragment
    score: float  # higher ranks first; comparable within one search only
    sensitivity: str | None = None  # evidence only
    retracted: bool = False  # evidence retracted, or an assessment or a measurement withdrawn
    quarter: str | None = None  # measurements only

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "kind": self.kind,
            "record": self.record,
            "id": self.id,
            "refs": list(self.refs),
            "date": self.date.isoformat(),
            "title": self.title,
            "field": self.field,
            "fragment": self.fragment,
            "highlights": [list(span) for span in self.highlights],
            "score": self.score,
            "retracted": self.retracted,
        }
        if self.sensitivity is not None:
            found["sensitivity"] = self.sensitivity
        if self.quarter is not None:
            found["quarter"] = self.quarter
        return found


def search(session: Session, query: Query) -> list[Hit]:
    """The records that match ``query``, best first, at most ``query.limit``."""
    rec_id = queries.resolve_ref(session, query.rec).id if query.rec is not None else None
    judge = _Judge(session, query, rec_id)
    hits: list[Hit] = []
    judged: set[tuple[Any, int]] = set()
    offset, window, narrowed = 0, 2 * query.limit + 10, False
    while len(hits) < query.limit:
        # The next window of candidates, best first; most searches need one. When it leaves
        # too few, SQL also narrows by the stored sensitivity and retraction (which cost a
        # lookup of every match's evidence row, too much to pay at first) and starts again
        # from the best, leaving out what was judged: those rank below every candidate judged.
        statement = _candidates(session, query, rec_id, narrowed=narrowed)
        batch = session.execute(statement.offset(offset).limit(window)).all()
        fresh = [(code, record_id, score) for code, record_id, score in batch if (code, record_id) not in judged]
        judged.update((code, record_id) for code, record_id, _score in fresh)
        hits.extend(judge.hits([(_CODES.get(code, code), record_id, score) for code, record_id, score in fresh]))
        if len(batch) < window:
            break
        offset = 0 if not narrowed else offset + len(batch)
        window, narrowed = window * 4, True
    return hits[: query.limit]


# Candidates: the index, narrowed by the stored values -------------------------------------------------


def _candidates(session: Session, query: Query, rec_id: int | None, *, narrowed: bool = False):
    """SELECT (target or its code, record id, score) of the records whose texts hold the words, best
    first; ``narrowed``: evidence the audience may not see or that was retracted left out too."""
    target: ColumnElement[Any]
    record: ColumnElement[Any]
    matched: ColumnElement[bool]
    kinds: list[Any]  # the targets wanted, as the index names them (SQLite: by their codes)
    evidence: Any
    order: tuple[Any, ...]
    if session.get_bind().dialect.name == "sqlite":
        index = table(search_index.TABLE, sql_column("rowid", Integer))
        whole: ColumnElement[Any] = literal_column(search_index.TABLE)
        target = literal_column(f"{search_index.TABLE}.rowid % 4", Integer)
        record = literal_column(f"{search_index.TABLE}.rowid / 4", Integer)
        rank = func.bm25(whole, *WEIGHTS)
        matched = whole.op("MATCH")(" ".join('"' + word.replace('"', '""') + '"' for word in query.indexed))
        texts: list[ColumnElement[Any]] = [
            literal_column(f"{search_index.TABLE}.{name}") for name in search_index.COLUMNS
        ]
        for word in query.words:  # those the index cannot find (too short), in the texts of its matches
            if len(word) < MIN_WORD:
                matched = and_(matched, or_(*(func.instr(func.lower(text), word.lower()) > 0 for text in texts)))
        kinds = [search_index.ROWID_CODES[name] for name in sorted(query.kinds)]
        evidence = search_index.ROWID_CODES["evidence"]
        statement = select(target, record, -rank).select_from(index).where(matched)
        order = (rank, index.c.rowid)
    else:
        index = table(
            search_index.TABLE,
            sql_column("target"),
            sql_column("record_id"),
            sql_column("title"),
            sql_column("document"),
        )
        target, record = index.c.target, index.c.record_id
        score = 2 * func.word_similarity(query.text, func.coalesce(index.c.title, "")) + func.similarity(
            query.text, index.c.document
        )
        matched = and_(*(index.c.document.ilike(f"%{_escaped(word)}%", escape="\\") for word in query.words))
        kinds, evidence = sorted(query.kinds), "evidence"
        statement = select(target, record, score).select_from(index).where(matched)
        order = (score.desc(), target, record)
    if len(kinds) < len(search_index.ROWID_CODES):
        statement = statement.where(target.in_(kinds))
    if "evidence" not in query.kinds:
        return statement.order_by(*order)
    stored = _stored_evidence(query, record, rec_id, narrowed=narrowed)
    if stored is not None:  # what corrections changed is judged by its corrected values only
        corrected = record.in_(select(Correction.record_id).where(Correction.target.in_(("evidence", "evidence_link"))))
        statement = statement.where(or_(target != evidence, corrected, stored))
    if narrowed and not query.include_retracted:  # (a retraction is never undone)
        retracted = exists().where(EvidenceRetraction.evidence_id == record)
        statement = statement.where(or_(target != evidence, ~retracted))
    return statement.order_by(*order)


def _stored_evidence(
    query: Query, record: ColumnElement[Any], rec_id: int | None, *, narrowed: bool
) -> ColumnElement[bool] | None:
    """Whether the candidate's stored evidence row passes the filters (None: no filter to apply);
    ``narrowed``: its stored sensitivity too."""
    conditions: list[ColumnElement[bool]] = []
    if narrowed and query.audience != Sensitivity.CONFIDENTIAL:
        conditions.append(
            Evidence.sensitivity.in_([level for level in Sensitivity if level.rank <= query.audience.rank])
        )
    if query.evidence_kind is not None:
        conditions.append(Evidence.kind == query.evidence_kind)
    if query.start is not None:
        conditions.append(Evidence.observed_on >= query.start)
    if query.end is not None:
        conditions.append(Evidence.observed_on < query.end)
    if rec_id is not None:
        conditions.append(
            exists().where(EvidenceLink.evidence_id == Evidence.id, EvidenceLink.recommendation_id == rec_id)
        )
    if not conditions:
        return None
    return exists().where(Evidence.id == record, *conditions)


def _escaped(word: str) -> str:
    """A word for ILIKE, its wildcards taken literally."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Judging: each candidate as it is now ------------------------------------------------------------------


class _Judge:
    """Each candidate as corrected, against every filter; the ones that pass, as hits."""

    def __init__(self, session: Session, query: Query, rec_id: int | None) -> None:
        self.session, self.query, self.rec_id = session, query, rec_id
        self.fixes = corrections.as_of(session, clock.now())
        self.refs = queries.refs_by_id(session)
        self.pattern = pattern_of(query.words)
        self.words = [re.compile(re.escape(word), re.IGNORECASE) for word in query.words]

    def hits(self, candidates: Sequence[tuple[str, int, float]]) -> list[Hit]:
        by_target: dict[str, list[int]] = {}
        for target, record_id, _score in candidates:
            by_target.setdefault(target, []).append(record_id)
        found: dict[tuple[str, int], Hit] = {}
        for target, ids in by_target.items():
            make = {"evidence": self._evidence, "status_update": self._statuses, "measurement": self._measurements}
            for record_id, hit in make[target](ids):
                found[(target, record_id)] = hit
        ranked = []
        for target, record_id, score in candidates:
            judged = found.get((target, record_id))
            if judged is not None:
                ranked.append(_scored(judged, score))
        return ranked

    def _in_period(self, day: date) -> bool:
        return (self.query.start is None or day >= self.query.start) and (
            self.query.end is None or day < self.query.end
        )

    def _evidence(self, ids: list[int]) -> Iterable[tuple[int, Hit]]:
        query, fixes = self.query, self.fixes
        rows = self.session.scalars(select(Evidence).where(Evidence.id.in_(ids))).all()
        retracted = set(
            self.session.scalars(select(EvidenceRetraction.evidence_id).where(EvidenceRetraction.evidence_id.in_(ids)))
        )
        links = queries.evidence_links(self.session, ids, fixes)
        for row in rows:
            values = fixes.apply("evidence", (row.id,), corrections.values_of(row, "evidence"))
            level = fixes.sensitivity(row.id, values["sensitivity"])
            linked = links.get(row.id, {})
            if (
                level.rank > query.audience.rank
                or (row.id in retracted and not query.include_retracted)
                or (query.evidence_kind is not None and values["kind"] != query.evidence_kind)
                or not self._in_period(values["observed_on"])
                or (self.rec_id is not None and self.rec_id not in linked)
            ):
                continue
            texts = {name: values[name] for name in ("title", "summary", "source_name", "url")}
            place = self._place(texts)
            if place is None:
                continue
            yield (
                row.id,
                Hit(
                    kind=values["kind"].value,
                    record=f"evidence/{row.id}",
                    id=row.id,
                    refs=tuple(sorted(self.refs[rec_id] for rec_id in linked)),
                    date=values["observed_on"],
                    title=values["title"],
                    sensitivity=level.value,
                    retracted=row.id in retracted,
                    score=0.0,
                    **place,
                ),
            )

    def _statuses(self, ids: list[int]) -> Iterable[tuple[int, Hit]]:
        withdrawn = {key[0] for key in self.fixes.withdrawn("status_update")}
        for row in self.session.scalars(select(StatusUpdate).where(StatusUpdate.id.in_(ids))):
            if (row.id in withdrawn and not self.query.include_retracted) or not self._in_period(row.effective_on):
                continue
            if self.rec_id is not None and row.recommendation_id != self.rec_id:
                continue
            place = self._place({"note": row.note})
            if place is not None:
                yield (
                    row.id,
                    Hit(
                        kind=STATUS,
                        record=f"status/{row.id}",
                        id=row.id,
                        refs=(self.refs[row.recommendation_id],),
                        date=row.effective_on,
                        title=row.status.value,
                        retracted=row.id in withdrawn,
                        score=0.0,
                        **place,
                    ),
                )

    def _measurements(self, ids: list[int]) -> Iterable[tuple[int, Hit]]:
        withdrawn = {key[0] for key in self.fixes.withdrawn("measurement")}
        rows = self.session.execute(
            select(Measurement, Indicator.code, Indicator.recommendation_id)
            .join(Indicator, Indicator.id == Measurement.indicator_id)
            .where(Measurement.id.in_(ids))
        )
        for row, code, rec_id in rows:
            if (row.id in withdrawn and not self.query.include_retracted) or not self._in_period(row.quarter_start):
                continue
            if self.rec_id is not None and rec_id != self.rec_id:
                continue
            place = self._place({"note": row.note})
            if place is not None:
                quarter = str(Quarter.containing(row.quarter_start))
                yield (
                    row.id,
                    Hit(
                        kind=MEASUREMENT,
                        record=f"measurement/{row.id}",
                        id=row.id,
                        refs=(self.refs[rec_id],),
                        date=row.quarter_start,
                        title=f"{code} {quarter}: {corrections.shown(row.value)}",
                        retracted=row.id in withdrawn,
                        quarter=quarter,
                        score=0.0,
                        **place,
                    ),
                )

    def _place(self, texts: dict[str, str | None]) -> dict[str, Any] | None:
        """Where the words are: the field that holds most of them (the first such, in order), its
        fragment and the matches in it; None unless every word is in some field."""
        present = {name: " ".join(value.split()) for name, value in texts.items() if value}
        if not all(any(word.search(value) for value in present.values()) for word in self.words):
            return None
        field = max(present, key=lambda name: sum(1 for word in self.words if word.search(present[name])))
        fragment, highlights = fragment_of(present[field], self.pattern)
        return {"field": field, "fragment": fragment, "highlights": highlights}


def pattern_of(words: Iterable[str]) -> re.Pattern[str]:
    """Any of ``words``, case aside (the longest first, where one holds another)."""
    return re.compile("|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)), re.IGNORECASE)


def fragment_of(text: str, pattern: re.Pattern[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """About :data:`FRAGMENT_WIDTH` characters of ``text`` around its first match of ``pattern``
    (an ellipsis where it is cut), and [start, end) of every whole match within them."""
    first = pattern.search(text)
    at = first.start() if first is not None else 0
    start = max(0, min(at - FRAGMENT_WIDTH // 3, len(text) - FRAGMENT_WIDTH))
    end = min(len(text), start + FRAGMENT_WIDTH)
    prefix, suffix = ("…" if start > 0 else ""), ("…" if end < len(text) else "")
    piece = text[start:end]
    spans = tuple((m.start() + len(prefix), m.end() + len(prefix)) for m in pattern.finditer(piece))
    return prefix + piece + suffix, spans


def _scored(hit: Hit, score: float) -> Hit:
    return replace(hit, score=float(f"{float(score):.6g}"))
