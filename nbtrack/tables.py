"""Plain-text renderings of runs for terminals and ``__repr__``: tables and run details.

Example:
    >>> print(text_table(["a", "b"], [[1, "x"]]))
    a  b
    -  -
    1  x
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

from .entities import Run
from .render.numbers import format_number

MAX_CELL = 40


def format_value(value: Any) -> str:
    """A short, single-line rendering of one cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        return format_number(value, digits=6)  # the terminal keeps more digits to copy
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def text_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns aligned with two spaces, a dash rule under the header."""
    cells = [[format_value(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip(),
             "  ".join("-" * w for w in widths).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def format_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_detail_text(run: Run, artifacts: Sequence[tuple[str, str, int]] = ()) -> str:
    """A multi-line description of one run, for ``nbtrack show``."""
    info = run.info
    duration = "" if info.duration_ms is None else f"{info.duration_ms / 1000:.2f} s"
    lines = [
        f"run {info.run_id}  {info.run_name!r}",
        f"  status      {info.status.value}" + (f"  ({info.error.type}: {info.error.message})" if info.error else ""),
        f"  experiment  {info.experiment_id}",
        f"  started     {format_time(info.start_time)}   duration {duration}",
    ]
    if info.notebook_path or info.cell_id:
        lines.append(f"  notebook    {info.notebook_path or '?'}  cell {info.cell_id or '?'}"
                     f"  [{info.execution_count or ' '}]")
    if info.previous_run_id:
        lines.append(f"  previous    {info.previous_run_id}")
    sections = [
        ("params", [[k, v] for k, v in sorted(run.data.params.items())], ["key", "value"]),
        ("metrics", [[k, s.last, s.min, s.max, s.count, s.last_step]
                     for k, s in sorted(run.data.metric_summaries.items())],
         ["key", "last", "min", "max", "count", "last step"]),
        ("tags", [[k, v] for k, v in sorted(run.data.tags.items())], ["key", "value"]),
        ("inputs", [[d.name, d.context, d.source_type, d.digest[:12], d.shape] for d in run.inputs.dataset_inputs],
         ["name", "context", "type", "digest", "shape"]),
        ("artifacts", [[p, s, d[:12]] for p, d, s in artifacts], ["path", "bytes", "digest"]),
    ]
    for title, rows, columns in sections:
        if rows:
            lines += ["", title, _indent(text_table(columns, rows))]
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
