"""The durability window: a process killed at any logging rate loses at most the last
``DURABILITY_WINDOW`` seconds of points, and what it kept has no holes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_python

from nbtrack.store.write_queue import DURABILITY_WINDOW

# Each point's value is the wall-clock time it was logged, so the newest durable point says
# how much was lost: everything logged before (kill time - window) must be on disk.
FIREHOSE = """
import sys, time, nbtrack
nbtrack.set_tracking_uri(sys.argv[1])
run = nbtrack.start_run(run_name="firehose")
print(run.run_id, flush=True)
log, now, i = nbtrack.log_metric, time.time, 0
while True:  # faster than any SQLite writer: ~1-2 million calls a second unthrottled
    log("t", now(), step=i)
    i += 1
"""

READ_BACK = """
import json, sys, nbtrack
client = nbtrack.Client(sys.argv[1])
points = client.get_metric_history(sys.argv[2], "t")
steps = [p.step for p in points]
print(json.dumps({"count": len(points), "newest": max(p.value for p in points),
                  "contiguous": steps == list(range(len(steps)))}))
"""


def durable_count(store: Path) -> int:
    """Points on disk now, read by another process (no flush: only what the writer committed)."""
    result = run_python(
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)\n"
        "print(conn.execute('SELECT coalesce(sum(count), 0) FROM metric_summaries').fetchone()[0])\n",
        argv=[str(store / "nbtrack.db")],
    )
    return int(result.stdout.strip() or 0)


@pytest.mark.slow
@pytest.mark.parametrize("seconds_before_kill", [1.5, 4.0])
def test_sigkill_of_a_producer_faster_than_the_writer_loses_at_most_the_window(
        tmp_path: Path, seconds_before_kill: float) -> None:
    store = tmp_path / "store"
    producer = subprocess.Popen(
        [sys.executable, "-c", FIREHOSE, str(store)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        run_id = producer.stdout.readline().strip()
        deadline = time.time() + 30
        while durable_count(store) == 0 and time.time() < deadline:  # the loop is writing
            time.sleep(0.05)
        time.sleep(seconds_before_kill)
        killed_at = time.time()
        producer.send_signal(signal.SIGKILL)
        producer.wait(timeout=10)
    finally:
        producer.kill()
    result = run_python(READ_BACK, argv=[str(store), run_id])
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout)
    lost_seconds = killed_at - read["newest"]
    print(f"{read['count']:,} points durable; the newest was logged {lost_seconds:.3f} s before the kill")
    assert read["contiguous"], "a point in the middle of the series was lost"
    assert read["count"] > 10_000
    assert lost_seconds <= DURABILITY_WINDOW, f"lost {lost_seconds:.3f} s of points (window {DURABILITY_WINDOW} s)"
