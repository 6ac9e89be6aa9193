"""Render a report (see :mod:`tracker.reports`) in one of the formats of :data:`REGISTRY`.

One module per format: :mod:`~tracker.render.markdown`, :mod:`~tracker.render.html`
(with :mod:`~tracker.render.charts`), :mod:`~tracker.render.jsondoc` and
:mod:`~tracker.render.csvfile`; the wording they share is in :mod:`~tracker.render.text`.
The registry below is the one list of formats: the ``--format`` help, its validation and
the choice of renderer all come from it.

Each format renders the same structure and adds nothing to it: what the audience may
not see was left out when the report was built. Output depends only on the report, so
the same report renders to the same bytes every time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tracker.errors import InputError
from tracker.render import csvfile, html, jsondoc, markdown
from tracker.render.csvfile import neutralise
from tracker.render.text import attention_text, changes_text
from tracker.reports import QuarterlyReport, Timeline

__all__ = [
    "FORMATS", "REGISTRY", "Format", "attention_text", "changes_text", "check_format", "find_format",
    "format_help", "format_names", "neutralise", "render",
]


@dataclass(frozen=True)
class Format:
    """An output format: its ``--format`` name, what it is, its media type and file extension, its renderers."""

    name: str
    description: str
    media_type: str
    extension: str
    quarterly: Callable[[QuarterlyReport], str]
    timeline: Callable[[Timeline], str]

    def render(self, report: QuarterlyReport | Timeline) -> str:
        if isinstance(report, QuarterlyReport):
            return self.quarterly(report)
        return self.timeline(report)


REGISTRY: tuple[Format, ...] = (
    Format("md", "Markdown, to read or to paste into a document", "text/markdown", ".md",
           markdown.quarterly, markdown.timeline),
    Format("html", "one self-contained page with charts, that prints well", "text/html", ".html",
           html.quarterly, html.timeline),
    Format("json", "one JSON document, for programs", "application/json", ".json",
           jsondoc.quarterly, jsondoc.timeline),
    Format("csv", "one row per recommendation, for spreadsheets", "text/csv", ".csv",
           csvfile.quarterly, csvfile.timeline),
)
_BY_NAME = {f.name: f for f in REGISTRY}


def format_names() -> tuple[str, ...]:
    """The names ``--format`` accepts, the default (Markdown) first."""
    return tuple(_BY_NAME)


FORMATS = format_names()


def format_help() -> str:
    """The choices as a phrase for help and error messages: ``md, html, json or csv``."""
    *others, last = format_names()
    return f"{', '.join(others)} or {last}" if others else last


def find_format(value: str) -> Format:
    """The format named ``value`` (any case, spaces around it ignored), or an error that lists the choices."""
    chosen = _BY_NAME.get((value or "").strip().lower())
    if chosen is None:
        raise InputError(f"unknown --format {value!r}: use {format_help()}")
    return chosen


def check_format(value: str) -> str:
    """The name of the format named on the command line, or an error that lists the choices."""
    return find_format(value).name


def render(report: QuarterlyReport | Timeline, fmt: str) -> str:
    """``report`` in the format named ``fmt`` (one of :func:`format_names`)."""
    return find_format(fmt).render(report)
