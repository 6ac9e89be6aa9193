"""JSON: the report as one document, for programs.

The keys are those of DESIGN.md's "The quarterly report", under a ``schema_version``;
values are written as they are (statuses by their stored names, dates ISO 8601, instants
UTC with a ``Z``), never as the wording the other formats use.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from tracker.clock import iso_utc

if TYPE_CHECKING:
    from tracker.reports import EnteredFor, QuarterlyReport, Timeline
    from tracker.reports.compare import AssessorLine, ComparedRecommendation
    from tracker.reports.editions import EditionsReport


def dumps(document: Any) -> str:
    """``json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)`` and a newline.

    The same bytes, written about twice as fast: with ``indent`` the standard library
    falls back to its pure-Python encoder, which is half of a large report's time. Only
    the types a report holds are written here (str keys; dicts, lists, str, int, float,
    bool, None); anything else goes to ``json.dumps`` itself.
    """
    try:
        return _indented(document)
    except _NotPlain:
        return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


class _NotPlain(Exception):
    pass


def _indented(document: Any) -> str:
    out: list[str] = []  # the pieces of the text since the last chunk
    chunks: list[str] = []  # joined a few thousand pieces at a time: a piece costs more than its text
    append, spell = out.append, json.encoder.encode_basestring

    def settle() -> None:
        if len(out) > _PIECES_PER_CHUNK:
            chunks.append("".join(out))
            out.clear()

    def write(value: Any, indent: str) -> None:
        kind = value.__class__
        if kind is str:
            append(spell(value))
        elif kind is dict:
            if not value:
                append("{}")
                return
            inner = indent + "  "
            separator = "{\n" + inner
            for key, item in value.items():
                if key.__class__ is not str:
                    raise _NotPlain
                append(separator)
                append(spell(key))
                append(": ")
                write(item, inner)
                separator = ",\n" + inner
                settle()
            append("\n" + indent + "}")
        elif kind is list:
            if not value:
                append("[]")
                return
            inner = indent + "  "
            separator = "[\n" + inner
            for item in value:
                append(separator)
                write(item, inner)
                separator = ",\n" + inner
                settle()
            append("\n" + indent + "]")
        elif value is None:
            append("null")
        elif value is True:
            append("true")
        elif value is False:
            append("false")
        elif kind is int:
            append(int.__repr__(value))
        elif kind is float and value == value and value not in (float("inf"), float("-inf")):
            append(float.__repr__(value))
        else:
            raise _NotPlain

    write(document, "")
    append("\n")
    chunks.append("".join(out))
    return "".join(chunks)


_PIECES_PER_CHUNK = 4_096


def _entered(entered: EnteredFor | None) -> dict[str, Any]:
    """``entered_for`` ({by, agency}) for an entry made on an agency's behalf; nothing otherwise
    (a database where nobody used --for writes the document it always wrote)."""
    return {} if entered is None else {"entered_for": {"by": entered.by, "agency": entered.agency}}


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


SCHEMA_VERSION = 4  # of the quarterly report's document; the README lists what each version added


def quarterly_document(report: QuarterlyReport) -> dict[str, Any]:
    """The JSON report: exactly the keys of DESIGN.md's "The quarterly report"."""
    s = report.summary
    return {
        "schema_version": SCHEMA_VERSION,
        "quarter": str(report.quarter),
        "period": {"start": report.start.isoformat(), "end": report.end.isoformat()},
        "as_of": iso_utc(report.header.as_of),
        "audience": report.header.audience.value,
        "fingerprint": report.header.fingerprint,
        "sources": [s.slug for s in report.header.sources],
        "sources_basis": report.header.basis,
        "summary": {
            "status_counts": {status.value: count for status, count in s.status_counts},
            "previous_status_counts": {status.value: count for status, count in s.previous_status_counts},
            "advanced": s.advanced,
            "regressed": s.regressed,
            "unchanged": s.unchanged,
            "evidence_count": s.evidence_count,
            "overdue": len(s.overdue),
        },
        "recommendations": [
            {
                "ref": r.ref,
                "code": r.code,
                "title": r.title,
                "pillar": r.pillar,
                "status": r.status.value,
                "previous_status": None if r.previous_status is None else r.previous_status.value,
                "change": r.change.value,
                "due_on": _iso(r.due_on),
                "overdue": r.overdue,
                "corrected": r.corrected,
                "carried_over_from": r.carried_over_from,
                "status_updates": [
                    {
                        "effective_on": c.effective_on.isoformat(),
                        "status": c.status.value,
                        "note": c.note,
                        "recorded_at": iso_utc(c.recorded_at),
                        "cites": [
                            {
                                "id": item.id,
                                "title": item.title,
                                "reliability": item.reliability.value,
                                "retracted": item.retracted,
                            }
                            for item in c.cites
                        ],
                        "cites_withheld": c.cites_withheld,
                        **_entered(c.entered),
                    }
                    for c in r.status_updates
                ],
                "evidence": [
                    {
                        "id": e.id,
                        "title": e.title,
                        "kind": e.kind.value,
                        "observed_on": e.observed_on.isoformat(),
                        "stance": e.stance.value,
                        "reliability": e.reliability.value,
                        "summary": e.summary,
                        "source_name": e.source_name,
                        "url": e.url,
                        "sensitivity": e.sensitivity.value,
                        "corrected": e.corrected,
                        **_entered(e.entered),
                    }
                    for e in r.evidence
                ],
                "indicators": [
                    {
                        "code": i.code,
                        "name": i.name,
                        "unit": i.unit,
                        "value": i.value,
                        "previous_value": i.previous_value,
                        "target": i.target,
                        "corrected": i.corrected,
                    }
                    for i in r.indicators
                ],
            }
            for r in report.recommendations
        ],
        "withheld": report.withheld,
        "corrections": [
            {
                "record": c.record,
                "changes": [{"field": f.field, "old": f.old, "new": f.new} for f in c.changes],
                "reason": c.reason,
                "recorded_at": iso_utc(c.recorded_at),
                "recorded_by": c.recorded_by,
            }
            for c in report.corrections
        ],
        # only when two assessors or more assess: a database without them writes what it always wrote
        **({} if report.compared is None else {"assessments_compared": compared_document(*report.compared)}),
    }


