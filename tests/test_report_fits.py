"""Reports that fit the screen and the page, in every script.

The timeline's default range (at most the last 12 quarters, the header saying so), its
HTML in blocks of at most 8 quarters, a 31-quarter timeline printed by headless Chromium
with every quarter on paper; chart labels that never overlap and charts without a
meaningless legend; Khmer text drawn with real glyphs (no tofu) and no glyph warnings.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_reports import ACTOR, at, chart_facts, write

from tracker import render, reports, services
from tracker.periods import Quarter, parse_as_of, quarter_range
from tracker.render import charts, html, text
from tracker.store.database import Database
from tracker.vocab import Status

from conftest import DRAWING_ONLY, template

NOW = "2026-12-01"  # 31 quarters after tip-2019-khm was published (2019Q2 to 2026Q4)
KHMER = "ការត្រួតពិនិត្យឡឥដ្ឋ"  # "brick kiln inspections"


def _timeline(url: str, **options):
    database = Database(url)
    try:
        with database.reading() as session:
            return reports.timeline(session, as_of=parse_as_of(options.pop("as_of", NOW)), **options)
    finally:
        database.dispose()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browser(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            _chromium() or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            *arguments,
        ],
        capture_output=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


# The timeline's range -------------------------------------------------------------------------------


def test_the_default_timeline_is_the_last_12_quarters_and_says_so(make_url_for):
    url = make_url_for("loaded")
    timeline = _timeline(url)
    assert (str(timeline.first), str(timeline.last), len(timeline.quarters)) == ("2024Q1", "2026Q4", 12)
    assert timeline.cut_from == Quarter(2019, 2)  # tip-2019-khm, the edition in force, was published in 2019Q2
    md = render.render(timeline, "md")
    assert "the last 12 quarters of 2019Q2 to 2026Q4 (--from 2019Q2 shows them all)" in md
    assert '"cut_from": "2019Q2"' in render.render(timeline, "json")
    # --from says where to start: nothing is cut; --to alone keeps the default start, cut to 12
    everything = _timeline(url, first=Quarter(2019, 2))
    assert (len(everything.quarters), everything.cut_from) == (31, None)
    assert "shows them all" not in render.render(everything, "md")
    ending = _timeline(url, last=Quarter(2023, 4))
    assert (str(ending.first), str(ending.last), str(ending.cut_from)) == ("2021Q1", "2023Q4", "2019Q2")
    short = _timeline(url, as_of="2020-06-30")
    assert (str(short.first), str(short.last), short.cut_from) == ("2019Q2", "2020Q2", None)
    # --source: from the first quarter of the earliest selected source
    selected = _timeline(url, sources=["tip-2019-khm"], as_of="2021-03-31")
    assert (str(selected.first), len(selected.quarters), selected.cut_from) == ("2019Q2", 8, None)


def test_a_wide_timeline_wraps_into_blocks_of_at_most_8_quarters_in_html(make_url_for):
    timeline = _timeline(make_url_for("loaded"), first=Quarter(2019, 1), last=Quarter(2026, 3))
    assert len(timeline.quarters) == 31
    page = render.render(timeline, "html")
    tables = re.findall(r'<table class="matrix">.*?</table>', page, re.DOTALL)
    assert len(tables) == 4
    columns = [re.findall(r"<th>(\d{4}Q\d)</th>", table) for table in tables]
    assert [len(c) for c in columns] == [8, 8, 8, 7]
    assert [q for block in columns for q in block] == [str(q) for q in timeline.quarters]
    for table in tables:  # every block lists every recommendation
        assert table.count('<td class="rec"') == len(timeline.rows)


@DRAWING_ONLY
@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext is missing (Debian: poppler-utils)")
def test_a_31_quarter_timeline_printed_to_pdf_shows_every_quarter(make_url_for, tmp_path):
    timeline = _timeline(make_url_for("loaded"), first=Quarter(2019, 1), last=Quarter(2026, 3))
    page, pdf = tmp_path / "timeline.html", tmp_path / "timeline.pdf"
    page.write_text(render.render(timeline, "html"), encoding="utf-8")
    completed = _browser(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    assert pdf.exists(), completed.stderr.decode(errors="replace")[-2000:]
    printed = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True, check=True).stdout
    missing = [str(q) for q in timeline.quarters if str(q) not in printed]
    assert not missing, f"quarters cut off the printed page: {missing}"
    assert "2026Q3" in printed


# Charts ------------------------------------------------------------------------------------------------


def _quarter_label_boxes(chart: charts.Chart) -> list[charts.Box]:
    """Where the chart's layout puts each labelled quarter on its x axis: the box it takes the label to fill."""
    return [label.box for label in charts.layout(chart).quarter_labels if label is not None]


