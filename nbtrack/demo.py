"""``nbtrack demo``: the workflow MLflow users know, end to end, on a text task made here.

Three sentiment classifiers are trained on product reviews generated locally (no
download), each tracked as a run with a learning curve; they are compared, all three
registered as versions of ``customer-sentiment``, the best promoted (alias
``champion`` and stage Production), then loaded back by alias and by stage and used to
predict. Everything goes to the default local store (``.nbtrack/`` in the working
directory, or ``$NBTRACK_HOME``).

Example:
    $ nbtrack demo
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import NamedTuple

import nbtrack
from nbtrack.demo_data import Reviews, make_reviews

EXPERIMENT = "sentiment-demo"
MODEL_NAME = "customer-sentiment"
REVIEWS_TO_SCORE = ["love this dress, perfect fit and lovely fabric",
                    "cheap fabric, it ripped after one wash, returning it"]

def _candidates() -> dict[str, object]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    return {
        "tfidf-nb": make_pipeline(TfidfVectorizer(max_features=3000), MultinomialNB(alpha=1.0)),
        "tfidf-logreg": make_pipeline(TfidfVectorizer(max_features=3000, ngram_range=(1, 2)),
                                      LogisticRegression(C=4.0, max_iter=500)),
        "tfidf-svm": make_pipeline(TfidfVectorizer(max_features=300, binary=True), LinearSVC(C=0.05)),
    }


def train_and_track(data: Reviews) -> list[str]:
    """Fit the three pipelines; each fit is a run with a learning curve and a logged model."""
    from sklearn.metrics import accuracy_score, f1_score

    nbtrack.set_experiment(EXPERIMENT)
    run_ids = []
    for name, pipe in _candidates().items():
        with nbtrack.start_run(run_name=name, tags={"task": "sentiment"}) as run:
            nbtrack.log_params({k: v for k, v in pipe.get_params().items()
                                if "__" in k and isinstance(v, (int, float, str)) and v is not None})
            nbtrack.log_input(data.train_text, name="reviews", context="train")
            nbtrack.log_input(data.test_text, name="reviews", context="test")
            started = time.perf_counter()
            # A learning curve for every model (the page draws each run's): fit on growing
            # shares of the training set; the last fit, on all of it, is the model kept.
            for step, share in enumerate((0.1, 0.25, 0.5, 0.75, 1.0)):
                rows = int(len(data.train_text) * share)
                pipe.fit(data.train_text[:rows], data.train_label[:rows])
                nbtrack.log_metric("val_accuracy", accuracy_score(data.test_label, pipe.predict(data.test_text)),
                                   step=step)
            predicted = pipe.predict(data.test_text)
            nbtrack.log_metrics({
                "accuracy": accuracy_score(data.test_label, predicted),
                "f1": f1_score(data.test_label, predicted),
                "fit_seconds": time.perf_counter() - started,
            })
            nbtrack.sklearn.log_model(pipe, name="model", input_example=data.train_text[:3])
            run_ids.append(run.run_id)
    return run_ids


class Promotion(NamedTuple):
    best_run: str
    champion_version: int
    versions: list[int]
    by_alias: list[int]
    by_stage: list[int]


def register_and_promote(run_ids: list[str], best_run: str) -> Promotion:
    """Register every run's model, promote the best (alias and stage), load it back both ways."""
    client = nbtrack.MlflowClient()
    versions = {run_id: int(nbtrack.register_model(f"runs:/{run_id}/model", MODEL_NAME).version)
                for run_id in run_ids}
    champion = versions[best_run]
    client.set_registered_model_alias(MODEL_NAME, "champion", champion)
    with warnings.catch_warnings():  # stages are deprecated in MLflow (and here), still widely used
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage(MODEL_NAME, champion, "Production",
                                              archive_existing_versions=True)
    by_alias = nbtrack.pyfunc.load_model(f"models:/{MODEL_NAME}@champion").predict(REVIEWS_TO_SCORE)
    by_stage = nbtrack.sklearn.load_model(f"models:/{MODEL_NAME}/Production").predict(REVIEWS_TO_SCORE)
    return Promotion(best_run, champion, sorted(versions.values()),
                     [int(x) for x in by_alias], [int(x) for x in by_stage])


def write_comparison_page(run_ids: list[str], path: Path) -> Path:
    """The comparison as one self-contained HTML page (the static view ``compare()`` embeds
    in notebooks: escaped table and inline SVG curves, no script, no external request)."""
    from .widgets.static import static_html

    comparison = nbtrack.compare(runs=run_ids, metric="val_accuracy", display=False, live=False)
    comparison.select(list(comparison.df["run_id"]))  # every run's curve, best first
    title = f"{len(run_ids)} sentiment classifiers on generated reviews, best first"
    body = static_html(comparison.runs, comparison.view, comparison.curves, comparison.metric,
                       selected=frozenset(comparison.selected), title=title, in_notebook=False)
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>nbtrack demo: {title}</title></head>"
        f"<body style='font-family: sans-serif; margin: 2em'>{body}</body></html>",
        encoding="utf-8",
    )
    return path


def main() -> None:
    from .tables import text_table

    started = time.perf_counter()
    run_ids = train_and_track(make_reviews())
    nbtrack.flush()
    frame = nbtrack.search_runs(
        f"attributes.run_id IN ({', '.join(repr(r) for r in run_ids)})",
        order_by=["metrics.accuracy DESC"],
    )
    columns = ["run_name", "status", "metrics.accuracy", "metrics.f1", "metrics.fit_seconds"]
    rows = frame[columns].astype(object).where(frame[columns].notna(), None).values.tolist()
    print(f"Tracked {len(run_ids)} runs into {nbtrack.get_tracking_uri()} "
          f"in {time.perf_counter() - started:.1f} s. Best first:\n")
    print(text_table(columns, rows))

    best_run, best_name = frame["run_id"].iloc[0], frame["run_name"].iloc[0]
    promoted = register_and_promote(run_ids, best_run)
    print(f"\nRegistered {MODEL_NAME} versions {promoted.versions}; the best, {best_name}, is "
          f"v{promoted.champion_version}: alias @champion and stage Production.")
    for review, alias_label, stage_label in zip(REVIEWS_TO_SCORE, promoted.by_alias, promoted.by_stage):
        verdict = "positive" if alias_label else "negative"
        print(f"  models:/{MODEL_NAME}@champion says {verdict} (the Production stage agrees: "
              f"{alias_label == stage_label}) for {review!r}")

    page = write_comparison_page(run_ids, Path("nbtrack-demo-comparison.html").absolute())
    print(f"\nThe comparison as a page (table and training curves, no script): {page}")
    print(f"Next: `nbtrack runs`, `nbtrack models show {MODEL_NAME}`, `nbtrack models history {MODEL_NAME}`, "
          "or in a notebook: %load_ext nbtrack, then %%track on a cell, then nbtrack.compare().")


if __name__ == "__main__":
    main()
