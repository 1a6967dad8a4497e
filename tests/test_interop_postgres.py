"""``nbtrack push`` / ``pull`` through a team's server: MLflow on PostgreSQL behind MLflow's
basic-auth app, with good and wrong credentials (no mock).

PostgreSQL is Debian's package (scripts/test.sh installs it), started here as a team would:
``initdb`` into a temp dir and ``pg_ctl start`` on a free port, as the ``postgres`` user when
this runs as root (initdb refuses root). Started once per session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO
from mlflow_server import MlflowServer, free_port

import nbtrack
from nbtrack import state
from nbtrack.interop.remote import RemoteError

mlflow = pytest.importorskip("mlflow")
pytestmark = pytest.mark.slow

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)), None)


def as_cluster_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    if PG_BIN is None:
        pytest.skip("PostgreSQL is not installed (scripts/test.sh installs Debian's postgresql)")
    bin_dir = PG_BIN.parent
    # Not under pytest's temp root: that is private to root and the cluster runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="nbtrack-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = free_port()
    run = lambda *args: subprocess.run(as_cluster_owner(list(args)), check=True, capture_output=True,
                                       timeout=180)
    run(str(bin_dir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres", "--no-sync")
    run(str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow")
        # The peers' venv has psycopg2; SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3.
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def team_server(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """MLflow on PostgreSQL behind its basic-auth app: one server, as a team runs it."""
    workdir = tmp_path_factory.mktemp("mlflow-team")
    # MLflow 3.17 ships no admin password and refuses the old default (password1234). Its
    # credential cache is off by default, which costs a PBKDF2 hash per request.
    config = workdir / "basic_auth.ini"
    config.write_text("[mlflow]\ndefault_permission = READ\n"
                      f"database_uri = sqlite:///{workdir}/basic_auth.db\nadmin_username = admin\n"
                      "admin_password = team-s3cret-9\n"
                      "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                      "auth_cache_ttl_seconds = 300\n")
    running = MlflowServer(workdir, postgres, app_name="basic-auth",
                           env={"MLFLOW_AUTH_CONFIG_PATH": str(config),
                                "MLFLOW_FLASK_SERVER_SECRET_KEY": "nbtrack-tests"}).start()
    yield running
    running.stop()


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "team-s3cret-9")


def some_runs(experiment: str) -> list[str]:
    nbtrack.set_experiment(experiment)
    ids = []
    for i in range(3):
        with nbtrack.start_run(run_name=f"pg-{i}") as run:
            nbtrack.log_param("i", str(i))
            for step in range(200):
                nbtrack.log_metric("loss", 1 / (step + 1), step=step)
            nbtrack.log_text(f"run {i}", "out.txt")
            ids.append(run.info.run_id)
    return ids


def test_push_and_pull_through_mlflow_on_postgres(team_server: MlflowServer, postgres: str,
                                                 tmp_path: Path, admin: None) -> None:
    ids = some_runs("team")
    assert nbtrack.push(to=team_server.uri, progress=False).created == 3
    assert nbtrack.push(to=team_server.uri, progress=False).runs == 0
    c = mlflow.MlflowClient(team_server.uri)
    exp = c.get_experiment_by_name("team")
    assert len(c.search_runs([exp.experiment_id])) == 3
    originals = {i: nbtrack.get_run(i) for i in ids}

    state.reset()
    nbtrack.set_tracking_uri(str(tmp_path / "teammate"))
    assert nbtrack.pull(team_server.uri, experiment="team", progress=False).runs == 3
    for run_id, original in originals.items():
        pulled = nbtrack.get_run(run_id)
        assert pulled.data.params == original.data.params
        assert (pulled.info.start_time, pulled.info.end_time) == (original.info.start_time,
                                                                 original.info.end_time)
        history = nbtrack.Client().get_metric_history(run_id, "loss")
        assert [(m.step, m.value) for m in history] == [(s, 1 / (s + 1)) for s in range(200)]

    # the database itself is a URI push and pull take too (the password would never be stored)
    state.reset()
    nbtrack.set_tracking_uri(str(tmp_path / "direct"))
    with pytest.raises(Exception, match="pull from that server's http:// URL"):
        nbtrack.pull(postgres, experiment="team", progress=False)


def test_basic_auth_good_and_wrong_credentials(team_server: MlflowServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    some_runs("secured")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    with pytest.raises(RemoteError) as caught:
        nbtrack.push(to=team_server.uri, progress=False)
    assert "\n" not in str(caught.value) and "MLFLOW_TRACKING_PASSWORD" in str(caught.value)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "team-s3cret-9")
    assert nbtrack.push(to=team_server.uri, experiment="secured", progress=False).created == 3

    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_PASSWORD": "nope"}
    done = subprocess.run([sys.executable, "-m", "nbtrack", "pull", "--from", team_server.uri],
                          check=False, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "refused the credentials" in done.stderr
