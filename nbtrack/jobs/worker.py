"""One sweep execution wherever an executor runs it: into a store of its own, sent back whole.

On a cluster the user's store is not on the worker's disk, and many processes
writing one SQLite file is a known failure ("database is locked", migration
races). So a worker records into a fresh store in a temp folder and returns a
``RunBundle`` (its runs, artifacts included); the driver merges it into the
user's store. The local process pool goes the same way, so one path is tested.
The notebook travels as text, so the worker need not see the driver's disk.

Example:
    >>> result = execute_trial(TrialSpec(...))  # doctest: +SKIP
    >>> result.status, len(result.bundle.records)  # doctest: +SKIP
    ('FINISHED', 2)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.transfer import RunBundle


@dataclass(frozen=True)
class TrialSpec:
    """What a worker needs to run one execution (picklable)."""

    notebook_path: str
    notebook_text: str
    parameters: Mapping[str, Any]
    run_id: str
    sweep_run_id: str
    experiment: str
    tags: Mapping[str, str] = field(default_factory=dict)
    kernel_name: str | None = None
    timeout: float | None = None
    run_name: str | None = None
    start_timeout: float = 60


class TrialInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped an execution; carries what it recorded until then (its cells' runs).

    A KeyboardInterrupt still, so every ``except KeyboardInterrupt`` on the way treats it
    as one; it pickles back from a pool worker with its bundle (``args``).
    """

    def __init__(self, bundle: RunBundle) -> None:
        super().__init__(bundle)
        self.bundle = bundle


@dataclass(frozen=True)
class TrialResult:
    run_id: str
    status: str
    error: str | None
    metrics: Mapping[str, float]
    bundle: RunBundle


def execute_trial(spec: TrialSpec) -> TrialResult:
    """Run one execution into a temp store and return its runs as a bundle."""
    from ..paths import resolve_location
    from ..state import STATE
    from ..store.transfer import export_bundle
    from ..tracking import fluent
    from .execute import run_notebook

    scratch = tempfile.mkdtemp(prefix="nbtrack-trial-")
    notebook = Path(spec.notebook_path)
    cwd = notebook.parent if notebook.parent.is_dir() else Path(scratch)
    if not notebook.is_file():  # another machine: run the copy that travelled with the spec
        notebook = Path(scratch) / notebook.name
        notebook.write_text(spec.notebook_text)
    location = resolve_location(os.path.join(scratch, "store"))
    handle = fluent.store_handle(location)
    try:
        outcome = run_notebook(
            notebook, spec.parameters, kernel_name=spec.kernel_name, experiment=spec.experiment,
            run_name=spec.run_name, tags=spec.tags, timeout=spec.timeout, start_timeout=spec.start_timeout,
            cwd=cwd, location=location,
            run_id=spec.run_id, parent_run_id=spec.sweep_run_id)
    except KeyboardInterrupt:
        # run_notebook ended the execution KILLED after its kernel flushed: what the cells
        # finished recording goes back with the interrupt instead of into the temp folder's bin.
        raise TrialInterrupted(export_bundle(handle)) from None
    else:
        bundle = export_bundle(handle)
        return TrialResult(outcome.run_id, outcome.status.value, outcome.error, dict(outcome.metrics), bundle)
    finally:
        handle.close()
        STATE.stores.pop(location.database, None)
        shutil.rmtree(scratch, ignore_errors=True)
