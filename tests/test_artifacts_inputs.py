"""Artifacts (content-addressed, path-safe) and data-input fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nbtrack
from nbtrack.errors import InvalidInput
from nbtrack.store.gc import collect_garbage
from nbtrack.paths import current_location


def blob_files(home: Path) -> list[Path]:
    return [p for p in (home / "artifacts" / "blobs").glob("??/*")]


def test_same_bytes_are_stored_once(tmp_path: Path, nbtrack_home: Path) -> None:
    model = tmp_path / "model_bow.bin"
    model.write_bytes(b"\x00weights" * 1000)
    for _ in range(3):
        with nbtrack.start_run():
            nbtrack.log_artifact(model, artifact_path="models_pickle")
    assert len(blob_files(nbtrack_home)) == 1


def test_artifact_round_trip_and_listing(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    (folder / "plots").mkdir(parents=True)
    (folder / "plots" / "a.txt").write_text("A")
    (folder / "summary.json").write_text("{}")
    with nbtrack.start_run() as run:
        nbtrack.log_artifacts(folder, artifact_path="results")
        nbtrack.log_text("hello", "notes/readme.md")
        nbtrack.log_dict({"k": [1, 2]}, "config.json")
    client = nbtrack.Client()
    top = {(f.path, f.is_dir) for f in client.list_artifacts(run.run_id)}
    assert top == {("results", True), ("notes", True), ("config.json", False)}
    assert {f.path for f in client.list_artifacts(run.run_id, "results")} == {"results/plots", "results/summary.json"}
    target = Path(client.download_artifacts(run.run_id, "results", dst_path=str(tmp_path / "dl")))
    assert (target / "plots" / "a.txt").read_text() == "A"
    config = Path(client.download_artifacts(run.run_id, "config.json", dst_path=str(tmp_path / "dl2")))
    assert json.loads(config.read_text()) == {"k": [1, 2]}


@pytest.mark.parametrize("bad", ["../escape.txt", "/etc/passwd", "C:/x.txt", "a/../../b", "a\x00b", "a\\b"])
def test_paths_that_escape_the_run_are_refused(bad: str) -> None:
    with nbtrack.start_run():
        with pytest.raises(InvalidInput):
            nbtrack.log_text("x", bad)


def test_figures_plotly_and_matplotlib() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    figure, axes = plt.subplots()
    axes.plot([1, 2, 3])
    with nbtrack.start_run() as run:
        nbtrack.log_figure(go.Figure(go.Scatter(y=[1, 3, 2])), "curves/loss.json")
        nbtrack.log_figure(figure, "curves/loss.png")
        with pytest.raises(InvalidInput, match=".html or .json"):
            nbtrack.log_figure(go.Figure(), "x.gif")
    files = {f.path: f for f in nbtrack.Client().list_artifacts(run.run_id, "curves")}
    assert files["curves/loss.png"].file_size > 1000
    plt.close(figure)


def test_gc_purges_deleted_runs_and_orphan_blobs(tmp_path: Path, nbtrack_home: Path) -> None:
    with nbtrack.start_run() as keep:
        nbtrack.log_text("shared", "a.txt")
        nbtrack.log_metric("x", 1.0)
    with nbtrack.start_run() as drop:
        nbtrack.log_text("shared", "a.txt")
        nbtrack.log_text("only mine", "b.txt")
        nbtrack.log_metric("x", 2.0)
    client = nbtrack.Client()
    client.delete_run(drop.run_id)
    assert list(nbtrack.search_runs()["run_id"]) == [keep.run_id]
    report = collect_garbage(current_location())
    assert (report.runs_purged, report.blobs_removed) == (1, 1)
    assert len(blob_files(nbtrack_home)) == 1
    assert client.get_metric_history(keep.run_id, "x")[0].value == 1.0


def test_dataframe_fingerprint_tells_data_apart() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"text": ["good", "bad", "fine"], "label": [1, 0, 1]})
    with nbtrack.start_run() as first:
        nbtrack.log_input(frame, name="reviews", context="train")
    changed = frame.copy()
    changed.loc[1, "label"] = 1
    with nbtrack.start_run() as second:
        nbtrack.log_input(changed, name="reviews", context="train")
    with nbtrack.start_run() as third:
        nbtrack.log_input(frame.copy(), name="reviews", context="train")
    fingerprints = [nbtrack.get_run(r.run_id).inputs.dataset_inputs[0] for r in (first, second, third)]
    assert fingerprints[0].digest != fingerprints[1].digest
    assert fingerprints[0].digest == fingerprints[2].digest
    assert fingerprints[0].shape == (3, 2)
    assert fingerprints[0].schema == {"text": str(frame.dtypes["text"]), "label": "int64"}
    assert fingerprints[0].context == "train" and fingerprints[0].source_type == "pandas"


def test_numpy_and_file_fingerprints(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    data = tmp_path / "reviews.csv"
    data.write_text("a,b\n1,2\n")
    with nbtrack.start_run() as run:
        nbtrack.log_input(np.arange(12).reshape(3, 4), name="X")
        nbtrack.log_input(data, context="raw")
        with pytest.raises(InvalidInput, match="log_input takes"):
            nbtrack.log_input(object())
    inputs = {d.name: d for d in nbtrack.get_run(run.run_id).inputs.dataset_inputs}
    assert inputs["X"].shape == (3, 4) and inputs["X"].source_type == "numpy"
    assert inputs["reviews.csv"].source_type == "file" and inputs["reviews.csv"].source == str(data.resolve())
    from nbtrack.tracking.inputs import fingerprint

    assert fingerprint(np.arange(12).reshape(3, 4)).digest == inputs["X"].digest
    assert fingerprint(np.arange(12).reshape(4, 3)).digest != inputs["X"].digest  # same bytes, other shape
