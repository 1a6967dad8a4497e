"""``nbtrack push`` / ``nbtrack pull`` against a real ``mlflow server`` (no mock).

One server per session (SQLite backend, proxied artifacts), from the peers' venv; each
test uses its own experiment names so they share it. The test process reads the server
with MLflow's own client (mlflow-skinny, the ``nbtrack[mlflow]`` extra).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from mlflow_server import MlflowServer, peer_env, peer_python

import nbtrack
from nbtrack import state
from nbtrack.errors import InvalidInput, NbtrackError
from nbtrack.interop.remote import RemoteError

mlflow = pytest.importorskip("mlflow")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("mlflow-server")
    running = MlflowServer(workdir, f"sqlite:///{workdir}/mlflow.db").start()
    yield running
    running.stop()


def client(uri: str):
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def remote_runs(uri: str, experiment: str) -> list:
    exp = client(uri).get_experiment_by_name(experiment)
    return [] if exp is None else client(uri).search_runs([exp.experiment_id], max_results=1000)


def make_store(experiment: str, *, runs: int = 3, points: int = 40) -> list[str]:
    """Runs with params, tags, metric histories, artifacts, an input, a nested run, a failed
    run, a logged sklearn model registered with an alias and a stage."""
    from sklearn.linear_model import LogisticRegression

    nbtrack.set_experiment(experiment)
    ids = []
    X = np.random.RandomState(0).rand(40, 3)
    y = (X[:, 0] > 0.5).astype(int)
    for i in range(runs):
        with nbtrack.start_run(run_name=f"run-{i}") as run:
            nbtrack.log_params({"alpha": str(i / 10), "kernel": "rbf"})
            nbtrack.set_tags({"team": "nlp", "note": f"try {i}"})
            for step in range(points):
                nbtrack.log_metrics({"loss": 1 / (step + 1), "train/acc": step / points}, step=step)
            nbtrack.log_metric("odd", float("nan"), step=0)
            nbtrack.log_text(f"notes of run {i}\n", "notes/readme.txt")
            nbtrack.log_dict({"i": i}, "config.json")
            import pandas as pd
            nbtrack.log_input(pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}), name="train", context="training")
            if i == 0:
                nbtrack.sklearn.log_model(LogisticRegression().fit(X, y), name="model")
                with nbtrack.start_run(run_name="child", nested=True):
                    nbtrack.log_metric("inner", 1.0)
            ids.append(run.info.run_id)
    try:
        with nbtrack.start_run(run_name="broken"):
            nbtrack.log_param("alpha", "9")
            raise ValueError("boom")
    except ValueError:
        pass
    name = f"{experiment}-clf"
    mv = nbtrack.register_model(f"runs:/{ids[0]}/model", name)
    c = nbtrack.Client()
    c.set_registered_model_alias(name, "champion", mv.version)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        c.transition_model_version_stage(name, mv.version, "Production")
    nbtrack.flush()
    return ids


def snapshot(home: Path, experiment: str) -> dict:
    """Everything a round trip must keep, per run id, from the store at ``home``."""
    from nbtrack.paths import resolve_location
    from nbtrack.store import queries
    from nbtrack.store.database import open_for_reading
    from nbtrack.store.transfer import read_runs

    location = resolve_location(str(home))
    with open_for_reading(location) as store:
        exp = queries.get_experiment_by_name(store, experiment)
        pks = queries.select_run_pks(store, None, [exp.experiment_id])
        ids = [queries.runs_by_pk(store, [pk])[0].info.run_id for pk in pks]
        records = read_runs(store, ids)
        blobs = {e.digest: (location.artifacts / "blobs" / e.digest[:2] / e.digest).read_bytes()
                 for r in records for e in r.artifacts}
    found = {}
    for r in records:
        tags = {k: v for k, v in r.tags.items() if k != "nbtrack.mlflow_run_id"}
        found[r.run_id] = {
            "name": r.run_name, "status": r.status, "start": r.start_time, "end": r.end_time,
            "parent": r.parent_run_id, "params": dict(r.params), "tags": tags,
            "metrics": sorted((p.key, p.step, p.timestamp, repr(p.value)) for p in r.metrics),
            "artifacts": {e.path: blobs[e.digest] for e in r.artifacts},
            "inputs": sorted((d.name, d.digest, d.context or "") for d in r.inputs),
            "error": (r.error_type, r.error_message), "cell": (r.notebook_path, r.source),
        }
    return found


def use_store(home: Path) -> None:
    state.reset()
    nbtrack.set_tracking_uri(str(home))


def test_round_trip_through_a_real_server(server: MlflowServer, tmp_path: Path) -> None:
    home = Path(os.environ["NBTRACK_HOME"])
    ids = make_store("rt")
    first = nbtrack.push(to=server.uri, progress=False)
    assert first.created == 5 and first.versions == 1
    on_server = remote_runs(server.uri, "rt")
    assert len(on_server) == 5
    # MLflow sees the times, status and system tags a user expects in its UI
    by_local = {r.data.tags["nbtrack.run_id"]: r for r in on_server}
    local = nbtrack.get_run(ids[1])
    assert by_local[ids[1]].info.start_time == local.info.start_time
    assert by_local[ids[1]].info.end_time == local.info.end_time
    assert by_local[ids[1]].data.tags["mlflow.runName"] == "run-1"
    history = client(server.uri).get_metric_history(by_local[ids[1]].info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1 / (s + 1)) for s in range(40)]
    child = next(r for r in on_server if r.info.run_name == "child")
    assert child.data.tags["mlflow.parentRunId"] == by_local[ids[0]].info.run_id
    assert next(r for r in on_server if r.info.run_name == "broken").info.status == "FAILED"

    # a second push creates nothing, and asks the server nothing but its /health
    server_log = server.log.stat().st_size
    again = nbtrack.push(to=server.uri, progress=False)
    assert (again.runs, again.created, again.points, again.versions) == (0, 0, 0, 0)
    assert b"/api/2.0" not in server.log.read_bytes()[server_log:]
    assert len(remote_runs(server.uri, "rt")) == 5

    # pull into an empty store: everything compares equal
    before = snapshot(home, "rt")
    model_id = nbtrack.Client().get_model_version("rt-clf", 1).model_id
    assert model_id and model_id.startswith("m-")
    other = tmp_path / "other-store"
    use_store(other)
    report = nbtrack.pull(server.uri, experiment="rt", progress=False)
    assert report.runs == 5 and report.versions == 1
    after = snapshot(other, "rt")
    assert after == before
    model = nbtrack.Client().get_registered_model("rt-clf")
    assert model.aliases == {"champion": 1}
    assert nbtrack.Client().get_model_version("rt-clf", 1).current_stage == "Production"
    X = np.random.RandomState(1).rand(6, 3)
    pulled = nbtrack.sklearn.load_model("models:/rt-clf@champion").predict(X)
    # the logged model keeps its MLflow 3 id: models:/m-<id> resolves in the pulled store too
    by_id = nbtrack.sklearn.load_model(f"models:/{model_id}").predict(X)
    assert by_id.tolist() == pulled.tolist()
    # pulling twice writes nothing
    assert nbtrack.pull(server.uri, experiment="rt", progress=False).runs == 0
    use_store(home)
    original = nbtrack.sklearn.load_model("models:/rt-clf@champion").predict(X)
    assert pulled.tolist() == original.tolist()

    # MLflow itself loads the pushed model from the server and predicts the same
    script = f"""
        import json, mlflow, numpy as np
        model = mlflow.sklearn.load_model("models:/rt-clf@champion")
        print(json.dumps(model.predict(np.array({X.tolist()!r})).tolist()))
    """
    done = subprocess.run(check=False, args=[str(peer_python()), "-c", textwrap.dedent(script)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path,
                          env=peer_env(tmp_path, MLFLOW_TRACKING_URI=server.uri))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == original.tolist()


def test_a_grown_run_sends_only_what_is_new(server: MlflowServer) -> None:
    nbtrack.set_experiment("grow")
    with nbtrack.start_run(run_name="long") as run:
        for step in range(30):
            nbtrack.log_metric("loss", float(step), step=step)
    assert nbtrack.push(to=server.uri, progress=False).points == 30
    with nbtrack.start_run(run_id=run.info.run_id):
        for step in range(30, 45):
            nbtrack.log_metric("loss", float(step), step=step)
        nbtrack.set_tag("phase", "2")
    report = nbtrack.push(to=server.uri, progress=False)
    assert (report.runs, report.created, report.points) == (1, 0, 15)
    (remote,) = remote_runs(server.uri, "grow")
    history = client(server.uri).get_metric_history(remote.info.run_id, "loss")
    assert [m.step for m in history] == list(range(45))
    assert remote.data.tags["phase"] == "2"


def test_an_unchanged_store_asks_the_server_nothing(server: MlflowServer) -> None:
    nbtrack.set_experiment("quiet")
    with nbtrack.start_run():
        nbtrack.log_metric("m", 1.0)
    nbtrack.push(to=server.uri, progress=False)
    server_log = server.log.stat().st_size
    report = nbtrack.push(to=server.uri, experiment="quiet", progress=False)
    assert (report.runs, report.skipped) == (0, 1)
    # no request reached the server beyond the one reachability probe (/health)
    assert b"/api/2.0" not in server.log.read_bytes()[server_log:]


def test_killed_push_resumes_without_duplicates(server: MlflowServer, tmp_path: Path) -> None:
    home = Path(os.environ["NBTRACK_HOME"])
    nbtrack.set_experiment("resume")
    for i in range(3):
        with nbtrack.start_run(run_name=f"big-{i}"):
            nbtrack.log_metrics  # noqa: B018
            for step in range(8000):
                nbtrack.log_metric("loss", float(step), step=step)
                if step % 3500 == 3499:
                    nbtrack.flush()  # several blocks per run: the resume may cross a block boundary
    state.reset()
    code = ("import nbtrack, sys; nbtrack.push(to=sys.argv[1], progress=False)")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NBTRACK_HOME": str(home)}
    pushing = subprocess.Popen([sys.executable, "-c", code, server.uri], env=env,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and pushing.poll() is None:
        conn = sqlite3.connect(f"file:{home / 'nbtrack.db'}?mode=ro", uri=True)
        try:
            sent = conn.execute("SELECT coalesce(sum(metric_position > 0), 0), count(*) FROM remote_runs "
                                "WHERE marker IS NOT NULL").fetchone()
            partial = conn.execute("SELECT count(*) FROM remote_runs WHERE metric_position > 0 "
                                   "AND marker IS NULL").fetchone()[0]
        except sqlite3.OperationalError:
            sent, partial = (0, 0), 0
        finally:
            conn.close()
        if sent[1] >= 1 and partial >= 1:
            pushing.send_signal(signal.SIGKILL)  # mid-run: one run done, the next half sent
            break
        time.sleep(0.05)
    pushing.wait(timeout=60)
    assert pushing.returncode == -signal.SIGKILL, "the push ended before it could be interrupted"
    partly = remote_runs(server.uri, "resume")
    assert 2 <= len(partly) <= 3
    report = nbtrack.push(to=server.uri, progress=False)
    assert report.created == 3 - len(partly)
    runs = remote_runs(server.uri, "resume")
    assert len(runs) == 3
    for run in runs:
        history = client(server.uri).get_metric_history(run.info.run_id, "loss")
        assert sorted(m.step for m in history) == list(range(8000))


def test_a_run_created_by_a_push_that_died_is_adopted(server: MlflowServer) -> None:
    nbtrack.set_experiment("adopt")
    with nbtrack.start_run(run_name="once") as run:
        nbtrack.log_param("p", "1")
    exp = client(server.uri).create_experiment("adopt")
    client(server.uri).create_run(exp, tags={"nbtrack.run_id": run.info.run_id})
    report = nbtrack.push(to=server.uri, progress=False)
    assert (report.runs, report.created) == (1, 0)
    (only,) = remote_runs(server.uri, "adopt")
    assert only.data.params == {"p": "1"}


def test_refusals_are_one_line_and_change_nothing(server: MlflowServer, tmp_path: Path) -> None:
    from nbtrack.paths import current_location
    from nbtrack.store.database import open_for_reading

    nbtrack.set_experiment("refused")
    with nbtrack.start_run(run_name="clash") as run:
        nbtrack.log_param("alpha", "0.1")
    # the server holds this run already, with another alpha
    exp = client(server.uri).create_experiment("refused")
    remote = client(server.uri).create_run(exp, tags={"nbtrack.run_id": run.info.run_id})
    client(server.uri).log_param(remote.info.run_id, "alpha", "0.5")
    with pytest.raises(RemoteError) as caught:
        nbtrack.push(to=server.uri, progress=False)
    message = str(caught.value)
    assert "\n" not in message and run.info.run_id[:8] in message and "params never change" in message

    with nbtrack.start_run(run_name="slashes") as bad:
        nbtrack.log_metric("train//loss", 1.0)
    with pytest.raises(InvalidInput, match=f"{bad.info.run_id[:8]}.*normalized path.*rename it"):
        nbtrack.push(to=server.uri, filter_string="attributes.run_name = 'slashes'", progress=False)

    port = server.port + 1 if server.port < 65535 else 1024
    with pytest.raises(RemoteError, match="cannot reach MLflow at .*start the server"):
        nbtrack.push(to=f"http://127.0.0.1:{port}", progress=False)
    with open_for_reading(current_location()) as store:
        mapped = store.conn.execute("SELECT count(*) FROM remote_runs WHERE run = "
                                    "(SELECT id FROM runs WHERE run_id = ?)", (bad.info.run_id,)).fetchone()[0]
    assert mapped == 0

    done = subprocess.run(check=False, args=[sys.executable, "-m", "nbtrack", "push", "--to", f"http://127.0.0.1:{port}"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                          timeout=120)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def _tutorial_copy(server: MlflowServer, db: Path) -> None:
    """The server's mlflow.db, written by the server's (older) MLflow, copied to ``db``:
    a tutorial's database (creating one costs MLflow ~15 s). The copy is what is pulled."""
    source = sqlite3.connect(server.workdir / "mlflow.db")
    target = sqlite3.connect(db)
    source.backup(target)
    target.close()
    source.close()


