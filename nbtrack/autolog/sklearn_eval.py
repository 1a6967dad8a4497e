"""Post-training metrics: ``accuracy_score(y_test, model.predict(X_test))`` logged as
``accuracy_score_X_test`` in the run the model was fitted in, as MLflow logs it.

How, as MLflow does it (``_AutologgingMetricsManager``), without its trap:

- ``predict`` / ``predict_proba`` / ``predict_log_proba`` / ``transform`` of a model
  autolog fitted remember the result object (by ``id``, forgotten by a
  ``weakref.finalize`` when it is collected) with the run and the name of the variable
  the caller passed (``X_test``; ``unknown_dataset`` when there is none), found by
  walking up the caller's frames; a second object under the same name becomes
  ``X_test-2``;
- a ``sklearn.metrics`` function called on such a result logs
  ``{function}[-{call index}]_{dataset}`` (``accuracy_score_X_test``,
  ``accuracy_score-2_X_test``); ``model.score(X, y)`` logs ``{Class}_score_{dataset}``;
  ``metric_info.json`` maps each key to the call that made it;
- the model -> run map holds weak references (nothing is written onto the model, so
  nothing travels into its pickle), and a metric is logged **only while that run is
  open**: a model whose run has ended writes nothing (MLflow #7814 logs into the ended
  run). Such a metric is dropped with one warning per process (none when ``silent``).

Limits (MLflow's too): autolog must be on before ``from sklearn.metrics import
accuracy_score``; only the prediction object itself is followed, not a copy or slice;
scorers (``get_scorer``) are not followed.

Example:
    >>> nbtrack.sklearn.autolog()  # doctest: +SKIP
    >>> with nbtrack.start_run():  # doctest: +SKIP
    ...     model.fit(X_train, y_train)
    ...     accuracy_score(y_test, model.predict(X_test))  # logs accuracy_score_X_test
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
import threading
import weakref
from collections import defaultdict
from typing import Any

from ..errors import warn_once
from .registry import registry
from .runs import guarded, is_open, log_bytes_to, log_metrics_to

FLAVOR = "sklearn"
PREDICT_METHODS = ("predict", "predict_proba", "transform", "predict_log_proba")
# sklearn.metrics names that are not metrics of predictions
NOT_METRICS = ("check_scoring", "get_scorer", "make_scorer", "get_scorer_names")


class Evaluations:
    """What post-training metrics remember: predictions -> (run, dataset name), dataset names
    per run, and each run's metric calls (for the index in the key and metric_info.json)."""

    def __init__(self) -> None:
        self.predictions: dict[int, tuple[Any, str]] = {}
        self.datasets: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        self.calls: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
        self.local = threading.local()  # .depth: inside a metric or score call already

    def busy(self) -> bool:
        return getattr(self.local, "depth", 0) > 0

    def enter(self) -> None:
        self.local.depth = getattr(self.local, "depth", 0) + 1

    def leave(self) -> None:
        self.local.depth -= 1


def evaluations() -> Evaluations:
    state = registry()
    with state.lock:
        current = state.flavor_state.get(FLAVOR)
        if current is None:
            current = state.flavor_state[FLAVOR] = Evaluations()
    return current


def _quiet() -> bool:
    return bool(getattr(registry().options.get(FLAVOR), "silent", True))


def _skip(ev: Evaluations) -> bool:
    """Metric calls inside a fit (training metrics) or inside another metric call are not
    post-training metrics."""
    return ev.busy() or registry().training_active(FLAVOR)


# --- patches ------------------------------------------------------------------------------


def patch_estimator(cls: type) -> None:
    from .sklearn import patch_method

    for name in PREDICT_METHODS:
        patch_method(cls, name, _predict_patch)
    patch_method(cls, "score", _score_patch)


def patch_metric_functions() -> None:
    import sklearn.metrics

    for name in sklearn.metrics.__all__:
        function = getattr(sklearn.metrics, name, None)
        if (name in NOT_METRICS or name.startswith("plot_") or inspect.isclass(function)
                or not inspect.isfunction(function)):
            continue
        registry().patch(FLAVOR, sklearn.metrics, name, _metric_patch)


def _predict_patch(original: Any) -> Any:
    @functools.wraps(original)
    def predict(self: Any, *args: Any, **kwargs: Any) -> Any:
        from .sklearn import fitted_in

        ev = evaluations()
        if _skip(ev):
            return original(self, *args, **kwargs)
        run = fitted_in(self)
        if run is None:
            return original(self, *args, **kwargs)
        ev.enter()
        try:
            result = original(self, *args, **kwargs)
        finally:
            ev.leave()
        with guarded(FLAVOR, _quiet()):
            data = _first_argument(original, args, kwargs)
            name = dataset_name(ev, run, data, sys._getframe())
            _remember(ev, result, run, name)
        return result

    predict._nbtrack_autolog = True  # type: ignore[attr-defined]
    return predict


def _score_patch(original: Any) -> Any:
    @functools.wraps(original)
    def score(self: Any, *args: Any, **kwargs: Any) -> Any:
        from .sklearn import fitted_in

        ev = evaluations()
        if _skip(ev):
            return original(self, *args, **kwargs)
        run = fitted_in(self)
        ev.enter()
        try:
            value = original(self, *args, **kwargs)
        finally:
            ev.leave()
        if run is not None and _loggable(value):
            with guarded(FLAVOR, _quiet()):
                frame = sys._getframe()
                name = dataset_name(ev, run, _first_argument(original, args, kwargs), frame)
                command = call_command(original, args, kwargs, frame, owner=self)
                _log(ev, run, f"{type(self).__name__}_score", name, command, value)
        return value

    score._nbtrack_autolog = True  # type: ignore[attr-defined]
    return score


