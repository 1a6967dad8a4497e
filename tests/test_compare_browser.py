"""``nbtrack.compare()`` in a real JupyterLab driven through Debian's Chromium.

Screenshots go to tests/artifacts/ (gitignored) for a human to look at.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import nbtrack
from tests.browser_support import (
    artifact,
    chromium,
    open_notebook,
    run_all_cells,
    save_notebook,
    screenshot_output,
    write_notebook,
)
from tests.lab.server import running_lab

pytestmark = pytest.mark.browser

XSS = {
    "script": "<script>window.__xss = 'script'</script>",
    "img": "<img src=x onerror=\"window.__xss = 'img'\">",
    "link": "<a href=\"javascript:window.__xss = 'link'\">click me</a>",
    "svg": "<svg onload=\"window.__xss = 'svg'\"></svg>",
    "close": "</table></pre></svg><script>window.__xss = 'close'</script>",
}
PAYLOAD = " ".join(XSS.values())


def _hostile_store(home: Path) -> None:
    """Runs whose every user-controlled field carries script: names, params, tags, code, errors."""
    nbtrack.set_tracking_uri(home)
    nbtrack.set_experiment(f"exp {XSS['script']}")
    for i, payload in enumerate(XSS.values()):
        code = f"%%track\n# {payload}\nx = '{payload}'\n"
        try:
            with nbtrack.start_run(run_name=f"{payload} {i}", code=code, tags={"note": payload,
                                   "javascript:void": f"javascript:alert({i})"},
                                   notebook_path=f"{payload}.ipynb", cell_id=payload):
                nbtrack.log_params({"payload": payload, "url": "javascript:window.__xss='p'", "i": i})
                nbtrack.log_metric("javascript:loss", 1.0 / (i + 1))
                for step in range(5):
                    nbtrack.log_metric("loss", (i + 1) / (step + 1), step=step)
                if i % 2:
                    raise ValueError(payload)
        except ValueError:
            pass
    nbtrack.flush()
    nbtrack.set_tracking_uri(None)


def _assert_inert(page, scope: str) -> None:
    """Nothing ran, and the markup that would run is not in the DOM as elements."""
    assert page.evaluate("() => window.__xss === undefined"), page.evaluate("() => window.__xss")
    for selector in ("img[src='x']", "a[href^='javascript']", "svg[onload]", "[onerror]"):
        assert page.locator(f"{scope} {selector}").count() == 0, selector
    scripts = page.evaluate(f"""() => [...document.querySelectorAll('{scope} script')]
                                       .map(s => s.textContent).filter(t => t.includes('__xss'))""")
    assert scripts == []


def _assert_markup_inert(markup: str) -> None:
    """Parse the HTML as a browser would tokenise it: no script, handler, or external reference."""
    from html.parser import HTMLParser

    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collect().feed(markup)
    tags = {tag for tag, _ in found}
    assert not tags & {"script", "img", "a", "iframe", "object", "embed", "link", "style", "foreignobject"}
    for tag, attrs in found:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert "javascript:" not in (value or "").lower() or name == "title", (tag, name, value)
            assert name not in ("href", "src", "xlink:href"), (tag, name)


def test_user_data_never_executes_in_live_view_static_html_or_nbconvert(tmp_path: Path):
    root = tmp_path / "root"
    _hostile_store(root / ".nbtrack")  # the kernel's default store: .nbtrack/ in its cwd
    write_notebook(root / "hostile.ipynb", [
        "import nbtrack\ncmp = nbtrack.compare(metric='loss')",
        "cmp.ui.restore.click()\ncmp.ui.diff_a.options[:2]",
    ])
    dialogs: list[str] = []
    with running_lab(tmp_path) as lab, chromium(tmp_path / "profile") as ctx:
        page = open_notebook(ctx, lab, "hostile.ipynb")
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        run_all_cells(page)
        page.wait_for_selector(".nbtrack-compare .nbtrack-runs", timeout=60_000)
        page.wait_for_selector(".nbtrack-compare .nbtrack-diff", timeout=30_000)
        page.wait_for_timeout(1500)  # plots and late handlers
        # the payload is on screen as text, in the table, the diff and the restored code
        assert page.locator(".nbtrack-runs", has_text="<script>window.__xss").count() >= 1
        assert page.locator(".nbtrack-diff", has_text="onerror=").count() == 1
        # hovering every row and clicking the payload links there would be: nothing to click
        _assert_inert(page, ".jp-Notebook")
        screenshot_output(page, 0, "compare-hostile-live.png")
        save_notebook(page)
    assert dialogs == []

    # The static half of the same output, alone in a page: what GitHub or VS Code would render.
    saved = json.loads((root / "hostile.ipynb").read_text())
    bundle = next(o["data"] for o in saved["cells"][0]["outputs"] if "text/html" in o.get("data", {}))
    static_html = "".join(bundle["text/html"])
    _assert_markup_inert(static_html)
    html_file = tmp_path / "converted.html"
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output",
                    str(html_file), str(root / "hostile.ipynb")], check=True, capture_output=True)
    with chromium(tmp_path / "profile2") as ctx:
        page = ctx.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.set_content(f"<html><body>{static_html}</body></html>")
        _assert_inert(page, "body")
        assert page.locator(".nbtrack-runs td", has_text="<img src=x").count() >= 1
        page.goto(html_file.as_uri())
        page.wait_for_selector(".nbtrack-compare-static .nbtrack-runs")
        _assert_inert(page, ".jp-OutputArea")
        page.screenshot(path=str(artifact("compare-hostile-nbconvert.png")), full_page=True)
    assert dialogs == []


def _legend(page) -> list[str]:
    """Legend entries of the curves plot (the first plotly plot in the view)."""
    return page.evaluate("""() => [...document.querySelector('.nbtrack-compare .js-plotly-plot')
                                    .querySelectorAll('.legendtext')].map(t => t.textContent)""")


def test_compare_in_jupyterlab_with_track_cells(tmp_path: Path):
    """The example notebook (three %%track cells, then compare) run by JupyterLab itself."""
    import shutil

    from tests.kernel_support import REPO

    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(REPO / "notebooks" / "02-compare-runs.ipynb", root / "compare.ipynb")
    with running_lab(tmp_path) as lab, chromium(tmp_path / "profile", height=2600) as ctx:
        page = open_notebook(ctx, lab, "compare.ipynb")
        run_all_cells(page)
        view = page.locator(".nbtrack-compare")
        view.locator(".nbtrack-runs").wait_for()
        page.wait_for_function(
            "() => document.querySelectorAll('.nbtrack-compare .js-plotly-plot').length === 3")
        # the table: three runs, best values starred, the three column groups
        assert view.locator(".nbtrack-runs tbody tr").count() == 3
        assert view.locator(".nbtrack-runs .nbtrack-best").count() == 2  # val_acc and val_loss
        headers = view.locator(".nbtrack-runs thead").inner_text()
        assert "metrics" in headers and "params" in headers and "tags" not in headers  # all equal
        view.locator(".widget-checkbox", has_text="differences only").locator("input").uncheck()
        page.wait_for_function("() => document.querySelector('.nbtrack-runs thead').textContent"
                               ".includes('tags')")
        assert "mlflow.source.type" in view.locator(".nbtrack-runs thead").inner_text()
        assert sorted(name.split(" ·")[0] for name in _legend(page)) == [
            "sgd-large-steps", "sgd-small-steps", "sgd-strong-penalty"]
        assert view.locator(".js-plotly-plot .parcoords").count() == 1
        cell = page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
                                 .filter(c => c.model.type === 'code')
                                 .findIndex(c => c.model.sharedModel.getSource().includes('nbtrack.compare('))""")
        screenshot_output(page, cell, "compare-lab-all-selected.png")

        # select one run in the list: the curves follow
        select = view.locator(".widget-select-multiple select")
        label = next(o for o in select.locator("option").all_inner_texts() if "sgd-large-steps" in o)
        select.select_option(label=label)
        page.wait_for_function(
            """() => { const t = [...document.querySelector('.nbtrack-compare .js-plotly-plot')
                                   .querySelectorAll('.legendtext')].map(e => e.textContent);
                       return t.length === 1 && t[0].startsWith('sgd-large-steps'); }""")
        assert "last" in _legend(page)[0] and "min" in _legend(page)[0] and "max" in _legend(page)[0]
        # the table follows the curves (a moment later): the chosen run highlighted
        page.wait_for_function(
            "() => document.querySelectorAll(\".nbtrack-runs tbody tr[style*='33,150,243']\").length === 1")
        # switch the metric: the curves plot redraws for val_acc
        view.locator(".widget-dropdown", has=page.locator("label", has_text="metric")).locator(
            "select").select_option("val_acc")
        page.wait_for_function("""() => document.querySelector('.nbtrack-compare .js-plotly-plot')
                                      .querySelector('.gtitle')?.textContent.startsWith('val_acc')""")
        screenshot_output(page, cell, "compare-lab-one-selected.png")

        # restore: a real click inserts the code as a new cell at once (nbtrack's extension
        # answers the kernel's insert comm), and the fallback set_next_input is withdrawn
        sources_js = """() => window.jupyterapp.shell.currentWidget.content.widgets
                               .map(c => c.model.sharedModel.getSource())"""
        cells_before = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
        view.locator("button", has_text="code → new cell").click()
        view.locator("pre", has_text="%%track sgd-large-steps").wait_for()
        page.wait_for_function("""(n) => window.jupyterapp.shell.currentWidget.content.widgets.length === n + 1""",
                               arg=cells_before)
        restored = [src for src in page.evaluate(sources_js) if src.startswith("%%track sgd-large-steps")]
        assert len(restored) == 2  # the original cell and its restored copy
        # Running another code cell must not bring a second copy through set_next_input.
        page.evaluate("""async () => { const app = window.jupyterapp, nb = app.shell.currentWidget.content;
                                       nb.activeCellIndex = nb.widgets.length - 1;
                                       await app.commands.execute('notebook:insert-cell-below');
                                       nb.activeCell.model.sharedModel.setSource('1 + 1');
                                       await app.commands.execute('notebook:run-cell'); }""")
        page.wait_for_function("""() => [...document.querySelectorAll('.jp-OutputArea-output')]
                                          .some(e => e.textContent.trim() === '2')""")
        page.wait_for_timeout(1000)  # a set_next_input would land with that reply, already in
        assert page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length") \
            == cells_before + 2  # the restored cell and the "1 + 1" cell, nothing else
        assert len([s for s in page.evaluate(sources_js) if s.startswith("%%track sgd-large-steps")]) == 2
        save_notebook(page)

    # Saved by JupyterLab (widget state is not saved by default): nbconvert shows the static view.
    html_file = tmp_path / "compare.html"
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output",
                    str(html_file), str(root / "compare.ipynb")], check=True, capture_output=True)
    with chromium(tmp_path / "profile2") as ctx:
        page = ctx.new_page()
        page.goto(html_file.as_uri())
        static = page.locator(".nbtrack-compare-static")
        static.wait_for()
        assert static.locator(".nbtrack-runs tbody tr").count() == 3
        assert static.locator("svg.nbtrack-plot polyline").count() >= 1
        assert "sgd-large-steps" in static.inner_text()
        static.screenshot(path=str(artifact("compare-nbconvert-static.png")))
