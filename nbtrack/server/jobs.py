"""Notebook jobs started from the sidebar: "Reproduce" and "Run again with parameters"; no tornado.

A job runs :func:`nbtrack.jobs.reproduce` or :func:`nbtrack.jobs.run_notebook`
on the :class:`JobBoard`'s own threads (a kernel runs for seconds to minutes;
the server's event loop never waits for it), recording into the store the
request named. The board keeps each job's state for the status endpoint the
sidebar polls. Everything a job could refuse (an unknown parameter, a value of
the wrong kind, a notebook outside the server root) is checked before it is
queued, so the request answers ``400``/``403`` at once instead of a failed job.

The board lives in the server's settings (one per server), not in a module global.

Example:
    >>> board = JobBoard(workers=1)
    >>> board.get("nope")
    Traceback (most recent call last):
    ...
    nbtrack.server.errors.NotFound: no job 'nope' on this server; it may have been started by another one
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..entities import Run
from ..errors import InvalidInput
from ..render.numbers import format_number
from ..store import queries
from .api import reading
from .errors import BadRequest, Forbidden, NotFound
from .paths import ensure_inside, store_location

JOB_WORKERS = 2
KEEP_JOBS = 200
JOB_SOURCE = "notebook-job"
RERUN_TAG = "nbtrack.job.rerun_of"


@dataclass(frozen=True)
class Job:
    """One job as the status endpoint shows it; ``result`` is set when it ends."""

    job_id: str
    kind: str  # reproduce | run
    store: str
    run_id: str  # the run it started from
    label: str
    state: str = "queued"  # queued | running | finished | failed
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    new_run_id: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "kind": self.kind, "store": self.store, "run_id": self.run_id,
            "label": self.label, "state": self.state, "created": self.created, "started": self.started,
            "ended": self.ended, "new_run_id": self.new_run_id, "result": self.result, "error": self.error,
        }


class JobBoard:
    """The server's jobs: a small thread pool and each job's state (thread-safe)."""

    def __init__(self, workers: int = JOB_WORKERS) -> None:
        self._workers = workers
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, store: str, run_id: str, label: str,
              work: Callable[[], dict[str, Any]]) -> Job:
        """Queue ``work()``; it returns the job's result (its ``new_run_id`` is lifted onto the job)."""
        import time

        job = Job(uuid.uuid4().hex, kind, store, run_id, label, created=time.time())
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    self._workers, thread_name_prefix="nbtrack-job")
            self._jobs[job.job_id] = job
            for old in list(self._jobs)[:-KEEP_JOBS]:
                if self._jobs[old].state in ("finished", "failed"):
                    del self._jobs[old]
            self._executor.submit(self._run, job.job_id, work)
        return job

    def _run(self, job_id: str, work: Callable[[], dict[str, Any]]) -> None:
        import time

        self._update(job_id, state="running", started=time.time())
        try:
            result = work()
        except Exception as exc:  # noqa: BLE001 (a job's failure is its answer, never the server's)
            self._update(job_id, state="failed", ended=time.time(), error=" ".join(str(exc).split())[:2000]
                         or type(exc).__name__)
            return
        self._update(job_id, state="finished", ended=time.time(), result=result,
                     new_run_id=result.get("new_run_id"))

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r} on this server; it may have been started by another one")
        return job

    def list(self, store: str) -> list[Job]:
        """This store's jobs, newest first."""
        with self._lock:
            jobs = [job for job in self._jobs.values() if job.store == store]
        return sorted(jobs, key=lambda job: job.created, reverse=True)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


# --- what a run offers -------------------------------------------------------------------------


def job_options(root: str, store: str, run_id: str) -> dict[str, Any]:
    """Whether ``run_id`` can be reproduced, and the notebook and parameters to run it again with.

    ``rerun`` is null when the run has no notebook under the server root with a ``parameters`` cell.

    Example:
        >>> job_options(root, "", run_id)["rerun"]["parameters"]  # doctest: +SKIP
        {'alpha': '0.5', 'max_features': '3000'}
    """
    with reading(root, store) as st:
        run = queries.get_run(st, run_id)
    reason = None
    try:
        notebook, declared = _notebook_of(root, run)
    except (Forbidden, InvalidInput) as exc:
        notebook, declared, reason = None, {}, str(exc)
    rerun = None
    if notebook is not None:
        values = {name: _form_text(run.data.params.get(name, p.default), p) for name, p in declared.items()}
        rerun = {"notebook": os.path.relpath(notebook, os.path.realpath(root)), "parameters": values}
    return {
        "run_id": run_id,
        "reproduce": run.info.source in ("cell", JOB_SOURCE),
        "rerun": rerun,
        "rerun_unavailable": reason,
        "is_job": run.info.source == JOB_SOURCE,
    }


