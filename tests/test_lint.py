"""``tracker lint``: each rule fires, and does not, by current (corrected) values as known at an
instant; the command's exit codes and JSON; the quarterly report's "Needs attention" list.
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tracker import clock, lint, reports, services
from tracker.periods import Quarter
from tracker.render import render
from tracker.store.database import Database

from conftest import add_evidence, invoke, write

START = datetime(2020, 1, 6, 9, tzinfo=UTC)  # after every date the tests give


class Recorder:
    """Writes through the library, each a minute after the last (the clock frozen), as ``tester``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.database = Database(url)
        self.moment = START

    def tick(self) -> datetime:
        self.moment += timedelta(minutes=1)
        return self.moment

    def __call__(self, service, *args, **kwargs):
        """``service(session, *args, **kwargs)``; a new record's id (its row is of a closed session)."""

        def work(session, *args, **kwargs):
            done = service(session, *args, **kwargs)
            return getattr(done, "id", done)

        with clock.frozen(self.tick()):
            return write(self.database, work, *args, actor="tester", **kwargs)

    def evidence(self, ref: str, title: str, day: str, **fields) -> int:
        with clock.frozen(self.tick()):
            return add_evidence(self.database, [ref], title, day, fields.pop("kind", "media_report"), **fields)

    def status(self, ref: str, value: str, on: str, *evidence: int) -> int:
        return self(services.set_status, ref, value, effective_on=on, note="Assessed", evidence_ids=list(evidence))

    def findings(self, as_of: datetime | None = None, quarter: str | None = None) -> list[tuple]:
        """(rule, ref, status id, evidence ids) of each finding, as known at ``as_of`` (default: the last write)."""
        with self.database.reading() as session:
            found = lint.findings(
                session, as_of=as_of or self.moment, quarter=Quarter.parse(quarter) if quarter else None
            )
        return [(f.rule, f.ref, f.status_update_id, f.evidence_ids) for f in found]

    def fired(self, rule: str, **kwargs) -> list[tuple]:
        return [found[1:] for found in self.findings(**kwargs) if found[0] == rule]

    def report(self, audience: str, as_of: datetime | None = None, quarter: str = "2019Q3"):
        with self.database.reading() as session:
            return reports.quarterly(session, Quarter.parse(quarter), as_of=as_of or self.moment, audience=audience)


@pytest.fixture
def rec(make_url_for):
    recorder = Recorder(make_url_for("loaded"))
    yield recorder
    recorder.database.dispose()


def test_a_catalog_alone_has_no_findings(rec):
    assert rec.findings() == []


def test_unsupported_progress(rec):
    bare = rec.status("undercover-techniques", "partially_implemented", "2019-08-01")
    rec.status("victim-identification", "in_progress", "2019-08-01")  # not a claim of (partial) implementation
    verdict = rec.evidence("prosecute-convict", "Conviction upheld", "2019-07-20", kind="court_case")
    rec.status("prosecute-convict", "implemented", "2019-08-02", verdict)
    kilns = rec.evidence("labor-inspections", "Kiln count", "2019-07-15", kind="statistic")
    cited = rec.status("labor-inspections", "implemented", "2019-08-03", kilns)
    assert rec.fired("unsupported-progress") == [("undercover-techniques", bare, ())]
    rec(services.retract_evidence, kilns, "Counted twice")  # retracted evidence supports nothing
    assert rec.fired("unsupported-progress") == [
        ("undercover-techniques", bare, ()),
        ("labor-inspections", cited, (kilns,)),
    ]
    before = rec.moment
    rec(services.withdraw_status, bare, "Entered by mistake")  # a withdrawn assessment does not count
    assert rec.fired("unsupported-progress") == [("labor-inspections", cited, (kilns,))]
    assert len(rec.fired("unsupported-progress", as_of=before)) == 2  # as known then
    with rec.database.reading() as session:
        (finding,) = [f for f in lint.findings(session, as_of=rec.moment) if f.rule == "unsupported-progress"]
    assert finding.message == f"status {cited} (implemented, effective 2019-08-03) cites only retracted evidence: " + (
        f"evidence {kilns}"
    )


