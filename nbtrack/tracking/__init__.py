"""What a user calls to track: the fluent API, ``MlflowClient``, search, artifacts and inputs.

Every write here becomes a typed command of ``nbtrack.store.commands``; every
read goes through ``nbtrack.store.queries``. ``import nbtrack`` re-exports the
public names lazily, so importing this package costs nothing until it is used.

Example:
    >>> from nbtrack.tracking import fluent
    >>> fluent.active_run() is None
    True
"""


def __getattr__(name: str):  # ``from nbtrack.tracking import MlflowClient``, as from mlflow.tracking
    if name in ("MlflowClient", "Client"):
        from .client import Client

        return Client
    raise AttributeError(f"module 'nbtrack.tracking' has no attribute {name!r}")
