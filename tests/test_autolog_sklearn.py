"""scikit-learn autolog on real estimators and real stores: what a fit records, where it goes,
that nothing is written after its run ended, and that it never changes what fit does."""

from __future__ import annotations

import inspect
import json
import sqlite3
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn.metrics
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from test_hostile_store import read_only_mount  # noqa: F401 (a fixture: a real read-only mount)

import nbtrack
from nbtrack.autolog.sklearn import estimator_classes
from nbtrack.entities import RunStatus
from nbtrack.errors import InvalidInput, NbtrackWarning
from nbtrack.tracking import fluent

CLASSIFIER_METRICS = {"training_accuracy_score", "training_f1_score", "training_precision_score",
                      "training_recall_score", "training_log_loss", "training_roc_auc", "training_score"}
REGRESSOR_METRICS = {"training_mean_squared_error", "training_root_mean_squared_error",
                     "training_mean_absolute_error", "training_r2_score", "training_score"}


@pytest.fixture(autouse=True)
def autolog_off():
    yield
    nbtrack.autolog(disable=True)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 0.3 * rng.normal(size=300) > 0).astype(int)
    return X[:200], y[:200], X[200:], y[200:]


def pipeline() -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=0.5))])


def rows(table: str) -> int:
    nbtrack.flush()
    database = fluent.store_handle().location.database
    with sqlite3.connect(database) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_a_pipeline_fit_records_params_metrics_tags_and_model(data) -> None:
    X, y, X_test, _ = data
    nbtrack.sklearn.autolog()
    pipe = pipeline()
    with nbtrack.start_run() as run:
        assert pipe.fit(X, y) is pipe
    got = nbtrack.get_run(run.info.run_id)
    params = got.data.params
    assert params["clf__C"] == "0.5" and params["scale__with_mean"] == "True"
    assert params["steps"] == str(pipe.get_params(deep=True)["steps"])
    assert set(params) == set(pipe.get_params(deep=True))
    assert set(got.data.metrics) == CLASSIFIER_METRICS
    assert got.data.metrics["training_score"] == pytest.approx(pipe.score(X, y))
    assert got.data.tags["estimator_name"] == "Pipeline"
    assert got.data.tags["estimator_class"] == "sklearn.pipeline.Pipeline"
    loaded = nbtrack.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    assert list(loaded.predict(X_test)) == list(pipe.predict(X_test))
    assert [d.context for d in got.inputs.dataset_inputs] == ["train"]


IMAGES = {"training_confusion_matrix.png", "training_roc_curve.png", "training_precision_recall_curve.png"}


def images_of(run_id: str) -> dict[str, "Image.Image"]:
    from PIL import Image

    client = nbtrack.Client()
    out = {}
    for item in client.list_artifacts(run_id):
        if item.path.endswith(".png"):
            path = client.download_artifacts(run_id, item.path)
            with Image.open(path) as image:
                out[item.path] = image.convert("RGB")
    return out


def test_a_classifier_gets_mlflows_images_drawn_off_pyplot(data) -> None:
    import matplotlib.pyplot as plt
    from sklearn.svm import LinearSVC

    import matplotlib

    X, y, _, _ = data
    open_figures, rc = plt.get_fignums(), dict(matplotlib.rcParams)
    nbtrack.sklearn.autolog(log_models=False)
    with nbtrack.start_run() as binary:
        pipeline().fit(X, y)
    with nbtrack.start_run() as margin:  # no predict_proba: the curves use decision_function
        LinearSVC().fit(X, y)
    with nbtrack.start_run() as three:
        LogisticRegression().fit(X, np.digitize(X[:, 1], [-0.5, 0.5]))
    with nbtrack.start_run() as regression:
        LinearRegression().fit(X, X[:, 0])
    nbtrack.flush()  # the images are drawn off the fit's thread; a flush waits for them
    assert plt.get_fignums() == open_figures  # the user's pyplot state is untouched...
    assert dict(matplotlib.rcParams) == rc  # ...and so are matplotlib's global settings

    images = images_of(binary.info.run_id)
    assert set(images) == IMAGES
    # MLflow's sizes at 175 dpi: the matrix 6 x 4 in, the curves 6.4 x 4.8 in
    assert images["training_confusion_matrix.png"].size == (1050, 700)
    assert images["training_roc_curve.png"].size == (1120, 840)
    for image in images.values():  # drawn, not blank: many colours, and blue ink on white
        assert len(image.getcolors(maxcolors=1 << 20)) > 50
    assert set(images_of(margin.info.run_id)) == IMAGES
    assert set(images_of(three.info.run_id)) == {"training_confusion_matrix.png"}  # curves need 2 classes
    assert images_of(regression.info.run_id) == {}


