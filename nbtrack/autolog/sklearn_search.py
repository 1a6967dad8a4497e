"""A parameter search's record: ``best_*`` params, ``best_cv_score``, the best estimator,
``cv_results.csv``, and child runs rebuilt from ``cv_results_`` (MLflow's
``_create_child_runs_for_parameter_search``).

The candidates' fits ran inside ``GridSearchCV.fit`` and logged nothing (they are nested);
each of the best ``max_tuning_runs`` becomes a finished child run of the search's run
(tag ``mlflow.parentRunId``) in the same experiment.

Example:
    >>> nbtrack.sklearn.autolog(max_tuning_runs=3)  # doctest: +SKIP
    >>> GridSearchCV(pipe, {"clf__C": [0.1, 1, 10]}).fit(X, y)  # the run and 3 children  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .runs import guarded, log_bytes_to, log_metrics_to, log_params
from .sklearn import FLAVOR, SklearnOptions, estimator_tags, is_search, log_model


def log_search(search: Any, options: SklearnOptions, run: Any, example: Any, signature: Any) -> None:
    """A parameter search's results: best params and score, the best estimator, cv_results_ as
    a CSV, and child runs for the best ``max_tuning_runs`` candidates."""
    if options.log_models and hasattr(search, "best_estimator_"):
        with guarded(FLAVOR, options.silent):
            log_model(search.best_estimator_, "best_estimator", example, signature, options, None)
    if hasattr(search, "best_score_"):
        log_metrics_to(run, {"best_cv_score": search.best_score_})
    if hasattr(search, "best_params_"):
        log_params({f"best_{k}": v for k, v in search.best_params_.items()}, FLAVOR, options.silent)
    if hasattr(search, "cv_results_"):
        import pandas as pd

        results = pd.DataFrame.from_dict(search.cv_results_)
        with guarded(FLAVOR, options.silent):
            child_runs(search, results, options.max_tuning_runs)
        log_bytes_to(run, results.to_csv(index=False).encode(), "cv_results.csv")


def child_runs(search: Any, results: Any, max_tuning_runs: int | None) -> list[str]:
    """One finished child run per candidate among the best ``max_tuning_runs`` (all when None),
    rebuilt from ``cv_results_`` as MLflow does: the seed estimator's params with the
    candidate's, and every aggregate column (``mean_test_score``, ``rank_test_score``,
    ``mean_fit_time``...) as a metric. Returns the child run ids, best first."""
    import numbers

    from ..tracking import fluent

    seed = search.estimator
    base_params = seed.get_params(deep=not is_search(seed))
    rank = "rank_test_score" if "rank_test_score" in results.columns else next(
        (c for c in results.columns if c.startswith("rank_test_")), None)
    rows = results if max_tuning_runs is None or rank is None else results.nsmallest(max_tuning_runs, rank)
    parent = fluent.active_run()
    experiment = parent.info.experiment_id  # a %%track -e cell's experiment, not the default
    ids = []
    for _, row in rows.iterrows():
        tags = {"mlflow.parentRunId": parent.run_id, "mlflow.autologging": FLAVOR, **estimator_tags(seed)}
        with fluent.start_run(experiment_id=experiment, nested=True, tags=tags) as child:
            log_params({**base_params, **row.get("params", {})}, FLAVOR, True)
            log_metrics_to(child, {k: v for k, v in row.items()
                                   if not str(k).startswith(("param", "split"))
                                   and isinstance(v, numbers.Number)})
            ids.append(child.run_id)
    return ids
