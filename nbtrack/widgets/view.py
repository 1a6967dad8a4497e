"""The live comparison: ipywidgets controls over plotly figures, plus its static twin.

``Comparison`` owns the state (runs, table options, metric, selection) and
re-renders the parts a change touches. Plots are plain plotly figures placed
in ``Output`` widgets (see ``figures.py`` for why not ``FigureWidget``).
Its display bundle carries the live widget *and* a static HTML fallback.

Example:
    >>> import nbtrack, tempfile
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> for lr in (0.1, 0.2):
    ...     with nbtrack.start_run(run_name=f"lr={lr}"):
    ...         _ = nbtrack.log_param("lr", lr)
    ...         for step in range(3):
    ...             nbtrack.log_metric("loss", lr / (step + 1), step=step)
    >>> cmp = Comparison(load_runs(), metric="loss")
    >>> len(cmp.df), len(cmp.selected), sorted(cmp._repr_mimebundle_())
    (2, 2, ['application/vnd.jupyter.widget-view+json', 'application/vnd.nbtrack.compare.v1+json', 'text/html', 'text/plain'])
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import NbtrackError
from . import figures
from .controls import Controls
from .curves import RunCurve, load_curves
from .data import RunSet, load_runs
from .diff import run_diff_html
from .static import describe_query, static_html
from .table import TableOptions, build_table, column_note, render_html

if TYPE_CHECKING:
    import pandas as pd

COMPARE_MIME = "application/vnd.nbtrack.compare.v1+json"
DEFAULT_SELECTED = 5
MAX_CURVES = 20


class Comparison:
    """One comparison view. ``.df`` is its DataFrame (table order), ``.selected`` its run ids."""

    def __init__(self, runs: RunSet, metric: str | None = None, *, selected: Sequence[str] | None = None,
                 page_size: int = 20, live: bool = True) -> None:
        self.runs = runs
        self.metric = metric if metric in runs.metric_keys else _default_metric(runs)
        # "Differences only" starts on: with many params and tags (nbtrack adds platform and
        # package tags to every %%track run) the columns that differ are what a comparison is for.
        self.options = TableOptions(sort_by=f"metrics.{self.metric}" if self.metric else None,
                                    page_size=page_size, differences_only=True)
        self.log_y = False
        self.smoothing = 0.0
        self.full_series = False
        self.param = _default_param(runs)
        self.curves: list[RunCurve] = []
        self.figures: dict[str, Any] = {}
        self._shown_in: int | None = None
        self._follow_ups: dict[str, bool] = {}  # parts a click redraws after the curves
        self._follow_up_handle: Any = None
        self.view = build_table(runs, self.options)
        self._selected = self._default_selection(selected)
        # Without a live frontend no widget is created at all: nbclient saves the state of every
        # widget a kernel opens, and nbconvert then prefers the (unrenderable) widget view.
        self.ui: Controls | None = Controls(self) if live else None
        self.widget: w.VBox | None = self.ui.root if self.ui else None
        self.render()

    # --- public API -----------------------------------------------------------------------

    @property
    def df(self) -> pd.DataFrame:
        """The runs shown, in the table's order, as ``search_runs`` returns them."""
        return self.runs.frame.iloc[self.view.order].reset_index(drop=True)

    @property
    def selected(self) -> list[str]:
        return list(self._selected)

    @selected.setter
    def selected(self, run_ids: Sequence[str]) -> None:
        self.select(run_ids)

    def select(self, run_ids: Sequence[str]) -> None:
        """Replace the selection (unknown ids are ignored) and redraw what depends on it."""
        known = set(self.runs.run_ids)
        self._selected = [r for r in dict.fromkeys(run_ids) if r in known]
        self.render(table=True, curves=True, scatter=True, diff=True, controls=True)

    def set_metric(self, metric: str) -> None:
        if metric not in self.runs.metric_keys:
            raise NbtrackError(f"no metric {metric!r} in these runs; they have {self.runs.metric_keys}")
        self.metric = metric
        self.render(curves=True, parcoords=True, scatter=True, controls=True)

    def set_options(self, **changes: Any) -> None:
        """Change table options (``sort_by``, ``descending``, ``differences_only``, ``groups``,
        ``aggregate``, ``page``) and redraw the table."""
        if any(k != "page" for k in changes):
            changes.setdefault("page", 0)
        self.options = self.options.with_(**changes)
        self.view = build_table(self.runs, self.options)
        redraw_metric_plots = "aggregate" in changes
        self.render(table=True, controls=True, parcoords=redraw_metric_plots, scatter=redraw_metric_plots)

    def set_filter(self, filter_string: str | None) -> None:
        """Show the runs matching ``filter_string`` (the core's filter language) instead."""
        self._reload({**self.runs.query, "filter": filter_string or None})

    def refresh(self) -> None:
        """Read the runs again: new points of RUNNING runs, new runs, changed tags."""
        self._reload(self.runs.query)

    def _reload(self, query: dict[str, Any]) -> None:
        # Selection and options are kept where they still apply to the new runs.
        self.runs = load_runs(query.get("filter"), query.get("runs"), query.get("experiment"),
                              max_results=query.get("max_results"))
        if self.metric not in self.runs.metric_keys:
            self.metric = _default_metric(self.runs)
        if self.param not in self.runs.param_keys:
            self.param = _default_param(self.runs)
        self.options = self.options.with_(page=0)
        self.view = build_table(self.runs, self.options)
        known = set(self.runs.run_ids)
        kept = [r for r in self._selected if r in known]
        self._selected = kept or self._default_selection(None)
        self.render()

    def restore(self, run_id: str | None = None) -> str:
        """Put a run's cell code into a new cell below; return it.

        In JupyterLab with nbtrack's extension the cell appears at once, from the view's
        button too. Elsewhere this is IPython's ``set_next_input``: called in a cell, the
        cell appears at once; from the button (a widget event, not an execution) it comes
        with the next cell's reply.
        """
        run_id = run_id or (self._selected[0] if self._selected else None)
        if run_id is None:
            raise NbtrackError("select a run first, or pass its id: cmp.restore('<run id>')")
        code = self.runs.run(run_id).info.code
        if not code:
            raise NbtrackError(f"run {run_id} recorded no code (only %%track cells do)")
        from IPython import get_ipython

        from ..capture.frontend import insert_cell_below

        shell = get_ipython()
        if shell is not None:
            insert_cell_below(shell, code)
        return code

    # --- rendering ------------------------------------------------------------------------

    def render(self, *, table: bool = True, curves: bool = True, parcoords: bool = True,
               scatter: bool = True, diff: bool = True, controls: bool = True) -> None:
        """Redraw the named parts (all by default)."""
        follow_ups = {"table": table, "parcoords": parcoords, "scatter": scatter, "diff": diff}
        if curves and self.ui is not None and self.ui.interacting and _defer(self, follow_ups):
            # A click that redraws the curves (metric, selection): they are what the user
            # watches. The other parts follow a moment later, so the browser paints the
            # curves before it rebuilds two more plots. A table-only click draws at once.
            table = parcoords = scatter = diff = False
        if curves:
            self.curves = load_curves(self.runs, self._selected[:MAX_CURVES], self.metric,
                                      smoothing=self.smoothing, full=self.full_series) if self.metric else []
        ui = self.ui
        if ui is None:  # static only: the curves above are all the static picture needs
            return
        # With no runs, or no metric, the plots would be empty axes: hide them instead.
        for name in ("curves", "parcoords", "scatter"):
            ui.outputs[name].layout.display = None if self.metric else "none"
        ui.param.layout.display = None if self.metric and self.runs.param_keys else "none"
        # The curves go first: they are what a user watches after switching the metric or the
        # selection, and the frontend applies widget messages in the order they are sent.
        if curves:
            self._show("curves", figures.curves_figure(self.curves, self.metric or "no metric",
                                                       log_y=self.log_y, smoothing=self.smoothing))
        if controls:
            ui.sync()
        if table:
            ui.table.value = self.table_html()
            ui.header.value = self.header_html()
        if parcoords:
            self._show("parcoords", figures.parcoords_figure(self.runs, self.metric,
                                                             aggregate=self.options.aggregate))
        if scatter:
            self._show("scatter", figures.scatter_figure(self.runs, self.param, self.metric,
                                                         aggregate=self.options.aggregate,
                                                         selected=self._selected))
        if diff:
            ui.diff.value = self.diff_html()

    def _render_follow_ups(self) -> None:
        """Draw one deferred part, then yield to the kernel's loop before the next: a click
        that arrives meanwhile is answered before the rest (which it merges with its own),
        instead of waiting behind a table and two plots."""
        self._follow_up_handle = None
        part = next((name for name in FOLLOW_UP_ORDER if self._follow_ups.get(name)), None)
        if part is None:
            self._follow_ups = {}
            return
        self._follow_ups[part] = False
        self.render(curves=False, controls=False, **{name: name == part for name in FOLLOW_UP_ORDER})
        if any(self._follow_ups.values()):
            import asyncio

            self._follow_up_handle = asyncio.get_running_loop().call_later(
                FOLLOW_UP_STEP, self._render_follow_ups)

    def _show(self, name: str, fig: Any) -> None:
        self.figures[name] = fig
        assert self.ui is not None
        # Assigning the synced ``outputs`` trait (rather than ``with out: display(fig)``) makes
        # the content independent of message routing, for nbclient and for tests alike.
        self.ui.outputs[name].outputs = (figures.figure_output(fig),)

    def header_html(self) -> str:
        runs = self.runs
        text = f"{runs.size:,} run{'s' if runs.size != 1 else ''} · {describe_query(runs)}"
        if self.metric:
            text += f" · metric: {self.metric}"
        note = column_note(self.view)
        return (f"<b>{html.escape(text)}</b> · {len(self._selected)} selected"
                + (f"<br><small>{html.escape(note)}</small>" if note else ""))

    def table_html(self) -> str:
        if self.runs.size == 0:
            return "<i>No runs match. Track a cell with %%track, or loosen the filter.</i>"
        return render_html(self.runs, self.view, self.view.page_rows(), selected=frozenset(self._selected))

    def diff_html(self) -> str:
        pair = self.ui.diff_pair() if self.ui else (tuple(self._selected[:2]) if len(self._selected) > 1
                                                     else None)
        if pair is None:
            return "<i>Select two runs to diff them.</i>"
        return run_diff_html(self.runs.run(pair[0]), self.runs.run(pair[1]))

    def page_choices(self) -> list[tuple[str, str]]:
        """(label, run id) of the current page's rows, labelled by their table row number."""
        rows = self.view.page_rows()
        names, ids = self.runs.names, self.runs.run_ids
        start = self.options.page * self.options.page_size
        return [(f"{start + k + 1}. {names[i][:60]} ({ids[i][:8]})", ids[i]) for k, i in enumerate(rows.tolist())]

    def static_html(self) -> str:
        return static_html(self.runs, self.view, self.curves, self.metric, log_y=self.log_y,
                           selected=frozenset(self._selected))

    def _default_selection(self, selected: Sequence[str] | None) -> list[str]:
        ids = self.runs.run_ids
        if selected is not None:
            known = set(ids)
            return [r for r in dict.fromkeys(selected) if r in known]
        return [ids[i] for i in self.view.order[:DEFAULT_SELECTED].tolist()]

    # --- display --------------------------------------------------------------------------

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The live widget for JupyterLab/VS Code, static HTML for nbconvert, GitHub and the rest."""
        bundle = self.widget._repr_mimebundle_() if self.widget is not None else {}
        if self.widget is not None:
            # nbtrack's labextension renders this type first: the widget while its kernel has
            # the model, else the static HTML below (never "model not found").
            bundle[COMPARE_MIME] = {"version": 1}
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = repr(self)
        return bundle

    def _ipython_display_(self) -> None:
        from IPython import get_ipython
        from IPython.display import display

        # compare() displays the view and returns it; as a cell's last expression it would be
        # displayed a second time in the same execution: show it once per execution.
        shell = get_ipython()
        count = getattr(shell, "execution_count", None)
        if shell is not None and self._shown_in == count:
            return
        self._shown_in = count
        display(self._repr_mimebundle_(), raw=True)

    def __repr__(self) -> str:
        mode = "" if self.ui else ", static"
        return (f"<nbtrack comparison: {self.runs.size} runs, metric={self.metric!r}, "
                f"{len(self._selected)} selected{mode}>")


FOLLOW_UP_DELAY = 0.3  # seconds: long enough for the browser to paint the curves first
FOLLOW_UP_STEP = 0.02  # seconds between deferred parts: room for a click's message to arrive
FOLLOW_UP_ORDER = ("table", "diff", "scatter", "parcoords")  # what a user reads first


def _defer(comparison: Comparison, parts: dict[str, bool]) -> bool:
    """Schedule ``parts`` on the kernel's event loop (merged with any still pending); False
    where no loop runs this thread (plain Python), so the caller draws everything now."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    pending = comparison._follow_ups
    comparison._follow_ups = {k: v or pending.get(k, False) for k, v in parts.items()}
    if comparison._follow_up_handle is not None:
        comparison._follow_up_handle.cancel()  # another click before the last one's: draw once
    comparison._follow_up_handle = loop.call_later(FOLLOW_UP_DELAY, comparison._render_follow_ups)
    return True


def _default_metric(runs: RunSet) -> str | None:
    """The metric most runs logged (ties: alphabetical), so the first view is not empty."""
    if not runs.metric_keys:
        return None
    counts = {k: sum(s is not None for s in runs.table.summaries[k]) for k in runs.metric_keys}
    return max(runs.metric_keys, key=lambda k: (counts[k], -runs.metric_keys.index(k)))


def _default_param(runs: RunSet) -> str | None:
    """The first param that varies across the runs (else the first param)."""
    for key in runs.param_keys:
        column = runs.table.params[key]
        if len(set(column[:2000])) > 1:
            return key
    return runs.param_keys[0] if runs.param_keys else None