def start_rerun(board: JobBoard, root: str, store: str, run_id: str, parameters: Any) -> Job:
    """Run the run's notebook again with ``parameters`` (checked now), as a new execution."""
    from ..jobs.execute import run_name_for, run_notebook
    from ..jobs.parameters import check_parameters

    if not isinstance(parameters, dict) or not all(isinstance(k, str) for k in parameters):
        raise BadRequest('body must be {"parameters": {"name": value, ...}}')
    location = store_location(root, store)
    with reading(root, store) as st:
        run = queries.get_run(st, run_id)
        experiment = _experiment_name(st, run)
    notebook, declared = _notebook_of(root, run)
    if notebook is None:
        raise BadRequest(f"run {run_id} has no notebook with a 'parameters' cell to run again; "
                         "tag a cell 'parameters' in its notebook")
    values = {k: _value(v) for k, v in parameters.items()}
    check_parameters(notebook, values, declared)  # a bad name or value: 400 now, not a failed job
    # The label names what differs from the run it started from.
    was = {name: _form_text(run.data.params.get(name, p.default), p) for name, p in declared.items()}
    changed = {k: values[k] for k, v in parameters.items() if str(v) != was.get(k)}
    label = " ".join(f"{k}={parameters[k]}" for k in changed) or "the same parameters"

    def work() -> dict[str, Any]:
        result = run_notebook(notebook, values, location=location, experiment=experiment,
                              declared=declared, tags={RERUN_TAG: run_id},
                              run_name=run_name_for(notebook, changed))
        return {"new_run_id": result.run_id, "status": result.status.value, "error": result.error,
                "metrics_text": {k: format_number(v) for k, v in result.metrics.items()}}

    return board.start("run", store, run_id, f"run again: {label}", work)


def start_reproduce(board: JobBoard, root: str, store: str, run_id: str) -> Job:
    """Reproduce ``run_id`` in a fresh kernel; the result is the verdict and the metric table."""
    from ..jobs.reproduce import reproduce

    location = store_location(root, store)
    with reading(root, store) as st:
        run = queries.get_run(st, run_id)
    if run.info.source == JOB_SOURCE:
        _notebook_of(root, run)  # the notebook must still be under the server root
    elif run.info.source != "cell":
        raise BadRequest(f"run {run_id} was not recorded from a notebook (source {run.info.source!r}); "
                         "only %%track cells and nbtrack run executions can be reproduced")

    def work() -> dict[str, Any]:
        found = reproduce(run_id, location=location)
        return {
            "new_run_id": found.run_id,
            "verdict": found.verdict,
            "matched": found.verdict in ("exact", "reproduced within tolerance"),
            "metrics": [
                {"metric": m.metric, "original": _text(m.original), "reproduced": _text(m.reproduced),
                 "difference": _text(m.difference), "verdict": m.verdict}
                for m in found.metrics
            ],
            "params": [{"param": k, "original": a, "reproduced": b} for k, a, b in found.params],
            "environment": list(found.environment),
            "inputs": list(found.inputs),
            "error": found.error,
        }

    return board.start("reproduce", store, run_id, f"reproduce {run.info.run_name}", work)


def _notebook_of(root: str, run: Run) -> tuple[Path | None, dict[str, Any]]:
    """The run's notebook (its job's, else the one its cell ran in) and its declared parameters;
    ``(None, {})`` without one. A notebook outside the server root is refused (403)."""
    from ..jobs.parameters import notebook_parameters

    path = run.data.tags.get("nbtrack.job.notebook") or run.info.notebook_path
    if not path:
        return None, {}
    root_real = Path(os.path.realpath(root))
    candidate = Path(path) if os.path.isabs(path) else root_real / path
    ensure_inside(candidate, root_real, "the run's notebook is outside the server root")
    notebook = Path(os.path.realpath(candidate))
    if not notebook.is_file():
        raise InvalidInput(f"the run's notebook {path} is gone; restore it to run it again")
    declared = notebook_parameters(notebook)
    if declared is None:
        return None, {}
    return notebook, declared


def _experiment_name(st: Any, run: Run) -> str | None:
    for experiment in queries.list_experiments(st):
        if experiment.experiment_id == run.info.experiment_id:
            return experiment.name
    return None


def _form_text(text: str, parameter: Any) -> str:
    """A parameter's value as the form shows it and ``nbtrack run -p`` would read it back: a
    default is source text (``'bow'``), which reads back as the string ``bow``."""
    if text != parameter.default:
        return text
    value = parameter.default_value
    return value if isinstance(value, str) else text


def _value(value: Any) -> Any:
    """A form field's text as the value papermill injects: ``0.5`` a float, ``'bow'`` a string."""
    if isinstance(value, str):
        from ..jobs.parameters import cli_value

        return cli_value(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    raise BadRequest(f"parameter values are text or numbers; got {json.dumps(value)[:60]}")


def _text(value: float | None) -> str | None:
    return None if value is None else format_number(value)


__all__ = ["Job", "JobBoard", "job_options", "start_reproduce", "start_rerun"]
