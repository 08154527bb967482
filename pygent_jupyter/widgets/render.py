"""Markdown to safe HTML, and plotly figures to a static, theme-following SVG.

Raw HTML in Markdown is escaped, code is highlighted with CSS classes (coloured by
:mod:`._style` from JupyterLab's editor variables, so both themes read well).
:func:`figure_svg` draws a figure's scatter traces as an inline SVG with axes and tick
labels: the static fallback a saved notebook shows when there is no kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import mistune
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from ._base import esc

__all__ = ["CODE_CSS", "figure_svg", "markdown_html", "nice_ticks"]

_FORMATTER = HtmlFormatter(nowrap=False, cssclass="pygent-code")
CODE_CSS = ""
"""Kept for compatibility: code colours now come from the widgets' shared stylesheet."""

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
_FG = "var(--jp-ui-font-color1, #1f1f1f)"
_GRID = "var(--jp-border-color2, #e0e0e0)"


class _Renderer(mistune.HTMLRenderer):
    def block_code(self, code: str, info: str | None = None) -> str:
        lang = (info or "").strip().split(" ")[0]
        try:
            lexer: Any = get_lexer_by_name(lang) if lang else TextLexer()
        except ClassNotFound:
            lexer = TextLexer()
        return str(highlight(code, lexer, _FORMATTER))


_MD = mistune.create_markdown(
    renderer=_Renderer(escape=True), plugins=["strikethrough", "table", "url"]
)


@lru_cache(maxsize=2048)
def markdown_html(text: str) -> str:
    """Render Markdown to HTML. Raw HTML in ``text`` is escaped, never interpreted."""
    return str(_MD(text))


def split_blocks(text: str) -> tuple[list[str], str]:
    """Split streamed Markdown into finished blocks and the unfinished tail.

    A block ends at a blank line outside a fenced code block; only the tail can still change
    as tokens arrive, so finished blocks are rendered once (``markdown_html`` caches them).
    """
    blocks: list[str] = []
    start = 0
    fence = False
    pos = 0
    lines = text.split("\n")
    for line in lines[:-1]:  # the last line may be incomplete
        stripped = line.lstrip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            fence = not fence
        pos += len(line) + 1
        if not fence and not line.strip():
            chunk = text[start:pos]
            if chunk.strip():
                blocks.append(chunk)
            start = pos
    return blocks, text[start:]


def markdown_stream_html(text: str) -> str:
    """Markdown of a streaming answer: finished blocks from the cache, only the tail re-rendered."""
    blocks, tail = split_blocks(text)
    return "".join(markdown_html(b) for b in blocks) + markdown_html(tail)


# -- static charts -------------------------------------------------------------------------


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi] (1, 2, 2.5 or 5 times 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _ticks(lo: float, hi: float, count: int, *, integer: bool = False) -> list[float]:
    """Round ticks; whole numbers only when ``integer`` (generations, depths)."""
    ticks = nice_ticks(lo, hi, count)
    if integer:
        step = max(1, round((hi - lo) / max(1, count)))
        ticks = [float(v) for v in range(math.ceil(lo), math.floor(hi) + 1, step)]
    return ticks


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 100 or v == int(v):
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _as_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, datetime):
        return v.timestamp()
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v).timestamp()
        except ValueError:
            return None
    return None


def _trace_color(trace: Any, index: int) -> str:
    for path in ("line", "marker"):
        part = getattr(trace, path, None)
        color = getattr(part, "color", None) if part is not None else None
        if isinstance(color, str):
            return color
    return PALETTE[index % len(PALETTE)]


