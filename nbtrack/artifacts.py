"""``nbtrack.artifacts``: MLflow's ``mlflow.artifacts`` module (``download_artifacts``,
``list_artifacts``, ``load_text``, ``load_dict``, ``load_image``).

An artifact is named by ``run_id`` and ``artifact_path``, or by one ``artifact_uri``:
``runs:/<run_id>/<path>``, or a path under a run's ``artifact_uri`` (what
``get_artifact_uri`` returns). Downloads return absolute paths, as MLflow's.

Example:
    >>> import nbtrack, tempfile
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> with nbtrack.start_run() as run:
    ...     nbtrack.log_dict({"classes": [0, 1]}, "meta.json")
    >>> nbtrack.artifacts.load_dict(f"runs:/{run.info.run_id}/meta.json")
    {'classes': [0, 1]}
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from .entities import FileInfo
from .errors import InvalidInput


def _client(tracking_uri: str | None):
    from .tracking.client import Client

    return Client(tracking_uri)


def _locate(client: Any, artifact_uri: str | None, run_id: str | None, artifact_path: str | None) -> tuple[str, str]:
    """``(run_id, path inside the run)`` for either way of naming an artifact."""
    if artifact_uri is not None:
        if run_id is not None or artifact_path is not None:
            raise InvalidInput("name the artifact by artifact_uri, or by run_id and artifact_path, not both")
        if artifact_uri.startswith("runs:/"):
            from .models.uri import parse_runs_uri

            return tuple(parse_runs_uri(artifact_uri))  # type: ignore[return-value]
        from .store.queries import artifact_root
        from .tracking.runs import uri_path

        root = Path(artifact_root(client._handle.location))
        local = uri_path(artifact_uri).absolute()
        if local.is_relative_to(root) and local != root:
            run, *rest = local.relative_to(root).parts
            return run, "/".join(rest)
        raise InvalidInput(f"{artifact_uri!r} is not an artifact of this store; use runs:/<run_id>/<path>")
    if run_id is None:
        raise InvalidInput("name the artifact: artifact_uri='runs:/<run_id>/<path>', or run_id= (and artifact_path=)")
    return run_id, (artifact_path or "").strip("/")


def download_artifacts(artifact_uri: str | None = None, run_id: str | None = None, artifact_path: str | None = None,
                       dst_path: str | None = None, tracking_uri: str | None = None,
                       registry_uri: str | None = None) -> str:
    """Copy an artifact (file or folder) to ``dst_path`` (a new temporary folder by default);
    returns its absolute local path.

    Example:
        >>> download_artifacts(run_id=run.info.run_id, artifact_path="reports")  # doctest: +SKIP
        '/tmp/nbtrack-artifacts-1a2b/reports'
    """
    client = _client(tracking_uri)
    run, path = _locate(client, artifact_uri, run_id, artifact_path)
    return client.download_artifacts(run, path, dst_path)


def list_artifacts(artifact_uri: str | None = None, run_id: str | None = None, artifact_path: str | None = None,
                   tracking_uri: str | None = None) -> list[FileInfo]:
    """The direct children of an artifact folder, as ``FileInfo``s."""
    client = _client(tracking_uri)
    run, path = _locate(client, artifact_uri, run_id, artifact_path)
    return client.list_artifacts(run, path or None)


def _read(artifact_uri: str) -> Path:
    folder = tempfile.mkdtemp(prefix="nbtrack-artifact-")
    local = Path(download_artifacts(artifact_uri, dst_path=folder))
    if not local.is_file():
        raise InvalidInput(f"{artifact_uri!r} is a folder; name one file in it")
    return local


def load_text(artifact_uri: str) -> str:
    """The text of an artifact file. Example: ``load_text("runs:/<id>/reports/summary.md")``."""
    return _read(artifact_uri).read_text("utf-8")


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """An artifact logged with ``log_dict``: JSON, or YAML for .yaml/.yml (needs PyYAML)."""
    local = _read(artifact_uri)
    if local.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(local.read_text("utf-8"))
    try:
        return json.loads(local.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{artifact_uri!r} is not JSON ({exc}); load_text reads it as text") from None


def load_image(artifact_uri: str) -> Any:
    """An image artifact as a PIL image (needs Pillow)."""
    from PIL import Image

    image = Image.open(_read(artifact_uri))
    image.load()
    return image


__all__ = ["download_artifacts", "list_artifacts", "load_dict", "load_image", "load_text"]
