"""Charts for the HTML and Word reports: first the data a chart shows, then that data drawn.

A chart is a small frozen value (:class:`StatusBars`, :class:`IndicatorTrend`) built from
a report: the one definition of what a chart shows, drawn in two ways. :func:`svg` draws
it by hand as inline SVG for the HTML page (and the PDF printed from it), for speed: a
report holds a chart per indicator, and matplotlib takes a few tenths of a second a
chart, this well under a millisecond. :func:`png` draws it with matplotlib as a PNG image
for documents that hold no SVG (Word's): at a fixed resolution (:data:`PNG_DPI`) and
without the chunk that names the software, so its bytes depend only on the chart (for a
given matplotlib, FreeType and set of fonts). matplotlib is imported by :func:`png` only.

The SVG looks like the PNG: the same sizes, colours, fonts and quarter labels
(:data:`LEVEL_LABELS`), "nice" y ticks as matplotlib picks them. No font is measured: the
layout (:func:`layout`) estimates the width of each text generously (:func:`text_width`),
and places the labels by those estimates, so that no two quarter labels overlap with any
of the faces named. The SVG is byte-for-byte deterministic, holds no ids, keeps its text as
SVG text in the :data:`FONT_FACES` (the reader's browser draws and shapes it with its own
fonts) and refers to nothing outside itself.
"""

from __future__ import annotations

import functools
import io
import math
import re
import unicodedata
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

# The faces text is set in, Latin first, then a face for each script a report may hold: Khmer,
# Thai, Arabic, Devanagari, CJK. Noto families (Debian/Ubuntu: fonts-noto-core, fonts-noto-cjk),
# Khmer OS (fonts-khmeros), and those that come with Windows and macOS. The SVG names this list,
# so that the reader's browser draws and shapes the text with its own fonts; matplotlib takes each
# glyph of a PNG chart from the first installed face that has it. The HTML page's font stack is
# this list too (tracker.render.html.FONT_STACK).
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

# matplotlib settings (rcParams) for every PNG chart.
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


# Quarter labels: level up to this many, then upright (a label's width is then one line's height),
# and past twice as many only every n-th quarter is labelled, so that no two labels overlap.
LEVEL_LABELS = 10
UPRIGHT_LABELS = 24