def test_images_are_drawn_after_fit_returns_and_the_run_ends_after_them(data) -> None:
    """fit does not wait for matplotlib; the run's end is recorded after the images (their
    files stamped with the fit's time), and a read in the process waits for them."""
    import threading

    from nbtrack.capture.background import capture_worker

    X, y, _, _ = data
    nbtrack.sklearn.autolog(log_models=False)
    gate = threading.Event()
    capture_worker().submit(lambda: gate.wait(30), "test gate")  # hold the worker up
    y_fitted = y.copy()
    with nbtrack.start_run() as run:  # run.run_id below, not run.info: a read would wait
        model = LogisticRegression().fit(X, y_fitted)
    y_fitted[:] = 0  # the user reuses the array: the images show what was fitted
    database = fluent.store_handle().location.database
    fluent.store_handle().queue._drain(raise_errors=True)  # what is queued, without waiting
    with sqlite3.connect(database) as conn:
        status = conn.execute("SELECT status FROM runs WHERE run_id = ?", (run.run_id,)).fetchone()
        artifacts = conn.execute("SELECT count(*) FROM artifacts").fetchone()[0]
    assert status == ("RUNNING",) and artifacts == 0  # the end waits for the images
    gate.set()
    got = nbtrack.get_run(run.run_id)  # a read waits for the deferred work
    assert got.info.status is RunStatus.FINISHED
    with sqlite3.connect(database) as conn:
        created = [t for (t,) in conn.execute("SELECT created FROM blobs")]
    assert len(created) == 3 and max(created) <= got.info.end_time  # stamped when fitted
    from nbtrack.autolog.sklearn_plots import classifier_images

    expected = classifier_images(y, model.predict(X), model.predict_proba(X)[:, 1], classes=[0, 1],
                                 estimator_name="LogisticRegression")
    client = nbtrack.Client()
    for name, png in expected.items():
        assert Path(client.download_artifacts(run.run_id, name)).read_bytes() == png


def test_a_process_that_exits_right_after_fit_keeps_its_images(nbtrack_home) -> None:
    from conftest import run_python

    result = run_python(
        "import numpy as np, nbtrack\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "nbtrack.sklearn.autolog(log_models=False)\n"
        "X = np.random.default_rng(0).normal(size=(100, 3))\n"
        "LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))  # autolog's own run\n",
        env={"NBTRACK_HOME": str(nbtrack_home)})
    assert result.returncode == 0, result.stderr
    (run,) = nbtrack.search_runs(output_format="list")
    assert run.info.status is RunStatus.FINISHED
    assert set(images_of(run.info.run_id)) == IMAGES


def test_a_regressor_gets_mlflows_regression_metrics(data) -> None:
    X = data[0]
    nbtrack.sklearn.autolog(log_models=False)
    with nbtrack.start_run() as run:
        LinearRegression().fit(X, X[:, 0] * 2 + 1)
    metrics = nbtrack.get_run(run.info.run_id).data.metrics
    assert set(metrics) == REGRESSOR_METRICS
    assert metrics["training_root_mean_squared_error"] == pytest.approx(metrics["training_mean_squared_error"] ** 0.5)


def test_with_no_active_run_one_run_is_opened_for_the_outer_fit_and_ended(data) -> None:
    X, y, _, _ = data
    nbtrack.sklearn.autolog(log_models=False)
    pipeline().fit(X, y)  # the scaler's and the classifier's own fits are nested: no runs of theirs
    runs = nbtrack.search_runs()
    assert len(runs) == 1
    assert runs.loc[0, "status"] == "FINISHED"
    assert runs.loc[0, "tags.mlflow.autologging"] == "sklearn"
    assert runs.loc[0, "tags.estimator_name"] == "Pipeline"
    assert fluent.active_run() is None
    cross_val_score(LogisticRegression(), X, y, cv=3)  # many fits, none of them "the" model
    assert len(nbtrack.search_runs()) == 1


