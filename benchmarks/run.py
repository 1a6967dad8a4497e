"""Run every benchmark for nbtrack and its peers in one go, and print one table.

    python -m benchmarks                  # full run, median of 5
    python -m benchmarks --quick --only core   # CI smoke, well under a minute
    python -m benchmarks --only core.search_500 --repeat 9

nbtrack runs in this interpreter (the working tree is put on PYTHONPATH). The
peers run in ``benchmarks/.venv-peers``, created on first use from
``requirements.txt``: mlflow and trackio pull in ~60 packages (pyarrow,
SQLAlchemy, an older Pillow, a newer click), and installing them next to
nbtrack would change the environment nbtrack is tested in. pyarrow alone
changes pandas 3's default string dtype, and so what nbtrack's search_runs
returns and how fast. The venv shares only the base interpreter.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/run.py`: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.registry import ENGINES, PEERS, Benchmark, load_suites
from benchmarks.report import format_table
from benchmarks.worker import MARKER

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REQUIREMENTS = HERE / "requirements.txt"
PEER_VENV = HERE / ".venv-peers"
RESULTS = HERE / "results" / "latest.json"

NBTRACK_API = ("set_tracking_uri", "set_experiment", "start_run", "log_params", "log_metric",
               "log_metrics", "flush", "search_runs", "end_run")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smaller workloads, one worker process per engine, N=1 (CI smoke)")
    ap.add_argument("--only", action="append", default=[],
                    help="suite or suite.benchmark to run (repeatable or comma-separated)")
    ap.add_argument("--repeat", "-n", type=int, default=None,
                    help="repetitions per measurement; the table shows medians (default 5, quick 1)")
    ap.add_argument("--engines", default=",".join(ENGINES),
                    help=f"comma-separated subset of {','.join(ENGINES)}")
    ap.add_argument("--peer-python", default=None,
                    help="interpreter that has the peers installed (default: benchmarks/.venv-peers,"
                         " created from requirements.txt on first use)")
    ap.add_argument("--json", type=Path, default=RESULTS, help=f"where to write results ({RESULTS})")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = ap.parse_args(argv)
    args.only = [o for chunk in args.only for o in chunk.split(",") if o]
    args.engines = [e for e in args.engines.split(",") if e]
    if bad := [e for e in args.engines if e not in ENGINES]:
        ap.error(f"unknown engine(s) {bad}; choose from {ENGINES}")
    if args.repeat is None:
        args.repeat = 1 if args.quick else 5
    return args


# --- interpreters -----------------------------------------------------------------------------


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_peer_venv() -> Path:
    """Create or update benchmarks/.venv-peers so it matches requirements.txt; return its python."""
    python = _venv_python(PEER_VENV)
    stamp = PEER_VENV / "requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return python
    print(f"[benchmarks] installing peers into {PEER_VENV.relative_to(REPO)} "
          "(first run: a minute or two) ...", file=sys.stderr, flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(want + "\n")
    return python


def worker_env(tmp: Path, root: Path | None = None) -> dict[str, str]:
    """The environment of a worker whose scratch directory is ``tmp`` (``root``: the run's)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("MLFLOW_TRACKING_URI", None)  # nbtrack honours it too; each job names its own store
    env.update({
        "NBTRACK_HOME": str(tmp / "nbtrack-home"),
        "TRACKIO_DIR": str(tmp / "trackio"),  # read once, when trackio is imported
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONDONTWRITEBYTECODE": "1",
        # an empty migrated MLflow store, made by the first MLflow job (see engines.py)
        "NBTRACK_BENCH_MLFLOW_TEMPLATE": str((root or tmp) / "mlflow-template.db"),
    })
    return env


def probe_engine(engine: str, python: Path) -> tuple[str | None, str | None]:
    """Return (version, None) if the engine's API is importable in ``python``, else (None, why)."""
    if engine == "nbtrack":
        check = f"import nbtrack; [getattr(nbtrack, n) for n in {NBTRACK_API!r}]"
    else:
        check = f"import {engine}"
    code = (check + f"; import importlib.metadata as md\ntry: v = md.version({engine!r})\n"
            f"except md.PackageNotFoundError: v = getattr({engine}, '__version__', 'working tree')\n"
            "print(v)")
    with tempfile.TemporaryDirectory(prefix="nbtrack-bench-") as tmp:
        proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False,
                              env=worker_env(Path(tmp)), cwd=tmp, timeout=120)
    if proc.returncode:
        lines = proc.stderr.strip().splitlines()
        return None, lines[-1] if lines else f"exit {proc.returncode}"
    return proc.stdout.strip().splitlines()[-1], None


# --- jobs -------------------------------------------------------------------------------------


