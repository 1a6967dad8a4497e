"""Before SQLite opens a store: is every file it will open a regular file?

SQLite opens a FIFO like any file and then waits forever for a writer; a
device or socket is never a store. ``os.stat`` answers without opening, so
checking first means no reader (a server request, the CLI, ``doctor``) can
hang on one. The files checked are the database and the ones SQLite opens
beside it: ``-wal``, ``-shm`` and a rollback ``-journal``.

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> ensure_regular_files(resolve_location(tempfile.mkdtemp()))
    Traceback (most recent call last):
    ...
    nbtrack.errors.NoStore: no nbtrack store at ... log a run first or check the path
"""

from __future__ import annotations

import os
import stat

from ..errors import NoStore, StoreError
from ..paths import StoreLocation

SIDE_FILES = ("-wal", "-shm", "-journal")


def ensure_regular_files(location: StoreLocation, *, missing_ok: bool = False) -> None:
    """Raise ``StoreError`` if the database or a side file exists and is not a regular file.

    A missing database is :class:`NoStore`, unless ``missing_ok`` (a writer creates it).

    Example:
        >>> import tempfile
        >>> from nbtrack.paths import resolve_location
        >>> ensure_regular_files(resolve_location(tempfile.mkdtemp()), missing_ok=True)
    """
    database = location.database
    mode = _mode(database)
    if mode is None:
        if missing_ok:
            return
        raise NoStore(f"no nbtrack store at {database}; log a run first or check the path")
    if not stat.S_ISREG(mode):
        raise StoreError(f"{database} is {_kind(mode)}, not an nbtrack store; move it aside")
    for suffix in SIDE_FILES:
        side = database.with_name(database.name + suffix)
        mode = _mode(side)
        if mode is not None and not stat.S_ISREG(mode):
            raise StoreError(f"{side} is {_kind(mode)}, not SQLite's file; move it aside")


def _mode(path: os.PathLike[str]) -> int | None:
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:  # e.g. a path component is a file: ENOTDIR
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


__all__ = ["SIDE_FILES", "ensure_regular_files"]
