"""PDF: the HTML page (:mod:`tracker.render.html`), charts included, printed by WeasyPrint.

WeasyPrint is an optional extra (``pip install 'recommendation-compliance-tracker[pdf]'``):
without it, or without the Pango library it needs, rendering raises a :class:`TrackerError`
whose one line names the command that installs it. The page is printed with its print
styles (A4, a page break before each recommendation) and, on every page, a footer with the
audience, the as-of instant and the fingerprint and the page number. WeasyPrint fetches
nothing: the page holds everything it shows (inline SVG charts, inline styles), and any
address it would still try to load is refused.

The same report gives the same bytes on the same machine: the PDF's creation and
modification dates are the report's as-of instant (to the second; WeasyPrint otherwise
writes none), it gets no random file identifier, and nothing else in it depends on the
clock. What WeasyPrint does not let us fix: its version is written in the Producer entry,
and the fonts it embeds (subsets of those fontconfig finds) and its layout depend on the
installed fonts and on the versions of WeasyPrint and Pango, so another machine may write
other bytes for the same report. Compare PDFs by their text, or regenerate them on one
machine.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from tracker.clock import iso_utc
from tracker.errors import TrackerError
from tracker.render import html
from tracker.render.text import MARKINGS

if TYPE_CHECKING:
    from tracker.reports import Header, QuarterlyReport, Timeline
    from tracker.reports.editions import EditionsReport


def quarterly(report: QuarterlyReport) -> bytes:
    """The quarterly report's HTML page as a PDF."""
    return printed(html.quarterly(report), report.header)


def timeline(timeline: Timeline) -> bytes:
    """The timeline's HTML page as a PDF."""
    return printed(html.timeline(timeline), timeline.header)


def editions(report: EditionsReport) -> bytes:
    """The editions report's HTML page as a PDF."""
    return printed(html.editions(report), report.header)


def printed(page: str, header: Header) -> bytes:
    """``page`` printed to PDF, dated ``header``'s as-of instant, with its footer on every page."""
    weasyprint = load()
    document = weasyprint.HTML(string=page, url_fetcher=_refusing_fetcher(weasyprint)).render(
        stylesheets=[weasyprint.CSS(string=page_css(header), url_fetcher=_refusing_fetcher(weasyprint))]
    )
    stamp = header.as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    document.metadata.created = stamp
    document.metadata.modified = stamp
    return document.write_pdf()


def load() -> Any:
    """The weasyprint module, or the error that says how to install it."""
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: installed, but its Pango library is missing
        from tracker.render import find_format, missing_text

        detail = "" if isinstance(error, ImportError) else f" (it is installed but cannot load: {error})"
        raise TrackerError(missing_text(find_format("pdf")) + detail) from None
    return weasyprint


def page_css(header: Header) -> str:
    """The footer of every page: audience (and marking), as-of and fingerprint, page N of M."""
    marking = MARKINGS[header.audience]
    left = f"tracker {header.version} \u00b7 as of {iso_utc(header.as_of)} \u00b7 {header.audience.value} audience"
    if marking:
        left += f" \u00b7 {marking.split('.')[0]}"
    fingerprint = f"Fingerprint {header.fingerprint or 'none'}"
    return (
        "@page {\n"
        f"  @bottom-left {{ content: {_css_string(left)} '\\A' {_css_string(fingerprint)}; white-space: pre;"
        " font: 7pt sans-serif; color: #5b5b60; }\n"
        "  @bottom-right { content: 'page ' counter(page) ' of ' counter(pages); font: 7pt sans-serif;"
        " color: #5b5b60; }\n"
        "}\n"
    )


def _css_string(text: str) -> str:
    """``text`` as a CSS string: quotes, backslashes and line ends escaped."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\A ").replace("\r", "")
    return f"'{escaped}'"


def _refusing_fetcher(weasyprint: Any) -> Any:
    """A URL fetcher that fetches nothing (the page needs nothing from outside)."""

    def refuse(url: str, *_: Any, **__: Any) -> Any:
        raise ValueError(f"a report fetches nothing: {url[:80]}")

    base = getattr(weasyprint, "URLFetcher", None)
    if base is None:  # WeasyPrint before 68: a function
        return refuse

    class Refusing(base):  # type: ignore[misc, valid-type]
        def fetch(self, url: str, headers: Any = None) -> Any:
            return refuse(url)

    return Refusing()
