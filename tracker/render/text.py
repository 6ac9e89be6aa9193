"""The words and figures every format shares, so that each says the same thing the same way.

Status labels and short codes, numbers as people write them, periods, the header every
report opens with, and the sentences of the summary and the attention list. Markdown,
HTML and the charts take their text from here; JSON and CSV write values, not text.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TYPE_CHECKING

from tracker.clock import iso_utc
from tracker.vocab import Reliability, Sensitivity, Status

if TYPE_CHECKING:
    from collections.abc import Callable

    from typing_extensions import TypeIs

    from tracker.reports import (
        AttentionItem,
        CitedEvidence,
        EnteredFor,
        Header,
        QuarterlyReport,
        RecommendationSection,
        SourceInfo,
        StatusChange,
        StatusCounts,
        Timeline,
    )
    from tracker.reports.compare import Assessed

STATUS_LABELS = {
    Status.NOT_STARTED: "not started",
    Status.IN_PROGRESS: "in progress",
    Status.PARTIALLY_IMPLEMENTED: "partially implemented",
    Status.IMPLEMENTED: "implemented",
}
STATUS_SHORT = {
    Status.NOT_STARTED: "NS",
    Status.IN_PROGRESS: "IP",
    Status.PARTIALLY_IMPLEMENTED: "PI",
    Status.IMPLEMENTED: "IM",
}
MARKINGS = {
    Sensitivity.PUBLIC: None,
    Sensitivity.INTERNAL: "INTERNAL: not for publication.",
    Sensitivity.CONFIDENTIAL: "CONFIDENTIAL: not for publication. It may contain victims' data: "
    "share it only with people cleared to see confidential evidence.",
}


def label(status: Status | None) -> str:
    return "not yet issued" if status is None else STATUS_LABELS[status]


def number(value: float | int | None, missing: str = "—") -> str:
    """A value as people write it: 12 for 12.0, 0.25 as is, a dash when missing."""
    if value is None:
        return missing
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def last_day(end: date) -> date:
    return end - timedelta(days=1)


def period_text(start: date, end: date) -> str:
    return f"{start.isoformat()} to {last_day(end).isoformat()}"


def source_line(source: SourceInfo) -> str:
    details = [source.publisher, f"published {source.published_on.isoformat()}"]
    if source.rating:
        details.append(source.rating)
    return f"{source.slug}: {source.title} ({'; '.join(details)})"


def unissued_notice(source: SourceInfo, period_name: str, period_end: date) -> str:
    return (
        f"{source.slug} was published on {source.published_on.isoformat()}, after {period_name} ended "
        f"({last_day(period_end).isoformat()}): its recommendations had not been issued yet, so this "
        "report has nothing to assess for it."
    )


def is_quarterly(report: QuarterlyReport | Timeline) -> TypeIs[QuarterlyReport]:
    """Whether ``report`` is a quarterly report rather than a timeline, by its kind (the
    renderers know the report types from annotations only: reports are a layer above)."""
    return report.kind == "quarterly"


def withheld_text(report: QuarterlyReport) -> str:
    audience = report.header.audience.value
    if report.withheld is None:
        return (
            f"Evidence withheld from this {audience} report is not counted: the database user who made it "
            "may read only part of the evidence, so neither the items above the audience nor the citations "
            "of them are known to it (a tracker_confidential login's report counts them)."
        )
    if not report.withheld:
        return f"No evidence was withheld from this {audience} report."
    items = "item" if report.withheld == 1 else "items"
    return (
        f"{report.withheld} {items} of evidence observed in the quarter {'was' if report.withheld == 1 else 'were'} "
        f"withheld from this {audience} report: {'its' if report.withheld == 1 else 'their'} sensitivity is above "
        f"{audience}."
    )


def evidence_text(report: QuarterlyReport) -> str:
    summary = report.summary
    if not summary.evidence_count:
        return "No evidence observed in this quarter has been recorded" + (
            " that this audience may see." if report.withheld != 0 else "."
        )
    kinds = ", ".join(f"{kind.value.replace('_', ' ')} {count}" for kind, count in summary.evidence_by_kind)
    stances = ", ".join(f"{stance.value} {count}" for stance, count in summary.evidence_by_stance)
    items = "item" if summary.evidence_count == 1 else "items"
    return (
        f"{summary.evidence_count} {items} of evidence observed in the quarter (by kind: {kinds}); "
        f"by stance, per recommendation it bears on: {stances}."
    )


def changes_text(report: QuarterlyReport) -> str:
    s = report.summary
    text = (
        f"Between the end of {report.quarter.previous()} and the end of {report.quarter}: "
        f"{s.advanced} advanced, {s.regressed} regressed, {s.unchanged} unchanged"
    )
    if not s.issued_in_quarter:
        return text + "."
    which = "recommendation" if s.issued_in_quarter == 1 else "recommendations"
    counts = f"count{'s' if s.issued_in_quarter == 1 else ''} from"
    start = f"not started, {'its' if s.issued_in_quarter == 1 else 'their'} status when issued"
    if any(r.previous_status is None and r.carried_over_from for r in report.recommendations):
        start = f"the status carried over from an earlier edition where there is one, else from {start}"
    return f"{text}; the {s.issued_in_quarter} {which} issued in {report.quarter} {counts} {start}."


def change_text(report: QuarterlyReport, section: RecommendationSection) -> str:
    """The change since the previous quarter, or since it was issued when that was during the quarter."""
    text = section.change.value
    if section.previous_status is None:
        text = f"{section.change.value} since it was issued in {report.quarter}"
    if section.carried_over_from:
        text += f"; {carried_text(section.carried_over_from)}"
    return text


def carried_text(source: str) -> str:
    return f"status carried over from {source}, not yet re-assessed"


def overdue_text(report: QuarterlyReport) -> str:
    overdue = report.summary.overdue
    if not overdue:
        return "No recommendation was overdue at the end of the quarter."
    return f"Overdue at the end of the quarter: {len(overdue)} ({', '.join(overdue)})."


def not_ended_text(report: QuarterlyReport) -> str | None:
    if report.ended:
        return None
    return (
        f"As of {iso_utc(report.header.as_of)}, {report.quarter} had not ended: the statuses shown are "
        "those known then, and later records may change them."
    )


def empty_text(report: QuarterlyReport | Timeline) -> str | None:
    """What to say when the report covers no recommendation at all.

    Commands are quoted with backticks (code in Markdown and HTML). It says only what
    was true at the as-of instant, so that it reads the same however much is recorded
    later.
    """
    has_rows = report.recommendations if is_quarterly(report) else report.rows
    if has_rows:
        return None
    header = report.header
    if not header.sources:
        as_of = iso_utc(header.as_of)
        rule = (
            "`--as-of` keeps only what had been recorded by that instant, whatever period it is about, so a "
            "catalog loaded later is left out: give a later `--as-of`, or none."
        )
        if header.selected:
            names = ", ".join(header.selected)
            return f"Nothing to report: {names} had not been recorded by {as_of}. {rule}"
        return (
            f"Nothing to report: no source had been recorded by {as_of}. {rule} "
            "If no catalog is loaded yet, load one with `tracker catalog load`."
        )
    if report.header.unissued and len(report.header.unissued) == len(report.header.sources):
        return "None of the selected sources had been published by the end of the period: there is nothing to report."
    return "The selected sources have no recommendations: there is nothing to report."


def is_web_link(url: str | None) -> bool:
    """Whether ``url`` is an http(s) address, the only kind a report makes clickable."""
    return url is not None and re.match(r"^https?://[^\s]+$", url, re.IGNORECASE) is not None


def header_lines(header: Header, period: tuple[str, str], in_force: str = "") -> list[tuple[str, str]]:
    """The header every format prints: sources (and why these), the period and its dates,
    as-of, audience, fingerprint, version."""
    why = "selected with --source" if header.basis == "selected" else f"the edition in force in each series {in_force}"
    return [
        ("Sources", "; ".join(source_line(s) for s in header.sources) or "none recorded as of this instant"),
        ("Editions", why),
        period,
        ("As of", iso_utc(header.as_of)),
        ("Audience", header.audience.value),
        ("Fingerprint", header.fingerprint or "none: nothing had been recorded as of this instant"),
        ("Tracker", f"version {header.version}"),
    ]


def quarter_header_lines(report: QuarterlyReport) -> list[tuple[str, str]]:
    return header_lines(
        report.header,
        ("Quarter", f"{report.quarter}, {period_text(report.start, report.end)}"),
        "at the end of the quarter (--source selects others)",
    )


def timeline_header_lines(timeline: Timeline) -> list[tuple[str, str]]:
    quarters = f"{timeline.first} to {timeline.last}, {period_text(timeline.first.start, timeline.last.end)}"
    if timeline.cut_from is not None:
        quarters += (
            f"; the last {len(timeline.quarters)} quarters of {timeline.cut_from} to {timeline.last} "
            f"(--from {timeline.cut_from} shows them all)"
        )
    return header_lines(
        timeline.header,
        ("Quarters", quarters),
        "quarter by quarter: a recommendation's status is shown for the quarters its edition is in force "
        "(--source selects others)",
    )


def attention_text(item: AttentionItem) -> str:
    reasons = []
    if item.regressed_from is not None:
        reasons.append(f"regressed from {label(item.regressed_from)} to {label(item.status)}")
    if item.overdue_since is not None:
        reasons.append(f"overdue (due {item.overdue_since.isoformat()})")
    if item.no_evidence:
        reasons.append("no evidence this quarter")
    if item.carried_over_from:
        reasons.append(carried_text(item.carried_over_from))
    reasons += item.findings  # "rule: message", from tracker lint (internal and confidential reports)
    return "; ".join(reasons)


def history_note(header: Header, history: tuple[StatusCounts, ...]) -> str | None:
    if history and any(source.published_on >= history[0].quarter.end for source in header.sources):
        return "Quarters that ended before a source was published do not count its recommendations."
    return None


def agencies_text(section: RecommendationSection) -> str:
    return ", ".join(f"{a.name} ({a.code}, {a.role})" for a in section.agencies) or "none assigned"


def due_text(section: RecommendationSection) -> str:
    if section.due_on is None:
        return "no due date"
    return section.due_on.isoformat() + (", overdue" if section.overdue else "")


def corrected_mark(item) -> str:
    """' (corrected)' after an item a correction changed (internal and confidential reports)."""
    return " (corrected)" if getattr(item, "corrected", False) else ""


def correction_text(line) -> str:
    """One correction of the quarter: what, old -> new, why, who and when."""
    changes = "; ".join(f"{c.field} {c.old} -> {c.new}" for c in line.changes)
    return f"{line.record}: {changes}. Why: {line.reason} ({line.recorded_by}, {line.recorded_at:%Y-%m-%d})"


# What makes evidence credible -------------------------------------------------------------

SUMMARY_IN_TABLES = 120  # characters of a summary shown in a table cell; the whole text follows the table
UNVERIFIED_MARK = "UNVERIFIED"


def evidence_id(evidence_id: int) -> str:
    """How every format names a piece of evidence, as `tracker evidence show ID` takes it."""
    return f"#{evidence_id}"


def reliability_text(reliability: Reliability) -> str:
    """Confirmed and credible as they are; unverified in capitals, so that it cannot be missed."""
    return UNVERIFIED_MARK if reliability == Reliability.UNVERIFIED else reliability.value


def shortened(text: str | None, limit: int = SUMMARY_IN_TABLES) -> str:
    """``text`` on one line, cut at a word boundary before ``limit`` characters with an ellipsis."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.") + "…"


