"""What makes evidence credible, in every format of the quarterly report.

Per piece of evidence: its id, reliability (unverified marked so that it cannot be
missed), summary (shortened in tables, whole under them), source and link. Per
assessment: the evidence it cites, by id and title, and a count of what the audience
may not see ("1 item withheld"), never its title. Golden files for every format at the
internal and the public audience, on both backends.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from test_reports import ACTOR, at, evidence, golden, library_quarterly, write

from tracker import render, services

from conftest import template

LONG = (
    "The Ministry of Interior signed the prakas that authorises undercover investigations for trafficking "
    "cases; it names the units allowed to use them, requires a prosecutor's written order and a report to the "
    "court within thirty days, and enters into force on signature."
)


def _fill(database, _folder) -> None:
    url = database.url
    prakas = evidence(
        url,
        at("2019-08-16"),
        recs=["undercover-techniques"],
        title="Prakas on undercover investigations signed",
        day="2019-08-14",
        kind="regulation",
        sensitivity="public",
        summary=LONG,
        source_name="Ministry of Interior",
        reliability="confirmed",
        url_="https://example.org/prakas",
    )
    rumour = evidence(
        url,
        at("2019-08-17"),
        recs=["undercover-techniques"],
        title="Officers said to be trained already",
        day="2019-08-15",
        kind="media_report",
        summary="One unnamed source.",
        source_name="Social media",
        reliability="unverified",
    )
    interview = evidence(
        url,
        at("2019-08-18"),
        recs=["undercover-techniques"],
        title="Interview with an investigator",
        day="2019-08-16",
        kind="field_observation",
        sensitivity="confidential",
        source_name="Field team",
    )
    write(
        url,
        at("2019-08-20"),
        lambda s: services.set_status(
            s,
            "undercover-techniques",
            "partially_implemented",
            effective_on="2019-08-19",
            note="Prakas signed; training not confirmed.",
            evidence_ids=[prakas, rumour, interview],
            actor=ACTOR,
        ),
    )
    write(
        url,
        at("2019-08-21"),
        lambda s: services.set_status(
            s, "prosecute-convict", "in_progress", effective_on="2019-08-20", note="No evidence cited.", actor=ACTOR
        ),
    )


DATASET = template("credibility-2019", _fill)


@pytest.fixture
def url(make_url_for) -> str:
    return make_url_for(DATASET)


def _report(url: str, audience: str):
    return library_quarterly(url, "2019Q3", audience=audience, sources=["tip-2019-khm"])


@pytest.mark.parametrize("audience", ["internal", "public"])
@pytest.mark.parametrize("fmt", ["md", "html", "json", "csv"])
def test_credibility_matches_golden(url, fmt, audience):
    golden(f"credibility-2019Q3-{audience}.{fmt}", render.render(_report(url, audience), fmt))


def test_every_format_shows_ids_reliability_summaries_and_citations(url):
    report = _report(url, "internal")
    md, page = render.render(report, "md"), render.render(report, "html")
    document = json.loads(render.render(report, "json"))
    rec = next(r for r in document["recommendations"] if r["code"] == "undercover-techniques")
    by_title = {e["title"]: e for e in rec["evidence"]}
    prakas, rumour = (
        by_title["Prakas on undercover investigations signed"],
        by_title["Officers said to be trained already"],
    )
    assert "Interview with an investigator" not in by_title  # confidential, above the internal audience
    assert (prakas["reliability"], rumour["reliability"]) == ("confirmed", "unverified")
    assert prakas["summary"] == LONG and prakas["source_name"] == "Ministry of Interior"
    # Ids printed, so that a reader can look each piece up (`tracker evidence show ID`).
    for item in (prakas, rumour):
        assert f"| #{item['id']} |" in md
        assert f">#{item['id']}<" in page
    # Unverified, visibly: bold capitals in Markdown, a marked badge in HTML.
    assert "| **UNVERIFIED** |" in md
    assert '<span class="unverified">UNVERIFIED</span>' in page
    # The summary is shortened in the table, whole under it.
    assert LONG not in md.split("Summaries in full:")[0]
    assert "…" in md.split("Summaries in full:")[0]
    assert f"- #{prakas['id']}: {LONG}" in md
    assert LONG.replace("'", "&#39;") in page
    # The assessment cites the three: two by id and title, the confidential one counted.
    (citing,) = [c for c in rec["status_updates"] if c["note"].startswith("Prakas signed")]
    assert [c["id"] for c in citing["cites"]] == [prakas["id"], rumour["id"]]
    assert citing["cites_withheld"] == 1
    assert f"#{rumour['id']} Officers said to be trained already (unverified); 1 item withheld" in md
    assert "Interview with an investigator" not in md + page
    (plain,) = [
        c for r in document["recommendations"] for c in r["status_updates"] if c["note"] == "No evidence cited."
    ]
    assert plain["cites"] == [] and plain["cites_withheld"] == 0
    rows = {row["ref"]: row for row in csv.DictReader(io.StringIO(render.render(report, "csv").lstrip("\ufeff")))}
    assert rows["undercover-techniques"]["unverified_evidence_ids"] == str(rumour["id"])
    assert rows["undercover-techniques"]["cited_evidence_ids"] == f"{prakas['id']};{rumour['id']}"
    assert rows["undercover-techniques"]["cited_withheld"] == "1"


def test_a_citation_above_the_audience_is_counted_never_named(url):
    report = _report(url, "public")
    outputs = {fmt: render.render(report, fmt) for fmt in ("md", "html", "json", "csv")}
    for fmt, output in outputs.items():
        for hidden in ("Officers said to be trained already", "Interview with an investigator", "One unnamed source"):
            assert hidden not in output, f"{hidden!r} leaked into the public {fmt}"
    assert "2 items withheld" in outputs["md"] and "2 items withheld" in outputs["html"]
    document = json.loads(outputs["json"])
    (citing,) = [c for r in document["recommendations"] for c in r["status_updates"] if c["note"].startswith("Prakas")]
    assert [c["title"] for c in citing["cites"]] == ["Prakas on undercover investigations signed"]
    assert citing["cites_withheld"] == 2
    rows = {row["ref"]: row for row in csv.DictReader(io.StringIO(outputs["csv"].lstrip("\ufeff")))}
    assert rows["undercover-techniques"]["cited_withheld"] == "2"
    assert rows["undercover-techniques"]["unverified_evidence_ids"] == ""
