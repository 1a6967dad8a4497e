"""``MlflowClient``'s experiment methods: create, get, search, rename, delete, restore, tag.

Example:
    >>> import tempfile
    >>> from nbtrack import MlflowClient
    >>> client = MlflowClient(tempfile.mkdtemp())
    >>> experiment_id = client.create_experiment("churn", tags={"team": "ml"})
    >>> client.get_experiment(experiment_id).tags
    {'team': 'ml'}
"""

from __future__ import annotations

from typing import Any

from .. import validation
from ..entities import Experiment, PagedList, ViewType
from ..store import experiments as commands
from ..store import queries
from ..store.database import translating
from ..store.handle import StoreHandle
from . import experiments


class ExperimentMethods:
    """Mixed into ``Client``: MLflow's experiment methods on the client's store."""

    _handle: StoreHandle

    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: dict[str, Any] | None = None) -> str:
        """Create an experiment; returns its id. ``artifact_location`` is not used."""
        return experiments.create_experiment(name, artifact_location, tags, handle=self._handle)

    @translating
    def get_experiment(self, experiment_id: str) -> Experiment:
        return queries.get_experiment(self._handle.read(), str(experiment_id))

    @translating
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return queries.get_experiment_by_name(self._handle.read(), name)

    def search_experiments(self, view_type: ViewType | str = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                           filter_string: str | None = None, order_by: list[str] | None = None,
                           page_token: str | None = None) -> PagedList:
        """MLflow's ``search_experiments``: a page of experiments, ``token`` for the next."""
        offset = int(page_token) if page_token else 0
        found = experiments.search_experiments(view_type, None, filter_string, order_by, handle=self._handle)
        page = found[offset: offset + max_results]
        more = offset + max_results < len(found)
        return PagedList(page, str(offset + max_results) if more else None)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark the experiment and its runs deleted."""
        experiments.delete_experiment(experiment_id, handle=self._handle)

    def restore_experiment(self, experiment_id: str) -> None:
        experiments.restore_experiment(experiment_id, handle=self._handle)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        experiments.rename_experiment(experiment_id, new_name, handle=self._handle)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        checked = validation.checked_tags({key: value})
        self._handle.execute(commands.SetExperimentTags(experiments.experiment_int(experiment_id), checked))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        key = validation.check_key(key, "tag")
        self._handle.execute(commands.DeleteExperimentTag(experiments.experiment_int(experiment_id), key))
