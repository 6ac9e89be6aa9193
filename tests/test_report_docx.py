"""The reports as Word documents (``--format docx``): golden files, same bytes, Word's structure, content.

A document is a zip of XML parts and PNG charts. The golden files (``tests/golden/*.docx.txt``)
hold what tracker writes into it: the list of entries (a chart as its pixel size), then
``[Content_Types].xml``, the relationships, the core properties, the document, its footer
and the styles tracker sets, each canonicalised (C14N) and indented. The parts python-docx
copies from its template are listed by name only, and a chart's pixels are not compared
(they change with matplotlib and FreeType; what a chart shows is tested with the HTML's in
tests/test_reports.py). The same golden files on SQLite and PostgreSQL prove identical
documents. Regenerate them after an intended change with
``TRACKER_UPDATE_GOLDEN=1 pytest tests/test_report_docx.py`` and read the diff.

Besides the golden files: two renders give the same bytes (whatever the clock and the time
zone); the headings are Word's Heading 1 to 4, each recommendation starts a page, tables
repeat their header row, statuses are shaded in the HTML badges' colours, charts are
images with alt text, the footer carries audience and fingerprint; and everything the
Markdown shows is in the document. The command line writes the bytes to ``-o`` and to a
pipe, never to a terminal.
"""

from __future__ import annotations

import io
import os
import pty
import re
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from test_report_credibility import DATASET as CREDIBILITY_DATASET
from test_report_credibility import LONG
from test_report_editions import AS_OF as EDITIONS_AS_OF
from test_report_editions import DATASET as EDITIONS_DATASET
from test_report_editions import report as editions_report
from test_reports import AS_OF, DATASET, golden, library_quarterly, library_timeline, quarterly_2019q3, timeline_2019

from tracker import render
from tracker.render import charts, html
from tracker.render import docx as word
from tracker.render import text as wording
from tracker.vocab import Status

from conftest import DRAWING_ONLY

ROOT = Path(__file__).resolve().parent.parent
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
NS = {
    "w": W[1:-1],
    "wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
}
SHOWN = (
    "[Content_Types].xml",
    "_rels/.rels",
    "docProps/core.xml",
    "word/document.xml",
    "word/_rels/document.xml.rels",
)
OWN_STYLES = ("Normal", "Footer", "TableText", "MatrixText")  # the styles tracker adds or changes


@pytest.fixture
def url(make_url_for) -> str:
    return make_url_for(DATASET)


@pytest.fixture
def editions_url(make_url_for) -> str:
    return make_url_for(EDITIONS_DATASET)


def quarterly_public(url: str):
    return library_quarterly(url, "2019Q3", audience="public")


REPORTS = {
    "quarterly-2019Q3": quarterly_2019q3,
    "quarterly-2019Q3-public": quarterly_public,
    "timeline-2019Q1-2019Q4": timeline_2019,
}


# Reading a document back --------------------------------------------------------------------------


def entries(document: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(document)) as archive:
        return {entry.filename: archive.read(entry) for entry in archive.infolist()}


def pretty(xml: bytes) -> str:
    """``xml`` canonicalised (C14N: attributes and namespaces in one order) and indented."""
    canonical = etree.tostring(etree.fromstring(xml), method="c14n")
    tree = etree.fromstring(canonical, etree.XMLParser(remove_blank_text=True))
    return etree.tostring(tree, pretty_print=True, encoding="unicode")


def png_size(image: bytes) -> tuple[int, int]:
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", image[16:24])
    return width, height


def parts_text(document: bytes) -> str:
    """What the golden file holds: the entries in order, then the parts tracker writes, pretty."""
    parts = entries(document)
    out = ["# entries, in order"]
    for name, content in parts.items():
        out.append(f"{name}: PNG %dx%d" % png_size(content) if name.endswith(".png") else name)
    for name, content in parts.items():
        if name in SHOWN or re.fullmatch(r"word/(footer|header)\d+\.xml", name):
            out += ["", f"# {name}", pretty(content).rstrip("\n")]
    styles = etree.fromstring(parts["word/styles.xml"])
    out += ["", "# word/styles.xml: the styles tracker adds or changes"]
    for style_id in OWN_STYLES:
        (style,) = styles.xpath(f"w:style[@w:styleId='{style_id}']", namespaces=NS)
        out.append(pretty(etree.tostring(style)).rstrip("\n"))
    return "\n".join(out) + "\n"


