"""Render a report (see :mod:`tracker.reports`) as Markdown, HTML, JSON or CSV.

Each format renders the same structure and adds nothing to it: what the audience may
not see was left out when the report was built. Output depends only on the report, so
the same report renders to the same bytes every time. Jinja2 and matplotlib are
imported only by the functions that render HTML.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from tracker.clock import iso_utc
from tracker.errors import InputError
from tracker.reports import (
    Header,
    QuarterlyReport,
    RecommendationSection,
    StatusCounts,
    Timeline,
)
from tracker.vocab import Sensitivity, Status

FORMATS = ("md", "html", "json", "csv")

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
STATUS_COLOURS = {
    Status.NOT_STARTED: "#b8b8b8",
    Status.IN_PROGRESS: "#e9a23b",
    Status.PARTIALLY_IMPLEMENTED: "#4a90c2",
    Status.IMPLEMENTED: "#3c9a5f",
}
MARKINGS = {
    Sensitivity.PUBLIC: None,
    Sensitivity.INTERNAL: "INTERNAL: not for publication.",
    Sensitivity.CONFIDENTIAL: "CONFIDENTIAL: not for publication. It may contain victims' data: "
    "share it only with people cleared to see confidential evidence.",
}


def check_format(value: str) -> str:
    """The format named on the command line, or an error that lists the choices."""
    name = (value or "").strip().lower()
    if name not in FORMATS:
        raise InputError(f"unknown --format {value!r}: use md, html, json or csv")
    return name


def render(report: QuarterlyReport | Timeline, fmt: str) -> str:
    """``report`` in format ``fmt`` (one of :data:`FORMATS`)."""
    fmt = check_format(fmt)
    if isinstance(report, QuarterlyReport):
        renderers: dict[str, Callable[[Any], str]] = {
            "md": quarterly_md, "html": quarterly_html, "json": quarterly_json, "csv": quarterly_csv,
        }
    else:
        renderers = {"md": timeline_md, "html": timeline_html, "json": timeline_json, "csv": timeline_csv}
    return renderers[fmt](report)


# Shared wording -------------------------------------------------------------------------------


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


def source_line(source) -> str:
    details = [source.publisher, f"published {source.published_on.isoformat()}"]
    if source.rating:
        details.append(source.rating)
    return f"{source.slug}: {source.title} ({'; '.join(details)})"


def unissued_notice(source, period_name: str, period_end: date) -> str:
    return (
        f"{source.slug} was published on {source.published_on.isoformat()}, after {period_name} ended "
        f"({last_day(period_end).isoformat()}): its recommendations had not been issued yet, so this "
        "report has nothing to assess for it."
    )


def withheld_text(report: QuarterlyReport) -> str:
    audience = report.header.audience.value
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
            " that this audience may see." if report.withheld else "."
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
    return (
        f"{text}; the {s.issued_in_quarter} {which} issued in {report.quarter} "
        f"count{'s' if s.issued_in_quarter == 1 else ''} from not started, "
        f"{'its' if s.issued_in_quarter == 1 else 'their'} status when issued."
    )


def change_text(report: QuarterlyReport, section: RecommendationSection) -> str:
    """The change since the previous quarter, or since it was issued when that was during the quarter."""
    if section.previous_status is None:
        return f"{section.change.value} since it was issued in {report.quarter}"
    return section.change.value


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
    has_rows = report.recommendations if isinstance(report, QuarterlyReport) else report.rows
    if has_rows:
        return None
    header = report.header
    if not header.sources:
        as_of = iso_utc(header.as_of)
        rule = ("`--as-of` keeps only what had been recorded by that instant, whatever period it is about, so a "
                "catalog loaded later is left out: give a later `--as-of`, or none.")
        if header.selected:
            names = ", ".join(header.selected)
            return f"Nothing to report: {names} had not been recorded by {as_of}. {rule}"
        return (f"Nothing to report: no source had been recorded by {as_of}. {rule} "
                "If no catalog is loaded yet, load one with `tracker catalog load`.")
    if report.header.unissued and len(report.header.unissued) == len(report.header.sources):
        return "None of the selected sources had been published by the end of the period: there is nothing to report."
    return "The selected sources have no recommendations: there is nothing to report."


def is_web_link(url: str | None) -> bool:
    return bool(url) and re.match(r"^https?://[^\s]+$", url, re.IGNORECASE) is not None


def header_lines(header: Header, period: tuple[str, str]) -> list[tuple[str, str]]:
    """The header every format prints: sources, the period and its dates, as-of, audience, fingerprint, version."""
    return [
        ("Sources", "; ".join(source_line(s) for s in header.sources) or "none recorded as of this instant"),
        period,
        ("As of", iso_utc(header.as_of)),
        ("Audience", header.audience.value),
        ("Fingerprint", header.fingerprint or "none: nothing had been recorded as of this instant"),
        ("Tracker", f"version {header.version}"),
    ]


def quarter_header_lines(report: QuarterlyReport) -> list[tuple[str, str]]:
    return header_lines(report.header, ("Quarter", f"{report.quarter}, {period_text(report.start, report.end)}"))


def timeline_header_lines(timeline: Timeline) -> list[tuple[str, str]]:
    return header_lines(timeline.header, ("Quarters", f"{timeline.first} to {timeline.last}, "
                                                      f"{period_text(timeline.first.start, timeline.last.end)}"))


def attention_text(item) -> str:
    reasons = []
    if item.regressed_from is not None:
        reasons.append(f"regressed from {label(item.regressed_from)} to {label(item.status)}")
    if item.overdue_since is not None:
        reasons.append(f"overdue (due {item.overdue_since.isoformat()})")
    if item.no_evidence:
        reasons.append("no evidence this quarter")
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


# Markdown ---------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md(text: Any) -> str:
    """Inline Markdown text: one line, with Markdown's and HTML's special characters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def md_text(text: str) -> str:
    """Like :func:`md`, but a part between backticks (a command) becomes inline code."""
    parts = " ".join(str(text).split()).split("`")
    return "".join(f"`{part}`" if i % 2 else _MD_SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts))


