"""Runs as a pandas DataFrame with MLflow's columns, and single-run reads.

Columns: ``run_id, experiment_id, status, artifact_uri, start_time, end_time``
(UTC datetimes, as MLflow), then nbtrack's ``run_name, notebook_path, cell_id``,
then ``metrics.<key>`` (last value), ``params.<key>``, ``tags.<key>``.

Example:
    >>> import nbtrack
    >>> df = nbtrack.search_runs("metrics.accuracy > 0.8", order_by=["metrics.accuracy DESC"])  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..entities import Run, ViewType
from ..errors import InvalidInput
from ..paths import StoreLocation
from ..store import queries
from ..store.database import translating
from ..store.wide import WideRuns, wide_runs
from .fluent import current_experiment_name, read_store

if TYPE_CHECKING:
    import pandas as pd

BASE_COLUMNS = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time",
                "run_name", "notebook_path", "cell_id", "parent_run_id"]


@translating
def search_runs(
    filter_string: str | None = None,
    experiment_ids: Sequence[str] | None = None,
    run_view_type: ViewType | str = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    order_by: list[str] | None = None,
    output_format: str = "pandas",
    experiment_names: Sequence[str] | None = None,
    search_all_experiments: bool = True,
) -> pd.DataFrame | list[Run]:
    """Search this store's runs with the filter language; a DataFrame by default.

    Unlike MLflow, ``search_all_experiments`` defaults to True: a notebook user
    usually wants every run in the local store. ``output_format="list"`` returns
    ``Run`` objects. MLflow's positional order (``experiment_ids`` first, then the
    filter) works too: a list first means experiment ids.

    Example:
        >>> search_runs("params.alpha IN ('1', '2') OR metrics.f1 >= 0.9")  # doctest: +SKIP
    """
    if isinstance(filter_string, (list, tuple)):  # mlflow.search_runs(["1"], "metrics.x > 0")
        filter_string, experiment_ids = (experiment_ids if isinstance(experiment_ids, str) else None), filter_string
    store = read_store()
    ids = [*(experiment_ids or []), *queries.experiment_ids(store, experiment_names or [])]
    if not ids and not search_all_experiments:
        experiment = queries.get_experiment_by_name(store, current_experiment_name())
        ids = [experiment.experiment_id] if experiment else ["-1"]
    query = queries.RunQuery(filter_string, ids or None, run_view_type, order_by, max_results)
    if output_format == "list":
        return queries.runs_by_pk(store, queries.select_run_pks(store, query))
    if output_format != "pandas":
        raise InvalidInput(f"output_format is 'pandas' or 'list'; got {output_format!r}")
    return _dataframe(wide_runs(store, _ATTRIBUTES, query), store.location)


# The runs columns the DataFrame shows, in select order; "id" first, for alignment.
_ATTRIBUTES = ("id", "run_id", "experiment_id", "status", "start_time", "end_time", "run_name",
               "notebook_path", "cell_id", "parent_run_id")


def runs_dataframe(store, pks: Sequence[int]) -> pd.DataFrame:
    """The MLflow-shaped DataFrame of runs ``pks``, in that order (the compare view uses this)."""
    return _dataframe(wide_runs(store, _ATTRIBUTES, pks=pks), getattr(store, "location", None))


def _dataframe(wide: WideRuns, location: StoreLocation | None) -> pd.DataFrame:
    """MLflow's columns from ``WideRuns``: attributes, then metrics, params and tags, each
    group in key order. Every column arrives whole, so no Python loop runs per value."""
    import pandas as pd

    attributes = wide.attributes
    run_ids = pd.Series(attributes["run_id"], dtype=object)
    columns: dict[str, Any] = {
        "run_id": run_ids,
        "experiment_id": pd.Series(attributes["experiment_id"], dtype=object).map(str, na_action="ignore"),
        "status": pd.Series(attributes["status"], dtype=object),
        "artifact_uri": (queries.artifact_root(location) if location else "") + "/" + run_ids,
        "start_time": pd.to_datetime(pd.Series(attributes["start_time"], dtype="float64"), unit="ms", utc=True),
        "end_time": pd.to_datetime(pd.Series(attributes["end_time"], dtype="float64"), unit="ms", utc=True),
    }
    for name in ("run_name", "notebook_path", "cell_id", "parent_run_id"):
        columns[name] = pd.Series(attributes[name], dtype=object)
    columns.update((f"metrics.{key}", values) for key, values in wide.metrics.items())
    columns.update((f"params.{key}", pd.Series(values, dtype=object)) for key, values in wide.params.items())
    columns.update((f"tags.{key}", pd.Series(values, dtype=object)) for key, values in wide.tags.items())
    return pd.DataFrame(columns, index=pd.RangeIndex(len(wide)))


@translating
def get_run(run_id: str) -> Run:
    """One run by id, with params, metrics (last values and summaries), tags and inputs."""
    return queries.get_run(read_store(), run_id)
