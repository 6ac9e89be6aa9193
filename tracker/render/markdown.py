"""Markdown: the report to read in a terminal or a code review, or to paste into a document.

Text is escaped for Markdown and for the HTML a Markdown viewer may render it to, so a
title can never become markup; a command in the wording (between backticks) stays code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tracker.clock import iso_utc
from tracker.render.text import (
    MARKINGS,
    STATUS_SHORT,
    agencies_text,
    assessed_text,
    attention_text,
    carried_text,
    change_text,
    changes_text,
    cites_text,
    corrected_mark,
    correction_text,
    due_text,
    empty_text,
    evidence_id,
    evidence_text,
    header_lines,
    history_note,
    is_shortened,
    is_web_link,
    label,
    not_ended_text,
    noted,
    number,
    overdue_text,
    quarter_header_lines,
    reliability_text,
    shortened,
    sourced,
    timeline_header_lines,
    unissued_notice,
    withheld_text,
)
from tracker.vocab import Reliability, Status

if TYPE_CHECKING:
    from tracker.reports import Header, QuarterlyReport, RecommendationSection, StatusCounts, Timeline
    from tracker.reports.compare import Assessed, AssessorLine, ComparedRecommendation
    from tracker.reports.editions import EditionsReport, EditionStatus, ThreadRow

# Markdown's and HTML's special characters, each escaped with a backslash.
_MD_SPECIAL = "\\`*_[]<>|#"
_MD_ESCAPED = str.maketrans({char: "\\" + char for char in _MD_SPECIAL})
_MD_FIND = re.compile("[" + re.escape(_MD_SPECIAL) + "]")


def _escaped(text: str) -> str:
    """``text`` with each special character escaped (looked for first: most text has none, and
    a search is quicker than a translation)."""
    return text.translate(_MD_ESCAPED) if _MD_FIND.search(text) else text


def inline(text: Any) -> str:
    """Inline Markdown text: one line, with Markdown's and HTML's special characters escaped."""
    return _escaped(" ".join(str(text).split()))


def inline_with_code(text: str) -> str:
    """Like :func:`inline`, but a part between backticks (a command) becomes inline code."""
    parts = " ".join(str(text).split()).split("`")
    return "".join(f"`{part}`" if i % 2 else _escaped(part) for i, part in enumerate(parts))


def link(url: str | None, text: str = "link") -> str:
    if not url:
        return ""
    if not is_web_link(url):
        return inline(url)
    return f"[{text}]({quote(url, safe=':/?#@!$&*+,;=%~-._')})"


def table(headers: list[str], rows: Iterable[list[str]], align: str = "") -> list[str]:
    align = align or "l" * len(headers)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return lines


def header_block(title: str, header: Header, lines: list[tuple[str, str]]) -> list[str]:
    out = [f"# {title}", ""]
    if MARKINGS[header.audience]:
        out += [f"**{inline(MARKINGS[header.audience])}**", ""]
    out += [f"- {name}: {inline(value)}" for name, value in lines]
    out.append("")
    return out


def quarterly(report: QuarterlyReport) -> str:
    """The quarterly report in Markdown."""
    q, s = report.quarter, report.summary
    out = header_block(f"Quarterly status report {q}", report.header, quarter_header_lines(report))
    notes = [not_ended_text(report)] + [unissued_notice(src, str(q), report.end) for src in report.header.unissued]
    out += [f"> {inline(note)}\n" for note in notes if note]
    if empty := empty_text(report):
        out += [f"**{inline_with_code(empty)}**", ""]

    out += ["## Summary", ""]
    previous = dict(s.previous_status_counts)
    out += table(
        ["Status", f"End of {q.previous()}", f"End of {q}"],
        [[label(status), str(previous[status]), str(count)] for status, count in s.status_counts]
        + [["total", str(sum(previous.values())), str(sum(c for _, c in s.status_counts))]],
        "lrr",
    )
    out += [
        "",
        f"- {inline(changes_text(report))}",
        f"- {inline(evidence_text(report))}",
        f"- {inline(overdue_text(report))}",
        f"- {inline(withheld_text(report))}",
        "",
    ]

    out += ["## Status changes in the quarter", ""]
    if report.changes:
        out += table(
            ["Effective", "Recommendation", "From", "To", "Note", "Evidence cited"],
            [
                [
                    c.effective_on.isoformat(),
                    inline(c.ref),
                    label(c.previous),
                    label(c.status),
                    inline(noted(c.note, c.entered)),
                    cites_text(c, inline),
                ]
                for c in report.changes
            ],
        )
    else:
        out.append(f"No status assessment took effect in {q}.")
    out.append("")

    out += ["## Needs attention", ""]
    if report.attention:
        out += [
            f"- **{inline(item.ref)}** ({inline(item.title)}): {inline(attention_text(item))}"
            for item in report.attention
        ]
    elif report.recommendations:
        out.append("Nothing: every recommendation has evidence this quarter, none is overdue and none regressed.")
    else:
        out.append("Nothing: the report covers no recommendation.")
    out.append("")

    if report.corrections:
        out += [f"## Corrections recorded in {q}", ""]
        out += [f"- {inline(correction_text(line))}" for line in report.corrections]
        out.append("")

    if report.compared is not None:
        out += compared_lines(*report.compared, "##")

    if report.recommendations:
        out += ["## Recommendations", ""]
    for position, section in enumerate(report.recommendations, 1):
        out += recommendation(report, position, section)

    out += [f"## Status at the end of each quarter, {report.history[0].quarter} to {q}", ""]
    if note := history_note(report.header, report.history):
        out += [inline(note), ""]
    out += history_table(report.history)
    return "\n".join(out).rstrip("\n") + "\n"


def recommendation(report: QuarterlyReport, position: int, section: RecommendationSection) -> list[str]:
    """One recommendation's part of the quarterly report, numbered ``position``."""
    q = report.quarter
    text_label = "verbatim" if section.text_status == "verbatim" else "paraphrase"
    out = [f"### {position}. {inline(section.ref)}: {inline(section.title)}{corrected_mark(section)}", ""]
    out += [f"> {inline(line)}" for line in section.text.splitlines() if line.strip()]
    out += [
        "",
        f"- Source: {inline(section.source)} (text {text_label})",
        f"- Pillar: {section.pillar}",
        f"- Agencies: {inline(agencies_text(section))}",
        f"- Status: {label(section.status)} at the end of {q}, {label(section.previous_status)} at the end of "
        f"{q.previous()}: {change_text(report, section)}",
        f"- Due: {inline(due_text(section))}",
    ]
    if section.status_updates:
        out.append("- Assessments in the quarter:")
        out += [
            f"  - {c.effective_on.isoformat()}, {label(c.status)}: {inline(noted(c.note, c.entered))} "
            f"(evidence cited: {cites_text(c, inline)})"
            for c in section.status_updates
        ]
    out.append("")
    if section.evidence:
        out += table(
            ["Id", "Observed", "Kind", "Title", "Reliability", "Summary", "Source", "Stance", "Link"],
            [
                [
                    evidence_id(e.id),
                    e.observed_on.isoformat(),
                    e.kind.value.replace("_", " "),
                    inline(e.title) + corrected_mark(e),
                    reliability_cell(e.reliability),
                    inline(shortened(e.summary)),
                    inline(sourced(e.source_name, e.entered)),
                    e.stance.value,
                    "; ".join(filter(None, [link(e.url)] + [f"file {inline(f.filename)}" for f in e.attachments])),
                ]
                for e in section.evidence
            ],
        )
        whole = [e for e in section.evidence if is_shortened(e.summary)]
        if whole:
            out += ["", "Summaries in full:", ""]
            out += [f"- {evidence_id(e.id)}: {inline(e.summary)}" for e in whole]
    else:
        out.append(f"No evidence observed in {q}.")
    out.append("")
    if section.indicators:
        out += table(
            ["Indicator", "Unit", str(q), str(q.previous()), "Target"],
            [
                [
                    inline(i.name) + corrected_mark(i),
                    inline(i.unit),
                    number(i.value),
                    number(i.previous_value),
                    number(i.target),
                ]
                for i in section.indicators
            ],
            "llrrr",
        )
        out.append("")
    return out


