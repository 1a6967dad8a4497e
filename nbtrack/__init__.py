"""nbtrack: experiment tracking that lives in the notebook.

``import nbtrack`` is cheap (no pandas, IPython, plotly or widgets): the public
names below load their modules on first use.

Example:
    >>> import nbtrack
    >>> nbtrack.__version__ == __import__("importlib.metadata").metadata.version("nbtrack")
    True
"""

from __future__ import annotations

# Not `from typing import TYPE_CHECKING`: importing typing costs ~10 ms in a fresh
# interpreter, most of `import nbtrack`. Type checkers treat this name the same way.
TYPE_CHECKING = False

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "set_tracking_uri": "nbtrack.paths",
    "get_tracking_uri": "nbtrack.paths",
    "set_experiment": "nbtrack.tracking.fluent",
    "start_run": "nbtrack.tracking.fluent",
    "end_run": "nbtrack.tracking.fluent",
    "active_run": "nbtrack.tracking.fluent",
    "last_active_run": "nbtrack.tracking.fluent",
    "log_param": "nbtrack.tracking.fluent",
    "log_params": "nbtrack.tracking.fluent",
    "log_metric": "nbtrack.tracking.fluent",
    "log_metrics": "nbtrack.tracking.fluent",
    "set_tag": "nbtrack.tracking.fluent",
    "set_tags": "nbtrack.tracking.fluent",
    "delete_tag": "nbtrack.tracking.fluent",
    "flush": "nbtrack.tracking.fluent",
    "flush_async_logging": "nbtrack.tracking.fluent",
    "flush_artifact_async_logging": "nbtrack.tracking.fluent",
    "log_stream": "nbtrack.tracking.artifacts",
    "get_registry_uri": "nbtrack.paths",
    "set_registry_uri": "nbtrack.paths",
    "set_model_version_tag": "nbtrack.models.registry",
    "ActiveRun": "nbtrack.tracking.fluent",
    "log_artifact": "nbtrack.tracking.artifacts",
    "log_artifacts": "nbtrack.tracking.artifacts",
    "log_text": "nbtrack.tracking.artifacts",
    "log_dict": "nbtrack.tracking.artifacts",
    "log_figure": "nbtrack.tracking.artifacts",
    "log_input": "nbtrack.tracking.inputs",
    "search_runs": "nbtrack.tracking.search",
    "get_run": "nbtrack.tracking.search",
    "search_experiments": "nbtrack.tracking.experiments",
    "get_experiment_by_name": "nbtrack.tracking.experiments",
    "get_experiment": "nbtrack.tracking.experiments",
    "create_experiment": "nbtrack.tracking.experiments",
    "delete_experiment": "nbtrack.tracking.experiments",
    "restore_experiment": "nbtrack.tracking.experiments",
    "set_experiment_tag": "nbtrack.tracking.experiments",
    "set_experiment_tags": "nbtrack.tracking.experiments",
    "delete_experiment_tag": "nbtrack.tracking.experiments",
    "get_parent_run": "nbtrack.tracking.runs",
    "delete_run": "nbtrack.tracking.runs",
    "restore_run": "nbtrack.tracking.runs",
    "get_artifact_uri": "nbtrack.tracking.runs",
    "log_inputs": "nbtrack.tracking.runs",
    "log_image": "nbtrack.tracking.media",
    "log_table": "nbtrack.tracking.media",
    "load_table": "nbtrack.tracking.media",
    "is_tracking_uri_set": "nbtrack.paths",
    "enable_system_metrics_logging": "nbtrack.system_metrics",
    "disable_system_metrics_logging": "nbtrack.system_metrics",
    "set_system_metrics_sampling_interval": "nbtrack.system_metrics",
    "set_system_metrics_samples_before_logging": "nbtrack.system_metrics",
    "set_system_metrics_node_id": "nbtrack.system_metrics",
    "Client": "nbtrack.tracking.client",
    "MlflowClient": "nbtrack.tracking.client",
    "MlflowException": "nbtrack.errors",
    "compare": "nbtrack.widgets",
    "RunStatus": "nbtrack.entities",
    "ViewType": "nbtrack.entities",
    "Run": "nbtrack.entities",
    "NbtrackError": "nbtrack.errors",
    "InvalidInput": "nbtrack.errors",
    "register_model": "nbtrack.models.registry",
    "search_registered_models": "nbtrack.models.registry",
    "search_model_versions": "nbtrack.models.registry",
    "run_notebook": "nbtrack.jobs.execute",
    "sweep": "nbtrack.jobs.sweep",
    "reproduce": "nbtrack.jobs.reproduce",
    "push": "nbtrack.interop.push",
    "pull": "nbtrack.interop.pull",
}
# submodules reached as attributes (``nbtrack.sklearn.log_model``), imported on first use;
# ``nbtrack.models`` is also callable: ``nbtrack.models()`` shows the registry
# ``nbtrack.autolog`` is callable too: ``nbtrack.autolog()`` turns autolog on for every library
_SUBMODULES = ("sklearn", "pyfunc", "keras", "models", "artifacts", "data", "autolog")

