"""The README's first command: `nbtrack demo` tracks real runs and shows the comparison."""

from __future__ import annotations

import pytest

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import REPO

pytestmark = [pytest.mark.slow]  # see pyproject's markers


def test_demo_tracks_four_runs_and_writes_the_comparison(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NBTRACK_HOME"}  # the default store: ./.nbtrack
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-m", "nbtrack", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Tracked 4 runs" in done.stdout and "forest-100" in done.stdout
    runs = sqlite3.connect(tmp_path / ".nbtrack" / "nbtrack.db").execute(
        "SELECT count(*), sum(status = 'FINISHED') FROM runs").fetchone()
    assert runs == (4, 4)
    page = (tmp_path / "nbtrack-demo-comparison.html").read_text()
    assert "<svg" in page and "mlp-64" in page and "<script" not in page.lower()
    # Reads on its own: says what was compared, best first, every run's curve, no kernel talk.
    assert "scikit-learn classifiers on the digits data, best first" in page
    table = page[page.index("<table"):]
    assert table.index("forest-100") < table.index("mlp-64") < table.index("gaussian-nb")
    assert page.count("<polyline") == 4
    assert "kernel" not in page
