"""Markdown: the report to read in a terminal or a code review, or to paste into a document.

Text is escaped for Markdown and for the HTML a Markdown viewer may render it to, so a
title can never become markup; a command in the wording (between backticks) stays code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tracker.render.text import (
    MARKINGS,
    STATUS_SHORT,
    agencies_text,
    attention_text,
    change_text,
    changes_text,
    corrected_mark,
    correction_text,
    due_text,
    empty_text,
    evidence_text,
    history_note,
    is_web_link,
    label,
    not_ended_text,
    number,
    overdue_text,
    quarter_header_lines,
    timeline_header_lines,
    unissued_notice,
    withheld_text,
)
from tracker.vocab import Status

if TYPE_CHECKING:
    from tracker.reports import Header, QuarterlyReport, RecommendationSection, StatusCounts, Timeline

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def inline(text: Any) -> str:
    """Inline Markdown text: one line, with Markdown's and HTML's special characters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def inline_with_code(text: str) -> str:
    """Like :func:`inline`, but a part between backticks (a command) becomes inline code."""
    parts = " ".join(str(text).split()).split("`")
    return "".join(f"`{part}`" if i % 2 else _MD_SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts))


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
            ["Effective", "Recommendation", "From", "To", "Note"],
            [
                [c.effective_on.isoformat(), inline(c.ref), label(c.previous), label(c.status), inline(c.note)]
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
            f"  - {c.effective_on.isoformat()}, {label(c.status)}: {inline(c.note)}" for c in section.status_updates
        ]
    out.append("")
    if section.evidence:
        out += table(
            ["Observed", "Kind", "Title", "Source", "Stance", "Link"],
            [
                [
                    e.observed_on.isoformat(),
                    e.kind.value.replace("_", " "),
                    inline(e.title) + corrected_mark(e),
                    inline(e.source_name or ""),
                    e.stance.value,
                    "; ".join(filter(None, [link(e.url)] + [f"file {inline(f.filename)}" for f in e.attachments])),
                ]
                for e in section.evidence
            ],
        )
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
