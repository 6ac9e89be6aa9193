"""Render a report (see :mod:`tracker.reports`) in one of the formats of :data:`REGISTRY`.

One module per format: :mod:`~tracker.render.markdown`, :mod:`~tracker.render.html`
(with :mod:`~tracker.render.charts`), :mod:`~tracker.render.jsondoc` and
:mod:`~tracker.render.csvfile`; the wording they share is in :mod:`~tracker.render.text`.
The registry below is the one list of formats: the ``--format`` help, its validation and
the choice of renderer all come from it.

Each format renders the same structure and adds nothing to it: what the audience may
not see was left out when the report was built. Output depends only on the report, so
the same report renders to the same bytes every time.

Importing this package is cheap, so that ``--help`` can read the registry: a format's
module (and with it :mod:`tracker.reports` and SQLAlchemy, Jinja2, matplotlib) is
imported when it first renders.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker.errors import InputError

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
    "neutralise",
    "render",
]


@dataclass(frozen=True)
class Format:
    """An output format: its ``--format`` name, what it is, its media type and file extension.

    ``module`` names the module of :mod:`tracker.render` that renders it, with a
    ``quarterly(report)``, a ``timeline(timeline)`` and an ``editions(report)`` function.
    """

    name: str
    description: str
    media_type: str
    extension: str
    module: str

    @property
    def quarterly(self) -> Callable[[QuarterlyReport], str]:
        return self._renderer().quarterly

    @property
    def timeline(self) -> Callable[[Timeline], str]:
        return self._renderer().timeline

    @property
    def editions(self) -> Callable[[EditionsReport], str]:
        return self._renderer().editions

    def render(self, report: QuarterlyReport | Timeline | EditionsReport) -> str:
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


REGISTRY: tuple[Format, ...] = (
    Format("md", "Markdown, to read or to paste into a document", "text/markdown", ".md", "markdown"),
    Format("html", "one self-contained page with charts, that prints well", "text/html", ".html", "html"),
    Format("json", "one JSON document, for programs", "application/json", ".json", "jsondoc"),
    Format("csv", "one row per recommendation, for spreadsheets", "text/csv", ".csv", "csvfile"),
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


def render(report: QuarterlyReport | Timeline | EditionsReport, fmt: str) -> str:
    """``report`` in the format named ``fmt`` (one of :func:`format_names`)."""
    return find_format(fmt).render(report)


_MOVED = {"neutralise": "csvfile", "attention_text": "text", "changes_text": "text"}

if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        """Names earlier code imported from here, from the module they live in now (imported on first use)."""
        if name in _MOVED:
            return getattr(importlib.import_module(f"{__name__}.{_MOVED[name]}"), name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
