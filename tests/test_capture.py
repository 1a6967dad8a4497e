"""The capture building blocks on their own: source analysis, snapshots, fingerprints, git, display."""

from __future__ import annotations

import json
import subprocess
import time

import nbformat
import pytest

from nbtrack.capture.cell import analyze_cell, is_literal_value
from nbtrack.capture.context import lineage_key
from nbtrack.capture.environment import GitProbe, PackageVersions, _without_credentials
from nbtrack.capture.inputs import FingerprintCache, data_names, signature
from nbtrack.capture.snapshot import HistorySnapshot, snapshot_name
from nbtrack.display import Changes, RunSummary, RunTable, format_duration
from nbtrack.entities import DatasetInput, Run, RunData, RunError, RunInfo, RunInputs, RunStatus

# --- source analysis ---------------------------------------------------------------------


@pytest.mark.parametrize("source, params", [
    ("alpha = 1", {"alpha": 1}),
    ("layers = [64, 32]\nname = 'bow'\nflag = True\nnothing = None", {"layers": [64, 32], "name": "bow",
                                                                       "flag": True, "nothing": None}),
    ("cfg = {'lr': 0.1, 'sizes': (1, 2)}", {"cfg": {"lr": 0.1, "sizes": (1, 2)}}),
    ("a, b = 1, 'x'\nc = d = -2.5", {"a": 1, "b": "x", "c": -2.5, "d": -2.5}),
    ("lr: float = 0.01\nsteps: int", {"lr": 0.01}),
    ("x = 1\nx = 2", {"x": 2}),
    ("x = 1\nx = f()", {}),
    ("x = 1\nx += 1", {}),
    ("x = 1\nfor x in range(3):\n    pass", {}),
    ("x = 1\nif cond:\n    x = 5", {}),
    ("x = 1\nimport x", {}),
    ("x = 1\ndef f():\n    x = 2", {"x": 1}),  # another scope: the module's x is still 1
    ("x = 1\ndef x():\n    pass", {}),
    ("s = {1, 2}\nb = b'raw'\nc = 1j\nobj = Model()", {}),
    ("acc = []\nacc.append(1)\nd = {}\nd['k'] = 1", {}),
    ("x = (\n", {}),
])
def test_literal_params(source, params):
    assert analyze_cell(source).params == params


def test_reads_and_binds():
    info = analyze_cell("import numpy as np\ny = np.mean(X) + [v for v in data]\ndef f():\n    return df")
    assert {"np", "X", "data", "df"} <= info.reads
    assert "v" in info.reads and "y" not in info.reads
    assert info.binds == {"np", "y", "f"}
    assert not analyze_cell("x = (").parsed


def test_literal_values():
    assert is_literal_value({"a": [1, (2.5, None)], "b": "c"})
    assert not is_literal_value([object()])
    nested: list = []
    for _ in range(20):
        nested = [nested]
    assert not is_literal_value(nested)  # bounded depth, no recursion error


def test_lineage_key_without_a_cell_id():
    assert lineage_key("cell-1", "bow", "x = 1") == "cell-1"
    assert lineage_key(None, "bow", "x = 1") == "name:bow"
    assert lineage_key(None, None, "x = 1\n") == lineage_key(None, None, "  x = 1")
    assert lineage_key(None, None, "x = 1") != lineage_key(None, None, "x = 2")


# --- snapshots ---------------------------------------------------------------------------


def _history(n: int) -> list[str]:
    return [""] + [f"x{i} = {i}\nprint('cell {i}')" for i in range(1, n + 1)]


def test_history_snapshot_is_valid_and_incremental_equals_full():
    history = _history(30)
    ids = {3: "cell-c", 30: "cell-z"}
    incremental = HistorySnapshot()
    for upto in range(1, 31):
        data = incremental.build(history, ids, upto=upto)
    assert data == HistorySnapshot().build(history, ids, upto=30)
    nb = nbformat.reads(data.decode(), as_version=4)
    nbformat.validate(nb)
    assert [c.execution_count for c in nb.cells] == list(range(1, 31))
    assert nb.cells[2].metadata == {"nbtrack": {"cell_id": "cell-c"}}
    assert len({c.id for c in nb.cells}) == 30


