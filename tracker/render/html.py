"""HTML: one self-contained page that prints well, with charts of the status history and the indicators.

The page comes from the Jinja2 templates in ``templates/``, autoescaped; its charts are
inline SVG, written by :func:`tracker.render.charts.svg` itself (no matplotlib: a page
holds a chart per indicator), and it fetches nothing (its Content-Security-Policy says so
to the browser too). Jinja2 and MarkupSafe are imported only when a page is rendered.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from tracker.clock import iso_utc
from tracker.render.charts import (
    FONT_FACES,
    STATUS_COLOURS,
    Chart,
    IndicatorTrend,
    StatusBars,
    indicator_trend,
    status_bars,
    svg,
)
from tracker.render.text import (
    MARKINGS,
    STATUS_SHORT,
    agencies_text,
    attention_text,
    change_text,
    changes_text,
    compared_cites_text,
    corrected_mark,
    correction_text,
    due_text,
    empty_text,
    evidence_id,
    evidence_text,
    history_note,
    is_quarterly,
    is_shortened,
    is_web_link,
    label,
    last_day,
    not_ended_text,
    noted,
    number,
    overdue_text,
    period_text,
    quarter_header_lines,
    reliability_text,
    shortened,
    source_line,
    sourced,
    timeline_header_lines,
    unissued_notice,
    withheld_citations_text,
    withheld_text,
)
from tracker.vocab import Status

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

    from tracker.reports import QuarterlyReport, Timeline
    from tracker.reports.editions import EditionsReport


@functools.cache
def environment() -> jinja2.Environment:
    """The templates, with the shared wording as filters and globals; made once per process
    (Jinja2 compiles each template once per environment)."""
    import jinja2
    import markupsafe

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tracker.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(label=label, number=number, iso_utc=iso_utc, web_link=is_web_link, code_spans=code_spans)
    env.tests.update(shortened_summary=lambda item: is_shortened(item.summary))
    env.globals.update(
        STATUSES=list(Status),
        STATUS_COLOURS=STATUS_COLOURS,
        STATUS_SHORT=STATUS_SHORT,
        MARKINGS=MARKINGS,
        period_text=period_text,
        source_line=source_line,
        unissued_notice=unissued_notice,
        agencies_text=agencies_text,
        due_text=due_text,
        last_day=last_day,
        attention_text=attention_text,
        history_note=history_note,
        change_text=change_text,
        corrected_mark=corrected_mark,
        correction_text=correction_text,
        compared_cites=lambda item: compared_cites_text(item.cites, item.cites_withheld),
        evidence_id=evidence_id,
        reliability_text=reliability_text,
        shortened=shortened,
        withheld_citations_text=withheld_citations_text,
        noted=noted,
        sourced=sourced,
        FONT_STACK=markupsafe.Markup(FONT_STACK),  # a constant of ours, in a <style>: not to be escaped
        BLOCK_QUARTERS=BLOCK_QUARTERS,
    )
    return env


# A timeline wider than this many quarters is shown as tables of this many, one under the other,
# so that every quarter fits the screen and the printed page.
BLOCK_QUARTERS = 8

# The page's fonts: the charts' faces (Latin first, then one for each script a report may
# hold), then the generic family. The browser takes each character from the first face that has it.
FONT_STACK = ", ".join([*(f'"{face}"' if " " in face else face for face in FONT_FACES), "sans-serif"])


def code_spans(text: str) -> Markup:
    """Escaped HTML in which a part between backticks (a command) becomes ``<code>``."""
    from markupsafe import Markup, escape

    return Markup(
        "".join(
            f"<code>{escape(part)}</code>" if i % 2 else str(escape(part))
            for i, part in enumerate(str(text).split("`"))
        )
    )


# The charts a page shows ----------------------------------------------------------------------


def history_chart(report: QuarterlyReport) -> StatusBars:
    """The status counts at the end of each quarter of the report's history."""
    return status_bars(report.history, f"Recommendations by status, {report.history[0].quarter} to {report.quarter}")


def indicator_charts(report: QuarterlyReport) -> dict[tuple[str, str], IndicatorTrend]:
    """Each indicator with a value in its series, by (recommendation ref, indicator code), in page order."""
    return {
        (section.ref, indicator.code): chart
        for section in report.recommendations
        for indicator in section.indicators
        if (chart := indicator_trend(indicator, f"{section.ref}/{indicator.code}"))
    }


def timeline_chart(timeline: Timeline) -> StatusBars | None:
    """The status counts at the end of each quarter of the range; None when there is nothing to report."""
    if not timeline.rows:
        return None
    return status_bars(timeline.history, f"Recommendations by status, {timeline.first} to {timeline.last}")


def page_charts(report: QuarterlyReport | Timeline) -> list[Chart]:
    """The charts the page of ``report`` shows, in the order it shows them."""
    if is_quarterly(report):
        return [history_chart(report), *indicator_charts(report).values()]
    chart = timeline_chart(report)
    return [] if chart is None else [chart]


# Pages ----------------------------------------------------------------------------------------


def quarterly(report: QuarterlyReport) -> str:
    """The quarterly report as an HTML page."""
    from markupsafe import Markup

    return (
        environment()
        .get_template("quarterly.html")
        .render(
            report=report,
            header=report.header,
            q=report.quarter,
            s=report.summary,
            previous_counts=dict(report.summary.previous_status_counts),
            header_lines=quarter_header_lines(report),
            notes=[n for n in [not_ended_text(report)] if n],
            empty=empty_text(report),
            changes_text=changes_text(report),
            evidence_text=evidence_text(report),
            overdue_text=overdue_text(report),
            withheld_text=withheld_text(report),
            history_chart=Markup(svg(history_chart(report))),
            indicator_charts={key: Markup(svg(chart)) for key, chart in indicator_charts(report).items()},
        )
    )


def timeline(timeline: Timeline) -> str:
    """The timeline as an HTML page: a matrix of statuses, then the status counts as a chart."""
    from markupsafe import Markup

    chart = timeline_chart(timeline)
    return (
        environment()
        .get_template("timeline.html")
        .render(
            timeline=timeline,
            header=timeline.header,
            header_lines=timeline_header_lines(timeline),
            empty=empty_text(timeline),
            chart=None if chart is None else Markup(svg(chart)),
        )
    )


def editions(report: EditionsReport) -> str:
    """The editions report as an HTML page: per series, a matrix of threads by edition in the
    timeline's look (highlighted threads marked), then each thread; the wording is the Markdown's."""
    from tracker.render import markdown

    return (
        environment()
        .get_template("editions.html")
        .render(
            report=report,
            header=report.header,
            header_lines=markdown.editions_header_lines(report),
            empty=markdown.editions_empty_text(report),
            intro=markdown.editions_intro(report),
            series_heading=markdown.series_heading,
            series_empty_text=markdown.series_empty_text,
            edition_cell=markdown.edition_cell,
            edition_cell_title=markdown.edition_cell_title,
            thread_text=markdown.thread_text,
            CARRIED_MARK=markdown.CARRIED_MARK,
            HIGHLIGHT_MARK=markdown.HIGHLIGHT_MARK,
        )
    )
