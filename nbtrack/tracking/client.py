"""``nbtrack.MlflowClient`` (also ``nbtrack.Client``): MLflow's ``MlflowClient`` on one store.

Unlike the fluent API it holds no active run: every call names the run. Runs, experiments
and the model registry each have their half (``client_runs``, ``client_experiments``,
``models.registry``); this class puts them together under MLflow's names.

Example:
    >>> import tempfile
    >>> client = MlflowClient(tempfile.mkdtemp())
    >>> client.search_runs()
    []
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..entities import FileInfo, Metric, PagedList, Run, ViewType
from ..errors import InvalidInput
from ..paths import current_location, resolve_location
from ..store import queries
from ..store.database import Store, translating
from .client_experiments import ExperimentMethods
from .client_runs import RunMethods
from .fluent import store_handle
from .runs import materialize


class Client(RunMethods, ExperimentMethods):
    """Read and manage runs, experiments and models of one store (the current one when
    ``tracking_uri`` is None)."""

    def __init__(self, tracking_uri: str | os.PathLike[str] | None = None, registry_uri: str | None = None) -> None:
        location = current_location() if tracking_uri is None else resolve_location(tracking_uri)
        self._handle = store_handle(location)
        self.tracking_uri = location.uri

    def _fresh(self) -> Store:
        """The read-only connection, after flushing what this process logged."""
        return self._handle.read()

    @translating
    def get_run(self, run_id: str) -> Run:
        return queries.get_run(self._fresh(), run_id)

    @translating
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of ``key`` in ``run_id``, ordered by step."""
        return queries.metric_history(self._fresh(), run_id, key)

    @translating
    def search_runs(
        self,
        experiment_ids: list[str] | None = None,
        filter_string: str = "",
        run_view_type: ViewType | str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """Runs as objects, a page at a time (``.token`` names the next page; MLflow's client
        returns the same ``PagedList``, the fluent API a DataFrame)."""
        offset = int(page_token) if page_token else 0
        runs = queries.search_runs(
            self._fresh(), filter_string, experiment_ids=experiment_ids, view_type=run_view_type,
            order_by=order_by, max_results=max_results + 1, offset=offset,
        )
        more = len(runs) > max_results
        return PagedList(runs[:max_results], str(offset + max_results) if more else None)

    @translating
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return queries.list_artifacts(self._fresh(), run_id, path)

    @translating
    def download_artifacts(self, run_id: str, path: str = "", dst_path: str | None = None) -> str:
        """Copy a run's artifact (file or folder) to ``dst_path`` (a new temp dir by default);
        returns its absolute local path, as MLflow."""
        store = self._fresh()
        if not queries.artifact_entries(store, run_id, path or None):
            raise InvalidInput(f"run {run_id} has no artifact at {path!r}; see list_artifacts()")
        root = materialize(store, run_id, path or None,
                           Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="nbtrack-artifacts-")))
        return str(root / path) if path else str(root)

    # --- model registry (MLflow's registry methods; the work is in nbtrack.models.registry) ----

    @property
    def _registry(self):  # -> nbtrack.models.registry.Registry
        from ..models.registry import Registry

        return Registry(self._handle)

    def create_registered_model(self, name, tags=None, description=None, **kwargs):
        return self._registry.create_registered_model(name, tags, description, **kwargs)

    def get_registered_model(self, name):
        return self._registry.get_registered_model(name)

    def rename_registered_model(self, name, new_name):
        return self._registry.rename_registered_model(name, new_name)

    def update_registered_model(self, name, description=None, **kwargs):
        return self._registry.update_registered_model(name, description, **kwargs)

    def delete_registered_model(self, name):
        return self._registry.delete_registered_model(name)

    def set_registered_model_tag(self, name, key, value):
        return self._registry.set_registered_model_tag(name, key, value)

    def delete_registered_model_tag(self, name, key):
        return self._registry.delete_registered_model_tag(name, key)

    def search_registered_models(self, filter_string=None, max_results=100, order_by=None, page_token=None):
        return self._registry.search_registered_models(filter_string, max_results, order_by, page_token)

    def create_model_version(self, name, source, run_id=None, tags=None, run_link=None, description=None,
                             await_creation_for=300, model_id=None, **kwargs):
        return self._registry.create_model_version(name, source, run_id, tags, run_link, description,
                                                   await_creation_for, model_id, **kwargs)

    def get_model_version(self, name, version):
        return self._registry.get_model_version(name, version)

    def update_model_version(self, name, version, description=None):
        return self._registry.update_model_version(name, version, description)

    def delete_model_version(self, name, version):
        return self._registry.delete_model_version(name, version)

    def get_model_version_download_uri(self, name, version):
        return self._registry.get_model_version_download_uri(name, version)

    def search_model_versions(self, filter_string=None, max_results=10_000, order_by=None, page_token=None):
        return self._registry.search_model_versions(filter_string, max_results, order_by, page_token)

    def set_model_version_tag(self, name, version=None, key=None, value=None, stage=None):
        return self._registry.set_model_version_tag(name, version, key, value, stage)

    def delete_model_version_tag(self, name, version, key):
        return self._registry.delete_model_version_tag(name, version, key)

    def set_registered_model_alias(self, name, alias, version):
        return self._registry.set_registered_model_alias(name, alias, version)

    def delete_registered_model_alias(self, name, alias):
        return self._registry.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name, alias):
        return self._registry.get_model_version_by_alias(name, alias)

    def get_model_version_stages(self, name, version):
        """The stages a version can move to (MLflow's; deprecated there since 2.9.0)."""
        from ..models.uri import STAGES

        return list(STAGES.values())

    def copy_model_version(self, src_model_uri, dst_name):
        """A new version of ``dst_name`` (created if new) holding the model of ``src_model_uri``
        (``models:/name/1``, ``models:/name@alias``); the source version is kept as lineage."""
        from ..errors import RegistryNotFound

        try:
            self._registry.get_registered_model(dst_name)
        except RegistryNotFound:
            self._registry.create_registered_model(dst_name)
        return self._registry.create_model_version(dst_name, src_model_uri)

    def transition_model_version_stage(self, name, version, stage, archive_existing_versions=False):
        """Deprecated in MLflow since 2.9.0 (FutureWarning, MLflow's text); still works."""
        return self._registry.transition_model_version_stage(name, version, stage, archive_existing_versions)

    def get_latest_versions(self, name, stages=None):
        """Deprecated in MLflow since 2.9.0 (FutureWarning, MLflow's text); still works."""
        return self._registry.get_latest_versions(name, stages)

    def get_registered_model_history(self, name):
        """Every alias and stage move of ``name`` (who, when, which versions); MLflow keeps none."""
        return self._registry.history(name)


MlflowClient = Client
