"""Autolog: fits of scikit-learn and Keras 3 models recorded with no log call, as MLflow's
autolog records them, scoped to the run active while ``fit`` runs.

``nbtrack.autolog()`` turns on every flavor whose library is installed (checked with
``importlib.util.find_spec``, so nothing heavy is imported to check); a library not yet
imported is patched right after the user imports it. ``nbtrack.sklearn.autolog()`` and
``nbtrack.keras.autolog()`` take each flavor's own options. ``disable=True`` removes every
patch: ``LogisticRegression.fit`` is the original function again.

Scope and safety (where nbtrack differs from MLflow, on purpose):

- autolog writes only into the run that is active while ``fit`` runs; inside a
  ``%%track`` cell that is the cell's run. With no active run it opens one and always
  ends it (FINISHED, FAILED on an exception, KILLED on an interrupt).
- fitted models are mapped to runs with weak references, never attributes on the model;
  nothing is written into a run after it has ended (MLflow #7814).
- a failure of nbtrack inside a patch warns once per flavor; the user's call returns
  exactly what it would have returned, and the user's own exceptions pass unchanged.

The package is callable: ``nbtrack.autolog()`` is :func:`autolog`.

Example:
    >>> import nbtrack
    >>> callable(nbtrack.autolog)
    True
"""

from __future__ import annotations

import sys
import types
from typing import Any

# flavor -> (the library whose presence turns it on, the module of its autolog)
FLAVORS = {"sklearn": ("sklearn", "nbtrack.autolog.sklearn"), "keras": ("keras", "nbtrack.autolog.keras")}


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    log_traces: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: dict[str, Any] | None = None,
    exclude_flavors: list[str] | None = None,
) -> list[str]:
    """Turn autolog on (or off) for every supported library that is installed (MLflow's
    ``mlflow.autolog``); returns the flavors it applied to. ``exclude_flavors`` leaves those
    flavors as they are; ``log_traces`` has no effect (nbtrack does not trace).

    Example:
        >>> nbtrack.autolog()  # doctest: +SKIP
        ['sklearn', 'keras']
        >>> nbtrack.autolog(disable=True)  # doctest: +SKIP
    """
    import importlib

    from .imports import importable

    applied = []
    for flavor, (library, module) in FLAVORS.items():
        if flavor in (exclude_flavors or ()) or (not disable and not importable(library)):
            continue
        importlib.import_module(module).autolog(
            log_input_examples=log_input_examples, log_model_signatures=log_model_signatures,
            log_models=log_models, log_datasets=log_datasets, disable=disable, exclusive=exclusive,
            disable_for_unsupported_versions=disable_for_unsupported_versions, silent=silent,
            extra_tags=extra_tags)
        applied.append(flavor)
    return applied


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return autolog(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
