"""The autolog suite: what autolog adds to ``fit``, nbtrack and MLflow on the same models.

Each row's value is a ratio, **fit with autolog / the same fit without**, measured in one
worker: a warm-up (imports, the first model saved) is not timed, then ``pairs`` pairs of
fits alternate, autolog off then on (``<tool>.sklearn.autolog()`` / ``autolog(disable=True)``
toggled between them, untimed). An autologged fit runs with no active run, so the timed
region is everything autolog does for it: open a run, params, tags, training metrics,
the model saved and logged, a classifier's images drawn, the run ended, then made durable
(nbtrack's ``flush()``, which waits for the images nbtrack draws after ``fit`` returns;
MLflow writes synchronously). The note also gives when ``fit`` returned, which is what a
cell waits for. Both save sklearn models with cloudpickle (MLflow's
autolog default, nbtrack's too) and datasets are logged (both defaults). The table's
peer/nbtrack column is then MLflow's overhead ratio over nbtrack's.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

from benchmarks.engines import Engine
from benchmarks.registry import Context, Result, benchmark

ENGINES = ("nbtrack", "mlflow")
WORDS = ("love fit dress perfect soft colour awful cheap torn small large return comfy great bad "
         "fabric stitching lovely ugly wash shrink size true runs").split()


def _overhead(engine: Engine, flavor: str, fit: Callable[[], Any], pairs: int) -> Result:
    """Median fit time without and with autolog, alternating; the value is their ratio."""
    module = getattr(engine.m, flavor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit()  # imports, first compilation: not timed
        module.autolog(silent=True)
        fit()  # the first autologged fit: lazy imports of the model savers
        plain, logged, returned = [], [], []
        for _ in range(pairs):
            module.autolog(disable=True)
            t0 = time.perf_counter()
            fit()
            plain.append(time.perf_counter() - t0)
            module.autolog(silent=True)
            t0 = time.perf_counter()
            fit()
            returned.append(time.perf_counter() - t0)  # what the user's cell waits for
            engine.make_durable()
            logged.append(time.perf_counter() - t0)
        module.autolog(disable=True)
    without, with_, back = statistics.median(plain), statistics.median(logged), statistics.median(returned)
    return Result(with_ / without,
                  note=f"fit {without * 1e3:.0f} ms → {with_ * 1e3:.0f} ms with autolog, durable "
                       f"(+{(with_ - without) * 1e3:.0f} ms); fit returned after {back * 1e3:.0f} ms",
                  extra={"fit_ms": without * 1e3, "autolog_fit_ms": with_ * 1e3,
                         "autolog_returned_ms": back * 1e3, "pairs": pairs})


@benchmark("autolog", "sklearn_text", title="sklearn autolog: TF-IDF + LogisticRegression on {texts:,} texts",
           unit="× fit", engines=ENGINES, full={"texts": 3000, "pairs": 5}, quick={"texts": 500, "pairs": 2})
def sklearn_text(engine: Engine, ctx: Context) -> Result:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(ctx.params["texts"])]
    labels = [int("love" in t or "great" in t) for t in texts]

    def fit() -> Any:
        pipe = Pipeline([("tfidf", TfidfVectorizer(max_features=3000)), ("clf", LogisticRegression())])
        return pipe.fit(texts, labels)

    return _overhead(engine, "sklearn", fit, ctx.params["pairs"])


@benchmark("autolog", "sklearn_numeric", title="sklearn autolog: StandardScaler + LogisticRegression, "
           "{rows:,} rows × 20", unit="× fit", engines=ENGINES, full={"rows": 5000, "pairs": 5},
           quick={"rows": 500, "pairs": 2})
def sklearn_numeric(engine: Engine, ctx: Context) -> Result:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(ctx.params["rows"], 20))
    y = (X[:, :3].sum(axis=1) + rng.normal(size=len(X)) > 0).astype(int)

    def fit() -> Any:
        return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)

    return _overhead(engine, "sklearn", fit, ctx.params["pairs"])


@benchmark("autolog", "keras", title="keras autolog: Dense 20→32→1, {rows:,} rows, {epochs} epochs (torch)",
           unit="× fit", engines=ENGINES, full={"rows": 2000, "epochs": 5, "pairs": 5},
           quick={"rows": 256, "epochs": 2, "pairs": 2})
def keras_fit(engine: Engine, ctx: Context) -> Result:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(ctx.params["rows"], 20)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("float32")

    def fit() -> Any:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return model.fit(x, y, epochs=ctx.params["epochs"], batch_size=64, validation_split=0.2, verbose=0)

    return _overhead(engine, "keras", fit, ctx.params["pairs"])
