"""``%%track`` in a real IPython shell, driven through ``run_cell`` as a user types cells."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from IPython.core.error import UsageError
from kernel_support import tracking_shell

import nbtrack
from nbtrack.tracking import fluent
from nbtrack.display import RunSummary
from nbtrack.entities import RunStatus
from nbtrack.errors import ActiveRunError
from nbtrack.store import artifacts, queries


@pytest.fixture
def ip():
    shell = tracking_shell()
    yield shell
    shell.reraise = True
    if "nbtrack" in shell.extension_manager.loaded:
        shell.run_line_magic("unload_ext", "nbtrack")


def store():
    return fluent.read_store()


def all_runs():
    if not Path(fluent.store_handle().location.database).exists():
        return []  # nothing ran, and nothing created a store either
    return queries.search_runs(store())


def run_of(summary: RunSummary):
    return queries.get_run(store(), summary.run_id)


def test_cell_becomes_a_run_with_params_metrics_tags_and_code(ip, tmp_path):
    ip.user_ns["__session__"] = str(tmp_path / "bow.ipynb")
    cell = ("%%track bow-nb -e customer-sentiment -t developer=me\n"
            "alpha = 1\nlayers = [64, 32]\nname = 'nb'\nclf = None\nimport nbtrack\n"
            "nbtrack.log_metric('accuracy', 0.91)\n")
    summary = ip.run_cell(cell).result
    assert isinstance(summary, RunSummary)
    run = run_of(summary)
    assert run.info.status is RunStatus.FINISHED
    assert run.info.run_name == "bow-nb"
    assert run.data.params == {"alpha": "1", "layers": "[64, 32]", "name": "nb", "clf": "None"}
    assert run.data.metrics == {"accuracy": 0.91}
    assert run.data.tags["developer"] == "me"
    assert run.data.tags["mlflow.source.name"] == str(tmp_path / "bow.ipynb")
    assert run.info.code == cell
    assert run.info.notebook_path == str(tmp_path / "bow.ipynb")
    assert run.info.execution_count == 1
    assert run.info.source == "cell"
    assert run.info.end_time >= run.info.start_time
    assert nbtrack.get_experiment_by_name("customer-sentiment").experiment_id == run.info.experiment_id
    assert fluent.active_run() is None


def test_cell_outputs_and_namespace_are_as_without_the_magic(ip, capsys):
    ip.run_cell("%%track\nx = 21\nprint('hello from the cell')\n")
    assert ip.user_ns["x"] == 21
    assert "hello from the cell" in capsys.readouterr().out


def test_summary_reads_as_text_and_escaped_html(ip):
    summary = ip.run_cell("%%track <b>bold</b>\nnote = '<script>alert(1)</script>'\n").result
    text, markup = repr(summary), summary._repr_html_()
    assert summary.run_id[:8] in text and "FINISHED" in text and "note=<script>" in text
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "&lt;b&gt;bold" in markup


def test_rerun_is_linked_and_summary_says_what_changed(ip):
    first = ip.run_cell("%%track bow\nalpha = 1\nimport nbtrack\nnbtrack.log_metric('acc', 0.5)\n").result
    second = ip.run_cell("%%track bow\nalpha = 2\nimport nbtrack\nnbtrack.log_metric('acc', 0.75)\n").result
    assert run_of(second).info.previous_run_id == first.run_id
    changes = second.changes
    assert changes.params == {"alpha": ("1", "2")}
    assert changes.metric_deltas == {"acc": 0.25}
    assert changes.code_changed
    assert "alpha: 1 → 2" in repr(second) and "acc +0.25" in repr(second)
    third = ip.run_cell("%%track bow\nalpha = 2\nimport nbtrack\nnbtrack.log_metric('acc', 0.75)\n").result
    assert not third.changes.code_changed and "same code" in repr(third)
    history = [r.info.run_id for r in queries.cell_history(store(), "name:bow")]
    assert history == [third.run_id, second.run_id, first.run_id]


def test_lineage_follows_the_cell_id_when_the_frontend_sends_one(ip):
    ip.run_cell("%%track\nalpha = 1\n", cell_id="cell-a")
    ip.run_cell("%%track\nbeta = 1\n", cell_id="cell-b")
    ip.run_cell("%%track\nalpha = 2\n", cell_id="cell-a")
    runs = queries.cell_history(store(), "cell-a")
    assert [r.data.params["alpha"] for r in runs] == ["2", "1"]
    assert runs[0].info.previous_run_id == runs[1].info.run_id
    assert [r.info.run_id for r in queries.lineage(store(), runs[0].info.run_id)] == \
        [r.info.run_id for r in runs]


def test_failing_cell_is_failed_and_the_user_sees_the_error_once(ip, capsys):
    ip.reraise = False
    result = ip.run_cell("%%track will-fail\nthreshold = 0.5\nraise ValueError('no rows above 0.5')\n")
    # The enclosing cell fails with the user's own exception, as without the magic.
    assert isinstance(result.error_in_exec, ValueError) and not result.success
    out = capsys.readouterr().out
    assert out.count("Traceback (most recent call last)") == 1
    assert "no rows above 0.5" in out and "run_cell_magic" not in out
    (run,) = all_runs()
    assert run.info.status is RunStatus.FAILED
    assert run.info.error.type == "ValueError" and run.info.error.message == "no rows above 0.5"
    assert "raise ValueError('no rows above 0.5')" in run.info.error.traceback
    assert "interactiveshell.py" not in run.info.error.traceback
    assert run.data.params == {"threshold": "0.5"}


def test_failing_cell_reraises_in_a_reraising_shell(ip):
    with pytest.raises(ZeroDivisionError):
        ip.run_cell("%%track\n1 / 0\n")
    assert all_runs()[0].info.status is RunStatus.FAILED
    assert fluent.active_run() is None


def test_keyboard_interrupt_in_the_cell_is_killed(ip):
    ip.reraise = False
    result = ip.run_cell("%%track\nraise KeyboardInterrupt\n")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    (run,) = all_runs()
    assert run.info.status is RunStatus.KILLED and run.info.error.type == "KeyboardInterrupt"


def test_syntax_error_in_the_body_is_a_failed_run(ip):
    ip.reraise = False
    result = ip.run_cell("%%track\nx = (\n")
    assert isinstance(result.error_in_exec, SyntaxError)
    assert all_runs()[0].info.status is RunStatus.FAILED


@pytest.mark.parametrize("line, message", [
    ("%%track --bogus", "unrecognized arguments: --bogus"),
    ("%%track -t developer", "-t takes KEY=VALUE"),
    ("%%track -p 1x=2", "not a Python name"),
    ("%%track -p alpha=2", "overwritten by `alpha = ...` on line 1"),
    ("%%track --params 9lives", "not one"),
    ("%%track --metrics acc,f-1", "not one"),
    ("%%track -t 'bad key!=1'", "may only hold"),
    ("%%track -e ' '", "-e needs an experiment name"),
])
def test_magic_line_mistakes_are_one_usage_error_and_nothing_runs(ip, capsys, line, message):
    with pytest.raises(UsageError, match=message):
        ip.run_cell(f"{line}\nalpha = 1\nran = True\n")
    assert "ran" not in ip.user_ns
    assert all_runs() == []
    ip.reraise = False
    ip.run_cell(f"{line}\nalpha = 1\n")
    seen = capsys.readouterr()
    out = seen.out + seen.err
    assert "UsageError" in out and "Traceback" not in out


def test_bound_param_is_recorded_and_bound_before_the_cell(ip):
    summary = ip.run_cell("%%track 'my run' -e \"my exp\" -p C=0.5 -p 'solver=l bfgs' -t 'who=me too'\n"
                          "score = C * 2\n").result
    assert ip.user_ns["C"] == 0.5 and ip.user_ns["solver"] == "l bfgs"
    run = run_of(summary)
    assert run.data.params == {"C": "0.5", "solver": "l bfgs"}
    assert run.info.run_name == "my run" and run.data.tags["who"] == "me too"
    assert nbtrack.get_experiment_by_name("my exp").experiment_id == run.info.experiment_id


def test_params_option_chooses_what_is_recorded(ip):
    ip.user_ns["lr"] = 0.01
    none = ip.run_cell("%%track --params none\nalpha = 1\n").result
    assert run_of(none).data.params == {}
    some = ip.run_cell("%%track --params alpha,steps,lr,model\nalpha = 1\nbeta = 2\n"
                       "steps = 10 * 3\nmodel = object()\n").result
    # alpha: its literal; steps: not a literal, but a plain number at the end of the cell;
    # lr: defined before the cell; model: not a simple value, so only noted.
    assert run_of(some).data.params == {"alpha": "1", "steps": "30", "lr": "0.01"}
    assert any("param model not recorded" in note for note in some.notes)


def test_rebound_or_mutated_literals_are_not_params(ip):
    summary = ip.run_cell("%%track\nalpha = 1\nalpha += 1\nscores = []\nscores.append(1)\n"
                          "a, b = 3, 'x'\nfor i in range(2):\n    pass\ni = 5\n").result
    assert run_of(summary).data.params == {"a": "3", "b": "x", "i": "5"}


def test_metrics_option_logs_variables_at_the_end(ip):
    summary = ip.run_cell("%%track --metrics acc,f1,label\nacc = 0.9\nf1 = 0.8\nlabel = 'x'\n").result
    run = run_of(summary)
    assert run.data.metrics == {"acc": 0.9, "f1": 0.8}
    assert "acc" not in run.data.params
    assert any("metric label not recorded" in note for note in summary.notes)


def test_every_log_metric_in_the_cell_goes_to_the_cells_run(ip):
    summary = ip.run_cell("%%track\nimport nbtrack\nfor step in range(50):\n"
                          "    nbtrack.log_metric('loss', 1 / (step + 1), step=step)\n").result
    history = queries.metric_history(store(), summary.run_id, "loss")
    assert len(history) == 50 and history[-1].step == 49


def test_no_cell_leaves_a_run_active(ip):
    ip.run_cell("%%track outer\nimport nbtrack\nchild = nbtrack.start_run(run_name='left-open', nested=True)\n")
    assert fluent.active_run() is None
    ip.run_cell("%%track ends-itself\nimport nbtrack\nnbtrack.end_run()\nnbtrack.log_metric('late', 1)\n")
    assert fluent.active_run() is None
    assert all(r.info.status is not RunStatus.RUNNING for r in all_runs())


def test_nested_track_and_nested_start_run_are_child_runs(ip):
    summary = ip.run_cell(
        "%%track outer\nimport nbtrack\n"
        "get_ipython().run_cell_magic('track', 'inner', 'beta = 2')\n"
        "with nbtrack.start_run(run_name='fold-0', nested=True):\n"
        "    nbtrack.log_metric('acc', 0.5)\n"
    ).result
    runs = {r.info.run_name: r for r in all_runs()}
    assert runs["inner"].info.parent_run_id == summary.run_id
    assert runs["fold-0"].info.parent_run_id == summary.run_id
    assert runs["inner"].info.cell_id.startswith("name:outer/")
    assert runs["inner"].data.params == {"beta": "2"}


def test_start_run_without_nested_inside_a_tracked_cell_is_refused(ip):
    with pytest.raises(ActiveRunError, match="nested=True"):
        ip.run_cell("%%track\nimport nbtrack\nwith nbtrack.start_run():\n    pass\n")
    assert all_runs()[0].info.status is RunStatus.FAILED


def test_config_traitlets(ip):
    ip.run_line_magic("config", "TrackMagics.show_summary = False")
    assert ip.run_cell("%%track\nx = 1\n").result is None
    ip.run_line_magic("config", "TrackMagics.params = 'none'")
    ip.run_line_magic("config", "TrackMagics.show_summary = True")
    assert run_of(ip.run_cell("%%track\nx = 1\n").result).data.params == {}


def test_help_is_generated_usage(ip):
    doc = ip.find_cell_magic("track").__doc__
    assert "%track [-e EXPERIMENT]" in doc and "--metrics" in doc and "-p KEY=VALUE" in doc
    assert "auto on|off" in ip.find_line_magic("nbtrack").__doc__


def test_snapshot_is_a_valid_notebook_of_what_ran(ip):
    ip.run_cell("x = 1")
    ip.run_cell("y = x + 1", cell_id="cell-y")
    summary = ip.run_cell("%%track snap\nz = y * 2\n", cell_id="cell-z").result
    entries = {p: d for p, d, _ in queries.artifact_entries(store(), summary.run_id)}
    (path,) = [p for p in entries if p.startswith("notebook/")]
    assert path == "notebook/session.history.ipynb"
    nb = nbformat.reads(artifacts.blob_path(store(), entries[path]).read_text(), as_version=4)
    nbformat.validate(nb)
    assert [c.source for c in nb.cells] == ["x = 1", "y = x + 1", "%%track snap\nz = y * 2"]
    assert [c.execution_count for c in nb.cells] == [1, 2, 3]
    assert nb.cells[2].metadata["nbtrack"]["cell_id"] == "cell-z"


def test_snapshot_of_the_notebook_file_on_disk(ip, tmp_path):
    notebook = tmp_path / "analysis.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), notebook)
    ip.user_ns["__session__"] = str(notebook)
    summary = ip.run_cell("%%track\nx = 1\n").result
    ip.magics_manager.registry["TrackMagics"].session.worker.drain()
    entries = {p: d for p, d, _ in queries.artifact_entries(store(), summary.run_id)}
    assert artifacts.blob_path(store(), entries["notebook/analysis.file.ipynb"]).read_bytes() == \
        notebook.read_bytes()
    assert "notebook/analysis.history.ipynb" in entries


def test_data_the_cell_reads_is_fingerprinted_and_a_change_shows(ip):
    pd = pytest.importorskip("pandas")
    ip.user_ns["df"] = pd.DataFrame({"a": range(100), "b": [0.5] * 100})
    ip.user_ns["unused"] = pd.DataFrame({"c": [1]})
    first = ip.run_cell("%%track fit\ntotal = df['a'].sum()\n").result
    (dataset,) = run_of(first).inputs.dataset_inputs
    assert dataset.name == "df" and dataset.shape == (100, 2) and dataset.profile["fingerprint"] == "full"
    assert dataset.digest == nbtrack.tracking.inputs.fingerprint(ip.user_ns["df"]).digest
    ip.run_cell("df.loc[5, 'b'] = 9.0")
    second = ip.run_cell("%%track fit\ntotal = df['a'].sum()\n").result
    assert second.changes.data_changed == ("df",) and "data changed: df" in repr(second)


def test_auto_mode_tracks_every_cell_until_off(ip):
    ip.run_line_magic("nbtrack", "auto on")
    ip.run_cell("alpha = 3")
    ip.reraise = False
    ip.run_cell("1 / 0")
    ip.reraise = True
    ip.run_cell("%nbtrack runs")
    ip.run_line_magic("nbtrack", "auto off")
    ip.run_cell("beta = 4")
    runs = all_runs()
    assert [r.info.status for r in runs] == [RunStatus.FAILED, RunStatus.FINISHED]
    assert runs[1].data.params == {"alpha": "3"} and runs[1].info.source == "cell-auto"
    assert fluent.active_run() is None


def test_nbtrack_runs_history_and_status(ip, capsys):
    ip.run_cell("%%track bow\nalpha = 1\n")
    ip.run_cell("%%track bow\nalpha = 2\n")
    ip.run_cell("%%track other\nalpha = 3\n")
    table = ip.run_cell("%nbtrack runs -n 2").result
    assert [r.info.run_name for r in table.runs] == ["other", "bow"]
    assert "<table" in table._repr_html_() and "other" in repr(table)
    history = ip.run_cell("%nbtrack history bow").result
    assert [r.data.params["alpha"] for r in history.runs] == ["2", "1"]
    assert [r.info.run_name for r in ip.run_cell("%nbtrack history").result.runs] == ["other"]
    ip.run_cell("%nbtrack status")
    out = capsys.readouterr().out
    assert "auto        off" in out and "last run" in out
    with pytest.raises(UsageError, match="no run with id or name"):
        ip.run_cell("%nbtrack history nosuchrun")
    with pytest.raises(UsageError, match="on or off"):
        ip.run_cell("%nbtrack auto maybe")


def test_unload_removes_every_hook_and_reload_tracks_once(ip):
    before = {e: len(cbs) for e, cbs in ip.events.callbacks.items()}
    ip.run_line_magic("unload_ext", "nbtrack")
    after = {e: len(cbs) for e, cbs in ip.events.callbacks.items()}
    assert after["pre_run_cell"] == before["pre_run_cell"] - 1
    assert after["post_run_cell"] == before["post_run_cell"] - 1
    assert ip.find_cell_magic("track") is None and ip.find_line_magic("nbtrack") is None
    assert not any(type(c).__name__ == "TrackMagics" for c in ip.configurables)
    ip.run_line_magic("load_ext", "nbtrack")
    ip.run_line_magic("load_ext", "nbtrack")  # a second load is a no-op
    ip.run_line_magic("nbtrack", "auto on")
    ip.run_cell("x = 1")
    assert len(all_runs()) == 1


def test_a_store_that_cannot_be_written_warns_once_and_the_cell_runs(ip, tmp_path, monkeypatch):
    bad = tmp_path / "not-a-store"
    bad.mkdir()
    (bad / "nbtrack.db").write_text("this is not sqlite")
    monkeypatch.setenv("NBTRACK_HOME", str(bad))
    with pytest.warns(nbtrack.errors.NbtrackWarning, match="runs untracked"):
        result = ip.run_cell("%%track\nstill_ran = True\n")
    assert ip.user_ns["still_ran"] is True and result.result is None


def test_history_snapshot_and_params_survive_json(ip):
    summary = ip.run_cell("%%track\nconfig = {'layers': [64, 32], 'dropout': 0.1}\n").result
    assert json.loads(run_of(summary).data.params["config"].replace("'", '"')) == \
        {"layers": [64, 32], "dropout": 0.1}


def test_tracking_shell_history_is_real(ip):
    ip.run_cell("%%track\nq = 1\n")
    assert ip.history_manager.input_hist_raw[-1] == "%%track\nq = 1"
    assert Path(fluent.read_store().location.database).exists()


def test_missing_git_warns_once_and_the_cell_goes_on(ip, tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    ip.user_ns["__session__"] = str(tmp_path / "nb.ipynb")
    worker = ip.magics_manager.registry["TrackMagics"].session.worker
    with pytest.warns(nbtrack.errors.NbtrackWarning, match="could not run git") as record:
        summary = ip.run_cell("%%track\nafter = 1\n").result
        ip.run_line_magic("config", "TrackMagics.capture_git = True")
        ip.run_cell("%%track -p again=1\nafter = 2\n", cell_id="another")
        worker.drain()
    assert len([w for w in record if "git" in str(w.message)]) == 1
    assert ip.user_ns["after"] == 2
    assert run_of(summary).info.status is RunStatus.FINISHED


def test_vscode_notebook_path_wins_over_the_session_path(ip, tmp_path):
    ip.user_ns["__session__"] = str(tmp_path / "stale.ipynb")
    ip.user_ns["__vsc_ipynb_file__"] = str(tmp_path / "vscode.ipynb")
    summary = ip.run_cell("%%track\nx = 1\n").result
    assert run_of(summary).info.notebook_path == str(tmp_path / "vscode.ipynb")


def test_param_the_cell_logged_itself_keeps_the_cells_value(ip):
    summary = ip.run_cell("%%track\nimport nbtrack\nalpha = 1\nnbtrack.log_param('alpha', 1.0)\n"
                          f"long = '{'x' * 7000}'\n").result
    assert run_of(summary).data.params == {"alpha": "1.0"}
    assert any(note.startswith("param alpha not recorded") for note in summary.notes)
    assert any(note.startswith("param long not recorded") for note in summary.notes)


def test_docs_cover_every_option_and_command(ip):
    docs = (Path(__file__).resolve().parent.parent / "docs" / "magic.md").read_text()
    magics = ip.magics_manager.registry["TrackMagics"]
    for action in magics.track.parser._actions:
        flag = max(action.option_strings, key=len) if action.option_strings else None
        if flag and flag != "--help":
            assert f"`{flag}" in docs or f"`{min(action.option_strings, key=len)}" in docs, flag
    for trait in magics.trait_names(config=True):
        assert f"`{trait}`" in docs, trait
    (command_action,) = [a for a in magics.nbtrack.parser._actions if a.dest == "command"]
    for command in command_action.choices:
        assert f"`%nbtrack {command}" in docs, command
