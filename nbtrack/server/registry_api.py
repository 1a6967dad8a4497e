"""The model registry over REST: what the sidebar's Models section reads and writes; no tornado.

Reads open the store read-only, like :mod:`nbtrack.server.api`. Writes go
through :class:`nbtrack.models.registry.Registry` (checked commands on the
store's write path) with the process's handle on that store; a write never
creates a store. Every name, alias and version is checked by the registry's
own rules, so a bad one is one line naming the fix (``400 bad_request``).

Example:
    >>> import tempfile
    >>> list_models(tempfile.mkdtemp(), "")
    Traceback (most recent call last):
    ...
    nbtrack.errors.NoStore: no nbtrack store at ... log a run first or check the path
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from ..errors import NoStore
from ..models.marks import version_marks
from ..models.registry import Registry, check_name
from ..render.numbers import format_number
from ..store import queries
from ..store import registry_queries as rq
from ..store.database import Store
from .api import reading
from .errors import BadRequest
from .paths import artifact_relpath, ensure_regular_files, store_location

HISTORY_LIMIT = 50  # alias and stage moves shown per model, newest first
MAX_MODELS = 500
STAGES = rq.ALL_STAGES


def list_models(root: str, store: str) -> dict[str, Any]:
    """Every registered model with its live versions (newest first) and its recent alias/stage moves.

    Example:
        >>> list_models(root, "")["models"][0]["versions"][0]["aliases"]  # doctest: +SKIP
        ['champion']
    """
    with reading(root, store) as st:
        models = rq.search_registered_models(st, None, MAX_MODELS)
        versions = rq.search_model_versions(st, None, 100_000, ["name", "version_number DESC"])
        overview = {(v.name, v.version): v for v in rq.registry_overview(st)}
        histories = {m.name: rq.history(st, m.name)[-HISTORY_LIMIT:] for m in models}
    by_model: dict[str, list[dict[str, Any]]] = {}
    for version in versions:
        summary = overview.get((version.name, version.version))
        by_model.setdefault(version.name, []).append(_version(version, summary))
    return {
        "models": [
            {
                "name": model.name,
                "description": model.description,
                "creation_time": model.creation_timestamp,
                "last_updated_time": model.last_updated_timestamp,
                "tags": model.tags,
                "aliases": model.aliases,
                "versions": by_model.get(model.name, []),
                "history": [_event(e) for e in reversed(histories[model.name])],
            }
            for model in models
        ],
        "stages": list(STAGES),
    }


def versions_of_runs(st: Store, run_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """run id -> its registered versions as ``{"name", "version", "aliases"}`` (the runs-list badge)."""
    return {run_id: [{"name": m.name, "version": m.version, "aliases": list(m.aliases)} for m in marks]
            for run_id, marks in version_marks(st, run_ids).items()}


def run_models(root: str, store: str, run_id: str) -> dict[str, Any]:
    """A run's logged models (artifact folders holding an ``MLmodel``) and its registered versions."""
    with reading(root, store) as st:
        queries.run_pk(st, run_id)  # RunNotFound (404) for an unknown run
        paths = [e.path for e in queries.artifact_entries(st, run_id)]
        versions = versions_of_runs(st, [run_id]).get(run_id, [])
    logged = sorted({p.rsplit("/", 1)[0] for p in paths if p.endswith("/MLmodel")})
    return {"run_id": run_id, "logged_models": logged, "versions": versions}


# --- writes ------------------------------------------------------------------------------------


def register(root: str, store: str, run_id: str, path: str, name: str) -> dict[str, Any]:
    """Register the model logged at ``path`` of run ``run_id`` as a new version of ``name``."""
    from ..models.registry import register_model

    name = check_name(name)
    relpath = artifact_relpath(path)
    if not relpath:
        raise BadRequest("path must name the run's model folder, e.g. 'model'")
    registry = _registry(root, store)
    with _quiet():
        version = register_model(f"runs:/{run_id}/{relpath}", name, registry=registry)
    return {"name": version.name, "version": version.version}


def set_alias(root: str, store: str, name: str, alias: str, version: object) -> dict[str, Any]:
    """Point ``alias`` of ``name`` at ``version`` (moving it if it pointed elsewhere; kept in history)."""
    _registry(root, store).set_registered_model_alias(name, alias, version)  # type: ignore[arg-type]
    return {"name": name, "alias": alias, "version": int(str(version))}


def delete_alias(root: str, store: str, name: str, alias: str) -> dict[str, Any]:
    _registry(root, store).delete_registered_model_alias(name, alias)
    return {"name": name, "alias": alias, "version": None}


def transition_stage(root: str, store: str, name: str, version: object, stage: str,
                     archive_existing_versions: bool = False) -> dict[str, Any]:
    """Move ``version`` of ``name`` to ``stage`` (None, Staging, Production, Archived)."""
    with _quiet():  # MLflow's deprecation warning is for code, not for a button
        found = _registry(root, store).transition_model_version_stage(
            name, version, stage, archive_existing_versions)  # type: ignore[arg-type]
    return {"name": found.name, "version": found.version, "stage": found.current_stage}


def _registry(root: str, store: str) -> Registry:
    """The registry of an existing store under ``root``; a write never creates a store."""
    from ..tracking.fluent import store_handle

    location = store_location(root, store)
    ensure_regular_files(location)
    if not location.database.exists():
        raise NoStore(f"no nbtrack store in {store or '.'!r}; log a run there first")
    return Registry(store_handle(location))


class _quiet(warnings.catch_warnings):
    def __enter__(self) -> Any:
        entered = super().__enter__()
        warnings.simplefilter("ignore", FutureWarning)
        return entered


def _version(version: rq.ModelVersion, summary: rq.VersionSummary | None) -> dict[str, Any]:
    metrics = summary.metrics if summary else {}
    return {
        "version": version.version,
        "stage": version.current_stage,
        "aliases": version.aliases,
        "run_id": version.run_id,
        "run_name": summary.run_name if summary else None,
        "source": version.source,
        "creation_time": version.creation_timestamp,
        "description": version.description,
        "user_id": version.user_id,
        "metrics_text": {k: format_number(v) for k, v in list(metrics.items())[:4]},
    }


def _event(event: rq.RegistryEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "alias": event.alias,
        "version": event.version,
        "previous_version": event.previous_version,
        "stage": event.stage,
        "previous_stage": event.previous_stage,
        "time": event.time,
        "user_id": event.user_id,
    }


__all__ = [
    "delete_alias",
    "list_models",
    "register",
    "run_models",
    "set_alias",
    "transition_stage",
    "versions_of_runs",
]
