"""The notebooks-as-jobs suite: ``nbtrack run`` against plain papermill, sweep parallelism, reproduce.

nbtrack only (the peers have no notebook runner). Every number is a ratio or an
overhead measured side by side in one worker, on ``notebooks/03-parameterized.ipynb``:

- ``run_overhead``: ``nbtrack.run_notebook`` against ``papermill.execute_notebook``
  on the same notebook and parameters, alternating; the target is at most 10% over
  papermill plus one kernel start (the kernel start is measured too);
- ``sweep_workers``: a sweep of N executions with 2 workers against the same sweep
  with 1 (wall time ratio; below 1 means the pool pays for itself);
- ``reproduce``: ``nbtrack.reproduce`` of the notebook's ``%%track`` run against
  executing the notebook from scratch with papermill.

The kernels record into the job's fresh store (``NBTRACK_HOME``), plain papermill's too,
so both sides run the same ``%%track`` cell.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.registry import Context, Result, benchmark

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "03-parameterized.ipynb"


def _setup(ctx: Context) -> None:
    import logging

    import nbtrack

    os.environ["NBTRACK_HOME"] = str(ctx.store)
    nbtrack.set_tracking_uri(str(ctx.store))
    logging.getLogger("papermill").setLevel(logging.ERROR)
    logging.getLogger("traitlets").setLevel(logging.ERROR)


def _papermill(out: Path, alpha: float) -> float:
    import papermill

    start = time.perf_counter()
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"alpha": alpha}, progress_bar=False,
                               cwd=str(NOTEBOOK.parent))
    return time.perf_counter() - start


def _kernel_start() -> float:
    from jupyter_client.manager import start_new_kernel

    start = time.perf_counter()
    km, kc = start_new_kernel(kernel_name="python3")
    elapsed = time.perf_counter() - start
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return elapsed


@benchmark("jobs", "run_overhead", title="nbtrack run over plain papermill, same notebook ({pairs} pairs)",
           unit="ms", full={"pairs": 5}, quick={"pairs": 1}, engines=("nbtrack",),
           target="≤ 10% of papermill + one kernel start", ratios=False, repeats_inside=True,
           needs_engine=False)
def run_overhead(engine: Any, ctx: Context) -> Result:
    """Median (nbtrack run - papermill) over alternating pairs, after one warm-up of each."""
    import nbtrack

    _setup(ctx)
    out = ctx.store / "plain.ipynb"
    _papermill(out, 0.5)
    nbtrack.run_notebook(NOTEBOOK, {"alpha": 0.5})
    ours, plain = [], []
    for pair in range(ctx.params["pairs"]):
        alpha = 0.1 * (pair + 1)
        plain.append(_papermill(out, alpha))
        start = time.perf_counter()
        nbtrack.run_notebook(NOTEBOOK, {"alpha": alpha})
        ours.append(time.perf_counter() - start)
    kernel = statistics.median(_kernel_start() for _ in range(3))
    base, mine = statistics.median(plain), statistics.median(ours)
    budget = 0.1 * base + kernel
    overhead = mine - base
    return Result(overhead * 1000, note=(
        f"papermill {base * 1000:.0f} ms, nbtrack run {mine * 1000:.0f} ms, kernel start {kernel * 1000:.0f} ms; "
        f"budget {budget * 1000:.0f} ms: {'met' if overhead <= budget else 'NOT met'}"),
        extra={"papermill_ms": base * 1000, "nbtrack_run_ms": mine * 1000, "kernel_start_ms": kernel * 1000,
               "budget_ms": budget * 1000})


@benchmark("jobs", "sweep_workers", title="sweep of {executions} executions: 2 workers / 1 worker (wall time)",
           unit="×", full={"executions": 16}, quick={"executions": 4}, engines=("nbtrack",),
           target="< 1 (the pool pays for itself)", ratios=False, repeats_inside=True, needs_engine=False)
def sweep_workers(engine: Any, ctx: Context) -> Result:
    import nbtrack

    _setup(ctx)
    alphas = [round(0.1 * (i + 1), 3) for i in range(ctx.params["executions"])]
    walls = {}
    for workers in (1, 2):
        start = time.perf_counter()
        result = nbtrack.sweep(NOTEBOOK, parameters={"alpha": alphas}, workers=workers, progress=False)
        walls[workers] = time.perf_counter() - start
        if any(o.status != "FINISHED" for o in result.outcomes):
            raise RuntimeError(f"an execution failed with {workers} worker(s)")
    return Result(walls[2] / walls[1], note=f"1 worker {walls[1]:.1f} s, 2 workers {walls[2]:.1f} s "
                  f"({os.cpu_count()} cores)", extra={"one_worker_s": walls[1], "two_workers_s": walls[2]})


@benchmark("jobs", "reproduce", title="reproduce of the example's %%track run / executing it from scratch",
           unit="×", full={"repeat": 3}, quick={"repeat": 1}, engines=("nbtrack",),
           target="close to 1 (one fresh kernel either way)", ratios=False, repeats_inside=True,
           needs_engine=False)
def reproduce(engine: Any, ctx: Context) -> Result:
    import nbtrack
    from nbtrack.store.jobs import child_runs
    from nbtrack.tracking.fluent import read_store

    _setup(ctx)
    execution = nbtrack.run_notebook(NOTEBOOK, {"alpha": 0.5})
    (cell_run,) = child_runs(read_store(), execution.run_id)
    out = ctx.store / "plain.ipynb"
    _papermill(out, 0.5)  # warm-up
    ours, plain = [], []
    for _ in range(ctx.params["repeat"]):
        plain.append(_papermill(out, 0.5))
        start = time.perf_counter()
        verdict = nbtrack.reproduce(cell_run.info.run_id).verdict
        ours.append(time.perf_counter() - start)
        if verdict != "exact":
            raise RuntimeError(f"reproduce gave {verdict!r}")
    base, mine = statistics.median(plain), statistics.median(ours)
    return Result(mine / base, note=f"reproduce {mine * 1000:.0f} ms, from scratch {base * 1000:.0f} ms",
                  extra={"reproduce_ms": mine * 1000, "scratch_ms": base * 1000})
