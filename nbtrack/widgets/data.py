"""The runs a comparison shows, read through ``nbtrack.store.queries`` only.

``load_runs`` turns the ``compare()`` arguments into a ``RunSet``: the run
table fetched column-wise (fast for 10,000 runs), the MLflow-shaped DataFrame
that ``search_runs`` returns, and helpers to read metric values and curves.

Example:
    >>> import nbtrack, tempfile
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> with nbtrack.start_run(run_name="a"):
    ...     nbtrack.log_metric("loss", 0.5)
    >>> runs = load_runs(filter_string="metrics.loss < 1")
    >>> runs.names, runs.metric_keys
    (['a'], ['loss'])
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NoStore, InvalidInput, RunNotFound
from ..tracking.fluent import read_store
from ..store import queries
from ..store.database import Store

if TYPE_CHECKING:
    import pandas as pd

# Metric names whose smaller values are better; everything else is "higher is better".
_LOWER_IS_BETTER = {
    "loss", "error", "err", "mse", "rmse", "mae", "mape", "smape", "perplexity", "ppl", "time",
    "latency", "duration", "seconds", "wer", "cer", "nll", "logloss", "distance", "cost", "regret",
}
AGGREGATES = ("last", "min", "max")


def lower_is_better(metric: str) -> bool:
    """Guess a metric's direction from its name: ``val_loss`` → True, ``accuracy`` → False.

    Example:
        >>> lower_is_better("val/loss"), lower_is_better("f1_macro")
        (True, False)
    """
    tokens = re.split(r"[^a-z0-9]+", metric.lower())
    return any(t in _LOWER_IS_BETTER for t in tokens)


ATTRIBUTE_TAGS = frozenset({"mlflow.runName", "mlflow.parentRunId"})  # = run_name, parent_run_id


@dataclass
class RunSet:
    """The runs of one comparison, as columns; ``frame`` is ``search_runs``' DataFrame for them,
    built on first use (the view itself needs only the columns)."""

    store: Store
    table: queries.RunTable
    query: dict[str, Any] = field(default_factory=dict)
    _metric_cache: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    @cached_property
    def frame(self) -> pd.DataFrame:
        from ..tracking.search import runs_dataframe

        return runs_dataframe(self.store, self.table.pks)

    @property
    def size(self) -> int:
        return len(self.table.pks)

    @cached_property
    def run_ids(self) -> list[str]:
        return [a[1] for a in self.table.attributes]

    @cached_property
    def names(self) -> list[str]:
        return [a[3] or a[1][:8] for a in self.table.attributes]

    @cached_property
    def model_marks(self) -> dict[str, list[Any]]:
        """run id -> the registered model versions made from it ("model v3 @champion")."""
        from ..models.marks import version_marks

        return version_marks(self.store, self.run_ids)

    @cached_property
    def statuses(self) -> list[str]:
        return [a[4] for a in self.table.attributes]

    @cached_property
    def metric_keys(self) -> list[str]:
        return sorted(self.table.summaries)

    @cached_property
    def param_keys(self) -> list[str]:
        return sorted(self.table.params)

    @cached_property
    def tag_keys(self) -> list[str]:
        # MLflow's system tags that repeat a run attribute the views show already are left out.
        return sorted(k for k in self.table.tags if k not in ATTRIBUTE_TAGS)

    def index_of(self, run_id: str) -> int:
        return self._positions[run_id]

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {r: i for i, r in enumerate(self.run_ids)}

    def pk_of(self, run_id: str) -> int:
        return self.table.pks[self.index_of(run_id)]

    def metric_values(self, key: str, aggregate: str = "last") -> np.ndarray:
        """One float per run (NaN where the run lacks the metric or logged NaN)."""
        if aggregate not in AGGREGATES:
            raise InvalidInput(f"aggregate is one of {AGGREGATES}; got {aggregate!r}")
        cached = self._metric_cache.get((key, aggregate))
        if cached is None:  # the table, best marks, sorting and plots all ask for the same column
            column = self.table.summaries.get(key)
            cached = (np.full(self.size, np.nan) if column is None else np.array(
                [math.nan if s is None else getattr(s, aggregate) for s in column], dtype=float))
            cached.flags.writeable = False
            self._metric_cache[(key, aggregate)] = cached
        return cached

    def metric_counts(self, key: str) -> np.ndarray:
        column = self.table.summaries.get(key, [None] * self.size)
        return np.array([0 if s is None else s.count for s in column], dtype=np.int64)

    def best_index(self, key: str, aggregate: str = "last") -> int | None:
        """Row of the best value of ``key`` (direction from ``lower_is_better``), None if all NaN."""
        values = self.metric_values(key, aggregate)
        if not np.isfinite(values).any():
            return None
        return int(np.nanargmin(values) if lower_is_better(key) else np.nanargmax(values))

    def series(self, run_id: str, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Every ``(step, value)`` of one metric of one run, ordered by step; NaN kept as NaN."""
        rows = queries.metric_series(self.store, self.pk_of(run_id), key)
        if not rows:
            return np.empty(0, dtype=np.int64), np.empty(0)
        values = np.array([math.nan if r[0] is None else r[0] for r in rows], dtype=float)
        steps = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        return steps, values

    def run(self, run_id: str):  # -> nbtrack.entities.Run, with code and inputs
        return queries.get_run(self.store, run_id)


