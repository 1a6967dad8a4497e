"""One adapter per tracker, so a benchmark is written once for all of them.

Each adapter drives its library through the public API a user would call
(MLflow's fluent names for nbtrack and MLflow, ``trackio.init/log/finish`` for
trackio). Only the store checks (``count_points``, the visibility probe) read
the SQLite file directly, through each project's documented table: they ask
"is it on disk?", which no public API answers without its own overhead.

Libraries are imported in ``open``, never at module import, so a worker for
one engine never imports another (the peers live in their own venv).
"""

from __future__ import annotations

import importlib.metadata
import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROBE_KEY = "vis_probe"


class Engine:
    """The operations the benchmarks need; subclasses map them to one library."""

    name = ""
    module = ""
    # SQL that counts stored points of metric {key}, and the probe's points (PROBE_KEY).
    count_sql = ""
    probe_sql = ""

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.module)
        except importlib.metadata.PackageNotFoundError:
            mod = importlib.import_module(self.module)
            return str(getattr(mod, "__version__", "working tree"))

    def open(self, store: Path, experiment: str = "bench") -> None:
        raise NotImplementedError

    @property
    def db_path(self) -> Path:
        raise NotImplementedError

    def start_run(self, name: str, params: dict[str, Any] | None = None) -> None:
        raise NotImplementedError

    def log_metric_fn(self) -> Callable[..., Any]:
        """The per-point call exactly as a user writes it: ``f(key, value, step=i)``."""
        raise NotImplementedError

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        raise NotImplementedError

    def log_points(self, key: str, n: int) -> None:
        """Log ``n`` points of one metric the way this library documents for many points."""
        log = self.log_metric_fn()
        for i in range(n):
            log(key, i * 0.001, step=i)

    def make_durable(self) -> None:
        """Return once everything logged so far is committed (the run may stay open)."""

    def end_run(self) -> None:
        raise NotImplementedError

    def search_runs(self) -> Any:
        raise NotImplementedError

    def count_points(self, sql: str) -> int:
        if not self.db_path.exists():
            return 0
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # table not created yet
            return 0
        finally:
            conn.close()


