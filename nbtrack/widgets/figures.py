"""Pure functions from run data to plotly figures, and the output bundle that carries one.

Figures are plain ``go.Figure`` objects shown through an ``Output`` widget as
``application/vnd.plotly.v1+json`` (a few KB plus data), never ``FigureWidget``,
whose saved state carries all of plotly.js (about 5 MB) per figure. Arrays are
float32 so plotly serialises them as base64 (5 bytes per number, not ~18).
Every user string put in a figure is ``html.escape``d: plotly.js reads labels
as pseudo-HTML (``<a href>``, ``<b>``) and decodes entities back for display.

Example:
    >>> import numpy as np
    >>> from nbtrack.widgets.curves import RunCurve
    >>> c = RunCurve("id1", "a<b>", "FINISHED", np.arange(3), np.ones(3), 3, 1.0, 1.0, 1.0)
    >>> fig = curves_figure([c], "loss")
    >>> fig.data[0].name
    'a&lt;b&gt; · last 1 · min 1 · max 1'
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from ..render.colors import PALETTE, run_color
from ..render.numbers import format_number
from .curves import RunCurve
from .data import RunSet, lower_is_better

PLOTLY_MIME = "application/vnd.plotly.v1+json"
MAX_PARCOORDS_LINES = 1000  # beyond this a parallel-coordinates plot is a solid blur anyway
MAX_PARCOORDS_DIMS = 12
MAX_CATEGORIES = 40
MAX_SCATTER_POINTS = 2000

# A small explicit template instead of plotly's default (which adds ~8 KB per figure). It
# follows the page's theme: transparent backgrounds show JupyterLab's own (light, dark, high
# contrast), grid lines are translucent grey that reads on both, and the text colour is set
# by nbtrack's labextension from the theme's CSS variables (``.nbtrack-compare`` in
# style/base.css). Without the extension (nbconvert, VS Code) the text stays this dark grey.
THEME_TEMPLATE: dict[str, Any] = {"layout": {
    "font": {"family": "sans-serif", "size": 11, "color": "#333"},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "colorway": list(PALETTE),
    "hoverlabel": {"namelength": -1},
}}
_LAYOUT: dict[str, Any] = {
    "template": THEME_TEMPLATE,
    "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
    "height": 360,
}
_AXIS = {"gridcolor": "rgba(128,128,128,0.25)", "zeroline": False, "linecolor": "rgba(128,128,128,0.8)",
         "showline": True}


def esc(text: object, limit: int = 60) -> str:
    """A user string made safe for plotly's pseudo-HTML labels, cut to ``limit`` characters."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=False)  # plotly decodes &lt; &gt; &amp; but shows &quot; as is


_num = format_number


def curves_figure(curves: Sequence[RunCurve], metric: str, *, log_y: bool = False,
                  smoothing: float = 0.0) -> go.Figure:
    """Overlaid curves of ``metric`` over steps; each legend entry gives last, min and max."""
    fig = go.Figure(layout=_LAYOUT)
    if curves and all(len(c.steps) == 1 for c in curves):
        return _single_values_figure(curves, metric)
    for curve in curves:
        running = " (RUNNING)" if curve.status == "RUNNING" else ""
        # SVG traces, not Scattergl: each WebGL plot holds a GPU context that Chromium caps at
        # about 16, so redraws on every interaction blanked the oldest charts. The curves are
        # downsampled to a few thousand points, well within what SVG draws quickly.
        fig.add_trace(go.Scatter(
            x=curve.steps.astype(np.float64), y=curve.values.astype(np.float32),
            mode="lines+markers" if len(curve.steps) == 1 else "lines",
            line={"color": run_color(curve.run_id), "width": 1.5},
            marker={"color": run_color(curve.run_id)},
            name=f"{esc(curve.label, 40)}{running} · last {_num(curve.last)} · min {_num(curve.min)} "
                 f"· max {_num(curve.max)}",
            hovertemplate="%{fullData.name}<br>step %{x}<br>" + esc(metric, 40) + " %{y}<extra></extra>",
        ))
    sampled = any(len(c.steps) < c.total_points for c in curves)
    title = esc(metric, 80) + (f" · smoothed {smoothing:.2f}" if smoothing else "")
    if sampled:
        title += " · downsampled (min/max per bucket)"
    if not curves:
        title = f"no runs selected that logged {esc(metric, 60)}"
    fig.update_layout(title={"text": title, "font": {"size": 13}}, showlegend=True,
                      legend={"orientation": "h", "y": -0.2},
                      xaxis={**_AXIS, "title": {"text": "step"}},
                      yaxis={**_AXIS, "type": "log" if log_y else "linear"})
    return fig


def _single_values_figure(curves: Sequence[RunCurve], metric: str) -> go.Figure:
    """A metric logged once per run (an accuracy at the end) as one bar per run, not as lone
    dots on a step axis with a legend that repeats each value three times."""
    fig = go.Figure(layout=_LAYOUT)
    labels = [f"{esc(c.label, 30)} ({c.run_id[:6]})" for c in curves]
    fig.add_trace(go.Bar(
        x=labels, y=[float(c.values[0]) for c in curves],
        marker={"color": [run_color(c.run_id) for c in curves]},
        text=[format_number(float(c.values[0])) for c in curves], textposition="auto",
        hovertemplate="%{x}<br>" + esc(metric, 40) + " %{y}<extra></extra>", showlegend=False))
    fig.update_layout(title={"text": f"{esc(metric, 80)} · one value per run", "font": {"size": 13}},
                      xaxis={**_AXIS, "type": "category"}, yaxis={**_AXIS, "title": {"text": esc(metric, 40)}})
    return fig


