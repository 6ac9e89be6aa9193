"""Plain-text tables and JSON for the command line's read commands.

Tables are measured in screen cells (``rich.cells.cell_len``: a Khmer vowel sign takes
none, a Chinese character two), so every column starts at the same cell on every line,
whatever the script; a long cell is cut between two grapheme clusters (:func:`graphemes`),
never inside one.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import Any


def to_json(document: Any) -> str:
    from tracker.audit.canonical import json_value

    return json.dumps(document, indent=2, ensure_ascii=False, default=json_value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 60) -> str:
    """A fixed-width table; long cells are cut with an ellipsis, None shows as '-'.

    Widths are screen cells: ``max_width`` is the most a cell takes, its ellipsis included."""
    return "\n".join(table_lines(headers, rows, max_width=max_width, measured=None))


# Rows a streamed table measures before its first line: the columns' widths (see table_lines).
MEASURED_ROWS = 1_000


def table_lines(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int = 60, measured: int | None = MEASURED_ROWS
) -> Iterator[str]:
    """:func:`table`'s lines (without their line ends) as the rows come: the columns are as wide
    as their widest cell among the first ``measured`` rows (None: all of them); a later, wider
    cell is shown whole and pushes the rest of its line to the right."""
    from rich.cells import cell_len

    def cell(value: Any) -> str:
        if value.__class__ is float and value.is_integer():
            value = int(value)  # a count of 12 reads 12, not 12.0
        elif value.__class__ is bool:
            value = "yes" if value else "no"
        text = "-" if value is None or value == "" else str(value)
        return cut(" ".join(text.split()), max_width)

    stream = iter(rows)
    first = [[cell(v) for v in row] for row in itertools.islice(stream, measured)]
    sizes = [[cell_len(c) for c in row] for row in first]
    widths = [max([cell_len(h)] + [r[i] for r in sizes]) for i, h in enumerate(headers)]
    yield "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()
    for row, row_sizes in zip(first, sizes):
        yield "  ".join(c + " " * (w - size) for c, size, w in zip(row, row_sizes, widths)).rstrip()
    for values in stream:
        row = [cell(v) for v in values]
        yield "  ".join(c + " " * max(0, w - cell_len(c)) for c, w in zip(row, widths)).rstrip()


def json_pieces(items: Iterable[Any]) -> Iterator[str]:
    """:func:`to_json` of a list, a piece per item as the items come: together, the same text."""
    from tracker.audit.canonical import json_value

    opening = first = "[\n  "
    for item in items:
        yield opening + json.dumps(item, indent=2, ensure_ascii=False, default=json_value).replace("\n", "\n  ")
        opening = ",\n  "
    yield "[]" if opening is first else "\n]"


def cut(text: str, width: int) -> str:
    """``text`` if it takes at most ``width`` screen cells, else as much of it as fits before
    an ellipsis, ending on a grapheme cluster's boundary (a Khmer consonant keeps its vowel
    signs and the consonant stacked under it)."""
    from rich.cells import cell_len

    if text.isascii() and text.isprintable():
        return text if len(text) <= width else text[: width - 1] + "…"
    if cell_len(text) <= width:
        return text
    kept, used = [], 0
    for cluster in graphemes(text):
        size = cell_len(cluster)
        if used + size > width - 1:
            break
        kept.append(cluster)
        used += size
    return "".join(kept) + "…"


# Characters that stack the next letter onto the one before them, into one cluster: Khmer's
# coeng, Myanmar's and Tai Tham's invisible stackers, and the viramas that Unicode's
# grapheme rules join conjuncts with (Devanagari, Bengali, Gujarati, Oriya, Telugu, Malayalam).
_STACKERS = frozenset("\u17d2\u1039\u1a60\u094d\u09cd\u0acd\u0b4d\u0c4d\u0d4d")
_ZWJ, _ZWNJ = "\u200d", "\u200c"


def graphemes(text: str) -> list[str]:
    """``text`` cut into grapheme clusters, what a reader sees as one character: a base with
    its combining, enclosing and spacing marks (variation selectors included) and any ZWNJ;
    a ZWJ sequence; a letter stacked under the one before by a coeng or a virama; an emoji
    with its skin tone or tags; a pair of regional indicators (a flag); Hangul conjoining
    vowels and finals; CR LF. Unicode's extended grapheme clusters (UAX #29) for the scripts
    a record holds, with Khmer's coeng + consonant kept whole as Khmer readers expect."""
    clusters: list[str] = []
    start, joins, flag_half = 0, False, False
    for at, character in enumerate(text):
        code = ord(character)
        regional = 0x1F1E6 <= code <= 0x1F1FF
        if at and (
            (joins and unicodedata.category(character)[0] in ("L", "S"))
            or _extends(character, code)
            or (regional and flag_half)
            or (character == "\n" and text[at - 1] == "\r")
        ):
            flag_half = False
        else:
            if at:
                clusters.append(text[start:at])
            start, flag_half = at, regional
        joins = character in _STACKERS or character == _ZWJ
    if text:
        clusters.append(text[start:])
    return clusters