def load_runs(
    filter_string: str | None = None,
    runs: Sequence[str] | None = None,
    experiment: str | Sequence[str] | None = None,
    *,
    store: Store | None = None,
    max_results: int | None = None,
) -> RunSet:
    """Read the runs ``compare()`` was asked for: a filter, explicit run ids, experiments.

    ``experiment`` takes names or ids; ``runs`` keeps the given order when no
    filter is set. Unknown experiment names or run ids raise ``InvalidInput``.
    """
    query = {"filter": filter_string, "runs": list(runs) if runs is not None else None,
             "experiment": experiment, "max_results": max_results}
    if store is None:
        try:
            store = read_store()  # flushes first: points logged a moment ago are on disk
        except NoStore:  # nothing logged here yet: an empty comparison, and no store created
            return RunSet(None, queries.RunTable([], []), query)  # type: ignore[arg-type]
    experiment_ids = _experiment_ids(store, experiment)
    pks = queries.select_run_pks(store, filter_string or None, experiment_ids, max_results=max_results)
    if runs is not None:
        if isinstance(runs, str):
            runs = [runs]
        wanted = [_run_pk_or_prefix(store, str(run_id)) for run_id in runs]
        matching = set(pks)
        pks = [pk for pk in dict.fromkeys(wanted) if pk in matching]
    table = queries.run_table(store, pks)
    return RunSet(store, table, query)


def _run_pk_or_prefix(store: Store, run_id: str) -> int:
    """The run ``run_id`` names: a full id, or a unique prefix of 6+ characters (the short ids
    the views and the sidebar's "compare" cell show)."""
    try:
        return queries.run_pk(store, run_id)
    except RunNotFound:
        pass
    if len(run_id) >= 6 and run_id.isalnum():
        pks = queries.select_run_pks(store, f"attributes.run_id LIKE '{run_id}%'", None, max_results=2)
        if len(pks) == 1:
            return pks[0]
        if len(pks) > 1:
            raise InvalidInput(f"run id prefix {run_id!r} matches several runs; give more characters")
    raise InvalidInput(f"no run {run_id!r} in this store; see nbtrack.search_runs()")


def _experiment_ids(store: Store, experiment: str | Sequence[str] | None) -> list[str] | None:
    if experiment is None:
        return None
    names = [experiment] if isinstance(experiment, (str, int)) else list(experiment)
    return queries.experiment_ids(store, names)