def is_shortened(text: str | None, limit: int = SUMMARY_IN_TABLES) -> bool:
    return len(" ".join((text or "").split())) > limit


def cited_item_text(item: CitedEvidence, escape: Callable[[str], str] = str) -> str:
    """One cited piece of evidence: its id and title (through ``escape``, the format's escaping
    of text), marked when unverified or retracted."""
    marks = [UNVERIFIED_MARK.lower()] if item.reliability == Reliability.UNVERIFIED else []
    if item.retracted:
        marks.append("retracted")
    return f"{evidence_id(item.id)} {escape(item.title)}" + (f" ({', '.join(marks)})" if marks else "")


def entered_text(entered: EnteredFor | None) -> str:
    """Who recorded an entry on which agency's behalf (--for): "entered by ncct for molvt"; "" for none."""
    return "" if entered is None else f"entered by {entered.by} for {entered.agency}"


def noted(note: str, entered: EnteredFor | None) -> str:
    """A note, then on whose behalf it was entered, if it was."""
    return note if entered is None else f"{note} ({entered_text(entered)})"


def sourced(source_name: str | None, entered: EnteredFor | None) -> str:
    """Evidence's source, then on whose behalf it was entered, if it was."""
    if entered is None:
        return source_name or ""
    return f"{source_name}; {entered_text(entered)}" if source_name else entered_text(entered)


