"""Which files a request may read: stores under the server root, blobs inside a store.

A request names a store by the directory that holds it, relative to the
server root (a notebook's directory): ``store=experiments/week1`` reads
``<root>/experiments/week1/.nbtrack/nbtrack.db``. Anything that would leave
the root is refused before the file system is touched (``..``, absolute
paths, backslashes, NUL, and their percent-encoded forms, since a client or
proxy may decode once more than we do), and again after resolving symlinks.

Example:
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> store_location(root, "").database.name
    'nbtrack.db'
    >>> store_location(root, "../etc")
    Traceback (most recent call last):
    ...
    nbtrack.server.errors.Forbidden: store must be a directory under the server root; got '../etc'
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

from ..paths import DEFAULT_DIRNAME, StoreLocation, resolve_location
from ..store.files import ensure_regular_files
from .errors import BadRequest, Forbidden



def store_location(root: str | os.PathLike[str], store: str) -> StoreLocation:
    """The store in directory ``store`` (relative to ``root``), refusing any path that leaves root."""
    relative = _relative_parts(store, what="store must be a directory under the server root")
    root_real = Path(os.path.realpath(root))
    directory = root_real.joinpath(*relative)
    location = resolve_location(directory / DEFAULT_DIRNAME)
    # Symlinks are resolved only now: a link inside the root that points out of it is refused.
    ensure_inside(location.database, root_real, f"store {store!r} resolves outside the server root")
    return location


def artifact_relpath(path: str) -> str:
    """Normalise an artifact path from a URL (``a/b.png``), refusing traversal.

    Artifacts are looked up by exact path in the store, never joined onto a
    directory, so this check is about clear answers more than safety.

    Example:
        >>> artifact_relpath("plots//loss.png")
        'plots/loss.png'
    """
    return "/".join(_relative_parts(path, what="artifact path must stay inside the run"))


def blob_path(location: StoreLocation, digest: str) -> Path:
    """Where the content-addressed blob ``digest`` lives, checked to stay in the store's artifacts."""
    from ..errors import InvalidInput
    from ..store.artifacts import blob_location

    try:
        path = blob_location(location, digest)
    except InvalidInput as exc:
        raise Forbidden(str(exc)) from None
    ensure_inside(path, Path(os.path.realpath(location.artifacts)),
                  "artifact blob resolves outside the store's artifact folder")
    return path


def ensure_inside(path: Path, parent: Path, message: str) -> None:
    """Raise Forbidden unless ``path`` (after resolving symlinks) is ``parent`` or below it."""
    real = Path(os.path.realpath(path))
    if real != parent and parent not in real.parents:
        raise Forbidden(message)


def _relative_parts(text: str, *, what: str) -> list[str]:
    if text is None:
        text = ""
    # Check the text as given and as decoded once and twice: "%2e%2e" and "%252e%252e" are "..".
    forms = [text, unquote(text), unquote(unquote(text))]
    for form in forms:
        if "\x00" in form:
            raise BadRequest(f"{what}; got a NUL byte")
        if "\\" in form or form.startswith(("/", "~")) or re.match(r"[A-Za-z]:", form):
            raise Forbidden(f"{what}; got {text!r}")
        if any(part == ".." for part in form.split("/")):
            raise Forbidden(f"{what}; got {text!r}")
    return [part for part in text.split("/") if part not in ("", ".")]


__all__ = ["artifact_relpath", "blob_path", "ensure_inside", "ensure_regular_files", "store_location"]
