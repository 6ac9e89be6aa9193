"""Corrections: every mistake can be fixed, and the fix is part of the record.

A correction is a new row: a report as of a moment before it is the same, byte for byte,
as the one made before it; a report as of now shows the corrected values; ``tracker
history`` lists every version; ``verify`` covers the corrections like any other row.
SQLite and PostgreSQL, with the clock fixed in 2019 (the catalog was loaded 2019-06-21).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from tracker import clock, queries, reports, services
from tracker.periods import Quarter
from tracker.render import html, render
from tracker.store.database import Database

from conftest import invoke

ACTOR = "analyst"
Q3 = Quarter.parse("2019Q3")
FORMATS = ("md", "json", "csv")


def at(day: str, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


class Record:
    """One database, written with the clock fixed: ``do(instant, service, *args)``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.database = Database(url)

    def do(self, instant: datetime, service, *args, **kwargs):
        kwargs.setdefault("actor", ACTOR)
        with clock.frozen(instant):
            return self.database.write(lambda session: service(session, *args, **kwargs))

    def new(self, instant: datetime, service, *args, **kwargs) -> int:
        """Like :meth:`do`, for a service that stores a row: the new row's id."""
        kwargs.setdefault("actor", ACTOR)
        with clock.frozen(instant):
            return self.database.write(lambda session: service(session, *args, **kwargs).id)

    def read(self, query, *args, **kwargs):
        with self.database.reading() as session:
            return query(session, *args, **kwargs)

    def report(self, as_of: datetime, audience: str = "internal", quarter: Quarter = Q3) -> reports.QuarterlyReport:
        with clock.frozen(as_of), self.database.reading() as session:
            return reports.quarterly(session, quarter, as_of=as_of, audience=audience)

    def rendered(self, as_of: datetime, audience: str = "internal") -> dict[str, str]:
        report = self.report(as_of, audience)
        return {fmt: render(report, fmt) for fmt in FORMATS}

    def cli(self, *args: str):
        return invoke(["--db", self.url, *args], env={"TRACKER_USER": ACTOR})

    def close(self) -> None:
        self.database.dispose()


@pytest.fixture
def record(url):
    db = Record(url)
    yield db
    db.close()


def section(report: reports.QuarterlyReport, ref: str) -> reports.RecommendationSection:
    return next(s for s in report.recommendations if s.ref == ref)


def evidence_input(title: str, day: str, *recs: str, sensitivity: str = "internal", stance: str = "progress"):
    return services.check_evidence(
        recs=list(recs), title=title, observed_on=day, kind="inspection", stance=stance, sensitivity=sensitivity
    )