def paragraphs(document: bytes, part: str = "word/document.xml") -> list[str]:
    """The text of every paragraph of ``part`` (table cells included), white space collapsed."""
    tree = etree.fromstring(entries(document)[part])
    return [" ".join("".join(p.itertext()).split()) for p in tree.iter(f"{W}p")]


def fill(element) -> str | None:
    found = element.xpath("w:tcPr/w:shd/@w:fill | w:rPr/w:shd/@w:fill", namespaces=NS)
    return found[0] if found else None


def markdown_pieces(md: str) -> list[str]:
    """The texts the Markdown shows, markup removed: each table cell, and each list item and
    header line split at its first ": " (Word sets a name and its value in two cells)."""
    pieces = []
    for line in md.splitlines():
        line = line.strip()
        if not line or re.fullmatch(r"\|[ \-:|]+\|", line):
            continue
        line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)  # [link](url): its text
        if line.startswith("|"):
            texts = line.strip("|").split(" | ")
        elif line.startswith("- "):
            texts = line[2:].split(": ", 1)
        else:
            texts = [re.sub(r"^(#+|>)\s*", "", line)]
        for piece in texts:
            piece = re.sub(r"\\([\\`*_\[\]<>|#])", r"\1", piece.replace("**", "")).replace("`", "")
            if piece := piece.strip().rstrip(":"):
                pieces.append(piece)
    return pieces


def assert_shows_what_markdown_shows(report, document: bytes) -> None:
    text = "\n".join(paragraphs(document))
    missing = [piece for piece in markdown_pieces(render.render(report, "md")) if " ".join(piece.split()) not in text]
    assert not missing, missing


# Golden files and bytes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", REPORTS)
def test_document_matches_golden(url, name):
    golden(f"{name}.docx.txt", parts_text(render.render(REPORTS[name](url), "docx")))


def test_editions_document_matches_golden(editions_url):
    golden(f"editions-{EDITIONS_AS_OF}.docx.txt", parts_text(render.render(editions_report(editions_url), "docx")))


def test_the_same_report_gives_the_same_bytes_whatever_the_clock_and_zone(url, monkeypatch):
    report = quarterly_2019q3(url)
    first = render.render(report, "docx")
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # what zipfile would date the entries with
    try:
        again = render.render(report, "docx")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert again == first
    for build in (timeline_2019, quarterly_public):
        assert render.render(build(url), "docx") == render.render(build(url), "docx")
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        infos = archive.infolist()
    assert infos[0].filename == "[Content_Types].xml"
    assert {info.date_time for info in infos} == {(2019, 12, 31, 23, 59, 58)}  # the as-of (a zip counts 2 s steps)
    assert {(info.create_system, info.external_attr) for info in infos} == {(3, 0o644 << 16)}
    core = entries(first)["docProps/core.xml"].decode()
    for element in ("dcterms:created", "dcterms:modified"):
        assert re.search(rf'<{element} xsi:type="dcterms:W3CDTF">2019-12-31T23:59:59Z</{element}>', core)
    assert "<cp:revision>1</cp:revision>" in core and "python-docx" not in core
    assert f"<dc:identifier>{report.header.fingerprint}</dc:identifier>" in core


@DRAWING_ONLY
def test_the_registry_renders_bytes_through_each_entry_point(url):
    report, fmt = quarterly_2019q3(url), render.find_format("docx")
    assert fmt.binary and fmt.extension == ".docx" and fmt.media_type.endswith("wordprocessingml.document")
    document = render.render(report, "docx")
    assert isinstance(document, bytes) and zipfile.is_zipfile(io.BytesIO(document))
    assert fmt.quarterly(report) == fmt.render(report) == document