def test_advanced_on_setback(rec):
    setback = rec.evidence("labor-inspections", "Inspections halted", "2019-08-10", stance="setback")
    rec.evidence("labor-inspections", "Earlier good news", "2019-06-10")  # another quarter: does not count
    advanced = rec.status("labor-inspections", "in_progress", "2019-08-20")
    assert rec.fired("advanced-on-setback") == [("labor-inspections", advanced, (setback,))]

    progress = rec.evidence("labor-inspections", "Inspections resumed", "2019-09-10")
    assert rec.fired("advanced-on-setback") == []  # not the only evidence
    rec(services.retract_evidence, progress, "Wrong province")
    assert rec.fired("advanced-on-setback") == [("labor-inspections", advanced, (setback,))]
    rec(services.amend_evidence, setback, {}, links=[("labor-inspections", "context")], reason="Not a setback")
    assert rec.fired("advanced-on-setback") == []  # the corrected stance counts

    # A status that did not advance is not flagged, whatever the evidence.
    rec.evidence("victim-identification", "Protocol shelved", "2019-08-10", stance="setback")
    rec.status("victim-identification", "not_started", "2019-08-20")
    assert rec.fired("advanced-on-setback") == []


def test_setback_after_implemented(rec):
    rec.evidence("prosecute-convict", "Before it", "2019-07-15", stance="setback")  # before: does not count
    implemented = rec.status("prosecute-convict", "implemented", "2019-08-01")
    assert rec.fired("setback-after-implemented") == []
    setback = rec.evidence("prosecute-convict", "Acquittal of an official", "2019-09-10", stance="setback")
    assert rec.fired("setback-after-implemented") == [("prosecute-convict", implemented, (setback,))]
    with rec.database.reading() as session:
        (finding,) = [f for f in lint.findings(session, as_of=rec.moment) if f.rule == "setback-after-implemented"]
    assert finding.on.isoformat() == "2019-09-10" and finding.sensitivity.value == "internal"

    review = rec.status("prosecute-convict", "partially_implemented", "2019-09-20", setback)
    assert rec.fired("setback-after-implemented") == []  # assessed again since
    rec(services.withdraw_status, review, "Not agreed")
    assert rec.fired("setback-after-implemented") == [("prosecute-convict", implemented, (setback,))]
    rec(services.amend_evidence, setback, {}, links=[("prosecute-convict", "progress")], reason="Misread")
    assert rec.fired("setback-after-implemented") == []
    # In a quarter's view: the setbacks observed in it, the status implemented at its end.
    rec(services.amend_evidence, setback, {}, links=[("prosecute-convict", "setback")], reason="It was one")
    assert rec.fired("setback-after-implemented", quarter="2019Q3") == [("prosecute-convict", implemented, (setback,))]
    assert rec.fired("setback-after-implemented", quarter="2019Q2") == []  # not yet implemented then
    assert rec.fired("setback-after-implemented", quarter="2019Q4") == []  # no setback observed in it


def test_a_status_carried_over_counts_as_the_recommendation_s(rec):
    from tracker import catalogs

    rec.moment = datetime(2023, 1, 2, 9, tzinfo=UTC)  # after 2022's edition was published
    implemented = rec.status("prosecute-convict", "implemented", "2019-08-01")
    with clock.frozen(rec.tick()):  # 2022 continues 2019's prosecute-convict, and is in force
        rec.database.write(lambda session: catalogs.load(session, catalogs.read("tip-2022-khm"), "tester"))
    assert rec.findings() == []  # 2019's unsupported assessment is not linted: that edition is not in force
    setback = rec.evidence("tip-2022-khm/prosecute-convict", "Officials acquitted", "2022-09-01", stance="setback")
    with rec.database.reading() as session:
        (finding,) = lint.findings(session, as_of=rec.moment)
    assert (finding.rule, finding.ref, finding.status_update_id, finding.evidence_ids) == (
        "setback-after-implemented",
        "prosecute-convict",
        implemented,
        (setback,),
    )
    assert f"status {implemented} of tip-2019-khm/prosecute-convict, carried over (implemented" in finding.message