def test_grid_search_logs_the_best_candidates_as_child_runs(data) -> None:
    X, y, _, _ = data
    nbtrack.sklearn.autolog(max_tuning_runs=2, log_models=False)
    search = GridSearchCV(LogisticRegression(), {"C": [0.01, 0.1, 1.0], "tol": [1e-3, 1e-4]}, cv=3)
    with nbtrack.start_run() as parent:
        search.fit(X, y)
    runs = nbtrack.search_runs()
    children = runs[runs["tags.mlflow.parentRunId"] == parent.info.run_id]
    assert len(children) == 2 and set(children["status"]) == {"FINISHED"}
    ranked = sorted(zip(search.cv_results_["rank_test_score"], search.cv_results_["mean_test_score"],
                        search.cv_results_["params"]), key=lambda r: r[0])[:2]
    assert sorted(children["metrics.mean_test_score"]) == sorted(score for _, score, _ in ranked)
    assert {(c, t) for c, t in zip(children["params.C"], children["params.tol"])} == \
        {(str(p["C"]), str(p["tol"])) for _, _, p in ranked}
    assert set(children["params.max_iter"]) == {"100"}  # the seed estimator's other params
    assert set(children["tags.estimator_name"]) == {"LogisticRegression"}
    top = nbtrack.get_run(parent.info.run_id)
    assert top.data.params["best_C"] == str(search.best_params_["C"])
    assert top.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert "estimator" in top.data.params and "clf__C" not in top.data.params  # deep=False for a search
    paths = [f.path for f in nbtrack.Client().list_artifacts(parent.info.run_id)]
    assert "cv_results.csv" in paths


def test_post_training_metrics_are_named_after_the_callers_variable(data) -> None:
    X, y, X_test, y_test = data
    nbtrack.sklearn.autolog(log_models=False)
    pipe = pipeline()
    with nbtrack.start_run() as run:
        pipe.fit(X, y)
        predictions = pipe.predict(X_test)
        first = sklearn.metrics.accuracy_score(y_test, predictions)
        sklearn.metrics.accuracy_score(y_test, predictions, normalize=True)
        X_valid = X_test.copy()
        sklearn.metrics.f1_score(y_test, pipe.predict(X_valid))
        sklearn.metrics.accuracy_score(y_test[:10], pipe.predict(X_test[:10]))  # an expression, no name
        score = pipe.score(X_test, y_test)
    metrics = nbtrack.get_run(run.info.run_id).data.metrics
    assert metrics["accuracy_score_X_test"] == first
    assert "accuracy_score-2_X_test" in metrics
    assert "f1_score_X_valid" in metrics
    assert "accuracy_score-3_unknown_dataset" in metrics
    assert metrics["Pipeline_score_X_test"] == score
    assert not any(k.startswith("training_") and k not in CLASSIFIER_METRICS for k in metrics)
    info = json.loads(_artifact_text(run.info.run_id, "metric_info.json"))
    assert info["accuracy_score_X_test"] == "accuracy_score(y_true=y_test, y_pred=predictions)"
    assert info["Pipeline_score_X_test"] == "Pipeline.score(X=X_test, y=y_test)"


def _artifact_text(run_id: str, path: str) -> str:
    from pathlib import Path

    return Path(nbtrack.Client().download_artifacts(run_id, path)).read_text()


def test_nothing_is_written_to_a_run_after_it_ended(data) -> None:
    X, y, X_test, y_test = data
    nbtrack.sklearn.autolog(log_models=False)
    pipe = pipeline()
    with nbtrack.start_run() as run:
        pipe.fit(X, y)
    before = {table: rows(table) for table in ("runs", "metric_blocks", "params", "tags", "artifacts")}
    with pytest.warns(NbtrackWarning, match="has ended, is not logged"):
        sklearn.metrics.accuracy_score(y_test, pipe.predict(X_test))
    pipe.score(X_test, y_test)
    sklearn.metrics.recall_score(y_test, pipe.predict(X_test))
    after = {table: rows(table) for table in before}
    assert after == before
    assert set(nbtrack.get_run(run.info.run_id).data.metrics) == CLASSIFIER_METRICS
    assert not any(name.startswith("_mlflow") or "nbtrack" in name for name in vars(pipe))