def test_a_zip_before_1980_is_dated_1980():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.xml", "<a/>")
    from datetime import UTC, datetime

    rewritten = word.fixed_zip(buffer.getvalue(), datetime(1970, 1, 1, tzinfo=UTC))
    with zipfile.ZipFile(io.BytesIO(rewritten)) as archive:
        assert [(i.filename, i.date_time) for i in archive.infolist()] == [("a.xml", (1980, 1, 1, 0, 0, 0))]
        assert archive.read("a.xml") == b"<a/>"


# Word's structure ---------------------------------------------------------------------------------


@DRAWING_ONLY
def test_headings_pages_tables_badges_charts_and_footer(url):
    import docx

    report = quarterly_2019q3(url)
    data = render.render(report, "docx")
    document = docx.Document(io.BytesIO(data))
    headings = [(p.style.name, p.text, p.paragraph_format.page_break_before) for p in document.paragraphs]
    headings = [h for h in headings if h[0].startswith("Heading")]
    assert headings[0] == ("Heading 1", "Quarterly status report 2019Q3", None)
    assert [text for style, text, _ in headings if style == "Heading 2"] == [
        "Summary",
        "Status changes in the quarter",
        "Needs attention",
        *([f"Corrections recorded in {report.quarter}"] if report.corrections else []),
        "Recommendations",
        f"Status at the end of each quarter, {report.history[0].quarter} to {report.quarter}",
    ]
    # Each recommendation a Heading 3 on a page of its own (the first right after "Recommendations", which starts one).
    threes = [(text, new_page) for style, text, new_page in headings if style == "Heading 3"]
    assert [text for text, _ in threes] == [f"{i}. {s.ref}: {s.title}" for i, s in enumerate(report.recommendations, 1)]
    assert [bool(new_page) for _, new_page in threes] == [False] + [True] * (len(threes) - 1)
    assert [new_page for _, text, new_page in headings if text in ("Recommendations",)] == [True]
    assert {text for style, text, _ in headings if style == "Heading 4"} >= {
        "Evidence observed in 2019Q3",
        "Indicators",
    }

    body = etree.fromstring(entries(data)["word/document.xml"])
    tables = body.findall(f"{W}body/{W}tbl")
    # Every table but the header's has a header row Word repeats on each page; no row splits across pages.
    headed = [t for t in tables if t.find(f"{W}tr/{W}trPr/{W}tblHeader") is not None]
    assert len(headed) == len(tables) - 1 - len(report.recommendations)  # less the header and each facts table
    assert all(tr.find(f"{W}trPr/{W}cantSplit") is not None for t in tables for tr in t.findall(f"{W}tr"))
    # The summary: a badge per status, shaded in the HTML badges' colour.
    summary = tables[1]
    rows = summary.findall(f"{W}tr")[1:-1]
    assert [("".join(r.itertext()), fill(r.find(f"{W}tc"))) for r in rows] == [
        (f"{wording.label(s)}{previous}{count}", charts.STATUS_COLOURS[s].lstrip("#").upper())
        for (s, count), previous in zip(
            report.summary.status_counts, dict(report.summary.previous_status_counts).values()
        )
    ]
    # Within a sentence (a recommendation's status, an assessment), a status is a run shaded in its colour.
    shaded = {fill(r) for r in body.iter(f"{W}r")} - {None}
    assert shaded and shaded <= {colour.lstrip("#").upper() for colour in charts.STATUS_COLOURS.values()}
    # Charts: the HTML page's, in its order, as PNG images with their titles as alt text.
    shown = [chart.title for chart in html.page_charts(report)]
    assert body.xpath("//wp:docPr/@descr", namespaces=NS) == shown
    images = [name for name in entries(data) if name.startswith("word/media/")]
    assert images == [f"word/media/image{i}.png" for i in range(1, len(set(shown)) + 1)]
    assert png_size(entries(data)["word/media/image1.png"]) == (1500, 640)
    # Every page's footer: version, as-of, audience, page number, fingerprint, marking.
    (footer,) = [name for name in entries(data) if name.startswith("word/footer")]
    assert paragraphs(data, footer) == [
        "tracker 0.1.0 · as of 2019-12-31T23:59:59.999999Z · internal audience · page of",
        f"Fingerprint {report.header.fingerprint}",
        "INTERNAL: not for publication.",
    ]
    assert b'w:instr="PAGE"' in entries(data)[footer] and b'w:instr="NUMPAGES"' in entries(data)[footer]
    section = document.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert document.core_properties.title == "[INTERNAL] Quarterly status report 2019Q3"


