"""The static half of a comparison: self-contained HTML that reads without a kernel.

It is the ``text/html`` of the comparison's display bundle, which is what
nbconvert, GitHub and any viewer without the widget manager show. It holds an
inline SVG of the metric curves (see ``svg.py``) and the first rows of the
runs table in the view's order, best values marked. No ``<script>``, no
``<style>``, no external reference; every user string is escaped.

Example:
    >>> import nbtrack, tempfile
    >>> from nbtrack.widgets.data import load_runs
    >>> from nbtrack.widgets.table import TableOptions, build_table
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> with nbtrack.start_run(run_name="<script>alert(1)</script>"):
    ...     nbtrack.log_metric("loss", 1.0)
    >>> runs = load_runs()
    >>> page = static_html(runs, build_table(runs, TableOptions()), [], "loss")
    >>> "<script>" in page, "&lt;script&gt;" in page
    (False, True)
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..render import theme
from ..render.colors import run_color
from .curves import RunCurve
from .data import RunSet
from ..render.downsample import minmax_downsample
from .svg import Curve, line_chart
from .table import TableView, column_note, render_html

STATIC_ROWS = 50  # rows in the saved table; the DataFrame (cmp.df) has them all
STATIC_POINTS = 300  # per curve in the saved picture: enough for its 460 px of width


def describe_query(runs: RunSet) -> str:
    """"filter: metrics.acc > 0.9 · experiment: x", or "all runs" (unescaped)."""
    parts = []
    for key in ("filter", "experiment", "runs"):
        value = runs.query.get(key)
        if value:
            # Run ids shortened: four 32-character ids make an unreadable first line.
            shown = value if isinstance(value, str) else ", ".join(
                str(v)[:8] if key == "runs" else str(v) for v in value)
            parts.append(f"{key}: {shown[:200]}")
    return " · ".join(parts) or "all runs"


def static_html(runs: RunSet, view: TableView, curves: Sequence[RunCurve], metric: str | None, *,
                log_y: bool = False, selected: frozenset[str] = frozenset(),
                max_rows: int = STATIC_ROWS, title: str | None = None, in_notebook: bool = True) -> str:
    """The comparison as one escaped HTML fragment: a summary line, the curves as SVG, the table.

    ``title`` replaces the summary line's "nbtrack comparison"; ``in_notebook=False`` (a
    standalone page) leaves out the note about re-running the cell."""
    out = ["<div class='nbtrack-compare-static' style='font-family:sans-serif;font-size:12px'>"]
    count = f"{runs.size:,} run{'s' if runs.size != 1 else ''}"
    summary = f"{title} · {count}" if title else f"nbtrack comparison · {count} · {describe_query(runs)}"
    if metric:
        summary += f" · metric: {metric}"
    out.append(f"<div style='margin:4px 0'><b>{html.escape(summary)}</b></div>")
    if runs.size == 0:
        out.append("<div><i>No runs match. Track a cell with %%track, or loosen the filter.</i></div></div>")
        return "".join(out)
    if metric:
        shown = []
        for curve in curves:
            steps, values = minmax_downsample(curve.steps, curve.values, STATIC_POINTS)
            shown.append(Curve(curve.label, steps, values, run_color(curve.run_id)))
        title = f"{metric} over steps · {len(curves)} selected run{'s' if len(curves) != 1 else ''}"
        out.append(line_chart(shown, metric, log_y=log_y, title=title))
    else:
        out.append("<div><i>These runs logged no metrics.</i></div>")
    rows = view.order[:max_rows]
    out.append(render_html(runs, view, rows, selected=selected))
    notes = []
    if runs.size > len(rows):
        notes.append(f"first {len(rows):,} of {runs.size:,} runs shown")
    note = column_note(view)
    if note:
        notes.append(note)
    if in_notebook:
        notes.append("saved view; run the cell again for the interactive one")
    out.append(f"<div style='color:{theme.MUTED};margin-top:4px'>{html.escape(' · '.join(notes))}</div></div>")
    return "".join(out)
