"""The comparison view suite: ``nbtrack.compare()`` over 10,000 runs and 1,000,000 metric points.

nbtrack only: the peers' comparisons are web UIs, not something a notebook cell
builds, and they stop far below this size. From their own trackers and docs
(see the notes on peers): MLflow's compare page slows past ~100 runs and its
charts cap at 500 runs (MLflow #21841, #10299); W&B and trackio compare at most
10 runs at once. The figures here are what a notebook user waits for and what
their saved notebook grows by.

Timed regions (warm: the first call, which imports plotly and ipywidgets, is
reported apart as ``cold_ms``): ``query`` reads the runs (filter, run table);
``view`` builds every widget and figure (table page, curves of the five best
runs, parallel coordinates, scatter, diff); ``static`` renders the static HTML
table and SVG of the display bundle.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from benchmarks.engines import Engine
from benchmarks.registry import Context, Result, benchmark

PEERS_NOTE = ("peers at this size: MLflow's compare view slows past ~100 runs, charts cap at 500 "
              "(MLflow #21841, #10299); W&B and trackio compare at most 10 runs")


def _build_store(ctx: Context) -> float:
    """``runs`` runs with 4 params (numeric and categorical), a tag, ``points`` points of
    ``loss`` in all (per-step curves) and one ``acc`` each; returns seconds taken."""
    import nbtrack

    p = ctx.params
    per_run = p["points"] // p["runs"]
    t0 = time.perf_counter()
    for i in range(p["runs"]):
        with nbtrack.start_run(run_name=f"run-{i}", tags={"group": f"g{i % 7}"}):
            nbtrack.log_params({"lr": 10 ** -(i % 5), "depth": i % 11,
                                "model": ("svm", "tree", "mlp")[i % 3], "seed": 0})
            for step in range(per_run):
                nbtrack.log_metric("loss", 1.0 / (step + 1) + (i % 13) * 0.01, step=step)
            nbtrack.log_metric("acc", (i % 97) / 97)
    nbtrack.flush()
    return time.perf_counter() - t0


def _saved_state_kb(cmp: Any, before: set[str]) -> float:
    """What nbclient would save for this comparison: its output bundle plus the state of every
    widget model it opened (compact JSON, as in the notebook's metadata)."""
    from ipywidgets.widgets.widget import _instances

    state = {model_id: {"model_name": w._model_name, "model_module": w._model_module,
                        "state": w.get_state()}
             for model_id, w in _instances.items() if model_id not in before}
    bundle = cmp._repr_mimebundle_()
    return (len(json.dumps(state, default=str)) + len(json.dumps(bundle))) / 1024


@benchmark(
    "compare_view",
    "build",
    title="compare(): query + build of {runs:,} runs, {points:,} points",
    unit="ms",
    full={"runs": 10_000, "points": 1_000_000},
    quick={"runs": 1_000, "points": 100_000},
    engines=("nbtrack",),
    target="≤ 1000 ms",
    target_max=1000.0,
    ratios=False,
    repeats_inside=True,
    timeout_s=900.0,
)
def build(engine: Engine, ctx: Context) -> Result:
    from nbtrack.widgets.data import load_runs
    from nbtrack.widgets.view import Comparison

    build_s = _build_store(ctx)
    t0 = time.perf_counter()
    Comparison(load_runs(), "loss", live=True)  # cold: imports plotly, ipywidgets, pandas
    cold_ms = (time.perf_counter() - t0) * 1e3
    totals, queries, views, statics = [], [], [], []
    for _ in range(max(3, ctx.repeat)):
        t0 = time.perf_counter()
        runs = load_runs()
        t1 = time.perf_counter()
        cmp = Comparison(runs, "loss", live=True)
        t2 = time.perf_counter()
        cmp._repr_mimebundle_()
        t3 = time.perf_counter()
        totals.append((t3 - t0) * 1e3)
        queries.append((t1 - t0) * 1e3)
        views.append((t2 - t1) * 1e3)
        statics.append((t3 - t2) * 1e3)
    if runs.size != ctx.params["runs"]:
        raise RuntimeError(f"compare saw {runs.size} runs, expected {ctx.params['runs']}")
    return Result(statistics.median(totals), note=f"warm median; {PEERS_NOTE}", extra={
        "query_ms": statistics.median(queries), "view_ms": statistics.median(views),
        "static_ms": statistics.median(statics), "cold_ms": cold_ms, "samples": totals,
        "build_store_s": build_s})


@benchmark(
    "compare_view",
    "saved_kb",
    title="saved-notebook growth of one live comparison of {runs:,} runs",
    unit="KB",
    full={"runs": 10_000, "points": 1_000_000},
    quick={"runs": 1_000, "points": 100_000},
    engines=("nbtrack",),
    target="≤ 300 KB (a FigureWidget alone: ~5,000 KB)",
    target_max=300.0,
    ratios=False,
    repeats_inside=True,
    timeout_s=900.0,
)
def saved_kb(engine: Engine, ctx: Context) -> Result:
    from ipywidgets.widgets.widget import _instances

    from nbtrack.widgets.data import load_runs
    from nbtrack.widgets.view import Comparison

    _build_store(ctx)
    before = set(_instances)
    cmp = Comparison(load_runs(), "loss", live=True)
    size = _saved_state_kb(cmp, before)
    static_kb = len(cmp.static_html().encode()) / 1024
    return Result(size, note="widget state + display bundle, compact JSON as nbclient saves it",
                  extra={"static_html_kb": static_kb})