def reliability_cell(reliability: Reliability) -> str:
    """Unverified evidence in bold capitals, so that a reader cannot take it for a fact."""
    text = reliability_text(reliability)
    return f"**{text}**" if reliability == Reliability.UNVERIFIED else text


def history_table(history: tuple[StatusCounts, ...]) -> list[str]:
    return table(
        ["Quarter"] + [label(status) for status in Status] + ["total"],
        [
            [str(h.quarter)] + [str(count) for _, count in h.counts] + [str(sum(c for _, c in h.counts))]
            for h in history
        ],
        "l" + "r" * (len(Status) + 1),
    ) + [""]


def timeline(timeline: Timeline) -> str:
    """The timeline in Markdown: a matrix of short status codes, one row per recommendation."""
    out = header_block(
        f"Status timeline {timeline.first} to {timeline.last}", timeline.header, timeline_header_lines(timeline)
    )
    out += [
        f"> {inline(unissued_notice(src, str(timeline.last), timeline.last.end))}\n" for src in timeline.header.unissued
    ]
    if empty := empty_text(timeline):
        out += [f"**{inline_with_code(empty)}**", ""]
        return "\n".join(out).rstrip("\n") + "\n"
    legend = ", ".join(f"{STATUS_SHORT[s]} {label(s)}" for s in Status)
    out += [
        f"Status at the end of each quarter: {legend}; · not yet issued. "
        "A star (\\*) marks the quarters in which the status changed.",
        "",
    ]
    out += table(
        ["Recommendation"] + [str(q) for q in timeline.quarters],
        [
            [inline(row.ref)]
            + [
                "·" if cell.status is None else STATUS_SHORT[cell.status] + ("\\*" if cell.changed else "")
                for cell in row.cells
            ]
            for row in timeline.rows
        ],
    )
    out += ["", "## Recommendations", ""]
    out += [
        f"- **{inline(row.ref)}**: {inline(row.title)} ({row.pillar}); changed in "
        f"{', '.join(str(q) for q in row.changed_in) or 'no quarter of the range'}"
        for row in timeline.rows
    ]
    out += ["", "## Status counts", ""]
    if note := history_note(timeline.header, timeline.history):
        out += [inline(note), ""]
    out += history_table(timeline.history)
    return "\n".join(out).rstrip("\n") + "\n"