def _extends(character: str, code: int) -> bool:
    """Whether ``character`` belongs to the cluster before it."""
    return (
        unicodedata.category(character) in ("Mn", "Me", "Mc")
        or character in (_ZWJ, _ZWNJ)
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tones
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences (subdivision flags)
        or 0x1160 <= code <= 0x11FF  # Hangul conjoining vowels and finals
        or 0xD7B0 <= code <= 0xD7FF
    )


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """``label: value`` lines, aligned."""
    width = max(len(label) for label, _ in pairs)
    return "\n".join(f"{label.ljust(width)}  {'-' if value in (None, '') else value}" for label, value in pairs)


def recommendation_table(views, *, filtered: bool = False) -> str:
    if not views:
        if filtered:
            return "No recommendations match these filters."
        return "No recommendations yet: load a catalog with `tracker catalog load` or add one with `tracker rec add`."
    rows = []
    for v in views:
        lead = ", ".join(a.code for a in v.agencies if a.role == "lead") or None
        flags = ("" if v.text_status == "verbatim" else "paraphrase") + (" OVERDUE" if v.overdue else "")
        if v.carried_over_from:
            flags += f" carried over from {v.carried_over_from}"
        rows.append([v.ref, v.position, v.pillar, v.status, lead, v.title, flags.strip()])
    return table(["ref", "pos", "pillar", "status", "lead", "title", "notes"], rows)


def recommendation_detail(v) -> str:
    owners = ", ".join(f"{a.code} ({a.role})" for a in v.agencies)
    text_label = "text (verbatim)" if v.text_status == "verbatim" else "text (paraphrase, unconfirmed)"
    lines = fields(
        [
            ("ref", v.ref),
            ("source", v.source),
            ("position", v.position),
            ("title", v.title),
            ("pillar", v.pillar),
            (
                "status",
                v.status
                if not v.carried_over_from
                else f"{v.status} (carried over from {v.carried_over_from}, not yet re-assessed)",
            ),
            ("due", v.due_on),
            ("overdue", "yes" if v.overdue else "no"),
            ("agencies", owners),
            ("indicators", ", ".join(v.indicators)),
        ]
    )
    lines += f"\n\n{text_label}:\n{v.text}"
    if v.note:
        lines += f"\n\nnote: {v.note}"
    return lines


def entered_by(author: str, agency: str | None) -> str:
    """Who recorded an entry, and on which agency's behalf if it was (--for): "ana for molvt"."""
    return f"{author} for {agency}" if agency else author


def evidence_table(rows) -> str:
    return "\n".join(evidence_lines(rows, measured=None))


def evidence_lines(rows: Iterable[dict[str, Any]], *, measured: int | None = MEASURED_ROWS) -> Iterator[str]:
    """The evidence table's lines as the rows come (see :func:`table_lines`)."""
    stream = iter(rows)
    first = next(stream, None)
    if first is None:
        yield "No evidence matches."
        return
    yield from table_lines(
        ["id", "observed_on", "kind", "sensitivity", "recommendations", "title"],
        (
            [
                r["id"],
                r["observed_on"],
                r["kind"],
                r["sensitivity"],
                ", ".join(f"{link['ref']} ({link['stance']})" for link in r["recommendations"]),
                ("[RETRACTED] " if r["retraction"] else "") + r["title"],
            ]
            for r in itertools.chain([first], stream)
        ),
        measured=measured,
    )


