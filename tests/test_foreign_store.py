"""A store nbtrack did not create is never touched: pointing nbtrack at an MLflow SQLite file
(made by real MLflow), another program's SQLite file, or a file that is not SQLite at all
leaves it byte-identical, with nothing created beside it (no WAL switch, no
``_sqlite_migrations``, no ``.artifacts`` folder, no lock file), and every entry point says
so in one line."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import peer_python

import nbtrack
from nbtrack.errors import ForeignStore, StoreError


def _fingerprint(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` (recursively) with its sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()} | {"<dirs>": repr(sorted(
                str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_dir()))}


def _every_entry_point(database: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Try each way in (fluent, client, CLI, environment variable); the errors' messages."""
    from nbtrack import state
    from nbtrack.cli import main

    uri = f"sqlite:///{database}"
    messages = []
    attempts = [
        lambda: nbtrack.search_runs(),
        lambda: nbtrack.start_run(),
        lambda: nbtrack.log_metric("loss", 0.5),
        lambda: nbtrack.set_experiment("x"),
        lambda: nbtrack.search_experiments(),
        lambda: nbtrack.MlflowClient(uri).search_experiments(),
        lambda: nbtrack.MlflowClient(uri).create_experiment("x"),
        lambda: nbtrack.MlflowClient(uri).get_run("0" * 32),
    ]
    nbtrack.set_tracking_uri(uri)
    for attempt in attempts:
        with pytest.raises(StoreError) as caught:
            attempt()
        messages.append(str(caught.value))
        state.reset()
        nbtrack.set_tracking_uri(uri)
    nbtrack.set_tracking_uri(None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # the tutorial's way of pointing at mlflow.db
    monkeypatch.delenv("NBTRACK_HOME")
    with pytest.raises(StoreError) as caught:
        nbtrack.log_param("alpha", 1)
    messages.append(str(caught.value))
    state.reset()
    for command in (["runs"], ["experiments"], ["sql", "SELECT 1"], ["show", "abc"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code != 0, (command, result.output)
        messages.append(result.output.strip().splitlines()[-1])
    return messages


def _assert_untouched(database: Path, monkeypatch: pytest.MonkeyPatch, expected: str) -> list[str]:
    before = _fingerprint(database.parent)
    messages = _every_entry_point(database, monkeypatch)
    assert _fingerprint(database.parent) == before
    for message in messages:
        assert expected in message and "\n" not in message, message
    return messages


def test_another_programs_sqlite_file_is_refused_untouched(tmp_path, monkeypatch) -> None:
    database = tmp_path / "app.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.close()
    _assert_untouched(database, monkeypatch, "nbtrack did not create")


def test_a_wal_sqlite_file_is_refused_untouched(tmp_path, monkeypatch) -> None:
    database = tmp_path / "app.sqlite"
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE runs (id INTEGER)")  # a name nbtrack uses too
    conn.commit()
    conn.close()
    _assert_untouched(database, monkeypatch, "nbtrack did not create")


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path, monkeypatch) -> None:
    database = tmp_path / "notes.db"
    database.write_bytes(b"not a database, just notes\n" * 200)
    _assert_untouched(database, monkeypatch, "is not an SQLite file")


def test_an_empty_file_a_store_being_created_and_an_nbtrack_store_still_open(tmp_path) -> None:
    from nbtrack.store.database import refuse_foreign

    creating = tmp_path / "creating.db"  # as another process's first migration finds it
    with sqlite3.connect(creating) as conn:
        conn.execute("CREATE TABLE _sqlite_migrations (id INTEGER PRIMARY KEY, migration_set TEXT, "
                     "name TEXT, applied_at TEXT)")
    conn.close()
    refuse_foreign(creating)
    empty = tmp_path / "empty.db"
    empty.touch()
    nbtrack.set_tracking_uri(f"sqlite:///{empty}")
    with nbtrack.start_run():
        nbtrack.log_metric("m", 1.0)
    from nbtrack import state

    state.reset()
    nbtrack.set_tracking_uri(f"sqlite:///{empty}")  # now an nbtrack store: opens as before
    assert len(nbtrack.search_runs()) == 1


@pytest.mark.slow
def test_an_mlflow_store_is_refused_untouched_and_named(tmp_path, monkeypatch) -> None:
    python = peer_python()
    script = textwrap.dedent("""
        import json, mlflow
        mlflow.set_experiment("tutorial")
        with mlflow.start_run(run_name="baseline") as run:
            mlflow.log_param("alpha", 1)
            mlflow.log_metric("accuracy", 0.9)
        print(json.dumps({"run_id": run.info.run_id}))
    """)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "MLFLOW_DISABLE_TELEMETRY": "true",
           "DO_NOT_TRACK": "true", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    done = subprocess.run([str(python), "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    json.loads(done.stdout.strip().splitlines()[-1])
    database = tmp_path / "mlflow.db"
    # MLflow's default artifact root (./mlruns) is beside it; the folder is compared whole.
    messages = _assert_untouched(database, monkeypatch, "is an MLflow store")
    assert all(f"nbtrack pull --from sqlite:///{database}" in m for m in messages)
    with pytest.raises(ForeignStore):  # and the store layer itself, read-only or not
        from nbtrack.paths import resolve_location
        from nbtrack.store.database import open_for_reading

        open_for_reading(resolve_location(f"sqlite:///{database}"))
