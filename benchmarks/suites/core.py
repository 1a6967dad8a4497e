"""The core suite: the per-call, bulk, search, import and visibility figures from the issue.

Every function here runs in a worker, against a fresh store, for one engine.
Timed regions use ``time.perf_counter`` and exclude setup (store creation, run
start) unless the title says otherwise.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks.engines import ENGINE_CLASSES, PROBE_KEY, Engine
from benchmarks.registry import Context, Extrapolate, Infeasible, Result, benchmark

HEAVY_MODULES = ("pandas", "numpy", "plotly", "ipywidgets", "IPython", "jupyter_server")
# What a training cell touches first; nbtrack resolves these lazily, on first access.
FIRST_USE = {
    "nbtrack": ("start_run", "log_params", "log_metric", "end_run"),
    "mlflow": ("start_run", "log_params", "log_metric", "end_run"),
    "trackio": ("init", "log", "finish"),
}


def _params(i: int, n: int) -> dict[str, Any]:
    """``n`` params of mixed types, as a training config has."""
    kinds = (lambda j: i * j, lambda j: f"value-{i}-{j}", lambda j: 0.5 * i + j)
    return {f"p{j}": kinds[j % 3](j) for j in range(n)}


def _write_runs(engine: Engine, runs: int, params: int, metrics: int) -> None:
    for i in range(runs):
        engine.start_run(f"run-{i}", params=_params(i, params))
        engine.log_metrics({f"m{k}": i * 0.01 + k for k in range(metrics)}, step=0)
        engine.end_run()


def _wait_for_points(engine: Engine, key: str, n: int, limit_s: float) -> tuple[int, float]:
    """Poll the store until ``n`` points of ``key`` are on disk; return (count, seconds waited)."""
    sql = engine.count_sql.format(key=key)
    start = time.perf_counter()
    count = engine.count_points(sql)
    while count < n and time.perf_counter() - start < limit_s:
        time.sleep(0.05)
        count = engine.count_points(sql)
    return count, time.perf_counter() - start


@benchmark(
    "core",
    "floor_append",
    title="floor: bare list.append((key, value, step)), same loop",
    unit="µs/call",
    full={"calls": 100_000},
    quick={"calls": 20_000},
    ratios=False,
    needs_engine=False,
    uses_library=False,
)
def floor_append(engine: Engine, ctx: Context) -> Result:
    """What a loop of calls costs before any tracker does anything: the floor for log_metric."""
    n = ctx.params["calls"]
    buffer: list[tuple[str, float, int]] = []
    append = buffer.append
    t0 = time.perf_counter()
    for i in range(n):
        append(("loss", i * 0.001, i))
    dt = time.perf_counter() - t0
    return Result(dt / n * 1e6)


@benchmark(
    "core",
    "log_metric_call",
    title="log_metric per call inside an active run, at up to {rate:,} points/s",
    unit="µs/call",
    full={"calls": 100_000, "rate": 100_000},
    quick={"calls": 20_000},
    overrides={"mlflow": {"calls": 300}},  # ~3 ms a call: 100k would take 5 minutes
    quick_overrides={"mlflow": {"calls": 30}},
    target="≤ 1 µs; mlflow/nbtrack ≥ 1000×",
    target_max=1.0,
)
def log_metric_call(engine: Engine, ctx: Context) -> Result:
    """Cost of one ``log_metric(key, value, step=i)`` as the caller sees it, in bursts of 1,000
    calls paced to ``rate`` points/s (a fast training loop; writes may be async). Only the time
    inside the calls is counted. Above the store's write rate nbtrack applies backpressure to
    keep its durability window; ``core.firehose`` measures that regime."""
    n, rate, burst = ctx.params["calls"], ctx.params["rate"], 1000
    engine.start_run("loop")
    log = engine.log_metric_fn()
    for i in range(10):  # one-time set-up (writer thread, prepared statements) is not per call
        log("warmup", 0.0, step=i)
    spent = 0.0
    due = time.perf_counter()
    for start in range(0, n, burst):
        t0 = time.perf_counter()
        for i in range(start, min(start + burst, n)):
            log("loss", i * 0.001, step=i)
        t1 = time.perf_counter()
        spent += t1 - t0
        due += burst / rate
        if due > t1:
            time.sleep(due - t1)
    return Result(spent / n * 1e6, extra={"calls": n, "rate": rate})


@benchmark(
    "core",
    "points_durable",
    title="{points:,} metric points logged, then durable (flush)",
    unit="s",
    full={"points": 1_000_000},
    quick={"points": 100_000},
    # MLflow: log_batch in chunks of 1000 (its fastest documented path), on fewer points,
    # scaled linearly to the same count and marked as extrapolated.
    overrides={"mlflow": {"points": 20_000}},
    quick_overrides={"mlflow": {"points": 5_000}, "trackio": {"points": 20_000}},
    target="≤ 2 s",
    target_max=2.0,
)
def points_durable(engine: Engine, ctx: Context) -> Result:
    """Wall time from the first log call until every point is committed to the store."""
    n = ctx.params["points"]
    report_n = (ctx.quick and 100_000) or 1_000_000
    engine.start_run("bulk")
    t0 = time.perf_counter()
    engine.log_points("loss", n)
    engine.make_durable()
    dt = time.perf_counter() - t0
    note, late = "", {}
    on_disk = engine.count_points(engine.count_sql.format(key="loss"))
    if on_disk < n:  # durability call returned early: wait, and count the wait
        count, waited = _wait_for_points(engine, "loss", n, limit_s=120.0)
        if count < n:
            raise Infeasible(f"only {count} of {n} points on disk 120 s after flush")
        note = "points reached the store after flush/finish returned; the wait is included"
        late = {"on_disk_at_return": on_disk, "late_s": waited}
        dt += waited
    how = {"mlflow": "log_batch, 1000 a call", "trackio": "durable at finish(); no flush()"}.get(engine.name, "")
    if report_n != n:
        note = "; ".join(filter(None, [note, f"extrapolated ×{report_n // n} from {n} points", how]))
        return Result(dt * report_n / n, note=note, extrapolated=True, extra={"points": n, **late})
    return Result(dt, note="; ".join(filter(None, [note, how])), extra={"points": n, **late})


@benchmark(
    "core",
    "firehose",
    title="a loop logging {points:,} points as fast as it can: sustained rate with the 0.5 s window held",
    unit="k points/s",
    full={"points": 2_000_000},
    quick={"points": 200_000},
    engines=("nbtrack",),
    ratios=False,
)
def firehose(engine: Engine, ctx: Context) -> Result:
    """Above the writer's speed, log_metric applies backpressure: the loop runs at the rate the
    store commits, so nothing older than the durability window is ever unwritten. Reports that
    rate, the cost per call it implies, and the largest backlog the queue allowed."""
    from nbtrack.store.write_queue import DURABILITY_WINDOW

    n = ctx.params["points"]
    engine.start_run("firehose")
    log = engine.log_metric_fn()
    t0 = time.perf_counter()
    for i in range(n):
        log("loss", i * 0.001, step=i)
    dt = time.perf_counter() - t0
    queue = engine.m.active_run().store.queue
    rate = n / dt
    engine.make_durable()
    return Result(rate / 1000, note=f"{dt / n * 1e6:.2f} µs a call at this rate; backlog bound "
                                    f"{queue.high_water:,} points (window {DURABILITY_WINDOW} s)",
                  extra={"us_per_call": dt / n * 1e6, "high_water": queue.high_water})


@benchmark(
    "core",
    "write_runs",
    title="{runs:,} runs × ({params} params, {metrics} metrics) via the API",
    unit="s",
    full={"runs": 500, "params": 10, "metrics": 5},
    quick={"runs": 100},
    quick_overrides={"mlflow": {"runs": 25}, "trackio": {"runs": 25}},
    target="≤ 0.25 s (500 runs)",
    target_max=0.25,
)
def write_runs(engine: Engine, ctx: Context) -> Result:
    """start_run, log_params (trackio: init config), log_metrics, end_run, ×runs; then durable."""
    p = ctx.params
    report_runs = 100 if ctx.quick else 500
    t0 = time.perf_counter()
    _write_runs(engine, p["runs"], p["params"], p["metrics"])
    engine.make_durable()
    dt = time.perf_counter() - t0
    if p["runs"] != report_runs:
        return Result(
            dt * report_runs / p["runs"],
            note=f"extrapolated ×{report_runs / p['runs']:g} from {p['runs']} runs (quick mode)",
            extrapolated=True,
        )
    return Result(dt)


def _search(engine: Engine, ctx: Context, build_limit_s: float) -> Result:
    p = ctx.params
    runs = p["runs"]
    t0 = time.perf_counter()
    probe = min(runs, 200)
    _write_runs(engine, probe, p["params"], p["metrics"])
    per_run = (time.perf_counter() - t0) / probe
    if per_run * runs > build_limit_s:
        raise Infeasible(
            f"building {runs} runs through the API would take ~{per_run * runs:.0f} s "
            f"({per_run * 1e3:.1f} ms/run measured)"
        )
    for i in range(probe, runs):
        engine.start_run(f"run-{i}", params=_params(i, p["params"]))
        engine.log_metrics({f"m{k}": i * 0.01 + k for k in range(p["metrics"])}, step=0)
        engine.end_run()
    engine.make_durable()
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    df = engine.search_runs()  # first call: lazy imports (pandas) and caches, reported apart
    cold_ms = (time.perf_counter() - t0) * 1e3
    if len(df) != runs:
        raise Infeasible(f"search returned {len(df)} rows for {runs} runs")
    samples = []
    for _ in range(max(1, ctx.repeat)):
        t0 = time.perf_counter()
        engine.search_runs()
        samples.append((time.perf_counter() - t0) * 1e3)
    note = "warm median (first call apart)"
    if engine.name == "trackio":
        note = "Api().runs() + each run's config (no metrics: trackio has no search_runs)"
    return Result(
        statistics.median(samples),
        note=note,
        extra={"samples": samples, "cold_ms": cold_ms, "build_s": build_s, "columns": len(df.columns)},
    )


@benchmark(
    "core",
    "search_500",
    title="search_runs of {runs:,} runs into a DataFrame",
    unit="ms",
    full={"runs": 500, "params": 10, "metrics": 5},
    quick={"runs": 20},
    target="≤ 20 ms",
    target_max=20.0,
    repeats_inside=True,
)
def search_500(engine: Engine, ctx: Context) -> Result:
    return _search(engine, ctx, build_limit_s=120.0)


_PEER_100K = (
    "building {n} runs through its API is infeasible here (see write_runs: minutes to tens of "
    "minutes); linear extrapolation of the smaller search"
)


@benchmark(
    "core",
    "search_100k",
    title="search_runs of {runs:,} runs into a DataFrame",
    unit="ms",
    full={"runs": 100_000, "params": 10, "metrics": 5},
    quick={"runs": 2_000},
    engines=("nbtrack",),
    extrapolate={
        "mlflow": Extrapolate("core.search_500", "runs", _PEER_100K),
        "trackio": Extrapolate("core.search_500", "runs", _PEER_100K),
    },
    target="≤ 1000 ms (100k)",
    target_max=1000.0,
    repeats_inside=True,
    timeout_s=900.0,
)
def search_100k(engine: Engine, ctx: Context) -> Result:
    return _search(engine, ctx, build_limit_s=400.0)


def _timed_in_fresh_interpreter(statement: str) -> float:
    """Milliseconds ``statement`` takes in a fresh interpreter, timed inside it: the
    interpreter's own start (and whatever site-packages' .pth files import at start, a
    certifi hook on this machine) is not counted. Subtracting a separate ``python -c pass``
    instead left the difference of two noisy 40-50 ms starts and once gave -11 ms."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1]) * 1e3


