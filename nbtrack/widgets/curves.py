"""Metric curves of selected runs, read from the store, smoothed and downsampled for display.

Example:
    >>> import nbtrack, tempfile
    >>> from nbtrack.widgets.data import load_runs
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> with nbtrack.start_run(run_name="long") as run:
    ...     for step in range(50_000):
    ...         nbtrack.log_metric("loss", 9.0 if step == 777 else 1.0, step=step)
    >>> [curve] = load_curves(load_runs(), [run.info.run_id], "loss", max_points=500)
    >>> len(curve.steps) <= 500, float(curve.values.max()), curve.total_points
    (True, 9.0, 50000)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .data import RunSet
from ..render.downsample import ema, minmax_downsample

DISPLAY_POINTS = 1000  # per curve; min/max buckets keep every spike at this size


@dataclass
class RunCurve:
    """One run's series of one metric as drawn; ``last/min/max`` are of the raw series."""

    run_id: str
    label: str
    status: str
    steps: np.ndarray
    values: np.ndarray
    total_points: int
    last: float
    min: float
    max: float


def load_curves(runs: RunSet, run_ids: Sequence[str], metric: str, *, smoothing: float = 0.0,
                full: bool = False, max_points: int = DISPLAY_POINTS) -> list[RunCurve]:
    """Read, smooth (EMA, as TensorBoard's slider) and downsample each run's ``metric``.

    Runs without the metric are skipped. ``full=True`` keeps every point.
    """
    curves = []
    for run_id in run_ids:
        steps, values = runs.series(run_id, metric)
        if len(steps) == 0:
            continue
        finite = values[np.isfinite(values)]
        last, low, high = ((float(finite[-1]), float(finite.min()), float(finite.max())) if finite.size
                           else (np.nan, np.nan, np.nan))
        shown = ema(values, smoothing) if smoothing else values
        if not full:
            steps, shown = minmax_downsample(steps, shown, max_points)
        index = runs.index_of(run_id)
        curves.append(RunCurve(run_id, runs.names[index], runs.statuses[index], steps, shown,
                               len(values), last, low, high))
    return curves
