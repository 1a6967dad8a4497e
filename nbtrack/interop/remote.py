"""The MLflow side: MLflow's own ``MlflowClient`` (imported on first use), the URI it is
opened with, and MLflow's errors turned into nbtrack's one-line messages.

Credentials are MLflow's business: ``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD`` /
``_TOKEN`` (or ``~/.mlflow/credentials``) are read by its client, never by nbtrack, and
a URI's password never reaches the local store (``remote_key`` drops it).

Example:
    >>> remote_key("postgresql://team:secret@db.example:5432/mlflow")
    'postgresql://team@db.example:5432/mlflow'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import InvalidInput, NbtrackError

INSTALL = 'pip install "nbtrack[mlflow]"'


class RemoteError(NbtrackError):
    """The MLflow store refused, or could not be reached: one line naming the fix."""


def mlflow_client(uri: str, *, pulling: bool = False) -> Any:
    """An ``MlflowClient`` for ``uri``: an http(s) server, ``sqlite:///``, ``postgresql://``,
    or (to pull) an ``mlruns/`` directory."""
    uri = tracking_uri(uri, pulling=pulling)
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise InvalidInput(f"pushing and pulling need MLflow's client: {INSTALL}") from None
    # MLflow's own per-file download bar and its "View run ... at" line per finished run
    # would interleave with nbtrack's one report.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    if uri.startswith("file://"):
        # MLflow 3 keeps its file store in maintenance and refuses it unless asked; reading
        # one is what a user opening an old mlruns/ folder needs.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    if uri.startswith(("http://", "https://")):
        probe(uri)
    with translate(uri):
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextlib.contextmanager
def source_client(source: str) -> Iterator[Any]:
    """An ``MlflowClient`` that reads ``source`` (to pull) and never writes to it.

    MLflow's SQL store upgrades a database whose schema is older than the client's (a
    newer mlflow-skinny opening a tutorial's ``mlflow.db`` adds tables and moves its
    alembic revision), and its file store creates ``.trash`` in an ``mlruns/`` folder.
    A pull must leave the user's store as it found it, so an SQLite database is read
    from a snapshot in a temporary folder (SQLite's backup API: consistent even while
    another process writes), which MLflow may upgrade freely; a server database whose
    schema differs from the client's is refused in one line; and a ``.trash`` folder
    that MLflow created for the pull is removed again.

    Example:
        >>> with source_client("sqlite:///mlflow.db") as client:  # doctest: +SKIP
        ...     client.search_experiments()
    """
    import tempfile

    uri = tracking_uri(source, pulling=True)
    if uri.startswith("sqlite:///"):
        with tempfile.TemporaryDirectory(prefix="nbtrack-pull-source-") as tmp:
            copy = Path(tmp) / "mlflow.db"
            from ..store.sync import snapshot_sqlite

            snapshot_sqlite(Path(uri[len("sqlite:///"):]).expanduser().absolute(), copy)
            _upgrade_copy(f"sqlite:///{copy}", uri)
            yield mlflow_client(f"sqlite:///{copy}", pulling=True)
        return
    if uri.startswith("file://"):
        trash = Path(uri[len("file://"):]) / ".trash"
        made_trash = not trash.exists()
        try:
            yield mlflow_client(uri, pulling=True)
        finally:
            if made_trash and trash.is_dir() and not any(trash.iterdir()):
                trash.rmdir()
        return
    if "://" in uri and not uri.startswith(("http://", "https://")):
        _require_same_schema(uri)
    yield mlflow_client(uri, pulling=True)


def _database_tools() -> tuple[Any, Any]:
    """SQLAlchemy and MLflow's schema helpers (``mlflow.store.db.utils``), for reading an
    MLflow database's schema revision."""
    try:
        import sqlalchemy
        from mlflow.store.db import utils
    except ImportError:
        raise InvalidInput(f"pulling from a database needs MLflow's client: {INSTALL}") from None
    return sqlalchemy, utils


def _upgrade_copy(copy_uri: str, uri: str) -> None:
    """Bring the snapshot of an older MLflow database to this client's schema (the user's
    file stays as it is); a database newer than the client is refused in one line."""
    sqlalchemy, utils = _database_tools()
    engine = sqlalchemy.create_engine(copy_uri)
    try:
        found, expected = utils._get_schema_version(engine), utils._get_latest_schema_revision()
        if found == expected:
            return
        try:
            with translate(uri):
                utils._upgrade_db(engine)
        except RemoteError:
            import mlflow

            raise InvalidInput(
                f"{uri} is at MLflow schema {found}, which this client (mlflow-skinny "
                f"{mlflow.__version__}) cannot read: install the MLflow version that wrote it") from None
    finally:
        engine.dispose()


def _require_same_schema(uri: str) -> None:
    """Refuse to open a server database whose MLflow schema is not the client's: MLflow's
    SQL store would upgrade it (a team's database, which only its admins should migrate)."""
    sqlalchemy, utils = _database_tools()
    with translate(uri):
        engine = sqlalchemy.create_engine(_with_driver(uri, uri.split("://", 1)[0].lower()))
        try:
            found = utils._get_schema_version(engine)
            expected = utils._get_latest_schema_revision()
        finally:
            engine.dispose()
    if found != expected:
        import mlflow

        raise InvalidInput(
            f"{remote_key(uri)} is at MLflow schema {found}, not the {expected} of this client "
            f"(mlflow-skinny {mlflow.__version__}), and nbtrack never migrates a database it reads: "
            "pull from that server's http:// URL, or install the server's MLflow version")


