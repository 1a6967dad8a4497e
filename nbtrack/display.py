"""Run summaries and run tables as text and escaped HTML, readable wherever a notebook is.

Both classes return plain ``<table>`` HTML with no script, style sheet or widget,
so the output survives JupyterLab, VS Code, nbconvert, GitHub and a closed
kernel; ``__repr__`` serves the IPython terminal and ``text/plain``. Every value
that came from the user (names, params, error messages) is escaped.

Example:
    >>> from nbtrack.entities import Run, RunInfo, RunData, RunStatus
    >>> info = RunInfo("ab12cd34ef", "1", "bow-nb", RunStatus.FINISHED, 0, 1500, "active", "x")
    >>> print(RunSummary(Run(info, RunData({"alpha": "1"}, {"acc": 0.9}))))
    bow-nb  ab12cd34  FINISHED  1.50 s
      params   alpha=1
      metrics  acc=0.9
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from .entities import Run, RunStatus
from .render.numbers import format_number

_STATUS_COLOURS = {"FINISHED": "#1a7f37", "FAILED": "#cf222e", "KILLED": "#9a6700",
                   "RUNNING": "#0969da", "CRASHED": "#cf222e"}


def format_duration(ms: int | None) -> str:
    """Milliseconds as a short human duration.

    Example:
        >>> format_duration(1500), format_duration(95_000), format_duration(None)
        ('1.50 s', '1 min 35 s', '-')
    """
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes} min {seconds} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


@dataclass(frozen=True)
class Changes:
    """What differs from the previous run of the same cell."""

    previous_run_id: str
    params: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # key: (old, new)
    metric_deltas: dict[str, float] = field(default_factory=dict)
    code_changed: bool = False
    data_changed: tuple[str, ...] = ()  # names of inputs whose fingerprint changed

    @classmethod
    def between(cls, previous: Run, current: Run) -> Changes:
        old, new = previous.data.params, current.data.params
        params = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
                  if old.get(k) != new.get(k)}
        deltas = {k: v - previous.data.metrics[k] for k, v in current.data.metrics.items()
                  if k in previous.data.metrics}
        before = {d.name: d.digest for d in previous.inputs.dataset_inputs}
        data = tuple(sorted(d.name for d in current.inputs.dataset_inputs
                            if d.name in before and before[d.name] != d.digest))
        code_changed = _body(previous.info.code) != _body(current.info.code)
        return cls(previous.info.run_id, params, deltas, code_changed, data)

    def lines(self) -> list[str]:
        parts = []
        if self.params:
            parts.append("params " + ", ".join(f"{k}: {o if o is not None else '∅'} → "
                                               f"{n if n is not None else '∅'}"
                                               for k, (o, n) in self.params.items()))
        if self.metric_deltas:
            parts.append("metrics " + ", ".join(f"{k} {_signed(d)}" for k, d in self.metric_deltas.items()))
        parts.append("code changed" if self.code_changed else "same code")
        if self.data_changed:
            parts.append("data changed: " + ", ".join(self.data_changed))
        return parts


def _body(code: str | None) -> str:
    """The code a cell ran: a changed ``%%track`` line (name, params) is not a code change."""
    text = (code or "").strip()
    if text.startswith("%%track"):
        text = text.partition("\n")[2].strip()
    return text


def _signed(delta: float) -> str:
    if math.isnan(delta):
        return format_number(delta)
    return ("+" if delta >= 0 else "−") + format_number(abs(delta))


class RunSummary:
    """What ``%%track`` shows after a cell: one run, and how it differs from the cell's last run."""

    def __init__(self, run: Run, previous: Run | None = None, notes: Sequence[str] = ()) -> None:
        self.run = run
        self.previous = previous
        self.changes = Changes.between(previous, run) if previous is not None else None
        self.notes = tuple(notes)

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    @property
    def status(self) -> RunStatus:
        return self.run.info.status

    def _rows(self) -> list[tuple[str, str]]:
        info, data = self.run.info, self.run.data
        rows = []
        if data.params:
            rows.append(("params", " ".join(f"{k}={v}" for k, v in sorted(data.params.items()))))
        if data.metrics:
            rows.append(("metrics", " ".join(f"{k}={format_number(v)}"
                                             for k, v in sorted(data.metrics.items()))))
        if info.error is not None:
            rows.append(("error", f"{info.error.type}: {info.error.message}".strip().rstrip(":")))
        if self.changes is not None:
            rows.append(("vs last", "; ".join(self.changes.lines())))
        rows.extend(("note", note) for note in self.notes)
        return rows

    def _headline(self) -> str:
        info = self.run.info
        return (f"{info.run_name}  {info.run_id[:8]}  {info.status.value}  "
                f"{format_duration(info.duration_ms)}")

    def __repr__(self) -> str:
        return "\n".join([self._headline()] + [f"  {k:<8} {v}" for k, v in self._rows()])

    def _repr_html_(self) -> str:
        info = self.run.info
        colour = _STATUS_COLOURS.get(info.status.value, "inherit")
        esc = html.escape
        head = (f"<b>{esc(info.run_name)}</b> <code>{esc(info.run_id[:8])}</code> "
                f"<span style=\"color:{colour}\"><b>{esc(info.status.value)}</b></span> "
                f"{esc(format_duration(info.duration_ms))}")
        body = "".join(f"<tr><th style=\"text-align:left\">{esc(k)}</th>"
                       f"<td style=\"text-align:left\">{esc(v)}</td></tr>" for k, v in self._rows())
        return (f"<div class=\"nbtrack-run-summary\" title=\"run {esc(info.run_id)}\">{head}"
                + (f"<table>{body}</table>" if body else "") + "</div>")


class RunTable:
    """Runs as a table (``%nbtrack runs``, ``%nbtrack history``): newest first, one row a run."""

    columns = ("run", "name", "status", "start", "duration", "exec", "params", "metrics")

    def __init__(self, runs: Sequence[Run], title: str = "") -> None:
        self.runs = list(runs)
        self.title = title

    def rows(self) -> list[tuple[str, ...]]:
        import datetime

        rows: list[tuple[str, ...]] = []
        shown = {run.info.run_id for run in self.runs}
        for run in self.runs:
            info, data = run.info, run.data
            # A child run listed with its parent reads as part of it.
            name = f"↳ {info.run_name}" if info.parent_run_id in shown else info.run_name
            start = datetime.datetime.fromtimestamp(info.start_time / 1000).strftime("%Y-%m-%d %H:%M:%S")
            rows.append((
                info.run_id[:8], name, info.status.value, start,
                format_duration(info.duration_ms),
                "" if info.execution_count is None else str(info.execution_count),
                " ".join(f"{k}={v}" for k, v in sorted(data.params.items())),
                " ".join(f"{k}={format_number(v)}" for k, v in sorted(data.metrics.items())),
            ))
        return rows

    def __len__(self) -> int:
        return len(self.runs)

    def __repr__(self) -> str:
        from .tables import text_table

        body = text_table(self.columns, self.rows()) if self.runs else "(no runs)"
        return f"{self.title}\n{body}" if self.title else body

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th style=\"text-align:left\">{esc(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td style=\"text-align:left\">{esc(v)}</td>" for v in row)
                       + "</tr>" for row in self.rows())
        caption = f"<caption>{esc(self.title)}</caption>" if self.title else ""
        return f"<table class=\"nbtrack-runs\">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
