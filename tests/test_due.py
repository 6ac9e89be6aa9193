"""The follow-up digest (``tracker due``): each list fires and does not, as of an instant.

Behaviour is asserted on the library (:func:`tracker.due.digest`, rendered by
:mod:`tracker.render.digest`); the command-line tests at the end check the wiring. SQLite
and, when configured, PostgreSQL.

The dataset, as of 2019-11-15 (in 2019Q4: the last quarter ended is 2019Q3, an assessment
before 2019-04-01 is stale, due soon means due by 2019-12-15): tip-2019-khm in force and
tip-2018-khm loaded too, plus two recommendations added to 2019:

- prosecute-convict: no assessment of its own until one recorded on 2019-11-20; its 2018
  predecessor's in_progress is carried over;
- undercover-techniques: due 2019-12-15 (exactly 30 days on), assessed 2019-07-10;
- victim-identification: due 2019-11-15 (that day), last assessed 2019-03-15 (stale);
- labor-inspections: molvt and, by a correction, ncct lead; due 2020-03-31, corrected on
  2019-11-10 to 2019-11-01 (overdue from then); assessed 2019-09-30;
- shelter-standards: due 2019-09-01 but implemented (2019-03-01): neither overdue nor stale;
- data-sharing: no lead agency, due 2019-10-15, never assessed (its edition is new: not stale);
- indicators for 2019Q3: kiln-inspections has a value; debt-bondage-cases had one,
  withdrawn on 2019-10-10; victims-identified has 2019Q2's only; prosecutions and
  convictions none.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest

from tracker import catalogs, clock, due, services
from tracker.errors import InputError, NotFound
from tracker.periods import Quarter, parse_as_of
from tracker.render import digest as rendered
from tracker.store.database import Database
from tracker.vocab import Status

from conftest import invoke, read, template, write

ACTOR = "analyst"
AS_OF = "2019-11-15"


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def recorded(database: Database, instant: datetime, service, *args, **kwargs):
    """``service`` run in one write transaction with the clock at ``instant``; the id of the row it
    wrote, if it returns one."""

    def run(session):
        done = service(session, *args, actor=ACTOR, **kwargs)
        return getattr(done, "id", done)

    with clock.frozen(instant):
        return write(database, run)


def fill(database: Database, _folder) -> None:
    with clock.frozen(at("2019-06-22")):
        database.write(lambda session: catalogs.load(session, catalogs.read("tip-2018-khm"), ACTOR))
    recorded(
        database,
        at("2019-06-22", 10),
        services.set_status,
        "tip-2018-khm/prosecute-convict",
        "in_progress",
        effective_on="2018-10-01",
        note="Cases opened",
    )
    plan = at("2019-07-01")
    for ref, day in (
        ("labor-inspections", "2020-03-31"),
        ("victim-identification", "2019-11-15"),
        ("undercover-techniques", "2019-12-15"),
    ):
        recorded(database, plan, services.amend_recommendation, ref, due_on=day, reason="The action plan")
    recorded(
        database,
        plan,
        services.add_recommendation,
        source="tip-2019-khm",
        code="shelter-standards",
        title="Adopt minimum standards for shelters",
        text="Adopt and enforce minimum standards of care in shelters.",
        pillar="protection",
        due_on=date(2019, 9, 1),
    )
    recorded(database, plan, services.assign_agency, "shelter-standards", "mosvy", "lead")
    recorded(
        database,
        plan,
        services.add_recommendation,
        source="tip-2019-khm",
        code="data-sharing",
        title='=HYPERLINK("https://example.org") Share case data between ministries',
        text="Share case data.",
        pillar="partnership",
        due_on=date(2019, 10, 15),
    )
    recorded(
        database,
        plan,
        services.assign_agency,
        "labor-inspections",
        "ncct",
        "lead",
        reason="Both lead the inspections",
        co_lead=True,
    )
    recorded(database, plan, services.add_agency, "mfaic", "Ministry of Foreign Affairs")
    for ref, value, on in (
        ("tip-2019-khm/undercover-techniques", "in_progress", "2019-07-10"),
        ("tip-2019-khm/victim-identification", "in_progress", "2019-03-15"),
        ("shelter-standards", "implemented", "2019-03-01"),
    ):
        recorded(database, at("2019-07-10"), services.set_status, ref, value, effective_on=on, note="Assessed")
    recorded(database, at("2019-07-10"), services.record_measurement, "victims-identified", "2019Q2", "40")
    recorded(
        database,
        at("2019-10-01"),
        services.set_status,
        "labor-inspections",
        "partially_implemented",
        effective_on="2019-09-30",
        note="Three provinces",
    )
    recorded(database, at("2019-10-05"), services.record_measurement, "kiln-inspections", "2019Q3", "12")
    counted_twice = recorded(
        database, at("2019-10-05"), services.record_measurement, "debt-bondage-cases", "2019Q3", "3"
    )
    recorded(database, at("2019-10-10"), services.withdraw_measurement, counted_twice, "Counted twice")
    recorded(
        database,
        at("2019-11-10"),
        services.amend_recommendation,
        "labor-inspections",
        due_on="2019-11-01",
        reason="Sooner",
    )
    recorded(
        database,
        at("2019-11-20"),
        services.set_status,
        "tip-2019-khm/prosecute-convict",
        "in_progress",
        effective_on="2019-11-18",
        note="Assessed at last",
    )


DATASET = template("due-dataset", fill)


@pytest.fixture
def database(make_url_for):
    db = Database(make_url_for(DATASET))
    yield db
    db.dispose()


def digest_of(database: Database, as_of: str, **options) -> due.Digest:
    return read(database, due.digest, as_of=parse_as_of(as_of), **options)


def refs(groups) -> dict[str | None, list[tuple[str, int]]]:
    """Overdue or due-soon groups as {agency code: [(ref, days)]}."""
    return {
        None if g.agency is None else g.agency.code: [(i.recommendation.ref, i.days) for i in g.items] for g in groups
    }


# The lists ------------------------------------------------------------------------------------


def test_as_of_2019_11_15_every_list_fires_and_only_for_what_it_should(database):
    found = digest_of(database, AS_OF)
    assert (found.on, found.within_days, found.due_by) == (date(2019, 11, 15), 30, date(2019, 12, 15))
    assert found.sources == ("tip-2019-khm",)  # tip-2018-khm is not in force: none of its own is listed
    # corrected due date, co-leads under each lead, no lead last; implemented shelter-standards not overdue
    assert refs(found.overdue) == {
        "molvt": [("labor-inspections", 14)],
        "ncct": [("labor-inspections", 14)],
        None: [("data-sharing", 31)],
    }
    # due today (0 days left, not overdue) and due exactly 30 days on
    assert refs(found.due_soon) == {"moi": [("undercover-techniques", 30)], "mosvy": [("victim-identification", 0)]}
    # the withdrawn value does not count; a value of another quarter does not either
    assert found.quarter == Quarter(2019, 3)
    assert [(i.code, i.recommendation.ref) for i in found.indicators_missing] == [
        ("convictions", "prosecute-convict"),
        ("prosecutions", "prosecute-convict"),
        ("victims-identified", "victim-identification"),
        ("debt-bondage-cases", "labor-inspections"),
    ]
    # stale: assessed before 2019-04-01; not the implemented one, nor data-sharing (never assessed, new edition)
    assert found.stale_before == date(2019, 4, 1)
    assert [(s.recommendation.ref, s.last_assessed_on) for s in found.stale] == [
        ("victim-identification", date(2019, 3, 15))
    ]
    assert [(c.recommendation.ref, c.carried_over_from, c.recommendation.status) for c in found.carried_over] == [
        ("prosecute-convict", "tip-2018-khm", Status.IN_PROGRESS)
    ]


def test_due_within_counts_whole_days_both_ends_included(database):
    assert refs(digest_of(database, AS_OF, within=29).due_soon) == {"mosvy": [("victim-identification", 0)]}
    assert refs(digest_of(database, AS_OF, within=0).due_soon) == {"mosvy": [("victim-identification", 0)]}
    # the day after its due date it is overdue, no longer due soon
    later = digest_of(database, "2019-11-16")
    assert ("victim-identification", 1) in refs(later.overdue)["mosvy"]
    assert "mosvy" not in refs(later.due_soon)


def test_an_as_of_before_a_correction_gives_the_due_date_known_then(database):
    before = digest_of(database, "2019-11-09")  # labor-inspections was due 2020-03-31 until 2019-11-10
    assert refs(before.overdue) == {None: [("data-sharing", 25)]}
    assert refs(before.due_soon) == {"mosvy": [("victim-identification", 6)]}
    # before the plan (2019-07-01): no due dates, no added recommendations, ncct not a lead
    plan = digest_of(database, "2019-06-30")
    assert (plan.overdue, plan.due_soon) == ((), ())
    assert [item.recommendation.ref for item in plan.stale] == []


def test_a_value_withdrawn_later_still_counts_as_of_before_its_withdrawal(database):
    codes = [i.code for i in digest_of(database, "2019-10-07").indicators_missing]
    assert "debt-bondage-cases" not in codes and "kiln-inspections" not in codes
    assert "debt-bondage-cases" in [i.code for i in digest_of(database, "2019-10-10").indicators_missing]


def test_an_own_assessment_ends_carrying_over_and_staleness(database):
    found = digest_of(database, "2019-11-20")
    assert found.carried_over == ()
    assert "prosecute-convict" not in [s.recommendation.ref for s in found.stale]


def test_an_assessment_on_the_first_day_of_the_quarter_two_before_is_not_stale(database):
    recorded(
        database,
        at("2019-11-25"),
        services.set_status,
        "tip-2019-khm/victim-identification",
        "in_progress",
        effective_on="2019-04-01",
        note="Assessed as of the start of Q2",
    )
    assert [s.recommendation.ref for s in digest_of(database, "2019-11-24").stale] == ["victim-identification"]
    assert digest_of(database, "2019-11-25").stale == ()


def test_a_recommendation_never_assessed_is_stale_once_its_edition_is_two_quarters_old(database):
    # data-sharing (tip-2019-khm, published 2019-06-20): in 2020Q1, stale means before 2019-07-01
    found = digest_of(database, "2020-01-02")
    stale = {s.recommendation.ref: (s.last_assessed_on, s.since) for s in found.stale}
    assert stale["data-sharing"] == (None, date(2019, 6, 20))
    assert "shelter-standards" not in stale  # implemented


def test_quarter_boundaries():
    assert due.last_ended_quarter(parse_as_of("2019-09-30")) == Quarter(2019, 3)  # the end of its last day
    assert due.last_ended_quarter(datetime(2019, 9, 30, 12, tzinfo=UTC)) == Quarter(2019, 2)
    assert due.last_ended_quarter(datetime(2019, 10, 1, tzinfo=UTC)) == Quarter(2019, 3)
    assert due.stale_before(date(2019, 11, 15)) == date(2019, 4, 1)
    assert due.stale_before(date(2019, 10, 1)) == date(2019, 4, 1)
    assert due.stale_before(date(2019, 9, 30)) == date(2019, 1, 1)
    assert due.stale_before(date(2020, 2, 1)) == date(2019, 7, 1)


def test_agency_keeps_what_it_leads_and_its_indicators(database):
    molvt = digest_of(database, AS_OF, agency="molvt")
    assert molvt.agency == due.Agency("molvt", "Ministry of Labour and Vocational Training")
    assert refs(molvt.overdue) == {"molvt": [("labor-inspections", 14)]}
    assert (molvt.due_soon, molvt.stale, molvt.carried_over) == ((), (), ())
    assert [i.code for i in molvt.indicators_missing] == ["debt-bondage-cases"]
    ncct = digest_of(database, AS_OF, agency="ncct")  # a co-lead by a correction
    assert refs(ncct.overdue) == {"ncct": [("labor-inspections", 14)]}
    mosvy = digest_of(database, AS_OF, agency="mosvy")  # shelter-standards, implemented, is not listed
    assert refs(mosvy.due_soon) == {"mosvy": [("victim-identification", 0)]}
    assert (mosvy.overdue, [s.recommendation.ref for s in mosvy.stale]) == ((), ["victim-identification"])
    assert digest_of(database, "2019-06-30", agency="ncct").overdue == ()  # not a lead yet
    with pytest.raises(NotFound, match="unknown agency 'nobody'"):
        digest_of(database, AS_OF, agency="nobody")
    with pytest.raises(NotFound, match="recorded later"):
        digest_of(database, "2019-06-30", agency="mfaic")


def test_the_digest_as_of_an_instant_is_the_same_bytes_after_later_records(database):
    before = {form: rendered.render(digest_of(database, AS_OF), form) for form in ("md", "csv", "json")}
    later = at("2019-12-01")
    recorded(database, later, services.amend_recommendation, "data-sharing", due_on="2020-06-30", reason="Moved")
    recorded(database, later, services.record_measurement, "convictions", "2019Q3", "2")
    recorded(database, later, services.unassign_agency, "labor-inspections", "ncct", "Not a lead after all")
    recorded(database, later, services.assign_agency, "data-sharing", "mfaic", "lead")
    recorded(database, later, services.add_agency, "unicef", "UNICEF Cambodia")
    update = recorded(
        database,
        later,
        services.set_status,
        "victim-identification",
        "implemented",
        effective_on="2019-11-30",
        note=".",
    )
    recorded(database, later, services.withdraw_status, update, "Too early")
    assert {form: rendered.render(digest_of(database, AS_OF), form) for form in before} == before
    assert rendered.render(digest_of(database, "2019-12-01"), "md") != before["md"]


def test_no_edition_in_force_gives_an_empty_digest(database):
    found = digest_of(database, "2019-06-19")  # nothing was recorded yet
    assert found.sources == () and found.overdue == found.indicators_missing == found.carried_over == ()
    assert "no edition was in force: nothing is due." in " ".join(rendered.markdown(found).split())


@pytest.mark.parametrize("text", ["0", "30", "3650", "007"])
def test_within_is_a_whole_number_of_days_up_to_ten_years(text):
    assert due.parse_within(text) == int(text)


@pytest.mark.parametrize("text", ["", "-1", "3651", "1.5", "1e3", "+5", "３０", "thirty", "9" * 5000])
def test_within_refuses_anything_else(text):
    with pytest.raises(InputError, match="--within"):
        due.parse_within(text)


# The forms --------------------------------------------------------------------------------------

MARKDOWN = """\
# Follow-up digest, 2019-11-15