def md_link(url: str | None, text: str = "link") -> str:
    if not url:
        return ""
    if not is_web_link(url):
        return md(url)
    return f"[{text}]({quote(url, safe=':/?#@!$&*+,;=%~-._')})"


def md_table(headers: list[str], rows: Iterable[list[str]], align: str = "") -> list[str]:
    align = align or "l" * len(headers)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return lines


def md_header(title: str, header: Header, lines: list[tuple[str, str]]) -> list[str]:
    out = [f"# {title}", ""]
    if MARKINGS[header.audience]:
        out += [f"**{md(MARKINGS[header.audience])}**", ""]
    out += [f"- {name}: {md(value)}" for name, value in lines]
    out.append("")
    return out


def quarterly_md(report: QuarterlyReport) -> str:
    q, s = report.quarter, report.summary
    out = md_header(f"Quarterly status report {q}", report.header, quarter_header_lines(report))
    notes = [not_ended_text(report)] + [unissued_notice(src, str(q), report.end) for src in report.header.unissued]
    out += [f"> {md(note)}\n" for note in notes if note]
    if empty := empty_text(report):
        out += [f"**{md_text(empty)}**", ""]

    out += ["## Summary", ""]
    previous = dict(s.previous_status_counts)
    out += md_table(
        ["Status", f"End of {q.previous()}", f"End of {q}"],
        [[label(status), str(previous[status]), str(count)] for status, count in s.status_counts]
        + [["total", str(sum(previous.values())), str(sum(c for _, c in s.status_counts))]],
        "lrr",
    )
    out += ["", f"- {md(changes_text(report))}", f"- {md(evidence_text(report))}",
            f"- {md(overdue_text(report))}", f"- {md(withheld_text(report))}", ""]

    out += ["## Status changes in the quarter", ""]
    if report.changes:
        out += md_table(
            ["Effective", "Recommendation", "From", "To", "Note"],
            [[c.effective_on.isoformat(), md(c.ref), label(c.previous), label(c.status), md(c.note)]
             for c in report.changes],
        )
    else:
        out.append(f"No status assessment took effect in {q}.")
    out.append("")

    out += ["## Needs attention", ""]
    if report.attention:
        out += [f"- **{md(item.ref)}** ({md(item.title)}): {md(attention_text(item))}" for item in report.attention]
    elif report.recommendations:
        out.append("Nothing: every recommendation has evidence this quarter, none is overdue and none regressed.")
    else:
        out.append("Nothing: the report covers no recommendation.")
    out.append("")

    if report.recommendations:
        out += ["## Recommendations", ""]
    for number_, section in enumerate(report.recommendations, 1):
        out += quarterly_md_section(report, number_, section)

    out += [f"## Status at the end of each quarter, {report.history[0].quarter} to {q}", ""]
    if note := history_note(report.header, report.history):
        out += [md(note), ""]
    out += md_history(report.history)
    return "\n".join(out).rstrip("\n") + "\n"


