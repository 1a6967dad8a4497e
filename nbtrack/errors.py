"""nbtrack's exceptions: one small hierarchy, each message one line that names the fix.

Example:
    >>> raise InvalidInput("metric key must be a non-empty string; got 3")
    Traceback (most recent call last):
    ...
    nbtrack.errors.InvalidInput: metric key must be a non-empty string; got 3
"""

from __future__ import annotations

import warnings

from .state import STATE


class NbtrackError(Exception):
    """Base of every error nbtrack raises on purpose; ``nbtrack.MlflowException`` too, so code
    written for MLflow (``except MlflowException as e: e.error_code``) catches it."""

    error_code = "INTERNAL_ERROR"  # MLflow's codes, so handlers that branch on them work

    @property
    def message(self) -> str:
        return str(self)


MlflowException = NbtrackError


class InvalidInput(NbtrackError, ValueError):
    """The caller passed something nbtrack cannot record (bad key, value, path, filter)."""

    error_code = "INVALID_PARAMETER_VALUE"


class FilterSyntaxError(InvalidInput):
    """A search filter that does not parse; the message says where and why."""


class RunNotFound(NbtrackError, LookupError):
    """No run has the given id in this store."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class ExperimentNotFound(InvalidInput, LookupError):
    """No experiment has the given name or id in this store."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class RegistryNotFound(NbtrackError, LookupError):
    """No registered model, version or alias by that name in this store."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class ModelError(NbtrackError):
    """A model that cannot be saved or loaded as asked (no MLmodel, missing loader module)."""


class ModelIntegrityError(ModelError):
    """A model file's bytes no longer match the digest recorded when it was logged."""


class ActiveRunError(NbtrackError):
    """A run lifecycle call that does not fit the current state (e.g. start_run while one is active)."""


class StoreError(NbtrackError):
    """The store cannot be opened or written (corrupt, newer schema, unwritable)."""


class NoStore(StoreError):
    """A read found no store where it looked; reads never create one."""


class ForeignStore(StoreError):
    """The file is not an nbtrack store (an MLflow store, another program's SQLite file);
    nbtrack refuses it before writing anything, and says how to bring its runs in."""


class StoreReadOnly(StoreError):
    """The store can be read but not written (a read-only file or mount)."""


class StoreLocked(StoreError):
    """Another process holds the store exclusively (``locking_mode=EXCLUSIVE``, a long write)."""


class StoreCorrupt(StoreError):
    """The file is damaged; ``nbtrack doctor`` checks it and copies what is readable."""


class StoreFull(StoreError):
    """The disk is full; what was logged is kept in memory and written when space returns."""


class ReadOnlyQueryError(NbtrackError):
    """``nbtrack sql`` refused a statement that would write, or ran past its limits."""


class NbtrackWarning(UserWarning):
    """Something in nbtrack's own background work failed; the user's code went on."""


def warn_once(topic: str, message: str) -> None:
    """Warn about a background failure once per topic per process, never raise.

    Example:
        >>> warn_once("flush", "nbtrack could not write metrics; retrying")  # doctest: +SKIP
    """
    with STATE.lock:
        if topic in STATE.warned:
            return
        STATE.warned.add(topic)
    try:
        warnings.warn(message, NbtrackWarning, stacklevel=3)
    except Exception:
        # Warnings turned into errors (-W error) must still not break the caller: this runs
        # in the flusher thread and inside users' cells. Print instead.
        import sys

        print(f"NbtrackWarning: {message}", file=sys.stderr)


def reset_warnings() -> None:
    """Forget which topics were warned about (tests use this)."""
    with STATE.lock:
        STATE.warned.clear()
