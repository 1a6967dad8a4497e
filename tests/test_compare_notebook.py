"""The example notebook in a real kernel: what a saved comparison costs, and what nbconvert shows.

Two ways a notebook gets executed: by a frontend that renders widgets (JupyterLab;
``LabLikeClient`` behaves like it, ``JPY_SESSION_NAME`` included), and headless
(plain nbclient, as ``jupyter nbconvert --execute`` and papermill run it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.kernel_support import REPO, run_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

EXAMPLE = REPO / "notebooks" / "02-compare-runs.ipynb"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
COMPARE_CELL = 9  # cmp = nbtrack.compare(...)


def _compare_outputs(nb: nbformat.NotebookNode) -> list[dict]:
    assert "nbtrack.compare(" in nb.cells[COMPARE_CELL].source
    return nb.cells[COMPARE_CELL].outputs


def _growth_kb(nb: nbformat.NotebookNode) -> float:
    """What the comparison adds to the saved file: its outputs and the widget state it left."""
    full = len(nbformat.writes(nb).encode())
    bare = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    bare.cells[COMPARE_CELL].outputs = []
    bare.metadata.pop("widgets", None)
    return (full - len(nbformat.writes(bare).encode())) / 1024


def test_example_notebook_live_comparison_saves_small(tmp_path: Path):
    nb = run_notebook(EXAMPLE, tmp_path / "store", timeout=300)
    [output] = _compare_outputs(nb)
    assert WIDGET_MIME in output["data"] and "text/html" in output["data"]
    static = output["data"]["text/html"]
    for name in ("sgd-small-steps", "sgd-large-steps", "sgd-strong-penalty"):
        assert name in static
    assert "<svg" in static and "★" in static
    table = nb.cells[COMPARE_CELL + 1].outputs[0]["data"]["text/plain"]
    assert "sgd-strong-penalty" in table and "params.alpha" in table
    assert nb.cells[COMPARE_CELL + 2].outputs[0]["data"]["text/plain"] == "3"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert not any(m["model_name"] == "FigureWidgetModel" or "_esm" in m["state"] for m in state.values())
    growth = _growth_kb(nb)
    print(f"saved notebook growth for one live comparison of 3 runs: {growth:.0f} KB")
    assert growth < 300, growth  # a FigureWidget alone would add ~5,000 KB


def test_headless_execution_converts_to_html_with_the_static_table(tmp_path: Path):
    """``jupyter nbconvert --execute`` (plain nbclient): no widgets, the static view in the HTML."""
    nb = nbformat.read(EXAMPLE, as_version=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "VSCODE_"))}
    env.update(NBTRACK_HOME=str(tmp_path / "store"), PYTHONPATH=str(REPO))
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)
    [output] = _compare_outputs(nb)
    assert WIDGET_MIME not in output["data"] and "widgets" not in nb.metadata
    executed = tmp_path / "executed.ipynb"
    nbformat.write(nb, executed)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(executed)],
                   check=True, capture_output=True)
    page = (tmp_path / "executed.html").read_text()
    assert page.count("nbtrack-compare-static") == 1
    static = page[page.index("nbtrack-compare-static"):]
    assert "<svg" in static[:200_000] and "sgd-large-steps" in static and "class=\"nbtrack-runs\"" in static
    print(f"static output: {_growth_kb(nb):.0f} KB")
