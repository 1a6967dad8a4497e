"""Where a model's files are: a local folder, ``runs:/<run>/<path>`` or a ``models:/`` URI.

``model_directory(uri)`` yields a local folder holding the model's files, every
file checked against its recorded digest; ``log_model_directory`` stores a
saved folder as the active run's artifacts (content-addressed blobs).

Example:
    >>> resolve_source("runs:/0123/model")  # doctest: +SKIP
    ResolvedModel(run_id='0123', path='model', version=None)
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import ModelError, RunNotFound
from ..store import artifacts as blobs
from ..store import queries
from ..store import registry_queries as rq
from ..store.database import Store
from ..store.handle import StoreHandle
from . import integrity
from .mlmodel import MLMODEL, read_mlmodel
from .uri import ModelRef, parse_model_uri, parse_runs_uri


class ResolvedModel(NamedTuple):
    """A model in the store: the run and artifact path holding it, and the registry version
    it was reached through (None for ``runs:/``)."""

    run_id: str
    path: str
    name: str | None
    version: int | None


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns (MLflow's ``ModelInfo`` fields)."""

    artifact_path: str
    flavors: dict[str, Any]
    model_uri: str
    model_id: str
    model_uuid: str
    run_id: str
    signature: dict[str, Any] | None
    saved_input_example_info: dict[str, Any] | None
    utc_time_created: str
    registered_model_version: int | None = None

    @property
    def name(self) -> str:
        return self.artifact_path


def version_number(store: Store, ref: ModelRef) -> int:
    """The version a parsed ``models:/`` URI points at (one indexed look-up)."""
    if ref.version is not None:
        return ref.version
    if ref.alias is not None:
        return rq.version_by_alias(store, ref.name, ref.alias)
    return rq.latest_version_number(store, ref.name, ref.stage)


def resolve_source(store: Store, uri: str) -> ResolvedModel:
    """``runs:/`` or ``models:/`` -> the run and artifact path that hold the model's files."""
    if uri.startswith("runs:/"):
        run = parse_runs_uri(uri)
        return ResolvedModel(run.run_id, run.path, None, None)
    ref = parse_model_uri(uri)
    if ref.model_id is not None:
        run_id, path = rq.logged_model_location(store, ref.model_id)
        # the run's files must still be that model (a purged run's row key can be reused)
        entries = check_logged_model(store, run_id, path)
        mlmodel = next(e for e in entries if e.path == (f"{path}/{MLMODEL}" if path else MLMODEL))
        if model_id_of(store, mlmodel.digest) != ref.model_id:
            raise ModelError(f"logged model {ref.model_id} is gone (its run was purged); "
                             "load it by runs:/ or models:/<name>/<version> URI instead")
        return ResolvedModel(run_id, path, None, None)
    version = version_number(store, ref)
    source, run_id = rq.version_source(store, ref.name, version)
    if not source or not source.startswith("runs:/"):
        raise ModelError(f"version {version} of {ref.name!r} has no files in this store "
                         f"(source {source!r}); register a model logged to a run (runs:/<run>/<path>)")
    run = parse_runs_uri(source)
    return ResolvedModel(run.run_id, run.path, ref.name, version)


def model_id_of(store: Store, mlmodel_digest: str) -> str | None:
    """The ``model_id`` written in a stored MLmodel (a top-level key: a line match does, no
    YAML parsing, which costs milliseconds)."""
    try:
        text = blobs.blob_path(store, mlmodel_digest).read_text()
    except OSError:
        return None
    match = re.search(r"^model_id: '?(m-[0-9a-f]{32})'?$", text, re.MULTILINE)
    return match.group(1) if match else None


def check_logged_model(store: Store, run_id: str, path: str) -> list[Any]:
    """The artifact entries of the model at ``runs:/run_id/path``; raises if there is none."""
    try:
        entries = queries.artifact_entries(store, run_id, path or None)
    except RunNotFound:
        raise ModelError(f"no run {run_id!r} in this store; check the run id in the URI "
                         "(nbtrack.search_runs() lists runs)") from None
    mlmodel = f"{path}/{MLMODEL}" if path else MLMODEL
    if not any(e.path == mlmodel for e in entries):
        raise ModelError(f"runs:/{run_id}/{path} holds no model (no {mlmodel} in the run's artifacts); "
                         "log one there with nbtrack.sklearn.log_model(model, name=...) or fix the path")
    return entries


def _is_local(uri: str) -> bool:
    return not uri.startswith(("runs:/", "models:/"))


def _local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


@contextlib.contextmanager
def model_directory(uri: str | Path, handle: StoreHandle | None = None,
                    dst_path: str | Path | None = None) -> Iterator[Path]:
    """A local folder with the model's files, each verified against its recorded digest. For a
    store URI the files are copied to ``dst_path`` (or a temp folder removed afterwards)."""
    uri = str(uri)
    if _is_local(uri):
        folder = _local_path(uri)
        mlmodel = read_mlmodel(folder)
        digests = (mlmodel.get("nbtrack") or {}).get("files")
        if isinstance(digests, dict):
            integrity.verify_files(folder, digests)
        yield folder
        return
    if handle is None:
        from ..tracking.fluent import store_handle

        handle = store_handle()
    store = handle.read()
    resolved = resolve_source(store, uri)
    entries = check_logged_model(store, resolved.run_id, resolved.path)
    target = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="nbtrack-model-"))
    try:
        integrity.materialize(store, entries, resolved.path, target)
        digests = (read_mlmodel(target).get("nbtrack") or {}).get("files")
        if isinstance(digests, dict):
            integrity.verify_files(target, digests)
        yield target
    finally:
        if dst_path is None:
            shutil.rmtree(target, ignore_errors=True)


def log_model_directory(folder: Path, artifact_path: str, mlmodel: dict[str, Any]) -> str:
    """Store a saved model folder under ``artifact_path`` in the active run and record it as a
    logged model (so ``models:/<model_id>`` resolves); returns the run id."""
    from ..store.database import now_ms
    from ..store.registry import RecordLoggedModel
    from ..tracking.artifacts import log_artifacts
    from ..tracking.fluent import current_run

    run = current_run()
    log_artifacts(folder, artifact_path=artifact_path)
    run.submit(RecordLoggedModel(run.pk, mlmodel["model_id"], artifact_path, now_ms(),
                                 tuple(mlmodel.get("flavors", {}))))
    return run.run_id
