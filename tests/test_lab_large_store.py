"""The runs sidebar over a 10,000-run store, in a real JupyterLab and Chromium.

Not a timed test (speed is the server benchmark's job: the first page takes about
10 ms of server time). This checks what "stays responsive" means to a user: the
sidebar shows one page, not 10,000 rows; filtering and "Show more" answer; and the
notebook beside it still runs cells.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lab.server import running_lab
from lab.stores import build_many_runs
from test_lab_browser import ARTIFACTS, CHROMIUM, page, run_cell  # noqa: F401 - page is a fixture

pytestmark = pytest.mark.browser

NOTEBOOK = {
    "nbformat": 4, "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "cells": [{"id": "sum", "cell_type": "code", "metadata": {}, "execution_count": None,
               "outputs": [], "source": "1 + 1"}],
}  # fmt: skip


def test_sidebar_pages_and_filters_a_10000_run_store(tmp_path: Path, page) -> None:  # noqa: F811
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium)")
    with running_lab(tmp_path) as lab:
        big = lab.root / "big"
        big.mkdir()
        build_many_runs(big, 10_000)
        (big / "a.ipynb").write_text(json.dumps(NOTEBOOK))
        page.goto(lab.url("lab/tree/big/a.ipynb", reset=""))
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=60_000)
        page.evaluate("() => window.jupyterapp.commands.execute('nbtrack:open-runs')")
        sidebar = page.locator("#nbtrack-runs")
        summary = sidebar.locator(".nbtrack-Summary")
        summary.filter(has_text="50 shown of 10000").wait_for(timeout=30_000)
        assert sidebar.locator(".nbtrack-RunRow").count() == 50  # one page in the DOM, not 10,000

        # The filter language, answered by the server over the whole store.
        sidebar.locator(".nbtrack-Filter").fill("metrics.acc > 0.99 and tags.parity = '1'")
        sidebar.locator(".nbtrack-Filter").press("Enter")
        # build_many_runs: acc = (i % 1000) / 1000, parity = i % 2
        expected = sum(1 for i in range(10_000) if (i % 1000) / 1000 > 0.99 and i % 2 == 1)
        summary.filter(has_text=f"{min(expected, 50)} shown of {expected}").wait_for()
        assert sidebar.locator(".nbtrack-RunRow").count() == min(expected, 50)

        sidebar.locator(".nbtrack-Filter").fill("")
        sidebar.locator(".nbtrack-Filter").press("Enter")
        summary.filter(has_text="50 shown of 10000").wait_for()
        sidebar.locator(".nbtrack-More").click()
        summary.filter(has_text="100 shown of 10000").wait_for()

        # The notebook beside it is not blocked: a cell still runs and shows its result.
        run_cell(page, 0)
        page.locator(".jp-OutputArea-output", has_text="2").first.wait_for(timeout=60_000)
        sidebar.screenshot(path=str(ARTIFACTS / "lab-sidebar-10000-runs.png"))
