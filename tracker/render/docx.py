"""Word (.docx): the report as a document to edit, send or print, written with python-docx.

What it shows and how it says it are the Markdown's (:mod:`tracker.render.markdown`, with
the wording of :mod:`tracker.render.text`) and the HTML page's charts: a format adds
nothing, and what the audience may not see was left out when the report was built. In
Word's own terms: the title and sections are Heading 1 and 2, each recommendation a
Heading 3 that starts a new page, the parts of one a Heading 4 (the navigation pane and a
table of contents find them); tables have a header row that Word repeats on every page;
statuses are cells (or, within a sentence, runs) shaded in the colours of the HTML badges
(:data:`tracker.render.charts.STATUS_COLOURS`); charts are PNG images of the HTML page's
charts (the same data), drawn by matplotlib (:func:`tracker.render.charts.png`), their title as alt text;
every page's footer gives the tracker version, the as-of instant, the audience (and the
marking of an internal or confidential report), the fingerprint and the page number.

The same report gives the same bytes:

- the core properties (``docProps/core.xml``) are set from the report: created and
  modified are its as-of instant (to the second), revision 1, author "tracker";
- parts are numbered in the order the document uses them (``word/media/image1.png``...,
  relationship ids ``rId1``...), and images are PNG without a date or software chunk;
- python-docx saves through :mod:`zipfile`, which dates every entry with the current
  local time: :func:`fixed_zip` writes the archive again, entry by entry in the same
  order, each dated the as-of instant (UTC) with fixed attributes. Its bytes then depend
  only on the parts, and on the zlib that compresses them (the same on one machine; a
  different zlib, such as zlib-ng, may compress the same parts to other bytes).

python-docx is imported only when a document is rendered. It opens its template and sets
the page, the styles, the properties and the pictures through its public API; the
paragraphs and tables are written as WordprocessingML (:meth:`Writer.paragraph_xml`,
:meth:`Writer.table`), which is also how the document gets what python-docx has no API for
(cell and run shading, repeated header rows, rows kept on one page, hyperlinks, the page
number fields). Their styles are the template's (``Heading1``..., ``ListBullet``, ``Quote``,
``Footer``) and :data:`TABLE_STYLES`.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from tracker.clock import iso_utc
from tracker.render import charts, markdown
from tracker.render.charts import STATUS_COLOURS
from tracker.render.text import (
    MARKINGS,
    STATUS_SHORT,
    agencies_text,
    assessed_text,
    attention_text,
    change_text,
    changes_text,
    cites_text,
    corrected_mark,
    correction_text,
    due_text,
    empty_text,
    evidence_id,
    evidence_text,
    history_note,
    is_shortened,
    is_web_link,
    label,
    not_ended_text,
    noted,
    number,
    overdue_text,
    quarter_header_lines,
    reliability_text,
    shortened,
    sourced,
    timeline_header_lines,
    unissued_notice,
    withheld_text,
)
from tracker.vocab import Reliability, Status

if TYPE_CHECKING:
    from docx.document import Document

    from tracker.reports import Header, QuarterlyReport, RecommendationSection, StatusCounts, Timeline
    from tracker.reports.compare import AssessorLine, ComparedRecommendation
    from tracker.reports.editions import EditionsReport

# The HTML page's colours (templates/base.html), as Word writes them: RRGGBB.
MUTED, RULE, SOFT, WARN = "5B5B60", "D9D9DE", "F5F5F7", "9B2C1F"
ADVANCED = "2C7A4B"
LINK = "1F5F8B"
NOTE_RULE, NOTE_FILL = "E9A23B", "FFF8EC"
MARKING_FILL = "FDF1EF"
UNVERIFIED_FILL = "FFF6F4"
UNISSUED_FILL = "F0F0F0"
BADGE_TEXT = {status: "222222" if status == Status.NOT_STARTED else "FFFFFF" for status in Status}
MONO = "Courier New"

# A4 with 20 mm margins: the text is 170 mm wide.
PAGE_WIDTH_MM, PAGE_HEIGHT_MM, MARGIN_MM = 210, 297, 20
TEXT_WIDTH_MM = PAGE_WIDTH_MM - 2 * MARGIN_MM
TABLE_STYLES = {"TableText": ("Table Text", 9), "MatrixText": ("Matrix Text", 8)}  # id: name, size in points
QUARTERS_PER_TABLE = 8  # a wider timeline wraps: one table per 8 quarters, each with the recommendations
CHART_WIDTH_MM = {"status": 165.0, "indicator": 132.0}  # the status chart is drawn 7.5 in wide, an indicator's 6 in


# What goes into a paragraph or a cell -------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A piece of text and how it looks: ``colour`` the text's, ``fill`` a shade behind it
    (a status badge within a sentence), ``link`` an http(s) address it links to."""

    text: str
    bold: bool = False
    mono: bool = False
    colour: str | None = None
    fill: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, the shade of the whole cell, and its alignment."""

    spans: tuple[Span, ...]
    fill: str | None = None
    align: str = "left"  # left, right or center


Spans = Sequence[Span]


def flat(text: object) -> str:
    """Text on one line, white space collapsed (as the Markdown's ``inline``, unescaped), and
    what XML cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", " ".join(str(text).split()))


def plain(text: object, **looks: Any) -> Cell:
    return Cell((Span(flat(text), **looks),))


def right(text: str) -> Cell:
    return Cell((Span(text),), align="right")


def badge_span(status: Status, text: str | None = None) -> Span:
    """A status as a shaded run: its label (or ``text``) on the colour of its HTML badge."""
    return Span(f"\u00a0{label(status) if text is None else text}\u00a0", colour=BADGE_TEXT[status], fill=_hex(status))


def badge(status: Status, text: str | None = None, *, bold: bool = False, align: str = "left") -> Cell:
    """A status as a shaded cell, in the colour of its HTML badge."""
    spans = (Span(label(status) if text is None else text, bold=bold, colour=BADGE_TEXT[status]),)
    return Cell(spans, fill=_hex(status), align=align)


def code_spans(text: str, **looks: Any) -> list[Span]:
    """``text`` whose parts between backticks (commands) are set in a monospaced face."""
    return [Span(part, mono=bool(i % 2), **looks) for i, part in enumerate(flat(text).split("`")) if part]


def _hex(status: Status) -> str:
    return STATUS_COLOURS[status].lstrip("#").upper()


# The document ---------------------------------------------------------------------------------


class Writer:
    """A Word document under construction: A4, the report's properties and footer, the styles
    its tables use; paragraphs, headings, lists, tables and charts added in reading order.

    python-docx opens its template and sets the page, styles, properties and pictures; the
    paragraphs and tables are written as WordprocessingML (:meth:`paragraph_xml`,
    :meth:`table`) and parsed in one go, since building them element by element through
    python-docx takes about a millisecond a table cell (minutes for a large quarter)."""

    def __init__(self, header: Header, title: str) -> None:
        import docx

        self.header = header
        self.document: Document = docx.Document()
        self._body = self.document.element.body
        self._page()
        self._styles()
        self._properties(title)
        self._footer()

    # Setting up --------------------------------------------------------------------------

    def _page(self) -> None:
        from docx.shared import Mm

        section = self.document.sections[0]
        section.page_width, section.page_height = Mm(PAGE_WIDTH_MM), Mm(PAGE_HEIGHT_MM)
        section.left_margin = section.right_margin = Mm(MARGIN_MM)
        section.top_margin = section.bottom_margin = Mm(MARGIN_MM)
        section.header_distance = section.footer_distance = Mm(10)

    def _styles(self) -> None:
        from docx.enum.style import WD_STYLE_TYPE
        from docx.shared import Pt

        styles = self.document.styles
        normal = styles["Normal"]
        normal.font.size = Pt(10)
        normal.paragraph_format.space_after = Pt(4)
        for name, size in TABLE_STYLES.values():
            style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
            style.base_style = normal
            style.font.size = Pt(size)
            style.paragraph_format.space_before = style.paragraph_format.space_after = Pt(0)
        styles["Footer"].font.size = Pt(8)

    def _properties(self, title: str) -> None:
        """The core properties, all from the report: no clock, no user name, no host."""
        header = self.header
        marked = f"[{header.audience.value.upper()}] " if MARKINGS[header.audience] else ""
        as_of = header.as_of.astimezone(UTC).replace(microsecond=0)
        properties = self.document.core_properties
        properties.title = flat(marked + title)
        properties.subject = ""
        properties.author = "tracker"
        properties.last_modified_by = "tracker"
        properties.comments = generated_text(header)
        properties.category = f"{header.audience.value} audience"
        properties.keywords = ""
        properties.identifier = header.fingerprint or ""
        properties.language = "en"
        properties.revision = 1
        properties.created = as_of
        properties.modified = as_of

    def _footer(self) -> None:
        """Every page: version, as-of, audience, page N of M; the fingerprint; the marking."""
        header = self.header
        footer = self.document.sections[0].footer
        container = footer.part.element  # the footer's <w:ftr>; its template paragraph is replaced
        for blank in container.xpath("./w:p"):
            container.remove(blank)
        lines: list[list[Span | Field]] = [
            [
                Span(f"tracker {header.version} \u00b7 as of {iso_utc(header.as_of)} \u00b7 "),
                Span(f"{header.audience.value} audience", bold=True),
                Span(" \u00b7 page "),
                Field("PAGE"),
                Span(" of "),
                Field("NUMPAGES"),
            ],
            [Span("Fingerprint "), Span(header.fingerprint or "none", mono=True)],
        ]
        if marking := MARKINGS[header.audience]:
            lines.append([Span(marking, bold=True, colour=WARN)])
        for line in lines:
            container.append(_parse(self.paragraph_xml(line, style="Footer")))

    # Adding ------------------------------------------------------------------------------

    def _add(self, xml: str) -> None:
        """Add the paragraph or table ``xml`` at the end of the document."""
        self._body.insert_element_before(_parse(xml), "w:sectPr")

    def heading(self, text: str, level: int, *, new_page: bool = False) -> None:
        self._add(self.paragraph_xml([Span(flat(text))], style=f"Heading{level}", new_page=new_page))

    def paragraph(self, spans: Spans | str, *, style: str | None = None) -> None:
        self._add(self.paragraph_xml([Span(flat(spans))] if isinstance(spans, str) else spans, style=style))

    def boxed(self, spans: Spans | str, rule: str, fill: str, *, around: bool = False, centred: bool = False) -> None:
        """A paragraph shaded ``fill`` with a rule on its left (``around``: on every side), like
        the HTML page's notes and marking."""
        sides = ("top", "left", "bottom", "right") if around else ("left",)
        borders = "".join(f'<w:{side} w:val="single" w:sz="12" w:space="4" w:color="{rule}"/>' for side in sides)
        self._add(
            self.paragraph_xml(
                [Span(flat(spans))] if isinstance(spans, str) else spans,
                borders=borders,
                fill=fill,
                align="center" if centred else None,
            )
        )

    def marking(self) -> None:
        if marking := MARKINGS[self.header.audience]:
            self.boxed([Span(marking, bold=True, colour=WARN)], WARN, MARKING_FILL, around=True, centred=True)

    def bullets(self, items: Iterable[Spans | str]) -> None:
        for item in items:
            self.paragraph(item, style="ListBullet")

    def facts(self, lines: Sequence[tuple[str, Spans | str]], *, shaded: bool = False) -> None:
        """Names and values, two columns and no header row (the HTML page's definition lists)."""
        shade = SOFT if shaded else None
        rows = [
            [
                Cell((Span(name, bold=True, colour=MUTED),), shade),
                Cell(tuple([Span(flat(value))] if isinstance(value, str) else value), shade),
            ]
            for name, value in lines
        ]
        self.table([], rows, [32, TEXT_WIDTH_MM - 32], borders=False)

    def table(
        self,
        headers: Sequence[str],
        rows: Iterable[Sequence[Cell]],
        widths: Sequence[float],
        *,
        align: str = "",
        style: str = "TableText",
        borders: bool = True,
    ) -> None:
        """A table of ``widths`` (mm): ``headers`` as a shaded header row that repeats on each page
        (none when empty), each row kept on one page; ``align`` gives each header's alignment
        (``l``, ``r``, ``c``) as the Markdown's tables do; ``style`` is the id of one of
        :data:`TABLE_STYLES`, the cells' paragraph style."""
        twips = [round(width * 1440 / 25.4) for width in widths]
        parts = [
            f'<w:tbl {_NAMESPACES}><w:tblPr><w:tblW w:w="{sum(twips)}" w:type="dxa"/>{_borders(borders)}'
            '<w:tblLayout w:type="fixed"/><w:tblCellMar><w:left w:w="57" w:type="dxa"/>'
            '<w:right w:w="57" w:type="dxa"/></w:tblCellMar></w:tblPr><w:tblGrid>'
            + "".join(f'<w:gridCol w:w="{width}"/>' for width in twips)
            + "</w:tblGrid>"
        ]
        if headers:
            aligns = {"l": "left", "r": "right", "c": "center"}
            kinds = align or "l" * len(headers)
            titles = [Cell((Span(h, bold=True),), SOFT, aligns[a]) for h, a in zip(headers, kinds)]
            parts.append(self._row_xml(titles, twips, style, header=True))
        parts += [self._row_xml(cells, twips, style) for cells in rows]
        parts.append("</w:tbl>")
        self._add("".join(parts))
        self._add(f'<w:p {_NAMESPACES}><w:pPr><w:spacing w:after="0"/></w:pPr></w:p>')  # Word joins adjacent tables

    def _row_xml(self, cells: Sequence[Cell], twips: Sequence[int], style: str, *, header: bool = False) -> str:
        out = ["<w:tr><w:trPr><w:cantSplit/>", "<w:tblHeader/>" if header else "", "</w:trPr>"]
        for width, cell in zip(twips, cells):
            out.append(f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/>{_shading(cell.fill)}</w:tcPr>')
            out.append(self.paragraph_xml(cell.spans, style=style, align=cell.align, inner=True))
            out.append("</w:tc>")
        out.append("</w:tr>")
        return "".join(out)

    def paragraph_xml(
        self,
        spans: Sequence[Span | Field],
        *,
        style: str | None = None,
        new_page: bool = False,
        borders: str = "",
        fill: str | None = None,
        align: str | None = None,
        inner: bool = False,
    ) -> str:
        """A ``w:p`` of ``spans``: its properties in the order WordprocessingML fixes (Word
        refuses a document that breaks it), ``inner`` within an element that declares the
        namespaces already."""
        properties = (
            (f'<w:pStyle w:val="{style}"/>' if style else "")
            + ("<w:pageBreakBefore/>" if new_page else "")
            + (f"<w:pBdr>{borders}</w:pBdr>" if borders else "")
            + _shading(fill)
            + (f'<w:jc w:val="{align}"/>' if align and align != "left" else "")
        )
        return (
            f"<w:p{'' if inner else ' ' + _NAMESPACES}>"
            + (f"<w:pPr>{properties}</w:pPr>" if properties else "")
            + "".join(self._run_xml(span) for span in spans)
            + "</w:p>"
        )

    def _run_xml(self, span: Span | Field) -> str:
        if isinstance(span, Field):
            return f'<w:fldSimple w:instr="{span.instruction}"/>'
        if not span.text:
            return ""
        colour = LINK if span.link else span.colour
        properties = (
            (f'<w:rFonts w:ascii="{MONO}" w:hAnsi="{MONO}" w:cs="{MONO}"/>' if span.mono else "")
            + ("<w:b/>" if span.bold else "")
            + (f'<w:color w:val="{colour}"/>' if colour else "")
            + ('<w:u w:val="single"/>' if span.link else "")
            + _shading(span.fill)
        )
        run = (
            "<w:r>"
            + (f"<w:rPr>{properties}</w:rPr>" if properties else "")
            + ("<w:t>" if span.text.strip() == span.text and "  " not in span.text else '<w:t xml:space="preserve">')
            + f"{_text(span.text)}</w:t></w:r>"
        )
        if span.link:
            from docx.opc.constants import RELATIONSHIP_TYPE

            address = quote(span.link, safe=":/?#@!$&*+,;=%~-._")  # as the Markdown quotes it
            target = self.document.part.relate_to(address, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
            run = f"<w:hyperlink r:id={quoteattr(target)}>{run}</w:hyperlink>"
        return run

    def chart(self, chart: charts.Chart) -> None:
        """``chart`` as a PNG image in a paragraph of its own, its title as alt text."""
        from docx.shared import Mm

        kind = "status" if isinstance(chart, charts.StatusBars) else "indicator"
        self.document.add_picture(io.BytesIO(charts.png(chart)), width=Mm(CHART_WIDTH_MM[kind]))
        # the picture just added is the body's last; python-docx has no API for its alt text
        self._body.xpath(".//wp:docPr")[-1].set("descr", flat(chart.title))

    def save(self) -> bytes:
        """The document's bytes, the zip written again so that they depend only on the report."""
        buffer = io.BytesIO()
        self.document.save(buffer)
        return fixed_zip(buffer.getvalue(), self.header.as_of)


@dataclass(frozen=True)
class Field:
    """A field Word computes where it stands: ``PAGE``, ``NUMPAGES``."""

    instruction: str


_NAMESPACES = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
)
# What XML 1.0 cannot hold (text is checked on input, but a report renders whatever it is given).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _text(text: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", text))


def _parse(xml: str) -> Any:
    from docx.oxml import parse_xml

    return parse_xml(xml)


def _shading(fill: str | None) -> str:
    return f'<w:shd w:val="clear" w:color="auto" w:fill="{fill}"/>' if fill else ""


def _borders(ruled: bool) -> str:
    """A table's borders: thin rules between rows (the HTML page's), or none."""
    out = []
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        if ruled and side in ("top", "bottom", "insideH"):
            out.append(f'<w:{side} w:val="single" w:sz="4" w:space="0" w:color="{RULE}"/>')
        else:
            out.append(f'<w:{side} w:val="nil"/>')
    return f"<w:tblBorders>{''.join(out)}</w:tblBorders>"


def fixed_zip(data: bytes, when: datetime) -> bytes:
    """The zip archive ``data`` written again with the same entries in the same order, each
    dated ``when`` (UTC; 1980 at the earliest, the first date a zip can hold), with the same
    attributes whatever the system (Unix's, rw-r--r--); XML compressed with deflate at level 6,
    images (compressed already) stored."""
    moment = max(when.astimezone(UTC).timetuple()[:6], (1980, 1, 1, 0, 0, 0))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=moment)
            stored = entry.filename.lower().endswith((".png", ".jpeg", ".jpg"))
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the system: the attributes below are Unix's
            info.external_attr = 0o644 << 16  # rw-r--r-- (zipfile writes no entry without attributes)
            target.writestr(info, source.read(entry), compresslevel=6)
    return out.getvalue()


def generated_text(header: Header) -> str:
    """The HTML page's footer, in one sentence: what made the report, as of when, for whom."""
    return (
        f"Generated by tracker {header.version} as of {iso_utc(header.as_of)} for the {header.audience.value} "
        f"audience. Fingerprint {header.fingerprint or 'none'}."
    )


def closing(writer: Writer) -> None:
    """The end of every report, as the HTML page ends: how to get these bytes again and check them."""
    header = writer.header
    writer.paragraph(
        [
            Span(
                f"Generated by tracker {header.version} as of {iso_utc(header.as_of)} for the "
                f"{header.audience.value} audience. Fingerprint ",
                colour=MUTED,
            ),
            Span(header.fingerprint or "none", mono=True, colour=MUTED),
            Span(
                ": regenerate this report with the same database, arguments and --as-of to get these bytes again; ",
                colour=MUTED,
            ),
            Span("tracker verify --anchor FINGERPRINT", mono=True, colour=MUTED),
            Span(" checks the history it rests on.", colour=MUTED),
        ]
    )


def opening(writer: Writer, title: str, lines: Sequence[tuple[str, str]]) -> None:
    """Title, marking and the header every report opens with."""
    writer.heading(title, 1)
    writer.marking()
    writer.facts(
        [(name, [Span(flat(value), mono=name == "Fingerprint")]) for name, value in lines],
        shaded=True,
    )


def empty(writer: Writer, text: str) -> None:
    writer.boxed(code_spans(text, bold=True), MUTED, SOFT)


def history_table(writer: Writer, history: Sequence[StatusCounts]) -> None:
    writer.table(
        ["Quarter"] + [label(status) for status in Status] + ["total"],
        [
            [plain(h.quarter)]
            + [right(str(count)) for _, count in h.counts]
            + [right(str(sum(c for _, c in h.counts)))]
            for h in history
        ],
        [30] + [28] * len(Status) + [28],
        align="l" + "r" * (len(Status) + 1),
    )


def status_legend(intro: str, closing_text: str) -> list[Span]:
    """``intro``, each status's short code as its badge and its label, then ``closing_text``."""
    spans = [Span(intro + " ")]
    for i, status in enumerate(Status):
        spans += [
            badge_span(status, STATUS_SHORT[status]),
            Span(f" {label(status)}{',' if i < len(Status) - 1 else ';'} "),
        ]
    return spans + [Span(closing_text)]


# The quarterly report -------------------------------------------------------------------------


def quarterly(report: QuarterlyReport) -> bytes:
    """The quarterly report as a Word document."""
    from tracker.render import html

    q, s = report.quarter, report.summary
    title = f"Quarterly status report {q}"
    writer = Writer(report.header, title)
    opening(writer, title, quarter_header_lines(report))
    notes = [not_ended_text(report)] + [unissued_notice(src, str(q), report.end) for src in report.header.unissued]
    for note in notes:
        if note:
            writer.boxed(note, NOTE_RULE, NOTE_FILL)
    if text := empty_text(report):
        empty(writer, text)

    writer.heading("Summary", 2)
    previous = dict(s.previous_status_counts)
    writer.table(
        ["Status", f"End of {q.previous()}", f"End of {q}"],
        [[badge(status), right(str(previous[status])), right(str(count))] for status, count in s.status_counts]
        + [
            [
                plain("total", bold=True),
                Cell((Span(str(sum(previous.values())), bold=True),), align="right"),
                Cell((Span(str(sum(c for _, c in s.status_counts)), bold=True),), align="right"),
            ]
        ],
        [60, 35, 35],
        align="lrr",
    )
    writer.bullets([changes_text(report), evidence_text(report), overdue_text(report), withheld_text(report)])
    writer.chart(html.history_chart(report))

    writer.heading("Status changes in the quarter", 2)
    if report.changes:
        writer.table(
            ["Effective", "Recommendation", "From", "To", "Note", "Evidence cited"],
            [
                [
                    plain(c.effective_on.isoformat()),
                    plain(c.ref),
                    badge(c.previous),
                    badge(c.status),
                    plain(noted(c.note, c.entered)),
                    plain(cites_text(c, flat)),
                ]
                for c in report.changes
            ],
            [20, 33, 26, 26, 33, 32],
        )
    else:
        writer.paragraph(f"No status assessment took effect in {q}.")

    writer.heading("Needs attention", 2)
    if report.attention:
        writer.bullets(
            [Span(flat(item.ref), bold=True), Span(f" ({flat(item.title)}): {flat(attention_text(item))}")]
            for item in report.attention
        )
    elif report.recommendations:
        writer.paragraph("Nothing: every recommendation has evidence this quarter, none is overdue and none regressed.")
    else:
        writer.paragraph("Nothing: the report covers no recommendation.")

    if report.corrections:
        writer.heading(f"Corrections recorded in {q}", 2)
        writer.bullets(correction_text(line) for line in report.corrections)

    if report.compared is not None:
        compared(writer, *report.compared)

    trends = html.indicator_charts(report)
    if report.recommendations:
        writer.heading("Recommendations", 2, new_page=True)
    for position, section in enumerate(report.recommendations, 1):
        recommendation(writer, report, position, section, trends)

    writer.heading(
        f"Status at the end of each quarter, {report.history[0].quarter} to {q}",
        2,
        new_page=bool(report.recommendations),
    )
    if note := history_note(report.header, report.history):
        writer.paragraph(note)
    history_table(writer, report.history)
    closing(writer)
    return writer.save()


def compared(writer: Writer, lines: Sequence[AssessorLine], rows: Sequence[ComparedRecommendation]) -> None:
    """Assessments compared: each assessor's status per recommendation (badges), then where they differ."""
    writer.heading("Assessments compared", 2)
    writer.bullets(f"{line.name} ({line.code})" + (", the default" if line.default else "") for line in lines)
    column = (TEXT_WIDTH_MM - 40 - 14) / len(lines)
    writer.table(
        ["Recommendation", *(line.code for line in lines), "Gap"],
        (
            [
                plain(row.ref),
                *(plain("not assessed") if item.status is None else badge(item.status) for item in row.assessed),
                right(str(row.gap)),
            ]
            for row in rows
        ),
        [40, *(column for _ in lines), 14],
        align="l" * (len(lines) + 1) + "r",
    )
    writer.heading("Where they differ", 3)
    differing = [row for row in rows if row.differs]
    if not differing:
        writer.paragraph("The assessors agree on every recommendation they have both assessed.")
    for row in differing:
        writer.paragraph([Span(flat(row.ref), bold=True), Span(f": {flat(row.title)} (gap {row.gap})")])
        writer.bullets(assessed_text(item, flat) for item in row.assessed)


def recommendation(
    writer: Writer,
    report: QuarterlyReport,
    position: int,
    section: RecommendationSection,
    trends: dict[tuple[str, str], charts.IndicatorTrend],
) -> None:
    """One recommendation's part of the quarterly report, numbered ``position``, on a new page."""
    q = report.quarter
    writer.heading(f"{position}. {section.ref}: {section.title}{corrected_mark(section)}", 3, new_page=position > 1)
    for line in section.text.splitlines():
        if line.strip():
            writer.paragraph(line, style="Quote")
    text_label = "verbatim" if section.text_status == "verbatim" else "paraphrase"
    change_colour = {"advanced": ADVANCED, "regressed": WARN}.get(section.change.value)
    previous = (
        Span("not yet issued", colour=MUTED) if section.previous_status is None else badge_span(section.previous_status)
    )
    writer.facts(
        [
            ("Source", f"{section.source} (text {text_label})"),
            ("Pillar", section.pillar),
            ("Agencies", agencies_text(section)),
            (
                "Status",
                [
                    badge_span(section.status),
                    Span(f" at the end of {q}, "),
                    previous,
                    Span(f" at the end of {q.previous()}: "),
                    Span(flat(change_text(report, section)), bold=change_colour is not None, colour=change_colour),
                ],
            ),
            ("Due", [Span(flat(due_text(section)), bold=section.overdue, colour=WARN if section.overdue else None)]),
        ]
    )
    if section.status_updates:
        writer.heading("Assessments in the quarter", 4)
        writer.bullets(
            [
                Span(f"{c.effective_on.isoformat()}, "),
                badge_span(c.status),
                Span(f": {flat(noted(c.note, c.entered))} (evidence cited: {cites_text(c, flat)})"),
            ]
            for c in section.status_updates
        )
    writer.heading(f"Evidence observed in {q}", 4)
    if section.evidence:
        rows = []
        for e in section.evidence:
            unverified = e.reliability == Reliability.UNVERIFIED
            links = [Span("link", link=e.url)] if e.url and is_web_link(e.url) else [Span(flat(e.url))] if e.url else []
            for f in e.attachments:
                links += [Span("; " if links else ""), Span(f"file {flat(f.filename)}")]
            cells = [
                plain(evidence_id(e.id), mono=True),
                plain(e.observed_on.isoformat()),
                plain(e.kind.value.replace("_", " ")),
                plain(e.title + corrected_mark(e)),
                plain(reliability_text(e.reliability), bold=unverified, colour=WARN if unverified else None),
                plain(shortened(e.summary)),
                plain(sourced(e.source_name, e.entered)),
                plain(e.stance.value),
                Cell(tuple(links)),
            ]
            rows.append([Cell(c.spans, UNVERIFIED_FILL, c.align) for c in cells] if unverified else cells)
        writer.table(
            ["Id", "Observed", "Kind", "Title", "Reliability", "Summary", "Source", "Stance", "Link"],
            rows,
            [9, 19, 18, 26, 22, 26, 18, 16, 16],
        )
        whole = [e for e in section.evidence if is_shortened(e.summary)]
        if whole:
            writer.paragraph("Summaries in full:")
            writer.bullets([Span(evidence_id(e.id), mono=True), Span(f": {flat(e.summary)}")] for e in whole)
    else:
        writer.paragraph(f"No evidence observed in {q}.")
    if section.indicators:
        writer.heading("Indicators", 4)
        writer.table(
            ["Indicator", "Unit", str(q), str(q.previous()), "Target"],
            [
                [
                    plain(i.name + corrected_mark(i)),
                    plain(i.unit),
                    right(number(i.value)),
                    right(number(i.previous_value)),
                    right(number(i.target)),
                ]
                for i in section.indicators
            ],
            [62, 36, 24, 24, 24],
            align="llrrr",
        )
        for i in section.indicators:
            if (trend := trends.get((section.ref, i.code))) is not None:
                writer.chart(trend)
            else:
                writer.paragraph(
                    [Span(f"{flat(i.name)}: no value recorded from {i.series[0].quarter} to {q}.", colour=MUTED)]
                )


# The timeline ---------------------------------------------------------------------------------


def timeline(timeline: Timeline) -> bytes:
    """The timeline as a Word document: the matrix of statuses (wrapped every
    :data:`QUARTERS_PER_TABLE` quarters), the recommendations, the status counts as a chart and a table."""
    from tracker.render import html

    title = f"Status timeline {timeline.first} to {timeline.last}"
    writer = Writer(timeline.header, title)
    opening(writer, title, timeline_header_lines(timeline))
    for source in timeline.header.unissued:
        writer.boxed(unissued_notice(source, str(timeline.last), timeline.last.end), NOTE_RULE, NOTE_FILL)
    if text := empty_text(timeline):
        empty(writer, text)
        closing(writer)
        return writer.save()
    writer.paragraph(
        status_legend(
            "Status at the end of each quarter:",
            "· not yet issued. A star (*) marks the quarters in which the status changed.",
        )
    )
    quarters = timeline.quarters
    for start in range(0, len(quarters), QUARTERS_PER_TABLE):
        part = range(start, min(start + QUARTERS_PER_TABLE, len(quarters)))
        rows = []
        for row in timeline.rows:
            cells = [plain(row.ref)]
            for index in part:
                cell = row.cells[index]
                if cell.status is None:
                    cells.append(Cell((Span("·", colour=MUTED),), UNISSUED_FILL, "center"))
                else:
                    mark = STATUS_SHORT[cell.status] + ("*" if cell.changed else "")
                    cells.append(badge(cell.status, mark, bold=cell.changed, align="center"))
            rows.append(cells)
        width = (TEXT_WIDTH_MM - 50) / QUARTERS_PER_TABLE
        writer.table(
            ["Recommendation"] + [str(quarters[i]) for i in part],
            rows,
            [50] + [width] * len(part),
            align="l" + "c" * len(part),
            style="MatrixText",
        )
    writer.heading("Recommendations", 2)
    writer.bullets(
        [
            Span(flat(row.ref), bold=True),
            Span(
                f": {flat(row.title)} ({row.pillar}); changed in "
                f"{', '.join(str(q) for q in row.changed_in) or 'no quarter of the range'}"
            ),
        ]
        for row in timeline.rows
    )
    writer.heading("Status counts", 2)
    if (chart := html.timeline_chart(timeline)) is not None:
        writer.chart(chart)
    if note := history_note(timeline.header, timeline.history):
        writer.paragraph(note)
    history_table(writer, timeline.history)
    closing(writer)
    return writer.save()


# The editions report --------------------------------------------------------------------------


def editions(report: EditionsReport) -> bytes:
    """The editions report as a Word document: per series, a matrix of threads by edition, then each thread."""
    title = "Recommendations across editions"
    writer = Writer(report.header, title)
    opening(writer, title, markdown.editions_header_lines(report))
    if text := markdown.editions_empty_text(report):
        empty(writer, text)
        closing(writer)
        return writer.save()
    writer.paragraph(markdown.editions_intro(report))
    for series in report.series_editions:
        rows = report.threads_of(series.name)
        writer.heading(markdown.series_heading(report, series.name), 2)
        if not rows:
            writer.paragraph(markdown.series_empty_text(series.name))
            continue
        writer.paragraph(
            status_legend(
                "Status of each edition, on its last day as the thread's latest:",
                f"· not in that edition; {markdown.CARRIED_MARK} carried over from an earlier edition, not yet "
                "re-assessed.",
            )
        )
        matrix = []
        for row in rows:
            name = f"{markdown.HIGHLIGHT_MARK} {row.ref}" if row.highlighted else row.ref
            cells = [plain(name, bold=row.highlighted, colour=WARN if row.highlighted else None)]
            for source in series.editions:
                found = row.status_in(source.slug)
                if found is None:
                    cells.append(Cell((Span("·", colour=MUTED),), UNISSUED_FILL, "center"))
                else:
                    cells.append(badge(found.status, markdown.edition_cell(found), align="center"))
            carried = f" {markdown.CARRIED_MARK}" if row.carried_over_from else ""
            cells.append(badge(row.status, label(row.status) + carried))
            matrix.append(cells)
        editions_width = TEXT_WIDTH_MM - 50 - 32
        writer.table(
            ["Thread"] + [source.slug for source in series.editions] + ["Status now"],
            matrix,
            [50] + [editions_width / max(len(series.editions), 1)] * len(series.editions) + [32],
            align="l" + "c" * len(series.editions) + "l",
            style="MatrixText",
        )
        writer.bullets(
            ([Span(f"{markdown.HIGHLIGHT_MARK} ", bold=True, colour=WARN)] if row.highlighted else [])
            + [Span(flat(row.ref), bold=True), Span(f": {flat(row.title)}; {flat(markdown.thread_text(row))}")]
            for row in rows
        )
    closing(writer)
    return writer.save()
