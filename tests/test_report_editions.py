"""The editions report: threads of recommendations across editions, golden files, as-of, series.

Behaviour is asserted on the library (:func:`tracker.reports.editions.editions`, rendered
by :func:`tracker.render.render`); the command-line tests at the end check the wiring of
``tracker report editions``. Every test runs on SQLite and, when configured, PostgreSQL;
the golden files are the same for both. Regenerate them after an intended change with
``TRACKER_UPDATE_GOLDEN=1 pytest tests/test_report_editions.py`` and read the diff.

The dataset: the built-in TIP Reports on Cambodia of 2015, 2018, 2019 and 2022 (linked by
their catalogs' ``continues:``), a second series of two editions without periods
(``upr-khm``), and a few assessments, one of them withdrawn, and a corrected title.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_reports import xlsx_golden_text, xlsx_rows, xlsx_text

from tracker import catalogs, clock, render, services
from tracker.errors import InputError
from tracker.periods import parse_as_of
from tracker.render import csvfile
from tracker.reports.editions import EditionsReport, EditionStatus, editions
from tracker.store.database import Database
from tracker.store.models import Event
from tracker.vocab import Status

from conftest import invoke, template

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("TRACKER_UPDATE_GOLDEN") == "1"
AS_OF = "2023-06-30"
FORMATS = ("md", "html", "json", "csv")
ACTOR = "analyst"
LINKED_AT = datetime(2023, 7, 15, 9, tzinfo=UTC)  # after AS_OF: a link the report as of AS_OF never sees

UPR = {
    "agencies": [{"code": "mfa", "name": "Ministry of Foreign Affairs"}],
    "sources": [
        {
            "slug": "upr-2014-khm",
            "title": "Universal Periodic Review of Cambodia, second cycle",
            "publisher": "UN Human Rights Council",
            "country": "KH",
            "published_on": date(2014, 3, 12),
            "recommendations": [
                {
                    "code": "ratify-protocol",
                    "position": 1,
                    "title": "Ratify the Palermo Protocol's optional reporting",
                    "text": "Ratify and report on the protocol.",
                    "pillar": "partnership",
                    "agencies": {"lead": "mfa"},
                }
            ],
        },
        {
            "slug": "upr-2019-khm",
            "title": "Universal Periodic Review of Cambodia, third cycle",
            "publisher": "UN Human Rights Council",
            "country": "KH",
            "published_on": date(2019, 7, 2),
            "recommendations": [
                {
                    "code": "ratify-protocol",
                    "position": 1,
                    "title": "Ratify the Palermo Protocol's optional reporting",
                    "text": "Ratify and report on the protocol.",
                    "pillar": "partnership",
                    "agencies": {"lead": "mfa"},
                    "continues": [{"ref": "upr-2014-khm/ratify-protocol", "relation": "repeated"}],
                },
                {
                    "code": "birth-registration",
                    "position": 2,
                    "title": '=HYPERLINK("https://example.org") birth registration',
                    "text": "Register every birth.",
                    "pillar": "prevention",
                },
            ],
        },
    ],
}


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def write(url: str, instant: datetime, work):
    """One write transaction with the clock at ``instant`` (never behind the chain's last event)."""
    database = Database(url)
    try:
        with database.reading() as session:
            last = session.scalar(select(func.max(Event.recorded_at)))
        with clock.frozen(max(instant, last) if last is not None else instant):
            return database.write(work)
    finally:
        database.dispose()


def load(url: str, instant: datetime, name: str) -> None:
    write(url, instant, lambda s: catalogs.load(s, catalogs.read(name), "catalog"))


def status(url: str, instant: datetime, ref: str, value: str, on: str, note: str) -> int:
    return write(url, instant, lambda s: services.set_status(s, ref, value, effective_on=on, note=note, actor=ACTOR).id)


def build_dataset(url: str) -> None:
    """The history, in the order it was recorded (tip-2019-khm was loaded on 2019-06-21)."""
    load(url, at("2019-06-22"), "tip-2015-khm")
    load(url, at("2019-06-22", 10), "tip-2018-khm")
    status(url, at("2019-06-26"), "tip-2019-khm/victim-identification", "in_progress", "2019-06-25", "Pilot.")
    status(url, at("2019-06-27"), "tip-2018-khm/victim-identification", "in_progress", "2018-09-01", "Drafted.")
    status(url, at("2019-06-28"), "tip-2018-khm/labor-inspections", "implemented", "2019-02-01", "Nationwide.")
    status(url, at("2019-08-20"), "tip-2019-khm/undercover-techniques", "partially_implemented", "2019-08-15", "Sig.")
    status(url, at("2020-05-02"), "tip-2019-khm/prosecute-convict", "implemented", "2020-05-01", "Convictions.")
    wrong = status(url, at("2020-06-01"), "tip-2019-khm/labor-inspections", "not_started", "2020-05-15", "Wrong rec.")
    write(url, at("2020-06-02"), lambda s: services.withdraw_status(s, wrong, "Meant another", actor=ACTOR))
    write(url, at("2020-06-10"), lambda s: catalogs.load(s, catalogs.parse(UPR, "upr.yaml"), "catalog"))
    status(url, at("2020-06-11"), "upr-2014-khm/ratify-protocol", "in_progress", "2016-01-10", "Signed.")
    load(url, at("2022-08-01"), "tip-2022-khm")
    status(url, at("2022-09-02"), "tip-2022-khm/law-enforcement-funding", "in_progress", "2022-09-01", "Budget.")
    write(
        url,
        at("2022-10-01"),
        lambda s: services.amend_recommendation(
            s,
            "tip-2022-khm/victim-identification",
            title="Fully implement the victim identification guidelines nationwide",
            reason="The 2022 wording",
            actor=ACTOR,
        ),
    )


DATASET = template("editions-tip", lambda database, _folder: build_dataset(database.url))


@pytest.fixture
def url(make_url_for) -> str:
    return make_url_for(DATASET)


def report(url: str, as_of: str | None = AS_OF, **options) -> EditionsReport:
    """``editions`` on its own session; ``as_of=None`` is now."""
    database = Database(url)
    try:
        with database.reading() as session:
            return editions(session, as_of=parse_as_of(as_of), **options)
    finally:
        database.dispose()


def every_format(found: EditionsReport) -> dict[str, str]:
    return {fmt: render.render(found, fmt) for fmt in FORMATS}


def by_ref(found: EditionsReport):
    return {row.ref: row for row in found.threads}


def golden(name: str, output: str) -> None:
    """Compare with tests/golden/NAME byte for byte; TRACKER_UPDATE_GOLDEN=1 rewrites it instead."""
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.write_text(output, encoding="utf-8", newline="")
    assert output == path.read_bytes().decode("utf-8"), f"{name} differs from the golden file"


# Golden files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_series_matches_golden(url, fmt):
    golden(f"editions-{AS_OF}.{fmt}", render.render(report(url), fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_series_matches_golden(url, fmt):
    golden(
        f"editions-{AS_OF}-tip-khm-public.{fmt}", render.render(report(url, series="tip-khm", audience="public"), fmt)
    )


def test_the_workbook_holds_the_csv_table_and_matches_golden(url):
    found = report(url)
    workbook = render.render(found, "xlsx")
    golden(f"editions-{AS_OF}.xlsx.txt", xlsx_golden_text(workbook))
    assert render.render(found, "xlsx") == workbook, "another render gave other bytes"
    table = list(csv.reader(io.StringIO(render.render(found, "csv"))))
    # the same cells (a text the CSV neutralises with a ' is text in the workbook, never a formula)
    assert [[csvfile.neutralise("" if v is None else str(v)) for v in row] for row in xlsx_rows(workbook)] == table
    assert "=HYPERLINK" in xlsx_text(workbook) and "<f>" not in xlsx_text(workbook)


# What the report says -----------------------------------------------------------------------------


def test_threads_across_the_four_tip_editions(url):
    found = report(url)
    rows = by_ref(found)
    assert found.series == ("tip-khm", "upr-khm")
    assert found.highlight_after == 3
    tip = ("tip-2015-khm", "tip-2018-khm", "tip-2019-khm", "tip-2022-khm")

    victims = rows["tip-2022-khm/victim-identification"]
    assert victims.title == "Fully implement the victim identification guidelines nationwide"  # corrected
    assert (victims.first_source, victims.first_published_on) == ("tip-2015-khm", date(2015, 7, 27))
    assert victims.editions == tip and victims.repeated == 3
    # Not assessed itself: 2019's last assessment, carried over.
    assert (victims.status, victims.carried_over_from) == (Status.IN_PROGRESS, "tip-2019-khm")
    # Each edition's status on its last day as the thread's latest: the day before the next was published.
    assert victims.by_edition == (
        EditionStatus("tip-2015-khm", date(2018, 6, 27), Status.NOT_STARTED),
        # 2018's own assessment (effective 2018-09-01)
        EditionStatus("tip-2018-khm", date(2019, 6, 19), Status.IN_PROGRESS),
        EditionStatus("tip-2019-khm", date(2022, 7, 18), Status.IN_PROGRESS),
        EditionStatus("tip-2022-khm", date(2023, 6, 30), Status.IN_PROGRESS, "tip-2019-khm"),
    )
    assert victims.not_implemented_in == tip
    assert victims.highlighted

    # Four editions too, but implemented now (carried over from 2019): not highlighted.
    prosecute = rows["tip-2022-khm/prosecute-convict"]
    assert prosecute.repeated == 3 and prosecute.editions == tip
    assert (prosecute.status, prosecute.carried_over_from) == (Status.IMPLEMENTED, "tip-2019-khm")
    assert prosecute.not_implemented_in == tip[:2]  # implemented in 2020, while 2019 was the latest edition
    assert not prosecute.highlighted

    undercover = rows["tip-2019-khm/undercover-techniques"]
    assert undercover.repeated == 2 and undercover.status == Status.PARTIALLY_IMPLEMENTED
    assert undercover.carried_over_from is None and not undercover.highlighted

    # Its own assessment was withdrawn: the status is 2018's, carried over; 2019's period ended implemented.
    labor = rows["tip-2019-khm/labor-inspections"]
    assert labor.editions == ("tip-2018-khm", "tip-2019-khm") and labor.repeated == 1
    assert (labor.status, labor.carried_over_from) == (Status.IMPLEMENTED, "tip-2018-khm")
    assert labor.not_implemented_in == ()  # 2018's implemented was recorded before 2019 was published

    funding = rows["tip-2022-khm/law-enforcement-funding"]  # a thread of one, assessed itself
    assert funding.editions == ("tip-2022-khm",) and funding.repeated == 0
    assert (funding.status, funding.carried_over_from) == (Status.IN_PROGRESS, None)

    alone = rows["tip-2015-khm/male-victim-services"]
    assert (alone.status, alone.editions, alone.not_implemented_in) == (Status.NOT_STARTED, tip[:1], tip[:1])

    assert [row.ref for row in found.threads if row.highlighted] == ["tip-2022-khm/victim-identification"]
    # By series, then first recommended, then ref; each thread once, every recommendation in one.
    keys = [(row.series, row.first_published_on, row.ref) for row in found.threads]
    assert keys == sorted(keys)
    assert len(found.threads) == 12 + 2


def test_an_edition_s_status_is_taken_the_day_before_the_next_and_the_last_at_the_as_of_date(url):
    rows = by_ref(report(url, series="upr-khm"))
    assert set(rows) == {"upr-2019-khm/birth-registration", "upr-2019-khm/ratify-protocol"}
    protocol = rows["upr-2019-khm/ratify-protocol"]
    assert protocol.by_edition == (
        EditionStatus("upr-2014-khm", date(2019, 7, 1), Status.IN_PROGRESS),
        EditionStatus("upr-2019-khm", date(2023, 6, 30), Status.IN_PROGRESS, "upr-2014-khm"),
    )
    assert (protocol.first_source, protocol.first_published_on) == ("upr-2014-khm", date(2014, 3, 12))


def test_highlight_after_is_a_keyword(url):
    found = report(url, highlight_after=2)
    assert found.highlight_after == 2
    assert [row.ref for row in found.threads if row.highlighted] == [
        "tip-2019-khm/undercover-techniques",
        "tip-2022-khm/victim-identification",
    ]
    assert "repeated in 2 or more later editions" in render.render(found, "md")
    with pytest.raises(InputError, match="highlight_after"):
        report(url, highlight_after=0)


def test_series_selects_one_by_its_name_or_an_edition_slug(url):
    tip = report(url, series="tip-khm")
    assert tip.series == ("tip-khm",) and {row.series for row in tip.threads} == {"tip-khm"}
    assert [s.slug for s in tip.header.sources] == ["tip-2022-khm", "tip-2019-khm", "tip-2018-khm", "tip-2015-khm"]
    assert tip.threads == tuple(row for row in report(url).threads if row.series == "tip-khm")
    assert report(url, series=" TIP-2019-KHM ").threads == tip.threads
    assert "upr-" not in render.render(tip, "md")


def test_an_unknown_series_names_the_known_ones(url):
    with pytest.raises(InputError, match=r"unknown --series 'nope': the series recorded by .* are tip-khm, upr-khm"):
        report(url, series="nope")
    # Only the series recorded by --as-of are known then.
    with pytest.raises(InputError, match=r"are tip-khm$") as raised:
        report(url, series="upr-khm", as_of="2020-01-01")
    assert raised.value.exit_code == 2


def test_as_of_before_a_link_was_recorded_gives_the_same_bytes(url):
    before = every_format(report(url))
    write(
        url,
        LINKED_AT,
        lambda s: services.link_recommendation(
            s,
            "tip-2022-khm/law-enforcement-funding",
            "tip-2015-khm/nap-funding",
            "narrowed",
            note="Funding, for law enforcement only",
            actor=ACTOR,
        ),
    )
    assert every_format(report(url)) == before
    now = by_ref(report(url, as_of=None))
    assert "tip-2015-khm/nap-funding" not in now
    joined = now["tip-2022-khm/law-enforcement-funding"]
    assert joined.editions == ("tip-2015-khm", "tip-2022-khm") and joined.repeated == 1
    assert (joined.first_source, joined.first_published_on) == ("tip-2015-khm", date(2015, 7, 27))


def test_as_of_before_an_edition_and_an_assessment_were_recorded(url):
    found = report(url, as_of="2022-07-31")  # tip-2022-khm loaded on 2022-08-01
    rows = by_ref(found)
    assert "tip-2022-khm" not in [s.slug for s in found.header.sources]
    victims = rows["tip-2019-khm/victim-identification"]
    assert victims.editions == ("tip-2015-khm", "tip-2018-khm", "tip-2019-khm") and victims.repeated == 2
    assert (victims.status, victims.carried_over_from) == (Status.IN_PROGRESS, None)
    assert not victims.highlighted
    # A withdrawal counts from when it was recorded: before it, the wrong assessment stood.
    early = by_ref(report(url, as_of="2020-06-01T12:00:00+00:00"))["tip-2019-khm/labor-inspections"]
    assert (early.status, early.carried_over_from) == (Status.NOT_STARTED, None)


def test_an_assessment_on_or_before_the_as_of_date_counts(url):
    day = "2023-06-30"
    status(url, at("2023-07-01"), "tip-2022-khm/victim-identification", "implemented", day, "Done.")
    assert by_ref(report(url))["tip-2022-khm/victim-identification"].status == Status.IN_PROGRESS  # recorded later
    victims = by_ref(report(url, as_of=None))["tip-2022-khm/victim-identification"]
    assert (victims.status, victims.carried_over_from, victims.highlighted) == (Status.IMPLEMENTED, None, False)


def test_json_has_the_designed_keys(url):
    document = json.loads(render.render(report(url), "json"))
    assert list(document) == [
        "schema_version",
        "kind",
        "as_of",
        "status_on",
        "audience",
        "fingerprint",
        "sources",
        "sources_basis",
        "series",
        "highlight_after",
        "threads",
    ]
    assert (document["schema_version"], document["kind"], document["sources_basis"]) == (1, "editions", "all")
    thread = next(t for t in document["threads"] if t["ref"] == "tip-2022-khm/victim-identification")
    assert thread == {
        "ref": "tip-2022-khm/victim-identification",
        "title": "Fully implement the victim identification guidelines nationwide",
        "series": "tip-khm",
        "first_recommended": {"source": "tip-2015-khm", "published_on": "2015-07-27"},
        "editions": ["tip-2015-khm", "tip-2018-khm", "tip-2019-khm", "tip-2022-khm"],
        "repeated": 3,
        "status": "in_progress",
        "carried_over_from": "tip-2019-khm",
        "not_implemented_in": ["tip-2015-khm", "tip-2018-khm", "tip-2019-khm", "tip-2022-khm"],
        "highlighted": True,
    }


def test_csv_neutralises_formulas(url):
    lines = render.render(report(url, series="upr-khm"), "csv").split("\r\n")
    assert lines[0] == (
        "series,ref,title,first_source,first_published_on,editions,repeated,status,carried_over_from,"
        "not_implemented_in,highlighted"
    )
    assert lines[2].startswith('upr-khm,upr-2019-khm/birth-registration,"\'=HYPERLINK(""https://example.org"")')
    assert lines[1] == (
        "upr-khm,upr-2019-khm/ratify-protocol,Ratify the Palermo Protocol's optional reporting,upr-2014-khm,"
        "2014-03-12,upr-2014-khm;upr-2019-khm,1,in_progress,upr-2014-khm,upr-2014-khm;upr-2019-khm,false"
    )


def test_html_marks_the_highlighted_threads_and_fetches_nothing(url):
    page = render.render(report(url), "html")
    assert '<td class="rec overdue" title="Fully implement the victim identification guidelines nationwide">' in page
    assert "! tip-2022-khm/victim-identification</td>" in page
    assert page.count('class="rec overdue"') == 1
    assert "@media print" in page and 'http-equiv="Content-Security-Policy"' in page
    for needle in ("<script", "<link", 'src="http', "url("):
        assert needle not in page


def test_before_anything_was_recorded_is_a_clear_report(make_url_for):
    found = report(make_url_for("empty"), as_of="2019-01-01")
    assert found.threads == () and found.series == ()
    text = render.render(found, "md")
    assert "Nothing to report: no source had been recorded by 2019-01-01T23:59:59.999999Z" in text
    assert json.loads(render.render(found, "json"))["threads"] == []
    assert "Nothing to report" in render.render(found, "html")
    with pytest.raises(InputError, match="no source had been recorded"):
        report(make_url_for("empty"), as_of="2019-01-01", series="tip-khm")


# The command line: wiring ------------------------------------------------------------------------


def test_report_editions_prints_the_library_report_and_o_writes_the_same_bytes(url, tmp_path):
    expected = every_format(report(url, series="tip-khm", audience="confidential"))
    for fmt, text in expected.items():
        result = invoke(
            ["--db", url, "report", "editions", "--series", "tip-khm", "--as-of", AS_OF]
            + ["--audience", "confidential", "--format", fmt]
        )
        assert result.exit_code == 0, result.output
        assert result.stdout == ("\ufeff" if fmt == "csv" else "") + text  # CSV: a byte-order mark first
    target = tmp_path / "editions.md"
    result = invoke(["--db", url, "report", "editions", "--as-of", AS_OF, "-o", target])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert target.read_bytes().decode("utf-8") == render.render(report(url), "md")


def test_report_editions_with_an_unknown_series_exits_2(url, tmp_path):
    target = tmp_path / "out.md"
    result = invoke(["--db", url, "report", "editions", "--series", "nope", "-o", target])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: unknown --series 'nope'") and "tip-khm, upr-khm" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not target.exists()


def test_report_editions_runs_in_a_fresh_process(url):
    """The command imports the report itself (here, the test module imported it already)."""
    completed = subprocess.run(
        [sys.executable, "-c", "from tracker import cli; cli.main()", "--db", url]
        + ["report", "editions", "--as-of", AS_OF, "--format", "json"],
        capture_output=True,
        cwd=Path(__file__).parent.parent,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr.decode()
    assert completed.stdout.decode("utf-8") == render.render(report(url), "json")
