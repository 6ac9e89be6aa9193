"""The follow-up digest (:mod:`tracker.due`) as Markdown to mail, CSV for spreadsheets, or JSON.

Markdown is made to be pasted into an email: headings, lists, lines of at most 72
characters, no tables; text is escaped as in :mod:`tracker.render.markdown`, and a line
never starts with what Markdown would read as a new block (a list marker, a heading rule).
CSV has one row per item with a ``category`` column, cells neutralised as in
:mod:`tracker.render.csvfile`. The JSON keys are listed in :func:`document`.
"""

from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING, Any

from tracker.clock import iso_utc
from tracker.errors import InputError
from tracker.render.csvfile import neutralise
from tracker.render.jsondoc import dumps
from tracker.render.markdown import inline
from tracker.render.text import label

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker.due import Agency, AgencyGroup, Digest, DueItem, Recommendation

FORMATS = ("md", "csv")
WIDTH = 72


def output_form(fmt: str | None, json_output: bool) -> str:
    """``md`` (the default), ``csv`` or, with ``--json``, ``json``; refuses both given, or another format."""
    if fmt is not None and json_output:
        raise InputError("give --json or --format, not both")
    if json_output:
        return "json"
    chosen = "md" if fmt is None else fmt.strip().lower()
    if chosen not in FORMATS:
        raise InputError(f"unknown --format {fmt!r}: use md (the default) or csv, or --json")
    return chosen


def render(digest: Digest, form: str) -> str:
    """The digest as ``md``, ``csv`` or ``json`` text."""
    if form == "json":
        return dumps(document(digest))
    return markdown(digest) if form == "md" else table(digest)


# JSON -------------------------------------------------------------------------------------


def document(digest: Digest) -> dict[str, Any]:
    """``as_of`` (UTC), ``on`` (its date), ``within_days``, ``due_by``, ``agency`` ({code, name}
    or null), ``sources`` (the editions in force), ``overdue`` and ``due_soon`` ([{``agency``,
    ``recommendations``}] by lead agency), ``quarter`` and ``indicators_missing``,
    ``stale_before`` and ``stale``, ``carried_over``. A recommendation is {``ref``, ``source``,
    ``title``, ``status``, ``lead_agencies`` (codes)} plus what its list adds."""
    return {
        "as_of": iso_utc(digest.as_of),
        "on": digest.on.isoformat(),
        "within_days": digest.within_days,
        "due_by": digest.due_by.isoformat(),
        "agency": None if digest.agency is None else _agency(digest.agency),
        "sources": list(digest.sources),
        "overdue": [_group(group, "days_overdue") for group in digest.overdue],
        "due_soon": [_group(group, "days_left") for group in digest.due_soon],
        "quarter": str(digest.quarter),
        "indicators_missing": [
            {"code": i.code, "name": i.name, "unit": i.unit, "recommendation": _recommendation(i.recommendation)}
            for i in digest.indicators_missing
        ],
        "stale_before": digest.stale_before.isoformat(),
        "stale": [
            {
                **_recommendation(item.recommendation),
                "last_assessed_on": None if item.last_assessed_on is None else item.last_assessed_on.isoformat(),
                "since": item.since.isoformat(),
            }
            for item in digest.stale
        ],
        "carried_over": [
            {**_recommendation(item.recommendation), "carried_over_from": item.carried_over_from}
            for item in digest.carried_over
        ],
    }


def _agency(agency: Agency) -> dict[str, str]:
    return {"code": agency.code, "name": agency.name}


def _recommendation(rec: Recommendation) -> dict[str, Any]:
    return {
        "ref": rec.ref,
        "source": rec.source,
        "title": rec.title,
        "status": rec.status.value,
        "lead_agencies": [lead.code for lead in rec.leads],
    }


def _group(group: AgencyGroup, days: str) -> dict[str, Any]:
    return {
        "agency": None if group.agency is None else _agency(group.agency),
        "recommendations": [
            {
                **_recommendation(item.recommendation),
                "due_on": item.due_on.isoformat(),
                days: item.days,
                "carried_over_from": item.carried_over_from,
            }
            for item in group.items
        ],
    }


# CSV --------------------------------------------------------------------------------------