def test_the_public_document_is_not_marked(url):
    data = render.render(quarterly_public(url), "docx")
    text = "\n".join(paragraphs(data) + paragraphs(data, "word/footer1.xml"))
    assert "not for publication" not in text.lower() and "public audience" in text
    assert "[PUBLIC]" not in entries(data)["docProps/core.xml"].decode()


@DRAWING_ONLY
def test_a_long_timeline_wraps_its_matrix(url):
    timeline = library_timeline(url, "2017Q1", "2019Q4")
    data = render.render(timeline, "docx")
    body = etree.fromstring(entries(data)["word/document.xml"])
    matrices = [t for t in body.findall(f"{W}body/{W}tbl") if "Recommendation" in "".join(t.find(f"{W}tr").itertext())]
    columns = [[" ".join(tc.itertext()) for tc in t.find(f"{W}tr").findall(f"{W}tc")] for t in matrices]
    quarters = [str(q) for q in timeline.quarters]
    assert len(quarters) == 12
    assert columns == [["Recommendation", *quarters[:8]], ["Recommendation", *quarters[8:]]]
    # A changed quarter is a bold shaded cell with a star; a quarter before publication a dot.
    cells = [tc for t in matrices for tr in t.findall(f"{W}tr")[1:] for tc in tr.findall(f"{W}tc")[1:]]
    texts = {"".join(tc.itertext()) for tc in cells}
    assert "·" in texts and any(t.endswith("*") for t in texts)
    for tc in cells:
        value = "".join(tc.itertext())
        if value != "·":
            status = next(s for s, short in wording.STATUS_SHORT.items() if value.rstrip("*") == short)
            assert fill(tc) == charts.STATUS_COLOURS[status].lstrip("#").upper()
    assert_shows_what_markdown_shows(timeline, data)


# Everything the other formats show ------------------------------------------------------------------


@DRAWING_ONLY
@pytest.mark.parametrize("name", REPORTS)
def test_the_document_shows_what_the_markdown_shows(url, name):
    report = REPORTS[name](url)
    data = render.render(report, "docx")
    assert_shows_what_markdown_shows(report, data)
    text = "\n".join(paragraphs(data))
    assert "regenerate this report with the same database, arguments and --as-of to get these bytes again" in text


def test_the_editions_document_shows_what_the_markdown_shows(editions_url):
    for options in ({}, {"series": "tip-khm", "audience": "public"}):
        report = editions_report(editions_url, **options)
        assert_shows_what_markdown_shows(report, render.render(report, "docx"))


def test_an_empty_report_says_so(make_url_for):
    empty = make_url_for("empty")
    for report in (library_quarterly(empty, "2019Q3"), library_timeline(empty, "2019Q1", "2019Q2")):
        data = render.render(report, "docx")
        assert_shows_what_markdown_shows(report, data)
        assert any(p.startswith("Nothing to report") for p in paragraphs(data))


def test_credibility_ids_reliability_summaries_and_citations(make_url_for):
    report = library_quarterly(make_url_for(CREDIBILITY_DATASET), "2019Q3", sources=["tip-2019-khm"])
    data = render.render(report, "docx")
    assert_shows_what_markdown_shows(report, data)
    text = "\n".join(paragraphs(data))
    assert LONG in text  # in full under the table
    assert "Interview with an investigator" not in text  # confidential, cited: counted only
    assert "1 item withheld" in text
    body = etree.fromstring(entries(data)["word/document.xml"])
    unverified = [tr for tr in body.iter(f"{W}tr") if "UNVERIFIED" in "".join(tr.itertext())]
    assert unverified and all(fill(tc) == word.UNVERIFIED_FILL for tr in unverified for tc in tr.findall(f"{W}tc"))


@DRAWING_ONLY
def test_web_links_are_hyperlinks_and_nothing_else_is(url):
    data = render.render(quarterly_2019q3(url), "docx")
    relationships = entries(data)["word/_rels/document.xml.rels"].decode()
    targets = re.findall(r'Target="([^"]+)" TargetMode="External"', relationships)
    assert targets and all(t.startswith(("https://", "http://")) for t in targets)


