"""Every nbtrack surface in a real JupyterLab, light, dark and high contrast, through Chromium.

One notebook tracks a cell twice (different params), a parent run with nested
runs, and shows ``nbtrack.compare()``. In each theme the test measures the text
contrast (WCAG, from the rendered colours) of the compare table, the runs
sidebar with a run's details, the cell badge, the history dialog and its diff,
and saves screenshots. Then the kernel is shut down and the page reloaded: the
comparison must show its static table and chart, never "model not found".
Figures go to tests/artifacts/lab-views-contrast.json; screenshots beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser_support import (
    CHROMIUM,
    artifact,
    chromium,
    contrast,
    open_notebook,
    run_all_cells,
    save_notebook,
    set_theme,
    write_notebook,
    write_user_settings,
)
from tests.lab.server import running_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MIN_CONTRAST = 4.5
CELLS = [
    "%load_ext nbtrack\nimport nbtrack",
    ("%%track baseline --metrics acc\nlr = 0.1\nfor step in range(20):\n"
     "    nbtrack.log_metric('loss', 1 / (step + 1 + lr), step=step)\nacc = 0.5 + lr"),
    ("with nbtrack.start_run(run_name='sweep'):\n    for i in range(2):\n"
     "        with nbtrack.start_run(run_name=f'sweep-child-{i}', nested=True):\n"
     "            for step in range(5):\n                nbtrack.log_metric('loss', 0.5 + i - step / 10, step=step)"),
    "cmp = nbtrack.compare(metric='loss')",
]
SURFACES = {
    "compare table": ".nbtrack-compare .nbtrack-runs",
    "compare diff": ".nbtrack-compare .nbtrack-diff",
    "sidebar": "#nbtrack-runs",
    "badge": ".nbtrack-CellBadge",
    "history dialog": ".jp-Dialog .nbtrack-CellHistory",
    "diff": ".jp-Dialog .nbtrack-Diff",
}


def _cell_source(page, index: int, source: str) -> None:
    page.evaluate("([i, s]) => window.jupyterapp.shell.currentWidget.content.widgets[i]"
                  ".model.sharedModel.setSource(s)", [index, source])


def _run_cell(page, index: int) -> None:
    page.evaluate("""(i) => { const panel = window.jupyterapp.shell.currentWidget;
        panel.content.activeCellIndex = i;
        // Not awaited: the command resolves only when the cell finishes.
        void window.jupyterapp.commands.execute('notebook:run-cell'); }""", index)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")
def test_every_surface_reads_in_light_and_dark_and_compare_survives_the_kernel(tmp_path: Path) -> None:
    write_user_settings(tmp_path, {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    })
    figures: dict[str, dict[str, float]] = {}
    with running_lab(tmp_path) as lab, chromium(tmp_path / "profile", height=1100) as context:
        write_notebook(lab.root / "views.ipynb", CELLS)
        page = open_notebook(context, lab, "views.ipynb")
        run_all_cells(page)
        # Re-run the tracked cell with another lr: the cell has a history with a param change.
        _cell_source(page, 1, CELLS[1].replace("lr = 0.1", "lr = 0.3"))
        _run_cell(page, 1)
        page.wait_for_function("() => /2 runs/.test(document.querySelectorAll('.jp-CodeCell')[1]"
                               ".querySelector('.nbtrack-CellBadge')?.textContent ?? '')", timeout=30_000)
        page.evaluate("() => window.jupyterapp.commands.execute('nbtrack:open-runs')")
        sidebar = page.locator("#nbtrack-runs")
        sidebar.locator(".nbtrack-RunRow").nth(4).wait_for(timeout=20_000)

        # Each experiment once; nested runs right under their parent.
        headings = sidebar.locator(".nbtrack-ExperimentHeading").all_text_contents()
        assert len(headings) == len(set(headings)), headings
        names = sidebar.locator(".nbtrack-RunName").all_text_contents()
        parent = names.index("sweep")
        assert set(names[parent + 1: parent + 3]) == {"sweep-child-0", "sweep-child-1"}, names
        assert sidebar.locator(".nbtrack-mod-nested").count() == 2
        assert sidebar.locator(".nbtrack-Summary").text_content() == "5 shown of 5"
        # The run's colour is the one the compare view uses (both come from its id).
        colors = page.evaluate("""() => [...document.querySelectorAll('#nbtrack-runs .nbtrack-RunRow')]
            .map(r => [r.dataset.runId, getComputedStyle(r.querySelector('.nbtrack-Swatch')).backgroundColor])""")
        table_colors = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
            '.nbtrack-compare .nbtrack-runs tr[data-run]')].map(r => [r.dataset.run,
            getComputedStyle(r.querySelector('td')).borderLeftColor]))""")
        assert table_colors and all(table_colors[i] == c for i, c in colors if i in table_colors)

        sidebar.locator(".nbtrack-RunRow", has_text="baseline").first.click()
        sidebar.locator(".nbtrack-Detail .nbtrack-Spark").first.wait_for(timeout=20_000)

        for tag, theme in (("light", "JupyterLab Light"), ("dark", "JupyterLab Dark"),
                           ("high-contrast", "JupyterLab Dark High Contrast")):
            set_theme(page, theme)
            page.screenshot(path=str(artifact(f"views-{tag}-lab.png")))
            sidebar.screenshot(path=str(artifact(f"views-{tag}-sidebar.png")))
            page.locator(".jp-CodeCell").nth(3).locator(".jp-Cell-outputArea").screenshot(
                path=str(artifact(f"views-{tag}-compare.png")))
            page.locator(".jp-CodeCell").nth(1).locator(".nbtrack-CellBadge").click()
            dialog = page.locator(".jp-Dialog .nbtrack-CellHistory")
            dialog.wait_for()
            page.locator(".jp-Dialog-content").screenshot(path=str(artifact(f"views-{tag}-history.png")))
            for surface, selector in SURFACES.items():
                found = contrast(page, selector)
                assert found, f"no text measured on {surface} ({selector})"
                figures.setdefault(tag, {})[surface] = found[0]["ratio"]
                assert found[0]["ratio"] >= MIN_CONTRAST, (tag, surface, found[:3])
            page.locator(".jp-Dialog button", has_text="Close").click()
            dialog.wait_for(state="detached")

        # The comparison survives the kernel: save, shut it down, reload.
        save_notebook(page)
        lab.delete_sessions()
        for tag, theme in (("dark", "JupyterLab Dark"), ("light", "JupyterLab Light")):
            page.reload()
            page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=60_000)
            set_theme(page, theme)
            output = page.locator(".jp-CodeCell").nth(3).locator(".jp-Cell-outputArea")
            output.locator(".nbtrack-CompareStatic svg.nbtrack-plot").wait_for(timeout=30_000)
            text = output.text_content()
            assert "model not found" not in text
            assert "baseline" in text and "sweep-child-1" in text
            assert output.locator(".nbtrack-CompareStatic svg.nbtrack-plot polyline").count() >= 2
            output.screenshot(path=str(artifact(f"views-{tag}-compare-after-kernel.png")))
            found = contrast(page, ".nbtrack-CompareStatic")
            figures.setdefault(tag, {})["compare without kernel"] = found[0]["ratio"]
            assert found[0]["ratio"] >= MIN_CONTRAST, (tag, found[:3])
    artifact("lab-views-contrast.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