COLUMNS = (
    "category",
    "ref",
    "source",
    "title",
    "status",
    "lead_agencies",
    "due_on",
    "days_overdue",
    "days_left",
    "carried_over_from",
    "last_assessed_on",
    "indicator",
    "indicator_name",
    "quarter",
)


def table(digest: Digest) -> str:
    """One row per item, by category (``overdue``, ``due_soon``, ``indicator_missing``, ``stale``,
    ``carried_over``), each recommendation once per category (lead agencies joined with ``;``).
    Rows end with CRLF."""
    rows: list[dict[str, Any]] = []
    for category, groups in (("overdue", digest.overdue), ("due_soon", digest.due_soon)):
        days = "days_overdue" if category == "overdue" else "days_left"
        for item in _once(groups):
            rows.append(
                {
                    **_row(category, item.recommendation),
                    "due_on": item.due_on.isoformat(),
                    days: item.days,
                    "carried_over_from": item.carried_over_from or "",
                }
            )
    for missing in digest.indicators_missing:
        rows.append(
            {
                **_row("indicator_missing", missing.recommendation),
                "indicator": missing.code,
                "indicator_name": missing.name,
                "quarter": str(digest.quarter),
            }
        )
    for stale in digest.stale:
        last = "" if stale.last_assessed_on is None else stale.last_assessed_on.isoformat()
        rows.append({**_row("stale", stale.recommendation), "last_assessed_on": last})
    for carried in digest.carried_over:
        rows.append({**_row("carried_over", carried.recommendation), "carried_over_from": carried.carried_over_from})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([neutralise(row.get(column, "")) for column in COLUMNS])
    return buffer.getvalue()


def _once(groups: tuple[AgencyGroup, ...]) -> list[DueItem]:
    """The groups' items, each recommendation once (a co-led one is in several groups), by due date."""
    found: dict[str, DueItem] = {}
    for group in groups:
        for item in group.items:
            found.setdefault(item.recommendation.ref, item)
    return sorted(found.values(), key=lambda item: item.due_on)


def _row(category: str, rec: Recommendation) -> dict[str, Any]:
    return {
        "category": category,
        "ref": rec.ref,
        "source": rec.source,
        "title": rec.title,
        "status": rec.status.value,
        "lead_agencies": ";".join(lead.code for lead in rec.leads),
    }


# Markdown ---------------------------------------------------------------------------------

# A word that, first on a line, could start a new block (list item, heading rule, code fence):
# a line is never broken before one.
_BLOCK_START = re.compile(r"[-+=~]|[0-9]+[.)]")


def markdown(digest: Digest) -> str:
    """The digest to mail: a heading, what it covers, the counts, then one section per list, each said when empty."""
    out = [f"# Follow-up digest, {digest.on.isoformat()}", ""]
    out += _paragraph(_intro(digest))
    out.append("")
    out += [f"- {line}" for line in _summary(digest)]
    out += ["", "## Overdue", ""]
    out += _groups(digest.overdue, "Nothing is overdue.", _overdue_text)
    out += ["", f"## Due within {_days(digest.within_days)}, by {digest.due_by.isoformat()}", ""]
    out += _groups(digest.due_soon, f"Nothing is due by {digest.due_by.isoformat()}.", _due_text)
    out += ["", f"## Indicators with no value for {digest.quarter}", ""]
    if not digest.indicators_missing:
        out += _paragraph(f"No indicator is missing its value for {digest.quarter}.")
    for missing in digest.indicators_missing:
        head = f"**{inline(missing.code)}**: {inline(missing.name)} ({inline(missing.unit)})"
        out += _item(head, f"for {inline(missing.recommendation.ref)}; {_leads_text(missing.recommendation)}")
    out += ["", f"## Stale: not assessed since {digest.stale_before.isoformat()}", ""]
    if not digest.stale:
        out += _paragraph("No assessment is stale.")
    for stale in digest.stale:
        if stale.last_assessed_on is None:
            when = f"never assessed, issued {stale.since.isoformat()}"
        else:
            when = f"last assessed {stale.last_assessed_on.isoformat()}: {label(stale.recommendation.status)}"
        out += _item(_head(stale.recommendation), f"{when}; {_leads_text(stale.recommendation)}")
    out += ["", "## Carried over, not re-assessed", ""]
    if not digest.carried_over:
        out += _paragraph("Nothing is carried over from an earlier edition.")
    for carried in digest.carried_over:
        status = f"{label(carried.recommendation.status)}, carried over from {inline(carried.carried_over_from)}"
        out += _item(_head(carried.recommendation), f"{status}; {_leads_text(carried.recommendation)}")
    return "\n".join(out) + "\n"


