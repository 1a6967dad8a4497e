"""A real JupyterLab and a real Chromium for browser tests (python playwright, Debian chromium).

Nothing here downloads a browser: Chromium is ``/usr/bin/chromium`` (apt).
JupyterLab runs in a subprocess with its settings and workspaces in a temp
dir (the news toast off, no restored panels), token auth on, and the kernel's
environment pointing nbtrack at the test's store.

Example:
    >>> with jupyter_lab(tmp_path, env={"NBTRACK_HOME": str(store)}) as lab:  # doctest: +SKIP
    ...     with chromium(tmp_path / "profile") as context:
    ...         page = open_notebook(context, lab, "demo.ipynb")
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
ARTIFACTS = REPO / "tests" / "artifacts"


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def jupyter_lab(root: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Iterator[Lab]:
    """A ``jupyter lab`` serving ``root``; kernels inherit ``env`` and import nbtrack from the repo."""
    settings = root.parent / f"{root.name}-lab-settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "JUPYTERLAB_SETTINGS_DIR": str(settings),
                "JUPYTERLAB_WORKSPACES_DIR": str(root.parent / f"{root.name}-workspaces"), **(env or {})}
    log = open(root.parent / f"{root.name}-lab.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.allow_unauthenticated_access=False", "--LabApp.news_url=''"],
        env=full_env, stdout=log, stderr=subprocess.STDOUT)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, process)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                lab.api("/api/status")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not start; see {log.name}") from None
                time.sleep(0.3)
        yield lab
    finally:
        with contextlib.suppress(Exception):
            for session in lab.api("/api/sessions"):
                lab.api(f"/api/sessions/{session['id']}", method="DELETE")
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A headless Debian Chromium (persistent context) driven by playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()


def open_notebook(context: Any, lab: Lab, name: str) -> Any:
    """Open ``name`` in a fresh JupyterLab page and wait for its kernel to be idle."""
    page = context.new_page()
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook", timeout=60_000)
    # The status bar says "| Idle" once the kernel can take requests; a Run All sent while it
    # is "Initializing" is dropped.
    page.wait_for_function("() => /\\| Idle/.test(document.querySelector('.jp-StatusBar-Widget')"
                           "?.closest('#jp-main-statusbar')?.textContent ?? '')", timeout=90_000)
    return page


def run_all_cells(page: Any, timeout_ms: int = 120_000) -> None:
    """Run > Run All Cells, then wait until no cell shows ``[*]``."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_function(
        """() => { const prompts = [...document.querySelectorAll('.jp-InputArea-prompt')];
                   return prompts.length > 0 && prompts.every(p => !p.textContent.includes('*'))
                          && prompts.some(p => /\\d/.test(p.textContent)); }""",
        timeout=timeout_ms)


def save_notebook(page: Any) -> None:
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1500)


def artifact(name: str) -> Path:
    """Where a test keeps a screenshot or file for humans to look at (gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook of code cells (nbformat 4.5, with cell ids)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def screenshot_output(page: Any, cell: int, name: str) -> Path:
    """Screenshot cell ``cell``'s whole output area (the notebook scrolls inside its panel)."""
    path = artifact(name)
    page.locator(".jp-CodeCell").nth(cell).locator(".jp-Cell-outputArea").screenshot(path=str(path))
    return path