def evidence_detail(r) -> str:
    text = fields(
        [
            ("id", r["id"]),
            ("title", r["title"]),
            ("kind", r["kind"]),
            ("observed_on", r["observed_on"]),
            ("source", r["source_name"]),
            ("url", r["url"]),
            ("reliability", r["reliability"]),
            ("sensitivity", r["sensitivity"]),
            ("recommendations", ", ".join(f"{link['ref']} ({link['stance']})" for link in r["recommendations"])),
            ("recorded", f"{r['recorded_at']} by {r['recorded_by']}"),
        ]
    )
    if r["summary"]:
        text += f"\n\nsummary:\n{r['summary']}"
    if r["attachments"]:
        text += "\n\nattachments:\n" + "\n".join(
            f"  {a['sha256']}  {a['size']} bytes  {a['media_type']}  {a['filename']}" for a in r["attachments"]
        )
    if r["retraction"]:
        x = r["retraction"]
        text += f"\n\nRETRACTED {x['recorded_at']} by {x['recorded_by']}: {x['reason']}"
    return text


def indicator_detail(d) -> str:
    head = fields(
        [
            ("code", d["code"]),
            ("ref", d["ref"]),
            ("name", d["name"]),
            ("unit", d["unit"]),
            ("direction", d["direction"]),
            ("target", d["target"]),
        ]
    )
    if not d["measurements"]:
        return head + "\n\nNo values recorded yet."
    body = table(
        ["id", "quarter", "value", "current", "note", "evidence", "recorded_at", "by"],
        [
            [
                m["id"],
                m["quarter"],
                m["value"],
                "withdrawn" if m["withdrawn"] else "yes" if m["current"] else "superseded",
                m["note"],
                cited(m["evidence_id"], m["evidence_retracted"]),
                m["recorded_at"],
                m["recorded_by"],
            ]
            for m in d["measurements"]
        ],
    )
    return f"{head}\n\n{body}{withdrawals(d['measurements'], 'measurement')}"


def cited(evidence_id: int | None, retracted: bool) -> str:
    """A cited evidence id, marked when the evidence was retracted since."""
    if evidence_id is None:
        return ""
    return f"{evidence_id} (retracted)" if retracted else str(evidence_id)


def withdrawals(rows, noun: str) -> str:
    """Lines saying why each withdrawn row was withdrawn."""
    lines = [
        f"{noun} {r['id']} withdrawn {r['withdrawn']['recorded_at']} by {r['withdrawn']['recorded_by']}: "
        f"{r['withdrawn']['reason']}"
        for r in rows
        if r["withdrawn"]
    ]
    return "\n\n" + "\n".join(lines) if lines else ""


def status_history(rows) -> str:
    """Every assessment of a recommendation; withdrawn ones and citations of retracted evidence marked."""
    body = table(
        ["id", "effective_on", "status", "note", "evidence", "recorded_at", "by"],
        [
            [
                r["id"],
                r["effective_on"],
                f"{r['status']} (withdrawn)" if r["withdrawn"] else r["status"],
                r["note"],
                ",".join(cited(i, i in r["retracted_evidence"]) for i in r["evidence"]),
                r["recorded_at"],
                entered_by(r["recorded_by"], r.get("for")),
            ]
            for r in rows
        ],
    )
    return body + withdrawals(rows, "status")


def record_history(history) -> str:
    """Every version of a record, oldest first."""
    blocks = []
    for version in history["versions"]:
        head = f"version {version['version']}  {version['recorded_at']}  by {version['recorded_by']}"
        lines = [head, f"  event {version['event']}"]
        if version["reason"] is None:
            lines.append("  as first recorded:")
            lines += [f"    {name}: {shown(value)}" for name, value in version["values"].items()]
        else:
            lines.append(f"  why: {version['reason']}")
            lines += [f"    {c['field']}: {shown(c['old'])} -> {shown(c['new'])}" for c in version["changes"]]
        blocks.append("\n".join(lines))
    return f"{history['record']}\n\n" + "\n\n".join(blocks)