# The editions report, and its wording (the HTML page says the same: tracker.render.html) ------

CARRIED_MARK = "+"  # after a status carried over from an earlier edition, not yet re-assessed
HIGHLIGHT_MARK = "!"


def _count(how_many: int, one: str, many: str) -> str:
    return f"{how_many} {one if how_many == 1 else many}"


def editions_header_lines(report: EditionsReport) -> list[tuple[str, str]]:
    """Every report's header, its Editions line saying which series, and the days its statuses are on."""
    if report.selected is None:
        which = "every edition of every series published by the as-of date (--series selects one)"
    else:
        which = f"every edition of the series {', '.join(report.series)} published by the as-of date"
    statuses = (
        "Statuses",
        f"now: on {report.on.isoformat()}, the as-of date; in an edition: on its last day as the thread's "
        "latest edition (the day before the next was published)",
    )
    return [
        ("Editions", which) if name == "Editions" else (name, value)
        for name, value in header_lines(report.header, statuses)
    ]


def editions_intro(report: EditionsReport) -> str:
    return (
        "One row per thread: a recommendation and those that continue it in later editions, named after its "
        f"latest recommendation. {HIGHLIGHT_MARK} marks a thread repeated in {report.highlight_after} or more "
        "later editions and not implemented now."
    )


def editions_legend() -> str:
    codes = ", ".join(f"{STATUS_SHORT[s]} {label(s)}" for s in Status)
    return (
        f"Status of each edition, on its last day as the thread's latest: {codes}; · not in that edition; "
        f"{CARRIED_MARK} carried over from an earlier edition, not yet re-assessed."
    )


def series_heading(report: EditionsReport, name: str) -> str:
    editions, rows = next(s.editions for s in report.series_editions if s.name == name), report.threads_of(name)
    highlighted = sum(1 for row in rows if row.highlighted)
    return (
        f"Series {name}: {_count(len(editions), 'edition', 'editions')}, {_count(len(rows), 'thread', 'threads')}, "
        f"{highlighted} highlighted"
    )


def series_empty_text(name: str) -> str:
    return f"No thread ends in an edition of {name}."


def edition_cell(found: EditionStatus | None) -> str:
    """A thread's cell in an edition's column: its short status code, · when not in that edition."""
    if found is None:
        return "·"
    return STATUS_SHORT[found.status] + (CARRIED_MARK if found.carried_over_from else "")


def edition_cell_title(source: str, found: EditionStatus | None) -> str:
    if found is None:
        return f"{source}: not in this edition"
    carried = f"; {carried_text(found.carried_over_from)}" if found.carried_over_from else ""
    return f"{source}: {label(found.status)} on {found.on.isoformat()}{carried}"


