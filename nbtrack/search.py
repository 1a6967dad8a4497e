"""Runs as a pandas DataFrame with MLflow's columns, and single-run reads.

Columns: ``run_id, experiment_id, status, artifact_uri, start_time, end_time``
(UTC datetimes, as MLflow), then nbtrack's ``run_name, notebook_path, cell_id``,
then ``metrics.<key>`` (last value), ``params.<key>``, ``tags.<key>``.

Example:
    >>> import nbtrack
    >>> df = nbtrack.search_runs("metrics.accuracy > 0.8", order_by=["metrics.accuracy DESC"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .entities import Run, ViewType
from .errors import InvalidInput
from .fluent import current_experiment_name, read_store
from .store import queries

if TYPE_CHECKING:
    import pandas as pd

BASE_COLUMNS = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time",
                "run_name", "notebook_path", "cell_id", "parent_run_id"]


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
    ``Run`` objects.

    Example:
        >>> search_runs("params.alpha IN ('1', '2') OR metrics.f1 >= 0.9")  # doctest: +SKIP
    """
    store = read_store()
    ids = list(experiment_ids or [])
    for name in experiment_names or []:
        experiment = queries.get_experiment_by_name(store, name)
        if experiment is None:
            raise InvalidInput(f"no experiment named {name!r}; see nbtrack.search_experiments()")
        ids.append(experiment.experiment_id)
    if not ids and not search_all_experiments:
        experiment = queries.get_experiment_by_name(store, current_experiment_name())
        ids = [experiment.experiment_id] if experiment else ["-1"]
    pks = queries.select_run_pks(store, filter_string, ids or None, run_view_type, order_by, max_results)
    if output_format == "list":
        return queries.runs_by_pk(store, pks)
    if output_format != "pandas":
        raise InvalidInput(f"output_format is 'pandas' or 'list'; got {output_format!r}")
    return runs_dataframe(queries.run_table(store, pks))


def runs_dataframe(table: queries.RunTable) -> pd.DataFrame:
    """Build the MLflow-shaped DataFrame from a column-wise ``RunTable``."""
    import pandas as pd

    attributes = table.attributes
    columns: dict[str, Any] = {
        "run_id": [a[1] for a in attributes],
        "experiment_id": [str(a[2]) for a in attributes],
        "status": [a[4] for a in attributes],
        "artifact_uri": [queries.artifact_uri(a[1]) for a in attributes],
        "start_time": pd.to_datetime([a[5] for a in attributes], unit="ms", utc=True),
        "end_time": pd.to_datetime([a[6] for a in attributes], unit="ms", utc=True),
        "run_name": [a[3] for a in attributes],
        "notebook_path": [a[10] for a in attributes],
        "cell_id": [a[11] for a in attributes],
        "parent_run_id": [a[9] for a in attributes],
    }
    for key in sorted(table.summaries):
        columns[f"metrics.{key}"] = pd.array(
            [None if s is None else s.last for s in table.summaries[key]], dtype="float64")
    for key in sorted(table.params):
        columns[f"params.{key}"] = table.params[key]
    for key in sorted(table.tags):
        columns[f"tags.{key}"] = table.tags[key]
    return pd.DataFrame(columns)


def get_run(run_id: str) -> Run:
    """One run by id, with params, metrics (last values and summaries), tags and inputs."""
    return queries.get_run(read_store(), run_id)


def search_experiments():
    """Every experiment in this store."""
    return queries.list_experiments(read_store())


def get_experiment_by_name(name: str):
    return queries.get_experiment_by_name(read_store(), name)
