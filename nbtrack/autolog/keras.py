"""``nbtrack.keras.autolog()``: Keras 3 ``Model.fit`` recorded as MLflow 3 records it, on any
backend (torch, jax, tensorflow).

``keras.Model.fit`` gets a callback in a copy of the user's callback list (the list they
passed is left as it was). What one fit records, in the run active while it runs:

- params: ``fit``'s arguments as called, defaults filled in (``epochs``, ``batch_size``,
  ``validation_split``, ``shuffle``, ``initial_epoch``...; not ``x``, ``y``, ``callbacks``,
  ``validation_data``, ``verbose``), and the optimizer's config as ``optimizer_name``,
  ``optimizer_learning_rate``...;
- metrics: Keras's epoch logs (``loss``, ``accuracy``, ``val_loss``...) with
  ``step=epoch`` (``log_every_epoch``), or the batch logs every ``log_every_n_steps``
  optimizer steps with ``step`` = the step; each validation pass's results as
  ``validation_loss``, ``validation_accuracy``... at step 0 (MLflow's ``on_test_end``);
- ``EarlyStopping``: params ``monitor``, ``min_delta``, ``patience``, ``baseline``,
  ``restore_best_weights``; metrics ``stopped_epoch`` and, when weights were restored,
  ``restored_epoch`` and the restored epoch's metrics at step ``stopped_epoch + 1``
  (MLflow's tensorflow autolog names);
- ``model_summary.txt``, the training data's fingerprint, and the model through
  ``nbtrack.keras.log_model`` under ``model``.

Example:
    >>> nbtrack.keras.autolog()  # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[keras.callbacks.EarlyStopping(patience=2)])  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from .imports import when_imported
from .registry import registry
from .runs import (
    autologged_call,
    guarded,
    log_bytes_to,
    log_metrics_to,
    log_params,
    log_training_data,
    report_failure,
)

FLAVOR = "keras"
UNLOGGED = ("self", "x", "y", "callbacks", "validation_data", "verbose")
INPUT_EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class KerasOptions:
    """``nbtrack.keras.autolog``'s options (MLflow 3's names and defaults)."""

    log_every_epoch: bool = True
    log_every_n_steps: int | None = None
    log_models: bool = True
    log_model_signatures: bool = True
    log_datasets: bool = True
    log_input_examples: bool = False
    exclusive: bool = False
    silent: bool = False
    registered_model_name: str | None = None
    extra_tags: dict[str, Any] = field(default_factory=dict)


def autolog(
    log_every_epoch: bool = True,
    log_every_n_steps: int | None = None,
    log_models: bool = True,
    log_model_signatures: bool = True,
    save_exported_model: bool = False,
    log_datasets: bool = True,
    log_input_examples: bool = False,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    save_model_kwargs: dict[str, Any] | None = None,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Record every Keras 3 ``Model.fit`` (MLflow's ``mlflow.keras.autolog``); ``disable=True``
    removes the patch. Keras is patched now if imported, else when it is imported.

    Example:
        >>> nbtrack.keras.autolog(log_every_epoch=False, log_every_n_steps=10)  # doctest: +SKIP
    """
    state = registry()
    state.revert(FLAVOR)
    if disable:
        return
    if log_every_epoch and log_every_n_steps is not None:
        raise InvalidInput("log_every_n_steps must be None when log_every_epoch=True; pass "
                           "log_every_epoch=False to log every n steps")
    if not log_every_epoch and log_every_n_steps is None:
        raise InvalidInput("log_every_epoch=False needs log_every_n_steps (a positive int)")
    if log_every_n_steps is not None and (not isinstance(log_every_n_steps, int) or log_every_n_steps < 1):
        raise InvalidInput(f"log_every_n_steps must be a positive int; got {log_every_n_steps!r}")
    if save_exported_model:
        raise InvalidInput("save_exported_model=True (a TensorFlow export) is not supported; nbtrack "
                           "logs the .keras format, which mlflow.keras loads too")
    if save_model_kwargs:
        raise InvalidInput("save_model_kwargs is not supported; nbtrack saves with Keras's defaults")
    options = KerasOptions(log_every_epoch, log_every_n_steps, log_models, log_model_signatures,
                           log_datasets, log_input_examples, exclusive, silent, registered_model_name,
                           dict(extra_tags or {}))
    state.options[FLAVOR] = options
    when_imported("keras", FLAVOR, lambda module: _patch(module, options))


def _patch(keras: Any, options: KerasOptions) -> None:
    state = registry()
    if state.options.get(FLAVOR) is not options:
        return
    if not str(getattr(keras, "__version__", "")).startswith("3"):
        report_failure(FLAVOR, InvalidInput(f"nbtrack.keras.autolog needs Keras 3; found "
                                            f"{getattr(keras, '__version__', '?')}"), options.silent)
        return
    state.patch(FLAVOR, keras.Model, "fit", _fit_patch)


def _fit_patch(original: Any) -> Any:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        return autologged_fit(original, self, args, kwargs)

    fit._nbtrack_autolog = True  # type: ignore[attr-defined]
    return fit


def autologged_fit(original: Any, model: Any, args: tuple, kwargs: dict) -> Any:
    options: KerasOptions | None = registry().options.get(FLAVOR)

    def before(run: Any) -> tuple[_Call, tuple, dict] | None:
        call = _before_fit(original, model, args, kwargs, options, run)
        return None if call is None else (call, call.args, call.kwargs)

    return autologged_call(FLAVOR, options, original, model, args, kwargs, before=before,
                           after=lambda call, history, run: _after_fit(model, history, call, options, run))


@dataclass
class _Call:
    args: tuple
    kwargs: dict
    bound: dict
    early_stopping: Any


