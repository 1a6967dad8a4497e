"""The sidebar's Models section and notebook jobs in a real JupyterLab through Debian's Chromium.

A store holds three runs that logged a model (two registered as "churn",
``champion`` on version 1), an execution of the parameterized notebook, and a
sweep of it. In the browser: the Models section lists versions, stages and
aliases; the runs list marks registered runs ("model v1 @champion"); the sweep's
executions sit under it best first; setting an alias and a stage through the UI
changes the store; "Run again with parameters" records a new execution;
"Reproduce" shows its verdict. After a kernel restart the sidebar is shot in
light and dark at its default width (tests/artifacts/lab-models-*.png) and its
text contrast measured.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nbtrack
from nbtrack.paths import resolve_location
from nbtrack.store import registry_queries as rq
from nbtrack.tracking.fluent import read_store
from tests.browser_support import (
    CHROMIUM,
    artifact,
    chromium,
    contrast,
    open_notebook,
    set_theme,
    write_user_settings,
)
from tests.lab.server import running_lab
from tests.lab.stores import build_job_store, build_registry_store, tracking

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MIN_CONTRAST = 4.5
SWEEP = {"method": "grid", "metric": {"name": "score", "goal": "maximize"},
         "parameters": {"alpha": {"values": [0.1, 1, 100]}}}


def _store(root: Path):
    nbtrack.flush()
    return read_store(resolve_location(root / "work" / ".nbtrack"))


def _wait_job(page, state: str = "finished", timeout: int = 180_000) -> None:
    page.wait_for_function(
        "(state) => { const job = document.querySelector('#nbtrack-runs .nbtrack-Job');"
        " return job && job.dataset.state === state; }", arg=state, timeout=timeout)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")
def test_models_section_run_again_reproduce_and_both_themes(tmp_path: Path) -> None:
    write_user_settings(tmp_path, {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"}})
    figures: dict[str, float] = {}
    with running_lab(tmp_path) as lab, chromium(tmp_path / "profile", height=1100) as context:
        work = lab.root / "work"
        registry = build_registry_store(work)
        jobs = build_job_store(work)
        with tracking(work, "sweeps"):
            from nbtrack.jobs.sweep import sweep

            swept = sweep(work / "params.ipynb", SWEEP, progress=False)
        page = open_notebook(context, lab, "work/params.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('nbtrack:open-runs')")
        sidebar = page.locator("#nbtrack-runs")
        sidebar.locator(".nbtrack-RunRow").nth(8).wait_for(timeout=30_000)

        # The runs list marks registered runs; the sweep's executions sit under it, best first.
        badge = sidebar.locator(f".nbtrack-RunRow[data-run-id='{registry.run_ids['lr-0.1']}'] .nbtrack-ModelBadge")
        assert badge.text_content() == "model v1 @champion"
        names = sidebar.locator(".nbtrack-RunName").all_text_contents()
        top = names.index(next(n for n in names if n.endswith("(sweep)")))
        scores = {o.parameters["alpha"]: o.value for o in swept.outcomes}
        best_first = sorted(scores, key=lambda alpha: -scores[alpha])
        # Each execution's %%track cell run sits under it (three levels).
        expected = [name for alpha in best_first for name in (f"params alpha={alpha}", "score")]
        assert names[top + 1: top + 7] == expected, names
        depths = sidebar.locator(".nbtrack-RunRow").evaluate_all(
            "rows => rows.map(r => r.style.paddingLeft || '0')")
        assert depths[top + 1: top + 3] == ["20px", "32px"], depths

        # Models: versions newest first, stage and aliases; set an alias through the UI.
        model = sidebar.locator(".nbtrack-Model[data-model='churn']")
        model.locator("summary").first.click()
        versions = model.locator(".nbtrack-Version")
        assert versions.count() == 2
        assert versions.nth(1).locator(".nbtrack-Alias").text_content().startswith("@champion")
        v2 = model.locator(".nbtrack-Version[data-version='2']")
        v2.locator(".nbtrack-AliasInput").fill("champion")
        v2.locator(".nbtrack-SetAlias").click()
        model.locator(".nbtrack-Version[data-version='2'] .nbtrack-Alias[data-alias='champion']").wait_for()
        assert rq.version_by_alias(_store(lab.root), "churn", "champion") == 2
        model = sidebar.locator(".nbtrack-Model[data-model='churn']")
        assert "@champion: v1 → v2" in model.locator(".nbtrack-History").text_content()
        model.locator(".nbtrack-Version[data-version='2'] .nbtrack-StageSelect").select_option("Production")
        model.locator(".nbtrack-Version[data-version='2'] .nbtrack-Stage-Production").wait_for()
        assert rq.get_model_version(_store(lab.root), "churn", 2).current_stage == "Production"
        page.wait_for_function(
            "(id) => document.querySelector(`#nbtrack-runs .nbtrack-RunRow[data-run-id='${id}'] "
            ".nbtrack-ModelBadge`)?.textContent === 'model v2 @champion'", arg=registry.run_ids["lr-1"])

        # Register a run's logged model from its details: version 3 appears in the section.
        sidebar.locator(f".nbtrack-RunRow[data-run-id='{registry.run_ids['lr-10']}']").click()
        sidebar.locator(".nbtrack-RegisterName").fill("churn")
        sidebar.locator(".nbtrack-RegisterButton").click()
        sidebar.locator(".nbtrack-Model[data-model='churn'] .nbtrack-Version[data-version='3']").wait_for()
        assert rq.get_model_version(_store(lab.root), "churn", 3).run_id == registry.run_ids["lr-10"]

        # Run again with parameters: the form holds the run's parameters; a new execution appears.
        original = jobs.run_ids["execution"]
        sidebar.locator(f".nbtrack-RunRow[data-run-id='{original}']").click()
        sidebar.locator(".nbtrack-RunAgain").click()
        form = sidebar.locator(".nbtrack-RerunForm")
        assert form.locator("input[name='alpha']").input_value() == "0.5"
        form.locator("input[name='alpha']").fill("2")
        form.locator("button[type='submit']").click()
        sidebar.locator(".nbtrack-Job").first.wait_for()
        _wait_job(page)
        assert "FINISHED" in sidebar.locator(".nbtrack-Job").first.text_content()
        sidebar.locator(".nbtrack-RunName", has_text="params alpha=2").first.wait_for(timeout=20_000)
        client = nbtrack.Client(tracking_uri=str(work / ".nbtrack"))
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                  filter_string=f"tags.`nbtrack.job.rerun_of` = '{original}'")
        assert [r.data.params["alpha"] for r in runs] == ["2"]

        # Reproduce: the verdict (and any metric that differed) shows when the job ends.
        sidebar.locator(f".nbtrack-RunRow[data-run-id='{original}']").click()
        sidebar.locator(".nbtrack-Reproduce").click()
        page.wait_for_function("() => document.querySelector('#nbtrack-runs .nbtrack-Job')"
                               "?.textContent.includes('reproduce')")
        _wait_job(page)
        verdict = sidebar.locator(".nbtrack-Job").first.locator(".nbtrack-Verdict").text_content()
        assert verdict == "matched (exact)"

        # After a kernel restart, in light and dark, at the sidebar's default width.
        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext.session"
                               ".kernel.status === 'idle'", timeout=60_000)
        sidebar.locator(".nbtrack-Model[data-model='churn'] .nbtrack-ModelHistory summary").click()
        width = sidebar.bounding_box()["width"]
        for tag, theme in (("light", "JupyterLab Light"), ("dark", "JupyterLab Dark")):
            set_theme(page, theme)
            for part, selector in (("runs", ".nbtrack-RunList"), ("jobs", ".nbtrack-Jobs"),
                                   ("models", ".nbtrack-Models")):
                sidebar.locator(selector).evaluate("node => node.scrollIntoView({block: 'start'})")
                sidebar.screenshot(path=str(artifact(f"lab-models-{tag}-{part}.png")))
            for surface in (".nbtrack-Models", ".nbtrack-Jobs", ".nbtrack-Actions", ".nbtrack-RunList"):
                found = contrast(page, f"#nbtrack-runs {surface}")
                assert found, surface
                figures[f"{tag} {surface}"] = found[0]["ratio"]
                assert found[0]["ratio"] >= MIN_CONTRAST, (tag, surface, found[:3])
            # Nothing is wider than the sidebar: rows cut with an ellipsis, actions wrap.
            overflow = sidebar.evaluate("""node => [...node.querySelectorAll('*')].filter(e =>
                e.getClientRects().length && e.getBoundingClientRect().right > node.getBoundingClientRect().right + 1)
                .map(e => e.className)""")
            assert not overflow, overflow
        figures["sidebar width px"] = width
        artifact("lab-models-contrast.json").write_text(json.dumps(figures, indent=1))
