"""How a run's end is described: the error it keeps, and the status at interpreter exit.

Example:
    >>> try:
    ...     1 / 0
    ... except ZeroDivisionError as exc:
    ...     error_from(exc).type
    'ZeroDivisionError'
"""

from __future__ import annotations

import sys
import traceback

from ..entities import RunError, RunStatus


def error_from(exc: BaseException | None) -> RunError | None:
    """The error a run keeps: type, one-line message, and the formatted traceback."""
    if exc is None:
        return None
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return RunError(type(exc).__name__, str(exc), text)


def exit_status() -> tuple[RunStatus, RunError | None]:
    """How runs still open at interpreter exit end: FAILED with the error when a script died
    of an uncaught exception, else FINISHED.

    A script that died of an uncaught exception has ``sys.last_value`` set by the time
    atexit runs; IPython sets it for every failed cell, so it means nothing there.
    """
    failed = "IPython" not in sys.modules and getattr(sys, "last_value", None) is not None
    if failed:
        return RunStatus.FAILED, error_from(sys.last_value)
    return RunStatus.FINISHED, None
