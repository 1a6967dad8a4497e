"""One tracked cell execution: open a run, let the cell run, record what it did, close the run.

``%%track`` and auto-tracking (``%nbtrack auto on``) both drive a
:class:`CellRecording`: ``begin()`` before the cell runs, ``finish(error)`` after,
whatever happened in between. ``finish`` always ends the run, and every run the
cell opened and left open, so no cell leaves a run active.

Nothing here may break the user's cell: a failure in nbtrack's own capture
(store unwritable, git missing, snapshot failing) warns once and the cell goes on.

Example:
    >>> recording = CellRecording(session, shell, raw_cell, body, options)  # doctest: +SKIP
    >>> recording.begin(); summary = recording.finish(None)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..display import RunSummary
from ..entities import DatasetInput, RunError, RunStatus
from ..errors import InvalidInput, warn_once
from ..store import queries
from ..store.commands import ArtifactEntry, RecordArtifacts, SetTags
from ..store.database import now_ms
from ..tracking import fluent
from ..tracking.artifacts import log_bytes
from ..tracking.inputs import log_input
from . import context as cell_context
from .cell import CellAnalysis, is_literal_value
from .session import TrackingSession
from .outputs import OutputCopy, with_outputs
from .snapshot import encode_frontend_content, snapshot_name

MAX_FILE_SNAPSHOT_BYTES = 64 << 20  # a bigger .ipynb on disk is skipped (and said so once)


@dataclass
class TrackOptions:
    """What the magic line (or the defaults, in auto mode) asks for."""

    run_name: str | None = None
    experiment: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    bound_params: dict[str, Any] = field(default_factory=dict)  # -p key=value
    params: str | tuple[str, ...] = "all"  # "all", "none" or names
    metrics: tuple[str, ...] = ()
    snapshot: bool = True
    fingerprint: bool = True
    git: bool = True
    packages: bool = True
    source: str = "cell"
    system_metrics: bool | None = None  # --system; None follows enable_system_metrics_logging()


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C / a kernel interrupt until nbtrack's bookkeeping is done, then raise it.

    A ``KeyboardInterrupt`` landing between two store writes would otherwise leave
    a run half-recorded. Only the main thread can install signal handlers; elsewhere
    this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except (ValueError, OSError):  # no signals here (embedded interpreter)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def run_error(exc: BaseException) -> RunError:
    """The error a run keeps, with IPython's own frames cut from the top of the traceback."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and \
            tb.tb_frame.f_code.co_filename.endswith(("interactiveshell.py", "nbtrack/magic.py")):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return RunError(type(exc).__name__, str(exc), text)


def status_for(error: BaseException | None) -> RunStatus:
    if error is None:
        return RunStatus.FINISHED
    return RunStatus.KILLED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED


class CellRecording:
    """The run of one cell execution, from ``begin()`` to ``finish()``."""

    def __init__(self, session: TrackingSession, shell: Any, raw_cell: str, body: str,
                 options: TrackOptions, analysis: CellAnalysis, ipython_cell_id: str | None = None) -> None:
        self.session = session
        self.shell = shell
        self.raw_cell = raw_cell
        self.body = body
        self.options = options
        self.analysis = analysis
        self.ipython_cell_id = ipython_cell_id
        self.run: fluent.ActiveRun | None = None
        self._outer: fluent.ActiveRun | None = None
        self._inputs: list[DatasetInput] = []
        self._notes: list[str] = []
        self.context: cell_context.CellContext | None = None
        self.lineage: str | None = None
        self._enclosing: CellRecording | None = None  # the tracked cell this one runs inside
        self.outputs: list[dict[str, Any]] | None = None  # what the cell showed, for the snapshot

    # --- before the cell --------------------------------------------------------------

    def begin(self) -> bool:
        """Open the run; False (after one warning) when the store cannot be written."""
        shell, options = self.shell, self.options
        self.context = ctx = cell_context.resolve(shell, self.ipython_cell_id)
        if options.fingerprint:
            self._inputs = self._describe_inputs()
        self._outer = fluent.active_run()
        tags = {**self.session.static_tags(), **options.tags, "mlflow.source.type": "NOTEBOOK"}
        if ctx.notebook_path:
            tags["mlflow.source.name"] = ctx.notebook_path
        key = cell_context.lineage_key(ctx.cell_id, options.run_name, self.body)
        outer = self.session.current
        if outer is not None and outer.lineage is not None:
            # A %%track nested in a tracked cell shares its cell id: key it under the outer cell.
            key = f"{outer.lineage}/{cell_context.lineage_key(None, options.run_name, self.body)}"
        self.lineage = key
        self._enclosing = outer
        try:
            experiment_id = None
            if options.experiment:
                experiment_id = fluent.experiment_id_for(options.experiment)
            self.run = fluent.start_run(
                run_name=options.run_name, experiment_id=experiment_id, tags=tags,
                nested=self._outer is not None, notebook_path=ctx.notebook_path, cell_id=key,
                execution_count=ctx.execution_count, code=self.raw_cell, source=options.source,
                log_system_metrics=options.system_metrics,
            )
            if options.bound_params:
                fluent.log_params({k: _param_text(v) for k, v in options.bound_params.items()})
        except Exception as exc:
            warn_once("start", f"nbtrack could not start a run; the cell runs untracked: {exc}")
            if self.run is not None:
                self.run.end(RunStatus.FAILED, run_error(exc))
            self.run = None
            return False
        self.session.current = self
        return True

    def _describe_inputs(self) -> list[DatasetInput]:
        from .inputs import data_names

        namespace = self.shell.user_ns
        described = []
        for name in data_names(self.analysis.reads, namespace):
            try:
                described.append(self.session.fingerprints.describe(namespace[name], name))
            except Exception as exc:  # an exotic dtype must not stop the cell
                warn_once(f"fingerprint:{type(namespace[name]).__name__}",
                          f"nbtrack could not fingerprint {name!r}: {exc}")
        return described

    @contextlib.contextmanager
    def copying_outputs(self, tracking: bool) -> Iterator[None]:
        """While the body runs: keep a copy of what it shows, so the run's snapshot holds the
        run's own outputs (the frontend sent the notebook before the cell had any)."""
        if not (tracking and self.options.snapshot and self.context is not None):
            yield
            return
        with OutputCopy(self.shell, self.context.execution_count) as copy:
            try:
                yield
            finally:
                self.outputs = copy.outputs

    # --- after the cell ---------------------------------------------------------------

    def finish(self, error: BaseException | None) -> RunSummary | None:
        """Record params, metrics, inputs and snapshots, end the run, return its summary."""
        run = self.run
        if run is None:
            return None
        status = status_for(error)
        failure = None if error is None else run_error(error)
        try:
            self._end_children(status, failure)
            if fluent.active_run() is run:  # else the cell ended its own run: record no more
                self._record_params()
                if status is RunStatus.FINISHED:
                    self._record_metric_variables()
                for dataset in self._inputs:
                    log_input(dataset)
                if self.options.snapshot:
                    self._snapshot()
        except Exception as exc:
            warn_once("record", f"nbtrack could not record part of this run: {exc}")
        finally:
            run.end(status, failure)
            self._end_children(status, failure)
            if self.session.current is self:
                self.session.current = self._enclosing
        self._queue_background()
        return self._summary()

    def _end_children(self, status: RunStatus, error: RunError | None) -> None:
        """End runs the cell opened and left open (``start_run`` without ``with``, or logging
        after ``end_run()`` started one): no cell leaves a run active."""
        while (top := fluent.active_run()) is not None and top is not self.run and top is not self._outer:
            top.end(status, error)

    def _record_params(self) -> None:
        mode = self.options.params
        if mode == "none":
            return
        found: dict[str, str] = {}
        if mode == "all":
            found = {k: _param_text(v) for k, v in self.analysis.params.items()}
        else:
            namespace = self.shell.user_ns
            for name in mode:
                if name in self.analysis.params:
                    found[name] = _param_text(self.analysis.params[name])
                elif name in namespace and is_literal_value(namespace[name]):
                    found[name] = _param_text(namespace[name])
                else:
                    self._notes.append(f"param {name} not recorded: not a number, string, "
                                       "bool, None or a list/dict of those")
        skip = set(self.options.bound_params) | set(self.options.metrics)  # those are recorded as such
        found = {k: v for k, v in found.items() if k not in skip}
        if not found:
            return
        try:
            fluent.log_params(found)
        except InvalidInput:
            # One of them cannot be stored (too long), or the cell logged it itself with
            # another value (its own call wins): record the others, say which were not.
            for key, value in found.items():
                try:
                    fluent.log_params({key: value})
                except InvalidInput as exc:
                    self._notes.append(f"param {key} not recorded: {exc}")

    def _record_metric_variables(self) -> None:
        namespace = self.shell.user_ns
        for name in self.options.metrics:
            value = namespace.get(name)
            if isinstance(value, bool) or value is None:
                self._notes.append(f"metric {name} not recorded: not set to a number")
                continue
            try:
                fluent.log_metric(name, value)
            except Exception:  # InvalidInput, or a __float__ that raises: never the cell's problem
                self._notes.append(f"metric {name} not recorded: {type(value).__name__} is not a number")

    def _snapshot(self) -> None:
        session, ctx = self.session, self.context
        assert ctx is not None
        history = getattr(self.shell.history_manager, "input_hist_raw", None)
        if history:
            data = session.history.build(history, session.cell_ids, upto=ctx.execution_count,
                                         last_outputs=self.outputs)
            log_bytes(data, snapshot_name(ctx.notebook_path, "history"))
        if ctx.frontend_content is not None:
            content = ctx.frontend_content
            if self.outputs is not None and ctx.cell_id:
                content = {**content, "cells": [
                    with_outputs(cell, self.outputs, ctx.execution_count) if cell.get("id") == ctx.cell_id else cell
                    for cell in content.get("cells", [])]}
            log_bytes(encode_frontend_content(content), snapshot_name(ctx.notebook_path, "file"))

    def _queue_background(self) -> None:
        """Git state, package versions and the .ipynb on disk: off the cell's path."""
        ctx, options = self.context, self.options
        assert ctx is not None and self.run is not None
        run, session = self.run, self.session
        folder = os.path.dirname(ctx.notebook_path) if ctx.notebook_path else os.getcwd()
        disk_path = ctx.notebook_path if options.snapshot and ctx.frontend_content is None else None

        def job() -> None:
            store = run.store  # for its blob folder only
            tags: dict[str, str] = {}
            entries: list[tuple[str, str, int]] = []
            if options.git:
                try:
                    state = session.git.state(folder)
                except OSError as exc:  # no git on this machine
                    warn_once("git", f"nbtrack could not run git, so runs have no commit: {exc}")
                    state = None
                if state is not None:
                    tags.update(state.tags())
                    if state.dirty and state.diff:
                        entries.append(("git/diff.patch", *session.blob(store, state.diff)))
            if options.packages:
                requirements = session.packages.requirements()
                entries.append(("environment/requirements.txt", *session.blob(store, requirements)))
                tags["nbtrack.packages"] = str(requirements.count(b"\n"))
            if disk_path and disk_path.endswith(".ipynb"):
                entry = session.disk_snapshot(store, disk_path, MAX_FILE_SNAPSHOT_BYTES)
                if entry is not None:
                    entries.append((snapshot_name(disk_path, "file"), *entry))
            # Queued behind the run's other writes, in the flusher's transaction.
            if tags:
                run.submit(SetTags(run.pk, tags))
            if entries:
                run.submit(RecordArtifacts(run.pk, tuple(ArtifactEntry(*e) for e in entries), now_ms()))

        session.worker.submit(job, "environment")

    def _summary(self) -> RunSummary | None:
        assert self.run is not None
        try:
            store = self.run.store.read()  # flushes this process's writes
            run = queries.get_run(store, self.run.run_id)
            previous = None
            if run.info.previous_run_id:
                with contextlib.suppress(Exception):
                    previous = queries.get_run(store, run.info.previous_run_id)
            summary = RunSummary(run, previous, self._notes)
        except Exception as exc:
            warn_once("summary", f"nbtrack could not read back the run: {exc}")
            return None
        self.session.last_summary = summary
        return summary


def _param_text(value: Any) -> str:
    """As ``nbtrack.log_param`` stores values: ``str()`` (literals are never NaN)."""
    return value if isinstance(value, str) else str(value)