def label_every(count: int) -> int:
    """Of ``count`` quarters, every n-th is labelled: n (see :data:`UPRIGHT_LABELS`)."""
    return max(1, -(-count // UPRIGHT_LABELS))  # ceiling division


# The SVG, drawn by hand -------------------------------------------------------------------------
#
# Lengths are points (1/72 inch), as matplotlib's are at 72 dots per inch: the sizes of the
# PNG charts' figures, their font sizes, tick lengths and paddings.

STATUS_SIZE = (540.0, 230.4)  # width, height of the status chart: 7.5 by 3.2 inches
TREND_SIZE = (432.0, 172.8)  # of an indicator's chart: 6 by 2.4 inches
FONT_SIZE = 9.0  # tick labels and axis labels
TITLE_SIZE = 10.0  # the title, bold
SMALL_SIZE = 8.0  # the legend, the value labels, the target's label
PAD = 6.0  # between the drawing and the edges of the chart
TICK = 3.5  # a tick's length
TICK_PAD = 3.5  # between a tick and its label
LABEL_PAD = 4.0  # between the y tick labels and the axis label
TITLE_PAD = 6.0  # between the title and the plot
POINT_PAD = 6.0  # between a point and its value label
SIDE_PAD = 4.0  # between the plot and the legend or the target's label
SWATCH = (16.0, 5.6)  # a legend entry's patch of colour
SWATCH_PAD = 6.4  # between the patch and its label
AXIS_COLOUR = "#555555"

# Vertical metrics of the Latin faces, in em, and the height a line of text is given (with room).
ASCENT = 0.76
DESCENT = 0.24
LINE = 1.2
MIDDLE = 0.35  # from the baseline up to the middle of digits and lowercase letters
BOLD = 1.12  # bold text is this much wider

FONT_FAMILY = ", ".join([*(f"'{face}'" if " " in face else face for face in FONT_FACES), "sans-serif"])


@functools.cache
def _advance(character: str) -> float:
    """A generous estimate of how far ``character`` moves the pen on, in em.

    At least DejaVu Sans's advance (the widest of the Latin faces named first) for ASCII
    letters, digits and signs, in bold too; marks and joiners take no room of their own; wide East Asian
    characters a full em; any other character (Khmer, Thai, Arabic...) nine tenths of one.
    """
    if unicodedata.category(character) in ("Mn", "Me", "Cf"):
        return 0.0
    if unicodedata.east_asian_width(character) in ("W", "F") or character in "mwMW%&#@~<>=+":
        return 1.0
    if not character.isascii():
        return 0.9
    if character.isdigit():
        return 0.64
    if character.isupper():
        return 0.8
    if character.islower():
        return 0.64
    return 0.32 if character == " " else 0.6


def text_width(text: str, size: float, bold: bool = False) -> float:
    """How wide ``text`` set at ``size`` is taken to be: generously, as no font is measured."""
    return sum(_advance(character) for character in text) * size * (BOLD if bold else 1.0)


@dataclass(frozen=True)
class Box:
    """A rectangle of the chart, y down from its top: where a text is taken to lie."""

    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class Label:
    """A text of the chart: its anchor point (on the baseline), alignment and estimated extent."""

    text: str
    x: float
    y: float
    size: float
    anchor: str  # SVG text-anchor: start, middle or end
    box: Box
    upright: bool = False  # turned a quarter anticlockwise about its anchor: reads upwards


@dataclass(frozen=True)
class Layout:
    """Where the parts of a chart go: its size, its plot and y scale, its labels."""

    width: float
    height: float
    plot: Box
    low: float  # the value at the bottom of the plot
    high: float  # at its top
    centres: tuple[float, ...]  # x of each quarter
    slot: float  # the width each quarter has
    quarter_labels: tuple[Label | None, ...]  # a label a quarter; None: the quarter is not labelled
    ticks: tuple[tuple[float, Label], ...]  # y and label of each y tick
    title: tuple[Label, ...]  # a label a line
    axis_label: Label

    def y(self, value: float) -> float:
        return _y(self.plot, self.low, self.high, value)


def layout(chart: Chart) -> Layout:
    """Where the parts of ``chart`` go: the plot as large as its labels leave room for.

    Quarter labels are level when there are at most :data:`LEVEL_LABELS` and each fits the
    width of its quarter, else upright; upright, only every n-th quarter is labelled when
    there are more than :data:`UPRIGHT_LABELS`, or when they would not fit one a quarter.
    A long title is wrapped at spaces, each line adding to the height of the chart.
    """
    bars = isinstance(chart, StatusBars)
    width, height = STATUS_SIZE if bars else TREND_SIZE
    low, high = _value_range(chart)
    count = max(len(chart.quarters), 1)
    widest = max((text_width(q, FONT_SIZE) for q in chart.quarters), default=0.0)
    right = width - PAD - max(_side_room(chart), widest / 2)
    top = PAD + TITLE_SIZE * LINE + TITLE_PAD

    def plot_for(upright: bool) -> tuple[float, float, list[tuple[float, str]]]:
        """The left and bottom of the plot, and the y ticks, with quarter labels level or upright."""
        bottom = height - PAD - TICK - TICK_PAD - (widest if upright else FONT_SIZE * LINE)
        ticks = _y_ticks(low, high, bins=max(1, min(9, math.floor((bottom - top) / (2 * FONT_SIZE)))), integer=bars)
        labels = max(text_width(text, FONT_SIZE) for _, text in ticks)
        return max(PAD + FONT_SIZE * LINE + LABEL_PAD + labels + TICK_PAD + TICK, PAD + widest / 2), bottom, ticks

    left, bottom, ticks = plot_for(upright=False)
    upright = len(chart.quarters) > LEVEL_LABELS or widest > (right - left) / count
    if upright:
        left, bottom, ticks = plot_for(upright=True)
    lines = _wrap(chart.title, TITLE_SIZE, width - PAD - left)
    extra = (len(lines) - 1) * TITLE_SIZE * LINE
    plot = Box(left, top + extra, right, bottom + extra)
    slot = (right - left) / count
    centres = tuple(left + (i + 0.5) * slot for i in range(len(chart.quarters)))
    every = max(label_every(len(chart.quarters)), math.ceil(FONT_SIZE * LINE / slot)) if upright else 1
    return Layout(
        width=width,
        height=height + extra,
        plot=plot,
        low=low,
        high=high,
        centres=centres,
        slot=slot,
        quarter_labels=tuple(
            _quarter_label(quarter, x, plot.bottom, upright) if i % every == 0 else None
            for i, (quarter, x) in enumerate(zip(chart.quarters, centres))
        ),
        ticks=tuple(
            (y, _label(text, plot.left - TICK - TICK_PAD, y + MIDDLE * FONT_SIZE, FONT_SIZE, "end"))
            for value, text in ticks
            for y in [_y(plot, low, high, value)]
        ),
        title=tuple(
            # a line but the last keeps its space: the lines' texts make the title
            _label(line, plot.left, PAD + (ASCENT + (LINE - 1) / 2 + i * LINE) * TITLE_SIZE, TITLE_SIZE, bold=True)
            for i, line in enumerate(lines)
        ),
        axis_label=_label(
            chart.unit if isinstance(chart, IndicatorTrend) else "recommendations",
            PAD + (ASCENT + (LINE - 1) / 2) * FONT_SIZE,
            (plot.top + plot.bottom) / 2,
            FONT_SIZE,
            "middle",
            upright=True,
        ),
    )


def _y(plot: Box, low: float, high: float, value: float) -> float:
    return plot.bottom - (value - low) / (high - low) * (plot.bottom - plot.top)


def _value_range(chart: Chart) -> tuple[float, float]:
    """The values at the bottom and top of the plot: from 0 (or the lowest value) to a little above the highest."""
    if isinstance(chart, StatusBars):
        totals = [sum(counts) for counts in zip(*(stack.counts for stack in chart.stacks))]
        return 0.0, max(max(totals, default=0), 1) * 1.05
    tops = [value for _, value in chart.points] + ([] if chart.target is None else [chart.target])
    return min(0.0, *tops), max(max(tops), 1.0) * 1.2  # room above the highest point for its label


def _side_room(chart: Chart) -> float:
    """The room right of the plot: for the legend (the status chart) or the target's label."""
    if isinstance(chart, StatusBars):
        names = [text_width(stack.label, SMALL_SIZE) for stack in _legend_stacks(chart)]
        return SIDE_PAD + SWATCH[0] + SWATCH_PAD + max(names) if names else 0.0
    return 0.0 if chart.target is None else SIDE_PAD + text_width(_target_text(chart.target), SMALL_SIZE)


def _legend_stacks(chart: StatusBars) -> list[Stack]:
    """The statuses the legend names: those some quarter has (another would name nothing drawn)."""
    return [stack for stack in chart.stacks if any(stack.counts)]


def _target_text(target: float) -> str:
    return f"target {number(target)}"


def _y_ticks(low: float, high: float, bins: int, integer: bool) -> list[tuple[float, str]]:
    """Values and labels of "nice" ticks from ``low`` to ``high``, as matplotlib's MaxNLocator picks them.

    The smallest step of 1, 2, 2.5 or 5 times a power of ten that makes at most ``bins``
    intervals of the range (an integer step when ``integer``); a tick at each multiple of it.
    """
    raw = (high - low) / bins
    if integer:
        raw = max(raw, 1.0)
    scale = 10.0 ** math.floor(math.log10(raw))
    step = next(
        m * scale
        for m in (1, 2, 2.5, 5, 10)
        if m * scale >= raw * (1 - 1e-9) and (not integer or (m * scale).is_integer())
    )
    values = [i * step for i in range(math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9) + 1)]
    largest = max(abs(value) for value in values)
    if largest >= 1e9:  # a value's digits to that of the step, and no more
        digits = min(17, math.floor(math.log10(largest)) - math.floor(math.log10(step)) + 2)
        texts = [_exponent(f"{value:.{digits}g}") for value in values]
    else:  # as many decimals as the step has, on every label
        decimals = next((d for d in range(10) if abs(round(step, d) - step) <= step * 1e-9), 9)
        texts = [f"{value:.{decimals}f}" for value in values]
    return [(value, text.replace("-", "\u2212")) for value, text in zip(values, texts)]


def _exponent(text: str) -> str:
    """1e+100 as 1e100, 5e-07 as 5e-7."""
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if e else text


def _wrap(text: str, size: float, room: float) -> list[str]:
    """``text`` in lines at most ``room`` wide (a word longer than that alone on one), each line
    but the last ending in the space it was broken at."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and text_width(lines[-1] + word, size, bold=True) <= room:
            lines[-1] += word + " "
        else:
            lines.append(word + " ")
    lines[-1] = lines[-1][:-1]
    return lines


def _label(
    text: str, x: float, y: float, size: float, anchor: str = "start", upright: bool = False, bold: bool = False
) -> Label:
    """A label anchored at (``x``, ``y``), with the box it is taken to fill: its estimated width
    along the baseline, a line's height across it (upright: turned about the anchor)."""
    width = text_width(text, size, bold)
    start = {"start": 0.0, "middle": -width / 2, "end": -width}[anchor]  # along the baseline, from the anchor
    above, below = (ASCENT + (LINE - 1) / 2) * size, (DESCENT + (LINE - 1) / 2) * size
    if upright:
        box = Box(x - above, y - start - width, x + below, y - start)
    else:
        box = Box(x + start, y - above, x + start + width, y + below)
    return Label(text, x, y, size, anchor, box, upright)


def _quarter_label(quarter: str, x: float, bottom: float, upright: bool) -> Label:
    """A quarter's label under its tick: level and centred, or upright and ending at the tick."""
    top = bottom + TICK + TICK_PAD
    if upright:  # the baseline right of the tick, so that the line's height is centred on it
        return _label(quarter, x + (ASCENT - DESCENT) / 2 * FONT_SIZE, top, FONT_SIZE, "end", upright=True)
    return _label(quarter, x, top + (ASCENT + (LINE - 1) / 2) * FONT_SIZE, FONT_SIZE, "middle")


def svg(chart: Chart) -> str:
    """``chart`` as an SVG element that scales with the page, labelled with its title."""
    shape = layout(chart)
    plot = _bars(chart, shape) if isinstance(chart, StatusBars) else _trend(chart, shape)
    notes = _legend(chart, shape) if isinstance(chart, StatusBars) else _value_labels(chart, shape)
    elements = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(shape.width)} {_n(shape.height)}"'
        f' width="100%" role="img" aria-label="{_escape(chart.title)}"'
        f' font-family="{FONT_FAMILY}" font-size="{_n(FONT_SIZE)}">',
        f'<rect width="{_n(shape.width)}" height="{_n(shape.height)}" fill="#ffffff"/>',
        '<g class="plot">',
        *plot,
        "</g>",
        *_axes(shape),
        *notes,
        _text(shape.axis_label),
        _title(shape.title),
        "</svg>",
    ]
    return "\n".join(elements) + "\n"


