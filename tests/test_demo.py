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


def test_demo_runs_the_registry_workflow_and_writes_the_comparison(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NBTRACK_HOME"}  # the default store: ./.nbtrack
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-m", "nbtrack", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Tracked 3 runs" in done.stdout and "tfidf-logreg" in done.stdout
    db = sqlite3.connect(tmp_path / ".nbtrack" / "nbtrack.db")
    assert db.execute("SELECT count(*), sum(status = 'FINISHED') FROM runs").fetchone() == (3, 3)
    # All three registered; the best (first in the printed table) holds the alias and the stage.
    best = done.stdout.split("Best first:")[1].split("------------")[-1].split()[1]
    best_run = db.execute("SELECT run_id FROM runs WHERE run_name = ?", (best,)).fetchone()[0]
    versions = db.execute("SELECT version, run_id, current_stage FROM model_versions "
                          "WHERE name = 'customer-sentiment' ORDER BY version").fetchall()
    assert len(versions) == 3
    champion = db.execute("SELECT version FROM registered_model_aliases WHERE alias = 'champion'").fetchone()[0]
    assert [v for v, run, _ in versions if run == best_run] == [champion]
    assert [v for v, _, stage in versions if stage == "Production"] == [champion]
    assert "@champion says positive (the Production stage agrees: True) for 'love this dress" in done.stdout
    assert "says negative (the Production stage agrees: True) for 'cheap fabric" in done.stdout
    page = (tmp_path / "nbtrack-demo-comparison.html").read_text()
    assert "<svg" in page and "tfidf-svm" in page and "<script" not in page.lower()
    # Reads on its own: says what was compared, best first, every run's curve, no kernel talk.
    assert "3 sentiment classifiers on generated reviews, best first" in page
    assert page.count("<polyline") == 3
    assert "kernel" not in page
