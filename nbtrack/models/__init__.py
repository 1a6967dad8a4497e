"""Models and the registry: MLflow's model format, flavors, ``runs:/`` and ``models:/`` URIs.

The package is also callable: ``nbtrack.models()`` shows the registry inline
(``nbtrack.models.view``), the way ``nbtrack.compare()`` shows runs.

Example:
    >>> import nbtrack.models
    >>> callable(nbtrack.models)
    True
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .view import models

        return models(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
