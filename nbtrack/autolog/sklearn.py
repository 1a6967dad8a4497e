"""``nbtrack.sklearn.autolog()``: scikit-learn fits recorded as MLflow records them.

What one outer ``fit`` (or ``fit_transform`` / ``fit_predict``) records, in the run that is
active while it runs (see ``autolog.runs``):

- params: ``get_params(deep=True)`` (``clf__C``, ``tfidf__ngram_range``...; a search
  estimator's own params only, ``deep=False``), values cut at 6,000 characters with
  ``...`` as MLflow's autolog does;
- tags ``estimator_name`` and ``estimator_class``;
- training metrics under MLflow's names (``training_accuracy_score``,
  ``training_f1_score``, ``training_precision_score``, ``training_recall_score``,
  ``training_log_loss``, ``training_roc_auc``, ``training_score`` for a classifier;
  ``training_mean_squared_error``, ``training_root_mean_squared_error``,
  ``training_mean_absolute_error``, ``training_r2_score``, ``training_score`` for a
  regressor), when labels were passed;
- for a classifier, with matplotlib installed, MLflow's images
  (``autolog.sklearn_plots``): ``training_confusion_matrix.png`` and, when binary,
  ``training_roc_curve.png`` and ``training_precision_recall_curve.png``;
- the model, through ``nbtrack.sklearn.log_model`` under ``model`` (skops by default);
- the training data's fingerprint (``log_datasets``);
- for ``GridSearchCV`` / ``RandomizedSearchCV``: ``best_*`` params, ``best_cv_score``,
  the ``best_estimator`` model, ``cv_results.csv``, and one child run (tag
  ``mlflow.parentRunId``) for each of the best ``max_tuning_runs`` candidates
  (``autolog.sklearn_search``).

Like MLflow, every class of ``sklearn.utils.all_estimators()`` is patched, except
preprocessing, imputation, feature extraction/selection and ``ColumnTransformer`` (they
log as part of a Pipeline); only the outermost fit logs. Post-training metrics live in
``autolog.sklearn_eval``.

Example:
    >>> import nbtrack
    >>> nbtrack.sklearn.autolog()  # doctest: +SKIP
    >>> with nbtrack.start_run():  # doctest: +SKIP
    ...     pipe.fit(X_train, y_train)
"""

from __future__ import annotations

import copy
import functools
import inspect
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from .imports import when_imported
from .registry import registry
from .runs import (autologged_call, guarded, log_bytes_to, log_metrics_to, log_params,
                   log_training_data, set_tags)
from .sklearn_plots import classifier_images, plotting_available

FLAVOR = "sklearn"
TRAINING_PREFIX = "training_"
INPUT_EXAMPLE_ROWS = 5  # MLflow's INPUT_EXAMPLE_SAMPLE_ROWS
FIT_METHODS = ("fit", "fit_transform", "fit_predict")
# data manipulation, not models: logged as part of a Pipeline only (MLflow's exclusions)
EXCLUDED_MODULES = ("sklearn.preprocessing", "sklearn.impute", "sklearn.feature_extraction",
                    "sklearn.feature_selection")
EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)
# fits inside these are many models, not one: nothing is logged in them (MLflow PR #4590)
WITHOUT_AUTOLOG = ("cross_validate", "cross_val_predict", "cross_val_score", "learning_curve",
                   "permutation_test_score", "validation_curve")