def fit_arguments(original: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Every argument of the fit call by name, defaults filled in (what MLflow logs)."""
    parameters = [p for p in inspect.signature(original).parameters.values() if p.name != "self"]
    bound = {p.name: p.default for p in parameters
             if p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD}
    bound.update(zip((p.name for p in parameters), args))
    bound.update(kwargs)
    return bound


def _before_fit(original: Any, model: Any, args: tuple, kwargs: dict, options: KerasOptions,
                run: Any) -> _Call:
    import keras

    bound = fit_arguments(original, args, kwargs)
    params = {k: v for k, v in bound.items() if k not in UNLOGGED}
    if params.get("batch_size") is None:
        batch = getattr(bound.get("x"), "batch_size", None) or getattr(bound.get("x"), "_batch_size", None)
        if isinstance(batch, int):
            params["batch_size"] = batch
    early = next((c for c in bound.get("callbacks") or () if isinstance(c, keras.callbacks.EarlyStopping)), None)
    if early is not None:
        params.update({"monitor": early.monitor, "min_delta": early.min_delta, "patience": early.patience,
                       "baseline": early.baseline, "restore_best_weights": early.restore_best_weights})
    log_params(params, FLAVOR, options.silent)
    if options.log_datasets:
        with guarded(FLAVOR, options.silent):
            if bound.get("x") is not None:
                log_training_data(bound["x"], "train")
            if isinstance(bound.get("validation_data"), tuple):
                log_training_data(bound["validation_data"][0], "eval")
    # A copy of the user's list: the list they passed is theirs (MLflow appends to it).
    callbacks = list(bound.get("callbacks") or ()) + [_callback(options, run)]
    if len(args) > 5:
        args = args[:5] + (callbacks,) + args[6:]
    else:
        kwargs = {**kwargs, "callbacks": callbacks}
    return _Call(args, kwargs, bound, early)


def _callback(options: KerasOptions, run: Any) -> Any:
    """An instance of the callback class (made once Keras is imported)."""
    state = registry()
    cls = state.flavor_state.get("keras_callback")
    if cls is None:
        cls = state.flavor_state["keras_callback"] = _callback_class()
    return cls(options, run)


def _callback_class() -> type:
    import keras

    class NbtrackCallback(keras.callbacks.Callback):
        """Logs the optimizer's config at the start and metrics per epoch or every n steps; a
        failure here is reported once and never stops training."""

        def __init__(self, options: KerasOptions, run: Any) -> None:
            super().__init__()
            self.options = options
            self.run = run

        def on_train_begin(self, logs: Any = None) -> None:
            with guarded(FLAVOR, self.options.silent):
                config = self.model.optimizer.get_config()
                log_params({f"optimizer_{k}": v for k, v in config.items()}, FLAVOR, self.options.silent)
                lines: list[str] = []
                self.model.summary(print_fn=lambda line, *a, **k: lines.append(line))
                log_bytes_to(self.run, "\n".join(lines).encode(), "model_summary.txt")

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if self.options.log_every_epoch and logs:
                with guarded(FLAVOR, self.options.silent):
                    log_metrics_to(self.run, logs, step=epoch)

        def on_test_end(self, logs: Any = None) -> None:
            # MLflow's callback: each validation pass (one per epoch inside fit) logs its
            # results as validation_* at step 0, so the latest is the fit's final validation.
            if logs:
                with guarded(FLAVOR, self.options.silent):
                    log_metrics_to(self.run, {f"validation_{k}": v for k, v in logs.items()}, step=0)

        def on_batch_end(self, batch: int, logs: Any = None) -> None:
            n = self.options.log_every_n_steps
            if n is None or not logs:
                return
            with guarded(FLAVOR, self.options.silent):
                step = int(self.model.optimizer.iterations.numpy())
                if step % n == 0:
                    log_metrics_to(self.run, logs, step=step)

    return NbtrackCallback


def _after_fit(model: Any, history: Any, call: _Call, options: KerasOptions, run: Any) -> None:
    if call.early_stopping is not None:
        with guarded(FLAVOR, options.silent):
            early_stopping_metrics(call.early_stopping, history, run)
    if options.log_models:
        with guarded(FLAVOR, options.silent):
            _log_model(model, call.bound.get("x"), options)


def early_stopping_metrics(callback: Any, history: Any, run: Any) -> None:
    """``stopped_epoch``; with restored weights, ``restored_epoch`` and that epoch's metrics at
    step ``stopped_epoch + 1`` (MLflow's tensorflow autolog)."""
    if not getattr(callback.model, "stop_training", False):
        return
    log_metrics_to(run, {"stopped_epoch": callback.stopped_epoch})
    monitored = (getattr(history, "history", None) or {}).get(callback.monitor)
    if not callback.restore_best_weights or callback.best_weights is None or not monitored:
        return
    restored = history.epoch[0] + monitored.index(callback.best)
    log_metrics_to(run, {"restored_epoch": restored})
    index = history.epoch.index(restored)
    log_metrics_to(run, {k: v[index] for k, v in history.history.items()}, step=callback.stopped_epoch + 1)


def _log_model(model: Any, x: Any, options: KerasOptions) -> None:
    import numpy as np

    from ..models.flavors.keras import log_model

    example = signature = None
    if (options.log_input_examples or options.log_model_signatures) and isinstance(x, np.ndarray):
        example = x[:INPUT_EXAMPLE_ROWS].copy()
    if options.log_model_signatures and example is not None:
        from ..models.signature import infer_signature

        signature = infer_signature(example, np.asarray(model.predict(example, verbose=0)))
    log_model(model, name="model", input_example=example if options.log_input_examples else None,
              signature=signature if options.log_model_signatures else False,
              registered_model_name=options.registered_model_name)
