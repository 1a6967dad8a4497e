"""Where the store lives, resolved each time it is asked, never at import.

Order: ``set_tracking_uri(...)`` in this process, then ``NBTRACK_HOME`` (or
``MLFLOW_TRACKING_URI`` when it is a ``sqlite:///`` URI), then ``.nbtrack/``
in the current working directory. A location is a directory (the database is
``nbtrack.db`` inside it) or a ``sqlite:///path.db`` URI (artifacts go to
``path.db.artifacts/`` beside it).

Example:
    >>> from pathlib import Path
    >>> resolve_location("sqlite:////tmp/x.db").database
    PosixPath('/tmp/x.db')
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInput
from .state import STATE

DEFAULT_DIRNAME = ".nbtrack"
DATABASE_NAME = "nbtrack.db"
ARTIFACTS_DIRNAME = "artifacts"

@dataclass(frozen=True)
class StoreLocation:
    """The two places a store occupies on disk."""

    database: Path
    artifacts: Path

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.database}"


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Point this process at another store: a directory or ``sqlite:///path.db``; None resets.

    Example:
        >>> set_tracking_uri("/tmp/my-store"); set_tracking_uri(None)
    """
    if uri is not None:
        resolve_location(os.fspath(uri))  # refuse a bad URI now rather than at first log
    STATE.tracking_uri = None if uri is None else os.fspath(uri)


def get_tracking_uri() -> str:
    """The store this process writes to, as a ``sqlite:///`` URI.

    Example:
        >>> get_tracking_uri().startswith("sqlite:///")
        True
    """
    return current_location().uri


def get_registry_uri() -> str:
    """The model registry's URI: the tracking store's, where the registry lives (MLflow's
    ``get_registry_uri``).

    Example:
        >>> get_registry_uri() == get_tracking_uri()
        True
    """
    return get_tracking_uri()


def set_registry_uri(uri: str | os.PathLike[str] | None) -> None:
    """Accepted for MLflow code: the registry is always the tracking store's, so ``uri`` must
    name that store (or be None); another one is refused in one line."""
    if uri is not None and resolve_location(os.fspath(uri)) != current_location():
        raise InvalidInput(f"nbtrack keeps the model registry in the tracking store ({get_tracking_uri()}); "
                           "call set_tracking_uri to use another store")


def is_tracking_uri_set() -> bool:
    """True when ``set_tracking_uri`` was called, or ``NBTRACK_HOME`` / ``MLFLOW_TRACKING_URI``
    names the store (MLflow's ``is_tracking_uri_set``).

    Example:
        >>> set_tracking_uri("/tmp/my-store"); is_tracking_uri_set()
        True
    """
    return STATE.tracking_uri is not None or bool(os.environ.get("NBTRACK_HOME")) \
        or os.environ.get("MLFLOW_TRACKING_URI", "").startswith("sqlite:///")


def current_location() -> StoreLocation:
    """The store location in force now (see the module docstring for the order)."""
    if STATE.tracking_uri is not None:
        return resolve_location(STATE.tracking_uri)
    home = os.environ.get("NBTRACK_HOME")
    if home:
        return resolve_location(home)
    mlflow_uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if mlflow_uri.startswith("sqlite:///"):
        return resolve_location(mlflow_uri)
    return resolve_location(Path.cwd() / DEFAULT_DIRNAME)


def resolve_location(uri: str | os.PathLike[str]) -> StoreLocation:
    """Turn a directory, a ``.db`` path, or a ``sqlite:///`` / ``file://`` URI into a location."""
    text = os.fspath(uri)
    # Every start_run resolves the store in force; relative paths and ~ depend on the working
    # directory and HOME, so they are part of the key. Invalid URIs raise and are not kept.
    try:
        cwd = os.getcwd()
    except OSError:  # the working directory was deleted: only a relative path needs it
        cwd = ""
    return _resolve(text, cwd, os.environ.get("HOME"))


@functools.lru_cache(maxsize=64)
def _resolve(text: str, cwd: str, home: str | None) -> StoreLocation:
    if "\x00" in text:
        raise InvalidInput("tracking URI contains a NUL byte; pass a plain path")
    if text.startswith("sqlite:///"):
        database = Path(text[len("sqlite:///") :]).expanduser()
        if not database.is_absolute():
            database = Path.cwd() / database
        return StoreLocation(database, database.with_name(database.name + "." + ARTIFACTS_DIRNAME))
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise InvalidInput(
            f"nbtrack stores runs locally; {scheme}:// is not a local store. "
            "Pass a directory or sqlite:///path.db (use `nbtrack push --to URI` to send runs to an MLflow server)"
        )
    path = Path(text).expanduser().absolute()
    if path.suffix in (".db", ".sqlite", ".sqlite3"):
        return StoreLocation(path, path.with_name(path.name + "." + ARTIFACTS_DIRNAME))
    return StoreLocation(path / DATABASE_NAME, path / ARTIFACTS_DIRNAME)
