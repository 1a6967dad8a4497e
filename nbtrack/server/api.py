"""What the REST API answers, as plain functions over a read-only store; no tornado here.

Every function takes the server root and the ``store`` directory named by the
request (see :mod:`nbtrack.server.paths`), opens the store read-only with a
time limit, and returns JSON-ready dicts (the shapes ``docs/rest-api.md``
describes and ``labextension/src/tokens.ts`` types). Errors are
:mod:`nbtrack.server.errors` or nbtrack's own; the handlers turn both into
JSON answers.

Example:
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> list_runs(root, "")
    Traceback (most recent call last):
    ...
    nbtrack.errors.NoStore: no nbtrack store at ... log a run first or check the path
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ExperimentNotFound
from ..jobs.view import SWEEP_SOURCE
from ..store import queries
from ..store.database import Store, open_store
from ..store.metric_downsample import downsample_series
from ..render import run_json as payloads
from .errors import BadRequest, NotFound, QueryTimeout
from .paths import artifact_relpath, blob_path, ensure_regular_files, store_location

READ_TIME_LIMIT_S = 5.0
MAX_PAGE = 500
DEFAULT_PAGE = 50
MAX_OFFSET = 1_000_000_000  # past any real store; keeps SQLite's int64 and the sort sane
DEFAULT_MAX_POINTS = 500
MAX_POINTS = 20_000
MAX_CELLS = 2000

# Served inline only when a browser cannot execute them; everything else is a download.
INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "text/plain",
        "text/csv",
        "application/json",
    }
)
# Never inline, whatever the caller asks: a browser runs scripts in these.
ACTIVE_TYPES = frozenset(
    {"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml"}
)


@dataclass(frozen=True)
class ArtifactFile:
    """An artifact ready to send: where its bytes are and how to label them."""

    path: Path
    filename: str
    content_type: str
    size: int
    attachment: bool


@contextlib.contextmanager
def reading(
    root: str | os.PathLike[str], store: str, time_limit: float = READ_TIME_LIMIT_S
) -> Iterator[Store]:
    """Open the store in ``store`` read-only; a statement running past ``time_limit`` is interrupted.

    Only regular files are opened (a FIFO would block SQLite's ``open`` forever);
    a missing store is :class:`nbtrack.errors.NoStore`.

    Example:
        >>> with reading(root, "") as st:  # doctest: +SKIP
        ...     st.conn.execute("SELECT COUNT(*) FROM runs").fetchone()
    """
    location = store_location(root, store)
    ensure_regular_files(location)
    opened = open_store(location, readonly=True)
    opened.set_time_limit(time_limit)
    try:
        yield opened
    except sqlite3.OperationalError as exc:
        # sqlite3 raises one type for every failure; the error code (Python 3.11+) tells an
        # interrupt apart, and on 3.10 SQLite's fixed message is all there is.
        code = getattr(exc, "sqlite_errorcode", None)
        if code == sqlite3.SQLITE_INTERRUPT or (code is None and "interrupted" in str(exc)):
            raise QueryTimeout(
                f"the query took longer than {time_limit:g} s; narrow the filter"
            ) from exc
        raise
    finally:
        opened.close()


def list_experiments(root: str, store: str) -> dict[str, Any]:
    """Experiments of the store with their run counts, most recently active first."""
    with reading(root, store) as st:
        counts = queries.experiment_run_counts(st)
        experiments = [e for e in queries.list_experiments(st) if e.lifecycle_stage == "active"]
    rows = [
        {
            "experiment_id": e.experiment_id,
            "name": e.name,
            "creation_time": e.creation_time,
            "run_count": counts.get(e.experiment_id, (0, None))[0],
            "last_run_time": counts.get(e.experiment_id, (0, None))[1],
        }
        for e in experiments
    ]
    rows.sort(key=lambda r: r["last_run_time"] or r["creation_time"] or 0, reverse=True)
    return {"experiments": rows}


def list_runs(
    root: str,
    store: str,
    *,
    filter_string: str = "",
    experiment: str | None = None,
    order_by: Sequence[str] = (),
    offset: int = 0,
    limit: int = DEFAULT_PAGE,
) -> dict[str, Any]:
    """One page of runs matching ``filter_string`` (nbtrack's MLflow-style filter) and the total.

    ``experiment`` is an experiment id or name.

    Example:
        >>> list_runs(root, "", filter_string="metrics.acc > 0.9", limit=10)  # doctest: +SKIP
        {'runs': [...], 'total': 3, 'offset': 0, 'limit': 10}
    """
    if not 0 <= offset <= MAX_OFFSET:
        raise BadRequest(f"offset must be between 0 and {MAX_OFFSET:,}; got {offset}")
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}; got {limit}")
    with reading(root, store) as st:
        names = _experiment_names(st)
        experiment_ids = None
        if experiment:
            experiment_ids = [_experiment_id(st, experiment)]
        pks = queries.select_run_pks(
            st,
            filter_string or None,
            experiment_ids=experiment_ids,
            order_by=list(order_by) or None,
            max_results=limit,
            offset=offset,
        )
        total = queries.count_runs(st, filter_string or None, experiment_ids=experiment_ids)
        runs = queries.runs_by_pk(st, pks)
        models = _registered_versions(st, [run.info.run_id for run in runs])
    return {
        "runs": [_listed(payloads.run_summary(run, names), run, models) for run in runs],
        "total": total,
        "offset": offset,
        "limit": limit,
    }


def get_run(root: str, store: str, run_id: str) -> dict[str, Any]:
    """Everything the sidebar shows about one run: params, metrics, tags, inputs, artifacts, code."""
    with reading(root, store) as st:
        run = queries.get_run(st, run_id)
        artifacts = queries.artifact_entries(st, run_id)
        names = _experiment_names(st)
    return payloads.run_detail(run, names, artifacts)


def metric_history(
    root: str, store: str, run_id: str, key: str, max_points: int = DEFAULT_MAX_POINTS
) -> dict[str, Any]:
    """A metric's points, downsampled to ``max_points`` keeping each bucket's min and max."""
    if not key:
        raise BadRequest("key is required: the metric to read, e.g. key=loss")
    if not 1 <= max_points <= MAX_POINTS:
        raise BadRequest(f"max_points must be between 1 and {MAX_POINTS}; got {max_points}")
    with reading(root, store) as st:
        # In SQL, bucket by bucket: a 3-million-point series never enters Python whole.
        series = downsample_series(st, queries.run_pk(st, run_id), key, max_points)
    if not series.total_points:
        raise NotFound(f"run {run_id} has no metric {key!r}")
    return {
        "run_id": run_id,
        "key": key,
        "total_points": series.total_points,
        "downsampled": series.downsampled,
        "points": [
            {"step": s, "value": payloads.json_number(v), "timestamp": t} for v, s, t in series.points
        ],
    }


def artifact(root: str, store: str, run_id: str, path: str, download: bool = False) -> ArtifactFile:
    """Locate one artifact of a run. HTML, SVG and XML are always downloads (``attachment``)."""
    relpath = artifact_relpath(path)
    location = store_location(root, store)
    with reading(root, store) as st:
        entries = [e for e in queries.artifact_entries(st, run_id, relpath) if e[0] == relpath]
    if not entries:
        raise NotFound(f"run {run_id} has no artifact {relpath!r}")
    _, digest, size = entries[0]
    file = blob_path(location, digest)
    if not file.is_file():
        raise NotFound(f"artifact {relpath!r} is recorded but its file is missing from the store")
    content_type = content_type_for(relpath)
    attachment = download or content_type in ACTIVE_TYPES or content_type not in INLINE_TYPES
    return ArtifactFile(file, relpath.rsplit("/", 1)[-1], content_type, size, attachment)


def notebook_snapshot(root: str, store: str, run_id: str) -> tuple[str, dict[str, Any]]:
    """The notebook as it was when the run executed: ``(file name, nbformat dict)``."""
    with reading(root, store) as st:
        path = payloads.snapshot_path(
            p for p, _, _ in queries.artifact_entries(st, run_id, "notebook")
        )
    if path is None:
        raise NotFound(f"run {run_id} has no notebook snapshot (no notebook/*.ipynb artifact)")
    file = artifact(root, store, run_id, path)
    try:
        content = json.loads(file.path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotFound(f"the snapshot {path!r} of run {run_id} is not a notebook: {exc}") from exc
    if not isinstance(content, dict) or not isinstance(content.get("cells"), list):
        raise NotFound(f"the snapshot {path!r} of run {run_id} is not an nbformat notebook")
    return file.filename, content


def cell_runs(root: str, store: str, cell_id: str, limit: int = 50) -> dict[str, Any]:
    """Runs of one notebook cell (by its nbformat id), newest first, each with the code it ran."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}; got {limit}")
    with reading(root, store) as st:
        runs = queries.cell_history(st, cell_id)[:limit]
        names = _experiment_names(st)
    return {
        "cell_id": cell_id,
        "runs": [{**payloads.run_summary(run, names), "code": run.info.code} for run in runs],
    }


def cells_summary(root: str, store: str, cell_ids: Sequence[str]) -> dict[str, Any]:
    """For each of ``cell_ids`` that has runs: its newest run and its run count (the cell badges)."""
    ids = list(dict.fromkeys(cell_ids))[:MAX_CELLS]
    for cell_id in ids:
        _check_text("cell_ids", cell_id)
    if not ids:
        return {"cells": {}}
    with reading(root, store) as st:
        latest = queries.latest_run_per_cell(st, ids)
        runs = queries.runs_by_pk(st, [pk for _, pk in latest.values()])
        names = _experiment_names(st)
    counts = {cell: count for cell, (count, _) in latest.items()}
    return {
        "cells": {
            run.info.cell_id: {
                "run": payloads.run_summary(run, names),
                "run_count": counts[run.info.cell_id],
            }
            for run in runs
        }
    }


def _listed(summary: dict[str, Any], run: Any, models: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """A runs-list row: the summary, the run's registered model versions (the "model v3
    @champion" badge) and, for a sweep, the metric and goal its executions sort by."""
    summary["models"] = models.get(run.info.run_id, [])
    if run.info.source == SWEEP_SOURCE:
        tags = run.data.tags
        summary["sweep"] = {"metric": tags.get("nbtrack.sweep.metric"), "goal": tags.get("nbtrack.sweep.goal")}
    return summary


def _registered_versions(st: Store, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    from .registry_api import versions_of_runs

    return versions_of_runs(st, run_ids)


def _check_text(name: str, text: str) -> None:
    """Refuse text SQLite cannot bind (a JSON body may carry a lone surrogate such as ``\\ud800``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{name} must be valid Unicode text; got {text[:40]!r}") from None


def _experiment_names(st: Store) -> dict[str, str]:
    return {e.experiment_id: e.name for e in queries.list_experiments(st)}


def _experiment_id(st: Store, experiment: str) -> str:
    try:
        return queries.experiment_ids(st, [experiment])[0]
    except ExperimentNotFound:
        raise NotFound(f"no experiment {experiment!r} in this store") from None


def content_type_for(path: str) -> str:
    """The Content-Type for an artifact path, by extension; unknown types are octet-stream.

    Example:
        >>> content_type_for("plots/loss.svg"), content_type_for("model.bin")
        ('image/svg+xml', 'application/octet-stream')
    """
    guessed, encoding = mimetypes.guess_type(path, strict=False)
    if encoding or not guessed:  # a .gz is a download, not its inner type
        return "application/octet-stream"
    return guessed


__all__ = [
    "ArtifactFile",
    "artifact",
    "cell_runs",
    "cells_summary",
    "get_run",
    "list_experiments",
    "list_runs",
    "metric_history",
    "notebook_snapshot",
    "reading",
]
