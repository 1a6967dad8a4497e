"""The comparison view on real ipywidgets and plotly objects over a real temp store.

Widgets are created without a frontend (ipywidgets allows that); changes go
through the same trait observers a browser's messages trigger.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import nbtrack
from nbtrack.widgets import Comparison, compare
from nbtrack.widgets.data import load_runs
from nbtrack.widgets.figures import PLOTLY_MIME

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def track(name: str, params: dict, curve: list[float] | None = None, **metrics: float) -> str:
    with nbtrack.start_run(run_name=name, code=f"%%track\nfit({params!r})\n") as run:
        nbtrack.log_params(params)
        for step, value in enumerate(curve or []):
            nbtrack.log_metric("loss", value, step=step)
        if metrics:
            nbtrack.log_metrics(metrics)
    return run.info.run_id


def plotted(comparison: Comparison, name: str) -> dict:
    """The plotly JSON the view's Output widget holds right now (what the frontend draws)."""
    [output] = comparison.ui.outputs[name].outputs
    return output["data"][PLOTLY_MIME]


def decode(array: object) -> np.ndarray:
    """plotly serialises numpy arrays as {"dtype", "bdata"} (base64)."""
    import base64

    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array, dtype=float)


@pytest.fixture
def three_runs() -> dict[str, str]:
    return {
        "slow": track("slow", {"lr": 0.01, "model": "svm", "seed": 0}, [1.0, 0.9, 0.8], acc=0.7),
        "fast": track("fast", {"lr": 0.1, "model": "mlp", "seed": 0}, [1.0, 0.5, 0.2], acc=0.9),
        "wild": track("wild", {"lr": 1.0, "model": "mlp", "seed": 0}, [1.0, 3.0, 2.0], acc=0.4),
    }


def test_selecting_runs_changes_the_curves(three_runs):
    cmp = compare(metric="loss", display=False, live=True)
    cmp.ui.select.value = (three_runs["fast"],)  # as a click in the frontend does
    traces = plotted(cmp, "curves")["data"]
    assert [t["name"].split(" ·")[0] for t in traces] == ["fast"]
    assert decode(traces[0]["y"]).tolist() == pytest.approx([1.0, 0.5, 0.2])
    assert "last 0.2" in traces[0]["name"] and "min 0.2" in traces[0]["name"] and "max 1" in traces[0]["name"]
    assert cmp.selected == [three_runs["fast"]]

    cmp.ui.select.value = (three_runs["fast"], three_runs["wild"])
    names = sorted(t["name"].split(" ·")[0] for t in plotted(cmp, "curves")["data"])
    assert names == ["fast", "wild"]
    # the diff follows the selection: two selected runs are diffed, params that differ listed
    assert "fast" in cmp.ui.diff.value and "wild" in cmp.ui.diff.value and "lr" in cmp.ui.diff.value


def test_changing_the_metric_changes_every_plot(three_runs):
    cmp = compare(metric="loss", display=False, live=True)
    before = {name: json.dumps(plotted(cmp, name)) for name in ("curves", "parcoords", "scatter")}
    cmp.ui.metric.value = "acc"
    assert cmp.metric == "acc"
    for name in ("curves", "parcoords", "scatter"):
        assert json.dumps(plotted(cmp, name)) != before[name], name
    dims = plotted(cmp, "parcoords")["data"][0]["dimensions"]
    assert [d["label"] for d in dims] == ["lr", "model", "acc (last)"]  # seed is equal everywhere
    scatter = plotted(cmp, "scatter")["data"][0]
    assert sorted(decode(scatter["y"]).tolist()) == pytest.approx([0.4, 0.7, 0.9])  # float32


