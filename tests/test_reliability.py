"""Several real processes on one store, and a process killed while logging."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

WRITER = """
import sys, nbtrack
worker = int(sys.argv[1])
nbtrack.set_experiment("concurrent")
for i in range(250):
    with nbtrack.start_run(run_name=f"w{worker}-{i}", tags={"worker": str(worker)}):
        nbtrack.log_params({"worker": worker, "i": i})
        for step in range(20):
            nbtrack.log_metric("loss", 1.0 / (step + 1), step=step)
        nbtrack.log_metric("final", float(i))
print("done", worker)
"""


@pytest.mark.slow
def test_four_processes_writing_one_store_lose_nothing(nbtrack_home: Path) -> None:
    env = {**os.environ, "NBTRACK_HOME": str(nbtrack_home), "PYTHONPATH": str(REPO)}
    workers = [subprocess.Popen([sys.executable, "-c", WRITER, str(n)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(4)]
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
        assert "NbtrackWarning" not in err
    conn = sqlite3.connect(nbtrack_home / "nbtrack.db")
    assert conn.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone() == (1000, 1000)
    assert conn.execute("SELECT count(*) FROM runs WHERE status = 'FINISHED'").fetchone()[0] == 1000
    assert conn.execute("SELECT count(*) FROM params").fetchone()[0] == 2000
    assert conn.execute("SELECT coalesce(sum(count), 0) FROM metric_blocks").fetchone()[0] == 1000 * 21
    # Summaries agree with the history for every run.
    assert conn.execute(
        "SELECT count(*) FROM metric_summaries WHERE key = 'loss' AND count = 20 AND min_value = 0.05 "
        "AND max_value = 1.0 AND last_step = 19").fetchone()[0] == 1000


LOGGER = """
import sys, nbtrack
run = nbtrack.start_run(run_name="killed")
print(run.run_id, flush=True)
step = 0
while True:
    nbtrack.log_metric("seq", float(step), step=step)
    if step % 100 == 0:
        print(step, flush=True)
        import time; time.sleep(0.005)  # about 20,000 points a second
    step += 1
"""


@pytest.mark.slow
def test_sigkill_loses_at_most_the_last_flush_interval(nbtrack_home: Path) -> None:
    env = {**os.environ, "NBTRACK_HOME": str(nbtrack_home), "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", LOGGER], env=env, stdout=subprocess.PIPE, text=True)
    run_id = child.stdout.readline().strip()
    last_printed = 0
    started = time.monotonic()
    while last_printed < 20_000 and time.monotonic() - started < 60:
        last_printed = int(child.stdout.readline())
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    for line in child.stdout:  # everything the child printed before it died
        last_printed = int(line)
    child.wait()
    logged_per_second = last_printed / (time.monotonic() - started)

    # Read from a fresh process, as a user would after the crash.
    reader = subprocess.run(
        [sys.executable, "-c",
         "import nbtrack, sys; c = nbtrack.Client(); r = c.get_run(sys.argv[1]); "
         "h = c.get_metric_history(sys.argv[1], 'seq'); "
         "print(r.info.status.value, len(h), int(h[-1].value), all(int(m.value) == m.step for m in h))",
         run_id],
        env=env, capture_output=True, text=True, timeout=60)
    status, count, last_value, consistent = reader.stdout.split()
    assert status == "CRASHED"  # the dead pid was noticed on open
    assert consistent == "True" and int(count) == int(last_value) + 1  # a prefix, no gaps
    lost = last_printed - int(last_value)
    # The flusher writes every 0.1 s; allow a full second of points for a loaded 2-core machine.
    assert lost <= max(logged_per_second, 2_000), (lost, logged_per_second)