def test_an_error_in_fit_ends_the_opened_run_failed_and_is_raised_unchanged(data) -> None:
    X, y, _, _ = data
    with pytest.raises(ValueError) as plain:
        LogisticRegression().fit(X[:, :, None], y)  # 3-d input: sklearn's own error
    nbtrack.sklearn.autolog()
    with pytest.raises(ValueError) as caught:
        LogisticRegression().fit(X[:, :, None], y)
    assert type(caught.value) is type(plain.value) and str(caught.value) == str(plain.value)
    assert "sklearn" in caught.traceback[-1].path.parts  # raised where sklearn raised it
    runs = nbtrack.search_runs()
    assert list(runs["status"]) == ["FAILED"]
    assert fluent.active_run() is None


class Interrupting(BaseEstimator, TransformerMixin):
    def fit(self, X, y=None):
        raise KeyboardInterrupt

    def transform(self, X):
        return X


def test_an_interrupt_in_fit_ends_the_opened_run_killed(data) -> None:
    X, y, _, _ = data
    nbtrack.sklearn.autolog(log_models=False)
    with pytest.raises(KeyboardInterrupt):
        Pipeline([("stop", Interrupting()), ("clf", LogisticRegression())]).fit(X, y)
    assert list(nbtrack.search_runs()["status"]) == [RunStatus.KILLED.value]
    assert fluent.active_run() is None


def test_a_store_that_cannot_be_written_warns_once_and_fit_returns_its_object(read_only_mount, data) -> None:  # noqa: F811
    mount, _ = read_only_mount
    X, y, _, _ = data
    nbtrack.set_tracking_uri(mount)
    nbtrack.sklearn.autolog()
    pipe = pipeline()
    with pytest.warns(NbtrackWarning, match=r"autolog \(sklearn\) could not record.*read-only"):
        assert pipe.fit(X, y) is pipe
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second failure is not reported again
        model = LogisticRegression()
        assert model.fit(X, y) is model
    assert model.predict(X[:3]).shape == (3,)
    assert fluent.active_run() is None


def test_a_model_that_cannot_be_saved_warns_and_the_rest_is_recorded(data) -> None:
    X, y, _, _ = data
    nbtrack.sklearn.autolog(serialization_format="skops")
    pipe = Pipeline([("double", FunctionTransformer(lambda a: a * 2)), ("clf", LogisticRegression())])
    with nbtrack.start_run() as run, pytest.warns(NbtrackWarning, match="skops"):
        assert pipe.fit(X, y) is pipe
    got = nbtrack.get_run(run.info.run_id)
    assert set(got.data.metrics) == CLASSIFIER_METRICS and "clf__C" in got.data.params
    assert "model" not in [f.path for f in nbtrack.Client().list_artifacts(run.info.run_id)]


def test_a_transformer_without_predict_is_logged_without_a_warning(data) -> None:
    from sklearn.decomposition import PCA

    X = data[0]
    nbtrack.sklearn.autolog()
    with warnings.catch_warnings():
        warnings.simplefilter("error", NbtrackWarning)
        with nbtrack.start_run() as run:
            pca = PCA(n_components=2).fit(X)
    got = nbtrack.get_run(run.info.run_id)
    assert got.data.params["n_components"] == "2" and got.data.tags["estimator_name"] == "PCA"
    loaded = nbtrack.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert np.allclose(loaded.predict(X[:3]), pca.transform(X[:3]))


def test_exclusive_keeps_autolog_out_of_the_users_runs(data) -> None:
    X, y, _, _ = data
    nbtrack.sklearn.autolog(exclusive=True, log_models=False)
    with nbtrack.start_run() as run:
        LogisticRegression().fit(X, y)
    assert nbtrack.get_run(run.info.run_id).data.params == {}
    LogisticRegression().fit(X, y)
    assert len(nbtrack.search_runs()) == 2