def test_table_sorts_marks_best_and_hides_equal_columns(three_runs):
    cmp = compare(metric="loss", display=False, live=True)
    # loss: lower is better, so best first means ascending last values
    assert cmp.df["run_name"].tolist() == ["fast", "slow", "wild"]
    assert "★ 0.2" in cmp.ui.table.value and "★ 0.9" in cmp.ui.table.value  # best loss, best acc
    assert ">seed<" not in cmp.ui.table.value and ">lr<" in cmp.ui.table.value  # differences only
    assert "1 params equal in every run hidden" in cmp.ui.header.value
    cmp.ui.differences.value = False
    assert ">seed<" in cmp.ui.table.value
    cmp.ui.sort.value = "params.lr"
    cmp.ui.order.value = "descending"
    assert cmp.df["run_name"].tolist() == ["wild", "fast", "slow"]
    cmp.ui.aggregate.value = "max"
    cmp.ui.sort.value = "metrics.loss"
    cmp.ui.order.value = "best first"
    assert cmp.df["run_name"].tolist()[-1] == "wild"  # its max loss (3.0) is the worst
    assert ">3<" in cmp.ui.table.value and "★ 3" not in cmp.ui.table.value
    cmp.ui.groups["params"].value = False
    assert ">lr<" not in cmp.ui.table.value


def test_filter_box_uses_the_core_filter_language(three_runs):
    cmp = compare(display=False, live=True)
    cmp.ui.filter.value = "params.model = 'mlp' and metrics.acc > 0.5"
    assert cmp.df["run_name"].tolist() == ["fast"]
    cmp.ui.filter.value = "params.model = "  # a typo is a message, not an exception
    assert "filter" in cmp.ui.message.value.lower() or "expected" in cmp.ui.message.value.lower()
    assert cmp.df["run_name"].tolist() == ["fast"]


def test_filter_runs_and_experiment_arguments(three_runs):
    assert compare(runs=[three_runs["wild"]], display=False, live=True).df["run_name"].tolist() == ["wild"]
    nbtrack.set_experiment("other")
    track("elsewhere", {"lr": 5})
    assert compare(experiment="other", display=False, live=True).df["run_name"].tolist() == ["elsewhere"]
    assert len(compare("params.lr >= '0.1'", display=False, live=True).df) >= 1
    with pytest.raises(nbtrack.InvalidInput):
        compare(experiment="no-such-experiment", display=False, live=True)


def test_display_bundle_has_live_widget_and_static_fallback(three_runs):
    cmp = compare(display=False, live=True)
    bundle = cmp._repr_mimebundle_()
    assert bundle[WIDGET_MIME]["model_id"] == cmp.widget.model_id
    page = bundle["text/html"]
    assert "<svg" in page and "<table" in page and "<script" not in page.lower()
    assert "fast" in page and "nbtrack comparison" in page
    assert "comparison: 3 runs" in bundle["text/plain"]


def test_paging_and_selection_across_pages():
    ids = [track(f"r{i:02d}", {"i": i}, acc=i / 100) for i in range(45)]
    cmp = compare(metric="acc", display=False, live=True, page_size=20)
    assert cmp.ui.page.value.startswith("page 1 of 3")
    first_page = [v for _, v in cmp.ui.select.options]
    cmp.ui.select.value = (first_page[0],)
    cmp.ui.next.click()
    assert cmp.ui.page.value.startswith("page 2 of 3")
    second = [v for _, v in cmp.ui.select.options]
    cmp.ui.select.value = (second[3],)
    assert set(cmp.selected) == {first_page[0], second[3]}  # the first page's pick is kept
    assert len(set(ids)) == 45


def test_restore_puts_code_in_the_next_cell(three_runs):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        cmp = compare(runs=[three_runs["fast"]], display=False, live=True)
        code = cmp.restore()
        assert code.startswith("%%track\nfit(")
        assert shell.rl_next_input == code  # what set_next_input leaves in a terminal shell
        cmp.ui.restore.click()
        assert "fit(" in cmp.ui.restored.value and "<pre" in cmp.ui.restored.value
    finally:
        InteractiveShell.clear_instance()


