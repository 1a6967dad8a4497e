"""Value objects that cross nbtrack's layers: frozen dataclasses, no I/O.

The names follow MLflow's entities (``Run``, ``RunInfo``, ``RunData``,
``Metric``, ``Param``, ``Experiment``) so code written against MLflow reads
the same; nbtrack adds what a notebook run knows (cell id, notebook path,
code, the error that ended it, lineage) to ``RunInfo``.

Example:
    >>> RunStatus("FINISHED").is_terminal
    True
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Mapping


class RunStatus(str, enum.Enum):
    """How a run stands. ``CRASHED`` marks a run whose process died while it was open."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    CRASHED = "CRASHED"

    @property
    def is_terminal(self) -> bool:
        return self not in (RunStatus.RUNNING, RunStatus.SCHEDULED)

    def __str__(self) -> str:  # so f-strings and tables show "FINISHED", not "RunStatus.FINISHED"
        return self.value


class LifecycleStage(str, enum.Enum):
    ACTIVE = "active"
    DELETED = "deleted"

    def __str__(self) -> str:
        return self.value


class ViewType(str, enum.Enum):
    """Which runs a search sees, as MLflow's ``ViewType``."""

    ACTIVE_ONLY = "ACTIVE_ONLY"
    DELETED_ONLY = "DELETED_ONLY"
    ALL = "ALL"


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str = LifecycleStage.ACTIVE.value
    creation_time: int | None = None
    last_update_time: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    artifact_location: str | None = None  # an absolute path; runs' artifact_uri lives under it


@dataclass(frozen=True)
class Metric:
    """One logged point. ``timestamp`` is milliseconds since the epoch, as in MLflow."""

    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(frozen=True)
class MetricSummary:
    """Per-run aggregate of one metric key, kept up to date as points are flushed."""

    key: str
    last: float
    last_step: int
    last_timestamp: int
    min: float
    max: float
    count: int


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True)
class DatasetInput:
    """A fingerprint of data a run read (see ``nbtrack.tracking.inputs``)."""

    name: str
    digest: str
    source: str
    source_type: str
    context: str | None = None
    shape: tuple[int, ...] | None = None
    schema: Mapping[str, str] | None = None  # column -> dtype
    profile: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FileInfo:
    """An artifact entry, as MLflow's ``FileInfo``: a directory has ``is_dir`` and no size."""

    path: str
    is_dir: bool
    file_size: int | None = None
    digest: str | None = None


@dataclass(frozen=True)
class RunError:
    """Why a run ended FAILED or KILLED."""

    type: str
    message: str
    traceback: str | None = None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str
    user_id: str | None = None
    parent_run_id: str | None = None
    # What a notebook run knows that an MLflow run does not.
    notebook_path: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    previous_run_id: str | None = None
    source: str | None = None  # "cell", "api", "notebook-job", ...
    code: str | None = None
    error: RunError | None = None
    host: str | None = None
    pid: int | None = None

    @property
    def run_uuid(self) -> str:  # MLflow's older name
        return self.run_id

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else self.end_time - self.start_time


@dataclass(frozen=True)
class RunData:
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)  # last value per key, as MLflow
    tags: Mapping[str, str] = field(default_factory=dict)
    metric_summaries: Mapping[str, MetricSummary] = field(default_factory=dict)


@dataclass(frozen=True)
class RunInputs:
    dataset_inputs: tuple[DatasetInput, ...] = ()


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData = field(default_factory=RunData)
    inputs: RunInputs = field(default_factory=RunInputs)

    def __repr__(self) -> str:
        info = self.info
        return (
            f"<Run {info.run_name!r} id={info.run_id[:8]} status={info.status.value} "
            f"params={len(self.data.params)} metrics={len(self.data.metrics)}>"
        )


class PagedList(list):
    """A page of search results, as MLflow's: a list, plus ``token`` for the next page
    (None on the last one).

    Example:
        >>> PagedList([1, 2], "2").token
        '2'
    """

    def __init__(self, items: Any = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


def is_nan(value: float) -> bool:
    """True for NaN; SQLite stores NaN as NULL, so readers map NULL back through this."""
    return isinstance(value, float) and math.isnan(value)


def __getattr__(name: str) -> Any:
    """``ModelVersion`` and ``RegisteredModel`` (MLflow's ``mlflow.entities.model_registry``)
    are defined with the registry's reads; reached here too, on first use."""
    if name in ("ModelVersion", "RegisteredModel"):
        from .store import registry_queries

        return getattr(registry_queries, name)
    raise AttributeError(f"module 'nbtrack.entities' has no attribute {name!r}")