def test_unverified_only(rec):
    rumour = rec.evidence("undercover-techniques", "Rumour of a draft", "2019-08-01", reliability="unverified")
    confirmed = rec.evidence("undercover-techniques", "Draft published", "2019-08-02")
    alone = rec.status("undercover-techniques", "in_progress", "2019-08-03", rumour)
    rec.status("undercover-techniques", "partially_implemented", "2019-08-04", rumour, confirmed)
    assert rec.fired("unverified-only") == [("undercover-techniques", alone, (rumour,))]
    rec(services.retract_evidence, confirmed, "Fake")
    assert [found[0] for found in rec.fired("unverified-only")] == ["undercover-techniques"] * 2
    rec(services.amend_evidence, rumour, {"reliability": "confirmed"}, reason="The ministry confirmed it")
    assert rec.fired("unverified-only") == []  # the corrected reliability counts


def test_no_lead_on_the_editions_in_force_only(rec):
    from tracker import catalogs

    with clock.frozen(rec.tick()):
        rec.database.write(lambda session: catalogs.load(session, catalogs.read("tip-2018-khm"), "tester"))
    for source in ("tip-2019-khm", "tip-2018-khm"):
        rec(
            services.add_recommendation,
            source=source,
            code="shelters",
            title="Shelters",
            text="Fund them.",
            pillar="protection",
        )
    # The 2018 edition is not in force: its recommendation is not linted (and the REF is short, as in reports).
    assert rec.fired("no-lead") == [("shelters", None, ())]
    rec(services.assign_agency, "tip-2019-khm/shelters", "mosvy", "support")
    assert rec.fired("no-lead") == [("shelters", None, ())]  # support is no lead
    rec(services.assign_agency, "tip-2019-khm/shelters", "mosvy", "lead", reason="MoSVY leads")
    assert rec.fired("no-lead") == []


def test_indicator_against_status(rec):
    rec.status("labor-inspections", "in_progress", "2019-05-01")
    for quarter, value in (("2019Q1", 10), ("2019Q2", 8), ("2019Q3", 5)):
        rec(services.record_measurement, "kiln-inspections", quarter, value)
    assert rec.fired("indicator-against-status") == [("labor-inspections", 1, ())]
    assert rec.fired("indicator-against-status", quarter="2019Q3") == [("labor-inspections", 1, ())]
    assert rec.fired("indicator-against-status", quarter="2019Q2") == []
    with rec.database.reading() as session:
        (finding,) = lint.findings(session, as_of=rec.moment)
    assert finding.indicator == "kiln-inspections" and finding.measurement_ids == (1, 2, 3)
    assert "went 10 -> 8 -> 5 from 2019Q1 to 2019Q3" in finding.message

    better = rec(services.record_measurement, "kiln-inspections", "2019Q2", 12)  # supersedes 8: not a run
    assert rec.fired("indicator-against-status") == []
    rec(services.withdraw_measurement, better, "Typo")  # 8 counts again
    assert rec.fired("indicator-against-status") == [("labor-inspections", 1, ())]
    rec(services.amend_indicator, "kiln-inspections", direction="down", reason="Fewer is better")
    assert rec.fired("indicator-against-status") == []


def test_an_indicator_falling_while_the_status_stays_is_no_finding(rec):
    for quarter, value in (("2019Q1", 10), ("2019Q2", 8), ("2019Q3", 5)):
        rec(services.record_measurement, "kiln-inspections", quarter, value)
    assert rec.findings() == []


