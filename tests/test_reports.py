"""The quarterly report and the timeline: golden files, as-of, quarters, audience, HTML.

Every test runs on SQLite and, when configured, PostgreSQL; the golden files are the
same for both, so passing on both proves identical output. Regenerate the golden files
after an intended change with ``TRACKER_UPDATE_GOLDEN=1 pytest tests/test_reports.py``
and read the diff before committing it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import invoke
from tracker import clock, render, reports, services
from tracker.store.database import Database
from tracker.audit.verify import last_event
from tracker.store.models import Event
from tracker.periods import Quarter, parse_as_of
from tracker.vocab import Sensitivity, Status

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
    """Run one write transaction with the clock fixed at ``instant``."""
    database = Database(url)
    try:
        with clock.frozen(instant):
            return database.write(work)
    finally:
        database.dispose()


def evidence(url: str, instant: datetime, *, recs, title, day, kind="media_report", stance="progress",
             sensitivity="internal", url_=None, summary=None, source_name=None, files=()) -> int:
    given = services.check_evidence(recs=recs, title=title, observed_on=day, kind=kind, stance=stance, url=url_,
                                    summary=summary, source_name=source_name, sensitivity=sensitivity)
    attachments = [services.FileToAttach(name, content, "application/pdf") for name, content in files]
    return write(url, instant, lambda s: services.add_evidence(s, given, attachments=attachments, actor=ACTOR).id)


def status(url: str, instant: datetime, ref: str, value: str, on: str, note: str) -> None:
    write(url, instant, lambda s: services.set_status(s, ref, value, effective_on=on, note=note, actor=ACTOR))


def measure(url: str, instant: datetime, code: str, quarter: str, value: float) -> None:
    write(url, instant, lambda s: services.record_measurement(s, code, quarter, value, actor=ACTOR))


def build_dataset(url: str) -> dict[str, int]:
    """A small, fixed history of 2019 on top of the tip-2019-khm catalog (loaded 2019-06-21)."""
    write(url, at("2019-06-24"), lambda s: services.add_recommendation(
        s, source="tip-2019-khm", code="data-collection", title="Publish anti-trafficking statistics",
        text="Collect and publish data on investigations, prosecutions, convictions and victims identified.",
        pillar="partnership", due_on=date(2019, 9, 15), position=5, text_status="paraphrase", actor=ACTOR))
    write(url, at("2019-06-24", 10), lambda s: services.add_indicator(
        s, "data-collection", code="statistics-reports", name="Statistics reports published", unit="reports",
        target=4, actor=ACTOR))
    status(url, at("2019-06-26"), "victim-identification", "in_progress", "2019-06-25",
           "Pilot of the identification protocol in two provinces.")
    status(url, at("2019-06-27"), "undercover-techniques", "in_progress", "2019-05-01",
           "Draft prakas on undercover techniques circulated.")
    status(url, at("2019-07-02"), "prosecute-convict", "in_progress", "2019-07-01",
           "New prosecutions opened under the 2008 law.")
    status(url, at("2019-08-20"), "undercover-techniques", "partially_implemented", "2019-08-15",
           "Prakas signed; training of investigators pending.")
    status(url, at("2019-09-05"), "victim-identification", "not_started", "2019-09-01",
           "Protocol rollout suspended for lack of funding.")
    status(url, at("2019-10-02"), "labor-inspections", "implemented", "2019-10-01",
           "Brick kiln inspection programme running nationwide.")
    ids = {
        "verdict": evidence(url, at("2019-10-01"), recs=["prosecute-convict"], title="Appeal court upholds conviction",
                            day="2019-09-30", kind="court_case", sensitivity="public", source_name="Phnom Penh Post",
                            url_="https://example.org/verdict", files=[("verdict.pdf", b"%PDF verdict")]),
        "october": evidence(url, at("2019-10-03"), recs=["prosecute-convict"], title="Two traffickers sentenced",
                            day="2019-10-01", kind="court_case", sensitivity="public", source_name="Khmer Times"),
        "prakas": evidence(url, at("2019-08-21"), recs=["undercover-techniques", "prosecute-convict"],
                           title="Prakas on undercover investigations signed", day="2019-08-14", kind="regulation",
                           source_name="Ministry of Interior"),
        "shelter": evidence(url, at("2019-09-06"), recs=["victim-identification"],
                            title="Shelter interview notes", day="2019-08-10", kind="field_observation",
                            stance="setback", sensitivity="confidential", source_name="Field team"),
        "kilns": evidence(url, at("2019-07-20"), recs=["labor-inspections"], title="Kiln inspection count (wrong)",
                          day="2019-07-15", kind="statistic", sensitivity="public"),
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
    evidence(url, later, recs=["prosecute-convict"], title="Late news about Q3", day="2019-08-20",
             sensitivity="public")
    measure(url, later, "prosecutions", "2019Q3", 99)
    write(url, later, lambda s: services.retract_evidence(s, ids["verdict"], "Wrong court", actor=ACTOR))


@pytest.fixture
def dataset(url) -> dict[str, int]:
    return build_dataset(url)


def golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; TRACKER_UPDATE_GOLDEN=1 rewrites it instead."""
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        if name.endswith(".html"):
            import matplotlib

            (GOLDEN / "matplotlib-version").write_text(matplotlib.__version__ + "\n", encoding="utf-8")
    expected = path.read_bytes().decode("utf-8")
    if name.endswith(".html") and not _same_matplotlib():
        # Charts are matplotlib's own SVG: compare everything around them exactly.
        text, expected = _without_charts(text), _without_charts(expected)
    assert text == expected, f"{name} differs from the golden file (TRACKER_UPDATE_GOLDEN=1 regenerates it)"


