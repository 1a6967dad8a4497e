"""Keras 3 autolog on a real model (torch backend here; any backend works): per-epoch metrics
with their steps, fit and optimizer params, early stopping, the model, and fit's own result
and callbacks left as they were (skipped where Keras 3 or a backend is not installed)."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.slow
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip(os.environ["KERAS_BACKEND"])

import nbtrack
from nbtrack.entities import RunStatus
from nbtrack.errors import InvalidInput
from nbtrack.tracking import fluent


@pytest.fixture(autouse=True)
def autolog_off():
    yield
    nbtrack.autolog(disable=True)


def classifier(learning_rate: float = 0.01):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def data(rows: int = 160):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 6)).astype("float32")
    return x, (x[:, 0] > 0).astype("float32")


def history_of(run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in nbtrack.Client().get_metric_history(run_id, key)]


def test_each_epoch_is_a_step_and_fit_params_and_the_model_are_recorded() -> None:
    nbtrack.keras.autolog()
    model, (x, y) = classifier(0.02), data()
    callbacks: list = []
    with nbtrack.start_run() as run:
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, callbacks=callbacks,
                            verbose=0)
    assert isinstance(history, keras.callbacks.History) and callbacks == []  # the user's list untouched
    got = nbtrack.get_run(run.info.run_id)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(got.data.metrics)
    assert history_of(run.info.run_id, "loss") == [(epoch, pytest.approx(value, rel=1e-6))
                                                   for epoch, value in enumerate(history.history["loss"])]
    assert [s for s, _ in history_of(run.info.run_id, "val_accuracy")] == [0, 1, 2]
    # MLflow's on_test_end names: one point per validation pass, all at step 0
    validation = history_of(run.info.run_id, "validation_loss")
    assert [s for s, _ in validation] == [0, 0, 0]
    assert [v for _, v in validation] == pytest.approx(history.history["val_loss"], rel=1e-6)
    assert got.data.metrics["validation_accuracy"] == pytest.approx(history.history["val_accuracy"][-1])
    params = got.data.params
    assert params["epochs"] == "3" and params["batch_size"] == "16" and params["validation_split"] == "0.25"
    assert params["optimizer_name"] == "adam"
    assert float(params["optimizer_learning_rate"]) == pytest.approx(0.02)
    assert not {"x", "y", "callbacks", "verbose", "validation_data"} & set(params)
    paths = [f.path for f in nbtrack.Client().list_artifacts(run.info.run_id)]
    assert "model" in paths and "model_summary.txt" in paths
    loaded = nbtrack.keras.load_model(f"runs:/{run.info.run_id}/model")
    assert np.allclose(loaded.predict(x[:4], verbose=0), model.predict(x[:4], verbose=0), atol=1e-6)


def test_early_stopping_params_and_the_epoch_it_stopped_at() -> None:
    nbtrack.keras.autolog(log_models=False)
    model, (x, y) = classifier(0.05), data()
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=10.0, restore_best_weights=True)
    with nbtrack.start_run() as run:
        history = model.fit(x, y, epochs=8, callbacks=[stop], verbose=0)
    got = nbtrack.get_run(run.info.run_id)
    params = got.data.params
    assert (params["monitor"], params["patience"], params["min_delta"]) == ("loss", "1", "10.0")
    assert params["restore_best_weights"] == "True"
    assert got.data.metrics["stopped_epoch"] == stop.stopped_epoch == len(history.epoch) - 1
    assert got.data.metrics["restored_epoch"] == 0  # no epoch beat the first by 10
    # the restored epoch's metrics are logged again one step after the last epoch
    assert history_of(run.info.run_id, "loss")[-1] == (stop.stopped_epoch + 1,
                                                       pytest.approx(history.history["loss"][0], rel=1e-6))


def test_every_n_steps_logs_batch_metrics_at_optimizer_steps() -> None:
    nbtrack.keras.autolog(log_every_epoch=False, log_every_n_steps=2, log_models=False)
    model, (x, y) = classifier(), data(64)
    with nbtrack.start_run() as run:
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)  # 4 steps an epoch, 8 in all
    assert [s for s, _ in history_of(run.info.run_id, "loss")] == [2, 4, 6, 8]


def test_with_no_run_a_fit_gets_its_own_run_and_an_error_ends_it_failed() -> None:
    nbtrack.keras.autolog(log_models=False)
    model, (x, y) = classifier(), data()
    model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError):
        model.fit(x[:, :3], y, epochs=1, verbose=0)  # the wrong input width: Keras's own error
    runs = nbtrack.search_runs(order_by=["start_time ASC"])
    assert list(runs["status"]) == [RunStatus.FINISHED.value, RunStatus.FAILED.value]
    assert set(runs["tags.mlflow.autologging"]) == {"keras"}
    assert fluent.active_run() is None


def test_disable_puts_fit_back_and_bad_options_are_refused() -> None:
    fit = keras.Model.fit
    nbtrack.autolog()
    assert keras.Model.fit is not fit
    nbtrack.autolog(disable=True)
    assert keras.Model.fit is fit and "fit" not in vars(keras.Model)
    with pytest.raises(InvalidInput, match="log_every_n_steps must be None when log_every_epoch=True"):
        nbtrack.keras.autolog(log_every_n_steps=5)
