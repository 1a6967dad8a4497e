"""Every read path returns the exact double that was logged (NaN and ±inf included).

The one exception is the sign of zero in what SQLite's REAL columns hold (the summaries
behind search, get_run, compare, the server and ``nbtrack show``): SQLite stores a REAL -0.0
as the integer 0, so -0.0 reads back as 0.0 (equal under IEEE comparison; docs/schema.md
says so). A metric's history comes from packed float64 blocks and keeps even that.
"""

from __future__ import annotations

import json
import math
import struct

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbtrack
from nbtrack.cli import main as cli_main
from nbtrack.render.json_values import from_json_number
from nbtrack.server import api
from nbtrack.widgets.data import load_runs

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


def same(logged: float, read: float) -> bool:
    if math.isnan(logged):
        return math.isnan(read)
    if logged == 0.0:
        return read == 0.0  # the sign of zero is not kept (see the module docstring)
    return struct.pack("<d", logged) == struct.pack("<d", read)


def same_bits(logged: float, read: float) -> bool:
    if math.isnan(logged):
        return math.isnan(read)
    return struct.pack("<d", logged) == struct.pack("<d", read)


def test_the_value_the_old_json_pivot_rounded_comes_back_exactly(nbtrack_home) -> None:
    with nbtrack.start_run() as run:
        nbtrack.log_metric("accuracy", 0.8716666666666667)
    frame = nbtrack.search_runs()
    assert frame["metrics.accuracy"][0] == 0.8716666666666667
    assert nbtrack.get_run(run.info.run_id).data.metrics["accuracy"] == 0.8716666666666667


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(floats, min_size=1, max_size=6))
def test_every_read_path_returns_the_logged_double(tmp_path, values: list[float]) -> None:
    # A notebook folder's store, as the server finds it: <root>/<folder>/.nbtrack/
    home = tmp_path / "project" / ".nbtrack"
    nbtrack.set_tracking_uri(home)
    keys = [f"m{i}" for i in range(len(values))]
    with nbtrack.start_run() as run:
        for key, value in zip(keys, values):
            nbtrack.log_metric(key, value, step=1)
    run_id = run.info.run_id

    frame = nbtrack.search_runs(filter_string=f"attributes.run_id = '{run_id}'")
    stored = nbtrack.get_run(run_id)
    client = nbtrack.Client()
    compared_frame = load_runs(runs=[run_id]).frame
    root, store = str(tmp_path), "project"
    served = json.loads(json.dumps(api.get_run(root, store, run_id), allow_nan=False))
    shown = CliRunner().invoke(cli_main, ["show", run_id, "--format", "json", "--store", str(home)])
    assert shown.exit_code == 0, shown.output
    shown_json = json.loads(shown.output)

    for key, value in zip(keys, values):
        assert same(value, frame[f"metrics.{key}"].iloc[0]), ("search_runs", value)
        assert same(value, stored.data.metrics[key]), ("get_run", value)
        assert same(value, stored.data.metric_summaries[key].last), ("summary", value)
        assert same_bits(value, client.get_metric_history(run_id, key)[0].value), ("history", value)
        assert same(value, compared_frame[f"metrics.{key}"].iloc[0]), ("compare", value)
        assert same(value, from_json_number(_served_metric(served, key))), ("server", value)
        assert same(value, from_json_number(shown_json["metrics"][key])), ("nbtrack show", value)


def _served_metric(payload: dict, key: str) -> float | str | None:
    return payload["metric_summaries"][key]["last"]
