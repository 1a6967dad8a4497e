"""The runs sidebar's states and the smaller surfaces, in a real JupyterLab and Chromium.

- before any store exists: a message, and not one 404 in the browser;
- a running run: elapsed time and its latest metric, live;
- the filter: applies as you type, an error clears the list, the count is "shown of total";
- the command palette lists nbtrack's commands;
- the snapshot: a read-only notebook (markdown rendered, code highlighted, outputs), the
  tracked cell marked; screenshots in light and dark.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import (
    CHROMIUM,
    artifact,
    chromium,
    open_notebook,
    set_theme,
    write_notebook,
    write_user_settings,
)
from tests.lab.server import running_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent")]

LIVE_RUN = ("import time, nbtrack\n"
            "with nbtrack.start_run(run_name='live-training'):\n"
            "    for step in range(100000):\n"
            "        nbtrack.log_metric('loss', 1 / (step + 1), step=step)\n"
            "        nbtrack.flush()\n"
            "        time.sleep(0.05)")


def _run_cell(page, index: int) -> None:
    page.evaluate("""(i) => { const panel = window.jupyterapp.shell.currentWidget;
        panel.content.activeCellIndex = i;
        // Not awaited: the command resolves only when the cell finishes.
        void window.jupyterapp.commands.execute('notebook:run-cell'); }""", index)


def test_empty_store_running_run_and_filter(tmp_path: Path) -> None:
    write_user_settings(tmp_path, {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"}})
    not_found: list[str] = []
    with running_lab(tmp_path) as lab, chromium(tmp_path / "profile") as context:
        write_notebook(lab.root / "live.ipynb", [
            "%load_ext nbtrack\nimport nbtrack",
            *[f"%%track sweep-{i} --metrics acc\nlr = {i / 10}\nacc = 0.5 + lr" for i in range(3)],
            LIVE_RUN,
        ])
        context.on("response", lambda r: not_found.append(r.url) if r.status == 404 else None)
        page = open_notebook(context, lab, "live.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('nbtrack:open-runs')")
        sidebar = page.locator("#nbtrack-runs")

        # No store yet: a message, no 404 (the badges poll too).
        notice = sidebar.locator(".nbtrack-Notice-info")
        notice.wait_for(timeout=20_000)
        assert "No runs here yet" in notice.text_content()
        page.evaluate("() => window.jupyterapp.commands.execute('nbtrack:open-runs')")
        sidebar.screenshot(path=str(artifact("states-light-sidebar-empty.png")))
        assert not [u for u in not_found if "/nbtrack/" in u], not_found

        for i in range(4):
            _run_cell(page, i)
        sidebar.locator(".nbtrack-RunRow").nth(2).wait_for(timeout=30_000)

        # A running run shows its elapsed time and latest metric, and both move.
        _run_cell(page, 4)
        live = sidebar.locator(".nbtrack-RunRow[data-status=RUNNING]")
        live.wait_for(timeout=30_000)
        meta = live.locator(".nbtrack-Meta")
        page.wait_for_function(
            "() => /\\d.* · loss \\S+/.test(document.querySelector("
            "'#nbtrack-runs .nbtrack-RunRow[data-status=RUNNING] .nbtrack-Meta')?.textContent ?? '')",
            timeout=30_000)
        first = meta.text_content()
        page.wait_for_function(
            "(first) => document.querySelector('#nbtrack-runs .nbtrack-RunRow[data-status=RUNNING] "
            ".nbtrack-Meta')?.textContent !== first", arg=first, timeout=30_000)
        sidebar.screenshot(path=str(artifact("states-light-sidebar-running.png")))
        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.interrupt()")
        page.wait_for_function("() => !document.querySelector('#nbtrack-runs .nbtrack-RunRow[data-status=RUNNING]')",
                               timeout=30_000)

        # The filter applies as you type (no Enter), counts shown of total.
        summary = sidebar.locator(".nbtrack-Summary")
        page.wait_for_function("() => document.querySelector('#nbtrack-runs .nbtrack-Summary')"
                               ".textContent === '4 shown of 4'", timeout=20_000)
        box = sidebar.locator(".nbtrack-Filter")
        box.press_sequentially("params.lr = '0.1'", delay=20)
        page.wait_for_function("() => document.querySelector('#nbtrack-runs .nbtrack-Summary')"
                               ".textContent === '1 shown of 1'", timeout=20_000)
        assert sidebar.locator(".nbtrack-RunName").all_text_contents() == ["sweep-1"]
        # A broken filter: the message, and no stale list under it.
        box.fill("params.lr = = 1")
        sidebar.locator(".nbtrack-Notice-error").wait_for(timeout=20_000)
        assert sidebar.locator(".nbtrack-RunRow").count() == 0
        assert summary.text_content() == ""
        sidebar.screenshot(path=str(artifact("states-light-sidebar-filter-error.png")))
        set_theme(page, "JupyterLab Dark")
        sidebar.screenshot(path=str(artifact("states-dark-sidebar-filter-error.png")))
        box.fill("")
        page.wait_for_function("() => document.querySelector('#nbtrack-runs .nbtrack-Summary')"
                               ".textContent === '4 shown of 4'", timeout=20_000)

        # Command palette: the three nbtrack commands.
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:activate-command-palette')")
        page.locator(".lm-CommandPalette-input").wait_for()
        page.locator(".lm-CommandPalette-input").fill("nbtrack")
        page.locator(".lm-CommandPalette-item", has_text="Show runs sidebar").wait_for()
        items = page.locator(".lm-CommandPalette-item").all_text_contents()
        for label in ("Show runs sidebar", "Compare selected runs", "run history"):
            assert any(label in item for item in items), items
        page.keyboard.press("Escape")


def test_snapshot_reads_as_a_notebook(tmp_path: Path) -> None:
    write_user_settings(tmp_path, {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"}})
    with running_lab(tmp_path) as lab, chromium(tmp_path / "profile") as context:
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# Training notes\nThe **baseline** first."),
                    nbformat.v4.new_code_cell("%load_ext nbtrack\nimport nbtrack\nprint('data loaded')"),
                    nbformat.v4.new_code_cell("%%track baseline --metrics acc\nlr = 0.1\nacc = 0.5 + lr\n"
                                              "print('trained', lr)")]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, lab.root / "snap.ipynb")
        page = open_notebook(context, lab, "snap.ipynb")
        # One cell at a time: the snapshot holds the outputs the notebook had when the run began.
        _run_cell(page, 1)
        page.locator(".jp-CodeCell").first.locator(".jp-OutputArea-output", has_text="data loaded").wait_for()
        _run_cell(page, 2)
        page.evaluate("() => window.jupyterapp.commands.execute('nbtrack:open-runs')")
        sidebar = page.locator("#nbtrack-runs")
        sidebar.locator(".nbtrack-RunRow").first.wait_for(timeout=30_000)
        sidebar.locator(".nbtrack-RunRow").first.click()
        sidebar.locator("button", has_text="Open snapshot").click()
        view = page.locator(".nbtrack-Snapshot")
        view.wait_for()
        view.locator(".nbtrack-SnapshotCell-markdown h1").wait_for()  # markdown rendered
        assert view.locator(".nbtrack-SnapshotCell-markdown strong").text_content() == "baseline"
        tracked = view.locator(".nbtrack-mod-tracked")
        assert tracked.count() == 1 and "acc = 0.5 + lr" in tracked.text_content()
        # Code highlighted by CodeMirror's highlighter (token spans); earlier outputs rendered.
        page.wait_for_function("() => document.querySelector('.nbtrack-mod-tracked .nbtrack-SnapshotSource pre span[class]')")
        loaded = view.locator(".nbtrack-SnapshotCell-code").first
        assert "data loaded" in loaded.locator(".nbtrack-SnapshotOutput").text_content()
        assert loaded.locator(".nbtrack-SnapshotPrompt").text_content() == "[1]:"
        assert tracked.locator(".nbtrack-SnapshotPrompt").text_content().startswith("[2]:")
        page.screenshot(path=str(artifact("states-light-snapshot.png")))
        set_theme(page, "JupyterLab Dark")
        page.screenshot(path=str(artifact("states-dark-snapshot.png")))