def _sqlite_copy(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


class FluentEngine(Engine):
    """An engine whose module speaks MLflow's fluent API (``self.m``): nbtrack and MLflow.

    The same calls drive both, which is the point of nbtrack keeping MLflow's names.
    """

    m: Any
    experiment: str

    def start_run(self, name: str, params: dict[str, Any] | None = None) -> None:
        self.m.start_run(run_name=name)
        if params:
            self.m.log_params(params)

    def log_metric_fn(self) -> Callable[..., Any]:
        return self.m.log_metric

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.m.log_metrics(metrics, step=step)

    def end_run(self) -> None:
        self.m.end_run()

    def search_runs(self) -> Any:
        return self.m.search_runs(experiment_names=[self.experiment])


class NbtrackEngine(FluentEngine):
    """nbtrack's fluent API; the store is ``<dir>/nbtrack.db`` (schema: docs/schema.md)."""

    name = module = "nbtrack"
    # Points are stored as blocks (one row per flushed batch and series); count sums them.
    count_sql = "SELECT coalesce(sum(count), 0) FROM metric_blocks WHERE key = '{key}'"
    probe_sql = f"SELECT coalesce(sum(count), 0) FROM metric_blocks WHERE key = '{PROBE_KEY}'"

    def open(self, store: Path, experiment: str = "bench") -> None:
        import nbtrack

        self.m = nbtrack
        self.store = store
        self.experiment = experiment
        nbtrack.set_tracking_uri(str(store))
        nbtrack.set_experiment(experiment)

    @property
    def db_path(self) -> Path:
        return self.store / "nbtrack.db"


    def make_durable(self) -> None:
        self.m.flush()



class MlflowEngine(FluentEngine):
    """MLflow's fluent API on its SQLite backend (the default local store since 3.7)."""

    name = module = "mlflow"
    count_sql = "SELECT count(*) FROM metrics WHERE key = '{key}'"
    probe_sql = f"SELECT count(*) FROM metrics WHERE key = '{PROBE_KEY}'"

    def open(self, store: Path, experiment: str = "bench") -> None:
        import mlflow

        self.m = mlflow
        self.store = store
        self.experiment = experiment
        # Creating an MLflow SQLite store runs its alembic migrations (seconds on a busy
        # machine). Set-up is never timed, but it dominates a run of many short jobs, so the
        # first job of a run saves its empty, migrated store and later jobs start from a copy.
        template = Path(os.environ.get("NBTRACK_BENCH_MLFLOW_TEMPLATE", store / "template.db"))
        if template.exists():
            _sqlite_copy(template, self.db_path)
        mlflow.set_tracking_uri(f"sqlite:///{self.db_path}")
        if not template.exists():
            mlflow.search_experiments()  # creates and migrates the store
            _sqlite_copy(self.db_path, template)
        # An explicit artifact root keeps MLflow from creating ./mlruns in the cwd.
        mlflow.create_experiment(experiment, artifact_location=(store / "artifacts").as_uri())
        mlflow.set_experiment(experiment)

    @property
    def db_path(self) -> Path:
        return self.store / "mlflow.db"


    def log_points(self, key: str, n: int, chunk: int = 1000) -> None:
        # MLflow's documented path for many points: log_batch, at most 1000 metrics a call.
        import time

        from mlflow.entities import Metric

        client = self.m.MlflowClient()
        run_id = self.m.active_run().info.run_id
        now = int(time.time() * 1000)
        for start in range(0, n, chunk):
            batch = [Metric(key, i * 0.001, now, i) for i in range(start, min(n, start + chunk))]
            client.log_batch(run_id, metrics=batch)



class TrackioEngine(Engine):
    """trackio in local mode: TRACKIO_DIR (read at import) is set by run.py; one project per job."""

    name = module = "trackio"
    # `metrics` is a JSON blob, one row per log() call: LIKE needs it cast to text.
    count_sql = "SELECT count(*) FROM metrics WHERE CAST(metrics AS TEXT) LIKE '%\"{key}\"%'"
    probe_sql = f"SELECT count(*) FROM metrics WHERE CAST(metrics AS TEXT) LIKE '%{PROBE_KEY}%'"

    def open(self, store: Path, experiment: str = "bench") -> None:
        import trackio
        from trackio.sqlite_storage import SQLiteStorage

        self.m = trackio
        self.storage = SQLiteStorage
        # TRACKIO_DIR is fixed when trackio is imported, so a fresh store is a fresh project
        # (trackio keeps one SQLite file per project).
        self.project = f"{experiment}-{uuid.uuid4().hex[:12]}"
        self._run = None

    @property
    def db_path(self) -> Path:
        return Path(self.storage.get_project_db_path(self.project))

    def start_run(self, name: str, params: dict[str, Any] | None = None) -> None:
        # trackio takes params only at init, as `config`.
        self._run = self.m.init(
            project=self.project,
            name=name,
            config=params,
            embed=False,
            auto_log_gpu=False,
            auto_log_cpu=False,
        )

    def log_metric_fn(self) -> Callable[..., Any]:
        log = self.m.log

        def log_metric(key: str, value: float, step: int | None = None) -> None:
            log({key: value}, step=step)

        return log_metric

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.m.log(metrics, step=step)

    def make_durable(self) -> None:
        # trackio has no flush: finish() is the call that waits for its background writer.
        if self._run is not None:
            self.m.finish()
            self._run = None

    def end_run(self) -> None:
        if self._run is not None:
            self.m.finish()
            self._run = None

    def search_runs(self) -> Any:
        # trackio has no search_runs; its public read API lists runs and each run's config.
        import pandas as pd

        rows = []
        for run in self.m.Api().runs(self.project):
            config = run.config or {}
            rows.append({"run_name": run.name, **{f"params.{k}": v for k, v in config.items()}})
        return pd.DataFrame(rows)


ENGINE_CLASSES: dict[str, type[Engine]] = {
    "nbtrack": NbtrackEngine,
    "mlflow": MlflowEngine,
    "trackio": TrackioEngine,
}


def make_engine(name: str) -> Engine:
    return ENGINE_CLASSES[name]()
