"""The benchmark harness still runs end to end (nbtrack only, smallest workloads).

No time is asserted here: speed is reported by `python -m benchmarks` as ratios
against the peers in one run, never as a timed test.
"""

from __future__ import annotations

import pytest

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO

pytestmark = [pytest.mark.slow]  # see pyproject's markers


def test_quick_benchmarks_run_for_every_suite(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--engines", "nbtrack", "--json", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "log_metric" in done.stdout
    data = json.loads(results.read_text())
    assert data, "no results written"
    assert "error" not in json.dumps(data).lower(), json.dumps(data)[:2000]
