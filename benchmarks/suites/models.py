"""The models suite: log and load a model, register it, move an alias, load by alias, search
1,000 versions; nbtrack and MLflow through the same calls (MLflow's names).

The model is a fitted TF-IDF + MultinomialNB pipeline on synthetic reviews (fitting is
not timed). Both save it as skops (MLflow's default since 3.14, nbtrack's default). The
first log and load of a worker warm up imports (sklearn, skops, yaml) and are not timed.
"""

from __future__ import annotations

import random
import statistics
import time
import warnings
from typing import Any

from benchmarks.engines import Engine
from benchmarks.registry import Context, Result, benchmark

ENGINES = ("nbtrack", "mlflow")
WORDS = ("love fit dress perfect soft colour awful cheap torn small large return comfy great bad "
         "fabric stitching lovely ugly wash shrink size true runs").split()


def _pipeline() -> tuple[Any, list[str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(2000)]
    labels = [int("love" in t or "great" in t) for t in texts]
    return make_pipeline(TfidfVectorizer(max_features=3000), MultinomialNB(alpha=1)).fit(texts, labels), texts


def _log(engine: Engine, pipe: Any, texts: list[str], name: str = "model") -> str:
    """Log ``pipe`` in a new run; returns its runs:/ URI."""
    engine.m.start_run(run_name="train")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = engine.m.sklearn.log_model(pipe, name=name, input_example=texts[:3])
        run_id = engine.m.active_run().info.run_id
    finally:
        engine.m.end_run()
    return getattr(info, "model_uri", None) or f"runs:/{run_id}/{name}"


def _client(engine: Engine) -> Any:
    return engine.m.Client() if engine.name == "nbtrack" else engine.m.MlflowClient()


def _quiet_register(engine: Engine, uri: str, name: str) -> Any:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return engine.m.register_model(uri, name)


@benchmark("models", "log_load", title="log_model + load_model of a fitted TF-IDF pipeline",
           unit="ms", engines=ENGINES, full={"texts": 2000})
def log_load(engine: Engine, ctx: Context) -> Result:
    pipe, texts = _pipeline()
    warm = _log(engine, pipe, texts, "warmup")
    engine.m.pyfunc.load_model(warm).predict(texts[:2])
    t0 = time.perf_counter()
    uri = _log(engine, pipe, texts)
    model = engine.m.pyfunc.load_model(uri)
    dt = time.perf_counter() - t0
    if list(model.predict(texts[:5])) != list(pipe.predict(texts[:5])):
        raise AssertionError("the loaded model predicts differently")
    return Result(dt * 1e3)


@benchmark("models", "register", title="register_model (new version of an existing model)",
           unit="ms/call", engines=ENGINES, full={"calls": 20}, quick={"calls": 5})
def register(engine: Engine, ctx: Context) -> Result:
    pipe, texts = _pipeline()
    uri = _log(engine, pipe, texts)
    _quiet_register(engine, uri, "sentiment")  # creates the registered model: set-up
    n = ctx.params["calls"]
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        _quiet_register(engine, uri, "sentiment")
        samples.append(time.perf_counter() - t0)
    return Result(statistics.median(samples) * 1e3, extra={"calls": n})


@benchmark("models", "set_alias", title="set_registered_model_alias (moving an alias)",
           unit="ms/call", engines=ENGINES, full={"calls": 50}, quick={"calls": 10})
def set_alias(engine: Engine, ctx: Context) -> Result:
    pipe, texts = _pipeline()
    uri = _log(engine, pipe, texts)
    for _ in range(2):
        _quiet_register(engine, uri, "sentiment")
    client = _client(engine)
    n = ctx.params["calls"]
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        client.set_registered_model_alias("sentiment", "champion", 1 + i % 2)
        samples.append(time.perf_counter() - t0)
    return Result(statistics.median(samples) * 1e3, extra={"calls": n})


@benchmark("models", "load_by_alias", title="resolve + load models:/name@alias (pyfunc)",
           unit="ms", engines=ENGINES, full={"texts": 2000})
def load_by_alias(engine: Engine, ctx: Context) -> Result:
    pipe, texts = _pipeline()
    uri = _log(engine, pipe, texts)
    _quiet_register(engine, uri, "sentiment")
    client = _client(engine)
    client.set_registered_model_alias("sentiment", "champion", 1)
    engine.m.pyfunc.load_model("models:/sentiment@champion")  # warm-up
    samples, resolve = [], []
    for _ in range(max(3, ctx.repeat)):
        t0 = time.perf_counter()
        engine.m.pyfunc.load_model("models:/sentiment@champion")
        samples.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        client.get_model_version_by_alias("sentiment", "champion")
        resolve.append(time.perf_counter() - t0)
    return Result(statistics.median(samples) * 1e3,
                  note=f"alias look-up alone {statistics.median(resolve) * 1e3:.2f} ms",
                  extra={"resolve_ms": statistics.median(resolve) * 1e3})


@benchmark("models", "search_versions", title="search_model_versions over {versions:,} versions",
           unit="ms", engines=ENGINES, full={"versions": 1000}, quick={"versions": 100})
def search_versions(engine: Engine, ctx: Context) -> Result:
    pipe, texts = _pipeline()
    uri = _log(engine, pipe, texts)
    run_id = uri.split("/")[1]
    client = _client(engine)
    client.create_registered_model("many")
    n = ctx.params["versions"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n):
            client.create_model_version("many", uri, run_id=run_id)
    found = client.search_model_versions("name = 'many'", max_results=n)  # warm-up
    if len(found) != n:
        raise AssertionError(f"search found {len(found)} of {n} versions")
    samples = []
    for _ in range(max(3, ctx.repeat)):
        t0 = time.perf_counter()
        client.search_model_versions("name = 'many'", max_results=n)
        samples.append(time.perf_counter() - t0)
    return Result(statistics.median(samples) * 1e3, extra={"versions": n})
