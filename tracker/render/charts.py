"""Charts for the HTML and Word reports: first the data a chart shows, then that data drawn as inline SVG.

A chart is a small frozen value (:class:`StatusBars`, :class:`IndicatorTrend`) built from
a report; :func:`svg` draws it with matplotlib. Keeping the two apart lets a test check
what a chart says without depending on the bytes a given matplotlib writes. :func:`png`
draws the same chart as a PNG image, for documents that hold no SVG (Word's): at a fixed
resolution (:data:`PNG_DPI`) and without the chunk that names the software, so its bytes
depend only on the chart (for a given matplotlib, FreeType and set of fonts).

The SVG is byte-for-byte deterministic: no date or creator metadata, ids derived from a
fixed salt per chart (``svg.hashsalt``), text kept as SVG text (``svg.fonttype = none``)
so no font outlines depend on the fonts installed. matplotlib is imported by the drawing
functions only. The SVG refers to nothing outside itself.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tracker.render.text import label, number
from tracker.vocab import Status

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker.reports import IndicatorLine, StatusCounts

T = TypeVar("T")

# One palette for the status badges of the HTML page and the bars of its charts.
STATUS_COLOURS = {
    Status.NOT_STARTED: "#b8b8b8",
    Status.IN_PROGRESS: "#e9a23b",
    Status.PARTIALLY_IMPLEMENTED: "#4a90c2",
    Status.IMPLEMENTED: "#3c9a5f",
}
VALUE_COLOUR = "#1f5f8b"
TARGET_COLOUR = "#b03a2e"
PNG_DPI = 200  # pixels per inch of a PNG chart: 1500 pixels across the status chart

_PROLOGUE = re.compile(r"^.*?(?=<svg[\s>])", re.DOTALL)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_SIZE = re.compile(r'<svg([^>]*?) width="[^"]*" height="[^"]*"')

# The faces text is set in, Latin first, then a face for each script a report may hold: Khmer,
# Thai, Arabic, Devanagari, CJK. Noto families (Debian/Ubuntu: fonts-noto-core, fonts-noto-cjk),
# Khmer OS (fonts-khmeros), and those that come with Windows and macOS. matplotlib takes each
# glyph from the first installed face that has it (for the layout of a chart); the SVG names the
# same list, so that the reader's browser draws and shapes the text with its own fonts. The HTML
# page's font stack is this list too (tracker.render.html.FONT_STACK).
FONT_FACES = (
    "DejaVu Sans",
    "Liberation Sans",
    "Noto Sans",
    "Arial",
    "Helvetica",
    "Noto Sans Khmer",
    "Khmer OS",
    "Khmer OS System",
    "Khmer UI",
    "Khmer Sangam MN",
    "Noto Sans Thai",
    "Leelawadee UI",
    "Thonburi",
    "Tahoma",
    "Noto Sans Arabic",
    "Noto Naskh Arabic",
    "Segoe UI",
    "Geeza Pro",
    "Noto Sans Devanagari",
    "Nirmala UI",
    "Kohinoor Devanagari",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Microsoft YaHei",
    "PingFang SC",
    "Hiragino Sans",
)

# matplotlib settings (rcParams) for every chart.
RC: dict[Any, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": list(FONT_FACES),
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#555555",
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "legend.frameon": False,
    "path.simplify": False,
}


@dataclass(frozen=True)
class Stack:
    """One status's layer of the bars: its label, colour and count in each quarter."""

    label: str
    colour: str
    counts: tuple[int, ...]


@dataclass(frozen=True)
class StatusBars:
    """Stacked bars: how many recommendations had each status at the end of each quarter."""

    title: str
    quarters: tuple[str, ...]
    stacks: tuple[Stack, ...]  # bottom first, one per status

    @property
    def salt(self) -> str:
        return "status:" + self.title


@dataclass(frozen=True)
class IndicatorTrend:
    """An indicator's value at each quarter (None: none recorded) and its target."""

    title: str
    key: str  # names the chart within the report: ref/code
    unit: str
    quarters: tuple[str, ...]
    values: tuple[float | None, ...]
    target: float | None

    @property
    def salt(self) -> str:
        return "indicator:" + self.key

    @property
    def points(self) -> tuple[tuple[int, float], ...]:
        """(position, value) of each quarter that has a value: the points drawn and labelled."""
        return tuple((i, value) for i, value in enumerate(self.values) if value is not None)


Chart = StatusBars | IndicatorTrend


def status_bars(history: Sequence[StatusCounts], title: str) -> StatusBars:
    """The status counts at the end of each quarter of ``history``."""
    return StatusBars(
        title=title,
        quarters=tuple(str(h.quarter) for h in history),
        stacks=tuple(
            Stack(label(status), STATUS_COLOURS[status], tuple(dict(h.counts)[status] for h in history))
            for status in Status
        ),
    )


def indicator_trend(indicator: IndicatorLine, key: str) -> IndicatorTrend | None:
    """The indicator's series and target; None when no quarter of the series has a value."""
    if all(p.value is None for p in indicator.series):
        return None
    return IndicatorTrend(
        title=f"{indicator.name} ({indicator.unit})",
        key=key,
        unit=indicator.unit,
        quarters=tuple(str(p.quarter) for p in indicator.series),
        values=tuple(p.value for p in indicator.series),
        target=indicator.target,
    )


