"""Assessments compared (:mod:`tracker.reports.compare`), in Markdown and JSON: alone
(``tracker report compare``) or as a section of the quarterly report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker.render.jsondoc import compared_document, dumps
from tracker.render.markdown import compared_lines, header_block
from tracker.render.text import header_lines, period_text

if TYPE_CHECKING:
    from tracker.reports.compare import Comparison

FORMATS = ("md", "json")
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


def render(comparison: Comparison, fmt: str) -> str:
    return json_text(comparison) if fmt == "json" else markdown(comparison)