def status_now_text(row: ThreadRow) -> str:
    return label(row.status) + (f" ({carried_text(row.carried_over_from)})" if row.carried_over_from else "")


def thread_text(row: ThreadRow) -> str:
    """What a thread's entry says after its ref and title."""
    repeated = "never repeated" if not row.repeated else f"repeated {_count(row.repeated, 'time', 'times')}"
    missed = (
        f"not implemented in {', '.join(row.not_implemented_in)}"
        if row.not_implemented_in
        else "implemented in every edition"
    )
    return (
        f"first recommended in {row.first_source} (published {row.first_published_on.isoformat()}); in "
        f"{_count(len(row.editions), 'edition', 'editions')} ({', '.join(row.editions)}), {repeated}; status now "
        f"{status_now_text(row)}; {missed}."
    )


def editions_empty_text(report: EditionsReport) -> str | None:
    """What to say when the report has no thread at all (only what was true at the as-of instant)."""
    if report.threads:
        return None
    if not report.series:
        return (
            f"Nothing to report: no source had been recorded by {iso_utc(report.header.as_of)}. `--as-of` keeps only "
            "what had been recorded by that instant, so a catalog loaded later is left out: give a later `--as-of`, "
            "or none. If no catalog is loaded yet, load one with `tracker catalog load`."
        )
    names = ", ".join(report.series)
    if not report.header.sources:
        return f"Nothing to report: no edition of {names} had been published by {report.on.isoformat()}."
    return f"The editions of {names} have no recommendations: there is nothing to report."


def editions(report: EditionsReport) -> str:
    """The editions report in Markdown: per series, a matrix of threads by edition, then each thread."""
    out = header_block("Recommendations across editions", report.header, editions_header_lines(report))
    if empty := editions_empty_text(report):
        out += [f"**{inline_with_code(empty)}**", ""]
        return "\n".join(out).rstrip("\n") + "\n"
    out += [inline(editions_intro(report)), ""]
    for series in report.series_editions:
        rows = report.threads_of(series.name)
        out += [f"## {inline(series_heading(report, series.name))}", ""]
        if not rows:
            out += [inline(series_empty_text(series.name)), ""]
            continue
        out += [inline(editions_legend()), ""]
        out += table(
            ["Thread"] + [inline(source.slug) for source in series.editions] + ["Status now"],
            [
                [f"**{HIGHLIGHT_MARK} {inline(row.ref)}**" if row.highlighted else inline(row.ref)]
                + [edition_cell(row.status_in(source.slug)) for source in series.editions]
                + [label(row.status) + (f" {CARRIED_MARK}" if row.carried_over_from else "")]
                for row in rows
            ],
        )
        out.append("")
        out += [
            f"- {f'**{HIGHLIGHT_MARK}** ' if row.highlighted else ''}**{inline(row.ref)}**: {inline(row.title)}; "
            f"{inline(thread_text(row))}"
            for row in rows
        ]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# Assessments compared ------------------------------------------------------------------------


def _assessed_status(item: Assessed) -> str:
    return "not assessed" if item.status is None else label(item.status)


def _assessor_who(line: AssessorLine) -> str:
    return f"{line.name} ({line.code})" + (", the default" if line.default else "")


def compared_lines(lines: tuple[AssessorLine, ...], rows: tuple[ComparedRecommendation, ...], level: str) -> list[str]:
    """The comparison as Markdown: a table of every recommendation, then the differences."""
    out = [f"{level} Assessments compared", ""]
    out += [f"- {inline(_assessor_who(line))}" for line in lines]
    out.append("")
    out += table(
        ["Recommendation", *(line.code for line in lines), "Gap"],
        [[inline(row.ref), *(_assessed_status(item) for item in row.assessed), str(row.gap)] for row in rows],
        "l" * (len(lines) + 1) + "r",
    )
    out.append("")
    differing = [row for row in rows if row.differs]
    out += [f"{level}# Where they differ", ""]
    if not differing:
        out += ["The assessors agree on every recommendation they have both assessed.", ""]
    for row in differing:
        out += [f"- **{inline(row.ref)}**: {inline(row.title)} (gap {row.gap})"]
        out += [f"  - {assessed_text(item, inline)}" for item in row.assessed]
        out.append("")
    return out
