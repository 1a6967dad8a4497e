"""``MlflowClient``'s run methods that write: create a run, log metrics, params, tags,
batches, artifacts, tables and images to any run of the client's store, end or rename it.

Every call names its run, and hands the fluent function doing the work the run it resolved
(``run_id=`` takes a ``RunTarget`` as well as an id). A run open in this process (``start_run``, or ``create_run``
here) is written through its open ``ActiveRun``, so the fluent API and the client never
disagree about what it holds; any other run (ended, or another process's) through a
``StoredRun``. Writes are durable when the call returns, as MLflow's client
(``synchronous=False`` leaves them in the write queue, durable within 0.5 s).

Differences from MLflow, each kept on purpose (docs/mlflow-compat.md):

- ``create_run`` opens the run in this process: it ends at ``set_terminated`` or, at
  the latest, when the process exits (MLflow leaves it RUNNING for ever).
- logging a param again with another value raises ``InvalidInput`` at the call.

Example:
    >>> import tempfile
    >>> from nbtrack import MlflowClient
    >>> client = MlflowClient(tempfile.mkdtemp())
    >>> run = client.create_run(client.create_experiment("demo"), run_name="r1")
    >>> client.log_metric(run.info.run_id, "loss", 0.5, step=1)
    >>> client.set_terminated(run.info.run_id)
    >>> client.get_run(run.info.run_id).data.metrics
    {'loss': 0.5}
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .. import validation
from ..entities import Metric, Param, Run, RunStatus, RunTag
from ..errors import InvalidInput
from ..state import STATE
from ..store import commands, queries
from ..store.database import now_ms, translating
from ..store.handle import StoreHandle
from ..store.writer import new_run_command
from . import artifacts, media
from . import fluent


class RunMethods:
    """Mixed into ``Client``: the run-writing half of MLflow's ``MlflowClient``."""

    _handle: StoreHandle

    def _target(self, run_id: str) -> fluent.RunTarget:
        """The run ``run_id`` as something to write to (see the module docstring)."""
        run = STATE.open_runs.get(run_id)
        if run is not None and run.store.location == self._handle.location:
            return run
        return fluent.StoredRun.lookup(self._handle, run_id)

    def _done(self, synchronous: bool | None) -> None:
        if synchronous is not False:
            self._handle.flush()

    # --- lifecycle --------------------------------------------------------------------------

    def create_run(self, experiment_id: str, start_time: int | None = None, tags: dict[str, Any] | None = None,
                   run_name: str | None = None) -> Run:
        """Create a RUNNING run in ``experiment_id`` (MLflow's system tags included) and return it.

        It is open in this process until ``set_terminated`` (or exit, which ends it)."""
        command = new_run_command(str(experiment_id), run_name=validation.run_name(run_name),
                                  tags=validation.checked_tags(tags))
        if start_time is not None:
            command = replace(command, start_time=validation.metric_timestamp(start_time))
        command = fluent.with_system_tags(command)
        created = self._handle.execute(command)
        fluent.ActiveRun(self._handle, created, None, tags=dict(command.tags))
        return self.get_run(created.run_id)  # type: ignore[attr-defined]  (Client's)

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        """End a run: FINISHED unless ``status`` says otherwise; ``end_time`` in ms (default now)."""
        status = RunStatus(status or RunStatus.FINISHED)
        run = STATE.open_runs.get(run_id)
        if run is not None and run.store.location == self._handle.location:
            run.end(status, end_time=end_time)
        else:
            self._handle.flush()
            queries.run_pk(self._handle.read(), run_id)  # RunNotFound, in one line
            self._handle.execute(commands.EndRun(run_id, status, end_time or now_ms()))
        self._handle.flush()

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        """Rename a run (its ``mlflow.runName`` tag follows) and/or end it with ``status``."""
        if name is not None:
            self._handle.flush()
            self._handle.execute(commands.RenameRun(run_id, validation.run_name(name)))
            run = STATE.open_runs.get(run_id)
            if run is not None:
                run._tags["mlflow.runName"] = name
        if status is not None:
            if RunStatus(status).is_terminal:
                self.set_terminated(run_id, status)
            else:
                raise InvalidInput(f"update_run can end a run (FINISHED, FAILED, KILLED), not set it to {status}")

    def delete_run(self, run_id: str) -> None:
        """Mark a run deleted (hidden from searches); ``nbtrack gc`` removes it for good."""
        self._handle.flush()  # the run may have queued writes of its own
        self._handle.execute(commands.SetLifecycle(run_id, "deleted", now_ms()))

    def restore_run(self, run_id: str) -> None:
        self._handle.execute(commands.SetLifecycle(run_id, "active", now_ms()))

    @translating
    def get_parent_run(self, run_id: str) -> Run | None:
        """The run ``run_id`` is nested in, or None."""
        store = self._handle.read()
        parent = queries.get_run(store, run_id).info.parent_run_id
        return None if parent is None else queries.get_run(store, parent)

    # --- metrics, params, tags --------------------------------------------------------------

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None, step: int | None = None,
                   synchronous: bool | None = None, dataset_name: str | None = None,
                   dataset_digest: str | None = None, model_id: str | None = None) -> None:
        """Log one point to ``run_id`` (``timestamp`` in ms, ``step`` 0 by default)."""
        fluent.log_metric(key, value, step=step, timestamp=timestamp, run_id=self._target(run_id))
        self._done(synchronous)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Record a param; returns ``value``. Another value for a logged key is refused."""
        self._target(run_id).record_params(validation.checked_params({key: value}))
        self._done(synchronous)
        return value

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        self._target(run_id).record_tags(validation.checked_tags({key: value}))
        self._done(synchronous)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._target(run_id).remove_tag(validation.check_key(key, "tag"))
        self._done(None)

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), params: Sequence[Param] = (),
                  tags: Sequence[RunTag] = (), synchronous: bool | None = None) -> None:
        """Log ``Metric``, ``Param`` and ``RunTag`` entities at once; everything is checked
        before anything is written, so a bad entry logs nothing."""
        target = self._target(run_id)
        checked_params = validation.checked_params({p.key: p.value for p in params})
        checked_tags = validation.checked_tags({t.key: t.value for t in tags})
        points = [(validation.check_key(m.key, "metric"), validation.metric_value(m.key, m.value),
                   validation.metric_step(m.step or 0), validation.metric_timestamp(m.timestamp))
                  for m in metrics]
        if checked_params:
            target.record_params(checked_params)
        if checked_tags:
            target.record_tags(checked_tags)
        for key, value, step, timestamp in points:
            fluent.log_metric(key, value, step=step, timestamp=timestamp, run_id=target)
        self._done(synchronous)

    # --- artifacts ----------------------------------------------------------------------------

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        artifacts.log_artifact(local_path, artifact_path, run_id=self._target(run_id))
        self._done(None)

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        artifacts.log_artifacts(local_dir, artifact_path, run_id=self._target(run_id))
        self._done(None)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        artifacts.log_text(text, artifact_file, run_id=self._target(run_id))
        self._done(None)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        artifacts.log_dict(dictionary, artifact_file, run_id=self._target(run_id))
        self._done(None)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str, *,
                   save_kwargs: dict[str, Any] | None = None) -> None:
        artifacts.log_figure(figure, artifact_file, save_kwargs=save_kwargs, run_id=self._target(run_id))
        self._done(None)

    def log_image(self, run_id: str, image: Any, artifact_file: str | None = None, key: str | None = None,
                  step: int | None = None, timestamp: int | None = None, synchronous: bool | None = None) -> None:
        media.log_image(image, artifact_file, key, step, timestamp, run_id=self._target(run_id))
        self._done(synchronous)

    def log_stream(self, run_id: str, stream: Any, artifact_file: str) -> None:
        artifacts.log_stream(stream, artifact_file, run_id=self._target(run_id))
        self._done(None)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        media.log_table(data, artifact_file, run_id=self._target(run_id))
        self._done(None)

    def load_table(self, experiment_id: str, artifact_file: str, run_ids: Sequence[str] | None = None,
                   extra_columns: Sequence[str] | None = None):  # -> pandas.DataFrame
        return media.tables_of(self._handle.read(), artifact_file, run_ids, extra_columns, str(experiment_id))

    def log_inputs(self, run_id: str, datasets: Sequence[Any] | None = None, models: Any = None) -> None:
        """Record datasets the run read (``DatasetInput`` entities, or data to fingerprint)."""
        from .inputs import log_input

        target = self._target(run_id)
        for dataset in datasets or ():
            log_input(getattr(dataset, "dataset", dataset), context=getattr(dataset, "context", None),
                      run_id=target)
        self._done(None)