def shown(value) -> str:
    if value is None:
        return "(none)"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def event_rows(payload: str) -> str:
    """What an event wrote, in short: 'evidence 12, evidence_link x2'."""
    try:
        rows = json.loads(payload).get("rows") or {}
        parts = []
        for name, records in rows.items():
            if len(records) == 1 and isinstance(records[0], dict) and "id" in records[0]:
                record = records[0]
                of = f" (evidence {record['evidence_id']})" if name == "evidence_retraction" else ""
                parts.append(f"{name} {record['id']}{of}")
            elif records:
                parts.append(f"{name} x{len(records)}")
        return ", ".join(parts)
    except (ValueError, AttributeError, TypeError):
        return "?"


def sources_table(rows) -> str:
    """The sources loaded (``tracker.lineage.sources``), newest first, the edition in force in each series marked."""
    if not rows:
        return "No sources yet: load a catalog with `tracker catalog load` (`tracker catalog list` names them)."
    return table(
        ["slug", "series", "published_on", "period", "rating", "recs", "in_force", "title"],
        [
            [
                r["slug"],
                r["series"],
                r["published_on"],
                f"{r['period_start'] or '?'} to {r['period_end'] or '?'}"
                if r["period_start"] or r["period_end"]
                else None,
                r["rating"],
                r["recommendations"],
                r["in_force"],
                r["title"],
            ]
            for r in rows
        ],
    )


def thread_text(data) -> str:
    """A recommendation's thread (``tracker.lineage.thread``): one block per edition, oldest first,
    each text with its changes from the one before marked ``[-removed-]{+added+}`` (as
    ``git diff --word-diff`` marks them)."""
    entries = data["thread"]
    editions = len({e["source"] for e in entries})
    head = (
        f"Thread of {data['ref']}: {len(entries)} recommendation{'s' if len(entries) != 1 else ''} "
        f"in {editions} edition{'s' if editions != 1 else ''}, oldest first"
    )
    if len(entries) == 1:
        head += " (it continues no other recommendation, and none continues it)"
    return head + "\n\n" + "\n\n".join(_thread_entry(e, e["ref"] == data["ref"]) for e in entries)


_LABEL = 12  # the width of a thread block's labels, with their indent and a gap


def _thread_entry(e, named: bool) -> str:
    lines = [f"{e['source']} (published {e['published_on']})" + ("  <- the REF given" if named else "")]
    lines.append(_labelled("ref", e["ref"]))
    lines.append(_labelled("title", e["title"]))
    if not e["continues"]:
        lines.append(_labelled("relation", "- (continues no earlier recommendation)"))
    for link in e["continues"]:
        lines.append(_labelled("relation", f"{link['relation']}, from {link['ref']}"))
        if link["note"]:
            lines.append(_wrapped(link["note"], " " * _LABEL))
    status = f"{e['status']} at the end of {e['status_on']}"
    if e["carried_over_from"]:
        status += f" (carried over from {e['carried_over_from']}, not yet re-assessed)"
    lines.append(_labelled("status", status))
    ids = ", ".join(str(i) for i in e["evidence_ids"])
    lines.append(_labelled("evidence", f"{e['evidence']} ({ids})" if ids else "0"))
    kind = "verbatim" if e["text_status"] == "verbatim" else "paraphrase, unconfirmed"
    if e["diff"] is None:
        lines += [f"  text ({kind}):", _wrapped(e["text"], "    ")]
    elif all(part["op"] == "equal" for part in e["diff"]):
        lines += [f"  text ({kind}), the same as {e['diff_from']}:", _wrapped(e["text"], "    ")]
    else:
        lines.append(f"  text ({kind}), changes from {e['diff_from']} marked [-removed-]{{+added+}}:")
        lines.append(_wrapped(word_diff_text(e["diff"]), "    "))
    return "\n".join(lines)


def _labelled(label: str, value: str) -> str:
    return f"  {label}".ljust(_LABEL) + value