def quarterly_md_section(report: QuarterlyReport, position: int, section: RecommendationSection) -> list[str]:
    q = report.quarter
    text_label = "verbatim" if section.text_status == "verbatim" else "paraphrase"
    out = [f"### {position}. {md(section.ref)}: {md(section.title)}", ""]
    out += [f"> {md(line)}" for line in section.text.splitlines() if line.strip()]
    out += [
        "",
        f"- Source: {md(section.source)} (text {text_label})",
        f"- Pillar: {section.pillar}",
        f"- Agencies: {md(agencies_text(section))}",
        f"- Status: {label(section.status)} at the end of {q}, {label(section.previous_status)} at the end of "
        f"{q.previous()}: {change_text(report, section)}",
        f"- Due: {md(due_text(section))}",
    ]
    if section.status_updates:
        out.append("- Assessments in the quarter:")
        out += [f"  - {c.effective_on.isoformat()}, {label(c.status)}: {md(c.note)}" for c in section.status_updates]
    out.append("")
    if section.evidence:
        out += md_table(
            ["Observed", "Kind", "Title", "Source", "Stance", "Link"],
            [[e.observed_on.isoformat(), e.kind.value.replace("_", " "), md(e.title), md(e.source_name or ""),
              e.stance.value,
              "; ".join(filter(None, [md_link(e.url)] + [f"file {md(f.filename)}" for f in e.attachments]))]
             for e in section.evidence],
        )
    else:
        out.append(f"No evidence observed in {q}.")
    out.append("")
    if section.indicators:
        out += md_table(
            ["Indicator", "Unit", str(q), str(q.previous()), "Target"],
            [[md(i.name), md(i.unit), number(i.value), number(i.previous_value), number(i.target)]
             for i in section.indicators],
            "llrrr",
        )
        out.append("")
    return out


def md_history(history: tuple[StatusCounts, ...]) -> list[str]:
    return md_table(
        ["Quarter"] + [label(status) for status in Status] + ["total"],
        [[str(h.quarter)] + [str(count) for _, count in h.counts] + [str(sum(c for _, c in h.counts))]
         for h in history],
        "l" + "r" * (len(Status) + 1),
    ) + [""]


def timeline_md(timeline: Timeline) -> str:
    out = md_header(f"Status timeline {timeline.first} to {timeline.last}", timeline.header,
                    timeline_header_lines(timeline))
    out += [f"> {md(unissued_notice(src, str(timeline.last), timeline.last.end))}\n"
            for src in timeline.header.unissued]
    if empty := empty_text(timeline):
        out += [f"**{md_text(empty)}**", ""]
        return "\n".join(out).rstrip("\n") + "\n"
    legend = ", ".join(f"{STATUS_SHORT[s]} {label(s)}" for s in Status)
    out += [f"Status at the end of each quarter: {legend}; · not yet issued. "
            "A star (\\*) marks the quarters in which the status changed.", ""]
    out += md_table(
        ["Recommendation"] + [str(q) for q in timeline.quarters],
        [[md(row.ref)] + [
            "·" if cell.status is None else STATUS_SHORT[cell.status] + ("\\*" if cell.changed else "")
            for cell in row.cells] for row in timeline.rows],
    )
    out += ["", "## Recommendations", ""]
    out += [f"- **{md(row.ref)}**: {md(row.title)} ({row.pillar}); changed in "
            f"{', '.join(str(q) for q in row.changed_in) or 'no quarter of the range'}" for row in timeline.rows]
    out += ["", "## Status counts", ""]
    if note := history_note(timeline.header, timeline.history):
        out += [md(note), ""]
    out += md_history(timeline.history)
    return "\n".join(out).rstrip("\n") + "\n"


# JSON -----------------------------------------------------------------------------------------