__all__ = sorted(_EXPORTS) + ["sklearn", "pyfunc", "keras", "models", "artifacts", "data", "autolog",
                              "__version__",
                              "load_ipython_extension", "unload_ipython_extension"]


def __getattr__(name: str) -> Any:
    import importlib

    if name == "__version__":
        globals()["__version__"] = value = _version()
        return value
    if name in _SUBMODULES:
        value = importlib.import_module(f"nbtrack.{name}")
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nbtrack' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def _version() -> str:
    """The installed metadata's version (itself from labextension/package.json: one source);
    in a source checkout that was never installed, package.json itself."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nbtrack")
    except PackageNotFoundError:
        import json
        from pathlib import Path

        package = Path(__file__).resolve().parent.parent / "labextension" / "package.json"
        return json.loads(package.read_text())["version"] if package.exists() else "unknown"


def __dir__() -> list[str]:
    return __all__


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where JupyterLab finds the prebuilt extension (``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "nbtrack"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The server half: REST endpoints under ``/nbtrack/api/``."""
    return [{"module": "nbtrack.server"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbtrack``: registers ``%%track`` and ``%nbtrack``."""
    from .magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext nbtrack``: removes every hook nbtrack installed."""
    from .magic import unload_ipython_extension as unload

    unload(ipython)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from typing import Any

    from .entities import Run, RunStatus, ViewType
    from .errors import InvalidInput, NbtrackError
    from .paths import get_tracking_uri, set_tracking_uri
    from .tracking.artifacts import log_artifact, log_artifacts, log_dict, log_figure, log_text
    from .tracking.client import Client
    from .tracking.fluent import (ActiveRun, active_run, delete_tag, end_run, flush, flush_artifact_async_logging,
                                  flush_async_logging, last_active_run, log_metric, log_metrics, log_param,
                                  log_params, set_experiment, set_tag, set_tags, start_run)
    from .tracking.artifacts import log_stream
    from .paths import get_registry_uri, set_registry_uri
    from .models.registry import set_model_version_tag
    from .tracking.inputs import log_input
    from .paths import is_tracking_uri_set
    from .system_metrics import (disable_system_metrics_logging, enable_system_metrics_logging,
                                 set_system_metrics_node_id, set_system_metrics_samples_before_logging,
                                 set_system_metrics_sampling_interval)
    from .tracking.client import MlflowClient
    from .errors import MlflowException
    from .tracking.experiments import (create_experiment, delete_experiment, delete_experiment_tag,
                                       get_experiment, get_experiment_by_name, restore_experiment,
                                       search_experiments, set_experiment_tag, set_experiment_tags)
    from .tracking.media import load_table, log_image, log_table
    from .tracking.runs import delete_run, get_artifact_uri, get_parent_run, log_inputs, restore_run
    from .tracking.search import get_run, search_runs
    from .interop.pull import pull
    from .interop.push import push
