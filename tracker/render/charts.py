"""Charts for the HTML reports, as inline SVG made with matplotlib.

Byte-for-byte deterministic: no date or creator metadata, ids derived from a fixed
salt per chart (``svg.hashsalt``), text kept as SVG text (``svg.fonttype = none``) so
no font outlines depend on the fonts installed. matplotlib is imported here only, and
this module only by the HTML renderers. The SVG refers to nothing outside itself.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

from tracker.reports import IndicatorLine, StatusCounts
from tracker.vocab import Status

_PROLOGUE = re.compile(r"^.*?(?=<svg[\s>])", re.DOTALL)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_SIZE = re.compile(r'<svg([^>]*?) width="[^"]*" height="[^"]*"')

RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#555555",
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "legend.frameon": False,
    "path.simplify": False,
}


def _svg(figure, salt: str, description: str) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"tracker:{salt}"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = _METADATA.sub("", _PROLOGUE.sub("", buffer.getvalue(), count=1))
    # Scale with the page; keep the aspect ratio from the viewBox.
    svg = _SIZE.sub(r'<svg\1 width="100%" role="img" aria-label="' + _attr(description) + '"', svg, count=1)
    return svg.strip() + "\n"


def _attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


def _figure(width: float, height: float):
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=72)
    FigureCanvasSVG(figure)
    return figure


def status_bars(history: Sequence[StatusCounts], title: str) -> str:
    """Stacked bars: how many recommendations had each status at the end of each quarter."""
    import matplotlib

    from tracker.render import STATUS_COLOURS, label

    with matplotlib.rc_context(RC):
        figure = _figure(7.5, 3.2)
        axes = figure.add_subplot()
        positions = list(range(len(history)))
        bottoms = [0] * len(history)
        for status in Status:
            heights = [dict(h.counts)[status] for h in history]
            axes.bar(positions, heights, bottom=bottoms, color=STATUS_COLOURS[status], width=0.7,
                     label=label(status), edgecolor="white", linewidth=0.5)
            bottoms = [b + h for b, h in zip(bottoms, heights)]
        axes.set_xticks(positions, [str(h.quarter) for h in history],
                        rotation=45 if len(history) > 10 else 0, ha="right" if len(history) > 10 else "center")
        axes.set_ylabel("recommendations")
        axes.set_ylim(0, max(max(bottoms, default=0), 1) * 1.05)
        axes.yaxis.get_major_locator().set_params(integer=True)
        axes.set_title(title, loc="left")
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        figure.tight_layout()
        return _svg(figure, "status:" + title, title)


def indicator_line(indicator: IndicatorLine, salt: str) -> str | None:
    """The indicator's value per quarter (gaps where none was recorded) and its target; None without values."""
    import matplotlib

    from tracker.render import number

    points = [(i, p.value) for i, p in enumerate(indicator.series) if p.value is not None]
    if not points:
        return None
    with matplotlib.rc_context(RC):
        figure = _figure(6.0, 2.4)
        axes = figure.add_subplot()
        positions = list(range(len(indicator.series)))
        values = [float("nan") if p.value is None else p.value for p in indicator.series]
        axes.plot(positions, values, marker="o", color="#1f5f8b", linewidth=1.8, label="value")
        for x, y in points:
            axes.annotate(number(y), (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        tops = [y for _, y in points]
        if indicator.target is not None:
            axes.axhline(indicator.target, color="#b03a2e", linestyle="--", linewidth=1.2,
                         label=f"target {number(indicator.target)}")
            tops.append(indicator.target)
        low = min(0.0, *tops)
        axes.set_ylim(low, max(max(tops), 1.0) * 1.2)
        axes.set_xticks(positions, [str(p.quarter) for p in indicator.series])
        axes.set_xlim(-0.5, len(positions) - 0.5)
        axes.set_ylabel(indicator.unit)
        title = f"{indicator.name} ({indicator.unit})"
        axes.set_title(title, loc="left")
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        figure.tight_layout()
        return _svg(figure, "indicator:" + salt, title)