def _dumps(document: Any) -> str:
    """``json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)`` and a newline.

    The same bytes, written about twice as fast: with ``indent`` the standard library
    falls back to its pure-Python encoder, which is half of a large report's time. Only
    the types a report holds are written here (str keys; dicts, lists, str, int, float,
    bool, None); anything else goes to ``json.dumps`` itself.
    """
    try:
        return _indented(document)
    except _NotPlain:
        return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


class _NotPlain(Exception):
    pass


def _indented(document: Any) -> str:
    out: list[str] = []
    append, spell = out.append, json.encoder.encode_basestring

    def write(value: Any, indent: str) -> None:
        kind = value.__class__
        if kind is str:
            append(spell(value))
        elif kind is dict:
            if not value:
                append("{}")
                return
            inner = indent + "  "
            separator = "{\n" + inner
            for key, item in value.items():
                if key.__class__ is not str:
                    raise _NotPlain
                append(separator)
                append(spell(key))
                append(": ")
                write(item, inner)
                separator = ",\n" + inner
            append("\n" + indent + "}")
        elif kind is list:
            if not value:
                append("[]")
                return
            inner = indent + "  "
            separator = "[\n" + inner
            for item in value:
                append(separator)
                write(item, inner)
                separator = ",\n" + inner
            append("\n" + indent + "]")
        elif value is None:
            append("null")
        elif value is True:
            append("true")
        elif value is False:
            append("false")
        elif kind is int:
            append(int.__repr__(value))
        elif kind is float and value == value and value not in (float("inf"), float("-inf")):
            append(float.__repr__(value))
        else:
            raise _NotPlain

    write(document, "")
    append("\n")
    return "".join(out)


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def quarterly_document(report: QuarterlyReport) -> dict[str, Any]:
    """The JSON report: exactly the keys of DESIGN.md's "The quarterly report"."""
    s = report.summary
    return {
        "schema_version": 1,
        "quarter": str(report.quarter),
        "period": {"start": report.start.isoformat(), "end": report.end.isoformat()},
        "as_of": iso_utc(report.header.as_of),
        "audience": report.header.audience.value,
        "fingerprint": report.header.fingerprint,
        "summary": {
            "status_counts": {status.value: count for status, count in s.status_counts},
            "previous_status_counts": {status.value: count for status, count in s.previous_status_counts},
            "advanced": s.advanced,
            "regressed": s.regressed,
            "unchanged": s.unchanged,
            "evidence_count": s.evidence_count,
            "overdue": len(s.overdue),
        },
        "recommendations": [
            {
                "ref": r.ref,
                "code": r.code,
                "title": r.title,
                "pillar": r.pillar,
                "status": r.status.value,
                "previous_status": None if r.previous_status is None else r.previous_status.value,
                "change": r.change.value,
                "due_on": _iso(r.due_on),
                "overdue": r.overdue,
                "status_updates": [
                    {"effective_on": c.effective_on.isoformat(), "status": c.status.value, "note": c.note,
                     "recorded_at": iso_utc(c.recorded_at)}
                    for c in r.status_updates
                ],
                "evidence": [
                    {"id": e.id, "title": e.title, "kind": e.kind.value, "observed_on": e.observed_on.isoformat(),
                     "stance": e.stance.value, "url": e.url, "sensitivity": e.sensitivity.value}
                    for e in r.evidence
                ],
                "indicators": [
                    {"code": i.code, "name": i.name, "unit": i.unit, "value": i.value,
                     "previous_value": i.previous_value, "target": i.target}
                    for i in r.indicators
                ],
            }
            for r in report.recommendations
        ],
        "withheld": report.withheld,
    }


def quarterly_json(report: QuarterlyReport) -> str:
    return _dumps(quarterly_document(report))


def timeline_document(timeline: Timeline) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "from": str(timeline.first),
        "to": str(timeline.last),
        "as_of": iso_utc(timeline.header.as_of),
        "audience": timeline.header.audience.value,
        "fingerprint": timeline.header.fingerprint,
        "sources": [s.slug for s in timeline.header.sources],
        "quarters": [str(q) for q in timeline.quarters],
        "recommendations": [
            {
                "ref": row.ref,
                "title": row.title,
                "pillar": row.pillar,
                "statuses": [
                    {"quarter": str(c.quarter), "status": None if c.status is None else c.status.value,
                     "changed": c.changed}
                    for c in row.cells
                ],
                "changed_in": [str(q) for q in row.changed_in],
            }
            for row in timeline.rows
        ],
    }