As of 2019-11-15T23:59:59.999999Z, for the editions in force then:
tip-2019-khm.

- 2 overdue
- 2 due by 2019-12-15
- 4 indicators with no value for 2019Q3
- 1 stale
- 1 carried over, not re-assessed

## Overdue

### Ministry of Labour and Vocational Training (molvt)

- **labor-inspections**: Increase labor inspections at brick kilns,
  fisheries and plantations
  - due 2019-11-01, 14 days ago; partially implemented

### National Committee for Counter Trafficking (ncct)

- **labor-inspections**: Increase labor inspections at brick kilns,
  fisheries and plantations
  - due 2019-11-01, 14 days ago; partially implemented

### No lead agency

- **data-sharing**: =HYPERLINK("https://example.org") Share case data
  between ministries
  - due 2019-10-15, 31 days ago; not started

## Due within 30 days, by 2019-12-15

### moi

Ministry of Interior (incl. the National Police anti-human trafficking
department)

- **undercover-techniques**: Authorize undercover investigative
  techniques
  - due 2019-12-15, in 30 days; in progress

### mosvy

Ministry of Social Affairs, Veterans and Youth Rehabilitation

- **victim-identification**: Fully implement the nationwide victim
  identification protocol
  - due today; in progress

## Indicators with no value for 2019Q3