def test_each_kind_of_record_corrected_keeps_the_earlier_reports_and_shows_the_new_values(record):
    # What was recorded, in July 2019.
    kiln = record.new(
        at("2019-07-05"),
        services.add_evidence,
        evidence_input("MoLVT inspects 12 brick klins", "2019-07-02", "labor-inspections"),
    )
    assessed = record.new(
        at("2019-07-05", 10),
        services.set_status,
        "labor-inspections",
        "in_progress",
        effective_on="2019-07-03",
        note="First kiln inspections since 2017",
        evidence_ids=[kiln],
    )
    record.new(at("2019-07-06"), services.record_measurement, "kiln-inspections", "2019Q3", 12)
    wrong_value = record.new(at("2019-07-06", 10), services.record_measurement, "kiln-inspections", "2019Q3", 120)

    # Each correction, a day apart; the reports (every format) kept just before each one.
    corrections = [
        (
            "evidence",
            f"evidence/{kiln}",
            lambda s, **k: services.amend_evidence(
                s,
                kiln,
                {"title": "MoLVT inspects 12 brick kilns", "kind": "statistic"},
                links=[("victim-identification", "context")],
                reason="Typo in the title; it also bears on victim identification",
                **k,
            ),
        ),
        (
            "status",
            f"status/{assessed}",
            lambda s, **k: services.withdraw_status(s, assessed, "Assessed before the inspections ended", **k),
        ),
        (
            "measurement",
            f"measurement/{wrong_value}",
            lambda s, **k: services.withdraw_measurement(s, wrong_value, "A zero too many", **k),
        ),
        (
            "indicator",
            "indicator/kiln-inspections",
            lambda s, **k: services.amend_indicator(
                s, "kiln-inspections", target="40", name="Inspections at brick kilns", reason="Target agreed", **k
            ),
        ),
        (
            "rec",
            "rec/labor-inspections",
            lambda s, **k: services.amend_recommendation(
                s,
                "labor-inspections",
                due_on=datetime(2019, 9, 1).date(),
                position=4,
                title="Increase labor inspections at brick kilns",
                reason="Due date of the action plan",
                **k,
            ),
        ),
        (
            "assignment",
            "rec/labor-inspections",
            lambda s, **k: services.assign_agency(
                s, "labor-inspections", "ncct", "lead", co_lead=True, reason="NCCT co-leads", **k
            ),
        ),
        (
            "agency",
            "agency/molvt",
            lambda s, **k: services.amend_agency(
                s, "molvt", name="Ministry of Labour and Vocational Training (MoLVT)", reason="Official spelling", **k
            ),
        ),
    ]
    kept: dict[datetime, dict[str, str]] = {}
    for step, (kind, _, correct) in enumerate(corrections):
        moment = at("2019-08-01") + timedelta(days=step)
        before = moment - timedelta(minutes=1)
        kept[before] = record.rendered(before)
        changes = record.do(moment, correct)
        assert changes, kind

    # As of a moment before each correction: the same bytes as the report made then.
    for before, formats in kept.items():
        assert record.rendered(before) == formats, f"the report as of {before} changed"

    # As of now: the corrected values.
    now = at("2019-08-20")
    report = record.report(now)
    labor = section(report, "labor-inspections")
    assert labor.title == "Increase labor inspections at brick kilns"
    assert labor.due_on == datetime(2019, 9, 1).date()
    assert labor.overdue  # due 2019-09-01, not implemented at the quarter's end
    assert labor.status.value == "not_started"  # the one assessment was withdrawn
    assert labor.status_updates == ()
    assert {(a.code, a.role) for a in labor.agencies} == {("molvt", "lead"), ("ncct", "lead")}
    assert next(a for a in labor.agencies if a.code == "molvt").name.endswith("(MoLVT)")
    assert [e.title for e in labor.evidence] == ["MoLVT inspects 12 brick kilns"]
    assert labor.evidence[0].kind.value == "statistic" and labor.evidence[0].corrected
    assert [e.id for e in section(report, "victim-identification").evidence] == [kiln]
    kilns = next(i for i in labor.indicators if i.code == "kiln-inspections")
    assert (kilns.value, kilns.target, kilns.name) == (12, 40, "Inspections at brick kilns")
    assert [s.ref for s in report.recommendations].index("labor-inspections") == 3  # position 4
    assert labor.corrected
    shown = {line.record for line in report.corrections}
    assert shown >= {
        f"evidence {kiln}",
        f"evidence {kiln} on victim-identification",
        "rec labor-inspections",
        "rec labor-inspections agency ncct",
        "agency molvt",
        "indicator kiln-inspections",
    }
    markdown = render(report, "md")
    assert "## Corrections recorded in 2019Q3" in markdown
    assert "title MoLVT inspects 12 brick klins -\\> MoLVT inspects 12 brick kilns" in markdown
    assert "Why: Typo in the title" in markdown

    # Every kind of record lists both versions, with who, when, why and the event's hash.
    events = {row["seq"]: row["hash"] for row in record.read(queries.log)}
    for kind, name, _ in corrections:
        history = record.cli("history", name, "--json")
        assert history.exit_code == 0, history.output
        versions = json.loads(history.stdout)["versions"]
        assert len(versions) >= 2, (kind, versions)
        assert versions[0]["reason"] is None and versions[-1]["reason"]
        assert all(v["recorded_by"] for v in versions)
        assert {v["event"] for v in versions} <= set(events.values())
    rec_history = json.loads(record.cli("history", "rec/labor-inspections", "--json").stdout)["versions"]
    assert [c["field"] for v in rec_history[1:] for c in v["changes"]] == [
        "due_on",
        "position",
        "title",
        "agency ncct: role",
    ]

    verified = record.cli("verify")
    assert verified.exit_code == 0, verified.output

    # A correction edited in SQL is caught, by its row and by its event's payload.
    engine = create_engine(record.database.url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE correction SET changes = :forged WHERE id = 1"), {"forged": '{"title":"Forged"}'}
            )
        forged = record.cli("verify")
        assert forged.exit_code == 1, forged.output
        assert "correction" in forged.output
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE correction SET changes = :kept WHERE id = 1"),
                {"kept": '{"kind":"statistic","title":"MoLVT inspects 12 brick kilns"}'},
            )
        assert record.cli("verify").exit_code == 0
        with engine.begin() as connection:
            payload = connection.execute(
                text("SELECT payload FROM event WHERE action = 'correction.record' ORDER BY seq LIMIT 1")
            ).scalar_one()
            connection.execute(
                text("UPDATE event SET payload = :p WHERE payload = :old"),
                {"p": payload.replace("Typo in the title", "Forged reason"), "old": payload},
            )
        forged = record.cli("verify")
        assert forged.exit_code == 1, forged.output
        assert "event" in forged.output
    finally:
        engine.dispose()


