"""A diff of two runs as escaped HTML: params, metrics, tags, data fingerprints, cell code.

Only what differs is listed (with a count of what is equal), because two runs
of a sweep usually share hundreds of params. The code diff is a unified diff.

Example:
    >>> from nbtrack.entities import Run, RunData, RunInfo
    >>> def run(name, lr, code):
    ...     info = RunInfo(name, "1", name, "FINISHED", 0, 1, "active", "", code=code)
    ...     return Run(info, RunData(params={"lr": lr, "seed": "0"}))
    >>> out = run_diff_html(run("a", "0.1", "x = 1\\n"), run("b", "0.2", "x = 2\\n"))
    >>> "1 equal" in out and "-x = 1" in out and "+x = 2" in out
    True
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Mapping
from typing import Any

from ..entities import Run
from ..render import theme
from ..render.numbers import format_number

_CELL = f"padding:2px 8px;border-bottom:1px solid {theme.BORDER};text-align:left;vertical-align:top"


def _text(value: Any, limit: int = 200) -> str:
    if value is None:
        return f'<span style="color:{theme.MUTED}">—</span>'
    if isinstance(value, float):
        value = format_number(value)
    text = str(value)
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _section(title: str, left: Mapping[str, Any], right: Mapping[str, Any]) -> str:
    keys = sorted(set(left) | set(right))
    differing = [k for k in keys if left.get(k) != right.get(k)]
    equal = len(keys) - len(differing)
    head = f"<h4 style='margin:8px 0 2px'>{title}"
    head += f" <small style='color:{theme.MUTED}'>({len(differing)} differ, {equal} equal)</small></h4>"
    if not differing:
        return head
    rows = "".join(
        f"<tr><td style='{_CELL}'>{_text(k, 80)}</td><td style='{_CELL}'>{_text(left.get(k))}</td>"
        f"<td style='{_CELL}'>{_text(right.get(k))}</td></tr>" for k in differing)
    return head + f"<table style='border-collapse:collapse;font-size:12px'>{rows}</table>"


def _metrics(run: Run) -> dict[str, str]:
    out = {}
    for key, s in run.data.metric_summaries.items():
        out[key] = (f"last {format_number(s.last)} · min {format_number(s.min)} · "
                    f"max {format_number(s.max)} · {s.count} pts")
    return out


def _inputs(run: Run) -> dict[str, str]:
    out = {}
    for d in run.inputs.dataset_inputs:
        shape = "" if d.shape is None else f" shape {tuple(d.shape)}"
        out[d.name if not d.context else f"{d.name} ({d.context})"] = f"{d.digest}{shape}"
    return out


def _attributes(run: Run) -> dict[str, Any]:
    info = run.info
    error = None if info.error is None else f"{info.error.type}: {info.error.message}"
    return {"name": info.run_name, "status": str(info.status), "notebook": info.notebook_path,
            "cell": info.cell_id, "execution count": info.execution_count, "error": error}


def code_diff(a: str | None, b: str | None, name_a: str = "a", name_b: str = "b") -> str:
    """Unified diff of two cells' code (plain text, not escaped)."""
    lines = difflib.unified_diff((a or "").splitlines(keepends=True), (b or "").splitlines(keepends=True),
                                 fromfile=name_a, tofile=name_b, lineterm="")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def run_diff_html(a: Run, b: Run) -> str:
    """Both runs side by side where they differ, then the code as a unified diff."""
    name_a, name_b = a.info.run_name or a.info.run_id[:8], b.info.run_name or b.info.run_id[:8]
    parts = [(f"<div class='nbtrack-diff' style='font-size:12px'><b>{_text(name_a, 60)}</b> "
              f"<span style='color:{theme.MUTED}'>({_text(a.info.run_id[:8])})</span> vs "
              f"<b>{_text(name_b, 60)}</b> <span style='color:{theme.MUTED}'>({_text(b.info.run_id[:8])})</span>")]
    parts.append(_section("run", _attributes(a), _attributes(b)))
    parts.append(_section("params", a.data.params, b.data.params))
    parts.append(_section("metrics", _metrics(a), _metrics(b)))
    parts.append(_section("tags", a.data.tags, b.data.tags))
    parts.append(_section("data fingerprints", _inputs(a), _inputs(b)))
    diff = code_diff(a.info.code, b.info.code, f"{name_a[:40]} (cell code)", f"{name_b[:40]} (cell code)")
    parts.append("<h4 style='margin:8px 0 2px'>cell code</h4>")
    if not a.info.code and not b.info.code:
        parts.append("<i>neither run recorded its code</i>")
    elif not diff:
        parts.append("<i>identical code</i>")
    else:
        colored = []
        for line in diff.splitlines():
            # Tinted lines with the theme's text colour: readable on light and dark pages.
            tint = {"+": theme.ADDED_BG, "-": theme.REMOVED_BG}.get(line[:1], "transparent")
            colored.append(f"<span style='display:block;background:{tint}'>{html.escape(line)}</span>")
        parts.append(f"<pre style='font-size:12px;background:{theme.CODE_BG};padding:6px;overflow:auto;"
                     "max-height:400px'>" + "".join(colored) + "</pre>")
    parts.append("</div>")
    return "".join(parts)
