"""The fluent tracking API, with MLflow's names: ``start_run``, ``log_metric``, ``end_run``...

The active run lives in a ``ContextVar`` (a stack, for nested runs), so code in
one notebook kernel, thread or asyncio task does not see another's run. A run
ends when its ``with`` block does: FINISHED, FAILED on an exception (type,
message and traceback kept), KILLED on ``KeyboardInterrupt``; runs still open
at interpreter exit are ended too. No run is ever left active after its block.

Example:
    >>> import nbtrack, tempfile
    >>> nbtrack.set_tracking_uri(tempfile.mkdtemp())
    >>> with nbtrack.start_run(run_name="demo") as run:
    ...     nbtrack.log_param("alpha", 1)
    ...     nbtrack.log_metric("loss", 0.5, step=1)
    >>> nbtrack.get_run(run.info.run_id).data.metrics["loss"]
    0.5
"""

from __future__ import annotations

import atexit
import contextvars
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import validation
from .entities import Run, RunError, RunStatus
from .errors import ActiveRunError, InvalidInput
from .paths import StoreLocation, current_location
from .store import queries, writer
from .store.database import Store, open_store
from .store.metric_buffer import buffer_for, flush_all

DEFAULT_EXPERIMENT = "Default"

_stack: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar("nbtrack_runs", default=())
_experiment_name: str | None = None
_last_run_id: str | None = None
_stores: dict[Path, Store] = {}
_readers: dict[Path, Store] = {}
_stores_lock = threading.Lock()
_all_open: dict[str, ActiveRun] = {}  # every open run of this process, for the exit handler


class ActiveRun:
    """A run this process has open; a context manager that always ends it.

    ``run.info`` and ``run.data`` read the stored run (as MLflow's ``ActiveRun``);
    ``run.run_id`` is the id.
    """

    def __init__(self, store: Store, created: writer.CreatedRun, parent: ActiveRun | None,
                 params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> None:
        self._store = store
        self.run_id = created.run_id
        self._pk = created.pk
        self._parent = parent
        self._buffer = buffer_for(store.location)
        self._rows_append = self._buffer.rows.append  # bound once: the hot path is one call
        self._metric_keys: set[str] = set()
        # What this run holds, as of the calls made here: writes are queued, so a changed
        # param or a missing tag is caught at the call against these, not at flush time.
        self._params: dict[str, str] = dict(params or {})
        self._tags: dict[str, str] = dict(tags or {})
        self._ended = False
        self._buffer.open_runs.add(self.run_id)
        _all_open[self.run_id] = self

    @property
    def info(self):  # -> RunInfo
        return self.to_run().info

    @property
    def data(self):  # -> RunData
        return self.to_run().data

    @property
    def store_location(self) -> StoreLocation:
        return self._store.location

    @property
    def pk(self) -> int:
        """The run's integer row key in the store (``runs.id``), for ``submit``-ted writes."""
        return self._pk

    def to_run(self) -> Run:
        """The run as stored now (pending writes flushed first)."""
        return queries.get_run(read_store(self._store.location), self.run_id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED, error_from(exc))
        else:
            self.end(RunStatus.FAILED, error_from(exc))

    def end(self, status: RunStatus | str = RunStatus.FINISHED, error: RunError | None = None) -> None:
        """End this run and any child still open inside it; a second call does nothing."""
        if self._ended:
            return
        stack = _stack.get()
        if self in stack:
            # Children opened inside this run and not closed end with it, so none stays active.
            for child in reversed(stack[stack.index(self) + 1 :]):
                child._close(status, error)
            _stack.set(stack[: stack.index(self)])
        self._close(status, error)

    def _close(self, status: RunStatus | str, error: RunError | None) -> None:
        global _last_run_id
        if self._ended:
            return
        self._ended = True
        # Queued behind the run's points: durable at the next flush (0.1 s), at any read in
        # this process, or at exit. A process killed before then leaves it to crash detection.
        end_time = writer.now_ms()
        run_id = self.run_id
        self._buffer.submit(lambda conn: writer.finish_run(conn, run_id, status, error, end_time))
        self._buffer.open_runs.discard(run_id)
        _all_open.pop(run_id, None)
        _last_run_id = run_id

    def submit(self, write) -> None:
        """Queue a write of this run's (a function of a connection) behind its logged points."""
        self._buffer.submit(write)

    def __repr__(self) -> str:
        return f"<ActiveRun run_id={self.run_id}>"


def error_from(exc: BaseException | None) -> RunError | None:
    """The error a run keeps: type, one-line message, and the formatted traceback."""
    if exc is None:
        return None
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return RunError(type(exc).__name__, str(exc), text)


# --- store and experiment ----------------------------------------------------------------


def writer_store(location: StoreLocation | None = None) -> Store:
    """This process's writable connection to the store in force (opened once per store).

    The first open in a process also closes runs whose process died (see
    ``writer.mark_crashed_runs``), so a crash never leaves a run RUNNING for long.
    """
    location = location or current_location()
    store = _stores.get(location.database)
    if store is None:
        with _stores_lock:
            store = _stores.get(location.database)
            if store is None:
                store = open_store(location)
                writer.mark_crashed_runs(store)
                _stores[location.database] = store
    return store


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None):
    """Make ``experiment_name`` (created if new) the experiment of runs started from now on.

    Example:
        >>> set_experiment("customer-sentiment").name  # doctest: +SKIP
        'customer-sentiment'
    """
    global _experiment_name
    store = writer_store()
    if experiment_id is not None:
        experiment = queries.get_experiment(store, str(experiment_id))
    else:
        if not isinstance(experiment_name, str) or not experiment_name.strip():
            raise InvalidInput("set_experiment needs a non-empty experiment name")
        queries_id = writer.get_or_create_experiment(store, experiment_name)
        experiment = queries.get_experiment(store, queries_id)
    _experiment_name = experiment.name
    return experiment


