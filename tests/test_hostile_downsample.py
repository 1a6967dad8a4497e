"""The one downsampler (issue #14, item 9): its SQL, Python and numpy forms keep the same points.

The SQL form reads a stored series bucket by bucket; it must agree with the
in-memory forms the widgets use, keep every spike, and never need the whole
series in Python.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

import nbtrack
from nbtrack.paths import current_location
from nbtrack.render.downsample import downsample, minmax_downsample
from nbtrack.store import queries
from nbtrack.store.database import open_store
from nbtrack.store.metric_downsample import downsample_series


def _values(count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    values = [rng.choice([rng.random(), rng.random(), 0.5, float("nan")]) for _ in range(count)]
    values[count // 3] = 1e6  # a one-step spike
    values[count // 2] = -1e6  # and a dip
    values[count // 4] = float("inf")
    return values


def _stored(store, run_id: str, key: str) -> list[tuple]:
    return queries.metric_series(store, queries.run_pk(store, run_id), key)


@pytest.mark.parametrize("count, max_points", [(10, 500), (5_000, 500), (12_345, 100), (40_000, 1000)])
def test_sql_python_and_numpy_forms_agree_on_one_series(count: int, max_points: int) -> None:
    with nbtrack.start_run() as run:
        for step, value in enumerate(_values(count, count)):
            nbtrack.log_metric("loss", value, step=step)
    nbtrack.flush()
    with open_store(current_location(), readonly=True) as store:
        stored = _stored(store, run.info.run_id, "loss")
        series = downsample_series(store, queries.run_pk(store, run.info.run_id), "loss", max_points)
    assert series.total_points == count
    assert series.points == downsample(stored, max_points)
    steps = np.array([p[1] for p in stored])
    values = np.array([math.nan if p[0] is None else p[0] for p in stored])
    kept_steps, _ = minmax_downsample(steps, values, max_points)
    # numpy keeps one point of an all-NaN bucket (a gap marker); otherwise the same points.
    assert {p[1] for p in series.points} <= set(kept_steps.tolist())


def test_interleaved_series_keep_their_extremes_and_only_their_points() -> None:
    count = 30_000
    a, b = _values(count, 1), _values(count, 2)
    with nbtrack.start_run() as run:
        for step in range(count):  # two keys logged alternately: their chunks interleave
            nbtrack.log_metric("a", a[step], step=step)
            nbtrack.log_metric("b", b[step] + 10, step=step)
    nbtrack.flush()
    with open_store(current_location(), readonly=True) as store:
        pk = queries.run_pk(store, run.info.run_id)
        series = downsample_series(store, pk, "a", 500)
    assert series.total_points == count and len(series.points) <= 500
    kept = {(p[1], p[0]) for p in series.points}
    assert (count // 3, 1e6) in kept and (count // 2, -1e6) in kept and (count // 4, math.inf) in kept
    assert all(value == a[step] for value, step, _ in series.points)  # each point is a's, not b's
    assert [p[1] for p in series.points] == sorted(p[1] for p in series.points)
    assert series.points[0][1] == 0 and series.points[-1][1] == count - 1


def test_a_series_that_is_all_nan_keeps_its_ends() -> None:
    with nbtrack.start_run() as run:
        for step in range(2_000):
            nbtrack.log_metric("gone", float("nan"), step=step)
    nbtrack.flush()
    with open_store(current_location(), readonly=True) as store:
        series = downsample_series(store, queries.run_pk(store, run.info.run_id), "gone", 50)
    assert [p[1] for p in series.points] == [0, 1999] and series.downsampled


@pytest.mark.parametrize("module", ["nbtrack.render.downsample", "nbtrack.store.metric_downsample",
                                    "nbtrack.store.doctor", "nbtrack.store.files", "nbtrack.store.filters", "nbtrack.store.readonly",
                                    "nbtrack.server.errors", "nbtrack.server.paths", "nbtrack.cli"])
def test_docstring_examples_of_the_hardened_modules_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
