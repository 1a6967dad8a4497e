"""``nbtrack.run_notebook`` / ``nbtrack run``: execute a notebook with parameters, as one run.

papermill does the execution (parameter injection, per-cell metadata, the
executed notebook with its error cell); nbtrack wraps it in a parent run: the
parameters as params, the executed notebook as an artifact, status and duration.
The kernel records into the same store with ``NBTRACK_PARENT_RUN_ID`` set, so every
``%%track`` cell in the notebook becomes a child run as it would in JupyterLab. When
the execution ends, the last value of each metric its children logged is copied
onto it, so executions compare by their results (a sweep sorts by them).

A failing cell ends the execution FAILED with the cell named (its position in the
notebook, its execution count, its first line) and the error; the child runs already
recorded stay.

Example:
    >>> result = run_notebook("notebooks/03-parameterized.ipynb", {"alpha": 0.1})  # doctest: +SKIP
    >>> result.status, result.metrics["score"]  # doctest: +SKIP
    (<RunStatus.FINISHED: 'FINISHED'>, 0.78)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..entities import RunError, RunStatus
from ..errors import InvalidInput
from ..paths import DATABASE_NAME, StoreLocation
from ..store import commands
from ..store.database import now_ms
from ..store.writer import new_run_command
from .parameters import NotebookParameter, check_parameters, notebook_parameters

JOB_SOURCE = "notebook-job"
EXECUTED_ARTIFACT_DIR = "executed"


@dataclass(frozen=True)
class NotebookRun:
    """The outcome of one execution: its run, status, the executed notebook, the metrics."""

    run_id: str
    status: RunStatus
    parameters: Mapping[str, Any]
    duration_s: float
    output_path: str | None = None
    error: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        tail = f" error={self.error!r}" if self.error else ""
        return f"<NotebookRun {self.run_id[:8]} {self.status.value} ({shown}) {self.duration_s:.1f}s{tail}>"


class CellFailed(InvalidInput):
    """Raised by ``run_notebook(..., raise_on_error=True)`` when a cell fails."""


def location_uri(location: StoreLocation) -> str:
    """A string that ``NBTRACK_HOME`` resolves back to ``location`` in another process."""
    database = location.database
    if database.name == DATABASE_NAME and location.artifacts == database.parent / "artifacts":
        return str(database.parent)
    return location.uri


def kernel_name_for(path: str | Path, kernel_name: str | None) -> str:
    if kernel_name:
        return kernel_name
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    return nb.metadata.get("kernelspec", {}).get("name") or "python3"


def run_name_for(path: str | Path, parameters: Mapping[str, Any]) -> str:
    shown = " ".join(f"{k}={v}" for k, v in parameters.items())
    return f"{Path(path).stem} {shown}".strip()[:250]


def run_notebook(
    path: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    output: str | os.PathLike[str] | None = None,
    *,
    kernel_name: str | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    timeout: float | None = None,
    start_timeout: float = 60,
    cwd: str | os.PathLike[str] | None = None,
    location: StoreLocation | None = None,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    raise_on_error: bool = False,
    declared: Mapping[str, NotebookParameter] | None = None,
) -> NotebookRun:
    """Execute the notebook at ``path`` with ``parameters`` (papermill's convention), as one run.

    Unknown names, values of the wrong kind, a notebook without a ``parameters`` cell
    (when parameters are given) and a missing kernel are refused before anything runs.
    ``output`` keeps the executed notebook there too (it is always stored as an artifact).
    ``raise_on_error=True`` raises ``CellFailed`` after recording a failed execution.

    Example:
        >>> nbtrack.run_notebook("train.ipynb", {"alpha": 0.5}, "out.ipynb")  # doctest: +SKIP
        <NotebookRun 3f2a9c1e FINISHED (alpha=0.5) 2.3s>
    """
    from ..tracking import fluent
    from .kernel import check_kernel, job_kernel_manager, shutdown

    notebook = Path(path).expanduser().absolute()
    if not notebook.is_file():
        raise InvalidInput(f"no notebook at {notebook}; pass the path of an .ipynb file")
    values = dict(parameters or {})
    declared = notebook_parameters(notebook) if declared is None else declared
    checked = check_parameters(notebook, values, declared)
    kernel = kernel_name_for(notebook, kernel_name)
    check_kernel(kernel)
    if output is not None:  # papermill formats the path with the parameters: -o out-{alpha}.ipynb
        try:
            output = str(output).format(**checked)
        except (KeyError, IndexError) as exc:
            raise InvalidInput(f"-o {output}: {exc} is not a parameter given; name one with -p, or "
                               "double the braces ({{ }}) for literal ones") from None

    handle = fluent.store_handle(location)
    if parent_run_id is None and location is None and fluent.active_run() is not None:
        parent_run_id = fluent.active_run().run_id  # run inside a run: the execution is its child
    experiment_id = fluent.experiment_id_for(experiment or fluent.current_experiment_name(), handle)
    effective = {name: p.default for name, p in (declared or {}).items()}
    effective.update({k: _text(v) for k, v in checked.items()})
    job_tags = {
        "mlflow.source.type": "JOB",
        "mlflow.source.name": str(notebook),
        "nbtrack.job.notebook": str(notebook),
        "nbtrack.job.parameters": json.dumps(checked, default=repr, sort_keys=False),
        "nbtrack.job.kernel": kernel,
        **({"nbtrack.job.output": str(Path(output).absolute())} if output else {}),
        **dict(tags or {}),
    }
    command = new_run_command(experiment_id, run_name=run_name or run_name_for(notebook, checked),
                              tags=job_tags, parent_run_id=parent_run_id, source=JOB_SOURCE,
                              notebook_path=str(notebook))
    if run_id is not None:
        command = replace(command, run_id=run_id)
    created = handle.execute(command)
    if effective:
        handle.execute(commands.SetParams(created.pk, {k: v[:6000] for k, v in effective.items()}))

    scratch = tempfile.mkdtemp(prefix="nbtrack-job-")
    target = Path(output).absolute() if output else Path(scratch) / f"{notebook.stem}.executed.ipynb"
    env = {"NBTRACK_HOME": location_uri(handle.location), "NBTRACK_PARENT_RUN_ID": created.run_id,
           "JPY_SESSION_NAME": str(notebook)}
    kernels: list[Any] = []
    status: RunStatus = RunStatus.FINISHED
    error: RunError | None = None
    message: str | None = None
    try:
        for attempt in (1, 2):
            km = job_kernel_manager(kernel, env, os.path.join(scratch, f"kernel-{attempt}"))
            kernels.append(km)
            try:
                _papermill(notebook, target, checked, kernel, km, timeout, start_timeout,
                           Path(cwd).absolute() if cwd else notebook.parent)
                break
            except RuntimeError as exc:
                # A kernel that does not start on a loaded machine (papermill#239) is retried
                # once; it is not the notebook's failure.
                if attempt == 2 or not _startup_failure(exc):
                    raise
                shutdown(km)
    except KeyboardInterrupt:
        for km in kernels:
            shutdown(km)  # first, so the kernel flushes what its cells recorded
        _finish(handle, created, RunStatus.KILLED,
                RunError("KeyboardInterrupt", "interrupted by Ctrl-C", None), target, notebook)
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    except Exception as exc:
        status, error = _failure(exc, notebook, start_timeout)
        log = kernels[-1].log_tail() if kernels else ""
        if error.type in ("DeadKernelError", "KernelStartFailed") and log:
            error = RunError(error.type, error.message, "the kernel's log:\n" + log)
        message = error.message
    finally:
        for km in kernels:
            shutdown(km)
    metrics = _finish(handle, created, status, error, target, notebook)
    shutil.rmtree(scratch, ignore_errors=True)
    end = now_ms()
    result = NotebookRun(created.run_id, status, checked, (end - created.start_time) / 1000,
                         str(target) if output else None, message, metrics)
    if raise_on_error and status is not RunStatus.FINISHED:
        raise CellFailed(f"run {created.run_id}: {message}")
    return result


def _papermill(notebook: Path, target: Path, parameters: Mapping[str, Any], kernel: str, km: Any,
               timeout: float | None, start_timeout: float, cwd: Path) -> None:
    import logging

    import papermill

    logging.getLogger("papermill").setLevel(logging.ERROR)  # its warnings become our one-line errors
    target.parent.mkdir(parents=True, exist_ok=True)
    def literal(path: Path) -> str:  # papermill str.format()s its paths; ours are final already
        return str(path).replace("{", "{{").replace("}", "}}")

    papermill.execute_notebook(
        literal(notebook), literal(target), parameters=dict(parameters), kernel_name=kernel, km=km,
        progress_bar=False, request_save_on_cell_execute=False, start_timeout=int(start_timeout),
        execution_timeout=timeout, cwd=str(cwd),
    )


def _startup_failure(exc: BaseException) -> bool:
    text = str(exc)
    return "didn't respond" in text or "died before replying to kernel_info" in text


def _failure(exc: BaseException, notebook: Path, start_timeout: float = 60) -> tuple[RunStatus, RunError]:
    """The status and the error a failed execution keeps, naming the cell."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, RuntimeError) and _startup_failure(exc):
        return RunStatus.FAILED, RunError("KernelStartFailed", (
            f"the kernel did not start within {start_timeout:g} s, twice ({exc}): the machine may be "
            "overloaded; pass --start-timeout SECONDS or run fewer --workers"), None)

    if isinstance(exc, PapermillExecutionError):
        first = next((line for line in (exc.source or "").splitlines() if line.strip()), "")
        where = f"cell {exc.cell_index} (In [{exc.exec_count}], `{first[:60]}`)"
        message = f"{where} raised {exc.ename}: {exc.evalue}"
        status = RunStatus.KILLED if exc.ename == "KeyboardInterrupt" else RunStatus.FAILED
        return status, RunError(exc.ename, message, "\n".join(exc.traceback or ()))
    name = type(exc).__name__
    if name == "DeadKernelError":
        return RunStatus.FAILED, RunError(name, f"the kernel died while running {notebook.name}: {exc}", None)
    return RunStatus.FAILED, RunError(name, f"{name}: {exc}", None)


def _finish(handle: Any, created: Any, status: RunStatus, error: RunError | None, target: Path,
            notebook: Path) -> dict[str, float]:
    """Store the executed notebook, copy the children's last metrics up, end the run."""
    from ..store.jobs import child_runs

    if target.is_file():
        digest, size = handle.put_file(target)
        handle.execute(commands.RecordArtifacts(created.pk, (commands.ArtifactEntry(
            f"{EXECUTED_ARTIFACT_DIR}/{notebook.name}", digest, size),), now_ms()))
    metrics: dict[str, float] = {}
    try:
        for child in child_runs(handle.read(), created.run_id):
            metrics.update(child.data.metrics)
    except Exception:
        pass
    if metrics:
        seconds = now_ms() / 1000
        handle.execute(commands.LogMetrics(
            [(created.pk, key, value, 0, seconds) for key, value in metrics.items()]))
    handle.execute(commands.EndRun(created.run_id, status, now_ms(), error))
    return metrics


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
