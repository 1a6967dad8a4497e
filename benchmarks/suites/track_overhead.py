"""The ``%%track`` suite: overhead on a trivial cell, snapshot storage, fingerprint cost.

nbtrack only (no peer has a cell magic that records a run). Each function drives
a real ``InteractiveShell`` in the worker, with the extension loaded as a user
loads it, a notebook file on disk (so the file snapshot is taken too), and HTML
formatting on (as a kernel formats the summary). Timed regions are whole
``run_cell`` calls, hooks included.

Overhead is steady state (measured after five tracked cells, once the worker has
read package metadata) and side by side in one run: the same cell ``x = 1`` with and
without ``%%track``, in alternating order, each sample taken with the history
held at the stated execution count (the history is truncated back after every
pair, so "at 1,000" means every sample saw a 1,000-cell session).
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import time
from typing import Any

from benchmarks.registry import Context, Result, benchmark

TRIVIAL = "x = 1"
TRACKED = "%%track\nx = 1"


def _shell(ctx: Context) -> Any:
    """The worker's IPython shell, reset, writing to this job's store, nbtrack loaded."""
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    import nbtrack

    config = Config()
    config.HistoryManager.enabled = False  # the in-memory history (what snapshots read) stays
    shell = InteractiveShell.instance(config=config)
    if "nbtrack" in shell.extension_manager.loaded:
        shell.run_line_magic("unload_ext", "nbtrack")
    shell.reset(new_session=True)
    shell.execution_count = 1
    nbtrack.set_tracking_uri(str(ctx.store))
    shell.display_formatter.active_types = ["text/plain", "text/html"]
    notebook = ctx.store / "bench.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(TRACKED)]), notebook)
    shell.user_ns["__session__"] = str(notebook)
    shell.run_line_magic("load_ext", "nbtrack")
    return shell


def _timed(shell: Any, cell: str) -> float:
    start = time.perf_counter()
    result = shell.run_cell(cell, store_history=True)
    elapsed = time.perf_counter() - start
    if not result.success:
        raise RuntimeError(f"benchmark cell failed: {result.error_in_exec or result.error_before_exec}")
    return elapsed


def _hold_history(shell: Any, count: int) -> None:
    """Put the session back at ``count`` executed cells (drop what the last pair added)."""
    history = shell.history_manager
    del history.input_hist_raw[count:]
    del history.input_hist_parsed[count:]
    shell.execution_count = count


def _overhead(ctx: Context, count: int) -> Result:
    pairs = ctx.params["pairs"]
    shell = _shell(ctx)
    for i in range(1, count):  # a session of count - 1 cells, varied like real ones
        shell.run_cell(f"v{i % 50} = {i}", store_history=True)
    plain, tracked = [], []
    session = shell.magics_manager.registry["TrackMagics"].session
    with contextlib.redirect_stdout(io.StringIO()):  # the summary's repr, not terminal speed
        for _ in range(5):  # first cells: imports, git, package metadata on the worker
            shell.run_cell(TRACKED, store_history=True)
        session.worker.drain(timeout=60)
        for i in range(pairs):
            order = (TRIVIAL, TRACKED) if i % 2 else (TRACKED, TRIVIAL)
            times = {}
            for cell in order:
                _hold_history(shell, count)
                times[cell] = _timed(shell, cell)
            plain.append(times[TRIVIAL])
            tracked.append(times[TRACKED])
    session.worker.drain(timeout=30)
    overhead = statistics.median(t - p for t, p in zip(tracked, plain)) * 1000
    shell.run_line_magic("unload_ext", "nbtrack")
    return Result(overhead, extra={
        "execution_count": count, "pairs": pairs,
        "plain_median_ms": statistics.median(plain) * 1000,
        "tracked_median_ms": statistics.median(tracked) * 1000,
        "tracked_p90_ms": sorted(tracked)[int(len(tracked) * 0.9)] * 1000,
    })


@benchmark("track", "overhead_count10", title="%%track overhead on `x = 1` at execution count 10",
           unit="ms", full={"pairs": 200}, quick={"pairs": 40}, engines=("nbtrack",),
           target="≤ 5 ms median", target_max=5.0, ratios=False, repeats_inside=True, needs_engine=False)
def overhead_count10(engine: Any, ctx: Context) -> Result:
    """Median of (tracked - plain) over alternating pairs, session held at 10 cells."""
    return _overhead(ctx, 10)


@benchmark("track", "overhead_count1000", title="%%track overhead on `x = 1` at execution count 1,000",
           unit="ms", full={"pairs": 200}, quick={"pairs": 40}, engines=("nbtrack",),
           target="≤ 5 ms median", target_max=5.0, ratios=False, repeats_inside=True, needs_engine=False)
def overhead_count1000(engine: Any, ctx: Context) -> Result:
    """As above, with a 1,000-cell history (the snapshot then holds 1,000 cells)."""
    return _overhead(ctx, 1000)


@benchmark("track", "snapshot_bytes", title="notebook snapshots stored for {runs} runs of an unchanged notebook",
           unit="KiB", full={"runs": 100}, quick={"runs": 20}, engines=("nbtrack",),
           target="one copy, not one per run", ratios=False, repeats_inside=True, needs_engine=False)
def snapshot_bytes(engine: Any, ctx: Context) -> Result:
    """Execute the same 3-cell notebook ``runs`` times from a fresh history; bytes on disk vs referenced."""
    from nbtrack.tracking import fluent
    from nbtrack.store import queries

    runs = ctx.params["runs"]
    shell = _shell(ctx)
    session_path = shell.user_ns["__session__"]
    cells = ["import math", "values = [1.5, 2.5, 3.5]",
             "%%track unchanged\nalpha = 0.5\ntotal = math.fsum(values) * alpha"]
    with contextlib.redirect_stdout(io.StringIO()):
        for _ in range(runs):
            shell.reset(new_session=True)  # a fresh kernel: same cells, same counts
            shell.execution_count = 1
            shell.user_ns["__session__"] = session_path
            for cell in cells:
                shell.run_cell(cell, store_history=True)
    shell.magics_manager.registry["TrackMagics"].session.worker.drain(timeout=60)
    store = fluent.read_store()
    referenced = 0
    digests: dict[str, int] = {}
    found = queries.search_runs(store)
    for run in found:
        for path, digest, size in queries.artifact_entries(store, run.info.run_id, "notebook"):
            referenced += size
            digests[digest] = size
    on_disk = sum(os.path.getsize(store.blobs_dir / d[:2] / d) for d in digests)
    shell.run_line_magic("unload_ext", "nbtrack")
    return Result(on_disk / 1024, extra={
        "runs": len(found), "distinct_blobs": len(digests), "bytes_if_copied": referenced, "bytes_stored": on_disk,
    }, note=f"{len(found)} runs reference {referenced / 1024:.1f} KiB of snapshots; "
            f"{len(digests)} distinct blobs are stored")


@benchmark("track", "fingerprint_large_frame",
           title="fingerprint of a {rows:,}×10 float DataFrame read by a cell (sampled)",
           unit="ms", full={"rows": 5_000_000}, quick={"rows": 1_000_000}, engines=("nbtrack",),
           target="constant in the frame's size", ratios=False, repeats_inside=True, needs_engine=False)
def fingerprint_large_frame(engine: Any, ctx: Context) -> Result:
    """Median time of ``%%track``'s fingerprint of a large frame, against a full hash once."""
    import numpy as np
    import pandas as pd

    from nbtrack.capture.inputs import FingerprintCache
    from nbtrack.tracking.inputs import fingerprint

    frame = pd.DataFrame(np.random.default_rng(0).random((ctx.params["rows"], 10)),
                         columns=[f"f{i}" for i in range(10)])
    cache = FingerprintCache()
    times = []
    for _ in range(21):
        start = time.perf_counter()
        cache.describe(frame, "frame")
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    fingerprint(frame)
    full = time.perf_counter() - start
    return Result(statistics.median(times) * 1000, extra={
        "frame_mb": frame.memory_usage().sum() / 1e6, "full_hash_ms": full * 1000,
    }, note=f"a full hash of the same {frame.memory_usage().sum() / 1e6:.0f} MB frame takes {full * 1000:.0f} ms")
