"""Stores for the server and browser tests, built through nbtrack's public API.

Example:
    >>> import tempfile
    >>> demo = build_demo_store(tempfile.mkdtemp())  # doctest: +SKIP
    >>> len(demo.run_ids)  # doctest: +SKIP
    7
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbtrack

HTML_ARTIFACT = "<html><script>document.title = 'pwned'</script><p>report</p></html>"
SVG_ARTIFACT = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
PNG_ARTIFACT = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
SNAPSHOT = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {},
    "cells": [
        {
            "id": "cell-1",
            "cell_type": "code",
            "metadata": {},
            "execution_count": 1,
            "source": "%%track\nx = 1",
            "outputs": [],
        },
    ],
}


@dataclass
class DemoStore:
    """What a test needs to know about the store it asked for."""

    directory: Path  # the folder holding .nbtrack/
    run_ids: dict[str, str] = field(default_factory=dict)  # run name -> run id


@contextlib.contextmanager
def tracking(directory: str | os.PathLike[str], experiment: str) -> Iterator[None]:
    """Point nbtrack at ``directory/.nbtrack`` for the block, then back at the default."""
    nbtrack.set_tracking_uri(Path(directory) / ".nbtrack")
    nbtrack.set_experiment(experiment)
    try:
        yield
    finally:
        nbtrack.flush()
        nbtrack.set_tracking_uri(None)


def build_demo_store(directory: str | os.PathLike[str]) -> DemoStore:
    """Seven runs in two experiments: metrics, a long loss curve, a failed run, artifacts of
    every kind the API treats specially, a notebook snapshot, and three runs of one cell."""
    demo = DemoStore(Path(directory))
    with tracking(directory, "exp-a"):
        for i in range(5):
            with nbtrack.start_run(
                run_name=f"a{i}",
                tags={"team": "red" if i % 2 else "blue"},
                cell_id="cell-1" if i < 3 else f"cell-other-{i}",
                code=f"%%track\nx = {i}",
                notebook_path="train.ipynb",
            ) as run:
                nbtrack.log_param("alpha", str(i))
                nbtrack.log_metric("acc", i / 10)
                if i == 0:
                    # A long curve with one spike, for downsampling.
                    for step in range(2000):
                        nbtrack.log_metric(
                            "loss", 100.0 if step == 1234 else 1 / (step + 1), step=step
                        )
                    nbtrack.log_text(HTML_ARTIFACT, "report.html")
                    nbtrack.log_text(SVG_ARTIFACT, "plots/curve.svg")
                    nbtrack.log_text("hello", "notes.txt")
                    nbtrack.log_text(json.dumps(SNAPSHOT), "notebook/train.ipynb")
                    _log_bytes(directory, PNG_ARTIFACT, "plots/tiny.png")
            demo.run_ids[f"a{i}"] = run.info.run_id
        try:
            with nbtrack.start_run(run_name="broken", cell_id="cell-2", code="1/0") as run:
                raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            pass
        demo.run_ids["broken"] = run.info.run_id
    with tracking(directory, "exp-b"):
        with nbtrack.start_run(run_name="b0") as run:
            nbtrack.log_metric("acc", 0.99)
        demo.run_ids["b0"] = run.info.run_id
    return demo


def build_many_runs(directory: str | os.PathLike[str], count: int) -> None:
    """``count`` runs with a param, two metrics and a tag each (the listing speed test)."""
    with tracking(directory, "many"):
        for i in range(count):
            with nbtrack.start_run(
                run_name=f"r{i}", tags={"parity": str(i % 2)}, cell_id=f"c{i % 100}"
            ):
                nbtrack.log_param("i", str(i))
                nbtrack.log_metrics({"acc": (i % 1000) / 1000, "loss": 1 - (i % 1000) / 1000})


def _log_bytes(directory: str | os.PathLike[str], data: bytes, artifact_file: str) -> None:
    # log_artifact takes a file: write one next to the store, named as the artifact should be.
    source = Path(directory) / ".nbtrack-test-upload" / Path(artifact_file).name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(data)
    nbtrack.log_artifact(source, artifact_path=str(Path(artifact_file).parent))


PARAMETERIZED_NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03-parameterized.ipynb"


@dataclass
class RegistryStore(DemoStore):
    model: str = "churn"


def build_registry_store(directory: str | os.PathLike[str]) -> RegistryStore:
    """Three runs that log a small sklearn model each ("lr-0.1", "lr-1", "lr-10"); the first two
    are versions 1 and 2 of "churn", ``champion`` points at version 1; the third is not registered."""
    from sklearn.linear_model import LogisticRegression

    import nbtrack.sklearn

    store = RegistryStore(Path(directory))
    X = [[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.8, 0.1]]
    with tracking(directory, "models"):
        for c in (0.1, 1, 10):
            with nbtrack.start_run(run_name=f"lr-{c}") as run:
                nbtrack.log_param("C", str(c))
                nbtrack.log_metric("accuracy", 0.5 + c / 100)
                nbtrack.sklearn.log_model(LogisticRegression(C=c).fit(X, [0, 1, 0, 1]), name="model")
            store.run_ids[f"lr-{c}"] = run.info.run_id
        client = nbtrack.Client()
        for name in ("lr-0.1", "lr-1"):
            nbtrack.register_model(f"runs:/{store.run_ids[name]}/model", store.model)
        client.set_registered_model_alias(store.model, "champion", 1)
    return store


def build_job_store(directory: str | os.PathLike[str], alpha: float = 0.5) -> DemoStore:
    """The parameterized example notebook in ``directory`` and one execution of it (``nbtrack run``),
    whose ``%%track`` cell recorded a child run (a real kernel: a few seconds)."""
    import shutil

    from nbtrack.jobs.execute import run_notebook
    from nbtrack.paths import resolve_location

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    notebook = folder / "params.ipynb"
    shutil.copy(PARAMETERIZED_NOTEBOOK, notebook)
    result = run_notebook(notebook, {"alpha": alpha}, location=resolve_location(folder / ".nbtrack"),
                          experiment="jobs")
    nbtrack.flush()
    return DemoStore(folder, {"execution": result.run_id})
