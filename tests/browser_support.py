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


# WCAG contrast of every visible text element under the roots a selector names: the text colour
# against the backgrounds under it (translucent layers composited, up to the first opaque one).
CONTRAST_JS = """(selector) => {
  const parse = c => { const m = c && c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const background = el => { const layers = [];
    for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    let bg = [255, 255, 255, 1]; for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg); return bg; };
  const out = [];
  for (const root of document.querySelectorAll(selector)) {
    for (const el of [root, ...root.querySelectorAll('*')]) {
      if (el.closest('svg') || el.closest('[disabled]') || el.closest('[aria-disabled=true]')) continue;
      const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
      if (!own || !el.getClientRects().length) continue;
      const style = getComputedStyle(el);
      if (parseFloat(style.fontSize) === 0 || style.visibility === 'hidden') continue;
      const bg = background(el); const fg = over(parse(style.color), bg);
      const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      out.push({ ratio: Math.round((a + 0.05) / (b + 0.05) * 100) / 100,
                 text: el.textContent.trim().slice(0, 40), color: style.color,
                 background: 'rgb(' + bg.slice(0, 3).map(Math.round).join(',') + ')' });
    }
  }
  return out.sort((x, y) => x.ratio - y.ratio);
}"""


def contrast(page: Any, selector: str) -> list[dict[str, Any]]:
    """Text contrast ratios under ``selector``, lowest first (see ``CONTRAST_JS``)."""
    return page.evaluate(CONTRAST_JS, selector)


# A theme variable whose value tells the three themes apart once a theme's stylesheet is in.
THEME_MARKERS = {"JupyterLab Light": "#bdbdbd", "JupyterLab Dark": "#616161",
                 "JupyterLab Dark High Contrast": "white"}


def set_theme(page: Any, theme: str) -> None:
    """Switch JupyterLab's theme (a ``THEME_MARKERS`` key) and wait until its stylesheet applies."""
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    page.wait_for_function(
        "([name, v]) => document.body.dataset.jpThemeName === name && "
        "getComputedStyle(document.body).getPropertyValue('--jp-border-color1').trim() === v",
        arg=[theme, THEME_MARKERS[theme]])
    # Changing theme shows JupyterLab's splash over the page until the new theme is in.
    page.wait_for_function("() => !document.querySelector('#jupyterlab-splash')")


def write_user_settings(workdir: Path, settings: dict[str, dict[str, Any]]) -> None:
    """User settings for a lab that ``running_lab(workdir)`` will start (read at start), e.g.
    ``{"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"}}``."""
    import json

    base = workdir / "jupyter-config" / "lab" / "user-settings"
    for plugin, values in settings.items():
        package, _, name = plugin.rpartition("/")
        path = base / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
