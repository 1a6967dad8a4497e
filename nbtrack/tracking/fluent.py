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

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .. import validation
from ..entities import Run, RunError, RunStatus
from ..errors import ActiveRunError, InvalidInput
from ..paths import StoreLocation, current_location
from ..state import RUN_STACK, STATE
from ..store import commands, queries
from ..store.database import Store, now_ms, process_identity
from ..store.handle import StoreHandle
from ..store.writer import CreatedRun, new_run_command, param_conflict
from .lifecycle import error_from

DEFAULT_EXPERIMENT = "Default"


class RunTarget:
    """A run that calls can write to: its id, row key and store, and what it holds as of the
    calls made here. ``ActiveRun`` (open in this process) and ``StoredRun`` (any other run
    of the store, written through ``run_id=`` or the client) share it."""

    def __init__(self, handle: StoreHandle, run_id: str, pk: int,
                 params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> None:
        self._handle = handle
        self.run_id = run_id
        self._pk = pk
        queue = handle.queue
        self._queue = queue
        self._append_point = queue.append_point  # bound once: the hot path is one call
        self._backlog = queue.rows
        self._metric_keys: set[str] = set()
        # What this run holds, as of the calls made here: writes are queued, so a changed
        # param or a missing tag is caught at the call against these, not at flush time.
        self._params: dict[str, str] = dict(params or {})
        self._tags: dict[str, str] = dict(tags or {})

    @property
    def store(self) -> StoreHandle:
        """The handle of the store this run writes to (for typed commands and blobs)."""
        return self._handle

    @property
    def pk(self) -> int:
        """The run's integer row key in the store (``runs.id``), which commands name."""
        return self._pk

    def submit(self, command: commands.WriteCommand) -> None:
        """Queue a typed write command behind this run's logged points."""
        self._queue.submit(command)

    def record_params(self, checked: Mapping[str, str]) -> None:
        """Queue params not logged before; a changed value is refused here, in one line."""
        conflict = param_conflict(self._params, checked)
        if conflict:
            raise InvalidInput(conflict)
        new = {k: v for k, v in checked.items() if k not in self._params}
        if new:
            self._params.update(new)
            self.submit(commands.SetParams(self.pk, new))

    def record_tags(self, checked: Mapping[str, str]) -> None:
        self._tags.update(checked)
        self.submit(commands.SetTags(self.pk, checked))

    def remove_tag(self, key: str) -> None:
        if key not in self._tags:
            raise InvalidInput(f"no tag {key!r} on run {self.run_id}; nothing to delete")
        del self._tags[key]
        self.submit(commands.DeleteTag(self.pk, key))


class StoredRun(RunTarget):
    """A run of the store that this process does not have open (finished, or another
    process's): ``log_metric(..., run_id=...)`` and ``MlflowClient`` write to it as MLflow
    does. Its params and tags are read when it is looked up."""

    @classmethod
    def lookup(cls, handle: StoreHandle, run_id: str) -> StoredRun:
        store = handle.read()  # flushes this process's writes first
        run = queries.get_run(store, run_id)  # RunNotFound, in one line
        return cls(handle, run_id, queries.run_pk(store, run_id), dict(run.data.params), dict(run.data.tags))


class ActiveRun(RunTarget):
    """A run this process has open; a context manager that always ends it.

    ``run.info`` and ``run.data`` read the stored run (as MLflow's ``ActiveRun``);
    ``run.run_id`` is the id.
    """

    def __init__(self, handle: StoreHandle, created: CreatedRun, parent: ActiveRun | None,
                 params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> None:
        super().__init__(handle, created.run_id, created.pk, params, tags)
        self._parent = parent
        self._ended = False
        # Deferred work still to write to this run (see defer), and the end it holds back.
        self._deferred = 0
        self._held_end: commands.EndRun | None = None
        self._deferred_lock = threading.Lock()
        self._queue.open_runs.add(self.run_id)
        STATE.open_runs[self.run_id] = self

    @property
    def info(self):  # -> RunInfo
        return self.to_run().info

    @property
    def data(self):  # -> RunData
        return self.to_run().data

    @property
    def store_location(self) -> StoreLocation:
        return self._handle.location

    def to_run(self) -> Run:
        """The run as stored now (pending writes flushed first)."""
        # Through the process's current handle: after state.reset() this run's own handle is
        # closed, and reopening it would leave connections nobody closes.
        return queries.get_run(store_handle(self._handle.location).read(), self.run_id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED, error_from(exc))
        else:
            self.end(RunStatus.FAILED, error_from(exc))

    def end(self, status: RunStatus | str = RunStatus.FINISHED, error: RunError | None = None,
            end_time: int | None = None) -> None:
        """End this run and any child still open inside it; a second call does nothing."""
        if self._ended:
            return
        stack = RUN_STACK.get()
        if self in stack:
            # Children opened inside this run and not closed end with it, so none stays active.
            for child in reversed(stack[stack.index(self) + 1 :]):
                child._close(status, error)
            RUN_STACK.set(stack[: stack.index(self)])
        self._close(status, error, end_time)

    def defer(self, job: Callable[[], None], topic: str) -> None:
        """Run ``job``, which writes to this run, off the caller's thread (on the capture
        worker): the caller goes on at once. The run's end is recorded after ``job``'s writes
        even if the run ends first, and a flush or read in this process waits for them, so
        nothing lands after the run's end and nothing read is missing. A failing ``job``
        warns once under ``topic``.

        Example:
            >>> run.defer(lambda: log_bytes_to(run, draw(), "plot.png"), "autolog images")  # doctest: +SKIP
        """
        from ..capture.background import capture_worker

        release = self._queue.expect()
        with self._deferred_lock:
            self._deferred += 1

        def deferred() -> None:  # on the capture worker, whose flushes never wait (see there)
            try:
                job()
            finally:
                with self._deferred_lock:
                    self._deferred -= 1
                    held = self._held_end if not self._deferred else None
                    if held is not None:
                        self._held_end = None
                if held is not None:
                    self._queue.submit(held)
                release()  # after the end is queued: a waiting flush writes both

        capture_worker().submit(deferred, topic)

    def close_at_exit(self, status: RunStatus | str, error: RunError | None) -> None:
        """End the run as the process shuts down (``nbtrack.state.shutdown``)."""
        self._close(status, error)

    def _close(self, status: RunStatus | str, error: RunError | None, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        monitor = STATE.system_monitors.pop(self.run_id, None)
        if monitor is not None:  # its last sample lands before the run's end
            monitor.stop()
        # Queued behind the run's points: durable at the next flush (0.1 s), at any read in
        # this process, or at exit. A process killed before then leaves it to crash detection.
        end = commands.EndRun(self.run_id, RunStatus(status), end_time or now_ms(), error)
        with self._deferred_lock:
            if self._deferred:  # deferred work still writes: the end goes after it (see defer)
                self._held_end, end = end, None
        if end is not None:
            self._queue.submit(end)
        self._queue.open_runs.discard(self.run_id)
        STATE.open_runs.pop(self.run_id, None)
        STATE.last_run_id = self.run_id

    def __repr__(self) -> str:
        return f"<ActiveRun run_id={self.run_id}>"


# --- store and experiment ----------------------------------------------------------------


def store_handle(location: StoreLocation | None = None) -> StoreHandle:
    """This process's handle on the store in force (or at ``location``), made once per store.

    Example:
        >>> store_handle().location == current_location()
        True
    """
    location = location or current_location()
    handle = STATE.stores.get(location.database)
    if handle is None:
        with STATE.lock:
            handle = STATE.stores.get(location.database)
            if handle is None:
                handle = STATE.stores[location.database] = StoreHandle(location)
    return handle


def read_store(location: StoreLocation | None = None) -> Store:
    """A read-only connection to the store, with everything this process logged written first.

    Raises ``NoStore`` (one line) where no store exists, and creates nothing.
    """
    return store_handle(location).read()


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None):
    """Make ``experiment_name`` (created if new) the experiment of runs started from now on.

    Example:
        >>> set_experiment("customer-sentiment").name  # doctest: +SKIP
        'customer-sentiment'
    """
    handle = store_handle()
    if experiment_id is None:
        if not isinstance(experiment_name, str) or not experiment_name.strip():
            raise InvalidInput("set_experiment needs a non-empty experiment name")
        experiment_id = experiment_id_for(experiment_name, handle)
    experiment = queries.get_experiment(handle.read(), str(experiment_id))
    STATE.experiment_name = experiment.name
    return experiment


def experiment_id_for(name: str, handle: StoreHandle | None = None) -> str:
    """The id of the experiment called ``name`` in the store, created if new (the one place
    a name becomes an id for writing)."""
    return (handle or store_handle()).execute(commands.GetOrCreateExperiment(name))


def current_experiment_name() -> str:
    return STATE.experiment_name or DEFAULT_EXPERIMENT


# --- run lifecycle ------------------------------------------------------------------------


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    parent_run_id: str | None = None,
    log_system_metrics: bool | None = None,
    **capture: Any,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it the active one.

    Use it as a context manager so the run always ends. While a run is active,
    starting another needs ``nested=True`` (a child run) or ``end_run()`` first.
    ``capture`` carries what ``%%track`` knows (``notebook_path``, ``cell_id``,
    ``execution_count``, ``code``, ``source``). A new run gets MLflow's system tags
    (``mlflow.runName``, ``mlflow.user``, ``mlflow.source.*``, ``mlflow.parentRunId``;
    see ``tracking.system_tags``). ``log_system_metrics=True`` samples CPU, memory, disk,
    network and GPU while the run is open (``nbtrack.system_metrics``); None follows
    ``enable_system_metrics_logging()`` / ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING``.

    Example:
        >>> with start_run(run_name="bow-nb", tags={"developer": "me"}):  # doctest: +SKIP
        ...     log_metric("accuracy", 0.91)
    """
    stack = RUN_STACK.get()
    if stack and not nested:
        raise ActiveRunError(
            f"run {stack[-1].run_id} is already active: pass nested=True to start a child run, "
            "or call nbtrack.end_run() first"
        )
    handle = store_handle()
    checked_tags = validation.checked_tags(tags)
    if description is not None:
        checked_tags["mlflow.note.content"] = validation.tag_value("description", description)
    parent = stack[-1] if stack else None
    params: dict[str, str] = {}
    if run_id is not None:
        created, params, stored_tags = _resume(handle, run_id)
        if checked_tags:
            handle.execute(commands.SetTags(created.pk, checked_tags))
        checked_tags = {**stored_tags, **checked_tags}
    else:
        run_name = validation.run_name(run_name)
        command = with_system_tags(new_run_command(
            "" if experiment_id is None else str(experiment_id),
            # the current experiment is found (or made) in the run's own transaction
            experiment_name=current_experiment_name() if experiment_id is None else None,
            run_name=run_name,
            tags=checked_tags,
            parent_run_id=parent_run_id or (parent.run_id if parent else _job_parent()),
            **capture,
        ))
        checked_tags = dict(command.tags)
        created = handle.execute(command)
    run = ActiveRun(handle, created, parent, params, checked_tags)
    RUN_STACK.set(stack + (run,))
    from ..system_metrics import start_for

    start_for(run, log_system_metrics)
    return run


def with_system_tags(command: commands.CreateRun) -> commands.CreateRun:
    """``command`` with MLflow's system tags added (its own tags win)."""
    from .system_tags import system_tags

    tags = system_tags(command.run_name, command.user_id, parent_run_id=command.parent_run_id,
                       notebook_path=command.notebook_path,
                       git=command.source != "cell")  # a cell's git state comes from capture/
    # new_run_command made this dict for this command alone, and nothing has seen it yet:
    # filling it costs less than dataclasses.replace on the path of every start_run.
    for key, value in tags.items():
        command.tags.setdefault(key, value)  # type: ignore[attr-defined]
    return command


def _resume(handle: StoreHandle, run_id: str) -> tuple[CreatedRun, dict[str, str], dict[str, str]]:
    existing = queries.get_run(handle.read(), run_id)
    if existing.info.status is RunStatus.RUNNING and run_id in STATE.open_runs:
        raise ActiveRunError(f"run {run_id} is already open in this process; use it, or end it first")
    host, pid = process_identity()
    handle.execute(commands.ReopenRun(run_id, host, pid, now_ms()))
    info = existing.info
    created = CreatedRun(run_id, queries.run_pk(handle.read(), run_id), info.experiment_id,
                         info.run_name, info.start_time)
    return created, dict(existing.data.params), dict(existing.data.tags)


def _job_parent() -> str | None:
    """The execution run a notebook job (``nbtrack run``) started this kernel under: its
    top-level runs are that run's children."""
    return os.environ.get("NBTRACK_PARENT_RUN_ID") or None


def end_run(status: str = "FINISHED") -> None:
    """End the active run (MLflow's ``end_run``); does nothing when no run is active."""
    stack = RUN_STACK.get()
    if stack:
        stack[-1].end(RunStatus(status))


def active_run() -> ActiveRun | None:
    """The run that logging goes to now, or None."""
    stack = RUN_STACK.get()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, else the run this process ended last (as MLflow)."""
    run = active_run()
    if run is not None:
        return run.to_run()
    if STATE.last_run_id is None:
        return None
    return queries.get_run(read_store(), STATE.last_run_id)


def _current() -> ActiveRun:
    stack = RUN_STACK.get()
    # Logging with no active run starts one, as MLflow does; it ends at end_run() or exit.
    return stack[-1] if stack else start_run()


# --- logging ------------------------------------------------------------------------------

_time = time.time
_MIN_STEP, _MAX_STEP = -(2**63), 2**63 - 1  # SQLite's INTEGER


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
) -> None:
    """Log one metric point. An in-memory append; a background thread writes batches.

    ``timestamp`` is milliseconds since the epoch (MLflow's unit); ``step``
    defaults to 0 as in MLflow. NaN and ±inf are kept; a value, step or
    timestamp that cannot be stored is refused here, in one line. ``synchronous=True``
    returns only once the point is durable. A loop that logs faster than the
    store can write helps write (see ``store.write_queue``), so at most
    ``DURABILITY_WINDOW`` (0.5 s) of points is ever unwritten.

    Example:
        >>> for epoch in range(3):  # doctest: +SKIP
        ...     log_metric("val_loss", 1 / (epoch + 1), step=epoch)
    """
    stack = RUN_STACK.get()
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
    elif step.__class__ is not int or not _MIN_STEP <= step <= _MAX_STEP:
        step = validation.metric_step(step)
    run._append_point((run._pk, key, value, step,
                       _time() if timestamp is None else validation.metric_timestamp(timestamp) / 1000))
    if len(run._backlog) > run._queue.wake_water:  # wake the writer; help it if it is behind
        run._queue.relieve()
    if synchronous:
        run._queue.flush()


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
) -> None:
    """Log several metrics at one step. Example: ``log_metrics({"loss": 0.1, "acc": 0.9}, step=3)``."""
    if not isinstance(metrics, Mapping):
        raise InvalidInput(f"log_metrics takes a dict of name -> number; got {type(metrics).__name__}")
    # Check everything first so a bad value logs nothing rather than half the dict.
    checked = {validation.check_key(k, "metric"): validation.metric_value(k, v) for k, v in metrics.items()}
    if step is not None:
        step = validation.metric_step(step)
    if timestamp is not None:
        validation.metric_timestamp(timestamp)
    for key, value in checked.items():
        log_metric(key, value, step=step, timestamp=timestamp, run_id=run_id)
    if synchronous:
        flush()


def _run_for(run_id: str | None) -> RunTarget:
    """The run a call with ``run_id`` writes to: the active one when None, the open run of
    that id, else the stored run (which may be another process's or already ended).
    ``MlflowClient`` passes the ``RunTarget`` it resolved on its own store instead of an id."""
    if run_id is None:
        return _current()
    if isinstance(run_id, RunTarget):
        return run_id
    run = STATE.open_runs.get(run_id)
    if run is not None:
        return run
    return StoredRun.lookup(store_handle(), run_id)


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Record a param (stored as a string); returns ``value`` as MLflow does.

    Unlike MLflow, logging a param again with another value raises ``InvalidInput``
    (MLflow refuses it too, but only when the write lands)."""
    log_params({key: value}, synchronous=synchronous)
    return value


def log_params(params: Mapping[str, Any], synchronous: bool | None = None, run_id: str | None = None) -> None:
    """Record several params at once; a param that was logged with another value is refused.

    Example:
        >>> log_params({"alpha": 0.5, "model": "nb"})  # doctest: +SKIP
    """
    _run_for(run_id).record_params(validation.checked_params(params))
    if synchronous:
        flush()


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    """Set one tag on the active run. Example: ``set_tag("stage", "baseline")``."""
    set_tags({key: value}, synchronous=synchronous)


def set_tags(tags: Mapping[str, Any], synchronous: bool | None = None) -> None:
    """Set several tags on the active run; ``synchronous=True`` returns once they are durable."""
    _current().record_tags(validation.checked_tags(tags))
    if synchronous:
        flush()


def delete_tag(key: str) -> None:
    """Remove a tag from the active run; a tag it does not have is refused in one line."""
    validation.check_key(key, "tag")
    _current().remove_tag(key)


def flush() -> None:
    """Make every logged point durable now (other processes see it at once).

    Example:
        >>> flush()
    """
    for handle in list(STATE.stores.values()):
        handle.flush()


def flush_async_logging() -> None:
    """MLflow's name for ``flush()``: nbtrack's logging is always queued, and this waits for it."""
    flush()


def flush_artifact_async_logging() -> None:
    """MLflow's name for ``flush()``: artifact bytes are stored at the call; their rows are queued."""
    flush()


def current_run(run_id: str | None = None) -> RunTarget:
    """The run artifacts and inputs go to: ``run_id``'s, else the active run, starting one if
    none is."""
    return _run_for(run_id)
