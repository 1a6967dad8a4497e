"""Run-level fluent names MLflow has beyond logging: ``get_parent_run``, ``delete_run``,
``restore_run``, ``get_artifact_uri``, ``log_inputs``.

A run's ``artifact_uri`` is an absolute path (``<store>/artifacts/runs/<run_id>``), as
MLflow's for a local SQLite store. Artifacts are stored once each, by content, in
the store's blob folder; ``get_artifact_uri()`` (and ``Client.download_artifacts`` to
its default place) lays the run's artifacts out there as plain files when called, so the
URI can be opened like MLflow's. Files written there by hand are not artifacts of the run:
log them with ``log_artifact``.

Example:
    >>> import nbtrack, tempfile
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> with nbtrack.start_run():
    ...     nbtrack.log_text("hi", "notes.txt")
    ...     uri = nbtrack.get_artifact_uri("notes.txt")
    >>> open(uri).read()
    'hi'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..entities import Run
from ..errors import ActiveRunError, InvalidInput
from ..store import artifacts as blobs
from ..store import commands, queries
from ..store.database import Store, now_ms, translating
from .fluent import active_run, store_handle


@translating
def get_parent_run(run_id: str) -> Run | None:
    """The parent of ``run_id`` (a nested run's outer run), or None for a top-level run.

    Example:
        >>> get_parent_run(child.info.run_id).info.run_id == parent.info.run_id  # doctest: +SKIP
        True
    """
    store = store_handle().read()
    parent = queries.get_run(store, run_id).info.parent_run_id
    return None if parent is None else queries.get_run(store, parent)


def delete_run(run_id: str) -> None:
    """Mark a run deleted (hidden from searches; ``restore_run`` undoes it, ``nbtrack gc``
    removes it for good)."""
    handle = store_handle()
    handle.flush()  # the run may have queued writes of its own
    handle.execute(commands.SetLifecycle(run_id, "deleted", now_ms()))


def restore_run(run_id: str) -> None:
    """Bring back a deleted run."""
    store_handle().execute(commands.SetLifecycle(run_id, "active", now_ms()))


@translating
def get_artifact_uri(artifact_path: str | None = None) -> str:
    """Where the active run's artifacts are (or ``artifact_path`` among them), an absolute path
    as MLflow's for a local store, with the artifacts logged so far laid out there as files.

    Example:
        >>> get_artifact_uri("model")  # doctest: +SKIP
        '/home/me/.nbtrack/artifacts/runs/0f3c.../model'
    """
    run = active_run()
    if run is None:
        raise ActiveRunError("get_artifact_uri needs an active run: call it inside `with nbtrack.start_run():`")
    store = run.store.read()
    root = materialize(store, run.run_id)
    if not artifact_path:
        return str(root)
    return str(root / blobs.normalize_artifact_path(None, artifact_path))


def materialize(store: Store, run_id: str, path: str | None = None, root: Path | None = None) -> Path:
    """Copy ``run_id``'s artifacts (those at or under ``path``) as files under ``root``
    (default: the folder its ``artifact_uri`` names); returns ``root``, absolute."""
    if root is None:
        root = uri_path(queries.artifact_uri(store.location, run_id))
    root = root.absolute()
    for entry in queries.artifact_entries(store, run_id, path):
        target = root / blobs.normalize_artifact_path(None, entry.path)  # re-checked on the way out
        if not (target.is_file() and target.stat().st_size == entry.size):
            blobs.copy_blob(store, entry.digest, target)
    return root


def uri_path(uri: str) -> Path:
    """The local path of a ``file://`` URI (or of a plain path)."""
    if uri.startswith("file:"):
        return Path(unquote(urlparse(uri).path))
    return Path(uri)


def log_inputs(datasets: Sequence[Any] | None = None, contexts: Sequence[str | None] | None = None,
               tags_list: Sequence[dict[str, str] | None] | None = None, models: Any = None) -> None:
    """Record several datasets at once (MLflow's ``log_inputs``): each as ``log_input`` would.

    Example:
        >>> log_inputs([train_df, test_df], contexts=["train", "test"])  # doctest: +SKIP
    """
    from .inputs import log_input

    datasets = list(datasets or [])
    contexts = list(contexts) if contexts is not None else [None] * len(datasets)
    tags_list = list(tags_list) if tags_list is not None else [None] * len(datasets)
    if not len(datasets) == len(contexts) == len(tags_list):
        raise InvalidInput("log_inputs: datasets, contexts and tags_list must have the same length")
    for dataset, context, tags in zip(datasets, contexts, tags_list):
        log_input(dataset, context=context, tags=tags)