def test_a_status_set_on_the_wrong_date_withdrawn_and_set_again(record):
    wrong = record.new(
        at("2019-09-05"),
        services.set_status,
        "undercover-techniques",
        "in_progress",
        effective_on="2019-08-30",
        note="Draft law on undercover techniques tabled",
    )
    record.do(at("2019-09-05", 9, 10), services.withdraw_status, wrong, "Wrong date: tabled on 3 August, not 30 August")
    record.do(
        at("2019-09-05", 9, 11),
        services.set_status,
        "undercover-techniques",
        "in_progress",
        effective_on="2019-08-03",
        note="Draft law on undercover techniques tabled",
    )
    now = at("2019-10-02")
    public = record.report(now, "public")
    assert [(c.ref, c.effective_on.isoformat()) for c in public.changes] == [("undercover-techniques", "2019-08-03")]
    assert public.corrections == ()
    public_md = render(public, "md")
    assert "2019-08-30" not in public_md and "Corrections recorded" not in public_md

    internal = record.report(now, "internal")
    assert [c.effective_on.isoformat() for c in internal.changes] == ["2019-08-03"]
    (line,) = internal.corrections
    assert line.record == "status 1 (undercover-techniques, 2019-08-30)"
    assert line.reason == "Wrong date: tabled on 3 August, not 30 August" and line.recorded_by == ACTOR
    assert "status 1 (undercover-techniques, 2019-08-30): withdrawn no -\\> yes" in render(internal, "md")
    assert "Wrong date: tabled on 3 August, not 30 August" in render(internal, "html")
    assert json.loads(render(internal, "json"))["corrections"][0]["changes"] == [
        {"field": "withdrawn", "old": "no", "new": "yes"}
    ]

    history = record.cli("status", "history", "undercover-techniques")
    assert "in_progress (withdrawn)" in history.stdout
    assert "Wrong date: tabled on 3 August, not 30 August" in history.stdout


def test_roles_unassigning_a_second_lead_a_due_date_and_a_target(record):
    moment = iter(at("2019-08-01") + timedelta(minutes=n) for n in range(100))

    # A second lead is refused unless it is meant.
    refused = record.cli("rec", "assign", "labor-inspections", "ncct", "--role", "lead")
    assert refused.exit_code == 2 and "already has a lead agency (molvt)" in refused.stderr
    assert "--co-lead" in refused.stderr

    # An existing assignment's role changes with a reason; a new one needs none.
    changed = record.do(
        next(moment), services.assign_agency, "labor-inspections", "ncct", "lead", reason="NCCT leads", co_lead=True
    )
    assert [c.describe() for c in changed] == ["ncct on labor-inspections: role support -> lead"]
    record.do(next(moment), services.unassign_agency, "labor-inspections", "molvt", "MoLVT only supports")
    shown = record.read(queries.recommendation, "labor-inspections")
    assert [(a.code, a.role) for a in shown.agencies] == [("ncct", "lead")]
    again = record.cli("rec", "unassign", "labor-inspections", "molvt", "--reason", "twice")
    assert again.exit_code == 2 and "not assigned" in again.stderr
    back = record.do(
        next(moment), services.assign_agency, "labor-inspections", "molvt", "support", reason="MoLVT supports"
    )
    assert [c.describe() for c in back] == [
        "molvt on labor-inspections: role lead -> support",
        "molvt on labor-inspections: assigned no -> yes",
    ]
    shown = record.read(queries.recommendation, "labor-inspections")
    assert [(a.code, a.role) for a in shown.agencies] == [("ncct", "lead"), ("molvt", "support")]

    # A due date makes the recommendation overdue in the next report.
    before = record.report(next(moment))
    assert not section(before, "labor-inspections").overdue
    record.do(
        next(moment),
        services.amend_recommendation,
        "labor-inspections",
        due_on=datetime(2019, 9, 1).date(),
        reason="Action plan",
    )
    after = record.report(next(moment))
    assert section(after, "labor-inspections").overdue
    assert "labor-inspections" in after.summary.overdue

    # A target appears in the next report's chart.
    record.do(next(moment), services.record_measurement, "kiln-inspections", "2019Q3", 12)
    chart = html.indicator_charts(record.report(next(moment)))[("labor-inspections", "kiln-inspections")]
    assert chart.target is None
    record.do(next(moment), services.amend_indicator, "kiln-inspections", target="40", reason="Agreed target")
    chart = html.indicator_charts(record.report(next(moment)))[("labor-inspections", "kiln-inspections")]
    assert chart.target == 40
    markdown = render(record.report(next(moment)), "md")
    assert "| Labor inspections at brick kilns (corrected) | inspections | 12 | — | 40 |" in markdown


