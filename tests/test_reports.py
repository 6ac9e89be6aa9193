"""The quarterly report and the timeline: golden files, as-of, quarters, audience, HTML and its charts.

Behaviour is asserted on the library: a report built by :func:`tracker.reports.quarterly`
or :func:`tracker.reports.timeline` on a session, rendered by :func:`tracker.render.render`.
The command-line tests at the end check the wiring: that ``tracker report quarterly`` and
``tracker report timeline`` print exactly what the library renders, write ``-o`` files,
exit 2 on bad arguments with one line on stderr.

Every test runs on SQLite and, when configured, PostgreSQL; the golden files are the
same for both, so passing on both proves identical output. Regenerate the golden files
after an intended change with ``TRACKER_UPDATE_GOLDEN=1 pytest tests/test_reports.py``
and read the diff before committing it.

Charts are SVG drawn by tracker itself, the same bytes on every machine, so HTML golden
files are compared byte for byte too; that a chart shows the report's data is checked by
reading it back (its label, texts, bars, points and line, in data units: :func:`chart_facts`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tracker import clock, render, reports, services
from tracker.audit.chain import last_event
from tracker.errors import InputError
from tracker.periods import Quarter, parse_as_of
from tracker.render import charts, csvfile, html, text
from tracker.store.database import Database
from tracker.store.models import Event
from tracker.vocab import Sensitivity, Status

from conftest import invoke, template

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("TRACKER_UPDATE_GOLDEN") == "1"
AS_OF = "2019-12-31"
FORMATS = ("md", "html", "json", "csv")
ACTOR = "analyst"
QUARTERLY_ARGS = ("report", "quarterly", "2019Q3", "--as-of", AS_OF)
TIMELINE_ARGS = ("report", "timeline", "--from", "2019Q1", "--to", "2019Q4", "--as-of", AS_OF)


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def write(url: str, instant: datetime, work):
    """Run one write transaction with the clock fixed at ``instant``, or at the last event's
    instant if that is later: the dataset below is written out of order (a retraction
    "on" 2019-08-01 after evidence recorded in October), and the tracker refuses a clock
    behind the chain, so each write is stamped as the tracker stamped it when it allowed that."""
    database = Database(url)
    try:
        with database.reading() as session:
            last = session.scalar(select(func.max(Event.recorded_at)))
        with clock.frozen(max(instant, last) if last is not None else instant):
            return database.write(work)
    finally:
        database.dispose()


def evidence(
    url: str,
    instant: datetime,
    *,
    recs,
    title,
    day,
    kind="media_report",
    stance="progress",
    sensitivity="internal",
    url_=None,
    summary=None,
    source_name=None,
    reliability=None,
    files=(),
) -> int:
    given = services.check_evidence(
        recs=recs,
        title=title,
        observed_on=day,
        kind=kind,
        stance=stance,
        url=url_,
        summary=summary,
        source_name=source_name,
        reliability=reliability,
        sensitivity=sensitivity,
    )
    attachments = [services.FileToAttach(name, content, "application/pdf") for name, content in files]
    return write(url, instant, lambda s: services.add_evidence(s, given, attachments=attachments, actor=ACTOR).id)


def status(url: str, instant: datetime, ref: str, value: str, on: str, note: str) -> None:
    write(url, instant, lambda s: services.set_status(s, ref, value, effective_on=on, note=note, actor=ACTOR))


def measure(url: str, instant: datetime, code: str, quarter: str, value: float) -> None:
    write(url, instant, lambda s: services.record_measurement(s, code, quarter, value, actor=ACTOR))


def build_dataset(url: str) -> dict[str, int]:
    """A small, fixed history of 2019 on top of the tip-2019-khm catalog (loaded 2019-06-21)."""
    write(
        url,
        at("2019-06-24"),
        lambda s: services.add_recommendation(
            s,
            source="tip-2019-khm",
            code="data-collection",
            title="Publish anti-trafficking statistics",
            text="Collect and publish data on investigations, prosecutions, convictions and victims identified.",
            pillar="partnership",
            due_on=date(2019, 9, 15),
            position=5,
            text_status="paraphrase",
            actor=ACTOR,
        ),
    )
    write(
        url,
        at("2019-06-24", 10),
        lambda s: services.add_indicator(
            s,
            "data-collection",
            code="statistics-reports",
            name="Statistics reports published",
            unit="reports",
            target=4,
            actor=ACTOR,
        ),
    )
    status(
        url,
        at("2019-06-26"),
        "victim-identification",
        "in_progress",
        "2019-06-25",
        "Pilot of the identification protocol in two provinces.",
    )
    status(
        url,
        at("2019-06-27"),
        "undercover-techniques",
        "in_progress",
        "2019-05-01",
        "Draft prakas on undercover techniques circulated.",
    )
    status(
        url,
        at("2019-07-02"),
        "prosecute-convict",
        "in_progress",
        "2019-07-01",
        "New prosecutions opened under the 2008 law.",
    )
    status(
        url,
        at("2019-08-20"),
        "undercover-techniques",
        "partially_implemented",
        "2019-08-15",
        "Prakas signed; training of investigators pending.",
    )
    status(
        url,
        at("2019-09-05"),
        "victim-identification",
        "not_started",
        "2019-09-01",
        "Protocol rollout suspended for lack of funding.",
    )
    status(
        url,
        at("2019-10-02"),
        "labor-inspections",
        "implemented",
        "2019-10-01",
        "Brick kiln inspection programme running nationwide.",
    )
    ids = {
        "verdict": evidence(
            url,
            at("2019-10-01"),
            recs=["prosecute-convict"],
            title="Appeal court upholds conviction",
            day="2019-09-30",
            kind="court_case",
            sensitivity="public",
            source_name="Phnom Penh Post",
            url_="https://example.org/verdict",
            files=[("verdict.pdf", b"%PDF verdict")],
        ),
        "october": evidence(
            url,
            at("2019-10-03"),
            recs=["prosecute-convict"],
            title="Two traffickers sentenced",
            day="2019-10-01",
            kind="court_case",
            sensitivity="public",
            source_name="Khmer Times",
        ),
        "prakas": evidence(
            url,
            at("2019-08-21"),
            recs=["undercover-techniques", "prosecute-convict"],
            title="Prakas on undercover investigations signed",
            day="2019-08-14",
            kind="regulation",
            source_name="Ministry of Interior",
        ),
        "shelter": evidence(
            url,
            at("2019-09-06"),
            recs=["victim-identification"],
            title="Shelter interview notes",
            day="2019-08-10",
            kind="field_observation",
            stance="setback",
            sensitivity="confidential",
            source_name="Field team",
        ),
        "kilns": evidence(
            url,
            at("2019-07-20"),
            recs=["labor-inspections"],
            title="Kiln inspection count (wrong)",
            day="2019-07-15",
            kind="statistic",
            sensitivity="public",
        ),
    }
    write(url, at("2019-08-01"), lambda s: services.retract_evidence(s, ids["kilns"], "Counted twice", actor=ACTOR))
    measure(url, at("2019-07-05"), "prosecutions", "2019Q2", 4)
    measure(url, at("2019-10-05"), "prosecutions", "2019Q3", 9)
    measure(url, at("2019-11-05"), "prosecutions", "2019Q3", 11)  # a correction: the later value wins
    measure(url, at("2019-10-06"), "statistics-reports", "2019Q1", 0)
    measure(url, at("2019-10-06", 10), "statistics-reports", "2019Q3", 1.5)
    return ids


def record_later(url: str, ids: dict[str, int]) -> None:
    """More history recorded after --as-of 2019-12-31, some of it about 2019Q3."""
    later = at("2020-01-15")
    status(url, later, "prosecute-convict", "implemented", "2019-08-01", "Backdated assessment.")
    evidence(url, later, recs=["prosecute-convict"], title="Late news about Q3", day="2019-08-20", sensitivity="public")
    measure(url, later, "prosecutions", "2019Q3", 99)
    write(url, later, lambda s: services.retract_evidence(s, ids["verdict"], "Wrong court", actor=ACTOR))


def _fill_dataset(database: Database, _folder: Path) -> None:
    ids = build_dataset(database.url)
    known = DATASET_IDS.setdefault("ids", ids)
    assert known == ids, "the dataset got other ids on another backend"


# The dataset is built once per backend and session; each test gets a fresh copy of it.
DATASET = template("reports-2019", _fill_dataset)
DATASET_IDS: dict[str, dict[str, int]] = {}


@pytest.fixture
def url(make_url_for, request) -> str:
    """The test's database: a copy of the 2019 dataset when the test asks for ``dataset``,
    else the built-in catalog alone (the conftest's ``url``)."""
    return make_url_for(DATASET if "dataset" in request.fixturenames else "loaded")


@pytest.fixture
def dataset(url) -> dict[str, int]:
    """The ids of the dataset's evidence, by name; ``url`` is a copy of the dataset."""
    return DATASET_IDS["ids"]


def library_quarterly(
    url: str, quarter: str, as_of: str | None = AS_OF, audience: str | None = None, sources=(), attention: bool = True
):
    """``reports.quarterly`` on its own session; ``as_of=None`` is now, ``audience=None`` the library's default."""
    options: dict[str, Any] = {"attention": attention}
    if audience is not None:
        options["audience"] = audience
    database = Database(url)
    try:
        with database.reading() as session:
            return reports.quarterly(
                session, Quarter.parse(quarter), sources=sources, as_of=parse_as_of(as_of), **options
            )
    finally:
        database.dispose()


def library_timeline(
    url: str, first: str | None, last: str | None, as_of: str | None = AS_OF, audience: str | None = None, sources=()
):
    """``reports.timeline`` on its own session; ``first``/``last`` None for the default range."""
    options = {} if audience is None else {"audience": audience}
    database = Database(url)
    try:
        with database.reading() as session:
            return reports.timeline(
                session,
                sources=sources,
                first=first and Quarter.parse(first),
                last=last and Quarter.parse(last),
                as_of=parse_as_of(as_of),
                **options,
            )
    finally:
        database.dispose()


def quarterly_2019q3(url: str, as_of: str | None = AS_OF):
    return library_quarterly(url, "2019Q3", as_of=as_of)


def timeline_2019(url: str, as_of: str | None = AS_OF):
    return library_timeline(url, "2019Q1", "2019Q4", as_of=as_of)


REPORTS = {"quarterly": quarterly_2019q3, "timeline": timeline_2019}  # what QUARTERLY_ARGS and TIMELINE_ARGS ask for


def every_format(report) -> dict[str, str]:
    return {fmt: render.render(report, fmt) for fmt in FORMATS}


def xlsx_text(workbook: bytes) -> str:
    """Every part of a workbook as it is stored (cells, shared strings, properties)."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(workbook)) as archive:
        return "\n".join(archive.read(name).decode("utf-8") for name in archive.namelist())


def xlsx_rows(workbook: bytes) -> list[tuple[Any, ...]]:
    """The workbook's one sheet, as openpyxl reads it: the header row, then the rest."""
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(workbook), read_only=True)
    rows = [tuple(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    width = max((len(row) for row in rows), default=0)  # empty cells at a row's end are not stored
    return [row + (None,) * (width - len(row)) for row in rows]


def docx_text(document: bytes) -> str:
    """All a Word document holds as text: each paragraph's text (its runs joined), then every
    part that is not an image as it is stored (properties and relationships, links included)."""
    import zipfile

    paragraphs, parts = [], []
    with zipfile.ZipFile(io.BytesIO(document)) as archive:
        for entry in archive.infolist():
            parts.append(entry.filename)
            if entry.filename.endswith((".png", ".jpeg")):
                continue
            content = archive.read(entry)
            parts.append(content.decode("utf-8"))
            if entry.filename.startswith("word/") and entry.filename.endswith(".xml"):
                for paragraph in ElementTree.fromstring(content).iter(f"{_W}p"):
                    paragraphs.append("".join(t.text or "" for t in paragraph.iter(f"{_W}t")))
    return "\n".join(paragraphs + parts)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def by_ref(report):
    return {section.ref: section for section in report.recommendations}


# Golden files, and what a chart shows -----------------------------------------------------------


def golden(name: str, output: str) -> None:
    """Compare with tests/golden/NAME, byte for byte; TRACKER_UPDATE_GOLDEN=1 rewrites it instead."""
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(output, encoding="utf-8", newline="")
    expected = path.read_bytes().decode("utf-8")
    assert output == expected, f"{name} differs from the golden file (TRACKER_UPDATE_GOLDEN=1 regenerates it)"


_SVG_ELEMENT = re.compile(r"<svg[\s>].*?</svg>", re.DOTALL)
_NS = "{http://www.w3.org/2000/svg}"
_MOVE = re.compile(r"([ML])(-?[\d.]+) (-?[\d.]+)")


def svgs(page: str) -> list[str]:
    return _SVG_ELEMENT.findall(page)


def chart_facts(svg: str) -> dict[str, Any]:
    """What a chart shows, read back from its SVG (:func:`tracker.render.charts.svg`).

    Its label (``aria-label``), the labelled quarters along the x axis, the legend, its
    other texts (title, axis label, value labels, the target's label), and in data units
    (the y scale is read from the tick labels): each bar as (quarter, bottom, height) by
    colour, each point of the indicator's line as (quarter, value), the runs of points the
    line joins (broken where a quarter has no value), the target line's value.
    """
    root = ElementTree.fromstring(svg)
    x_ticks: list[tuple[float, str | None]] = []
    y_ticks: list[tuple[float, float]] = []
    legend: list[str] = []
    texts: list[str] = []
    bars: list[tuple[str, float, float, float, float]] = []  # colour, left, top, width, height
    points: list[tuple[float, float]] = []
    runs: list[list[tuple[float, float]]] = []
    targets: list[float] = []

    def text_of(element: ElementTree.Element | None) -> str | None:
        return None if element is None else "".join(element.itertext())

    def walk(element: ElementTree.Element) -> None:
        kind, tag = element.get("class"), element.tag.removeprefix(_NS)
        if kind in ("x-tick", "y-tick"):
            mark, label = element.find(_NS + "line"), text_of(element.find(_NS + "text"))
            assert mark is not None, "a tick without its mark"
            if kind == "x-tick":
                x_ticks.append((float(mark.get("x1", "nan")), label))
            else:
                assert label is not None, "a y tick without its value"
                y_ticks.append((float(mark.get("y1", "nan")), float(label.replace("\u2212", "-"))))
        elif kind == "legend":
            legend.extend(text_of(t) or "" for t in element.iter(_NS + "text"))
        elif kind == "plot":
            for shape in element:
                drawn, get = shape.tag.removeprefix(_NS), shape.get
                if drawn == "rect":
                    left, top, width, height = (float(get(name, "nan")) for name in ("x", "y", "width", "height"))
                    bars.append((get("fill", ""), left, top, width, height))
                elif drawn == "circle" and get("fill") == charts.VALUE_COLOUR:
                    points.append((float(get("cx", "nan")), float(get("cy", "nan"))))
                elif drawn == "path" and get("stroke") == charts.VALUE_COLOUR:
                    for move, x, y in _MOVE.findall(get("d", "")):
                        if move == "M":
                            runs.append([])
                        runs[-1].append((float(x), float(y)))
                elif drawn == "line" and get("stroke") == charts.TARGET_COLOUR:
                    targets.append(float(get("y1", "nan")))
        elif tag == "text":
            texts.append(text_of(element) or "")
        else:
            for child in element:
                walk(child)

    walk(root)
    assert len(y_ticks) >= 2, "a chart without a y scale"
    (y0, v0), (y1, v1) = y_ticks[0], y_ticks[-1]
    per_unit = (y0 - y1) / (v1 - v0)
    for y, v in y_ticks:
        assert abs(v0 + (y0 - y) / per_unit - v) <= 0.02 / per_unit, "the y axis is not linear"  # to 0.01 point

    def value(y: float) -> float:
        return round(v0 + (y0 - y) / per_unit, 2)

    def quarter(x: float) -> str | None:
        return min(x_ticks, key=lambda t: abs(t[0] - x))[1]

    by_colour: dict[str, list[tuple[str | None, float, float]]] = {}
    for colour, left, top, width, height in sorted(bars, key=lambda bar: bar[1]):
        bottom = value(top + height)
        by_colour.setdefault(colour, []).append((quarter(left + width / 2), bottom, round(value(top) - bottom, 2)))
    return {
        "label": root.get("aria-label"),
        "quarters": [label for _, label in sorted(x_ticks) if label is not None],
        "legend": legend,
        "texts": sorted(texts),
        "bars": by_colour,
        "points": [(quarter(x), value(y)) for x, y in sorted(points)],
        "line": [[(quarter(x), value(y)) for x, y in run] for run in runs],
        "target": [value(y) for y in targets],
    }


def drawn(chart: charts.Chart) -> dict[str, Any]:
    """What :func:`chart_facts` must read back from the SVG of ``chart``: the data it is drawn from."""
    if isinstance(chart, charts.StatusBars):
        bars: dict[str, list[tuple[str, float, float]]] = {}
        bottoms = [0] * len(chart.quarters)
        for stack in chart.stacks:
            drawn = [(q, bottom, count) for q, bottom, count in zip(chart.quarters, bottoms, stack.counts) if count]
            if drawn:  # a count of 0 draws no bar
                bars[stack.colour] = drawn
            bottoms = [b + c for b, c in zip(bottoms, stack.counts)]
        return {
            "label": chart.title,
            "quarters": list(chart.quarters),
            "legend": [s.label for s in chart.stacks if any(s.counts)],  # a status no quarter has: no entry
            "texts": sorted([chart.title, "recommendations"]),
            "bars": bars,
            "points": [],
            "line": [],
            "target": [],
        }
    targets = [] if chart.target is None else [chart.target]
    runs: list[list[tuple[str, float]]] = []
    for i, v in chart.points:  # consecutive quarters with a value; the line breaks at one without
        if runs and i > 0 and chart.values[i - 1] is not None:
            runs[-1].append((chart.quarters[i], round(v, 2)))
        else:
            runs.append([(chart.quarters[i], round(v, 2))])
    return {
        "label": chart.title,
        "quarters": list(chart.quarters),
        "legend": [],  # one line: no legend; the target is named beside its line
        "texts": sorted(
            [chart.title, chart.unit]
            + [text.number(v) for _, v in chart.points]
            + [f"target {text.number(t)}" for t in targets]
        ),
        "bars": {},
        "points": [(chart.quarters[i], round(v, 2)) for i, v in chart.points],
        "line": [run for run in runs if len(run) > 1],  # a point alone is joined to nothing
        "target": [round(t, 2) for t in targets],
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_quarterly_matches_golden(url, dataset, fmt):
    golden(f"quarterly-2019Q3.{fmt}", render.render(quarterly_2019q3(url), fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_timeline_matches_golden(url, dataset, fmt):
    golden(f"timeline-2019Q1-2019Q4.{fmt}", render.render(timeline_2019(url), fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_quarterly_matches_golden(url, dataset, fmt):
    golden(f"quarterly-2019Q3-public.{fmt}", render.render(library_quarterly(url, "2019Q3", audience="public"), fmt))


def test_charts_show_the_report_data(url, dataset):
    """The data each chart is drawn from, and that its SVG shows that data, whatever the matplotlib version."""
    report = quarterly_2019q3(url)
    history = html.history_chart(report)
    assert history.title == "Recommendations by status, 2019Q2 to 2019Q3"  # from the source's publication
    assert history.quarters == tuple(str(h.quarter) for h in report.history)
    assert [(s.label, s.colour) for s in history.stacks] == [(text.label(s), charts.STATUS_COLOURS[s]) for s in Status]
    assert {s.label: s.counts for s in history.stacks} == {
        text.label(status): tuple(dict(h.counts)[status] for h in report.history) for status in Status
    }
    assert {s.label: s.counts[-2:] for s in history.stacks} == {
        "not started": (3, 3),
        "in progress": (2, 1),
        "partially implemented": (0, 1),
        "implemented": (0, 0),
    }
    indicators = html.indicator_charts(report)
    assert list(indicators) == [("prosecute-convict", "prosecutions"), ("data-collection", "statistics-reports")]
    prosecutions, statistics = indicators.values()
    assert (prosecutions.title, prosecutions.unit, prosecutions.target) == (
        "Trafficking prosecutions initiated (cases)",
        "cases",
        None,
    )
    assert prosecutions.points == ((0, 4), (1, 11))  # 2019Q2, 2019Q3
    assert (statistics.title, statistics.target, statistics.values) == (
        "Statistics reports published (reports)",
        4,
        (None, 1.5),
    )
    assert statistics.quarters == history.quarters

    page = render.render(report, "html")
    assert html.page_charts(report) == [history, prosecutions, statistics]
    assert [chart_facts(svg) for svg in svgs(page)] == [drawn(chart) for chart in html.page_charts(report)]
    timeline = timeline_2019(url)
    assert [chart_facts(svg) for svg in svgs(render.render(timeline, "html"))] == [
        drawn(chart) for chart in html.page_charts(timeline)
    ]
    assert [c.title for c in html.page_charts(timeline)] == ["Recommendations by status, 2019Q1 to 2019Q4"]


def test_the_chart_check_catches_a_wrong_or_missing_chart(url, dataset):
    """A chart drawn from other data than the report's, or a chart left out, fails the comparison."""
    report = quarterly_2019q3(url)
    history, prosecutions, statistics = html.page_charts(report)
    first, second, *others = history.stacks
    replace = dataclasses.replace
    wrong = {
        "a count off": (
            history,
            replace(history, stacks=(replace(first, counts=(*first.counts[:-1], 2)), second, *others)),
        ),
        "two statuses stacked the wrong way round": (history, replace(history, stacks=(second, first, *others))),
        "a quarter mislabelled": (history, replace(history, quarters=(*history.quarters[:-1], "2019Q4"))),
        "a value off": (prosecutions, replace(prosecutions, values=(*prosecutions.values[:-1], 12.0))),
        "the target off": (statistics, replace(statistics, target=3.0)),
        "a point too many": (statistics, replace(statistics, values=(*statistics.values[:-2], 0.0, 1.5))),
    }
    for what, (right, chart) in wrong.items():
        facts = chart_facts(charts.svg(chart))
        assert facts == drawn(chart), what  # the check reads back what was drawn...
        assert facts != drawn(right), what  # ...so a chart drawn from other data fails it
    page = render.render(report, "html")
    missing = page.replace(svgs(page)[1], "", 1)
    assert [chart_facts(svg) for svg in svgs(missing)] != [drawn(chart) for chart in html.page_charts(report)]


# Reproducible as of any moment ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["quarterly", "timeline"])
def test_same_bytes_after_more_is_recorded_later(url, dataset, kind):
    build = REPORTS[kind]
    before = every_format(build(url))
    assert before == every_format(build(url))
    record_later(url, dataset)
    assert before == every_format(build(url))
    # ...while a report as of now sees the later rows.
    now = json.loads(render.render(build(url, as_of="2020-01-31"), "json"))
    assert now != json.loads(before["json"])


def test_later_rows_and_retraction_are_what_a_later_as_of_sees(url, dataset):
    record_later(url, dataset)
    then = by_ref(library_quarterly(url, "2019Q3"))
    later = by_ref(library_quarterly(url, "2019Q3", as_of="2020-01-31"))
    assert then["prosecute-convict"].status == Status.IN_PROGRESS
    assert later["prosecute-convict"].status == Status.IMPLEMENTED
    assert [e.title for e in then["prosecute-convict"].evidence] == [
        "Prakas on undercover investigations signed",
        "Appeal court upholds conviction",
    ]
    # The verdict was retracted after 2019-12-31; the late news was recorded then too.
    assert [e.title for e in later["prosecute-convict"].evidence] == [
        "Prakas on undercover investigations signed",
        "Late news about Q3",
    ]
    assert then["prosecute-convict"].indicators[0].value == 11
    assert later["prosecute-convict"].indicators[0].value == 99


def test_sources_recommendations_and_owners_added_later_change_nothing(url, dataset):
    """Rows without a recorded_at of their own are dated by the events that recorded them."""
    from tracker import catalogs

    before = {kind: every_format(build(url)) for kind, build in REPORTS.items()}
    later = at("2020-02-01")
    write(
        url,
        later,
        lambda s: services.add_recommendation(
            s,
            source="tip-2019-khm",
            code="shelters",
            title="Fund shelters",
            text="Fund shelters.",
            pillar="protection",
            actor=ACTOR,
        ),
    )
    write(url, later, lambda s: services.add_agency(s, "mfa", "Ministry of Foreign Affairs", actor=ACTOR))
    write(url, later, lambda s: services.assign_agency(s, "undercover-techniques", "mfa", "support", actor=ACTOR))
    write(
        url,
        later,
        lambda s: services.add_indicator(
            s,
            "undercover-techniques",
            code="undercover-ops",
            name="Undercover operations",
            unit="operations",
            actor=ACTOR,
        ),
    )
    # An earlier edition of the series: the report as of before it is as it was; the report now
    # still shows the edition in force, its codes unqualified (a short REF names it).
    write(url, later, lambda s: catalogs.load(s, catalogs.read("tip-2018-khm"), ACTOR))
    for kind, outputs in before.items():
        assert outputs == every_format(REPORTS[kind](url))
    now = json.loads(render.render(quarterly_2019q3(url, as_of="2020-02-02"), "json"))
    refs = [r["ref"] for r in now["recommendations"]]
    assert "shelters" in refs and "undercover-techniques" in refs
    assert now["sources"] == ["tip-2019-khm"]
    both = json.loads(
        render.render(
            library_quarterly(url, "2019Q3", as_of="2020-02-02", sources=["tip-2019-khm", "tip-2018-khm"]), "json"
        )
    )
    assert "tip-2019-khm/undercover-techniques" in [r["ref"] for r in both["recommendations"]]


# Quarter boundaries -------------------------------------------------------------------------------------


def test_quarter_boundaries(url, dataset):
    q2, q3, q4 = (by_ref(library_quarterly(url, q)) for q in ("2019Q2", "2019Q3", "2019Q4"))
    # Evidence observed 2019-09-30 is in 2019Q3, 2019-10-01 in 2019Q4.
    assert "Appeal court upholds conviction" in [e.title for e in q3["prosecute-convict"].evidence]
    assert "Two traffickers sentenced" not in [e.title for e in q3["prosecute-convict"].evidence]
    assert [e.title for e in q4["prosecute-convict"].evidence] == ["Two traffickers sentenced"]
    # A status effective 2019-10-01 is not the 2019Q3 end status; it is 2019Q4's.
    assert q3["labor-inspections"].status == Status.NOT_STARTED
    assert q4["labor-inspections"].status == Status.IMPLEMENTED
    assert [c.effective_on for c in q4["labor-inspections"].status_updates] == [date(2019, 10, 1)]
    # A status effective 2019-07-01 changes 2019Q3, not the 2019Q2 end status.
    assert q2["prosecute-convict"].status == Status.NOT_STARTED
    assert q3["prosecute-convict"].previous_status == Status.NOT_STARTED
    assert q3["prosecute-convict"].status == Status.IN_PROGRESS
    assert [c.effective_on for c in q3["prosecute-convict"].status_updates] == [date(2019, 7, 1)]
    assert [c.effective_on for c in q2["prosecute-convict"].status_updates] == []


def test_a_format_that_does_not_show_the_attention_list_is_made_without_it(url, dataset):
    """The findings are read only for the formats that show them (``Format.attention``): for
    the others the output is the same without them; for those, it is not."""
    report = library_quarterly(url, "2019Q3")
    assert report.attention  # findings, overdue and regressed recommendations (test_summary_and_attention)
    without = library_quarterly(url, "2019Q3", attention=False)
    assert without == dataclasses.replace(report, attention=())
    shown = {f.name: f.attention for f in render.REGISTRY}
    assert shown == {"md": True, "html": True, "json": False, "csv": False, "xlsx": False, "docx": True, "pdf": True}
    for fmt in render.REGISTRY:
        if fmt.name == "pdf":  # the html page, printed (tests/test_report_pdf.py)
            assert fmt.attention == shown["html"]
            continue
        same = render.render(report, fmt.name) == render.render(without, fmt.name)
        assert same != fmt.attention, fmt.name


def test_quarter_spellings_and_as_of_with_offset(url, dataset):
    expected = render.render(quarterly_2019q3(url), "json")
    for spelling in ("2019-Q3", "2019q3"):
        assert render.render(library_quarterly(url, spelling), "json") == expected
    # The end of 2019-12-31 UTC, written in Phnom Penh time.
    same = render.render(library_quarterly(url, "2019Q3", as_of="2020-01-01T06:59:59.999999+07:00"), "json")
    assert same == expected


def test_summary_and_attention(url, dataset):
    report = library_quarterly(url, "2019Q3")
    summary = report.summary
    assert dict(summary.previous_status_counts) == {
        Status.NOT_STARTED: 3,
        Status.IN_PROGRESS: 2,
        Status.PARTIALLY_IMPLEMENTED: 0,
        Status.IMPLEMENTED: 0,
    }
    assert dict(summary.status_counts) == {
        Status.NOT_STARTED: 3,
        Status.IN_PROGRESS: 1,
        Status.PARTIALLY_IMPLEMENTED: 1,
        Status.IMPLEMENTED: 0,
    }
    assert (summary.advanced, summary.regressed, summary.unchanged) == (2, 1, 2)
    # Retracted evidence does not count; confidential evidence is withheld from the internal report.
    assert summary.evidence_count == 2
    assert report.withheld == 1
    assert summary.overdue == ("data-collection",)
    attention = {item.ref: text.attention_text(item) for item in report.attention}
    assert attention == {
        "victim-identification": "regressed from in progress to not started; no evidence this quarter",
        "labor-inspections": "no evidence this quarter",
        "data-collection": "overdue (due 2019-09-15); no evidence this quarter; no-lead: no lead agency is assigned",
        # lint findings (tests/test_lint.py): the internal report lists the quarter's
        "undercover-techniques": "unsupported-progress: status 4 (partially_implemented, effective 2019-08-15) "
        "cites no evidence",
    }
    changes = [(c.ref, c.previous, c.status) for c in report.changes]
    assert changes == [
        ("prosecute-convict", Status.NOT_STARTED, Status.IN_PROGRESS),
        ("undercover-techniques", Status.IN_PROGRESS, Status.PARTIALLY_IMPLEMENTED),
        ("victim-identification", Status.IN_PROGRESS, Status.NOT_STARTED),
    ]
    indicator = by_ref(report)["data-collection"].indicators[0]
    assert (indicator.value, indicator.previous_value, indicator.target) == (1.5, None, 4)
    # 2019Q2 (when the source was published) to 2019Q3: the value recorded for 2019Q1 is before it
    assert [(str(p.quarter), p.value) for p in indicator.series] == [("2019Q2", None), ("2019Q3", 1.5)]


def test_json_has_exactly_the_designed_keys(url, dataset):
    document = json.loads(render.render(quarterly_2019q3(url), "json"))
    assert list(document) == [
        "schema_version",
        "quarter",
        "period",
        "as_of",
        "audience",
        "fingerprint",
        "sources",
        "sources_basis",
        "summary",
        "recommendations",
        "withheld",
        "corrections",
    ]
    assert document["schema_version"] == 4
    assert (document["sources"], document["sources_basis"]) == (["tip-2019-khm"], "in force")
    assert document["period"] == {"start": "2019-07-01", "end": "2019-10-01"}
    assert document["as_of"] == "2019-12-31T23:59:59.999999Z"
    assert set(document["summary"]) == {
        "status_counts",
        "previous_status_counts",
        "advanced",
        "regressed",
        "unchanged",
        "evidence_count",
        "overdue",
    }
    rec = document["recommendations"][0]
    assert set(rec) == {
        "ref",
        "code",
        "title",
        "pillar",
        "status",
        "previous_status",
        "change",
        "due_on",
        "overdue",
        "corrected",
        "carried_over_from",
        "status_updates",
        "evidence",
        "indicators",
    }
    assert set(rec["evidence"][0]) == {
        "id",
        "title",
        "kind",
        "observed_on",
        "stance",
        "reliability",
        "summary",
        "source_name",
        "url",
        "sensitivity",
        "corrected",
    }
    assert set(rec["indicators"][0]) == {"code", "name", "unit", "value", "previous_value", "target", "corrected"}


# Audience -----------------------------------------------------------------------------------------------

MARKERS = {
    level: {field: f"{level}-{field}-marker" for field in ("title", "summary", "source", "url", "file")}
    for level in ("public", "internal", "confidential")
}


def plant_markers(url: str) -> None:
    """Evidence at each level with a marker in every field, and an assessment that cites all three."""
    ids = []
    for level, mark in MARKERS.items():
        ids.append(
            evidence(
                url,
                at("2019-08-30"),
                recs=["prosecute-convict", "victim-identification"],
                title=mark["title"],
                day="2019-08-29",
                sensitivity=level,
                summary=mark["summary"],
                source_name=mark["source"],
                url_=f"https://{mark['url']}.example/doc",
                files=[(f"{mark['file']}.pdf", level.encode())],
            )
        )
    write(
        url,
        at("2019-08-30", 12),
        lambda s: services.set_status(
            s,
            "prosecute-convict",
            "in_progress",
            effective_on="2019-08-30",
            note="Markers cited.",
            evidence_ids=ids,
            actor=ACTOR,
        ),
    )


@pytest.mark.parametrize("audience", ["public", "internal", "confidential"])
def test_nothing_above_the_audience_appears_anywhere(url, audience):
    plant_markers(url)
    level = Sensitivity(audience)
    outputs = {}
    for kind, report in (
        ("quarterly", library_quarterly(url, "2019Q3", audience=audience)),
        ("timeline", library_timeline(url, "2019Q2", "2019Q4", audience=audience)),
    ):
        for fmt, output in every_format(report).items():
            outputs[(kind, fmt)] = output.lower()
        outputs[(kind, "docx")] = docx_text(render.render(report, "docx")).lower()
        outputs[(kind, "xlsx")] = xlsx_text(render.render(report, "xlsx")).lower()
    for name, marks in MARKERS.items():
        for (report, fmt), output in outputs.items():
            for mark in marks.values():
                if Sensitivity(name).rank > level.rank:
                    assert mark not in output, f"{mark} leaked into the {audience} {report} {fmt}"
    # What the audience may see is there: titles everywhere evidence is listed, files in md and html.
    for name, marks in MARKERS.items():
        if Sensitivity(name).rank <= level.rank:
            for fmt in ("md", "html", "json", "docx"):
                assert marks["title"] in outputs[("quarterly", fmt)]
                assert marks["summary"] in outputs[("quarterly", fmt)]
            for fmt in ("md", "html", "docx"):
                assert marks["file"] in outputs[("quarterly", fmt)]
                assert marks["source"] in outputs[("quarterly", fmt)]
    document = json.loads(outputs[("quarterly", "json")])
    # The assessment's citations: what the audience may see by id and title, the rest counted.
    above = {"public": 2, "internal": 1, "confidential": 0}[audience]
    (citing,) = [c for r in document["recommendations"] for c in r["status_updates"] if c["note"] == "markers cited."]
    assert citing["cites_withheld"] == above
    assert [c["title"] for c in citing["cites"]] == [m["title"] for m in list(MARKERS.values())[: 3 - above]]
    if above:
        withheld = f"{above} item{'s' if above > 1 else ''} withheld"
        for fmt in ("md", "html", "docx"):
            assert withheld in outputs[("quarterly", fmt)]
    assert document["withheld"] == {"public": 2, "internal": 1, "confidential": 0}[audience]
    sheet = xlsx_rows(render.render(library_quarterly(url, "2019Q3", audience=audience), "xlsx"))
    (row,) = [row for row in sheet[1:] if row[0] == "prosecute-convict"]
    assert row[sheet[0].index("cited_withheld")] == above
    assert document["summary"]["evidence_count"] == 3 - document["withheld"]
    assert document["audience"] == audience
    if audience == "public":
        assert "not for publication" not in outputs[("quarterly", "md")]
    else:
        assert "not for publication" in outputs[("quarterly", "md")]
        assert "not for publication" in outputs[("quarterly", "html")]
        assert "not for publication" in outputs[("timeline", "md")]


def test_internal_is_the_default_audience(url):
    plant_markers(url)
    output = render.render(library_quarterly(url, "2019Q3"), "md")
    assert "Audience: internal" in output
    assert "INTERNAL: not for publication." in output
    assert MARKERS["internal"]["title"] in output
    assert MARKERS["confidential"]["title"] not in output


# Fingerprint ---------------------------------------------------------------------------------------------


def test_fingerprint_is_the_last_event_at_or_before_as_of(run, url, dataset):
    database = Database(url)
    try:
        with database.reading() as session:
            expected = session.scalars(
                select(Event.hash).where(Event.recorded_at <= parse_as_of(AS_OF)).order_by(Event.seq.desc()).limit(1)
            ).first()
            assert last_event(session, parse_as_of(AS_OF)).hash == expected
    finally:
        database.dispose()
    document = json.loads(render.render(quarterly_2019q3(url), "json"))
    assert document["fingerprint"] == expected
    assert f"Fingerprint: {expected}" in render.render(quarterly_2019q3(url), "md")
    assert run("verify", "--anchor", expected).exit_code == 0
    # Anything recorded changes the fingerprint of a report as of now, not of one as of before.
    now_before = json.loads(render.render(quarterly_2019q3(url, as_of=None), "json"))["fingerprint"]
    write(url, datetime.now(UTC), lambda s: services.add_agency(s, "mfa", "Ministry of Foreign Affairs", actor=ACTOR))
    now_after = json.loads(render.render(quarterly_2019q3(url, as_of=None), "json"))["fingerprint"]
    assert now_before != now_after
    assert json.loads(render.render(quarterly_2019q3(url), "json"))["fingerprint"] == expected


def test_fingerprint_before_anything_was_recorded(url):
    report = library_quarterly(url, "2019Q1", as_of="2019-01-01")
    assert "Fingerprint: none: nothing had been recorded as of this instant" in render.render(report, "md")
    assert json.loads(render.render(report, "json"))["fingerprint"] is None


# HTML ---------------------------------------------------------------------------------------------------

_EXTERNAL = [
    (re.compile(r"<(?:link|script|img|iframe|object|embed|audio|video|source|base)\b", re.I), "a fetching element"),
    (re.compile(r"\ssrc(?:set)?\s*=", re.I), "a src attribute"),
    (re.compile(r"@import", re.I), "a CSS @import"),
    (re.compile(r"url\(\s*(?!['\"]?#)", re.I), "a CSS url() that is not a local #reference"),
    (re.compile(r"(?<!<a class=\"web\" )href\s*=\s*(?!['\"]?#)", re.I), "an href other than a link to click"),
]


def assert_self_contained(page: str) -> None:
    for pattern, what in _EXTERNAL:
        match = pattern.search(page)
        assert match is None, f"{what}: {page[max(0, match.start() - 80) : match.end() + 80]!r}"
    assert "default-src 'none'" in page  # and the browser is told to fetch nothing anyway


def test_html_references_no_external_resource(url, dataset):
    plant_markers(url)
    for report in (
        library_quarterly(url, "2019Q3", audience="confidential"),
        library_timeline(url, "2019Q1", "2019Q4", audience="confidential"),
    ):
        assert_self_contained(render.render(report, "html"))
    # Evidence links stay clickable, and only http(s) links become links.
    page = render.render(quarterly_2019q3(url), "html")
    assert '<a class="web" href="https://example.org/verdict" rel="noopener noreferrer">link</a>' in page


@pytest.mark.parametrize(
    "snippet",
    [
        '<img src="https://example.org/x.png">',
        '<link rel="stylesheet" href="https://example.org/x.css">',
        "<style>@import 'https://example.org/x.css';</style>",
        '<div style="background: url(https://example.org/x)">',
        '<svg><image href="https://example.org/x.png"/></svg>',
        '<script>fetch("x")</script>',
    ],
)
def test_the_self_contained_check_catches_external_references(snippet):
    page = f"<html><head><meta content=\"default-src 'none'\"></head><body>{snippet}</body></html>"
    with pytest.raises(AssertionError):
        assert_self_contained(page)


def test_html_has_charts_and_a_print_stylesheet(url, dataset):
    page = render.render(quarterly_2019q3(url), "html")
    assert page.count("<svg") == 3  # status history, prosecutions, statistics reports
    assert 'aria-label="Recommendations by status, 2019Q2 to 2019Q3"' in page
    assert 'aria-label="Statistics reports published (reports)"' in page
    assert "target 4" in page
    assert "@media print" in page and "break-before: page" in page
    assert page.count('<section class="recommendation">') == 5


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_html_renders_in_headless_chromium(run, dataset, tmp_path):
    """End to end: the page the command writes, opened in a browser."""
    from matplotlib import image

    page = tmp_path / "report.html"
    screenshot = tmp_path / "report.png"
    assert run(*QUARTERLY_ARGS, "--format", "html", "-o", page).exit_code == 0
    completed = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={screenshot}",
            "--window-size=1200,1600",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert screenshot.exists(), completed.stderr.decode(errors="replace")[-2000:]
    pixels = image.imread(screenshot)
    assert pixels.shape[:2] == (1600, 1200)
    colours = {tuple(p) for p in pixels[::7, ::7].reshape(-1, pixels.shape[-1]).tolist()}
    assert len(colours) > 20, "the screenshot is blank"


# Empty and early quarters ---------------------------------------------------------------------------------


def test_empty_quarter_is_a_clear_report(url):
    report = library_quarterly(url, "2019Q3")
    output = render.render(report, "md")
    assert "No status assessment took effect in 2019Q3." in output
    assert "No evidence observed in this quarter has been recorded." in output
    assert "No evidence observed in 2019Q3." in output
    assert "No evidence was withheld from this internal report." in output
    document = json.loads(render.render(report, "json"))
    assert document["summary"]["status_counts"]["not_started"] == 4
    assert document["summary"]["evidence_count"] == 0
    assert len(document["recommendations"]) == 4
    for fmt in ("html", "csv"):
        assert render.render(report, fmt)


def test_quarter_before_the_source_was_published(url):
    report = library_quarterly(url, "2019Q1", sources=["tip-2019-khm"])
    output = render.render(report, "md")
    assert (
        "tip-2019-khm was published on 2019-06-20, after 2019Q1 ended (2019-03-31): its recommendations had "
        "not been issued yet, so this report has nothing to assess for it."
    ) in output
    assert "None of the selected sources had been published by the end of the period" in output
    document = json.loads(render.render(report, "json"))
    assert document["recommendations"] == []
    assert document["summary"]["status_counts"] == {s.value: 0 for s in Status}
    assert render.render(report, "csv") == (
        "ref,title,pillar,previous_status,status,change,evidence_count,"
        "evidence_ids,unverified_evidence_ids,cited_evidence_ids,cited_withheld\r\n"
    )
    assert "its recommendations had not been issued yet" in render.render(report, "html")
    # The quarter it was published in is covered.
    assert len(json.loads(render.render(library_quarterly(url, "2019Q2"), "json"))["recommendations"]) == 4


def test_timeline_marks_unissued_quarters_and_changes(url, dataset):
    timeline = library_timeline(url, "2019Q1", "2019Q4")
    rows = {row.ref: row for row in timeline.rows}
    cells = [(str(c.quarter), c.status and c.status.value, c.changed) for c in rows["undercover-techniques"].cells]
    assert cells == [
        ("2019Q1", None, False),
        ("2019Q2", "in_progress", True),
        ("2019Q3", "partially_implemented", True),
        ("2019Q4", "partially_implemented", False),
    ]
    assert rows["labor-inspections"].changed_in == (Quarter(2019, 4),)
    assert rows["prosecute-convict"].changed_in == (Quarter(2019, 3),)


def test_timeline_default_range_runs_from_publication_to_as_of(url, dataset):
    document = json.loads(render.render(library_timeline(url, None, None, as_of="2020-02-01"), "json"))
    assert document["quarters"] == ["2019Q2", "2019Q3", "2019Q4", "2020Q1"]


# CSV --------------------------------------------------------------------------------------------------------


def test_csv_neutralises_formulas_but_not_numbers(url, dataset):
    for code, title in (
        ("formula-a", '=HYPERLINK("https://evil.example","x")'),
        ("formula-b", "+1+1"),
        ("formula-c", "-2+3"),
        ("formula-d", "@SUM(A1)"),
    ):
        write(
            url,
            at("2019-06-25"),
            lambda s, c=code, t=title: services.add_recommendation(
                s, source="tip-2019-khm", code=c, title=t, text="Planted.", pillar="prevention", actor=ACTOR
            ),
        )
    write(
        url,
        at("2019-06-25", 11),
        lambda s: services.add_indicator(
            s, "formula-c", code="net-change", name="Net change", unit="cases", actor=ACTOR
        ),
    )
    measure(url, at("2019-10-07"), "net-change", "2019Q3", -5)
    output = render.render(quarterly_2019q3(url), "csv")
    lines = output.split("\r\n")
    assert 'formula-a,"\'=HYPERLINK(""https://evil.example"",""x"")"' in output
    assert any(line.startswith("formula-b,'+1+1,") for line in lines)
    formula_c = next(line for line in lines if line.startswith("formula-c,"))
    assert formula_c.startswith("formula-c,'-2+3,prevention,not_started,not_started,unchanged,0,")
    column = lines[0].split(",").index("indicator:net-change")
    assert formula_c.split(",")[column] == "-5"  # numbers are numbers, never prefixed
    assert any(line.startswith("formula-d,'@SUM(A1),") for line in lines)
    for cell in ("\tx", "\rx", "\nx", "=x", "+x", "-x", "@x"):
        assert csvfile.neutralise(cell) == "'" + cell
    assert csvfile.neutralise("x=1") == "x=1"
    assert csvfile.neutralise(-5) == -5


# The formats ----------------------------------------------------------------------------------------------


def test_one_registry_names_checks_and_renders_the_formats(url):
    assert render.format_names() == FORMATS + ("xlsx", "docx", "pdf") == render.FORMATS
    assert render.format_help() == "md, html, json, csv, xlsx, docx or pdf"
    assert [(f.name, f.extension) for f in render.REGISTRY] == [(name, f".{name}") for name in render.FORMATS]
    assert [f.name for f in render.REGISTRY if f.binary] == ["xlsx", "docx", "pdf"]
    assert render.check_format(" HTML ") == "html"
    for bad in ("rtf", "", "markdown"):
        with pytest.raises(
            InputError, match=rf"^unknown --format {re.escape(repr(bad))}: use md, html, json, csv, xlsx, docx or pdf$"
        ):
            render.check_format(bad)
    report, timeline = library_quarterly(url, "2019Q3"), library_timeline(url, "2019Q2", "2019Q3")
    for fmt in render.REGISTRY:
        if fmt.binary:  # rendered, and rendered again to the same bytes, in tests/test_report_docx.py
            continue
        assert render.render(report, fmt.name) == fmt.quarterly(report) == fmt.render(report)
        assert render.render(timeline, fmt.name) == fmt.timeline(timeline) == fmt.render(timeline)
    # Names code elsewhere imports from tracker.render.
    assert (render.neutralise, render.attention_text, render.changes_text) == (
        csvfile.neutralise,
        text.attention_text,
        text.changes_text,
    )
    with pytest.raises(AttributeError):
        render.no_such_name  # noqa: B018


def test_the_registry_is_cheap_to_import():
    """The command line can build its --format help from the registry without importing what renders."""
    code = (
        "import sys, tracker.render as r; print(r.format_help()); "
        "print(sorted(m for m in ('sqlalchemy', 'jinja2', 'matplotlib', 'docx', 'weasyprint', 'tracker.reports') "
        "if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "md, html, json, csv, xlsx, docx or pdf\n[]\n"


# The quarter a source was published in ------------------------------------------------------------------


def test_previous_quarter_before_publication_counts_nothing(url):
    """tip-2019-khm was published 2019-06-20: at the end of 2019Q1 its recommendations were not yet issued."""
    status(url, at("2019-06-26"), "victim-identification", "in_progress", "2019-06-25", "Pilot in two provinces.")
    report = library_quarterly(url, "2019Q2")
    summary = report.summary
    assert dict(summary.previous_status_counts) == {status: 0 for status in Status}
    assert dict(summary.status_counts) == {
        Status.NOT_STARTED: 3,
        Status.IN_PROGRESS: 1,
        Status.PARTIALLY_IMPLEMENTED: 0,
        Status.IMPLEMENTED: 0,
    }
    # The summary agrees with the report's own history table...
    # ...which starts in 2019Q2, when the source was published: no quarter before it is shown
    assert [h.quarter for h in report.history] == [Quarter(2019, 2)]
    assert previous_in_history(report) == summary.previous_status_counts
    assert report.history[-1].counts == summary.status_counts
    # ...and each recommendation says it was not yet issued, its change measured from not started.
    sections = by_ref(report)
    assert {ref: section.previous_status for ref, section in sections.items()} == dict.fromkeys(sections)
    assert {ref: section.change.value for ref, section in sections.items()} == {
        "prosecute-convict": "unchanged",
        "undercover-techniques": "unchanged",
        "victim-identification": "advanced",
        "labor-inspections": "unchanged",
    }
    assert (summary.advanced, summary.regressed, summary.unchanged, summary.issued_in_quarter) == (1, 0, 3, 4)

    # The timeline says the same: 2019Q1 not yet issued, a change in 2019Q2 only where the quarterly sees one.
    timeline = library_timeline(url, "2019Q1", "2019Q2")
    for row in timeline.rows:
        assert row.cells[0].status is None
        assert row.cells[1].status == sections[row.ref].status
        assert row.cells[1].changed == (sections[row.ref].change.value != "unchanged")

    document = json.loads(render.render(report, "json"))
    assert document["summary"]["previous_status_counts"] == {s.value: 0 for s in Status}
    assert [(r["ref"], r["previous_status"], r["change"]) for r in document["recommendations"]] == [
        ("prosecute-convict", None, "unchanged"),
        ("undercover-techniques", None, "unchanged"),
        ("victim-identification", None, "advanced"),
        ("labor-inspections", None, "unchanged"),
    ]
    lines = render.render(report, "csv").split("\r\n")
    assert lines[0].split(",")[3:6] == ["previous_status", "status", "change"]
    assert any(
        line.startswith(
            "victim-identification,Fully implement the nationwide victim identification "
            "protocol,protection,,in_progress,advanced,0,"
        )
        for line in lines
    )
    timeline_csv = render.render(timeline, "csv")
    assert (
        "victim-identification,Fully implement the nationwide victim identification protocol,protection,,"
        "in_progress,2019Q2" in timeline_csv.split("\r\n")
    )

    output = render.render(report, "md")
    assert "| total | 0 | 4 |" in output
    assert "| not started | 4 |" not in output
    assert (
        "- Status: in progress at the end of 2019Q2, not yet issued at the end of 2019Q1: advanced since it "
        "was issued in 2019Q2"
    ) in output
    assert (
        "- Status: not started at the end of 2019Q2, not yet issued at the end of 2019Q1: unchanged since it "
        "was issued in 2019Q2"
    ) in output
    assert (
        "Between the end of 2019Q1 and the end of 2019Q2: 1 advanced, 0 regressed, 3 unchanged; the 4 "
        "recommendations issued in 2019Q2 count from not started, their status when issued."
    ) in output
    page = render.render(report, "html")
    assert "not yet issued</span> at the end of 2019Q1" in page
    assert "advanced since it was issued in 2019Q2" in page
    assert '<th class="num">0</th><th class="num">4</th>' in page


def test_previous_quarter_with_sources_published_before_and_during_it(url):
    """With two editions selected, the previous quarter counts the older one's recommendations
    only; sources narrow; by default the report shows the edition in force at the quarter's end."""
    from tracker import catalogs

    write(url, at("2019-06-22"), lambda s: catalogs.load(s, catalogs.read("tip-2018-khm"), ACTOR))
    default = library_quarterly(url, "2019Q2")
    assert {s.source for s in default.recommendations} == {"tip-2019-khm"}
    assert [s.slug for s in default.header.sources] == ["tip-2019-khm"] and default.header.basis == "in force"
    assert {s.source for s in library_quarterly(url, "2019Q1").recommendations} == {"tip-2018-khm"}
    both = library_quarterly(url, "2019Q2", sources=["tip-2019-khm", "tip-2018-khm"])
    older = [s for s in both.recommendations if s.source == "tip-2018-khm"]
    newer = [s for s in both.recommendations if s.source == "tip-2019-khm"]
    assert older and newer
    assert all(s.previous_status == Status.NOT_STARTED for s in older)
    assert all(s.previous_status is None for s in newer)
    assert sum(c for _, c in both.summary.previous_status_counts) == len(older)
    assert previous_in_history(both) == both.summary.previous_status_counts
    assert both.summary.issued_in_quarter == len(newer)

    only_new = library_quarterly(url, "2019Q2", sources=["tip-2019-khm"])
    assert sum(c for _, c in only_new.summary.previous_status_counts) == 0
    assert previous_in_history(only_new) == only_new.summary.previous_status_counts
    document = json.loads(render.render(only_new, "json"))
    assert {r["previous_status"] for r in document["recommendations"]} == {None}
    only_old = library_quarterly(url, "2019Q2", sources=["tip-2018-khm"])
    assert only_old.summary.issued_in_quarter == 0
    assert "issued in 2019Q2" not in text.changes_text(only_old)


def previous_in_history(report):
    """The counts the history table has for the quarter before the report's; none counted when the
    history starts at the report's quarter (its sources were published in it)."""
    if len(report.history) > 1:
        return report.history[-2].counts
    assert report.history[0].quarter == report.quarter
    return tuple((status, 0) for status in Status)


@pytest.mark.parametrize("quarter", ["2019Q1", "2019Q2", "2019Q3", "2019Q4"])
def test_previous_counts_always_match_the_history_table(url, dataset, quarter):
    report = library_quarterly(url, quarter)
    assert previous_in_history(report) == report.summary.previous_status_counts
    assert report.history[-1].counts == report.summary.status_counts


# As of an instant before anything was recorded -----------------------------------------------------------


def test_as_of_before_the_catalog_was_recorded_says_so(make_url_for):
    """A catalog loaded today, a report as of 2019: nothing had been recorded by then."""
    from tracker import catalogs

    url = make_url_for("empty")
    write(url, datetime.now(UTC), lambda s: catalogs.load(s, catalogs.read("tip-2019-khm"), ACTOR))
    report = library_quarterly(url, "2019Q3", audience="public")
    output = render.render(report, "md")
    assert "No source is loaded" not in output
    assert "- Sources: none recorded as of this instant" in output
    assert (
        "**Nothing to report: no source had been recorded by 2019-12-31T23:59:59.999999Z. `--as-of` keeps only "
        "what had been recorded by that instant, whatever period it is about, so a catalog loaded later is "
        "left out: give a later `--as-of`, or none. If no catalog is loaded yet, load one with "
        "`tracker catalog load`.**"
    ) in output
    assert "\\`" not in output
    page = render.render(report, "html")
    assert "<code>tracker catalog load</code>" in page and "`" not in page
    timeline = render.render(library_timeline(url, None, None), "md")
    assert "Nothing to report: no source had been recorded by 2019-12-31T23:59:59.999999Z." in timeline
    # Naming the source: it had not been recorded by then either.
    named = render.render(library_quarterly(url, "2019Q3", audience="public", sources=["tip-2019-khm"]), "md")
    assert "Nothing to report: tip-2019-khm had not been recorded by 2019-12-31T23:59:59.999999Z." in named
    assert "If no catalog is loaded yet" not in named


def test_as_of_on_an_empty_database_gives_the_same_bytes_after_a_later_catalog_load(make_url_for):
    """The message depends only on what was recorded by the as-of instant, so it cannot change later."""
    from tracker import catalogs

    url = make_url_for("empty")
    before = every_format(library_quarterly(url, "2019Q3"))
    assert "tracker catalog load" in before["md"]
    write(url, datetime.now(UTC), lambda s: catalogs.load(s, catalogs.read("tip-2019-khm"), ACTOR))
    assert before == every_format(library_quarterly(url, "2019Q3"))


# --as-of may not be in the future ---------------------------------------------------------------------------


def test_parse_as_of_refuses_the_future():
    from datetime import timedelta

    now = datetime(2020, 1, 1, 12, tzinfo=UTC)
    with clock.frozen(now):
        today = clock.today()
        # A date means the end of that day, UTC: today's date is accepted.
        assert parse_as_of(today.isoformat()) == datetime(
            today.year, today.month, today.day, 23, 59, 59, 999999, tzinfo=UTC
        )
        assert parse_as_of("2020-01-01T12:00:00+00:00") == now
        assert parse_as_of("2020-01-01T19:00:00+07:00") == now
        assert parse_as_of(None) == now
        assert parse_as_of(clock.iso_utc(now)) == now  # the As of a report prints regenerates it
        for moment in (
            (today + timedelta(days=1)).isoformat(),
            "2030-01-01",
            "9999-12-31",
            "2020-01-01T12:00:00.000001+00:00",
            "2020-01-01T20:00:00+07:00",
            "9999-12-31T23:59:59-01:00",
        ):
            with pytest.raises(InputError, match=r"^invalid --as-of .*: it is in the future"):
                parse_as_of(moment)
    with pytest.raises(InputError, match="invalid --as-of"):
        parse_as_of("0001-01-01T00:00:00+01:00")  # before the first instant UTC can write


# The command line: wiring ------------------------------------------------------------------------------------


def report_text(run, *args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def as_printed(fmt: str, text: str) -> str:
    """A rendered report as the command line writes it: CSV after a byte-order mark (see
    tests/test_spreadsheets_out.py), any other format as rendered."""
    return "\ufeff" + text if fmt == "csv" else text


def test_report_quarterly_prints_the_library_report_and_o_writes_the_same_bytes(run, url, dataset, tmp_path):
    plant_markers(url)
    report = quarterly_2019q3(url)
    for fmt, expected in every_format(report).items():
        assert report_text(run, *QUARTERLY_ARGS, "--format", fmt) == as_printed(fmt, expected)
    # Markdown is the default format, internal the default audience.
    printed = report_text(run, *QUARTERLY_ARGS)
    assert printed == report_text(run, *QUARTERLY_ARGS, "--format", "md") == render.render(report, "md")
    assert report_text(
        run, *QUARTERLY_ARGS, "--audience", "public", "--source", "tip-2019-khm", "--format", "json"
    ) == render.render(library_quarterly(url, "2019Q3", audience="public", sources=["tip-2019-khm"]), "json")
    target = tmp_path / "report.html"
    result = run(*QUARTERLY_ARGS, "--format", "html", "-o", target)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert target.read_text(encoding="utf-8") == report_text(run, *QUARTERLY_ARGS, "--format", "html")
    # Regenerating replaces the file with the same bytes.
    assert run(*QUARTERLY_ARGS, "--format", "html", "-o", target).exit_code == 0
    assert target.read_text(encoding="utf-8") == report_text(run, *QUARTERLY_ARGS, "--format", "html")


def test_report_timeline_prints_the_library_report_and_o_writes_the_same_bytes(run, url, dataset, tmp_path):
    timeline = timeline_2019(url)
    for fmt, expected in every_format(timeline).items():
        assert report_text(run, *TIMELINE_ARGS, "--format", fmt) == as_printed(fmt, expected)
    assert report_text(run, *TIMELINE_ARGS) == render.render(timeline, "md")
    assert report_text(
        run, "report", "timeline", "--as-of", "2020-02-01", "--audience", "confidential", "--format", "json"
    ) == render.render(library_timeline(url, None, None, as_of="2020-02-01", audience="confidential"), "json")
    target = tmp_path / "timeline.csv"
    result = run(*TIMELINE_ARGS, "--format", "csv", "-o", target)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert target.read_bytes().decode("utf-8") == as_printed("csv", render.render(timeline, "csv"))


def test_nothing_to_report_is_still_a_report(make_url_for):
    """As of before anything was recorded: exit 0, and the library's report on stdout."""
    from tracker import catalogs

    url = make_url_for("empty")
    write(url, datetime.now(UTC), lambda s: catalogs.load(s, catalogs.read("tip-2019-khm"), ACTOR))
    args = ["--db", url, "report", "quarterly", "2019Q3", "--as-of", AS_OF, "--audience", "public"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert result.stdout == render.render(library_quarterly(url, "2019Q3", audience="public"), "md")
    timeline = invoke(["--db", url, "report", "timeline", "--as-of", AS_OF])
    assert timeline.exit_code == 0, timeline.output
    assert timeline.stdout == render.render(library_timeline(url, None, None), "md")


def test_html_is_the_same_in_a_fresh_process(url, dataset):
    """Charts included: no hash seed, date or counter leaks into the bytes."""
    outputs = []
    for seed in ("1", "2"):
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                "from tracker import cli; cli.main()",
                "--db",
                url,
                *QUARTERLY_ARGS,
                "--format",
                "html",
            ],
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=Path(__file__).parent.parent,
            timeout=300,
        )
        assert completed.returncode == 0, completed.stderr.decode()
        outputs.append(completed.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"<svg") >= 2


@pytest.mark.parametrize(
    "args, message",
    [
        (("report", "quarterly", "2019Q5"), "invalid quarter '2019Q5'"),
        (("report", "quarterly", "19Q3"), "invalid quarter '19Q3'"),
        (("report", "quarterly", "2019Q3", "--format", "odt"), "unknown --format 'odt'"),
        (("report", "quarterly", "2019Q3", "--audience", "secret"), "unknown --audience 'secret'"),
        (("report", "quarterly", "2019Q3", "--as-of", "2019-13-01"), "invalid --as-of '2019-13-01'"),
        (("report", "quarterly", "2019Q3", "--as-of", "2019-12-31T10:00:00"), "invalid --as-of"),
        (("report", "quarterly", "2019Q3", "--source", "nope"), "unknown source 'nope'"),
        (("report", "timeline", "--from", "2020Q1", "--to", "2019Q1"), "--from must not be after --to"),
        (("report", "timeline", "--to", "2019q9"), "invalid quarter '2019q9'"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(run, tmp_path, args, message):
    target = tmp_path / "out.md"
    result = run(*args, "-o", target)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not target.exists()


def test_report_help_lists_both_commands():
    result = invoke(["report", "--help"])
    assert result.exit_code == 0
    assert "quarterly" in result.output and "timeline" in result.output


@pytest.mark.parametrize(
    "command", [("report", "quarterly", "2019Q3"), ("report", "timeline")], ids=["quarterly", "timeline"]
)
@pytest.mark.parametrize("as_of", ["2030-01-01", "9999-12-31", "tomorrow", "in an hour", "9999-12-31T23:59:59-01:00"])
def test_a_future_as_of_is_refused(run, tmp_path, command, as_of):
    from datetime import timedelta

    if as_of == "tomorrow":
        as_of = (clock.today() + timedelta(days=1)).isoformat()
    elif as_of == "in an hour":
        as_of = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    target = tmp_path / "out.md"
    result = run(*command, "--as-of", as_of, "-o", target)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: invalid --as-of {as_of!r}: it is in the future")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not target.exists()


def test_today_is_accepted_as_of(run):
    today = clock.today().isoformat()
    for command in (("report", "quarterly", "2019Q3"), ("report", "timeline")):
        result = run(*command, "--as-of", today, "--format", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["as_of"] == f"{today}T23:59:59.999999Z"


# The workbook format --------------------------------------------------------------------------------


def xlsx_golden_text(workbook: bytes) -> str:
    """What a workbook holds, for a golden file: its sheet's name and properties' dates, then each
    row's cells as Python writes them (numbers stay numbers, empty cells None)."""
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(workbook), read_only=True)
    sheet = book.worksheets[0]
    lines = [f"sheet {sheet.title!r}; created {book.properties.created}; modified {book.properties.modified}"]
    lines += [repr(row) for row in xlsx_rows(workbook)]
    return "\n".join(lines) + "\n"


def test_workbooks_match_golden_and_are_the_same_bytes_each_time(url, dataset):
    for name, report in (
        ("quarterly-2019Q3", quarterly_2019q3(url)),
        ("quarterly-2019Q3-public", library_quarterly(url, "2019Q3", audience="public")),
        ("timeline-2019Q1-2019Q4", timeline_2019(url)),
    ):
        workbook = render.render(report, "xlsx")
        golden(f"{name}.xlsx.txt", xlsx_golden_text(workbook))
        assert render.render(report, "xlsx") == workbook, f"{name}: another render gave other bytes"
        # the same rows and columns as the CSV report, cell for cell
        table = list(csv.reader(io.StringIO(render.render(report, "csv"))))
        cells = [[csvfile.neutralise("" if v is None else str(v)) for v in row] for row in xlsx_rows(workbook)]
        assert cells == table