@dataclass(frozen=True)
class SklearnOptions:
    """``nbtrack.sklearn.autolog``'s options, as given (MLflow's names and defaults: models are
    saved with cloudpickle, as MLflow's autolog saves them, since skops refuses a fitted
    GridSearchCV's scorer and CV splitter types; pass ``serialization_format="skops"`` to
    choose skops)."""

    log_input_examples: bool = False
    log_model_signatures: bool = True
    log_models: bool = True
    log_datasets: bool = True
    exclusive: bool = False
    silent: bool = False
    max_tuning_runs: int | None = 5
    log_post_training_metrics: bool = True
    serialization_format: str = "cloudpickle"
    registered_model_name: str | None = None
    pos_label: Any = None
    extra_tags: dict[str, Any] = field(default_factory=dict)


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_post_training_metrics: bool = True,
    serialization_format: str = "cloudpickle",
    registered_model_name: str | None = None,
    pos_label: Any = None,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Record every scikit-learn fit (MLflow's ``mlflow.sklearn.autolog``); ``disable=True``
    removes every patch. scikit-learn is patched now if imported, else when it is imported.

    Example:
        >>> nbtrack.sklearn.autolog(max_tuning_runs=3)  # doctest: +SKIP
        >>> GridSearchCV(pipe, grid).fit(X, y)  # doctest: +SKIP
    """
    state = registry()
    state.revert(FLAVOR)  # a second call replaces the first (options and patches)
    if disable:
        return
    if max_tuning_runs is not None and (not isinstance(max_tuning_runs, int) or max_tuning_runs < 0):
        raise InvalidInput(f"max_tuning_runs must be a non-negative int or None; got {max_tuning_runs!r}")
    if extra_tags is not None and not isinstance(extra_tags, dict):
        raise InvalidInput(f"extra_tags must be a dict of tag -> value; got {type(extra_tags).__name__}")
    options = SklearnOptions(log_input_examples, log_model_signatures, log_models, log_datasets,
                             exclusive, silent, max_tuning_runs, log_post_training_metrics,
                             serialization_format, registered_model_name, pos_label, dict(extra_tags or {}))
    state.options[FLAVOR] = options
    when_imported("sklearn", FLAVOR, lambda module: _patch_all(options))


def _patch_all(options: SklearnOptions) -> None:
    state = registry()
    if state.options.get(FLAVOR) is not options:
        return  # disabled or replaced before scikit-learn was imported
    with guarded(FLAVOR, options.silent):
        from . import sklearn_eval

        for cls in estimator_classes():
            for name in FIT_METHODS:
                patch_method(cls, name, _fit_patch)
            if options.log_post_training_metrics:
                sklearn_eval.patch_estimator(cls)
        if options.log_post_training_metrics:
            sklearn_eval.patch_metric_functions()
        import sklearn.model_selection
        from sklearn.model_selection import _validation

        # Both the public names and their module's: cross_val_score imported before autolog
        # still calls the module's cross_validate.
        for module in (sklearn.model_selection, _validation):
            for name in WITHOUT_AUTOLOG:
                state.patch(FLAVOR, module, name, _without_autolog)


def estimator_classes() -> list[type]:
    """The classes MLflow patches: ``all_estimators()`` plus the search CVs and Pipeline, less
    data-manipulation steps."""
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    classes = {cls for _, cls in all_estimators()} | {GridSearchCV, RandomizedSearchCV, Pipeline}
    return sorted((c for c in classes if not c.__module__.startswith(EXCLUDED_MODULES)
                   and f"{c.__module__}.{c.__name__}" not in EXCLUDED_CLASSES),
                  key=lambda c: (len(c.__mro__), c.__module__, c.__name__))


def patch_method(cls: type, name: str, make: Any) -> None:
    """Patch ``cls.name`` with ``make(original)``: a plain function on the class, or the function
    inside scikit-learn's ``available_if`` descriptor (so ``hasattr`` answers as before)."""
    try:
        raw = inspect.getattr_static(cls, name)
    except AttributeError:
        return
    if getattr(raw, "_nbtrack_autolog", False):
        return  # inherited from a class patched already
    if inspect.isfunction(raw):
        registry().patch(FLAVOR, cls, name, make)
    elif inspect.isfunction(getattr(raw, "fn", None)) and hasattr(raw, "check"):
        registry().patch(FLAVOR, raw, "fn", make)


def _fit_patch(original: Any) -> Any:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        return autologged_fit(original, self, args, kwargs)

    fit._nbtrack_autolog = True  # type: ignore[attr-defined]
    return fit


def _without_autolog(original: Any) -> Any:
    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        state = registry()
        state.enter_training(FLAVOR)  # every fit inside is a nested one
        try:
            return original(*args, **kwargs)
        finally:
            state.exit_training(FLAVOR)

    return call


def autologged_fit(original: Any, estimator: Any, args: tuple, kwargs: dict) -> Any:
    """Call ``original`` as the user did; record it when it is the outermost fit."""
    options: SklearnOptions | None = registry().options.get(FLAVOR)
    return autologged_call(
        FLAVOR, options, original, estimator, args, kwargs,
        before=lambda run: (_before_fit(original, estimator, args, kwargs, options), args, kwargs),
        after=lambda training, _result, run: _after_fit(estimator, training, options, run))


@dataclass
class _Training:
    X: Any
    y: Any
    sample_weight: Any


def _before_fit(original: Any, estimator: Any, args: tuple, kwargs: dict,
                options: SklearnOptions) -> _Training:
    """Params, tags and the data's fingerprint. X and y are kept by reference, not copied:
    a copy of the whole training set on every fit doubled its memory (MLflow keeps them too)."""
    X, y, sample_weight = training_data(original, args, kwargs)
    log_params(estimator.get_params(deep=not is_search(estimator)), FLAVOR, options.silent)
    set_tags(estimator_tags(estimator))
    if options.log_datasets and X is not None:
        with guarded(FLAVOR, options.silent):
            log_training_data(X, "train")
    return _Training(X, y, sample_weight)


def _copied(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def training_data(fit: Any, args: tuple, kwargs: dict) -> tuple[Any, Any, Any]:
    """(X, y, sample_weight) of a fit call, by the fit's own parameter names (MLflow's
    ``_get_X_y_and_sample_weight``)."""
    names = [p for p in inspect.signature(fit).parameters if p != "self"]
    bound = dict(zip(names, args))
    bound.update(kwargs)
    x_name = names[0] if names else "X"
    y_name = names[1] if len(names) > 1 else "y"
    return bound.get(x_name), bound.get(y_name), bound.get("sample_weight")


def estimator_tags(estimator: Any) -> dict[str, str]:
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}


def is_search(estimator: Any) -> bool:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    return isinstance(estimator, (GridSearchCV, RandomizedSearchCV))


def _after_fit(estimator: Any, training: _Training, options: SklearnOptions, run: Any) -> None:
    """Metrics, model, search results; each part on its own, so one failing keeps the others."""
    predictions: Predictions | None = None
    with guarded(FLAVOR, options.silent):
        if training.y is not None:
            predictions = training_predictions(estimator, training.X)
            log_metrics_to(run, training_metrics(estimator, training, options.pos_label, predictions))
    if predictions is not None and predictions.classes is not None and plotting_available():
        with guarded(FLAVOR, options.silent):
            _log_images_later(run, estimator, training, predictions, options)
    example = signature = None
    if options.log_models:
        with guarded(FLAVOR, options.silent):
            example, signature = _example_and_signature(estimator, training.X, options)
            log_model(estimator, "model", example, signature, options, options.registered_model_name)
    if is_search(estimator):
        from .sklearn_search import log_search

        with guarded(FLAVOR, options.silent):
            log_search(estimator, options, run, example, signature)
    if options.log_post_training_metrics:
        with guarded(FLAVOR, options.silent):
            registry().model_runs[estimator] = run


def _log_images_later(run: Any, estimator: Any, training: _Training, predictions: Predictions,
                      options: SklearnOptions) -> None:
    """Draw the classifier images off the user's thread: matplotlib takes 0.3-0.5 s for the
    three (1.5 s more to import it the first time), which would multiply a small fit's time.
    The run's end and any read in this process wait for them (``ActiveRun.defer``). What
    they are drawn from is copied now: the user may change their arrays after fit returns."""
    import numpy as np

    from ..store.database import now_ms

    y = np.array(training.y, copy=True)
    weight = None if training.sample_weight is None else np.array(training.sample_weight, copy=True)
    predicted, scores = np.array(predictions.predicted, copy=True), predictions.positive_scores()
    scores = None if scores is None else np.array(scores, copy=True)
    classes, name = list(predictions.classes or ()), type(estimator).__name__
    fitted_at = now_ms()

    def draw_and_log() -> None:
        with guarded(FLAVOR, options.silent):
            images = classifier_images(y, predicted, scores, classes=classes, sample_weight=weight,
                                       estimator_name=name)
            for file_name, data in images.items():
                log_bytes_to(run, data, file_name, time_ms=fitted_at)

    run.defer(draw_and_log, "autolog images")


@dataclass
class Predictions:
    """A fitted estimator's output on its training data, computed once for the training
    metrics and the classifier images. ``classes`` is None for anything but a classifier."""

    predicted: Any
    proba: Any | None = None
    decision: Any | None = None
    classes: list[Any] | None = None

    def positive_scores(self) -> Any | None:
        """A binary classifier's score for its second class (probability, else decision value)."""
        if self.classes is None or len(self.classes) != 2:
            return None
        if self.proba is not None and self.proba.ndim == 2 and self.proba.shape[1] == 2:
            return self.proba[:, 1]
        if self.decision is not None and self.decision.ndim == 1:
            return self.decision
        return None


def training_predictions(estimator: Any, X: Any) -> Predictions | None:
    """``predict`` (and for a classifier ``predict_proba``, else ``decision_function``) on ``X``;
    None for an estimator that is neither a classifier nor a regressor."""
    from sklearn import base

    if not (base.is_classifier(estimator) or base.is_regressor(estimator)):
        return None
    out = Predictions(estimator.predict(X))
    if base.is_classifier(estimator):
        classes = getattr(estimator, "classes_", None)
        out.classes = list(classes) if classes is not None and getattr(classes, "ndim", 1) == 1 else None
        out.proba = _optional_output(estimator, "predict_proba", X)
        if out.proba is None:
            out.decision = _optional_output(estimator, "decision_function", X)
    return out


def _optional_output(estimator: Any, method: str, X: Any) -> Any | None:
    """``estimator.<method>(X)``, or None where it has no such method or it fails
    (``SVC(probability=False).predict_proba`` raises)."""
    if not hasattr(estimator, method):
        return None
    try:
        return getattr(estimator, method)(X)
    except Exception:  # noqa: BLE001 - a missing score is left out, as MLflow leaves it
        return None


def training_metrics(estimator: Any, training: _Training, pos_label: Any = None,
                     predictions: Predictions | None = None) -> dict[str, float]:
    """MLflow's training metrics for a classifier or regressor, plus ``training_score``; a
    metric that cannot be computed (one class only...) is left out, as MLflow does."""
    import numpy as np
    from sklearn import base, metrics

    X, y, weight = training.X, training.y, training.sample_weight
    if predictions is None:
        predictions = training_predictions(estimator, X)
    p = TRAINING_PREFIX
    out: dict[str, float] = {}

    def add(name: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        try:
            out[p + name] = fn(*args, **kwargs)
        except Exception:
            pass

    if base.is_classifier(estimator) and predictions is not None:
        predicted = predictions.predicted
        average = "weighted" if pos_label is None else "binary"
        try:  # one pass gives what precision_score, recall_score and f1_score each compute
            scores = metrics.precision_recall_fscore_support(
                y, predicted, pos_label=pos_label, average=average, sample_weight=weight)
            out.update(zip((p + "precision_score", p + "recall_score", p + "f1_score"), scores[:3]))
        except Exception:
            pass
        add("accuracy_score", metrics.accuracy_score, y, predicted, normalize=True, sample_weight=weight)
        proba = predictions.proba
        if proba is not None:
            add("log_loss", metrics.log_loss, y, proba, sample_weight=weight)
            scores = proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else proba
            add("roc_auc", metrics.roc_auc_score, y, scores, average="weighted",
                sample_weight=weight, multi_class="ovo")
    elif base.is_regressor(estimator) and predictions is not None:
        predicted = predictions.predicted
        for name in ("mean_squared_error", "mean_absolute_error", "r2_score"):
            add(name, getattr(metrics, name), y, predicted, sample_weight=weight,
                multioutput="uniform_average")
        if p + "mean_squared_error" in out:
            out[p + "root_mean_squared_error"] = float(np.sqrt(out[p + "mean_squared_error"]))
    if hasattr(estimator, "score"):
        try:
            score_args = inspect.signature(estimator.score).parameters
            extra = (weight,) if "sample_weight" in score_args and weight is not None else ()
            out[p + "score"] = estimator.score(X, y, *extra)
        except Exception:
            pass
    return out


def _example_and_signature(estimator: Any, X: Any, options: SklearnOptions) -> tuple[Any, Any]:
    """The first rows of X as the input example (when asked), and the signature inferred from
    them and the model's output (``False`` when signatures are off)."""
    if not options.log_input_examples and not options.log_model_signatures:
        return None, False
    try:
        example = _copied(X[:INPUT_EXAMPLE_ROWS])
    except Exception:
        return None, None if options.log_model_signatures else False
    signature: Any = False
    if options.log_model_signatures:
        from ..models.signature import infer_signature

        try:
            method = estimator.predict if hasattr(estimator, "predict") else estimator.transform
            signature = infer_signature(example, method(_copied(example)))
        except Exception:
            signature = None
    return (example if options.log_input_examples else None), signature


def log_model(model: Any, name: str, example: Any, signature: Any, options: SklearnOptions,
              registered_model_name: str | None) -> None:
    """Log ``model`` through nbtrack's sklearn flavor; a model with no ``predict`` (PCA, a
    pipeline of transformers) is served by its ``transform``, as MLflow's pyfunc would."""
    import warnings

    from ..models.flavors import sklearn as flavor

    method = "predict" if hasattr(model, "predict") else "transform"
    with warnings.catch_warnings():
        # the format is autolog's documented default (MLflow's), not a choice made at this call
        warnings.filterwarnings("ignore", message=flavor.PICKLE_WARNING[:60], category=UserWarning)
        flavor.log_model(model, name=name, input_example=example, signature=signature,
                         serialization_format=options.serialization_format,
                         registered_model_name=registered_model_name, pyfunc_predict_fn=method)


def fitted_in(model: Any) -> Any:
    """The run ``model`` was fitted in by autolog (open or ended), or None."""
    try:
        return registry().model_runs.get(model)
    except TypeError:  # an estimator that cannot be weakly referenced or hashed
        return None
