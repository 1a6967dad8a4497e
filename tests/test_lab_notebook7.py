"""nbtrack in Notebook 7 (the same labextension, a different shell), through Debian's Chromium.

Runs a ``%%track`` cell and ``nbtrack.compare()`` in a real Notebook 7 server:
the cell badge, the runs panel (Notebook 7's right side panel) and the inline
comparison all appear. Then the kernel is shut down and the page reloaded: the
comparison shows its static table and chart. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import (
    CHROMIUM,
    artifact,
    chromium,
    save_notebook,
    write_notebook,
    write_user_settings,
)
from tests.lab.server import running_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent")]

CELLS = [
    "%load_ext nbtrack\nimport nbtrack",
    "%%track nb7-run --metrics acc\nlr = 0.1\nfor s in range(10):\n    nbtrack.log_metric('loss', 1 / (s + 1), step=s)\nacc = 0.5 + lr",
    "cmp = nbtrack.compare(metric='loss')",
]


def test_runs_panel_badges_and_compare_in_notebook7(tmp_path: Path) -> None:
    pytest.importorskip("notebook", minversion="7")
    write_user_settings(tmp_path, {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"}})
    with running_lab(tmp_path, app="notebook") as lab, chromium(tmp_path / "profile") as context:
        write_notebook(lab.root / "nb7.ipynb", CELLS)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(lab.url("notebooks/nb7.ipynb"))
        page.wait_for_function(
            "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
            timeout=90_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.locator(".nbtrack-compare .nbtrack-runs").wait_for(timeout=90_000)
        assert "nb7-run" in page.locator(".nbtrack-compare .nbtrack-runs").text_content()
        page.locator(".nbtrack-compare .js-plotly-plot .scatterlayer path.js-line").first.wait_for()
        badge = page.locator(".jp-CodeCell").nth(1).locator(".nbtrack-CellBadge")
        badge.wait_for(timeout=30_000)
        assert "acc 0.6" in badge.text_content()

        page.evaluate("() => window.jupyterapp.commands.execute('nbtrack:open-runs')")
        row = page.locator("#nbtrack-runs .nbtrack-RunRow")
        row.first.wait_for(timeout=30_000)
        assert row.first.locator(".nbtrack-RunName").text_content() == "nb7-run"
        page.screenshot(path=str(artifact("nb7-light-notebook.png")))

        # Without the kernel: the static view, never "model not found".
        save_notebook(page)
        lab.delete_sessions()
        page.reload()
        output = page.locator(".jp-CodeCell").nth(2).locator(".jp-Cell-outputArea")
        output.locator(".nbtrack-CompareStatic svg.nbtrack-plot polyline").first.wait_for(timeout=60_000)
        assert "model not found" not in output.text_content()
        assert "nb7-run" in output.text_content()
        output.screenshot(path=str(artifact("nb7-light-compare-after-kernel.png")))
