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
from typing import TYPE_CHECKING

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
    query = (filter_string, ids or None, run_view_type, order_by, max_results)
    if output_format == "list":
        return queries.runs_by_pk(store, queries.select_run_pks(store, *query))
    if output_format != "pandas":
        raise InvalidInput(f"output_format is 'pandas' or 'list'; got {output_format!r}")
    # One ordered query gives the order and the attribute columns together.
    return _dataframe(store, queries.select_runs(store, _ATTRIBUTES, *query))


# The runs columns the DataFrame shows, in select order; "id" first, for alignment.
_ATTRIBUTES = ("id", "run_id", "experiment_id", "status", "start_time", "end_time", "run_name",
               "notebook_path", "cell_id", "parent_run_id")
_SIDES = (("metric_summaries", "metrics."), ("params", "params."), ("tags", "tags."))


def runs_dataframe(store, pks: Sequence[int]) -> pd.DataFrame:
    """The MLflow-shaped DataFrame of runs ``pks``, in that order (the compare view uses this)."""
    found = {row[0]: row for row in queries.runs_by_pk_columns(store, _ATTRIBUTES, pks)}
    return _dataframe(store, [found[pk] for pk in pks if pk in found])


def _dataframe(store, rows: Sequence[tuple]) -> pd.DataFrame:
    """Build the DataFrame from ``_ATTRIBUTES`` rows, in their order.

    Every side table arrives pivoted by SQL (one JSON object per run) and is aligned
    to the rows with ``reindex``, so no Python loop runs per param or metric.
    """
    import pandas as pd

    attributes = pd.DataFrame.from_records(list(rows), columns=list(_ATTRIBUTES))
    pks = attributes["id"].tolist()
    with queries.selected_runs(store, pks) as selection:
        sides = [(prefix, table, queries.pivot(store, table, selection)) for table, prefix in _SIDES]
    frame = pd.DataFrame({
        "run_id": attributes["run_id"],
        "experiment_id": attributes["experiment_id"].map(str, na_action="ignore"),
        "status": attributes["status"],
        "artifact_uri": queries.ARTIFACT_URI_PREFIX + attributes["run_id"],
        "start_time": pd.to_datetime(attributes["start_time"], unit="ms", utc=True),
        "end_time": pd.to_datetime(attributes["end_time"], unit="ms", utc=True),
        "run_name": attributes["run_name"],
        "notebook_path": attributes["notebook_path"],
        "cell_id": attributes["cell_id"],
        "parent_run_id": attributes["parent_run_id"],
    })
    parts = [frame]
    for prefix, table, pivoted in sides:
        if not pivoted:
            continue
        # One json.loads over all rows: per-call overhead, not parsing, dominated 100k calls.
        objects = json.loads("[" + ",".join(text for _, text in pivoted) + "]")
        side = pd.DataFrame.from_records(objects, index=[r[0] for r in pivoted])
        side = side.reindex(columns=sorted(side.columns)).add_prefix(prefix)
        side = side.reindex(pks).reset_index(drop=True)
        if table == "metric_summaries":
            side = side.astype("float64")  # JSON null (no value, or NaN) becomes NaN
        parts.append(side)
    return pd.concat(parts, axis=1) if len(parts) > 1 else frame


def get_run(run_id: str) -> Run:
    """One run by id, with params, metrics (last values and summaries), tags and inputs."""
    return queries.get_run(read_store(), run_id)


def search_experiments():
    """Every experiment in this store."""
    return queries.list_experiments(read_store())


def get_experiment_by_name(name: str):
    return queries.get_experiment_by_name(read_store(), name)