def _chart_of(count: int, indicator: bool) -> charts.Chart:
    last = Quarter(2000, 1)
    for _ in range(count - 1):
        last = last.next()
    quarters = quarter_range(Quarter(2000, 1), last)
    if indicator:
        values = tuple(float(i * 1000) for i in range(count))
        return charts.IndicatorTrend("Cases (cases)", "r/c", "cases", tuple(map(str, quarters)), values, 12345.5)
    history = tuple(reports.StatusCounts(q, tuple((s, 1) for s in Status)) for q in quarters)
    return charts.status_bars(history, "Recommendations by status")


@pytest.mark.parametrize("indicator", [False, True], ids=["status", "indicator"])
@pytest.mark.parametrize("count", [4, 8, 10, 11, 12, 24, 31, 60, 120])
def test_chart_labels_never_overlap(count, indicator):
    chart = _chart_of(count, indicator)
    shape = charts.layout(chart)
    boxes = sorted(_quarter_label_boxes(chart), key=lambda box: box.left)
    assert len(boxes) >= min(count, charts.UPRIGHT_LABELS) // 2, "too few quarters are labelled"
    for box, after in zip(boxes, boxes[1:]):
        assert box.right <= after.left, f"two quarter labels overlap on a chart of {count} quarters"
    for box in boxes:  # on the chart, and under its plot
        assert 0 <= box.left and box.right <= shape.width and box.bottom <= shape.height, "a label is cut off"
        assert box.top >= shape.plot.bottom
    ticks = [label.box for _, label in shape.ticks]  # y tick labels, left of the plot, apart
    assert all(box.right <= shape.plot.left and box.left >= shape.axis_label.box.right for box in ticks)
    for box, above in zip(ticks, ticks[1:]):
        assert above.bottom <= box.top, f"two value labels overlap on a chart of {count} quarters"


def test_chart_quarter_labels_follow_the_level_and_upright_rules():
    """Level up to 10 quarters, then upright; past 24, every second (or third...) quarter labelled."""

    def labels(count: int) -> list[charts.Label | None]:
        return list(charts.layout(_chart_of(count, indicator=False)).quarter_labels)

    assert not any(label.upright for label in labels(charts.LEVEL_LABELS) if label)
    assert all(label.upright for label in labels(charts.LEVEL_LABELS + 1) if label)
    assert all(labels(charts.UPRIGHT_LABELS))
    assert [label is not None for label in labels(31)] == [i % 2 == 0 for i in range(31)]
    assert [label is not None for label in labels(60)] == [i % 3 == 0 for i in range(60)]


def test_a_long_title_wraps_and_the_chart_grows_to_hold_it():
    words = "Share of labour inspections of brick kilns that found children working, by province and quarter"
    chart = charts.IndicatorTrend(f"{words} (percent)", "r/k", "percent", ("2019Q2", "2019Q3"), (3.0, 5.0), 10.0)
    shape = charts.layout(chart)
    assert len(shape.title) > 1
    assert "".join(line.text for line in shape.title) == chart.title
    assert all(line.box.right <= shape.width for line in shape.title)
    assert shape.height > charts.TREND_SIZE[1] and shape.plot.top > shape.title[-1].box.bottom
    facts = chart_facts(charts.svg(chart))
    assert chart.title in facts["texts"]