def plan_jobs(benches: list[Benchmark], engines: dict[str, Path], args: argparse.Namespace,
              tmp: Path) -> list[dict[str, Any]]:
    """Jobs in run order: for each benchmark, repetition-major, engines interleaved."""
    jobs = []
    for bench in benches:
        reps = 1 if bench.repeats_inside else args.repeat
        for rep in range(reps):
            for engine in ENGINES:
                if engine not in engines or engine not in bench.engines:
                    continue
                jobs.append({
                    "bench": bench.key,
                    "engine": engine,
                    "params": bench.params_for(engine, args.quick),
                    "quick": args.quick,
                    "repeat": args.repeat,
                    "store": str(tmp / "stores" / bench.key / engine / str(rep)),
                    "timeout": bench.timeout_s,
                })
    return jobs


def run_worker(python: Path, jobs: list[dict[str, Any]], tmp: Path) -> list[dict[str, Any]]:
    """Run ``jobs`` in one fresh worker process; return one result dict per job."""
    wdir = Path(tempfile.mkdtemp(prefix="worker-", dir=tmp))
    timeout = sum(j["timeout"] for j in jobs)
    try:
        proc = subprocess.run(
            [str(python), "-m", "benchmarks.worker"], input=json.dumps({"jobs": jobs}),
            capture_output=True, text=True, env=worker_env(wdir, tmp), cwd=wdir, timeout=timeout,
            check=False,
        )
        out, err, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err, code = f"worker timed out after {timeout:.0f} s", -1
    finally:
        shutil.rmtree(wdir, ignore_errors=True)
    results = [json.loads(line[len(MARKER):]) for line in out.splitlines()
               if line.startswith(MARKER)]
    for job in jobs[len(results):]:  # the worker died before reporting these
        tail = err.strip().splitlines()[-1:] or [f"exit {code}"]
        results.append({"bench": job["bench"], "engine": job["engine"],
                        "error": f"worker failed: {tail[0]}", "traceback": err[-4000:]})
    return results


def execute(jobs: list[dict[str, Any]], engines: dict[str, Path], quick: bool,
            tmp: Path) -> list[dict[str, Any]]:
    if quick:  # one process per engine: startup (mlflow imports in ~3 s) dominates a smoke run
        results = []
        for engine, python in engines.items():
            mine = [j for j in jobs if j["engine"] == engine]
            if mine:
                t0 = time.perf_counter()
                results += run_worker(python, mine, tmp)
                _progress(f"{engine}: {len(mine)} jobs in one worker, "
                          f"{time.perf_counter() - t0:.1f} s")
        return results
    results = []
    for i, job in enumerate(jobs, 1):
        _progress(f"[{i}/{len(jobs)}] {job['bench']} · {job['engine']}")
        results += run_worker(engines[job["engine"]], [job], tmp)
    return results


def _progress(msg: str) -> None:
    print(f"[benchmarks] {msg}", file=sys.stderr, flush=True)


# --- aggregation ------------------------------------------------------------------------------