def _import_ms(engine_name: str, ctx: Context, first_use: bool) -> Result:
    module = ENGINE_CLASSES[engine_name].module
    stmt = f"import {module}"
    if first_use:
        stmt += "; " + "; ".join(f"{module}.{name}" for name in FIRST_USE[engine_name])
    if not ctx.quick:  # quick runs it after the worker has imported the library already
        _timed_in_fresh_interpreter(stmt)  # warm the page cache
    samples = [_timed_in_fresh_interpreter(stmt)
               for _ in range(ctx.params["samples"] if ctx.quick else max(ctx.params["samples"], ctx.repeat))]
    return Result(statistics.median(samples), note=f"median of {len(samples)} fresh interpreters, "
                                                   "timed inside each",
                  extra={"import_ms": samples, "statement": stmt})


@benchmark(
    "core",
    "import_time",
    title="import time in a fresh interpreter",
    unit="ms",
    full={"samples": 7},
    quick={"samples": 5},  # ±10 ms of interpreter-start noise swamps one nbtrack sample
    quick_overrides={"mlflow": {"samples": 1}, "trackio": {"samples": 1}},
    target="≤ 50 ms",
    target_max=50.0,
    needs_engine=False,
    repeats_inside=True,  # each sample is already a fresh interpreter
)
def import_time(engine: Engine, ctx: Context) -> Result:
    """Median over fresh interpreters of the time ``import X`` takes inside each."""
    return _import_ms(engine.name, ctx, first_use=False)