def test_the_svg_of_a_chart_is_drawn_without_matplotlib():
    """The HTML page's charts (one per indicator) are written by hand, for speed: matplotlib is for Word's PNGs."""
    code = (
        "import sys; from tracker.render import charts; "
        "charts.svg(charts.IndicatorTrend('Cases (cases)', 'r/c', 'cases', ('2019Q2', '2019Q3'), (1.0, None), 2.0)); "
        "print('matplotlib' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "False\n"


def test_charts_carry_no_meaningless_legend():
    history = (
        reports.StatusCounts(Quarter(2019, 2), tuple((s, {Status.NOT_STARTED: 4}.get(s, 0)) for s in Status)),
        reports.StatusCounts(
            Quarter(2019, 3), tuple((s, {Status.NOT_STARTED: 3, Status.IN_PROGRESS: 1}.get(s, 0)) for s in Status)
        ),
    )
    bars = charts.svg(charts.status_bars(history, "By status"))
    legend = re.search(r'<g class="legend".*?</g>', bars, re.DOTALL)
    assert legend is not None
    # only the statuses some quarter has: partially implemented and implemented name nothing drawn
    assert "not started" in legend.group(0) and "in progress" in legend.group(0)
    assert "partially implemented" not in bars and ">implemented<" not in bars
    trend = charts.IndicatorTrend("Inspections (kilns)", "r/i", "kilns", ("2019Q2", "2019Q3"), (3.0, 5.0), 10.0)
    drawn = charts.svg(trend)
    assert 'class="legend"' not in drawn  # one line: no legend...
    assert "target 10" in drawn  # ...and the target named beside its line


# Every script --------------------------------------------------------------------------------------------


def _khmer_dataset(database, _folder) -> None:
    url = database.url
    write(
        url,
        at("2019-06-24"),
        lambda s: services.add_indicator(
            s, "labor-inspections", code="kiln-checks", name=KHMER, unit="ឡ", target=12, actor=ACTOR
        ),
    )
    write(url, at("2019-07-05"), lambda s: services.record_measurement(s, "kiln-checks", "2019Q3", 7, actor=ACTOR))
    write(
        url,
        at("2019-07-06"),
        lambda s: services.set_status(
            s, "labor-inspections", "in_progress", effective_on="2019-07-01", note=KHMER, actor=ACTOR
        ),
    )


KHMER_DATASET = template("khmer-2019", _khmer_dataset)


def test_the_font_stack_names_a_face_for_every_script():
    stack = html.FONT_STACK
    for face in ("Noto Sans Khmer", "Khmer OS", "Noto Sans Thai", "Noto Sans Arabic", "Noto Sans Devanagari"):
        assert f'"{face}"' in stack
    assert "Noto Sans CJK" in stack and stack.endswith("sans-serif")
    assert f"font: 15px/1.5 {stack};" in render.render(_timeline_for_page(), "html")


def _timeline_for_page():
    return reports.Timeline(
        header=reports.Header(
            sources=(),
            selected=(),
            as_of=parse_as_of(NOW),
            audience=reports.parse_audience("public"),
            fingerprint=None,
            version="0",
        ),
        quarters=(Quarter(2019, 3),),
        rows=(),
        history=(),
    )


@DRAWING_ONLY
def test_a_khmer_report_prints_no_glyph_warnings_and_keeps_the_text(make_url_for, tmp_path):
    """In a fresh process (matplotlib warns once per glyph and process): nothing on stderr."""
    url = make_url_for(KHMER_DATASET)
    out = tmp_path / "report.html"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracker",
            "--db",
            url,
            "report",
            "quarterly",
            "2019Q3",
            "--format",
            "html",
            "--as-of",
            "2019-12-31",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Glyph" not in completed.stderr and "missing from" not in completed.stderr
    assert completed.stderr.strip() == f"Wrote {out}"
    page = out.read_text(encoding="utf-8")
    chart = next(svg for svg in re.findall(r"<svg[\s>].*?</svg>", page, re.DOTALL) if KHMER in svg)
    assert re.search(r"<text[^>]*>[^<]*" + KHMER, chart), "the chart's Khmer title is not SVG text"


def _khmer_font_installed() -> bool:
    if shutil.which("fc-list") is None:
        return False
    return subprocess.run(["fc-list", ":lang=km"], capture_output=True, text=True).stdout.strip() != ""


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="pdffonts is missing (Debian: poppler-utils)")
@pytest.mark.skipif(
    not _khmer_font_installed(),
    reason="no Khmer font is installed (Debian: apt-get install fonts-khmeros or fonts-noto-core)",
)
@DRAWING_ONLY
def test_khmer_text_is_drawn_with_a_khmer_font_in_chromium(make_url_for, tmp_path):
    """The report's page, with a Khmer status note and indicator, printed by a browser: the
    Khmer text is set in a font that has Khmer glyphs (no tofu).

    Checked by the fonts the browser embedded in the PDF (``pdffonts``): with only Latin
    faces reachable from the page's font stack, Khmer would be drawn as boxes from one of
    them, and no Khmer face would be embedded. The page without the Khmer text embeds none.
    """
    url = make_url_for(KHMER_DATASET)
    database = Database(url)
    try:
        with database.reading() as session:
            report = reports.quarterly(session, Quarter(2019, 3), as_of=parse_as_of("2019-12-31"))
    finally:
        database.dispose()
    page = render.render(report, "html")
    assert KHMER in page

    def fonts_of(html_text: str, name: str) -> list[str]:
        source, pdf = tmp_path / f"{name}.html", tmp_path / f"{name}.pdf"
        source.write_text(html_text, encoding="utf-8")
        completed = _browser(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", source.as_uri())
        assert pdf.exists(), completed.stderr.decode(errors="replace")[-2000:]
        listing = subprocess.run(["pdffonts", pdf], capture_output=True, text=True, check=True).stdout
        return [line.split()[0].split("+")[-1] for line in listing.splitlines()[2:] if line.strip()]

    khmer_faces = re.compile(r"khmer", re.IGNORECASE)
    with_khmer = fonts_of(page, "with-khmer")
    assert any(khmer_faces.search(face) for face in with_khmer), f"Khmer drawn without a Khmer font: {with_khmer}"
    without = fonts_of(page.replace(KHMER, "kiln inspections").replace("ឡ", "kilns"), "without-khmer")
    assert not any(khmer_faces.search(face) for face in without), without
    assert text.label(Status.IN_PROGRESS) in page