def test_history_snapshot_follows_a_reset_history():
    builder = HistorySnapshot()
    builder.build(_history(10), {})
    fresh = ["", "other = 1"]
    nb = json.loads(builder.build(fresh, {}))
    assert [c["source"] for c in nb["cells"]] == ["other = 1"]


def test_history_snapshot_is_deterministic_across_sessions():
    assert HistorySnapshot().build(_history(5), {1: "a"}) == HistorySnapshot().build(_history(5), {1: "a"})


def test_history_snapshot_cost_does_not_grow_much_with_the_session():
    history = _history(1000)
    builder = HistorySnapshot()
    builder.build(history, {}, upto=999)
    start = time.perf_counter()
    for _ in range(20):
        builder.build(history, {}, upto=1000)
    assert (time.perf_counter() - start) / 20 < 0.005  # measured about 0.2 ms


def test_snapshot_names():
    assert snapshot_name(None, "history") == "notebook/session.history.ipynb"
    assert snapshot_name("/a/b/my nb (1).ipynb", "file") == "notebook/my_nb_1_.file.ipynb"


# --- fingerprints --------------------------------------------------------------------------


def test_small_data_is_hashed_fully_and_matches_log_input():
    np = pytest.importorskip("numpy")
    from nbtrack.tracking.inputs import fingerprint

    array = np.arange(1000, dtype=np.int64)
    described = FingerprintCache().describe(array, "xs")
    assert described.digest == fingerprint(array).digest
    assert described.profile["fingerprint"] == "full" and described.context == "cell"


def test_large_data_is_sampled_and_changes_in_sampled_rows_show():
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    frame = pd.DataFrame(np.zeros((200_000, 4)), columns=list("abcd"))
    frame["label"] = "x"
    cache = FingerprintCache(full_max_bytes=1 << 20)
    first = cache.describe(frame, "df")
    assert first.profile["fingerprint"] == "sampled" and first.shape == (200_000, 5)
    frame.iloc[0, 0] = 1.0  # the first row is always in the sample
    assert cache.describe(frame, "df").digest != first.digest
    assert cache.describe(frame.astype({"a": "float32"}), "df").digest != first.digest
    assert cache.describe(frame.iloc[:-1], "df").digest != first.digest


def test_fingerprint_cost_is_bounded_on_large_data():
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    frame = pd.DataFrame(np.random.default_rng(0).random((2_000_000, 10)))  # 160 MB
    cache = FingerprintCache()
    cache.describe(frame, "big")
    start = time.perf_counter()
    for _ in range(5):
        cache.describe(frame, "big")
    assert (time.perf_counter() - start) / 5 < 0.05  # measured about 1 ms; a full hash is ~0.3 s


def test_full_hash_is_cached_per_object_until_it_changes():
    np = pytest.importorskip("numpy")
    array = np.arange(10_000)
    cache = FingerprintCache()
    first = cache.describe(array, "a")
    assert cache.describe(array, "b").digest == first.digest  # cached, renamed
    array[0] = -1
    assert cache.describe(array, "a").digest != first.digest
    del array
    assert cache._entries == {} or all(ref() is not None for ref, _, _ in cache._entries.values())


def test_data_names_picks_frames_and_arrays_that_exist():
    np = pytest.importorskip("numpy")
    namespace = {"X": np.zeros(3), "n": 3, "_private": np.zeros(1), "df": np.ones(2)}
    assert data_names({"X", "n", "_private", "missing", "df"}, namespace) == ["X", "df"]
    assert signature(np.zeros((0, 3)))[1] == (0, 3)


