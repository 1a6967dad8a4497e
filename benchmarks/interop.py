"""``nbtrack push`` / ``pull`` against MLflow's own client, same server, same run.

    python -m benchmarks.interop                     # 100 runs x 10,000 points, 1,000 runs re-push
    python -m benchmarks.interop --runs 10 --points 2000 --idle-runs 200   # a quick look

Starts a real ``mlflow server`` (SQLite backend, proxied artifacts) from the peers' venv on
127.0.0.1, then, one after the other:

1. nbtrack: log RUNS x POINTS metric points locally (not timed), ``nbtrack.push`` them (timed).
2. MLflow: the same points sent with ``MlflowClient.log_batch`` in 1,000-metric batches (its
   limit, the most efficient its client allows), one run per nbtrack run (timed, Metric
   objects built inside the timer as a user's loop would), interleaved run by run with
   the push (``push(max_runs=1)`` per run), so drifting load hits both sides alike.
3. MLflow per point: ``log_metric`` in a loop, timed over a sample (default 2,000 points) and
   extrapolated to the whole workload (said so in the output).
4. ``nbtrack.pull`` of the pushed runs into an empty store (timed).
5. A store of IDLE_RUNS small runs pushed once, then pushed again unchanged: the time to find
   there is nothing to send.

Prints one table and writes benchmarks/results/interop.json. Uses MLflow's client from this
interpreter (mlflow-skinny, the nbtrack[mlflow] extra), so both sides pay the same client.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.interop")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2_000, help="points timed for the log_metric loop")
    parser.add_argument("--idle-runs", type=int, default=1_000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests"))
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    from mlflow_server import MlflowServer

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="nbtrack-bench-interop-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "server").mkdir()
        server = MlflowServer(tmp / "server", f"sqlite:///{tmp}/server/mlflow.db").start()
        try:
            results.update(measure(server.uri, tmp, args))
        finally:
            server.stop()
    total = args.runs * args.points
    rows = [
        ("nbtrack push", results["push_s"], total / results["push_s"]),
        ("MLflow log_batch (1,000 a batch)", results["batch_s"], total / results["batch_s"]),
        (f"MLflow log_metric loop (extrapolated from {args.sample:,} points)",
         results["loop_s"], total / results["loop_s"]),
        ("nbtrack pull", results["pull_s"], total / results["pull_s"]),
    ]
    print(f"\n{args.runs} runs x {args.points:,} points = {total:,} points, one mlflow server (SQLite) "
          "on 127.0.0.1")
    print(f"{'':<58}{'seconds':>10}{'points/s':>12}")
    for name, seconds, rate in rows:
        print(f"{name:<58}{seconds:>10.1f}{rate:>12,.0f}")
    print(f"push / log_batch time ratio: {results['push_s'] / results['batch_s']:.2f}x "
          "(target: within 1.5x)")
    print(f"re-push of an unchanged store of {args.idle_runs:,} runs: {results['idle_s'] * 1000:.0f} ms "
          "to find nothing to send (target: under 1 s)")
    out = REPO / "benchmarks" / "results" / "interop.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), **results}, indent=2))
    return 0


def measure(uri: str, tmp: Path, args: argparse.Namespace) -> dict[str, float]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    import nbtrack
    from nbtrack import state

    found: dict[str, float] = {}
    values = [1.0 / (i + 1) for i in range(args.points)]
    # 1. nbtrack: log locally (untimed), then push
    nbtrack.set_tracking_uri(str(tmp / "store"))
    nbtrack.set_experiment("bench-nbtrack")
    base = int(time.time() * 1000)
    for r in range(args.runs):
        with nbtrack.start_run(run_name=f"r{r}"):
            for step, value in enumerate(values):
                nbtrack.log_metric("loss", value, step=step, timestamp=base + step)
    nbtrack.flush()
    # 2. MLflow's log_batch, 1,000 metrics a request, interleaved run by run with the push
    # (push(max_runs=1) sends the next run), so load that drifts on a shared machine hits
    # both sides alike
    client = MlflowClient(uri)
    experiment = client.create_experiment("bench-mlflow-batch")
    found["batch_s"] = found["push_s"] = 0.0
    pushed = 0
    for r in range(args.runs):
        start = time.perf_counter()
        run = client.create_run(experiment, run_name=f"r{r}")
        for first in range(0, args.points, 1000):
            client.log_batch(run.info.run_id, metrics=[
                Metric("loss", values[step], base + step, step)
                for step in range(first, min(first + 1000, args.points))], synchronous=True)
        client.set_terminated(run.info.run_id)
        found["batch_s"] += time.perf_counter() - start
        start = time.perf_counter()
        pushed += nbtrack.push(to=uri, progress=False, max_runs=1).points
        found["push_s"] += time.perf_counter() - start
    assert pushed == args.runs * args.points, pushed

    # 3. a log_metric per point, timed on a sample
    loop_experiment = client.create_experiment("bench-mlflow-loop")
    run = client.create_run(loop_experiment)
    sample = min(args.sample, args.points)
    start = time.perf_counter()
    for step in range(sample):
        client.log_metric(run.info.run_id, "loss", values[step], timestamp=base + step, step=step)
    found["loop_s"] = (time.perf_counter() - start) * (args.runs * args.points) / sample

    # 4. pull it all back into an empty store
    state.reset()
    nbtrack.set_tracking_uri(str(tmp / "pulled"))
    start = time.perf_counter()
    pulled = nbtrack.pull(uri, experiment="bench-nbtrack", progress=False)
    found["pull_s"] = time.perf_counter() - start
    assert pulled.points == args.runs * args.points, pulled

    # 5. an unchanged store of many runs: how long to find nothing to send
    state.reset()
    nbtrack.set_tracking_uri(str(tmp / "idle"))
    nbtrack.set_experiment("bench-idle")
    for r in range(args.idle_runs):
        with nbtrack.start_run(run_name=f"idle-{r}"):
            nbtrack.log_param("r", str(r))
            nbtrack.set_tag("kind", "idle")
            nbtrack.log_metric("m", float(r))
    nbtrack.push(to=uri, progress=False)
    start = time.perf_counter()
    again = nbtrack.push(to=uri, progress=False)
    found["idle_s"] = time.perf_counter() - start
    assert again.runs == 0 and again.skipped == args.idle_runs, again
    state.reset()
    return found


if __name__ == "__main__":
    raise SystemExit(main())