def _viridis(v: float, lo: float, hi: float) -> str:
    """A colour on a 3-stop viridis-like scale for ``v`` in [lo, hi]."""
    t = 0.5 if hi <= lo else min(1.0, max(0.0, (v - lo) / (hi - lo)))
    stops = ((68, 1, 84), (33, 145, 140), (253, 231, 37))
    seg = 0 if t < 0.5 else 1
    f = t * 2 - seg
    a, b = stops[seg], stops[seg + 1]
    r, g, bl = (round(a[j] + (b[j] - a[j]) * f) for j in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def figure_svg(
    fig: Any,
    *,
    width: int = 640,
    panel_height: int = 150,
    title: str = "",
    radius: float = 3,
) -> str:
    """An inline SVG of ``fig``'s scatter traces: one panel per y axis, ticks, legend.

    Colours of text and grid are JupyterLab variables (with light fallbacks), so the
    static image follows the theme like the live one. Times (datetime x) are labelled
    ``HH:MM:SS``. Traces without data are left out; an empty figure gives ``""``.
    """
    panels: dict[str, list[tuple[str, str, list[tuple[float, float] | None], str]]] = {}
    is_time = False
    fixed: dict[str, tuple[float, float]] = {}
    per_point: dict[str, list[str]] = {}
    integer_y: set[str] = set()
    for i, trace in enumerate(fig.data):
        xs = list(trace.x or [])
        ys = list(trace.y or [])
        if not ys:
            continue
        if not xs:
            xs = list(range(len(ys)))
        pts: list[tuple[float, float] | None] = []
        for x, y in zip(xs, ys, strict=False):
            fx, fy = _as_float(x), _as_float(y)
            if fx is not None and fy is not None:
                pts.append((fx, fy))
                is_time = is_time or isinstance(x, (datetime, str))
            else:
                pts.append(None)  # a gap (plotly draws edges as segments split by None)
        if not any(pts):
            continue
        axis = str(getattr(trace, "yaxis", None) or "y")
        host = fig.layout[f"yaxis{axis[1:]}"] if axis != "y" else fig.layout.yaxis
        overlay = getattr(host, "overlaying", None)
        key = str(overlay) if overlay else axis
        if getattr(host, "dtick", None) == 1:
            integer_y.add(key)
        if not overlay and getattr(host, "range", None) and key not in fixed:
            fixed[key] = (float(host.range[0]), float(host.range[1]))
        mode = str(trace.mode or "lines")
        marker = getattr(trace, "marker", None)
        values = getattr(marker, "color", None) if marker is not None else None
        if (
            isinstance(values, (list, tuple))
            and values
            and all(isinstance(v, (int, float)) for v in values)
        ):
            lo = float(getattr(marker, "cmin", None) or min(values))
            hi = float(getattr(marker, "cmax", None) or max(values))
            per_point[str(trace.name or f"trace {i}")] = [_viridis(v, lo, hi) for v in values]
        panels.setdefault(key, []).append((str(trace.name or f"trace {i}"), mode, pts, ""))
        panels[key][-1] = (*panels[key][-1][:3], _trace_color(trace, i))
    if not panels:
        return ""
    left, right, top, gap, bottom = 48, 12, 22 if title else 8, 18, 34
    height = top + len(panels) * (panel_height + gap) + bottom
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='pygent-svg-chart' role='img' "
        f"viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
        f"aria-label='{esc(title or 'chart')}'>"
    ]
    if title:
        out.append(
            f"<text x='{left}' y='14' style='fill:{_FG};font-size:12px;font-weight:600'>"
            f"{esc(title)}</text>"
        )
    all_x = [p[0] for series in panels.values() for _, _, pts, _ in series for p in pts if p]
    flip = getattr(fig.layout.yaxis, "autorange", None) == "reversed"
    x0, x1 = min(all_x), max(all_x)
    if x1 <= x0:
        x1 = x0 + 1
    plot_w = width - left - right

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    legend: list[tuple[str, str]] = []
    for p_index, (key, series) in enumerate(panels.items()):
        ptop = top + p_index * (panel_height + gap)
        ys = [p[1] for _, _, pts, _ in series for p in pts if p]
        y0, y1 = fixed.get(key, (min(ys), max(ys)))
        if y1 <= y0:
            y0, y1 = y0 - 1, y1 + 1
        ticks = _ticks(y0, y1, 4, integer=key in integer_y)
        if ticks:
            y0, y1 = min(y0, ticks[0]), max(y1, ticks[-1])

        def sy(y: float, ptop: float = ptop, y0: float = y0, y1: float = y1) -> float:
            frac = (y - y0) / (y1 - y0)
            return ptop + (frac if flip else 1 - frac) * panel_height

        for t in ticks:
            y = sy(t)
            out.append(
                f"<line x1='{left}' x2='{width - right}' y1='{y:.1f}' y2='{y:.1f}' "
                f"style='stroke:{_GRID}'/>"
            )
            out.append(
                f"<text x='{left - 4}' y='{y + 4:.1f}' text-anchor='end' "
                f"style='fill:{_FG};font-size:11px'>{esc(_fmt(t))}</text>"
            )
        for name, mode, pts, color in series:
            legend.append((name, color))
            segments: list[list[tuple[float, float]]] = [[]]
            for p in pts:
                if p is None:
                    segments.append([])
                else:
                    segments[-1].append(p)
            points = [p for p in pts if p]
            if "lines" in mode:
                for seg in segments:
                    if len(seg) > 1:
                        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in seg)
                        out.append(
                            f"<polyline fill='none' points='{path}' "
                            f"style='stroke:{color};stroke-width:1.6'/>"
                        )
            if "markers" in mode or len(points) == 1:
                shades = per_point.get(name)
                start = max(0, len(points) - 200)
                for k, (x, y) in enumerate(points[start:], start):
                    fill = shades[k] if shades and k < len(shades) else color
                    out.append(
                        f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='{radius}' "
                        f"style='fill:{fill};stroke:{_FG};stroke-width:0.5'/>"
                    )
    base = top + len(panels) * (panel_height + gap) - gap
    xaxis = fig.layout.xaxis
    x_ticks = [] if xaxis.visible is False else _ticks(x0, x1, 6, integer=xaxis.dtick == 1)
    for t in x_ticks:
        if not x0 <= t <= x1:
            continue
        label = datetime.fromtimestamp(t).strftime("%H:%M:%S") if is_time else _fmt(t)
        out.append(
            f"<text x='{sx(t):.1f}' y='{base + 14}' text-anchor='middle' "
            f"style='fill:{_FG};font-size:11px'>{esc(label)}</text>"
        )
    x = left
    for name, color in legend[:8]:
        out.append(
            f"<rect x='{x}' y='{height - 12}' width='10' height='10' "
            f"style='fill:{color}'/><text x='{x + 14}' y='{height - 3}' "
            f"style='fill:{_FG};font-size:11px'>{esc(name)}</text>"
        )
        x += 24 + 7 * len(name)
    out.append("</svg>")
    return "".join(out)


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A themed, scrollable HTML table (cells are escaped)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return (
        f"<div class='pygent-table-wrap'><table class='pygent-table'><tr>{head}</tr>"
        f"{body}</table></div>"
    )


def theme_figure(fig: Any, *, height: int) -> Any:
    """Make a ``FigureWidget`` follow the JupyterLab theme and the output's width.

    Backgrounds are transparent and text/grid colours come from the shared stylesheet
    (see :mod:`._style`); no fixed width, so plotly fills the output and resizes with it.
    """
    from ._style import PLOT_CLASS

    fig.update_layout(
        template="plotly_white",
        autosize=True,
        height=height,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    fig.add_class(PLOT_CLASS)
    if hasattr(fig, "layout") and getattr(fig, "_config", None) is not None:
        fig._config = {**(fig._config or {}), "responsive": True}
    return fig
