"""Every piece of process-wide mutable state nbtrack keeps, in one place.

Why one module: tests need one ``reset()``, and interpreter exit needs one
ordered shutdown (capture jobs drained, open runs ended, write queues flushed,
threads stopped, connections closed) that does not depend on which module
happened to be imported first. Nothing else in nbtrack holds a module global
that changes after import.

This module imports nothing from nbtrack at import time (``errors`` and
``paths`` read from it, and ``store/`` sits below everything else); what
shutdown needs it imports when it runs.

Example:
    >>> from nbtrack import state
    >>> state.STATE.tracking_uri is None or isinstance(state.STATE.tracking_uri, str)
    True
    >>> state.run_stack() == () or isinstance(state.run_stack(), tuple)
    True
"""

from __future__ import annotations

import atexit
import contextvars
import threading
from pathlib import Path
from typing import Any

# The active-run stack (nested runs) is per context, so one kernel's threads and asyncio
# tasks never see another's run. A ContextVar must live at module level; it is state too.
RUN_STACK: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar("nbtrack_runs", default=())


class ProcessState:
    """What this process knows beyond one call. Fields are public to nbtrack's own modules
    and private to users; ``reset()`` and ``shutdown()`` are the only ways to clear them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tracking_uri: str | None = None  # set_tracking_uri; None means env, then ./.nbtrack
        self.experiment_name: str | None = None  # set_experiment
        self.last_run_id: str | None = None  # last_active_run()
        self.open_runs: dict[str, Any] = {}  # run id -> ActiveRun, every open run of this process
        self.stores: dict[Path, Any] = {}  # database path -> store.handle.StoreHandle
        self.capture_worker: Any = None  # capture.background.BackgroundWorker, made on first use
        self.frontend_context: Any = None  # capture.frontend.FrontendContext last sent by the frontend
        self.warned: set[str] = set()  # warn_once topics already reported
        self.git_commits: dict[str, tuple[float, dict[str, str]]] = {}  # folder -> (when read, git tags)
        # System metrics (nbtrack.system_metrics): None means "as MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING says"
        self.system_metrics_enabled: bool | None = None
        self.system_metrics_interval: float | None = None  # seconds; None means the default (10 s)
        self.system_metrics_samples_before_logging: int = 1
        self.system_metrics_node_id: str | None = None
        self.system_monitors: dict[str, Any] = {}  # run id -> system_metrics.monitor.SystemMonitor
        self.autolog: Any = None  # autolog.registry.AutologRegistry: patches, options, model -> run


STATE = ProcessState()


def run_stack() -> tuple[Any, ...]:
    """The open runs of this context, outermost first."""
    return RUN_STACK.get()


def made_once(field: str, make: Any) -> Any:
    """``STATE.<field>``, made with ``make()`` the first time it is asked for (thread-safe).

    Example:
        >>> made_once("autolog", dict) is made_once("autolog", dict)  # doctest: +SKIP
        True
    """
    value = getattr(STATE, field)
    if value is None:
        with STATE.lock:
            value = getattr(STATE, field)
            if value is None:
                value = make()
                setattr(STATE, field, value)
    return value


def store_handle(database: Path, make: Any) -> Any:
    """The process's handle for ``database``, made with ``make()`` on first use (thread-safe)."""
    handle = STATE.stores.get(database)
    if handle is None:
        with STATE.lock:
            handle = STATE.stores.get(database)
            if handle is None:
                handle = STATE.stores[database] = make()
    return handle


def shutdown(*, run_status: Any = None, run_error: Any = None) -> None:
    """Finish everything in order; safe to call more than once.

    1. capture jobs (git state, package lists) still queued are run: they queue writes;
    2. open runs end (status from ``run_status``, else decided from how the process ends), each
       stopping its system-metrics sampler first;
    3. each store's write queue is flushed, its thread stopped, its connections closed.
    """
    worker = STATE.capture_worker
    if worker is not None:
        _quietly(lambda: worker.stop(timeout=10.0))
    if STATE.open_runs:
        if run_status is None:
            from .tracking.lifecycle import exit_status

            run_status, run_error = exit_status()
        for run in list(STATE.open_runs.values()):
            _quietly(lambda run=run: run.close_at_exit(run_status, run_error))
    for monitor in list(STATE.system_monitors.values()):  # each run stopped its own; this is a net
        _quietly(monitor.stop)
    for handle in list(STATE.stores.values()):
        _quietly(handle.close)


def reset() -> None:
    """Shut down (open runs end KILLED), then forget every piece of state: a clean slate for
    tests, or for a long-lived process that wants one."""
    from .entities import RunStatus

    if STATE.autolog is not None:  # every patched class and function gets its original back
        _quietly(STATE.autolog.revert_all)
    shutdown(run_status=RunStatus.KILLED)
    RUN_STACK.set(())
    with STATE.lock:
        STATE.__init__()  # type: ignore[misc]


def _quietly(step: Any) -> None:
    try:
        step()
    except Exception:  # the interpreter may be going away; crash detection covers the rest
        pass


atexit.register(shutdown)
