"""nbtrack's exceptions: one small hierarchy, each message one line that names the fix.

Example:
    >>> raise InvalidInput("metric key must be a non-empty string; got 3")
    Traceback (most recent call last):
    ...
    nbtrack.errors.InvalidInput: metric key must be a non-empty string; got 3
"""

from __future__ import annotations

import threading
import warnings


class NbtrackError(Exception):
    """Base of every error nbtrack raises on purpose."""


class InvalidInput(NbtrackError, ValueError):
    """The caller passed something nbtrack cannot record (bad key, value, path, filter)."""


class FilterSyntaxError(InvalidInput):
    """A search filter that does not parse; the message says where and why."""


class RunNotFound(NbtrackError, LookupError):
    """No run has the given id in this store."""


class ActiveRunError(NbtrackError):
    """A run lifecycle call that does not fit the current state (e.g. start_run while one is active)."""


class StoreError(NbtrackError):
    """The store cannot be opened or written (corrupt, newer schema, unwritable)."""


class NoStore(StoreError):
    """There is no store at the location asked for (nothing was logged there yet)."""


class ReadOnlyQueryError(NbtrackError):
    """``nbtrack sql`` refused a statement that would write, or ran past its limits."""


class NbtrackWarning(UserWarning):
    """Something in nbtrack's own background work failed; the user's code went on."""


_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(topic: str, message: str) -> None:
    """Warn about a background failure once per topic per process, never raise.

    Example:
        >>> warn_once("flush", "nbtrack could not write metrics; retrying")  # doctest: +SKIP
    """
    with _warned_lock:
        if topic in _warned:
            return
        _warned.add(topic)
    try:
        warnings.warn(message, NbtrackWarning, stacklevel=3)
    except Exception:
        # Warnings turned into errors (-W error) must still not break the caller: this runs
        # in the flusher thread and inside users' cells. Print instead.
        import sys

        print(f"NbtrackWarning: {message}", file=sys.stderr)


def reset_warnings() -> None:
    """Forget which topics were warned about (tests use this)."""
    with _warned_lock:
        _warned.clear()
