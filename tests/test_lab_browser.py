"""nbtrack in a real JupyterLab driven by Debian's Chromium (python playwright, no downloads).

One flow, as a user would go: open a notebook, run ``%%track`` cells, watch the
runs appear in the sidebar and the badge on the cell, edit and re-run a cell
without saving (the frontend context channel must carry the unsaved code into
the run's snapshot), restore the earlier version from the cell's history,
open a snapshot, and insert a compare cell. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab.server import Lab, running_lab

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Without the background-networking flags Chromium floods the closed network with connections.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]  # fmt: skip
# No spaces, so the magic takes it as one unquoted word; as HTML it would run script.
EVIL_NAME = "<img/src=x/onerror=window.__nbtrack_pwned=1>"


def _cell(cell_id: str, source: str) -> dict:
    return {"id": cell_id, "cell_type": "code", "metadata": {}, "execution_count": None,
            "outputs": [], "source": source}  # fmt: skip


NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "cells": [
        _cell("setup", "%load_ext nbtrack\nimport nbtrack"),
        _cell("train", "%%track baseline --metrics acc\nlr = 0.1\nacc = 0.5 + lr"),
        _cell("evil", f"%%track {EVIL_NAME} --metrics acc\nacc = 0.25"),
    ],
}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium)"
        )
    with running_lab(tmp_path) as running:
        work = running.root / "work"
        work.mkdir()
        (work / "demo.ipynb").write_text(json.dumps(NOTEBOOK))
        yield running


@pytest.fixture
def page(tmp_path: Path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1500, "height": 950},
        )  # fmt: skip
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            context.close()
            shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def run_cell(page, index: int) -> None:
    """Select cell ``index`` of the current notebook and run it as Shift+Enter would."""
    page.evaluate(
        """async (index) => {
            const panel = window.jupyterapp.shell.currentWidget;
            panel.content.activeCellIndex = index;
            await window.jupyterapp.commands.execute('notebook:run-cell');
        }""",
        index,
    )


def cell_source(page, index: int) -> str:
    return page.evaluate(
        "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.getSource()",
        index,
    )


def wait_for_execution_count(page, index: int, count: int) -> None:
    page.wait_for_function(
        """([i, n]) => {
            const cell = window.jupyterapp.shell.currentWidget.content.widgets[i];
            return cell.model.executionCount === n;
        }""",
        arg=[index, count],
        timeout=60_000,
    )


def test_runs_sidebar_badges_history_and_snapshot(lab: Lab, page) -> None:
    page.goto(lab.url("lab/tree/work/demo.ipynb", reset=""))
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=60_000)
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
        timeout=60_000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('nbtrack:open-runs')")
    sidebar = page.locator("#nbtrack-runs")
    sidebar.wait_for()

    for index in range(3):
        run_cell(page, index)
        wait_for_execution_count(page, index, index + 1)

    # Both runs appear in the sidebar, the hostile run name as plain text.
    rows = sidebar.locator(".nbtrack-RunRow")
    rows.nth(1).wait_for(timeout=20_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#nbtrack-runs .nbtrack-RunRow')]"
        ".every(r => r.dataset.status === 'FINISHED')"
    )
    names = sidebar.locator(".nbtrack-RunName").all_text_contents()
    assert names == [EVIL_NAME, "baseline"]
    assert page.evaluate("() => window.__nbtrack_pwned") is None
    assert sidebar.locator("img").count() == 0
    assert "acc 0.6" in rows.nth(1).text_content()
    page.screenshot(path=str(ARTIFACTS / "lab-sidebar-runs.png"))

    # The cell badge: last status, duration, headline metric.
    train_cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(1)
    badge = train_cell.locator(".nbtrack-CellBadge")
    badge.wait_for(timeout=20_000)
    assert re.search(r"finished · .+ · acc 0\.6 · 1 run", badge.text_content())

    # Edit without saving and run again: the frontend context carries the unsaved code.
    page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.content.widgets[1].model.sharedModel
            .setSource('%%track baseline --metrics acc\\nlr = 0.3\\nacc = 0.5 + lr')"""
    )
    run_cell(page, 1)
    wait_for_execution_count(page, 1, 4)
    page.wait_for_function(
        "() => /2 runs/.test(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')[1]"
        ".querySelector('.nbtrack-CellBadge')?.textContent ?? '')",
        timeout=20_000,
    )
    assert "acc 0.8" in badge.text_content()
    runs = lab.api("nbtrack/api/cells/train/runs?store=work")["runs"]
    assert [r["code"].splitlines()[-2] for r in runs] == ["lr = 0.3", "lr = 0.1"]
    newest = lab.api(f"nbtrack/api/runs/{runs[0]['run_id']}?store=work")
    recorded_path = newest["notebook_path"]
    file_snapshots = [a["path"] for a in newest["artifacts"] if a["path"].endswith(".file.ipynb")]
    assert file_snapshots, newest["artifacts"]  # only the frontend channel can produce this one
    snapshot = lab.api(
        f"nbtrack/api/runs/{runs[0]['run_id']}/artifacts/{file_snapshots[0]}?store=work"
    )
    assert "lr = 0.3" in "".join(snapshot["cells"][1]["source"])  # unsaved on disk, present here
    # The tracked cell as this run left it: its own count and outputs, not the previous run's.
    assert snapshot["cells"][1]["execution_count"] == 4
    assert snapshot["cells"][1]["outputs"] == []  # the body shows nothing; the summary is the magic's
    assert "lr = 0.3" not in (lab.root / "work" / "demo.ipynb").read_text()

    # The cell's history: diff against the current code, then restore the older version.
    badge.click()
    dialog = page.locator(".jp-Dialog .nbtrack-CellHistory")
    dialog.wait_for()
    assert dialog.locator(".nbtrack-HistoryRow").count() == 2
    # The usual direction: "−" then (the earlier run's code), "+" now (the cell), labelled.
    assert dialog.locator(".nbtrack-Diff-removed").all_text_contents() == ["− lr = 0.1"]
    assert dialog.locator(".nbtrack-Diff-added").all_text_contents() == ["+ lr = 0.3"]
    assert "− then" in dialog.locator(".nbtrack-DiffHeader").last.text_content()
    # The params that differ between the cell's runs, one row per run.
    params = dialog.locator(".nbtrack-ParamsDiffer")
    assert params.locator("th").all_text_contents() == ["run", "lr"]
    assert sorted(params.locator("tr td:nth-child(2)").all_text_contents()) == ["0.1", "0.3"]
    page.screenshot(path=str(ARTIFACTS / "lab-cell-history.png"))
    dialog.locator(".nbtrack-Restore").click()
    assert cell_source(page, 1) == "%%track baseline --metrics acc\nlr = 0.1\nacc = 0.5 + lr"
    page.locator(".jp-Dialog button", has_text="Close").click()

    # Run details and the read-only snapshot.
    sidebar.locator(".nbtrack-RunRow", has_text="baseline").first.click()
    detail = sidebar.locator(".nbtrack-Detail")
    detail.wait_for()
    params = detail.locator("details", has=page.locator("summary", has_text="Params"))
    assert "lr" in params.text_content()
    detail.locator("button", has_text="Open snapshot").click()
    view = page.locator(".nbtrack-Snapshot")
    view.wait_for()
    # Cells render through JupyterLab's markdown renderer (asynchronously).
    view.locator(".nbtrack-SnapshotSource", has_text="lr = 0.3").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "lab-snapshot.png"))

    # Compare: tick two runs, insert the cell.
    page.evaluate("() => window.jupyterapp.shell.currentWidget.close()")  # the snapshot tab
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden)")
    boxes = sidebar.locator(".nbtrack-RunRow input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    sidebar.locator(".nbtrack-Compare").click()
    sources = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets.map(w => w.model.sharedModel.getSource())"
    )
    # At the end of the notebook, with short ids.
    assert re.fullmatch(r'import nbtrack\n\nnbtrack.compare\(runs=\["\w{8}", "\w{8}"\]\)', sources[-1]), sources

    # The context's server_root lets the kernel record the notebook's true absolute path.
    assert recorded_path == str((lab.root / "work" / "demo.ipynb").resolve())


def test_sidebar_explains_a_missing_server_extension(tmp_path: Path, page) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium)"
        )
    with running_lab(tmp_path, server_extension=False) as lab:
        (lab.root / "a.ipynb").write_text(json.dumps({**NOTEBOOK, "cells": NOTEBOOK["cells"][:1]}))
        page.goto(lab.url("lab/tree/a.ipynb", reset=""))
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=60_000)
        page.evaluate("() => window.jupyterapp.commands.execute('nbtrack:open-runs')")
        notice = page.locator("#nbtrack-runs .nbtrack-Notice-error")
        notice.wait_for(timeout=20_000)
        text = notice.text_content()
        assert (
            "pip install nbtrack" in text
            and "jupyter server extension enable nbtrack.server" in text
        )
        page.screenshot(path=str(ARTIFACTS / "lab-server-missing.png"))