def probe(uri: str, timeout: float = 10.0) -> None:
    """Fail at once when nothing answers at ``uri`` (MLflow's client retries a refused
    connection with backoff for minutes before it gives up)."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{uri}/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        pass  # something answers; MLflow's own calls say what it thinks of us
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteError(f"cannot reach MLflow at {uri}; start the server or check the URI "
                          f"({reason})") from None


def tracking_uri(uri: str, *, pulling: bool = False) -> str:
    """``uri`` as MLflow's client takes it; a pull source that is not an MLflow store is
    refused before MLflow touches it (its SQL store would create tables in any database)."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInput("give an MLflow tracking URI: http://host:5000, sqlite:///mlflow.db, "
                           "postgresql://user@host/db or (to pull) an mlruns/ directory")
    uri = uri.strip()
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("http", "https"):
        return uri.rstrip("/")
    if scheme.startswith(("postgresql", "mysql", "mssql")):
        return _with_driver(uri, scheme)
    if scheme == "sqlite":
        if pulling:
            _require_mlflow_database(Path(uri[len("sqlite:///"):]).expanduser())
        return uri
    if scheme in ("", "file"):
        path = Path(uri[len("file://"):] if scheme else uri).expanduser().absolute()
        if not pulling:
            raise InvalidInput(f"{uri} is a folder; push to an MLflow server (http://host:5000) or "
                               "database (sqlite:///mlflow.db, postgresql://...)")
        if path.suffix in (".db", ".sqlite", ".sqlite3") or path.is_file():
            _require_mlflow_database(path)
            return f"sqlite:///{path}"
        _require_mlflow_folder(path)
        return path.as_uri()
    raise InvalidInput(f"{scheme}:// is not an MLflow tracking URI nbtrack knows; use http(s)://, "
                       "sqlite:///, postgresql:// or an mlruns/ directory")


def remote_key(uri: str) -> str:
    """How the local store names a remote: the URI without a password (never stored)."""
    if "://" not in uri:
        return Path(uri).expanduser().absolute().as_uri()
    parts = urlsplit(uri)
    parts = parts._replace(scheme=parts.scheme.split("+", 1)[0])  # the driver is not the store
    if parts.password is not None:
        host = parts.hostname or ""
        netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    if parts.scheme == "sqlite":
        return f"sqlite:///{Path(uri[len('sqlite:///'):]).expanduser().absolute()}"
    return urlunsplit(parts).rstrip("/")


def _with_driver(uri: str, scheme: str) -> str:
    """``uri`` with a PostgreSQL driver that is installed: SQLAlchemy 2.1 reads a bare
    ``postgresql://`` as psycopg 3; the extra brings psycopg2, named explicitly then."""
    if scheme != "postgresql":
        return uri
    import importlib.util

    if importlib.util.find_spec("psycopg") is not None:
        return uri
    if importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + uri.split("://", 1)[1]
    raise InvalidInput(f"MLflow reaches PostgreSQL through psycopg2: {INSTALL} "
                       "(it brings psycopg2-binary)")


def _not_mlflow(path: Path, why: str) -> InvalidInput:
    return InvalidInput(f"{path} is not an MLflow store ({why}); pull from an MLflow server "
                        "(http://host:5000), its database (sqlite:///mlflow.db) or an mlruns/ folder")


def _require_mlflow_database(path: Path) -> None:
    path = path.absolute()
    if not path.is_file():
        raise _not_mlflow(path, "no such file")
    from ..store.sync import sqlite_tables

    tables = sqlite_tables(path)
    if tables is None:
        raise _not_mlflow(path, "not an SQLite database")
    if not {"alembic_version", "experiments", "runs", "metrics"} <= tables:
        raise _not_mlflow(path, "no MLflow tables in it")


def _require_mlflow_folder(path: Path) -> None:
    if not path.is_dir():
        raise _not_mlflow(path, "no such folder")
    if not any(path.glob("*/meta.yaml")):
        raise _not_mlflow(path, "no experiment folders with meta.yaml")


@contextlib.contextmanager
def translate(uri: str, run: str | None = None) -> Iterator[None]:
    """MLflow's and the network's exceptions as one :class:`RemoteError` line."""
    where = f"run {run}: " if run else ""
    try:
        yield
    except NbtrackError:
        raise
    except Exception as exc:  # noqa: BLE001  (MlflowException, requests', SQLAlchemy's: any of them)
        raise RemoteError(where + explain(exc, uri)) from None


def explain(exc: BaseException, uri: str) -> str:
    """One line saying what went wrong with ``uri`` and what to do."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    if "Changing param values is not allowed" in text:
        return (f"{_clip(text)}; params never change in MLflow: push into another experiment "
                f"(--experiment) or delete that run on {uri}")
    if any(s in text for s in ("Max retries exceeded", "Connection refused", "Failed to establish",
                               "NameResolutionError", "could not connect", "Connection aborted")) \
            or name in ("ConnectionError", "ConnectTimeout", "OperationalError"):
        return f"cannot reach MLflow at {uri}; start the server or check the URI ({_clip(text, 160)})"
    if "401" in text or "Unauthorized" in text or "403" in text or "Permission denied" in text:
        return (f"MLflow at {uri} refused the credentials; set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)")
    if "out-of-date database schema" in text:
        return f"{uri} holds an older MLflow schema; run `mlflow db upgrade {uri}` first"
    return f"MLflow at {uri} refused: {_clip(text)}"


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def quote(name: str) -> str:
    """``name`` inside a single-quoted MLflow filter value."""
    return name.replace("'", "\\'")