def aggregate(benches: list[Benchmark], results: list[dict[str, Any]],
              unavailable: dict[str, str], args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    by_key = {}
    for bench in benches:
        cells: dict[str, dict[str, Any]] = {}
        for engine in args.engines:
            mine = [r for r in results if r["bench"] == bench.key and r["engine"] == engine]
            if engine in bench.extrapolate:
                cells[engine] = _extrapolated(bench, engine, by_key, args)
            elif engine not in bench.engines:
                cells[engine] = {"status": "skip", "reason": "not run for this engine"}
            elif engine in unavailable and (bench.uses_library or engine != "nbtrack"):
                cells[engine] = {"status": "unavailable", "reason": unavailable[engine]}
            elif mine:
                cells[engine] = _cell(mine, bench)
        row = {
            "key": bench.key, "title": bench.title_for(args.quick), "unit": bench.unit,
            "target": bench.target, "target_max": bench.target_max, "ratios_apply": bench.ratios,
            "engines": cells, "ratios": {},
        }
        base = cells.get("nbtrack", {}).get("median")
        for peer in PEERS:
            val = cells.get(peer, {}).get("median")
            if bench.ratios and base is not None and base > 0 and val is not None:
                row["ratios"][f"{peer}/nbtrack"] = val / base
        if bench.target_max is not None and base is not None:
            row["nbtrack_meets_target"] = base <= bench.target_max
        if bench.target == "none" and "text" in cells.get("nbtrack", {}):
            row["nbtrack_meets_target"] = cells["nbtrack"]["text"] == "none"
        by_key[bench.key] = row
        rows.append(row)
    return rows


def _cell(results: list[dict[str, Any]], bench: Benchmark) -> dict[str, Any]:
    ok = [r for r in results if "result" in r]
    cell: dict[str, Any] = {}
    if not ok:
        first = results[0]
        if "infeasible" in first:
            return {"status": "n/a", "reason": first["infeasible"]}
        return {"status": "error", "reason": first.get("error", "?"),
                "traceback": first.get("traceback", "")}
    samples: list[float] = []
    for r in ok:
        res = r["result"]
        samples += res["extra"].get("samples", [res["value"]]) if res["value"] is not None else []
    cell["status"] = "ok"
    cell["samples"] = samples
    if bench.repeats_inside:  # value is already the extrapolation/median the worker chose
        cell["median"] = ok[0]["result"]["value"]
    elif samples:
        cell["median"] = statistics.median(samples)
    texts = sorted({r["result"]["text"] for r in ok if r["result"]["text"] is not None})
    if texts:
        cell["text"] = " | ".join(texts)
    cell["extrapolated"] = any(r["result"]["extrapolated"] for r in ok)
    notes = sorted({r["result"]["note"] for r in ok if r["result"]["note"]})
    if notes:
        cell["note"] = "; ".join(notes)
    cell["extra"] = [r["result"]["extra"] for r in ok]
    cell["wall_s"] = [r.get("wall_s") for r in results]
    if len(ok) < len(results):
        failed = next(r for r in results if "result" not in r)
        cell["note"] = (cell.get("note", "") + f"; {len(results) - len(ok)} of {len(results)} "
                        f"repetitions failed: {failed.get('error') or failed.get('infeasible')}")
    return cell


def _extrapolated(bench: Benchmark, engine: str, by_key: dict[str, dict[str, Any]],
                  args: argparse.Namespace) -> dict[str, Any]:
    ex = bench.extrapolate[engine]
    n = bench.params_for(engine, args.quick)[ex.scale_param]
    source = by_key.get(ex.from_key, {}).get("engines", {}).get(engine, {})
    if source.get("median") is None:
        return {"status": "n/a", "reason": ex.reason.format(n=n) +
                f" (needs {ex.from_key}, which was not measured for {engine} in this run)"}
    from benchmarks.registry import REGISTRY

    m = REGISTRY[ex.from_key].params_for(engine, args.quick)[ex.scale_param]
    return {"status": "ok", "median": source["median"] * n / m, "extrapolated": True,
            "note": ex.reason.format(n=n) + f": ×{n / m:g} from {ex.from_key} ({m} {ex.scale_param})"}


# --- main -------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "machine": platform.machine()}
    try:
        info["loadavg"] = os.getloadavg()
    except OSError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    benches = load_suites(args.only or None)
    if args.list:
        for b in benches:
            print(f"{b.key:28} {b.title_for(args.quick)} [{b.unit}]")
        return 0
    started = time.perf_counter()
    interpreters: dict[str, Path] = {}
    unavailable: dict[str, str] = {}
    versions: dict[str, str] = {}
    peer_python = None
    if any(e in PEERS for e in args.engines):
        try:
            peer_python = Path(args.peer_python) if args.peer_python else ensure_peer_venv()
        except (subprocess.CalledProcessError, OSError) as exc:
            for peer in PEERS:
                unavailable[peer] = f"peer venv could not be built: {exc}"
    for engine in args.engines:
        python = Path(sys.executable) if engine == "nbtrack" else peer_python
        if python is None:
            continue
        version, why = probe_engine(engine, python)
        if why:
            unavailable[engine] = why
            _progress(f"{engine} unavailable: {why}")
        else:
            versions[engine] = version or "?"
        interpreters[engine] = python
    with tempfile.TemporaryDirectory(prefix="nbtrack-bench-") as tmpdir:
        tmp = Path(tmpdir)
        jobs = [j for j in plan_jobs(benches, interpreters, args, tmp)
                if j["engine"] not in unavailable
                or (j["engine"] == "nbtrack" and not _bench(j).uses_library)]
        results = execute(jobs, interpreters, args.quick, tmp)
    rows = aggregate(benches, results, unavailable, args)
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "repeat": args.repeat,
        "machine": machine_info(),
        "versions": versions,
        "interpreters": {e: str(p) for e, p in interpreters.items()},
        "unavailable": unavailable,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    print(format_table(report, args.engines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    _progress(f"results written to {args.json} ({report['elapsed_s']} s)")
    errors = [(r["key"], e) for r in rows for e, c in r["engines"].items() if c.get("status") == "error"]
    return 1 if errors else 0


def _bench(job: dict[str, Any]) -> Benchmark:
    from benchmarks.registry import REGISTRY

    return REGISTRY[job["bench"]]


if __name__ == "__main__":
    sys.exit(main())