def test_raised_sensitivity_is_withheld_from_every_later_report_below_it(record):
    shared = record.new(
        at("2019-07-10"),
        services.add_evidence,
        evidence_input("Shelter interview", "2019-07-09", "victim-identification", sensitivity="public"),
    )
    before = at("2019-07-11")
    assert [e.id for e in section(record.report(before, "public"), "victim-identification").evidence] == [shared]
    record.do(
        at("2019-07-12"), services.amend_evidence, shared, {"sensitivity": "confidential"}, reason="Names a victim"
    )
    for as_of in (before, at("2019-07-13")):  # even as of before the correction
        public = record.report(as_of, "public")
        assert section(public, "victim-identification").evidence == ()
        assert public.withheld == 1
    assert [e.id for e in section(record.report(before, "confidential"), "victim-identification").evidence] == [shared]
    # Lowered again: visible from the lowering on, never before it.
    record.do(at("2019-07-14"), services.amend_evidence, shared, {"sensitivity": "public"}, reason="Consent given")
    assert [e.id for e in section(record.report(at("2019-07-15"), "public"), "victim-identification").evidence] == [
        shared
    ]
    assert section(record.report(at("2019-07-13"), "public"), "victim-identification").evidence == ()


def test_retracting_cited_evidence_warns_and_the_citations_are_marked(record):
    cited = record.new(
        at("2019-07-05"), services.add_evidence, evidence_input("Kiln visit", "2019-07-02", "labor-inspections")
    )
    record.do(
        at("2019-07-05", 10),
        services.set_status,
        "labor-inspections",
        "in_progress",
        effective_on="2019-07-03",
        note="Visits started",
        evidence_ids=[cited],
    )
    record.do(at("2019-07-05", 11), services.record_measurement, "kiln-inspections", "2019Q3", 3, evidence_id=cited)
    with clock.frozen(at("2019-07-06")):
        retracted = record.cli("evidence", "retract", str(cited), "--reason", "Visit did not happen")
    assert retracted.exit_code == 0, retracted.output
    assert "cited by status 1 (labor-inspections), measurement 1 (kiln-inspections 2019Q3)" in retracted.stderr
    history = record.cli("status", "history", "labor-inspections")
    assert f"{cited} (retracted)" in history.stdout
    shown = record.cli("indicator", "show", "kiln-inspections")
    assert f"{cited} (retracted)" in shown.stdout


def test_amend_links_and_refusals(record):
    kiln = record.new(
        at("2019-07-05"), services.add_evidence, evidence_input("Kiln visit", "2019-07-02", "labor-inspections")
    )
    with clock.frozen(at("2019-07-06")):
        only = record.cli("evidence", "amend", str(kiln), "--unlink", "labor-inspections", "--reason", "wrong")
        assert only.exit_code == 2 and "would bear on no recommendation" in only.stderr
        moved = record.cli(
            "evidence",
            "amend",
            str(kiln),
            "--rec",
            "victim-identification",
            "--stance",
            "setback",
            "--unlink",
            "labor-inspections",
            "--reason",
            "Filed under the wrong recommendation",
        )
        assert moved.exit_code == 0, moved.output
        assert f"evidence {kiln} on victim-identification: stance (none) -> setback" in moved.stderr
        same = record.cli("evidence", "amend", str(kiln), "--title", "Kiln visit", "--reason", "no-op")
        assert same.exit_code == 2 and "nothing would change" in same.stderr
        blank = record.cli("evidence", "amend", str(kiln), "--title", "Other", "--reason", " ")
        assert blank.exit_code == 2 and "--reason" in blank.stderr
    listed = record.read(queries.evidence_list, rec="victim-identification")
    assert [(e["id"], e["recommendations"]) for e in listed] == [
        (kiln, [{"ref": "victim-identification", "stance": "setback"}])
    ]
    assert record.read(queries.evidence_list, rec="labor-inspections") == []


def test_an_export_carries_the_corrections_and_a_restore_reproduces_them(record, make_url_for, tmp_path):
    kiln = record.new(
        at("2019-07-05"), services.add_evidence, evidence_input("Kiln vist", "2019-07-02", "labor-inspections")
    )
    record.do(at("2019-07-06"), services.amend_evidence, kiln, {"title": "Kiln visit"}, reason="Typo")
    record.do(at("2019-07-07"), services.amend_agency, "molvt", name="MoLVT", reason="Short name")
    exported = tmp_path / "export.json"
    assert record.cli("export", "-o", str(exported)).exit_code == 0
    assert '"correction"' in exported.read_text()

    copy = Record(make_url_for("empty"))
    try:
        restored = copy.cli("import", str(exported))
        assert restored.exit_code == 0, restored.output
        assert copy.cli("verify").exit_code == 0
        for as_of in (at("2019-07-05", 12), at("2019-08-01")):
            assert copy.rendered(as_of) == record.rendered(as_of)
        assert copy.cli("history", f"evidence/{kiln}").stdout == record.cli("history", f"evidence/{kiln}").stdout
    finally:
        copy.close()