def quarterly(report: QuarterlyReport) -> str:
    """The quarterly report as a JSON document."""
    return dumps(quarterly_document(report))


TIMELINE_SCHEMA_VERSION = 3  # of the timeline's document


def timeline_document(timeline: Timeline) -> dict[str, Any]:
    """The JSON timeline: the range, its quarters and each recommendation's status at the end of each."""
    return {
        "schema_version": TIMELINE_SCHEMA_VERSION,
        "from": str(timeline.first),
        "to": str(timeline.last),
        "cut_from": None if timeline.cut_from is None else str(timeline.cut_from),
        "as_of": iso_utc(timeline.header.as_of),
        "audience": timeline.header.audience.value,
        "fingerprint": timeline.header.fingerprint,
        "sources": [s.slug for s in timeline.header.sources],
        "sources_basis": timeline.header.basis,
        "quarters": [str(q) for q in timeline.quarters],
        "recommendations": [
            {
                "ref": row.ref,
                "title": row.title,
                "pillar": row.pillar,
                "statuses": [
                    {
                        "quarter": str(c.quarter),
                        "status": None if c.status is None else c.status.value,
                        "changed": c.changed,
                    }
                    for c in row.cells
                ],
                "changed_in": [str(q) for q in row.changed_in],
            }
            for row in timeline.rows
        ],
    }


def timeline(timeline: Timeline) -> str:
    """The timeline as a JSON document."""
    return dumps(timeline_document(timeline))


def editions_document(report: EditionsReport) -> dict[str, Any]:
    """The JSON editions report: the header's keys as in the timeline's, then one entry per thread."""
    header = report.header
    return {
        "schema_version": 1,
        "kind": report.kind,
        "as_of": iso_utc(header.as_of),
        "status_on": report.on.isoformat(),
        "audience": header.audience.value,
        "fingerprint": header.fingerprint,
        "sources": [s.slug for s in header.sources],
        "sources_basis": header.basis,
        "series": list(report.series),
        "highlight_after": report.highlight_after,
        "threads": [
            {
                "ref": row.ref,
                "title": row.title,
                "series": row.series,
                "first_recommended": {"source": row.first_source, "published_on": row.first_published_on.isoformat()},
                "editions": list(row.editions),
                "repeated": row.repeated,
                "status": row.status.value,
                "carried_over_from": row.carried_over_from,
                "not_implemented_in": list(row.not_implemented_in),
                "highlighted": row.highlighted,
            }
            for row in report.threads
        ],
    }


def editions(report: EditionsReport) -> str:
    """The editions report as a JSON document."""
    return dumps(editions_document(report))


def compared_document(lines: tuple[AssessorLine, ...], rows: tuple[ComparedRecommendation, ...]) -> dict[str, Any]:
    """The JSON of the comparison: ``assessors`` and one entry per recommendation."""
    return {
        "assessors": [
            {"code": line.code, "name": line.name, "kind": line.kind or None, "default": line.default} for line in lines
        ],
        "recommendations": [
            {
                "ref": row.ref,
                "title": row.title,
                "differs": row.differs,
                "gap": row.gap,
                "assessments": [
                    {
                        "assessor": item.assessor,
                        "status": None if item.status is None else item.status.value,
                        "effective_on": None if item.effective_on is None else item.effective_on.isoformat(),
                        "note": item.note,
                        "cites": [
                            {"id": c.id, "title": c.title, "reliability": c.reliability.value, "retracted": c.retracted}
                            for c in item.cites
                        ],
                        "cites_withheld": item.cites_withheld,
                    }
                    for item in row.assessed
                ],
            }
            for row in rows
        ],
    }