def _metric_patch(original: Any) -> Any:
    @functools.wraps(original)
    def metric(*args: Any, **kwargs: Any) -> Any:
        ev = evaluations()
        if _skip(ev):
            return original(*args, **kwargs)
        ev.enter()
        try:
            value = original(*args, **kwargs)
        finally:
            ev.leave()
        if _loggable(value) and ev.predictions:
            with guarded(FLAVOR, _quiet()):
                found = _prediction_among(ev, list(args) + list(kwargs.values()))
                if found is not None:
                    run, name = found
                    command = call_command(original, args, kwargs, sys._getframe())
                    _log(ev, run, original.__name__, name, command, value)
        return value

    metric._nbtrack_autolog = True  # type: ignore[attr-defined]
    return metric


# --- bookkeeping ----------------------------------------------------------------------------


def _loggable(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _first_argument(method: Any, args: tuple, kwargs: dict) -> Any:
    if args:
        return args[0]
    names = [p for p in inspect.signature(method).parameters if p != "self"]
    return kwargs.get(names[0]) if names else None


def _remember(ev: Evaluations, result: Any, run: Any, name: str) -> None:
    key = id(result)
    try:
        weakref.finalize(result, ev.predictions.pop, key, None)
    except TypeError:
        return  # a result that cannot be weakly referenced cannot be followed safely by id
    ev.predictions[key] = (run, name)


def _prediction_among(ev: Evaluations, values: list[Any]) -> tuple[Any, str] | None:
    import numpy as np

    for value in values:
        if value is not None and not np.isscalar(value) and id(value) in ev.predictions:
            return ev.predictions[id(value)]
    return None


def _log(ev: Evaluations, run: Any, metric: str, dataset: str, command: str, value: Any) -> None:
    """Log ``{metric}[-{index}]_{dataset}`` into ``run`` if it is still open; rewrite its
    metric_info.json."""
    if not is_open(run):
        if not _quiet():
            warn_once("autolog:sklearn:ended-run",
                      f"nbtrack autolog: {metric} on predictions of a model fitted in run "
                      f"{run.run_id}, which has ended, is not logged (compute metrics while the "
                      "run is open: in the same %%track cell or start_run block)")
        return
    calls = ev.calls[run.run_id][metric]
    key = f"{_indexed(metric, len(calls))}_{dataset}"
    calls.append((key, command))
    log_metrics_to(run, {key: value})
    everything = sorted(c for per_metric in ev.calls[run.run_id].values() for c in per_metric)
    log_bytes_to(run, json.dumps(dict(everything), indent=2).encode(), "metric_info.json")


def _indexed(name: str, index: int) -> str:
    """MLflow's naming: the first call keeps the name, later ones get ``-2``, ``-3``... ('-' is
    not a character of a Python name, so it never clashes with one)."""
    return name if index == 0 else f"{name}-{index + 1}"


def dataset_name(ev: Evaluations, run: Any, data: Any, frame: Any) -> str:
    """The caller's variable name for ``data`` (``X_test``), indexed when another object
    already went by that name in this run."""
    name = variable_name(data, frame, "unknown_dataset")
    seen = ev.datasets[run.run_id][name]
    for index, known in enumerate(seen):
        if known == id(data):
            return _indexed(name, index)
    seen.append(id(data))
    return _indexed(name, len(seen) - 1)


def variable_name(value: Any, frame: Any, fallback: str) -> str:
    """The name ``value`` has in the outermost frame that did not receive it as an argument
    (MLflow's ``_inspect_original_var_name``): the user's cell, past every wrapper."""
    if value is None:
        return fallback
    try:
        while frame is not None:
            info = inspect.getargvalues(frame)
            passed = [info.locals[a] for a in info.args if a in info.locals]
            if info.varargs:
                passed += list(info.locals.get(info.varargs, ()))
            if info.keywords:
                passed += list(info.locals.get(info.keywords, {}).values())
            if any(value is arg for arg in passed):
                frame = frame.f_back
                continue
            for name, local in frame.f_locals.items():
                if local is value:
                    return name
            return fallback
    except Exception:
        pass
    return fallback


def call_command(function: Any, args: tuple, kwargs: dict, frame: Any, owner: Any = None) -> str:
    """``accuracy_score(y_true=y_test, y_pred=<ndarray>)``: the call as metric_info.json shows it."""
    import numpy as np

    def text(value: Any) -> str:
        if value is None or np.isscalar(value):
            if isinstance(value, str) and len(value) > 32:
                return repr(value[:32] + "...")
            return repr(value)
        return variable_name(value, frame, f"<{type(value).__name__}>")

    names = [p for p in inspect.signature(function).parameters if p != "self"]
    parts = [f"{n}={text(v)}" for n, v in zip(names, args)]
    parts += [f"{n}={text(v)}" for n, v in kwargs.items()]
    prefix = f"{type(owner).__name__}.{function.__name__}" if owner is not None else function.__name__
    return f"{prefix}({', '.join(parts)})"