def test_compare_displays_once_per_cell(three_runs):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shown = []
    shell.display_pub.publish = lambda data, **kw: shown.append(data)
    try:
        shell.run_cell("import nbtrack\ncmp = nbtrack.compare(live=True)\ncmp", store_history=True)
        assert len(shown) == 1 and WIDGET_MIME in shown[0] and "text/html" in shown[0]
        shell.run_cell("cmp", store_history=True)  # a later cell shows it again
        assert len(shown) == 2
    finally:
        InteractiveShell.clear_instance()


def test_refresh_picks_up_points_of_a_running_run():
    run = nbtrack.start_run(run_name="live")
    for step in range(3):
        nbtrack.log_metric("loss", 1.0 / (step + 1), step=step)
    cmp = compare(metric="loss", display=False, live=True)
    assert "RUNNING" in cmp.ui.table.value
    assert len(decode(plotted(cmp, "curves")["data"][0]["y"])) == 3
    for step in range(3, 10):
        nbtrack.log_metric("loss", 1.0 / (step + 1), step=step)
    cmp.ui.refresh.click()
    assert len(decode(plotted(cmp, "curves")["data"][0]["y"])) == 10
    run.end()


def test_log_scale_smoothing_and_full_series():
    curve = [1.0 if s != 1234 else 100.0 for s in range(5000)]
    track("long", {"lr": 1}, curve)
    cmp = compare(metric="loss", display=False, live=True)
    shown = plotted(cmp, "curves")["data"][0]
    ys = decode(shown["y"])
    assert len(ys) <= 1000 and ys.max() == 100.0  # downsampled, spike kept
    assert "downsampled" in plotted(cmp, "curves")["layout"]["title"]["text"]
    cmp.ui.full.value = True
    assert len(decode(plotted(cmp, "curves")["data"][0]["y"])) == 5000
    cmp.ui.log.value = True
    assert plotted(cmp, "curves")["layout"]["yaxis"]["type"] == "log"
    cmp.ui.smoothing.value = 0.9
    assert decode(plotted(cmp, "curves")["data"][0]["y"]).max() < 100.0


# --- edge cases: sensible views, never exceptions ---------------------------------------------


def test_no_runs_at_all():
    cmp = compare(display=False, live=True)
    assert cmp.df.empty and cmp.selected == []
    assert "No runs match" in cmp.ui.table.value
    bundle = cmp._repr_mimebundle_()
    assert "No runs match" in bundle["text/html"]


def test_one_run_without_metrics():
    track("lonely", {"lr": 1})
    cmp = compare(display=False, live=True)
    assert cmp.metric is None and cmp.ui.metric.disabled
    assert "logged no metrics" in cmp._repr_mimebundle_()["text/html"]
    assert "Select two runs" in cmp.ui.diff.value


def test_nan_metrics_are_plotted_as_gaps_and_never_best():
    track("nan-run", {"lr": 1}, [1.0, math.nan, 0.5], acc=math.nan)
    track("ok-run", {"lr": 2}, [2.0, 1.5, 1.0], acc=0.5)
    cmp = compare(metric="acc", display=False, live=True)
    assert "★ 0.5" in cmp.ui.table.value and "NaN" in cmp.ui.table.value
    cmp.ui.metric.value = "loss"
    ys = [decode(t["y"]) for t in plotted(cmp, "curves")["data"]]
    assert any(np.isnan(y).any() for y in ys)
    assert "<svg" in cmp._repr_mimebundle_()["text/html"]


def test_hundreds_of_params_and_very_long_names():
    long_name = "x" * 5000
    for i in range(3):
        track(f"{long_name}{i}", {f"param_{j:03d}_{'y' * 200}": 'v' * 400 + str(j * (i + 1)) for j in range(300)}, [1.0, 0.5])
    cmp = compare(display=False, live=True)
    table = cmp.ui.table.value
    assert "1 params equal in every run hidden" in cmp.ui.header.value  # param_000 is 'v…0' in all
    assert "259 more params not shown" in cmp.ui.header.value  # 299 differ, 40 columns shown
    assert long_name not in table and "…" in table
    assert len(table) < 200_000
    static = cmp._repr_mimebundle_()["text/html"]
    assert len(static.encode()) < 300_000