def _same_matplotlib() -> bool:
    import matplotlib

    recorded = GOLDEN / "matplotlib-version"
    return recorded.exists() and recorded.read_text(encoding="utf-8").strip() == matplotlib.__version__


def _without_charts(html: str) -> str:
    return re.sub(r"<svg[\s>].*?</svg>", "<svg/>", html, flags=re.DOTALL)


def report_text(run, *args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def library_quarterly(url: str, quarter: str, as_of: str = AS_OF, audience="internal", sources=()):
    database = Database(url)
    try:
        with database.reading() as session:
            return reports.quarterly(session, Quarter.parse(quarter), sources=sources, as_of=parse_as_of(as_of),
                                     audience=audience)
    finally:
        database.dispose()


def by_ref(report):
    return {section.ref: section for section in report.recommendations}


# Golden files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_quarterly_matches_golden(run, dataset, fmt):
    golden(f"quarterly-2019Q3.{fmt}", report_text(run, *QUARTERLY_ARGS, "--format", fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_timeline_matches_golden(run, dataset, fmt):
    golden(f"timeline-2019Q1-2019Q4.{fmt}", report_text(run, *TIMELINE_ARGS, "--format", fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_quarterly_matches_golden(run, dataset, fmt):
    golden(f"quarterly-2019Q3-public.{fmt}", report_text(run, *QUARTERLY_ARGS, "--audience", "public", "--format", fmt))


def test_markdown_is_the_default_and_o_writes_the_same_bytes(run, dataset, tmp_path):
    printed = report_text(run, *QUARTERLY_ARGS)
    assert printed == report_text(run, *QUARTERLY_ARGS, "--format", "md")
    target = tmp_path / "report.html"
    result = run(*QUARTERLY_ARGS, "--format", "html", "-o", target)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert target.read_text(encoding="utf-8") == report_text(run, *QUARTERLY_ARGS, "--format", "html")
    # Regenerating replaces the file with the same bytes.
    assert run(*QUARTERLY_ARGS, "--format", "html", "-o", target).exit_code == 0
    assert target.read_text(encoding="utf-8") == report_text(run, *QUARTERLY_ARGS, "--format", "html")


# Reproducible as of any moment ------------------------------------------------------------------------


@pytest.mark.parametrize("args", [QUARTERLY_ARGS, TIMELINE_ARGS], ids=["quarterly", "timeline"])
def test_same_bytes_after_more_is_recorded_later(run, url, dataset, args):
    before = {fmt: report_text(run, *args, "--format", fmt) for fmt in FORMATS}
    assert before == {fmt: report_text(run, *args, "--format", fmt) for fmt in FORMATS}
    record_later(url, dataset)
    assert before == {fmt: report_text(run, *args, "--format", fmt) for fmt in FORMATS}
    # ...while a report as of now sees the later rows.
    now = json.loads(report_text(run, *args[:-2], "--as-of", "2020-01-31", "--format", "json"))
    assert now != json.loads(before["json"])


def test_later_rows_and_retraction_are_what_a_later_as_of_sees(url, dataset):
    record_later(url, dataset)
    then = by_ref(library_quarterly(url, "2019Q3"))
    later = by_ref(library_quarterly(url, "2019Q3", as_of="2020-01-31"))
    assert then["prosecute-convict"].status == Status.IN_PROGRESS
    assert later["prosecute-convict"].status == Status.IMPLEMENTED
    assert [e.title for e in then["prosecute-convict"].evidence] == [
        "Prakas on undercover investigations signed", "Appeal court upholds conviction"]
    # The verdict was retracted after 2019-12-31; the late news was recorded then too.
    assert [e.title for e in later["prosecute-convict"].evidence] == [
        "Prakas on undercover investigations signed", "Late news about Q3"]
    assert then["prosecute-convict"].indicators[0].value == 11
    assert later["prosecute-convict"].indicators[0].value == 99


def test_sources_recommendations_and_owners_added_later_change_nothing(run, url, dataset):
    """Rows without a recorded_at of their own are dated by the events that recorded them."""
    from tracker import catalogs

    before = {args: {fmt: report_text(run, *args, "--format", fmt) for fmt in FORMATS}
              for args in (QUARTERLY_ARGS, TIMELINE_ARGS)}
    later = at("2020-02-01")
    write(url, later, lambda s: services.add_recommendation(
        s, source="tip-2019-khm", code="shelters", title="Fund shelters", text="Fund shelters.",
        pillar="protection", actor=ACTOR))
    write(url, later, lambda s: services.add_agency(s, "mfa", "Ministry of Foreign Affairs", actor=ACTOR))
    write(url, later, lambda s: services.assign_agency(s, "undercover-techniques", "mfa", "support", actor=ACTOR))
    write(url, later, lambda s: services.add_indicator(
        s, "undercover-techniques", code="undercover-ops", name="Undercover operations", unit="operations",
        actor=ACTOR))
    # A second edition makes every shared code ambiguous from now on, not back then.
    write(url, later, lambda s: catalogs.load(s, catalogs.read("tip-2018-khm"), ACTOR))
    for args, outputs in before.items():
        assert outputs == {fmt: report_text(run, *args, "--format", fmt) for fmt in FORMATS}
    now = json.loads(report_text(run, *QUARTERLY_ARGS[:-2], "--as-of", "2020-02-02", "--format", "json"))
    refs = [r["ref"] for r in now["recommendations"]]
    assert "tip-2019-khm/shelters" in refs or "shelters" in refs
    assert "tip-2019-khm/undercover-techniques" in refs


def test_html_is_the_same_in_a_fresh_process(url, dataset):
    """Charts included: no hash seed, date or counter leaks into the bytes."""
    outputs = []
    for seed in ("1", "2"):
        completed = subprocess.run(
            [sys.executable, "-c", "from tracker import cli; cli.main()", "--db", url, *QUARTERLY_ARGS, "--format", "html"],
            capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed}, cwd=Path(__file__).parent.parent,
            timeout=300,
        )
        assert completed.returncode == 0, completed.stderr.decode()
        outputs.append(completed.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"<svg") >= 2


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


def test_summary_and_attention(url, dataset):
    report = library_quarterly(url, "2019Q3")
    summary = report.summary
    assert dict(summary.previous_status_counts) == {
        Status.NOT_STARTED: 3, Status.IN_PROGRESS: 2, Status.PARTIALLY_IMPLEMENTED: 0, Status.IMPLEMENTED: 0}
    assert dict(summary.status_counts) == {
        Status.NOT_STARTED: 3, Status.IN_PROGRESS: 1, Status.PARTIALLY_IMPLEMENTED: 1, Status.IMPLEMENTED: 0}
    assert (summary.advanced, summary.regressed, summary.unchanged) == (2, 1, 2)
    # Retracted evidence does not count; confidential evidence is withheld from the internal report.
    assert summary.evidence_count == 2
    assert report.withheld == 1
    assert summary.overdue == ("data-collection",)
    attention = {item.ref: render.attention_text(item) for item in report.attention}
    assert attention == {
        "victim-identification": "regressed from in progress to not started; no evidence this quarter",
        "labor-inspections": "no evidence this quarter",
        "data-collection": "overdue (due 2019-09-15); no evidence this quarter",
    }
    changes = [(c.ref, c.previous, c.status) for c in report.changes]
    assert changes == [
        ("prosecute-convict", Status.NOT_STARTED, Status.IN_PROGRESS),
        ("undercover-techniques", Status.IN_PROGRESS, Status.PARTIALLY_IMPLEMENTED),
        ("victim-identification", Status.IN_PROGRESS, Status.NOT_STARTED),
    ]
    indicator = by_ref(report)["data-collection"].indicators[0]
    assert (indicator.value, indicator.previous_value, indicator.target) == (1.5, None, 4)
    assert [p.value for p in indicator.series][-3:] == [0, None, 1.5]


def test_json_has_exactly_the_designed_keys(run, dataset):
    document = json.loads(report_text(run, *QUARTERLY_ARGS, "--format", "json"))
    assert list(document) == ["schema_version", "quarter", "period", "as_of", "audience", "fingerprint", "summary",
                              "recommendations", "withheld"]
    assert document["schema_version"] == 1
    assert document["period"] == {"start": "2019-07-01", "end": "2019-10-01"}
    assert document["as_of"] == "2019-12-31T23:59:59.999999Z"
    assert set(document["summary"]) == {"status_counts", "previous_status_counts", "advanced", "regressed",
                                        "unchanged", "evidence_count", "overdue"}
    rec = document["recommendations"][0]
    assert set(rec) == {"ref", "code", "title", "pillar", "status", "previous_status", "change", "due_on", "overdue",
                        "status_updates", "evidence", "indicators"}
    assert set(rec["evidence"][0]) == {"id", "title", "kind", "observed_on", "stance", "url", "sensitivity"}
    assert set(rec["indicators"][0]) == {"code", "name", "unit", "value", "previous_value", "target"}


# Audience -----------------------------------------------------------------------------------------------

MARKERS = {
    level: {field: f"{level}-{field}-marker" for field in ("title", "summary", "source", "url", "file")}
    for level in ("public", "internal", "confidential")
}


def plant_markers(url: str) -> None:
    for level, mark in MARKERS.items():
        evidence(url, at("2019-08-30"), recs=["prosecute-convict", "victim-identification"], title=mark["title"],
                 day="2019-08-29", sensitivity=level, summary=mark["summary"], source_name=mark["source"],
                 url_=f"https://{mark['url']}.example/doc", files=[(f"{mark['file']}.pdf", level.encode())])


@pytest.mark.parametrize("audience", ["public", "internal", "confidential"])
def test_nothing_above_the_audience_appears_anywhere(run, url, audience):
    plant_markers(url)
    level = Sensitivity(audience)
    outputs = {}
    for args in (("report", "quarterly", "2019Q3"), ("report", "timeline", "--from", "2019Q2", "--to", "2019Q4")):
        for fmt in FORMATS:
            outputs[(args[1], fmt)] = report_text(run, *args, "--as-of", AS_OF, "--audience", audience,
                                                  "--format", fmt).lower()
    for name, marks in MARKERS.items():
        for (report, fmt), text in outputs.items():
            for field, mark in marks.items():
                if Sensitivity(name).rank > level.rank:
                    assert mark not in text, f"{mark} leaked into the {audience} {report} {fmt}"
    # What the audience may see is there: titles everywhere evidence is listed, files in md and html.
    for name, marks in MARKERS.items():
        if Sensitivity(name).rank <= level.rank:
            for fmt in ("md", "html", "json"):
                assert marks["title"] in outputs[("quarterly", fmt)]
            for fmt in ("md", "html"):
                assert marks["file"] in outputs[("quarterly", fmt)]
                assert marks["source"] in outputs[("quarterly", fmt)]
    document = json.loads(outputs[("quarterly", "json")])
    assert document["withheld"] == {"public": 2, "internal": 1, "confidential": 0}[audience]
    assert document["summary"]["evidence_count"] == 3 - document["withheld"]
    assert document["audience"] == audience
    if audience == "public":
        assert "not for publication" not in outputs[("quarterly", "md")]
    else:
        assert "not for publication" in outputs[("quarterly", "md")]
        assert "not for publication" in outputs[("quarterly", "html")]
        assert "not for publication" in outputs[("timeline", "md")]


def test_internal_is_the_default_audience(run, url):
    plant_markers(url)
    text = report_text(run, "report", "quarterly", "2019Q3", "--as-of", AS_OF)
    assert "Audience: internal" in text
    assert "INTERNAL: not for publication." in text
    assert MARKERS["internal"]["title"] in text
    assert MARKERS["confidential"]["title"] not in text


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
    document = json.loads(report_text(run, *QUARTERLY_ARGS, "--format", "json"))
    assert document["fingerprint"] == expected
    assert f"Fingerprint: {expected}" in report_text(run, *QUARTERLY_ARGS)
    assert run("verify", "--anchor", expected).exit_code == 0
    # Anything recorded changes the fingerprint of a report as of now, not of one as of before.
    now_before = json.loads(report_text(run, "report", "quarterly", "2019Q3", "--format", "json"))["fingerprint"]
    write(url, datetime.now(UTC), lambda s: services.add_agency(s, "mfa", "Ministry of Foreign Affairs", actor=ACTOR))
    now_after = json.loads(report_text(run, "report", "quarterly", "2019Q3", "--format", "json"))["fingerprint"]
    assert now_before != now_after
    assert json.loads(report_text(run, *QUARTERLY_ARGS, "--format", "json"))["fingerprint"] == expected


def test_fingerprint_before_anything_was_recorded(run, url):
    text = report_text(run, "report", "quarterly", "2019Q1", "--as-of", "2019-01-01")
    assert "Fingerprint: none: nothing had been recorded as of this instant" in text
    assert json.loads(report_text(run, "report", "quarterly", "2019Q1", "--as-of", "2019-01-01",
                                  "--format", "json"))["fingerprint"] is None


# HTML ---------------------------------------------------------------------------------------------------

_EXTERNAL = [
    (re.compile(r"<(?:link|script|img|iframe|object|embed|audio|video|source|base)\b", re.I), "a fetching element"),
    (re.compile(r"\ssrc(?:set)?\s*=", re.I), "a src attribute"),
    (re.compile(r"@import", re.I), "a CSS @import"),
    (re.compile(r"url\(\s*(?!['\"]?#)", re.I), "a CSS url() that is not a local #reference"),
    (re.compile(r"(?<!<a class=\"web\" )href\s*=\s*(?!['\"]?#)", re.I), "an href other than a link to click"),
]


def assert_self_contained(html: str) -> None:
    for pattern, what in _EXTERNAL:
        match = pattern.search(html)
        assert match is None, f"{what}: {html[max(0, match.start() - 80):match.end() + 80]!r}"
    assert "default-src 'none'" in html  # and the browser is told to fetch nothing anyway


def test_html_references_no_external_resource(run, url, dataset):
    plant_markers(url)
    for args in (QUARTERLY_ARGS, TIMELINE_ARGS):
        html = report_text(run, *args, "--format", "html", "--audience", "confidential")
        assert_self_contained(html)
    # Evidence links stay clickable, and only http(s) links become links.
    html = report_text(run, *QUARTERLY_ARGS, "--format", "html")
    assert '<a class="web" href="https://example.org/verdict" rel="noopener noreferrer">link</a>' in html


def test_html_has_charts_and_a_print_stylesheet(run, dataset):
    html = report_text(run, *QUARTERLY_ARGS, "--format", "html")
    assert html.count("<svg") == 3  # status history, prosecutions, statistics reports
    assert 'aria-label="Recommendations by status, 2017Q4 to 2019Q3"' in html
    assert 'aria-label="Statistics reports published (reports)"' in html
    assert "target 4" in html
    assert "@media print" in html and "break-before: page" in html
    assert html.count('<section class="recommendation">') == 5


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_html_renders_in_headless_chromium(run, dataset, tmp_path):
    from matplotlib import image

    page = tmp_path / "report.html"
    screenshot = tmp_path / "report.png"
    assert run(*QUARTERLY_ARGS, "--format", "html", "-o", page).exit_code == 0
    completed = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={screenshot}", "--window-size=1200,1600",
         page.as_uri()],
        capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert screenshot.exists(), completed.stderr.decode(errors="replace")[-2000:]
    pixels = image.imread(screenshot)
    assert pixels.shape[:2] == (1600, 1200)
    colours = {tuple(p) for p in pixels[::7, ::7].reshape(-1, pixels.shape[-1]).tolist()}
    assert len(colours) > 20, "the screenshot is blank"


# Empty and early quarters ---------------------------------------------------------------------------------


def test_empty_quarter_is_a_clear_report(run):
    text = report_text(run, "report", "quarterly", "2019Q3", "--as-of", AS_OF)
    assert "No status assessment took effect in 2019Q3." in text
    assert "No evidence observed in this quarter has been recorded." in text
    assert "No evidence observed in 2019Q3." in text
    assert "No evidence was withheld from this internal report." in text
    document = json.loads(report_text(run, "report", "quarterly", "2019Q3", "--as-of", AS_OF, "--format", "json"))
    assert document["summary"]["status_counts"]["not_started"] == 4
    assert document["summary"]["evidence_count"] == 0
    assert len(document["recommendations"]) == 4
    for fmt in ("html", "csv"):
        assert report_text(run, "report", "quarterly", "2019Q3", "--as-of", AS_OF, "--format", fmt)


def test_quarter_before_the_source_was_published(run):
    args = ("report", "quarterly", "2019Q1", "--source", "tip-2019-khm", "--as-of", AS_OF)
    text = report_text(run, *args)
    assert ("tip-2019-khm was published on 2019-06-20, after 2019Q1 ended (2019-03-31): its recommendations had "
            "not been issued yet, so this report has nothing to assess for it.") in text
    assert "None of the selected sources had been published by the end of the period" in text
    document = json.loads(report_text(run, *args, "--format", "json"))
    assert document["recommendations"] == []
    assert document["summary"]["status_counts"] == {s.value: 0 for s in Status}
    assert report_text(run, *args, "--format", "csv") == (
        "ref,title,pillar,previous_status,status,change,evidence_count\r\n")
    html = report_text(run, *args, "--format", "html")
    assert "its recommendations had not been issued yet" in html
    # The quarter it was published in is covered.
    assert len(json.loads(report_text(run, "report", "quarterly", "2019Q2", "--as-of", AS_OF,
                                      "--format", "json"))["recommendations"]) == 4


def test_timeline_marks_unissued_quarters_and_changes(url, dataset):
    database = Database(url)
    try:
        with database.reading() as session:
            timeline = reports.timeline(session, first=Quarter(2019, 1), last=Quarter(2019, 4),
                                        as_of=parse_as_of(AS_OF))
    finally:
        database.dispose()
    rows = {row.ref: row for row in timeline.rows}
    cells = [(str(c.quarter), c.status and c.status.value, c.changed) for c in rows["undercover-techniques"].cells]
    assert cells == [("2019Q1", None, False), ("2019Q2", "in_progress", True),
                     ("2019Q3", "partially_implemented", True), ("2019Q4", "partially_implemented", False)]
    assert rows["labor-inspections"].changed_in == (Quarter(2019, 4),)
    assert rows["prosecute-convict"].changed_in == (Quarter(2019, 3),)


def test_timeline_default_range_runs_from_publication_to_as_of(run, dataset):
    document = json.loads(report_text(run, "report", "timeline", "--as-of", "2020-02-01", "--format", "json"))
    assert document["quarters"] == ["2019Q2", "2019Q3", "2019Q4", "2020Q1"]


# CSV --------------------------------------------------------------------------------------------------------


def test_csv_neutralises_formulas_but_not_numbers(run, url, dataset):
    for code, title in (("formula-a", "=HYPERLINK(\"https://evil.example\",\"x\")"), ("formula-b", "+1+1"),
                        ("formula-c", "-2+3"), ("formula-d", "@SUM(A1)")):
        write(url, at("2019-06-25"), lambda s, c=code, t=title: services.add_recommendation(
            s, source="tip-2019-khm", code=c, title=t, text="Planted.", pillar="prevention", actor=ACTOR))
    write(url, at("2019-06-25", 11), lambda s: services.add_indicator(
        s, "formula-c", code="net-change", name="Net change", unit="cases", actor=ACTOR))
    measure(url, at("2019-10-07"), "net-change", "2019Q3", -5)
    text = report_text(run, *QUARTERLY_ARGS, "--format", "csv")
    lines = text.split("\r\n")
    assert "formula-a,\"'=HYPERLINK(\"\"https://evil.example\"\",\"\"x\"\")\"" in text
    assert any(line.startswith("formula-b,'+1+1,") for line in lines)
    formula_c = next(line for line in lines if line.startswith("formula-c,"))
    assert formula_c.startswith("formula-c,'-2+3,prevention,not_started,not_started,unchanged,0,")
    column = lines[0].split(",").index("indicator:net-change")
    assert formula_c.split(",")[column] == "-5"  # numbers are numbers, never prefixed
    assert any(line.startswith("formula-d,'@SUM(A1),") for line in lines)
    for cell in ("\tx", "\rx", "\nx", "=x", "+x", "-x", "@x"):
        assert render.neutralise(cell) == "'" + cell
    assert render.neutralise("x=1") == "x=1"
    assert render.neutralise(-5) == -5


# The command line ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (("report", "quarterly", "2019Q5"), "invalid quarter '2019Q5'"),
        (("report", "quarterly", "19Q3"), "invalid quarter '19Q3'"),
        (("report", "quarterly", "2019Q3", "--format", "pdf"), "unknown --format 'pdf'"),
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


def test_quarter_spellings_and_as_of_with_offset(run, dataset):
    expected = report_text(run, *QUARTERLY_ARGS, "--format", "json")
    for spelling in ("2019-Q3", "2019q3"):
        assert report_text(run, "report", "quarterly", spelling, "--as-of", AS_OF, "--format", "json") == expected
    # The end of 2019-12-31 UTC, written in Phnom Penh time.
    same = report_text(run, "report", "quarterly", "2019Q3", "--as-of", "2020-01-01T06:59:59.999999+07:00",
                       "--format", "json")
    assert same == expected


def test_report_help_lists_both_commands():
    result = invoke(["report", "--help"])
    assert result.exit_code == 0
    assert "quarterly" in result.output and "timeline" in result.output


@pytest.mark.parametrize("snippet", [
    '<img src="https://example.org/x.png">', '<link rel="stylesheet" href="https://example.org/x.css">',
    "<style>@import 'https://example.org/x.css';</style>", '<div style="background: url(https://example.org/x)">',
    '<svg><image href="https://example.org/x.png"/></svg>', '<script>fetch("x")</script>',
])
def test_the_self_contained_check_catches_external_references(snippet):
    page = f"<html><head><meta content=\"default-src 'none'\"></head><body>{snippet}</body></html>"
    with pytest.raises(AssertionError):
        assert_self_contained(page)


# The quarter a source was published in ------------------------------------------------------------------


def library_timeline(url: str, first: str, last: str, as_of: str = AS_OF, sources=()):
    database = Database(url)
    try:
        with database.reading() as session:
            return reports.timeline(session, sources=sources, first=Quarter.parse(first), last=Quarter.parse(last),
                                    as_of=parse_as_of(as_of))
    finally:
        database.dispose()


def test_previous_quarter_before_publication_counts_nothing(run, url):
    """tip-2019-khm was published 2019-06-20: at the end of 2019Q1 its recommendations were not yet issued."""
    status(url, at("2019-06-26"), "victim-identification", "in_progress", "2019-06-25", "Pilot in two provinces.")
    report = library_quarterly(url, "2019Q2")
    summary = report.summary
    assert dict(summary.previous_status_counts) == {status: 0 for status in Status}
    assert dict(summary.status_counts) == {
        Status.NOT_STARTED: 3, Status.IN_PROGRESS: 1, Status.PARTIALLY_IMPLEMENTED: 0, Status.IMPLEMENTED: 0}
    # The summary agrees with the report's own history table...
    assert report.history[-2].quarter == Quarter(2019, 1)
    assert report.history[-2].counts == summary.previous_status_counts
    assert report.history[-1].counts == summary.status_counts
    # ...and each recommendation says it was not yet issued, its change measured from not started.
    sections = by_ref(report)
    assert {ref: section.previous_status for ref, section in sections.items()} == dict.fromkeys(sections)
    assert {ref: section.change.value for ref, section in sections.items()} == {
        "prosecute-convict": "unchanged", "undercover-techniques": "unchanged",
        "victim-identification": "advanced", "labor-inspections": "unchanged"}
    assert (summary.advanced, summary.regressed, summary.unchanged, summary.issued_in_quarter) == (1, 0, 3, 4)

    # The timeline says the same: 2019Q1 not yet issued, a change in 2019Q2 only where the quarterly sees one.
    timeline = library_timeline(url, "2019Q1", "2019Q2")
    for row in timeline.rows:
        assert row.cells[0].status is None
        assert row.cells[1].status == sections[row.ref].status
        assert row.cells[1].changed == (sections[row.ref].change.value != "unchanged")

    args = ("report", "quarterly", "2019Q2", "--as-of", AS_OF)
    document = json.loads(report_text(run, *args, "--format", "json"))
    assert document["summary"]["previous_status_counts"] == {s.value: 0 for s in Status}
    assert [(r["ref"], r["previous_status"], r["change"]) for r in document["recommendations"]] == [
        ("prosecute-convict", None, "unchanged"), ("undercover-techniques", None, "unchanged"),
        ("victim-identification", None, "advanced"), ("labor-inspections", None, "unchanged")]
    lines = report_text(run, *args, "--format", "csv").split("\r\n")
    assert lines[0].split(",")[3:6] == ["previous_status", "status", "change"]
    assert any(line.startswith("victim-identification,Fully implement the nationwide victim identification "
                               "protocol,protection,,in_progress,advanced,0,") for line in lines)
    timeline_csv = report_text(run, "report", "timeline", "--from", "2019Q1", "--to", "2019Q2", "--as-of", AS_OF,
                               "--format", "csv")
    assert "victim-identification,Fully implement the nationwide victim identification protocol,protection,," \
           "in_progress,2019Q2" in timeline_csv.split("\r\n")

    text = report_text(run, *args)
    assert "| total | 0 | 4 |" in text
    assert "| not started | 4 |" not in text
    assert ("- Status: in progress at the end of 2019Q2, not yet issued at the end of 2019Q1: advanced since it "
            "was issued in 2019Q2") in text
    assert ("- Status: not started at the end of 2019Q2, not yet issued at the end of 2019Q1: unchanged since it "
            "was issued in 2019Q2") in text
    assert ("Between the end of 2019Q1 and the end of 2019Q2: 1 advanced, 0 regressed, 3 unchanged; the 4 "
            "recommendations issued in 2019Q2 count from not started, their status when issued.") in text
    html = report_text(run, *args, "--format", "html")
    assert "not yet issued</span> at the end of 2019Q1" in html
    assert "advanced since it was issued in 2019Q2" in html
    assert '<th class="num">0</th><th class="num">4</th>' in html


def test_previous_quarter_with_sources_published_before_and_during_it(run, url):
    """With two editions, the previous quarter counts the older one's recommendations only; --source narrows."""
    from tracker import catalogs

    write(url, at("2019-06-22"), lambda s: catalogs.load(s, catalogs.read("tip-2018-khm"), ACTOR))
    both = library_quarterly(url, "2019Q2")
    older = [s for s in both.recommendations if s.source == "tip-2018-khm"]
    newer = [s for s in both.recommendations if s.source == "tip-2019-khm"]
    assert older and newer
    assert all(s.previous_status == Status.NOT_STARTED for s in older)
    assert all(s.previous_status is None for s in newer)
    assert sum(c for _, c in both.summary.previous_status_counts) == len(older)
    assert both.history[-2].counts == both.summary.previous_status_counts
    assert both.summary.issued_in_quarter == len(newer)

    only_new = library_quarterly(url, "2019Q2", sources=["tip-2019-khm"])
    assert sum(c for _, c in only_new.summary.previous_status_counts) == 0
    assert only_new.history[-2].counts == only_new.summary.previous_status_counts
    document = json.loads(report_text(run, "report", "quarterly", "2019Q2", "--source", "tip-2019-khm",
                                      "--as-of", AS_OF, "--format", "json"))
    assert {r["previous_status"] for r in document["recommendations"]} == {None}
    only_old = library_quarterly(url, "2019Q2", sources=["tip-2018-khm"])
    assert only_old.summary.issued_in_quarter == 0
    assert "issued in 2019Q2" not in render.changes_text(only_old)


@pytest.mark.parametrize("quarter", ["2019Q1", "2019Q2", "2019Q3", "2019Q4"])
def test_previous_counts_always_match_the_history_table(url, dataset, quarter):
    report = library_quarterly(url, quarter)
    assert report.history[-2].counts == report.summary.previous_status_counts
    assert report.history[-1].counts == report.summary.status_counts


# As of an instant before anything was recorded -----------------------------------------------------------


def test_as_of_before_the_catalog_was_recorded_says_so(make_url_for):
    """A catalog loaded today, a report as of 2019: nothing had been recorded by then."""
    from tracker import catalogs

    url = make_url_for("empty")
    write(url, datetime.now(UTC), lambda s: catalogs.load(s, catalogs.read("tip-2019-khm"), ACTOR))
    args = ["--db", url, "report", "quarterly", "2019Q3", "--as-of", AS_OF, "--audience", "public"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "No source is loaded" not in text
    assert "- Sources: none recorded as of this instant" in text
    assert ("**Nothing to report: no source had been recorded by 2019-12-31T23:59:59.999999Z. `--as-of` keeps only "
            "what had been recorded by that instant, whatever period it is about, so a catalog loaded later is "
            "left out: give a later `--as-of`, or none. If no catalog is loaded yet, load one with "
            "`tracker catalog load`.**") in text
    assert "\\`" not in text
    html = invoke([*args, "--format", "html"]).stdout
    assert "<code>tracker catalog load</code>" in html and "`" not in html
    timeline = invoke(["--db", url, "report", "timeline", "--as-of", AS_OF]).stdout
    assert "Nothing to report: no source had been recorded by 2019-12-31T23:59:59.999999Z." in timeline
    # Naming the source: it had not been recorded by then either.
    named = invoke([*args, "--source", "tip-2019-khm"]).stdout
    assert "Nothing to report: tip-2019-khm had not been recorded by 2019-12-31T23:59:59.999999Z." in named
    assert "If no catalog is loaded yet" not in named


def test_as_of_on_an_empty_database_gives_the_same_bytes_after_a_later_catalog_load(make_url_for):
    """The message depends only on what was recorded by --as-of, so it cannot change later."""
    from tracker import catalogs

    url = make_url_for("empty")
    args = ["--db", url, "report", "quarterly", "2019Q3", "--as-of", AS_OF]
    before = {fmt: invoke([*args, "--format", fmt]).stdout for fmt in FORMATS}
    assert "tracker catalog load" in before["md"]
    write(url, datetime.now(UTC), lambda s: catalogs.load(s, catalogs.read("tip-2019-khm"), ACTOR))
    assert before == {fmt: invoke([*args, "--format", fmt]).stdout for fmt in FORMATS}


# --as-of may not be in the future ---------------------------------------------------------------------------


def test_parse_as_of_refuses_the_future():
    from datetime import timedelta

    from tracker.errors import InputError

    now = datetime(2020, 1, 1, 12, tzinfo=UTC)
    with clock.frozen(now):
        today = clock.today()
        # A date means the end of that day, UTC: today's date is accepted.
        assert parse_as_of(today.isoformat()) == datetime(today.year, today.month, today.day, 23, 59, 59, 999999,
                                                          tzinfo=UTC)
        assert parse_as_of("2020-01-01T12:00:00+00:00") == now
        assert parse_as_of("2020-01-01T19:00:00+07:00") == now
        assert parse_as_of(None) == now
        assert parse_as_of(clock.iso_utc(now)) == now  # the As of a report prints regenerates it
        for text in ((today + timedelta(days=1)).isoformat(), "2030-01-01", "9999-12-31",
                     "2020-01-01T12:00:00.000001+00:00", "2020-01-01T20:00:00+07:00", "9999-12-31T23:59:59-01:00"):
            with pytest.raises(InputError, match=r"^invalid --as-of .*: it is in the future"):
                parse_as_of(text)
    with pytest.raises(InputError, match="invalid --as-of"):
        parse_as_of("0001-01-01T00:00:00+01:00")  # before the first instant UTC can write


@pytest.mark.parametrize("command", [("report", "quarterly", "2019Q3"), ("report", "timeline")],
                         ids=["quarterly", "timeline"])
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
