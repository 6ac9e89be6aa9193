"""Assessments compared (:mod:`tracker.reports.compare`), in Markdown, JSON and CSV: alone
(``tracker report compare``) or as a section of the quarterly report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker.render.jsondoc import compared_document, dumps
from tracker.render.markdown import compared_lines, header_block
from tracker.render.text import header_lines, period_text

if TYPE_CHECKING:
    from tracker.reports.compare import Comparison

FORMATS = ("md", "json", "csv")
"""The formats ``tracker report compare`` writes."""

SCHEMA_VERSION = 1


def markdown(comparison: Comparison) -> str:
    q = comparison.quarter
    period = ("Quarter", f"{q} ({period_text(q.start, q.end)})")
    out = header_block(f"Assessments compared {q}", comparison.header, header_lines(comparison.header, period))
    out += compared_lines(comparison.assessors, comparison.recommendations, "##")[2:]
    return "\n".join(out).rstrip("\n") + "\n"


def json_text(comparison: Comparison) -> str:
    from tracker.clock import iso_utc

    header = comparison.header
    q = comparison.quarter
    return dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "quarter": str(q),
            "period": {"start": q.start.isoformat(), "end": q.end.isoformat()},
            "as_of": iso_utc(header.as_of),
            "audience": header.audience.value,
            "fingerprint": header.fingerprint,
            "sources": [s.slug for s in header.sources],
            **compared_document(comparison.assessors, comparison.recommendations),
        }
    )


def csv_text(comparison: Comparison) -> str:
    """One row per recommendation and assessor (in the comparison's order): whether the
    assessors differ on it and by how many levels, then that assessor's status, since when,
    its note, the evidence it cites (ids) and how many citations are withheld."""
    from tracker.render.csvfile import ids_cell, table_text

    header = ["ref", "title", "differs", "gap", "assessor", "status", "effective_on", "note"]
    header += ["cited_evidence_ids", "cited_withheld"]
    rows = [
        [
            rec.ref,
            rec.title,
            "yes" if rec.differs else "no",
            rec.gap,
            item.assessor,
            "" if item.status is None else item.status.value,
            "" if item.effective_on is None else item.effective_on.isoformat(),
            item.note or "",
            ids_cell(cited.id for cited in item.cites),
            "" if item.cites_withheld is None else item.cites_withheld,
        ]
        for rec in comparison.recommendations
        for item in rec.assessed
    ]
    return table_text(header, rows)


def render(comparison: Comparison, fmt: str) -> str:
    if fmt == "csv":
        return csv_text(comparison)
    return json_text(comparison) if fmt == "json" else markdown(comparison)