def test_the_command_line_lists_findings_and_strict_exits_1(rec):
    clean = invoke(["--db", rec.url, "lint"])
    assert (clean.exit_code, clean.stdout, clean.stderr) == (0, "No findings.\n", "")
    assert json.loads(invoke(["--db", rec.url, "lint", "--json", "--strict"]).stdout) == []

    rec.status("undercover-techniques", "implemented", "2019-08-01")
    listed = invoke(["--db", rec.url, "lint"])
    assert listed.exit_code == 0 and listed.stderr == "", listed.output
    assert "undercover-techniques  unsupported-progress  status 1 (implemented" in listed.stdout
    assert "1 finding. Why these rules matter:" in listed.stdout

    strict = invoke(["--db", rec.url, "lint", "--strict"])
    assert strict.exit_code == 1 and strict.stdout == listed.stdout
    assert strict.stderr == "Error: lint found 1 finding (unsupported-progress)\n"

    as_json = invoke(["--db", rec.url, "lint", "--json", "--strict"])
    assert as_json.exit_code == 1, as_json.output
    (item,) = json.loads(as_json.stdout)
    assert set(item) == {
        "rule",
        "ref",
        "message",
        "why",
        "status_update_id",
        "evidence_ids",
        "measurement_ids",
        "indicator",
        "on",
        "sensitivity",
    }
    assert (item["rule"], item["ref"], item["status_update_id"], item["evidence_ids"]) == (
        "unsupported-progress",
        "undercover-techniques",
        1,
        [],
    )


def needs_attention(report) -> dict[str, str]:
    """The "Needs attention" list of the report's Markdown: each REF's reasons."""
    section = render(report, "md").split("## Needs attention\n", 1)[1].split("\n## ", 1)[0]
    return {
        line.split("**")[1].replace("\\", ""): line.split("): ", 1)[1].replace("\\", "")
        for line in section.splitlines()
        if line.startswith("- **")
    }


def test_the_internal_quarterly_report_lists_the_quarter_s_findings(rec):
    shelter = rec.evidence(
        "victim-identification", "Shelter notes", "2019-08-05", stance="setback", sensitivity="confidential"
    )
    rec.status("victim-identification", "in_progress", "2019-08-10")  # advanced on (confidential) setbacks
    rec.status("undercover-techniques", "partially_implemented", "2019-08-01")  # unsupported
    rec.status("prosecute-convict", "implemented", "2019-04-01")  # unsupported, but in 2019Q2
    sent = rec.moment

    internal = needs_attention(rec.report("internal"))
    assert internal["undercover-techniques"].endswith(
        "unsupported-progress: status 2 (partially_implemented, effective 2019-08-01) cites no evidence"
    )
    assert "prosecute-convict" not in internal or "unsupported" not in internal["prosecute-convict"]
    # The confidential evidence a finding rests on is not named to the internal audience: nor is the finding.
    assert "advanced-on-setback" not in internal.get("victim-identification", "")
    confidential = needs_attention(rec.report("confidential"))
    assert (
        "advanced-on-setback: status 1 (not_started -> in_progress, effective 2019-08-10) advanced while the only "
        + (f"evidence observed in 2019Q3 is setback evidence: evidence {shelter}")
        in confidential["victim-identification"]
    )
    public = render(rec.report("public"), "md")
    assert "unsupported-progress" not in public and "advanced-on-setback" not in public
    assert "unsupported-progress" in needs_attention(rec.report("internal", quarter="2019Q2"))["prosecute-convict"]

    # As of an earlier instant the report is the same, byte for byte, whatever is recorded later.
    before = render(rec.report("internal", as_of=sent), "md")
    rec.status("labor-inspections", "implemented", "2019-09-01")
    rec(services.withdraw_status, 2, "Wrong recommendation")
    assert render(rec.report("internal", as_of=sent), "md") == before
    now = needs_attention(rec.report("internal"))
    assert "unsupported-progress" in now["labor-inspections"]
    assert "unsupported-progress" not in now.get("undercover-techniques", "")