@benchmark(
    "core",
    "import_first_use",
    title="import + first access of the logging API, in a fresh interpreter",
    unit="ms",
    full={"samples": 7},
    quick={"samples": 5},  # ±10 ms of interpreter-start noise swamps one nbtrack sample
    quick_overrides={"mlflow": {"samples": 1}, "trackio": {"samples": 1}},
    needs_engine=False,
    repeats_inside=True,
)
def import_first_use(engine: Engine, ctx: Context) -> Result:
    """As import_time, plus touching start_run/log_params/log_metric/end_run (trackio: init/log/finish).

    nbtrack loads its modules on first attribute access, so ``import nbtrack`` alone
    understates what a notebook pays before its first logged point.
    """
    return _import_ms(engine.name, ctx, first_use=True)


@benchmark(
    "core",
    "import_heavy",
    title="heavy modules loaded by import (" + ", ".join(HEAVY_MODULES) + ")",
    unit="modules",
    target="none",
    ratios=False,
    needs_engine=False,
    repeats_inside=True,  # deterministic: once is enough
)
def import_heavy(engine: Engine, ctx: Context) -> Result:
    module = ENGINE_CLASSES[engine.name].module
    heavy = list(HEAVY_MODULES)
    touch = "; ".join(f"{module}.{name}" for name in FIRST_USE[engine.name])
    code = (
        f"import sys, json, {module}\n"
        f"a = [m for m in {heavy!r} if m in sys.modules]\n"
        f"{touch}\n"
        f"b = [m for m in {heavy!r} if m in sys.modules]\n"
        "print(json.dumps([a, b]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded, after_use = json.loads(out.stdout.strip().splitlines()[-1])
    note = ""
    if after_use != loaded:
        note = f"first access of {', '.join(FIRST_USE[engine.name])} loads: " + ", ".join(
            m for m in after_use if m not in loaded)
    return Result(float(len(loaded)), text=", ".join(loaded) or "none", note=note,
                  extra={"after_first_use": after_use})


@benchmark(
    "core",
    "visibility",
    title="visibility: a 2nd process sees a logged point (no flush)",
    unit="ms",
    full={},
    target="≤ 500 ms",
    target_max=500.0,
)
def visibility(engine: Engine, ctx: Context) -> Result:
    """Writer logs one point at t0; a reader process polling the store (1 ms) reports when it appears."""
    engine.start_run("visibility")
    engine.log_metric_fn()("warmup", 0.0, step=0)
    count, _ = _wait_for_points(engine, "warmup", 1, limit_s=30.0)
    if not count:
        raise Infeasible("the warm-up point never reached the store in 30 s without a flush")
    reader = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.probe", str(engine.db_path), engine.probe_sql],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None
        if reader.stdout.readline().strip() != "ready":
            raise RuntimeError("probe did not start")
        t0 = time.monotonic()
        engine.log_metric_fn()(PROBE_KEY, 1.0, step=1)
        line = reader.stdout.readline().split()
        if not line or line[0] != "seen":
            raise Infeasible("a second process did not see the point within 30 s")
        return Result((float(line[1]) - t0) * 1e3)
    finally:
        reader.kill()
        reader.wait()
