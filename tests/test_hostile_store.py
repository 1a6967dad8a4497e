"""The store under attack: values that cannot be stored, a command that fails in the
background, many threads and processes at once, and stores that are damaged, locked or
read-only. Each case was found by an attack on the store (issue 14) and failed before."""

from __future__ import annotations

import decimal
import math
import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_python
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbtrack
from nbtrack.entities import RunStatus
from nbtrack.errors import (InvalidInput, NbtrackWarning, NoStore, StoreCorrupt, StoreLocked,
                            StoreReadOnly)
from nbtrack.store import commands, database
from nbtrack.store.commands import WriteCommand, handles

# --- values are checked where the user passes them ------------------------------------------

BAD_STEPS = [2**63, -(2**63) - 1, np.uint64(2**64 - 1), 10**30, 1.5, "3", True]
BAD_TIMESTAMPS = [float("nan"), float("inf"), 1e30, 2**70, -1, "now"]
BAD_VALUES = [10**400, decimal.Decimal("1e400"), "0.5", None, [1.0]]


@pytest.mark.parametrize("step", BAD_STEPS, ids=repr)
def test_a_step_the_store_cannot_hold_is_refused_at_the_call(step) -> None:
    with nbtrack.start_run() as run:
        with pytest.raises(InvalidInput, match="step"):
            nbtrack.log_metric("loss", 0.5, step=step)
        nbtrack.log_metric("loss", 0.25, step=1)  # the store goes on
    assert nbtrack.get_run(run.info.run_id).data.metrics == {"loss": 0.25}


@pytest.mark.parametrize("timestamp", BAD_TIMESTAMPS, ids=repr)
def test_a_timestamp_that_is_not_milliseconds_is_refused_at_the_call(timestamp) -> None:
    with nbtrack.start_run() as run:
        with pytest.raises(InvalidInput, match="timestamp"):
            nbtrack.log_metric("loss", 0.5, timestamp=timestamp)
    assert nbtrack.get_run(run.info.run_id).info.status is RunStatus.FINISHED


@pytest.mark.parametrize("value", BAD_VALUES, ids=repr)
def test_a_value_that_is_not_a_float_is_refused_in_one_line(value) -> None:
    with nbtrack.start_run():
        with pytest.raises(InvalidInput) as caught:
            nbtrack.log_metric("loss", value)
    assert "\n" not in str(caught.value) and "loss" in str(caught.value)


def test_a_given_timestamp_comes_back_to_the_millisecond() -> None:
    with nbtrack.start_run() as run:
        nbtrack.log_metric("x", 1.0, step=0, timestamp=1_700_000_000_123)
        nbtrack.log_metric("x", 1.0, step=1, timestamp=253_402_300_799_999)
    history = nbtrack.Client().get_metric_history(run.info.run_id, "x")
    assert [m.timestamp for m in history] == [1_700_000_000_123, 253_402_300_799_999]


@pytest.mark.parametrize("name", ["a\x00b", "bad \udc80 surrogate", "x" * 1_000_000], ids=["nul", "surrogate", "1MB"])
def test_run_names_that_cannot_be_stored_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="run_name"):
        nbtrack.start_run(run_name=name)
    assert nbtrack.active_run() is None


@pytest.mark.parametrize("params", [{("a", "b"): 1}, {"k": "\udc80"}, {"": 1}], ids=["tuple key", "surrogate", "empty"])
def test_params_that_cannot_be_stored_are_refused(params) -> None:
    with nbtrack.start_run():
        with pytest.raises(InvalidInput):
            nbtrack.log_params(params)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(step=st.integers(), value=st.one_of(st.floats(), st.integers(), st.decimals(allow_nan=False)))
def test_any_step_and_value_is_stored_or_refused_never_stuck(nbtrack_home, step, value) -> None:
    with nbtrack.start_run() as run:
        try:
            nbtrack.log_metric("m", value, step=step)
        except InvalidInput:
            pass
        nbtrack.log_metric("ok", 1.0)
    nbtrack.flush()  # never raises: whatever was accepted is storable
    assert nbtrack.get_run(run.info.run_id).data.metrics["ok"] == 1.0


# --- a command that cannot be applied never blocks the others -------------------------------


@dataclass(frozen=True)
class _ExplodingCommand(WriteCommand):
    """A command whose handler fails, as a bug in a future handler would."""

    run: int

    def describe(self) -> str:
        return f"exploding write of run #{self.run}"