def _folder_state(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_pull_opens_a_tutorial_database_and_mlruns_folder(server: MlflowServer, tmp_path: Path) -> None:
    # Written through the server, so the database keeps the server's MLflow schema even when
    # this environment's mlflow-skinny is newer (it would upgrade a database it opens).
    c = client(server.uri)
    tutorial = tmp_path / "tutorial"
    tutorial.mkdir()
    db = tutorial / "mlflow.db"
    exp = c.create_experiment("tutorial", artifact_location=(tmp_path / "tutorial-artifacts").as_uri())
    run = c.create_run(exp, start_time=1_700_000_000_000, run_name="baseline")
    c.log_param(run.info.run_id, "lr", "0.01")
    for step in range(5):
        c.log_metric(run.info.run_id, "loss", 1.0 / (step + 1), timestamp=1_700_000_000_000 + step, step=step)
    c.set_terminated(run.info.run_id, "FINISHED", end_time=1_700_000_100_000)
    (tmp_path / "plot.txt").write_text("a plot")
    c.log_artifact(run.info.run_id, str(tmp_path / "plot.txt"), "figures")
    live = c.create_run(exp, start_time=1_700_000_000_000, run_name="still-running")
    c.log_metric(live.info.run_id, "loss", 1.0, timestamp=1_700_000_000_000, step=0)
    _tutorial_copy(server, db)
    before = _folder_state(tutorial)
    nbtrack.pull(f"sqlite:///{db}", experiment="tutorial", progress=False)
    # the user's database is read, never written: same bytes, nothing created beside it
    assert _folder_state(tutorial) == before and sorted(p.name for p in tutorial.iterdir()) == ["mlflow.db"]
    assert nbtrack.get_run(live.info.run_id).info.status == "RUNNING"
    # it goes on and ends there; the next pull brings it again, whole
    c.log_metric(live.info.run_id, "loss", 0.5, timestamp=1_700_000_000_001, step=1)
    c.set_terminated(live.info.run_id, "FINISHED", end_time=1_700_000_000_900)
    _tutorial_copy(server, db)
    nbtrack.pull(f"sqlite:///{db}", experiment="tutorial", progress=False)
    ended = nbtrack.get_run(live.info.run_id)
    assert (ended.info.status, ended.info.end_time) == ("FINISHED", 1_700_000_000_900)
    assert [m.value for m in nbtrack.Client().get_metric_history(live.info.run_id, "loss")] == [1.0, 0.5]
    assert len(nbtrack.search_runs(experiment_names=["tutorial"], output_format="list")) == 2
    pulled = nbtrack.get_run(run.info.run_id)
    assert (pulled.info.start_time, pulled.info.end_time, pulled.info.status) == (
        1_700_000_000_000, 1_700_000_100_000, "FINISHED")
    assert pulled.data.params == {"lr": "0.01"} and pulled.data.metrics["loss"] == 0.2
    assert pulled.data.tags["nbtrack.mlflow_run_id"] == run.info.run_id
    plot = nbtrack.Client().download_artifacts(run.info.run_id, "figures/plot.txt", str(tmp_path / "got"))
    assert Path(plot).read_text() == "a plot"
    # a database whose runs keep their artifacts on the server: one line, pointing at the server
    client(server.uri).create_run(client(server.uri).create_experiment("served"))
    _tutorial_copy(server, db)
    with pytest.raises(InvalidInput, match="pull from that server's http:// URL"):
        nbtrack.pull(f"sqlite:///{db}", experiment="served", progress=False)

    mlruns = tmp_path / "mlruns"
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    f = client(mlruns.as_uri())
    old = f.create_run(f.create_experiment("old"), start_time=1_600_000_000_000)
    f.log_metric(old.info.run_id, "acc", 0.5, timestamp=1_600_000_000_001, step=3)
    f.set_terminated(old.info.run_id, "KILLED", end_time=1_600_000_000_500)
    out = subprocess.run(check=False, args=[sys.executable, "-m", "nbtrack", "pull", "--from", str(mlruns)],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    state.reset()
    got = nbtrack.get_run(old.info.run_id)
    assert got.info.status == "KILLED" and got.info.end_time == 1_600_000_000_500

    # a file that is not an MLflow store: one line, nothing created
    stray = tmp_path / "notes.db"
    stray.write_bytes(b"not a database")
    for source in (str(stray), f"sqlite:///{tmp_path / 'missing.db'}", str(tmp_path / "empty")):
        with pytest.raises(InvalidInput, match="is not an MLflow store"):
            nbtrack.pull(source, progress=False)
    assert not (tmp_path / "missing.db").exists()


def test_a_failed_pull_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    mlruns = tmp_path / "mlruns"
    f = client(mlruns.as_uri())
    exp = f.create_experiment("partial")
    good = f.create_run(exp, start_time=1)
    f.log_metric(good.info.run_id, "m", 1.0, step=0)
    broken = f.create_run(exp, start_time=2)
    f.log_metric(broken.info.run_id, "m", 1.0, step=0)
    metric_file = next((mlruns / exp / broken.info.run_id / "metrics").iterdir())
    metric_file.write_text("garbage line\n")
    with nbtrack.start_run(run_name="mine"):
        pass
    before = [r.info.run_id for r in nbtrack.search_runs(search_all_experiments=True, output_format="list")]
    with pytest.raises(NbtrackError) as caught:
        nbtrack.pull(str(mlruns), progress=False)
    assert "\n" not in str(caught.value)
    after = [r.info.run_id for r in nbtrack.search_runs(search_all_experiments=True, output_format="list")]
    assert after == before


def test_watch_survives_the_server_going_away(server: MlflowServer, tmp_path: Path) -> None:
    home = Path(os.environ["NBTRACK_HOME"])
    nbtrack.set_experiment("watched")
    with nbtrack.start_run(run_name="before"):
        nbtrack.log_metric("m", 1.0)
    nbtrack.flush()
    log = tmp_path / "watch.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "NBTRACK_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    watching = subprocess.Popen(
        [sys.executable, "-m", "nbtrack", "push", "--to", server.uri, "--watch", "--interval", "0.5"],
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def wait_for(check, what: str, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.2)
        raise AssertionError(f"{what} did not happen; watch said: {log.read_text()}")

    try:
        wait_for(lambda: "pushed 1 run" in log.read_text(), "the first push")
        server.stop()
        with nbtrack.start_run(run_name="while-down"):
            nbtrack.log_metric("m", 2.0)
        nbtrack.flush()
        wait_for(lambda: "cannot reach MLflow" in log.read_text(), "noticing the server is gone")
        assert watching.poll() is None
        server.start()
        wait_for(lambda: "is back" in log.read_text(), "the push after the restart")
    finally:
        watching.send_signal(signal.SIGINT)
        watching.wait(timeout=60)
        if server.process is None:
            server.start()
    said = log.read_text()
    assert said.count("cannot reach") == 1 and "View run" not in said
    assert sorted(r.info.run_name for r in remote_runs(server.uri, "watched")) == ["before", "while-down"]


def test_tag_edits_made_on_the_server_are_followed_and_local_edits_kept(server: MlflowServer) -> None:
    """MLflow users edit tags in its UI; a run synced before takes them at the next pull,
    three-way per key, without being fetched again or duplicated."""
    from nbtrack.paths import resolve_location

    nbtrack.set_experiment("follow")
    with nbtrack.start_run(run_name="pushed") as run:
        nbtrack.set_tags({"team": "nlp", "note": "a", "stage": "dev", "remove_me": "x", "both": "orig"})
        nbtrack.log_metric("m", 1.0)
    nbtrack.push(to=server.uri, experiment="follow", progress=False)
    c = client(server.uri)
    (pushed,) = remote_runs(server.uri, "follow")
    remote_id = pushed.info.run_id
    c.set_tag(remote_id, "stage", "prod")  # a reviewer promotes it
    c.delete_tag(remote_id, "remove_me")
    c.set_tag(remote_id, "reviewer", "kim")
    c.set_tag(remote_id, "both", "theirs")
    c.update_run(remote_id, name="renamed-there")
    # ...while here, someone edits other tags, one of them the same as there
    nbtrack.MlflowClient().set_tag(run.info.run_id, "note", "mine")
    nbtrack.MlflowClient().set_tag(run.info.run_id, "both", "ours")
    # and a run made on the server, pulled once, then tagged there
    experiment_id = c.get_experiment_by_name("follow").experiment_id
    made_there = c.create_run(experiment_id, run_name="server-run", tags={"x": "1"}).info.run_id
    c.set_terminated(made_there)
    first = nbtrack.pull(server.uri, experiment="follow", progress=False)
    assert (first.runs, first.followed, first.kept_local) == (1, 1, 1)
    assert "1 of them took tag edits made there" in first.line(server.uri)
    got = nbtrack.get_run(run.info.run_id)
    tags = {k: v for k, v in got.data.tags.items() if not k.startswith("mlflow.") and not k.startswith("nbtrack.")}
    assert tags == {"team": "nlp", "note": "mine", "stage": "prod", "reviewer": "kim", "both": "ours"}
    assert got.info.run_name == "renamed-there" and got.data.tags["mlflow.runName"] == "renamed-there"
    assert got.data.metrics == {"m": 1.0} and got.info.status.value == "FINISHED"

    c.set_tag(made_there, "x", "2")
    again = nbtrack.pull(server.uri, experiment="follow", progress=False)
    assert (again.runs, again.followed, again.kept_local) == (0, 1, 0)  # the conflict is settled
    runs = nbtrack.search_runs(experiment_names=["follow"])
    assert len(runs) == 2  # nothing duplicated
    assert server_run_tags()["tags.x"] == "2"

    # A tag deleted here stays deleted: the push that follows cannot delete it there, and
    # the pull after it does not bring it back.
    nbtrack.MlflowClient().delete_tag(run.info.run_id, "team")
    nbtrack.push(to=server.uri, experiment="follow", progress=False)
    assert nbtrack.pull(server.uri, experiment="follow", progress=False).followed == 0
    assert "team" not in nbtrack.get_run(run.info.run_id).data.tags

    # A run synced by an older nbtrack (no base kept): its next pull records the server's
    # tags and changes nothing, so a difference it finds counts as a local edit; an edit
    # made there after that is followed.
    nbtrack.flush()
    with sqlite3.connect(resolve_location(os.environ["NBTRACK_HOME"]).database) as conn:
        conn.execute("UPDATE remote_runs SET server_tags = NULL")
    c.set_tag(made_there, "x", "3")
    assert nbtrack.pull(server.uri, experiment="follow", progress=False).followed == 0
    assert server_run_tags()["tags.x"] == "2"
    c.set_tag(made_there, "y", "new")
    c.set_tag(made_there, "x", "4")
    later = nbtrack.pull(server.uri, experiment="follow", progress=False)
    assert (later.followed, later.kept_local) == (1, 1)
    assert server_run_tags()[["tags.x", "tags.y"]].tolist() == ["2", "new"]


def server_run_tags():
    runs = nbtrack.search_runs(experiment_names=["follow"])
    return runs.set_index("tags.mlflow.runName").loc["server-run"]


def test_alias_moves_made_on_the_server_are_followed(server: MlflowServer) -> None:
    """A champion promoted in MLflow's UI is the champion here after the next pull; the move
    is in nbtrack's alias history, and a local move of the same alias is kept."""
    from sklearn.linear_model import LogisticRegression

    nbtrack.set_experiment("aliases")
    X = np.random.RandomState(1).rand(30, 2)
    y = (X[:, 0] > 0.5).astype(int)
    local = nbtrack.MlflowClient()
    for i in range(2):
        with nbtrack.start_run(run_name=f"m{i}") as run:
            nbtrack.sklearn.log_model(LogisticRegression(C=1 + i).fit(X, y), name="model")
        nbtrack.register_model(f"runs:/{run.info.run_id}/model", "follow-clf")
    local.set_registered_model_alias("follow-clf", "champion", 1)
    local.set_registered_model_alias("follow-clf", "candidate", 2)
    local.set_registered_model_alias("follow-clf", "blessed", 1)
    nbtrack.push(to=server.uri, experiment="aliases", progress=False)
    c = client(server.uri)
    assert c.get_registered_model("follow-clf").aliases == {"champion": "1", "candidate": "2", "blessed": "1"}

    c.set_registered_model_alias("follow-clf", "champion", "2")  # promoted there
    c.delete_registered_model_alias("follow-clf", "candidate")
    c.set_registered_model_alias("follow-clf", "shadow", "1")
    c.set_registered_model_alias("follow-clf", "blessed", "2")  # moved there...
    local.delete_registered_model_alias("follow-clf", "blessed")  # ...and removed here
    report = nbtrack.pull(server.uri, experiment="aliases", progress=False)
    assert (report.runs, report.versions, report.aliases_moved, report.kept_local) == (0, 0, 3, 1)
    model = local.get_registered_model("follow-clf")
    assert model.aliases == {"champion": 2, "shadow": 1}
    assert local.get_model_version_by_alias("follow-clf", "champion").version == 2
    assert "alias(es) moved as they were moved there" in report.line(server.uri)

    again = nbtrack.pull(server.uri, experiment="aliases", progress=False)
    assert (again.aliases_moved, again.kept_local) == (0, 0)
    assert local.get_registered_model("follow-clf").aliases == {"champion": 2, "shadow": 1}