# The command line ---------------------------------------------------------------------------------


def tracker_bytes(url: str, *args: str) -> tuple[int, bytes, str]:
    """Run ``tracker --db URL ARGS`` in process: (exit code, stdout as bytes, stderr)."""
    from typer.testing import CliRunner

    from tracker import cli

    with CliRunner().isolation() as (stdout, stderr, _mixed):
        try:
            cli.main(["--db", url, *args])
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        return code, stdout.getvalue(), stderr.getvalue().decode()


REPORT_ARGS = {
    "quarterly": ("report", "quarterly", "2019Q3", "--as-of", AS_OF),
    "timeline": ("report", "timeline", "--from", "2019Q1", "--to", "2019Q4", "--as-of", AS_OF),
    "editions": ("report", "editions", "--as-of", AS_OF),
}


@pytest.mark.parametrize("command", REPORT_ARGS)
def test_the_commands_write_the_document_to_a_file_and_to_a_pipe(url, command, tmp_path):
    target = tmp_path / "report.docx"
    code, stdout, stderr = tracker_bytes(url, *REPORT_ARGS[command], "--format", "docx", "-o", str(target))
    assert (code, stdout, stderr) == (0, b"", f"Wrote {target}\n")
    code, piped, stderr = tracker_bytes(url, *REPORT_ARGS[command], "--format", "DOCX")
    assert (code, stderr) == (0, "")
    assert piped == target.read_bytes() and zipfile.is_zipfile(io.BytesIO(piped))
    if command == "quarterly":
        assert piped == render.render(quarterly_2019q3(url), "docx")


def on_a_terminal(url: str, *args: str) -> tuple[int, bytes, bytes]:
    """Run tracker with stdout on a pseudo-terminal: (exit code, what the terminal showed, stderr)."""
    terminal, stdout_end = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", "from tracker import cli; cli.main()", "--db", url, *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=stdout_end,
        stderr=subprocess.PIPE,
    )
    os.close(stdout_end)
    shown = b""
    try:
        while True:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            shown += chunk
        code = process.wait(timeout=120)
        stderr = process.stderr.read()
    finally:
        process.stderr.close()
        os.close(terminal)
    return code, shown, stderr


@pytest.mark.parametrize("fmt", ["docx", "pdf"])
def test_a_binary_format_is_refused_to_a_terminal(url, fmt):
    code, shown, stderr = on_a_terminal(url, *REPORT_ARGS["quarterly"], "--format", fmt)
    assert (code, shown) == (2, b""), stderr
    assert stderr.decode().splitlines() == [
        f"Error: --format {fmt} writes a binary file, not text for a terminal: give -o FILE"
    ]


def test_the_format_help_and_errors_name_docx_and_pdf(url):
    code, stdout, stderr = tracker_bytes(url, "report", "quarterly", "--help")
    assert code == 0 and b"md, html, json, csv, xlsx, docx or pdf" in b" ".join(stdout.split())
    code, stdout, stderr = tracker_bytes(url, *REPORT_ARGS["quarterly"], "--format", "odt")
    assert (code, stdout) == (2, b"")
    assert stderr == "Error: unknown --format 'odt': use md, html, json, csv, xlsx, docx or pdf\n"


def test_the_document_lists_every_status_colour():
    """The badges' colours are the charts' (one palette), as Word writes colours."""
    assert {word._hex(status) for status in Status} == {c.lstrip("#").upper() for c in charts.STATUS_COLOURS.values()}


def test_a_confidential_document_is_readable_by_its_owner_only(url, tmp_path):
    confidential, public = tmp_path / "confidential.docx", tmp_path / "public.docx"
    for audience, target in (("confidential", confidential), ("public", public)):
        args = (*REPORT_ARGS["quarterly"], "--audience", audience, "--format", "docx", "-o", str(target))
        assert tracker_bytes(url, *args)[0] == 0
    assert confidential.stat().st_mode & 0o777 == 0o600
    assert public.stat().st_mode & 0o077 != 0  # made to be shared: the usual permissions