def _evenly_by_rank(values: np.ndarray, limit: int) -> np.ndarray:
    """Row indices of at most ``limit`` runs: evenly spaced in metric rank, so best and worst stay."""
    order = np.argsort(values, kind="stable")
    if len(order) <= limit:
        return order
    return order[np.unique(np.linspace(0, len(order) - 1, limit).round().astype(np.int64))]


def param_dimension(label: str, raw: Sequence[Any]) -> dict[str, Any] | None:
    """A parcoords dimension for one param: numeric if every value is a number, else categorical
    (missing as "(none)"); None when it has over ``MAX_CATEGORIES`` categories."""
    numbers = []
    for value in raw:
        try:
            numbers.append(float(value))
        except (TypeError, ValueError):
            numbers = []
            break
    if numbers and all(math.isfinite(v) for v in numbers):
        return {"label": esc(label, 30), "values": np.array(numbers, dtype=np.float32)}
    texts = ["(none)" if v is None else str(v) for v in raw]
    categories = sorted(set(texts))
    if len(categories) > MAX_CATEGORIES:
        return None
    code = {c: i for i, c in enumerate(categories)}
    return {"label": esc(label, 30), "values": np.array([code[t] for t in texts], dtype=np.float32),
            "tickvals": list(range(len(categories))), "ticktext": [esc(c, 20) for c in categories]}


def parcoords_figure(runs: RunSet, metric: str | None, *, aggregate: str = "last") -> go.Figure:
    """Parallel coordinates of the params that vary across the runs, ending at ``metric``."""
    fig = go.Figure(layout=_LAYOUT)
    if metric is None or runs.size == 0:
        fig.update_layout(title={"text": "no metric to compare", "font": {"size": 13}})
        return fig
    values = runs.metric_values(metric, aggregate)
    have = np.flatnonzero(np.isfinite(values))
    rows = have[_evenly_by_rank(values[have], MAX_PARCOORDS_LINES)]
    dims = []
    for key in runs.param_keys:
        column = runs.table.params[key]
        picked = [column[i] for i in rows.tolist()]
        if len(set(picked)) <= 1:
            continue  # a param equal in every run says nothing here
        dim = param_dimension(key, picked)
        if dim is not None:
            dims.append(dim)
        if len(dims) == MAX_PARCOORDS_DIMS:
            break
    shown = values[rows].astype(np.float32)
    dims.append({"label": esc(f"{metric} ({aggregate})", 30), "values": shown})
    scale = "Viridis_r" if lower_is_better(metric) else "Viridis"
    fig.add_trace(go.Parcoords(dimensions=dims, line={"color": shown, "colorscale": scale,
                                                      "showscale": True}))
    title = f"params vs {esc(metric, 50)}: {len(rows):,} runs"
    if len(rows) < len(have):
        title += f" of {len(have):,} (evenly sampled by rank)"
    if len(dims) == 1:
        title += " · no param varies"
    fig.update_layout(title={"text": title, "font": {"size": 13}}, margin={"l": 60, "r": 60, "t": 80})
    return fig


def scatter_figure(runs: RunSet, param: str | None, metric: str | None, *, aggregate: str = "last",
                   selected: Sequence[str] = ()) -> go.Figure:
    """One param against one metric over the runs, selected runs drawn on top in red."""
    fig = go.Figure(layout=_LAYOUT)
    if param is None or metric is None or runs.size == 0:
        fig.update_layout(title={"text": "pick a param and a metric", "font": {"size": 13}})
        return fig
    values = runs.metric_values(metric, aggregate)
    raw = runs.table.params.get(param, [None] * runs.size)
    have = np.flatnonzero(np.isfinite(values) & np.array([v is not None for v in raw], dtype=bool))
    rows = have[_evenly_by_rank(values[have], MAX_SCATTER_POINTS)]
    known, plotted = set(runs.run_ids), set(have.tolist())
    chosen = {runs.index_of(r) for r in selected if r in known}
    chosen_rows = np.array(sorted(chosen & plotted), dtype=np.int64)
    dim = param_dimension(param, [raw[i] for i in have.tolist()])
    numeric = dim is not None and "ticktext" not in dim

    def xs(indices: np.ndarray) -> Any:
        if numeric:
            return np.array([float(raw[i]) for i in indices.tolist()], dtype=np.float32)
        return [esc(raw[i], 30) for i in indices.tolist()]

    names = runs.names
    for indices, label, style in ((rows, "runs", {"size": 6, "opacity": 0.6}),
                                  (chosen_rows, "selected", {"size": 10, "color": "#d62728"})):
        fig.add_trace(go.Scatter(
            x=xs(indices), y=values[indices].astype(np.float32), mode="markers", name=label,
            marker=style, text=[esc(names[i], 40) for i in indices.tolist()],
            hovertemplate="%{text}<br>" + esc(param, 30) + " %{x}<br>" + esc(metric, 30)
                          + " %{y}<extra></extra>"))
    title = f"{esc(metric, 40)} ({aggregate}) vs {esc(param, 40)}: {len(rows):,} runs"
    if len(rows) < len(have):
        title += f" of {len(have):,}"
    fig.update_layout(title={"text": title, "font": {"size": 13}},
                      xaxis={**_AXIS, "title": {"text": esc(param, 40)},
                             "type": "linear" if numeric else "category"},
                      yaxis={**_AXIS, "title": {"text": esc(metric, 40)}})
    return fig


def figure_output(fig: go.Figure) -> dict[str, Any]:
    """An nbformat ``display_data`` output carrying ``fig`` as plotly JSON (base64 arrays)."""
    spec = json.loads(pio.to_json(fig, validate=False))
    return {"output_type": "display_data", "metadata": {},
            "data": {PLOTLY_MIME: spec, "text/plain": f"<plotly figure: {len(fig.data)} traces>"}}
