"""The runs table as data: column groups, sorting, "differences only", best values, pages.

One ``TableView`` feeds both the live widget and the static HTML, so the two
never disagree about what a column holds or which value is best. Everything a
user typed (names, keys, values) leaves here through ``html.escape``.

Example:
    >>> import nbtrack, tempfile
    >>> from nbtrack.widgets.data import load_runs
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> for lr in (0.1, 0.01):
    ...     with nbtrack.start_run(run_name=f"lr={lr}"):
    ...         nbtrack.log_params({"lr": lr, "seed": 0}); nbtrack.log_metric("loss", lr * 3)
    >>> view = build_table(load_runs(), TableOptions(differences_only=True))
    >>> [c.label for c in view.columns], view.hidden["params"]
    (['loss', 'lr'], 1)
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..render import theme
from ..render.colors import run_color
from ..render.numbers import format_number
from .data import RunSet, lower_is_better

GROUPS = ("metrics", "params", "tags")
RUN_COLUMNS = ("run_name", "status", "start_time")


@dataclass(frozen=True)
class TableOptions:
    """What the user chose in the table's controls. ``sort_by`` is a column id such as
    ``metrics.loss`` or ``params.lr``; ``descending=None`` means best first for metrics."""

    sort_by: str | None = None
    descending: bool | None = None
    differences_only: bool = False
    groups: tuple[str, ...] = GROUPS
    aggregate: str = "last"
    page: int = 0
    page_size: int = 20
    max_columns_per_group: int = 40  # hundreds of params: show this many, say how many more

    def with_(self, **changes: Any) -> TableOptions:
        return replace(self, **changes)


@dataclass
class Column:
    group: str  # "metrics" | "params" | "tags"
    label: str  # the key, unescaped
    values: list[Any] | np.ndarray
    best: int | None = None  # row index of the best value (metrics only)

    @property
    def id(self) -> str:
        return f"{self.group}.{self.label}"


@dataclass
class TableView:
    columns: list[Column]
    order: np.ndarray  # row indices in display order
    options: TableOptions
    hidden: dict[str, int] = field(default_factory=dict)  # per group, hidden as equal everywhere
    truncated: dict[str, int] = field(default_factory=dict)  # per group, beyond the column cap

    @property
    def pages(self) -> int:
        return max(1, math.ceil(len(self.order) / self.options.page_size))

    def page_rows(self, page: int | None = None) -> np.ndarray:
        page = self.options.page if page is None else page
        size = self.options.page_size
        return self.order[page * size : (page + 1) * size]


def sortable_columns(runs: RunSet) -> list[str]:
    """Column ids the table can sort by: run attributes, then every metric, param and tag."""
    return (list(RUN_COLUMNS) + [f"metrics.{k}" for k in runs.metric_keys]
            + [f"params.{k}" for k in runs.param_keys] + [f"tags.{k}" for k in runs.tag_keys])


def build_table(runs: RunSet, options: TableOptions) -> TableView:
    """Choose columns (groups, differences only, cap), mark best values, and sort the rows."""
    columns: list[Column] = []
    hidden: dict[str, int] = {}
    truncated: dict[str, int] = {}
    for group in GROUPS:
        keys = {"metrics": runs.metric_keys, "params": runs.param_keys, "tags": runs.tag_keys}[group]
        if group not in options.groups:
            hidden[group] = len(keys)
            continue
        kept = []
        for key in keys:
            if group == "metrics":
                # None where the run never logged the key, NaN only where it logged NaN:
                # the table shows "" and "NaN", and the two never count as equal.
                counts = runs.metric_counts(key).tolist()
                numbers = runs.metric_values(key, options.aggregate).tolist()
                values = [None if n == 0 else v for v, n in zip(numbers, counts)]
            else:
                values = getattr(runs.table, group)[key]
            if options.differences_only and runs.size > 1 and _all_equal(values):
                continue
            kept.append(Column(group, key, values))
        hidden[group] = len(keys) - len(kept)
        truncated[group] = max(0, len(kept) - options.max_columns_per_group)
        for column in kept[: options.max_columns_per_group]:
            if group == "metrics":
                column.best = runs.best_index(column.label, options.aggregate)
            columns.append(column)
    return TableView(columns, sort_order(runs, options), options, hidden, truncated)


def _all_equal(values: list[Any]) -> bool:
    """Whether a column holds one value everywhere (so "differences only" hides it)."""
    first = values[0] if values else None
    if isinstance(first, float) and math.isnan(first):
        return all(isinstance(v, float) and math.isnan(v) for v in values)
    return all(v == first for v in values)


def sort_order(runs: RunSet, options: TableOptions) -> np.ndarray:
    """Row indices sorted by ``options.sort_by``; missing and NaN values always last."""
    n = runs.size
    column = options.sort_by
    if not column or n == 0:
        return np.arange(n)  # the query's order: newest first
    group, _, key = column.partition(".")
    if group == "metrics":
        values = runs.metric_values(key, options.aggregate)
        descending = (not lower_is_better(key)) if options.descending is None else options.descending
        keys = -values if descending else values  # NaN stays NaN, and argsort puts NaN last
        return np.argsort(keys, kind="stable")
    if group in ("params", "tags"):
        raw = getattr(runs.table, group).get(key, [None] * n)
    elif column == "start_time":
        raw = [a[5] for a in runs.table.attributes]
    elif column in ("run_name", "status"):
        raw = runs.names if column == "run_name" else runs.statuses
    else:
        return np.arange(n)
    numeric = _as_numbers(raw)
    descending = bool(options.descending)
    present = [i for i in range(n) if raw[i] is not None]
    missing = [i for i in range(n) if raw[i] is None]
    if numeric is not None:
        present.sort(key=lambda i: numeric[i], reverse=descending)
    else:
        present.sort(key=lambda i: str(raw[i]), reverse=descending)
    return np.array(present + missing, dtype=np.int64)


def _as_numbers(values: list[Any]) -> list[float] | None:
    """Params are stored as text: sort ``"10"`` after ``"9"`` when every value is a number."""
    out = []
    for value in values:
        if value is None:
            out.append(math.nan)
            continue
        try:
            out.append(float(value))
        except (TypeError, ValueError):
            return None
    return out


# --- rendering ---------------------------------------------------------------------------

_CELL = f"padding:2px 8px;border-bottom:1px solid {theme.BORDER};text-align:left;white-space:nowrap"
_HEAD = _CELL + f";background:{theme.HEAD_BG};color:{theme.TEXT}"


def format_value(value: Any, limit: int = 48) -> tuple[str, str | None]:
    """``(escaped text, escaped full text or None)``: long values are cut, the full one goes in a title."""
    if value is None:
        return "", None
    if isinstance(value, (float, np.floating)):
        text = format_number(value)
    else:
        text = str(value)
    if len(text) > limit:
        return html.escape(text[: limit - 1]) + "…", html.escape(text[:2000])
    return html.escape(text), None


def render_html(runs: RunSet, view: TableView, rows: np.ndarray, *, selected: frozenset[str] = frozenset(),
                caption: str = "") -> str:
    """An escaped, script-free ``<table>`` of ``rows``, with group headers and best values in bold."""
    run_ids = runs.run_ids
    names, statuses = runs.names, runs.statuses
    position = {int(r): k for k, r in enumerate(view.order.tolist())} if len(rows) else {}
    groups: list[tuple[str, int]] = []
    for column in view.columns:
        if groups and groups[-1][0] == column.group:
            groups[-1] = (column.group, groups[-1][1] + 1)
        else:
            groups.append((column.group, 1))
    out = ['<table class="nbtrack-runs" style="border-collapse:collapse;font-size:12px">']
    if caption:
        out.append(f'<caption style="text-align:left;font-weight:bold">{html.escape(caption)}</caption>')
    out.append("<thead><tr>")
    out.append(f'<th style="{_HEAD}" colspan="3">run</th>')
    out += [f'<th style="{_HEAD};border-left:2px solid {theme.STRONG_BORDER}" colspan="{n}">{g}</th>' for g, n in groups]
    out.append("</tr><tr>")
    out += [f'<th style="{_HEAD}">{h}</th>' for h in ("#", "name", "status")]
    for column in view.columns:
        text, title = format_value(column.label, 32)
        arrow = ""
        if column.group == "metrics":
            arrow = " ↓" if lower_is_better(column.label) else " ↑"
        title_attr = f' title="{title}"' if title else ""
        out.append(f'<th style="{_HEAD}"{title_attr}>{text}{arrow}</th>')
    out.append("</tr></thead><tbody>")
    for row in rows.tolist():
        mark = f"background:{theme.SELECTED_BG};" if run_ids[row] in selected else ""
        name, name_title = format_value(names[row])
        title_attr = f' title="{name_title}"' if name_title else ""
        status = html.escape(statuses[row])
        status_style = "font-weight:bold" if status == "RUNNING" else ""
        out.append(f'<tr style="{mark}" data-run="{html.escape(run_ids[row])}">')
        # The run's colour (the same in every view) as a bar beside its row number.
        out.append(f'<td style="{_CELL};border-left:4px solid {run_color(run_ids[row])}">'
                   f'{position.get(row, row) + 1}</td>')
        out.append(f'<td style="{_CELL}"{title_attr}>{name}{_model_marks(runs, run_ids[row])}</td>')
        out.append(f'<td style="{_CELL};{status_style}">{status}</td>')
        for column in view.columns:
            text, title = format_value(column.values[row])
            cell_title = f' title="{title}"' if title else ""
            if column.best == row:
                out.append(f'<td style="{_CELL};font-weight:bold" class="nbtrack-best"'
                           f'{cell_title}>★ {text}</td>')
            else:
                out.append(f'<td style="{_CELL}"{cell_title}>{text}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _model_marks(runs: RunSet, run_id: str) -> str:
    """The run's registered versions as small badges after its name (escaped; none: empty)."""
    return "".join(
        f'<span class="nbtrack-model-mark" title="{html.escape(f"registered as {m.name} version {m.version}")}" '
        f'style="margin-left:6px;padding:0 4px;border:1px solid {theme.STRONG_BORDER};border-radius:3px;'
        f'font-size:11px;color:{theme.TEXT}">{html.escape(m.text)}</span>'
        for m in runs.model_marks.get(run_id, ()))


def column_note(view: TableView) -> str:
    """One line on columns left out: "3 params equal in every run hidden; 260 more params"."""
    notes = []
    for group in GROUPS:
        if view.options.differences_only and view.hidden.get(group) and group in view.options.groups:
            notes.append(f"{view.hidden[group]} {group} equal in every run hidden")
        elif group not in view.options.groups and view.hidden.get(group):
            notes.append(f"{view.hidden[group]} {group} columns off")
        if view.truncated.get(group):
            notes.append(f"{view.truncated[group]} more {group} not shown")
    return "; ".join(notes)
