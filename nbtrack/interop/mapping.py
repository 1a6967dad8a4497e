"""How an nbtrack run's attributes travel as MLflow tags, and come back.

MLflow has no column for a run's cell, notebook, host or error, so a push writes them as
tags: MLflow's own conventions where they exist (``mlflow.runName``, ``mlflow.user``,
``mlflow.source.name``, ``mlflow.parentRunId``) and ``nbtrack.*`` otherwise. The tag
``nbtrack.synthesized`` lists the keys the push added, so a pull removes exactly those and
gives the run back the tags it had.

Example:
    >>> tags = {"nbtrack.cell_id": "c1", "team": "nlp", SYNTHESIZED: "nbtrack.cell_id"}
    >>> split_synthesized(tags)
    ({'team': 'nlp'}, {'nbtrack.cell_id': 'c1'})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .limits import MAX_TAG_VALUE

SYNTHESIZED = "nbtrack.synthesized"
RUN_ID_TAG = "nbtrack.run_id"  # the nbtrack run id of a pushed run
MLFLOW_RUN_ID_TAG = "nbtrack.mlflow_run_id"  # the MLflow run id of a pulled run
DIGEST_TAG = "nbtrack.digest"  # a dataset digest longer than MLflow keeps
PARENT_TAG = "mlflow.parentRunId"  # a run id: each side holds its own parent's
STATUS_TAG = "nbtrack.status"  # a status MLflow lacks (CRASHED travels as FAILED)
# Run attributes MLflow has no place for: they travel as nbtrack.<name> tags.
ATTRIBUTES = ("notebook_path", "cell_id", "execution_count", "previous_run_id", "source", "host",
              "pid", "error_type", "error_message", "error_traceback", "code")
_INTEGERS = ("execution_count", "pid")


def push_tags(run: Any, parent_remote_id: str | None) -> dict[str, str]:
    """The tags a push adds to ``run`` (a ``RunRecord``) beyond its own, with their list."""
    own = run.tags
    added: dict[str, str] = {RUN_ID_TAG: run.run_id}
    conventions = {"mlflow.runName": run.run_name, "mlflow.user": run.user_id,
                   PARENT_TAG: parent_remote_id}
    if run.notebook_path:
        conventions.update({"mlflow.source.name": run.notebook_path, "mlflow.source.type": "NOTEBOOK"})
    for key, value in conventions.items():
        if value and key not in own:
            added[key] = str(value)
    for name in ATTRIBUTES:
        value = getattr(run, name)
        if value is not None:
            # A traceback or a cell's code may be longer than a tag holds; the head is kept.
            added[f"nbtrack.{name}"] = str(value)[:MAX_TAG_VALUE]
    if run.status == "CRASHED":
        added[STATUS_TAG] = run.status
    added = {k: v for k, v in added.items() if k not in own}
    added[SYNTHESIZED] = ",".join(sorted(added))[:MAX_TAG_VALUE]
    return added


def split_synthesized(tags: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """``(the run's own tags, the tags a push added)`` of a pulled run."""
    listed = set(filter(None, tags.get(SYNTHESIZED, "").split(",")))
    own = {k: v for k, v in tags.items() if k not in listed and k != SYNTHESIZED}
    return own, {k: v for k, v in tags.items() if k in listed}


def attributes_from(added: Mapping[str, str]) -> dict[str, Any]:
    """The run attributes a push wrote as ``nbtrack.*`` tags."""
    found: dict[str, Any] = {}
    for name in ATTRIBUTES:
        value = added.get(f"nbtrack.{name}")
        if value is not None:
            found[name] = int(value) if name in _INTEGERS and value.lstrip("-").isdigit() else value
    return found


def mlflow_status(status: str) -> str:
    return "FAILED" if status == "CRASHED" else status
