"""Logging files and objects as run artifacts: ``log_artifact(s)``, ``log_text``, ``log_dict``,
``log_figure``. Bytes go to the content-addressed blob store, so the same file logged by
a hundred runs is stored once.

Example:
    >>> import nbtrack, tempfile
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> with nbtrack.start_run():
    ...     nbtrack.log_text("hello", "notes/readme.txt")
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..store import artifacts as blobs
from ..store.commands import ArtifactEntry, RecordArtifacts
from ..store.database import now_ms
from .fluent import RunTarget, current_run


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None,
                 run_id: str | None = None) -> None:
    """Store a local file under ``artifact_path/`` in the active run's artifacts (or ``run_id``'s)."""
    source = Path(local_path)
    if not source.is_file():
        raise InvalidInput(f"log_artifact needs an existing file; {str(source)!r} is not one "
                           "(use log_artifacts for a folder)")
    destination = blobs.normalize_artifact_path(artifact_path, source.name)
    run = current_run(run_id)
    digest, size = run.store.put_file(source)
    _record(run, [(destination, digest, size)])


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None,
                  run_id: str | None = None) -> None:
    """Store every file under ``local_dir``, keeping its relative layout."""
    root = Path(local_dir)
    if not root.is_dir():
        raise InvalidInput(f"log_artifacts needs an existing folder; {str(root)!r} is not one")
    run = current_run(run_id)
    entries = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root).as_posix()
        destination = blobs.normalize_artifact_path(artifact_path, relative)
        digest, size = run.store.put_file(file)
        entries.append((destination, digest, size))
    _record(run, entries)


def log_bytes(data: bytes, artifact_file: str, run_id: str | None = None) -> str:
    """Store ``data`` as ``artifact_file``; returns its sha256 (used by snapshots too)."""
    destination = blobs.normalize_artifact_path(None, artifact_file)
    run = current_run(run_id)
    digest, size = run.store.put_bytes(data)
    _record(run, [(destination, digest, size)])
    return digest


def log_stream(stream: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Store what a binary file-like object (``io.BytesIO``, an open file) reads as ``artifact_file``.

    Example:
        >>> log_stream(io.BytesIO(b"\x00\x01"), "data/blob.bin")  # doctest: +SKIP
    """
    read = getattr(stream, "read", None)
    if read is None:
        raise InvalidInput(f"log_stream takes a binary file-like object (io.BytesIO); got {type(stream).__name__}")
    data = read()
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidInput("log_stream needs a binary stream (open(..., 'rb') or io.BytesIO); this one reads text")
    log_bytes(bytes(data), artifact_file, run_id)


def _record(run: RunTarget, entries: list[tuple[str, str, int]]) -> None:
    # The blob is on disk already; the row pointing at it is queued with the run's writes.
    run.submit(RecordArtifacts(run.pk, tuple(ArtifactEntry(*entry) for entry in entries), now_ms()))


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Store a string as a UTF-8 file. Example: ``log_text(report, "reports/summary.md")``."""
    if not isinstance(text, str):
        raise InvalidInput(f"log_text takes a string; got {type(text).__name__}")
    log_bytes(text.encode("utf-8"), artifact_file, run_id)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Store a dict as JSON (or YAML when the name ends in .yaml/.yml and PyYAML is installed)."""
    if artifact_file.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise InvalidInput("log_dict to .yaml needs PyYAML (pip install pyyaml); or use .json") from None
        text = yaml.safe_dump(dictionary, sort_keys=False)
    else:
        try:
            text = json.dumps(dictionary, indent=2, default=str)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"log_dict could not serialise the object: {exc}") from None
    log_bytes(text.encode("utf-8"), artifact_file, run_id)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None,
               run_id: str | None = None) -> None:
    """Store a plotly or matplotlib figure; the file's extension chooses the format.

    plotly: ``.html`` (self-contained, plotly.js inlined) or ``.json``; matplotlib:
    any format ``savefig`` knows (``.png``, ``.svg``, ``.pdf``).
    """
    suffix = Path(artifact_file).suffix.lower()
    module = type(figure).__module__
    if module.startswith("plotly"):
        if suffix == ".json":
            data = figure.to_json().encode("utf-8")
        elif suffix in (".html", ".htm"):
            data = figure.to_html(full_html=True, include_plotlyjs=True).encode("utf-8")
        else:
            raise InvalidInput(f"plotly figures are logged as .html or .json; got {artifact_file!r}")
    elif module.startswith("matplotlib"):
        buffer = io.BytesIO()
        figure.savefig(buffer, **{"format": suffix.lstrip(".") or "png", "bbox_inches": "tight",
                                  **(save_kwargs or {})})
        data = buffer.getvalue()
    else:
        raise InvalidInput(f"log_figure takes a plotly or matplotlib figure; got {type(figure).__name__}")
    log_bytes(data, artifact_file, run_id)
