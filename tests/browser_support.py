"""Playwright helpers for the compare browser tests, over ``tests/lab/server.running_lab``.

The JupyterLab process comes from the labextension's fixtures (``tests/lab/server.py``);
this module adds what the comparison tests need on top: a Debian Chromium context,
opening a notebook and waiting for its kernel, Run All, save, output screenshots.
Nothing here downloads a browser: Chromium is ``/usr/bin/chromium`` (apt).

Example:
    >>> with running_lab(tmp_path) as lab, chromium(tmp_path / "profile") as context:  # doctest: +SKIP
    ...     page = open_notebook(context, lab, "demo.ipynb")
    ...     run_all_cells(page)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.lab.server import Lab

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
ARTIFACTS = REPO / "tests" / "artifacts"


@contextlib.contextmanager
def chromium(profile: Path, height: int = 1000) -> Iterator[Any]:
    """A headless Debian Chromium (persistent context) driven by playwright; a tall ``height``
    lets a screenshot hold a whole output (the notebook scrolls inside its panel)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": height})
        try:
            yield context
        finally:
            context.close()


def open_notebook(context: Any, lab: Lab, path: str) -> Any:
    """Open ``path`` (relative to the lab root) in a fresh page; wait until its kernel is idle."""
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(lab.url(f"lab/tree/{path}", reset=""))
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=60_000)
    # A Run All sent while the kernel is still starting is dropped: wait for "idle".
    page.wait_for_function(
        """() => { const panel = window.jupyterapp?.shell.currentWidget;
                   return panel?.sessionContext?.session?.kernel?.status === 'idle'; }""",
        timeout=90_000)
    return page


def run_all_cells(page: Any, timeout_ms: int = 180_000) -> None:
    """Run every cell (JupyterLab's Run All) and wait until each has an execution count.

    Only the cells present before the run count: ``set_next_input`` (restore) adds
    cells that are never run.
    """
    ids = page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
                                   .filter(c => c.model.type === 'code').map(c => c.model.id)""")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """(ids) => { const nb = window.jupyterapp.shell.currentWidget.content;
                      const cells = nb.widgets.filter(c => ids.includes(c.model.id));
                      return cells.length === ids.length
                             && cells.every(c => c.model.executionCount !== null)
                             && nb.parent.sessionContext.session.kernel.status === 'idle'; }""",
        arg=ids, timeout=timeout_ms)


def save_notebook(page: Any) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")


def artifact(name: str) -> Path:
    """Where a test keeps a screenshot for humans to look at (tests/artifacts/, gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def screenshot_output(page: Any, cell: int, name: str) -> Path:
    """Screenshot cell ``cell``'s output area (the notebook scrolls inside its panel)."""
    path = artifact(name)
    page.locator(".jp-CodeCell").nth(cell).locator(".jp-Cell-outputArea").screenshot(path=str(path))
    return path


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook of code cells (nbformat 4.5, with cell ids)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
