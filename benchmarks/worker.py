"""Runs benchmark jobs inside one engine's interpreter: ``python -m benchmarks.worker < jobs.json``.

``run.py`` starts a worker per measurement (or one per engine with ``--quick``)
so every measurement starts from a fresh process, and the peers run from their
own venv. Each job gets its own store directory. Results go to stdout as lines
starting with ``@@BENCH `` (the libraries print their own chatter around them).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.engines import make_engine
from benchmarks.registry import REGISTRY, Context, Infeasible, load_suites

MARKER = "@@BENCH "


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    bench = REGISTRY[job["bench"]]
    store = Path(job["store"])
    store.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"bench": bench.key, "engine": job["engine"]}
    engine = make_engine(job["engine"])
    ctx = Context(store=store, params=job["params"], quick=job["quick"], repeat=job["repeat"])
    opened = False
    started = time.perf_counter()
    try:
        if bench.needs_engine:
            engine.open(store)
            opened = True
            out["engine_version"] = engine.version()
        result = bench.func(engine, ctx)
        out["result"] = result.to_json()
    except Infeasible as exc:
        out["infeasible"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - any failure is reported in the table; the run goes on
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
    finally:
        if opened:  # leave no run open for the next job in this worker
            with contextlib.suppress(Exception):
                engine.end_run()
        out["wall_s"] = round(time.perf_counter() - started, 3)
    return out


def main() -> int:
    spec = json.load(sys.stdin)
    load_suites()
    for job in spec["jobs"]:
        out = run_job(job)
        sys.stdout.write("\n" + MARKER + json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
