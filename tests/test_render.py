"""``nbtrack.render``: one run colour and one number format, the same in every view."""

from __future__ import annotations

import math

import numpy as np

from nbtrack.render import format_number, run_color
from nbtrack.render.colors import PALETTE


def test_one_number_format_for_every_kind_of_value() -> None:
    assert [format_number(v) for v in (0.912345, 3.0, 12, math.nan, math.inf, -math.inf, None)] == [
        "0.9123", "3", "12", "NaN", "inf", "-inf", ""]
    assert format_number(np.float32(0.5)) == "0.5" and format_number(np.float64(math.nan)) == "NaN"
    assert format_number(1.5e-7) == "1.5e-07" and format_number(0.973333333, digits=6) == "0.973333"


def test_a_runs_colour_depends_on_its_id_alone() -> None:
    ids = [f"{i:032x}" for i in range(200)]
    colors = [run_color(i) for i in ids]
    assert colors == [run_color(i) for i in ids]  # stable
    assert set(colors) == set(PALETTE)  # spread over the whole palette
    # Selecting other runs cannot change a run's colour: nothing but the id goes in.
    assert run_color(ids[5]) == run_color(ids[5]) and run_color.__code__.co_argcount == 1


def test_views_share_the_colour_and_the_format(tmp_path) -> None:
    import nbtrack
    from nbtrack.render.run_json import run_summary
    from nbtrack.widgets.data import load_runs
    from nbtrack.widgets.view import Comparison

    nbtrack.set_tracking_uri(str(tmp_path))
    with nbtrack.start_run(run_name="a") as run:
        for step in range(3):
            nbtrack.log_metric("loss", 1 / (step + 3), step=step)
    run_id = run.info.run_id
    summary = run_summary(nbtrack.get_run(run_id), {})
    assert summary["color"] == run_color(run_id)
    assert summary["headline"]["text"] == format_number(0.2) == "0.2"
    cmp = Comparison(load_runs(), "loss", live=False)
    assert run_color(run_id) in cmp.static_html()  # the static SVG line and the table's bar