- **convictions**: Traffickers convicted (persons)
  - for prosecute-convict; lead: moj
- **prosecutions**: Trafficking prosecutions initiated (cases)
  - for prosecute-convict; lead: moj
- **victims-identified**: Victims identified (persons)
  - for victim-identification; lead: mosvy
- **debt-bondage-cases**: Debt bondage cases identified by inspections
  (cases)
  - for labor-inspections; lead: molvt, ncct

## Stale: not assessed since 2019-04-01

- **victim-identification**: Fully implement the nationwide victim
  identification protocol
  - last assessed 2019-03-15: in progress; lead: mosvy

## Carried over, not re-assessed

- **prosecute-convict**: Prosecute and convict traffickers, including
  complicit officials
  - in progress, carried over from tip-2018-khm; lead: moj
"""


def test_markdown_reads_in_an_email_short_lines_headings_lists_no_tables(database):
    text = rendered.markdown(digest_of(database, AS_OF))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= rendered.WIDTH
    assert not any(line.startswith("|") for line in lines)
    assert [line for line in lines if line.startswith("## ")] == [
        "## Overdue",
        "## Due within 30 days, by 2019-12-15",
        "## Indicators with no value for 2019Q3",
        "## Stale: not assessed since 2019-04-01",
        "## Carried over, not re-assessed",
    ]
    assert text == MARKDOWN


@pytest.mark.parametrize("words", range(8, 16))
def test_markdown_never_starts_a_line_with_what_would_start_a_block(words):
    text = "**ref**: " + "word " * words + "- 1. = ~~~ tail"
    lines = rendered._item(text, "detail")
    assert lines[-1] == "  - detail" and " ".join(" ".join(lines[:-1]).split()) == "- " + text
    assert all(len(line) <= rendered.WIDTH for line in lines)
    assert not any(rendered._BLOCK_START.match(line.strip()) for line in lines[1:-1]), lines
    assert rendered._paragraph("1. Ministry") == ["1\\. Ministry"]
    assert rendered._paragraph("- Ministry") == ["\\- Ministry"]


def test_csv_has_one_row_per_item_by_category_and_no_formula(database):
    text = rendered.table(digest_of(database, AS_OF))
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["category"], r["ref"]) for r in rows] == [
        ("overdue", "data-sharing"),
        ("overdue", "labor-inspections"),  # once, for both its leads
        ("due_soon", "victim-identification"),
        ("due_soon", "undercover-techniques"),
        ("indicator_missing", "prosecute-convict"),
        ("indicator_missing", "prosecute-convict"),
        ("indicator_missing", "victim-identification"),
        ("indicator_missing", "labor-inspections"),
        ("stale", "victim-identification"),
        ("carried_over", "prosecute-convict"),
    ]
    labor = rows[1]
    assert (labor["lead_agencies"], labor["due_on"], labor["days_overdue"], labor["days_left"]) == (
        "molvt;ncct",
        "2019-11-01",
        "14",
        "",
    )
    assert rows[0]["title"].startswith("'=HYPERLINK(")
    assert rows[6]["indicator"] == "victims-identified" and rows[6]["quarter"] == "2019Q3"
    assert rows[8]["last_assessed_on"] == "2019-03-15" and rows[9]["carried_over_from"] == "tip-2018-khm"


def test_json_has_the_documented_keys(database):
    document = json.loads(rendered.render(digest_of(database, AS_OF, agency="molvt"), "json"))
    assert list(document) == [
        "as_of",
        "on",
        "within_days",
        "due_by",
        "agency",
        "sources",
        "overdue",
        "due_soon",
        "quarter",
        "indicators_missing",
        "stale_before",
        "stale",
        "carried_over",
    ]
    assert document["as_of"] == "2019-11-15T23:59:59.999999Z" and document["within_days"] == 30
    assert document["agency"] == {"code": "molvt", "name": "Ministry of Labour and Vocational Training"}
    assert document["overdue"] == [
        {
            "agency": {"code": "molvt", "name": "Ministry of Labour and Vocational Training"},
            "recommendations": [
                {
                    "ref": "labor-inspections",
                    "source": "tip-2019-khm",
                    "title": "Increase labor inspections at brick kilns, fisheries and plantations",
                    "status": "partially_implemented",
                    "lead_agencies": ["molvt", "ncct"],
                    "due_on": "2019-11-01",
                    "days_overdue": 14,
                    "carried_over_from": None,
                }
            ],
        }
    ]
    assert [i["code"] for i in document["indicators_missing"]] == ["debt-bondage-cases"]


# The command line -------------------------------------------------------------------------------


def test_tracker_due_prints_the_library_s_digest_in_each_form(database):
    found = digest_of(database, AS_OF, within=10, agency="mosvy")
    base = ["--db", database.url, "due", "--as-of", AS_OF, "--within", "10", "--agency", "mosvy"]
    for extra, form in (([], "md"), (["--format", "csv"], "csv"), (["--format", " MD "], "md"), (["--json"], "json")):
        result = invoke([*base, *extra])
        assert (result.exit_code, result.stderr) == (0, ""), result.output
        assert result.stdout == ("\ufeff" if form == "csv" else "") + rendered.render(found, form)  # CSV: a BOM first


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--within", "-1"], "--within"),
        (["--within", "3651"], "from 0 to 3650"),
        (["--within", "2w"], "--within"),
        (["--format", "html"], "md (the default) or csv"),
        (["--format", "csv", "--json"], "not both"),
        (["--agency", ""], "--agency is empty"),
        (["--agency", "nobody"], "unknown agency"),
        (["--as-of", "2999-01-01"], "future"),
    ],
)
def test_tracker_due_refuses_bad_input_with_one_error_line(database, args, fragment):
    result = invoke(["--db", database.url, "due", *args])
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("Error: ")
    assert fragment in result.stderr
