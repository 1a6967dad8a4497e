"""The comparison under use: 100 runs, 100,000 points, 50 random interactions in Chromium.

Each interaction (switch the metric, change the selection) is timed in the
page, from the change event to the redrawn curves (kernel and render time), and
after each one the chart must have drawn a line per selected run. No WebGL
context may be lost along the way ("Too many active WebGL contexts" blanked
the chart before). Figures go to tests/artifacts/compare-interactions.json;
they are recorded, not asserted (the machine is shared and noisy).
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest

from tests.browser_support import (
    CHROMIUM,
    artifact,
    chromium,
    open_notebook,
    run_all_cells,
    write_notebook,
    write_user_settings,
)
from tests.lab.server import running_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUNS, STEPS = 100, 500  # two metrics each: 100 * 2 * 500 = 100,000 points
CELLS = [
    ("import math, nbtrack\n"
     f"for r in range({RUNS}):\n"
     "    with nbtrack.start_run(run_name=f'run-{r:03d}'):\n"
     "        nbtrack.log_param('lr', r / 1000)\n"
     f"        for s in range({STEPS}):\n"
     "            nbtrack.log_metric('loss', math.exp(-s / (50 + r)) + r / 500, step=s)\n"
     "            nbtrack.log_metric('acc', 1 - math.exp(-s / (40 + r)), step=s)\n"
     "nbtrack.flush()"),
    "cmp = nbtrack.compare(metric='loss')",
]

# Change a widget <select> and wait, frame by frame, until the curves show what was asked for.
INTERACT_JS = r"""async ({kind, value, metric}) => {
  const root = document.querySelector('.nbtrack-compare');
  const label = kind === 'metric' ? 'metric' : 'select';
  const box = [...root.querySelectorAll('.widget-dropdown, .widget-select-multiple')]
    .find(b => b.querySelector(':scope > label')?.textContent === label);
  const select = box.querySelector('select');
  const names = [];
  for (const option of select.options) {
    option.selected = kind === 'metric' ? option.textContent === value : value.includes(option.index);
    if (option.selected && kind !== 'metric') names.push(option.textContent.split(/\s/)[1]);
  }
  const t0 = performance.now();
  select.dispatchEvent(new Event('change', { bubbles: true }));
  // The view says it is working at once, before the kernel answers.
  const marked = root.closest('.nbtrack-CompareOutput')?.classList.contains('nbtrack-mod-busy') ?? false;
  const done = () => {
    const plot = root.querySelector('.js-plotly-plot');
    if (!plot || !(plot.querySelector('.gtitle')?.textContent ?? '').startsWith(metric)) return false;
    const lines = [...plot.querySelectorAll('.scatterlayer path.js-line')].filter(p => (p.getAttribute('d') ?? '').length > 10);
    const legend = [...plot.querySelectorAll('.legendtext')].map(t => t.textContent);
    if (kind === 'metric') return lines.length > 0 && lines.length === legend.length;
    return lines.length === names.length && names.every(n => legend.some(t => t.startsWith(n + ' ')));
  };
  while (performance.now() - t0 < 30000) {
    await new Promise(resolve => requestAnimationFrame(resolve));
    if (done()) return { ms: performance.now() - t0, marked };
  }
  const plot = root.querySelector('.js-plotly-plot');
  return { ms: -1, title: plot?.querySelector('.gtitle')?.textContent, names, box: !!box,
           legend: [...(plot?.querySelectorAll('.legendtext') ?? [])].map(t => t.textContent).slice(0, 3),
           lines: plot?.querySelectorAll('.scatterlayer path.js-line').length };
}"""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")
def test_fifty_random_interactions_keep_the_chart_drawn(tmp_path: Path) -> None:
    write_user_settings(tmp_path, {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"}})
    warnings: list[str] = []
    timings: dict[str, list[float]] = {"metric": [], "selection": []}
    with running_lab(tmp_path) as lab, chromium(tmp_path / "profile") as context:
        write_notebook(lab.root / "big.ipynb", CELLS)
        page = open_notebook(context, lab, "big.ipynb")
        page.on("console", lambda m: warnings.append(m.text) if "WebGL" in m.text else None)
        run_all_cells(page, timeout_ms=300_000)
        page.locator(".nbtrack-compare .js-plotly-plot .scatterlayer path.js-line").first.wait_for(timeout=60_000)
        rng = random.Random(13)
        metric = "loss"
        for _ in range(50):
            if rng.random() < 0.5:
                metric = "acc" if metric == "loss" else "loss"
                result = page.evaluate(INTERACT_JS, {"kind": "metric", "value": metric, "metric": metric})
                timings["metric"].append(result["ms"])
            else:
                chosen = sorted(rng.sample(range(20), rng.randint(1, 8)))
                result = page.evaluate(INTERACT_JS, {"kind": "selection", "value": chosen, "metric": metric})
                timings["selection"].append(result["ms"])
            assert result["ms"] >= 0, f"the chart did not show the requested lines within 30 s: {result}"
            assert result["marked"], "the view did not show that it was working"
        # The parts a click redraws after the curves (table header, parallel coordinates,
        # scatter) follow: the header names the last metric chosen.
        page.wait_for_function(
            "m => document.querySelector('.nbtrack-compare')?.textContent.includes('metric: ' + m)",
            arg=metric, timeout=30_000)
        page.screenshot(path=str(artifact("compare-after-50-interactions.png")))
        contexts = page.evaluate("() => document.querySelectorAll('.nbtrack-compare canvas').length")
    assert not [w for w in warnings if "Too many active WebGL contexts" in w], warnings[:3]
    summary = {kind: {"count": len(v), "median_ms": round(statistics.median(v), 1),
                      "p90_ms": round(sorted(v)[int(len(v) * 0.9) - 1], 1), "max_ms": round(max(v), 1)}
               for kind, v in timings.items() if v}
    summary["runs"], summary["points"], summary["canvases_in_view"] = RUNS, RUNS * STEPS * 2, contexts
    summary["webgl_warnings"] = len(warnings)
    artifact("compare-interactions.json").write_text(json.dumps({"summary": summary, "ms": timings}, indent=2))
    print(json.dumps(summary, indent=2))
