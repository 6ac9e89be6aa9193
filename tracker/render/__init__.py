"""Render a report (see :mod:`tracker.reports`) in one of the formats of :data:`REGISTRY`.

One module per format: :mod:`~tracker.render.markdown`, :mod:`~tracker.render.html`
(with :mod:`~tracker.render.charts`), :mod:`~tracker.render.jsondoc`,
:mod:`~tracker.render.csvfile`, :mod:`~tracker.render.docx` (Word) and
:mod:`~tracker.render.pdf` (the HTML page through WeasyPrint, an optional extra); the
wording they share is in :mod:`~tracker.render.text`. The registry below is the one list
of formats: the ``--format`` help, its validation and the choice of renderer all come
from it. A *binary* format renders bytes (a file), the others text.

Each format renders the same structure and adds nothing to it: what the audience may
not see was left out when the report was built. Output depends only on the report, so
the same report renders to the same bytes every time.

Importing this package is cheap, so that ``--help`` can read the registry: a format's
module (and with it :mod:`tracker.reports` and SQLAlchemy, Jinja2, matplotlib) is
imported when it first renders (python-docx and WeasyPrint too).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker.errors import InputError, TrackerError

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from typing_extensions import TypeIs

    from tracker.render.csvfile import neutralise
    from tracker.render.text import attention_text, changes_text
    from tracker.reports import QuarterlyReport, Timeline
    from tracker.reports.editions import EditionsReport

__all__ = [
    "FORMATS",
    "REGISTRY",
    "Format",
    "attention_text",
    "changes_text",
    "check_format",
    "find_format",
    "format_help",
    "format_names",
    "missing_text",
    "neutralise",
    "render",
]


@dataclass(frozen=True)
class Format:
    """An output format: its ``--format`` name, what it is, its media type and file extension.

    ``module`` names the module of :mod:`tracker.render` that renders it, with a
    ``quarterly(report)``, a ``timeline(timeline)`` and an ``editions(report)`` function.
    A ``binary`` format's functions return bytes, the others' text. ``needs`` names the
    module it needs that is not a dependency of tracker, and ``extra`` the optional extra
    that installs it. ``attention``: the format shows the report's attention list (for
    those that do not, the report is made without reading the findings).
    """

    name: str
    description: str
    media_type: str
    extension: str
    module: str
    binary: bool = False
    needs: str | None = None
    extra: str | None = None
    attention: bool = True

    @property
    def quarterly(self) -> Callable[[QuarterlyReport], str | bytes]:
        return self._renderer().quarterly

    @property
    def timeline(self) -> Callable[[Timeline], str | bytes]:
        return self._renderer().timeline

    @property
    def editions(self) -> Callable[[EditionsReport], str | bytes]:
        return self._renderer().editions

    @property
    def missing(self) -> str | None:
        """What to install for this format, when what it needs is not installed (None: nothing),
        found without importing it."""
        if self.needs is None:
            return None
        try:
            found = importlib.util.find_spec(self.needs)
        except (ImportError, ValueError):  # a parent that is missing; a module loaded without a spec
            found = None
        return None if found is not None else missing_text(self)

    def render(self, report: QuarterlyReport | Timeline | EditionsReport) -> str | bytes:
        from tracker.render.text import is_quarterly

        if _is_editions(report):
            return self.editions(report)
        if is_quarterly(report):
            return self.quarterly(report)
        return self.timeline(report)

    def _renderer(self) -> ModuleType:
        return importlib.import_module(f"{__name__}.{self.module}")


def _is_editions(report: QuarterlyReport | Timeline | EditionsReport) -> TypeIs[EditionsReport]:
    """Whether ``report`` is the editions report, by its kind (reports are a layer above)."""
    return report.kind == "editions"


DISTRIBUTION = "recommendation-compliance-tracker"

REGISTRY: tuple[Format, ...] = (
    Format("md", "Markdown, to read or to paste into a document", "text/markdown", ".md", "markdown"),
    Format("html", "one self-contained page with charts, that prints well", "text/html", ".html", "html"),
    Format("json", "one JSON document, for programs", "application/json", ".json", "jsondoc", attention=False),
    Format("csv", "one row per recommendation, for spreadsheets", "text/csv", ".csv", "csvfile", attention=False),
    Format(
        "xlsx",
        "the CSV's table as an Excel workbook",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".xlsx",
        "workbook",
        binary=True,
        attention=False,
    ),
    Format(
        "docx",
        "a Word document with headings, tables and charts",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ".docx",
        "docx",
        binary=True,
    ),
    Format(
        "pdf",
        "the HTML page as a PDF (WeasyPrint, an optional extra)",
        "application/pdf",
        ".pdf",
        "pdf",
        binary=True,
        needs="weasyprint",
        extra="pdf",
    ),
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
    """The name of the format named on the command line, or an error that lists the choices;
    an error that says what to install when the format needs a library that is not installed."""
    chosen = find_format(value)
    if (missing := chosen.missing) is not None:
        raise TrackerError(missing)
    return chosen.name


def missing_text(fmt: Format) -> str:
    """The one line that says what ``fmt`` needs and the command that installs it."""
    install = f"pip install '{DISTRIBUTION}[{fmt.extra}]'" if fmt.extra else f"pip install {fmt.needs}"
    return f"--format {fmt.name} needs {fmt.needs}, which is not installed: {install}"


def render(report: QuarterlyReport | Timeline | EditionsReport, fmt: str) -> str | bytes:
    """``report`` in the format named ``fmt`` (one of :func:`format_names`): bytes for a
    binary format (``find_format(fmt).binary``), else text."""
    return find_format(fmt).render(report)


_MOVED = {"neutralise": "csvfile", "attention_text": "text", "changes_text": "text"}

if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        """Names earlier code imported from here, from the module they live in now (imported on first use)."""
        if name in _MOVED:
            return getattr(importlib.import_module(f"{__name__}.{_MOVED[name]}"), name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