def _intro(digest: Digest) -> str:
    moment = iso_utc(digest.as_of)
    if not digest.sources:
        text = f"As of {moment}, no edition was in force: nothing is due."
    else:
        text = f"As of {moment}, for the editions in force then: {', '.join(inline(s) for s in digest.sources)}."
    if digest.agency is not None:
        text += f" Only what {inline(digest.agency.name)} ({inline(digest.agency.code)}) leads."
    return text


def _summary(digest: Digest) -> list[str]:
    overdue = len(_once(digest.overdue))
    due_soon = len(_once(digest.due_soon))
    return [
        f"{overdue} overdue",
        f"{due_soon} due by {digest.due_by.isoformat()}",
        f"{_count(len(digest.indicators_missing), 'indicator')} with no value for {digest.quarter}",
        f"{len(digest.stale)} stale",
        f"{len(digest.carried_over)} carried over, not re-assessed",
    ]


def _groups(groups: tuple[AgencyGroup, ...], empty: str, detail: Callable[[DueItem], str]) -> list[str]:
    if not groups:
        return _paragraph(empty)
    out: list[str] = []
    for group in groups:
        if out:
            out.append("")
        if group.agency is None:
            out += ["### No lead agency", ""]
        else:
            heading = f"### {inline(group.agency.name)} ({inline(group.agency.code)})"
            if len(heading) <= WIDTH:
                out += [heading, ""]
            else:  # a long name: the code as the heading, the name below it
                out += [f"### {inline(group.agency.code)}", ""] + _paragraph(inline(group.agency.name)) + [""]
        for item in group.items:
            out += _item(_head(item.recommendation), detail(item))
    return out


def _overdue_text(item: DueItem) -> str:
    return f"due {item.due_on.isoformat()}, {_days(item.days)} ago; {_status_text(item)}"


def _due_text(item: DueItem) -> str:
    when = "due today" if item.days == 0 else f"due {item.due_on.isoformat()}, in {_days(item.days)}"
    return f"{when}; {_status_text(item)}"


def _status_text(item: DueItem) -> str:
    text = label(item.recommendation.status)
    if item.carried_over_from:
        text += f" (carried over from {inline(item.carried_over_from)})"
    return text


def _head(rec: Recommendation) -> str:
    return f"**{inline(rec.ref)}**: {inline(rec.title)}"


def _leads_text(rec: Recommendation) -> str:
    if not rec.leads:
        return "no lead agency"
    return "lead: " + ", ".join(inline(lead.code) for lead in rec.leads)


def _days(count: int) -> str:
    return _count(count, "day")


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _item(head: str, detail: str) -> list[str]:
    """A list item: its head, then one detail in a list of its own."""
    return _wrapped(head, "- ", "  ") + _wrapped(detail, "  - ", "    ")


def _paragraph(text: str) -> list[str]:
    """``text`` as a paragraph; a first word that would start a block (an agency named "1. ...")
    is escaped."""
    start = _BLOCK_START.match(text)
    if start:
        text = f"{text[: start.end() - 1]}\\{text[start.end() - 1 :]}"
    return _wrapped(text, "", "")


def _wrapped(text: str, first: str, rest: str) -> list[str]:
    """``text`` (Markdown, one line) in lines of at most :data:`WIDTH` characters where its words
    allow: the first starting with ``first``, the next with ``rest``. A line never starts with a
    word that would start a block: the words before it go down with it (or, if none can, the
    line runs long)."""
    lines: list[list[str]] = [[]]
    for word in text.split():
        line = lines[-1]
        prefix = first if len(lines) == 1 else rest
        if not line or len(prefix) + len(" ".join([*line, word])) <= WIDTH:
            line.append(word)
            continue
        moved = [word]
        while _BLOCK_START.match(moved[0]) and len(line) > 1:
            moved.insert(0, line.pop())
        if _BLOCK_START.match(moved[0]):
            line.extend(moved)
        else:
            lines.append(moved)
    return [(first if index == 0 else rest) + " ".join(line) for index, line in enumerate(lines)]
