"""The widgets of a comparison and their wiring; the state lives in ``view.Comparison``.

Layout, top to bottom: a header; the table's controls (filter, sort, groups,
differences only, metric aggregate); the table page with a pager and the
selection list; the curves with their switches; parallel coordinates; the
param/metric scatter; the diff of two selected runs; restore.

Handlers catch user mistakes (a bad filter) and show them in the message line
instead of raising into the frontend, where a widget callback's traceback is
easy to miss.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import NbtrackError
from ..render import theme
from .table import GROUPS, sortable_columns

if TYPE_CHECKING:
    from .view import Comparison

_ORDER = {"best first": None, "ascending": False, "descending": True}


class Controls:
    """Builds the widget tree for ``comparison`` and forwards user actions to it."""

    def __init__(self, comparison: Comparison) -> None:
        self.c = comparison
        self._syncing = False
        self.interacting = False  # inside a widget event: the comparison defers what is not watched
        self._layouts: dict[str | None, w.Layout] = {}
        self._styles: dict[type, w.Widget] = {}
        opts = comparison.options
        make = self._make
        self.header = make(w.HTML, "100%")
        self.message = make(w.HTML)
        self.filter = make(w.Text, "60%", placeholder="filter, e.g. metrics.accuracy > 0.8 and "
                           "params.model = 'svm'", value=comparison.runs.query.get("filter") or "",
                           continuous_update=False, description="filter")
        self.refresh = make(w.Button, description="refresh", icon="refresh",
                            tooltip="read the runs again (RUNNING runs' new points)")
        self.sort = make(w.Dropdown, "280px", description="sort by")
        self.order = make(w.Dropdown, "120px", options=list(_ORDER), value="best first")
        self.groups = {g: make(w.Checkbox, "90px", value=g in opts.groups, description=g, indent=False)
                       for g in GROUPS}
        self.differences = make(w.Checkbox, "140px", value=opts.differences_only,
                                description="differences only", indent=False)
        self.aggregate = make(w.Dropdown, "160px", options=["last", "min", "max"], value=opts.aggregate,
                              description="values")
        self.table = make(w.HTML, layout=w.Layout(overflow="auto", max_height="520px", width="100%"))
        self.prev = make(w.Button, "40px", description="◀")
        self.next = make(w.Button, "40px", description="▶")
        self.page = make(w.Label)
        self.select = make(w.SelectMultiple, "60%", description="select", rows=8)
        self.clear = make(w.Button, description="clear selection")
        self.metric = make(w.Dropdown, "300px", description="metric")
        self.log = make(w.Checkbox, "100px", description="log scale", indent=False)
        self.smoothing = make(w.FloatSlider, value=0.0, min=0.0, max=0.99, step=0.01,
                              description="smoothing", continuous_update=False)
        self.full = make(w.Checkbox, "110px", description="full series", indent=False,
                         tooltip="draw every point instead of min/max per bucket")
        # The param dropdown and the plots are hidden and shown one by one: own layouts.
        self.param = make(w.Dropdown, description="param", layout=w.Layout(width="300px"))
        self.diff_a = make(w.Dropdown, "300px", description="diff")
        self.diff_b = make(w.Dropdown, "300px", description="with")
        self.diff = make(w.HTML, "100%")
        self.restore_run = make(w.Dropdown, "300px", description="restore")
        self.restore = make(w.Button, description="code → new cell", icon="copy",
                            tooltip="put this run's cell code into a new cell (set_next_input)")
        self.restored = make(w.HTML)
        self.outputs = {name: w.Output(layout=w.Layout(width="100%"))
                        for name in ("curves", "parcoords", "scatter")}

        def row(*children: w.Widget) -> w.HBox:
            return make(w.HBox, children=list(children))

        self.root = w.VBox([
            self.header,
            row(self.filter, self.refresh),
            row(self.sort, self.order, self.aggregate),
            row(*self.groups.values(), self.differences),
            self.message,
            self.table,
            row(self.prev, self.page, self.next),
            row(self.select, self.clear),
            row(self.metric, self.log, self.full, self.smoothing),
            self.outputs["curves"],
            self.outputs["parcoords"],
            self.param,
            self.outputs["scatter"],
            row(self.diff_a, self.diff_b),
            self.diff,
            row(self.restore_run, self.restore),
            self.restored,
        ], layout=self._layout("100%"))
        self.root.add_class("nbtrack-compare")
        for widget, handler in (
            (self.filter, self._on_filter), (self.sort, self._on_sort), (self.order, self._on_sort),
            (self.differences, self._on_groups), (self.aggregate, self._on_aggregate),
            (self.select, self._on_select), (self.metric, self._on_metric), (self.log, self._on_curves),
            (self.smoothing, self._on_curves), (self.full, self._on_curves), (self.param, self._on_param),
            (self.diff_a, self._on_diff), (self.diff_b, self._on_diff),
            *((box, self._on_groups) for box in self.groups.values()),
        ):
            widget.observe(self._guarded(handler), names="value")
        self.refresh.on_click(lambda _: self._guarded(lambda _: self.c.refresh())(None))
        self.prev.on_click(lambda _: self._guarded(lambda _: self._turn(-1))(None))
        self.next.on_click(lambda _: self._guarded(lambda _: self._turn(1))(None))
        self.clear.on_click(lambda _: self._guarded(lambda _: self.c.select([]))(None))
        self.restore.on_click(lambda _: self._guarded(lambda _: self._on_restore())(None))

    def _layout(self, width: str | None) -> w.Layout:
        layout = self._layouts.get(width)
        if layout is None:
            layout = self._layouts[width] = w.Layout(width=width) if width else w.Layout()
        return layout

    def _make(self, cls: type, width: str | None = None, **kwargs: Any) -> Any:
        """A widget sharing its Layout (by width) and Style (by class) with its like.

        Each ipywidget otherwise brings two more models of ~1 KB each into the state a
        notebook saves; sharing them halves the saved size of the view.
        """
        kwargs.setdefault("layout", self._layout(width))
        style = self._styles.get(cls)
        if style is not None:
            kwargs["style"] = style
        widget = cls(**kwargs)
        if style is None and hasattr(widget, "style"):
            self._styles[cls] = widget.style
        return widget

    # --- state -> widgets -----------------------------------------------------------------

    def sync(self) -> None:
        """Make every control show the comparison's state (without firing the handlers)."""
        c = self.c
        self._syncing = True
        try:
            columns = sortable_columns(c.runs)
            self.sort.options = columns
            self.sort.value = c.options.sort_by if c.options.sort_by in columns else None
            self.metric.options = c.runs.metric_keys
            self.metric.value = c.metric
            self.metric.disabled = not c.runs.metric_keys
            self.param.options = c.runs.param_keys
            self.param.value = c.param
            self.select.options = c.page_choices()
            on_page = {v for _, v in self.select.options}
            self.select.value = tuple(r for r in c.selected if r in on_page)
            self.page.value = f"page {c.options.page + 1} of {c.view.pages} · {c.runs.size:,} runs"
            self.prev.disabled = c.options.page == 0
            self.next.disabled = c.options.page + 1 >= c.view.pages
            labels = self.selected_choices()
            values = [v for _, v in labels]
            a, b, restore = self.diff_a.value, self.diff_b.value, self.restore_run.value
            a = a if a in values else (values[0] if values else None)
            b = b if b in values and b != a else next((v for v in values if v != a), None)
            restore = restore if restore in values else a
            for dropdown, value in ((self.diff_a, a), (self.diff_b, b), (self.restore_run, restore)):
                dropdown.options = labels  # (this alone would pick the first option)
                dropdown.value = value
        finally:
            self._syncing = False

    def selected_choices(self) -> list[tuple[str, str]]:
        runs = self.c.runs
        return [(f"{runs.names[runs.index_of(r)][:50]} ({r[:8]})", r) for r in self.c.selected]

    def diff_pair(self) -> tuple[str, str] | None:
        a, b = self.diff_a.value, self.diff_b.value
        if a is None or b is None or a == b:
            return None
        return a, b

    # --- widgets -> state -----------------------------------------------------------------

    def _guarded(self, handler: Any) -> Any:
        def run(change: Any) -> None:
            if self._syncing:
                return
            # Said at once (the comm message leaves before the work starts), cleared when done:
            # a slow redraw on a busy machine shows that it is working.
            self.message.value = "<span class='nbtrack-busy'>updating…</span>"
            self.interacting = True
            try:
                handler(change)
                self.message.value = ""
            except NbtrackError as error:  # a user mistake, e.g. a filter typo: say it, in place
                self.message.value = f"<span style='color:{theme.ERROR}'>{html.escape(str(error))}</span>"
            finally:
                self.interacting = False
        return run

    def _on_filter(self, change: Any) -> None:
        self.c.set_filter(change["new"].strip() or None)

    def _on_sort(self, _: Any) -> None:
        self.c.set_options(sort_by=self.sort.value, descending=_ORDER[self.order.value])

    def _on_groups(self, _: Any) -> None:
        groups = tuple(g for g, box in self.groups.items() if box.value)
        self.c.set_options(groups=groups, differences_only=self.differences.value)

    def _on_aggregate(self, change: Any) -> None:
        self.c.set_options(aggregate=change["new"])

    def _turn(self, delta: int) -> None:
        page = min(max(0, self.c.options.page + delta), self.c.view.pages - 1)
        self.c.set_options(page=page)

    def _on_select(self, change: Any) -> None:
        on_page = {v for _, v in self.select.options}
        kept = [r for r in self.c.selected if r not in on_page]
        self.c.select(kept + [r for r in self.c.runs.run_ids if r in set(change["new"])])

    def _on_metric(self, change: Any) -> None:
        if change["new"] is not None:
            self.c.set_metric(change["new"])

    def _on_curves(self, _: Any) -> None:
        self.c.log_y, self.c.smoothing, self.c.full_series = (self.log.value, self.smoothing.value,
                                                              self.full.value)
        self.c.render(table=False, parcoords=False, scatter=False, diff=False, controls=False)

    def _on_param(self, change: Any) -> None:
        self.c.param = change["new"]
        self.c.render(table=False, curves=False, parcoords=False, diff=False, controls=False)

    def _on_diff(self, _: Any) -> None:
        self.diff.value = self.c.diff_html()

    def _on_restore(self) -> None:
        run_id = self.restore_run.value
        code = self.c.restore(run_id)
        self.restored.value = (
            "<small>Inserted as a new cell below (with nbtrack's JupyterLab extension; in other "
            "frontends it arrives with the next cell you run, or run "
            f"<code>cmp.restore({html.escape(repr(run_id))})</code>).</small>"
            f"<pre style='background:{theme.CODE_BG};padding:6px;max-height:200px;overflow:auto'>"
            f"{html.escape(code)}</pre>")