def svg(chart: Chart) -> str:
    """``chart`` as an SVG element that scales with the page, labelled with its title."""
    return _draw(chart, lambda figure: _svg(figure, chart.salt, chart.title))


def png(chart: Chart, dpi: int = PNG_DPI) -> bytes:
    """``chart`` as a PNG image, the same drawing as :func:`svg`, at ``dpi`` pixels per inch."""
    return _draw(chart, lambda figure: _png(figure, dpi))


def _draw(chart: Chart, save: Callable[[Any], T]) -> T:
    """Draw ``chart`` and return what ``save`` makes of the figure (inside the charts' settings).

    A glyph that no installed face has is laid out as a box by matplotlib, and drawn by the
    reader's browser from its own fonts (the SVG keeps the text): matplotlib's warning about
    it, one per glyph, says nothing the reader can act on, so it is silenced here, and only here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        return _draw_bars(chart, save) if isinstance(chart, StatusBars) else _draw_trend(chart, save)


def _draw_bars(chart: StatusBars, save: Callable[[Any], T]) -> T:
    import matplotlib

    with matplotlib.rc_context(RC):
        figure = _figure(7.5, 3.2)
        axes = figure.add_subplot()
        positions = list(range(len(chart.quarters)))
        bottoms = [0] * len(chart.quarters)
        for stack in chart.stacks:
            heights = list(stack.counts)
            axes.bar(
                positions,
                heights,
                bottom=bottoms,
                color=stack.colour,
                width=0.7,
                # a status no quarter has is left out of the legend: it would name nothing drawn
                label=stack.label if any(stack.counts) else "_nolegend_",
                edgecolor="white",
                linewidth=0.5,
            )
            bottoms = [b + h for b, h in zip(bottoms, heights)]
        _quarter_ticks(axes, chart.quarters)
        axes.set_ylabel("recommendations")
        axes.set_ylim(0, max(max(bottoms, default=0), 1) * 1.05)
        axes.yaxis.get_major_locator().set_params(integer=True)
        axes.set_title(chart.title, loc="left")
        if any(any(stack.counts) for stack in chart.stacks):  # nothing drawn (no recommendation): no legend
            axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        figure.tight_layout()
        return save(figure)


def _draw_trend(chart: IndicatorTrend, save: Callable[[Any], T]) -> T:
    import matplotlib

    points = chart.points
    with matplotlib.rc_context(RC):
        figure = _figure(6.0, 2.4)
        axes = figure.add_subplot()
        positions = list(range(len(chart.quarters)))
        values = [float("nan") if value is None else value for value in chart.values]
        axes.plot(positions, values, marker="o", color=VALUE_COLOUR, linewidth=1.8)
        for x, y in points:
            axes.annotate(number(y), (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        tops = [y for _, y in points]
        if chart.target is not None:
            # one line and its target: named on the chart itself, no legend needed
            axes.axhline(chart.target, color=TARGET_COLOUR, linestyle="--", linewidth=1.2)
            axes.annotate(
                f"target {number(chart.target)}",
                (1.0, chart.target),
                xycoords=("axes fraction", "data"),
                textcoords="offset points",
                xytext=(4, 0),
                va="center",
                ha="left",
                fontsize=8,
                color=TARGET_COLOUR,
            )
            tops.append(chart.target)
        low = min(0.0, *tops)
        axes.set_ylim(low, max(max(tops), 1.0) * 1.2)
        _quarter_ticks(axes, chart.quarters)
        axes.set_xlim(-0.5, len(positions) - 0.5)
        axes.set_ylabel(chart.unit)
        axes.set_title(chart.title, loc="left")
        figure.tight_layout()
        return save(figure)


# Quarter labels: level up to this many, then upright (a label's width is then one line's height),
# and past twice as many only every n-th quarter is labelled, so that no two labels overlap.
LEVEL_LABELS = 10
UPRIGHT_LABELS = 24


def _quarter_ticks(axes: Any, quarters: Sequence[str]) -> None:
    """A tick per quarter, labelled so that labels never overlap (see :data:`LEVEL_LABELS`)."""
    count = len(quarters)
    every = max(1, -(-count // UPRIGHT_LABELS))  # ceiling division
    axes.set_xticks(range(count), [q if i % every == 0 else "" for i, q in enumerate(quarters)])
    if count > LEVEL_LABELS:
        axes.tick_params(axis="x", labelrotation=90)


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=72)
    FigureCanvasSVG(figure)
    return figure


def _svg(figure: Any, salt: str, description: str) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"tracker:{salt}"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = _METADATA.sub("", _PROLOGUE.sub("", buffer.getvalue(), count=1))
    # Scale with the page; keep the aspect ratio from the viewBox.
    text = _SIZE.sub(r'<svg\1 width="100%" role="img" aria-label="' + _attr(description) + '"', text, count=1)
    return text.strip() + "\n"


def _png(figure: Any, dpi: int) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
