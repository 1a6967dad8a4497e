"""Typed write commands: the only way code outside ``store/`` changes a store.

A command is a frozen dataclass that says what to write; a handler, registered
here with ``@handles``, says how (the SQL). Callers either queue a command
behind their run's logged points (``StoreHandle.submit``: applied by the write
queue in batched transactions) or execute it now when they need its result
(``StoreHandle.execute``: a new run's id, an experiment's id). Values are
checked where the user passes them (``nbtrack.validation``); a command that
still cannot be applied is isolated by the queue and never blocks the others.

Adding a capability (the model registry, job records, an MLflow import) means
adding its commands and handlers in a module of ``store/`` and importing that
module at the bottom of this one, so every command type has a handler before
the first write.

Example:
    >>> command = SetTags(run=1, tags={"team": "nlp"})
    >>> command.describe()
    'tags of run #1 (team)'
    >>> type(command) in HANDLERS
    True
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from ..entities import DatasetInput, RunError, RunStatus

Handler = Callable[[sqlite3.Connection, Any], Any]
HANDLERS: dict[type, Handler] = {}
C = TypeVar("C", bound="WriteCommand")


def handles(command_type: type[C]) -> Callable[[Callable[[sqlite3.Connection, C], Any]], Callable[[sqlite3.Connection, C], Any]]:
    """Register the function that applies ``command_type`` inside a write transaction."""

    def register(function: Callable[[sqlite3.Connection, C], Any]) -> Callable[[sqlite3.Connection, C], Any]:
        if command_type in HANDLERS:
            raise RuntimeError(f"{command_type.__name__} has a handler already")
        HANDLERS[command_type] = function
        return function

    return register


def apply(conn: sqlite3.Connection, command: WriteCommand) -> Any:
    """Apply one command on ``conn`` (inside the caller's transaction); returns its result."""
    return HANDLERS[type(command)](conn, command)


@dataclass(frozen=True)
class WriteCommand:
    """Base of every write. ``describe()`` names what it touches, for the one warning a
    failure gives (which run, which keys)."""

    def describe(self) -> str:
        return type(self).__name__


# --- runs and experiments ----------------------------------------------------------------


@dataclass(frozen=True)
class GetOrCreateExperiment(WriteCommand):
    """The experiment called ``name`` (created if new); the result is its id as a string."""

    name: str

    def describe(self) -> str:
        return f"experiment {self.name!r}"


@dataclass(frozen=True)
class CreateRun(WriteCommand):
    """Insert a RUNNING run; the result is a ``writer.CreatedRun``."""

    experiment_id: str
    run_id: str
    run_name: str
    start_time: int
    user_id: str | None
    host: str
    pid: int
    tags: Mapping[str, str] = field(default_factory=dict)
    parent_run_id: str | None = None
    source: str = "api"
    notebook_path: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    code: str | None = None
    # When set, the run goes into the experiment of this name, created if new, in the same
    # transaction (start_run's one write instead of two); experiment_id is then ignored.
    experiment_name: str | None = None

    def describe(self) -> str:
        return f"new run {self.run_name!r}"


@dataclass(frozen=True)
class ReopenRun(WriteCommand):
    """Mark a finished run RUNNING again, owned by this process (``start_run(run_id=...)``)."""

    run_id: str
    host: str
    pid: int
    time: int

    def describe(self) -> str:
        return f"reopening run {self.run_id}"


@dataclass(frozen=True)
class EndRun(WriteCommand):
    """Close a run with a terminal status and the error that ended it, if any."""

    run_id: str
    status: RunStatus
    end_time: int
    error: RunError | None = None

    def describe(self) -> str:
        return f"end of run {self.run_id} ({self.status.value})"


@dataclass(frozen=True)
class SetLifecycle(WriteCommand):
    """Delete (hide) or restore a run; raises ``RunNotFound`` for an unknown id."""

    run_id: str
    stage: str  # 'active' or 'deleted'
    time: int

    def describe(self) -> str:
        return f"{self.stage} mark of run {self.run_id}"


@dataclass(frozen=True)
class RenameRun(WriteCommand):
    """Give a run a new name (``MlflowClient.update_run(name=...)``); its ``mlflow.runName``
    tag follows."""

    run_id: str
    name: str

    def describe(self) -> str:
        return f"rename of run {self.run_id} to {self.name!r}"


@dataclass(frozen=True)
class Heartbeat(WriteCommand):
    """Mark open runs as owned by a live process (crash detection on shared disks)."""

    run_ids: tuple[str, ...]
    time: int


@dataclass(frozen=True)
class MarkCrashed(WriteCommand):
    """Close runs whose process is gone (``writer.crashed_runs`` decides which)."""

    run_ids: tuple[str, ...]


# --- what a run holds ----------------------------------------------------------------------


MetricRow = tuple[int, str, float, int, float]  # (run pk, key, value, step, time.time() seconds)


@dataclass(frozen=True)
class LogMetrics(WriteCommand):
    """A batch of metric points; the write queue makes these from its in-memory rows."""

    rows: Sequence[MetricRow]

    def describe(self) -> str:
        runs = sorted({row[0] for row in self.rows})
        keys = sorted({row[1] for row in self.rows})
        return (f"{len(self.rows)} metric point(s) of run #{', #'.join(map(str, runs[:3]))} "
                f"({', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''})")


@dataclass(frozen=True)
class SetParams(WriteCommand):
    """Record params; a different value for a stored key is refused (params never change)."""

    run: int
    params: Mapping[str, str]

    def describe(self) -> str:
        return f"params of run #{self.run} ({', '.join(list(self.params)[:5])})"


@dataclass(frozen=True)
class SetTags(WriteCommand):
    run: int
    tags: Mapping[str, str]

    def describe(self) -> str:
        return f"tags of run #{self.run} ({', '.join(list(self.tags)[:5])})"


@dataclass(frozen=True)
class DeleteTag(WriteCommand):
    run: int
    key: str

    def describe(self) -> str:
        return f"tag {self.key!r} of run #{self.run}"


class ArtifactEntry(NamedTuple):
    """One artifact of a run: its path inside the run and the blob that holds its bytes."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class RecordArtifacts(WriteCommand):
    """Point a run's artifact paths at blobs already on disk."""

    run: int
    entries: tuple[ArtifactEntry, ...]
    time: int

    def describe(self) -> str:
        return f"artifacts of run #{self.run} ({', '.join(e.path for e in self.entries[:3])})"


@dataclass(frozen=True)
class RecordInput(WriteCommand):
    """A dataset the run read (``log_input``, or a fingerprint ``%%track`` took)."""

    run: int
    dataset: DatasetInput

    def describe(self) -> str:
        return f"input {self.dataset.name!r} of run #{self.run}"


# --- maintenance -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeRuns(WriteCommand):
    """Remove runs (and every row that belongs to them) for good: ``nbtrack gc``."""

    runs: tuple[int, ...]


@dataclass(frozen=True)
class ForgetBlobs(WriteCommand):
    """Drop ``blobs`` rows whose files ``nbtrack gc`` removed."""

    digests: tuple[str, ...]