def test_import_nbtrack_stays_light():
    from tests.conftest import run_python

    result = run_python(
        "import sys, nbtrack; nbtrack.compare\n"
        "print(sorted(m for m in ('plotly', 'ipywidgets') if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['ipywidgets', 'plotly']"  # loaded when compare is first used
    bare = run_python("import sys, nbtrack\n"
                      "print([m for m in ('plotly', 'ipywidgets', 'pandas') if m in sys.modules])")
    assert bare.stdout.strip() == "[]"


def test_runset_metric_values_cache_is_read_only(three_runs):
    runs = load_runs()
    values = runs.metric_values("acc")
    with pytest.raises(ValueError):
        values[0] = 1.0


def test_static_mode_opens_no_widget_and_still_carries_table_and_picture(three_runs):
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    cmp = compare(metric="loss", display=False)  # no kernel here: nobody can render widgets
    assert cmp.ui is None and set(_instances) == before
    bundle = cmp._repr_mimebundle_()
    assert sorted(bundle) == ["text/html", "text/plain"]
    assert "<svg" in bundle["text/html"] and "★" in bundle["text/html"]
    cmp.select([three_runs["wild"]])
    assert cmp.selected == [three_runs["wild"]] and "wild" in cmp.static_html()
    assert "fast" in cmp.diff_html() or "Select two runs" in cmp.diff_html()


@pytest.mark.parametrize("module", ["data", "curves", "table", "svg", "static", "diff",
                                    "figures", "view"])
def test_docstring_examples_run(module: str):
    """The examples in the widgets' docstrings are run, so they cannot drift from the code."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"nbtrack.widgets.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_missing_metric_is_blank_and_logged_nan_says_nan() -> None:
    with nbtrack.start_run(run_name="has-nan"):
        nbtrack.log_metric("loss", float("nan"))
        nbtrack.log_metric("acc", 0.5)
    with nbtrack.start_run(run_name="no-loss"):
        nbtrack.log_metric("acc", 0.7)
    html = compare(display=False, live=False).static_html()
    rows = {row.split("</td>")[1]: row for row in html.split("<tr")[3:]}
    loss_cells = {name: row for name, row in rows.items()}
    assert "NaN" in next(r for n, r in loss_cells.items() if "has-nan" in n)
    assert "NaN" not in next(r for n, r in loss_cells.items() if "no-loss" in n)


def test_table_marks_runs_with_registered_model_versions():
    from sklearn.linear_model import LogisticRegression

    import nbtrack.sklearn

    ids = {}
    for c in (0.1, 1.0):
        with nbtrack.start_run(run_name=f"C={c}") as run:
            nbtrack.log_metric("acc", c)
            nbtrack.sklearn.log_model(LogisticRegression(C=c).fit([[0.0], [1.0]], [0, 1]), name="model")
        ids[c] = run.info.run_id
    nbtrack.register_model(f"runs:/{ids[0.1]}/model", "churn")
    nbtrack.register_model(f"runs:/{ids[0.1]}/model", "churn")
    nbtrack.Client().set_registered_model_alias("churn", "champion", 2)
    cmp = compare(display=False, live=True)
    for html in (cmp.ui.table.value, cmp._repr_mimebundle_()["text/html"]):
        row = html[html.index(f'data-run="{ids[0.1]}"'):]
        row = row[: row.index("</tr>")]
        assert ">model v1</span>" in row and ">model v2 @champion</span>" in row
        other = html[html.index(f'data-run="{ids[1.0]}"'):]
        assert "nbtrack-model-mark" not in other[: other.index("</tr>")]