def timeline_json(timeline: Timeline) -> str:
    return _dumps(timeline_document(timeline))


# CSV ------------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(cell: Any) -> Any:
    """OWASP's CSV injection advice: a text cell that a spreadsheet could run as a formula gets a ``'``."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def _csv(header: list[str], rows: Iterable[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()


def _csv_number(value: float | None) -> Any:
    """Numbers stay numbers (never prefixed): 12.0 is written 12, a missing value as an empty cell."""
    if value is None:
        return ""
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else value


def quarterly_csv(report: QuarterlyReport) -> str:
    """One row per recommendation; one column per indicator (its value in the quarter)."""
    codes = list(dict.fromkeys(i.code for r in report.recommendations for i in r.indicators))
    header = ["ref", "title", "pillar", "previous_status", "status", "change", "evidence_count"]
    header += [f"indicator:{code}" for code in codes]
    rows = []
    for r in report.recommendations:
        values = {i.code: i.value for i in r.indicators}
        rows.append(
            [r.ref, r.title, r.pillar, "" if r.previous_status is None else r.previous_status.value,
             r.status.value, r.change.value,
             len({e.id for e in r.evidence})]
            + [_csv_number(values[code]) if code in values else "" for code in codes]
        )
    return _csv(header, rows)


def timeline_csv(timeline: Timeline) -> str:
    """One row per recommendation, one column per quarter (empty: not yet issued), then the quarters it changed in."""
    header = ["ref", "title", "pillar"] + [str(q) for q in timeline.quarters] + ["changed_in"]
    rows = [
        [row.ref, row.title, row.pillar]
        + ["" if c.status is None else c.status.value for c in row.cells]
        + [" ".join(str(q) for q in row.changed_in)]
        for row in timeline.rows
    ]
    return _csv(header, rows)


# HTML -----------------------------------------------------------------------------------------


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tracker.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(label=label, number=number, iso_utc=iso_utc, web_link=is_web_link, code_spans=html_code_spans)
    env.globals.update(
        STATUSES=list(Status), STATUS_COLOURS=STATUS_COLOURS, STATUS_SHORT=STATUS_SHORT, MARKINGS=MARKINGS,
        period_text=period_text, source_line=source_line, unissued_notice=unissued_notice,
        agencies_text=agencies_text, due_text=due_text, last_day=last_day, attention_text=attention_text,
        history_note=history_note, change_text=change_text,
    )
    return env


def html_code_spans(text: str):
    """Escaped HTML in which a part between backticks (a command) becomes ``<code>``."""
    from markupsafe import Markup, escape

    return Markup("".join(
        f"<code>{escape(part)}</code>" if i % 2 else str(escape(part)) for i, part in enumerate(str(text).split("`"))
    ))


def quarterly_html(report: QuarterlyReport) -> str:
    from markupsafe import Markup

    from tracker.render import charts

    q = report.quarter
    history_chart = Markup(charts.status_bars(report.history, f"Recommendations by status, {report.history[0].quarter} to {q}"))
    indicator_charts = {
        (section.ref, indicator.code): Markup(chart)
        for section in report.recommendations
        for indicator in section.indicators
        if (chart := charts.indicator_line(indicator, f"{section.ref}/{indicator.code}"))
    }
    return _environment().get_template("quarterly.html").render(
        report=report,
        header=report.header,
        q=q,
        s=report.summary,
        previous_counts=dict(report.summary.previous_status_counts),
        header_lines=quarter_header_lines(report),
        notes=[n for n in [not_ended_text(report)] if n],
        empty=empty_text(report),
        changes_text=changes_text(report),
        evidence_text=evidence_text(report),
        overdue_text=overdue_text(report),
        withheld_text=withheld_text(report),
        history_chart=history_chart,
        indicator_charts=indicator_charts,
    )


def timeline_html(timeline: Timeline) -> str:
    from markupsafe import Markup

    from tracker.render import charts

    chart = Markup(charts.status_bars(timeline.history, f"Recommendations by status, {timeline.first} to {timeline.last}")) \
        if timeline.rows else None
    return _environment().get_template("timeline.html").render(
        timeline=timeline,
        header=timeline.header,
        header_lines=timeline_header_lines(timeline),
        empty=empty_text(timeline),
        chart=chart,
    )