@handles(_ExplodingCommand)
def _explode(conn: sqlite3.Connection, command: _ExplodingCommand) -> None:
    conn.execute("INSERT INTO tags (run, key, value) VALUES (?, 'half', 'written')", (command.run,))
    raise OverflowError("Python int too large to convert to SQLite INTEGER")


def test_a_failing_command_is_isolated_reported_once_and_everything_else_lands() -> None:
    with pytest.warns(NbtrackWarning, match=r"could not record exploding write of run #\d+.*OverflowError") as caught:
        with nbtrack.start_run() as run:
            nbtrack.log_metric("loss", 0.5)
            run.submit(_ExplodingCommand(run.pk))
            nbtrack.log_param("alpha", 1)
            nbtrack.flush()  # a bad command is warned about, not raised: flush stays usable
        with nbtrack.start_run() as other:
            nbtrack.log_metric("loss", 0.1)
        nbtrack.flush()
    assert len([w for w in caught if issubclass(w.category, NbtrackWarning)]) == 1
    stored = nbtrack.get_run(run.info.run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.data.params == {"alpha": "1"} and stored.data.metrics == {"loss": 0.5}
    assert "half" not in stored.data.tags  # rolled back to its savepoint, nothing half-written
    assert nbtrack.get_run(other.info.run_id).data.metrics == {"loss": 0.1}
    handle = nbtrack.tracking.fluent.store_handle()
    assert handle.queue.pending == 1  # kept, to be retried on its own


def test_a_param_another_process_changed_is_reported_and_the_run_still_ends(nbtrack_home) -> None:
    with pytest.warns(NbtrackWarning, match="alpha"):
        with nbtrack.start_run() as run:
            nbtrack.log_metric("x", 1.0)
            nbtrack.flush()
            # Another process's write, straight to the store (the client would go through this
            # process's open run, which would refuse the second value at the call).
            run.store.execute(commands.SetParams(run.pk, {"alpha": "from elsewhere"}))
            nbtrack.log_param("alpha", "from here")  # this process's view did not know
        nbtrack.flush()
    stored = nbtrack.get_run(run.info.run_id)
    assert stored.info.status is RunStatus.FINISHED and stored.data.params == {"alpha": "from elsewhere"}


# --- many threads and processes at once ----------------------------------------------------

THREADS, RUNS_PER_THREAD = int(os.environ.get("NBTRACK_HOSTILE_THREADS", 16)), int(os.environ.get("NBTRACK_HOSTILE_RUNS", 300))


@pytest.mark.slow
def test_threads_starting_runs_at_once_never_surface_a_rollback_error() -> None:
    errors: list[BaseException] = []
    run_ids: list[str] = []

    def work(thread: int) -> None:
        try:
            for i in range(RUNS_PER_THREAD):
                with nbtrack.start_run(run_name=f"t{thread}-{i}") as run:
                    nbtrack.log_param("thread", thread)
                    nbtrack.log_metric("i", float(i))
                run_ids.append(run.info.run_id)
        except BaseException as exc:  # noqa: BLE001 - the test reports every error
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    frame = nbtrack.search_runs()
    assert len(frame) == THREADS * RUNS_PER_THREAD == len(set(run_ids))
    assert set(frame["status"]) == {"FINISHED"}
    assert frame["metrics.i"].notna().all()


PROCESSES, RUNS_PER_PROCESS = int(os.environ.get("NBTRACK_HOSTILE_PROCESSES", 8)), int(os.environ.get("NBTRACK_HOSTILE_PROCESS_RUNS", 300))

WRITER = """
import sys, nbtrack
nbtrack.set_tracking_uri(sys.argv[1])
for i in range(int(sys.argv[2])):
    with nbtrack.start_run(run_name=f"p{sys.argv[3]}-{i}"):
        nbtrack.log_params({"process": sys.argv[3], "i": i})
        nbtrack.log_metric("i", float(i))
"""


@pytest.mark.slow
def test_processes_writing_one_store_lose_nothing_and_leave_nothing_running(tmp_path: Path) -> None:
    store = tmp_path / "shared"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(store), str(RUNS_PER_PROCESS), str(n)],
                                env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True)
               for n in range(PROCESSES)]
    failures = [w.stderr.read() for w in writers if w.wait(timeout=600) != 0]
    assert failures == []
    nbtrack.set_tracking_uri(store)
    frame = nbtrack.search_runs()
    assert len(frame) == PROCESSES * RUNS_PER_PROCESS
    assert set(frame["status"]) == {"FINISHED"}
    assert frame["metrics.i"].notna().all()


