"""A static line chart drawn as SVG text: the picture that survives without a kernel.

Why hand-drawn: kaleido 1.x renders by driving a Chrome, which a reader's
machine, a CI job or nbconvert may not have, and it takes seconds to start.
A line chart of a few downsampled curves is ~100 lines of SVG arithmetic,
costs milliseconds, and has no dependency. The output is plain SVG (no
script, no external reference), with every label escaped.

Example:
    >>> import numpy as np
    >>> svg = line_chart([Curve("run <1>", np.arange(3), np.array([3.0, 2.0, 1.0]))], "loss")
    >>> svg.startswith("<svg") and "run &lt;1&gt;" in svg and "<script" not in svg
    True
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..render.colors import PALETTE
from ..render.numbers import format_number

# Colours follow the page: JupyterLab's theme variables where they exist (light, dark, high
# contrast), a light-theme fallback elsewhere (nbconvert, GitHub). Text takes ``currentColor``.
TEXT = "var(--jp-ui-font-color1, #222)"
MUTED = "var(--jp-ui-font-color2, #555)"
GRID = "rgba(128,128,128,0.25)"
FRAME = "rgba(128,128,128,0.8)"


@dataclass
class Curve:
    """One line: ``color`` is the run's colour (``nbtrack.render.run_color``)."""

    label: str
    steps: np.ndarray
    values: np.ndarray
    color: str = PALETTE[0]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick positions covering [low, high]: steps of 1, 2 or 5 times a power of ten.

    Example:
        >>> nice_ticks(0, 0.93)
        [0.0, 0.2, 0.4, 0.6000000000000001, 0.8]
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _fmt(value: float) -> str:
    return format_number(value)


def line_chart(curves: Sequence[Curve], metric: str, *, log_y: bool = False,
               width: int = 720, height: int = 320, title: str | None = None) -> str:
    """An SVG line chart of ``curves`` (one colour each) with axes, ticks and a legend
    giving each curve's last, min and max. Empty input gives a chart saying so."""
    left, right, top, bottom = 64, 250, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    title = metric if title is None else title
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
              f'viewBox="0 0 {width} {height}" class="nbtrack-plot" role="img" '
              f'font-family="sans-serif" font-size="11" fill="currentColor" style="color:{TEXT}">'),
             f'<text x="{left}" y="16" font-size="13" font-weight="bold">{html.escape(title[:90])}</text>']
    prepared = []
    for curve in curves:
        values = np.asarray(curve.values, dtype=float)
        steps = np.asarray(curve.steps, dtype=float)
        if log_y:
            values = np.where(values > 0, values, np.nan)
        prepared.append((curve, steps, values))
    finite = [v[np.isfinite(v)] for _, _, v in prepared]
    all_values = np.concatenate(finite) if finite else np.empty(0)
    all_steps = np.concatenate([s for _, s, _ in prepared]) if prepared else np.empty(0)
    if all_values.size == 0:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
                     f'style="fill:{MUTED}">no values of {html.escape(metric[:60])} to plot</text></svg>')
        return "".join(parts)
    y_lo, y_hi = float(all_values.min()), float(all_values.max())
    if log_y:
        y_lo, y_hi = math.log10(y_lo), math.log10(y_hi)
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    pad = (y_hi - y_lo) * 0.05
    y_lo, y_hi = y_lo - pad, y_hi + pad
    x_lo, x_hi = float(all_steps.min()), float(all_steps.max())
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1

    def sx(x: np.ndarray | float) -> np.ndarray | float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def sy(y: np.ndarray | float) -> np.ndarray | float:
        y = np.log10(y) if log_y else y
        return top + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h

    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
                 f'stroke="{FRAME}"/>')
    for tick in nice_ticks(y_lo, y_hi, 6):
        y = top + plot_h - (tick - y_lo) / (y_hi - y_lo) * plot_h
        label = _fmt(10 ** tick) if log_y else _fmt(tick)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for tick in nice_ticks(x_lo, x_hi, 6):
        x = sx(tick)
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{_fmt(tick)}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">step</text>')
    for index, (curve, steps, values) in enumerate(prepared):
        color = curve.color
        finite = np.isfinite(values)
        xs = np.asarray(sx(steps), dtype=float)
        # NaN (and, on a log axis, values <= 0) break the line: map them anywhere, then blank them.
        ys = np.asarray(sy(np.where(finite, values, 1.0)), dtype=float)
        ys[~finite] = np.nan
        parts.append(_path(xs, ys, color))
        legend_y = top + 10 + index * 30
        if legend_y > height - 20:
            parts.append(f'<text x="{width - right + 12}" y="{legend_y}" style="fill:{MUTED}">'
                         f'+{len(prepared) - index} more</text>')
            break
        raw = np.asarray(curve.values, dtype=float)
        ok = raw[np.isfinite(raw)]
        stats = (f"last {_fmt(ok[-1])} min {_fmt(ok.min())} max {_fmt(ok.max())}" if ok.size
                 else "no finite values")
        label = curve.label if len(curve.label) <= 34 else curve.label[:33] + "…"
        parts.append(f'<rect x="{width - right + 12}" y="{legend_y - 8}" width="10" height="10" '
                     f'fill="{color}"/><text x="{width - right + 26}" y="{legend_y}">'
                     f'{html.escape(label)}</text><text x="{width - right + 26}" y="{legend_y + 12}" '
                     f'style="fill:{MUTED}">{stats}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _path(xs: np.ndarray, ys: np.ndarray, color: str) -> str:
    """A polyline broken at NaN; lone points (a one-step metric) become dots."""
    segments: list[list[str]] = [[]]
    for x, y in zip(xs.tolist(), ys.tolist()):
        if math.isnan(y):
            segments.append([])
        else:
            segments[-1].append(f"{x:.1f},{y:.1f}")
    out = []
    for points in segments:
        if len(points) == 1:
            x, y = points[0].split(",")
            out.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>')
        elif points:
            out.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" '
                       f'stroke-width="1.5"/>')
    return "".join(out)
