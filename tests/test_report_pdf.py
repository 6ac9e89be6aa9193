"""The reports as PDF (``--format pdf``): the HTML page printed by WeasyPrint, an optional extra.

The same report gives the same bytes (on one machine: the fonts WeasyPrint embeds and its
layout depend on the fonts installed and on the versions of WeasyPrint and Pango, so a PDF
has no golden file; the page it prints has, tests/golden/*.html). Its dates are the report's
as-of instant. Without WeasyPrint, asking for a PDF is one line that names the command that
installs it, exit 1, before any database work and with nothing written.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zlib

import pytest
from test_report_docx import REPORT_ARGS, tracker_bytes
from test_report_editions import DATASET as EDITIONS_DATASET
from test_report_editions import report as editions_report
from test_reports import DATASET, MARKERS, library_quarterly, plant_markers, quarterly_2019q3, timeline_2019

from tracker import render
from tracker.errors import TrackerError
from tracker.render import pdf

from conftest import DRAWING_ONLY

pytest.importorskip("weasyprint", reason="--format pdf needs the optional extra: pip install -e '.[pdf]'")

MISSING = "--format pdf needs weasyprint, which is not installed: pip install 'recommendation-compliance-tracker[pdf]'"


@pytest.fixture
def url(make_url_for) -> str:
    return make_url_for(DATASET)


def pdf_objects(document: bytes) -> bytes:
    """The PDF's objects as text: its own bytes and every stream it compresses, decompressed."""
    streams = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", document, re.DOTALL):
        try:
            streams.append(zlib.decompress(match.group(1)))
        except zlib.error:
            streams.append(match.group(1))
    return b"\n".join([document, *streams])


def pdf_text(document: bytes, tmp_path) -> str:
    """The text of the PDF's pages, as poppler's pdftotext reads it."""
    path = tmp_path / "report.pdf"
    path.write_bytes(document)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


@DRAWING_ONLY
def test_every_report_prints_to_the_same_bytes_dated_its_as_of(url, make_url_for):
    editions = make_url_for(EDITIONS_DATASET)
    for build, stamp in (
        (lambda: quarterly_2019q3(url), b"D:20191231235959Z"),
        (lambda: timeline_2019(url), b"D:20191231235959Z"),
        (lambda: editions_report(editions), b"D:20230630235959Z"),
    ):
        report = build()
        first = render.render(report, "pdf")
        assert isinstance(first, bytes) and first.startswith(b"%PDF-")
        assert render.render(report, "pdf") == first
        objects = pdf_objects(first)
        assert b"/CreationDate (" + stamp in objects and b"/ModDate (" + stamp in objects, objects[:2000]
        assert b"/Creator (tracker " in objects
        assert b"/ID" not in objects  # no random file identifier


@DRAWING_ONLY
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils) to read the text")
def test_the_pdf_is_the_html_page_with_a_footer_on_every_page_and_nothing_above_the_audience(url, tmp_path):
    plant_markers(url)
    report = library_quarterly(url, "2019Q3", audience="public")
    text = pdf_text(render.render(report, "pdf"), tmp_path)
    flat = " ".join(text.split())
    assert "Quarterly status report 2019Q3" in flat and "Summary" in flat
    assert MARKERS["public"]["title"] in flat
    for level in ("internal", "confidential"):
        for mark in MARKERS[level].values():
            assert mark not in text, f"{mark} leaked into the public PDF"
    pages = text.count("\f")
    assert pages >= 2 and flat.count(f"Fingerprint {report.header.fingerprint}") >= pages
    assert "page 1 of" in flat and "public audience" in flat and "not for publication" not in flat


def test_without_weasyprint_rendering_says_how_to_install_it(url, monkeypatch):
    report = quarterly_2019q3(url)
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if it were not installed
    with pytest.raises(TrackerError) as raised:
        render.render(report, "pdf")
    assert str(raised.value) == MISSING and raised.value.exit_code == 1
    assert render.find_format("pdf").missing == MISSING
    assert render.find_format("docx").missing is None


@pytest.mark.parametrize("command", REPORT_ARGS)
def test_without_weasyprint_the_commands_fail_in_one_line_writing_nothing(url, command, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    target = tmp_path / "report.pdf"
    code, stdout, stderr = tracker_bytes(url, *REPORT_ARGS[command], "--format", "pdf", "-o", str(target))
    assert (code, stdout, stderr) == (1, b"", f"Error: {MISSING}\n")
    assert not target.exists()


def test_the_page_footer_is_escaped_css():
    assert pdf._css_string("it's a \\ test\nline") == "'it\\'s a \\\\ test\\A line'"