# --- stores that are missing, damaged, locked or read-only ---------------------------------


def test_reads_of_a_mistyped_location_say_so_and_create_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "no-such-store"
    nbtrack.set_tracking_uri(typo)
    for read in (nbtrack.search_runs, nbtrack.search_experiments, lambda: nbtrack.Client().search_runs(),
                 lambda: nbtrack.get_run("abc")):
        with pytest.raises(NoStore, match="no nbtrack store"):
            read()
    assert not typo.exists()


def _corrupt(database_file: Path) -> None:
    data = bytearray(database_file.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8192] = os.urandom(8192)
    database_file.write_bytes(bytes(data))


def test_a_damaged_store_is_named_in_one_line_with_the_way_out(tmp_path: Path) -> None:
    nbtrack.set_tracking_uri(tmp_path)
    for i in range(300):
        with nbtrack.start_run(run_name=f"r{i}"):
            nbtrack.log_params({f"p{j}": "x" * 100 for j in range(20)})
    nbtrack.flush()
    from nbtrack import state

    state.reset()
    _corrupt(tmp_path / "nbtrack.db")
    nbtrack.set_tracking_uri(tmp_path)
    with pytest.raises(StoreCorrupt, match="nbtrack doctor") as caught:
        nbtrack.search_runs()
        nbtrack.search_runs("params.p1 = 'y'")
    assert "\n" not in str(caught.value)


def test_a_store_held_exclusively_names_the_holder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 200)
    nbtrack.set_tracking_uri(tmp_path)
    with nbtrack.start_run():
        nbtrack.log_metric("x", 1.0)
    from nbtrack import state

    state.reset()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('PRAGMA locking_mode=EXCLUSIVE'); c.execute('BEGIN EXCLUSIVE')\n"
         "print('held', flush=True); time.sleep(60)\n",
         str(tmp_path / "nbtrack.db")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        nbtrack.set_tracking_uri(tmp_path)
        with pytest.raises(StoreLocked, match=f"held by process {holder.pid}"):
            nbtrack.start_run()
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def read_only_mount(tmp_path: Path):
    """A real read-only bind mount of a folder holding a store (root only)."""
    source, mount = tmp_path / "source", tmp_path / "mounted"
    source.mkdir()
    mount.mkdir()
    nbtrack.set_tracking_uri(source)
    with nbtrack.start_run(run_name="kept") as run:
        nbtrack.log_metric("accuracy", 0.9)
    from nbtrack import state

    state.reset()
    # A clean close leaves no -wal/-shm: the store is one file, as a copy to a share would be.
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {done.stderr.decode().strip()}")
    subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True)
    try:
        if os.access(mount, os.W_OK):
            pytest.skip("the bind mount is still writable here")
        yield mount, run.info.run_id
    finally:
        state.reset()  # close this process's connections first, or the mount stays busy
        for _ in range(4):  # the bind and the read-only remount may stack; umount until none is left
            if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
                break


def test_a_read_only_store_reads_and_refuses_writes_by_name(read_only_mount) -> None:
    mount, run_id = read_only_mount
    nbtrack.set_tracking_uri(mount)
    assert nbtrack.get_run(run_id).data.metrics == {"accuracy": 0.9}
    assert len(nbtrack.search_runs()) == 1
    with pytest.raises(StoreReadOnly, match="read-only"):
        nbtrack.start_run()


def test_cli_reads_a_read_only_store(read_only_mount) -> None:
    mount, run_id = read_only_mount
    result = run_python("from nbtrack.cli import main; main()", argv=["runs", "--store", str(mount), "--format", "csv"])
    assert result.returncode == 0, result.stderr
    assert run_id in result.stdout


def test_nan_is_stored_as_nan_not_lost() -> None:
    with nbtrack.start_run() as run:
        nbtrack.log_metric("x", float("nan"))
    assert math.isnan(nbtrack.get_run(run.info.run_id).data.metrics["x"])


def test_commands_are_frozen_typed_values() -> None:
    command = commands.SetTags(1, {"a": "b"})
    with pytest.raises(AttributeError):
        command.run = 2  # type: ignore[misc]
