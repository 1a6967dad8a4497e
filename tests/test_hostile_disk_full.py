"""A full disk: one line, nothing logged is lost, and the store recovers when space returns.

The store lives on a real, small tmpfs (root only; skipped elsewhere) that the test fills
and then enlarges, as a user freeing space would.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

import nbtrack
from nbtrack import state
from nbtrack.errors import NbtrackWarning, StoreFull

POINTS = 60_000


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        state.reset()  # close this process's connections first, or the mount stays busy
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def grow(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)


@pytest.mark.slow
def test_a_full_disk_warns_once_keeps_every_point_and_recovers(small_disk: Path) -> None:
    nbtrack.set_tracking_uri(small_disk / "store")
    with pytest.warns(NbtrackWarning, match="disk holding .* is full") as caught:
        run = nbtrack.start_run(run_name="filling")
        for step in range(POINTS):  # ~3 MB of points into a 1 MB disk: never raises here
            nbtrack.log_metric("loss", 1.0 / (step + 1), step=step)
        deadline = time.monotonic() + 30
        while not caught and time.monotonic() < deadline:  # the writer thread meets the full disk
            time.sleep(0.05)
        with pytest.raises(StoreFull) as full:
            nbtrack.flush()
    assert "\n" not in str(full.value)
    assert len([w for w in caught if issubclass(w.category, NbtrackWarning)]) == 1
    grow(small_disk)
    nbtrack.flush()  # the kept batch goes in pieces that fit; nothing was dropped
    run.end()
    history = nbtrack.Client().get_metric_history(run.info.run_id, "loss")
    assert [point.step for point in history] == list(range(POINTS))
    assert nbtrack.get_run(run.info.run_id).info.status.value == "FINISHED"


@pytest.mark.slow
def test_starting_a_run_on_a_full_disk_is_one_line(small_disk: Path) -> None:
    nbtrack.set_tracking_uri(small_disk / "store")
    with nbtrack.start_run():
        nbtrack.log_metric("x", 1.0)
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as out:  # take every byte that is left
        try:
            while True:
                out.write(b"\0" * 4096)
                out.flush()
        except OSError:
            pass
    with pytest.raises(StoreFull, match="full") as caught:
        with nbtrack.start_run(run_name="x" * 4000, tags={f"t{i}": "v" * 4000 for i in range(50)}):
            pass
    assert "\n" not in str(caught.value)
    filler.unlink()
    with nbtrack.start_run(run_name="after") as run:  # space is back: it works again
        nbtrack.log_metric("x", 2.0)
    assert nbtrack.get_run(run.info.run_id).data.metrics == {"x": 2.0}