def withheld_citations_text(count: int) -> str:
    return f"{count} item{'s' if count != 1 else ''} withheld"


def cites_text(change: StatusChange, escape: Callable[[str], str] = str) -> str:
    """The evidence an assessment cites, as the audience may see it: ids and titles, and how
    many citations are of evidence above the audience (never their titles)."""
    parts = [cited_item_text(item, escape) for item in change.cites]
    if change.cites_withheld:
        parts.append(withheld_citations_text(change.cites_withheld))
    return "; ".join(parts) or "none"


def compared_cites_text(cites: tuple[CitedEvidence, ...], withheld: int | None) -> str:
    """The evidence an assessment compared cites, as the audience may see it: ids and titles, then
    how many are withheld."""
    parts = [f"#{c.id} {c.title}" + (" (retracted)" if c.retracted else "") for c in cites]
    if withheld:
        parts.append(f"{withheld} item{'s' if withheld != 1 else ''} withheld")
    return "; ".join(parts)


def assessed_text(item: Assessed, escape: Callable[[str], str] = str) -> str:
    """One assessor's side of a difference: its status, since when, its note and what it cites."""
    if item.status is None:
        return f"{escape(item.assessor)}: not assessed"
    said = f"{escape(item.assessor)}: {label(item.status)} from {item.effective_on}: {escape(item.note or '')}"
    if cites := compared_cites_text(item.cites, item.cites_withheld):
        said += f" (cites {escape(cites)})"
    return said