def current_experiment_name() -> str:
    return _experiment_name or DEFAULT_EXPERIMENT


# --- run lifecycle ------------------------------------------------------------------------


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    parent_run_id: str | None = None,
    **capture: Any,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it the active one.

    Use it as a context manager so the run always ends. While a run is active,
    starting another needs ``nested=True`` (a child run) or ``end_run()`` first.
    ``capture`` carries what ``%%track`` knows (``notebook_path``, ``cell_id``,
    ``execution_count``, ``code``, ``source``).

    Example:
        >>> with start_run(run_name="bow-nb", tags={"developer": "me"}):  # doctest: +SKIP
        ...     log_metric("accuracy", 0.91)
    """
    stack = _stack.get()
    if stack and not nested:
        raise ActiveRunError(
            f"run {stack[-1].run_id} is already active: pass nested=True to start a child run, "
            "or call nbtrack.end_run() first"
        )
    store = writer_store()
    checked_tags = validation.checked_tags(tags)
    if description is not None:
        checked_tags["mlflow.note.content"] = validation.tag_value("description", description)
    parent = stack[-1] if stack else None
    params: dict[str, str] = {}
    if run_id is not None:
        created = _resume(store, run_id)
        if checked_tags:
            writer.set_tags(store, created.pk, checked_tags)
        params = writer.existing_params(store.conn, created.pk)
        checked_tags = writer.existing_tags(store.conn, created.pk)
    else:
        experiment = (
            str(experiment_id)
            if experiment_id is not None
            else writer.get_or_create_experiment(store, current_experiment_name())
        )
        if run_name is not None and not isinstance(run_name, str):
            raise InvalidInput(f"run_name must be a string; got {type(run_name).__name__}")
        created = writer.create_run(
            store,
            experiment,
            run_name=run_name,
            tags=checked_tags,
            parent_run_id=parent_run_id or (parent.run_id if parent else None),
            **capture,
        )
    run = ActiveRun(store, created, parent, params, checked_tags)
    _stack.set(stack + (run,))
    return run


def _resume(store: Store, run_id: str) -> writer.CreatedRun:
    existing = queries.get_run(store, run_id)
    if existing.info.status is RunStatus.RUNNING and run_id in _all_open:
        raise ActiveRunError(f"run {run_id} is already open in this process; use it, or end it first")
    writer.reopen_run(store, run_id)
    info = existing.info
    return writer.CreatedRun(run_id, queries.run_pk(store, run_id), info.experiment_id, info.run_name,
                             info.start_time)


def end_run(status: str = "FINISHED") -> None:
    """End the active run (MLflow's ``end_run``); does nothing when no run is active."""
    stack = _stack.get()
    if stack:
        stack[-1].end(RunStatus(status))


def active_run() -> ActiveRun | None:
    """The run that logging goes to now, or None."""
    stack = _stack.get()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, else the run this process ended last (as MLflow)."""
    run = active_run()
    if run is not None:
        return run.to_run()
    if _last_run_id is None:
        return None
    return queries.get_run(read_store(), _last_run_id)


def _current() -> ActiveRun:
    stack = _stack.get()
    # Logging with no active run starts one, as MLflow does; it ends at end_run() or exit.
    return stack[-1] if stack else start_run()


# --- logging ------------------------------------------------------------------------------

_time = time.time


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    """Log one metric point. An in-memory append; a background thread writes batches.

    ``timestamp`` is milliseconds since the epoch (MLflow's unit); ``step``
    defaults to 0 as in MLflow. NaN and ±inf are kept. ``synchronous=True``
    returns only once the point is durable.

    Example:
        >>> for epoch in range(3):  # doctest: +SKIP
        ...     log_metric("val_loss", 1 / (epoch + 1), step=epoch)
    """
    stack = _stack.get()
    run = stack[-1] if stack and run_id is None else _run_for(run_id)
    try:
        if key not in run._metric_keys:  # validate a key once per run, not once per point
            run._metric_keys.add(validation.check_key(key, "metric"))
    except TypeError:  # an unhashable key (a list...): let check_key say what is wrong
        validation.check_key(key, "metric")
    if value.__class__ is not float:
        value = validation.metric_value(key, value)
    if step is None:
        step = 0
    elif step.__class__ is not int:
        step = validation.metric_step(step)
    run._rows_append((run._pk, key, value, step, _time() if timestamp is None else timestamp / 1000))
    if synchronous:
        run._buffer.flush()


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
) -> None:
    """Log several metrics at one step. Example: ``log_metrics({"loss": 0.1, "acc": 0.9}, step=3)``."""
    if not isinstance(metrics, Mapping):
        raise InvalidInput(f"log_metrics takes a dict of name -> number; got {type(metrics).__name__}")
    # Check every value first so a bad one logs nothing rather than half the dict.
    checked = {validation.check_key(k, "metric"): validation.metric_value(k, v) for k, v in metrics.items()}
    for key, value in checked.items():
        log_metric(key, value, step=step, timestamp=timestamp, run_id=run_id)
    if synchronous:
        flush()


def _run_for(run_id: str | None) -> ActiveRun:
    if run_id is None:
        return _current()
    if run_id in _all_open:
        return _all_open[run_id]
    raise ActiveRunError(
        f"run {run_id} is not open in this process; resume it with nbtrack.start_run(run_id=...)"
    )


def log_param(key: str, value: Any) -> Any:
    """Record a param (stored as a string); returns ``value`` as MLflow does."""
    log_params({key: value})
    return value


def log_params(params: Mapping[str, Any]) -> None:
    """Record several params at once; a param that was logged with another value is refused."""
    checked = validation.checked_params(params)
    run = _current()
    conflict = writer.param_conflict(run._params, checked)
    if conflict:
        raise InvalidInput(conflict)
    new = {k: v for k, v in checked.items() if k not in run._params}
    if new:
        run._params.update(new)
        pk = run._pk
        run.submit(lambda conn: writer.insert_params(conn, pk, new))


def set_tag(key: str, value: Any) -> None:
    set_tags({key: value})


def set_tags(tags: Mapping[str, Any]) -> None:
    checked = validation.checked_tags(tags)
    run = _current()
    run._tags.update(checked)
    pk = run._pk
    run.submit(lambda conn: writer.upsert_tags(conn, pk, checked))


def delete_tag(key: str) -> None:
    run = _current()
    validation.check_key(key, "tag")
    if key not in run._tags:
        raise InvalidInput(f"no tag {key!r} on this run; nothing to delete")
    del run._tags[key]
    pk = run._pk
    run.submit(lambda conn: writer.remove_tag(conn, pk, key))


def flush() -> None:
    """Make every logged point durable now (other processes see it at once)."""
    flush_all()


def current_run() -> ActiveRun:
    """The active run, starting one if none is (for artifacts and inputs)."""
    return _current()


def read_store(location: StoreLocation | None = None) -> Store:
    """A read-only connection to the store, with everything this process logged written first.

    Reads get their own connection (opened once per store), so a search's temp-table
    transaction never meets a write on the writer connection.
    """
    location = writer_store(location).location  # creates and migrates the store first
    flush_all()
    store = _readers.get(location.database)
    if store is None:
        with _stores_lock:
            store = _readers.get(location.database)
            if store is None:
                store = _readers[location.database] = open_store(location, readonly=True)
    return store


def reset_state() -> None:
    """End every open run, close stores and buffers, forget the experiment and tracking URI.

    For tests, and for a long-lived process that wants a clean slate.
    """
    global _experiment_name, _last_run_id
    from .paths import set_tracking_uri
    from .store import metric_buffer

    for run in list(_all_open.values()):
        run._close(RunStatus.KILLED, None)
    _stack.set(())
    for buffer in list(metric_buffer._buffers.values()):
        buffer.close()
    metric_buffer._buffers.clear()
    for store in [*_stores.values(), *_readers.values()]:
        store.close()
    _stores.clear()
    _readers.clear()
    _experiment_name = None
    _last_run_id = None
    set_tracking_uri(None)


@atexit.register
def _end_open_runs_at_exit() -> None:
    # A script that died of an uncaught exception has sys.last_value set by the time
    # atexit runs; IPython sets it for every failed cell, so it means nothing there.
    failed = "IPython" not in sys.modules and getattr(sys, "last_value", None) is not None
    status = RunStatus.FAILED if failed else RunStatus.FINISHED
    error = error_from(getattr(sys, "last_value", None)) if failed else None
    for run in list(_all_open.values()):
        try:
            run._close(status, error)
        except Exception:  # the interpreter is going away; the heartbeat check will mark it
            pass
