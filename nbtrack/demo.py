"""``nbtrack demo``: train a few real scikit-learn models, track them, print the comparison.

Uses the digits data set that scikit-learn ships (no download) and the default
local store (``.nbtrack/`` in the working directory, or ``$NBTRACK_HOME``).

Example:
    $ nbtrack demo
"""

from __future__ import annotations

import time
from pathlib import Path

import nbtrack

EXPERIMENT = "digits-demo"


def train_and_track() -> list[str]:
    """Fit four classifiers on sklearn's digits; each fit is a run. Returns the run ids."""
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neural_network import MLPClassifier

    digits = load_digits(as_frame=True)
    pixels = digits.data / 16.0  # pixel intensities are 0..16; scaled, the solvers converge quickly
    X_train, X_test, y_train, y_test = train_test_split(
        pixels, digits.target, test_size=0.25, random_state=0)
    candidates = {
        "gaussian-nb": (GaussianNB, {"var_smoothing": 1e-9}),
        "logreg-C0.1": (LogisticRegression, {"C": 0.1, "max_iter": 500}),
        "forest-100": (RandomForestClassifier, {"n_estimators": 100, "max_depth": 12, "random_state": 0}),
        "mlp-64": (MLPClassifier, {"hidden_layer_sizes": (64,), "max_iter": 60, "random_state": 0}),
    }
    nbtrack.set_experiment(EXPERIMENT)
    run_ids = []
    for name, (model_class, params) in candidates.items():
        with nbtrack.start_run(run_name=name, tags={"model": model_class.__name__}) as run:
            nbtrack.log_params(params)
            nbtrack.log_input(X_train, name="digits", context="train")
            nbtrack.log_input(X_test, name="digits", context="test")
            started = time.perf_counter()
            model = model_class(**params)
            if model_class is MLPClassifier:
                # A real training curve: one partial_fit pass per epoch.
                for epoch in range(30):
                    model.partial_fit(X_train, y_train, classes=sorted(set(y_train)))
                    nbtrack.log_metric("train_loss", model.loss_, step=epoch)
                    nbtrack.log_metric("val_accuracy", accuracy_score(y_test, model.predict(X_test)), step=epoch)
            else:
                # A learning curve for every model (the page draws each run's): fit on growing
                # shares of the training set; the last fit, on all of it, is the model kept.
                for step, share in enumerate((0.2, 0.4, 0.6, 0.8, 1.0)):
                    rows = max(20, int(len(X_train) * share))
                    model.fit(X_train[:rows], y_train[:rows])
                    nbtrack.log_metric("val_accuracy", accuracy_score(y_test, model.predict(X_test)), step=step)
            predicted = model.predict(X_test)
            nbtrack.log_metrics({
                "accuracy": accuracy_score(y_test, predicted),
                "f1_macro": f1_score(y_test, predicted, average="macro"),
                "fit_seconds": time.perf_counter() - started,
            })
            run_ids.append(run.run_id)
    return run_ids


def write_comparison_page(run_ids: list[str], path: Path) -> Path:
    """The comparison as one self-contained HTML page (the static view ``compare()`` embeds
    in notebooks: escaped table and inline SVG curves, no script, no external request)."""
    from .widgets.static import static_html

    comparison = nbtrack.compare(runs=run_ids, metric="val_accuracy", display=False, live=False)
    comparison.select(list(comparison.df["run_id"]))  # every run's curve, best first
    title = f"{len(run_ids)} scikit-learn classifiers on the digits data, best first"
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
    run_ids = train_and_track()
    nbtrack.flush()
    frame = nbtrack.search_runs(
        f"attributes.run_id IN ({', '.join(repr(r) for r in run_ids)})",
        order_by=["metrics.accuracy DESC"],
    )
    columns = ["run_name", "status", "params.C", "params.n_estimators", "metrics.accuracy",
               "metrics.f1_macro", "metrics.fit_seconds"]
    columns = [c for c in columns if c in frame.columns]
    rows = frame[columns].astype(object).where(frame[columns].notna(), None).values.tolist()
    print(f"Tracked {len(run_ids)} runs into {nbtrack.get_tracking_uri()} "
          f"in {time.perf_counter() - started:.1f} s. Best first:\n")
    print(text_table(columns, rows))
    page = write_comparison_page(run_ids, Path("nbtrack-demo-comparison.html").absolute())
    print(f"\nThe comparison as a page (table and training curves, no script): {page}")
    print("Next: `nbtrack runs`, `nbtrack show <run id>`, or in a notebook: "
          "%load_ext nbtrack, then %%track on a cell, then nbtrack.compare().")


if __name__ == "__main__":
    main()
