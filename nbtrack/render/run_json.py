"""A run as JSON: the one converter, for the REST API (``labextension/src/tokens.ts`` types
it) and ``nbtrack show --format json``.

Pure functions, no I/O. Floats that JSON cannot carry are mapped: NaN to
``null``, infinities to the strings ``"Infinity"`` / ``"-Infinity"`` (a loss
that diverged is worth showing).

Example:
    >>> json_number(float("inf")), json_number(float("nan")), json_number(0.5)
    ('Infinity', None, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..entities import DatasetInput, MetricSummary, Run
from ..render.json_values import json_number, jsonable  # noqa: F401  (the one JSON encoding)
from ..render.colors import run_color
from ..render.numbers import format_number

HEADLINE_TAG = "nbtrack.headline_metric"
SUMMARY_METRICS = 8  # metrics per run in a listing; a run's details carry them all
SUMMARY_PARAMS = 24  # params per run in a listing (a cell's history shows which differ)
SUMMARY_PARAM_CHARS = 200
SNAPSHOT_PREFIX = "notebook/"


def run_summary(
    run: Run, experiment_names: Mapping[str, str], *, all_metrics: bool = False
) -> dict[str, Any]:
    """What a runs list shows per run: status, timing, cell, headline metric, error."""
    info = run.info
    keys = sorted(run.data.metrics)
    if not all_metrics:
        keys = keys[:SUMMARY_METRICS]
    metrics = {key: json_number(run.data.metrics[key]) for key in keys}
    # The headline is the metric a tag names, else the first key: stable and cheap.
    headline_key = run.data.tags.get(HEADLINE_TAG)
    if headline_key not in run.data.metrics:
        headline_key = keys[0] if keys else None
    return {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "experiment_name": experiment_names.get(info.experiment_id),
        "status": info.status.value,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "duration_ms": info.duration_ms,
        "notebook_path": info.notebook_path,
        "cell_id": info.cell_id,
        "execution_count": info.execution_count,
        "source": info.source,
        "headline": None
        if headline_key is None
        else {
            "key": headline_key,
            "value": json_number(run.data.metrics[headline_key]),
            "text": format_number(run.data.metrics[headline_key]),
        },
        "metrics": metrics,
        # What the views show, decided here once (the labextension renders, never formats):
        # the run's colour, the same in every view, and each metric in nbtrack's number format.
        "color": run_color(info.run_id),
        "metrics_text": {key: format_number(run.data.metrics[key]) for key in keys},
        "parent_run_id": info.parent_run_id,
        "params": {
            key: value[:SUMMARY_PARAM_CHARS]
            for key, value in sorted(run.data.params.items())[:SUMMARY_PARAMS]
        },
        "error": None
        if info.error is None
        else {"type": info.error.type, "message": info.error.message},
    }


def run_detail(
    run: Run, experiment_names: Mapping[str, str], artifacts: Sequence[tuple[str, str, int]]
) -> dict[str, Any]:
    """Everything about one run; ``artifacts`` are ``(path, digest, size)`` rows."""
    info = run.info
    detail = run_summary(run, experiment_names, all_metrics=True)
    if info.error is not None:
        detail["error"]["traceback"] = info.error.traceback
    detail.update(
        {
            "params": dict(sorted(run.data.params.items())),
            "tags": dict(sorted(run.data.tags.items())),
            "metric_summaries": {
                key: metric_summary(summary)
                for key, summary in sorted(run.data.metric_summaries.items())
            },
            "inputs": [dataset_input(d) for d in run.inputs.dataset_inputs],
            "artifacts": [
                {"path": path, "digest": digest, "size": size} for path, digest, size in artifacts
            ],
            "snapshot_path": snapshot_path(path for path, _, _ in artifacts),
            "code": info.code,
            "previous_run_id": info.previous_run_id,
            "parent_run_id": info.parent_run_id,
            "lifecycle_stage": info.lifecycle_stage,
            "user_id": info.user_id,
            "host": info.host,
        }
    )
    return detail


def metric_summary(summary: MetricSummary) -> dict[str, Any]:
    return {
        "last": json_number(summary.last),
        "last_step": summary.last_step,
        "last_timestamp": summary.last_timestamp,
        "min": json_number(summary.min),
        "max": json_number(summary.max),
        "count": summary.count,
        "text": {
            "last": format_number(summary.last),
            "min": format_number(summary.min),
            "max": format_number(summary.max),
        },
    }


def dataset_input(dataset: DatasetInput) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "digest": dataset.digest,
        "source": dataset.source,
        "source_type": dataset.source_type,
        "context": dataset.context,
        "shape": None if dataset.shape is None else list(dataset.shape),
        "schema": None if dataset.schema is None else dict(dataset.schema),
        "profile": None if dataset.profile is None else dict(dataset.profile),
    }


def snapshot_path(paths: Any) -> str | None:
    """The run's notebook snapshot: the first ``notebook/*.ipynb`` artifact, if any.

    Example:
        >>> snapshot_path(["model.pkl", "notebook/train.ipynb"])
        'notebook/train.ipynb'
    """
    return next(
        (p for p in sorted(paths) if p.startswith(SNAPSHOT_PREFIX) and p.endswith(".ipynb")), None
    )
