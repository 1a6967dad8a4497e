"""Moving runs between nbtrack and an MLflow tracking store: ``push`` and ``pull``.

MLflow's own client does the talking (``pip install "nbtrack[mlflow]"``, imported on
first use); the local store remembers which local object is which remote one
(``remote_*`` tables), so both directions are idempotent and a push resumes.
See docs/interop.md.

Example:
    >>> import nbtrack
    >>> nbtrack.push(to="http://127.0.0.1:5000")  # doctest: +SKIP
    >>> nbtrack.pull(source="sqlite:///mlflow.db")  # doctest: +SKIP
"""

from __future__ import annotations

from .pull import PullReport, pull
from .push import PushReport, push

__all__ = ["PullReport", "PushReport", "pull", "push"]