def _bars(chart: StatusBars, shape: Layout) -> list[str]:
    """A bar per status and quarter, stacked bottom first; none for a count of 0."""
    drawn = []
    bottoms = [0] * len(chart.quarters)
    half = 0.35 * shape.slot
    for stack in chart.stacks:
        for x, bottom, count in zip(shape.centres, bottoms, stack.counts):
            if count:
                top, base = shape.y(bottom + count), shape.y(bottom)
                drawn.append(
                    f'<rect x="{_n(x - half)}" y="{_n(top)}" width="{_n(2 * half)}" height="{_n(base - top)}"'
                    f' fill="{stack.colour}" stroke="#ffffff" stroke-width="0.5"/>'
                )
        bottoms = [b + c for b, c in zip(bottoms, stack.counts)]
    return drawn


def _trend(chart: IndicatorTrend, shape: Layout) -> list[str]:
    """The line through the values (broken where a quarter has none), a dot at each, the target's dashed line."""
    points = {i: (shape.centres[i], shape.y(value)) for i, value in chart.points}
    path = " ".join(
        f"{'L' if i - 1 in points else 'M'}{_n(x)} {_n(y)}"
        for i, (x, y) in points.items()
        if i - 1 in points or i + 1 in points  # a point alone starts no line
    )
    drawn = (
        [f'<path d="{path}" fill="none" stroke="{VALUE_COLOUR}" stroke-width="1.8" stroke-linejoin="round"/>']
        if path
        else []
    )
    drawn += [f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{VALUE_COLOUR}"/>' for x, y in points.values()]
    if chart.target is not None:
        y = _n(shape.y(chart.target))
        drawn.append(
            f'<line x1="{_n(shape.plot.left)}" y1="{y}" x2="{_n(shape.plot.right)}" y2="{y}"'
            f' stroke="{TARGET_COLOUR}" stroke-width="1.2" stroke-dasharray="4.4 1.9"/>'
        )
    return drawn


def _axes(shape: Layout) -> list[str]:
    """The left and bottom axis lines, a tick at each y value and each quarter, and their labels."""
    plot = shape.plot
    return [
        f'<path d="M{_n(plot.left)} {_n(plot.top)} V{_n(plot.bottom)} H{_n(plot.right)}" fill="none"'
        f' stroke="{AXIS_COLOUR}" stroke-width="0.8"/>',
        *(
            f'<g class="y-tick">{_tick(plot.left - TICK, y, plot.left, y)}{_text(label)}</g>'
            for y, label in shape.ticks
        ),
        *(
            f'<g class="x-tick">{_tick(x, plot.bottom, x, plot.bottom + TICK)}{_text(label) if label else ""}</g>'
            for x, label in zip(shape.centres, shape.quarter_labels)
        ),
    ]


def _legend(chart: StatusBars, shape: Layout) -> list[str]:
    """Right of the plot, from its top: a patch of colour and the name of each status drawn."""
    stacks = _legend_stacks(chart)
    if not stacks:  # nothing drawn (no recommendation): no legend
        return []
    left = shape.plot.right + SIDE_PAD
    entries = []
    for i, stack in enumerate(stacks):
        middle = shape.plot.top + (i + 0.5) * SMALL_SIZE * LINE * 1.25
        name = _label(stack.label, left + SWATCH[0] + SWATCH_PAD, middle + MIDDLE * SMALL_SIZE, SMALL_SIZE)
        entries.append(
            f'<rect x="{_n(left)}" y="{_n(middle - SWATCH[1] / 2)}" width="{_n(SWATCH[0])}" height="{_n(SWATCH[1])}"'
            f' fill="{stack.colour}"/>{_text(name)}'
        )
    return [f'<g class="legend" font-size="{_n(SMALL_SIZE)}">', *entries, "</g>"]


def _value_labels(chart: IndicatorTrend, shape: Layout) -> list[str]:
    """Each value above its point; the target named right of its line (one line: no legend needed)."""
    labels = [
        _label(number(value), shape.centres[i], shape.y(value) - POINT_PAD, SMALL_SIZE, "middle")
        for i, value in chart.points
    ]
    drawn = [f'<g class="values" font-size="{_n(SMALL_SIZE)}">', *map(_text, labels), "</g>"]
    if chart.target is not None:
        y = shape.y(chart.target) + MIDDLE * SMALL_SIZE
        target = _label(_target_text(chart.target), shape.plot.right + SIDE_PAD, y, SMALL_SIZE)
        drawn.append(_text(target, f' font-size="{_n(SMALL_SIZE)}" fill="{TARGET_COLOUR}"'))
    return drawn


def _tick(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="#000000" stroke-width="0.8"/>'


def _text(label: Label, attributes: str = "") -> str:
    """``label`` as an SVG text element (with ``attributes``, already written out)."""
    x, y = _n(label.x), _n(label.y)
    if label.anchor != "start":
        attributes += f' text-anchor="{label.anchor}"'
    if label.upright:
        attributes += f' transform="rotate(-90 {x} {y})"'
    return f'<text x="{x}" y="{y}"{attributes}>{_escape(label.text)}</text>'


def _title(lines: tuple[Label, ...]) -> str:
    """The title, in bold at the top left: a text element, with a tspan a line when it takes more than one."""
    first = lines[0]
    style = f' font-size="{_n(TITLE_SIZE)}" font-weight="bold"'
    if len(lines) == 1:
        return _text(first, style)
    spans = "".join(f'<tspan x="{_n(line.x)}" y="{_n(line.y)}">{_escape(line.text)}</tspan>' for line in lines)
    return f'<text x="{_n(first.x)}" y="{_n(first.y)}"{style}>{spans}</text>'


def _n(value: float) -> str:
    """A length as written in the SVG: to a hundredth of a point, without trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# Characters XML does not allow (the single-line fields of a report refuse them anyway).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _escape(text: str) -> str:
    """``text`` as the content of an element or a quoted attribute."""
    text = _NOT_XML.sub("\ufffd", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# The PNG, drawn by matplotlib -------------------------------------------------------------------


def png(chart: Chart, dpi: int = PNG_DPI) -> bytes:
    """``chart`` as a PNG image, drawn by matplotlib, at ``dpi`` pixels per inch."""
    return _draw(chart, lambda figure: _png(figure, dpi))


def _draw(chart: Chart, save: Callable[[Any], T]) -> T:
    """Draw ``chart`` with matplotlib and return what ``save`` makes of the figure (inside the charts' settings).

    A glyph that no installed face has is drawn as a box by matplotlib (installing a face
    for the script is the remedy, see :data:`FONT_FACES`): its warning, one per glyph and
    process, says nothing more, so it is silenced here, and only here.
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
                _target_text(chart.target),
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


def _quarter_ticks(axes: Any, quarters: Sequence[str]) -> None:
    """A tick per quarter, labelled so that labels never overlap (see :data:`LEVEL_LABELS`)."""
    count = len(quarters)
    every = label_every(count)
    axes.set_xticks(range(count), [q if i % every == 0 else "" for i, q in enumerate(quarters)])
    if count > LEVEL_LABELS:
        axes.tick_params(axis="x", labelrotation=90)


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=72)
    FigureCanvasSVG(figure)
    return figure


def _png(figure: Any, dpi: int) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