# --- environment ---------------------------------------------------------------------------


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_git_probe_reads_commit_branch_dirty_and_diff(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / "train.py").write_text("alpha = 1\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    clean = GitProbe().state(str(repo))
    assert clean.branch == "main" and len(clean.commit) == 40 and not clean.dirty and clean.diff == b""
    (repo / "train.py").write_text("alpha = 2\n")
    dirty = GitProbe().state(str(repo))
    assert dirty.dirty and b"+alpha = 2" in dirty.diff
    assert dirty.tags()["mlflow.source.git.commit"] == clean.commit
    assert dirty.tags()["nbtrack.git.dirty"] == "true"
    assert GitProbe().state(str(tmp_path)) is None  # not a repository


def test_git_remote_credentials_are_dropped():
    assert _without_credentials("https://u:tok@github.com/a/b.git") == "https://github.com/a/b.git"
    assert _without_credentials("git@github.com:a/b.git") == "git@github.com:a/b.git"


def test_package_versions_cover_imported_packages():
    pytest.importorskip("numpy")
    versions = PackageVersions().current()
    assert "numpy" in versions and "os" not in versions


# --- display -------------------------------------------------------------------------------


def _run(run_id="abcdef123456", params=None, metrics=None, code="%%track x\nalpha = 1", status="FINISHED",
         error=None, inputs=()):
    info = RunInfo(run_id, "1", "bow-nb", RunStatus(status), 1000, 2500, "active", "x", code=code, error=error)
    return Run(info, RunData(params or {}, metrics or {}), RunInputs(tuple(inputs)))


def test_changes_between_runs():
    data = DatasetInput("df", "d1", "memory", "pandas")
    before = _run("a" * 12, {"alpha": "1", "gone": "x"}, {"acc": 0.5}, inputs=[data])
    after = _run("b" * 12, {"alpha": "2", "new": "y"}, {"acc": 0.75, "f1": 0.1}, code="%%track y\nalpha = 1",
                 inputs=[DatasetInput("df", "d2", "memory", "pandas")])
    changes = Changes.between(before, after)
    assert changes.params == {"alpha": ("1", "2"), "gone": ("x", None), "new": (None, "y")}
    assert changes.metric_deltas == {"acc": 0.25}
    assert not changes.code_changed  # only the magic line changed: the code is the same
    assert changes.data_changed == ("df",)


def test_summary_text_and_html():
    failed = _run(status="FAILED", error=RunError("ValueError", "bad <input>", "tb"),
                  params={"a": "<b>"}, metrics={"m": 0.123456})
    text = repr(RunSummary(failed))
    assert "FAILED" in text and "1.50 s" in text and "ValueError: bad <input>" in text and "m=0.1235" in text
    markup = RunSummary(failed)._repr_html_()
    assert "&lt;input&gt;" in markup and "<input>" not in markup and "a=&lt;b&gt;" in markup


def test_run_table_and_durations():
    table = RunTable([_run(params={"alpha": "1"}, metrics={"acc": 0.5})], title="t")
    assert "alpha=1" in repr(table) and "acc=0.5" in repr(table) and len(table) == 1
    assert table._repr_html_().count("<tr>") == 2
    assert repr(RunTable([])) == "(no runs)"
    assert format_duration(3_600_000 * 2 + 60_000) == "2 h 1 min"


def test_interrupts_are_held_until_bookkeeping_is_done():
    import os
    import signal

    from nbtrack.capture.recorder import deferred_interrupts

    finished = []
    with pytest.raises(KeyboardInterrupt), deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the signal has arrived by now; nothing was raised yet
        finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_run_table_marks_children_of_listed_parents():
    parent = _run("p" * 12)
    child_info = RunInfo("c" * 12, "1", "fold-0", RunStatus.FINISHED, 0, 1, "active", "x", parent_run_id="p" * 12)
    table = RunTable([Run(child_info), parent])
    assert table.rows()[0][1] == "↳ fold-0" and table.rows()[1][1] == "bow-nb"