def _wrapped(text: str, indent: str, *, width: int = 100) -> str:
    """A long text (a recommendation's, a note) wrapped at ``width``, each line indented."""
    import textwrap

    return textwrap.fill(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def word_diff_text(diff) -> str:
    """A word-level difference (``tracker.lineage.word_diff``) as one text: ``[-removed-]{+added+}``."""
    pieces = []
    for part in diff:
        if part["op"] == "equal":
            pieces.append(part["old"])
        else:
            removed = f"[-{part['old']}-]" if part["old"] else ""
            added = f"{{+{part['new']}+}}" if part["new"] else ""
            pieces.append(removed + added)
    return " ".join(piece for piece in pieces if piece)


_DIFF_KINDS = {
    "repeated": "repeated",
    "reworded": "reworded",
    "narrowed": "narrowed",
    "broadened": "broadened",
    "merged": "merged (several of the earlier edition in one)",
    "split": "split (one of the earlier edition in several)",
}


def catalog_diff_text(data) -> str:
    """What an edition does with the recommendations of an earlier one (``tracker.lineage.catalog_diff``):
    a section per kind of change that has any."""
    old, new = data["old"], data["new"]
    sections = []
    for kind, title in _DIFF_KINDS.items():
        if data[kind]:
            lines = [f"{title} ({len(data[kind])}):"]
            for item in data[kind]:
                lines.append(f"  {item['new']}  from {', '.join(item['old'])}")
                if item["note"]:
                    lines.append(_wrapped(item["note"], "    "))
            sections.append("\n".join(lines))
    if data["dropped"]:
        lines = [f"dropped ({len(data['dropped'])}): no recommendation of {new} continues them"]
        sections.append("\n".join(lines + [f"  {ref}" for ref in data["dropped"]]))
    if data["added"]:
        lines = [f"added ({len(data['added'])}): they continue no recommendation of {old}"]
        sections.append("\n".join(lines + [f"  {ref}" for ref in data["added"]]))
    if not sections:
        return f"{old} -> {new}: neither edition has recommendations."
    return f"{old} -> {new}\n\n" + "\n\n".join(sections)


def search_results(rows, *, mark=None) -> str:
    """``tracker search``'s hits (``tracker.search.Hit.as_dict``) as a table, the matches in each
    fragment between ``[`` and ``]``, or passed to ``mark`` (on a terminal, to make them bold)."""
    if not rows:
        return "Nothing matches."
    # On a terminal, the matches between marks that take no cell (control characters, never in
    # stored text) and are then made bold, so the columns stay aligned; otherwise brackets.
    opening, closing = ("[", "]") if mark is None else ("\x02", "\x03")
    cells = []
    for r in rows:
        fragment, at = r["fragment"], 0
        marked = ""
        for start, end in r["highlights"]:
            marked += fragment[at:start] + opening + fragment[start:end] + closing
            at = end
        retracted = " (retracted)" if r["record"].startswith("evidence/") else " (withdrawn)"
        kind = r["kind"] + (retracted if r["retracted"] else "")
        cells.append([r["record"], kind, r["date"], ", ".join(r["refs"]), r["title"], marked + fragment[at:]])
    text = table(["record", "kind", "date", "refs", "title", "match"], cells, max_width=64)
    if mark is None:
        return text
    import re

    marked_text = re.sub(f"{opening}(.*?){closing}", lambda m: mark(m.group(1)), text)
    return marked_text.replace(opening, "").replace(closing, "")  # a match the cell's width cut


def lint_findings(rows) -> str:
    """``tracker lint``'s findings (``tracker.lint.Finding.as_dict``): one line each (REF, rule, what),
    then why each rule that fired matters."""
    if not rows:
        return "No findings."
    text = table(["ref", "rule", "what"], [[r["ref"], r["rule"], r["message"]] for r in rows], max_width=400)
    why = {r["rule"]: r["why"] for r in rows}
    width = max(len(rule) for rule in why)
    legend = "\n".join(f"  {rule.ljust(width)}  {reason}" for rule, reason in why.items())
    count = f"{len(rows)} finding" + ("" if len(rows) == 1 else "s")
    return f"{text}\n\n{count}. Why these rules matter:\n{legend}"