def test_disable_puts_every_original_back() -> None:
    import sklearn.model_selection

    def snapshot() -> dict:
        found = {}
        for cls in estimator_classes():
            for name in ("fit", "fit_transform", "fit_predict", "predict", "predict_proba", "transform",
                         "predict_log_proba", "score"):
                if name in cls.__dict__:
                    raw = cls.__dict__[name]
                    found[(cls, name)] = getattr(raw, "fn", raw)
        for name in sklearn.metrics.__all__:
            found[(sklearn.metrics, name)] = getattr(sklearn.metrics, name)
        found[(sklearn.model_selection, "cross_val_score")] = sklearn.model_selection.cross_val_score
        return found

    originals = snapshot()
    fit = LogisticRegression.fit
    nbtrack.autolog()
    assert LogisticRegression.fit is not fit and LogisticRegression.fit._nbtrack_autolog
    assert sklearn.metrics.accuracy_score is not originals[(sklearn.metrics, "accuracy_score")]
    assert not hasattr(Pipeline([("clf", LogisticRegression())]), "fit_transform")  # available_if kept
    assert inspect.signature(LogisticRegression.fit) == inspect.signature(fit)
    nbtrack.autolog(disable=True)
    assert LogisticRegression.fit is fit
    assert snapshot() == originals
    assert not any(getattr(v, "_nbtrack_autolog", False) for v in snapshot().values())
    assert not any("nbtrack" in type(f).__module__ for f in sys.meta_path)


def test_bad_options_are_refused_in_one_line() -> None:
    with pytest.raises(InvalidInput, match="max_tuning_runs must be a non-negative int"):
        nbtrack.sklearn.autolog(max_tuning_runs=-1)


@pytest.mark.slow
def test_autolog_patches_scikit_learn_when_it_is_imported_later() -> None:
    from conftest import run_python

    code = (
        "import sys, tempfile, nbtrack\n"
        "nbtrack.set_tracking_uri(tempfile.mkdtemp())\n"
        "applied = nbtrack.autolog()\n"
        "assert 'sklearn' in applied and 'sklearn' not in sys.modules, sys.modules.keys()\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "assert getattr(LogisticRegression.fit, '_nbtrack_autolog', False)\n"
        "LogisticRegression().fit([[0.0], [1.0], [0.2], [0.9]], [0, 1, 0, 1])\n"
        "runs = nbtrack.search_runs()\n"
        "print(len(runs), runs.loc[0, 'tags.estimator_name'], 'keras' in sys.modules)\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "LogisticRegression", "False"]


@pytest.fixture
def ip():
    from kernel_support import tracking_shell

    shell = tracking_shell()
    yield shell
    shell.reraise = True
    if "nbtrack" in shell.extension_manager.loaded:
        shell.run_line_magic("unload_ext", "nbtrack")


@pytest.mark.slow
def test_a_track_cell_that_fits_records_everything_without_a_log_call(ip, data) -> None:
    X, y, X_test, y_test = data
    ip.user_ns.update(X=X, y=y, X_test=X_test, y_test=y_test)
    ip.run_cell("import nbtrack\nnbtrack.autolog()\n"
                "from sklearn.pipeline import make_pipeline\n"
                "from sklearn.preprocessing import StandardScaler\n"
                "from sklearn.linear_model import LogisticRegression\n"
                "from sklearn.metrics import accuracy_score\n")
    summary = ip.run_cell("%%track fit-in-a-cell\n"
                          "pipe = make_pipeline(StandardScaler(), LogisticRegression(C=2.0))\n"
                          "pipe.fit(X, y)\n"
                          "accuracy_score(y_test, pipe.predict(X_test))\n").result
    run = nbtrack.get_run(summary.run_id)
    assert run.info.status is RunStatus.FINISHED and run.info.run_name == "fit-in-a-cell"
    assert run.data.params["logisticregression__C"] == "2.0"
    assert set(run.data.metrics) == CLASSIFIER_METRICS | {"accuracy_score_X_test"}
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert "model" in [f.path for f in nbtrack.Client().list_artifacts(summary.run_id)]
    assert len(nbtrack.search_runs()) == 1  # the cell's run, no managed run beside it
    # The next cell is not tracked: its evaluation of the same model writes nothing anywhere.
    before = {table: rows(table) for table in ("runs", "metric_blocks", "params", "artifacts")}
    with pytest.warns(NbtrackWarning, match="has ended"):
        ip.run_cell("accuracy_score(y_test, pipe.predict(X_test))\npipe.score(X_test, y_test)\n")
    assert {table: rows(table) for table in before} == before
